/* media_internal: the structs shared by the files of server/media/ (not part of the contract).
 *
 * Who touches what:
 * - media_engine: built and freed on the control thread; read-only afterwards except the
 *   atomic counters, so workers may read it.
 * - call_media: one allocation shared by the control thread and its worker, kept alive by an
 *   atomic refcount (the control side holds one reference until call_media_free; every message
 *   in flight between threads holds one). The fields marked "control" are only touched on the
 *   control thread (or written once before the call is published to the worker); the fields
 *   marked "worker" only on the call's worker, from its start message to its destroy message.
 *   Nothing else is shared, so no lock exists.
 * - Packet buffers live inside call_media: the packet path allocates nothing. */
#ifndef TABPHONE_MEDIA_MEDIA_INTERNAL_H
#define TABPHONE_MEDIA_MEDIA_INTERNAL_H

#include <nice/agent.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <srtp2/srtp.h>
#include <stdatomic.h>
#include <stdint.h>

#include "codec/transcoder.h"
#include "media/media.h"
#include "media/rtcp_report.h"

#define MEDIA_PACKET_MAX 1500                             /* largest datagram we handle */
#define MEDIA_BUFFER_SIZE (MEDIA_PACKET_MAX + SRTP_MAX_TRAILER_LEN + 16)
#define MEDIA_BROWSER_SSRC 2058354689u                    /* 0x7AB00001, in our WebRTC SDP */
#define MEDIA_DTLS_MTU 1200

typedef struct media_worker {
  GThread *thread;
  GMainContext *context;
  GMainLoop *loop;
  atomic_int calls; /* for least-loaded assignment */
  /* Thread renewal (engine.c, media_engine_release_memory). */
  atomic_bool handing_over; /* a successor thread has not taken the loop over yet */
  atomic_bool stopping;     /* media_engine_free: a successor must not start the loop */
  /* Loop lag (engine.c): a 100 ms timer on the worker's context records how late it fires.
   * Written by the worker, read by any thread (media_engine_overloaded, /metrics). */
  GSource *lag_timer;
  atomic_llong last_tick_us;  /* monotonic time of the last tick */
  atomic_int lag_us;          /* smoothed lateness of the ticks */
} media_worker;

struct media_engine {
  GMainContext *control;
  media_worker *workers;
  size_t worker_count;
  SSL_CTX *dtls_context;    /* shared by all calls; SSL_new is thread-safe */
  char fingerprint[100];    /* "AB:CD:..." (32 bytes -> 95 chars) */
  char **ice_addresses;     /* NULL-terminated, where libnice gathers host candidates */
  char *rtp_bind_host;      /* where rtp legs bind ("0.0.0.0" when unspecific) */
  char *rtp_sdp_host;       /* what goes into the SIP SDP */
  int port_min, port_max;   /* [media] range for the rtp legs' even/odd pairs */
  atomic_uint next_pair;    /* where the next pair search starts (round robin) */
  atomic_uint pairs_in_use; /* rtp legs bound now (for /metrics) */
  int rtp_timeout_s;        /* [media] rtp_timeout */
  gint64 latch_window_us;   /* [media] latch_window_ms (rtp_leg.c) */
  bool latch_any_source;    /* [media] latch_any_source */
  char *public_ip;          /* [sip] public_ip: written into trickled host candidates, or NULL */
  char *stun_host;          /* [media] stun_server, or NULL */
  int stun_port;
  char *turn_host;          /* [media] turn_server, or NULL */
  int turn_port;
  char *turn_user;
  char *turn_password;      /* secret: never logged */
  atomic_size_t call_count;
  /* malloc_trim runs one at a time (engine.c, return_free_memory): the renewed workers would
   * otherwise call it together, and where glibc's malloc has never run (an ASan build, a
   * preloaded allocator) its first call initialises the arenas without a lock. */
  GMutex trim_lock;
  atomic_uint next_id;
  int overload_lag_us;      /* [media] overload_lag_ms in µs; 0 = lag never overloads */
  size_t max_calls;         /* [media] max_calls; 0 = no limit */
  bool refusing;            /* control thread: inside a refusal window (media_engine_admit) */
};

