/* Unit tests for sdp/: parsing real captures (tests/unit/sdp/README.md says where each came
 * from), the four call translations and the echo answer, codec choice, payload-type rewrites,
 * telephone-event, BUNDLE, IPv6, and the refusals users see as error text. */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "sdp/sdp.h"

/* ---- fixtures ---- */

static const sdp_plain_local plain_local = {.address = "192.0.2.10", .rtp_port = 20000,
                                            .session_id = 7, .session_version = 1};
static const sdp_plain_local plain_local6 = {.address = "2001:db8::10", .rtp_port = 20000,
                                             .session_id = 7, .session_version = 1};
static sdp_webrtc_local webrtc_local(const char *setup) {
  return (sdp_webrtc_local){"tbph", "tabphonepasswordpassword01",
                            "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:"
                            "11:22:33:44:55:66:77:88:99",
                            setup, 9, 1, SDP_BROWSER_CODEC_AUTO};
}
static char *const every_codec[] = {"opus", "g722", "pcmu", "pcma", NULL};

/* sdp_session is large (~85 KiB): tests keep them on the heap. */
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

static sdp_session *capture(const char *name) {
  char *path = g_build_filename(TABPHONE_SOURCE_DIR, "tests", "unit", "sdp", name, NULL);
  char *text;
  GError *error = NULL;
  if (!g_file_get_contents(path, &text, NULL, &error)) g_error("%s", error->message);
  sdp_session *s = parse_text(text);
  g_free(text);
  g_free(path);
  return s;
}

/* Parses text and returns the error, which must be set. */
static char *parse_error(const char *text, size_t len) {
  sdp_session *s = g_new0(sdp_session, 1);
  char err[256] = "";
  g_assert_false(sdp_parse(text, len, s, err, sizeof err));
  g_assert_cmpuint(s->media_count, ==, 0);
  free_parsed(s);
  g_assert_cmpstr(err, !=, "");
  return g_strdup(err);
}

static void assert_has_line(const char *sdp, const char *line) {
  char *needle = g_strdup_printf("\r\n%s\r\n", line);
  if (strstr(sdp, needle) == NULL) g_error("missing line \"%s\" in:\n%s", line, sdp);
  g_free(needle);
}

static void assert_lacks(const char *sdp, const char *text) {
  if (strstr(sdp, text) != NULL) g_error("unexpected \"%s\" in:\n%s", text, sdp);
}

/* What we print must read back with our own parser. */
static void assert_reparses(const char *sdp) { free_parsed(parse_text(sdp)); }

static const char minimal_webrtc[] =
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 110\r\nc=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    "a=fingerprint:sha-256 01:02:03\r\na=setup:actpass\r\na=mid:0\r\na=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:110 telephone-event/48000\r\n";

/* ---- parsing ---- */

static void test_chromium_offer_parses(void) {
  sdp_session *s = capture("chromium-offer.sdp");
  const sdp_media *a = sdp_audio(s);
  g_assert_nonnull(a);
  g_assert_true(s->bundle);
  g_assert_cmpstr(a->proto, ==, "UDP/TLS/RTP/SAVPF");
  g_assert_cmpuint(a->codec_count, ==, 8);
  g_assert_cmpint(a->codecs[0].pt, ==, 111);
  g_assert_cmpstr(a->codecs[0].name, ==, "opus");
  g_assert_cmpint(a->codecs[0].clock_rate, ==, 48000);
  g_assert_cmpint(a->codecs[0].channels, ==, 2);
  g_assert_cmpstr(a->codecs[0].fmtp, ==, "minptime=10;useinbandfec=1");
  g_assert_cmpstr(a->codecs[2].name, ==, "G722");
  g_assert_cmpint(a->codecs[2].clock_rate, ==, 8000);
  g_assert_cmpstr(a->mid, ==, "0");
  g_assert_cmpstr(a->ice_ufrag, ==, "F8Z2");
  g_assert_cmpstr(a->fingerprint_alg, ==, "sha-256");
  g_assert_cmpstr(a->setup, ==, "actpass");
  g_assert_true(a->rtcp_mux);
  g_assert_cmpint(a->rtcp_port, ==, 9);
  g_assert_cmpstr(a->direction, ==, "sendrecv");
  free_parsed(s);
}

static void test_session_level_dtls_and_ice_are_inherited(void) {
  sdp_session *s = capture("firefox-offer.sdp");
  const sdp_media *a = sdp_audio(s);
  g_assert_cmpstr(a->fingerprint_alg, ==, "sha-256");
  g_assert_true(g_str_has_prefix(a->fingerprint, "5A:1F:"));
  g_assert_cmpstr(a->codecs[1].name, ==, "G722");
  g_assert_cmpint(a->codecs[1].channels, ==, 1);
  g_assert_cmpstr(a->codecs[0].fmtp, ==, "maxplaybackrate=48000;stereo=1;useinbandfec=1");
  free_parsed(s);

  s = parse_text("v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\na=ice-ufrag:uf\na=ice-pwd:pw\n"
                 "a=setup:passive\na=recvonly\nm=audio 5 RTP/AVP 0\n");
  g_assert_cmpstr(s->media[0].ice_ufrag, ==, "uf");
  g_assert_cmpstr(s->media[0].ice_pwd, ==, "pw");
  g_assert_cmpstr(s->media[0].setup, ==, "passive");
  g_assert_cmpstr(s->media[0].direction, ==, "recvonly");
  free_parsed(s);
}

