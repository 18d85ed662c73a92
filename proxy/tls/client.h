/*
 * TLS origination: the client side of DestinationRule `tls` modes simple and
 * mutual, on OpenSSL.
 *
 * One wp_tls_client per cluster per config snapshot: built when the snapshot is
 * loaded (wp_tls_client_new), shared read-only by every worker (an SSL_CTX is safe
 * to create SSL objects from on many threads) and released with the snapshot. A
 * connection being opened holds a reference (wp_tls_client_ref) until its SSL
 * exists, and an SSL holds the SSL_CTX, so connections may outlive the snapshot.
 *
 * After the TCP connect the pool wraps the socket bufferevent in an OpenSSL
 * filter bufferevent (wp_tls_client_wrap); the handshake then runs in the event
 * loop and ends with BEV_EVENT_CONNECTED or BEV_EVENT_ERROR on the filter.
 *
 * What is checked, unless insecureSkipVerify: the chain against caCertificates
 * (the system store when absent), then the leaf's subjectAltName against
 * `subjectAltNames` (DNS names with X509_check_host, IP addresses, URIs such as
 * SPIFFE IDs compared exactly), or, when the list is empty, against the SNI.
 * SNI is `sni`, else the cluster's service host (never an IP literal). ALPN offers
 * h2 for http2/grpc clusters and http/1.1 for http clusters.
 */
#ifndef WP_TLS_CLIENT_H
#define WP_TLS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/proxy_config.h"

struct bufferevent;
struct event_base;

struct wp_tls_client;

/* true for the modes this module originates (simple, mutual). */
bool wp_tls_cluster_originates(const struct weir_pc_cluster *c);

/* Builds the client context of a cluster. Never NULL except out of memory: a
 * context that cannot be built (unreadable file, key mismatch) is returned
 * unusable, and wp_tls_client_error() says why; connections then fail with it. */
struct wp_tls_client *wp_tls_client_new(const struct weir_pc_cluster *c);
void wp_tls_client_ref(struct wp_tls_client *tc);
/* Drops a reference; the last one frees. Any thread. */
void wp_tls_client_unref(struct wp_tls_client *tc);
/* NULL when usable, else why not (with the cluster name). */
const char *wp_tls_client_error(const struct wp_tls_client *tc);
/* Unique per context for the life of the process (pool keys). */
uint64_t wp_tls_client_id(const struct wp_tls_client *tc);

/* Wraps a connected socket bufferevent; the handshake starts at once. Takes
 * `under` (freed with the returned filter), also on failure (NULL). */
struct bufferevent *wp_tls_client_wrap(const struct wp_tls_client *tc, struct event_base *base,
                                       struct bufferevent *under);

/* Why the handshake on bev failed, for logs and response details: the
 * certificate verification result or the OpenSSL error queue of the connection. */
void wp_tls_client_failure(struct bufferevent *bev, char *buf, size_t cap);

/* Half-close of a TLS bufferevent: sends close_notify. false if bev is not TLS
 * (the caller then shuts the socket down). */
bool wp_tls_shutdown(struct bufferevent *bev);

#endif
