/*
 * VirtualService HTTP routes (Istio's HTTPRoute and everything under it):
 * matches, weighted destinations, redirects, direct responses, rewrites,
 * timeouts, retries, fault injection, mirroring, CORS and header operations.
 *
 * Semantics kept from Istio that the translation relies on:
 *   - match blocks are ORed, the conditions inside one block are ANDed; a route
 *     with no match block matches every request;
 *   - exactly one action per route: forward (route), redirect, directResponse
 *     or delegate;
 *   - weights are percentages: with several destinations they sum to 100 (an
 *     absent weight is 0); a lone destination takes all traffic, stored as 100;
 *   - header names in matches are stored lower-case, since HTTP/2 and Envoy
 *     compare them that way.
 * Conventions for optional values are in route_common.h.
 */
#ifndef WEIR_MODEL_ROUTE_HTTP_H
#define WEIR_MODEL_ROUTE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/route_common.h"

/* A header or query parameter condition. match.type is WEIR_MATCH_NONE for
 * `name: {}`, which Istio documents as "the header is present". */
struct weir_named_match {
    char *name;
    struct weir_string_match match;
};

/* HTTPMatchRequest: one block of ANDed conditions. Absent string matches have
 * type WEIR_MATCH_NONE. */
struct weir_http_match {
    char *name; /* joined with the route's name in access logs */
    struct weir_string_match uri;
    struct weir_string_match scheme;
    struct weir_string_match method;
    struct weir_string_match authority;
    struct weir_named_match *headers;
    size_t n_headers;
    struct weir_named_match *without_headers; /* the block fails if one of these matches */
    size_t n_without_headers;
    struct weir_named_match *query_params;
    size_t n_query_params;
    int64_t port;                         /* 0: any port */
    struct weir_string_map source_labels; /* client workload labels */
    struct weir_strings gateways;         /* unsupported by Weir yet */
    char *source_namespace;
    bool ignore_uri_case; /* exact and prefix uri matches only */
    char *stat_prefix;    /* per-route proxy statistics: route.<stat_prefix> */
};

/* Headers.HeaderOperations: applied to a request before forwarding or to a
 * response before returning it. */
struct weir_header_ops {
    struct weir_string_map set; /* overwrite */
    struct weir_string_map add; /* append */
    struct weir_strings remove;
};

/* Istio's Headers, at route or destination level. */
struct weir_headers {
    struct weir_header_ops request;
    struct weir_header_ops response;
};

/* HTTPRouteDestination. */
struct weir_http_route_destination {
    struct weir_destination destination;
    int64_t weight; /* 0..100; always 100 for a lone destination */
    struct weir_headers headers;
};

enum weir_http_action {
    WEIR_HTTP_ACTION_NONE, /* only in an invalid object */
    WEIR_HTTP_ACTION_ROUTE,
    WEIR_HTTP_ACTION_REDIRECT,
    WEIR_HTTP_ACTION_DIRECT_RESPONSE,
    WEIR_HTTP_ACTION_DELEGATE,
};

enum weir_redirect_port {
    WEIR_REDIRECT_PORT_KEEP,                  /* port not set: keep the request's */
    WEIR_REDIRECT_PORT_FIXED,                 /* use weir_http_redirect.port */
    WEIR_REDIRECT_PORT_FROM_PROTOCOL_DEFAULT, /* 80 for http, 443 for https */
    WEIR_REDIRECT_PORT_FROM_REQUEST_PORT,
};

/* HTTPRedirect. */
struct weir_http_redirect {
    char *uri;       /* replaces the whole path; NULL keeps it */
    char *authority; /* NULL keeps it */
    enum weir_redirect_port port_mode;
    int64_t port; /* with WEIR_REDIRECT_PORT_FIXED */
    char *scheme; /* "http" or "https", NULL keeps it */
    int64_t code; /* 301 (the default), 302, 303, 307 or 308 */
};

enum weir_body_kind {
    WEIR_BODY_NONE,
    WEIR_BODY_STRING,
    WEIR_BODY_BYTES, /* given as base64, stored decoded */
};

/* The largest direct response body accepted: it travels in the proxy config. */
#define WEIR_DIRECT_RESPONSE_BODY_MAX (1024 * 1024)

/* HTTPDirectResponse. */
struct weir_http_direct_response {
    int64_t status; /* 200..599 */
    enum weir_body_kind body_kind;
    unsigned char *body; /* NUL-terminated for convenience; body_len excludes it */
    size_t body_len;
};

/* Delegate: the VirtualService whose HTTP routes replace this one's. */
struct weir_http_delegate {
    char *name;
    char *namespace_; /* NULL: the root VirtualService's namespace */
};

