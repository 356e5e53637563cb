/* bridge: moves packets between the browser leg (SRTP over ICE) and the SIP leg (plain RTP).
 *
 * Browser -> SIP: SRTP unprotect in the call's buffer, payload type browser_pt -> sip_pt
 * (telephone-event browser_dtmf_pt -> sip_dtmf_pt; anything else is dropped), our own SSRC,
 * and sequence numbers / timestamps that stay continuous when the browser's SSRC changes.
 * SIP -> browser: payload type sip_pt -> browser_pt, SSRC MEDIA_BROWSER_SSRC (the one in our
 * WebRTC SDP), the far end's sequence numbers and timestamps kept (shifted to continue our stream
 * when the far end's SSRC changes: follow_sip_ssrc), SRTP protect, send over ICE.
 * Echo mode: the browser's RTP comes back to it with SSRC MEDIA_BROWSER_SSRC.
 * RTCP (rtcp_translate in rtp.c), so receiver/sender reports keep working on both legs:
 * - browser -> SIP: SRTCP unprotected; the browser's sender SSRC -> our SIP-side SSRC (SR RTP
 *   timestamp shifted by the same offset as its RTP), report blocks about our stream to the
 *   browser (MEDIA_BROWSER_SSRC) -> the far end's SSRC; plain RTCP to the far end's RTCP port.
 * - SIP -> browser: the far end's SSRC -> MEDIA_BROWSER_SSRC, report blocks about our SIP-side
 *   stream -> the browser's SSRC (extended sequence shifted back by our offset); SRTCP protect,
 *   over ICE.
 * - echo: the browser's own reports come back as if from MEDIA_BROWSER_SSRC, with its blocks
 *   about our stream naming its own SSRC (its RTT and loss stats then describe the loop).
 * What cannot be mapped yet (no RTP seen from that side) or has no meaning on the other leg
 * (BYE, feedback, APP, XR) is dropped. Nothing unencrypted ever goes to the browser and nothing
 * at all before DTLS has keyed SRTP.
 * Transcoding (the codec map names different codecs per leg): each direction has a transcoder
 * (codec/transcoder.h: jitter buffer, decode with concealment, re-encode per 20 ms, RTP
 * regenerated, telephone-event carried across). Its packets leave like ours: toward the browser
 * with MEDIA_BROWSER_SSRC, toward the SIP side with our SSRC and the next sequence number of
 * our SIP-side stream (shared with the tab's own DTMF, dtmf.c). RTCP is not translated then:
 * the two legs' reports describe different streams. Each leg gets reports of its own instead
 * (rtcp_report.h): every 5 s an SR about what we send it, with a report block about what it
 * sends us (loss, jitter, LSR/DLSR), so the browser's stats (and its Opus loss adaptation) and
 * the far end's see their own leg. Transcoders are created when the map arrives (not on the
 * packet path) and re-created when the far end changes codec.
 *
 * Threading: the call's worker. Packet path: no allocation, no lock. */
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "media/media_internal.h"
#include "media/rtp.h"

/* Protects the call's buffer (RTP in place) and sends it over ICE. */
static void send_to_browser(call_media *media, size_t len) {
  int n = (int)len;
  if (!srtp_leg_protect(&media->srtp, media->buffer, &n, false)) return;
  ice_leg_send(media, media->buffer, (size_t)n);
  if (!media->bridge.sent_to_browser) {
    media->bridge.sent_to_browser = true;
    log_info("media", media->subject, NULL, "first RTP packet to the browser (%d bytes)", n);
  }
}

/* Protects the translated RTCP (rtcp_buffer) and sends it over ICE. */
static void send_rtcp_to_browser(call_media *media, size_t len) {
  int n = (int)len;
  if (!srtp_leg_protect(&media->srtp, media->rtcp_buffer, &n, true)) return;
  ice_leg_send(media, media->rtcp_buffer, (size_t)n);
}

static void echo(call_media *media, size_t len) {
  rtp_header h;
  if (rtp_parse(media->buffer, len, &h)) media->bridge.browser_in_ssrc = h.ssrc;
  rtp_set_ssrc(media->buffer, MEDIA_BROWSER_SSRC);
  send_to_browser(media, len);
}

/* Maps a browser payload type to the SIP side's; -1 = drop. */
static int sip_payload_type(const bridge_state *b, uint8_t pt) {
  if (b->map.browser_pt >= 0 && pt == b->map.browser_pt) return b->map.sip_pt;
  if (b->map.browser_dtmf_pt >= 0 && pt == b->map.browser_dtmf_pt) return b->map.sip_dtmf_pt;
  return -1;
}

