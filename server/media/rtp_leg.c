/* rtp_leg: the SIP side's UDP pair (RTP on an even port P, RTCP on P + 1).
 *
 * Bound on the control thread inside call_media_new so the port is known at once: pairs come
 * from [media] port_min..port_max. The search starts after the pair handed out last (so a
 * just-freed port is not reused at once: late packets of the old call would land in the new
 * one), tries every pair once, wraps around, and fails the call with "no free RTP port in
 * MIN-MAX" when all are taken. No SO_REUSEADDR: a port another process holds stays its own.
 * The sockets are read on the call's worker through GUnixFDSources.
 *
 * Where we send, and what we accept (symmetric RTP with an RTP-bleed guard): the sender sends
 * to the address set by call_media_set_rtp_remote (the far end's SDP) until a packet latches
 * it. Each socket (RTP, RTCP) latches separately:
 * - nothing is accepted before the far end's SDP is known;
 * - a packet may latch only when it comes from the host the SDP named (any port: NATs keep the
 *   address more often than the port), or from anywhere with latch_any_source = yes ([media]
 *   or the call's account)
 *   (NATed phones whose SDP names a private address);
 * - the first such packet opens the latch window ([media] latch_window_ms, default 2 s): while
 *   it is open the destination may move to another allowed source that sent 10 packets in a
 *   row with none from the latched one in between (NAT rebinding at call start; two live
 *   sources never make it flap; until then the candidate's packets count as foreign);
 *   once it closes, only the latched source is accepted. The window
 *   opens with the first packet rather than with the SDP because a ringing inbound call or a
 *   slow PBX may send nothing for many seconds;
 * - everything else is dropped before the bridge, counted (METRIC_RTP_FOREIGN_DROPPED and the
 *   call's own count, logged when the call's media closes) and never reaches the browser;
 * - a new remote address (re-INVITE/UPDATE) drops the latch and opens a new window; for half a
 *   second stale packets from the old latched source are ignored (unless the new SDP names that
 *   very address).
 * With SDES-SRTP (rtp_leg_set_srtp), a packet must also pass SRTP authentication before it can
 * latch or reach the bridge, and what we send is protected; with srtp_required nothing is sent
 * or accepted in clear. Send errors (ICMP refused on RTCP when nothing listens there) are
 * ignored.
 *
 * Ownership: the call owns both fds (rtp_leg_close). Packet path: recvfrom into the call's
 * buffer, no allocation. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"
#include "media/media_internal.h"
#include "media/rtp.h"

/* How long after a re-INVITE packets from the old source may not latch: long enough for
 * packets in flight, short enough that a NATed phone whose SDP names a private address (but
 * still sends from the old public one) is re-learnt quickly. */
#define STALE_GUARD_US (G_USEC_PER_SEC / 2)

/* Inside the latch window the destination moves to another allowed source only after that
 * source sent this many packets in a row with none from the latched source in between (the far
 * end really moved, e.g. a NAT rebinding at call start: 10 RTP packets are 200 ms of audio).
 * Counted in packets, not time, so a worker that falls behind and reads a backlog decides the
 * same way: two live sources interleave and never make the latch flap, and an injector cannot
 * take over a far end that is talking. RTCP comes every few seconds: two in a row suffice. */
enum { SWITCH_RUN_RTP = 10, SWITCH_RUN_RTCP = 2 };

static bool make_address(const char *host, int port, struct sockaddr_storage *out,
                         socklen_t *out_len) {
  memset(out, 0, sizeof *out);
  struct sockaddr_in *v4 = (struct sockaddr_in *)out;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    *out_len = sizeof *v4;
    return true;
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    *out_len = sizeof *v6;
    return true;
  }
  return false;
}

static int port_of(const struct sockaddr_storage *a) {
  return a->ss_family == AF_INET6 ? ntohs(((const struct sockaddr_in6 *)a)->sin6_port)
                                  : ntohs(((const struct sockaddr_in *)a)->sin_port);
}

