/*
 * The HTTP/1 parser wrapper: what it accepts, what it refuses (and with which
 * status), how it frames bodies and pauses between pipelined messages. Protocol
 * cases as data: each case is the exact bytes and the expected outcome.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http1/parse.h"

struct capture {
    struct wp_request_head req;
    struct wp_response_head resp;
    char body[4096];
    size_t body_len;
    int heads, completes;
    struct wp_h1_parser *p;
};

static int on_head(void *owner)
{
    struct capture *c = owner;
    c->heads++;
    if (c->p->kind == WP_H1_REQUEST) {
        wp_request_head_free(&c->req);
        c->req = c->p->req;
        wp_request_head_init(&c->p->req);
    } else {
        wp_response_head_free(&c->resp);
        c->resp = c->p->resp;
        wp_response_head_init(&c->p->resp);
    }
    return 0;
}

static int on_body(void *owner, const char *data, size_t len)
{
    struct capture *c = owner;
    if (c->body_len + len < sizeof(c->body)) {
        memcpy(c->body + c->body_len, data, len);
        c->body_len += len;
    }
    return 0;
}

static int on_complete(void *owner)
{
    ((struct capture *)owner)->completes++;
    return 0;
}

static const struct wp_h1_callbacks cbs = {on_head, on_body, on_complete};

static struct wp_h1_parser parser;
static struct capture cap;

static void start(enum wp_h1_kind kind, size_t max_bytes, size_t max_headers)
{
    struct wp_h1_limits l = {max_bytes, max_headers};
    memset(&cap, 0, sizeof(cap));
    wp_request_head_init(&cap.req);
    wp_response_head_init(&cap.resp);
    cap.p = &parser;
    wp_h1_parser_init(&parser, kind, &l, &cbs, &cap);
}

static void finish(void)
{
    wp_h1_parser_free(&parser);
    wp_request_head_free(&cap.req);
    wp_response_head_free(&cap.resp);
}

/* Feeds the whole input one byte at a time when split is set (every state of the
 * scanner and of http-parser must survive a boundary anywhere). */
