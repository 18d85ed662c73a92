#include "queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube/backoff.h"
#include "strmap.h"

struct qitem {
    const char *key; /* owned by the map entry */
    bool dirty;      /* must be processed (again) */
    bool processing;
    bool waiting; /* an entry of the heap is live for it */
    double ready_at;
    uint64_t wait_seq; /* the live heap entry's seq */
    unsigned failures;
    unsigned heap_refs; /* heap entries pointing here, live or stale */
};

/* A min-heap on the due time; FIFO among equal times through seq. Entries
 * whose seq no longer matches their item's are stale (the item became ready
 * earlier, or was rescheduled) and are dropped when they surface. */
struct hentry {
    double at;
    uint64_t seq;
    struct qitem *it;
};

struct weir_op_queue {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct weir_op_strmap items;
    struct qitem **ring; /* the ready FIFO */
    size_t ring_cap, ring_head, ring_len;
    struct hentry *heap;
    size_t heap_len, heap_cap;
    uint64_t next_seq;
    size_t n_waiting;
    bool shutdown;
    struct weir_kube_backoff backoff; /* the delay rule and the jitter source */
    double (*clock)(void *);
    void *clock_arg;
};

static double mono(void *arg)
{
    struct timespec ts;
    (void)arg;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int weir_op_queue_new(const struct weir_op_queue_options *opts, struct weir_op_queue **out)
{
    static const struct weir_op_queue_options defaults = {0};
    struct weir_op_queue *q = calloc(1, sizeof(*q));
    pthread_condattr_t attr;

    *out = NULL;
    if (!q)
        return -1;
    if (!opts)
        opts = &defaults;
    q->clock = opts->clock ? opts->clock : mono;
    q->clock_arg = opts->clock_arg;
    weir_kube_backoff_init(
        &q->backoff, opts->retry_initial > 0 ? opts->retry_initial : WEIR_OP_QUEUE_RETRY_INITIAL,
        opts->retry_max > 0 ? opts->retry_max : WEIR_OP_QUEUE_RETRY_MAX, 2.0, opts->seed);
    weir_op_strmap_init(&q->items);
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cond, &attr);
    pthread_condattr_destroy(&attr);
    *out = q;
    return 0;
}

void weir_op_queue_free(struct weir_op_queue *q)
{
    if (!q)
        return;
    weir_op_strmap_free(&q->items, free);
    free(q->ring);
    free(q->heap);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

/* ---- internals, under the lock ---- */

static int ring_push(struct weir_op_queue *q, struct qitem *it)
{
    if (q->ring_len == q->ring_cap) {
        size_t cap = q->ring_cap ? q->ring_cap * 2 : 16;
        struct qitem **r = malloc(cap * sizeof(*r));
        if (!r)
            return -1;
        for (size_t i = 0; i < q->ring_len; i++)
            r[i] = q->ring[(q->ring_head + i) % q->ring_cap];
        free(q->ring);
        q->ring = r;
        q->ring_cap = cap;
        q->ring_head = 0;
    }
    q->ring[(q->ring_head + q->ring_len) % q->ring_cap] = it;
    q->ring_len++;
    return 0;
}

static struct qitem *ring_pop(struct weir_op_queue *q)
{
    struct qitem *it = q->ring[q->ring_head];
    q->ring_head = (q->ring_head + 1) % q->ring_cap;
    q->ring_len--;
    return it;
}

static bool before(const struct hentry *a, const struct hentry *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static int heap_push(struct weir_op_queue *q, struct hentry e)
{
    if (q->heap_len == q->heap_cap) {
        size_t cap = q->heap_cap ? q->heap_cap * 2 : 16;
        struct hentry *h = realloc(q->heap, cap * sizeof(*h));
        if (!h)
            return -1;
        q->heap = h;
        q->heap_cap = cap;
    }
    size_t i = q->heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&e, &q->heap[parent]))
            break;
        q->heap[i] = q->heap[parent];
        i = parent;
    }
    q->heap[i] = e;
    return 0;
}

