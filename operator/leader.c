#include "leader.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void micro_time(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    char base[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%06ldZ", base, ts.tv_nsec / 1000);
}

/* ---- the pure part ---- */

const char *weir_op_lease_action_name(enum weir_op_lease_action a)
{
    switch (a) {
    case WEIR_OP_LEASE_CREATE:
        return "create";
    case WEIR_OP_LEASE_RENEW:
        return "renew";
    case WEIR_OP_LEASE_ACQUIRE:
        return "acquire";
    case WEIR_OP_LEASE_WAIT:
        return "wait";
    }
    return "?";
}

void weir_op_lease_record_parse(const json_t *lease, struct weir_op_lease_record *out)
{
    const json_t *spec = json_object_get(lease, "spec");
    const char *s;
    memset(out, 0, sizeof(*out));
    if (!json_is_object(lease))
        return;
    out->exists = true;
    if ((s = json_string_value(json_object_get(spec, "holderIdentity"))))
        snprintf(out->holder, sizeof(out->holder), "%s", s);
    out->duration = (int)json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
    if ((s = json_string_value(json_object_get(spec, "acquireTime"))))
        snprintf(out->acquire_time, sizeof(out->acquire_time), "%s", s);
    if ((s = json_string_value(json_object_get(spec, "renewTime"))))
        snprintf(out->renew_time, sizeof(out->renew_time), "%s", s);
    out->transitions = (int)json_integer_value(json_object_get(spec, "leaseTransitions"));
}

static bool same_record(const struct weir_op_lease_record *a, const struct weir_op_lease_record *b)
{
    return a->exists == b->exists && a->duration == b->duration &&
           a->transitions == b->transitions && strcmp(a->holder, b->holder) == 0 &&
           strcmp(a->acquire_time, b->acquire_time) == 0 &&
           strcmp(a->renew_time, b->renew_time) == 0;
}

enum weir_op_lease_action weir_op_lease_decide(const struct weir_op_lease_record *rec,
                                               const char *id, struct weir_op_lease_observer *obs,
                                               double now)
{
    if (!obs->valid || !same_record(&obs->seen, rec)) {
        obs->seen = *rec;
        obs->at = now;
        obs->valid = true;
    }
    if (!rec->exists)
        return WEIR_OP_LEASE_CREATE;
    if (rec->holder[0] && strcmp(rec->holder, id) == 0)
        return WEIR_OP_LEASE_RENEW;
    if (!rec->holder[0])
        return WEIR_OP_LEASE_ACQUIRE;
    /* a holder's claim stands for its duration after we last saw it move;
     * a zero or missing duration is treated as client-go's default */
    double duration = rec->duration > 0 ? rec->duration : WEIR_OP_LEASE_DURATION;
    return now - obs->at >= duration ? WEIR_OP_LEASE_ACQUIRE : WEIR_OP_LEASE_WAIT;
}

json_t *weir_op_lease_build(const json_t *current, enum weir_op_lease_action action, const char *ns,
                            const char *name, const char *id, int duration, const char *now)
{
    struct weir_op_lease_record rec;
    json_t *lease, *spec;

    if (action == WEIR_OP_LEASE_CREATE || !current)
        return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:i, s:s, s:s, s:i}}", "apiVersion",
                         "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name", name,
                         "namespace", ns, "spec", "holderIdentity", id, "leaseDurationSeconds",
                         duration, "acquireTime", now, "renewTime", now, "leaseTransitions", 0);
    weir_op_lease_record_parse(current, &rec);
    lease = json_deep_copy(current);
    if (!lease)
        return NULL;
    spec = json_object_get(lease, "spec");
    if (!json_is_object(spec)) {
        spec = json_object();
        if (!spec || json_object_set_new(lease, "spec", spec) != 0) {
            json_decref(lease);
            return NULL;
        }
    }
    json_object_set_new(spec, "holderIdentity", json_string(id));
    json_object_set_new(spec, "leaseDurationSeconds", json_integer(duration));
    json_object_set_new(spec, "renewTime", json_string(now));
    if (action == WEIR_OP_LEASE_ACQUIRE || strcmp(rec.holder, id) != 0) {
        json_object_set_new(spec, "acquireTime", json_string(now));
        /* a release leaves no holder; taking a free lease is a transition too */
        json_object_set_new(spec, "leaseTransitions", json_integer(rec.transitions + 1));
    }
    return lease;
}

