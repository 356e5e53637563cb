/* hub: see hub.h. */
#include "signal/hub.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "signal/call.h"
#include "signal/guard.h"
#include "signal/protocol.h"
#include "signal/session.h"

typedef struct server_account {
  hub *hub;
  const config_account *account; /* borrowed from cfg */
  registration *reg;             /* owned; NULL for register = no */
} server_account;

struct hub {
  const config *cfg;
  sip_agent *agent;
  media_engine *media;
  GPtrArray *calls;           /* call*, owned: live calls */
  GPtrArray *dying;           /* call*, owned: ended, freed by free_dying_calls */
  guint free_source;          /* idle source that frees dying calls, 0 if none */
  guint trim_source;          /* release_memory RELEASE_AFTER_MS after the last call, or 0 */
  GPtrArray *sessions;        /* session*, borrowed: a session removes itself when it ends */
  GPtrArray *detached;        /* session*, borrowed: tabs whose link dropped, awaiting resume */
  bool stopping;              /* shutdown began: sessions end instead of detaching */
  bool draining;              /* SIGTERM drain: no new calls or logins */
  void (*drained)(void *);    /* called once no call is left while draining */
  void *drained_data;
  guint drained_source;
  server_account *accounts;   /* one per cfg->accounts entry */
  size_t account_count;
  guard *guard;               /* owned */
};

/* ---- server account registrations -------------------------------------------------------- */

static json_t *registration_message(const char *field, const registration_event *event) {
  json_t *msg = json_pack("{s:s, s:s, s:s, s:i, s:s, s:i}", "type", "registration", field,
                          event->key, "state", registration_state_name(event->state), "code",
                          event->code, "reason", event->reason ? event->reason : "",
                          "expires", event->expires);
  if (event->retry_in > 0) json_object_set_new(msg, "retry_in", json_integer(event->retry_in));
  return msg;
}

static void on_server_account_event(void *user_data, const registration_event *event) {
  server_account *sa = user_data;
  hub *h = sa->hub;
  for (guint i = 0; i < h->sessions->len; i++) {
    session *s = g_ptr_array_index(h->sessions, i);
    if (session_may_use_account(s, sa->account->name))
      session_send(s, registration_message("account", event));
  }
}

static void create_account_registration(hub *h, server_account *sa) {
  const config_account *acc = sa->account;
  if (!acc->do_register || acc->direct) return;
  registration_params params = {
      .key = acc->name, .uri = acc->uri, .username = acc->username, .password = acc->password,
      .display_name = acc->display_name, .registrar = acc->registrar, .proxy = acc->proxy,
      .transport = acc->transport, .expires = acc->expires};
  char err[256];
  sa->reg = registration_new(h->agent, &params, on_server_account_event, sa, err, sizeof err);
  if (!sa->reg) log_error("sip", acc->name, NULL, "account cannot register: %s", err);
}

/* Inbound INVITEs pass here first: the server-wide call limit covers both directions. */
static bool hub_incoming_call(void *hub_ptr, sip_call *sip, const config_account *account,
                              const char *from_uri, const char *from_display, const char *to_uri,
                              const char *sdp_offer) {
  hub *h = hub_ptr;
  if (h->draining) {
    log_info("call", NULL, NULL, "INVITE from %s for account %s refused: server shutting down",
             from_uri, account->name);
    sip_call_reject(sip, 503, "Service Unavailable");
    return false;
  }
  if (!guard_admit_inbound(h->guard, account, from_uri, h->calls->len)) { /* limits */
    sip_call_reject(sip, 503, "Service Unavailable");
    return false;
  }
  return call_incoming(hub_ptr, sip, account, from_uri, from_display, to_uri, sdp_offer);
}

hub *hub_new(const config *cfg, sip_agent *agent, media_engine *media) {
  hub *h = g_new0(hub, 1);
  h->cfg = cfg;
  h->agent = agent;
  h->media = media;
  h->calls = g_ptr_array_new();
  h->dying = g_ptr_array_new();
  h->guard = guard_new(cfg);
  sip_agent_set_incoming_handler(agent, hub_incoming_call, h);
  h->sessions = g_ptr_array_new();
  h->detached = g_ptr_array_new();
  h->account_count = cfg->account_count;
  h->accounts = g_new0(server_account, cfg->account_count ? cfg->account_count : 1);
  for (size_t i = 0; i < cfg->account_count; i++) {
    h->accounts[i].hub = h;
    h->accounts[i].account = &cfg->accounts[i];
    create_account_registration(h, &h->accounts[i]);
  }
  return h;
}

