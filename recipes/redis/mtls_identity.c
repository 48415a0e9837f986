/*
 * mtls_identity: a Redis 7.0 module that maps the client certificate of each
 * TLS connection to an ACL user, by the certificate's SAN URI (the SPIFFE ID).
 *
 * Redis verifies the chain itself (tls-auth-clients yes: a connection without
 * a certificate that chains to tls-ca-cert-file never completes its
 * handshake), but it cannot map a certificate to a user. This module does,
 * on the client-connected server event, which Redis fires once the TLS
 * handshake has completed (networking.c clientAcceptHandler, called by
 * tls.c when SSL_accept returns 1) with the real client in the context
 * (module.c moduleFireServerEvent: "we're pushing the real client so the
 * event handler can mutate it ... to change its authentication state"):
 *   - a TLS client whose certificate has exactly one SAN URI, listed in the
 *     module's arguments, is authenticated as the ACL user listed with it;
 *   - any other TLS client stays unauthenticated: the default user is off,
 *     so Redis answers every command with -NOAUTH; the reason is logged;
 *   - a client on the unix socket (a 0700 directory: the container's own
 *     user only) is authenticated as the admin user (the last argument).
 * Arguments: IDENTITY USER [IDENTITY USER ...] admin ADMIN_USER.
 * MTLS.STATS (admin) answers "served=N refused=M": connections mapped to a
 * user, and TLS connections refused by identity.
 *
 * The module API is looked up by name (RedisModule_GetApi, the first pointer
 * of the context, as module.c RM_GetApi documents); these are this module's
 * own declarations of the few functions it calls, with their 7.0 signatures.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

typedef struct RedisModuleCtx RedisModuleCtx;
typedef struct RedisModuleString RedisModuleString;
typedef struct {
  uint64_t id, dataver;
} RedisModuleEvent;
typedef struct {
  uint64_t version, flags, id;
  char addr[46];
  uint16_t port, db;
} ClientInfoV1;
typedef void (*EventCallback)(RedisModuleCtx *, RedisModuleEvent, uint64_t, void *);
typedef int (*CommandFunc)(RedisModuleCtx *, RedisModuleString **, int);

#define OK 0
#define ERR 1
#define API_VERSION 1
#define EVENT_CLIENT_CHANGE 4
#define CLIENT_CONNECTED 0
#define CLIENTINFO_VERSION 1
#define FLAG_SSL (1 << 0)
#define FLAG_UNIXSOCKET (1 << 4)
#define MAX_IDENTITIES 64

static int (*GetApi)(const char *, void *);
static void (*SetModuleAttribs)(RedisModuleCtx *, const char *, int, int);
static int (*SubscribeToServerEvent)(RedisModuleCtx *, RedisModuleEvent, EventCallback);
static RedisModuleString *(*GetClientCertificate)(RedisModuleCtx *, uint64_t);
static const char *(*StringPtrLen)(const RedisModuleString *, size_t *);
static void (*FreeString)(RedisModuleCtx *, RedisModuleString *);
static int (*AuthenticateClientWithACLUser)(RedisModuleCtx *, const char *, size_t, void *, void *, uint64_t *);
static void (*Log)(RedisModuleCtx *, const char *, const char *, ...);
static int (*CreateCommand)(RedisModuleCtx *, const char *, CommandFunc, const char *, int, int, int);
static int (*ReplyWithSimpleString)(RedisModuleCtx *, const char *);

static struct {
  char identity[256], user[64];
} allowed[MAX_IDENTITIES];
static int n_allowed;
static char admin_user[64];
static unsigned long long served, refused;

#define GET(name)                                                     \
  if (GetApi("RedisModule_" #name, (void *)&name) != OK) return ERR;

static int lookup_api(RedisModuleCtx *ctx) {
  GetApi = (int (*)(const char *, void *))((void **)ctx)[0];
  GET(SetModuleAttribs);
  GET(SubscribeToServerEvent);
  GET(GetClientCertificate);
  GET(StringPtrLen);
  GET(FreeString);
  GET(AuthenticateClientWithACLUser);
  GET(Log);
  GET(CreateCommand);
  GET(ReplyWithSimpleString);
  return OK;
}

/* The only SAN URI of a PEM certificate into out; NULL when it has none,
 * several, or cannot be read (why says which). */
static const char *san_uri(const char *pem, size_t len, char *out, size_t cap, const char **why) {
  BIO *bio = BIO_new_mem_buf(pem, (int)len);
  X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
  GENERAL_NAMES *names = cert ? X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL) : NULL;
  const char *found = NULL;
  int uris = 0;
  *why = cert ? "the certificate has no SAN URI" : "the certificate cannot be read";
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
    const GENERAL_NAME *n = sk_GENERAL_NAME_value(names, i);
    if (n->type != GEN_URI) continue;
    uris++;
    int l = ASN1_STRING_length(n->d.uniformResourceIdentifier);
    const unsigned char *d = ASN1_STRING_get0_data(n->d.uniformResourceIdentifier);
    if (l <= 0 || (size_t)l >= cap || memchr(d, 0, (size_t)l)) {
      *why = "the certificate's SAN URI is empty, too long or holds a NUL";
      found = NULL;
      break;
    }
    memcpy(out, d, (size_t)l);
    out[l] = 0;
    found = out;
  }
  if (uris > 1) {
    *why = "the certificate has more than one SAN URI";
    found = NULL;
  }
  GENERAL_NAMES_free(names);
  X509_free(cert);
  BIO_free(bio);
  return found;
}

