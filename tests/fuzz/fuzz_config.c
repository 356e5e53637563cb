/* fuzz_config: libFuzzer target for the config table (core/config.c) on top of the INI reader:
 * every key's value parser (ints, bools, listen lists, codecs, CIDR lists, password hashes,
 * globs), named sections, the direct account, validation, and the environment overrides
 * (TABPHONE_<SECTION>_<KEY>, TABPHONE_<KIND>_<NAME>_<KEY>).
 *
 * Input: INI text, optionally followed by a line "%%ENV" and then environment lines
 * ("TABPHONE_SIP_LISTEN=..."), one per line. The INI part is handed to config_load as a file
 * (a memfd, through /proc/self/fd). A loaded config is then read the way the server reads it
 * (lookups, may-use checks, every string touched) and freed; a refused one must say why. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"

enum { MAX_ENV = 32 };

static size_t touch(const char *s) { return s ? strlen(s) : 0; }

static void read_back(const config *cfg) {
  size_t n = 0;
  for (size_t i = 0; i < cfg->account_count; i++) {
    const config_account *acc = &cfg->accounts[i];
    if (!acc->name || config_find_account(cfg, acc->name) == NULL) abort();
    n += touch(acc->uri) + touch(acc->username) + touch(acc->registrar) + touch(acc->proxy);
    for (char **c = acc->codecs; c && *c; c++) n += touch(*c);
    n += touch(sip_transport_name(acc->transport));
    if (!config_user_may_use(cfg, NULL, acc->name) && config_open_mode(cfg)) abort();
  }
  for (size_t i = 0; i < cfg->user_count; i++) {
    const config_user *user = &cfg->users[i];
    if (!user->name || config_find_user(cfg, user->name) == NULL) abort();
    if (!user->password_hash) abort(); /* validation requires one */
    for (size_t j = 0; j < cfg->account_count; j++)
      n += config_user_may_use(cfg, user, cfg->accounts[j].name);
    for (char **g = user->dial_allow; g && *g; g++) n += touch(*g);
    for (char **g = user->dial_deny; g && *g; g++) n += touch(*g);
  }
  n += config_byo_domain_allowed(cfg, "example.org");
  for (size_t i = 0; i < cfg->listen_count; i++) n += config_listen_is_loopback(&cfg->listen[i]);
  (void)n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  log_init(LOG_ERROR);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  size_t ini_len = size;
  char *env_copy = NULL;
  char *env[MAX_ENV + 1] = {NULL};
  const char *mark = memmem(text, size, "%%ENV\n", 6);
  if (mark) {
    ini_len = (size_t)(mark - text);
    size_t at = ini_len + 6;
    env_copy = strndup(text + at, size - at);
    size_t count = 0;
    for (char *line = strtok(env_copy, "\n"); line && count < MAX_ENV; line = strtok(NULL, "\n"))
      env[count++] = line;
  }
  int fd = memfd_create("fuzz_config", 0);
  if (fd < 0) abort();
  if (ini_len && write(fd, text, ini_len) != (ssize_t)ini_len) abort();
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  config cfg;
  char err[512] = "";
  if (config_load(&cfg, path, env, err, sizeof err)) {
    read_back(&cfg);
    config_free(&cfg);
  } else if (err[0] == '\0') {
    abort(); /* a refusal must say why */
  }
  close(fd);
  free(env_copy);
  return 0;
}
