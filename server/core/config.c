/* config: see config.h.
 *
 * Loading is table driven: every key of every section kind is one row (name, value kind,
 * offset into its struct, limits). The INI reader hands us (section, key, value, line); the
 * environment is turned into the same calls, so both paths share one set of checks and one
 * error format. After all sources are applied, cross-key rules run (references between users
 * and accounts, open mode only on loopback, certificate files present), naming the line where
 * the offending key was set. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <glib.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/password.h"
#include "auth/sip_screen.h"
#include "core/ini.h"

/* ---- value kinds ------------------------------------------------------------------------- */

typedef enum {
  VALUE_STRING,      /* char *            */
  VALUE_OPT_STRING,  /* char *, "" = NULL */
  VALUE_INT,         /* int within [min, max] */
  VALUE_BOOL,        /* bool: yes/no/true/false/on/off/1/0 */
  VALUE_BOOL_OR_DEFAULT, /* int: 1/0 as VALUE_BOOL, -1 until set (a [media]/[sip] default applies) */
  VALUE_LIST,        /* char ** NULL-terminated, comma separated */
  VALUE_LISTEN,      /* config_listen */
  VALUE_LISTEN_LIST, /* config_listen * + size_t count right after it */
  VALUE_TRANSPORT,   /* sip_transport */
  VALUE_LOG_LEVEL,   /* log_level */
  VALUE_CODECS,      /* char ** of known codec names */
  VALUE_PASSWORD_HASH,
  VALUE_OPT_ADDRESS, /* char *, numeric IPv4/IPv6 address, "" = NULL */
  VALUE_OPT_HOSTPORT,/* config_listen, numeric address + port 1..65535, "" = host NULL */
  VALUE_NETWORKS,    /* char ** of addresses / CIDR prefixes */
  VALUE_SECRET,      /* char *, "" = NULL; never echoed in an error */
  VALUE_SRTP,        /* config_srtp: off / optional / mandatory */
} value_kind;

typedef enum {
  SECTION_SERVER,
  SECTION_SIP,
  SECTION_MEDIA,
  SECTION_LOG,
  SECTION_SHUTDOWN,
  SECTION_ACCOUNT,
  SECTION_USER
} section_kind;

typedef struct key_spec {
  section_kind section;
  const char *key;
  value_kind kind;
  size_t offset;
  int min, max;
} key_spec;

#define SRV(k, kind, field, ...) {SECTION_SERVER, k, kind, offsetof(config, field), __VA_ARGS__}
#define SIP(k, kind, field, ...) {SECTION_SIP, k, kind, offsetof(config, field), __VA_ARGS__}
#define MED(k, kind, field, ...) {SECTION_MEDIA, k, kind, offsetof(config, field), __VA_ARGS__}
#define ACC(k, kind, field, ...) {SECTION_ACCOUNT, k, kind, offsetof(config_account, field), __VA_ARGS__}
#define USR(k, kind, field, ...) {SECTION_USER, k, kind, offsetof(config_user, field), __VA_ARGS__}

