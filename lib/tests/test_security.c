/* The security.istio.io model: the values parsed into the structs the
 * translation and the authorization engine consume, and the diagnostics for
 * malformed input. Accept/reject coverage of whole manifests lives in
 * manifests/{authorizationpolicy,peerauthentication,requestauthentication}. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "model/authorization_policy.h"
#include "model/mesh.h"
#include "model/peer_authentication.h"
#include "model/request_authentication.h"
#include "yaml/yaml_json.h"

struct result {
    int rc;
    struct weir_resource *r;
    struct weir_diags d;
    struct weir_yaml_stream s;
};

static void run(const char *yaml, struct result *res)
{
    weir_diags_init(&res->d);
    ck_assert_int_eq(weir_yaml_parse(yaml, strlen(yaml), "t.yaml", NULL, &res->s, &res->d), 0);
    ck_assert_uint_eq(res->s.ndocs, 1);
    res->rc =
        weir_mesh_parse(res->s.docs[0].root, &res->s, res->s.docs[0].line, NULL, &res->r, &res->d);
}

static void done(struct result *res)
{
    weir_resource_free(res->r);
    weir_diags_free(&res->d);
    weir_yaml_stream_free(&res->s);
}

static bool has(const struct result *res, enum weir_severity sev, const char *text)
{
    bool found = false;
    for (size_t i = 0; i < res->d.len && !found; i++) {
        char *s = weir_diag_format(&res->d.items[i]);
        found = res->d.items[i].severity == sev && strcmp(s, text) == 0;
        free(s);
    }
    return found;
}

/* Fails with every diagnostic listed, which is what one wants to read when a
 * valid object is unexpectedly refused. */
static void assert_valid(const struct result *res)
{
    if (res->rc == 0)
        return;
    for (size_t i = 0; i < res->d.len; i++) {
        char *s = weir_diag_format(&res->d.items[i]);
        fprintf(stderr, "  %s\n", s);
        free(s);
    }
    ck_abort_msg("expected a valid object, got rc %d", res->rc);
}

static void assert_has(const struct result *res, enum weir_severity sev, const char *text)
{
    ck_assert_msg(has(res, sev, text), "missing %s: %s", weir_severity_name(sev), text);
}

#define AP_HEADER                        \
    "apiVersion: security.istio.io/v1\n" \
    "kind: AuthorizationPolicy\n"        \
    "metadata: {name: httpbin, namespace: foo}\n"
#define PA_HEADER                        \
    "apiVersion: security.istio.io/v1\n" \
    "kind: PeerAuthentication\n"         \
    "metadata: {name: finance, namespace: foo}\n"
#define RA_HEADER                        \
    "apiVersion: security.istio.io/v1\n" \
    "kind: RequestAuthentication\n"      \
    "metadata: {name: jwt, namespace: foo}\n"

/* ---- AuthorizationPolicy ---- */

START_TEST(test_ap_reference_example)
{
    struct result res;
    run(AP_HEADER "spec:\n"
                  "  action: ALLOW\n"
                  "  rules:\n"
                  "  - from:\n"
                  "    - source: {principals: [\"cluster.local/ns/default/sa/sleep\"]}\n"
                  "    - source: {namespaces: [\"test\"]}\n"
                  "    to:\n"
                  "    - operation: {methods: [\"GET\"], paths: [\"/info*\"]}\n"
                  "    - operation: {methods: [\"POST\"], paths: [\"/data\"]}\n"
                  "    when:\n"
                  "    - key: request.auth.claims[iss]\n"
                  "      values: [\"https://accounts.google.com\"]\n",
        &res);
    assert_valid(&res);
    ck_assert_uint_eq(res.d.len, 0);
    const struct weir_authorization_policy *ap = res.r->u.ap;
    ck_assert_int_eq(ap->action, WEIR_AUTHZ_ALLOW);
    ck_assert_uint_eq(ap->nrules, 1);
    const struct weir_authz_rule *rule = &ap->rules[0];
    ck_assert_uint_eq(rule->nfrom, 2);
    ck_assert_uint_eq(rule->from[0].principals.len, 1);
    ck_assert_int_eq(rule->from[0].principals.items[0].kind, WEIR_AUTHZ_MATCH_EXACT);
    ck_assert_str_eq(rule->from[0].principals.items[0].value, "cluster.local/ns/default/sa/sleep");
    ck_assert_uint_eq(rule->from[0].namespaces.len, 0);
    ck_assert_str_eq(rule->from[1].namespaces.items[0].value, "test");
    ck_assert_uint_eq(rule->nto, 2);
    ck_assert_str_eq(rule->to[0].methods.items[0].value, "GET");
    ck_assert_int_eq(rule->to[0].paths.items[0].kind, WEIR_AUTHZ_MATCH_PREFIX);
    ck_assert_str_eq(rule->to[0].paths.items[0].value, "/info");
    ck_assert_int_eq(rule->to[1].paths.items[0].kind, WEIR_AUTHZ_MATCH_EXACT);
    ck_assert_str_eq(rule->to[1].paths.items[0].value, "/data");
    ck_assert_uint_eq(rule->nwhen, 1);
    const struct weir_authz_condition *cond = &rule->when[0];
    ck_assert_int_eq(cond->key, WEIR_AUTHZ_KEY_REQUEST_CLAIM);
    ck_assert_str_eq(cond->key_text, "request.auth.claims[iss]");
    ck_assert_uint_eq(cond->claim.len, 1);
    ck_assert_str_eq(cond->claim.items[0], "iss");
    ck_assert_uint_eq(cond->values.len, 1);
    ck_assert_str_eq(cond->values.items[0].value, "https://accounts.google.com");
    ck_assert_uint_eq(cond->not_values.len, 0);
    done(&res);
}
END_TEST

