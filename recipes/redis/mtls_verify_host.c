/*
 * mtls_verify_host: makes redis-cli 7.0 check the server's name, preloaded
 * (LD_PRELOAD) by mtls-redis-client.
 *
 * redis-cli verifies the server's chain (cli_common.c: SSL_CTX_set_verify
 * SSL_VERIFY_PEER, SSL_CTX_load_verify_locations --cacert) and sends --sni
 * (SSL_set_tlsext_host_name), but never checks the name in the certificate:
 * any certificate of the mesh's CA would pass. SSL_set_tlsext_host_name is a
 * macro over SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, ...); this SSL_ctrl
 * also hands that name to SSL_set1_host, so OpenSSL checks it against the
 * certificate's SAN DNS names during the handshake (a mismatch fails it with
 * "certificate verify failed"), then calls the real SSL_ctrl.
 */
#define _GNU_SOURCE
#include <dlfcn.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

long SSL_ctrl(SSL *ssl, int cmd, long larg, void *parg) {
  static long (*real)(SSL *, int, long, void *);
  if (!real) real = (long (*)(SSL *, int, long, void *))dlsym(RTLD_NEXT, "SSL_ctrl");
  if (!real) return 0;
  if (cmd == SSL_CTRL_SET_TLSEXT_HOSTNAME && larg == TLSEXT_NAMETYPE_host_name && parg) {
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl, (const char *)parg) != 1) return 0;
  }
  return real(ssl, cmd, larg, parg);
}
