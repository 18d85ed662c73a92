/*
 * The rate limiter's pure parts (ratelimit/limiter.c): bucket arithmetic (start
 * full, whole fills only, the cap, long idle times, a clock reading older than
 * the word's), descriptor keys, the bucket table's least-recently-used bound,
 * matching, limits kept or dropped across reloads, four threads sharing a
 * bucket, and the cost of a take.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/message.h"
#include "ratelimit/limiter.h"

static const struct wp_rl_params P5 = {
    .max_tokens = 5, .tokens_per_fill = 2, .fill_interval_ms = 1000};

START_TEST(bucket_starts_full_and_refills)
{
    struct wp_rl_bucket b;
    wp_rl_bucket_init(&b, &P5, 0);
    for (int i = 0; i < 5; i++)
        ck_assert(wp_rl_bucket_take(&b, &P5, 0));
    ck_assert(!wp_rl_bucket_take(&b, &P5, 0));
    /* 999 ms is still fill index 0: no partial tokens */
    ck_assert_int_eq(wp_rl_fill_index(&P5, 1000, 1999), 0);
    ck_assert_int_eq(wp_rl_fill_index(&P5, 1000, 2000), 1);
    ck_assert_int_eq(wp_rl_fill_index(&P5, 1000, 500), 0); /* before the origin */
    ck_assert(!wp_rl_bucket_take(&b, &P5, wp_rl_fill_index(&P5, 1000, 1999)));
    /* one fill: two tokens */
    ck_assert(wp_rl_bucket_take(&b, &P5, 1));
    ck_assert(wp_rl_bucket_take(&b, &P5, 1));
    ck_assert(!wp_rl_bucket_take(&b, &P5, 1));
    /* an older index changes nothing */
    wp_rl_bucket_refill(&b, &P5, 0);
    ck_assert_int_eq(b.tokens, 0);
    ck_assert_int_eq(b.fill_index, 1);
    /* two fills: 4, three fills: capped at 5 */
    wp_rl_bucket_refill(&b, &P5, 3);
    ck_assert_int_eq(b.tokens, 4);
    wp_rl_bucket_refill(&b, &P5, 4);
    ck_assert_int_eq(b.tokens, 5);
}
END_TEST

START_TEST(bucket_long_idle)
{
    struct wp_rl_params big = {
        .max_tokens = 4294967295LL, .tokens_per_fill = 4294967295LL, .fill_interval_ms = 1};
    struct wp_rl_bucket b;
    wp_rl_bucket_init(&b, &big, 0);
    b.tokens = 0;
    /* elapsed x tokensPerFill would overflow int64: capped without computing it */
    wp_rl_bucket_refill(&b, &big, INT64_C(1) << 40);
    ck_assert_int_eq(b.tokens, 4294967295LL);
    wp_rl_bucket_init(&b, &P5, 7);
    b.tokens = 1;
    wp_rl_bucket_refill(&b, &P5, INT64_C(1) << 50);
    ck_assert_int_eq(b.tokens, 5);
}
END_TEST

