/* session: see session.h.
 *
 * Reading order: lifecycle (new / close / refcount), timers, the dispatcher (one handler per
 * message type), then the handlers: login, register / unregister, ping, and the call messages
 * that this build does not carry out yet. */
#include "signal/session.h"

#include <gio/gio.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "auth/password.h"
#include "auth/token.h"
#include "core/log.h"
#include "core/metrics.h"
#include "signal/call.h"
#include "signal/guard.h"
#include "signal/protocol.h"
#include "sip/registration.h"

enum {
  MAX_FAILED_LOGINS = 3,     /* then the socket is closed */
  MAX_INVALID_MESSAGES = 10, /* per session, then the socket is closed as abusive */
  MAX_BYO_REGISTRATIONS = 4, /* per session */
  MAX_BACKLOG = 256,         /* messages kept for a detached tab; more are dropped */
  RESUME_TOKEN_BYTES = 32,   /* random bytes in a resume token (256 bits: unguessable) */
  WS_CLOSE_NORMAL = 1000,
  WS_CLOSE_GOING_AWAY = 1001,
  WS_CLOSE_POLICY = 1008,
  WS_CLOSE_NO_STATUS = 1005,
  WS_CLOSE_RESUMED_ELSEWHERE = 4001, /* private range: another socket took this session */
};

/* A hash nobody's password matches: verified against when the user name is unknown, so that
 * an unknown user costs the same time as a wrong password (no user enumeration by timing). */
static const char UNKNOWN_USER_HASH[] =
    "pbkdf2-sha256$200000$dGFicGhvbmUtZHVtbXktcw==$ftuGOOjx6pkBNEwnW/7UjHkUyo3Pf1NUnxMn+WytYrY=";

typedef struct byo_registration {
  session *owner;
  registration *reg;
  char *uri;
  config_account account; /* the account calls from this URI use; strings owned here */
  guint forget_source; /* pending removal after an un-REGISTER completed, 0 if none */
} byo_registration;

struct session {
  int refs;              /* 1 for the connection + 1 per pending password check */
  hub *hub;
  ws_conn *conn;         /* NULL once the connection closed */
  char id[17];
  char subject[32];      /* "session <id>" for logs */
  char peer[64];
  char ip[64];           /* peer without the port: what per-address limits are keyed by */
  bool logged_in;
  bool login_pending;
  const config_user *user; /* NULL in open mode */
  char *user_name;
  char **token_accounts; /* token login with "accounts": only these; NULL = the user's own */
  int failed_logins;
  int invalid_messages;
  guint login_timer;
  guint idle_timer;
  GPtrArray *byo;        /* byo_registration*, owned */

  /* Resume (docs/protocol.md "Reconnecting"): the token the last welcome gave the tab (base64url,
   * never logged; "" = none). A session whose WebSocket drops without a close frame is
   * *detached*: out of the hub's session list, its calls and own registrations kept for
   * [server] reconnect_grace_seconds, its messages kept in backlog for the tab. */
  char resume_token[64];
  bool detached;
  bool no_resume;        /* closed for abuse, or taken over: never detach */
  guint grace_timer;
  GPtrArray *backlog;    /* json_t*, owned, oldest first; only while detached */
  bool backlog_overflow;
};

/* ---- lifecycle --------------------------------------------------------------------------- */

static void byo_free(byo_registration *b) {
  if (b->forget_source) g_source_remove(b->forget_source);
  registration_free(b->reg); /* un-REGISTERs on its own if still registered */
  g_free(b->uri);
  g_free(b->account.uri);
  g_free(b->account.username);
  g_free(b->account.password);
  g_free(b->account.proxy);
  g_free(b->account.display_name);
  g_strfreev(b->account.codecs);
  g_free(b);
}

static void session_unref(session *s) {
  if (--s->refs > 0) return;
  g_free(s->user_name);
  g_strfreev(s->token_accounts);
  g_free(s);
}

static void close_connection(session *s, int status, const char *why) {
  if (!s->conn) return;
  if (status == WS_CLOSE_POLICY) s->no_resume = true; /* an abusive tab gets nothing back */
  log_info("ws", s->subject, s->peer, "closing: %s", why);
  ws_conn_close(s->conn, status, why);
}

static gboolean on_login_timeout(gpointer data) {
  session *s = data;
  s->login_timer = 0;
  close_connection(s, WS_CLOSE_POLICY, "login timeout");
  return G_SOURCE_REMOVE;
}

static gboolean on_idle_timeout(gpointer data) {
  session *s = data;
  s->idle_timer = 0;
  close_connection(s, WS_CLOSE_GOING_AWAY, "idle timeout");
  return G_SOURCE_REMOVE;
}

static void restart_idle_timer(session *s) {
  if (s->idle_timer) g_source_remove(s->idle_timer);
  s->idle_timer = g_timeout_add_seconds((guint)hub_config(s->hub)->session_idle_timeout,
                                        on_idle_timeout, s);
}

static void send_welcome(session *s, const json_t *request);

/* [server] max_sessions_per_ip: the session over the limit (already counted by the hub) is
 * closed at once with a policy violation, before any login. */
