/* call: one INVITE dialog on one nua handle; see call.h for the behaviour promised.
 *
 * sofia settings that make this work (set nua-wide in agent.c, per handle here): soa off
 * (NUTAG_MEDIA_ENABLE(0)) so the SDP we give goes out verbatim and the SDP we get is the raw
 * payload; no automatic 180/200; sofia sends the ACK to a 2xx itself (NUTAG_AUTOACK(1)).
 *
 * Digest on INVITE, and the SIPDigestLeak defence:
 *   - a 401/407 to our INVITE is answered (nua_authenticate, HA1 form of digest.c; for a
 *     SHA-256 challenge, which sofia cannot answer, the INVITE goes again on a fresh handle with
 *     the same Call-ID and From tag and our own header) once per request, and only when its
 *     transport source is the account's proxy/registrar (call_route_trusts);
 *   - credentials are sent only when challenged (NUTAG_AUTH_CACHE challenged), never
 *     pre-emptively on BYE/re-INVITE;
 *   - once the INVITE has its final answer we set NUTAG_RETRY_COUNT(0) on the handle: sofia
 *     then never restarts a request by itself, so a challenge to our BYE (same realm or not) is
 *     never answered from sofia's credential cache; we ignore it.
 *
 * Redirects: sofia 1.12.11 follows a 3xx itself (new request URI = the Contact, same Call-ID,
 * next CSeq, same proxy) and reports it as a status-100 event; it stops after
 * NUTAG_RETRY_COUNT(MAX_REDIRECTS) restarts and then reports the 3xx as final.
 *
 * In-dialog requests of our own: a re-INVITE (sip_call_update_sdp) and a REFER (sip_call_refer)
 * run on the call's handle. sofia reports the answer to a re-INVITE as nua_r_invite like the
 * first INVITE's: phase UP tells them apart. A REFER creates sofia's implicit "refer"
 * subscription on the handle: the transferee's NOTIFYs arrive as nua_i_notify (sofia answers
 * them 200 itself) with a message/sipfrag body, and the subscription ends with a NOTIFY whose
 * Subscription-State is terminated. An incoming REFER is answered by us (NUTAG_APPL_METHOD
 * "REFER" in agent.c; by default sofia would accept it with 202 on its own) with 603.
 *
 * 100rel (RFC 3262): agent.c lists "100rel" in Supported; sofia then answers a caller's Require:
 * 100rel with a reliable 180 and queues our 200 until the PRACK, and PRACKs a far end's reliable
 * 18x itself. Both directions, the late PRACK and a reliable 183 with SDP run under ASan in
 * tests/sip/session-features.test.mjs without sofia asserting; nothing here needs to steer it.
 *
 * Session timers (RFC 4028): see "session timer" below for what sofia does and what we add.
 *
 * Ending: ENDED is reported once; the nua handle then leaves the call at once. When sofia still
 * has work on it (BYE/CANCEL in flight, a final answer being retransmitted) the agent adopts it
 * (sip_agent_adopt_call) and destroys it when the call state reaches "terminated". ENDED caused
 * by the caller's own hangup/reject is delivered from an idle source, never from inside the
 * call, so a listener that frees the call cannot pull the call out from under its caller.
 *
 * Ownership: the call owns its strings, its route, its idle source and (until ENDED) its nua
 * handle. Threading: control thread only.
 */
#include "sip/call.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/url.h>

#include "auth/sip_screen.h"
#include "core/log.h"
#include "core/metrics.h"
#include "sip/call_route.h"
#include "sip/caller_id.h"
#include "sip/digest.h"
#include "sip/reason.h"
#include "sip/sip_internal.h"

#define MAX_REDIRECTS 3

typedef enum {
  PHASE_CALLING,   /* outbound: INVITE sent, no final answer */
  PHASE_OFFERED,   /* inbound: INVITE received, not answered */
  PHASE_ANSWERING, /* inbound: 200 sent, no ACK yet */
  PHASE_UP,        /* dialog confirmed */
  PHASE_ENDED,
} call_phase;

struct sip_call {
  sip_handle_owner owner; /* first: it is the nua handle magic */
  sip_agent *agent;       /* borrowed */
  nua_handle_t *nh;       /* owned until ENDED */
  sip_call_listener listener;
  void *user_data;
  const config_account *account; /* borrowed from the config */
  bool outbound;
  call_phase phase;
  bool handle_terminated; /* sofia reported callstate terminated on nh */

  call_route *route;      /* outbound only */
  char *to;               /* request URI (outbound) */
  char *remote_uri;
  char *local_sdp;        /* our offer (outbound) or answer (inbound) */
  char *subject;          /* "call <remote>" for logs */
  int redirects;
  bool auth_sent;         /* credentials given for the INVITE in flight */
  char *auth_header;      /* our own digest answer (SHA-256) for the next send_invite, or NULL */
  bool auth_proxy;        /* ... as Proxy-Authorization (a 407) */
  char *retry_from;       /* with auth_header: the challenged INVITE's From (with its tag) */
  char *retry_call_id;    /* ... and Call-ID: the retry is the same request (RFC 3261 22.2) */
  sip_caller_id caller_id; /* inbound: Diversion, History-Info, trusted PAI */
  sip_call_answerer answerer;

  char *pending_sdp;      /* our re-INVITE's SDP while it is unanswered (NULL = none pending) */
  bool refer_running;     /* a REFER of ours has no outcome yet */
  char *call_id;          /* dialog identifiers, once connected (for Replaces) */
  char *local_tag;
  char *remote_tag;

  unsigned session_expires; /* RFC 4028 interval in force (s); 0 = no session timer */
  bool far_end_refreshes;   /* the far end is the refresher: we watch for its refreshes */
  GSource *session_deadline; /* when its next refresh is overdue (far_end_refreshes only) */

  GSource *pending_end;   /* ENDED after the caller's own hangup/reject */
  int end_code;
  char *end_reason;
};

static void on_handle_event(sip_handle_owner *owner, nua_event_t event, int status,
                            const char *phrase, const sip_t *sip, bool remote,
                            const tagi_t *tags);

