/* http private: what server.c, request.c and websocket.c share. Not part of the contract
 * (server.h is); nothing outside server/http includes this.
 *
 * One lws protocol (protocols[0]) carries everything: plain HTTP requests and, after an
 * upgrade of /ws, the WebSocket. lws gives every wsi a zeroed http_slot as its per-session
 * data; only WebSocket wsis ever set slot->conn.
 *
 * Threading: control thread only, like the rest of http. */
#ifndef TABPHONE_HTTP_PRIVATE_H
#define TABPHONE_HTTP_PRIVATE_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "http/server.h"

struct http_server {
  struct lws_context *context; /* written NULL by lws once destruction has finished */
  void *foreign_loops[1];      /* { GMainLoop* }: lws reads it as info.foreign_loops */
  ws_handlers handlers;        /* copy of the caller's */
  char *web_root;              /* realpath of cfg->web_root, owned */
  char **allowed_origins;      /* owned copy, NULL-terminated; empty = same origin */
  char **metrics_allow;        /* owned copy, NULL-terminated; empty = /metrics refused */
  char **listen_hosts;         /* owned copies: lws keeps pointers to vhost iface strings */
  GQueue connections;          /* ws_conn*, every WebSocket lws has not closed yet */
  bool stopping;               /* http_server_free is running */
};

/* A static file too large to answer in one write, sent one chunk per HTTP_WRITEABLE.
 * lws re-creates the slot when a keep-alive transaction ends, so this never outlives one
 * response; open is false in a zeroed slot. */
typedef struct http_file_stream {
  bool open;
  int fd;
  off_t left; /* body bytes still to send */
} http_file_stream;

typedef struct http_slot {
  ws_conn *conn;         /* NULL for plain HTTP */
  http_file_stream file; /* plain HTTP only */
} http_slot;

/* What happens after a response went out. */
typedef enum {
  HTTP_AFTER_KEEP_ALIVE, /* lws_http_transaction_completed: maybe another request */
  HTTP_AFTER_CLOSE,      /* close the connection (unread request body, refused method) */
  HTTP_AFTER_NOTHING,    /* lws finishes the transaction itself (refused upgrade) */
} http_after;

/* request.c */
int http_request_handle(http_server *server, struct lws *wsi, http_slot *slot);
/* LWS_CALLBACK_HTTP_WRITEABLE: the next chunk of a streamed file, if one is being sent. */
int http_file_writeable(struct lws *wsi, http_slot *slot);
/* Connection or transaction gone: closes a streamed file's descriptor. Idempotent. */
void http_file_abort(http_slot *slot);
int http_respond(struct lws *wsi, unsigned int status, const char *content_type,
                 const char *cache_control, const char *body, size_t body_len, http_after after);
void http_peer_address(struct lws *wsi, char *out, size_t out_len);
/* Copies at most out_len-1 bytes of text with anything unprintable as '?', for log lines. */
void http_printable(const char *text, char *out, size_t out_len);

/* websocket.c */
int ws_confirm_upgrade(http_server *server, struct lws *wsi, const char *upgrade_to);
int ws_established(http_server *server, struct lws *wsi, http_slot *slot);
int ws_receive(ws_conn *conn, const void *data, size_t len);
int ws_writeable(ws_conn *conn);
void ws_closed(http_slot *slot);
/* The peer sent a close frame: payload = 2-byte status + reason (may be empty). */
void ws_peer_closing(ws_conn *conn, const void *payload, size_t len);
/* Asks every connection to close (1001) and runs the loop until they are gone or wait_ms. */
void ws_close_all(http_server *server, int wait_ms);
/* After the lws context is gone: on_close and free for any connection lws did not report. */
void ws_forget_all(http_server *server);

#endif
