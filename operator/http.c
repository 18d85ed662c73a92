#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#if MHD_VERSION < 0x00097002
typedef int mhd_result;
#else
typedef enum MHD_Result mhd_result;
#endif

struct weir_op_http {
    struct weir_op_http_options o;
    struct MHD_Daemon *daemon;
    uint16_t port;
};

int weir_op_parse_listen(const char *text, char *addr, size_t addrlen, uint16_t *port)
{
    const char *colon = strrchr(text, ':');
    const char *host = text;
    size_t hlen;
    char *end;

    if (!colon)
        return -1;
    hlen = (size_t)(colon - text);
    if (hlen && text[0] == '[') {
        if (hlen < 2 || text[hlen - 1] != ']')
            return -1;
        host = text + 1;
        hlen -= 2;
    }
    if (hlen == 0) {
        host = "0.0.0.0";
        hlen = strlen(host);
    }
    if (hlen >= addrlen)
        return -1;
    memcpy(addr, host, hlen);
    addr[hlen] = '\0';
    long p = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end || p < 0 || p > 65535)
        return -1;
    *port = (uint16_t)p;
    return 0;
}

/* owned: body was malloc'd and MHD frees it; otherwise it is static. */
static mhd_result reply(struct MHD_Connection *c, unsigned status, const char *type,
                        const char *body, size_t len, bool owned)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, (void *)body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (owned)
            free((void *)body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    mhd_result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static mhd_result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                         const char *version, const char *upload_data, size_t *upload_size,
                         void **state)
{
    struct weir_op_http *h = cls;
    static const char text[] = "text/plain; charset=utf-8";

    (void)version;
    (void)upload_data;
    if (!*state) {
        /* the first call only announces the request */
        *state = (void *)1;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0; /* bodies are not read */
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(c, 405, text, "method not allowed\n", 19, false);
    if (strcmp(url, "/healthz") == 0)
        return reply(c, 200, text, "ok\n", 3, false);
    if (strcmp(url, "/readyz") == 0) {
        if (!h->o.ready || h->o.ready(h->o.ready_arg))
            return reply(c, 200, text, "ok\n", 3, false);
        return reply(c, 503, text, "informers not synced\n", 21, false);
    }
    if (strcmp(url, "/metrics") == 0) {
        size_t len = 0;
        char *body = weir_op_metrics_render(h->o.metrics, &len);
        if (!body)
            return reply(c, 500, text, "out of memory\n", 14, false);
        return reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", body, len, true);
    }
    return reply(c, 404, text, "not found\n", 10, false);
}

int weir_op_http_start(const struct weir_op_http_options *opts, struct weir_op_http **out,
                       char *err, size_t errlen)
{
    struct weir_op_http *h = calloc(1, sizeof(*h));
    struct sockaddr_storage ss;
    socklen_t sl;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

    *out = NULL;
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    h->o = *opts;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, opts->address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(opts->port);
        sl = sizeof(*v4);
    } else if (inet_pton(AF_INET6, opts->address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(opts->port);
        sl = sizeof(*v6);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errlen, "listen address \"%s\" is not an IP address", opts->address);
        free(h);
        return -1;
    }
    (void)sl;
    h->daemon =
        MHD_start_daemon(flags, opts->port, NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, errlen, "cannot listen on %s:%u (in use, or not a local address)",
                 opts->address, (unsigned)opts->port);
        free(h);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : opts->port;
    *out = h;
    return 0;
}

uint16_t weir_op_http_port(struct weir_op_http *h)
{
    return h->port;
}

void weir_op_http_stop(struct weir_op_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
