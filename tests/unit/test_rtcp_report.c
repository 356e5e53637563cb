/* test_rtcp_report: media/rtcp_report.h, packet by packet with a fake clock: what a sender
 * report and its report block say after clean, lossy, wrapped, reordered and restarted streams,
 * jitter on a steady and an uneven stream, LSR/DLSR from the source's own SR, and that our
 * reports are valid compound RTCP (rtcp_validate) that rtcp_find_block reads back. */
#include <glib.h>
#include <string.h>

#include "media/rtcp_report.h"
#include "media/rtp.h"

enum { OURS = 0x11111111, THEIRS = 0x22222222 };

static rtp_header packet(uint32_t ssrc, uint16_t seq, uint32_t ts) {
  return (rtp_header){.payload_type = 0, .seq = seq, .timestamp = ts, .ssrc = ssrc,
                      .header_len = 12, .payload_len = 160};
}

/* n packets of 20 ms at 8 kHz from seq, skipping those for which skip(i) is true. */
static void receive_run(rtcp_leg *leg, uint16_t seq, int n, int64_t *now_us, bool (*skip)(int)) {
  for (int i = 0; i < n; i++, *now_us += 20000) {
    if (skip && skip(i)) continue;
    rtp_header h = packet(THEIRS, (uint16_t)(seq + i), (uint32_t)(1000 + (seq + i) * 160));
    rtcp_leg_on_received(leg, &h, *now_us);
  }
}

static rtcp_block_view report_block(rtcp_leg *leg, int64_t now_us) {
  uint8_t out[256];
  size_t n = rtcp_leg_write_report(leg, "tabphone", now_us, 1700000000000000, out, sizeof out);
  g_assert_cmpuint(n, >, 0);
  g_assert_cmpuint(rtcp_validate(out, n), ==, 2); /* SR or RR, then SDES */
  rtcp_block_view v;
  g_assert_true(rtcp_find_block(out, n, THEIRS, &v));
  return v;
}

static bool every_tenth(int i) { return i % 10 == 9; }

static void test_clean_stream_then_loss(void) {
  rtcp_leg leg;
  rtcp_leg_init(&leg, OURS, 8000, 8000);
  int64_t now = 5000000;
  receive_run(&leg, 100, 50, &now, NULL);
  rtcp_block_view v = report_block(&leg, now);
  g_assert_cmpuint(v.fraction_lost, ==, 0);
  g_assert_cmpint(v.cumulative_lost, ==, 0);
  g_assert_cmpuint(v.extended_max, ==, 149);
  g_assert_cmpuint(v.jitter, ==, 0); /* perfectly paced */

  receive_run(&leg, 150, 100, &now, every_tenth); /* every tenth lost, the last one too */
  v = report_block(&leg, now);
  /* The last one (249) is not known to be lost yet: 9 of 99 expected since the last report. */
  g_assert_cmpuint(v.extended_max, ==, 248);
  g_assert_cmpint(v.cumulative_lost, ==, 9);
  g_assert_cmpuint(v.fraction_lost, ==, 9 * 256 / 99);
}

static void test_wrap_duplicates_and_restart(void) {
  rtcp_leg leg;
  rtcp_leg_init(&leg, OURS, 8000, 8000);
  int64_t now = 1;
  receive_run(&leg, 65530, 12, &now, NULL); /* 65530..65535, 0..5 */
  rtcp_block_view v = report_block(&leg, now);
  g_assert_cmpuint(v.extended_max, ==, 65536 + 5);
  g_assert_cmpint(v.cumulative_lost, ==, 0);

  rtp_header late = packet(THEIRS, 2, 0); /* a duplicate: counted, no loss below zero */
  rtcp_leg_on_received(&leg, &late, now);
  v = report_block(&leg, now);
  g_assert_cmpuint(v.extended_max, ==, 65536 + 5);
  g_assert_cmpint(v.cumulative_lost, ==, -1);
  g_assert_cmpuint(v.fraction_lost, ==, 0);

  receive_run(&leg, 30000, 5, &now, NULL); /* the sender restarted its sequence */
  v = report_block(&leg, now);
  g_assert_cmpuint(v.extended_max, ==, 30004);
  g_assert_cmpint(v.cumulative_lost, ==, 0);
}

