/*
 * weir-proxy: the sidecar data plane. This file is the shell: flags, the config
 * snapshot lifecycle (load, watch, swap), the listeners, the workers, signals and
 * the shutdown order. The data path lives in core/, http1/, http/, route/,
 * upstream/ and tcp/; see README.md for the layout.
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <grp.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin/admin.h"
#include "config/proxy_config.h"
#include "core/addr.h"
#include "core/log.h"
#include "core/ports.h"
#include "core/proxy.h"
#include "core/watch.h"
#include "core/worker.h"
#include "telemetry/access_log.h"

#define DEFAULT_CONFIG_FILE "proxy-config.json"
#define DEFAULT_CONFIG_DIR  "/etc/weir/proxy"
#define DRAIN_POLL_MS       100
#define LISTEN_BACKLOG      1024
/* http-parser's own header bound is process-wide; ours is per config and checked
 * before it, so its bound only needs to stay above the largest allowed. */
#define PARSER_MAX_HEADER (2u << 20)

struct main_state {
    struct wp_proxy p;
    struct wp_admin *admin;
    struct wp_watch *watch;
    struct event *sig_term, *sig_int, *sig_usr1, *sig_hup;
    struct event *drain_timer;
    uint64_t drain_deadline_us;
    bool exit_after_drain;
    bool stopping;
    char *config_path;
};

static struct main_state M;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: weir-proxy [options]\n"
            "       weir-proxy --check-config FILE\n"
            "       weir-proxy wait [--timeout SECONDS] [--health-port N]\n"
            "\n"
            "  --config FILE                  proxy config (default "
            "$WEIR_PROXY_CONFIG_DIR/" DEFAULT_CONFIG_FILE ",\n"
            "                                 " DEFAULT_CONFIG_DIR "/" DEFAULT_CONFIG_FILE
            " without the variable)\n"
            "  --check-config FILE            validate FILE, print every error, exit 0 or 1\n"
            "  --workers N                    worker threads (default: one per CPU)\n"
            "  --listen-outbound ADDR:PORT    explicit outbound listener (repeatable); without\n"
            "                                 any --listen-* flag the capture ports are used\n"
            "  --listen-inbound ADDR:PORT     explicit inbound listener (repeatable)\n"
            "  --admin-port N --health-port N --metrics-port N   override the config's ports\n"
            "  --admin-address ADDR           admin bind address (default 127.0.0.1)\n"
            "  --bind-address ADDR            health and metrics bind address (default 0.0.0.0)\n"
            "  --drain-time MS                override proxy.drainTimeMs\n"
            "  --protocol-detection-timeout MS  wait for a first byte on undeclared ports (100)\n"
            "  --workload-name NAME --namespace NS   this workload (else POD_NAME, POD_NAMESPACE)\n"
            "  --pod-labels k=v,...           this workload's labels (else WEIR_POD_LABELS)\n"
            "  --pod-labels-file FILE         labels from a downward-API file\n"
            "  --no-passthrough-bind          do not bind inbound connections to the passthrough "
            "source\n"
            "  --drop-privileges              when started as root, switch to proxy.uid/gid\n"
            "  --log-level L --log-format text|json\n"
            "  --version\n");
}

static int parse_int(const char *s, long min, long max, long *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Go-style durations from the injector ("5s", "500ms", "1m30s"), or plain ms. */
static int parse_duration_ms(const char *s, int64_t *out)
{
    int64_t total = 0;
    const char *p = s;
    if (!*s)
        return -1;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p)
            return -1;
        p = end;
        if (strncmp(p, "ms", 2) == 0) {
            total += (int64_t)v;
            p += 2;
        } else if (*p == 's') {
            total += (int64_t)(v * 1000);
            p++;
        } else if (*p == 'm') {
            total += (int64_t)(v * 60000);
            p++;
        } else if (*p == 'h') {
            total += (int64_t)(v * 3600000);
            p++;
        } else if (*p == '\0' && p == end) {
            total += (int64_t)v; /* bare number: milliseconds */
        } else {
            return -1;
        }
    }
    *out = total;
    return 0;
}

