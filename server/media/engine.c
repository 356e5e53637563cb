/* engine: the media engine of a tabphone process.
 *
 * Starts N media workers (one thread each, with its own GMainContext and GMainLoop; N =
 * [media] workers, 0 = the number of cores), makes the DTLS context with a fresh ECDSA P-256
 * certificate (dtls.c), initialises libsrtp once, and decides where ICE host candidates and
 * the SIP-side RTP sockets live:
 * - [media] address, when set and specific, for both ICE and RTP (advertised as public_ip
 *   when that is set). Otherwise:
 * - ICE: the [server] listen hosts when they are specific addresses (127.0.0.1 in tests;
 *   libnice skips loopback when it gathers by itself), otherwise every non-loopback
 *   interface address.
 * - RTP: the [sip] listen host when specific, else bind 0.0.0.0 and advertise public_ip (or
 *   the first ICE address when no public_ip is set).
 * It also keeps the [media] settings calls read (port range, RTP timeout, STUN/TURN) and
 * [sip] public_ip, which ice.c writes into the host candidates it trickles (1:1 NAT).
 * A config built by hand with zeros (test probes) gets the documented defaults.
 * Calls go to the least-loaded worker.
 * Overload: every worker runs a LAG_TICK_MS timer that records how late it fires, smoothed
 * (lag = lag * 7/8 + sample / 8, about a second of memory), in atomics any thread may read.
 * A new call is refused while every worker lags more than [media] overload_lag_ms (one idle
 * worker can still take it) or [media] max_calls calls hold media; calls in progress go on.
 *
 * Ownership: the engine owns its workers, the SSL_CTX and the address lists. */
#include <nice/interfaces.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "core/log.h"
#include "media/media_internal.h"

static gpointer worker_main(gpointer data) {
  media_worker *worker = data;
  if (atomic_load(&worker->stopping)) return NULL;
  g_main_context_push_thread_default(worker->context);
  atomic_store(&worker->handing_over, false);
  g_main_loop_run(worker->loop);
  g_main_context_pop_thread_default(worker->context);
  return NULL;
}

static void worker_thread_name(size_t index, char *name, size_t name_len) {
  g_snprintf(name, name_len, "media-%zu", index);
}

/* A worker's next thread (media_engine_release_memory): waits until the previous thread has
 * left the loop and exited (its malloc cache is freed at exit), trims, then runs the loop. */
typedef struct {
  media_engine *engine;
  media_worker *worker;
  GThread *predecessor; /* joined (and so released) here */
} worker_successor;

/* Any thread: hands glibc's free pages back to the system, one caller at a time. */
static void return_free_memory(media_engine *engine) {
#ifdef __GLIBC__
  g_mutex_lock(&engine->trim_lock);
  malloc_trim(0);
  g_mutex_unlock(&engine->trim_lock);
#else
  (void)engine;
#endif
}

static gpointer worker_successor_main(gpointer data) {
  worker_successor *start = data;
  media_worker *worker = start->worker;
  media_engine *engine = start->engine;
  g_thread_join(start->predecessor);
  g_free(start);
  return_free_memory(engine);
  return worker_main(worker);
}

#define LAG_TICK_MS 100

/* Worker thread: how late did this tick come? The timeout source re-arms LAG_TICK_MS after
 * each dispatch, so the expected time is the previous tick + LAG_TICK_MS. */
static gboolean lag_tick(gpointer data) {
  media_worker *w = data;
  gint64 now = g_get_monotonic_time();
  gint64 late = now - atomic_load(&w->last_tick_us) - LAG_TICK_MS * 1000;
  if (late < 0) late = 0;
  if (late > G_MAXINT / 2) late = G_MAXINT / 2;
  int smoothed = atomic_load(&w->lag_us);
  atomic_store(&w->lag_us, smoothed - smoothed / 8 + (int)late / 8);
  atomic_store(&w->last_tick_us, now);
  return G_SOURCE_CONTINUE;
}

/* Any thread: the worker's lag in µs. A worker blocked in one long dispatch does not run
 * lag_tick, so an overdue tick counts as what it would report if it fired now. */
static gint64 worker_lag_us(media_worker *w, gint64 now) {
  gint64 overdue = now - atomic_load(&w->last_tick_us) - LAG_TICK_MS * 1000;
  gint64 smoothed = atomic_load(&w->lag_us);
  gint64 if_now = smoothed - smoothed / 8 + overdue / 8;
  return if_now > smoothed ? if_now : smoothed;
}

