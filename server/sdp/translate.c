/* translate: the four SDP translations of a bridged call, plus the echo test's answer.
 *
 *   outbound: browser offer --(1)--> SIP offer;   SIP answer --(2)--> browser answer
 *   inbound:  SIP offer --(3)--> browser offer;   browser answer --(4)--> SIP answer
 *
 * Passthrough only: both legs carry the same codec (Opus/48000/2, PCMU, PCMA or G722), so the
 * offers contain only codecs both sides can take, in the account's order of preference, and
 * the answers pick the answerer's first bridgeable codec. Payload types may differ between
 * legs (sdp_codec_choice says which is which; the bridge rewrites them).
 *
 * DTMF (RFC 4733 telephone-event) only passes through when both legs carry it at the chosen
 * codec's clock rate: its timestamps run on the audio clock. A leg without a matching
 * telephone-event gets dtmf pt -1 and the bridge drops events for it. Our SIP offers always
 * carry telephone-event/8000 (pt 101 unless taken) and, when Opus is offered and the browser
 * has it, telephone-event/48000 too, so Opus calls can pass DTMF when the far end agrees. */
#include <stdio.h>
#include <string.h>

#include "sdp/sdp_internal.h"

/* ---- what each side must have ---- */

static bool webrtc_audio_usable(const sdp_session *s, const char *what, const sdp_media **audio,
                                char *err, size_t err_len) {
  *audio = sdp_audio(s);
  if (*audio == NULL) {
    sdp_set_err(err, err_len, "%s has no audio (or rejects it)", what);
    return false;
  }
  if ((*audio)->ice_ufrag[0] == '\0' || (*audio)->ice_pwd[0] == '\0') {
    sdp_set_err(err, err_len, "%s has no ICE credentials (a=ice-ufrag/a=ice-pwd)", what);
    return false;
  }
  if (strcmp((*audio)->fingerprint_alg, "sha-256") != 0 || (*audio)->fingerprint[0] == '\0') {
    sdp_set_err(err, err_len, "%s has no sha-256 DTLS fingerprint (a=fingerprint)", what);
    return false;
  }
  return true;
}

static bool plain_audio_usable(const sdp_session *s, const char *what, const sdp_media **audio,
                               char *err, size_t err_len) {
  *audio = sdp_audio(s);
  if (*audio == NULL) {
    sdp_set_err(err, err_len, "%s has no audio (or rejects it)", what);
    return false;
  }
  const char *proto = (*audio)->proto;
  if (strncmp(proto, "RTP/SAVP", 8) == 0) {
    sdp_set_err(err, err_len, "%s uses %s: SDES-SRTP is not supported yet", what, proto);
    return false;
  }
  if (strcmp(proto, "RTP/AVP") != 0 && strcmp(proto, "RTP/AVPF") != 0) {
    sdp_set_err(err, err_len, "%s uses %s, expected RTP/AVP", what, proto);
    return false;
  }
  if ((*audio)->connection[0] == '\0') {
    sdp_set_err(err, err_len, "%s has no c= address", what);
    return false;
  }
  return true;
}

/* ---- shared steps ---- */

static const char *same_direction(const char *d) {
  if (strcmp(d, "sendonly") == 0 || strcmp(d, "recvonly") == 0 || strcmp(d, "inactive") == 0)
    return d;
  return "sendrecv";
}

static const char *mirrored_direction(const char *d) {
  if (strcmp(d, "sendonly") == 0) return "recvonly";
  if (strcmp(d, "recvonly") == 0) return "sendonly";
  if (strcmp(d, "inactive") == 0) return "inactive";
  return "sendrecv";
}

static const char *mid_of(const sdp_media *m) { return m->mid[0] ? m->mid : "0"; }

static void choice_reset(sdp_codec_choice *choice) {
  if (choice == NULL) return;
  memset(choice, 0, sizeof *choice);
  choice->browser_pt = choice->sip_pt = choice->browser_dtmf_pt = choice->sip_dtmf_pt = -1;
}

