/* sip call: one SIP INVITE dialog (sofia nua handle), outbound or inbound.
 *
 * The SDP bodies passing through here are plain RTP/AVP SDP (the SIP side); translating to and
 * from the browser's WebRTC SDP is the caller's business (server/sdp/). This module knows SIP
 * only: INVITE / 1xx / 2xx / ACK / CANCEL / BYE, 3xx redirects (bounded), digest auth on INVITE
 * answered with the account's credentials only when the challenge comes from that account's
 * own registrar/proxy (a far end challenging our BYE gets no answer: SIPDigestLeak), re-INVITEs
 * and UPDATEs from the far end (answered with the current local SDP, or what the answerer hook
 * makes of it; the new remote SDP is reported so the rtp leg can follow), re-INVITEs of our own
 * (hold / resume), REFER (transfer) with its NOTIFY progress, and the human reason of every
 * failure. Also: reliable provisional responses (RFC 3262) both ways (sofia sends the PRACKs and
 * holds our 200 until the caller's PRACK), a re-INVITE without SDP (our SDP goes in the 200, the
 * answer in the ACK comes as REMOTE_SDP), and RFC 4028 session timers: a call whose far end
 * stops refreshing, or does not answer our refresh, ends with ENDED code 408 and reason
 * "session_timer_expired" (counted in METRIC_SESSION_TIMER_EXPIRED; BYE sent). An incoming REFER is answered 603 Decline: we do not let the far end move our calls
 * (the tab would have no say and the media would go elsewhere).
 *
 * Threading: control thread only.
 * Ownership: sip_call_new_outgoing returns a call the caller frees with sip_call_free; an
 * inbound call is handed to the incoming handler, which then owns it (sip_call_free). Freeing a
 * call that is still up sends BYE (or CANCEL / 480 as the state requires) first; events stop at
 * once. Strings in params are copied. */
#ifndef TABPHONE_SIP_CALL_H
#define TABPHONE_SIP_CALL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "sip/agent.h"

typedef struct sip_call sip_call;

typedef enum {
  SIP_CALL_PROGRESS,   /* 1xx: code 100/180/183, sdp = early media answer or NULL */
  SIP_CALL_ANSWERED,   /* 2xx to our INVITE (ACK sent): sdp = answer */
  SIP_CALL_CONFIRMED,  /* inbound: the ACK to our 200 arrived */
  SIP_CALL_REMOTE_SDP, /* a new SDP from the far end: offer = true for its re-INVITE / UPDATE
                          (already answered), false for the answer to our sip_call_update_sdp
                          (code 200; sdp may be NULL if the far end sent none) */
  SIP_CALL_REINVITE_FAILED, /* our re-INVITE was refused (491, 488...) or timed out: the call
                               goes on with the previous SDP on both sides. (A 481 or a 408 may
                               also end the dialog: an ENDED event then follows.) */
  SIP_CALL_TRANSFER,   /* REFER progress: the REFER's own answer (202; or >= 300 = refused,
                          final) then each NOTIFY's sipfrag status ("SIP/2.0 180 Ringing").
                          final = true on the outcome: code 2xx = the far end reached the
                          target, anything else = failed (code 0: no result was reported). */
  SIP_CALL_ENDED,      /* final: code + reason (SIP status, or 0 with a local cause); no more events */
} sip_call_event_type;

typedef struct sip_call_event {
  sip_call_event_type type;
  int code;
  const char *reason;  /* e.g. "486 Busy Here", "no answer from 127.0.0.1:5080 (408 timeout)",
                          "BYE from far end" */
  const char *sdp;     /* plain SDP body or NULL */
  bool offer;          /* REMOTE_SDP: sdp is the far end's offer (not an answer to ours) */
  bool final;          /* TRANSFER: the outcome of the transfer; no more TRANSFER events */
} sip_call_event;

typedef void (*sip_call_listener)(void *user_data, const sip_call_event *event);

typedef struct sip_call_params {
  const config_account *account; /* borrowed; direct accounts send straight to the URI host */
  const char *to;                /* request URI: sip:/sips: URI (tel:/digits already turned into
                                    a SIP URI by the caller using the account's domain) */
  const char *sdp_offer;         /* plain SDP */
} sip_call_params;

