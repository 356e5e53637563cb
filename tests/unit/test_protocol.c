/* test_protocol: the client->server half of the /ws contract (signal/protocol.h,
 * docs/protocol.md), one behaviour per test case. */
#include <glib.h>
#include <string.h>

#include "signal/protocol.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static json_t *parse_len(const char *text, size_t len, message_type expected) {
  message_type type;
  json_t *root = NULL;
  protocol_error err;
  if (!protocol_parse(text, len, &type, &root, &err))
    g_error("rejected %.200s: %s: %s", text, err.code, err.message);
  g_assert_nonnull(root);
  g_assert_cmpint(type, ==, expected);
  return root;
}

static void accepts(const char *text, message_type expected) {
  json_decref(parse_len(text, strlen(text), expected));
}

/* Asserts text is rejected with code and a message containing fragment (if not NULL). */
static void rejects_len(const char *text, size_t len, const char *code, const char *fragment) {
  message_type type;
  json_t *root = NULL;
  protocol_error err;
  if (protocol_parse(text, len, &type, &root, &err))
    g_error("accepted %.200s (expected %s)", text, code);
  g_assert_cmpstr(err.code, ==, code);
  g_assert_cmpuint(strlen(err.message), >, 0);
  if (fragment && !strstr(err.message, fragment))
    g_error("message \"%s\" does not contain \"%s\"", err.message, fragment);
  json_decref(root);
}

static void rejects(const char *text, const char *code, const char *fragment) {
  rejects_len(text, strlen(text), code, fragment);
}

static void invalid_field(const char *text, const char *fragment) {
  rejects(text, PROTO_ERR_INVALID_FIELD, fragment);
}

/* ---- a minimal valid message of each type ------------------------------------------------ */

typedef struct minimal_case {
  message_type type;
  const char *text;
} minimal_case;

static const minimal_case MINIMAL[] = {
    {MSG_LOGIN, "{\"type\":\"login\",\"user\":\"alice\",\"password\":\"pw\"}"},
    {MSG_REGISTER, "{\"type\":\"register\",\"account\":\"office\"}"},
    {MSG_UNREGISTER, "{\"type\":\"unregister\",\"account\":\"office\"}"},
    {MSG_CALL, "{\"type\":\"call\",\"call_id\":\"c1\",\"to\":\"sip:bob@example.com\","
               "\"sdp\":\"v=0\\r\\n\"}"},
    {MSG_ACCEPT, "{\"type\":\"accept\",\"call_id\":\"c1\",\"sdp\":\"v=0\\r\\n\"}"},
    {MSG_REJECT, "{\"type\":\"reject\",\"call_id\":\"c1\"}"},
    {MSG_CANDIDATE, "{\"type\":\"candidate\",\"call_id\":\"c1\",\"candidate\":null}"},
    {MSG_HANGUP, "{\"type\":\"hangup\",\"call_id\":\"c1\"}"},
    {MSG_DTMF, "{\"type\":\"dtmf\",\"call_id\":\"c1\",\"digits\":\"1\"}"},
    {MSG_HOLD, "{\"type\":\"hold\",\"call_id\":\"c1\"}"},
    {MSG_RESUME, "{\"type\":\"resume\",\"call_id\":\"c1\"}"},
    {MSG_TRANSFER, "{\"type\":\"transfer\",\"call_id\":\"c1\",\"to\":\"sip:carol@example.com\"}"},
    {MSG_PING, "{\"type\":\"ping\"}"},
    {MSG_PONG, "{\"type\":\"pong\"}"},
    {MSG_REOFFER, "{\"type\":\"reoffer\",\"call_id\":\"c1\",\"sdp\":\"v=0\\r\\n\"}"},
};

static void test_minimal_message_is_accepted(gconstpointer data) {
  const minimal_case *c = data;
  accepts(c->text, c->type);
}

/* ---- full messages ----------------------------------------------------------------------- */

