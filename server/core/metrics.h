/* metrics: the process-wide counter registry behind GET /metrics (Prometheus text format).
 *
 * Counters only go up; they count events that an operator wants to alert on (logins refused,
 * foreign RTP dropped, calls refused for lack of ports...). Gauges (calls, sessions,
 * registrations right now) are not kept here: /metrics asks the app for them when it renders,
 * the same way /healthz does.
 *
 * This is one of the clearly named registries the style guide allows: a fixed table of atomic
 * counters, written from any thread (media workers count packets too), read by /metrics.
 * Adding a counter: one enum entry here and one row (name + help) in metrics.c.
 *
 * Threading: metrics_count may be called from any thread (relaxed atomics, no lock, no
 * allocation: it sits on packet paths). metrics_render runs on the control thread.
 */
#ifndef TABPHONE_CORE_METRICS_H
#define TABPHONE_CORE_METRICS_H

#include <glib.h>
#include <stdint.h>

typedef enum {
  METRIC_LOGINS_OK,
  METRIC_LOGINS_FAILED,
  METRIC_LOGINS_LOCKED_OUT,      /* refused because the user or the source IP is locked out */
  METRIC_LOGIN_LOCKOUTS,         /* lockouts started (one per user or address locked) */
  METRIC_SESSIONS_REFUSED,       /* sessions per IP, trusted_sources, scanner user agents */
  METRIC_SESSIONS_RESUMED,       /* a reconnecting tab took its calls back */
  METRIC_WS_ABUSE_CLOSED,        /* sockets closed for repeated abuse */
  METRIC_CALLS_OUTBOUND,         /* INVITEs we sent for tabs */
  METRIC_CALLS_INBOUND,          /* INVITEs accepted for a known account */
  METRIC_CALLS_FAILED,           /* calls that ended with an error before being answered (not a tab's reject) */
  METRIC_CALLS_DENIED_DIAL_PLAN,
  METRIC_CALLS_REFUSED_LIMIT,    /* call limits (per session/user/server) */
  METRIC_CALLS_REFUSED_NO_PORTS, /* rtp port range exhausted or workers overloaded */
  METRIC_SIP_SCANNER_REFUSED,    /* INVITE/REGISTER/OPTIONS from scanners or unknown users */
  METRIC_SIP_UNTRUSTED_SOURCE,   /* trunk requests from outside trusted_sources */
  METRIC_RTP_FOREIGN_DROPPED,    /* RTP/RTCP from a source the leg did not latch to */
  METRIC_RTP_TIMEOUTS,           /* calls ended by rtp_timeout */
  METRIC_SESSION_TIMER_EXPIRED,  /* calls ended because the SIP session timer ran out */
  METRIC_REGISTRATION_FAILURES,
  METRIC_TRANSCODED_FRAMES,      /* 20 ms frames decoded + re-encoded by the bridge */
  METRIC_ICE_RESTARTS,           /* ICE restarts (reoffer) taken from tabs */
  METRIC_COUNT_
} metric_id;

/* Adds n to a counter. Any thread. */
void metrics_count(metric_id id, uint64_t n);
static inline void metrics_inc(metric_id id) { metrics_count(id, 1); }

uint64_t metrics_value(metric_id id);

/* Appends every counter in Prometheus text exposition format (# HELP, # TYPE, value) to out.
 * Names are prefixed "tabphone_" and end in "_total". */
void metrics_render(GString *out);

#endif
