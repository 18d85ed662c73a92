/*
 * The networking.istio.io model: VirtualService, DestinationRule and
 * ServiceEntry parsed into structs. The manifest tests check diagnostics;
 * these check the values the translation will read (weights, durations in
 * nanoseconds, enums, optional fields left unset) and how wrongly typed
 * values are reported.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "model/destination_rule.h"
#include "model/mesh.h"
#include "model/service_entry.h"
#include "model/virtual_service.h"
#include "yaml/yaml_json.h"

#define MS  (1000000LL)
#define SEC (1000000000LL)

struct parsed {
    struct weir_yaml_stream stream;
    struct weir_diags diags;
    struct weir_resource *r;
    int rc;
};

static void parse_yaml(struct parsed *p, const char *yaml)
{
    memset(p, 0, sizeof(*p));
    weir_diags_init(&p->diags);
    ck_assert_int_eq(weir_yaml_parse(yaml, strlen(yaml), "test.yaml", NULL, &p->stream, &p->diags),
                     0);
    ck_assert_uint_eq(p->stream.ndocs, 1);
    p->rc = weir_mesh_parse(p->stream.docs[0].root, &p->stream, p->stream.docs[0].line, NULL, &p->r,
                            &p->diags);
}

static void parsed_free(struct parsed *p)
{
    weir_resource_free(p->r);
    weir_yaml_stream_free(&p->stream);
    weir_diags_free(&p->diags);
}

static char *all_diags(const struct parsed *p)
{
    static char buf[8192];
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < p->diags.len && len < sizeof(buf); i++) {
        char *t = weir_diag_format(&p->diags.items[i]);
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\n  %s: %s",
                                weir_severity_name(p->diags.items[i].severity), t ? t : "?");
        free(t);
    }
    return buf;
}

static void assert_valid(const struct parsed *p)
{
    ck_assert_msg(p->rc == 0 && p->r != NULL, "expected a valid object, got:%s", all_diags(p));
}

static bool has_diag(const struct parsed *p, enum weir_severity sev, const char *text)
{
    for (size_t i = 0; i < p->diags.len; i++) {
        char *t;
        bool same;
        if (p->diags.items[i].severity != sev)
            continue;
        t = weir_diag_format(&p->diags.items[i]);
        same = t && strcmp(t, text) == 0;
        free(t);
        if (same)
            return true;
    }
    return false;
}

static void assert_error(const struct parsed *p, const char *text)
{
    ck_assert_msg(p->rc == -1 && p->r == NULL, "expected an invalid object");
    ck_assert_msg(has_diag(p, WEIR_SEV_ERROR, text), "missing error \"%s\"; got:%s", text,
                  all_diags(p));
}

/* ---- VirtualService ---- */

START_TEST(test_vs_weights)
{
    struct parsed p;
    const struct weir_virtual_service *vs;
    parse_yaml(&p, "apiVersion: networking.istio.io/v1\n"
                   "kind: VirtualService\n"
                   "metadata: {name: reviews}\n"
                   "spec:\n"
                   "  hosts: [reviews]\n"
                   "  http:\n"
                   "  - route:\n"
                   "    - destination: {host: reviews, subset: v1}\n"
                   "      weight: 80\n"
                   "    - destination: {host: reviews, subset: v2, port: {number: 9080}}\n"
                   "      weight: 20\n"
                   "    - destination: {host: reviews, subset: v3}\n"
                   "  - route:\n"
                   "    - destination: {host: reviews, subset: v1}\n");
    assert_valid(&p);
    vs = p.r->u.vs;
    ck_assert_uint_eq(vs->n_http, 2);
    ck_assert(vs->applies_to_mesh);
    ck_assert(!vs->is_delegate);
    ck_assert_uint_eq(vs->hosts.len, 1);
    ck_assert_str_eq(vs->hosts.items[0], "reviews");

    const struct weir_http_route *r = &vs->http[0];
    ck_assert_int_eq(r->action, WEIR_HTTP_ACTION_ROUTE);
    ck_assert_uint_eq(r->n_route, 3);
    ck_assert_int_eq(r->route[0].weight, 80);
    ck_assert_int_eq(r->route[1].weight, 20);
    ck_assert_int_eq(r->route[2].weight, 0); /* absent among several */
    ck_assert_str_eq(r->route[1].destination.subset, "v2");
    ck_assert_int_eq(r->route[1].destination.port, 9080);
    ck_assert_int_eq(r->route[0].destination.port, 0);
    ck_assert_int_eq(r->timeout_ns, WEIR_UNSET);
    ck_assert_ptr_null(r->retries);
    ck_assert_ptr_null(r->fault);
    ck_assert_ptr_null(r->mirror);
    ck_assert(r->mirror_percentage == WEIR_UNSET);

    /* A lone destination takes all traffic. */
    ck_assert_uint_eq(vs->http[1].n_route, 1);
    ck_assert_int_eq(vs->http[1].route[0].weight, 100);
    ck_assert_uint_eq(vs->http[1].n_match, 0);
    parsed_free(&p);
}
END_TEST

START_TEST(test_vs_weights_sum)
{
    struct parsed p;
    parse_yaml(&p, "apiVersion: networking.istio.io/v1\n"
                   "kind: VirtualService\n"
                   "metadata: {name: reviews, namespace: default}\n"
                   "spec:\n"
                   "  hosts: [reviews]\n"
                   "  http:\n"
                   "  - route:\n"
                   "    - destination: {host: reviews, subset: v1}\n"
                   "  - route:\n"
                   "    - destination: {host: reviews, subset: v1}\n"
                   "      weight: 70\n"
                   "    - destination: {host: reviews, subset: v3}\n"
                   "      weight: 70\n");
    assert_error(&p, "VirtualService default/reviews: spec.http[1].route[0].weight: weights must "
                     "sum to 100, got 140");
    ck_assert_uint_eq(weir_diags_count(&p.diags, WEIR_SEV_ERROR), 1);
    /* The line is the weight's own, for editors. */
    ck_assert_int_eq(p.diags.items[0].line, 11);
    parsed_free(&p);
}
END_TEST