static int check_config(const char *path)
{
    struct weir_diags diags;
    struct weir_proxy_config *cfg = NULL;
    int rc;
    weir_diags_init(&diags);
    rc = weir_proxy_config_load_file(path, &cfg, &diags);
    for (size_t i = 0; i < diags.len; i++)
        weir_diag_print(rc == 0 ? stdout : stderr, &diags.items[i]);
    if (diags.truncated)
        fprintf(stderr, "%s: more errors were not shown\n", path);
    if (rc == 0)
        printf("%s: ok (revision %s, %zu services, %zu clusters)\n", path, cfg->revision,
               cfg->n_services, cfg->n_clusters);
    weir_proxy_config_free(cfg);
    weir_diags_free(&diags);
    return rc == 0 ? 0 : 1;
}

/* ---- listeners ---- */

static int bind_listener(const struct wp_listen_spec *spec, bool quiet_v6)
{
    int one = 1;
    int fd = socket(spec->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    char text[WP_ADDR_STRLEN];
    wp_addr_format((const struct sockaddr *)&spec->addr, text, sizeof(text));
    if (fd < 0)
        goto fail;
    /* one socket per worker on the same port: the kernel spreads connections */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto fail;
    if (spec->addr.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&spec->addr, spec->len) < 0)
        goto fail;
    if (listen(fd, LISTEN_BACKLOG) < 0)
        goto fail;
    return fd;
fail:
    if (!(quiet_v6 && spec->addr.ss_family == AF_INET6))
        weir_log(WEIR_LOG_ERROR, "cannot listen", "address", text, "error", strerror(errno), NULL);
    if (fd >= 0)
        close(fd);
    return -1;
}

static size_t listen_specs(const struct weir_proxy_config *cfg, struct wp_listen_spec *out,
                           bool *optional_v6)
{
    size_t n = 0;
    if (M.p.opt.n_listens) {
        memcpy(out, M.p.opt.listens, M.p.opt.n_listens * sizeof(*out));
        return M.p.opt.n_listens;
    }
    /* the capture ports on every address, IPv6 too when the host has it */
    const uint16_t ports[2] = {cfg->proxy.outbound_capture_port, cfg->proxy.inbound_capture_port};
    for (int i = 0; i < 2; i++) {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&out[n].addr;
        struct sockaddr_in6 *a6;
        memset(&out[n], 0, sizeof(out[n]));
        out[n].dir = i == 0 ? WP_OUTBOUND : WP_INBOUND;
        a4->sin_family = AF_INET;
        a4->sin_port = htons(ports[i]);
        out[n].len = sizeof(*a4);
        optional_v6[n] = false;
        n++;
        memset(&out[n], 0, sizeof(out[n]));
        out[n].dir = i == 0 ? WP_OUTBOUND : WP_INBOUND;
        a6 = (struct sockaddr_in6 *)&out[n].addr;
        a6->sin6_family = AF_INET6;
        a6->sin6_addr = in6addr_any;
        a6->sin6_port = htons(ports[i]);
        out[n].len = sizeof(*a6);
        optional_v6[n] = true;
        n++;
    }
    return n;
}

static int start_listeners(const struct weir_proxy_config *cfg)
{
    struct wp_listen_spec specs[WP_MAX_LISTENS];
    bool optional[WP_MAX_LISTENS] = {false};
    size_t n = listen_specs(cfg, specs, optional);

    for (size_t i = 0; i < n; i++) {
        char text[WP_ADDR_STRLEN];
        for (size_t w = 0; w < M.p.n_workers; w++) {
            int fd = bind_listener(&specs[i], optional[i]);
            if (fd < 0) {
                if (optional[i])
                    break; /* no IPv6 here: the IPv4 listener serves */
                return -1;
            }
            if (w == 0 && wp_addr_port((struct sockaddr *)&specs[i].addr) == 0) {
                /* port 0: every worker joins the port the kernel picked for the first */
                socklen_t len = sizeof(specs[i].addr);
                getsockname(fd, (struct sockaddr *)&specs[i].addr, &len);
            }
            if (wp_worker_add_listener(M.p.workers[w], fd, &specs[i]) < 0)
                return -1;
            if (w == 0) {
                wp_addr_format((struct sockaddr *)&specs[i].addr, text, sizeof(text));
                weir_log(WEIR_LOG_INFO, "listening", "address", text, "direction",
                         specs[i].dir == WP_OUTBOUND ? "outbound" : "inbound", NULL);
            }
        }
    }
    M.p.listening = true;
    return 0;
}