void hub_start(hub *h) {
  for (size_t i = 0; i < h->account_count; i++) {
    if (h->accounts[i].reg) registration_start(h->accounts[i].reg);
  }
}

void hub_free(hub *h) {
  if (!h) return;
  while (h->calls->len > 0) call_end(g_ptr_array_index(h->calls, 0), 503, "server shutting down");
  for (guint i = 0; i < h->dying->len; i++) call_free(g_ptr_array_index(h->dying, i));
  g_ptr_array_free(h->dying, TRUE);
  g_ptr_array_free(h->calls, TRUE);
  if (h->free_source) g_source_remove(h->free_source);
  if (h->trim_source) g_source_remove(h->trim_source);
  if (h->drained_source) g_source_remove(h->drained_source);
  sip_agent_set_incoming_handler(h->agent, NULL, NULL);
  for (size_t i = 0; i < h->account_count; i++) registration_free(h->accounts[i].reg);
  g_free(h->accounts);
  g_ptr_array_free(h->sessions, TRUE);
  g_ptr_array_free(h->detached, TRUE);
  guard_free(h->guard);
  g_free(h);
}

const config *hub_config(const hub *h) { return h->cfg; }
sip_agent *hub_sip_agent(const hub *h) { return h->agent; }
void hub_add_session(hub *h, session *s) { g_ptr_array_add(h->sessions, s); }
void hub_remove_session(hub *h, session *s) { g_ptr_array_remove_fast(h->sessions, s); }

registration *hub_account_registration(const hub *h, const char *account_name) {
  for (size_t i = 0; i < h->account_count; i++) {
    if (strcmp(h->accounts[i].account->name, account_name) == 0) return h->accounts[i].reg;
  }
  return NULL;
}

json_t *hub_account_status(const hub *h, const char *account_name) {
  registration *reg = hub_account_registration(h, account_name);
  if (!reg) return json_pack("{s:s}", "state", "not_registering");
  const char *reason = registration_last_reason(reg);
  return json_pack("{s:s, s:i, s:s, s:i}", "state",
                   registration_state_name(registration_get_state(reg)), "code",
                   registration_last_code(reg), "reason", reason ? reason : "", "expires",
                   registration_expires(reg));
}

/* ---- calls -------------------------------------------------------------------------------- */

media_engine *hub_media_engine(const hub *h) { return h->media; }

/* glibc keeps the pages of freed memory in its arenas (the media workers have their own), so
 * after a burst of calls RSS would stay at its peak for good (H8's soak). A moment after the last
 * call ended, with its media freed by then, the media engine hands them back
 * (media_engine_release_memory: fresh worker threads, then malloc_trim), and RSS returns to
 * within 10 % of where it was before the burst. A call starting meanwhile cancels it: doing it
 * under load only costs time. */
enum { RELEASE_AFTER_MS = 2000 };

static gboolean release_memory(gpointer data) {
  hub *h = data;
  h->trim_source = 0;
  log_debug("call", NULL, NULL, "no call for %d s: returning free memory to the system",
            RELEASE_AFTER_MS / 1000);
  media_engine_release_memory(h->media);
  return G_SOURCE_REMOVE;
}

static void schedule_trim(hub *h) {
  if (h->trim_source) g_source_remove(h->trim_source);
  h->trim_source = 0;
  if (h->calls->len == 0) h->trim_source = g_timeout_add(RELEASE_AFTER_MS, release_memory, h);
}

void hub_add_call(hub *h, call *c) {
  g_ptr_array_add(h->calls, c);
  schedule_trim(h); /* cancels a pending trim */
}

static gboolean free_dying_calls(gpointer data) {
  hub *h = data;
  h->free_source = 0;
  GPtrArray *dying = h->dying;
  h->dying = g_ptr_array_new();
  for (guint i = 0; i < dying->len; i++) call_free(g_ptr_array_index(dying, i));
  g_ptr_array_free(dying, TRUE);
  return G_SOURCE_REMOVE;
}

static gboolean notify_drained(gpointer data) {
  hub *h = data;
  h->drained_source = 0;
  void (*done)(void *) = h->drained;
  h->drained = NULL;
  if (done) done(h->drained_data); /* may free the hub: nothing after this */
  return G_SOURCE_REMOVE;
}

static void check_drained(hub *h) {
  if (h->draining && h->drained && h->calls->len == 0 && !h->drained_source)
    h->drained_source = g_idle_add(notify_drained, h);
}

