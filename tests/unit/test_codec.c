/* Unit tests for codec/: G.711 tables, the jitter buffer, and the transcoder (tone through
 * every pair, timestamps and sequence numbers, telephone-event, concealment under loss). */
#include <glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec/audio_codec.h"
#include "codec/g711.h"
#include "codec/jitter.h"
#include "codec/plc.h"
#include "codec/transcoder.h"

/* ---- G.711 ---- */

static void test_g711_tables_match_known_values(void) {
  /* ITU-T G.711 / RFC 3551: the values every implementation agrees on. */
  g_assert_cmpint(g711_ulaw_decode(0x00), ==, -32124);
  g_assert_cmpint(g711_ulaw_decode(0x80), ==, 32124);
  g_assert_cmpint(g711_ulaw_decode(0xff), ==, 0);
  g_assert_cmpint(g711_ulaw_decode(0x7f), ==, 0);
  g_assert_cmpint(g711_ulaw_decode(0xce), ==, 988);
  g_assert_cmpint(g711_alaw_decode(0xd5), ==, 8);
  g_assert_cmpint(g711_alaw_decode(0x55), ==, -8);
  g_assert_cmpint(g711_alaw_decode(0xaa), ==, 32256);
  g_assert_cmpint(g711_alaw_decode(0x2a), ==, -32256);
  g_assert_cmphex(g711_ulaw_encode(0), ==, 0xff);
  g_assert_cmphex(g711_ulaw_encode(1000), ==, 0xce);
  g_assert_cmphex(g711_ulaw_encode(-1000), ==, 0x4e);
  g_assert_cmphex(g711_ulaw_encode(32767), ==, 0x80);
  g_assert_cmphex(g711_ulaw_encode(-32768), ==, 0x00);
  g_assert_cmphex(g711_alaw_encode(0), ==, 0xd5);
  g_assert_cmphex(g711_alaw_encode(1000), ==, 0xfa);
  g_assert_cmphex(g711_alaw_encode(32767), ==, 0xaa);
  g_assert_cmphex(g711_alaw_encode(-32768), ==, 0x2a);
}

static void test_g711_round_trip_is_exact_on_codes(void) {
  for (int c = 0; c < 256; c++) {
    if (c != 0x7f) g_assert_cmphex(g711_ulaw_encode(g711_ulaw_decode((uint8_t)c)), ==, c);
    g_assert_cmphex(g711_alaw_encode(g711_alaw_decode((uint8_t)c)), ==, c);
  }
}

/* ---- jitter buffer ---- */

static void put(jitter_buffer *jb, uint16_t seq) {
  uint8_t payload[1] = {(uint8_t)seq};
  g_assert_true(jitter_put(jb, seq, seq * 160u, false, false, payload, 1));
}

static uint16_t expect_packet(jitter_buffer *jb) {
  const jitter_packet *p;
  g_assert_cmpint(jitter_get(jb, &p), ==, JITTER_PACKET);
  return p->seq;
}

static void expect_empty(jitter_buffer *jb) {
  const jitter_packet *p;
  g_assert_cmpint(jitter_get(jb, &p), ==, JITTER_EMPTY);
}

static void test_jitter_puts_reordered_packets_back_in_order(void) {
  jitter_buffer jb;
  jitter_init(&jb);
  put(&jb, 65534);
  g_assert_cmpuint(expect_packet(&jb), ==, 65534);
  expect_empty(&jb);
  put(&jb, 0); /* 65535 is late: wait (depth 1) */
  expect_empty(&jb);
  put(&jb, 65535);
  g_assert_cmpuint(expect_packet(&jb), ==, 65535);
  g_assert_cmpuint(expect_packet(&jb), ==, 0);
  expect_empty(&jb);
  g_assert_cmpuint(jb.lost, ==, 0);
}

