/* rate_limit: token buckets keyed by a string (a peer address, a user name, a session id).
 *
 * Each key owns a bucket of `burst` tokens that refills at burst / window_seconds tokens per
 * second; rate_limit_take spends one token and says whether there was one. So "50 messages per
 * 10 s" allows a burst of 50 and then a steady 5 per second. Buckets that have refilled
 * completely carry no information and are dropped when the table grows, so a flood of distinct
 * keys cannot grow memory without bound.
 *
 * The clock is injectable (microseconds, monotonic) so tests need no sleeping.
 * Threading: one thread per instance (the control thread in the server). */
#ifndef TABPHONE_AUTH_RATE_LIMIT_H
#define TABPHONE_AUTH_RATE_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

/* Monotonic time in microseconds; data is the clock's own state (NULL for the real clock). */
typedef int64_t (*auth_clock)(void *data);

/* The real clock (g_get_monotonic_time). */
int64_t auth_clock_monotonic(void *data);

typedef struct rate_limit rate_limit;

/* burst >= 1, window_seconds > 0. clock NULL = the real clock. */
rate_limit *rate_limit_new(int burst, double window_seconds, auth_clock clock, void *clock_data);
void rate_limit_free(rate_limit *rl);

/* Spends one token of key's bucket: true = allowed, false = over the limit (nothing spent). */
bool rate_limit_take(rate_limit *rl, const char *key);

/* Forgets key (a session that closed). */
void rate_limit_forget(rate_limit *rl, const char *key);

/* Number of buckets held (tests). */
unsigned rate_limit_size(const rate_limit *rl);

#endif
