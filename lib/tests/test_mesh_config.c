/* The mesh config document: defaults, the documented example, every field's
 * validation with its path and line, the ConfigMap wrapper, and quantities. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meshconfig/mesh_config.h"

struct parsed {
    int rc;
    struct weir_mesh_config mc;
    struct weir_diags d;
    struct weir_yaml_stream s;
};

static void parse(const char *yaml, struct parsed *p)
{
    weir_diags_init(&p->d);
    ck_assert_int_eq(weir_yaml_parse(yaml, strlen(yaml), "mesh.yaml", NULL, &p->s, &p->d), 0);
    ck_assert_uint_eq(p->s.ndocs, 1);
    p->rc = weir_mesh_config_parse(p->s.docs[0].root, &p->s, p->s.docs[0].line, &p->mc, &p->d);
}

static void done(struct parsed *p)
{
    weir_mesh_config_free(&p->mc);
    weir_diags_free(&p->d);
    weir_yaml_stream_free(&p->s);
}

static bool has(const struct weir_diags *d, const char *text)
{
    for (size_t i = 0; i < d->len; i++) {
        char *s = weir_diag_format(&d->items[i]);
        bool m = strcmp(s, text) == 0;
        free(s);
        if (m)
            return true;
    }
    for (size_t i = 0; i < d->len; i++) {
        char *s = weir_diag_format(&d->items[i]);
        fprintf(stderr, "  have: line %d: %s\n", d->items[i].line, s);
        free(s);
    }
    return false;
}

START_TEST(test_defaults)
{
    struct weir_mesh_config mc;
    ck_assert_int_eq(weir_mesh_config_defaults(&mc), 0);
    ck_assert_str_eq(mc.trust_domain, "cluster.local");
    ck_assert_str_eq(mc.proxy_image, "ghcr.io/weir-mesh/weir-proxy:" WEIR_VERSION);
    ck_assert_str_eq(mc.init_image, "ghcr.io/weir-mesh/weir-init:" WEIR_VERSION);
    ck_assert_str_eq(mc.image_pull_policy, "IfNotPresent");
    ck_assert_str_eq(mc.resources.cpu_request, "100m");
    ck_assert_str_eq(mc.resources.memory_limit, "1Gi");
    ck_assert(mc.native_sidecar);
    ck_assert_int_eq(mc.inbound_capture, WEIR_CAPTURE_ALL);
    ck_assert_int_eq(mc.ports.outbound_capture, 15001);
    ck_assert_int_eq(mc.ports.health, 15021);
    ck_assert_int_eq(mc.ports.proxy_uid, 1337);
    ck_assert(mc.drain_duration_ns == 45000000000LL);
    weir_mesh_config_free(&mc);

    struct parsed p;
    parse("{}\n", &p);
    ck_assert_int_eq(p.rc, 0);
    ck_assert_str_eq(p.mc.log_level, "info");
    done(&p);
}
END_TEST

START_TEST(test_documented_example)
{
    struct weir_mesh_config mc, dflt;
    struct weir_diags d;
    weir_diags_init(&d);
    ck_assert_int_eq(
        weir_mesh_config_load_file(WEIR_SOURCE_DIR "/docs/examples/mesh-config.yaml", &mc, &d), 0);
    ck_assert_uint_eq(d.len, 0);
    /* the example lists the defaults, so it must say what the code does */
    ck_assert_int_eq(weir_mesh_config_defaults(&dflt), 0);
    json_t *a = weir_mesh_config_to_json(&mc);
    json_t *b = weir_mesh_config_to_json(&dflt);
    if (strcmp(WEIR_VERSION, "0.1.0") == 0) {
        char *sa = json_dumps(a, JSON_SORT_KEYS), *sb = json_dumps(b, JSON_SORT_KEYS);
        ck_assert_str_eq(sa, sb);
        free(sa);
        free(sb);
    }
    json_decref(a);
    json_decref(b);
    weir_mesh_config_free(&mc);
    weir_mesh_config_free(&dflt);
    weir_diags_free(&d);
}
END_TEST

