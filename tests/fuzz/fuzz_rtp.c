/* fuzz_rtp: libFuzzer target for media/rtp.c, which reads every datagram a browser or a SIP
 * peer sends us before any authentication (plain RTP from the SIP side is unauthenticated).
 *
 * Each input is classified, parsed as RTP (and rewritten in a copy the way the bridge does:
 * payload type, SSRC, sequence number, timestamp) and walked as compound RTCP. Every field the
 * parser reports must lie inside the input, and a rewrite must leave the parse unchanged but
 * for the rewritten fields. Compound RTCP is also translated (rtcp_translate, as between the
 * legs) with SSRCs taken from the input: the output must fit, be valid compound RTCP that starts
 * with an SR or RR, and translate again without growing. The same bytes also reach a
 * transcoded leg's own statistics (media/rtcp_report.c): as RTP received, then as the leg's
 * RTCP; the report we then write must be valid compound RTCP whose block reads back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media/rtcp_report.h"
#include "media/rtp.h"

static void check_rtp(const uint8_t *data, size_t size) {
  rtp_header h;
  if (!rtp_parse(data, size, &h)) return;
  if (h.header_len < RTP_HEADER_MIN || h.header_len + h.payload_len > size) abort();
  uint8_t copy[2048];
  if (size > sizeof copy) return;
  memcpy(copy, data, size);
  rtp_set_payload_type(copy, (uint8_t)(h.payload_type + 1));
  rtp_set_ssrc(copy, 2058354689u);
  rtp_set_seq(copy, (uint16_t)(h.seq + 1));
  rtp_set_timestamp(copy, h.timestamp + 160);
  rtp_header again;
  if (!rtp_parse(copy, size, &again)) abort();
  if (again.marker != h.marker || again.header_len != h.header_len ||
      again.payload_len != h.payload_len || again.ssrc != 2058354689u ||
      again.payload_type != ((h.payload_type + 1) & 0x7f))
    abort();
  volatile uint8_t sink = 0;
  for (size_t i = 0; i < h.payload_len; i++) sink ^= data[h.header_len + i];
  (void)sink;
}

static void check_rtcp_translate(const uint8_t *data, size_t size) {
  uint8_t out[2048], again[2048];
  if (size > sizeof out || size < 16) return;
  uint32_t from = ((uint32_t)data[4] << 24) | ((uint32_t)data[5] << 16) | ((uint32_t)data[6] << 8) | data[7];
  rtcp_ssrc_map map = {from, 0xAAAA, from ^ 0x0F0F0F0Fu, 0xBBBB, 160, 0xFFFFFFFBu};
  /* Map blocks about the SSRC the input's first report block names, when it has one. */
  if (size >= 12) map.source_from = ((uint32_t)data[8] << 24) | ((uint32_t)data[9] << 16) |
                                    ((uint32_t)data[10] << 8) | data[11];
  if (size >= 32) map.source_from = ((uint32_t)data[28] << 24) | ((uint32_t)data[29] << 16) |
                                    ((uint32_t)data[30] << 8) | data[31];
  size_t n = rtcp_translate(data, size, out, sizeof out, &map);
  if (n == 0) return;
  if (n > size || rtcp_validate(out, n) == 0 || (out[1] != 200 && out[1] != 201)) abort();
  rtcp_ssrc_map identity = {0xAAAA, 0xAAAA, 0xBBBB, 0xBBBB, 0, 0};
  size_t m = rtcp_translate(out, n, again, sizeof again, &identity);
  if (m != n || memcmp(out, again, n) != 0) abort(); /* already mapped: a fixed point */
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void check_rtcp_report(const uint8_t *data, size_t size) {
  rtcp_leg leg;
  rtcp_leg_init(&leg, size >= 8 ? be32(data + 4) : 1, 48000, 8000);
  rtp_header h;
  int64_t now = size >= 4 ? (int64_t)be32(data) * 977 : 0;
  if (rtp_parse(data, size, &h)) {
    rtcp_leg_on_received(&leg, &h, now);
    rtcp_leg_on_sent(&leg, &h, now);
    h.seq = (uint16_t)(h.seq + 3000 + (size & 0xff)); /* jumps, wraps, late packets */
    rtcp_leg_on_received(&leg, &h, now + 20000);
  }
  rtcp_leg_on_rtcp(&leg, data, size, now + 40000, now * 3);
  uint8_t out[600];
  size_t n = rtcp_leg_write_report(&leg, "tabphone", now + 60000, now * 3 + 20000, out, sizeof out);
  if (n == 0 || rtcp_validate(out, n) != 2) abort();
  rtcp_block_view v;
  /* SSRC 0 stands for "no source yet" (rtcp_report.h): such a stream gets no block. */
  if (leg.source_ssrc != 0 && leg.received > 0 && !rtcp_find_block(out, n, leg.source_ssrc, &v))
    abort();
  (void)rtcp_find_block(data, size, leg.our_ssrc, &v);
  char line[320];
  rtcp_leg_describe(&leg, line, sizeof line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  packet_kind kind = packet_classify(data, size);
  check_rtp(data, size);
  if (rtcp_validate(data, size) > 0) {
    if (size < RTCP_HEADER_MIN) abort();
    (void)rtcp_sender_ssrc(data);
  }
  check_rtcp_translate(data, size);
  check_rtcp_report(data, size);
  if (kind == PACKET_UNKNOWN && size > 0 && data[0] >= 128 && data[0] <= 191 && size >= 2) abort();
  if (size >= 1) (void)rtp_dtmf_event_code((char)data[0]);
  return 0;
}
