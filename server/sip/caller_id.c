/* caller_id: see caller_id.h. */
#include "sip/caller_id.h"

#include <glib.h>
#include <string.h>

#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>

#define MAX_VALUE 256
#define MAX_HISTORY 16

/* Splits a header value at commas that are outside <...> and quotes. */
static GPtrArray *split_entries(const char *value) {
  GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
  bool quoted = false;
  int angle = 0;
  const char *start = value;
  for (const char *c = value;; c++) {
    if (*c == '"' && (c == value || c[-1] != '\\')) quoted = !quoted;
    else if (!quoted && *c == '<') angle++;
    else if (!quoted && *c == '>' && angle > 0) angle--;
    if (*c == '\0' || (*c == ',' && !quoted && angle == 0)) {
      char *entry = g_strstrip(g_strndup(start, (gsize)(c - start)));
      if (*entry) g_ptr_array_add(out, entry);
      else g_free(entry);
      if (*c == '\0') break;
      start = c + 1;
    }
  }
  return out;
}

static char *checked(char *text) {
  if (text && (!*text || strlen(text) > MAX_VALUE || !g_utf8_validate(text, -1, NULL)))
    g_clear_pointer(&text, g_free);
  return text;
}

/* The URI of a name-addr or addr-spec entry; drop_headers: cut at '?' (History-Info's
 * embedded Reason and Privacy headers). */
static char *entry_uri(const char *entry, bool drop_headers) {
  const char *open = strchr(entry, '<');
  char *uri;
  if (open) {
    const char *close = strchr(open, '>');
    if (!close) return NULL;
    uri = g_strndup(open + 1, (gsize)(close - open - 1));
  } else {
    uri = g_strndup(entry, strcspn(entry, "; \t"));
  }
  if (drop_headers) uri[strcspn(uri, "?")] = '\0';
  return checked(uri);
}

static char *entry_display(const char *entry) {
  const char *open = strchr(entry, '<');
  if (!open || open == entry) return NULL;
  char *display = g_strstrip(g_strndup(entry, (gsize)(open - entry)));
  size_t n = strlen(display);
  if (n >= 2 && display[0] == '"' && display[n - 1] == '"') {
    char *inner = g_strndup(display + 1, n - 2);
    g_free(display);
    display = inner;
  }
  return checked(display);
}

/* An entry's parameter after the name-addr, e.g. reason=unconditional; quotes removed. */
static char *entry_param(const char *entry, const char *name) {
  const char *params = strchr(entry, '>');
  params = params ? params + 1 : entry;
  size_t len = strlen(name);
  for (const char *p = strchr(params, ';'); p; p = strchr(p + 1, ';')) {
    const char *k = p + 1;
    while (*k == ' ' || *k == '\t') k++;
    if (g_ascii_strncasecmp(k, name, len) != 0 || k[len] != '=') continue;
    const char *v = k + len + 1;
    char *value = g_strndup(v, strcspn(v, ";,"));
    g_strstrip(value);
    size_t n = strlen(value);
    if (n >= 2 && value[0] == '"' && value[n - 1] == '"') {
      memmove(value, value + 1, n - 2);
      value[n - 2] = '\0';
    }
    return checked(value);
  }
  return NULL;
}

/* All values of an unknown (unparsed) header, joined by ", " in order; g_free. */
static char *header_values(const sip_t *sip, const char *name) {
  GString *all = NULL;
  for (const sip_unknown_t *u = sip->sip_unknown; u; u = u->un_next) {
    if (!u->un_name || !u->un_value || g_ascii_strcasecmp(u->un_name, name) != 0) continue;
    if (!all) all = g_string_new(NULL);
    else g_string_append(all, ", ");
    g_string_append(all, u->un_value);
  }
  return all ? g_string_free(all, FALSE) : NULL;
}

void sip_caller_id_read(const sip_t *sip, bool trust_asserted, sip_caller_id *out) {
  memset(out, 0, sizeof *out);
  if (!sip) return;
  char *value = header_values(sip, "Diversion");
  if (value) {
    GPtrArray *entries = split_entries(value);
    if (entries->len) {
      out->diverted_from = entry_uri(entries->pdata[0], false);
      out->diversion_reason = entry_param(entries->pdata[0], "reason");
    }
    g_ptr_array_free(entries, TRUE);
    g_free(value);
  }
  value = header_values(sip, "History-Info");
  if (value) {
    GPtrArray *entries = split_entries(value);
    GPtrArray *uris = g_ptr_array_new();
    for (guint i = 0; i < entries->len && uris->len < MAX_HISTORY; i++) {
      char *uri = entry_uri(entries->pdata[i], true);
      if (uri) g_ptr_array_add(uris, uri);
    }
    if (uris->len) {
      g_ptr_array_add(uris, NULL);
      out->history = (char **)g_ptr_array_free(uris, FALSE);
    } else {
      g_ptr_array_free(uris, TRUE);
    }
    g_ptr_array_free(entries, TRUE);
    g_free(value);
  }
  value = trust_asserted ? header_values(sip, "P-Asserted-Identity") : NULL;
  if (value) {
    /* RFC 3325 9.1: up to two values (a sip: and a tel:); the first one is shown. */
    GPtrArray *entries = split_entries(value);
    if (entries->len) {
      out->asserted = entry_uri(entries->pdata[0], false);
      out->asserted_display = entry_display(entries->pdata[0]);
    }
    g_ptr_array_free(entries, TRUE);
    g_free(value);
  }
}

void sip_caller_id_clear(sip_caller_id *id) {
  g_free(id->asserted), g_free(id->asserted_display), g_free(id->diverted_from);
  g_free(id->diversion_reason);
  g_strfreev(id->history);
  memset(id, 0, sizeof *id);
}

char *sip_caller_id_header(const char *name, const char *identity) {
  if (!identity || !*identity || strpbrk(identity, "\r\n")) return NULL;
  if (strchr(identity, '<')) return g_strdup_printf("%s: %s", name, identity);
  return g_strdup_printf("%s: <%s>", name, identity);
}
