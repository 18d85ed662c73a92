#include "writer.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "strmap.h"

struct weir_op_writer {
    struct weir_op_writer_options opts;
    pthread_mutex_t lock;
    struct weir_op_strmap memo;      /* namespace -> struct weir_op_written */
    struct weir_op_strmap too_large; /* namespace -> revision refused (char *) */
};

const char *weir_op_write_decision_name(enum weir_op_write_decision d)
{
    switch (d) {
    case WEIR_OP_WRITE_SKIP:
        return "skip";
    case WEIR_OP_WRITE_APPLY:
        return "apply";
    case WEIR_OP_WRITE_TOO_LARGE:
        return "too-large";
    }
    return "?";
}

static const char *annotation(const json_t *obj, const char *key)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"), key));
}

static const char *label(const json_t *obj, const char *key)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(obj, "metadata"), "labels"), key));
}

static const json_t *data_of(const json_t *cm)
{
    return json_object_get(json_object_get(cm, "data"), WEIR_OP_CONFIGMAP_KEY);
}

bool weir_op_configmap_is_ours(const json_t *cm)
{
    const char *name = weir_kube_obj_name(cm);
    const char *by = label(cm, WEIR_OP_MANAGED_BY_LABEL);
    return name && strcmp(name, WEIR_OP_CONFIGMAP_NAME) == 0 && by &&
           strcmp(by, WEIR_OP_MANAGED_BY) == 0;
}

/* Where weir_op_configmap_slim() leaves the digest of the data it drops. */
#define DIGEST_MEMBER "weirProxyConfigDigest"

void weir_op_configmap_slim(json_t *cm)
{
    const json_t *d = data_of(cm);
    if (!json_is_string(d))
        return;
    size_t len = json_string_length(d);
    json_t *digest = json_pack("{s:I, s:I}", "bytes", (json_int_t)len, "fnv1a",
                               (json_int_t)weir_op_fnv1a(json_string_value(d), len));
    if (digest && json_object_set_new(cm, DIGEST_MEMBER, digest) == 0)
        json_object_del(json_object_get(cm, "data"), WEIR_OP_CONFIGMAP_KEY);
}

static bool digest_is(const json_t *cm, size_t len, uint64_t fnv)
{
    const json_t *g = json_object_get(cm, DIGEST_MEMBER);
    return json_is_object(g) &&
           json_integer_value(json_object_get(g, "bytes")) == (json_int_t)len &&
           (uint64_t)json_integer_value(json_object_get(g, "fnv1a")) == fnv;
}

/* Whether the cached ConfigMap holds exactly these bytes: compared with the
 * data itself, or with the digest weir_op_configmap_slim() left. */
static bool holds(const json_t *cm, const char *data, size_t len, uint64_t fnv)
{
    const json_t *d = data_of(cm);
    if (json_is_string(d))
        return json_string_length(d) == len && memcmp(json_string_value(d), data, len) == 0;
    return digest_is(cm, len, fnv);
}

/* The same against what the memo kept of the bytes (length and digest). */
static bool holds_digest(const json_t *cm, size_t len, uint64_t fnv)
{
    const json_t *d = data_of(cm);
    if (json_is_string(d))
        return json_string_length(d) == len && weir_op_fnv1a(json_string_value(d), len) == fnv;
    return digest_is(cm, len, fnv);
}

enum weir_op_write_decision weir_op_write_decide(const json_t *current, const char *revision,
                                                 const char *data, size_t len,
                                                 const struct weir_op_written *memo,
                                                 size_t max_bytes)
{
    if (!max_bytes)
        max_bytes = WEIR_OP_CONFIGMAP_MAX;
    /* the API server counts keys and values */
    if (len + strlen(WEIR_OP_CONFIGMAP_KEY) > max_bytes)
        return WEIR_OP_WRITE_TOO_LARGE;
    uint64_t fnv = weir_op_fnv1a(data, len);
    if (memo && !memo->recheck && strcmp(memo->revision, revision) == 0 && memo->bytes == len &&
        memo->digest == fnv)
        return WEIR_OP_WRITE_SKIP;
    if (current && weir_op_configmap_is_ours(current)) {
        const char *rev = annotation(current, WEIR_OP_REVISION_ANNOTATION);
        if (rev && strcmp(rev, revision) == 0 && holds(current, data, len, fnv))
            return WEIR_OP_WRITE_SKIP;
    }
    return WEIR_OP_WRITE_APPLY;
}

