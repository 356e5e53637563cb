/* sdes: see sdes.h. */
#include "signal/sdes.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Our offer's suites, in our order of preference: the 80-bit tag first (what every SDES peer
 * speaks), GCM (cheaper per packet in libsrtp, RFC 7714), the 32-bit tag last. */
static const sdp_srtp_suite offer_order[CALL_SDES_OFFERED_MAX] = {
    SDP_SRTP_AES_CM_128_HMAC_SHA1_80, SDP_SRTP_AEAD_AES_128_GCM,
    SDP_SRTP_AES_CM_128_HMAC_SHA1_32};

void call_sdes_init(call_sdes *sdes, config_srtp mode) {
  memset(sdes, 0, sizeof *sdes);
  sdes->mode = mode;
  sdes->proto = "RTP/AVP";
}

void call_sdes_clear(call_sdes *sdes) {
  config_srtp mode = sdes->mode;
  OPENSSL_cleanse(sdes, sizeof *sdes);
  call_sdes_init(sdes, mode);
}

static bool make_key(sdp_crypto *out, int tag, sdp_srtp_suite suite) {
  memset(out, 0, sizeof *out);
  out->tag = tag;
  out->suite = suite;
  return RAND_bytes(out->key, sizeof out->key) == 1 &&
         RAND_bytes(out->salt, (int)sdp_srtp_salt_len(suite)) == 1;
}

static media_sdes_suite media_suite(sdp_srtp_suite suite) {
  return suite == SDP_SRTP_AEAD_AES_128_GCM          ? MEDIA_SDES_AEAD_AES_128_GCM
         : suite == SDP_SRTP_AES_CM_128_HMAC_SHA1_32 ? MEDIA_SDES_AES_CM_128_HMAC_SHA1_32
                                                     : MEDIA_SDES_AES_CM_128_HMAC_SHA1_80;
}

static void fill_keys(const call_sdes *sdes, media_sdes *keys) {
  memset(keys, 0, sizeof *keys);
  keys->suite = media_suite(sdes->local.suite);
  memcpy(keys->local_key, sdes->local.key, sizeof keys->local_key);
  memcpy(keys->local_salt, sdes->local.salt, sizeof keys->local_salt);
  memcpy(keys->remote_key, sdes->remote.key, sizeof keys->remote_key);
  memcpy(keys->remote_salt, sdes->remote.salt, sizeof keys->remote_salt);
}

static bool is_savp(const sdp_media *audio) { return strncmp(audio->proto, "RTP/SAVP", 8) == 0; }

bool call_sdes_secure_offer(call_sdes *sdes, char **plain, char *err, size_t err_len) {
  if (sdes->mode == CONFIG_SRTP_OFF) return true;
  sdes->offered_count = 0;
  for (size_t i = 0; i < CALL_SDES_OFFERED_MAX; i++) {
    if (!make_key(&sdes->offered[i], (int)i + 1, offer_order[i])) {
      snprintf(err, err_len, "no random bytes for SRTP keys");
      return false;
    }
    sdes->offered_count++;
  }
  const char *proto = sdes->mode == CONFIG_SRTP_MANDATORY ? "RTP/SAVP" : "RTP/AVP";
  char *secured = NULL;
  if (!sdp_plain_secure(*plain, proto, sdes->offered, sdes->offered_count, &secured, err,
                        err_len))
    return false;
  free(*plain);
  *plain = secured;
  return true;
}