static const key_spec key_specs[] = {
    SRV("listen", VALUE_LISTEN_LIST, listen, 0, 0),
    SRV("http_listen", VALUE_LISTEN_LIST, http_listen, 0, 0),
    SRV("cert", VALUE_STRING, cert_file, 0, 0),
    SRV("key", VALUE_STRING, key_file, 0, 0),
    SRV("web_root", VALUE_STRING, web_root, 0, 0),
    SRV("allowed_origins", VALUE_LIST, allowed_origins, 0, 0),
    SRV("session_idle_timeout", VALUE_INT, session_idle_timeout, 2, 86400),
    SRV("login_timeout", VALUE_INT, login_timeout, 2, 3600),
    SRV("echo_destination", VALUE_STRING, echo_destination, 0, 0),
    SRV("token_secret", VALUE_SECRET, token_secret, 0, 0),
    SRV("max_sessions_per_ip", VALUE_INT, max_sessions_per_ip, 1, 100000),
    SRV("message_rate", VALUE_INT, message_rate, 5, 100000),
    SRV("max_calls", VALUE_INT, max_calls, 0, 1000000),
    SRV("invite_rate", VALUE_INT, invite_rate, 0, 1000000),
    SRV("max_calls_per_session", VALUE_INT, max_calls_per_session, 1, 10000),
    SRV("login_max_failures", VALUE_INT, login_max_failures, 1, 1000),
    SRV("login_max_failures_per_ip", VALUE_INT, login_max_failures_per_ip, 1, 100000),
    SRV("login_lockout", VALUE_INT, login_lockout, 1, 3600),
    SRV("reconnect_grace_seconds", VALUE_INT, reconnect_grace_seconds, 0, 3600),
    SRV("metrics_allow", VALUE_NETWORKS, metrics_allow, 0, 0),
    SIP("listen", VALUE_LISTEN, sip_listen, 0, 0),
    SIP("public_ip", VALUE_OPT_STRING, public_ip, 0, 0),
    SIP("learn_public_address", VALUE_BOOL, learn_public_address, 0, 0),
    SIP("user_agent", VALUE_STRING, user_agent, 0, 0),
    SIP("byo_accounts", VALUE_BOOL, byo_accounts, 0, 0),
    SIP("byo_domains", VALUE_LIST, byo_domains, 0, 0),
    SIP("register_retry_min", VALUE_INT, register_retry_min, 1, 3600),
    SIP("register_retry_max", VALUE_INT, register_retry_max, 1, 86400),
    SIP("shutdown_timeout", VALUE_INT, shutdown_timeout, 0, 120),
    SIP("session_expires", VALUE_INT, session_expires, 0, 86400),
    /* RFC 4028 says 90 at least; smaller values exist for tests of expiry. */
    SIP("min_se", VALUE_INT, min_se, 1, 86400),
    SIP("tls_ca_file", VALUE_STRING, tls_ca_file, 0, 0),
    SIP("tls_port", VALUE_INT, tls_port, 0, 65535),
    SIP("keepalive_seconds", VALUE_INT, keepalive_seconds, 0, 3600),
    SIP("dns_server", VALUE_OPT_HOSTPORT, dns_server, 0, 0),
    MED("workers", VALUE_INT, media_workers, 0, 64),
    MED("rtp_timeout", VALUE_INT, rtp_timeout, 2, 3600),
    /* Below 1024 needs privileges and collides with services; pairs need P and P + 1. */
    MED("port_min", VALUE_INT, port_min, 1024, 65535),
    MED("port_max", VALUE_INT, port_max, 1024, 65535),
    MED("address", VALUE_OPT_ADDRESS, media_address, 0, 0),
    MED("latch_window_ms", VALUE_INT, latch_window_ms, 0, 60000),
    MED("latch_any_source", VALUE_BOOL, latch_any_source, 0, 0),
    MED("overload_lag_ms", VALUE_INT, overload_lag_ms, 0, 60000),
    MED("max_calls", VALUE_INT, media_max_calls, 0, 1000000),
    MED("stun_server", VALUE_OPT_HOSTPORT, stun_server, 0, 0),
    MED("turn_server", VALUE_OPT_HOSTPORT, turn_server, 0, 0),
    MED("turn_user", VALUE_OPT_STRING, turn_user, 0, 0),
    MED("turn_password", VALUE_OPT_STRING, turn_password, 0, 0),
    MED("browser_codec", VALUE_STRING, browser_codec, 0, 0),
    MED("opus_complexity", VALUE_INT, opus_complexity, 0, 10),
    MED("opus_dtx", VALUE_BOOL, opus_dtx, 0, 0),
    {SECTION_LOG, "level", VALUE_LOG_LEVEL, offsetof(config, log_level), 0, 0},
    {SECTION_SHUTDOWN, "drain_seconds", VALUE_INT, offsetof(config, drain_seconds), 0, 3600},
    ACC("uri", VALUE_STRING, uri, 0, 0),
    ACC("username", VALUE_OPT_STRING, username, 0, 0),
    ACC("password", VALUE_OPT_STRING, password, 0, 0),
    ACC("display_name", VALUE_OPT_STRING, display_name, 0, 0),
    ACC("asserted_identity", VALUE_OPT_STRING, asserted_identity, 0, 0),
    ACC("preferred_identity", VALUE_OPT_STRING, preferred_identity, 0, 0),
    ACC("registrar", VALUE_OPT_STRING, registrar, 0, 0),
    ACC("proxy", VALUE_OPT_STRING, proxy, 0, 0),
    ACC("transport", VALUE_TRANSPORT, transport, 0, 0),
    ACC("register", VALUE_BOOL, do_register, 0, 0),
    ACC("expires", VALUE_INT, expires, 10, 604800),
    ACC("codecs", VALUE_CODECS, codecs, 0, 0),
    ACC("trusted_sources", VALUE_NETWORKS, trusted_sources, 0, 0),
    ACC("srtp", VALUE_SRTP, srtp, 0, 0),
    ACC("latch_any_source", VALUE_BOOL_OR_DEFAULT, latch_any_source, 0, 0),
    USR("password_hash", VALUE_PASSWORD_HASH, password_hash, 0, 0),
    USR("accounts", VALUE_LIST, accounts, 0, 0),
    USR("byo_accounts", VALUE_BOOL, byo_accounts, 0, 0),
    USR("dial_allow", VALUE_LIST, dial_allow, 0, 0),
    USR("dial_deny", VALUE_LIST, dial_deny, 0, 0),
    USR("max_calls", VALUE_INT, max_calls, 0, 10000),
    USR("calls_per_minute", VALUE_INT, calls_per_minute, 0, 10000),
};

static const char *const known_codecs[] = {"opus", "pcmu", "pcma", "g722", NULL};

/* The built-in account that calls SIP URIs straight to their host. */
static const char DIRECT_ACCOUNT[] = "direct";

/* ---- loader state ------------------------------------------------------------------------- */

typedef struct loader {
  config *cfg;
  const char *source;       /* file name, or "environment" */
  section_kind section;     /* current section */
  void *object;             /* struct the current section's keys write into */
  bool section_valid;
  GHashTable *key_lines;    /* "section.key" -> line where it was last set (GINT_TO_POINTER) */
  bool direct_account;      /* [sip] direct_account */
  int direct_account_line;
  char *err;
  size_t err_len;
} loader;

