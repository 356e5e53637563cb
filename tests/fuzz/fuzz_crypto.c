/* fuzz_crypto: libFuzzer target for SDES key lines (sdp/crypto.c, RFC 4568 a=crypto) as they
 * arrive from a SIP far end: the line parser on its own, and whole SDP bodies whose a=crypto
 * lines are picked (sdp_crypto_pick / sdp_crypto_find) and printed back.
 *
 * Input: byte 0 selects the mode: even = the rest is one a=crypto value, odd = the rest is an
 * SDP body. A parsed line must print back to a line that parses to the same values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sdp/sdp.h"

static void roundtrip(const sdp_crypto *c) {
  char line[256];
  if (!sdp_crypto_print(c, line, sizeof line)) abort();
  sdp_crypto again;
  char err[128];
  if (!sdp_crypto_parse(line, &again, err, sizeof err)) abort();
  if (again.tag != c->tag || again.suite != c->suite ||
      memcmp(again.key, c->key, sizeof c->key) != 0 ||
      memcmp(again.salt, c->salt, sdp_srtp_salt_len(c->suite)) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 8192) return 0;
  char *text = malloc(size);
  memcpy(text, data + 1, size - 1);
  text[size - 1] = '\0';
  char err[256];
  if (data[0] % 2 == 0) {
    sdp_crypto c;
    if (sdp_crypto_parse(text, &c, err, sizeof err)) {
      if (sdp_srtp_suite_name(c.suite) == NULL) abort();
      roundtrip(&c);
    } else if (err[0] == '\0') {
      abort();
    }
  } else {
    sdp_session s;
    if (sdp_parse(text, size - 1, &s, err, sizeof err)) {
      const sdp_media *audio = sdp_audio(&s);
      sdp_crypto c;
      if (audio && sdp_crypto_pick(audio, &c)) {
        roundtrip(&c);
        sdp_crypto found;
        if (!sdp_crypto_find(audio, c.tag, c.suite, &found)) abort();
      }
      sdp_session_clear(&s);
    }
  }
  free(text);
  return 0;
}
