/* agent: the one sofia-sip nua instance of the process, on the control thread's GMainContext.
 *
 * Life cycle:
 *   sip_agent_new       su_init, su_glib root attached to the context, nua_create bound to
 *                       [sip] listen (sip:HOST:PORT = UDP and TCP), plus sips:HOST:tls_port when
 *                       TLS is wanted. A private 0700 temp directory holds what sofia reads
 *                       from files: cafile.pem/agent.pem for TLS, resolv.conf for
 *                       [sip] dns_server (RFC 3263 lookups); removed by sip_agent_free.
 *   sip_agent_shutdown  phase 1: un-REGISTER every live registration and wait for the answers
 *                       (adopted handles of freed registrations included); phase 2: nua_shutdown
 *                       and wait for its final event. The whole is bounded by
 *                       [sip] shutdown_timeout: done() is called then at the latest.
 *   sip_agent_free      nua_destroy + su_root_destroy when nua_shutdown completed; otherwise (a
 *                       request still pending when the deadline hit) the GSource is detached so
 *                       sofia can never call back, and the nua is left to process exit (sofia
 *                       refuses to destroy a nua whose shutdown did not finish).
 *
 * Transport policy (see create_nua): TLS verifies the peer's chain against [sip] tls_ca_file and,
 * per connection, that the certificate names the host that connection is for, which also goes
 * out as SNI (tls_peer.h); a refused certificate ends the handshake, so the request fails with
 * 503 and sofia_log / tls_peer tell us why. TCP/TLS
 * connections get CRLF keepalives from sofia, UDP registrations OPTIONS from us (see below).
 *
 * Event routing: every handle's magic is a sip_handle_owner (see sip_internal.h); handles with no
 * owner are either adopted (un-REGISTERs and ending calls that the agent finishes itself) or new
 * incoming requests: an INVITE goes to call.c (sip_call_incoming), an OPTIONS (any handle's) to
 * on_options, anything else gets 480.
 *
 * nua-wide call settings (every call handle inherits them, incoming ones included): sofia's SDP
 * engine (soa) is off, so our SDP passes verbatim; no automatic 180/200, automatic ACK; UPDATE,
 * REFER and OPTIONS are answered by us (NUTAG_APPL_METHOD), not by sofia (which would accept any
 * REFER with 202 and answer any OPTIONS, a scanner's too, with 200 by itself: see on_options);
 * Supported lists "timer" (unless [sip] session_expires = 0) and "100rel";
 * session timer values come from [sip] session_expires / min_se (call.c says how the timer and
 * PRACK paths are kept away from sofia-sip 1.12.11's assertions).
 */
#include "sip/agent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sofia-resolv/sres_cache.h>
#include <sofia-sip/hostdomain.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/su.h>
#include <sofia-sip/sresolv.h>
#include <sofia-sip/su_glib.h>
#include <sofia-sip/tport_tag.h>

#include "auth/sip_screen.h"
#include "core/log.h"
#include "core/metrics.h"
#include "sip/registration.h"
#include "sip/sip_internal.h"
#include "sip/sofia_log.h"
#include "sip/tls_peer.h"

struct sip_agent {
  const config *cfg;      /* borrowed; outlives the agent */
  GMainContext *context;  /* borrowed */
  su_home_t home[1];
  su_root_t *root;
  GSource *source;        /* our reference to the su_root's GSource */
  nua_t *nua;
  GPtrArray *registrations; /* live registrations (borrowed pointers) */
  GPtrArray *adopted;       /* nua_handle_t* waiting for an un-REGISTER answer */
  GPtrArray *adopted_calls; /* nua_handle_t* of ended calls whose SIP side is finishing */
  sip_incoming_handler incoming;
  void *incoming_data;

  bool shutting_down;
  bool nua_shutdown_sent;
  bool nua_shutdown_done;
  bool done_called;
  void (*done)(void *user_data);
  void *done_data;
  GSource *phase_timer;   /* end of phase 1 */
  GSource *deadline;      /* shutdown_timeout */

  char *private_dir;      /* 0700 temp dir: TLS agent.pem + cafile.pem, resolv.conf; or NULL */
  GSource *keepalive_timer; /* UDP keepalive OPTIONS, every [sip] keepalive_seconds */
  GPtrArray *keepalives;    /* nua_handle_t* of keepalive OPTIONS awaiting their answer */
  bool tls;               /* a TLS transport exists */
  sres_cache_t *dns_cache;  /* sofia's resolver cache (ours, so 503 failover can graylist) */
  char *nat_seen;           /* last received:rport a registrar reported (warned once) */
};

/* ---- small helpers used by the other files ---- */

nua_t *sip_agent_nua(sip_agent *agent) { return agent->nua; }
const config *sip_agent_config(sip_agent *agent) { return agent->cfg; }
GMainContext *sip_agent_context(sip_agent *agent) { return agent->context; }
int sip_agent_port(sip_agent *agent) { return agent->cfg->sip_listen.port; }
bool sip_agent_shutting_down(sip_agent *agent) { return agent->shutting_down; }
bool sip_agent_has_tls(sip_agent *agent) { return agent->tls; }

/* The host of a "host:port", "[v6]:port" or bare host peer text. */
static void peer_host(const char *peer, char *out, size_t len) {
  const char *end = peer[0] == '[' ? strchr(peer, ']') : strchr(peer, ':');
  if (peer[0] == '[' && end) end++;
  else if (end && strchr(end + 1, ':')) end = NULL; /* a bare IPv6 address */
  size_t n = end ? (size_t)(end - peer) : strlen(peer);
  snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), peer);
}

