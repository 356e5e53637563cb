/* request: one plain HTTP request on protocols[0] (LWS_CALLBACK_HTTP).
 *
 * GET/HEAD /healthz  -> the JSON the app builds (health_json), never cached.
 * GET/HEAD /metrics  -> Prometheus text: the app's gauges (metrics_text) and every counter of
 *                       core/metrics.h, never cached; only to sources inside [server]
 *                       metrics_allow (default loopback), 403 to everyone else. It tells an
 *                       outsider how busy the server is and how often logins fail, so it is
 *                       not public like /healthz.
 * GET/HEAD anything  -> a file under web_root, through static_files (which owns every
 *                       decision about paths), sent by serve_file below.
 * any other method   -> 405, and the connection is closed (its body, if any, is never read).
 *
 * The security headers (CSP, nosniff, Referrer-Policy, HSTS on TLS) are not added here: they
 * are the vhost's canned headers (server.c), which lws puts on every response it starts with
 * lws_add_http_header_status, including ours and lws's own error pages.
 *
 * Why files are not sent with lws_serve_http_file: in libwebsockets 4.1.6 it builds the
 * response headers in the per-thread pt->serv_buf, which is also the buffer lws has just read
 * the request into. Whatever followed the request in that read (the next request on a
 * keep-alive connection) is only copied to the connection's buflist after our LWS_CALLBACK_HTTP
 * returns, so it is copied already overwritten by the header text; the parser then sees an
 * unknown method and answers 403 and closes (lib/roles/http/server/server.c
 * lws_serve_http_file; lib/roles/h1/ops-h1.c lws_h1_server_socket_service; parsers.c
 * "Unknown method - dropping" -> forbid). Every response here is therefore built in memory we
 * own, never in pt->serv_buf. */
#include "http/private.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/sip_screen.h"
#include "core/log.h"
#include "core/metrics.h"
#include "http/static_files.h"

enum {
  MAX_URI = 4096,
  RESPONSE_HEADROOM = 2048,
  /* Files up to this size go out in one write like any other response (all of web/ does);
   * larger ones are streamed in chunks of FILE_CHUNK so memory stays bounded. */
  SMALL_FILE_MAX = 256 * 1024,
  FILE_CHUNK = 16 * 1024,
};

typedef enum { METHOD_GET, METHOD_HEAD, METHOD_OTHER } http_method;

void http_printable(const char *text, char *out, size_t out_len) {
  size_t o = 0;
  if (out_len == 0)
    return;
  for (const unsigned char *p = (const unsigned char *)text; *p && o + 1 < out_len; p++)
    out[o++] = (*p < 0x20 || *p >= 0x7f) ? '?' : (char)*p;
  out[o] = '\0';
}

void http_peer_address(struct lws *wsi, char *out, size_t out_len) {
  struct sockaddr_storage ss;
  socklen_t ss_len = sizeof(ss);
  char ip[INET6_ADDRSTRLEN] = "?";
  unsigned int port = 0;

  snprintf(out, out_len, "?");
  if (getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&ss, &ss_len) != 0)
    return;
  if (ss.ss_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
    port = ntohs(sin->sin_port);
    snprintf(out, out_len, "%s:%u", ip, port);
  } else if (ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
    port = ntohs(sin6->sin6_port);
    /* An IPv4 client of a dual-stack socket reads better as plain IPv4. */
    if (strncmp(ip, "::ffff:", 7) == 0 && strchr(ip + 7, '.'))
      snprintf(out, out_len, "%s:%u", ip + 7, port);
    else
      snprintf(out, out_len, "[%s]:%u", ip, port);
  }
}

static bool add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                       unsigned char *end) {
  return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                     (const unsigned char *)value, (int)strlen(value), p,
                                     end) == 0;
}

static bool is_head(struct lws *wsi) { return lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0; }

