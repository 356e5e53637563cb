/* token: see token.h. */
#include "auth/token.h"

#include <glib.h>
#include <jansson.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

enum { MAC_BYTES = 32, MAX_TOKEN_CHARS = 4096 };

const char *token_status_text(token_status status) {
  switch (status) {
  case TOKEN_OK: return "ok";
  case TOKEN_MALFORMED: return "malformed";
  case TOKEN_BAD_SIGNATURE: return "bad signature";
  case TOKEN_EXPIRED: return "expired";
  }
  return "?";
}

/* base64url without padding (RFC 4648 section 5), as JWT uses. */
static char *b64url_encode(const unsigned char *data, size_t len) {
  char *b64 = g_base64_encode(data, len);
  for (char *c = b64; *c; c++) {
    if (*c == '+') *c = '-';
    else if (*c == '/') *c = '_';
  }
  char *pad = strchr(b64, '=');
  if (pad) *pad = '\0';
  return b64;
}

/* Strict: only the base64url alphabet, no padding; NULL on anything else. */
static unsigned char *b64url_decode(const char *text, size_t len, size_t *out_len) {
  if (len % 4 == 1) return NULL;
  GString *b64 = g_string_sized_new(len + 3);
  for (size_t i = 0; i < len; i++) {
    char c = text[i];
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
    else if (!g_ascii_isalnum(c)) {
      g_string_free(b64, TRUE);
      return NULL;
    }
    g_string_append_c(b64, c);
  }
  while (b64->len % 4) g_string_append_c(b64, '=');
  gsize n = 0;
  unsigned char *out = g_base64_decode(b64->str, &n);
  g_string_free(b64, TRUE);
  *out_len = n;
  return out;
}

static bool mac_of(const char *secret, const char *text, size_t len,
                   unsigned char mac[MAC_BYTES]) {
  unsigned int mac_len = 0;
  return HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)text, len, mac,
              &mac_len) != NULL &&
         mac_len == MAC_BYTES;
}

char *token_make(const char *secret, const char *user, int64_t exp, char *const *accounts) {
  if (!secret || !*secret || !user) return NULL;
  json_t *payload = json_pack("{s:s, s:I}", "user", user, "exp", (json_int_t)exp);
  if (accounts) {
    json_t *list = json_array();
    for (char *const *a = accounts; *a; a++) json_array_append_new(list, json_string(*a));
    json_object_set_new(payload, "accounts", list);
  }
  char *text = payload ? json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  json_decref(payload);
  if (!text) return NULL;
  char *body = b64url_encode((const unsigned char *)text, strlen(text));
  free(text);
  unsigned char mac[MAC_BYTES];
  char *token = NULL;
  if (mac_of(secret, body, strlen(body), mac)) {
    char *sig = b64url_encode(mac, MAC_BYTES);
    token = g_strdup_printf("%s.%s", body, sig);
    g_free(sig);
  }
  g_free(body);
  return token;
}

static char **account_list(json_t *accounts) {
  GPtrArray *out = g_ptr_array_new();
  size_t i;
  json_t *item;
  json_array_foreach(accounts, i, item) {
    if (!json_is_string(item)) {
      g_ptr_array_free(out, TRUE);
      return NULL;
    }
    g_ptr_array_add(out, g_strdup(json_string_value(item)));
  }
  g_ptr_array_add(out, NULL);
  return (char **)g_ptr_array_free(out, FALSE);
}

/* The payload, once its MAC is known to be ours. */
static token_status parse_payload(const unsigned char *text, size_t len, int64_t now,
                                  token_claims *out) {
  json_t *root = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, NULL);
  json_t *user = json_object_get(root, "user");
  json_t *exp = json_object_get(root, "exp");
  json_t *accounts = json_object_get(root, "accounts");
  token_status status = TOKEN_MALFORMED;
  if (json_is_string(user) && *json_string_value(user) && json_is_integer(exp) &&
      (!accounts || json_is_array(accounts))) {
    status = json_integer_value(exp) <= now ? TOKEN_EXPIRED : TOKEN_OK;
    char **list = accounts ? account_list(accounts) : NULL;
    if (accounts && !list) status = TOKEN_MALFORMED;
    if (status == TOKEN_OK) {
      out->user = g_strdup(json_string_value(user));
      out->exp = json_integer_value(exp);
      out->accounts = list;
    } else {
      g_strfreev(list);
    }
  }
  json_decref(root);
  return status;
}

token_status token_verify(const char *secret, const char *token, int64_t now,
                          token_claims *out) {
  memset(out, 0, sizeof *out);
  if (!secret || !*secret || !token || strlen(token) > MAX_TOKEN_CHARS) return TOKEN_MALFORMED;
  const char *dot = strchr(token, '.');
  if (!dot || strchr(dot + 1, '.')) return TOKEN_MALFORMED;
  size_t body_len = (size_t)(dot - token), sig_len = 0, payload_len = 0;
  unsigned char expected[MAC_BYTES];
  unsigned char *sig = b64url_decode(dot + 1, strlen(dot + 1), &sig_len);
  if (!sig || sig_len != MAC_BYTES || !mac_of(secret, token, body_len, expected)) {
    g_free(sig);
    return sig && sig_len == MAC_BYTES ? TOKEN_BAD_SIGNATURE : TOKEN_MALFORMED;
  }
  bool mac_ok = CRYPTO_memcmp(sig, expected, MAC_BYTES) == 0;
  g_free(sig);
  if (!mac_ok) return TOKEN_BAD_SIGNATURE;
  unsigned char *payload = b64url_decode(token, body_len, &payload_len);
  token_status status = payload ? parse_payload(payload, payload_len, now, out) : TOKEN_MALFORMED;
  g_free(payload);
  return status;
}

void token_claims_clear(token_claims *claims) {
  g_free(claims->user);
  g_strfreev(claims->accounts);
  memset(claims, 0, sizeof *claims);
}
