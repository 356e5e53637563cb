/* config: the one configuration of a tabphone process.
 *
 * Sources, later ones win: embedded defaults, then the INI file (--config), then environment
 * overrides TABPHONE_<SECTION>_<KEY> (e.g. TABPHONE_SERVER_LISTEN) and, for named sections,
 * TABPHONE_<KIND>_<NAME>_<KEY> (e.g. TABPHONE_ACCOUNT_ALICE_PASSWORD; NAME upper-cased, every
 * character that is not a letter or digit written as '_'). Every key is documented in README
 * and tabphone.conf.example.
 *
 * Ownership: config_load fills a config the caller owns; config_free releases everything in it.
 * After loading, the config is read-only and may be read from any thread. */
#ifndef TABPHONE_CORE_CONFIG_H
#define TABPHONE_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"

typedef enum { SIP_TRANSPORT_UDP = 0, SIP_TRANSPORT_TCP, SIP_TRANSPORT_TLS } sip_transport;

const char *sip_transport_name(sip_transport transport); /* "udp", "tcp", "tls" */
bool sip_transport_parse(const char *text, sip_transport *out);

/* [account] srtp: SDES-SRTP toward the SIP side (RFC 4568). optional offers RTP/AVP with
 * a=crypto lines and accepts a clear or an SRTP answer; mandatory offers RTP/SAVP and refuses
 * every call (either direction) without keys. */
typedef enum { CONFIG_SRTP_OFF = 0, CONFIG_SRTP_OPTIONAL, CONFIG_SRTP_MANDATORY } config_srtp;

const char *config_srtp_name(config_srtp srtp); /* "off", "optional", "mandatory" */
bool config_srtp_parse(const char *text, config_srtp *out);

/* A host:port a server listens on. host is a numeric IPv4/IPv6 address ("::1", "0.0.0.0"). */
typedef struct config_listen {
  char *host;
  int port;
} config_listen;

/* [account NAME]: a SIP identity configured by the operator. Its password never leaves the
 * server (not to the browser, not to a log). */
typedef struct config_account {
  char *name;           /* section name, e.g. "alice" */
  char *uri;            /* sip:alice@example.com (address of record); NULL for "direct" */
  char *username;       /* digest auth user; defaults to the URI user part */
  char *password;       /* may be NULL (no auth) */
  char *display_name;   /* From display name, may be NULL */
  char *asserted_identity;  /* P-Asserted-Identity on our INVITEs (RFC 3325), e.g.
                              "<sip:+4930123@example.com>"; may be NULL */
  char *preferred_identity; /* P-Preferred-Identity on our INVITEs; may be NULL */
  char *registrar;      /* REGISTER target, e.g. sip:pbx.example.com:5060; defaults to the
                           URI's domain */
  char *proxy;          /* outbound proxy for every request, may be NULL */
  sip_transport transport;
  bool do_register;     /* "register = yes|no": no = a trunk that only sends/receives calls */
  bool direct;          /* the built-in "direct" account: calls go straight to the URI's host */
  int expires;          /* requested registration lifetime, seconds */
  char **codecs;        /* allowed codecs, NULL-terminated, lowercase: opus, pcmu, pcma, g722 */
  char **trusted_sources; /* INVITEs only from these addresses / CIDR prefixes, NULL-terminated;
                             empty = from anywhere */
  config_srtp srtp;     /* SDES-SRTP toward the SIP side; default off */
  int latch_any_source; /* 1/0; -1 = as [media] latch_any_source (config_latch_any_source) */
  int line;             /* where the section starts in the file (0 = embedded/env) */
} config_account;

/* [user NAME]: a person who may log in from a browser tab. */
typedef struct config_user {
  char *name;
  char *password_hash;  /* "pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>" */
  char **accounts;      /* account names this user may use, NULL-terminated; "*" = all */
  bool byo_accounts;    /* may register bring-your-own accounts (if [sip] allows them) */
  char **dial_allow;    /* destination globs this user may call, NULL-terminated; empty = all */
  char **dial_deny;     /* destination globs this user may never call (wins over dial_allow) */
  int max_calls;        /* concurrent calls of this user over all tabs; 0 = no per-user limit */
  int calls_per_minute; /* new outbound calls per minute; 0 = no limit */
  int line;
} config_user;

