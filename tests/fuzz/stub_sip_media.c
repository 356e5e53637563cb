/* stub_sip_media: see stub_sip_media.h. */
#include "stub_sip_media.h"
#include "sip/caller_id.h"

#include <glib.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Touches every byte of a string the code under test hands us, so ASan sees a bad one. */
static size_t check_str(const char *s) { return s ? strlen(s) : 0; }

/* ---- registries (test-only global state) ------------------------------------------------- */

static GPtrArray *live_calls;   /* sip_call* */
static GPtrArray *live_media;   /* call_media* */
static GPtrArray *live_regs;    /* registration* */

static GPtrArray *registry(GPtrArray **list) {
  if (!*list) *list = g_ptr_array_new();
  return *list;
}

/* Most recent first: pick 0 is the newest object. */
static void *pick_from(GPtrArray *list, unsigned pick) {
  if (!list || list->len == 0) return NULL;
  return g_ptr_array_index(list, list->len - 1 - pick % list->len);
}

/* ---- ws_conn ----------------------------------------------------------------------------- */

struct ws_conn {
  bool closed;
  int peer_close_status;
};

void stub_ws_conn_set_peer_close(ws_conn *conn, int status) { conn->peer_close_status = status; }
int ws_conn_peer_close_status(const ws_conn *conn) { return conn->peer_close_status; }

ws_conn *stub_ws_conn_new(void) { return g_new0(ws_conn, 1); }
bool stub_ws_conn_closed(const ws_conn *conn) { return conn->closed; }
void stub_ws_conn_free(ws_conn *conn) { g_free(conn); }

/* Texts already found to be one valid JSON object. Parsing every message again (jansson
 * allocates a node per value, each costly under ASan) was a fifth of fuzz_session's time, and
 * most messages recur from input to input: ids are predictable. Only texts that parsed are
 * kept, so the memo never lets a bad one through; a reproducer runs in a fresh process anyway.
 * Bounded: emptied when full. */
enum { MAX_VALID_TEXTS = 4096 };
static GHashTable *valid_texts; /* GBytes -> itself */

