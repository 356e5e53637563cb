/* protocol: the JSON signaling contract of /ws (docs/protocol.md), parsing and validation.
 *
 * Every client->server message is checked against a table (type -> fields, their JSON types
 * and limits) before the session looks at it, so the session only ever sees well-formed
 * messages. Errors carry a machine code (the PROTO_ERR_* strings below, all listed in
 * docs/protocol.md) and a message a person can read.
 *
 * Pure code (jansson only); thread-safe. */
#ifndef TABPHONE_SIGNAL_PROTOCOL_H
#define TABPHONE_SIGNAL_PROTOCOL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum {
  MSG_LOGIN = 0,
  MSG_REGISTER,
  MSG_UNREGISTER,
  MSG_CALL,
  MSG_ACCEPT,
  MSG_REJECT,
  MSG_CANDIDATE,
  MSG_HANGUP,
  MSG_DTMF,
  MSG_HOLD,
  MSG_RESUME,
  MSG_TRANSFER,
  MSG_PING,
  MSG_PONG,
  MSG_REOFFER, /* ICE restart offer from the tab (docs/protocol.md "ICE restart") */
  MSG_TYPE_COUNT
} message_type;

const char *message_type_name(message_type type); /* "login", ... */

/* Machine error codes (stable: tests outside the repo match on them). */
#define PROTO_ERR_INVALID_JSON    "invalid_json"     /* not parsable, or not an object */
#define PROTO_ERR_MISSING_TYPE    "missing_type"     /* no "type" string */
#define PROTO_ERR_UNKNOWN_TYPE    "unknown_type"
#define PROTO_ERR_INVALID_FIELD   "invalid_field"    /* missing/wrong type/out of range */
#define PROTO_ERR_FRAME_TOO_LARGE "frame_too_large"  /* > 64 KiB */
#define PROTO_ERR_BINARY_FRAME    "binary_frame"     /* only text frames are understood */
#define PROTO_ERR_NOT_LOGGED_IN   "not_logged_in"
#define PROTO_ERR_ALREADY_LOGGED_IN "already_logged_in"
#define PROTO_ERR_LOGIN_FAILED    "login_failed"     /* generic: never says which part was wrong */
#define PROTO_ERR_UNKNOWN_ACCOUNT "unknown_account"
#define PROTO_ERR_NOT_ALLOWED     "not_allowed"      /* user may not use this account/feature */
#define PROTO_ERR_BYO_DISABLED    "byo_disabled"
#define PROTO_ERR_DOMAIN_NOT_ALLOWED "domain_not_allowed"
#define PROTO_ERR_ALREADY_REGISTERED "already_registered"
#define PROTO_ERR_NOT_REGISTERED  "not_registered"
#define PROTO_ERR_UNKNOWN_CALL   "unknown_call"      /* no such call_id in this tab */
#define PROTO_ERR_RATE_LIMITED    "rate_limited"      /* over [server] message_rate */
#define PROTO_ERR_TOO_MANY        "too_many"          /* per-session limit reached */
#define PROTO_ERR_NOT_IMPLEMENTED "not_implemented"   /* contract message this build cannot do yet */
#define PROTO_ERR_SHUTTING_DOWN   "server_shutting_down" /* SIGTERM drain: no new logins/calls */
#define PROTO_ERR_NOT_CONNECTED   "call_not_connected" /* reoffer before the media connected */
#define PROTO_ERR_BAD_REOFFER     "bad_reoffer"      /* reoffer SDP: unreadable, same ICE
                                                        credentials or another fingerprint */
#define PROTO_ERR_INTERNAL        "internal_error"

typedef struct protocol_error {
  const char *code;    /* one of PROTO_ERR_* */
  char message[256];   /* e.g. "field 'uri' must be a sip: or sips: URI" */
} protocol_error;

/* Parses text[0..len) (need not be NUL-terminated) as one client->server message and validates
 * it against the table. On success returns true, sets *type and *root (a new reference the
 * caller releases with json_decref). On failure returns false and fills err; *root is NULL
 * unless the text was a JSON object, in which case it is still returned so the caller can echo
 * "id"/"call_id" in the error (caller decrefs it). */
bool protocol_parse(const char *text, size_t len, message_type *type, json_t **root,
                    protocol_error *err);

/* Builds {"type":"error","id"?,"call_id"?,"code","message"} copying id and call_id from request
 * (which may be NULL). Returns a new reference. */
json_t *protocol_error_reply(const json_t *request, const char *code, const char *message);

/* Serialises a message compactly; returns a malloc'd string (free with free()). */
char *protocol_dump(const json_t *message);

/* Helpers for validated messages: the string field, or NULL when absent. */
const char *protocol_string(const json_t *message, const char *field);

#endif
