/* Unit tests of server/sdp/crypto.c: SDES a=crypto lines (RFC 4568) and how our plain SDP
 * gets its SRTP profile and keys. */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "sdp/sdp.h"

/* RFC 4568 section 9.1's example key (with lifetime and MKI). */
#define RFC_KEY "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"

/* sdp_session_clear frees the candidate lines a parse allocated. */
static void free_parsed(sdp_session *s) {
  sdp_session_clear(s);
  g_free(s);
}

static sdp_session *parse_text(const char *text) {
  sdp_session *s = g_new0(sdp_session, 1);
  char err[256];
  if (!sdp_parse(text, strlen(text), s, err, sizeof err)) g_error("parse failed: %s", err);
  return s;
}

static void test_parse_rfc_example_with_lifetime_and_mki(void) {
  sdp_crypto c;
  char err[160];
  g_assert_true(sdp_crypto_parse("1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY "|2^20|1:4", &c, err,
                                 sizeof err));
  g_assert_cmpint(c.tag, ==, 1);
  g_assert_cmpint(c.suite, ==, SDP_SRTP_AES_CM_128_HMAC_SHA1_80);
  g_assert_true(c.has_lifetime);
  g_assert_cmpint(c.mki_len, ==, 4);
  g_assert_false(c.has_session_params);
  /* "PS1u" = 0x3d 0x2d 0x6e */
  g_assert_cmpint(c.key[0], ==, 0x3d);
  g_assert_cmpint(c.key[1], ==, 0x2d);
  g_assert_cmpint(c.key[2], ==, 0x6e);
}

static void test_parse_each_suite(void) {
  sdp_crypto c;
  char err[160];
  g_assert_true(sdp_crypto_parse("7 AES_CM_128_HMAC_SHA1_32 inline:" RFC_KEY, &c, err, sizeof err));
  g_assert_cmpint(c.suite, ==, SDP_SRTP_AES_CM_128_HMAC_SHA1_32);
  g_assert_cmpint(c.tag, ==, 7);
  g_assert_false(c.has_lifetime);
  /* GCM: 16 + 12 bytes = 38 base64 characters (+ "==" padding, optional). */
  g_assert_true(sdp_crypto_parse("3 AEAD_AES_128_GCM inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw==",
                                 &c, err, sizeof err));
  g_assert_cmpint(c.suite, ==, SDP_SRTP_AEAD_AES_128_GCM);
  g_assert_cmpint(c.key[15], ==, 15);
  g_assert_cmpint(c.salt[0], ==, 16);
  g_assert_cmpint(c.salt[11], ==, 27);
  g_assert_true(sdp_crypto_parse("3 AEAD_AES_128_GCM inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw",
                                 &c, err, sizeof err));
}