START_TEST(test_vs_retries_timeout)
{
    struct parsed p;
    const struct weir_http_retry *rt;
    parse_yaml(&p, "apiVersion: networking.istio.io/v1\n"
                   "kind: VirtualService\n"
                   "metadata: {name: ratings}\n"
                   "spec:\n"
                   "  hosts: [ratings]\n"
                   "  http:\n"
                   "  - route:\n"
                   "    - destination: {host: ratings}\n"
                   "    timeout: 0.5s\n"
                   "    retries:\n"
                   "      attempts: 3\n"
                   "      perTryTimeout: 2s\n"
                   "      retryOn: gateway-error,connect-failure,503,retriable-status-codes\n"
                   "      retryRemoteLocalities: true\n"
                   "      backoff: 25ms\n");
    assert_valid(&p);
    const struct weir_http_route *r = &p.r->u.vs->http[0];
    ck_assert_int_eq(r->timeout_ns, 500 * MS);
    rt = r->retries;
    ck_assert_ptr_nonnull(rt);
    ck_assert_int_eq(rt->attempts, 3);
    ck_assert_int_eq(rt->per_try_timeout_ns, 2 * SEC);
    ck_assert_uint_eq(rt->conditions.len, 3);
    ck_assert_str_eq(rt->conditions.items[0], "gateway-error");
    ck_assert_str_eq(rt->conditions.items[1], "connect-failure");
    ck_assert_str_eq(rt->conditions.items[2], "retriable-status-codes");
    ck_assert_uint_eq(rt->n_status_codes, 1);
    ck_assert_int_eq(rt->status_codes[0], 503);
    ck_assert_int_eq(rt->retry_remote_localities, WEIR_TRI_TRUE);
    ck_assert_int_eq(rt->retry_ignore_previous_hosts, WEIR_TRI_UNSET);
    ck_assert_int_eq(rt->backoff_ns, 25 * MS);
    parsed_free(&p);
}
END_TEST

START_TEST(test_vs_faults)
{
    struct parsed p;
    parse_yaml(&p, "apiVersion: networking.istio.io/v1\n"
                   "kind: VirtualService\n"
                   "metadata: {name: ratings}\n"
                   "spec:\n"
                   "  hosts: [ratings]\n"
                   "  http:\n"
                   "  - fault:\n"
                   "      delay: {fixedDelay: 7s, percentage: {value: 0.1}}\n"
                   "      abort: {grpcStatus: UNAVAILABLE}\n"
                   "    route:\n"
                   "    - destination: {host: ratings}\n"
                   "  - fault:\n"
                   "      abort: {httpStatus: 503, percentage: {value: 50}}\n"
                   "    route:\n"
                   "    - destination: {host: ratings}\n");
    assert_valid(&p);
    const struct weir_http_fault *f = p.r->u.vs->http[0].fault;
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(f->delay);
    ck_assert_int_eq(f->delay->fixed_delay_ns, 7 * SEC);
    ck_assert_double_eq_tol(f->delay->percentage, 0.1, 1e-9);
    ck_assert_int_eq(f->delay->percent, WEIR_UNSET);
    ck_assert_int_eq(f->abort->kind, WEIR_ABORT_GRPC);
    ck_assert_int_eq(f->abort->grpc_status, 14);
    ck_assert(f->abort->percentage == WEIR_UNSET);

    f = p.r->u.vs->http[1].fault;
    ck_assert_ptr_null(f->delay);
    ck_assert_int_eq(f->abort->kind, WEIR_ABORT_HTTP);
    ck_assert_int_eq(f->abort->http_status, 503);
    ck_assert_double_eq_tol(f->abort->percentage, 50, 1e-9);
    parsed_free(&p);
}
END_TEST

