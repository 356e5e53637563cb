/* call_media: the public functions of media.h for one call, and the messages between the
 * control thread and the call's worker.
 *
 * Every public function runs on the control thread, copies its arguments into a message and
 * posts it to the worker's GMainContext (g_main_context_invoke_full); messages of one call run
 * in the order they were posted. Events go the other way the same way, to the control context;
 * the control side drops them once call_media_free has set "closed", so no listener call
 * happens after it returns. The struct is refcounted: the control side's reference plus one per
 * message in flight. call_media_free posts the destroy message (which frees the agent, SSL,
 * SRTP sessions, timers and sockets on the worker) and drops the control reference.
 *
 * Also here: the watchdog that raises MEDIA_EVENT_RTP_TIMEOUT after [media] rtp_timeout. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

#include "core/log.h"
#include "media/media_internal.h"

call_media *call_media_ref(call_media *media) {
  atomic_fetch_add(&media->refs, 1);
  return media;
}

void call_media_unref(call_media *media) {
  if (atomic_fetch_sub(&media->refs, 1) == 1) g_free(media);
}

/* ---- messages to the worker ---- */

typedef void (*worker_step)(call_media *media, void *arg);

typedef struct worker_message {
  call_media *media;
  worker_step step;
  void *arg;
  GDestroyNotify free_arg;
} worker_message;

static gboolean run_message(gpointer data) {
  worker_message *m = data;
  if (!m->media->destroyed) m->step(m->media, m->arg);
  return G_SOURCE_REMOVE;
}

static void free_message(gpointer data) {
  worker_message *m = data;
  if (m->free_arg) m->free_arg(m->arg);
  call_media_unref(m->media);
  g_free(m);
}

static void post(call_media *media, worker_step step, void *arg, GDestroyNotify free_arg) {
  worker_message *m = g_new(worker_message, 1);
  *m = (worker_message){call_media_ref(media), step, arg, free_arg};
  g_main_context_invoke_full(media->worker->context, G_PRIORITY_DEFAULT, run_message, m,
                             free_message);
}

/* ---- events to the control thread ---- */

typedef struct event_message {
  call_media *media;
  media_event_type type;
  char *candidate;
  char *reason;
  const char *srtp_profile; /* static */
} event_message;

static gboolean deliver_event(gpointer data) {
  event_message *m = data;
  if (!atomic_load(&m->media->closed)) {
    media_event event = {m->type, m->candidate, m->reason, m->srtp_profile};
    m->media->listener(m->media->user_data, &event);
  }
  return G_SOURCE_REMOVE;
}

static void free_event(gpointer data) {
  event_message *m = data;
  g_free(m->candidate);
  g_free(m->reason);
  call_media_unref(m->media);
  g_free(m);
}

void media_emit(call_media *media, media_event_type type, const char *candidate,
                const char *reason, const char *srtp_profile) {
  event_message *m = g_new0(event_message, 1);
  *m = (event_message){call_media_ref(media), type, g_strdup(candidate), g_strdup(reason),
                       srtp_profile};
  g_main_context_invoke_full(media->engine->control, G_PRIORITY_DEFAULT, deliver_event, m,
                             free_event);
}

void media_fail(call_media *media, const char *reason) {
  if (media->ended) return; /* one terminal event per call */
  media->ended = true;
  log_warn("media", media->subject, NULL, "failed: %s", reason);
  media_emit(media, MEDIA_EVENT_FAILED, NULL, reason, NULL);
}

/* ---- the watchdog: RTP inactivity ---- */

