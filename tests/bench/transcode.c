/* transcode: CPU cost of transcoding, per pair and Opus complexity, on real speech.
 *
 *   transcode SPEECH.wav [seconds]
 *
 * SPEECH.wav: 16-bit mono PCM at any rate (scripts/bench-transcode renders one with espeak-ng).
 * For each pair A <-> B the speech is first encoded with A and with B at their own rates (not
 * timed), looped to `seconds` (default 60), then both transcoders of a call (A -> B and
 * B -> A, as the bridge runs them) process it: the CPU time of that is the cost of one
 * transcoded call of that length. Prints CPU ms per call-minute and calls per core (60 s of
 * CPU / cost). Figures only: no pass/fail. */
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/audio_codec.h"
#include "codec/transcoder.h"

typedef struct pcm {
  int16_t *samples;
  size_t count;
  int rate;
} pcm;

/* A RIFF/WAVE file's first channel as 16-bit PCM. */
static bool read_wav(const char *path, pcm *out) {
  gchar *data;
  gsize len;
  if (!g_file_get_contents(path, &data, &len, NULL)) return false;
  const uint8_t *d = (const uint8_t *)data;
  size_t pos = 12;
  int channels = 1, bits = 16;
  bool ok = false;
  while (pos + 8 <= len) {
    uint32_t size = (uint32_t)d[pos + 4] | (uint32_t)d[pos + 5] << 8 | (uint32_t)d[pos + 6] << 16 |
                    (uint32_t)d[pos + 7] << 24;
    if (memcmp(d + pos, "fmt ", 4) == 0 && pos + 24 <= len) {
      channels = d[pos + 10] | d[pos + 11] << 8;
      out->rate = (int)(d[pos + 12] | d[pos + 13] << 8 | d[pos + 14] << 16);
      bits = d[pos + 22] | d[pos + 23] << 8;
    }
    if (memcmp(d + pos, "data", 4) == 0 && bits == 16 && channels >= 1) {
      size_t avail = MIN((size_t)size, len - pos - 8);
      out->count = avail / (2 * (size_t)channels);
      out->samples = g_new(int16_t, out->count);
      for (size_t i = 0; i < out->count; i++) {
        const uint8_t *s = d + pos + 8 + i * 2 * (size_t)channels;
        out->samples[i] = (int16_t)(s[0] | s[1] << 8);
      }
      ok = out->count > 0;
      break;
    }
    pos += 8 + size + (size & 1);
  }
  g_free(data);
  return ok;
}

/* Linear interpolation to rate, looped to seconds: good enough for a load test. */
static pcm resample_looped(const pcm *in, int rate, int seconds) {
  pcm out = {.rate = rate, .count = (size_t)rate * (size_t)seconds};
  out.samples = g_new(int16_t, out.count);
  double step = (double)in->rate / rate;
  for (size_t i = 0; i < out.count; i++) {
    double at = fmod((double)i * step, (double)(in->count - 1));
    size_t k = (size_t)at;
    double frac = at - (double)k;
    out.samples[i] = (int16_t)((1 - frac) * in->samples[k] + frac * in->samples[k + 1]);
  }
  return out;
}

typedef struct packet {
  transcoder_input in;
  uint8_t payload[AUDIO_MAX_PAYLOAD];
} packet;

/* The speech as the RTP stream a far end using codec would send. */
static packet *encode_stream(audio_codec_id codec, const pcm *speech, size_t *count) {
  char err[128];
  int rate = audio_codec_native_rate(codec), n = rate / 50;
  audio_encoder_options o = {.complexity = 5, .fec = true};
  audio_encoder *enc = audio_encoder_new(codec, rate, &o, err, sizeof err);
  if (!enc) g_error("%s", err);
  pcm at_rate = resample_looped(speech, rate, (int)(speech->count / (size_t)speech->rate));
  *count = at_rate.count / (size_t)n;
  packet *p = g_new0(packet, *count);
  for (size_t f = 0; f < *count; f++) {
    int len = audio_encoder_encode(enc, at_rate.samples + f * (size_t)n, p[f].payload,
                                   sizeof p[f].payload);
    p[f].in = (transcoder_input){.pt = 96, .seq = (uint16_t)f,
                                 .ts = (uint32_t)(f * (size_t)audio_codec_rtp_clock(codec) / 50),
                                 .ssrc = 1, .payload = p[f].payload,
                                 .len = (size_t)(len > 0 ? len : 0)};
  }
  g_free(at_rate.samples);
  audio_encoder_free(enc);
  return p;
}

