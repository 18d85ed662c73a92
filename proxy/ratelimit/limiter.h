/*
 * Local rate limits (the proxy config's `rateLimits`, docs/proxy-config.md):
 * token buckets kept by this proxy instance and shared by its worker threads.
 *
 * Buckets: a bucket starts full (`maxTokens`); every `fillIntervalMs` it gains
 * `tokensPerFill`, capped at `maxTokens`. Nothing runs on a timer: a bucket is
 * refilled when a request looks at it, from the number of whole fill intervals
 * that passed since the limit was created (the fill index), read from the
 * caller's monotonic clock. A limit without descriptors has one bucket; a limit
 * with descriptors has one per distinct combination of descriptor values (the
 * key), at most `maxBuckets`, the least recently used dropped past it.
 *
 * Sharing: a limit's state (`struct wp_rl_state`) is reference counted and
 * outlives the snapshot that created it when the next snapshot holds the same
 * limit (same name, same bucket parameters, descriptors and maxBuckets): the
 * main thread moves it over before publishing the snapshot (wp_rl_set_inherit),
 * so a reload keeps the tokens already spent. A changed or removed limit starts
 * over. Concurrency: the single bucket of a limit without descriptors is one
 * atomic word updated by compare-and-swap; keyed buckets sit in a table behind
 * one mutex per limit (see limiter.c for why and what it costs).
 *
 * Pure: no event loop, no sockets; the caller passes the clock. Unit tested by
 * proxy/tests/test_ratelimit.c.
 *
 * Return convention: functions returning int give 0 on success and -1 when
 * memory ran out; wp_rl_check returns the refusing entry or NULL.
 */
#ifndef WP_RATELIMIT_LIMITER_H
#define WP_RATELIMIT_LIMITER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/proxy_config.h"
#include "core/list.h"

struct wp_headers;

/* The bucket parameters of one limit. */
struct wp_rl_params {
    int64_t max_tokens;      /* 1..2^32-1 */
    int64_t tokens_per_fill; /* 1..2^32-1 */
    int64_t fill_interval_ms;
};

/* One bucket of a keyed limit, changed only under its limit's mutex. */
struct wp_rl_bucket {
    int64_t tokens;
    int64_t fill_index; /* the fill index at which tokens was last brought up to date */
};

/* The fill index at `now_ms` for a limit created at `origin_ms`. */
int64_t wp_rl_fill_index(const struct wp_rl_params *p, uint64_t origin_ms, uint64_t now_ms);
/* A full bucket at fill index `idx`. */
void wp_rl_bucket_init(struct wp_rl_bucket *b, const struct wp_rl_params *p, int64_t idx);
/* Brings the bucket up to fill index `idx` (an older index changes nothing). */
void wp_rl_bucket_refill(struct wp_rl_bucket *b, const struct wp_rl_params *p, int64_t idx);
/* Refills, then takes one token: true when there was one. */
bool wp_rl_bucket_take(struct wp_rl_bucket *b, const struct wp_rl_params *p, int64_t idx);

/* The bucket of a limit without descriptors, as one atomic word: tokens in the
 * high 32 bits, the fill index modulo 2^32 in the low 32. */
uint64_t wp_rl_word_full(const struct wp_rl_params *p, int64_t idx);
bool wp_rl_word_take(_Atomic uint64_t *word, const struct wp_rl_params *p, int64_t idx);
/* The tokens the word would hold at idx (for tests and the admin page). */
int64_t wp_rl_word_tokens(uint64_t word, const struct wp_rl_params *p, int64_t idx);

/* ---- keys and the bucket table ---- */

/* Keys longer than this are kept as their first WP_RL_KEY_STORED bytes, their
 * length and their keyed 64-bit hash, so that a header value of any size costs a
 * bounded amount of memory per bucket. */
#define WP_RL_KEY_STORED 256

/* What a limit looks at in a request or a TCP connection. */
struct wp_rl_request {
    uint16_t port;                    /* container port (inbound) or service port (outbound) */
    const char *route;                /* the selected HTTP route's name, NULL: none */
    const char *method;               /* NULL for TCP */
    const char *path;                 /* as received (the query is ignored); NULL for TCP */
    const struct wp_headers *headers; /* NULL for TCP */
    const char *source_ip;
    const char *source_principal; /* "" for plain-text peers */
};