static gboolean on_watchdog(gpointer data) {
  call_media *media = data;
  if (media->ended || !media->srtp.ready) return G_SOURCE_CONTINUE;
  bridge_tick(media, g_get_monotonic_time());
  if (media->local_hold || media->remote_hold) return G_SOURCE_CONTINUE; /* silence is expected */
  int timeout_s = media->engine->rtp_timeout_s;
  gint64 now = g_get_monotonic_time(), limit = (gint64)timeout_s * G_USEC_PER_SEC;
  gint64 since = MAX(media->connected_us, media->hold_ended_us);
  gint64 browser = MAX(media->last_browser_rx_us, since);
  gint64 sip = MAX(media->last_sip_rx_us, since);
  const char *silent = now - browser > limit ? "browser"
                       : (media->mode == MEDIA_MODE_BRIDGE && now - sip > limit) ? "SIP side"
                                                                                 : NULL;
  if (silent) {
    media->ended = true;
    log_warn("media", media->subject, NULL, "RTP timeout: nothing from the %s for %d s", silent,
             timeout_s);
    media_emit(media, MEDIA_EVENT_RTP_TIMEOUT, NULL, NULL, NULL);
  }
  return G_SOURCE_CONTINUE;
}

/* ---- worker steps ---- */

static void step_start(call_media *media, void *arg) {
  (void)arg;
  rtp_leg_attach(media);
  /* 250 ms ticks: the timeout fires at most a quarter second late (a 1 s tick could add a whole
   * second to a 2-3 s timeout). The check itself is a few comparisons. */
  media->watchdog = g_timeout_source_new(250);
  g_source_set_callback(media->watchdog, on_watchdog, media, NULL);
  g_source_attach(media->watchdog, media->worker->context);
  if (!ice_leg_start(media)) media_fail(media, "ice_failed");
}

static void step_destroy(call_media *media, void *arg) {
  (void)arg;
  dtmf_sender_stop(media);
  bridge_stop(media);
  dtls_leg_stop(media);
  ice_leg_stop(media);
  srtp_leg_stop(&media->srtp);
  rtp_leg_close(&media->rtp);
  if (media->watchdog) {
    g_source_destroy(media->watchdog);
    g_source_unref(media->watchdog);
  }
  media->destroyed = true;
  atomic_fetch_sub(&media->worker->calls, 1);
  log_info("media", media->subject, NULL,
           "closed (SIP side: %u packets from foreign sources dropped, %u failed SRTP)",
           media->rtp.foreign_dropped, media->rtp.srtp_failures);
}

typedef struct remote_args {
  char *ufrag, *pwd, *fingerprint_alg, *fingerprint;
  bool client;
} remote_args;

static void free_remote_args(void *data) {
  remote_args *r = data;
  g_free(r->ufrag);
  g_free(r->pwd);
  g_free(r->fingerprint_alg);
  g_free(r->fingerprint);
  g_free(r);
}

static void step_set_remote(call_media *media, void *arg) {
  remote_args *r = arg;
  ice_leg_set_remote_credentials(media, r->ufrag, r->pwd);
  if (!dtls_leg_setup(media, r->client, r->fingerprint_alg, r->fingerprint))
    media_fail(media, "dtls_failed");
}

static void step_add_candidate(call_media *media, void *arg) {
  ice_leg_add_remote_candidate(media, arg);
}

typedef struct rtp_remote_args {
  char *address;
  int rtp_port, rtcp_port;
} rtp_remote_args;

static void free_rtp_remote_args(void *data) {
  rtp_remote_args *r = data;
  g_free(r->address);
  g_free(r);
}

static void step_set_rtp_remote(call_media *media, void *arg) {
  rtp_remote_args *r = arg;
  rtp_leg_set_remote(media, r->address, r->rtp_port, r->rtcp_port);
}

static void step_set_codec_map(call_media *media, void *arg) { bridge_set_codec_map(media, arg); }

static int sdes_profile(media_sdes_suite suite) {
  return suite == MEDIA_SDES_AEAD_AES_128_GCM          ? SRTP_AEAD_AES_128_GCM
         : suite == MEDIA_SDES_AES_CM_128_HMAC_SHA1_32 ? SRTP_AES128_CM_SHA1_32
                                                       : SRTP_AES128_CM_SHA1_80;
}

static void step_set_sip_srtp(call_media *media, void *arg) {
  const media_sdes *k = arg;
  rtp_leg_set_srtp(media, sdes_profile(k->suite), k->local_key, k->local_salt, k->remote_key,
                   k->remote_salt);
}

static void free_sdes(void *data) {
  OPENSSL_cleanse(data, sizeof(media_sdes));
  g_free(data);
}

