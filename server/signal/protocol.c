/* protocol: parsing and validation of the client->server messages of /ws (docs/protocol.md).
 *
 * Why this file exists: the session layer must only ever see well-formed messages, and a
 * browser (or anyone with a WebSocket client) must get an error it can act on, naming the field
 * that is wrong. So every message type has a row in MESSAGES below: its fields, each with a JSON
 * type, whether it is required, and its limits (length, range, allowed values, a syntax rule).
 * What a table cannot say (one field *or* another) is a small per-type rule function.
 *
 * Fields the table does not know are ignored, so a newer client can talk to an older server.
 * Strings are UTF-8 (jansson checks that) and never contain NUL (JSON_ALLOW_NUL is not set), so
 * callers may treat them as C strings. Lengths are counted in bytes. */
#include "signal/protocol.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum {
  MAX_FRAME = 64 * 1024,  /* a text frame larger than this is frame_too_large */
  MAX_DEPTH = 16,         /* nesting levels of objects/arrays, the message itself included */
  MAX_ID = 64,            /* request "id" when it is a string */
  MAX_NAME = 256,         /* user, account, username */
  MAX_URI = 256,
  MAX_PASSWORD = 1024,
  MAX_TOKEN = 4096,
  MAX_RESUME_TOKEN = 256,
  MAX_SDP = 64 * 1024,
  MAX_CALL_ID = 64,
  MAX_DIGITS = 64,
  MAX_CANDIDATE = 2048,
};

/* ---- syntax rules for string fields ---------------------------------------------------- */

typedef struct text_rule {
  bool (*accepts)(const char *s, size_t len);
  const char *description; /* completes "field 'x' must be ..." */
} text_rule;

static bool has_control_char(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return true;
  return false;
}

static bool has_prefix_nocase(const char *s, size_t len, const char *prefix) {
  size_t n = strlen(prefix);
  return len >= n && strncasecmp(s, prefix, n) == 0;
}

static bool accepts_single_line(const char *s, size_t len) {
  return !has_control_char(s, len);
}

/* "sip:x" or "sips:x": a scheme, something after it, no blanks or control characters. */
static bool accepts_sip_uri(const char *s, size_t len) {
  size_t scheme = 0;
  if (has_prefix_nocase(s, len, "sip:")) scheme = 4;
  else if (has_prefix_nocase(s, len, "sips:")) scheme = 5;
  if (scheme == 0 || len == scheme) return false;
  return !has_control_char(s, len) && !memchr(s, ' ', len);
}

/* A number as people type it: digits, + * #, and the separators "-. ()"; at least one digit. */
static bool accepts_dial_string(const char *s, size_t len) {
  bool digit = false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if ((c >= '0' && c <= '9') || c == '*' || c == '#') digit = true;
    else if (!strchr("+-. ()", c)) return false;
  }
  return digit;
}

/* A user name on the account's domain ("echo", "alice", "sales-1"). */
static bool accepts_user_name(const char *s, size_t len) {
  bool letter = false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) letter = true;
    else if (!((c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) return false;
  }
  return letter;
}

static bool accepts_call_target(const char *s, size_t len) {
  if (accepts_sip_uri(s, len)) return true;
  if (accepts_user_name(s, len)) return true;
  if (has_prefix_nocase(s, len, "tel:"))
    return len > 4 && !has_control_char(s, len) && !memchr(s, ' ', len);
  return accepts_dial_string(s, len);
}

static bool accepts_call_id(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

static bool accepts_dtmf(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (!strchr("0123456789*#ABCD", s[i])) return false;
  return true;
}

static const text_rule SINGLE_LINE = {accepts_single_line, "a single-line string"};
static const text_rule SIP_URI = {accepts_sip_uri, "a sip: or sips: URI"};
static const text_rule CALL_TARGET = {
    accepts_call_target, "a sip:, sips: or tel: URI, a number (0-9 + * # - . ( ) space) or a user name"};
static const text_rule CALL_ID = {accepts_call_id, "a call id (A-Z a-z 0-9 . _ -)"};
static const text_rule DTMF = {accepts_dtmf, "a string of DTMF digits (0-9 * # A-D)"};

/* ---- the table ------------------------------------------------------------------------- */

typedef enum { KIND_STRING, KIND_INTEGER, KIND_OBJECT } field_kind;

typedef struct field_spec {
  const char *name;
  field_kind kind;
  bool required;
  bool nullable;                   /* JSON null is accepted (means "none") */
  size_t min_len, max_len;         /* KIND_STRING, in bytes */
  json_int_t min, max;             /* KIND_INTEGER, inclusive */
  const char *const *choices;      /* KIND_STRING: allowed values, NULL-terminated */
  const text_rule *rule;           /* KIND_STRING: syntax */
  const struct field_spec *fields; /* KIND_OBJECT: its own table, ends with name == NULL */
} field_spec;

#define STR(n, req, lo, hi, r) {.name = n, .kind = KIND_STRING, .required = req, \
                                .min_len = lo, .max_len = hi, .rule = r}
