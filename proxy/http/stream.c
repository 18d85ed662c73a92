#include "http/stream.h"
#include "core/timer.h"

#include <arpa/inet.h>
#include <assert.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/conn.h"
#include "core/log.h"
#include "core/worker.h"
#include "http/apply.h"
#include "http/cors.h"
#include "http/grpc.h"
#include "http/mirror.h"
#include "http1/client.h"
#include "http2/client.h"
#include "lb/balancer.h"
#include "route/router.h"
#include "telemetry/access_log.h"
#include "upstream/limits.h"
#include "upstream/outlier.h"
#include "upstream/pool.h"

/* Request body bytes held for an upstream that cannot take them yet, before the
 * client is paused. Retries may hold more (maxRetryBodyBytes); this is the bound for
 * plain streaming. */
#define WP_STREAM_HIGH_WATER     (256 * 1024)
#define WP_RETRY_BACKOFF_BASE_MS 25
#define WP_RETRY_BACKOFF_MAX_MS  250

enum wp_stream_state {
    WP_SS_ROUTING,
    WP_SS_DELAYED,
    WP_SS_CONNECTING,
    WP_SS_WAITING,
    WP_SS_PENDING, /* in the cluster's queue for a connection (maxConnections) */
    WP_SS_BACKOFF,
    WP_SS_RESPONDING,
    WP_SS_DONE,
};

static const char *state_name(enum wp_stream_state st)
{
    static const char *const names[] = {"routing", "delayed", "connecting", "waiting",
                                        "pending", "backoff", "responding", "done"};
    return names[st];
}

enum timer_kind {
    TIMER_NONE,
    TIMER_DELAY,
    TIMER_BACKOFF,
    TIMER_PER_TRY,
    TIMER_PENDING, /* a connection slot was handed over: go on from the loop */
};

struct wp_stream {
    struct wp_worker *w;
    struct wp_stream *next_free; /* in w->free_streams */
    struct wp_wsnap *ws;
    const struct weir_proxy_config *cfg;
    const struct wp_downstream_info *info;
    const struct wp_downstream_ops *down;
    void *ctx;
    enum wp_stream_state state;
    bool inbound;
    bool grpc; /* content-type application/grpc*: errors travel in grpc-status */
    bool downstream_h2;

    struct wp_request_head req; /* as it goes upstream */
    char *log_method, *log_path, *log_authority, *user_agent, *xff;
    const char *protocol;
    char request_id[64];

    /* routing */
    const struct weir_pc_service *svc;
    const struct weir_pc_port *sport;
    const struct weir_pc_http_route *route;
    int match_index;
    const struct weir_pc_destination *dest;
    const struct weir_pc_cluster *cluster;
    size_t cluster_index;
    const char *cluster_name;
    char cluster_buf[96];
    char dest_service[300];
    const char *dest_service_ns;
    bool passthrough; /* to the original destination, no cluster */

    /* request body */
    struct evbuffer *body;
    uint64_t body_base; /* body offset of the first byte held */
    bool retain;        /* every byte since the start is held: replay possible */
    bool req_complete;
    uint64_t req_bytes;
    bool req_paused;
    bool sent_continue;
    bool mirror_pending;            /* mirrors go out once the request is complete */
    struct wp_headers req_trailers; /* kept for retries like the body */

    /* upstream */
    struct wp_upstream *up;
    bool up_ready;
    uint64_t up_sent;
    unsigned retries_done;
    bool stale_retry_used;
    uint8_t *tried; /* endpoints tried, a bit each: tried_small, or allocated past it */
    uint8_t tried_small[16];
    int endpoint;
    struct wp_lb *lb;
    char upstream_host[WP_ADDR_STRLEN]; /* formatted for the access log only */
    /* The attempt's upstream: a DNS name (the snapshot's) and port, else up_addr.
     * Formatting it on every attempt was 310 instructions per request. */
    bool up_host_set;
    const char *up_host_name;
    uint16_t up_port;
    struct sockaddr_storage up_addr;
    struct wp_endpoint_stats *eps;
    bool counted_active;

    /* circuit breakers (upstream/limits.h): the slots this stream holds */
    struct wp_limit_waiter waiter;
    bool held_request, held_connection, held_retry;
    bool held_pending; /* an HTTP/2 exchange waiting for its connection */

    struct event *deadline;
    struct event *timer;
    enum timer_kind timer_kind;
    struct event *idle;

    /* response */
    int status;
    unsigned flags;
    const char *details;
    char connect_detail[320]; /* details of the last connect failure (TLS), or "" */
    const char *route_name;
    uint64_t resp_bytes;
    bool resp_head_sent;
    char *set_cookie;

    uint64_t start_us;
    uint64_t active_us; /* last touch(), for the idle timer */
    int64_t start_unix_us;
    uint64_t up_start_us;
    int64_t up_time_ms;
    bool logged;
};

static void set_state(struct wp_stream *s, enum wp_stream_state st)
{
    weir_logf(WEIR_LOG_DEBUG, "stream %p: %s -> %s", (void *)s, state_name(s->state),
              state_name(st));
    s->state = st;
}

void wp_rflags_format(unsigned flags, char *out, size_t cap)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{WP_RF_UH, "UH"},     {WP_RF_UF, "UF"},   {WP_RF_UO, "UO"},   {WP_RF_NR, "NR"},
                 {WP_RF_URX, "URX"},   {WP_RF_UT, "UT"},   {WP_RF_UC, "UC"},   {WP_RF_DC, "DC"},
                 {WP_RF_DI, "DI"},     {WP_RF_FI, "FI"},   {WP_RF_UPE, "UPE"}, {WP_RF_SI, "SI"},
                 {WP_RF_UAEX, "UAEX"}, {WP_RF_DPE, "DPE"}, {WP_RF_RL, "RL"}};
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(flags & names[i].bit))
            continue;
        size_t n = strlen(names[i].name);
        if (o + (o ? 1 : 0) + n >= cap)
            break;
        if (o)
            out[o++] = ',';
        memcpy(out + o, names[i].name, n + 1);
        o += n;
    }
    if (!o && cap > 1) {
        out[0] = '-';
        out[1] = '\0';
    }
}

/* ---- logging and metrics ---- */

static void record(struct wp_stream *s)
{
    struct wp_identity *id = &s->w->proxy->id;
    char flags[64];
    uint64_t now = wp_now_us();
    struct wp_metric_labels l = {0};
    struct wp_access_entry e = {0};

    if (s->logged)
        return;
    s->logged = true;
    wp_rflags_format(s->flags, flags, sizeof(flags));
    if (s->inbound) {
        l.reporter = "destination";
        l.source_workload = "unknown";
        l.source_workload_namespace = "unknown";
        l.destination_workload = id->workload_name;
        l.destination_workload_namespace = id->ns;
        l.connection_security_policy = "none";
    } else {
        l.reporter = "source";
        l.source_workload = id->workload_name;
        l.source_workload_namespace = id->ns;
        l.destination_workload = "unknown";
        l.destination_workload_namespace = s->dest_service_ns;
        l.connection_security_policy = "unknown";
    }
    l.destination_service = s->dest_service[0] ? s->dest_service : NULL;
    l.response_flags = flags;
    /* Istio's values: HTTP/1.1 and HTTP/2 are both "http" */
    l.request_protocol = s->grpc ? "grpc" : "http";
    l.response_code = s->status;
    wp_stats_record_http(&s->w->stats, &l, now - s->start_us, s->req_bytes, s->resp_bytes);

    if (wp_access_log_enabled(s->cfg)) {
        char remote[WP_ADDR_STRLEN], local[WP_ADDR_STRLEN];
        wp_addr_format((const struct sockaddr *)&s->info->peer, remote, sizeof(remote));
        wp_addr_format((const struct sockaddr *)&s->info->local, local, sizeof(local));
        e.start_unix_us = s->start_unix_us;
        e.method = s->log_method;
        e.path = s->log_path;
        e.authority = s->log_authority;
        e.protocol = s->protocol;
        e.response_code = s->status;
        e.response_flags = flags;
        e.bytes_received = s->req_bytes;
        e.bytes_sent = s->resp_bytes;
        e.duration_ms = (now - s->start_us) / 1000;
        e.upstream_service_time_ms = s->up_time_ms;
        e.upstream_host = NULL;
        if (s->up_host_set) {
            if (s->up_host_name)
                snprintf(s->upstream_host, sizeof(s->upstream_host), "%s:%u", s->up_host_name,
                         s->up_port);
            else
                wp_addr_format((const struct sockaddr *)&s->up_addr, s->upstream_host,
                               sizeof(s->upstream_host));
            e.upstream_host = s->upstream_host;
        }
        e.upstream_cluster = s->cluster_name;
        e.request_id = s->request_id[0] ? s->request_id : NULL;
        e.downstream_remote = remote;
        e.downstream_local = local;
        e.user_agent = s->user_agent;
        e.x_forwarded_for = s->xff;
        e.route_name = s->route_name;
        e.details = s->details;
        wp_access_log_write(s->cfg, &e);
    }
    WP_DEC(&s->w->stats, WP_C_DOWNSTREAM_RQ_ACTIVE);
}

