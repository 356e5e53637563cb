/* fuzz_rtp: libFuzzer target for media/rtp.c, which reads every datagram a browser or a SIP
 * peer sends us before any authentication (plain RTP from the SIP side is unauthenticated).
 *
 * Each input is classified, parsed as RTP (and rewritten in a copy the way the bridge does:
 * payload type, SSRC, sequence number, timestamp) and walked as compound RTCP. Every field the
 * parser reports must lie inside the input, and a rewrite must leave the parse unchanged but
 * for the rewritten fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  packet_kind kind = packet_classify(data, size);
  check_rtp(data, size);
  if (rtcp_validate(data, size) > 0) {
    if (size < RTCP_HEADER_MIN) abort();
    (void)rtcp_sender_ssrc(data);
  }
  if (kind == PACKET_UNKNOWN && size > 0 && data[0] >= 128 && data[0] <= 191 && size >= 2) abort();
  if (size >= 1) (void)rtp_dtmf_event_code((char)data[0]);
  return 0;
}
