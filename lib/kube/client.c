#include "kube/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "kube/ratelimit.h"

/* Idle handles kept for reuse; more concurrent requests than this still
 * work, their handles are closed afterwards. */
#define POOL_MAX 8
/* An error answer is read up to this much: enough for any Status. */
#define ERROR_BODY_MAX (64u << 10)
/* An events.k8s.io/v1 note longer than this is refused by the API server. */
#define EVENT_NOTE_MAX 1024

struct weir_kube_client {
    struct weir_kube_config *cfg;
    struct weir_kube_client_options opts;
    char *user_agent;
    char *field_manager;
    char *base_url;   /* the server URL, its host replaced by tls-server-name if set */
    char *connect_to; /* "name:port:host:port" when tls-server-name is set */
    bool http2;
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_lock;
    CURL *pool[POOL_MAX];
    size_t npool;
    struct weir_kube_ratelimit rl;
};

/* ---- client lifetime ---------------------------------------------------------- */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
    struct weir_kube_client *c = arg;
    (void)h;
    (void)access;
    pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg)
{
    struct weir_kube_client *c = arg;
    (void)h;
    pthread_mutex_unlock(&c->share_locks[data]);
}

/* With tls-server-name the URL carries that name (libcurl sends it as SNI and
 * checks the certificate against it) and CURLOPT_CONNECT_TO sends the bytes
 * to the real server address. */
static int setup_server_name(struct weir_kube_client *c, struct weir_kube_error *err)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *url = NULL;
    int rc = WEIR_KUBE_ERR_CONFIG;

    if (!u)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
    if (curl_url_set(u, CURLUPART_URL, c->cfg->server, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        weir_kube_error_set(err, rc, NULL, "%s: server URL \"%s\" cannot be parsed",
                            c->cfg->source ? c->cfg->source : "config", c->cfg->server);
        goto out;
    }
    if (curl_url_set(u, CURLUPART_HOST, c->cfg->tls_server_name, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK) {
        weir_kube_error_set(err, rc, NULL, "%s: tls-server-name \"%s\" is not a host name",
                            c->cfg->source ? c->cfg->source : "config", c->cfg->tls_server_name);
        goto out;
    }
    size_t n = strlen(c->cfg->tls_server_name) + strlen(host) + 2 * strlen(port) + 8;
    c->connect_to = malloc(n);
    /* curl_url_get adds a trailing "/" that paths would double. */
    size_t ul = strlen(url);
    if (ul > 0 && url[ul - 1] == '/')
        url[ul - 1] = '\0';
    c->base_url = strdup(url);
    if (!c->connect_to || !c->base_url) {
        rc = weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
        goto out;
    }
    snprintf(c->connect_to, n, "%s:%s:%s:%s", c->cfg->tls_server_name, port, host, port);
    rc = 0;
out:
    curl_free(host);
    curl_free(port);
    curl_free(url);
    curl_url_cleanup(u);
    return rc;
}

int weir_kube_client_new(struct weir_kube_config *cfg, const struct weir_kube_client_options *opts,
                         struct weir_kube_client **out, struct weir_kube_error *err)
{
    static const struct weir_kube_client_options defaults = {0};
    struct weir_kube_client *c;
    const curl_version_info_data *info;
    int rc;

    weir_kube_error_clear(err);
    *out = NULL;
    if (!cfg || !cfg->server)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_INVALID, NULL, "no server configured");
    if (!opts)
        opts = &defaults;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_TRANSPORT, NULL,
                                   "libcurl initialisation failed");
    c = calloc(1, sizeof(*c));
    if (!c) {
        curl_global_cleanup();
        return weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
    }
    c->cfg = cfg;
    c->opts = *opts;
    if (c->opts.qps == 0)
        c->opts.qps = WEIR_KUBE_DEFAULT_QPS;
    if (c->opts.burst <= 0)
        c->opts.burst = WEIR_KUBE_DEFAULT_BURST;
    if (c->opts.connect_timeout_ms <= 0)
        c->opts.connect_timeout_ms = WEIR_KUBE_DEFAULT_CONNECT_TIMEOUT_MS;
    if (c->opts.request_timeout_ms <= 0)
        c->opts.request_timeout_ms = WEIR_KUBE_DEFAULT_REQUEST_TIMEOUT_MS;
    if (c->opts.max_response_bytes == 0)
        c->opts.max_response_bytes = WEIR_KUBE_DEFAULT_MAX_RESPONSE;
    c->user_agent = strdup(opts->user_agent ? opts->user_agent : "weir/" WEIR_VERSION);
    c->field_manager = opts->field_manager ? strdup(opts->field_manager) : NULL;
    c->opts.user_agent = NULL;
    c->opts.field_manager = NULL;
    pthread_mutex_init(&c->pool_lock, NULL);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->share_locks[i], NULL);
    weir_kube_ratelimit_init(&c->rl, c->opts.qps, c->opts.burst, weir_kube_monotonic());
    if (!c->user_agent || (opts->field_manager && !c->field_manager)) {
        rc = weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
        goto fail;
    }
    if (cfg->tls_server_name) {
        if ((rc = setup_server_name(c, err)) != 0)
            goto fail;
    } else if (!(c->base_url = strdup(cfg->server))) {
        rc = weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
        goto fail;
    }
    c->share = curl_share_init();
    if (!c->share) {
        rc = weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
        goto fail;
    }
    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    info = curl_version_info(CURLVERSION_NOW);
    c->http2 = !opts->http1_only && info && (info->features & CURL_VERSION_HTTP2);
    *out = c;
    return 0;
