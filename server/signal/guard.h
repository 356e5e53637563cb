/* guard: the server's abuse limits and toll-fraud checks for tabs (issue 5).
 *
 *   login    lockout per user name and per source address after repeated failures
 *            ([server] login_max_failures, login_max_failures_per_ip, login_lockout);
 *   sessions max WebSockets per address ([server] max_sessions_per_ip), max message rate per
 *            session ([server] message_rate per 10 s);
 *   calls    dial plan ([user] dial_allow / dial_deny), concurrent calls per tab, per user and
 *            on the server ([server] max_calls_per_session, [user] max_calls, [server]
 *            max_calls), new calls per minute per user ([user] calls_per_minute).
 *
 * Every refusal is logged once with the peer address and the user; the tab's answer never says
 * more than it needs (a locked login is an ordinary login_failed).
 *
 * Threading: control thread only.
 * Ownership: the hub owns its guard (hub_guard); the guard borrows cfg. */
#ifndef TABPHONE_SIGNAL_GUARD_H
#define TABPHONE_SIGNAL_GUARD_H

#include <jansson.h>
#include <stdbool.h>

#include "core/config.h"
#include "signal/hub.h"

typedef struct guard guard;

guard *guard_new(const config *cfg);
void guard_free(guard *g);

/* "127.0.0.1:5555" / "[::1]:5555" -> "127.0.0.1" / "::1" (the part limits are keyed by). */
void guard_peer_ip(const char *peer, char *ip, size_t ip_len);

/* May a login for user from ip be checked at all? False while either is locked out. */
bool guard_login_allowed(guard *g, const char *ip, const char *user);
/* A failed login: counts it against user and ip; logs once when that starts a lock. */
void guard_login_failed(guard *g, const char *subject, const char *peer, const char *ip,
                        const char *user);
/* A successful login clears the user's failures (not the address's: one valid account must not
 * reset the count of guesses made against the others). */
void guard_login_succeeded(guard *g, const char *user);

/* Spends one message of the session's budget; false = over [server] message_rate. */
bool guard_message_allowed(guard *g, const char *session_id);
void guard_session_closed(guard *g, const char *session_id);

/* May session s start the call request asks for (target = where the INVITE would go, NULL
 * for the echo test)? When not, the tab has been sent `hangup` 403 not_allowed_by_dial_plan
 * or 503 too_many_calls and the refusal logged. */
bool guard_admit_call(guard *g, hub *h, session *s, const json_t *request, const char *target);

/* May an inbound INVITE for account go on to ring tabs? False at the server-wide [server]
 * max_calls (calls_now: calls up right now, both directions) or over [server] invite_rate (per
 * account, per 10 s): the caller answers 503 at once, before any call, SDP or media work, so an
 * INVITE flood costs one response each. The first refusal of a flood is logged (then one line
 * per 10 s at most, per account and for max_calls). */
bool guard_admit_inbound(guard *g, const config_account *account, const char *from_uri,
                         size_t calls_now);

#endif
