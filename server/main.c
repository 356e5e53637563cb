/* tabphone: place and take phone calls from a browser tab through any SIP provider.
 *
 * main owns the process: command line, configuration, the control thread's GMainLoop, the
 * order in which layers start and stop, and signals. Startup order: config -> log -> sip agent
 * (binds SIP) -> media engine (workers, DTLS certificate) -> hub (server account
 * registrations) -> http (binds HTTPS/WSS) -> first REGISTERs.
 * Shutdown (SIGINT/SIGTERM) first drains (no new calls or logins; calls in progress may finish
 * for up to [shutdown] drain_seconds), then runs in reverse: close every WebSocket (sessions free their own
 * registrations, their calls end), free the calls and server registrations, stop the media
 * workers, let the SIP agent un-REGISTER everything
 * (bounded by [sip] shutdown_timeout), then free what is left. A second signal exits at once.
 *
 * Exit status: 0 clean stop, 1 runtime failure, 2 configuration or startup error. */
#include <errno.h>
#include <glib-unix.h>
#include <glib.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "auth/password.h"
#include "auth/token.h"
#include "core/config.h"
#include "core/log.h"
#include "http/server.h"
#include "media/media.h"
#include "signal/hub.h"
#include "sip/agent.h"

extern char **environ;

enum { EXIT_CONFIG = 2 };

/* Everything the running process owns; lives on main's stack. */
typedef struct process {
  config cfg;
  GMainLoop *loop;
  sip_agent *agent;
  media_engine *media;
  hub *hub;
  http_server *http;
  bool draining;     /* first signal: calls may finish ([shutdown] drain_seconds) */
  guint drain_timer; /* ends the drain when drain_seconds are over */
  bool stopping;     /* the stop itself: sessions closed, BYE, un-REGISTER, exit */
} process;

static void print_usage(FILE *out) {
  fputs("usage: tabphone [--config FILE] [--check-config] [--version] [--help]\n"
        "       tabphone --hash-password   (reads a password from stdin, prints its hash)\n"
        "       tabphone [--config FILE] --make-token USER [--expires SECONDS] [--accounts a,b]\n"
        "\n"
        "  --config FILE    INI configuration (see tabphone.conf.example); without it the\n"
        "                   embedded defaults run: https://localhost:8443/, open mode on loopback\n"
        "  --check-config   validate the configuration and exit (status 0 ok, 2 bad)\n"
        "  --hash-password  print a password_hash for a [user] section\n"
        "  --make-token     print a login token for USER signed with [server] token_secret,\n"
        "                   valid for --expires seconds (default 3600), optionally limited to\n"
        "                   --accounts (comma-separated)\n"
        "  --version        print the version\n"
        "\n"
        "Environment: TABPHONE_<SECTION>_<KEY> overrides a key, e.g. TABPHONE_SERVER_LISTEN,\n"
        "TABPHONE_ACCOUNT_<NAME>_PASSWORD.\n",
        out);
}

/* Reads one line without echo when stdin is a terminal. */
static bool read_password(char *buf, size_t len) {
  bool tty = isatty(STDIN_FILENO);
  struct termios saved, quiet;
  if (tty) {
    fputs("password: ", stderr);
    tcgetattr(STDIN_FILENO, &saved);
    quiet = saved;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  bool ok = fgets(buf, (int)len, stdin) != NULL;
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    fputs("\n", stderr);
  }
  if (ok) buf[strcspn(buf, "\r\n")] = '\0';
  return ok && buf[0] != '\0';
}

static int hash_password_command(void) {
  char password[1024];
  char hash[256];
  if (!read_password(password, sizeof password)) {
    fputs("tabphone: no password given on stdin\n", stderr);
    return EXIT_CONFIG;
  }
  bool ok = password_hash(password, PASSWORD_DEFAULT_ITERATIONS, hash, sizeof hash);
  OPENSSL_cleanse(password, sizeof password);
  if (!ok) {
    fputs("tabphone: could not hash the password\n", stderr);
    return 1;
  }
  printf("%s\n", hash);
  return 0;
}

/* The command options of --make-token. */
typedef struct token_request {
  const char *user;
  long expires;         /* seconds from now */
  const char *accounts; /* "a,b" or NULL */
} token_request;

static int make_token_command(const config *cfg, const token_request *req) {
  if (!cfg->token_secret) {
    fputs("tabphone: --make-token needs [server] token_secret in the configuration\n", stderr);
    return EXIT_CONFIG;
  }
  if (!config_find_user(cfg, req->user)) {
    fprintf(stderr, "tabphone: no [user %s] in the configuration\n", req->user);
    return EXIT_CONFIG;
  }
  char **accounts = req->accounts ? g_strsplit(req->accounts, ",", -1) : NULL;
  for (char **a = accounts; a && *a; a++) {
    g_strstrip(*a);
    if (!config_user_may_use(cfg, config_find_user(cfg, req->user), *a)) {
      fprintf(stderr, "tabphone: user %s may not use account '%s'\n", req->user, *a);
      g_strfreev(accounts);
      return EXIT_CONFIG;
    }
  }
  int64_t exp = g_get_real_time() / G_USEC_PER_SEC + req->expires;
  char *token = token_make(cfg->token_secret, req->user, exp, accounts);
  g_strfreev(accounts);
  if (!token) return 1;
  printf("%s\n", token);
  g_free(token);
  return 0;
}

