/* reason: the human text of registration events ("403 Forbidden from 127.0.0.1:5070 — check
 * username/password"). One function per kind of outcome, so every wording lives here.
 * Pure functions; nothing here ever sees a password. */
#ifndef TABPHONE_SIP_REASON_H
#define TABPHONE_SIP_REASON_H

#include <stdbool.h>
#include <stddef.h>

/* "registered (200 OK, expires 600 s)" */
void sip_reason_registered(char *out, size_t len, int status, const char *phrase, int expires);

/* "registering at 127.0.0.1:5070" */
void sip_reason_registering(char *out, size_t len, const char *peer);

/* "unregistered (200 OK)" / "unregistered" (nothing was registered) */
void sip_reason_unregistered(char *out, size_t len, int status, const char *phrase);

/* "403 Forbidden from 127.0.0.1:5070 — check username/password — retrying in 300 s" */
void sip_reason_auth_failed(char *out, size_t len, int status, const char *phrase,
                            const char *peer, int retry_in);

/* "423 Interval Too Brief — retrying with expires 60" */
void sip_reason_interval(char *out, size_t len, int status, const char *phrase, int min_expires);

/* Any other failure, remote (remote = true: the peer answered status) or local (no answer,
 * transport or DNS error reported by sofia with status):
 *   "no answer from 127.0.0.1:5070 (408 timeout) — retrying in 5 s"
 *   "503 Service Unavailable from 127.0.0.1:5070 — retrying in 2 s"
 *   "cannot reach 127.0.0.1:5070 (503 Transport error) — retrying in 5 s" */
void sip_reason_failed(char *out, size_t len, int status, const char *phrase, bool remote,
                       const char *peer, int retry_in);

/* "digest algorithm SHA-256 from 127.0.0.1:5070 is not supported — retrying in 300 s" */
void sip_reason_unsupported_auth(char *out, size_t len, const char *what, const char *peer,
                                 int retry_in);

/* ---- calls ---- */

/* A failed INVITE. remote: the far end (or a proxy) answered status; else sofia's own answer:
 *   "486 Busy Here" (busy, decline and cancelled answers name no host)
 *   "480 Temporarily Unavailable from 127.0.0.1:5080"
 *   "no answer from 127.0.0.1:5080 (408 timeout)"
 *   "cannot reach 127.0.0.1:5080 (503 Service Unavailable)" */
void sip_reason_call_failed(char *out, size_t len, int status, const char *phrase, bool remote,
                            const char *peer);

/* A 401/407 to our INVITE that we do not answer: "authentication required by 127.0.0.1:5080" */
void sip_reason_auth_required(char *out, size_t len, const char *peer);

/* "302 Moved Temporarily from 127.0.0.1:5080: too many redirects (3)" */
void sip_reason_too_many_redirects(char *out, size_t len, int status, const char *phrase,
                                   const char *peer, int hops);

#endif
