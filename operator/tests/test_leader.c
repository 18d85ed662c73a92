/* Leader election (operator/leader.h): the lease rules on a test clock, then
 * two electors against a fake API server that stores the Lease with
 * resourceVersion compare-and-swap as the real one does. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_api.h"
#include "leader.h"

static struct weir_op_lease_record rec(const char *holder, int duration, const char *renew)
{
    struct weir_op_lease_record r;
    memset(&r, 0, sizeof(r));
    r.exists = true;
    snprintf(r.holder, sizeof(r.holder), "%s", holder);
    r.duration = duration;
    snprintf(r.renew_time, sizeof(r.renew_time), "%s", renew);
    return r;
}

START_TEST(test_decide)
{
    struct weir_op_lease_observer obs = {0};
    struct weir_op_lease_record none = {0};
    ck_assert_int_eq(weir_op_lease_decide(&none, "a", &obs, 100), WEIR_OP_LEASE_CREATE);

    struct weir_op_lease_record mine = rec("a", 15, "t1");
    ck_assert_int_eq(weir_op_lease_decide(&mine, "a", &obs, 101), WEIR_OP_LEASE_RENEW);

    /* someone else's claim stands for 15 s after we first saw that record */
    struct weir_op_lease_record theirs = rec("b", 15, "t1");
    memset(&obs, 0, sizeof(obs));
    ck_assert_int_eq(weir_op_lease_decide(&theirs, "a", &obs, 200), WEIR_OP_LEASE_WAIT);
    ck_assert_int_eq(weir_op_lease_decide(&theirs, "a", &obs, 214.9), WEIR_OP_LEASE_WAIT);
    /* a renewal restarts the clock, whatever the renewTime says about clocks */
    struct weir_op_lease_record renewed = rec("b", 15, "t0-earlier-clock");
    ck_assert_int_eq(weir_op_lease_decide(&renewed, "a", &obs, 210), WEIR_OP_LEASE_WAIT);
    ck_assert_int_eq(weir_op_lease_decide(&renewed, "a", &obs, 224.9), WEIR_OP_LEASE_WAIT);
    ck_assert_int_eq(weir_op_lease_decide(&renewed, "a", &obs, 225), WEIR_OP_LEASE_ACQUIRE);
    ck_assert_str_eq(weir_op_lease_action_name(WEIR_OP_LEASE_ACQUIRE), "acquire");

    /* released: free at once */
    struct weir_op_lease_record released = rec("", 1, "t2");
    ck_assert_int_eq(weir_op_lease_decide(&released, "a", &obs, 226), WEIR_OP_LEASE_ACQUIRE);
    /* the lease's own duration counts, not ours */
    struct weir_op_lease_record shorter = rec("c", 5, "t3");
    ck_assert_int_eq(weir_op_lease_decide(&shorter, "a", &obs, 300), WEIR_OP_LEASE_WAIT);
    ck_assert_int_eq(weir_op_lease_decide(&shorter, "a", &obs, 305), WEIR_OP_LEASE_ACQUIRE);
}
END_TEST

START_TEST(test_build)
{
    json_t *created = weir_op_lease_build(NULL, WEIR_OP_LEASE_CREATE, "weir-system",
                                          "weir-operator", "a", 15, "2026-11-25T10:00:00.000001Z");
    char *text = json_dumps(created, JSON_SORT_KEYS | JSON_COMPACT);
    ck_assert_str_eq(text, "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
                           "\"metadata\":{\"name\":\"weir-operator\",\"namespace\":"
                           "\"weir-system\"},\"spec\":{\"acquireTime\":"
                           "\"2026-11-25T10:00:00.000001Z\",\"holderIdentity\":\"a\","
                           "\"leaseDurationSeconds\":15,\"leaseTransitions\":0,\"renewTime\":"
                           "\"2026-11-25T10:00:00.000001Z\"}}");
    free(text);

    json_object_set_new(json_object_get(created, "metadata"), "resourceVersion", json_string("9"));
    json_t *renew = weir_op_lease_build(created, WEIR_OP_LEASE_RENEW, "weir-system",
                                        "weir-operator", "a", 15, "T2");
    json_t *spec = json_object_get(renew, "spec");
    ck_assert_str_eq(json_string_value(json_object_get(spec, "renewTime")), "T2");
    ck_assert_str_eq(json_string_value(json_object_get(spec, "acquireTime")),
                     "2026-11-25T10:00:00.000001Z");
    ck_assert_int_eq(json_integer_value(json_object_get(spec, "leaseTransitions")), 0);
    /* the compare-and-swap: the resourceVersion read goes back */
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(renew, "metadata"), "resourceVersion")),
        "9");

    json_t *taken = weir_op_lease_build(created, WEIR_OP_LEASE_ACQUIRE, "weir-system",
                                        "weir-operator", "b", 15, "T3");
    spec = json_object_get(taken, "spec");
    ck_assert_str_eq(json_string_value(json_object_get(spec, "holderIdentity")), "b");
    ck_assert_str_eq(json_string_value(json_object_get(spec, "acquireTime")), "T3");
    ck_assert_int_eq(json_integer_value(json_object_get(spec, "leaseTransitions")), 1);

    json_t *rel = weir_op_lease_release(taken, "T4");
    spec = json_object_get(rel, "spec");
    ck_assert_str_eq(json_string_value(json_object_get(spec, "holderIdentity")), "");
    ck_assert_int_eq(json_integer_value(json_object_get(spec, "leaseDurationSeconds")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(spec, "leaseTransitions")), 1);

    struct weir_op_lease_record r;
    weir_op_lease_record_parse(taken, &r);
    ck_assert(r.exists);
    ck_assert_str_eq(r.holder, "b");
    ck_assert_int_eq(r.duration, 15);
    ck_assert_int_eq(r.transitions, 1);
    weir_op_lease_record_parse(NULL, &r);
    ck_assert(!r.exists);
    json_decref(created);
    json_decref(renew);
    json_decref(taken);
    json_decref(rel);
}
END_TEST

