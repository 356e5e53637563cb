/* parse: SDP text -> sdp_session. The text comes from browsers and from SIP peers we do not
 * control, so this file is written to be fuzzed: it never writes past a field (a value too long
 * for its field is refused with an error, never truncated), refuses NUL bytes and texts over
 * SDP_MAX_TEXT, and explains every refusal in one printable line naming the SDP line.
 *
 * What it understands: v= (first), o=, s= (required), c= (session and media), t= (optional),
 * m=, and the attributes tabphone acts on (rtpmap, fmtp, rtcp, rtcp-mux, group:BUNDLE, mid,
 * direction, ptime, ice-ufrag/pwd, fingerprint, setup, candidate, end-of-candidates, crypto).
 * Everything else is skipped. Session-level c=, ICE credentials, fingerprint, setup, direction
 * and end-of-candidates apply to media that do not set their own. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdp/sdp_internal.h"

enum { SDP_MAX_TEXT = 65536 };

/* A slice of the input: never NUL-terminated, never written. */
typedef struct span {
  const char *p;
  size_t n;
} span;

/* Values set at session level that media inherit when they have none of their own. */
typedef struct session_attrs {
  char ice_ufrag[64];
  char ice_pwd[128];
  char fingerprint_alg[16];
  char fingerprint[200];
  char setup[12];
  char direction[12];
  bool end_of_candidates;
} session_attrs;

typedef struct parser {
  sdp_session *out;
  sdp_media *media; /* the m-section being read; NULL at session level */
  bool media_has_rtcp[SDP_MAX_MEDIA];
  bool has_origin;
  bool has_name;
  size_t line_no;
  session_attrs session;
  char *err;
  size_t err_len;
} parser;

/* ---- spans ---- */

static span span_of(const char *s) { return (span){s, strlen(s)}; }

static bool span_eq(span s, const char *lit) {
  size_t n = strlen(lit);
  return s.n == n && memcmp(s.p, lit, n) == 0;
}

static bool span_starts(span s, const char *lit) {
  size_t n = strlen(lit);
  return s.n >= n && memcmp(s.p, lit, n) == 0;
}

static span span_skip_spaces(span s) {
  while (s.n > 0 && (*s.p == ' ' || *s.p == '\t')) s.p++, s.n--;
  return s;
}

/* Splits off the next space-separated token of *rest. */
static span span_token(span *rest) {
  *rest = span_skip_spaces(*rest);
  span tok = {rest->p, 0};
  while (tok.n < rest->n && rest->p[tok.n] != ' ' && rest->p[tok.n] != '\t') tok.n++;
  rest->p += tok.n;
  rest->n -= tok.n;
  return tok;
}

/* Splits s at the first sep: *head before it, returns after it (empty when absent). */
static span span_split(span s, char sep, span *head) {
  const char *at = s.n ? memchr(s.p, sep, s.n) : NULL;
  if (at == NULL) {
    *head = s;
    return (span){s.p + s.n, 0};
  }
  *head = (span){s.p, (size_t)(at - s.p)};
  return (span){at + 1, s.n - (size_t)(at - s.p) - 1};
}

static bool span_copy(span s, char *dst, size_t size) {
  if (s.n >= size) return false;
  memcpy(dst, s.p, s.n);
  dst[s.n] = '\0';
  return true;
}

