#include "upstream/limits.h"

#include <stddef.h>

/* The contract's "no limit" is 4294967295; anything at or above it never binds. */
static bool below(uint64_t count, int64_t limit)
{
    return limit < 0 || count < (uint64_t)limit;
}

void wp_limits_init(struct wp_cluster_limits *l, const struct weir_pc_connection_pool *cp)
{
    l->cp = cp;
    l->requests = l->connections = l->pending = l->retries = 0;
    wp_list_init(&l->waiting);
}

bool wp_limits_request_begin(struct wp_cluster_limits *l)
{
    if (l->cp && !below(l->requests, l->cp->http2_max_requests))
        return false;
    l->requests++;
    return true;
}

void wp_limits_request_end(struct wp_cluster_limits *l)
{
    if (l->requests)
        l->requests--;
}

enum wp_limit_verdict wp_limits_connection_begin(struct wp_cluster_limits *l,
                                                 struct wp_limit_waiter *wt)
{
    /* a queue that is not empty is served first, even with a slot free */
    if (!l->cp || (wp_list_empty(&l->waiting) && below(l->connections, l->cp->max_connections))) {
        l->connections++;
        return WP_LIMIT_GRANTED;
    }
    if (!below(l->pending, l->cp->http1_max_pending_requests))
        return WP_LIMIT_OVERFLOW;
    l->pending++;
    wp_list_insert_tail(&l->waiting, &wt->link);
    return WP_LIMIT_QUEUED;
}

void wp_limits_connection_end(struct wp_cluster_limits *l)
{
    struct wp_limit_waiter *wt;
    if (l->connections)
        l->connections--;
    while (l->cp && below(l->connections, l->cp->max_connections) &&
           (wt = wp_list_first(&l->waiting, struct wp_limit_waiter, link))) {
        wp_list_remove(&wt->link);
        l->pending--;
        l->connections++;
        wt->wake(wt);
    }
}

void wp_limits_cancel(struct wp_cluster_limits *l, struct wp_limit_waiter *wt)
{
    if (!wt->link.next || !wp_list_linked(&wt->link))
        return;
    wp_list_remove(&wt->link);
    l->pending--;
}

bool wp_limits_pending_begin(struct wp_cluster_limits *l)
{
    if (l->cp && !below(l->pending, l->cp->http1_max_pending_requests))
        return false;
    l->pending++;
    return true;
}

void wp_limits_pending_end(struct wp_cluster_limits *l)
{
    if (l->pending)
        l->pending--;
}

bool wp_limits_retry_begin(struct wp_cluster_limits *l)
{
    if (l->cp && !below(l->retries, l->cp->max_retries))
        return false;
    l->retries++;
    return true;
}

void wp_limits_retry_end(struct wp_cluster_limits *l)
{
    if (l->retries)
        l->retries--;
}