START_TEST(test_vs_matches)
{
    struct parsed p;
    const struct weir_http_match *m;
    parse_yaml(&p, "apiVersion: networking.istio.io/v1\n"
                   "kind: VirtualService\n"
                   "metadata: {name: api}\n"
                   "spec:\n"
                   "  hosts: [api]\n"
                   "  http:\n"
                   "  - match:\n"
                   "    - uri: {prefix: /v2/}\n"
                   "      ignoreUriCase: true\n"
                   "      headers:\n"
                   "        End-User: {exact: jason}\n"
                   "        x-canary: {}\n"
                   "      withoutHeaders:\n"
                   "        x-opt-out: {regex: \"true|yes\"}\n"
                   "      queryParams:\n"
                   "        debug: {exact: \"1\"}\n"
                   "      port: 8080\n"
                   "      sourceLabels: {app: web}\n"
                   "      sourceNamespace: frontend\n"
                   "    - method: {exact: POST}\n"
                   "    route:\n"
                   "    - destination: {host: api}\n");
    ck_assert_int_eq(p.rc, 0);
    ck_assert(has_diag(&p, WEIR_SEV_WARNING,
                       "VirtualService default/api: spec.http[0].match[0].headers.End-User: header "
                       "names are matched in lower case; write \"end-user\""));
    ck_assert_uint_eq(p.r->u.vs->http[0].n_match, 2);
    m = &p.r->u.vs->http[0].match[0];
    ck_assert_int_eq(m->uri.type, WEIR_MATCH_PREFIX);
    ck_assert_str_eq(m->uri.value, "/v2/");
    ck_assert(m->ignore_uri_case);
    ck_assert_int_eq(m->method.type, WEIR_MATCH_NONE);
    ck_assert_uint_eq(m->n_headers, 2);
    ck_assert_str_eq(m->headers[0].name, "end-user");
    ck_assert_int_eq(m->headers[0].match.type, WEIR_MATCH_EXACT);
    ck_assert_str_eq(m->headers[0].match.value, "jason");
    ck_assert_str_eq(m->headers[1].name, "x-canary");
    ck_assert_int_eq(m->headers[1].match.type, WEIR_MATCH_NONE); /* presence */
    ck_assert_uint_eq(m->n_without_headers, 1);
    ck_assert_int_eq(m->without_headers[0].match.type, WEIR_MATCH_REGEX);
    ck_assert_uint_eq(m->n_query_params, 1);
    ck_assert_str_eq(m->query_params[0].name, "debug");
    ck_assert_int_eq(m->port, 8080);
    ck_assert_str_eq(weir_string_map_get(&m->source_labels, "app"), "web");
    ck_assert_str_eq(m->source_namespace, "frontend");
    ck_assert_int_eq(p.r->u.vs->http[0].match[1].method.type, WEIR_MATCH_EXACT);
    parsed_free(&p);
}
END_TEST

START_TEST(test_vs_redirect_direct_response)
{
    struct parsed p;
    parse_yaml(&p,
               "apiVersion: networking.istio.io/v1\n"
               "kind: VirtualService\n"
               "metadata: {name: web}\n"
               "spec:\n"
               "  hosts: [web]\n"
               "  http:\n"
               "  - match: [{uri: {exact: /old}}]\n"
               "    redirect: {uri: /new}\n"
               "  - match: [{scheme: {exact: http}}]\n"
               "    redirect: {scheme: https, derivePort: FROM_REQUEST_PORT, redirectCode: 307}\n"
               "  - match: [{uri: {exact: /bin}}]\n"
               "    directResponse:\n"
               "      status: 503\n"
               "      body: {bytes: dW5rbm93biBlcnJvcg==}\n"
               "  - directResponse: {status: 404, body: {string: missing}}\n");
    assert_valid(&p);
    const struct weir_virtual_service *vs = p.r->u.vs;
    ck_assert_int_eq(vs->http[0].action, WEIR_HTTP_ACTION_REDIRECT);
    ck_assert_str_eq(vs->http[0].redirect->uri, "/new");
    ck_assert_int_eq(vs->http[0].redirect->code, 301);
    ck_assert_int_eq(vs->http[0].redirect->port_mode, WEIR_REDIRECT_PORT_KEEP);
    ck_assert_ptr_null(vs->http[0].redirect->authority);
    ck_assert_int_eq(vs->http[1].redirect->code, 307);
    ck_assert_int_eq(vs->http[1].redirect->port_mode, WEIR_REDIRECT_PORT_FROM_REQUEST_PORT);
    ck_assert_str_eq(vs->http[1].redirect->scheme, "https");

    const struct weir_http_direct_response *d = vs->http[2].direct_response;
    ck_assert_int_eq(vs->http[2].action, WEIR_HTTP_ACTION_DIRECT_RESPONSE);
    ck_assert_int_eq(d->status, 503);
    ck_assert_int_eq(d->body_kind, WEIR_BODY_BYTES);
    ck_assert_uint_eq(d->body_len, 13);
    ck_assert_mem_eq(d->body, "unknown error", 13);
    d = vs->http[3].direct_response;
    ck_assert_int_eq(d->body_kind, WEIR_BODY_STRING);
    ck_assert_str_eq((const char *)d->body, "missing");
    parsed_free(&p);
}
END_TEST

START_TEST(test_vs_mirror_cors_headers_rewrite)
{
    struct parsed p;
    parse_yaml(&p, "apiVersion: networking.istio.io/v1\n"
                   "kind: VirtualService\n"
                   "metadata: {name: web}\n"
                   "spec:\n"
                   "  hosts: [web]\n"
                   "  http:\n"
                   "  - rewrite:\n"
                   "      uriRegexRewrite: {match: \"^/a/(.*)\", rewrite: \"/b/\\\\1\"}\n"
                   "      authority: web-internal\n"
                   "    headers:\n"
                   "      request: {set: {x-a: \"1\"}, add: {x-b: \"2\"}, remove: [x-c]}\n"
                   "    corsPolicy:\n"
                   "      allowOrigins: [{prefix: \"https://\"}]\n"
                   "      allowMethods: [GET]\n"
                   "      maxAge: 24h\n"
                   "      allowCredentials: false\n"
                   "      unmatchedPreflights: IGNORE\n"
                   "    mirrors:\n"
                   "    - destination: {host: shadow}\n"
                   "      percentage: {value: 12.5}\n"
                   "    - destination: {host: recorder}\n"
                   "    route:\n"
                   "    - destination: {host: web}\n"
                   "      headers:\n"
                   "        response: {remove: [server]}\n");
    assert_valid(&p);
    const struct weir_http_route *r = &p.r->u.vs->http[0];
    ck_assert_ptr_nonnull(r->rewrite);
    ck_assert_ptr_null(r->rewrite->uri);
    ck_assert_str_eq(r->rewrite->uri_regex->match, "^/a/(.*)");
    ck_assert_str_eq(r->rewrite->uri_regex->rewrite, "/b/\\1");
    ck_assert_str_eq(r->rewrite->authority, "web-internal");
    ck_assert_str_eq(weir_string_map_get(&r->headers.request.set, "x-a"), "1");
    ck_assert_str_eq(weir_string_map_get(&r->headers.request.add, "x-b"), "2");
    ck_assert_str_eq(r->headers.request.remove.items[0], "x-c");
    ck_assert_uint_eq(r->headers.response.remove.len, 0);
    ck_assert_str_eq(r->route[0].headers.response.remove.items[0], "server");
    ck_assert_int_eq(r->cors_policy->max_age_ns, 24 * 3600 * SEC);
    ck_assert_int_eq(r->cors_policy->allow_credentials, WEIR_TRI_FALSE);
    ck_assert_int_eq(r->cors_policy->unmatched_preflights, WEIR_PREFLIGHT_IGNORE);
    ck_assert_uint_eq(r->cors_policy->n_allow_origins, 1);
    ck_assert_int_eq(r->cors_policy->allow_origins[0].type, WEIR_MATCH_PREFIX);
    ck_assert_uint_eq(r->n_mirrors, 2);
    ck_assert_str_eq(r->mirrors[0].destination.host, "shadow");
    ck_assert_double_eq_tol(r->mirrors[0].percentage, 12.5, 1e-9);
    ck_assert(r->mirrors[1].percentage == WEIR_UNSET);
    parsed_free(&p);
}
END_TEST

