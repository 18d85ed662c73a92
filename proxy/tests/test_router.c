/*
 * Route selection and route application: service lookup by name and address,
 * every HTTP match condition, weighted choice, L4 routes, and the rewrite /
 * redirect / header rules applied to a selected route.
 */
#include <check.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/proxy_config.h"
#include "http/apply.h"
#include "route/router.h"

#define A "a.default.svc.cluster.local"

static struct weir_proxy_config *cfg;
static struct wp_route_index ix;

static void setup(void)
{
    struct weir_diags d;
    weir_diags_init(&d);
    if (weir_proxy_config_load_file(WEIR_PROXY_TEST_DATA "/router.json", &cfg, &d) != 0) {
        for (size_t i = 0; i < d.len; i++)
            weir_diag_print(stderr, &d.items[i]);
        ck_abort_msg("router.json does not load");
    }
    weir_diags_free(&d);
    ck_assert_int_eq(wp_route_index_build(&ix, cfg), 0);
}

static void teardown(void)
{
    wp_route_index_free(&ix);
    weir_proxy_config_free(cfg);
}

static const char *host_of(const char *name)
{
    const struct weir_pc_service *s = wp_route_service_by_host(&ix, name, strlen(name));
    return s ? s->host : NULL;
}

START_TEST(service_by_name)
{
    ck_assert_str_eq(host_of(A), A);
    ck_assert_str_eq(host_of("A.Default.Svc.Cluster.Local"), A);
    ck_assert_str_eq(host_of(A "."), A);
    ck_assert_str_eq(host_of("alpha"), A);     /* alias */
    ck_assert_str_eq(host_of("10.96.0.1"), A); /* alias */
    ck_assert_str_eq(host_of("a"), A);         /* derived short names */
    ck_assert_str_eq(host_of("a.default"), A);
    ck_assert_str_eq(host_of("a.default.svc"), A);
    ck_assert_str_eq(host_of("b"), "b.default.svc.cluster.local");
    /* another namespace's service needs its namespace in the name */
    ck_assert_str_eq(host_of("other.prod"), "*");
    ck_assert_str_eq(host_of("other.prod.svc.cluster.local"), "other.prod.svc.cluster.local");
    /* wildcards: the longest suffix wins, "*" last */
    ck_assert_str_eq(host_of("x.api.example.com"), "*.api.example.com");
    ck_assert_str_eq(host_of("x.example.com"), "*.example.com");
    ck_assert_str_eq(host_of("example.com"), "*");
    ck_assert_str_eq(host_of("nothing.here"), "*");
}
END_TEST

START_TEST(service_by_address)
{
    const struct weir_pc_port *sp = NULL;
    uint8_t ip1[4] = {10, 96, 0, 1}, ip2[4] = {10, 1, 2, 3}, ip3[4] = {192, 168, 0, 1};
    const struct weir_pc_service *s;

    s = wp_route_service_by_addr(&ix, AF_INET, ip1, 80, &sp);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s->host, A); /* /32 beats the /8 of b */
    ck_assert_int_eq(sp->number, 80);
    s = wp_route_service_by_addr(&ix, AF_INET, ip2, 5432, &sp);
    ck_assert_str_eq(s->host, "b.default.svc.cluster.local");
    ck_assert_int_eq(sp->protocol, WEIR_PC_PROTO_TCP);
    ck_assert_ptr_null(wp_route_service_by_addr(&ix, AF_INET, ip1, 81, &sp));
    ck_assert_ptr_null(wp_route_service_by_addr(&ix, AF_INET, ip3, 80, &sp));
}
END_TEST

