/* fuzz_session: libFuzzer target for the whole signaling dispatcher — real session, hub, call,
 * guard and protocol code (server/signal/) with the config, auth and SDP modules, driven as
 * http drives it (hub_ws_handlers), with SIP, media and the WebSocket stubbed at link level
 * (stub_sip_media.h).
 *
 * One input is a sequence of frames separated by '\n'. A frame is a WebSocket text message
 * for the current tab, unless it starts with '!', which makes the outside world act instead:
 *
 *   !U          (first frame only) use the config with users, token login and limits;
 *               otherwise open mode (every tab is logged in at once)
 *   !n  !s      open another tab (at most 4) / switch to the next tab
 *   !c  !C      the tab closes (close frame 1000) / its link drops (no close frame)
 *   !d          the server starts draining (SIGTERM: calls may finish, no new ones)
 *   !b          a binary (or, with !bB, oversize) frame from the tab
 *   !a[SDP]     the far end answers our newest INVITE (200, with SDP or a canned one)
 *   !p[SDP]     180 (183 with SDP)          !e[CODE]  the far end ends the call (BYE/4xx)
 *   !o[SDP]     far-end re-INVITE offer      !r[SDP]   answer to our re-INVITE
 *   !f          our re-INVITE refused (491)  !k        inbound: the ACK arrived
 *   !t / !T     REFER progress 202 / final 200      !x  final transfer failure (603)
 *   !i[SDP]     an INVITE arrives for an account (the digit after i picks it)
 *   !ml[CAND] !mL !mc !mf !mt   media: local candidate, end of candidates, connected,
 *                               failed, RTP timeout
 *   !gr !gf !gu !gg             registration: registered, failed 403, unregistered,
 *                               registering
 * Most commands take a digit right after the letter(s) choosing which call/media/registration
 * (newest first); the rest of the frame is the SDP/candidate/code. SDP in a command frame uses
 * '|' for line breaks (turned into CRLF), so that a frame stays one line.
 *
 * Ids are predictable (RAND_bytes is wrapped: the n-th draw of an input is n repeated), so an
 * input can accept an inbound call by its id: see the seeds in tests/fuzz/corpus/session.
 *
 * Password checks run synchronously (g_task_run_in_thread is wrapped at link time) and accept the password "secret" (password_verify is wrapped: PBKDF2 would cost 0.1 s a try).
 *
 * After every input, every tab closes and the hub is freed; any SIP call, media or registration
 * the signaling layer leaves behind is a leak and aborts. */
#include <gio/gio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "signal/hub.h"
#include "stub_sip_media.h"

enum { MAX_TABS = 4, MAX_FRAMES = 64 };

static const char OPEN_CONFIG[] =
    "[server]\n"
    "cert = /dev/null\n"
    "key = /dev/null\n"
    "message_rate = 40\n"
    "max_calls = 6\n"
    "max_calls_per_session = 4\n"
    "[sip]\n"
    "byo_accounts = yes\n"
    "byo_domains = example.org, *.example.net\n"
    "[account office]\n"
    "uri = sip:office@example.com\n"
    "password = office-secret\n"
    "[account trunk]\n"
    "uri = sip:trunk@example.com\n"
    "register = no\n"
    "codecs = pcmu, pcma\n";

/* A valid hash format (the check itself is wrapped below). */
#define HASH "pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0c2FsdA==$ftuGOOjx6pkBNEwnW/7UjHkUyo3Pf1NUnxMn+WytYrY="

static const char USERS_CONFIG[] =
    "[server]\n"
    "cert = /dev/null\n"
    "key = /dev/null\n"
    "token_secret = fuzz-token-secret-0123456789abcdef\n"
    "message_rate = 40\n"
    "max_calls = 5\n"
    "max_calls_per_session = 3\n"
    "login_max_failures = 3\n"
    "[sip]\n"
    "byo_accounts = yes\n"
    "byo_domains = example.org\n"
    "[account office]\n"
    "uri = sip:office@example.com\n"
    "password = office-secret\n"
    "[account trunk]\n"
    "uri = sip:trunk@example.com\n"
    "register = no\n"
    "[user alice]\n"
    "password_hash = " HASH "\n"
    "accounts = *\n"
    "byo_accounts = yes\n"
    "dial_deny = +1900*, 00*\n"
    "max_calls = 3\n"
    "calls_per_minute = 6\n"
    "[user bob]\n"
    "password_hash = " HASH "\n"
    "accounts = trunk\n"
    "dial_allow = 1*, sip:*@example.com\n";

static const char CANNED_SDP[] =
    "v=0\r\no=far 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n"
    "m=audio 6000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n";

static config open_cfg, users_cfg;

/* ---- link-time wraps (see meson.build) --------------------------------------------------- */

bool __wrap_password_verify(const char *password, const char *hash);
bool __wrap_password_verify(const char *password, const char *hash) {
  return password && hash && strcmp(password, "secret") == 0;
}