static bool too_many_sessions(session *s) {
  int limit = hub_config(s->hub)->max_sessions_per_ip;
  if (hub_count_sessions_from(s->hub, s->ip) <= (unsigned)limit) return false;
  log_warn("ws", s->subject, s->peer, "refused: more than %d sessions from %s", limit, s->ip);
  metrics_inc(METRIC_SESSIONS_REFUSED);
  close_connection(s, WS_CLOSE_POLICY, "too many sessions from this address");
  return true;
}

session *session_new(hub *h, ws_conn *conn, const char *peer) {
  session *s = g_new0(session, 1);
  s->refs = 1;
  s->hub = h;
  s->conn = conn;
  unsigned char raw[8];
  if (RAND_bytes(raw, sizeof raw) != 1) {
    g_free(s);
    return NULL;
  }
  for (size_t i = 0; i < sizeof raw; i++) snprintf(s->id + 2 * i, 3, "%02x", raw[i]);
  snprintf(s->subject, sizeof s->subject, "session %.8s", s->id);
  g_strlcpy(s->peer, peer ? peer : "?", sizeof s->peer);
  guard_peer_ip(s->peer, s->ip, sizeof s->ip);
  s->byo = g_ptr_array_new_with_free_func((GDestroyNotify)byo_free);
  hub_add_session(h, s);
  log_info("ws", s->subject, s->peer, "connected");
  restart_idle_timer(s);
  if (too_many_sessions(s)) return s;

  if (config_open_mode(hub_config(h))) {
    s->logged_in = true;
    s->user_name = g_strdup("local");
    send_welcome(s, NULL);
  } else {
    s->login_timer = g_timeout_add_seconds((guint)hub_config(h)->login_timeout,
                                           on_login_timeout, s);
  }
  return s;
}

/* The end of a session, attached or detached: its calls end (BYE), ringing stops there, its
 * own registrations are un-REGISTERed, and the session is released. */
static void finish(session *s) {
  bool was_detached = s->detached;
  s->detached = false;
  s->conn = NULL; /* nothing more reaches the tab (call_end's hangups included) */
  if (s->grace_timer) g_source_remove(s->grace_timer);
  s->grace_timer = 0;
  hub_session_closed(s->hub, s);
  if (was_detached)
    hub_remove_detached(s->hub, s);
  else
    hub_remove_session(s->hub, s);
  guard_session_closed(hub_guard(s->hub), s->id);
  g_ptr_array_free(s->byo, TRUE);
  s->byo = NULL;
  if (s->backlog) g_ptr_array_free(s->backlog, TRUE);
  s->backlog = NULL;
  OPENSSL_cleanse(s->resume_token, sizeof s->resume_token);
  session_unref(s);
}

static gboolean on_grace_over(gpointer data) {
  session *s = data;
  s->grace_timer = 0;
  log_info("ws", s->subject, s->peer, "not resumed within %d s: ending its %u call(s)",
           hub_config(s->hub)->reconnect_grace_seconds, hub_count_calls(s->hub, s, NULL));
  finish(s);
  return G_SOURCE_REMOVE;
}

/* Keep the session for a resume? Only a logged-in tab with something to lose whose link broke:
 * a close frame with 1000/1001/1005 means the tab left on purpose (page closed or navigated),
 * and then its calls end at once as before. */
static bool should_detach(const session *s, int peer_close_status) {
  if (hub_config(s->hub)->reconnect_grace_seconds <= 0 || !s->logged_in || s->no_resume ||
      !s->resume_token[0] || !hub_accepts_detach(s->hub))
    return false;
  if (peer_close_status == WS_CLOSE_NORMAL || peer_close_status == WS_CLOSE_GOING_AWAY ||
      peer_close_status == WS_CLOSE_NO_STATUS)
    return false;
  return hub_count_calls(s->hub, s, NULL) > 0 || s->byo->len > 0;
}

static void detach(session *s) {
  int grace = hub_config(s->hub)->reconnect_grace_seconds;
  s->detached = true;
  s->conn = NULL;
  s->backlog = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);
  s->backlog_overflow = false;
  hub_remove_session(s->hub, s);
  hub_add_detached(s->hub, s);
  hub_session_detached(s->hub, s); /* calls ringing here ring only on the other tabs now */
  s->grace_timer = g_timeout_add((guint)grace * 1000u, on_grace_over, s); /* not _seconds: +-1 s */
  log_info("ws", s->subject, s->peer, "connection lost: %u call(s) and %u own registration(s) "
           "kept for %d s for the tab to resume", hub_count_calls(s->hub, s, NULL), s->byo->len,
           grace);
}

void session_on_close(session *s) {
  int peer_status = ws_conn_peer_close_status(s->conn);
  if (s->login_timer) g_source_remove(s->login_timer);
  if (s->idle_timer) g_source_remove(s->idle_timer);
  s->login_timer = s->idle_timer = 0;
  if (should_detach(s, peer_status)) {
    detach(s);
    return;
  }
  log_info("ws", s->subject, s->peer, "disconnected (%u bring-your-own registrations released)",
           s->byo->len);
  finish(s);
}