START_TEST(test_ap_allow_nothing)
{
    /* spec: {} and no spec at all are the documented allow-nothing policy. */
    const char *docs[] = {AP_HEADER "spec: {}\n", AP_HEADER};
    for (size_t i = 0; i < 2; i++) {
        struct result res;
        run(docs[i], &res);
        assert_valid(&res);
        ck_assert_uint_eq(res.d.len, 0);
        ck_assert_int_eq(res.r->kind, WEIR_KIND_AUTHORIZATION_POLICY);
        ck_assert_int_eq(res.r->u.ap->action, WEIR_AUTHZ_ALLOW);
        ck_assert_uint_eq(res.r->u.ap->nrules, 0);
        ck_assert_uint_eq(res.r->u.ap->selector.len, 0);
        done(&res);
    }
}
END_TEST

START_TEST(test_ap_allow_all)
{
    struct result res;
    run(AP_HEADER "spec:\n  rules:\n  - {}\n", &res);
    assert_valid(&res);
    ck_assert_uint_eq(res.r->u.ap->nrules, 1);
    ck_assert_uint_eq(res.r->u.ap->rules[0].nfrom, 0);
    ck_assert_uint_eq(res.r->u.ap->rules[0].nto, 0);
    ck_assert_uint_eq(res.r->u.ap->rules[0].nwhen, 0);
    done(&res);
}
END_TEST

START_TEST(test_ap_deny_with_ports)
{
    struct result res;
    run(AP_HEADER "spec:\n"
                  "  selector: {matchLabels: {app: httpbin, version: v1}}\n"
                  "  action: DENY\n"
                  "  rules:\n"
                  "  - to:\n"
                  "    - operation: {methods: [POST], ports: [\"8080\", \"9000\"],"
                  " notPorts: [\"15021\"]}\n",
        &res);
    assert_valid(&res);
    ck_assert_uint_eq(res.d.len, 0);
    const struct weir_authorization_policy *ap = res.r->u.ap;
    ck_assert_int_eq(ap->action, WEIR_AUTHZ_DENY);
    ck_assert_str_eq(weir_authz_action_name(ap->action), "DENY");
    ck_assert_str_eq(weir_string_map_get(&ap->selector, "app"), "httpbin");
    ck_assert_str_eq(weir_string_map_get(&ap->selector, "version"), "v1");
    const struct weir_authz_operation *op = &ap->rules[0].to[0];
    ck_assert_uint_eq(op->ports.len, 2);
    ck_assert_uint_eq(op->ports.items[0], 8080);
    ck_assert_uint_eq(op->ports.items[1], 9000);
    ck_assert_uint_eq(op->not_ports.len, 1);
    ck_assert_uint_eq(op->not_ports.items[0], 15021);
    done(&res);
}
END_TEST

START_TEST(test_ap_deny_http_only_warns)
{
    struct result res;
    run(AP_HEADER "spec:\n"
                  "  action: DENY\n"
                  "  rules:\n"
                  "  - from: [{source: {requestPrincipals: [\"*\"]}}]\n"
                  "  - from: [{source: {namespaces: [dev]}}]\n"
                  "  - to: [{operation: {paths: [/admin]}}]\n",
        &res);
    assert_valid(&res);
    ck_assert_uint_eq(weir_diags_count(&res.d, WEIR_SEV_WARNING), 2);
#define HTTP_ONLY_WARNING(i)                                                                      \
    "AuthorizationPolicy foo/httpbin: spec.rules[" #i "]: a DENY rule with only HTTP attributes " \
    "also denies all TCP traffic in its scope; set ports to limit it"
    assert_has(&res, WEIR_SEV_WARNING, HTTP_ONLY_WARNING(0));
    assert_has(&res, WEIR_SEV_WARNING, HTTP_ONLY_WARNING(2));
#undef HTTP_ONLY_WARNING
    done(&res);
}
END_TEST

