/* call: see call.h.
 *
 * Reading order: lifecycle, helpers that talk to the tab, the outbound path (tab offer ->
 * INVITE -> answer), the inbound path (INVITE -> incoming -> accept), media events, and the
 * tab's in-call messages. */
#include "signal/call.h"

#include <glib.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "media/media.h"
#include "sdp/sdp.h"
#include "signal/protocol.h"
#include "signal/session.h"

typedef enum { CALL_OUTGOING, CALL_INCOMING, CALL_ECHO } call_direction;

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
  sdp_codec_choice codec;
  bool answered;
  bool media_connected;
  char *srtp_profile;
  unsigned long long sdp_id;
  unsigned sdp_version;
  gint64 started_us;
  bool ended;
};

/* ---- lifecycle ---------------------------------------------------------------------------- */

static call *call_new(hub *h, call_direction direction, const char *id,
                      const config_account *account) {
  call *c = g_new0(call, 1);
  c->hub = h;
  c->direction = direction;
  g_strlcpy(c->id, id, sizeof c->id);
  snprintf(c->subject, sizeof c->subject, "call %s", id);
  c->ringing = g_ptr_array_new();
  c->account = account;
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
  g_free(c->srtp_profile);
  g_ptr_array_free(c->ringing, TRUE);
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
void call_end(call *c, int code, const char *reason) {
  if (c->ended) return;
  c->ended = true;
  log_info("call", c->subject, NULL, "ended: %d %s (%.1f s)", code, reason,
           (double)(g_get_monotonic_time() - c->started_us) / 1e6);
  tell_tabs_hangup(c, code, reason);
  /* SIP (BYE / CANCEL as needed) and media are released by call_free, which the hub runs from
   * an idle callback: call_end is often called from inside a SIP or media listener. */
  g_ptr_array_set_size(c->ringing, 0);
  c->owner = NULL;
  hub_remove_call(c->hub, c);
}

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

static sdp_webrtc_local webrtc_local_for(call *c, const char *setup) {
  const webrtc_local *local = call_media_webrtc_local(c->media);
  return (sdp_webrtc_local){.ice_ufrag = local->ice_ufrag, .ice_pwd = local->ice_pwd,
                            .fingerprint = local->fingerprint, .setup = setup,
                            .session_id = c->sdp_id, .session_version = ++c->sdp_version};
}

static sdp_plain_local plain_local_for(call *c) {
  return (sdp_plain_local){.address = call_media_rtp_address(c->media),
                           .rtp_port = call_media_rtp_port(c->media),
                           .session_id = c->sdp_id, .session_version = ++c->sdp_version};
}

/* Tells media what the tab's SDP says about ICE/DTLS; returns our DTLS setup or NULL. */
static const char *apply_browser_transport(call *c, const sdp_media *audio) {
  webrtc_remote remote = {.ice_ufrag = audio->ice_ufrag, .ice_pwd = audio->ice_pwd,
                          .fingerprint_alg = audio->fingerprint_alg,
                          .fingerprint = audio->fingerprint, .setup = audio->setup};
  const char *setup = call_media_set_webrtc_remote(c->media, &remote);
  for (size_t i = 0; i < audio->candidate_count; i++)
    call_media_add_remote_candidate(c->media, audio->candidates[i]);
  if (audio->end_of_candidates) call_media_add_remote_candidate(c->media, NULL);
  return setup;
}

static void apply_codec_choice(call *c, const sdp_codec_choice *choice) {
  c->codec = *choice;
  media_codec_map map = {.browser_pt = choice->browser_pt, .sip_pt = choice->sip_pt,
                         .clock_rate = choice->clock_rate,
                         .browser_dtmf_pt = choice->browser_dtmf_pt,
                         .sip_dtmf_pt = choice->sip_dtmf_pt};
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
  apply_sip_remote(c, plain);
  sdp_session_clear(plain);
  g_free(plain);
}

static char *codec_label(const sdp_codec_choice *choice) {
  if (g_ascii_strcasecmp(choice->name, "opus") == 0) return g_strdup("opus/48000/2");
  char *upper = g_ascii_strup(choice->name, -1);
  char *label = g_strdup_printf("%s/%d", upper, choice->clock_rate);
  g_free(upper);
  return label;
}

static json_t *encryption_json(const call *c) {
  char browser[96];
  snprintf(browser, sizeof browser, "DTLS-SRTP%s%s", c->srtp_profile ? " " : "",
           c->srtp_profile ? c->srtp_profile : "");
  const char *sip = c->direction == CALL_ECHO ? "none (echo test: no SIP leg)" : "none (RTP)";
  return json_pack("{s:s, s:s}", "browser", browser, "sip", sip);
}

static void send_answered(call *c, const char *browser_sdp) {
  char *codec = codec_label(&c->codec);
  json_t *msg = json_pack("{s:s, s:s, s:s, s:o}", "type", "answered", "sdp",
                          browser_sdp ? browser_sdp : "", "codec", codec, "encryption",
                          encryption_json(c));
  if (!browser_sdp) json_object_del(msg, "sdp");
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
    call_end(c, 0, "rtp_timeout");
    break;
  }
}