START_TEST(split_authority)
{
    const char *h;
    size_t n;
    int port;
    wp_split_authority("a:8080", 6, &h, &n, &port);
    ck_assert_int_eq((int)n, 1);
    ck_assert_int_eq(port, 8080);
    wp_split_authority("a", 1, &h, &n, &port);
    ck_assert_int_eq(port, -1);
    wp_split_authority("[::1]:99", 8, &h, &n, &port);
    ck_assert_int_eq((int)n, 3);
    ck_assert(memcmp(h, "::1", 3) == 0);
    ck_assert_int_eq(port, 99);
    wp_split_authority("[::1]", 5, &h, &n, &port);
    ck_assert_int_eq(port, -1);
    wp_split_authority("a:99999", 7, &h, &n, &port);
    ck_assert_int_eq(port, -1);
    wp_split_authority("a:x", 3, &h, &n, &port);
    ck_assert_int_eq(port, -1);
}
END_TEST

/* Selects a route on a.default:80 (or port) and returns its name. */
static const char *select_ex(const char *method, const char *path, const char *authority,
                             const struct wp_headers *h, uint16_t port,
                             const struct wp_route_source *src)
{
    const struct weir_pc_service *s = wp_route_service_by_host(&ix, "a", 1);
    const struct weir_pc_port *sp = &s->ports[0];
    struct wp_route_request rq = {method, path, authority, "http", h, port};
    int match, idx = wp_route_select_http(sp, &rq, src, &match);
    return idx < 0 ? "none" : sp->http[idx].name;
}

static struct weir_kv client_kv = {"app", "client"};
static struct weir_string_map client_labels = {&client_kv, 1};
static struct wp_route_source client = {&client_labels, "default"};
static struct wp_route_source stranger = {NULL, "elsewhere"};

static const char *select_simple(const char *method, const char *path)
{
    return select_ex(method, path, "a", NULL, 80, &stranger);
}

START_TEST(match_uri)
{
    ck_assert_str_eq(select_simple("GET", "/exact"), "exact");
    ck_assert_str_eq(select_simple("GET", "/exact?q=1"), "exact"); /* exact ignores the query */
    ck_assert_str_eq(select_simple("GET", "/exact/more"), "catchall");
    ck_assert_str_eq(select_simple("GET", "/ci/x"), "prefix-ci");
    ck_assert_str_eq(select_simple("GET", "/Ci/X"), "prefix-ci");
    ck_assert_str_eq(select_simple("GET", "/re/123"), "regex");
    ck_assert_str_eq(select_simple("GET", "/re/123?x=y"), "regex");
    ck_assert_str_eq(select_simple("GET", "/re/12a"), "catchall"); /* regex is a full match */
    ck_assert_str_eq(select_simple("GET", "/re/123/x"), "catchall");
}
END_TEST

START_TEST(match_headers)
{
    struct wp_headers h;
    wp_headers_init(&h);
    wp_headers_add_str(&h, "X-User", "jason");
    ck_assert_str_eq(select_ex("GET", "/", "a", &h, 80, &stranger), "header");
    wp_headers_free(&h);

    wp_headers_add_str(&h, "x-user", "jasonx");
    ck_assert_str_eq(select_ex("GET", "/", "a", &h, 80, &stranger), "catchall");
    wp_headers_add_str(&h, "x-user", "jason"); /* any value of a repeated header */
    ck_assert_str_eq(select_ex("GET", "/", "a", &h, 80, &stranger), "header");
    wp_headers_free(&h);

    wp_headers_add_str(&h, "x-present", "");
    ck_assert_str_eq(select_ex("GET", "/", "a", &h, 80, &stranger), "present");
    wp_headers_free(&h);

    ck_assert_str_eq(select_ex("GET", "/without", "a", NULL, 80, &stranger), "without");
    wp_headers_add_str(&h, "x-legacy", "1");
    ck_assert_str_eq(select_ex("GET", "/without", "a", &h, 80, &stranger), "catchall");
    wp_headers_free(&h);
}
END_TEST