bool sip_agent_tls_failure_reason(sip_agent *agent, char *out, size_t len, const char *peer,
                                  int retry_in) {
  char retry[48] = "", host[256];
  if (!agent->tls) return false;
  sip_tls_failure failure = {0};
  peer_host(peer, host, sizeof host);
  if (sip_tls_peer_active()) {
    /* Per host: another provider's failure is never this one's. */
    if (!sip_tls_peer_take_failure(host, &failure)) return false;
  } else {
    /* sofia's own check, seen only in its log: the last failure, whichever host it was. */
    if (!sip_sofia_tls_failure(failure.why, sizeof failure.why)) return false;
    failure.name_mismatch = strstr(failure.why, "another host") != NULL;
  }
  if (retry_in > 0) snprintf(retry, sizeof retry, " \xe2\x80\x94 retrying in %d s", retry_in);
  if (failure.name_mismatch)
    snprintf(out, len, "TLS certificate of %s does not name %s (%s)%s", peer, host, failure.why,
             retry);
  else
    snprintf(out, len, "TLS certificate of %s not trusted (%s; check [sip] tls_ca_file)%s", peer,
             failure.why, retry);
  return true;
}

const char *sip_agent_outbound_options(sip_agent *agent) {
  /* No OPTIONS probe of our own contact, no Contact rewriting from Via received= (we write
   * Contact ourselves; registration.c learns a NATed address per account, [sip]
   * learn_public_address) and none of sofia's outbound keepalives: over TCP they turn a closed
   * connection into a lost registration ("unregistered"), and they resolve the registrar's name
   * outside our checks. Keepalives are ours (UDP) and tport's CRLF pings (TCP/TLS). */
  (void)agent;
  return "no-natify no-validate no-options-keepalive";
}

const char *sip_transport_param(sip_transport transport) {
  switch (transport) {
  case SIP_TRANSPORT_TCP: return "tcp";
  case SIP_TRANSPORT_TLS: return "tls";
  case SIP_TRANSPORT_UDP: break;
  }
  return "udp";
}

GSource *sip_timer_start(sip_agent *agent, unsigned ms, GSourceFunc fn, void *data) {
  GSource *timer = g_timeout_source_new(ms);
  g_source_set_callback(timer, fn, data, NULL);
  g_source_attach(timer, agent->context);
  return timer;
}

void sip_timer_cancel(GSource **timer) {
  if (!*timer) return;
  g_source_destroy(*timer);
  g_source_unref(*timer);
  *timer = NULL;
}

void sip_agent_track(sip_agent *agent, registration *reg) {
  g_ptr_array_add(agent->registrations, reg);
}

void sip_agent_untrack(sip_agent *agent, registration *reg) {
  g_ptr_array_remove(agent->registrations, reg);
  sip_agent_registration_settled(agent);
}

void sip_agent_adopt(sip_agent *agent, nua_handle_t *nh) {
  nua_handle_bind(nh, NULL);
  g_ptr_array_add(agent->adopted, nh);
}

void sip_agent_adopt_call(sip_agent *agent, nua_handle_t *nh) {
  nua_handle_bind(nh, NULL);
  g_ptr_array_add(agent->adopted_calls, nh);
}

void sip_agent_set_incoming_handler(sip_agent *agent, sip_incoming_handler handler,
                                    void *user_data) {
  agent->incoming = handler;
  agent->incoming_data = user_data;
}

sip_incoming_handler sip_agent_incoming_handler(sip_agent *agent, void **user_data) {
  *user_data = agent->incoming_data;
  return agent->incoming;
}

bool sip_agent_message_source(sip_agent *agent, struct sockaddr_storage *addr, char *text,
                              size_t text_len) {
  msg_t *msg = nua_current_request(agent->nua);
  su_addrinfo_t *ai = msg ? msg_addrinfo(msg) : NULL;
  if (!ai || !ai->ai_addr || (ai->ai_family != AF_INET && ai->ai_family != AF_INET6))
    return false;
  if (addr) {
    memset(addr, 0, sizeof *addr);
    memcpy(addr, ai->ai_addr, ai->ai_addrlen < sizeof *addr ? ai->ai_addrlen : sizeof *addr);
  }
  if (text) {
    char ip[INET6_ADDRSTRLEN] = "?";
    int port;
    if (ai->ai_family == AF_INET) {
      const struct sockaddr_in *v4 = (const struct sockaddr_in *)ai->ai_addr;
      inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
      port = ntohs(v4->sin_port);
      snprintf(text, text_len, "%s:%d", ip, port);
    } else {
      const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ai->ai_addr;
      inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
      port = ntohs(v6->sin6_port);
      snprintf(text, text_len, "[%s]:%d", ip, port);
    }
  }
  return true;
}

/* ---- RFC 3263 failover on 503 ---- */

static bool same_host(const struct sockaddr_storage *a, const sres_record_t *rr) {
  if (rr->sr_record->r_status != SRES_OK) return false;
  if (a->ss_family == AF_INET && rr->sr_record->r_type == sres_type_a)
    return !memcmp(&((const struct sockaddr_in *)a)->sin_addr, &rr->sr_a->a_addr,
                   sizeof rr->sr_a->a_addr);
  if (a->ss_family == AF_INET6 && rr->sr_record->r_type == sres_type_aaaa)
    return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &rr->sr_aaaa->aaaa_addr,
                   sizeof rr->sr_aaaa->aaaa_addr);
  return false;
}

