/*
 * CORS for routes with a corsPolicy (Istio's VirtualService corsPolicy), with
 * Envoy's semantics:
 *
 *  - A request is a CORS request when it carries a non-empty `Origin`; the origin
 *    is allowed when one of allowOrigins matches it (a match that accepts "*"
 *    allows every origin). The allowed origin is echoed, never "*".
 *  - A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from
 *    an allowed origin is answered by the proxy (204 with -Allow-Origin, -Methods,
 *    -Headers, -Max-Age, -Allow-Credentials) and never forwarded. One from another
 *    origin is forwarded (`unmatchedPreflights: forward`) or answered 204 without
 *    CORS fields (`ignore`).
 *  - Any other response to a CORS request from an allowed origin, from the
 *    upstream or made by the proxy, gets -Allow-Origin, -Expose-Headers and
 *    -Allow-Credentials (replacing the upstream's own).
 *
 * Pure functions on message heads, like http/apply.
 * Return convention: int functions return 0 on success and -1 when memory ran out.
 */
#ifndef WP_HTTP_CORS_H
#define WP_HTTP_CORS_H

#include <stdbool.h>

#include "config/proxy_config.h"
#include "http/message.h"

/* The status of a preflight the proxy answers. */
#define WP_CORS_PREFLIGHT_STATUS 204

/* True when the proxy answers this request itself (a preflight from an allowed
 * origin, or from another origin with unmatchedPreflights: ignore). cors NULL: false. */
bool wp_cors_answers_preflight(const struct weir_pc_cors *cors, const char *method,
                               const struct wp_headers *req);

/* Adds the CORS fields that the response to this request carries (none when cors is
 * NULL, the request has no Origin or the origin is not allowed). */
int wp_cors_response_headers(const struct weir_pc_cors *cors, const char *method,
                             const struct wp_headers *req, struct wp_headers *resp);

#endif