fail:
    weir_kube_client_free(c);
    return rc;
}

void weir_kube_client_free(struct weir_kube_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->npool; i++)
        curl_easy_cleanup(c->pool[i]);
    if (c->share)
        curl_share_cleanup(c->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&c->share_locks[i]);
    pthread_mutex_destroy(&c->pool_lock);
    weir_kube_ratelimit_destroy(&c->rl);
    free(c->user_agent);
    free(c->field_manager);
    free(c->base_url);
    free(c->connect_to);
    free(c);
    curl_global_cleanup();
}

struct weir_kube_config *weir_kube_client_config(struct weir_kube_client *c)
{
    return c->cfg;
}

static CURL *handle_get(struct weir_kube_client *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->pool_lock);
    if (c->npool > 0)
        h = c->pool[--c->npool];
    pthread_mutex_unlock(&c->pool_lock);
    return h ? h : curl_easy_init();
}

static void handle_put(struct weir_kube_client *c, CURL *h)
{
    pthread_mutex_lock(&c->pool_lock);
    if (c->npool < POOL_MAX) {
        c->pool[c->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->pool_lock);
    if (h)
        curl_easy_cleanup(h);
}

/* ---- one transfer ---------------------------------------------------------------- */

struct xfer {
    CURL *h;
    long status;
    bool status_known;
    weir_kube_data_fn on_data;
    weir_kube_idle_fn on_idle;
    void *arg;
    const atomic_bool *cancel;
    double last_idle;
    char *buf;
    size_t len, cap, max;
    int abort_code; /* why a callback stopped the transfer; 0 if none did */
};

static int buf_append(struct xfer *x, const char *data, size_t n)
{
    if (x->len + n + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 16384;
        while (cap < x->len + n + 1)
            cap *= 2;
        char *nb = realloc(x->buf, cap);
        if (!nb)
            return -1;
        x->buf = nb;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, data, n);
    x->len += n;
    x->buf[x->len] = '\0';
    return 0;
}

static bool is_2xx(long status)
{
    return status >= 200 && status < 300;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nmemb;

    if (!x->status_known) {
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
        x->status_known = true;
    }
    if (is_2xx(x->status) && x->on_data) {
        int rc = x->on_data(x->arg, ptr, n);
        if (rc != 0) {
            x->abort_code = rc;
            return 0;
        }
        return n;
    }
    if (!is_2xx(x->status)) {
        /* Only the Status message is wanted from an error: keep its head. */
        size_t room = x->len < ERROR_BODY_MAX ? ERROR_BODY_MAX - x->len : 0;
        if (room > 0 && buf_append(x, ptr, n < room ? n : room) != 0) {
            x->abort_code = WEIR_KUBE_ERR_NOMEM;
            return 0;
        }
        return n;
    }
    if (x->len + n > x->max) {
        x->abort_code = WEIR_KUBE_ERR_TOO_LARGE;
        return 0;
    }
    if (buf_append(x, ptr, n) != 0) {
        x->abort_code = WEIR_KUBE_ERR_NOMEM;
        return 0;
    }
    return n;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct xfer *x = arg;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    if (x->cancel && atomic_load(x->cancel)) {
        x->abort_code = WEIR_KUBE_ERR_STOPPED;
        return 1;
    }
    if (x->on_idle) {
        double now = weir_kube_monotonic();
        if (now - x->last_idle >= 0.25) {
            x->last_idle = now;
            int rc = x->on_idle(x->arg);
            if (rc != 0) {
                x->abort_code = rc;
                return 1;
            }
        }
    }
    return 0;
}

/* Keeps a body excerpt readable in one log line: printable ASCII only. */
static void excerpt(char *dst, size_t dstlen, const char *body, size_t len)
{
    size_t j = 0;
    for (size_t i = 0; i < len && j + 4 < dstlen; i++) {
        unsigned char ch = (unsigned char)body[i];
        dst[j++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : ' ';
    }
    if (j + 4 < dstlen || len == 0)
        dst[j] = '\0';
    else
        snprintf(dst + j, dstlen - j, "...");
}

int weir_kube_error_from_status(struct weir_kube_error *err, const char *what, long http_status,
                                const char *body, size_t len)
{
    int code = http_status == 410 ? WEIR_KUBE_ERR_GONE : WEIR_KUBE_ERR_HTTP;
    json_t *st = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    const char *reason = NULL, *message = NULL;

    if (!err) {
        json_decref(st);
        return code;
    }
    weir_kube_error_clear(err);
    err->code = code;
    err->http_status = http_status;
    snprintf(err->what, sizeof(err->what), "%s", what ? what : "");
    if (json_is_object(st)) {
        reason = json_string_value(json_object_get(st, "reason"));
        message = json_string_value(json_object_get(st, "message"));
    }
    if (reason)
        snprintf(err->reason, sizeof(err->reason), "%s", reason);
    if (message)
        snprintf(err->message, sizeof(err->message), "%s", message);
    else if (body && len)
        excerpt(err->message, sizeof(err->message), body, len);
    else
        snprintf(err->message, sizeof(err->message), "HTTP %ld with an empty body", http_status);
    json_decref(st);
    return code;
}

static const char *method_ok(const char *m)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", NULL};
    for (int i = 0; m && methods[i]; i++)
        if (strcmp(m, methods[i]) == 0)
            return methods[i];
    return NULL;
}

static struct curl_slist *add_header(struct curl_slist *l, const char *h, bool *oom)
{
    struct curl_slist *n = curl_slist_append(l, h);
    if (!n) {
        *oom = true;
        return l;
    }
    return n;
}

static void setup_tls(struct weir_kube_client *c, CURL *h)
{
    const struct weir_kube_config *cfg = c->cfg;

    if (cfg->insecure_skip_tls_verify) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (cfg->ca.data || cfg->ca.file) {
        /* The cluster CA alone: the system bundle must not vouch for an
         * API server. */
        curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
        if (cfg->ca.data) {
            struct curl_blob blob = {cfg->ca.data, cfg->ca.len, CURL_BLOB_NOCOPY};
            curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
        } else {
            curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca.file);
        }
    }
    if (cfg->client_cert.data) {
        struct curl_blob blob = {cfg->client_cert.data, cfg->client_cert.len, CURL_BLOB_NOCOPY};
        curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &blob);
    } else if (cfg->client_cert.file) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, cfg->client_cert.file);
    }
    if (cfg->client_cert.data || cfg->client_cert.file)
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    if (cfg->client_key.data) {
        struct curl_blob blob = {cfg->client_key.data, cfg->client_key.len, CURL_BLOB_NOCOPY};
        curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &blob);
    } else if (cfg->client_key.file) {
        curl_easy_setopt(h, CURLOPT_SSLKEY, cfg->client_key.file);
    }
    if (cfg->client_key.data || cfg->client_key.file)
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
}

