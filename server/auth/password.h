/* password: salted password hashes for [user] sections, PBKDF2-HMAC-SHA256 (OpenSSL).
 *
 * Format: "pbkdf2-sha256$<iterations>$<salt, base64>$<hash, base64>" (16-byte salt, 32-byte
 * hash). `tabphone --hash-password` prints one. Pure code; thread-safe. */
#ifndef TABPHONE_AUTH_PASSWORD_H
#define TABPHONE_AUTH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

enum { PASSWORD_DEFAULT_ITERATIONS = 200000 };

/* Writes a new hash of password (random salt) into out. Returns false if out_len is too small
 * or the RNG fails. */
bool password_hash(const char *password, int iterations, char *out, size_t out_len);

/* True when text is a well-formed hash in the format above (used by config validation). */
bool password_hash_is_valid(const char *hash);

/* Constant-time comparison of the derived key; false for a malformed hash. */
bool password_verify(const char *password, const char *hash);

#endif
