#include "status.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "kube/cache.h"
#include "strmap.h"

#define CONDITION_TYPE  "Accepted"
#define RECONCILED_TYPE "Reconciled"
/* metav1.Condition's limit on message. */
#define MESSAGE_MAX 32768

struct written {
    char uid[64];
    int64_t generation;
    uint64_t digest; /* of status, reason and message */
};

struct weir_op_status {
    struct weir_op_status_options opts;
    pthread_mutex_t lock;
    struct weir_op_strmap memo; /* "Kind/ns/name" -> struct written */
};

void weir_op_rfc3339_now(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static bool same_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static json_int_t int_of(const json_t *v)
{
    /* observedGeneration is int-or-string in the schema */
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return -1;
}

/* One condition as the operator wants it. */
struct want {
    const char *type, *status, *reason, *message;
    const json_t *cur; /* the object's condition of that type, NULL when none */
    bool placed;
};

static const json_t *find_condition(const json_t *conds, const char *type)
{
    const json_t *c;
    size_t i;
    json_array_foreach(conds, i, c)
    {
        if (same_str(str(c, "type"), type))
            return c;
    }
    return NULL;
}

static bool condition_same(const struct want *w, json_int_t generation)
{
    return w->cur && int_of(json_object_get(w->cur, "observedGeneration")) == generation &&
           same_str(str(w->cur, "status"), w->status) &&
           same_str(str(w->cur, "reason"), w->reason) &&
           same_str(str(w->cur, "message"), w->message);
}

static json_t *condition_json(const struct want *w, json_int_t generation, const char *now)
{
    const char *since =
        w->cur && same_str(str(w->cur, "status"), w->status) && str(w->cur, "lastTransitionTime")
            ? str(w->cur, "lastTransitionTime")
            : now;
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "type", w->type, "status", w->status,
                     "reason", w->reason ? w->reason : "", "message", w->message,
                     "observedGeneration", generation, "lastTransitionTime", since);
}

int weir_op_status_patch(const struct weir_cr_status *st, const struct weir_op_reconciled *rec,
                         int64_t generation, const json_t *current, const char *now, json_t **patch)
{
    const json_t *cur_status = json_object_get(current, "status");
    const json_t *cur_conds = json_object_get(cur_status, "conditions");
    const json_t *c;
    char message[MESSAGE_MAX + 1], rec_message[MESSAGE_MAX + 1];
    struct want want[2];
    size_t n_want = 0, i;
    bool same;
    json_t *conds = NULL, *cond = NULL;

    *patch = NULL;
    snprintf(message, sizeof(message), "%s", st->message ? st->message : "");
    want[n_want++] = (struct want){
        CONDITION_TYPE, st->accepted ? "True" : "False", st->reason, message, NULL, false};
    if (rec) {
        snprintf(rec_message, sizeof(rec_message), "%s", rec->message ? rec->message : "");
        want[n_want++] = (struct want){
            RECONCILED_TYPE, rec->done ? "True" : "False", rec->reason, rec_message, NULL, false};
    }
    same = int_of(json_object_get(cur_status, "observedGeneration")) == generation;
    for (i = 0; i < n_want; i++) {
        want[i].cur = find_condition(cur_conds, want[i].type);
        same = same && condition_same(&want[i], generation);
    }
    if (same)
        return 0;

    if (!(conds = json_array()))
        goto oom;
    /* other controllers' conditions stay, in their place, and so do ours */
    json_array_foreach(cur_conds, i, c)
    {
        struct want *w = NULL;
        for (size_t k = 0; k < n_want && !w; k++)
            if (!want[k].placed && same_str(str(c, "type"), want[k].type))
                w = &want[k];
        if (!w) {
            if (json_array_append(conds, (json_t *)c) != 0)
                goto oom;
            continue;
        }
        if (!(cond = condition_json(w, generation, now)) || json_array_append_new(conds, cond) != 0)
            goto oom; /* append_new took cond even when it failed */
        w->placed = true;
    }
    for (i = 0; i < n_want; i++) {
        if (want[i].placed)
            continue;
        if (!(cond = condition_json(&want[i], generation, now)) ||
            json_array_append_new(conds, cond) != 0)
            goto oom;
    }
    *patch = json_pack("{s:{s:I, s:o}}", "status", "observedGeneration", (json_int_t)generation,
                       "conditions", conds);
    return *patch ? 0 : -1;
oom:
    json_decref(conds);
    return -1;
}

int weir_op_status_new(const struct weir_op_status_options *opts, struct weir_op_status **out)
{
    struct weir_op_status *s = calloc(1, sizeof(*s));
    *out = s;
    if (!s)
        return -1;
    s->opts = *opts;
    pthread_mutex_init(&s->lock, NULL);
    weir_op_strmap_init(&s->memo);
    return 0;
}

void weir_op_status_free(struct weir_op_status *s)
{
    if (!s)
        return;
    weir_op_strmap_free(&s->memo, free);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static void memo_key(const json_t *obj, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s/%s", str(obj, "kind") ? str(obj, "kind") : "",
             weir_kube_obj_namespace(obj) ? weir_kube_obj_namespace(obj) : "",
             weir_kube_obj_name(obj) ? weir_kube_obj_name(obj) : "");
}

