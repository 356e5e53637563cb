/* codecs: which codecs tabphone can bridge without transcoding, and how to recognise them in
 * what a peer wrote. Names compare case-insensitively together with the RTP clock rate (and two
 * channels for Opus), so "PCMU/8000" and "pcmu/8000" are the same codec while "opus/48000/1" or
 * "PCMU/16000" are not ours. Also: the names that go into "no common codec" errors, and the
 * payload-type bookkeeping for the SDP we write. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sdp/sdp_internal.h"

typedef struct known_codec {
  codec_kind kind;
  const char *lower;    /* our name, as in allowed lists and sdp_codec_choice */
  const char *written;  /* how we spell it in a=rtpmap */
  int clock_rate;       /* the RTP clock, not the sampling rate: G722 runs at 16 kHz on 8000 */
  int channels;
} known_codec;

static const known_codec known[] = {
    {CODEC_OPUS, "opus", "opus", 48000, 2},
    {CODEC_PCMU, "pcmu", "PCMU", 8000, 1},
    {CODEC_PCMA, "pcma", "PCMA", 8000, 1},
    {CODEC_G722, "g722", "G722", 8000, 1},
};

static char *const default_allowed[] = {"opus", "pcmu", "pcma", "g722", NULL};

static const known_codec *known_of(codec_kind kind) {
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (known[i].kind == kind) return &known[i];
  return NULL;
}

codec_kind codec_kind_of(const sdp_codec *codec) {
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
    const known_codec *k = &known[i];
    if (strcasecmp(codec->name, k->lower) == 0 && codec->clock_rate == k->clock_rate &&
        codec->channels == k->channels)
      return k->kind;
  }
  return CODEC_NONE;
}

codec_kind codec_kind_named(const char *lowercase_name) {
  for (size_t i = 0; lowercase_name && i < sizeof known / sizeof known[0]; i++)
    if (strcasecmp(lowercase_name, known[i].lower) == 0) return known[i].kind;
  return CODEC_NONE;
}

const char *codec_kind_name(codec_kind kind) {
  const known_codec *k = known_of(kind);
  return k ? k->lower : "";
}

int codec_kind_clock(codec_kind kind) {
  const known_codec *k = known_of(kind);
  return k ? k->clock_rate : 0;
}

bool codec_is_dtmf(const sdp_codec *codec) {
  return strcasecmp(codec->name, "telephone-event") == 0;
}

const sdp_codec *media_find_kind(const sdp_media *media, codec_kind kind) {
  for (size_t i = 0; kind != CODEC_NONE && i < media->codec_count; i++)
    if (codec_kind_of(&media->codecs[i]) == kind) return &media->codecs[i];
  return NULL;
}

const sdp_codec *media_find_dtmf(const sdp_media *media, int clock_rate) {
  for (size_t i = 0; i < media->codec_count; i++)
    if (codec_is_dtmf(&media->codecs[i]) && media->codecs[i].clock_rate == clock_rate)
      return &media->codecs[i];
  return NULL;
}

void codec_canonical(codec_kind kind, int pt, const char *fmtp, sdp_codec *out) {
  const known_codec *k = known_of(kind);
  memset(out, 0, sizeof *out);
  out->pt = pt;
  snprintf(out->name, sizeof out->name, "%s", k ? k->written : "");
  out->clock_rate = k ? k->clock_rate : 0;
  out->channels = k ? k->channels : 1;
  snprintf(out->fmtp, sizeof out->fmtp, "%s", fmtp ? fmtp : "");
}

void codec_dtmf(int pt, int clock_rate, const char *fmtp, sdp_codec *out) {
  memset(out, 0, sizeof *out);
  out->pt = pt;
  snprintf(out->name, sizeof out->name, "%s", "telephone-event");
  out->clock_rate = clock_rate;
  out->channels = 1;
  snprintf(out->fmtp, sizeof out->fmtp, "%s", fmtp && fmtp[0] ? fmtp : "0-16");
}

/* Appends ", name" (or "name" first) unless the list already holds it. */
static void list_add(char *buf, size_t len, const char *name) {
  size_t n = strlen(name), used = strlen(buf);
  for (const char *p = buf; (p = strstr(p, name)) != NULL; p += n)
    if ((p == buf || p[-1] == ' ') && (p[n] == '\0' || p[n] == ',')) return;
  snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
}

/* A codec name for an error text: lowercase, printable, bounded. */
static void lower_name(const sdp_codec *codec, char *out, size_t len) {
  size_t i = 0;
  for (; codec->name[i] && i + 1 < len; i++) {
    char c = codec->name[i];
    out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : (c > ' ' && c < 127 ? c : '?');
  }
  out[i] = '\0';
  if (i == 0) snprintf(out, len, "pt %d", codec->pt);
}

void media_codec_names(const sdp_media *media, bool all_audio, char *buf, size_t len) {
  buf[0] = '\0';
  for (size_t i = 0; media && i < media->codec_count; i++) {
    const sdp_codec *c = &media->codecs[i];
    codec_kind kind = codec_kind_of(c);
    char name[40];
    if (kind != CODEC_NONE) {
      list_add(buf, len, codec_kind_name(kind));
    } else if (all_audio && !codec_is_dtmf(c) && strcasecmp(c->name, "CN") != 0) {
      lower_name(c, name, sizeof name);
      list_add(buf, len, name);
    }
  }
  if (buf[0] == '\0') snprintf(buf, len, "%s", "none");
}

char *const *allowed_or_default(char *const *allowed) {
  return allowed ? allowed : default_allowed;
}

void allowed_names(char *const *allowed, char *buf, size_t len) {
  buf[0] = '\0';
  for (char *const *a = allowed_or_default(allowed); *a; a++) {
    codec_kind kind = codec_kind_named(*a);
    if (kind != CODEC_NONE) list_add(buf, len, codec_kind_name(kind));
  }
  if (buf[0] == '\0') snprintf(buf, len, "%s", "none");
}

int pt_pick_dynamic(pt_set *set, int wanted) {
  if (wanted >= 96 && wanted <= 127 && !set->used[wanted]) {
    set->used[wanted] = true;
    return wanted;
  }
  for (int pt = 96; pt <= 127; pt++) {
    if (!set->used[pt]) {
      set->used[pt] = true;
      return pt;
    }
  }
  return -1;
}