#define INT(n, req, lo, hi) {.name = n, .kind = KIND_INTEGER, .required = req, .min = lo, .max = hi}
#define CALL_ID_FIELD(n, req) STR(n, req, 1, MAX_CALL_ID, &CALL_ID)
#define END {.name = NULL}

static const char *const TRANSPORTS[] = {"udp", "tcp", "tls", NULL};

/* RTCIceCandidateInit as the browser's RTCIceCandidate.toJSON() writes it. */
static const field_spec ICE_CANDIDATE[] = {
    STR("candidate", true, 0, MAX_CANDIDATE, &SINGLE_LINE),
    {.name = "sdpMid", .kind = KIND_STRING, .nullable = true, .max_len = MAX_ID,
     .rule = &SINGLE_LINE},
    {.name = "sdpMLineIndex", .kind = KIND_INTEGER, .nullable = true, .min = 0, .max = 65535},
    {.name = "usernameFragment", .kind = KIND_STRING, .nullable = true, .max_len = MAX_NAME,
     .rule = &SINGLE_LINE},
    END,
};

static const field_spec LOGIN[] = {
    STR("user", true, 1, MAX_NAME, &SINGLE_LINE),
    STR("password", false, 1, MAX_PASSWORD, NULL),
    STR("token", false, 1, MAX_TOKEN, &SINGLE_LINE),
    STR("resume", false, 1, MAX_RESUME_TOKEN, &SINGLE_LINE), /* from welcome.resume_token */
    END,
};
static const field_spec REGISTER[] = {
    STR("account", false, 1, MAX_NAME, &SINGLE_LINE),
    STR("uri", false, 1, MAX_URI, &SIP_URI),
    STR("username", false, 1, MAX_NAME, &SINGLE_LINE),
    STR("password", false, 1, MAX_PASSWORD, NULL),
    STR("display_name", false, 1, MAX_NAME, &SINGLE_LINE),
    STR("proxy", false, 1, MAX_URI, &SIP_URI),
    {.name = "transport", .kind = KIND_STRING, .min_len = 1, .max_len = 3, .choices = TRANSPORTS},
    INT("expires", false, 60, 86400),
    END,
};
static const field_spec UNREGISTER[] = {
    STR("account", false, 1, MAX_NAME, &SINGLE_LINE),
    STR("uri", false, 1, MAX_URI, &SIP_URI),
    END,
};
static const field_spec CALL[] = {
    CALL_ID_FIELD("call_id", true),
    STR("to", true, 1, MAX_URI, &CALL_TARGET),
    STR("from_account", false, 1, MAX_NAME, &SINGLE_LINE),
    STR("sdp", true, 1, MAX_SDP, NULL),
    END,
};
static const field_spec ACCEPT[] = {
    CALL_ID_FIELD("call_id", true),
    STR("sdp", true, 1, MAX_SDP, NULL),
    END,
};
static const field_spec REJECT[] = {
    CALL_ID_FIELD("call_id", true),
    INT("code", false, 400, 699),
    END,
};
static const field_spec CANDIDATE[] = {
    CALL_ID_FIELD("call_id", true),
    {.name = "candidate", .kind = KIND_OBJECT, .required = true, .nullable = true,
     .fields = ICE_CANDIDATE},
    END,
};
static const field_spec CALL_ONLY[] = {CALL_ID_FIELD("call_id", true), END};
static const field_spec DTMF_FIELDS[] = {
    CALL_ID_FIELD("call_id", true),
    STR("digits", true, 1, MAX_DIGITS, &DTMF),
    INT("duration_ms", false, 40, 2000),
    END,
};
static const field_spec TRANSFER[] = {
    CALL_ID_FIELD("call_id", true),
    STR("to", false, 1, MAX_URI, &CALL_TARGET),
    CALL_ID_FIELD("replaces", false),
    END,
};
static const field_spec REOFFER[] = {
    CALL_ID_FIELD("call_id", true),
    STR("sdp", true, 1, MAX_SDP, NULL),
    END,
};
static const field_spec NO_FIELDS[] = {END};

