/*
 * weir-webhook: the admission server. /inject adds weir-init and the
 * weir-proxy sidecar to pods, /validate refuses invalid mesh CRs; /healthz and
 * /metrics for the kubelet and Prometheus. docs/webhook.md explains the
 * deployment (webhook configurations, certificates, failure policy).
 *
 * Threads: libmicrohttpd's workers run the handlers; the main thread only
 * waits for signals and, every --reload-interval, looks at the certificate and
 * mesh config files. SIGTERM/SIGINT stop gracefully (exit 0), SIGHUP reloads
 * at once.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "admission.h"
#include "core/log.h"
#include "meshconfig/mesh_config.h"
#include "metrics.h"
#include "model/check.h"
#include "server.h"

/* Istio's injector port, so NetworkPolicies and habits carry over. */
#define DEFAULT_LISTEN   "0.0.0.0:15017"
#define DEFAULT_MAX_BODY (4u << 20)

/* An immutable mesh config shared by the workers; replaced whole on reload
 * and freed when the last request using it is done. */
struct mesh_snapshot {
    atomic_int refs;
    struct weir_mesh_config mc;
};

static struct {
    pthread_mutex_t lock;
    struct mesh_snapshot *current;
    const char *path; /* NULL: defaults, no file to watch */
    struct stat stamp;
    bool stamp_ok;
} mesh = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct mesh_snapshot *mesh_acquire(void)
{
    pthread_mutex_lock(&mesh.lock);
    struct mesh_snapshot *s = mesh.current;
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&mesh.lock);
    return s;
}

static void mesh_release(struct mesh_snapshot *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
        weir_mesh_config_free(&s->mc);
        free(s);
    }
}

static void log_diags(enum weir_log_level level, const char *msg, const struct weir_diags *d)
{
    for (size_t i = 0; i < d->len; i++) {
        char *text = weir_diag_format(&d->items[i]);
        char line[16];
        snprintf(line, sizeof(line), "%d", d->items[i].line);
        weir_log(level, msg, "file", d->items[i].source, "line", line, "error", text, NULL);
        free(text);
    }
}

/* Loads the mesh config file (or the defaults) into a new snapshot. */
static struct mesh_snapshot *mesh_load(bool log_errors)
{
    struct mesh_snapshot *s = calloc(1, sizeof(*s));
    struct weir_diags d;
    int rc;
    if (!s)
        return NULL;
    atomic_init(&s->refs, 1);
    weir_diags_init(&d);
    rc = mesh.path ? weir_mesh_config_load_file(mesh.path, &s->mc, &d)
                   : weir_mesh_config_defaults(&s->mc);
    if (rc != 0) {
        if (log_errors)
            log_diags(WEIR_LOG_ERROR, "mesh config refused", &d);
        free(s);
        s = NULL;
    }
    weir_diags_free(&d);
    return s;
}

static bool mesh_file_changed(void)
{
    struct stat st;
    bool ok = stat(mesh.path, &st) == 0;
    bool changed = ok != mesh.stamp_ok ||
                   (ok && (st.st_ino != mesh.stamp.st_ino || st.st_dev != mesh.stamp.st_dev ||
                           st.st_size != mesh.stamp.st_size ||
                           st.st_mtim.tv_sec != mesh.stamp.st_mtim.tv_sec ||
                           st.st_mtim.tv_nsec != mesh.stamp.st_mtim.tv_nsec));
    mesh.stamp_ok = ok;
    if (ok)
        mesh.stamp = st;
    return changed;
}

static void mesh_maintain(bool force)
{
    if (!mesh.path)
        return;
    if (!mesh_file_changed() && !force)
        return;
    struct mesh_snapshot *s = mesh_load(true);
    weir_metrics_mesh_config_reload(s != NULL);
    if (!s) {
        weir_log(WEIR_LOG_ERROR, "mesh config not reloaded; the previous one stays", "file",
                 mesh.path, NULL);
        return;
    }
    pthread_mutex_lock(&mesh.lock);
    struct mesh_snapshot *old = mesh.current;
    mesh.current = s;
    pthread_mutex_unlock(&mesh.lock);
    mesh_release(old);
    weir_log(WEIR_LOG_INFO, "mesh config reloaded", "file", mesh.path, NULL);
}

/* ---- HTTP ---- */