static void stop_timers(struct wp_stream *s)
{
    if (s->deadline)
        event_del(s->deadline);
    if (s->timer)
        event_del(s->timer);
    if (s->idle)
        event_del(s->idle);
    s->timer_kind = TIMER_NONE;
}

/* The idle timer is armed once and, when it fires before the stream has been
 * idle long enough, again for what is left: re-arming it on every read and write
 * was 900 instructions per request under callgrind. */
static void touch(struct wp_stream *s)
{
    int64_t ms = s->cfg ? s->cfg->proxy.limits.stream_idle_timeout_ms : 0;
    if (ms > 0 && s->idle && s->state != WP_SS_DONE) {
        s->active_us = wp_now_us();
        if (!event_pending(s->idle, EV_TIMEOUT, NULL))
            wp_timer_arm_ms(s->idle, ms);
    }
}

/* ---- circuit breakers and outlier detection ---- */

/* The per-worker state of the stream's cluster; NULL for inbound and passthrough. */
static struct wp_cluster_state *cstate(struct wp_stream *s)
{
    if (!s->cluster || !s->ws || s->inbound || s->passthrough)
        return NULL;
    return &s->ws->clusters[s->cluster_index];
}

static struct wp_cluster_stats *cluster_stats(struct wp_stream *s, struct wp_cluster_state *cs)
{
    if (!cs->cstats)
        cs->cstats = wp_stats_cluster(&s->w->stats, s->cluster->name);
    return cs->cstats;
}

static void limits_connection_end(struct wp_stream *s)
{
    struct wp_cluster_state *cs = cstate(s);
    if (cs && s->held_connection) {
        s->held_connection = false;
        wp_limits_connection_end(&cs->limits);
    }
}

static void limits_pending_end(struct wp_stream *s)
{
    struct wp_cluster_state *cs = cstate(s);
    if (cs && s->held_pending) {
        s->held_pending = false;
        wp_limits_pending_end(&cs->limits);
    }
}

/* Everything the stream still holds, once it is done. */
static void limits_release(struct wp_stream *s)
{
    struct wp_cluster_state *cs = cstate(s);
    if (!cs)
        return;
    wp_limits_cancel(&cs->limits, &s->waiter);
    limits_connection_end(s);
    limits_pending_end(s);
    if (s->held_request) {
        s->held_request = false;
        wp_limits_request_end(&cs->limits);
    }
    if (s->held_retry) {
        s->held_retry = false;
        wp_limits_retry_end(&cs->limits);
    }
}

/* One outcome of the current endpoint: an HTTP status or WP_OUTLIER_LOCAL_FAILURE. */
static void outlier_report(struct wp_stream *s, int status)
{
    struct wp_cluster_state *cs = cstate(s);
    if (!cs || !s->cluster->outlier_detection || s->endpoint < 0 || !s->lb)
        return;
    if (!cs->outlier) {
        struct wp_cluster_stats *st = cluster_stats(s, cs);
        cs->outlier =
            wp_outlier_new(s->w->base, s->cluster, s->lb, st ? &st->outlier_ejections : NULL);
        if (!cs->outlier)
            return;
    }
    wp_outlier_report(cs->outlier, s->endpoint, status, wp_now_us());
}

static void lb_end(struct wp_stream *s)
{
    limits_connection_end(s);
    limits_pending_end(s);
    if (s->lb && s->endpoint >= 0 && s->counted_active) {
        wp_lb_request_end(s->lb, s->endpoint);
        s->counted_active = false;
    }
}

static void drop_upstream(struct wp_stream *s)
{
    struct wp_upstream *u = s->up;
    s->up = NULL;
    s->up_ready = false;
    if (u)
        u->ops->abort(u);
    lb_end(s);
}

static void done(struct wp_stream *s)
{
    set_state(s, WP_SS_DONE);
    stop_timers(s);
    limits_release(s);
    record(s);
}

/* ---- local replies ---- */

static void add_flags_header(struct wp_stream *s, struct wp_headers *h)
{
    char flags[64];
    if (!s->flags)
        return;
    wp_rflags_format(s->flags, flags, sizeof(flags));
    wp_headers_set(h, "x-weir-response-flags", flags, strlen(flags));
}

/* Answers without (or instead of) an upstream. `ops` are the route's response
 * header operations when a route action produced the reply. */
static void local_reply_ex(struct wp_stream *s, int status, const char *body, size_t body_len,
                           const char *location, const char *content_type, bool route_ops)
{
    struct wp_response_head resp;

    drop_upstream(s);
    if (s->resp_head_sent) {
        /* the client already has a head: only a reset can tell it something broke */
        done(s);
        s->down->reset(s->ctx);
        return;
    }
    wp_response_head_init(&resp);
    resp.status = status;
    resp.version_major = 1;
    resp.version_minor = 1;
    resp.content_length = (int64_t)body_len;
    resp.keep_alive = true;
    resp.no_body = strcmp(s->req.method ? s->req.method : "", "HEAD") == 0;
    if (location)
        wp_headers_add_str(&resp.headers, "location", location);
    if (body_len && content_type)
        wp_headers_add_str(&resp.headers, "content-type", content_type);
    if (route_ops && s->route) {
        wp_apply_header_ops(&resp.headers, &s->route->headers.response);
    }
    if (s->route)
        wp_cors_response_headers(s->route->cors, s->req.method, &s->req.headers, &resp.headers);
    add_flags_header(s, &resp.headers);
    s->status = status;
    s->resp_head_sent = true;
    if (status >= 500)
        WP_INC(&s->w->stats, WP_C_DOWNSTREAM_RQ_5XX_LOCAL);
    else if (status >= 400)
        WP_INC(&s->w->stats, WP_C_DOWNSTREAM_RQ_4XX_LOCAL);
    if (body_len && !resp.no_body)
        s->resp_bytes += body_len;
    done(s);
    s->down->send_head(s->ctx, &resp, body_len == 0 || resp.no_body);
    if (body_len && !resp.no_body)
        s->down->send_data(s->ctx, body, body_len);
    s->down->send_end(s->ctx);
    wp_response_head_free(&resp);
}

/* Envoy's mapping of a proxy-made HTTP status to a gRPC status. */
static int grpc_status_for(int status)
{
    switch (status) {
    case 400:
        return 13; /* INTERNAL */
    case 401:
        return 16; /* UNAUTHENTICATED */
    case 403:
        return 7; /* PERMISSION_DENIED */
    case 404:
        return 12; /* UNIMPLEMENTED */
    case 429:
    case 502:
    case 503:
    case 504:
        return 14; /* UNAVAILABLE */
    default:
        return 2; /* UNKNOWN */
    }
}

/* A gRPC client reads the outcome from grpc-status, never from :status: a
 * trailers-only answer (one HEADERS frame that ends the stream). */
static void grpc_reply(struct wp_stream *s, int grpc_status, const char *message)
{
    struct wp_response_head resp;
    char code[16];

    drop_upstream(s);
    if (s->resp_head_sent) {
        done(s);
        s->down->reset(s->ctx);
        return;
    }
    wp_response_head_init(&resp);
    resp.status = 200;
    resp.version_major = 1;
    resp.version_minor = 1;
    resp.content_length = 0;
    resp.keep_alive = true;
    snprintf(code, sizeof(code), "%d", grpc_status);
    wp_headers_add_str(&resp.headers, "content-type", "application/grpc");
    wp_headers_add_str(&resp.headers, "grpc-status", code);
    if (message)
        wp_headers_add_str(&resp.headers, "grpc-message", message);
    add_flags_header(s, &resp.headers);
    s->status = 200;
    s->resp_head_sent = true;
    done(s);
    s->down->send_head(s->ctx, &resp, true);
    s->down->send_end(s->ctx);
    wp_response_head_free(&resp);
}

static void local_reply(struct wp_stream *s, int status, unsigned flags, const char *details,
                        const char *body)
{
    s->flags |= flags;
    s->details = details;
    if (s->grpc) {
        grpc_reply(s, (flags & WP_RF_UT) ? 4 /* DEADLINE_EXCEEDED */ : grpc_status_for(status),
                   details);
        return;
    }
    local_reply_ex(s, status, body, body ? strlen(body) : 0, NULL, "text/plain", false);
}