START_TEST(test_vs_l4_routes)
{
    struct parsed p;
    parse_yaml(&p, "apiVersion: networking.istio.io/v1\n"
                   "kind: VirtualService\n"
                   "metadata: {name: edge}\n"
                   "spec:\n"
                   "  hosts: [\"*.example.com\"]\n"
                   "  tls:\n"
                   "  - match:\n"
                   "    - sniHosts: [a.example.com, \"*.b.example.com\"]\n"
                   "      port: 443\n"
                   "    route:\n"
                   "    - destination: {host: a.example.com, port: {number: 443}}\n"
                   "  tcp:\n"
                   "  - match:\n"
                   "    - destinationSubnets: [10.0.0.0/8, \"2001:db8::/32\"]\n"
                   "    route:\n"
                   "    - destination: {host: db-a}\n"
                   "      weight: 30\n"
                   "    - destination: {host: db-b}\n"
                   "      weight: 70\n");
    assert_valid(&p);
    const struct weir_virtual_service *vs = p.r->u.vs;
    ck_assert_uint_eq(vs->n_http, 0);
    ck_assert_uint_eq(vs->n_tls, 1);
    ck_assert_uint_eq(vs->tls[0].match[0].sni_hosts.len, 2);
    ck_assert_str_eq(vs->tls[0].match[0].sni_hosts.items[1], "*.b.example.com");
    ck_assert_int_eq(vs->tls[0].match[0].port, 443);
    ck_assert_int_eq(vs->tls[0].route[0].weight, 100);
    ck_assert_uint_eq(vs->n_tcp, 1);
    ck_assert_uint_eq(vs->tcp[0].match[0].destination_subnets.len, 2);
    ck_assert_uint_eq(vs->tcp[0].match[0].sni_hosts.len, 0);
    ck_assert_int_eq(vs->tcp[0].route[0].weight, 30);
    ck_assert_int_eq(vs->tcp[0].route[1].weight, 70);
    parsed_free(&p);
}
END_TEST

START_TEST(test_vs_gateways_and_delegates)
{
    struct parsed p;
    parse_yaml(&p, "apiVersion: networking.istio.io/v1\n"
                   "kind: VirtualService\n"
                   "metadata: {name: ingress}\n"
                   "spec:\n"
                   "  hosts: [\"*\"]\n"
                   "  gateways: [istio-system/public]\n"
                   "  http:\n"
                   "  - route:\n"
                   "    - destination: {host: web}\n");
    assert_valid(&p);
    ck_assert(!p.r->u.vs->applies_to_mesh);
    ck_assert_uint_eq(weir_diags_count(&p.diags, WEIR_SEV_UNSUPPORTED), 1);
    parsed_free(&p);

    parse_yaml(&p, "apiVersion: networking.istio.io/v1\n"
                   "kind: VirtualService\n"
                   "metadata: {name: delegate}\n"
                   "spec:\n"
                   "  http:\n"
                   "  - route:\n"
                   "    - destination: {host: web}\n");
    assert_valid(&p);
    ck_assert(p.r->u.vs->is_delegate);
    ck_assert(has_diag(&p, WEIR_SEV_UNSUPPORTED,
                       "VirtualService default/delegate: spec.hosts: a VirtualService without "
                       "hosts is a delegate, which Weir does not support yet"));
    parsed_free(&p);
}
END_TEST

/* A string where a number is expected and the like: one error each, naming
 * what was found, and no cascade of follow-up errors. */