static bool span_ull(span s, unsigned long long *out) {
  if (s.n == 0 || s.n > 20) return false;
  unsigned long long v = 0;
  for (size_t i = 0; i < s.n; i++) {
    if (!isdigit((unsigned char)s.p[i])) return false;
    unsigned d = (unsigned)(s.p[i] - '0');
    if (v > (~0ULL - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

static bool span_int(span s, int min, int max, int *out) {
  unsigned long long v;
  if (!span_ull(s, &v) || v < (unsigned long long)min || v > (unsigned long long)max) return false;
  *out = (int)v;
  return true;
}

/* ---- errors ---- */

/* Copies at most 40 bytes of s into buf, replacing anything unprintable with '?'. */
static const char *quote(span s, char *buf, size_t size) {
  size_t n = s.n < 40 ? s.n : 40;
  if (n >= size) n = size - 1;
  for (size_t i = 0; i < n; i++) buf[i] = isprint((unsigned char)s.p[i]) ? s.p[i] : '?';
  buf[n] = '\0';
  return buf;
}

static bool fail(parser *ps, const char *what, span context) {
  char q[48];
  if (ps->line_no > 0)
    sdp_set_err(ps->err, ps->err_len, "SDP line %zu: %s (%s%s)", ps->line_no, what,
                quote(context, q, sizeof q), context.n > 40 ? "..." : "");
  else
    sdp_set_err(ps->err, ps->err_len, "SDP: %s", what);
  return false;
}

/* ---- session-level lines ---- */

static bool parse_origin(parser *ps, span value) {
  span rest = value, f[6];
  for (int i = 0; i < 6; i++) f[i] = span_token(&rest);
  if (f[5].n == 0 || span_skip_spaces(rest).n != 0)
    return fail(ps, "o= needs <user> <id> <version> IN IP4|IP6 <address>", value);
  if (!span_ull(f[1], &ps->out->origin_id) || !span_ull(f[2], &ps->out->origin_version))
    return fail(ps, "o= session id and version must be numbers", value);
  if (!span_copy(f[5], ps->out->origin_address, sizeof ps->out->origin_address))
    return fail(ps, "o= address too long", value);
  ps->has_origin = true;
  return true;
}

static bool parse_connection(parser *ps, span value) {
  span rest = value;
  span net = span_token(&rest), type = span_token(&rest), addr = span_token(&rest);
  if (!span_eq(net, "IN") || !(span_eq(type, "IP4") || span_eq(type, "IP6")) || addr.n == 0)
    return fail(ps, "c= needs IN IP4|IP6 <address>", value);
  span host;
  span_split(addr, '/', &host); /* drops a multicast /ttl */
  char *dst = ps->media ? ps->media->connection : ps->out->connection;
  if (host.n == 0 || !span_copy(host, dst, sizeof ps->out->connection))
    return fail(ps, "c= address empty or too long", value);
  return true;
}

/* ---- m= ---- */

/* Payload types with a fixed meaning (RFC 3551) that peers may leave without a=rtpmap. */
static void codec_static(int pt, sdp_codec *codec) {
  static const struct {
    int pt;
    const char *name;
  } table[] = {{0, "PCMU"}, {3, "GSM"}, {4, "G723"}, {8, "PCMA"},
               {9, "G722"}, {13, "CN"}, {18, "G729"}};
  codec->pt = pt;
  codec->channels = 1;
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    if (table[i].pt == pt) {
      snprintf(codec->name, sizeof codec->name, "%s", table[i].name);
      codec->clock_rate = 8000; /* G722 included: its RTP clock is 8000 (RFC 3551 4.5.2) */
    }
  }
}

static bool media_has_pt(const sdp_media *m, int pt) {
  for (size_t i = 0; i < m->codec_count; i++)
    if (m->codecs[i].pt == pt) return true;
  return false;
}

static bool media_is_rtp(const sdp_media *m) {
  return memmem(m->proto, strlen(m->proto), "RTP", 3) != NULL;
}

static bool parse_formats(parser *ps, sdp_media *m, span rest, span line) {
  bool rtp = media_is_rtp(m);
  for (span fmt = span_token(&rest); fmt.n > 0; fmt = span_token(&rest)) {
    if (!rtp) continue; /* e.g. webrtc-datachannel: nothing we carry */
    int pt;
    if (!span_int(fmt, 0, 127, &pt)) return fail(ps, "m= payload type must be 0-127", line);
    if (media_has_pt(m, pt)) continue;
    if (m->codec_count == SDP_MAX_CODECS) {
      if (strcmp(m->type, "audio") == 0) return fail(ps, "too many payload types (max 32)", line);
      continue; /* a rich video m-line: we only ever reject it, its codecs do not matter */
    }
    codec_static(pt, &m->codecs[m->codec_count++]);
  }
  return true;
}

static bool parse_media(parser *ps, span value) {
  if (ps->out->media_count == SDP_MAX_MEDIA) return fail(ps, "too many m= lines (max 8)", value);
  size_t index = ps->out->media_count;
  sdp_media *m = &ps->out->media[index];
  memset(m, 0, sizeof *m);
  span rest = value, port_field, type = span_token(&rest), port = span_token(&rest),
       proto = span_token(&rest);
  span_split(port, '/', &port_field); /* drops a /<number of ports> */
  if (proto.n == 0) return fail(ps, "m= needs <type> <port> <proto> <formats>", value);
  if (!span_copy(type, m->type, sizeof m->type)) return fail(ps, "m= type too long", value);
  if (!span_int(port_field, 0, 65535, &m->port)) return fail(ps, "m= port must be 0-65535", value);
  if (!span_copy(proto, m->proto, sizeof m->proto)) return fail(ps, "m= proto too long", value);
  if (!parse_formats(ps, m, rest, value)) return false;
  ps->media = m;
  ps->out->media_count++;
  return true;
}

/* ---- a= attributes of an m-section ---- */


/* Reads the pt that starts an rtpmap/fmtp value: -1 on a malformed pt, 0 when the m= line does
 * not list it (the attribute is then ignored), 1 with *codec set. */
static int codec_for(parser *ps, span *rest, span value, sdp_codec **codec) {
  int pt;
  if (!span_int(span_token(rest), 0, 127, &pt)) {
    fail(ps, "payload type must be 0-127", value);
    return -1;
  }
  for (size_t i = 0; i < ps->media->codec_count; i++) {
    if (ps->media->codecs[i].pt == pt) {
      *codec = &ps->media->codecs[i];
      return 1;
    }
  }
  return 0;
}

static bool parse_rtpmap(parser *ps, span value) {
  if (!media_is_rtp(ps->media)) return true;
  span rest = value;
  sdp_codec *c;
  int found = codec_for(ps, &rest, value, &c);
  if (found <= 0) return found == 0;
  span enc = span_skip_spaces(rest), name, clock;
  span channels = span_split(span_split(enc, '/', &name), '/', &clock);
  sdp_codec parsed = *c;
  if (name.n == 0 || !span_copy(name, parsed.name, sizeof parsed.name))
    return fail(ps, "a=rtpmap codec name empty or too long", value);
  if (!span_int(clock, 1, 10000000, &parsed.clock_rate))
    return fail(ps, "a=rtpmap needs <pt> <name>/<clock rate>[/<channels>]", value);
  parsed.channels = 1;
  if (channels.n > 0 && !span_int(channels, 1, 255, &parsed.channels))
    return fail(ps, "a=rtpmap channels must be 1-255", value);
  *c = parsed;
  return true;
}

static bool parse_fmtp(parser *ps, span value) {
  if (!media_is_rtp(ps->media)) return true;
  span rest = value;
  sdp_codec *c;
  int found = codec_for(ps, &rest, value, &c);
  if (found <= 0) return found == 0;
  if (!span_copy(span_skip_spaces(rest), c->fmtp, sizeof c->fmtp))
    return fail(ps, "a=fmtp parameters too long", value);
  return true;
}

static bool parse_rtcp(parser *ps, span value) {
  span rest = value;
  if (!span_int(span_token(&rest), 0, 65535, &ps->media->rtcp_port))
    return fail(ps, "a=rtcp port must be 0-65535", value);
  ps->media_has_rtcp[ps->out->media_count - 1] = true;
  return true;
}

static bool parse_ptime(parser *ps, span value) {
  span whole;
  span_split(span_skip_spaces(value), '.', &whole); /* "20.0" is seen in the wild */
  if (!span_int(whole, 1, 10000, &ps->media->ptime)) return fail(ps, "a=ptime must be a number", value);
  return true;
}

static bool parse_candidate(parser *ps, span attr) {
  sdp_media *m = ps->media;
  if (m->candidate_count == SDP_MAX_CANDIDATES) return fail(ps, "too many candidates (max 32)", attr);
  if (attr.n >= SDP_MAX_CANDIDATE_LINE) return fail(ps, "a=candidate too long", attr);
  char *line = malloc(attr.n + 1);
  if (line == NULL) return fail(ps, "out of memory", attr);
  span_copy(attr, line, attr.n + 1);
  m->candidates[m->candidate_count++] = line;
  return true;
}

/* A full list makes room for a usable line by dropping its first unusable one (the rest keep
 * the offerer's order): an offer that lists many suites, ours last, still gets SRTP. Beyond
 * that, extra lines are ignored, not refused. */
static bool make_room_for_crypto(sdp_media *m, const char *line) {
  const size_t max = sizeof m->crypto / sizeof m->crypto[0];
  if (m->crypto_count < max) return true;
  if (!sdp_crypto_usable(line)) return false;
  for (size_t i = 0; i < max; i++) {
    if (sdp_crypto_usable(m->crypto[i])) continue;
    memmove(m->crypto[i], m->crypto[i + 1], (max - 1 - i) * sizeof m->crypto[0]);
    m->crypto_count--;
    return true;
  }
  return false;
}

static bool parse_crypto(parser *ps, span value) {
  sdp_media *m = ps->media;
  char line[sizeof m->crypto[0]];
  if (!span_copy(value, line, sizeof line)) return fail(ps, "a=crypto too long", value);
  if (make_room_for_crypto(m, line)) memcpy(m->crypto[m->crypto_count++], line, sizeof line);
  explicit_bzero(line, sizeof line); /* it may hold a key */
  return true;
}

/* ---- attributes valid at both levels ---- */

static bool is_direction(span name) {
  return span_eq(name, "sendrecv") || span_eq(name, "sendonly") || span_eq(name, "recvonly") ||
         span_eq(name, "inactive");
}

static bool parse_fingerprint(parser *ps, span value, char *alg, size_t alg_len, char *fp,
                              size_t fp_len) {
  span rest = value, a = span_token(&rest), hex = span_token(&rest);
  char lower[16];
  if (hex.n == 0 || !span_copy(a, lower, sizeof lower) || hex.n >= fp_len)
    return fail(ps, "a=fingerprint needs <hash> <hex> of sane length", value);
  for (char *p = lower; *p; p++) *p = (char)tolower((unsigned char)*p);
  /* Keep a sha-256 fingerprint over any other hash the peer also lists. */
  if (alg[0] != '\0' && strcmp(alg, "sha-256") == 0 && strcmp(lower, "sha-256") != 0) return true;
  snprintf(alg, alg_len, "%s", lower);
  span_copy(hex, fp, fp_len);
  return true;
}

typedef struct shared_fields {
  char *ice_ufrag, *ice_pwd, *fingerprint_alg, *fingerprint, *setup, *direction;
  bool *end_of_candidates;
} shared_fields;

static bool copy_value(parser *ps, span value, char *dst, size_t size, const char *what) {
  if (!span_copy(span_skip_spaces(value), dst, size)) return fail(ps, what, value);
  return true;
}

/* Attributes that may appear at session level (and then are inherited) or in a media. */
static bool parse_shared(parser *ps, span name, span value, shared_fields f, bool *handled) {
  *handled = true;
  if (span_eq(name, "ice-ufrag")) return copy_value(ps, value, f.ice_ufrag, 64, "a=ice-ufrag too long");
  if (span_eq(name, "ice-pwd")) return copy_value(ps, value, f.ice_pwd, 128, "a=ice-pwd too long");
  if (span_eq(name, "setup")) return copy_value(ps, value, f.setup, 12, "a=setup value unknown");
  if (span_eq(name, "fingerprint"))
    return parse_fingerprint(ps, value, f.fingerprint_alg, 16, f.fingerprint, 200);
  if (is_direction(name)) return span_copy(name, f.direction, 12);
  if (span_eq(name, "end-of-candidates")) {
    *f.end_of_candidates = true;
    return true;
  }
  *handled = false;
  return true;
}

static bool parse_media_attribute(parser *ps, span name, span value, span attr) {
  sdp_media *m = ps->media;
  shared_fields f = {m->ice_ufrag, m->ice_pwd, m->fingerprint_alg, m->fingerprint,
                     m->setup,     m->direction, &m->end_of_candidates};
  bool handled;
  bool ok = parse_shared(ps, name, value, f, &handled);
  if (!ok || handled) return ok;
  if (span_eq(name, "rtpmap")) return parse_rtpmap(ps, value);
  if (span_eq(name, "fmtp")) return parse_fmtp(ps, value);
  if (span_eq(name, "rtcp")) return parse_rtcp(ps, value);
  if (span_eq(name, "rtcp-mux")) {
    m->rtcp_mux = true;
    return true;
  }
  if (span_eq(name, "mid")) {
    if (value.n == 0 || !span_copy(value, m->mid, sizeof m->mid))
      return fail(ps, "a=mid empty or too long", attr);
    return true;
  }
  if (span_eq(name, "ptime")) return parse_ptime(ps, value);
  if (span_eq(name, "candidate")) return parse_candidate(ps, attr);
  if (span_eq(name, "crypto")) return parse_crypto(ps, value);
  return true; /* an attribute we do not act on */
}

static bool parse_session_attribute(parser *ps, span name, span value) {
  session_attrs *s = &ps->session;
  shared_fields f = {s->ice_ufrag, s->ice_pwd, s->fingerprint_alg, s->fingerprint,
                     s->setup,     s->direction, &s->end_of_candidates};
  bool handled;
  if (!parse_shared(ps, name, value, f, &handled)) return false;
  if (!handled && span_eq(name, "group") && span_starts(value, "BUNDLE")) {
    span rest = value;
    if (span_eq(span_token(&rest), "BUNDLE")) ps->out->bundle = true;
  }
  return true;
}

static bool parse_attribute(parser *ps, span attr) {
  span name, value = span_split(attr, ':', &name);
  if (name.n == 0) return fail(ps, "empty attribute name", attr);
  if (ps->media) return parse_media_attribute(ps, name, value, attr);
  return parse_session_attribute(ps, name, value);
}

/* ---- lines ---- */

static bool has_control(span line) {
  for (size_t i = 0; i < line.n; i++)
    if (((unsigned char)line.p[i] < ' ' && line.p[i] != '\t') || line.p[i] == 0x7f) return true;
  return false;
}

static bool parse_line(parser *ps, span line) {
  if (has_control(line)) return fail(ps, "control character inside a line", line);
  if (line.n < 2 || line.p[1] != '=' || !islower((unsigned char)line.p[0]))
    return fail(ps, "expected <letter>=<value>", line);
  span value = {line.p + 2, line.n - 2};
  char type = line.p[0];
  if (ps->line_no == 1 && type != 'v') return fail(ps, "an SDP must start with v=0", line);
  switch (type) {
  case 'v':
    if (ps->line_no != 1 || !span_eq(value, "0")) return fail(ps, "v=0 must be the first line only", line);
    return true;
  case 'o':
    if (ps->media || ps->has_origin) return fail(ps, "o= must appear once, before m=", line);
    return parse_origin(ps, value);
  case 's':
    ps->has_name = true;
    return true;
  case 'c':
    return parse_connection(ps, value);
  case 'm':
    if (!ps->has_origin || !ps->has_name) return fail(ps, "o= and s= must come before m=", line);
    return parse_media(ps, value);
  case 'a':
    return parse_attribute(ps, value);
  default:
    return true; /* t=, b=, i=, ... carry nothing tabphone needs */
  }
}

/* Fills what media inherit from the session and the defaults the contract promises. */
static void inherit(parser *ps) {
  const session_attrs *s = &ps->session;
  for (size_t i = 0; i < ps->out->media_count; i++) {
    sdp_media *m = &ps->out->media[i];
    if (m->connection[0] == '\0') memcpy(m->connection, ps->out->connection, sizeof m->connection);
    if (!ps->media_has_rtcp[i]) m->rtcp_port = m->port == 0 ? 0 : m->port + 1;
    if (m->ice_ufrag[0] == '\0') memcpy(m->ice_ufrag, s->ice_ufrag, sizeof m->ice_ufrag);
    if (m->ice_pwd[0] == '\0') memcpy(m->ice_pwd, s->ice_pwd, sizeof m->ice_pwd);
    if (m->fingerprint[0] == '\0') {
      memcpy(m->fingerprint_alg, s->fingerprint_alg, sizeof m->fingerprint_alg);
      memcpy(m->fingerprint, s->fingerprint, sizeof m->fingerprint);
    }
    if (m->setup[0] == '\0') memcpy(m->setup, s->setup, sizeof m->setup);
    if (m->direction[0] == '\0')
      snprintf(m->direction, sizeof m->direction, "%s", s->direction[0] ? s->direction : "sendrecv");
    if (s->end_of_candidates) m->end_of_candidates = true;
  }
}

static span next_line(span *rest) {
  span line;
  *rest = span_split(*rest, '\n', &line);
  while (line.n > 0 && (line.p[line.n - 1] == '\r' || line.p[line.n - 1] == ' ' ||
                        line.p[line.n - 1] == '\t'))
    line.n--;
  return line;
}

bool sdp_parse(const char *text, size_t len, sdp_session *out, char *err, size_t err_len) {
  static char dummy_err[1];
  parser ps = {.out = out, .err = err_len ? err : dummy_err, .err_len = err_len ? err_len : 1};
  ps.err[0] = '\0';
  memset(out, 0, sizeof *out);
  if (text == NULL || len == 0) return fail(&ps, "empty SDP", span_of(""));
  if (len > SDP_MAX_TEXT) return fail(&ps, "SDP larger than 64 KiB", span_of(""));
  if (memchr(text, '\0', len)) return fail(&ps, "NUL byte in SDP", span_of(""));
  span rest = {text, len};
  while (rest.n > 0) {
    span line = next_line(&rest);
    if (line.n == 0) continue; /* blank lines, e.g. the trailing one */
    ps.line_no++;
    if (!parse_line(&ps, line)) {
      sdp_session_clear(out);
      return false;
    }
  }
  ps.line_no = 0;
  if (!ps.has_origin || !ps.has_name) {
    sdp_session_clear(out);
    return fail(&ps, ps.has_origin ? "missing s= line" : "missing o= line", span_of(""));
  }
  inherit(&ps);
  return true;
}

void sdp_session_clear(sdp_session *session) {
  if (session == NULL) return;
  for (size_t i = 0; i < session->media_count && i < SDP_MAX_MEDIA; i++)
    for (size_t j = 0; j < session->media[i].candidate_count; j++)
      free(session->media[i].candidates[j]);
  memset(session, 0, sizeof *session);
}

const sdp_media *sdp_audio(const sdp_session *session) {
  if (session == NULL) return NULL;
  for (size_t i = 0; i < session->media_count; i++)
    if (strcmp(session->media[i].type, "audio") == 0 && session->media[i].port != 0)
      return &session->media[i];
  return NULL;
}
