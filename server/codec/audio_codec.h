/* audio_codec: one decoder or one encoder of the codecs tabphone transcodes between, all
 * working on 20 ms frames of 16-bit mono PCM at a sampling rate the caller picks.
 *
 *   PCMU, PCMA  our own tables (g711.c); 8 kHz only; concealment by plc.c (pitch-period
 *               repetition with fade-out, ITU-T G.711 Appendix I style).
 *   G722        spandsp (libspandsp-dev): G.722 at 64 kbit/s, PCM at 16 kHz, or at 8 kHz when
 *               the other leg is G.711 (spandsp then filters internally, so no resampler of our
 *               own is needed). Concealment: plc.c on the decoded PCM. Why spandsp: it is a
 *               small, long-maintained C telephony library in Debian (used by FreeSWITCH and
 *               Asterisk), and works on caller-owned state without threads or globals;
 *               libavcodec would pull a large multimedia stack in for one codec. (Its G.711 PLC
 *               is not used: see plc.h.)
 *   Opus        libopus; encodes and decodes at 8, 16 or 48 kHz directly (RTP clock 48000
 *               whatever the audio bandwidth). Concealment: in-band FEC from the next packet
 *               when the jitter buffer has it, else libopus PLC. Our encoder sends FEC
 *               (OPUS_SET_INBAND_FEC, 10 % expected loss) and optionally DTX.
 *
 * Threading: one object is used by one thread at a time (the call's media worker); none has
 * global state. Ownership: *_new allocates everything the object will ever use (the calls
 * below allocate nothing); *_free releases it. */
#ifndef TABPHONE_CODEC_AUDIO_CODEC_H
#define TABPHONE_CODEC_AUDIO_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum audio_codec_id {
  AUDIO_CODEC_NONE,
  AUDIO_CODEC_OPUS,
  AUDIO_CODEC_PCMU,
  AUDIO_CODEC_PCMA,
  AUDIO_CODEC_G722,
} audio_codec_id;

enum {
  AUDIO_FRAME_MS = 20,
  AUDIO_MAX_RATE = 48000,
  AUDIO_MAX_FRAME = AUDIO_MAX_RATE / 1000 * 120, /* the longest Opus packet: 120 ms at 48 kHz */
  AUDIO_MAX_PAYLOAD = 1275,                      /* the largest Opus frame (RFC 6716) */
};

/* "opus", "pcmu", "pcma", "g722" (any case) -> id; anything else AUDIO_CODEC_NONE. */
audio_codec_id audio_codec_named(const char *name);
const char *audio_codec_name(audio_codec_id id);
/* The RTP clock rate of the codec's payload (48000 for Opus, 8000 for the others). */
int audio_codec_rtp_clock(audio_codec_id id);
/* The rate the codec natively samples at (48000, 8000, 8000, 16000). */
int audio_codec_native_rate(audio_codec_id id);
/* The PCM rate two legs should meet at: the lower native rate (Opus adapts to the other). */
int audio_codec_meeting_rate(audio_codec_id a, audio_codec_id b);

typedef struct audio_decoder audio_decoder;
typedef struct audio_encoder audio_encoder;

/* pcm_rate: 8000/16000/48000 for Opus, 8000 for G.711, 8000 or 16000 for G.722. */
audio_decoder *audio_decoder_new(audio_codec_id id, int pcm_rate, char *err, size_t err_len);
void audio_decoder_free(audio_decoder *dec);
/* Decodes one payload into pcm (room for AUDIO_MAX_FRAME samples). Returns the number of
 * samples, or -1 for a payload the codec refuses. */
int audio_decoder_decode(audio_decoder *dec, const uint8_t *payload, size_t len, int16_t *pcm);
/* Makes up `samples` samples for a lost packet. next/next_len: the packet after the lost one
 * when it is already here (Opus then decodes its FEC), else NULL. Returns samples. */
int audio_decoder_conceal(audio_decoder *dec, const uint8_t *next, size_t next_len,
                          int16_t *pcm, int samples);
/* The number of RTP clock ticks a payload covers (Opus: from its TOC; others: bytes), or -1. */
int audio_payload_duration(audio_codec_id id, const uint8_t *payload, size_t len);

typedef struct audio_encoder_options {
  int complexity;   /* Opus 0-10 */
  bool fec;         /* Opus in-band FEC */
  bool dtx;         /* Opus discontinuous transmission */
  int bitrate;      /* Opus bits per second, 0 = libopus's choice for the rate */
} audio_encoder_options;

audio_encoder *audio_encoder_new(audio_codec_id id, int pcm_rate,
                                 const audio_encoder_options *options, char *err, size_t err_len);
void audio_encoder_free(audio_encoder *enc);
/* Encodes one 20 ms frame (pcm_rate / 50 samples). Returns the payload length (Opus DTX may
 * return 1-2 bytes or 0 = nothing worth sending), or -1 on error. out: AUDIO_MAX_PAYLOAD. */
int audio_encoder_encode(audio_encoder *enc, const int16_t *pcm, uint8_t *out, size_t out_len);

#endif
