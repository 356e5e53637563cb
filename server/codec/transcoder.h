/* transcoder: one direction of a transcoded call. RTP packets of one leg's codec go in; RTP
 * packets of the other leg's codec come out, one per 20 ms frame.
 *
 *   in RTP -> jitter buffer -> decoder (PLC / Opus FEC for lost packets) -> PCM at the rate
 *   both codecs meet at (8 or 16 kHz; Opus works at either directly) -> 20 ms frames ->
 *   encoder -> out RTP
 *
 * Out RTP: our payload type, the SSRC given, sequence numbers +1 per packet sent (concealed
 * frames included, so the far receiver sees no gap), timestamps on the out codec's RTP clock,
 * following the in stream's timestamps rescaled (a silence gap or a hold stays a gap of the same
 * length, with the marker bit set at the start of the next talkspurt).
 * RFC 4733 telephone-event packets are not decoded: they keep their place in the stream, get
 * the next out sequence number, their timestamp and duration rescaled to the out clock, and the
 * out leg's telephone-event payload type (dropped when the out leg has none).
 * Payloads are untrusted input: decoders get them with their length only, and anything that
 * would not fit our fixed buffers is dropped (a fuzz target for transcoder_push is welcome).
 *
 * Threading: one thread (the call's media worker). Ownership: transcoder_new allocates all the
 * state (codec states, jitter buffer, packet buffers); transcoder_push allocates nothing;
 * transcoder_free releases everything. The output callback is called synchronously from
 * transcoder_push with a packet in the transcoder's buffer (valid during the call only; the
 * callee may modify it in place, e.g. to protect it). */
#ifndef TABPHONE_CODEC_TRANSCODER_H
#define TABPHONE_CODEC_TRANSCODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/audio_codec.h"

typedef struct transcoder transcoder;

typedef struct transcoder_leg {
  audio_codec_id codec;
  int pt;                 /* audio payload type on this leg */
  int dtmf_pt;            /* telephone-event payload type on this leg, -1 = none */
} transcoder_leg;

typedef struct transcoder_config {
  transcoder_leg in;
  transcoder_leg out;
  uint32_t ssrc;          /* out SSRC */
  uint16_t first_seq;     /* out sequence number of the first packet */
  uint32_t first_ts;      /* out timestamp of the first packet */
  audio_encoder_options opus; /* when out is Opus */
} transcoder_config;

/* data/len: one RTP packet, header included, in a buffer with at least TRANSCODER_HEADROOM
 * bytes to spare after len (for the callee's SRTP trailer). */
typedef void (*transcoder_output)(void *user_data, uint8_t *data, size_t len);

enum { TRANSCODER_HEADROOM = 64 };

transcoder *transcoder_new(const transcoder_config *config, transcoder_output output,
                           void *user_data, char *err, size_t err_len);
void transcoder_free(transcoder *t);

/* One RTP packet from the in leg, already parsed (media/rtp.c does that on the packet path). */
typedef struct transcoder_input {
  uint8_t pt;
  bool marker;
  uint16_t seq;
  uint32_t ts;
  uint32_t ssrc;
  const uint8_t *payload;
  size_t len;
} transcoder_input;

/* Packets of payload types other than the in leg's audio and telephone-event are ignored.
 * Returns the number of audio frames encoded (0 while the jitter buffer waits). */
int transcoder_push(transcoder *t, const transcoder_input *packet);

typedef struct transcoder_stats {
  unsigned frames;        /* audio frames encoded and sent */
  unsigned concealed;     /* frames made up for lost packets */
  unsigned fec;           /* of those, recovered from Opus in-band FEC */
  unsigned events;        /* telephone-event packets carried across */
  unsigned late;          /* packets that came after being concealed */
  uint16_t last_seq;      /* out seq / ts of the last packet sent */
  uint32_t last_ts;
} transcoder_stats;

void transcoder_get_stats(const transcoder *t, transcoder_stats *stats);

#endif