static void test_full_messages_are_accepted(void) {
  accepts("{\"type\":\"login\",\"id\":1,\"user\":\"alice\",\"token\":\"abc.def\"}", MSG_LOGIN);
  accepts("{\"type\":\"register\",\"id\":\"r1\",\"uri\":\"sips:me@example.org\","
          "\"username\":\"me\",\"password\":\"p:w\",\"display_name\":\"Me\","
          "\"proxy\":\"sip:pbx.example.org:5061\","
          "\"transport\":\"tls\",\"expires\":600}",
          MSG_REGISTER);
  accepts("{\"type\":\"register\",\"account\":\"office\",\"expires\":60}", MSG_REGISTER);
  accepts("{\"type\":\"unregister\",\"uri\":\"sip:me@example.org\"}", MSG_UNREGISTER);
  accepts("{\"type\":\"call\",\"call_id\":\"A-z_0.9\",\"to\":\"+1 (555) 010-0199\","
          "\"from_account\":\"office\",\"sdp\":\"v=0\"}",
          MSG_CALL);
  accepts("{\"type\":\"call\",\"call_id\":\"c2\",\"to\":\"tel:+15550100\",\"sdp\":\"v=0\"}",
          MSG_CALL);
  accepts("{\"type\":\"call\",\"call_id\":\"c3\",\"to\":\"*97#\",\"sdp\":\"v=0\"}", MSG_CALL);
  accepts("{\"type\":\"reject\",\"call_id\":\"c1\",\"code\":486}", MSG_REJECT);
  accepts("{\"type\":\"candidate\",\"call_id\":\"c1\",\"candidate\":{\"candidate\":"
          "\"candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host\",\"sdpMid\":\"0\","
          "\"sdpMLineIndex\":0,\"usernameFragment\":null}}",
          MSG_CANDIDATE);
  accepts("{\"type\":\"dtmf\",\"call_id\":\"c1\",\"digits\":\"0123456789*#ABCD\","
          "\"duration_ms\":2000}",
          MSG_DTMF);
  accepts("{\"type\":\"transfer\",\"call_id\":\"c1\",\"replaces\":\"c2\"}", MSG_TRANSFER);
}

static void test_unknown_fields_are_ignored(void) {
  accepts("{\"type\":\"ping\",\"future\":{\"a\":[1,2,3]},\"x\":null}", MSG_PING);
  accepts("{\"type\":\"hangup\",\"call_id\":\"c1\",\"reason\":\"bye\"}", MSG_HANGUP);
}

static void test_text_need_not_be_nul_terminated(void) {
  const char buf[] = "{\"type\":\"ping\"}GARBAGE";
  json_decref(parse_len(buf, strlen("{\"type\":\"ping\"}"), MSG_PING));
}

/* ---- error codes ----------------------------------------------------------------------- */

static void test_syntax_error_is_invalid_json(void) {
  rejects("{\"type\":\"ping\"", PROTO_ERR_INVALID_JSON, "line 1");
  rejects("", PROTO_ERR_INVALID_JSON, NULL);
  rejects("ping", PROTO_ERR_INVALID_JSON, NULL);
  rejects("{\"type\":\"ping\"} {}", PROTO_ERR_INVALID_JSON, NULL);
  rejects("{'type':'ping'}", PROTO_ERR_INVALID_JSON, NULL);
}

static void test_non_object_is_invalid_json(void) {
  rejects("[{\"type\":\"ping\"}]", PROTO_ERR_INVALID_JSON, "object");
  rejects("\"ping\"", PROTO_ERR_INVALID_JSON, "object");
  rejects("42", PROTO_ERR_INVALID_JSON, "object");
  rejects("null", PROTO_ERR_INVALID_JSON, "object");
}

static void test_non_object_returns_no_root(void) {
  message_type type;
  json_t *root = (json_t *)1;
  protocol_error err;
  g_assert_false(protocol_parse("[1]", 3, &type, &root, &err));
  g_assert_null(root);
}

static void test_null_text_is_invalid_json(void) {
  rejects_len(NULL, 0, PROTO_ERR_INVALID_JSON, NULL);
}

static void test_missing_type(void) {
  rejects("{}", PROTO_ERR_MISSING_TYPE, "'type'");
  rejects("{\"id\":1}", PROTO_ERR_MISSING_TYPE, NULL);
  rejects("{\"type\":7}", PROTO_ERR_MISSING_TYPE, NULL);
  rejects("{\"type\":null}", PROTO_ERR_MISSING_TYPE, NULL);
  rejects("{\"type\":[\"ping\"]}", PROTO_ERR_MISSING_TYPE, NULL);
}

static void test_unknown_type(void) {
  rejects("{\"type\":\"dance\"}", PROTO_ERR_UNKNOWN_TYPE, "'dance'");
  rejects("{\"type\":\"PING\"}", PROTO_ERR_UNKNOWN_TYPE, NULL);
  rejects("{\"type\":\"welcome\"}", PROTO_ERR_UNKNOWN_TYPE, NULL); /* server->client only */
  rejects("{\"type\":\"\"}", PROTO_ERR_UNKNOWN_TYPE, NULL);
}

