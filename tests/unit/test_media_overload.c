/* Unit tests for the media engine's overload flag (media/engine.c): [media] max_calls, and the
 * worker loop lag. The lag tests block workers on purpose (a job on the worker's context that
 * waits on a gate the test opens) and only wait for the flag to change, with generous deadlines:
 * nothing asserts how fast it changes, so a slow machine cannot make them fail. */
#include <glib.h>
#include <string.h>

#include "media/media_internal.h"

typedef struct gate {
  GMutex lock;
  GCond cond;
  bool open;
} gate;

static gboolean wait_at_gate(gpointer data) {
  gate *g = data;
  g_mutex_lock(&g->lock);
  while (!g->open) g_cond_wait(&g->cond, &g->lock);
  g_mutex_unlock(&g->lock);
  return G_SOURCE_REMOVE;
}

static void open_gate(gate *g) {
  g_mutex_lock(&g->lock);
  g->open = true;
  g_cond_broadcast(&g->cond);
  g_mutex_unlock(&g->lock);
}

static media_engine *engine_with(int workers, int lag_ms, int max_calls) {
  config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.media_address = (char *)"127.0.0.1";
  cfg.media_workers = workers;
  cfg.overload_lag_ms = lag_ms;
  cfg.media_max_calls = max_calls;
  char err[256] = "";
  media_engine *engine = media_engine_new(&cfg, NULL, err, sizeof err);
  g_assert_nonnull(engine);
  return engine;
}

/* Polls (50 ms steps) until the flag says `want`, for at most 20 s. */
static bool overloaded_becomes(media_engine *engine, bool want) {
  for (int i = 0; i < 400; i++) {
    if (media_engine_overloaded(engine) == want) return true;
    g_usleep(50 * 1000);
  }
  return false;
}

static void test_max_calls(void) {
  media_engine *engine = engine_with(1, 0, 2);
  g_assert_false(media_engine_overloaded(engine));
  g_assert_true(media_engine_admit(engine));
  atomic_store(&engine->call_count, 1);
  g_assert_true(media_engine_admit(engine));
  atomic_store(&engine->call_count, 2); /* the limit: the next call is refused */
  g_assert_true(media_engine_overloaded(engine));
  g_assert_false(media_engine_admit(engine));
  g_assert_false(media_engine_admit(engine));
  atomic_store(&engine->call_count, 1);
  g_assert_true(media_engine_admit(engine));
  atomic_store(&engine->call_count, 0);
  media_engine_free(engine);
}

static void test_no_limits(void) {
  media_engine *engine = engine_with(1, 0, 0);
  atomic_store(&engine->call_count, 100000);
  g_assert_false(media_engine_overloaded(engine));
  atomic_store(&engine->call_count, 0);
  media_engine_free(engine);
}

/* Two workers, lag threshold 50 ms: one blocked worker is not overload (the other can take
 * calls); both blocked is; both released, it passes. (A blocked worker's lag counts as the
 * smoothed value its overdue tick would give: 100 ms needs it stuck for about 0.9 s.) */
static void test_lag(void) {
  media_engine *engine = engine_with(2, 50, 0);
  gate first = {.open = false}, second = {.open = false};
  g_mutex_init(&first.lock);
  g_cond_init(&first.cond);
  g_mutex_init(&second.lock);
  g_cond_init(&second.cond);

  g_main_context_invoke(engine->workers[0].context, wait_at_gate, &first);
  int waited = 0;
  while (media_engine_worker_lag_ms(engine) <= 100 && waited++ < 400) g_usleep(50 * 1000);
  g_assert_cmpint(media_engine_worker_lag_ms(engine), >, 100);
  g_assert_false(media_engine_overloaded(engine)); /* the other worker is idle */

  g_main_context_invoke(engine->workers[1].context, wait_at_gate, &second);
  g_assert_true(overloaded_becomes(engine, true));
  g_assert_false(media_engine_admit(engine));

  open_gate(&first);
  open_gate(&second);
  g_assert_true(overloaded_becomes(engine, false));
  g_assert_true(media_engine_admit(engine));
  media_engine_free(engine);
  g_mutex_clear(&first.lock);
  g_cond_clear(&first.cond);
  g_mutex_clear(&second.lock);
  g_cond_clear(&second.cond);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/media_overload/max_calls", test_max_calls);
  g_test_add_func("/media_overload/no_limits", test_no_limits);
  g_test_add_func("/media_overload/lag", test_lag);
  return g_test_run();
}
