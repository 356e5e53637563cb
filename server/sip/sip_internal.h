/* sip_internal: what the files of server/sip/ share and nothing outside server/sip/ sees.
 *
 * Every nua handle the agent creates carries a sip_handle_owner as its handle magic: the
 * agent's one nua callback hands each handle event to owner->on_event. A registration embeds
 * an owner as its first member; calls will do the same. A handle whose owner went away (a
 * registration freed while still registered) is "adopted" by the agent until its un-REGISTER
 * is answered.
 *
 * Threading: control thread only (sofia runs on the control thread's GMainContext).
 */
#ifndef TABPHONE_SIP_INTERNAL_H
#define TABPHONE_SIP_INTERNAL_H

#include <glib.h>
#include <stdbool.h>
#include <sys/socket.h>

#include <sofia-sip/nua.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

#include "core/config.h"
#include "sip/agent.h"
#include "sip/call.h"
#include "sip/nat.h"
#include "sip/registration.h"

/* sip is the answer (or request) of the event. sofia also synthesises answers for local
 * failures (408 on timeout, 503 on transport errors) with a full sip_t: remote says whether
 * the message really came from the network. */
typedef struct sip_handle_owner sip_handle_owner;
struct sip_handle_owner {
  void (*on_event)(sip_handle_owner *self, nua_event_t event, int status, const char *phrase,
                   const sip_t *sip, bool remote, const tagi_t *tags);
};

nua_t *sip_agent_nua(sip_agent *agent);
const config *sip_agent_config(sip_agent *agent);
GMainContext *sip_agent_context(sip_agent *agent);
/* The listening port (for matching our own Contact in REGISTER answers). */
int sip_agent_port(sip_agent *agent);
bool sip_agent_shutting_down(sip_agent *agent);
/* Whether a TLS transport exists ([sip] tls_ca_file readable). */
bool sip_agent_has_tls(sip_agent *agent);
/* After a transport failure (no SIP answer) toward peer ("host:port"): when a TLS connection
 * to that host failed its certificate check since the last call for it, writes "TLS
 * certificate of PEER not trusted (why; check [sip] tls_ca_file)" or "... does not name HOST
 * (why)" and returns true. */
bool sip_agent_tls_failure_reason(sip_agent *agent, char *out, size_t len, const char *peer,
                                  int retry_in);
/* A 503 answered a request sent to route_uri (a domain resolved through SRV, RFC 3263): moves
 * the target it came from (the current event's source) to the end of the SRV list for 5 min,
 * as sofia-sip 1.12.11 itself only does for timeouts. True when another target remains, so
 * resending now reaches it. */
bool sip_agent_srv_failover(sip_agent *agent, const char *route_uri);
/* Can sofia look up the host of uri right now? True for numeric hosts, and for names when at
 * least one DNS server ([sip] dns_server, else /etc/resolv.conf) is routable (a UDP connect(2)
 * to it succeeds; nothing is sent). sofia-sip 1.12.11 spins on the control thread, starving
 * everything including SIGTERM, when it must resolve a name while connect(2) to every DNS server
 * fails (network down, no route). Callers fail the request instead, with why ("no route to the
 * DNS server 10.0.0.53 (Network is unreachable)"). */
bool sip_agent_dns_routable(sip_agent *agent, const char *uri, char *why, size_t why_len);
/* A registrar's 2xx with [sip] learn_public_address off: when its Via says it saw us from
 * another address (received/rport, RFC 3581) and no [sip] public_ip is set, warns once per
 * address that we look NATed and what to set. */
void sip_agent_note_via(sip_agent *agent, const sip_via_t *via, const char *subject);
/* The address the registrar of account (an account name, or the AOR of a BYO account: the
 * registration's key) reported and we adopted (see registration.c), into out. False when there
 * is none: [sip] public_ip set, learning off, no NAT seen, or no such registration. */
bool sip_agent_public_address(sip_agent *agent, const char *account, sip_public_address *out);
/* NUTAG_OUTBOUND value for handles: keepalive per [sip] keepalive_seconds. */
const char *sip_agent_outbound_options(sip_agent *agent);

