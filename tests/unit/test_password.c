/* test_password: the password hash format of auth/password.h, as a specification.
 *
 * The known-answer vectors were computed independently with Python:
 *   hashlib.pbkdf2_hmac('sha256', password, salt, iterations, 32), base64-encoded.
 * Tests use 1000 iterations (the minimum) so they stay fast. */
#include <glib.h>
#include <string.h>

#include "auth/password.h"

enum { FAST = 1000 };

/* password "correct horse battery staple", salt bytes 0..15, 1000 iterations */
static const char KAT_ASCII[] =
    "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw==$ppsXnjrdPB4KryJ6DrOqKqhkWrhv7PbKAMF1Eml8cZ4=";
/* password "pässwörd" (UTF-8), salt 16 x 0xff, 1234 iterations */
static const char KAT_UTF8[] =
    "pbkdf2-sha256$1234$/////////////////////w==$5qDyoUoyQ7XHfNQXfi1XwDW6Sg3fupBF7Tp/D2IGg8E=";
/* empty password, salt bytes 0..15, 1000 iterations */
static const char KAT_EMPTY[] =
    "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw==$xbMBsf1hvO1j8AZCojBOxnRRn7182DxLyD2v4XQ/mFU=";

static void test_round_trip(void) {
  char hash[128];
  g_assert_true(password_hash("s3cret:with:colons", FAST, hash, sizeof hash));
  g_assert_true(g_str_has_prefix(hash, "pbkdf2-sha256$1000$"));
  g_assert_true(password_hash_is_valid(hash));
  g_assert_true(password_verify("s3cret:with:colons", hash));
}

static void test_wrong_password_fails(void) {
  char hash[128];
  g_assert_true(password_hash("right", FAST, hash, sizeof hash));
  g_assert_false(password_verify("wrong", hash));
  g_assert_false(password_verify("Right", hash));
  g_assert_false(password_verify("right ", hash));
  g_assert_false(password_verify("", hash));
  g_assert_false(password_verify(NULL, hash));
}

static void test_same_password_hashes_differ(void) {
  char a[128], b[128];
  g_assert_true(password_hash("same", FAST, a, sizeof a));
  g_assert_true(password_hash("same", FAST, b, sizeof b));
  g_assert_cmpstr(a, !=, b);
  g_assert_true(password_verify("same", a));
  g_assert_true(password_verify("same", b));
}

static void test_known_answer(void) {
  g_assert_true(password_hash_is_valid(KAT_ASCII));
  g_assert_true(password_verify("correct horse battery staple", KAT_ASCII));
  g_assert_false(password_verify("correct horse battery stapl", KAT_ASCII));
  g_assert_true(password_verify("p\xc3\xa4ssw\xc3\xb6rd", KAT_UTF8));
  g_assert_true(password_verify("", KAT_EMPTY));
  g_assert_false(password_verify("x", KAT_EMPTY));
}

static void test_default_iterations_work(void) {
  char hash[128];
  g_assert_true(password_hash("slow", PASSWORD_DEFAULT_ITERATIONS, hash, sizeof hash));
  g_assert_true(g_str_has_prefix(hash, "pbkdf2-sha256$200000$"));
  g_assert_true(password_verify("slow", hash));
}

static void test_small_buffer_is_refused(void) {
  char hash[128];
  g_assert_true(password_hash("x", FAST, hash, sizeof hash));
  size_t need = strlen(hash) + 1;
  char small[128];
  g_assert_false(password_hash("x", FAST, small, need - 1));
  g_assert_true(password_hash("x", FAST, small, need));
  g_assert_false(password_hash("x", FAST, small, 0));
}

static void test_iterations_out_of_range_are_refused(void) {
  char hash[128];
  g_assert_false(password_hash("x", 999, hash, sizeof hash));
  g_assert_false(password_hash("x", 0, hash, sizeof hash));
  g_assert_false(password_hash("x", -5, hash, sizeof hash));
  g_assert_false(password_hash("x", 10000001, hash, sizeof hash));
  g_assert_false(password_hash(NULL, FAST, hash, sizeof hash));
}

#define SALT "AAECAwQFBgcICQoLDA0ODw=="
#define KEY "ppsXnjrdPB4KryJ6DrOqKqhkWrhv7PbKAMF1Eml8cZ4="