static int fail(loader *ld, int line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(loader *ld, int line, const char *key, const char *fmt, ...) {
  char what[512];
  va_list args;
  va_start(args, fmt);
  vsnprintf(what, sizeof what, fmt, args);
  va_end(args);
  if (line > 0)
    snprintf(ld->err, ld->err_len, "%s:%d: key '%s': %s", ld->source, line, key, what);
  else
    snprintf(ld->err, ld->err_len, "%s: key '%s': %s", ld->source, key, what);
  return 1;
}

/* ---- small helpers ----------------------------------------------------------------------- */

static void strv_free(char **list) { g_strfreev(list); }

static char **split_list(const char *value) {
  char **parts = g_strsplit(value, ",", -1);
  GPtrArray *out = g_ptr_array_new();
  for (char **p = parts; *p; p++) {
    char *item = g_strstrip(*p);
    if (*item) g_ptr_array_add(out, g_strdup(item));
  }
  g_strfreev(parts);
  g_ptr_array_add(out, NULL);
  return (char **)g_ptr_array_free(out, FALSE);
}

static bool parse_int(const char *value, long *out) {
  if (!*value) return false;
  char *end;
  errno = 0;
  long n = strtol(value, &end, 10);
  if (errno || *end) return false;
  *out = n;
  return true;
}

static bool parse_bool(const char *value, bool *out) {
  static const char *const yes[] = {"yes", "true", "on", "1"};
  static const char *const no[] = {"no", "false", "off", "0"};
  for (size_t i = 0; i < 4; i++) {
    if (g_ascii_strcasecmp(value, yes[i]) == 0) return (*out = true), true;
    if (g_ascii_strcasecmp(value, no[i]) == 0) return (*out = false), true;
  }
  return false;
}

/* "127.0.0.1:8443", "[::1]:8443", "0.0.0.0:5060". Hosts must be numeric: a config that needs
 * a name lookup to start is a config that fails at 3 a.m. */
static bool parse_listen(const char *value, config_listen *out, const char **why) {
  const char *colon;
  char host[64];
  if (value[0] == '[') {
    const char *close = strchr(value, ']');
    if (!close || close[1] != ':') return (*why = "expected [IPv6]:port"), false;
    size_t n = (size_t)(close - value - 1);
    if (n >= sizeof host) return (*why = "address too long"), false;
    memcpy(host, value + 1, n);
    host[n] = '\0';
    colon = close + 1;
  } else {
    colon = strrchr(value, ':');
    if (!colon) return (*why = "expected address:port"), false;
    size_t n = (size_t)(colon - value);
    if (n >= sizeof host) return (*why = "address too long"), false;
    memcpy(host, value, n);
    host[n] = '\0';
  }
  unsigned char buf[16];
  if (inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1)
    return (*why = "address must be a numeric IPv4 or IPv6 address"), false;
  long port;
  if (!parse_int(colon + 1, &port) || port < 0 || port > 65535)
    return (*why = "port must be a number from 0 to 65535"), false;
  out->host = g_strdup(host);
  out->port = (int)port;
  return true;
}

static void listen_list_free(config_listen *list, size_t count) {
  for (size_t i = 0; i < count; i++) g_free(list[i].host);
  g_free(list);
}

/* ---- applying one key -------------------------------------------------------------------- */

static const key_spec *find_spec(section_kind section, const char *key) {
  for (size_t i = 0; i < G_N_ELEMENTS(key_specs); i++) {
    if (key_specs[i].section == section && strcmp(key_specs[i].key, key) == 0)
      return &key_specs[i];
  }
  return NULL;
}

static int apply_listen_list(loader *ld, const key_spec *spec, void *field, const char *value,
                             int line) {
  config_listen **list = field;
  size_t *count = spec->offset == offsetof(config, listen) ? &ld->cfg->listen_count
                                                           : &ld->cfg->http_listen_count;
  char **items = split_list(value);
  size_t n = g_strv_length(items);
  config_listen *parsed = g_new0(config_listen, n ? n : 1);
  for (size_t i = 0; i < n; i++) {
    const char *why;
    if (!parse_listen(items[i], &parsed[i], &why)) {
      listen_list_free(parsed, i);
      int rc = fail(ld, line, spec->key, "'%s': %s", items[i], why);
      strv_free(items);
      return rc;
    }
  }
  strv_free(items);
  listen_list_free(*list, *count);
  *list = parsed;
  *count = n;
  return 0;
}

static int apply_codecs(loader *ld, const key_spec *spec, char ***field, const char *value,
                        int line) {
  char **items = split_list(value);
  for (char **c = items; *c; c++) {
    for (char *p = *c; *p; p++) *p = (char)g_ascii_tolower(*p);
    if (!g_strv_contains(known_codecs, *c)) {
      int rc = fail(ld, line, spec->key, "unknown codec '%s' (known: opus, pcmu, pcma, g722)", *c);
      strv_free(items);
      return rc;
    }
  }
  if (!items[0]) {
    strv_free(items);
    return fail(ld, line, spec->key, "at least one codec is needed");
  }
  strv_free(*field);
  *field = items;
  return 0;
}

static int apply_networks(loader *ld, const key_spec *spec, char ***field, const char *value,
                          int line) {
  char **items = split_list(value);
  for (char **n = items; *n; n++) {
    if (!sip_screen_network_valid(*n)) {
      int rc = fail(ld, line, spec->key,
                    "'%s' is not a numeric address or CIDR prefix (10.0.0.0/8, 2001:db8::/32)",
                    *n);
      strv_free(items);
      return rc;
    }
  }
  strv_free(*field);
  *field = items;
  return 0;
}

/* Secrets are wiped before their memory goes back to the allocator. */
static void clear_secret(char **secret) {
  if (*secret) memset(*secret, 0, strlen(*secret));
  g_free(*secret);
  *secret = NULL;
}

static int apply_value(loader *ld, const key_spec *spec, void *object, const char *value,
                       int line) {
  void *field = (char *)object + spec->offset;
  switch (spec->kind) {
  case VALUE_STRING:
    if (!*value) return fail(ld, line, spec->key, "must not be empty");
    g_free(*(char **)field);
    *(char **)field = g_strdup(value);
    return 0;
  case VALUE_OPT_STRING:
    g_free(*(char **)field);
    *(char **)field = *value ? g_strdup(value) : NULL;
    return 0;
  case VALUE_INT: {
    long n;
    if (!parse_int(value, &n) || n < spec->min || n > spec->max)
      return fail(ld, line, spec->key, "'%s' is not a whole number from %d to %d", value,
                  spec->min, spec->max);
    *(int *)field = (int)n;
    return 0;
  }
  case VALUE_BOOL:
    if (!parse_bool(value, (bool *)field))
      return fail(ld, line, spec->key, "'%s' is not yes or no", value);
    return 0;
  case VALUE_BOOL_OR_DEFAULT: {
    bool yes;
    if (!parse_bool(value, &yes)) return fail(ld, line, spec->key, "'%s' is not yes or no", value);
    *(int *)field = yes;
    return 0;
  }
  case VALUE_LIST:
    strv_free(*(char ***)field);
    *(char ***)field = split_list(value);
    return 0;
  case VALUE_LISTEN: {
    const char *why;
    config_listen parsed;
    if (!parse_listen(value, &parsed, &why)) return fail(ld, line, spec->key, "'%s': %s", value, why);
    g_free(((config_listen *)field)->host);
    *(config_listen *)field = parsed;
    return 0;
  }
  case VALUE_LISTEN_LIST:
    return apply_listen_list(ld, spec, field, value, line);
  case VALUE_TRANSPORT:
    if (!sip_transport_parse(value, (sip_transport *)field))
      return fail(ld, line, spec->key, "'%s' is not udp, tcp or tls", value);
    return 0;
  case VALUE_LOG_LEVEL:
    if (!log_level_parse(value, (log_level *)field))
      return fail(ld, line, spec->key, "'%s' is not debug, info, warn or error", value);
    return 0;
  case VALUE_CODECS:
    return apply_codecs(ld, spec, (char ***)field, value, line);
  case VALUE_OPT_ADDRESS: {
    unsigned char buf[16];
    if (*value && inet_pton(AF_INET, value, buf) != 1 && inet_pton(AF_INET6, value, buf) != 1)
      return fail(ld, line, spec->key, "'%s' is not a numeric IPv4 or IPv6 address", value);
    g_free(*(char **)field);
    *(char **)field = *value ? g_strdup(value) : NULL;
    return 0;
  }
  case VALUE_OPT_HOSTPORT: {
    config_listen parsed = {NULL, 0};
    const char *why = "port must be a number from 1 to 65535";
    if (*value && (!parse_listen(value, &parsed, &why) || parsed.port == 0)) {
      g_free(parsed.host);
      return fail(ld, line, spec->key, "'%s': %s", value, why);
    }
    g_free(((config_listen *)field)->host);
    *(config_listen *)field = parsed;
    return 0;
  }
  case VALUE_NETWORKS:
    return apply_networks(ld, spec, (char ***)field, value, line);
  case VALUE_SECRET:
    /* Never echo the value. Short secrets make tokens guessable offline. */
    if (*value && strlen(value) < 16)
      return fail(ld, line, spec->key, "must be at least 16 characters (use e.g. 'openssl rand "
                                       "-base64 32')");
    clear_secret((char **)field);
    *(char **)field = *value ? g_strdup(value) : NULL;
    return 0;
  case VALUE_SRTP:
    if (!config_srtp_parse(value, (config_srtp *)field))
      return fail(ld, line, spec->key, "'%s' is not off, optional or mandatory", value);
    return 0;
  case VALUE_PASSWORD_HASH:
    /* Never echo the value: it is a secret's hash. */
    if (!password_hash_is_valid(value))
      return fail(ld, line, spec->key,
                  "not a valid hash (expected pbkdf2-sha256$...; make one with "
                  "'tabphone --hash-password')");
    g_free(*(char **)field);
    *(char **)field = g_strdup(value);
    return 0;
  }
  return fail(ld, line, spec->key, "internal: unhandled value kind");
}

/* ---- sections ---------------------------------------------------------------------------- */

static void account_init(config_account *acc, const char *name, int line) {
  memset(acc, 0, sizeof *acc);
  acc->name = g_strdup(name);
  acc->transport = SIP_TRANSPORT_UDP;
  acc->do_register = true;
  acc->expires = 600;
  acc->latch_any_source = -1;
  acc->codecs = g_strdupv((char **)known_codecs);
  acc->line = line;
}

static void account_clear(config_account *acc) {
  g_free(acc->name);
  g_free(acc->uri);
  g_free(acc->username);
  g_free(acc->password);
  g_free(acc->display_name);
  g_free(acc->asserted_identity);
  g_free(acc->preferred_identity);
  g_free(acc->registrar);
  g_free(acc->proxy);
  strv_free(acc->codecs);
  strv_free(acc->trusted_sources);
}

static void user_clear(config_user *user) {
  g_free(user->name);
  g_free(user->password_hash);
  strv_free(user->accounts);
  strv_free(user->dial_allow);
  strv_free(user->dial_deny);
}

static bool valid_section_name(const char *name) {
  if (!*name || strlen(name) > 64) return false;
  for (const char *c = name; *c; c++) {
    if (!g_ascii_isalnum(*c) && *c != '-' && *c != '_' && *c != '.') return false;
  }
  return true;
}

static int open_named_section(loader *ld, const char *kind, const char *name, int line) {
  config *cfg = ld->cfg;
  if (!valid_section_name(name))
    return fail(ld, line, kind, "name '%s' must be 1-64 letters, digits, '-', '_' or '.'", name);
  if (strcmp(kind, "account") == 0) {
    if (strcmp(name, DIRECT_ACCOUNT) == 0)
      return fail(ld, line, "account",
                  "the name 'direct' is reserved for the built-in direct account");
    if (config_find_account(cfg, name))
      return fail(ld, line, "account", "[account %s] is defined twice", name);
    cfg->accounts = g_renew(config_account, cfg->accounts, cfg->account_count + 1);
    config_account *acc = &cfg->accounts[cfg->account_count++];
    account_init(acc, name, line);
    ld->section = SECTION_ACCOUNT;
    ld->object = acc;
    return 0;
  }
  if (config_find_user(cfg, name))
    return fail(ld, line, "user", "[user %s] is defined twice", name);
  cfg->users = g_renew(config_user, cfg->users, cfg->user_count + 1);
  config_user *user = &cfg->users[cfg->user_count++];
  memset(user, 0, sizeof *user);
  user->name = g_strdup(name);
  user->byo_accounts = true;
  user->line = line;
  ld->section = SECTION_USER;
  ld->object = user;
  return 0;
}

static int on_section(void *user_data, const char *section, int line) {
  loader *ld = user_data;
  ld->section_valid = true;
  if (strcmp(section, "server") == 0) {
    ld->section = SECTION_SERVER;
    ld->object = ld->cfg;
    return 0;
  }
  if (strcmp(section, "sip") == 0) {
    ld->section = SECTION_SIP;
    ld->object = ld->cfg;
    return 0;
  }
  if (strcmp(section, "media") == 0) {
    ld->section = SECTION_MEDIA;
    ld->object = ld->cfg;
    return 0;
  }
  if (strcmp(section, "log") == 0) {
    ld->section = SECTION_LOG;
    ld->object = ld->cfg;
    return 0;
  }
  if (strcmp(section, "shutdown") == 0) {
    ld->section = SECTION_SHUTDOWN;
    ld->object = ld->cfg;
    return 0;
  }
  const char *space = strchr(section, ' ');
  if (space) {
    char *kind = g_strndup(section, (size_t)(space - section));
    int rc = 1;
    if (strcmp(kind, "account") == 0 || strcmp(kind, "user") == 0)
      rc = open_named_section(ld, kind, space + 1, line);
    else
      fail(ld, line, section, "unknown section (known: server, sip, media, log, shutdown, account NAME, user NAME)");
    g_free(kind);
    return rc;
  }
  if (strcmp(section, "account") == 0 || strcmp(section, "user") == 0)
    return fail(ld, line, section, "[%s] needs a name, e.g. [%s alice]", section, section);
  return fail(ld, line, section, "unknown section (known: server, sip, media, log, shutdown, account NAME, user NAME)");
}

static const char *section_kind_name(section_kind kind) {
  static const char *const names[] = {"server", "sip", "media", "log", "shutdown", "account", "user"};
  return names[kind];
}

static int on_key(void *user_data, const char *section, const char *key, const char *value,
                  int line) {
  loader *ld = user_data;
  (void)section;
  if (!ld->section_valid) return fail(ld, line, key, "keys must follow a [section] header");
  if (ld->section == SECTION_SIP && strcmp(key, "direct_account") == 0) {
    if (!parse_bool(value, &ld->direct_account))
      return fail(ld, line, key, "'%s' is not yes or no", value);
    ld->direct_account_line = line;
    return 0;
  }
  const key_spec *spec = find_spec(ld->section, key);
  if (!spec)
    return fail(ld, line, key, "unknown key in [%s] (see tabphone.conf.example)",
                section_kind_name(ld->section));
  int rc = apply_value(ld, spec, ld->object, value, line);
  if (rc == 0) {
    char *where = g_strdup_printf("%s.%s", section, key);
    g_hash_table_replace(ld->key_lines, where, GINT_TO_POINTER(line));
  }
  return rc;
}

/* ---- defaults ---------------------------------------------------------------------------- */

static char *default_web_root(void) {
  char *in_tree = g_build_filename(TABPHONE_SOURCE_DIR, "web", "index.html", NULL);
  bool found = g_file_test(in_tree, G_FILE_TEST_EXISTS);
  g_free(in_tree);
  if (found) return g_build_filename(TABPHONE_SOURCE_DIR, "web", NULL);
  return g_build_filename(TABPHONE_DATA_DIR, "web", NULL);
}

static void set_defaults(config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->listen = g_new0(config_listen, 1);
  cfg->listen[0] = (config_listen){g_strdup("127.0.0.1"), 8443};
  cfg->listen_count = 1;
  cfg->cert_file = g_strdup("certs/tabphone-dev.crt");
  cfg->key_file = g_strdup("certs/tabphone-dev.key");
  cfg->web_root = default_web_root();
  cfg->allowed_origins = g_new0(char *, 1);
  cfg->session_idle_timeout = 90;
  cfg->login_timeout = 30;
  cfg->echo_destination = g_strdup("echo");
  cfg->max_sessions_per_ip = 20;
  /* Generous enough for a tab holding dozens of calls (each trickles a few candidates), far
   * below what a flood sends. */
  cfg->message_rate = 300;
  cfg->max_calls = 0;
  cfg->max_calls_per_session = 100;
  cfg->invite_rate = 30;
  cfg->login_max_failures = 5;
  cfg->login_max_failures_per_ip = 20;
  cfg->login_lockout = 60;
  cfg->reconnect_grace_seconds = 30;
  cfg->drain_seconds = 30;
  cfg->metrics_allow = g_strsplit("127.0.0.0/8,::1", ",", -1); /* loopback only */
  cfg->sip_listen = (config_listen){g_strdup("0.0.0.0"), 5060};
  cfg->user_agent = g_strdup("tabphone/" TABPHONE_VERSION);
  cfg->learn_public_address = true;
  cfg->byo_accounts = true;
  cfg->byo_domains = g_strsplit("*", ",", -1);
  cfg->register_retry_min = 5;
  cfg->register_retry_max = 300;
  cfg->shutdown_timeout = 5;
  cfg->session_expires = 1800;
  cfg->min_se = 90;
  cfg->tls_ca_file = g_strdup("/etc/ssl/certs/ca-certificates.crt");
  cfg->keepalive_seconds = 30;
  cfg->media_workers = 0;
  cfg->rtp_timeout = 30;
  cfg->latch_window_ms = 2000;
  cfg->overload_lag_ms = 100;
  cfg->port_min = 20000;
  cfg->port_max = 39999;
  cfg->browser_codec = g_strdup("auto");
  cfg->opus_complexity = 5;
  cfg->log_level = LOG_INFO;
}

bool config_latch_any_source(const config *cfg, const config_account *account) {
  return account && account->latch_any_source >= 0 ? account->latch_any_source == 1
                                                   : cfg->latch_any_source;
}

const char *config_srtp_name(config_srtp srtp) {
  return srtp == CONFIG_SRTP_MANDATORY ? "mandatory" : srtp == CONFIG_SRTP_OPTIONAL ? "optional" : "off";
}

bool config_srtp_parse(const char *text, config_srtp *out) {
  static const config_srtp all[] = {CONFIG_SRTP_OFF, CONFIG_SRTP_OPTIONAL, CONFIG_SRTP_MANDATORY};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    if (g_ascii_strcasecmp(text, config_srtp_name(all[i])) == 0) {
      *out = all[i];
      return true;
    }
  }
  return false;
}

