/* registration: one SIP address of record kept registered with its registrar.
 *
 * Behaviour: REGISTER with digest auth (401/407 answered with the account's credentials),
 * refresh before expiry (at about half the granted lifetime, never later than expiry - 5 s),
 * 423 Interval Too Brief honoured (Min-Expires), re-register after failures with exponential
 * backoff between [sip] register_retry_min and register_retry_max (a 503's Retry-After
 * respected). Every state change is reported to the listener with the SIP code and a reason a
 * person can act on:  "403 Forbidden from 127.0.0.1:5070 — check username/password".
 * Passwords never appear in any log line or event.
 * NAT: without [sip] public_ip (and unless [sip] learn_public_address = no), the address:port a
 * registrar reports in the Via of a 2xx (received/rport) becomes the Contact this registration
 * registers (the old binding removed) and the Contact/SDP address of its account's calls
 * (sip_agent_public_address, sip_internal.h); see registration.c.
 *
 * Threading: control thread only.
 * Ownership: registration_new returns an object the caller frees with registration_free.
 * Strings in registration_params are copied. */
#ifndef TABPHONE_SIP_REGISTRATION_H
#define TABPHONE_SIP_REGISTRATION_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "sip/agent.h"

typedef struct registration registration;

typedef enum {
  REGISTRATION_UNREGISTERED = 0, /* not registered (initial, or after un-REGISTER) */
  REGISTRATION_REGISTERING,      /* a REGISTER is in flight */
  REGISTRATION_REGISTERED,
  REGISTRATION_FAILED,           /* last attempt failed; a retry is scheduled (retry_in) */
} registration_state;

const char *registration_state_name(registration_state state); /* "registered", ... */

typedef struct registration_event {
  const char *key;   /* the registration's key (account name, or the AOR of a BYO account) */
  registration_state state;
  int code;          /* SIP status of the last answer; 0 for a local cause (timeout, DNS) */
  const char *reason;/* human text, never contains a secret */
  int expires;       /* seconds granted (registered), else 0 */
  int retry_in;      /* seconds to the next attempt (failed), else 0 */
} registration_event;

typedef void (*registration_listener)(void *user_data, const registration_event *event);

typedef struct registration_params {
  const char *key;          /* how events name it */
  const char *uri;          /* AOR, "sip:alice@example.com" */
  const char *username;     /* auth user; NULL = URI user */
  const char *password;     /* NULL = none */
  const char *display_name; /* may be NULL */
  const char *registrar;    /* NULL = URI's domain */
  const char *proxy;        /* outbound proxy, NULL = none */
  sip_transport transport;
  int expires;              /* requested lifetime, seconds */
} registration_params;

/* Validates params (URI syntax, registrar syntax); returns NULL with one line in err when
 * they are unusable. Does not send anything yet. */
registration *registration_new(sip_agent *agent, const registration_params *params,
                               registration_listener listener, void *user_data, char *err,
                               size_t err_len);

/* Sends the first REGISTER. */
void registration_start(registration *reg);

/* Sends an un-REGISTER (expires=0) if registered or registering; the listener receives
 * REGISTRATION_UNREGISTERED when the registrar answers (or at once if nothing was registered). */
void registration_stop(registration *reg);

/* Detaches the listener and frees. If still registered, the agent finishes the un-REGISTER on
 * its own (it is not reported). NULL is a no-op. */
void registration_free(registration *reg);

registration_state registration_get_state(const registration *reg);
const char *registration_key(const registration *reg);
/* Last event's code and reason (for /healthz and for sessions that log in later). */
int registration_last_code(const registration *reg);
const char *registration_last_reason(const registration *reg);
int registration_expires(const registration *reg);

#endif
