#define _DEFAULT_SOURCE /* struct stat's st_mtim */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "metrics.h"

/* PEM files bigger than this are not a certificate chain and key. */
#define TLS_FILE_MAX (1u << 20)
/* After a body passes the limit without a Content-Length, the rest is read
 * and dropped so the 413 can still be sent, up to this much more. */
#define DISCARD_MAX (16u << 20)
/* TLS 1.2 and 1.3 only, as the API server speaks them. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct tls_pair {
    char *cert;
    char *key;
    size_t key_len;
};

struct daemon_entry {
    struct MHD_Daemon *daemon;
    struct tls_pair tls; /* MHD reads these for the daemon's whole life */
    time_t retire_at;
    struct daemon_entry *next;
};

struct file_stamp {
    bool ok;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

struct weir_server {
    struct weir_server_config cfg;
    int listen_fd;
    uint16_t port;
    struct daemon_entry *current;
    struct daemon_entry *retired;
    struct file_stamp cert_stamp, key_stamp; /* of the files last tried */
    double not_after;
    atomic_int inflight;
};

struct request_state {
    char *body;
    size_t len, cap;
    bool too_large;
    size_t discarded;
};

static void set_err(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

/* ---- TLS material ---- */

static void tls_free(struct tls_pair *t)
{
    free(t->cert);
    if (t->key) {
        OPENSSL_cleanse(t->key, t->key_len); /* key material does not linger in the heap */
        free(t->key);
    }
    memset(t, 0, sizeof(*t));
}

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;
    if (!f) {
        set_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    buf = malloc(TLS_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        set_err(err, errlen, "out of memory reading %s", path);
        return NULL;
    }
    n = fread(buf, 1, TLS_FILE_MAX + 1, f);
    fclose(f);
    if (n > TLS_FILE_MAX) {
        free(buf);
        set_err(err, errlen, "%s is larger than %u bytes", path, TLS_FILE_MAX);
        return NULL;
    }
    if (n == 0) {
        free(buf);
        set_err(err, errlen, "%s is empty", path);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int tls_load(const struct weir_server_config *cfg, struct tls_pair *t, char *err,
                    size_t errlen)
{
    size_t n;
    memset(t, 0, sizeof(*t));
    t->cert = read_file(cfg->cert_file, &n, err, errlen);
    if (!t->cert)
        return -1;
    t->key = read_file(cfg->key_file, &t->key_len, err, errlen);
    if (!t->key) {
        tls_free(t);
        return -1;
    }
    return 0;
}

/* The leaf certificate's serial (hex) and notAfter, for logs and metrics. */
static void cert_info(const char *pem, char *serial, size_t serial_len, double *not_after)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    snprintf(serial, serial_len, "unknown");
    *not_after = 0;
    if (x) {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        char *hex = bn ? BN_bn2hex(bn) : NULL;
        if (hex)
            snprintf(serial, serial_len, "%s", hex);
        OPENSSL_free(hex);
        BN_free(bn);
        int days = 0, secs = 0;
        if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)))
            *not_after = (double)time(NULL) + (double)days * 86400.0 + secs;
        X509_free(x);
    }
    BIO_free(bio);
}

static void stamp_of(const char *path, struct file_stamp *st)
{
    struct stat sb;
    memset(st, 0, sizeof(*st));
    if (stat(path, &sb) != 0)
        return;
    st->ok = true;
    st->dev = sb.st_dev;
    st->ino = sb.st_ino;
    st->size = sb.st_size;
    st->mtime = sb.st_mtim;
}

static bool stamp_equal(const struct file_stamp *a, const struct file_stamp *b)
{
    return a->ok == b->ok && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* ---- requests ---- */

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    /* Handshake failures from scanners and health checkers are routine. */
    weir_log(WEIR_LOG_DEBUG, "http server", "detail", msg, NULL);
}

