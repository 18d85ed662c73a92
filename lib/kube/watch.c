#include "kube/watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- line splitter --------------------------------------------------------------- */

void weir_kube_lines_init(struct weir_kube_lines *l, size_t max)
{
    memset(l, 0, sizeof(*l));
    l->max = max ? max : WEIR_KUBE_DEFAULT_MAX_EVENT;
}

void weir_kube_lines_free(struct weir_kube_lines *l)
{
    free(l->buf);
    l->buf = NULL;
    l->len = l->cap = 0;
}

static int carry(struct weir_kube_lines *l, const char *data, size_t n)
{
    if (l->len + n > l->max)
        return WEIR_KUBE_ERR_TOO_LARGE;
    if (l->len + n + 1 > l->cap) {
        size_t cap = l->cap ? l->cap : 4096;
        while (cap < l->len + n + 1)
            cap *= 2;
        if (cap > l->max + 1)
            cap = l->max + 1;
        char *nb = realloc(l->buf, cap);
        if (!nb)
            return WEIR_KUBE_ERR_NOMEM;
        l->buf = nb;
        l->cap = cap;
    }
    memcpy(l->buf + l->len, data, n);
    l->len += n;
    l->buf[l->len] = '\0';
    return 0;
}

static int deliver(const char *line, size_t len, weir_kube_line_fn fn, void *arg)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return 0;
    return fn(arg, line, len);
}

int weir_kube_lines_feed(struct weir_kube_lines *l, const char *data, size_t len,
                         weir_kube_line_fn fn, void *arg)
{
    int rc;

    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        if (!nl)
            return carry(l, data, len);
        size_t n = (size_t)(nl - data);
        if (l->len > 0) {
            if ((rc = carry(l, data, n)) != 0)
                return rc;
            rc = deliver(l->buf, l->len, fn, arg);
            l->len = 0;
        } else {
            if (n > l->max)
                return WEIR_KUBE_ERR_TOO_LARGE;
            /* The line is whole in data: no copy. */
            rc = deliver(data, n, fn, arg);
        }
        if (rc != 0)
            return rc;
        data = nl + 1;
        len -= n + 1;
    }
    return 0;
}

int weir_kube_lines_finish(struct weir_kube_lines *l, weir_kube_line_fn fn, void *arg)
{
    int rc = 0;
    if (l->len > 0)
        rc = deliver(l->buf, l->len, fn, arg);
    l->len = 0;
    return rc;
}

/* ---- events ---------------------------------------------------------------------- */

static const char *const type_names[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};

const char *weir_kube_watch_type_name(enum weir_kube_watch_type t)
{
    if ((unsigned)t < sizeof(type_names) / sizeof(type_names[0]))
        return type_names[t];
    return "?";
}

int weir_kube_watch_event_parse(const char *line, size_t len, struct weir_kube_watch_event *ev,
                                struct weir_kube_error *err)
{
    json_error_t jerr;
    json_t *root;
    const char *type;
    int t = -1;

    memset(ev, 0, sizeof(*ev));
    root = json_loadb(line, len, 0, &jerr);
    if (!root)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_DECODE, "watch",
                                   "event is not JSON: %s (column %d)", jerr.text, jerr.column);
    type = json_string_value(json_object_get(root, "type"));
    for (size_t i = 0; type && i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (strcmp(type, type_names[i]) == 0)
            t = (int)i;
    json_t *obj = json_object_get(root, "object");
    if (t < 0 || !json_is_object(obj)) {
        int rc = weir_kube_error_set(err, WEIR_KUBE_ERR_DECODE, "watch",
                                     "event has no known type and object (type \"%.64s\")",
                                     type ? type : "");
        json_decref(root);
        return rc;
    }
    ev->type = (enum weir_kube_watch_type)t;
    ev->object = json_incref(obj);
    json_decref(root);
    ev->resource_version = weir_kube_obj_resource_version(ev->object);
    return 0;
}

void weir_kube_watch_event_free(struct weir_kube_watch_event *ev)
{
    json_decref(ev->object);
    memset(ev, 0, sizeof(*ev));
}

int weir_kube_watch_event_error(const struct weir_kube_watch_event *ev, const char *what,
                                struct weir_kube_error *err)
{
    const json_t *st = ev->object;
    json_int_t code = json_integer_value(json_object_get(st, "code"));
    const char *reason = json_string_value(json_object_get(st, "reason"));
    const char *message = json_string_value(json_object_get(st, "message"));
    int rc =
        (code == 410 || (reason && (strcmp(reason, "Expired") == 0 || strcmp(reason, "Gone") == 0)))
            ? WEIR_KUBE_ERR_GONE
            : WEIR_KUBE_ERR_HTTP;

