/* media: the media engine (worker threads) and the media path of one call.
 *
 * A call_media pairs a browser-side webrtc leg (libnice ICE agent, DTLS handshake with our
 * startup certificate, SRTP contexts from the DTLS exporter) with a SIP-side rtp leg (a UDP
 * socket pair for RTP and RTCP) and moves packets between them: passthrough (SRTP <-> RTP with
 * payload type / SSRC / sequence rewriting as the codec map says), or transcoding when the codec
 * map names a different codec per leg (codec/transcoder.h, on the call's worker). In MEDIA_MODE_ECHO there is
 * no rtp leg: the browser's audio is looped back to it (the built-in "echo" test destination).
 *
 * Threading: every function here is called on the control thread and never blocks it. Each
 * call_media lives on one media worker (a thread with its own GMainContext) for its whole life;
 * the functions below post work to that worker. The listener is always invoked on the control
 * thread (the GMainContext given to media_engine_new). The packet path allocates nothing and
 * takes no lock.
 * Ownership: media_engine_new/media_engine_free; call_media_new/call_media_free (no listener
 * call happens after call_media_free returns). Strings passed in are copied. */
#ifndef TABPHONE_MEDIA_MEDIA_H
#define TABPHONE_MEDIA_MEDIA_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"

typedef struct media_engine media_engine;
typedef struct call_media call_media;

/* Starts the workers (config: number of cores) and makes the DTLS certificate (ECDSA P-256,
 * self-signed, fresh each start). control: where listeners run. NULL + err on failure. */
media_engine *media_engine_new(const config *cfg, GMainContext *control, char *err,
                               size_t err_len);
/* Stops the workers. Every call_media must be freed before. */
void media_engine_free(media_engine *engine);
/* "AB:CD:...", the SHA-256 fingerprint of the DTLS certificate (for a=fingerprint:sha-256). */
const char *media_engine_fingerprint(const media_engine *engine);
size_t media_engine_call_count(const media_engine *engine);
/* RTP/RTCP port pairs bound by calls now, and how many [media] port_min..port_max holds. */
unsigned media_engine_port_pairs_in_use(const media_engine *engine);
unsigned media_engine_port_pairs(const media_engine *engine);
size_t media_engine_worker_count(const media_engine *engine);
/* Control thread, when no call has held media for a moment: hands the memory the calls freed
 * back to the system. Each worker thread is replaced by a fresh one (same context, loop and
 * timers; anything posted meanwhile waits in the context), because a thread's malloc cache
 * (glibc's tcache) is only emptied when the thread exits, and its cached chunks, spread over
 * the worker's arena, would keep a page each resident after a burst of calls. Then
 * malloc_trim(0). Does nothing while calls hold media. A worker whose successor cannot be
 * started keeps its thread. */
void media_engine_release_memory(media_engine *engine);

/* Overload. Each worker measures its own loop lag: a 100 ms timer on its context records how
 * late it fires (smoothed over about a second; a worker stuck in one dispatch counts as if its overdue
 * tick fired now). The engine is overloaded when every worker's lag is above [media] overload_lag_ms
 * (0 = off) or when [media] max_calls (0 = no limit) calls hold media. Any thread, no lock. */
bool media_engine_overloaded(const media_engine *engine);
/* The largest lag over the workers, in ms (the /metrics gauge). Any thread. */
int media_engine_worker_lag_ms(const media_engine *engine);
/* Control thread, before a new call sets up media: false = overloaded, refuse the call (503
 * "media_overloaded"). Logs one line when a refusal window starts and one when calls are
 * admitted again, not one per refused call. */
bool media_engine_admit(media_engine *engine);

typedef enum { MEDIA_MODE_BRIDGE, MEDIA_MODE_ECHO } media_mode;

typedef enum {
  MEDIA_EVENT_LOCAL_CANDIDATE, /* candidate = "candidate:..." (no "a="), or NULL = gathering done */
  MEDIA_EVENT_CONNECTED,       /* ICE + DTLS up, SRTP keyed: srtp_profile names the suite */
  MEDIA_EVENT_FAILED,          /* reason: "ice_failed", "dtls_failed", "dtls_fingerprint_mismatch" */
  MEDIA_EVENT_RTP_TIMEOUT,     /* no packet from the browser or the SIP side for the timeout */
} media_event_type;

typedef struct media_event {
  media_event_type type;
  const char *candidate;
  const char *reason;
  const char *srtp_profile; /* "SRTP_AES128_CM_SHA1_80" / "SRTP_AEAD_AES_128_GCM" */
} media_event;

typedef void (*media_listener)(void *user_data, const media_event *event);

/* What the browser's SDP says about its side. */
typedef struct webrtc_remote {
  const char *ice_ufrag;
  const char *ice_pwd;
  const char *fingerprint_alg; /* "sha-256" (others refused) */
  const char *fingerprint;     /* "AB:CD:..." */
  const char *setup;           /* browser's a=setup: "actpass", "active" or "passive" */
} webrtc_remote;

/* What goes into the SDP we send to the browser. Valid as soon as call_media_new returns:
 * candidates are not waited for (they trickle as MEDIA_EVENT_LOCAL_CANDIDATE). */
typedef struct webrtc_local {
  char ice_ufrag[8];
  char ice_pwd[32];
  const char *fingerprint; /* sha-256, borrowed from the engine */
} webrtc_local;

