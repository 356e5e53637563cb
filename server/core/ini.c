/* ini: see ini.h. Lines are copied into a bounded buffer; a longer line is a syntax error
 * rather than a silent truncation. */
#include "ini.h"

#include <ctype.h>
#include <string.h>

enum { INI_MAX_LINE = 4096 };

static char *trim(char *s) {
  while (*s && isspace((unsigned char)*s)) s++;
  char *end = s + strlen(s);
  while (end > s && isspace((unsigned char)end[-1])) *--end = '\0';
  return s;
}

/* An inline comment starts at ';' or '#' preceded by a blank, outside double quotes. */
static void strip_inline_comment(char *s) {
  int quoted = 0;
  for (char *c = s; *c; c++) {
    if (*c == '"') quoted = !quoted;
    if (!quoted && (*c == ';' || *c == '#') && c > s && isspace((unsigned char)c[-1])) {
      *c = '\0';
      return;
    }
  }
}

static char *unquote(char *s) {
  size_t n = strlen(s);
  if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
    s[n - 1] = '\0';
    return s + 1;
  }
  return s;
}

int ini_parse(const char *text, size_t len, ini_section_handler on_section,
              ini_key_handler on_key, void *user_data, const char **syntax_error) {
  char section[INI_MAX_LINE] = "";
  char line[INI_MAX_LINE];
  size_t pos = 0;
  int lineno = 0;
  *syntax_error = NULL;

  while (pos < len) {
    size_t start = pos;
    while (pos < len && text[pos] != '\n') pos++;
    size_t n = pos - start;
    if (pos < len) pos++; /* skip '\n' */
    lineno++;
    if (n >= sizeof line) {
      *syntax_error = "line too long";
      return -lineno;
    }
    memcpy(line, text + start, n);
    line[n] = '\0';
    if (memchr(line, '\0', n)) {
      *syntax_error = "NUL byte in line";
      return -lineno;
    }
    /* Skip a UTF-8 byte order mark on the first line. */
    char *s = line;
    if (lineno == 1 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB &&
        (unsigned char)s[2] == 0xBF)
      s += 3;
    s = trim(s);
    if (*s == '\0' || *s == ';' || *s == '#') continue;

    if (*s == '[') {
      char *close = strchr(s, ']');
      if (!close) {
        *syntax_error = "section header without ']'";
        return -lineno;
      }
      *close = '\0';
      char *rest = trim(close + 1);
      if (*rest && *rest != ';' && *rest != '#') {
        *syntax_error = "text after section header";
        return -lineno;
      }
      char *name = trim(s + 1);
      if (*name == '\0') {
        *syntax_error = "empty section name";
        return -lineno;
      }
      /* Normalise inner blanks to one space: "[account   alice]" == "[account alice]". */
      size_t out = 0;
      for (char *c = name; *c; c++) {
        if (isspace((unsigned char)*c)) {
          if (out && section[out - 1] != ' ') section[out++] = ' ';
        } else {
          section[out++] = *c;
        }
      }
      section[out] = '\0';
      if (on_section) {
        int rc = on_section(user_data, section, lineno);
        if (rc) return rc;
      }
      continue;
    }

    char *eq = strchr(s, '=');
    if (!eq) {
      *syntax_error = "expected 'key = value'";
      return -lineno;
    }
    *eq = '\0';
    char *key = trim(s);
    if (*key == '\0') {
      *syntax_error = "missing key before '='";
      return -lineno;
    }
    char *value = eq + 1;
    strip_inline_comment(value);
    value = unquote(trim(value));
    int rc = on_key(user_data, section, key, value, lineno);
    if (rc) return rc;
  }
  return 0;
}