    if (!err)
        return rc;
    weir_kube_error_clear(err);
    err->code = rc;
    err->http_status = code > 0 ? (long)code : (rc == WEIR_KUBE_ERR_GONE ? 410 : 500);
    snprintf(err->what, sizeof(err->what), "%s", what ? what : "watch");
    snprintf(err->reason, sizeof(err->reason), "%s", reason ? reason : "");
    snprintf(err->message, sizeof(err->message), "%s",
             message ? message : "ERROR event without a message");
    return rc;
}

/* ---- the watch ------------------------------------------------------------------- */

struct watch_state {
    struct weir_kube_lines lines;
    weir_kube_watch_fn fn;
    weir_kube_idle_fn idle;
    void *arg;
    struct weir_kube_error *err;
    const char *what;
};

static int on_line(void *arg, const char *line, size_t len)
{
    struct watch_state *w = arg;
    struct weir_kube_watch_event ev;
    int rc;

    if ((rc = weir_kube_watch_event_parse(line, len, &ev, w->err)) != 0) {
        if (w->err)
            snprintf(w->err->what, sizeof(w->err->what), "%s", w->what);
        return rc;
    }
    if (ev.type == WEIR_KUBE_WATCH_ERROR)
        rc = weir_kube_watch_event_error(&ev, w->what, w->err);
    else
        rc = w->fn(w->arg, &ev);
    weir_kube_watch_event_free(&ev);
    return rc;
}

static int on_data(void *arg, const char *data, size_t len)
{
    struct watch_state *w = arg;
    int rc = weir_kube_lines_feed(&w->lines, data, len, on_line, w);
    if (rc == WEIR_KUBE_ERR_TOO_LARGE)
        weir_kube_error_set(w->err, rc, w->what,
                            "a watch event is larger than the limit of %zu bytes", w->lines.max);
    else if (rc == WEIR_KUBE_ERR_NOMEM)
        weir_kube_error_set(w->err, rc, w->what, NULL);
    return rc;
}

static int on_idle(void *arg)
{
    struct watch_state *w = arg;
    return w->idle ? w->idle(w->arg) : 0;
}

int weir_kube_watch(struct weir_kube_client *c, const struct weir_kube_resource *res,
                    const char *ns, const struct weir_kube_watch_options *opts,
                    weir_kube_watch_fn fn, void *arg, struct weir_kube_error *err)
{
    static const struct weir_kube_watch_options defaults = {0};
    struct weir_kube_query q;
    struct watch_state w = {.fn = fn, .arg = arg, .err = err};
    char what[WEIR_KUBE_ERROR_WHAT_MAX];
    char *path;
    int timeout, rc;

    weir_kube_error_clear(err);
    if (!opts)
        opts = &defaults;
    timeout = opts->timeout_seconds > 0 ? opts->timeout_seconds : 300;
    path = weir_kube_path(res, res->namespaced ? ns : NULL, NULL, NULL);
    if (!path)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_INVALID, res->resource,
                                   "cannot build a watch path");
    snprintf(what, sizeof(what), "watch %s", path);
    w.what = what;
    w.idle = opts->idle;
    weir_kube_lines_init(&w.lines, opts->max_event_bytes);
    weir_kube_query_init(&q);
    weir_kube_query_add(&q, "watch", "1");
    weir_kube_query_add(&q, "resourceVersion", opts->resource_version);
    if (opts->allow_bookmarks)
        weir_kube_query_add(&q, "allowWatchBookmarks", "true");
    weir_kube_query_add(&q, "labelSelector", opts->label_selector);
    weir_kube_query_add(&q, "fieldSelector", opts->field_selector);
    weir_kube_query_add_long(&q, "timeoutSeconds", timeout);
    if (!weir_kube_query_str(&q)) {
        rc = weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
    } else {
        struct weir_kube_request req = {
            .method = "GET",
            .path = path,
            .query = weir_kube_query_str(&q),
            /* The server ends the watch at `timeout`; past that plus a
             * margin the connection is stalled (a frozen server keeps TCP
             * alive), and only a client-side cut gets us out. */
            .timeout_ms = ((long)timeout + 30) * 1000,
        };
        rc = weir_kube_request_stream(c, &req, on_data, on_idle, &w, err);
        if (rc == 0)
            rc = weir_kube_lines_finish(&w.lines, on_line, &w);
    }
    if (rc != 0 && err && err->what[0] == '\0')
        snprintf(err->what, sizeof(err->what), "%s", what);
    weir_kube_lines_free(&w.lines);
    weir_kube_query_free(&q);
    free(path);
    return rc;
}