/* Finishes a response the way the caller asked; returns what the lws callback must return. */
static int finish(struct lws *wsi, http_after after) {
  switch (after) {
  case HTTP_AFTER_CLOSE:
    return -1;
  case HTTP_AFTER_NOTHING:
    return 1;
  case HTTP_AFTER_KEEP_ALIVE:
    break;
  }
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* A complete small response (status page, /healthz) in one write: headers and body fit in one
 * buffer, so no writeable callback is needed. HEAD gets the same headers and no body. */
int http_respond(struct lws *wsi, unsigned int status, const char *content_type,
                 const char *cache_control, const char *body, size_t body_len, http_after after) {
  size_t size = LWS_PRE + RESPONSE_HEADROOM + body_len;
  unsigned char *buf = malloc(size);
  unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + size;
  char length[24];
  bool head = is_head(wsi);

  if (!buf)
    return -1;
  snprintf(length, sizeof(length), "%zu", body_len);
  bool ok = lws_add_http_header_status(wsi, status, &p, end) == 0 &&
            add_header(wsi, "content-type:", content_type, &p, end) &&
            add_header(wsi, "content-length:", length, &p, end) &&
            add_header(wsi, "cache-control:", cache_control, &p, end) &&
            (status != 405 || add_header(wsi, "allow:", "GET, HEAD", &p, end)) &&
            (after != HTTP_AFTER_CLOSE || add_header(wsi, "connection:", "close", &p, end)) &&
            lws_finalize_http_header(wsi, &p, end) == 0;
  if (ok && !head) {
    memcpy(p, body, body_len);
    p += body_len;
  }
  /* One plain LWS_WRITE_HTTP for headers and body: over HTTP/1.1 (the only ALPN we offer) lws
   * 4.1.6 only counts body bytes against a content-length it set itself
   * (lws_add_http_header_content_length, not used here), so this is a raw write and leaves no
   * accounting behind for the next transaction. */
  ok = ok && lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP) == (int)(p - start);
  free(buf);
  return ok ? finish(wsi, after) : -1;
}

static int respond_status(struct lws *wsi, unsigned int status, http_after after) {
  char body[64];
  const char *text = status == 400   ? "bad request"
                     : status == 403 ? "forbidden"
                     : status == 404 ? "not found"
                     : status == 405 ? "method not allowed"
                                     : "error";
  int n = snprintf(body, sizeof(body), "%u %s\n", status, text);
  return http_respond(wsi, status, "text/plain; charset=utf-8", "no-store", body, (size_t)n,
                      after);
}

static int serve_health(http_server *server, struct lws *wsi) {
  char *json = server->handlers.health_json ? server->handlers.health_json(server->handlers.app)
                                            : strdup("{\"status\":\"ok\"}");
  if (!json)
    return respond_status(wsi, 500, HTTP_AFTER_KEEP_ALIVE);
  int rc = http_respond(wsi, 200, "application/json", "no-store", json, strlen(json),
                        HTTP_AFTER_KEEP_ALIVE);
  free(json);
  return rc;
}

/* The connection's source address without port ("127.0.0.1", "::1", "::ffff:10.0.0.1"), for
 * matching against address lists; false when the socket cannot say. */
static bool peer_ip(struct lws *wsi, char *ip, size_t ip_len) {
  struct sockaddr_storage ss;
  socklen_t ss_len = sizeof(ss);
  if (getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&ss, &ss_len) != 0)
    return false;
  if (ss.ss_family == AF_INET)
    return inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, (socklen_t)ip_len);
  if (ss.ss_family == AF_INET6)
    return inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, (socklen_t)ip_len);
  return false;
}

static int serve_metrics(http_server *server, struct lws *wsi, const char *peer) {
  char ip[INET6_ADDRSTRLEN];
  if (!peer_ip(wsi, ip, sizeof(ip)) || !sip_screen_source_allowed(server->metrics_allow, ip)) {
    log_info("http", NULL, peer, "refused /metrics: source not in [server] metrics_allow");
    return respond_status(wsi, 403, HTTP_AFTER_KEEP_ALIVE);
  }
  GString *body = g_string_sized_new(4096);
  if (server->handlers.metrics_text)
    server->handlers.metrics_text(server->handlers.app, body);
  metrics_render(body);
  int rc = http_respond(wsi, 200, "text/plain; version=0.0.4; charset=utf-8", "no-store",
                        body->str, body->len, HTTP_AFTER_KEEP_ALIVE);
  g_string_free(body, TRUE);
  return rc;
}

/* Reads all of a small file (size known from fstat) into a new buffer. */
static char *read_whole(int fd, size_t size) {
  char *body = malloc(size ? size : 1);
  size_t got = 0;
  while (body && got < size) {
    ssize_t n = read(fd, body + got, size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) { /* error, or the file shrank under us */
      free(body);
      return NULL;
    }
    got += (size_t)n;
  }
  return body;
}

void http_file_abort(http_slot *slot) {
  if (slot && slot->file.open) {
    close(slot->file.fd);
    slot->file.open = false;
  }
}

/* Headers of a streamed file, then the body from HTTP_WRITEABLE. */
static int start_stream(struct lws *wsi, http_slot *slot, int fd, off_t size, const char *file) {
  unsigned char buf[LWS_PRE + RESPONSE_HEADROOM];
  unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf);
  char length[24];

  snprintf(length, sizeof(length), "%lld", (long long)size);
  if (lws_add_http_header_status(wsi, 200, &p, end) != 0 ||
      !add_header(wsi, "content-type:", static_files_content_type(file), &p, end) ||
      !add_header(wsi, "content-length:", length, &p, end) ||
      !add_header(wsi, "cache-control:", static_files_cache_control(file), &p, end) ||
      lws_finalize_http_header(wsi, &p, end) != 0 ||
      lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS) != (int)(p - start)) {
    close(fd);
    return -1;
  }
  if (is_head(wsi)) {
    close(fd);
    return finish(wsi, HTTP_AFTER_KEEP_ALIVE);
  }
  slot->file = (http_file_stream){.open = true, .fd = fd, .left = size};
  lws_callback_on_writable(wsi);
  return 0;
}