static void text_response(struct weir_http_response *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void text_response(struct weir_http_response *resp, int status, const char *fmt, ...)
{
    va_list ap;
    char *body = NULL;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n >= 0 && (body = malloc((size_t)n + 2))) {
        va_start(ap, fmt);
        vsnprintf(body, (size_t)n + 1, fmt, ap);
        va_end(ap);
        body[n] = '\n';
        body[n + 1] = '\0';
    }
    resp->status = status;
    resp->content_type = "text/plain; charset=utf-8";
    resp->body = body;
    resp->body_len = body ? (size_t)n + 1 : 0;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void admit(enum weir_endpoint ep, const struct weir_http_request *req,
                  struct weir_http_response *resp)
{
    struct timespec t0;
    struct weir_admission_review rv;
    struct weir_admission_response ar;
    char err[512], ms[32];

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (req->too_large) {
        text_response(resp, 413, "request body is larger than the limit of %zu bytes",
                      req->max_body);
        weir_metrics_observe(ep, WEIR_RESULT_BAD_REQUEST, seconds_since(&t0));
        weir_log(WEIR_LOG_WARN, "admission request refused", "endpoint", weir_endpoint_name(ep),
                 "status", "413", "error", "body too large", NULL);
        return;
    }
    if (weir_admission_decode(req->body, req->body_len, &rv, err, sizeof(err)) != 0) {
        text_response(resp, 400, "%s", err);
        weir_metrics_observe(ep, WEIR_RESULT_BAD_REQUEST, seconds_since(&t0));
        weir_log(WEIR_LOG_WARN, "admission request refused", "endpoint", weir_endpoint_name(ep),
                 "status", "400", "error", err, NULL);
        return;
    }
    if (ep == WEIR_EP_INJECT) {
        struct mesh_snapshot *m = mesh_acquire();
        weir_admission_inject(&rv, &m->mc, &ar);
        mesh_release(m);
    } else {
        weir_admission_validate(&rv, &ar);
    }
    char *body = weir_admission_encode(rv.uid, &ar);
    if (!body) {
        ar.result = WEIR_RESULT_ERROR;
        text_response(resp, 500, "out of memory encoding the response");
    } else {
        resp->status = 200;
        resp->content_type = "application/json";
        resp->body = body;
        resp->body_len = strlen(body);
    }
    double took = seconds_since(&t0);
    weir_metrics_observe(ep, ar.result, took);

    const json_t *meta = json_object_get(rv.object, "metadata");
    const char *name =
        rv.name && *rv.name ? rv.name : json_string_value(json_object_get(meta, "name"));
    if (!name) /* pods of a ReplicaSet have only a generateName at admission */
        name = json_string_value(json_object_get(meta, "generateName"));
    snprintf(ms, sizeof(ms), "%.3f", took * 1000);
    if (ar.allowed)
        weir_log(WEIR_LOG_INFO, "admission", "endpoint", weir_endpoint_name(ep), "uid", rv.uid,
                 "operation", rv.operation, "kind", rv.kind, "namespace", rv.namespace_, "name",
                 name, "result", weir_result_name(ar.result), "dry_run",
                 rv.dry_run ? "true" : "false", "duration_ms", ms, NULL);
    else
        weir_log(WEIR_LOG_WARN, "admission", "endpoint", weir_endpoint_name(ep), "uid", rv.uid,
                 "operation", rv.operation, "kind", rv.kind, "namespace", rv.namespace_, "name",
                 name, "result", weir_result_name(ar.result), "dry_run",
                 rv.dry_run ? "true" : "false", "duration_ms", ms, "message", ar.message, NULL);
    weir_admission_response_free(&ar);
    weir_admission_review_free(&rv);
}

static void handle(void *ctx, const struct weir_http_request *req, struct weir_http_response *resp)
{
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool post = strcmp(req->method, "POST") == 0;

    if (strcmp(req->path, "/inject") == 0 || strcmp(req->path, "/validate") == 0) {
        if (!post) {
            text_response(resp, 405, "%s takes POST with an AdmissionReview", req->path);
            return;
        }
        admit(strcmp(req->path, "/inject") == 0 ? WEIR_EP_INJECT : WEIR_EP_VALIDATE, req, resp);
        return;
    }
    if (strcmp(req->path, "/healthz") == 0 || strcmp(req->path, "/readyz") == 0) {
        if (!get) {
            text_response(resp, 405, "%s takes GET", req->path);
            return;
        }
        text_response(resp, 200, "ok");
        return;
    }
    if (strcmp(req->path, "/metrics") == 0) {
        if (!get) {
            text_response(resp, 405, "/metrics takes GET");
            return;
        }
        size_t len = 0;
        char *text = weir_metrics_render(&len);
        if (!text) {
            text_response(resp, 500, "out of memory");
            return;
        }
        resp->status = 200;
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        resp->body = text;
        resp->body_len = len;
        return;
    }
    text_response(resp, 404, "not found: %s (served: /inject, /validate, /healthz, /metrics)",
                  req->path);
}

/* ---- command line ---- */

struct options {
    char address[64];
    uint16_t port;
    const char *cert_file, *key_file;
    size_t max_body;
    unsigned threads;
    int64_t reload_ns, timeout_ns, grace_ns;
    enum weir_log_format log_format;
    enum weir_log_level log_level;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: weir-webhook --tls-cert-file FILE --tls-key-file FILE [options]\n"
            "\n"
            "The Weir admission server: POST /inject (sidecar injection), POST /validate\n"
            "(mesh CR validation), GET /healthz, GET /metrics, all over HTTPS.\n"
            "\n"
            "options:\n"
            "  --listen ADDR:PORT          address to serve on (default " DEFAULT_LISTEN
            "; [::]:PORT for IPv6)\n"
            "  --tls-cert-file FILE        serving certificate chain, PEM (reloaded on change)\n"
            "  --tls-key-file FILE         its private key, PEM (reloaded on change)\n"
            "  --mesh-config FILE          mesh config (YAML/JSON, or a ConfigMap manifest);\n"
            "                              defaults when not given; reloaded on change\n"
            "  --max-body-bytes N          largest request body (default %u)\n"
            "  --threads N                 worker threads (default 4)\n"
            "  --reload-interval DURATION  how often the files are checked (default 5s)\n"
            "  --connection-timeout DUR    idle connections close after this (default 30s)\n"
            "  --shutdown-grace DURATION   time for requests in progress at SIGTERM (default "
            "10s)\n"
            "  --log-format json|text      (default json)\n"
            "  --log-level LEVEL           debug, info, warn, error (default info)\n"
            "  --version                   print the version\n",
            DEFAULT_MAX_BODY);
}

