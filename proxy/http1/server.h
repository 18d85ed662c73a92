/*
 * The HTTP/1.1 downstream codec: one client connection, one request at a time
 * (pipelined requests wait in the input buffer until the previous response is
 * done), keep-alive, chunked streaming both ways, Expect: 100-continue, and the
 * switch to byte passthrough after a 101.
 *
 * States: IDLE (waiting for a request head, header timeout armed) -> ACTIVE (a
 * stream runs) -> IDLE again, or CLOSING (flush the last response, then a lingering
 * close: our write side is shut and the client's late bytes are read and dropped
 * for a moment, so that a reset does not destroy the response it has not read yet)
 * -> CLOSED.
 */
#ifndef WP_HTTP1_SERVER_H
#define WP_HTTP1_SERVER_H

#include "core/conn.h"

struct bufferevent;
struct wp_worker;

/* Takes bev (bytes already read stay in its input buffer). */
void wp_h1_server_start(struct wp_worker *w, struct bufferevent *bev,
                        const struct wp_downstream_info *info);

#endif
