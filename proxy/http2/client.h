/*
 * The HTTP/2 upstream codec (h2c with prior knowledge): per worker, a
 * multiplexed connection per endpoint (pool key: cluster, address, source
 * binding) carries the concurrent exchanges to it up to the peer's
 * SETTINGS_MAX_CONCURRENT_STREAMS; past it another connection is opened, up to
 * the cluster's tcp.maxConnections per endpoint, beyond which nghttp2 holds new
 * streams back until one closes.
 *
 * Same driving rules as the server side (http2/server.h): bytes in through
 * nghttp2_session_mem_recv(), out through a send callback that answers
 * NGHTTP2_ERR_WOULDBLOCK when the socket's output is full; operations from the
 * stream only submit frames and schedule a flush from the loop.
 *
 * Connection states: CONNECTING (exchanges wait) -> READY -> GOAWAY (the peer
 * said so: no new streams, a new connection takes them) -> CLOSED.
 *
 * A response's head and trailers together are bounded by limits.maxHeaderBytes
 * (RFC 9113's accounting) and limits.maxHeaders: past them before the head the
 * exchange fails as malformed (502 UPE), after it as a reset mid-body.
 *
 * connectionPool.http.maxRequestsPerConnection bounds the exchanges one connection
 * carries: a connection that has been given that many takes no more (the next
 * exchange opens a new one) and closes after its last stream.
 *
 * An exchange that the peer did not process (REFUSED_STREAM, a stream above a
 * GOAWAY's last stream id, or one never sent before its connection went away)
 * fails as WP_UPE_RESET on a "reused" connection, which the stream retries once
 * on a fresh exchange whatever the retry policy: the application never saw it.
 */
#ifndef WP_HTTP2_CLIENT_H
#define WP_HTTP2_CLIENT_H

#include "http/message.h"
#include "http/stream.h"
#include "upstream/pool.h"

/* Starts an exchange; the head is copied. NULL when memory ran out (the caller
 * answers UF). The owner hears back through the sink, never from inside this call. */
struct wp_upstream *wp_h2_client_start(struct wp_worker *w, const struct wp_up_sink *sink,
                                       void *owner, const struct wp_up_target *t,
                                       const struct wp_request_head *req, size_t max_header_bytes,
                                       size_t max_headers);
/* Whether the exchange waits for its connection (connecting, TLS handshake). */
bool wp_h2_client_waiting(const struct wp_upstream *u);
/* Worker shutdown: closes every HTTP/2 upstream connection of the worker. */
void wp_h2_client_shutdown(struct wp_worker *w);

#endif
