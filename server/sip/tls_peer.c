/* tls_peer: see tls_peer.h for what this does and why it interposes three functions.
 *
 * Why not a registry of peer addresses (fd -> getpeername -> expected host)? sofia already
 * knows, per connection, the host it connects for (the tport's canonical name, taken from the
 * URI it resolved: registrar, proxy or Route). An address registry would have to redo sofia's
 * RFC 3263 resolution to guess the same thing, and would be ambiguous whenever two names share
 * an address and port. Reading the canonical name from the tport that sofia is connecting is
 * exact; what remained was to keep sofia from reusing that connection for another name
 * (tport_by_name below).
 *
 * Which name: the host of the URI sofia connects for, as sofia itself checks it. For a domain
 * found through NAPTR/SRV (RFC 3263) that is the domain of the SIP URI, not the SRV target,
 * which is what RFC 5922 section 4 asks for (the SRV answer is not secured; the domain is what
 * the user configured). README ("SIP transport and addressing") says so for operators.
 */
#include "sip/tls_peer.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <sofia-sip/hostdomain.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/tport.h>

#include "core/log.h"

/* sofia's client-handshake driver (libsofia-sip-ua, tport_tls.c; exported, not in its public
 * headers): su_root wait callback of a TLS tport until its handshake is done. */
typedef int tls_connect_fn(su_root_magic_t *magic, su_wait_t *w, tport_t *self);
typedef int ssl_connect_fn(SSL *ssl);
typedef tport_t *tport_by_name_fn(tport_t const *self, tp_name_t const *tpn);

/* Our definitions; the executable exports them (sip_tls_link_args). */
int tls_connect(su_root_magic_t *magic, su_wait_t *w, tport_t *self);
int SSL_connect(SSL *ssl);

static tls_connect_fn *real_tls_connect;
static ssl_connect_fn *real_ssl_connect;
static tport_by_name_fn *real_tport_by_name;
static pthread_once_t resolved = PTHREAD_ONCE_INIT;

static void resolve_real(void) {
  real_tls_connect = (tls_connect_fn *)dlsym(RTLD_NEXT, "tls_connect");
  real_ssl_connect = (ssl_connect_fn *)dlsym(RTLD_NEXT, "SSL_connect");
  real_tport_by_name = (tport_by_name_fn *)dlsym(RTLD_NEXT, "tport_by_name");
}

/* The tport sofia is driving on this thread right now (inside tls_connect), or NULL. */
typedef struct {
  char host[256]; /* its canonical name; "" when sofia gave none */
  char port[16];
} tls_connecting;

static _Thread_local const tls_connecting *connecting;

/* Certificate failures by host, newest kept (failures_lock). A handful of providers fail at
 * a time at most; an entry is taken by the registration or call that reports it. */
enum { FAILURES_KEPT = 16 };
typedef struct {
  char host[256]; /* normalized: no brackets, lowercase, no trailing dot; "" = free */
  unsigned long long order;
  sip_tls_failure failure;
} recorded_failure;

static pthread_mutex_t failures_lock = PTHREAD_MUTEX_INITIALIZER;
static recorded_failure failures[FAILURES_KEPT];
static unsigned long long failures_recorded;

/* "[::1]" -> "::1", "PBX.Example.test." -> "pbx.example.test". */
static void normalize_host(const char *host, char *out, size_t len) {
  snprintf(out, len, "%s", host);
  size_t n = strlen(out);
  if (out[0] == '[' && n > 2 && out[n - 1] == ']') {
    memmove(out, out + 1, n - 2);
    out[n -= 2] = '\0';
  } else if (n > 1 && out[n - 1] == '.') {
    out[--n] = '\0';
  }
  for (char *p = out; *p; p++) *p = (char)tolower((unsigned char)*p);
}