json_t *weir_op_configmap_build(const char *ns, const char *revision, const char *data)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}, s:{s:s}}, s:{s:s}}", "apiVersion", "v1",
                     "kind", "ConfigMap", "metadata", "name", WEIR_OP_CONFIGMAP_NAME, "namespace",
                     ns, "labels", WEIR_OP_MANAGED_BY_LABEL, WEIR_OP_MANAGED_BY, WEIR_OP_NAME_LABEL,
                     WEIR_OP_CONFIGMAP_NAME, "annotations", WEIR_OP_REVISION_ANNOTATION, revision,
                     "data", WEIR_OP_CONFIGMAP_KEY, data);
}

char *weir_op_config_serialize(const json_t *doc, size_t *len)
{
    char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    if (s && len)
        *len = strlen(s);
    return s;
}

int weir_op_writer_new(const struct weir_op_writer_options *opts, struct weir_op_writer **out)
{
    struct weir_op_writer *w = calloc(1, sizeof(*w));
    *out = w;
    if (!w)
        return -1;
    w->opts = *opts;
    if (!w->opts.max_bytes)
        w->opts.max_bytes = WEIR_OP_CONFIGMAP_MAX;
    pthread_mutex_init(&w->lock, NULL);
    weir_op_strmap_init(&w->memo);
    weir_op_strmap_init(&w->too_large);
    return 0;
}

