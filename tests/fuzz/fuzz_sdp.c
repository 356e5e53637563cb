/* fuzz_sdp: libFuzzer target for server/sdp, which reads SDP from browsers and from SIP peers
 * we do not control.
 *
 * Each input is parsed, and a parsed result is pushed through every translation in each role it
 * could play (browser offer, SIP answer, SIP offer, browser answer), against fixed, valid
 * counterparts. Invariants checked beyond the sanitizers: a refusal always explains itself in
 * one printable line, and everything we print parses again with our own parser. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdp/sdp.h"

static const char browser_offer_text[] =
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 9 0 8 110 126\r\nc=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:F8Z2\r\na=ice-pwd:k76yHaMG+Rb0XP096t5C/BuK\r\n"
    "a=fingerprint:sha-256 BE:AE:2B:74\r\na=setup:actpass\r\na=mid:0\r\na=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\n";

static const char plain_text[] =
    "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n"
    "m=audio 10078 RTP/AVP 0 8 9 96 101\r\na=rtpmap:96 opus/48000/2\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";

static sdp_session input, browser_offer, plain, reparsed;
static char *const allowed[] = {"opus", "g722", "pcmu", "pcma", NULL};

static void check_err(const char *err) {
  if (err[0] == '\0') abort();
  for (const char *p = err; *p; p++)
    if ((unsigned char)*p < ' ' || *p == 0x7f) abort();
}

static void check_result(bool ok, char *out, const char *err) {
  if (!ok) {
    if (out != NULL) abort();
    check_err(err);
    return;
  }
  char again[256];
  if (out == NULL || !sdp_parse(out, strlen(out), &reparsed, again, sizeof again)) {
    if (out) fprintf(stderr, "fuzz_sdp: our output does not parse (%s):\n%s\n", again, out);
    abort();
  }
  sdp_session_clear(&reparsed);
  free(out);
}

static void setup_counterparts(void) {
  static bool done;
  char err[256];
  if (done) return;
  if (!sdp_parse(browser_offer_text, sizeof browser_offer_text - 1, &browser_offer, err, sizeof err) ||
      !sdp_parse(plain_text, sizeof plain_text - 1, &plain, err, sizeof err))
    abort();
  done = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  setup_counterparts();
  char err[256] = "";
  if (!sdp_parse((const char *)data, size, &input, err, sizeof err)) {
    check_err(err);
    return 0;
  }
  /* Both browser_codec modes: passthrough-or-transcode ("auto") and Opus forced. */
  sdp_browser_codec mode = size % 2 ? SDP_BROWSER_CODEC_OPUS : SDP_BROWSER_CODEC_AUTO;
  sdp_plain_local pl = {.address = "127.0.0.1", .rtp_port = 20000, .session_id = 1,
                        .session_version = 1, .browser_codec = mode};
  sdp_webrtc_local wl = {.ice_ufrag = "ufrag", .ice_pwd = "passwordpasswordpassword",
                         .fingerprint = "AA:BB", .setup = "actpass", .session_id = 1,
                         .session_version = 1, .browser_codec = mode};
  sdp_codec_choice choice;
  char *out = NULL;
  bool ok = sdp_offer_browser_to_plain(&input, allowed, &pl, &out, err, sizeof err);
  check_result(ok, out, err);
  out = NULL;
  ok = sdp_answer_plain_to_browser(&browser_offer, &input, &wl, &out, &choice, err, sizeof err);
  check_result(ok, out, err);
  out = NULL;
  ok = sdp_answer_plain_to_browser(&input, &plain, &wl, &out, &choice, err, sizeof err);
  check_result(ok, out, err);
  out = NULL;
  ok = sdp_offer_plain_to_browser(&input, allowed, &wl, &out, err, sizeof err);
  check_result(ok, out, err);
  out = NULL;
  ok = sdp_answer_browser_to_plain(&plain, &input, &pl, &out, &choice, err, sizeof err);
  check_result(ok, out, err);
  out = NULL;
  ok = sdp_answer_echo(&input, &wl, &out, &choice, err, sizeof err);
  check_result(ok, out, err);
  sdp_session_clear(&input);
  return 0;
}
