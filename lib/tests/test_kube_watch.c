#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/watch.h"

#define DATA WEIR_TEST_DATA "/kube/"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Collected lines, joined with '|' for easy comparison. */
struct collect {
    char out[65536];
    size_t len;
    int count;
    int stop_after; /* 0: never */
};

static int collect_line(void *arg, const char *line, size_t len)
{
    struct collect *c = arg;
    ck_assert_ptr_null(memchr(line, '\n', len));
    ck_assert(len > 0);
    ck_assert_uint_lt(c->len + len + 2, sizeof(c->out));
    memcpy(c->out + c->len, line, len);
    c->len += len;
    c->out[c->len++] = '|';
    c->out[c->len] = '\0';
    c->count++;
    if (c->stop_after && c->count == c->stop_after)
        return 7;
    return 0;
}

/* Feeds text in chunks of `chunk` bytes (the last may be shorter). */
static int feed_chunked(const char *text, size_t len, size_t chunk, size_t max, struct collect *c)
{
    struct weir_kube_lines l;
    int rc = 0;
    weir_kube_lines_init(&l, max);
    memset(c, 0, sizeof(*c));
    for (size_t off = 0; off < len && rc == 0; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        /* Each chunk in its own heap block: ASan catches any read past it. */
        char *piece = malloc(n);
        memcpy(piece, text + off, n);
        rc = weir_kube_lines_feed(&l, piece, n, collect_line, c);
        free(piece);
    }
    if (rc == 0)
        rc = weir_kube_lines_finish(&l, collect_line, c);
    weir_kube_lines_free(&l);
    return rc;
}

START_TEST(test_every_chunk_size_gives_the_same_lines)
{
    const char *text = "one\ntwo\r\n\nthree is longer\nfour";
    struct collect c;
    for (size_t chunk = 1; chunk <= strlen(text) + 1; chunk++) {
        ck_assert_int_eq(feed_chunked(text, strlen(text), chunk, 64, &c), 0);
        ck_assert_msg(strcmp(c.out, "one|two|three is longer|four|") == 0, "chunk %zu: %s", chunk,
                      c.out);
    }
}
END_TEST

START_TEST(test_recorded_stream_any_split)
{
    size_t len;
    char *text = slurp(DATA "watch-configmaps.jsonl", &len);
    struct collect whole, c;
    ck_assert_int_eq(feed_chunked(text, len, len, 0, &whole), 0);
    ck_assert_int_eq(whole.count, 4);
    /* Split at every single position into two pieces, and in odd sizes. */
    for (size_t cut = 1; cut < len; cut++) {
        struct weir_kube_lines l;
        memset(&c, 0, sizeof(c));
        weir_kube_lines_init(&l, 0);
        ck_assert_int_eq(weir_kube_lines_feed(&l, text, cut, collect_line, &c), 0);
        ck_assert_int_eq(weir_kube_lines_feed(&l, text + cut, len - cut, collect_line, &c), 0);
        ck_assert_int_eq(weir_kube_lines_finish(&l, collect_line, &c), 0);
        weir_kube_lines_free(&l);
        ck_assert_str_eq(c.out, whole.out);
    }
    const size_t sizes[] = {1, 2, 3, 7, 64, 100, 333, 4096};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        ck_assert_int_eq(feed_chunked(text, len, sizes[i], 0, &c), 0);
        ck_assert_str_eq(c.out, whole.out);
    }
    free(text);
}
END_TEST

START_TEST(test_many_lines_in_one_chunk)
{
    char text[20000];
    size_t n = 0;
    struct collect c;
    for (int i = 0; i < 1000; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "{\"i\":%d}\n", i);
    ck_assert_int_eq(feed_chunked(text, n, n, 0, &c), 0);
    ck_assert_int_eq(c.count, 1000);
    ck_assert(strncmp(c.out, "{\"i\":0}|{\"i\":1}|", 16) == 0);
}
END_TEST

START_TEST(test_oversize_line)
{
    struct collect c;
    /* exactly the limit passes, one more byte fails, whole or in pieces */
    ck_assert_int_eq(feed_chunked("0123456789abcdef\nx\n", 19, 19, 16, &c), 0);
    ck_assert_str_eq(c.out, "0123456789abcdef|x|");
    ck_assert_int_eq(feed_chunked("0123456789abcdefg\nx\n", 20, 20, 16, &c),
                     WEIR_KUBE_ERR_TOO_LARGE);
    ck_assert_int_eq(feed_chunked("0123456789abcdefg\nx\n", 20, 5, 16, &c),
                     WEIR_KUBE_ERR_TOO_LARGE);
    ck_assert_int_eq(c.count, 0);
    /* a line that never ends is refused as soon as it passes the limit */
    struct weir_kube_lines l;
    int rc = 0;
    weir_kube_lines_init(&l, 1000);
    memset(&c, 0, sizeof(c));
    for (int i = 0; i < 1000 && rc == 0; i++)
        rc = weir_kube_lines_feed(&l, "xxxxxxxxxx", 10, collect_line, &c);
    ck_assert_int_eq(rc, WEIR_KUBE_ERR_TOO_LARGE);
    ck_assert_uint_le(l.cap, 1001);
    weir_kube_lines_free(&l);
}
END_TEST

START_TEST(test_callback_stops_the_feed)
{
    struct collect c;
    struct weir_kube_lines l;
    memset(&c, 0, sizeof(c));
    c.stop_after = 2;
    weir_kube_lines_init(&l, 0);
    ck_assert_int_eq(weir_kube_lines_feed(&l, "a\nb\nc\n", 6, collect_line, &c), 7);
    ck_assert_str_eq(c.out, "a|b|");
    weir_kube_lines_free(&l);
}
END_TEST