typedef bool (*cross_rule)(const json_t *message, protocol_error *err);

typedef struct message_spec {
  const char *name;
  const field_spec *fields;
  cross_rule rule; /* what a table cannot say; NULL when nothing */
} message_spec;

static bool login_rule(const json_t *message, protocol_error *err);
static bool register_rule(const json_t *message, protocol_error *err);
static bool unregister_rule(const json_t *message, protocol_error *err);
static bool transfer_rule(const json_t *message, protocol_error *err);

static const message_spec MESSAGES[MSG_TYPE_COUNT] = {
    [MSG_LOGIN] = {"login", LOGIN, login_rule},
    [MSG_REGISTER] = {"register", REGISTER, register_rule},
    [MSG_UNREGISTER] = {"unregister", UNREGISTER, unregister_rule},
    [MSG_CALL] = {"call", CALL, NULL},
    [MSG_ACCEPT] = {"accept", ACCEPT, NULL},
    [MSG_REJECT] = {"reject", REJECT, NULL},
    [MSG_CANDIDATE] = {"candidate", CANDIDATE, NULL},
    [MSG_HANGUP] = {"hangup", CALL_ONLY, NULL},
    [MSG_DTMF] = {"dtmf", DTMF_FIELDS, NULL},
    [MSG_HOLD] = {"hold", CALL_ONLY, NULL},
    [MSG_RESUME] = {"resume", CALL_ONLY, NULL},
    [MSG_TRANSFER] = {"transfer", TRANSFER, transfer_rule},
    [MSG_PING] = {"ping", NO_FIELDS, NULL},
    [MSG_PONG] = {"pong", NO_FIELDS, NULL},
    [MSG_REOFFER] = {"reoffer", REOFFER, NULL},
};

const char *message_type_name(message_type type) {
  if ((int)type < 0 || type >= MSG_TYPE_COUNT) return "unknown";
  return MESSAGES[type].name;
}

/* ---- errors ------------------------------------------------------------------------------ */

