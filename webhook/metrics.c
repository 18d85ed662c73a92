#include "metrics.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Admission is a few hundred microseconds when all is well and the API
 * server gives up at timeoutSeconds (10 s): the buckets span both. */
static const double buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

static struct {
    atomic_uint_fast64_t requests[WEIR_EP_COUNT][WEIR_RESULT_COUNT];
    atomic_uint_fast64_t bucket[WEIR_EP_COUNT][NBUCKETS + 1]; /* last: +Inf */
    atomic_uint_fast64_t sum_ns[WEIR_EP_COUNT];
    atomic_uint_fast64_t connections;
    atomic_uint_fast64_t cert_reloads[2];
    atomic_uint_fast64_t mesh_reloads[2];
    _Atomic double cert_not_after;
} m;

/* Results each endpoint can produce; only those are exported. */
static const enum weir_result inject_results[] = {WEIR_RESULT_INJECTED, WEIR_RESULT_SKIPPED,
                                                  WEIR_RESULT_REFUSED, WEIR_RESULT_BAD_REQUEST,
                                                  WEIR_RESULT_ERROR};
static const enum weir_result validate_results[] = {WEIR_RESULT_ALLOWED, WEIR_RESULT_WARNED,
                                                    WEIR_RESULT_DENIED, WEIR_RESULT_BAD_REQUEST,
                                                    WEIR_RESULT_ERROR};

const char *weir_endpoint_name(enum weir_endpoint ep)
{
    return ep == WEIR_EP_INJECT ? "inject" : ep == WEIR_EP_VALIDATE ? "validate" : "?";
}

const char *weir_result_name(enum weir_result r)
{
    static const char *const names[] = {"injected", "skipped", "refused",     "allowed",
                                        "warned",   "denied",  "bad_request", "error"};
    return (unsigned)r < WEIR_RESULT_COUNT ? names[r] : "?";
}

void weir_metrics_observe(enum weir_endpoint ep, enum weir_result r, double seconds)
{
    if ((unsigned)ep >= WEIR_EP_COUNT || (unsigned)r >= WEIR_RESULT_COUNT)
        return;
    atomic_fetch_add(&m.requests[ep][r], 1);
    size_t b = 0;
    while (b < NBUCKETS && seconds > buckets[b])
        b++;
    /* Stored per bucket, summed into cumulative counts when rendered. */
    atomic_fetch_add(&m.bucket[ep][b], 1);
    atomic_fetch_add(&m.sum_ns[ep], (uint_fast64_t)(seconds * 1e9));
}

void weir_metrics_connection_opened(void)
{
    atomic_fetch_add(&m.connections, 1);
}

void weir_metrics_cert_reload(bool ok, double not_after)
{
    atomic_fetch_add(&m.cert_reloads[ok ? 0 : 1], 1);
    if (ok && not_after > 0)
        atomic_store(&m.cert_not_after, not_after);
}

void weir_metrics_mesh_config_reload(bool ok)
{
    atomic_fetch_add(&m.mesh_reloads[ok ? 0 : 1], 1);
}

char *weir_metrics_render(size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return NULL;

    fprintf(f, "# HELP weir_webhook_admission_requests_total Admission requests by endpoint and "
               "result.\n"
               "# TYPE weir_webhook_admission_requests_total counter\n");
    for (int ep = 0; ep < WEIR_EP_COUNT; ep++) {
        const enum weir_result *rs = ep == WEIR_EP_INJECT ? inject_results : validate_results;
        size_t n = ep == WEIR_EP_INJECT ? sizeof(inject_results) / sizeof(inject_results[0])
                                        : sizeof(validate_results) / sizeof(validate_results[0]);
        for (size_t i = 0; i < n; i++) {
            fprintf(f,
                    "weir_webhook_admission_requests_total{endpoint=\"%s\",result=\"%s\"} %llu\n",
                    weir_endpoint_name((enum weir_endpoint)ep), weir_result_name(rs[i]),
                    (unsigned long long)atomic_load(&m.requests[ep][rs[i]]));
        }
    }

    fprintf(f, "# HELP weir_webhook_admission_duration_seconds Time from a complete request body "
               "to the encoded response.\n"
               "# TYPE weir_webhook_admission_duration_seconds histogram\n");
    for (int ep = 0; ep < WEIR_EP_COUNT; ep++) {
        const char *name = weir_endpoint_name((enum weir_endpoint)ep);
        unsigned long long cum = 0;
        for (size_t b = 0; b <= NBUCKETS; b++) {
            cum += atomic_load(&m.bucket[ep][b]);
            if (b < NBUCKETS)
                fprintf(f,
                        "weir_webhook_admission_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"}"
                        " %llu\n",
                        name, buckets[b], cum);
            else
                fprintf(f,
                        "weir_webhook_admission_duration_seconds_bucket{endpoint=\"%s\","
                        "le=\"+Inf\"} %llu\n",
                        name, cum);
        }
        fprintf(f, "weir_webhook_admission_duration_seconds_sum{endpoint=\"%s\"} %.9f\n", name,
                (double)atomic_load(&m.sum_ns[ep]) / 1e9);
        fprintf(f, "weir_webhook_admission_duration_seconds_count{endpoint=\"%s\"} %llu\n", name,
                cum);
    }

    fprintf(f,
            "# HELP weir_webhook_connections_total Connections accepted, each a TLS handshake.\n"
            "# TYPE weir_webhook_connections_total counter\n"
            "weir_webhook_connections_total %llu\n",
            (unsigned long long)atomic_load(&m.connections));
    fprintf(f,
            "# HELP weir_webhook_cert_reloads_total Serving certificate loads after a change of "
            "the files.\n"
            "# TYPE weir_webhook_cert_reloads_total counter\n"
            "weir_webhook_cert_reloads_total{result=\"success\"} %llu\n"
            "weir_webhook_cert_reloads_total{result=\"failure\"} %llu\n",
            (unsigned long long)atomic_load(&m.cert_reloads[0]),
            (unsigned long long)atomic_load(&m.cert_reloads[1]));
    fprintf(f,
            "# HELP weir_webhook_cert_not_after_timestamp_seconds Expiry of the serving "
            "certificate in use.\n"
            "# TYPE weir_webhook_cert_not_after_timestamp_seconds gauge\n"
            "weir_webhook_cert_not_after_timestamp_seconds %.0f\n",
            atomic_load(&m.cert_not_after));
    fprintf(f,
            "# HELP weir_webhook_mesh_config_reloads_total Mesh config loads after a change of the "
            "file.\n"
            "# TYPE weir_webhook_mesh_config_reloads_total counter\n"
            "weir_webhook_mesh_config_reloads_total{result=\"success\"} %llu\n"
            "weir_webhook_mesh_config_reloads_total{result=\"failure\"} %llu\n",
            (unsigned long long)atomic_load(&m.mesh_reloads[0]),
            (unsigned long long)atomic_load(&m.mesh_reloads[1]));
    fprintf(f,
            "# HELP weir_webhook_build_info The running version.\n"
            "# TYPE weir_webhook_build_info gauge\n"
            "weir_webhook_build_info{version=\"%s\"} 1\n",
            WEIR_VERSION);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = size;
    return buf;
}