static int bound_socket(const struct sockaddr_storage *address, socklen_t len, int port) {
  int fd = socket(address->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_storage a = *address;
  if (a.ss_family == AF_INET6) ((struct sockaddr_in6 *)&a)->sin6_port = htons((uint16_t)port);
  else ((struct sockaddr_in *)&a)->sin_port = htons((uint16_t)port);
  if (bind(fd, (struct sockaddr *)&a, len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Binds P and P + 1; false with errno set when either is unavailable. */
static bool bind_pair(rtp_leg *leg, const struct sockaddr_storage *address, socklen_t len, int p) {
  int rtp = bound_socket(address, len, p);
  if (rtp < 0) return false;
  int rtcp = bound_socket(address, len, p + 1);
  if (rtcp < 0) {
    int saved = errno;
    close(rtp);
    errno = saved;
    return false;
  }
  leg->rtp_fd = rtp;
  leg->rtcp_fd = rtcp;
  leg->port = p;
  return true;
}

bool rtp_leg_bind(rtp_leg *leg, media_engine *engine, char *err, size_t err_len) {
  const char *host = engine->rtp_bind_host;
  struct sockaddr_storage address;
  socklen_t len;
  leg->rtp_fd = leg->rtcp_fd = -1;
  if (!make_address(host, 0, &address, &len)) {
    g_snprintf(err, err_len, "rtp leg: bad address '%s'", host);
    return false;
  }
  int first = engine->port_min + (engine->port_min & 1); /* even */
  unsigned pairs = media_engine_port_pairs(engine);
  unsigned start = pairs ? atomic_load(&engine->next_pair) % pairs : 0;
  for (unsigned i = 0; i < pairs; i++) {
    unsigned index = (start + i) % pairs;
    if (bind_pair(leg, &address, len, first + 2 * (int)index)) {
      atomic_store(&engine->next_pair, index + 1);
      atomic_fetch_add(&engine->pairs_in_use, 1);
      leg->pairs_in_use = &engine->pairs_in_use;
      return true;
    }
    /* In use (by another call or process): try the next pair. Anything else (the address is
     * gone, no permission) would fail for every pair alike. */
    if (errno != EADDRINUSE && errno != EACCES) {
      g_snprintf(err, err_len, "rtp leg: cannot bind %s:%d: %s", host, first + 2 * (int)index,
                 g_strerror(errno));
      return false;
    }
  }
  g_snprintf(err, err_len, "no free RTP port in %d-%d", engine->port_min, engine->port_max);
  return false;
}

static void format_peer(const struct sockaddr_storage *a, char *out, size_t len) {
  char host[INET6_ADDRSTRLEN] = "?";
  const void *raw = a->ss_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr
                                             : (const void *)&((const struct sockaddr_in *)a)->sin_addr;
  inet_ntop(a->ss_family, raw, host, sizeof host);
  g_snprintf(out, len, "%s:%d", host, port_of(a));
}

static bool same_address(const struct sockaddr_storage *a, socklen_t a_len,
                         const struct sockaddr_storage *b, socklen_t b_len) {
  return a_len == b_len && a_len > 0 && memcmp(a, b, a_len) == 0;
}

static bool same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family) return false;
  if (a->ss_family == AF_INET6)
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
  return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
         ((const struct sockaddr_in *)b)->sin_addr.s_addr;
}

typedef enum { SOURCE_OK, SOURCE_LATCH, SOURCE_FOREIGN, SOURCE_IGNORED } source_verdict;

/* What to do with a packet from `from` on one socket (see the file comment). */
static source_verdict check_source(call_media *media, const struct sockaddr_storage *from,
                                   socklen_t from_len, bool rtcp) {
  rtp_leg *leg = &media->rtp;
  const struct sockaddr_storage *remote = rtcp ? &leg->rtcp_remote : &leg->rtp_remote;
  socklen_t remote_len = rtcp ? leg->rtcp_remote_len : leg->rtp_remote_len;
  bool latched = rtcp ? leg->rtcp_latched : leg->latched;
  gint64 window_end = rtcp ? leg->rtcp_window_end_us : leg->window_end_us;
  struct sockaddr_storage *candidate = rtcp ? &leg->rtcp_candidate : &leg->candidate;
  socklen_t *candidate_len = rtcp ? &leg->rtcp_candidate_len : &leg->candidate_len;
  unsigned *run = rtcp ? &leg->rtcp_candidate_run : &leg->candidate_run;
  if (leg->sdp_rtp_len == 0) return SOURCE_IGNORED; /* no SDP from the far end yet */
  gint64 now = g_get_monotonic_time();
  if (latched && same_address(from, from_len, remote, remote_len)) {
    *run = 0; /* the latched source is alive: no candidate can take over */
    return SOURCE_OK;
  }
  /* Stale packets of the stream before a re-INVITE: neither forwarded nor latched to. */
  if (!rtcp && same_address(from, from_len, &leg->stale, leg->stale_len) &&
      !same_address(from, from_len, &leg->sdp_rtp, leg->sdp_rtp_len) && now < leg->stale_until_us)
    return SOURCE_IGNORED;
  bool allowed = atomic_load(&media->latch_any_source) || same_host(from, &leg->sdp_rtp);
  bool window_open = window_end == 0 || now < window_end;
  if (!allowed || !window_open) return SOURCE_FOREIGN;
  if (!latched) return SOURCE_LATCH;
  if (!same_address(from, from_len, candidate, *candidate_len)) {
    *candidate = *from;
    *candidate_len = from_len;
    *run = 0;
  }
  return ++*run >= (rtcp ? SWITCH_RUN_RTCP : SWITCH_RUN_RTP) ? SOURCE_LATCH : SOURCE_FOREIGN;
}

/* Makes `from` the destination of this socket's stream; the first latch after a new remote
 * opens the latch window. */
static void latch(call_media *media, const struct sockaddr_storage *from, socklen_t from_len,
                  bool rtcp) {
  rtp_leg *leg = &media->rtp;
  gint64 *window_end = rtcp ? &leg->rtcp_window_end_us : &leg->window_end_us;
  gint64 now = g_get_monotonic_time();
  if (*window_end == 0) *window_end = now + MAX(media->engine->latch_window_us, 1);
  *(rtcp ? &leg->rtcp_candidate_run : &leg->candidate_run) = 0;
  if (rtcp) {
    leg->rtcp_latched = true;
    leg->rtcp_remote = *from;
    leg->rtcp_remote_len = from_len;
    return;
  }
  leg->latched = true;
  leg->rtp_remote = *from;
  leg->rtp_remote_len = from_len;
  char peer[64];
  format_peer(from, peer, sizeof peer);
  log_info("media", media->subject, peer, "RTP from the SIP side, latched");
}

static void count_foreign(call_media *media, const struct sockaddr_storage *from, bool rtcp) {
  rtp_leg *leg = &media->rtp;
  metrics_inc(METRIC_RTP_FOREIGN_DROPPED);
  if (leg->foreign_dropped++ == 0) {
    char peer[64], latched[64] = "nothing";
    format_peer(from, peer, sizeof peer);
    if (leg->latched) format_peer(&leg->rtp_remote, latched, sizeof latched);
    log_warn("media", media->subject, peer,
             "%s from a foreign source dropped (latched to %s; more are counted, not logged)",
             rtcp ? "RTCP" : "RTP", latched);
  }
}

/* SDES-SRTP: unprotects in place. false = drop (not keyed although required, or failed
 * authentication: a forged or replayed packet). */
static bool unprotect(call_media *media, size_t *len, bool rtcp) {
  rtp_leg *leg = &media->rtp;
  if (!leg->srtp.ready) return !leg->srtp_required;
  int n = (int)*len;
  if (!srtp_leg_unprotect(&leg->srtp, media->buffer, &n, rtcp)) {
    if (leg->srtp_failures++ == 0)
      log_warn("media", media->subject, NULL, "SRTP%s from the SIP side failed authentication",
               rtcp ? "C" : "");
    return false;
  }
  *len = (size_t)n;
  return true;
}

/* Reads every queued datagram of one socket and hands it to the bridge. */
static void drain(call_media *media, int fd, bool rtcp) {
  for (;;) {
    struct sockaddr_storage from;
    socklen_t from_len = sizeof from;
    ssize_t n = recvfrom(fd, media->buffer, MEDIA_PACKET_MAX, 0, (struct sockaddr *)&from,
                         &from_len);
    if (n < 0) return; /* EAGAIN, or a queued ICMP error: nothing to do */
    /* Only RTP on the RTP port and RTCP on the RTCP port (we do not offer rtcp-mux). */
    if (packet_classify(media->buffer, (size_t)n) != (rtcp ? PACKET_RTCP : PACKET_RTP)) continue;
    source_verdict verdict = check_source(media, &from, from_len, rtcp);
    if (verdict == SOURCE_IGNORED) continue;
    if (verdict == SOURCE_FOREIGN) {
      count_foreign(media, &from, rtcp);
      continue;
    }
    size_t len = (size_t)n;
    /* Only a packet that passed SRTP authentication (when keyed) may move our destination. */
    if (!unprotect(media, &len, rtcp)) continue;
    if (verdict == SOURCE_LATCH) latch(media, &from, from_len, rtcp);
    bridge_from_sip(media, media->buffer, len, rtcp);
  }
}

static gboolean on_rtp(gint fd, GIOCondition condition, gpointer data) {
  (void)condition;
  drain(data, fd, false);
  return G_SOURCE_CONTINUE;
}

static gboolean on_rtcp(gint fd, GIOCondition condition, gpointer data) {
  (void)condition;
  drain(data, fd, true);
  return G_SOURCE_CONTINUE;
}

static GSource *watch(call_media *media, int fd, GUnixFDSourceFunc func) {
  GSource *source = g_unix_fd_source_new(fd, G_IO_IN | G_IO_ERR);
  g_source_set_callback(source, (GSourceFunc)(void (*)(void))func, media, NULL);
  g_source_attach(source, media->worker->context);
  return source;
}

void rtp_leg_attach(call_media *media) {
  rtp_leg *leg = &media->rtp;
  if (leg->rtp_fd < 0) return;
  leg->rtp_source = watch(media, leg->rtp_fd, on_rtp);
  leg->rtcp_source = watch(media, leg->rtcp_fd, on_rtcp);
}

void rtp_leg_set_remote(call_media *media, const char *address, int rtp_port, int rtcp_port) {
  rtp_leg *leg = &media->rtp;
  struct sockaddr_storage rtp, rtcp;
  socklen_t rtp_len, rtcp_len;
  if (!make_address(address, rtp_port, &rtp, &rtp_len) ||
      !make_address(address, rtcp_port, &rtcp, &rtcp_len)) {
    log_warn("media", media->subject, NULL, "bad RTP remote address '%s'", address);
    return; /* keep sending where we did: a bad SDP should not silence the call */
  }
  /* Same SDP address as before (hold/resume, session refresh): nothing moved, keep the latch so
   * a NATed phone does not lose audio while we would re-learn its source. */
  if (leg->latched && same_address(&rtp, rtp_len, &leg->sdp_rtp, leg->sdp_rtp_len)) {
    log_info("media", media->subject, NULL, "RTP remote unchanged %s:%d", address, rtp_port);
    return;
  }
  if (leg->latched) { /* where stale packets of the old stream would come from */
    leg->stale = leg->rtp_remote;
    leg->stale_len = leg->rtp_remote_len;
    leg->stale_until_us = g_get_monotonic_time() + STALE_GUARD_US;
  }
  leg->rtp_remote = leg->sdp_rtp = rtp;
  leg->rtp_remote_len = leg->sdp_rtp_len = rtp_len;
  leg->rtcp_remote = rtcp;
  leg->rtcp_remote_len = rtcp_len;
  /* A new address: send there at once, and latch again to what the far end really uses, in a
   * new window. */
  leg->latched = leg->rtcp_latched = false;
  leg->window_end_us = leg->rtcp_window_end_us = 0;
  log_info("media", media->subject, NULL, "RTP remote %s:%d (RTCP %d)", address, rtp_port,
           rtcp_port);
}

void rtp_leg_send(call_media *media, const uint8_t *data, size_t len, bool rtcp) {
  rtp_leg *leg = &media->rtp;
  int fd = rtcp ? leg->rtcp_fd : leg->rtp_fd;
  const struct sockaddr_storage *to = rtcp ? &leg->rtcp_remote : &leg->rtp_remote;
  socklen_t to_len = rtcp ? leg->rtcp_remote_len : leg->rtp_remote_len;
  if (fd < 0 || to_len == 0) return;
  if (leg->srtp.ready) {
    /* Protect a copy: callers keep their buffers (DTMF packets are re-sent). */
    if (len > MEDIA_PACKET_MAX) return;
    memcpy(leg->out, data, len);
    int n = (int)len;
    if (!srtp_leg_protect(&leg->srtp, leg->out, &n, rtcp)) return;
    data = leg->out;
    len = (size_t)n;
  } else if (leg->srtp_required) {
    return; /* no keys yet: nothing in clear */
  }
  (void)sendto(fd, data, len, 0, (const struct sockaddr *)to, to_len);
}

bool rtp_leg_set_srtp(call_media *media, int profile_id, const uint8_t *local_key,
                      const uint8_t *local_salt, const uint8_t *remote_key,
                      const uint8_t *remote_salt) {
  rtp_leg *leg = &media->rtp;
  if (!srtp_leg_start(&leg->srtp, profile_id, local_key, local_salt, remote_key, remote_salt)) {
    log_warn("media", media->subject, NULL, "SDES-SRTP keys refused by libsrtp");
    leg->srtp_required = true; /* keys were asked for: never fall back to clear */
    return false;
  }
  leg->srtp_required = true;
  log_info("media", media->subject, NULL, "SIP leg %s (SDES, %s)",
           leg->srtp.rekeyed ? "re-keyed, packet indexes kept" : "keyed", leg->srtp.profile_name);
  return true;
}

void rtp_leg_close(rtp_leg *leg) {
  srtp_leg_stop(&leg->srtp);
  GSource **sources[] = {&leg->rtp_source, &leg->rtcp_source};
  for (size_t i = 0; i < 2; i++) {
    if (*sources[i]) {
      g_source_destroy(*sources[i]);
      g_source_unref(*sources[i]);
      *sources[i] = NULL;
    }
  }
  if (leg->rtp_fd >= 0) close(leg->rtp_fd);
  if (leg->rtcp_fd >= 0) close(leg->rtcp_fd);
  leg->rtp_fd = leg->rtcp_fd = -1;
  if (leg->pairs_in_use) atomic_fetch_sub(leg->pairs_in_use, 1);
  leg->pairs_in_use = NULL;
}
