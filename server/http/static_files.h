/* static_files: from a request path to a file under web_root, and what to say about that file.
 *
 * This is the part of http that decides which bytes of the disk a browser may read, so it is
 * kept free of libwebsockets and sockets: tests/unit can feed it hostile paths directly.
 *
 * The rule is deny by default. A path is served only when, after percent-decoding, it is an
 * absolute path made of plain segments (no "..", no ".", no segment starting with '.', no
 * backslash, no control byte, no NUL) AND its realpath() still lies inside web_root's realpath
 * (so a symlink cannot lead out of web_root) AND it names a regular file (a directory is served
 * through its index.html, if it has one).
 *
 * Threading: no shared state (only realpath/stat on the file system), callable from any thread. Ownership: nothing is allocated that the
 * caller has to free; results go into caller buffers or are static strings. */
#ifndef TABPHONE_HTTP_STATIC_FILES_H
#define TABPHONE_HTTP_STATIC_FILES_H

#include <stdbool.h>
#include <stddef.h>

/* What a request path resolves to. status is the HTTP status to answer with: 200 (file is the
 * realpath of a regular file inside web_root), 400 (the path is malformed or tries to climb out)
 * or 404 (nothing servable there). */
typedef struct static_file {
  int status;
  char file[4096];
} static_file;

/* Decodes %XX escapes of path[0..len) into out (NUL-terminated). Returns false on a malformed
 * escape, a decoded NUL, or when out is too small. A '+' stays a '+' (this is a path, not a
 * form). */
bool static_files_percent_decode(const char *path, size_t len, char *out, size_t out_len);

/* Resolves the request path (not yet decoded; query string already removed) against root,
 * which must itself be a realpath without trailing slash. "/" and "/dir/" map to index.html. */
static_file static_files_resolve(const char *root, const char *path, size_t path_len);

/* Content-Type for a file name, by extension (case-insensitive); text types carry
 * "; charset=utf-8". Unknown extensions get application/octet-stream rather than a refusal. */
const char *static_files_content_type(const char *file);

/* Cache-Control for a file: HTML must revalidate (it names the module graph); everything else
 * may be reused for a short time (no build step, so names carry no content hash). */
const char *static_files_cache_control(const char *file);

#endif