static void test_jitter_declares_a_missing_packet_lost_with_the_next_one_at_hand(void) {
  jitter_buffer jb;
  jitter_init(&jb);
  put(&jb, 10);
  g_assert_cmpuint(expect_packet(&jb), ==, 10);
  put(&jb, 12);
  expect_empty(&jb);
  put(&jb, 13);
  const jitter_packet *p;
  g_assert_cmpint(jitter_get(&jb, &p), ==, JITTER_LOST);
  g_assert_nonnull(p);
  g_assert_cmpuint(p->seq, ==, 12); /* for Opus FEC */
  g_assert_cmpuint(expect_packet(&jb), ==, 12);
  g_assert_cmpuint(expect_packet(&jb), ==, 13);
  /* 11 arrives after all: too late, and the buffer deepens. */
  uint8_t b = 0;
  g_assert_false(jitter_put(&jb, 11, 0, false, false, &b, 1));
  g_assert_cmpuint(jb.depth, ==, 2);
  g_assert_cmpuint(jb.late, ==, 1);
  /* Duplicates are refused; a big jump restarts. */
  put(&jb, 14);
  g_assert_false(jitter_put(&jb, 14, 0, false, false, &b, 1));
  g_assert_cmpuint(expect_packet(&jb), ==, 14);
  put(&jb, 5000);
  g_assert_cmpuint(expect_packet(&jb), ==, 5000);
}

/* ---- concealment ---- */

static void test_plc_continues_the_waveform_then_fades_to_silence(void) {
  audio_plc plc;
  audio_plc_init(&plc, 8000);
  int16_t frame[160], made_up[160];
  for (int f = 0; f < 5; f++) {
    for (int i = 0; i < 160; i++)
      frame[i] = (int16_t)(8000 * sin(2 * M_PI * 500 * (f * 160 + i) / 8000.0));
    audio_plc_good(&plc, frame, 160);
  }
  /* The first lost 20 ms: the 500 Hz tone goes on, in phase, at full level. */
  g_assert_cmpint(audio_plc_conceal(&plc, made_up, 160), ==, 160);
  double err = 0;
  for (int i = 0; i < 160; i++) {
    double expect = 8000 * sin(2 * M_PI * 500 * (5 * 160 + i) / 8000.0);
    err += fabs(made_up[i] - expect);
  }
  g_assert_cmpfloat(err / 160, <, 200);
  /* 20-60 ms: fading; after 60 ms: silence. */
  audio_plc_conceal(&plc, made_up, 160);
  double faded = 0;
  for (int i = 0; i < 160; i++) faded += abs(made_up[i]);
  g_assert_cmpfloat(faded / 160, <, 5100 * 0.8);
  audio_plc_conceal(&plc, made_up, 160);
  audio_plc_conceal(&plc, made_up, 160);
  for (int i = 0; i < 160; i++) g_assert_cmpint(made_up[i], ==, 0);
}

/* ---- transcoder harness ---- */

typedef struct captured {
  GPtrArray *packets; /* GByteArray each */
} captured;

static void capture(void *user_data, uint8_t *data, size_t len) {
  captured *c = user_data;
  GByteArray *copy = g_byte_array_sized_new((guint)len);
  g_byte_array_append(copy, data, (guint)len);
  g_ptr_array_add(c->packets, copy);
}

static int pt_of(audio_codec_id id) {
  return id == AUDIO_CODEC_OPUS ? 111 : id == AUDIO_CODEC_PCMU ? 0 : id == AUDIO_CODEC_PCMA ? 8 : 9;
}

static int dtmf_pt_of(audio_codec_id id) { return id == AUDIO_CODEC_OPUS ? 110 : 101; }

static transcoder *make(audio_codec_id in, audio_codec_id out, captured *c) {
  transcoder_config cfg = {
      .in = {in, pt_of(in), dtmf_pt_of(in)},
      .out = {out, pt_of(out), dtmf_pt_of(out)},
      .ssrc = 0x11223344,
      .first_seq = 1000,
      .first_ts = 5000,
      .opus = {.complexity = 5, .fec = true},
  };
  char err[128] = "";
  transcoder *t = transcoder_new(&cfg, capture, c, err, sizeof err);
  g_assert_cmpstr(err, ==, "");
  g_assert_nonnull(t);
  return t;
}

/* The rate a test encodes its source at: the codec's own. */
static int source_rate(audio_codec_id id) { return audio_codec_native_rate(id); }