START_TEST(test_ap_match_kinds)
{
    struct result res;
    run(AP_HEADER "spec:\n"
                  "  rules:\n"
                  "  - from:\n"
                  "    - source:\n"
                  "        principals: [\"*\", \"*/sa/sleep\", \"cluster.local/*\", exact]\n"
                  "    to:\n"
                  "    - operation:\n"
                  "        hosts: [\"*.example.com\"]\n"
                  "        paths: [\"/api/{*}/items/{**}\", \"*.png\"]\n",
        &res);
    assert_valid(&res);
    const struct weir_authz_matches *p = &res.r->u.ap->rules[0].from[0].principals;
    ck_assert_uint_eq(p->len, 4);
    ck_assert_int_eq(p->items[0].kind, WEIR_AUTHZ_MATCH_PRESENCE);
    ck_assert_str_eq(p->items[0].value, "");
    ck_assert_int_eq(p->items[1].kind, WEIR_AUTHZ_MATCH_SUFFIX);
    ck_assert_str_eq(p->items[1].value, "/sa/sleep");
    ck_assert_int_eq(p->items[2].kind, WEIR_AUTHZ_MATCH_PREFIX);
    ck_assert_str_eq(p->items[2].value, "cluster.local/");
    ck_assert_int_eq(p->items[3].kind, WEIR_AUTHZ_MATCH_EXACT);
    const struct weir_authz_operation *op = &res.r->u.ap->rules[0].to[0];
    ck_assert_int_eq(op->hosts.items[0].kind, WEIR_AUTHZ_MATCH_SUFFIX);
    ck_assert_str_eq(op->hosts.items[0].value, ".example.com");
    ck_assert_int_eq(op->paths.items[0].kind, WEIR_AUTHZ_MATCH_TEMPLATE);
    ck_assert_str_eq(op->paths.items[0].value, "/api/{*}/items/{**}");
    ck_assert_int_eq(op->paths.items[1].kind, WEIR_AUTHZ_MATCH_SUFFIX);
    ck_assert_str_eq(op->paths.items[1].value, ".png");
    done(&res);
}
END_TEST

START_TEST(test_ap_ip_blocks)
{
    struct result res;
    run(AP_HEADER "spec:\n"
                  "  rules:\n"
                  "  - from:\n"
                  "    - source:\n"
                  "        ipBlocks: [\"10.1.0.0/16\", \"1.2.3.4\"]\n"
                  "        notRemoteIpBlocks: [\"2001:db8::/32\", \"::1\"]\n",
        &res);
    assert_valid(&res);
    const struct weir_authz_source *src = &res.r->u.ap->rules[0].from[0];
    ck_assert_uint_eq(src->ip_blocks.len, 2);
    ck_assert_str_eq(src->ip_blocks.items[0].text, "10.1.0.0/16");
    ck_assert_uint_eq(src->ip_blocks.items[0].version, 4);
    ck_assert_uint_eq(src->ip_blocks.items[0].prefix_len, 16);
    ck_assert_uint_eq(src->ip_blocks.items[0].addr[0], 10);
    ck_assert_uint_eq(src->ip_blocks.items[0].addr[1], 1);
    ck_assert_uint_eq(src->ip_blocks.items[1].prefix_len, 32);
    ck_assert_uint_eq(src->ip_blocks.items[1].addr[3], 4);
    ck_assert_uint_eq(src->not_remote_ip_blocks.len, 2);
    ck_assert_uint_eq(src->not_remote_ip_blocks.items[0].version, 6);
    ck_assert_uint_eq(src->not_remote_ip_blocks.items[0].prefix_len, 32);
    ck_assert_uint_eq(src->not_remote_ip_blocks.items[0].addr[0], 0x20);
    ck_assert_uint_eq(src->not_remote_ip_blocks.items[0].addr[1], 0x01);
    ck_assert_uint_eq(src->not_remote_ip_blocks.items[1].prefix_len, 128);
    ck_assert_uint_eq(src->not_remote_ip_blocks.items[1].addr[15], 1);
    done(&res);
}
END_TEST

