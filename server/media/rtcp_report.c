/* rtcp_report: see rtcp_report.h. The arithmetic follows RFC 3550 appendix A (A.1 sequence
 * tracking, simplified: a jump of more than MAX_DROPOUT restarts the count at once instead of
 * waiting for a second packet in sequence; A.3 loss; A.8 jitter). */
#include "media/rtcp_report.h"

#include <stdio.h>
#include <string.h>

enum {
  MAX_DROPOUT = 3000,
  MAX_MISORDER = 100,
  FIRST_REPORT_AFTER_US = 1000000,
  REPORT_BLOCK_LEN = 24,
  SR_FIXED_LEN = 28, /* header, SSRC, NTP, RTP timestamp, packet and octet counts */
  RR_FIXED_LEN = 8,
};

/* Seconds from 1900 (NTP's epoch) to 1970 (the Unix epoch). */
#define NTP_UNIX_OFFSET 2208988800ull

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void rtcp_leg_init(rtcp_leg *leg, uint32_t our_ssrc, uint32_t send_clock, uint32_t receive_clock) {
  memset(leg, 0, sizeof *leg);
  leg->our_ssrc = our_ssrc;
  leg->send_clock = send_clock;
  leg->receive_clock = receive_clock;
  leg->round_trip_us = -1;
}

static void schedule_first(rtcp_leg *leg, int64_t now_us) {
  if (leg->next_report_us == 0) leg->next_report_us = now_us + FIRST_REPORT_AFTER_US;
}

void rtcp_leg_on_sent(rtcp_leg *leg, const rtp_header *h, int64_t now_us) {
  leg->sent_packets++;
  leg->sent_octets += (uint32_t)h->payload_len;
  leg->last_sent_ts = h->timestamp;
  leg->last_sent_us = now_us;
  schedule_first(leg, now_us);
}

/* A new source, or the old one after a jump: counting starts again at seq. */
static void restart_source(rtcp_leg *leg, uint32_t ssrc, uint16_t seq) {
  if (ssrc != leg->source_ssrc) {
    leg->last_sr = 0; /* its sender reports described the old source */
    leg->jitter_q4 = 0;
    leg->have_transit = false;
  }
  leg->source_ssrc = ssrc;
  leg->base_seq = seq;
  leg->max_seq = seq;
  leg->cycles = 0;
  leg->received = 0;
  leg->expected_prior = leg->received_prior = 0;
}

static void track_sequence(rtcp_leg *leg, uint16_t seq) {
  uint16_t ahead = (uint16_t)(seq - leg->max_seq);
  if (ahead < MAX_DROPOUT) {
    if (seq < leg->max_seq) leg->cycles += 65536; /* wrapped */
    leg->max_seq = seq;
  } else if (ahead <= 65536 - MAX_MISORDER) {
    restart_source(leg, leg->source_ssrc, seq); /* a jump: the sender restarted */
  }
  /* else: a duplicate or a late packet, counted below */
}

/* A.8: the difference of relative transit times, in timestamp units, smoothed by 1/16. */
static void track_jitter(rtcp_leg *leg, uint32_t timestamp, int64_t now_us) {
  if (leg->receive_clock == 0) return;
  int64_t clock = leg->receive_clock; /* split so that it never overflows */
  uint32_t arrival = (uint32_t)((now_us / 1000000) * clock + (now_us % 1000000) * clock / 1000000);
  int64_t transit = (int32_t)(arrival - timestamp);
  if (leg->have_transit) {
    int64_t d = transit - leg->last_transit;
    if (d < 0) d = -d;
    if (d > 0x7fffffff) d = 0x7fffffff;
    leg->jitter_q4 += (uint32_t)d - ((leg->jitter_q4 + 8) >> 4);
  }
  leg->last_transit = transit;
  leg->have_transit = true;
}

void rtcp_leg_on_received(rtcp_leg *leg, const rtp_header *h, int64_t now_us) {
  if (leg->source_ssrc == 0 || h->ssrc != leg->source_ssrc) restart_source(leg, h->ssrc, h->seq);
  else track_sequence(leg, h->seq);
  leg->received++;
  track_jitter(leg, h->timestamp, now_us);
  schedule_first(leg, now_us);
}

/* The middle 32 bits of the NTP timestamp of wall_us (units of 1/65536 s), as LSR carries. */
static uint32_t ntp_middle(int64_t wall_us) {
  uint64_t seconds = (uint64_t)(wall_us / 1000000) + NTP_UNIX_OFFSET;
  uint64_t fraction = ((uint64_t)(wall_us % 1000000) << 16) / 1000000;
  return (uint32_t)(seconds << 16 | fraction);
}