static int dtmf_pt(const sdp_media *m, int clock_rate) {
  const sdp_codec *te = media_find_dtmf(m, clock_rate);
  return te ? te->pt : -1;
}

/* Fills choice for a codec of kind carried as browser_pt / sip_pt, with each leg's DTMF. */
static void choice_fill(sdp_codec_choice *choice, codec_kind kind, int browser_pt, int sip_pt,
                        const sdp_media *browser, const sdp_media *sip) {
  if (choice == NULL) return;
  snprintf(choice->name, sizeof choice->name, "%s", codec_kind_name(kind));
  choice->clock_rate = codec_kind_clock(kind);
  choice->browser_pt = browser_pt;
  choice->sip_pt = sip_pt;
  choice->browser_dtmf_pt = dtmf_pt(browser, choice->clock_rate);
  choice->sip_dtmf_pt = dtmf_pt(sip, choice->clock_rate);
}

/* The first codec of answer (in its order) that offer also has; both codecs come back. */
static codec_kind first_common(const sdp_media *answer, const sdp_media *offer,
                               const sdp_codec **in_answer, const sdp_codec **in_offer) {
  for (size_t i = 0; i < answer->codec_count; i++) {
    codec_kind kind = codec_kind_of(&answer->codecs[i]);
    const sdp_codec *other = media_find_kind(offer, kind);
    if (other) {
      *in_answer = &answer->codecs[i];
      *in_offer = other;
      return kind;
    }
  }
  return CODEC_NONE;
}

static bool no_common_codec(const char *left_label, const sdp_media *left, bool left_all,
                            const char *right_label, const sdp_media *right, char *const *allowed,
                            char *err, size_t err_len) {
  char l[160], r[160];
  media_codec_names(left, left_all, l, sizeof l);
  if (right) media_codec_names(right, true, r, sizeof r);
  else allowed_names(allowed, r, sizeof r);
  sdp_set_err(err, err_len, "no common codec (%s: %s; %s: %s)", left_label, l, right_label, r);
  return false;
}

/* The browser answer: our audio section for the offer's audio m-line, every other m-line
 * rejected with port 0 and its mid, BUNDLE (when offered) listing only the accepted mid. */
static bool print_browser_answer(const sdp_session *offer, const sdp_media *audio,
                                 const sdp_webrtc_local *local, const out_audio *ours, char **out,
                                 char *err, size_t err_len) {
  sdp_text text = {0};
  print_webrtc_session(&text, local, offer->bundle ? mid_of(audio) : NULL);
  for (size_t i = 0; i < offer->media_count; i++) {
    if (&offer->media[i] == audio) print_webrtc_audio(&text, local, mid_of(audio), ours);
    else print_webrtc_rejected(&text, &offer->media[i]);
  }
  return text_finish(&text, out, err, err_len);
}

static void add_dtmf(out_audio *ours, const sdp_media *from, int pt, int clock_rate) {
  const sdp_codec *te = media_find_dtmf(from, clock_rate);
  sdp_codec codec;
  if (pt < 0) return;
  codec_dtmf(pt, clock_rate, te ? te->fmtp : NULL, &codec);
  out_audio_add(ours, &codec);
}

/* ---- (1) outbound: browser offer -> SIP offer ---- */

static int static_pt(codec_kind kind) {
  return kind == CODEC_PCMU ? 0 : kind == CODEC_PCMA ? 8 : kind == CODEC_G722 ? 9 : -1;
}

/* The codecs of the SIP offer: allowed ∩ browser, in the account's order. */
static void sip_offer_codecs(const sdp_media *browser, char *const *allowed, pt_set *used,
                             out_audio *ours) {
  bool added[CODEC_G722 + 1] = {false};
  for (char *const *a = allowed_or_default(allowed); *a; a++) {
    codec_kind kind = codec_kind_named(*a);
    const sdp_codec *theirs = media_find_kind(browser, kind);
    if (theirs == NULL || added[kind]) continue;
    int pt = kind == CODEC_OPUS ? pt_pick_dynamic(used, theirs->pt) : static_pt(kind);
    if (pt < 0) continue;
    sdp_codec codec;
    codec_canonical(kind, pt, kind == CODEC_OPUS ? theirs->fmtp : NULL, &codec);
    added[kind] = out_audio_add(ours, &codec);
  }
}

