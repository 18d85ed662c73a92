/*
 * One HTTP request/response exchange, independent of the wire protocol on either
 * side. The downstream codec (http1/server or http2/server) feeds it the request
 * and receives the response through `struct wp_downstream_ops`; the upstream codec
 * is reached through `struct wp_upstream_ops`. Between them the stream applies the
 * route: selection, faults, redirect and direct responses, header operations,
 * rewrites, timeouts, retries, and records the access log entry and metrics.
 *
 * States (wp_stream_state_name() for logs):
 *
 *   ROUTING --> LOCAL_REPLY ------------------------------------> DONE
 *      |  \--> DELAYED (fault) --+
 *      v                         v
 *   CONNECTING <--- BACKOFF <--- WAITING (request sent, no response head yet)
 *      |                ^              |
 *      +----------------+--------------+--> RESPONDING --> DONE
 *
 * PENDING sits before CONNECTING: the cluster's HTTP/1.1 connections are all in use
 * (connectionPool.tcp.maxConnections) and the stream waits in the cluster's queue
 * (upstream/limits.h) until one is given back.
 *
 * A retry is possible only while no response byte has gone downstream and the whole
 * request body so far is still held (limits.maxRetryBodyBytes).
 *
 * Ownership: the downstream codec creates the stream and frees it (deferred) after
 * wp_stream_downstream_gone() or after the stream told it the response ended.
 */
#ifndef WP_HTTP_STREAM_H
#define WP_HTTP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/message.h"

struct evbuffer;
struct bufferevent;
struct wp_worker;
struct wp_stream;
struct wp_downstream_info;
struct wp_endpoint_stats;

/* Envoy's response flags, as Istio's metrics and logs spell them. */
enum wp_rflag {
    WP_RF_UH = 1u << 0,    /* no healthy upstream */
    WP_RF_UF = 1u << 1,    /* upstream connection failure */
    WP_RF_UO = 1u << 2,    /* upstream overflow (circuit breaking) */
    WP_RF_NR = 1u << 3,    /* no route */
    WP_RF_URX = 1u << 4,   /* retry limit exceeded */
    WP_RF_UT = 1u << 5,    /* upstream request timeout */
    WP_RF_UC = 1u << 6,    /* upstream connection termination */
    WP_RF_DC = 1u << 7,    /* downstream connection termination */
    WP_RF_DI = 1u << 8,    /* delay injected */
    WP_RF_FI = 1u << 9,    /* fault injected */
    WP_RF_UPE = 1u << 10,  /* upstream protocol error */
    WP_RF_SI = 1u << 11,   /* stream idle timeout */
    WP_RF_UAEX = 1u << 12, /* refused by policy */
    WP_RF_DPE = 1u << 13,  /* downstream protocol error */
    WP_RF_RL = 1u << 14,   /* rate limited locally (rateLimits) */
};
/* "UF,URX" or "-"; out holds at least 64 bytes. */
void wp_rflags_format(unsigned flags, char *out, size_t cap);

/* What the stream asks of the downstream codec. */
struct wp_downstream_ops {
    /* The response head; the codec picks its framing from resp (length, chunked,
     * or close-delimited for HTTP/1.0). end: no body follows. */
    void (*send_head)(void *ctx, struct wp_response_head *resp, bool end);
    void (*send_data)(void *ctx, const char *data, size_t len);
    void (*send_end)(void *ctx);
    /* "100 Continue" for a client that sent Expect: 100-continue. */
    void (*send_continue)(void *ctx);
    /* Stop or resume reading the request body (upstream cannot take more). */
    void (*pause_request)(void *ctx, bool pause);
    /* The response cannot be completed (upstream reset mid-body): abort the connection. */
    void (*reset)(void *ctx);
    /* 101 from upstream: the codec takes both sides into byte passthrough. leftover
     * holds bytes the upstream sent after the 101 head. */
    void (*upgrade)(void *ctx, struct bufferevent *upstream, struct evbuffer *leftover);
    /* Trailer fields, before send_end (gRPC's grpc-status). NULL: the codec has no
     * way to carry them and they are dropped. */
    void (*send_trailers)(void *ctx, struct wp_headers *trailers);
};

