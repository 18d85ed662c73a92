#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "kube/informer.h"
#include "kube/ratelimit.h"

#define DATA WEIR_TEST_DATA "/kube/"

/* ---- a scripted list-watch ----------------------------------------------------------
 * Steps are consumed in order by list() and watch() calls. A list step gives
 * the items (JSON text) and resourceVersion, or an error; a watch step gives
 * event lines fed through the real line splitter and event decoder, then how
 * the stream ends. With the script used up, watch() blocks (calling idle)
 * until the informer stops. */

enum step_kind { LIST, WATCH };

struct step {
    enum step_kind kind;
    const char *text; /* LIST: JSON array of items; WATCH: event lines */
    const char *rv;   /* LIST: the list's resourceVersion */
    int rc;           /* how the call ends */
};

struct fake {
    const struct step *steps;
    size_t nsteps, next;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool parked; /* the script is used up and watch() is blocking */
    int lists, watches;
    char watch_rvs[16][32];
};

static void fake_init(struct fake *f, const struct step *steps, size_t n)
{
    memset(f, 0, sizeof(*f));
    f->steps = steps;
    f->nsteps = n;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cond, NULL);
}

static void fake_destroy(struct fake *f)
{
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cond);
}

static const struct step *take(struct fake *f, enum step_kind kind)
{
    const struct step *s = NULL;
    pthread_mutex_lock(&f->mu);
    if (f->next < f->nsteps) {
        s = &f->steps[f->next];
        ck_assert_msg(s->kind == kind, "step %zu: expected a %s call", f->next,
                      s->kind == LIST ? "list" : "watch");
        f->next++;
    }
    pthread_mutex_unlock(&f->mu);
    return s;
}

static int fake_list(void *arg, const atomic_bool *cancel, json_t **items, char **rv,
                     struct weir_kube_error *err)
{
    struct fake *f = arg;
    const struct step *s = take(f, LIST);
    (void)cancel;
    pthread_mutex_lock(&f->mu);
    f->lists++;
    pthread_mutex_unlock(&f->mu);
    if (!s || s->rc != 0)
        return weir_kube_error_set(err, s ? s->rc : WEIR_KUBE_ERR_TRANSPORT, "list",
                                   "scripted failure");
    *items = json_loads(s->text, 0, NULL);
    ck_assert_ptr_nonnull(*items);
    *rv = strdup(s->rv);
    return 0;
}

struct feed_ctx {
    weir_kube_watch_fn fn;
    void *arg;
    struct weir_kube_error *err;
};

static int feed_line(void *arg, const char *line, size_t len)
{
    struct feed_ctx *c = arg;
    struct weir_kube_watch_event ev;
    int rc = weir_kube_watch_event_parse(line, len, &ev, c->err);
    ck_assert_msg(rc == 0, "bad scripted event: %.*s", (int)len, line);
    rc = ev.type == WEIR_KUBE_WATCH_ERROR ? weir_kube_watch_event_error(&ev, "watch", c->err)
                                          : c->fn(c->arg, &ev);
    weir_kube_watch_event_free(&ev);
    return rc;
}