START_TEST(test_vs_wrong_types)
{
    struct parsed p;
    parse_yaml(&p, "apiVersion: networking.istio.io/v1\n"
                   "kind: VirtualService\n"
                   "metadata: {name: bad}\n"
                   "spec:\n"
                   "  hosts: [bad, 7]\n"
                   "  http:\n"
                   "  - route:\n"
                   "    - destination: {host: bad, port: {number: \"80\"}}\n"
                   "      weight: \"60\"\n"
                   "    - destination: {host: bad}\n"
                   "      weight: 40\n"
                   "    retries: {attempts: three, retryOn: 503}\n"
                   "    fault: {delay: {fixedDelay: 5}}\n"
                   "    mirrorPercentage: {value: half}\n");
    assert_error(&p, "VirtualService default/bad: spec.hosts[1]: must be a string, got integer");
    ck_assert(has_diag(&p, WEIR_SEV_ERROR,
                       "VirtualService default/bad: spec.http[0].route[0].destination.port.number: "
                       "must be an integer, got string"));
    ck_assert(has_diag(&p, WEIR_SEV_ERROR,
                       "VirtualService default/bad: spec.http[0].route[0].weight: must be an "
                       "integer, got string"));
    ck_assert(has_diag(&p, WEIR_SEV_ERROR,
                       "VirtualService default/bad: spec.http[0].retries.attempts: must be an "
                       "integer, got string"));
    ck_assert(has_diag(&p, WEIR_SEV_ERROR,
                       "VirtualService default/bad: spec.http[0].retries.retryOn: must be a "
                       "string, got integer"));
    ck_assert(has_diag(&p, WEIR_SEV_ERROR,
                       "VirtualService default/bad: spec.http[0].fault.delay.fixedDelay: must be "
                       "a string, got integer"));
    ck_assert(has_diag(&p, WEIR_SEV_ERROR,
                       "VirtualService default/bad: spec.http[0].mirrorPercentage.value: must be a "
                       "number, got string"));
    /* No sum check over a weight that is not a number, no retry warning over
     * attempts that are not a number. */
    ck_assert_uint_eq(weir_diags_count(&p.diags, WEIR_SEV_ERROR), 7);
    ck_assert_uint_eq(weir_diags_count(&p.diags, WEIR_SEV_WARNING), 0);
    parsed_free(&p);
}
END_TEST

/* JSON from the API server carries no lines; the model must not need them. */
START_TEST(test_vs_from_json)
{
    struct weir_diags diags;
    struct weir_resource *r = NULL;
    json_error_t err;
    json_t *doc =
        json_loads("{\"apiVersion\":\"networking.istio.io/v1beta1\",\"kind\":\"VirtualService\","
                   "\"metadata\":{\"name\":\"reviews\",\"namespace\":\"prod\"},"
                   "\"spec\":{\"hosts\":[\"reviews\"],\"http\":[{\"route\":["
                   "{\"destination\":{\"host\":\"reviews\",\"subset\":\"v1\"},\"weight\":50},"
                   "{\"destination\":{\"host\":\"reviews\",\"subset\":\"v2\"},\"weight\":40}]}]}}",
                   0, &err);
    ck_assert_ptr_nonnull(doc);
    weir_diags_init(&diags);
    ck_assert_int_eq(weir_mesh_parse(doc, NULL, 0, NULL, &r, &diags), -1);
    ck_assert_uint_eq(diags.len, 1);
    char *text = weir_diag_format(&diags.items[0]);
    ck_assert_str_eq(text,
                     "VirtualService prod/reviews: spec.http[0].route[0].weight: weights must "
                     "sum to 100, got 90");
    free(text);
    ck_assert_int_eq(diags.items[0].line, 0);
    weir_diags_free(&diags);
    json_decref(doc);
}
END_TEST

/* ---- DestinationRule ---- */

START_TEST(test_dr_subsets_and_pool)
{
    struct parsed p;
    const struct weir_destination_rule *dr;
    parse_yaml(&p, "apiVersion: networking.istio.io/v1\n"
                   "kind: DestinationRule\n"
                   "metadata: {name: reviews}\n"
                   "spec:\n"
                   "  host: reviews.prod.svc.cluster.local\n"
                   "  trafficPolicy:\n"
                   "    loadBalancer: {simple: LEAST_REQUEST}\n"
                   "    connectionPool:\n"
                   "      tcp:\n"
                   "        maxConnections: 100\n"
                   "        connectTimeout: 30ms\n"
                   "        tcpKeepalive: {time: 7200s, interval: 75s}\n"
                   "        idleTimeout: 0s\n"
                   "      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 10,"
                   " h2UpgradePolicy: DO_NOT_UPGRADE}\n"
                   "    outlierDetection:\n"
                   "      consecutive5xxErrors: 7\n"
                   "      interval: 5m\n"
                   "      baseEjectionTime: 15m\n"
                   "      maxEjectionPercent: 100\n"
                   "    retryBudget: {percent: 20.5}\n"
                   "  subsets:\n"
                   "  - name: v1\n"
                   "    labels: {version: v1, app.kubernetes.io/part-of: bookinfo}\n"
                   "  - name: v2\n"
                   "    labels: {version: v2}\n"
                   "    trafficPolicy:\n"
                   "      loadBalancer: {simple: RANDOM}\n");
    assert_valid(&p);
    dr = p.r->u.dr;
    ck_assert_str_eq(dr->host, "reviews.prod.svc.cluster.local");
    ck_assert_uint_eq(dr->n_subsets, 2);
    ck_assert_str_eq(dr->subsets[0].name, "v1");
    ck_assert_uint_eq(dr->subsets[0].labels.len, 2);
    ck_assert_str_eq(weir_string_map_get(&dr->subsets[0].labels, "app.kubernetes.io/part-of"),
                     "bookinfo");
    ck_assert_ptr_null(dr->subsets[0].traffic_policy);
    ck_assert_int_eq(dr->subsets[1].traffic_policy->load_balancer->simple, WEIR_LB_RANDOM);

    const struct weir_traffic_policy *tp = dr->traffic_policy;
    ck_assert_int_eq(tp->load_balancer->simple, WEIR_LB_LEAST_REQUEST);
    ck_assert_ptr_null(tp->load_balancer->consistent_hash);
    ck_assert_int_eq(tp->connection_pool->tcp->max_connections, 100);
    ck_assert_int_eq(tp->connection_pool->tcp->connect_timeout_ns, 30 * MS);
    ck_assert_int_eq(tp->connection_pool->tcp->keepalive->time_ns, 7200 * SEC);
    ck_assert_int_eq(tp->connection_pool->tcp->keepalive->interval_ns, 75 * SEC);
    ck_assert_int_eq(tp->connection_pool->tcp->keepalive->probes, WEIR_UNSET);
    ck_assert_int_eq(tp->connection_pool->tcp->idle_timeout_ns, 0); /* disabled, not unset */
    ck_assert_int_eq(tp->connection_pool->tcp->max_connection_duration_ns, WEIR_UNSET);
    ck_assert_int_eq(tp->connection_pool->http->http1_max_pending_requests, 1);
    ck_assert_int_eq(tp->connection_pool->http->max_requests_per_connection, 10);
    ck_assert_int_eq(tp->connection_pool->http->http2_max_requests, WEIR_UNSET);
    ck_assert_int_eq(tp->connection_pool->http->h2_upgrade_policy, WEIR_H2_UPGRADE_DO_NOT_UPGRADE);
    ck_assert_int_eq(tp->outlier_detection->consecutive_5xx_errors, 7);
    ck_assert_int_eq(tp->outlier_detection->consecutive_gateway_errors, WEIR_UNSET);
    ck_assert_int_eq(tp->outlier_detection->interval_ns, 300 * SEC);
    ck_assert_int_eq(tp->outlier_detection->base_ejection_time_ns, 900 * SEC);
    ck_assert_int_eq(tp->outlier_detection->max_ejection_percent, 100);
    ck_assert_int_eq(tp->outlier_detection->min_health_percent, WEIR_UNSET);
    ck_assert_double_eq_tol(tp->retry_budget->percent, 20.5, 1e-9);
    ck_assert_int_eq(tp->retry_budget->min_retry_concurrency, WEIR_UNSET);
    ck_assert_ptr_null(tp->tls);
    parsed_free(&p);
}
END_TEST