bool call_sdes_on_answer(call_sdes *sdes, const sdp_session *answer, media_sdes *keys_out,
                         bool *keyed, char *err, size_t err_len) {
  *keyed = false;
  const sdp_media *audio = sdp_audio(answer);
  if (!audio) return true; /* the translation explains what is wrong with it */
  for (size_t i = 0; i < sdes->offered_count; i++) {
    sdp_crypto theirs;
    if (!sdp_crypto_find(audio, sdes->offered[i].tag, sdes->offered[i].suite, &theirs)) continue;
    sdes->local = sdes->offered[i];
    sdes->remote = theirs;
    OPENSSL_cleanse(&theirs, sizeof theirs);
    sdes->active = true;
    sdes->proto = is_savp(audio) ? "RTP/SAVP" : "RTP/AVP";
    fill_keys(sdes, keys_out);
    *keyed = true;
    return true;
  }
  /* Keys agreed in a 183 and a clear 200: the media leg is keyed and will not fall back. */
  if (sdes->mode == CONFIG_SRTP_MANDATORY || is_savp(audio) || sdes->active) {
    snprintf(err, err_len, "the far end answered %s without a usable a=crypto (%s)",
             audio->proto,
             sdes->mode == CONFIG_SRTP_MANDATORY ? "the account requires SRTP"
             : sdes->mode == CONFIG_SRTP_OFF     ? "the account has srtp = off"
             : sdes->active                      ? "its early media was SRTP"
                                                 : "no key of ours was taken");
    return false;
  }
  sdes->active = false;
  sdes->proto = "RTP/AVP";
  return true; /* optional: clear RTP */
}

bool call_sdes_on_offer(call_sdes *sdes, const sdp_session *offer, media_sdes *keys_out,
                        bool *keyed, char *err, size_t err_len) {
  *keyed = false;
  const sdp_media *audio = sdp_audio(offer);
  if (!audio) return true;
  bool savp = is_savp(audio);
  if (sdes->mode == CONFIG_SRTP_OFF) {
    if (!savp) return true; /* a=crypto in an RTP/AVP offer: answered in clear */
    snprintf(err, err_len, "the far end offers %s but the account has srtp = off", audio->proto);
    return false;
  }
  sdp_crypto theirs;
  if (!sdp_crypto_pick(audio, &theirs)) {
    if (!savp && sdes->mode == CONFIG_SRTP_OPTIONAL) return true;
    snprintf(err, err_len, "the far end offers %s without a usable a=crypto%s", audio->proto,
             sdes->mode == CONFIG_SRTP_MANDATORY ? " (the account requires SRTP)" : "");
    return false;
  }
  if (!make_key(&sdes->local, theirs.tag, theirs.suite)) {
    OPENSSL_cleanse(&theirs, sizeof theirs);
    snprintf(err, err_len, "no random bytes for SRTP keys");
    return false;
  }
  sdes->remote = theirs;
  OPENSSL_cleanse(&theirs, sizeof theirs);
  sdes->active = true;
  sdes->proto = savp ? "RTP/SAVP" : "RTP/AVP";
  fill_keys(sdes, keys_out);
  *keyed = true;
  return true;
}

bool call_sdes_on_update(call_sdes *sdes, const sdp_session *sdp, media_sdes *keys_out) {
  const sdp_media *audio = sdp ? sdp_audio(sdp) : NULL;
  sdp_crypto theirs;
  if (!sdes->active || !audio ||
      !sdp_crypto_find(audio, sdes->local.tag, sdes->local.suite, &theirs))
    return false;
  bool changed = CRYPTO_memcmp(theirs.key, sdes->remote.key, sizeof theirs.key) != 0 ||
                 CRYPTO_memcmp(theirs.salt, sdes->remote.salt, sizeof theirs.salt) != 0;
  if (changed) {
    sdes->remote = theirs;
    fill_keys(sdes, keys_out);
  }
  OPENSSL_cleanse(&theirs, sizeof theirs);
  return changed;
}

bool call_sdes_secure(const call_sdes *sdes, char **plain, char *err, size_t err_len) {
  if (!sdes->active && sdes->offered_count == 0) return true;
  char *secured = NULL;
  if (!sdp_plain_secure(*plain, sdes->proto, sdes->active ? &sdes->local : NULL,
                        sdes->active ? 1 : 0, &secured, err, err_len))
    return false;
  free(*plain);
  *plain = secured;
  return true;
}

const char *call_sdes_suite_name(const call_sdes *sdes) {
  return sdes->active ? sdp_srtp_suite_name(sdes->local.suite) : NULL;
}
