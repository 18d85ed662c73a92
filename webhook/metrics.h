/*
 * Prometheus metrics of weir-webhook, served in the text exposition format on
 * /metrics. Updated lock-free from the server's worker threads.
 *
 *   weir_webhook_admission_requests_total{endpoint, result}
 *   weir_webhook_admission_duration_seconds{endpoint} (histogram)
 *   weir_webhook_connections_total (each is a TLS handshake)
 *   weir_webhook_cert_reloads_total{result}
 *   weir_webhook_cert_not_after_timestamp_seconds
 *   weir_webhook_mesh_config_reloads_total{result}
 *   weir_webhook_build_info{version}
 *
 * The duration runs from the complete request body to the encoded response,
 * the part the webhook controls; TLS and the network are the API server's
 * apiserver_admission_webhook_admission_duration_seconds.
 */
#ifndef WEIR_WEBHOOK_METRICS_H
#define WEIR_WEBHOOK_METRICS_H

#include <stdbool.h>
#include <stddef.h>

enum weir_endpoint {
    WEIR_EP_INJECT,
    WEIR_EP_VALIDATE,
    WEIR_EP_COUNT,
};

enum weir_result {
    WEIR_RESULT_INJECTED,    /* inject: a patch was returned */
    WEIR_RESULT_SKIPPED,     /* inject: allowed unchanged */
    WEIR_RESULT_REFUSED,     /* inject: the pod was refused */
    WEIR_RESULT_ALLOWED,     /* validate: valid */
    WEIR_RESULT_WARNED,      /* validate: valid, with warnings */
    WEIR_RESULT_DENIED,      /* validate: invalid */
    WEIR_RESULT_BAD_REQUEST, /* not an AdmissionReview, malformed or too large: HTTP 400/413 */
    WEIR_RESULT_ERROR,       /* the webhook failed (out of memory): HTTP 500 */
    WEIR_RESULT_COUNT,
};

const char *weir_endpoint_name(enum weir_endpoint ep);
const char *weir_result_name(enum weir_result r);

void weir_metrics_observe(enum weir_endpoint ep, enum weir_result r, double seconds);
void weir_metrics_connection_opened(void);
void weir_metrics_cert_reload(bool ok, double not_after);
void weir_metrics_mesh_config_reload(bool ok);

/* The exposition text; caller frees. NULL when out of memory. */
char *weir_metrics_render(size_t *len);

#endif