START_TEST(test_ap_condition_values_typed)
{
    struct result res;
    run(AP_HEADER "spec:\n"
                  "  rules:\n"
                  "  - when:\n"
                  "    - {key: \"request.headers[X-Token]\", notValues: [admin]}\n"
                  "    - {key: source.ip, values: [\"10.0.0.0/8\"]}\n"
                  "    - {key: destination.port, values: [\"443\"], notValues: [\"80\"]}\n"
                  "    - {key: \"request.auth.claims[nested1][nested2]\", values: [\"g*\"]}\n"
                  "    - {key: \"request.headers[:authority]\", values: [\"*.example.com\"]}\n"
                  "    - {key: connection.sni, values: [www.example.com]}\n",
        &res);
    assert_valid(&res);
    const struct weir_authz_rule *rule = &res.r->u.ap->rules[0];
    ck_assert_uint_eq(rule->nwhen, 6);

    ck_assert_int_eq(rule->when[0].key, WEIR_AUTHZ_KEY_REQUEST_HEADER);
    ck_assert_str_eq(rule->when[0].header, "X-Token");
    ck_assert_uint_eq(rule->when[0].values.len, 0);
    ck_assert_str_eq(rule->when[0].not_values.items[0].value, "admin");

    ck_assert_int_eq(rule->when[1].key, WEIR_AUTHZ_KEY_SOURCE_IP);
    ck_assert_int_eq(weir_authz_key_value_type(rule->when[1].key), WEIR_AUTHZ_VALUES_IP);
    ck_assert_uint_eq(rule->when[1].values.len, 0);
    ck_assert_uint_eq(rule->when[1].ip_values.len, 1);
    ck_assert_uint_eq(rule->when[1].ip_values.items[0].prefix_len, 8);

    ck_assert_int_eq(rule->when[2].key, WEIR_AUTHZ_KEY_DESTINATION_PORT);
    ck_assert_int_eq(weir_authz_key_value_type(rule->when[2].key), WEIR_AUTHZ_VALUES_PORT);
    ck_assert_uint_eq(rule->when[2].port_values.items[0], 443);
    ck_assert_uint_eq(rule->when[2].not_port_values.items[0], 80);

    ck_assert_int_eq(rule->when[3].key, WEIR_AUTHZ_KEY_REQUEST_CLAIM);
    ck_assert_uint_eq(rule->when[3].claim.len, 2);
    ck_assert_str_eq(rule->when[3].claim.items[0], "nested1");
    ck_assert_str_eq(rule->when[3].claim.items[1], "nested2");
    ck_assert_int_eq(rule->when[3].values.items[0].kind, WEIR_AUTHZ_MATCH_PREFIX);
    ck_assert_str_eq(rule->when[3].values.items[0].value, "g");

    ck_assert_str_eq(rule->when[4].header, ":authority");
    ck_assert_int_eq(rule->when[5].key, WEIR_AUTHZ_KEY_CONNECTION_SNI);
    done(&res);
}
END_TEST

START_TEST(test_ap_service_accounts)
{
    struct result res;
    run(AP_HEADER "spec:\n"
                  "  rules:\n"
                  "  - from:\n"
                  "    - source: {serviceAccounts: [frontend/web, batch/report-builder]}\n"
                  "    when:\n"
                  "    - {key: source.serviceAccount, notValues: [apps/untrusted]}\n",
        &res);
    assert_valid(&res);
    const struct weir_authz_rule *rule = &res.r->u.ap->rules[0];
    const struct weir_service_accounts *sa = &rule->from[0].service_accounts;
    ck_assert_uint_eq(sa->len, 2);
    ck_assert_str_eq(sa->items[0].namespace_, "frontend");
    ck_assert_str_eq(sa->items[0].name, "web");
    ck_assert_str_eq(sa->items[1].name, "report-builder");
    ck_assert_int_eq(rule->when[0].key, WEIR_AUTHZ_KEY_SOURCE_SERVICE_ACCOUNT);
    ck_assert_int_eq(weir_authz_key_value_type(rule->when[0].key),
                     WEIR_AUTHZ_VALUES_SERVICE_ACCOUNT);
    ck_assert_uint_eq(rule->when[0].not_sa_values.len, 1);
    ck_assert_str_eq(rule->when[0].not_sa_values.items[0].namespace_, "apps");
    ck_assert_str_eq(rule->when[0].not_sa_values.items[0].name, "untrusted");
    done(&res);
}
END_TEST

START_TEST(test_ap_custom_is_unsupported_but_valid)
{
    struct result res;
    run(AP_HEADER "spec:\n"
                  "  action: CUSTOM\n"
                  "  provider: {name: my-authz}\n"
                  "  rules: [{to: [{operation: {paths: [\"/admin/*\"]}}]}]\n",
        &res);
    assert_valid(&res);
    ck_assert_int_eq(res.r->u.ap->action, WEIR_AUTHZ_CUSTOM);
    ck_assert_str_eq(res.r->u.ap->provider, "my-authz");
    ck_assert_uint_eq(weir_diags_count(&res.d, WEIR_SEV_UNSUPPORTED), 2);
    assert_has(&res, WEIR_SEV_UNSUPPORTED,
               "AuthorizationPolicy foo/httpbin: spec.action: action CUSTOM (external "
               "authorization) is not supported by Weir yet");
    assert_has(
        &res, WEIR_SEV_UNSUPPORTED,
        "AuthorizationPolicy foo/httpbin: spec.provider: field is not supported by Weir yet");
    done(&res);
}
END_TEST