/* Encodes `frames` 20 ms frames of a tone with codec `in` and pushes them through t; with
 * drop_every = N, one packet in N is lost on the way (never the first). */
static void push_tone(transcoder *t, audio_codec_id in, double freq, double amplitude,
                      int frames, int drop_every) {
  int rate = source_rate(in), n = rate / 50, ticks = audio_codec_rtp_clock(in) / 50;
  char err[128];
  audio_encoder_options o = {.complexity = 10, .fec = true};
  audio_encoder *enc = audio_encoder_new(in, rate, &o, err, sizeof err);
  g_assert_nonnull(enc);
  int16_t pcm[960];
  uint8_t payload[AUDIO_MAX_PAYLOAD];
  for (int f = 0; f < frames; f++) {
    for (int i = 0; i < n; i++)
      pcm[i] = (int16_t)(amplitude * sin(2 * M_PI * freq * (double)(f * n + i) / rate));
    int len = audio_encoder_encode(enc, pcm, payload, sizeof payload);
    g_assert_cmpint(len, >, 0);
    if (drop_every > 0 && f % drop_every == drop_every / 2) continue;
    transcoder_input p = {.pt = (uint8_t)pt_of(in), .seq = (uint16_t)(65500 + f),
                          .ts = 123456u + (uint32_t)(f * ticks), .ssrc = 42,
                          .payload = payload, .len = (size_t)len};
    transcoder_push(t, &p);
  }
  audio_encoder_free(enc);
}

/* Decodes what came out (codec out) at its native rate. */
static GArray *decode_all(const captured *c, audio_codec_id out) {
  char err[128];
  int rate = source_rate(out);
  audio_decoder *dec = audio_decoder_new(out, rate, err, sizeof err);
  g_assert_nonnull(dec);
  GArray *pcm = g_array_new(FALSE, FALSE, sizeof(int16_t));
  int16_t buf[AUDIO_MAX_FRAME];
  for (guint i = 0; i < c->packets->len; i++) {
    GByteArray *p = g_ptr_array_index(c->packets, i);
    if ((p->data[1] & 0x7f) != pt_of(out)) continue;
    int n = audio_decoder_decode(dec, p->data + 12, p->len - 12, buf);
    g_assert_cmpint(n, >, 0);
    g_array_append_vals(pcm, buf, (guint)n);
  }
  audio_decoder_free(dec);
  return pcm;
}

static double rms(const int16_t *s, size_t n) {
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += (double)s[i] * s[i];
  return n ? sqrt(sum / (double)n) : 0;
}

/* Frequency from upward zero crossings, interpolated between samples. */
static double frequency(const int16_t *s, size_t n, int rate) {
  double first = -1, last = -1;
  int crossings = 0;
  for (size_t i = 1; i < n; i++) {
    if (s[i - 1] < 0 && s[i] >= 0) {
      double at = (double)(i - 1) + (double)-s[i - 1] / (double)(s[i] - s[i - 1]);
      if (first < 0) first = at;
      last = at;
      crossings++;
    }
  }
  return crossings > 1 ? (crossings - 1) * (double)rate / (last - first) : 0;
}

static void check_tone_through(audio_codec_id in, audio_codec_id out) {
  captured c = {g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref)};
  transcoder *t = make(in, out, &c);
  const double freq = 800, amplitude = 8000;
  push_tone(t, in, freq, amplitude, 100, 0);
  GArray *pcm = decode_all(&c, out);
  int rate = source_rate(out);
  size_t skip = (size_t)rate / 5; /* 200 ms for the codecs to settle */
  g_assert_cmpuint(pcm->len, >, skip + (size_t)rate);
  const int16_t *s = (const int16_t *)pcm->data + skip;
  size_t n = pcm->len - skip;
  double f = frequency(s, n, rate);
  double level_db = 20 * log10(rms(s, n) / (amplitude / sqrt(2)));
  g_test_message("%s -> %s: %.1f Hz, %.2f dB, %u packets", audio_codec_name(in),
                 audio_codec_name(out), f, level_db, c.packets->len);
  g_assert_cmpfloat(fabs(f - freq) / freq, <, 0.02);
  g_assert_cmpfloat(fabs(level_db), <, 3.0);
  g_assert_cmpuint(c.packets->len, >=, 95);
  g_array_free(pcm, TRUE);
  transcoder_free(t);
  g_ptr_array_free(c.packets, TRUE);
}

