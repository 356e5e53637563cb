/* fuzz_transcoder: libFuzzer target for codec/transcoder.c and what it feeds: the jitter
 * buffer, the Opus / G.711 / G.722 decoders, concealment and telephone-event rescaling. On a
 * transcoded call every RTP payload from the SIP side (unauthenticated) and from the browser
 * goes through here.
 *
 * Input: byte 0 picks the codec pair and direction; then records, one RTP packet each:
 *   flags (bit 0 marker, bits 1-2: 0/1 audio pt, 2 telephone-event pt, 3 another pt),
 *   sequence step (signed byte: reordering, duplicates and gaps), timestamp step (2 bytes,
 *   signed), SSRC change (bit 3 of flags), payload length (1 byte, times 8 for bit 4 of flags)
 *   and the payload bytes.
 * Checks on every packet the transcoder sends: a valid RTP header of at least 12 bytes, our
 * SSRC, one of the out leg's payload types, a payload that fits AUDIO_MAX_PAYLOAD, and
 * sequence numbers that go up by exactly one.
 *
 * Every input gets a new transcoder with new Opus states, but those states are copies of one
 * made by libopus at the first use (opus_*_create is wrapped at link time): libopus probes the
 * CPU (CPUID, a trap to the hypervisor in a VM) on every create, which was a fifth of this
 * target's time. The Opus API documents its states as one contiguous block that a shallow copy
 * duplicates, and creation depends only on the arguments, so a copy is exactly what a create
 * would return; it is still a separate allocation per input, freed by opus_*_destroy as usual. */
#include <opus/opus.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/transcoder.h"

/* ---- Opus states created once, copied per input -------------------------------------------- */

typedef struct pristine {
  bool encoder;
  opus_int32 fs;
  int channels, application;
  size_t size;
  void *state;
} pristine;

enum { MAX_PRISTINE = 16 };
static pristine pristines[MAX_PRISTINE];
static int pristine_count;

static void *copy_of(bool encoder, opus_int32 fs, int channels, int application) {
  for (int i = 0; i < pristine_count; i++) {
    const pristine *p = &pristines[i];
    if (p->encoder == encoder && p->fs == fs && p->channels == channels &&
        p->application == application) {
      void *st = malloc(p->size);
      if (st) memcpy(st, p->state, p->size);
      return st;
    }
  }
  return NULL;
}

static void keep_pristine(bool encoder, opus_int32 fs, int channels, int application,
                          const void *st, int size) {
  if (!st || size <= 0 || pristine_count == MAX_PRISTINE) return;
  void *copy = malloc((size_t)size);
  if (!copy) return;
  memcpy(copy, st, (size_t)size);
  pristines[pristine_count++] = (pristine){encoder, fs, channels, application, (size_t)size, copy};
}

OpusEncoder *__real_opus_encoder_create(opus_int32 fs, int channels, int application, int *error);
OpusEncoder *__wrap_opus_encoder_create(opus_int32 fs, int channels, int application, int *error);
OpusEncoder *__wrap_opus_encoder_create(opus_int32 fs, int channels, int application, int *error) {
  OpusEncoder *st = copy_of(true, fs, channels, application);
  if (st) {
    if (error) *error = OPUS_OK;
    return st;
  }
  st = __real_opus_encoder_create(fs, channels, application, error);
  keep_pristine(true, fs, channels, application, st, opus_encoder_get_size(channels));
  return st;
}

OpusDecoder *__real_opus_decoder_create(opus_int32 fs, int channels, int *error);
OpusDecoder *__wrap_opus_decoder_create(opus_int32 fs, int channels, int *error);
OpusDecoder *__wrap_opus_decoder_create(opus_int32 fs, int channels, int *error) {
  OpusDecoder *st = copy_of(false, fs, channels, 0);
  if (st) {
    if (error) *error = OPUS_OK;
    return st;
  }
  st = __real_opus_decoder_create(fs, channels, error);
  keep_pristine(false, fs, channels, 0, st, opus_decoder_get_size(channels));
  return st;
}

/* ---- one input ------------------------------------------------------------------------------ */

typedef struct pair {
  audio_codec_id in, out;
} pair;