START_TEST(match_method_authority_query)
{
    ck_assert_str_eq(select_simple("DELETE", "/"), "method");
    ck_assert_str_eq(select_ex("GET", "/", "a.default.svc", NULL, 80, &stranger), "authority");
    /* a second match entry of the same route */
    ck_assert_str_eq(select_ex("GET", "/auth/x", "a", NULL, 80, &stranger), "authority");
    ck_assert_str_eq(select_simple("GET", "/?debug=on%20air"), "query");
    ck_assert_str_eq(select_simple("GET", "/?x=1&debug=on%20air&y"), "query");
    ck_assert_str_eq(select_simple("GET", "/?debug=on"), "catchall");
    ck_assert_str_eq(select_simple("GET", "/?debugx=on%20air"), "catchall");
}
END_TEST

START_TEST(match_source_and_port)
{
    ck_assert_str_eq(select_ex("GET", "/labels", "a", NULL, 80, &client), "labels");
    ck_assert_str_eq(select_ex("GET", "/labels", "a", NULL, 80, &stranger), "catchall");
    ck_assert_str_eq(select_ex("GET", "/ns", "a", NULL, 80, &client), "srcns");
    ck_assert_str_eq(select_ex("GET", "/ns", "a", NULL, 80, &stranger), "catchall");
    ck_assert_str_eq(select_ex("GET", "/port", "a", NULL, 81, &stranger), "port");
    ck_assert_str_eq(select_ex("GET", "/port", "a", NULL, 80, &stranger), "catchall");
}
END_TEST

START_TEST(weighted_pick)
{
    const struct weir_pc_service *s = wp_route_service_by_host(&ix, "a", 1);
    const struct weir_pc_http_route *split = NULL;
    int counts[3] = {0, 0, 0};
    for (size_t i = 0; i < s->ports[0].n_http; i++) {
        if (strcmp(s->ports[0].http[i].name, "split") == 0)
            split = &s->ports[0].http[i];
    }
    ck_assert_ptr_nonnull(split);
    for (uint32_t r = 0; r < 100; r++)
        counts[wp_route_pick_destination(split->route, split->n_route, r)]++;
    ck_assert_int_eq(counts[0], 90);
    ck_assert_int_eq(counts[1], 10);
    ck_assert_int_eq(counts[2], 0); /* weight 0: listed, never picked */
}
END_TEST

START_TEST(l4_routes)
{
    const struct weir_pc_service *s = wp_route_service_by_host(&ix, "b", 1);
    const struct weir_pc_port *sp = wp_route_service_port(s, 5432);
    uint8_t in[4] = {10, 1, 9, 9}, out[4] = {10, 2, 0, 1};
    ck_assert_ptr_nonnull(sp);
    ck_assert_int_eq(wp_route_select_l4(sp->tcp, sp->n_tcp, AF_INET, in, 5432, NULL), 0);
    ck_assert_int_eq(wp_route_select_l4(sp->tcp, sp->n_tcp, AF_INET, out, 5432, NULL), 1);
    ck_assert_ptr_null(wp_route_service_port(s, 1));
}
END_TEST

START_TEST(query_param)
{
    char buf[64];
    ck_assert_int_eq((int)wp_query_param("/p?a=1&b=x%2Fy", "b", buf, sizeof(buf)), 3);
    ck_assert(memcmp(buf, "x/y", 3) == 0);
    ck_assert_int_eq((int)wp_query_param("/p?a=1", "b", buf, sizeof(buf)), -1);
    ck_assert_int_eq((int)wp_query_param("/p", "a", buf, sizeof(buf)), -1);
    ck_assert_int_eq((int)wp_query_param("/p?a", "a", buf, sizeof(buf)), 0);
    ck_assert_int_eq((int)wp_query_param("/p?a=%zz", "a", buf, sizeof(buf)), 3); /* kept as sent */
    ck_assert_int_eq((int)wp_query_param("/p?a=%4", "a", buf, sizeof(buf)), 2);
}
END_TEST

/* ---- route application ---- */