static int fake_watch(void *arg, const char *rv, int timeout, weir_kube_watch_fn fn,
                      weir_kube_idle_fn idle, void *fn_arg, struct weir_kube_error *err)
{
    struct fake *f = arg;
    const struct step *s;
    (void)timeout;
    weir_kube_error_clear(err);
    pthread_mutex_lock(&f->mu);
    if (f->watches < 16)
        snprintf(f->watch_rvs[f->watches], sizeof(f->watch_rvs[0]), "%s", rv);
    f->watches++;
    pthread_mutex_unlock(&f->mu);
    s = take(f, WATCH);
    if (s) {
        struct weir_kube_lines l;
        struct feed_ctx ctx = {fn, fn_arg, err};
        int rc;
        weir_kube_lines_init(&l, 0);
        rc = weir_kube_lines_feed(&l, s->text, strlen(s->text), feed_line, &ctx);
        weir_kube_lines_free(&l);
        if (rc != 0)
            return rc;
        if (s->rc != 0 && err->code == WEIR_KUBE_OK)
            weir_kube_error_set(err, s->rc, "watch", "scripted failure");
        return s->rc;
    }
    pthread_mutex_lock(&f->mu);
    f->parked = true;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->mu);
    for (;;) {
        int rc = idle(fn_arg);
        if (rc != 0)
            return rc;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static bool wait_parked(struct fake *f, double seconds)
{
    double end = weir_kube_monotonic() + seconds;
    bool parked;
    for (;;) {
        pthread_mutex_lock(&f->mu);
        parked = f->parked;
        pthread_mutex_unlock(&f->mu);
        if (parked || weir_kube_monotonic() > end)
            return parked;
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* ---- handlers that keep a log ------------------------------------------------------- */

struct log {
    pthread_mutex_t mu;
    char text[8192];
    int adds, updates, deletes, resyncs;
};

static void log_put(struct log *l, const char *what, const json_t *old_obj, const json_t *obj)
{
    char line[256];
    if (old_obj)
        snprintf(line, sizeof(line), "%s:%s/%s@%s->%s;", what, weir_kube_obj_namespace(obj),
                 weir_kube_obj_name(obj), weir_kube_obj_resource_version(old_obj),
                 weir_kube_obj_resource_version(obj));
    else
        snprintf(line, sizeof(line), "%s:%s/%s@%s;", what, weir_kube_obj_namespace(obj),
                 weir_kube_obj_name(obj), weir_kube_obj_resource_version(obj));
    pthread_mutex_lock(&l->mu);
    strncat(l->text, line, sizeof(l->text) - strlen(l->text) - 1);
    pthread_mutex_unlock(&l->mu);
}

static void h_add(void *arg, const json_t *obj)
{
    struct log *l = arg;
    log_put(l, "add", NULL, obj);
    __atomic_add_fetch(&l->adds, 1, __ATOMIC_SEQ_CST);
}

static void h_update(void *arg, const json_t *old_obj, const json_t *new_obj)
{
    struct log *l = arg;
    if (old_obj == new_obj) {
        __atomic_add_fetch(&l->resyncs, 1, __ATOMIC_SEQ_CST);
        return;
    }
    log_put(l, "update", old_obj, new_obj);
    __atomic_add_fetch(&l->updates, 1, __ATOMIC_SEQ_CST);
}

static void h_delete(void *arg, const json_t *obj)
{
    struct log *l = arg;
    log_put(l, "delete", NULL, obj);
    __atomic_add_fetch(&l->deletes, 1, __ATOMIC_SEQ_CST);
}

static struct log the_log;

static void log_reset(void)
{
    memset(&the_log, 0, sizeof(the_log));
    pthread_mutex_init(&the_log.mu, NULL);
    weir_log_setup("test", WEIR_LOG_TEXT, WEIR_LOG_ERROR, NULL);
}

static const struct weir_kube_informer_handlers handlers = {h_add, h_update, h_delete, &the_log};

static const struct weir_kube_informer_options fast = {
    .resource = &weir_kube_res_configmaps,
    .namespace = "demo",
    .backoff_initial = 0.01,
    .backoff_max = 0.05,
    .watch_timeout = 5,
};

#define CM(name, rv)                                                                      \
    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"namespace\":\"demo\"," \
    "\"name\":\"" name "\",\"resourceVersion\":\"" rv "\"}}"
#define EV(type, name, rv) "{\"type\":\"" type "\",\"object\":" CM(name, rv) "}\n"
#define BOOKMARK(rv)                                                                   \
    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\"," \
    "\"metadata\":{\"resourceVersion\":\"" rv "\"}}}\n"

static char *recorded_gone(void)
{
    FILE *f = fopen(DATA "watch-gone.jsonl", "r");
    static char line[1024];
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
    fclose(f);
    return line;
}

START_TEST(test_list_watch_resume_and_relist)
{
    struct step steps[] = {
        {LIST, "[" CM("a", "10") "," CM("b", "11") "]", "20", 0},
        /* the connection drops after a bookmark */
        {WATCH, EV("ADDED", "c", "21") EV("MODIFIED", "a", "22") BOOKMARK("30"), NULL,
         WEIR_KUBE_ERR_TRANSPORT},
        /* the server ends the watch (timeoutSeconds) */
        {WATCH, EV("DELETED", "b", "31"), NULL, 0},
        /* version 31 was compacted: the recorded 410 ERROR event */
        {WATCH, NULL, NULL, 0},
        /* the relist: a unchanged, c gone, d new */
        {LIST, "[" CM("a", "22") "," CM("d", "41") "]", "50", 0},
    };
    struct fake f;
    struct weir_kube_informer *inf;
    struct weir_kube_error err;
    struct weir_kube_informer_stats st;
    struct weir_kube_list_watch lw = {fake_list, fake_watch, &f};
    steps[3].text = recorded_gone();

    log_reset();
    fake_init(&f, steps, sizeof(steps) / sizeof(steps[0]));
    ck_assert_int_eq(weir_kube_informer_new_lw(&lw, &fast, &handlers, &inf, &err), 0);
    ck_assert(!weir_kube_informer_has_synced(inf));
    ck_assert_int_eq(weir_kube_informer_start(inf, &err), 0);
    ck_assert(weir_kube_informer_wait_synced(inf, 5));
    ck_assert(wait_parked(&f, 5));

    ck_assert_str_eq(the_log.text, "add:demo/a@10;add:demo/b@11;"
                                   "add:demo/c@21;update:demo/a@10->22;"
                                   "delete:demo/b@31;"
                                   "add:demo/d@41;delete:demo/c@21;");
    /* each watch resumed from the last version seen, bookmarks included */
    ck_assert_int_eq(f.watches, 4);
    ck_assert_str_eq(f.watch_rvs[0], "20");
    ck_assert_str_eq(f.watch_rvs[1], "30");
    ck_assert_str_eq(f.watch_rvs[2], "31");
    ck_assert_str_eq(f.watch_rvs[3], "50");

    weir_kube_informer_get_stats(inf, &st);
    ck_assert_uint_eq(st.lists, 2);
    ck_assert_uint_eq(st.gone, 1);
    ck_assert_uint_eq(st.errors, 1);
    ck_assert_uint_eq(st.watches, 4);

    struct weir_kube_snapshot snap;
    ck_assert_int_eq(weir_kube_informer_snapshot(inf, &snap), 0);
    ck_assert_uint_eq(snap.len, 2);
    ck_assert_str_eq(weir_kube_obj_name(snap.items[0]), "a");
    ck_assert_str_eq(weir_kube_obj_resource_version(snap.items[0]), "22");
    ck_assert_str_eq(weir_kube_obj_name(snap.items[1]), "d");
    ck_assert_str_eq(snap.resource_version, "50");

    json_t *a = weir_kube_informer_get(inf, "demo", "a");
    ck_assert_ptr_eq(a, snap.items[0]); /* unchanged by the relist: the same object */
    json_decref(a);
    ck_assert_ptr_null(weir_kube_informer_get(inf, "demo", "c"));
    ck_assert_uint_eq(weir_kube_informer_len(inf), 2);

    weir_kube_informer_free(inf);
    /* the snapshot outlives the informer */
    ck_assert_str_eq(weir_kube_obj_name(snap.items[1]), "d");
    weir_kube_snapshot_free(&snap);
    fake_destroy(&f);
}
END_TEST

static bool only_b_and_d(const char *key, void *arg)
{
    (void)arg;
    return strcmp(key, "demo/b") == 0 || strcmp(key, "demo/d") == 0;
}

/* strip_managed_fields on listed and watched objects; a snapshot of some keys */
START_TEST(test_strip_and_filtered_snapshot)
{
#define BIG(name, rv)                                                                       \
    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"namespace\":\"demo\","   \
    "\"name\":\"" name "\",\"resourceVersion\":\"" rv "\",\"managedFields\":[{\"manager\":" \
    "\"kubectl\",\"fieldsV1\":{\"f:data\":{}}}],\"annotations\":{\"kubectl.kubernetes.io/"  \
    "last-applied-configuration\":\"{}\",\"keep\":\"me\"}},\"data\":{\"k\":\"v\"}}"
    struct step steps[] = {
        {LIST, "[" BIG("a", "10") "," BIG("b", "11") "," CM("c", "12") "]", "20", 0},
        {WATCH, "{\"type\":\"ADDED\",\"object\":" BIG("d", "21") "}\n", NULL, 0},
    };
    struct fake f;
    struct weir_kube_informer *inf;
    struct weir_kube_error err;
    struct weir_kube_informer_options o = fast;
    struct weir_kube_list_watch lw = {fake_list, fake_watch, &f};
    o.strip_managed_fields = true;

    log_reset();
    fake_init(&f, steps, sizeof(steps) / sizeof(steps[0]));
    ck_assert_int_eq(weir_kube_informer_new_lw(&lw, &o, &handlers, &inf, &err), 0);
    ck_assert_int_eq(weir_kube_informer_start(inf, &err), 0);
    ck_assert(weir_kube_informer_wait_synced(inf, 5));
    ck_assert(wait_parked(&f, 5));

#define WANT(name, rv)                                                                    \
    "{\"apiVersion\":\"v1\",\"data\":{\"k\":\"v\"},\"kind\":\"ConfigMap\",\"metadata\":{" \
    "\"annotations\":{\"keep\":\"me\"},\"name\":\"" name "\",\"namespace\":\"demo\","     \
    "\"resourceVersion\":\"" rv "\"}}"
    const char *names[][3] = {{"a", WANT("a", "10")}, {"d", WANT("d", "21")}};
#undef WANT
    for (size_t i = 0; i < 2; i++) {
        json_t *obj = weir_kube_informer_get(inf, "demo", names[i][0]);
        char *text = json_dumps(obj, JSON_SORT_KEYS | JSON_COMPACT);
        ck_assert_str_eq(text, names[i][1]);
        free(text);
        json_decref(obj);
    }
    /* an object without either is left as it is */
    json_t *c = weir_kube_informer_get(inf, "demo", "c");
    ck_assert_ptr_null(json_object_get(json_object_get(c, "metadata"), "annotations"));
    json_decref(c);

    struct weir_kube_snapshot snap;
    ck_assert_int_eq(weir_kube_informer_snapshot_where(inf, only_b_and_d, NULL, &snap), 0);
    ck_assert_uint_eq(snap.len, 2);
    ck_assert_str_eq(weir_kube_obj_name(snap.items[0]), "b");
    ck_assert_str_eq(weir_kube_obj_name(snap.items[1]), "d");
    ck_assert_str_eq(snap.resource_version, "21");
    weir_kube_snapshot_free(&snap);
    weir_kube_informer_free(inf);
    fake_destroy(&f);
#undef BIG
}
END_TEST

START_TEST(test_list_failure_retries_before_sync)
{
    struct step steps[] = {
        {LIST, NULL, NULL, WEIR_KUBE_ERR_TRANSPORT},
        {LIST, NULL, NULL, WEIR_KUBE_ERR_HTTP},
        {LIST, "[" CM("a", "1") "]", "5", 0},
    };
    struct fake f;
    struct weir_kube_informer *inf;
    struct weir_kube_error err;
    struct weir_kube_informer_stats st;
    struct weir_kube_list_watch lw = {fake_list, fake_watch, &f};

    log_reset();
    fake_init(&f, steps, 3);
    ck_assert_int_eq(weir_kube_informer_new_lw(&lw, &fast, &handlers, &inf, &err), 0);
    ck_assert_int_eq(weir_kube_informer_start(inf, &err), 0);
    ck_assert(weir_kube_informer_wait_synced(inf, 5));
    ck_assert(wait_parked(&f, 5));
    weir_kube_informer_get_stats(inf, &st);
    ck_assert_uint_eq(st.errors, 2);
    ck_assert_uint_eq(st.lists, 1);
    ck_assert_str_eq(the_log.text, "add:demo/a@1;");
    weir_kube_informer_free(inf);
    fake_destroy(&f);
}
END_TEST

START_TEST(test_instant_empty_watch_backs_off)
{
    struct step steps[] = {
        {LIST, "[]", "5", 0},
        {WATCH, "", NULL, 0},
        {WATCH, "", NULL, 0},
        {WATCH, EV("ADDED", "x", "6"), NULL, 0},
    };
    struct fake f;
    struct weir_kube_informer *inf;
    struct weir_kube_error err;
    struct weir_kube_informer_stats st;
    struct weir_kube_list_watch lw = {fake_list, fake_watch, &f};

    log_reset();
    fake_init(&f, steps, 4);
    ck_assert_int_eq(weir_kube_informer_new_lw(&lw, &fast, &handlers, &inf, &err), 0);
    ck_assert_int_eq(weir_kube_informer_start(inf, &err), 0);
    ck_assert(wait_parked(&f, 5));
    weir_kube_informer_get_stats(inf, &st);
    ck_assert_uint_eq(st.errors, 2); /* two watches that ended at once with nothing */
    ck_assert_uint_eq(st.lists, 1);  /* but no relist: resuming is still right */
    ck_assert_str_eq(f.watch_rvs[2], "5");
    ck_assert_str_eq(f.watch_rvs[3], "6");
    weir_kube_informer_free(inf);
    fake_destroy(&f);
}
END_TEST

START_TEST(test_resync_redelivers_updates)
{
    struct step steps[] = {{LIST, "[" CM("a", "1") "," CM("b", "2") "]", "5", 0}};
    struct fake f;
    struct weir_kube_informer *inf;
    struct weir_kube_error err;
    struct weir_kube_list_watch lw = {fake_list, fake_watch, &f};
    struct weir_kube_informer_options o = fast;
    o.resync_period = 0.05;

    log_reset();
    fake_init(&f, steps, 1);
    ck_assert_int_eq(weir_kube_informer_new_lw(&lw, &o, &handlers, &inf, &err), 0);
    ck_assert_int_eq(weir_kube_informer_start(inf, &err), 0);
    ck_assert(wait_parked(&f, 5));
    double end = weir_kube_monotonic() + 5;
    while (__atomic_load_n(&the_log.resyncs, __ATOMIC_SEQ_CST) < 6 && weir_kube_monotonic() < end) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    weir_kube_informer_stop(inf);
    ck_assert_int_ge(the_log.resyncs, 6);
    ck_assert_int_eq(the_log.resyncs % 2, 0); /* both objects each time */
    ck_assert_int_eq(the_log.updates, 0);     /* no real update was invented */
    struct weir_kube_informer_stats st;
    weir_kube_informer_get_stats(inf, &st);
    ck_assert_uint_ge(st.resyncs, 3);
    weir_kube_informer_free(inf);
    fake_destroy(&f);
}
END_TEST

START_TEST(test_stop_interrupts_backoff)
{
    struct step steps[] = {{LIST, NULL, NULL, WEIR_KUBE_ERR_TRANSPORT}};
    struct fake f;
    struct weir_kube_informer *inf;
    struct weir_kube_error err;
    struct weir_kube_list_watch lw = {fake_list, fake_watch, &f};
    struct weir_kube_informer_options o = fast;
    o.backoff_initial = 60;
    o.backoff_max = 60;

    log_reset();
    fake_init(&f, steps, 1);
    ck_assert_int_eq(weir_kube_informer_new_lw(&lw, &o, &handlers, &inf, &err), 0);
    ck_assert_int_eq(weir_kube_informer_start(inf, &err), 0);
    ck_assert(!weir_kube_informer_wait_synced(inf, 0.2));
    double t0 = weir_kube_monotonic();
    weir_kube_informer_stop(inf);
    ck_assert_double_lt(weir_kube_monotonic() - t0, 1.0);
    weir_kube_informer_stop(inf); /* twice is fine */
    weir_kube_informer_free(inf);
    fake_destroy(&f);
}
END_TEST

START_TEST(test_free_without_start)
{
    struct fake f;
    struct weir_kube_informer *inf;
    struct weir_kube_error err;
    struct weir_kube_list_watch lw = {fake_list, fake_watch, &f};
    fake_init(&f, NULL, 0);
    ck_assert_int_eq(weir_kube_informer_new_lw(&lw, &fast, NULL, &inf, &err), 0);
    weir_kube_informer_free(inf);
    struct weir_kube_list_watch bad = {NULL, fake_watch, &f};
    ck_assert_int_eq(weir_kube_informer_new_lw(&bad, &fast, NULL, &inf, &err),
                     WEIR_KUBE_ERR_INVALID);
    fake_destroy(&f);
}
END_TEST

/* Readers take snapshots while the informer applies a stream of events: each
 * snapshot is sorted and internally consistent, and nothing is freed under a
 * reader (ASan would say). */
static atomic_bool readers_stop;
static struct weir_kube_informer *shared_inf;

static void *reader(void *arg)
{
    unsigned *snaps = arg;
    while (!atomic_load(&readers_stop)) {
        struct weir_kube_snapshot snap;
        ck_assert_int_eq(weir_kube_informer_snapshot(shared_inf, &snap), 0);
        for (size_t i = 1; i < snap.len; i++)
            ck_assert_int_lt(
                strcmp(weir_kube_obj_name(snap.items[i - 1]), weir_kube_obj_name(snap.items[i])),
                0);
        for (size_t i = 0; i < snap.len; i++)
            ck_assert_ptr_nonnull(weir_kube_obj_resource_version(snap.items[i]));
        weir_kube_snapshot_free(&snap);
        (*snaps)++;
    }
    return NULL;
}

START_TEST(test_concurrent_snapshots)
{
    static char events[200000];
    size_t n = 0;
    for (int i = 0; i < 600; i++) {
        char name[16], rv[16];
        snprintf(name, sizeof(name), "o%03d", i % 50);
        snprintf(rv, sizeof(rv), "%d", 100 + i);
        const char *type = i % 7 == 6 ? "DELETED" : (i < 50 ? "ADDED" : "MODIFIED");
        n += (size_t)snprintf(events + n, sizeof(events) - n,
                              "{\"type\":\"%s\",\"object\":{\"metadata\":{\"namespace\":\"demo\","
                              "\"name\":\"%s\",\"resourceVersion\":\"%s\"}}}\n",
                              type, name, rv);
    }
    struct step steps[] = {{LIST, "[]", "1", 0}, {WATCH, events, NULL, 0}};
    struct fake f;
    struct weir_kube_error err;
    struct weir_kube_list_watch lw = {fake_list, fake_watch, &f};
    pthread_t t[2];
    unsigned snaps[2] = {0, 0};

    log_reset();
    fake_init(&f, steps, 2);
    ck_assert_int_eq(weir_kube_informer_new_lw(&lw, &fast, &handlers, &shared_inf, &err), 0);
    atomic_store(&readers_stop, false);
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, reader, &snaps[i]);
    ck_assert_int_eq(weir_kube_informer_start(shared_inf, &err), 0);
    ck_assert(wait_parked(&f, 10));
    atomic_store(&readers_stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    ck_assert_uint_gt(snaps[0] + snaps[1], 0);
    char rv[32];
    ck_assert_str_eq(weir_kube_informer_resource_version(shared_inf, rv, sizeof(rv)), "699");
    weir_kube_informer_free(shared_inf);
    fake_destroy(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kube_informer");
    TCase *tc = tcase_create("informer");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_list_watch_resume_and_relist);
    tcase_add_test(tc, test_list_failure_retries_before_sync);
    tcase_add_test(tc, test_strip_and_filtered_snapshot);
    tcase_add_test(tc, test_instant_empty_watch_backs_off);
    tcase_add_test(tc, test_resync_redelivers_updates);
    tcase_add_test(tc, test_stop_interrupts_backoff);
    tcase_add_test(tc, test_free_without_start);
    tcase_add_test(tc, test_concurrent_snapshots);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