/* ---- snapshots ---- */

static void publish(struct wp_snapshot *s)
{
    struct wp_snapshot *old;
    /* before any worker sees s: the rate limits it keeps carry their buckets over */
    wp_snapshot_inherit(s, atomic_load(&M.p.current));
    old = atomic_exchange(&M.p.current, s);
    for (size_t i = 0; i < M.p.n_workers; i++) {
        wp_snapshot_ref(s);
        wp_worker_post_snapshot(M.p.workers[i], s);
    }
    atomic_store(&M.p.gstats.config_generation, s->generation);
    atomic_store(&M.p.gstats.config_loaded_at, (uint64_t)s->loaded_at);
    wp_access_log_configure(s->cfg);
    wp_snapshot_warn_unsupported(s, &M.p.id);
    wp_snapshot_unref(old);
}

static void log_diags(const struct weir_diags *d)
{
    for (size_t i = 0; i < d->len; i++) {
        char *line = weir_diag_format(&d->items[i]);
        weir_log(WEIR_LOG_ERROR, "config rejected", "error", line ? line : "out of memory", NULL);
        free(line);
    }
}

static void reload(void *arg)
{
    struct weir_diags diags;
    struct wp_snapshot *cur = atomic_load(&M.p.current), *s;

    if (M.stopping)
        return;
    weir_diags_init(&diags);
    s = wp_snapshot_load(M.config_path, &M.p.id, M.p.generation + 1, &diags);
    if (!s) {
        atomic_fetch_add(&M.p.gstats.config_reload_failures, 1);
        weir_log(WEIR_LOG_ERROR, "new config is invalid; the last good one keeps serving", "path",
                 M.config_path, "serving", cur ? cur->cfg->revision : "none", NULL);
        log_diags(&diags);
        weir_diags_free(&diags);
        return;
    }
    weir_diags_free(&diags);
    if (cur && strcmp(cur->cfg->revision, s->cfg->revision) == 0) {
        wp_snapshot_unref(s); /* same document: nothing to swap */
        return;
    }
    M.p.generation++;
    if (cur && (cur->cfg->proxy.outbound_capture_port != s->cfg->proxy.outbound_capture_port ||
                cur->cfg->proxy.inbound_capture_port != s->cfg->proxy.inbound_capture_port ||
                cur->cfg->proxy.admin_port != s->cfg->proxy.admin_port))
        weir_log(WEIR_LOG_WARN, "port changes take effect at the next restart", NULL);
    publish(s);
    atomic_fetch_add(&M.p.gstats.config_reloads, 1);
    weir_log(WEIR_LOG_INFO, "config loaded", "revision", s->cfg->revision, "path", M.config_path,
             NULL);
    if (!M.p.listening && !atomic_load(&M.p.draining)) {
        if (start_listeners(s->cfg) < 0)
            weir_log(WEIR_LOG_ERROR, "cannot start the listeners", NULL);
    }
}

/* ---- drain and exit ---- */

static void stop(void)
{
    M.stopping = true;
    event_base_loopbreak(M.p.base);
}

static void drain_tick(evutil_socket_t fd, short what, void *arg)
{
    size_t active = 0;
    for (size_t i = 0; i < M.p.n_workers; i++)
        active += atomic_load(&M.p.workers[i]->active);
    if (!M.exit_after_drain)
        return;
    if (active == 0 || wp_now_us() >= M.drain_deadline_us) {
        if (active)
            weir_log(WEIR_LOG_WARN, "drain time is over; closing what is still open", NULL);
        else
            weir_log(WEIR_LOG_INFO, "drained", NULL);
        stop();
    }
}

