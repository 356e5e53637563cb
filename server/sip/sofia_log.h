/* sofia_log: sofia-sip's own logs, redirected into ours at debug level.
 *
 * sofia writes through su_log_t objects (one per module: nua, nta, tport, iptsec, ...), often a
 * line in several pieces. Each piece is buffered until its newline, then written as one
 * log_debug("sip", "sofia", ...) line. Sofia's levels are pinned low (2: errors and important
 * warnings) whatever SOFIA_DEBUG/NUA_DEBUG/TPORT_DEBUG say, because at 5 and above sofia prints
 * digest inputs and at 7+ whole messages with their Authorization headers. As a second guard any
 * line mentioning authorization/credentials is dropped.
 *
 * Process-wide (sofia's logs are globals): installed by the first agent, control thread only. */
#ifndef TABPHONE_SIP_SOFIA_LOG_H
#define TABPHONE_SIP_SOFIA_LOG_H

#include <stdbool.h>
#include <stddef.h>

void sip_sofia_log_install(void);

/* The last TLS certificate verification failure sofia logged since the previous call (OpenSSL's
 * reason, e.g. "self-signed certificate in certificate chain"), consumed by this call. False
 * when there was none. Control thread only. */
bool sip_sofia_tls_failure(char *out, size_t len);

#endif
