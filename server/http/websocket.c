/* websocket: the /ws endpoint — who may upgrade, message reassembly, the outgoing queue.
 *
 * Lifecycle of a ws_conn (owned by http, one per upgraded wsi):
 *   CONFIRM_UPGRADE  path must be /ws and Origin allowed, else 404/403 and no connection;
 *   ESTABLISHED      ws_conn allocated, handlers.on_open gives the app's conn_data;
 *   RECEIVE          fragments are glued into one text message (<= WS_MAX_MESSAGE_BYTES);
 *   SERVER_WRITEABLE one queued frame per callback; once the queue is empty, a requested
 *                    close is carried out (lws_close_reason, return -1);
 *   CLOSED           handlers.on_close exactly once, then the ws_conn is freed.
 * A ws_conn whose on_open returned NULL never reaches the app again (no on_close).
 *
 * Why the outgoing queue is bounded: a tab that stops reading must not make the server buffer
 * without limit; ws_conn_send_text says no and the session decides what to do. */
#include "http/private.h"

#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/metrics.h"

enum {
  WS_QUEUE_MAX_FRAMES = 256,
  WS_QUEUE_MAX_BYTES = 1024 * 1024,
  WS_CLOSE_GRACE_SECONDS = 5, /* a close waits this long for the queue to drain */
  WS_MAX_ORIGIN = 512,
};

typedef struct ws_frame {
  size_t len;
  unsigned char buf[]; /* LWS_PRE bytes of headroom for lws, then the text */
} ws_frame;

struct ws_conn {
  http_server *server;
  struct lws *wsi;
  void *data;          /* the app's, from on_open; NULL until then (or if refused) */
  char peer[64];
  GQueue out;          /* ws_frame*, oldest first */
  size_t out_bytes;
  GByteArray *message; /* text message being reassembled */
  bool in_message;     /* a message started and its final fragment has not arrived */
  bool discarding;     /* the rest of the current message is dropped */
  bool closing;        /* ws_conn_close was called: no more sends */
  int close_status;
  int peer_close_status; /* from the peer's close frame; 0 = none (yet) */
  unsigned char close_reason[123]; /* RFC 6455: 125 bytes of payload minus the status */
  size_t close_reason_len;
};

/* ---- upgrade ---------------------------------------------------------------------------- */

static bool copy_header(struct lws *wsi, enum lws_token_indexes token, char *out, size_t len) {
  int n = lws_hdr_total_length(wsi, token);
  return n > 0 && (size_t)n < len && lws_hdr_copy(wsi, out, (int)len, token) == n;
}

/* With no allowed_origins configured, a browser page may only open /ws on the same origin it
 * was loaded from: scheme of this vhost + the Host it asked for. */
static bool origin_allowed(const http_server *server, struct lws *wsi, const char *origin) {
  if (server->allowed_origins[0]) {
    for (char **allowed = server->allowed_origins; *allowed; allowed++)
      if (strcasecmp(origin, *allowed) == 0)
        return true;
    return false;
  }
  char host[256], same[300];
  if (!copy_header(wsi, WSI_TOKEN_HOST, host, sizeof(host)))
    return false;
  snprintf(same, sizeof(same), "%s://%s", lws_is_ssl(wsi) ? "https" : "http", host);
  return strcasecmp(origin, same) == 0;
}

int ws_confirm_upgrade(http_server *server, struct lws *wsi, const char *upgrade_to) {
  char uri[64], origin[WS_MAX_ORIGIN], shown[128], peer[64];

  http_peer_address(wsi, peer, sizeof(peer));
  if (!upgrade_to || strcmp(upgrade_to, "websocket") != 0) {
    log_info("http", NULL, peer, "refused upgrade to %s", upgrade_to ? upgrade_to : "?");
    return -1;
  }
  if (!copy_header(wsi, WSI_TOKEN_GET_URI, uri, sizeof(uri)) || strcmp(uri, "/ws") != 0) {
    log_info("http", NULL, peer, "refused websocket: not /ws");
    return http_respond(wsi, 404, "text/plain; charset=utf-8", "no-store", "404 not found\n",
                        14, HTTP_AFTER_NOTHING);
  }
  /* No Origin at all: not a browser (browsers always send it on WebSocket), so there is no
   * cross-site page to protect against; login still applies. */
  if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
    return 0;
  if (!copy_header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin)) ||
      !origin_allowed(server, wsi, origin)) {
    http_printable(origin, shown, sizeof(shown));
    log_warn("http", NULL, peer, "refused websocket: origin %s not allowed", shown);
    metrics_inc(METRIC_SESSIONS_REFUSED);
    return http_respond(wsi, 403, "text/plain; charset=utf-8", "no-store", "403 forbidden\n",
                        14, HTTP_AFTER_NOTHING);
  }
  return 0;
}