void wp_proxy_drain(struct wp_proxy *p, bool then_exit)
{
    struct wp_snapshot *s = atomic_load(&p->current);
    int64_t ms = p->opt.drain_ms >= 0 ? p->opt.drain_ms : s ? s->cfg->proxy.drain_time_ms : 5000;
    struct timeval tv = {0, DRAIN_POLL_MS * 1000};

    if (then_exit && !M.exit_after_drain) {
        M.exit_after_drain = true;
        M.drain_deadline_us = wp_now_us() + (uint64_t)ms * 1000;
        event_add(M.drain_timer, &tv);
    }
    if (atomic_exchange(&p->draining, true))
        return;
    {
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", (long long)ms);
        weir_log(WEIR_LOG_INFO, "draining: listeners closed, in-flight requests finish", "drain_ms",
                 then_exit ? buf : "until exit", NULL);
    }
    for (size_t i = 0; i < p->n_workers; i++)
        wp_worker_post(p->workers[i], WP_CMD_DRAIN);
}

static void quit_cb(evutil_socket_t fd, short what, void *arg)
{
    stop();
}

void wp_proxy_quit(struct wp_proxy *p)
{
    struct timeval tv = {0, 50000};
    weir_log(WEIR_LOG_INFO, "quit requested", NULL);
    /* a moment later, so the reply to /quitquitquit is written first */
    event_base_once(p->base, -1, EV_TIMEOUT, quit_cb, NULL, &tv);
}

bool wp_proxy_ready(const struct wp_proxy *p)
{
    return atomic_load(&p->current) != NULL && p->listening && !atomic_load(&p->draining);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    switch (sig) {
    case SIGTERM:
    case SIGINT:
        if (M.exit_after_drain) {
            weir_log(WEIR_LOG_INFO, "second signal: exiting now", NULL);
            stop();
            return;
        }
        wp_proxy_drain(&M.p, true);
        break;
    case SIGUSR1:
        wp_access_log_reopen();
        break;
    case SIGHUP:
        reload(NULL);
        break;
    }
}

/* ---- startup ---- */