START_TEST(rewrite_prefix_and_full)
{
    struct weir_pc_http_match m = {0};
    struct weir_pc_rewrite rw = {0};
    struct weir_pc_http_route r = {0};
    char *path = strdup("/api/v1/items?x=1");
    m.uri.m.type = WEIR_MATCH_PREFIX;
    m.uri.m.value = "/api/";
    rw.uri = "/v2/";
    r.match = &m;
    r.n_match = 1;
    r.rewrite = &rw;
    ck_assert_int_eq(wp_rewrite_path(&r, 0, &path), 0);
    ck_assert_str_eq(path, "/v2/v1/items?x=1");
    /* without a prefix match the whole path is replaced, the query kept */
    ck_assert_int_eq(wp_rewrite_path(&r, -1, &path), 0);
    ck_assert_str_eq(path, "/v2/?x=1");
    rw.uri = "nothing-leading";
    ck_assert_int_eq(wp_rewrite_path(&r, -1, &path), 0);
    ck_assert_str_eq(path, "/nothing-leading?x=1");
    free(path);
}
END_TEST

START_TEST(rewrite_regex)
{
    /* compiled by the loader: take the route with a regex rewrite from a document */
    static const char doc[] =
        "{\"apiVersion\":\"proxy.weir.dev/"
        "v1\",\"kind\":\"ProxyConfig\",\"metadata\":{\"namespace\":"
        "\"default\",\"revision\":\"sha256:"
        "0000000000000000000000000000000000000000000000000000000000"
        "000000\",\"trustDomain\":\"cluster.local\"},\"services\":[{\"host\":\"h\",\"ports\":[{"
        "\"number\":80,\"protocol\":\"http\",\"http\":[{\"route\":[{\"cluster\":\"outbound|80||h\","
        "\"weight\":100}],\"rewrite\":{\"uriRegex\":{\"match\":\"/user/([0-9]+)/(\\\\w+)\","
        "\"rewrite\":\"/\\\\2/"
        "\\\\1\"}}}]}]}],\"clusters\":[{\"name\":\"outbound|80||h\",\"service\":"
        "\"h\",\"port\":80,\"protocol\":\"http\"}]}";
    struct weir_proxy_config *c = NULL;
    struct weir_diags d;
    char *path;
    weir_diags_init(&d);
    if (weir_proxy_config_load(doc, sizeof(doc) - 1, "inline", &c, &d) != 0) {
        for (size_t i = 0; i < d.len; i++)
            weir_diag_print(stderr, &d.items[i]);
        ck_abort_msg("inline document does not load");
    }
    path = strdup("/user/42/profile/user/7/x?q=/user/1/a");
    ck_assert_int_eq(wp_rewrite_path(&c->services[0].ports[0].http[0], -1, &path), 0);
    ck_assert_str_eq(path, "/profile/42/x/7?q=/user/1/a");
    free(path);
    weir_proxy_config_free(c);
    weir_diags_free(&d);
}
END_TEST

START_TEST(redirect_location)
{
    struct weir_pc_redirect rd = {0};
    char *loc;
    rd.uri = "/new";
    rd.code = 301;
    loc = wp_redirect_location(&rd, "http", "a.default:8080", "/old?x", 8080);
    ck_assert_str_eq(loc, "http://a.default:8080/new");
    free(loc);
    rd.uri = NULL;
    rd.scheme = "https";
    loc = wp_redirect_location(&rd, "http", "a.default:8080", "/old?x", 8080);
    ck_assert_str_eq(loc, "https://a.default/old?x"); /* the old port belonged to http */
    free(loc);
    rd.scheme = NULL;
    rd.authority = "b.example";
    rd.port = 9090;
    loc = wp_redirect_location(&rd, "http", "a", "/p", 80);
    ck_assert_str_eq(loc, "http://b.example:9090/p");
    free(loc);
    rd.port = 0;
    rd.derive_port = WEIR_PC_DERIVE_PORT_FROM_REQUEST_PORT;
    loc = wp_redirect_location(&rd, "http", "a", "/p", 8081);
    ck_assert_str_eq(loc, "http://b.example:8081/p");
    free(loc);
    rd.derive_port = WEIR_PC_DERIVE_PORT_FROM_PROTOCOL_DEFAULT;
    loc = wp_redirect_location(&rd, "http", "a:1234", "/p", 8081);
    ck_assert_str_eq(loc, "http://b.example/p");
    free(loc);
    rd.authority = NULL;
    rd.derive_port = WEIR_PC_DERIVE_PORT_NONE;
    loc = wp_redirect_location(&rd, "http", "[::1]:81", "/p", 81);
    ck_assert_str_eq(loc, "http://[::1]:81/p");
    free(loc);
}
END_TEST

