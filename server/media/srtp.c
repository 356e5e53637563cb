/* srtp: the SRTP/SRTCP contexts of a leg (libsrtp2): the browser leg (keys from DTLS) and,
 * when the account uses SDES, the SIP leg (keys from a=crypto lines).
 *
 * Two sessions per leg: inbound (the peer's key, any inbound SSRC) and outbound (our key,
 * any outbound SSRC), for SRTP_AES128_CM_SHA1_80 or SRTP_AEAD_AES_128_GCM as DTLS negotiated,
 * and also SRTP_AES128_CM_SHA1_32 for SDES (AES_CM_128_HMAC_SHA1_32: 32-bit tag on SRTP, 80-bit
 * on SRTCP as RFC 4568 6.2.2 says). The profile ids are OpenSSL's (openssl/srtp.h).
 * Protect/unprotect work in place; the caller's buffer has room for SRTP_MAX_TRAILER_LEN more
 * bytes (MEDIA_BUFFER_SIZE). Keys are copied into libsrtp and wiped here; never logged.
 *
 * Threading: srtp_leg_global_init once (any thread, idempotent); the rest on the call's
 * worker. */
#include <openssl/crypto.h>
#include <string.h>

#include "media/media_internal.h"

bool srtp_leg_global_init(void) {
  static gsize once;
  static bool ok;
  if (g_once_init_enter(&once)) {
    ok = srtp_init() == srtp_err_status_ok;
    g_once_init_leave(&once, 1);
  }
  return ok;
}

static bool set_crypto(srtp_policy_t *policy, int profile_id) {
  if (profile_id == SRTP_AEAD_AES_128_GCM) {
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy->rtp);
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy->rtcp);
    return true;
  }
  if (profile_id == SRTP_AES128_CM_SHA1_80) {
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy->rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy->rtcp);
    return true;
  }
  if (profile_id == SRTP_AES128_CM_SHA1_32) {
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&policy->rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy->rtcp);
    return true;
  }
  return false;
}

/* Creates *session, or (update) re-keys the existing one: srtp_update keeps each stream's
 * rollover counter, which a re-key must not reset (RFC 4568 7.1.4: the far end's packet index
 * goes on across a new master key, so would ours have to). */
static bool key_session(srtp_t *session, bool update, int profile_id, const uint8_t *key,
                        const uint8_t *salt, srtp_ssrc_type_t direction) {
  srtp_policy_t policy;
  memset(&policy, 0, sizeof policy);
  if (!set_crypto(&policy, profile_id)) return false;
  size_t salt_len = profile_id == SRTP_AEAD_AES_128_GCM ? 12 : 14;
  unsigned char master[16 + 14];
  memcpy(master, key, 16);
  memcpy(master + 16, salt, salt_len);
  policy.ssrc.type = direction;
  policy.key = master;
  policy.window_size = 1024;
  policy.allow_repeat_tx = 1;
  bool ok = (update ? srtp_update(*session, &policy) : srtp_create(session, &policy)) ==
            srtp_err_status_ok;
  OPENSSL_cleanse(master, sizeof master);
  return ok;
}

static bool create_session(srtp_t *session, int profile_id, const uint8_t *key,
                           const uint8_t *salt, srtp_ssrc_type_t direction) {
  return key_session(session, false, profile_id, key, salt, direction);
}

static void name_profile(srtp_leg *leg, int profile_id) {
  leg->profile_id = profile_id;
  leg->profile_name = profile_id == SRTP_AEAD_AES_128_GCM   ? "SRTP_AEAD_AES_128_GCM"
                     : profile_id == SRTP_AES128_CM_SHA1_32 ? "SRTP_AES128_CM_SHA1_32"
                                                            : "SRTP_AES128_CM_SHA1_80";
}

/* New keys, same suite, on a running leg: both sessions keep their streams' packet indexes. */
static bool rekey(srtp_leg *leg, int profile_id, const uint8_t *local_key,
                  const uint8_t *local_salt, const uint8_t *remote_key,
                  const uint8_t *remote_salt) {
  return leg->ready && leg->profile_id == profile_id &&
         key_session(&leg->outbound, true, profile_id, local_key, local_salt,
                     ssrc_any_outbound) &&
         key_session(&leg->inbound, true, profile_id, remote_key, remote_salt, ssrc_any_inbound);
}

bool srtp_leg_start(srtp_leg *leg, int profile_id, const uint8_t *local_key,
                    const uint8_t *local_salt, const uint8_t *remote_key,
                    const uint8_t *remote_salt) {
  if (rekey(leg, profile_id, local_key, local_salt, remote_key, remote_salt)) {
    leg->rekeyed = true;
    return true;
  }
  /* First keys, another suite, or libsrtp refused the update: sessions anew. */
  leg->rekeyed = false;
  srtp_leg_stop(leg);
  if (!create_session(&leg->outbound, profile_id, local_key, local_salt, ssrc_any_outbound) ||
      !create_session(&leg->inbound, profile_id, remote_key, remote_salt, ssrc_any_inbound)) {
    srtp_leg_stop(leg);
    return false;
  }
  name_profile(leg, profile_id);
  leg->ready = true;
  return true;
}

bool srtp_leg_protect(srtp_leg *leg, uint8_t *data, int *len, bool rtcp) {
  if (!leg->ready) return false;
  srtp_err_status_t rc =
      rtcp ? srtp_protect_rtcp(leg->outbound, data, len) : srtp_protect(leg->outbound, data, len);
  return rc == srtp_err_status_ok;
}

bool srtp_leg_unprotect(srtp_leg *leg, uint8_t *data, int *len, bool rtcp) {
  if (!leg->ready) return false;
  srtp_err_status_t rc = rtcp ? srtp_unprotect_rtcp(leg->inbound, data, len)
                              : srtp_unprotect(leg->inbound, data, len);
  return rc == srtp_err_status_ok;
}

void srtp_leg_stop(srtp_leg *leg) {
  if (leg->inbound) srtp_dealloc(leg->inbound);
  if (leg->outbound) srtp_dealloc(leg->outbound);
  leg->inbound = NULL;
  leg->outbound = NULL;
  leg->ready = false;
}