static const char *event_name(sip_call_event_type type) {
  switch (type) {
  case SIP_CALL_PROGRESS: return "progress";
  case SIP_CALL_ANSWERED: return "answered";
  case SIP_CALL_CONFIRMED: return "confirmed";
  case SIP_CALL_REMOTE_SDP: return "remote_sdp";
  case SIP_CALL_REINVITE_FAILED: return "reinvite_failed";
  case SIP_CALL_TRANSFER: return "transfer";
  case SIP_CALL_ENDED: return "ended";
  }
  return "?";
}

/* ---- the handle leaves the call ---- */

static void release_handle(sip_call *call) {
  sip_timer_cancel(&call->session_deadline);
  nua_handle_t *nh = call->nh;
  if (!nh) return;
  call->nh = NULL;
  if (call->handle_terminated) {
    nua_handle_destroy(nh);
  } else {
    sip_agent_adopt_call(call->agent, nh);
  }
}

/* Reports an event; for ENDED the handle is released first. The listener may free the call:
 * callers return right after emit(). */
static void emit_event(sip_call *call, const sip_call_event *event) {
  if (call->phase == PHASE_ENDED) return;
  const char *reason = event->reason ? event->reason : "";
  if (event->type == SIP_CALL_ENDED) {
    call->phase = PHASE_ENDED;
    release_handle(call);
    log_info("sip", call->subject, NULL, "ended: %d %s", event->code, reason);
  } else {
    log_debug("sip", call->subject, NULL, "%s %d %s", event_name(event->type), event->code,
              reason);
  }
  if (call->listener) call->listener(call->user_data, event);
}

static void emit(sip_call *call, sip_call_event_type type, int code, const char *reason,
                 const char *sdp) {
  emit_event(call, &(sip_call_event){type, code, reason, sdp, false, false});
}

/* The dialog's identifiers, for Replaces. uac: we sent the INVITE (our tag is From's). */
static void remember_dialog(sip_call *call, const sip_t *sip, bool uac) {
  if (!sip || !sip->sip_call_id || !sip->sip_from || !sip->sip_to) return;
  const char *ours = uac ? sip->sip_from->a_tag : sip->sip_to->a_tag;
  const char *theirs = uac ? sip->sip_to->a_tag : sip->sip_from->a_tag;
  if (!ours || !theirs) return;
  g_free(call->call_id), g_free(call->local_tag), g_free(call->remote_tag);
  call->call_id = g_strdup(sip->sip_call_id->i_id);
  call->local_tag = g_strdup(ours);
  call->remote_tag = g_strdup(theirs);
}

/* ---- session timer (RFC 4028) ----
 *
 * sofia negotiates Session-Expires / Min-SE ([sip] session_expires, min_se via agent.c),
 * answers 422 to intervals below Min-SE, and refreshes by UPDATE every half interval when we
 * are the refresher (a far end that refuses UPDATE with 405/501 gets a re-INVITE with our
 * current SDP from us instead: refresh_by_reinvite). We add: our own
 * deadline when the far end refreshes (session_timer_restart), the end of a call whose refresh
 * of ours got 408/481 (on_update_answer), and one reason for all of it: ENDED 408
 * "session_timer_expired". */

/* Who refreshes, from a message of the far end's (request or answer) carrying Session-Expires;
 * we_are_uac: the message is an answer to our request. A far end that does not support "timer"
 * leaves refreshing to us; without a refresher parameter the UAS decides, and our preference is
 * the far end (agent.c: NUTAG_SESSION_REFRESHER(nua_no_refresher) makes sofia say refresher=uac
 * in its answers). An answer without one sets no timer at all (sofia does the same). */
static bool far_end_is_refresher(const sip_t *sip, bool we_are_uac) {
  const char *who = sip->sip_session_expires->x_refresher;
  if (!sip_has_supported(sip->sip_supported, "timer") &&
      !sip_has_feature((const msg_list_t *)sip->sip_require, "timer"))
    return false;
  if (who && !g_ascii_strcasecmp(who, "uac")) return !we_are_uac;
  if (who && !g_ascii_strcasecmp(who, "uas")) return we_are_uac;
  return !we_are_uac;
}

/* Reads the interval and the refresher from a request of the far end (we_are_uac false) or an
 * answer to ours (true). A message without Session-Expires changes nothing: sofia keeps the
 * timer it has (and puts it into its answers), so we keep watching with what we know. */
static void session_timer_read(sip_call *call, const sip_t *sip, bool we_are_uac) {
  const sip_session_expires_t *se = sip ? sip->sip_session_expires : NULL;
  if (!se) return;
  call->session_expires = (unsigned)se->x_delta;
  call->far_end_refreshes = se->x_delta > 0 && far_end_is_refresher(sip, we_are_uac);
}

/* send_bye false: sofia sent its own BYE already. */
static void end_by_session_timer(sip_call *call, const char *why, bool send_bye) {
  log_warn("sip", call->subject, NULL, "session timer expired (%s): ending the call", why);
  metrics_inc(METRIC_SESSION_TIMER_EXPIRED);
  if (send_bye && call->nh)
    nua_bye(call->nh, SIPTAG_REASON_STR("SIP;cause=408;text=\"Session timer expired\""),
            TAG_END());
  emit(call, SIP_CALL_ENDED, 408, "session_timer_expired", NULL);
}

static gboolean on_session_deadline(gpointer data) {
  sip_call *call = data;
  g_source_unref(call->session_deadline);
  call->session_deadline = NULL;
  char why[96];
  snprintf(why, sizeof why, "no refresh from the far end within %u s", call->session_expires);
  end_by_session_timer(call, why, true);
  return G_SOURCE_REMOVE;
}

/* (Re)starts our watch for the far end's next refresh: RFC 4028 section 10 has the side that
 * does not refresh send BYE min(32, interval / 3) before the session expires. (sofia-sip 1.12.11
 * would BYE only at the interval itself and report the end only when that BYE is answered,
 * 32 s later when the far end is gone: the tab would learn late and without a reason.) */
