/* password: salted PBKDF2-HMAC-SHA256 hashes for the [user] sections of the config.
 *
 * Why this file exists: web users log in with a password, and the config must never hold that
 * password in clear. A hash string carries everything needed to check a password later:
 *
 *   pbkdf2-sha256$<iterations>$<salt, base64>$<hash, base64>
 *
 * Parsing is strict on purpose: a hash is accepted only in the exact form password_hash
 * writes (decimal iterations without sign or leading zero, canonical padded base64 of exactly
 * 16 and 32 bytes). Anything else is "malformed", so config validation catches typos and
 * copy/paste damage instead of making every login fail silently. */
#include "password.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

enum {
  SALT_BYTES = 16,
  KEY_BYTES = 32,
  MIN_ITERATIONS = 1000,
  MAX_ITERATIONS = 10000000,
  /* base64 of n bytes is 4 * ceil(n / 3) characters (with padding). */
  SALT_B64_LEN = 4 * ((SALT_BYTES + 2) / 3),
  KEY_B64_LEN = 4 * ((KEY_BYTES + 2) / 3),
};

static const char PREFIX[] = "pbkdf2-sha256$";

/* A hash string taken apart. */
typedef struct parsed_hash {
  int iterations;
  unsigned char salt[SALT_BYTES];
  unsigned char key[KEY_BYTES];
} parsed_hash;

static bool iterations_in_range(long long n) {
  return n >= MIN_ITERATIONS && n <= MAX_ITERATIONS;
}

/* Parses text[0..len) as a decimal in range: digits only, no sign, no leading zero. */
static bool parse_iterations(const char *text, size_t len, int *out) {
  if (len == 0 || len > 8 || text[0] == '0') return false;
  long long n = 0;
  for (size_t i = 0; i < len; i++) {
    if (text[i] < '0' || text[i] > '9') return false;
    n = n * 10 + (text[i] - '0');
  }
  if (!iterations_in_range(n)) return false;
  *out = (int)n;
  return true;
}

/* Decodes text[0..len) into exactly n bytes. EVP_DecodeBlock tolerates blanks and does not
 * report padding, so the length is checked up front and the result re-encoded: only the
 * canonical encoding of n bytes round-trips. */
static bool decode_exact(const char *text, size_t len, unsigned char *out, size_t n) {
  size_t b64_len = 4 * ((n + 2) / 3);
  unsigned char decoded[KEY_BYTES + 3];
  char again[KEY_B64_LEN + 1];
  if (len != b64_len || n > KEY_BYTES) return false;
  if (EVP_DecodeBlock(decoded, (const unsigned char *)text, (int)len) < 0) return false;
  EVP_EncodeBlock((unsigned char *)again, decoded, (int)n);
  bool ok = memcmp(again, text, len) == 0;
  if (ok) memcpy(out, decoded, n);
  OPENSSL_cleanse(decoded, sizeof decoded);
  return ok;
}

/* Splits "pbkdf2-sha256$I$S$H" into its parts; false for anything malformed. */
static bool parse_hash(const char *hash, parsed_hash *out) {
  if (!hash || strncmp(hash, PREFIX, sizeof PREFIX - 1) != 0) return false;
  const char *iter = hash + sizeof PREFIX - 1;
  const char *salt = strchr(iter, '$');
  if (!salt) return false;
  salt++;
  const char *key = strchr(salt, '$');
  if (!key) return false;
  key++;
  if (strchr(key, '$')) return false;
  return parse_iterations(iter, (size_t)(salt - 1 - iter), &out->iterations) &&
         decode_exact(salt, (size_t)(key - 1 - salt), out->salt, SALT_BYTES) &&
         decode_exact(key, strlen(key), out->key, KEY_BYTES);
}

static bool derive(const char *password, const unsigned char salt[SALT_BYTES], int iterations,
                   unsigned char key[KEY_BYTES]) {
  size_t len = strlen(password);
  if (len > INT_MAX) return false;
  return PKCS5_PBKDF2_HMAC(password, (int)len, salt, SALT_BYTES, iterations, EVP_sha256(),
                           KEY_BYTES, key) == 1;
}

bool password_hash(const char *password, int iterations, char *out, size_t out_len) {
  unsigned char salt[SALT_BYTES];
  unsigned char key[KEY_BYTES];
  char salt_b64[SALT_B64_LEN + 1];
  char key_b64[KEY_B64_LEN + 1];
  if (!password || !out || !iterations_in_range(iterations)) return false;
  if (RAND_bytes(salt, SALT_BYTES) != 1) return false;
  if (!derive(password, salt, iterations, key)) return false;
  EVP_EncodeBlock((unsigned char *)salt_b64, salt, SALT_BYTES);
  EVP_EncodeBlock((unsigned char *)key_b64, key, KEY_BYTES);
  OPENSSL_cleanse(key, sizeof key);
  int n = snprintf(out, out_len, "%s%d$%s$%s", PREFIX, iterations, salt_b64, key_b64);
  OPENSSL_cleanse(key_b64, sizeof key_b64);
  if (n < 0 || (size_t)n >= out_len) {
    if (out_len) OPENSSL_cleanse(out, out_len);
    return false;
  }
  return true;
}

bool password_hash_is_valid(const char *hash) {
  parsed_hash parsed;
  bool ok = parse_hash(hash, &parsed);
  OPENSSL_cleanse(&parsed, sizeof parsed);
  return ok;
}

bool password_verify(const char *password, const char *hash) {
  parsed_hash parsed;
  unsigned char key[KEY_BYTES];
  bool ok = password && parse_hash(hash, &parsed) &&
            derive(password, parsed.salt, parsed.iterations, key) &&
            CRYPTO_memcmp(key, parsed.key, KEY_BYTES) == 0;
  OPENSSL_cleanse(key, sizeof key);
  OPENSSL_cleanse(&parsed, sizeof parsed);
  return ok;
}
