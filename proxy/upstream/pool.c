#include "upstream/pool.h"
#include "core/timer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "tls/client.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static void uc_free(struct wp_deferred *d)
{
    struct wp_upconn *uc = wp_container_of(d, struct wp_upconn, dfree);
    wp_list_remove(&uc->link);
    wp_tls_client_unref(uc->tls);
    if (uc->timer)
        event_free(uc->timer);
    free(uc);
}

void wp_upconn_close(struct wp_upconn *uc)
{
    if (uc->state == WP_UC_CLOSED)
        return;
    if (wp_list_linked(&uc->idle_link)) {
        wp_list_remove(&uc->idle_link);
        uc->bucket->n_idle--;
    }
    uc->state = WP_UC_CLOSED;
    if (uc->timer)
        event_del(uc->timer);
    if (uc->bev) {
        bufferevent_free(uc->bev);
        uc->bev = NULL;
    }
    WP_DEC(&uc->w->stats, WP_C_UPSTREAM_CX_ACTIVE);
    if (uc->eps)
        wp_stat_sub(&uc->eps->cx_active, 1);
    uc->h = NULL;
    uc->owner = NULL;
    wp_worker_defer_free(uc->w, &uc->dfree, uc_free);
}

struct bufferevent *wp_upconn_detach(struct wp_upconn *uc)
{
    struct bufferevent *bev = uc->bev;
    uc->bev = NULL;
    wp_upconn_close(uc);
    return bev;
}

/* Set only while a `failed` callback runs (see wp_upconn_failure_detail). */
static _Thread_local const char *fail_detail;

const char *wp_upconn_failure_detail(void)
{
    return fail_detail;
}

static void fail_with(struct wp_upconn *uc, enum wp_up_fail why, const char *detail)
{
    const struct wp_upconn_handler *h = uc->h;
    void *owner = uc->owner;
    WP_INC(&uc->w->stats, WP_C_UPSTREAM_CX_CONNECT_FAIL);
    if (why == WP_UP_CONNECT_TIMEOUT)
        WP_INC(&uc->w->stats, WP_C_UPSTREAM_CX_CONNECT_TIMEOUT);
    if (uc->eps)
        wp_stat_add(&uc->eps->cx_connect_fail, 1);
    wp_upconn_close(uc);
    if (h) {
        fail_detail = detail;
        h->failed(owner, why);
        fail_detail = NULL;
    }
}

static void fail(struct wp_upconn *uc, enum wp_up_fail why)
{
    fail_with(uc, why, NULL);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct wp_upconn *uc = arg;
    if (uc->state == WP_UC_CONNECTING && uc->tls && wp_tls_client_error(uc->tls))
        fail_with(uc, WP_UP_CONNECT_FAILED, wp_tls_client_error(uc->tls));
    else if (uc->state == WP_UC_CONNECTING)
        fail(uc, uc->bev ? WP_UP_CONNECT_TIMEOUT : WP_UP_CONNECT_FAILED);
    else if (uc->state == WP_UC_IDLE)
        wp_upconn_close(uc);
}

static void connect_event_cb(struct bufferevent *bev, short events, void *arg);

/* TCP is up: the TLS handshake starts on a filter over the socket. */
static void start_tls(struct wp_upconn *uc)
{
    struct bufferevent *tls = wp_tls_client_wrap(uc->tls, uc->w->base, uc->bev);
    uc->bev = tls;                /* the socket bufferevent belongs to the filter, or is gone */
    wp_tls_client_unref(uc->tls); /* the SSL holds what it needs */
    uc->tls = NULL;
    if (!tls) {
        fail_with(uc, WP_UP_CONNECT_FAILED, "TLS_error: cannot start the handshake");
        return;
    }
    bufferevent_setcb(tls, NULL, NULL, connect_event_cb, uc);
    bufferevent_enable(tls, EV_READ | EV_WRITE);
}