static bool host_is_specific(const char *host) {
  return host && *host && strcmp(host, "0.0.0.0") != 0 && strcmp(host, "::") != 0;
}

/* Where libnice gathers host candidates (see the file comment). */
static char **ice_addresses_from(const config *cfg) {
  GPtrArray *list = g_ptr_array_new();
  if (host_is_specific(cfg->media_address)) {
    g_ptr_array_add(list, g_strdup(cfg->media_address));
  } else {
    for (size_t i = 0; i < cfg->listen_count; i++)
      if (host_is_specific(cfg->listen[i].host))
        g_ptr_array_add(list, g_strdup(cfg->listen[i].host));
  }
  if (list->len == 0) {
    GList *ips = nice_interfaces_get_local_ips(FALSE);
    for (GList *l = ips; l; l = l->next) g_ptr_array_add(list, l->data); /* takes the string */
    g_list_free(ips);
  }
  if (list->len == 0) g_ptr_array_add(list, g_strdup("127.0.0.1"));
  g_ptr_array_add(list, NULL);
  return (char **)g_ptr_array_free(list, FALSE);
}

/* The SIP side's SDP must name an address the far end can reach. With SIP on a wildcard
 * address and neither [media] address nor public_ip set, the ICE addresses may be loopback
 * only (the default config listens for browsers on 127.0.0.1), which would give a PBX on the
 * LAN one-way audio: use the machine's first non-loopback address instead. */
static char *first_non_loopback_address(const media_engine *engine) {
  GList *ips = nice_interfaces_get_local_ips(FALSE);
  char *found = g_strdup(ips ? ips->data : engine->ice_addresses[0]);
  g_list_free_full(ips, g_free);
  return found;
}

static void choose_rtp_hosts(media_engine *engine, const config *cfg) {
  const char *sip_host =
      host_is_specific(cfg->media_address) ? cfg->media_address : cfg->sip_listen.host;
  if (host_is_specific(sip_host)) {
    engine->rtp_bind_host = g_strdup(sip_host);
    engine->rtp_sdp_host = g_strdup(cfg->public_ip ? cfg->public_ip : sip_host);
  } else {
    engine->rtp_bind_host = g_strdup("0.0.0.0");
    engine->rtp_sdp_host =
        cfg->public_ip ? g_strdup(cfg->public_ip) : first_non_loopback_address(engine);
  }
}

static void take_settings(media_engine *engine, const config *cfg) {
  engine->port_min = cfg->port_min > 0 ? cfg->port_min : 20000;
  engine->port_max = cfg->port_max > engine->port_min ? cfg->port_max : 39999;
  engine->rtp_timeout_s = cfg->rtp_timeout > 0 ? cfg->rtp_timeout : 30;
  engine->latch_window_us = (gint64)cfg->latch_window_ms * 1000;
  engine->latch_any_source = cfg->latch_any_source;
  /* Unlike the settings above, zeros here mean "off" even in a hand-built config. */
  engine->overload_lag_us = cfg->overload_lag_ms > 0 ? cfg->overload_lag_ms * 1000 : 0;
  engine->max_calls = cfg->media_max_calls > 0 ? (size_t)cfg->media_max_calls : 0;
  engine->public_ip = g_strdup(cfg->public_ip);
  if (cfg->stun_server.host) {
    engine->stun_host = g_strdup(cfg->stun_server.host);
    engine->stun_port = cfg->stun_server.port;
  }
  if (cfg->turn_server.host && cfg->turn_user && cfg->turn_password) {
    engine->turn_host = g_strdup(cfg->turn_server.host);
    engine->turn_port = cfg->turn_server.port;
    engine->turn_user = g_strdup(cfg->turn_user);
    engine->turn_password = g_strdup(cfg->turn_password);
  }
}