/* ---- retries ---- */

static bool retry_on_status(const struct weir_pc_retries *r, int status)
{
    if ((r->retry_on & WEIR_PC_RETRY_5XX) && status >= 500)
        return true;
    if ((r->retry_on & WEIR_PC_RETRY_GATEWAY_ERROR) &&
        (status == 502 || status == 503 || status == 504))
        return true;
    if ((r->retry_on & WEIR_PC_RETRY_RETRIABLE_4XX) && status == 409)
        return true;
    if (r->retry_on & WEIR_PC_RETRY_RETRIABLE_STATUS_CODES) {
        for (size_t i = 0; i < r->retriable_status_codes.len; i++) {
            if (r->retriable_status_codes.items[i] == status)
                return true;
        }
    }
    return false;
}

enum retry_reason {
    RR_CONNECT,
    RR_RESET,
    RR_PER_TRY_TIMEOUT,
};

static bool retry_on_reason(const struct weir_pc_retries *r, enum retry_reason why)
{
    switch (why) {
    case RR_CONNECT:
        return r->retry_on & (WEIR_PC_RETRY_CONNECT_FAILURE | WEIR_PC_RETRY_5XX |
                              WEIR_PC_RETRY_GATEWAY_ERROR | WEIR_PC_RETRY_RESET);
    case RR_RESET:
        return r->retry_on & (WEIR_PC_RETRY_RESET | WEIR_PC_RETRY_5XX);
    case RR_PER_TRY_TIMEOUT:
        return r->retry_on &
               (WEIR_PC_RETRY_5XX | WEIR_PC_RETRY_GATEWAY_ERROR | WEIR_PC_RETRY_RESET);
    }
    return false;
}

/* -1: the condition is not retriable; 0: retriable but no retry left (URX); 1: retry. */
static int retry_verdict(struct wp_stream *s, bool condition)
{
    const struct weir_pc_retries *r = s->route ? s->route->retries : NULL;
    if (!r || !condition || s->inbound)
        return -1;
    if (s->retries_done >= r->attempts || !s->retain || s->resp_head_sent || s->req.upgrade)
        return 0;
    if (!s->held_retry && cstate(s)) {
        /* connectionPool.http.maxRetries: no retry, and Envoy's UO on the answer */
        struct wp_cluster_state *cs = cstate(s);
        if (!wp_limits_retry_begin(&cs->limits)) {
            struct wp_cluster_stats *st = cluster_stats(s, cs);
            WP_INC(&s->w->stats, WP_C_UPSTREAM_RQ_RETRY_OVERFLOW);
            if (st)
                wp_stat_add(&st->overflow, 1);
            s->flags |= WP_RF_UO;
            return -1;
        }
        s->held_retry = true;
    }
    return 1;
}

static void start_attempt(struct wp_stream *s);

static void schedule_retry(struct wp_stream *s)
{
    uint64_t ceiling = (uint64_t)WP_RETRY_BACKOFF_BASE_MS * ((1ull << (s->retries_done + 1)) - 1);
    if (ceiling > WP_RETRY_BACKOFF_MAX_MS)
        ceiling = WP_RETRY_BACKOFF_MAX_MS;
    s->retries_done++;
    WP_INC(&s->w->stats, WP_C_UPSTREAM_RQ_RETRY);
    set_state(s, WP_SS_BACKOFF);
    s->timer_kind = TIMER_BACKOFF;
    /* jittered, so that clients failing together do not retry together */
    wp_timer_arm_ms(s->timer, (int64_t)(1 + wp_rand_below(&s->w->rng, ceiling)));
}

/* ---- the request towards the upstream ---- */

static size_t held_unsent(const struct wp_stream *s)
{
    uint64_t held_end = s->body_base + evbuffer_get_length(s->body);
    return s->up_sent >= held_end ? 0 : (size_t)(held_end - s->up_sent);
}

static void update_request_pause(struct wp_stream *s)
{
    size_t pending = held_unsent(s);
    size_t limit = WP_STREAM_HIGH_WATER;
    bool pause;
    if (s->up && s->up_ready)
        pending += s->up->ops->write_buffered(s->up);
    if (s->retain && s->cfg && (size_t)s->cfg->proxy.limits.max_retry_body_bytes > limit)
        limit = (size_t)s->cfg->proxy.limits.max_retry_body_bytes;
    pause = pending > limit && !s->req_complete;
    if (pause != s->req_paused && s->state != WP_SS_DONE) {
        s->req_paused = pause;
        s->down->pause_request(s->ctx, pause);
    }
}

/* The end of the request towards the current upstream, trailers first. */
static void send_request_end(struct wp_stream *s)
{
    if (s->req_trailers.len && s->up->ops->send_trailers)
        s->up->ops->send_trailers(s->up, &s->req_trailers);
    s->up->ops->send_end(s->up);
}

/* Sends held body bytes the current upstream has not seen, then the end if known. */
static void flush_body(struct wp_stream *s)
{
    struct evbuffer_ptr pos;
    struct evbuffer_iovec vec[16];
    size_t offset;
    int n;

    if (!s->up || !s->up_ready)
        return;
    while (held_unsent(s) > 0) {
        offset = (size_t)(s->up_sent - s->body_base);
        if (evbuffer_ptr_set(s->body, &pos, offset, EVBUFFER_PTR_SET) < 0)
            break;
        n = evbuffer_peek(s->body, (ev_ssize_t)held_unsent(s), &pos, vec, 16);
        for (int i = 0; i < n && i < 16 && s->up; i++) {
            size_t len = vec[i].iov_len;
            if (len > held_unsent(s))
                len = held_unsent(s);
            s->up_sent += len;
            s->up->ops->send_data(s->up, vec[i].iov_base, len);
        }
        if (!s->up)
            return;
    }
    if (!s->retain) {
        /* nothing will be replayed: what the upstream has seen can go */
        size_t sent = (size_t)(s->up_sent - s->body_base);
        evbuffer_drain(s->body, sent);
        s->body_base = s->up_sent;
    }
    if (s->req_complete && s->up)
        send_request_end(s);
}