static void on_client(RedisModuleCtx *ctx, RedisModuleEvent e, uint64_t sub, void *data) {
  (void)e;
  const ClientInfoV1 *ci = data;
  if (sub != CLIENT_CONNECTED) return;
  if (ci->flags & FLAG_UNIXSOCKET) {
    if (AuthenticateClientWithACLUser(ctx, admin_user, strlen(admin_user), NULL, NULL, NULL) != OK)
      Log(ctx, "warning", "refused: unix socket client id=%llu: admin user %s is missing or off", (unsigned long long)ci->id, admin_user);
    return;
  }
  if (!(ci->flags & FLAG_SSL)) {
    refused++;
    Log(ctx, "warning", "refused: client id=%llu addr=%s: not a TLS connection", (unsigned long long)ci->id, ci->addr);
    return;
  }
  char uri[256];
  const char *why = "no client certificate";
  const char *id = NULL;
  RedisModuleString *pem = GetClientCertificate(ctx, ci->id);
  if (pem) {
    size_t len;
    const char *p = StringPtrLen(pem, &len);
    id = san_uri(p, len, uri, sizeof uri, &why);
    FreeString(ctx, pem);
  }
  for (int i = 0; id && i < n_allowed; i++) {
    if (strcmp(id, allowed[i].identity) != 0) continue;
    if (AuthenticateClientWithACLUser(ctx, allowed[i].user, strlen(allowed[i].user), NULL, NULL, NULL) == OK) {
      served++;
      return;
    }
    refused++;
    Log(ctx, "warning", "refused: client id=%llu addr=%s identity=%s: ACL user %s is missing or off", (unsigned long long)ci->id, ci->addr, id,
        allowed[i].user);
    return;
  }
  refused++;
  if (id)
    Log(ctx, "warning", "refused: client id=%llu addr=%s identity=%s: identity not allowed", (unsigned long long)ci->id, ci->addr, id);
  else
    Log(ctx, "warning", "refused: client id=%llu addr=%s: %s", (unsigned long long)ci->id, ci->addr, why);
}

static int stats_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
  (void)argv;
  (void)argc;
  char line[96];
  snprintf(line, sizeof line, "served=%llu refused=%llu", served, refused);
  return ReplyWithSimpleString(ctx, line);
}

/* Copies a module argument into dst (cap bytes, NUL-terminated); ERR when it does not fit. */
static int arg(RedisModuleString *s, char *dst, size_t cap) {
  size_t len;
  const char *p = StringPtrLen(s, &len);
  if (len == 0 || len >= cap || memchr(p, 0, len)) return ERR;
  memcpy(dst, p, len);
  dst[len] = 0;
  return OK;
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
  if (lookup_api(ctx) != OK) return ERR;
  SetModuleAttribs(ctx, "mtls_identity", 1, API_VERSION);
  if (argc < 2 || argc % 2 != 0 || (argc - 2) / 2 > MAX_IDENTITIES) {
    Log(ctx, "warning", "arguments: IDENTITY USER [IDENTITY USER ...] admin ADMIN_USER (at most %d identities)", MAX_IDENTITIES);
    return ERR;
  }
  char word[8];
  if (arg(argv[argc - 2], word, sizeof word) != OK || strcmp(word, "admin") != 0 || arg(argv[argc - 1], admin_user, sizeof admin_user) != OK) {
    Log(ctx, "warning", "the last two arguments must be: admin ADMIN_USER");
    return ERR;
  }
  for (int i = 0; i + 2 < argc; i += 2, n_allowed++) {
    if (arg(argv[i], allowed[n_allowed].identity, sizeof allowed[0].identity) != OK ||
        arg(argv[i + 1], allowed[n_allowed].user, sizeof allowed[0].user) != OK) {
      Log(ctx, "warning", "argument %d or %d is empty or too long", i + 1, i + 2);
      return ERR;
    }
  }
  RedisModuleEvent client_change = {EVENT_CLIENT_CHANGE, CLIENTINFO_VERSION};
  if (SubscribeToServerEvent(ctx, client_change, on_client) != OK) return ERR;
  if (CreateCommand(ctx, "mtls.stats", stats_command, "admin fast", 0, 0, 0) != OK) return ERR;
  Log(ctx, "notice", "mapping %d identities to ACL users; unix socket clients to %s", n_allowed, admin_user);
  return OK;
}