static bool fail(protocol_error *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(protocol_error *err, const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  err->code = code;
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  return false;
}

/* Says what a field must be, e.g. "an integer between 60 and 86400". */
static void describe(const field_spec *f, char *out, size_t out_len) {
  const char *or_null = f->nullable ? " or null" : "";
  if (f->kind == KIND_INTEGER) {
    snprintf(out, out_len, "an integer between %lld and %lld%s", (long long)f->min,
             (long long)f->max, or_null);
  } else if (f->kind == KIND_OBJECT) {
    snprintf(out, out_len, "an object%s", or_null);
  } else if (f->choices) {
    size_t used = (size_t)snprintf(out, out_len, "one of");
    for (size_t i = 0; f->choices[i] && used < out_len; i++)
      used += (size_t)snprintf(out + used, out_len - used, "%s %s", i ? "," : "", f->choices[i]);
  } else {
    snprintf(out, out_len, "%s of %zu to %zu bytes%s", f->rule ? f->rule->description : "a string",
             f->min_len, f->max_len, or_null);
  }
}

static bool fail_field(protocol_error *err, const char *prefix, const field_spec *f) {
  char what[160];
  describe(f, what, sizeof what);
  return fail(err, PROTO_ERR_INVALID_FIELD, "field '%s%s' must be %s", prefix, f->name, what);
}

/* ---- validation ------------------------------------------------------------------------ */

static bool present(const json_t *message, const char *name) {
  const json_t *v = json_object_get(message, name);
  return v && !json_is_null(v);
}

static bool string_ok(const field_spec *f, const json_t *v) {
  if (!json_is_string(v)) return false;
  const char *s = json_string_value(v);
  size_t len = json_string_length(v);
  if (len < f->min_len || len > f->max_len) return false;
  if (f->rule && !f->rule->accepts(s, len)) return false;
  if (!f->choices) return true;
  for (size_t i = 0; f->choices[i]; i++)
    if (strcmp(s, f->choices[i]) == 0) return true;
  return false;
}

static bool check_fields(const json_t *object, const field_spec *fields, const char *prefix,
                         protocol_error *err);

static bool check_field(const json_t *object, const field_spec *f, const char *prefix,
                        protocol_error *err) {
  const json_t *v = json_object_get(object, f->name);
  if (!v) {
    if (!f->required) return true;
    return fail(err, PROTO_ERR_INVALID_FIELD, "field '%s%s' is required", prefix, f->name);
  }
  if (json_is_null(v) && f->nullable) return true;
  switch (f->kind) {
  case KIND_STRING:
    return string_ok(f, v) || fail_field(err, prefix, f);
  case KIND_INTEGER:
    if (!json_is_integer(v) || json_integer_value(v) < f->min || json_integer_value(v) > f->max)
      return fail_field(err, prefix, f);
    return true;
  case KIND_OBJECT: {
    if (!json_is_object(v)) return fail_field(err, prefix, f);
    char inner[64];
    snprintf(inner, sizeof inner, "%s%s.", prefix, f->name);
    return check_fields(v, f->fields, inner, err);
  }
  }
  return fail(err, PROTO_ERR_INTERNAL, "field '%s%s' has no kind", prefix, f->name);
}

static bool check_fields(const json_t *object, const field_spec *fields, const char *prefix,
                         protocol_error *err) {
  for (const field_spec *f = fields; f->name; f++)
    if (!check_field(object, f, prefix, err)) return false;
  return true;
}

/* "id" is optional on every request: a short string or an integer, echoed in the reply. */
static bool id_ok(const json_t *id) {
  if (json_is_integer(id)) return true;
  return json_is_string(id) && json_string_length(id) >= 1 && json_string_length(id) <= MAX_ID;
}

static bool exactly_one(const json_t *message, const char *a, const char *b,
                        protocol_error *err) {
  bool has_a = present(message, a), has_b = present(message, b);
  if (has_a != has_b) return true;
  if (has_a)
    return fail(err, PROTO_ERR_INVALID_FIELD, "fields '%s' and '%s' cannot be combined", a, b);
  return fail(err, PROTO_ERR_INVALID_FIELD, "field '%s' or '%s' is required", a, b);
}

/* password, token or resume: exactly one. The first two keep their original wording. */
static bool login_rule(const json_t *message, protocol_error *err) {
  if (present(message, "resume")) {
    if (present(message, "password") || present(message, "token"))
      return fail(err, PROTO_ERR_INVALID_FIELD,
                  "field 'resume' cannot be combined with 'password' or 'token'");
    return true;
  }
  return exactly_one(message, "password", "token", err);
}

static bool unregister_rule(const json_t *message, protocol_error *err) {
  return exactly_one(message, "account", "uri", err);
}

static bool transfer_rule(const json_t *message, protocol_error *err) {
  return exactly_one(message, "to", "replaces", err);
}

/* A configured account ("account") or a bring-your-own one ("uri" + "username" + "password",
 * with optional "display_name", "proxy" and "transport"), never a mix. "expires" goes with
 * either. The first three of byo[] are the required ones. */
static bool register_rule(const json_t *message, protocol_error *err) {
  static const char *const byo[] = {"uri", "username", "password", "display_name", "proxy",
                                    "transport"};
  if (present(message, "account")) {
    for (size_t i = 0; i < sizeof byo / sizeof byo[0]; i++)
      if (present(message, byo[i]))
        return fail(err, PROTO_ERR_INVALID_FIELD, "fields 'account' and '%s' cannot be combined",
                    byo[i]);
    return true;
  }
  for (size_t i = 0; i < 3; i++)
    if (!present(message, byo[i]))
      return fail(err, PROTO_ERR_INVALID_FIELD,
                  "field '%s' is required (or give 'account' for a configured account)", byo[i]);
  return true;
}

/* True when no object/array inside value nests deeper than levels. */
static bool nesting_within(const json_t *value, int levels) {
  if (!json_is_object(value) && !json_is_array(value)) return true;
  if (levels == 0) return false;
  if (json_is_array(value)) {
    for (size_t i = 0; i < json_array_size(value); i++)
      if (!nesting_within(json_array_get(value, i), levels - 1)) return false;
    return true;
  }
  const char *key;
  const json_t *child;
  json_object_foreach((json_t *)value, key, child) {
    if (!nesting_within(child, levels - 1)) return false;
  }
  return true;
}

/* Copies text into out as printable ASCII: a jansson error may quote bytes of the input, and
 * the message must be valid UTF-8 to be sent back. */
static void printable_copy(char *out, size_t out_len, const char *text) {
  size_t i = 0;
  for (; text[i] && i + 1 < out_len; i++)
    out[i] = (text[i] >= 0x20 && text[i] < 0x7f) ? text[i] : '?';
  out[i] = '\0';
}

static bool find_type(const json_t *root, message_type *type, protocol_error *err) {
  const json_t *t = json_object_get(root, "type");
  if (!json_is_string(t))
    return fail(err, PROTO_ERR_MISSING_TYPE, "field 'type' must be a string naming the message");
  for (int i = 0; i < MSG_TYPE_COUNT; i++) {
    if (strcmp(json_string_value(t), MESSAGES[i].name) == 0) {
      *type = (message_type)i;
      return true;
    }
  }
  char shown[33];
  printable_copy(shown, sizeof shown, json_string_value(t));
  return fail(err, PROTO_ERR_UNKNOWN_TYPE, "unknown message type '%s'", shown);
}

static bool load(const char *text, size_t len, json_t **root, protocol_error *err) {
  if (!text) return fail(err, PROTO_ERR_INVALID_JSON, "empty message");
  if (len > MAX_FRAME)
    return fail(err, PROTO_ERR_FRAME_TOO_LARGE, "message of %zu bytes is larger than %d bytes",
                len, MAX_FRAME);
  if (memchr(text, '\0', len)) return fail(err, PROTO_ERR_INVALID_JSON, "NUL byte in message");
  json_error_t jerr;
  json_t *value = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
  if (!value) {
    char why[sizeof jerr.text];
    printable_copy(why, sizeof why, jerr.text);
    return fail(err, PROTO_ERR_INVALID_JSON, "invalid JSON at line %d column %d: %s", jerr.line,
                jerr.column, why);
  }
  if (!json_is_object(value)) {
    json_decref(value);
    return fail(err, PROTO_ERR_INVALID_JSON, "a message must be a JSON object");
  }
  *root = value;
  if (!nesting_within(value, MAX_DEPTH))
    return fail(err, PROTO_ERR_INVALID_JSON, "message nests deeper than %d levels", MAX_DEPTH);
  return true;
}

bool protocol_parse(const char *text, size_t len, message_type *type, json_t **root,
                    protocol_error *err) {
  *root = NULL;
  *type = MSG_TYPE_COUNT;
  err->code = NULL;
  err->message[0] = '\0';
  message_type found = MSG_TYPE_COUNT;
  if (!load(text, len, root, err) || !find_type(*root, &found, err)) return false;
  const json_t *id = json_object_get(*root, "id");
  if (id && !id_ok(id))
    return fail(err, PROTO_ERR_INVALID_FIELD,
                "field 'id' must be a string of 1 to %d bytes or an integer", MAX_ID);
  const message_spec *spec = &MESSAGES[found];
  if (!check_fields(*root, spec->fields, "", err)) return false;
  if (spec->rule && !spec->rule(*root, err)) return false;
  *type = found;
  return true;
}

/* ---- replies ----------------------------------------------------------------------------- */

static void echo_field(json_t *reply, const json_t *request, const char *name,
                       bool (*valid)(const json_t *)) {
  json_t *v = json_object_get(request, name);
  if (v && valid(v)) json_object_set(reply, name, v);
}

static bool call_id_ok(const json_t *v) {
  size_t len = json_string_length(v);
  return json_is_string(v) && len >= 1 && len <= MAX_CALL_ID &&
         accepts_call_id(json_string_value(v), len);
}

json_t *protocol_error_reply(const json_t *request, const char *code, const char *message) {
  json_t *reply = json_object();
  if (!reply) return NULL;
  json_object_set_new(reply, "type", json_string("error"));
  if (json_is_object(request)) {
    echo_field(reply, request, "id", id_ok);
    echo_field(reply, request, "call_id", call_id_ok);
  }
  json_object_set_new(reply, "code", json_string(code ? code : PROTO_ERR_INTERNAL));
  json_t *text = json_string(message ? message : "");
  if (!text) text = json_string("(error message was not valid UTF-8)");
  json_object_set_new(reply, "message", text);
  return reply;
}

char *protocol_dump(const json_t *message) {
  return message ? json_dumps(message, JSON_COMPACT) : NULL;
}

const char *protocol_string(const json_t *message, const char *field) {
  return json_string_value(json_object_get(message, field));
}
