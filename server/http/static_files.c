/* static_files: request path -> file under web_root, Content-Type and Cache-Control.
 *
 * Why the path is checked twice: the textual check (segments) refuses every spelling of
 * "climb out" we can see, and the realpath() check catches what text cannot show (symlinks,
 * odd file systems). Either alone would be one bug away from serving /etc/passwd.
 *
 * libwebsockets already percent-decodes and normalises the URI it hands us; we still decode
 * and check here ourselves so that this file's guarantee does not depend on lws's parser
 * (a second decode only matters for paths that still contain '%', which our web/ never does). */
#include "http/static_files.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool static_files_percent_decode(const char *path, size_t len, char *out, size_t out_len) {
  size_t o = 0;
  if (out_len == 0)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = path[i];
    if (c == '%') {
      if (len - i < 3)
        return false;
      int hi = hex_value(path[i + 1]);
      int lo = hex_value(path[i + 2]);
      if (hi < 0 || lo < 0)
        return false;
      c = (char)(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0' || o + 1 >= out_len)
      return false;
    out[o++] = c;
  }
  out[o] = '\0';
  return true;
}

/* Checks one decoded segment. Returns 0 when it may be part of a served path, else the status
 * to refuse with: 400 for climbing ("..", "."), 404 for hidden names (".git", ".env"). */
static int check_segment(const char *seg, size_t len) {
  if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
    return 400;
  if (len > 0 && seg[0] == '.')
    return 404;
  return 0;
}

/* Turns a decoded absolute path into "a/b/c" (no leading slash, single slashes). Sets
 * *wants_dir when the path ends with '/' (or is "/"). Returns 0 or a refusal status. */
static int clean_path(const char *decoded, char *rel, size_t rel_len, bool *wants_dir) {
  if (decoded[0] != '/')
    return 400;
  for (const unsigned char *p = (const unsigned char *)decoded; *p; p++)
    if (*p == '\\' || *p < 0x20 || *p == 0x7f)
      return 400;

  size_t o = 0;
  const char *seg = decoded + 1;
  *wants_dir = true;
  while (*seg) {
    const char *end = strchr(seg, '/');
    size_t len = end ? (size_t)(end - seg) : strlen(seg);
    int refused = check_segment(seg, len);
    if (refused)
      return refused;
    if (len > 0) {
      if (o + len + 2 > rel_len)
        return 404;
      if (o > 0)
        rel[o++] = '/';
      memcpy(rel + o, seg, len);
      o += len;
    }
    *wants_dir = end != NULL;
    seg = end ? end + 1 : seg + len;
  }
  rel[o] = '\0';
  if (o == 0)
    *wants_dir = true;
  return 0;
}

static bool inside_root(const char *root, const char *resolved) {
  size_t root_len = strlen(root);
  if (root_len == 1 && root[0] == '/')
    return true;
  return strncmp(resolved, root, root_len) == 0 &&
         (resolved[root_len] == '/' || resolved[root_len] == '\0');
}

/* realpath() plus the containment check; fills out (PATH_MAX) or returns false. */
static bool real_inside(const char *root, const char *candidate, char *out) {
  if (!realpath(candidate, out))
    return false;
  return inside_root(root, out);
}

/* A directory is served through its index.html, which must itself stay inside root. */
static int resolve_directory(const char *root, const char *dir, static_file *result) {
  char candidate[PATH_MAX + 16];
  char resolved[PATH_MAX];
  struct stat st;

  if ((size_t)snprintf(candidate, sizeof(candidate), "%s/index.html", dir) >= sizeof(candidate))
    return 404;
  if (!real_inside(root, candidate, resolved) || stat(resolved, &st) != 0 || !S_ISREG(st.st_mode))
    return 404;
  if (strlen(resolved) >= sizeof(result->file))
    return 404;
  strcpy(result->file, resolved);
  return 200;
}

static_file static_files_resolve(const char *root, const char *path, size_t path_len) {
  static_file result = {.status = 404};
  char decoded[PATH_MAX];
  char rel[PATH_MAX];
  char candidate[2 * PATH_MAX];
  char resolved[PATH_MAX];
  bool wants_dir = false;
  struct stat st;

  if (path_len == 0 || path[0] != '/' || memchr(path, '\0', path_len) ||
      !static_files_percent_decode(path, path_len, decoded, sizeof(decoded))) {
    result.status = 400;
    return result;
  }
  int refused = clean_path(decoded, rel, sizeof(rel), &wants_dir);
  if (refused) {
    result.status = refused;
    return result;
  }
  snprintf(candidate, sizeof(candidate), "%s%s%s", root, rel[0] ? "/" : "", rel);
  if (!real_inside(root, candidate, resolved) || stat(resolved, &st) != 0)
    return result;
  if (S_ISDIR(st.st_mode)) {
    result.status = resolve_directory(root, resolved, &result);
    return result;
  }
  if (!S_ISREG(st.st_mode) || wants_dir || strlen(resolved) >= sizeof(result.file))
    return result;
  strcpy(result.file, resolved);
  result.status = 200;
  return result;
}

typedef struct mime_entry {
  const char *extension;
  const char *content_type;
} mime_entry;

/* Everything web/ ships, plus the usual suspects. .mjs/.wasm/.map/.webmanifest are here on
 * purpose: lws's own table lacks them (design.md §7). */
static const mime_entry mime_table[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"webmanifest", "application/manifest+json"},
    {"wasm", "application/wasm"},
    {"svg", "image/svg+xml"},
    {"ico", "image/x-icon"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"txt", "text/plain; charset=utf-8"},
    {"wav", "audio/wav"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"opus", "audio/ogg"},
};

static const char *extension_of(const char *file) {
  const char *slash = strrchr(file, '/');
  const char *dot = strrchr(file, '.');
  if (!dot || (slash && dot < slash))
    return "";
  return dot + 1;
}

const char *static_files_content_type(const char *file) {
  const char *ext = extension_of(file);
  for (size_t i = 0; i < sizeof(mime_table) / sizeof(mime_table[0]); i++)
    if (strcasecmp(ext, mime_table[i].extension) == 0)
      return mime_table[i].content_type;
  return "application/octet-stream";
}

const char *static_files_cache_control(const char *file) {
  const char *ext = extension_of(file);
  if (strcasecmp(ext, "html") == 0 || strcasecmp(ext, "htm") == 0)
    return "no-cache";
  return "max-age=60";
}
