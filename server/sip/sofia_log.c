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

static void flush_line(void) {
  while (pending_len > 0 && (pending[pending_len - 1] == '\n' || pending[pending_len - 1] == '\r'))
    pending_len--;
  pending[pending_len] = '\0';
  if (pending_len > 0 && !mentions_secret(pending)) log_debug("sip", "sofia", NULL, "%s", pending);
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
}
