/* plc: packet loss concealment for decoders without their own (G.711, G.722), in the spirit of
 * ITU-T G.711 Appendix I: while packets are lost, the last pitch period of the good signal is
 * repeated (found by the smallest average magnitude difference over 5-15 ms lags), at full
 * level for 20 ms, then fading to silence over the next 40 ms; the first good frame after a
 * loss is cross-faded in over 4 ms so neither edge clicks.
 *
 * Our own rather than spandsp's plc_*: spandsp 0.0.6 (Debian 12) copies its history with
 * overlapping memcpy (undefined behaviour, reported by ASan) on every first lost frame.
 *
 * Threading: one thread. Memory: embedded, fixed size (8 or 16 kHz); nothing allocates. */
#ifndef TABPHONE_CODEC_PLC_H
#define TABPHONE_CODEC_PLC_H

#include <stdint.h>

enum { PLC_MAX_HISTORY = 780 }; /* 48.75 ms at 16 kHz */

typedef struct audio_plc {
  int rate;
  int history_len;              /* 48.75 ms at rate */
  int16_t history[PLC_MAX_HISTORY]; /* the newest sample last */
  int pitch;                    /* period being repeated (samples), during a loss */
  int phase;                    /* position in that period */
  int missing;                  /* samples made up in the current loss; 0 = none */
} audio_plc;

/* rate: 8000 or 16000. */
void audio_plc_init(audio_plc *plc, int rate);
/* A good frame (modified in place when it ends a loss: the cross-fade). */
void audio_plc_good(audio_plc *plc, int16_t *pcm, int n);
/* Fills pcm with n made-up samples. Returns n. */
int audio_plc_conceal(audio_plc *plc, int16_t *pcm, int n);

#endif
