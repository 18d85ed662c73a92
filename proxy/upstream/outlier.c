#include "upstream/outlier.h"
#include "core/timer.h"

#include <event2/event.h>
#include <stdlib.h>
#include <time.h>

#include "core/log.h"
#include "lb/balancer.h"

struct outlier_host {
    uint64_t consecutive_5xx;
    uint64_t consecutive_gateway;
    uint64_t times_ejected;
    uint64_t ejected_at_us;
    bool ejected;
};

struct wp_outlier {
    const struct weir_pc_cluster *cluster;
    const struct weir_pc_outlier_detection *od;
    struct wp_lb *lb;
    struct event *timer;
    _Atomic uint64_t *ejections;
    unsigned n_ejected;
    size_t n;
    struct outlier_host hosts[];
};

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void interval_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wp_outlier_sweep(arg, mono_us());
}

struct wp_outlier *wp_outlier_new(struct event_base *base, const struct weir_pc_cluster *cluster,
                                  struct wp_lb *lb, _Atomic uint64_t *ejections)
{
    struct wp_outlier *o;
    if (!cluster->outlier_detection)
        return NULL;
    o = calloc(1, sizeof(*o) + cluster->n_endpoints * sizeof(o->hosts[0]));
    if (!o)
        return NULL;
    o->cluster = cluster;
    o->od = cluster->outlier_detection;
    o->lb = lb;
    o->ejections = ejections;
    o->n = cluster->n_endpoints;
    if (base) {
        int64_t ms = o->od->interval_ms > 0 ? o->od->interval_ms : 10000;
        o->timer = event_new(base, -1, EV_PERSIST, interval_cb, o);
        if (!o->timer || wp_timer_arm_ms(o->timer, ms) < 0) {
            wp_outlier_destroy(o);
            return NULL;
        }
    }
    return o;
}

void wp_outlier_destroy(struct wp_outlier *o)
{
    if (!o)
        return;
    if (o->timer)
        event_free(o->timer);
    free(o);
}

static bool may_eject(const struct wp_outlier *o)
{
    uint64_t max = o->od->max_ejection_percent;
    if (max == 0)
        return false;
    if (o->n_ejected == 0)
        return true;
    return ((uint64_t)o->n_ejected + 1) * 100 <= max * (uint64_t)o->n;
}

static bool eject(struct wp_outlier *o, int endpoint, uint64_t now_us, const char *why)
{
    struct outlier_host *h = &o->hosts[endpoint];
    if (!may_eject(o))
        return false;
    h->ejected = true;
    h->times_ejected++;
    h->ejected_at_us = now_us;
    o->n_ejected++;
    wp_lb_set_available(o->lb, endpoint, false);
    if (o->ejections)
        atomic_store_explicit(o->ejections,
                              atomic_load_explicit(o->ejections, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    weir_log(WEIR_LOG_INFO, "outlier ejected", "cluster", o->cluster->name, "endpoint",
             o->cluster->endpoints[endpoint].address, "reason", why, NULL);
    return true;
}

bool wp_outlier_report(struct wp_outlier *o, int endpoint, int status, uint64_t now_us)
{
    struct outlier_host *h;
    const struct weir_pc_outlier_detection *od;
    if (!o || endpoint < 0 || (size_t)endpoint >= o->n)
        return false;
    h = &o->hosts[endpoint];
    od = o->od;
    if (status < 500 || status > 599) {
        h->consecutive_5xx = 0;
        h->consecutive_gateway = 0;
        return false;
    }
    h->consecutive_5xx++;
    if (status == 502 || status == 503 || status == 504)
        h->consecutive_gateway++;
    else
        h->consecutive_gateway = 0;
    if (h->ejected)
        return false;
    if (od->consecutive_gateway_errors > 0 &&
        h->consecutive_gateway >= (uint64_t)od->consecutive_gateway_errors &&
        eject(o, endpoint, now_us, "consecutive_gateway_errors")) {
        h->consecutive_5xx = h->consecutive_gateway = 0;
        return true;
    }
    if (od->consecutive_5xx > 0 && h->consecutive_5xx >= (uint64_t)od->consecutive_5xx &&
        eject(o, endpoint, now_us, "consecutive_5xx")) {
        h->consecutive_5xx = h->consecutive_gateway = 0;
        return true;
    }
    return false;
}

void wp_outlier_sweep(struct wp_outlier *o, uint64_t now_us)
{
    uint64_t base_us = (uint64_t)o->od->base_ejection_time_ms * 1000u;
    for (size_t i = 0; i < o->n; i++) {
        struct outlier_host *h = &o->hosts[i];
        if (!h->ejected || now_us < h->ejected_at_us + base_us * h->times_ejected)
            continue;
        h->ejected = false;
        h->consecutive_5xx = h->consecutive_gateway = 0;
        o->n_ejected--;
        wp_lb_set_available(o->lb, (int)i, true);
        weir_log(WEIR_LOG_INFO, "outlier returned", "cluster", o->cluster->name, "endpoint",
                 o->cluster->endpoints[i].address, NULL);
    }
}

bool wp_outlier_ejected(const struct wp_outlier *o, int endpoint)
{
    return o && endpoint >= 0 && (size_t)endpoint < o->n && o->hosts[endpoint].ejected;
}

unsigned wp_outlier_n_ejected(const struct wp_outlier *o)
{
    return o ? o->n_ejected : 0;
}
