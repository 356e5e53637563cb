/* Unit tests for media/rtp_leg.c: which sources the SIP leg latches to and which it drops (the
 * RTP-bleed guard), the re-latch after a re-INVITE, and SDES-SRTP on that leg. Real UDP sockets
 * on loopback; the call's worker context is iterated by hand. A packet that reaches the bridge
 * shows up as bridge.sip_in_ssrc (the bridge itself drops it: no codec map, no browser). */
#include <arpa/inet.h>
#include <glib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/metrics.h"
#include "media/media_internal.h"

typedef struct fixture {
  media_engine engine;
  media_worker worker;
  call_media *media;
} fixture;

static void setup(fixture *f, bool any_source, int window_ms) {
  memset(f, 0, sizeof *f);
  f->engine.rtp_bind_host = (char *)"127.0.0.1";
  f->engine.port_min = 41000;
  f->engine.port_max = 41999;
  f->engine.latch_window_us = (gint64)window_ms * 1000;
  f->engine.latch_any_source = any_source;
  f->worker.context = g_main_context_new();
  f->media = g_new0(call_media, 1);
  f->media->engine = &f->engine;
  atomic_init(&f->media->latch_any_source, any_source);
  f->media->worker = &f->worker;
  g_strlcpy(f->media->subject, "call test", sizeof f->media->subject);
  char err[128];
  g_assert_true(rtp_leg_bind(&f->media->rtp, &f->engine, err, sizeof err));
  rtp_leg_attach(f->media);
}

static void teardown(fixture *f) {
  rtp_leg_close(&f->media->rtp);
  g_free(f->media);
  g_main_context_unref(f->worker.context);
}

/* A UDP socket on host with an ephemeral port. */
static int peer(const char *host, int *port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  inet_pton(AF_INET, host, &a.sin_addr);
  g_assert_cmpint(bind(fd, (struct sockaddr *)&a, sizeof a), ==, 0);
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  *port = ntohs(a.sin_port);
  return fd;
}

static int rtp_packet(uint8_t *p, uint32_t ssrc, uint16_t seq) {
  memset(p, 0, MEDIA_BUFFER_SIZE);
  p[0] = 0x80;
  p[2] = (uint8_t)(seq >> 8);
  p[3] = (uint8_t)seq;
  p[8] = (uint8_t)(ssrc >> 24);
  p[9] = (uint8_t)(ssrc >> 16);
  p[10] = (uint8_t)(ssrc >> 8);
  p[11] = (uint8_t)ssrc;
  return 12 + 160;
}

static void pump(fixture *f) {
  g_usleep(3000);
  while (g_main_context_iteration(f->worker.context, FALSE)) {
  }
}

/* Sends one packet with ssrc from fd to the leg's RTP port and lets the leg read it. */
static void send_from(fixture *f, int fd, uint32_t ssrc) {
  static uint16_t seq = 1;
  uint8_t p[MEDIA_BUFFER_SIZE];
  int len = rtp_packet(p, ssrc, seq++);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->media->rtp.port)};
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  g_assert_cmpint(sendto(fd, p, (size_t)len, 0, (struct sockaddr *)&to, sizeof to), ==, len);
  pump(f);
}

static int latched_port(const fixture *f) {
  return ntohs(((const struct sockaddr_in *)&f->media->rtp.rtp_remote)->sin_port);
}

static void test_latches_only_to_the_sdp_host_and_drops_the_rest(void) {
  fixture f;
  setup(&f, false, 150);
  int phone_port, other_port, foreign_port;
  int phone = peer("127.0.0.1", &phone_port), other = peer("127.0.0.1", &other_port),
      foreign = peer("127.0.0.2", &foreign_port);
  uint64_t counted = metrics_value(METRIC_RTP_FOREIGN_DROPPED);

  send_from(&f, phone, 0x1111); /* before any SDP: ignored, not counted */
  g_assert_false(f.media->rtp.latched);
  g_assert_cmpuint(f.media->bridge.sip_in_ssrc, ==, 0);

  rtp_leg_set_remote(f.media, "127.0.0.1", phone_port, phone_port + 1);
  send_from(&f, foreign, 0x3333); /* another host, even inside the window: dropped */
  g_assert_false(f.media->rtp.latched);
  send_from(&f, phone, 0x1111);
  g_assert_true(f.media->rtp.latched);
  g_assert_cmpint(latched_port(&f), ==, phone_port);
  g_assert_cmpuint(f.media->bridge.sip_in_ssrc, ==, 0x1111);

  send_from(&f, other, 0x2222); /* same host, inside the window, but the phone is talking */
  g_assert_cmpint(latched_port(&f), ==, phone_port);
  g_assert_cmpuint(f.media->bridge.sip_in_ssrc, ==, 0x1111);

  g_usleep(200000); /* the window is over */
  send_from(&f, other, 0x2222);
  send_from(&f, foreign, 0x3333);
  g_assert_cmpint(latched_port(&f), ==, phone_port);
  g_assert_cmpuint(f.media->bridge.sip_in_ssrc, ==, 0x1111);
  send_from(&f, phone, 0x1111);
  g_assert_cmpuint(f.media->rtp.foreign_dropped, ==, 4);
  g_assert_cmpuint(metrics_value(METRIC_RTP_FOREIGN_DROPPED) - counted, ==, 4);
  close(phone), close(other), close(foreign);
  teardown(&f);
}

