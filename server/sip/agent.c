/* agent: the one sofia-sip nua instance of the process, on the control thread's GMainContext.
 *
 * Life cycle:
 *   sip_agent_new       su_init, su_glib root attached to the context, nua_create bound to
 *                       [sip] listen (sip:HOST:PORT = UDP and TCP).
 *   sip_agent_shutdown  phase 1: un-REGISTER every live registration and wait for the answers
 *                       (adopted handles of freed registrations included); phase 2: nua_shutdown
 *                       and wait for its final event. The whole is bounded by
 *                       [sip] shutdown_timeout: done() is called then at the latest.
 *   sip_agent_free      nua_destroy + su_root_destroy when nua_shutdown completed; otherwise (a
 *                       request still pending when the deadline hit) the GSource is detached so
 *                       sofia can never call back, and the nua is left to process exit (sofia
 *                       refuses to destroy a nua whose shutdown did not finish).
 *
 * Event routing: every handle's magic is a sip_handle_owner (see sip_internal.h); handles with no
 * owner are either adopted (un-REGISTERs and ending calls that the agent finishes itself) or new
 * incoming requests: an INVITE goes to call.c (sip_call_incoming), anything else gets 480.
 *
 * nua-wide call settings (every call handle inherits them, incoming ones included): sofia's SDP
 * engine (soa) is off, so our SDP passes verbatim; no automatic 180/200, automatic ACK; UPDATE is
 * and REFER are answered by us (NUTAG_APPL_METHOD), not by sofia (which would accept any REFER with
 * 202 by itself); Supported lists "timer" only: no 100rel,
 * whose PRACK handling has assertion crashes in sofia-sip 1.12.11.
 */
#include "sip/agent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_glib.h>
#include <sofia-sip/tport_tag.h>

#include "auth/sip_screen.h"
#include "core/log.h"
#include "sip/registration.h"
#include "sip/sip_internal.h"
#include "sip/sofia_log.h"

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
};

/* ---- small helpers used by the other files ---- */

nua_t *sip_agent_nua(sip_agent *agent) { return agent->nua; }
const config *sip_agent_config(sip_agent *agent) { return agent->cfg; }
GMainContext *sip_agent_context(sip_agent *agent) { return agent->context; }
int sip_agent_port(sip_agent *agent) { return agent->cfg->sip_listen.port; }
bool sip_agent_shutting_down(sip_agent *agent) { return agent->shutting_down; }

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

static void on_nua_event(nua_event_t event, int status, char const *phrase, nua_t *nua,
                         nua_magic_t *magic, nua_handle_t *nh, nua_hmagic_t *hmagic,
                         sip_t const *sip, tagi_t tags[]) {
  sip_agent *agent = magic;
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
  if (g_ptr_array_find(agent->adopted_calls, nh, NULL)) {
    on_adopted_call_event(agent, event, status, nh, tags);
  } else if (g_ptr_array_find(agent->adopted, nh, NULL)) {
    on_adopted_event(agent, event, status, nh);
  } else if (sip && sip->sip_request && is_scanner(sip)) {
    /* Before any account lookup: a scanner learns nothing, and costs us one response. */
    log_debug("sip", NULL, NULL, "403 to scanner (User-Agent %.64s)",
              sip->sip_user_agent->g_string);
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

static bool create_nua(sip_agent *agent, char *err, size_t err_len) {
  const config_listen *listen = &agent->cfg->sip_listen;
  bool v6 = strchr(listen->host, ':') != NULL;
  char *url = su_sprintf(agent->home, v6 ? "sip:[%s]:%d" : "sip:%s:%d", listen->host,
                         listen->port);
  agent->nua = nua_create(agent->root, on_nua_event, agent,
                          NUTAG_URL(url),
                          TAG_IF(agent->cfg->user_agent,
                                 SIPTAG_USER_AGENT_STR(agent->cfg->user_agent)),
                          /* No OPTIONS probe of our own contact, no keepalive OPTIONS, no
                           * Contact rewriting from Via received= (we set public_ip ourselves). */
                          NUTAG_OUTBOUND("no-natify no-validate no-options-keepalive"),
                          NUTAG_KEEPALIVE(0),
                          /* Calls: see the top of this file. */
                          NUTAG_MEDIA_ENABLE(0),
                          NUTAG_AUTOALERT(0),
                          NUTAG_AUTOANSWER(0),
                          NUTAG_AUTOACK(1),
                          NUTAG_ENABLEINVITE(1),
                          NUTAG_EARLY_MEDIA(0),
                          NUTAG_APPL_METHOD("UPDATE, REFER"),
                          NUTAG_UPDATE_REFRESH(1),
                          SIPTAG_SUPPORTED_STR("timer"),
                          TPTAG_LOG(0),
                          TAG_END());
  if (!agent->nua) {
    snprintf(err, err_len, "sip listen %s:%d: sofia-sip could not bind (udp+tcp)", listen->host,
             listen->port);
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
  if (!create_root(agent, err, err_len) || !create_nua(agent, err, err_len)) {
    agent->nua_shutdown_done = true; /* nothing to shut down */
    sip_agent_free(agent);
    return NULL;
  }
  log_info("sip", NULL, NULL, "listening on %s:%d (udp, tcp)", cfg->sip_listen.host,
           cfg->sip_listen.port);
  return agent;
}

static void destroy_adopted(sip_agent *agent) {
  for (guint i = 0; i < agent->adopted->len; i++) nua_handle_destroy(agent->adopted->pdata[i]);
  g_ptr_array_set_size(agent->adopted, 0);
  for (guint i = 0; i < agent->adopted_calls->len; i++)
    nua_handle_destroy(agent->adopted_calls->pdata[i]);
  g_ptr_array_set_size(agent->adopted_calls, 0);
}

void sip_agent_free(sip_agent *agent) {
  if (!agent) return;
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
  if (clean) {
    su_home_deinit(agent->home);
    su_deinit();
  }
  g_free(agent);
}