/* Payload types on each leg for the audio codec in use and telephone-event. -1 = none.
 * Transcoding: when browser_codec and sip_codec name different codecs ("opus", "pcmu", "pcma",
 * "g722"), the bridge decodes and re-encodes every 20 ms frame (codec/transcoder.h) on the
 * call's worker; the same names (or empty ones) mean passthrough. A new map with other codecs
 * (the far end switched codec mid-call) re-creates the transcoders. */
typedef struct media_codec_map {
  int browser_pt;
  int sip_pt;
  int clock_rate;        /* the SIP leg's RTP clock (passthrough: both legs') */
  int browser_dtmf_pt;
  int sip_dtmf_pt;
  char browser_codec[32];
  char sip_codec[32];
  int opus_complexity;   /* Opus encoder (either direction), 0-10 */
  bool opus_dtx;
} media_codec_map;

/* ice_controlling: true when we sent the offer to the browser (inbound calls), false when the
 * browser offered (outbound calls). Binds the rtp leg's UDP pair (bridge mode) at once. */
/* label: how log lines name the call (the call layer passes "call <call_id>", so media and
 * signaling lines of one call share a subject); NULL = "call m<n>". */
call_media *call_media_new(media_engine *engine, media_mode mode, bool ice_controlling,
                           const char *label, media_listener listener, void *user_data,
                           char *err, size_t err_len);
void call_media_free(call_media *media);

const webrtc_local *call_media_webrtc_local(const call_media *media);
/* Our DTLS role follows from the browser's setup: actpass/passive -> we are active (client),
 * active -> we are passive (server). Returns "active" or "passive" for our a=setup. */
const char *call_media_set_webrtc_remote(call_media *media, const webrtc_remote *remote);
/* ICE restart asked for by the browser (its new ufrag/pwd): picks new local credentials and
 * returns them (valid until the next restart or call_media_free), restarts the agent's stream
 * on the worker and trickles our candidates again (MEDIA_EVENT_LOCAL_CANDIDATE, then NULL). The
 * DTLS association and SRTP contexts are kept (same certificates), so no new handshake. Only
 * for a call whose media is connected (the worker has started the agent). A failure on the
 * worker ends the call with MEDIA_EVENT_FAILED "ice_failed". */
const webrtc_local *call_media_restart_ice(call_media *media, const char *remote_ufrag,
                                           const char *remote_pwd);
/* "candidate:..." with or without "a=", or NULL = end of candidates. Bad lines are ignored. */
void call_media_add_remote_candidate(call_media *media, const char *candidate);

/* The SIP-side address and RTP port to put into the SIP SDP (RTCP is port + 1). */
const char *call_media_rtp_address(const call_media *media);
int call_media_rtp_port(const call_media *media);
/* Whether the SIP leg may latch to a source other than the host the far end's SDP names (see
 * rtp_leg.c): [media] latch_any_source unless the call's account says otherwise. Control
 * thread, before call_media_set_rtp_remote. */
void call_media_set_latch_any_source(call_media *media, bool any_source);
/* Where the far end wants RTP/RTCP (from its SDP; may change on re-INVITE). */
void call_media_set_rtp_remote(call_media *media, const char *address, int rtp_port,
                               int rtcp_port);
void call_media_set_codec_map(call_media *media, const media_codec_map *map);

/* SDES-SRTP on the SIP leg (RFC 4568): the suite and both master keys from the a=crypto lines
 * of the offer and answer. Secrets: copied into the message, wiped after keying, never logged. */
typedef enum {
  MEDIA_SDES_AES_CM_128_HMAC_SHA1_80 = 1,
  MEDIA_SDES_AES_CM_128_HMAC_SHA1_32,
  MEDIA_SDES_AEAD_AES_128_GCM,
} media_sdes_suite;

typedef struct media_sdes {
  media_sdes_suite suite;
  unsigned char local_key[16], local_salt[14];   /* what we send with (salt 12 bytes for GCM) */
  unsigned char remote_key[16], remote_salt[14]; /* what the far end sends with */
} media_sdes;

/* Keys the SIP leg (again, when a re-INVITE changes a key). Post it before
 * call_media_set_rtp_remote so that the first packet out is already protected. */
void call_media_set_sip_srtp(call_media *media, const media_sdes *sdes);
/* The account requires SRTP: until call_media_set_sip_srtp, the SIP leg sends nothing and drops
 * every packet it receives (no media in clear, ever). Call right after call_media_new. */
void call_media_require_sip_srtp(call_media *media);
/* Hold, either side. While the tab holds (call_media_set_hold) or the far end holds us
 * (call_media_set_remote_hold: its offer said sendonly/inactive), the browser's audio is not
 * forwarded to the SIP side; audio from the far end still reaches the browser (a PBX may play
 * music on hold). On resume our SIP-side stream goes on with the next sequence number and a
 * timestamp advanced by the wall-clock time of the hold (marker bit set), as after silence
 * suppression. The RTP inactivity timeout is suspended while either hold lasts and counts again
 * from the moment the last one ends (an inactive far end sends nothing at all). */
void call_media_set_hold(call_media *media, bool held);
void call_media_set_remote_hold(call_media *media, bool held);
/* Sends RFC 4733 events toward the SIP side (digits 0-9*#A-D). */
void call_media_send_dtmf(call_media *media, const char *digits, int duration_ms);

#endif