static int perform(struct weir_kube_client *c, const struct weir_kube_request *req, struct xfer *x,
                   struct weir_kube_error *err)
{
    char what[WEIR_KUBE_ERROR_WHAT_MAX], errbuf[CURL_ERROR_SIZE];
    const char *method = method_ok(req->method);
    const char *query = req->query ? req->query : "";
    struct curl_slist *headers = NULL;
    char *token = NULL, *url = NULL, *auth = NULL;
    bool oom = false;
    long timeout_ms;
    CURLcode cres;
    double start;
    int rc;

    snprintf(what, sizeof(what), "%s %s", req->method ? req->method : "?",
             req->path ? req->path : "?");
    if (!method || !req->path || req->path[0] != '/')
        return weir_kube_error_set(err, WEIR_KUBE_ERR_INVALID, what, "bad method or path");
    if ((rc = weir_kube_config_token(c->cfg, &token, err)) != 0) {
        if (err)
            snprintf(err->what, sizeof(err->what), "%s", what);
        return rc;
    }
    size_t ulen = strlen(c->base_url) + strlen(req->path) + strlen(query) + 1;
    url = malloc(ulen);
    if (url)
        snprintf(url, ulen, "%s%s%s", c->base_url, req->path, query);
    if (token) {
        size_t alen = strlen(token) + 32;
        auth = malloc(alen);
        if (auth)
            snprintf(auth, alen, "Authorization: Bearer %s", token);
        else
            oom = true;
    }
    headers = add_header(headers, "Accept: application/json", &oom);
    /* libcurl waits for "100 Continue" before large bodies; the API server
     * never needs that round trip. */
    headers = add_header(headers, "Expect:", &oom);
    if (auth)
        headers = add_header(headers, auth, &oom);
    if (req->body) {
        char ct[128];
        snprintf(ct, sizeof(ct), "Content-Type: %s",
                 req->content_type ? req->content_type : "application/json");
        headers = add_header(headers, ct, &oom);
    }
    if (!url || oom) {
        rc = weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, what, NULL);
        goto out;
    }

    weir_kube_ratelimit_wait(&c->rl);
    if (req->cancel && atomic_load(req->cancel)) {
        rc = weir_kube_error_set(err, WEIR_KUBE_ERR_STOPPED, what, NULL);
        goto out;
    }
    x->h = handle_get(c);
    if (!x->h) {
        rc = weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, what, "cannot create a curl handle");
        goto out;
    }
    x->cancel = req->cancel;
    x->last_idle = weir_kube_monotonic();
    errbuf[0] = '\0';
    CURL *h = x->h;
    /* A reset handle keeps its live connections and TLS session cache. */
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_SHARE, c->share);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 10L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->opts.connect_timeout_ms);
    timeout_ms = req->timeout_ms == 0 ? c->opts.request_timeout_ms : req->timeout_ms;
    if (timeout_ms > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    if (c->http2)
        curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* libcurl does not copy this list: it lives in this frame, which
     * outlasts the transfer. */
    struct curl_slist connect_to = {c->connect_to, NULL};
    if (c->connect_to)
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, &connect_to);
    setup_tls(c, h);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        if (req->body) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
        } else if (strcmp(method, "POST") == 0) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        }
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);

    start = weir_kube_monotonic();
    cres = curl_easy_perform(h);
    if (!x->status_known)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->status);
    long http_version = 0;
    curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &http_version);
    /* The handle must not keep pointers into this frame. */
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_CONNECT_TO, NULL);
    handle_put(c, h);
    x->h = NULL;

    if (weir_log_get_level() <= WEIR_LOG_DEBUG) {
        char status[16], ms[32];
        snprintf(status, sizeof(status), "%ld", x->status);
        snprintf(ms, sizeof(ms), "%.1f", (weir_kube_monotonic() - start) * 1000);
        weir_log(WEIR_LOG_DEBUG, "kube request", "method", method, "path", req->path, "status",
                 status, "ms", ms, "http", http_version == CURL_HTTP_VERSION_2_0 ? "2" : "1.1",
                 "curl", x->abort_code ? "ended by a callback" : curl_easy_strerror(cres), NULL);
    }

    if (x->abort_code != 0) {
        /* A streaming callback that failed has said why in err already. */
        rc = x->abort_code;
        if (rc == WEIR_KUBE_ERR_TOO_LARGE && (!err || err->code == WEIR_KUBE_OK))
            weir_kube_error_set(err, rc, what, "response is larger than the limit of %zu bytes",
                                x->max);
        else if (rc < 0 && (!err || err->code == WEIR_KUBE_OK))
            weir_kube_error_set(err, rc, what, NULL);
        goto out;
    }
    if (cres == CURLE_FILESIZE_EXCEEDED) {
        rc = weir_kube_error_set(err, WEIR_KUBE_ERR_TOO_LARGE, what,
                                 "response is larger than the limit of %zu bytes", x->max);
        goto out;
    }
    if (cres != CURLE_OK && !(x->status > 0 && !is_2xx(x->status))) {
        if (cres == CURLE_OPERATION_TIMEDOUT)
            rc = weir_kube_error_set(err, WEIR_KUBE_ERR_TRANSPORT, what, "%s: %s",
                                     curl_easy_strerror(cres), errbuf[0] ? errbuf : "timed out");
        else
            rc = weir_kube_error_set(err, WEIR_KUBE_ERR_TRANSPORT, what, "%s%s%s",
                                     curl_easy_strerror(cres), errbuf[0] ? ": " : "", errbuf);
        goto out;
    }
    if (!is_2xx(x->status)) {
        rc = weir_kube_error_from_status(err, what, x->status, x->buf, x->len);
        goto out;
    }
    rc = 0;