/* ICE (ice.c), worker fields. */
typedef struct ice_leg {
  NiceAgent *agent;
  guint stream_id;
  bool connected;           /* component reached CONNECTED or READY */
  bool failed;
} ice_leg;

/* DTLS (dtls.c), worker fields. */
typedef struct dtls_leg {
  SSL *ssl;
  BIO *incoming;            /* memory BIO we write received datagrams into */
  bool client;              /* we are the DTLS client (a=setup:active) */
  bool started;             /* SSL_do_handshake called at least once */
  bool done;                /* handshake finished and SRTP keyed */
  bool failed;
  GSource *timer;           /* DTLS retransmission timer */
  char remote_fingerprint[100];
  bool remote_fingerprint_sha256;
} dtls_leg;

/* SRTP (srtp.c), worker fields. */
typedef struct srtp_leg {
  srtp_t inbound;
  srtp_t outbound;
  bool ready;
  bool rekeyed;             /* the last srtp_leg_start kept the running streams' indexes */
  int profile_id;
  const char *profile_name; /* static string */
} srtp_leg;

/* The SIP-side UDP pair (rtp_leg.c). Bound on the control thread in call_media_new; the
 * sources and addresses are worker fields. */
typedef struct rtp_leg {
  int rtp_fd;
  int rtcp_fd;
  int port;
  atomic_uint *pairs_in_use; /* the engine's count, released by rtp_leg_close; NULL if unbound */
  GSource *rtp_source;
  GSource *rtcp_source;
  struct sockaddr_storage rtp_remote;
  struct sockaddr_storage rtcp_remote;
  socklen_t rtp_remote_len;
  socklen_t rtcp_remote_len;
  bool latched;             /* rtp_remote follows the first source the far end sent from */
  bool rtcp_latched;        /* rtcp_remote likewise, from the first RTCP source */
  /* After a re-INVITE: the source we were latched to before it. Stale packets still in flight
   * from there must not latch us back to the old address (unless the new SDP names it). */
  struct sockaddr_storage stale;
  socklen_t stale_len;
  gint64 stale_until_us;
  struct sockaddr_storage sdp_rtp; /* what the far end's SDP said (for that exception) */
  socklen_t sdp_rtp_len;
  /* RTP bleed guard (rtp_leg.c): latching happens only inside a window that opens with the
   * first accepted packet after a new remote, and only from the SDP's host unless
   * [media] latch_any_source; afterwards other sources are dropped and counted. */
  gint64 window_end_us;      /* RTP; 0 = not opened yet */
  gint64 rtcp_window_end_us;
  /* Inside the window: another allowed source that sent this many packets in a row (none
   * from the latched source between them) takes the latch over. */
  struct sockaddr_storage candidate, rtcp_candidate;
  socklen_t candidate_len, rtcp_candidate_len;
  unsigned candidate_run, rtcp_candidate_run;
  unsigned foreign_dropped;  /* this call's packets from foreign sources */
  /* SDES-SRTP toward the far end (call_media_set_sip_srtp). */
  srtp_leg srtp;
  bool srtp_required;        /* nothing in clear, ever: drop until keyed */
  unsigned srtp_failures;    /* packets that failed SRTP authentication */
  uint8_t out[MEDIA_BUFFER_SIZE]; /* the protected copy of what we send */
} rtp_leg;

