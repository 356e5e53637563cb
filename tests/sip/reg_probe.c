/* reg_probe: drives one registration through server/sip/ against a real registrar and prints
 * every registration_event as one JSON line on stdout (logs go to stderr). Used by
 * tests/sip/registration.test.mjs.
 *
 *   reg_probe --port 5099 --uri sip:alice@127.0.0.1 --registrar 127.0.0.1:5070
 *             [--username U] [--transport udp|tcp] [--expires N] [--retry-min N]
 *             [--retry-max N] [--shutdown-timeout N]
 *             [--stop-after-registered] [--run-seconds N] [--shutdown-only] [--free-registered]
 *
 * The password comes from the environment (REG_PROBE_PASSWORD), never from argv. The probe
 * ends after --stop-after-registered (first "registered") or --run-seconds: it calls
 * registration_stop, waits for "unregistered" (at most 5 s), then sip_agent_shutdown; with
 * --shutdown-only it skips registration_stop and lets the shutdown un-REGISTER; with
 * --free-registered it frees the registration while registered (the agent finishes the
 * un-REGISTER) and then shuts down. Other output lines: {"event":"shutdown_done","ms":N},
 * {"event":"error","message":"..."}.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "sip/agent.h"
#include "sip/registration.h"

typedef struct probe {
  GMainLoop *loop;
  sip_agent *agent;
  registration *reg;
  gint64 started;
  bool stop_after_registered, shutdown_only, free_registered, stopping, shut_down;
  GSource *unregister_wait;
} probe;

static void print_json_string(const char *text) {
  putchar('"');
  for (const unsigned char *c = (const unsigned char *)text; c && *c; c++) {
    if (*c == '"' || *c == '\\')
      printf("\\%c", *c);
    else if (*c < 0x20)
      printf("\\u%04x", *c);
    else
      putchar(*c);
  }
  putchar('"');
}

static long elapsed_ms(probe *p) { return (long)((g_get_monotonic_time() - p->started) / 1000); }

static void on_shutdown_done(void *data) {
  probe *p = data;
  printf("{\"event\":\"shutdown_done\",\"ms\":%ld}\n", elapsed_ms(p));
  fflush(stdout);
  g_main_loop_quit(p->loop);
}

static void shut_down(probe *p) {
  if (p->shut_down) return;
  p->shut_down = true;
  if (p->unregister_wait) {
    g_source_destroy(p->unregister_wait);
    g_source_unref(p->unregister_wait);
    p->unregister_wait = NULL;
  }
  sip_agent_shutdown(p->agent, on_shutdown_done, p);
}

static gboolean on_unregister_wait(gpointer data) {
  probe *p = data;
  g_source_unref(p->unregister_wait);
  p->unregister_wait = NULL;
  shut_down(p);
  return G_SOURCE_REMOVE;
}

static GSource *add_timeout(unsigned ms, GSourceFunc fn, void *data) {
  GSource *source = g_timeout_source_new(ms);
  g_source_set_callback(source, fn, data, NULL);
  g_source_attach(source, g_main_loop_get_context(((probe *)data)->loop));
  return source;
}

static gboolean begin_stop(gpointer data) {
  probe *p = data;
  if (p->stopping) return G_SOURCE_REMOVE;
  p->stopping = true;
  if (p->shutdown_only) {
    shut_down(p);
  } else if (p->free_registered) {
    registration_free(p->reg);
    p->reg = NULL;
    shut_down(p);
  } else {
    p->unregister_wait = add_timeout(5000, on_unregister_wait, p);
    registration_stop(p->reg);
  }
  return G_SOURCE_REMOVE;
}

static void on_event(void *data, const registration_event *event) {
  probe *p = data;
  printf("{\"event\":\"registration\",\"t\":%ld,\"key\":", elapsed_ms(p));
  print_json_string(event->key);
  printf(",\"state\":\"%s\",\"code\":%d,\"reason\":", registration_state_name(event->state),
         event->code);
  print_json_string(event->reason);
  printf(",\"expires\":%d,\"retry_in\":%d}\n", event->expires, event->retry_in);
  fflush(stdout);
  if (event->state == REGISTRATION_REGISTERED && p->stop_after_registered && !p->stopping)
    g_source_unref(add_timeout(0, begin_stop, p));
  if (event->state == REGISTRATION_UNREGISTERED && p->stopping) {
    GSource *now = add_timeout(0, on_unregister_wait, p);
    if (p->unregister_wait) {
      g_source_destroy(p->unregister_wait);
      g_source_unref(p->unregister_wait);
    }
    p->unregister_wait = now;
  }
}

typedef struct options {
  int port, expires, retry_min, retry_max, shutdown_timeout, run_seconds;
  const char *uri, *username, *registrar, *transport;
  bool stop_after_registered, shutdown_only, free_registered;
} options;

static bool parse_options(int argc, char **argv, options *o) {
  *o = (options){.expires = 60, .retry_min = 1, .retry_max = 30, .shutdown_timeout = 5,
                 .transport = "udp"};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--stop-after-registered")) o->stop_after_registered = true;
    else if (!strcmp(a, "--shutdown-only")) o->shutdown_only = true;
    else if (!strcmp(a, "--free-registered")) o->free_registered = true;
    else if (!v) return false;
    else if (!strcmp(a, "--port")) o->port = atoi(v), i++;
    else if (!strcmp(a, "--uri")) o->uri = v, i++;
    else if (!strcmp(a, "--username")) o->username = v, i++;
    else if (!strcmp(a, "--registrar")) o->registrar = v, i++;
    else if (!strcmp(a, "--transport")) o->transport = v, i++;
    else if (!strcmp(a, "--expires")) o->expires = atoi(v), i++;
    else if (!strcmp(a, "--retry-min")) o->retry_min = atoi(v), i++;
    else if (!strcmp(a, "--retry-max")) o->retry_max = atoi(v), i++;
    else if (!strcmp(a, "--shutdown-timeout")) o->shutdown_timeout = atoi(v), i++;
    else if (!strcmp(a, "--run-seconds")) o->run_seconds = atoi(v), i++;
    else return false;
  }
  return o->port > 0 && o->uri;
}

static sip_transport transport_of(const char *name) {
  if (!strcmp(name, "tcp")) return SIP_TRANSPORT_TCP;
  if (!strcmp(name, "tls")) return SIP_TRANSPORT_TLS;
  return SIP_TRANSPORT_UDP;
}

static void print_error(const char *message) {
  printf("{\"event\":\"error\",\"message\":");
  print_json_string(message);
  printf("}\n");
  fflush(stdout);
}

int main(int argc, char **argv) {
  options o;
  if (!parse_options(argc, argv, &o)) {
    fprintf(stderr, "usage: see the comment at the top of tests/sip/reg_probe.c\n");
    return 2;
  }
  log_init(LOG_DEBUG);
  config cfg = {0};
  cfg.sip_listen = (config_listen){.host = "127.0.0.1", .port = o.port};
  cfg.user_agent = "tabphone-reg-probe";
  cfg.register_retry_min = o.retry_min;
  cfg.register_retry_max = o.retry_max;
  cfg.shutdown_timeout = o.shutdown_timeout;

  GMainContext *context = g_main_context_new();
  probe p = {.loop = g_main_loop_new(context, FALSE), .started = g_get_monotonic_time(),
             .stop_after_registered = o.stop_after_registered,
             .shutdown_only = o.shutdown_only, .free_registered = o.free_registered};
  char err[256];
  p.agent = sip_agent_new(&cfg, context, err, sizeof err);
  if (!p.agent) {
    print_error(err);
    return 1;
  }
  registration_params params = {.key = "probe", .uri = o.uri, .username = o.username,
                                .password = getenv("REG_PROBE_PASSWORD"),
                                .registrar = o.registrar, .transport = transport_of(o.transport),
                                .expires = o.expires};
  p.reg = registration_new(p.agent, &params, on_event, &p, err, sizeof err);
  if (!p.reg) {
    print_error(err);
    sip_agent_free(p.agent);
    return 1;
  }
  registration_start(p.reg);
  if (o.run_seconds > 0) g_source_unref(add_timeout((unsigned)o.run_seconds * 1000, begin_stop, &p));
  g_main_loop_run(p.loop);
  registration_free(p.reg);
  sip_agent_free(p.agent);
  g_main_loop_unref(p.loop);
  g_main_context_unref(context);
  printf("{\"event\":\"exit\",\"ms\":%ld}\n", elapsed_ms(&p));
  return 0;
}