void weir_op_writer_free(struct weir_op_writer *w)
{
    if (!w)
        return;
    weir_op_strmap_free(&w->memo, free);
    weir_op_strmap_free(&w->too_large, free);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

static void memo_set(struct weir_op_writer *w, const char *ns, const char *revision,
                     const char *data, size_t len)
{
    struct weir_op_written *m = calloc(1, sizeof(*m)), *old = NULL;
    if (!m)
        return; /* no memo: the next reconcile compares with the cluster */
    snprintf(m->revision, sizeof(m->revision), "%s", revision);
    m->digest = weir_op_fnv1a(data, len);
    m->bytes = len;
    pthread_mutex_lock(&w->lock);
    if (weir_op_strmap_put(&w->memo, ns, m, (void **)&old, NULL) != 0)
        free(m);
    free(old);
    pthread_mutex_unlock(&w->lock);
}

static void memo_clear(struct weir_op_writer *w, const char *ns)
{
    pthread_mutex_lock(&w->lock);
    free(weir_op_strmap_remove(&w->memo, ns));
    pthread_mutex_unlock(&w->lock);
}

/* After a write: the resourceVersion the API server gave it. */
static void memo_written(struct weir_op_writer *w, const char *ns, const json_t *result)
{
    const char *rv = result ? weir_kube_obj_resource_version(result) : NULL;
    pthread_mutex_lock(&w->lock);
    struct weir_op_written *m = weir_op_strmap_get(&w->memo, ns);
    if (m && rv && strlen(rv) < sizeof(m->rv_after))
        snprintf(m->rv_after, sizeof(m->rv_after), "%s", rv);
    pthread_mutex_unlock(&w->lock);
}

/* Whether the ConfigMap informer is behind the memo's write: the last
 * resourceVersion it applied (list, event or bookmark) is older than the
 * write's. Both are etcd revisions; when either is not a number, it counts as
 * caught up, and the informer's copy decides. */
static bool informer_behind(struct weir_op_writer *w, const struct weir_op_written *m)
{
    char buf[64], *end;
    if (!m->rv_after[0])
        return false;
    unsigned long long wrote = strtoull(m->rv_after, &end, 10);
    if (*end)
        return false;
    const char *rv = weir_kube_informer_resource_version(w->opts.configmaps, buf, sizeof(buf));
    if (!rv || !*rv)
        return false;
    unsigned long long seen = strtoull(rv, &end, 10);
    return !*end && seen < wrote;
}

static bool memo_get(struct weir_op_writer *w, const char *ns, struct weir_op_written *out)
{
    pthread_mutex_lock(&w->lock);
    struct weir_op_written *m = weir_op_strmap_get(&w->memo, ns);
    if (m)
        *out = *m;
    pthread_mutex_unlock(&w->lock);
    return m != NULL;
}

static void api_error(struct weir_op_writer *w, const char *msg, const char *ns,
                      const struct weir_kube_error *err)
{
    char text[1536];
    weir_kube_error_format(err, text, sizeof(text));
    weir_op_metrics_inc(w->opts.metrics, WEIR_OP_M_API_ERRORS);
    weir_log(WEIR_LOG_ERROR, msg, "namespace", ns, "error", text, NULL);
}

/* Once per refused revision: a reconcile runs on every change in the mesh,
 * and one Event per run would flood the namespace. */
static void report_too_large(struct weir_op_writer *w, const char *ns, const char *revision,
                             size_t len)
{
    char bytes[32], limit[32], note[512];
    bool seen;

    pthread_mutex_lock(&w->lock);
    const char *prev = weir_op_strmap_get(&w->too_large, ns);
    seen = prev && strcmp(prev, revision) == 0;
    if (!seen) {
        char *copy = strdup(revision), *old = NULL;
        if (copy && weir_op_strmap_put(&w->too_large, ns, copy, (void **)&old, NULL) != 0)
            free(copy);
        free(old);
    }
    pthread_mutex_unlock(&w->lock);
    weir_op_metrics_inc(w->opts.metrics, WEIR_OP_M_CONFIG_TOO_LARGE);
    if (seen)
        return;

    snprintf(bytes, sizeof(bytes), "%zu", len + strlen(WEIR_OP_CONFIGMAP_KEY));
    snprintf(limit, sizeof(limit), "%zu", w->opts.max_bytes);
    snprintf(note, sizeof(note),
             "the proxy config of namespace %s (revision %.20s...) is %s bytes, over the "
             "ConfigMap limit of %s bytes; it was not written and the proxies keep the last "
             "config written. Narrow what the namespace sees (exportTo, Sidecar scoping) or "
             "split the namespace.",
             ns, revision, bytes, limit);
    weir_log(WEIR_LOG_ERROR, "proxy config too large", "namespace", ns, "bytes", bytes, "limit",
             limit, "revision", revision, NULL);
    json_t *nsobj =
        w->opts.namespaces ? weir_kube_informer_get(w->opts.namespaces, NULL, ns) : NULL;
    if (!nsobj || !weir_op_gate_open(&w->opts.gate)) {
        json_decref(nsobj);
        return;
    }
    struct weir_kube_event ev = {
        .regarding = nsobj,
        .type = "Warning",
        .reason = "ProxyConfigTooLarge",
        .action = "WriteProxyConfig",
        .note = note,
        .reporting_controller = WEIR_OP_REPORTING_CONTROLLER,
        .reporting_instance = w->opts.instance,
    };
    struct weir_kube_error err;
    if (weir_kube_event_create(w->opts.client, &ev, NULL, &err) != 0)
        api_error(w, "cannot create an Event", ns, &err);
    else
        weir_op_metrics_inc(w->opts.metrics, WEIR_OP_M_EVENTS);
    json_decref(nsobj);
}

static void say(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    if (!why || !why_len)
        return;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

enum weir_op_result weir_op_writer_sync(struct weir_op_writer *w, const char *ns,
                                        const struct weir_translate_config *cfg, char *why,
                                        size_t why_len)
{
    struct weir_op_written memo;
    struct weir_kube_error err;
    enum weir_op_result res = WEIR_OP_OK;
    size_t len = 0;
    char *data = weir_op_config_serialize(cfg->doc, &len);
    json_t *current = NULL, *cm = NULL, *result = NULL;

    if (!data)
        return WEIR_OP_RETRY;
    weir_op_metrics_config_bytes(w->opts.metrics, ns, len);
    bool have_memo = memo_get(w, ns, &memo);
    /* a resync or a new leadership asks for the cluster's view; an informer
     * that has not seen our own last write yet cannot give it */
    if (have_memo && memo.recheck && informer_behind(w, &memo))
        memo.recheck = false;
    current = weir_kube_informer_get(w->opts.configmaps, ns, WEIR_OP_CONFIGMAP_NAME);
    enum weir_op_write_decision d = weir_op_write_decide(
        current, cfg->revision, data, len, have_memo ? &memo : NULL, w->opts.max_bytes);
    switch (d) {
    case WEIR_OP_WRITE_SKIP:
        if (!have_memo || memo.recheck)
            memo_set(w, ns, cfg->revision, data, len); /* the cluster holds it */
        break;
    case WEIR_OP_WRITE_TOO_LARGE:
        report_too_large(w, ns, cfg->revision, len);
        say(why, why_len,
            "the proxy config of namespace %s is %zu bytes, over the ConfigMap limit of %zu "
            "bytes; its proxies keep the last config written",
            ns, len + strlen(WEIR_OP_CONFIGMAP_KEY),
            w->opts.max_bytes ? w->opts.max_bytes : (size_t)WEIR_OP_CONFIGMAP_MAX);
        res = WEIR_OP_FAILED;
        break;
    case WEIR_OP_WRITE_APPLY:
        if (!weir_op_gate_open(&w->opts.gate)) {
            res = WEIR_OP_NOT_LEADER;
            break;
        }
        cm = weir_op_configmap_build(ns, cfg->revision, data);
        if (!cm) {
            res = WEIR_OP_RETRY;
            break;
        }
        /* before the request: the watch event of this write may come back
         * before the call returns, and must be recognised as ours */
        memo_set(w, ns, cfg->revision, data, len);
        if (weir_kube_apply(w->opts.client, &weir_kube_res_configmaps, ns, cm,
                            WEIR_OP_FIELD_MANAGER, true, &result, &err) != 0) {
            memo_clear(w, ns);
            api_error(w, "cannot write the proxy config", ns, &err);
            if (why && why_len) {
                char text[1024];
                weir_kube_error_format(&err, text, sizeof(text));
                say(why, why_len, "the proxy config of namespace %s could not be written: %s", ns,
                    text);
            }
            res = weir_op_classify(&err);
            break;
        }
        memo_written(w, ns, result);
        weir_op_metrics_inc(w->opts.metrics, WEIR_OP_M_CONFIG_WRITES);
        {
            char bytes[32];
            snprintf(bytes, sizeof(bytes), "%zu", len);
            weir_log(WEIR_LOG_INFO, current ? "proxy config updated" : "proxy config created",
                     "namespace", ns, "revision", cfg->revision, "bytes", bytes, NULL);
        }
        break;
    }
    if (d != WEIR_OP_WRITE_TOO_LARGE) {
        pthread_mutex_lock(&w->lock);
        free(weir_op_strmap_remove(&w->too_large, ns));
        pthread_mutex_unlock(&w->lock);
    }
    json_decref(result);
    json_decref(cm);
    json_decref(current);
    free(data);
    return res;
}

bool weir_op_writer_too_large(struct weir_op_writer *w, const char *ns)
{
    pthread_mutex_lock(&w->lock);
    bool yes = weir_op_strmap_get(&w->too_large, ns) != NULL;
    pthread_mutex_unlock(&w->lock);
    return yes;
}

enum weir_op_result weir_op_writer_remove(struct weir_op_writer *w, const char *ns)
{
    struct weir_kube_error err;
    enum weir_op_result res = WEIR_OP_OK;
    json_t *current = weir_kube_informer_get(w->opts.configmaps, ns, WEIR_OP_CONFIGMAP_NAME);

    memo_clear(w, ns);
    weir_op_metrics_config_forget(w->opts.metrics, ns);
    pthread_mutex_lock(&w->lock);
    free(weir_op_strmap_remove(&w->too_large, ns));
    pthread_mutex_unlock(&w->lock);
    if (!current || !weir_op_configmap_is_ours(current))
        goto out;
    if (!weir_op_gate_open(&w->opts.gate)) {
        res = WEIR_OP_NOT_LEADER;
        goto out;
    }
    /* the uid precondition: never delete a ConfigMap created after our look */
    const char *uid =
        json_string_value(json_object_get(json_object_get(current, "metadata"), "uid"));
    struct weir_kube_delete_options del = {.precondition_uid = uid, .grace_period_seconds = -1};
    if (weir_kube_delete(w->opts.client, &weir_kube_res_configmaps, ns, WEIR_OP_CONFIGMAP_NAME,
                         &del, &err) != 0) {
        if (weir_kube_error_is_not_found(&err))
            goto out;
        api_error(w, "cannot delete the proxy config", ns, &err);
        res = weir_op_classify(&err);
        goto out;
    }
    weir_op_metrics_inc(w->opts.metrics, WEIR_OP_M_CONFIG_DELETES);
    weir_log(WEIR_LOG_INFO, "proxy config deleted: the namespace is not in the mesh", "namespace",
             ns, NULL);
out:
    json_decref(current);
    return res;
}

bool weir_op_writer_observe(struct weir_op_writer *w, const json_t *cm, bool deleted)
{
    const char *ns = weir_kube_obj_namespace(cm);
    const char *name = weir_kube_obj_name(cm);
    bool ours = false;

    if (!ns || !name || strcmp(name, WEIR_OP_CONFIGMAP_NAME) != 0)
        return false;
    pthread_mutex_lock(&w->lock);
    struct weir_op_written *m = weir_op_strmap_get(&w->memo, ns);
    if (m && !deleted && weir_op_configmap_is_ours(cm)) {
        const char *rev = annotation(cm, WEIR_OP_REVISION_ANNOTATION);
        ours = rev && strcmp(rev, m->revision) == 0 && holds_digest(cm, m->bytes, m->digest);
    }
    if (!ours)
        free(weir_op_strmap_remove(&w->memo, ns));
    pthread_mutex_unlock(&w->lock);
    return !ours;
}

static void mark_recheck(void *arg, const char *key, void *value)
{
    (void)arg;
    (void)key;
    ((struct weir_op_written *)value)->recheck = true;
}

void weir_op_writer_forget_all(struct weir_op_writer *w)
{
    pthread_mutex_lock(&w->lock);
    weir_op_strmap_foreach(&w->memo, mark_recheck, NULL);
    weir_op_strmap_free(&w->too_large, free);
    weir_op_strmap_init(&w->too_large);
    pthread_mutex_unlock(&w->lock);
}