/* Sends the INVITE now. Returns NULL with one line in err when params are unusable (bad URI). */
sip_call *sip_call_new_outgoing(sip_agent *agent, const sip_call_params *params,
                                sip_call_listener listener, void *user_data, char *err,
                                size_t err_len);

/* Inbound: an INVITE arrived for a known account (or the direct account when the request URI
 * names no account). The handler returns true if it took the call (it must then call
 * sip_call_set_listener and later sip_call_answer/sip_call_reject); false -> 480 (no session)
 * or the code it set with sip_call_reject before returning false. */
typedef bool (*sip_incoming_handler)(void *user_data, sip_call *call,
                                     const config_account *account, const char *from_uri,
                                     const char *from_display, const char *to_uri,
                                     const char *sdp_offer);
void sip_agent_set_incoming_handler(sip_agent *agent, sip_incoming_handler handler,
                                    void *user_data);

void sip_call_set_listener(sip_call *call, sip_call_listener listener, void *user_data);

/* Our answer to an SDP offer in the far end's re-INVITE / UPDATE: offer is theirs, current our
 * last SDP. Returns a malloc'd SDP (free()) to answer with and keep as our current SDP, or NULL
 * to answer with current. Called with the listener's user_data, synchronously, before the
 * REMOTE_SDP event; it must not free or end the call. Without one, current is the answer. */
typedef char *(*sip_call_answerer)(void *user_data, const char *offer, const char *current);
void sip_call_set_answerer(sip_call *call, sip_call_answerer answerer);

/* Inbound: 180 Ringing (sent automatically when the handler takes the call). */
void sip_call_ringing(sip_call *call);
/* Inbound: 200 OK with the plain SDP answer. */
void sip_call_answer(sip_call *call, const char *sdp_answer);
/* Inbound, before answer: a final error (486 Busy Here, 603 Decline, 488, 480...). A 503 carries
 * Retry-After: SIP_BUSY_RETRY_AFTER seconds (the server is full or stopping, not broken). */
#define SIP_BUSY_RETRY_AFTER "10"
void sip_call_reject(sip_call *call, int code, const char *phrase);
/* Ends the call: CANCEL before answer, BYE after. An ENDED event follows. */
void sip_call_hangup(sip_call *call);
/* Sends DTMF via SIP INFO is NOT done: DTMF goes in RTP (RFC 4733) via the media layer. */

/* Connected calls only (false otherwise, nothing sent). */
/* re-INVITE with a new local SDP (hold: a=sendonly; resume: a=sendrecv). The answer comes as
 * REMOTE_SDP (offer = false), a refusal as REINVITE_FAILED; our current SDP becomes sdp only
 * when accepted. False while another re-INVITE of ours is pending. A 401/407 to a re-INVITE is
 * not answered (credentials only ever go to the INVITE that set the call up): it fails. */
bool sip_call_update_sdp(sip_call *call, const char *sdp);
/* REFER: refer_to is a SIP URI, or a name-addr "<sip:...?Replaces=...>" (a bare URI is put in
 * angle brackets). Progress and outcome come as TRANSFER events. False while a REFER of this
 * call is still running. The call itself goes on: ending it after a successful transfer is the
 * caller's decision. */
bool sip_call_refer(sip_call *call, const char *refer_to);
/* The dialog as the far end of this call would name it in a Replaces header (RFC 3891:
 * "call-id;to-tag=THEIR-TAG;from-tag=OUR-TAG"), escaped for use as a URI header value:
 * "?Replaces=" + out goes into a Refer-To URI for an attended transfer. False (out = "") when
 * the call is not connected or does not fit. */
bool sip_call_replaces(const sip_call *call, char *out, size_t out_len);

void sip_call_free(sip_call *call);

/* Our current SDP on this call (the offer we sent, or our latest answer / accepted re-offer). */
const char *sip_call_local_sdp(const sip_call *call);

/* "sip:alice@example.com" of the far end (From for inbound, To for outbound). */
const char *sip_call_remote_uri(const sip_call *call);

#endif