static void session_timer_restart(sip_call *call) {
  sip_timer_cancel(&call->session_deadline);
  if (!call->far_end_refreshes || call->phase != PHASE_UP) return;
  unsigned interval = call->session_expires;
  unsigned before = MIN(32u, interval / 3);
  call->session_deadline = sip_timer_start(call->agent, (interval - before) * 1000u,
                                           on_session_deadline, call);
  log_debug("sip", call->subject, NULL, "session timer: %u s, refreshed by the far end", interval);
}

/* A refresh (or any re-INVITE / UPDATE) went through: from a request of the far end or the 2xx
 * to one of ours. */
static void session_refreshed(sip_call *call, const sip_t *sip, bool we_are_uac) {
  session_timer_read(call, sip, we_are_uac);
  session_timer_restart(call);
}

static gboolean on_pending_end(gpointer data) {
  sip_call *call = data;
  g_source_unref(call->pending_end);
  call->pending_end = NULL;
  if (call->listener) {
    sip_call_event event = {.type = SIP_CALL_ENDED, .code = call->end_code,
                            .reason = call->end_reason};
    call->listener(call->user_data, &event);
  }
  return G_SOURCE_REMOVE;
}

/* Ends the call on the caller's request: ENDED comes from an idle source. */
static void end_later(sip_call *call, int code, const char *reason) {
  call->phase = PHASE_ENDED;
  release_handle(call);
  log_info("sip", call->subject, NULL, "ended: %d %s", code, reason);
  call->end_code = code;
  g_free(call->end_reason);
  call->end_reason = g_strdup(reason);
  if (!call->pending_end) call->pending_end = sip_timer_start(call->agent, 0, on_pending_end, call);
}

/* ---- construction ---- */

static sip_call *call_alloc(sip_agent *agent, const config_account *account, bool outbound) {
  sip_call *call = g_new0(sip_call, 1);
  call->owner.on_event = on_handle_event;
  call->agent = agent;
  call->account = account;
  call->outbound = outbound;
  return call;
}

/* ---- the account's public address (NAT, see registration.c) ---- */

/* The address the account's registrar saw us at, or false (public_ip, or nothing learned). */
static bool learned_address(sip_call *call, sip_public_address *out) {
  return sip_agent_public_address(call->agent, call->account ? call->account->name : NULL, out);
}

static char *call_contact(sip_call *call) {
  sip_public_address learned;
  bool have = learned_address(call, &learned);
  return call_route_contact(sip_agent_config(call->agent), call->account, have ? &learned : NULL);
}

/* A copy of our SDP as the far end gets it: behind a NAT learned from the registrar, o= and c=
 * name the public address. The RTP port the NAT maps to stays unknown: the far end must send
 * back to where our RTP comes from (symmetric RTP / latching), as we do on our side. */
static char *sdp_for_peer(sip_call *call, const char *sdp) {
  sip_public_address learned;
  char *moved = sdp && learned_address(call, &learned) ? sip_nat_sdp(sdp, learned.host) : NULL;
  return moved ? moved : g_strdup(sdp);
}

/* A body that says it is something else (text/plain, multipart/...) is not an SDP. */
static bool body_is_foreign(const sip_t *sip) {
  return sip && sip->sip_payload && sip->sip_payload->pl_len && sip->sip_content_type &&
         sip->sip_content_type->c_type &&
         g_ascii_strcasecmp(sip->sip_content_type->c_type, "application/sdp") != 0;
}

static char *sdp_of(const sip_t *sip) {
  if (!sip || !sip->sip_payload || !sip->sip_payload->pl_data || !sip->sip_payload->pl_len ||
      body_is_foreign(sip))
    return NULL;
  return g_strndup(sip->sip_payload->pl_data, sip->sip_payload->pl_len);
}

static void send_invite(sip_call *call) {
  const config *cfg = sip_agent_config(call->agent);
  call->auth_sent = false;
  call->handle_terminated = false;
  call->nh = nua_handle(sip_agent_nua(call->agent), &call->owner, SIPTAG_TO_STR(call->to),
                        SIPTAG_FROM_STR(call->retry_from ? call->retry_from : call->route->from),
                        TAG_END());
  nua_set_hparams(call->nh, TAG_IF(call->route->proxy,
                                   NUTAG_PROXY(URL_STRING_MAKE(call->route->proxy))),
                  NUTAG_MEDIA_ENABLE(0), NUTAG_AUTH_CACHE(nua_auth_cache_challenged),
                  NUTAG_RETRY_COUNT(MAX_REDIRECTS),
                  NUTAG_OUTBOUND("no-natify no-validate no-options-keepalive"),
                  TAG_IF(cfg->user_agent, SIPTAG_USER_AGENT_STR(cfg->user_agent)), TAG_END());
  char *pai = sip_caller_id_header("P-Asserted-Identity", call->account->asserted_identity);
  char *ppi = sip_caller_id_header("P-Preferred-Identity", call->account->preferred_identity);
  const char *authz = call->auth_header;
  nua_invite(call->nh, TAG_IF(call->route->contact, SIPTAG_CONTACT_STR(call->route->contact)),
             SIPTAG_CONTENT_TYPE_STR("application/sdp"), SIPTAG_PAYLOAD_STR(call->local_sdp),
             TAG_IF(pai, SIPTAG_HEADER_STR(pai)), TAG_IF(ppi, SIPTAG_HEADER_STR(ppi)),
             TAG_IF(authz && !call->auth_proxy, SIPTAG_AUTHORIZATION_STR(authz)),
             TAG_IF(authz && call->auth_proxy, SIPTAG_PROXY_AUTHORIZATION_STR(authz)),
             TAG_IF(call->retry_call_id, SIPTAG_CALL_ID_STR(call->retry_call_id)),
             NUTAG_AUTOANSWER(0), TAG_END());
  g_free(pai), g_free(ppi);
  if (call->auth_header) { /* nua copied it */
    explicit_bzero(call->auth_header, strlen(call->auth_header));
    g_clear_pointer(&call->auth_header, g_free);
    g_clear_pointer(&call->retry_from, g_free);
    g_clear_pointer(&call->retry_call_id, g_free);
    call->auth_sent = true;
  }
}

