/* jitter: see the header. Slots are indexed by sequence number modulo JITTER_SLOTS, so lookup,
 * insertion and release are O(1) and wrap-around needs no special case beyond 16-bit
 * subtraction. */
#include "codec/jitter.h"

#include <string.h>

void jitter_init(jitter_buffer *jb) {
  memset(jb, 0, sizeof *jb);
  jb->depth = 1;
}

static jitter_packet *slot_of(jitter_buffer *jb, uint16_t seq) {
  return &jb->slots[seq & (JITTER_SLOTS - 1)];
}

static void restart(jitter_buffer *jb, uint16_t seq) {
  for (size_t i = 0; i < JITTER_SLOTS; i++) jb->slots[i].used = false;
  jb->queued = 0;
  jb->next_seq = seq;
  jb->started = true;
}

bool jitter_put(jitter_buffer *jb, uint16_t seq, uint32_t ts, bool marker, bool event,
                const uint8_t *payload, size_t len) {
  if (len > AUDIO_MAX_PAYLOAD) return false;
  if (!jb->started) restart(jb, seq);
  int16_t ahead = (int16_t)(uint16_t)(seq - jb->next_seq);
  if (ahead < 0 && ahead > -JITTER_SLOTS) {
    /* Played or concealed already: the path reorders more than we waited for. */
    jb->late++;
    jb->in_order_run = 0;
    if (jb->depth < JITTER_MAX_DEPTH) jb->depth++;
    return false;
  }
  if (ahead < 0 || ahead >= JITTER_SLOTS) restart(jb, seq);
  jitter_packet *p = slot_of(jb, seq);
  if (p->used) return false; /* duplicate */
  p->used = true;
  p->event = event;
  p->marker = marker;
  p->seq = seq;
  p->ts = ts;
  p->len = len;
  memcpy(p->payload, payload, len);
  jb->queued++;
  return true;
}

jitter_result jitter_get(jitter_buffer *jb, const jitter_packet **out) {
  *out = NULL;
  if (!jb->started || jb->queued == 0) return JITTER_EMPTY;
  jitter_packet *p = slot_of(jb, jb->next_seq);
  if (p->used && p->seq == jb->next_seq) {
    p->used = false;
    jb->queued--;
    jb->next_seq++;
    if (++jb->in_order_run >= JITTER_SHRINK_AFTER && jb->depth > 0) {
      jb->depth--;
      jb->in_order_run = 0;
    }
    *out = p;
    return JITTER_PACKET;
  }
  if (jb->queued <= jb->depth) return JITTER_EMPTY;
  jb->lost++;
  jb->in_order_run = 0;
  jb->next_seq++;
  jitter_packet *next = slot_of(jb, jb->next_seq);
  if (next->used && next->seq == jb->next_seq) *out = next;
  return JITTER_LOST;
}