static void test_unknown_type_message_is_short_and_printable(void) {
  char text[600];
  snprintf(text, sizeof text, "{\"type\":\"%s\\u0001\\u00e9\"}",
           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
  message_type type;
  json_t *root = NULL;
  protocol_error err;
  g_assert_false(protocol_parse(text, strlen(text), &type, &root, &err));
  g_assert_cmpstr(err.code, ==, PROTO_ERR_UNKNOWN_TYPE);
  g_assert_cmpuint(strlen(err.message), <, 80);
  for (const char *c = err.message; *c; c++) g_assert_true(*c >= 0x20 && *c < 0x7f);
  json_decref(root);
}

static void test_frame_too_large(void) {
  size_t len = 64 * 1024 + 1;
  char *big = g_malloc(len);
  memset(big, ' ', len);
  memcpy(big, "{\"type\":\"ping\"}", 15);
  rejects_len(big, len, PROTO_ERR_FRAME_TOO_LARGE, NULL);
  json_decref(parse_len(big, len - 1, MSG_PING)); /* exactly 64 KiB is fine */
  g_free(big);
}

static void test_missing_required_field(void) {
  invalid_field("{\"type\":\"login\",\"password\":\"pw\"}", "field 'user' is required");
  invalid_field("{\"type\":\"call\",\"call_id\":\"c1\",\"to\":\"123\"}", "field 'sdp' is required");
  invalid_field("{\"type\":\"hangup\"}", "field 'call_id' is required");
  invalid_field("{\"type\":\"candidate\",\"call_id\":\"c1\"}", "field 'candidate' is required");
  invalid_field("{\"type\":\"candidate\",\"call_id\":\"c1\",\"candidate\":{}}",
                "field 'candidate.candidate' is required");
}

/* ---- field limits ---------------------------------------------------------------------- */

static void test_integer_out_of_range(void) {
  invalid_field("{\"type\":\"register\",\"account\":\"a\",\"expires\":59}",
                "field 'expires' must be an integer between 60 and 86400");
  invalid_field("{\"type\":\"register\",\"account\":\"a\",\"expires\":86401}", "'expires'");
  invalid_field("{\"type\":\"reject\",\"call_id\":\"c1\",\"code\":399}",
                "field 'code' must be an integer between 400 and 699");
  invalid_field("{\"type\":\"reject\",\"call_id\":\"c1\",\"code\":700}", "'code'");
  invalid_field("{\"type\":\"dtmf\",\"call_id\":\"c1\",\"digits\":\"1\",\"duration_ms\":39}",
                "between 40 and 2000");
  invalid_field("{\"type\":\"dtmf\",\"call_id\":\"c1\",\"digits\":\"1\",\"duration_ms\":2001}",
                "'duration_ms'");
  invalid_field("{\"type\":\"candidate\",\"call_id\":\"c1\",\"candidate\":{\"candidate\":\"\","
                "\"sdpMLineIndex\":-1}}",
                "'candidate.sdpMLineIndex'");
}

static void test_huge_numbers(void) {
  invalid_field("{\"type\":\"register\",\"account\":\"a\",\"expires\":9223372036854775807}",
                "'expires'");
  invalid_field("{\"type\":\"register\",\"account\":\"a\",\"expires\":-9223372036854775808}",
                "'expires'");
  rejects("{\"type\":\"register\",\"account\":\"a\",\"expires\":99999999999999999999}",
          PROTO_ERR_INVALID_JSON, NULL);
  rejects("{\"type\":\"register\",\"account\":\"a\",\"expires\":1e400}", PROTO_ERR_INVALID_JSON,
          NULL);
  invalid_field("{\"type\":\"register\",\"account\":\"a\",\"expires\":1e300}", "'expires'");
  accepts("{\"type\":\"ping\",\"id\":9223372036854775807}", MSG_PING);
}

static void test_wrong_json_types(void) {
  invalid_field("{\"type\":\"login\",\"user\":42,\"password\":\"pw\"}", "field 'user' must be");
  invalid_field("{\"type\":\"login\",\"user\":null,\"password\":\"pw\"}", "'user'");
  invalid_field("{\"type\":\"login\",\"user\":\"a\",\"password\":true}", "'password'");
  invalid_field("{\"type\":\"register\",\"account\":\"a\",\"expires\":\"3600\"}", "'expires'");
  invalid_field("{\"type\":\"register\",\"account\":\"a\",\"expires\":3600.0}", "'expires'");
  invalid_field("{\"type\":\"reject\",\"call_id\":\"c1\",\"code\":\"486\"}", "'code'");
  invalid_field("{\"type\":\"accept\",\"call_id\":\"c1\",\"sdp\":[\"v=0\"]}", "'sdp'");
  invalid_field("{\"type\":\"hangup\",\"call_id\":1}", "'call_id'");
  invalid_field("{\"type\":\"candidate\",\"call_id\":\"c1\",\"candidate\":\"a=candidate\"}",
                "field 'candidate' must be an object or null");
  invalid_field("{\"type\":\"candidate\",\"call_id\":\"c1\",\"candidate\":[]}", "'candidate'");
}

static void test_string_length_limits(void) {
  char text[2048];
  char user[300];
  memset(user, 'u', 256);
  user[256] = '\0';
  snprintf(text, sizeof text, "{\"type\":\"login\",\"user\":\"%s\",\"password\":\"x\"}", user);
  accepts(text, MSG_LOGIN);
  strcat(user, "u");
  snprintf(text, sizeof text, "{\"type\":\"login\",\"user\":\"%s\",\"password\":\"x\"}", user);
  invalid_field(text, "field 'user' must be a single-line string of 1 to 256 bytes");
  invalid_field("{\"type\":\"login\",\"user\":\"\",\"password\":\"x\"}", "'user'");
  invalid_field("{\"type\":\"hangup\",\"call_id\":\"\"}", "'call_id'");
  invalid_field("{\"type\":\"hangup\",\"call_id\":"
                "\"0123456789012345678901234567890123456789012345678901234567890123X\"}",
                "of 1 to 64 bytes");
}

static void test_transport_must_be_known(void) {
  const char *base = "{\"type\":\"register\",\"uri\":\"sip:a@b\",\"username\":\"a\","
                     "\"password\":\"p\",\"transport\":\"%s\"}";
  char text[256];
  const char *good[] = {"udp", "tcp", "tls"};
  for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
    snprintf(text, sizeof text, base, good[i]);
    accepts(text, MSG_REGISTER);
  }
  snprintf(text, sizeof text, base, "UDP");
  invalid_field(text, "field 'transport' must be one of udp, tcp, tls");
  snprintf(text, sizeof text, base, "sctp");
  invalid_field(text, "'transport'");
}

