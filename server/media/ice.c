/* ice: the browser leg's ICE agent (libnice, full ICE, RFC 8445 + trickle).
 *
 * One NiceAgent per call on its worker's GMainContext, one stream with one component (the
 * browser uses rtcp-mux and BUNDLE). We choose the local ufrag/pwd ourselves (call_media_new)
 * so our SDP never waits for gathering. Host candidates come from the engine's address list,
 * added explicitly because libnice skips loopback when it gathers on its own. Optional STUN
 * (server-reflexive) and TURN/UDP (relay) servers come from [media]. Local candidates trickle
 * out as MEDIA_EVENT_LOCAL_CANDIDATE, then a NULL candidate when gathering is done.
 * 1:1 NAT ([sip] public_ip, e.g. Docker with published UDP ports): libnice cannot announce a
 * host candidate on an address it has no socket on, so the candidate lines we trickle carry
 * public_ip in place of the local address (same port, same family only). The browser's checks
 * then reach public_ip:port, the NAT forwards them to our socket, and libnice answers from it.
 * The private address is not announced: behind such a NAT the browser cannot reach it.
 * ICE restart (ice_leg_restart): new credentials both ways on the same agent and sockets.
 * Received datagrams are demultiplexed here (RFC 7983): DTLS to dtls.c, RTP/RTCP to bridge.c
 * (STUN never reaches us: libnice consumes it).
 *
 * Threading: worker only. Ownership: the agent belongs to the call (ice_leg_stop frees it). */
#include <string.h>

#include "core/log.h"
#include "media/media_internal.h"
#include "media/rtp.h"

#define ICE_COMPONENT 1

static void on_receive(NiceAgent *agent, guint stream_id, guint component_id, guint len,
                       gchar *buf, gpointer data) {
  (void)agent;
  (void)stream_id;
  (void)component_id;
  call_media *media = data;
  const uint8_t *packet = (const uint8_t *)buf;
  switch (packet_classify(packet, len)) {
  case PACKET_DTLS: dtls_leg_on_datagram(media, packet, len); break;
  case PACKET_RTP: bridge_from_browser(media, packet, len, false); break;
  case PACKET_RTCP: bridge_from_browser(media, packet, len, true); break;
  default: break;
  }
}

/* "candidate:F C udp P ADDR PORT typ host ..." with ADDR replaced by public_ip (host candidates of
 * public_ip's family only). Returns a new string, or NULL when the line stays as it is. */
static char *with_public_ip(const char *line, const NiceCandidate *candidate,
                            const char *public_ip) {
  if (!public_ip || candidate->type != NICE_CANDIDATE_TYPE_HOST) return NULL;
  bool public_v6 = strchr(public_ip, ':') != NULL;
  if (public_v6 != (nice_address_ip_version(&candidate->addr) == 6)) return NULL;
  char **fields = g_strsplit(line, " ", -1);
  char *out = NULL;
  if (g_strv_length(fields) > 5) {
    g_free(fields[4]);
    fields[4] = g_strdup(public_ip);
    out = g_strjoinv(" ", fields);
  }
  g_strfreev(fields);
  return out;
}

static void on_new_candidate(NiceAgent *agent, NiceCandidate *candidate, gpointer data) {
  call_media *media = data;
  gchar *sdp = nice_agent_generate_local_candidate_sdp(agent, candidate);
  if (!sdp) return;
  const char *line = g_str_has_prefix(sdp, "a=") ? sdp + 2 : sdp;
  char *mapped = with_public_ip(line, candidate, media->engine->public_ip);
  if (mapped) {
    log_debug("media", media->subject, NULL, "local %s, announced as %s", line,
              media->engine->public_ip);
    media_emit(media, MEDIA_EVENT_LOCAL_CANDIDATE, mapped, NULL, NULL);
    g_free(mapped);
    g_free(sdp);
    return;
  }
  log_debug("media", media->subject, NULL, "local %s", line);
  media_emit(media, MEDIA_EVENT_LOCAL_CANDIDATE, line, NULL, NULL);
  g_free(sdp);
}

