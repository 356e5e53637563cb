/* fuzz_ini: libFuzzer target for core/ini.c, which reads the operator's config file.
 *
 * Config files are trusted more than network input, but a crash on a typo or a stray binary
 * byte would still be a bad first experience, and ini.c copies lines into fixed buffers. The
 * handlers read every string they are given so the sanitizers see any overrun, and stop the
 * parse on a key named "stop" to exercise the early-return path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ini.h"

typedef struct tally {
  size_t sections;
  size_t keys;
  size_t bytes;
} tally;

static int on_section(void *user_data, const char *section, int line) {
  tally *t = user_data;
  if (line <= 0) abort();
  t->sections++;
  t->bytes += strlen(section);
  return 0;
}

static int on_key(void *user_data, const char *section, const char *key, const char *value,
                  int line) {
  tally *t = user_data;
  if (line <= 0 || key[0] == '\0') abort();
  t->keys++;
  t->bytes += strlen(section) + strlen(key) + strlen(value);
  return strcmp(key, "stop") == 0 ? 7 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tally t = {0, 0, 0};
  const char *syntax_error = NULL;
  int rc = ini_parse((const char *)data, size, on_section, on_key, &t, &syntax_error);
  if (rc < 0 && (syntax_error == NULL || syntax_error[0] == '\0')) abort();
  if (rc >= 0 && syntax_error != NULL) abort();
  return 0;
}