int http_file_writeable(struct lws *wsi, http_slot *slot) {
  if (!slot || !slot->file.open)
    return 0;
  unsigned char *buf = malloc(LWS_PRE + FILE_CHUNK);
  if (!buf) {
    http_file_abort(slot);
    return -1;
  }
  size_t want = slot->file.left < FILE_CHUNK ? (size_t)slot->file.left : FILE_CHUNK;
  ssize_t n;
  do
    n = read(slot->file.fd, buf + LWS_PRE, want);
  while (n < 0 && errno == EINTR);
  /* The headers promised slot->file.left more bytes: a short file can only end the
   * connection, never the transaction. */
  if (n <= 0) {
    free(buf);
    http_file_abort(slot);
    return -1;
  }
  slot->file.left -= n;
  bool last = slot->file.left == 0;
  int written =
      lws_write(wsi, buf + LWS_PRE, (size_t)n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
  free(buf);
  if (written != (int)n) {
    http_file_abort(slot);
    return -1;
  }
  if (!last) {
    lws_callback_on_writable(wsi);
    return 0;
  }
  http_file_abort(slot);
  return finish(wsi, HTTP_AFTER_KEEP_ALIVE);
}

/* static_files already checked the path; this opens it and answers 200 with its bytes. */
static int serve_file(struct lws *wsi, http_slot *slot, const char *file) {
  struct stat st;
  int fd = open(file, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return respond_status(wsi, 404, HTTP_AFTER_KEEP_ALIVE);
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return respond_status(wsi, 404, HTTP_AFTER_KEEP_ALIVE);
  }
  if (st.st_size > SMALL_FILE_MAX)
    return start_stream(wsi, slot, fd, st.st_size, file);

  size_t size = (size_t)st.st_size;
  char *body = read_whole(fd, size);
  close(fd);
  if (!body)
    return respond_status(wsi, 500, HTTP_AFTER_KEEP_ALIVE);
  int rc = http_respond(wsi, 200, static_files_content_type(file),
                        static_files_cache_control(file), body, size, HTTP_AFTER_KEEP_ALIVE);
  free(body);
  return rc;
}

static http_method request_method(struct lws *wsi, char *uri, size_t uri_len, int *raw_len) {
  enum lws_token_indexes token = WSI_TOKEN_GET_URI;
  http_method method = METHOD_GET;

  if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
    token = WSI_TOKEN_HEAD_URI;
    method = METHOD_HEAD;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) <= 0)
      return METHOD_OTHER;
  }
  *raw_len = lws_hdr_total_length(wsi, token);
  if (*raw_len >= (int)uri_len || lws_hdr_copy(wsi, uri, (int)uri_len, token) < 0)
    *raw_len = -1;
  return method;
}

int http_request_handle(http_server *server, struct lws *wsi, http_slot *slot) {
  char uri[MAX_URI];
  char shown[256];
  char peer[64];
  int raw_len = 0;

  http_method method = request_method(wsi, uri, sizeof(uri), &raw_len);
  http_peer_address(wsi, peer, sizeof(peer));
  if (method == METHOD_OTHER) {
    log_info("http", NULL, peer, "refused: method not allowed");
    return respond_status(wsi, 405, HTTP_AFTER_CLOSE);
  }
  if (raw_len < 0)
    return respond_status(wsi, 400, HTTP_AFTER_CLOSE);

  /* lws keeps the query string in its own token; cut here too, so that no token-bearing
   * query can reach a path lookup or a log line. */
  char *query = memchr(uri, '?', (size_t)raw_len);
  size_t path_len = query ? (size_t)(query - uri) : (size_t)raw_len;
  uri[path_len] = '\0';
  http_printable(uri, shown, sizeof(shown));

  if (strcmp(uri, "/healthz") == 0 && path_len == strlen(uri))
    return serve_health(server, wsi);
  if (strcmp(uri, "/metrics") == 0 && path_len == strlen(uri))
    return serve_metrics(server, wsi, peer);

  static_file found = static_files_resolve(server->web_root, uri, path_len);
  if (found.status == 400)
    log_warn("http", NULL, peer, "refused path %s: malformed or outside web root", shown);
  else
    log_debug("http", NULL, peer, "%s %s -> %d", method == METHOD_HEAD ? "HEAD" : "GET", shown,
              found.status);
  if (found.status != 200)
    return respond_status(wsi, (unsigned int)found.status, HTTP_AFTER_KEEP_ALIVE);
  return serve_file(wsi, slot, found.file);
}