void session_end_detached(session *s) {
  if (!s->detached) return;
  log_info("ws", s->subject, s->peer, "detached session ends (server stopping)");
  finish(s);
}

bool session_resume_token_is(const session *s, const char *token) {
  size_t n = strlen(s->resume_token);
  return s->logged_in && n > 0 && strlen(token) == n &&
         CRYPTO_memcmp(s->resume_token, token, n) == 0;
}

const char *session_id(const session *s) { return s->id; }
const char *session_peer(const session *s) { return s->peer; }
const config_user *session_user(const session *s) { return s->logged_in ? s->user : NULL; }

/* The user's accounts, narrowed by the login token's "accounts" when it had one. */
static bool may_use(const session *s, const char *account_name) {
  if (!config_user_may_use(hub_config(s->hub), s->user, account_name)) return false;
  return !s->token_accounts || g_strv_contains((const char *const *)s->token_accounts,
                                               account_name);
}

/* While detached, messages wait for the tab (bounded: a tab that never comes back must not
 * make the server buffer without limit; the resume says which calls are still live anyway). */
static void keep_for_resume(session *s, json_t *message) {
  if (s->backlog->len < MAX_BACKLOG)
    g_ptr_array_add(s->backlog, message);
  else {
    s->backlog_overflow = true;
    json_decref(message);
  }
}

void session_send(session *s, json_t *message) {
  if (s->detached) {
    keep_for_resume(s, message);
    return;
  }
  if (s->conn) {
    char *text = protocol_dump(message);
    if (text && !ws_conn_send_text(s->conn, text, strlen(text)))
      close_connection(s, WS_CLOSE_POLICY, "tab is not reading its messages");
    free(text);
  }
  json_decref(message);
}

bool session_may_use_account(const session *s, const char *account_name) {
  return s->logged_in && may_use(s, account_name);
}

/* ---- replies ----------------------------------------------------------------------------- */