static void step_require_sip_srtp(call_media *media, void *arg) {
  (void)arg;
  media->rtp.srtp_required = true;
}

typedef struct hold_args {
  bool remote; /* which side's hold */
  bool held;
} hold_args;

static void step_set_hold(call_media *media, void *arg) {
  const hold_args *h = arg;
  bool was = media->local_hold || media->remote_hold;
  if (h->remote) media->remote_hold = h->held;
  else media->local_hold = h->held;
  bool now = media->local_hold || media->remote_hold;
  if (was == now) return;
  bridge_set_hold(media, now);
  if (!now) media->hold_ended_us = g_get_monotonic_time();
  log_info("media", media->subject, NULL, "%s (%s hold)", now ? "on hold" : "hold ended",
           h->remote ? "far end" : "tab");
}

typedef struct dtmf_args {
  char *digits;
  int duration_ms;
} dtmf_args;

static void free_dtmf_args(void *data) {
  dtmf_args *d = data;
  g_free(d->digits);
  g_free(d);
}

static void step_send_dtmf(call_media *media, void *arg) {
  dtmf_args *d = arg;
  dtmf_sender_queue(media, d->digits, d->duration_ms);
}

typedef struct restart_args {
  char local_ufrag[8], local_pwd[32];
  char *remote_ufrag, *remote_pwd;
} restart_args;

static void free_restart_args(void *data) {
  restart_args *r = data;
  g_free(r->remote_ufrag);
  g_free(r->remote_pwd);
  OPENSSL_cleanse(r, sizeof *r);
  g_free(r);
}

static void step_restart_ice(call_media *media, void *arg) {
  restart_args *r = arg;
  if (!ice_leg_restart(media, r->local_ufrag, r->local_pwd, r->remote_ufrag, r->remote_pwd))
    media_fail(media, "ice_failed");
}

/* ---- the public functions (control thread) ---- */

static void random_token(char *out, size_t len) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  unsigned char raw[64];
  RAND_bytes(raw, (int)len);
  for (size_t i = 0; i < len; i++) out[i] = alphabet[raw[i] % 64];
  out[len] = '\0';
}

static uint32_t random32(void) {
  uint32_t v = 0;
  RAND_bytes((unsigned char *)&v, sizeof v);
  return v;
}

static void init_local(call_media *media) {
  random_token(media->local.ice_ufrag, 4);                        /* RFC 8839: >= 4 chars */
  random_token(media->local.ice_pwd, sizeof media->local.ice_pwd - 8); /* 24 chars, >= 22 */
  media->local.fingerprint = media->engine->fingerprint;
  media->bridge.sip_ssrc = random32();
  media->bridge.last_sip_seq = (uint16_t)random32();
  media->bridge.last_sip_ts = random32();
}

call_media *call_media_new(media_engine *engine, media_mode mode, bool ice_controlling,
                           const char *label, media_listener listener, void *user_data,
                           char *err, size_t err_len) {
  call_media *media = g_new0(call_media, 1);
  atomic_init(&media->refs, 1);
  media->engine = engine;
  media->mode = mode;
  media->ice_controlling = ice_controlling;
  media->listener = listener;
  media->user_data = user_data;
  media->rtp.rtp_fd = media->rtp.rtcp_fd = -1;
  atomic_init(&media->latch_any_source, engine->latch_any_source);
  unsigned number = atomic_fetch_add(&engine->next_id, 1) + 1;
  if (label)
    g_strlcpy(media->subject, label, sizeof media->subject);
  else
    g_snprintf(media->subject, sizeof media->subject, "call m%u", number);
  init_local(media);
  if (mode == MEDIA_MODE_BRIDGE) {
    if (!rtp_leg_bind(&media->rtp, engine, err, err_len)) {
      g_free(media);
      return NULL;
    }
    media->rtp_port = media->rtp.port;
    g_strlcpy(media->rtp_address, engine->rtp_sdp_host, sizeof media->rtp_address);
  }
  media->worker = media_engine_pick_worker(engine);
  atomic_fetch_add(&media->worker->calls, 1);
  atomic_fetch_add(&engine->call_count, 1);
  log_info("media", media->subject, NULL, "new (%s, ICE %s, RTP %s:%d)",
           mode == MEDIA_MODE_ECHO ? "echo" : "bridge", ice_controlling ? "controlling" : "controlled",
           mode == MEDIA_MODE_BRIDGE ? media->rtp_address : "-", media->rtp_port);
  post(media, step_start, NULL, NULL);
  return media;
}