static void record_failure(const char *host, bool name_mismatch, const char *why) {
  char key[256];
  normalize_host(host, key, sizeof key);
  pthread_mutex_lock(&failures_lock);
  recorded_failure *slot = &failures[0];
  for (size_t i = 0; i < FAILURES_KEPT; i++) {
    if (!strcmp(failures[i].host, key)) {
      slot = &failures[i];
      break;
    }
    if (failures[i].order < slot->order) slot = &failures[i]; /* free slots have order 0 */
  }
  snprintf(slot->host, sizeof slot->host, "%s", key);
  slot->order = ++failures_recorded;
  slot->failure.name_mismatch = name_mismatch;
  snprintf(slot->failure.why, sizeof slot->failure.why, "%s", why);
  pthread_mutex_unlock(&failures_lock);
}

bool sip_tls_peer_take_failure(const char *host, sip_tls_failure *out) {
  char key[256];
  normalize_host(host ? host : "", key, sizeof key);
  bool found = false;
  pthread_mutex_lock(&failures_lock);
  for (size_t i = 0; i < FAILURES_KEPT && key[0] && !found; i++) {
    if (strcmp(failures[i].host, key)) continue;
    *out = failures[i].failure;
    memset(&failures[i], 0, sizeof failures[i]);
    found = true;
  }
  pthread_mutex_unlock(&failures_lock);
  return found;
}

bool sip_tls_peer_active(void) {
  pthread_once(&resolved, resolve_real);
  return real_tls_connect && real_ssl_connect && real_tport_by_name &&
         dlsym(RTLD_DEFAULT, "tls_connect") == (void *)tls_connect &&
         dlsym(RTLD_DEFAULT, "SSL_connect") == (void *)SSL_connect &&
         dlsym(RTLD_DEFAULT, "tport_by_name") == (void *)tport_by_name;
}

int tls_connect(su_root_magic_t *magic, su_wait_t *w, tport_t *self) {
  pthread_once(&resolved, resolve_real);
  tls_connecting here = {.host = ""};
  const tp_name_t *name = self ? tport_name(self) : NULL;
  /* "*" is sofia's wildcard name: it would match any certificate, so it counts as none. */
  if (name && name->tpn_canon && strcmp(name->tpn_canon, "*"))
    snprintf(here.host, sizeof here.host, "%s", name->tpn_canon);
  if (name && name->tpn_port) snprintf(here.port, sizeof here.port, "%s", name->tpn_port);
  const tls_connecting *outer = connecting;
  connecting = &here;
  int rc = real_tls_connect(magic, w, self);
  connecting = outer;
  return rc;
}

/* A TLS connection carries requests for the host it was opened (and its certificate checked)
 * for: is tp a TLS connection opened for a name other than tpn's? */
static bool other_host(tport_t const *tp, tp_name_t const *tpn) {
  if (!tp || !tpn || !tpn->tpn_canon || !strcmp(tpn->tpn_canon, "*") || !tport_is_secondary(tp) ||
      !tport_has_tls(tp))
    return false;
  const char *canon = tport_name(tp)->tpn_canon;
  if (!canon || !strcasecmp(canon, tpn->tpn_canon)) return false;
  log_debug("sip", NULL, NULL, "TLS: the connection for %s is not reused for %s", canon,
            tpn->tpn_canon);
  return true;
}

/* nta looks connections up with tport_by_name, which matches the resolved address and port
 * only: a request for b.example.test went out on the connection to a.example.test at the same
 * address, even one whose handshake was still running. For another name this says "none open"
 * (the primary, as tport_by_name itself does). tport_tsend then asks tport_by_addrinfo, which
 * reuses a connection for another name only once its certificate was verified and lists that
 * name exactly (sofia's subject list: subjectAltName DNS/IP/URI entries, the CN only when they
 * all equal it; no wildcards), i.e. a certificate valid for it too; otherwise sofia opens a new
 * connection, with its own SNI and check. */