static const char *const MALFORMED[] = {
    "",
    "pbkdf2-sha256",
    "pbkdf2-sha256$",
    "pbkdf2-sha256$1000$" SALT,
    "pbkdf2-sha256$1000$" SALT "$",
    "pbkdf2-sha256$$" SALT "$" KEY,
    "pbkdf2-sha1$1000$" SALT "$" KEY,
    "PBKDF2-SHA256$1000$" SALT "$" KEY,
    "$pbkdf2-sha256$1000$" SALT "$" KEY,
    "pbkdf2-sha256$999$" SALT "$" KEY,
    "pbkdf2-sha256$10000001$" SALT "$" KEY,
    "pbkdf2-sha256$99999999999999999999$" SALT "$" KEY,
    "pbkdf2-sha256$-1000$" SALT "$" KEY,
    "pbkdf2-sha256$+1000$" SALT "$" KEY,
    "pbkdf2-sha256$01000$" SALT "$" KEY,
    "pbkdf2-sha256$1e3$" SALT "$" KEY,
    "pbkdf2-sha256$ 1000$" SALT "$" KEY,
    "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0O$" KEY,           /* 15-byte salt */
    "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw$" KEY,         /* padding missing */
    "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODx==$" KEY,       /* non-canonical last char */
    "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0OD!==$" KEY,       /* not base64 */
    "pbkdf2-sha256$1000$ AAECAwQFBgcICQoLDA0ODw==$" KEY,      /* blank */
    "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw=$" KEY,        /* short padding */
    "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw===$" KEY,      /* extra padding */
    "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw==AAAA$" KEY,   /* padding mid-string */
    "pbkdf2-sha256$1000$" SALT "$ppsXnjrdPB4KryJ6DrOqKqhkWrhv7PbKAMF1Eml8cZ4",  /* no pad */
    "pbkdf2-sha256$1000$" SALT "$ppsXnjrdPB4KryJ6DrOqKqhkWrhv7PbKAMF1Eml8",     /* 30 bytes */
    "pbkdf2-sha256$1000$" SALT "$" KEY "AAAA",                /* 35 bytes */
    "pbkdf2-sha256$1000$" SALT "$" KEY "$",
    "pbkdf2-sha256$1000$" SALT "$" KEY "$extra",
    "pbkdf2-sha256$1000$" SALT "$" KEY "\n",
    "pbkdf2-sha256$1000$" SALT "$" KEY " ",
    " pbkdf2-sha256$1000$" SALT "$" KEY,
    "plaintext-password",
};

static void test_malformed_hashes_are_rejected(void) {
  g_assert_true(password_hash_is_valid("pbkdf2-sha256$1000$" SALT "$" KEY));
  for (size_t i = 0; i < G_N_ELEMENTS(MALFORMED); i++) {
    if (password_hash_is_valid(MALFORMED[i]))
      g_error("accepted malformed hash #%zu: \"%s\"", i, MALFORMED[i]);
    g_assert_false(password_verify("correct horse battery staple", MALFORMED[i]));
  }
  g_assert_false(password_hash_is_valid(NULL));
  g_assert_false(password_verify("x", NULL));
}

static void test_iteration_bounds_are_inclusive(void) {
  char hash[128];
  g_assert_true(password_hash("edge", 1000, hash, sizeof hash));
  g_assert_true(password_hash_is_valid(hash));
  g_assert_true(password_hash_is_valid("pbkdf2-sha256$10000000$" SALT "$" KEY));
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/password/round_trip", test_round_trip);
  g_test_add_func("/password/wrong_password_fails", test_wrong_password_fails);
  g_test_add_func("/password/same_password_hashes_differ", test_same_password_hashes_differ);
  g_test_add_func("/password/known_answer", test_known_answer);
  g_test_add_func("/password/default_iterations_work", test_default_iterations_work);
  g_test_add_func("/password/small_buffer_is_refused", test_small_buffer_is_refused);
  g_test_add_func("/password/iterations_out_of_range_are_refused",
                  test_iterations_out_of_range_are_refused);
  g_test_add_func("/password/malformed_hashes_are_rejected", test_malformed_hashes_are_rejected);
  g_test_add_func("/password/iteration_bounds_are_inclusive", test_iteration_bounds_are_inclusive);
  return g_test_run();
}
