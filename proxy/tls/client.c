#include "tls/client.h"

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "upstream/pool.h"

struct wp_tls_client {
    SSL_CTX *ctx; /* NULL: unusable, see error */
    char *sni;    /* NULL: none sent */
    char *error;
    uint64_t id;
    atomic_uint refs;
};

/* The names the leaf certificate must carry (any one of them), owned by the
 * SSL_CTX through ex_data so that they live as long as any connection using it. */
struct verify_names {
    size_t n;
    char *v[];
};

static int names_index = -1;
static pthread_once_t names_once = PTHREAD_ONCE_INIT;
static atomic_uint_fast64_t next_id = 1;

static void names_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    struct verify_names *vn = ptr;
    if (!vn)
        return;
    for (size_t i = 0; i < vn->n; i++)
        free(vn->v[i]);
    free(vn);
}

static void names_init(void)
{
    names_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, names_free);
}

bool wp_tls_cluster_originates(const struct weir_pc_cluster *c)
{
    return c->tls.mode == WEIR_PC_TLS_SIMPLE || c->tls.mode == WEIR_PC_TLS_MUTUAL;
}

static bool is_ip_literal(const char *s)
{
    ASN1_OCTET_STRING *ip = a2i_IPADDRESS(s);
    if (!ip)
        return false;
    ASN1_OCTET_STRING_free(ip);
    return true;
}

static bool uri_matches(X509 *cert, const char *uri)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    bool ok = false;
    size_t len = strlen(uri);
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && !ok; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_URI) {
            const ASN1_IA5STRING *s = g->d.uniformResourceIdentifier;
            ok = (size_t)ASN1_STRING_length(s) == len &&
                 memcmp(ASN1_STRING_get0_data(s), uri, len) == 0;
        }
    }
    GENERAL_NAMES_free(gens);
    return ok;
}

static bool name_matches(X509 *cert, const char *name)
{
    if (strstr(name, "://"))
        return uri_matches(cert, name);
    if (is_ip_literal(name))
        return X509_check_ip_asc(cert, name, 0) == 1;
    return X509_check_host(cert, name, 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL) == 1;
}

static int verify_cb(int preverify_ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    const struct verify_names *vn;
    X509 *leaf;

    if (!preverify_ok || X509_STORE_CTX_get_error_depth(xs) != 0 || !ssl)
        return preverify_ok;
    vn = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), names_index);
    leaf = X509_STORE_CTX_get_current_cert(xs);
    if (!vn || !vn->n)
        return 1;
    for (size_t i = 0; i < vn->n; i++) {
        if (name_matches(leaf, vn->v[i]))
            return 1;
    }
    X509_STORE_CTX_set_error(xs, X509_V_ERR_HOSTNAME_MISMATCH);
    return 0;
}

/* The OpenSSL error queue as text, for a context that could not be built. */
static void ssl_reason(char *buf, size_t cap)
{
    unsigned long e = ERR_peek_error(); /* the first: the root cause */
    if (e)
        ERR_error_string_n(e, buf, cap);
    else
        snprintf(buf, cap, "unknown error");
    ERR_clear_error();
}

static int set_error(struct wp_tls_client *tc, const struct weir_pc_cluster *c, const char *field,
                     const char *path)
{
    char reason[256], msg[1024];
    ssl_reason(reason, sizeof(reason));
    snprintf(msg, sizeof(msg), "cluster %s: trafficPolicy.tls.%s: cannot load %s: %s", c->name,
             field, path ? path : "(not set)", reason);
    tc->error = strdup(msg);
    return -1;
}

static int attach_names(SSL_CTX *ctx, const struct weir_pc_cluster *c, const char *sni)
{
    const struct weir_strings *sans = &c->tls.subject_alt_names;
    size_t n = sans->len ? sans->len : (sni ? 1 : 0);
    struct verify_names *vn = calloc(1, sizeof(*vn) + n * sizeof(char *));
    if (!vn)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!(vn->v[i] = strdup(sans->len ? sans->items[i] : sni))) {
            names_free(NULL, vn, NULL, 0, 0, NULL);
            return -1;
        }
        vn->n = i + 1;
    }
    if (!SSL_CTX_set_ex_data(ctx, names_index, vn)) {
        names_free(NULL, vn, NULL, 0, 0, NULL);
        return -1;
    }
    return 0;
}