/* Does the SRV target (a name in the cache) resolve to the address of source? */
static bool target_is(sip_agent *agent, const char *target, const struct sockaddr_storage *source) {
  uint16_t type = source->ss_family == AF_INET6 ? sres_type_aaaa : sres_type_a;
  sres_record_t **answers = NULL;
  bool found = false;
  if (sres_cache_get(agent->dns_cache, type, target, &answers) > 0)
    for (size_t i = 0; answers[i] && !found; i++) found = same_host(source, answers[i]);
  if (answers) sres_cache_free_answers(agent->dns_cache, answers);
  return found;
}

static int source_port(const struct sockaddr_storage *source) {
  return ntohs(source->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)source)->sin6_port
                                             : ((const struct sockaddr_in *)source)->sin_port);
}

/* The SRV owner name sofia looked up for a route URI without port, or false (a numeric host or
 * an explicit port: no SRV involved). */
static bool srv_name(const char *route_uri, char *out, size_t len) {
  su_home_t home[1] = {SU_HOME_INIT(home)};
  url_t *url = url_make(home, route_uri);
  bool ok = url && url->url_host && !url->url_port && !host_is_ip_address(url->url_host);
  if (ok) {
    char transport[16] = "udp";
    url_param(url->url_params, "transport", transport, sizeof transport);
    const char *service = url->url_type == url_sips || !strcasecmp(transport, "tls") ? "_sips._tcp"
                          : !strcasecmp(transport, "tcp")                            ? "_sip._tcp"
                                                                                     : "_sip._udp";
    snprintf(out, len, "%s.%s.", service, url->url_host);
  }
  su_home_deinit(home);
  return ok;
}

/* UDP connect(2) to a DNS server: what sofia's resolver does first (and spins on when it fails). */
static bool nameserver_routable(const char *address, int port, char *why, size_t why_len) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
                           .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
  struct addrinfo *ai = NULL;
  char service[8];
  snprintf(service, sizeof service, "%d", port);
  if (getaddrinfo(address, service, &hints, &ai) != 0 || !ai) return true; /* sofia skips it too */
  int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  bool ok = fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0;
  if (!ok) snprintf(why, why_len, "no route to the DNS server %s (%s)", address, strerror(errno));
  if (fd >= 0) close(fd);
  freeaddrinfo(ai);
  return ok;
}

bool sip_agent_dns_routable(sip_agent *agent, const char *uri, char *why, size_t why_len) {
  su_home_t home[1] = {SU_HOME_INIT(home)};
  url_t *url = uri ? url_make(home, uri) : NULL;
  bool name = url && url->url_host && !host_is_ip_address(url->url_host) &&
              url->url_host[0] != '[';
  su_home_deinit(home);
  if (!name) return true;
  const config_listen *dns = &agent->cfg->dns_server;
  if (dns->host) return nameserver_routable(dns->host, dns->port, why, why_len);
  /* The system's servers, as sofia reads them (it re-reads the file when it changes). */
  FILE *f = fopen("/etc/resolv.conf", "r");
  if (!f) return true; /* sofia then asks 127.0.0.1, always routable */
  bool any = false, ok = false;
  char line[256], server[128];
  while (!ok && fgets(line, sizeof line, f)) {
    if (sscanf(line, " nameserver %127s", server) != 1) continue;
    any = true;
    ok = nameserver_routable(server, 53, why, why_len);
  }
  fclose(f);
  return ok || !any;
}

bool sip_agent_srv_failover(sip_agent *agent, const char *route_uri) {
  struct sockaddr_storage source;
  char name[300];
  if (!agent->dns_cache || !srv_name(route_uri, name, sizeof name) ||
      !sip_agent_message_source(agent, &source, NULL, 0))
    return false;
  sres_record_t **answers = NULL;
  bool graylisted = false, other = false;
  if (sres_cache_get(agent->dns_cache, sres_type_srv, name, &answers) > 0) {
    for (size_t i = 0; answers[i]; i++) {
      const sres_srv_record_t *srv = answers[i]->sr_srv;
      if (srv->srv_record->r_status != SRES_OK || srv->srv_record->r_type != sres_type_srv ||
          srv->srv_priority == UINT16_MAX)
        continue;
      if (srv->srv_port == source_port(&source) && target_is(agent, srv->srv_target, &source))
        /* What nta does to a target that timed out: last in line for a while. */
        graylisted |= sres_cache_set_srv_priority(agent->dns_cache, srv->srv_record->r_name,
                                                  srv->srv_target, srv->srv_port, 300,
                                                  UINT16_MAX) > 0;
      else
        other = true;
    }
  }
  if (answers) sres_cache_free_answers(agent->dns_cache, answers);
  if (graylisted && other)
    log_info("sip", NULL, NULL, "503 from an SRV target of %s: trying the next one", name);
  return graylisted && other;
}

/* ---- NAT detection ---- */

bool sip_agent_public_address(sip_agent *agent, const char *account, sip_public_address *out) {
  memset(out, 0, sizeof *out);
  if (!account || agent->cfg->public_ip || !agent->cfg->learn_public_address) return false;
  for (guint i = 0; i < agent->registrations->len; i++) {
    const registration *reg = agent->registrations->pdata[i];
    if (!strcmp(registration_key(reg), account) && registration_public_address(reg, out))
      return true;
  }
  return false;
}

