/* digest: the credentials string handed to nua_authenticate() for one digest challenge.
 *
 * sofia-sip 1.12.11 takes credentials as one string, "Digest:\"realm\":user:password", and cuts
 * it at every ':' — a password containing ':' is silently truncated and the registrar answers
 * "wrong password". Debian's build (like the one Janus uses) also accepts a precomputed HA1:
 * "HA1+Digest:\"realm\":user:HA1+<32 hex digits>". We always send that form:
 * HA1 = MD5(user:realm:password) has no ':' in it, and the password itself never reaches sofia (nor its debug logs).
 *
 * Pure functions; no I/O. */
#ifndef TABPHONE_SIP_DIGEST_H
#define TABPHONE_SIP_DIGEST_H

#include <stddef.h>

#include <sofia-sip/msg_types.h>

/* Writes into out (NUL-terminated) the credentials answering challenge (a WWW-Authenticate or
 * Proxy-Authenticate header). Returns 0, EINVAL (username contains ':' or the challenge has no
 * realm), ENOTSUP (not Digest, or an algorithm other than MD5/MD5-sess, e.g. SHA-256), or
 * ENOSPC (out too small). out holds a password hash: never log it. */
int sip_digest_credentials(const msg_auth_t *challenge, const char *username,
                           const char *password, char *out, size_t out_len);

/* HA1 = hex MD5("user:realm:password"), realm unquoted; hex must hold 33 bytes. */
void sip_digest_ha1(const char *username, const char *realm, const char *password, char hex[33]);

/* What a challenge asks for, for error messages: "SHA-256" / "MD5". */
const char *sip_digest_algorithm(const msg_auth_t *challenge);

#endif
