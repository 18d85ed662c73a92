/*
 * Sidecar injection: a pure function from a pod (or a pod template), its
 * namespace and the mesh config to a decision and an RFC 6902 JSON Patch that
 * adds weir-init, the weir-proxy sidecar, their volumes and annotations. No
 * I/O: weir-webhook sends the patch to the API server, `weirctl inject`
 * applies it to manifests offline; both call weir_inject(). docs/webhook.md
 * describes what is injected and why.
 *
 * Decisions, in order:
 *   skip    hostNetwork pods; pods already injected (annotation weir.dev/status
 *           or a container named weir-proxy) or injected by Istio; pods in
 *           kube-system, kube-public, kube-node-lease; pods that opt out with
 *           the label or annotation sidecar.istio.io/inject: "false"; pods in a
 *           namespace that is not enabled, unless they opt in with "true".
 *   refuse  the pod asks for something that cannot be honoured (a malformed
 *           traffic.sidecar.istio.io annotation, a container port that the
 *           proxy owns, a request above its limit, a reserved name). The
 *           reasons are in the diagnostics, with the field path.
 *   patch   everything else.
 *
 * Return convention: 0 when a decision was made (see out->decision), -1 when
 * out of memory.
 */
#ifndef WEIR_INJECT_INJECT_H
#define WEIR_INJECT_INJECT_H

#include <jansson.h>
#include <stdbool.h>

#include "core/diag.h"
#include "meshconfig/mesh_config.h"
#include "yaml/yaml_json.h"

#define WEIR_INJECT_INIT_NAME      "weir-init"
#define WEIR_INJECT_PROXY_NAME     "weir-proxy"
#define WEIR_INJECT_STATUS_KEY     "weir.dev/status"
#define WEIR_INJECT_CONFIG_VOLUME  "weir-proxy-config"
#define WEIR_INJECT_RUNTIME_VOLUME "weir-runtime"
#define WEIR_INJECT_TOKEN_VOLUME   "weir-ca-token"
#define WEIR_INJECT_PODINFO_VOLUME "weir-podinfo"
/* The per-namespace ConfigMap the operator writes the proxy config into. */
#define WEIR_PROXY_CONFIG_MAP "weir-proxy-config"
/* Audience of the projected ServiceAccount token the proxy shows the CA. */
#define WEIR_CA_TOKEN_AUDIENCE     "weir-ca"
#define WEIR_CA_TOKEN_LIFETIME     43200
#define WEIR_PROXY_CONFIG_DIR      "/etc/weir/proxy"
#define WEIR_PROXY_RUNTIME_DIR     "/var/run/weir"
#define WEIR_PROXY_TOKEN_DIR       "/var/run/secrets/weir/tokens"
#define WEIR_PROXY_PODINFO_DIR     "/etc/weir/pod" /* downward API: labels, annotations */
#define WEIR_APP_PROBERS_ENV       "WEIR_KUBE_APP_PROBERS"
#define WEIR_NAMESPACE_LABEL       "weir-injection"
#define WEIR_ISTIO_NAMESPACE_LABEL "istio-injection"

struct weir_inject_request {
    const json_t *pod;      /* a Pod, or a template: {metadata, spec} */
    const char *namespace_; /* where the pod is created; NULL: metadata.namespace */
    /* The namespace's labels, judged as weir-injection=enabled or
     * istio-injection=enabled. NULL means the caller has already chosen the
     * namespace (the webhook's namespaceSelector, or weirctl inject run by
     * hand), so only the pod's own opt-out counts. */
    const json_t *namespace_labels;
    const struct weir_mesh_config *mesh;
    /* For diagnostics: the object named ("Deployment shop/web"), NULL for
     * "Pod <ns>/<name>"; the keys leading from that object to the pod
     * ({"spec", "template", NULL}), NULL for none; source lines, may be NULL/0. */
    const char *object;
    const char *const *path_prefix;
    const struct weir_yaml_stream *src;
    int line;
};

enum weir_inject_decision {
    WEIR_INJECT_PATCH,
    WEIR_INJECT_SKIP,
    WEIR_INJECT_REFUSE,
};

struct weir_inject_result {
    enum weir_inject_decision decision;
    char reason[256]; /* why skipped or refused, one line */
    json_t *patch;    /* the RFC 6902 operations, only with WEIR_INJECT_PATCH */
    bool native;      /* the proxy went in as a native sidecar */
};

/* Decides and builds the patch. Warnings (an unrecognised opt-in value, a
 * probe that cannot be rewritten, an Istio annotation Weir ignores) and the
 * reasons for a refusal go to diags. */
int weir_inject(const struct weir_inject_request *req, struct weir_inject_result *out,
                struct weir_diags *diags);

void weir_inject_result_free(struct weir_inject_result *r);

const char *weir_inject_decision_name(enum weir_inject_decision d);

#endif