static void discard(void *user_data, uint8_t *data, size_t len) {
  (void)data;
  *(size_t *)user_data += len;
}

static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One call: a -> b and b -> a over the whole stream. Returns CPU seconds. */
static double run_call(audio_codec_id a, audio_codec_id b, const packet *pa, size_t na,
                       const packet *pb, size_t nb, int complexity) {
  char err[128];
  size_t bytes = 0;
  audio_encoder_options opus = {.complexity = complexity, .fec = true};
  transcoder_config ab = {.in = {a, 96, -1}, .out = {b, 97, -1}, .ssrc = 2, .opus = opus};
  transcoder_config ba = {.in = {b, 96, -1}, .out = {a, 97, -1}, .ssrc = 3, .opus = opus};
  transcoder *t1 = transcoder_new(&ab, discard, &bytes, err, sizeof err);
  transcoder *t2 = transcoder_new(&ba, discard, &bytes, err, sizeof err);
  if (!t1 || !t2) g_error("%s", err);
  double start = cpu_seconds();
  for (size_t i = 0; i < MAX(na, nb); i++) {
    if (i < na) transcoder_push(t1, &pa[i].in);
    if (i < nb) transcoder_push(t2, &pb[i].in);
  }
  double used = cpu_seconds() - start;
  transcoder_free(t1);
  transcoder_free(t2);
  return used;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s SPEECH.wav [seconds]\n", argv[0]);
    return 2;
  }
  int seconds = argc > 2 ? atoi(argv[2]) : 60;
  if (seconds < 1) seconds = 60;
  pcm raw = {0};
  if (!read_wav(argv[1], &raw)) {
    fprintf(stderr, "%s: not a 16-bit PCM WAV file\n", argv[1]);
    return 1;
  }
  pcm speech = resample_looped(&raw, raw.rate, seconds);
  static const audio_codec_id pairs[][2] = {
      {AUDIO_CODEC_OPUS, AUDIO_CODEC_PCMU},
      {AUDIO_CODEC_OPUS, AUDIO_CODEC_PCMA},
      {AUDIO_CODEC_OPUS, AUDIO_CODEC_G722},
      {AUDIO_CODEC_PCMU, AUDIO_CODEC_G722},
  };
  static const int complexities[] = {10, 5};
  printf("speech: %s, %.1f s at %d Hz, looped to %d s per call (both directions)\n", argv[1],
         (double)raw.count / raw.rate, raw.rate, seconds);
  printf("%-14s %10s %22s %14s\n", "pair", "opus cplx", "CPU ms / call-minute", "calls / core");
  for (size_t p = 0; p < G_N_ELEMENTS(pairs); p++) {
    size_t na, nb;
    packet *pa = encode_stream(pairs[p][0], &speech, &na);
    packet *pb = encode_stream(pairs[p][1], &speech, &nb);
    bool has_opus = pairs[p][0] == AUDIO_CODEC_OPUS || pairs[p][1] == AUDIO_CODEC_OPUS;
    for (size_t c = 0; c < G_N_ELEMENTS(complexities); c++) {
      if (!has_opus && c > 0) break;
      double used = run_call(pairs[p][0], pairs[p][1], pa, na, pb, nb, complexities[c]);
      double per_minute_ms = used * 1000.0 * 60.0 / seconds;
      char name[32];
      snprintf(name, sizeof name, "%s<->%s", audio_codec_name(pairs[p][0]),
               audio_codec_name(pairs[p][1]));
      char cplx[8];
      snprintf(cplx, sizeof cplx, "%d", complexities[c]);
      printf("%-14s %10s %22.1f %14.0f\n", name, has_opus ? cplx : "-", per_minute_ms,
             60000.0 / per_minute_ms);
    }
    g_free(pa);
    g_free(pb);
  }
  g_free(raw.samples);
  g_free(speech.samples);
  return 0;
}