static int browser_payload_type(const bridge_state *b, uint8_t pt) {
  if (b->map.sip_pt >= 0 && pt == b->map.sip_pt) return b->map.browser_pt;
  if (b->map.sip_dtmf_pt >= 0 && pt == b->map.sip_dtmf_pt) return b->map.browser_dtmf_pt;
  return -1;
}

void bridge_send_to_sip(call_media *media, uint8_t *data, size_t len) {
  bridge_state *b = &media->bridge;
  rtp_header h;
  if (!rtp_parse(data, len, &h)) return;
  b->last_sip_seq = h.seq;
  b->last_sip_ts = h.timestamp;
  b->last_sip_send_us = g_get_monotonic_time();
  if (b->to_sip) rtcp_leg_on_sent(&b->sip_rtcp, &h, b->last_sip_send_us);
  rtp_leg_send(media, data, len, false);
  if (!b->sent_to_sip) {
    b->sent_to_sip = true;
    log_info("media", media->subject, NULL, "first RTP packet to the SIP side (pt %u)",
             h.payload_type);
  }
}

/* A new browser SSRC: continue our SIP-side stream where it was. */
static void follow_browser_ssrc(bridge_state *b, const rtp_header *h) {
  if (b->browser_in_ssrc == 0) {
    b->seq_offset = (uint16_t)(b->last_sip_seq + 1 - h->seq);
    b->ts_offset = b->last_sip_ts - h->timestamp;
  } else {
    uint32_t step = b->map.clock_rate > 0 ? (uint32_t)b->map.clock_rate / 50 : 160;
    b->seq_offset = (uint16_t)(b->last_sip_seq + 1 - h->seq);
    b->ts_offset = b->last_sip_ts + step - h->timestamp;
  }
  b->browser_in_ssrc = h->ssrc;
}

/* The first packet after a hold: the browser kept counting while we dropped its packets, so
 * our stream continues with the next sequence number (a receiver sees no loss) and a timestamp
 * advanced by the wall-clock length of the hold (its playout stays in step), marker set as
 * after silence suppression (RFC 3551 4.1). */
static void resync_after_hold(call_media *media, const rtp_header *h) {
  bridge_state *b = &media->bridge;
  uint32_t rate = b->map.clock_rate > 0 ? (uint32_t)b->map.clock_rate : 8000;
  gint64 elapsed_us = b->sent_to_sip ? g_get_monotonic_time() - b->last_sip_send_us : 0;
  b->seq_offset = (uint16_t)(b->last_sip_seq + 1 - h->seq);
  b->ts_offset = b->last_sip_ts + (uint32_t)(elapsed_us * rate / 1000000) - h->timestamp;
  b->browser_in_ssrc = h->ssrc;
  b->resync = false;
  media->buffer[1] |= 0x80; /* marker: the start of a talkspurt */
}

/* ---- transcoding ---- */

static transcoder_input input_of(const uint8_t *data, const rtp_header *h) {
  return (transcoder_input){.pt = h->payload_type, .marker = h->marker, .seq = h->seq,
                            .ts = h->timestamp, .ssrc = h->ssrc, .payload = data + h->header_len,
                            .len = h->payload_len};
}

/* A transcoded frame (or carried event) for the SIP side, in the transcoder's buffer. */
static void transcoded_to_sip(void *user_data, uint8_t *data, size_t len) {
  call_media *media = user_data;
  if (media->dtmf.active) return; /* the tab's own event is playing */
  rtp_set_seq(data, (uint16_t)(media->bridge.last_sip_seq + 1));
  bridge_send_to_sip(media, data, len);
}

static void send_to_browser(call_media *media, size_t len);

static void transcoded_to_browser(void *user_data, uint8_t *data, size_t len) {
  call_media *media = user_data;
  rtp_header h;
  if (len > MEDIA_PACKET_MAX || !rtp_parse(data, len, &h)) return;
  rtcp_leg_on_sent(&media->bridge.browser_rtcp, &h, g_get_monotonic_time());
  memcpy(media->buffer, data, len);
  send_to_browser(media, len);
}

static void transcode_push(transcoder *t, const uint8_t *data, const rtp_header *h) {
  transcoder_input in = input_of(data, h);
  int frames = transcoder_push(t, &in);
  if (frames > 0) metrics_count(METRIC_TRANSCODED_FRAMES, (uint64_t)frames);
}

