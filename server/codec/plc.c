/* plc: see the header. The history is a plain array with the newest sample last (a frame moves
 * it by memmove: at most 780 samples, cheaper than the decode itself and easy to read). */
#include "codec/plc.h"

#include <stdlib.h>
#include <string.h>

void audio_plc_init(audio_plc *plc, int rate) {
  memset(plc, 0, sizeof *plc);
  plc->rate = rate == 16000 ? 16000 : 8000;
  plc->history_len = plc->rate * 390 / 8000;
}

static void remember(audio_plc *plc, const int16_t *pcm, int n) {
  int len = plc->history_len;
  if (n >= len) {
    memcpy(plc->history, pcm + n - len, (size_t)len * sizeof *pcm);
    return;
  }
  memmove(plc->history, plc->history + n, (size_t)(len - n) * sizeof *pcm);
  memcpy(plc->history + len - n, pcm, (size_t)n * sizeof *pcm);
}

/* The lag (5-15 ms) whose copy of the signal differs least from the newest 20 ms. */
static int find_pitch(const audio_plc *plc) {
  int scale = plc->rate / 8000, min_lag = 40 * scale, max_lag = 120 * scale;
  int window = 160 * scale;
  const int16_t *end = plc->history + plc->history_len;
  long best = -1;
  int pitch = max_lag;
  for (int lag = min_lag; lag <= max_lag; lag++) {
    long diff = 0;
    for (int k = 1; k <= window && k + lag <= plc->history_len; k++)
      diff += labs((long)end[-k] - (long)end[-k - lag]);
    if (best < 0 || diff < best) {
      best = diff;
      pitch = lag;
    }
  }
  return pitch;
}

/* Full level for 20 ms of loss, then a linear fade to silence over 40 ms (in 1/256). */
static int gain_at(const audio_plc *plc, int missing) {
  int full = plc->rate / 50, fade = plc->rate / 25;
  if (missing < full) return 256;
  if (missing >= full + fade) return 0;
  return 256 - (missing - full) * 256 / fade;
}

static int16_t synthesize(audio_plc *plc) {
  const int16_t *cycle = plc->history + plc->history_len - plc->pitch;
  int16_t v = cycle[plc->phase];
  plc->phase = (plc->phase + 1) % plc->pitch;
  return v;
}

int audio_plc_conceal(audio_plc *plc, int16_t *pcm, int n) {
  if (plc->missing == 0) {
    plc->pitch = find_pitch(plc);
    plc->phase = 0;
  }
  for (int i = 0; i < n; i++) {
    int g = gain_at(plc, plc->missing + i);
    pcm[i] = (int16_t)(synthesize(plc) * g / 256);
  }
  plc->missing += n;
  return n;
}

void audio_plc_good(audio_plc *plc, int16_t *pcm, int n) {
  if (plc->missing > 0) {
    int fade = plc->rate / 250; /* 4 ms */
    int g = gain_at(plc, plc->missing);
    for (int i = 0; i < fade && i < n; i++) {
      int made_up = synthesize(plc) * g / 256;
      pcm[i] = (int16_t)((made_up * (fade - i) + pcm[i] * i) / fade);
    }
    plc->missing = 0;
  }
  remember(plc, pcm, n);
}