static struct hentry heap_pop(struct weir_op_queue *q)
{
    struct hentry top = q->heap[0], last = q->heap[--q->heap_len];
    size_t i = 0, n = q->heap_len;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && before(&q->heap[c + 1], &q->heap[c]))
            c++;
        if (!before(&q->heap[c], &last))
            break;
        q->heap[i] = q->heap[c];
        i = c;
    }
    if (n)
        q->heap[i] = last;
    return top;
}

static void maybe_drop(struct weir_op_queue *q, struct qitem *it)
{
    if (it->dirty || it->processing || it->waiting || it->heap_refs || it->failures)
        return;
    free(weir_op_strmap_remove(&q->items, it->key));
}

static struct qitem *item_for(struct weir_op_queue *q, const char *key)
{
    struct qitem *it = weir_op_strmap_get(&q->items, key);
    if (it)
        return it;
    it = calloc(1, sizeof(*it));
    if (!it || weir_op_strmap_put(&q->items, key, it, NULL, &it->key) != 0) {
        free(it);
        return NULL;
    }
    return it;
}

static void cancel_wait(struct weir_op_queue *q, struct qitem *it)
{
    if (it->waiting) {
        it->waiting = false; /* its heap entry is stale now */
        q->n_waiting--;
    }
}

static int make_ready(struct weir_op_queue *q, struct qitem *it)
{
    cancel_wait(q, it);
    if (it->dirty)
        return 0;
    it->dirty = true;
    if (it->processing)
        return 0;
    if (ring_push(q, it) != 0) {
        it->dirty = false;
        maybe_drop(q, it);
        return -1;
    }
    pthread_cond_signal(&q->cond);
    return 0;
}

static int schedule(struct weir_op_queue *q, struct qitem *it, double at)
{
    if (it->dirty && !it->processing)
        return 0; /* already ready: it runs before the delay would end */
    if (it->waiting && it->ready_at <= at)
        return 0;
    struct hentry e = {at, ++q->next_seq, it};
    if (heap_push(q, e) != 0) {
        maybe_drop(q, it);
        return -1;
    }
    if (!it->waiting)
        q->n_waiting++;
    it->waiting = true;
    it->ready_at = at;
    it->wait_seq = e.seq;
    it->heap_refs++;
    /* the worker may be sleeping until a later deadline */
    pthread_cond_broadcast(&q->cond);
    return 0;
}

/* Moves the waiting keys that are due to the ready FIFO. */
static void promote(struct weir_op_queue *q, double now)
{
    while (q->heap_len && q->heap[0].at <= now) {
        struct hentry e = heap_pop(q);
        struct qitem *it = e.it;
        it->heap_refs--;
        if (it->waiting && it->wait_seq == e.seq) {
            cancel_wait(q, it);
            if (make_ready(q, it) != 0) {
                /* out of memory: try again a little later rather than lose it */
                schedule(q, it, now + 1);
                continue;
            }
        }
        maybe_drop(q, it);
    }
}

/* ---- the API ---- */