static int parse_listen(const char *text, struct options *o)
{
    const char *colon = strrchr(text, ':');
    const char *host = text;
    size_t hlen;
    if (!colon)
        return -1;
    hlen = (size_t)(colon - text);
    if (text[0] == '[') {
        if (hlen < 2 || text[hlen - 1] != ']')
            return -1;
        host = text + 1;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof(o->address))
        return -1;
    memcpy(o->address, host, hlen);
    o->address[hlen] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end || port < 0 || port > 65535)
        return -1;
    o->port = (uint16_t)port;
    return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    enum {
        OPT_LISTEN = 256,
        OPT_CERT,
        OPT_KEY,
        OPT_MESH,
        OPT_MAX_BODY,
        OPT_THREADS,
        OPT_RELOAD,
        OPT_TIMEOUT,
        OPT_GRACE,
        OPT_LOG_FORMAT,
        OPT_LOG_LEVEL,
        OPT_VERSION,
    };
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"tls-cert-file", required_argument, NULL, OPT_CERT},
        {"tls-key-file", required_argument, NULL, OPT_KEY},
        {"mesh-config", required_argument, NULL, OPT_MESH},
        {"max-body-bytes", required_argument, NULL, OPT_MAX_BODY},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"reload-interval", required_argument, NULL, OPT_RELOAD},
        {"connection-timeout", required_argument, NULL, OPT_TIMEOUT},
        {"shutdown-grace", required_argument, NULL, OPT_GRACE},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    char *end;

    parse_listen(DEFAULT_LISTEN, o);
    o->max_body = DEFAULT_MAX_BODY;
    o->threads = 4;
    o->reload_ns = 5000000000LL;
    o->timeout_ns = 30000000000LL;
    o->grace_ns = 10000000000LL;
    o->log_format = WEIR_LOG_JSON;
    o->log_level = WEIR_LOG_INFO;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_LISTEN:
            if (parse_listen(optarg, o) != 0) {
                fprintf(stderr, "weir-webhook: --listen \"%s\": expected ADDR:PORT\n", optarg);
                return 2;
            }
            break;
        case OPT_CERT:
            o->cert_file = optarg;
            break;
        case OPT_KEY:
            o->key_file = optarg;
            break;
        case OPT_MESH:
            mesh.path = optarg;
            break;
        case OPT_MAX_BODY: {
            unsigned long long n = strtoull(optarg, &end, 10);
            if (*end || n < 1024 || n > (256ull << 20)) {
                fprintf(stderr, "weir-webhook: --max-body-bytes must be 1024..268435456\n");
                return 2;
            }
            o->max_body = (size_t)n;
            break;
        }
        case OPT_THREADS: {
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 256) {
                fprintf(stderr, "weir-webhook: --threads must be 1..256\n");
                return 2;
            }
            o->threads = (unsigned)n;
            break;
        }
        case OPT_RELOAD:
        case OPT_TIMEOUT:
        case OPT_GRACE: {
            int64_t ns;
            if (weir_parse_duration(optarg, &ns) != 0 || ns < 0) {
                fprintf(stderr, "weir-webhook: \"%s\" is not a duration such as 5s or 500ms\n",
                        optarg);
                return 2;
            }
            if (c == OPT_RELOAD)
                o->reload_ns = ns < 100000000 ? 100000000 : ns;
            else if (c == OPT_TIMEOUT)
                o->timeout_ns = ns;
            else
                o->grace_ns = ns;
            break;
        }
        case OPT_LOG_FORMAT:
            if (weir_log_parse_format(optarg, &o->log_format) != 0) {
                fprintf(stderr, "weir-webhook: --log-format must be json or text\n");
                return 2;
            }
            break;
        case OPT_LOG_LEVEL:
            if (weir_log_parse_level(optarg, &o->log_level) != 0) {
                fprintf(stderr, "weir-webhook: --log-level must be debug, info, warn or error\n");
                return 2;
            }
            break;
        case OPT_VERSION:
            printf("weir-webhook %s\n", WEIR_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "weir-webhook: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    if (!o->cert_file || !o->key_file) {
        fprintf(stderr, "weir-webhook: --tls-cert-file and --tls-key-file are required (the API "
                        "server only calls webhooks over HTTPS)\n");
        usage(stderr);
        return 2;
    }
    return -1;
}

