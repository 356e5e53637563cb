/* log: one line per event, to stderr.
 *
 * Format:  2026-11-25T16:50:00.123Z INFO  sip   [reg alice] peer=127.0.0.1:5070 registered (200 OK)
 * Every line names its level, the component that speaks, the call/session/registration it is
 * about (or "-") and, when known, the peer address. Callers never pass secrets (passwords,
 * tokens, digest responses): nothing here can tell a secret from other text, so the rule is
 * enforced at the call sites and by tests/sip that grep the logs for the test passwords.
 *
 * Thread-safety: log_event may be called from any thread (one write(2) per line). log_init is
 * called once by main before any other thread exists. */
#ifndef TABPHONE_CORE_LOG_H
#define TABPHONE_CORE_LOG_H

#include <stdarg.h>
#include <stdbool.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* Sets the minimum level written. Called from main only. */
void log_init(log_level min_level);

/* Parses "debug"/"info"/"warn"/"error"; returns false on anything else. */
bool log_level_parse(const char *text, log_level *out);

/* component: short lowercase word ("http", "ws", "sip", "config", "main").
 * subject:   what the event is about ("session 3f2a", "reg alice", "call c1") or NULL.
 * peer:      remote address ("127.0.0.1:5070") or NULL. */
void log_event(log_level level, const char *component, const char *subject, const char *peer,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define log_debug(comp, subj, peer, ...) log_event(LOG_DEBUG, comp, subj, peer, __VA_ARGS__)
#define log_info(comp, subj, peer, ...)  log_event(LOG_INFO, comp, subj, peer, __VA_ARGS__)
#define log_warn(comp, subj, peer, ...)  log_event(LOG_WARN, comp, subj, peer, __VA_ARGS__)
#define log_error(comp, subj, peer, ...) log_event(LOG_ERROR, comp, subj, peer, __VA_ARGS__)

#endif
