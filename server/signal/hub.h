/* hub: the registry of live sessions and the owner of the server-configured SIP registrations.
 *
 * It is the glue between http (connections), sessions (one per connection) and sip
 * (registrations): http's ws_handlers point here; registration events of server accounts are
 * fanned out to every logged-in session whose user may use that account; /healthz is built
 * here from the registry.
 *
 * Threading: control thread only.
 * Ownership: hub_new returns a hub the caller frees with hub_free. The hub borrows cfg and
 * agent (both must outlive it) and owns the sessions' list (not the sessions: each session is
 * freed when its connection closes) and the server accounts' registrations. */
#ifndef TABPHONE_SIGNAL_HUB_H
#define TABPHONE_SIGNAL_HUB_H

#include <jansson.h>
#include <stdbool.h>

#include "core/config.h"
#include "http/server.h"
#include "media/media.h"
#include "sip/agent.h"
#include "sip/registration.h"

typedef struct hub hub;
typedef struct session session;
typedef struct call call;
typedef struct guard guard;

hub *hub_new(const config *cfg, sip_agent *agent, media_engine *media);

/* Sends the first REGISTER of every server account with register = yes. */
void hub_start(hub *hub);

/* Frees every call (BYE/CANCEL go out) and the server registrations (the agent un-REGISTERs them during sip_agent_shutdown).
 * Sessions must already be gone (http_server_free closes them). */
void hub_free(hub *hub);

/* The callbacks http calls; app = hub. */
ws_handlers hub_ws_handlers(hub *hub);

/* For sessions. */
const config *hub_config(const hub *hub);
sip_agent *hub_sip_agent(const hub *hub);
void hub_add_session(hub *hub, session *s);
void hub_remove_session(hub *hub, session *s);
/* The registration of a server account, or NULL (register = no, or unknown). */
registration *hub_account_registration(const hub *hub, const char *account_name);
/* {"state","code","reason","expires"} of a server account (a new reference). */
json_t *hub_account_status(const hub *hub, const char *account_name);

/* Calls: the hub owns them. hub_remove_call takes a call out of the registry and frees it from
 * an idle callback (so a call may end itself from inside any SIP or media listener). */
media_engine *hub_media_engine(const hub *hub);
void hub_add_call(hub *hub, call *c);
void hub_remove_call(hub *hub, call *c);
call *hub_find_call(const hub *hub, const session *s, const char *call_id);
/* Logged-in sessions that may use account_name (a new array; free with g_ptr_array_free). */
GPtrArray *hub_sessions_for_account(const hub *hub, const char *account_name);
/* A session is closing: its calls end, calls ringing on it stop ringing there. */
void hub_session_closed(hub *hub, session *s);

/* Resume: detached sessions (session.h) are kept here, out of the sessions list, so they get no
 * fan-out and are not counted as open tabs; calls ringing on one ring only on the other tabs. */
void hub_add_detached(hub *hub, session *s);
void hub_remove_detached(hub *hub, session *s);
/* s lost its link: calls ringing on it stop ringing there (480 if nobody is left). */
void hub_session_detached(hub *hub, session *s);
/* The logged-in session (open or detached, not except) whose resume token is token, or NULL. */
session *hub_find_resumable(const hub *hub, const char *token, const session *except);
/* Calls owned by or ringing on from now belong to / ring on to. */
void hub_move_calls(hub *hub, session *from, session *to);
/* ["call_id", ...] of the live calls s owns (a new reference). */
json_t *hub_call_ids(const hub *hub, const session *s);
/* Sends call_state "resumed" for each live call s owns. */
void hub_send_resumed_calls(hub *hub, session *s);
/* False once the server is stopping: sessions then end instead of detaching. */
bool hub_accepts_detach(const hub *hub);

/* SIGTERM drain ([shutdown] drain_seconds): from hub_start_drain on, new calls (from tabs: hangup
 * 503 server_shutting_down; inbound: 503 + Retry-After) and new logins are refused; done runs
 * once, from an idle callback, when no call is left (at once if there is none). */
void hub_start_drain(hub *hub, void (*done)(void *user_data), void *user_data);
bool hub_draining(const hub *hub);
/* Shutdown begins: no more detaching, detached sessions end now, every call ends with 503
 * "server shutting down" (BYE / CANCEL; the tabs are told before their sockets close). */
void hub_stop_sessions(hub *hub);

/* Abuse limits (signal/guard.h), owned by the hub. */
guard *hub_guard(const hub *hub);
/* Live calls owned by s (NULL = any) whose tab is logged in as user (NULL = any). Calls that
 * still ring on tabs count only when both are NULL. */
unsigned hub_count_calls(const hub *hub, const session *s, const config_user *user);
/* Open sessions whose peer address is ip. */
unsigned hub_count_sessions_from(const hub *hub, const char *ip);

#endif
