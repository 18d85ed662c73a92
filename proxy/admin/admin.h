/*
 * The admin, health and Prometheus endpoints, served by libevent's HTTP server on
 * the main thread (never on a worker, so a slow scrape cannot delay a request):
 *
 *   admin (127.0.0.1:15000)  /config_dump /clusters /stats /ready /logging?level=
 *                            POST /drain_listeners  POST /quitquitquit
 *   health (:15021)          /healthz/ready
 *   metrics (:15090)         /stats/prometheus
 */
#ifndef WP_ADMIN_ADMIN_H
#define WP_ADMIN_ADMIN_H

#include <stdint.h>

struct wp_proxy;
struct wp_admin;

/* Binds the three servers; NULL (logged) when one cannot be bound. */
struct wp_admin *wp_admin_start(struct wp_proxy *p, const char *admin_addr, uint16_t admin_port,
                                const char *bind_addr, uint16_t health_port, uint16_t metrics_port);
void wp_admin_free(struct wp_admin *a);

#endif
