/* Unit tests for core/config: defaults, file keys, environment overrides, and the one-line
 * errors that name file:line and key. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "core/config.h"

static const char VALID_HASH[] =
    "pbkdf2-sha256$200000$dGFicGhvbmUtZHVtbXktcw==$ftuGOOjx6pkBNEwnW/7UjHkUyo3Pf1NUnxMn+WytYrY=";

typedef struct fixture {
  char *dir;
  char *cert;
  char *key;
} fixture;

static void fixture_setup(fixture *f, gconstpointer data) {
  (void)data;
  f->dir = g_dir_make_tmp("tabphone-config-XXXXXX", NULL);
  f->cert = g_build_filename(f->dir, "test.crt", NULL);
  f->key = g_build_filename(f->dir, "test.key", NULL);
  g_file_set_contents(f->cert, "cert", -1, NULL);
  g_file_set_contents(f->key, "key", -1, NULL);
}

static void fixture_teardown(fixture *f, gconstpointer data) {
  (void)data;
  g_unlink(f->cert);
  g_unlink(f->key);
  char *conf = g_build_filename(f->dir, "t.conf", NULL);
  g_unlink(conf);
  g_free(conf);
  g_rmdir(f->dir);
  g_free(f->dir);
  g_free(f->cert);
  g_free(f->key);
}

/* Writes "[server] cert/key" + body into t.conf and loads it. */
static bool load(fixture *f, const char *body, char *const *env, config *cfg, char *err) {
  char *path = g_build_filename(f->dir, "t.conf", NULL);
  char *text = g_strdup_printf("[server]\ncert = %s\nkey = %s\n%s", f->cert, f->key, body);
  g_file_set_contents(path, text, -1, NULL);
  bool ok = config_load(cfg, path, env, err, 512);
  g_free(text);
  g_free(path);
  return ok;
}

static void test_defaults_listen_on_loopback_in_open_mode(fixture *f, gconstpointer d) {
  (void)d;
  config cfg;
  char err[512];
  g_assert_true(load(f, "", NULL, &cfg, err));
  g_assert_cmpuint(cfg.listen_count, ==, 1);
  g_assert_cmpstr(cfg.listen[0].host, ==, "127.0.0.1");
  g_assert_cmpint(cfg.listen[0].port, ==, 8443);
  g_assert_true(config_open_mode(&cfg));
  const config_account *direct = config_find_account(&cfg, "direct");
  g_assert_nonnull(direct);
  g_assert_true(direct->direct);
  g_assert_false(direct->do_register);
  g_assert_true(config_byo_domain_allowed(&cfg, "any.example.org"));
  config_free(&cfg);
}

static void test_unknown_key_names_file_line_and_key(fixture *f, gconstpointer d) {
  (void)d;
  config cfg;
  char err[512];
  g_assert_false(load(f, "[sip]\nlisten = 127.0.0.1:5060\nlisen = x\n", NULL, &cfg, err));
  g_assert_nonnull(strstr(err, "t.conf:6: key 'lisen': unknown key in [sip]"));
}

