/* dial_plan: which destinations a user may call (toll-fraud protection).
 *
 * A plan is two pattern lists from [user NAME]: dial_allow and dial_deny. Deny wins; an empty
 * allow list allows everything not denied (the default: no lists, no restriction).
 *
 * Patterns are globs ('*' any run of characters, '?' one character), case-insensitive:
 *   - a pattern starting with "sip:"/"sips:" or holding '@' is matched against the whole
 *     normalised URI "sip:user@host[:port]" (e.g. "sip:*@example.com");
 *   - any other pattern is matched against the normalised user part, the number
 *     (e.g. "+1*", "00*", "900*").
 * Normalisation (dial_plan_normalise) takes what the INVITE will carry, not what the tab
 * typed, so there is no way around a pattern by spelling: percent-escapes are decoded, URI
 * parameters and headers dropped, the scheme and host lower-cased, and a user part that is a
 * phone number loses its visual separators ("+1 (900) 555-0100" -> "+19005550100").
 *
 * Pure code; thread-safe. */
#ifndef TABPHONE_AUTH_DIAL_PLAN_H
#define TABPHONE_AUTH_DIAL_PLAN_H

#include <stdbool.h>

/* Normalised form of a sip:/sips: target: new strings (g_free) in *uri ("sip:user@host") and
 * *number (the user part, "" when none). False when target is not a sip:/sips: URI. */
bool dial_plan_normalise(const char *target, char **uri, char **number);

/* Does the glob pattern match text (case-insensitive)? */
bool dial_plan_glob(const char *pattern, const char *text);

/* May target be called under allow/deny (NULL-terminated lists, NULL = empty)? When it may
 * not, *rule (if not NULL) points at the deny pattern that matched, or is NULL when no allow
 * pattern matched. A target that cannot be normalised is refused whenever a list is set. */
bool dial_plan_allows(char *const *allow, char *const *deny, const char *target,
                      const char **rule);

#endif
