/* registration: one AOR kept registered; see registration.h for the behaviour promised.
 *
 * One nua handle per registration. What sofia does by itself and what we do:
 *   - 401/407 with MD5 challenges only: sofia stores the challenge; we answer with
 *     nua_authenticate() once per attempt (credentials as HA1, see digest.h). Later challenges
 *     on the same handle (new nonces on refresh) sofia answers from its cache. A 401/407
 *     reaching us after we authenticated, or a 403, means wrong credentials: FAILED, retried
 *     after register_retry_max.
 *   - 401/407 with a SHA-256 challenge (alone or next to MD5; RFC 8760 prefers it): sofia
 *     cannot answer it and reports it as final; we resend the REGISTER ourselves (nua_register
 *     on the same handle with the challenged Call-ID, next CSeq) with the Authorization /
 *     Proxy-Authorization header of digest.c. Such a header then sits in sofia's copy of the
 *     request, so sofia's own refreshes and the un-REGISTER repeat it: the registrar accepts
 *     the nonce while it is fresh, else challenges again and we answer again (any 2xx makes a
 *     new challenge answerable). A second challenge right after our answer, without
 *     stale=true, means wrong credentials.
 *   - 423 with Min-Expires, and 5xx with Retry-After < 32 s: sofia restarts the request itself
 *     and tells us with a preliminary (status 100) event carrying the answer; we report those
 *     as REGISTERING (423) or FAILED with retry_in = Retry-After (5xx).
 *   - Refresh: our own GLib timer at half the granted lifetime (never later than expiry - 5 s)
 *     calls nua_register() again on the same handle (same Call-ID, next CSeq). sofia's own
 *     refresh timer still runs (it picks a random time in [1/4, 3/4] of the lifetime); whichever
 *     fires first refreshes, nua queues a second REGISTER behind one in flight, and every 2xx
 *     re-arms our timer. So the refresh is never later than our deadline.
 *   - Other failures: FAILED with retry_in from exponential backoff
 *     (register_retry_min doubling up to register_retry_max; Retry-After >= 32 s respected).
 *
 * Ownership: the registration owns its strings (the password is wiped on free), its timer and
 * its nua handle; registration_free hands a still-registered handle to the agent (adopt).
 */
#include "sip/registration.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/url.h>

#include "core/log.h"
#include "core/metrics.h"
#include "sip/digest.h"
#include "sip/reason.h"
#include "sip/sip_internal.h"

struct registration {
  sip_handle_owner owner; /* first: it is the nua handle magic */
  sip_agent *agent;       /* borrowed */
  registration_listener listener;
  void *user_data;

  char *key, *aor, *username, *password, *display_name;
  char *registrar;        /* sip:host:port;transport=x */
  char *proxy;            /* or NULL */
  char *peer;             /* host:port named in reasons and logs */
  char *subject;          /* "reg <key>" for log lines */
  char *contact_user;
  int requested_expires;
  sip_transport transport;

  nua_handle_t *nh;
  GSource *timer;          /* refresh or retry */
  registration_state state;
  int last_code;
  char *last_reason;
  int expires;             /* granted */
  int failures;            /* consecutive, for the backoff */
  gint64 last_registered;  /* monotonic us of the last "registered" event */
  bool in_flight;          /* a REGISTER we sent has no final answer yet */
  bool auth_sent;          /* credentials given for the REGISTER in flight */
  int own_answers;         /* SHA-256 answers of ours since the last 2xx (see top comment) */
  bool unregistering;      /* un-REGISTER sent, answer pending */

  sip_public_address learned; /* what the registrar saw us as (host "" = nothing adopted) */
  char *stale_contact;     /* the Contact before the last change: removed by the next REGISTER */
  bool stale_sent;         /* the REGISTER in flight removes stale_contact */
  bool contact_pending;    /* a damped change not yet REGISTERed (see LEARN_DAMP_S) */
  char *local_contact;     /* sofia's own Contact, noted when an address was first learned */
  gint64 learned_at;       /* monotonic us of the last change REGISTERed at once (damping) */
};

static void on_handle_event(sip_handle_owner *owner, nua_event_t event, int status,
                            const char *phrase, const sip_t *sip, bool remote,
                            const tagi_t *tags);

const char *registration_state_name(registration_state state) {
  switch (state) {
  case REGISTRATION_UNREGISTERED: return "unregistered";
  case REGISTRATION_REGISTERING: return "registering";
  case REGISTRATION_REGISTERED: return "registered";
  case REGISTRATION_FAILED: return "failed";
  }
  return "?";
}