/* ---- shutdown ---------------------------------------------------------------------------- */

static void on_sip_shutdown_done(void *user_data) {
  process *p = user_data;
  g_main_loop_quit(p->loop);
}

/* The stop proper: calls still up get BYE (503 "server shutting down" to their tabs), every
 * WebSocket closes, registrations are un-REGISTERed (bounded by [sip] shutdown_timeout). */
static void stop_now(process *p) {
  if (p->stopping) return;
  p->stopping = true;
  if (p->drain_timer) g_source_remove(p->drain_timer);
  p->drain_timer = 0;
  log_info("main", NULL, NULL, "stopping: closing sessions and unregistering accounts");
  hub_stop_sessions(p->hub); /* no detaching from here on; detached tabs' calls end now */
  http_server_free(p->http); /* closes every WebSocket; sessions release their registrations */
  p->http = NULL;
  hub_free(p->hub);
  p->hub = NULL;
  media_engine_free(p->media);
  p->media = NULL;
  sip_agent_shutdown(p->agent, on_sip_shutdown_done, p);
}

static void on_drained(void *user_data) {
  process *p = user_data;
  log_info("main", NULL, NULL, "drain: every call has ended");
  stop_now(p);
}

static gboolean on_drain_over(gpointer user_data) {
  process *p = user_data;
  p->drain_timer = 0;
  log_info("main", NULL, NULL, "drain: %d s are over, ending the calls still up",
           p->cfg.drain_seconds);
  stop_now(p);
  return G_SOURCE_REMOVE;
}

/* SIGINT / SIGTERM. The first starts the drain: no new calls or logins, calls in progress may
 * go on for up to [shutdown] drain_seconds (0 = no drain). The next one ends the drain at once
 * (the usual clean stop follows); one more during the stop exits without waiting. */
static gboolean on_stop_signal(gpointer user_data) {
  process *p = user_data;
  if (p->stopping) {
    log_warn("main", NULL, NULL, "another signal: exiting without waiting");
    _exit(1);
  }
  if (p->draining || p->cfg.drain_seconds <= 0) {
    if (p->draining) log_info("main", NULL, NULL, "second signal: ending the drain now");
    stop_now(p);
    return G_SOURCE_CONTINUE; /* a further signal must still be seen */
  }
  p->draining = true;
  log_info("main", NULL, NULL, "draining: no new calls or logins; waiting up to %d s for the "
           "calls in progress to end (a second signal stops at once)", p->cfg.drain_seconds);
  p->drain_timer = g_timeout_add((guint)p->cfg.drain_seconds * 1000u, on_drain_over, p);
  hub_start_drain(p->hub, on_drained, p); /* on_drained at once when no call is up */
  return G_SOURCE_CONTINUE;
}

/* ---- startup ----------------------------------------------------------------------------- */

static void log_startup(const config *cfg) {
  for (size_t i = 0; i < cfg->listen_count; i++) {
    const config_listen *l = &cfg->listen[i];
    bool v6 = strchr(l->host, ':') != NULL;
    log_info("main", NULL, NULL, "listening on https://%s%s%s:%d/", v6 ? "[" : "", l->host,
             v6 ? "]" : "", l->port);
  }
  for (size_t i = 0; i < cfg->http_listen_count; i++)
    log_info("main", NULL, NULL, "plain HTTP (tests only) on http://%s:%d/",
             cfg->http_listen[i].host, cfg->http_listen[i].port);
  if (config_open_mode(cfg))
    log_info("main", NULL, NULL, "open mode: no login (allowed because every listener is on "
             "loopback); add [user] sections to serve other machines");
  log_info("main", NULL, NULL, "SIP on %s:%d, %zu account(s), %zu user(s), web root %s",
           cfg->sip_listen.host, cfg->sip_listen.port, cfg->account_count, cfg->user_count,
           cfg->web_root);
}