static bool start_workers(media_engine *engine, const config *cfg, char *err, size_t err_len) {
  engine->worker_count = cfg->media_workers > 0 ? (size_t)cfg->media_workers : g_get_num_processors();
  if (engine->worker_count < 1) engine->worker_count = 1;
  engine->workers = g_new0(media_worker, engine->worker_count);
  for (size_t i = 0; i < engine->worker_count; i++) {
    media_worker *w = &engine->workers[i];
    w->context = g_main_context_new();
    w->loop = g_main_loop_new(w->context, FALSE);
    atomic_store(&w->last_tick_us, g_get_monotonic_time());
    w->lag_timer = g_timeout_source_new(LAG_TICK_MS);
    g_source_set_callback(w->lag_timer, lag_tick, w, NULL);
    g_source_attach(w->lag_timer, w->context);
    char name[16];
    worker_thread_name(i, name, sizeof name);
    GError *error = NULL;
    w->thread = g_thread_try_new(name, worker_main, w, &error);
    if (!w->thread) {
      g_snprintf(err, err_len, "media worker: %s", error->message);
      g_error_free(error);
      return false;
    }
  }
  return true;
}

media_engine *media_engine_new(const config *cfg, GMainContext *control, char *err,
                               size_t err_len) {
  if (!srtp_leg_global_init()) {
    g_snprintf(err, err_len, "libsrtp: srtp_init failed");
    return NULL;
  }
  media_engine *engine = g_new0(media_engine, 1);
  g_mutex_init(&engine->trim_lock);
  engine->control = control ? g_main_context_ref(control) : g_main_context_ref_thread_default();
  engine->dtls_context =
      dtls_context_new(engine->fingerprint, sizeof engine->fingerprint, err, err_len);
  if (!engine->dtls_context) {
    media_engine_free(engine);
    return NULL;
  }
  engine->ice_addresses = ice_addresses_from(cfg);
  choose_rtp_hosts(engine, cfg);
  take_settings(engine, cfg);
  if (!start_workers(engine, cfg, err, err_len)) {
    media_engine_free(engine);
    return NULL;
  }
  char *joined = g_strjoinv(",", engine->ice_addresses);
  /* The TURN password stays out of the log; the user name and servers help debugging. */
  log_info("media", NULL, NULL,
           "%zu workers, ICE host addresses %s%s%s, STUN %s:%d, TURN %s:%d (user %s), RTP on %s "
           "ports %d-%d (SDP %s), RTP timeout %d s",
           engine->worker_count, joined, engine->public_ip ? " advertised as " : "",
           engine->public_ip ? engine->public_ip : "", engine->stun_host ? engine->stun_host : "-",
           engine->stun_port, engine->turn_host ? engine->turn_host : "-", engine->turn_port,
           engine->turn_user ? engine->turn_user : "-", engine->rtp_bind_host, engine->port_min,
           engine->port_max, engine->rtp_sdp_host, engine->rtp_timeout_s);
  log_info("media", NULL, NULL, "overload: overload_lag_ms %d%s, max_calls %zu%s",
           engine->overload_lag_us / 1000, engine->overload_lag_us ? "" : " (off)",
           engine->max_calls, engine->max_calls ? "" : " (no limit)");
  g_free(joined);
  return engine;
}

static gboolean quit_loop(gpointer data) {
  g_main_loop_quit(data);
  return G_SOURCE_REMOVE;
}

/* Asks whichever thread runs the worker's loop to leave it. An idle source, not
 * g_main_context_invoke: invoke runs the function at once in the calling thread when nobody owns
 * the context (a successor between its predecessor's exit and its own start), and a quit before
 * the loop runs would be lost. A source is only dispatched from inside the loop. */
static void ask_worker_loop_to_quit(media_worker *w) {
  GSource *quit = g_idle_source_new();
  g_source_set_priority(quit, G_PRIORITY_HIGH);
  g_source_set_callback(quit, quit_loop, w->loop, NULL);
  g_source_attach(quit, w->context);
  g_source_unref(quit);
}

void media_engine_release_memory(media_engine *engine) {
  if (atomic_load(&engine->call_count) != 0) return;
  bool renewed = false;
  for (size_t i = 0; i < engine->worker_count; i++) {
    media_worker *w = &engine->workers[i];
    if (atomic_load(&w->handing_over)) continue; /* the last renewal is still under way */
    atomic_store(&w->handing_over, true);
    worker_successor *start = g_new(worker_successor, 1);
    *start = (worker_successor){.engine = engine, .worker = w, .predecessor = w->thread};
    char name[16];
    worker_thread_name(i, name, sizeof name);
    GError *error = NULL;
    GThread *next = g_thread_try_new(name, worker_successor_main, start, &error);
    if (!next) {
      log_warn("media", NULL, NULL, "media worker %zu keeps its thread: %s", i, error->message);
      g_error_free(error);
      g_free(start);
      atomic_store(&w->handing_over, false);
      continue;
    }
    /* The old thread dispatches this, leaves the loop and exits; only then does the successor
     * (joining it) run the same loop. */
    ask_worker_loop_to_quit(w);
    w->thread = next;
    renewed = true;
  }
  if (!renewed) return_free_memory(engine); /* else each successor does, its predecessor gone */
}