START_TEST(word_take)
{
    _Atomic uint64_t w;
    struct wp_rl_params big = {
        .max_tokens = 4294967295LL, .tokens_per_fill = 1, .fill_interval_ms = 1};
    atomic_init(&w, wp_rl_word_full(&P5, 0));
    ck_assert_int_eq(wp_rl_word_tokens(atomic_load(&w), &P5, 0), 5);
    for (int i = 0; i < 5; i++)
        ck_assert(wp_rl_word_take(&w, &P5, 0));
    ck_assert(!wp_rl_word_take(&w, &P5, 0));
    ck_assert(wp_rl_word_take(&w, &P5, 1));
    ck_assert(wp_rl_word_take(&w, &P5, 1));
    ck_assert(!wp_rl_word_take(&w, &P5, 1));
    /* a worker whose clock reading is older than the word's index: no refill */
    ck_assert(!wp_rl_word_take(&w, &P5, 0));
    ck_assert_int_eq(wp_rl_word_tokens(atomic_load(&w), &P5, 1), 0);
    /* idle for a long time (below the wrap): full */
    ck_assert_int_eq(wp_rl_word_tokens(atomic_load(&w), &P5, 1000000), 5);
    ck_assert(wp_rl_word_take(&w, &P5, 3000000000LL));
    ck_assert_int_eq(wp_rl_word_tokens(atomic_load(&w), &P5, 3000000000LL), 4);
    /* indexes past 2^32 keep working: only the difference counts */
    ck_assert(wp_rl_word_take(&w, &P5, (INT64_C(1) << 32) + 5));
    ck_assert_int_eq(wp_rl_word_tokens(atomic_load(&w), &P5, (INT64_C(1) << 32) + 5), 4);
    /* the widest bucket fits the word */
    atomic_store(&w, wp_rl_word_full(&big, 0));
    ck_assert(wp_rl_word_take(&w, &big, 0));
    ck_assert_int_eq(wp_rl_word_tokens(atomic_load(&w), &big, 0), 4294967294LL);
    ck_assert_int_eq(wp_rl_word_tokens(atomic_load(&w), &big, 10), 4294967295LL);
}
END_TEST

static struct weir_proxy_config *load(void)
{
    struct weir_proxy_config *cfg = NULL;
    struct weir_diags d;
    weir_diags_init(&d);
    if (weir_proxy_config_load_file(WEIR_PROXY_TEST_DATA "/ratelimit.json", &cfg, &d) != 0) {
        for (size_t i = 0; i < d.len; i++)
            weir_diag_print(stderr, &d.items[i]);
        ck_abort_msg("ratelimit.json does not load");
    }
    weir_diags_free(&d);
    return cfg;
}

static const struct weir_pc_rate_limit *limit(const struct weir_proxy_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_rate_limits; i++)
        if (strcmp(cfg->rate_limits[i].name, name) == 0)
            return &cfg->rate_limits[i];
    ck_abort_msg("no limit %s", name);
    return NULL;
}

START_TEST(keys)
{
    struct weir_proxy_config *cfg = load();
    const struct weir_pc_rate_limit *l = limit(cfg, "default/per-user");
    struct wp_headers h;
    struct wp_rl_request rq = {.method = "GET", .path = "/api/x?q=1", .source_ip = "10.0.0.1"};
    char a[64], b[64];
    size_t la, lb;

    wp_headers_init(&h);
    rq.headers = &h;
    /* no x-user: the empty value */
    la = wp_rl_key_build(l, &rq, a, sizeof(a));
    ck_assert_uint_eq(la, 4 + 0 + 4 + 3);
    ck_assert(memcmp(a, "\0\0\0\0\3\0\0\0GET", la) == 0);
    wp_headers_add_str(&h, "x-user", "alice");
    la = wp_rl_key_build(l, &rq, a, sizeof(a));
    ck_assert(memcmp(a, "\5\0\0\0alice\3\0\0\0GET", la) == 0);
    /* ("ab","c") and ("a","bc") never share a key */
    {
        struct weir_pc_descriptor two[2] = {{.kind = WEIR_PC_DESC_HEADER, .header = "x-a"},
                                            {.kind = WEIR_PC_DESC_HEADER, .header = "x-b"}};
        struct weir_pc_rate_limit t = {.descriptors = two, .n_descriptors = 2};
        struct wp_headers h1, h2;
        struct wp_rl_request r1 = {.headers = &h1}, r2 = {.headers = &h2};
        wp_headers_init(&h1);
        wp_headers_init(&h2);
        wp_headers_add_str(&h1, "x-a", "ab");
        wp_headers_add_str(&h1, "x-b", "c");
        wp_headers_add_str(&h2, "x-a", "a");
        wp_headers_add_str(&h2, "x-b", "bc");
        la = wp_rl_key_build(&t, &r1, a, sizeof(a));
        lb = wp_rl_key_build(&t, &r2, b, sizeof(b));
        ck_assert(la != lb || memcmp(a, b, la) != 0);
        wp_headers_free(&h1);
        wp_headers_free(&h2);
    }
    /* path without its query, source address, principal */
    {
        struct weir_pc_descriptor d[3] = {{.kind = WEIR_PC_DESC_PATH},
                                          {.kind = WEIR_PC_DESC_SOURCE_IP},
                                          {.kind = WEIR_PC_DESC_SOURCE_PRINCIPAL}};
        struct weir_pc_rate_limit t = {.descriptors = d, .n_descriptors = 3};
        rq.source_principal = "";
        la = wp_rl_key_build(&t, &rq, a, sizeof(a));
        ck_assert_uint_eq(la, 4 + 6 + 4 + 8 + 4);
        ck_assert(memcmp(a,
                         "\6\0\0\0/api/x\x08\0\0\0"
                         "10.0.0.1\0\0\0\0",
                         la) == 0);
        /* a short buffer gets a prefix, the length is the whole key's */
        ck_assert_uint_eq(wp_rl_key_build(&t, &rq, b, 5), la);
        ck_assert(memcmp(b, a, 5) == 0);
    }
    wp_headers_free(&h);
    weir_proxy_config_free(cfg);
}
END_TEST