/* ---- open / close ----------------------------------------------------------------------- */

static void ws_conn_free(ws_conn *conn) {
  ws_frame *frame;
  while ((frame = g_queue_pop_head(&conn->out)))
    g_free(frame);
  g_byte_array_unref(conn->message);
  g_queue_remove(&conn->server->connections, conn);
  g_free(conn);
}

int ws_established(http_server *server, struct lws *wsi, http_slot *slot) {
  ws_conn *conn = g_new0(ws_conn, 1);
  conn->server = server;
  conn->wsi = wsi;
  conn->message = g_byte_array_new();
  g_queue_init(&conn->out);
  http_peer_address(wsi, conn->peer, sizeof(conn->peer));
  g_queue_push_tail(&server->connections, conn);
  slot->conn = conn;

  conn->data = server->handlers.on_open(server->handlers.app, conn, conn->peer);
  if (!conn->data) {
    log_info("http", NULL, conn->peer, "websocket refused by the application");
    slot->conn = NULL;
    ws_conn_free(conn);
    return -1;
  }
  log_info("http", NULL, conn->peer, "websocket open (%zu open)",
           http_server_connection_count(server));
  return 0;
}

/* Tells the app (once) and frees. Used by CLOSED and by the shutdown sweep. */
static void ws_conn_finish(ws_conn *conn) {
  void *data = conn->data;
  conn->data = NULL;
  conn->wsi = NULL;
  conn->closing = true;
  if (data && conn->server->handlers.on_close)
    conn->server->handlers.on_close(data);
  ws_conn_free(conn);
}

void ws_closed(http_slot *slot) {
  ws_conn *conn = slot->conn;
  if (!conn)
    return;
  slot->conn = NULL;
  if (conn->closing)
    log_info("http", NULL, conn->peer, "websocket closed by server (%d)", conn->close_status);
  else
    log_info("http", NULL, conn->peer, "websocket closed");
  ws_conn_finish(conn);
}

/* Server shutdown: a close frame (1001 going away) tells a tab the server left on purpose, which
 * a dropped TCP connection (1006) cannot. Bounded: a peer that does not answer is cut by the
 * context destruction that follows. */