static void test_inside_the_window_a_source_that_took_over_may_replace_a_silent_one(void) {
  fixture f;
  setup(&f, false, 2000);
  int a_port, b_port;
  int a = peer("127.0.0.1", &a_port), b = peer("127.0.0.1", &b_port);
  rtp_leg_set_remote(f.media, "127.0.0.1", a_port, a_port + 1);
  send_from(&f, a, 0xA);
  /* Interleaved with a live a, b never gets the latch (an injector while the far end talks). */
  for (int i = 0; i < 30; i++) {
    send_from(&f, b, 0xB);
    if (i % 3 == 0) send_from(&f, a, 0xA);
  }
  send_from(&f, a, 0xA);
  g_assert_cmpint(latched_port(&f), ==, a_port);
  g_assert_cmpuint(f.media->bridge.sip_in_ssrc, ==, 0xA);
  /* a went silent (a NAT rebinding at call start): ten packets in a row from b move it. */
  for (int i = 0; i < 9; i++) send_from(&f, b, 0xB);
  g_assert_cmpint(latched_port(&f), ==, a_port);
  send_from(&f, b, 0xB);
  g_assert_cmpint(latched_port(&f), ==, b_port);
  g_assert_cmpuint(f.media->bridge.sip_in_ssrc, ==, 0xB);
  send_from(&f, a, 0xA); /* b talks now: a cannot take it back with one packet */
  g_assert_cmpint(latched_port(&f), ==, b_port);
  close(a), close(b);
  teardown(&f);
}

static void test_a_reinvite_to_a_new_address_latches_again(void) {
  fixture f;
  setup(&f, false, 100);
  int old_port, new_port;
  int old_src = peer("127.0.0.1", &old_port), new_src = peer("127.0.0.1", &new_port);
  rtp_leg_set_remote(f.media, "127.0.0.1", old_port, old_port + 1);
  send_from(&f, old_src, 0x1);
  g_usleep(150000);
  /* re-INVITE: the far end moved to new_port */
  rtp_leg_set_remote(f.media, "127.0.0.1", new_port, new_port + 1);
  g_assert_false(f.media->rtp.latched);
  unsigned dropped = f.media->rtp.foreign_dropped;
  send_from(&f, old_src, 0x1); /* a stale packet in flight: ignored, not counted */
  g_assert_false(f.media->rtp.latched);
  g_assert_cmpuint(f.media->rtp.foreign_dropped, ==, dropped);
  send_from(&f, new_src, 0x2);
  g_assert_true(f.media->rtp.latched);
  g_assert_cmpint(latched_port(&f), ==, new_port);
  g_assert_cmpuint(f.media->bridge.sip_in_ssrc, ==, 0x2);
  g_usleep(550000); /* past the new window and the half-second stale guard */
  send_from(&f, old_src, 0x1); /* the old stream: foreign now */
  g_assert_cmpuint(f.media->rtp.foreign_dropped, ==, dropped + 1);
  g_assert_cmpuint(f.media->bridge.sip_in_ssrc, ==, 0x2);
  close(old_src), close(new_src);
  teardown(&f);
}

static void test_latch_any_source_takes_another_host(void) {
  fixture f;
  setup(&f, true, 100);
  int sdp_port, nat_port;
  int nat = peer("127.0.0.2", &nat_port);
  close(peer("127.0.0.1", &sdp_port));
  rtp_leg_set_remote(f.media, "127.0.0.1", sdp_port, sdp_port + 1);
  send_from(&f, nat, 0x7);
  g_assert_true(f.media->rtp.latched);
  g_assert_cmpint(latched_port(&f), ==, nat_port);
  g_assert_cmpuint(f.media->bridge.sip_in_ssrc, ==, 0x7);
  close(nat);
  teardown(&f);
}

