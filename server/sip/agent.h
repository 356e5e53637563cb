/* sip: the SIP user agent, a wrapper around sofia-sip's nua running on the control thread's
 * GMainContext (su_glib root attached as a GSource; su_root_threading off).
 *
 * Everything sofia-specific (tags, nua events, its quirks) stays inside server/sip/. The rest of
 * the server sees agents and registrations.
 *
 * Threading: control thread only.
 * Ownership: sip_agent_new returns an agent the caller frees with sip_agent_free, which must
 * only be called after sip_agent_shutdown has called its done callback (or was never started).
 */
#ifndef TABPHONE_SIP_AGENT_H
#define TABPHONE_SIP_AGENT_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"

typedef struct sip_agent sip_agent;

/* Binds [sip] listen (UDP and TCP; TLS too when an account uses it or [sip] tls_port is set).
 * On error returns NULL with one line in err ("sip listen 127.0.0.1:5060: address already in
 * use"). */
sip_agent *sip_agent_new(const config *cfg, GMainContext *context, char *err, size_t err_len);

/* Unregisters every registration that is registered (expires=0), waits for the answers, then
 * calls done. Bounded by [sip] shutdown_timeout: done is called by then in any case. */
void sip_agent_shutdown(sip_agent *agent, void (*done)(void *user_data), void *user_data);

void sip_agent_free(sip_agent *agent);

#endif
