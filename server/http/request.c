/* request: one plain HTTP request on protocols[0] (LWS_CALLBACK_HTTP).
 *
 * GET/HEAD /healthz  -> the JSON the app builds (health_json), never cached.
 * GET/HEAD anything  -> a file under web_root, through static_files (which owns every
 *                       decision about paths), sent by lws_serve_http_file.
 * any other method   -> 405, and the connection is closed (its body, if any, is never read).
 *
 * The security headers (CSP, nosniff, Referrer-Policy, HSTS on TLS) are not added here: they
 * are the vhost's canned headers (server.c), which lws puts on every response it starts with
 * lws_add_http_header_status, including ours and lws's own error pages. */
#include "http/private.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "http/static_files.h"

enum { MAX_URI = 4096, RESPONSE_HEADROOM = 2048 };

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
  /* Plain LWS_WRITE_HTTP (not _HEADERS) so lws does not count our body against a
   * content-length it would otherwise track itself. */
  ok = ok && lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP) == (int)(p - start);
  free(buf);
  return ok ? finish(wsi, after) : -1;
}

static int respond_status(struct lws *wsi, unsigned int status, http_after after) {
  char body[64];
  const char *text = status == 400   ? "bad request"
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

static int serve_file(struct lws *wsi, const char *file) {
  unsigned char extra[256];
  unsigned char *p = extra;

  if (!add_header(wsi, "cache-control:", static_files_cache_control(file), &p, extra + sizeof(extra)))
    return -1;
  int n = lws_serve_http_file(wsi, file, static_files_content_type(file), (const char *)extra,
                              (int)(p - extra));
  if (n < 0)
    return -1;
  /* >0: sent completely already (small file, HEAD); the transaction is over. */
  if (n > 0 && lws_http_transaction_completed(wsi))
    return -1;
  return 0;
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

int http_request_handle(http_server *server, struct lws *wsi) {
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

  static_file found = static_files_resolve(server->web_root, uri, path_len);
  if (found.status == 400)
    log_warn("http", NULL, peer, "refused path %s: malformed or outside web root", shown);
  else
    log_debug("http", NULL, peer, "%s %s -> %d", method == METHOD_HEAD ? "HEAD" : "GET", shown,
              found.status);
  if (found.status != 200)
    return respond_status(wsi, (unsigned int)found.status, HTTP_AFTER_KEEP_ALIVE);
  return serve_file(wsi, found.file);
}