/* ---- validation and construction ---- */

static char *format_peer(const char *host, const char *port) {
  return strchr(host, ':') && host[0] != '[' ? g_strdup_printf("[%s]:%s", host, port)
                                             : g_strdup_printf("%s:%s", host, port);
}

static bool fill_targets(registration *reg, const registration_params *p, char *err,
                         size_t err_len) {
  char host[256], port[16], user[128];
  if (!p->uri || !sip_uri_parse(p->uri, true, host, sizeof host, port, sizeof port, user,
                                sizeof user)) {
    snprintf(err, err_len, "register %s: '%s' is not a SIP address like sip:alice@example.com",
             p->key, p->uri ? p->uri : "");
    return false;
  }
  reg->contact_user = g_strdup(user);
  if (!p->username) reg->username = g_strdup(user);
  if (p->registrar) {
    reg->registrar = sip_route_uri(p->registrar, p->transport);
  } else {
    /* The domain as written: without a port sofia resolves it with NAPTR/SRV (RFC 3263). */
    char *target = sip_uri_domain_target(p->uri);
    reg->registrar = g_str_has_prefix(p->uri, "sips:") ? g_strconcat("sips:", target, NULL)
                                                      : sip_route_uri(target, p->transport);
    g_free(target);
  }
  if (!sip_uri_parse(reg->registrar, false, host, sizeof host, port, sizeof port, NULL, 0)) {
    snprintf(err, err_len, "register %s: registrar '%s' is not a SIP URI or host:port", p->key,
             p->registrar);
    return false;
  }
  reg->peer = format_peer(host, port);
  if (p->proxy) {
    reg->proxy = sip_route_uri(p->proxy, p->transport);
    if (!sip_uri_parse(reg->proxy, false, host, sizeof host, port, sizeof port, NULL, 0)) {
      snprintf(err, err_len, "register %s: proxy '%s' is not a SIP URI or host:port", p->key,
               p->proxy);
      return false;
    }
    g_free(reg->peer);
    reg->peer = format_peer(host, port);
  }
  return true;
}

static void set_handle_params(registration *reg) {
  const config *cfg = sip_agent_config(reg->agent);
  char *from = reg->display_name
                   ? g_strdup_printf("\"%s\" <%s>", reg->display_name, reg->aor)
                   : g_strdup_printf("<%s>", reg->aor);
  reg->nh = nua_handle(sip_agent_nua(reg->agent), &reg->owner, SIPTAG_TO_STR(reg->aor),
                       SIPTAG_FROM_STR(from), TAG_END());
  g_free(from);
  nua_set_hparams(reg->nh, NUTAG_M_USERNAME(reg->contact_user),
                  TAG_IF(reg->display_name, NUTAG_M_DISPLAY(reg->display_name)),
                  TAG_IF(reg->proxy, NUTAG_PROXY(URL_STRING_MAKE(reg->proxy))),
                  NUTAG_OUTBOUND(sip_agent_outbound_options(reg->agent)),
                  TAG_IF(cfg->user_agent, SIPTAG_USER_AGENT_STR(cfg->user_agent)), TAG_END());
}

registration *registration_new(sip_agent *agent, const registration_params *params,
                               registration_listener listener, void *user_data, char *err,
                               size_t err_len) {
  if (!params->key || !*params->key) {
    snprintf(err, err_len, "register: a registration needs a key");
    return NULL;
  }
  if (params->username && strchr(params->username, ':')) {
    snprintf(err, err_len, "register %s: the auth username must not contain ':'", params->key);
    return NULL;
  }
  registration *reg = g_new0(registration, 1);
  reg->owner.on_event = on_handle_event;
  reg->agent = agent;
  reg->listener = listener;
  reg->user_data = user_data;
  reg->key = g_strdup(params->key);
  reg->subject = g_strdup_printf("reg %s", params->key);
  reg->aor = g_strdup(params->uri);
  reg->username = g_strdup(params->username);
  reg->password = g_strdup(params->password);
  reg->display_name = g_strdup(params->display_name);
  reg->transport = params->transport;
  reg->requested_expires = params->expires > 0 ? params->expires : 600;
  if (!fill_targets(reg, params, err, err_len)) {
    registration_free(reg);
    return NULL;
  }
  set_handle_params(reg);
  sip_agent_track(agent, reg);
  return reg;
}

/* ---- reporting ---- */