static void test_new_source_starts_over(void) {
  rtcp_leg leg;
  rtcp_leg_init(&leg, OURS, 8000, 8000);
  int64_t now = 1;
  receive_run(&leg, 10, 20, &now, every_tenth);
  rtp_header other = packet(0x33333333, 500, 0);
  rtcp_leg_on_received(&leg, &other, now);
  uint8_t out[256];
  size_t n = rtcp_leg_write_report(&leg, "x", now, 0, out, sizeof out);
  rtcp_block_view v;
  g_assert_false(rtcp_find_block(out, n, THEIRS, &v));
  g_assert_true(rtcp_find_block(out, n, 0x33333333, &v));
  g_assert_cmpuint(v.extended_max, ==, 500);
  g_assert_cmpint(v.cumulative_lost, ==, 0);
}

static void test_jitter_of_an_uneven_stream(void) {
  rtcp_leg leg;
  rtcp_leg_init(&leg, OURS, 8000, 8000);
  int64_t now = 1000000;
  /* Timestamps advance 20 ms a packet; arrivals alternate 10 ms and 30 ms apart: each transit
   * differs from the last by 10 ms = 80 units, so the estimate climbs towards 80. */
  for (int i = 0; i < 400; i++) {
    rtp_header h = packet(THEIRS, (uint16_t)i, (uint32_t)i * 160);
    rtcp_leg_on_received(&leg, &h, now);
    now += i % 2 ? 30000 : 10000;
  }
  rtcp_block_view v = report_block(&leg, now);
  g_assert_cmpuint(v.jitter, >=, 76);
  g_assert_cmpuint(v.jitter, <=, 80);
}

static void test_sender_report_and_lsr_dlsr(void) {
  rtcp_leg leg;
  rtcp_leg_init(&leg, OURS, 48000, 8000);
  int64_t now = 10000000;
  for (int i = 0; i < 50; i++) {
    rtp_header h = {.seq = (uint16_t)i, .timestamp = 5000u + (uint32_t)i * 960, .ssrc = OURS,
                    .header_len = 12, .payload_len = 80};
    rtcp_leg_on_sent(&leg, &h, now + i * 20000);
  }
  int64_t last_sent = now + 49 * 20000;
  receive_run(&leg, 1, 5, &now, NULL);

  /* Their SR: NTP 0x00001234:0x56780000 -> LSR 0x12345678. */
  uint8_t sr[28] = {0x80, RTCP_SR, 0, 6, 0x22, 0x22, 0x22, 0x22, 0, 0, 0x12, 0x34, 0x56, 0x78, 0, 0};
  rtcp_leg_on_rtcp(&leg, sr, sizeof sr, 2000000, 0);
  uint8_t truncated[] = {0x80, RTCP_SR, 0, 6, 0x22, 0x22};
  rtcp_leg_on_rtcp(&leg, truncated, sizeof truncated, 2100000, 0); /* ignored */
  g_assert_cmpuint(leg.reports_received, ==, 1);
  g_assert_false(leg.peer_reported); /* no block about us in it */

  uint8_t out[256];
  int64_t report_at = last_sent + 500000; /* 0.5 s after our last packet */
  size_t n = rtcp_leg_write_report(&leg, "tabphone", report_at, 1700000000500000, out, sizeof out);
  g_assert_cmpuint(n, ==, 28 + 24 + 20);
  g_assert_cmpuint(out[1], ==, RTCP_SR);
  g_assert_cmpuint(rtcp_sender_ssrc(out), ==, OURS);
  uint32_t ntp_seconds = (uint32_t)out[8] << 24 | (uint32_t)out[9] << 16 | (uint32_t)out[10] << 8 | out[11];
  g_assert_cmpuint(ntp_seconds, ==, 1700000000u + 2208988800u);
  g_assert_cmpuint(out[12], ==, 0x80); /* .5 s */
  uint32_t rtp_ts = (uint32_t)out[16] << 24 | (uint32_t)out[17] << 16 | (uint32_t)out[18] << 8 | out[19];
  g_assert_cmpuint(rtp_ts, ==, 5000u + 49 * 960 + 24000); /* + 0.5 s at 48 kHz */
  g_assert_cmpuint(out[23], ==, 50);    /* packets */
  g_assert_cmpuint(out[26] << 8 | out[27], ==, 4000); /* octets */
  rtcp_block_view v;
  g_assert_true(rtcp_find_block(out, n, THEIRS, &v));
  g_assert_cmpuint(v.lsr, ==, 0x12345678);
  g_assert_cmpuint(v.dlsr, ==, (uint32_t)((report_at - 2000000) * 65536 / 1000000));
  g_assert_cmpuint(out[28 + 24 + 8], ==, 1); /* SDES item CNAME */
  g_assert_cmpmem(out + 28 + 24 + 10, 8, "tabphone", 8);
}

