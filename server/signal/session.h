/* session: one WebSocket connection = one tab. Implements the signaling contract
 * (docs/protocol.md): login, welcome, bring-your-own registrations, ping; call messages are
 * validated and answered with not_implemented until the media layer exists.
 *
 * A session is unauthenticated until login succeeds (or at once in open mode). Unauthenticated
 * sockets are closed after [server] login_timeout or 3 failed logins; any socket is closed after
 * [server] session_idle_timeout without a frame, or after 10 invalid messages (abuse).
 *
 * Threading: control thread only.
 * Ownership: session_new is called by the hub when a connection opens; the session frees itself
 * in session_on_close (after which the ws_conn is gone). It owns its bring-your-own
 * registrations and frees them (un-REGISTER) when it ends. A password check runs on a worker
 * thread (PBKDF2 is deliberately slow); the session is reference counted so that a check that
 * finishes after the tab left is dropped safely. A detached session (see below) lives on in the
 * hub without a connection until it is resumed or its grace period ends. */
#ifndef TABPHONE_SIGNAL_SESSION_H
#define TABPHONE_SIGNAL_SESSION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "http/server.h"
#include "signal/hub.h"

session *session_new(hub *hub, ws_conn *conn, const char *peer);
void session_on_text(session *s, const char *text, size_t len);
void session_on_bad_frame(session *s, ws_frame_problem problem);
void session_on_close(session *s);

/* Sends message (steals the reference). No-op once the connection is closing. */
void session_send(session *s, json_t *message);

/* Logged in, and the user may use account_name? (Fan-out filter for the hub.) */
bool session_may_use_account(const session *s, const char *account_name);

const char *session_id(const session *s);
const char *session_peer(const session *s); /* "address:port" of the tab */
/* The logged-in [user] (NULL in open mode and before login). */
const config_user *session_user(const session *s);

/* Resume (docs/protocol.md "Reconnecting"). A logged-in session whose WebSocket drops without a
 * close frame (or with a status other than 1000/1001/1005) while it has calls or own
 * registrations is detached instead of freed: the hub keeps it for [server]
 * reconnect_grace_seconds, messages for it are kept (bounded), and a `login` with its resume
 * token on a new socket moves everything to that socket's session. After the grace period it
 * ends like a closed tab (BYE, un-REGISTER).
 * Does token equal the session's current resume token (constant time)? */
bool session_resume_token_is(const session *s, const char *token);
/* Ends a detached session now (server shutdown). No-op for an attached one. */
void session_end_detached(session *s);

#endif
