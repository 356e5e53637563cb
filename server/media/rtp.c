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

#define REPORT_BLOCK_LEN 24

/* SR/RR: writes the part with the blocks about map->source_from. Returns bytes written, 0 when
 * the part is dropped. part_len has been checked against the input. */
static size_t translate_report(const uint8_t *part, size_t part_len, uint8_t *out,
                               const rtcp_ssrc_map *map) {
  bool sr = part[1] == RTCP_SR;
  size_t fixed = sr ? 28 : 8; /* header + sender SSRC (+ sender info) */
  size_t blocks = part[0] & 0x1f;
  if (fixed + blocks * REPORT_BLOCK_LEN > part_len) return 0;
  if (map->sender_from == 0 || map->sender_to == 0 || read32(part + 4) != map->sender_from)
    return 0;
  memcpy(out, part, fixed);
  write32(out + 4, map->sender_to);
  if (sr) write32(out + 16, read32(part + 16) + map->sr_ts_add);
  size_t kept = 0;
  for (size_t i = 0; i < blocks; i++) {
    const uint8_t *block = part + fixed + i * REPORT_BLOCK_LEN;
    if (map->source_to == 0 || read32(block) != map->source_from) continue;
    uint8_t *o = out + fixed + kept * REPORT_BLOCK_LEN;
    memcpy(o, block, REPORT_BLOCK_LEN);
    write32(o, map->source_to);
    write32(o + 8, read32(block + 8) + map->ext_seq_add);
    kept++;
  }
  size_t n = fixed + kept * REPORT_BLOCK_LEN;
  out[0] = (uint8_t)(0x80 | kept); /* V=2, no padding */
  write16(out + 2, (uint16_t)(n / 4 - 1));
  return n;
}

/* SDES: keeps the chunk of map->sender_from. Returns bytes written, 0 when dropped. */
static size_t translate_sdes(const uint8_t *part, size_t part_len, uint8_t *out,
                             const rtcp_ssrc_map *map) {
  size_t chunks = part[0] & 0x1f, offset = 4, n = 4;
  size_t kept = 0;
  for (size_t c = 0; c < chunks; c++) {
    size_t start = offset;
    if (offset + 4 > part_len) return 0;
    offset += 4;
    for (;;) { /* items until the null item, then padding to a 32-bit boundary */
      if (offset >= part_len) return 0;
      if (part[offset] == 0) {
        offset = (offset + 4) & ~(size_t)3;
        break;
      }
      if (offset + 2 > part_len) return 0;
      offset += 2 + part[offset + 1];
    }
    if (offset > part_len) return 0;
    if (map->sender_from == 0 || map->sender_to == 0 || read32(part + start) != map->sender_from)
      continue;
    memcpy(out + n, part + start, offset - start);
    write32(out + n, map->sender_to);
    n += offset - start;
    kept++;
  }
  if (kept == 0) return 0;
  out[0] = (uint8_t)(0x80 | kept);
  out[1] = RTCP_SDES;
  write16(out + 2, (uint16_t)(n / 4 - 1));
  return n;
}

size_t rtcp_translate(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                      const rtcp_ssrc_map *map) {
  if (cap < len || rtcp_validate(in, len) == 0) return 0;
  size_t offset = 0, n = 0;
  while (offset < len) {
    const uint8_t *part = in + offset;
    size_t part_len = 4u * ((size_t)read16(part + 2) + 1);
    offset += part_len;
    size_t written = 0;
    if (part[1] == RTCP_SR || part[1] == RTCP_RR) written = translate_report(part, part_len, out + n, map);
    else if (part[1] == RTCP_SDES && n > 0) written = translate_sdes(part, part_len, out + n, map);
    n += written; /* an SDES is only kept after a kept SR/RR, so a kept packet starts with one */
  }
  return n;
}

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
