/*
 * The HTTP/1.1 upstream codec: one request/response exchange on a pooled
 * connection. It serializes the request head, frames the body (content-length as
 * received, or chunked), parses the response with the same strict parser as the
 * downstream side (a malformed response becomes 502), and gives the connection back
 * to the pool when the exchange ended cleanly.
 */
#ifndef WP_HTTP1_CLIENT_H
#define WP_HTTP1_CLIENT_H

#include "http/message.h"
#include "http/stream.h"
#include "upstream/pool.h"

/* Starts an exchange; the head is copied. NULL when no connection could be created
 * at all (the caller answers UF). The owner hears back through the sink. */
struct wp_upstream *wp_h1_client_start(struct wp_worker *w, const struct wp_up_sink *sink,
                                       void *owner, const struct wp_up_target *t,
                                       const struct wp_request_head *req, size_t max_header_bytes,
                                       size_t max_headers);
/* Whether the exchange runs on a connection that served an earlier request. */
/* Frees the exchanges the worker keeps for reuse; when its loop is over. */
void wp_h1_client_cache_free(struct wp_worker *w);
bool wp_h1_client_reused(const struct wp_upstream *u);
const char *wp_h1_client_peer(const struct wp_upstream *u);
struct wp_endpoint_stats *wp_h1_client_endpoint_stats(const struct wp_upstream *u);

#endif