START_TEST(test_ap_audit_and_experimental_unsupported)
{
    struct result res;
    run(AP_HEADER "spec:\n"
                  "  action: AUDIT\n"
                  "  rules:\n"
                  "  - when:\n"
                  "    - key: experimental.envoy.filters.network.mysql_proxy[db.table]\n"
                  "      values: [\"[update]\"]\n",
        &res);
    assert_valid(&res);
    ck_assert_int_eq(res.r->u.ap->action, WEIR_AUTHZ_AUDIT);
    ck_assert_int_eq(res.r->u.ap->rules[0].when[0].key, WEIR_AUTHZ_KEY_EXPERIMENTAL);
    ck_assert_uint_eq(weir_diags_count(&res.d, WEIR_SEV_UNSUPPORTED), 2);
    assert_has(&res, WEIR_SEV_UNSUPPORTED,
               "AuthorizationPolicy foo/httpbin: spec.rules[0].when[0].key: condition key "
               "experimental.envoy.filters.* is not supported by Weir yet");
    done(&res);
}
END_TEST

START_TEST(test_ap_target_refs)
{
    struct result res;
    run(AP_HEADER "spec:\n"
                  "  targetRefs:\n"
                  "  - {kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}\n"
                  "  - {kind: Service, name: reviews}\n"
                  "  rules: [{}]\n",
        &res);
    assert_valid(&res);
    const struct weir_policy_target_refs *t = &res.r->u.ap->targets;
    ck_assert_uint_eq(t->len, 2);
    ck_assert_str_eq(t->items[0].kind, "Gateway");
    ck_assert_str_eq(t->items[0].group, "gateway.networking.k8s.io");
    ck_assert_str_eq(t->items[0].name, "waypoint");
    ck_assert_ptr_null(t->items[0].namespace_);
    ck_assert_str_eq(t->items[1].group, "");
    ck_assert_uint_eq(weir_diags_count(&res.d, WEIR_SEV_UNSUPPORTED), 1);
    done(&res);
}
END_TEST

START_TEST(test_ap_bad_port_message)
{
    struct result res;
    run(AP_HEADER "spec:\n"
                  "  rules:\n"
                  "  - to:\n"
                  "    - operation: {ports: [\"8080\", \"http\"]}\n",
        &res);
    ck_assert_int_eq(res.rc, -1);
    ck_assert_ptr_null(res.r);
    ck_assert_uint_eq(res.d.len, 1);
    assert_has(&res, WEIR_SEV_ERROR,
               "AuthorizationPolicy foo/httpbin: spec.rules[0].to[0].operation.ports[1]: must be "
               "a port number 1..65535, got \"http\"");
    ck_assert_int_eq(res.d.items[0].line, 7);
    done(&res);
}
END_TEST

