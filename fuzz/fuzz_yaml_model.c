/* Fuzzes the manifest path end to end: YAML bytes -> JSON -> mesh model. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "model/mesh.h"
#include "yaml/yaml_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Production depth, smaller size limits: each run stays fast while every
     * limit's error path is still reached. */
    static const struct weir_yaml_limits limits = {
        .max_bytes = 1 << 20, .max_depth = 128, .max_nodes = 100000, .max_docs = 64};
    struct weir_yaml_stream s;
    struct weir_diags d;

    weir_diags_init(&d);
    weir_yaml_parse((const char *)data, size, "fuzz.yaml", &limits, &s, &d);
    for (size_t i = 0; i < s.ndocs; i++) {
        struct weir_resource *r = NULL;
        weir_mesh_parse(s.docs[i].root, &s, s.docs[i].line, NULL, &r, &d);
        weir_resource_free(r);
        /* every diagnostic must format */
        for (size_t j = 0; j < d.len; j++) {
            char *text = weir_diag_format(&d.items[j]);
            free(text);
        }
        weir_diags_clear(&d);
    }
    weir_yaml_stream_free(&s);
    weir_diags_free(&d);
    return 0;
}
