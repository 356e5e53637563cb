/* sdp: the SDP model, parser, printer, and the translations between the browser's WebRTC SDP
 * (UDP/TLS/RTP/SAVPF, ICE, DTLS, rtcp-mux, BUNDLE) and the plain SDP of the SIP side
 * (RTP/AVP, c= our media address, RTCP on port+1, ptime 20, telephone-event).
 *
 * Pure code: no I/O, no globals, thread-safe. Every function that reads outside input checks
 * it and explains a refusal in err (one line, no raw control characters).
 * Ownership: sdp_parse fills a caller-owned sdp_session; what it allocates inside (the
 * candidate lines) is released by sdp_session_clear, which every parsed session needs before
 * its memory is freed or parsed into again. The sdp_*_to_* functions return a malloc'd SDP
 * text in *out (free with free()). */
#ifndef TABPHONE_SDP_SDP_H
#define TABPHONE_SDP_SDP_H

#include <stdbool.h>
#include <stddef.h>

enum {
  SDP_MAX_CODECS = 32,
  SDP_MAX_MEDIA = 8,
  SDP_MAX_CANDIDATES = 32,
  SDP_MAX_CANDIDATE_LINE = 256, /* bytes, with the NUL */
};

typedef struct sdp_codec {
  int pt;
  char name[32];        /* as written: "opus", "PCMU", "telephone-event" */
  int clock_rate;
  int channels;         /* 1 unless given */
  char fmtp[256];       /* a=fmtp parameters, "" if none */
} sdp_codec;

typedef struct sdp_media {
  char type[16];        /* "audio", "video", "application" */
  int port;             /* 0 = rejected/disabled */
  char proto[32];       /* "RTP/AVP", "UDP/TLS/RTP/SAVPF", ... */
  sdp_codec codecs[SDP_MAX_CODECS]; /* in m= order */
  size_t codec_count;
  char connection[64];  /* c= address of this media (or the session's), "" if none */
  int rtcp_port;        /* a=rtcp, else port + 1 */
  bool rtcp_mux;
  char direction[12];   /* "sendrecv" (default), "sendonly", "recvonly", "inactive" */
  int ptime;            /* 0 if absent */
  char mid[32];
  char ice_ufrag[64];   /* media level, else inherited from session level */
  char ice_pwd[128];
  char fingerprint_alg[16]; /* "sha-256" */
  char fingerprint[200];
  char setup[12];       /* "actpass", "active", "passive", "" */
  /* "candidate:..." without "a=", each malloc'd (freed by sdp_session_clear): inline they
   * made an sdp_session 150 KiB, zeroed at every parse, for lines most SDPs do not have. */
  char *candidates[SDP_MAX_CANDIDATES];
  size_t candidate_count;
  bool end_of_candidates;
  char crypto[4][160];  /* a=crypto lines (SDES), for later issues */
  size_t crypto_count;
} sdp_media;

typedef struct sdp_session {
  unsigned long long origin_id;
  unsigned long long origin_version;
  char origin_address[64];
  char connection[64];  /* session-level c= address */
  sdp_media media[SDP_MAX_MEDIA];
  size_t media_count;
  bool bundle;          /* a=group:BUNDLE present */
} sdp_session;

/* Parses text[0..len) into *out, which may hold anything (it is not read: clear a session
 * parsed before). Accepts CRLF or LF line ends. On error returns false with err and *out
 * empty (nothing to clear). */
bool sdp_parse(const char *text, size_t len, sdp_session *out, char *err, size_t err_len);
/* Frees what sdp_parse allocated in session and zeroes it; NULL is fine. */
void sdp_session_clear(sdp_session *session);

/* The first audio m-line with a non-zero port, or NULL. */
const sdp_media *sdp_audio(const sdp_session *session);

/* The codec each leg uses, and telephone-event on each leg (-1 = none). Passthrough: both legs
 * carry name; transcoded: the browser leg carries name, the SIP leg sip_name. */
