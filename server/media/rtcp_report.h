/* rtcp_report: the RTP session statistics and RTCP reports (RFC 3550 section 6.4, appendix A)
 * of a leg whose streams we originate and terminate ourselves: each leg of a transcoded call.
 * There the far end's reports describe another stream than the browser's (and the other way
 * round), so they cannot be translated across as on a passthrough call (rtcp_translate); each
 * side gets reports of its own instead: a sender report about what we send it and a report
 * block about what it sends us (loss, jitter, and LSR/DLSR so it can measure the round trip).
 *
 * Pure code: no I/O, no allocation, no clock of its own (callers pass monotonic and wall-clock
 * microseconds), so tests can drive it packet by packet. One rtcp_leg per leg, owned by its
 * caller (plain struct, nothing to free).
 *
 * Thread-safety: none; the call's worker owns its two legs. */
#ifndef TABPHONE_MEDIA_RTCP_REPORT_H
#define TABPHONE_MEDIA_RTCP_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media/rtp.h"

/* RFC 3550 6.2: at least 5 s between reports of a session this small. */
#define RTCP_REPORT_INTERVAL_US 5000000

typedef struct rtcp_leg {
  uint32_t our_ssrc;
  uint32_t send_clock;      /* RTP clock of what we send (Hz) */
  uint32_t receive_clock;   /* RTP clock of what we receive (Hz) */

  /* what we send */
  uint32_t sent_packets;
  uint32_t sent_octets;     /* payload octets (RFC 3550 6.4.1) */
  uint32_t last_sent_ts;
  int64_t last_sent_us;     /* monotonic */

  /* what we receive (one source: the newest SSRC; a new one starts over) */
  uint32_t source_ssrc;     /* 0 = nothing received yet (a source that uses SSRC 0, legal but
                             * never seen from browsers or phones, gets no report block) */
  uint16_t max_seq;
  uint32_t cycles;          /* sequence wraps, times 65536 */
  uint32_t base_seq;
  uint32_t received;
  uint32_t expected_prior, received_prior; /* at the previous report */
  uint32_t jitter_q4;       /* interarrival jitter in timestamp units, times 16 (A.8) */
  int64_t last_transit;
  bool have_transit;

  /* the source's last sender report, for LSR/DLSR */
  uint32_t last_sr;         /* middle 32 bits of its NTP timestamp; 0 = none */
  int64_t last_sr_us;       /* monotonic arrival */

  int64_t next_report_us;   /* monotonic; 0 = not scheduled yet */
  uint32_t reports_sent;

  /* what the leg's own reports say about our stream */
  uint32_t reports_received;
  bool peer_reported;       /* a report block about our_ssrc arrived */
  uint8_t peer_fraction_lost;
  int32_t peer_cumulative_lost;
  uint32_t peer_jitter;     /* timestamp units */
  int64_t round_trip_us;    /* from its LSR/DLSR (RFC 3550 6.4.1); -1 = not measured */
} rtcp_leg;

/* A fresh leg: our SSRC and the clocks of both directions. */
void rtcp_leg_init(rtcp_leg *leg, uint32_t our_ssrc, uint32_t send_clock, uint32_t receive_clock);

/* An RTP packet we sent (after rtp_parse accepted it), at monotonic time now_us. */
void rtcp_leg_on_sent(rtcp_leg *leg, const rtp_header *h, int64_t now_us);

/* An RTP packet received from the leg, at now_us. */
void rtcp_leg_on_received(rtcp_leg *leg, const rtp_header *h, int64_t now_us);

/* A compound RTCP packet received from the leg at monotonic now_us, wall clock wall_us
 * (anything: malformed input is ignored): notes the source's sender report for our LSR/DLSR,
 * and its report block about our stream (loss, jitter, and the round trip when it echoes one
 * of our SRs). */
void rtcp_leg_on_rtcp(rtcp_leg *leg, const uint8_t *data, size_t len, int64_t now_us,
                      int64_t wall_us);

/* One log-ready line about the leg: "12 reports sent, 11 received; 950 of 1000 packets
 * received (5.0 % lost), jitter 2.1 ms; the far side reports 0.0 % lost, jitter 0.5 ms,
 * round trip 1 ms" (the parts nothing is known about are left out). */
void rtcp_leg_describe(const rtcp_leg *leg, char *out, size_t len);

/* Whether a report is due at now_us (the first one 1 s after the first packet either way, then
 * every RTCP_REPORT_INTERVAL_US). */
bool rtcp_leg_report_due(const rtcp_leg *leg, int64_t now_us);

/* Writes our compound report to out: an SR when we sent RTP since... ever (else an RR), with a
 * report block about the source when there is one, then SDES with cname. wall_us is the wall
 * clock (for the SR's NTP timestamp). Schedules the next report. Returns the length, 0 when
 * cap is too small or cname is longer than 255 bytes. */
size_t rtcp_leg_write_report(rtcp_leg *leg, const char *cname, int64_t now_us, int64_t wall_us,
                             uint8_t *out, size_t cap);

/* What the report block says, for logs and tests: the fraction lost since the previous report
 * (0-255, of 256), cumulative lost, extended highest sequence, jitter (timestamp units). */
typedef struct rtcp_block_view {
  uint8_t fraction_lost;
  int32_t cumulative_lost;
  uint32_t extended_max;
  uint32_t jitter;
  uint32_t lsr, dlsr;
} rtcp_block_view;

/* Reads the first report block about ssrc in a compound RTCP packet (ours or anyone's). */
bool rtcp_find_block(const uint8_t *data, size_t len, uint32_t ssrc, rtcp_block_view *out);

#endif
