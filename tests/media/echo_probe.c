/* echo_probe: one media engine and one call_media driven over stdin/stdout, so a test can put
 * a real browser on the other end (tests/media/echo.test.mjs).
 *
 * Usage: echo_probe echo|bridge [controlling] [key=value...]
 *   controlling: we offer, as for inbound calls. key=value sets a [media] key of the engine's
 *   config (workers, rtp_timeout, port_min, port_max, address) or public_ip.
 * Prints (one line each, flushed):
 *   local <ufrag> <pwd> <fingerprint>      at once
 *   rtp <address> <port>                   bridge mode: our SIP-side RTP port
 *   candidate <candidate:...>              trickled local candidates
 *   candidate-end                          gathering done
 *   setup <active|passive>                 answer to "remote"
 *   connected <srtp profile> | failed <reason> | timeout
 *   extra <address> <port> | extra-error <message>   answer to "extra" 
 * Reads:
 *   remote <ufrag> <pwd> <setup> <fingerprint>
 *   candidate <candidate:...> | candidate-end
 *   rtp-remote <address> <rtp port> <rtcp port>
 *   codec <browser pt> <sip pt> <clock> <browser dtmf pt> <sip dtmf pt>
 *   dtmf <digits>
 *   extra              one more bridge call_media (holds an RTP port pair; no ICE partner)
 *   free-extra         frees every extra call
 *   quit (or end of input)
 * The media log goes to stderr. */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "media/media.h"

typedef struct probe {
  GMainLoop *loop;
  call_media *media;
  media_engine *engine;
  GPtrArray *extra; /* call_media *: the "extra" calls */
} probe;