static void test_uri_must_be_sip(void) {
  invalid_field("{\"type\":\"unregister\",\"uri\":\"http://x\"}",
                "field 'uri' must be a sip: or sips: URI");
  invalid_field("{\"type\":\"unregister\",\"uri\":\"sip:\"}", "'uri'");
  invalid_field("{\"type\":\"unregister\",\"uri\":\"sip:a b@c\"}", "'uri'");
  invalid_field("{\"type\":\"unregister\",\"uri\":\"tel:+1555\"}", "'uri'");
  accepts("{\"type\":\"unregister\",\"uri\":\"SIP:a@b\"}", MSG_UNREGISTER);
}

static void test_call_target_syntax(void) {
  accepts("{\"type\":\"call\",\"call_id\":\"c\",\"to\":\"echo\",\"sdp\":\"v=0\"}", MSG_CALL);
  invalid_field("{\"type\":\"call\",\"call_id\":\"c\",\"to\":\"bo b@x\",\"sdp\":\"v=0\"}",
                "field 'to' must be a sip:, sips: or tel: URI, a number");
  invalid_field("{\"type\":\"call\",\"call_id\":\"c\",\"to\":\"--\",\"sdp\":\"v=0\"}", "'to'");
  invalid_field("{\"type\":\"call\",\"call_id\":\"c\",\"to\":\"tel:\",\"sdp\":\"v=0\"}", "'to'");
  invalid_field("{\"type\":\"transfer\",\"call_id\":\"c\",\"to\":\"mailto:x\"}", "'to'");
}

static void test_call_id_syntax(void) {
  invalid_field("{\"type\":\"hangup\",\"call_id\":\"a b\"}", "field 'call_id' must be a call id");
  invalid_field("{\"type\":\"hangup\",\"call_id\":\"a/b\"}", "'call_id'");
  invalid_field("{\"type\":\"hangup\",\"call_id\":\"\\u00e9\"}", "'call_id'");
  invalid_field("{\"type\":\"transfer\",\"call_id\":\"c1\",\"replaces\":\"x y\"}", "'replaces'");
}

static void test_dtmf_digits(void) {
  invalid_field("{\"type\":\"dtmf\",\"call_id\":\"c1\",\"digits\":\"\"}", "'digits'");
  invalid_field("{\"type\":\"dtmf\",\"call_id\":\"c1\",\"digits\":\"12a\"}",
                "field 'digits' must be a string of DTMF digits");
  invalid_field("{\"type\":\"dtmf\",\"call_id\":\"c1\",\"digits\":\"E\"}", "'digits'");
  invalid_field("{\"type\":\"dtmf\",\"call_id\":\"c1\",\"digits\":"
                "\"01234567890123456789012345678901234567890123456789012345678901234\"}",
                "1 to 64 bytes");
}