START_TEST(test_dr_consistent_hash)
{
    struct parsed p;
    parse_yaml(&p, "apiVersion: networking.istio.io/v1\n"
                   "kind: DestinationRule\n"
                   "metadata: {name: cart}\n"
                   "spec:\n"
                   "  host: cart\n"
                   "  trafficPolicy:\n"
                   "    loadBalancer:\n"
                   "      consistentHash:\n"
                   "        httpCookie: {name: user, ttl: 0s}\n"
                   "  subsets:\n"
                   "  - name: a\n"
                   "    trafficPolicy:\n"
                   "      loadBalancer:\n"
                   "        consistentHash: {httpHeaderName: x-user, ringHash: {minimumRingSize: "
                   "4096}}\n"
                   "  - name: b\n"
                   "    trafficPolicy:\n"
                   "      loadBalancer:\n"
                   "        consistentHash: {useSourceIp: true, maglev: {tableSize: 65537}}\n"
                   "  - name: c\n"
                   "    trafficPolicy:\n"
                   "      loadBalancer:\n"
                   "        consistentHash: {httpQueryParameterName: sid}\n"
                   "  - name: d\n"
                   "    trafficPolicy:\n"
                   "      loadBalancer:\n"
                   "        consistentHash: {httpCookie: {name: sticky}}\n");
    assert_valid(&p);
    const struct weir_destination_rule *dr = p.r->u.dr;
    const struct weir_consistent_hash *h = dr->traffic_policy->load_balancer->consistent_hash;
    ck_assert_int_eq(h->key, WEIR_HASH_KEY_COOKIE);
    ck_assert_str_eq(h->http_cookie.name, "user");
    ck_assert_int_eq(h->http_cookie.ttl_ns, 0); /* lives until the browser closes */
    ck_assert_int_eq(h->algorithm, WEIR_HASH_RING);

    h = dr->subsets[0].traffic_policy->load_balancer->consistent_hash;
    ck_assert_int_eq(h->key, WEIR_HASH_KEY_HEADER);
    ck_assert_str_eq(h->http_header_name, "x-user");
    ck_assert_int_eq(h->minimum_ring_size, 4096);
    ck_assert_uint_eq(dr->subsets[0].labels.len, 0);

    h = dr->subsets[1].traffic_policy->load_balancer->consistent_hash;
    ck_assert_int_eq(h->key, WEIR_HASH_KEY_SOURCE_IP);
    ck_assert_int_eq(h->algorithm, WEIR_HASH_MAGLEV);
    ck_assert_int_eq(h->maglev_table_size, 65537);

    h = dr->subsets[2].traffic_policy->load_balancer->consistent_hash;
    ck_assert_int_eq(h->key, WEIR_HASH_KEY_QUERY_PARAMETER);
    ck_assert_str_eq(h->http_query_parameter_name, "sid");

    h = dr->subsets[3].traffic_policy->load_balancer->consistent_hash;
    ck_assert_int_eq(h->http_cookie.ttl_ns, WEIR_UNSET); /* never generated */
    parsed_free(&p);
}
END_TEST

