/* call: one phone call as the tab sees it — the browser-side WebRTC media (server/media), the
 * SIP dialog (server/sip/call.h) and the SDP translation between them (server/sdp) — driven by
 * signaling messages from its session and by events from SIP and media.
 *
 * Outbound: `call` from a tab -> INVITE at once (the SIP SDP does not wait for ICE), 1xx ->
 * `progress`, 2xx -> `answered`, failures -> `hangup` with the SIP code and a plain reason.
 * The destination "echo" is answered by the server itself (media looped back, no SIP).
 * Inbound: an INVITE for an account rings every logged-in session that may use it
 * (`incoming`); the first `accept` wins, the others get `hangup` "answered_elsewhere".
 *
 * Threading: control thread only.
 * Ownership: the hub owns every call (hub_add_call / hub_remove_call); a call ends itself
 * (call_end) and is freed by the hub. A call borrows its sessions; a session that closes calls
 * call_session_closed for each call it touches. */
#ifndef TABPHONE_SIGNAL_CALL_H
#define TABPHONE_SIGNAL_CALL_H

#include <jansson.h>
#include <stdbool.h>

#include "core/config.h"
#include "signal/hub.h"
#include "sip/call.h"

typedef struct call call;

/* Handles a validated `call` message from session s (errors are sent to s). */
void call_start_outgoing(hub *h, session *s, const json_t *request,
                         const config_account *account);

/* The SIP layer's incoming handler (registered by the hub). */
bool call_incoming(void *hub_ptr, sip_call *sip, const config_account *account,
                   const char *from_uri, const char *from_display, const char *to_uri,
                   const char *sdp_offer);

/* Messages from a tab about an existing call (validated by protocol.c). */
void call_on_accept(call *c, session *s, const json_t *request);
void call_on_reject(call *c, session *s, const json_t *request);
void call_on_candidate(call *c, session *s, const json_t *request);
void call_on_hangup(call *c, session *s, const json_t *request);
void call_on_dtmf(call *c, session *s, const json_t *request);
/* hold -> re-INVITE a=sendonly (the tab's audio stops going out at once), call_state "held" when
 * the far end answers; resume -> a=sendrecv, call_state "active" (or "remote_held"). transfer ->
 * REFER (blind: `to` dialed like a call; attended: the far end of `replaces` with
 * ?Replaces=), call_state "transferring" per report, hangup "transferred" on success (both calls
 * when attended), call_state with transfer_failed otherwise. See docs/protocol.md. */
void call_on_hold(call *c, session *s, const json_t *request);
void call_on_resume(call *c, session *s, const json_t *request);
void call_on_transfer(call *c, session *s, const json_t *request);
/* reoffer: the tab restarts ICE (new ufrag/pwd, same fingerprint). Media restarts its agent
 * with new local credentials; `reanswer` carries them (our last SDP to the tab with the new
 * ufrag/pwd), our candidates follow as `candidate`. DTLS, SRTP and the SIP leg are untouched.
 * Refused with call_not_connected / bad_reoffer (the call goes on). */
void call_on_reoffer(call *c, session *s, const json_t *request);

/* s is going away: a call it owns is hung up; a call ringing on it stops ringing there. */
void call_session_closed(call *c, session *s);

/* s lost its link (detached, waiting for a resume): a call it owns goes on; a call ringing on
 * it stops ringing there (480 to the caller when no tab is left). */
void call_session_detached(call *c, session *s);
/* A resume: whatever from owned or had ringing now belongs to to. */
void call_session_moved(call *c, session *from, session *to);
/* Tells the owner where the call stands after a resume: call_state "resumed". */
void call_send_resumed(call *c);
const char *call_id(const call *c);

/* The tab in the call (NULL while an inbound call rings, and once it ended). */
session *call_owner(const call *c);

/* Where a `to` from account would be sent: sip:/sips: as is, numbers as sip:NUMBER@domain of
 * the account (a new string), or NULL + err. The dial plan is checked against this. */
char *call_dial_target(const config_account *account, const char *to, char *err,
                       size_t err_len);

/* Does this call belong to (or ring on) s under call_id? */
bool call_matches(const call *c, const session *s, const char *call_id);

/* Hangs up both legs (tab told with code/reason) and asks the hub to free it. */
void call_end(call *c, int code, const char *reason);
void call_free(call *c);

#endif