/* ---- a Lease store ---- */

struct store {
    pthread_mutex_t mu;
    json_t *lease;
    int rv;
    atomic_bool down; /* answer 503 to everything */
};

static int lease_handler(void *arg, const struct fake_request *req, char **body)
{
    struct store *s = arg;
    int status = 200;
    *body = NULL;
    if (atomic_load(&s->down)) {
        *body = strdup("{\"kind\":\"Status\",\"message\":\"down\"}");
        return 503;
    }
    pthread_mutex_lock(&s->mu);
    if (strcmp(req->method, "GET") == 0) {
        if (s->lease)
            *body = json_dumps(s->lease, JSON_COMPACT);
        else
            status = 404;
    } else if (strcmp(req->method, "POST") == 0) {
        if (s->lease) {
            status = 409;
        } else {
            s->lease = json_loads(req->body, 0, NULL);
            char rv[16];
            snprintf(rv, sizeof(rv), "%d", ++s->rv);
            json_object_set_new(json_object_get(s->lease, "metadata"), "resourceVersion",
                                json_string(rv));
            *body = json_dumps(s->lease, JSON_COMPACT);
            status = 201;
        }
    } else if (strcmp(req->method, "PUT") == 0) {
        json_t *in = json_loads(req->body, 0, NULL);
        const char *want =
            json_string_value(json_object_get(json_object_get(in, "metadata"), "resourceVersion"));
        char rv[16];
        snprintf(rv, sizeof(rv), "%d", s->rv);
        if (!s->lease || !want || strcmp(want, rv) != 0) {
            json_decref(in);
            status = 409;
        } else {
            json_decref(s->lease);
            s->lease = in;
            snprintf(rv, sizeof(rv), "%d", ++s->rv);
            json_object_set_new(json_object_get(s->lease, "metadata"), "resourceVersion",
                                json_string(rv));
            *body = json_dumps(s->lease, JSON_COMPACT);
        }
    } else {
        status = 405;
    }
    pthread_mutex_unlock(&s->mu);
    if (status >= 300 && !*body)
        *body = strdup("{\"kind\":\"Status\",\"reason\":\"X\",\"message\":\"no\"}");
    return status;
}

static char *holder(struct store *s)
{
    pthread_mutex_lock(&s->mu);
    const char *h = s->lease ? json_string_value(json_object_get(json_object_get(s->lease, "spec"),
                                                                 "holderIdentity"))
                             : NULL;
    char *copy = strdup(h ? h : "(none)");
    pthread_mutex_unlock(&s->mu);
    return copy;
}

struct changes {
    atomic_int started, stopped;
};

static void on_change(void *arg, bool leading)
{
    struct changes *c = arg;
    atomic_fetch_add(leading ? &c->started : &c->stopped, 1);
}

static bool wait_for(struct weir_op_leader *l, bool want, double seconds)
{
    for (int i = 0; i < (int)(seconds * 100); i++) {
        if (weir_op_leader_is_leader(l) == want)
            return true;
        fake_sleep_ms(10);
    }
    return weir_op_leader_is_leader(l) == want;
}

