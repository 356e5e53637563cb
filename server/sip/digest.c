/* digest: see digest.h for the two ways a challenge is answered. */
#include "sip/digest.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
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

/* ---- algorithms ---- */

typedef enum { ALG_UNKNOWN, ALG_MD5, ALG_SHA256 } digest_hash;

typedef struct algorithm_info {
  digest_hash hash;
  bool sess;
} algorithm_info;

static algorithm_info algorithm_of(const char *name) {
  char plain[32];
  if (!name) return (algorithm_info){ALG_MD5, false};
  if (!unquote(name, plain, sizeof plain)) return (algorithm_info){ALG_UNKNOWN, false};
  if (!strcasecmp(plain, "MD5")) return (algorithm_info){ALG_MD5, false};
  if (!strcasecmp(plain, "MD5-sess")) return (algorithm_info){ALG_MD5, true};
  if (!strcasecmp(plain, "SHA-256")) return (algorithm_info){ALG_SHA256, false};
  if (!strcasecmp(plain, "SHA-256-sess")) return (algorithm_info){ALG_SHA256, true};
  return (algorithm_info){ALG_UNKNOWN, false};
}

static bool is_digest(const msg_auth_t *challenge) {
  return challenge->au_scheme && strcasecmp(challenge->au_scheme, "Digest") == 0;
}

/* qop absent: "" ; offers "auth": "auth" ; offers only others (auth-int): NULL. */
static const char *qop_choice(const msg_auth_t *challenge) {
  const char *qop = challenge_param(challenge, "qop=");
  if (!qop) return "";
  char list[128];
  if (!unquote(qop, list, sizeof list)) return NULL;
  char *save = NULL;
  for (char *tok = strtok_r(list, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save))
    if (!strcasecmp(tok, "auth")) return "auth";
  return NULL;
}

static int strength(const msg_auth_t *challenge) {
  if (!is_digest(challenge) || !qop_choice(challenge)) return 0;
  switch (algorithm_of(challenge_param(challenge, "algorithm=")).hash) {
  case ALG_SHA256: return 2;
  case ALG_MD5: return 1;
  case ALG_UNKNOWN: return 0;
  }
  return 0;
}

const msg_auth_t *sip_digest_pick(const msg_auth_t *challenges) {
  const msg_auth_t *best = NULL;
  int best_strength = 0;
  for (const msg_auth_t *c = challenges; c; c = c->au_next) {
    int s = strength(c);
    if (s > best_strength) best = c, best_strength = s;
  }
  return best;
}

bool sip_digest_needs_own(const msg_auth_t *challenges) {
  bool sofia_can = true;
  for (const msg_auth_t *c = challenges; c; c = c->au_next)
    if (is_digest(c) && algorithm_of(challenge_param(c, "algorithm=")).hash != ALG_MD5)
      sofia_can = false;
  return !sofia_can && sip_digest_pick(challenges) != NULL;
}

/* ---- hashing ---- */

/* hex = H(part[0] ":" part[1] ":" ...). */
static bool hash_parts(digest_hash hash, const char *const *parts, size_t count, char *hex,
                       size_t hex_len) {
  const EVP_MD *md = hash == ALG_SHA256 ? EVP_sha256() : EVP_md5();
  unsigned char raw[EVP_MAX_MD_SIZE];
  unsigned raw_len = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) == 1;
  for (size_t i = 0; ok && i < count; i++) {
    if (i) ok = EVP_DigestUpdate(ctx, ":", 1) == 1;
    if (ok) ok = EVP_DigestUpdate(ctx, parts[i], strlen(parts[i])) == 1;
  }
  if (ok) ok = EVP_DigestFinal_ex(ctx, raw, &raw_len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok || hex_len < 2 * (size_t)raw_len + 1) return false;
  for (unsigned i = 0; i < raw_len; i++) snprintf(hex + 2 * i, 3, "%02x", raw[i]);
  explicit_bzero(raw, sizeof raw);
  return true;
}

