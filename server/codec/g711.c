/* g711: µ-law and A-law. Decoding is a table lookup (the tables below were generated once from
 * the G.711 rules and are the values every conforming implementation produces); encoding finds
 * the segment (the position of the highest set bit of the magnitude) and keeps four mantissa
 * bits, which is cheaper than a 64 K-entry table and needs no initialisation. */
#include "codec/g711.h"

/* Generated once from the G.711 decoding rules (ITU-T G.711 tables 1a/2a); 14/13-bit values
 * scaled to 16 bits. Index: the code as sent on the wire. */
static const int16_t ulaw_to_linear[256] = {
    -32124, -31100, -30076, -29052, -28028, -27004, -25980, -24956,
    -23932, -22908, -21884, -20860, -19836, -18812, -17788, -16764,
    -15996, -15484, -14972, -14460, -13948, -13436, -12924, -12412,
    -11900, -11388, -10876, -10364, -9852, -9340, -8828, -8316,
    -7932, -7676, -7420, -7164, -6908, -6652, -6396, -6140,
    -5884, -5628, -5372, -5116, -4860, -4604, -4348, -4092,
    -3900, -3772, -3644, -3516, -3388, -3260, -3132, -3004,
    -2876, -2748, -2620, -2492, -2364, -2236, -2108, -1980,
    -1884, -1820, -1756, -1692, -1628, -1564, -1500, -1436,
    -1372, -1308, -1244, -1180, -1116, -1052, -988, -924,
    -876, -844, -812, -780, -748, -716, -684, -652,
    -620, -588, -556, -524, -492, -460, -428, -396,
    -372, -356, -340, -324, -308, -292, -276, -260,
    -244, -228, -212, -196, -180, -164, -148, -132,
    -120, -112, -104, -96, -88, -80, -72, -64,
    -56, -48, -40, -32, -24, -16, -8, 0,
    32124, 31100, 30076, 29052, 28028, 27004, 25980, 24956,
    23932, 22908, 21884, 20860, 19836, 18812, 17788, 16764,
    15996, 15484, 14972, 14460, 13948, 13436, 12924, 12412,
    11900, 11388, 10876, 10364, 9852, 9340, 8828, 8316,
    7932, 7676, 7420, 7164, 6908, 6652, 6396, 6140,
    5884, 5628, 5372, 5116, 4860, 4604, 4348, 4092,
    3900, 3772, 3644, 3516, 3388, 3260, 3132, 3004,
    2876, 2748, 2620, 2492, 2364, 2236, 2108, 1980,
    1884, 1820, 1756, 1692, 1628, 1564, 1500, 1436,
    1372, 1308, 1244, 1180, 1116, 1052, 988, 924,
    876, 844, 812, 780, 748, 716, 684, 652,
    620, 588, 556, 524, 492, 460, 428, 396,
    372, 356, 340, 324, 308, 292, 276, 260,
    244, 228, 212, 196, 180, 164, 148, 132,
    120, 112, 104, 96, 88, 80, 72, 64,
    56, 48, 40, 32, 24, 16, 8, 0,
};