static uint64_t digest(const struct weir_cr_status *st, const struct weir_op_reconciled *rec)
{
    char buf[2 * MESSAGE_MAX + 256];
    int n =
        snprintf(buf, sizeof(buf), "%d\n%s\n%s\n%d\n%s\n%s", st->accepted,
                 st->reason ? st->reason : "", st->message ? st->message : "", rec ? rec->done : -1,
                 rec && rec->reason ? rec->reason : "", rec && rec->message ? rec->message : "");
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(buf))
        n = sizeof(buf) - 1;
    return weir_op_fnv1a(buf, (size_t)n);
}

static const char *uid_of(const json_t *obj)
{
    const char *u = str(json_object_get(obj, "metadata"), "uid");
    return u ? u : "";
}

static json_int_t generation_of(const json_t *obj)
{
    return json_integer_value(json_object_get(json_object_get(obj, "metadata"), "generation"));
}

enum weir_op_result weir_op_status_sync(struct weir_op_status *s,
                                        const struct weir_kube_resource *res,
                                        const struct weir_cr_status *st,
                                        const struct weir_op_reconciled *rec, int64_t generation,
                                        const json_t *current)
{
    char key[WEIR_KUBE_KEY_MAX + 64], now[40], text[1536];
    struct weir_kube_error err;
    json_t *patch = NULL;
    uint64_t d = digest(st, rec);
    enum weir_op_result rc = WEIR_OP_OK;

    if (!current || generation_of(current) > generation)
        return WEIR_OP_OK; /* gone, or a newer generation is queued */
    memo_key(current, key, sizeof(key));
    pthread_mutex_lock(&s->lock);
    struct written *m = weir_op_strmap_get(&s->memo, key);
    bool known =
        m && m->generation == generation && m->digest == d && strcmp(m->uid, uid_of(current)) == 0;
    pthread_mutex_unlock(&s->lock);
    if (known)
        return WEIR_OP_OK;

    weir_op_rfc3339_now(now, sizeof(now));
    if (weir_op_status_patch(st, rec, generation, current, now, &patch) != 0)
        return WEIR_OP_RETRY;
    if (patch) {
        if (!weir_op_gate_open(&s->opts.gate)) {
            json_decref(patch);
            return WEIR_OP_NOT_LEADER;
        }
        struct weir_kube_patch_options po = {.type = WEIR_KUBE_PATCH_MERGE,
                                             .subresource = "status"};
        if (weir_kube_patch(s->opts.client, res, weir_kube_obj_namespace(current),
                            weir_kube_obj_name(current), patch, &po, NULL, &err) != 0) {
            json_decref(patch);
            if (weir_kube_error_is_not_found(&err))
                return WEIR_OP_OK;
            weir_kube_error_format(&err, text, sizeof(text));
            weir_op_metrics_inc(s->opts.metrics, WEIR_OP_M_API_ERRORS);
            weir_log(WEIR_LOG_ERROR, "cannot update the status", "object", key, "error", text,
                     NULL);
            return weir_op_classify(&err);
        }
        json_decref(patch);
        weir_op_metrics_inc(s->opts.metrics, WEIR_OP_M_STATUS_WRITES);
        weir_log(st->accepted ? WEIR_LOG_INFO : WEIR_LOG_WARN, "status updated", "object", key,
                 "accepted", st->accepted ? "true" : "false", "reason", st->reason, "message",
                 st->message, NULL);
        if (!st->accepted) {
            struct weir_kube_event ev = {
                .regarding = current,
                .type = "Warning",
                .reason = st->reason ? st->reason : "Invalid",
                .action = "Reconcile",
                .note = st->message,
                .reporting_controller = WEIR_OP_REPORTING_CONTROLLER,
                .reporting_instance = s->opts.instance,
            };
            if (weir_kube_event_create(s->opts.client, &ev, NULL, &err) != 0) {
                /* the status says it already; an Event is a courtesy */
                weir_kube_error_format(&err, text, sizeof(text));
                weir_op_metrics_inc(s->opts.metrics, WEIR_OP_M_API_ERRORS);
                weir_log(WEIR_LOG_WARN, "cannot create an Event", "object", key, "error", text,
                         NULL);
            } else {
                weir_op_metrics_inc(s->opts.metrics, WEIR_OP_M_EVENTS);
            }
        }
    }

    struct written *w = malloc(sizeof(*w)), *old = NULL;
    if (w) {
        snprintf(w->uid, sizeof(w->uid), "%s", uid_of(current));
        w->generation = generation;
        w->digest = d;
        pthread_mutex_lock(&s->lock);
        if (weir_op_strmap_put(&s->memo, key, w, (void **)&old, NULL) != 0)
            free(w);
        free(old);
        pthread_mutex_unlock(&s->lock);
    }
    return rc;
}

void weir_op_status_forget(struct weir_op_status *s, const json_t *obj)
{
    char key[WEIR_KUBE_KEY_MAX + 64];
    memo_key(obj, key, sizeof(key));
    pthread_mutex_lock(&s->lock);
    free(weir_op_strmap_remove(&s->memo, key));
    pthread_mutex_unlock(&s->lock);
}

void weir_op_status_forget_all(struct weir_op_status *s)
{
    pthread_mutex_lock(&s->lock);
    weir_op_strmap_free(&s->memo, free);
    weir_op_strmap_init(&s->memo);
    pthread_mutex_unlock(&s->lock);
}