void sip_agent_note_via(sip_agent *agent, const sip_via_t *via, const char *subject) {
  if (!via || !via->v_received || agent->cfg->public_ip) return;
  /* With rport the registrar adds received even when nothing was rewritten (RFC 3581): only an
   * address other than the one our Via names means a NAT on the way. */
  if (via->v_host && !strcasecmp(via->v_host, via->v_received)) return;
  char seen[128];
  snprintf(seen, sizeof seen, "%s:%s", via->v_received, via->v_rport ? via->v_rport : "?");
  if (agent->nat_seen && !strcmp(agent->nat_seen, seen)) return;
  g_free(agent->nat_seen);
  agent->nat_seen = g_strdup(seen);
  log_warn("sip", subject, NULL,
           "the registrar sees us as %s (received/rport): behind NAT? Contact and SDP name our "
           "local address; set [sip] public_ip = %s if that is this server's public address",
           seen, via->v_received);
}

/* ---- UDP keepalive ---- */

/* NAT bindings of UDP registrations die after 30-180 s of silence, and then the provider can
 * no longer reach us. Every keepalive_seconds each registered UDP registration sends an OPTIONS
 * (Max-Forwards: 0, so the first hop answers it itself) along its REGISTER route; any answer,
 * even an error, refreshes the binding. TCP/TLS connections get CRLF pings from sofia instead
 * (TPTAG_KEEPALIVE, see create_nua). sofia's own outbound OPTIONS keepalive does not start in
 * 1.12.11 with the outbound options we need (no-natify), and its stream variant turns a closed
 * TCP connection into a lost registration (see sip_agent_outbound_options), hence this. */
static gboolean on_keepalive_timer(gpointer data) {
  sip_agent *agent = data;
  for (guint i = 0; i < agent->registrations->len; i++) {
    registration *reg = agent->registrations->pdata[i];
    const char *registrar, *proxy, *aor;
    sip_transport transport;
    registration_route(reg, &registrar, &proxy, &aor, &transport);
    if (registration_get_state(reg) != REGISTRATION_REGISTERED ||
        transport != SIP_TRANSPORT_UDP || g_str_has_prefix(registrar, "sips:"))
      continue;
    nua_handle_t *nh = nua_handle(agent->nua, NULL, SIPTAG_TO_STR(aor), SIPTAG_FROM_STR(aor),
                                  TAG_END());
    if (!nh) continue;
    g_ptr_array_add(agent->keepalives, nh);
    nua_options(nh, NUTAG_URL(URL_STRING_MAKE(registrar)),
                TAG_IF(proxy, NUTAG_PROXY(URL_STRING_MAKE(proxy))),
                SIPTAG_MAX_FORWARDS_STR("0"), TAG_END());
    log_debug("sip", registration_key(reg), NULL, "keepalive OPTIONS to %s", registrar);
  }
  return G_SOURCE_CONTINUE;
}

static void on_keepalive_event(sip_agent *agent, nua_event_t event, int status,
                               nua_handle_t *nh) {
  if (event != nua_r_options || status < 200) return;
  if (g_ptr_array_remove(agent->keepalives, nh)) nua_handle_destroy(nh);
}

static void destroy_keepalives(sip_agent *agent) {
  sip_timer_cancel(&agent->keepalive_timer);
  for (guint i = 0; i < agent->keepalives->len; i++)
    nua_handle_destroy(agent->keepalives->pdata[i]);
  g_ptr_array_set_size(agent->keepalives, 0);
}

static void destroy_adopted(sip_agent *agent) {
  destroy_keepalives(agent);
  for (guint i = 0; i < agent->adopted->len; i++) nua_handle_destroy(agent->adopted->pdata[i]);
  g_ptr_array_set_size(agent->adopted, 0);
  for (guint i = 0; i < agent->adopted_calls->len; i++)
    nua_handle_destroy(agent->adopted_calls->pdata[i]);
  g_ptr_array_set_size(agent->adopted_calls, 0);
}

/* ---- shutdown ---- */

static void finish_shutdown(sip_agent *agent) {
  if (agent->done_called) return;
  agent->done_called = true;
  sip_timer_cancel(&agent->phase_timer);
  sip_timer_cancel(&agent->deadline);
  log_info("sip", NULL, NULL, "shutdown %s", agent->nua_shutdown_done ? "complete" : "timed out");
  if (agent->done) agent->done(agent->done_data);
}

static void start_nua_shutdown(sip_agent *agent) {
  if (agent->nua_shutdown_sent) return;
  agent->nua_shutdown_sent = true;
  sip_timer_cancel(&agent->phase_timer);
  nua_shutdown(agent->nua);
}

static bool registrations_pending(sip_agent *agent) {
  if (agent->adopted->len > 0 || agent->adopted_calls->len > 0) return true;
  for (guint i = 0; i < agent->registrations->len; i++) {
    registration_state state = registration_get_state(agent->registrations->pdata[i]);
    if (state == REGISTRATION_REGISTERED || state == REGISTRATION_REGISTERING) return true;
  }
  return false;
}

void sip_agent_registration_settled(sip_agent *agent) {
  if (agent->shutting_down && !agent->nua_shutdown_sent && !registrations_pending(agent))
    start_nua_shutdown(agent);
}