static void test_control_characters_in_names_are_rejected(void) {
  invalid_field("{\"type\":\"login\",\"user\":\"al\\nice\",\"password\":\"x\"}", "'user'");
  invalid_field("{\"type\":\"register\",\"account\":\"a\\u007f\"}", "'account'");
  invalid_field("{\"type\":\"register\",\"uri\":\"sip:a@b\",\"username\":\"a\","
                "\"password\":\"p\",\"display_name\":\"A\\r\\nVia: x\"}",
                "'display_name'");
  accepts("{\"type\":\"login\",\"user\":\"a\",\"password\":\"tab\\there\"}", MSG_LOGIN);
}

/* ---- cross-field rules ----------------------------------------------------------------- */

static void test_login_needs_password_or_token(void) {
  invalid_field("{\"type\":\"login\",\"user\":\"a\"}", "field 'password' or 'token' is required");
  invalid_field("{\"type\":\"login\",\"user\":\"a\",\"password\":\"p\",\"token\":\"t\"}",
                "cannot be combined");
}

/* A resume token replaces password and token (docs/protocol.md "Reconnecting"). */
static void test_login_with_resume(void) {
  accepts("{\"type\":\"login\",\"id\":1,\"user\":\"a\",\"resume\":\"q3J0d1Zk6n8_-x\"}", MSG_LOGIN);
  invalid_field("{\"type\":\"login\",\"user\":\"a\",\"resume\":\"r\",\"password\":\"p\"}",
                "field 'resume' cannot be combined with 'password' or 'token'");
  invalid_field("{\"type\":\"login\",\"user\":\"a\",\"resume\":\"r\",\"token\":\"t\"}",
                "cannot be combined");
  invalid_field("{\"type\":\"login\",\"user\":\"a\",\"resume\":\"\"}", "'resume'");
  invalid_field("{\"type\":\"login\",\"user\":\"a\",\"resume\":\"a\\nb\"}", "'resume'");
  invalid_field("{\"type\":\"login\",\"user\":\"a\",\"resume\":7}", "'resume'");
}

static void test_register_needs_account_or_byo_fields(void) {
  invalid_field("{\"type\":\"register\"}", "field 'uri' is required");
  invalid_field("{\"type\":\"register\",\"uri\":\"sip:a@b\",\"password\":\"p\"}",
                "field 'username' is required");
  invalid_field("{\"type\":\"register\",\"uri\":\"sip:a@b\",\"username\":\"a\"}",
                "field 'password' is required");
  invalid_field("{\"type\":\"register\",\"account\":\"x\",\"uri\":\"sip:a@b\"}",
                "fields 'account' and 'uri' cannot be combined");
  invalid_field("{\"type\":\"register\",\"account\":\"x\",\"transport\":\"tcp\"}",
                "fields 'account' and 'transport' cannot be combined");
  invalid_field("{\"type\":\"register\",\"account\":\"x\",\"display_name\":\"X\"}",
                "fields 'account' and 'display_name' cannot be combined");
}

static void test_unregister_needs_account_or_uri(void) {
  invalid_field("{\"type\":\"unregister\"}", "field 'account' or 'uri' is required");
  invalid_field("{\"type\":\"unregister\",\"account\":\"x\",\"uri\":\"sip:a@b\"}",
                "cannot be combined");
}

static void test_transfer_needs_to_or_replaces(void) {
  invalid_field("{\"type\":\"transfer\",\"call_id\":\"c1\"}", "field 'to' or 'replaces'");
  invalid_field("{\"type\":\"transfer\",\"call_id\":\"c1\",\"to\":\"123\",\"replaces\":\"c2\"}",
                "cannot be combined");
}

/* ---- id -------------------------------------------------------------------------------- */

static void test_id_may_be_string_or_integer(void) {
  accepts("{\"type\":\"ping\",\"id\":\"abc\"}", MSG_PING);
  accepts("{\"type\":\"ping\",\"id\":-7}", MSG_PING);
  invalid_field("{\"type\":\"ping\",\"id\":1.5}", "field 'id'");
  invalid_field("{\"type\":\"ping\",\"id\":{}}", "field 'id'");
  invalid_field("{\"type\":\"ping\",\"id\":\"\"}", "field 'id'");
  invalid_field("{\"type\":\"ping\",\"id\":"
                "\"01234567890123456789012345678901234567890123456789012345678901234\"}",
                "field 'id'");
}

