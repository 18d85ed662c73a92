/*
 * What a selected route does to a request and its response, as pure functions on
 * message heads: header operations, path and authority rewrites, redirect
 * locations, hop-by-hop removal and the forwarding headers (via, x-forwarded-*,
 * x-request-id). Kept apart from the stream state machine so each rule is testable
 * and shared by every protocol.
 *
 * Return convention: int functions return 0 on success and -1 when memory ran out.
 */
#ifndef WP_HTTP_APPLY_H
#define WP_HTTP_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/proxy_config.h"
#include "http/message.h"

/* The longest path a rewrite may produce; past it the rewrite is refused (500):
 * a regex with a large replacement must not turn a short path into megabytes. */
#define WP_MAX_REWRITTEN_PATH 16384

/* remove, then set (replacing every value), then add: the order the config specifies. */
int wp_apply_header_ops(struct wp_headers *h, const struct weir_pc_header_ops *ops);

/* Rewrites *path per route->rewrite. match_index is the index of the match entry that
 * selected the route (-1 when none): a prefix uri match makes rewrite.uri replace the
 * matched prefix. Returns 0 (path possibly replaced), -1 on memory or size limit. */
int wp_rewrite_path(const struct weir_pc_http_route *route, int match_index, char **path);

/* Builds the Location of a redirect. request_port is the port the request came in on. */
char *wp_redirect_location(const struct weir_pc_redirect *rd, const char *scheme,
                           const char *authority, const char *path, uint16_t request_port);

/* Removes connection-specific fields (RFC 9110 7.6.1) and every field that Connection
 * names. keep_upgrade keeps `upgrade` for a protocol switch. "te: trailers" stays, as
 * gRPC needs it end to end. */
void wp_strip_hop_by_hop(struct wp_headers *h, bool keep_upgrade);

/* Removes from a trailer section the fields that must not be trailers (RFC 9110
 * 6.5.1): framing, routing and connection fields, and pseudo-header names. A peer
 * must not read them as if they had come in the head, so they never go on. */
void wp_strip_trailer_fields(struct wp_headers *h);

/* A random UUID (version 4) in 36 characters plus NUL, from two 64-bit randoms. */
void wp_format_uuid(char out[37], uint64_t a, uint64_t b);

/* Appends to a comma-separated header (x-forwarded-for, via) or adds it. */
int wp_header_append_list(struct wp_headers *h, const char *name, const char *value);

#endif
