/* dtmf: sends RFC 4733 telephone-events toward the SIP side (call_media_send_dtmf).
 *
 * Digits queue up; each is sent as one event: a packet every 20 ms with a growing duration
 * (marker bit on the first), then three end packets (E bit) carrying the final duration, then
 * a 50 ms pause before the next digit. Timestamps are in the codec's clock and continue the
 * stream we already send to the SIP side; while an event plays, the browser's audio toward the
 * SIP side is held back (bridge.c), as RFC 4733 section 2.5.1.2 allows.
 *
 * Threading: the call's worker. Needs a codec map with sip_dtmf_pt >= 0, else digits are
 * dropped with a warning. */
#include <string.h>

#include "core/log.h"
#include "media/media_internal.h"
#include "media/rtp.h"

#define DTMF_PACKET_MS 20
#define DTMF_PAUSE_MS 50
#define DTMF_END_PACKETS 3
#define DTMF_VOLUME 10

static gboolean on_tick(gpointer data);

static void schedule(call_media *media, guint ms) {
  dtmf_sender *d = &media->dtmf;
  if (d->timer) {
    g_source_destroy(d->timer);
    g_source_unref(d->timer);
  }
  d->timer = g_timeout_source_new(ms);
  g_source_set_callback(d->timer, on_tick, media, NULL);
  g_source_attach(d->timer, media->worker->context);
}

static uint32_t clock_rate(const call_media *media) {
  return media->bridge.map.clock_rate > 0 ? (uint32_t)media->bridge.map.clock_rate : 8000;
}

/* The timestamp "now" in the stream we send to the SIP side. */
static uint32_t current_timestamp(const call_media *media) {
  const bridge_state *b = &media->bridge;
  if (!b->sent_to_sip) return b->last_sip_ts;
  gint64 elapsed_us = g_get_monotonic_time() - b->last_sip_send_us;
  return b->last_sip_ts + (uint32_t)(elapsed_us * clock_rate(media) / 1000000);
}

static void send_packet(call_media *media, bool marker, bool end) {
  dtmf_sender *d = &media->dtmf;
  bridge_state *b = &media->bridge;
  rtp_dtmf_packet p = {
      .payload_type = (uint8_t)b->map.sip_dtmf_pt,
      .marker = marker,
      .seq = (uint16_t)(b->last_sip_seq + 1),
      .timestamp = d->start_ts,
      .ssrc = b->sip_ssrc,
      .event = d->event,
      .end = end,
      .volume = DTMF_VOLUME,
      .duration = (uint16_t)(d->elapsed > 0xffff ? 0xffff : d->elapsed),
  };
  size_t len = rtp_build_dtmf(&p, media->dtmf_buffer, sizeof media->dtmf_buffer);
  bridge_send_to_sip(media, media->dtmf_buffer, len);
  b->last_sip_ts = d->start_ts; /* the event's packets all carry its start */
}

static bool start_next_digit(call_media *media) {
  dtmf_sender *d = &media->dtmf;
  while (d->queued > 0) {
    int code = rtp_dtmf_event_code(d->digits[0]);
    memmove(d->digits, d->digits + 1, d->queued); /* includes the terminating NUL */
    d->queued--;
    if (code < 0) continue;
    d->event = (uint8_t)code;
    d->start_ts = current_timestamp(media);
    d->elapsed = DTMF_PACKET_MS * clock_rate(media) / 1000; /* the first packet's duration */
    d->end_sent = 0;
    d->active = true;
    send_packet(media, true, false);
    return true;
  }
  return false;
}

/* One step every 20 ms while an event plays; a 50 ms pause between events. */
static gboolean on_tick(gpointer data) {
  call_media *media = data;
  dtmf_sender *d = &media->dtmf;
  uint32_t target = (uint32_t)d->duration_ms * clock_rate(media) / 1000;
  /* Once an E packet went out the event is over, even if a later `dtmf` raised duration_ms:
   * RFC 4733 2.5.1.4 allows only repeated E packets with the final duration after it. */
  if (d->active && d->end_sent == 0 && d->elapsed < target) {
    d->elapsed += DTMF_PACKET_MS * clock_rate(media) / 1000;
    if (d->elapsed > target) d->elapsed = target;
    send_packet(media, false, d->elapsed >= target);
    d->end_sent += d->elapsed >= target;
    schedule(media, DTMF_PACKET_MS);
  } else if (d->active && d->end_sent < DTMF_END_PACKETS) {
    send_packet(media, false, true);
    d->end_sent++;
    schedule(media, d->end_sent < DTMF_END_PACKETS ? DTMF_PACKET_MS : DTMF_PAUSE_MS);
  } else {
    d->active = false;
    if (start_next_digit(media)) schedule(media, DTMF_PACKET_MS);
    else {
      g_source_unref(d->timer);
      d->timer = NULL;
      return G_SOURCE_REMOVE;
    }
  }
  return G_SOURCE_REMOVE; /* schedule() made a new source */
}

void dtmf_sender_queue(call_media *media, const char *digits, int duration_ms) {
  dtmf_sender *d = &media->dtmf;
  if (!media->bridge.have_map || media->bridge.map.sip_dtmf_pt < 0) {
    log_warn("media", media->subject, NULL, "DTMF '%s' dropped: no telephone-event on the SIP side",
             digits);
    return;
  }
  size_t n = strlen(digits);
  if (d->queued + n >= sizeof d->digits) n = sizeof d->digits - 1 - d->queued;
  memcpy(d->digits + d->queued, digits, n);
  d->queued += n;
  d->digits[d->queued] = '\0';
  d->duration_ms = duration_ms > 0 ? duration_ms : 100;
  log_info("media", media->subject, NULL, "DTMF '%s' queued (%d ms)", digits, d->duration_ms);
  if (!d->timer && start_next_digit(media)) schedule(media, DTMF_PACKET_MS);
}

void dtmf_sender_stop(call_media *media) {
  dtmf_sender *d = &media->dtmf;
  if (d->timer) {
    g_source_destroy(d->timer);
    g_source_unref(d->timer);
    d->timer = NULL;
  }
  d->active = false;
  d->queued = 0;
}