typedef struct sdp_codec_choice {
  char name[32];        /* lowercase: "opus", "pcmu", "pcma", "g722" (the browser leg's) */
  int clock_rate;       /* the browser leg's RTP clock */
  int browser_pt;
  int sip_pt;
  int browser_dtmf_pt;  /* at clock_rate */
  int sip_dtmf_pt;      /* at sip_clock_rate */
  bool transcoded;
  char sip_name[32];    /* the SIP leg's codec (= name unless transcoded) */
  int sip_clock_rate;
} sdp_codec_choice;

/* [media] browser_codec: "auto" (NULL) = passthrough whenever the legs share a codec and
 * transcoding only when they do not (the browser leg then gets Opus when it offers it);
 * "opus" = the browser leg always uses Opus (with FEC) when the browser offers it, transcoding
 * when the far end has no Opus. */
typedef enum sdp_browser_codec { SDP_BROWSER_CODEC_AUTO, SDP_BROWSER_CODEC_OPUS } sdp_browser_codec;

/* Our side of the plain (SIP) SDP. */
typedef struct sdp_plain_local {
  const char *address;  /* c= and o= address (public_ip when configured) */
  int rtp_port;         /* RTCP is rtp_port + 1 */
  unsigned long long session_id;
  unsigned long long session_version;
  sdp_browser_codec browser_codec;
  char *const *allowed; /* the account's codecs (NULL = default), for step (4)'s SIP codec */
} sdp_plain_local;

/* Our side of the WebRTC SDP. */
typedef struct sdp_webrtc_local {
  const char *ice_ufrag;
  const char *ice_pwd;
  const char *fingerprint; /* sha-256 "AB:CD:..." */
  const char *setup;       /* "actpass" in our offers, "active"/"passive" in our answers */
  unsigned long long session_id;
  unsigned long long session_version;
  sdp_browser_codec browser_codec;
} sdp_webrtc_local;

/* allowed: NULL-terminated lowercase codec names in the account's preference order ("opus",
 * "pcmu", "pcma", "g722"). */

/* Outbound call, step 1: the browser's offer -> the SIP offer (codecs both the browser and the
 * account allow, in the account's order, plus telephone-event/8000). No common codec -> false
 * with err "no common codec (browser: opus, pcmu; account: g722)". */
bool sdp_offer_browser_to_plain(const sdp_session *browser_offer, char *const *allowed,
                                const sdp_plain_local *local, char **out, char *err,
                                size_t err_len);

/* Outbound call, step 2: the SIP answer (or 183 early-media SDP) -> the browser's answer,
 * mirroring the offer's mid/BUNDLE/rtcp-mux, with only the chosen codec (+ telephone-event).
 * Fills choice. Unusable answer -> false with err. */
bool sdp_answer_plain_to_browser(const sdp_session *browser_offer, const sdp_session *plain_answer,
                                 const sdp_webrtc_local *local, char **out,
                                 sdp_codec_choice *choice, char *err, size_t err_len);

/* Inbound call, step 1: the SIP offer -> an offer for the browser (codecs the SIP offer, the
 * account and WebRTC allow). No common codec -> false with err (the caller answers 488). */
bool sdp_offer_plain_to_browser(const sdp_session *plain_offer, char *const *allowed,
                                const sdp_webrtc_local *local, char **out, char *err,
                                size_t err_len);

/* Inbound call, step 2: the browser's answer -> the SIP answer. Fills choice. */
bool sdp_answer_browser_to_plain(const sdp_session *plain_offer, const sdp_session *browser_answer,
                                 const sdp_plain_local *local, char **out,
                                 sdp_codec_choice *choice, char *err, size_t err_len);

/* The echo test: the browser's offer -> an answer that accepts the first codec of the offer
 * that is opus, pcmu or pcma (plus telephone-event), for media looped back to the browser.
 * choice->sip_pt equals browser_pt. */
bool sdp_answer_echo(const sdp_session *browser_offer, const sdp_webrtc_local *local, char **out,
                     sdp_codec_choice *choice, char *err, size_t err_len);