sip_call *sip_call_new_outgoing(sip_agent *agent, const sip_call_params *params,
                                sip_call_listener listener, void *user_data, char *err,
                                size_t err_len) {
  if (!params->account || !params->sdp_offer || !*params->sdp_offer) {
    snprintf(err, err_len, "call: an account and an SDP offer are needed");
    return NULL;
  }
  if (sip_agent_shutting_down(agent)) {
    snprintf(err, err_len, "call %s: the server is shutting down", params->to ? params->to : "");
    return NULL;
  }
  sip_public_address learned;
  bool have = sip_agent_public_address(agent, params->account ? params->account->name : NULL,
                                       &learned);
  call_route *route = call_route_new(sip_agent_config(agent), params->account, params->to,
                                     have ? &learned : NULL, err, err_len);
  if (!route) return NULL;
  sip_call *call = call_alloc(agent, params->account, true);
  call->listener = listener;
  call->user_data = user_data;
  call->route = route;
  call->to = g_strdup(params->to);
  call->remote_uri = g_strdup(params->to);
  call->local_sdp = sdp_for_peer(call, params->sdp_offer);
  call->subject = g_strdup_printf("call %s", params->to);
  call->phase = PHASE_CALLING;
  char why[160];
  if (!sip_agent_dns_routable(agent, route->proxy ? route->proxy : call->to, why, sizeof why)) {
    /* Not handed to sofia (see sip_agent_dns_routable): ENDED follows from an idle source. */
    char reason[320];
    snprintf(reason, sizeof reason, "cannot resolve %s: DNS lookup impossible, %s",
             route->next_hop, why);
    log_warn("sip", call->subject, route->next_hop, "INVITE not sent: %s", reason);
    end_later(call, 503, reason);
    return call;
  }
  log_info("sip", call->subject, route->next_hop, "INVITE from account %s",
           params->account->name);
  send_invite(call);
  metrics_inc(METRIC_CALLS_OUTBOUND);
  return call;
}

/* ---- outbound: answers to our INVITE ---- */

/* A challenge sofia cannot answer (SHA-256, digest.h): it reported the 401/407 as final (and
 * ACKed it), so the INVITE goes again, on a fresh handle, with our own header. */
static bool resend_with_own_digest(sip_call *call, int status, const sip_t *sip,
                                   const msg_auth_t *challenges, const char *user) {
  char header[1024];
  const msg_auth_t *challenge = sip_digest_pick(challenges);
  if (!challenge || sip_digest_authorization(challenge, user, call->account->password, "INVITE",
                                             call->to, header, sizeof header) != 0)
    return false;
  log_debug("sip", call->subject, call->route->next_hop, "%d: answering digest %s as user %s",
            status, sip_digest_algorithm(challenge), user);
  nua_handle_destroy(call->nh);
  call->nh = NULL;
  call->auth_header = g_strdup(header);
  call->auth_proxy = status == 407;
  if (sip->sip_call_id && sip->sip_from && sip->sip_from->a_tag) {
    call->retry_call_id = g_strdup(sip->sip_call_id->i_id);
    call->retry_from = g_strdup_printf("%s;tag=%s", call->route->from, sip->sip_from->a_tag);
  }
  explicit_bzero(header, sizeof header);
  send_invite(call);
  return true;
}

/* Answers a 401/407 with the account's credentials when the challenge comes from its
 * proxy/registrar. Returns true when it did. */
static bool authenticate(sip_call *call, int status, const sip_t *sip,
                         const struct sockaddr_storage *source) {
  const config_account *account = call->account;
  if (call->auth_sent || !account->password || !call_route_trusts(call->route, source))
    return false;
  const msg_auth_t *challenge = status == 407 ? (const msg_auth_t *)sip->sip_proxy_authenticate
                                              : (const msg_auth_t *)sip->sip_www_authenticate;
  const char *user = account->username;
  char fallback[128], host[256], port[16];
  if (!user && account->uri &&
      sip_uri_parse(account->uri, false, host, sizeof host, port, sizeof port, fallback,
                           sizeof fallback))
    user = fallback;
  if (challenge && user && sip_digest_needs_own(challenge))
    return resend_with_own_digest(call, status, sip, challenge, user);
  char credentials[512];
  if (!challenge || !user ||
      sip_digest_credentials(challenge, user, account->password, credentials,
                             sizeof credentials) != 0)
    return false;
  call->auth_sent = true;
  nua_authenticate(call->nh, NUTAG_AUTH(credentials), TAG_END());
  explicit_bzero(credentials, sizeof credentials);
  log_debug("sip", call->subject, call->route->next_hop, "%d: sending credentials of user %s",
            status, user);
  return true;
}

static void on_invite_failed(sip_call *call, int status, const char *phrase, const sip_t *sip,
                             bool remote) {
  struct sockaddr_storage source;
  char peer[80];
  if (!remote || !sip_agent_message_source(call->agent, &source, peer, sizeof peer))
    snprintf(peer, sizeof peer, "%s", call->route->next_hop), remote = false;
  char reason[256];
  if (remote && status >= 300 && status < 400 && call->redirects >= MAX_REDIRECTS) {
    sip_reason_too_many_redirects(reason, sizeof reason, status, phrase, peer, call->redirects);
    emit(call, SIP_CALL_ENDED, status, reason, NULL);
    return;
  }
  if (remote && (status == 401 || status == 407)) {
    if (authenticate(call, status, sip, &source)) return;
    sip_reason_auth_required(reason, sizeof reason, peer);
    emit(call, SIP_CALL_ENDED, status, reason, NULL);
    return;
  }
  if (remote || !sip_agent_tls_failure_reason(call->agent, reason, sizeof reason, peer, 0))
    sip_reason_call_failed(reason, sizeof reason, status, phrase, remote, peer);
  emit(call, SIP_CALL_ENDED, status, reason, NULL);
}