/* Stream continuity state for what we send on each leg (bridge.c, dtmf.c), worker fields. */
typedef struct bridge_state {
  media_codec_map map;
  bool have_map;
  uint32_t sip_ssrc;        /* our SSRC toward the SIP side */
  uint32_t browser_in_ssrc; /* last browser SSRC seen (0 = none yet) */
  uint32_t sip_in_ssrc;     /* last SSRC seen from the SIP side (0 = none yet), for RTCP */
  /* What we send to the browser stays one stream when the far end's changes (a 183's media
   * server, then the phone after the 200; a re-INVITE): browser seq/ts = far end's + these. */
  uint16_t browser_seq_offset;
  uint32_t browser_ts_offset;
  uint16_t last_browser_seq;
  uint32_t last_browser_ts;
  uint16_t seq_offset;      /* sip seq = browser seq + seq_offset */
  uint32_t ts_offset;       /* sip ts = browser ts + ts_offset */
  uint16_t last_sip_seq;
  uint32_t last_sip_ts;
  gint64 last_sip_send_us;
  bool sent_to_sip;
  bool sent_to_browser;
  bool got_from_browser;
  bool got_from_sip;
  bool hold_send;           /* on hold (either side): nothing from the browser goes to SIP */
  bool resync;              /* hold ended: the next browser packet re-bases seq/ts offsets */
  unsigned held_drops;      /* browser packets not forwarded during the current hold */
  transcoder *to_sip;       /* both set when the legs' codecs differ (else NULL: passthrough) */
  transcoder *to_browser;
  /* Transcoding: each leg's own RTP session statistics and reports (rtcp_report.h), as the
   * legs' streams are ours; valid while to_sip is set. */
  rtcp_leg browser_rtcp;    /* MEDIA_BROWSER_SSRC toward the browser, its stream to us */
  rtcp_leg sip_rtcp;        /* sip_ssrc toward the far end, its stream to us */
  bool rtcp_legs_started;   /* initialized (kept across a codec change: counts go on) */
} bridge_state;

/* RFC 4733 sender (dtmf.c), worker fields. */
typedef struct dtmf_sender {
  char digits[64];          /* queued, not yet started */
  size_t queued;
  int duration_ms;
  GSource *timer;
  bool active;              /* an event is being sent */
  uint8_t event;
  uint32_t start_ts;
  uint32_t elapsed;         /* timestamp units sent so far */
  int end_sent;             /* E-bit packets sent (3 in all) */
} dtmf_sender;

struct call_media {
  atomic_int refs;
  atomic_bool closed;       /* control: set by call_media_free; no listener call after */

  /* control (set before the call is published to its worker, then read-only) */
  media_engine *engine;
  media_worker *worker;
  media_listener listener;
  void *user_data;
  media_mode mode;
  bool ice_controlling;
  char subject[96];         /* "call <call_id>" (or "call m<n>") for the log */
  webrtc_local local;
  char rtp_address[64];
  int rtp_port;
  /* [media] latch_any_source, or the call's account's (call_media_set_latch_any_source); read
   * by the worker's rtp leg, hence atomic. */
  atomic_bool latch_any_source;

  /* worker */
  bool destroyed;
  ice_leg ice;
  dtls_leg dtls;
  srtp_leg srtp;
  rtp_leg rtp;
  bridge_state bridge;
  dtmf_sender dtmf;
  GSource *watchdog;        /* 250 ms timer for the RTP inactivity timeout */
  gint64 last_browser_rx_us;
  gint64 last_sip_rx_us;
  gint64 connected_us;
  bool local_hold;          /* the tab put the call on hold */
  bool remote_hold;         /* the far end put us on hold (sendonly/inactive offer) */
  gint64 hold_ended_us;     /* last time a hold ended: the RTP timeout counts from here too */
  bool ended;               /* a FAILED or RTP_TIMEOUT event was sent */
  uint8_t buffer[MEDIA_BUFFER_SIZE];     /* packet being processed */
  uint8_t dtmf_buffer[64];
  uint8_t rtcp_buffer[MEDIA_BUFFER_SIZE]; /* translated RTCP (rtcp_translate writes here) */
};

/* engine.c */
media_worker *media_engine_pick_worker(media_engine *engine);

/* call_media.c: events toward the control thread (copies the strings). Worker only. */
void media_emit(call_media *media, media_event_type type, const char *candidate,
                const char *reason, const char *srtp_profile);