START_TEST(header_ops_and_hop_by_hop)
{
    struct wp_headers h;
    struct weir_kv set = {"x-set", "new"}, add = {"x-add", "2"};
    char *rm = "x-remove";
    struct weir_pc_header_ops ops = {{&set, 1}, {&add, 1}, {&rm, 1}};
    wp_headers_init(&h);
    wp_headers_add_str(&h, "x-set", "old1");
    wp_headers_add_str(&h, "x-set", "old2");
    wp_headers_add_str(&h, "x-add", "1");
    wp_headers_add_str(&h, "x-remove", "gone");
    ck_assert_int_eq(wp_apply_header_ops(&h, &ops), 0);
    ck_assert_int_eq((int)wp_headers_count(&h, "x-set", 5), 1);
    ck_assert_str_eq(wp_headers_get(&h, "x-set", 5)->value, "new");
    ck_assert_int_eq((int)wp_headers_count(&h, "x-add", 5), 2);
    ck_assert_ptr_null(wp_headers_get(&h, "x-remove", 8));

    wp_headers_add_str(&h, "connection", "keep-alive, X-Private");
    wp_headers_add_str(&h, "x-private", "secret");
    wp_headers_add_str(&h, "keep-alive", "timeout=5");
    wp_headers_add_str(&h, "transfer-encoding", "chunked");
    wp_headers_add_str(&h, "upgrade", "websocket");
    wp_headers_add_str(&h, "te", "trailers");
    wp_strip_hop_by_hop(&h, false);
    ck_assert_ptr_null(wp_headers_get(&h, "connection", 10));
    ck_assert_ptr_null(wp_headers_get(&h, "x-private", 9));
    ck_assert_ptr_null(wp_headers_get(&h, "keep-alive", 10));
    ck_assert_ptr_null(wp_headers_get(&h, "transfer-encoding", 17));
    ck_assert_ptr_null(wp_headers_get(&h, "upgrade", 7));
    ck_assert_ptr_nonnull(wp_headers_get(&h, "te", 2));
    ck_assert_ptr_nonnull(wp_headers_get(&h, "x-set", 5));
    wp_headers_free(&h);
}
END_TEST

START_TEST(uuid_format)
{
    char id[37];
    wp_format_uuid(id, 0x0123456789abcdefULL, 0xfedcba9876543210ULL);
    ck_assert_int_eq((int)strlen(id), 36);
    ck_assert_int_eq(id[14], '4');
    ck_assert(strchr("89ab", id[19]) != NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, service_by_name);
    tcase_add_test(tc, service_by_address);
    tcase_add_test(tc, split_authority);
    tcase_add_test(tc, match_uri);
    tcase_add_test(tc, match_headers);
    tcase_add_test(tc, match_method_authority_query);
    tcase_add_test(tc, match_source_and_port);
    tcase_add_test(tc, weighted_pick);
    tcase_add_test(tc, l4_routes);
    tcase_add_test(tc, query_param);
    suite_add_tcase(s, tc);
    tc = tcase_create("apply");
    tcase_add_test(tc, rewrite_prefix_and_full);
    tcase_add_test(tc, rewrite_regex);
    tcase_add_test(tc, redirect_location);
    tcase_add_test(tc, header_ops_and_hop_by_hop);
    tcase_add_test(tc, uuid_format);
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
    return failed ? 1 : 0;
}