static void test_tone_opus_to_pcmu(void) { check_tone_through(AUDIO_CODEC_OPUS, AUDIO_CODEC_PCMU); }
static void test_tone_pcmu_to_opus(void) { check_tone_through(AUDIO_CODEC_PCMU, AUDIO_CODEC_OPUS); }
static void test_tone_opus_to_pcma(void) { check_tone_through(AUDIO_CODEC_OPUS, AUDIO_CODEC_PCMA); }
static void test_tone_pcma_to_opus(void) { check_tone_through(AUDIO_CODEC_PCMA, AUDIO_CODEC_OPUS); }
static void test_tone_opus_to_g722(void) { check_tone_through(AUDIO_CODEC_OPUS, AUDIO_CODEC_G722); }
static void test_tone_g722_to_opus(void) { check_tone_through(AUDIO_CODEC_G722, AUDIO_CODEC_OPUS); }
static void test_tone_pcmu_to_g722(void) { check_tone_through(AUDIO_CODEC_PCMU, AUDIO_CODEC_G722); }
static void test_tone_g722_to_pcmu(void) { check_tone_through(AUDIO_CODEC_G722, AUDIO_CODEC_PCMU); }

static uint16_t seq_of(const GByteArray *p) { return (uint16_t)(p->data[2] << 8 | p->data[3]); }
static uint32_t ts_of(const GByteArray *p) {
  return (uint32_t)p->data[4] << 24 | (uint32_t)p->data[5] << 16 | (uint32_t)p->data[6] << 8 |
         p->data[7];
}
static uint32_t ssrc_of(const GByteArray *p) {
  return (uint32_t)p->data[8] << 24 | (uint32_t)p->data[9] << 16 | (uint32_t)p->data[10] << 8 |
         p->data[11];
}
static bool marker_of(const GByteArray *p) { return (p->data[1] & 0x80) != 0; }

static void push_ulaw(transcoder *t, uint16_t seq, uint32_t ts) {
  uint8_t payload[160];
  memset(payload, 0xff, sizeof payload);
  transcoder_input p = {.pt = 0, .seq = seq, .ts = ts, .ssrc = 7, .payload = payload,
                        .len = sizeof payload};
  transcoder_push(t, &p);
}

static void test_out_sequence_and_timestamps_are_regenerated(void) {
  captured c = {g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref)};
  transcoder *t = make(AUDIO_CODEC_PCMU, AUDIO_CODEC_OPUS, &c);
  /* In: seq wraps at 65535, ts starts anywhere; 5 frames, a 10-frame silence gap (seq goes on,
   * ts jumps: silence suppression), then 3 frames, then a lost packet, then 2 more. */
  uint16_t seq = 65533;
  uint32_t ts = 4294967000u;
  for (int i = 0; i < 5; i++, ts += 160) push_ulaw(t, seq++, ts);
  ts += 10 * 160;
  for (int i = 0; i < 3; i++, ts += 160) push_ulaw(t, seq++, ts);
  seq++, ts += 160; /* lost */
  for (int i = 0; i < 3; i++, ts += 160) push_ulaw(t, seq++, ts);
  g_assert_cmpuint(c.packets->len, >=, 11);
  uint32_t expect_ts = 5000;
  for (guint i = 0; i < c.packets->len; i++) {
    GByteArray *p = g_ptr_array_index(c.packets, i);
    g_assert_cmpuint(seq_of(p), ==, (uint16_t)(1000 + i));
    g_assert_cmpuint(ssrc_of(p), ==, 0x11223344);
    g_assert_cmpuint(p->data[1] & 0x7f, ==, 111);
    if (i == 5) expect_ts += 10 * 960;
    g_assert_cmpuint(ts_of(p), ==, expect_ts);
    g_assert_true(marker_of(p) == (i == 0 || i == 5));
    expect_ts += 960;
  }
  transcoder_stats st;
  transcoder_get_stats(t, &st);
  g_assert_cmpuint(st.concealed, ==, 1);
  transcoder_free(t);
  g_ptr_array_free(c.packets, TRUE);
}