START_TEST(test_every_field)
{
    struct parsed p;
    parse("trustDomain: prod.example.com\n"
          "caAddress: ca.weir-system.svc:8443\n"
          "proxy:\n"
          "  image: r.example/proxy@sha256:abc\n"
          "  initImage: r.example/init:2\n"
          "  imagePullPolicy: Always\n"
          "  resources:\n"
          "    requests: {cpu: 50m, memory: 64Mi}\n"
          "    limits: {memory: 256Mi}\n"
          "  drainDuration: 1m30s\n"
          "  logLevel: warning\n"
          "  nativeSidecar: false\n"
          "capture: {inboundPorts: declared}\n"
          "ports: {outboundCapture: 16001, inboundCapture: 16006, admin: 16000, health: 16021,\n"
          "        metrics: 16090, proxyUID: 2000, proxyGID: 3000}\n",
          &p);
    ck_assert_int_eq(p.rc, 0);
    ck_assert_str_eq(p.mc.trust_domain, "prod.example.com");
    ck_assert_str_eq(p.mc.ca_address, "ca.weir-system.svc:8443");
    ck_assert_str_eq(p.mc.proxy_image, "r.example/proxy@sha256:abc");
    ck_assert_str_eq(p.mc.image_pull_policy, "Always");
    ck_assert_str_eq(p.mc.resources.cpu_request, "50m");
    /* a resources block replaces the default: no cpu limit now */
    ck_assert_ptr_null(p.mc.resources.cpu_limit);
    ck_assert_str_eq(p.mc.resources.memory_limit, "256Mi");
    ck_assert(p.mc.drain_duration_ns == 90000000000LL);
    ck_assert_str_eq(p.mc.log_level, "warn");
    ck_assert(!p.mc.native_sidecar);
    ck_assert_int_eq(p.mc.inbound_capture, WEIR_CAPTURE_DECLARED);
    ck_assert_int_eq(p.mc.ports.admin, 16000);
    ck_assert_int_eq(p.mc.ports.proxy_gid, 3000);
    char buf[32];
    ck_assert_str_eq(weir_duration_format(p.mc.drain_duration_ns, buf, sizeof(buf)), "1m30s");
    done(&p);
}
END_TEST

START_TEST(test_errors_name_path_and_line)
{
    struct parsed p;
    parse("trustDomain: Prod.Example\n"
          "caAddress: https://ca\n"
          "proxy:\n"
          "  imge: x\n"
          "  imagePullPolicy: Sometimes\n"
          "  resources:\n"
          "    requests: {cpu: 2 cores, memory: 2Gi}\n"
          "    limits: {memory: 1Gi}\n"
          "  drainDuration: 5\n"
          "  logLevel: loud\n"
          "  nativeSidecar: yes please\n"
          "capture: {inboundPorts: some}\n"
          "ports: {health: 15090, proxyUID: 0, admin: 70000}\n",
          &p);
    ck_assert_int_eq(p.rc, -1);
    ck_assert(has(&p.d, "MeshConfig: trustDomain: \"Prod.Example\" must hold only lower-case "
                        "letters, digits, '.', '-' and '_' (a SPIFFE trust domain)"));
    ck_assert(has(&p.d, "MeshConfig: caAddress: \"https://ca\" must be host:port with a port of "
                        "1..65535"));
    ck_assert(has(&p.d, "MeshConfig: proxy.imge: unknown field"));
    ck_assert(has(&p.d, "MeshConfig: proxy.imagePullPolicy: must be Always, IfNotPresent or "
                        "Never, got \"Sometimes\""));
    ck_assert(has(&p.d, "MeshConfig: proxy.resources.requests.cpu: \"2 cores\" is not a "
                        "Kubernetes quantity (such as 500m, 2, 128Mi, 1Gi)"));
    ck_assert(has(&p.d, "MeshConfig: proxy.resources: requests.memory 2Gi is more than "
                        "limits.memory 1Gi"));
    ck_assert(has(&p.d, "MeshConfig: proxy.drainDuration: must be a string, got integer"));
    ck_assert(has(&p.d, "MeshConfig: proxy.logLevel: must be debug, info, warn, error or off, "
                        "got \"loud\""));
    ck_assert(has(&p.d, "MeshConfig: proxy.nativeSidecar: must be a boolean, got string"));
    ck_assert(has(&p.d, "MeshConfig: capture.inboundPorts: must be \"all\" or \"declared\", got "
                        "\"some\""));
    ck_assert(has(&p.d, "MeshConfig: ports: health and metrics are both 15090; every proxy port "
                        "must differ"));
    ck_assert(has(&p.d, "MeshConfig: ports.proxyUID: must be 1..2147483647, got 0"));
    ck_assert(has(&p.d, "MeshConfig: ports.admin: must be 1..65535, got 70000"));
    /* lines point at the field */
    for (size_t i = 0; i < p.d.len; i++) {
        if (strcmp(p.d.items[i].path, "proxy.imge") == 0)
            ck_assert_int_eq(p.d.items[i].line, 4);
        if (strcmp(p.d.items[i].path, "proxy.logLevel") == 0)
            ck_assert_int_eq(p.d.items[i].line, 10);
        ck_assert_str_eq(p.d.items[i].source, "mesh.yaml");
    }
    ck_assert_ptr_null(p.mc.proxy_image); /* nothing half-parsed is handed out */
    done(&p);

    parse("- a\n", &p);
    ck_assert_int_eq(p.rc, -1);
    ck_assert(has(&p.d, "MeshConfig: must be an object, got array"));
    done(&p);
}
END_TEST

