/* guard: see guard.h.
 *
 * State kept here is only what cannot be derived: lockout and rate-limit buckets. Concurrency
 * (sessions per address, calls per tab/user/server) is counted from the hub's registries at
 * the moment of the check, so it can never drift from what is really open. */
#include "signal/guard.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "auth/dial_plan.h"
#include "auth/lockout.h"
#include "auth/rate_limit.h"
#include "core/log.h"
#include "core/metrics.h"
#include "signal/protocol.h"
#include "signal/session.h"

enum { MESSAGE_WINDOW_SECONDS = 10, CALL_RATE_WINDOW_SECONDS = 60 };

struct guard {
  const config *cfg;
  lockout *users;          /* failed logins per user name (as typed) */
  lockout *addresses;      /* failed logins per source address */
  rate_limit *messages;    /* per session id */
  GHashTable *call_rates;  /* user name -> rate_limit* (each user has its own budget) */
  rate_limit *invites;     /* inbound INVITEs per account name ([server] invite_rate) */
  rate_limit *invite_logs; /* one "refused" log line per account (or server) per window */
};

guard *guard_new(const config *cfg) {
  guard *g = g_new0(guard, 1);
  g->cfg = cfg;
  g->users = lockout_new(cfg->login_max_failures, cfg->login_lockout, NULL, NULL);
  g->addresses = lockout_new(cfg->login_max_failures_per_ip, cfg->login_lockout, NULL, NULL);
  g->messages = rate_limit_new(cfg->message_rate, MESSAGE_WINDOW_SECONDS, NULL, NULL);
  g->call_rates = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify)rate_limit_free);
  if (cfg->invite_rate > 0)
    g->invites = rate_limit_new(cfg->invite_rate, MESSAGE_WINDOW_SECONDS, NULL, NULL);
  g->invite_logs = rate_limit_new(1, MESSAGE_WINDOW_SECONDS, NULL, NULL);
  return g;
}

void guard_free(guard *g) {
  if (!g) return;
  lockout_free(g->users);
  lockout_free(g->addresses);
  rate_limit_free(g->messages);
  g_hash_table_destroy(g->call_rates);
  rate_limit_free(g->invites);
  rate_limit_free(g->invite_logs);
  g_free(g);
}

void guard_peer_ip(const char *peer, char *ip, size_t ip_len) {
  const char *start = peer ? peer : "?";
  size_t n;
  if (start[0] == '[') {
    start++;
    n = strcspn(start, "]");
  } else {
    const char *colon = strrchr(start, ':');
    n = colon ? (size_t)(colon - start) : strlen(start);
  }
  if (n >= ip_len) n = ip_len - 1;
  memcpy(ip, start, n);
  ip[n] = '\0';
}

/* ---- login -------------------------------------------------------------------------------- */

bool guard_login_allowed(guard *g, const char *ip, const char *user) {
  return lockout_remaining(g->addresses, ip) == 0 && lockout_remaining(g->users, user) == 0;
}

void guard_login_failed(guard *g, const char *subject, const char *peer, const char *ip,
                        const char *user) {
  int user_lock = lockout_failure(g->users, user);
  int ip_lock = lockout_failure(g->addresses, ip);
  /* One line when a lock starts, not one per refused attempt: a flood must not flood the log. */
  metrics_count(METRIC_LOGIN_LOCKOUTS, (user_lock ? 1 : 0) + (ip_lock ? 1 : 0));
  if (user_lock)
    log_warn("auth", subject, peer, "login locked for user '%.64s' for %d s after %d failures",
             user, user_lock, g->cfg->login_max_failures);
  if (ip_lock)
    log_warn("auth", subject, peer, "login locked for address %s for %d s after %d failures "
             "(last user '%.64s')", ip, ip_lock, g->cfg->login_max_failures_per_ip, user);
}

void guard_login_succeeded(guard *g, const char *user) { lockout_success(g->users, user); }

/* ---- sessions ----------------------------------------------------------------------------- */