/* The leg's report block about our stream: what it says, and the round trip it lets us
 * measure (arrival - LSR - DLSR, all in 1/65536 s) when it echoes one of our SRs. */
static void note_peer_block(rtcp_leg *leg, const rtcp_block_view *v, int64_t wall_us) {
  leg->peer_reported = true;
  leg->peer_fraction_lost = v->fraction_lost;
  leg->peer_cumulative_lost = v->cumulative_lost;
  leg->peer_jitter = v->jitter;
  if (v->lsr == 0) return;
  uint32_t rtt = ntp_middle(wall_us) - v->lsr - v->dlsr;
  if (rtt < 0x80000000u) leg->round_trip_us = (int64_t)rtt * 1000000 / 65536; /* else: skewed */
}

void rtcp_leg_on_rtcp(rtcp_leg *leg, const uint8_t *data, size_t len, int64_t now_us,
                      int64_t wall_us) {
  size_t at = 0;
  bool counted = false;
  while (len - at >= 4) {
    const uint8_t *part = data + at;
    size_t part_len = ((size_t)part[2] << 8 | part[3]) * 4 + 4;
    if (part[0] >> 6 != 2 || part_len > len - at) return;
    bool sr = part[1] == RTCP_SR && part_len >= SR_FIXED_LEN;
    bool rr = part[1] == RTCP_RR && part_len >= RR_FIXED_LEN;
    if (sr && leg->source_ssrc != 0 && get32(part + 4) == leg->source_ssrc) {
      leg->last_sr = get32(part + 10); /* the middle 32 bits of the 64-bit NTP timestamp */
      leg->last_sr_us = now_us;
    }
    rtcp_block_view v;
    if ((sr || rr) && rtcp_find_block(part, part_len, leg->our_ssrc, &v))
      note_peer_block(leg, &v, wall_us);
    if ((sr || rr) && !counted) leg->reports_received++, counted = true;
    at += part_len;
  }
}

bool rtcp_leg_report_due(const rtcp_leg *leg, int64_t now_us) {
  return leg->next_report_us != 0 && now_us >= leg->next_report_us;
}

/* A.3: one report block about the source, updating the "prior" counts. */
static void write_block(rtcp_leg *leg, int64_t now_us, uint8_t *p) {
  uint32_t extended_max = leg->cycles + leg->max_seq;
  uint32_t expected = extended_max - leg->base_seq + 1;
  int64_t lost = (int64_t)expected - leg->received;
  if (lost > 0x7fffff) lost = 0x7fffff;
  if (lost < -0x800000) lost = -0x800000;
  uint32_t expected_interval = expected - leg->expected_prior;
  uint32_t received_interval = leg->received - leg->received_prior;
  int64_t lost_interval = (int64_t)expected_interval - received_interval;
  leg->expected_prior = expected;
  leg->received_prior = leg->received;
  uint8_t fraction = expected_interval == 0 || lost_interval <= 0
                         ? 0
                         : (uint8_t)(((uint64_t)lost_interval << 8) / expected_interval);
  uint32_t dlsr = leg->last_sr ? (uint32_t)((now_us - leg->last_sr_us) * 65536 / 1000000) : 0;
  put32(p, leg->source_ssrc);
  put32(p + 4, (uint32_t)fraction << 24 | ((uint32_t)lost & 0xffffff));
  put32(p + 8, extended_max);
  put32(p + 12, leg->jitter_q4 >> 4);
  put32(p + 16, leg->last_sr);
  put32(p + 20, dlsr);
}

static void write_ntp(uint8_t *p, int64_t wall_us) {
  uint64_t seconds = (uint64_t)(wall_us / 1000000) + NTP_UNIX_OFFSET;
  uint64_t fraction = ((uint64_t)(wall_us % 1000000) << 32) / 1000000;
  put32(p, (uint32_t)seconds);
  put32(p + 4, (uint32_t)fraction);
}

/* SDES with one chunk: our SSRC, CNAME, then the null item and padding to 32 bits. */
static size_t write_sdes(const rtcp_leg *leg, const char *cname, size_t cname_len, uint8_t *p) {
  size_t chunk = 4 + 2 + cname_len + 1;
  chunk = (chunk + 3) & ~(size_t)3;
  size_t total = 4 + chunk;
  memset(p, 0, total);
  p[0] = 0x80 | 1;
  p[1] = RTCP_SDES;
  put16(p + 2, (uint16_t)(total / 4 - 1));
  put32(p + 4, leg->our_ssrc);
  p[8] = 1; /* CNAME */
  p[9] = (uint8_t)cname_len;
  memcpy(p + 10, cname, cname_len);
  return total;
}