static bool same_codecs(const media_codec_map *a, const media_codec_map *b) {
  return strcmp(a->browser_codec, b->browser_codec) == 0 &&
         strcmp(a->sip_codec, b->sip_codec) == 0 && a->browser_pt == b->browser_pt &&
         a->sip_pt == b->sip_pt && a->browser_dtmf_pt == b->browser_dtmf_pt &&
         a->sip_dtmf_pt == b->sip_dtmf_pt && a->opus_complexity == b->opus_complexity &&
         a->opus_dtx == b->opus_dtx;
}

static void transcoders_free(bridge_state *b) {
  transcoder_free(b->to_sip);
  transcoder_free(b->to_browser);
  b->to_sip = b->to_browser = NULL;
}

/* One line per direction when a transcoded call (or codec) ends: what the operator needs to
 * judge a leg's loss ("concealed") and the far side's reordering ("late"). */
static void log_transcoder(call_media *media, const char *toward, const transcoder *t) {
  transcoder_stats st;
  if (!t) return;
  transcoder_get_stats(t, &st);
  log_info("media", media->subject, NULL,
           "transcoded to the %s: %u frames, %u concealed (%u from Opus FEC), %u late, %u "
           "telephone-events", toward, st.frames, st.concealed, st.fec, st.late, st.events);
}

/* What each leg's RTCP said over a transcoded call (passthrough calls' reports go end to end). */
static void log_rtcp(call_media *media, const char *leg_name, const rtcp_leg *leg) {
  char line[320];
  rtcp_leg_describe(leg, line, sizeof line);
  log_info("media", media->subject, NULL, "RTCP with the %s: %s", leg_name, line);
}

void bridge_stop(call_media *media) {
  log_transcoder(media, "SIP side", media->bridge.to_sip);
  log_transcoder(media, "browser", media->bridge.to_browser);
  if (media->bridge.to_sip) {
    log_rtcp(media, "browser", &media->bridge.browser_rtcp);
    if (media->mode == MEDIA_MODE_BRIDGE) log_rtcp(media, "SIP side", &media->bridge.sip_rtcp);
  }
  transcoders_free(&media->bridge);
}

/* Both directions for map (whose codecs differ). On failure the call stays without audio and
 * the log says why. */
static void transcoders_create(call_media *media, const media_codec_map *map) {
  bridge_state *b = &media->bridge;
  transcoder_leg browser = {audio_codec_named(map->browser_codec), map->browser_pt,
                            map->browser_dtmf_pt};
  transcoder_leg sip = {audio_codec_named(map->sip_codec), map->sip_pt, map->sip_dtmf_pt};
  audio_encoder_options opus = {.complexity = map->opus_complexity, .fec = true,
                                .dtx = map->opus_dtx};
  transcoder_config to_sip = {.in = browser, .out = sip, .ssrc = b->sip_ssrc,
                              .first_seq = (uint16_t)(b->last_sip_seq + 1),
                              .first_ts = b->last_sip_ts, .opus = opus};
  transcoder_config to_browser = {.in = sip, .out = browser, .ssrc = MEDIA_BROWSER_SSRC,
                                  .first_seq = (uint16_t)g_random_int(),
                                  .first_ts = g_random_int(), .opus = opus};
  char err[128] = "";
  uint32_t browser_clock = (uint32_t)audio_codec_rtp_clock(browser.codec);
  uint32_t sip_clock = (uint32_t)audio_codec_rtp_clock(sip.codec);
  if (!b->rtcp_legs_started) {
    rtcp_leg_init(&b->browser_rtcp, MEDIA_BROWSER_SSRC, browser_clock, browser_clock);
    rtcp_leg_init(&b->sip_rtcp, b->sip_ssrc, sip_clock, sip_clock);
    b->rtcp_legs_started = true;
  }
  b->browser_rtcp.send_clock = b->browser_rtcp.receive_clock = browser_clock;
  b->sip_rtcp.send_clock = b->sip_rtcp.receive_clock = sip_clock;
  b->to_sip = transcoder_new(&to_sip, transcoded_to_sip, media, err, sizeof err);
  if (b->to_sip)
    b->to_browser = transcoder_new(&to_browser, transcoded_to_browser, media, err, sizeof err);
  if (!b->to_browser) {
    transcoders_free(b);
    log_info("media", media->subject, NULL, "cannot transcode %s <-> %s: %s",
             map->browser_codec, map->sip_codec, err);
  }
}

static bool transcoding(const media_codec_map *map) {
  return map->browser_codec[0] && map->sip_codec[0] &&
         strcmp(map->browser_codec, map->sip_codec) != 0;
}

