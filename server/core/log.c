/* log: see log.h. The minimum level is the one piece of process-wide state here; it is written
 * once by main (log_init) before threads start and only read afterwards. */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static log_level process_log_level = LOG_INFO;

void log_init(log_level min_level) { process_log_level = min_level; }

bool log_level_parse(const char *text, log_level *out) {
  static const struct { const char *name; log_level level; } names[] = {
      {"debug", LOG_DEBUG}, {"info", LOG_INFO}, {"warn", LOG_WARN}, {"error", LOG_ERROR}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strcmp(text, names[i].name) == 0) {
      *out = names[i].level;
      return true;
    }
  }
  return false;
}

static const char *level_name(log_level level) {
  switch (level) {
  case LOG_DEBUG: return "DEBUG";
  case LOG_INFO: return "INFO ";
  case LOG_WARN: return "WARN ";
  case LOG_ERROR: return "ERROR";
  }
  return "?    ";
}

/* Control characters from outside input (a SIP reason phrase, a user name) must not forge extra
 * log lines, so they are replaced. */
static void sanitize(char *text) {
  for (char *c = text; *c; c++) {
    if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
  }
}

void log_event(log_level level, const char *component, const char *subject, const char *peer,
               const char *fmt, ...) {
  if (level < process_log_level) return;

  char message[1024];
  va_list args;
  va_start(args, fmt);
  vsnprintf(message, sizeof message, fmt, args);
  va_end(args);
  sanitize(message);

  struct timeval now;
  gettimeofday(&now, NULL);
  struct tm utc;
  gmtime_r(&now.tv_sec, &utc);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);

  char line[1400];
  int n = snprintf(line, sizeof line, "%s.%03ldZ %s %-6s [%s]%s%s %s\n", stamp,
                   (long)(now.tv_usec / 1000), level_name(level), component,
                   subject ? subject : "-", peer ? " peer=" : "", peer ? peer : "", message);
  if (n < 0) return;
  if ((size_t)n >= sizeof line) {
    n = sizeof line - 1;
    line[n - 1] = '\n';
  }
  /* One write per line keeps lines whole when several threads log. */
  ssize_t ignored = write(STDERR_FILENO, line, (size_t)n);
  (void)ignored;
}