out:
    free(url);
    free(auth);
    if (token) {
        /* Tokens are credentials: do not leave them in freed memory. */
        volatile char *p = token;
        while (*p)
            *p++ = '\0';
        free(token);
    }
    curl_slist_free_all(headers);
    return rc;
}

int weir_kube_request_json(struct weir_kube_client *c, const struct weir_kube_request *req,
                           json_t **out, struct weir_kube_error *err)
{
    struct xfer x = {.max = c->opts.max_response_bytes};
    json_error_t jerr;
    int rc;

    weir_kube_error_clear(err);
    if (out)
        *out = NULL;
    rc = perform(c, req, &x, err);
    if (rc == 0 && out) {
        if (x.len == 0) {
            *out = json_null();
        } else {
            *out = json_loadb(x.buf, x.len, 0, &jerr);
            if (!*out)
                rc =
                    weir_kube_error_set(err, WEIR_KUBE_ERR_DECODE, NULL,
                                        "response is not JSON: %s (line %d)", jerr.text, jerr.line);
            if (!*out && err)
                snprintf(err->what, sizeof(err->what), "%s %s", req->method, req->path);
        }
    }
    free(x.buf);
    return rc;
}

int weir_kube_request_stream(struct weir_kube_client *c, const struct weir_kube_request *req,
                             weir_kube_data_fn on_data, weir_kube_idle_fn on_idle, void *arg,
                             struct weir_kube_error *err)
{
    struct xfer x = {.max = ERROR_BODY_MAX, .on_data = on_data, .on_idle = on_idle, .arg = arg};
    int rc;

