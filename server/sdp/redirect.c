/* redirect: our own plain SDP again with another direction, for in-dialog offers and answers
 * (hold / resume re-INVITEs, answers to the far end's re-INVITEs). See sdp.h.
 *
 * The input is an SDP this module printed (print_plain), so re-parsing and re-printing it
 * reproduces it exactly except for what we change: the direction, the payload types kept and
 * the o= version. */
#include <stdlib.h>
#include <string.h>

#include "sdp/sdp_internal.h"

static bool direction_known(const char *d) {
  return d && (!strcmp(d, "sendrecv") || !strcmp(d, "sendonly") || !strcmp(d, "recvonly") ||
               !strcmp(d, "inactive"));
}

static bool kept(const sdp_codec *codec, int keep_pt, int keep_dtmf_pt) {
  return keep_pt < 0 || codec->pt == keep_pt || codec->pt == keep_dtmf_pt;
}

/* The audio section of ours with only the kept payload types; false when none is left. */
static bool kept_audio(const sdp_media *audio, int keep_pt, int keep_dtmf_pt, out_audio *out) {
  for (size_t i = 0; i < audio->codec_count; i++) {
    if (kept(&audio->codecs[i], keep_pt, keep_dtmf_pt)) out_audio_add(out, &audio->codecs[i]);
  }
  return out->count > 0;
}

bool sdp_plain_with_direction(const char *ours, const char *direction, int keep_pt,
                              int keep_dtmf_pt, char **out, char *err, size_t err_len) {
  *out = NULL;
  if (!direction_known(direction)) {
    sdp_set_err(err, err_len, "unknown SDP direction '%s'", direction ? direction : "");
    return false;
  }
  sdp_session *s = calloc(1, sizeof *s); /* large: not on the stack */
  if (!s) {
    sdp_set_err(err, err_len, "out of memory");
    return false;
  }
  bool ok = false;
  const sdp_media *audio = NULL;
  if (!ours || !sdp_parse(ours, strlen(ours), s, err, err_len)) goto done;
  audio = sdp_audio(s);
  if (!audio) {
    sdp_set_err(err, err_len, "our SDP has no audio");
    goto done;
  }
  out_audio kept_codecs = {.direction = direction};
  if (!kept_audio(audio, keep_pt, keep_dtmf_pt, &kept_codecs)) {
    sdp_set_err(err, err_len, "our SDP does not offer payload type %d", keep_pt);
    goto done;
  }
  sdp_plain_local local = {.address = audio->connection[0] ? audio->connection : s->connection,
                           .rtp_port = audio->port, .session_id = s->origin_id,
                           .session_version = s->origin_version + 1};
  if (!plain_local_valid(&local, err, err_len)) goto done;
  sdp_text text = {0};
  print_plain(&text, &local, &kept_codecs);
  ok = text_finish(&text, out, err, err_len);
done:
  sdp_session_clear(s);
  free(s);
  return ok;
}

const char *sdp_answer_direction(const char *offered, bool holding) {
  /* RFC 3264 6.1: we send only if the offerer receives and receive only if it sends. Holding,
   * we want to send only (our hold offer said sendonly), else both ways. */
  bool plain = !offered || !offered[0] || !strcmp(offered, "sendrecv");
  bool they_send = plain || !strcmp(offered, "sendonly");
  bool they_receive = plain || !strcmp(offered, "recvonly");
  bool send = they_receive, receive = they_send && !holding;
  if (send && receive) return "sendrecv";
  if (send) return "sendonly";
  if (receive) return "recvonly";
  return "inactive";
}

const char *sdp_audio_direction(const char *text) {
  static const char *const names[] = {"sendrecv", "sendonly", "recvonly", "inactive"};
  sdp_session *s = text ? calloc(1, sizeof *s) : NULL;
  char err[64];
  const char *found = NULL;
  if (s && sdp_parse(text, strlen(text), s, err, sizeof err) && sdp_audio(s)) {
    for (size_t i = 0; i < 4 && !found; i++)
      if (!strcmp(sdp_audio(s)->direction, names[i])) found = names[i];
  }
  if (s) sdp_session_clear(s);
  free(s);
  return found;
}
