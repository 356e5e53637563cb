/* digest: see digest.h for why credentials go to sofia as "HA1+<hex>". */
#include "sip/digest.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/su_md5.h>

/* A challenge parameter's value ("realm=\"x\"" -> "\"x\""), or NULL. */
static const char *challenge_param(const msg_auth_t *challenge, const char *name) {
  return challenge->au_params ? msg_params_find(challenge->au_params, name) : NULL;
}

/* Copies a quoted-string's content, undoing backslash escapes. Returns false if it does not fit. */
static bool unquote(const char *quoted, char *out, size_t out_len) {
  const char *s = quoted;
  size_t n = 0;
  if (*s == '"') s++;
  for (; *s && *s != '"'; s++) {
    if (*s == '\\' && s[1]) s++;
    if (n + 1 >= out_len) return false;
    out[n++] = *s;
  }
  out[n] = '\0';
  return true;
}

void sip_digest_ha1(const char *username, const char *realm, const char *password, char hex[33]) {
  su_md5_t md5;
  su_md5_init(&md5);
  su_md5_strupdate(&md5, username);
  su_md5_update(&md5, ":", 1);
  su_md5_strupdate(&md5, realm);
  su_md5_update(&md5, ":", 1);
  su_md5_strupdate(&md5, password);
  su_md5_hexdigest(&md5, hex);
  su_md5_deinit(&md5);
  explicit_bzero(&md5, sizeof md5);
}

const char *sip_digest_algorithm(const msg_auth_t *challenge) {
  const char *algorithm = challenge_param(challenge, "algorithm=");
  return algorithm ? algorithm : "MD5";
}

static bool algorithm_supported(const msg_auth_t *challenge) {
  const char *algorithm = sip_digest_algorithm(challenge);
  char plain[32];
  if (!unquote(algorithm, plain, sizeof plain)) return false;
  return strcasecmp(plain, "MD5") == 0 || strcasecmp(plain, "MD5-sess") == 0;
}

int sip_digest_credentials(const msg_auth_t *challenge, const char *username,
                           const char *password, char *out, size_t out_len) {
  if (!challenge->au_scheme || strcasecmp(challenge->au_scheme, "Digest") != 0) return ENOTSUP;
  if (!algorithm_supported(challenge)) return ENOTSUP;
  if (strchr(username, ':')) return EINVAL;
  const char *realm = challenge_param(challenge, "realm=");
  if (!realm || realm[0] != '"') return EINVAL;

  char plain_realm[256];
  if (!unquote(realm, plain_realm, sizeof plain_realm)) return ENOSPC;
  char ha1[33];
  sip_digest_ha1(username, plain_realm, password ? password : "", ha1);
  /* Scheme "HA1+Digest" tells Debian's sofia that the secret is "HA1+<hex>", not a password.
   * The realm goes back exactly as the challenge quoted it: sofia matches it byte for byte. */
  int n = snprintf(out, out_len, "HA1+Digest:%s:%s:HA1+%s", realm, username, ha1);
  explicit_bzero(ha1, sizeof ha1);
  if (n < 0 || (size_t)n >= out_len) return ENOSPC;
  return 0;
}