/* Live registrations are tracked so that shutdown can un-REGISTER them. */
void sip_agent_track(sip_agent *agent, registration *reg);
void sip_agent_untrack(sip_agent *agent, registration *reg);

/* Takes over nh (owner gone): the agent sends nothing itself, waits for the answer to the
 * un-REGISTER already sent on nh, then destroys nh. Bounded by shutdown. */
void sip_agent_adopt(sip_agent *agent, nua_handle_t *nh);

/* Takes over the nh of a call that was hung up or freed before its SIP side finished (BYE or
 * CANCEL in flight, a final answer sent): the agent BYEs a 2xx that crosses a CANCEL, answers
 * nothing else, and destroys nh when sofia reports the call state "terminated". */
void sip_agent_adopt_call(sip_agent *agent, nua_handle_t *nh);

/* Where the message of the current nua event came from, as "ip:port" ([v6]:port) in text and as
 * a socket address in addr (either may be NULL). False when sofia made the message up. */
bool sip_agent_message_source(sip_agent *agent, struct sockaddr_storage *addr, char *text,
                              size_t text_len);

/* An INVITE arrived on a handle nobody owns yet (a new call): call.c takes it from here. */
void sip_call_incoming(sip_agent *agent, nua_handle_t *nh, const sip_t *sip);
/* An out-of-dialog OPTIONS for an account with trusted_sources from elsewhere: false (logged and
 * counted like such an INVITE). True for any other OPTIONS. */
bool sip_call_options_trusted(sip_agent *agent, const sip_t *sip);
sip_incoming_handler sip_agent_incoming_handler(sip_agent *agent, void **user_data);

/* The agent is being freed: the registration must forget its nua handle and timers (nua is
 * gone); it stays usable only for registration_free. */
void registration_detach(registration *reg);

/* The address learned from this registration's registrar (see sip_agent_public_address). */
bool registration_public_address(const registration *reg, sip_public_address *out);

/* Where a registration sends its REGISTERs (route URIs; proxy may be NULL), for keepalives. */
void registration_route(const registration *reg, const char **registrar, const char **proxy,
                        const char **aor, sip_transport *transport);

/* Called by a registration when a state it reported may end a pending shutdown wait. */
void sip_agent_registration_settled(sip_agent *agent);

/* A GLib timer on the agent's context; returns the attached source (caller destroys it with
 * sip_timer_cancel). */
GSource *sip_timer_start(sip_agent *agent, unsigned ms, GSourceFunc fn, void *data);
void sip_timer_cancel(GSource **timer);

/* uri.c: takes a sip:/sips: URI apart (port defaults 5060/5061; need_user: fail without a
 * user part; user may be NULL); false when text is not a usable SIP URI. */
bool sip_uri_parse(const char *text, bool need_user, char *host, size_t host_len, char *port,
                   size_t port_len, char *user, size_t user_len);
/* The host[:port] of an address of record as written (no default port added, so that sofia
 * resolves a bare domain with RFC 3263 NAPTR/SRV), or NULL (g_free). */
char *sip_uri_domain_target(const char *aor);
/* "pbx:5070" or "sip:pbx:5070" -> "sip:pbx:5070;transport=tcp" (g_free). */
char *sip_route_uri(const char *text, sip_transport transport);

/* call_route.c: the Contact header value for user over transport (g_free), or NULL to let sofia
 * choose. Explicit when [sip] public_ip is set (that address), else when learned names an
 * address (learned from the account's registrar: that address and port, see nat.h), or when
 * SIP listens on one specific address (that address): once a TLS listener exists sofia leaves
 * loopback addresses out of its own Contact choice and would name the TLS transport even for
 * UDP. The port is then the TLS listener's for TLS, else [sip] listen's. learned may be NULL. */
char *sip_contact_header(const config *cfg, const char *user, sip_transport transport,
                         const sip_public_address *learned);
/* The TLS listener port: [sip] tls_port, or the [sip] listen port + 1 when that is 0. */
int sip_tls_port(const config *cfg);

/* The transport name as written in a SIP URI parameter. */
const char *sip_transport_param(sip_transport transport);

#endif