/* Writes the key of rq for the limit's descriptors into buf (each value as a
 * 4-byte length and its bytes, so no two combinations share a key) and returns
 * its length, which may exceed cap (then buf holds only its first cap bytes, as
 * snprintf does). */
size_t wp_rl_key_build(const struct weir_pc_rate_limit *l, const struct wp_rl_request *rq,
                       char *buf, size_t cap);
/* SipHash-2-4 of len bytes under the 128-bit key (k0, k1). */
uint64_t wp_rl_siphash(const void *data, size_t len, uint64_t k0, uint64_t k1);

struct wp_rl_node {
    struct wp_rl_node *hnext; /* hash chain */
    struct wp_list lru;       /* most recently used first */
    uint64_t hash;
    size_t key_len; /* the whole key's length; key holds at most WP_RL_KEY_STORED bytes */
    struct wp_rl_bucket b;
    char key[];
};

/* Keyed buckets with least-recently-used eviction: a chained hash table under a
 * per-table random SipHash key (a client choosing header values cannot make
 * chains long), growing by doubling up to the bound. Not thread-safe: the
 * caller holds the limit's mutex. */
struct wp_rl_table {
    struct wp_rl_node **slots;
    size_t n_slots; /* 0 or a power of two */
    size_t len, max;
    struct wp_list lru;
    uint64_t k0, k1;
};

void wp_rl_table_init(struct wp_rl_table *t, size_t max_buckets, uint64_t k0, uint64_t k1);
void wp_rl_table_free(struct wp_rl_table *t);
/* The bucket of key (created full when absent, evicting the least recently used
 * one at the bound), marked most recently used. NULL when memory ran out. */
struct wp_rl_bucket *wp_rl_table_get(struct wp_rl_table *t, const char *key, size_t len,
                                     const struct wp_rl_params *p, int64_t idx);
/* The bucket of key if it is kept, without touching the LRU order (tests). */
const struct wp_rl_bucket *wp_rl_table_peek(const struct wp_rl_table *t, const char *key,
                                            size_t len);

/* ---- limits of a snapshot ---- */

/* The state of one limit; shared between the snapshots that hold the same limit. */
struct wp_rl_state {
    atomic_uint refs;
    char *name;
    struct wp_rl_params p;
    uint64_t origin_ms;    /* fill index 0 */
    _Atomic uint64_t word; /* the bucket, when the limit has no descriptors */
    pthread_mutex_t mu;    /* keyed limits: guards table */
    struct wp_rl_table table;
    _Atomic uint64_t limited; /* requests and connections refused: weir_proxy_rate_limited_total */
};

struct wp_rl_entry {
    const struct weir_pc_rate_limit *cfg; /* in the snapshot's document */
    struct wp_rl_state *st;
};

/* The limits that select this workload, in the document's order (by name). */
struct wp_rl_set {
    size_t n;
    struct wp_rl_entry items[];
};

/* Builds the set of cfg's limits whose selector matches labels; *out is NULL when
 * none does. */
int wp_rl_set_build(const struct weir_proxy_config *cfg, const struct weir_string_map *labels,
                    uint64_t now_ms, struct wp_rl_set **out);
/* Takes over from prev the state of every limit that is unchanged in set; the
 * refusal counters of limits whose parameters changed carry on too. Call before
 * set is visible to any other thread. Either may be NULL. */
void wp_rl_set_inherit(struct wp_rl_set *set, const struct wp_rl_set *prev);
void wp_rl_set_free(struct wp_rl_set *set);

/* True when the limit counts this request (direction checked by the caller). */
bool wp_rl_matches(const struct weir_pc_rate_limit *l, const struct wp_rl_request *rq);
/* True when the limit can apply to a TCP connection: inbound, a match on the
 * port at most, descriptors on the source address only. */
bool wp_rl_applies_to_tcp(const struct weir_pc_rate_limit *l);

/* Takes one token from each limit of the direction that matches rq, in name order;
 * returns the first limit that had none (its refusal counted; the tokens already
 * taken from the limits before it stay taken), NULL when all had one. tcp: only
 * the limits wp_rl_applies_to_tcp accepts. */
const struct wp_rl_entry *wp_rl_check(const struct wp_rl_set *set, enum weir_pc_direction dir,
                                      bool tcp, const struct wp_rl_request *rq, uint64_t now_ms);

#endif
