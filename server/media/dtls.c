/* dtls: DTLS-SRTP key agreement with the browser (RFC 5763/5764) over the libnice flow.
 *
 * The engine has one SSL_CTX with a self-signed ECDSA P-256 certificate made at startup; its
 * SHA-256 fingerprint goes into every WebRTC SDP we send. Per call, an SSL object reads from a
 * memory BIO (we write each received datagram into it and let OpenSSL consume it at once) and
 * writes through a small custom BIO whose every write is one datagram handed to libnice
 * (OpenSSL 3.0 has no datagram BIO pair). A failed send is a dropped datagram, never an error:
 * the browser's first DTLS packet can arrive before libnice can send on the pair, and DTLS
 * retransmits anyway. The retransmission timer runs on the worker loop.
 *
 * The peer certificate is accepted by OpenSSL as is (WebRTC certificates are self-signed) and
 * then checked against the fingerprint from the browser's SDP; a mismatch fails the call with
 * "dtls_fingerprint_mismatch". Then the SRTP keys come from the exporter ("EXTRACTOR-dtls_srtp":
 * client key, server key, client salt, server salt) and srtp.c is keyed. Keys are never logged.
 *
 * Threading: dtls_context_new on the control thread; everything else on the call's worker. */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <string.h>

#include "core/log.h"
#include "media/media_internal.h"

#define EXPORTER_LABEL "EXTRACTOR-dtls_srtp"

static void format_fingerprint(const unsigned char *md, unsigned int n, char *out,
                               size_t out_len) {
  size_t pos = 0;
  out[0] = '\0';
  for (unsigned int i = 0; i < n && pos + 3 < out_len; i++)
    pos += (size_t)g_snprintf(out + pos, out_len - pos, i ? ":%02X" : "%02X", md[i]);
}

static bool cert_fingerprint(X509 *cert, char *out, size_t out_len) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!X509_digest(cert, EVP_sha256(), md, &n)) return false;
  format_fingerprint(md, n, out, out_len);
  return true;
}

/* A fresh self-signed certificate: CN=tabphone, valid from yesterday for 30 days. */
static X509 *make_certificate(EVP_PKEY *key) {
  X509 *cert = X509_new();
  if (!cert) return NULL;
  unsigned char serial[8];
  RAND_bytes(serial, sizeof serial);
  BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
  X509_NAME *name = X509_NAME_new();
  bool ok = bn && name && X509_set_version(cert, 2) &&
            BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) &&
            X509_gmtime_adj(X509_getm_notBefore(cert), -86400) &&
            X509_gmtime_adj(X509_getm_notAfter(cert), 30L * 86400) &&
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                       (const unsigned char *)"tabphone", -1, -1, 0) &&
            X509_set_subject_name(cert, name) && X509_set_issuer_name(cert, name) &&
            X509_set_pubkey(cert, key) && X509_sign(cert, key, EVP_sha256()) > 0;
  BN_free(bn);
  X509_NAME_free(name);
  if (!ok) {
    X509_free(cert);
    return NULL;
  }
  return cert;
}

/* WebRTC peers present self-signed certificates: chain errors are expected. The fingerprint
 * check after the handshake is what authenticates the peer. */
static int accept_any_certificate(int preverify_ok, X509_STORE_CTX *store) {
  (void)preverify_ok;
  (void)store;
  return 1;
}

SSL_CTX *dtls_context_new(char *fingerprint, size_t fingerprint_len, char *err, size_t err_len) {
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *cert = key ? make_certificate(key) : NULL;
  SSL_CTX *ctx = cert ? SSL_CTX_new(DTLS_method()) : NULL;
  bool ok = ctx && SSL_CTX_use_certificate(ctx, cert) == 1 &&
            SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1 &&
            SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION) == 1 &&
            SSL_CTX_set_tlsext_use_srtp(ctx, "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80") == 0 &&
            cert_fingerprint(cert, fingerprint, fingerprint_len);
  if (ok) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       accept_any_certificate);
    SSL_CTX_set_options(ctx, SSL_OP_NO_QUERY_MTU);
  } else {
    const char *why = ERR_reason_error_string(ERR_peek_last_error());
    g_snprintf(err, err_len, "DTLS certificate: %s", why ? why : "cannot create");
    SSL_CTX_free(ctx);
    ctx = NULL;
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  return ctx;
}