static void key_of(int i, char *buf, size_t cap, size_t *len)
{
    *len = (size_t)snprintf(buf, cap, "key-%d", i);
}

START_TEST(table_lru)
{
    struct wp_rl_table t;
    char k[32];
    size_t len;
    struct wp_rl_bucket *b;

    wp_rl_table_init(&t, 3, 1, 2);
    for (int i = 0; i < 3; i++) {
        key_of(i, k, sizeof(k), &len);
        b = wp_rl_table_get(&t, k, len, &P5, 0);
        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(b->tokens, 5);
        ck_assert(wp_rl_bucket_take(b, &P5, 0));
    }
    ck_assert_uint_eq(t.len, 3);
    /* key-0 used again: key-1 is now the least recently used */
    key_of(0, k, sizeof(k), &len);
    b = wp_rl_table_get(&t, k, len, &P5, 0);
    ck_assert_int_eq(b->tokens, 4); /* the same bucket */
    key_of(3, k, sizeof(k), &len);
    ck_assert_ptr_nonnull(wp_rl_table_get(&t, k, len, &P5, 0));
    ck_assert_uint_eq(t.len, 3);
    key_of(1, k, sizeof(k), &len);
    ck_assert_ptr_null(wp_rl_table_peek(&t, k, len));
    key_of(0, k, sizeof(k), &len);
    ck_assert_ptr_nonnull(wp_rl_table_peek(&t, k, len));
    key_of(2, k, sizeof(k), &len);
    ck_assert_ptr_nonnull(wp_rl_table_peek(&t, k, len));
    /* an evicted key comes back full */
    key_of(1, k, sizeof(k), &len);
    b = wp_rl_table_get(&t, k, len, &P5, 0);
    ck_assert_int_eq(b->tokens, 5);
    wp_rl_table_free(&t);

    /* many keys through a large bound: the table grows, the bound holds */
    wp_rl_table_init(&t, 1000, 3, 4);
    for (int i = 0; i < 5000; i++) {
        key_of(i, k, sizeof(k), &len);
        ck_assert_ptr_nonnull(wp_rl_table_get(&t, k, len, &P5, 0));
        ck_assert_uint_le(t.len, 1000);
    }
    ck_assert_uint_eq(t.len, 1000);
    for (int i = 4000; i < 5000; i++) {
        key_of(i, k, sizeof(k), &len);
        ck_assert_ptr_nonnull(wp_rl_table_peek(&t, k, len));
    }
    key_of(3999, k, sizeof(k), &len);
    ck_assert_ptr_null(wp_rl_table_peek(&t, k, len));
    wp_rl_table_free(&t);
}
END_TEST