static void add_direct_account(config *cfg) {
  cfg->accounts = g_renew(config_account, cfg->accounts, cfg->account_count + 1);
  config_account *acc = &cfg->accounts[cfg->account_count++];
  account_init(acc, DIRECT_ACCOUNT, 0);
  acc->do_register = false;
  acc->direct = true;
}

/* ---- environment ------------------------------------------------------------------------- */

/* "alice.b-2" -> "ALICE_B_2" */
static char *env_name_part(const char *name) {
  char *out = g_ascii_strup(name, -1);
  for (char *c = out; *c; c++) {
    if (!g_ascii_isalnum(*c)) *c = '_';
  }
  return out;
}

/* Finds the named section an env variable addresses: TABPHONE_ACCOUNT_<NAME>_<KEY>. */
static int apply_env_named(loader *ld, const char *var, const char *rest_after_kind,
                           section_kind kind, const char *value) {
  size_t count = kind == SECTION_ACCOUNT ? ld->cfg->account_count : ld->cfg->user_count;
  for (size_t i = 0; i < count; i++) {
    const char *name = kind == SECTION_ACCOUNT ? ld->cfg->accounts[i].name : ld->cfg->users[i].name;
    char *upper = env_name_part(name);
    size_t n = strlen(upper);
    bool match = strncmp(rest_after_kind, upper, n) == 0 && rest_after_kind[n] == '_';
    g_free(upper);
    if (!match) continue;
    char *key = g_ascii_strdown(rest_after_kind + n + 1, -1);
    const key_spec *spec = find_spec(kind, key);
    int rc = spec ? apply_value(ld, spec,
                                kind == SECTION_ACCOUNT ? (void *)&ld->cfg->accounts[i]
                                                        : (void *)&ld->cfg->users[i],
                                value, 0)
                  : fail(ld, 0, var, "unknown key '%s'", key);
    g_free(key);
    return rc;
  }
  return fail(ld, 0, var, "no such [%s] section in the configuration",
              kind == SECTION_ACCOUNT ? "account NAME" : "user NAME");
}

