/*
 * weir-operator: the control plane. operator/README.md describes what it
 * does; this file wires the pieces together and owns the process's life:
 *
 *   threads   one per informer (operator/watchers.h), the reconcile worker
 *             (operator/reconcile.h), the leader elector (operator/leader.h),
 *             libmicrohttpd's for /metrics (operator/http.h), and this one,
 *             which waits for signals and runs the resync timer.
 *   signals   SIGTERM and SIGINT stop gracefully: the batch in progress
 *             finishes, the lease is released so a standby takes over at
 *             once, informers stop, everything is freed, exit 0.
 */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "http.h"
#include "kube/client.h"
#include "kube/config.h"
#include "leader.h"
#include "metrics.h"
#include "options.h"
#include "queue.h"
#include "reconcile.h"
#include "status.h"
#include "watchers.h"
#include "writer.h"

struct operator
{
    struct weir_op_options opts;
    const char *ns;
    char id[256];
    struct weir_kube_config cfg;
    struct weir_kube_client *client, *lease_client;
    struct weir_op_metrics *metrics;
    struct weir_op_queue *queue;
    struct weir_op_watchers *watchers;
    struct weir_op_writer *writer;
    struct weir_op_status *status;
    struct weir_op_reconciler *reconciler;
    struct weir_op_leader *leader;
    struct weir_op_http *http;
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void kube_fail(const char *msg, const struct weir_kube_error *err)
{
    char text[1536];
    weir_kube_error_format(err, text, sizeof(text));
    weir_log(WEIR_LOG_ERROR, msg, "error", text, NULL);
}

static void make_id(struct operator* op)
{
    char host[128];
    unsigned char rnd[4] = {0};
    FILE *f;

    if (op->opts.id) {
        snprintf(op->id, sizeof(op->id), "%s", op->opts.id);
        return;
    }
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "weir-operator");
    host[sizeof(host) - 1] = '\0';
    /* a pod name is unique already; the suffix keeps two processes on one
     * laptop apart */
    if ((f = fopen("/dev/urandom", "rb"))) {
        if (fread(rnd, 1, sizeof(rnd), f) != sizeof(rnd))
            memset(rnd, 0, sizeof(rnd));
        fclose(f);
    }
    snprintf(op->id, sizeof(op->id), "%s_%02x%02x%02x%02x", host, rnd[0], rnd[1], rnd[2], rnd[3]);
}

static void on_leader_change(void *arg, bool leading)
{
    struct operator* op = arg;
    weir_op_metrics_inc(op->metrics, WEIR_OP_M_LEADER_TRANSITIONS);
    if (leading) {
        weir_log(WEIR_LOG_INFO, "leading: reconciling", "identity", op->id, NULL);
        /* another replica may have written meanwhile: compare everything with
         * the cluster again */
        weir_op_writer_forget_all(op->writer);
        weir_op_status_forget_all(op->status);
        weir_op_watchers_enqueue_all(op->watchers);
    } else {
        weir_log(WEIR_LOG_WARN, "not leading any more: writes stopped", "identity", op->id, NULL);
    }
}

static bool ready(void *arg)
{
    struct operator* op = arg;
    return weir_op_watchers_synced(op->watchers);
}

static void collect(void *arg, FILE *out)
{
    struct operator* op = arg;
    fprintf(out,
            "# HELP weir_operator_queue_depth Namespaces waiting to be reconciled.\n"
            "# TYPE weir_operator_queue_depth gauge\nweir_operator_queue_depth %zu\n"
            "# HELP weir_operator_is_leader Whether this replica holds the lease and writes.\n"
            "# TYPE weir_operator_is_leader gauge\nweir_operator_is_leader %d\n",
            weir_op_queue_len(op->queue), op->leader ? weir_op_leader_is_leader(op->leader) : 1);
    weir_op_watchers_write_metrics(op->watchers, out);
}