static void connect_event_cb(struct bufferevent *bev, short events, void *arg)
{
    struct wp_upconn *uc = arg;
    if (uc->state != WP_UC_CONNECTING)
        return;
    if ((events & BEV_EVENT_CONNECTED) && uc->tls) {
        start_tls(uc);
        return;
    }
    if (events & BEV_EVENT_CONNECTED) {
        event_del(uc->timer);
        uc->state = WP_UC_BUSY;
        if (uc->h)
            uc->h->connected(uc->owner);
        return;
    }
    if (bufferevent_openssl_get_ssl(bev)) {
        char why[512];
        wp_tls_client_failure(bev, why, sizeof(why));
        weir_log(WEIR_LOG_DEBUG, "upstream TLS handshake failed", "upstream", uc->peer, "reason",
                 why, NULL);
        fail_with(uc, WP_UP_CONNECT_FAILED, why);
        return;
    }
    fail(uc, WP_UP_CONNECT_FAILED);
}

static void idle_read_cb(struct bufferevent *bev, void *arg)
{
    /* an upstream that talks while idle is out of step with HTTP/1.1; drop it */
    wp_upconn_close(arg);
}

static void idle_event_cb(struct bufferevent *bev, short events, void *arg)
{
    wp_upconn_close(arg);
}

/* Appends len bytes to a pool key; past cap only the length grows. */
static size_t key_put(char *key, size_t cap, size_t o, const void *data, size_t len)
{
    if (o + len <= cap)
        memcpy(key + o, data, len);
    return o + len;
}

/* The family, port and address of sa, or one 0 byte when sa is NULL. */
static size_t key_put_addr(char *key, size_t cap, size_t o, const struct sockaddr *sa)
{
    unsigned char fam = sa ? (unsigned char)sa->sa_family : 0;
    o = key_put(key, cap, o, &fam, 1);
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        o = key_put(key, cap, o, &s4->sin_port, sizeof(s4->sin_port));
        o = key_put(key, cap, o, &s4->sin_addr, sizeof(s4->sin_addr));
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        o = key_put(key, cap, o, &s6->sin6_port, sizeof(s6->sin6_port));
        o = key_put(key, cap, o, &s6->sin6_addr, sizeof(s6->sin6_addr));
        o = key_put(key, cap, o, &s6->sin6_scope_id, sizeof(s6->sin6_scope_id));
    }
    return o;
}

/* The pool key is binary (cluster, destination, passthrough source, TLS context):
 * formatting it as text took about 5,000 instructions per request under callgrind. */
static struct wp_pool_bucket *bucket_for(struct wp_worker *w, const struct wp_up_target *t)
{
    char key[512];
    uint64_t tls = t->tls ? (uint64_t)wp_tls_client_id(t->tls) : 0;
    struct wp_pool_bucket *b;
    size_t n = key_put(key, sizeof(key), 0, t->cluster, strlen(t->cluster) + 1);
    if (t->host) {
        n = key_put(key, sizeof(key), n, "h", 1);
        n = key_put(key, sizeof(key), n, t->host, strlen(t->host) + 1);
        n = key_put(key, sizeof(key), n, &t->port, sizeof(t->port));
    } else {
        n = key_put(key, sizeof(key), n, "a", 1);
        n = key_put_addr(key, sizeof(key), n, (const struct sockaddr *)&t->addr);
    }
    n = key_put_addr(key, sizeof(key), n, t->bind_src);
    /* a TLS context belongs to one snapshot: a connection is reused only under
     * the settings that opened it */
    n = key_put(key, sizeof(key), n, &tls, sizeof(tls));
    if (n > sizeof(key))
        return NULL;
    b = wp_strmap_get(&w->pools, key, n);
    if (b)
        return b;
    if (!(b = calloc(1, sizeof(*b))))
        return NULL;
    wp_list_init(&b->idle);
    if (wp_strmap_put(&w->pools, key, n, b, NULL) < 0) {
        free(b);
        return NULL;
    }
    return b;
}

static void set_keepalive(int fd, const struct weir_pc_connection_pool *cp)
{
    int one = 1, v;
    if (!cp || !cp->keepalive)
        return;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    if (cp->keepalive_probes > 0) {
        v = (int)cp->keepalive_probes;
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &v, sizeof(v));
    }
    if (cp->keepalive_time_ms > 0) {
        v = (int)((cp->keepalive_time_ms + 999) / 1000);
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof(v));
    }
    if (cp->keepalive_interval_ms > 0) {
        v = (int)((cp->keepalive_interval_ms + 999) / 1000);
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v, sizeof(v));
    }
}