static void report(registration *reg, registration_state state, int code, const char *reason,
                   int expires, int retry_in) {
  bool changed = state != reg->state;
  if (state == REGISTRATION_FAILED) metrics_inc(METRIC_REGISTRATION_FAILURES);
  reg->state = state;
  reg->last_code = code;
  g_free(reg->last_reason);
  reg->last_reason = g_strdup(reason);
  reg->expires = state == REGISTRATION_REGISTERED ? expires : 0;
  if (changed)
    log_info("sip", reg->subject, reg->peer, "%s: %s", registration_state_name(state), reason);
  else
    log_debug("sip", reg->subject, reg->peer, "%s: %s", registration_state_name(state), reason);
  if (reg->listener) {
    registration_event event = {reg->key, state, code, reason, reg->expires, retry_in};
    reg->listener(reg->user_data, &event);
  }
  if (reg->agent) sip_agent_registration_settled(reg->agent);
}

/* ---- sending ---- */

/* Our Contact now (g_free), or NULL for sofia's own: see sip_contact_header. Once an address
 * was learned, sofia's own is never used again (sofia would repeat the last explicit Contact):
 * without a learned address, the local one noted then (local_contact). */
static char *current_contact(registration *reg) {
  sip_transport transport = reg->transport;
  if (g_str_has_prefix(reg->registrar, "sips:")) transport = SIP_TRANSPORT_TLS;
  char *contact = sip_contact_header(sip_agent_config(reg->agent), reg->contact_user, transport,
                                     &reg->learned);
  return contact ? contact : g_strdup(reg->local_contact);
}

/* The Contact header of a REGISTER: current_contact, and after a change of the learned address
 * also the previous Contact with expires=0, so that the registrar drops that binding now (RFC
 * 3261 10.2.2, as sofia's own "natify" does) instead of forking calls to an address nobody
 * answers on until it expires. sofia's own refresh may repeat that removal once more, which a
 * registrar ignores. */
static char *public_contact(registration *reg) {
  char *contact = current_contact(reg);
  if (contact && reg->stale_contact && strcmp(contact, reg->stale_contact) != 0) {
    char *both = g_strdup_printf("%s, %s;expires=0", contact, reg->stale_contact);
    g_free(contact);
    contact = both;
    reg->stale_sent = true;
  }
  return contact;
}

static void fail(registration *reg, int code, const char *reason, int retry_in);
static int next_backoff(registration *reg);

/* The registrar's name cannot be looked up now (sip_agent_dns_routable): a failure like any
 * other, retried with backoff, without handing the REGISTER to sofia. */
static bool dns_unusable(registration *reg) {
  char why[160];
  if (sip_agent_dns_routable(reg->agent, reg->proxy ? reg->proxy : reg->registrar, why, sizeof why))
    return false;
  reg->failures++;
  int retry_in = next_backoff(reg);
  char reason[320];
  snprintf(reason, sizeof reason, "cannot resolve %s: DNS lookup impossible, %s — retrying in %d s",
           reg->peer, why, retry_in);
  fail(reg, 0, reason, retry_in);
  return true;
}

static void send_register(registration *reg) {
  if (dns_unusable(reg)) return;
  char expires[16], *contact = public_contact(reg);
  snprintf(expires, sizeof expires, "%d", reg->requested_expires);
  if (reg->contact_pending) { /* this REGISTER carries a damped change (see LEARN_DAMP_S) */
    reg->contact_pending = false;
    reg->learned_at = g_get_monotonic_time();
  }
  reg->in_flight = true;
  reg->auth_sent = false;
  nua_register(reg->nh, NUTAG_REGISTRAR(URL_STRING_MAKE(reg->registrar)),
               SIPTAG_EXPIRES_STR(expires), TAG_IF(contact, SIPTAG_CONTACT_STR(contact)),
               TAG_END());
  g_free(contact);
}

static gboolean on_timer(gpointer data) {
  registration *reg = data;
  g_source_unref(reg->timer);
  reg->timer = NULL;
  if (reg->state == REGISTRATION_FAILED)
    report(reg, REGISTRATION_REGISTERING, 0, "retrying", 0, 0);
  else
    log_debug("sip", reg->subject, reg->peer, "refreshing (expires %d s)", reg->expires);
  send_register(reg);
  return G_SOURCE_REMOVE;
}

static void schedule(registration *reg, int seconds) {
  sip_timer_cancel(&reg->timer);
  reg->timer = sip_timer_start(reg->agent, (unsigned)(seconds > 0 ? seconds : 1) * 1000u,
                               on_timer, reg);
}