/* ---- the datagram BIO: each write is one datagram to libnice ---- */

static int datagram_write(BIO *bio, const char *data, int len) {
  call_media *media = BIO_get_data(bio);
  if (len > 0) ice_leg_send(media, (const uint8_t *)data, (size_t)len); /* failure = dropped */
  return len;
}

static long datagram_ctrl(BIO *bio, int cmd, long num, void *ptr) {
  (void)bio;
  (void)num;
  (void)ptr;
  switch (cmd) {
  case BIO_CTRL_FLUSH: return 1;
  case BIO_CTRL_DGRAM_QUERY_MTU: return MEDIA_DTLS_MTU;
  case BIO_CTRL_WPENDING:
  case BIO_CTRL_PENDING: return 0;
  default: return 0;
  }
}

static int datagram_create(BIO *bio) {
  BIO_set_init(bio, 1);
  return 1;
}

static BIO_METHOD *datagram_method(void) {
  static BIO_METHOD *method;
  static gsize once;
  if (g_once_init_enter(&once)) {
    method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tabphone datagram");
    BIO_meth_set_write(method, datagram_write);
    BIO_meth_set_ctrl(method, datagram_ctrl);
    BIO_meth_set_create(method, datagram_create);
    g_once_init_leave(&once, 1);
  }
  return method;
}

/* ---- per call ---- */

bool dtls_leg_setup(call_media *media, bool client, const char *fingerprint_alg,
                    const char *fingerprint) {
  dtls_leg *leg = &media->dtls;
  g_strlcpy(leg->remote_fingerprint, fingerprint ? fingerprint : "", sizeof leg->remote_fingerprint);
  leg->remote_fingerprint_sha256 = fingerprint_alg && g_ascii_strcasecmp(fingerprint_alg, "sha-256") == 0;
  if (leg->ssl) return true; /* a second answer (re-INVITE): keep the running session */
  leg->client = client;
  leg->ssl = SSL_new(media->engine->dtls_context);
  leg->incoming = BIO_new(BIO_s_mem());
  BIO *outgoing = BIO_new(datagram_method());
  if (!leg->ssl || !leg->incoming || !outgoing) {
    BIO_free(outgoing);
    return false;
  }
  BIO_set_mem_eof_return(leg->incoming, -1); /* empty = "try again", not end of stream */
  BIO_up_ref(leg->incoming);                 /* we keep writing into it */
  BIO_set_data(outgoing, media);
  SSL_set_bio(leg->ssl, leg->incoming, outgoing);
  DTLS_set_link_mtu(leg->ssl, MEDIA_DTLS_MTU);
  if (client) SSL_set_connect_state(leg->ssl);
  else SSL_set_accept_state(leg->ssl);
  log_info("media", media->subject, NULL, "DTLS role %s", client ? "client (active)" : "server (passive)");
  if (client && media->ice.connected) dtls_leg_on_ice_connected(media);
  return true;
}

static void dtls_fail(call_media *media, const char *reason) {
  dtls_leg *leg = &media->dtls;
  if (leg->failed) return;
  leg->failed = true;
  unsigned long e = ERR_peek_last_error();
  log_warn("media", media->subject, NULL, "DTLS failed: %s%s%s", reason, e ? ": " : "",
           e ? ERR_reason_error_string(e) : "");
  ERR_clear_error();
  media_fail(media, reason);
}