void hub_remove_call(hub *h, call *c) {
  if (!g_ptr_array_remove(h->calls, c)) return;
  g_ptr_array_add(h->dying, c);
  /* High priority: the call (and the media slot it counts against [media] max_calls) is gone
   * before the loop reads the next message; a default idle waits behind busy sockets, and a
   * tab that calls again right after its hangup was refused as overloaded. */
  if (!h->free_source) h->free_source = g_idle_add_full(G_PRIORITY_HIGH, free_dying_calls, h, NULL);
  schedule_trim(h);
  check_drained(h);
}

call *hub_find_call(const hub *h, const session *s, const char *call_id) {
  for (guint i = 0; i < h->calls->len; i++) {
    call *c = g_ptr_array_index(h->calls, i);
    if (call_matches(c, s, call_id)) return c;
  }
  return NULL;
}

GPtrArray *hub_sessions_for_account(const hub *h, const char *account_name) {
  GPtrArray *out = g_ptr_array_new();
  for (guint i = 0; i < h->sessions->len; i++) {
    session *s = g_ptr_array_index(h->sessions, i);
    if (session_may_use_account(s, account_name)) g_ptr_array_add(out, s);
  }
  return out;
}

void hub_session_closed(hub *h, session *s) {
  /* call_session_closed may end a call, which removes it from h->calls: walk a copy. */
  GPtrArray *calls = g_ptr_array_copy(h->calls, NULL, NULL);
  for (guint i = 0; i < calls->len; i++) call_session_closed(g_ptr_array_index(calls, i), s);
  g_ptr_array_free(calls, TRUE);
}

/* ---- resume ------------------------------------------------------------------------------ */

void hub_add_detached(hub *h, session *s) { g_ptr_array_add(h->detached, s); }
void hub_remove_detached(hub *h, session *s) { g_ptr_array_remove_fast(h->detached, s); }

void hub_session_detached(hub *h, session *s) {
  GPtrArray *calls = g_ptr_array_copy(h->calls, NULL, NULL);
  for (guint i = 0; i < calls->len; i++) call_session_detached(g_ptr_array_index(calls, i), s);
  g_ptr_array_free(calls, TRUE);
}

session *hub_find_resumable(const hub *h, const char *token, const session *except) {
  /* Every session is compared (no early exit), so timing says nothing about which matched. */
  session *found = NULL;
  GPtrArray *lists[] = {h->sessions, h->detached};
  for (size_t l = 0; l < G_N_ELEMENTS(lists); l++) {
    for (guint i = 0; i < lists[l]->len; i++) {
      session *s = g_ptr_array_index(lists[l], i);
      if (s != except && session_resume_token_is(s, token)) found = s;
    }
  }
  return found;
}

void hub_move_calls(hub *h, session *from, session *to) {
  for (guint i = 0; i < h->calls->len; i++)
    call_session_moved(g_ptr_array_index(h->calls, i), from, to);
}

json_t *hub_call_ids(const hub *h, const session *s) {
  json_t *ids = json_array();
  for (guint i = 0; i < h->calls->len; i++) {
    call *c = g_ptr_array_index(h->calls, i);
    if (call_owner(c) == s) json_array_append_new(ids, json_string(call_id(c)));
  }
  return ids;
}

void hub_send_resumed_calls(hub *h, session *s) {
  for (guint i = 0; i < h->calls->len; i++) {
    call *c = g_ptr_array_index(h->calls, i);
    if (call_owner(c) == s) call_send_resumed(c);
  }
}

bool hub_accepts_detach(const hub *h) { return !h->stopping; }

/* ---- drain and stop ----------------------------------------------------------------------- */

void hub_start_drain(hub *h, void (*done)(void *user_data), void *user_data) {
  h->draining = true;
  h->drained = done;
  h->drained_data = user_data;
  check_drained(h);
}

bool hub_draining(const hub *h) { return h->draining; }

void hub_stop_sessions(hub *h) {
  h->stopping = true;
  h->drained = NULL; /* the stop is under way: nobody waits for the drain any more */
  while (h->detached->len > 0) session_end_detached(g_ptr_array_index(h->detached, 0));
  /* While the tabs are still connected, so they hear why (their sockets close next). */
  while (h->calls->len > 0) call_end(g_ptr_array_index(h->calls, 0), 503, "server shutting down");
}

/* ---- limits ------------------------------------------------------------------------------ */

guard *hub_guard(const hub *h) { return h->guard; }

unsigned hub_count_calls(const hub *h, const session *s, const config_user *user) {
  if (!s && !user) return h->calls->len;
  unsigned n = 0;
  for (guint i = 0; i < h->calls->len; i++) {
    session *owner = call_owner(g_ptr_array_index(h->calls, i));
    if (!owner || (s && owner != s)) continue;
    if (user && session_user(owner) != user) continue;
    n++;
  }
  return n;
}