static int apply_env(loader *ld, char *const *envp) {
  static const struct { const char *prefix; section_kind kind; } singletons[] = {
      {"TABPHONE_SERVER_", SECTION_SERVER}, {"TABPHONE_SIP_", SECTION_SIP},
      {"TABPHONE_MEDIA_", SECTION_MEDIA}, {"TABPHONE_LOG_", SECTION_LOG},
      {"TABPHONE_SHUTDOWN_", SECTION_SHUTDOWN}};
  ld->source = "environment";
  for (char *const *e = envp; e && *e; e++) {
    if (strncmp(*e, "TABPHONE_", 9) != 0) continue;
    const char *eq = strchr(*e, '=');
    if (!eq) continue;
    char *var = g_strndup(*e, (size_t)(eq - *e));
    const char *value = eq + 1;
    int rc = -1;
    for (size_t i = 0; i < G_N_ELEMENTS(singletons) && rc < 0; i++) {
      size_t n = strlen(singletons[i].prefix);
      if (strncmp(var, singletons[i].prefix, n) != 0) continue;
      ld->section = singletons[i].kind;
      ld->object = ld->cfg;
      ld->section_valid = true;
      char *key = g_ascii_strdown(var + n, -1);
      char *section = g_ascii_strdown(singletons[i].prefix + 9, (gssize)(n - 10));
      rc = on_key(ld, section, key, value, 0);
      g_free(section);
      g_free(key);
    }
    if (rc < 0 && strncmp(var, "TABPHONE_ACCOUNT_", 17) == 0)
      rc = apply_env_named(ld, var, var + 17, SECTION_ACCOUNT, value);
    if (rc < 0 && strncmp(var, "TABPHONE_USER_", 14) == 0)
      rc = apply_env_named(ld, var, var + 14, SECTION_USER, value);
    if (rc < 0) rc = fail(ld, 0, var, "unknown setting (expected TABPHONE_<SECTION>_<KEY>)");
    g_free(var);
    if (rc) return rc;
  }
  return 0;
}

