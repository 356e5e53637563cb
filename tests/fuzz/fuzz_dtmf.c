/* fuzz_dtmf: libFuzzer target for the RFC 4733 telephone-event sender (media/dtmf.c) and the
 * packet builder it uses (media/rtp.c).
 *
 * tabphone does not parse telephone-events (the far end's are passed through by payload type,
 * covered by fuzz_rtp); what reads outside input here is the sender: the digits and duration a
 * tab sends in `dtmf` (validated by protocol.c, but this target also goes beyond those bounds),
 * queued while events play, under any codec clock and stream position. Every packet it emits is
 * checked against RFC 4733: a valid RTP header with the telephone-event payload type, a
 * sequence number one above the previous packet, a 4-byte payload with an event 0-15, the marker
 * only on an event's first packet, a duration that never shrinks within an event, and once the
 * E bit is set, only E packets with the same final duration until the next event.
 *
 * Input: byte 0 picks the clock (8/16/48 kHz), byte 1 the payload type, bytes 2-5 the stream's
 * last sequence number and timestamp seed, then chunks: [duration hi][duration lo][n][n digit
 * bytes][ticks] — each chunk queues n digits with that duration, then runs that many timer
 * ticks. Timers are made due at once (g_timeout_source_new is wrapped at link time), so the
 * fuzzer never waits; and the worker context polls nothing (no_poll), so a tick costs no system
 * call. DTMF_DEBUG=1 in the environment prints every packet. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "media/media_internal.h"
#include "media/rtp.h"

/* 1000 ticks = 20 s of sending: ten times the longest digit a tab may ask for (2000 ms), and
 * long enough for the duration field to reach its 0xffff ceiling and end there at every clock
 * (8.2 s at 8 kHz). Ticks are this target's cost: 4000 made it 1.6x slower for no new edge. */
enum { MAX_TICKS_PER_INPUT = 1000 };

/* ---- link-time wrap and stand-ins for the rest of the media layer ------------------------ */

GSource *__real_g_timeout_source_new(guint interval);
GSource *__wrap_g_timeout_source_new(guint interval);
GSource *__wrap_g_timeout_source_new(guint interval) {
  (void)interval;
  return __real_g_timeout_source_new(0);
}

typedef struct checker {
  bool have_prev;
  uint16_t prev_seq;
  bool in_event;
  uint32_t event_ts;
  uint8_t event;
  uint16_t duration;
  bool ended;
  unsigned packets;
} checker;

static checker check;
static bool debug; /* DTMF_DEBUG set: read once, not per packet */

/* What dtmf.c hands to the bridge: checked, then counted in the stream like the real one. */
void bridge_send_to_sip(call_media *media, uint8_t *data, size_t len) {
  rtp_header h;
  if (!rtp_parse(data, len, &h)) abort();
  if (h.payload_type != media->bridge.map.sip_dtmf_pt || h.ssrc != media->bridge.sip_ssrc) abort();
  if (check.have_prev && h.seq != (uint16_t)(check.prev_seq + 1)) abort();
  if (h.payload_len != 4) abort();
  const uint8_t *p = data + h.header_len;
  uint8_t event = p[0];
  bool end = (p[1] & 0x80) != 0;
  uint16_t duration = (uint16_t)(p[2] << 8 | p[3]);
  if (event > 15) abort();
  bool first = !check.in_event || h.timestamp != check.event_ts || event != check.event ||
               (check.ended && !end);
  if (debug)
    fprintf(stderr, "seq %u ts %u ev %u end %d dur %u m %d\n", h.seq, h.timestamp, event, end,
            duration, h.marker);
  if (h.marker != first) abort();
  if (!first) {
    if (duration < check.duration) abort();
    if (check.ended && (!end || duration != check.duration)) abort();
  }
  check.in_event = true;
  check.event_ts = h.timestamp;
  check.event = event;
  check.duration = duration;
  check.ended = end;
  check.have_prev = true;
  check.prev_seq = h.seq;
  check.packets++;
  media->bridge.last_sip_seq = h.seq;
  media->bridge.last_sip_ts = h.timestamp;
  media->bridge.last_sip_send_us = g_get_monotonic_time();
  media->bridge.sent_to_sip = true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  log_init(LOG_ERROR);
  debug = getenv("DTMF_DEBUG") != NULL;
  return 0;
}

/* The worker context watches no file descriptor but its own wakeup, which nothing signals
 * here (one thread), and every timer is due at once: polling would only cost a poll(2) per
 * tick, the bulk of this target's time. */
static gint no_poll(GPollFD *fds, guint nfds, gint timeout) {
  (void)timeout;
  for (guint i = 0; i < nfds; i++) fds[i].revents = 0;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 6) return 0;
  static const int clocks[] = {8000, 16000, 48000, 0};
  media_worker worker = {0};
  worker.context = g_main_context_new();
  g_main_context_set_poll_func(worker.context, no_poll);
  call_media *media = calloc(1, sizeof *media);
  media->worker = &worker;
  strcpy(media->subject, "call fuzz");
  media->bridge.have_map = data[1] != 0xff;
  media->bridge.map = (media_codec_map){.browser_pt = 111, .sip_pt = 0,
                                        .clock_rate = clocks[data[0] % 4],
                                        .browser_dtmf_pt = 110,
                                        .sip_dtmf_pt = data[1] & 0x80 ? -1 : data[1] & 0x7f};
  media->bridge.sip_ssrc = 0x5eed5eedu;
  media->bridge.last_sip_seq = (uint16_t)(data[2] << 8 | data[3]);
  media->bridge.last_sip_ts = (uint32_t)data[4] << 24 | (uint32_t)data[5] << 8;
  media->bridge.sent_to_sip = data[5] & 1;
  media->bridge.last_sip_send_us = g_get_monotonic_time();
  memset(&check, 0, sizeof check);

  size_t at = 6;
  unsigned ticks = 0;
  while (at + 3 <= size && ticks < MAX_TICKS_PER_INPUT) {
    int duration = (int)(data[at] << 8 | data[at + 1]) - 100; /* a few negative ones too */
    size_t n = data[at + 2];
    at += 3;
    if (n > size - at) n = size - at;
    char digits[256];
    memcpy(digits, data + at, n);
    digits[n] = '\0'; /* an embedded NUL just shortens the string, as in C callers */
    at += n;
    dtmf_sender_queue(media, digits, duration);
    unsigned run = at < size ? data[at++] : 255;
    for (unsigned i = 0; i < run && ticks < MAX_TICKS_PER_INPUT; i++, ticks++) {
      if (!g_main_context_iteration(worker.context, FALSE)) break;
    }
  }
  dtmf_sender_stop(media);
  /* Nothing may still be attached once stopped. */
  if (g_main_context_pending(worker.context)) abort();
  g_main_context_unref(worker.context);
  free(media);
  return 0;
}