/* The key a consistent-hash cluster balances on; NULL when the request has none. */
static const char *hash_key(struct wp_stream *s, char *buf, size_t cap, size_t *len)
{
    const struct weir_pc_load_balancer *lb = &s->cluster->load_balancer;
    const struct wp_header *h;
    ssize_t n;

    switch (lb->hash_on) {
    case WEIR_PC_HASH_HEADER:
        h = wp_headers_get(&s->req.headers, lb->hash_key, strlen(lb->hash_key));
        if (!h)
            return NULL;
        *len = h->value_len;
        return h->value;
    case WEIR_PC_HASH_SOURCE_IP:
        *len = strlen(s->info->peer_ip);
        return s->info->peer_ip;
    case WEIR_PC_HASH_QUERY_PARAMETER:
        n = wp_query_param(s->req.path, lb->hash_key, buf, cap);
        if (n < 0)
            return NULL;
        *len = (size_t)n;
        return buf;
    case WEIR_PC_HASH_COOKIE: {
        size_t nlen = strlen(lb->hash_key);
        h = NULL;
        while ((h = wp_headers_next(&s->req.headers, "cookie", 6, h))) {
            const char *p = h->value, *end = h->value + h->value_len;
            while (p < end) {
                const char *semi = memchr(p, ';', (size_t)(end - p));
                const char *item_end = semi ? semi : end;
                while (p < item_end && *p == ' ')
                    p++;
                if ((size_t)(item_end - p) > nlen && memcmp(p, lb->hash_key, nlen) == 0 &&
                    p[nlen] == '=') {
                    *len = (size_t)(item_end - p - nlen - 1);
                    return p + nlen + 1;
                }
                p = semi ? semi + 1 : end;
            }
        }
        if (lb->cookie_ttl_ms > 0 && cap >= 33) {
            /* Envoy's behaviour: mint the cookie so the client sticks from now on */
            uint64_t a = wp_rand_next(&s->w->rng), b = wp_rand_next(&s->w->rng);
            char cookie[512];
            snprintf(buf, cap, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
            snprintf(cookie, sizeof(cookie), "%s=%s; Max-Age=%lld%s%s; HttpOnly", lb->hash_key, buf,
                     (long long)(lb->cookie_ttl_ms / 1000), lb->cookie_path ? "; Path=" : "",
                     lb->cookie_path ? lb->cookie_path : "");
            free(s->set_cookie);
            s->set_cookie = strdup(cookie);
            *len = 32;
            return buf;
        }
        return NULL;
    }
    }
    return NULL;
}

static void per_try_timeout(struct wp_stream *s);
static const struct wp_up_sink stream_sink;

/* HTTP/2 upstream: a cluster declared http2 or grpc, or http with
 * h2UpgradePolicy upgrade (HTTP/1.1 requests then go out multiplexed, prior
 * knowledge, as Envoy's upgrade does; an Upgrade/WebSocket request never does);
 * inbound, the application's port declared so; and, as Istio's passthrough and
 * inbound clusters do, whatever the client spoke when nothing is declared. */
static bool upstream_is_h2(const struct wp_stream *s)
{
    enum weir_pc_protocol p = WEIR_PC_PROTO_HTTP;
    if (s->req.upgrade)
        return false;
    if (s->inbound) {
        const struct wp_inbound_port *ip = wp_snapshot_inbound_port(s->ws->snap, s->info->dst_port);
        if (ip)
            p = ip->protocol;
        else
            return s->downstream_h2;
    } else if (s->passthrough) {
        return s->downstream_h2;
    } else if (s->cluster) {
        return wp_cluster_speaks_h2(s->cluster);
    }
    return p == WEIR_PC_PROTO_HTTP2 || p == WEIR_PC_PROTO_GRPC;
}

static void limits_wake(struct wp_limit_waiter *wt)
{
    struct wp_stream *s = wp_container_of(wt, struct wp_stream, waiter);
    s->held_connection = true;
    s->timer_kind = TIMER_PENDING;
    wp_timer_arm_ms(s->timer, 0);
}

static void overflow(struct wp_stream *s, struct wp_cluster_state *cs, const char *details)
{
    struct wp_cluster_stats *st = cluster_stats(s, cs);
    if (st)
        wp_stat_add(&st->overflow, 1);
    local_reply(s, 503, WP_RF_UO, details, "weir: upstream overflow (circuit breaker)\n");
}

/* The cluster's circuit breakers, before an endpoint is picked. true: go on;
 * false: the stream waits in the pending queue or was answered 503 UO. */
static bool limits_admit(struct wp_stream *s)
{
    struct wp_cluster_state *cs = cstate(s);
    if (!cs)
        return true;
    if (!s->held_request) {
        if (!wp_limits_request_begin(&cs->limits)) {
            overflow(s, cs, "upstream_max_requests_overflow");
            return false;
        }
        s->held_request = true;
    }
    /* maxConnections bounds HTTP/1.1 connections; an HTTP/2 upstream multiplexes
     * every exchange on one connection per endpoint */
    if (s->held_connection || upstream_is_h2(s))
        return true;
    s->waiter.wake = limits_wake;
    switch (wp_limits_connection_begin(&cs->limits, &s->waiter)) {
    case WP_LIMIT_GRANTED:
        s->held_connection = true;
        return true;
    case WP_LIMIT_QUEUED:
        set_state(s, WP_SS_PENDING);
        return false;
    case WP_LIMIT_OVERFLOW:
        break;
    }
    overflow(s, cs, "upstream_pending_overflow");
    return false;
}

/* An HTTP/2 exchange whose connection is not ready yet counts as pending
 * (http1MaxPendingRequests); one exchange on a ready connection never waits. true:
 * go on; false: answered 503 UO. */
static bool limits_h2_pending(struct wp_stream *s)
{
    struct wp_cluster_state *cs = cstate(s);
    if (!cs || s->held_pending || !upstream_is_h2(s) || !wp_h2_client_waiting(s->up))
        return true;
    if (wp_limits_pending_begin(&cs->limits)) {
        s->held_pending = true;
        return true;
    }
    drop_upstream(s);
    overflow(s, cs, "upstream_pending_overflow");
    return false;
}

static void start_attempt(struct wp_stream *s)
{
    struct wp_up_target t;
    struct sockaddr_storage src;
    const struct weir_proxy_config *cfg = s->cfg;
    size_t max_hdr = (size_t)cfg->proxy.limits.max_header_bytes;
    size_t max_n = (size_t)cfg->proxy.limits.max_headers;

    memset(&t, 0, sizeof(t));
    t.poolable = !s->req.upgrade;
    t.connect_timeout_ms = 10000;
    t.idle_timeout_ms = 3600000;
    s->endpoint = -1;
    s->up_host_set = false;

    if (s->inbound) {
        /* the application, on loopback, from the passthrough source */
        wp_up_target_inbound(&t, s->info->dst_port, &cfg->proxy.inbound_passthrough_source,
                             s->w->proxy->opt.passthrough_bind ? &src : NULL);
        t.cluster = s->cluster_name;
        if (wp_addr_equal((struct sockaddr *)&t.addr, (const struct sockaddr *)&s->info->local)) {
            local_reply(s, 503, WP_RF_UF, "inbound_loop",
                        "weir: the inbound destination is this proxy's own listener\n");
            return;
        }
    } else if (s->passthrough) {
        if (s->info->dst_is_listener || s->info->dst_from_local) {
            local_reply(s, 404, WP_RF_NR, "route_not_found", "weir: no route\n");
            return;
        }
        t.addr = s->info->dst;
        t.addr_len = wp_addr_len((const struct sockaddr *)&t.addr);
        t.cluster = s->cluster_name;
    } else {
        const struct weir_pc_cluster *c = s->cluster;
        wp_up_target_cluster(&t, c);
        t.tls = s->ws->snap->tls ? s->ws->snap->tls[s->cluster_index] : NULL;
        if (c->load_balancer.policy == WEIR_PC_LB_PASSTHROUGH) {
            if (s->info->dst_from_local || s->info->dst_is_listener) {
                local_reply(s, 503, WP_RF_UH, "no_healthy_upstream",
                            "weir: no original destination to pass through to\n");
                return;
            }
            t.addr = s->info->dst;
            t.addr_len = wp_addr_len((const struct sockaddr *)&t.addr);
        } else {
            struct wp_lb_context ctx = {0};
            char keybuf[256];
            size_t keylen = 0;
            const char *key = NULL;
            int ep;
            if (c->n_endpoints == 0) {
                local_reply(s, 503, WP_RF_UH, "no_healthy_upstream", "weir: no healthy upstream\n");
                return;
            }
            if (!limits_admit(s))
                return;
            s->lb = wp_wsnap_lb(s->ws, s->cluster_index);
            if (!s->lb) {
                local_reply(s, 503, WP_RF_UH, "no_healthy_upstream", "weir: no healthy upstream\n");
                return;
            }
            if (c->load_balancer.policy == WEIR_PC_LB_CONSISTENT_HASH)
                key = hash_key(s, keybuf, sizeof(keybuf), &keylen);
            ctx.hash_key = key;
            ctx.hash_key_len = keylen;
            ctx.tried = s->tried;
            ep = wp_lb_pick(s->lb, &ctx);
            if (ep < 0 && s->tried) {
                /* every endpoint was tried once: any of them is better than none */
                ctx.tried = NULL;
                ep = wp_lb_pick(s->lb, &ctx);
            }
            if (ep < 0 || (size_t)ep >= c->n_endpoints) {
                local_reply(s, 503, WP_RF_UH, "no_healthy_upstream", "weir: no healthy upstream\n");
                return;
            }
            s->endpoint = ep;
            /* a calloc per request was 260 instructions under callgrind */
            if (!s->tried)
                s->tried = (c->n_endpoints + 7) / 8 <= sizeof(s->tried_small)
                               ? s->tried_small
                               : calloc((c->n_endpoints + 7) / 8, 1);
            if (s->tried)
                s->tried[ep / 8] |= (uint8_t)(1u << (ep % 8));
            wp_up_target_endpoint(&t, &c->endpoints[ep]);
            wp_lb_request_start(s->lb, ep);
            s->counted_active = true;
        }
    }
    s->up_host_set = true;
    s->up_host_name = t.host;
    s->up_port = t.port;
    if (!t.host)
        s->up_addr = t.addr;

    s->up_sent = s->body_base; /* a new attempt starts from the held bytes */
    if (s->body_base != 0) {
        /* bytes already discarded cannot be replayed; the caller never gets here then */
        local_reply(s, 503, WP_RF_URX, "retry_body_lost", "weir: request body not replayable\n");
        return;
    }
    set_state(s, WP_SS_CONNECTING);
    WP_INC(&s->w->stats, WP_C_UPSTREAM_RQ_TOTAL);
    if (upstream_is_h2(s))
        s->up = wp_h2_client_start(s->w, &stream_sink, s, &t, &s->req, max_hdr, max_n);
    else
        s->up = wp_h1_client_start(s->w, &stream_sink, s, &t, &s->req, max_hdr, max_n);
    if (!s->up) {
        lb_end(s);
        local_reply(s, 503, WP_RF_UF, "upstream_connect_failure", "weir: upstream connect error\n");
        return;
    }
    if (!limits_h2_pending(s))
        return;
    s->eps = s->up->ops->endpoint_stats(s->up);
    if (s->eps)
        wp_stat_add(&s->eps->rq_total, 1);
    if (s->route && s->route->retries && s->route->retries->per_try_timeout_ms > 0) {
        s->timer_kind = TIMER_PER_TRY;
        wp_timer_arm_ms(s->timer, s->route->retries->per_try_timeout_ms);
    }
}

/* ---- timers ---- */

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct wp_stream *s = arg;
    if (s->state == WP_SS_DONE || s->state == WP_SS_RESPONDING)
        return;
    if (s->up)
        outlier_report(s, 504);
    WP_INC(&s->w->stats, WP_C_UPSTREAM_RQ_TIMEOUT);
    if (s->eps)
        wp_stat_add(&s->eps->rq_timeout, 1);
    local_reply(s, 504, WP_RF_UT, "upstream_response_timeout", "weir: upstream request timeout\n");
}

