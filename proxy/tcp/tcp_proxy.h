/*
 * Opaque TCP: bytes are copied unchanged in both directions, with half-close kept
 * (an EOF from one side becomes shutdown(SHUT_WR) towards the other once everything
 * before it has been written), so request/response protocols that signal the end of
 * a request by closing their write side work through the proxy.
 *
 * Each direction holds at most WP_TCP_BUFFER bytes: past that, reading from the
 * sender stops until the receiver has taken them.
 */
#ifndef WP_TCP_TCP_PROXY_H
#define WP_TCP_TCP_PROXY_H

#include <stdbool.h>

#include "core/conn.h"
#include "upstream/pool.h"

struct bufferevent;
struct evbuffer;
struct wp_worker;
struct wp_wsnap;
struct wp_lb;

#define WP_TCP_BUFFER (256 * 1024)

/* What a TCP relay reports in metrics and the access log, and the balancer
 * bookkeeping it must undo at the end. */
struct wp_tcp_meta {
    const char *cluster;
    const char *dest_service;
    const char *dest_service_ns;
    struct wp_wsnap *ws; /* reference taken by the caller, released by the relay */
    struct wp_lb *lb;    /* request_start already called for endpoint */
    int endpoint;
};

/* Connects to t and relays. Consumes down (its input may already hold bytes). */
void wp_tcp_proxy_start(struct wp_worker *w, struct bufferevent *down,
                        const struct wp_downstream_info *info, const struct wp_up_target *t,
                        const struct wp_tcp_meta *meta);
/* Relays between two connected sockets (after a 101). leftover: upstream bytes
 * already read, for the client. */
void wp_tcp_splice(struct wp_worker *w, struct bufferevent *down, struct bufferevent *up,
                   struct evbuffer *leftover, const struct wp_downstream_info *info);

#endif
