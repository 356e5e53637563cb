/* transcoder: see the header. The out timeline is kept as "the out timestamp of the first PCM
 * sample not yet encoded" (out_next_ts) plus the PCM waiting in the FIFO, and the in timeline
 * as "the in timestamp where the next audio packet should start" (in_expected). A packet that
 * starts later than expected (silence suppression, DTX, hold) moves the out timeline by the
 * same time; a lost packet is concealed and keeps both timelines running. */
#include "codec/transcoder.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "codec/jitter.h"

enum { RTP_HEADER = 12, FIFO_SAMPLES = 2 * AUDIO_MAX_FRAME };

struct transcoder {
  transcoder_config cfg;
  transcoder_output output;
  void *user_data;
  audio_decoder *decoder;
  audio_encoder *encoder;
  int pcm_rate;
  int frame_samples;        /* 20 ms at pcm_rate */
  int in_clock, out_clock;
  jitter_buffer jitter;
  bool have_in_ssrc;
  uint32_t in_ssrc;
  bool timeline_started;
  uint32_t in_expected;     /* in ts where the next audio packet should start */
  int last_in_ticks;        /* duration of the last audio packet, in clock ticks */
  uint16_t out_seq;         /* next out sequence number */
  uint32_t out_next_ts;     /* out ts of fifo[0] */
  bool marker_next;
  transcoder_stats stats;
  int fifo_len;
  int16_t fifo[FIFO_SAMPLES];
  int16_t pcm[AUDIO_MAX_FRAME];
  uint8_t packet[RTP_HEADER + AUDIO_MAX_PAYLOAD + TRANSCODER_HEADROOM];
};

transcoder *transcoder_new(const transcoder_config *config, transcoder_output output,
                           void *user_data, char *err, size_t err_len) {
  transcoder *t = g_new0(transcoder, 1);
  t->cfg = *config;
  t->output = output;
  t->user_data = user_data;
  t->pcm_rate = audio_codec_meeting_rate(config->in.codec, config->out.codec);
  t->frame_samples = t->pcm_rate / 50;
  t->in_clock = audio_codec_rtp_clock(config->in.codec);
  t->out_clock = audio_codec_rtp_clock(config->out.codec);
  t->out_seq = config->first_seq;
  t->out_next_ts = config->first_ts;
  t->marker_next = true;
  jitter_init(&t->jitter);
  if (t->pcm_rate == 0) {
    snprintf(err, err_len, "cannot transcode %s to %s", audio_codec_name(config->in.codec),
             audio_codec_name(config->out.codec));
    transcoder_free(t);
    return NULL;
  }
  t->decoder = audio_decoder_new(config->in.codec, t->pcm_rate, err, err_len);
  if (t->decoder)
    t->encoder = audio_encoder_new(config->out.codec, t->pcm_rate, &config->opus, err, err_len);
  if (!t->encoder) {
    transcoder_free(t);
    return NULL;
  }
  return t;
}

void transcoder_free(transcoder *t) {
  if (!t) return;
  audio_decoder_free(t->decoder);
  audio_encoder_free(t->encoder);
  g_free(t);
}

void transcoder_get_stats(const transcoder *t, transcoder_stats *stats) {
  *stats = t->stats;
  stats->late = t->jitter.late;
}

/* in clock ticks -> out clock ticks (exact for every Opus frame size and our clocks). */
static int64_t in_to_out(const transcoder *t, int64_t ticks) {
  return ticks * t->out_clock / t->in_clock;
}

static int64_t pcm_to_out(const transcoder *t, int64_t samples) {
  return samples * t->out_clock / t->pcm_rate;
}

static void put_header(transcoder *t, uint8_t pt, bool marker, uint32_t ts) {
  uint8_t *h = t->packet;
  uint16_t seq = t->out_seq++;
  h[0] = 0x80;
  h[1] = (uint8_t)((marker ? 0x80 : 0) | (pt & 0x7f));
  h[2] = (uint8_t)(seq >> 8);
  h[3] = (uint8_t)seq;
  h[4] = (uint8_t)(ts >> 24);
  h[5] = (uint8_t)(ts >> 16);
  h[6] = (uint8_t)(ts >> 8);
  h[7] = (uint8_t)ts;
  h[8] = (uint8_t)(t->cfg.ssrc >> 24);
  h[9] = (uint8_t)(t->cfg.ssrc >> 16);
  h[10] = (uint8_t)(t->cfg.ssrc >> 8);
  h[11] = (uint8_t)t->cfg.ssrc;
  t->stats.last_seq = seq;
  t->stats.last_ts = ts;
}

/* Encodes and sends every whole 20 ms frame in the FIFO. */
static int emit_frames(transcoder *t) {
  int frames = 0, consumed = 0;
  while (t->fifo_len - consumed >= t->frame_samples) {
    int n = audio_encoder_encode(t->encoder, t->fifo + consumed, t->packet + RTP_HEADER,
                                 AUDIO_MAX_PAYLOAD);
    consumed += t->frame_samples;
    if (n > 0) {
      put_header(t, (uint8_t)t->cfg.out.pt, t->marker_next, t->out_next_ts);
      t->marker_next = false;
      t->output(t->user_data, t->packet, RTP_HEADER + (size_t)n);
      t->stats.frames++;
      frames++;
    } else {
      t->marker_next = true; /* DTX: nothing sent; the next packet starts a talkspurt */
    }
    t->out_next_ts += (uint32_t)pcm_to_out(t, t->frame_samples);
  }
  t->fifo_len -= consumed;
  if (consumed > 0 && t->fifo_len > 0)
    memmove(t->fifo, t->fifo + consumed, (size_t)t->fifo_len * sizeof t->fifo[0]);
  return frames;
}