static struct weir_op_leader *elector(struct weir_kube_client *c, const char *id,
                                      struct changes *ch)
{
    struct weir_op_leader_options o = {
        .client = c,
        .namespace_ = "weir-system",
        .name = "weir-operator",
        .identity = id,
        .lease_duration = 1.5,
        .renew_deadline = 1.0,
        .retry_period = 0.1,
        .on_change = on_change,
        .arg = ch,
    };
    struct weir_op_leader *l;
    ck_assert_int_eq(weir_op_leader_new(&o, &l), 0);
    ck_assert_int_eq(weir_op_leader_start(l), 0);
    return l;
}

START_TEST(test_one_leader_and_handover)
{
    struct store s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct fake_api *api = fake_api_start(lease_handler, &s);
    struct weir_kube_client *c = fake_api_client(api);
    struct changes ca = {0}, cb = {0};

    struct weir_op_leader *a = elector(c, "a", &ca);
    ck_assert(wait_for(a, true, 5));
    struct weir_op_leader *b = elector(c, "b", &cb);
    /* b keeps waiting while a renews, longer than a lease duration */
    fake_sleep_ms(2500);
    ck_assert(weir_op_leader_is_leader(a));
    ck_assert(!weir_op_leader_is_leader(b));
    char *h = holder(&s);
    ck_assert_str_eq(h, "a");
    free(h);

    /* a stops and releases: b takes over at its next try, not a lease later */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    weir_op_leader_stop(a, true);
    ck_assert(!weir_op_leader_is_leader(a));
    ck_assert(wait_for(b, true, 5));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_msg(took < 1.0, "handover took %.2f s", took);
    h = holder(&s);
    ck_assert_str_eq(h, "b");
    free(h);
    ck_assert_int_eq(atomic_load(&ca.started), 1);
    ck_assert_int_eq(atomic_load(&ca.stopped), 1);
    ck_assert_int_eq(atomic_load(&cb.started), 1);

    weir_op_leader_free(b);
    weir_op_leader_free(a);
    fake_api_client_free(c);
    fake_api_stop(api);
    json_decref(s.lease);
}
END_TEST

START_TEST(test_crashed_leader_expires)
{
    struct store s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct fake_api *api = fake_api_start(lease_handler, &s);
    struct weir_kube_client *c = fake_api_client(api);
    struct changes ca = {0}, cb = {0};

    struct weir_op_leader *a = elector(c, "a", &ca);
    ck_assert(wait_for(a, true, 5));
    struct weir_op_leader *b = elector(c, "b", &cb);
    fake_sleep_ms(300);
    /* a dies without releasing: b waits out the lease duration (1.5 s) */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    weir_op_leader_stop(a, false);
    ck_assert(wait_for(b, true, 5));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_msg(took >= 1.2 && took < 2.5, "takeover after %.2f s", took);
    pthread_mutex_lock(&s.mu);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(s.lease, "spec"), "leaseTransitions")),
        1);
    pthread_mutex_unlock(&s.mu);
    weir_op_leader_free(b);
    weir_op_leader_free(a);
    fake_api_client_free(c);
    fake_api_stop(api);
    json_decref(s.lease);
}
END_TEST

START_TEST(test_leader_stops_writing_at_the_deadline)
{
    struct store s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct fake_api *api = fake_api_start(lease_handler, &s);
    struct weir_kube_client *c = fake_api_client(api);
    struct changes ca = {0};

    struct weir_op_leader *a = elector(c, "a", &ca);
    ck_assert(wait_for(a, true, 5));
    ck_assert(weir_op_leader_gate(a));
    /* the API server goes away: within the renew deadline (1 s) writes stop,
     * before anyone else may take over (1.5 s) */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    atomic_store(&s.down, true);
    ck_assert(wait_for(a, false, 5));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_msg(took < 1.3, "still leading %.2f s after the last renewal", took);
    for (int i = 0; i < 500 && atomic_load(&ca.stopped) < 1; i++)
        fake_sleep_ms(10);
    ck_assert_int_eq(atomic_load(&ca.stopped), 1);
    /* back: it leads again (its own lease, so at once) */
    atomic_store(&s.down, false);
    ck_assert(wait_for(a, true, 5));
    ck_assert_int_eq(atomic_load(&ca.started), 2);
    ck_assert_int_ge(atomic_load(&ca.stopped), 1);
    weir_op_leader_free(a);
    fake_api_client_free(c);
    fake_api_stop(api);
    json_decref(s.lease);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("operator_leader");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, test_decide);
    tcase_add_test(tc, test_build);
    suite_add_tcase(s, tc);
    TCase *io = tcase_create("elector");
    tcase_set_timeout(io, 60);
    tcase_add_test(io, test_one_leader_and_handover);
    tcase_add_test(io, test_crashed_leader_expires);
    tcase_add_test(io, test_leader_stops_writing_at_the_deadline);
    suite_add_tcase(s, io);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
