/* rtp_leg: the SIP side's UDP pair (RTP on an even port P, RTCP on P + 1).
 *
 * Bound on the control thread inside call_media_new so the port is known at once: ports come
 * from the kernel (bind port 0 until it gives an even P whose P + 1 is free; a configured range
 * comes later). The sockets are read on the call's worker through GUnixFDSources. Packets from
 * the far end are accepted from anywhere and the destination latches to the first source seen
 * (symmetric RTP; stricter rules come later). The sender sends to the address set by
 * call_media_set_rtp_remote until a packet latches it. Send errors (ICMP refused on RTCP when
 * nothing listens there) are ignored.
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
#include "media/media_internal.h"
#include "media/rtp.h"

#define BIND_ATTEMPTS 64

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

bool rtp_leg_bind(rtp_leg *leg, const char *host, char *err, size_t err_len) {
  struct sockaddr_storage address;
  socklen_t len;
  leg->rtp_fd = leg->rtcp_fd = -1;
  if (!make_address(host, 0, &address, &len)) {
    g_snprintf(err, err_len, "rtp leg: bad address '%s'", host);
    return false;
  }
  for (int i = 0; i < BIND_ATTEMPTS; i++) {
    int rtp = bound_socket(&address, len, 0);
    if (rtp < 0) break;
    struct sockaddr_storage got;
    socklen_t got_len = sizeof got;
    getsockname(rtp, (struct sockaddr *)&got, &got_len);
    int port = port_of(&got);
    int rtcp = (port % 2 == 0 && port < 65535) ? bound_socket(&address, len, port + 1) : -1;
    if (rtcp >= 0) {
      leg->rtp_fd = rtp;
      leg->rtcp_fd = rtcp;
      leg->port = port;
      return true;
    }
    close(rtp);
  }
  g_snprintf(err, err_len, "rtp leg: cannot bind an RTP/RTCP port pair on %s: %s", host,
             g_strerror(errno));
  return false;
}

static void format_peer(const struct sockaddr_storage *a, char *out, size_t len) {
  char host[INET6_ADDRSTRLEN] = "?";
  const void *raw = a->ss_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr
                                             : (const void *)&((const struct sockaddr_in *)a)->sin_addr;
  inet_ntop(a->ss_family, raw, host, sizeof host);
  g_snprintf(out, len, "%s:%d", host, port_of(a));
}

/* Reads every queued datagram of one socket and hands it to the bridge. */
static void drain(call_media *media, int fd, bool rtcp) {
  rtp_leg *leg = &media->rtp;
  for (;;) {
    struct sockaddr_storage from;
    socklen_t from_len = sizeof from;
    ssize_t n = recvfrom(fd, media->buffer, MEDIA_PACKET_MAX, 0, (struct sockaddr *)&from,
                         &from_len);
    if (n < 0) return; /* EAGAIN, or a queued ICMP error: nothing to do */
    if (!rtcp && !leg->latched) {
      leg->latched = true;
      leg->rtp_remote = from;
      leg->rtp_remote_len = from_len;
      char peer[64];
      format_peer(&from, peer, sizeof peer);
      log_info("media", media->subject, peer, "RTP from the SIP side, latched");
    } else if (rtcp && leg->rtcp_remote_len == 0) {
      leg->rtcp_remote = from;
      leg->rtcp_remote_len = from_len;
    }
    bridge_from_sip(media, media->buffer, (size_t)n, rtcp);
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
  if (!make_address(address, rtp_port, &leg->rtp_remote, &leg->rtp_remote_len) ||
      !make_address(address, rtcp_port, &leg->rtcp_remote, &leg->rtcp_remote_len)) {
    log_warn("media", media->subject, NULL, "bad RTP remote address '%s'", address);
    leg->rtp_remote_len = leg->rtcp_remote_len = 0;
    return;
  }
  leg->latched = false; /* a new SDP: latch again to what the far end really uses */
  log_info("media", media->subject, NULL, "RTP remote %s:%d (RTCP %d)", address, rtp_port,
           rtcp_port);
}

void rtp_leg_send(call_media *media, const uint8_t *data, size_t len, bool rtcp) {
  rtp_leg *leg = &media->rtp;
  int fd = rtcp ? leg->rtcp_fd : leg->rtp_fd;
  const struct sockaddr_storage *to = rtcp ? &leg->rtcp_remote : &leg->rtp_remote;
  socklen_t to_len = rtcp ? leg->rtcp_remote_len : leg->rtp_remote_len;
  if (fd < 0 || to_len == 0) return;
  (void)sendto(fd, data, len, 0, (const struct sockaddr *)to, to_len);
}

void rtp_leg_close(rtp_leg *leg) {
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
}
