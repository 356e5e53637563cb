/* rtp: RTP/RTCP header parsing and rewriting, flow demultiplexing and RFC 4733 packets.
 * See rtp.h. Everything here reads only within [data, data + len). */
#include "media/rtp.h"

#include <string.h>

static uint16_t read16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

static uint32_t read32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void write16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static void write32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* RFC 7983 ranges for the first byte; RFC 5761 section 4 for RTP vs RTCP. */
packet_kind packet_classify(const uint8_t *data, size_t len) {
  if (len == 0) return PACKET_UNKNOWN;
  uint8_t b = data[0];
  if (b <= 3) return PACKET_STUN;
  if (b >= 20 && b <= 63) return PACKET_DTLS;
  if (b >= 128 && b <= 191) {
    if (len < 2) return PACKET_UNKNOWN;
    return (data[1] >= 192 && data[1] <= 223) ? PACKET_RTCP : PACKET_RTP;
  }
  return PACKET_UNKNOWN;
}

bool rtp_parse(const uint8_t *data, size_t len, rtp_header *out) {
  if (len < RTP_HEADER_MIN || (data[0] >> 6) != 2) return false;
  size_t header_len = RTP_HEADER_MIN + 4u * (data[0] & 0x0f);
  if (header_len > len) return false;
  if (data[0] & 0x10) { /* header extension: 16-bit profile, 16-bit length in words */
    if (header_len + 4 > len) return false;
    header_len += 4 + 4u * read16(data + header_len + 2);
    if (header_len > len) return false;
  }
  size_t padding = 0;
  if (data[0] & 0x20) {
    padding = data[len - 1];
    if (padding == 0 || header_len + padding > len) return false;
  }
  out->marker = (data[1] & 0x80) != 0;
  out->payload_type = data[1] & 0x7f;
  out->seq = read16(data + 2);
  out->timestamp = read32(data + 4);
  out->ssrc = read32(data + 8);
  out->header_len = header_len;
  out->payload_len = len - header_len - padding;
  return true;
}

void rtp_set_payload_type(uint8_t *data, uint8_t payload_type) {
  data[1] = (uint8_t)((data[1] & 0x80) | (payload_type & 0x7f));
}

void rtp_set_seq(uint8_t *data, uint16_t seq) { write16(data + 2, seq); }
void rtp_set_timestamp(uint8_t *data, uint32_t timestamp) { write32(data + 4, timestamp); }
void rtp_set_ssrc(uint8_t *data, uint32_t ssrc) { write32(data + 8, ssrc); }

size_t rtcp_validate(const uint8_t *data, size_t len) {
  size_t parts = 0, offset = 0;
  while (offset < len) {
    if (len - offset < 4 || (data[offset] >> 6) != 2) return 0;
    size_t part_len = 4u * ((size_t)read16(data + offset + 2) + 1);
    if (part_len > len - offset) return 0;
    offset += part_len;
    parts++;
  }
  if (parts == 0 || len < RTCP_HEADER_MIN) return 0;
  return parts;
}

uint32_t rtcp_sender_ssrc(const uint8_t *data) { return read32(data + 4); }

int rtp_dtmf_event_code(char digit) {
  if (digit >= '0' && digit <= '9') return digit - '0';
  if (digit == '*') return 10;
  if (digit == '#') return 11;
  if (digit >= 'A' && digit <= 'D') return 12 + (digit - 'A');
  if (digit >= 'a' && digit <= 'd') return 12 + (digit - 'a');
  return -1;
}

size_t rtp_build_dtmf(const rtp_dtmf_packet *packet, uint8_t *out, size_t cap) {
  if (cap < RTP_DTMF_PACKET_LEN) return 0;
  out[0] = 0x80; /* version 2, no padding, no extension, no CSRC */
  out[1] = (uint8_t)((packet->marker ? 0x80 : 0) | (packet->payload_type & 0x7f));
  write16(out + 2, packet->seq);
  write32(out + 4, packet->timestamp);
  write32(out + 8, packet->ssrc);
  out[12] = packet->event;
  out[13] = (uint8_t)((packet->end ? 0x80 : 0) | (packet->volume & 0x3f));
  write16(out + 14, packet->duration);
  return RTP_DTMF_PACKET_LEN;
}
