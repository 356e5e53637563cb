/* Unit tests for the codec choice of transcoded calls (sdp/translate.c with
 * [media] browser_codec): passthrough stays preferred; transcoding when the legs share no codec
 * or when the browser leg is forced to Opus. */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "sdp/sdp.h"

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

static void assert_has_line(const char *sdp, const char *line) {
  char *needle = g_strdup_printf("\r\n%s\r\n", line);
  if (strstr(sdp, needle) == NULL) g_error("missing line \"%s\" in:\n%s", line, sdp);
  g_free(needle);
}

static void assert_lacks(const char *sdp, const char *text) {
  if (strstr(sdp, text) != NULL) g_error("unexpected \"%s\" in:\n%s", text, sdp);
}

/* Chromium's audio codecs (shortened): Opus, G722, PCMU, PCMA, telephone-event at both clocks. */
static const char browser_offer[] =
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 9 0 8 110 126\r\nc=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    "a=fingerprint:sha-256 01:02:03\r\na=setup:actpass\r\na=mid:0\r\na=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\n";

static const char browser_opus_only[] =
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 110\r\nc=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    "a=fingerprint:sha-256 01:02:03\r\na=setup:actpass\r\na=mid:0\r\na=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\na=rtpmap:110 telephone-event/48000\r\n";

static const char browser_answer_opus[] =
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 110\r\nc=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    "a=fingerprint:sha-256 01:02:03\r\na=setup:active\r\na=mid:0\r\na=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\na=rtpmap:110 telephone-event/48000\r\n";

static const char sip_pcmu[] =
    "v=0\r\no=- 5 5 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
    "m=audio 30000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n";

static const char sip_g722_pcmu[] =
    "v=0\r\no=- 5 5 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
    "m=audio 30000 RTP/AVP 9 0 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n";

static const char sip_opus_pcmu[] =
    "v=0\r\no=- 5 5 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
    "m=audio 30000 RTP/AVP 96 0 101\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n";

static sdp_plain_local plain_local(sdp_browser_codec mode) {
  return (sdp_plain_local){.address = "192.0.2.10", .rtp_port = 20000, .session_id = 7,
                           .session_version = 1, .browser_codec = mode};
}

static sdp_webrtc_local webrtc_local(const char *setup, sdp_browser_codec mode) {
  return (sdp_webrtc_local){.ice_ufrag = "tbph", .ice_pwd = "tabphonepasswordpassword01",
                            .fingerprint = "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:"
                                           "BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99",
                            .setup = setup, .session_id = 9, .session_version = 1,
                            .browser_codec = mode};
}

static void test_forced_opus_offers_every_account_codec_and_transcodes_the_pcmu_answer(void) {
  sdp_session *b = parse_text(browser_offer), *sip = parse_text(sip_pcmu);
  sdp_plain_local plain = plain_local(SDP_BROWSER_CODEC_OPUS);
  char *offer = NULL, *answer = NULL, err[256];
  char *const allowed[] = {"pcmu", "g722", NULL};
  g_assert_true(sdp_offer_browser_to_plain(b, allowed, &plain, &offer, err, sizeof err));
  assert_has_line(offer, "a=rtpmap:0 PCMU/8000");
  assert_has_line(offer, "a=rtpmap:9 G722/8000");
  sdp_webrtc_local local = webrtc_local("active", SDP_BROWSER_CODEC_OPUS);
  sdp_codec_choice choice;
  g_assert_true(sdp_answer_plain_to_browser(b, sip, &local, &answer, &choice, err, sizeof err));
  assert_has_line(answer, "a=rtpmap:111 opus/48000/2");
  assert_has_line(answer, "a=rtpmap:110 telephone-event/48000");
  assert_lacks(answer, "PCMU");
  g_assert_true(choice.transcoded);
  g_assert_cmpstr(choice.name, ==, "opus");
  g_assert_cmpint(choice.clock_rate, ==, 48000);
  g_assert_cmpint(choice.browser_pt, ==, 111);
  g_assert_cmpint(choice.browser_dtmf_pt, ==, 110);
  g_assert_cmpstr(choice.sip_name, ==, "pcmu");
  g_assert_cmpint(choice.sip_clock_rate, ==, 8000);
  g_assert_cmpint(choice.sip_pt, ==, 0);
  g_assert_cmpint(choice.sip_dtmf_pt, ==, 101);
  free(offer);
  free(answer);
  free_parsed(b);
  free_parsed(sip);
}

static void test_auto_prefers_passthrough_when_the_legs_share_a_codec(void) {
  sdp_session *b = parse_text(browser_offer), *sip = parse_text(sip_g722_pcmu);
  sdp_webrtc_local local = webrtc_local("active", SDP_BROWSER_CODEC_AUTO);
  char *answer = NULL, err[256];
  sdp_codec_choice choice;
  g_assert_true(sdp_answer_plain_to_browser(b, sip, &local, &answer, &choice, err, sizeof err));
  g_assert_false(choice.transcoded);
  g_assert_cmpstr(choice.name, ==, "g722");
  g_assert_cmpstr(choice.sip_name, ==, "g722");
  assert_has_line(answer, "a=rtpmap:9 G722/8000");
  free(answer);
  free_parsed(b);
  free_parsed(sip);
}