/* The upstream codec, one exchange on one connection. */
struct wp_upstream;
struct wp_upstream_ops {
    void (*send_data)(struct wp_upstream *u, const char *data, size_t len);
    void (*send_end)(struct wp_upstream *u);
    size_t (*write_buffered)(struct wp_upstream *u);
    void (*pause_response)(struct wp_upstream *u, bool pause);
    /* Drops the exchange (HTTP/1.1: the connection is closed; HTTP/2: the stream is
     * reset). u is gone afterwards. */
    void (*abort)(struct wp_upstream *u);
    /* Whether the exchange runs on a connection that served an earlier request. */
    bool (*reused)(const struct wp_upstream *u);
    struct wp_endpoint_stats *(*endpoint_stats)(const struct wp_upstream *u);
    /* Request trailer fields, just before send_end (copied). A codec that cannot
     * carry them on this exchange (HTTP/1.1 with a content-length) drops them. */
    void (*send_trailers)(struct wp_upstream *u, const struct wp_headers *trailers);
};
struct wp_upstream {
    const struct wp_upstream_ops *ops;
};

enum wp_up_error {
    WP_UPE_CONNECT,    /* could not connect: UF */
    WP_UPE_RESET,      /* closed or reset before the response head: UC */
    WP_UPE_RESET_BODY, /* closed mid-body */
    WP_UPE_PROTOCOL,   /* malformed response: 502 UPE */
};

/* What an upstream codec reports to, and about, its exchange: the stream, or a
 * mirror that discards the answer. After end, failed or upgrade the upstream is
 * gone. */
struct wp_up_sink {
    void (*ready)(void *owner); /* connected, the request head is on its way */
    void (*head)(void *owner, struct wp_response_head *resp); /* takes resp */
    void (*data)(void *owner, const char *data, size_t len);
    void (*end)(void *owner);
    void (*failed)(void *owner, enum wp_up_error e, bool reused_connection);
    void (*drained)(void *owner); /* can take more request body */
    /* 101 received: the connection is handed over for passthrough */
    void (*upgrade)(void *owner, struct bufferevent *bev, struct evbuffer *leftover,
                    struct wp_response_head *resp);
    /* Response trailers, before end (takes nothing: the fields are copied; the
     * stream may remove fields that must not be trailers first). */
    void (*trailers)(void *owner, struct wp_headers *trailers);
};

/* Downstream codec -> stream. */
struct wp_stream *wp_stream_new(struct wp_worker *w, const struct wp_downstream_info *info,
                                const struct wp_downstream_ops *ops, void *ctx);
/* Takes req. The stream may answer (locally) from inside this call. */
void wp_stream_request_head(struct wp_stream *s, struct wp_request_head *req);
void wp_stream_request_data(struct wp_stream *s, const char *data, size_t len);
/* The request's trailer fields, before wp_stream_request_end. Takes the fields. */
void wp_stream_request_trailers(struct wp_stream *s, struct wp_headers *trailers);
void wp_stream_request_end(struct wp_stream *s);
/* The request broke the codec's rules after its head (trailers over the limits):
 * answered with status (flag DPE) if no response head went out, else reset. */
void wp_stream_request_error(struct wp_stream *s, int status, const char *details);
/* The downstream codec can take more response bytes again / is full. */
void wp_stream_downstream_blocked(struct wp_stream *s, bool blocked);
/* The client went away (DC) or the codec closes: the stream stops all work and
 * writes its log line if it has not. It must not call ops afterwards. */
void wp_stream_downstream_gone(struct wp_stream *s);
void wp_stream_free(struct wp_stream *s);
/* Frees the streams the worker keeps for reuse; when its loop is over. */
void wp_stream_cache_free(struct wp_worker *w);

#endif
