/* rtp: pure helpers for RTP/RTCP headers (RFC 3550), the demultiplexing of one UDP flow that
 * carries STUN, DTLS, RTP and RTCP together (RFC 7983, RFC 5761), and RFC 4733 telephone-event
 * packets. No I/O and no allocation: every function works on a caller's buffer, so the packet
 * path and the fuzzer can call them freely.
 *
 * Thread-safety: none needed (no state). */
#ifndef TABPHONE_MEDIA_RTP_H
#define TABPHONE_MEDIA_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RTP_HEADER_MIN 12
#define RTCP_HEADER_MIN 8

/* What the first byte (and, for RTP/RTCP, the second) of a datagram says it is. */
typedef enum {
  PACKET_UNKNOWN = 0,
  PACKET_STUN, /* 0..3 */
  PACKET_DTLS, /* 20..63 */
  PACKET_RTP,  /* 128..191 with a payload type outside 64..95 */
  PACKET_RTCP, /* 128..191 with a second byte in 192..223 (RTCP packet types 192-223) */
} packet_kind;

packet_kind packet_classify(const uint8_t *data, size_t len);

/* The parts of an RTP header the bridge needs. payload/payload_len exclude padding. */
typedef struct rtp_header {
  bool marker;
  uint8_t payload_type;
  uint16_t seq;
  uint32_t timestamp;
  uint32_t ssrc;
  size_t header_len; /* fixed header + CSRCs + extension */
  size_t payload_len;
} rtp_header;

/* Validates version, CSRC count, extension and padding against len. false = malformed. */
bool rtp_parse(const uint8_t *data, size_t len, rtp_header *out);

/* In-place rewrites of a packet that rtp_parse accepted (the marker bit is kept). */
void rtp_set_payload_type(uint8_t *data, uint8_t payload_type);
void rtp_set_seq(uint8_t *data, uint16_t seq);
void rtp_set_timestamp(uint8_t *data, uint32_t timestamp);
void rtp_set_ssrc(uint8_t *data, uint32_t ssrc);

/* Walks a compound RTCP packet: every part has version 2 and fits. Returns the number of
 * parts, 0 when malformed. */
size_t rtcp_validate(const uint8_t *data, size_t len);
/* The sender SSRC of the first RTCP part (bytes 4..7). Call after rtcp_validate. */
uint32_t rtcp_sender_ssrc(const uint8_t *data);

/* RTCP between the legs: what each SSRC becomes. A 0 means "not known yet": whatever would map
 * from or to it is dropped. */
typedef struct rtcp_ssrc_map {
  uint32_t sender_from, sender_to; /* the reporter: SR/RR sender SSRC and its SDES chunk */
  uint32_t source_from, source_to; /* report blocks: the stream reported on */
  uint32_t sr_ts_add;              /* added to the SR's RTP timestamp (our timestamp offset) */
  uint32_t ext_seq_add;            /* added to each kept block's extended highest sequence */
} rtcp_ssrc_map;

/* Translates a compound RTCP packet from one leg for the other (in and out must not overlap;
 * cap >= len). Keeps SR and RR parts whose sender is sender_from (sender -> sender_to, SR RTP
 * timestamp + sr_ts_add, profile extensions dropped) with the report blocks about source_from
 * (-> source_to, extended highest sequence + ext_seq_add), and the SDES chunks of sender_from.
 * Everything else is dropped: other blocks and chunks, BYE (our streams toward each leg go on
 * across the other leg's SSRC changes), APP, feedback (RTP/AVP on the SIP side has none), XR,
 * unknown types, padding. Returns the length written, 0 when nothing valid is left or the
 * first kept part is not an SR or RR (RFC 3550 6.1) or the input is malformed. */
size_t rtcp_translate(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                      const rtcp_ssrc_map *map);

#define RTCP_SR 200
#define RTCP_RR 201
#define RTCP_SDES 202

/* RFC 4733: the event code of a DTMF digit (0-9 -> 0-9, * -> 10, # -> 11, A-D -> 12-15), or
 * -1 for anything else (lowercase a-d accepted). */
int rtp_dtmf_event_code(char digit);

/* One telephone-event packet (RTP header + 4-byte payload). */
typedef struct rtp_dtmf_packet {
  uint8_t payload_type;
  bool marker;         /* first packet of an event */
  uint16_t seq;
  uint32_t timestamp;  /* the event's start, constant for all of its packets */
  uint32_t ssrc;
  uint8_t event;       /* rtp_dtmf_event_code */
  bool end;            /* E bit */
  uint8_t volume;      /* 0..63, dBm0 below 0 */
  uint16_t duration;   /* in timestamp units since the start */
} rtp_dtmf_packet;

#define RTP_DTMF_PACKET_LEN 16

/* Writes RTP_DTMF_PACKET_LEN bytes into out (cap must allow it). Returns the length, 0 if not. */
size_t rtp_build_dtmf(const rtp_dtmf_packet *packet, uint8_t *out, size_t cap);

#endif