/* Checks the peer certificate against the SDP fingerprint, then keys SRTP. */
static void dtls_finish(call_media *media) {
  dtls_leg *leg = &media->dtls;
  X509 *peer = SSL_get1_peer_certificate(leg->ssl);
  char seen[100] = "";
  bool match = peer && leg->remote_fingerprint_sha256 && cert_fingerprint(peer, seen, sizeof seen) &&
               g_ascii_strcasecmp(seen, leg->remote_fingerprint) == 0;
  X509_free(peer);
  if (!match) {
    dtls_fail(media, "dtls_fingerprint_mismatch");
    return;
  }
  const SRTP_PROTECTION_PROFILE *profile = SSL_get_selected_srtp_profile(leg->ssl);
  if (!profile) {
    dtls_fail(media, "dtls_failed");
    return;
  }
  size_t key_len = 16, salt_len = profile->id == SRTP_AEAD_AES_128_GCM ? 12 : 14;
  uint8_t material[2 * (16 + 14)];
  if (SSL_export_keying_material(leg->ssl, material, 2 * (key_len + salt_len), EXPORTER_LABEL,
                                 strlen(EXPORTER_LABEL), NULL, 0, 0) != 1) {
    dtls_fail(media, "dtls_failed");
    return;
  }
  const uint8_t *client_key = material, *server_key = material + key_len;
  const uint8_t *client_salt = material + 2 * key_len, *server_salt = client_salt + salt_len;
  bool ok = leg->client ? srtp_leg_start(&media->srtp, (int)profile->id, client_key, client_salt,
                                         server_key, server_salt)
                        : srtp_leg_start(&media->srtp, (int)profile->id, server_key, server_salt,
                                         client_key, client_salt);
  OPENSSL_cleanse(material, sizeof material);
  if (!ok) {
    dtls_fail(media, "dtls_failed");
    return;
  }
  leg->done = true;
  media->connected_us = g_get_monotonic_time();
  log_info("media", media->subject, NULL, "DTLS done (%s), SRTP profile %s",
           SSL_get_cipher_name(leg->ssl), profile->name);
  media_emit(media, MEDIA_EVENT_CONNECTED, NULL, NULL, media->srtp.profile_name);
}

static gboolean on_timer(gpointer data);

static void arm_timer(call_media *media) {
  dtls_leg *leg = &media->dtls;
  if (leg->timer) {
    g_source_destroy(leg->timer);
    g_source_unref(leg->timer);
    leg->timer = NULL;
  }
  struct timeval tv;
  if (leg->done || leg->failed || !DTLSv1_get_timeout(leg->ssl, &tv)) return;
  guint ms = (guint)(tv.tv_sec * 1000 + tv.tv_usec / 1000);
  leg->timer = g_timeout_source_new(ms ? ms : 1);
  g_source_set_callback(leg->timer, on_timer, media, NULL);
  g_source_attach(leg->timer, media->worker->context);
}

/* Advances the handshake; called after every input and timer. */
static void drive(call_media *media) {
  dtls_leg *leg = &media->dtls;
  if (leg->failed) return;
  if (!leg->done) {
    leg->started = true;
    int rc = SSL_do_handshake(leg->ssl);
    if (rc == 1) {
      dtls_finish(media);
    } else {
      int e = SSL_get_error(leg->ssl, rc);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) dtls_fail(media, "dtls_failed");
    }
  } else {
    /* After the handshake: consume retransmitted flights and alerts. */
    uint8_t scratch[256];
    while (SSL_read(leg->ssl, scratch, sizeof scratch) > 0) {
    }
    ERR_clear_error();
  }
  arm_timer(media);
}

static gboolean on_timer(gpointer data) {
  call_media *media = data;
  dtls_leg *leg = &media->dtls;
  g_source_unref(leg->timer);
  leg->timer = NULL;
  if (DTLSv1_handle_timeout(leg->ssl) < 0) {
    dtls_fail(media, "dtls_failed");
    return G_SOURCE_REMOVE;
  }
  arm_timer(media);
  return G_SOURCE_REMOVE;
}

void dtls_leg_on_ice_connected(call_media *media) {
  dtls_leg *leg = &media->dtls;
  if (leg->ssl && leg->client && !leg->started) drive(media);
}

void dtls_leg_on_datagram(call_media *media, const uint8_t *data, size_t len) {
  dtls_leg *leg = &media->dtls;
  if (!leg->ssl || leg->failed) return; /* too early: the peer retransmits */
  BIO_write(leg->incoming, data, (int)len);
  drive(media);
  (void)BIO_reset(leg->incoming); /* never carry a partial datagram into the next one */
}

void dtls_leg_stop(call_media *media) {
  dtls_leg *leg = &media->dtls;
  if (leg->timer) {
    g_source_destroy(leg->timer);
    g_source_unref(leg->timer);
    leg->timer = NULL;
  }
  if (leg->ssl) SSL_free(leg->ssl);
  if (leg->incoming) BIO_free(leg->incoming);
  leg->ssl = NULL;
  leg->incoming = NULL;
}
