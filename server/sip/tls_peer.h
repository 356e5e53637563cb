/* tls_peer: the host name each outgoing SIP-over-TLS connection must prove, enforced per
 * connection: SNI in the ClientHello and OpenSSL's own host check (RFC 6125 rules) on the
 * certificate, so a certificate valid for provider A never does for a connection to provider B.
 *
 * sofia-sip 1.12.11 creates, connects and checks its own SSL objects and has no hook for either.
 * What it does know per connection is the tport's canonical name (tpn_canon: the host of the
 * URI it connects for), and it drives every client handshake from one exported function,
 * tls_connect(magic, wait, tport), which it registers through the GOT (so the executable's
 * definition wins). tls_peer.c defines three functions that the executable exports (see
 * server/sip/meson.build, sip_tls_link_args) and that libsofia-sip-ua then binds to; each calls
 * the real one (dlsym RTLD_NEXT, resolved once):
 *   tls_connect    reads the tport's canonical name (public tport_name()), then calls sofia's;
 *   SSL_connect    before the first handshake step of an SSL sofia connects from inside that
 *                  call: SNI + SSL_set1_host (or SSL_set1_ip_asc for an IP literal, which RFC
 *                  6066 keeps out of SNI), no partial wildcards, and SSL_VERIFY_PEER with
 *                  sofia's own verify callback, so the handshake itself fails on a wrong name;
 *   tport_by_name  (public sofia API, which nta uses to find an open connection by address and
 *                  port only) never hands a TLS connection opened for one host name to a request
 *                  for another (sofia's second lookup, tport_by_addrinfo, then reuses it only
 *                  if its verified certificate names that host too): without this, a request
 *                  for provider B at the same address as provider A went out on A's
 *                  connection, unchecked against B.
 * Any other SSL_connect caller (libwebsockets, sofia's STUN) passes straight through. An SSL
 * that sofia connects without a known host name is refused (fail closed) with a log line.
 *
 * Threading: the interposed functions run on whichever thread runs sofia (the control thread);
 * the per-call context is thread-local, the recorded failures are behind a mutex.
 */
#ifndef TABPHONE_SIP_TLS_PEER_H
#define TABPHONE_SIP_TLS_PEER_H

#include <stdbool.h>
#include <stddef.h>

/* Whether all three interpositions are in effect in this process (the executable was linked with
 * sip_tls_link_args). When false, sofia's TLS runs unmodified: the caller must then keep
 * sofia's own (weaker) subject check on. */
bool sip_tls_peer_active(void);

/* Why a TLS connection that sofia opened for a host failed its certificate check. */
typedef struct sip_tls_failure {
  bool name_mismatch; /* the certificate is valid but names another host */
  char why[160];      /* OpenSSL's words: "hostname mismatch", "certificate has expired", ... */
} sip_tls_failure;

/* The last certificate failure of a connection opened for host (a name or IP literal,
 * brackets and case ignored) since the previous call for that host: copied to out, forgotten,
 * true. Failures are kept per host, so a transport failure toward one provider never reports
 * another provider's certificate. The newest few hosts are kept. Any thread. */
bool sip_tls_peer_take_failure(const char *host, sip_tls_failure *out);

#endif
