/* server: the libwebsockets context on the control thread's GMainLoop, its listeners, and the
 * one lws callback that hands each event to request.c or websocket.c.
 *
 * libwebsockets 4.1.6 facts this file is shaped by (design.md §7):
 *  - the context runs on our GMainLoop through the glib event-lib plugin, which lws loads at
 *    runtime; it needs LWS_SERVER_OPTION_GLIB plus foreign_loops = { loop };
 *  - with EXPLICIT_VHOSTS we create one vhost per listener; a TLS vhost must carry
 *    DO_SSL_GLOBAL_INIT in its own options or it quietly serves plain HTTP;
 *  - a WebSocket without a subprotocol lands on protocols[0], so protocols[0] is ours and
 *    serves HTTP and /ws alike;
 *  - the vhost keeps pointers to the iface strings we pass, so they live in the server;
 *  - when bind fails lws only says "vhost creation failed", so we try the bind ourselves first
 *    and report errno, and load the certificate with OpenSSL first for a readable error.
 * ALPN offers http/1.1 only: WebSockets over HTTP/2 would need lws paths we do not test.
 *
 * Ownership: the server owns the context, its copies of config strings and every ws_conn. */
#include "http/private.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"

enum {
  WS_RX_BUFFER = 16 * 1024,
  WS_PING_AFTER_IDLE_SECONDS = 30,  /* no traffic for this long: lws sends a PING */
  WS_HANGUP_AFTER_IDLE_SECONDS = 75, /* ...and drops a peer that stayed silent this long */
  DESTROY_MAX_ITERATIONS = 1000,
  SHUTDOWN_CLOSE_WAIT_MS = 500, /* how long open WebSockets get to finish their close handshake */
};

#define GLIB_EVLIB_PLUGIN "libwebsockets-evlib_glib.so" /* its SONAME, as lws loaded it */

#define CSP                                                                                     \
  "default-src 'self'; connect-src 'self' wss: ws:; img-src 'self' data:; "                      \
  "media-src 'self' blob:; style-src 'self'; script-src 'self'; object-src 'none'; "             \
  "base-uri 'none'; frame-ancestors 'none'"

/* Canned headers lws adds to every response of a vhost (a singly linked list). */
static const struct lws_protocol_vhost_options header_csp = {
    NULL, NULL, "content-security-policy:", CSP};
static const struct lws_protocol_vhost_options header_nosniff = {
    &header_csp, NULL, "x-content-type-options:", "nosniff"};
static const struct lws_protocol_vhost_options header_referrer = {
    &header_nosniff, NULL, "referrer-policy:", "no-referrer"};
static const struct lws_protocol_vhost_options header_hsts = {
    &header_referrer, NULL, "strict-transport-security:", "max-age=31536000"};

/* Keepalive: lws 4.1 has no ws_ping_pong_interval any more; the vhost's retry/idle policy
 * drives PING on idle connections and hangs up on peers that do not answer. */
static const lws_retry_bo_t keepalive_policy = {
    .secs_since_valid_ping = WS_PING_AFTER_IDLE_SECONDS,
    .secs_since_valid_hangup = WS_HANGUP_AFTER_IDLE_SECONDS,
};

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len);