static enum MHD_Result respond(struct MHD_Connection *conn, struct weir_http_response *resp)
{
    struct MHD_Response *r;
    if (!resp->body) {
        resp->body = strdup("");
        resp->body_len = 0;
    }
    r = MHD_create_response_from_buffer(resp->body_len, resp->body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(resp->body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->content_type ? resp->content_type : "text/plain; charset=utf-8");
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result dispatch(struct weir_server *s, struct MHD_Connection *conn, const char *url,
                                const char *method, struct request_state *st)
{
    struct weir_http_request req = {
        .method = method,
        .path = url,
        .body = st->too_large ? NULL : (st->body ? st->body : ""),
        .body_len = st->too_large ? 0 : st->len,
        .too_large = st->too_large,
        .max_body = s->cfg.max_body,
    };
    struct weir_http_response resp = {.status = 500};
    s->cfg.handler(s->cfg.handler_ctx, &req, &resp);
    return respond(conn, &resp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct weir_server *s = cls;
    struct request_state *st = *con_cls;

    if (!st) {
        st = calloc(1, sizeof(*st));
        if (!st)
            return MHD_NO;
        *con_cls = st;
        atomic_fetch_add(&s->inflight, 1);
        /* Refuse a declared oversize body before reading it; MHD then closes
         * the connection instead of draining the upload. */
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno || *end || n > s->cfg.max_body) {
                st->too_large = true;
                return dispatch(s, conn, url, method, st);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (st->too_large) {
            st->discarded += n;
            return st->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
        }
        if (st->len + n > s->cfg.max_body) {
            st->too_large = true;
            st->discarded = n;
            free(st->body);
            st->body = NULL;
            st->len = st->cap = 0;
            return MHD_YES;
        }
        if (st->len + n + 1 > st->cap) {
            size_t cap = st->cap ? st->cap : 16384;
            while (cap < st->len + n + 1)
                cap *= 2;
            if (cap > s->cfg.max_body + 1)
                cap = s->cfg.max_body + 1;
            char *nb = realloc(st->body, cap);
            if (!nb)
                return MHD_NO;
            st->body = nb;
            st->cap = cap;
        }
        memcpy(st->body + st->len, upload_data, n);
        st->len += n;
        st->body[st->len] = '\0';
        return MHD_YES;
    }
    return dispatch(s, conn, url, method, st);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct weir_server *s = cls;
    struct request_state *st = *con_cls;
    if (!st)
        return;
    free(st->body);
    free(st);
    *con_cls = NULL;
    atomic_fetch_sub(&s->inflight, 1);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    /* Each new connection costs a TLS handshake; a rising count under steady
     * load means clients are not keeping connections alive. */
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        weir_metrics_connection_opened();
}

/* ---- daemons ---- */

/* listen_fd < 0: a daemon with no socket and no thread, started only to see
 * whether GnuTLS accepts the pair. */
static struct MHD_Daemon *start_daemon(struct weir_server *s, const struct tls_pair *tls,
                                       int listen_fd)
{
    unsigned flags = MHD_USE_TLS | MHD_USE_ERROR_LOG;
    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, tls->cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, tls->key},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES},
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL},
        {MHD_OPTION_END, 0, NULL},
        {MHD_OPTION_END, 0, NULL},
        {MHD_OPTION_END, 0, NULL},
        {MHD_OPTION_END, 0, NULL},
        {MHD_OPTION_END, 0, NULL},
        {MHD_OPTION_END, 0, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    size_t n = 4;
    if (listen_fd < 0) {
        flags |= MHD_USE_NO_LISTEN_SOCKET;
    } else {
        flags |= MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC;
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL};
        if (s->cfg.threads > 1)
            ops[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE,
                                               (intptr_t)s->cfg.threads, NULL};
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                           (intptr_t)s->cfg.connection_timeout_s, NULL};
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, 1024, NULL};
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s};
        ops[n++] =
            (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s};
    }
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, ops,
                            MHD_OPTION_END);
}

static bool tls_acceptable(struct weir_server *s, const struct tls_pair *tls)
{
    struct MHD_Daemon *probe = start_daemon(s, tls, -1);
    if (!probe)
        return false;
    MHD_stop_daemon(probe);
    return true;
}

static void entry_free(struct daemon_entry *e)
{
    if (e->daemon)
        MHD_stop_daemon(e->daemon);
    tls_free(&e->tls);
    free(e);
}

