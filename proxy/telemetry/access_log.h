/*
 * Access log: one line per finished request or TCP connection, JSON (Istio's field
 * names) or text (Istio's default format), to stdout or a file, per the snapshot's
 * proxy.accessLog.
 *
 * Each line is one write(2) on a descriptor shared by every worker, with no lock:
 * O_APPEND writes to a file and writes of at most PIPE_BUF bytes to a pipe are not
 * interleaved by the kernel. Reopening (SIGUSR1, a new path after a reload) swaps the
 * file under the same descriptor number with dup2, so a worker never writes to a
 * closed or reused descriptor.
 */
#ifndef WP_TELEMETRY_ACCESS_LOG_H
#define WP_TELEMETRY_ACCESS_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "config/proxy_config.h"

struct wp_access_entry {
    int64_t start_unix_us;
    const char *method; /* NULL for TCP */
    const char *path;
    const char *authority;
    const char *protocol; /* "HTTP/1.1", "HTTP/1.0", "TCP" */
    int response_code;    /* 0 for TCP */
    const char *response_flags;
    uint64_t bytes_received, bytes_sent;
    uint64_t duration_ms;
    int64_t upstream_service_time_ms; /* -1: none */
    const char *upstream_host;
    const char *upstream_cluster;
    const char *request_id;
    const char *downstream_remote;
    const char *downstream_local;
    const char *user_agent;
    const char *x_forwarded_for;
    const char *route_name;
    const char *details; /* response code details: "route_not_found", ... */
};

/* Main thread: opens or reopens the sink for cfg (file mode). 0 or -1 (logged). */
int wp_access_log_configure(const struct weir_proxy_config *cfg);
/* Main thread, SIGUSR1: reopens the current file. */
void wp_access_log_reopen(void);
void wp_access_log_close(void);

/* Any worker. Whether cfg logs at all: callers skip building an entry when not. */
static inline bool wp_access_log_enabled(const struct weir_proxy_config *cfg)
{
    return cfg && cfg->proxy.access_log.mode != WEIR_PC_ACCESS_LOG_OFF;
}

void wp_access_log_write(const struct weir_proxy_config *cfg, const struct wp_access_entry *e);

#endif