static void send_error(session *s, const json_t *request, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void send_error(session *s, const json_t *request, const char *code, const char *fmt, ...) {
  char message[256];
  va_list args;
  va_start(args, fmt);
  vsnprintf(message, sizeof message, fmt, args);
  va_end(args);
  session_send(s, protocol_error_reply(request, code, message));
}

/* Adds the request's "id" to a reply, so the tab can match it. */
static json_t *with_id(json_t *reply, const json_t *request) {
  json_t *id = request ? json_object_get(request, "id") : NULL;
  if (id) json_object_set(reply, "id", id);
  return reply;
}

/* An invalid message: answered, counted, and after MAX_INVALID_MESSAGES the socket closes. */
static void count_abuse(session *s) {
  if (++s->invalid_messages == MAX_INVALID_MESSAGES) metrics_inc(METRIC_WS_ABUSE_CLOSED);
  if (s->invalid_messages >= MAX_INVALID_MESSAGES)
    close_connection(s, WS_CLOSE_POLICY, "too many invalid messages");
}

/* ---- login ------------------------------------------------------------------------------- */

static json_t *account_list(session *s) {
  const config *cfg = hub_config(s->hub);
  json_t *list = json_array();
  for (size_t i = 0; i < cfg->account_count; i++) {
    const config_account *acc = &cfg->accounts[i];
    if (!may_use(s, acc->name)) continue;
    json_t *entry = json_pack("{s:s, s:s?, s:s?, s:b, s:b, s:o}", "name", acc->name, "uri",
                              acc->uri, "display_name", acc->display_name, "registers",
                              acc->do_register && !acc->direct, "direct", acc->direct,
                              "registration", hub_account_status(s->hub, acc->name));
    json_array_append_new(list, entry);
  }
  return list;
}

static bool byo_allowed(const session *s) {
  return hub_config(s->hub)->byo_accounts && (!s->user || s->user->byo_accounts);
}

/* A fresh resume token for every welcome (a resumed session gets a new one too, so a token
 * works once). base64url of RESUME_TOKEN_BYTES random bytes; "" when resume is off. */
static void new_resume_token(session *s) {
  unsigned char raw[RESUME_TOKEN_BYTES];
  s->resume_token[0] = '\0';
  if (hub_config(s->hub)->reconnect_grace_seconds <= 0 || RAND_bytes(raw, sizeof raw) != 1)
    return;
  gchar *b64 = g_base64_encode(raw, sizeof raw);
  size_t n = 0;
  for (const char *p = b64; *p && *p != '=' && n + 1 < sizeof s->resume_token; p++)
    s->resume_token[n++] = *p == '+' ? '-' : *p == '/' ? '_' : *p;
  s->resume_token[n] = '\0';
  OPENSSL_cleanse(b64, strlen(b64));
  g_free(b64);
  OPENSSL_cleanse(raw, sizeof raw);
}

static void send_welcome(session *s, const json_t *request) {
  new_resume_token(s);
  json_t *welcome = json_pack("{s:s, s:s, s:s, s:o, s:[], s:b, s:b, s:s}", "type", "welcome",
                              "session", s->id, "user", s->user_name, "accounts", account_list(s),
                              "ice_servers", "byo_accounts", byo_allowed(s), "open_mode",
                              config_open_mode(hub_config(s->hub)), "version", TABPHONE_VERSION);
  if (request && protocol_string(request, "resume")) {
    json_object_set_new(welcome, "resumed", json_true());
    json_object_set_new(welcome, "calls", hub_call_ids(s->hub, s));
  }
  if (s->resume_token[0]) {
    json_object_set_new(welcome, "resume_token", json_string(s->resume_token));
    json_object_set_new(welcome, "reconnect_grace_seconds",
                        json_integer(hub_config(s->hub)->reconnect_grace_seconds));
  }
  session_send(s, with_id(welcome, request));
}

typedef struct login_check {
  session *s;
  json_t *request;
  char *password;
  const char *hash; /* borrowed from config (or UNKNOWN_USER_HASH) */
  const config_user *user;
} login_check;

static void login_check_free(login_check *check) {
  if (check->password) {
    OPENSSL_cleanse(check->password, strlen(check->password));
    g_free(check->password);
  }
  json_decref(check->request);
  g_free(check);
}

/* Worker thread: only the pure password check runs here. */
static void run_password_check(GTask *task, gpointer source, gpointer data, GCancellable *c) {
  (void)source;
  (void)c;
  login_check *check = data;
  g_task_return_boolean(task, password_verify(check->password, check->hash));
}

/* Every failed login looks the same to the tab (locked, unknown user, wrong password, bad
 * token): one generic login_failed. The log says which, without the secret. */
static void login_failed(session *s, const json_t *request, const char *user, const char *why,
                         bool counts) {
  s->failed_logins++;
  /* The user name is outside input: logged (sanitised by log), the password never. */
  log_warn("auth", s->subject, s->peer, "login failed for user '%.64s': %s (%d of %d)",
           user ? user : "", why, s->failed_logins, MAX_FAILED_LOGINS);
  if (counts) guard_login_failed(hub_guard(s->hub), s->subject, s->peer, s->ip, user ? user : "");
  metrics_inc(counts ? METRIC_LOGINS_FAILED : METRIC_LOGINS_LOCKED_OUT);
  send_error(s, request, PROTO_ERR_LOGIN_FAILED, "wrong user name or password");
  if (s->failed_logins == MAX_FAILED_LOGINS) metrics_inc(METRIC_WS_ABUSE_CLOSED);
  if (s->failed_logins >= MAX_FAILED_LOGINS)
    close_connection(s, WS_CLOSE_POLICY, "too many failed logins");
}

/* Takes token_accounts (NULL = the user's own list). */
static void login_succeeded(session *s, const json_t *request, const config_user *user,
                            char **token_accounts, const char *how) {
  s->logged_in = true;
  s->user = user;
  s->user_name = g_strdup(user->name);
  s->token_accounts = token_accounts;
  if (s->login_timer) g_source_remove(s->login_timer);
  s->login_timer = 0;
  guard_login_succeeded(hub_guard(s->hub), user->name);
  metrics_inc(METRIC_LOGINS_OK);
  log_info("auth", s->subject, s->peer, "user %s logged in (%s)", s->user_name, how);
  send_welcome(s, request);
}

static void on_password_checked(GObject *source, GAsyncResult *result, gpointer data) {
  (void)source;
  (void)data;
  login_check *check = g_task_get_task_data(G_TASK(result));
  session *s = check->s;
  bool ok = g_task_propagate_boolean(G_TASK(result), NULL) && check->user;
  s->login_pending = false;
  if (s->conn) {
    if (ok)
      login_succeeded(s, check->request, check->user, NULL, "password");
    else
      login_failed(s, check->request, protocol_string(check->request, "user"),
                   check->user ? "wrong password" : "unknown user", true);
  }
  session_unref(s);
}

/* Token login is synchronous: an HMAC costs microseconds, unlike PBKDF2. */
static void handle_token_login(session *s, json_t *request, const char *user_name) {
  const config *cfg = hub_config(s->hub);
  if (!cfg->token_secret) {
    login_failed(s, request, user_name, "token login is not configured (no token_secret)", true);
    return;
  }
  token_claims claims;
  token_status status = token_verify(cfg->token_secret, protocol_string(request, "token"),
                                     (int64_t)(g_get_real_time() / G_USEC_PER_SEC), &claims);
  const config_user *user = status == TOKEN_OK ? config_find_user(cfg, claims.user) : NULL;
  if (status != TOKEN_OK || !user || strcmp(claims.user, user_name) != 0) {
    char why[96];
    snprintf(why, sizeof why, "token %s", status != TOKEN_OK ? token_status_text(status)
                                          : !user ? "for an unknown user"
                                                  : "for another user");
    token_claims_clear(&claims);
    login_failed(s, request, user_name, why, true);
    return;
  }
  char **accounts = claims.accounts;
  claims.accounts = NULL;
  token_claims_clear(&claims);
  login_succeeded(s, request, user, accounts, "token");
}

/* ---- resume ------------------------------------------------------------------------------ */

/* s takes over everything old had: the user, the login token's account list, the own
 * registrations, the calls (owned and ringing) and the messages kept while old was detached
 * (returned; the caller sends them after the welcome). old is then finished (detached) or its
 * socket closed (a connection the server still thought alive: the tab's network changed). */
static GPtrArray *take_over(session *s, session *old) {
  g_free(s->user_name);
  s->user_name = g_strdup(old->user_name);
  s->user = old->user;
  g_strfreev(s->token_accounts);
  s->token_accounts = old->token_accounts;
  old->token_accounts = NULL;
  s->logged_in = true;
  if (s->login_timer) g_source_remove(s->login_timer);
  s->login_timer = 0;
  while (old->byo->len > 0) {
    byo_registration *b = g_ptr_array_steal_index(old->byo, 0);
    b->owner = s;
    g_ptr_array_add(s->byo, b);
  }
  hub_move_calls(s->hub, old, s);
  GPtrArray *backlog = old->backlog;
  old->backlog = NULL;
  if (old->detached) {
    finish(old);
  } else {
    old->no_resume = true;
    old->logged_in = false;
    old->resume_token[0] = '\0';
    close_connection(old, WS_CLOSE_RESUMED_ELSEWHERE, "session resumed by another connection");
  }
  return backlog;
}

/* A resume that did not work looks like any failed login to the tab, and counts towards the
 * socket's MAX_FAILED_LOGINS; but not towards the user's or the address's lockout: after a
 * server restart every open tab of a user fails its resume at once, which must not lock the
 * user out of the password login that follows. (A 256-bit token cannot be guessed anyway.) */
static void resume_failed(session *s, const json_t *request, const char *user, const char *why) {
  s->failed_logins++;
  log_info("auth", s->subject, s->peer, "resume refused for user '%.64s': %s (%d of %d)",
           user ? user : "", why, s->failed_logins, MAX_FAILED_LOGINS);
  send_error(s, request, PROTO_ERR_LOGIN_FAILED, "wrong user name or password");
  if (s->failed_logins >= MAX_FAILED_LOGINS)
    close_connection(s, WS_CLOSE_POLICY, "too many failed logins");
}

/* login with "resume": the token of the last welcome, for the same user. A wrong, used or
 * expired token, or one of another user, is an ordinary login_failed; the tab then logs in
 * afresh. */
static void handle_resume_login(session *s, json_t *request, const char *user_name) {
  const char *token = protocol_string(request, "resume");
  session *old = hub_find_resumable(s->hub, token, s);
  if (!old || !old->user_name || strcmp(old->user_name, user_name) != 0) {
    resume_failed(s, request, user_name,
                  old ? "token of another user" : "token unknown, used or expired");
    return;
  }
  bool was_detached = old->detached;
  if (old->backlog_overflow)
    log_warn("ws", s->subject, s->peer, "resume: more than %d messages waited for the tab; the "
             "rest were dropped (the call_state \"resumed\" messages tell where calls stand)",
             MAX_BACKLOG);
  char old_subject[32];
  g_strlcpy(old_subject, old->subject, sizeof old_subject);
  GPtrArray *backlog = take_over(s, old);
  unsigned calls = hub_count_calls(s->hub, s, NULL);
  metrics_inc(METRIC_SESSIONS_RESUMED);
  log_info("auth", s->subject, s->peer, "user %s resumed %s (%s): %u call(s), %u own "
           "registration(s)", s->user_name, old_subject, was_detached ? "detached" : "still open",
           calls, s->byo->len);
  send_welcome(s, request); /* with resumed + calls: see below */
  for (guint i = 0; backlog && i < backlog->len; i++)
    session_send(s, json_incref(g_ptr_array_index(backlog, i)));
  if (backlog) g_ptr_array_free(backlog, TRUE);
  hub_send_resumed_calls(s->hub, s); /* call_state "resumed" per live call */
}

static void handle_login(session *s, json_t *request) {
  bool resume = protocol_string(request, "resume") != NULL;
  /* In open mode every socket is logged in at once; a resume is still welcome there while the
   * new session holds nothing of its own. */
  bool open_resume = resume && config_open_mode(hub_config(s->hub)) && s->byo->len == 0 &&
                     hub_count_calls(s->hub, s, NULL) == 0;
  if (s->logged_in && !open_resume) {
    send_error(s, request, PROTO_ERR_ALREADY_LOGGED_IN, "this session is already logged in");
    return;
  }
  if (s->login_pending) {
    send_error(s, request, PROTO_ERR_TOO_MANY, "a login is already being checked");
    return;
  }
  if (!resume && hub_draining(s->hub)) {
    send_error(s, request, PROTO_ERR_SHUTTING_DOWN,
               "the server is shutting down; try again in a moment");
    return;
  }
  const char *user_name = protocol_string(request, "user");
  if (resume) {
    /* Not subject to the password lockout, and not counted towards it: see resume_failed. */
    handle_resume_login(s, request, user_name);
    return;
  }
  if (!guard_login_allowed(hub_guard(s->hub), s->ip, user_name)) {
    /* Not checked at all while locked (no PBKDF2 time for a guessing flood), not counted. */
    login_failed(s, request, user_name, "locked out", false);
    return;
  }
  const char *password = protocol_string(request, "password");
  if (!password) {
    handle_token_login(s, request, user_name);
    return;
  }
  login_check *check = g_new0(login_check, 1);
  check->s = s;
  check->request = json_incref(request);
  check->password = g_strdup(password);
  check->user = config_find_user(hub_config(s->hub), user_name);
  check->hash = check->user ? check->user->password_hash : UNKNOWN_USER_HASH;
  s->refs++;
  s->login_pending = true;
  GTask *task = g_task_new(NULL, NULL, on_password_checked, NULL);
  g_task_set_task_data(task, check, (GDestroyNotify)login_check_free);
  g_task_run_in_thread(task, run_password_check);
  g_object_unref(task);
}

/* ---- registrations ----------------------------------------------------------------------- */

static json_t *registration_reply(const char *field, const char *key, registration *reg) {
  const char *reason = registration_last_reason(reg);
  return json_pack("{s:s, s:s, s:s, s:i, s:s, s:i}", "type", "registration", field, key, "state",
                   registration_state_name(registration_get_state(reg)), "code",
                   registration_last_code(reg), "reason", reason ? reason : "", "expires",
                   registration_expires(reg));
}

static void handle_register_account(session *s, json_t *request, const char *name) {
  const config *cfg = hub_config(s->hub);
  const config_account *acc = config_find_account(cfg, name);
  if (!acc || !may_use(s, name)) {
    /* Same answer for "does not exist" and "not yours": account names are not disclosed. */
    send_error(s, request, PROTO_ERR_UNKNOWN_ACCOUNT, "no account '%.64s' for this user", name);
    return;
  }
  registration *reg = hub_account_registration(s->hub, name);
  if (!reg) {
    send_error(s, request, PROTO_ERR_NOT_ALLOWED,
               "account '%s' does not register (it calls %s)", name,
               acc->direct ? "SIP URIs directly" : "through a trunk");
    return;
  }
  /* Server accounts stay registered on their own; a tab asking again after a failure gets a
   * fresh attempt instead of waiting for the backoff. */
  registration_state state = registration_get_state(reg);
  if (state == REGISTRATION_FAILED || state == REGISTRATION_UNREGISTERED) registration_start(reg);
  session_send(s, with_id(registration_reply("account", name, reg), request));
}

static gboolean forget_byo(gpointer data) {
  byo_registration *b = data;
  b->forget_source = 0;
  g_ptr_array_remove(b->owner->byo, b);
  return G_SOURCE_REMOVE;
}

static void on_byo_event(void *user_data, const registration_event *event) {
  byo_registration *b = user_data;
  session *s = b->owner;
  json_t *msg = json_pack("{s:s, s:s, s:s, s:i, s:s, s:i}", "type", "registration", "uri",
                          event->key, "state", registration_state_name(event->state), "code",
                          event->code, "reason", event->reason ? event->reason : "", "expires",
                          event->expires);
  if (event->retry_in > 0) json_object_set_new(msg, "retry_in", json_integer(event->retry_in));
  session_send(s, msg);
  if (event->state == REGISTRATION_UNREGISTERED && s->byo && !b->forget_source) {
    /* An unregister the tab asked for is complete: forget the account, but not from inside
     * the registration's own callback (it may still be on the stack). */
    b->forget_source = g_idle_add(forget_byo, b);
  }
}

static char **default_codecs(void) {
  static const char *const all[] = {"opus", "pcmu", "pcma", "g722", NULL};
  return g_strdupv((char **)all);
}

static byo_registration *find_byo(session *s, const char *uri) {
  for (guint i = 0; i < s->byo->len; i++) {
    byo_registration *b = g_ptr_array_index(s->byo, i);
    if (strcmp(b->uri, uri) == 0) return b;
  }
  return NULL;
}

/* "sip:alice@example.com;transport=tcp" -> "example.com" (lowercase not needed: compared
 * case-insensitively). Returns a new string or NULL. */
static char *uri_domain(const char *uri) {
  const char *at = strchr(uri, '@');
  if (!at) return NULL;
  const char *start = at + 1;
  size_t n = start[0] == '[' ? strcspn(start, "]") + 1 : strcspn(start, ":;>?");
  return n ? g_strndup(start, n) : NULL;
}

static void handle_register_byo(session *s, json_t *request) {
  const config *cfg = hub_config(s->hub);
  const char *uri = protocol_string(request, "uri");
  if (!byo_allowed(s)) {
    send_error(s, request, PROTO_ERR_BYO_DISABLED,
               "this server does not allow bring-your-own SIP accounts");
    return;
  }
  char *domain = uri_domain(uri);
  bool allowed = domain && config_byo_domain_allowed(cfg, domain);
  if (!allowed) {
    send_error(s, request, PROTO_ERR_DOMAIN_NOT_ALLOWED,
               "SIP domain '%.64s' is not allowed on this server", domain ? domain : "");
    g_free(domain);
    return;
  }
  g_free(domain);
  if (find_byo(s, uri)) {
    send_error(s, request, PROTO_ERR_ALREADY_REGISTERED, "%.128s is already registered", uri);
    return;
  }
  if (s->byo->len >= MAX_BYO_REGISTRATIONS) {
    send_error(s, request, PROTO_ERR_TOO_MANY, "at most %d own accounts per tab",
               MAX_BYO_REGISTRATIONS);
    return;
  }
  sip_transport transport = SIP_TRANSPORT_UDP;
  const char *transport_name = protocol_string(request, "transport");
  if (transport_name) sip_transport_parse(transport_name, &transport);
  json_t *expires = json_object_get(request, "expires");
  registration_params params = {
      .key = uri, .uri = uri, .username = protocol_string(request, "username"),
      .password = protocol_string(request, "password"),
      .display_name = protocol_string(request, "display_name"),
      .proxy = protocol_string(request, "proxy"), .transport = transport,
      .expires = expires ? (int)json_integer_value(expires) : 600};
  byo_registration *b = g_new0(byo_registration, 1);
  b->owner = s;
  b->uri = g_strdup(uri);
  b->account = (config_account){
      .name = b->uri, .uri = g_strdup(uri), .username = g_strdup(params.username),
      .password = g_strdup(params.password), .proxy = g_strdup(params.proxy),
      .display_name = g_strdup(params.display_name), .transport = transport,
      .do_register = true, .expires = params.expires, .codecs = default_codecs(),
      .latch_any_source = -1 /* as [media] */};
  char err[256];
  b->reg = registration_new(hub_sip_agent(s->hub), &params, on_byo_event, b, err, sizeof err);
  if (!b->reg) {
    byo_free(b);
    send_error(s, request, PROTO_ERR_INVALID_FIELD, "%s", err);
    return;
  }
  g_ptr_array_add(s->byo, b);
  log_info("sip", s->subject, s->peer, "user %s registers own account %.128s", s->user_name, uri);
  registration_start(b->reg);
  session_send(s, with_id(registration_reply("uri", uri, b->reg), request));
}

static void handle_register(session *s, json_t *request) {
  const char *account = protocol_string(request, "account");
  if (account)
    handle_register_account(s, request, account);
  else
    handle_register_byo(s, request);
}

static void handle_unregister(session *s, json_t *request) {
  const char *account = protocol_string(request, "account");
  if (account) {
    send_error(s, request, PROTO_ERR_NOT_ALLOWED,
               "server account '%.64s' stays registered for every user who may use it", account);
    return;
  }
  const char *uri = protocol_string(request, "uri");
  byo_registration *b = uri ? find_byo(s, uri) : NULL;
  if (!b) {
    send_error(s, request, PROTO_ERR_NOT_REGISTERED, "%.128s is not registered by this tab",
               uri ? uri : "");
    return;
  }
  session_send(s, with_id(json_pack("{s:s, s:s, s:s}", "type", "registration", "uri", uri,
                                    "state", "unregistering"),
                          request));
  registration_stop(b->reg); /* the UNREGISTERED event removes it */
}

/* ---- the rest ---------------------------------------------------------------------------- */

static void handle_ping(session *s, json_t *request) {
  session_send(s, with_id(json_pack("{s:s}", "type", "pong"), request));
}

static void handle_pong(session *s, json_t *request) {
  (void)s;
  (void)request;
}

/* The account a call goes out from: the one named (a configured account the user may use,
 * or a bring-your-own URI registered by this tab), else the user's first registering account,
 * else the direct account, else the tab's first own account. */
static const config_account *choose_account(session *s, const char *name) {
  const config *cfg = hub_config(s->hub);
  if (name) {
    if (may_use(s, name)) return config_find_account(cfg, name);
    byo_registration *b = find_byo(s, name);
    return b ? &b->account : NULL;
  }
  const config_account *direct = NULL;
  for (size_t i = 0; i < cfg->account_count; i++) {
    const config_account *acc = &cfg->accounts[i];
    if (!may_use(s, acc->name)) continue;
    if (acc->do_register && !acc->direct) return acc;
    if (!direct) direct = acc;
  }
  if (direct) return direct;
  return s->byo->len ? &((byo_registration *)g_ptr_array_index(s->byo, 0))->account : NULL;
}

/* Dial plan and call limits (signal/guard.h), checked on the target the INVITE would carry.
 * A target that cannot be dialled passes here: call_start_outgoing answers it with 484. */
static bool admit_call(session *s, const json_t *request, const config_account *account,
                       bool echo) {
  char err[256];
  char *target = echo ? NULL
                      : call_dial_target(account, protocol_string(request, "to"), err, sizeof err);
  if (!echo && !target) return true;
  bool ok = guard_admit_call(hub_guard(s->hub), s->hub, s, request, target);
  g_free(target);
  return ok;
}

static void handle_call(session *s, json_t *request) {
  if (hub_draining(s->hub)) {
    /* SIGTERM drain: calls in progress may finish, new ones are refused like a full server. */
    session_send(s, json_pack("{s:s, s:s, s:i, s:s}", "type", "hangup", "call_id",
                              protocol_string(request, "call_id"), "code", 503, "reason",
                              "server_shutting_down"));
    return;
  }
  const char *to = protocol_string(request, "to");
  const char *from_account = protocol_string(request, "from_account");
  const config_account *account = choose_account(s, from_account);
  bool echo = strcmp(to, hub_config(s->hub)->echo_destination) == 0;
  if (!account && !echo) {
    if (from_account)
      send_error(s, request, PROTO_ERR_UNKNOWN_ACCOUNT, "no account to call from");
    else
      send_error(s, request, PROTO_ERR_NOT_ALLOWED, "this user has no account to call from");
    return;
  }
  if (!admit_call(s, request, account, echo)) return;
  call_start_outgoing(s->hub, s, request, account);
}

typedef void (*call_handler)(call *c, session *s, const json_t *request);

static void dispatch_to_call(session *s, json_t *request, call_handler handler) {
  const char *call_id = protocol_string(request, "call_id");
  call *c = call_id ? hub_find_call(s->hub, s, call_id) : NULL;
  if (!c) {
    send_error(s, request, PROTO_ERR_UNKNOWN_CALL, "no call '%.64s' in this tab",
               call_id ? call_id : "");
    return;
  }
  handler(c, s, request);
}

static void handle_accept(session *s, json_t *r) { dispatch_to_call(s, r, call_on_accept); }
static void handle_reject(session *s, json_t *r) { dispatch_to_call(s, r, call_on_reject); }
static void handle_hangup(session *s, json_t *r) { dispatch_to_call(s, r, call_on_hangup); }
static void handle_dtmf(session *s, json_t *r) { dispatch_to_call(s, r, call_on_dtmf); }

static void handle_candidate(session *s, json_t *request) {
  /* Candidates can race a hangup: an unknown call here is not worth an error. */
  const char *call_id = protocol_string(request, "call_id");
  call *c = call_id ? hub_find_call(s->hub, s, call_id) : NULL;
  if (c) call_on_candidate(c, s, request);
}

static void handle_hold(session *s, json_t *r) { dispatch_to_call(s, r, call_on_hold); }
static void handle_resume(session *s, json_t *r) { dispatch_to_call(s, r, call_on_resume); }
static void handle_transfer(session *s, json_t *r) { dispatch_to_call(s, r, call_on_transfer); }
static void handle_reoffer(session *s, json_t *r) { dispatch_to_call(s, r, call_on_reoffer); }

typedef void (*message_handler)(session *s, json_t *request);

static const message_handler handlers[MSG_TYPE_COUNT] = {
    [MSG_LOGIN] = handle_login,           [MSG_REGISTER] = handle_register,
    [MSG_UNREGISTER] = handle_unregister, [MSG_CALL] = handle_call,
    [MSG_ACCEPT] = handle_accept,         [MSG_REJECT] = handle_reject,
    [MSG_CANDIDATE] = handle_candidate,   [MSG_HANGUP] = handle_hangup,
    [MSG_DTMF] = handle_dtmf,             [MSG_HOLD] = handle_hold,
    [MSG_RESUME] = handle_resume,         [MSG_TRANSFER] = handle_transfer,
    [MSG_PING] = handle_ping,             [MSG_PONG] = handle_pong,
    [MSG_REOFFER] = handle_reoffer,
};

/* [server] message_rate: a tab over its budget gets rate_limited (counted as abuse, so a tab
 * that keeps flooding is closed) and the message is not looked at. */
static bool over_message_rate(session *s) {
  if (guard_message_allowed(hub_guard(s->hub), s->id)) return false;
  send_error(s, NULL, PROTO_ERR_RATE_LIMITED, "more than %d messages in 10 s; slow down",
             hub_config(s->hub)->message_rate);
  if (s->invalid_messages == 0)
    log_warn("ws", s->subject, s->peer, "rate limited (user %s)",
             s->user_name ? s->user_name : "not logged in");
  count_abuse(s);
  return true;
}

void session_on_text(session *s, const char *text, size_t len) {
  restart_idle_timer(s);
  if (over_message_rate(s)) return;
  message_type type;
  json_t *request = NULL;
  protocol_error err;
  if (!protocol_parse(text, len, &type, &request, &err)) {
    session_send(s, protocol_error_reply(request, err.code, err.message));
    json_decref(request);
    count_abuse(s);
    return;
  }
  if (!s->logged_in && type != MSG_LOGIN && type != MSG_PING) {
    send_error(s, request, PROTO_ERR_NOT_LOGGED_IN, "log in first");
    json_decref(request);
    count_abuse(s);
    return;
  }
  handlers[type](s, request);
  json_decref(request);
}

void session_on_bad_frame(session *s, ws_frame_problem problem) {
  restart_idle_timer(s);
  if (problem == WS_FRAME_TOO_LARGE)
    send_error(s, NULL, PROTO_ERR_FRAME_TOO_LARGE, "messages are limited to %d bytes",
               WS_MAX_MESSAGE_BYTES);
  else
    send_error(s, NULL, PROTO_ERR_BINARY_FRAME, "only JSON text frames are understood");
  count_abuse(s);
}
