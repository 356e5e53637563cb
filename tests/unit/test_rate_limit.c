/* test_rate_limit: auth/rate_limit.h and auth/lockout.h as a specification, on a fake clock. */
#include <glib.h>

#include "auth/lockout.h"
#include "auth/rate_limit.h"

static int64_t fake_now;
static int64_t fake_clock(void *data) {
  (void)data;
  return fake_now;
}
static void advance(double seconds) { fake_now += (int64_t)(seconds * 1e6); }

static void test_burst_then_refused(void) {
  fake_now = 1000000;
  rate_limit *rl = rate_limit_new(5, 10, fake_clock, NULL);
  for (int i = 0; i < 5; i++) g_assert_true(rate_limit_take(rl, "s1"));
  g_assert_false(rate_limit_take(rl, "s1"));
  g_assert_false(rate_limit_take(rl, "s1"));
  rate_limit_free(rl);
}

static void test_refills_at_the_steady_rate(void) {
  fake_now = 0;
  rate_limit *rl = rate_limit_new(5, 10, fake_clock, NULL); /* one token per 2 s */
  for (int i = 0; i < 5; i++) g_assert_true(rate_limit_take(rl, "k"));
  advance(1.9);
  g_assert_false(rate_limit_take(rl, "k"));
  advance(0.2);
  g_assert_true(rate_limit_take(rl, "k"));
  g_assert_false(rate_limit_take(rl, "k"));
  advance(100); /* never more than the burst */
  for (int i = 0; i < 5; i++) g_assert_true(rate_limit_take(rl, "k"));
  g_assert_false(rate_limit_take(rl, "k"));
  rate_limit_free(rl);
}

static void test_keys_are_independent(void) {
  fake_now = 0;
  rate_limit *rl = rate_limit_new(1, 60, fake_clock, NULL);
  g_assert_true(rate_limit_take(rl, "alice"));
  g_assert_false(rate_limit_take(rl, "alice"));
  g_assert_true(rate_limit_take(rl, "bob"));
  rate_limit_forget(rl, "alice");
  g_assert_true(rate_limit_take(rl, "alice"));
  rate_limit_free(rl);
}

static void test_many_keys_do_not_grow_without_bound(void) {
  fake_now = 0;
  rate_limit *rl = rate_limit_new(2, 1, fake_clock, NULL);
  char key[32];
  for (int i = 0; i < 20000; i++) {
    g_snprintf(key, sizeof key, "10.0.%d.%d", i / 256, i % 256);
    g_assert_true(rate_limit_take(rl, key));
    advance(0.001);
  }
  g_assert_cmpuint(rate_limit_size(rl), <=, 5000);
  rate_limit_free(rl);
}

static void test_bad_parameters_are_refused(void) {
  g_assert_null(rate_limit_new(0, 10, NULL, NULL));
  g_assert_null(rate_limit_new(5, 0, NULL, NULL));
}

static void test_lockout_after_max_failures(void) {
  fake_now = 0;
  lockout *l = lockout_new(3, 60, fake_clock, NULL);
  g_assert_cmpint(lockout_failure(l, "alice"), ==, 0);
  g_assert_cmpint(lockout_failure(l, "alice"), ==, 0);
  g_assert_cmpint(lockout_remaining(l, "alice"), ==, 0);
  g_assert_cmpint(lockout_failure(l, "alice"), ==, 60); /* the lock starts: reported once */
  g_assert_cmpint(lockout_remaining(l, "alice"), ==, 60);
  g_assert_cmpint(lockout_failure(l, "alice"), ==, 0);  /* while locked: not reported again */
  g_assert_cmpint(lockout_remaining(l, "bob"), ==, 0);
  advance(59.5);
  g_assert_cmpint(lockout_remaining(l, "alice"), ==, 1);
  advance(1);
  g_assert_cmpint(lockout_remaining(l, "alice"), ==, 0);
  lockout_free(l);
}

static void test_lockout_grows_and_is_capped(void) {
  fake_now = 0;
  lockout *l = lockout_new(1, 1000, fake_clock, NULL);
  g_assert_cmpint(lockout_failure(l, "x"), ==, 1000);
  advance(1000);
  g_assert_cmpint(lockout_failure(l, "x"), ==, 2000);
  advance(2000);
  g_assert_cmpint(lockout_failure(l, "x"), ==, LOCKOUT_MAX_SECONDS);
  advance(LOCKOUT_MAX_SECONDS);
  g_assert_cmpint(lockout_failure(l, "x"), ==, LOCKOUT_MAX_SECONDS);
  lockout_free(l);
}

static void test_success_clears_the_history(void) {
  fake_now = 0;
  lockout *l = lockout_new(2, 10, fake_clock, NULL);
  g_assert_cmpint(lockout_failure(l, "a"), ==, 0);
  lockout_success(l, "a");
  g_assert_cmpint(lockout_failure(l, "a"), ==, 0);
  g_assert_cmpint(lockout_failure(l, "a"), ==, 10);
  advance(10);
  lockout_success(l, "a");
  g_assert_cmpint(lockout_failure(l, "a"), ==, 0);
  g_assert_cmpint(lockout_failure(l, "a"), ==, 10); /* not 20: history gone */
  lockout_free(l);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/rate_limit/burst_then_refused", test_burst_then_refused);
  g_test_add_func("/rate_limit/refills_at_the_steady_rate", test_refills_at_the_steady_rate);
  g_test_add_func("/rate_limit/keys_are_independent", test_keys_are_independent);
  g_test_add_func("/rate_limit/many_keys_do_not_grow_without_bound",
                  test_many_keys_do_not_grow_without_bound);
  g_test_add_func("/rate_limit/bad_parameters_are_refused", test_bad_parameters_are_refused);
  g_test_add_func("/lockout/after_max_failures", test_lockout_after_max_failures);
  g_test_add_func("/lockout/grows_and_is_capped", test_lockout_grows_and_is_capped);
  g_test_add_func("/lockout/success_clears_the_history", test_success_clears_the_history);
  return g_test_run();
}
