/* print: writes the two SDP dialects tabphone speaks, always with CRLF line ends.
 *
 * Plain SDP for the SIP leg: one audio m-line on RTP/AVP at our media address, RTCP on the next
 * port, ptime 20. WebRTC SDP for the browser leg: UDP/TLS/RTP/SAVPF on the discard port 9 with
 * c=0.0.0.0 (candidates trickle separately, so the SDP never waits for ICE gathering), our ICE
 * credentials and DTLS fingerprint, rtcp-mux, and one a=ssrc with cname so the browser accepts
 * the stream; no a=rtcp-fb (we do not answer NACK/PLI/transport-cc feedback).
 *
 * Everything printed from our own configuration (addresses, ICE credentials, fingerprint) is
 * checked first so that no caller can inject a line; values copied from a peer's SDP (fmtp,
 * mid) were single parsed lines and cannot hold a line break. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdp/sdp_internal.h"

void sdp_set_err(char *err, size_t err_len, const char *fmt, ...) {
  if (err == NULL || err_len == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
}

/* ---- text ---- */

void text_add(sdp_text *text, const char *fmt, ...) {
  if (text->failed) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = text->cap - text->len;
    int n = vsnprintf(text->buf ? text->buf + text->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0) break;
    if ((size_t)n < room) {
      text->len += (size_t)n;
      return;
    }
    size_t cap = text->cap ? text->cap * 2 : 2048;
    while (cap < text->len + (size_t)n + 1) cap *= 2;
    char *grown = realloc(text->buf, cap);
    if (grown == NULL) break;
    text->buf = grown;
    text->cap = cap;
  }
  text->failed = true;
}

bool text_finish(sdp_text *text, char **out, char *err, size_t err_len) {
  if (text->failed || text->buf == NULL) {
    free(text->buf);
    *text = (sdp_text){0};
    sdp_set_err(err, err_len, "out of memory writing SDP");
    return false;
  }
  *out = text->buf;
  *text = (sdp_text){0};
  return true;
}

bool out_audio_add(out_audio *audio, const sdp_codec *codec) {
  if (audio->count == SDP_MAX_CODECS) return false;
  audio->codecs[audio->count++] = *codec;
  return true;
}

/* ---- checks of our own side ---- */

/* A token we may print: non-empty, bounded, visible ASCII without spaces. */
static bool token_ok(const char *s, size_t max) {
  if (s == NULL || s[0] == '\0') return false;
  size_t n = 0;
  for (; s[n]; n++)
    if (s[n] <= ' ' || s[n] >= 127 || n >= max) return false;
  return true;
}

static bool address_ok(const char *s) {
  if (!token_ok(s, 63)) return false;
  for (const char *p = s; *p; p++)
    if (!strchr("0123456789abcdefABCDEF.:-", *p) && !(*p >= 'g' && *p <= 'z') &&
        !(*p >= 'G' && *p <= 'Z'))
      return false;
  return true;
}

bool plain_local_valid(const sdp_plain_local *local, char *err, size_t err_len) {
  if (local == NULL || !address_ok(local->address)) {
    sdp_set_err(err, err_len, "our SIP media address is missing or malformed");
    return false;
  }
  if (local->rtp_port <= 0 || local->rtp_port > 65534) {
    sdp_set_err(err, err_len, "our RTP port %d is out of range", local ? local->rtp_port : 0);
    return false;
  }
  return true;
}

bool webrtc_local_valid(const sdp_webrtc_local *local, char *err, size_t err_len) {
  const char *bad = NULL;
  if (local == NULL) bad = "all";
  else if (!token_ok(local->ice_ufrag, 63)) bad = "ICE ufrag";
  else if (!token_ok(local->ice_pwd, 127)) bad = "ICE password";
  else if (!token_ok(local->fingerprint, 199)) bad = "DTLS fingerprint";
  else if (!token_ok(local->setup, 11)) bad = "DTLS setup role";
  if (bad) sdp_set_err(err, err_len, "our WebRTC parameters are incomplete (%s)", bad);
  return bad == NULL;
}

/* ---- pieces ---- */

static const char *ip_version(const char *address) {
  return strchr(address, ':') ? "IP6" : "IP4";
}