static gboolean on_phase_timer(gpointer data) {
  sip_agent *agent = data;
  g_source_unref(agent->phase_timer);
  agent->phase_timer = NULL;
  log_warn("sip", NULL, NULL, "shutdown: un-REGISTER answers still missing, shutting down anyway");
  /* Give up on them: a transaction that got no answer at all (an INVITE to a silent far end
   * cannot even be CANCELled) would keep nua_shutdown busy until its 32 s timeout, past the
   * deadline, and sofia could then never be destroyed (its memory leaks at exit). */
  destroy_adopted(agent);
  start_nua_shutdown(agent);
  return G_SOURCE_REMOVE;
}

static gboolean on_deadline(gpointer data) {
  sip_agent *agent = data;
  g_source_unref(agent->deadline);
  agent->deadline = NULL;
  finish_shutdown(agent);
  return G_SOURCE_REMOVE;
}

void sip_agent_shutdown(sip_agent *agent, void (*done)(void *user_data), void *user_data) {
  if (agent->shutting_down) return;
  agent->shutting_down = true;
  sip_timer_cancel(&agent->keepalive_timer);
  agent->done = done;
  agent->done_data = user_data;
  unsigned total_ms = (unsigned)(agent->cfg->shutdown_timeout > 0 ? agent->cfg->shutdown_timeout
                                                                  : 1) * 1000u;
  /* Un-REGISTERs get two thirds of the time, nua_shutdown the rest. */
  agent->deadline = sip_timer_start(agent, total_ms, on_deadline, agent);
  agent->phase_timer = sip_timer_start(agent, total_ms * 2 / 3, on_phase_timer, agent);
  log_info("sip", NULL, NULL, "shutdown: un-REGISTERing %u registration(s)",
           agent->registrations->len + agent->adopted->len);
  /* registration_stop may report synchronously and untrack: iterate over a copy. */
  GPtrArray *live = g_ptr_array_copy(agent->registrations, NULL, NULL);
  for (guint i = 0; i < live->len; i++) registration_stop(live->pdata[i]);
  g_ptr_array_unref(live);
  sip_agent_registration_settled(agent);
}

/* ---- the nua callback ---- */

static void on_adopted_event(sip_agent *agent, nua_event_t event, int status, nua_handle_t *nh) {
  if (event != nua_r_unregister || status < 200) return;
  if (g_ptr_array_remove(agent->adopted, nh)) nua_handle_destroy(nh);
  sip_agent_registration_settled(agent);
}

/* An ended call's handle: a 2xx that crossed our CANCEL gets its ACK (sofia) and a BYE (us);
 * the handle goes when sofia says the call state is terminated. */
static void on_adopted_call_event(sip_agent *agent, nua_event_t event, int status,
                                  nua_handle_t *nh, const tagi_t *tags) {
  if (event == nua_r_invite && status >= 200 && status < 300) {
    nua_bye(nh, TAG_END());
    return;
  }
  if (event == nua_i_invite || event == nua_i_update || event == nua_i_refer) {
    nua_respond(nh, SIP_481_NO_TRANSACTION, NUTAG_WITH_THIS(agent->nua), TAG_END());
    return;
  }
  int state = -1;
  if (event != nua_i_state || tl_gets(tags, NUTAG_CALLSTATE_REF(state), TAG_END()) < 1 ||
      state != nua_callstate_terminated)
    return;
  if (g_ptr_array_remove(agent->adopted_calls, nh)) nua_handle_destroy(nh);
  sip_agent_registration_settled(agent);
}

/* Messages received by a transport carry the sender's address family; answers sofia made up
 * (408 timeout, 503 transport error) have AF_UNSPEC. */
static bool came_from_network(nua_t *nua) {
  msg_t *msg = nua_current_request(nua);
  su_addrinfo_t *ai = msg ? msg_addrinfo(msg) : NULL;
  return ai && (ai->ai_family == AF_INET || ai->ai_family == AF_INET6);
}

/* SIP scanners announce themselves in User-Agent (auth/sip_screen.h has the list). */
static bool is_scanner(const sip_t *sip) {
  return sip->sip_user_agent && sip_screen_is_scanner(sip->sip_user_agent->g_string);
}

/* OPTIONS is ours (NUTAG_APPL_METHOD): sofia would answer every one 200 by itself, scanners
 * included (SIPVicious svmap probes with OPTIONS), so they would learn we are here before any
 * screening. Scanners get the same 403 as their INVITEs, and so does an OPTIONS for a trunk from
 * outside its trusted_sources; anyone else (a registrar's keepalive, a PBX's qualify, an
 * in-dialog ping) 200, to which nua adds Allow and Supported. */
static void on_options(sip_agent *agent, nua_handle_t *nh, bool owned, const sip_t *sip) {
  if (sip && is_scanner(sip)) {
    log_debug("sip", NULL, NULL, "403 to scanner OPTIONS (User-Agent %.64s)",
              sip->sip_user_agent->g_string);
    metrics_inc(METRIC_SIP_SCANNER_REFUSED);
    nua_respond(nh, SIP_403_FORBIDDEN, NUTAG_WITH_THIS(agent->nua), TAG_END());
  } else if (!owned && sip && !sip_call_options_trusted(agent, sip)) {
    nua_respond(nh, SIP_403_FORBIDDEN, NUTAG_WITH_THIS(agent->nua), TAG_END());
  } else {
    nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(agent->nua),
                SIPTAG_ACCEPT_STR("application/sdp"), TAG_END());
  }
  if (!owned) nua_handle_destroy(nh);
}