static void test_bad_values_are_explained(fixture *f, gconstpointer d) {
  (void)d;
  static const struct { const char *body; const char *expect; } cases[] = {
      {"listen = 127.0.0.1:99999\n", "t.conf:4: key 'listen': '127.0.0.1:99999': port must be"},
      {"listen = localhost:8443\n", "numeric IPv4 or IPv6"},
      {"session_idle_timeout = soon\n", "key 'session_idle_timeout': 'soon' is not a whole number"},
      {"[sip]\nbyo_accounts = maybe\n", "t.conf:5: key 'byo_accounts': 'maybe' is not yes or no"},
      {"[account a]\nuri = sip:a@b\ntransport = sctp\n", "'sctp' is not udp, tcp or tls"},
      {"[account a]\nuri = sip:a@b\ncodecs = opus, gsm\n", "unknown codec 'gsm'"},
      {"[account a]\nuri = tel:+1555\n", "is not a sip: or sips: URI"},
      {"[account a]\nusername = x\n", "needs a uri"},
      {"[account direct]\n", "reserved"},
      {"[account a]\nuri = sip:a@b\n[account a]\nuri = sip:a@b\n", "t.conf:6: key 'account': [account a] is defined twice"},
      {"[bogus]\n", "t.conf:4: key 'bogus': unknown section"},
      {"[log]\nlevel = loud\n", "'loud' is not debug, info, warn or error"},
      {"[sip]\nregister_retry_min = 60\nregister_retry_max = 10\n", "t.conf:6: key 'register_retry_max'"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    config cfg;
    char err[512] = "";
    g_assert_false(load(f, cases[i].body, NULL, &cfg, err));
    if (!strstr(err, cases[i].expect)) g_error("case %zu: '%s' lacks '%s'", i, err, cases[i].expect);
  }
}

static void test_open_mode_refuses_non_loopback(fixture *f, gconstpointer d) {
  (void)d;
  config cfg;
  char err[512];
  g_assert_false(load(f, "listen = 0.0.0.0:8443\n", NULL, &cfg, err));
  g_assert_nonnull(strstr(err, "t.conf:4: key 'listen'"));
  g_assert_nonnull(strstr(err, "no [user] is configured"));
}

static void test_users_allow_non_loopback(fixture *f, gconstpointer d) {
  (void)d;
  config cfg;
  char err[512];
  char *body = g_strdup_printf("listen = 0.0.0.0:8443, [::1]:9443\n[account alice]\nuri = "
                               "sip:alice@example.com\n[user bob]\npassword_hash = %s\n"
                               "accounts = alice\n",
                               VALID_HASH);
  gboolean ok = load(f, body, NULL, &cfg, err);
  g_free(body);
  if (!ok) g_error("%s", err);
  g_assert_false(config_open_mode(&cfg));
  g_assert_cmpuint(cfg.listen_count, ==, 2);
  g_assert_cmpstr(cfg.listen[1].host, ==, "::1");
  const config_user *bob = config_find_user(&cfg, "bob");
  g_assert_true(config_user_may_use(&cfg, bob, "alice"));
  g_assert_false(config_user_may_use(&cfg, bob, "direct"));
  g_assert_false(config_user_may_use(&cfg, bob, "nosuch"));
  config_free(&cfg);
}

static void test_user_needs_known_accounts_and_valid_hash(fixture *f, gconstpointer d) {
  (void)d;
  config cfg;
  char err[512];
  char *body = g_strdup_printf("[user bob]\npassword_hash = %s\naccounts = ghost\n", VALID_HASH);
  g_assert_false(load(f, body, NULL, &cfg, err));
  g_free(body);
  g_assert_nonnull(strstr(err, "names account 'ghost', which is not defined"));
  g_assert_false(load(f, "[user bob]\npassword_hash = hunter2\n", NULL, &cfg, err));
  g_assert_nonnull(strstr(err, "key 'password_hash': not a valid hash"));
  g_assert_null(strstr(err, "hunter2")); /* never echo what might be a password */
}

static void test_environment_overrides_file(fixture *f, gconstpointer d) {
  (void)d;
  config cfg;
  char err[512];
  char *env[] = {"TABPHONE_SERVER_LISTEN=127.0.0.2:9000", "TABPHONE_SIP_PUBLIC_IP=203.0.113.9",
                 "TABPHONE_ACCOUNT_ALICE_B_PASSWORD=from-env", "PATH=/bin", NULL};
  gboolean ok = load(f, "[account alice.b]\nuri = sip:a@b\npassword = from-file\n", env, &cfg, err);
  if (!ok) g_error("%s", err);
  g_assert_cmpstr(cfg.listen[0].host, ==, "127.0.0.2");
  g_assert_cmpint(cfg.listen[0].port, ==, 9000);
  g_assert_cmpstr(cfg.public_ip, ==, "203.0.113.9");
  g_assert_cmpstr(config_find_account(&cfg, "alice.b")->password, ==, "from-env");
  config_free(&cfg);
}

static void test_unknown_environment_setting_is_an_error(fixture *f, gconstpointer d) {
  (void)d;
  config cfg;
  char err[512];
  char *env[] = {"TABPHONE_SERVER_LISTN=127.0.0.1:1", NULL};
  g_assert_false(load(f, "", env, &cfg, err));
  g_assert_nonnull(strstr(err, "environment: key 'listn': unknown key in [server]"));
  char *env2[] = {"TABPHONE_ACCOUNT_NOBODY_PASSWORD=x", NULL};
  g_assert_false(load(f, "", env2, &cfg, err));
  g_assert_nonnull(strstr(err, "TABPHONE_ACCOUNT_NOBODY_PASSWORD"));
}

static void test_missing_certificate_names_key(fixture *f, gconstpointer d) {
  (void)d;
  config cfg;
  char err[512];
  g_assert_false(load(f, "cert = /nonexistent/x.crt\n", NULL, &cfg, err));
  g_assert_nonnull(strstr(err, "t.conf:4: key 'cert': /nonexistent/x.crt: No such file"));
}

static void test_relative_paths_follow_the_config_file(fixture *f, gconstpointer d) {
  (void)d;
  config cfg;
  char err[512];
  gboolean ok = load(f, "cert = test.crt\nkey = test.key\n", NULL, &cfg, err);
  if (!ok) g_error("%s", err);
  g_assert_cmpstr(cfg.cert_file, ==, f->cert);
  config_free(&cfg);
}

static void test_direct_account_can_be_disabled(fixture *f, gconstpointer d) {
  (void)d;
  config cfg;
  char err[512];
  g_assert_true(load(f, "[sip]\ndirect_account = no\n", NULL, &cfg, err));
  g_assert_null(config_find_account(&cfg, "direct"));
  config_free(&cfg);
}

static void test_http_listen_only_on_loopback(fixture *f, gconstpointer d) {
  (void)d;
  config cfg;
  char err[512];
  g_assert_false(load(f, "http_listen = 0.0.0.0:8080\n", NULL, &cfg, err));
  g_assert_nonnull(strstr(err, "plain HTTP is only allowed on loopback"));
}

static void test_media_defaults(fixture *f, gconstpointer d) {
  (void)d;
  config cfg;
  char err[512];
  g_assert_true(load(f, "", NULL, &cfg, err));
  g_assert_cmpint(cfg.media_workers, ==, 0);
  g_assert_cmpint(cfg.rtp_timeout, ==, 30);
  g_assert_cmpint(cfg.port_min, ==, 20000);
  g_assert_cmpint(cfg.port_max, ==, 39999);
  g_assert_null(cfg.media_address);
  g_assert_null(cfg.stun_server.host);
  g_assert_null(cfg.turn_server.host);
  g_assert_null(cfg.turn_password);
  config_free(&cfg);
}

/* [server] reconnect_grace_seconds and [shutdown] drain_seconds (issue 5: resume and drain). */
static void test_resume_and_drain_keys(fixture *f, gconstpointer d) {
  (void)d;
  config cfg;
  char err[512];
  gboolean ok = load(f, "", NULL, &cfg, err);
  if (!ok) g_error("%s", err);
  g_assert_cmpint(cfg.reconnect_grace_seconds, ==, 30);
  g_assert_cmpint(cfg.drain_seconds, ==, 30);
  config_free(&cfg);
  char *env[] = {"TABPHONE_SHUTDOWN_DRAIN_SECONDS=7", NULL};
  ok = load(f, "[server]\nreconnect_grace_seconds = 0\n[shutdown]\ndrain_seconds = 0\n", env,
            &cfg, err);
  if (!ok) g_error("%s", err);
  g_assert_cmpint(cfg.reconnect_grace_seconds, ==, 0);
  g_assert_cmpint(cfg.drain_seconds, ==, 7); /* the environment wins */
  config_free(&cfg);
  g_assert_false(load(f, "[shutdown]\ndrain_seconds = -1\n", NULL, &cfg, err));
  g_assert_nonnull(strstr(err, "key 'drain_seconds'"));
  g_assert_false(load(f, "[shutdown]\ngrace = 1\n", NULL, &cfg, err));
  g_assert_nonnull(strstr(err, "grace"));
}

static void test_media_section_is_read(fixture *f, gconstpointer d) {
  (void)d;
  config cfg;
  char err[512];
  gboolean ok = load(f,
                     "[media]\nworkers = 4\nrtp_timeout = 3\nport_min = 41000\nport_max = 41009\n"
                     "address = 10.0.0.5\nstun_server = 192.0.2.1:3478\n"
                     "turn_server = [2001:db8::1]:3479\nturn_user = u\nturn_password = p:w\n",
                     NULL, &cfg, err);
  if (!ok) g_error("%s", err);
  g_assert_cmpint(cfg.media_workers, ==, 4);
  g_assert_cmpint(cfg.rtp_timeout, ==, 3);
  g_assert_cmpint(cfg.port_min, ==, 41000);
  g_assert_cmpint(cfg.port_max, ==, 41009);
  g_assert_cmpstr(cfg.media_address, ==, "10.0.0.5");
  g_assert_cmpstr(cfg.stun_server.host, ==, "192.0.2.1");
  g_assert_cmpint(cfg.stun_server.port, ==, 3478);
  g_assert_cmpstr(cfg.turn_server.host, ==, "2001:db8::1");
  g_assert_cmpint(cfg.turn_server.port, ==, 3479);
  g_assert_cmpstr(cfg.turn_user, ==, "u");
  g_assert_cmpstr(cfg.turn_password, ==, "p:w");
  config_free(&cfg);
  /* Empty optional keys (as in tabphone.conf.example) mean "not set". */
  ok = load(f, "[media]\naddress =\nstun_server =\nturn_server =\n", NULL, &cfg, err);
  if (!ok) g_error("%s", err);
  g_assert_null(cfg.media_address);
  g_assert_null(cfg.stun_server.host);
  config_free(&cfg);
}

static void test_media_bad_values_are_explained(fixture *f, gconstpointer d) {
  (void)d;
  static const struct { const char *body; const char *expect; } cases[] = {
      {"[media]\nworkers = 65\n", "t.conf:5: key 'workers': '65' is not a whole number from 0 to 64"},
      {"[media]\nrtp_timeout = 1\n", "key 'rtp_timeout': '1' is not a whole number from 2 to 3600"},
      {"[media]\nport_min = 80\n", "key 'port_min': '80' is not a whole number from 1024 to 65535"},
      {"[media]\nport_max = 70000\n", "key 'port_max'"},
      {"[media]\nport_min = 30000\nport_max = 30000\n",
       "t.conf:6: key 'port_max': must be greater than port_min (30000)"},
      {"[media]\nport_min = 30001\nport_max = 30002\n", "30001-30002 holds no even RTP port"},
      {"[media]\naddress = media.example.com\n", "key 'address': 'media.example.com' is not a numeric"},
      {"[media]\nstun_server = stun.example.com:3478\n",
       "key 'stun_server': 'stun.example.com:3478': address must be a numeric"},
      {"[media]\nstun_server = 192.0.2.1:0\n", "port must be a number from 1 to 65535"},
      {"[media]\nstun_server = 192.0.2.1\n", "expected address:port"},
      {"[media]\nturn_server = 192.0.2.1:3478\nturn_user = u\n", "must be set together"},
      {"[media]\nbogus = 1\n", "key 'bogus': unknown key in [media]"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    config cfg;
    char err[512] = "";
    g_assert_false(load(f, cases[i].body, NULL, &cfg, err));
    if (!strstr(err, cases[i].expect)) g_error("case %zu: '%s' lacks '%s'", i, err, cases[i].expect);
  }
}

static void test_turn_password_is_never_echoed(fixture *f, gconstpointer d) {
  (void)d;
  config cfg;
  char err[512] = "";
  g_assert_false(load(f, "[media]\nturn_password = s3cr3t-turn\n", NULL, &cfg, err));
  g_assert_nonnull(strstr(err, "must be set together"));
  g_assert_null(strstr(err, "s3cr3t-turn"));
}

static void test_media_environment_overrides(fixture *f, gconstpointer d) {
  (void)d;
  config cfg;
  char err[512];
  char *env[] = {"TABPHONE_MEDIA_RTP_TIMEOUT=7", "TABPHONE_MEDIA_PORT_MIN=41000",
                 "TABPHONE_MEDIA_PORT_MAX=41009", NULL};
  gboolean ok = load(f, "[media]\nrtp_timeout = 60\n", env, &cfg, err);
  if (!ok) g_error("%s", err);
  g_assert_cmpint(cfg.rtp_timeout, ==, 7);
  g_assert_cmpint(cfg.port_min, ==, 41000);
  g_assert_cmpint(cfg.port_max, ==, 41009);
  config_free(&cfg);
}

static void test_abuse_limits_defaults_and_keys(fixture *f, gconstpointer d) {
  (void)d;
  config cfg;
  char err[512];
  g_assert_true(load(f, "", NULL, &cfg, err));
  g_assert_null(cfg.token_secret);
  g_assert_cmpint(cfg.max_sessions_per_ip, ==, 20);
  g_assert_cmpint(cfg.message_rate, ==, 300);
  g_assert_cmpint(cfg.max_calls, ==, 0);
  g_assert_cmpint(cfg.login_max_failures, ==, 5);
  g_assert_cmpint(cfg.login_lockout, ==, 60);
  config_free(&cfg);
  char body[1024];
  g_snprintf(body, sizeof body,
             "token_secret = 0123456789abcdef\nmax_calls = 9\nlogin_lockout = 2\n"
             "[account trunk]\nuri = sip:t@10.0.0.1\nregister = no\n"
             "trusted_sources = 10.0.0.0/8, ::1\n"
             "[user bob]\npassword_hash = %s\naccounts = *\ndial_deny = 900*, 00*\n"
             "dial_allow = +1*\nmax_calls = 2\ncalls_per_minute = 10\n",
             VALID_HASH);
  gboolean ok = load(f, body, NULL, &cfg, err);
  if (!ok) g_error("%s", err);
  g_assert_cmpstr(cfg.token_secret, ==, "0123456789abcdef");
  g_assert_cmpint(cfg.max_calls, ==, 9);
  const config_account *trunk = config_find_account(&cfg, "trunk");
  g_assert_cmpstr(trunk->trusted_sources[1], ==, "::1");
  const config_user *bob = config_find_user(&cfg, "bob");
  g_assert_cmpstr(bob->dial_deny[1], ==, "00*");
  g_assert_cmpstr(bob->dial_allow[0], ==, "+1*");
  g_assert_cmpint(bob->max_calls, ==, 2);
  g_assert_cmpint(bob->calls_per_minute, ==, 10);
  config_free(&cfg);
}

/* latch_any_source: [media] is the default, an account may say otherwise either way. */
static void test_latch_any_source_per_account(fixture *f, gconstpointer d) {
  (void)d;
  config cfg;
  char err[512] = "";
  const char *body = "[account nat]\nuri = sip:nat@h\nlatch_any_source = yes\n"
                     "[account plain]\nuri = sip:plain@h\n"
                     "[account strict]\nuri = sip:strict@h\nlatch_any_source = no\n";
  g_assert_true(load(f, body, NULL, &cfg, err));
  g_assert_true(config_latch_any_source(&cfg, config_find_account(&cfg, "nat")));
  g_assert_false(config_latch_any_source(&cfg, config_find_account(&cfg, "plain")));
  g_assert_false(config_latch_any_source(&cfg, config_find_account(&cfg, "strict")));
  g_assert_false(config_latch_any_source(&cfg, NULL));
  config_free(&cfg);
  char *with_media = g_strconcat("[media]\nlatch_any_source = yes\n", body, NULL);
  g_assert_true(load(f, with_media, NULL, &cfg, err));
  g_assert_true(config_latch_any_source(&cfg, config_find_account(&cfg, "plain")));
  g_assert_false(config_latch_any_source(&cfg, config_find_account(&cfg, "strict")));
  g_assert_true(config_latch_any_source(&cfg, config_find_account(&cfg, "direct")));
  g_assert_true(config_latch_any_source(&cfg, NULL));
  config_free(&cfg);
  g_free(with_media);
  g_assert_false(load(f, "[account a]\nuri = sip:a@h\nlatch_any_source = sometimes\n", NULL, &cfg, err));
  g_assert_nonnull(strstr(err, "key 'latch_any_source': 'sometimes' is not yes or no"));
}

static void test_abuse_limits_bad_values(fixture *f, gconstpointer d) {
  (void)d;
  config cfg;
  char err[512] = "";
  g_assert_false(load(f, "[account t]\nuri = sip:t@h\ntrusted_sources = 10.0.0.0/33\n", NULL,
                      &cfg, err));
  g_assert_nonnull(strstr(err, "'10.0.0.0/33' is not a numeric address or CIDR prefix"));
  g_assert_false(load(f, "token_secret = short-s3cret\n", NULL, &cfg, err));
  g_assert_nonnull(strstr(err, "at least 16 characters"));
  g_assert_null(strstr(err, "short-s3cret")); /* a secret is never echoed */
  g_assert_false(load(f, "max_sessions_per_ip = 0\n", NULL, &cfg, err));
}

#define ADD(name) \
  g_test_add("/config/" #name, fixture, NULL, fixture_setup, test_##name, fixture_teardown)

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  ADD(defaults_listen_on_loopback_in_open_mode);
  ADD(unknown_key_names_file_line_and_key);
  ADD(bad_values_are_explained);
  ADD(open_mode_refuses_non_loopback);
  ADD(users_allow_non_loopback);
  ADD(user_needs_known_accounts_and_valid_hash);
  ADD(environment_overrides_file);
  ADD(unknown_environment_setting_is_an_error);
  ADD(missing_certificate_names_key);
  ADD(relative_paths_follow_the_config_file);
  ADD(direct_account_can_be_disabled);
  ADD(http_listen_only_on_loopback);
  ADD(media_defaults);
  ADD(media_section_is_read);
  ADD(resume_and_drain_keys);
  ADD(media_bad_values_are_explained);
  ADD(abuse_limits_defaults_and_keys);
  ADD(abuse_limits_bad_values);
  ADD(latch_any_source_per_account);
  ADD(turn_password_is_never_echoed);
  ADD(media_environment_overrides);
  return g_test_run();
}