static void on_gathering_done(NiceAgent *agent, guint stream_id, gpointer data) {
  (void)agent;
  (void)stream_id;
  call_media *media = data;
  log_debug("media", media->subject, NULL, "ICE gathering done");
  media_emit(media, MEDIA_EVENT_LOCAL_CANDIDATE, NULL, NULL, NULL);
}

static void on_state(NiceAgent *agent, guint stream_id, guint component_id, guint state,
                     gpointer data) {
  (void)agent;
  (void)stream_id;
  (void)component_id;
  call_media *media = data;
  ice_leg *leg = &media->ice;
  log_info("media", media->subject, NULL, "ICE %s", nice_component_state_to_string(state));
  if ((state == NICE_COMPONENT_STATE_CONNECTED || state == NICE_COMPONENT_STATE_READY) &&
      !leg->connected) {
    leg->connected = true;
    dtls_leg_on_ice_connected(media);
  } else if (state == NICE_COMPONENT_STATE_FAILED && !leg->failed) {
    leg->failed = true;
    media_fail(media, "ice_failed");
  }
}

static void on_selected_pair(NiceAgent *agent, guint stream_id, guint component_id,
                             NiceCandidate *local, NiceCandidate *remote, gpointer data) {
  (void)agent;
  (void)stream_id;
  (void)component_id;
  call_media *media = data;
  char l[NICE_ADDRESS_STRING_LEN], r[NICE_ADDRESS_STRING_LEN], peer[NICE_ADDRESS_STRING_LEN + 8];
  nice_address_to_string(&local->addr, l);
  nice_address_to_string(&remote->addr, r);
  g_snprintf(peer, sizeof peer, "%s:%u", r, nice_address_get_port(&remote->addr));
  log_info("media", media->subject, peer, "ICE selected pair %s:%u <-> %s", l,
           nice_address_get_port(&local->addr), peer);
}

static void add_local_addresses(call_media *media) {
  for (char **a = media->engine->ice_addresses; *a; a++) {
    NiceAddress address;
    nice_address_init(&address);
    if (nice_address_set_from_string(&address, *a))
      nice_agent_add_local_address(media->ice.agent, &address);
  }
}

bool ice_leg_start(call_media *media) {
  ice_leg *leg = &media->ice;
  NiceAgentOption options = NICE_AGENT_OPTION_ICE_TRICKLE;
  if (media->ice_controlling) options |= NICE_AGENT_OPTION_REGULAR_NOMINATION;
  leg->agent = nice_agent_new_full(media->worker->context, NICE_COMPATIBILITY_RFC5245, options);
  if (!leg->agent) return false;
  g_object_set(leg->agent, "controlling-mode", media->ice_controlling, "upnp", FALSE,
               "ice-tcp", FALSE, NULL);
  g_signal_connect(leg->agent, "new-candidate-full", G_CALLBACK(on_new_candidate), media);
  g_signal_connect(leg->agent, "candidate-gathering-done", G_CALLBACK(on_gathering_done), media);
  g_signal_connect(leg->agent, "component-state-changed", G_CALLBACK(on_state), media);
  g_signal_connect(leg->agent, "new-selected-pair-full", G_CALLBACK(on_selected_pair), media);
  add_local_addresses(media);
  leg->stream_id = nice_agent_add_stream(leg->agent, 1);
  if (leg->stream_id == 0) return false;
  nice_agent_set_stream_name(leg->agent, leg->stream_id, "audio");
  media_engine *engine = media->engine;
  if (engine->stun_host)
    g_object_set(leg->agent, "stun-server", engine->stun_host, "stun-server-port",
                 (guint)engine->stun_port, NULL);
  if (engine->turn_host &&
      !nice_agent_set_relay_info(leg->agent, leg->stream_id, ICE_COMPONENT, engine->turn_host,
                                 (guint)engine->turn_port, engine->turn_user,
                                 engine->turn_password, NICE_RELAY_TYPE_TURN_UDP))
    log_warn("media", media->subject, NULL, "TURN server %s:%d refused by libnice",
             engine->turn_host, engine->turn_port);
  nice_agent_set_local_credentials(leg->agent, leg->stream_id, media->local.ice_ufrag,
                                   media->local.ice_pwd);
  nice_agent_attach_recv(leg->agent, leg->stream_id, ICE_COMPONENT, media->worker->context,
                         on_receive, media);
  return nice_agent_gather_candidates(leg->agent, leg->stream_id);
}