tport_t *tport_by_name(tport_t const *self, tp_name_t const *tpn) {
  pthread_once(&resolved, resolve_real);
  if (!real_tport_by_name) return NULL; /* no libsofia-sip-ua: nobody to ask */
  tport_t *tp = real_tport_by_name(self, tpn);
  return other_host(tp, tpn) ? tport_parent(tp) : tp;
}

/* The name OpenSSL must find in the certificate: an IP literal (brackets off) goes to the IP
 * check and never into SNI (RFC 6066 section 3); a DNS name (trailing dot off) into both. */
static bool expect_host(SSL *ssl, const char *canon) {
  char host[256];
  snprintf(host, sizeof host, "%s", canon);
  size_t len = strlen(host);
  if (host[0] == '[' && len > 2 && host[len - 1] == ']') {
    memmove(host, host + 1, len - 2);
    host[len - 2] = '\0';
  } else if (len > 1 && host[len - 1] == '.') {
    host[len - 1] = '\0';
  }
  bool ok;
  if (host_is_ip_address(host)) {
    ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1;
  } else {
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    ok = SSL_set_tlsext_host_name(ssl, host) == 1 && SSL_set1_host(ssl, host) == 1;
  }
  /* Fail the handshake itself on any verification error, through sofia's own callback (which
   * logs why and applies its date policy). */
  if (ok) SSL_set_verify(ssl, SSL_VERIFY_PEER, SSL_get_verify_callback(ssl));
  return ok;
}

/* "IP:port" (or "[IPv6]:port") of the socket under ssl, for log lines; "?" when unknown. */
static void peer_text(SSL *ssl, char *out, size_t len) {
  struct sockaddr_storage addr;
  socklen_t addr_len = sizeof addr;
  char ip[INET6_ADDRSTRLEN];
  snprintf(out, len, "?");
  int fd = SSL_get_fd(ssl);
  if (fd < 0 || getpeername(fd, (struct sockaddr *)&addr, &addr_len) != 0) return;
  if (addr.ss_family == AF_INET) {
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)&addr;
    if (inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip))
      snprintf(out, len, "%s:%d", ip, ntohs(v4->sin_port));
  } else if (addr.ss_family == AF_INET6) {
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&addr;
    if (inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip))
      snprintf(out, len, "[%s]:%d", ip, ntohs(v6->sin6_port));
  }
}

int SSL_connect(SSL *ssl) {
  pthread_once(&resolved, resolve_real);
  if (!real_ssl_connect) return -1;
  const tls_connecting *conn = connecting;
  if (!conn) return real_ssl_connect(ssl); /* not sofia's SIP transport */
  char peer[INET6_ADDRSTRLEN + 8];
  if (SSL_in_before(ssl)) {
    peer_text(ssl, peer, sizeof peer);
    if (!conn->host[0] || !expect_host(ssl, conn->host)) {
      log_warn("sip", NULL, peer,
               "TLS connection refused: no host name to check its certificate against");
      ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT, "no host name for this connection");
      return -1;
    }
    log_debug("sip", NULL, peer, "TLS to %s:%s: SNI and certificate check for %s", conn->host,
              conn->port, conn->host);
  }
  int rc = real_ssl_connect(ssl);
  if (rc <= 0 && SSL_get_error(ssl, rc) == SSL_ERROR_SSL) {
    long verdict = SSL_get_verify_result(ssl);
    bool mismatch = verdict == X509_V_ERR_HOSTNAME_MISMATCH || verdict == X509_V_ERR_IP_ADDRESS_MISMATCH;
    if (verdict != X509_V_OK) record_failure(conn->host, mismatch, X509_verify_cert_error_string(verdict));
    if (mismatch) {
      peer_text(ssl, peer, sizeof peer);
      log_warn("sip", NULL, peer, "TLS certificate of %s:%s does not name %s (%s)", conn->host,
               conn->port, conn->host, X509_verify_cert_error_string(verdict));
    }
  }
  return rc;
}