/* ---- events ---- */

static int parse_line(const char *line, struct weir_kube_watch_event *ev,
                      struct weir_kube_error *err)
{
    return weir_kube_watch_event_parse(line, strlen(line), ev, err);
}

struct events {
    struct weir_kube_watch_event ev[8];
    int n;
};

static int keep_event(void *arg, const char *line, size_t len)
{
    struct events *e = arg;
    struct weir_kube_error err;
    ck_assert_int_lt(e->n, 8);
    int rc = weir_kube_watch_event_parse(line, len, &e->ev[e->n], &err);
    ck_assert_msg(rc == 0, "%s", err.message);
    e->n++;
    return 0;
}

START_TEST(test_recorded_events)
{
    size_t len;
    char *text = slurp(DATA "watch-configmaps.jsonl", &len);
    struct events e = {0};
    struct weir_kube_lines l;
    weir_kube_lines_init(&l, 0);
    ck_assert_int_eq(weir_kube_lines_feed(&l, text, len, keep_event, &e), 0);
    weir_kube_lines_free(&l);
    ck_assert_int_eq(e.n, 4);
    ck_assert_int_eq(e.ev[0].type, WEIR_KUBE_WATCH_ADDED);
    ck_assert_str_eq(e.ev[0].resource_version, "1001");
    ck_assert_str_eq(weir_kube_obj_name(e.ev[0].object), "cm-1");
    ck_assert_int_eq(e.ev[1].type, WEIR_KUBE_WATCH_MODIFIED);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(e.ev[1].object, "data"), "k")),
        "v2 with \"quotes\" and a\nnewline escaped");
    ck_assert_int_eq(e.ev[2].type, WEIR_KUBE_WATCH_BOOKMARK);
    ck_assert_str_eq(e.ev[2].resource_version, "1010");
    ck_assert_int_eq(e.ev[3].type, WEIR_KUBE_WATCH_DELETED);
    ck_assert_str_eq(weir_kube_watch_type_name(e.ev[3].type), "DELETED");
    for (int i = 0; i < e.n; i++)
        weir_kube_watch_event_free(&e.ev[i]);
    free(text);
}
END_TEST

START_TEST(test_error_410_is_gone)
{
    size_t len;
    char *text = slurp(DATA "watch-gone.jsonl", &len);
    struct weir_kube_watch_event ev;
    struct weir_kube_error err;
    ck_assert_int_eq(weir_kube_watch_event_parse(text, len - 1, &ev, &err), 0);
    ck_assert_int_eq(ev.type, WEIR_KUBE_WATCH_ERROR);
    ck_assert_int_eq(weir_kube_watch_event_error(&ev, "watch /api/v1/configmaps", &err),
                     WEIR_KUBE_ERR_GONE);
    ck_assert_int_eq(err.code, WEIR_KUBE_ERR_GONE);
    ck_assert_int_eq(err.http_status, 410);
    ck_assert_str_eq(err.reason, "Expired");
    ck_assert_str_eq(err.message, "too old resource version: 1 (2456)");
    char buf[512];
    ck_assert_str_eq(weir_kube_error_format(&err, buf, sizeof(buf)),
                     "watch /api/v1/configmaps: 410 Expired: too old resource version: 1 (2456)");
    weir_kube_watch_event_free(&ev);
    free(text);
}
END_TEST

START_TEST(test_error_other_codes)
{
    struct weir_kube_watch_event ev;
    struct weir_kube_error err;
    ck_assert_int_eq(parse_line("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":500,"
                                "\"reason\":\"InternalError\",\"message\":\"etcd down\"}}",
                                &ev, &err),
                     0);
    ck_assert_int_eq(weir_kube_watch_event_error(&ev, NULL, &err), WEIR_KUBE_ERR_HTTP);
    ck_assert_int_eq(err.http_status, 500);
    ck_assert_str_eq(err.message, "etcd down");
    weir_kube_watch_event_free(&ev);
}
END_TEST

START_TEST(test_bad_events)
{
    struct weir_kube_watch_event ev;
    struct weir_kube_error err;
    ck_assert_int_eq(parse_line("{\"type\":\"ADDED\",", &ev, &err), WEIR_KUBE_ERR_DECODE);
    ck_assert_int_eq(parse_line("{\"type\":\"RENAMED\",\"object\":{}}", &ev, &err),
                     WEIR_KUBE_ERR_DECODE);
    ck_assert_str_eq(err.message, "event has no known type and object (type \"RENAMED\")");
    ck_assert_int_eq(parse_line("{\"type\":\"ADDED\",\"object\":[]}", &ev, &err),
                     WEIR_KUBE_ERR_DECODE);
    ck_assert_int_eq(parse_line("[1,2]", &ev, &err), WEIR_KUBE_ERR_DECODE);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kube_watch");
    TCase *tc = tcase_create("lines");
    tcase_add_test(tc, test_every_chunk_size_gives_the_same_lines);
    tcase_add_test(tc, test_recorded_stream_any_split);
    tcase_add_test(tc, test_many_lines_in_one_chunk);
    tcase_add_test(tc, test_oversize_line);
    tcase_add_test(tc, test_callback_stops_the_feed);
    suite_add_tcase(s, tc);
    TCase *ev = tcase_create("events");
    tcase_add_test(ev, test_recorded_events);
    tcase_add_test(ev, test_error_410_is_gone);
    tcase_add_test(ev, test_error_other_codes);
    tcase_add_test(ev, test_bad_events);
    suite_add_tcase(s, ev);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