void ice_leg_set_remote_credentials(call_media *media, const char *ufrag, const char *pwd) {
  ice_leg *leg = &media->ice;
  if (leg->agent && ufrag && pwd)
    nice_agent_set_remote_credentials(leg->agent, leg->stream_id, ufrag, pwd);
}

/* The browser restarted ICE (RFC 8445 9): libnice drops the remote candidates and checks of the
 * old generation but keeps the selected pair until a new one is nominated, so packets (DTLS,
 * SRTP) keep flowing meanwhile. Our host sockets stay the same: the local candidates are kept
 * and trickled again (the browser forgot them with its old generation), then end-of-candidates. */
bool ice_leg_restart(call_media *media, const char *local_ufrag, const char *local_pwd,
                     const char *remote_ufrag, const char *remote_pwd) {
  ice_leg *leg = &media->ice;
  if (!leg->agent || leg->failed) return false;
  if (!nice_agent_restart_stream(leg->agent, leg->stream_id)) return false;
  nice_agent_set_local_credentials(leg->agent, leg->stream_id, local_ufrag, local_pwd);
  nice_agent_set_remote_credentials(leg->agent, leg->stream_id, remote_ufrag, remote_pwd);
  log_info("media", media->subject, NULL, "ICE restart: new credentials on both sides");
  GSList *locals = nice_agent_get_local_candidates(leg->agent, leg->stream_id, ICE_COMPONENT);
  for (GSList *l = locals; l; l = l->next) on_new_candidate(leg->agent, l->data, media);
  g_slist_free_full(locals, (GDestroyNotify)nice_candidate_free);
  media_emit(media, MEDIA_EVENT_LOCAL_CANDIDATE, NULL, NULL, NULL);
  return true;
}

void ice_leg_add_remote_candidate(call_media *media, const char *line) {
  ice_leg *leg = &media->ice;
  if (!leg->agent) return;
  if (!line) {
    nice_agent_peer_candidate_gathering_done(leg->agent, leg->stream_id);
    return;
  }
  char *sdp = g_str_has_prefix(line, "a=") ? g_strdup(line) : g_strconcat("a=", line, NULL);
  NiceCandidate *candidate = nice_agent_parse_remote_candidate_sdp(leg->agent, leg->stream_id, sdp);
  if (!candidate || candidate->component_id != ICE_COMPONENT) {
    log_debug("media", media->subject, NULL, "remote candidate ignored: %s", line);
  } else {
    GSList *list = g_slist_append(NULL, candidate);
    nice_agent_set_remote_candidates(leg->agent, leg->stream_id, ICE_COMPONENT, list);
    g_slist_free(list);
    log_debug("media", media->subject, NULL, "remote %s", line);
  }
  if (candidate) nice_candidate_free(candidate);
  g_free(sdp);
}

bool ice_leg_send(call_media *media, const uint8_t *data, size_t len) {
  ice_leg *leg = &media->ice;
  if (!leg->agent) return false;
  return nice_agent_send(leg->agent, leg->stream_id, ICE_COMPONENT, (guint)len,
                         (const gchar *)data) == (gint)len;
}

void ice_leg_stop(call_media *media) {
  ice_leg *leg = &media->ice;
  if (!leg->agent) return;
  nice_agent_attach_recv(leg->agent, leg->stream_id, ICE_COMPONENT, media->worker->context, NULL,
                         NULL);
  g_signal_handlers_disconnect_by_data(leg->agent, media);
  nice_agent_remove_stream(leg->agent, leg->stream_id);
  g_object_unref(leg->agent);
  leg->agent = NULL;
}