static int open_listener(const struct weir_server_config *cfg, uint16_t *bound, char *err,
                         size_t errlen)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    char port[8];
    int one = 1, fd;

    snprintf(port, sizeof(port), "%u", (unsigned)cfg->port);
    int rc = getaddrinfo(cfg->address, port, &hints, &ai);
    if (rc != 0) {
        set_err(err, errlen, "listen address \"%s\": %s", cfg->address, gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        set_err(err, errlen, "socket: %s", strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 256) != 0) {
        set_err(err, errlen, "listen on %s:%u: %s", cfg->address, (unsigned)cfg->port,
                strerror(errno));
        close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static void log_cert(const char *msg, const struct weir_server *s, const struct tls_pair *tls,
                     double *not_after)
{
    char serial[128], expiry[32] = "unknown";
    cert_info(tls->cert, serial, sizeof(serial), not_after);
    if (*not_after > 0) {
        time_t t = (time_t)*not_after;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(expiry, sizeof(expiry), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    weir_log(WEIR_LOG_INFO, msg, "cert", s->cfg.cert_file, "serial", serial, "not_after", expiry,
             NULL);
}

struct weir_server *weir_server_start(const struct weir_server_config *cfg, char *err,
                                      size_t errlen)
{
    struct weir_server *s = calloc(1, sizeof(*s));
    struct daemon_entry *e = NULL;
    if (!s) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    s->listen_fd = -1;
    atomic_init(&s->inflight, 0);
    e = calloc(1, sizeof(*e));
    if (!e) {
        set_err(err, errlen, "out of memory");
        goto fail;
    }
    stamp_of(cfg->cert_file, &s->cert_stamp);
    stamp_of(cfg->key_file, &s->key_stamp);
    if (tls_load(cfg, &e->tls, err, errlen) != 0)
        goto fail;
    if (!tls_acceptable(s, &e->tls)) {
        set_err(err, errlen,
                "the TLS certificate %s and key %s were refused (not PEM, or the key does not "
                "match the certificate)",
                cfg->cert_file, cfg->key_file);
        goto fail;
    }
    s->listen_fd = open_listener(cfg, &s->port, err, errlen);
    if (s->listen_fd < 0)
        goto fail;
    e->daemon = start_daemon(s, &e->tls, s->listen_fd);
    if (!e->daemon) {
        set_err(err, errlen, "the HTTPS server did not start on %s:%u", cfg->address,
                (unsigned)s->port);
        goto fail;
    }
    s->current = e;
    log_cert("serving certificate loaded", s, &e->tls, &s->not_after);
    return s;
fail:
    if (e)
        entry_free(e);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    free(s);
    return NULL;
}

static void reap(struct weir_server *s, bool all)
{
    time_t now = time(NULL);
    struct daemon_entry **pp = &s->retired;
    while (*pp) {
        struct daemon_entry *e = *pp;
        const union MHD_DaemonInfo *info =
            MHD_get_daemon_info(e->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        bool idle = info && info->num_connections == 0;
        /* Past the drain period, wait for a moment with no request in flight
         * anywhere (the count is global), so none is cut off mid-response;
         * a server that is never quiet still retires a minute later. */
        bool quiet = atomic_load(&s->inflight) == 0;
        if (all || idle || (now >= e->retire_at && quiet) || now >= e->retire_at + 60) {
            *pp = e->next;
            entry_free(e);
        } else {
            pp = &e->next;
        }
    }
}

int weir_server_maintain(struct weir_server *s, bool force)
{
    struct file_stamp cs, ks;
    char err[512];

    reap(s, false);
    stamp_of(s->cfg.cert_file, &cs);
    stamp_of(s->cfg.key_file, &ks);
    if (!force && stamp_equal(&cs, &s->cert_stamp) && stamp_equal(&ks, &s->key_stamp))
        return 0;
    /* Remembered even when the load fails, so a bad pair is reported once,
     * not every tick; the next change of either file is tried again. */
    s->cert_stamp = cs;
    s->key_stamp = ks;

    struct daemon_entry *e = calloc(1, sizeof(*e));
    if (!e) {
        weir_log(WEIR_LOG_ERROR, "serving certificate not reloaded", "error", "out of memory",
                 NULL);
        return -1;
    }
    if (tls_load(&s->cfg, &e->tls, err, sizeof(err)) != 0 || !tls_acceptable(s, &e->tls)) {
        if (e->tls.cert)
            snprintf(err, sizeof(err),
                     "the certificate and key were refused (not PEM, or the key does not match)");
        weir_log(WEIR_LOG_ERROR, "serving certificate not reloaded; the previous one stays",
                 "error", err, NULL);
        entry_free(e);
        return -1;
    }

    /* The running daemon stops accepting; its connections finish on the old
     * certificate while the new daemon accepts on the same socket. */
    struct daemon_entry *old = s->current;
    bool fallback = false;
    MHD_quiesce_daemon(old->daemon);
    e->daemon = start_daemon(s, &e->tls, s->listen_fd);
    if (!e->daemon) {
        weir_log(WEIR_LOG_ERROR,
                 "the HTTPS server did not restart with the new certificate; "
                 "restarting with the previous one",
                 NULL);
        tls_free(&e->tls);
        e->tls.cert = strdup(old->tls.cert);
        e->tls.key = malloc(old->tls.key_len + 1);
        if (e->tls.key) {
            memcpy(e->tls.key, old->tls.key, old->tls.key_len + 1);
            e->tls.key_len = old->tls.key_len;
        }
        e->daemon = e->tls.cert && e->tls.key ? start_daemon(s, &e->tls, s->listen_fd) : NULL;
        if (!e->daemon) {
            weir_log(WEIR_LOG_ERROR, "the HTTPS server is not accepting connections", NULL);
            entry_free(e);
            memset(&s->cert_stamp, 0, sizeof(s->cert_stamp)); /* try again next tick */
            return -1;
        }
        fallback = true;
    }
    old->retire_at = time(NULL) + (time_t)s->cfg.drain_s;
    old->next = s->retired;
    s->retired = old;
    s->current = e;
    if (fallback)
        return -1;
    log_cert("serving certificate reloaded", s, &e->tls, &s->not_after);
    return 1;
}

uint16_t weir_server_port(const struct weir_server *s)
{
    return s->port;
}

double weir_server_cert_not_after(const struct weir_server *s)
{
    return s->not_after;
}

void weir_server_stop(struct weir_server *s, unsigned grace_s)
{
    if (!s)
        return;
    if (s->current && s->current->daemon)
        MHD_quiesce_daemon(s->current->daemon);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    s->listen_fd = -1;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int n = atomic_load(&s->inflight);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (n <= 0 || now.tv_sec - start.tv_sec >= (time_t)grace_s) {
            if (n > 0)
                weir_log(WEIR_LOG_WARN, "stopping with requests still in progress", NULL);
            break;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    reap(s, true);
    if (s->current)
        entry_free(s->current);
    free(s);
}