static void say(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

static void on_extra_event(void *user_data, const media_event *event) {
  (void)user_data;
  (void)event; /* extra calls never connect: their candidates are of no interest */
}

static void on_event(void *user_data, const media_event *event) {
  (void)user_data;
  switch (event->type) {
  case MEDIA_EVENT_LOCAL_CANDIDATE:
    if (event->candidate) say("candidate %s", event->candidate);
    else say("candidate-end");
    break;
  case MEDIA_EVENT_CONNECTED: say("connected %s", event->srtp_profile); break;
  case MEDIA_EVENT_FAILED: say("failed %s", event->reason); break;
  case MEDIA_EVENT_RTP_TIMEOUT: say("timeout"); break;
  }
}

static void handle(probe *p, char **w, int n) {
  if (n == 5 && strcmp(w[0], "remote") == 0) {
    webrtc_remote r = {w[1], w[2], "sha-256", w[4], w[3]};
    say("setup %s", call_media_set_webrtc_remote(p->media, &r));
  } else if (n >= 2 && strcmp(w[0], "candidate") == 0) {
    char *line = g_strjoinv(" ", w + 1);
    call_media_add_remote_candidate(p->media, line);
    g_free(line);
  } else if (n == 1 && strcmp(w[0], "candidate-end") == 0) {
    call_media_add_remote_candidate(p->media, NULL);
  } else if (n == 4 && strcmp(w[0], "rtp-remote") == 0) {
    call_media_set_rtp_remote(p->media, w[1], atoi(w[2]), atoi(w[3]));
  } else if (n == 6 && strcmp(w[0], "codec") == 0) {
    media_codec_map map = {.browser_pt = atoi(w[1]), .sip_pt = atoi(w[2]), .clock_rate = atoi(w[3]),
                           .browser_dtmf_pt = atoi(w[4]), .sip_dtmf_pt = atoi(w[5])};
    call_media_set_codec_map(p->media, &map);
  } else if (n == 2 && strcmp(w[0], "dtmf") == 0) {
    call_media_send_dtmf(p->media, w[1], 100);
  } else if (n == 1 && strcmp(w[0], "extra") == 0) {
    char err[256];
    call_media *m = call_media_new(p->engine, MEDIA_MODE_BRIDGE, false, NULL, on_extra_event, p, err,
                                   sizeof err);
    if (m) {
      g_ptr_array_add(p->extra, m);
      say("extra %s %d", call_media_rtp_address(m), call_media_rtp_port(m));
    } else {
      say("extra-error %s", err);
    }
  } else if (n == 1 && strcmp(w[0], "free-extra") == 0) {
    g_ptr_array_set_size(p->extra, 0);
    say("freed");
  } else if (n == 1 && strcmp(w[0], "quit") == 0) {
    g_main_loop_quit(p->loop);
  } else if (n > 0) {
    fprintf(stderr, "echo_probe: unknown command '%s'\n", w[0]);
  }
}

static gboolean on_stdin(GIOChannel *channel, GIOCondition condition, gpointer data) {
  (void)condition;
  probe *p = data;
  char *line = NULL;
  GIOStatus status = g_io_channel_read_line(channel, &line, NULL, NULL, NULL);
  if (status == G_IO_STATUS_EOF || status == G_IO_STATUS_ERROR) {
    g_main_loop_quit(p->loop);
    return G_SOURCE_REMOVE;
  }
  if (line) {
    g_strstrip(line);
    char **words = g_strsplit(line, " ", -1);
    handle(p, words, (int)g_strv_length(words));
    g_strfreev(words);
    g_free(line);
  }
  return G_SOURCE_CONTINUE;
}

/* The config a test server would have: everything on loopback. */
static void loopback_config(config *cfg, config_listen *listen) {
  memset(cfg, 0, sizeof *cfg);
  *listen = (config_listen){"127.0.0.1", 8443};
  cfg->listen = listen;
  cfg->listen_count = 1;
  cfg->sip_listen = (config_listen){"127.0.0.1", 5060};
}

static void run(probe *p, media_engine *engine) {
  const webrtc_local *local = call_media_webrtc_local(p->media);
  say("local %s %s %s", local->ice_ufrag, local->ice_pwd, local->fingerprint);
  if (call_media_rtp_port(p->media) > 0)
    say("rtp %s %d", call_media_rtp_address(p->media), call_media_rtp_port(p->media));
  GIOChannel *in = g_io_channel_unix_new(0);
  guint watch = g_io_add_watch(in, G_IO_IN | G_IO_HUP, on_stdin, p);
  g_main_loop_run(p->loop);
  g_source_remove(watch);
  g_io_channel_unref(in);
  call_media_free(p->media);
  g_ptr_array_set_size(p->extra, 0);
  /* Let messages in flight settle, then stop the workers. */
  for (int i = 0; i < 50; i++) {
    g_main_context_iteration(NULL, FALSE);
    g_usleep(2000);
  }
  media_engine_free(engine);
  while (g_main_context_iteration(NULL, FALSE)) {
  }
}

int main(int argc, char **argv) {
  if (argc < 2 || (strcmp(argv[1], "echo") != 0 && strcmp(argv[1], "bridge") != 0)) {
    fprintf(stderr, "usage: echo_probe echo|bridge [controlling] [key=value...]\n");
    return 2;
  }
  log_init(g_getenv("PROBE_DEBUG") ? LOG_DEBUG : LOG_INFO);
  config cfg;
  config_listen listen;
  loopback_config(&cfg, &listen);
  bool controlling = false;
  for (int i = 2; i < argc; i++) {
    const char *eq = strchr(argv[i], '=');
    const char *v = eq ? eq + 1 : "";
    if (strcmp(argv[i], "controlling") == 0) controlling = true;
    else if (g_str_has_prefix(argv[i], "workers=")) cfg.media_workers = atoi(v);
    else if (g_str_has_prefix(argv[i], "rtp_timeout=")) cfg.rtp_timeout = atoi(v);
    else if (g_str_has_prefix(argv[i], "port_min=")) cfg.port_min = atoi(v);
    else if (g_str_has_prefix(argv[i], "port_max=")) cfg.port_max = atoi(v);
    else if (g_str_has_prefix(argv[i], "address=")) cfg.media_address = (char *)v;
    else if (g_str_has_prefix(argv[i], "public_ip=")) cfg.public_ip = (char *)v;
    else {
      fprintf(stderr, "echo_probe: unknown option '%s'\n", argv[i]);
      return 2;
    }
  }
  char err[256];
  media_engine *engine = media_engine_new(&cfg, NULL, err, sizeof err);
  if (!engine) {
    fprintf(stderr, "echo_probe: %s\n", err);
    return 1;
  }
  probe p = {g_main_loop_new(NULL, FALSE), NULL, engine,
             g_ptr_array_new_with_free_func((GDestroyNotify)call_media_free)};
  media_mode mode = strcmp(argv[1], "echo") == 0 ? MEDIA_MODE_ECHO : MEDIA_MODE_BRIDGE;
  p.media = call_media_new(engine, mode, controlling, NULL, on_event, &p, err, sizeof err);
  if (!p.media) {
    fprintf(stderr, "echo_probe: %s\n", err);
    media_engine_free(engine);
    return 1;
  }
  run(&p, engine);
  g_ptr_array_unref(p.extra);
  g_main_loop_unref(p.loop);
  return 0;
}
