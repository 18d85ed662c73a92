/*
 * gRPC request fields the proxy reads: the grpc-timeout header, the client's
 * deadline (gRPC over HTTP/2, PROTOCOL-HTTP2.md: "TimeoutValue TimeoutUnit").
 *
 * The stream bounds a gRPC request by the smaller of the route's timeoutMs and
 * this deadline, as Envoy does with Istio's max_grpc_timeout (the route timeout
 * caps the header; no route timeout leaves the header alone). A malformed value
 * is ignored and the route timeout applies.
 *
 * Pure functions, unit tested (tests/test_grpc.c) and fuzzed with the HTTP/1
 * request path (fuzz/fuzz_http1_request.c).
 */
#ifndef WP_HTTP_GRPC_H
#define WP_HTTP_GRPC_H

#include <stddef.h>
#include <stdint.h>

/* TimeoutValue is "a positive integer as ASCII string of at most 8 digits". */
#define WP_GRPC_TIMEOUT_MAX_DIGITS 8
/* The longest deadline the proxy arms, the range of a config duration (about 24.8
 * days); a longer grpc-timeout is clamped to it. */
#define WP_GRPC_TIMEOUT_MAX_MS INT64_C(2147483647)

/* The deadline of a grpc-timeout value in milliseconds, sub-millisecond units
 * rounded up (1u is 1 ms, as Envoy rounds), or -1 when the value is not exactly
 * 1 to 8 ASCII digits followed by one of H, M, S, m, u, n, or is zero. */
int64_t wp_grpc_timeout_parse(const char *value, size_t len);

/* Writes ms (>= 1) as a grpc-timeout value: "<ms>m", or whole seconds rounded up
 * ("<s>S") when ms has more than 8 digits. out holds at least 16 bytes; returns
 * the length written. */
size_t wp_grpc_timeout_format(int64_t ms, char *out, size_t cap);

#endif