/* HTTPRewrite, applied before forwarding. uri and uri_regex exclude each other. */
struct weir_http_rewrite {
    char *uri; /* replaces the matched prefix, or the whole path for other matches */
    char *authority;
    struct weir_regex_rewrite *uri_regex;
};

/* HTTPRetry. retry_on is split: Envoy condition names go to `conditions`,
 * HTTP status codes to `status_codes` (Envoy's retriable-status-codes). */
struct weir_http_retry {
    int64_t attempts;           /* 0 disables retries */
    int64_t per_try_timeout_ns; /* WEIR_UNSET: the route timeout */
    struct weir_strings conditions;
    int *status_codes;
    size_t n_status_codes;
    enum weir_tristate retry_remote_localities;
    enum weir_tristate retry_ignore_previous_hosts;
    int64_t backoff_ns; /* base interval between retries; WEIR_UNSET: Envoy's 25ms */
};

/* HTTPFaultInjection.Delay. */
struct weir_fault_delay {
    int64_t fixed_delay_ns;
    double percentage; /* WEIR_UNSET when absent */
    int64_t percent;   /* deprecated integer form; WEIR_UNSET when absent */
};

enum weir_abort_kind {
    WEIR_ABORT_NONE, /* only in an invalid object */
    WEIR_ABORT_HTTP,
    WEIR_ABORT_GRPC,
    WEIR_ABORT_HTTP2, /* http2Error: unsupported by Weir yet */
};

/* HTTPFaultInjection.Abort. */
struct weir_fault_abort {
    enum weir_abort_kind kind;
    int64_t http_status; /* 200..599 */
    int grpc_status;     /* numeric gRPC code of grpc_status_name */
    char *grpc_status_name;
    char *http2_error;
    double percentage; /* WEIR_UNSET when absent */
};

/* HTTPFaultInjection: at least one of delay and abort. */
struct weir_http_fault {
    struct weir_fault_delay *delay;
    struct weir_fault_abort *abort;
};

/* HTTPMirrorPolicy. */
struct weir_http_mirror {
    struct weir_destination destination;
    double percentage; /* WEIR_UNSET: mirror everything */
};

enum weir_unmatched_preflights {
    WEIR_PREFLIGHT_UNSPECIFIED, /* forward */
    WEIR_PREFLIGHT_FORWARD,
    WEIR_PREFLIGHT_IGNORE,
};

/* CorsPolicy. */
struct weir_cors_policy {
    struct weir_string_match *allow_origins;
    size_t n_allow_origins;
    struct weir_strings allow_origin; /* deprecated: exact origins, "*" for any */
    struct weir_strings allow_methods;
    struct weir_strings allow_headers;
    struct weir_strings expose_headers;
    int64_t max_age_ns; /* whole seconds; WEIR_UNSET when absent */
    enum weir_tristate allow_credentials;
    enum weir_unmatched_preflights unmatched_preflights;
};

/* HTTPRoute. */
struct weir_http_route {
    char *name;
    struct weir_http_match *match;
    size_t n_match;
    enum weir_http_action action;
    struct weir_http_route_destination *route; /* WEIR_HTTP_ACTION_ROUTE */
    size_t n_route;
    struct weir_http_redirect *redirect;
    struct weir_http_direct_response *direct_response;
    struct weir_http_delegate *delegate;
    struct weir_http_rewrite *rewrite;
    int64_t timeout_ns; /* WEIR_UNSET: no timeout */
    struct weir_http_retry *retries;
    struct weir_http_fault *fault;
    struct weir_destination *mirror; /* single mirror; excludes `mirrors` */
    double mirror_percentage;        /* for `mirror`; WEIR_UNSET: 100 */
    int64_t mirror_percent;          /* deprecated integer form; WEIR_UNSET when absent */
    struct weir_http_mirror *mirrors;
    size_t n_mirrors;
    struct weir_cors_policy *cors_policy;
    struct weir_headers headers;
};

/* What the VirtualService around the routes decides about them. */
struct weir_http_route_context {
    bool applies_to_mesh; /* gateways empty or listing "mesh" */
    bool is_delegate;     /* a VirtualService without hosts */
};

/* Parses spec.http[i] (v is the element, the check's path already ends in
 * http[i]). out is always left in a state weir_http_route_clear accepts. */
void weir_http_route_parse(struct weir_check *c, const json_t *v,
                           const struct weir_http_route_context *ctx, struct weir_http_route *out);
void weir_http_route_clear(struct weir_http_route *r);

#endif
