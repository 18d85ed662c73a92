#include "fake_api.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct fake_api {
    int lfd;
    int port;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t mu;
    struct fake_request reqs[FAKE_MAX_REQUESTS];
    size_t n;
    fake_handler handler;
    void *arg;
    struct weir_kube_config cfg;
    struct conn *conns;
    atomic_bool skip_gets;
};

static char *read_request(int fd)
{
    size_t cap = 1 << 22, len = 0;
    char *buf = malloc(cap + 1), *end = NULL;
    if (!buf)
        return NULL;
    buf[0] = '\0';
    while (!end) {
        ssize_t r = recv(fd, buf + len, cap - len, 0);
        if (r <= 0) {
            free(buf);
            return NULL;
        }
        len += (size_t)r;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t want = (size_t)(end + 4 - buf);
    const char *cl = strstr(buf, "\r\nContent-Length:");
    if (cl && cl < end)
        want += (size_t)strtoul(cl + 17, NULL, 10);
    while (len < want && len < cap) {
        ssize_t r = recv(fd, buf + len, cap - len, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    return buf;
}

struct conn {
    struct fake_api *f;
    int fd;
    pthread_t thread;
    struct conn *next;
};

/* One thread per connection: clients keep connections alive and several
 * threads of the code under test talk at once. */
static void *serve_conn(void *arg)
{
    struct conn *cn = arg;
    struct fake_api *f = cn->f;
    int fd = cn->fd;
    for (;;) {
        struct pollfd q = {fd, POLLIN, 0};
        while (!atomic_load(&f->stop) && poll(&q, 1, 20) == 0)
            ;
        if (atomic_load(&f->stop))
            break;
        char *raw = read_request(fd);
        if (!raw)
            break;
        struct fake_request req;
        memset(&req, 0, sizeof(req));
        sscanf(raw, "%15s %511s", req.method, req.path);
        char *b = strstr(raw, "\r\n\r\n");
        req.body = strdup(b ? b + 4 : "");
        free(raw);
        char *body = NULL;
        int status = f->handler(f->arg, &req, &body);
        pthread_mutex_lock(&f->mu);
        if (atomic_load(&f->skip_gets) && strcmp(req.method, "GET") == 0)
            free(req.body);
        else if (f->n < FAKE_MAX_REQUESTS)
            f->reqs[f->n++] = req;
        else
            free(req.body);
        pthread_mutex_unlock(&f->mu);
        const char *text = body ? body : "{}";
        char head[256];
        int hl = snprintf(head, sizeof(head),
                          "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\n\r\n",
                          status, strlen(text));
        bool ok = send(fd, head, (size_t)hl, MSG_NOSIGNAL) >= 0 &&
                  send(fd, text, strlen(text), MSG_NOSIGNAL) >= 0;
        free(body);
        if (!ok)
            break;
    }
    close(fd);
    return NULL;
}

static void *serve(void *arg)
{
    struct fake_api *f = arg;
    while (!atomic_load(&f->stop)) {
        struct pollfd p = {f->lfd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0)
            continue;
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        struct conn *cn = calloc(1, sizeof(*cn));
        if (!cn) {
            close(fd);
            continue;
        }
        cn->f = f;
        cn->fd = fd;
        if (pthread_create(&cn->thread, NULL, serve_conn, cn) != 0) {
            close(fd);
            free(cn);
            continue;
        }
        cn->next = f->conns;
        f->conns = cn;
    }
    while (f->conns) {
        struct conn *cn = f->conns;
        f->conns = cn->next;
        pthread_join(cn->thread, NULL);
        free(cn);
    }
    return NULL;
}

struct fake_api *fake_api_start(fake_handler h, void *arg)
{
    struct fake_api *f = calloc(1, sizeof(*f));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    ck_assert_ptr_nonnull(f);
    f->handler = h;
    f->arg = arg;
    pthread_mutex_init(&f->mu, NULL);
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(f->lfd, 0);
    ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(f->lfd, 16), 0);
    getsockname(f->lfd, (struct sockaddr *)&a, &alen);
    f->port = ntohs(a.sin_port);
    pthread_create(&f->thread, NULL, serve, f);
    return f;
}

void fake_api_reset(struct fake_api *f)
{
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->n; i++)
        free(f->reqs[i].body);
    f->n = 0;
    pthread_mutex_unlock(&f->mu);
}

void fake_api_record_gets(struct fake_api *f, bool record)
{
    atomic_store(&f->skip_gets, !record);
}

void fake_api_stop(struct fake_api *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    close(f->lfd);
    fake_api_reset(f);
    weir_kube_config_free(&f->cfg);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

struct weir_kube_client *fake_api_client(struct fake_api *f)
{
    char url[64];
    struct weir_kube_client *c;
    struct weir_kube_error err;
    static const struct weir_kube_client_options o = {
        .qps = -1, .field_manager = "weir-test", .request_timeout_ms = 5000};
    memset(&f->cfg, 0, sizeof(f->cfg));
    pthread_mutex_init(&f->cfg.token_lock, NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", f->port);
    f->cfg.server = strdup(url);
    f->cfg.namespace = strdup("default");
    f->cfg.source = strdup("test");
    ck_assert_int_eq(weir_kube_client_new(&f->cfg, &o, &c, &err), 0);
    return c;
}

void fake_api_client_free(struct weir_kube_client *c)
{
    weir_kube_client_free(c);
}

size_t fake_api_count(struct fake_api *f)
{
    pthread_mutex_lock(&f->mu);
    size_t n = f->n;
    pthread_mutex_unlock(&f->mu);
    return n;
}

struct fake_request fake_api_request(struct fake_api *f, size_t i)
{
    struct fake_request r;
    memset(&r, 0, sizeof(r));
    pthread_mutex_lock(&f->mu);
    if (i < f->n)
        r = f->reqs[i];
    pthread_mutex_unlock(&f->mu);
    return r;
}

/* ---- the informer ---- */

static int list_items(void *arg, const atomic_bool *cancel, json_t **items, char **rv,
                      struct weir_kube_error *err)
{
    (void)cancel;
    (void)err;
    *items = json_deep_copy(arg);
    *rv = strdup("1");
    return 0;
}

static int quiet_watch(void *arg, const char *rv, int timeout, weir_kube_watch_fn fn,
                       weir_kube_idle_fn idle, void *fn_arg, struct weir_kube_error *err)
{
    (void)arg;
    (void)rv;
    (void)timeout;
    (void)fn;
    (void)err;
    for (;;) {
        int rc = idle(fn_arg);
        if (rc != 0)
            return rc;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

struct weir_kube_informer *fake_informer(const struct weir_kube_resource *res, json_t *items)
{
    struct weir_kube_list_watch lw = {list_items, quiet_watch, items};
    struct weir_kube_informer_options o = {.resource = res, .name = "fake"};
    struct weir_kube_informer *inf;
    struct weir_kube_error err;
    ck_assert_int_eq(weir_kube_informer_new_lw(&lw, &o, NULL, &inf, &err), 0);
    ck_assert_int_eq(weir_kube_informer_start(inf, &err), 0);
    ck_assert(weir_kube_informer_wait_synced(inf, 10));
    return inf;
}

void fake_informer_free(struct weir_kube_informer *inf)
{
    weir_kube_informer_free(inf);
}

void fake_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}