static void forward_to_sip(call_media *media, size_t len) {
  bridge_state *b = &media->bridge;
  rtp_header h;
  if (b->hold_send) {
    b->held_drops++;
    return;
  }
  if (!b->have_map || !rtp_parse(media->buffer, len, &h)) return;
  if (b->to_sip) {
    b->browser_in_ssrc = h.ssrc;
    rtcp_leg_on_received(&b->browser_rtcp, &h, g_get_monotonic_time());
    transcode_push(b->to_sip, media->buffer, &h);
    return;
  }
  int pt = sip_payload_type(b, h.payload_type);
  if (pt < 0) return;
  if (media->dtmf.active && pt != b->map.sip_dtmf_pt) return; /* our own event is playing */
  if (b->resync) resync_after_hold(media, &h);
  else if (h.ssrc != b->browser_in_ssrc) follow_browser_ssrc(b, &h);
  rtp_set_payload_type(media->buffer, (uint8_t)pt);
  rtp_set_ssrc(media->buffer, b->sip_ssrc);
  rtp_set_seq(media->buffer, (uint16_t)(h.seq + b->seq_offset));
  rtp_set_timestamp(media->buffer, h.timestamp + b->ts_offset);
  bridge_send_to_sip(media, media->buffer, len);
}

/* The browser's (already unprotected) RTCP in media->buffer: see the file comment. */
static void rtcp_from_browser(call_media *media, size_t len) {
  bridge_state *b = &media->bridge;
  rtcp_ssrc_map map;
  if (b->to_sip) { /* transcoding: its reports are about our leg only */
    rtcp_leg_on_rtcp(&b->browser_rtcp, media->buffer, len, g_get_monotonic_time(),
                     g_get_real_time());
    return;
  }
  if (media->mode == MEDIA_MODE_ECHO)
    map = (rtcp_ssrc_map){b->browser_in_ssrc, MEDIA_BROWSER_SSRC, MEDIA_BROWSER_SSRC,
                          b->browser_in_ssrc, 0, 0};
  else
    map = (rtcp_ssrc_map){b->browser_in_ssrc, b->sip_ssrc, MEDIA_BROWSER_SSRC, b->sip_in_ssrc,
                          b->ts_offset, (uint32_t)0 - b->browser_seq_offset};
  size_t n = rtcp_translate(media->buffer, len, media->rtcp_buffer, sizeof media->rtcp_buffer, &map);
  if (n == 0) return;
  if (media->mode == MEDIA_MODE_ECHO) send_rtcp_to_browser(media, n);
  else rtp_leg_send(media, media->rtcp_buffer, n, true);
}

/* Plain RTCP from the far end (in data): see the file comment. */
static void rtcp_from_sip(call_media *media, const uint8_t *data, size_t len) {
  bridge_state *b = &media->bridge;
  if (b->to_browser) { /* transcoding: its reports are about our leg only */
    rtcp_leg_on_rtcp(&b->sip_rtcp, data, len, g_get_monotonic_time(), g_get_real_time());
    return;
  }
  if (!media->srtp.ready) return;
  /* Blocks about our SIP-side stream count its sequence numbers (browser seq + seq_offset). */
  rtcp_ssrc_map map = {b->sip_in_ssrc, MEDIA_BROWSER_SSRC, b->sip_ssrc, b->browser_in_ssrc,
                       b->browser_ts_offset, (uint32_t)0 - b->seq_offset};
  size_t n = rtcp_translate(data, len, media->rtcp_buffer, sizeof media->rtcp_buffer, &map);
  if (n > 0) send_rtcp_to_browser(media, n);
}

void bridge_from_browser(call_media *media, const uint8_t *data, size_t len, bool rtcp) {
  if (!media->srtp.ready || len > MEDIA_PACKET_MAX) return;
  memcpy(media->buffer, data, len);
  int n = (int)len;
  if (!srtp_leg_unprotect(&media->srtp, media->buffer, &n, rtcp)) return;
  media->last_browser_rx_us = g_get_monotonic_time();
  if (rtcp) {
    rtcp_from_browser(media, (size_t)n);
    return;
  }
  if (!media->bridge.got_from_browser) {
    media->bridge.got_from_browser = true;
    log_info("media", media->subject, NULL, "first RTP packet from the browser (%d bytes)", n);
  }
  if (media->mode == MEDIA_MODE_ECHO) echo(media, (size_t)n);
  else forward_to_sip(media, (size_t)n);
}

/* The far end's SSRC changed (a new source after a 183, a 200 or a re-INVITE: its sequence and
 * timestamps start anew): the browser keeps one stream under MEDIA_BROWSER_SSRC, which must not
 * jump back (Chromium's jitter buffer would drop it as old), so it continues where it was. */
