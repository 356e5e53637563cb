/* reason: see reason.h. The em dash separates what happened from what to do about it. */
#include "sip/reason.h"

#include <stdio.h>
#include <string.h>

#define DASH " \xe2\x80\x94 "

static const char *or_empty(const char *text) { return text ? text : ""; }

void sip_reason_registered(char *out, size_t len, int status, const char *phrase, int expires) {
  snprintf(out, len, "registered (%d %s, expires %d s)", status, or_empty(phrase), expires);
}

void sip_reason_registering(char *out, size_t len, const char *peer) {
  snprintf(out, len, "registering at %s", peer);
}

void sip_reason_unregistered(char *out, size_t len, int status, const char *phrase) {
  if (status >= 200)
    snprintf(out, len, "unregistered (%d %s)", status, or_empty(phrase));
  else
    snprintf(out, len, "unregistered");
}

void sip_reason_auth_failed(char *out, size_t len, int status, const char *phrase,
                            const char *peer, int retry_in) {
  snprintf(out, len, "%d %s from %s" DASH "check username/password" DASH "retrying in %d s",
           status, or_empty(phrase), peer, retry_in);
}

void sip_reason_interval(char *out, size_t len, int status, const char *phrase, int min_expires) {
  snprintf(out, len, "%d %s" DASH "retrying with expires %d", status, or_empty(phrase),
           min_expires);
}

void sip_reason_failed(char *out, size_t len, int status, const char *phrase, bool remote,
                       const char *peer, int retry_in) {
  if (remote)
    snprintf(out, len, "%d %s from %s" DASH "retrying in %d s", status, or_empty(phrase), peer,
             retry_in);
  else if (status == 408)
    snprintf(out, len, "no answer from %s (408 timeout)" DASH "retrying in %d s", peer, retry_in);
  else if (status == 503 && phrase && strstr(phrase, "DNS"))
    /* sofia's own 503 "DNS Error": the name has no NAPTR/SRV/A/AAAA (or no DNS answer). */
    snprintf(out, len, "cannot resolve %s (DNS lookup failed)" DASH "retrying in %d s", peer,
             retry_in);
  else
    snprintf(out, len, "cannot reach %s (%d %s)" DASH "retrying in %d s", peer, status,
             or_empty(phrase), retry_in);
}

void sip_reason_unsupported_auth(char *out, size_t len, const char *what, const char *peer,
                                 int retry_in) {
  snprintf(out, len, "%s from %s is not supported" DASH "retrying in %d s", what, peer, retry_in);
}

/* Answers that describe the callee rather than the path to it name no host. */
static bool names_callee(int status) {
  return status == 486 || status == 487 || status == 600 || status == 603;
}

void sip_reason_call_failed(char *out, size_t len, int status, const char *phrase, bool remote,
                            const char *peer) {
  if (remote && names_callee(status))
    snprintf(out, len, "%d %s", status, or_empty(phrase));
  else if (remote)
    snprintf(out, len, "%d %s from %s", status, or_empty(phrase), peer);
  else if (status == 408)
    snprintf(out, len, "no answer from %s (408 timeout)", peer);
  else
    snprintf(out, len, "cannot reach %s (%d %s)", peer, status, or_empty(phrase));
}

void sip_reason_auth_required(char *out, size_t len, const char *peer) {
  snprintf(out, len, "authentication required by %s", peer);
}

void sip_reason_too_many_redirects(char *out, size_t len, int status, const char *phrase,
                                   const char *peer, int hops) {
  snprintf(out, len, "%d %s from %s: too many redirects (%d)", status, or_empty(phrase), peer,
           hops);
}
