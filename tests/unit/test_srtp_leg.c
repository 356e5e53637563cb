/* Unit tests for media/srtp.c: every suite the SIP leg may negotiate with SDES (and the browser
 * leg with DTLS) protects on one side and unprotects on the other, with the RFC's tag lengths,
 * and refuses a tampered packet. Two srtp_legs with mirrored keys stand for the two ends. */
#include <glib.h>
#include <string.h>

#include "media/media_internal.h"

static const uint8_t key_a[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t salt_a[14] = {21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34};
static const uint8_t key_b[16] = {101, 102, 103, 104, 105, 106, 107, 108,
                                  109, 110, 111, 112, 113, 114, 115, 116};
static const uint8_t salt_b[14] = {121, 122, 123, 124, 125, 126, 127, 128, 129, 130, 131, 132, 133, 134};

/* A PCMU packet: V=2, PT 0, seq 7, ts 160, SSRC 0x11223344, 160 bytes of payload. */
static int rtp_packet(uint8_t *p) {
  memset(p, 0, MEDIA_BUFFER_SIZE);
  const uint8_t header[12] = {0x80, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0xA0,
                              0x11, 0x22, 0x33, 0x44};
  memcpy(p, header, sizeof header);
  for (int i = 0; i < 160; i++) p[12 + i] = (uint8_t)(i * 3);
  return 172;
}

/* An empty receiver report from SSRC 0x11223344. */
static int rtcp_packet(uint8_t *p) {
  memset(p, 0, MEDIA_BUFFER_SIZE);
  const uint8_t rr[8] = {0x80, 201, 0x00, 0x01, 0x11, 0x22, 0x33, 0x44};
  memcpy(p, rr, sizeof rr);
  return 8;
}

static void round_trip(int profile, int rtp_tag_len) {
  g_assert_true(srtp_leg_global_init());
  srtp_leg a = {0}, b = {0};
  g_assert_true(srtp_leg_start(&a, profile, key_a, salt_a, key_b, salt_b));
  g_assert_true(srtp_leg_start(&b, profile, key_b, salt_b, key_a, salt_a));
  uint8_t sent[MEDIA_BUFFER_SIZE], wire[MEDIA_BUFFER_SIZE];
  int len = rtp_packet(sent), n = len;
  memcpy(wire, sent, sizeof wire);
  g_assert_true(srtp_leg_protect(&a, wire, &n, false));
  g_assert_cmpint(n, ==, len + rtp_tag_len);
  g_assert_cmpint(memcmp(wire + 12, sent + 12, 160), !=, 0); /* the payload is encrypted */
  uint8_t tampered[MEDIA_BUFFER_SIZE];
  memcpy(tampered, wire, sizeof tampered);
  tampered[40] ^= 1;
  int t = n;
  g_assert_false(srtp_leg_unprotect(&b, tampered, &t, false));
  uint8_t replay[MEDIA_BUFFER_SIZE];
  memcpy(replay, wire, sizeof replay);
  int r = n;
  g_assert_true(srtp_leg_unprotect(&b, wire, &n, false));
  g_assert_cmpint(n, ==, len);
  g_assert_cmpmem(wire, n, sent, len);
  /* A replay of the same packet is refused (replay window). */
  g_assert_false(srtp_leg_unprotect(&b, replay, &r, false));
  /* SRTCP the other way. */
  len = rtcp_packet(sent);
  n = len;
  memcpy(wire, sent, sizeof wire);
  g_assert_true(srtp_leg_protect(&b, wire, &n, true));
  g_assert_cmpint(n, >, len);
  g_assert_true(srtp_leg_unprotect(&a, wire, &n, true));
  g_assert_cmpmem(wire, n, sent, len);
  /* The wrong key cannot read it. */
  n = rtp_packet(wire);
  g_assert_true(srtp_leg_protect(&a, wire, &n, false));
  g_assert_false(srtp_leg_unprotect(&a, wire, &n, false));
  srtp_leg_stop(&a);
  srtp_leg_stop(&b);
}

static void test_aes_cm_sha1_80(void) { round_trip(SRTP_AES128_CM_SHA1_80, 10); }
static void test_aes_cm_sha1_32(void) { round_trip(SRTP_AES128_CM_SHA1_32, 4); }
static void test_aead_aes_128_gcm(void) { round_trip(SRTP_AEAD_AES_128_GCM, 16); }

static const uint8_t key_c[16] = {201, 202, 203, 204, 205, 206, 207, 208,
                                  209, 210, 211, 212, 213, 214, 215, 216};
static const uint8_t salt_c[14] = {221, 222, 223, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234};

/* A far end's receiving session, straight from libsrtp (AES_CM_128_HMAC_SHA1_80). */
static void far_end_key(srtp_t *session, bool update, const uint8_t *key, const uint8_t *salt) {
  srtp_policy_t policy;
  memset(&policy, 0, sizeof policy);
  srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
  srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
  unsigned char master[30];
  memcpy(master, key, 16);
  memcpy(master + 16, salt, 14);
  policy.ssrc.type = ssrc_any_inbound;
  policy.key = master;
  policy.window_size = 1024;
  g_assert_cmpint(update ? srtp_update(*session, &policy) : srtp_create(session, &policy), ==,
                  srtp_err_status_ok);
}

/* Our packet with sequence number seq, protected by leg; true when receiver accepts it. */
static bool deliver(srtp_leg *leg, srtp_t receiver, uint16_t seq) {
  uint8_t p[MEDIA_BUFFER_SIZE];
  int n = rtp_packet(p);
  p[2] = (uint8_t)(seq >> 8);
  p[3] = (uint8_t)seq;
  g_assert_true(srtp_leg_protect(leg, p, &n, false));
  return srtp_unprotect(receiver, p, &n) == srtp_err_status_ok;
}

/* A re-key (SDES: a re-INVITE with new a=crypto keys) keeps the rollover counter of a stream
 * that wrapped its sequence numbers: the far end, which updates its keys in place, still reads
 * us. Restarting the sessions would send ROC 0 again. */
static void test_rekey_keeps_the_rollover_counter(void) {
  g_assert_true(srtp_leg_global_init());
  srtp_leg ours = {0};
  srtp_t far_end = NULL, fresh = NULL;
  g_assert_true(srtp_leg_start(&ours, SRTP_AES128_CM_SHA1_80, key_a, salt_a, key_b, salt_b));
  g_assert_false(ours.rekeyed);
  far_end_key(&far_end, false, key_a, salt_a);
  for (uint16_t seq = 65530; seq != 5; seq++) g_assert_true(deliver(&ours, far_end, seq)); /* ROC 1 */

  g_assert_true(srtp_leg_start(&ours, SRTP_AES128_CM_SHA1_80, key_c, salt_c, key_b, salt_b));
  g_assert_true(ours.rekeyed);
  far_end_key(&far_end, true, key_c, salt_c);
  g_assert_true(deliver(&ours, far_end, 5));
  g_assert_true(deliver(&ours, far_end, 6));
  far_end_key(&fresh, false, key_c, salt_c); /* a receiver that starts at ROC 0 cannot */
  g_assert_false(deliver(&ours, fresh, 7));

  /* Another suite cannot be updated in place: fresh sessions. */
  g_assert_true(srtp_leg_start(&ours, SRTP_AEAD_AES_128_GCM, key_a, salt_a, key_b, salt_b));
  g_assert_false(ours.rekeyed);
  g_assert_cmpstr(ours.profile_name, ==, "SRTP_AEAD_AES_128_GCM");
  srtp_dealloc(far_end);
  srtp_dealloc(fresh);
  srtp_leg_stop(&ours);
}

static void test_unkeyed_leg_refuses_everything(void) {
  srtp_leg leg = {0};
  uint8_t p[MEDIA_BUFFER_SIZE];
  int n = rtp_packet(p);
  g_assert_false(srtp_leg_protect(&leg, p, &n, false));
  g_assert_false(srtp_leg_unprotect(&leg, p, &n, false));
  g_assert_false(srtp_leg_start(&leg, 0x7777, key_a, salt_a, key_b, salt_b));
  g_assert_false(leg.ready);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/srtp_leg/aes_cm_128_hmac_sha1_80", test_aes_cm_sha1_80);
  g_test_add_func("/srtp_leg/aes_cm_128_hmac_sha1_32", test_aes_cm_sha1_32);
  g_test_add_func("/srtp_leg/aead_aes_128_gcm", test_aead_aes_128_gcm);
  g_test_add_func("/srtp_leg/unkeyed", test_unkeyed_leg_refuses_everything);
  g_test_add_func("/srtp_leg/rekey_keeps_rollover_counter", test_rekey_keeps_the_rollover_counter);
  return g_test_run();
}
