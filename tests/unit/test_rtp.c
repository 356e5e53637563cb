/* Unit tests for media/rtp: demultiplexing, RTP/RTCP parsing and rewriting, RFC 4733 packets. */
#include <glib.h>
#include <string.h>

#include "media/rtp.h"

/* A 12-byte header: V=2, marker, PT 111, seq 0x1234, ts 0x01020304, SSRC 0xA1B2C3D4. */
static const uint8_t plain[] = {0x80, 0xEF, 0x12, 0x34, 0x01, 0x02, 0x03, 0x04,
                                0xA1, 0xB2, 0xC3, 0xD4, 0xAA, 0xBB, 0xCC};

static void test_first_byte_tells_stun_dtls_rtp_and_rtcp_apart(void) {
  const uint8_t stun[] = {0x00, 0x01}, dtls[] = {22, 0xfe}, rtcp[] = {0x80, 200};
  const uint8_t junk[] = {100, 0};
  g_assert_cmpint(packet_classify(stun, sizeof stun), ==, PACKET_STUN);
  g_assert_cmpint(packet_classify(dtls, sizeof dtls), ==, PACKET_DTLS);
  g_assert_cmpint(packet_classify(plain, sizeof plain), ==, PACKET_RTP);
  g_assert_cmpint(packet_classify(rtcp, sizeof rtcp), ==, PACKET_RTCP);
  g_assert_cmpint(packet_classify(junk, sizeof junk), ==, PACKET_UNKNOWN);
  g_assert_cmpint(packet_classify(plain, 0), ==, PACKET_UNKNOWN);
}

static void test_rtcp_payload_types_64_to_95_are_rtcp_with_the_marker_bit(void) {
  uint8_t p[2] = {0x80, 0};
  for (int second = 0; second < 256; second++) {
    p[1] = (uint8_t)second;
    bool rtcp = (second & 0x7f) >= 64 && (second & 0x7f) <= 95 && (second & 0x80);
    g_assert_cmpint(packet_classify(p, 2), ==, rtcp ? PACKET_RTCP : PACKET_RTP);
  }
}

static void test_parse_reads_every_field(void) {
  rtp_header h;
  g_assert_true(rtp_parse(plain, sizeof plain, &h));
  g_assert_true(h.marker);
  g_assert_cmpuint(h.payload_type, ==, 111);
  g_assert_cmpuint(h.seq, ==, 0x1234);
  g_assert_cmpuint(h.timestamp, ==, 0x01020304);
  g_assert_cmpuint(h.ssrc, ==, 0xA1B2C3D4);
  g_assert_cmpuint(h.header_len, ==, 12);
  g_assert_cmpuint(h.payload_len, ==, 3);
}

static void test_parse_skips_csrcs_and_the_extension(void) {
  uint8_t p[40] = {0x92, 0x00}; /* V=2, X=1, CC=2 */
  p[20] = 0xBE, p[21] = 0xDE, p[22] = 0x00, p[23] = 0x01; /* one extension word */
  rtp_header h;
  g_assert_true(rtp_parse(p, sizeof p, &h));
  g_assert_cmpuint(h.header_len, ==, 12 + 8 + 4 + 4);
  g_assert_cmpuint(h.payload_len, ==, 40 - 28);
}

static void test_parse_refuses_truncated_and_wrong_version(void) {
  rtp_header h;
  uint8_t p[sizeof plain];
  g_assert_false(rtp_parse(plain, 11, &h));
  memcpy(p, plain, sizeof p);
  p[0] = 0x40; /* version 1 */
  g_assert_false(rtp_parse(p, sizeof p, &h));
  p[0] = 0x8F; /* 15 CSRCs do not fit */
  g_assert_false(rtp_parse(p, sizeof p, &h));
  p[0] = 0x90; /* extension header missing */
  g_assert_false(rtp_parse(p, 14, &h));
}