static void on_invite_answer(sip_call *call, int status, const char *phrase, const sip_t *sip,
                             bool remote) {
  if (call->phase != PHASE_CALLING) return; /* answers to our re-INVITEs: none sent */
  if (status < 200) {
    /* Status 100 without a provisional response in sip: sofia restarted the request. */
    int code = sip && sip->sip_status ? sip->sip_status->st_status : 0;
    if (code >= 300 && code < 400) {
      call->redirects++;
      log_info("sip", call->subject, call->route->next_hop, "%d: sofia follows the redirect (%d)",
               code, call->redirects);
    }
    if (!remote || code < 100 || code >= 200) return;
    char *sdp = sdp_of(sip);
    char reason[128];
    snprintf(reason, sizeof reason, "%d %s", code, sip->sip_status->st_phrase);
    emit(call, SIP_CALL_PROGRESS, code, reason, sdp);
    g_free(sdp);
    return;
  }
  if (status < 300) {
    call->phase = PHASE_UP;
    remember_dialog(call, sip, true);
    session_refreshed(call, sip, true);
    /* From now on sofia restarts nothing by itself (no cached credentials for a BYE). */
    nua_set_hparams(call->nh, NUTAG_RETRY_COUNT(0), TAG_END());
    char *sdp = sdp_of(sip);
    char reason[128];
    snprintf(reason, sizeof reason, "%d %s", status, phrase);
    emit(call, SIP_CALL_ANSWERED, status, reason, sdp);
    g_free(sdp);
    return;
  }
  on_invite_failed(call, status, phrase, sip, remote);
}

/* ---- our re-INVITE and REFER ---- */

static void on_reinvite_answer(sip_call *call, int status, const char *phrase, const sip_t *sip) {
  if (status < 200 || !call->pending_sdp) return;
  char reason[160];
  snprintf(reason, sizeof reason, "%d %s", status, phrase ? phrase : "");
  if (status >= 300) {
    g_clear_pointer(&call->pending_sdp, g_free);
    log_info("sip", call->subject, NULL, "our re-INVITE failed: %s", reason);
    emit(call, SIP_CALL_REINVITE_FAILED, status, reason, NULL);
    return;
  }
  g_free(call->local_sdp);
  call->local_sdp = call->pending_sdp;
  call->pending_sdp = NULL;
  char *sdp = sdp_of(sip);
  emit_event(call, &(sip_call_event){SIP_CALL_REMOTE_SDP, status, reason, sdp, false, false});
  g_free(sdp);
}

static void transfer_event(sip_call *call, int code, const char *reason, bool final) {
  if (!call->refer_running) return; /* the outcome was reported already */
  if (final) call->refer_running = false;
  log_info("sip", call->subject, NULL, "transfer: %d %s%s", code, reason, final ? " (final)" : "");
  emit_event(call, &(sip_call_event){SIP_CALL_TRANSFER, code, reason, NULL, false, final});
}

static void on_refer_answer(sip_call *call, int status, const char *phrase) {
  if (status < 200) return;
  char reason[160];
  if (status < 300) {
    snprintf(reason, sizeof reason, "%d %s", status, phrase ? phrase : "");
    transfer_event(call, status, reason, false);
  } else {
    snprintf(reason, sizeof reason, "REFER refused: %d %s", status, phrase ? phrase : "");
    transfer_event(call, status, reason, true);
  }
}

/* "SIP/2.0 180 Ringing" (the sipfrag's first line) -> 180, "180 Ringing"; 0 if unreadable. */
static int sipfrag_status(const sip_t *sip, char *reason, size_t reason_len) {
  snprintf(reason, reason_len, "unreadable transfer report");
  if (!sip || !sip->sip_payload || !sip->sip_payload->pl_data) return 0;
  char *text = g_strndup(sip->sip_payload->pl_data, sip->sip_payload->pl_len);
  int code = 0, end = 0;
  if (sscanf(text, "SIP/2.0 %3d %n", &code, &end) >= 1 && code >= 100 && code <= 699) {
    size_t phrase_len = strcspn(text + end, "\r\n");
    snprintf(reason, reason_len, "%d %.*s", code, (int)MIN(phrase_len, 100), text + end);
  } else {
    code = 0;
  }
  g_free(text);
  return code;
}

static void on_notify(sip_call *call, const sip_t *sip, const tagi_t *tags) {
  if (!call->refer_running) return;
  char reason[160];
  int code = sipfrag_status(sip, reason, sizeof reason);
  int substate = -1;
  tl_gets(tags, NUTAG_SUBSTATE_REF(substate), TAG_END());
  bool terminated = substate == nua_substate_terminated;
  if (code >= 200) {
    transfer_event(call, code, reason, true);
  } else if (terminated) {
    transfer_event(call, 0, "the far end stopped reporting before the transfer had a result",
                   true);
  } else if (code > 0) {
    transfer_event(call, code, reason, false);
  }
}

/* ---- in-dialog requests from the far end ---- */

/* re-INVITE / UPDATE: answer with our current SDP (or the answerer's); report theirs. */
static void on_offer(sip_call *call, const sip_t *sip) {
  nua_t *nua = sip_agent_nua(call->agent);
  session_refreshed(call, sip, false);
  char *sdp = sdp_of(sip);
  char *answer = sdp && call->answerer ? call->answerer(call->user_data, sdp, call->local_sdp)
                                       : NULL;
  if (answer) {
    g_free(call->local_sdp);
    call->local_sdp = sdp_for_peer(call, answer);
    free(answer);
  }
  bool with_sdp = sdp || !!call->local_sdp;
  nua_respond(call->nh, SIP_200_OK, NUTAG_WITH_THIS(nua),
              TAG_IF(with_sdp && call->local_sdp, SIPTAG_CONTENT_TYPE_STR("application/sdp")),
              TAG_IF(with_sdp && call->local_sdp, SIPTAG_PAYLOAD_STR(call->local_sdp)),
              TAG_END());
  if (sdp)
    emit_event(call, &(sip_call_event){SIP_CALL_REMOTE_SDP, 200, "new SDP from far end", sdp,
                                       true, false});
  g_free(sdp);
}