static void proceed_after_delay(struct wp_stream *s);

static void per_try_timeout(struct wp_stream *s)
{
    int v;
    WP_INC(&s->w->stats, WP_C_UPSTREAM_RQ_PER_TRY_TIMEOUT);
    outlier_report(s, 504);
    if (s->eps)
        wp_stat_add(&s->eps->rq_timeout, 1);
    drop_upstream(s);
    v = retry_verdict(s, s->route && s->route->retries &&
                             retry_on_reason(s->route->retries, RR_PER_TRY_TIMEOUT));
    if (v > 0) {
        schedule_retry(s);
        return;
    }
    local_reply(s, 504, WP_RF_UT | (v == 0 ? WP_RF_URX : 0), "upstream_per_try_timeout",
                "weir: upstream request timeout\n");
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct wp_stream *s = arg;
    enum timer_kind k = s->timer_kind;
    s->timer_kind = TIMER_NONE;
    switch (k) {
    case TIMER_DELAY:
        if (s->state == WP_SS_DELAYED)
            proceed_after_delay(s);
        break;
    case TIMER_BACKOFF:
        if (s->state == WP_SS_BACKOFF)
            start_attempt(s);
        break;
    case TIMER_PER_TRY:
        if (s->state == WP_SS_CONNECTING || s->state == WP_SS_WAITING)
            per_try_timeout(s);
        break;
    case TIMER_PENDING:
        if (s->state == WP_SS_PENDING)
            start_attempt(s);
        break;
    case TIMER_NONE:
        break;
    }
}

static void idle_cb(evutil_socket_t fd, short what, void *arg)
{
    struct wp_stream *s = arg;
    uint64_t idle_us = wp_now_us() - s->active_us;
    uint64_t limit_us = (uint64_t)s->cfg->proxy.limits.stream_idle_timeout_ms * 1000u;
    if (s->state == WP_SS_DONE)
        return;
    if (idle_us < limit_us) {
        wp_timer_arm_ms(s->idle, (int64_t)((limit_us - idle_us + 999) / 1000));
        return;
    }
    if (s->resp_head_sent) {
        s->flags |= WP_RF_SI;
        drop_upstream(s);
        done(s);
        s->down->reset(s->ctx);
        return;
    }
    local_reply(s, 504, WP_RF_SI, "stream_idle_timeout", "weir: stream timeout\n");
}

/* ---- route application ---- */

/* The client's gRPC deadline in ms, read before the route's header operations
 * (as Envoy's router does), or -1: no grpc-timeout, a malformed one or several,
 * all ignored (and forwarded as they came). */
static int64_t grpc_client_deadline(const struct wp_stream *s)
{
    const struct wp_header *h;
    if (!s->grpc) /* no header lookup for the requests that are not gRPC */
        return -1;
    h = wp_headers_get(&s->req.headers, "grpc-timeout", 12);
    if (!h || wp_headers_count(&s->req.headers, "grpc-timeout", 12) != 1)
        return -1;
    return wp_grpc_timeout_parse(h->value, h->value_len);
}

/* The deadline of the request: the route's timeout, or for gRPC the client's
 * grpc-timeout capped by it (Istio sets Envoy's max_grpc_timeout to the route
 * timeout; none leaves the header uncapped). When the route shortens the client's
 * deadline, the upstream is told the shorter one (unless a header operation
 * removed the field), so the server does not work on past the proxy's answer. */
static int64_t request_deadline(struct wp_stream *s, int64_t route_ms, int64_t grpc_ms)
{
    char value[16];
    size_t n;

    if (grpc_ms < 0)
        return route_ms;
    if (route_ms > 0 && route_ms < grpc_ms) {
        if (wp_headers_get(&s->req.headers, "grpc-timeout", 12)) {
            n = wp_grpc_timeout_format(route_ms, value, sizeof(value));
            wp_headers_set(&s->req.headers, "grpc-timeout", value, n);
        }
        return route_ms;
    }
    return grpc_ms;
}

static void forward(struct wp_stream *s)
{
    const struct weir_pc_http_route *r = s->route;
    int64_t grpc_ms = grpc_client_deadline(s), timeout;

    if (r) {
        int pick = wp_route_pick_destination(r->route, r->n_route,
                                             (uint32_t)wp_rand_below(&s->w->rng, 100));
        if (pick < 0) {
            local_reply(s, 503, WP_RF_UH, "no_healthy_upstream", "weir: no healthy upstream\n");
            return;
        }
        s->dest = &r->route[pick];
        s->cluster = s->dest->cluster;
        s->cluster_index = s->dest->cluster_index;
        s->cluster_name = s->cluster->name;
    }

    /* headers towards the upstream: hop-by-hop out first, then the route's own */
    wp_strip_hop_by_hop(&s->req.headers, s->req.upgrade);
    wp_headers_remove(&s->req.headers, "expect", 6);
    if (r) {
        wp_apply_header_ops(&s->req.headers, &r->headers.request);
        wp_apply_header_ops(&s->req.headers, &s->dest->headers.request);
        if (r->rewrite) {
            if (wp_rewrite_path(r, s->match_index, &s->req.path) < 0) {
                local_reply(s, 500, 0, "rewrite_failed", "weir: path rewrite failed\n");
                return;
            }
            if (r->rewrite->authority)
                wp_str_replace(&s->req.authority, r->rewrite->authority,
                               strlen(r->rewrite->authority));
        }
    }
    wp_header_append_list(&s->req.headers, "x-forwarded-for", s->info->peer_ip);
    if (!wp_headers_get(&s->req.headers, "x-forwarded-proto", 17))
        wp_headers_add_str(&s->req.headers, "x-forwarded-proto",
                           s->req.scheme ? s->req.scheme : "http");
    wp_header_append_list(&s->req.headers, "via", "1.1 weir");
    s->req.keep_alive = true;
    s->req.version_major = 1;
    s->req.version_minor = 1;

    if (s->req.expect_continue && !s->sent_continue && !s->req_complete) {
        /* the body is coming to us, not to the upstream: we hold it for retries */
        s->sent_continue = true;
        s->down->send_continue(s->ctx);
    }
    timeout = request_deadline(s, r ? r->timeout_ms : 0, grpc_ms);
    if (timeout > 0) {
        /* made on first use: most requests have no deadline, and a timer made and
         * freed per request was 560 instructions under callgrind */
        if (!s->deadline && !(s->deadline = evtimer_new(s->w->base, deadline_cb, s))) {
            local_reply(s, 503, 0, "out_of_memory", "weir: out of memory\n");
            return;
        }
        wp_timer_arm_ms(s->deadline, timeout);
    }
    if (r && r->n_mirrors && !s->req.upgrade) {
        if (s->req_complete)
            wp_mirror_start(s->w, s->ws, r, &s->req, s->body);
        else
            s->mirror_pending = true;
    }
    start_attempt(s);
}

static void do_action(struct wp_stream *s)
{
    const struct weir_pc_http_route *r = s->route;
    if (!r) {
        forward(s);
        return;
    }
    switch (r->action) {
    case WEIR_PC_ACTION_REDIRECT: {
        char *loc = wp_redirect_location(r->redirect, s->req.scheme, s->req.authority, s->req.path,
                                         s->sport ? s->sport->number : s->info->dst_port);
        s->details = "redirect";
        local_reply_ex(s, r->redirect->code, NULL, 0, loc, NULL, true);
        free(loc);
        return;
    }
    case WEIR_PC_ACTION_DIRECT_RESPONSE:
        s->details = "direct_response";
        local_reply_ex(s, r->direct_response->status, r->direct_response->body,
                       r->direct_response->body ? r->direct_response->body_len : 0, NULL, NULL,
                       true);
        return;
    case WEIR_PC_ACTION_ROUTE:
        forward(s);
        return;
    }
}