static int build(struct wp_tls_client *tc, const struct weir_pc_cluster *c)
{
    const struct weir_pc_tls *t = &c->tls;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (!ctx)
        return set_error(tc, c, "mode", "an SSL_CTX");
    tc->ctx = ctx;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (c->protocol == WEIR_PC_PROTO_HTTP2 || c->protocol == WEIR_PC_PROTO_GRPC)
        SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x02h2", 3);
    else if (wp_cluster_speaks_h2(c))
        /* upgraded http: HTTP/2, and HTTP/1.1 for the WebSocket requests kept on it */
        SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x02h2\x08http/1.1", 12);
    else if (c->protocol == WEIR_PC_PROTO_HTTP)
        SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x08http/1.1", 9);

    if (t->insecure_skip_verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        if (t->ca_certificates) {
            if (SSL_CTX_load_verify_locations(ctx, t->ca_certificates, NULL) != 1)
                return set_error(tc, c, "caCertificates", t->ca_certificates);
        } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            return set_error(tc, c, "caCertificates", "the system trust store");
        }
        if (attach_names(ctx, c, tc->sni) < 0)
            return set_error(tc, c, "subjectAltNames", "the names");
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
    }
    if (t->mode == WEIR_PC_TLS_MUTUAL) {
        if (!t->client_certificate ||
            SSL_CTX_use_certificate_chain_file(ctx, t->client_certificate) != 1)
            return set_error(tc, c, "clientCertificate", t->client_certificate);
        if (!t->private_key ||
            SSL_CTX_use_PrivateKey_file(ctx, t->private_key, SSL_FILETYPE_PEM) != 1)
            return set_error(tc, c, "privateKey", t->private_key);
        if (SSL_CTX_check_private_key(ctx) != 1)
            return set_error(tc, c, "privateKey", t->private_key);
    }
    return 0;
}

struct wp_tls_client *wp_tls_client_new(const struct weir_pc_cluster *c)
{
    struct wp_tls_client *tc = calloc(1, sizeof(*tc));
    const char *sni = c->tls.sni ? c->tls.sni : c->service_host;

    if (!tc)
        return NULL;
    pthread_once(&names_once, names_init);
    tc->id = atomic_fetch_add(&next_id, 1);
    atomic_init(&tc->refs, 1);
    if (sni && *sni && !is_ip_literal(sni) && !(tc->sni = strdup(sni))) {
        free(tc);
        return NULL;
    }
    if (names_index < 0 || build(tc, c) < 0) {
        if (tc->ctx)
            SSL_CTX_free(tc->ctx);
        tc->ctx = NULL;
        if (!tc->error) {
            wp_tls_client_unref(tc);
            return NULL;
        }
    }
    return tc;
}

void wp_tls_client_ref(struct wp_tls_client *tc)
{
    atomic_fetch_add_explicit(&tc->refs, 1, memory_order_relaxed);
}

void wp_tls_client_unref(struct wp_tls_client *tc)
{
    if (!tc || atomic_fetch_sub_explicit(&tc->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (tc->ctx)
        SSL_CTX_free(tc->ctx); /* connections still open keep their own reference */
    free(tc->sni);
    free(tc->error);
    free(tc);
}

const char *wp_tls_client_error(const struct wp_tls_client *tc)
{
    return tc->ctx ? NULL : tc->error;
}

uint64_t wp_tls_client_id(const struct wp_tls_client *tc)
{
    return tc->id;
}

struct bufferevent *wp_tls_client_wrap(const struct wp_tls_client *tc, struct event_base *base,
                                       struct bufferevent *under)
{
    SSL *ssl = tc->ctx ? SSL_new(tc->ctx) : NULL;
    struct bufferevent *bev;

    if (!ssl || (tc->sni && SSL_set_tlsext_host_name(ssl, tc->sni) != 1)) {
        if (ssl)
            SSL_free(ssl);
        bufferevent_free(under);
        return NULL;
    }
    bev = bufferevent_openssl_filter_new(base, under, ssl, BUFFEREVENT_SSL_CONNECTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        SSL_free(ssl);
        bufferevent_free(under);
        return NULL;
    }
    /* an upstream that closes without close_notify ends its stream (HTTP/1.0
     * bodies, most TCP peers); truncation is for the protocol above to notice */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

void wp_tls_client_failure(struct bufferevent *bev, char *buf, size_t cap)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long e;
    size_t off;
    char one[256];
    bool any = false;

    if (!cap)
        return;
    snprintf(buf, cap, "TLS_error:");
    off = strlen(buf);
    if (vr != X509_V_OK) {
        snprintf(buf + off, cap - off, " certificate verify failed: %s",
                 X509_verify_cert_error_string(vr));
        off = strlen(buf);
        any = true;
    }
    while ((e = bufferevent_get_openssl_error(bev))) {
        if (ERR_GET_LIB(e) == 0)
            continue; /* libevent's own markers, not an OpenSSL error */
        if (vr != X509_V_OK && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED)
            continue; /* said above, with the reason */
        ERR_error_string_n(e, one, sizeof(one));
        snprintf(buf + off, cap - off, " %s", one);
        off = strlen(buf);
        any = true;
    }
    if (!any)
        snprintf(buf + off, cap - off, " connection closed during the handshake");
}

bool wp_tls_shutdown(struct bufferevent *bev)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    if (!ssl)
        return false;
    SSL_shutdown(ssl);
    return true;
}