struct wp_upconn *wp_pool_acquire(struct wp_worker *w, const struct wp_up_target *t,
                                  const struct wp_upconn_handler *h, void *owner)
{
    struct wp_pool_bucket *b = t->poolable ? bucket_for(w, t) : NULL;
    struct wp_upconn *uc;
    int fd = -1, one = 1;
    int rc;

    if (b && b->n_idle) {
        uc = wp_container_of(b->idle.next, struct wp_upconn, idle_link);
        wp_list_remove(&uc->idle_link);
        b->n_idle--;
        event_del(uc->timer);
        uc->state = WP_UC_BUSY;
        uc->reused = true;
        uc->h = h;
        uc->owner = owner;
        uc->requests++;
        bufferevent_setcb(uc->bev, NULL, NULL, NULL, NULL);
        return uc;
    }

    if (!(uc = calloc(1, sizeof(*uc))))
        return NULL;
    uc->w = w;
    uc->bucket = b;
    wp_list_init(&uc->idle_link);
    uc->state = WP_UC_CONNECTING;
    uc->idle_timeout_ms = t->idle_timeout_ms;
    uc->max_requests = t->max_requests;
    uc->requests = 1;
    uc->h = h;
    uc->owner = owner;
    uc->tls = t->tls;
    if (uc->tls)
        wp_tls_client_ref(uc->tls);
    if (t->host)
        snprintf(uc->peer, sizeof(uc->peer), "%s:%u", t->host, t->port);
    else
        wp_addr_format((const struct sockaddr *)&t->addr, uc->peer, sizeof(uc->peer));
    if (!(uc->timer = evtimer_new(w->base, timer_cb, uc))) {
        wp_tls_client_unref(uc->tls);
        free(uc);
        return NULL;
    }
    wp_list_insert_tail(&w->upconns, &uc->link);
    WP_INC(&w->stats, WP_C_UPSTREAM_CX_TOTAL);
    WP_INC(&w->stats, WP_C_UPSTREAM_CX_ACTIVE);
    uc->eps = wp_stats_endpoint(&w->stats, t->cluster, uc->peer);
    if (uc->eps) {
        wp_stat_add(&uc->eps->cx_total, 1);
        wp_stat_add(&uc->eps->cx_active, 1);
    }

    if (t->tls && wp_tls_client_error(t->tls))
        goto fail_soon; /* the context could not be built: the timer reports why */
    if (!t->host) {
        fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            goto fail_soon;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        set_keepalive(fd, t->tcp);
        if (t->bind_src && t->bind_src->sa_family == t->addr.ss_family) {
            /* the port is picked at connect time, so binding does not use up
             * ephemeral ports per source address */
            setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
            if (bind(fd, t->bind_src, wp_addr_len(t->bind_src)) == 0)
                uc->bound_passthrough = true;
            else
                weir_logf(WEIR_LOG_DEBUG, "cannot bind the passthrough source: %s",
                          strerror(errno));
        }
    }
    uc->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!uc->bev) {
        if (fd >= 0)
            close(fd);
        goto fail_soon;
    }
    bufferevent_setcb(uc->bev, NULL, NULL, connect_event_cb, uc);
    wp_timer_arm_ms(uc->timer, t->connect_timeout_ms > 0 ? t->connect_timeout_ms : 10000);
    if (t->host)
        rc = bufferevent_socket_connect_hostname(uc->bev, w->dns, AF_UNSPEC, t->host, t->port);
    else
        rc = bufferevent_socket_connect(uc->bev, (const struct sockaddr *)&t->addr, t->addr_len);
    if (rc < 0) {
        /* the failure is reported from the loop, never from inside acquire */
        bufferevent_free(uc->bev);
        uc->bev = NULL;
        goto fail_soon;
    }
    return uc;

fail_soon:
    wp_timer_arm_ms(uc->timer, 0);
    return uc;
}

