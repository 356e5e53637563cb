/* sdp_internal: what the files of server/sdp share and nobody else sees: the codec kinds we
 * can bridge, payload-type bookkeeping, the text builder the printers write into, and the
 * printers of plain (SIP) and WebRTC (browser) SDP. The public contract is sdp.h. */
#ifndef TABPHONE_SDP_SDP_INTERNAL_H
#define TABPHONE_SDP_SDP_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "sdp/sdp.h"

/* The fixed SSRC we announce in our WebRTC SDP (0x7ab00001). The media layer rewrites SSRCs
 * per leg anyway; the browser only needs one a=ssrc/cname to accept the m-line. */
enum { SDP_OUR_SSRC = 2058354689u };

/* ---- codecs.c: the codecs a passthrough bridge can carry ---- */
typedef enum codec_kind { CODEC_NONE, CODEC_OPUS, CODEC_PCMU, CODEC_PCMA, CODEC_G722 } codec_kind;

codec_kind codec_kind_of(const sdp_codec *codec);
codec_kind codec_kind_named(const char *lowercase_name);
const char *codec_kind_name(codec_kind kind);
int codec_kind_clock(codec_kind kind);
bool codec_is_dtmf(const sdp_codec *codec);
/* The first codec of media of that kind, or NULL. */
const sdp_codec *media_find_kind(const sdp_media *media, codec_kind kind);
/* The first telephone-event of media with that clock rate, or NULL. */
const sdp_codec *media_find_dtmf(const sdp_media *media, int clock_rate);
/* Fills out with our spelling of the codec (name, clock, channels) and the given pt/fmtp. */
void codec_canonical(codec_kind kind, int pt, const char *fmtp, sdp_codec *out);
void codec_dtmf(int pt, int clock_rate, const char *fmtp, sdp_codec *out);
/* Appends the distinct names of media's codecs (lowercase, bridgeable ones only unless
 * all_audio) to buf as "opus, pcmu"; "none" when there are none. */
void media_codec_names(const sdp_media *media, bool all_audio, char *buf, size_t len);
/* Joins allowed (NULL = the default list) as "opus, pcmu". */
void allowed_names(char *const *allowed, char *buf, size_t len);
/* allowed, or the default order when allowed is NULL. */
char *const *allowed_or_default(char *const *allowed);

typedef struct pt_set {
  bool used[128];
} pt_set;
/* wanted when it is a free dynamic pt (96-127), else the first free dynamic pt, else -1. */
int pt_pick_dynamic(pt_set *set, int wanted);

/* ---- print.c: a growable text and the two SDP dialects we write ---- */
typedef struct sdp_text {
  char *buf;
  size_t len;
  size_t cap;
  bool failed;
} sdp_text;

void text_add(sdp_text *text, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the text to *out, or frees it and explains in err. */
bool text_finish(sdp_text *text, char **out, char *err, size_t err_len);

/* The one audio m-section we write, on either leg. */
typedef struct out_audio {
  sdp_codec codecs[SDP_MAX_CODECS];
  size_t count;
  const char *direction;
} out_audio;

bool out_audio_add(out_audio *audio, const sdp_codec *codec);

bool plain_local_valid(const sdp_plain_local *local, char *err, size_t err_len);
bool webrtc_local_valid(const sdp_webrtc_local *local, char *err, size_t err_len);

void print_plain(sdp_text *text, const sdp_plain_local *local, const out_audio *audio);
/* bundle_mids: space-separated mids for a=group:BUNDLE, NULL or "" for none. */
void print_webrtc_session(sdp_text *text, const sdp_webrtc_local *local, const char *bundle_mids);
void print_webrtc_audio(sdp_text *text, const sdp_webrtc_local *local, const char *mid,
                        const out_audio *audio);
void print_webrtc_rejected(sdp_text *text, const sdp_media *offered);

/* ---- translate.c helpers shared with the checks ---- */
void sdp_set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