    weir_kube_error_clear(err);
    rc = perform(c, req, &x, err);
    free(x.buf);
    return rc;
}

/* ---- object helpers -------------------------------------------------------------- */

static const char *meta_string(const json_t *obj, const char *field)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), field));
}

const char *weir_kube_obj_name(const json_t *obj)
{
    return meta_string(obj, "name");
}

const char *weir_kube_obj_namespace(const json_t *obj)
{
    return meta_string(obj, "namespace");
}

const char *weir_kube_obj_resource_version(const json_t *obj)
{
    return meta_string(obj, "resourceVersion");
}

/* ---- typed helpers ---------------------------------------------------------------- */

static int bad_path(struct weir_kube_error *err, const struct weir_kube_resource *res,
                    const char *ns, const char *name)
{
    return weir_kube_error_set(
        err, WEIR_KUBE_ERR_INVALID, res ? res->resource : "?",
        "cannot build a request path (namespace \"%s\", name \"%s\"%s)", ns ? ns : "",
        name ? name : "",
        res && !res->namespaced && ns && *ns ? ": the resource is cluster-scoped" : "");
}

/* The namespace to use: the argument, else the object's. */
static const char *ns_of(const struct weir_kube_resource *res, const char *ns, const json_t *obj)
{
    if (!res->namespaced)
        return NULL;
    if (ns && *ns)
        return ns;
    return obj ? weir_kube_obj_namespace(obj) : NULL;
}

static int simple(struct weir_kube_client *c, const char *method,
                  const struct weir_kube_resource *res, const char *ns, const char *name,
                  const char *sub, const char *query, const char *content_type, const json_t *body,
                  json_t **out, struct weir_kube_error *err)
{
    char *path = weir_kube_path(res, ns, name, sub);
    char *text = NULL;
    int rc;

    weir_kube_error_clear(err);
    if (out)
        *out = NULL;
    if (!path)
        return bad_path(err, res, ns, name);
    if (body && !(text = json_dumps(body, JSON_COMPACT))) {
        free(path);
        return weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
    }
    struct weir_kube_request req = {
        .method = method,
        .path = path,
        .query = query,
        .content_type = content_type,
        .body = text,
        .body_len = text ? strlen(text) : 0,
    };
    rc = weir_kube_request_json(c, &req, out, err);
    free(text);
    free(path);
    return rc;
}

int weir_kube_get(struct weir_kube_client *c, const struct weir_kube_resource *res, const char *ns,
                  const char *name, json_t **out, struct weir_kube_error *err)
{
    if (!name || !*name)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_INVALID, "get", "no name given");
    return simple(c, "GET", res, ns_of(res, ns, NULL), name, NULL, NULL, NULL, NULL, out, err);
}