static void on_nua_event(nua_event_t event, int status, char const *phrase, nua_t *nua,
                         nua_magic_t *magic, nua_handle_t *nh, nua_hmagic_t *hmagic,
                         sip_t const *sip, tagi_t tags[]) {
  sip_agent *agent = magic;
  if (event == nua_i_options && nh) {
    on_options(agent, nh, hmagic || g_ptr_array_find(agent->adopted_calls, nh, NULL) ||
                              g_ptr_array_find(agent->adopted, nh, NULL), sip);
    return;
  }
  if (event == nua_r_shutdown) {
    log_debug("sip", NULL, NULL, "nua shutdown %d %s", status, phrase);
    if (status >= 200) {
      agent->nua_shutdown_done = true;
      finish_shutdown(agent);
    }
    return;
  }
  if (hmagic) {
    sip_handle_owner *owner = hmagic;
    owner->on_event(owner, event, status, phrase, sip, came_from_network(nua), tags);
    return;
  }
  if (!nh) return;
  if (g_ptr_array_find(agent->keepalives, nh, NULL)) {
    on_keepalive_event(agent, event, status, nh);
  } else if (g_ptr_array_find(agent->adopted_calls, nh, NULL)) {
    on_adopted_call_event(agent, event, status, nh, tags);
  } else if (g_ptr_array_find(agent->adopted, nh, NULL)) {
    on_adopted_event(agent, event, status, nh);
  } else if (sip && sip->sip_request && is_scanner(sip)) {
    /* Before any account lookup: a scanner learns nothing, and costs us one response. */
    log_debug("sip", NULL, NULL, "403 to scanner (User-Agent %.64s)",
              sip->sip_user_agent->g_string);
    metrics_inc(METRIC_SIP_SCANNER_REFUSED);
    nua_respond(nh, SIP_403_FORBIDDEN, TAG_END());
    nua_handle_destroy(nh);
  } else if (event == nua_i_invite && sip) {
    sip_call_incoming(agent, nh, sip);
  } else if (event == nua_i_refer) {
    /* A REFER outside any call of ours (see call.c for the in-call one). */
    nua_respond(nh, SIP_603_DECLINE, NUTAG_WITH_THIS(agent->nua), TAG_END());
    nua_handle_destroy(nh);
  } else if (event == nua_i_options || event == nua_i_message || event == nua_i_subscribe ||
             event == nua_i_notify || event == nua_i_invite) {
    /* Nobody owns this incoming request: refuse politely. */
    nua_respond(nh, SIP_480_TEMPORARILY_UNAVAILABLE, TAG_END());
    nua_handle_destroy(nh);
  }
}

/* ---- creation ---- */

/* sofia reports a failed bind only as NULL; probing the address ourselves gives a real errno. */
static int probe_bind(const char *host, int port, int type) {
  struct sockaddr_storage ss;
  socklen_t len;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET, v4->sin_port = htons((uint16_t)port), len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6, v6->sin6_port = htons((uint16_t)port), len = sizeof *v6;
  } else {
    return EINVAL;
  }
  int fd = socket(ss.ss_family, type, 0);
  if (fd < 0) return errno;
  int one = 1;
  if (type == SOCK_STREAM) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int error = bind(fd, (struct sockaddr *)&ss, len) == 0 ? 0 : errno;
  close(fd);
  return error;
}

static bool check_listen(const config_listen *listen, char *err, size_t err_len) {
  static const struct { int type; const char *name; } kinds[] = {{SOCK_DGRAM, "udp"},
                                                                  {SOCK_STREAM, "tcp"}};
  for (size_t i = 0; i < 2; i++) {
    int error = probe_bind(listen->host, listen->port, kinds[i].type);
    if (error) {
      snprintf(err, err_len, "sip listen %s:%d (%s): %s", listen->host, listen->port,
               kinds[i].name, strerror(error));
      return false;
    }
  }
  return true;
}

/* ---- the private directory: TLS material and resolver configuration ---- */

static bool write_private_file(const char *path, const char *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = write(fd, data, len) == (ssize_t)len;
  return close(fd) == 0 && ok;
}

/* sofia's TLS reads a directory, not files: cafile.pem holds what peers must chain to (our
 * [sip] tls_ca_file), agent.pem our key and certificate (the [server] ones; for the TLS
 * listener). Without a readable CA file there is no TLS at all: we never connect unverified. */
static bool tls_wanted(const config *cfg) {
  if (cfg->tls_port > 0) return true;
  for (size_t i = 0; i < cfg->account_count; i++) {
    const config_account *account = &cfg->accounts[i];
    if (account->transport == SIP_TRANSPORT_TLS ||
        (account->uri && g_str_has_prefix(account->uri, "sips:")))
      return true;
  }
  return false;
}