void ws_close_all(http_server *server, int wait_ms) {
  if (server->connections.length == 0)
    return;
  for (GList *l = server->connections.head; l; l = l->next)
    ws_conn_close(l->data, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
  GMainContext *context = g_main_loop_get_context(server->foreign_loops[0]);
  gint64 deadline = g_get_monotonic_time() + (gint64)wait_ms * 1000;
  while (server->connections.length > 0 && g_get_monotonic_time() < deadline) {
    if (!g_main_context_iteration(context, FALSE))
      g_usleep(1000);
  }
}

void ws_forget_all(http_server *server) {
  ws_conn *conn;
  while ((conn = g_queue_peek_head(&server->connections)))
    ws_conn_finish(conn);
}

/* ---- receive ---------------------------------------------------------------------------- */

static void report_bad(ws_conn *conn, ws_frame_problem problem) {
  conn->discarding = true;
  g_byte_array_set_size(conn->message, 0);
  log_info("http", NULL, conn->peer, "websocket: %s message dropped",
           problem == WS_FRAME_BINARY ? "binary" : "oversized");
  if (conn->server->handlers.on_bad_frame)
    conn->server->handlers.on_bad_frame(conn->data, problem);
}

int ws_receive(ws_conn *conn, const void *data, size_t len) {
  struct lws *wsi = conn->wsi;

  if (!conn->in_message) {
    conn->in_message = true;
    conn->discarding = false;
    g_byte_array_set_size(conn->message, 0);
    if (lws_frame_is_binary(wsi))
      report_bad(conn, WS_FRAME_BINARY);
  }
  if (!conn->discarding) {
    if (conn->message->len + len > WS_MAX_MESSAGE_BYTES)
      report_bad(conn, WS_FRAME_TOO_LARGE);
    else
      g_byte_array_append(conn->message, data, (guint)len);
  }
  if (!lws_is_final_fragment(wsi))
    return 0;

  conn->in_message = false;
  if (conn->discarding || conn->closing) {
    conn->discarding = false;
    return 0;
  }
  /* NUL-terminated for the app's convenience; len excludes it. */
  size_t text_len = conn->message->len;
  g_byte_array_append(conn->message, (const guint8 *)"", 1);
  conn->server->handlers.on_text(conn->data, (const char *)conn->message->data, text_len);
  g_byte_array_set_size(conn->message, 0);
  return 0;
}

/* ---- send / close ----------------------------------------------------------------------- */

bool ws_conn_send_text(ws_conn *conn, const char *text, size_t len) {
  if (!conn || !conn->wsi || conn->closing || conn->server->stopping)
    return false;
  if (conn->out.length >= WS_QUEUE_MAX_FRAMES || conn->out_bytes + len > WS_QUEUE_MAX_BYTES) {
    log_warn("http", NULL, conn->peer, "websocket send queue full (%u frames, %zu bytes)",
             conn->out.length, conn->out_bytes);
    return false;
  }
  ws_frame *frame = g_malloc(sizeof(*frame) + LWS_PRE + len);
  frame->len = len;
  memcpy(frame->buf + LWS_PRE, text, len);
  g_queue_push_tail(&conn->out, frame);
  conn->out_bytes += len;
  lws_callback_on_writable(conn->wsi);
  return true;
}

int ws_writeable(ws_conn *conn) {
  ws_frame *frame = g_queue_pop_head(&conn->out);
  if (frame) {
    conn->out_bytes -= frame->len;
    int n = lws_write(conn->wsi, frame->buf + LWS_PRE, frame->len, LWS_WRITE_TEXT);
    bool sent = n >= 0 && (size_t)n >= frame->len;
    g_free(frame);
    if (!sent)
      return -1;
    if (conn->out.length > 0 || conn->closing)
      lws_callback_on_writable(conn->wsi);
    return 0;
  }
  if (conn->closing) {
    lws_close_reason(conn->wsi, (enum lws_close_status)conn->close_status, conn->close_reason,
                     conn->close_reason_len);
    return -1;
  }
  return 0;
}

void ws_conn_close(ws_conn *conn, int status, const char *reason) {
  if (!conn || !conn->wsi || conn->closing)
    return;
  conn->closing = true;
  conn->close_status = status;
  conn->close_reason_len = reason ? strnlen(reason, sizeof(conn->close_reason)) : 0;
  if (conn->close_reason_len)
    memcpy(conn->close_reason, reason, conn->close_reason_len);
  /* Queued frames go first (an error reply before the close); a peer that does not read gets
   * closed anyway when the timer fires. Either way on_close comes from the loop. */
  lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, WS_CLOSE_GRACE_SECONDS);
  lws_callback_on_writable(conn->wsi);
}

const char *ws_conn_peer(const ws_conn *conn) { return conn ? conn->peer : "?"; }

size_t http_server_connection_count(const http_server *server) {
  size_t count = 0;
  if (!server)
    return 0;
  for (const GList *l = server->connections.head; l; l = l->next)
    if (((const ws_conn *)l->data)->data)
      count++;
  return count;
}

/* ---- the peer's close ------------------------------------------------------------------- */

void ws_peer_closing(ws_conn *conn, const void *payload, size_t len) {
  const unsigned char *p = payload;
  /* A close frame without a status means "no status received" (1005), still a clean close. */
  conn->peer_close_status = p && len >= 2 ? (p[0] << 8) | p[1] : 1005;
}

int ws_conn_peer_close_status(const ws_conn *conn) { return conn ? conn->peer_close_status : 0; }
