/* fuzz_protocol: libFuzzer target for signal/protocol.c, the first code that touches bytes a
 * browser (or anyone who can open /ws) sends.
 *
 * Each input is one text frame. Besides the sanitizers' checks, it asserts the contract of
 * protocol.h: success gives an object and a known type; failure gives a code and a message,
 * a root only when the input was an object; an error reply can always be built and dumped. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "signal/protocol.h"

static void check(int condition) {
  if (!condition) abort();
}

static void reply_and_free(const json_t *request, const char *code, const char *message) {
  json_t *reply = protocol_error_reply(request, code, message);
  check(reply != NULL);
  char *text = protocol_dump(reply);
  check(text != NULL);
  free(text);
  json_decref(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  message_type type;
  json_t *root = NULL;
  protocol_error err;
  if (protocol_parse((const char *)data, size, &type, &root, &err)) {
    check(json_is_object(root));
    check(type < MSG_TYPE_COUNT);
    check(strcmp(message_type_name(type), "unknown") != 0);
    char *text = protocol_dump(root);
    check(text != NULL);
    free(text);
    reply_and_free(root, PROTO_ERR_NOT_IMPLEMENTED, "not implemented yet");
  } else {
    check(err.code != NULL);
    check(err.message[0] != '\0');
    check(root == NULL || json_is_object(root));
    reply_and_free(root, err.code, err.message);
  }
  json_decref(root);
  return 0;
}