static int setup(struct operator* op)
{
    struct weir_kube_error err;
    char ua[64], msg[256];

    if (weir_kube_config_load_default(op->opts.kubeconfig, &op->cfg, &err) != 0) {
        kube_fail("cannot load the Kubernetes configuration", &err);
        return -1;
    }
    if (op->opts.namespace_)
        op->ns = op->opts.namespace_;
    else if (getenv("POD_NAMESPACE") && *getenv("POD_NAMESPACE"))
        op->ns = getenv("POD_NAMESPACE");
    else if (op->cfg.source && strcmp(op->cfg.source, "in-cluster") == 0 && op->cfg.namespace)
        op->ns = op->cfg.namespace;
    else
        op->ns = WEIR_OP_DEFAULT_NAMESPACE;
    make_id(op);

    snprintf(ua, sizeof(ua), "weir-operator/%s", WEIR_VERSION);
    struct weir_kube_client_options co = {
        .qps = op->opts.qps,
        .burst = op->opts.burst,
        .user_agent = ua,
        .field_manager = WEIR_OP_FIELD_MANAGER,
    };
    if (weir_kube_client_new(&op->cfg, &co, &op->client, &err) != 0) {
        kube_fail("cannot create the Kubernetes client", &err);
        return -1;
    }
    if (op->opts.leader_elect) {
        /* its own connections and rate limit, and requests that end well
         * before the renew deadline */
        struct weir_kube_client_options lo = co;
        lo.qps = 5;
        lo.burst = 10;
        lo.connect_timeout_ms = (long)(op->opts.renew_deadline * 1000 / 4);
        lo.request_timeout_ms = (long)(op->opts.renew_deadline * 1000 / 2);
        if (weir_kube_client_new(&op->cfg, &lo, &op->lease_client, &err) != 0) {
            kube_fail("cannot create the Kubernetes client", &err);
            return -1;
        }
    }
    if (weir_op_metrics_new(&op->metrics) != 0 || weir_op_queue_new(NULL, &op->queue) != 0)
        goto oom;
    struct weir_op_watchers_options wo = {
        .client = op->client,
        .queue = op->queue,
        .namespace_ = op->ns,
        .mesh_config_name = op->opts.mesh_config_name,
        .root_namespace = op->opts.root_namespace ? op->opts.root_namespace : op->ns,
    };
    if (weir_op_watchers_new(&wo, &op->watchers) != 0)
        return -1;
    if (op->opts.leader_elect) {
        struct weir_op_leader_options lo = {
            .client = op->lease_client,
            .namespace_ = op->ns,
            .name = op->opts.lease_name,
            .identity = op->id,
            .lease_duration = op->opts.lease_duration,
            .renew_deadline = op->opts.renew_deadline,
            .retry_period = op->opts.retry_period,
            .on_change = on_leader_change,
            .arg = op,
        };
        if (weir_op_leader_new(&lo, &op->leader) != 0)
            goto oom;
    }
    struct weir_op_gate gate = {op->leader ? weir_op_leader_gate : NULL, op->leader};
    struct weir_op_writer_options wr = {
        .client = op->client,
        .configmaps = weir_op_watchers_informer(op->watchers, WEIR_OP_W_PROXY_CONFIGMAPS),
        .namespaces = weir_op_watchers_informer(op->watchers, WEIR_OP_W_NAMESPACES),
        .metrics = op->metrics,
        .gate = gate,
        .max_bytes = op->opts.max_config_bytes,
        .instance = op->id,
    };
    struct weir_op_status_options so = {
        .client = op->client, .metrics = op->metrics, .gate = gate, .instance = op->id};
    if (weir_op_writer_new(&wr, &op->writer) != 0 || weir_op_status_new(&so, &op->status) != 0)
        goto oom;
    weir_op_watchers_bind(op->watchers, op->writer, op->status);
    struct weir_op_reconciler_options ro = {
        .watchers = op->watchers,
        .queue = op->queue,
        .writer = op->writer,
        .status = op->status,
        .metrics = op->metrics,
        .gate = gate,
        .root_namespace = wo.root_namespace,
        .no_scoped = !op->opts.scoped_reconcile,
    };
    if (weir_op_reconciler_new(&ro, &op->reconciler) != 0)
        goto oom;
    weir_op_metrics_set_collector(op->metrics, collect, op);

    struct weir_op_http_options ho = {
        .address = op->opts.listen_addr,
        .port = op->opts.listen_port,
        .metrics = op->metrics,
        .ready = ready,
        .ready_arg = op,
    };
    if (weir_op_http_start(&ho, &op->http, msg, sizeof(msg)) != 0) {
        weir_log(WEIR_LOG_ERROR, "cannot serve HTTP", "error", msg, NULL);
        return -1;
    }
    char port[16];
    snprintf(port, sizeof(port), "%u", (unsigned)weir_op_http_port(op->http));
    weir_log(WEIR_LOG_INFO, "weir-operator starting", "version", WEIR_VERSION, "server",
             op->cfg.server, "config", op->cfg.source, "namespace", op->ns, "identity", op->id,
             "leaderElection", op->opts.leader_elect ? "true" : "false", "listen",
             op->opts.listen_addr, "port", port, NULL);

    if (weir_op_watchers_start(op->watchers) != 0 ||
        weir_op_reconciler_start(op->reconciler) != 0 ||
        (op->leader && weir_op_leader_start(op->leader) != 0)) {
        weir_log(WEIR_LOG_ERROR, "cannot start the operator's threads", NULL);
        return -1;
    }
    return 0;
oom:
    weir_log(WEIR_LOG_ERROR, "out of memory at start-up", NULL);
    return -1;
}