START_TEST(test_dr_tls_and_ports)
{
    struct parsed p;
    parse_yaml(&p, "apiVersion: networking.istio.io/v1\n"
                   "kind: DestinationRule\n"
                   "metadata: {name: db}\n"
                   "spec:\n"
                   "  host: db.example.com\n"
                   "  trafficPolicy:\n"
                   "    tls:\n"
                   "      mode: MUTUAL\n"
                   "      clientCertificate: /etc/certs/cert.pem\n"
                   "      privateKey: /etc/certs/key.pem\n"
                   "      subjectAltNames: [db.example.com]\n"
                   "      insecureSkipVerify: false\n"
                   "    portLevelSettings:\n"
                   "    - port: {number: 5432}\n"
                   "      tls: {mode: SIMPLE, sni: replica.example.com}\n"
                   "    - port: {number: 9090}\n"
                   "      connectionPool: {tcp: {maxConnections: 5}}\n");
    assert_valid(&p);
    const struct weir_traffic_policy *tp = p.r->u.dr->traffic_policy;
    ck_assert_int_eq(tp->tls->mode, WEIR_TLS_MUTUAL);
    ck_assert_str_eq(tp->tls->client_certificate, "/etc/certs/cert.pem");
    ck_assert_str_eq(tp->tls->private_key, "/etc/certs/key.pem");
    ck_assert_ptr_null(tp->tls->ca_certificates);
    ck_assert_str_eq(tp->tls->subject_alt_names.items[0], "db.example.com");
    ck_assert_int_eq(tp->tls->insecure_skip_verify, WEIR_TRI_FALSE);
    ck_assert_uint_eq(tp->n_port_level_settings, 2);
    ck_assert_int_eq(tp->port_level_settings[0].port, 5432);
    ck_assert_int_eq(tp->port_level_settings[0].tls->mode, WEIR_TLS_SIMPLE);
    ck_assert_str_eq(tp->port_level_settings[0].tls->sni, "replica.example.com");
    ck_assert_ptr_null(tp->port_level_settings[0].connection_pool);
    ck_assert_int_eq(tp->port_level_settings[1].connection_pool->tcp->max_connections, 5);
    ck_assert_ptr_null(tp->port_level_settings[1].connection_pool->http);
    parsed_free(&p);
}
END_TEST

START_TEST(test_dr_errors)
{
    struct parsed p;
    parse_yaml(&p, "apiVersion: networking.istio.io/v1\n"
                   "kind: DestinationRule\n"
                   "metadata: {name: reviews}\n"
                   "spec:\n"
                   "  host: reviews\n"
                   "  trafficPolicy:\n"
                   "    connectionPool: {tcp: {maxConnections: \"100\"}}\n"
                   "    outlierDetection: {maxEjectionPercent: 140}\n"
                   "  subsets:\n"
                   "  - name: v1\n"
                   "  - name: v1\n");
    assert_error(&p, "DestinationRule default/reviews: spec.subsets[1].name: subset name \"v1\" is "
                     "defined twice");
    ck_assert(has_diag(&p, WEIR_SEV_ERROR,
                       "DestinationRule default/reviews: spec.trafficPolicy.connectionPool.tcp."
                       "maxConnections: must be an integer, got string"));
    ck_assert(has_diag(&p, WEIR_SEV_ERROR,
                       "DestinationRule default/reviews: spec.trafficPolicy.outlierDetection."
                       "maxEjectionPercent: must be 0..100, got 140"));
    ck_assert_uint_eq(weir_diags_count(&p.diags, WEIR_SEV_ERROR), 3);
    parsed_free(&p);
}
END_TEST

/* ---- ServiceEntry ---- */

START_TEST(test_se_fields)
{
    struct parsed p;
    const struct weir_service_entry *se;
    parse_yaml(&p, "apiVersion: networking.istio.io/v1\n"
                   "kind: ServiceEntry\n"
                   "metadata: {name: ext}\n"
                   "spec:\n"
                   "  hosts: [api.example.com]\n"
                   "  addresses: [192.0.2.10, 198.51.100.0/24]\n"
                   "  location: MESH_INTERNAL\n"
                   "  resolution: STATIC\n"
                   "  ports:\n"
                   "  - {number: 80, name: http, protocol: http, targetPort: 8080}\n"
                   "  - {number: 443, name: https, protocol: Https}\n"
                   "  - {number: 9000, name: sniffed}\n"
                   "  endpoints:\n"
                   "  - address: 192.0.2.11\n"
                   "    ports: {http: 8081}\n"
                   "    labels: {zone: a}\n"
                   "    weight: 3\n"
                   "    serviceAccount: api\n"
                   "  - address: unix:///var/run/api.sock\n"
                   "  exportTo: [\"~\"]\n"
                   "  subjectAltNames: [\"spiffe://example.com/api\"]\n");
    assert_valid(&p);
    se = p.r->u.se;
    ck_assert_int_eq(se->location, WEIR_SE_MESH_INTERNAL);
    ck_assert_int_eq(se->resolution, WEIR_SE_RESOLUTION_STATIC);
    ck_assert_uint_eq(se->addresses.len, 2);
    ck_assert_uint_eq(se->n_ports, 3);
    ck_assert_int_eq(se->ports[0].protocol, WEIR_PROTO_HTTP);
    ck_assert_int_eq(se->ports[0].target_port, 8080);
    ck_assert_int_eq(se->ports[1].protocol, WEIR_PROTO_HTTPS);
    ck_assert_int_eq(se->ports[1].target_port, 0);
    ck_assert_int_eq(se->ports[2].protocol, WEIR_PROTO_UNSET);
    ck_assert_str_eq(weir_port_protocol_name(se->ports[1].protocol), "HTTPS");
    ck_assert_uint_eq(se->n_endpoints, 2);
    ck_assert_str_eq(se->endpoints[0].address, "192.0.2.11");
    ck_assert_uint_eq(se->endpoints[0].n_ports, 1);
    ck_assert_str_eq(se->endpoints[0].ports[0].name, "http");
    ck_assert_int_eq(se->endpoints[0].ports[0].number, 8081);
    ck_assert_str_eq(weir_string_map_get(&se->endpoints[0].labels, "zone"), "a");
    ck_assert_int_eq(se->endpoints[0].weight, 3);
    ck_assert_str_eq(se->endpoints[0].service_account, "api");
    ck_assert_str_eq(se->endpoints[1].address, "unix:///var/run/api.sock");
    ck_assert_str_eq(se->export_to.items[0], "~");
    ck_assert_str_eq(se->subject_alt_names.items[0], "spiffe://example.com/api");
    ck_assert(!se->has_workload_selector);
    parsed_free(&p);
}
END_TEST

