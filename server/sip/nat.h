/* nat: what a registrar's answer says about a NAT in front of us, and the SIP-side SDP moved to
 * the address it reported.
 *
 * Behind a NAT the registrar sees our REGISTER come from another address:port than the one our
 * Via names, and says so in the Via of its answer (received=, rport=; RFC 3261 18.2.1, RFC 3581).
 * registration.c adopts that address for its account (Contact of REGISTER and INVITE, SDP o=/c=)
 * when [sip] public_ip is unset and [sip] learn_public_address is on; see registration.c.
 *
 * Pure functions: no I/O, no sofia state; any thread.
 */
#ifndef TABPHONE_SIP_NAT_H
#define TABPHONE_SIP_NAT_H

#include <stdbool.h>
#include <stddef.h>

#include <sofia-sip/sip.h>

typedef struct sip_public_address {
  char host[64]; /* numeric, IPv6 without brackets; "" = none */
  int port;
} sip_public_address;

typedef enum {
  SIP_NAT_UNKNOWN = 0, /* the answer says nothing usable (no received/rport, or not an address) */
  SIP_NAT_NONE,        /* the registrar saw us at the address and port our Via names */
  SIP_NAT_SEEN,        /* it saw another address or port: out holds it */
} sip_nat_verdict;

/* Reads the top Via of an answer to our request: received (else the sent-by host) and, over
 * UDP, rport (else, and always over TCP/TLS, the sent-by port; 5060, or 5061 over TLS, when the
 * Via names none). */
sip_nat_verdict sip_nat_from_via(const sip_via_t *via, sip_public_address *out);

bool sip_public_address_equal(const sip_public_address *a, const sip_public_address *b);

/* "203.0.113.7:40000" or "[2001:db8::7]:40000" into out. */
void sip_public_address_format(const sip_public_address *a, char *out, size_t len);

/* sdp with the address of its o= line and of its c= lines replaced by address, for lines of
 * address's family ("IN IP4" / "IN IP6") only; c= lines naming 0.0.0.0 or :: (RFC 2543 hold)
 * stay. Returns a new string (g_free), or NULL when nothing changes. */
char *sip_nat_sdp(const char *sdp, const char *address);

#endif
