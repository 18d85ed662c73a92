/*
 * The client against canned HTTP answers from a small server on loopback in
 * this process (curl's own tests work the same way): the exact requests the
 * client sends, how it reads answers, errors, streams and size limits.
 * Nothing leaves 127.0.0.1.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kube/client.h"
#include "kube/watch.h"

#define DATA WEIR_TEST_DATA "/kube/"

/* ---- canned server ------------------------------------------------------------------ */

struct canned {
    int status;
    const char *body;
    size_t chunk;     /* > 0: chunked transfer in pieces of this size */
    bool close_after; /* close the connection after this answer */
};

#define MAX_REQ 32

struct server {
    int lfd;
    int port;
    pthread_t thread;
    const struct canned *script;
    size_t nscript, next;
    char *requests[MAX_REQ];
    int nreq;
    int connections;
    atomic_bool stop;
    pthread_mutex_t mu;
};

static const char *reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 404:
        return "Not Found";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 503:
        return "Service Unavailable";
    default:
        return "Whatever";
    }
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void respond(int fd, const struct canned *c)
{
    char head[512];
    size_t len = strlen(c->body);
    if (c->chunk == 0) {
        snprintf(
            head, sizeof(head),
            "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
            c->status, reason_of(c->status), len, c->close_after ? "Connection: close\r\n" : "");
        write_all(fd, head, strlen(head));
        write_all(fd, c->body, len);
        return;
    }
    snprintf(
        head, sizeof(head),
        "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        c->status, reason_of(c->status));
    write_all(fd, head, strlen(head));
    for (size_t off = 0; off < len; off += c->chunk) {
        size_t n = len - off < c->chunk ? len - off : c->chunk;
        char size[32];
        snprintf(size, sizeof(size), "%zx\r\n", n);
        write_all(fd, size, strlen(size));
        write_all(fd, c->body + off, n);
        write_all(fd, "\r\n", 2);
        /* separate TCP segments, so the client sees the pieces */
        struct timespec ts = {0, 300 * 1000};
        nanosleep(&ts, NULL);
    }
    write_all(fd, "0\r\n\r\n", 5);
}

/* Reads one request (headers and a Content-Length body); NULL at EOF. */
static char *read_request(int fd)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    char *end = NULL;
    while (!end) {
        if (len == cap)
            break;
        ssize_t r = recv(fd, buf + len, cap - len, 0);
        if (r <= 0) {
            free(buf);
            return NULL;
        }
        len += (size_t)r;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    if (!end) {
        free(buf);
        return NULL;
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

static void *serve(void *arg)
{
    struct server *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {s->lfd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0)
            continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&s->mu);
        s->connections++;
        pthread_mutex_unlock(&s->mu);
        for (;;) {
            char *req = read_request(fd);
            if (!req)
                break;
            const struct canned *c = NULL;
            static const struct canned none = {500,
                                               "{\"kind\":\"Status\",\"message\":\"script "
                                               "used up\"}",
                                               0, true};
            pthread_mutex_lock(&s->mu);
            if (s->nreq < MAX_REQ)
                s->requests[s->nreq++] = req;
            else
                free(req);
            c = s->next < s->nscript ? &s->script[s->next++] : &none;
            pthread_mutex_unlock(&s->mu);
            respond(fd, c);
            if (c->close_after)
                break;
        }
        close(fd);
    }
    return NULL;
}

static struct server srv;
static bool running;
static struct weir_kube_config cfg;
static struct weir_kube_client *client;
static struct weir_kube_error err;
static char tokfile[64];

static void server_start(const struct canned *script, size_t n)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    memset(&srv, 0, sizeof(srv));
    pthread_mutex_init(&srv.mu, NULL);
    srv.script = script;
    srv.nscript = n;
    srv.lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(srv.lfd, 0);
    ck_assert_int_eq(bind(srv.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(srv.lfd, 16), 0);
    getsockname(srv.lfd, (struct sockaddr *)&a, &alen);
    srv.port = ntohs(a.sin_port);
    pthread_create(&srv.thread, NULL, serve, &srv);
}

static void server_stop(void)
{
    atomic_store(&srv.stop, true);
    pthread_join(srv.thread, NULL);
    close(srv.lfd);
    for (int i = 0; i < srv.nreq; i++)
        free(srv.requests[i]);
    pthread_mutex_destroy(&srv.mu);
}

static void write_token(const char *text)
{
    FILE *f = fopen(tokfile, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* A client for the canned server, authenticating with a token file. */
static void start(const struct canned *script, size_t n, const struct weir_kube_client_options *o)
{
    char url[64];
    server_start(script, n);
    running = true;
    snprintf(tokfile, sizeof(tokfile), "/tmp/weir-kube-token-%d", (int)getpid());
    write_token("tok-1\n");
    memset(&cfg, 0, sizeof(cfg));
    pthread_mutex_init(&cfg.token_lock, NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv.port);
    cfg.server = strdup(url);
    cfg.token_file = strdup(tokfile);
    cfg.namespace = strdup("demo");
    static const struct weir_kube_client_options defaults = {.qps = -1,
                                                             .field_manager = "weir-test"};
    ck_assert_int_eq(weir_kube_client_new(&cfg, o ? o : &defaults, &client, &err), 0);
}

/* Also the fixture's teardown: a failed assertion jumps out of the test, and
 * the server thread must not outlive it. */
static void finish(void)
{
    if (!running)
        return;
    running = false;
    weir_kube_client_free(client);
    client = NULL;
    weir_kube_config_free(&cfg);
    server_stop();
    unlink(tokfile);
}

static const char *req(int i)
{
    ck_assert_int_lt(i, srv.nreq);
    return srv.requests[i];
}

static bool has(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

#define assert_has(hay, needle) ck_assert_msg(has(hay, needle), "no \"%s\" in:\n%s", needle, hay)

/* ---- tests --------------------------------------------------------------------------- */

START_TEST(test_get_sends_auth_and_reuses_the_connection)
{
    static const struct canned script[] = {
        {200, "{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm-1\"}}", 0, false},
        {200, "{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm-1\"}}", 0, false},
        {200, "{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm-1\"}}", 0, false},
    };
    json_t *obj = NULL;
    start(script, 3, NULL);
    ck_assert_int_eq(weir_kube_get(client, &weir_kube_res_configmaps, "demo", "cm-1", &obj, &err),
                     0);
    ck_assert_str_eq(weir_kube_obj_name(obj), "cm-1");
    json_decref(obj);
    assert_has(req(0), "GET /api/v1/namespaces/demo/configmaps/cm-1 HTTP/1.1\r\n");
    assert_has(req(0), "\r\nAuthorization: Bearer tok-1\r\n");
    assert_has(req(0), "\r\nAccept: application/json\r\n");
    assert_has(req(0), "\r\nUser-Agent: weir/");

    /* the token file rotates: the next request carries the new token */
    write_token("tok-2-rotated\n");
    ck_assert_int_eq(weir_kube_get(client, &weir_kube_res_configmaps, "demo", "cm-1", &obj, &err),
                     0);
    json_decref(obj);
    assert_has(req(1), "\r\nAuthorization: Bearer tok-2-rotated\r\n");
    ck_assert_int_eq(weir_kube_get(client, &weir_kube_res_configmaps, "demo", "cm-1", &obj, &err),
                     0);
    json_decref(obj);
    ck_assert_int_eq(srv.connections, 1); /* keep-alive: one connection for all three */
    finish();
}
END_TEST

START_TEST(test_conflict_surfaces_the_status_message)
{
    FILE *f = fopen(DATA "status-conflict.json", "r");
    static char body[2048];
    ck_assert_ptr_nonnull(f);
    body[fread(body, 1, sizeof(body) - 1, f)] = '\0';
    fclose(f);
    const struct canned script[] = {{409, body, 0, false}};
    json_t *obj = json_pack("{s:{s:s, s:s}, s:{s:s}}", "metadata", "name", "cm-1",
                            "resourceVersion", "5", "data", "k", "v");
    char text[2048];

    start(script, 1, NULL);
    ck_assert_int_eq(
        weir_kube_update(client, &weir_kube_res_configmaps, "demo", NULL, obj, NULL, &err),
        WEIR_KUBE_ERR_HTTP);
    ck_assert_int_eq(err.http_status, 409);
    ck_assert_str_eq(err.reason, "Conflict");
    ck_assert(weir_kube_error_is_conflict(&err));
    ck_assert(!weir_kube_error_is_already_exists(&err));
    ck_assert(!weir_kube_error_is_not_found(&err));
    ck_assert_str_eq(weir_kube_error_format(&err, text, sizeof(text)),
                     "PUT /api/v1/namespaces/demo/configmaps/cm-1: 409 Conflict: Operation cannot "
                     "be fulfilled on configmaps \"cm-1\": the object has been modified; please "
                     "apply your changes to the latest version and try again");
    assert_has(req(0), "PUT /api/v1/namespaces/demo/configmaps/cm-1?fieldManager=weir-test ");
    assert_has(req(0), "\r\nContent-Type: application/json\r\n");
    assert_has(req(0), "\"resourceVersion\":\"5\"");
    json_decref(obj);
    finish();
}
END_TEST

START_TEST(test_list_follows_continue)
{
    static const struct canned script[] = {
        {200,
         "{\"kind\":\"ConfigMapList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":"
         "\"77\",\"continue\":\"tok+/=1\"},\"items\":[{\"metadata\":{\"name\":\"a\"}},"
         "{\"metadata\":{\"name\":\"b\"}}]}",
         0, false},
        {200,
         "{\"kind\":\"ConfigMapList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":"
         "\"77\",\"continue\":\"tok2\"},\"items\":[{\"metadata\":{\"name\":\"c\"}},"
         "{\"metadata\":{\"name\":\"d\"}}]}",
         0, false},
        {200,
         "{\"kind\":\"ConfigMapList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":"
         "\"77\"},\"items\":[{\"metadata\":{\"name\":\"e\"}}]}",
         0, false},
    };
    struct weir_kube_list_result res;
    struct weir_kube_list_options o = {
        .label_selector = "app in (x,y)", .limit = 2, .resource_version = "0"};
    start(script, 3, NULL);
    ck_assert_int_eq(weir_kube_list(client, &weir_kube_res_configmaps, "demo", &o, &res, &err), 0);
    ck_assert_uint_eq(json_array_size(res.items), 5);
    ck_assert_uint_eq(res.pages, 3);
    ck_assert_str_eq(res.resource_version, "77");
    json_t *first = json_array_get(res.items, 0);
    ck_assert_str_eq(json_string_value(json_object_get(first, "kind")), "ConfigMap");
    ck_assert_str_eq(json_string_value(json_object_get(first, "apiVersion")), "v1");
    assert_has(req(0), "GET /api/v1/namespaces/demo/configmaps?labelSelector=app%20in%20%28x%2Cy%29"
                       "&limit=2&resourceVersion=0 ");
    assert_has(req(1), "GET /api/v1/namespaces/demo/configmaps?labelSelector=app%20in%20%28x%2Cy%29"
                       "&limit=2&continue=tok%2B%2F%3D1 ");
    assert_has(req(2), "&continue=tok2 ");
    weir_kube_list_result_free(&res);
    finish();
}
END_TEST

START_TEST(test_patch_kinds)
{
    static const struct canned script[] = {
        {200, "{}", 0, false}, {200, "{}", 0, false}, {200, "{}", 0, false}, {200, "{}", 0, false}};
    json_t *merge = json_pack("{s:{s:s}}", "data", "k", "v");
    json_t *jp = json_pack("[{s:s, s:s, s:s}]", "op", "replace", "path", "/data/k", "value", "w");
    json_t *desired = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
                                "metadata", "name", "cm-1", "namespace", "demo");
    struct weir_kube_patch_options o = {.type = WEIR_KUBE_PATCH_JSON};
    struct weir_kube_patch_options st = {.type = WEIR_KUBE_PATCH_MERGE, .subresource = "status"};

    start(script, 4, NULL);
    ck_assert_int_eq(
        weir_kube_patch(client, &weir_kube_res_configmaps, "demo", "cm-1", merge, NULL, NULL, &err),
        0);
    ck_assert_int_eq(
        weir_kube_patch(client, &weir_kube_res_configmaps, "demo", "cm-1", jp, &o, NULL, &err), 0);
    ck_assert_int_eq(weir_kube_apply(client, &weir_kube_res_configmaps, NULL, desired, "weir-op",
                                     true, NULL, &err),
                     0);
    ck_assert_int_eq(weir_kube_patch(client, &weir_kube_res_virtualservices, "demo", "vs", merge,
                                     &st, NULL, &err),
                     0);
    assert_has(req(0), "PATCH /api/v1/namespaces/demo/configmaps/cm-1?fieldManager=weir-test ");
    assert_has(req(0), "\r\nContent-Type: application/merge-patch+json\r\n");
    assert_has(req(1), "\r\nContent-Type: application/json-patch+json\r\n");
    assert_has(req(1), "[{\"op\":\"replace\"");
    assert_has(req(2),
               "PATCH /api/v1/namespaces/demo/configmaps/cm-1?fieldManager=weir-op&force=true ");
    assert_has(req(2), "\r\nContent-Type: application/apply-patch+yaml\r\n");
    assert_has(req(3),
               "PATCH /apis/networking.istio.io/v1/namespaces/demo/virtualservices/vs/status?");

    /* refused before any request */
    ck_assert_int_eq(
        weir_kube_patch(client, &weir_kube_res_configmaps, "demo", "cm-1", merge, &o, NULL, &err),
        WEIR_KUBE_ERR_INVALID);
    ck_assert_str_eq(err.message, "a application/json-patch+json patch must be a JSON array");
    ck_assert_int_eq(srv.nreq, 4);
    json_decref(merge);
    json_decref(jp);
    json_decref(desired);
    finish();
}
END_TEST

START_TEST(test_apply_needs_a_field_manager)
{
    static const struct weir_kube_client_options anonymous = {.qps = -1};
    json_t *desired = json_pack("{s:{s:s, s:s}}", "metadata", "name", "x", "namespace", "demo");
    start(NULL, 0, &anonymous);
    ck_assert_int_eq(
        weir_kube_apply(client, &weir_kube_res_configmaps, NULL, desired, NULL, false, NULL, &err),
        WEIR_KUBE_ERR_INVALID);
    ck_assert_str_eq(err.message, "server-side apply needs a field manager");
    json_decref(desired);
    finish();
}
END_TEST

START_TEST(test_response_size_limit)
{
    static char big[8192];
    memset(big, ' ', sizeof(big) - 3);
    big[0] = '{';
    big[sizeof(big) - 3] = '}';
    const struct canned script[] = {{200, big, 0, false}, {200, big, 0, false}};
    struct weir_kube_client_options o = {.qps = -1, .max_response_bytes = 4096};
    json_t *obj = NULL;
    start(script, 2, &o);
    ck_assert_int_eq(weir_kube_get(client, &weir_kube_res_configmaps, "demo", "big", &obj, &err),
                     WEIR_KUBE_ERR_TOO_LARGE);
    ck_assert_ptr_null(obj);
    ck_assert_str_eq(err.message, "response is larger than the limit of 4096 bytes");
    ck_assert_str_eq(err.what, "GET /api/v1/namespaces/demo/configmaps/big");
    finish();
}
END_TEST

START_TEST(test_non_json_error_body)
{
    static const struct canned script[] = {{503, "upstream\nconnect error", 0, false},
                                           {200, "not json", 0, false}};
    json_t *obj = NULL;
    start(script, 2, NULL);
    ck_assert_int_eq(weir_kube_get(client, &weir_kube_res_pods, "demo", "p", &obj, &err),
                     WEIR_KUBE_ERR_HTTP);
    ck_assert_int_eq(err.http_status, 503);
    ck_assert_str_eq(err.message, "upstream connect error");
    ck_assert_int_eq(weir_kube_get(client, &weir_kube_res_pods, "demo", "p", &obj, &err),
                     WEIR_KUBE_ERR_DECODE);
    ck_assert_ptr_nonnull(strstr(err.message, "response is not JSON"));
    finish();
}
END_TEST

struct seen {
    char log[4096];
    int n;
};

static int record_event(void *arg, const struct weir_kube_watch_event *ev)
{
    struct seen *s = arg;
    char one[128];
    snprintf(one, sizeof(one), "%s %s@%s;", weir_kube_watch_type_name(ev->type),
             ev->type == WEIR_KUBE_WATCH_BOOKMARK ? "-" : weir_kube_obj_name(ev->object),
             ev->resource_version ? ev->resource_version : "?");
    strncat(s->log, one, sizeof(s->log) - strlen(s->log) - 1);
    s->n++;
    return 0;
}

START_TEST(test_watch_stream_in_small_chunks)
{
    static char stream[8192];
    FILE *f = fopen(DATA "watch-configmaps.jsonl", "r");
    ck_assert_ptr_nonnull(f);
    stream[fread(stream, 1, sizeof(stream) - 1, f)] = '\0';
    fclose(f);
    const struct canned script[] = {{200, stream, 7, false}};
    struct weir_kube_watch_options o = {.resource_version = "1000",
                                        .allow_bookmarks = true,
                                        .timeout_seconds = 30,
                                        .label_selector = "a=b"};
    struct seen s = {{0}, 0};
    start(script, 1, NULL);
    ck_assert_int_eq(
        weir_kube_watch(client, &weir_kube_res_configmaps, "demo", &o, record_event, &s, &err), 0);
    ck_assert_str_eq(s.log,
                     "ADDED cm-1@1001;MODIFIED cm-1@1002;BOOKMARK -@1010;DELETED cm-1@1011;");
    assert_has(req(0), "GET /api/v1/namespaces/demo/configmaps?watch=1&resourceVersion=1000"
                       "&allowWatchBookmarks=true&labelSelector=a%3Db&timeoutSeconds=30 ");
    finish();
}
END_TEST

START_TEST(test_watch_gone_and_oversize_event)
{
    static char gone[1024];
    FILE *f = fopen(DATA "watch-gone.jsonl", "r");
    ck_assert_ptr_nonnull(f);
    gone[fread(gone, 1, sizeof(gone) - 1, f)] = '\0';
    fclose(f);
    static char huge[4096];
    snprintf(huge, sizeof(huge), "{\"type\":\"ADDED\",\"object\":{\"data\":\"%0*d\"}}\n", 3000, 0);
    const struct canned script[] = {{200, gone, 13, false},
                                    {200, huge, 500, false},
                                    {410,
                                     "{\"kind\":\"Status\",\"reason\":\"Expired\","
                                     "\"message\":\"too old\",\"code\":410}",
                                     0, false}};
    struct weir_kube_watch_options o = {.resource_version = "1", .max_event_bytes = 1024};
    struct seen s = {{0}, 0};
    start(script, 3, NULL);
    ck_assert_int_eq(
        weir_kube_watch(client, &weir_kube_res_configmaps, NULL, &o, record_event, &s, &err),
        WEIR_KUBE_ERR_GONE);
    ck_assert_int_eq(err.http_status, 410);
    ck_assert_str_eq(err.message, "too old resource version: 1 (2456)");
    ck_assert_str_eq(err.what, "watch /api/v1/configmaps");
    ck_assert_int_eq(
        weir_kube_watch(client, &weir_kube_res_configmaps, NULL, &o, record_event, &s, &err),
        WEIR_KUBE_ERR_TOO_LARGE);
    ck_assert_str_eq(err.message, "a watch event is larger than the limit of 1024 bytes");
    /* a 410 answer (not an ERROR event) is the same verdict */
    ck_assert_int_eq(
        weir_kube_watch(client, &weir_kube_res_configmaps, NULL, &o, record_event, &s, &err),
        WEIR_KUBE_ERR_GONE);
    ck_assert_int_eq(s.n, 0);
    finish();
}
END_TEST

static int stop_after_two(void *arg, const struct weir_kube_watch_event *ev)
{
    struct seen *s = arg;
    record_event(s, ev);
    return s->n == 2 ? 42 : 0;
}

START_TEST(test_watch_callback_stops)
{
    static char stream[8192];
    FILE *f = fopen(DATA "watch-configmaps.jsonl", "r");
    ck_assert_ptr_nonnull(f);
    stream[fread(stream, 1, sizeof(stream) - 1, f)] = '\0';
    fclose(f);
    const struct canned script[] = {{200, stream, 64, true}};
    struct seen s = {{0}, 0};
    start(script, 1, NULL);
    ck_assert_int_eq(
        weir_kube_watch(client, &weir_kube_res_configmaps, "demo", NULL, stop_after_two, &s, &err),
        42);
    ck_assert_int_eq(s.n, 2);
    finish();
}
END_TEST

START_TEST(test_delete_and_event_bodies)
{
    static const struct canned script[] = {
        {200, "{\"kind\":\"Status\",\"status\":\"Success\"}", 0, false},
        {201, "{\"kind\":\"Event\"}", 0, false},
        {404,
         "{\"kind\":\"Status\",\"reason\":\"NotFound\","
         "\"message\":\"configmaps \\\"x\\\" not found\","
         "\"code\":404}",
         0, false}};
    struct weir_kube_delete_options d = {.propagation_policy = "Foreground",
                                         .precondition_resource_version = "9",
                                         .grace_period_seconds = -1};
    char note[2000];
    memset(note, 'n', sizeof(note) - 1);
    note[sizeof(note) - 1] = '\0';
    json_t *cm = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "apiVersion", "v1", "kind",
                           "ConfigMap", "metadata", "name", "cm-1", "namespace", "demo", "uid",
                           "u-1", "resourceVersion", "9");
    struct weir_kube_event ev = {.regarding = cm,
                                 .type = "Warning",
                                 .reason = "ConfigRejected",
                                 .action = "Reconcile",
                                 .note = note,
                                 .reporting_controller = "weir.dev/operator",
                                 .reporting_instance = "weir-operator-0"};
    start(script, 3, NULL);
    ck_assert_int_eq(weir_kube_delete(client, &weir_kube_res_configmaps, "demo", "cm-1", &d, &err),
                     0);
    assert_has(req(0), "DELETE /api/v1/namespaces/demo/configmaps/cm-1 ");
    assert_has(req(0), "\"propagationPolicy\":\"Foreground\"");
    assert_has(req(0), "\"preconditions\":{\"resourceVersion\":\"9\"}");
    ck_assert(!has(req(0), "gracePeriodSeconds"));

    ck_assert_int_eq(weir_kube_event_create(client, &ev, NULL, &err), 0);
    const char *r = req(1);
    assert_has(r, "POST /apis/events.k8s.io/v1/namespaces/demo/events?fieldManager=weir-test ");
    assert_has(r, "\"regarding\":{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":\"cm-1\","
                  "\"namespace\":\"demo\",\"uid\":\"u-1\",\"resourceVersion\":\"9\"}");
    assert_has(r, "\"reason\":\"ConfigRejected\"");
    assert_has(r, "\"type\":\"Warning\"");
    assert_has(r, "\"reportingController\":\"weir.dev/operator\"");
    assert_has(r, "\"name\":\"cm-1.");
    const char *n = strstr(r, "\"note\":\"");
    ck_assert_ptr_nonnull(n);
    ck_assert_uint_eq(strspn(n + 8, "n"), 1024); /* cut at the API's limit */

    ck_assert_int_eq(weir_kube_delete(client, &weir_kube_res_configmaps, "demo", "x", NULL, &err),
                     WEIR_KUBE_ERR_HTTP);
    ck_assert(weir_kube_error_is_not_found(&err));
    ck_assert_str_eq(err.message, "configmaps \"x\" not found");
    json_decref(cm);
    finish();
}
END_TEST

START_TEST(test_transport_error)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char url[64];
    json_t *obj = NULL;
    /* a bound port nobody listens on: connection refused, deterministically */
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    getsockname(fd, (struct sockaddr *)&a, &alen);
    memset(&cfg, 0, sizeof(cfg));
    pthread_mutex_init(&cfg.token_lock, NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(a.sin_port));
    cfg.server = strdup(url);
    ck_assert_int_eq(weir_kube_client_new(&cfg, NULL, &client, &err), 0);
    ck_assert_int_eq(weir_kube_get(client, &weir_kube_res_namespaces, NULL, "x", &obj, &err),
                     WEIR_KUBE_ERR_TRANSPORT);
    ck_assert_int_eq(err.http_status, 0);
    ck_assert_str_eq(err.what, "GET /api/v1/namespaces/x");
    ck_assert_ptr_nonnull(strstr(err.message, "Couldn't connect to server"));
    weir_kube_client_free(client);
    client = NULL;
    weir_kube_config_free(&cfg);
    close(fd);
}
END_TEST

START_TEST(test_bad_arguments)
{
    json_t *obj = NULL;
    start(NULL, 0, NULL);
    ck_assert_int_eq(weir_kube_get(client, &weir_kube_res_configmaps, "demo", "a/b", &obj, &err),
                     WEIR_KUBE_ERR_INVALID);
    ck_assert_str_eq(err.message, "cannot build a request path (namespace \"demo\", name \"a/b\")");
    ck_assert_int_eq(weir_kube_get(client, &weir_kube_res_configmaps, "demo", NULL, &obj, &err),
                     WEIR_KUBE_ERR_INVALID);
    struct weir_kube_request r = {.method = "TRACE", .path = "/api"};
    ck_assert_int_eq(weir_kube_request_json(client, &r, &obj, &err), WEIR_KUBE_ERR_INVALID);
    ck_assert_int_eq(srv.nreq, 0);
    finish();

    struct weir_kube_config empty;
    memset(&empty, 0, sizeof(empty));
    ck_assert_int_eq(weir_kube_client_new(&empty, NULL, &client, &err), WEIR_KUBE_ERR_INVALID);
    ck_assert_ptr_null(client);
}
END_TEST

START_TEST(test_status_decoding)
{
    char buf[256];
    const char *expired = "{\"reason\":\"Expired\",\"message\":\"The provided continue "
                          "parameter is too old\"}";
    ck_assert_int_eq(weir_kube_error_from_status(&err, "GET /x", 410, expired, strlen(expired)),
                     WEIR_KUBE_ERR_GONE);
    ck_assert_str_eq(weir_kube_error_format(&err, buf, sizeof(buf)),
                     "GET /x: 410 Expired: The provided continue parameter is too old");
    const char *exists = "{\"reason\":\"AlreadyExists\",\"message\":\"m\"}";
    ck_assert_int_eq(weir_kube_error_from_status(&err, "POST /y", 409, exists, strlen(exists)),
                     WEIR_KUBE_ERR_HTTP);
    ck_assert(weir_kube_error_is_already_exists(&err));
    ck_assert(!weir_kube_error_is_conflict(&err));
    ck_assert_int_eq(weir_kube_error_from_status(&err, NULL, 500, NULL, 0), WEIR_KUBE_ERR_HTTP);
    ck_assert_str_eq(err.message, "HTTP 500 with an empty body");
    weir_kube_error_clear(&err);
    ck_assert_str_eq(weir_kube_error_format(&err, buf, sizeof(buf)), "ok");
    weir_kube_error_set(&err, WEIR_KUBE_ERR_TRANSPORT, "GET /z", NULL);
    ck_assert_str_eq(weir_kube_error_format(&err, buf, sizeof(buf)), "GET /z: transport error");
    ck_assert_str_eq(weir_kube_error_format(&err, buf, 8), "GET /z:");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kube_client");
    TCase *tc = tcase_create("client");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, NULL, finish);
    tcase_add_test(tc, test_get_sends_auth_and_reuses_the_connection);
    tcase_add_test(tc, test_conflict_surfaces_the_status_message);
    tcase_add_test(tc, test_list_follows_continue);
    tcase_add_test(tc, test_patch_kinds);
    tcase_add_test(tc, test_apply_needs_a_field_manager);
    tcase_add_test(tc, test_response_size_limit);
    tcase_add_test(tc, test_non_json_error_body);
    tcase_add_test(tc, test_watch_stream_in_small_chunks);
    tcase_add_test(tc, test_watch_gone_and_oversize_event);
    tcase_add_test(tc, test_watch_callback_stops);
    tcase_add_test(tc, test_delete_and_event_bodies);
    tcase_add_test(tc, test_transport_error);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_status_decoding);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