static void on_ack(sip_call *call, const sip_t *sip) {
  char *sdp = sdp_of(sip);
  if (call->phase == PHASE_ANSWERING) {
    call->phase = PHASE_UP;
    remember_dialog(call, sip, false);
    session_timer_restart(call);
    emit(call, SIP_CALL_CONFIRMED, 200, "ACK", sdp);
  } else if (sdp) {
    emit(call, SIP_CALL_REMOTE_SDP, 200, "new SDP from far end", sdp);
  }
  g_free(sdp);
}

/* A session refresh by re-INVITE with our current SDP unchanged (RFC 4028 7.4: same o= version),
 * for a far end that takes no UPDATE. Its answer comes as nua_r_invite in PHASE_UP: a 2xx
 * restarts the timer (session_refreshed), no REMOTE_SDP is reported (no re-INVITE of ours is
 * pending). False when one of ours is running already. */
static bool refresh_by_reinvite(sip_call *call) {
  if (call->pending_sdp || !call->local_sdp || !call->nh) return false;
  char *contact = call->outbound ? g_strdup(call->route->contact) : call_contact(call);
  log_info("sip", call->subject, NULL, "session refresh by re-INVITE (the far end refused UPDATE)");
  nua_invite(call->nh, TAG_IF(contact, SIPTAG_CONTACT_STR(contact)),
             SIPTAG_CONTENT_TYPE_STR("application/sdp"), SIPTAG_PAYLOAD_STR(call->local_sdp),
             TAG_END());
  g_free(contact);
  return true;
}

/* Answers to UPDATEs, which only sofia sends (session refreshes when we are the refresher). A
 * far end that is gone (408) or has lost the dialog (481) ends the call. */
static void on_update_answer(sip_call *call, int status, const sip_t *sip) {
  if (call->phase != PHASE_UP || status < 200) return;
  if (status < 300) {
    session_refreshed(call, sip, true);
    return;
  }
  if (status == 408 || status == 481) {
    char why[64];
    snprintf(why, sizeof why, "our refresh got %d", status);
    end_by_session_timer(call, why, true);
    return;
  }
  if ((status == 405 || status == 501) && refresh_by_reinvite(call)) return;
  log_info("sip", call->subject, NULL, "session refresh refused (%d): the call goes on", status);
}

static void on_state(sip_call *call, int status, const char *phrase, const tagi_t *tags) {
  int state = -1;
  tl_gets(tags, NUTAG_CALLSTATE_REF(state), TAG_END());
  if (state != nua_callstate_terminated) return;
  call->handle_terminated = true;
  /* Ends that no other event explained (no ACK to our 200, session timer expiry...). */
  if (call->phase == PHASE_UP || call->phase == PHASE_ANSWERING) {
    char reason[128];
    snprintf(reason, sizeof reason, "call ended (%d %s)", status, phrase ? phrase : "");
    emit(call, SIP_CALL_ENDED, status >= 300 ? status : 0, reason, NULL);
  }
}

static void on_handle_event(sip_handle_owner *owner, nua_event_t event, int status,
                            const char *phrase, const sip_t *sip, bool remote,
                            const tagi_t *tags) {
  sip_call *call = (sip_call *)owner;
  switch (event) {
  case nua_r_invite:
    if (call->phase == PHASE_UP && status >= 200 && status < 300)
      session_refreshed(call, sip, true); /* ours, or sofia's refresh re-INVITE */
    if (call->phase == PHASE_UP) on_reinvite_answer(call, status, phrase, sip);
    else if (call->outbound) on_invite_answer(call, status, phrase, sip, remote);
    break;
  case nua_r_refer:
    on_refer_answer(call, status, phrase);
    break;
  case nua_i_notify:
    on_notify(call, sip, tags);
    break;
  case nua_i_refer:
    log_info("sip", call->subject, NULL, "REFER from the far end: 603 (transfers are ours to make)");
    nua_respond(call->nh, SIP_603_DECLINE, NUTAG_WITH_THIS(sip_agent_nua(call->agent)), TAG_END());
    break;
  case nua_i_invite:
  case nua_i_update:
    if (call->phase == PHASE_UP || call->phase == PHASE_ANSWERING) on_offer(call, sip);
    else nua_respond(call->nh, SIP_491_REQUEST_PENDING,
                     NUTAG_WITH_THIS(sip_agent_nua(call->agent)), TAG_END());
    break;
  case nua_i_ack:
    on_ack(call, sip);
    break;
  case nua_i_cancel:
    emit(call, SIP_CALL_ENDED, 487, "cancelled by caller", NULL);
    break;
  case nua_i_bye:
    emit(call, SIP_CALL_ENDED, 200, "BYE from far end", NULL);
    break;
  case nua_i_state:
    on_state(call, status, phrase, tags);
    break;
  case nua_r_update:
    on_update_answer(call, status, sip);
    break;
  case nua_r_bye:
    /* We never see the answers to our own BYEs (the handle leaves the call first): this BYE is
     * sofia's, and with soa off the session timer is what makes sofia send one. */
    if (call->phase == PHASE_UP && call->session_expires > 0 && !call->pending_sdp) {
      end_by_session_timer(call, "sofia-sip sent BYE", false);
      break;
    }
    if (status == 401 || status == 407)
      log_info("sip", call->subject, NULL, "%d to our BYE: not answered (credentials stay home)",
               status);
    break;
  default:
    break;
  }
}

/* ---- inbound ---- */

static bool host_is_ours(const config *cfg, const char *host) {
  const char *listen = cfg->sip_listen.host;
  if (!host) return false;
  if (!strcmp(listen, "0.0.0.0") || !strcmp(listen, "::")) return true;
  if (!strcmp(host, listen)) return true;
  if (cfg->public_ip && !strcmp(host, cfg->public_ip)) return true;
  size_t n = strlen(host);
  return host[0] == '[' && n == strlen(listen) + 2 && !strncmp(host + 1, listen, n - 2);
}

/* The account an INVITE is for: the one whose AOR user is the request URI's user, else the
 * direct account when the request URI is its own address at our host: no user, or the user
 * "tabphone" that its outbound calls put in From (call_route.c), so a far end can call back.
 * Any other user is unknown: 404, whether direct_account is on or off (a scanner probing
 * sip:100@, sip:admin@, ... learns nothing, and no call or SDP work is done for it). */