START_TEST(test_se_defaults_and_errors)
{
    struct parsed p;
    parse_yaml(&p, "apiVersion: networking.istio.io/v1\n"
                   "kind: ServiceEntry\n"
                   "metadata: {name: ext}\n"
                   "spec:\n"
                   "  hosts: [httpbin.org]\n"
                   "  ports: [{number: 80, name: http, protocol: HTTP}]\n");
    assert_valid(&p);
    ck_assert_int_eq(p.r->u.se->location, WEIR_SE_MESH_EXTERNAL);
    ck_assert_int_eq(p.r->u.se->resolution, WEIR_SE_RESOLUTION_NONE);
    ck_assert_uint_eq(p.diags.len, 0);
    parsed_free(&p);

    parse_yaml(&p, "apiVersion: networking.istio.io/v1\n"
                   "kind: ServiceEntry\n"
                   "metadata: {name: ext}\n"
                   "spec:\n"
                   "  hosts: [api.example.com]\n"
                   "  resolution: DNS\n"
                   "  ports: [{number: \"443\", name: https, protocol: HTTPS}]\n"
                   "  endpoints:\n"
                   "  - address: \"*.example.com\"\n"
                   "    weight: -1\n");
    assert_error(&p, "ServiceEntry default/ext: spec.ports[0].number: must be an integer, got "
                     "string");
    ck_assert(has_diag(&p, WEIR_SEV_ERROR,
                       "ServiceEntry default/ext: spec.endpoints[0].address: must be an IP "
                       "address or a host name, got \"*.example.com\""));
    ck_assert(has_diag(&p, WEIR_SEV_ERROR,
                       "ServiceEntry default/ext: spec.endpoints[0].weight: must be "
                       "0..4294967295, got -1"));
    parsed_free(&p);
}
END_TEST

/* ---- host and gateway rules ---- */

START_TEST(test_host_covers)
{
    ck_assert(weir_net_host_covers("*", "a.example.com"));
    ck_assert(weir_net_host_covers("*.example.com", "a.example.com"));
    ck_assert(weir_net_host_covers("*.example.com", "*.a.example.com"));
    ck_assert(weir_net_host_covers("*.example.com", "*.example.com"));
    ck_assert(weir_net_host_covers("A.example.com", "a.EXAMPLE.com"));
    ck_assert(!weir_net_host_covers("*.example.com", "example.com"));
    ck_assert(!weir_net_host_covers("*.example.com", "a.example.org"));
    ck_assert(!weir_net_host_covers("a.example.com", "*.example.com"));
    ck_assert(!weir_net_host_covers("*.example.com", "*"));
    ck_assert(!weir_net_host_covers("*.b.example.com", "xb.example.com"));
}
END_TEST

START_TEST(test_gateway_names)
{
    ck_assert_ptr_null(weir_net_valid_gateway_name("mesh"));
    ck_assert_ptr_null(weir_net_valid_gateway_name("bookinfo-gateway"));
    ck_assert_ptr_null(weir_net_valid_gateway_name("istio-system/ingress"));
    ck_assert_ptr_null(weir_net_valid_gateway_name("ingress.istio-system.svc.cluster.local"));
    ck_assert_ptr_nonnull(weir_net_valid_gateway_name("/ingress"));
    ck_assert_ptr_nonnull(weir_net_valid_gateway_name("Istio-System/ingress"));
    ck_assert_ptr_nonnull(weir_net_valid_gateway_name("ns/"));
    ck_assert_ptr_nonnull(weir_net_valid_gateway_name("a_b"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("networking");
    TCase *vs = tcase_create("virtual_service");
    TCase *dr = tcase_create("destination_rule");
    TCase *se = tcase_create("service_entry");
    TCase *rules = tcase_create("rules");

    tcase_add_test(vs, test_vs_weights);
    tcase_add_test(vs, test_vs_weights_sum);
    tcase_add_test(vs, test_vs_retries_timeout);
    tcase_add_test(vs, test_vs_faults);
    tcase_add_test(vs, test_vs_matches);
    tcase_add_test(vs, test_vs_redirect_direct_response);
    tcase_add_test(vs, test_vs_mirror_cors_headers_rewrite);
    tcase_add_test(vs, test_vs_l4_routes);
    tcase_add_test(vs, test_vs_gateways_and_delegates);
    tcase_add_test(vs, test_vs_wrong_types);
    tcase_add_test(vs, test_vs_from_json);
    tcase_add_test(dr, test_dr_subsets_and_pool);
    tcase_add_test(dr, test_dr_consistent_hash);
    tcase_add_test(dr, test_dr_tls_and_ports);
    tcase_add_test(dr, test_dr_errors);
    tcase_add_test(se, test_se_fields);
    tcase_add_test(se, test_se_defaults_and_errors);
    tcase_add_test(rules, test_host_covers);
    tcase_add_test(rules, test_gateway_names);
    suite_add_tcase(s, vs);
    suite_add_tcase(s, dr);
    suite_add_tcase(s, se);
    suite_add_tcase(s, rules);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