static bool create_media(call *c, media_mode mode, bool controlling, char *err, size_t err_len) {
  c->media = call_media_new(hub_media_engine(c->hub), mode, controlling, c->subject,
                            on_media_event, c, err,
                            err_len);
  return c->media != NULL;
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
  apply_codec_choice(c, &choice);
  apply_sip_remote(c, plain);
  sdp_session_clear(plain);
  g_free(plain);
  g_free(c->applied_sip_answer);
  c->applied_sip_answer = g_strdup(sdp_text);
  if (final) {
    send_answered(c, browser_answer);
  } else {
    send_to_tab(c->owner, c->id,
                json_pack("{s:s, s:i, s:s, s:s}", "type", "progress", "code", 183, "reason",
                          "early media", "sdp", browser_answer));
  }
  free(browser_answer);
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
    follow_remote_sdp(c, event->sdp);
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
  if (!create_media(c, echo ? MEDIA_MODE_ECHO : MEDIA_MODE_BRIDGE, false, err, sizeof err)) {
    call_end(c, 500, err);
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
  sip_call_params params = {.account = account, .to = target, .sdp_offer = offer};
  c->sip = sip_call_new_outgoing(hub_sip_agent(h), &params, on_outgoing_sip_event, c, err,
                                 sizeof err);
  log_info("call", c->subject, NULL, "to %s via account %s: INVITE sent %.1f ms after the tab's call",
           target, account->name, (double)(g_get_monotonic_time() - c->started_us) / 1e3);
  g_free(target);
  free(offer);
  if (!c->sip) call_end(c, 400, err);
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
    follow_remote_sdp(c, event->sdp);
    break;
  case SIP_CALL_ENDED:
    call_end(c, event->code, event->reason ? event->reason : "call ended");
    break;
  default:
    break;
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
  c->sip_sdp = sdp_offer ? parse_sdp(sdp_offer, err, sizeof err) : NULL;
  if (!c->sip_sdp || !create_media(c, MEDIA_MODE_BRIDGE, true, err, sizeof err)) {
    /* Returning false: the SIP layer keeps the call and sends this final answer. */
    sip_call_reject(sip, c->sip_sdp ? 500 : 488,
                    c->sip_sdp ? "Server Internal Error" : "Not Acceptable Here");
    call_end(c, 488, "unusable offer");
    g_ptr_array_free(tabs, TRUE);
    return false;
  }
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
  log_info("call", c->subject, from_uri, "incoming for account %s, ringing %u tab(s)",
           account->name, tabs->len);
  for (guint i = 0; i < tabs->len; i++) {
    session *s = g_ptr_array_index(tabs, i);
    g_ptr_array_add(c->ringing, s);
    send_to_tab(s, c->id,
                json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s}", "type", "incoming", "from", from_uri,
                          "display", from_display, "to", to_uri, "account", account->name,
                          "sdp", c->browser_offer_text));
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
                                   sizeof err)) {
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

static void remove_ringing(call *c, session *s) { g_ptr_array_remove(c->ringing, s); }

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
  call_end(c, code, "rejected");
}

void call_on_candidate(call *c, session *s, const json_t *request) {
  if (c->owner != s || !c->media) return;
  const json_t *cand = json_object_get(request, "candidate");
  if (json_is_null(cand)) {
    call_media_add_remote_candidate(c->media, NULL);
    return;
  }
  const char *line = json_string_value(json_object_get(cand, "candidate"));
  if (line && *line) call_media_add_remote_candidate(c->media, line);
}

void call_on_hangup(call *c, session *s, const json_t *request) {
  (void)request;
  if (c->owner != s) {
    /* A ringing tab "hanging up" is a reject from that tab. */
    remove_ringing(c, s);
    if (c->ringing->len == 0 && !c->owner) {
      sip_call_reject(c->sip, 486, "Busy Here");
      call_end(c, 486, "rejected");
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