static int refresh_delay(int granted) {
  int delay = granted / 2;
  if (granted - delay < 5) delay = granted - 5;
  return delay < 1 ? 1 : delay;
}

static int next_backoff(registration *reg) {
  const config *cfg = sip_agent_config(reg->agent);
  int delay = cfg->register_retry_min > 0 ? cfg->register_retry_min : 1;
  for (int i = 1; i < reg->failures && delay < cfg->register_retry_max; i++) delay *= 2;
  if (cfg->register_retry_max > 0 && delay > cfg->register_retry_max)
    delay = cfg->register_retry_max;
  return delay;
}

void registration_start(registration *reg) {
  if (!reg->nh || reg->in_flight) return;
  sip_timer_cancel(&reg->timer);
  reg->unregistering = false;
  char reason[256];
  sip_reason_registering(reason, sizeof reason, reg->peer);
  report(reg, REGISTRATION_REGISTERING, 0, reason, 0, 0);
  send_register(reg);
}

static void send_unregister(registration *reg) {
  char why[160];
  if (!sip_agent_dns_routable(reg->agent, reg->proxy ? reg->proxy : reg->registrar, why,
                              sizeof why)) {
    /* Nobody can be told; the binding expires at the registrar by itself. */
    char reason[64];
    sip_reason_unregistered(reason, sizeof reason, 0, NULL);
    report(reg, REGISTRATION_UNREGISTERED, 0, reason, 0, 0);
    return;
  }
  reg->unregistering = true;
  nua_unregister(reg->nh, NUTAG_REGISTRAR(URL_STRING_MAKE(reg->registrar)), TAG_END());
}

void registration_stop(registration *reg) {
  sip_timer_cancel(&reg->timer);
  if (reg->unregistering) return;
  if (reg->nh && (reg->state == REGISTRATION_REGISTERED || reg->in_flight)) {
    log_debug("sip", reg->subject, reg->peer, "un-REGISTER");
    send_unregister(reg);
    return;
  }
  if (reg->state == REGISTRATION_UNREGISTERED) return; /* already reported */
  char reason[64];
  sip_reason_unregistered(reason, sizeof reason, 0, NULL);
  report(reg, REGISTRATION_UNREGISTERED, 0, reason, 0, 0);
}

/* ---- answers ---- */

/* Lifetime the registrar granted to our contact: its expires parameter, else Expires, else what
 * we asked for. */
static int granted_expires(registration *reg, const sip_t *sip) {
  char port[16];
  int ours = reg->learned.host[0] ? reg->learned.port : sip_agent_port(reg->agent);
  snprintf(port, sizeof port, "%d", ours);
  for (const sip_contact_t *m = sip->sip_contact; m; m = m->m_next) {
    const url_t *url = m->m_url;
    if (!m->m_expires || !url->url_user || strcmp(url->url_user, reg->contact_user) != 0)
      continue;
    if (url->url_port ? strcmp(url->url_port, port) != 0 : ours != 5060) continue;
    return (int)strtol(m->m_expires, NULL, 10);
  }
  if (sip->sip_expires) return (int)sip->sip_expires->ex_delta;
  return reg->requested_expires;
}

/* ---- the public address (NAT) ----
 *
 * Without [sip] public_ip, a registrar's 2xx whose Via shows our REGISTER arriving from another
 * address or port (received/rport, nat.h) makes that address this registration's Contact, and
 * the Contact and SDP address of its account's calls (sip_agent_public_address). Only a 2xx
 * counts: a 401 or an error may come from anything on the path. The new Contact is registered
 * at once, with the old binding removed in the same REGISTER (public_contact); a later 2xx
 * showing us at our own address again (the NAT went away) goes back to the local Contact. At
 * most one such REGISTER per LEARN_DAMP_S: a change within that time of the previous one is
 * adopted at once for calls but registered when the time is up, or with an earlier refresh (a
 * registrar answering from two NATed paths must not start a REGISTER storm). A timer of ours
 * does it: sofia's own refresh repeats the Contact of the previous REGISTER.
 *
 * Why not sofia's own (NUTAG_OUTBOUND "natify"): it only rewrites a Contact that sofia itself
 * generated (we set ours explicitly), it comes with the outbound keepalive and validation
 * machinery we keep off (see sip_agent_outbound_options), and it would change neither the
 * Contact of calls nor the SDP. */
enum { LEARN_DAMP_S = 10 };

bool registration_public_address(const registration *reg, sip_public_address *out) {
  if (!reg->learned.host[0]) return false;
  *out = reg->learned;
  return true;
}

