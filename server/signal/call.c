/* call: see call.h.
 *
 * Reading order: lifecycle, helpers that talk to the tab, the outbound path (tab offer ->
 * INVITE -> answer), the inbound path (INVITE -> incoming -> accept), media events, and the
 * tab's in-call messages. */
#include "signal/call.h"

#include <glib.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "media/media.h"
#include "sdp/sdp.h"
#include "signal/protocol.h"
#include "signal/sdes.h"
#include "signal/session.h"
#include "sip/caller_id.h"

typedef enum { CALL_OUTGOING, CALL_INCOMING, CALL_ECHO } call_direction;

/* A hold or resume re-INVITE of ours waiting for its answer. */
typedef enum { HOLD_IDLE, HOLD_SENDING, RESUME_SENDING } hold_op;

struct call {
  hub *hub;
  call_direction direction;
  char id[72];             /* the call_id the tab knows */
  char subject[96];        /* "call <id>" for logs */
  session *owner;          /* the tab in the call; NULL while an inbound call rings */
  GPtrArray *ringing;      /* session*: tabs an inbound call rings on (borrowed) */
  const config_account *account;
  sip_call *sip;           /* owned; NULL for echo */
  call_media *media;       /* owned */
  sdp_session *browser_sdp;/* outbound: the tab's offer; inbound: the tab's answer */
  sdp_session *sip_sdp;    /* inbound: the far end's offer */
  char *browser_offer_text;/* inbound: the offer we sent to the tabs */
  char *applied_sip_answer;/* outbound: SIP SDP already translated for the tab */
  char *tab_answer_text;   /* outbound/echo: the last answer SDP we sent to the tab (ICE restart) */
  sdp_session *restart_sdp;/* the tab's last ICE-restart offer (its current credentials), or NULL */
  sdp_codec_choice codec;
  bool answered;
  bool media_connected;
  /* ICE starts when media knows the tab's credentials: at the far end's answer (or 183) for
   * outbound calls, at the tab's accept for inbound ones. Candidates the tab trickles before
   * that wait here (libnice would check them without credentials and give up after 5 s, which
   * a ringing phone easily outlasts). */
  bool transport_applied;
  const char *our_setup;   /* "active"/"passive", static, once transport_applied */
  GPtrArray *early_candidates; /* queued_candidate*, owned */
  char *srtp_profile;
  call_sdes sdes;          /* SDES-SRTP toward the SIP side (account's srtp) */
  unsigned long long sdp_id;
  unsigned sdp_version;
  gint64 started_us;
  bool ended;
  bool rejected_by_tabs;   /* every tab said no (reject): not counted as a failed call */

  bool local_hold;         /* the tab held the call (our SDP says sendonly) */
  bool remote_hold;        /* the far end holds us (its SDP says sendonly / inactive) */
  hold_op hold_pending;
  json_t *hold_id;         /* the `id` of the hold/resume request being answered, or NULL */
  bool transferring;       /* a REFER of ours has no outcome yet */
  char *transfer_replaces; /* attended transfer: the call_id of the other call */
};

typedef struct queued_candidate {
  const session *from;
  char *line; /* NULL = end of candidates */
} queued_candidate;

