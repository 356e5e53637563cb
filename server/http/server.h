/* http: the libwebsockets context on the control thread's GMainLoop.
 *
 * Serves web/ over HTTPS (and optional plain HTTP on loopback, for tests), GET /healthz, GET
 * /metrics (Prometheus text, only to [server] metrics_allow, 403 to anyone else), and the
 * WebSocket endpoint /ws. It knows nothing about the signaling protocol: complete text messages
 * go up through ws_handlers, text frames come down through ws_conn_send_text.
 *
 * What http enforces itself (so the layers above never see it):
 *  - the Origin header of a /ws upgrade against [server] allowed_origins (default: same origin
 *    as Host), refused with 403;
 *  - messages larger than 64 KiB and binary messages are not delivered as text: on_bad_frame is
 *    called instead (the session answers with an error and counts the abuse);
 *  - WebSocket ping/pong keepalive (a peer that does not answer pings is dropped);
 *  - static files: MIME types, Cache-Control, CSP, X-Content-Type-Options, Referrer-Policy,
 *    path traversal (/../, %2e%2e%2f, NUL) refused with 400/404.
 *
 * Threading: every function here runs on the control thread only.
 * Ownership: http_server_new returns a server the caller frees with http_server_free (which
 * closes every connection, calling on_close for each). A ws_conn is owned by http; it is valid
 * from on_open until on_close returns. */
#ifndef TABPHONE_HTTP_SERVER_H
#define TABPHONE_HTTP_SERVER_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"

enum { WS_MAX_MESSAGE_BYTES = 64 * 1024 };

typedef struct http_server http_server;
typedef struct ws_conn ws_conn;

typedef enum { WS_FRAME_TOO_LARGE, WS_FRAME_BINARY } ws_frame_problem;

typedef struct ws_handlers {
  void *app; /* passed to on_open, health_json and metrics_text */
  /* A /ws upgrade completed. Returns the per-connection object (a session) that the other
   * callbacks receive, or NULL to close the connection at once. peer: "ip:port". */
  void *(*on_open)(void *app, ws_conn *conn, const char *peer);
  /* One complete text message (reassembled from fragments), at most WS_MAX_MESSAGE_BYTES. */
  void (*on_text)(void *conn_data, const char *text, size_t len);
  void (*on_bad_frame)(void *conn_data, ws_frame_problem problem);
  /* The connection is gone (peer closed, error, ws_conn_close, or server shutdown). conn_data
   * must not touch the ws_conn after this. */
  void (*on_close)(void *conn_data);
  /* Body of GET /healthz: a malloc'd NUL-terminated JSON string that http frees with free(). */
  char *(*health_json)(void *app);
  /* GET /metrics (only for sources inside [server] metrics_allow): appends the app's gauges in
   * Prometheus text format to out; http adds the counters of core/metrics.h itself. May be
   * NULL (counters only). */
  void (*metrics_text)(void *app, GString *out);
} ws_handlers;

/* Creates the context and listens on every [server] listen / http_listen address. On error
 * (port in use, bad certificate) returns NULL and writes one line into err, e.g.
 * "listen 127.0.0.1:8443: address already in use". handlers is copied. */
http_server *http_server_new(const config *cfg, GMainLoop *loop, const ws_handlers *handlers,
                             char *err, size_t err_len);

/* Closes all connections (on_close for each) and destroys the context. NULL is a no-op. */
void http_server_free(http_server *server);

/* Number of open WebSocket connections. */
size_t http_server_connection_count(const http_server *server);

/* Queues a text frame (copied). Returns false when the connection is closing or its queue is
 * over its bound (a tab that stopped reading); the caller may then close it. */
bool ws_conn_send_text(ws_conn *conn, const char *text, size_t len);

/* Starts a close handshake with a status (1000 normal, 1008 policy, 1009 too big, ...) and a
 * short reason. on_close follows later from the loop, never from inside this call. */
void ws_conn_close(ws_conn *conn, int status, const char *reason);

const char *ws_conn_peer(const ws_conn *conn);

/* The status of the close frame the peer sent (1000 normal, 1001 page going away, 4xxx ...),
 * 0 when none arrived (the TCP connection dropped, or the server closed it). Valid until
 * on_close returns: a session tells a tab that left on purpose from one that lost its link. */
int ws_conn_peer_close_status(const ws_conn *conn);

#endif
