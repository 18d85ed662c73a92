#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kube/config.h"

#define DATA WEIR_TEST_DATA "/kube/"

static struct weir_kube_config cfg;
static struct weir_kube_error err;

static void setup(void)
{
    unsetenv("KUBECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    memset(&cfg, 0, sizeof(cfg));
    weir_kube_error_clear(&err);
}

static void teardown(void)
{
    weir_kube_config_free(&cfg);
}

START_TEST(test_inline_data)
{
    int rc = weir_kube_config_load_kubeconfig(DATA "kubeconfig-inline.yaml", NULL, &cfg, &err);
    ck_assert_msg(rc == 0, "%s", err.message);
    ck_assert_str_eq(cfg.server, "https://127.0.0.1:6443"); /* trailing slash dropped */
    ck_assert_str_eq(cfg.namespace, "mesh");
    ck_assert_ptr_null(cfg.ca.file);
    ck_assert_ptr_nonnull(strstr(cfg.ca.data, "-----BEGIN CERTIFICATE-----\nTUlJQ2Zha2VjYQ=="));
    ck_assert_uint_eq(cfg.ca.len, strlen(cfg.ca.data));
    ck_assert_ptr_nonnull(strstr(cfg.client_cert.data, "TUlJQ2Zha2VjbGllbnQ="));
    ck_assert_ptr_nonnull(strstr(cfg.client_key.data, "BEGIN PRIVATE KEY"));
    ck_assert(!cfg.insecure_skip_tls_verify);
    ck_assert_ptr_null(cfg.token);
    ck_assert_str_eq(cfg.source, "kubeconfig " DATA "kubeconfig-inline.yaml (context inline)");
}
END_TEST

START_TEST(test_named_context)
{
    int rc = weir_kube_config_load_kubeconfig(DATA "kubeconfig-inline.yaml", "other", &cfg, &err);
    ck_assert_msg(rc == 0, "%s", err.message);
    ck_assert_str_eq(cfg.namespace, "default");
}
END_TEST

START_TEST(test_file_paths_are_relative_to_the_kubeconfig)
{
    int rc = weir_kube_config_load_kubeconfig(DATA "kubeconfig-files.yaml", NULL, &cfg, &err);
    ck_assert_msg(rc == 0, "%s", err.message);
    ck_assert_str_eq(cfg.server, "https://kube.example:8443");
    ck_assert_str_eq(cfg.ca.file, DATA "ca.crt");
    ck_assert_str_eq(cfg.client_cert.file, DATA "client.crt");
    ck_assert_str_eq(cfg.client_key.file, DATA "client.key");
    ck_assert_ptr_null(cfg.ca.data);
    ck_assert_str_eq(cfg.tls_server_name, "kubernetes.default");
}
END_TEST

START_TEST(test_token_and_insecure)
{
    char *token = NULL;
    int rc = weir_kube_config_load_kubeconfig(DATA "kubeconfig-token.yaml", NULL, &cfg, &err);
    ck_assert_msg(rc == 0, "%s", err.message);
    ck_assert(cfg.insecure_skip_tls_verify);
    ck_assert_str_eq(cfg.token, "abc.def.ghi");
    ck_assert_int_eq(weir_kube_config_token(&cfg, &token, &err), 0);
    ck_assert_str_eq(token, "abc.def.ghi");
    free(token);
}
END_TEST

START_TEST(test_token_file)
{
    char *token = NULL;
    int rc =
        weir_kube_config_load_kubeconfig(DATA "kubeconfig-token.yaml", "token-file", &cfg, &err);
    ck_assert_msg(rc == 0, "%s", err.message);
    ck_assert_str_eq(cfg.token_file, DATA "token");
    ck_assert_int_eq(weir_kube_config_token(&cfg, &token, &err), 0);
    ck_assert_str_eq(token, "file-token-1"); /* newline trimmed */
    free(token);
}
END_TEST

START_TEST(test_missing_context_message)
{
    int rc =
        weir_kube_config_load_kubeconfig(DATA "kubeconfig-missing-context.yaml", NULL, &cfg, &err);
    ck_assert_int_eq(rc, WEIR_KUBE_ERR_CONFIG);
    ck_assert_int_eq(err.code, WEIR_KUBE_ERR_CONFIG);
    ck_assert_str_eq(err.message, "kubeconfig " DATA
                                  "kubeconfig-missing-context.yaml:3: current-context: context "
                                  "\"staging\" not found");
}
END_TEST

START_TEST(test_missing_named_context_message)
{
    int rc = weir_kube_config_load_kubeconfig(DATA "kubeconfig-inline.yaml", "nope", &cfg, &err);
    ck_assert_int_eq(rc, WEIR_KUBE_ERR_CONFIG);
    ck_assert_str_eq(err.message, "kubeconfig " DATA "kubeconfig-inline.yaml: context \"nope\" "
                                  "not found");
}
END_TEST

START_TEST(test_exec_is_refused_clearly)
{
    int rc = weir_kube_config_load_kubeconfig(DATA "kubeconfig-exec.yaml", NULL, &cfg, &err);
    ck_assert_int_eq(rc, WEIR_KUBE_ERR_CONFIG);
    ck_assert_str_eq(err.message,
                     "kubeconfig " DATA "kubeconfig-exec.yaml:14: users[name=\"aws\"].user.exec: "
                     "exec credential plugins are not supported; use a token, tokenFile or "
                     "client certificate");
}
END_TEST

START_TEST(test_bad_base64)
{
    int rc = weir_kube_config_load_kubeconfig(DATA "kubeconfig-bad-base64.yaml", NULL, &cfg, &err);
    ck_assert_int_eq(rc, WEIR_KUBE_ERR_CONFIG);
    ck_assert_str_eq(err.message, "kubeconfig " DATA
                                  "kubeconfig-bad-base64.yaml:8: clusters[name=\"c\"].cluster."
                                  "certificate-authority-data: not valid base64");
}
END_TEST

START_TEST(test_missing_server)
{
    int rc = weir_kube_config_load_kubeconfig(DATA "kubeconfig-no-server.yaml", NULL, &cfg, &err);
    ck_assert_int_eq(rc, WEIR_KUBE_ERR_CONFIG);
    ck_assert_str_eq(err.message, "kubeconfig " DATA "kubeconfig-no-server.yaml:7: "
                                  "clusters[name=\"c\"].cluster.server: missing");
}
END_TEST

START_TEST(test_yaml_syntax_error_names_the_line)
{
    int rc = weir_kube_config_load_kubeconfig(DATA "kubeconfig-syntax.yaml", NULL, &cfg, &err);
    ck_assert_int_eq(rc, WEIR_KUBE_ERR_CONFIG);
    ck_assert_msg(strncmp(err.message, "kubeconfig " DATA "kubeconfig-syntax.yaml:",
                          strlen("kubeconfig " DATA "kubeconfig-syntax.yaml:")) == 0,
                  "%s", err.message);
}
END_TEST

START_TEST(test_missing_file)
{
    int rc = weir_kube_config_load_kubeconfig(DATA "no-such-kubeconfig", NULL, &cfg, &err);
    ck_assert_int_eq(rc, WEIR_KUBE_ERR_CONFIG);
    ck_assert_str_eq(err.message, "kubeconfig " DATA "no-such-kubeconfig: cannot open: No such "
                                  "file or directory");
}
END_TEST

START_TEST(test_kubeconfig_env_list_merges_first_wins)
{
    setenv("KUBECONFIG",
           DATA "kubeconfig-merge-a.yaml:" DATA "absent.yaml:" DATA "kubeconfig-merge-b.yaml", 1);
    int rc = weir_kube_config_load_kubeconfig(NULL, NULL, &cfg, &err);
    ck_assert_msg(rc == 0, "%s", err.message);
    /* current-context from a, the context and user from b, the cluster from a */
    ck_assert_str_eq(cfg.server, "https://first.example");
    ck_assert_str_eq(cfg.token, "merged-token");
    ck_assert_str_eq(cfg.namespace, "team-b");
    unsetenv("KUBECONFIG");
}
END_TEST

START_TEST(test_default_prefers_kubeconfig_env)
{
    setenv("KUBECONFIG", DATA "kubeconfig-token.yaml", 1);
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    int rc = weir_kube_config_load_default(NULL, &cfg, &err);
    ck_assert_msg(rc == 0, "%s", err.message);
    ck_assert_str_eq(cfg.server, "https://10.0.0.1");
}
END_TEST

START_TEST(test_base64)
{
    bool oom;
    size_t n;
    char *s = weir_kube_base64_decode("aGVs\nbG8=", &n, &oom);
    ck_assert_str_eq(s, "hello");
    ck_assert_uint_eq(n, 5);
    free(s);
    s = weir_kube_base64_decode("aGVsbG8", &n, &oom); /* unpadded */
    ck_assert_str_eq(s, "hello");
    free(s);
    ck_assert_ptr_null(weir_kube_base64_decode("aGVsbG8=x", &n, &oom)); /* data after padding */
    ck_assert_ptr_null(weir_kube_base64_decode("a", &n, &oom));
    ck_assert_ptr_null(weir_kube_base64_decode("aGV*", &n, &oom));
    ck_assert(!oom);
}
END_TEST

/* ---- in-cluster ---- */

static char tmpdir[64];

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void make_sa_dir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/weir-kube-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    write_file(tmpdir, "token", "sa-token-1\n");
    write_file(tmpdir, "ca.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    write_file(tmpdir, "namespace", "weir-system");
}

static void remove_sa_dir(void)
{
    const char *names[] = {"token", "ca.crt", "namespace", "token.new"};
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

static struct weir_kube_in_cluster_paths paths_in(char *tok, char *ca, char *ns, size_t n)
{
    snprintf(tok, n, "%s/token", tmpdir);
    snprintf(ca, n, "%s/ca.crt", tmpdir);
    snprintf(ns, n, "%s/namespace", tmpdir);
    return (struct weir_kube_in_cluster_paths){tok, ca, ns};
}

START_TEST(test_in_cluster)
{
    char tok[PATH_MAX], ca[PATH_MAX], ns[PATH_MAX], *token = NULL;
    make_sa_dir();
    struct weir_kube_in_cluster_paths p = paths_in(tok, ca, ns, PATH_MAX);
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    int rc = weir_kube_config_load_in_cluster(&p, &cfg, &err);
    ck_assert_msg(rc == 0, "%s", err.message);
    ck_assert_str_eq(cfg.server, "https://10.96.0.1:443");
    ck_assert_str_eq(cfg.namespace, "weir-system");
    ck_assert_str_eq(cfg.ca.file, ca);
    ck_assert_str_eq(cfg.source, "in-cluster");
    ck_assert_int_eq(weir_kube_config_token(&cfg, &token, &err), 0);
    ck_assert_str_eq(token, "sa-token-1");
    free(token);

    /* Rotation the way the kubelet does it: a new file renamed over the old
     * one (new inode), read on the next call. */
    write_file(tmpdir, "token.new", "sa-token-2-longer\n");
    char newpath[PATH_MAX];
    snprintf(newpath, sizeof(newpath), "%s/token.new", tmpdir);
    ck_assert_int_eq(rename(newpath, tok), 0);
    ck_assert_int_eq(weir_kube_config_token(&cfg, &token, &err), 0);
    ck_assert_str_eq(token, "sa-token-2-longer");
    free(token);

    /* Rewritten in place with the same size: the mtime tells. */
    write_file(tmpdir, "token", "sa-token-3-longer\n");
    struct timespec times[2] = {{0, UTIME_OMIT}, {time(NULL) + 5, 0}};
    ck_assert_int_eq(utimensat(AT_FDCWD, tok, times, 0), 0);
    ck_assert_int_eq(weir_kube_config_token(&cfg, &token, &err), 0);
    ck_assert_str_eq(token, "sa-token-3-longer");
    free(token);

    /* Briefly missing mid-rotation: the last good token is kept. */
    unlink(tok);
    ck_assert_int_eq(weir_kube_config_token(&cfg, &token, &err), 0);
    ck_assert_str_eq(token, "sa-token-3-longer");
    free(token);
    remove_sa_dir();
}
END_TEST

START_TEST(test_in_cluster_ipv6_and_default_namespace)
{
    char tok[PATH_MAX], ca[PATH_MAX], ns[PATH_MAX];
    make_sa_dir();
    struct weir_kube_in_cluster_paths p = paths_in(tok, ca, ns, PATH_MAX);
    unlink(ns);
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
    int rc = weir_kube_config_load_in_cluster(&p, &cfg, &err);
    ck_assert_msg(rc == 0, "%s", err.message);
    ck_assert_str_eq(cfg.server, "https://[fd00::1]:6443");
    ck_assert_str_eq(cfg.namespace, "default");
    remove_sa_dir();
}
END_TEST

START_TEST(test_in_cluster_errors)
{
    char tok[PATH_MAX], ca[PATH_MAX], ns[PATH_MAX];
    make_sa_dir();
    struct weir_kube_in_cluster_paths p = paths_in(tok, ca, ns, PATH_MAX);
    ck_assert_int_eq(weir_kube_config_load_in_cluster(&p, &cfg, &err), WEIR_KUBE_ERR_CONFIG);
    ck_assert_str_eq(err.message, "in-cluster: KUBERNETES_SERVICE_HOST and "
                                  "KUBERNETES_SERVICE_PORT must be set (not running in a pod?)");
    weir_kube_config_free(&cfg);
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    unlink(tok);
    ck_assert_int_eq(weir_kube_config_load_in_cluster(&p, &cfg, &err), WEIR_KUBE_ERR_CONFIG);
    char want[PATH_MAX + 128];
    snprintf(want, sizeof(want),
             "in-cluster: cannot read the service-account token %s: No such file or directory",
             tok);
    ck_assert_str_eq(err.message, want);
    remove_sa_dir();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kube_config");
    TCase *tc = tcase_create("kubeconfig");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_inline_data);
    tcase_add_test(tc, test_named_context);
    tcase_add_test(tc, test_file_paths_are_relative_to_the_kubeconfig);
    tcase_add_test(tc, test_token_and_insecure);
    tcase_add_test(tc, test_token_file);
    tcase_add_test(tc, test_missing_context_message);
    tcase_add_test(tc, test_missing_named_context_message);
    tcase_add_test(tc, test_exec_is_refused_clearly);
    tcase_add_test(tc, test_bad_base64);
    tcase_add_test(tc, test_missing_server);
    tcase_add_test(tc, test_yaml_syntax_error_names_the_line);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_kubeconfig_env_list_merges_first_wins);
    tcase_add_test(tc, test_default_prefers_kubeconfig_env);
    tcase_add_test(tc, test_base64);
    suite_add_tcase(s, tc);
    TCase *ic = tcase_create("in_cluster");
    tcase_add_checked_fixture(ic, setup, teardown);
    tcase_add_test(ic, test_in_cluster);
    tcase_add_test(ic, test_in_cluster_ipv6_and_default_namespace);
    tcase_add_test(ic, test_in_cluster_errors);
    suite_add_tcase(s, ic);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