bool sdp_offer_browser_to_plain(const sdp_session *browser_offer, char *const *allowed,
                                const sdp_plain_local *local, char **out, char *err,
                                size_t err_len) {
  const sdp_media *browser;
  if (!webrtc_audio_usable(browser_offer, "browser offer", &browser, err, err_len)) return false;
  if (!plain_local_valid(local, err, err_len)) return false;
  pt_set used = {{false}};
  out_audio ours = {.direction = same_direction(browser->direction)};
  sip_offer_codecs(browser, allowed, &used, &ours);
  if (ours.count == 0)
    return no_common_codec("browser", browser, false, "account", NULL, allowed, err, err_len);
  bool opus = false;
  for (size_t i = 0; i < ours.count; i++) opus = opus || ours.codecs[i].clock_rate == 48000;
  sdp_codec te;
  codec_dtmf(pt_pick_dynamic(&used, 101), 8000, "0-16", &te);
  if (te.pt >= 0) out_audio_add(&ours, &te);
  const sdp_codec *te48 = media_find_dtmf(browser, 48000);
  if (opus && te48) {
    codec_dtmf(pt_pick_dynamic(&used, te48->pt), 48000, "0-16", &te);
    if (te.pt >= 0) out_audio_add(&ours, &te);
  }
  sdp_text text = {0};
  print_plain(&text, local, &ours);
  return text_finish(&text, out, err, err_len);
}

/* ---- (2) outbound: SIP answer -> browser answer ---- */

bool sdp_answer_plain_to_browser(const sdp_session *browser_offer, const sdp_session *plain_answer,
                                 const sdp_webrtc_local *local, char **out,
                                 sdp_codec_choice *choice, char *err, size_t err_len) {
  const sdp_media *browser, *sip;
  const sdp_codec *in_sip, *in_browser;
  choice_reset(choice);
  if (!webrtc_audio_usable(browser_offer, "browser offer", &browser, err, err_len)) return false;
  if (!plain_audio_usable(plain_answer, "far end answer", &sip, err, err_len)) return false;
  if (!webrtc_local_valid(local, err, err_len)) return false;
  codec_kind kind = first_common(sip, browser, &in_sip, &in_browser);
  if (kind == CODEC_NONE)
    return no_common_codec("browser", browser, false, "far end", sip, NULL, err, err_len);
  sdp_codec_choice picked;
  choice_fill(&picked, kind, in_browser->pt, in_sip->pt, browser, sip);
  out_audio ours = {.direction = same_direction(sip->direction)};
  sdp_codec codec;
  codec_canonical(kind, in_browser->pt, kind == CODEC_OPUS ? in_sip->fmtp : NULL, &codec);
  out_audio_add(&ours, &codec);
  add_dtmf(&ours, browser, picked.browser_dtmf_pt, picked.clock_rate);
  if (choice) *choice = picked;
  return print_browser_answer(browser_offer, browser, local, &ours, out, err, err_len);
}

/* ---- (3) inbound: SIP offer -> browser offer ---- */

bool sdp_offer_plain_to_browser(const sdp_session *plain_offer, char *const *allowed,
                                const sdp_webrtc_local *local, char **out, char *err,
                                size_t err_len) {
  const sdp_media *sip;
  if (!plain_audio_usable(plain_offer, "far end offer", &sip, err, err_len)) return false;
  if (!webrtc_local_valid(local, err, err_len)) return false;
  out_audio ours = {.direction = same_direction(sip->direction)};
  bool added[CODEC_G722 + 1] = {false}, clock8k = false, clock48k = false;
  for (char *const *a = allowed_or_default(allowed); *a; a++) {
    codec_kind kind = codec_kind_named(*a);
    const sdp_codec *theirs = media_find_kind(sip, kind);
    if (theirs == NULL || added[kind]) continue;
    sdp_codec codec;
    codec_canonical(kind, theirs->pt, kind == CODEC_OPUS ? theirs->fmtp : NULL, &codec);
    added[kind] = out_audio_add(&ours, &codec);
    clock48k = clock48k || codec.clock_rate == 48000;
    clock8k = clock8k || codec.clock_rate == 8000;
  }
  if (ours.count == 0)
    return no_common_codec("far end", sip, true, "account", NULL, allowed, err, err_len);
  if (clock8k) add_dtmf(&ours, sip, dtmf_pt(sip, 8000), 8000);
  if (clock48k) add_dtmf(&ours, sip, dtmf_pt(sip, 48000), 48000);
  sdp_text text = {0};
  print_webrtc_session(&text, local, "0");
  print_webrtc_audio(&text, local, "0", &ours);
  return text_finish(&text, out, err, err_len);
}