static void follow_sip_ssrc(bridge_state *b, const rtp_header *h) {
  uint32_t step = b->map.clock_rate > 0 ? (uint32_t)b->map.clock_rate / 50 : 160;
  b->browser_seq_offset = (uint16_t)(b->last_browser_seq + 1 - h->seq);
  b->browser_ts_offset = b->last_browser_ts + step - h->timestamp;
}

void bridge_from_sip(call_media *media, const uint8_t *data, size_t len, bool rtcp) {
  bridge_state *b = &media->bridge;
  media->last_sip_rx_us = g_get_monotonic_time();
  if (rtcp) {
    rtcp_from_sip(media, data, len);
    return;
  }
  if (packet_classify(data, len) != PACKET_RTP) return;
  rtp_header h;
  if (!rtp_parse(data, len, &h)) return;
  bool new_source = b->got_from_sip && h.ssrc != b->sip_in_ssrc;
  b->sip_in_ssrc = h.ssrc;
  if (new_source && b->sent_to_browser) follow_sip_ssrc(b, &h);
  if (!b->got_from_sip) {
    b->got_from_sip = true;
    log_info("media", media->subject, NULL, "first RTP packet from the SIP side (pt %u)",
             h.payload_type);
  }
  if (b->to_browser) {
    rtcp_leg_on_received(&b->sip_rtcp, &h, media->last_sip_rx_us);
    if (media->srtp.ready) transcode_push(b->to_browser, data, &h);
    return;
  }
  int pt = b->have_map ? browser_payload_type(b, h.payload_type) : -1;
  if (pt < 0 || !media->srtp.ready) return;
  if (data != media->buffer) memcpy(media->buffer, data, len);
  rtp_set_payload_type(media->buffer, (uint8_t)pt);
  rtp_set_ssrc(media->buffer, MEDIA_BROWSER_SSRC);
  b->last_browser_seq = (uint16_t)(h.seq + b->browser_seq_offset);
  b->last_browser_ts = h.timestamp + b->browser_ts_offset;
  rtp_set_seq(media->buffer, b->last_browser_seq);
  rtp_set_timestamp(media->buffer, b->last_browser_ts);
  if (new_source) media->buffer[1] |= 0x80; /* marker: a new talkspurt */
  send_to_browser(media, len);
}

void bridge_set_hold(call_media *media, bool held) {
  bridge_state *b = &media->bridge;
  b->hold_send = held;
  if (held) {
    b->held_drops = 0;
    return;
  }
  b->resync = true;
  log_info("media", media->subject, NULL, "%u packets from the browser held back during the hold",
           b->held_drops);
}

void bridge_set_codec_map(call_media *media, const media_codec_map *map) {
  bridge_state *b = &media->bridge;
  bool keep = b->have_map && b->to_sip && same_codecs(&b->map, map);
  b->map = *map;
  b->have_map = true;
  if (!keep) bridge_stop(media);
  if (!keep && transcoding(map)) transcoders_create(media, map);
  log_info("media", media->subject, NULL,
           "codec map: browser pt %d <-> SIP pt %d at %d Hz, telephone-event %d <-> %d%s%s%s%s",
           map->browser_pt, map->sip_pt, map->clock_rate, map->browser_dtmf_pt, map->sip_dtmf_pt,
           b->to_sip ? ", transcoding " : "", b->to_sip ? map->browser_codec : "",
           b->to_sip ? " <-> " : "", b->to_sip ? map->sip_codec : "");
}

/* Our own reports on a transcoded call's legs (see the file comment). Wall clock for the SRs'
 * NTP timestamps; both go out through the call's rtcp_buffer. */
void bridge_tick(call_media *media, gint64 now_us) {
  bridge_state *b = &media->bridge;
  if (!b->to_sip || !media->srtp.ready) return;
  static const char cname[] = "tabphone"; /* as in our WebRTC SDP (a=ssrc ... cname) */
  if (rtcp_leg_report_due(&b->browser_rtcp, now_us)) {
    size_t n = rtcp_leg_write_report(&b->browser_rtcp, cname, now_us, g_get_real_time(),
                                     media->rtcp_buffer, MEDIA_PACKET_MAX);
    if (n > 0) send_rtcp_to_browser(media, n);
  }
  if (media->mode == MEDIA_MODE_BRIDGE && rtcp_leg_report_due(&b->sip_rtcp, now_us)) {
    size_t n = rtcp_leg_write_report(&b->sip_rtcp, cname, now_us, g_get_real_time(),
                                     media->rtcp_buffer, MEDIA_PACKET_MAX);
    if (n > 0) rtp_leg_send(media, media->rtcp_buffer, n, true);
  }
}