static const struct lws_protocols protocols[] = {
    {"tabphone", http_callback, sizeof(http_slot), WS_RX_BUFFER, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len) {
  http_server *server = lws_context_user(lws_get_context(wsi));
  http_slot *slot = user;

  switch (reason) {
  case LWS_CALLBACK_HTTP:
    return http_request_handle(server, wsi, slot);
  case LWS_CALLBACK_HTTP_WRITEABLE:
    return http_file_writeable(wsi, slot);
  case LWS_CALLBACK_CLOSED_HTTP:
  case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    /* A streamed file's descriptor must not outlive its connection (or its slot, which lws
     * frees when it drops the protocol). */
    http_file_abort(slot);
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
    return ws_confirm_upgrade(server, wsi, in);
  case LWS_CALLBACK_ESTABLISHED:
    return ws_established(server, wsi, slot);
  case LWS_CALLBACK_RECEIVE:
    return slot && slot->conn ? ws_receive(slot->conn, in, len) : -1;
  case LWS_CALLBACK_SERVER_WRITEABLE:
    return slot && slot->conn ? ws_writeable(slot->conn) : 0;
  case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
    if (slot && slot->conn)
      ws_peer_closing(slot->conn, in, len);
    return 0; /* lws answers the close itself */
  case LWS_CALLBACK_CLOSED:
    if (slot)
      ws_closed(slot);
    return 0;
  default:
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  }
}

/* lws's own log lines, reduced to errors and warnings, into ours. */
static void lws_log_emit(int level, const char *line) {
  char text[512];
  size_t n = strnlen(line, sizeof(text) - 1);
  memcpy(text, line, n);
  while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
    n--;
  text[n] = '\0';
  log_event(level & LLL_ERR ? LOG_ERROR : LOG_WARN, "http", "lws", NULL, "%s", text);
}

/* "127.0.0.1:8443" or "[::1]:8443", as a user wrote it in the config. */
static void format_listen(const config_listen *l, char *out, size_t out_len) {
  if (strchr(l->host, ':'))
    snprintf(out, out_len, "[%s]:%d", l->host, l->port);
  else
    snprintf(out, out_len, "%s:%d", l->host, l->port);
}

static void lowercase_first(char *text) {
  if (text[0])
    text[0] = (char)tolower((unsigned char)text[0]);
}

/* Binds (and releases) the address ourselves, so "port in use" comes back as errno text. */
static bool check_bindable(const config_listen *l, char *err, size_t err_len) {
  struct sockaddr_storage ss = {0};
  socklen_t ss_len;
  char where[300];
  int one = 1;

  format_listen(l, where, sizeof(where));
  struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, l->host, &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)l->port);
    ss_len = sizeof(*sin);
  } else if (inet_pton(AF_INET6, l->host, &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)l->port);
    ss_len = sizeof(*sin6);
  } else {
    snprintf(err, err_len, "listen %s: not a numeric IP address", where);
    return false;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
      bind(fd, (struct sockaddr *)&ss, ss_len) != 0) {
    char reason[128];
    snprintf(reason, sizeof(reason), "%s", strerror(errno));
    lowercase_first(reason);
    snprintf(err, err_len, "listen %s: %s", where, reason);
    if (fd >= 0)
      close(fd);
    return false;
  }
  close(fd);
  return true;
}

/* Loads certificate and key with OpenSSL the way lws will, to report what is wrong. */
static bool check_certificate(const config *cfg, const char *where, char *err, size_t err_len) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  const char *what = "certificate";
  const char *file = cfg->cert_file;
  bool ok = ctx && cfg->cert_file && cfg->key_file;

  ERR_clear_error();
  if (ok && SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1)
    ok = false;
  if (ok && (SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1 ||
             SSL_CTX_check_private_key(ctx) != 1)) {
    what = "key"; /* unreadable, or not the certificate's key */
    file = cfg->key_file;
    ok = false;
  }
  if (!ok) {
    unsigned long code = ERR_get_error();
    const char *reason = code ? ERR_reason_error_string(code) : NULL;
    snprintf(err, err_len, "listen %s: %s %s: %s", where, what, file ? file : "(not set)",
             reason ? reason : "cannot be loaded");
  }
  ERR_clear_error();
  SSL_CTX_free(ctx);
  return ok;
}