/* ---- text and encoding ------------------------------------------------------------------- */

static void test_unicode_is_accepted_and_counted_in_bytes(void) {
  json_t *root = parse_len("{\"type\":\"login\",\"user\":\"Zo\\u00eb \xf0\x9f\x99\x82\","
                           "\"password\":\"p\"}",
                           strlen("{\"type\":\"login\",\"user\":\"Zo\\u00eb \xf0\x9f\x99\x82\","
                                  "\"password\":\"p\"}"),
                           MSG_LOGIN);
  g_assert_cmpstr(protocol_string(root, "user"), ==, "Zo\xc3\xab \xf0\x9f\x99\x82");
  json_decref(root);
  /* 128 two-byte characters = 256 bytes: fits; one more does not. */
  for (int extra = 0; extra <= 1; extra++) {
    GString *text = g_string_new("{\"type\":\"login\",\"password\":\"p\",\"user\":\"");
    for (int i = 0; i < 128 + extra; i++) g_string_append(text, "\xc3\xa9");
    g_string_append(text, "\"}");
    if (extra) invalid_field(text->str, "'user'");
    else accepts(text->str, MSG_LOGIN);
    g_string_free(text, TRUE);
  }
}

static void test_invalid_utf8_is_invalid_json(void) {
  rejects("{\"type\":\"login\",\"user\":\"\xff\",\"password\":\"p\"}", PROTO_ERR_INVALID_JSON,
          NULL);
  rejects("{\"type\":\"login\",\"user\":\"\xc3\",\"password\":\"p\"}", PROTO_ERR_INVALID_JSON,
          NULL);
  rejects("{\"type\":\"login\",\"user\":\"\\ud800\",\"password\":\"p\"}", PROTO_ERR_INVALID_JSON,
          NULL);
}

static void test_escaped_nul_in_string_is_invalid_json(void) {
  rejects("{\"type\":\"login\",\"user\":\"a\\u0000b\",\"password\":\"p\"}",
          PROTO_ERR_INVALID_JSON, NULL);
}

static void test_nul_byte_in_text_is_invalid_json(void) {
  const char trailing[] = "{\"type\":\"ping\"}\0";
  rejects_len(trailing, sizeof trailing - 1, PROTO_ERR_INVALID_JSON, "NUL");
  const char inside[] = "{\"type\":\"pi\0ng\"}";
  rejects_len(inside, sizeof inside - 1, PROTO_ERR_INVALID_JSON, "NUL");
}

static void test_duplicate_keys_are_invalid_json(void) {
  rejects("{\"type\":\"ping\",\"type\":\"ping\"}", PROTO_ERR_INVALID_JSON, "duplicate");
  rejects("{\"type\":\"hangup\",\"call_id\":\"a\",\"call_id\":\"b\"}", PROTO_ERR_INVALID_JSON,
          NULL);
}

static char *nested(int levels) {
  GString *s = g_string_new("{\"type\":\"ping\",\"x\":");
  for (int i = 1; i < levels; i++) g_string_append(s, i % 2 ? "[" : "{\"k\":");
  g_string_append(s, "0");
  for (int i = levels - 1; i >= 1; i--) g_string_append(s, i % 2 ? "]" : "}");
  g_string_append(s, "}");
  return g_string_free(s, FALSE);
}

static void test_deep_nesting_is_rejected(void) {
  char *ok = nested(16);
  accepts(ok, MSG_PING);
  g_free(ok);
  char *deep = nested(17);
  rejects(deep, PROTO_ERR_INVALID_JSON, "deeper than 16");
  g_free(deep);
  char *very_deep = nested(5000); /* beyond jansson's own limit of 2048 */
  rejects(very_deep, PROTO_ERR_INVALID_JSON, NULL);
  g_free(very_deep);
}

static void test_rejected_object_is_returned_for_echo(void) {
  const char *text = "{\"type\":\"hangup\",\"id\":5,\"call_id\":\"a b\"}";
  message_type type;
  json_t *root = NULL;
  protocol_error err;
  g_assert_false(protocol_parse(text, strlen(text), &type, &root, &err));
  g_assert_nonnull(root);
  g_assert_cmpint(json_integer_value(json_object_get(root, "id")), ==, 5);
  json_decref(root);
}

/* ---- replies ----------------------------------------------------------------------------- */

static char *reply_text(const char *request_text, const char *code, const char *message) {
  json_t *request = request_text ? json_loads(request_text, 0, NULL) : NULL;
  json_t *reply = protocol_error_reply(request, code, message);
  char *text = protocol_dump(reply);
  json_decref(reply);
  json_decref(request);
  return text;
}