json_t *weir_op_lease_release(const json_t *current, const char *now)
{
    json_t *lease = json_deep_copy(current);
    json_t *spec = json_object_get(lease, "spec");
    if (!lease || !json_is_object(spec)) {
        json_decref(lease);
        return NULL;
    }
    /* client-go's ReleaseOnCancel: no holder, and a 1 s claim */
    json_object_set_new(spec, "holderIdentity", json_string(""));
    json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
    json_object_set_new(spec, "renewTime", json_string(now));
    json_object_set_new(spec, "acquireTime", json_string(now));
    return lease;
}

/* ---- the elector ---- */

struct weir_op_leader {
    struct weir_op_leader_options o;
    char *ns, *name, *id;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    atomic_bool leading;
    double last_renew; /* monotonic, under lock */
    struct weir_op_lease_observer obs;
    double expires_at; /* monotonic: when the holder's claim we saw runs out */
    uint64_t rng;
};

int weir_op_leader_new(const struct weir_op_leader_options *opts, struct weir_op_leader **out)
{
    struct weir_op_leader *l = calloc(1, sizeof(*l));
    pthread_condattr_t attr;
    *out = NULL;
    if (!l)
        return -1;
    l->o = *opts;
    if (l->o.lease_duration <= 0)
        l->o.lease_duration = WEIR_OP_LEASE_DURATION;
    if (l->o.renew_deadline <= 0)
        l->o.renew_deadline = WEIR_OP_RENEW_DEADLINE;
    if (l->o.retry_period <= 0)
        l->o.retry_period = WEIR_OP_RETRY_PERIOD;
    l->ns = strdup(opts->namespace_);
    l->name = strdup(opts->name);
    l->id = strdup(opts->identity);
    if (!l->ns || !l->name || !l->id) {
        free(l->ns);
        free(l->name);
        free(l->id);
        free(l);
        return -1;
    }
    atomic_init(&l->leading, false);
    pthread_mutex_init(&l->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cond, &attr);
    pthread_condattr_destroy(&attr);
    l->rng = (uint64_t)(mono() * 1e9) ^ (uint64_t)(uintptr_t)l;
    if (!l->rng)
        l->rng = 1;
    *out = l;
    return 0;
}

bool weir_op_leader_is_leader(struct weir_op_leader *l)
{
    if (!atomic_load(&l->leading))
        return false;
    pthread_mutex_lock(&l->lock);
    bool fresh = mono() - l->last_renew < l->o.renew_deadline;
    pthread_mutex_unlock(&l->lock);
    return fresh;
}

bool weir_op_leader_gate(void *leader)
{
    return weir_op_leader_is_leader(leader);
}

static void log_error(const char *msg, const struct weir_kube_error *err)
{
    char text[1536];
    weir_kube_error_format(err, text, sizeof(text));
    weir_log(WEIR_LOG_WARN, msg, "error", text, NULL);
}

/* One attempt; true when we hold the lease afterwards. */
static bool try_acquire_or_renew(struct weir_op_leader *l)
{
    struct weir_kube_error err;
    struct weir_op_lease_record rec;
    json_t *current = NULL, *want = NULL;
    char now[48];
    bool ok = false;
    int duration = (int)(l->o.lease_duration + 0.5);

    if (weir_kube_get(l->o.client, &weir_kube_res_leases, l->ns, l->name, &current, &err) != 0) {
        if (!weir_kube_error_is_not_found(&err)) {
            log_error("cannot read the lease", &err);
            return false;
        }
        current = NULL;
    }
    weir_op_lease_record_parse(current, &rec);
    enum weir_op_lease_action a = weir_op_lease_decide(&rec, l->id, &l->obs, mono());
    if (a == WEIR_OP_LEASE_WAIT) {
        l->expires_at = l->obs.at + (rec.duration > 0 ? rec.duration : l->o.lease_duration);
        goto out;
    }
    micro_time(now, sizeof(now));
    want = weir_op_lease_build(current, a, l->ns, l->name, l->id, duration, now);
    if (!want)
        goto out;
    int rc = a == WEIR_OP_LEASE_CREATE
                 ? weir_kube_create(l->o.client, &weir_kube_res_leases, l->ns, want, NULL, &err)
                 : weir_kube_update(l->o.client, &weir_kube_res_leases, l->ns, l->name, want, NULL,
                                    &err);
    if (rc != 0) {
        /* another candidate won the race (409) or the API server is away */
        if (!weir_kube_error_is_conflict(&err) && !weir_kube_error_is_already_exists(&err))
            log_error("cannot write the lease", &err);
        goto out;
    }
    ok = true;
    if (a != WEIR_OP_LEASE_RENEW)
        weir_log(WEIR_LOG_INFO, "acquired the lease", "lease", l->name, "namespace", l->ns,
                 "identity", l->id, "previous", rec.holder[0] ? rec.holder : NULL, NULL);
out:
    json_decref(current);
    json_decref(want);
    return ok;
}