/* ---- cross-key validation ---------------------------------------------------------------- */

static int key_line(loader *ld, const char *where) {
  return GPOINTER_TO_INT(g_hash_table_lookup(ld->key_lines, where));
}

static int check_file(loader *ld, const char *key, const char *path) {
  if (access(path, R_OK) == 0) return 0;
  const char *err = strerror(errno);
  char *where = g_strdup_printf("server.%s", key);
  int line = key_line(ld, where);
  g_free(where);
  if (line == 0 && strcmp(ld->source, "defaults") == 0)
    return fail(ld, 0, key, "%s: %s (run scripts/gen-certs to make a development certificate)",
                path, err);
  return fail(ld, line, key, "%s: %s", path, err);
}

static int validate_account(loader *ld, const config_account *acc) {
  if (acc->direct) return 0;
  if (!acc->uri)
    return fail(ld, acc->line, "uri", "[account %s] needs a uri (sip:user@domain)", acc->name);
  if (!g_str_has_prefix(acc->uri, "sip:") && !g_str_has_prefix(acc->uri, "sips:"))
    return fail(ld, acc->line, "uri", "[account %s]: '%s' is not a sip: or sips: URI", acc->name,
                acc->uri);
  if (!strchr(acc->uri, '@') && acc->do_register)
    return fail(ld, acc->line, "uri", "[account %s]: '%s' has no user part to register",
                acc->name, acc->uri);
  return 0;
}