static void fifo_append(transcoder *t, const int16_t *pcm, int n) {
  if (n > FIFO_SAMPLES - t->fifo_len) n = FIFO_SAMPLES - t->fifo_len;
  memcpy(t->fifo + t->fifo_len, pcm, (size_t)n * sizeof *pcm);
  t->fifo_len += n;
}

/* A packet that does not start where the last one ended: silence suppression or DTX on the in
 * leg (a gap forward), or a restarted stream. The partial frame in the FIFO is dropped and the
 * out timeline jumps by the same time, marker set (RFC 3551 4.1). */
static void follow_gap(transcoder *t, uint32_t ts) {
  int32_t gap = (int32_t)(ts - t->in_expected);
  if (gap > 0 && gap < t->in_clock * 60)
    t->out_next_ts += (uint32_t)(pcm_to_out(t, t->fifo_len) + in_to_out(t, gap));
  else t->out_next_ts += (uint32_t)pcm_to_out(t, t->fifo_len);
  t->fifo_len = 0;
  t->marker_next = true;
  t->in_expected = ts;
}

static int play_audio(transcoder *t, const jitter_packet *p) {
  int ticks = audio_payload_duration(t->cfg.in.codec, p->payload, p->len);
  if (ticks <= 0) return 0;
  if (!t->timeline_started) {
    t->timeline_started = true;
    t->in_expected = p->ts;
  } else if (p->ts != t->in_expected) {
    follow_gap(t, p->ts);
  }
  int n = audio_decoder_decode(t->decoder, p->payload, p->len, t->pcm);
  if (n <= 0) {
    n = audio_decoder_conceal(t->decoder, NULL, 0, t->pcm, (int)((int64_t)ticks * t->pcm_rate /
                                                                 t->in_clock));
  }
  fifo_append(t, t->pcm, n);
  t->in_expected = p->ts + (uint32_t)ticks;
  t->last_in_ticks = ticks;
  return emit_frames(t);
}

static int conceal_lost(transcoder *t, const jitter_packet *next) {
  if (!t->timeline_started) return 0;
  int ticks = t->last_in_ticks > 0 ? t->last_in_ticks : t->in_clock / 50;
  int samples = (int)((int64_t)ticks * t->pcm_rate / t->in_clock);
  bool fec = next && !next->event && t->cfg.in.codec == AUDIO_CODEC_OPUS;
  int n = audio_decoder_conceal(t->decoder, fec ? next->payload : NULL, fec ? next->len : 0,
                                t->pcm, samples);
  fifo_append(t, t->pcm, n);
  t->in_expected += (uint32_t)ticks;
  t->stats.concealed++;
  if (fec) t->stats.fec++;
  return emit_frames(t);
}

/* RFC 4733: same event, our clock. The out timestamp is where that in time falls on the out
 * timeline; the duration field (in clock ticks) is rescaled likewise. */
static void carry_event(transcoder *t, const jitter_packet *p) {
  if (t->cfg.out.dtmf_pt < 0 || p->len < 4 || p->len > AUDIO_MAX_PAYLOAD) return;
  int64_t offset = pcm_to_out(t, t->fifo_len);
  if (t->timeline_started) offset += in_to_out(t, (int32_t)(p->ts - t->in_expected));
  uint8_t *payload = t->packet + RTP_HEADER;
  memcpy(payload, p->payload, p->len);
  int64_t duration = in_to_out(t, ((int64_t)p->payload[2] << 8) | p->payload[3]);
  if (duration > 0xffff) duration = 0xffff;
  payload[2] = (uint8_t)(duration >> 8);
  payload[3] = (uint8_t)duration;
  put_header(t, (uint8_t)t->cfg.out.dtmf_pt, p->marker, t->out_next_ts + (uint32_t)offset);
  t->output(t->user_data, t->packet, RTP_HEADER + p->len);
  t->stats.events++;
}

int transcoder_push(transcoder *t, const transcoder_input *in) {
  bool event = t->cfg.in.dtmf_pt >= 0 && in->pt == t->cfg.in.dtmf_pt;
  if (!event && in->pt != t->cfg.in.pt) return 0;
  if (in->len == 0 || in->len > AUDIO_MAX_PAYLOAD) return 0;
  if (t->have_in_ssrc && in->ssrc != t->in_ssrc) {
    /* A new in stream: start its sequence space afresh; our out stream just goes on. */
    jitter_init(&t->jitter);
    t->timeline_started = false;
    t->out_next_ts += (uint32_t)(pcm_to_out(t, t->fifo_len) + pcm_to_out(t, t->frame_samples));
    t->fifo_len = 0;
    t->marker_next = true;
  }
  t->have_in_ssrc = true;
  t->in_ssrc = in->ssrc;
  if (!jitter_put(&t->jitter, in->seq, in->ts, in->marker, event, in->payload, in->len)) return 0;
  int frames = 0;
  const jitter_packet *p;
  for (;;) {
    jitter_result r = jitter_get(&t->jitter, &p);
    if (r == JITTER_EMPTY) break;
    if (r == JITTER_LOST) frames += conceal_lost(t, p);
    else if (p->event) carry_event(t, p);
    else frames += play_audio(t, p);
  }
  return frames;
}