int main(int argc, char **argv)
{
    struct options o;
    char err[512], port[8];
    sigset_t set;

    memset(&o, 0, sizeof(o));
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    weir_log_setup("weir-webhook", o.log_format, o.log_level, NULL);

    /* Blocked before any thread starts, so only the main thread takes them. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    mesh.current = mesh_load(true);
    if (!mesh.current) {
        weir_log(WEIR_LOG_ERROR, "cannot start without a valid mesh config", "file", mesh.path,
                 NULL);
        return 1;
    }
    if (mesh.path)
        mesh_file_changed();

    struct weir_server_config cfg = {
        .address = o.address,
        .port = o.port,
        .cert_file = o.cert_file,
        .key_file = o.key_file,
        .max_body = o.max_body,
        .threads = o.threads,
        .connection_timeout_s = (unsigned)(o.timeout_ns / 1000000000LL),
        .drain_s = (unsigned)(o.timeout_ns / 1000000000LL) + 5,
        .handler = handle,
    };
    struct weir_server *srv = weir_server_start(&cfg, err, sizeof(err));
    if (!srv) {
        weir_log(WEIR_LOG_ERROR, "cannot start", "error", err, NULL);
        mesh_release(mesh.current);
        return 1;
    }
    weir_metrics_cert_reload(true, weir_server_cert_not_after(srv));
    snprintf(port, sizeof(port), "%u", (unsigned)weir_server_port(srv));
    weir_log(WEIR_LOG_INFO, "serving", "address", o.address, "port", port, "version", WEIR_VERSION,
             "mesh_config", mesh.path ? mesh.path : "(defaults)", NULL);

    struct timespec tick = {.tv_sec = (time_t)(o.reload_ns / 1000000000LL),
                            .tv_nsec = (long)(o.reload_ns % 1000000000LL)};
    int sig;
    for (;;) {
        siginfo_t info;
        sig = sigtimedwait(&set, &info, &tick);
        if (sig == SIGTERM || sig == SIGINT)
            break;
        bool force = sig == SIGHUP;
        if (force)
            weir_log(WEIR_LOG_INFO, "SIGHUP: reloading certificate and mesh config", NULL);
        int r = weir_server_maintain(srv, force);
        if (r != 0)
            weir_metrics_cert_reload(r > 0, weir_server_cert_not_after(srv));
        mesh_maintain(force);
    }

    weir_log(WEIR_LOG_INFO, "shutting down", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    weir_server_stop(srv, (unsigned)(o.grace_ns / 1000000000LL));
    mesh_release(mesh.current);
    weir_log(WEIR_LOG_INFO, "stopped", NULL);
    return 0;
}