int weir_kube_list_page(struct weir_kube_client *c, const struct weir_kube_resource *res,
                        const char *ns, const struct weir_kube_list_options *opts,
                        const char *continue_token, json_t **out, struct weir_kube_error *err)
{
    struct weir_kube_query q;
    char *path;
    int rc;

    weir_kube_error_clear(err);
    *out = NULL;
    path = weir_kube_path(res, res->namespaced ? ns : NULL, NULL, NULL);
    if (!path)
        return bad_path(err, res, ns, NULL);
    weir_kube_query_init(&q);
    if (opts) {
        weir_kube_query_add(&q, "labelSelector", opts->label_selector);
        weir_kube_query_add(&q, "fieldSelector", opts->field_selector);
        if (opts->limit > 0)
            weir_kube_query_add_long(&q, "limit", opts->limit);
        /* The server refuses a resourceVersion together with a continue token:
         * the token pins the snapshot already. */
        if (!continue_token || !*continue_token)
            weir_kube_query_add(&q, "resourceVersion", opts->resource_version);
    }
    weir_kube_query_add(&q, "continue", continue_token);
    if (!weir_kube_query_str(&q)) {
        rc = weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
    } else {
        struct weir_kube_request req = {
            .method = "GET",
            .path = path,
            .query = weir_kube_query_str(&q),
            .cancel = opts ? opts->cancel : NULL,
        };
        rc = weir_kube_request_json(c, &req, out, err);
        if (rc == 0 && !json_is_array(json_object_get(*out, "items"))) {
            json_decref(*out);
            *out = NULL;
            rc = weir_kube_error_set(err, WEIR_KUBE_ERR_DECODE, NULL,
                                     "GET %s: the answer is not a list (no items array)", path);
        }
    }
    weir_kube_query_free(&q);
    free(path);
    return rc;
}

void weir_kube_list_result_free(struct weir_kube_list_result *r)
{
    if (!r)
        return;
    json_decref(r->items);
    free(r->resource_version);
    memset(r, 0, sizeof(*r));
}

/* List items come without apiVersion and kind for built-in types; watch
 * events carry them. Setting them makes cached objects uniform whichever way
 * they arrived. */
static int set_type_meta(json_t *item, const char *api_version, const char *kind)
{
    if (!json_is_object(item))
        return 0;
    if (!json_object_get(item, "apiVersion") &&
        json_object_set_new(item, "apiVersion", json_string(api_version)) != 0)
        return -1;
    if (kind && !json_object_get(item, "kind") &&
        json_object_set_new(item, "kind", json_string(kind)) != 0)
        return -1;
    return 0;
}

int weir_kube_list(struct weir_kube_client *c, const struct weir_kube_resource *res, const char *ns,
                   const struct weir_kube_list_options *opts, struct weir_kube_list_result *out,
                   struct weir_kube_error *err)
{
    char api_version[256], *cont = NULL;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    weir_kube_api_version(res, api_version, sizeof(api_version));
    out->items = json_array();
    if (!out->items)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
    for (;;) {
        json_t *page = NULL, *items, *item;
        const char *rv, *next;
        size_t i;

        if ((rc = weir_kube_list_page(c, res, ns, opts, cont, &page, err)) != 0)
            break;
        out->pages++;
        items = json_object_get(page, "items");
        const char *kind = res->kind;
        char kind_buf[256];
        const char *list_kind = json_string_value(json_object_get(page, "kind"));
        size_t lk = list_kind ? strlen(list_kind) : 0;
        if (!kind && lk > 4 && lk < sizeof(kind_buf) && strcmp(list_kind + lk - 4, "List") == 0) {
            snprintf(kind_buf, sizeof(kind_buf), "%.*s", (int)(lk - 4), list_kind);
            kind = kind_buf;
        }
        json_array_foreach(items, i, item)
        {
            if (set_type_meta(item, api_version, kind) != 0) {
                rc = weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
                break;
            }
            if (opts && opts->each)
                opts->each(item, opts->each_arg);
            if (json_array_append(out->items, item) != 0) {
                rc = weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
                break;
            }
        }
        rv = json_string_value(
            json_object_get(json_object_get(page, "metadata"), "resourceVersion"));
        next = json_string_value(json_object_get(json_object_get(page, "metadata"), "continue"));
        if (rc == 0 && rv) {
            free(out->resource_version);
            if (!(out->resource_version = strdup(rv)))
                rc = weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
        }
        free(cont);
        cont = NULL;
        if (rc == 0 && next && *next && !(cont = strdup(next)))
            rc = weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
        json_decref(page);
        if (rc != 0 || !cont)
            break;
    }
    free(cont);
    if (rc == 0 && !out->resource_version)
        rc = weir_kube_error_set(err, WEIR_KUBE_ERR_DECODE, NULL,
                                 "list of %s has no metadata.resourceVersion", res->resource);
    if (rc != 0)
        weir_kube_list_result_free(out);
    return rc;
}

static int write_query(struct weir_kube_client *c, struct weir_kube_query *q, const char *manager)
{
    weir_kube_query_init(q);
    weir_kube_query_add(q, "fieldManager", manager ? manager : c->field_manager);
    return weir_kube_query_str(q) ? 0 : WEIR_KUBE_ERR_NOMEM;
}

