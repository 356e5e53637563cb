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
 * has it, telephone-event/48000 too, so Opus calls can pass DTMF when the far end agrees.
 *
 * Transcoding (codec/transcoder.h) when passthrough is impossible or not wanted:
 * - no common codec: the browser leg takes Opus (or the browser's first codec we know) and the
 *   SIP leg one the account allows; the outbound SIP offer then lists the account's codecs;
 * - [media] browser_codec = opus (local->browser_codec): the browser leg always uses Opus when
 *   the browser offers it; the far end may still choose Opus (passthrough) but G.711/G.722 are
 *   offered to it as well and transcoded.
 * sdp_codec_choice then names both legs; each leg's telephone-event is at its own clock (the
 * transcoder rescales event timestamps). */
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
  /* RTP/SAVP(F): SDES-SRTP; whether the account allows it and which key is used is the call
   * layer's decision (sdp_crypto_*), the codecs translate the same way. */
  if (strcmp(proto, "RTP/AVP") != 0 && strcmp(proto, "RTP/AVPF") != 0 &&
      strcmp(proto, "RTP/SAVP") != 0 && strcmp(proto, "RTP/SAVPF") != 0) {
    sdp_set_err(err, err_len, "%s uses %s, expected RTP/AVP or RTP/SAVP", what, proto);
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
  choice->transcoded = false;
  snprintf(choice->sip_name, sizeof choice->sip_name, "%s", choice->name);
  choice->sip_clock_rate = choice->clock_rate;
}

/* A transcoded choice: each leg its own codec, payload type and telephone-event. */
static void choice_fill_transcoded(sdp_codec_choice *choice, const sdp_codec *in_browser,
                                   const sdp_codec *in_sip, const sdp_media *browser,
                                   const sdp_media *sip) {
  codec_kind b = codec_kind_of(in_browser), s = codec_kind_of(in_sip);
  choice_fill(choice, b, in_browser->pt, in_sip->pt, browser, sip);
  choice->transcoded = true;
  snprintf(choice->sip_name, sizeof choice->sip_name, "%s", codec_kind_name(s));
  choice->sip_clock_rate = codec_kind_clock(s);
  choice->sip_dtmf_pt = dtmf_pt(sip, choice->sip_clock_rate);
}

/* The first codec of m (in its order) that we know, or NULL. */
static const sdp_codec *first_known(const sdp_media *m) {
  for (size_t i = 0; i < m->codec_count; i++)
    if (codec_kind_of(&m->codecs[i]) != CODEC_NONE) return &m->codecs[i];
  return NULL;
}

/* The browser leg's codec when it is transcoded: Opus when the browser has it (FEC, wideband),
 * else its first codec we know. */
static const sdp_codec *browser_transcode_codec(const sdp_media *browser) {
  const sdp_codec *opus = media_find_kind(browser, CODEC_OPUS);
  return opus ? opus : first_known(browser);
}