static void test_padding_is_excluded_and_checked(void) {
  uint8_t p[16] = {0xA0, 0x00};
  p[15] = 2;
  rtp_header h;
  g_assert_true(rtp_parse(p, sizeof p, &h));
  g_assert_cmpuint(h.payload_len, ==, 2);
  p[15] = 0;
  g_assert_false(rtp_parse(p, sizeof p, &h));
  p[15] = 5;
  g_assert_false(rtp_parse(p, sizeof p, &h));
}

static void test_rewrites_keep_the_marker_and_the_payload(void) {
  uint8_t p[sizeof plain];
  memcpy(p, plain, sizeof p);
  rtp_set_payload_type(p, 0);
  rtp_set_seq(p, 7);
  rtp_set_timestamp(p, 0xDEADBEEF);
  rtp_set_ssrc(p, 2058354689u);
  rtp_header h;
  g_assert_true(rtp_parse(p, sizeof p, &h));
  g_assert_true(h.marker);
  g_assert_cmpuint(h.payload_type, ==, 0);
  g_assert_cmpuint(h.seq, ==, 7);
  g_assert_cmpuint(h.timestamp, ==, 0xDEADBEEF);
  g_assert_cmpuint(h.ssrc, ==, 0x7AB00001);
  g_assert_cmpmem(p + 12, 3, plain + 12, 3);
}

static void test_rtcp_compound_is_walked_part_by_part(void) {
  /* An empty RR (length 1 = 8 bytes) followed by a BYE (length 1). */
  const uint8_t compound[] = {0x80, 201, 0, 1, 1, 2, 3, 4, 0x81, 203, 0, 1, 1, 2, 3, 4};
  g_assert_cmpuint(rtcp_validate(compound, sizeof compound), ==, 2);
  g_assert_cmpuint(rtcp_sender_ssrc(compound), ==, 0x01020304);
  g_assert_cmpuint(rtcp_validate(compound, sizeof compound - 1), ==, 0);
  const uint8_t too_long[] = {0x80, 201, 0, 9, 1, 2, 3, 4};
  g_assert_cmpuint(rtcp_validate(too_long, sizeof too_long), ==, 0);
}

static void test_dtmf_digits_map_to_rfc4733_events(void) {
  const char *digits = "0123456789*#ABCDabcd";
  const int codes[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 12, 13, 14, 15};
  for (size_t i = 0; i < strlen(digits); i++)
    g_assert_cmpint(rtp_dtmf_event_code(digits[i]), ==, codes[i]);
  g_assert_cmpint(rtp_dtmf_event_code('E'), ==, -1);
  g_assert_cmpint(rtp_dtmf_event_code(' '), ==, -1);
}

static void test_dtmf_packet_layout(void) {
  rtp_dtmf_packet d = {.payload_type = 101, .marker = true, .seq = 0x0102, .timestamp = 0x0A0B0C0D,
                       .ssrc = 0x11223344, .event = 11, .end = true, .volume = 10, .duration = 800};
  uint8_t out[RTP_DTMF_PACKET_LEN];
  g_assert_cmpuint(rtp_build_dtmf(&d, out, sizeof out - 1), ==, 0);
  g_assert_cmpuint(rtp_build_dtmf(&d, out, sizeof out), ==, 16);
  const uint8_t want[] = {0x80, 0x80 | 101, 0x01, 0x02, 0x0A, 0x0B, 0x0C, 0x0D,
                          0x11, 0x22, 0x33, 0x44, 11, 0x80 | 10, 0x03, 0x20};
  g_assert_cmpmem(out, sizeof out, want, sizeof want);
  rtp_header h;
  g_assert_true(rtp_parse(out, sizeof out, &h));
  g_assert_cmpuint(h.payload_len, ==, 4);
}

/* ---- RTCP translation between the legs ---- */

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* A browser compound: SR from 0x1111 with two blocks (about 0x7AB00001 and about 0x9999), then
 * SDES with a CNAME chunk for 0x1111 and one for 0x2222, then a BYE. */
