/*
 * An accepted downstream connection until its protocol is known, and the facts
 * about it that every later layer reads (struct wp_downstream_info).
 *
 * Protocol selection, per connection:
 *   - the destination port is declared tcp/tls/https (outbound: the service found
 *     by original destination; inbound: this workload's port) -> TCP at once, since
 *     server-first protocols would never send a byte to look at; except an outbound
 *     port with tls routes, where the ClientHello is read first for its server name
 *     (tls/sni.h) to match sniHosts;
 *   - otherwise the first bytes are read (up to the header timeout on ports declared
 *     HTTP, up to --protocol-detection-timeout elsewhere):
 *       "PRI * HTTP/2.0..."  -> HTTP/2 with prior knowledge (h2c, gRPC);
 *       "<METHOD> "           -> HTTP/1.1;
 *       anything else, or nothing before the timeout on an undeclared port -> TCP.
 * The bytes read stay in the connection's input buffer for the chosen protocol.
 */
#ifndef WP_CORE_CONN_H
#define WP_CORE_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/addr.h"
#include "core/proxy.h"

struct wp_worker;
struct wp_listener;
struct bufferevent;
struct wp_wsnap;

struct wp_downstream_info {
    enum wp_direction dir;
    struct sockaddr_storage peer;
    struct sockaddr_storage local;
    struct sockaddr_storage dst; /* original destination */
    bool dst_from_local;         /* not redirected: the local address stands in */
    bool dst_is_listener;        /* dst is this proxy's own listener (never connect there) */
    char peer_ip[WP_ADDR_STRLEN];
    char peer_text[WP_ADDR_STRLEN];
    char dst_text[WP_ADDR_STRLEN];
    uint16_t dst_port;
    int dst_family;
    uint8_t dst_ip[16];
    uint64_t id;
    char sni[256]; /* the ClientHello's server name on a TLS port with tls routes, or "" */
};

void wp_conn_accept(struct wp_worker *w, int fd, struct wp_listener *li);

/* Where a TCP connection goes once its protocol is known to be opaque: decided
 * from the snapshot (TCP routes, passthrough, inbound). Consumes down. */
void wp_conn_start_tcp(struct wp_worker *w, struct bufferevent *down,
                       const struct wp_downstream_info *info, bool http2_preface);

#endif