static void test_telephone_event_is_carried_with_rescaled_time(void) {
  captured c = {g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref)};
  transcoder *t = make(AUDIO_CODEC_OPUS, AUDIO_CODEC_PCMU, &c);
  push_tone(t, AUDIO_CODEC_OPUS, 440, 4000, 3, 0); /* seq 65500..65502, ts 123456 + 960 k */
  size_t audio = c.packets->len;
  g_assert_cmpuint(audio, ==, 3);
  /* Event '5' starting where the 4th frame would, 3 updates of 20 ms each, then the end. */
  uint32_t ev_ts = 123456u + 3 * 960;
  for (int i = 0; i < 4; i++) {
    uint16_t duration = (uint16_t)(960 * (i < 3 ? i + 1 : 3));
    uint8_t ev[4] = {5, (uint8_t)(i == 3 ? 0x80 | 10 : 10), (uint8_t)(duration >> 8),
                     (uint8_t)duration};
    transcoder_input p = {.pt = 110, .marker = i == 0, .seq = (uint16_t)(65503 + i),
                          .ts = ev_ts, .ssrc = 42, .payload = ev, .len = sizeof ev};
    transcoder_push(t, &p);
  }
  g_assert_cmpuint(c.packets->len, ==, audio + 4);
  GByteArray *last_audio = g_ptr_array_index(c.packets, audio - 1);
  for (guint i = 0; i < 4; i++) {
    GByteArray *p = g_ptr_array_index(c.packets, (guint)audio + i);
    g_assert_cmpuint(p->data[1] & 0x7f, ==, 101);
    g_assert_true(marker_of(p) == (i == 0));
    g_assert_cmpuint(seq_of(p), ==, (uint16_t)(seq_of(last_audio) + 1 + i));
    g_assert_cmpuint(ts_of(p), ==, ts_of(last_audio) + 160);
    g_assert_cmpuint(p->len, ==, 16);
    g_assert_cmpuint(p->data[12], ==, 5);
    unsigned duration = (unsigned)(p->data[14] << 8 | p->data[15]);
    g_assert_cmpuint(duration, ==, 160 * (i < 3 ? i + 1 : 3));
    g_assert_true((p->data[13] & 0x80) == (i == 3 ? 0x80 : 0));
  }
  transcoder_free(t);
  g_ptr_array_free(c.packets, TRUE);
}

/* 5 % loss on the SIP side (every 20th packet dropped): the Opus stream to the browser has no
 * gap in sequence numbers or timestamps, and no 20 ms of it falls silent. */
static void test_five_percent_loss_still_gives_a_continuous_tone(void) {
  const audio_codec_id ins[] = {AUDIO_CODEC_PCMU, AUDIO_CODEC_G722};
  for (size_t k = 0; k < 2; k++) {
    captured c = {g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref)};
    transcoder *t = make(ins[k], AUDIO_CODEC_OPUS, &c);
    push_tone(t, ins[k], 800, 8000, 200, 20);
    transcoder_stats st;
    transcoder_get_stats(t, &st);
    g_assert_cmpuint(st.concealed, ==, 10);
    for (guint i = 1; i < c.packets->len; i++) {
      GByteArray *a = g_ptr_array_index(c.packets, i - 1), *b = g_ptr_array_index(c.packets, i);
      g_assert_cmpuint(seq_of(b), ==, (uint16_t)(seq_of(a) + 1));
      g_assert_cmpuint(ts_of(b), ==, ts_of(a) + 960);
    }
    GArray *pcm = decode_all(&c, AUDIO_CODEC_OPUS);
    const int16_t *s = (const int16_t *)pcm->data;
    double nominal = 8000 / sqrt(2), quietest = 1e9;
    for (size_t at = 48000 / 5; at + 960 <= pcm->len; at += 960) {
      double r = rms(s + at, 960);
      if (r < quietest) quietest = r;
    }
    g_test_message("%s with 5%% loss: quietest 20 ms at %.1f dB", audio_codec_name(ins[k]),
                   20 * log10(quietest / nominal));
    g_assert_cmpfloat(quietest, >, nominal / 2); /* within 6 dB, never a gap */
    double f = frequency(s + 9600, pcm->len - 9600, 48000);
    g_assert_cmpfloat(fabs(f - 800) / 800, <, 0.02);
    g_array_free(pcm, TRUE);
    transcoder_free(t);
    g_ptr_array_free(c.packets, TRUE);
  }
}