int weir_kube_create(struct weir_kube_client *c, const struct weir_kube_resource *res,
                     const char *ns, const json_t *obj, json_t **out, struct weir_kube_error *err)
{
    struct weir_kube_query q;
    int rc;

    if (!json_is_object(obj))
        return weir_kube_error_set(err, WEIR_KUBE_ERR_INVALID, "create", "object is not a map");
    if (write_query(c, &q, NULL) != 0) {
        weir_kube_query_free(&q);
        return weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
    }
    rc = simple(c, "POST", res, ns_of(res, ns, obj), NULL, NULL, weir_kube_query_str(&q), NULL, obj,
                out, err);
    weir_kube_query_free(&q);
    return rc;
}

static int put(struct weir_kube_client *c, const struct weir_kube_resource *res, const char *ns,
               const char *name, const char *sub, const json_t *obj, json_t **out,
               struct weir_kube_error *err)
{
    struct weir_kube_query q;
    int rc;

    if (!json_is_object(obj))
        return weir_kube_error_set(err, WEIR_KUBE_ERR_INVALID, "update", "object is not a map");
    if (!name)
        name = weir_kube_obj_name(obj);
    if (!name || !*name)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_INVALID, "update", "no name given");
    if (write_query(c, &q, NULL) != 0) {
        weir_kube_query_free(&q);
        return weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
    }
    rc = simple(c, "PUT", res, ns_of(res, ns, obj), name, sub, weir_kube_query_str(&q), NULL, obj,
                out, err);
    weir_kube_query_free(&q);
    return rc;
}

int weir_kube_update(struct weir_kube_client *c, const struct weir_kube_resource *res,
                     const char *ns, const char *name, const json_t *obj, json_t **out,
                     struct weir_kube_error *err)
{
    return put(c, res, ns, name, NULL, obj, out, err);
}

int weir_kube_update_status(struct weir_kube_client *c, const struct weir_kube_resource *res,
                            const char *ns, const char *name, const json_t *obj, json_t **out,
                            struct weir_kube_error *err)
{
    return put(c, res, ns, name, "status", obj, out, err);
}

static const char *patch_content_type(enum weir_kube_patch_type t)
{
    switch (t) {
    case WEIR_KUBE_PATCH_MERGE:
        return "application/merge-patch+json";
    case WEIR_KUBE_PATCH_JSON:
        return "application/json-patch+json";
    case WEIR_KUBE_PATCH_STRATEGIC:
        return "application/strategic-merge-patch+json";
    case WEIR_KUBE_PATCH_APPLY:
        /* JSON is YAML: the apply body is sent as JSON text. */
        return "application/apply-patch+yaml";
    }
    return NULL;
}

int weir_kube_patch(struct weir_kube_client *c, const struct weir_kube_resource *res,
                    const char *ns, const char *name, const json_t *patch,
                    const struct weir_kube_patch_options *opts, json_t **out,
                    struct weir_kube_error *err)
{
    static const struct weir_kube_patch_options merge = {.type = WEIR_KUBE_PATCH_MERGE};
    struct weir_kube_query q;
    const char *ct, *manager;
    int rc;

    if (!opts)
        opts = &merge;
    ct = patch_content_type(opts->type);
    manager = opts->field_manager ? opts->field_manager : c->field_manager;
    if (!ct)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_INVALID, "patch", "unknown patch type %d",
                                   (int)opts->type);
    if (!name || !*name)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_INVALID, "patch", "no name given");
    if (!patch ||
        (opts->type == WEIR_KUBE_PATCH_JSON ? !json_is_array(patch) : !json_is_object(patch)))
        return weir_kube_error_set(err, WEIR_KUBE_ERR_INVALID, "patch",
                                   "a %s patch must be a JSON %s", ct,
                                   opts->type == WEIR_KUBE_PATCH_JSON ? "array" : "object");
    if (opts->type == WEIR_KUBE_PATCH_APPLY && (!manager || !*manager))
        return weir_kube_error_set(err, WEIR_KUBE_ERR_INVALID, "apply",
                                   "server-side apply needs a field manager");
    if (write_query(c, &q, manager) != 0) {
        weir_kube_query_free(&q);
        return weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
    }
    if (opts->type == WEIR_KUBE_PATCH_APPLY && opts->force)
        weir_kube_query_add(&q, "force", "true");
    if (!weir_kube_query_str(&q))
        rc = weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
    else
        rc = simple(c, "PATCH", res, ns_of(res, ns, NULL), name, opts->subresource,
                    weir_kube_query_str(&q), ct, patch, out, err);
    weir_kube_query_free(&q);
    return rc;
}

int weir_kube_apply(struct weir_kube_client *c, const struct weir_kube_resource *res,
                    const char *ns, const json_t *obj, const char *field_manager, bool force,
                    json_t **out, struct weir_kube_error *err)
{
    struct weir_kube_patch_options o = {
        .type = WEIR_KUBE_PATCH_APPLY,
        .field_manager = field_manager,
        .force = force,
    };
    if (!json_is_object(obj))
        return weir_kube_error_set(err, WEIR_KUBE_ERR_INVALID, "apply", "object is not a map");
    return weir_kube_patch(c, res, ns_of(res, ns, obj), weir_kube_obj_name(obj), obj, &o, out, err);
}

