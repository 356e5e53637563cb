/* test_token: auth/token.h (signed login tokens) and auth/sip_screen.h as a specification.
 *
 * The known-answer token was computed independently with Python:
 *   body = urlsafe_b64encode(b'{"exp":2000000000,"user":"alice"}').rstrip(b'=')
 *   mac = hmac.new(b'0123456789abcdef-secret', body, 'sha256').digest() */
#include <glib.h>
#include <string.h>

#include "auth/sip_screen.h"
#include "auth/token.h"

static const char SECRET[] = "0123456789abcdef-secret";
enum { NOW = 1700000000 };

static void test_round_trip(void) {
  char *accounts[] = {"office", "home", NULL};
  char *token = token_make(SECRET, "alice", NOW + 60, accounts);
  g_assert_nonnull(token);
  token_claims claims;
  g_assert_cmpint(token_verify(SECRET, token, NOW, &claims), ==, TOKEN_OK);
  g_assert_cmpstr(claims.user, ==, "alice");
  g_assert_cmpint(claims.exp, ==, NOW + 60);
  g_assert_nonnull(claims.accounts);
  g_assert_cmpstr(claims.accounts[0], ==, "office");
  g_assert_cmpstr(claims.accounts[1], ==, "home");
  g_assert_null(claims.accounts[2]);
  token_claims_clear(&claims);
  g_free(token);
}

static void test_without_accounts_is_unlimited(void) {
  char *token = token_make(SECRET, "bob", NOW + 1, NULL);
  token_claims claims;
  g_assert_cmpint(token_verify(SECRET, token, NOW, &claims), ==, TOKEN_OK);
  g_assert_null(claims.accounts);
  token_claims_clear(&claims);
  g_free(token);
}

static void test_known_answer(void) {
  char *token = token_make(SECRET, "alice", 2000000000, NULL);
  g_assert_cmpstr(token, ==, "eyJleHAiOjIwMDAwMDAwMDAsInVzZXIiOiJhbGljZSJ9.XP22nGllXffH1QKJN9uJdHY85lhJyCDiJYc7qzp_TDE");
  g_free(token);
}

static void test_expired(void) {
  char *token = token_make(SECRET, "alice", NOW, NULL);
  token_claims claims;
  g_assert_cmpint(token_verify(SECRET, token, NOW, &claims), ==, TOKEN_EXPIRED);
  g_assert_null(claims.user);
  g_free(token);
}

static void test_wrong_secret_or_altered_payload(void) {
  char *token = token_make(SECRET, "alice", NOW + 60, NULL);
  token_claims claims;
  g_assert_cmpint(token_verify("another-secret-of-16+", token, NOW, &claims), ==,
                  TOKEN_BAD_SIGNATURE);
  /* Same MAC, payload for another user. */
  char *evil = token_make(SECRET, "mallory", NOW + 60, NULL);
  char *forged = g_strdup_printf("%.*s%s", (int)(strchr(evil, '.') - evil), evil,
                                 strchr(token, '.'));
  g_assert_cmpint(token_verify(SECRET, forged, NOW, &claims), ==, TOKEN_BAD_SIGNATURE);
  g_free(forged), g_free(evil), g_free(token);
}

static void test_malformed(void) {
  token_claims claims;
  const char *bad[] = {"", "abc", "a.b.c", "!!!.AAAA", "e30.", NULL};
  for (const char **b = bad; *b; b++)
    g_assert_cmpint(token_verify(SECRET, *b, NOW, &claims), !=, TOKEN_OK);
  g_assert_cmpint(token_verify(NULL, "a.b", NOW, &claims), ==, TOKEN_MALFORMED);
}

static void test_scanner_agents(void) {
  g_assert_true(sip_screen_is_scanner("friendly-scanner"));
  g_assert_true(sip_screen_is_scanner("SIPVicious 0.3.4"));
  g_assert_true(sip_screen_is_scanner("sipcli/v1.8"));
  g_assert_true(sip_screen_is_scanner("VaxSIPUserAgent/3.1"));
  g_assert_false(sip_screen_is_scanner("Asterisk PBX 20.1"));
  g_assert_false(sip_screen_is_scanner(NULL));
}

static void test_trusted_sources(void) {
  char *nets[] = {"127.0.0.1", "10.0.0.0/8", "2001:db8::/32", NULL};
  g_assert_true(sip_screen_source_allowed(nets, "127.0.0.1"));
  g_assert_false(sip_screen_source_allowed(nets, "127.0.0.2"));
  g_assert_true(sip_screen_source_allowed(nets, "10.200.3.4"));
  g_assert_false(sip_screen_source_allowed(nets, "11.0.0.1"));
  g_assert_true(sip_screen_source_allowed(nets, "::ffff:10.1.2.3"));
  g_assert_true(sip_screen_source_allowed(nets, "2001:db8:1::5"));
  g_assert_false(sip_screen_source_allowed(nets, "2001:db9::5"));
  g_assert_false(sip_screen_source_allowed(nets, "garbage"));
  g_assert_true(sip_screen_network_valid("192.168.1.0/24"));
  g_assert_false(sip_screen_network_valid("192.168.1.0/33"));
  g_assert_false(sip_screen_network_valid("example.com"));
  g_assert_false(sip_screen_network_valid("10.0.0.0/"));
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/token/round_trip", test_round_trip);
  g_test_add_func("/token/without_accounts_is_unlimited", test_without_accounts_is_unlimited);
  g_test_add_func("/token/known_answer", test_known_answer);
  g_test_add_func("/token/expired", test_expired);
  g_test_add_func("/token/wrong_secret_or_altered_payload", test_wrong_secret_or_altered_payload);
  g_test_add_func("/token/malformed", test_malformed);
  g_test_add_func("/sip_screen/scanner_agents", test_scanner_agents);
  g_test_add_func("/sip_screen/trusted_sources", test_trusted_sources);
  return g_test_run();
}