static void test_static_payload_types_need_no_rtpmap(void) {
  sdp_session *s = parse_text("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\n"
                              "t=0 0\r\nm=audio 6000 RTP/AVP 0 8 9 18 13\r\n");
  const sdp_media *a = sdp_audio(s);
  const char *names[] = {"PCMU", "PCMA", "G722", "G729", "CN"};
  for (size_t i = 0; i < 5; i++) {
    g_assert_cmpstr(a->codecs[i].name, ==, names[i]);
    g_assert_cmpint(a->codecs[i].clock_rate, ==, 8000);
  }
  g_assert_cmpstr(a->connection, ==, "10.0.0.1");
  g_assert_cmpint(a->rtcp_port, ==, 6001);
  free_parsed(s);
}

static void test_lf_only_and_missing_t_are_accepted(void) {
  sdp_session *s = parse_text("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\n"
                              "m=audio 6000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n");
  g_assert_cmpuint(s->media_count, ==, 1);
  g_assert_cmpstr(s->media[0].codecs[0].name, ==, "PCMU");
  free_parsed(s);
}

static void test_ice_rtcp_crypto_and_unknown_attributes(void) {
  sdp_session *s = parse_text(
      "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\na=x-unknown:whatever\r\n"
      "m=audio 6000 RTP/SAVP 0\r\na=rtcp:7001 IN IP4 10.0.0.2\r\na=ptime:30\r\na=sendonly\r\n"
      "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
      "a=candidate:1 1 udp 2122260223 10.0.0.1 6000 typ host\r\na=end-of-candidates\r\n"
      "a=rtpmap:0 PCMU/8000\r\na=rtpmap:99 ignored/1000\r\n");
  const sdp_media *a = &s->media[0];
  g_assert_cmpint(a->rtcp_port, ==, 7001);
  g_assert_cmpint(a->ptime, ==, 30);
  g_assert_cmpstr(a->direction, ==, "sendonly");
  g_assert_cmpuint(a->crypto_count, ==, 1);
  g_assert_cmpuint(a->candidate_count, ==, 1);
  g_assert_cmpstr(a->candidates[0], ==, "candidate:1 1 udp 2122260223 10.0.0.1 6000 typ host");
  g_assert_true(a->end_of_candidates);
  g_assert_cmpuint(a->codec_count, ==, 1);
  free_parsed(s);
}

static void test_audio_skips_rejected_m_lines(void) {
  sdp_session *s = parse_text("v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nc=IN IP4 1.2.3.4\n"
                              "m=audio 0 RTP/AVP 0\nm=video 5000 RTP/AVP 96\nm=audio 6000 RTP/AVP 8\n");
  g_assert_true(sdp_audio(s) == &s->media[2]);
  free_parsed(s);
}

