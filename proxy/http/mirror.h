/*
 * Request mirroring (shadowing): copies of a routed request sent to other clusters,
 * fire-and-forget. The copy goes out once the whole request is known (its body is
 * the one held for retries, so a body past limits.maxRetryBodyBytes is not
 * mirrored), with "-shadow" appended to its host as Envoy does; its response is
 * read and dropped and never delays or changes the client's answer. A mirror is
 * bounded by the route's timeout (10 s without one).
 *
 * The copy speaks what its cluster speaks: HTTP/2 (the worker's multiplexed
 * connection to the endpoint, http2/client) for http2 and grpc clusters and http
 * ones with h2UpgradePolicy upgrade, HTTP/1.1 otherwise.
 */
#ifndef WP_HTTP_MIRROR_H
#define WP_HTTP_MIRROR_H

#include "config/proxy_config.h"
#include "http/message.h"

struct evbuffer;
struct wp_worker;
struct wp_wsnap;

/* Sends the mirrors of route r that win their percentage roll. req is the request
 * as it goes to the main upstream; body may be NULL (no body). */
void wp_mirror_start(struct wp_worker *w, struct wp_wsnap *ws, const struct weir_pc_http_route *r,
                     const struct wp_request_head *req, struct evbuffer *body);

#endif