static const uint8_t key_a[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t salt_a[14] = {21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34};
static const uint8_t key_b[16] = {101, 102, 103, 104, 105, 106, 107, 108,
                                  109, 110, 111, 112, 113, 114, 115, 116};
static const uint8_t salt_b[14] = {121, 122, 123, 124, 125, 126, 127, 128, 129, 130, 131, 132, 133, 134};

static void test_sdes_leg_takes_only_srtp_and_sends_only_srtp(void) {
  g_assert_true(srtp_leg_global_init());
  fixture f;
  setup(&f, false, 100);
  int phone_port;
  int phone = peer("127.0.0.1", &phone_port);
  rtp_leg_set_remote(f.media, "127.0.0.1", phone_port, phone_port + 1);
  g_assert_true(rtp_leg_set_srtp(f.media, SRTP_AES128_CM_SHA1_80, key_a, salt_a, key_b, salt_b));
  /* The phone's end: sends with key_b, receives with key_a. */
  srtp_leg far = {0};
  g_assert_true(srtp_leg_start(&far, SRTP_AES128_CM_SHA1_80, key_b, salt_b, key_a, salt_a));

  send_from(&f, phone, 0x5); /* clear RTP: fails authentication, never latches */
  g_assert_false(f.media->rtp.latched);
  g_assert_cmpuint(f.media->rtp.srtp_failures, ==, 1);
  g_assert_cmpuint(f.media->bridge.sip_in_ssrc, ==, 0);

  uint8_t p[MEDIA_BUFFER_SIZE];
  int len = rtp_packet(p, 0x6, 77);
  g_assert_true(srtp_leg_protect(&far, p, &len, false));
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f.media->rtp.port)};
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  g_assert_cmpint(sendto(phone, p, (size_t)len, 0, (struct sockaddr *)&to, sizeof to), ==, len);
  pump(&f);
  g_assert_true(f.media->rtp.latched);
  g_assert_cmpuint(f.media->bridge.sip_in_ssrc, ==, 0x6);

  /* What we send is protected; the caller's buffer stays clear. */
  uint8_t out[MEDIA_BUFFER_SIZE], clear[MEDIA_BUFFER_SIZE];
  int n = rtp_packet(out, 0x9, 5);
  memcpy(clear, out, sizeof clear);
  rtp_leg_send(f.media, out, (size_t)n, false);
  g_assert_cmpmem(out, n, clear, n);
  uint8_t got[MEDIA_BUFFER_SIZE];
  ssize_t r = recv(phone, got, sizeof got, 0);
  g_assert_cmpint(r, ==, n + 10);
  int rn = (int)r;
  g_assert_true(srtp_leg_unprotect(&far, got, &rn, false));
  g_assert_cmpmem(got, rn, clear, n);
  srtp_leg_stop(&far);
  close(phone);
  teardown(&f);
}

static void test_srtp_required_sends_nothing_in_clear(void) {
  fixture f;
  setup(&f, false, 100);
  int phone_port;
  int phone = peer("127.0.0.1", &phone_port);
  rtp_leg_set_remote(f.media, "127.0.0.1", phone_port, phone_port + 1);
  f.media->rtp.srtp_required = true;
  uint8_t out[MEDIA_BUFFER_SIZE];
  int n = rtp_packet(out, 0x9, 5);
  rtp_leg_send(f.media, out, (size_t)n, false);
  uint8_t got[MEDIA_BUFFER_SIZE];
  g_usleep(3000);
  g_assert_cmpint(recv(phone, got, sizeof got, MSG_DONTWAIT), <, 0);
  send_from(&f, phone, 0x5);
  g_assert_false(f.media->rtp.latched);
  g_assert_cmpuint(f.media->bridge.sip_in_ssrc, ==, 0);
  close(phone);
  teardown(&f);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/rtp_leg/latch/sdp_host_only", test_latches_only_to_the_sdp_host_and_drops_the_rest);
  g_test_add_func("/rtp_leg/latch/silent_source_replaced",
                  test_inside_the_window_a_source_that_took_over_may_replace_a_silent_one);
  g_test_add_func("/rtp_leg/latch/reinvite", test_a_reinvite_to_a_new_address_latches_again);
  g_test_add_func("/rtp_leg/latch/any_source", test_latch_any_source_takes_another_host);
  g_test_add_func("/rtp_leg/srtp/sdes", test_sdes_leg_takes_only_srtp_and_sends_only_srtp);
  g_test_add_func("/rtp_leg/srtp/required", test_srtp_required_sends_nothing_in_clear);
  return g_test_run();
}