size_t rtcp_leg_write_report(rtcp_leg *leg, const char *cname, int64_t now_us, int64_t wall_us,
                             uint8_t *out, size_t cap) {
  size_t cname_len = strlen(cname);
  bool sender = leg->sent_packets > 0, block = leg->source_ssrc != 0 && leg->received > 0;
  size_t head = (sender ? SR_FIXED_LEN : RR_FIXED_LEN) + (block ? REPORT_BLOCK_LEN : 0);
  size_t sdes = (4 + 4 + 2 + cname_len + 1 + 3) & ~(size_t)3;
  if (cname_len > 255 || head + sdes > cap) return 0;
  out[0] = (uint8_t)(0x80 | (block ? 1 : 0));
  out[1] = sender ? RTCP_SR : RTCP_RR;
  put16(out + 2, (uint16_t)(head / 4 - 1));
  put32(out + 4, leg->our_ssrc);
  size_t at = RR_FIXED_LEN;
  if (sender) {
    /* The RTP timestamp of "now" on our stream's clock, from its last packet. */
    int64_t since_us = now_us - leg->last_sent_us;
    uint32_t ts = leg->last_sent_ts + (uint32_t)(since_us * (int64_t)leg->send_clock / 1000000);
    write_ntp(out + 8, wall_us);
    put32(out + 16, ts);
    put32(out + 20, leg->sent_packets);
    put32(out + 24, leg->sent_octets);
    at = SR_FIXED_LEN;
  }
  if (block) write_block(leg, now_us, out + at);
  leg->next_report_us = now_us + RTCP_REPORT_INTERVAL_US;
  leg->reports_sent++;
  return head + write_sdes(leg, cname, cname_len, out + head);
}

bool rtcp_find_block(const uint8_t *data, size_t len, uint32_t ssrc, rtcp_block_view *out) {
  size_t at = 0;
  while (len - at >= 4) {
    const uint8_t *part = data + at;
    size_t part_len = ((size_t)part[2] << 8 | part[3]) * 4 + 4;
    if (part[0] >> 6 != 2 || part_len > len - at) return false;
    size_t first = part[1] == RTCP_SR ? SR_FIXED_LEN : part[1] == RTCP_RR ? RR_FIXED_LEN : 0;
    for (size_t i = 0; first && i < (size_t)(part[0] & 0x1f); i++) {
      const uint8_t *b = part + first + i * REPORT_BLOCK_LEN;
      if (first + (i + 1) * REPORT_BLOCK_LEN > part_len) break;
      if (get32(b) != ssrc) continue;
      uint32_t lost = get32(b + 4) & 0xffffff;
      out->fraction_lost = b[4];
      out->cumulative_lost = (int32_t)(lost & 0x800000 ? lost | 0xff000000u : lost);
      out->extended_max = get32(b + 8);
      out->jitter = get32(b + 12);
      out->lsr = get32(b + 16);
      out->dlsr = get32(b + 20);
      return true;
    }
    at += part_len;
  }
  return false;
}

void rtcp_leg_describe(const rtcp_leg *leg, char *out, size_t len) {
  size_t at = (size_t)snprintf(out, len, "%u reports sent, %u received", leg->reports_sent,
                               leg->reports_received);
  if (leg->source_ssrc != 0 && leg->received > 0 && at < len) {
    uint32_t expected = leg->cycles + leg->max_seq - leg->base_seq + 1;
    int64_t lost = (int64_t)expected - leg->received;
    double ms = leg->receive_clock ? (leg->jitter_q4 / 16.0) * 1000.0 / leg->receive_clock : 0;
    at += (size_t)snprintf(out + at, len - at,
                           "; %u of %u packets received (%.1f %% lost), jitter %.1f ms",
                           leg->received, expected, lost > 0 ? 100.0 * (double)lost / expected : 0.0, ms);
  }
  if (leg->peer_reported && at < len) {
    double ms = leg->send_clock ? leg->peer_jitter * 1000.0 / leg->send_clock : 0;
    at += (size_t)snprintf(out + at, len - at, "; the far side reports %.1f %% lost, jitter %.1f ms",
                           leg->peer_fraction_lost * 100.0 / 256.0, ms);
    if (leg->round_trip_us >= 0 && at < len)
      snprintf(out + at, len - at, ", round trip %lld ms", (long long)((leg->round_trip_us + 500) / 1000));
  }
}