void media_engine_free(media_engine *engine) {
  if (!engine) return;
  for (size_t i = 0; engine->workers && i < engine->worker_count; i++) {
    media_worker *w = &engine->workers[i];
    if (w->thread) {
      /* A successor still joining its predecessor sees the flag and returns; one already in
       * the loop dispatches the quit. */
      atomic_store(&w->stopping, true);
      ask_worker_loop_to_quit(w);
      g_thread_join(w->thread);
    }
    if (w->lag_timer) {
      g_source_destroy(w->lag_timer);
      g_source_unref(w->lag_timer);
    }
    g_main_loop_unref(w->loop);
    g_main_context_unref(w->context);
  }
  g_free(engine->workers);
  if (engine->dtls_context) SSL_CTX_free(engine->dtls_context);
  g_strfreev(engine->ice_addresses);
  g_free(engine->rtp_bind_host);
  g_free(engine->rtp_sdp_host);
  g_free(engine->public_ip);
  g_free(engine->stun_host);
  g_free(engine->turn_host);
  g_free(engine->turn_user);
  if (engine->turn_password) memset(engine->turn_password, 0, strlen(engine->turn_password));
  g_free(engine->turn_password);
  g_main_context_unref(engine->control);
  g_mutex_clear(&engine->trim_lock);
  g_free(engine);
}

const char *media_engine_fingerprint(const media_engine *engine) { return engine->fingerprint; }

size_t media_engine_worker_count(const media_engine *engine) { return engine->worker_count; }

unsigned media_engine_port_pairs_in_use(const media_engine *engine) {
  return atomic_load(&((media_engine *)engine)->pairs_in_use);
}

unsigned media_engine_port_pairs(const media_engine *engine) {
  int first = engine->port_min + (engine->port_min & 1); /* even, as rtp_leg_bind counts */
  return first + 1 <= engine->port_max ? (unsigned)(engine->port_max - first - 1) / 2 + 1 : 0;
}

size_t media_engine_call_count(const media_engine *engine) {
  return atomic_load(&((media_engine *)engine)->call_count);
}

media_worker *media_engine_pick_worker(media_engine *engine) {
  media_worker *best = &engine->workers[0];
  for (size_t i = 1; i < engine->worker_count; i++)
    if (atomic_load(&engine->workers[i].calls) < atomic_load(&best->calls))
      best = &engine->workers[i];
  return best;
}

static bool lag_overloaded(const media_engine *engine) {
  if (!engine->overload_lag_us) return false;
  gint64 now = g_get_monotonic_time();
  for (size_t i = 0; i < engine->worker_count; i++)
    if (worker_lag_us(&engine->workers[i], now) <= engine->overload_lag_us) return false;
  return true;
}

bool media_engine_overloaded(const media_engine *engine) {
  if (engine->max_calls && media_engine_call_count(engine) >= engine->max_calls) return true;
  return lag_overloaded(engine);
}

int media_engine_worker_lag_ms(const media_engine *engine) {
  gint64 now = g_get_monotonic_time(), worst = 0;
  for (size_t i = 0; i < engine->worker_count; i++) {
    gint64 lag = worker_lag_us(&engine->workers[i], now);
    if (lag > worst) worst = lag;
  }
  return (int)MIN(worst / 1000, G_MAXINT);
}

bool media_engine_admit(media_engine *engine) {
  if (!media_engine_overloaded(engine)) {
    if (engine->refusing)
      log_info("media", NULL, NULL, "no longer overloaded: new calls are admitted again");
    engine->refusing = false;
    return true;
  }
  if (!engine->refusing)
    log_warn("media", NULL, NULL,
             "overloaded (%zu calls, max_calls %zu; worst worker lag %d ms, overload_lag_ms "
             "%d): refusing new calls with 503 media_overloaded until it eases",
             media_engine_call_count(engine), engine->max_calls,
             media_engine_worker_lag_ms(engine), engine->overload_lag_us / 1000);
  engine->refusing = true;
  return false;
}