static void test_malformed_input_is_refused_with_a_reason(void) {
  static const struct {
    const char *text;
    const char *reason;
  } cases[] = {
      {"", "empty SDP"},
      {"o=- 1 1 IN IP4 1.2.3.4\ns=-\n", "must start with v=0"},
      {"v=0\ns=-\nm=audio 1 RTP/AVP 0\n", "o= and s= must come before m="},
      {"v=0\no=- 1 1 IN IP4 1.2.3.4\n", "missing s= line"},
      {"v=0\ns=-\n", "missing o= line"},
      {"v=0\no=- x 1 IN IP4 1.2.3.4\ns=-\n", "session id and version must be numbers"},
      {"v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nm=audio 70000 RTP/AVP 0\n", "port must be 0-65535"},
      {"v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nm=audio 5 RTP/AVP 200\n", "payload type must be 0-127"},
      {"v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nm=audio 5 RTP/AVP 96\na=rtpmap:96 opus\n",
       "a=rtpmap needs"},
      {"v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nc=IN XX 1.2.3.4\n", "c= needs IN IP4|IP6"},
      {"v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nthis is not sdp\n", "expected <letter>=<value>"},
      {"v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\x01\n", "control character"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    char *err = parse_error(cases[i].text, strlen(cases[i].text));
    if (strstr(err, cases[i].reason) == NULL) g_error("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].reason);
    g_free(err);
  }
}

/* Candidate lines are allocated one by one: a parse that fails after some must free them
 * (the ASan run of this test catches a leak). */
static void test_candidates_up_to_the_limit_and_a_failure_after_some(void) {
  GString *t = g_string_new("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nm=audio 5 RTP/AVP 0\r\n");
  for (int i = 0; i < SDP_MAX_CANDIDATES; i++)
    g_string_append_printf(t, "a=candidate:%d 1 udp 2122260223 10.0.0.1 %d typ host\r\n", i, 50000 + i);
  sdp_session *s = parse_text(t->str);
  g_assert_cmpuint(s->media[0].candidate_count, ==, SDP_MAX_CANDIDATES);
  g_assert_cmpstr(s->media[0].candidates[31], ==, "candidate:31 1 udp 2122260223 10.0.0.1 50031 typ host");
  free_parsed(s);

  GString *more = g_string_new(t->str);
  g_string_append(more, "a=candidate:32 1 udp 1 10.0.0.1 1 typ host\r\n");
  char *err = parse_error(more->str, more->len);
  g_assert_nonnull(strstr(err, "too many candidates"));
  g_free(err);

  g_string_append(t, "this is not sdp\r\n");
  err = parse_error(t->str, t->len);
  g_assert_nonnull(strstr(err, "expected <letter>=<value>"));
  g_free(err);

  GString *overlong = g_string_new("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nm=audio 5 RTP/AVP 0\r\na=candidate:");
  for (int i = 0; i < SDP_MAX_CANDIDATE_LINE; i++) g_string_append_c(overlong, '1');
  err = parse_error(overlong->str, overlong->len);
  g_assert_nonnull(strstr(err, "a=candidate too long"));
  g_free(err);
  g_string_free(overlong, TRUE);
  g_string_free(more, TRUE);
  g_string_free(t, TRUE);
}

static void test_overlong_values_and_nul_bytes_are_refused(void) {
  GString *t = g_string_new("v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nm=audio 5 RTP/AVP 0\na=ice-ufrag:");
  for (int i = 0; i < 100; i++) g_string_append_c(t, 'u');
  char *err = parse_error(t->str, t->len);
  g_assert_nonnull(strstr(err, "SDP line 5: a=ice-ufrag too long"));
  g_free(err);
  g_string_free(t, TRUE);

  static const char nul[] = "v=0\no=- 1 1 IN IP4 1.2.3.4\0\ns=-\n";
  err = parse_error(nul, sizeof nul - 1);
  g_assert_cmpstr(err, ==, "SDP: NUL byte in SDP");
  g_free(err);

  t = g_string_new("v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\n");
  for (int i = 0; i < 9; i++) g_string_append(t, "m=audio 5 RTP/AVP 0\n");
  err = parse_error(t->str, t->len);
  g_assert_nonnull(strstr(err, "too many m= lines (max 8)"));
  g_free(err);
  g_string_free(t, TRUE);
}

/* ---- (1) outbound: browser offer -> SIP offer ---- */

static void test_chromium_offer_becomes_plain_offer(void) {
  sdp_session *b = capture("chromium-offer.sdp");
  char *out = NULL, err[256];
  g_assert_true(sdp_offer_browser_to_plain(b, every_codec, &plain_local, &out, err, sizeof err));
  g_assert_cmpstr(out, ==,
                  "v=0\r\no=tabphone 7 1 IN IP4 192.0.2.10\r\ns=tabphone\r\n"
                  "c=IN IP4 192.0.2.10\r\nt=0 0\r\n"
                  "m=audio 20000 RTP/AVP 111 9 0 8 101 110\r\n"
                  "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
                  "a=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
                  "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
                  "a=rtpmap:110 telephone-event/48000\r\na=fmtp:110 0-16\r\n"
                  "a=rtcp:20001\r\na=ptime:20\r\na=sendrecv\r\n");
  assert_reparses(out);
  free(out);
  free_parsed(b);
}

static void test_plain_offer_follows_account_order(void) {
  sdp_session *b = capture("firefox-offer.sdp");
  char *const allowed[] = {"pcma", "g722", "pcmu", NULL};
  char *out = NULL, err[256];
  g_assert_true(sdp_offer_browser_to_plain(b, allowed, &plain_local, &out, err, sizeof err));
  assert_has_line(out, "m=audio 20000 RTP/AVP 8 9 0 101");
  assert_lacks(out, "opus");
  assert_lacks(out, "telephone-event/48000");
  free(out);
  free_parsed(b);
}

static void test_opus_keeps_browser_pt_unless_it_is_not_dynamic(void) {
  sdp_session *b = capture("firefox-offer.sdp");
  char *out = NULL, err[256];
  g_assert_true(sdp_offer_browser_to_plain(b, NULL, &plain_local, &out, err, sizeof err));
  assert_has_line(out, "m=audio 20000 RTP/AVP 109 0 8 9 101");
  assert_has_line(out, "a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1");
  free(out);
  free_parsed(b);

  /* A browser using 101 for opus: telephone-event moves to the next free dynamic pt. */
  char *text = g_strdup(minimal_webrtc);
  char *p;
  while ((p = strstr(text, "111")) != NULL) memcpy(p, "101", 3);
  b = parse_text(text);
  g_assert_true(sdp_offer_browser_to_plain(b, NULL, &plain_local, &out, err, sizeof err));
  assert_has_line(out, "m=audio 20000 RTP/AVP 101 0 96 110");
  assert_has_line(out, "a=rtpmap:96 telephone-event/8000");
  free(out);
  free_parsed(b);
  g_free(text);
}

/* No codec in common: the account's codecs are offered and the bridge transcodes (the
 * negotiation of transcoded calls is tested in test_codec_sdp.c). */
static void test_no_common_codec_offers_the_account_codecs_to_transcode(void) {
  sdp_session *b = parse_text(minimal_webrtc);
  char *const allowed[] = {"g722", NULL};
  char *out = NULL, err[256];
  g_assert_true(sdp_offer_browser_to_plain(b, allowed, &plain_local, &out, err, sizeof err));
  assert_has_line(out, "a=rtpmap:9 G722/8000");
  free(out);
  free_parsed(b);
}

static void test_browser_offer_without_audio_ice_or_fingerprint_is_refused(void) {
  static const struct {
    const char *from, *to, *reason;
  } cases[] = {
      {"m=audio 9", "m=video 9", "browser offer has no audio (or rejects it)"},
      {"a=ice-ufrag:abcd\r\n", "", "browser offer has no ICE credentials (a=ice-ufrag/a=ice-pwd)"},
      {"a=fingerprint:sha-256", "a=fingerprint:sha-1", "browser offer has no sha-256 DTLS fingerprint"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    GString *t = g_string_new(minimal_webrtc);
    char *at = strstr(t->str, cases[i].from);
    gssize pos = at - t->str;
    g_string_erase(t, pos, (gssize)strlen(cases[i].from));
    g_string_insert(t, pos, cases[i].to);
    sdp_session *b = parse_text(t->str);
    char *out = NULL, err[256];
    g_assert_false(sdp_offer_browser_to_plain(b, NULL, &plain_local, &out, err, sizeof err));
    g_assert_true(g_str_has_prefix(err, cases[i].reason));
    free_parsed(b);
    g_string_free(t, TRUE);
  }
}

static void test_ipv6_media_address(void) {
  sdp_session *b = capture("chromium-offer.sdp");
  char *out = NULL, err[256];
  g_assert_true(sdp_offer_browser_to_plain(b, NULL, &plain_local6, &out, err, sizeof err));
  assert_has_line(out, "o=tabphone 7 1 IN IP6 2001:db8::10");
  assert_has_line(out, "c=IN IP6 2001:db8::10");
  free(out);
  free_parsed(b);

  sdp_session *p = parse_text("v=0\r\no=- 1 1 IN IP6 2001:db8::2\r\ns=-\r\nc=IN IP6 2001:db8::2\r\n"
                              "t=0 0\r\nm=audio 7000 RTP/AVP 0\r\n");
  g_assert_cmpstr(sdp_audio(p)->connection, ==, "2001:db8::2");
  free_parsed(p);
}

static void test_our_side_is_checked_before_printing(void) {
  sdp_session *b = capture("chromium-offer.sdp");
  sdp_plain_local bad = {.address = "1.2.3.4\r\na=evil", .rtp_port = 20000, .session_id = 1,
                         .session_version = 1};
  char *out = NULL, err[256];
  g_assert_false(sdp_offer_browser_to_plain(b, NULL, &bad, &out, err, sizeof err));
  g_assert_cmpstr(err, ==, "our SIP media address is missing or malformed");
  free_parsed(b);
}

/* ---- (2) outbound: SIP answer -> browser answer ---- */

static void test_baresip_answer_becomes_browser_answer(void) {
  sdp_session *b = capture("chromium-offer.sdp"), *p = capture("baresip-answer.sdp");
  sdp_webrtc_local local = webrtc_local("active");
  sdp_codec_choice c;
  char *out = NULL, err[256];
  g_assert_true(sdp_answer_plain_to_browser(b, p, &local, &out, &c, err, sizeof err));
  g_assert_cmpstr(c.name, ==, "opus");
  g_assert_cmpint(c.clock_rate, ==, 48000);
  g_assert_cmpint(c.browser_pt, ==, 111);
  g_assert_cmpint(c.sip_pt, ==, 111);
  g_assert_cmpint(c.browser_dtmf_pt, ==, 110); /* telephone-event/48000 */
  g_assert_cmpint(c.sip_dtmf_pt, ==, -1);      /* baresip answered only telephone-event/8000 */
  g_assert_cmpstr(out, ==,
                  "v=0\r\no=tabphone 9 1 IN IP4 0.0.0.0\r\ns=tabphone\r\nt=0 0\r\n"
                  "a=group:BUNDLE 0\r\na=msid-semantic: WMS *\r\n"
                  "m=audio 9 UDP/TLS/RTP/SAVPF 111 110\r\nc=IN IP4 0.0.0.0\r\n"
                  "a=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:tbph\r\n"
                  "a=ice-pwd:tabphonepasswordpassword01\r\na=ice-options:trickle\r\n"
                  "a=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:"
                  "DD:EE:FF:00:11:22:33:44:55:66:77:88:99\r\n"
                  "a=setup:active\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\n"
                  "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 stereo=1;sprop-stereo=1\r\n"
                  "a=rtpmap:110 telephone-event/48000\r\na=fmtp:110 0-16\r\n"
                  "a=ssrc:2058354689 cname:tabphone\r\n");
  assert_reparses(out);
  free(out);
  free_parsed(b);
  free_parsed(p);
}

static void test_answer_pts_rule_the_sip_leg(void) {
  /* The far end answers with its own numbering: opus at 96, telephone-event at 100. */
  sdp_session *b = capture("chromium-offer.sdp");
  sdp_session *p = parse_text("v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n"
                              "m=audio 7000 RTP/AVP 96 100\r\na=rtpmap:96 OPUS/48000/2\r\n"
                              "a=rtpmap:100 telephone-event/48000\r\n");
  sdp_webrtc_local local = webrtc_local("active");
  sdp_codec_choice c;
  char *out = NULL, err[256];
  g_assert_true(sdp_answer_plain_to_browser(b, p, &local, &out, &c, err, sizeof err));
  g_assert_cmpint(c.browser_pt, ==, 111);
  g_assert_cmpint(c.sip_pt, ==, 96);
  g_assert_cmpint(c.browser_dtmf_pt, ==, 110);
  g_assert_cmpint(c.sip_dtmf_pt, ==, 100);
  assert_has_line(out, "m=audio 9 UDP/TLS/RTP/SAVPF 111 110");
  free(out);
  free_parsed(b);
  free_parsed(p);
}

static void test_sipp_pcmu_answer_and_dtmf_clock(void) {
  sdp_session *b = capture("chromium-offer.sdp"), *p = capture("sipp-answer.sdp");
  sdp_webrtc_local local = webrtc_local("active");
  sdp_codec_choice c;
  char *out = NULL, err[256];
  g_assert_true(sdp_answer_plain_to_browser(b, p, &local, &out, &c, err, sizeof err));
  g_assert_cmpstr(c.name, ==, "pcmu");
  g_assert_cmpint(c.clock_rate, ==, 8000);
  g_assert_cmpint(c.browser_pt, ==, 0);
  g_assert_cmpint(c.sip_pt, ==, 0);
  g_assert_cmpint(c.browser_dtmf_pt, ==, 126); /* the browser's telephone-event/8000 */
  g_assert_cmpint(c.sip_dtmf_pt, ==, -1);      /* sipp offers none */
  assert_has_line(out, "m=audio 9 UDP/TLS/RTP/SAVPF 0 126");
  free(out);
  free_parsed(b);
  free_parsed(p);
}

static void test_dtmf_needs_the_codec_clock_on_each_leg(void) {
  /* PCMU chosen, the browser only has telephone-event/48000: no DTMF on the browser leg. */
  sdp_session *b = parse_text(minimal_webrtc);
  sdp_session *p = capture("baresip-offer.sdp"); /* PCMU first, telephone-event/8000 */
  sdp_webrtc_local local = webrtc_local("active");
  sdp_codec_choice c;
  char *out = NULL, err[256];
  g_assert_true(sdp_answer_plain_to_browser(b, p, &local, &out, &c, err, sizeof err));
  g_assert_cmpstr(c.name, ==, "pcmu");
  g_assert_cmpint(c.browser_dtmf_pt, ==, -1);
  g_assert_cmpint(c.sip_dtmf_pt, ==, 101);
  assert_has_line(out, "m=audio 9 UDP/TLS/RTP/SAVPF 0");
  assert_lacks(out, "telephone-event");
  free(out);
  free_parsed(b);
  free_parsed(p);
}

static void test_far_end_answer_without_common_codec(void) {
  sdp_session *b = capture("chromium-offer.sdp");
  sdp_session *p = parse_text("v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n"
                              "m=audio 7000 RTP/AVP 18 101\r\na=rtpmap:18 G729/8000\r\n"
                              "a=rtpmap:101 telephone-event/8000\r\n");
  sdp_webrtc_local local = webrtc_local("active");
  sdp_codec_choice c;
  char *out = NULL, err[256];
  g_assert_false(sdp_answer_plain_to_browser(b, p, &local, &out, &c, err, sizeof err));
  g_assert_cmpstr(err, ==, "no common codec (browser: opus, g722, pcmu, pcma; far end: g729)");
  g_assert_cmpint(c.browser_pt, ==, -1);
  free_parsed(b);
  free_parsed(p);
}

/* RTP/SAVP (SDES) translates like RTP/AVP: the keys are the call layer's business
 * (test_sdp_crypto); an unknown profile is still refused. */
static void test_far_end_srtp_answer_translates(void) {
  sdp_session *b = capture("chromium-offer.sdp");
  sdp_session *p = parse_text("v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\n"
                              "m=audio 7000 RTP/SAVP 0\r\n");
  sdp_webrtc_local local = webrtc_local("active");
  char *out = NULL, err[256];
  g_assert_true(sdp_answer_plain_to_browser(b, p, &local, &out, NULL, err, sizeof err));
  free(out);
  free_parsed(p);
  p = parse_text("v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\n"
                 "m=audio 7000 UDP/TLS/RTP/SAVP 0\r\n");
  g_assert_false(sdp_answer_plain_to_browser(b, p, &local, &out, NULL, err, sizeof err));
  g_assert_cmpstr(err, ==, "far end answer uses UDP/TLS/RTP/SAVP, expected RTP/AVP or RTP/SAVP");
  free_parsed(b);
  free_parsed(p);
}

static void test_bundle_offer_with_video_and_data(void) {
  sdp_session *b = capture("chromium-offer-av-data.sdp"), *p = capture("sipp-answer.sdp");
  sdp_webrtc_local local = webrtc_local("active");
  char *out = NULL, err[256];
  g_assert_true(sdp_answer_plain_to_browser(b, p, &local, &out, NULL, err, sizeof err));
  assert_has_line(out, "a=group:BUNDLE 0");
  assert_has_line(out, "m=video 0 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=inactive\r\na=mid:1");
  assert_has_line(out, "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
                       "a=inactive\r\na=mid:2");
  sdp_session *again = parse_text(out);
  g_assert_cmpuint(again->media_count, ==, 3);
  g_assert_cmpint(again->media[1].port, ==, 0);
  free_parsed(again);
  free(out);
  free_parsed(b);
  free_parsed(p);
}

/* ---- (3) inbound: SIP offer -> browser offer ---- */

static void test_baresip_offer_becomes_browser_offer(void) {
  sdp_session *p = capture("baresip-offer.sdp");
  sdp_webrtc_local local = webrtc_local("actpass");
  char *const allowed[] = {"pcmu", "opus", NULL};
  char *out = NULL, err[256];
  g_assert_true(sdp_offer_plain_to_browser(p, allowed, &local, &out, err, sizeof err));
  assert_has_line(out, "a=group:BUNDLE 0");
  assert_has_line(out, "m=audio 9 UDP/TLS/RTP/SAVPF 0 96 101"); /* the far end's pts */
  assert_has_line(out, "a=rtpmap:96 opus/48000/2\r\na=fmtp:96 stereo=1;sprop-stereo=1");
  assert_has_line(out, "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15");
  assert_has_line(out, "a=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux");
  assert_has_line(out, "a=ice-options:trickle");
  assert_lacks(out, "a=candidate");
  assert_lacks(out, "PCMA");
  assert_reparses(out);
  free(out);
  free_parsed(p);
}

static void test_inbound_offer_without_common_codec(void) {
  sdp_session *p = capture("sipp-offer.sdp");
  sdp_webrtc_local local = webrtc_local("actpass");
  char *const allowed[] = {"opus", NULL};
  char *out = NULL, err[256];
  g_assert_false(sdp_offer_plain_to_browser(p, allowed, &local, &out, err, sizeof err));
  g_assert_cmpstr(err, ==, "no common codec (far end: pcmu; account: opus)");
  free_parsed(p);
}

/* ---- (4) inbound: browser answer -> SIP answer ---- */

static void test_chromium_answer_becomes_sip_answer(void) {
  sdp_session *p = capture("baresip-offer.sdp"), *b = capture("chromium-answer-inbound.sdp");
  sdp_codec_choice c;
  char *out = NULL, err[256];
  g_assert_true(sdp_answer_browser_to_plain(p, b, &plain_local, &out, &c, err, sizeof err));
  g_assert_cmpstr(c.name, ==, "opus");
  g_assert_cmpint(c.browser_pt, ==, 96);
  g_assert_cmpint(c.sip_pt, ==, 96);
  g_assert_cmpint(c.browser_dtmf_pt, ==, -1); /* only telephone-event/8000 in the answer */
  g_assert_cmpint(c.sip_dtmf_pt, ==, -1);
  g_assert_cmpstr(out, ==,
                  "v=0\r\no=tabphone 7 1 IN IP4 192.0.2.10\r\ns=tabphone\r\n"
                  "c=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 20000 RTP/AVP 96\r\n"
                  "a=rtpmap:96 opus/48000/2\r\na=fmtp:96 minptime=10;useinbandfec=1\r\n"
                  "a=rtcp:20001\r\na=ptime:20\r\na=sendrecv\r\n");
  free(out);
  free_parsed(p);
  free_parsed(b);
}

static void test_sip_answer_uses_the_offers_pts(void) {
  /* The far end offered PCMA as 8 and telephone-event as 100; the browser answered PCMA. */
  sdp_session *p = parse_text("v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\n"
                              "m=audio 7000 RTP/AVP 8 100\r\na=rtpmap:100 telephone-event/8000\r\n"
                              "a=fmtp:100 0-15\r\na=sendonly\r\n");
  sdp_session *b = capture("chromium-answer.sdp"); /* PCMA 8, PCMU 0, telephone-event 101 */
  sdp_codec_choice c;
  char *out = NULL, err[256];
  g_assert_true(sdp_answer_browser_to_plain(p, b, &plain_local, &out, &c, err, sizeof err));
  g_assert_cmpstr(c.name, ==, "pcma");
  g_assert_cmpint(c.browser_dtmf_pt, ==, 101);
  g_assert_cmpint(c.sip_dtmf_pt, ==, 100);
  assert_has_line(out, "m=audio 20000 RTP/AVP 8 100");
  assert_has_line(out, "a=fmtp:100 0-15");
  assert_has_line(out, "a=sendrecv"); /* the browser's answer said sendrecv */
  free(out);
  free_parsed(p);
  free_parsed(b);
}

/* ---- echo ---- */

static void test_echo_answers_the_first_echoable_codec(void) {
  sdp_session *b = capture("chromium-offer.sdp");
  sdp_webrtc_local local = webrtc_local("passive");
  sdp_codec_choice c;
  char *out = NULL, err[256];
  g_assert_true(sdp_answer_echo(b, &local, &out, &c, err, sizeof err));
  g_assert_cmpstr(c.name, ==, "opus");
  g_assert_cmpint(c.browser_pt, ==, 111);
  g_assert_cmpint(c.sip_pt, ==, c.browser_pt);
  g_assert_cmpint(c.browser_dtmf_pt, ==, 110);
  assert_has_line(out, "m=audio 9 UDP/TLS/RTP/SAVPF 111 110");
  assert_has_line(out, "a=setup:passive");
  free(out);
  free_parsed(b);
}

static void test_echo_mirrors_direction_and_refuses_g722_only(void) {
  char *text = g_strconcat(minimal_webrtc, "a=sendonly\r\n", NULL);
  sdp_session *b = parse_text(text);
  sdp_webrtc_local local = webrtc_local("active");
  char *out = NULL, err[256];
  g_assert_true(sdp_answer_echo(b, &local, &out, NULL, err, sizeof err));
  assert_has_line(out, "a=recvonly");
  free(out);
  free_parsed(b);
  g_free(text);

  b = parse_text("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 9\r\n"
                 "a=ice-ufrag:ab\r\na=ice-pwd:cd\r\na=fingerprint:sha-256 01:02\r\n");
  g_assert_false(sdp_answer_echo(b, &local, &out, NULL, err, sizeof err));
  g_assert_cmpstr(err, ==, "no common codec (browser: g722; echo: opus, pcmu, pcma)");
  free_parsed(b);
}

/* ---- in-dialog SDP of our own: hold / resume ---- */

static char *our_offer(void) {
  sdp_session *chromium = capture("chromium-offer.sdp");
  char *offer = NULL, err[256];
  g_assert_true(sdp_offer_browser_to_plain(chromium, every_codec, &plain_local, &offer, err,
                                           sizeof err));
  sdp_session_clear(chromium);
  free_parsed(chromium);
  return offer;
}

static void test_plain_with_direction_holds_and_bumps_version(void) {
  char *offer = our_offer(), *held = NULL, *resumed = NULL, err[256];
  sdp_session *before = parse_text(offer);
  const sdp_media *audio = sdp_audio(before);
  g_assert_cmpuint(audio->codec_count, >, 2);
  int pcmu = 0, dtmf = -1;
  for (size_t i = 0; i < audio->codec_count; i++)
    if (!strcmp(audio->codecs[i].name, "telephone-event")) dtmf = audio->codecs[i].pt;
  g_assert_true(sdp_plain_with_direction(offer, "sendonly", pcmu, dtmf, &held, err, sizeof err));
  sdp_session *h = parse_text(held);
  g_assert_cmpstr(sdp_audio(h)->direction, ==, "sendonly");
  g_assert_cmpuint(h->origin_id, ==, before->origin_id);
  g_assert_cmpuint(h->origin_version, ==, before->origin_version + 1);
  g_assert_cmpint(sdp_audio(h)->port, ==, 20000);
  g_assert_cmpstr(sdp_audio(h)->connection, ==, "192.0.2.10");
  g_assert_cmpuint(sdp_audio(h)->codec_count, ==, 2); /* PCMU + telephone-event only */
  g_assert_cmpint(sdp_audio(h)->codecs[0].pt, ==, 0);
  g_assert_cmpint(sdp_audio(h)->codecs[1].pt, ==, dtmf);
  g_assert_nonnull(strstr(held, "a=sendonly\r\n"));
  g_assert_null(strstr(held, "a=sendrecv"));
  /* resume: from the held SDP, version bumped again, every payload type kept with -1 */
  g_assert_true(sdp_plain_with_direction(held, "sendrecv", -1, -1, &resumed, err, sizeof err));
  sdp_session *r = parse_text(resumed);
  g_assert_cmpstr(sdp_audio(r)->direction, ==, "sendrecv");
  g_assert_cmpuint(r->origin_version, ==, before->origin_version + 2);
  g_assert_cmpuint(sdp_audio(r)->codec_count, ==, 2);
  g_assert_cmpstr(sdp_audio_direction(held), ==, "sendonly");
  g_assert_cmpstr(sdp_audio_direction(resumed), ==, "sendrecv");
  g_assert_null(sdp_audio_direction("not sdp"));
  for (sdp_session **p = (sdp_session *[]){before, h, r, NULL}; *p; p++) {
    sdp_session_clear(*p);
    g_free(*p);
  }
  free(offer), free(held), free(resumed);
}

static void test_plain_with_direction_refusals(void) {
  char *offer = our_offer(), *out = NULL, err[256];
  g_assert_false(sdp_plain_with_direction(offer, "upside-down", -1, -1, &out, err, sizeof err));
  g_assert_nonnull(strstr(err, "direction"));
  g_assert_false(sdp_plain_with_direction(offer, "inactive", 77, -1, &out, err, sizeof err));
  g_assert_nonnull(strstr(err, "payload type 77"));
  g_assert_false(sdp_plain_with_direction("v=0\r\n", "inactive", -1, -1, &out, err, sizeof err));
  g_assert_null(out);
  free(offer);
}

static void test_answer_direction_follows_rfc3264(void) {
  g_assert_cmpstr(sdp_answer_direction("sendrecv", false), ==, "sendrecv");
  g_assert_cmpstr(sdp_answer_direction(NULL, false), ==, "sendrecv");
  g_assert_cmpstr(sdp_answer_direction("sendonly", false), ==, "recvonly"); /* held by them */
  g_assert_cmpstr(sdp_answer_direction("inactive", false), ==, "inactive");
  g_assert_cmpstr(sdp_answer_direction("recvonly", false), ==, "sendonly");
  /* we hold: we only send, whatever they offer */
  g_assert_cmpstr(sdp_answer_direction("sendrecv", true), ==, "sendonly");
  g_assert_cmpstr(sdp_answer_direction("sendonly", true), ==, "inactive");
  g_assert_cmpstr(sdp_answer_direction("recvonly", true), ==, "sendonly");
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/sdp/parse/chromium_offer", test_chromium_offer_parses);
  g_test_add_func("/sdp/parse/session_level_inherited", test_session_level_dtls_and_ice_are_inherited);
  g_test_add_func("/sdp/parse/static_payload_types", test_static_payload_types_need_no_rtpmap);
  g_test_add_func("/sdp/parse/lf_and_missing_t", test_lf_only_and_missing_t_are_accepted);
  g_test_add_func("/sdp/parse/ice_rtcp_crypto_unknown", test_ice_rtcp_crypto_and_unknown_attributes);
  g_test_add_func("/sdp/parse/audio_skips_rejected", test_audio_skips_rejected_m_lines);
  g_test_add_func("/sdp/parse/malformed_refused", test_malformed_input_is_refused_with_a_reason);
  g_test_add_func("/sdp/parse/candidates_limit_and_failure", test_candidates_up_to_the_limit_and_a_failure_after_some);
  g_test_add_func("/sdp/parse/overlong_and_nul_refused", test_overlong_values_and_nul_bytes_are_refused);
  g_test_add_func("/sdp/outbound_offer/chromium", test_chromium_offer_becomes_plain_offer);
  g_test_add_func("/sdp/outbound_offer/account_order", test_plain_offer_follows_account_order);
  g_test_add_func("/sdp/outbound_offer/opus_pt", test_opus_keeps_browser_pt_unless_it_is_not_dynamic);
  g_test_add_func("/sdp/outbound_offer/no_common_codec",
                  test_no_common_codec_offers_the_account_codecs_to_transcode);
  g_test_add_func("/sdp/outbound_offer/browser_offer_checks",
                  test_browser_offer_without_audio_ice_or_fingerprint_is_refused);
  g_test_add_func("/sdp/outbound_offer/ipv6", test_ipv6_media_address);
  g_test_add_func("/sdp/outbound_offer/local_checked", test_our_side_is_checked_before_printing);
  g_test_add_func("/sdp/outbound_answer/baresip", test_baresip_answer_becomes_browser_answer);
  g_test_add_func("/sdp/outbound_answer/pt_rewrite", test_answer_pts_rule_the_sip_leg);
  g_test_add_func("/sdp/outbound_answer/sipp_pcmu", test_sipp_pcmu_answer_and_dtmf_clock);
  g_test_add_func("/sdp/outbound_answer/dtmf_clock", test_dtmf_needs_the_codec_clock_on_each_leg);
  g_test_add_func("/sdp/outbound_answer/no_common_codec", test_far_end_answer_without_common_codec);
  g_test_add_func("/sdp/outbound_answer/srtp_translates", test_far_end_srtp_answer_translates);
  g_test_add_func("/sdp/outbound_answer/bundle_av_data", test_bundle_offer_with_video_and_data);
  g_test_add_func("/sdp/inbound_offer/baresip", test_baresip_offer_becomes_browser_offer);
  g_test_add_func("/sdp/inbound_offer/no_common_codec", test_inbound_offer_without_common_codec);
  g_test_add_func("/sdp/inbound_answer/chromium", test_chromium_answer_becomes_sip_answer);
  g_test_add_func("/sdp/inbound_answer/offer_pts", test_sip_answer_uses_the_offers_pts);
  g_test_add_func("/sdp/echo/first_echoable", test_echo_answers_the_first_echoable_codec);
  g_test_add_func("/sdp/echo/direction_and_g722", test_echo_mirrors_direction_and_refuses_g722_only);
  g_test_add_func("/sdp/in_dialog/hold_resume", test_plain_with_direction_holds_and_bumps_version);
  g_test_add_func("/sdp/in_dialog/refusals", test_plain_with_direction_refusals);
  g_test_add_func("/sdp/in_dialog/answer_direction", test_answer_direction_follows_rfc3264);
  return g_test_run();
}