static bool prepare_tls(sip_agent *agent) {
  const config *cfg = agent->cfg;
  /* Only when asked for: a TLS listener changes which Contact sofia picks by itself and takes
   * a port. */
  if (!tls_wanted(cfg)) return false;
  char *ca = NULL, *cert = NULL, *key = NULL;
  gsize ca_len = 0, cert_len = 0, key_len = 0;
  if (!cfg->tls_ca_file) return false;
  if (!g_file_get_contents(cfg->tls_ca_file, &ca, &ca_len, NULL) || ca_len == 0) {
    log_warn("sip", NULL, NULL, "tls off: CA file %s is missing or empty ([sip] tls_ca_file)",
             cfg->tls_ca_file);
    g_free(ca);
    return false;
  }
  char *path = g_build_filename(agent->private_dir, "cafile.pem", NULL);
  bool ok = write_private_file(path, ca, ca_len);
  g_free(path);
  if (ok && cfg->cert_file && cfg->key_file &&
      g_file_get_contents(cfg->cert_file, &cert, &cert_len, NULL) && cert_len > 0 &&
      g_file_get_contents(cfg->key_file, &key, &key_len, NULL) && key_len > 0) {
    GString *pem = g_string_new_len(key, (gssize)key_len);
    if (pem->str[pem->len - 1] != '\n') g_string_append_c(pem, '\n');
    g_string_append_len(pem, cert, (gssize)cert_len);
    path = g_build_filename(agent->private_dir, "agent.pem", NULL);
    ok = write_private_file(path, pem->str, pem->len);
    g_free(path);
    explicit_bzero(pem->str, pem->len);
    g_string_free(pem, TRUE);
  }
  if (key) explicit_bzero(key, key_len);
  g_free(ca), g_free(cert), g_free(key);
  return ok;
}

/* sofia's resolver (sres) reads a resolv.conf-style file; "port" is its own extension. */
static bool prepare_resolver(sip_agent *agent) {
  const config_listen *dns = &agent->cfg->dns_server;
  if (!dns->host) return false;
  char *text = g_strdup_printf("nameserver %s\nport %d\noptions timeout:1 attempts:2\n",
                               dns->host, dns->port);
  char *path = g_build_filename(agent->private_dir, "resolv.conf", NULL);
  bool ok = write_private_file(path, text, strlen(text));
  g_free(path);
  g_free(text);
  return ok;
}

static void remove_private_dir(sip_agent *agent) {
  if (!agent->private_dir) return;
  static const char *const names[] = {"agent.pem", "cafile.pem", "resolv.conf", "tls_seed.dat"};
  for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
    char *path = g_build_filename(agent->private_dir, names[i], NULL);
    unlink(path);
    g_free(path);
  }
  rmdir(agent->private_dir);
  g_free(agent->private_dir);
  agent->private_dir = NULL;
}

static bool create_root(sip_agent *agent, char *err, size_t err_len) {
  agent->root = su_glib_root_create(agent);
  if (!agent->root) {
    snprintf(err, err_len, "sip: cannot create the sofia-sip event root");
    return false;
  }
  su_root_threading(agent->root, 0);
  agent->source = su_glib_root_gsource(agent->root);
  g_source_ref(agent->source);
  g_source_attach(agent->source, agent->context);
  return true;
}

/* What sofia checks on a server's certificate. sofia-sip 1.12.11 checks the chain, and with
 * TPTLS_VERIFY_SUBJECTS_OUT whether the certificate lists the connection's canonical host among
 * its subjects (CN included even next to a subjectAltName, no wildcards, no SNI). When tls_peer
 * is in effect OpenSSL checks the name itself, per connection and by RFC 6125's rules, and the
 * handshake fails on a mismatch: sofia's subject check is then left out (it would refuse
 * wildcard certificates). Without tls_peer (an executable linked without sip_tls_link_args),
 * sofia's check stays on. */
static int tls_verify_policy(void) {
  bool ours = sip_tls_peer_active();
  if (ours)
    log_debug("sip", NULL, NULL, "tls: SNI and certificate host check per connection");
  else
    log_warn("sip", NULL, NULL, "tls: no SNI, sofia-sip's own certificate name check "
                                "(this executable does not interpose sofia's TLS, tls_peer.h)");
  return ours ? TPTLS_VERIFY_OUT : TPTLS_VERIFY_SUBJECTS_OUT;
}

static char *listen_url(sip_agent *agent, const char *scheme, int port) {
  const char *host = agent->cfg->sip_listen.host;
  char portbuf[16];
  snprintf(portbuf, sizeof portbuf, "%d", port);
  return su_sprintf(agent->home, strchr(host, ':') ? "%s:[%s]:%s" : "%s:%s:%s", scheme, host,
                    port > 0 ? portbuf : "*");
}