typedef struct config {
  char *path;                  /* file the config came from, NULL = embedded defaults */

  /* [server] */
  config_listen *listen;       /* HTTPS + WSS listeners */
  size_t listen_count;
  config_listen *http_listen;  /* optional plain HTTP listeners (loopback only), for tests */
  size_t http_listen_count;
  char *cert_file;             /* PEM certificate (chain) */
  char *key_file;              /* PEM private key */
  char *web_root;              /* directory served at / */
  char **allowed_origins;      /* NULL-terminated; empty = same origin as the Host header */
  int session_idle_timeout;    /* seconds without any frame before a session is closed */
  int login_timeout;           /* seconds an unauthenticated socket may stay open */
  char *echo_destination;      /* dialing this answers with the built-in echo test ("echo") */
  char *token_secret;          /* HMAC key of login tokens, NULL = token login off; secret */
  int max_sessions_per_ip;     /* concurrent WebSockets from one address */
  int message_rate;            /* messages a session may send per 10 s (burst, then steady) */
  int max_calls;               /* concurrent calls on the server; 0 = unlimited */
  int max_calls_per_session;   /* concurrent calls of one tab */
  int invite_rate;             /* inbound INVITEs per account per 10 s (burst, then steady); 0 = off */
  int login_max_failures;      /* failed logins for one user name before it is locked */
  int login_max_failures_per_ip; /* failed logins from one address before it is locked */
  int login_lockout;           /* seconds of the first lock; doubles per repeat, max 1 h */
  int reconnect_grace_seconds; /* a dropped tab's calls wait this long for a resume; 0 = off */
  char **metrics_allow;        /* GET /metrics only from these addresses / CIDR prefixes,
                                  NULL-terminated; empty = /metrics off (403 for everyone) */

  /* [sip] */
  config_listen sip_listen;    /* UDP + TCP listener for SIP */
  char *public_ip;             /* address to put in Contact/SDP when behind 1:1 NAT, or NULL */
  bool learn_public_address;   /* no public_ip: adopt the address:port a registrar's 2xx Via
                                  reports (received/rport), per account */
  char *user_agent;
  bool byo_accounts;           /* tabs may register accounts of their own */
  char **byo_domains;          /* NULL-terminated list of allowed domains; "*" = any */
  int register_retry_min;      /* seconds: first retry after a failed registration */
  int register_retry_max;      /* seconds: backoff cap */
  int shutdown_timeout;        /* seconds SIGTERM waits for un-REGISTERs before exiting */
  int session_expires;         /* RFC 4028 Session-Expires we ask for (s); 0 = no session timer */
  int min_se;                  /* RFC 4028 Min-SE: shortest interval we accept (s) */
  char *tls_ca_file;           /* PEM bundle that SIP-over-TLS peers must chain to */
  int tls_port;                /* SIP TLS listener port; 0 = [sip] listen port + 1 */
  int keepalive_seconds;       /* CRLF / OPTIONS keepalive toward registrars; 0 = off */
  config_listen dns_server;    /* RFC 3263 lookups go here; host NULL = /etc/resolv.conf */

  /* [media] */
  int media_workers;           /* worker threads; 0 = one per core */
  int rtp_timeout;             /* seconds without RTP from either leg before the call ends */
  int latch_window_ms;         /* RTP source latching allowed this long after media starts */
  bool latch_any_source;       /* latch to any source, not only the SDP's address (NAT) */
  int overload_lag_ms;         /* refuse new calls while every worker lags more; 0 = off */
  int media_max_calls;         /* [media] max_calls: refuse new calls at this many; 0 = no limit */
  int port_min, port_max;      /* SIP-side RTP/RTCP pairs come from [port_min, port_max] */
  char *media_address;         /* ICE host candidates + RTP socket address, or NULL = derived */
  config_listen stun_server;   /* host NULL = no STUN server */
  config_listen turn_server;   /* host NULL = no TURN server (UDP relay) */
  char *turn_user;
  char *turn_password;         /* secret: never logged, never sent to a browser */
  char *browser_codec;         /* "auto" (passthrough first) or "opus" (browser leg always Opus) */
  int opus_complexity;         /* Opus encoder complexity when transcoding, 0-10 */
  bool opus_dtx;               /* Opus DTX toward the browser when transcoding */

  /* [shutdown] */
  int drain_seconds;           /* SIGTERM lets calls finish this long before BYE; 0 = no drain */

  /* [log] */
  log_level log_level;

  config_account *accounts;    /* includes the built-in "direct" account when enabled */
  size_t account_count;
  config_user *users;
  size_t user_count;
} config;

/* Loads defaults, then path (NULL = none), then the environment (envp, NULL-terminated
 * "KEY=value" strings; pass environ). Validates everything, including that the certificate and
 * key files exist and that open mode (no [user]) only listens on loopback.
 * On error returns false and writes one line into err: "FILE:LINE: key 'x': what is wrong". */
bool config_load(config *out, const char *path, char *const *envp, char *err, size_t err_len);

void config_free(config *cfg);

/* True when no [user] exists: no login, allowed only while every listener is on loopback. */
bool config_open_mode(const config *cfg);

const config_account *config_find_account(const config *cfg, const char *name);
const config_user *config_find_user(const config *cfg, const char *name);

/* May user (NULL in open mode = the local user, who may use everything) use account? */
bool config_user_may_use(const config *cfg, const config_user *user, const char *account_name);

/* Is domain allowed for bring-your-own accounts? Case-insensitive; "*" allows any. */
bool config_byo_domain_allowed(const config *cfg, const char *domain);

bool config_listen_is_loopback(const config_listen *listen);

/* Whether the SIP leg of a call through account (NULL = none) may latch to any source: the
 * account's own latch_any_source, else [media] latch_any_source. */
bool config_latch_any_source(const config *cfg, const config_account *account);

#endif
