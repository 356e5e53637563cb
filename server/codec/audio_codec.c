/* audio_codec: the per-codec encoders and decoders behind one small interface (see the header
 * for which library does what and why). Every decoder keeps the last good PCM flowing into its
 * concealment state (plc.c for G.711/G.722, libopus's own for Opus), so a lost packet is
 * bridged by a continuation of the signal rather than by silence. */
#include "codec/audio_codec.h"

#include <glib.h>
#include <opus/opus.h>
#include <spandsp/telephony.h>
#include <spandsp/g722.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "codec/g711.h"
#include "codec/plc.h"

struct audio_decoder {
  audio_codec_id id;
  int rate;
  OpusDecoder *opus;
  g722_decode_state_t *g722;
  audio_plc plc;         /* G.711 and G.722 */
};

struct audio_encoder {
  audio_codec_id id;
  int rate;
  OpusEncoder *opus;
  g722_encode_state_t *g722;
};

typedef struct codec_info {
  audio_codec_id id;
  const char *name;
  int rtp_clock;
  int native_rate;
} codec_info;

static const codec_info infos[] = {
    {AUDIO_CODEC_OPUS, "opus", 48000, 48000},
    {AUDIO_CODEC_PCMU, "pcmu", 8000, 8000},
    {AUDIO_CODEC_PCMA, "pcma", 8000, 8000},
    {AUDIO_CODEC_G722, "g722", 8000, 16000},
};

static const codec_info *info_of(audio_codec_id id) {
  for (size_t i = 0; i < sizeof infos / sizeof infos[0]; i++)
    if (infos[i].id == id) return &infos[i];
  return NULL;
}

audio_codec_id audio_codec_named(const char *name) {
  for (size_t i = 0; name && i < sizeof infos / sizeof infos[0]; i++)
    if (strcasecmp(name, infos[i].name) == 0) return infos[i].id;
  return AUDIO_CODEC_NONE;
}

const char *audio_codec_name(audio_codec_id id) {
  const codec_info *i = info_of(id);
  return i ? i->name : "none";
}

int audio_codec_rtp_clock(audio_codec_id id) {
  const codec_info *i = info_of(id);
  return i ? i->rtp_clock : 0;
}

int audio_codec_native_rate(audio_codec_id id) {
  const codec_info *i = info_of(id);
  return i ? i->native_rate : 0;
}

int audio_codec_meeting_rate(audio_codec_id a, audio_codec_id b) {
  int ra = audio_codec_native_rate(a), rb = audio_codec_native_rate(b);
  return ra < rb ? ra : rb;
}

static bool rate_ok(audio_codec_id id, int rate, char *err, size_t err_len) {
  bool ok = false;
  switch (id) {
  case AUDIO_CODEC_OPUS: ok = rate == 8000 || rate == 16000 || rate == 48000; break;
  case AUDIO_CODEC_PCMU:
  case AUDIO_CODEC_PCMA: ok = rate == 8000; break;
  case AUDIO_CODEC_G722: ok = rate == 8000 || rate == 16000; break;
  default: break;
  }
  if (!ok) snprintf(err, err_len, "%s cannot run at %d Hz", audio_codec_name(id), rate);
  return ok;
}

/* ---- decoders ---- */

audio_decoder *audio_decoder_new(audio_codec_id id, int pcm_rate, char *err, size_t err_len) {
  if (!rate_ok(id, pcm_rate, err, err_len)) return NULL;
  audio_decoder *dec = g_new0(audio_decoder, 1);
  dec->id = id;
  dec->rate = pcm_rate;
  int rc = OPUS_OK;
  if (id == AUDIO_CODEC_OPUS) dec->opus = opus_decoder_create(pcm_rate, 1, &rc);
  if (id == AUDIO_CODEC_G722)
    dec->g722 = g722_decode_init(NULL, 64000, pcm_rate == 8000 ? G722_SAMPLE_RATE_8000 : 0);
  if (id != AUDIO_CODEC_OPUS) audio_plc_init(&dec->plc, pcm_rate);
  if ((id == AUDIO_CODEC_OPUS && !dec->opus) || (id == AUDIO_CODEC_G722 && !dec->g722)) {
    snprintf(err, err_len, "%s decoder: %s", audio_codec_name(id),
             rc != OPUS_OK ? opus_strerror(rc) : "out of memory");
    audio_decoder_free(dec);
    return NULL;
  }
  return dec;
}

void audio_decoder_free(audio_decoder *dec) {
  if (!dec) return;
  if (dec->opus) opus_decoder_destroy(dec->opus);
  if (dec->g722) g722_decode_free(dec->g722);
  g_free(dec);
}

int audio_payload_duration(audio_codec_id id, const uint8_t *payload, size_t len) {
  if (len == 0) return -1;
  switch (id) {
  case AUDIO_CODEC_OPUS: {
    int n = opus_packet_get_nb_samples(payload, (opus_int32)len, 48000);
    return n > 0 && n <= AUDIO_MAX_FRAME ? n : -1;
  }
  case AUDIO_CODEC_PCMU:
  case AUDIO_CODEC_PCMA:
  case AUDIO_CODEC_G722: /* 4 bits per 16 kHz sample = one byte per 8 kHz clock tick */
    return len <= AUDIO_MAX_FRAME / 6 ? (int)len : -1;
  default: return -1;
  }
}