static void check_reply(const char *request, const char *expected) {
  char *text = reply_text(request, PROTO_ERR_NOT_LOGGED_IN, "log in first");
  g_assert_cmpstr(text, ==, expected);
  free(text);
}

static void test_error_reply_echoes_string_id(void) {
  check_reply("{\"type\":\"register\",\"id\":\"r1\"}",
              "{\"type\":\"error\",\"id\":\"r1\",\"code\":\"not_logged_in\","
              "\"message\":\"log in first\"}");
}

static void test_error_reply_echoes_integer_id(void) {
  check_reply("{\"type\":\"register\",\"id\":-42}",
              "{\"type\":\"error\",\"id\":-42,\"code\":\"not_logged_in\","
              "\"message\":\"log in first\"}");
}

static void test_error_reply_echoes_call_id(void) {
  check_reply("{\"type\":\"hangup\",\"id\":3,\"call_id\":\"c-9\"}",
              "{\"type\":\"error\",\"id\":3,\"call_id\":\"c-9\",\"code\":\"not_logged_in\","
              "\"message\":\"log in first\"}");
}

static void test_error_reply_drops_invalid_id_and_call_id(void) {
  check_reply("{\"type\":\"hangup\",\"id\":[1],\"call_id\":\"not valid\"}",
              "{\"type\":\"error\",\"code\":\"not_logged_in\",\"message\":\"log in first\"}");
  check_reply(NULL,
              "{\"type\":\"error\",\"code\":\"not_logged_in\",\"message\":\"log in first\"}");
}

static void test_error_reply_survives_bad_utf8_message(void) {
  char *text = reply_text(NULL, PROTO_ERR_INTERNAL, "bad \xff byte");
  g_assert_nonnull(strstr(text, "\"code\":\"internal_error\""));
  g_assert_nonnull(strstr(text, "\"message\":"));
  free(text);
}

static void test_parse_error_round_trips_into_reply(void) {
  const char *text = "{\"type\":\"register\",\"id\":\"r7\",\"account\":\"a\",\"expires\":1}";
  message_type type;
  json_t *root = NULL;
  protocol_error err;
  g_assert_false(protocol_parse(text, strlen(text), &type, &root, &err));
  json_t *reply = protocol_error_reply(root, err.code, err.message);
  char *out = protocol_dump(reply);
  g_assert_cmpstr(out, ==,
                  "{\"type\":\"error\",\"id\":\"r7\",\"code\":\"invalid_field\",\"message\":"
                  "\"field 'expires' must be an integer between 60 and 86400\"}");
  free(out);
  json_decref(reply);
  json_decref(root);
}

/* ---- small helpers ------------------------------------------------------------------------ */

static void test_dump_is_compact(void) {
  json_t *m = json_pack("{s:s, s:[i,i]}", "type", "pong", "a", 1, 2);
  char *text = protocol_dump(m);
  g_assert_cmpstr(text, ==, "{\"type\":\"pong\",\"a\":[1,2]}");
  free(text);
  json_decref(m);
}

static void test_protocol_string(void) {
  json_t *m = json_pack("{s:s, s:i}", "user", "alice", "n", 1);
  g_assert_cmpstr(protocol_string(m, "user"), ==, "alice");
  g_assert_null(protocol_string(m, "n"));
  g_assert_null(protocol_string(m, "missing"));
  g_assert_null(protocol_string(NULL, "user"));
  json_decref(m);
}