static const int16_t alaw_to_linear[256] = {
    -5504, -5248, -6016, -5760, -4480, -4224, -4992, -4736,
    -7552, -7296, -8064, -7808, -6528, -6272, -7040, -6784,
    -2752, -2624, -3008, -2880, -2240, -2112, -2496, -2368,
    -3776, -3648, -4032, -3904, -3264, -3136, -3520, -3392,
    -22016, -20992, -24064, -23040, -17920, -16896, -19968, -18944,
    -30208, -29184, -32256, -31232, -26112, -25088, -28160, -27136,
    -11008, -10496, -12032, -11520, -8960, -8448, -9984, -9472,
    -15104, -14592, -16128, -15616, -13056, -12544, -14080, -13568,
    -344, -328, -376, -360, -280, -264, -312, -296,
    -472, -456, -504, -488, -408, -392, -440, -424,
    -88, -72, -120, -104, -24, -8, -56, -40,
    -216, -200, -248, -232, -152, -136, -184, -168,
    -1376, -1312, -1504, -1440, -1120, -1056, -1248, -1184,
    -1888, -1824, -2016, -1952, -1632, -1568, -1760, -1696,
    -688, -656, -752, -720, -560, -528, -624, -592,
    -944, -912, -1008, -976, -816, -784, -880, -848,
    5504, 5248, 6016, 5760, 4480, 4224, 4992, 4736,
    7552, 7296, 8064, 7808, 6528, 6272, 7040, 6784,
    2752, 2624, 3008, 2880, 2240, 2112, 2496, 2368,
    3776, 3648, 4032, 3904, 3264, 3136, 3520, 3392,
    22016, 20992, 24064, 23040, 17920, 16896, 19968, 18944,
    30208, 29184, 32256, 31232, 26112, 25088, 28160, 27136,
    11008, 10496, 12032, 11520, 8960, 8448, 9984, 9472,
    15104, 14592, 16128, 15616, 13056, 12544, 14080, 13568,
    344, 328, 376, 360, 280, 264, 312, 296,
    472, 456, 504, 488, 408, 392, 440, 424,
    88, 72, 120, 104, 24, 8, 56, 40,
    216, 200, 248, 232, 152, 136, 184, 168,
    1376, 1312, 1504, 1440, 1120, 1056, 1248, 1184,
    1888, 1824, 2016, 1952, 1632, 1568, 1760, 1696,
    688, 656, 752, 720, 560, 528, 624, 592,
    944, 912, 1008, 976, 816, 784, 880, 848,
};

/* The segment of a biased magnitude: how far its top bit sits above bit `low`, clamped to 7. */
static int segment_of(int magnitude, int low) {
  int seg = 0;
  for (int v = magnitude >> low; v > 1 && seg < 7; v >>= 1) seg++;
  return seg;
}

uint8_t g711_ulaw_encode(int16_t sample) {
  enum { BIAS = 0x84, CLIP = 32635 };
  int s = sample;
  uint8_t sign = s < 0 ? 0x80 : 0x00;
  int magnitude = s < 0 ? -s : s;
  if (magnitude > CLIP) magnitude = CLIP;
  magnitude += BIAS;
  int seg = segment_of(magnitude, 7);
  uint8_t mantissa = (uint8_t)((magnitude >> (seg + 3)) & 0x0f);
  return (uint8_t)~(sign | (seg << 4) | mantissa);
}

int16_t g711_ulaw_decode(uint8_t code) { return ulaw_to_linear[code]; }

uint8_t g711_alaw_encode(int16_t sample) {
  int s = sample;
  uint8_t sign = s >= 0 ? 0x80 : 0x00;
  int magnitude = s >= 0 ? s : -s - 1; /* A-law is symmetric around -0.5 */
  if (magnitude > 32767) magnitude = 32767;
  int seg = segment_of(magnitude, 8);
  if (magnitude < 256) seg = 0;
  else seg += 1;
  if (seg > 7) seg = 7;
  uint8_t mantissa = (uint8_t)((seg == 0 ? magnitude >> 4 : magnitude >> (seg + 3)) & 0x0f);
  return (uint8_t)((sign | (seg << 4) | mantissa) ^ 0x55);
}

int16_t g711_alaw_decode(uint8_t code) { return alaw_to_linear[code]; }

void g711_ulaw_encode_frame(const int16_t *pcm, uint8_t *codes, size_t n) {
  for (size_t i = 0; i < n; i++) codes[i] = g711_ulaw_encode(pcm[i]);
}

void g711_ulaw_decode_frame(const uint8_t *codes, int16_t *pcm, size_t n) {
  for (size_t i = 0; i < n; i++) pcm[i] = ulaw_to_linear[codes[i]];
}

void g711_alaw_encode_frame(const int16_t *pcm, uint8_t *codes, size_t n) {
  for (size_t i = 0; i < n; i++) codes[i] = g711_alaw_encode(pcm[i]);
}

void g711_alaw_decode_frame(const uint8_t *codes, int16_t *pcm, size_t n) {
  for (size_t i = 0; i < n; i++) pcm[i] = alaw_to_linear[codes[i]];
}
