/* sip_screen: see sip_screen.h. */
#include "auth/sip_screen.h"

#include <arpa/inet.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

const char *const sip_screen_scanner_agents[] = {
    "friendly-scanner", "sipvicious", "sipcli", "VaxSIPUserAgent", "sip-scan", "sundayddr",
    "iWar", "SIVuS", NULL,
};

bool sip_screen_is_scanner(const char *user_agent) {
  if (!user_agent) return false;
  char *lower = g_ascii_strdown(user_agent, -1);
  bool found = false;
  for (const char *const *a = sip_screen_scanner_agents; *a && !found; a++) {
    char *needle = g_ascii_strdown(*a, -1);
    found = strstr(lower, needle) != NULL;
    g_free(needle);
  }
  g_free(lower);
  return found;
}

typedef struct network {
  int family;              /* AF_INET or AF_INET6 */
  unsigned char addr[16];
  int prefix;              /* bits */
} network;

/* Parses "a.b.c.d", "a.b.c.d/n", "v6", "v6/n" (host bits need not be zero). */
static bool parse_network(const char *text, network *out) {
  char host[64];
  const char *slash = strchr(text, '/');
  size_t n = slash ? (size_t)(slash - text) : strlen(text);
  if (n == 0 || n >= sizeof host) return false;
  memcpy(host, text, n);
  host[n] = '\0';
  memset(out, 0, sizeof *out);
  if (inet_pton(AF_INET, host, out->addr) == 1) out->family = AF_INET;
  else if (inet_pton(AF_INET6, host, out->addr) == 1) out->family = AF_INET6;
  else return false;
  int max = out->family == AF_INET ? 32 : 128;
  out->prefix = max;
  if (slash) {
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    if (!slash[1] || *end || bits < 0 || bits > max) return false;
    out->prefix = (int)bits;
  }
  return true;
}

static bool prefix_equal(const unsigned char *a, const unsigned char *b, int bits) {
  int bytes = bits / 8, rest = bits % 8;
  if (memcmp(a, b, (size_t)bytes) != 0) return false;
  if (!rest) return true;
  unsigned char mask = (unsigned char)(0xff << (8 - rest));
  return (a[bytes] & mask) == (b[bytes] & mask);
}

bool sip_screen_network_valid(const char *text) {
  network net;
  return text && parse_network(text, &net);
}

bool sip_screen_source_allowed(char *const *networks, const char *ip) {
  network source;
  if (!ip || strchr(ip, '/') || !parse_network(ip, &source)) return false;
  static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (source.family == AF_INET6 && memcmp(source.addr, v4_mapped, 12) == 0) {
    memmove(source.addr, source.addr + 12, 4);
    source.family = AF_INET;
  }
  for (char *const *n = networks; n && *n; n++) {
    network net;
    if (parse_network(*n, &net) && net.family == source.family &&
        prefix_equal(net.addr, source.addr, net.prefix))
      return true;
  }
  return false;
}