static int parse_flags(int argc, char **argv, const char **check)
{
    enum {
        O_CONFIG = 1000,
        O_CHECK,
        O_WORKERS,
        O_LOUT,
        O_LIN,
        O_ADMIN_PORT,
        O_HEALTH_PORT,
        O_METRICS_PORT,
        O_ADMIN_ADDR,
        O_BIND_ADDR,
        O_DRAIN,
        O_DETECT,
        O_WORKLOAD,
        O_NS,
        O_LABELS,
        O_LABELS_FILE,
        O_NO_BIND,
        O_DROP,
        O_LOG_LEVEL,
        O_LOG_FORMAT,
        O_VERSION,
        O_HELP,
    };
    static const struct option opts[] = {
        {"config", required_argument, NULL, O_CONFIG},
        {"check-config", required_argument, NULL, O_CHECK},
        {"workers", required_argument, NULL, O_WORKERS},
        {"listen-outbound", required_argument, NULL, O_LOUT},
        {"listen-inbound", required_argument, NULL, O_LIN},
        {"admin-port", required_argument, NULL, O_ADMIN_PORT},
        {"health-port", required_argument, NULL, O_HEALTH_PORT},
        {"metrics-port", required_argument, NULL, O_METRICS_PORT},
        {"admin-address", required_argument, NULL, O_ADMIN_ADDR},
        {"bind-address", required_argument, NULL, O_BIND_ADDR},
        {"drain-time", required_argument, NULL, O_DRAIN},
        {"protocol-detection-timeout", required_argument, NULL, O_DETECT},
        {"workload-name", required_argument, NULL, O_WORKLOAD},
        {"namespace", required_argument, NULL, O_NS},
        {"pod-labels", required_argument, NULL, O_LABELS},
        {"pod-labels-file", required_argument, NULL, O_LABELS_FILE},
        {"no-passthrough-bind", no_argument, NULL, O_NO_BIND},
        {"drop-privileges", no_argument, NULL, O_DROP},
        {"log-level", required_argument, NULL, O_LOG_LEVEL},
        {"log-format", required_argument, NULL, O_LOG_FORMAT},
        {"version", no_argument, NULL, O_VERSION},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    struct wp_options *o = &M.p.opt;
    enum weir_log_level level = WEIR_LOG_INFO;
    enum weir_log_format format = WEIR_LOG_TEXT;
    const char *env;
    int c, longindex = 0;
    long v;
    const char *err;

    o->workers = (int)sysconf(_SC_NPROCESSORS_ONLN);
    o->admin_port = o->health_port = o->metrics_port = -1;
    o->admin_bind = "127.0.0.1";
    o->metrics_bind = "0.0.0.0";
    o->drain_ms = -1;
    o->detect_timeout_ms = 100;
    o->passthrough_bind = true;
    if ((env = getenv("WEIR_LOG_LEVEL")) && *env)
        weir_log_parse_level(env, &level);
    if ((env = getenv("WEIR_DRAIN_DURATION")) && *env)
        parse_duration_ms(env, &o->drain_ms);
#define ENV_PORT(var, field)                                      \
    if ((env = getenv(var)) && parse_int(env, 1, 65535, &v) == 0) \
        o->field = (int)v;
    ENV_PORT("WEIR_ADMIN_PORT", admin_port)
    ENV_PORT("WEIR_HEALTH_PORT", health_port)
    ENV_PORT("WEIR_METRICS_PORT", metrics_port)
#undef ENV_PORT

    while ((c = getopt_long(argc, argv, "", opts, &longindex)) != -1) {
        switch (c) {
        case O_CONFIG:
            o->config_path = optarg;
            break;
        case O_CHECK:
            *check = optarg;
            break;
        case O_WORKERS:
            if (parse_int(optarg, 1, 256, &v) < 0)
                goto bad;
            o->workers = (int)v;
            break;
        case O_LOUT:
        case O_LIN:
            if (o->n_listens >= WP_MAX_LISTENS / 2)
                goto bad;
            if (wp_addr_parse(optarg, &o->listens[o->n_listens].addr,
                              &o->listens[o->n_listens].len) < 0)
                goto bad;
            o->listens[o->n_listens].dir = c == O_LOUT ? WP_OUTBOUND : WP_INBOUND;
            o->n_listens++;
            break;
        case O_ADMIN_PORT:
        case O_HEALTH_PORT:
        case O_METRICS_PORT:
            if (parse_int(optarg, 0, 65535, &v) < 0)
                goto bad;
            *(c == O_ADMIN_PORT    ? &o->admin_port
              : c == O_HEALTH_PORT ? &o->health_port
                                   : &o->metrics_port) = (int)v;
            break;
        case O_ADMIN_ADDR:
            o->admin_bind = optarg;
            break;
        case O_BIND_ADDR:
            o->metrics_bind = optarg;
            break;
        case O_DRAIN:
            if (parse_duration_ms(optarg, &o->drain_ms) < 0)
                goto bad;
            break;
        case O_DETECT:
            if (parse_duration_ms(optarg, &o->detect_timeout_ms) < 0)
                goto bad;
            break;
        case O_WORKLOAD:
            free(M.p.id.workload_name);
            M.p.id.workload_name = strdup(optarg);
            break;
        case O_NS:
            free(M.p.id.ns);
            M.p.id.ns = strdup(optarg);
            break;
        case O_LABELS:
            if (wp_identity_parse_labels(&M.p.id, optarg, &err) < 0) {
                fprintf(stderr, "weir-proxy: --pod-labels: %s\n", err);
                return 2;
            }
            break;
        case O_LABELS_FILE:
            if (wp_identity_read_labels_file(&M.p.id, optarg, &err) < 0) {
                fprintf(stderr, "weir-proxy: --pod-labels-file %s: %s\n", optarg, err);
                return 2;
            }
            break;
        case O_NO_BIND:
            o->passthrough_bind = false;
            break;
        case O_DROP:
            o->drop_privileges = true;
            break;
        case O_LOG_LEVEL:
            if (weir_log_parse_level(optarg, &level) < 0)
                goto bad;
            break;
        case O_LOG_FORMAT:
            if (weir_log_parse_format(optarg, &format) < 0)
                goto bad;
            break;
        case O_VERSION:
            printf("weir-proxy %s\n", WEIR_VERSION);
            return 0;
        case O_HELP:
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "weir-proxy: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    weir_log_setup("weir-proxy", format, level, stderr);
    return -1;
bad:
    fprintf(stderr, "weir-proxy: --%s: invalid value \"%s\"\n", opts[longindex].name, optarg);
    return 2;
}

static uint16_t pick_port(int flag, uint16_t from_config, uint16_t dflt)
{
    if (flag >= 0)
        return (uint16_t)flag;
    return from_config ? from_config : dflt;
}

static int drop_privileges(const struct weir_proxy_config *cfg)
{
    if (geteuid() != 0)
        return 0;
    if (setgroups(0, NULL) < 0 || setgid((gid_t)cfg->proxy.gid) < 0 ||
        setuid((uid_t)cfg->proxy.uid) < 0) {
        weir_log(WEIR_LOG_ERROR, "cannot drop privileges", "error", strerror(errno), NULL);
        return -1;
    }
    return 0;
}

/* `weir-proxy wait`: for pods without native sidecars, the app container's
 * postStart hook blocks until the proxy is ready. */
static int wait_ready(int argc, char **argv)
{
    long timeout_s = 60, port = WEIR_PORT_HEALTH, v;
    const char *env = getenv("WEIR_HEALTH_PORT");
    uint64_t deadline;
    if (env && parse_int(env, 1, 65535, &v) == 0)
        port = v;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc &&
            parse_int(argv[i + 1], 1, 86400, &timeout_s) == 0) {
            i++;
        } else if (strcmp(argv[i], "--health-port") == 0 && i + 1 < argc &&
                   parse_int(argv[i + 1], 1, 65535, &port) == 0) {
            i++;
        } else {
            fprintf(stderr, "usage: weir-proxy wait [--timeout SECONDS] [--health-port N]\n");
            return 2;
        }
    }
    deadline = wp_now_us() + (uint64_t)timeout_s * 1000000u;
    do {
        struct sockaddr_in sin = {0};
        struct timeval tv = {1, 0};
        char buf[64] = "";
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sin.sin_port = htons((uint16_t)port);
        if (fd >= 0) {
            static const char req[] =
                "GET /healthz/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
            if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
                write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1) &&
                read(fd, buf, sizeof(buf) - 1) > 12 && strncmp(buf + 8, " 200", 4) == 0) {
                close(fd);
                return 0;
            }
            close(fd);
        }
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    } while (wp_now_us() < deadline);
    fprintf(stderr, "weir-proxy wait: not ready after %ld s (127.0.0.1:%ld/healthz/ready)\n",
            timeout_s, port);
    return 1;
}

