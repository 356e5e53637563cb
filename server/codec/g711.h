/* g711: ITU-T G.711 µ-law (PCMU) and A-law (PCMA) sample conversion, our own tables.
 *
 * One 8-bit code per 16-bit linear sample at 8 kHz. Pure functions, no state, any thread. */
#ifndef TABPHONE_CODEC_G711_H
#define TABPHONE_CODEC_G711_H

#include <stddef.h>
#include <stdint.h>

uint8_t g711_ulaw_encode(int16_t sample);
int16_t g711_ulaw_decode(uint8_t code);
uint8_t g711_alaw_encode(int16_t sample);
int16_t g711_alaw_decode(uint8_t code);

/* Whole frames: n samples <-> n codes. */
void g711_ulaw_encode_frame(const int16_t *pcm, uint8_t *codes, size_t n);
void g711_ulaw_decode_frame(const uint8_t *codes, int16_t *pcm, size_t n);
void g711_alaw_encode_frame(const int16_t *pcm, uint8_t *codes, size_t n);
void g711_alaw_decode_frame(const uint8_t *codes, int16_t *pcm, size_t n);

#endif