/* FNV-1a, here rather than g_bytes_hash so that reading every byte is checked by ASan. */
static guint text_hash(gconstpointer key) {
  gsize len;
  const unsigned char *p = g_bytes_get_data((GBytes *)key, &len);
  guint32 h = 2166136261u;
  for (gsize i = 0; i < len; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

bool ws_conn_send_text(ws_conn *conn, const char *text, size_t len) {
  if (conn->closed) return true;
  if (!valid_texts)
    valid_texts = g_hash_table_new_full(text_hash, g_bytes_equal,
                                        (GDestroyNotify)g_bytes_unref, NULL);
  GBytes *key = g_bytes_new_static(text, len);
  bool known = g_hash_table_contains(valid_texts, key);
  g_bytes_unref(key);
  if (known) return true;
  /* Everything we send a tab must be one valid JSON object. */
  json_error_t error;
  json_t *parsed = json_loadb(text, len, 0, &error);
  if (!json_is_object(parsed)) abort();
  json_decref(parsed);
  if (g_hash_table_size(valid_texts) >= MAX_VALID_TEXTS) g_hash_table_remove_all(valid_texts);
  key = g_bytes_new(text, len);
  g_hash_table_add(valid_texts, key);
  return true;
}

void ws_conn_close(ws_conn *conn, int status, const char *reason) {
  (void)status;
  check_str(reason);
  conn->closed = true;
}

const char *ws_conn_peer(const ws_conn *conn) {
  (void)conn;
  return "127.0.0.1:40000";
}

/* ---- sip agent --------------------------------------------------------------------------- */

struct sip_agent {
  sip_incoming_handler handler;
  void *handler_data;
};

sip_agent *stub_agent_new(void) { return g_new0(sip_agent, 1); }
void stub_agent_free(sip_agent *agent) { g_free(agent); }

void sip_agent_set_incoming_handler(sip_agent *agent, sip_incoming_handler handler,
                                    void *user_data) {
  agent->handler = handler;
  agent->handler_data = user_data;
}

/* ---- sip calls --------------------------------------------------------------------------- */

struct sip_call {
  sip_call_listener listener;
  void *user_data;
  sip_call_answerer answerer;
  bool inbound;
  bool connected;
  bool ended;
  bool refer_pending;
  char *local_sdp;
  char *pending_sdp; /* our re-INVITE's offer, until answered or refused */
  char *remote_uri;
  guint pending_end;
  int end_code;
};

static sip_call *sip_call_alloc(bool inbound, const char *remote_uri, const char *local_sdp) {
  sip_call *call = g_new0(sip_call, 1);
  call->inbound = inbound;
  call->remote_uri = g_strdup(remote_uri);
  call->local_sdp = g_strdup(local_sdp);
  g_ptr_array_add(registry(&live_calls), call);
  return call;
}

static bool is_sip_uri(const char *uri) {
  return uri && (g_str_has_prefix(uri, "sip:") || g_str_has_prefix(uri, "sips:")) &&
         strchr(uri, '@') != NULL;
}

sip_call *sip_call_new_outgoing(sip_agent *agent, const sip_call_params *params,
                                sip_call_listener listener, void *user_data, char *err,
                                size_t err_len) {
  (void)agent;
  check_str(params->to);
  check_str(params->sdp_offer);
  check_str(params->account ? params->account->name : NULL);
  if (!is_sip_uri(params->to)) {
    snprintf(err, err_len, "not a SIP URI: %.64s", params->to ? params->to : "");
    return NULL;
  }
  sip_call *call = sip_call_alloc(false, params->to, params->sdp_offer);
  call->listener = listener;
  call->user_data = user_data;
  return call;
}

void sip_call_set_listener(sip_call *call, sip_call_listener listener, void *user_data) {
  call->listener = listener;
  call->user_data = user_data;
}

void sip_call_set_answerer(sip_call *call, sip_call_answerer answerer) { call->answerer = answerer; }

void sip_call_ringing(sip_call *call) { (void)call; }

void sip_call_answer(sip_call *call, const char *sdp_answer) {
  check_str(sdp_answer);
  if (!call->inbound || call->connected || call->ended) return;
  g_free(call->local_sdp);
  call->local_sdp = g_strdup(sdp_answer);
  call->connected = true;
}

static void emit(sip_call *call, const sip_call_event *event) {
  if (call->ended) return;
  if (event->type == SIP_CALL_ENDED) call->ended = true;
  if (call->listener) call->listener(call->user_data, event);
}

static gboolean on_pending_end(gpointer data) {
  sip_call *call = data;
  call->pending_end = 0;
  call->ended = false; /* emit once, now */
  sip_call_event event = {.type = SIP_CALL_ENDED, .code = call->end_code, .reason = "rejected"};
  emit(call, &event);
  return G_SOURCE_REMOVE;
}

/* Like the real one: the final answer goes out, ENDED follows from an idle source. */
static void end_later(sip_call *call, int code) {
  call->ended = true;
  call->end_code = code;
  if (!call->pending_end) call->pending_end = g_idle_add(on_pending_end, call);
}

void sip_call_reject(sip_call *call, int code, const char *phrase) {
  check_str(phrase);
  if (!call->inbound || call->connected || call->ended) return;
  end_later(call, code);
}

void sip_call_hangup(sip_call *call) {
  if (!call->ended) end_later(call, 0);
}

bool sip_call_update_sdp(sip_call *call, const char *sdp) {
  check_str(sdp);
  if (!call->connected || call->ended || call->pending_sdp) return false;
  call->pending_sdp = g_strdup(sdp);
  return true;
}

bool sip_call_refer(sip_call *call, const char *refer_to) {
  check_str(refer_to);
  if (!call->connected || call->ended || call->refer_pending) return false;
  call->refer_pending = true;
  return true;
}

bool sip_call_replaces(const sip_call *call, char *out, size_t out_len) {
  if (!call->connected || call->ended) {
    if (out_len) out[0] = '\0';
    return false;
  }
  int n = snprintf(out, out_len, "stub%p%%3Bto-tag%%3Da%%3Bfrom-tag%%3Db", (const void *)call);
  return n > 0 && (size_t)n < out_len;
}

void sip_call_free(sip_call *call) {
  if (!call) return;
  if (call->pending_end) g_source_remove(call->pending_end);
  g_ptr_array_remove(live_calls, call);
  g_free(call->local_sdp);
  g_free(call->pending_sdp);
  g_free(call->remote_uri);
  g_free(call);
}

const char *sip_call_local_sdp(const sip_call *call) { return call->local_sdp; }
const char *sip_call_remote_uri(const sip_call *call) { return call->remote_uri; }
/* No Diversion / History-Info / PAI on stub calls (sip/caller_id.h). */
const sip_caller_id *sip_call_caller_id(const sip_call *call) {
  static const sip_caller_id none = {0};
  (void)call;
  return &none;
}

/* The far end acts. The listener may free the call (through an idle source only, as the call
 * layer promises, but the stub does not rely on it: nothing is touched after the listener). */
bool stub_sip_event(unsigned pick, sip_call_event_type type, int code, const char *sdp,
                    bool offer, bool final) {
  sip_call *call = pick_from(live_calls, pick);
  if (!call || call->ended || !call->listener) return false;
  sip_call_event event = {.type = type, .code = code, .reason = "stub far end", .sdp = sdp,
                          .offer = offer, .final = final};
  char *answer = NULL;
  switch (type) {
  case SIP_CALL_ANSWERED:
    if (call->inbound || call->connected) return false;
    call->connected = true;
    break;
  case SIP_CALL_CONFIRMED:
    if (!call->inbound || !call->connected) return false;
    break;
  case SIP_CALL_REMOTE_SDP:
    if (!call->connected) return false;
    if (offer) {
      /* A re-INVITE from the far end: answered with what the answerer makes of it. */
      answer = call->answerer && sdp ? call->answerer(call->user_data, sdp, call->local_sdp)
                                     : NULL;
      if (answer) {
        g_free(call->local_sdp);
        call->local_sdp = g_strdup(answer);
        free(answer);
      }
    } else {
      if (!call->pending_sdp) return false;
      g_free(call->local_sdp);
      call->local_sdp = call->pending_sdp;
      call->pending_sdp = NULL;
    }
    break;
  case SIP_CALL_REINVITE_FAILED:
    if (!call->pending_sdp) return false;
    g_free(call->pending_sdp);
    call->pending_sdp = NULL;
    break;
  case SIP_CALL_TRANSFER:
    if (!call->refer_pending) return false;
    if (final) call->refer_pending = false;
    break;
  case SIP_CALL_PROGRESS:
    if (call->inbound || call->connected) return false;
    break;
  case SIP_CALL_ENDED:
    break;
  }
  emit(call, &event);
  return true;
}

bool stub_sip_incoming(sip_agent *agent, unsigned account_pick, const config *cfg,
                       const char *sdp_offer) {
  if (!agent->handler || cfg->account_count == 0) return false;
  const config_account *account = &cfg->accounts[account_pick % cfg->account_count];
  sip_call *call = sip_call_alloc(true, "sip:caller@192.0.2.9", NULL);
  bool taken = agent->handler(agent->handler_data, call, account, "sip:caller@192.0.2.9",
                              "Caller", "sip:callee@127.0.0.1", sdp_offer);
  /* Not taken: the SIP layer answers (480 or the code set) and frees the call itself. */
  if (!taken) sip_call_free(call);
  return true;
}

/* ---- registrations ----------------------------------------------------------------------- */

struct registration {
  registration_listener listener;
  void *user_data;
  char *key;
  registration_state state;
  int code;
  char *reason;
  int expires;
};

const char *registration_state_name(registration_state state) {
  switch (state) {
  case REGISTRATION_UNREGISTERED: return "unregistered";
  case REGISTRATION_REGISTERING: return "registering";
  case REGISTRATION_REGISTERED: return "registered";
  case REGISTRATION_FAILED: return "failed";
  }
  return "?";
}

registration *registration_new(sip_agent *agent, const registration_params *params,
                               registration_listener listener, void *user_data, char *err,
                               size_t err_len) {
  (void)agent;
  check_str(params->username);
  check_str(params->password);
  check_str(params->display_name);
  check_str(params->registrar);
  check_str(params->proxy);
  check_str(params->key);
  if (!is_sip_uri(params->uri) || params->expires < 0) {
    snprintf(err, err_len, "bad registration parameters");
    return NULL;
  }
  registration *reg = g_new0(registration, 1);
  reg->listener = listener;
  reg->user_data = user_data;
  reg->key = g_strdup(params->key);
  g_ptr_array_add(registry(&live_regs), reg);
  return reg;
}

void registration_start(registration *reg) { reg->state = REGISTRATION_REGISTERING; }

void registration_stop(registration *reg) {
  if (reg->state == REGISTRATION_REGISTERED || reg->state == REGISTRATION_REGISTERING)
    reg->state = REGISTRATION_REGISTERING; /* the un-REGISTER is in flight */
}

void registration_free(registration *reg) {
  if (!reg) return;
  g_ptr_array_remove(live_regs, reg);
  g_free(reg->key);
  g_free(reg->reason);
  g_free(reg);
}

registration_state registration_get_state(const registration *reg) { return reg->state; }
const char *registration_key(const registration *reg) { return reg->key; }
int registration_last_code(const registration *reg) { return reg->code; }
const char *registration_last_reason(const registration *reg) { return reg->reason; }
int registration_expires(const registration *reg) { return reg->expires; }

bool stub_registration_event(unsigned pick, registration_state state, int code) {
  registration *reg = pick_from(live_regs, pick);
  if (!reg) return false;
  reg->state = state;
  reg->code = code;
  g_free(reg->reason);
  reg->reason = g_strdup_printf("stub %d", code);
  reg->expires = state == REGISTRATION_REGISTERED ? 600 : 0;
  registration_event event = {.key = reg->key, .state = state, .code = code,
                              .reason = reg->reason, .expires = reg->expires,
                              .retry_in = state == REGISTRATION_FAILED ? 30 : 0};
  /* The listener may schedule the registration's removal, never free it right here. */
  if (reg->listener) reg->listener(reg->user_data, &event);
  return true;
}

/* ---- media ------------------------------------------------------------------------------- */

struct media_engine {
  int unused;
};

static const char STUB_FINGERPRINT[] =
    "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:"
    "67:89";

media_engine *stub_media_engine_new(void) { return g_new0(media_engine, 1); }
void stub_media_engine_free(media_engine *engine) { g_free(engine); }
const char *media_engine_fingerprint(const media_engine *engine) {
  (void)engine;
  return STUB_FINGERPRINT;
}
size_t media_engine_worker_count(const media_engine *engine) {
  (void)engine;
  return 1;
}
/* Overload: a few calls with media at once are enough to reach the refusal paths. */
bool media_engine_admit(media_engine *engine) {
  (void)engine;
  return !live_media || live_media->len < 4;
}
bool media_engine_overloaded(const media_engine *engine) {
  return !media_engine_admit((media_engine *)engine);
}
int media_engine_worker_lag_ms(const media_engine *engine) {
  (void)engine;
  return 0;
}
void media_engine_release_memory(media_engine *engine) { (void)engine; }
unsigned media_engine_port_pairs_in_use(const media_engine *engine) {
  (void)engine;
  return 0;
}

unsigned media_engine_port_pairs(const media_engine *engine) {
  (void)engine;
  return 10000;
}

size_t media_engine_call_count(const media_engine *engine) {
  (void)engine;
  return live_media ? live_media->len : 0;
}

struct call_media {
  media_mode mode;
  media_listener listener;
  void *user_data;
  webrtc_local local;
};

call_media *call_media_new(media_engine *engine, media_mode mode, bool ice_controlling,
                           const char *label, media_listener listener, void *user_data,
                           char *err, size_t err_len) {
  (void)engine;
  (void)ice_controlling;
  (void)err;
  (void)err_len;
  check_str(label);
  call_media *m = g_new0(call_media, 1);
  m->mode = mode;
  m->listener = listener;
  m->user_data = user_data;
  g_strlcpy(m->local.ice_ufrag, "stubUfra", sizeof m->local.ice_ufrag);
  g_strlcpy(m->local.ice_pwd, "stubpasswordstubpasswordstubpa", sizeof m->local.ice_pwd);
  m->local.fingerprint = STUB_FINGERPRINT;
  g_ptr_array_add(registry(&live_media), m);
  return m;
}

void call_media_free(call_media *media) {
  if (!media) return;
  g_ptr_array_remove(live_media, media);
  g_free(media);
}

const webrtc_local *call_media_webrtc_local(const call_media *media) { return &media->local; }

const char *call_media_set_webrtc_remote(call_media *media, const webrtc_remote *remote) {
  (void)media;
  check_str(remote->ice_ufrag);
  check_str(remote->ice_pwd);
  check_str(remote->fingerprint_alg);
  check_str(remote->fingerprint);
  check_str(remote->setup);
  return remote->setup && strcmp(remote->setup, "active") == 0 ? "passive" : "active";
}

/* An ICE restart hands out new local credentials (different from the old ones, as the real
 * media layer does), so the reanswer path is exercised. */
const webrtc_local *call_media_restart_ice(call_media *media, const char *remote_ufrag,
                                           const char *remote_pwd) {
  check_str(remote_ufrag);
  check_str(remote_pwd);
  media->local.ice_ufrag[0] = media->local.ice_ufrag[0] == 'r' ? 's' : 'r';
  return &media->local;
}

void call_media_add_remote_candidate(call_media *media, const char *candidate) {
  (void)media;
  check_str(candidate);
}

const char *call_media_rtp_address(const call_media *media) {
  (void)media;
  return "127.0.0.1";
}
int call_media_rtp_port(const call_media *media) {
  (void)media;
  return 40000;
}

void call_media_set_latch_any_source(call_media *media, bool any_source) {
  (void)media;
  (void)any_source;
}

void call_media_set_rtp_remote(call_media *media, const char *address, int rtp_port,
                               int rtcp_port) {
  (void)media;
  (void)rtp_port;
  (void)rtcp_port;
  check_str(address);
}

void call_media_set_codec_map(call_media *media, const media_codec_map *map) {
  (void)media;
  (void)map;
}
void call_media_set_sip_srtp(call_media *media, const media_sdes *sdes) {
  (void)media;
  if (sdes->suite != MEDIA_SDES_AES_CM_128_HMAC_SHA1_80 &&
      sdes->suite != MEDIA_SDES_AES_CM_128_HMAC_SHA1_32 &&
      sdes->suite != MEDIA_SDES_AEAD_AES_128_GCM)
    abort();
}
void call_media_require_sip_srtp(call_media *media) { (void)media; }
void call_media_set_hold(call_media *media, bool held) {
  (void)media;
  (void)held;
}
void call_media_set_remote_hold(call_media *media, bool held) {
  (void)media;
  (void)held;
}
void call_media_send_dtmf(call_media *media, const char *digits, int duration_ms) {
  (void)media;
  (void)duration_ms;
  check_str(digits);
}

bool stub_media_event(unsigned pick, media_event_type type, const char *text) {
  call_media *m = pick_from(live_media, pick);
  if (!m || !m->listener) return false;
  media_event event = {.type = type};
  if (type == MEDIA_EVENT_LOCAL_CANDIDATE) event.candidate = text;
  else if (type == MEDIA_EVENT_CONNECTED) event.srtp_profile = "SRTP_AES128_CM_SHA1_80";
  else event.reason = text;
  m->listener(m->user_data, &event);
  return true;
}

/* ---- between inputs ---------------------------------------------------------------------- */

size_t stub_live_objects(void) {
  return (live_calls ? live_calls->len : 0) + (live_media ? live_media->len : 0) +
         (live_regs ? live_regs->len : 0);
}

size_t stub_reset(void) {
  size_t left = stub_live_objects();
  while (live_calls && live_calls->len) sip_call_free(g_ptr_array_index(live_calls, 0));
  while (live_media && live_media->len) call_media_free(g_ptr_array_index(live_media, 0));
  while (live_regs && live_regs->len) registration_free(g_ptr_array_index(live_regs, 0));
  return left;
}
