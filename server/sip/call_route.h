/* call_route: where an outbound call's INVITE goes and whose digest challenges it may answer.
 *
 * Routing per account:
 *   direct account       straight to the request URI's host; From sip:tabphone@<our host>;
 *                        never answers a challenge (it has no credentials).
 *   register = yes       through the proxy if set, else through the registrar (explicit, or the
 *                        URI's domain): providers expect calls from where the registration lives.
 *   register = no        (trunk) through the proxy if set, else straight to the URI's host.
 * Trusted for digest: the account's proxy and its registrar (host and port), only when the
 * account has a password. A challenge is answered only when the answer's transport source is
 * one of them (the realm alone proves nothing: anyone can claim any realm).
 *
 * Ownership: call_route_new returns a route the caller frees with call_route_free; it copies
 * what it needs. Pure apart from call_route_trusts (may resolve a host name, see there). */
#ifndef TABPHONE_SIP_CALL_ROUTE_H
#define TABPHONE_SIP_CALL_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "core/config.h"
#include "sip/nat.h"

typedef struct call_route {
  char *proxy;        /* route URI for NUTAG_PROXY ("sip:host:port;transport=tcp"), or NULL */
  char *next_hop;     /* "host:port" the INVITE is sent to, for reasons and logs */
  char *from;         /* From header value: "\"Display\" <sip:alice@example.com>" */
  char *contact;      /* Contact header value (see sip_contact_header), or NULL */
  char *trusted_host[2];
  char *trusted_port[2];
  int trusted_count;
} call_route;

/* to: the request URI (checked: sip:/sips: with a host). NULL with one line in err otherwise.
 * learned: the account's address learned from its registrar (nat.h), or NULL. */
call_route *call_route_new(const config *cfg, const config_account *account, const char *to,
                           const sip_public_address *learned, char *err, size_t err_len);
void call_route_free(call_route *route);

/* Is source (the transport address a challenge came from) one of the trusted hosts? Numeric
 * hosts compare directly; a host name is resolved with getaddrinfo (blocking, but only on a
 * challenge, and sofia has just resolved the same name so the answer is normally cached). */
bool call_route_trusts(const call_route *route, const struct sockaddr_storage *source);

/* The Contact we put in INVITEs and 200s (caller frees), or NULL for sofia's own: see
 * sip_contact_header in sip_internal.h (learned may be NULL). */
char *call_route_contact(const config *cfg, const config_account *account,
                         const sip_public_address *learned);



#endif