/* Session and call ids come from RAND_bytes. An input must be able to name an inbound call
 * ("in-..."), so ids are made predictable: the n-th draw of an input is n repeated. */
static unsigned rand_draws;
int __wrap_RAND_bytes(unsigned char *buf, int num);
int __wrap_RAND_bytes(unsigned char *buf, int num) {
  memset(buf, (int)(rand_draws++ & 0xff), (size_t)num);
  return 1;
}

void __wrap_g_task_run_in_thread(GTask *task, GTaskThreadFunc func);
void __wrap_g_task_run_in_thread(GTask *task, GTaskThreadFunc func) {
  /* The same work, on this thread: the result still arrives through the main context. */
  func(task, g_task_get_source_object(task), g_task_get_task_data(task),
       g_task_get_cancellable(task));
}

/* ---- setup ------------------------------------------------------------------------------- */

static void load_config(config *cfg, const char *text) {
  char path[] = "/tmp/fuzz_session_XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) abort();
  close(fd);
  char *env[] = {NULL};
  char err[512];
  bool ok = config_load(cfg, path, env, err, sizeof err);
  unlink(path);
  if (!ok) {
    fprintf(stderr, "fuzz_session: config: %s\n", err);
    abort();
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  log_level level = LOG_ERROR;
  const char *want = getenv("FUZZ_SESSION_LOG"); /* e.g. "debug" to watch one input */
  if (want) log_level_parse(want, &level);
  log_init(level);
  load_config(&open_cfg, OPEN_CONFIG);
  load_config(&users_cfg, USERS_CONFIG);
  return 0;
}

/* ---- one input --------------------------------------------------------------------------- */

typedef struct tab {
  ws_conn *conn;
  void *data; /* the session */
  bool gone;  /* on_close called */
} tab;

typedef struct run {
  const config *cfg;
  sip_agent *agent;
  hub *hub;
  ws_handlers handlers;
  tab tabs[MAX_TABS];
  int tab_count;
  int current;
} run;

static void drain(void) {
  for (int i = 0; i < 1000 && g_main_context_iteration(NULL, FALSE); i++) {
  }
}

static void open_tab(run *r) {
  if (r->tab_count >= MAX_TABS) return;
  tab *t = &r->tabs[r->tab_count];
  t->conn = stub_ws_conn_new();
  char peer[32];
  /* Two tabs share an address, the others differ: per-address limits get both cases. */
  snprintf(peer, sizeof peer, "127.0.0.%d:%d", 1 + r->tab_count / 2, 40000 + r->tab_count);
  t->data = r->handlers.on_open(r->handlers.app, t->conn, peer);
  t->gone = t->data == NULL;
  r->current = r->tab_count++;
}

static void close_tab(run *r, tab *t) {
  if (t->gone) return;
  r->handlers.on_close(t->data);
  t->gone = true;
}

/* http closes a connection that the server closed (ws_conn_close) after the callback returns. */
static void reap_closed(run *r) {
  for (int i = 0; i < r->tab_count; i++) {
    if (!r->tabs[i].gone && stub_ws_conn_closed(r->tabs[i].conn)) close_tab(r, &r->tabs[i]);
  }
}

/* "a|b|" -> "a\r\nb\r\n" (a new string), or a copy of the canned SDP when text is empty. */
static char *sdp_from(const char *text, size_t len) {
  if (len == 0) return g_strdup(CANNED_SDP);
  GString *out = g_string_sized_new(len + 16);
  for (size_t i = 0; i < len; i++) {
    if (text[i] == '|') g_string_append(out, "\r\n");
    else g_string_append_c(out, text[i]);
  }
  return g_string_free(out, FALSE);
}

static int code_from(const char *text, size_t len, int fallback) {
  int code = 0;
  for (size_t i = 0; i < len && i < 3 && text[i] >= '0' && text[i] <= '9'; i++)
    code = code * 10 + (text[i] - '0');
  return code ? code : fallback;
}

static void command(run *r, const char *f, size_t len) {
  char cmd = len > 1 ? f[1] : '\0';
  size_t at = 2;
  char sub = '\0';
  if ((cmd == 'm' || cmd == 'g') && len > 2) sub = f[at++];
  unsigned pick = 0;
  if (at < len && f[at] >= '0' && f[at] <= '9') pick = (unsigned)(f[at++] - '0');
  const char *rest = f + at;
  size_t rest_len = len - at;
  tab *t = r->tab_count ? &r->tabs[r->current] : NULL;
  char *text = NULL;
  switch (cmd) {
  case 'n': open_tab(r); break;
  case 's':
    if (r->tab_count) r->current = (r->current + 1) % r->tab_count;
    break;
  case 'c':
  case 'C':
    if (t && !t->gone) {
      stub_ws_conn_set_peer_close(t->conn, cmd == 'c' ? 1000 : 0);
      close_tab(r, t);
    }
    break;
  case 'd':
    if (!hub_draining(r->hub)) hub_start_drain(r->hub, NULL, NULL);
    break;
  case 'b':
    if (t && !t->gone)
      r->handlers.on_bad_frame(t->data, rest_len && rest[0] == 'B' ? WS_FRAME_TOO_LARGE
                                                                   : WS_FRAME_BINARY);
    break;
  case 'a':
    text = sdp_from(rest, rest_len);
    stub_sip_event(pick, SIP_CALL_ANSWERED, 200, text, false, false);
    break;
  case 'p':
    text = rest_len ? sdp_from(rest, rest_len) : NULL;
    stub_sip_event(pick, SIP_CALL_PROGRESS, text ? 183 : 180, text, false, false);
    break;
  case 'e': stub_sip_event(pick, SIP_CALL_ENDED, code_from(rest, rest_len, 486), NULL, false, false); break;
  case 'o':
    text = sdp_from(rest, rest_len);
    stub_sip_event(pick, SIP_CALL_REMOTE_SDP, 200, text, true, false);
    break;
  case 'r':
    text = sdp_from(rest, rest_len);
    stub_sip_event(pick, SIP_CALL_REMOTE_SDP, 200, text, false, false);
    break;
  case 'f': stub_sip_event(pick, SIP_CALL_REINVITE_FAILED, 491, NULL, false, false); break;
  case 'k': stub_sip_event(pick, SIP_CALL_CONFIRMED, 200, NULL, false, false); break;
  case 't': stub_sip_event(pick, SIP_CALL_TRANSFER, 202, NULL, false, false); break;
  case 'T': stub_sip_event(pick, SIP_CALL_TRANSFER, 200, NULL, false, true); break;
  case 'x': stub_sip_event(pick, SIP_CALL_TRANSFER, 603, NULL, false, true); break;
  case 'i':
    text = sdp_from(rest, rest_len);
    stub_sip_incoming(r->agent, pick, r->cfg, text);
    break;
  case 'm':
    if (sub == 'l') {
      text = g_strndup(rest, rest_len);
      stub_media_event(pick, MEDIA_EVENT_LOCAL_CANDIDATE, text);
    } else if (sub == 'L') {
      stub_media_event(pick, MEDIA_EVENT_LOCAL_CANDIDATE, NULL);
    } else if (sub == 'c') {
      stub_media_event(pick, MEDIA_EVENT_CONNECTED, NULL);
    } else if (sub == 'f') {
      stub_media_event(pick, MEDIA_EVENT_FAILED, "ice_failed");
    } else if (sub == 't') {
      stub_media_event(pick, MEDIA_EVENT_RTP_TIMEOUT, NULL);
    }
    break;
  case 'g':
    if (sub == 'r') stub_registration_event(pick, REGISTRATION_REGISTERED, 200);
    else if (sub == 'f') stub_registration_event(pick, REGISTRATION_FAILED, 403);
    else if (sub == 'u') stub_registration_event(pick, REGISTRATION_UNREGISTERED, 200);
    else if (sub == 'g') stub_registration_event(pick, REGISTRATION_REGISTERING, 0);
    break;
  default: break;
  }
  g_free(text);
}

static void frame(run *r, const char *f, size_t len) {
  if (len > 0 && f[0] == '!') {
    command(r, f, len);
  } else if (r->tab_count && !r->tabs[r->current].gone) {
    /* A WebSocket text message is a separate buffer of exactly len bytes (no terminator). */
    char *copy = g_memdup2(f, len);
    r->handlers.on_text(r->tabs[r->current].data, copy ? copy : "", len);
    g_free(copy);
  }
  drain();
  reap_closed(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  run r = {0};
  rand_draws = 0;
  r.cfg = &open_cfg;
  if (size >= 2 && text[0] == '!' && text[1] == 'U' && (size == 2 || text[2] == '\n'))
    r.cfg = &users_cfg;
  r.agent = stub_agent_new();
  media_engine *engine = stub_media_engine_new();
  r.hub = hub_new(r.cfg, r.agent, engine);
  hub_start(r.hub);
  r.handlers = hub_ws_handlers(r.hub);
  open_tab(&r);
  drain();
  reap_closed(&r);

  size_t start = 0;
  for (int frames = 0; start <= size && frames < MAX_FRAMES; frames++) {
    const char *nl = memchr(text + start, '\n', size - start);
    size_t end = nl ? (size_t)(nl - text) : size;
    frame(&r, text + start, end - start);
    start = end + 1;
  }

  /* Shutdown as main.c does it: detached tabs end, every connection closes, the hub goes. */
  hub_stop_sessions(r.hub);
  drain();
  for (int i = 0; i < r.tab_count; i++) close_tab(&r, &r.tabs[i]);
  drain();
  hub_free(r.hub);
  drain();
  for (int i = 0; i < r.tab_count; i++) stub_ws_conn_free(r.tabs[i].conn);
  stub_media_engine_free(engine);
  stub_agent_free(r.agent);
  size_t left = stub_reset();
  if (left) {
    fprintf(stderr, "fuzz_session: %zu SIP call(s)/media/registration(s) left behind\n", left);
    abort();
  }
  return 0;
}