/* Our SR goes out; the far side's RR echoes it (LSR) after holding it 0.25 s (DLSR) and arrives
 * 0.3 s after we sent ours: a 50 ms round trip. Its block also says how our stream fares. */
static void test_round_trip_and_what_the_far_side_reports(void) {
  rtcp_leg ours, theirs;
  rtcp_leg_init(&ours, OURS, 8000, 8000);
  rtcp_leg_init(&theirs, THEIRS, 8000, 8000);
  int64_t now = 20000000, wall = 1700000000000000;
  for (int i = 0; i < 100; i++) {
    rtp_header h = packet(OURS, (uint16_t)(7 + i), (uint32_t)i * 160);
    rtcp_leg_on_sent(&ours, &h, now);
    if (i % 25 != 3) rtcp_leg_on_received(&theirs, &h, now); /* 4 of 100 lost on the way */
    now += 20000, wall += 20000;
  }
  uint8_t sr[256], rr[256];
  size_t sr_len = rtcp_leg_write_report(&ours, "tabphone", now, wall, sr, sizeof sr);
  rtcp_leg_on_rtcp(&theirs, sr, sr_len, now + 25000, wall + 25000); /* 25 ms one way */
  size_t rr_len = rtcp_leg_write_report(&theirs, "far", now + 275000, wall + 275000, rr, sizeof rr);
  rtcp_leg_on_rtcp(&ours, rr, rr_len, now + 300000, wall + 300000);

  g_assert_true(ours.peer_reported);
  g_assert_cmpint(ours.peer_cumulative_lost, ==, 4);
  g_assert_cmpuint(ours.peer_fraction_lost, ==, 4 * 256 / 100); /* 4 of 100 expected (7..106) */
  g_assert_cmpint(ours.round_trip_us, >=, 49000);
  g_assert_cmpint(ours.round_trip_us, <=, 51000);
  char line[256];
  rtcp_leg_describe(&ours, line, sizeof line);
  g_assert_cmpstr(line, ==, "1 reports sent, 1 received; the far side reports 3.9 % lost, jitter 0.0 ms, round trip 50 ms");
  rtcp_leg_describe(&theirs, line, sizeof line);
  g_assert_cmpstr(line, ==, "1 reports sent, 1 received; 96 of 100 packets received (4.0 % lost), jitter 0.0 ms");
}

static void test_schedule_and_limits(void) {
  rtcp_leg leg;
  rtcp_leg_init(&leg, OURS, 8000, 8000);
  g_assert_false(rtcp_leg_report_due(&leg, 100000000));
  uint8_t out[256];
  /* Nothing sent or received: a bare RR with SDES. */
  size_t n = rtcp_leg_write_report(&leg, "tabphone", 1, 1, out, sizeof out);
  g_assert_cmpuint(n, ==, 8 + 20);
  g_assert_cmpuint(out[1], ==, RTCP_RR);
  g_assert_cmpuint(out[0] & 0x1f, ==, 0);

  rtcp_leg_init(&leg, OURS, 8000, 8000);
  int64_t now = 3000000;
  receive_run(&leg, 1, 1, &now, NULL);
  g_assert_false(rtcp_leg_report_due(&leg, 3500000));
  g_assert_true(rtcp_leg_report_due(&leg, 4000000));
  rtcp_leg_write_report(&leg, "tabphone", 4000000, 0, out, sizeof out);
  g_assert_false(rtcp_leg_report_due(&leg, 8999999));
  g_assert_true(rtcp_leg_report_due(&leg, 9000000));

  g_assert_cmpuint(rtcp_leg_write_report(&leg, "tabphone", 1, 1, out, 40), ==, 0); /* no room */
  char long_name[300];
  memset(long_name, 'a', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  g_assert_cmpuint(rtcp_leg_write_report(&leg, long_name, 1, 1, out, sizeof out), ==, 0);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/rtcp_report/clean_then_loss", test_clean_stream_then_loss);
  g_test_add_func("/rtcp_report/wrap_duplicates_restart", test_wrap_duplicates_and_restart);
  g_test_add_func("/rtcp_report/new_source", test_new_source_starts_over);
  g_test_add_func("/rtcp_report/jitter_uneven", test_jitter_of_an_uneven_stream);
  g_test_add_func("/rtcp_report/sender_report_lsr_dlsr", test_sender_report_and_lsr_dlsr);
  g_test_add_func("/rtcp_report/round_trip_and_far_side", test_round_trip_and_what_the_far_side_reports);
  g_test_add_func("/rtcp_report/schedule_and_limits", test_schedule_and_limits);
  return g_test_run();
}
