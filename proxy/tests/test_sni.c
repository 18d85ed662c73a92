/*
 * The ClientHello reader (tls/sni.c): a server name found and lower-cased, every
 * prefix asking for more, a hello split over records, no name, not TLS, and the
 * bounds.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls/sni.h"

struct buf {
    uint8_t b[40000];
    size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

static void put16(struct buf *b, size_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put(b, x, 2);
}

/* A ClientHello message (handshake header included) with the given server name
 * (NULL: no server_name extension) and padding bytes in another extension. */
static void client_hello(struct buf *m, const char *name, size_t padding)
{
    struct buf body = {.n = 0}, ext = {.n = 0};
    uint8_t random[32] = {0};
    static uint8_t pad[20000];
    put16(&body, 0x0303);
    put(&body, random, 32);
    put(&body, "\x00", 1);                            /* session id */
    put(&body, "\x00\x02\x13\x01", 4);                /* one suite */
    put(&body, "\x01\x00", 2);                        /* null compression */
    put(&ext, "\x00\x0a\x00\x04\x00\x02\x00\x1d", 8); /* supported_groups first */
    if (name) {
        size_t n = strlen(name);
        put16(&ext, 0);
        put16(&ext, n + 5);
        put16(&ext, n + 3);
        put(&ext, "\x00", 1);
        put16(&ext, n);
        put(&ext, name, n);
    }
    if (padding) {
        put16(&ext, 21);
        put16(&ext, padding);
        put(&ext, pad, padding);
    }
    put16(&body, ext.n);
    put(&body, ext.b, ext.n);
    m->n = 0;
    put(m, "\x01", 1);
    put(m, (uint8_t[]){(uint8_t)(body.n >> 16), (uint8_t)(body.n >> 8), (uint8_t)body.n}, 3);
    put(m, body.b, body.n);
}

/* Records of at most `chunk` bytes each. */
static void records(struct buf *out, const struct buf *msg, size_t chunk)
{
    out->n = 0;
    for (size_t off = 0; off < msg->n; off += chunk) {
        size_t k = msg->n - off < chunk ? msg->n - off : chunk;
        put(out, "\x16\x03\x01", 3);
        put16(out, k);
        put(out, msg->b + off, k);
    }
}

static struct buf msg, rec;

START_TEST(found_and_lower_cased)
{
    char name[WP_SNI_NAME_MAX + 1];
    client_hello(&msg, "Api.Example.COM", 0);
    records(&rec, &msg, 16384);
    ck_assert_int_eq(wp_sni_parse(rec.b, rec.n, name), WP_SNI_FOUND);
    ck_assert_str_eq(name, "api.example.com");
    for (size_t i = 0; i < rec.n; i++)
        ck_assert_int_eq(wp_sni_parse(rec.b, i, name), WP_SNI_MORE);
}
END_TEST

START_TEST(split_over_records)
{
    char name[WP_SNI_NAME_MAX + 1];
    client_hello(&msg, "a.example.com", 3000);
    records(&rec, &msg, 100);
    ck_assert_int_eq(wp_sni_parse(rec.b, rec.n, name), WP_SNI_FOUND);
    ck_assert_str_eq(name, "a.example.com");
    ck_assert_int_eq(wp_sni_parse(rec.b, rec.n - 1, name), WP_SNI_MORE);
    records(&rec, &msg, 1);
    ck_assert_int_eq(wp_sni_parse(rec.b, rec.n, name), WP_SNI_FOUND);
}
END_TEST

START_TEST(absent_invalid_and_bounds)
{
    char name[WP_SNI_NAME_MAX + 1];
    char big[300];
    client_hello(&msg, NULL, 0);
    records(&rec, &msg, 16384);
    ck_assert_int_eq(wp_sni_parse(rec.b, rec.n, name), WP_SNI_ABSENT);
    ck_assert_int_eq(wp_sni_parse((const uint8_t *)"GET / HTTP/1.1\r\n", 16, name), WP_SNI_INVALID);
    ck_assert_int_eq(wp_sni_parse((const uint8_t *)"G", 1, name), WP_SNI_INVALID);
    ck_assert_int_eq(wp_sni_parse((const uint8_t *)"\x16\x02", 2, name), WP_SNI_INVALID);
    /* a name longer than DNS allows */
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    client_hello(&msg, big, 0);
    records(&rec, &msg, 16384);
    ck_assert_int_eq(wp_sni_parse(rec.b, rec.n, name), WP_SNI_INVALID);
    /* a hello past the bound */
    client_hello(&msg, "a.example.com", WP_SNI_HELLO_MAX);
    records(&rec, &msg, 16384);
    ck_assert_int_eq(wp_sni_parse(rec.b, rec.n, name), WP_SNI_INVALID);
    /* a server name that is not printable */
    client_hello(&msg, "a\x01.example.com", 0);
    records(&rec, &msg, 16384);
    ck_assert_int_eq(wp_sni_parse(rec.b, rec.n, name), WP_SNI_INVALID);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sni");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, found_and_lower_cased);
    tcase_add_test(tc, split_over_records);
    tcase_add_test(tc, absent_invalid_and_bounds);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
