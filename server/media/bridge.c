/* bridge: moves packets between the browser leg (SRTP over ICE) and the SIP leg (plain RTP).
 *
 * Browser -> SIP: SRTP unprotect in the call's buffer, payload type browser_pt -> sip_pt
 * (telephone-event browser_dtmf_pt -> sip_dtmf_pt; anything else is dropped), our own SSRC,
 * and sequence numbers / timestamps that stay continuous when the browser's SSRC changes.
 * SIP -> browser: payload type sip_pt -> browser_pt, SSRC MEDIA_BROWSER_SSRC (the one in our
 * WebRTC SDP), the far end's sequence numbers and timestamps kept, SRTP protect, send over ICE.
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
 *
 * Threading: the call's worker. Packet path: no allocation, no lock. */
#include <string.h>

#include "core/log.h"
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

static void forward_to_sip(call_media *media, size_t len) {
  bridge_state *b = &media->bridge;
  rtp_header h;
  if (b->hold_send) {
    b->held_drops++;
    return;
  }
  if (!b->have_map || !rtp_parse(media->buffer, len, &h)) return;
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
  const bridge_state *b = &media->bridge;
  rtcp_ssrc_map map;
  if (media->mode == MEDIA_MODE_ECHO)
    map = (rtcp_ssrc_map){b->browser_in_ssrc, MEDIA_BROWSER_SSRC, MEDIA_BROWSER_SSRC,
                          b->browser_in_ssrc, 0, 0};
  else
    map = (rtcp_ssrc_map){b->browser_in_ssrc, b->sip_ssrc, MEDIA_BROWSER_SSRC, b->sip_in_ssrc,
                          b->ts_offset, 0};
  size_t n = rtcp_translate(media->buffer, len, media->rtcp_buffer, sizeof media->rtcp_buffer, &map);
  if (n == 0) return;
  if (media->mode == MEDIA_MODE_ECHO) send_rtcp_to_browser(media, n);
  else rtp_leg_send(media, media->rtcp_buffer, n, true);
}

/* Plain RTCP from the far end (in data): see the file comment. */
static void rtcp_from_sip(call_media *media, const uint8_t *data, size_t len) {
  const bridge_state *b = &media->bridge;
  if (!media->srtp.ready) return;
  /* Blocks about our SIP-side stream count its sequence numbers (browser seq + seq_offset). */
  rtcp_ssrc_map map = {b->sip_in_ssrc, MEDIA_BROWSER_SSRC, b->sip_ssrc, b->browser_in_ssrc, 0,
                       (uint32_t)0 - b->seq_offset};
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
  b->sip_in_ssrc = h.ssrc;
  if (!b->got_from_sip) {
    b->got_from_sip = true;
    log_info("media", media->subject, NULL, "first RTP packet from the SIP side (pt %u)",
             h.payload_type);
  }
  int pt = b->have_map ? browser_payload_type(b, h.payload_type) : -1;
  if (pt < 0 || !media->srtp.ready) return;
  if (data != media->buffer) memcpy(media->buffer, data, len);
  rtp_set_payload_type(media->buffer, (uint8_t)pt);
  rtp_set_ssrc(media->buffer, MEDIA_BROWSER_SSRC);
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
  media->bridge.map = *map;
  media->bridge.have_map = true;
  log_info("media", media->subject, NULL,
           "codec map: browser pt %d <-> SIP pt %d at %d Hz, telephone-event %d <-> %d",
           map->browser_pt, map->sip_pt, map->clock_rate, map->browser_dtmf_pt, map->sip_dtmf_pt);
}