static size_t browser_compound(uint8_t *p) {
  size_t n = 0;
  p[n] = 0x82, p[n + 1] = 200, p[n + 2] = 0, p[n + 3] = 18; /* 28 + 2 * 24 = 76 bytes */
  put32(p + n + 4, 0x1111);
  put32(p + n + 8, 0xE0000000), put32(p + n + 12, 0x12345678); /* NTP */
  put32(p + n + 16, 1000);                                       /* RTP timestamp */
  put32(p + n + 20, 50), put32(p + n + 24, 8000);                /* packets, octets */
  put32(p + n + 28, 2058354689u), put32(p + n + 36, 0x00010005); /* block 1: ext seq */
  put32(p + n + 52, 0x9999), put32(p + n + 60, 0x00020006);      /* block 2 */
  n += 76;
  /* SDES: 2 chunks, each SSRC + CNAME "ab" (type 1, len 2) + null + pad = 4 + 4 + 4 = 12. */
  p[n] = 0x82, p[n + 1] = 202, p[n + 2] = 0, p[n + 3] = 6;
  put32(p + n + 4, 0x1111);
  p[n + 8] = 1, p[n + 9] = 2, p[n + 10] = 'a', p[n + 11] = 'b', p[n + 12] = 0, p[n + 13] = 0,
  p[n + 14] = 0, p[n + 15] = 0;
  put32(p + n + 16, 0x2222);
  p[n + 20] = 1, p[n + 21] = 2, p[n + 22] = 'c', p[n + 23] = 'd', p[n + 24] = 0, p[n + 25] = 0,
  p[n + 26] = 0, p[n + 27] = 0;
  n += 28;
  p[n] = 0x81, p[n + 1] = 203, p[n + 2] = 0, p[n + 3] = 1; /* BYE 0x1111 */
  put32(p + n + 4, 0x1111);
  return n + 8;
}

static void test_rtcp_translate_maps_sender_blocks_and_sdes(void) {
  uint8_t in[256], out[256];
  size_t len = browser_compound(in);
  g_assert_cmpuint(rtcp_validate(in, len), ==, 3);
  rtcp_ssrc_map map = {0x1111, 0xAAAA, 2058354689u, 0xBBBB, 500, 0};
  size_t n = rtcp_translate(in, len, out, sizeof out, &map);
  /* SR with the one block about our stream (52 bytes) + SDES with one chunk (16); BYE gone. */
  g_assert_cmpuint(n, ==, 52 + 16);
  g_assert_cmpuint(rtcp_validate(out, n), ==, 2);
  g_assert_cmphex(out[0], ==, 0x81);
  g_assert_cmpuint(out[1], ==, 200);
  g_assert_cmpuint(((size_t)out[2] << 8 | out[3]), ==, 52 / 4 - 1);
  g_assert_cmphex(get32(out + 4), ==, 0xAAAA);
  g_assert_cmphex(get32(out + 8), ==, 0xE0000000); /* NTP untouched (LSR/DLSR need it) */
  g_assert_cmpuint(get32(out + 16), ==, 1500);     /* RTP timestamp + offset */
  g_assert_cmpuint(get32(out + 20), ==, 50);
  g_assert_cmphex(get32(out + 28), ==, 0xBBBB);
  g_assert_cmphex(get32(out + 36), ==, 0x00010005);
  g_assert_cmphex(out[52], ==, 0x81);
  g_assert_cmpuint(out[53], ==, 202);
  g_assert_cmphex(get32(out + 56), ==, 0xAAAA);
  g_assert_cmpmem(out + 60, 4, ((const uint8_t[]){1, 2, 'a', 'b'}), 4);
}

static void test_rtcp_translate_shifts_the_extended_sequence(void) {
  uint8_t in[32] = {0x81, 201, 0, 7}, out[32];
  put32(in + 4, 0x5555);   /* far end */
  put32(in + 8, 0xCCCC);   /* block about our SIP-side stream */
  put32(in + 16, 0x00010003);
  rtcp_ssrc_map map = {0x5555, 2058354689u, 0xCCCC, 0x1111, 0, (uint32_t)0 - 5u};
  g_assert_cmpuint(rtcp_translate(in, sizeof in, out, sizeof out, &map), ==, 32);
  g_assert_cmpuint(out[1], ==, 201);
  g_assert_cmphex(get32(out + 4), ==, 2058354689u);
  g_assert_cmphex(get32(out + 8), ==, 0x1111);
  g_assert_cmphex(get32(out + 16), ==, 0x0000FFFE); /* 0x10003 - 5 */
}