bool sip_digest_response(const char *algorithm, const char *username, const char *realm,
                         const char *password, const char *method, const char *uri,
                         const char *nonce, const char *qop, const char *nc, const char *cnonce,
                         char *hex, size_t hex_len) {
  algorithm_info alg = algorithm_of(algorithm);
  if (alg.hash == ALG_UNKNOWN) return false;
  bool with_qop = qop && *qop;
  if (with_qop && (strcasecmp(qop, "auth") != 0 || !nc || !cnonce)) return false;
  if (alg.sess && !cnonce) return false;
  char ha1[65], ha2[65];
  const char *a1[] = {username, realm, password};
  bool ok = hash_parts(alg.hash, a1, 3, ha1, sizeof ha1);
  if (ok && alg.sess) { /* RFC 7616 3.4.2: H(H(user:realm:pass):nonce:cnonce) */
    const char *sess[] = {ha1, nonce, cnonce};
    char inner[65];
    ok = hash_parts(alg.hash, sess, 3, inner, sizeof inner);
    memcpy(ha1, inner, sizeof ha1);
    explicit_bzero(inner, sizeof inner);
  }
  const char *a2[] = {method, uri};
  if (ok) ok = hash_parts(alg.hash, a2, 2, ha2, sizeof ha2);
  if (ok && with_qop) {
    const char *r[] = {ha1, nonce, nc, cnonce, "auth", ha2};
    ok = hash_parts(alg.hash, r, 6, hex, hex_len);
  } else if (ok) {
    const char *r[] = {ha1, nonce, ha2};
    ok = hash_parts(alg.hash, r, 3, hex, hex_len);
  }
  explicit_bzero(ha1, sizeof ha1);
  return ok;
}

/* ---- the two answers ---- */

int sip_digest_credentials(const msg_auth_t *challenge, const char *username,
                           const char *password, char *out, size_t out_len) {
  if (!is_digest(challenge)) return ENOTSUP;
  if (algorithm_of(challenge_param(challenge, "algorithm=")).hash != ALG_MD5) return ENOTSUP;
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

/* Appends text as the content of a quoted-string (escaping '"' and '\'). */
static void append_quoted(char *out, size_t out_len, size_t *n, const char *text) {
  for (const char *c = text; *c && *n + 3 < out_len; c++) {
    if (*c == '"' || *c == '\\') out[(*n)++] = '\\';
    out[(*n)++] = *c;
  }
  out[*n] = '\0';
}

int sip_digest_authorization(const msg_auth_t *challenge, const char *username,
                             const char *password, const char *method, const char *uri,
                             char *out, size_t out_len) {
  if (!challenge || !is_digest(challenge)) return ENOTSUP;
  const char *algorithm = challenge_param(challenge, "algorithm=");
  algorithm_info alg = algorithm_of(algorithm);
  const char *qop = qop_choice(challenge);
  if (alg.hash == ALG_UNKNOWN || !qop) return ENOTSUP;
  const char *realm_q = challenge_param(challenge, "realm=");
  const char *nonce_q = challenge_param(challenge, "nonce=");
  const char *opaque = challenge_param(challenge, "opaque=");
  char realm[256], nonce[256], alg_name[32] = "MD5";
  if (!realm_q || !nonce_q) return EINVAL;
  if (!unquote(realm_q, realm, sizeof realm) || !unquote(nonce_q, nonce, sizeof nonce) ||
      (algorithm && !unquote(algorithm, alg_name, sizeof alg_name)))
    return ENOSPC;

  /* cnonce: 128 random bits; nc: every answer answers a fresh challenge, so always 1. */
  unsigned char random[16];
  char cnonce[33];
  if (RAND_bytes(random, sizeof random) != 1) return EIO;
  for (size_t i = 0; i < sizeof random; i++) snprintf(cnonce + 2 * i, 3, "%02x", random[i]);
  const char *nc = "00000001";
  char response[65];
  if (!sip_digest_response(alg_name, username, realm, password ? password : "", method, uri,
                           nonce, *qop ? qop : NULL, nc, cnonce, response, sizeof response))
    return ENOTSUP;

  size_t n = 0;
  if (out_len < 16) return ENOSPC;
  n = (size_t)snprintf(out, out_len, "Digest username=\"");
  append_quoted(out, out_len, &n, username);
  int k = snprintf(out + n, out_len - n, "\", realm=%s, nonce=%s, uri=\"%s\", response=\"%s\", "
                   "algorithm=%s%s%s", realm_q, nonce_q, uri, response, alg_name,
                   opaque ? ", opaque=" : "", opaque ? opaque : "");
  explicit_bzero(response, sizeof response);
  if (k < 0 || (size_t)k >= out_len - n) return ENOSPC;
  n += (size_t)k;
  if (*qop) {
    k = snprintf(out + n, out_len - n, ", qop=auth, nc=%s, cnonce=\"%s\"", nc, cnonce);
    if (k < 0 || (size_t)k >= out_len - n) return ENOSPC;
  }
  return 0;
}