/* In-dialog SDP of our own (hold / resume re-INVITEs, answers to the far end's re-INVITEs):
 * ours (a plain SDP this module printed) again with its audio direction set to direction
 * ("sendrecv", "sendonly", "recvonly", "inactive"), its o= version + 1 (RFC 3264 8: every new
 * SDP of a dialog bumps it) and, when keep_pt >= 0, only the payload types keep_pt and
 * keep_dtmf_pt: a new offer must not let the far end switch to another codec than the one the
 * media bridge maps. *out is malloc'd. */
bool sdp_plain_with_direction(const char *ours, const char *direction, int keep_pt,
                              int keep_dtmf_pt, char **out, char *err, size_t err_len);

/* The direction of our answer to an offer whose audio said offered (NULL = sendrecv): RFC 3264
 * 6.1, where we want sendrecv, or sendonly while holding (as our hold offer said). A static
 * string. */
const char *sdp_answer_direction(const char *offered, bool holding);

/* The direction of the first usable audio m-line of an SDP text ("sendrecv"... as a static
 * string), NULL when the text does not parse or has no audio. */
const char *sdp_audio_direction(const char *text);

/* ---- SDES-SRTP key lines (RFC 4568 a=crypto), crypto.c ------------------------------------
 * The key and salt are secrets: callers must never log an sdp_crypto or a printed line, and
 * should wipe them (OPENSSL_cleanse) when done. */
typedef enum sdp_srtp_suite {
  SDP_SRTP_NONE = 0,
  SDP_SRTP_AES_CM_128_HMAC_SHA1_80,
  SDP_SRTP_AES_CM_128_HMAC_SHA1_32,
  SDP_SRTP_AEAD_AES_128_GCM, /* RFC 7714: 12-byte salt */
} sdp_srtp_suite;

enum { SDP_SRTP_KEY_LEN = 16, SDP_SRTP_SALT_MAX = 14 };

typedef struct sdp_crypto {
  int tag;                  /* 0..999999999 */
  sdp_srtp_suite suite;
  unsigned char key[SDP_SRTP_KEY_LEN];
  unsigned char salt[SDP_SRTP_SALT_MAX]; /* sdp_srtp_salt_len(suite) bytes used */
  bool has_lifetime;        /* |2^31 or |N after the key (read, not enforced) */
  int mki_len;              /* |value:length after the key; 0 = no MKI */
  bool has_session_params;  /* anything after the key-params (UNENCRYPTED_SRTP, KDR=...) */
} sdp_crypto;

/* "AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32", "AEAD_AES_128_GCM"; NULL for NONE. */
const char *sdp_srtp_suite_name(sdp_srtp_suite suite);
size_t sdp_srtp_salt_len(sdp_srtp_suite suite); /* 14, 14, 12; 0 for NONE */

/* value: an a=crypto value without "a=crypto:" (as sdp_media.crypto holds it). Only the first
 * key of the line is read. false + err (never quoting the key) when it is malformed or names a
 * suite we do not support. */
bool sdp_crypto_parse(const char *value, sdp_crypto *out, char *err, size_t err_len);
/* "TAG SUITE inline:BASE64(key||salt)" into buf; false when it does not fit. */
bool sdp_crypto_print(const sdp_crypto *crypto, char *buf, size_t len);
/* The first a=crypto of media (offerer's order) that we can use: supported suite, no MKI, no
 * session parameters. false when there is none. */
bool sdp_crypto_pick(const sdp_media *media, sdp_crypto *out);
/* Whether an a=crypto value is one sdp_crypto_pick could choose (a suite we support, no MKI,
 * no session parameters). */
bool sdp_crypto_usable(const char *value);
/* The usable a=crypto of media with this tag and suite (an answer must echo one we offered). */
bool sdp_crypto_find(const sdp_media *media, int tag, sdp_srtp_suite suite, sdp_crypto *out);
/* A plain SDP (one this module printed) with its audio m-line's profile set to proto
 * ("RTP/AVP" or "RTP/SAVP") and exactly the given a=crypto lines in its audio section (count
 * may be 0). *out is malloc'd. */
bool sdp_plain_secure(const char *plain, const char *proto, const sdp_crypto *cryptos,
                      size_t count, char **out, char *err, size_t err_len);

#endif