static void print_codec_lines(sdp_text *text, const out_audio *audio) {
  for (size_t i = 0; i < audio->count; i++) {
    const sdp_codec *c = &audio->codecs[i];
    if (c->channels > 1)
      text_add(text, "a=rtpmap:%d %s/%d/%d\r\n", c->pt, c->name, c->clock_rate, c->channels);
    else
      text_add(text, "a=rtpmap:%d %s/%d\r\n", c->pt, c->name, c->clock_rate);
    if (c->fmtp[0]) text_add(text, "a=fmtp:%d %s\r\n", c->pt, c->fmtp);
  }
}

static void print_pt_list(sdp_text *text, const out_audio *audio) {
  for (size_t i = 0; i < audio->count; i++) text_add(text, " %d", audio->codecs[i].pt);
  text_add(text, "\r\n");
}

/* ---- plain ---- */

void print_plain(sdp_text *text, const sdp_plain_local *local, const out_audio *audio) {
  const char *ip = ip_version(local->address);
  text_add(text, "v=0\r\no=tabphone %llu %llu IN %s %s\r\ns=tabphone\r\n", local->session_id,
           local->session_version, ip, local->address);
  text_add(text, "c=IN %s %s\r\nt=0 0\r\n", ip, local->address);
  text_add(text, "m=audio %d RTP/AVP", local->rtp_port);
  print_pt_list(text, audio);
  print_codec_lines(text, audio);
  text_add(text, "a=rtcp:%d\r\na=ptime:20\r\na=%s\r\n", local->rtp_port + 1, audio->direction);
}

/* ---- WebRTC ---- */

void print_webrtc_session(sdp_text *text, const sdp_webrtc_local *local, const char *bundle_mids) {
  text_add(text, "v=0\r\no=tabphone %llu %llu IN IP4 0.0.0.0\r\ns=tabphone\r\nt=0 0\r\n",
           local->session_id, local->session_version);
  if (bundle_mids && bundle_mids[0]) text_add(text, "a=group:BUNDLE %s\r\n", bundle_mids);
  text_add(text, "a=msid-semantic: WMS *\r\n");
}

void print_webrtc_audio(sdp_text *text, const sdp_webrtc_local *local, const char *mid,
                        const out_audio *audio) {
  text_add(text, "m=audio 9 UDP/TLS/RTP/SAVPF");
  print_pt_list(text, audio);
  text_add(text, "c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n");
  text_add(text, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\na=ice-options:trickle\r\n", local->ice_ufrag,
           local->ice_pwd);
  text_add(text, "a=fingerprint:sha-256 %s\r\na=setup:%s\r\n", local->fingerprint, local->setup);
  text_add(text, "a=mid:%s\r\na=%s\r\na=rtcp-mux\r\n", mid, audio->direction);
  print_codec_lines(text, audio);
  text_add(text, "a=ssrc:%u cname:tabphone\r\n", (unsigned)SDP_OUR_SSRC);
}

/* The format a rejected m-line repeats: an m-line must list at least one. */
static void print_rejected_format(sdp_text *text, const sdp_media *offered) {
  if (offered->codec_count > 0) text_add(text, " %d", offered->codecs[0].pt);
  /* Any proto naming RTP has payload-type formats (parse.c reads them so): found by fuzz_sdp,
   * "UDP/DTLS/SCTP...RTP/AVPF" got a webrtc-datachannel format we could not parse back. */
  else if (strstr(offered->proto, "RTP")) text_add(text, " 0");
  else if (strstr(offered->proto, "SCTP") && strncmp(offered->proto, "DTLS", 4) == 0)
    text_add(text, " 5000"); /* the pre-2017 data channel syntax */
  else if (strstr(offered->proto, "SCTP")) text_add(text, " webrtc-datachannel");
  else text_add(text, " 0");
}

void print_webrtc_rejected(sdp_text *text, const sdp_media *offered) {
  text_add(text, "m=%s 0 %s", offered->type, offered->proto);
  print_rejected_format(text, offered);
  text_add(text, "\r\nc=IN IP4 0.0.0.0\r\na=inactive\r\n");
  if (offered->mid[0]) text_add(text, "a=mid:%s\r\n", offered->mid);
}
