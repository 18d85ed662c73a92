/*
 * The HTTPS server of weir-webhook: libmicrohttpd with TLS (GnuTLS inside
 * Debian's build), a worker thread pool, bounded request bodies, and serving
 * certificates that are reloaded when their files change.
 *
 * Certificate rotation: the server owns the listening socket. When the cert
 * or key file changes (a Secret volume swaps its ..data link, cert-manager
 * renews, a test overwrites the files), the new pair is first loaded into a
 * daemon that does not listen; if GnuTLS accepts it, the running daemon is
 * quiesced (it stops accepting but finishes its connections) and a new daemon
 * takes over the same socket. The old one is stopped once its last request is
 * done or after the drain period. No connection is refused during the swap;
 * a bad pair is logged and the old certificate stays in service.
 *
 * Return convention: pointers NULL on failure with a sentence in err; ints 0
 * success, -1 failure.
 */
#ifndef WEIR_WEBHOOK_SERVER_H
#define WEIR_WEBHOOK_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct weir_http_request {
    const char *method;
    const char *path;
    const char *body; /* NUL-terminated for convenience; NULL when too large */
    size_t body_len;
    bool too_large; /* the body passed the limit: answer 413 */
    size_t max_body;
};

struct weir_http_response {
    int status;
    const char *content_type;
    char *body; /* malloc'd, freed by the server */
    size_t body_len;
};

/* Called on a worker thread for each complete request; must fill resp. */
typedef void (*weir_http_handler)(void *ctx, const struct weir_http_request *req,
                                  struct weir_http_response *resp);

struct weir_server_config {
    const char *address; /* numeric IPv4 or IPv6 address */
    uint16_t port;       /* 0 picks a free port; see weir_server_port() */
    const char *cert_file;
    const char *key_file;
    size_t max_body;
    unsigned threads;
    unsigned connection_timeout_s; /* idle keep-alive connections close after this */
    unsigned drain_s;              /* how long a replaced daemon may finish requests */
    weir_http_handler handler;
    void *handler_ctx;
};

struct weir_server;

struct weir_server *weir_server_start(const struct weir_server_config *cfg, char *err,
                                      size_t errlen);

/* Looks at the certificate files; when they changed since the last look (or
 * force), loads them. Returns 1 reloaded, 0 unchanged, -1 the new files were
 * refused (the old certificate stays). Also stops replaced daemons whose
 * drain period is over. Call it from one thread, every few seconds. */
int weir_server_maintain(struct weir_server *s, bool force);

uint16_t weir_server_port(const struct weir_server *s);
/* notAfter of the certificate in service, seconds since the epoch, 0 unknown. */
double weir_server_cert_not_after(const struct weir_server *s);

/* Stops accepting, waits up to grace_s for requests in progress, then stops
 * and frees everything. */
void weir_server_stop(struct weir_server *s, unsigned grace_s);

#endif