static int validate_user(loader *ld, const config_user *user) {
  if (!user->password_hash)
    return fail(ld, user->line, "password_hash",
                "[user %s] needs a password_hash (make one with 'tabphone --hash-password')",
                user->name);
  for (char **a = user->accounts; a && *a; a++) {
    if (strcmp(*a, "*") != 0 && !config_find_account(ld->cfg, *a))
      return fail(ld, user->line, "accounts", "[user %s] names account '%s', which is not defined",
                  user->name, *a);
  }
  return 0;
}

static int validate_media(loader *ld) {
  const config *cfg = ld->cfg;
  if (cfg->port_min >= cfg->port_max)
    return fail(ld, key_line(ld, "media.port_max"), "port_max",
                "must be greater than port_min (%d)", cfg->port_min);
  /* RTP takes the even port P and RTCP P + 1: the range must hold at least one such pair. */
  int first_even = cfg->port_min + (cfg->port_min & 1);
  if (first_even + 1 > cfg->port_max)
    return fail(ld, key_line(ld, "media.port_max"), "port_max",
                "%d-%d holds no even RTP port with its RTCP port (+1)", cfg->port_min,
                cfg->port_max);
  bool turn_any = cfg->turn_server.host || cfg->turn_user || cfg->turn_password;
  bool turn_all = cfg->turn_server.host && cfg->turn_user && cfg->turn_password;
  if (turn_any && !turn_all) /* names the keys only: the password's value is a secret */
    return fail(ld, key_line(ld, "media.turn_server"), "turn_server",
                "turn_server, turn_user and turn_password must be set together");
  if (strcmp(cfg->browser_codec, "auto") != 0 && strcmp(cfg->browser_codec, "opus") != 0)
    return fail(ld, key_line(ld, "media.browser_codec"), "browser_codec",
                "must be auto or opus, not \"%s\"", cfg->browser_codec);
  return 0;
}

static int validate(loader *ld) {
  config *cfg = ld->cfg;
  if (cfg->listen_count == 0 && cfg->http_listen_count == 0)
    return fail(ld, key_line(ld, "server.listen"), "listen", "no listen address is configured");
  for (size_t i = 0; i < cfg->http_listen_count; i++) {
    if (!config_listen_is_loopback(&cfg->http_listen[i]))
      return fail(ld, key_line(ld, "server.http_listen"), "http_listen",
                  "plain HTTP is only allowed on loopback (%s is not); use listen for HTTPS",
                  cfg->http_listen[i].host);
  }
  if (config_open_mode(cfg)) {
    for (size_t i = 0; i < cfg->listen_count; i++) {
      if (!config_listen_is_loopback(&cfg->listen[i]))
        return fail(ld, key_line(ld, "server.listen"), "listen",
                    "%s is not a loopback address but no [user] is configured: open mode (no "
                    "login) is only allowed on loopback; add a [user NAME] section with a "
                    "password_hash from 'tabphone --hash-password'",
                    cfg->listen[i].host);
    }
  }
  if (cfg->register_retry_max < cfg->register_retry_min)
    return fail(ld, key_line(ld, "sip.register_retry_max"), "register_retry_max",
                "must not be smaller than register_retry_min (%d)", cfg->register_retry_min);
  if (validate_media(ld)) return 1;
  for (size_t i = 0; i < cfg->account_count; i++) {
    if (validate_account(ld, &cfg->accounts[i])) return 1;
  }
  for (size_t i = 0; i < cfg->user_count; i++) {
    if (validate_user(ld, &cfg->users[i])) return 1;
  }
  if (cfg->listen_count > 0) {
    if (check_file(ld, "cert", cfg->cert_file)) return 1;
    if (check_file(ld, "key", cfg->key_file)) return 1;
  }
  return 0;
}