static int run(process *p) {
  char err[512];
  GMainContext *context = g_main_context_default();
  p->loop = g_main_loop_new(context, FALSE);

  p->agent = sip_agent_new(&p->cfg, context, err, sizeof err);
  if (!p->agent) {
    fprintf(stderr, "tabphone: %s\n", err);
    return EXIT_CONFIG;
  }
  p->media = media_engine_new(&p->cfg, context, err, sizeof err);
  if (!p->media) {
    fprintf(stderr, "tabphone: %s\n", err);
    sip_agent_shutdown(p->agent, on_sip_shutdown_done, p);
    g_main_loop_run(p->loop);
    sip_agent_free(p->agent);
    g_main_loop_unref(p->loop);
    return EXIT_CONFIG;
  }
  p->hub = hub_new(&p->cfg, p->agent, p->media);
  ws_handlers handlers = hub_ws_handlers(p->hub);
  p->http = http_server_new(&p->cfg, p->loop, &handlers, err, sizeof err);
  if (!p->http) {
    fprintf(stderr, "tabphone: %s\n", err);
    hub_free(p->hub);
    media_engine_free(p->media);
    sip_agent_shutdown(p->agent, on_sip_shutdown_done, p);
    g_main_loop_run(p->loop);
    sip_agent_free(p->agent);
    g_main_loop_unref(p->loop);
    return EXIT_CONFIG;
  }
  log_startup(&p->cfg);
  hub_start(p->hub);

  guint sigint = g_unix_signal_add(SIGINT, on_stop_signal, p);
  guint sigterm = g_unix_signal_add(SIGTERM, on_stop_signal, p);
  g_main_loop_run(p->loop);
  g_source_remove(sigint);
  g_source_remove(sigterm);

  sip_agent_free(p->agent);
  g_main_loop_unref(p->loop);
  log_info("main", NULL, NULL, "stopped");
  return 0;
}

/* GLib before 2.76 hands GObject and libnice allocations to its slice allocator, which keeps
 * freed slices in per-thread magazines with no way to give them back while the thread lives.
 * Our media workers live as long as the process, so after a burst of calls those magazines
 * pinned about 0.5 MB of pages for good (scripts/soak: RSS stayed >10 % above its baseline).
 * G_SLICE=always-malloc makes GLib 2.74 behave as 2.76 does (plain malloc, which malloc_trim
 * can release), but GLib reads it in its library constructor, before main: so when it is unset,
 * set it and re-execute ourselves once. An operator's own G_SLICE is respected; if the re-exec
 * fails we simply run with the slice allocator. */
static void prefer_system_malloc_over_gslice(char **argv) {
  if (glib_check_version(2, 76, 0) == NULL || getenv("G_SLICE")) return;
  if (setenv("G_SLICE", "always-malloc", 1) != 0) return;
  execv("/proc/self/exe", argv);
}

int main(int argc, char **argv) {
  prefer_system_malloc_over_gslice(argv);
  const char *config_path = NULL;
  bool check_only = false;
  token_request token = {.expires = 3600};
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--config") == 0 && i + 1 < argc) {
      config_path = argv[++i];
    } else if (strncmp(arg, "--config=", 9) == 0) {
      config_path = arg + 9;
    } else if (strcmp(arg, "--check-config") == 0) {
      check_only = true;
    } else if (strcmp(arg, "--version") == 0) {
      printf("tabphone %s\n", TABPHONE_VERSION);
      return 0;
    } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      print_usage(stdout);
      return 0;
    } else if (strcmp(arg, "--hash-password") == 0) {
      return hash_password_command();
    } else if (strcmp(arg, "--make-token") == 0 && i + 1 < argc) {
      token.user = argv[++i];
    } else if (strcmp(arg, "--expires") == 0 && i + 1 < argc) {
      char *end;
      token.expires = strtol(argv[++i], &end, 10);
      if (*end || token.expires < 1 || token.expires > 366L * 86400) {
        fputs("tabphone: --expires takes seconds from 1 to 31622400\n", stderr);
        return EXIT_CONFIG;
      }
    } else if (strcmp(arg, "--accounts") == 0 && i + 1 < argc) {
      token.accounts = argv[++i];
    } else {
      fprintf(stderr, "tabphone: unknown argument '%s'\n", arg);
      print_usage(stderr);
      return EXIT_CONFIG;
    }
  }

  process p = {0};
  char err[768];
  if (!config_load(&p.cfg, config_path, environ, err, sizeof err)) {
    fprintf(stderr, "tabphone: %s\n", err);
    return EXIT_CONFIG;
  }
  if (token.user) {
    int rc = make_token_command(&p.cfg, &token);
    config_free(&p.cfg);
    return rc;
  }
  if (check_only) {
    printf("%s: configuration OK (%zu account(s), %zu user(s)%s)\n",
           config_path ? config_path : "embedded defaults", p.cfg.account_count,
           p.cfg.user_count, config_open_mode(&p.cfg) ? ", open mode on loopback" : "");
    config_free(&p.cfg);
    return 0;
  }
  signal(SIGPIPE, SIG_IGN); /* a peer closing a socket must not kill the process */
  log_init(p.cfg.log_level);
  int status = run(&p);
  config_free(&p.cfg);
  return status;
}
