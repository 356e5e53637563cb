/* ini: a small INI reader that reports line numbers for every key (Debian's inih is built
 * without them, and a config error must name file:line).
 *
 * Syntax: "[section]" or "[section name]", "key = value", comments start with ';' or '#' at
 * the beginning of a line (after blanks) or after " ;" / " #" inside a line. Blank lines are
 * ignored. Values are trimmed; surrounding double quotes are removed (so a value may keep a
 * ';' or '#' by quoting it). Pure code: no I/O beyond reading the given buffer. */
#ifndef TABPHONE_CORE_INI_H
#define TABPHONE_CORE_INI_H

#include <stddef.h>

/* Called for each key. section: "" before any header. Returns 0 to go on, non-zero to stop;
 * ini_parse then returns that value. */
typedef int (*ini_key_handler)(void *user_data, const char *section, const char *key,
                               const char *value, int line);

/* Called for each section header (so an empty section still exists). Same return rule. */
typedef int (*ini_section_handler)(void *user_data, const char *section, int line);

/* Parses text[0..len). Returns 0, the handler's non-zero value, or -line for a syntax error
 * (then *syntax_error says what is wrong, a static string). */
int ini_parse(const char *text, size_t len, ini_section_handler on_section,
              ini_key_handler on_key, void *user_data, const char **syntax_error);

#endif
