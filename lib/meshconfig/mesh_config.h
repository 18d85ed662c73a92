/*
 * The mesh config: the mesh-wide settings the sidecar injector needs (images,
 * proxy resources, trust domain, the port table, drain duration, log level,
 * native sidecars on or off). The chart stores it as YAML under the key
 * "mesh" of the ConfigMap weir-mesh-config; weir-webhook reads the mounted
 * file and `weirctl inject --mesh-config` reads a local copy. Every field is
 * optional: an empty document is the default mesh. docs/mesh-config.md is the
 * reference; docs/examples/mesh-config.yaml a complete example.
 *
 * Unknown fields are errors (a misspelt key must not silently fall back to a
 * default), reported with the field path and source line like the mesh CRs:
 *
 *   mesh.yaml:7: MeshConfig: proxy.resources.limits.cpu: "2 cores" is not a
 *   Kubernetes quantity (such as 500m, 2, 128Mi, 1Gi)
 *
 * Return convention: 0 success, -1 failure with the reasons in the diagnostics
 * (out of memory included).
 */
#ifndef WEIR_MESHCONFIG_MESH_CONFIG_H
#define WEIR_MESHCONFIG_MESH_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/diag.h"
#include "core/ports.h"
#include "yaml/yaml_json.h"

/* The ConfigMap the chart installs and the key that holds the document. */
#define WEIR_MESH_CONFIG_MAP "weir-mesh-config"
#define WEIR_MESH_CONFIG_KEY "mesh"

/* Kubernetes resource quantities as written ("100m", "128Mi"); NULL = not set. */
struct weir_resources {
    char *cpu_request;
    char *memory_request;
    char *cpu_limit;
    char *memory_limit;
};

/* Which inbound ports weir-init captures when a pod names none itself. */
enum weir_inbound_capture {
    WEIR_CAPTURE_ALL,      /* every port ("*"): Istio's default, nothing bypasses the proxy */
    WEIR_CAPTURE_DECLARED, /* only the containerPorts the pod declares */
};

struct weir_mesh_config {
    char *trust_domain; /* SPIFFE trust domain, "cluster.local" */
    char *ca_address;   /* host:port of the operator's CA endpoint */
    char *proxy_image;
    char *init_image;
    char *image_pull_policy; /* Always, IfNotPresent or Never */
    struct weir_resources resources;
    int64_t drain_duration_ns;
    char *log_level; /* proxy log level: debug, info, warn, error, off */
    bool native_sidecar;
    enum weir_inbound_capture inbound_capture;
    struct weir_ports ports; /* weir_default_ports with the document's overrides */
};

/* Fills *mc with the defaults. Returns 0, or -1 when out of memory (then *mc
 * holds nothing that needs freeing). */
int weir_mesh_config_defaults(struct weir_mesh_config *mc);

/* Parses one document (a mesh config, or a whole ConfigMap manifest whose
 * data.mesh holds one) over the defaults. `src` and `line` give source lines,
 * may be NULL/0. On -1 *out is left empty. */
int weir_mesh_config_parse(const json_t *doc, const struct weir_yaml_stream *src, int line,
                           struct weir_mesh_config *out, struct weir_diags *diags);

/* Reads and parses a YAML or JSON file holding exactly one document. */
int weir_mesh_config_load_file(const char *path, struct weir_mesh_config *out,
                               struct weir_diags *diags);

void weir_mesh_config_free(struct weir_mesh_config *mc);

/* The mesh config as a JSON document in the file format (for `--print`-style
 * output and round-trip tests). Caller owns the result; NULL when out of memory. */
json_t *weir_mesh_config_to_json(const struct weir_mesh_config *mc);

/* ---- also used by the injector ---- */

/* A Kubernetes resource quantity ("500m", "2", "1.5Gi", "1e3") as a number of
 * base units. Returns 0, or -1 when the text is not a non-negative quantity. */
int weir_quantity_parse(const char *text, double *out);

/* Writes a duration the way Go and Kubernetes print them: "45s", "1m30s",
 * "250ms". Returns out. */
char *weir_duration_format(int64_t ns, char *out, size_t len);

#endif
