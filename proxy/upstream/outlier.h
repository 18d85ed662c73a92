/*
 * Outlier detection: passive health checking of a cluster's endpoints, per
 * worker, with Envoy's semantics as Istio configures them.
 *
 *   consecutive5xx            that many 5xx answers in a row from an endpoint
 *                             eject it; connect failures and resets before a
 *                             response count as 503 (Envoy without
 *                             split_external_local_origin_errors, Istio's setting);
 *   consecutiveGatewayErrors  the same for 502, 503, 504 only;
 *   baseEjectionTimeMs        an endpoint ejected for the k-th time stays out
 *                             base * k;
 *   intervalMs                the period of the timer that brings ejected
 *                             endpoints back once their time is over;
 *   maxEjectionPercent        an ejection that would put more than that share
 *                             of the endpoints out is not made, except that one
 *                             endpoint may always be ejected when the percent
 *                             is above 0 (Envoy's documented floor);
 *   minHealthPercent          the balancer's panic mode (lb/balancer.h).
 *
 * Ejection happens at once when a threshold is reached (as Envoy's consecutive
 * detectors do); the un-ejection waits for the next interval tick. A success
 * resets both counters; a 5xx that is not a gateway error resets the gateway
 * counter. Not done: success-rate and failure-percentage detection, the
 * decrement of the ejection count after healthy intervals, maxEjectionTime.
 *
 * One detector per cluster per worker per snapshot, beside the balancer it
 * drives through wp_lb_set_available(). Return convention: constructors return
 * NULL when memory runs out; wp_outlier_report() returns true when it ejected.
 */
#ifndef WP_UPSTREAM_OUTLIER_H
#define WP_UPSTREAM_OUTLIER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/proxy_config.h"

struct event_base;
struct wp_lb;
struct wp_outlier;

/* WP_OUTLIER_LOCAL_FAILURE: a connect failure or a reset before the response. */
#define WP_OUTLIER_LOCAL_FAILURE 503

/* base may be NULL (no interval timer: the caller runs wp_outlier_sweep()).
 * ejections, when given, is incremented once per ejection. The cluster and the
 * balancer must outlive the detector. */
struct wp_outlier *wp_outlier_new(struct event_base *base, const struct weir_pc_cluster *cluster,
                                  struct wp_lb *lb, _Atomic uint64_t *ejections);
void wp_outlier_destroy(struct wp_outlier *o);

/* The outcome of one exchange with an endpoint: an HTTP status, or
 * WP_OUTLIER_LOCAL_FAILURE. now_us: a monotonic clock. */
bool wp_outlier_report(struct wp_outlier *o, int endpoint, int status, uint64_t now_us);
/* Brings back the endpoints whose ejection time is over; the interval timer's work. */
void wp_outlier_sweep(struct wp_outlier *o, uint64_t now_us);

bool wp_outlier_ejected(const struct wp_outlier *o, int endpoint);
unsigned wp_outlier_n_ejected(const struct wp_outlier *o);

#endif