static void set_leading(struct weir_op_leader *l, bool leading)
{
    atomic_store(&l->leading, leading);
    if (l->o.on_change)
        l->o.on_change(l->o.arg, leading);
}

/* Sleeps up to seconds; false when asked to stop. */
static bool nap(struct weir_op_leader *l, double seconds)
{
    struct timespec ts;
    pthread_mutex_lock(&l->lock);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double until = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + seconds;
    ts.tv_sec = (time_t)until;
    ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
    while (!l->stop && pthread_cond_timedwait(&l->cond, &l->lock, &ts) != ETIMEDOUT)
        ;
    bool go = !l->stop;
    pthread_mutex_unlock(&l->lock);
    return go;
}

static double jitter(struct weir_op_leader *l)
{
    uint64_t x = l->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    l->rng = x;
    return (double)(x >> 11) / 9007199254740992.0;
}

static void *run(void *arg)
{
    struct weir_op_leader *l = arg;
    double wait;
    do {
        bool ok = try_acquire_or_renew(l);
        double now = mono();
        pthread_mutex_lock(&l->lock);
        if (ok)
            l->last_renew = now;
        double since = now - l->last_renew;
        pthread_mutex_unlock(&l->lock);
        if (ok && !atomic_load(&l->leading)) {
            set_leading(l, true);
        } else if (!ok && atomic_load(&l->leading) && since >= l->o.renew_deadline) {
            weir_log(WEIR_LOG_ERROR, "lost the lease: could not renew it within the deadline",
                     "lease", l->name, "namespace", l->ns, NULL);
            set_leading(l, false);
        }
        wait = l->o.retry_period;
        /* candidates spread their tries (client-go's jitter factor 1.2), and
         * try again right when the claim they wait for runs out rather than
         * up to a retry period later */
        if (!atomic_load(&l->leading)) {
            wait *= 1.0 + 0.2 * jitter(l);
            if (l->expires_at > now && l->expires_at - now + 0.01 < wait)
                wait = l->expires_at - now + 0.01;
        }
    } while (nap(l, wait));
    return NULL;
}

int weir_op_leader_start(struct weir_op_leader *l)
{
    if (pthread_create(&l->thread, NULL, run, l) != 0)
        return -1;
    l->started = true;
    return 0;
}

static void release(struct weir_op_leader *l)
{
    struct weir_kube_error err;
    struct weir_op_lease_record rec;
    json_t *current = NULL, *want = NULL;
    char now[48];

    if (weir_kube_get(l->o.client, &weir_kube_res_leases, l->ns, l->name, &current, &err) != 0) {
        log_error("cannot release the lease", &err);
        return;
    }
    weir_op_lease_record_parse(current, &rec);
    if (strcmp(rec.holder, l->id) == 0) {
        micro_time(now, sizeof(now));
        want = weir_op_lease_release(current, now);
        if (want && weir_kube_update(l->o.client, &weir_kube_res_leases, l->ns, l->name, want, NULL,
                                     &err) != 0)
            log_error("cannot release the lease", &err);
        else if (want)
            weir_log(WEIR_LOG_INFO, "released the lease", "lease", l->name, "namespace", l->ns,
                     NULL);
    }
    json_decref(current);
    json_decref(want);
}

void weir_op_leader_stop(struct weir_op_leader *l, bool do_release)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    l->stop = true;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
    if (l->started) {
        pthread_join(l->thread, NULL);
        l->started = false;
    }
    bool was = atomic_exchange(&l->leading, false);
    if (was && l->o.on_change)
        l->o.on_change(l->o.arg, false);
    if (was && do_release)
        release(l);
}

void weir_op_leader_free(struct weir_op_leader *l)
{
    if (!l)
        return;
    weir_op_leader_stop(l, false);
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->lock);
    free(l->ns);
    free(l->name);
    free(l->id);
    free(l);
}