static void test_opus_loss_is_recovered_from_fec(void) {
  captured c = {g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref)};
  transcoder *t = make(AUDIO_CODEC_OPUS, AUDIO_CODEC_PCMU, &c);
  push_tone(t, AUDIO_CODEC_OPUS, 800, 8000, 100, 20);
  transcoder_stats st;
  transcoder_get_stats(t, &st);
  g_assert_cmpuint(st.concealed, ==, 5);
  g_assert_cmpuint(st.fec, ==, 5);
  g_assert_cmpuint(c.packets->len, >=, 99);
  transcoder_free(t);
  g_ptr_array_free(c.packets, TRUE);
}

static void test_unknown_payload_types_and_garbage_are_ignored(void) {
  captured c = {g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref)};
  transcoder *t = make(AUDIO_CODEC_OPUS, AUDIO_CODEC_PCMU, &c);
  uint8_t junk[64];
  memset(junk, 0xff, sizeof junk);
  for (int i = 0; i < 10; i++) {
    transcoder_input p = {.pt = (uint8_t)(i % 2 ? 111 : 13), .seq = (uint16_t)i, .ts = 0,
                          .ssrc = 1, .payload = junk, .len = (size_t)i * 6};
    transcoder_push(t, &p);
  }
  transcoder_input ev = {.pt = 110, .seq = 11, .ssrc = 1, .payload = junk, .len = 2};
  transcoder_push(t, &ev);
  transcoder_free(t);
  g_ptr_array_free(c.packets, TRUE);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/codec/g711/known-values", test_g711_tables_match_known_values);
  g_test_add_func("/codec/g711/round-trip", test_g711_round_trip_is_exact_on_codes);
  g_test_add_func("/codec/jitter/reorder", test_jitter_puts_reordered_packets_back_in_order);
  g_test_add_func("/codec/jitter/loss",
                  test_jitter_declares_a_missing_packet_lost_with_the_next_one_at_hand);
  g_test_add_func("/codec/plc/continue-then-fade",
                  test_plc_continues_the_waveform_then_fades_to_silence);
  g_test_add_func("/codec/tone/opus-pcmu", test_tone_opus_to_pcmu);
  g_test_add_func("/codec/tone/pcmu-opus", test_tone_pcmu_to_opus);
  g_test_add_func("/codec/tone/opus-pcma", test_tone_opus_to_pcma);
  g_test_add_func("/codec/tone/pcma-opus", test_tone_pcma_to_opus);
  g_test_add_func("/codec/tone/opus-g722", test_tone_opus_to_g722);
  g_test_add_func("/codec/tone/g722-opus", test_tone_g722_to_opus);
  g_test_add_func("/codec/tone/pcmu-g722", test_tone_pcmu_to_g722);
  g_test_add_func("/codec/tone/g722-pcmu", test_tone_g722_to_pcmu);
  g_test_add_func("/codec/rtp/seq-ts-regenerated",
                  test_out_sequence_and_timestamps_are_regenerated);
  g_test_add_func("/codec/rtp/telephone-event", test_telephone_event_is_carried_with_rescaled_time);
  g_test_add_func("/codec/loss/continuous-tone",
                  test_five_percent_loss_still_gives_a_continuous_tone);
  g_test_add_func("/codec/loss/opus-fec", test_opus_loss_is_recovered_from_fec);
  g_test_add_func("/codec/input/garbage", test_unknown_payload_types_and_garbage_are_ignored);
  return g_test_run();
}