/* ---- rate limits ---- */

/* Takes a token from every rate limit of the request's direction that matches it
 * (ratelimit/limiter.h). After CORS and faults, before the route's action, as
 * Envoy's local rate limit filter sits just before the router. port: the
 * container port (inbound) or the service port (outbound). True when a limit had
 * no token: the request is answered with the limit's status, flag RL, and the
 * reason Envoy gives (gRPC: trailers-only, grpc-status from the status, 14 for
 * 429 and 503). */
static bool rate_limited(struct wp_stream *s, uint16_t port)
{
    const struct wp_rl_set *set = s->ws->snap->rl;
    const struct wp_rl_entry *e;
    char body[320];

    if (!set)
        return false;
    {
        struct wp_rl_request rq = {
            .port = port,
            .route = s->route ? s->route->name : NULL,
            .method = s->req.method,
            .path = s->req.path,
            .headers = &s->req.headers,
            .source_ip = s->info->peer_ip,
            .source_principal = "", /* no peer certificate until mesh mTLS */
        };
        e = wp_rl_check(set, s->inbound ? WEIR_PC_INBOUND : WEIR_PC_OUTBOUND, false, &rq,
                        wp_now_us() / 1000);
    }
    if (!e)
        return false;
    weir_log(WEIR_LOG_DEBUG, "request rate limited", "limit", e->cfg->name, NULL);
    snprintf(body, sizeof(body), "weir: rate limited by %.250s\n", e->cfg->name);
    local_reply(s, e->cfg->status_code, WP_RF_RL, "local_rate_limited", body);
    return true;
}

static void proceed_after_delay(struct wp_stream *s)
{
    const struct weir_pc_fault *f = s->route ? s->route->fault : NULL;
    if (f && f->abort && wp_rand_below(&s->w->rng, WEIR_PC_PPM_MAX) < f->abort_ppm) {
        WP_INC(&s->w->stats, WP_C_FAULT_ABORTS);
        s->flags |= WP_RF_FI;
        s->details = "fault_filter_abort";
        if (f->abort_http_status) {
            local_reply_ex(s, f->abort_http_status, "fault filter abort", 18, NULL, "text/plain",
                           false);
        } else {
            /* gRPC clients read the status from the grpc-status header of a 200 */
            struct wp_response_head resp;
            char code[16];
            wp_response_head_init(&resp);
            resp.status = 200;
            resp.content_length = 0;
            resp.keep_alive = true;
            snprintf(code, sizeof(code), "%d", f->abort_grpc_status);
            wp_headers_add_str(&resp.headers, "content-type", "application/grpc");
            wp_headers_add_str(&resp.headers, "grpc-status", code);
            wp_headers_add_str(&resp.headers, "grpc-message", "fault filter abort");
            add_flags_header(s, &resp.headers);
            s->status = 200;
            s->resp_head_sent = true;
            done(s);
            s->down->send_head(s->ctx, &resp, true);
            s->down->send_end(s->ctx);
            wp_response_head_free(&resp);
        }
        return;
    }
    set_state(s, WP_SS_ROUTING);
    if (rate_limited(s, s->sport ? s->sport->number : s->info->dst_port))
        return;
    do_action(s);
}

static void apply_fault(struct wp_stream *s)
{
    const struct weir_pc_fault *f = s->route ? s->route->fault : NULL;
    /* CORS comes before faults, as in Istio's filter chain */
    if (s->route && wp_cors_answers_preflight(s->route->cors, s->req.method, &s->req.headers)) {
        s->details = "cors_preflight";
        local_reply_ex(s, WP_CORS_PREFLIGHT_STATUS, NULL, 0, NULL, NULL, false);
        return;
    }
    if (f && f->delay && wp_rand_below(&s->w->rng, WEIR_PC_PPM_MAX) < f->delay_ppm) {
        WP_INC(&s->w->stats, WP_C_FAULT_DELAYS);
        s->flags |= WP_RF_DI;
        set_state(s, WP_SS_DELAYED);
        s->timer_kind = TIMER_DELAY;
        wp_timer_arm_ms(s->timer, f->delay_fixed_ms);
        return;
    }
    proceed_after_delay(s);
}

static void no_route(struct wp_stream *s, const char *host, size_t host_len)
{
    char body[400];
    snprintf(body, sizeof(body), "weir: no route for host \"%.*s\"\n",
             (int)(host_len > 255 ? 255 : host_len), host);
    local_reply(s, 404, WP_RF_NR, "route_not_found", body);
}

static void route_outbound(struct wp_stream *s)
{
    const struct wp_route_index *ix = &s->ws->snap->routes;
    struct wp_identity *id = &s->w->proxy->id;
    const char *host;
    size_t host_len;
    int port;
    uint16_t svc_port;
    const struct weir_pc_service *svc = NULL;
    const struct weir_pc_port *sp = NULL;

    wp_split_authority(s->req.authority, strlen(s->req.authority), &host, &host_len, &port);
    svc =
        wp_route_service_by_addr(ix, s->info->dst_family, s->info->dst_ip, s->info->dst_port, &sp);
    if (!svc) {
        svc_port = port > 0 ? (uint16_t)port : s->info->dst_port;
        svc = wp_route_service_by_host(ix, host, host_len);
        sp = svc ? wp_route_service_port(svc, svc_port) : NULL;
    }
    if (!svc) {
        if (s->cfg->proxy.outbound_traffic_policy == WEIR_PC_OUTBOUND_REGISTRY_ONLY) {
            local_reply(s, 502, WP_RF_NR, "registry_only",
                        "weir: destination not in the registry\n");
            return;
        }
        if (!s->info->dst_from_local && !s->info->dst_is_listener) {
            /* allow_any: the client's own destination, as Istio's PassthroughCluster */
            s->passthrough = true;
            s->cluster_name = "PassthroughCluster";
            snprintf(s->dest_service, sizeof(s->dest_service), "%.*s", (int)host_len, host);
            if (rate_limited(s, s->info->dst_port))
                return;
            forward(s);
            return;
        }
        no_route(s, host, host_len);
        return;
    }
    s->svc = svc;
    s->sport = sp;
    {
        /* snprintf's cut, without its cost on every request */
        size_t n = strnlen(svc->host, sizeof(s->dest_service) - 1);
        memcpy(s->dest_service, svc->host, n);
        s->dest_service[n] = '\0';
    }
    s->dest_service_ns = svc->namespace_;
    if (!sp || sp->n_http == 0) {
        no_route(s, host, host_len);
        return;
    }
    {
        struct wp_route_request rq = {
            .method = s->req.method,
            .path = s->req.path,
            .authority = s->req.authority,
            .scheme = s->req.scheme,
            .headers = &s->req.headers,
            .port = sp->number,
        };
        struct wp_route_source src = {.labels = &id->labels, .ns = id->ns};
        int idx = wp_route_select_http(sp, &rq, &src, &s->match_index);
        if (idx < 0) {
            no_route(s, host, host_len);
            return;
        }
        s->route = &sp->http[idx];
        s->route_name = s->route->name;
    }
    apply_fault(s);
}

/* Appends n bytes of src at buf + o, cut and NUL-terminated within cap as snprintf
 * would; returns the new length. */
static size_t put_cut(char *buf, size_t cap, size_t o, const char *src, size_t n)
{
    if (o >= cap)
        return o;
    if (n > cap - 1 - o)
        n = cap - 1 - o;
    memcpy(buf + o, src, n);
    buf[o + n] = '\0';
    return o + n;
}

