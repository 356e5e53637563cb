/* crypto: SDES key lines (RFC 4568 a=crypto) for SRTP toward the SIP side.
 *
 *   a=crypto:<tag> <crypto-suite> inline:<base64(key||salt)>[|<lifetime>][|<MKI>:<length>]
 *            [;inline:...] [<session-params>]
 *
 * Three suites: AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32 (RFC 4568: 16-byte key,
 * 14-byte salt) and AEAD_AES_128_GCM (RFC 7714: 16-byte key, 12-byte salt). A line parses when
 * its tag, suite and first key are well formed; a lifetime ("2^31" or a number) and an MKI are
 * read and kept so that sdp_crypto_pick can decide: we never send an MKI, so a line whose key
 * carries one is skipped when we choose (the far end would expect MKI fields in every packet),
 * as is a line with session parameters (UNENCRYPTED_SRTP, KDR=... change how SRTP works and
 * we do not implement them). Further keys after ';' are ignored.
 *
 * The key material is a secret: nothing here logs, and err never quotes it.
 * Pure code: no I/O, no globals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdp/sdp_internal.h"

static const struct {
  sdp_srtp_suite suite;
  const char *name;
  size_t salt_len;
} suites[] = {
    {SDP_SRTP_AES_CM_128_HMAC_SHA1_80, "AES_CM_128_HMAC_SHA1_80", 14},
    {SDP_SRTP_AES_CM_128_HMAC_SHA1_32, "AES_CM_128_HMAC_SHA1_32", 14},
    {SDP_SRTP_AEAD_AES_128_GCM, "AEAD_AES_128_GCM", 12},
};

const char *sdp_srtp_suite_name(sdp_srtp_suite suite) {
  for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
    if (suites[i].suite == suite) return suites[i].name;
  return NULL;
}

size_t sdp_srtp_salt_len(sdp_srtp_suite suite) {
  for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
    if (suites[i].suite == suite) return suites[i].salt_len;
  return 0;
}

static sdp_srtp_suite suite_named(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
    if (strlen(suites[i].name) == len && strncmp(suites[i].name, name, len) == 0)
      return suites[i].suite;
  return SDP_SRTP_NONE;
}

/* memset that the compiler may not drop: the buffers hold key material. */
static void wipe(void *p, size_t len) {
  volatile unsigned char *v = p;
  while (len--) *v++ = 0;
}

/* ---- base64 (RFC 4648, with padding; RFC 4568 uses the standard alphabet) ---- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(char c) {
  const char *p = c ? strchr(b64_alphabet, c) : NULL;
  return p ? (int)(p - b64_alphabet) : -1;
}

/* Decodes exactly want bytes from text[0..len) (padding optional); false on anything else. */
static bool b64_decode_exact(const char *text, size_t len, unsigned char *out, size_t want) {
  while (len > 0 && text[len - 1] == '=') len--;
  if (len != (want * 4 + 2) / 3) return false;
  unsigned bits = 0, nbits = 0;
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    int v = b64_value(text[i]);
    if (v < 0) return false;
    bits = (bits << 6) | (unsigned)v;
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      if (n == want) return false;
      out[n++] = (unsigned char)(bits >> nbits);
      bits &= (1u << nbits) - 1;
    }
  }
  return n == want && bits == 0; /* leftover bits must be zero (canonical) */
}

static void b64_encode(const unsigned char *data, size_t len, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < len; i += 3) {
    unsigned v = (unsigned)data[i] << 16;
    if (i + 1 < len) v |= (unsigned)data[i + 1] << 8;
    if (i + 2 < len) v |= data[i + 2];
    out[o++] = b64_alphabet[(v >> 18) & 63];
    out[o++] = b64_alphabet[(v >> 12) & 63];
    out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
  }
  out[o] = '\0';
}

/* ---- parse ---- */

