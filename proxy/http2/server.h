/*
 * The HTTP/2 downstream codec (h2c with prior knowledge): one client connection,
 * many concurrent streams, each mapped onto a `struct wp_stream` so routing,
 * header operations, faults, timeouts and retries are the same as for HTTP/1.1.
 *
 * nghttp2 is driven as curl drives it: bytes in through nghttp2_session_mem_recv(),
 * out through a send callback that appends to the socket's output buffer and
 * answers NGHTTP2_ERR_WOULDBLOCK once that holds WP_H2_WRITE_HIGH bytes; the write
 * callback of the socket resumes sending. Stream operations (the stream's calls
 * into this codec) only submit frames and schedule a flush from the loop, so
 * nghttp2 never calls back while a stream is on the call stack.
 *
 * Flow control: request body bytes are acknowledged (WINDOW_UPDATE) as the stream
 * takes them; while the stream has paused the request, acknowledgements are held,
 * so the client runs out of window instead of filling our memory.
 *
 * Connection states: OPEN -> DRAINING (GOAWAY sent: streams in flight finish, new
 * ones are refused) -> CLOSED. A stream that ends or is reset is freed from the
 * worker's deferred-free queue, never inside an nghttp2 callback.
 */
#ifndef WP_HTTP2_SERVER_H
#define WP_HTTP2_SERVER_H

#include "core/conn.h"

struct bufferevent;
struct wp_worker;

/* Takes bev; the connection preface read by protocol detection is still in its
 * input buffer. */
void wp_h2_server_start(struct wp_worker *w, struct bufferevent *bev,
                        const struct wp_downstream_info *info);
/* Frees the streams the worker keeps for reuse; when its loop is over. */
void wp_h2_server_cache_free(struct wp_worker *w);

#endif