int weir_op_queue_add(struct weir_op_queue *q, const char *key)
{
    int rc = -1;
    pthread_mutex_lock(&q->lock);
    if (q->shutdown) {
        rc = 0;
    } else {
        struct qitem *it = item_for(q, key);
        if (it)
            rc = make_ready(q, it);
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int weir_op_queue_add_after(struct weir_op_queue *q, const char *key, double delay)
{
    int rc = -1;
    if (delay <= 0)
        return weir_op_queue_add(q, key);
    pthread_mutex_lock(&q->lock);
    if (q->shutdown) {
        rc = 0;
    } else {
        struct qitem *it = item_for(q, key);
        if (it)
            rc = schedule(q, it, q->clock(q->clock_arg) + delay);
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}

static double next_uniform(struct weir_op_queue *q)
{
    uint64_t x = q->backoff.rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    q->backoff.rng = x;
    return (double)(x >> 11) / 9007199254740992.0;
}

int weir_op_queue_add_rate_limited(struct weir_op_queue *q, const char *key, double *delay)
{
    int rc = -1;
    double d = 0;
    pthread_mutex_lock(&q->lock);
    if (q->shutdown) {
        rc = 0;
    } else {
        struct qitem *it = item_for(q, key);
        if (it) {
            d = weir_kube_backoff_delay(&q->backoff, it->failures, next_uniform(q));
            if (it->failures < 64)
                it->failures++;
            rc = schedule(q, it, q->clock(q->clock_arg) + d);
        }
    }
    pthread_mutex_unlock(&q->lock);
    if (delay)
        *delay = d;
    return rc;
}

void weir_op_queue_forget(struct weir_op_queue *q, const char *key)
{
    pthread_mutex_lock(&q->lock);
    struct qitem *it = weir_op_strmap_get(&q->items, key);
    if (it) {
        it->failures = 0;
        maybe_drop(q, it);
    }
    pthread_mutex_unlock(&q->lock);
}

unsigned weir_op_queue_failures(struct weir_op_queue *q, const char *key)
{
    pthread_mutex_lock(&q->lock);
    struct qitem *it = weir_op_strmap_get(&q->items, key);
    unsigned n = it ? it->failures : 0;
    pthread_mutex_unlock(&q->lock);
    return n;
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t weir_op_queue_get_batch(struct weir_op_queue *q, const char **keys, size_t max,
                               double timeout)
{
    size_t n = 0;
    pthread_mutex_lock(&q->lock);
    double now = q->clock(q->clock_arg);
    double end = now + (timeout > 0 ? timeout : 0);
    for (;;) {
        if (q->shutdown)
            break;
        promote(q, now);
        if (q->ring_len)
            break;
        if (now >= end)
            break;
        double until = end;
        if (q->heap_len && q->heap[0].at < until)
            until = q->heap[0].at;
        /* the wait is measured on CLOCK_MONOTONIC even under a test clock */
        struct timespec ts;
        double wait = until - now, real;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        real = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + (wait > 0 ? wait : 0);
        ts.tv_sec = (time_t)real;
        ts.tv_nsec = (long)((real - (double)ts.tv_sec) * 1e9);
        int rc = pthread_cond_timedwait(&q->cond, &q->lock, &ts);
        now = q->clock(q->clock_arg);
        if (rc == ETIMEDOUT && q->clock != mono && now < until)
            break; /* a frozen test clock: do not spin */
    }
    while (!q->shutdown && n < max && q->ring_len) {
        struct qitem *it = ring_pop(q);
        it->dirty = false;
        it->processing = true;
        keys[n++] = it->key;
    }
    pthread_mutex_unlock(&q->lock);
    qsort(keys, n, sizeof(*keys), cmp_key);
    return n;
}

void weir_op_queue_done(struct weir_op_queue *q, const char *key)
{
    pthread_mutex_lock(&q->lock);
    struct qitem *it = weir_op_strmap_get(&q->items, key);
    if (it && it->processing) {
        it->processing = false;
        if (it->dirty && !q->shutdown) {
            /* an event came in while it ran: now beats a pending retry */
            cancel_wait(q, it);
            if (ring_push(q, it) != 0)
                schedule(q, it, q->clock(q->clock_arg) + 1);
            else
                pthread_cond_signal(&q->cond);
        }
        maybe_drop(q, it);
    }
    pthread_mutex_unlock(&q->lock);
}

size_t weir_op_queue_len(struct weir_op_queue *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->ring_len + q->n_waiting;
    pthread_mutex_unlock(&q->lock);
    return n;
}

size_t weir_op_queue_ready(struct weir_op_queue *q)
{
    pthread_mutex_lock(&q->lock);
    promote(q, q->clock(q->clock_arg));
    size_t n = q->ring_len;
    pthread_mutex_unlock(&q->lock);
    return n;
}

void weir_op_queue_shutdown(struct weir_op_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->shutdown = true;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

bool weir_op_queue_is_shutdown(struct weir_op_queue *q)
{
    pthread_mutex_lock(&q->lock);
    bool s = q->shutdown;
    pthread_mutex_unlock(&q->lock);
    return s;
}