bool guard_message_allowed(guard *g, const char *session_id) {
  return rate_limit_take(g->messages, session_id);
}

void guard_session_closed(guard *g, const char *session_id) {
  rate_limit_forget(g->messages, session_id);
}

/* ---- calls -------------------------------------------------------------------------------- */

static void refuse_call(session *s, const json_t *request, int code, const char *reason) {
  json_t *hangup = json_pack("{s:s, s:s, s:i, s:s}", "type", "hangup", "call_id",
                             protocol_string(request, "call_id"), "code", code, "reason", reason);
  session_send(s, hangup);
}

static bool call_rate_allowed(guard *g, const config_user *user) {
  if (!user || user->calls_per_minute <= 0) return true;
  rate_limit *rl = g_hash_table_lookup(g->call_rates, user->name);
  if (!rl) {
    rl = rate_limit_new(user->calls_per_minute, CALL_RATE_WINDOW_SECONDS, NULL, NULL);
    g_hash_table_insert(g->call_rates, g_strdup(user->name), rl);
  }
  return rate_limit_take(rl, user->name);
}

/* Which concurrency limit (if any) one more call would break; NULL = none. */
static const char *call_limit_reached(guard *g, hub *h, session *s, const config_user *user) {
  const config *cfg = g->cfg;
  if (cfg->max_calls > 0 && hub_count_calls(h, NULL, NULL) >= (unsigned)cfg->max_calls)
    return "server max_calls";
  if (hub_count_calls(h, s, NULL) >= (unsigned)cfg->max_calls_per_session)
    return "max_calls_per_session";
  if (user && user->max_calls > 0 && hub_count_calls(h, NULL, user) >= (unsigned)user->max_calls)
    return "user max_calls";
  return NULL;
}

bool guard_admit_call(guard *g, hub *h, session *s, const json_t *request, const char *target) {
  const config_user *user = session_user(s);
  const char *call_id = protocol_string(request, "call_id");
  char subject[96];
  snprintf(subject, sizeof subject, "call %.80s", call_id);
  const char *rule = NULL;
  if (target && user && !dial_plan_allows(user->dial_allow, user->dial_deny, target, &rule)) {
    log_warn("call", subject, session_peer(s), "user %s may not call %s (%s%s)", user->name,
             target, rule ? "dial_deny " : "not in dial_allow", rule ? rule : "");
    metrics_inc(METRIC_CALLS_DENIED_DIAL_PLAN);
    refuse_call(s, request, 403, "not_allowed_by_dial_plan");
    return false;
  }
  const char *limit = call_limit_reached(g, h, s, user);
  if (!limit && !call_rate_allowed(g, user)) limit = "user calls_per_minute";
  if (limit) {
    log_warn("call", subject, session_peer(s), "refused for user %s: %s reached",
             user ? user->name : "local", limit);
    metrics_inc(METRIC_CALLS_REFUSED_LIMIT);
    refuse_call(s, request, 503, "too_many_calls");
    return false;
  }
  return true;
}

bool guard_admit_inbound(guard *g, const config_account *account, const char *from_uri,
                         size_t calls_now) {
  if (g->cfg->max_calls > 0 && calls_now >= (size_t)g->cfg->max_calls) {
    metrics_inc(METRIC_CALLS_REFUSED_LIMIT);
    /* One line per window, not one per INVITE: a flood must not flood the log too. (The key
     * starts with a space, which no account name has.) */
    if (rate_limit_take(g->invite_logs, " max_calls"))
      log_warn("call", account->name, NULL,
               "INVITE from %.128s refused (503): server max_calls (%d) reached",
               from_uri ? from_uri : "?", g->cfg->max_calls);
    return false;
  }
  if (!g->invites || rate_limit_take(g->invites, account->name)) return true;
  if (rate_limit_take(g->invite_logs, account->name))
    log_warn("call", account->name, NULL,
             "INVITE from %.128s refused (503): more than %d INVITEs for this account in %d s",
             from_uri ? from_uri : "?", g->cfg->invite_rate, MESSAGE_WINDOW_SECONDS);
  return false;
}
