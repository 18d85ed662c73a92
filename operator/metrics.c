#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

/* Seconds: a reconcile of a small mesh takes milliseconds, a large one seconds. */
static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,    1,     2.5,  5,     10,   30};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct histogram {
    unsigned long counts[N_BUCKETS + 1]; /* the last one is +Inf */
    unsigned long count;
    double sum;
};

struct weir_op_metrics {
    atomic_ulong counters[WEIR_OP_M_COUNTERS];
    atomic_ulong reconciled[WEIR_OP_NOT_LEADER + 1];
    pthread_mutex_t lock;
    struct histogram reconcile, translate;
    struct weir_op_strmap sizes; /* namespace -> (uintptr_t) bytes */
    weir_op_collect_fn collect;
    void *collect_arg;
};

int weir_op_metrics_new(struct weir_op_metrics **out)
{
    struct weir_op_metrics *m = calloc(1, sizeof(*m));
    *out = m;
    if (!m)
        return -1;
    for (int i = 0; i < WEIR_OP_M_COUNTERS; i++)
        atomic_init(&m->counters[i], 0);
    for (int i = 0; i <= WEIR_OP_NOT_LEADER; i++)
        atomic_init(&m->reconciled[i], 0);
    pthread_mutex_init(&m->lock, NULL);
    weir_op_strmap_init(&m->sizes);
    return 0;
}

void weir_op_metrics_free(struct weir_op_metrics *m)
{
    if (!m)
        return;
    weir_op_strmap_free(&m->sizes, NULL);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void weir_op_metrics_inc(struct weir_op_metrics *m, enum weir_op_counter c)
{
    if (m)
        atomic_fetch_add(&m->counters[c], 1);
}

unsigned long weir_op_metrics_get(struct weir_op_metrics *m, enum weir_op_counter c)
{
    return m ? atomic_load(&m->counters[c]) : 0;
}

void weir_op_metrics_reconciled(struct weir_op_metrics *m, enum weir_op_result r)
{
    if (m)
        atomic_fetch_add(&m->reconciled[r], 1);
}

static void observe(struct histogram *h, double v)
{
    size_t i = 0;
    while (i < N_BUCKETS && v > buckets[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum += v;
}

void weir_op_metrics_batch(struct weir_op_metrics *m, double seconds, double translate_seconds)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    observe(&m->reconcile, seconds);
    observe(&m->translate, translate_seconds);
    pthread_mutex_unlock(&m->lock);
}

void weir_op_metrics_config_bytes(struct weir_op_metrics *m, const char *ns, size_t bytes)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    /* a failed put leaves the gauge stale; nothing else depends on it */
    (void)weir_op_strmap_put(&m->sizes, ns, (void *)(uintptr_t)bytes, NULL, NULL);
    pthread_mutex_unlock(&m->lock);
}

void weir_op_metrics_config_forget(struct weir_op_metrics *m, const char *ns)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    weir_op_strmap_remove(&m->sizes, ns);
    pthread_mutex_unlock(&m->lock);
}

void weir_op_metrics_set_collector(struct weir_op_metrics *m, weir_op_collect_fn fn, void *arg)
{
    m->collect = fn;
    m->collect_arg = arg;
}

static void counter(FILE *f, const char *name, const char *help, unsigned long v)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %lu\n", name, help, name, name, v);
}

static void histogram(FILE *f, const char *name, const char *help, const struct histogram *h)
{
    unsigned long cum = 0;
    fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (size_t i = 0; i < N_BUCKETS; i++) {
        cum += h->counts[i];
        fprintf(f, "%s_bucket{le=\"%g\"} %lu\n", name, buckets[i], cum);
    }
    cum += h->counts[N_BUCKETS];
    fprintf(f, "%s_bucket{le=\"+Inf\"} %lu\n%s_sum %.6f\n%s_count %lu\n", name, cum, name, h->sum,
            name, h->count);
}

char *weir_op_metrics_render(struct weir_op_metrics *m, size_t *len)
{
    static const char *const counter_names[WEIR_OP_M_COUNTERS][2] = {
        {"weir_operator_config_writes_total", "Proxy-config ConfigMaps created or updated."},
        {"weir_operator_config_deletes_total",
         "Proxy-config ConfigMaps deleted because their namespace left the mesh."},
        {"weir_operator_config_too_large_total",
         "Proxy configs not written because they exceed the ConfigMap size limit."},
        {"weir_operator_status_writes_total", "Status updates of mesh custom resources."},
        {"weir_operator_events_total", "Events emitted."},
        {"weir_operator_api_errors_total", "Writes to the API server that failed."},
        {"weir_operator_leader_transitions_total", "Times this replica gained or lost the lease."},
        {"weir_operator_scoped_batches_total",
         "Reconcile batches translated from the namespaces that can reach them, not the whole "
         "cache."},
    };
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        return NULL;

    fprintf(f, "# HELP weir_operator_reconcile_total Namespaces reconciled, by outcome.\n"
               "# TYPE weir_operator_reconcile_total counter\n");
    for (int r = WEIR_OP_OK; r <= WEIR_OP_NOT_LEADER; r++)
        fprintf(f, "weir_operator_reconcile_total{result=\"%s\"} %lu\n", weir_op_result_name(r),
                atomic_load(&m->reconciled[r]));
    for (int i = 0; i < WEIR_OP_M_COUNTERS; i++)
        counter(f, counter_names[i][0], counter_names[i][1], atomic_load(&m->counters[i]));

    pthread_mutex_lock(&m->lock);
    histogram(f, "weir_operator_reconcile_duration_seconds",
              "Time of one reconcile batch: snapshot, translation and writes.", &m->reconcile);
    histogram(f, "weir_operator_translate_duration_seconds",
              "Time of the translation inside a reconcile batch.", &m->translate);
    fprintf(f, "# HELP weir_operator_config_bytes Size of each namespace's proxy config.\n"
               "# TYPE weir_operator_config_bytes gauge\n");
    const char **keys = NULL;
    size_t nk = 0;
    if (weir_op_strmap_keys(&m->sizes, &keys, &nk) == 0)
        for (size_t i = 0; i < nk; i++)
            fprintf(f, "weir_operator_config_bytes{namespace=\"%s\"} %zu\n", keys[i],
                    (size_t)(uintptr_t)weir_op_strmap_get(&m->sizes, keys[i]));
    free(keys);
    pthread_mutex_unlock(&m->lock);

    if (m->collect)
        m->collect(m->collect_arg, f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    if (len)
        *len = n;
    return buf;
}