START_TEST(table_long_keys)
{
    struct wp_rl_table t;
    char a[1000], b[1000];
    memset(a, 'x', sizeof(a));
    memcpy(b, a, sizeof(b));
    b[999] = 'y'; /* differs past the stored prefix */
    wp_rl_table_init(&t, 10, 5, 6);
    ck_assert_ptr_nonnull(wp_rl_table_get(&t, a, sizeof(a), &P5, 0));
    ck_assert(wp_rl_bucket_take(wp_rl_table_get(&t, a, sizeof(a), &P5, 0), &P5, 0));
    ck_assert_int_eq(wp_rl_table_get(&t, b, sizeof(b), &P5, 0)->tokens, 5);
    ck_assert_int_eq(wp_rl_table_peek(&t, a, sizeof(a))->tokens, 4);
    ck_assert_uint_eq(t.len, 2);
    wp_rl_table_free(&t);
}
END_TEST

START_TEST(set_and_matches)
{
    struct weir_proxy_config *cfg = load();
    struct weir_kv kv = {.key = "app", .value = "web"};
    struct weir_string_map labels = {.items = &kv, .len = 1};
    struct wp_rl_set *set = NULL;
    struct wp_headers h;
    struct wp_rl_request rq = {.port = 8080,
                               .method = "GET",
                               .path = "/api/x?q",
                               .source_ip = "1.2.3.4",
                               .source_principal = ""};
    const struct wp_rl_entry *e;

    ck_assert_int_eq(wp_rl_set_build(cfg, &labels, 1000, &set), 0);
    ck_assert_ptr_nonnull(set);
    /* other-app is for another workload */
    ck_assert_uint_eq(set->n, 4);
    ck_assert_str_eq(set->items[0].cfg->name, "default/all");
    ck_assert_str_eq(set->items[2].cfg->name, "default/per-user");

    wp_headers_init(&h);
    rq.headers = &h;
    /* per-user needs x-tenant: blue */
    ck_assert(!wp_rl_matches(set->items[2].cfg, &rq));
    wp_headers_add_str(&h, "x-tenant", "green");
    wp_headers_add_str(&h, "x-tenant", "blue");
    ck_assert(wp_rl_matches(set->items[2].cfg, &rq));
    rq.method = "DELETE";
    ck_assert(!wp_rl_matches(set->items[2].cfg, &rq));
    rq.method = "GET";
    rq.path = "/apix";
    ck_assert(!wp_rl_matches(set->items[2].cfg, &rq));
    rq.path = "/api/x?q";
    rq.port = 8081;
    ck_assert(!wp_rl_matches(set->items[2].cfg, &rq));
    rq.port = 8080;
    /* the outbound one needs its route */
    ck_assert(!wp_rl_matches(set->items[1].cfg, &(struct wp_rl_request){.port = 80}));
    ck_assert(wp_rl_matches(set->items[1].cfg, &(struct wp_rl_request){.port = 80, .route = "r1"}));
    ck_assert(
        !wp_rl_matches(set->items[1].cfg, &(struct wp_rl_request){.port = 81, .route = "r1"}));
    ck_assert(!wp_rl_applies_to_tcp(set->items[2].cfg));
    ck_assert(wp_rl_applies_to_tcp(set->items[3].cfg));
    ck_assert(wp_rl_applies_to_tcp(set->items[0].cfg));
    ck_assert(!wp_rl_applies_to_tcp(set->items[1].cfg));

    /* inbound: all (5) and per-user (2 per x-user,method) both count */
    wp_headers_add_str(&h, "x-user", "alice");
    ck_assert_ptr_null(wp_rl_check(set, WEIR_PC_INBOUND, false, &rq, 1000));
    ck_assert_ptr_null(wp_rl_check(set, WEIR_PC_INBOUND, false, &rq, 1000));
    e = wp_rl_check(set, WEIR_PC_INBOUND, false, &rq, 1000);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->cfg->name, "default/per-user");
    ck_assert_uint_eq(atomic_load(&e->st->limited), 1);
    /* another user has its own bucket; "all" has 2 tokens left after 3 takes */
    wp_headers_free(&h);
    wp_headers_init(&h);
    wp_headers_add_str(&h, "x-tenant", "blue");
    wp_headers_add_str(&h, "x-user", "bob");
    ck_assert_ptr_null(wp_rl_check(set, WEIR_PC_INBOUND, false, &rq, 1000));
    ck_assert_ptr_null(wp_rl_check(set, WEIR_PC_INBOUND, false, &rq, 1000));
    e = wp_rl_check(set, WEIR_PC_INBOUND, false, &rq, 1000);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->cfg->name, "default/all");
    /* a second later: 2 more tokens in "all" */
    ck_assert_ptr_null(wp_rl_check(set, WEIR_PC_INBOUND, false, &rq, 2000));
    /* outbound limits do not see inbound requests, and the reverse */
    ck_assert_ptr_null(wp_rl_check(set, WEIR_PC_OUTBOUND, false,
                                   &(struct wp_rl_request){.port = 80, .route = "r1"}, 2000));
    e = wp_rl_check(set, WEIR_PC_OUTBOUND, false,
                    &(struct wp_rl_request){.port = 80, .route = "r1"}, 2000);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->cfg->status_code, 503);

    /* a reload of the same document keeps every state */
    {
        struct weir_proxy_config *cfg2 = load();
        struct wp_rl_set *set2 = NULL;
        ck_assert_int_eq(wp_rl_set_build(cfg2, &labels, 5000, &set2), 0);
        wp_rl_set_inherit(set2, set);
        for (size_t i = 0; i < set->n; i++)
            ck_assert_ptr_eq(set2->items[i].st, set->items[i].st);
        wp_rl_set_free(set);
        weir_proxy_config_free(cfg);
        set = set2;
        cfg = cfg2;
    }
    /* a changed limit starts over, its counter goes on */
    {
        struct weir_proxy_config *cfg3 = load();
        struct wp_rl_set *set3 = NULL;
        ((struct weir_pc_rate_limit *)limit(cfg3, "default/per-user"))->max_tokens = 3;
        ck_assert_int_eq(wp_rl_set_build(cfg3, &labels, 5000, &set3), 0);
        wp_rl_set_inherit(set3, set);
        ck_assert_ptr_eq(set3->items[0].st, set->items[0].st);
        ck_assert_ptr_ne(set3->items[2].st, set->items[2].st);
        ck_assert_uint_eq(atomic_load(&set3->items[2].st->limited), 1);
        ck_assert_uint_eq(set3->items[2].st->table.len, 0);
        wp_rl_set_free(set3);
        weir_proxy_config_free(cfg3);
    }
    /* alice and bob: two buckets kept */
    ck_assert_uint_eq(set->items[2].st->table.len, 2);
    wp_rl_set_free(set);
    weir_proxy_config_free(cfg);
    wp_headers_free(&h);

    /* no limit selects a workload with other labels beyond those without selector */
    {
        struct weir_string_map none = {0};
        cfg = load();
        ck_assert_int_eq(wp_rl_set_build(cfg, &none, 0, &set), 0);
        ck_assert_uint_eq(set->n, 3);
        wp_rl_set_free(set);
        weir_proxy_config_free(cfg);
    }
}
END_TEST

