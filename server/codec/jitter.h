/* jitter: a small adaptive jitter buffer in front of a decoder.
 *
 * It is driven by arrivals, not by a clock: a packet that arrives in order comes straight out
 * again (no added delay on a clean path). When a sequence number is missing, the packets after
 * it wait until more than `depth` of them are queued; then the missing one is declared lost (the
 * caller conceals it, with the next packet at hand for Opus FEC) and the queue drains in order.
 * A packet that turns up after it was declared lost deepens the buffer by one (up to
 * JITTER_MAX_DEPTH); a long clean run shallows it again. Output timing is left to the far
 * receiver's own playout buffer: we regenerate continuous RTP (no gaps, no reordering), which is
 * what it needs.
 *
 * Threading: one thread (the call's worker). Memory: embedded, fixed size; nothing allocates. */
#ifndef TABPHONE_CODEC_JITTER_H
#define TABPHONE_CODEC_JITTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/audio_codec.h"

enum {
  JITTER_SLOTS = 16,      /* power of two; a sequence jump this large restarts the buffer */
  JITTER_MAX_DEPTH = 4,   /* packets (80 ms of 20 ms frames) */
  JITTER_SHRINK_AFTER = 500, /* in-order packets (10 s) before the depth shrinks by one */
};

typedef struct jitter_packet {
  bool used;
  bool event;             /* RFC 4733 telephone-event: not audio, passed on as is */
  bool marker;
  uint16_t seq;
  uint32_t ts;
  size_t len;
  uint8_t payload[AUDIO_MAX_PAYLOAD];
} jitter_packet;

typedef struct jitter_buffer {
  jitter_packet slots[JITTER_SLOTS];
  bool started;
  uint16_t next_seq;      /* the next sequence number to hand out */
  unsigned queued;
  unsigned depth;
  unsigned in_order_run;
  unsigned late;          /* statistics: packets that came after being declared lost */
  unsigned lost;          /* statistics: packets declared lost */
} jitter_buffer;

typedef enum { JITTER_EMPTY, JITTER_PACKET, JITTER_LOST } jitter_result;

void jitter_init(jitter_buffer *jb);
/* Queues a packet. false: a duplicate or too late (already played or concealed). A sequence
 * jump of JITTER_SLOTS or more (a new stream, or the far end restarted) empties the buffer and
 * starts over at seq. */
bool jitter_put(jitter_buffer *jb, uint16_t seq, uint32_t ts, bool marker, bool event,
                const uint8_t *payload, size_t len);
/* The next thing to play: JITTER_PACKET (*out points at the packet, valid until the next
 * jitter_ call), JITTER_LOST (*out is the packet after the lost one, or NULL: for FEC), or
 * JITTER_EMPTY (wait for more). */
jitter_result jitter_get(jitter_buffer *jb, const jitter_packet **out);

#endif