static void test_message_type_name_is_total(void) {
  g_assert_cmpstr(message_type_name(MSG_LOGIN), ==, "login");
  g_assert_cmpstr(message_type_name(MSG_PONG), ==, "pong");
  for (int t = 0; t < MSG_TYPE_COUNT; t++) g_assert_nonnull(message_type_name((message_type)t));
  g_assert_cmpstr(message_type_name(MSG_TYPE_COUNT), ==, "unknown");
  g_assert_cmpstr(message_type_name((message_type)-1), ==, "unknown");
  g_assert_cmpstr(message_type_name((message_type)1000), ==, "unknown");
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  for (size_t i = 0; i < G_N_ELEMENTS(MINIMAL); i++) {
    char *path = g_strdup_printf("/protocol/minimal/%s", message_type_name(MINIMAL[i].type));
    g_test_add_data_func(path, &MINIMAL[i], test_minimal_message_is_accepted);
    g_free(path);
  }
  g_test_add_func("/protocol/full_messages_are_accepted", test_full_messages_are_accepted);
  g_test_add_func("/protocol/unknown_fields_are_ignored", test_unknown_fields_are_ignored);
  g_test_add_func("/protocol/text_need_not_be_nul_terminated",
                  test_text_need_not_be_nul_terminated);
  g_test_add_func("/protocol/error/syntax_error_is_invalid_json",
                  test_syntax_error_is_invalid_json);
  g_test_add_func("/protocol/error/non_object_is_invalid_json", test_non_object_is_invalid_json);
  g_test_add_func("/protocol/error/non_object_returns_no_root", test_non_object_returns_no_root);
  g_test_add_func("/protocol/error/null_text_is_invalid_json", test_null_text_is_invalid_json);
  g_test_add_func("/protocol/error/missing_type", test_missing_type);
  g_test_add_func("/protocol/error/unknown_type", test_unknown_type);
  g_test_add_func("/protocol/error/unknown_type_message_is_short_and_printable",
                  test_unknown_type_message_is_short_and_printable);
  g_test_add_func("/protocol/error/frame_too_large", test_frame_too_large);
  g_test_add_func("/protocol/error/missing_required_field", test_missing_required_field);
  g_test_add_func("/protocol/field/integer_out_of_range", test_integer_out_of_range);
  g_test_add_func("/protocol/field/huge_numbers", test_huge_numbers);
  g_test_add_func("/protocol/field/wrong_json_types", test_wrong_json_types);
  g_test_add_func("/protocol/field/string_length_limits", test_string_length_limits);
  g_test_add_func("/protocol/field/transport_must_be_known", test_transport_must_be_known);
  g_test_add_func("/protocol/field/uri_must_be_sip", test_uri_must_be_sip);
  g_test_add_func("/protocol/field/call_target_syntax", test_call_target_syntax);
  g_test_add_func("/protocol/field/call_id_syntax", test_call_id_syntax);
  g_test_add_func("/protocol/field/dtmf_digits", test_dtmf_digits);
  g_test_add_func("/protocol/field/control_characters_in_names_are_rejected",
                  test_control_characters_in_names_are_rejected);
  g_test_add_func("/protocol/rule/login_needs_password_or_token",
                  test_login_needs_password_or_token);
  g_test_add_func("/protocol/rule/login_with_resume", test_login_with_resume);
  g_test_add_func("/protocol/rule/register_needs_account_or_byo_fields",
                  test_register_needs_account_or_byo_fields);
  g_test_add_func("/protocol/rule/unregister_needs_account_or_uri",
                  test_unregister_needs_account_or_uri);
  g_test_add_func("/protocol/rule/transfer_needs_to_or_replaces",
                  test_transfer_needs_to_or_replaces);
  g_test_add_func("/protocol/id/may_be_string_or_integer", test_id_may_be_string_or_integer);
  g_test_add_func("/protocol/text/unicode_is_accepted_and_counted_in_bytes",
                  test_unicode_is_accepted_and_counted_in_bytes);
  g_test_add_func("/protocol/text/invalid_utf8_is_invalid_json",
                  test_invalid_utf8_is_invalid_json);
  g_test_add_func("/protocol/text/escaped_nul_in_string_is_invalid_json",
                  test_escaped_nul_in_string_is_invalid_json);
  g_test_add_func("/protocol/text/nul_byte_in_text_is_invalid_json",
                  test_nul_byte_in_text_is_invalid_json);
  g_test_add_func("/protocol/text/duplicate_keys_are_invalid_json",
                  test_duplicate_keys_are_invalid_json);
  g_test_add_func("/protocol/text/deep_nesting_is_rejected", test_deep_nesting_is_rejected);
  g_test_add_func("/protocol/text/rejected_object_is_returned_for_echo",
                  test_rejected_object_is_returned_for_echo);
  g_test_add_func("/protocol/reply/echoes_string_id", test_error_reply_echoes_string_id);
  g_test_add_func("/protocol/reply/echoes_integer_id", test_error_reply_echoes_integer_id);
  g_test_add_func("/protocol/reply/echoes_call_id", test_error_reply_echoes_call_id);
  g_test_add_func("/protocol/reply/drops_invalid_id_and_call_id",
                  test_error_reply_drops_invalid_id_and_call_id);
  g_test_add_func("/protocol/reply/survives_bad_utf8_message",
                  test_error_reply_survives_bad_utf8_message);
  g_test_add_func("/protocol/reply/parse_error_round_trips_into_reply",
                  test_parse_error_round_trips_into_reply);
  g_test_add_func("/protocol/dump_is_compact", test_dump_is_compact);
  g_test_add_func("/protocol/protocol_string", test_protocol_string);
  g_test_add_func("/protocol/message_type_name_is_total", test_message_type_name_is_total);
  return g_test_run();
}