static bool is_wildcard(const char *host) {
  return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

/* One vhost = one listener. host is the server's own copy (lws keeps the pointer). */
static bool add_vhost(http_server *server, const config *cfg, const config_listen *l,
                      const char *host, bool tls, int index, char *err, size_t err_len) {
  struct lws_context_creation_info info;
  char where[300], name[32];

  format_listen(l, where, sizeof(where));
  if (!check_bindable(l, err, err_len))
    return false;
  if (tls && !check_certificate(cfg, where, err, err_len))
    return false;

  memset(&info, 0, sizeof(info));
  snprintf(name, sizeof(name), "%s-%d", tls ? "https" : "http", index);
  info.vhost_name = name; /* copied by lws */
  info.port = l->port;
  /* A wildcard is "no iface" to lws; an explicit address binds that address only. */
  info.iface = is_wildcard(host) ? NULL : host;
  info.protocols = protocols;
  info.headers = tls ? &header_hsts : &header_referrer;
  info.retry_and_idle_policy = &keepalive_policy;
  info.alpn = "http/1.1";
  info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
  if (!strchr(l->host, ':'))
    info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
  else
    info.options |= LWS_SERVER_OPTION_IPV6_V6ONLY_MODIFY | LWS_SERVER_OPTION_IPV6_V6ONLY_VALUE;
  if (tls) {
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.ssl_cert_filepath = cfg->cert_file;
    info.ssl_private_key_filepath = cfg->key_file;
  }
  if (!lws_create_vhost(server->context, &info)) {
    snprintf(err, err_len, "listen %s: libwebsockets could not start this listener", where);
    return false;
  }
  log_debug("http", NULL, NULL, "vhost %s listening on %s://%s", name, tls ? "https" : "http",
            where);
  return true;
}

static bool add_listeners(http_server *server, const config *cfg, char *err, size_t err_len) {
  size_t total = cfg->listen_count + cfg->http_listen_count;
  server->listen_hosts = g_new0(char *, total + 1);
  for (size_t i = 0; i < total; i++) {
    bool tls = i < cfg->listen_count;
    const config_listen *l = tls ? &cfg->listen[i] : &cfg->http_listen[i - cfg->listen_count];
    server->listen_hosts[i] = g_strdup(l->host);
    if (!add_vhost(server, cfg, l, server->listen_hosts[i], tls, (int)i, err, err_len))
      return false;
  }
  if (total == 0) {
    snprintf(err, err_len, "http: no listen address configured");
    return false;
  }
  return true;
}

static bool create_context(http_server *server, GMainLoop *loop, char *err, size_t err_len) {
  struct lws_context_creation_info info;

  memset(&info, 0, sizeof(info));
  server->foreign_loops[0] = loop;
  info.options = LWS_SERVER_OPTION_GLIB | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                 LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  info.foreign_loops = server->foreign_loops;
  info.pcontext = &server->context;
  info.user = server;
  info.server_string = "tabphone";
  info.port = CONTEXT_PORT_NO_LISTEN;
  server->context = lws_create_context(&info);
  if (!server->context) {
    snprintf(err, err_len, "http: libwebsockets cannot run on the glib main loop "
                           "(is the libwebsockets-evlib-glib plugin installed?)");
    return false;
  }
  /* lws_context_destroy dlcloses the glib plugin, but the GMainContext may still hold a
   * reference to one of its GSources (stop_now runs from a dispatch, whose list of ready
   * sources is released afterwards): the last unref then reads the unmapped GSourceFuncs and
   * crashes. Pin the plugin in memory for the life of the process. */
  void *plugin = dlopen(GLIB_EVLIB_PLUGIN, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
  if (plugin)
    dlclose(plugin);
  else
    log_warn("http", NULL, NULL, "could not pin %s in memory", GLIB_EVLIB_PLUGIN);
  return true;
}

static bool copy_config(http_server *server, const config *cfg, char *err, size_t err_len) {
  char root[PATH_MAX];
  if (!cfg->web_root || !realpath(cfg->web_root, root)) {
    char reason[128];
    snprintf(reason, sizeof(reason), "%s", strerror(cfg->web_root ? errno : EINVAL));
    lowercase_first(reason);
    snprintf(err, err_len, "web_root %s: %s", cfg->web_root ? cfg->web_root : "(not set)",
             reason);
    return false;
  }
  server->web_root = g_strdup(root);
  server->allowed_origins =
      cfg->allowed_origins ? g_strdupv(cfg->allowed_origins) : g_new0(char *, 1);
  server->metrics_allow = cfg->metrics_allow ? g_strdupv(cfg->metrics_allow) : g_new0(char *, 1);
  return true;
}

http_server *http_server_new(const config *cfg, GMainLoop *loop, const ws_handlers *handlers,
                             char *err, size_t err_len) {
  http_server *server = g_new0(http_server, 1);
  server->handlers = *handlers;
  g_queue_init(&server->connections);

  lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
  if (!copy_config(server, cfg, err, err_len) || !create_context(server, loop, err, err_len) ||
      !add_listeners(server, cfg, err, err_len)) {
    http_server_free(server);
    return NULL;
  }
  return server;
}

/* lws finishes tearing down glib sources from the loop; run it until lws says it is done
 * (it writes server->context = NULL through info.pcontext), bounded in case it never does. */
static void destroy_context(http_server *server) {
  if (!server->context)
    return;
  lws_context_destroy(server->context);
  GMainContext *main_context = g_main_loop_get_context(server->foreign_loops[0]);
  for (int i = 0; server->context && i < DESTROY_MAX_ITERATIONS; i++)
    g_main_context_iteration(main_context, FALSE);
  if (server->context)
    log_warn("http", NULL, NULL, "libwebsockets did not finish shutting down");
}

void http_server_free(http_server *server) {
  if (!server)
    return;
  server->stopping = true;
  if (server->context)
    ws_close_all(server, SHUTDOWN_CLOSE_WAIT_MS);
  destroy_context(server);
  ws_forget_all(server);
  g_free(server->web_root);
  g_strfreev(server->allowed_origins);
  g_strfreev(server->metrics_allow);
  g_strfreev(server->listen_hosts);
  g_free(server);
}