static bool create_nua(sip_agent *agent, char *err, size_t err_len) {
  const config *cfg = agent->cfg;
  const config_listen *listen = &cfg->sip_listen;
  char *url = listen_url(agent, "sip", listen->port);
  char *sips_url = agent->tls ? listen_url(agent, "sips", sip_tls_port(cfg)) : NULL;
  char *resolv_conf = prepare_resolver(agent)
                          ? g_build_filename(agent->private_dir, "resolv.conf", NULL)
                          : NULL;
  unsigned keepalive_ms = (unsigned)cfg->keepalive_seconds * 1000u;
  int tls_policy = sips_url ? tls_verify_policy() : TPTLS_VERIFY_NONE;
  agent->nua = nua_create(agent->root, on_nua_event, agent,
                          NUTAG_URL(url),
                          TAG_IF(sips_url, NUTAG_SIPS_URL(sips_url)),
                          TAG_IF(sips_url, NUTAG_CERTIFICATE_DIR(agent->private_dir)),
                          /* Verify what we connect to; peers connecting to us need no
                           * certificate (providers rarely have client certificates). */
                          TAG_IF(sips_url, TPTAG_TLS_VERIFY_POLICY(tls_policy)),
                          TAG_IF(sips_url, TPTAG_TLS_VERIFY_DATE(1)),
                          TPTAG_SDWN_ERROR(1),
                          TAG_IF(resolv_conf, SRESTAG_RESOLV_CONF(resolv_conf)),
                          SRESTAG_CACHE(agent->dns_cache),
                          TAG_IF(cfg->user_agent, SIPTAG_USER_AGENT_STR(cfg->user_agent)),
                          NUTAG_OUTBOUND(sip_agent_outbound_options(agent)),
                          /* TCP/TLS: CRLF pings on every connection (RFC 5626 style), which
                           * also keeps it open for reuse. UDP: our OPTIONS (see the keepalive
                           * section above); sofia's outbound keepalive stays off. */
                          NUTAG_KEEPALIVE(0),
                          TPTAG_KEEPALIVE(keepalive_ms),
                          /* Calls: see the top of this file. */
                          NUTAG_MEDIA_ENABLE(0),
                          NUTAG_AUTOALERT(0),
                          NUTAG_AUTOANSWER(0),
                          NUTAG_AUTOACK(1),
                          NUTAG_ENABLEINVITE(1),
                          NUTAG_EARLY_MEDIA(0),
                          NUTAG_APPL_METHOD("UPDATE, REFER, OPTIONS"),
                          NUTAG_UPDATE_REFRESH(1),
                          /* RFC 4028 and 3262 (H3): see call.c ("session timer", "100rel"). */
                          NUTAG_SESSION_TIMER((unsigned)cfg->session_expires),
                          NUTAG_MIN_SE((unsigned)cfg->min_se),
                          NUTAG_SESSION_REFRESHER(nua_no_refresher),
                          SIPTAG_SUPPORTED_STR(cfg->session_expires > 0 ? "timer, 100rel"
                                                                         : "100rel"),
                          TPTAG_LOG(0),
                          TAG_END());
  g_free(resolv_conf);
  if (!agent->nua) {
    snprintf(err, err_len, "sip listen %s:%d: sofia-sip could not bind (udp+tcp%s)",
             listen->host, listen->port, sips_url ? "+tls" : "");
    return false;
  }
  return true;
}

sip_agent *sip_agent_new(const config *cfg, GMainContext *context, char *err, size_t err_len) {
  if (!check_listen(&cfg->sip_listen, err, err_len)) return NULL;
  sip_sofia_log_install();
  su_init();
  sip_agent *agent = g_new0(sip_agent, 1);
  agent->cfg = cfg;
  agent->context = context;
  su_home_init(agent->home);
  agent->registrations = g_ptr_array_new();
  agent->adopted = g_ptr_array_new();
  agent->adopted_calls = g_ptr_array_new();
  agent->keepalives = g_ptr_array_new();
  /* Only when sofia must read files (TLS material, resolver configuration). */
  if (tls_wanted(cfg) || cfg->dns_server.host)
    agent->private_dir = g_dir_make_tmp("tabphone-sip-XXXXXX", NULL);
  if ((tls_wanted(cfg) || cfg->dns_server.host) && !agent->private_dir) {
    snprintf(err, err_len, "sip: cannot create a private temporary directory: %s",
             g_strerror(errno));
    agent->nua_shutdown_done = true;
    sip_agent_free(agent);
    return NULL;
  }
  agent->tls = prepare_tls(agent);
  agent->dns_cache = sres_cache_new(0);
  if (!create_root(agent, err, err_len) || !create_nua(agent, err, err_len)) {
    agent->nua_shutdown_done = true; /* nothing to shut down */
    sip_agent_free(agent);
    return NULL;
  }
  if (agent->tls)
    log_info("sip", NULL, NULL, "listening on %s:%d (udp, tcp) and port %d (tls)",
             cfg->sip_listen.host, cfg->sip_listen.port, sip_tls_port(cfg));
  else
    log_info("sip", NULL, NULL, "listening on %s:%d (udp, tcp)", cfg->sip_listen.host,
             cfg->sip_listen.port);
  if (cfg->keepalive_seconds > 0)
    agent->keepalive_timer =
        sip_timer_start(agent, (unsigned)cfg->keepalive_seconds * 1000u, on_keepalive_timer, agent);
  if (cfg->dns_server.host)
    log_info("sip", NULL, NULL, "RFC 3263 lookups via %s port %d", cfg->dns_server.host,
             cfg->dns_server.port);
  return agent;
}

void sip_agent_free(sip_agent *agent) {
  if (!agent) return;
  sip_timer_cancel(&agent->keepalive_timer);
  sip_timer_cancel(&agent->phase_timer);
  sip_timer_cancel(&agent->deadline);
  bool clean = !agent->nua || agent->nua_shutdown_done;
  for (guint i = 0; i < agent->registrations->len; i++)
    registration_detach(agent->registrations->pdata[i]);
  if (clean) {
    if (agent->nua) {
      destroy_adopted(agent);
      nua_destroy(agent->nua);
    }
    if (agent->root) su_root_destroy(agent->root);
  } else {
    log_warn("sip", NULL, NULL,
             "nua_shutdown did not finish in time: detaching sofia-sip without destroying it");
  }
  if (agent->source) {
    /* Either su_root_destroy already removed it, or sofia must never run again. */
    g_source_destroy(agent->source);
    g_source_unref(agent->source);
  }
  g_ptr_array_unref(agent->registrations);
  g_ptr_array_unref(agent->adopted);
  g_ptr_array_unref(agent->adopted_calls);
  g_ptr_array_unref(agent->keepalives);
  g_free(agent->nat_seen);
  remove_private_dir(agent);
  if (clean && agent->dns_cache) sres_cache_unref(agent->dns_cache);
  if (clean) {
    su_home_deinit(agent->home);
    su_deinit();
  }
  g_free(agent);
}