static void queued_candidate_free(queued_candidate *q) {
  g_free(q->line);
  g_free(q);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static call *call_new(hub *h, call_direction direction, const char *id,
                      const config_account *account) {
  call *c = g_new0(call, 1);
  c->hub = h;
  c->direction = direction;
  g_strlcpy(c->id, id, sizeof c->id);
  snprintf(c->subject, sizeof c->subject, "call %s", id);
  c->ringing = g_ptr_array_new();
  c->early_candidates = g_ptr_array_new_with_free_func((GDestroyNotify)queued_candidate_free);
  c->account = account;
  call_sdes_init(&c->sdes, account ? account->srtp : CONFIG_SRTP_OFF);
  c->started_us = g_get_monotonic_time();
  if (RAND_bytes((unsigned char *)&c->sdp_id, sizeof c->sdp_id) != 1) c->sdp_id = (unsigned long long)g_get_real_time();
  c->sdp_id &= 0x7fffffffffffffffULL; /* o= wants a number that fits a signed 64-bit */
  hub_add_call(h, c);
  return c;
}

void call_free(call *c) {
  if (!c) return;
  sip_call_free(c->sip);
  call_media_free(c->media);
  if (c->browser_sdp) sdp_session_clear(c->browser_sdp);
  if (c->sip_sdp) sdp_session_clear(c->sip_sdp);
  g_free(c->browser_sdp);
  g_free(c->sip_sdp);
  g_free(c->browser_offer_text);
  g_free(c->applied_sip_answer);
  g_free(c->tab_answer_text);
  if (c->restart_sdp) sdp_session_clear(c->restart_sdp);
  g_free(c->restart_sdp);
  g_free(c->srtp_profile);
  call_sdes_clear(&c->sdes);
  g_free(c->transfer_replaces);
  json_decref(c->hold_id);
  g_ptr_array_free(c->ringing, TRUE);
  g_ptr_array_free(c->early_candidates, TRUE);
  g_free(c);
}

static void send_to_tab(session *s, const char *call_id, json_t *msg) {
  json_object_set_new(msg, "call_id", json_string(call_id));
  session_send(s, msg);
}

static void tell_tabs_hangup(call *c, int code, const char *reason) {
  if (c->owner) {
    send_to_tab(c->owner, c->id,
                json_pack("{s:s, s:i, s:s}", "type", "hangup", "code", code, "reason", reason));
  }
  for (guint i = 0; i < c->ringing->len; i++) {
    session *s = g_ptr_array_index(c->ringing, i);
    if (s == c->owner) continue;
    send_to_tab(s, c->id,
                json_pack("{s:s, s:i, s:s}", "type", "hangup", "code", code, "reason", reason));
  }
}

/* Ends the call everywhere: tabs are told, SIP gets BYE/CANCEL (sip_call_free does that), media
 * stops. The hub frees the call from an idle callback, so this is safe inside any listener. */
/* An inbound call every tab turned down: ended like any other, but not a failure. */
static void end_rejected_by_tabs(call *c, int code) {
  c->rejected_by_tabs = true;
  call_end(c, code, "rejected");
}

void call_end(call *c, int code, const char *reason) {
  if (c->ended) return;
  c->ended = true;
  /* Failures are what an operator may need to act on; the tabs' own "no" is not one. */
  if (!c->answered && code >= 400 && code != 487 && !c->rejected_by_tabs)
    metrics_inc(METRIC_CALLS_FAILED);
  log_info("call", c->subject, NULL, "ended: %d %s (%.1f s)", code, reason,
           (double)(g_get_monotonic_time() - c->started_us) / 1e6);
  tell_tabs_hangup(c, code, reason);
  /* SIP (BYE / CANCEL as needed) and media are released by call_free, which the hub runs from
   * an idle callback: call_end is often called from inside a SIP or media listener. */
  g_ptr_array_set_size(c->ringing, 0);
  c->owner = NULL;
  hub_remove_call(c->hub, c);
}

session *call_owner(const call *c) { return c->ended ? NULL : c->owner; }

bool call_matches(const call *c, const session *s, const char *call_id) {
  if (c->ended || strcmp(c->id, call_id) != 0) return false;
  if (c->owner == s) return true;
  for (guint i = 0; i < c->ringing->len; i++) {
    if (g_ptr_array_index(c->ringing, i) == s) return true;
  }
  return false;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static void send_error(session *s, const json_t *request, const char *code, const char *message) {
  session_send(s, protocol_error_reply(request, code, message));
}

static sdp_session *parse_sdp(const char *text, char *err, size_t err_len) {
  sdp_session *sdp = g_new0(sdp_session, 1);
  if (!sdp_parse(text, strlen(text), sdp, err, err_len)) {
    g_free(sdp);
    return NULL;
  }
  return sdp;
}

/* [media] browser_codec as the SDP translations take it. */
static sdp_browser_codec browser_codec_of(const call *c) {
  const config *cfg = hub_config(c->hub);
  return cfg->browser_codec && strcmp(cfg->browser_codec, "opus") == 0 ? SDP_BROWSER_CODEC_OPUS
                                                                        : SDP_BROWSER_CODEC_AUTO;
}

static sdp_webrtc_local webrtc_local_for(call *c, const char *setup) {
  const webrtc_local *local = call_media_webrtc_local(c->media);
  return (sdp_webrtc_local){.ice_ufrag = local->ice_ufrag, .ice_pwd = local->ice_pwd,
                            .fingerprint = local->fingerprint, .setup = setup,
                            .session_id = c->sdp_id, .session_version = ++c->sdp_version,
                            .browser_codec = browser_codec_of(c)};
}

static sdp_plain_local plain_local_for(call *c) {
  return (sdp_plain_local){.address = call_media_rtp_address(c->media),
                           .rtp_port = call_media_rtp_port(c->media),
                           .session_id = c->sdp_id, .session_version = ++c->sdp_version,
                           .browser_codec = browser_codec_of(c),
                           .allowed = c->account ? c->account->codecs : NULL};
}

/* Tells media what the tab's SDP says about ICE/DTLS (once: a 183 and a 200 may both carry an
 * answer), then hands over the candidates the tab sent meanwhile. Returns our DTLS setup. */
static const char *apply_browser_transport(call *c, const sdp_media *audio) {
  if (c->transport_applied) return c->our_setup;
  webrtc_remote remote = {.ice_ufrag = audio->ice_ufrag, .ice_pwd = audio->ice_pwd,
                          .fingerprint_alg = audio->fingerprint_alg,
                          .fingerprint = audio->fingerprint, .setup = audio->setup};
  c->our_setup = call_media_set_webrtc_remote(c->media, &remote);
  c->transport_applied = true;
  for (size_t i = 0; i < audio->candidate_count; i++)
    call_media_add_remote_candidate(c->media, audio->candidates[i]);
  if (audio->end_of_candidates) call_media_add_remote_candidate(c->media, NULL);
  for (guint i = 0; i < c->early_candidates->len; i++) {
    queued_candidate *q = g_ptr_array_index(c->early_candidates, i);
    if (q->from == c->owner) call_media_add_remote_candidate(c->media, q->line);
  }
  g_ptr_array_set_size(c->early_candidates, 0);
  return c->our_setup;
}

static void apply_codec_choice(call *c, const sdp_codec_choice *choice) {
  c->codec = *choice;
  const config *cfg = hub_config(c->hub);
  media_codec_map map = {.browser_pt = choice->browser_pt, .sip_pt = choice->sip_pt,
                         .clock_rate = choice->sip_clock_rate,
                         .browser_dtmf_pt = choice->browser_dtmf_pt,
                         .sip_dtmf_pt = choice->sip_dtmf_pt,
                         .opus_complexity = cfg->opus_complexity, .opus_dtx = cfg->opus_dtx};
  snprintf(map.browser_codec, sizeof map.browser_codec, "%s", choice->name);
  snprintf(map.sip_codec, sizeof map.sip_codec, "%s", choice->sip_name);
  call_media_set_codec_map(c->media, &map);
}

static void apply_sip_remote(call *c, const sdp_session *plain) {
  const sdp_media *audio = sdp_audio(plain);
  if (!audio) return;
  const char *address = audio->connection[0] ? audio->connection : plain->connection;
  call_media_set_rtp_remote(c->media, address, audio->port, audio->rtcp_port);
}

/* A re-INVITE / UPDATE from the far end moved its media: the rtp leg follows (the SIP layer
 * already answered it). */
static void follow_remote_sdp(call *c, const char *sdp_text) {
  char err[128];
  sdp_session *plain = sdp_text ? parse_sdp(sdp_text, err, sizeof err) : NULL;
  if (!plain) return;
  media_sdes keys;
  if (call_sdes_on_update(&c->sdes, plain, &keys)) {
    log_info("call", c->subject, NULL, "the far end changed its SRTP key: SIP leg re-keyed");
    call_media_set_sip_srtp(c->media, &keys);
    OPENSSL_cleanse(&keys, sizeof keys);
  }
  apply_sip_remote(c, plain);
  sdp_session_clear(plain);
  g_free(plain);
}

static char *one_codec_label(const char *name, int clock_rate) {
  if (g_ascii_strcasecmp(name, "opus") == 0) return g_strdup("opus/48000/2");
  char *upper = g_ascii_strup(name, -1);
  char *label = g_strdup_printf("%s/%d", upper, clock_rate);
  g_free(upper);
  return label;
}

/* "PCMU/8000"; transcoded: the browser leg's, then the SIP leg's ("opus/48000/2 <-> PCMU/8000"). */
static char *codec_label(const sdp_codec_choice *choice) {
  char *browser = one_codec_label(choice->name, choice->clock_rate);
  if (!choice->transcoded) return browser;
  char *sip = one_codec_label(choice->sip_name, choice->sip_clock_rate);
  char *label = g_strdup_printf("%s <-> %s", browser, sip);
  g_free(browser);
  g_free(sip);
  return label;
}

static json_t *encryption_json(const call *c) {
  char browser[96];
  snprintf(browser, sizeof browser, "DTLS-SRTP%s%s", c->srtp_profile ? " " : "",
           c->srtp_profile ? c->srtp_profile : "");
  char sip[96];
  const char *suite = call_sdes_suite_name(&c->sdes);
  snprintf(sip, sizeof sip, "%s%s",
           c->direction == CALL_ECHO ? "none (echo test: no SIP leg)"
           : suite                   ? "SDES-SRTP "
                                     : "none (RTP)",
           c->direction != CALL_ECHO && suite ? suite : "");
  return json_pack("{s:s, s:s}", "browser", browser, "sip", sip);
}

static void send_answered(call *c, const char *browser_sdp) {
  char *codec = codec_label(&c->codec);
  json_t *msg = json_pack("{s:s, s:s, s:s, s:o}", "type", "answered", "sdp",
                          browser_sdp ? browser_sdp : "", "codec", codec, "encryption",
                          encryption_json(c));
  if (!browser_sdp) json_object_del(msg, "sdp");
  if (c->codec.transcoded) json_object_set_new(msg, "transcoded", json_true());
  g_free(codec);
  send_to_tab(c->owner, c->id, msg);
}

/* ---- media events ------------------------------------------------------------------------- */

static void send_candidate(session *s, const call *c, const char *candidate) {
  json_t *cand = candidate ? json_pack("{s:s, s:s, s:i}", "candidate", candidate, "sdpMid",
                                       c->browser_sdp && sdp_audio(c->browser_sdp)
                                           ? sdp_audio(c->browser_sdp)->mid
                                           : "0",
                                       "sdpMLineIndex", 0)
                           : json_null();
  send_to_tab(s, c->id, json_pack("{s:s, s:o}", "type", "candidate", "candidate", cand));
}

static void on_media_event(void *user_data, const media_event *event) {
  call *c = user_data;
  if (c->ended) return;
  switch (event->type) {
  case MEDIA_EVENT_LOCAL_CANDIDATE:
    if (c->owner) send_candidate(c->owner, c, event->candidate);
    for (guint i = 0; i < c->ringing->len; i++)
      send_candidate(g_ptr_array_index(c->ringing, i), c, event->candidate);
    break;
  case MEDIA_EVENT_CONNECTED:
    c->media_connected = true;
    g_free(c->srtp_profile);
    c->srtp_profile = g_strdup(event->srtp_profile);
    log_info("call", c->subject, NULL, "media connected (%s)", event->srtp_profile);
    if (c->owner)
      send_to_tab(c->owner, c->id,
                  json_pack("{s:s, s:s, s:o}", "type", "call_state", "state", "media_connected",
                            "encryption", encryption_json(c)));
    break;
  case MEDIA_EVENT_FAILED:
    call_end(c, 0, event->reason ? event->reason : "media_failed");
    break;
  case MEDIA_EVENT_RTP_TIMEOUT:
    metrics_inc(METRIC_RTP_TIMEOUTS);
    call_end(c, 0, "rtp_timeout");
    break;
  }
}

static bool create_media(call *c, media_mode mode, bool controlling, char *err, size_t err_len) {
  c->media = call_media_new(hub_media_engine(c->hub), mode, controlling, c->subject,
                            on_media_event, c, err,
                            err_len);
  if (c->media)
    call_media_set_latch_any_source(c->media, config_latch_any_source(hub_config(c->hub), c->account));
  return c->media != NULL;
}

/* media/rtp_leg.c fails a full [media] port_min..port_max range with this text: the server is
 * full, not broken, so the call gets 503 and the calls in progress go on. */
static bool no_media_ports(const char *err) {
  if (!g_str_has_prefix(err, "no free RTP port")) return false;
  metrics_inc(METRIC_CALLS_REFUSED_NO_PORTS);
  return true;
}

/* The media workers are overloaded (media_engine_admit logs once per refusal window): the new
 * call gets 503 "media_overloaded" before any media is set up; calls in progress go on. */
static bool media_overloaded(hub *h) {
  if (media_engine_admit(hub_media_engine(h))) return false;
  metrics_inc(METRIC_CALLS_REFUSED_NO_PORTS);
  return true;
}

/* ---- outbound ----------------------------------------------------------------------------- */

/* A `to` the account can dial: sip:/sips: as is; tel: and digits become sip:NUMBER@domain of
 * the account. NULL + err when that is impossible (the direct account has no domain). */
static char *dial_target(const config_account *account, const char *to, char *err,
                         size_t err_len) {
  if (g_str_has_prefix(to, "sip:") || g_str_has_prefix(to, "sips:")) return g_strdup(to);
  bool is_name = !g_str_has_prefix(to, "tel:") && strpbrk(to, "abcdefghijklmnopqrstuvwxyz"
                                                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ_");
  GString *number = g_string_new(NULL);
  for (const char *p = g_str_has_prefix(to, "tel:") ? to + 4 : to; *p && *p != ';'; p++) {
    if (is_name || g_ascii_isdigit(*p) || *p == '+' || *p == '*' || *p == '#')
      g_string_append_c(number, *p);
  }
  const char *at = account->uri ? strchr(account->uri, '@') : NULL;
  if (!at || number->len == 0) {
    snprintf(err, err_len, "%s",
             number->len == 0 ? "nothing to dial"
                              : "this account calls sip: URIs only; write the number as "
                                "sip:NUMBER@host");
    g_string_free(number, TRUE);
    return NULL;
  }
  size_t domain_len = strcspn(at + 1, ";>");
  char *target = g_strdup_printf("sip:%s@%.*s", number->str, (int)domain_len, at + 1);
  g_string_free(number, TRUE);
  return target;
}

char *call_dial_target(const config_account *account, const char *to, char *err,
                       size_t err_len) {
  return dial_target(account, to, err, err_len);
}

/* SDES toward the far end: its answer (outbound) or offer (inbound) decides whether the SIP leg
 * uses SRTP (see signal/sdes.h); the media leg is keyed before it learns the remote address, so
 * the first packet out is already protected. false + err: the call must not go on. */
static bool key_sip_leg(call *c, const sdp_session *plain, bool offer, char *err,
                        size_t err_len) {
  media_sdes keys;
  bool keyed = false;
  bool ok = offer ? call_sdes_on_offer(&c->sdes, plain, &keys, &keyed, err, err_len)
                  : call_sdes_on_answer(&c->sdes, plain, &keys, &keyed, err, err_len);
  if (ok && keyed) {
    call_media_set_sip_srtp(c->media, &keys);
    log_info("call", c->subject, NULL, "SIP leg: SDES-SRTP %s (%s)",
             call_sdes_suite_name(&c->sdes), c->sdes.proto);
  }
  OPENSSL_cleanse(&keys, sizeof keys);
  return ok;
}

static void on_sip_answer_sdp(call *c, const char *sdp_text, bool final) {
  char err[256];
  if (c->applied_sip_answer && strcmp(c->applied_sip_answer, sdp_text) == 0) {
    if (final) send_answered(c, NULL);
    return;
  }
  sdp_session *plain = parse_sdp(sdp_text, err, sizeof err);
  if (!plain) {
    call_end(c, 488, "the far end sent SDP we cannot read");
    return;
  }
  const sdp_media *audio = sdp_audio(c->browser_sdp);
  const char *setup = apply_browser_transport(c, audio);
  sdp_webrtc_local local = webrtc_local_for(c, setup ? setup : "active");
  char *browser_answer = NULL;
  sdp_codec_choice choice;
  if (!sdp_answer_plain_to_browser(c->browser_sdp, plain, &local, &browser_answer, &choice, err,
                                   sizeof err)) {
    sdp_session_clear(plain);
    g_free(plain);
    call_end(c, 488, err);
    return;
  }
  if (!key_sip_leg(c, plain, false, err, sizeof err)) {
    /* Mandatory SRTP and a clear answer: nothing was sent or accepted in clear (the rtp leg
     * has no remote and no codec map yet); call_end sends BYE (or CANCEL for a 183). */
    log_warn("call", c->subject, NULL, "refused: %s", err);
    free(browser_answer);
    sdp_session_clear(plain);
    g_free(plain);
    call_end(c, 488, "srtp_required");
    return;
  }
  apply_codec_choice(c, &choice);
  apply_sip_remote(c, plain);
  sdp_session_clear(plain);
  g_free(plain);
  g_free(c->applied_sip_answer);
  c->applied_sip_answer = g_strdup(sdp_text);
  g_free(c->tab_answer_text);
  c->tab_answer_text = g_strdup(browser_answer);
  if (final) {
    send_answered(c, browser_answer);
  } else {
    send_to_tab(c->owner, c->id,
                json_pack("{s:s, s:i, s:s, s:s}", "type", "progress", "code", 183, "reason",
                          "early media", "sdp", browser_answer));
  }
  free(browser_answer);
}

/* ---- hold, resume, transfer: SIP side --------------------------------------------------- */

static const char *state_name(const call *c) {
  return c->local_hold ? "held" : c->remote_hold ? "remote_held" : "active";
}

/* call_state {state, local_hold, remote_hold} plus extra (stolen; may be NULL) and the request
 * id when this answers one. */
static void send_call_state(call *c, const char *state, json_t *extra, json_t *id) {
  if (!c->owner) {
    json_decref(extra);
    return;
  }
  json_t *msg = json_pack("{s:s, s:s, s:b, s:b}", "type", "call_state", "state", state,
                          "local_hold", c->local_hold, "remote_hold", c->remote_hold);
  if (extra) json_object_update(msg, extra);
  json_decref(extra);
  if (id) json_object_set(msg, "id", id);
  send_to_tab(c->owner, c->id, msg);
}

static bool sends_nothing_to_us(const char *direction) {
  return direction && (!strcmp(direction, "sendonly") || !strcmp(direction, "inactive"));
}

/* A new SDP from the far end: does it hold us? An answer to our own hold offer says recvonly or
 * inactive only because we asked: it tells nothing then. */
static void follow_remote_hold(call *c, const sip_call_event *event) {
  if (!event->offer && (c->local_hold || c->hold_pending == HOLD_SENDING)) return;
  const char *direction = event->sdp ? sdp_audio_direction(event->sdp) : NULL;
  if (!direction) return;
  bool held = sends_nothing_to_us(direction);
  if (held == c->remote_hold) return;
  c->remote_hold = held;
  call_media_set_remote_hold(c->media, held);
  log_info("call", c->subject, NULL, "far end %s (a=%s)", held ? "holds the call" : "resumed",
           direction);
  /* A hold/resume of ours in flight reports the state itself when it completes. */
  if (c->hold_pending == HOLD_IDLE) send_call_state(c, state_name(c), NULL, NULL);
}

static void finish_hold(call *c, const sip_call_event *event) {
  hold_op op = c->hold_pending;
  c->hold_pending = HOLD_IDLE;
  json_t *id = c->hold_id;
  c->hold_id = NULL;
  if (event->type == SIP_CALL_REINVITE_FAILED) {
    /* Undo what hold did at once (the tab's audio stopped going out). */
    if (op == HOLD_SENDING) call_media_set_hold(c->media, false);
    log_info("call", c->subject, NULL, "%s failed: %s", op == HOLD_SENDING ? "hold" : "resume",
             event->reason);
    send_call_state(c, state_name(c),
                    json_pack("{s:s, s:i}", op == HOLD_SENDING ? "hold_failed" : "resume_failed",
                              event->reason ? event->reason : "", "code", event->code),
                    id);
  } else {
    c->local_hold = op == HOLD_SENDING;
    if (op == RESUME_SENDING) call_media_set_hold(c->media, false);
    log_info("call", c->subject, NULL, "%s", c->local_hold ? "on hold" : "resumed");
    follow_remote_hold(c, event);
    send_call_state(c, state_name(c), NULL, id);
  }
  json_decref(id);
}

static void end_other_call(call *c) {
  call *other = c->transfer_replaces && c->owner
                    ? hub_find_call(c->hub, c->owner, c->transfer_replaces)
                    : NULL;
  if (other && other != c) call_end(other, 0, "transferred");
}

static void on_transfer_event(call *c, const sip_call_event *event) {
  const char *reason = event->reason ? event->reason : "";
  if (!event->final) {
    send_call_state(c, "transferring", json_pack("{s:i, s:s}", "code", event->code, "reason",
                                                 reason), NULL);
    return;
  }
  c->transferring = false;
  if (event->code >= 200 && event->code < 300) {
    send_call_state(c, "transferring", json_pack("{s:i, s:s}", "code", event->code, "reason",
                                                 reason), NULL);
    log_info("call", c->subject, NULL, "transferred (%s)", reason);
    end_other_call(c);
    call_end(c, 0, "transferred");
    return;
  }
  log_info("call", c->subject, NULL, "transfer failed: %d %s", event->code, reason);
  send_call_state(c, state_name(c), json_pack("{s:s, s:i}", "transfer_failed",
                                              reason[0] ? reason : "no result", "code",
                                              event->code), NULL);
}

/* Events of a connected call, either direction. */
static void on_in_dialog_event(call *c, const sip_call_event *event) {
  switch (event->type) {
  case SIP_CALL_REMOTE_SDP:
    follow_remote_sdp(c, event->sdp);
    if (!event->offer && c->hold_pending != HOLD_IDLE) finish_hold(c, event);
    else follow_remote_hold(c, event);
    break;
  case SIP_CALL_REINVITE_FAILED:
    if (c->hold_pending != HOLD_IDLE) finish_hold(c, event);
    break;
  case SIP_CALL_TRANSFER:
    on_transfer_event(c, event);
    break;
  default:
    break;
  }
}

/* Our answer to the far end's re-offer: the direction RFC 3264 asks for given our hold (see
 * sip_call_answerer). Only the codec in use is kept. */
/* A codec of the bridge with the same RTP payload type on every SIP phone (RFC 3551 static
 * types): a switch to it needs no payload type mapping between the offer and our answer. */
static bool static_switchable(const sdp_codec *codec) {
  static const struct { int pt; const char *name; } known[] = {{0, "pcmu"}, {8, "pcma"},
                                                               {9, "g722"}};
  for (size_t i = 0; i < G_N_ELEMENTS(known); i++)
    if (codec->pt == known[i].pt && !g_ascii_strcasecmp(codec->name, known[i].name)) return true;
  return false;
}

/* The far end re-offers without the codec in use (a phone or PBX switching PCMU -> PCMA mid-call):
 * the first codec of its offer that our own SDP also lists (for outbound calls our offer listed
 * every codec the account allows) becomes the SIP leg's; the browser leg keeps its codec and
 * the bridge transcodes (media.h: a map with other codecs re-creates the transcoders). Static
 * payload types only. Returns that codec's payload type, or -1 (no switch: keep what we have). */
static int switched_codec(call *c, const char *offer, const char *current, sdp_codec_choice *next) {
  char err[128];
  sdp_session *theirs = parse_sdp(offer, err, sizeof err);
  sdp_session *ours = theirs ? parse_sdp(current, err, sizeof err) : NULL;
  const sdp_media *offered = theirs ? sdp_audio(theirs) : NULL;
  const sdp_media *listed = ours ? sdp_audio(ours) : NULL;
  int pt = -1;
  bool still_there = false;
  for (size_t i = 0; offered && listed && i < offered->codec_count && !still_there; i++) {
    const sdp_codec *codec = &offered->codecs[i];
    if (!g_ascii_strcasecmp(codec->name, c->codec.sip_name)) still_there = true;
    if (pt >= 0 || !static_switchable(codec)) continue;
    for (size_t j = 0; j < listed->codec_count; j++)
      if (listed->codecs[j].pt == codec->pt && !g_ascii_strcasecmp(listed->codecs[j].name, codec->name))
        pt = codec->pt;
  }
  if (pt >= 0 && !still_there) {
    *next = c->codec;
    next->sip_pt = pt;
    snprintf(next->sip_name, sizeof next->sip_name, "%s", pt == 0 ? "pcmu" : pt == 8 ? "pcma" : "g722");
    next->sip_clock_rate = 8000; /* G.722's RTP clock is 8000 too (RFC 3551 4.5.2) */
    next->transcoded = strcmp(next->name, next->sip_name) != 0;
  } else {
    pt = -1;
  }
  if (theirs) sdp_session_clear(theirs);
  if (ours) sdp_session_clear(ours);
  g_free(theirs);
  g_free(ours);
  return pt;
}

static char *answer_reoffer(void *user_data, const char *offer, const char *current) {
  call *c = user_data;
  const char *wanted = sdp_answer_direction(sdp_audio_direction(offer), c->local_hold);
  const char *now = sdp_audio_direction(current);
  sdp_codec_choice next;
  int switch_pt = current && c->media ? switched_codec(c, offer, current, &next) : -1;
  if (switch_pt >= 0) {
    char *answer = NULL, err[160];
    if (sdp_plain_with_direction(current, wanted, switch_pt, c->codec.sip_dtmf_pt, &answer, err,
                                 sizeof err) &&
        call_sdes_secure(&c->sdes, &answer, err, sizeof err)) {
      log_info("call", c->subject, NULL, "far end switched codec: SIP leg %s -> %s (browser leg %s)",
               c->codec.sip_name, next.sip_name, next.name);
      apply_codec_choice(c, &next);
      /* The tab's codec badge: the same `codec` / `transcoded` as in `answered`. */
      char *label = codec_label(&next);
      send_call_state(c, state_name(c), json_pack("{s:s, s:b}", "codec", label, "transcoded",
                                                  next.transcoded), NULL);
      g_free(label);
      return answer;
    }
    free(answer);
    log_warn("call", c->subject, NULL, "cannot follow the far end's codec switch: %s", err);
  }
  /* With SDES our current SDP may be the offer with a line per suite: answer with ours only. */
  bool secured = c->sdes.active || c->sdes.offered_count > 0;
  if (!current || (now && !strcmp(now, wanted) && !secured)) return NULL;
  char *answer = NULL, err[160];
  if (!sdp_plain_with_direction(current, wanted, c->codec.sip_pt, c->codec.sip_dtmf_pt, &answer,
                                err, sizeof err) ||
      !call_sdes_secure(&c->sdes, &answer, err, sizeof err)) {
    free(answer);
    log_warn("call", c->subject, NULL, "answering the far end's re-offer unchanged: %s", err);
    return NULL;
  }
  return answer;
}

static void on_outgoing_sip_event(void *user_data, const sip_call_event *event) {
  call *c = user_data;
  if (c->ended) return;
  switch (event->type) {
  case SIP_CALL_PROGRESS:
    if (event->sdp) {
      on_sip_answer_sdp(c, event->sdp, false);
    } else {
      send_to_tab(c->owner, c->id,
                  json_pack("{s:s, s:i, s:s}", "type", "progress", "code", event->code,
                            "reason", event->reason ? event->reason : ""));
    }
    break;
  case SIP_CALL_ANSWERED:
    c->answered = true;
    log_info("call", c->subject, NULL, "answered after %.1f s",
             (double)(g_get_monotonic_time() - c->started_us) / 1e6);
    if (event->sdp) {
      on_sip_answer_sdp(c, event->sdp, true);
    } else {
      call_end(c, 488, "the far end answered without SDP");
    }
    break;
  case SIP_CALL_REMOTE_SDP:
  case SIP_CALL_REINVITE_FAILED:
  case SIP_CALL_TRANSFER:
    on_in_dialog_event(c, event);
    break;
  case SIP_CALL_CONFIRMED:
    break;
  case SIP_CALL_ENDED:
    call_end(c, event->code, event->reason ? event->reason : "call ended");
    break;
  }
}

static void start_echo(call *c, session *s, const json_t *request) {
  char err[256];
  const sdp_media *audio = sdp_audio(c->browser_sdp);
  const char *setup = apply_browser_transport(c, audio);
  sdp_webrtc_local local = webrtc_local_for(c, setup ? setup : "active");
  char *answer = NULL;
  sdp_codec_choice choice;
  if (!sdp_answer_echo(c->browser_sdp, &local, &answer, &choice, err, sizeof err)) {
    call_end(c, 488, err);
    return;
  }
  (void)s;
  (void)request;
  apply_codec_choice(c, &choice);
  c->answered = true;
  log_info("call", c->subject, NULL, "echo test answered (%s)", choice.name);
  g_free(c->tab_answer_text);
  c->tab_answer_text = g_strdup(answer);
  send_answered(c, answer);
  free(answer);
}

void call_start_outgoing(hub *h, session *s, const json_t *request,
                         const config_account *account) {
  const char *call_id = protocol_string(request, "call_id");
  const char *to = protocol_string(request, "to");
  const char *sdp_text = protocol_string(request, "sdp");
  const config *cfg = hub_config(h);
  bool echo = strcmp(to, cfg->echo_destination) == 0;
  char err[256];

  if (hub_find_call(h, s, call_id)) {
    send_error(s, request, PROTO_ERR_INVALID_FIELD, "call_id is already in use in this tab");
    return;
  }
  call *c = call_new(h, echo ? CALL_ECHO : CALL_OUTGOING, call_id, account);
  c->owner = s;
  c->browser_sdp = parse_sdp(sdp_text, err, sizeof err);
  if (!c->browser_sdp || !sdp_audio(c->browser_sdp)) {
    char reason[300];
    snprintf(reason, sizeof reason, "the browser's offer is unusable: %s",
             c->browser_sdp ? "no audio" : err);
    call_end(c, 400, reason);
    return;
  }
  if (media_overloaded(h)) {
    call_end(c, 503, "media_overloaded");
    return;
  }
  if (!create_media(c, echo ? MEDIA_MODE_ECHO : MEDIA_MODE_BRIDGE, false, err, sizeof err)) {
    if (no_media_ports(err)) {
      log_warn("call", c->subject, session_peer(s), "refused: %s", err);
      call_end(c, 503, "no_media_ports");
    } else {
      call_end(c, 500, err);
    }
    return;
  }
  if (echo) {
    start_echo(c, s, request);
    return;
  }
  char *target = dial_target(account, to, err, sizeof err);
  if (!target) {
    call_end(c, 484, err);
    return;
  }
  sdp_plain_local plain = plain_local_for(c);
  char *offer = NULL;
  if (!sdp_offer_browser_to_plain(c->browser_sdp, account->codecs, &plain, &offer, err,
                                  sizeof err)) {
    g_free(target);
    call_end(c, 488, err);
    return;
  }
  if (!call_sdes_secure_offer(&c->sdes, &offer, err, sizeof err)) {
    free(offer);
    g_free(target);
    call_end(c, 500, err);
    return;
  }
  if (account->srtp == CONFIG_SRTP_MANDATORY) call_media_require_sip_srtp(c->media);
  sip_call_params params = {.account = account, .to = target, .sdp_offer = offer};
  c->sip = sip_call_new_outgoing(hub_sip_agent(h), &params, on_outgoing_sip_event, c, err,
                                 sizeof err);
  log_info("call", c->subject, NULL, "to %s via account %s: INVITE sent %.1f ms after the tab's call",
           target, account->name, (double)(g_get_monotonic_time() - c->started_us) / 1e3);
  g_free(target);
  free(offer);
  if (!c->sip) call_end(c, 400, err);
  else sip_call_set_answerer(c->sip, answer_reoffer);
}

/* ---- inbound ------------------------------------------------------------------------------ */

static void on_incoming_sip_event(void *user_data, const sip_call_event *event) {
  call *c = user_data;
  if (c->ended) return;
  switch (event->type) {
  case SIP_CALL_CONFIRMED:
    log_info("call", c->subject, NULL, "confirmed (ACK)");
    break;
  case SIP_CALL_REMOTE_SDP:
  case SIP_CALL_REINVITE_FAILED:
  case SIP_CALL_TRANSFER:
    on_in_dialog_event(c, event);
    break;
  case SIP_CALL_ENDED:
    call_end(c, event->code, event->reason ? event->reason : "call ended");
    break;
  default:
    break;
  }
}

/* Diversion, History-Info and a trusted P-Asserted-Identity (sip/caller_id.h), when present. */
static void add_caller_id(json_t *msg, const sip_caller_id *id) {
  if (!msg || !id) return;
  if (id->asserted) json_object_set_new(msg, "asserted_identity", json_string(id->asserted));
  if (id->asserted_display)
    json_object_set_new(msg, "asserted_display", json_string(id->asserted_display));
  if (id->diverted_from) json_object_set_new(msg, "diverted_from", json_string(id->diverted_from));
  if (id->diversion_reason)
    json_object_set_new(msg, "diversion_reason", json_string(id->diversion_reason));
  if (id->history) {
    json_t *history = json_array();
    for (char **uri = id->history; *uri; uri++) json_array_append_new(history, json_string(*uri));
    json_object_set_new(msg, "history", history);
  }
}

bool call_incoming(void *hub_ptr, sip_call *sip, const config_account *account,
                   const char *from_uri, const char *from_display, const char *to_uri,
                   const char *sdp_offer) {
  hub *h = hub_ptr;
  GPtrArray *tabs = hub_sessions_for_account(h, account->name);
  if (tabs->len == 0) {
    g_ptr_array_free(tabs, TRUE);
    return false; /* 480: nobody to ring */
  }
  unsigned char raw[6];
  char id[16] = "in-";
  if (RAND_bytes(raw, sizeof raw) != 1) memset(raw, 0, sizeof raw);
  for (size_t i = 0; i < sizeof raw; i++) snprintf(id + 3 + 2 * i, 3, "%02x", raw[i]);

  char err[256];
  call *c = call_new(h, CALL_INCOMING, id, account);
  if (media_overloaded(h)) {
    sip_call_reject(sip, 503, "Service Unavailable"); /* with Retry-After */
    call_end(c, 503, "media_overloaded");
    g_ptr_array_free(tabs, TRUE);
    return false;
  }
  c->sip_sdp = sdp_offer ? parse_sdp(sdp_offer, err, sizeof err) : NULL;
  if (!c->sip_sdp || !create_media(c, MEDIA_MODE_BRIDGE, true, err, sizeof err)) {
    /* Returning false: the SIP layer keeps the call and sends this final answer. */
    if (c->sip_sdp && no_media_ports(err)) {
      log_warn("call", c->subject, from_uri, "INVITE refused with 503: %s", err);
      sip_call_reject(sip, 503, "Service Unavailable"); /* with Retry-After */
      call_end(c, 503, "no_media_ports");
      g_ptr_array_free(tabs, TRUE);
      return false;
    }
    sip_call_reject(sip, c->sip_sdp ? 500 : 488,
                    c->sip_sdp ? "Server Internal Error" : "Not Acceptable Here");
    call_end(c, 488, "unusable offer");
    g_ptr_array_free(tabs, TRUE);
    return false;
  }
  if (!key_sip_leg(c, c->sip_sdp, true, err, sizeof err)) {
    log_info("call", c->subject, from_uri, "rejected with 488: %s", err);
    sip_call_reject(sip, 488, "Not Acceptable Here");
    call_end(c, 488, account->srtp == CONFIG_SRTP_MANDATORY ? "srtp_required" : err);
    g_ptr_array_free(tabs, TRUE);
    return false;
  }
  if (account->srtp == CONFIG_SRTP_MANDATORY) call_media_require_sip_srtp(c->media);
  sdp_webrtc_local local = webrtc_local_for(c, "actpass");
  if (!sdp_offer_plain_to_browser(c->sip_sdp, account->codecs, &local, &c->browser_offer_text,
                                  err, sizeof err)) {
    log_info("call", c->subject, from_uri, "rejected with 488: %s", err);
    sip_call_reject(sip, 488, "Not Acceptable Here");
    call_end(c, 488, err);
    g_ptr_array_free(tabs, TRUE);
    return false;
  }
  c->sip = sip;
  sip_call_set_listener(sip, on_incoming_sip_event, c);
  sip_call_set_answerer(sip, answer_reoffer);
  log_info("call", c->subject, from_uri, "incoming for account %s, ringing %u tab(s)",
           account->name, tabs->len);
  for (guint i = 0; i < tabs->len; i++) {
    session *s = g_ptr_array_index(tabs, i);
    g_ptr_array_add(c->ringing, s);
    json_t *msg = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s}", "type", "incoming", "from",
                            from_uri, "display", from_display, "to", to_uri, "account",
                            account->name, "sdp", c->browser_offer_text);
    add_caller_id(msg, sip_call_caller_id(sip));
    send_to_tab(s, c->id, msg);
  }
  g_ptr_array_free(tabs, TRUE);
  return true;
}

void call_on_accept(call *c, session *s, const json_t *request) {
  char err[256];
  if (c->direction != CALL_INCOMING || c->owner) {
    send_error(s, request, PROTO_ERR_INVALID_FIELD, "this call is not ringing");
    return;
  }
  c->browser_sdp = parse_sdp(protocol_string(request, "sdp"), err, sizeof err);
  const sdp_media *audio = c->browser_sdp ? sdp_audio(c->browser_sdp) : NULL;
  if (!audio) {
    /* The call keeps ringing, so a next accept must not leak this SDP (found by fuzz_session:
     * each repeated accept without audio lost ~150 KB). */
    if (c->browser_sdp) sdp_session_clear(c->browser_sdp);
    g_free(c->browser_sdp);
    c->browser_sdp = NULL;
    send_error(s, request, PROTO_ERR_INVALID_FIELD, "the answer SDP is unusable");
    return;
  }
  c->owner = s;
  /* Every other tab stops ringing. */
  for (guint i = 0; i < c->ringing->len; i++) {
    session *other = g_ptr_array_index(c->ringing, i);
    if (other != s)
      send_to_tab(other, c->id,
                  json_pack("{s:s, s:i, s:s}", "type", "hangup", "code", 200, "reason",
                            "answered_elsewhere"));
  }
  g_ptr_array_set_size(c->ringing, 0);
  apply_browser_transport(c, audio);
  sdp_plain_local plain = plain_local_for(c);
  char *answer = NULL;
  sdp_codec_choice choice;
  if (!sdp_answer_browser_to_plain(c->sip_sdp, c->browser_sdp, &plain, &answer, &choice, err,
                                   sizeof err) ||
      !call_sdes_secure(&c->sdes, &answer, err, sizeof err)) {
    free(answer);
    call_end(c, 488, err);
    return;
  }
  apply_codec_choice(c, &choice);
  apply_sip_remote(c, c->sip_sdp);
  sip_call_answer(c->sip, answer);
  free(answer);
  c->answered = true;
  log_info("call", c->subject, NULL, "accepted by %s", session_id(s));
  send_answered(c, NULL);
}

/* Every entry: a session is listed once, but a session that goes must never stay behind. */
static void remove_ringing(call *c, session *s) {
  while (g_ptr_array_remove(c->ringing, s)) {
  }
}

void call_on_reject(call *c, session *s, const json_t *request) {
  if (c->direction != CALL_INCOMING || c->owner) {
    call_on_hangup(c, s, request);
    return;
  }
  json_t *code_json = json_object_get(request, "code");
  int code = code_json ? (int)json_integer_value(code_json) : 486;
  remove_ringing(c, s);
  if (c->ringing->len > 0) return; /* still ringing elsewhere */
  sip_call_reject(c->sip, code, code == 486 ? "Busy Here" : code == 603 ? "Decline" : "Rejected");
  end_rejected_by_tabs(c, code);
}

void call_on_candidate(call *c, session *s, const json_t *request) {
  if (!c->media) return;
  const json_t *cand = json_object_get(request, "candidate");
  const char *line = json_is_null(cand) ? NULL : json_string_value(json_object_get(cand, "candidate"));
  if (!json_is_null(cand) && (!line || !*line)) return;
  if (!c->transport_applied) {
    /* Kept until the credentials arrive; a ringing tab's candidates count only if it accepts. */
    enum { MAX_EARLY_CANDIDATES = 64 };
    if (c->early_candidates->len >= MAX_EARLY_CANDIDATES) return;
    queued_candidate *q = g_new0(queued_candidate, 1);
    q->from = s;
    q->line = g_strdup(line);
    g_ptr_array_add(c->early_candidates, q);
    return;
  }
  if (c->owner == s) call_media_add_remote_candidate(c->media, line);
}

void call_on_hangup(call *c, session *s, const json_t *request) {
  (void)request;
  if (c->owner != s) {
    /* A ringing tab "hanging up" is a reject from that tab. */
    remove_ringing(c, s);
    if (c->ringing->len == 0 && !c->owner) {
      sip_call_reject(c->sip, 486, "Busy Here");
      end_rejected_by_tabs(c, 486);
    }
    return;
  }
  call_end(c, 0, "hung up by you");
}

void call_on_dtmf(call *c, session *s, const json_t *request) {
  if (c->owner != s || !c->media || !c->answered) {
    send_error(s, request, PROTO_ERR_INVALID_FIELD, "DTMF needs a connected call");
    return;
  }
  json_t *duration = json_object_get(request, "duration_ms");
  call_media_send_dtmf(c->media, protocol_string(request, "digits"),
                       duration ? (int)json_integer_value(duration) : 100);
}

void call_session_closed(call *c, session *s) {
  if (c->owner == s) {
    c->owner = NULL; /* nobody to tell */
    call_end(c, 0, "tab_closed");
    return;
  }
  remove_ringing(c, s);
  if (!c->owner && c->direction == CALL_INCOMING && c->ringing->len == 0 && !c->ended) {
    sip_call_reject(c->sip, 480, "Temporarily Unavailable");
    call_end(c, 480, "no tab left to ring");
  }
}

/* ---- hold, resume, transfer: the tab's requests ------------------------------------------- */

/* A connected SIP call owned by s; otherwise sends the error and returns false. */
static bool check_connected(call *c, session *s, const json_t *request) {
  if (c->owner != s || !c->answered || !c->sip) {
    send_error(s, request, PROTO_ERR_INVALID_FIELD,
               c->direction == CALL_ECHO && c->answered ? "the echo test has no far end to hold "
                                                          "or transfer"
                                                        : "the call is not connected");
    return false;
  }
  if (c->hold_pending != HOLD_IDLE || c->transferring) {
    send_error(s, request, PROTO_ERR_INVALID_FIELD,
               c->transferring ? "a transfer of this call is in progress"
                               : "a hold or resume of this call is in progress");
    return false;
  }
  return true;
}

static json_t *request_id(const json_t *request) {
  json_t *id = json_object_get(request, "id");
  return id ? json_incref(id) : NULL;
}

/* Sends our SIP SDP again with direction (re-INVITE); false + error to the tab if impossible. */
static bool reinvite(call *c, session *s, const json_t *request, const char *direction) {
  char *sdp = NULL, err[160];
  if (!sdp_plain_with_direction(sip_call_local_sdp(c->sip), direction, c->codec.sip_pt,
                                c->codec.sip_dtmf_pt, &sdp, err, sizeof err) ||
      !call_sdes_secure(&c->sdes, &sdp, err, sizeof err)) {
    free(sdp);
    send_error(s, request, PROTO_ERR_INTERNAL, err);
    return false;
  }
  bool sent = sip_call_update_sdp(c->sip, sdp);
  free(sdp);
  if (!sent) send_error(s, request, PROTO_ERR_INVALID_FIELD, "the call is not connected yet");
  return sent;
}

void call_on_hold(call *c, session *s, const json_t *request) {
  if (!check_connected(c, s, request)) return;
  if (c->local_hold) {
    json_t *id = request_id(request);
    send_call_state(c, state_name(c), NULL, id);
    json_decref(id);
    return;
  }
  if (!reinvite(c, s, request, "sendonly")) return;
  /* The far end stops hearing the tab at once, not when its answer comes. */
  call_media_set_hold(c->media, true);
  c->hold_pending = HOLD_SENDING;
  c->hold_id = request_id(request);
}

void call_on_resume(call *c, session *s, const json_t *request) {
  if (!check_connected(c, s, request)) return;
  if (!c->local_hold) {
    json_t *id = request_id(request);
    send_call_state(c, state_name(c), NULL, id);
    json_decref(id);
    return;
  }
  if (!reinvite(c, s, request, "sendrecv")) return;
  c->hold_pending = RESUME_SENDING;
  c->hold_id = request_id(request);
}

/* "<sip:carol@host?Replaces=...>" for an attended transfer to the far end of other. */
static char *replaces_target(call *other, char *err, size_t err_len) {
  char replaces[768];
  if (!other->sip || !sip_call_replaces(other->sip, replaces, sizeof replaces)) {
    snprintf(err, err_len, "the other call is not connected");
    return NULL;
  }
  const char *uri = sip_call_remote_uri(other->sip);
  size_t len = strcspn(uri, "?>"); /* URI headers of its own would clash with ours */
  return g_strdup_printf("<%.*s?Replaces=%s>", (int)len, uri, replaces);
}

static char *transfer_target(call *c, session *s, const json_t *request, char *err,
                             size_t err_len) {
  const char *to = protocol_string(request, "to");
  if (to) {
    char *target = dial_target(c->account, to, err, err_len);
    char *name_addr = target ? g_strdup_printf("<%s>", target) : NULL;
    g_free(target);
    return name_addr;
  }
  const char *replaces = protocol_string(request, "replaces");
  call *other = hub_find_call(c->hub, s, replaces);
  if (!other || other == c || other->owner != s) {
    snprintf(err, err_len, "%s", other == c ? "a call cannot replace itself"
                                            : "no call to connect with in this tab");
    return NULL;
  }
  if (!other->answered || other->hold_pending != HOLD_IDLE || other->transferring) {
    snprintf(err, err_len, "the other call is not connected");
    return NULL;
  }
  return replaces_target(other, err, err_len);
}

void call_on_transfer(call *c, session *s, const json_t *request) {
  if (!check_connected(c, s, request)) return;
  char err[256];
  char *target = transfer_target(c, s, request, err, sizeof err);
  if (!target) {
    send_error(s, request, PROTO_ERR_INVALID_FIELD, err);
    return;
  }
  bool sent = sip_call_refer(c->sip, target);
  log_info("call", c->subject, NULL, "transfer to %s: %s", target, sent ? "REFER sent" : "refused");
  g_free(target);
  if (!sent) {
    send_error(s, request, PROTO_ERR_INVALID_FIELD, "the call is not connected yet");
    return;
  }
  c->transferring = true;
  g_free(c->transfer_replaces);
  c->transfer_replaces = g_strdup(protocol_string(request, "replaces"));
  send_call_state(c, "transferring", json_pack("{s:i, s:s}", "code", 0, "reason", "REFER sent"),
                  json_object_get(request, "id"));
}

/* ---- resume: a tab reconnects -------------------------------------------------------------- */

/* ---- ICE restart (reoffer -> reanswer) ------------------------------------------------------ */

/* Our last SDP to the tab as an answer with new ICE credentials: ufrag/pwd replaced, a=setup
 * pinned to the DTLS role already in use (an offer of ours said actpass), candidates of the old
 * generation dropped (they trickle again), o= version bumped. Codecs and mid stay as negotiated. */
static char *restart_answer(call *c, const char *ours, const webrtc_local *local) {
  GString *out = g_string_new(NULL);
  char **lines = g_strsplit(ours, "\n", -1);
  for (char **l = lines; *l; l++) {
    char *line = g_strchomp(*l);
    if (!*line) continue;
    if (g_str_has_prefix(line, "a=candidate:") || strcmp(line, "a=end-of-candidates") == 0)
      continue;
    if (g_str_has_prefix(line, "a=ice-ufrag:"))
      g_string_append_printf(out, "a=ice-ufrag:%s\r\n", local->ice_ufrag);
    else if (g_str_has_prefix(line, "a=ice-pwd:"))
      g_string_append_printf(out, "a=ice-pwd:%s\r\n", local->ice_pwd);
    else if (g_str_has_prefix(line, "a=setup:"))
      g_string_append_printf(out, "a=setup:%s\r\n", c->our_setup ? c->our_setup : "active");
    else if (g_str_has_prefix(line, "o=")) {
      char **f = g_strsplit(line, " ", -1);
      if (g_strv_length(f) == 6)
        g_string_append_printf(out, "%s %s %u %s %s %s\r\n", f[0], f[1], ++c->sdp_version, f[3],
                               f[4], f[5]);
      else
        g_string_append_printf(out, "%s\r\n", line);
      g_strfreev(f);
    } else
      g_string_append_printf(out, "%s\r\n", line);
  }
  g_strfreev(lines);
  return g_string_free(out, FALSE);
}

/* Why the tab's ICE-restart offer cannot be taken (NULL = it can). */
static const char *reoffer_problem(const sdp_media *now, const sdp_media *offer) {
  if (!offer) return "the offer has no audio";
  if (!offer->ice_ufrag[0] || !offer->ice_pwd[0]) return "the offer has no ICE credentials";
  if (strcmp(offer->ice_ufrag, now->ice_ufrag) == 0 || strcmp(offer->ice_pwd, now->ice_pwd) == 0)
    return "an ICE restart needs a new ice-ufrag and ice-pwd";
  if (g_ascii_strcasecmp(offer->fingerprint_alg, now->fingerprint_alg) != 0 ||
      g_ascii_strcasecmp(offer->fingerprint, now->fingerprint) != 0)
    return "the DTLS fingerprint changed (a new DTLS session is not supported mid-call)";
  return NULL;
}

void call_on_reoffer(call *c, session *s, const json_t *request) {
  const char *ours = c->direction == CALL_INCOMING ? c->browser_offer_text : c->tab_answer_text;
  if (c->owner != s || !c->media || !c->media_connected || !ours || !c->browser_sdp) {
    send_error(s, request, PROTO_ERR_NOT_CONNECTED,
               "an ICE restart needs a call whose media is connected");
    return;
  }
  char err[256];
  sdp_session *offer = parse_sdp(protocol_string(request, "sdp"), err, sizeof err);
  const sdp_media *now = sdp_audio(c->restart_sdp ? c->restart_sdp : c->browser_sdp);
  const char *problem = offer ? reoffer_problem(now, sdp_audio(offer)) : err;
  if (problem) {
    log_info("call", c->subject, NULL, "ICE restart refused: %s", problem);
    send_error(s, request, PROTO_ERR_BAD_REOFFER, problem);
    if (offer) sdp_session_clear(offer);
    g_free(offer);
    return;
  }
  const sdp_media *audio = sdp_audio(offer);
  const webrtc_local *local = call_media_restart_ice(c->media, audio->ice_ufrag, audio->ice_pwd);
  for (size_t i = 0; i < audio->candidate_count; i++)
    call_media_add_remote_candidate(c->media, audio->candidates[i]);
  if (audio->end_of_candidates) call_media_add_remote_candidate(c->media, NULL);
  if (c->restart_sdp) sdp_session_clear(c->restart_sdp);
  g_free(c->restart_sdp);
  c->restart_sdp = offer;
  char *answer = restart_answer(c, ours, local);
  metrics_inc(METRIC_ICE_RESTARTS);
  log_info("call", c->subject, NULL, "ICE restart by the tab: new credentials, DTLS goes on");
  json_t *msg = json_pack("{s:s, s:s}", "type", "reanswer", "sdp", answer);
  json_t *id = json_object_get(request, "id");
  if (id) json_object_set(msg, "id", id);
  send_to_tab(c->owner, c->id, msg);
  g_free(answer);
}

const char *call_id(const call *c) { return c->id; }

void call_session_detached(call *c, session *s) {
  if (c->owner == s || c->ended) return; /* owned calls wait for the resume */
  remove_ringing(c, s);
  if (!c->owner && c->direction == CALL_INCOMING && c->ringing->len == 0) {
    sip_call_reject(c->sip, 480, "Temporarily Unavailable");
    call_end(c, 480, "no tab left to ring");
  }
}

void call_session_moved(call *c, session *from, session *to) {
  if (c->ended) return;
  if (c->owner == from) c->owner = to;
  /* A call ringing on both tabs rings once on the one that took over (listed twice, the
   * second entry outlived the session: fuzz_session found the hangup sent to a freed one). */
  bool to_rings = g_ptr_array_find(c->ringing, to, NULL);
  for (guint i = 0; i < c->ringing->len; i++) {
    if (g_ptr_array_index(c->ringing, i) == from) c->ringing->pdata[i] = to;
  }
  if (to_rings) {
    remove_ringing(c, to);
    g_ptr_array_add(c->ringing, to);
  }
  for (guint i = 0; i < c->early_candidates->len; i++) {
    queued_candidate *q = g_ptr_array_index(c->early_candidates, i);
    if (q->from == from) q->from = to;
  }
}

/* call_state "resumed": enough for a dialer to redraw the call without having seen what happened
 * while it was away (those messages, if any, came just before this one). */
void call_send_resumed(call *c) {
  if (c->ended || !c->owner) return;
  json_t *msg = json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:b}", "type", "call_state", "state",
                          "resumed", "call", c->answered ? state_name(c) : "setup", "answered",
                          c->answered, "media_connected", c->media_connected, "local_hold",
                          c->local_hold, "remote_hold", c->remote_hold);
  if (c->answered && c->codec.name[0]) {
    char *codec = codec_label(&c->codec);
    json_object_set_new(msg, "codec", json_string(codec));
    g_free(codec);
  }
  if (c->media_connected) json_object_set_new(msg, "encryption", encryption_json(c));
  send_to_tab(c->owner, c->id, msg);
}
