/* test_tls_peer: sip/tls_peer.h, for what can be seen without sofia connecting anything (the
 * per-connection SNI and host check are tested against real servers in
 * tests/sip/tls-sni.test.mjs): the interposition is in effect in an executable linked with
 * sip_tls_link_args, and an SSL that anyone but sofia's TLS transport connects (libwebsockets,
 * sofia's STUN client) is left alone: no SNI, no host check, nothing recorded. */
#include <glib.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "sip/tls_peer.h"

static void test_interposition_in_effect(void) {
  g_assert_true(sip_tls_peer_active());
}

static X509 *self_signed(EVP_PKEY *key, const char *cn) {
  X509 *cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_NAME *name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_set_pubkey(cert, key);
  g_assert_cmpint(X509_sign(cert, key, EVP_sha256()), >, 0);
  return cert;
}

static void test_other_callers_pass_through(void) {
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *cert = self_signed(key, "elsewhere.example.test");
  SSL_CTX *server_ctx = SSL_CTX_new(TLS_server_method());
  g_assert_cmpint(SSL_CTX_use_certificate(server_ctx, cert), ==, 1);
  g_assert_cmpint(SSL_CTX_use_PrivateKey(server_ctx, key), ==, 1);
  SSL_CTX *client_ctx = SSL_CTX_new(TLS_client_method());
  SSL *server = SSL_new(server_ctx), *client = SSL_new(client_ctx);
  BIO *client_bio, *server_bio;
  g_assert_cmpint(BIO_new_bio_pair(&client_bio, 0, &server_bio, 0), ==, 1);
  SSL_set_bio(client, client_bio, client_bio);
  SSL_set_bio(server, server_bio, server_bio);
  SSL_set_accept_state(server);

  /* SSL_connect here is tls_peer's (this executable's), called outside sofia's tls_connect. */
  int connected = -1, accepted = -1;
  for (int i = 0; i < 20 && (connected != 1 || accepted != 1); i++) {
    if (connected != 1) connected = SSL_connect(client);
    if (accepted != 1) accepted = SSL_accept(server);
  }
  g_assert_cmpint(connected, ==, 1);
  g_assert_cmpint(accepted, ==, 1);
  g_assert_null(SSL_get_servername(server, TLSEXT_NAMETYPE_host_name));
  g_assert_cmpint(SSL_get_verify_mode(client), ==, SSL_VERIFY_NONE);
  sip_tls_failure failure;
  g_assert_false(sip_tls_peer_take_failure("elsewhere.example.test", &failure));

  SSL_free(client);
  SSL_free(server);
  SSL_CTX_free(client_ctx);
  SSL_CTX_free(server_ctx);
  X509_free(cert);
  EVP_PKEY_free(key);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/tls_peer/interposition_in_effect", test_interposition_in_effect);
  g_test_add_func("/tls_peer/other_callers_pass_through", test_other_callers_pass_through);
  return g_test_run();
}