static void route_inbound(struct wp_stream *s)
{
    const struct wp_snapshot *snap = s->ws->snap;
    const struct wp_inbound_port *ip = wp_snapshot_inbound_port(snap, s->info->dst_port);
    struct wp_identity *id = &s->w->proxy->id;

    /* by hand: the two snprintf calls were 1,800 instructions per inbound request
     * under callgrind */
    {
        char port[8];
        unsigned v = s->info->dst_port;
        size_t n = sizeof(port), o;
        do {
            port[--n] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        o = put_cut(s->cluster_buf, sizeof(s->cluster_buf), 0, "inbound|", 8);
        o = put_cut(s->cluster_buf, sizeof(s->cluster_buf), o, port + n, sizeof(port) - n);
        put_cut(s->cluster_buf, sizeof(s->cluster_buf), o, "||", 2);
    }
    s->cluster_name = s->cluster_buf;
    if (ip) {
        /* "(null)" is what glibc's snprintf printed for a missing name */
        const char *ns = id->ns ? id->ns : snap->cfg->namespace_;
        const char *name = ip->service_name ? ip->service_name : "(null)";
        size_t o;
        if (!ns)
            ns = "(null)";
        o = put_cut(s->dest_service, sizeof(s->dest_service), 0, name, strlen(name));
        o = put_cut(s->dest_service, sizeof(s->dest_service), o, ".", 1);
        o = put_cut(s->dest_service, sizeof(s->dest_service), o, ns, strlen(ns));
        put_cut(s->dest_service, sizeof(s->dest_service), o, ".svc.cluster.local", 18);
    }
    s->dest_service_ns = id->ns;
    if (snap->inbound_refusal) {
        WP_INC(&s->w->stats, WP_C_INBOUND_REFUSED);
        local_reply(s, 403, WP_RF_UAEX, "policy_not_enforceable",
                    "weir: refused: a policy applies that this proxy version cannot enforce\n");
        return;
    }
    if (rate_limited(s, s->info->dst_port))
        return;
    forward(s);
}

/* ---- downstream side ---- */

/* A stream from the worker's free list keeps its buffer (empty) and its two timers
 * (not pending), made for this same address on this same loop; the rest is zero as
 * from calloc. */
static struct wp_stream *stream_alloc(struct wp_worker *w)
{
    struct wp_stream *s = w->free_streams;
    struct evbuffer *body;
    struct event *timer, *idle;
    if (!s)
        return calloc(1, sizeof(*s));
    w->free_streams = s->next_free;
    w->n_free_streams--;
    body = s->body;
    timer = s->timer;
    idle = s->idle;
    memset(s, 0, sizeof(*s));
    s->body = body;
    s->timer = timer;
    s->idle = idle;
    return s;
}

struct wp_stream *wp_stream_new(struct wp_worker *w, const struct wp_downstream_info *info,
                                const struct wp_downstream_ops *ops, void *ctx)
{
    struct wp_stream *s = stream_alloc(w);
    struct timespec ts;
    if (!s)
        return NULL;
    s->w = w;
    s->info = info;
    s->down = ops;
    s->ctx = ctx;
    s->inbound = info->dir == WP_INBOUND;
    s->endpoint = -1;
    s->match_index = -1;
    s->up_time_ms = -1;
    s->retain = true;
    s->start_us = wp_now_us();
    clock_gettime(CLOCK_REALTIME, &ts);
    s->start_unix_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    wp_request_head_init(&s->req);
    wp_headers_init(&s->req_trailers);
    if (!s->body)
        s->body = evbuffer_new();
    if (!s->timer)
        s->timer = evtimer_new(w->base, timer_cb, s);
    if (!s->idle)
        s->idle = evtimer_new(w->base, idle_cb, s);
    if (!s->body || !s->timer || !s->idle) {
        wp_stream_free(s);
        return NULL;
    }
    WP_INC(&w->stats, WP_C_DOWNSTREAM_RQ_TOTAL);
    WP_INC(&w->stats, WP_C_DOWNSTREAM_RQ_ACTIVE);
    return s;
}

static void stream_release(struct wp_stream *s)
{
    struct wp_worker *w = s->w;
    if (s->timer && s->idle && s->body && w->n_free_streams < WP_WORKER_FREE_MAX) {
        event_del(s->timer);
        event_del(s->idle);
        evbuffer_drain(s->body, evbuffer_get_length(s->body));
        s->next_free = w->free_streams;
        w->free_streams = s;
        w->n_free_streams++;
        return;
    }
    if (s->timer)
        event_free(s->timer);
    if (s->idle)
        event_free(s->idle);
    if (s->body)
        evbuffer_free(s->body);
    free(s);
}

void wp_stream_cache_free(struct wp_worker *w)
{
    struct wp_stream *s;
    while ((s = w->free_streams)) {
        w->free_streams = s->next_free;
        event_free(s->timer);
        event_free(s->idle);
        evbuffer_free(s->body);
        free(s);
    }
    w->n_free_streams = 0;
}

static char *dup_header(const struct wp_headers *h, const char *name)
{
    const struct wp_header *f = wp_headers_get(h, name, strlen(name));
    return f ? strndup(f->value, f->value_len) : NULL;
}

void wp_stream_request_head(struct wp_stream *s, struct wp_request_head *req)
{
    const struct wp_header *rid;

    s->req = *req;
    wp_request_head_init(req);
    s->downstream_h2 = s->req.version_major == 2;
    if (s->downstream_h2)
        s->protocol = "HTTP/2";
    else
        s->protocol = s->req.version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
    {
        const struct wp_header *ct = wp_headers_get(&s->req.headers, "content-type", 12);
        s->grpc = ct && ct->value_len >= 16 && wp_ascii_caseeq(ct->value, "application/grpc", 16);
    }
    s->req_complete = s->req.content_length == 0 || (s->req.content_length < 0 && !s->req.chunked);

    rid = wp_headers_get(&s->req.headers, "x-request-id", 12);
    if (rid && rid->value_len && rid->value_len < sizeof(s->request_id)) {
        memcpy(s->request_id, rid->value, rid->value_len);
        s->request_id[rid->value_len] = '\0';
    } else {
        wp_format_uuid(s->request_id, wp_rand_next(&s->w->rng), wp_rand_next(&s->w->rng));
        wp_headers_set(&s->req.headers, "x-request-id", s->request_id, strlen(s->request_id));
    }

    s->ws = wp_wsnap_acquire(s->w);
    if (!s->ws) {
        local_reply(s, 503, 0, "no_config", "weir: no configuration loaded yet\n");
        return;
    }
    s->cfg = s->ws->snap->cfg;
    if (wp_access_log_enabled(s->cfg)) {
        /* the request as received: routing may rewrite it before the line is written */
        s->log_method = strdup(s->req.method);
        s->log_path = strdup(s->req.path);
        s->log_authority = strdup(s->req.authority ? s->req.authority : "");
        s->user_agent = dup_header(&s->req.headers, "user-agent");
        s->xff = dup_header(&s->req.headers, "x-forwarded-for");
    }
    if (s->req.upgrade)
        s->retain = false; /* an upgraded connection is never replayed */
    touch(s);
    if (s->inbound)
        route_inbound(s);
    else
        route_outbound(s);
}

void wp_stream_request_data(struct wp_stream *s, const char *data, size_t len)
{
    s->req_bytes += len;
    if (s->state == WP_SS_DONE)
        return; /* answered already; the codec closes the connection after the reply */
    touch(s);
    if (s->up && s->up_ready && held_unsent(s) == 0 && !s->retain) {
        /* the common streaming case: straight through, nothing held */
        s->up_sent += len;
        s->body_base += len;
        s->up->ops->send_data(s->up, data, len);
    } else {
        evbuffer_add(s->body, data, len);
        if (s->retain && s->cfg &&
            evbuffer_get_length(s->body) > (size_t)s->cfg->proxy.limits.max_retry_body_bytes) {
            /* past the bound the request streams and is no longer retried */
            s->retain = false;
        }
        flush_body(s);
    }
    update_request_pause(s);
}

void wp_stream_request_end(struct wp_stream *s)
{
    s->req_complete = true;
    if (s->mirror_pending && s->retain && s->body_base == 0) {
        /* the held body is the whole body: the shadow gets the same bytes */
        s->mirror_pending = false;
        wp_mirror_start(s->w, s->ws, s->route, &s->req, s->body);
    }
    if (s->state == WP_SS_DONE)
        return;
    if (s->up && s->up_ready && held_unsent(s) == 0)
        send_request_end(s);
    else
        flush_body(s);
    update_request_pause(s);
}

void wp_stream_request_trailers(struct wp_stream *s, struct wp_headers *trailers)
{
    wp_headers_free(&s->req_trailers);
    s->req_trailers = *trailers;
    wp_headers_init(trailers);
    wp_strip_trailer_fields(&s->req_trailers);
}

void wp_stream_request_error(struct wp_stream *s, int status, const char *details)
{
    if (s->state == WP_SS_DONE)
        return;
    WP_INC(&s->w->stats, WP_C_DOWNSTREAM_PROTOCOL_ERROR);
    local_reply(s, status, WP_RF_DPE, details, "weir: malformed request\n");
}

void wp_stream_downstream_blocked(struct wp_stream *s, bool blocked)
{
    if (s->up && s->up_ready)
        s->up->ops->pause_response(s->up, blocked);
}

void wp_stream_downstream_gone(struct wp_stream *s)
{
    if (s->state == WP_SS_DONE)
        return;
    s->flags |= WP_RF_DC;
    if (!s->resp_head_sent)
        s->status = 0;
    s->details = "downstream_remote_disconnect";
    drop_upstream(s);
    done(s);
}

void wp_stream_free(struct wp_stream *s)
{
    if (!s)
        return;
    if (s->state != WP_SS_DONE) {
        drop_upstream(s);
        if (!s->logged && s->ws) {
            s->flags |= WP_RF_DC;
            done(s);
        }
    }
    if (!s->logged)
        WP_DEC(&s->w->stats, WP_C_DOWNSTREAM_RQ_ACTIVE);
    if (s->deadline)
        event_free(s->deadline);
    wp_request_head_free(&s->req);
    wp_headers_free(&s->req_trailers);
    free(s->log_method);
    free(s->log_path);
    free(s->log_authority);
    free(s->user_agent);
    free(s->xff);
    if (s->tried != s->tried_small)
        free(s->tried);
    free(s->set_cookie);
    wp_wsnap_release(s->ws);
    stream_release(s);
}

/* ---- upstream side ---- */

static void up_ready(void *owner)
{
    struct wp_stream *s = owner;
    if (s->state != WP_SS_CONNECTING)
        return;
    set_state(s, WP_SS_WAITING);
    limits_pending_end(s);
    s->up_ready = true;
    s->up_start_us = wp_now_us();
    if (s->up->ops->reused(s->up))
        WP_INC(&s->w->stats, WP_C_UPSTREAM_RQ_REUSED);
    flush_body(s);
    update_request_pause(s);
}

static void up_drained(void *owner)
{
    struct wp_stream *s = owner;
    update_request_pause(s);
}

static void prepare_response(struct wp_stream *s, struct wp_response_head *resp)
{
    wp_strip_hop_by_hop(&resp->headers, resp->status == 101);
    if (s->route) {
        wp_apply_header_ops(&resp->headers, &s->route->headers.response);
        if (s->dest)
            wp_apply_header_ops(&resp->headers, &s->dest->headers.response);
        wp_cors_response_headers(s->route->cors, s->req.method, &s->req.headers, &resp->headers);
    }
    wp_header_append_list(&resp->headers, "via", "1.1 weir");
    if (s->set_cookie)
        wp_headers_add_str(&resp->headers, "set-cookie", s->set_cookie);
    add_flags_header(s, &resp->headers);
}

static void up_head(void *owner, struct wp_response_head *resp)
{
    struct wp_stream *s = owner;
    int v;
    if (s->state != WP_SS_WAITING) {
        wp_response_head_free(resp);
        return;
    }
    if (s->timer_kind == TIMER_PER_TRY) {
        event_del(s->timer);
        s->timer_kind = TIMER_NONE;
    }
    outlier_report(s, resp->status);
    v = retry_verdict(s, s->route && s->route->retries &&
                             retry_on_status(s->route->retries, resp->status));
    if (v > 0) {
        if (s->eps)
            wp_stat_add(&s->eps->rq_error, 1);
        wp_response_head_free(resp);
        drop_upstream(s);
        schedule_retry(s);
        return;
    }
    if (v == 0)
        s->flags |= WP_RF_URX;
    if (s->deadline)
        event_del(s->deadline); /* the route timeout ends with the response head */
    s->status = resp->status;
    s->up_time_ms = (int64_t)((wp_now_us() - s->up_start_us) / 1000);
    if (s->eps)
        wp_stat_add(resp->status >= 500 ? &s->eps->rq_error : &s->eps->rq_success, 1);
    prepare_response(s, resp);
    set_state(s, WP_SS_RESPONDING);
    s->resp_head_sent = true;
    touch(s);
    s->down->send_head(s->ctx, resp, resp->no_body);
}

static void up_data(void *owner, const char *data, size_t len)
{
    struct wp_stream *s = owner;
    if (s->state != WP_SS_RESPONDING)
        return;
    s->resp_bytes += len;
    touch(s);
    s->down->send_data(s->ctx, data, len);
}

static void up_end(void *owner)
{
    struct wp_stream *s = owner;
    if (s->state != WP_SS_RESPONDING)
        return;
    s->up = NULL; /* the codec gave the connection back to the pool */
    s->up_ready = false;
    lb_end(s);
    done(s);
    s->down->send_end(s->ctx);
}

static void up_trailers(void *owner, struct wp_headers *trailers)
{
    struct wp_stream *s = owner;
    if (s->state != WP_SS_RESPONDING || !s->down->send_trailers)
        return;
    wp_strip_trailer_fields(trailers);
    if (trailers->len)
        s->down->send_trailers(s->ctx, trailers);
}

static void up_upgrade(void *owner, struct bufferevent *bev, struct evbuffer *leftover,
                       struct wp_response_head *resp)
{
    struct wp_stream *s = owner;
    s->up = NULL;
    s->up_ready = false;
    lb_end(s);
    if (s->state != WP_SS_WAITING) {
        bufferevent_free(bev);
        evbuffer_free(leftover);
        wp_response_head_free(resp);
        return;
    }
    s->status = 101;
    s->up_time_ms = (int64_t)((wp_now_us() - s->up_start_us) / 1000);
    WP_INC(&s->w->stats, WP_C_UPGRADES);
    prepare_response(s, resp);
    s->resp_head_sent = true;
    done(s);
    s->down->send_head(s->ctx, resp, false);
    wp_response_head_free(resp);
    s->down->upgrade(s->ctx, bev, leftover);
}

/* Keeps why the connect failed, when the pool says more than "failed" (a TLS
 * handshake error), as Envoy's details do: spaces become underscores. */
static void keep_connect_detail(struct wp_stream *s)
{
    const char *why = wp_upconn_failure_detail();
    int n;
    s->connect_detail[0] = '\0';
    if (!why)
        return;
    n = snprintf(s->connect_detail, sizeof(s->connect_detail), "upstream_connect_failure{%s}", why);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(s->connect_detail))
        memcpy(s->connect_detail + sizeof(s->connect_detail) - 5, "...}", 5);
    for (char *p = s->connect_detail; *p; p++) {
        if (*p == ' ')
            *p = '_';
    }
}