struct race {
    const struct wp_rl_set *set;
    const struct wp_rl_request *rq;
    int attempts;
    int passed;
};

static void *race_thread(void *arg)
{
    struct race *r = arg;
    for (int i = 0; i < r->attempts; i++)
        r->passed += wp_rl_check(r->set, WEIR_PC_INBOUND, false, r->rq, 1000) == NULL;
    return NULL;
}

/* Four threads on one bucket at one fill index: exactly maxTokens pass in all,
 * through the atomic word and through the keyed table. */
START_TEST(shared_by_threads)
{
    struct weir_proxy_config *cfg = load();
    struct weir_kv kv = {.key = "app", .value = "web"};
    struct weir_string_map labels = {.items = &kv, .len = 1};
    struct wp_rl_set *set = NULL;
    struct wp_headers h;
    struct wp_rl_request keyless = {.port = 1, .method = "GET", .path = "/"};
    struct wp_rl_request keyed = {.port = 8080, .method = "GET", .path = "/api/x"};
    struct race r[4];
    pthread_t th[4];
    int total;

    ((struct weir_pc_rate_limit *)limit(cfg, "default/all"))->max_tokens = 20000;
    ((struct weir_pc_rate_limit *)limit(cfg, "default/per-user"))->max_tokens = 30000;
    ck_assert_int_eq(wp_rl_set_build(cfg, &labels, 1000, &set), 0);
    for (int k = 0; k < 2; k++) {
        const struct wp_rl_request *rq = k == 0 ? &keyless : &keyed;
        if (k == 1) {
            /* "all" is spent by now; take it out of the keyed race */
            ((struct weir_pc_rate_limit *)set->items[0].cfg)->direction = WEIR_PC_OUTBOUND;
            wp_headers_init(&h);
            wp_headers_add_str(&h, "x-tenant", "blue");
            wp_headers_add_str(&h, "x-user", "carol");
            keyed.headers = &h;
        }
        for (int i = 0; i < 4; i++) {
            r[i] = (struct race){.set = set, .rq = rq, .attempts = 10000, .passed = 0};
            ck_assert_int_eq(pthread_create(&th[i], NULL, race_thread, &r[i]), 0);
        }
        total = 0;
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            total += r[i].passed;
        }
        ck_assert_int_eq(total, k == 0 ? 20000 : 30000);
    }
    ck_assert_uint_eq(atomic_load(&set->items[0].st->limited), 20000);
    ck_assert_uint_eq(atomic_load(&set->items[2].st->limited), 10000);
    wp_headers_free(&h);
    wp_rl_set_free(set);
    weir_proxy_config_free(cfg);
}
END_TEST

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Not a pass/fail check: prints what a take costs, the figure limiter.c cites. */
START_TEST(cost)
{
    struct weir_proxy_config *cfg = load();
    struct weir_kv kv = {.key = "app", .value = "web"};
    struct weir_string_map labels = {.items = &kv, .len = 1};
    struct wp_rl_set *set = NULL;
    const struct wp_rl_entry *keyed;
    struct wp_headers h;
    struct wp_rl_request rq = {
        .port = 8080, .method = "GET", .path = "/api/x", .source_ip = "1.2.3.4"};
    enum { N = 200000 };
    uint64_t t0, t1, t2;
    char user[16];

    ck_assert_int_eq(wp_rl_set_build(cfg, &labels, 0, &set), 0);
    keyed = &set->items[2];
    keyed->st->table.max = 10000;
    wp_headers_init(&h);
    rq.headers = &h;
    t0 = now_ns();
    for (int i = 0; i < N; i++)
        (void)wp_rl_word_take(&set->items[0].st->word, &set->items[0].st->p, i);
    t1 = now_ns();
    for (int i = 0; i < N; i++) {
        char key[64];
        size_t len;
        if (i % 1000 == 0) {
            wp_headers_free(&h);
            wp_headers_init(&h);
            snprintf(user, sizeof(user), "user-%d", (i / 1000) % 16);
            wp_headers_add_str(&h, "x-user", user);
        }
        len = wp_rl_key_build(keyed->cfg, &rq, key, sizeof(key));
        pthread_mutex_lock(&keyed->st->mu);
        (void)wp_rl_bucket_take(wp_rl_table_get(&keyed->st->table, key, len, &keyed->st->p, i),
                                &keyed->st->p, i);
        pthread_mutex_unlock(&keyed->st->mu);
    }
    t2 = now_ns();
    fprintf(stderr, "rate limit take: keyless %.1f ns, keyed %.1f ns (key, lock, lookup, unlock)\n",
            (double)(t1 - t0) / N, (double)(t2 - t1) / N);
    wp_headers_free(&h);
    wp_rl_set_free(set);
    weir_proxy_config_free(cfg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, bucket_starts_full_and_refills);
    tcase_add_test(tc, bucket_long_idle);
    tcase_add_test(tc, word_take);
    tcase_add_test(tc, keys);
    tcase_add_test(tc, table_lru);
    tcase_add_test(tc, table_long_keys);
    tcase_add_test(tc, set_and_matches);
    tcase_add_test(tc, shared_by_threads);
    tcase_add_test(tc, cost);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
