/* lockout: failed-login backoff keyed by a string (a user name, a peer address).
 *
 * After max_failures consecutive failures a key is locked for lock_seconds; each further lock
 * of the same key (failures continuing after a lock expired) doubles the period, up to one
 * hour. A success clears the key. While locked, attempts are refused without being checked,
 * which also keeps a password-guessing flood from burning PBKDF2 time.
 *
 * Keys are the names as typed, known or not, so a lock never tells whether a user exists.
 * The clock is injectable (see rate_limit.h). Threading: one thread per instance. */
#ifndef TABPHONE_AUTH_LOCKOUT_H
#define TABPHONE_AUTH_LOCKOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/rate_limit.h"

typedef struct lockout lockout;

enum { LOCKOUT_MAX_SECONDS = 3600 };

lockout *lockout_new(int max_failures, int lock_seconds, auth_clock clock, void *clock_data);
void lockout_free(lockout *l);

/* Seconds key stays locked (rounded up), 0 when not locked. */
int lockout_remaining(lockout *l, const char *key);

/* Counts a failure. Returns the lock period in seconds when this failure started a lock (the
 * caller logs it, once), else 0. */
int lockout_failure(lockout *l, const char *key);

/* A success: the key's failures and lock history are forgotten. */
void lockout_success(lockout *l, const char *key);

#endif