static const pair pairs[] = {
  {AUDIO_CODEC_OPUS, AUDIO_CODEC_PCMU}, {AUDIO_CODEC_PCMU, AUDIO_CODEC_OPUS},
  {AUDIO_CODEC_OPUS, AUDIO_CODEC_PCMA}, {AUDIO_CODEC_PCMA, AUDIO_CODEC_OPUS},
  {AUDIO_CODEC_OPUS, AUDIO_CODEC_G722}, {AUDIO_CODEC_G722, AUDIO_CODEC_OPUS},
  {AUDIO_CODEC_PCMU, AUDIO_CODEC_G722}, {AUDIO_CODEC_G722, AUDIO_CODEC_PCMU},
  {AUDIO_CODEC_PCMU, AUDIO_CODEC_PCMA},
};

enum { OUT_SSRC = 0x5eed1234u, IN_PT = 96, IN_DTMF_PT = 101, OUT_PT = 111, OUT_DTMF_PT = 126 };

typedef struct sink {
  bool have_seq;
  uint16_t last_seq;
  bool out_has_dtmf;
} sink;

static void on_output(void *user_data, uint8_t *data, size_t len) {
  sink *s = user_data;
  if (len < 12 || len > 12 + AUDIO_MAX_PAYLOAD) abort();
  if ((data[0] >> 6) != 2) abort();
  uint8_t pt = data[1] & 0x7f;
  if (pt != OUT_PT && !(s->out_has_dtmf && pt == OUT_DTMF_PT)) abort();
  uint32_t ssrc = (uint32_t)data[8] << 24 | (uint32_t)data[9] << 16 | (uint32_t)data[10] << 8 |
                  data[11];
  if (ssrc != OUT_SSRC) abort();
  uint16_t seq = (uint16_t)(data[2] << 8 | data[3]);
  if (s->have_seq && seq != (uint16_t)(s->last_seq + 1)) abort();
  s->have_seq = true;
  s->last_seq = seq;
  data[len - 1] ^= 0x55; /* the callee may modify the packet in place (SRTP does) */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const pair *p = &pairs[data[0] % (sizeof pairs / sizeof pairs[0])];
  bool out_dtmf = (data[0] / 16) % 2 == 0;
  transcoder_config cfg = {
    .in = {p->in, IN_PT, IN_DTMF_PT},
    .out = {p->out, OUT_PT, out_dtmf ? OUT_DTMF_PT : -1},
    .ssrc = OUT_SSRC,
    .first_seq = 65530, /* wraps early */
    .first_ts = 0xfffff000u,
    .opus = {.complexity = 0, .fec = true, .dtx = (data[0] & 0x80) != 0, .bitrate = 0},
  };
  sink s = {.out_has_dtmf = out_dtmf};
  char err[160];
  transcoder *t = transcoder_new(&cfg, on_output, &s, err, sizeof err);
  if (!t) abort(); /* every pair above is supported */

  size_t pos = 1;
  uint16_t seq = 1000;
  uint32_t ts = 50000, ssrc = 0xabcdef01u;
  static const uint8_t other_pts[4] = {IN_PT, IN_PT, IN_DTMF_PT, 0};
  while (pos + 5 <= size) {
    uint8_t flags = data[pos];
    int8_t seq_step = (int8_t)data[pos + 1];
    int16_t ts_step = (int16_t)(data[pos + 2] << 8 | data[pos + 3]);
    size_t len = data[pos + 4];
    pos += 5;
    if (flags & 0x10) len *= 8;
    if (len > size - pos) len = size - pos;
    seq = (uint16_t)(seq + seq_step);
    ts += (uint32_t)(int32_t)ts_step;
    if (flags & 0x08) ssrc ^= 0x01010101u;
    uint8_t pt = other_pts[(flags >> 1) & 3];
    if (pt == 0) pt = (uint8_t)(flags ^ data[pos - 1]) & 0x7f;
    transcoder_input in = {
      .pt = pt, .marker = flags & 1, .seq = seq, .ts = ts, .ssrc = ssrc,
      .payload = data + pos, .len = len,
    };
    if (transcoder_push(t, &in) < 0) abort();
    pos += len;
  }
  transcoder_stats stats;
  transcoder_get_stats(t, &stats);
  if (s.have_seq && stats.last_seq != s.last_seq) abort();
  transcoder_free(t);
  return 0;
}
