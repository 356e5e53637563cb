/* nat: see nat.h. */
#include "sip/nat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <glib.h>
#include <sofia-sip/hostdomain.h>
#include <sofia-sip/sip_header.h>

/* "[::1]" -> "::1"; false when it does not fit. */
static bool bare_host(const char *host, char *out, size_t len) {
  size_t n = strlen(host);
  if (host[0] == '[' && n > 2 && host[n - 1] == ']') host++, n -= 2;
  if (n == 0 || n >= len) return false;
  memcpy(out, host, n);
  out[n] = '\0';
  return true;
}

static int parse_port(const char *text) {
  if (!text || !*text) return 0;
  char *end = NULL;
  long port = strtol(text, &end, 10);
  return *end == '\0' && port > 0 && port < 65536 ? (int)port : -1;
}

sip_nat_verdict sip_nat_from_via(const sip_via_t *via, sip_public_address *out) {
  memset(out, 0, sizeof *out);
  if (!via || !via->v_host || (!via->v_received && !(via->v_rport && *via->v_rport)))
    return SIP_NAT_UNKNOWN;
  char sent_host[64];
  if (!bare_host(via->v_host, sent_host, sizeof sent_host)) return SIP_NAT_UNKNOWN;
  int sent_port = parse_port(via->v_port);
  if (sent_port < 0) return SIP_NAT_UNKNOWN;
  if (sent_port == 0)
    sent_port = via->v_protocol && !strcasecmp(via->v_protocol, sip_transport_tls) ? 5061 : 5060;
  const char *received = via->v_received && *via->v_received ? via->v_received : via->v_host;
  if (!bare_host(received, out->host, sizeof out->host) || !host_is_ip_address(out->host)) {
    memset(out, 0, sizeof *out);
    return SIP_NAT_UNKNOWN;
  }
  /* Over TCP/TLS the source port of a connection is always an ephemeral one, NAT or not: only
   * the address tells, and the Contact keeps our listening port (the registrar answers and
   * calls us on the connection our REGISTER opened; a new connection from outside would reach
   * that port only through a port forward). Over UDP the NAT's port is the one to register. */
  bool udp = !via->v_protocol || !strcasecmp(via->v_protocol, sip_transport_udp);
  int rport = udp ? parse_port(via->v_rport) : 0;
  out->port = rport > 0 ? rport : sent_port;
  if (!strcasecmp(out->host, sent_host) && out->port == sent_port) return SIP_NAT_NONE;
  return SIP_NAT_SEEN;
}

bool sip_public_address_equal(const sip_public_address *a, const sip_public_address *b) {
  return a->port == b->port && !strcasecmp(a->host, b->host);
}

void sip_public_address_format(const sip_public_address *a, char *out, size_t len) {
  snprintf(out, len, strchr(a->host, ':') ? "[%s]:%d" : "%s:%d", a->host, a->port);
}

/* The address field of an o= or c= line (its last token), if its family is family
 * ("IP4"/"IP6"): start and length in *at / *len. */
static bool address_field(const char *line, size_t n, const char *family, size_t *at,
                          size_t *len) {
  /* o=<username> <sess-id> <sess-version> IN IP4 <address>; c=IN IP4 <address>[/ttl] */
  char pattern[16];
  snprintf(pattern, sizeof pattern, " %s ", family);
  const char *in = g_strstr_len(line, (gssize)n, pattern);
  if (!in) return false;
  size_t start = (size_t)(in - line) + strlen(pattern);
  size_t end = start;
  while (end < n && line[end] != ' ' && line[end] != '/') end++;
  if (end == start) return false;
  *at = start;
  *len = end - start;
  return true;
}

static bool is_unspecified(const char *field, size_t len) {
  return (len == 7 && !strncmp(field, "0.0.0.0", 7)) || (len == 2 && !strncmp(field, "::", 2));
}

char *sip_nat_sdp(const char *sdp, const char *address) {
  if (!sdp || !address || !*address) return NULL;
  const char *family = strchr(address, ':') ? "IP6" : "IP4";
  GString *out = g_string_sized_new(strlen(sdp) + 32);
  bool changed = false;
  for (const char *line = sdp; *line;) {
    const char *nl = strchr(line, '\n');
    size_t n = nl ? (size_t)(nl - line) + 1 : strlen(line);
    size_t body = n;
    while (body > 0 && (line[body - 1] == '\n' || line[body - 1] == '\r')) body--;
    size_t at, len;
    bool rewrite = (!strncmp(line, "o=", 2) || !strncmp(line, "c=", 2)) &&
                   address_field(line, body, family, &at, &len) &&
                   !(line[0] == 'c' && is_unspecified(line + at, len)) &&
                   !(len == strlen(address) && !strncmp(line + at, address, len));
    if (rewrite) {
      g_string_append_len(out, line, (gssize)at);
      g_string_append(out, address);
      g_string_append_len(out, line + at + len, (gssize)(n - at - len));
      changed = true;
    } else {
      g_string_append_len(out, line, (gssize)n);
    }
    line += n;
  }
  if (!changed) {
    g_string_free(out, TRUE);
    return NULL;
  }
  return g_string_free(out, FALSE);
}