/* ---- (4) inbound: browser answer -> SIP answer ---- */

bool sdp_answer_browser_to_plain(const sdp_session *plain_offer, const sdp_session *browser_answer,
                                 const sdp_plain_local *local, char **out,
                                 sdp_codec_choice *choice, char *err, size_t err_len) {
  const sdp_media *sip, *browser;
  const sdp_codec *in_browser, *in_sip;
  choice_reset(choice);
  if (!plain_audio_usable(plain_offer, "far end offer", &sip, err, err_len)) return false;
  if (!webrtc_audio_usable(browser_answer, "browser answer", &browser, err, err_len)) return false;
  if (!plain_local_valid(local, err, err_len)) return false;
  codec_kind kind = first_common(browser, sip, &in_browser, &in_sip);
  if (kind == CODEC_NONE)
    return no_common_codec("browser", browser, false, "far end", sip, NULL, err, err_len);
  sdp_codec_choice picked;
  choice_fill(&picked, kind, in_browser->pt, in_sip->pt, browser, sip);
  out_audio ours = {.direction = same_direction(browser->direction)};
  sdp_codec codec;
  codec_canonical(kind, in_sip->pt, kind == CODEC_OPUS ? in_browser->fmtp : NULL, &codec);
  out_audio_add(&ours, &codec);
  add_dtmf(&ours, sip, picked.sip_dtmf_pt, picked.clock_rate);
  if (choice) *choice = picked;
  sdp_text text = {0};
  print_plain(&text, local, &ours);
  return text_finish(&text, out, err, err_len);
}

/* ---- echo test ---- */

bool sdp_answer_echo(const sdp_session *browser_offer, const sdp_webrtc_local *local, char **out,
                     sdp_codec_choice *choice, char *err, size_t err_len) {
  const sdp_media *browser;
  choice_reset(choice);
  if (!webrtc_audio_usable(browser_offer, "browser offer", &browser, err, err_len)) return false;
  if (!webrtc_local_valid(local, err, err_len)) return false;
  const sdp_codec *echoed = NULL;
  codec_kind kind = CODEC_NONE;
  for (size_t i = 0; i < browser->codec_count && echoed == NULL; i++) {
    kind = codec_kind_of(&browser->codecs[i]);
    if (kind == CODEC_OPUS || kind == CODEC_PCMU || kind == CODEC_PCMA) echoed = &browser->codecs[i];
  }
  if (echoed == NULL) {
    char names[160];
    media_codec_names(browser, false, names, sizeof names);
    sdp_set_err(err, err_len, "no common codec (browser: %s; echo: opus, pcmu, pcma)", names);
    return false;
  }
  sdp_codec_choice picked;
  choice_fill(&picked, kind, echoed->pt, echoed->pt, browser, browser);
  out_audio ours = {.direction = mirrored_direction(browser->direction)};
  sdp_codec codec;
  codec_canonical(kind, echoed->pt, kind == CODEC_OPUS ? echoed->fmtp : NULL, &codec);
  out_audio_add(&ours, &codec);
  add_dtmf(&ours, browser, picked.browser_dtmf_pt, picked.clock_rate);
  if (choice) *choice = picked;
  return print_browser_answer(browser_offer, browser, local, &ours, out, err, err_len);
}