static const config_account *match_account(const config *cfg, const url_t *ruri) {
  const config_account *direct = NULL;
  for (size_t i = 0; i < cfg->account_count; i++) {
    const config_account *account = &cfg->accounts[i];
    if (account->direct) {
      direct = account;
      continue;
    }
    char host[256], port[16], user[128];
    if (ruri->url_user && account->uri &&
        sip_uri_parse(account->uri, false, host, sizeof host, port, sizeof port, user,
                             sizeof user) &&
        !strcmp(user, ruri->url_user))
      return account;
  }
  if (!direct || !host_is_ours(cfg, ruri->url_host)) return NULL;
  return !ruri->url_user || !ruri->url_user[0] || !strcmp(ruri->url_user, "tabphone") ? direct
                                                                                      : NULL;
}

static char *unquote_display(const char *display) {
  if (!display) return NULL;
  size_t n = strlen(display);
  if (n >= 2 && display[0] == '"' && display[n - 1] == '"') return g_strndup(display + 1, n - 2);
  return g_strdup(display);
}

static void refuse(nua_handle_t *nh, int status, const char *phrase) {
  nua_respond(nh, status, phrase, TAG_END());
  nua_handle_destroy(nh);
}

/* [account] trusted_sources: a trunk authenticated by address takes INVITEs (and OPTIONS) only
 * from its provider's networks; anyone else could otherwise call out through it (toll fraud). */
static bool from_trusted_source(sip_agent *agent, const config_account *account,
                                const char *method) {
  if (!account->trusted_sources || !account->trusted_sources[0]) return true;
  struct sockaddr_storage source;
  char peer[80], ip[INET6_ADDRSTRLEN] = "";
  if (!sip_agent_message_source(agent, &source, peer, sizeof peer)) return false;
  if (source.ss_family == AF_INET)
    inet_ntop(AF_INET, &((struct sockaddr_in *)&source)->sin_addr, ip, sizeof ip);
  else
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&source)->sin6_addr, ip, sizeof ip);
  if (sip_screen_source_allowed(account->trusted_sources, ip)) return true;
  log_warn("sip", account->name, peer, "%s refused (403): source not in trusted_sources", method);
  metrics_inc(METRIC_SIP_UNTRUSTED_SOURCE);
  return false;
}

bool sip_call_options_trusted(sip_agent *agent, const sip_t *sip) {
  const config_account *account =
      sip->sip_request ? match_account(sip_agent_config(agent), sip->sip_request->rq_url) : NULL;
  return !account || from_trusted_source(agent, account, "OPTIONS");
}

void sip_call_incoming(sip_agent *agent, nua_handle_t *nh, const sip_t *sip) {
  const config *cfg = sip_agent_config(agent);
  if (sip_agent_shutting_down(agent) || !sip->sip_request) {
    refuse(nh, SIP_480_TEMPORARILY_UNAVAILABLE);
    return;
  }
  const config_account *account = match_account(cfg, sip->sip_request->rq_url);
  if (!account) {
    metrics_inc(METRIC_SIP_SCANNER_REFUSED); /* an unknown user: what scanners probe for */
    refuse(nh, SIP_404_NOT_FOUND);
    return;
  }
  if (!from_trusted_source(agent, account, "INVITE")) {
    refuse(nh, SIP_403_FORBIDDEN);
    return;
  }
  if (body_is_foreign(sip)) {
    /* RFC 3261 21.4.13: say what we take. (Without this the body was handed on as an SDP.) */
    nua_respond(nh, SIP_415_UNSUPPORTED_MEDIA, SIPTAG_ACCEPT_STR("application/sdp"), TAG_END());
    nua_handle_destroy(nh);
    return;
  }
  su_home_t home[1] = {SU_HOME_INIT(home)};
  sip_call *call = call_alloc(agent, account, false);
  call->nh = nh;
  call->phase = PHASE_OFFERED;
  nua_handle_bind(nh, &call->owner);
  call->remote_uri = g_strdup(sip->sip_from ? url_as_string(home, sip->sip_from->a_url) : "");
  char *to = g_strdup(sip->sip_to ? url_as_string(home, sip->sip_to->a_url) : "");
  char *display = unquote_display(sip->sip_from ? sip->sip_from->a_display : NULL);
  char *sdp = sdp_of(sip);
  su_home_deinit(home);
  call->subject = g_strdup_printf("call %s", call->remote_uri);
  session_timer_read(call, sip, false);
  log_info("sip", call->subject, NULL, "incoming INVITE for account %s", account->name);
  /* from_trusted_source passed: with trusted_sources set, the provider itself sent it. */
  sip_caller_id_read(sip, account->trusted_sources && account->trusted_sources[0],
                     &call->caller_id);

  void *data = NULL;
  sip_incoming_handler handler = sip_agent_incoming_handler(agent, &data);
  bool taken = handler && handler(data, call, account, call->remote_uri, display, to, sdp);
  g_free(to), g_free(display), g_free(sdp);
  if (!taken) {
    call->listener = NULL;
    sip_call_free(call); /* sends 480 unless the handler rejected */
    return;
  }
  metrics_inc(METRIC_CALLS_INBOUND);
  if (call->phase == PHASE_OFFERED) sip_call_ringing(call);
}

/* ---- API ---- */

void sip_call_set_listener(sip_call *call, sip_call_listener listener, void *user_data) {
  call->listener = listener;
  call->user_data = user_data;
}

void sip_call_set_answerer(sip_call *call, sip_call_answerer answerer) {
  call->answerer = answerer;
}

void sip_call_ringing(sip_call *call) {
  if (call->outbound || call->phase != PHASE_OFFERED || !call->nh) return;
  /* The far end sends early-dialog requests (PRACK, UPDATE) to this Contact: behind a NAT it
   * must name the public address, as our 200 does. */
  char *contact = call_contact(call);
  nua_respond(call->nh, SIP_180_RINGING, TAG_IF(contact, SIPTAG_CONTACT_STR(contact)), TAG_END());
  g_free(contact);
}