/* Relative file paths in a config file are relative to that file, not to the cwd. */
static void resolve_relative(char **path, const char *config_path) {
  if (!*path || g_path_is_absolute(*path) || !config_path) return;
  char *dir = g_path_get_dirname(config_path);
  char *full = g_build_filename(dir, *path, NULL);
  g_free(dir);
  g_free(*path);
  *path = full;
}

/* ---- entry points ------------------------------------------------------------------------ */

static int load_file(loader *ld, const char *path) {
  char *text = NULL;
  gsize len = 0;
  GError *error = NULL;
  if (!g_file_get_contents(path, &text, &len, &error)) {
    snprintf(ld->err, ld->err_len, "%s: cannot read: %s", path, error->message);
    g_error_free(error);
    return 1;
  }
  ld->source = path;
  const char *syntax = NULL;
  int rc = ini_parse(text, len, on_section, on_key, ld, &syntax);
  g_free(text);
  if (rc < 0) snprintf(ld->err, ld->err_len, "%s:%d: syntax error: %s", path, -rc, syntax);
  if (rc) return 1;
  /* Paths set in the file are relative to it. */
  if (key_line(ld, "server.cert")) resolve_relative(&ld->cfg->cert_file, path);
  if (key_line(ld, "server.key")) resolve_relative(&ld->cfg->key_file, path);
  if (key_line(ld, "server.web_root")) resolve_relative(&ld->cfg->web_root, path);
  return 0;
}

bool config_load(config *out, const char *path, char *const *envp, char *err, size_t err_len) {
  set_defaults(out);
  loader ld = {.cfg = out, .source = "defaults", .err = err, .err_len = err_len,
               .direct_account = true,
               .key_lines = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL)};
  int rc = 0;
  if (path) {
    out->path = g_strdup(path);
    rc = load_file(&ld, path);
  }
  if (rc == 0) rc = apply_env(&ld, envp);
  if (rc == 0) {
    if (ld.direct_account) add_direct_account(out);
    ld.source = path ? path : "defaults";
    rc = validate(&ld);
  }
  g_hash_table_destroy(ld.key_lines);
  if (rc) {
    config_free(out);
    return false;
  }
  return true;
}

void config_free(config *cfg) {
  if (!cfg) return;
  g_free(cfg->path);
  listen_list_free(cfg->listen, cfg->listen_count);
  listen_list_free(cfg->http_listen, cfg->http_listen_count);
  g_free(cfg->cert_file);
  g_free(cfg->key_file);
  g_free(cfg->web_root);
  g_free(cfg->echo_destination);
  clear_secret(&cfg->token_secret);
  strv_free(cfg->allowed_origins);
  strv_free(cfg->metrics_allow);
  g_free(cfg->sip_listen.host);
  g_free(cfg->public_ip);
  g_free(cfg->user_agent);
  g_free(cfg->tls_ca_file);
  g_free(cfg->dns_server.host);
  strv_free(cfg->byo_domains);
  g_free(cfg->media_address);
  g_free(cfg->stun_server.host);
  g_free(cfg->turn_server.host);
  g_free(cfg->turn_user);
  g_free(cfg->browser_codec);
  if (cfg->turn_password) memset(cfg->turn_password, 0, strlen(cfg->turn_password));
  g_free(cfg->turn_password);
  for (size_t i = 0; i < cfg->account_count; i++) account_clear(&cfg->accounts[i]);
  g_free(cfg->accounts);
  for (size_t i = 0; i < cfg->user_count; i++) user_clear(&cfg->users[i]);
  g_free(cfg->users);
  memset(cfg, 0, sizeof *cfg);
}

/* ---- queries ----------------------------------------------------------------------------- */

bool config_open_mode(const config *cfg) { return cfg->user_count == 0; }

const config_account *config_find_account(const config *cfg, const char *name) {
  for (size_t i = 0; i < cfg->account_count; i++) {
    if (strcmp(cfg->accounts[i].name, name) == 0) return &cfg->accounts[i];
  }
  return NULL;
}

const config_user *config_find_user(const config *cfg, const char *name) {
  for (size_t i = 0; i < cfg->user_count; i++) {
    if (strcmp(cfg->users[i].name, name) == 0) return &cfg->users[i];
  }
  return NULL;
}

bool config_user_may_use(const config *cfg, const config_user *user, const char *account_name) {
  if (!config_find_account(cfg, account_name)) return false;
  if (!user) return true;
  for (char **a = user->accounts; a && *a; a++) {
    if (strcmp(*a, "*") == 0 || strcmp(*a, account_name) == 0) return true;
  }
  return false;
}

bool config_byo_domain_allowed(const config *cfg, const char *domain) {
  for (char **d = cfg->byo_domains; d && *d; d++) {
    if (strcmp(*d, "*") == 0 || g_ascii_strcasecmp(*d, domain) == 0) return true;
  }
  return false;
}

bool config_listen_is_loopback(const config_listen *listen) {
  struct in_addr v4;
  struct in6_addr v6;
  if (inet_pton(AF_INET, listen->host, &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  if (inet_pton(AF_INET6, listen->host, &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

const char *sip_transport_name(sip_transport transport) {
  switch (transport) {
  case SIP_TRANSPORT_UDP: return "udp";
  case SIP_TRANSPORT_TCP: return "tcp";
  case SIP_TRANSPORT_TLS: return "tls";
  }
  return "udp";
}

bool sip_transport_parse(const char *text, sip_transport *out) {
  for (int t = SIP_TRANSPORT_UDP; t <= SIP_TRANSPORT_TLS; t++) {
    if (g_ascii_strcasecmp(text, sip_transport_name((sip_transport)t)) == 0) {
      *out = (sip_transport)t;
      return true;
    }
  }
  return false;
}
