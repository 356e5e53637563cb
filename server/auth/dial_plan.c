/* dial_plan: see dial_plan.h. */
#include "auth/dial_plan.h"

#include <glib.h>
#include <string.h>

bool dial_plan_glob(const char *pattern, const char *text) {
  /* Iterative matcher with one backtrack point: linear enough for short patterns and never
   * recursive, so a hostile pattern or target cannot blow the stack. */
  const char *star = NULL, *resume = NULL;
  while (*text) {
    if (*pattern == '*') {
      star = pattern++;
      resume = text;
    } else if (*pattern == '?' ||
               (*pattern && g_ascii_tolower(*pattern) == g_ascii_tolower(*text))) {
      pattern++;
      text++;
    } else if (star) {
      pattern = star + 1;
      text = ++resume;
    } else {
      return false;
    }
  }
  while (*pattern == '*') pattern++;
  return *pattern == '\0';
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = g_ascii_tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Decodes %XX escapes; a broken escape is kept as written. */
static char *percent_decode(const char *text, size_t len) {
  GString *out = g_string_sized_new(len);
  for (size_t i = 0; i < len; i++) {
    int hi = i + 2 < len && text[i] == '%' ? hex_value(text[i + 1]) : -1;
    int lo = hi >= 0 ? hex_value(text[i + 2]) : -1;
    if (hi >= 0 && lo >= 0) {
      g_string_append_c(out, (char)(hi * 16 + lo));
      i += 2;
    } else {
      g_string_append_c(out, text[i]);
    }
  }
  return g_string_free(out, FALSE);
}

/* "+1 (900) 555-0100" -> "+19005550100"; anything that is not a phone number stays as is. */
static void strip_visual_separators(char *user) {
  if (strspn(user, "0123456789+*#-.() ") != strlen(user)) return;
  char *w = user;
  for (const char *r = user; *r; r++) {
    if (!strchr("-.() ", *r)) *w++ = *r;
  }
  *w = '\0';
}

bool dial_plan_normalise(const char *target, char **uri, char **number) {
  size_t scheme_len = g_ascii_strncasecmp(target, "sips:", 5) == 0  ? 5
                      : g_ascii_strncasecmp(target, "sip:", 4) == 0 ? 4
                                                                    : 0;
  if (!scheme_len) return false;
  const char *rest = target + scheme_len;
  const char *at = strchr(rest, '@');
  /* The user part may carry ';' parameters (phone-context); the host part ends at ';' '?'. */
  size_t user_len = at ? strcspn(rest, ";@") : 0;
  const char *host = at ? at + 1 : rest;
  size_t host_len = strcspn(host, ";?>");
  char *user = percent_decode(rest, user_len);
  strip_visual_separators(user);
  char *host_lower = g_ascii_strdown(host, (gssize)host_len);
  char *scheme = g_ascii_strdown(target, (gssize)scheme_len);
  *uri = *user ? g_strdup_printf("%s%s@%s", scheme, user, host_lower)
               : g_strdup_printf("%s%s", scheme, host_lower);
  *number = user;
  g_free(host_lower);
  g_free(scheme);
  return true;
}

static bool is_uri_pattern(const char *pattern) {
  return g_ascii_strncasecmp(pattern, "sip:", 4) == 0 ||
         g_ascii_strncasecmp(pattern, "sips:", 5) == 0 || strchr(pattern, '@');
}

static const char *first_match(char *const *patterns, const char *uri, const char *number) {
  for (char *const *p = patterns; p && *p; p++) {
    if (dial_plan_glob(*p, is_uri_pattern(*p) ? uri : number)) return *p;
  }
  return NULL;
}

bool dial_plan_allows(char *const *allow, char *const *deny, const char *target,
                      const char **rule) {
  bool has_allow = allow && *allow, has_deny = deny && *deny;
  if (rule) *rule = NULL;
  if (!has_allow && !has_deny) return true;
  char *uri = NULL, *number = NULL;
  if (!dial_plan_normalise(target, &uri, &number)) return false;
  const char *denied = first_match(deny, uri, number);
  bool ok = !denied && (!has_allow || first_match(allow, uri, number));
  if (rule) *rule = denied;
  g_free(uri);
  g_free(number);
  return ok;
}