static void up_failed(void *owner, enum wp_up_error e, bool reused_connection)
{
    struct wp_stream *s = owner;
    int v;
    bool pre_response = s->state == WP_SS_CONNECTING || s->state == WP_SS_WAITING;

    s->up = NULL;
    s->up_ready = false;
    lb_end(s);
    if (e == WP_UPE_CONNECT)
        keep_connect_detail(s);
    if (s->eps && e != WP_UPE_RESET_BODY)
        wp_stat_add(&s->eps->rq_error, 1);
    if (s->state == WP_SS_RESPONDING) {
        /* mid-body: the client has a head already, only a reset is left */
        s->flags |= WP_RF_UC;
        s->details = "upstream_reset_after_response_started";
        done(s);
        s->down->reset(s->ctx);
        return;
    }
    if (!pre_response)
        return;
    if (s->timer_kind == TIMER_PER_TRY) {
        event_del(s->timer);
        s->timer_kind = TIMER_NONE;
    }
    if (e == WP_UPE_RESET && reused_connection && !s->stale_retry_used && s->retain) {
        /* A kept-alive connection the upstream closed just as we reused it: the
         * request never reached the application, so one fresh try is safe
         * whatever the retry policy says. */
        s->stale_retry_used = true;
        start_attempt(s);
        return;
    }
    outlier_report(s, e == WP_UPE_PROTOCOL ? 502 : WP_OUTLIER_LOCAL_FAILURE);
    if (e == WP_UPE_PROTOCOL) {
        WP_INC(&s->w->stats, WP_C_UPSTREAM_PROTOCOL_ERROR);
        local_reply(s, 502, WP_RF_UPE, "upstream_protocol_error",
                    "weir: malformed upstream response\n");
        return;
    }
    v = retry_verdict(
        s, s->route && s->route->retries &&
               retry_on_reason(s->route->retries, e == WP_UPE_CONNECT ? RR_CONNECT : RR_RESET));
    if (v > 0) {
        schedule_retry(s);
        return;
    }
    if (e == WP_UPE_CONNECT)
        local_reply(s, 503, WP_RF_UF | (v == 0 ? WP_RF_URX : 0),
                    s->connect_detail[0] ? s->connect_detail : "upstream_connect_failure",
                    "weir: upstream connect error or disconnect/reset before headers\n");
    else
        local_reply(s, 503, WP_RF_UC | (v == 0 ? WP_RF_URX : 0), "upstream_reset_before_response",
                    "weir: upstream connect error or disconnect/reset before headers\n");
}

static const struct wp_up_sink stream_sink = {
    up_ready, up_head, up_data, up_end, up_failed, up_drained, up_upgrade, up_trailers,
};