static void test_parse_refusals_name_the_problem_not_the_key(void) {
  sdp_crypto c;
  char err[160];
  g_assert_false(sdp_crypto_parse("1 AES_256_CM_HMAC_SHA1_80 inline:" RFC_KEY, &c, err, sizeof err));
  g_assert_cmpstr(err, ==, "a=crypto: unsupported suite 'AES_256_CM_HMAC_SHA1_80'");
  g_assert_false(sdp_crypto_parse("x AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY, &c, err, sizeof err));
  g_assert_cmpstr(err, ==, "a=crypto: bad tag (1 to 9 digits expected)");
  g_assert_false(sdp_crypto_parse("1 AES_CM_128_HMAC_SHA1_80 uri:" RFC_KEY, &c, err, sizeof err));
  g_assert_cmpstr(err, ==, "a=crypto: key method must be inline:");
  /* 29 bytes instead of 30 */
  g_assert_false(sdp_crypto_parse("1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVA",
                                  &c, err, sizeof err));
  g_assert_cmpstr(err, ==, "a=crypto: the inline key is not 30 bytes of base64");
  g_assert_null(strstr(err, "PS1u"));
  g_assert_false(sdp_crypto_parse("1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY "|2^x", &c, err,
                                  sizeof err));
  g_assert_cmpstr(err, ==, "a=crypto: bad lifetime or MKI after the key");
  g_assert_false(sdp_crypto_parse("1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY "|1:0", &c, err,
                                  sizeof err));
  g_assert_false(sdp_crypto_parse("", &c, err, sizeof err));
  g_assert_false(sdp_crypto_parse("1", &c, err, sizeof err));
  g_assert_false(sdp_crypto_parse("1 AES_CM_128_HMAC_SHA1_80", &c, err, sizeof err));
  g_assert_false(sdp_crypto_parse("1 AES_CM_128_HMAC_SHA1_80 inline:", &c, err, sizeof err));
  g_assert_false(sdp_crypto_parse("1 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY "!", &c, err,
                                  sizeof err));
}

static void test_second_key_and_session_params_are_noticed(void) {
  sdp_crypto c;
  char err[160];
  g_assert_true(sdp_crypto_parse("2 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY "|2^31;inline:" RFC_KEY
                                 "|2^31",
                                 &c, err, sizeof err));
  g_assert_true(c.has_lifetime);
  g_assert_false(c.has_session_params);
  g_assert_true(sdp_crypto_parse("2 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY " UNENCRYPTED_SRTP",
                                 &c, err, sizeof err));
  g_assert_true(c.has_session_params);
}

static void test_print_parse_round_trip(void) {
  sdp_srtp_suite suites[] = {SDP_SRTP_AES_CM_128_HMAC_SHA1_80, SDP_SRTP_AES_CM_128_HMAC_SHA1_32,
                             SDP_SRTP_AEAD_AES_128_GCM};
  for (size_t s = 0; s < G_N_ELEMENTS(suites); s++) {
    sdp_crypto in = {.tag = (int)s + 1, .suite = suites[s]}, back;
    for (size_t i = 0; i < sizeof in.key; i++) in.key[i] = (unsigned char)(i * 7 + s);
    for (size_t i = 0; i < sdp_srtp_salt_len(suites[s]); i++) in.salt[i] = (unsigned char)(200 + i);
    char line[128], err[160];
    g_assert_true(sdp_crypto_print(&in, line, sizeof line));
    g_assert_true(g_str_has_prefix(line, s == 0   ? "1 AES_CM_128_HMAC_SHA1_80 inline:"
                                         : s == 1 ? "2 AES_CM_128_HMAC_SHA1_32 inline:"
                                                  : "3 AEAD_AES_128_GCM inline:"));
    g_assert_true(sdp_crypto_parse(line, &back, err, sizeof err));
    g_assert_cmpint(back.tag, ==, in.tag);
    g_assert_cmpint(back.suite, ==, in.suite);
    g_assert_cmpmem(back.key, sizeof back.key, in.key, sizeof in.key);
    g_assert_cmpmem(back.salt, sdp_srtp_salt_len(suites[s]), in.salt, sdp_srtp_salt_len(suites[s]));
  }
  sdp_crypto in = {.tag = 1, .suite = SDP_SRTP_AES_CM_128_HMAC_SHA1_80};
  char tiny[20];
  g_assert_false(sdp_crypto_print(&in, tiny, sizeof tiny));
  in.suite = SDP_SRTP_NONE;
  char line[128];
  g_assert_false(sdp_crypto_print(&in, line, sizeof line));
}

static void test_pick_skips_mki_unknown_and_session_params(void) {
  sdp_session *s = parse_text(
      "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n"
      "m=audio 7000 RTP/SAVP 0\r\n"
      "a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:" RFC_KEY RFC_KEY "\r\n"
      "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY "|2^20|1:4\r\n"
      "a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY " KDR=1\r\n"
      "a=crypto:4 AES_CM_128_HMAC_SHA1_32 inline:" RFC_KEY "|2^31\r\n");
  sdp_crypto c;
  g_assert_true(sdp_crypto_pick(sdp_audio(s), &c));
  g_assert_cmpint(c.tag, ==, 4);
  g_assert_cmpint(c.suite, ==, SDP_SRTP_AES_CM_128_HMAC_SHA1_32);
  g_assert_true(sdp_crypto_find(sdp_audio(s), 4, SDP_SRTP_AES_CM_128_HMAC_SHA1_32, &c));
  g_assert_false(sdp_crypto_find(sdp_audio(s), 4, SDP_SRTP_AES_CM_128_HMAC_SHA1_80, &c));
  g_assert_false(sdp_crypto_find(sdp_audio(s), 2, SDP_SRTP_AES_CM_128_HMAC_SHA1_80, &c));
  sdp_session_clear(s);
  free_parsed(s);
  s = parse_text("v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n"
                 "m=audio 7000 RTP/AVP 0\r\n");
  g_assert_false(sdp_crypto_pick(sdp_audio(s), &c));
  free_parsed(s);
}

/* More a=crypto lines than we keep (4): unusable ones make room for usable ones, extras are
 * ignored, and the offer is never refused for it. */
static void test_many_crypto_lines_keep_the_usable_ones(void) {
  sdp_session *s = parse_text(
      "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n"
      "m=audio 7000 RTP/SAVP 0\r\n"
      "a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:" RFC_KEY RFC_KEY "\r\n"
      "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY "|2^20|1:4\r\n"
      "a=crypto:3 F8_128_HMAC_SHA1_80 inline:" RFC_KEY "\r\n"
      "a=crypto:4 AES_192_CM_HMAC_SHA1_80 inline:" RFC_KEY "\r\n"
      "a=crypto:5 AES_CM_128_HMAC_SHA1_32 inline:" RFC_KEY "\r\n"
      "a=crypto:6 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY "\r\n"
      "a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY "\r\n");
  const sdp_media *audio = sdp_audio(s);
  g_assert_cmpuint(audio->crypto_count, ==, 4);
  sdp_crypto c;
  g_assert_true(sdp_crypto_pick(audio, &c));
  g_assert_cmpint(c.tag, ==, 5); /* the offerer's first usable line */
  g_assert_true(sdp_crypto_find(audio, 6, SDP_SRTP_AES_CM_128_HMAC_SHA1_80, &c));
  g_assert_true(sdp_crypto_find(audio, 7, SDP_SRTP_AES_CM_128_HMAC_SHA1_80, &c));
  g_assert_true(g_str_has_prefix(audio->crypto[0], "4 AES_192")); /* the last unusable one stays */
  free_parsed(s);

  GString *t = g_string_new("v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nt=0 0\r\nm=audio 7000 RTP/SAVP 0\r\n");
  for (int tag = 1; tag <= 9; tag++)
    g_string_append_printf(t, "a=crypto:%d AES_CM_128_HMAC_SHA1_80 inline:" RFC_KEY "\r\n", tag);
  s = parse_text(t->str);
  g_assert_cmpuint(sdp_audio(s)->crypto_count, ==, 4);
  g_assert_true(sdp_crypto_pick(sdp_audio(s), &c));
  g_assert_cmpint(c.tag, ==, 1);
  g_assert_false(sdp_crypto_find(sdp_audio(s), 5, SDP_SRTP_AES_CM_128_HMAC_SHA1_80, &c));
  free_parsed(s);
  g_string_free(t, TRUE);
}

static const char plain[] = "v=0\r\no=- 5 6 IN IP4 10.0.0.1\r\ns=tabphone\r\nc=IN IP4 10.0.0.1\r\n"
                            "t=0 0\r\nm=audio 20000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n"
                            "a=rtcp:20001\r\na=sendrecv\r\n";

static void test_secure_sets_profile_and_adds_lines(void) {
  sdp_crypto keys[2] = {{.tag = 1, .suite = SDP_SRTP_AES_CM_128_HMAC_SHA1_80},
                        {.tag = 2, .suite = SDP_SRTP_AEAD_AES_128_GCM}};
  char *out = NULL, err[160];
  g_assert_true(sdp_plain_secure(plain, "RTP/SAVP", keys, 2, &out, err, sizeof err));
  g_assert_nonnull(strstr(out, "m=audio 20000 RTP/SAVP 0 8 101\r\n"));
  g_assert_nonnull(strstr(out, "a=sendrecv\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"));
  g_assert_nonnull(strstr(out, "\r\na=crypto:2 AEAD_AES_128_GCM inline:"));
  /* The result parses and carries both lines. */
  sdp_session *s = parse_text(out);
  g_assert_cmpstr(sdp_audio(s)->proto, ==, "RTP/SAVP");
  g_assert_cmpint(sdp_audio(s)->crypto_count, ==, 2);
  /* Securing again replaces the lines (re-INVITEs reuse our last SDP). */
  char *again = NULL;
  g_assert_true(sdp_plain_secure(out, "RTP/AVP", keys, 1, &again, err, sizeof err));
  g_assert_nonnull(strstr(again, "m=audio 20000 RTP/AVP 0 8 101\r\n"));
  free_parsed(s);
  s = parse_text(again);
  g_assert_cmpint(sdp_audio(s)->crypto_count, ==, 1);
  g_assert_cmpstr(sdp_audio(s)->proto, ==, "RTP/AVP");
  free(again);
  /* count 0 removes them. */
  g_assert_true(sdp_plain_secure(out, "RTP/AVP", NULL, 0, &again, err, sizeof err));
  g_assert_null(strstr(again, "a=crypto"));
  g_assert_cmpstr(again, ==, plain);
  free(again);
  free(out);
  free_parsed(s);
}

static void test_secure_refuses_bad_input(void) {
  char *out = NULL, err[160];
  g_assert_false(sdp_plain_secure("v=0\r\ns=-\r\n", "RTP/SAVP", NULL, 0, &out, err, sizeof err));
  g_assert_cmpstr(err, ==, "our SDP has no audio m-line");
  g_assert_false(sdp_plain_secure(plain, "UDP/TLS/RTP/SAVPF", NULL, 0, &out, err, sizeof err));
  g_assert_null(out);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/sdp_crypto/parse/rfc_example", test_parse_rfc_example_with_lifetime_and_mki);
  g_test_add_func("/sdp_crypto/parse/each_suite", test_parse_each_suite);
  g_test_add_func("/sdp_crypto/parse/refusals", test_parse_refusals_name_the_problem_not_the_key);
  g_test_add_func("/sdp_crypto/parse/more_keys_and_session_params",
                  test_second_key_and_session_params_are_noticed);
  g_test_add_func("/sdp_crypto/print/round_trip", test_print_parse_round_trip);
  g_test_add_func("/sdp_crypto/pick/skips_unusable", test_pick_skips_mki_unknown_and_session_params);
  g_test_add_func("/sdp_crypto/many_lines_keep_usable", test_many_crypto_lines_keep_the_usable_ones);
  g_test_add_func("/sdp_crypto/secure/profile_and_lines", test_secure_sets_profile_and_adds_lines);
  g_test_add_func("/sdp_crypto/secure/refusals", test_secure_refuses_bad_input);
  return g_test_run();
}
