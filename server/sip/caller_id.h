/* caller_id: who is calling and who forwarded the call, beyond From.
 *
 * Outbound: the P-Asserted-Identity / P-Preferred-Identity header lines (RFC 3325) an account
 * puts on its INVITEs ([account] asserted_identity / preferred_identity).
 * Inbound: what an INVITE says about forwarding and the network-asserted caller:
 *   - Diversion (RFC 5806): the top-most entry is the party that forwarded the call to us;
 *   - History-Info (RFC 7044): every entry's URI in order (the targets the request went
 *     through; the entry before the last one is the party that forwarded it to us);
 *   - P-Asserted-Identity: kept only when the INVITE's source is trusted (RFC 3325 trusts it
 *     only inside a trust domain; here: the account restricts trusted_sources, so the INVITE
 *     passed that check). From anyone else it is dropped — anyone can write one.
 *
 * Pure functions over parsed messages; no I/O. Threading: any. */
#ifndef TABPHONE_SIP_CALLER_ID_H
#define TABPHONE_SIP_CALLER_ID_H

#include <stdbool.h>

/* sofia's sip_t, declared here so that modules outside server/sip/ need no sofia headers. */
struct sip_s;

typedef struct sip_caller_id {
  char *asserted;         /* URI of the trusted P-Asserted-Identity (sip:/tel:), or NULL */
  char *asserted_display; /* its display name (unquoted), or NULL */
  char *diverted_from;    /* URI of the top-most Diversion, or NULL */
  char *diversion_reason; /* its reason parameter ("unconditional", "user-busy"...), or NULL */
  char **history;         /* History-Info entry URIs in order (header parts dropped),
                             NULL-terminated; NULL when absent */
} sip_caller_id;

/* Fills out from the INVITE sip (out is overwritten, not cleared first). trust_asserted: the
 * source of the INVITE is trusted to assert identities. Strings are g_malloc'ed, valid UTF-8
 * (invalid ones are dropped) and at most 256 bytes each; at most 16 history entries. */
void sip_caller_id_read(const struct sip_s *sip, bool trust_asserted, sip_caller_id *out);
void sip_caller_id_clear(sip_caller_id *id);

/* "P-Asserted-Identity: <sip:+4930123@example.com>" for header name and the configured
 * identity ("sip:..", "tel:..", "<sip:..>" or "\"Name\" <sip:..>"); g_free. NULL when identity
 * is NULL/empty or holds a line break (no header injection). */
char *sip_caller_id_header(const char *name, const char *identity);

/* The caller ID of an incoming call (defined in call.c; empty for outbound calls). */
typedef struct sip_call sip_call;
const sip_caller_id *sip_call_caller_id(const sip_call *call);

#endif