void media_fail(call_media *media, const char *reason); /* once per call */
call_media *call_media_ref(call_media *media);
void call_media_unref(call_media *media);

/* ice.c (worker) */
bool ice_leg_start(call_media *media);
void ice_leg_set_remote_credentials(call_media *media, const char *ufrag, const char *pwd);
void ice_leg_add_remote_candidate(call_media *media, const char *line);
/* ICE restart with new local and remote credentials; DTLS and SRTP go on over the new pair.
 * Re-trickles the local candidates. false when the leg has no agent or already failed. */
bool ice_leg_restart(call_media *media, const char *local_ufrag, const char *local_pwd,
                     const char *remote_ufrag, const char *remote_pwd);
bool ice_leg_send(call_media *media, const uint8_t *data, size_t len);
void ice_leg_stop(call_media *media);

/* dtls.c (engine setup on control; the rest worker) */
SSL_CTX *dtls_context_new(char *fingerprint, size_t fingerprint_len, char *err, size_t err_len);
bool dtls_leg_setup(call_media *media, bool client, const char *fingerprint_alg,
                    const char *fingerprint);
void dtls_leg_on_ice_connected(call_media *media);
void dtls_leg_on_datagram(call_media *media, const uint8_t *data, size_t len);
void dtls_leg_stop(call_media *media);

/* srtp.c (worker; srtp_leg_global_init once from the engine) */
bool srtp_leg_global_init(void);
bool srtp_leg_start(srtp_leg *leg, int profile_id, const uint8_t *local_key,
                    const uint8_t *local_salt, const uint8_t *remote_key,
                    const uint8_t *remote_salt);
bool srtp_leg_protect(srtp_leg *leg, uint8_t *data, int *len, bool rtcp);
bool srtp_leg_unprotect(srtp_leg *leg, uint8_t *data, int *len, bool rtcp);
void srtp_leg_stop(srtp_leg *leg);

/* rtp_leg.c (bind/close on control before publish or at the end; the rest worker) */
/* Binds the first free even/odd pair of the engine's range, starting after the last pair handed
 * out and wrapping around. Fails with "no free RTP port in MIN-MAX" when every pair is taken. */
bool rtp_leg_bind(rtp_leg *leg, media_engine *engine, char *err, size_t err_len);
void rtp_leg_attach(call_media *media);
void rtp_leg_set_remote(call_media *media, const char *address, int rtp_port, int rtcp_port);
void rtp_leg_send(call_media *media, const uint8_t *data, size_t len, bool rtcp);
void rtp_leg_close(rtp_leg *leg);
/* SDES keys for the SIP leg (worker): profile is an OpenSSL SRTP_* id. */
bool rtp_leg_set_srtp(call_media *media, int profile_id, const uint8_t *local_key,
                      const uint8_t *local_salt, const uint8_t *remote_key,
                      const uint8_t *remote_salt);

/* bridge.c (worker): one packet from either leg, already classified as RTP or RTCP. */
void bridge_from_browser(call_media *media, const uint8_t *data, size_t len, bool rtcp);
void bridge_from_sip(call_media *media, const uint8_t *data, size_t len, bool rtcp);
void bridge_set_codec_map(call_media *media, const media_codec_map *map);
/* Frees the transcoders (call teardown, on the worker). */
void bridge_stop(call_media *media);
/* Every watchdog tick (worker): sends each leg's RTCP report when due (transcoding only). */
void bridge_tick(call_media *media, gint64 now_us);
/* Hold (either side): stop or resume forwarding the browser's audio to the SIP side. */
void bridge_set_hold(call_media *media, bool held);
/* Sends a packet we built toward the SIP side, counting it in the stream's continuity. */
void bridge_send_to_sip(call_media *media, uint8_t *data, size_t len);

/* dtmf.c (worker) */
void dtmf_sender_queue(call_media *media, const char *digits, int duration_ms);
void dtmf_sender_stop(call_media *media);

#endif