START_TEST(test_config_map_wrapper)
{
    struct parsed p;
    parse("apiVersion: v1\n"
          "kind: ConfigMap\n"
          "metadata: {name: weir-mesh-config, namespace: weir-system}\n"
          "data:\n"
          "  mesh: |\n"
          "    trustDomain: corp.local\n"
          "    proxy:\n"
          "      nativeSidecar: false\n",
          &p);
    ck_assert_int_eq(p.rc, 0);
    ck_assert_str_eq(p.mc.trust_domain, "corp.local");
    ck_assert(!p.mc.native_sidecar);
    done(&p);

    parse("kind: ConfigMap\ndata:\n  mesh: |\n    proxy: {colour: blue}\n", &p);
    ck_assert_int_eq(p.rc, -1);
    ck_assert(has(&p.d, "MeshConfig: proxy.colour: unknown field"));
    ck_assert_str_eq(p.d.items[0].source, "mesh.yaml data.mesh");
    done(&p);

    parse("kind: ConfigMap\ndata: {other: x}\n", &p);
    ck_assert_int_eq(p.rc, -1);
    ck_assert(has(&p.d, "MeshConfig: data.mesh: a ConfigMap given as mesh config must hold the "
                        "document under data.mesh"));
    done(&p);
}
END_TEST

START_TEST(test_files)
{
    struct weir_mesh_config mc;
    struct weir_diags d;
    weir_diags_init(&d);
    ck_assert_int_eq(weir_mesh_config_load_file("/nonexistent/mesh.yaml", &mc, &d), -1);
    ck_assert_uint_eq(d.len, 1);
    weir_diags_free(&d);

    char path[] = "/tmp/weir-mesh-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "", 0), 0);
    close(fd);
    weir_diags_init(&d);
    ck_assert_int_eq(weir_mesh_config_load_file(path, &mc, &d), 0); /* empty: defaults */
    ck_assert_str_eq(mc.trust_domain, "cluster.local");
    weir_mesh_config_free(&mc);
    FILE *f = fopen(path, "w");
    fputs("trustDomain: a\n---\ntrustDomain: b\n", f);
    fclose(f);
    ck_assert_int_eq(weir_mesh_config_load_file(path, &mc, &d), -1);
    ck_assert(has(&d, "MeshConfig: the file holds 2 YAML documents; a mesh config is one"));
    weir_diags_free(&d);
    unlink(path);
}
END_TEST

START_TEST(test_quantities)
{
    static const struct {
        const char *text;
        double value;
    } good[] = {
        {"0", 0},
        {"1", 1},
        {"500m", 0.5},
        {"1.5", 1.5},
        {"128Mi", 134217728.0},
        {"1Gi", 1073741824.0},
        {"2k", 2000},
        {"1e3", 1000},
        {"+1", 1},
        {".5", 0.5},
        {"100u", 1e-4},
        {"1E2", 100},
    };
    static const char *const bad[] = {"",   "m",    "-1", "1.2.3", "2 cores", "1Gb",  "0x10", "inf",
                                      "1e", "1ee2", "Mi", "1 ",    " 1",      "1Ki2", NULL};
    double v;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ck_assert_msg(weir_quantity_parse(good[i].text, &v) == 0, "%s", good[i].text);
        ck_assert_msg(fabs(v - good[i].value) <= 1e-9 * (1 + good[i].value), "%s = %g",
                      good[i].text, v);
    }
    for (int i = 0; bad[i]; i++)
        ck_assert_msg(weir_quantity_parse(bad[i], &v) == -1, "\"%s\" accepted", bad[i]);

    char buf[32];
    ck_assert_str_eq(weir_duration_format(45000000000LL, buf, sizeof(buf)), "45s");
    ck_assert_str_eq(weir_duration_format(250000000LL, buf, sizeof(buf)), "250ms");
    ck_assert_str_eq(weir_duration_format(1500000000LL, buf, sizeof(buf)), "1.5s");
    ck_assert_str_eq(weir_duration_format(3600000000000LL, buf, sizeof(buf)), "1h0m0s");
    ck_assert_str_eq(weir_duration_format(0, buf, sizeof(buf)), "0s");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mesh_config");
    TCase *t = tcase_create("mesh_config");
    tcase_add_test(t, test_defaults);
    tcase_add_test(t, test_documented_example);
    tcase_add_test(t, test_every_field);
    tcase_add_test(t, test_errors_name_path_and_line);
    tcase_add_test(t, test_config_map_wrapper);
    tcase_add_test(t, test_files);
    tcase_add_test(t, test_quantities);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
