/* sofia_log: see sofia_log.h. */
#include "sip/sofia_log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/su_log.h>

#include "core/log.h"

/* sofia's per-module logs; only su_log_default is declared in its public headers. */
extern su_log_t nua_log[], nta_log[], tport_log[], iptsec_log[], sresolv_log[], nea_log[],
    soa_log[], stun_log[];

enum { SOFIA_LOG_LEVEL = 2 };

static char pending[1024];
static size_t pending_len;

static bool mentions_secret(const char *line) {
  static const char *const words[] = {"authoriz", "credential", "password", "ha1", "secret"};
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
    if (strcasestr(line, words[i])) return true;
  }
  return false;
}

/* The last certificate verification error sofia's TLS reported (OpenSSL's words, e.g. "unable
 * to get local issuer certificate"), for registrations and calls to name the cause of a 503
 * that sofia made up after a failed handshake. */
static char tls_failure[160];

/* tport_tls logs a failed verification as "  err N:<text>" after "-Error with certificate". */
static void note_tls_failure(const char *line) {
  const char *err = strstr(line, "err ");
  if (!strstr(line, "tls") && !(err && line[0] == ' ')) return;
  if (err && line[0] == ' ') {
    const char *colon = strchr(err, ':');
    if (colon) snprintf(tls_failure, sizeof tls_failure, "%s", colon + 1);
  } else if (strstr(line, "Peer Subject Mismatch")) {
    snprintf(tls_failure, sizeof tls_failure, "it names another host");
  } else if (strstr(line, "certificate verify failed") && !tls_failure[0]) {
    snprintf(tls_failure, sizeof tls_failure, "certificate verify failed");
  }
}

bool sip_sofia_tls_failure(char *out, size_t len) {
  if (!tls_failure[0]) return false;
  snprintf(out, len, "%s", tls_failure);
  tls_failure[0] = '\0';
  return true;
}

/* SDES keys (a=crypto:... inline:KEY|lifetime|mki) in SIP messages sofia traces (TPORT_LOG=1
 * prints every message through su_log): the key becomes "***", the rest stays readable. */
static bool redact_sdes_keys(char *line) {
  bool redacted = false;
  for (char *p = strstr(line, "inline:"); p; p = strstr(p, "inline:")) {
    char *key = p + 7;
    size_t len = strcspn(key, "|; \t\r\n");
    if (len > 3) {
      memcpy(key, "***", 3);
      memmove(key + 3, key + len, strlen(key + len) + 1);
      redacted = true;
    }
    p = key + 3;
  }
  return redacted;
}

static void flush_line(void) {
  while (pending_len > 0 && (pending[pending_len - 1] == '\n' || pending[pending_len - 1] == '\r'))
    pending_len--;
  pending[pending_len] = '\0';
  note_tls_failure(pending);
  /* A redacted a=crypto line names HMAC_SHA1 (which mentions_secret reads as "ha1"): it is safe
   * now and worth seeing in a trace. */
  bool redacted = redact_sdes_keys(pending);
  if (pending_len > 0 && (redacted || !mentions_secret(pending))) log_debug("sip", "sofia", NULL, "%s", pending);
  pending_len = 0;
}

static void append(const char *text) {
  for (const char *c = text; *c; c++) {
    if (*c == '\n') {
      flush_line();
      continue;
    }
    if (pending_len + 1 < sizeof pending) pending[pending_len++] = *c;
  }
}

static void sofia_logger(void *stream, char const *fmt, va_list ap) {
  (void)stream;
  char piece[1024];
  vsnprintf(piece, sizeof piece, fmt, ap);
  append(piece);
}

void sip_sofia_log_install(void) {
  static bool installed;
  if (installed) return;
  installed = true;
  su_log_t *logs[] = {su_log_default, nua_log, nta_log, tport_log, iptsec_log,
                      sresolv_log,    nea_log, soa_log, stun_log};
  for (size_t i = 0; i < sizeof logs / sizeof logs[0]; i++) {
    su_log_redirect(logs[i], sofia_logger, NULL);
    su_log_set_level(logs[i], SOFIA_LOG_LEVEL);
  }
  /* Level 3 of tport is where its TLS code says why a certificate was refused (connection
   * events, no message contents). */
  su_log_set_level(tport_log, 3);
}
