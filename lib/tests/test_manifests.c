/*
 * Manifests as data: every file under manifests/ is parsed through the same
 * path weirctl and the operator use (YAML -> JSON -> mesh model), and the
 * diagnostics are compared with the expectations written in the file's header:
 *
 *   # expect: VirtualService default/reviews: spec.http[0].route[0].weight: must be 0..100, got 140
 *   # expect-unsupported: DestinationRule default/r: spec.trafficPolicy.tunnel: field is not ...
 *   # expect-warning: ...
 *
 * Files under a folder named "valid" must produce no error; files under
 * "invalid" must name at least one. The comparison is exact and complete: every
 * expected line must be produced and nothing else of that severity may be.
 */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>

#include "model/mesh.h"
#include "yaml/yaml_json.h"

#define MAX_FILES     2048
#define MIN_MANIFESTS 60

static char *files[MAX_FILES];
static int nfiles;

static int collect(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    size_t n = strlen(path);
    if (type == FTW_F && n > 5 && strcmp(path + n - 5, ".yaml") == 0 && nfiles < MAX_FILES)
        files[nfiles++] = strdup(path);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct expect {
    char *lines[64];
    int n;
};

static void read_expectations(const char *path, struct expect *errors, struct expect *unsupported,
                              struct expect *warnings)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    ck_assert_msg(f != NULL, "cannot open %s", path);
    while (fgets(line, sizeof(line), f)) {
        struct expect *into = NULL;
        const char *text = NULL;
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "# expect: ", 10) == 0) {
            into = errors;
            text = line + 10;
        } else if (strncmp(line, "# expect-unsupported: ", 22) == 0) {
            into = unsupported;
            text = line + 22;
        } else if (strncmp(line, "# expect-warning: ", 18) == 0) {
            into = warnings;
            text = line + 18;
        }
        if (into && into->n < 64)
            into->lines[into->n++] = strdup(text);
    }
    fclose(f);
}

static void compare(const char *path, const char *what, struct expect *want,
                    const struct weir_diags *got, enum weir_severity sev)
{
    bool used[64] = {false};
    for (size_t i = 0; i < got->len; i++) {
        if (got->items[i].severity != sev)
            continue;
        char *text = weir_diag_format(&got->items[i]);
        bool found = false;
        for (int j = 0; j < want->n && !found; j++) {
            if (!used[j] && strcmp(want->lines[j], text) == 0) {
                used[j] = true;
                found = true;
            }
        }
        ck_assert_msg(found, "%s: unexpected %s:\n  %s", path, what, text);
        free(text);
    }
    for (int j = 0; j < want->n; j++)
        ck_assert_msg(used[j], "%s: expected %s not reported:\n  %s", path, what, want->lines[j]);
}

static void free_expect(struct expect *e)
{
    for (int i = 0; i < e->n; i++)
        free(e->lines[i]);
}

START_TEST(test_manifest)
{
    const char *path = files[_i];
    bool expect_valid = strstr(path, "/valid/") != NULL;
    struct expect errors = {0}, unsupported = {0}, warnings = {0};
    struct weir_yaml_stream stream;
    struct weir_diags diags;
    size_t mesh_objects = 0;

    weir_diags_init(&diags);
    read_expectations(path, &errors, &unsupported, &warnings);
    if (expect_valid)
        ck_assert_msg(errors.n == 0, "%s: a valid manifest cannot expect errors", path);
    else
        ck_assert_msg(errors.n > 0, "%s: an invalid manifest must name its errors", path);

    weir_yaml_parse_file(path, NULL, &stream, &diags);
    for (size_t i = 0; i < stream.ndocs; i++) {
        struct weir_resource *r = NULL;
        int rc =
            weir_mesh_parse(stream.docs[i].root, &stream, stream.docs[i].line, NULL, &r, &diags);
        if (rc != 1)
            mesh_objects++;
        if (rc == 0)
            ck_assert_ptr_nonnull(r);
        else
            ck_assert_ptr_null(r);
        weir_resource_free(r);
    }
    ck_assert_msg(mesh_objects > 0 || !expect_valid, "%s: holds no mesh object", path);

    compare(path, "error", &errors, &diags, WEIR_SEV_ERROR);
    compare(path, "unsupported field", &unsupported, &diags, WEIR_SEV_UNSUPPORTED);
    compare(path, "warning", &warnings, &diags, WEIR_SEV_WARNING);

    free_expect(&errors);
    free_expect(&unsupported);
    free_expect(&warnings);
    weir_yaml_stream_free(&stream);
    weir_diags_free(&diags);
}
END_TEST

START_TEST(test_enough_manifests)
{
    int valid = 0, invalid = 0;
    for (int i = 0; i < nfiles; i++) {
        if (strstr(files[i], "/valid/"))
            valid++;
        else
            invalid++;
    }
    ck_assert_msg(nfiles >= MIN_MANIFESTS, "only %d manifests, want at least %d", nfiles,
                  MIN_MANIFESTS);
    ck_assert_int_gt(valid, 0);
    ck_assert_int_gt(invalid, 0);
}
END_TEST

int main(void)
{
    nftw(WEIR_TEST_DATA "/manifests", collect, 16, FTW_PHYS);
    qsort(files, (size_t)nfiles, sizeof(files[0]), cmp_str);

    Suite *s = suite_create("manifests");
    TCase *tc = tcase_create("manifests");
    tcase_add_test(tc, test_enough_manifests);
    tcase_add_loop_test(tc, test_manifest, 0, nfiles);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    for (int i = 0; i < nfiles; i++)
        free(files[i]);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