int audio_decoder_decode(audio_decoder *dec, const uint8_t *payload, size_t len, int16_t *pcm) {
  int n = -1;
  size_t max_bytes = (size_t)AUDIO_MAX_FRAME * (size_t)dec->rate / 48000;
  switch (dec->id) {
  case AUDIO_CODEC_OPUS:
    n = opus_decode(dec->opus, payload, (opus_int32)len, pcm, AUDIO_MAX_FRAME * dec->rate / 48000,
                    0);
    return n > 0 ? n : -1;
  case AUDIO_CODEC_PCMU:
  case AUDIO_CODEC_PCMA:
    if (len == 0 || len > max_bytes) return -1;
    if (dec->id == AUDIO_CODEC_PCMU) g711_ulaw_decode_frame(payload, pcm, len);
    else g711_alaw_decode_frame(payload, pcm, len);
    n = (int)len;
    break;
  case AUDIO_CODEC_G722:
    if (len == 0 || len * (size_t)(dec->rate / 8000) > max_bytes) return -1;
    n = g722_decode(dec->g722, pcm, payload, (int)len);
    break;
  default: return -1;
  }
  audio_plc_good(&dec->plc, pcm, n);
  return n;
}

int audio_decoder_conceal(audio_decoder *dec, const uint8_t *next, size_t next_len,
                          int16_t *pcm, int samples) {
  if (samples <= 0) return 0;
  if (samples > AUDIO_MAX_FRAME) samples = AUDIO_MAX_FRAME;
  if (dec->id != AUDIO_CODEC_OPUS) return audio_plc_conceal(&dec->plc, pcm, samples);
  /* Opus wants a multiple of 2.5 ms; our frames are 20 ms so this only trims oddities. */
  int quantum = dec->rate / 400;
  samples -= samples % quantum;
  int n = -1;
  if (next && next_len > 0) n = opus_decode(dec->opus, next, (opus_int32)next_len, pcm, samples, 1);
  if (n <= 0) n = opus_decode(dec->opus, NULL, 0, pcm, samples, 0);
  if (n <= 0) {
    memset(pcm, 0, (size_t)samples * sizeof *pcm);
    n = samples;
  }
  return n;
}

/* ---- encoders ---- */

static bool opus_configure(OpusEncoder *enc, const audio_encoder_options *o) {
  int complexity = o && o->complexity >= 0 && o->complexity <= 10 ? o->complexity : 5;
  bool ok = opus_encoder_ctl(enc, OPUS_SET_COMPLEXITY(complexity)) == OPUS_OK;
  ok = ok && opus_encoder_ctl(enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE)) == OPUS_OK;
  ok = ok && opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(o && o->fec ? 1 : 0)) == OPUS_OK;
  ok = ok && opus_encoder_ctl(enc, OPUS_SET_PACKET_LOSS_PERC(o && o->fec ? 10 : 0)) == OPUS_OK;
  ok = ok && opus_encoder_ctl(enc, OPUS_SET_DTX(o && o->dtx ? 1 : 0)) == OPUS_OK;
  if (o && o->bitrate > 0)
    ok = ok && opus_encoder_ctl(enc, OPUS_SET_BITRATE(o->bitrate)) == OPUS_OK;
  return ok;
}

audio_encoder *audio_encoder_new(audio_codec_id id, int pcm_rate,
                                 const audio_encoder_options *options, char *err, size_t err_len) {
  if (!rate_ok(id, pcm_rate, err, err_len)) return NULL;
  audio_encoder *enc = g_new0(audio_encoder, 1);
  enc->id = id;
  enc->rate = pcm_rate;
  int rc = OPUS_OK;
  bool ok = true;
  if (id == AUDIO_CODEC_OPUS) {
    enc->opus = opus_encoder_create(pcm_rate, 1, OPUS_APPLICATION_VOIP, &rc);
    ok = enc->opus && opus_configure(enc->opus, options);
  }
  if (id == AUDIO_CODEC_G722) {
    enc->g722 = g722_encode_init(NULL, 64000, pcm_rate == 8000 ? G722_SAMPLE_RATE_8000 : 0);
    ok = enc->g722 != NULL;
  }
  if (!ok) {
    snprintf(err, err_len, "%s encoder: %s", audio_codec_name(id),
             rc != OPUS_OK ? opus_strerror(rc) : "setup failed");
    audio_encoder_free(enc);
    return NULL;
  }
  return enc;
}

void audio_encoder_free(audio_encoder *enc) {
  if (!enc) return;
  if (enc->opus) opus_encoder_destroy(enc->opus);
  if (enc->g722) g722_encode_free(enc->g722);
  g_free(enc);
}

int audio_encoder_encode(audio_encoder *enc, const int16_t *pcm, uint8_t *out, size_t out_len) {
  int samples = enc->rate / 50;
  switch (enc->id) {
  case AUDIO_CODEC_OPUS: {
    opus_int32 n = opus_encode(enc->opus, pcm, samples, out, (opus_int32)out_len);
    return n < 0 ? -1 : (int)n;
  }
  case AUDIO_CODEC_PCMU:
  case AUDIO_CODEC_PCMA:
    if (out_len < (size_t)samples) return -1;
    if (enc->id == AUDIO_CODEC_PCMU) g711_ulaw_encode_frame(pcm, out, (size_t)samples);
    else g711_alaw_encode_frame(pcm, out, (size_t)samples);
    return samples;
  case AUDIO_CODEC_G722:
    if (out_len < 160) return -1;
    return g722_encode(enc->g722, out, pcm, samples);
  default: return -1;
  }
}