void wp_upconn_release(struct wp_upconn *uc, bool reusable)
{
    struct wp_pool_bucket *b = uc->bucket;
    if (uc->state != WP_UC_BUSY)
        return;
    if (!reusable || !b || uc->w->draining || b->n_idle >= WP_POOL_MAX_IDLE ||
        (uc->max_requests && uc->requests >= uc->max_requests) ||
        evbuffer_get_length(bufferevent_get_output(uc->bev)) ||
        evbuffer_get_length(bufferevent_get_input(uc->bev))) {
        wp_upconn_close(uc);
        return;
    }
    uc->state = WP_UC_IDLE;
    uc->h = NULL;
    uc->owner = NULL;
    bufferevent_setcb(uc->bev, idle_read_cb, NULL, idle_event_cb, uc);
    bufferevent_setwatermark(uc->bev, EV_READ, 0, 0);
    bufferevent_setwatermark(uc->bev, EV_WRITE, 0, 0);
    bufferevent_enable(uc->bev, EV_READ);
    wp_list_insert_head(&b->idle, &uc->idle_link);
    b->n_idle++;
    if (uc->idle_timeout_ms > 0)
        wp_timer_arm_ms(uc->timer, uc->idle_timeout_ms);
}

bool wp_cluster_speaks_h2(const struct weir_pc_cluster *c)
{
    switch (c->protocol) {
    case WEIR_PC_PROTO_HTTP2:
    case WEIR_PC_PROTO_GRPC:
        return true;
    case WEIR_PC_PROTO_HTTP:
        return c->connection_pool.h2_upgrade_policy == WEIR_PC_H2_UPGRADE;
    default:
        return false;
    }
}

void wp_up_target_cluster(struct wp_up_target *t, const struct weir_pc_cluster *c)
{
    const struct weir_pc_connection_pool *cp = &c->connection_pool;
    t->cluster = c->name;
    t->connect_timeout_ms = cp->connect_timeout_ms;
    t->idle_timeout_ms = cp->idle_timeout_ms;
    t->max_requests =
        cp->max_requests_per_connection > 0 ? (uint64_t)cp->max_requests_per_connection : 0;
    t->tcp = cp;
}

void wp_up_target_endpoint(struct wp_up_target *t, const struct weir_pc_endpoint *ep)
{
    memset(&t->addr, 0, sizeof(t->addr));
    t->host = NULL;
    if (ep->ip.family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&t->addr;
        a->sin_family = AF_INET;
        memcpy(&a->sin_addr, ep->ip.addr, 4);
        a->sin_port = htons(ep->port);
        t->addr_len = sizeof(*a);
    } else if (ep->ip.family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&t->addr;
        a->sin6_family = AF_INET6;
        memcpy(&a->sin6_addr, ep->ip.addr, 16);
        a->sin6_port = htons(ep->port);
        t->addr_len = sizeof(*a);
    } else {
        t->host = ep->address;
        t->port = ep->port;
    }
}

void wp_up_target_inbound(struct wp_up_target *t, uint16_t port, const struct weir_pc_cidr *source,
                          struct sockaddr_storage *src_storage)
{
    struct sockaddr_in *a = (struct sockaddr_in *)&t->addr;
    memset(&t->addr, 0, sizeof(t->addr));
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->sin_port = htons(port);
    t->addr_len = sizeof(*a);
    t->host = NULL;
    t->bind_src = NULL;
    if (src_storage && source && source->family == AF_INET) {
        struct sockaddr_in *b = (struct sockaddr_in *)src_storage;
        memset(src_storage, 0, sizeof(*src_storage));
        b->sin_family = AF_INET;
        memcpy(&b->sin_addr, source->addr, 4);
        t->bind_src = (struct sockaddr *)src_storage;
    }
}

void wp_pool_shutdown(struct wp_worker *w)
{
    for (struct wp_list *it = w->upconns.next; it != &w->upconns; it = it->next) {
        struct wp_upconn *uc = wp_container_of(it, struct wp_upconn, link);
        wp_upconn_close(uc);
    }
    wp_strmap_free(&w->pools, free);
}