int main(int argc, char **argv)
{
    const char *check = NULL;
    struct weir_diags diags;
    struct wp_snapshot *first;
    const char *dir;
    int rc = 1;

    if (argc >= 2 && strcmp(argv[1], "wait") == 0)
        return wait_ready(argc - 1, argv + 1);
    rc = parse_flags(argc, argv, &check);
    if (rc >= 0) {
        wp_identity_free(&M.p.id);
        return rc;
    }
    rc = 1;
    if (check) {
        rc = check_config(check);
        wp_identity_free(&M.p.id);
        return rc;
    }
    if (M.p.opt.config_path) {
        M.config_path = strdup(M.p.opt.config_path);
    } else {
        dir = getenv("WEIR_PROXY_CONFIG_DIR");
        if (!dir || !*dir)
            dir = DEFAULT_CONFIG_DIR;
        M.config_path = malloc(strlen(dir) + sizeof(DEFAULT_CONFIG_FILE) + 1);
        if (M.config_path)
            sprintf(M.config_path, "%s/%s", dir, DEFAULT_CONFIG_FILE);
    }
    if (!M.config_path || wp_identity_finish(&M.p.id) < 0) {
        fprintf(stderr, "weir-proxy: out of memory\n");
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    http_parser_set_max_header_size(PARSER_MAX_HEADER);

    M.p.base = event_base_new();
    if (!M.p.base)
        goto out;
    M.p.n_workers = (size_t)M.p.opt.workers;
    M.p.workers = calloc(M.p.n_workers, sizeof(*M.p.workers));
    M.p.worker_stats = calloc(M.p.n_workers, sizeof(*M.p.worker_stats));
    if (!M.p.workers || !M.p.worker_stats)
        goto out;

    weir_diags_init(&diags);
    first = wp_snapshot_load(M.config_path, &M.p.id, 1, &diags);
    if (!first) {
        weir_log(WEIR_LOG_ERROR, "no valid config yet; not ready until one arrives", "path",
                 M.config_path, NULL);
        log_diags(&diags);
    }
    weir_diags_free(&diags);

    {
        const struct weir_proxy_config *cfg = first ? first->cfg : NULL;
        uint16_t admin =
            pick_port(M.p.opt.admin_port, cfg ? cfg->proxy.admin_port : 0, WEIR_PORT_ADMIN);
        uint16_t health =
            pick_port(M.p.opt.health_port, cfg ? cfg->proxy.health_port : 0, WEIR_PORT_HEALTH);
        uint16_t metrics =
            pick_port(M.p.opt.metrics_port, cfg ? cfg->proxy.metrics_port : 0, WEIR_PORT_METRICS);
        M.admin =
            wp_admin_start(&M.p, M.p.opt.admin_bind, admin, M.p.opt.metrics_bind, health, metrics);
        if (!M.admin) {
            wp_snapshot_unref(first);
            goto out;
        }
    }

    for (size_t i = 0; i < M.p.n_workers; i++) {
        M.p.workers[i] = wp_worker_new(&M.p, (int)i);
        if (!M.p.workers[i]) {
            wp_snapshot_unref(first);
            goto out;
        }
        M.p.worker_stats[i] = &M.p.workers[i]->stats;
    }
    if (first) {
        M.p.generation = 1;
        if (start_listeners(first->cfg) < 0) {
            wp_snapshot_unref(first);
            goto out;
        }
        if (M.p.opt.drop_privileges && drop_privileges(first->cfg) < 0) {
            wp_snapshot_unref(first);
            goto out;
        }
        publish(first);
        atomic_fetch_add(&M.p.gstats.config_reloads, 1);
        weir_log(WEIR_LOG_INFO, "config loaded", "revision", first->cfg->revision, "path",
                 M.config_path, NULL);
    }
    for (size_t i = 0; i < M.p.n_workers; i++) {
        if (wp_worker_start(M.p.workers[i]) < 0)
            goto out;
    }

    M.watch = wp_watch_start(M.p.base, M.config_path, reload, NULL);
    M.sig_term = evsignal_new(M.p.base, SIGTERM, on_signal, NULL);
    M.sig_int = evsignal_new(M.p.base, SIGINT, on_signal, NULL);
    M.sig_usr1 = evsignal_new(M.p.base, SIGUSR1, on_signal, NULL);
    M.sig_hup = evsignal_new(M.p.base, SIGHUP, on_signal, NULL);
    M.drain_timer = event_new(M.p.base, -1, EV_PERSIST, drain_tick, NULL);
    if (!M.watch || !M.sig_term || !M.sig_int || !M.sig_usr1 || !M.sig_hup || !M.drain_timer)
        goto out;
    event_add(M.sig_term, NULL);
    event_add(M.sig_int, NULL);
    event_add(M.sig_usr1, NULL);
    event_add(M.sig_hup, NULL);
    {
        char workers[16];
        snprintf(workers, sizeof(workers), "%zu", M.p.n_workers);
        weir_log(WEIR_LOG_INFO, "weir-proxy started", "version", WEIR_VERSION, "workers", workers,
                 "config", M.config_path, NULL);
    }

    event_base_dispatch(M.p.base);
    rc = 0;

out:
    /* workers first: they may hold the last references to snapshots */
    for (size_t i = 0; M.p.workers && i < M.p.n_workers; i++)
        wp_worker_join_free(M.p.workers[i]);
    free(M.p.workers);
    free(M.p.worker_stats);
    wp_snapshot_unref(atomic_exchange(&M.p.current, NULL));
    wp_watch_free(M.watch);
    wp_admin_free(M.admin);
    if (M.sig_term)
        event_free(M.sig_term);
    if (M.sig_int)
        event_free(M.sig_int);
    if (M.sig_usr1)
        event_free(M.sig_usr1);
    if (M.sig_hup)
        event_free(M.sig_hup);
    if (M.drain_timer)
        event_free(M.drain_timer);
    if (M.p.base)
        event_base_free(M.p.base);
    libevent_global_shutdown();
    wp_access_log_close();
    wp_identity_free(&M.p.id);
    free(M.config_path);
    if (rc == 0)
        weir_log(WEIR_LOG_INFO, "weir-proxy exited", NULL);
    return rc;
}