/* Is host (numeric, IPv6 possibly in brackets) an address of one of our interfaces? */
static bool is_local_address(const char *host) {
  char bare[INET6_ADDRSTRLEN + 2];
  size_t n = strlen(host);
  if (host[0] == '[' && n > 2 && n - 2 < sizeof bare) {
    memcpy(bare, host + 1, n - 2), bare[n - 2] = '\0';
  } else {
    g_strlcpy(bare, host, sizeof bare);
  }
  struct in6_addr want6;
  struct in_addr want4;
  bool v4 = inet_pton(AF_INET, bare, &want4) == 1;
  if (!v4 && inet_pton(AF_INET6, bare, &want6) != 1) return false;
  struct ifaddrs *list = NULL;
  if (getifaddrs(&list) != 0) return false;
  bool found = false;
  for (struct ifaddrs *i = list; i && !found; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    if (v4 && i->ifa_addr->sa_family == AF_INET)
      found = ((const struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == want4.s_addr;
    else if (!v4 && i->ifa_addr->sa_family == AF_INET6)
      found = !memcmp(&((const struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, &want6, sizeof want6);
  }
  freeifaddrs(list);
  return found;
}

/* The binding sofia's own Contact made (we set none: [sip] listen on a wildcard address), as the
 * registrar lists it in its 2xx: our user, the port our Via names, and one of our own addresses
 * (sofia may name another interface than the Via); else one built from the Via's sent-by. */
static char *own_binding(registration *reg, const sip_t *sip) {
  const sip_via_t *via = sip->sip_via;
  if (!via || !via->v_host) return NULL;
  const char *via_port = via->v_port ? via->v_port : "5060";
  for (const sip_contact_t *m = sip->sip_contact; m; m = m->m_next) {
    const url_t *url = m->m_url;
    if (!url->url_user || strcmp(url->url_user, reg->contact_user) != 0 || !url->url_host ||
        strcmp(url->url_port ? url->url_port : "5060", via_port) != 0 ||
        (strcasecmp(url->url_host, via->v_host) != 0 && !is_local_address(url->url_host)))
      continue;
    su_home_t home[1] = {SU_HOME_INIT(home)};
    char *text = url_as_string(home, url);
    char *binding = text ? g_strdup_printf("<%s>", text) : NULL;
    su_home_deinit(home);
    if (binding) return binding;
  }
  bool udp = !via->v_protocol || !strcasecmp(via->v_protocol, sip_transport_udp);
  return g_strdup_printf("<sip:%s@%s:%s%s%s>", reg->contact_user, via->v_host, via_port,
                         udp ? "" : ";transport=", udp ? "" : sip_transport_param(reg->transport));
}

/* A 2xx arrived: true when the Contact changed and the caller must REGISTER again now. */
static bool learn_public_address(registration *reg, const sip_t *sip) {
  const config *cfg = sip_agent_config(reg->agent);
  if (cfg->public_ip) return false;
  if (!cfg->learn_public_address) {
    sip_agent_note_via(reg->agent, sip->sip_via, reg->subject);
    return false;
  }
  sip_public_address seen;
  sip_nat_verdict verdict = sip_nat_from_via(sip->sip_via, &seen);
  if (verdict == SIP_NAT_UNKNOWN) return false;
  if (verdict == SIP_NAT_NONE && !reg->learned.host[0]) return false;
  if (verdict == SIP_NAT_SEEN && sip_public_address_equal(&seen, &reg->learned)) return false;
  char *before = current_contact(reg);
  if (!before) {
    before = own_binding(reg, sip);
    reg->local_contact = g_strdup(before);
  }
  char text[96];
  if (verdict == SIP_NAT_SEEN) {
    sip_public_address_format(&seen, text, sizeof text);
    log_info("sip", reg->subject, reg->peer,
             "learned public address %s from registrar of account %s", text, reg->key);
    reg->learned = seen;
  } else {
    sip_public_address_format(&reg->learned, text, sizeof text);
    log_info("sip", reg->subject, reg->peer,
             "registrar of account %s sees our own address again: public address %s forgotten",
             reg->key, text);
    memset(&reg->learned, 0, sizeof reg->learned);
  }
  g_free(reg->stale_contact);
  reg->stale_contact = before; /* NULL: nothing to remove, or unknown (expires by itself) */
  gint64 now = g_get_monotonic_time();
  bool damped = reg->learned_at && now - reg->learned_at < LEARN_DAMP_S * G_USEC_PER_SEC;
  if (!damped) reg->learned_at = now;
  reg->contact_pending = damped;
  return !damped;
}

static void on_registered(registration *reg, int status, const char *phrase, const sip_t *sip) {
  int granted = sip ? granted_expires(reg, sip) : reg->requested_expires;
  if (granted <= 0) granted = reg->requested_expires;
  /* The REGISTER answered carried the removal of the previous binding: done. */
  if (reg->stale_contact && reg->stale_sent) {
    g_free(reg->stale_contact);
    reg->stale_contact = NULL;
  }
  reg->stale_sent = false;
  bool reregister = sip && learn_public_address(reg, sip);
  reg->failures = 0;
  reg->own_answers = 0;
  int delay = refresh_delay(granted);
  if (reg->contact_pending) {
    /* A damped change: REGISTERed when LEARN_DAMP_S since the last one is up. */
    gint64 left = reg->learned_at + LEARN_DAMP_S * G_USEC_PER_SEC - g_get_monotonic_time();
    int wait = left > 0 ? (int)(left / G_USEC_PER_SEC) + 1 : 1;
    if (wait < delay) delay = wait;
  }
  schedule(reg, delay);
  if (reregister) send_register(reg);
  /* sofia's refresh and ours can answer back to back: one event for both is enough. */
  gint64 now = g_get_monotonic_time();
  bool repeat = reg->state == REGISTRATION_REGISTERED && reg->expires == granted &&
                now - reg->last_registered < G_USEC_PER_SEC;
  reg->last_registered = now;
  if (repeat) return;
  char reason[256];
  sip_reason_registered(reason, sizeof reason, status, phrase, granted);
  report(reg, REGISTRATION_REGISTERED, status, reason, granted, 0);
}

static void fail(registration *reg, int code, const char *reason, int retry_in) {
  report(reg, REGISTRATION_FAILED, code, reason, 0, retry_in);
  schedule(reg, retry_in);
}

static void on_auth_failure(registration *reg, int status, const char *phrase) {
  const config *cfg = sip_agent_config(reg->agent);
  int retry_in = cfg->register_retry_max > 0 ? cfg->register_retry_max : 300;
  char reason[256];
  sip_reason_auth_failed(reason, sizeof reason, status, phrase, reg->peer, retry_in);
  fail(reg, status, reason, retry_in);
}

/* Answers a 401/407 with our credentials, one per challenge. Returns false when we cannot. */
static bool authenticate(registration *reg, int status, const char *phrase, const sip_t *sip) {
  const msg_auth_t *challenge = status == 407 ? (const msg_auth_t *)sip->sip_proxy_authenticate
                                              : (const msg_auth_t *)sip->sip_www_authenticate;
  if (!challenge) return false;
  char credentials[512];
  int error = sip_digest_credentials(challenge, reg->username, reg->password, credentials,
                                     sizeof credentials);
  if (error) {
    const config *cfg = sip_agent_config(reg->agent);
    int retry_in = cfg->register_retry_max > 0 ? cfg->register_retry_max : 300;
    char what[128], reason[256];
    snprintf(what, sizeof what, "%d %s asking for digest %s", status, phrase,
             error == ENOTSUP ? sip_digest_algorithm(challenge) : "with an unusable realm");
    sip_reason_unsupported_auth(reason, sizeof reason, what, reg->peer, retry_in);
    fail(reg, status, reason, retry_in);
    return true;
  }
  reg->auth_sent = true;
  nua_authenticate(reg->nh, NUTAG_AUTH(credentials), TAG_END());
  explicit_bzero(credentials, sizeof credentials);
  log_debug("sip", reg->subject, reg->peer, "%d %s: sending credentials of user %s", status,
            phrase, reg->username);
  return true;
}

static const msg_auth_t *challenges_of(int status, const sip_t *sip) {
  return status == 407 ? (const msg_auth_t *)sip->sip_proxy_authenticate
                       : (const msg_auth_t *)sip->sip_www_authenticate;
}

/* stale=true: the registrar only wants a fresh nonce, our credentials were right. */
static bool is_stale(const msg_auth_t *challenge) {
  const char *stale = challenge->au_params ? msg_params_find(challenge->au_params, "stale=") : NULL;
  return stale && !g_ascii_strcasecmp(stale, "true");
}

/* Answers a challenge sofia cannot (SHA-256): the request is resent by us, on the same handle,
 * with our Authorization header. unregister: the challenged request was the un-REGISTER.
 * Returns false when it must count as an authentication failure. */
static bool answer_own(registration *reg, int status, const char *phrase, const sip_t *sip,
                       bool unregister) {
  const msg_auth_t *challenge = sip_digest_pick(challenges_of(status, sip));
  if (!challenge || (reg->own_answers > 0 && !is_stale(challenge)) || reg->own_answers > 3)
    return false;
  char header[1024];
  if (sip_digest_authorization(challenge, reg->username, reg->password, "REGISTER",
                               reg->registrar, header, sizeof header) != 0)
    return false;
  reg->own_answers++;
  reg->in_flight = true;
  /* SIP_NONE first: drops the header of an earlier answer that sofia's template may hold. */
  tag_type_t none_tag = status == 407 ? siptag_proxy_authorization : siptag_authorization;
  tag_type_t str_tag = status == 407 ? siptag_proxy_authorization_str : siptag_authorization_str;
  /* sofia dropped the registration usage with the final 401: keep its Call-ID (RFC 3261
   * 10.2.4: one Call-ID for a UA's registrations with a registrar). */
  const char *call_id = sip->sip_call_id ? sip->sip_call_id->i_id : NULL;
  if (unregister) {
    nua_unregister(reg->nh, NUTAG_REGISTRAR(URL_STRING_MAKE(reg->registrar)),
                   TAG_IF(call_id, SIPTAG_CALL_ID_STR(call_id)), none_tag, (tag_value_t)SIP_NONE,
                   str_tag, (tag_value_t)header, TAG_END());
  } else {
    char expires[16], *contact = public_contact(reg);
    snprintf(expires, sizeof expires, "%d", reg->requested_expires);
    nua_register(reg->nh, NUTAG_REGISTRAR(URL_STRING_MAKE(reg->registrar)),
                 SIPTAG_EXPIRES_STR(expires), TAG_IF(contact, SIPTAG_CONTACT_STR(contact)),
                 TAG_IF(call_id, SIPTAG_CALL_ID_STR(call_id)), none_tag, (tag_value_t)SIP_NONE,
                 str_tag, (tag_value_t)header, TAG_END());
    g_free(contact);
  }
  explicit_bzero(header, sizeof header);
  log_debug("sip", reg->subject, reg->peer, "%d %s: answering digest %s as user %s", status,
            phrase, sip_digest_algorithm(challenge), reg->username);
  return true;
}

static void on_failure(registration *reg, int status, const char *phrase, const sip_t *sip) {
  /* RFC 3263: a 503 without Retry-After from one SRV target means "try the next" now. */
  if (sip && status == 503 && !sip->sip_retry_after &&
      sip_agent_srv_failover(reg->agent, reg->proxy ? reg->proxy : reg->registrar)) {
    send_register(reg);
    return;
  }
  reg->failures++;
  int retry_in = next_backoff(reg);
  if (sip && sip->sip_retry_after && (int)sip->sip_retry_after->af_delta > retry_in)
    retry_in = (int)sip->sip_retry_after->af_delta;
  char reason[256];
  if (sip || !sip_agent_tls_failure_reason(reg->agent, reason, sizeof reason, reg->peer, retry_in))
    sip_reason_failed(reason, sizeof reason, status, phrase, sip != NULL, reg->peer, retry_in);
  fail(reg, sip ? status : 0, reason, retry_in);
}

/* Status 100 events: sofia restarted the REGISTER itself; sip holds the answer that caused it. */
static void on_restarted(registration *reg, const char *phrase, const sip_t *sip) {
  int code = sip && sip->sip_status ? sip->sip_status->st_status : 0;
  const char *answer = sip && sip->sip_status ? sip->sip_status->st_phrase : phrase;
  char reason[256];
  if (code == 423) {
    int min_expires = sip->sip_min_expires ? (int)sip->sip_min_expires->me_delta : 0;
    if (min_expires > reg->requested_expires) reg->requested_expires = min_expires;
    sip_reason_interval(reason, sizeof reason, code, answer, min_expires);
    report(reg, REGISTRATION_REGISTERING, code, reason, 0, 0);
  } else if (code >= 500 && sip->sip_retry_after) {
    int retry_in = (int)sip->sip_retry_after->af_delta;
    sip_reason_failed(reason, sizeof reason, code, answer, true, reg->peer, retry_in);
    report(reg, REGISTRATION_FAILED, code, reason, 0, retry_in);
  } else {
    log_debug("sip", reg->subject, reg->peer, "%d %s (%s)", code, answer ? answer : "", phrase);
  }
}

static void on_register_answer(registration *reg, int status, const char *phrase,
                               const sip_t *sip) {
  if (status < 200) {
    if (status == 100 && sip) on_restarted(reg, phrase, sip);
    return;
  }
  if (reg->unregistering) {
    reg->in_flight = false;
    return; /* the queued un-REGISTER decides the state */
  }
  if ((status == 401 || status == 407) && sip && reg->password &&
      sip_digest_needs_own(challenges_of(status, sip))) {
    if (answer_own(reg, status, phrase, sip, false)) return;
  } else if ((status == 401 || status == 407) && sip && reg->password && !reg->auth_sent &&
             authenticate(reg, status, phrase, sip)) {
    return;
  }
  reg->in_flight = false;
  if (status < 300)
    on_registered(reg, status, phrase, sip);
  else if (sip && (status == 401 || status == 407 || status == 403))
    on_auth_failure(reg, status, phrase);
  else
    on_failure(reg, status, phrase, sip);
}

static void on_unregister_answer(registration *reg, int status, const char *phrase,
                                 const sip_t *sip) {
  if (status < 200) return;
  if (!reg->unregistering && reg->state == REGISTRATION_FAILED) {
    /* Not ours: after a failed refresh (registrar gone) sofia ends the registration usage by
     * itself and reports that as an un-REGISTER. The retry already scheduled stands; without
     * this the account stayed "unregistered" for good once its registrar had been away. */
    log_debug("sip", reg->subject, reg->peer, "sofia dropped the binding (%d %s); retry stands",
              status, phrase ? phrase : "");
    return;
  }
  if ((status == 401 || status == 407) && sip && reg->password && reg->nh &&
      sip_digest_needs_own(challenges_of(status, sip)) &&
      answer_own(reg, status, phrase, sip, true))
    return;
  reg->unregistering = false;
  reg->in_flight = false;
  sip_timer_cancel(&reg->timer);
  char reason[256];
  sip_reason_unregistered(reason, sizeof reason, status, phrase);
  report(reg, REGISTRATION_UNREGISTERED, status, reason, 0, 0);
}

static void on_handle_event(sip_handle_owner *owner, nua_event_t event, int status,
                            const char *phrase, const sip_t *sip, bool remote,
                            const tagi_t *tags) {
  (void)tags;
  registration *reg = (registration *)owner;
  if (event == nua_r_register)
    on_register_answer(reg, status, phrase, remote ? sip : NULL);
  else if (event == nua_r_unregister)
    on_unregister_answer(reg, status, phrase, remote ? sip : NULL);
}

/* ---- teardown and getters ---- */

void registration_detach(registration *reg) {
  sip_timer_cancel(&reg->timer);
  reg->nh = NULL;
  reg->agent = NULL;
}

void registration_free(registration *reg) {
  if (!reg) return;
  sip_timer_cancel(&reg->timer);
  if (reg->nh) {
    bool live = reg->state == REGISTRATION_REGISTERED || reg->in_flight || reg->unregistering;
    if (live && !sip_agent_shutting_down(reg->agent)) {
      if (!reg->unregistering) send_unregister(reg);
      sip_agent_adopt(reg->agent, reg->nh);
    } else if (live && reg->unregistering) {
      sip_agent_adopt(reg->agent, reg->nh);
    } else {
      nua_handle_destroy(reg->nh);
    }
  }
  if (reg->agent) sip_agent_untrack(reg->agent, reg);
  if (reg->password) explicit_bzero(reg->password, strlen(reg->password));
  g_free(reg->password);
  g_free(reg->key), g_free(reg->aor), g_free(reg->username), g_free(reg->display_name);
  g_free(reg->registrar), g_free(reg->proxy), g_free(reg->peer), g_free(reg->subject);
  g_free(reg->contact_user), g_free(reg->last_reason), g_free(reg->stale_contact);
  g_free(reg->local_contact);
  g_free(reg);
}

registration_state registration_get_state(const registration *reg) { return reg->state; }
const char *registration_key(const registration *reg) { return reg->key; }
int registration_last_code(const registration *reg) { return reg->last_code; }
const char *registration_last_reason(const registration *reg) { return reg->last_reason; }
int registration_expires(const registration *reg) { return reg->expires; }

void registration_route(const registration *reg, const char **registrar, const char **proxy,
                        const char **aor, sip_transport *transport) {
  *registrar = reg->registrar, *proxy = reg->proxy, *aor = reg->aor, *transport = reg->transport;
}