static void test_rtcp_translate_drops_what_it_cannot_map(void) {
  uint8_t in[256], out[256];
  size_t len = browser_compound(in);
  /* Unknown sender: the SR goes, and an SDES alone is not a valid compound. */
  rtcp_ssrc_map other = {0x4242, 0xAAAA, 2058354689u, 0xBBBB, 0, 0};
  g_assert_cmpuint(rtcp_translate(in, len, out, sizeof out, &other), ==, 0);
  /* Sender not known yet (0): nothing. */
  rtcp_ssrc_map unknown = {0, 0xAAAA, 2058354689u, 0xBBBB, 0, 0};
  g_assert_cmpuint(rtcp_translate(in, len, out, sizeof out, &unknown), ==, 0);
  /* Far end's SSRC not known yet: the SR stays, with no blocks. */
  rtcp_ssrc_map no_source = {0x1111, 0xAAAA, 2058354689u, 0, 0, 0};
  size_t n = rtcp_translate(in, len, out, sizeof out, &no_source);
  g_assert_cmpuint(n, ==, 28 + 16);
  g_assert_cmphex(out[0], ==, 0x80);
  g_assert_cmpuint(rtcp_validate(out, n), ==, 2);
  /* Feedback and APP alone: dropped. */
  uint8_t fb[12] = {0x81, 205, 0, 2};
  rtcp_ssrc_map map = {0, 0, 0, 0, 0, 0};
  put32(fb + 4, 0x1111);
  map.sender_from = 0x1111, map.sender_to = 0xAAAA;
  g_assert_cmpuint(rtcp_translate(fb, sizeof fb, out, sizeof out, &map), ==, 0);
  /* Malformed: more blocks than fit, truncated SDES, output space too small. */
  uint8_t bad[8] = {0x85, 201, 0, 1};
  put32(bad + 4, 0x1111);
  g_assert_cmpuint(rtcp_translate(bad, sizeof bad, out, sizeof out, &map), ==, 0);
  g_assert_cmpuint(rtcp_translate(in, len, out, len - 1, &map), ==, 0);
  uint8_t sdes[20] = {0x80, 201, 0, 1, 0, 0, 0x11, 0x11, 0x81, 202, 0, 2, 0, 0, 0x11, 0x11, 1, 9, 'x', 'y'};
  n = rtcp_translate(sdes, 20, out, sizeof out, &map);
  g_assert_cmpuint(n, ==, 8); /* the RR stays, the SDES whose item overruns goes */
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/rtp/demux/first-byte", test_first_byte_tells_stun_dtls_rtp_and_rtcp_apart);
  g_test_add_func("/rtp/demux/rtcp-range", test_rtcp_payload_types_64_to_95_are_rtcp_with_the_marker_bit);
  g_test_add_func("/rtp/parse/fields", test_parse_reads_every_field);
  g_test_add_func("/rtp/parse/csrc-extension", test_parse_skips_csrcs_and_the_extension);
  g_test_add_func("/rtp/parse/malformed", test_parse_refuses_truncated_and_wrong_version);
  g_test_add_func("/rtp/parse/padding", test_padding_is_excluded_and_checked);
  g_test_add_func("/rtp/rewrite", test_rewrites_keep_the_marker_and_the_payload);
  g_test_add_func("/rtp/rtcp/compound", test_rtcp_compound_is_walked_part_by_part);
  g_test_add_func("/rtp/rtcp/translate", test_rtcp_translate_maps_sender_blocks_and_sdes);
  g_test_add_func("/rtp/rtcp/translate-seq", test_rtcp_translate_shifts_the_extended_sequence);
  g_test_add_func("/rtp/rtcp/translate-drops", test_rtcp_translate_drops_what_it_cannot_map);
  g_test_add_func("/rtp/dtmf/codes", test_dtmf_digits_map_to_rfc4733_events);
  g_test_add_func("/rtp/dtmf/packet", test_dtmf_packet_layout);
  return g_test_run();
}
