/* test_digest: sip/digest.h as a specification.
 *
 * Known answers: RFC 7616 3.9.1 (MD5 and SHA-256, qop=auth), RFC 2617 3.5 (MD5, qop=auth); the
 * others (SHA-256-sess with a UTF-8 password containing ':' and '@', MD5 without qop) were
 * computed independently with Python's hashlib. */
#include <glib.h>
#include <string.h>

#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>

#include "sip/digest.h"

static const char NONCE_7616[] = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
static const char CNONCE_7616[] = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

static void test_rfc7616_md5(void) {
  char hex[65];
  g_assert_true(sip_digest_response("MD5", "Mufasa", "http-auth@example.org", "Circle of Life",
                                    "GET", "/dir/index.html", NONCE_7616, "auth", "00000001",
                                    CNONCE_7616, hex, sizeof hex));
  g_assert_cmpstr(hex, ==, "8ca523f5e9506fed4657c9700eebdbec");
}

static void test_rfc7616_sha256(void) {
  char hex[65];
  g_assert_true(sip_digest_response("SHA-256", "Mufasa", "http-auth@example.org",
                                    "Circle of Life", "GET", "/dir/index.html", NONCE_7616,
                                    "auth", "00000001", CNONCE_7616, hex, sizeof hex));
  g_assert_cmpstr(hex, ==, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
}

static void test_rfc2617_md5(void) {
  char hex[65];
  g_assert_true(sip_digest_response(NULL, "Mufasa", "testrealm@host.com", "Circle Of Life",
                                    "GET", "/dir/index.html",
                                    "dcd98b7102dd2f0e8b11d0f600bfb0c093", "auth", "00000001",
                                    "0a4f113b", hex, sizeof hex));
  g_assert_cmpstr(hex, ==, "6629fae49393a05397450978507c4ef1");
}

static void test_sess_utf8_and_no_qop(void) {
  char hex[65];
  g_assert_true(sip_digest_response("sha-256-sess", "bob-auth", "tabphone-test", "p:ss@w\xc3\xb6rd",
                                    "REGISTER", "sip:127.0.0.1", "abc", "auth", "00000001", "xyz",
                                    hex, sizeof hex));
  g_assert_cmpstr(hex, ==, "123d56eaf9eb57ef693465ab4c9f9f69898d3dcbd97ba407a1ff8af2dee2c969");
  g_assert_true(sip_digest_response("MD5", "bob-auth", "tabphone-test", "p:ss@w\xc3\xb6rd",
                                    "INVITE", "sip:bob@127.0.0.1", "abc", NULL, NULL, NULL, hex,
                                    sizeof hex));
  g_assert_cmpstr(hex, ==, "04ec6e5a3b9b0b91c56561e7b6271593");
  g_assert_false(sip_digest_response("SHA-512-256", "u", "r", "p", "GET", "/", "n", NULL, NULL,
                                     NULL, hex, sizeof hex));
  g_assert_false(sip_digest_response("MD5", "u", "r", "p", "GET", "/", "n", "auth-int",
                                     "00000001", "c", hex, sizeof hex));
}

/* Two WWW-Authenticate challenges (MD5 first), as a list the way sofia parses them. */
static msg_auth_t *challenges(su_home_t *home, const char *first, const char *second) {
  msg_auth_t *a = (msg_auth_t *)sip_www_authenticate_make(home, first);
  g_assert_nonnull(a);
  if (second) {
    a->au_next = (msg_auth_t *)sip_www_authenticate_make(home, second);
    g_assert_nonnull(a->au_next);
  }
  return a;
}

static void test_pick_prefers_sha256(void) {
  su_home_t home[1] = {SU_HOME_INIT(home)};
  msg_auth_t *both =
      challenges(home, "Digest realm=\"r\", nonce=\"n1\", qop=\"auth\"",
                 "Digest realm=\"r\", nonce=\"n2\", algorithm=SHA-256, qop=\"auth\"");
  const msg_auth_t *picked = sip_digest_pick(both);
  g_assert_true(picked == both->au_next);
  g_assert_true(sip_digest_needs_own(both));

  msg_auth_t *md5 = challenges(home, "Digest realm=\"r\", nonce=\"n1\", algorithm=MD5", NULL);
  g_assert_true(sip_digest_pick(md5) == md5);
  g_assert_false(sip_digest_needs_own(md5));

  msg_auth_t *unknown = challenges(home, "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256",
                                   NULL);
  g_assert_null(sip_digest_pick(unknown));
  g_assert_false(sip_digest_needs_own(unknown));
  msg_auth_t *int_only = challenges(home, "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256, "
                                    "qop=\"auth-int\"", NULL);
  g_assert_null(sip_digest_pick(int_only));
  su_home_deinit(home);
}

/* Pulls a parameter out of our header value, e.g. param(h, "cnonce=\"") up to the next '"'. */
static char *param(const char *header, const char *name, char end) {
  const char *p = strstr(header, name);
  g_assert_nonnull(p);
  p += strlen(name);
  return g_strndup(p, (gsize)(strchr(p, end) ? strchr(p, end) - p : (long)strlen(p)));
}

static void test_authorization_header(void) {
  su_home_t home[1] = {SU_HOME_INIT(home)};
  msg_auth_t *c = challenges(home, "Digest realm=\"tabphone-test\", nonce=\"abc\", "
                             "algorithm=SHA-256, qop=\"auth,auth-int\", opaque=\"op\"", NULL);
  char header[1024];
  const char *password = "p:ss@w\xc3\xb6rd";
  g_assert_cmpint(sip_digest_authorization(c, "bob-auth", password, "REGISTER",
                                           "sip:127.0.0.1:5070", header, sizeof header), ==, 0);
  g_assert_nonnull(strstr(header, "Digest username=\"bob-auth\", realm=\"tabphone-test\", "
                                  "nonce=\"abc\", uri=\"sip:127.0.0.1:5070\", response=\""));
  g_assert_nonnull(strstr(header, "algorithm=SHA-256, opaque=\"op\", qop=auth, nc=00000001, "
                                  "cnonce=\""));
  g_assert_null(strstr(header, password));
  char *cnonce = param(header, "cnonce=\"", '"');
  char *response = param(header, "response=\"", '"');
  g_assert_cmpuint(strlen(cnonce), ==, 32);
  char expected[65];
  g_assert_true(sip_digest_response("SHA-256", "bob-auth", "tabphone-test", password, "REGISTER",
                                    "sip:127.0.0.1:5070", "abc", "auth", "00000001", cnonce,
                                    expected, sizeof expected));
  g_assert_cmpstr(response, ==, expected);
  g_free(cnonce), g_free(response);

  /* A second answer has a different cnonce. */
  char again[1024];
  g_assert_cmpint(sip_digest_authorization(c, "bob-auth", password, "REGISTER",
                                           "sip:127.0.0.1:5070", again, sizeof again), ==, 0);
  g_assert_cmpstr(header, !=, again);

  /* No qop: no nc/cnonce (RFC 2617 compatibility). */
  msg_auth_t *plain = challenges(home, "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256", NULL);
  g_assert_cmpint(sip_digest_authorization(plain, "u\"q", "p", "INVITE", "sip:b@h", header,
                                           sizeof header), ==, 0);
  g_assert_null(strstr(header, "cnonce"));
  g_assert_nonnull(strstr(header, "username=\"u\\\"q\""));
  g_assert_cmpint(sip_digest_authorization(plain, "u", "p", "INVITE", "sip:b@h", header, 40), ==,
                  ENOSPC);
  su_home_deinit(home);
}

static void test_md5_credentials_for_sofia(void) {
  su_home_t home[1] = {SU_HOME_INIT(home)};
  msg_auth_t *c = challenges(home, "Digest realm=\"tabphone-test\", nonce=\"n\"", NULL);
  char out[256], ha1[33];
  g_assert_cmpint(sip_digest_credentials(c, "alice", "a:b@c", out, sizeof out), ==, 0);
  sip_digest_ha1("alice", "tabphone-test", "a:b@c", ha1);
  char *expected = g_strdup_printf("HA1+Digest:\"tabphone-test\":alice:HA1+%s", ha1);
  g_assert_cmpstr(out, ==, expected);
  g_free(expected);
  msg_auth_t *sha = challenges(home, "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256", NULL);
  g_assert_cmpint(sip_digest_credentials(sha, "alice", "x", out, sizeof out), ==, ENOTSUP);
  su_home_deinit(home);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/digest/rfc7616-md5", test_rfc7616_md5);
  g_test_add_func("/digest/rfc7616-sha256", test_rfc7616_sha256);
  g_test_add_func("/digest/rfc2617-md5", test_rfc2617_md5);
  g_test_add_func("/digest/sess-utf8-no-qop", test_sess_utf8_and_no_qop);
  g_test_add_func("/digest/pick-prefers-sha256", test_pick_prefers_sha256);
  g_test_add_func("/digest/authorization-header", test_authorization_header);
  g_test_add_func("/digest/md5-credentials-for-sofia", test_md5_credentials_for_sofia);
  return g_test_run();
}
