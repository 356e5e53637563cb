/* rate_limit: see rate_limit.h. */
#include "auth/rate_limit.h"

#include <glib.h>

enum { PRUNE_ABOVE = 4096 }; /* buckets kept before full ones are swept out */

typedef struct bucket {
  double tokens;
  int64_t updated_us;
} bucket;

struct rate_limit {
  double burst;
  double per_us; /* tokens gained per microsecond */
  auth_clock clock;
  void *clock_data;
  GHashTable *buckets; /* char* -> bucket*, both owned */
};

int64_t auth_clock_monotonic(void *data) {
  (void)data;
  return g_get_monotonic_time();
}

rate_limit *rate_limit_new(int burst, double window_seconds, auth_clock clock, void *clock_data) {
  if (burst < 1 || window_seconds <= 0) return NULL;
  rate_limit *rl = g_new0(rate_limit, 1);
  rl->burst = burst;
  rl->per_us = burst / (window_seconds * 1e6);
  rl->clock = clock ? clock : auth_clock_monotonic;
  rl->clock_data = clock_data;
  rl->buckets = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  return rl;
}

void rate_limit_free(rate_limit *rl) {
  if (!rl) return;
  g_hash_table_destroy(rl->buckets);
  g_free(rl);
}

static void refill(const rate_limit *rl, bucket *b, int64_t now) {
  if (now > b->updated_us) b->tokens += (double)(now - b->updated_us) * rl->per_us;
  if (b->tokens > rl->burst) b->tokens = rl->burst;
  b->updated_us = now;
}

/* A full bucket is the same as no bucket: drop those once the table is large. */
static void prune(rate_limit *rl, int64_t now) {
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init(&it, rl->buckets);
  while (g_hash_table_iter_next(&it, &key, &value)) {
    refill(rl, value, now);
    if (((bucket *)value)->tokens >= rl->burst) g_hash_table_iter_remove(&it);
  }
}

bool rate_limit_take(rate_limit *rl, const char *key) {
  int64_t now = rl->clock(rl->clock_data);
  bucket *b = g_hash_table_lookup(rl->buckets, key);
  if (!b) {
    if (g_hash_table_size(rl->buckets) >= PRUNE_ABOVE) prune(rl, now);
    b = g_new(bucket, 1);
    b->tokens = rl->burst;
    b->updated_us = now;
    g_hash_table_insert(rl->buckets, g_strdup(key), b);
  }
  refill(rl, b, now);
  if (b->tokens < 1.0) return false;
  b->tokens -= 1.0;
  return true;
}

void rate_limit_forget(rate_limit *rl, const char *key) { g_hash_table_remove(rl->buckets, key); }

unsigned rate_limit_size(const rate_limit *rl) { return g_hash_table_size(rl->buckets); }
