/* lockout: see lockout.h. */
#include "auth/lockout.h"

#include <glib.h>

enum { PRUNE_ABOVE = 4096 };

typedef struct record {
  int failures;      /* since the last lock ended (or the last success) */
  int locks;         /* locks so far: the next one lasts lock_seconds << locks */
  int64_t until_us;  /* locked until then; 0 = not locked */
  int64_t last_us;   /* last failure, for pruning */
} record;

struct lockout {
  int max_failures;
  int lock_seconds;
  auth_clock clock;
  void *clock_data;
  GHashTable *records; /* char* -> record*, owned */
};

lockout *lockout_new(int max_failures, int lock_seconds, auth_clock clock, void *clock_data) {
  if (max_failures < 1 || lock_seconds < 1) return NULL;
  lockout *l = g_new0(lockout, 1);
  l->max_failures = max_failures;
  l->lock_seconds = lock_seconds;
  l->clock = clock ? clock : auth_clock_monotonic;
  l->clock_data = clock_data;
  l->records = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  return l;
}

void lockout_free(lockout *l) {
  if (!l) return;
  g_hash_table_destroy(l->records);
  g_free(l);
}

int lockout_remaining(lockout *l, const char *key) {
  record *r = g_hash_table_lookup(l->records, key);
  int64_t now = l->clock(l->clock_data);
  if (!r || r->until_us <= now) return 0;
  return (int)((r->until_us - now + 999999) / 1000000);
}

/* Records idle for longer than the longest lock carry nothing worth keeping. */
static void prune(lockout *l, int64_t now) {
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init(&it, l->records);
  while (g_hash_table_iter_next(&it, &key, &value)) {
    const record *r = value;
    if (r->until_us <= now && now - r->last_us > (int64_t)LOCKOUT_MAX_SECONDS * 1000000)
      g_hash_table_iter_remove(&it);
  }
}

static int lock_period(const lockout *l, int locks) {
  int64_t seconds = l->lock_seconds;
  for (int i = 0; i < locks && seconds < LOCKOUT_MAX_SECONDS; i++) seconds *= 2;
  return seconds > LOCKOUT_MAX_SECONDS ? LOCKOUT_MAX_SECONDS : (int)seconds;
}

int lockout_failure(lockout *l, const char *key) {
  int64_t now = l->clock(l->clock_data);
  record *r = g_hash_table_lookup(l->records, key);
  if (!r) {
    if (g_hash_table_size(l->records) >= PRUNE_ABOVE) prune(l, now);
    r = g_new0(record, 1);
    g_hash_table_insert(l->records, g_strdup(key), r);
  }
  r->last_us = now;
  if (r->until_us > now) return 0; /* already locked: the lock is not extended */
  if (++r->failures < l->max_failures) return 0;
  int seconds = lock_period(l, r->locks);
  r->locks++;
  r->failures = 0;
  r->until_us = now + (int64_t)seconds * 1000000;
  return seconds;
}

void lockout_success(lockout *l, const char *key) { g_hash_table_remove(l->records, key); }