unsigned hub_count_sessions_from(const hub *h, const char *ip) {
  unsigned n = 0;
  char other[64];
  for (guint i = 0; i < h->sessions->len; i++) {
    guard_peer_ip(session_peer(g_ptr_array_index(h->sessions, i)), other, sizeof other);
    if (strcmp(other, ip) == 0) n++;
  }
  return n;
}

/* ---- http glue --------------------------------------------------------------------------- */

static void *on_open(void *app, ws_conn *conn, const char *peer) {
  return session_new(app, conn, peer);
}
static void on_text(void *conn_data, const char *text, size_t len) {
  session_on_text(conn_data, text, len);
}
static void on_bad_frame(void *conn_data, ws_frame_problem problem) {
  session_on_bad_frame(conn_data, problem);
}
static void on_close(void *conn_data) { session_on_close(conn_data); }

static char *health_json(void *app) {
  hub *h = app;
  json_t *registrations = json_object();
  for (size_t i = 0; i < h->account_count; i++) {
    registration *reg = h->accounts[i].reg;
    if (reg)
      json_object_set_new(registrations, h->accounts[i].account->name,
                          json_string(registration_state_name(registration_get_state(reg))));
  }
  json_t *body = json_pack("{s:s, s:s, s:I, s:I, s:o}", "status", "ok", "version",
                           TABPHONE_VERSION, "sessions", (json_int_t)h->sessions->len, "calls", (json_int_t)h->calls->len,
                           "registrations", registrations);
  /* Tabs whose link dropped and whose calls wait for a resume (not counted in "sessions"). */
  json_object_set_new(body, "detached_sessions", json_integer((json_int_t)h->detached->len));
  if (h->draining) json_object_set_new(body, "draining", json_true());
  char *text = protocol_dump(body);
  json_decref(body);
  return text;
}

/* GET /metrics: the gauges (what is open right now); http appends the counters. */
static void metrics_text(void *app, GString *out) {
  hub *h = app;
  guint by_state[REGISTRATION_FAILED + 1] = {0};
  for (size_t i = 0; i < h->account_count; i++) {
    registration *reg = h->accounts[i].reg;
    if (reg) by_state[registration_get_state(reg)]++;
  }
  g_string_append_printf(out,
      "# HELP tabphone_sessions Open WebSocket sessions (tabs).\n# TYPE tabphone_sessions gauge\n"
      "tabphone_sessions %u\n"
      "# HELP tabphone_calls Live calls (ringing, connecting or answered).\n"
      "# TYPE tabphone_calls gauge\ntabphone_calls %u\n"
      "# HELP tabphone_media_calls Calls holding media on the workers.\n"
      "# TYPE tabphone_media_calls gauge\ntabphone_media_calls %zu\n"
      "# HELP tabphone_media_workers Media worker threads.\n"
      "# TYPE tabphone_media_workers gauge\ntabphone_media_workers %zu\n"
      "# HELP tabphone_media_worker_lag_ms Largest smoothed media worker loop lag.\n"
      "# TYPE tabphone_media_worker_lag_ms gauge\ntabphone_media_worker_lag_ms %d\n"
      "# HELP tabphone_rtp_port_pairs_in_use SIP-side RTP/RTCP port pairs bound by calls.\n"
      "# TYPE tabphone_rtp_port_pairs_in_use gauge\ntabphone_rtp_port_pairs_in_use %u\n"
      "# HELP tabphone_rtp_port_pairs RTP/RTCP port pairs in [media] port_min..port_max.\n"
      "# TYPE tabphone_rtp_port_pairs gauge\ntabphone_rtp_port_pairs %u\n"
      "# HELP tabphone_registrations Server account registrations by state.\n"
      "# TYPE tabphone_registrations gauge\n",
      h->sessions->len, h->calls->len, media_engine_call_count(h->media),
      media_engine_worker_count(h->media), media_engine_worker_lag_ms(h->media),
      media_engine_port_pairs_in_use(h->media), media_engine_port_pairs(h->media));
  for (int st = 0; st <= REGISTRATION_FAILED; st++)
    g_string_append_printf(out, "tabphone_registrations{state=\"%s\"} %u\n",
                           registration_state_name((registration_state)st), by_state[st]);
}

ws_handlers hub_ws_handlers(hub *h) {
  return (ws_handlers){.app = h, .on_open = on_open, .on_text = on_text,
                       .on_bad_frame = on_bad_frame, .on_close = on_close,
                       .health_json = health_json, .metrics_text = metrics_text};
}