void call_media_free(call_media *media) {
  if (!media) return;
  atomic_store(&media->closed, true);
  atomic_fetch_sub(&media->engine->call_count, 1);
  post(media, step_destroy, NULL, NULL);
  call_media_unref(media);
}

const webrtc_local *call_media_webrtc_local(const call_media *media) { return &media->local; }

const char *call_media_set_webrtc_remote(call_media *media, const webrtc_remote *remote) {
  bool client = !(remote->setup && strcmp(remote->setup, "active") == 0);
  remote_args *r = g_new0(remote_args, 1);
  *r = (remote_args){g_strdup(remote->ice_ufrag), g_strdup(remote->ice_pwd),
                     g_strdup(remote->fingerprint_alg), g_strdup(remote->fingerprint), client};
  post(media, step_set_remote, r, free_remote_args);
  return client ? "active" : "passive";
}

/* media->local is a control field: the worker read it once in step_start, which ran before the
 * media could connect, so rewriting it here races with nothing. The worker gets its own copy. */
const webrtc_local *call_media_restart_ice(call_media *media, const char *remote_ufrag,
                                           const char *remote_pwd) {
  random_token(media->local.ice_ufrag, 4);
  random_token(media->local.ice_pwd, sizeof media->local.ice_pwd - 8);
  restart_args *r = g_new0(restart_args, 1);
  g_strlcpy(r->local_ufrag, media->local.ice_ufrag, sizeof r->local_ufrag);
  g_strlcpy(r->local_pwd, media->local.ice_pwd, sizeof r->local_pwd);
  r->remote_ufrag = g_strdup(remote_ufrag);
  r->remote_pwd = g_strdup(remote_pwd);
  post(media, step_restart_ice, r, free_restart_args);
  return &media->local;
}

void call_media_add_remote_candidate(call_media *media, const char *candidate) {
  post(media, step_add_candidate, g_strdup(candidate), g_free);
}

const char *call_media_rtp_address(const call_media *media) { return media->rtp_address; }
int call_media_rtp_port(const call_media *media) { return media->rtp_port; }

void call_media_set_latch_any_source(call_media *media, bool any_source) {
  atomic_store(&media->latch_any_source, any_source);
}

void call_media_set_rtp_remote(call_media *media, const char *address, int rtp_port,
                               int rtcp_port) {
  rtp_remote_args *r = g_new0(rtp_remote_args, 1);
  *r = (rtp_remote_args){g_strdup(address), rtp_port, rtcp_port};
  post(media, step_set_rtp_remote, r, free_rtp_remote_args);
}

void call_media_set_codec_map(call_media *media, const media_codec_map *map) {
  post(media, step_set_codec_map, g_memdup2(map, sizeof *map), g_free);
}

void call_media_set_sip_srtp(call_media *media, const media_sdes *sdes) {
  post(media, step_set_sip_srtp, g_memdup2(sdes, sizeof *sdes), free_sdes);
}

void call_media_require_sip_srtp(call_media *media) {
  post(media, step_require_sip_srtp, NULL, NULL);
}

static void post_hold(call_media *media, bool remote, bool held) {
  hold_args *h = g_new0(hold_args, 1);
  *h = (hold_args){remote, held};
  post(media, step_set_hold, h, g_free);
}

void call_media_set_hold(call_media *media, bool held) { post_hold(media, false, held); }
void call_media_set_remote_hold(call_media *media, bool held) { post_hold(media, true, held); }

void call_media_send_dtmf(call_media *media, const char *digits, int duration_ms) {
  dtmf_args *d = g_new0(dtmf_args, 1);
  *d = (dtmf_args){g_strdup(digits), duration_ms};
  post(media, step_send_dtmf, d, free_dtmf_args);
}