START_TEST(test_ap_malformed_types)
{
    struct result res;
    run(AP_HEADER "spec:\n"
                  "  action: 5\n"
                  "  selector: [app]\n"
                  "  rules:\n"
                  "  - 42\n"
                  "  - from: {source: {}}\n"
                  "    to: [{operation: {methods: GET}}]\n"
                  "    when: [{key: [source.ip], values: [1]}]\n",
        &res);
    ck_assert_int_eq(res.rc, -1);
    const char *want[] = {
        "AuthorizationPolicy foo/httpbin: spec.action: must be a string, got integer",
        "AuthorizationPolicy foo/httpbin: spec.selector: must be an object, got array",
        "AuthorizationPolicy foo/httpbin: spec.rules[0]: must be an object, got integer",
        "AuthorizationPolicy foo/httpbin: spec.rules[1].from: must be an array, got object",
        "AuthorizationPolicy foo/httpbin: spec.rules[1].to[0].operation.methods: must be an "
        "array, got string",
        "AuthorizationPolicy foo/httpbin: spec.rules[1].to[0].operation: must not be empty",
        "AuthorizationPolicy foo/httpbin: spec.rules[1].when[0].key: must be a string, got array",
        "AuthorizationPolicy foo/httpbin: spec.rules[1].when[0].values[0]: must be a string, got "
        "integer",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_has(&res, WEIR_SEV_ERROR, want[i]);
    ck_assert_uint_eq(weir_diags_count(&res.d, WEIR_SEV_ERROR), sizeof(want) / sizeof(want[0]));
    done(&res);
}
END_TEST

START_TEST(test_ap_rule_level_errors)
{
    struct result res;
    run(AP_HEADER "spec:\n"
                  "  action: DENY\n"
                  "  provider: {name: x}\n"
                  "  rules: []\n",
        &res);
    ck_assert_int_eq(res.rc, -1);
    assert_has(&res, WEIR_SEV_ERROR,
               "AuthorizationPolicy foo/httpbin: spec.provider: only allowed with action CUSTOM, "
               "got action DENY");
    assert_has(&res, WEIR_SEV_ERROR,
               "AuthorizationPolicy foo/httpbin: spec.rules: a DENY policy without rules never "
               "matches; add an empty rule {} to match every request");
    ck_assert_uint_eq(weir_diags_count(&res.d, WEIR_SEV_ERROR), 2);
    done(&res);
}
END_TEST

START_TEST(test_port_text)
{
    uint16_t p = 0;
    ck_assert_int_eq(weir_parse_port_text("1", &p), 0);
    ck_assert_uint_eq(p, 1);
    ck_assert_int_eq(weir_parse_port_text("65535", &p), 0);
    ck_assert_uint_eq(p, 65535);
    ck_assert_int_eq(weir_parse_port_text("0", &p), -1);
    ck_assert_int_eq(weir_parse_port_text("65536", &p), -1);
    ck_assert_int_eq(weir_parse_port_text("080", &p), -1);
    ck_assert_int_eq(weir_parse_port_text("", &p), -1);
    ck_assert_int_eq(weir_parse_port_text("80 ", &p), -1);
    ck_assert_int_eq(weir_parse_port_text("-80", &p), -1);
    ck_assert_int_eq(weir_parse_port_text("99999999999", &p), -1);
}
END_TEST

/* ---- PeerAuthentication ---- */

START_TEST(test_pa_port_level_sorted)
{
    struct result res;
    run(PA_HEADER "spec:\n"
                  "  selector: {matchLabels: {app: finance}}\n"
                  "  mtls: {mode: STRICT}\n"
                  "  portLevelMtls:\n"
                  "    9090: {mode: PERMISSIVE}\n"
                  "    8080: {mode: DISABLE}\n"
                  "    \"15000\": {}\n",
        &res);
    assert_valid(&res);
    ck_assert_uint_eq(res.d.len, 0);
    const struct weir_peer_authentication *pa = res.r->u.pa;
    ck_assert_int_eq(pa->mode, WEIR_MTLS_STRICT);
    ck_assert_str_eq(weir_mtls_mode_name(pa->mode), "STRICT");
    ck_assert_str_eq(weir_string_map_get(&pa->selector, "app"), "finance");
    ck_assert_uint_eq(pa->nport_level, 3);
    ck_assert_uint_eq(pa->port_level[0].port, 8080);
    ck_assert_int_eq(pa->port_level[0].mode, WEIR_MTLS_DISABLE);
    ck_assert_uint_eq(pa->port_level[1].port, 9090);
    ck_assert_int_eq(pa->port_level[1].mode, WEIR_MTLS_PERMISSIVE);
    ck_assert_uint_eq(pa->port_level[2].port, 15000);
    ck_assert_int_eq(pa->port_level[2].mode, WEIR_MTLS_UNSET);
    done(&res);
}
END_TEST

START_TEST(test_pa_defaults)
{
    struct result res;
    run(PA_HEADER "spec: {}\n", &res);
    assert_valid(&res);
    ck_assert_int_eq(res.r->u.pa->mode, WEIR_MTLS_UNSET);
    ck_assert_uint_eq(res.r->u.pa->nport_level, 0);
    ck_assert_ptr_null(res.r->u.pa->port_level);
    done(&res);
}
END_TEST

START_TEST(test_pa_errors)
{
    struct result res;
    run(PA_HEADER "spec:\n"
                  "  mtls: {mode: strict}\n"
                  "  portLevelMtls:\n"
                  "    http: {mode: DISABLE}\n"
                  "    8080: DISABLE\n",
        &res);
    ck_assert_int_eq(res.rc, -1);
    const char *want[] = {
        "PeerAuthentication foo/finance: spec.mtls.mode: must be one of UNSET, DISABLE, "
        "PERMISSIVE, STRICT, got \"strict\"",
        "PeerAuthentication foo/finance: spec.portLevelMtls: requires a workload selector",
        "PeerAuthentication foo/finance: spec.portLevelMtls.http: must be a port number "
        "1..65535, got \"http\"",
        "PeerAuthentication foo/finance: spec.portLevelMtls.8080: must be an object, got string",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_has(&res, WEIR_SEV_ERROR, want[i]);
    ck_assert_uint_eq(res.d.len, sizeof(want) / sizeof(want[0]));
    done(&res);
}
END_TEST

/* ---- RequestAuthentication ---- */

START_TEST(test_ra_rules)
{
    struct result res;
    run(RA_HEADER "spec:\n"
                  "  selector: {matchLabels: {app: httpbin}}\n"
                  "  jwtRules:\n"
                  "  - issuer: testing@secure.istio.io\n"
                  "    jwksUri: https://raw.githubusercontent.com/istio/jwks.json\n"
                  "  - issuer: https://accounts.google.com\n"
                  "    audiences: [a.example.com, b.example.com]\n"
                  "    jwksUri: \"http://keys.internal:8080/certs?kid=1\"\n"
                  "    fromHeaders:\n"
                  "    - name: x-jwt-assertion\n"
                  "    - {name: Authorization, prefix: \"Bearer \"}\n"
                  "    fromParams: [my_token]\n"
                  "    fromCookies: [sid]\n"
                  "    outputPayloadToHeader: x-jwt-payload\n"
                  "    outputClaimToHeaders:\n"
                  "    - {header: x-group, claim: nested.key.group}\n"
                  "    forwardOriginalToken: true\n"
                  "    timeout: 1.5s\n",
        &res);
    assert_valid(&res);
    ck_assert_uint_eq(weir_diags_count(&res.d, WEIR_SEV_WARNING), 1); /* plain http:// */
    const struct weir_request_authentication *ra = res.r->u.ra;
    ck_assert_str_eq(weir_string_map_get(&ra->selector, "app"), "httpbin");
    ck_assert_uint_eq(ra->njwt_rules, 2);

    const struct weir_jwt_rule *a = &ra->jwt_rules[0];
    ck_assert_str_eq(a->issuer, "testing@secure.istio.io");
    ck_assert(a->jwks_uri.tls);
    ck_assert_str_eq(a->jwks_uri.host, "raw.githubusercontent.com");
    ck_assert_uint_eq(a->jwks_uri.port, 443);
    ck_assert_str_eq(a->jwks_uri.path, "/istio/jwks.json");
    ck_assert_uint_eq(a->nfrom_headers, 0);
    ck_assert(!a->forward_original_token);
    ck_assert_int_eq(a->timeout_ns, 0);
    ck_assert_ptr_null(a->jwks);

    const struct weir_jwt_rule *b = &ra->jwt_rules[1];
    ck_assert_str_eq(b->issuer, "https://accounts.google.com");
    ck_assert_uint_eq(b->audiences.len, 2);
    ck_assert_str_eq(b->audiences.items[1], "b.example.com");
    ck_assert(!b->jwks_uri.tls);
    ck_assert_str_eq(b->jwks_uri.text, "http://keys.internal:8080/certs?kid=1");
    ck_assert_str_eq(b->jwks_uri.host, "keys.internal");
    ck_assert_uint_eq(b->jwks_uri.port, 8080);
    ck_assert_str_eq(b->jwks_uri.path, "/certs?kid=1");
    ck_assert_uint_eq(b->nfrom_headers, 2);
    ck_assert_str_eq(b->from_headers[0].name, "x-jwt-assertion");
    ck_assert_str_eq(b->from_headers[0].prefix, "");
    ck_assert_str_eq(b->from_headers[1].name, "Authorization");
    ck_assert_str_eq(b->from_headers[1].prefix, "Bearer ");
    ck_assert_str_eq(b->from_params.items[0], "my_token");
    ck_assert_str_eq(b->from_cookies.items[0], "sid");
    ck_assert_str_eq(b->output_payload_to_header, "x-jwt-payload");
    ck_assert_uint_eq(b->noutput_claim_to_headers, 1);
    ck_assert_str_eq(b->output_claim_to_headers[0].header, "x-group");
    ck_assert_str_eq(b->output_claim_to_headers[0].claim, "nested.key.group");
    ck_assert(b->forward_original_token);
    ck_assert_int_eq(b->timeout_ns, 1500000000);
    done(&res);
}
END_TEST

START_TEST(test_ra_jwks_uri_forms)
{
    struct result res;
    run(RA_HEADER "spec:\n"
                  "  jwtRules:\n"
                  "  - {issuer: a, jwksUri: \"https://example.com\"}\n"
                  "  - {issuer: b, jwksUri: \"https://[2001:db8::10]:8443/keys\"}\n"
                  "  - {issuer: c, jwksUri: \"HTTPS://Example.COM?x=1\"}\n",
        &res);
    assert_valid(&res);
    const struct weir_jwt_rule *r = res.r->u.ra->jwt_rules;
    ck_assert_str_eq(r[0].jwks_uri.host, "example.com");
    ck_assert_uint_eq(r[0].jwks_uri.port, 443);
    ck_assert_str_eq(r[0].jwks_uri.path, "/");
    ck_assert_str_eq(r[1].jwks_uri.host, "2001:db8::10");
    ck_assert_uint_eq(r[1].jwks_uri.port, 8443);
    ck_assert_str_eq(r[1].jwks_uri.path, "/keys");
    ck_assert(r[2].jwks_uri.tls);
    ck_assert_str_eq(r[2].jwks_uri.host, "Example.COM");
    ck_assert_str_eq(r[2].jwks_uri.path, "/?x=1");
    done(&res);
}
END_TEST

START_TEST(test_ra_inline_jwks)
{
    struct result res;
    run(RA_HEADER "spec:\n"
                  "  jwtRules:\n"
                  "  - issuer: internal\n"
                  "    jwks: '{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-256\", \"x\": \"AA\","
                  " \"y\": \"AA\"}]}'\n",
        &res);
    assert_valid(&res);
    ck_assert_str_eq(res.r->u.ra->jwt_rules[0].jwks,
                     "{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-256\", \"x\": \"AA\", \"y\": "
                     "\"AA\"}]}");
    ck_assert_ptr_null(res.r->u.ra->jwt_rules[0].jwks_uri.text);
    done(&res);
}
END_TEST

START_TEST(test_ra_errors)
{
    struct result res;
    run(RA_HEADER "spec:\n"
                  "  jwtRules:\n"
                  "  - issuer: foo\n"
                  "  - 7\n"
                  "  - issuer: foo\n"
                  "    jwksUri: https://example.com/jwks.json\n"
                  "    jwks: '{\"keys\": [{\"kty\": \"RSA\"}]}'\n"
                  "    fromHeaders: [{name: \"\"}]\n",
        &res);
    ck_assert_int_eq(res.rc, -1);
    const char *want[] = {
        "RequestAuthentication foo/jwt: spec.jwtRules[1]: must be an object, got integer",
        "RequestAuthentication foo/jwt: spec.jwtRules[2].issuer: duplicate issuer \"foo\", also "
        "in jwtRules[0]",
        "RequestAuthentication foo/jwt: spec.jwtRules[2]: only one of jwksUri and jwks may be set",
        "RequestAuthentication foo/jwt: spec.jwtRules[2].fromHeaders[0].name: must not be empty",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_has(&res, WEIR_SEV_ERROR, want[i]);
    ck_assert_uint_eq(res.d.len, sizeof(want) / sizeof(want[0]));
    done(&res);
}
END_TEST

START_TEST(test_ra_malformed_spec)
{
    struct result res;
    run(RA_HEADER "spec:\n  jwtRules: {issuer: foo}\n  selector: {matchLabels: {app: [x]}}\n",
        &res);
    ck_assert_int_eq(res.rc, -1);
    assert_has(&res, WEIR_SEV_ERROR,
               "RequestAuthentication foo/jwt: spec.jwtRules: must be an array, got object");
    assert_has(&res, WEIR_SEV_ERROR,
               "RequestAuthentication foo/jwt: spec.selector.matchLabels.app: must be a string, "
               "got array");
    ck_assert_uint_eq(weir_diags_count(&res.d, WEIR_SEV_ERROR), 2);
    done(&res);
}
END_TEST

START_TEST(test_free_null)
{
    weir_authorization_policy_free(NULL);
    weir_peer_authentication_free(NULL);
    weir_request_authentication_free(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("security");
    TCase *ap = tcase_create("authorization_policy");
    tcase_add_test(ap, test_ap_reference_example);
    tcase_add_test(ap, test_ap_allow_nothing);
    tcase_add_test(ap, test_ap_allow_all);
    tcase_add_test(ap, test_ap_deny_with_ports);
    tcase_add_test(ap, test_ap_deny_http_only_warns);
    tcase_add_test(ap, test_ap_match_kinds);
    tcase_add_test(ap, test_ap_ip_blocks);
    tcase_add_test(ap, test_ap_condition_values_typed);
    tcase_add_test(ap, test_ap_service_accounts);
    tcase_add_test(ap, test_ap_custom_is_unsupported_but_valid);
    tcase_add_test(ap, test_ap_audit_and_experimental_unsupported);
    tcase_add_test(ap, test_ap_target_refs);
    tcase_add_test(ap, test_ap_bad_port_message);
    tcase_add_test(ap, test_ap_malformed_types);
    tcase_add_test(ap, test_ap_rule_level_errors);
    tcase_add_test(ap, test_port_text);
    suite_add_tcase(s, ap);
    TCase *pa = tcase_create("peer_authentication");
    tcase_add_test(pa, test_pa_port_level_sorted);
    tcase_add_test(pa, test_pa_defaults);
    tcase_add_test(pa, test_pa_errors);
    suite_add_tcase(s, pa);
    TCase *ra = tcase_create("request_authentication");
    tcase_add_test(ra, test_ra_rules);
    tcase_add_test(ra, test_ra_jwks_uri_forms);
    tcase_add_test(ra, test_ra_inline_jwks);
    tcase_add_test(ra, test_ra_errors);
    tcase_add_test(ra, test_ra_malformed_spec);
    tcase_add_test(ra, test_free_null);
    suite_add_tcase(s, ra);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