/* browser_codec = opus and the browser can: its leg is Opus whatever the far end speaks. */
static bool forces_opus(sdp_browser_codec mode, const sdp_media *browser) {
  return mode == SDP_BROWSER_CODEC_OPUS && media_find_kind(browser, CODEC_OPUS) != NULL;
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

/* The codecs of the SIP offer: allowed ∩ browser, in the account's order; with transcodable,
 * every allowed codec (the bridge transcodes what the browser lacks). */
static void sip_offer_codecs(const sdp_media *browser, char *const *allowed, pt_set *used,
                             out_audio *ours, bool transcodable) {
  bool added[CODEC_G722 + 1] = {false};
  for (char *const *a = allowed_or_default(allowed); *a; a++) {
    codec_kind kind = codec_kind_named(*a);
    const sdp_codec *theirs = media_find_kind(browser, kind);
    if (kind == CODEC_NONE || added[kind] || (theirs == NULL && !transcodable)) continue;
    int pt = kind == CODEC_OPUS ? pt_pick_dynamic(used, theirs ? theirs->pt : 111)
                                : static_pt(kind);
    if (pt < 0) continue;
    sdp_codec codec;
    const char *fmtp = theirs ? theirs->fmtp : "minptime=10;useinbandfec=1";
    codec_canonical(kind, pt, kind == CODEC_OPUS ? fmtp : NULL, &codec);
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
  sip_offer_codecs(browser, allowed, &used, &ours, forces_opus(local->browser_codec, browser));
  if (ours.count == 0 && first_known(browser)) /* nothing in common: transcode */
    sip_offer_codecs(browser, allowed, &used, &ours, true);
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
  if (forces_opus(local->browser_codec, browser) && kind != CODEC_OPUS) {
    in_sip = media_find_kind(sip, CODEC_OPUS); /* passthrough Opus if the answer has it too */
    in_browser = media_find_kind(browser, CODEC_OPUS);
    kind = in_sip ? CODEC_OPUS : CODEC_NONE;
  }
  sdp_codec_choice picked;
  if (kind != CODEC_NONE) {
    choice_fill(&picked, kind, in_browser->pt, in_sip->pt, browser, sip);
  } else {
    in_sip = first_known(sip);
    in_browser = browser_transcode_codec(browser);
    if (!in_sip || !in_browser)
      return no_common_codec("browser", browser, false, "far end", sip, NULL, err, err_len);
    choice_fill_transcoded(&picked, in_browser, in_sip, browser, sip);
    kind = codec_kind_of(in_browser);
  }
  out_audio ours = {.direction = same_direction(sip->direction)};
  sdp_codec codec;
  const sdp_codec *fmtp_from = picked.transcoded ? in_browser : in_sip;
  codec_canonical(kind, in_browser->pt, kind == CODEC_OPUS ? fmtp_from->fmtp : NULL, &codec);
  out_audio_add(&ours, &codec);
  add_dtmf(&ours, browser, picked.browser_dtmf_pt, picked.clock_rate);
  if (choice) *choice = picked;
  return print_browser_answer(browser_offer, browser, local, &ours, out, err, err_len);
}

/* ---- (3) inbound: SIP offer -> browser offer ---- */

/* The first codec of the account's list (in its order) that media has, or NULL. */
static const sdp_codec *first_allowed(const sdp_media *media, char *const *allowed) {
  for (char *const *a = allowed_or_default(allowed); *a; a++) {
    const sdp_codec *c = media_find_kind(media, codec_kind_named(*a));
    if (c) return c;
  }
  return NULL;
}

/* browser_codec = opus: the browser is offered Opus alone (+ telephone-event/48000 when the
 * far end has telephone-event at all); passthrough when the far end offered Opus, else the
 * answer step transcodes to the first codec of the far end's offer the account allows. */
static bool browser_opus_offer(const sdp_media *sip, char *const *allowed,
                               const sdp_webrtc_local *local, out_audio *ours, char **out,
                               char *err, size_t err_len) {
  const sdp_codec *theirs = media_find_kind(sip, CODEC_OPUS);
  bool opus_allowed = false;
  for (char *const *a = allowed_or_default(allowed); *a; a++)
    opus_allowed = opus_allowed || codec_kind_named(*a) == CODEC_OPUS;
  if (!opus_allowed) theirs = NULL;
  if (!theirs && !first_allowed(sip, allowed))
    return no_common_codec("far end", sip, true, "account", NULL, allowed, err, err_len);
  pt_set used = {{false}};
  for (size_t i = 0; i < sip->codec_count; i++)
    if (sip->codecs[i].pt >= 0 && sip->codecs[i].pt < 128) used.used[sip->codecs[i].pt] = true;
  sdp_codec codec;
  int pt = theirs ? theirs->pt : pt_pick_dynamic(&used, 111);
  codec_canonical(CODEC_OPUS, pt, theirs ? theirs->fmtp : "minptime=10;useinbandfec=1", &codec);
  out_audio_add(ours, &codec);
  const sdp_codec *te48 = media_find_dtmf(sip, 48000);
  if (te48) add_dtmf(ours, sip, te48->pt, 48000);
  else if (!theirs && media_find_dtmf(sip, 8000))
    add_dtmf(ours, sip, pt_pick_dynamic(&used, 110), 48000);
  sdp_text text = {0};
  print_webrtc_session(&text, local, "0");
  print_webrtc_audio(&text, local, "0", ours);
  return text_finish(&text, out, err, err_len);
}

bool sdp_offer_plain_to_browser(const sdp_session *plain_offer, char *const *allowed,
                                const sdp_webrtc_local *local, char **out, char *err,
                                size_t err_len) {
  const sdp_media *sip;
  if (!plain_audio_usable(plain_offer, "far end offer", &sip, err, err_len)) return false;
  if (!webrtc_local_valid(local, err, err_len)) return false;
  out_audio ours = {.direction = same_direction(sip->direction)};
  if (local->browser_codec == SDP_BROWSER_CODEC_OPUS)
    return browser_opus_offer(sip, allowed, local, &ours, out, err, err_len);
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
  sdp_codec_choice picked;
  if (kind != CODEC_NONE) {
    choice_fill(&picked, kind, in_browser->pt, in_sip->pt, browser, sip);
  } else {
    /* We offered the browser a codec the far end lacks (browser_codec = opus): transcode. */
    in_browser = first_known(browser);
    in_sip = first_allowed(sip, local->allowed);
    if (!in_browser || !in_sip)
      return no_common_codec("browser", browser, false, "far end", sip, NULL, err, err_len);
    choice_fill_transcoded(&picked, in_browser, in_sip, browser, sip);
    kind = codec_kind_of(in_sip);
  }
  out_audio ours = {.direction = same_direction(browser->direction)};
  sdp_codec codec;
  codec_canonical(kind, in_sip->pt, kind == CODEC_OPUS ? in_browser->fmtp : NULL, &codec);
  out_audio_add(&ours, &codec);
  add_dtmf(&ours, sip, picked.sip_dtmf_pt, picked.sip_clock_rate);
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