void sip_call_answer(sip_call *call, const char *sdp_answer) {
  if (call->outbound || call->phase != PHASE_OFFERED || !call->nh || !sdp_answer) return;
  char *contact = call_contact(call);
  g_free(call->local_sdp);
  call->local_sdp = sdp_for_peer(call, sdp_answer);
  call->phase = PHASE_ANSWERING;
  nua_respond(call->nh, SIP_200_OK, TAG_IF(contact, SIPTAG_CONTACT_STR(contact)),
              SIPTAG_CONTENT_TYPE_STR("application/sdp"), SIPTAG_PAYLOAD_STR(call->local_sdp),
              TAG_END());
  g_free(contact);
}

void sip_call_reject(sip_call *call, int code, const char *phrase) {
  if (call->outbound || call->phase != PHASE_OFFERED || !call->nh) return;
  if (code < 300 || code > 699) code = 486;
  const char *text = phrase ? phrase : sip_status_phrase(code);
  /* Our 503s mean "busy for now" (call limits, no media ports, SIGTERM drain): Retry-After tells
   * a provider to try again later, and RFC 3261 21.5.4 forbids failing over on it to us. */
  nua_respond(call->nh, code, text ? text : "Rejected",
              TAG_IF(code == 503, SIPTAG_RETRY_AFTER_STR(SIP_BUSY_RETRY_AFTER)), TAG_END());
  char reason[128];
  snprintf(reason, sizeof reason, "rejected (%d %s)", code, text ? text : "");
  end_later(call, code, reason);
}

/* Sends what ends the SIP side in the current phase. */
static void send_end(sip_call *call) {
  if (!call->nh) return;
  switch (call->phase) {
  case PHASE_CALLING: nua_cancel(call->nh, TAG_END()); break;
  case PHASE_OFFERED: nua_respond(call->nh, SIP_480_TEMPORARILY_UNAVAILABLE, TAG_END()); break;
  case PHASE_ANSWERING:
  case PHASE_UP: nua_bye(call->nh, TAG_END()); break;
  case PHASE_ENDED: break;
  }
}

void sip_call_hangup(sip_call *call) {
  if (call->phase == PHASE_ENDED) return;
  bool answered = call->phase == PHASE_UP || call->phase == PHASE_ANSWERING;
  send_end(call);
  end_later(call, 0, answered ? "hung up" : "cancelled");
}

void sip_call_free(sip_call *call) {
  if (!call) return;
  call->listener = NULL;
  if (call->phase != PHASE_ENDED) {
    send_end(call);
    call->phase = PHASE_ENDED;
  }
  release_handle(call);
  sip_timer_cancel(&call->pending_end);
  call_route_free(call->route);
  g_free(call->to), g_free(call->remote_uri), g_free(call->local_sdp), g_free(call->subject);
  sip_caller_id_clear(&call->caller_id);
  if (call->auth_header) explicit_bzero(call->auth_header, strlen(call->auth_header));
  g_free(call->auth_header), g_free(call->retry_from), g_free(call->retry_call_id);
  g_free(call->end_reason);
  g_free(call->pending_sdp), g_free(call->call_id), g_free(call->local_tag);
  g_free(call->remote_tag);
  g_free(call);
}

const char *sip_call_remote_uri(const sip_call *call) { return call->remote_uri; }
const sip_caller_id *sip_call_caller_id(const sip_call *call) { return &call->caller_id; }
const char *sip_call_local_sdp(const sip_call *call) { return call->local_sdp; }

/* ---- in-dialog requests of our own ---- */

bool sip_call_update_sdp(sip_call *call, const char *sdp) {
  if (call->phase != PHASE_UP || !call->nh || call->pending_sdp || !sdp || !*sdp) return false;
  call->pending_sdp = sdp_for_peer(call, sdp);
  char *contact = call->outbound ? g_strdup(call->route->contact) : call_contact(call);
  log_info("sip", call->subject, NULL, "re-INVITE (new local SDP)");
  nua_invite(call->nh, TAG_IF(contact, SIPTAG_CONTACT_STR(contact)),
             SIPTAG_CONTENT_TYPE_STR("application/sdp"), SIPTAG_PAYLOAD_STR(call->pending_sdp),
             TAG_END());
  g_free(contact);
  return true;
}

bool sip_call_refer(sip_call *call, const char *refer_to) {
  if (call->phase != PHASE_UP || !call->nh || call->refer_running || !refer_to || !*refer_to)
    return false;
  char *target = refer_to[0] == '<' ? g_strdup(refer_to) : g_strdup_printf("<%s>", refer_to);
  call->refer_running = true;
  log_info("sip", call->subject, NULL, "REFER to %s", target);
  nua_refer(call->nh, SIPTAG_REFER_TO_STR(target), TAG_END());
  g_free(target);
  return true;
}

/* RFC 3261 hvalue: unreserved and hnv-unreserved characters stay, the rest is %XX. */
static void append_escaped(GString *out, const char *text) {
  static const char keep[] = "-_.!~*'()[]/?:+$";
  for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
    if (g_ascii_isalnum(*c) || strchr(keep, *c)) g_string_append_c(out, (char)*c);
    else g_string_append_printf(out, "%%%02X", *c);
  }
}

bool sip_call_replaces(const sip_call *call, char *out, size_t out_len) {
  if (out_len) out[0] = '\0';
  if (call->phase != PHASE_UP || !call->call_id) return false;
  /* RFC 3891 3: the receiver compares to-tag with its local tag, from-tag with its remote one;
   * the receiver is this call's far end, so to-tag is its tag and from-tag ours. */
  char *value = g_strdup_printf("%s;to-tag=%s;from-tag=%s", call->call_id, call->remote_tag,
                                call->local_tag);
  GString *escaped = g_string_new(NULL);
  append_escaped(escaped, value);
  bool fits = escaped->len < out_len;
  if (fits) memcpy(out, escaped->str, escaped->len + 1);
  g_free(value);
  g_string_free(escaped, TRUE);
  return fits;
}