int weir_kube_delete(struct weir_kube_client *c, const struct weir_kube_resource *res,
                     const char *ns, const char *name, const struct weir_kube_delete_options *opts,
                     struct weir_kube_error *err)
{
    json_t *body = NULL, *answer = NULL;
    int rc;

    if (!name || !*name)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_INVALID, "delete", "no name given");
    if (opts) {
        body = json_pack("{s:s, s:s}", "apiVersion", "v1", "kind", "DeleteOptions");
        if (!body)
            return weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
        if (opts->propagation_policy)
            json_object_set_new(body, "propagationPolicy", json_string(opts->propagation_policy));
        if (opts->grace_period_seconds >= 0)
            json_object_set_new(body, "gracePeriodSeconds",
                                json_integer(opts->grace_period_seconds));
        if (opts->precondition_uid || opts->precondition_resource_version) {
            json_t *pre = json_object();
            if (opts->precondition_uid)
                json_object_set_new(pre, "uid", json_string(opts->precondition_uid));
            if (opts->precondition_resource_version)
                json_object_set_new(pre, "resourceVersion",
                                    json_string(opts->precondition_resource_version));
            json_object_set_new(body, "preconditions", pre);
        }
    }
    rc = simple(c, "DELETE", res, ns_of(res, ns, NULL), name, NULL, NULL, NULL, body, &answer, err);
    json_decref(answer);
    json_decref(body);
    return rc;
}

/* "2026-11-25T10:00:00.123456Z": the MicroTime the events API requires. */
static void micro_time(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%06ldZ", ts.tv_nsec / 1000);
}

int weir_kube_event_create(struct weir_kube_client *c, const struct weir_kube_event *ev,
                           json_t **out, struct weir_kube_error *err)
{
    const json_t *obj = ev ? ev->regarding : NULL;
    const char *api_version = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *name = weir_kube_obj_name(obj);
    const char *ons = weir_kube_obj_namespace(obj);
    const char *uid = meta_string(obj, "uid");
    const char *orv = weir_kube_obj_resource_version(obj);
    char when[64], instance[256], ev_name[254], note[EVENT_NOTE_MAX + 1];
    struct timespec ts;
    json_t *body, *regarding;
    int rc;

    if (!ev || !api_version || !kind || !name)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_INVALID, "event",
                                   "the regarding object needs apiVersion, kind and "
                                   "metadata.name");
    if (!ev->reason || !ev->action || !ev->reporting_controller)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_INVALID, "event",
                                   "reason, action and reporting controller are required");
    if (ev->reporting_instance) {
        snprintf(instance, sizeof(instance), "%s", ev->reporting_instance);
    } else if (gethostname(instance, sizeof(instance)) != 0) {
        snprintf(instance, sizeof(instance), "unknown");
    }
    instance[128] = '\0'; /* the API's limit */
    micro_time(when, sizeof(when));
    clock_gettime(CLOCK_REALTIME, &ts);
    /* client-go's naming: unique per object and nanosecond, and a name of at
     * most 253 bytes. */
    char suffix[32];
    snprintf(suffix, sizeof(suffix), ".%llx",
             (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec);
    snprintf(ev_name, sizeof(ev_name), "%.*s%s", (int)(sizeof(ev_name) - 1 - strlen(suffix)), name,
             suffix);
    snprintf(note, sizeof(note), "%s", ev->note ? ev->note : "");

    regarding = json_pack("{s:s, s:s, s:s}", "apiVersion", api_version, "kind", kind, "name", name);
    body = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}",
                     "apiVersion", "events.k8s.io/v1", "kind", "Event", "metadata", "name", ev_name,
                     "namespace", ons ? ons : "default", "eventTime", when, "reportingController",
                     ev->reporting_controller, "reportingInstance", instance, "action", ev->action,
                     "reason", ev->reason, "type", ev->type ? ev->type : "Normal", "note", note,
                     "regarding", regarding);
    if (!body) {
        return weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
    }
    if (ons)
        json_object_set_new(regarding, "namespace", json_string(ons));
    if (uid)
        json_object_set_new(regarding, "uid", json_string(uid));
    if (orv)
        json_object_set_new(regarding, "resourceVersion", json_string(orv));
    rc = weir_kube_create(c, &weir_kube_res_events, ons ? ons : "default", body, out, err);
    json_decref(body);
    return rc;
}
