/* sip_screen: cheap checks on inbound SIP requests before any account is looked at.
 *
 * - Scanner user agents: SIP scanners (SIPVicious "friendly-scanner", sipcli, ...) probe every
 *   public SIP port within hours. Their requests get 403 at once: no account lookup, no call
 *   object, no log line per probe beyond debug. Matching is a case-insensitive substring of
 *   the User-Agent header against sip_screen_scanner_agents.
 * - Trusted sources: a trunk ([account] trusted_sources) accepts INVITEs only from listed
 *   networks, written as addresses or CIDR prefixes ("127.0.0.1, 10.0.0.0/8, 2001:db8::/32").
 *
 * Pure code; thread-safe. */
#ifndef TABPHONE_AUTH_SIP_SCREEN_H
#define TABPHONE_AUTH_SIP_SCREEN_H

#include <stdbool.h>

/* NULL-terminated list of the User-Agent substrings treated as scanners. */
extern const char *const sip_screen_scanner_agents[];

/* Is user_agent (may be NULL) one of the known scanners? */
bool sip_screen_is_scanner(const char *user_agent);

/* Is text an address or a CIDR prefix sip_screen_source_allowed understands? */
bool sip_screen_network_valid(const char *text);

/* Is the numeric address ip inside one of networks (NULL-terminated)? An IPv4-mapped IPv6
 * address ("::ffff:10.1.2.3") is treated as the IPv4 address. */
bool sip_screen_source_allowed(char *const *networks, const char *ip);

#endif
