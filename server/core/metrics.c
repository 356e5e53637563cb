/* metrics: see metrics.h. */
#include "core/metrics.h"

#include <stdatomic.h>

typedef struct {
  const char *name; /* without the tabphone_ prefix and _total suffix */
  const char *help;
} metric_info;

static const metric_info metric_infos[METRIC_COUNT_] = {
  [METRIC_LOGINS_OK] = {"logins", "Successful logins (password or token)."},
  [METRIC_LOGINS_FAILED] = {"logins_failed", "Logins refused: wrong user, password or token."},
  [METRIC_LOGINS_LOCKED_OUT] = {"logins_locked_out", "Logins refused during a lockout."},
  [METRIC_LOGIN_LOCKOUTS] = {"login_lockouts", "Lockouts started (of a user name or a source address)."},
  [METRIC_SESSIONS_REFUSED] = {"sessions_refused", "WebSocket sessions refused (limits, sources)."},
  [METRIC_SESSIONS_RESUMED] = {"sessions_resumed", "Sessions resumed by a reconnecting tab."},
  [METRIC_WS_ABUSE_CLOSED] = {"ws_abuse_closed", "WebSockets closed for repeated abuse."},
  [METRIC_CALLS_OUTBOUND] = {"calls_outbound", "Outbound calls placed (INVITE sent)."},
  [METRIC_CALLS_INBOUND] = {"calls_inbound", "Inbound calls offered to tabs."},
  [METRIC_CALLS_FAILED] = {"calls_failed",
                            "Calls ended before being answered with a SIP error (4xx-6xx, not 487; "
                            "not an inbound call the tabs rejected)."},
  [METRIC_CALLS_DENIED_DIAL_PLAN] = {"calls_denied_dial_plan", "Calls refused by the dial plan."},
  [METRIC_CALLS_REFUSED_LIMIT] = {"calls_refused_limit", "Calls refused by call limits."},
  [METRIC_CALLS_REFUSED_NO_PORTS] = {"calls_refused_no_ports",
                                     "Calls refused: RTP ports exhausted or workers overloaded."},
  [METRIC_SIP_SCANNER_REFUSED] = {"sip_scanner_refused",
                                  "SIP requests refused as scanner probes or unknown users."},
  [METRIC_SIP_UNTRUSTED_SOURCE] = {"sip_untrusted_source",
                                   "SIP requests refused from outside trusted_sources."},
  [METRIC_RTP_FOREIGN_DROPPED] = {"rtp_foreign_dropped",
                                  "RTP/RTCP packets dropped from a source the call did not latch to."},
  [METRIC_RTP_TIMEOUTS] = {"rtp_timeouts", "Calls ended by the RTP inactivity timeout."},
  [METRIC_ICE_RESTARTS] = {"ice_restarts", "ICE restarts (reoffer) accepted from tabs."},
  [METRIC_SESSION_TIMER_EXPIRED] = {"session_timer_expired",
                                    "Calls ended because the SIP session timer expired."},
  [METRIC_REGISTRATION_FAILURES] = {"registration_failures", "Failed REGISTER attempts."},
  [METRIC_TRANSCODED_FRAMES] = {"transcoded_frames", "Audio frames decoded and re-encoded."},
};

/* The registry itself: one atomic counter per metric_id. */
static _Atomic uint64_t metric_values[METRIC_COUNT_];

void metrics_count(metric_id id, uint64_t n) {
  if (id >= 0 && id < METRIC_COUNT_)
    atomic_fetch_add_explicit(&metric_values[id], n, memory_order_relaxed);
}

uint64_t metrics_value(metric_id id) {
  if (id < 0 || id >= METRIC_COUNT_) return 0;
  return atomic_load_explicit(&metric_values[id], memory_order_relaxed);
}

void metrics_render(GString *out) {
  for (int id = 0; id < METRIC_COUNT_; id++) {
    const metric_info *info = &metric_infos[id];
    g_string_append_printf(out, "# HELP tabphone_%s_total %s\n# TYPE tabphone_%s_total counter\n"
                                "tabphone_%s_total %" G_GUINT64_FORMAT "\n",
                           info->name, info->help, info->name, info->name,
                           (guint64)metrics_value((metric_id)id));
  }
}