static ssize_t feed(const char *s, bool split)
{
    size_t len = strlen(s), done = 0;
    if (!split)
        return wp_h1_parser_feed(&parser, s, len);
    while (done < len) {
        ssize_t n = wp_h1_parser_feed(&parser, s + done, 1);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

struct bad_case {
    const char *name;
    const char *bytes;
    int status;
};

static const struct bad_case bad_requests[] = {
    {"CL and TE",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    {"TE and CL",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400},
    {"two equal CL",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400},
    {"two different CL",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
    {"CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc", 400},
    {"CL sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 400},
    {"TE gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
    {"TE chunked twice",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
     "chunked\r\n\r\n",
     400},
    {"TE list", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
    {"TE in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
    {"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400},
    {"obs-fold tab", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", 400},
    {"bare LF", "GET / HTTP/1.1\nHost: a\n\n", 400},
    {"bare CR", "GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400},
    {"space before colon", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 3\r\n\r\nabc", 400},
    {"NUL in value",
     "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01"
     "b\r\n\r\n",
     400},
    {"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
    {"no host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400},
    {"bad version", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
    {"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400},
    {"relative target", "GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"star not options", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"connect", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 405},
    {"bad chunk size",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400},
    {"chunk size overflow",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", 400},
    {"unknown expect", "GET / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n", 417},
    {"upgrade with body",
     "POST / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\nContent-Length: "
     "2\r\n\r\nab",
     400},
};

START_TEST(refuses_bad_requests)
{
    for (int split = 0; split < 2; split++) {
        for (size_t i = 0; i < sizeof(bad_requests) / sizeof(bad_requests[0]); i++) {
            const struct bad_case *bc = &bad_requests[i];
            start(WP_H1_REQUEST, 8192, 100);
            ck_assert_msg(feed(bc->bytes, split) < 0, "%s (split %d): accepted", bc->name, split);
            ck_assert_msg(parser.error_status == bc->status, "%s (split %d): status %d, want %d",
                          bc->name, split, parser.error_status, bc->status);
            finish();
        }
    }
}
END_TEST

START_TEST(limits)
{
    char big[9000];
    int n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(big + n, 'a', 5000);
    strcpy(big + n + 5000, "\r\n\r\n");
    start(WP_H1_REQUEST, 4096, 100);
    ck_assert(feed(big, false) < 0);
    ck_assert_int_eq(parser.error_status, 431);
    finish();
    start(WP_H1_REQUEST, 8192, 2);
    ck_assert(feed("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", false) < 0);
    ck_assert_int_eq(parser.error_status, 431);
    finish();
    /* the same with room (Host counts too): accepted */
    start(WP_H1_REQUEST, 8192, 4);
    ck_assert(feed("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", false) > 0);
    finish();
}
END_TEST

START_TEST(parses_request)
{
    for (int split = 0; split < 2; split++) {
        start(WP_H1_REQUEST, 8192, 100);
        ck_assert(feed("\r\nPOST /p?q=1 HTTP/1.1\r\nHost: Example.COM:81\r\nX-Multi: 1\r\n"
                       "x-multi: 2\r\nTransfer-Encoding: Chunked\r\nExpect: 100-continue\r\n\r\n"
                       "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer-A: x\r\n\r\n",
                       split) > 0);
        ck_assert_int_eq(cap.heads, 1);
        ck_assert_int_eq(cap.completes, 1);
        ck_assert_str_eq(cap.req.method, "POST");
        ck_assert_str_eq(cap.req.path, "/p?q=1");
        ck_assert_str_eq(cap.req.authority, "Example.COM:81");
        ck_assert(cap.req.chunked);
        ck_assert(cap.req.expect_continue);
        ck_assert(cap.req.keep_alive);
        ck_assert_int_eq((int)wp_headers_count(&cap.req.headers, "x-multi", 7), 2);
        ck_assert_ptr_null(wp_headers_get(&cap.req.headers, "host", 4));
        /* a trailer is not a head field: it is kept apart */
        ck_assert_ptr_null(wp_headers_get(&cap.req.headers, "trailer-a", 9));
        ck_assert_int_eq((int)parser.trailers.len, 1);
        ck_assert_str_eq(wp_headers_get(&parser.trailers, "trailer-a", 9)->value, "x");
        ck_assert_int_eq((int)cap.body_len, 5);
        ck_assert(memcmp(cap.body, "abcde", 5) == 0);
        finish();
    }
}
END_TEST

START_TEST(trailers)
{
    static const char head[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "1\r\nz\r\n0\r\n";
    char in[20000];

    for (int split = 0; split < 2; split++) {
        /* several fields, OWS trimmed, names lower-cased; the next message starts clean */
        start(WP_H1_REQUEST, 8192, 100);
        snprintf(in, sizeof(in), "%sGrpc-Status: 0\r\nx-t:  v v \r\nx-t: w\r\n\r\n", head);
        ck_assert(feed(in, split) > 0);
        ck_assert(parser.message_done);
        ck_assert_int_eq((int)parser.trailers.len, 3);
        ck_assert_str_eq(parser.trailers.items[0].name, "grpc-status");
        ck_assert_str_eq(parser.trailers.items[1].value, "v v");
        ck_assert_int_eq((int)wp_headers_count(&parser.trailers, "x-t", 3), 2);
        wp_h1_parser_next(&parser);
        ck_assert_int_eq((int)parser.trailers.len, 0);
        ck_assert(feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n", split) > 0);
        ck_assert_int_eq((int)parser.trailers.len, 0);
        finish();

        /* the same checks as head fields */
        start(WP_H1_REQUEST, 8192, 100);
        snprintf(in, sizeof(in), "%sx-t: a\x01b\r\n\r\n", head);
        ck_assert(feed(in, split) < 0);
        ck_assert_int_eq(parser.error_status, 400);
        finish();
        start(WP_H1_REQUEST, 8192, 100);
        snprintf(in, sizeof(in), "%sx t: a\r\n\r\n", head);
        ck_assert(feed(in, split) < 0);
        ck_assert_int_eq(parser.error_status, 400);
        finish();

        /* one budget for head and trailers: fields... */
        start(WP_H1_REQUEST, 8192, 4); /* host, transfer-encoding and two more */
        snprintf(in, sizeof(in), "%sa: 1\r\nb: 2\r\n\r\n", head);
        ck_assert(feed(in, split) > 0);
        finish();
        start(WP_H1_REQUEST, 8192, 4);
        snprintf(in, sizeof(in), "%sa: 1\r\nb: 2\r\nc: 3\r\n\r\n", head);
        ck_assert(feed(in, split) < 0);
        ck_assert_int_eq(parser.error_status, 431);
        finish();
        /* ...and bytes: the head is 56 bytes, the trailer 1 + 4 + 4100 */
        start(WP_H1_REQUEST, 4096, 100);
        snprintf(in, sizeof(in), "%sx: %04100d\r\n\r\n", head, 0);
        ck_assert(feed(in, split) < 0);
        ck_assert_int_eq(parser.error_status, 431);
        finish();
        start(WP_H1_REQUEST, 4096, 100);
        snprintf(in, sizeof(in), "%sx: %03900d\r\n\r\n", head, 0);
        ck_assert(feed(in, split) > 0);
        ck_assert_int_eq((int)parser.trailers.items[0].value_len, 3900);
        finish();

        /* responses: the same reading, 502 past the limits */
        start(WP_H1_RESPONSE, 8192, 100);
        ck_assert(feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n"
                       "grpc-status: 7\r\ngrpc-message: no\r\n\r\n",
                       split) > 0);
        ck_assert_int_eq((int)parser.trailers.len, 2);
        ck_assert_str_eq(wp_headers_get(&parser.trailers, "grpc-status", 11)->value, "7");
        finish();
        start(WP_H1_RESPONSE, 8192, 2);
        ck_assert(feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
                       "a: 1\r\nb: 2\r\n\r\n",
                       split) < 0);
        ck_assert_int_eq(parser.error_status, 502);
        finish();
    }
}
END_TEST

START_TEST(absolute_form)
{
    start(WP_H1_REQUEST, 8192, 100);
    ck_assert(
        feed("GET http://b.example:8080/x/y?z#frag HTTP/1.1\r\nHost: ignored\r\n\r\n", false) > 0);
    ck_assert_str_eq(cap.req.authority, "b.example:8080");
    ck_assert_str_eq(cap.req.path, "/x/y?z");
    ck_assert_str_eq(cap.req.scheme, "http");
    finish();
    start(WP_H1_REQUEST, 8192, 100);
    ck_assert(feed("GET http://c HTTP/1.1\r\nHost: c\r\n\r\n", false) > 0);
    ck_assert_str_eq(cap.req.path, "/");
    finish();
}
END_TEST

START_TEST(pipelining_pauses)
{
    const char *two = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    ssize_t n;
    start(WP_H1_REQUEST, 8192, 100);
    n = wp_h1_parser_feed(&parser, two, strlen(two));
    ck_assert_int_eq((int)n, (int)strlen("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"));
    ck_assert_int_eq(cap.completes, 1);
    ck_assert_str_eq(cap.req.path, "/1");
    /* nothing more until the owner is ready */
    ck_assert_int_eq((int)wp_h1_parser_feed(&parser, two + n, strlen(two) - (size_t)n), 0);
    wp_h1_parser_next(&parser);
    ck_assert(wp_h1_parser_idle(&parser));
    ck_assert_int_eq((int)wp_h1_parser_feed(&parser, two + n, strlen(two) - (size_t)n),
                     (int)(strlen(two) - (size_t)n));
    ck_assert_str_eq(cap.req.path, "/2");
    finish();
}
END_TEST

START_TEST(upgrade_request)
{
    const char *s =
        "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        "\x81\x05hello";
    ssize_t n;
    start(WP_H1_REQUEST, 8192, 100);
    n = wp_h1_parser_feed(&parser, s, strlen(s));
    ck_assert_int_eq((int)n, (int)(strlen(s) - 7));
    ck_assert(cap.req.upgrade);
    ck_assert(wp_h1_parser_upgraded(&parser));
    finish();
}
END_TEST

/* An h2c upgrade is not taken: a plain HTTP/1.1 request, the connection reads on. */
START_TEST(h2c_upgrade_not_taken)
{
    const char *s = "POST /a HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                    "Upgrade: H2C\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"
                    "Content-Length: 3\r\n\r\nabc"
                    "GET /b HTTP/1.1\r\nHost: a\r\n\r\n";
    size_t first = strlen(s) - strlen("GET /b HTTP/1.1\r\nHost: a\r\n\r\n");
    for (int split = 0; split < 2; split++) {
        start(WP_H1_REQUEST, 8192, 100);
        ck_assert_int_eq((int)feed(s, split), (int)first); /* paused after the first */
        ck_assert(!cap.req.upgrade);
        ck_assert(!wp_h1_parser_upgraded(&parser));
        ck_assert_int_eq((int)cap.body_len, 3);
        wp_h1_parser_next(&parser);
        ck_assert(feed(s + first, split) > 0);
        ck_assert_str_eq(cap.req.path, "/b");
        ck_assert_int_eq(cap.heads, 2);
        finish();
    }
    /* h2c among other protocols: refused */
    start(WP_H1_REQUEST, 8192, 100);
    ck_assert(feed("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
                   "Upgrade: h2c\r\n\r\n",
                   false) < 0);
    ck_assert_int_eq(parser.error_status, 400);
    finish();
    /* h2c named without Connection: upgrade is no upgrade request at all */
    start(WP_H1_REQUEST, 8192, 100);
    ck_assert(feed("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c, websocket\r\n\r\n", false) > 0);
    ck_assert(!cap.req.upgrade);
    finish();
}
END_TEST

START_TEST(responses)
{
    start(WP_H1_RESPONSE, 8192, 100);
    ck_assert(feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false) > 0);
    ck_assert_int_eq(cap.resp.status, 200);
    ck_assert_int_eq((int)cap.resp.content_length, 5);
    ck_assert_int_eq(cap.completes, 1);
    finish();

    /* an answer to HEAD has no body whatever its length says */
    start(WP_H1_RESPONSE, 8192, 100);
    parser.head_method = true;
    ck_assert(feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false) > 0);
    ck_assert_int_eq(cap.completes, 1);
    ck_assert(cap.resp.no_body);
    finish();

    /* close-delimited */
    start(WP_H1_RESPONSE, 8192, 100);
    ck_assert(feed("HTTP/1.1 200 OK\r\n\r\nabc", false) > 0);
    ck_assert_int_eq(cap.completes, 0);
    ck_assert_int_eq(wp_h1_parser_eof(&parser), 0);
    ck_assert_int_eq(cap.completes, 1);
    ck_assert_int_eq((int)cap.body_len, 3);
    finish();

    /* cut short */
    start(WP_H1_RESPONSE, 8192, 100);
    ck_assert(feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", false) > 0);
    ck_assert_int_eq(wp_h1_parser_eof(&parser), -1);
    finish();

    /* malformed: 502 */
    start(WP_H1_RESPONSE, 8192, 100);
    ck_assert(feed("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", false) < 0);
    ck_assert_int_eq(parser.error_status, 502);
    finish();
    start(WP_H1_RESPONSE, 8192, 100);
    ck_assert(feed("this is not http\r\n\r\n", false) < 0);
    ck_assert_int_eq(parser.error_status, 502);
    finish();
}
END_TEST

static int write_buf(void *sink, const char *data, size_t len)
{
    strncat(sink, data, len);
    return 0;
}

START_TEST(write_heads)
{
    char out[512] = "";
    struct wp_request_head r;
    struct wp_response_head s;
    wp_request_head_init(&r);
    r.method = strdup("POST");
    r.path = strdup("/x");
    r.authority = strdup("a:80");
    r.chunked = true;
    r.keep_alive = true;
    wp_headers_add_str(&r.headers, "X-A", "1");
    ck_assert_int_eq(wp_h1_write_request_head(&r, write_buf, out), 0);
    ck_assert_str_eq(out, "POST /x HTTP/1.1\r\nhost: a:80\r\nx-a: 1\r\n"
                          "transfer-encoding: chunked\r\n\r\n");
    wp_request_head_free(&r);

    out[0] = '\0';
    wp_response_head_init(&s);
    s.status = 404;
    s.content_length = 3;
    s.keep_alive = false;
    ck_assert_int_eq(wp_h1_write_response_head(&s, write_buf, out), 0);
    ck_assert_str_eq(out,
                     "HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\nconnection: close\r\n\r\n");
    wp_response_head_free(&s);

    out[0] = '\0';
    ck_assert_int_eq(wp_h1_write_last_chunk(NULL, write_buf, out), 0);
    ck_assert_str_eq(out, "0\r\n\r\n");
    out[0] = '\0';
    wp_headers_init(&s.headers);
    wp_headers_add_str(&s.headers, "grpc-status", "0");
    wp_headers_add_str(&s.headers, "x-t", "v");
    ck_assert_int_eq(wp_h1_write_last_chunk(&s.headers, write_buf, out), 0);
    ck_assert_str_eq(out, "0\r\ngrpc-status: 0\r\nx-t: v\r\n\r\n");
    wp_headers_free(&s.headers);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http1_parse");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;
    http_parser_set_max_header_size(2u << 20);
    tcase_add_test(tc, refuses_bad_requests);
    tcase_add_test(tc, limits);
    tcase_add_test(tc, parses_request);
    tcase_add_test(tc, trailers);
    tcase_add_test(tc, absolute_form);
    tcase_add_test(tc, pipelining_pauses);
    tcase_add_test(tc, upgrade_request);
    tcase_add_test(tc, h2c_upgrade_not_taken);
    tcase_add_test(tc, responses);
    tcase_add_test(tc, write_heads);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
