/* digest: answering SIP digest challenges (RFC 3261 22.4, RFC 7616 3.4, RFC 8760).
 *
 * Two ways, because Debian's sofia-sip 1.12.11 computes MD5 only:
 *
 *   - MD5 / MD5-sess challenges (and only those): sofia answers them. It takes credentials as
 *     one string, "Digest:\"realm\":user:password", and cuts it at every ':' — a password
 *     containing ':' would be silently truncated. Debian's build also accepts a precomputed
 *     HA1: "HA1+Digest:\"realm\":user:HA1+<32 hex digits>". sip_digest_credentials makes that
 *     form: HA1 = MD5(user:realm:password) has no ':' in it, and the password itself never
 *     reaches sofia (nor its debug logs). sofia then answers later challenges on the same
 *     handle (refreshes) from its cache.
 *   - Any challenge list with an algorithm sofia cannot compute (SHA-256, SHA-256-sess) —
 *     sip_digest_needs_own() says so: sofia reports the 401/407 as final, and the caller
 *     resends the request itself with the Authorization / Proxy-Authorization value that
 *     sip_digest_authorization() builds (OpenSSL EVP; qop=auth or none; a fresh random cnonce
 *     and nc=00000001 for every answer: each resend answers a fresh challenge). RFC 8760 3: of
 *     several challenges the strongest we support is answered (SHA-256 before MD5).
 *
 * Passwords are bytes: a UTF-8 password is hashed as its UTF-8 bytes (what RFC 7616 asks for
 * and what Kamailio, Asterisk and FreeSWITCH compute).
 *
 * Pure functions apart from the random cnonce; no I/O. Outputs hold password hashes: never
 * log them. */
#ifndef TABPHONE_SIP_DIGEST_H
#define TABPHONE_SIP_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include <sofia-sip/msg_types.h>

/* Writes into out (NUL-terminated) the sofia credentials answering an MD5 challenge (a
 * WWW-Authenticate or Proxy-Authenticate header). Returns 0, EINVAL (username contains ':' or
 * the challenge has no realm), ENOTSUP (not Digest, or an algorithm other than MD5/MD5-sess),
 * or ENOSPC (out too small). */
int sip_digest_credentials(const msg_auth_t *challenge, const char *username,
                           const char *password, char *out, size_t out_len);

/* HA1 = hex MD5("user:realm:password"), realm unquoted; hex must hold 33 bytes. */
void sip_digest_ha1(const char *username, const char *realm, const char *password, char hex[33]);

/* What a challenge asks for, for error messages: "SHA-256" / "MD5" (as the challenge wrote it,
 * possibly quoted). */
const char *sip_digest_algorithm(const msg_auth_t *challenge);

/* True when sofia cannot answer the challenge list itself (some Digest challenge in it is not
 * MD5/MD5-sess) but one of them is answerable by sip_digest_authorization: resend with it. */
bool sip_digest_needs_own(const msg_auth_t *challenges);

/* The strongest Digest challenge of the list we can answer (SHA-256[-sess] before
 * MD5[-sess]; qop must be absent or offer "auth"); NULL when there is none. */
const msg_auth_t *sip_digest_pick(const msg_auth_t *challenges);

/* The response hash of RFC 7616 3.4.1 (RFC 2617 without qop) as lowercase hex into hex
 * (65 bytes hold any). algorithm: "MD5", "MD5-sess", "SHA-256", "SHA-256-sess" (case
 * insensitive; NULL = MD5). qop NULL or "auth" (then nc and cnonce are required). Returns false
 * for an unknown algorithm or qop. */
bool sip_digest_response(const char *algorithm, const char *username, const char *realm,
                         const char *password, const char *method, const char *uri,
                         const char *nonce, const char *qop, const char *nc, const char *cnonce,
                         char *hex, size_t hex_len);

/* The header value answering challenge (from sip_digest_pick) for a request (method and the
 * request URI as sent): 'Digest username="..", realm="..", nonce="..", uri="..",
 * response="..", algorithm=.., [opaque=".."], [qop=auth, nc=00000001, cnonce=".."]'.
 * Returns 0, EINVAL (no realm/nonce), ENOTSUP (unsupported algorithm/qop), ENOSPC. */
int sip_digest_authorization(const msg_auth_t *challenge, const char *username,
                             const char *password, const char *method, const char *uri,
                             char *out, size_t out_len);

#endif