/* In reverse order of setup; each step is safe on what was never made. */
static void teardown(struct operator* op)
{
    /* no new writes: the worker ends its batch, then the lease goes */
    weir_op_reconciler_stop(op->reconciler);
    weir_op_leader_stop(op->leader, true);
    weir_op_http_stop(op->http);
    weir_op_watchers_stop(op->watchers);
    weir_op_reconciler_free(op->reconciler);
    weir_op_leader_free(op->leader);
    weir_op_watchers_free(op->watchers);
    weir_op_writer_free(op->writer);
    weir_op_status_free(op->status);
    weir_op_queue_free(op->queue);
    weir_op_metrics_free(op->metrics);
    weir_kube_client_free(op->lease_client);
    weir_kube_client_free(op->client);
    weir_kube_config_free(&op->cfg);
}

int main(int argc, char **argv)
{
    struct operator op;
    sigset_t set;
    int rc;

    memset(&op, 0, sizeof(op));
#ifdef __GLIBC__
    /* One arena per informer thread would each keep the peak of its own
     * list (tens of megabytes at a large mesh) long after it was freed; the
     * threads allocate rarely after their first list, so two arenas cost no
     * contention that matters. */
    mallopt(M_ARENA_MAX, 2);
#endif
    rc = weir_op_options_parse(argc, argv, &op.opts, stderr);
    if (rc)
        return rc == 1 ? 0 : 2;
    weir_log_setup("weir-operator", op.opts.log_format, op.opts.log_level, NULL);

    /* before any thread exists, so every thread inherits the mask and this
     * one alone takes the signals */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (setup(&op) != 0) {
        teardown(&op);
        return 1;
    }

    double next_resync = mono() + op.opts.resync_period;
    bool was_ready = false;
    for (;;) {
        struct timespec ts = {1, 0};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            weir_log(WEIR_LOG_INFO, "shutting down", "signal",
                     sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
            break;
        }
        if (!was_ready && weir_op_watchers_synced(op.watchers)) {
            was_ready = true;
            weir_log(WEIR_LOG_INFO, "ready", NULL);
        }
        if (mono() >= next_resync) {
            next_resync = mono() + op.opts.resync_period;
            if (was_ready) {
                /* compare everything with the cluster, not with our memos:
                 * this is what repairs drift nobody told us about */
                weir_log(WEIR_LOG_DEBUG, "resync", NULL);
                weir_op_writer_forget_all(op.writer);
                weir_op_status_forget_all(op.status);
                weir_op_watchers_enqueue_all(op.watchers);
            }
        }
    }
    teardown(&op);
    weir_log(WEIR_LOG_INFO, "stopped", NULL);
    return 0;
}