static void test_forced_opus_stays_passthrough_when_the_far_end_answers_opus(void) {
  sdp_session *b = parse_text(browser_offer), *sip = parse_text(sip_opus_pcmu);
  sdp_webrtc_local local = webrtc_local("active", SDP_BROWSER_CODEC_OPUS);
  char *answer = NULL, err[256];
  sdp_codec_choice choice;
  g_assert_true(sdp_answer_plain_to_browser(b, sip, &local, &answer, &choice, err, sizeof err));
  g_assert_false(choice.transcoded);
  g_assert_cmpstr(choice.name, ==, "opus");
  g_assert_cmpint(choice.sip_pt, ==, 96);
  free(answer);
  free_parsed(b);
  free_parsed(sip);
}

static void test_auto_transcodes_when_there_is_no_common_codec(void) {
  sdp_session *b = parse_text(browser_opus_only), *sip = parse_text(sip_pcmu);
  sdp_plain_local plain = plain_local(SDP_BROWSER_CODEC_AUTO);
  char *offer = NULL, *answer = NULL, err[256];
  char *const allowed[] = {"pcmu", NULL};
  g_assert_true(sdp_offer_browser_to_plain(b, allowed, &plain, &offer, err, sizeof err));
  assert_has_line(offer, "m=audio 20000 RTP/AVP 0 101");
  sdp_webrtc_local local = webrtc_local("active", SDP_BROWSER_CODEC_AUTO);
  sdp_codec_choice choice;
  g_assert_true(sdp_answer_plain_to_browser(b, sip, &local, &answer, &choice, err, sizeof err));
  g_assert_true(choice.transcoded);
  g_assert_cmpstr(choice.name, ==, "opus");
  g_assert_cmpstr(choice.sip_name, ==, "pcmu");
  free(offer);
  free(answer);
  free_parsed(b);
  free_parsed(sip);
}

static void test_inbound_forced_opus_offers_opus_alone_and_answers_the_far_end_codec(void) {
  sdp_session *sip = parse_text(sip_g722_pcmu), *answer_b = parse_text(browser_answer_opus);
  sdp_webrtc_local local = webrtc_local("actpass", SDP_BROWSER_CODEC_OPUS);
  char *offer = NULL, *answer = NULL, err[256];
  char *const allowed[] = {"pcmu", "g722", NULL};
  g_assert_true(sdp_offer_plain_to_browser(sip, allowed, &local, &offer, err, sizeof err));
  assert_has_line(offer, "a=rtpmap:111 opus/48000/2");
  assert_has_line(offer, "a=rtpmap:110 telephone-event/48000");
  assert_lacks(offer, "G722");
  assert_lacks(offer, "PCMU");
  sdp_plain_local plain = plain_local(SDP_BROWSER_CODEC_OPUS);
  plain.allowed = allowed;
  sdp_codec_choice choice;
  g_assert_true(sdp_answer_browser_to_plain(sip, answer_b, &plain, &answer, &choice, err,
                                            sizeof err));
  /* The account prefers PCMU over G722: that is what the far end gets. */
  assert_has_line(answer, "m=audio 20000 RTP/AVP 0 101");
  g_assert_true(choice.transcoded);
  g_assert_cmpstr(choice.name, ==, "opus");
  g_assert_cmpint(choice.browser_dtmf_pt, ==, 110);
  g_assert_cmpstr(choice.sip_name, ==, "pcmu");
  g_assert_cmpint(choice.sip_dtmf_pt, ==, 101);
  free(offer);
  free(answer);
  free_parsed(sip);
  free_parsed(answer_b);
}

static void test_inbound_forced_opus_is_passthrough_when_the_far_end_offers_opus(void) {
  sdp_session *sip = parse_text(sip_opus_pcmu);
  sdp_webrtc_local local = webrtc_local("actpass", SDP_BROWSER_CODEC_OPUS);
  char *offer = NULL, err[256];
  g_assert_true(sdp_offer_plain_to_browser(sip, NULL, &local, &offer, err, sizeof err));
  assert_has_line(offer, "a=rtpmap:96 opus/48000/2");
  assert_lacks(offer, "PCMU");
  free(offer);
  free_parsed(sip);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/codec_sdp/outbound/forced-opus-transcodes-pcmu",
                  test_forced_opus_offers_every_account_codec_and_transcodes_the_pcmu_answer);
  g_test_add_func("/codec_sdp/outbound/auto-passthrough",
                  test_auto_prefers_passthrough_when_the_legs_share_a_codec);
  g_test_add_func("/codec_sdp/outbound/forced-opus-passthrough",
                  test_forced_opus_stays_passthrough_when_the_far_end_answers_opus);
  g_test_add_func("/codec_sdp/outbound/auto-no-common-codec",
                  test_auto_transcodes_when_there_is_no_common_codec);
  g_test_add_func("/codec_sdp/inbound/forced-opus-transcodes",
                  test_inbound_forced_opus_offers_opus_alone_and_answers_the_far_end_codec);
  g_test_add_func("/codec_sdp/inbound/forced-opus-passthrough",
                  test_inbound_forced_opus_is_passthrough_when_the_far_end_offers_opus);
  return g_test_run();
}