static bool all_digits(const char *s, size_t len) {
  if (len == 0) return false;
  for (size_t i = 0; i < len; i++)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

/* "|2^31" or "|12345" (lifetime) and "|1:4" (MKI value : length 1..128), in that order. */
static bool parse_key_params(const char *p, size_t len, sdp_crypto *out) {
  while (len > 0) {
    if (*p != '|') return false;
    p++, len--;
    size_t n = 0;
    while (n < len && p[n] != '|') n++;
    const char *colon = memchr(p, ':', n);
    if (colon) {
      size_t vlen = (size_t)(colon - p), llen = n - vlen - 1;
      if (!all_digits(p, vlen) || !all_digits(colon + 1, llen) || llen > 3 || vlen > 30)
        return false;
      int mki_len = atoi(colon + 1);
      if (mki_len < 1 || mki_len > 128) return false;
      out->mki_len = mki_len;
    } else if (n > 2 && strncmp(p, "2^", 2) == 0 && all_digits(p + 2, n - 2) && n - 2 <= 2) {
      out->has_lifetime = true;
    } else if (all_digits(p, n) && n <= 20) {
      out->has_lifetime = true;
    } else {
      return false;
    }
    p += n, len -= n;
  }
  return true;
}

static size_t token_len(const char *p) { return strcspn(p, " \t"); }
static const char *skip_blanks(const char *p) { return p + strspn(p, " \t"); }

bool sdp_crypto_parse(const char *value, sdp_crypto *out, char *err, size_t err_len) {
  memset(out, 0, sizeof *out);
  if (value == NULL) {
    sdp_set_err(err, err_len, "a=crypto: empty");
    return false;
  }
  const char *p = skip_blanks(value);
  size_t n = token_len(p);
  if (!all_digits(p, n) || n > 9) {
    sdp_set_err(err, err_len, "a=crypto: bad tag (1 to 9 digits expected)");
    return false;
  }
  out->tag = atoi(p);
  p = skip_blanks(p + n);
  n = token_len(p);
  out->suite = suite_named(p, n);
  if (out->suite == SDP_SRTP_NONE) {
    sdp_set_err(err, err_len, "a=crypto: unsupported suite '%.*s'", (int)(n > 40 ? 40 : n), p);
    return false;
  }
  p = skip_blanks(p + n);
  n = token_len(p);
  if (n < 7 || strncmp(p, "inline:", 7) != 0) {
    sdp_set_err(err, err_len, "a=crypto: key method must be inline:");
    return false;
  }
  const char *key = p + 7;
  size_t key_params_len = n - 7;
  const char *end_key = memchr(key, ';', key_params_len); /* more keys follow: use the first */
  if (end_key) key_params_len = (size_t)(end_key - key);
  size_t b64_len = strcspn(key, "|; \t");
  if (b64_len > key_params_len) b64_len = key_params_len;
  unsigned char master[SDP_SRTP_KEY_LEN + SDP_SRTP_SALT_MAX];
  size_t salt_len = sdp_srtp_salt_len(out->suite);
  if (!b64_decode_exact(key, b64_len, master, SDP_SRTP_KEY_LEN + salt_len)) {
    sdp_set_err(err, err_len, "a=crypto: the inline key is not %zu bytes of base64",
                SDP_SRTP_KEY_LEN + salt_len);
    wipe(master, sizeof master);
    return false;
  }
  memcpy(out->key, master, SDP_SRTP_KEY_LEN);
  memcpy(out->salt, master + SDP_SRTP_KEY_LEN, salt_len);
  wipe(master, sizeof master);
  if (!parse_key_params(key + b64_len, key_params_len - b64_len, out)) {
    wipe(out, sizeof *out);
    sdp_set_err(err, err_len, "a=crypto: bad lifetime or MKI after the key");
    return false;
  }
  p = skip_blanks(p + n);
  out->has_session_params = *p != '\0';
  return true;
}

bool sdp_crypto_print(const sdp_crypto *crypto, char *buf, size_t len) {
  const char *name = sdp_srtp_suite_name(crypto->suite);
  size_t salt_len = sdp_srtp_salt_len(crypto->suite);
  if (name == NULL || crypto->tag < 0 || crypto->tag > 999999999) return false;
  unsigned char master[SDP_SRTP_KEY_LEN + SDP_SRTP_SALT_MAX];
  char b64[64];
  memcpy(master, crypto->key, SDP_SRTP_KEY_LEN);
  memcpy(master + SDP_SRTP_KEY_LEN, crypto->salt, salt_len);
  b64_encode(master, SDP_SRTP_KEY_LEN + salt_len, b64);
  int n = snprintf(buf, len, "%d %s inline:%s", crypto->tag, name, b64);
  wipe(master, sizeof master);
  wipe(b64, sizeof b64);
  return n > 0 && (size_t)n < len;
}

bool sdp_crypto_usable(const char *value) {
  sdp_crypto c;
  bool usable = sdp_crypto_parse(value, &c, NULL, 0) && c.mki_len == 0 && !c.has_session_params;
  wipe(&c, sizeof c);
  return usable;
}

bool sdp_crypto_pick(const sdp_media *media, sdp_crypto *out) {
  for (size_t i = 0; media && i < media->crypto_count; i++) {
    if (sdp_crypto_parse(media->crypto[i], out, NULL, 0) && out->mki_len == 0 &&
        !out->has_session_params)
      return true;
  }
  wipe(out, sizeof *out);
  return false;
}

bool sdp_crypto_find(const sdp_media *media, int tag, sdp_srtp_suite suite, sdp_crypto *out) {
  for (size_t i = 0; media && i < media->crypto_count; i++) {
    if (sdp_crypto_parse(media->crypto[i], out, NULL, 0) && out->tag == tag &&
        out->suite == suite && out->mki_len == 0 && !out->has_session_params)
      return true;
  }
  wipe(out, sizeof *out);
  return false;
}

/* ---- rewriting our plain SDP ---- */

static bool is_line(const char *line, size_t len, const char *prefix) {
  size_t n = strlen(prefix);
  return len >= n && strncmp(line, prefix, n) == 0;
}

/* Adds "m=audio PORT <proto> FMTS" for the m-line line[0..len). */
static void add_m_line(sdp_text *text, const char *line, size_t len, const char *proto) {
  const char *port_end = memchr(line + 8, ' ', len - 8);            /* after "m=audio " */
  const char *proto_end = port_end ? memchr(port_end + 1, ' ', len - (size_t)(port_end + 1 - line))
                                   : NULL;
  if (!port_end) {
    text_add(text, "%.*s\r\n", (int)len, line);
    return;
  }
  const char *rest = proto_end ? proto_end : line + len;
  text_add(text, "%.*s %s%.*s\r\n", (int)(port_end - line), line, proto,
           (int)(line + len - rest), rest);
}

static void add_crypto_lines(sdp_text *text, const sdp_crypto *cryptos, size_t count) {
  for (size_t i = 0; i < count; i++) {
    char value[128];
    if (!sdp_crypto_print(&cryptos[i], value, sizeof value)) {
      text->failed = true;
      return;
    }
    text_add(text, "a=crypto:%s\r\n", value);
    wipe(value, sizeof value);
  }
}

bool sdp_plain_secure(const char *plain, const char *proto, const sdp_crypto *cryptos,
                      size_t count, char **out, char *err, size_t err_len) {
  *out = NULL;
  if (!plain || !proto || (strcmp(proto, "RTP/AVP") != 0 && strcmp(proto, "RTP/SAVP") != 0)) {
    sdp_set_err(err, err_len, "bad SDP or profile for SDES");
    return false;
  }
  sdp_text text = {0};
  bool in_audio = false, seen_audio = false;
  for (const char *line = plain; *line;) {
    size_t len = strcspn(line, "\r\n");
    const char *next = line + len;
    next += strspn(next, "\r\n");
    if (is_line(line, len, "m=")) {
      if (in_audio) add_crypto_lines(&text, cryptos, count);
      in_audio = !seen_audio && is_line(line, len, "m=audio ");
      seen_audio = seen_audio || in_audio;
      if (in_audio) add_m_line(&text, line, len, proto);
      else text_add(&text, "%.*s\r\n", (int)len, line);
    } else if (!(in_audio && is_line(line, len, "a=crypto:")) && len > 0) {
      text_add(&text, "%.*s\r\n", (int)len, line);
    }
    line = next;
  }
  if (in_audio) add_crypto_lines(&text, cryptos, count);
  if (!seen_audio) {
    free(text.buf);
    sdp_set_err(err, err_len, "our SDP has no audio m-line");
    return false;
  }
  return text_finish(&text, out, err, err_len);
}
