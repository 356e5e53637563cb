/* token: signed login tokens for embedding tabphone in another web application.
 *
 * The other application (which has its own login) mints a token for its user and hands it to
 * the dialer, which sends it in `login` instead of a password. Format:
 *
 *   base64url(payload) "." base64url(HMAC-SHA256(secret, base64url(payload)))
 *
 * without padding; payload is JSON {"user": NAME, "exp": UNIX_SECONDS, "accounts": [..]?}.
 * "accounts", when present, narrows the accounts the user may use in that session. The MAC is
 * compared in constant time, before the payload is even parsed. `tabphone --make-token` prints
 * one from [server] token_secret.
 *
 * Pure code (OpenSSL HMAC, jansson); thread-safe. The secret is never logged. */
#ifndef TABPHONE_AUTH_TOKEN_H
#define TABPHONE_AUTH_TOKEN_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
  TOKEN_OK = 0,
  TOKEN_MALFORMED,     /* not two base64url parts, or the payload is not the JSON above */
  TOKEN_BAD_SIGNATURE, /* the MAC does not match: not made with our secret, or altered */
  TOKEN_EXPIRED,
} token_status;

const char *token_status_text(token_status status); /* "expired", ... (for logs) */

typedef struct token_claims {
  char *user;
  int64_t exp;     /* Unix seconds */
  char **accounts; /* NULL-terminated; NULL = not limited by the token */
} token_claims;

/* A new token (g_free) for user, expiring at exp (Unix seconds), accounts NULL = unlimited. */
char *token_make(const char *secret, const char *user, int64_t exp, char *const *accounts);

/* Checks token against secret at time now (Unix seconds). On TOKEN_OK fills out (release with
 * token_claims_clear); otherwise out is left empty. */
token_status token_verify(const char *secret, const char *token, int64_t now,
                          token_claims *out);

void token_claims_clear(token_claims *claims);

#endif
