/*
 * The writer: one ConfigMap per mesh namespace holding its proxy config
 * (docs/proxy-config.md, "Delivery"):
 *
 *   metadata.name         weir-proxy-config
 *   labels                app.kubernetes.io/managed-by: weir-operator
 *                         app.kubernetes.io/name: weir-proxy-config
 *   annotations           weir.dev/revision: sha256:... (the document's
 *                         metadata.revision)
 *   data                  proxy-config.json: the document, compact JSON
 *
 * Written with server-side apply (field manager "weir-operator", forced), so
 * one request creates or updates, a ConfigMap deleted by hand is simply
 * created again, and fields other managers add (labels, annotations) are
 * kept. No ownerReferences: the only owner that would be valid is the
 * Namespace, whose deletion removes the ConfigMap anyway, and the operator's
 * own Deployment lives in another namespace, which owner references cannot
 * cross.
 *
 * A write happens only when the content changed: the desired revision and
 * bytes are compared with what the writer last wrote (its memo) and with the
 * ConfigMap the informer holds. The memo covers the moment between a write
 * and its watch event, when the informer still shows the old object; an
 * event that shows anything else than what was written (an edit by hand, a
 * deletion) clears the memo and re-queues the namespace, and a resync clears
 * every memo so drift is always repaired from the cluster's state.
 *
 * Size: the API server refuses a ConfigMap whose keys and values exceed
 * 1 MiB (1048576 bytes). A larger config is not sent; the proxies keep the
 * last one written, a Warning Event on the Namespace and an error log say
 * why (once per revision), and weir_operator_config_too_large_total counts.
 */
#ifndef WEIR_OP_WRITER_H
#define WEIR_OP_WRITER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube/client.h"
#include "kube/informer.h"
#include "metrics.h"
#include "result.h"
#include "translate/translate.h"

#define WEIR_OP_CONFIGMAP_NAME      "weir-proxy-config"
#define WEIR_OP_CONFIGMAP_KEY       "proxy-config.json"
#define WEIR_OP_REVISION_ANNOTATION "weir.dev/revision"
#define WEIR_OP_MANAGED_BY_LABEL    "app.kubernetes.io/managed-by"
#define WEIR_OP_MANAGED_BY          "weir-operator"
#define WEIR_OP_NAME_LABEL          "app.kubernetes.io/name"
#define WEIR_OP_FIELD_MANAGER       "weir-operator"
/* The API server's limit on a ConfigMap's keys and values together. */
#define WEIR_OP_CONFIGMAP_MAX (1u << 20)

/* What the writer last wrote to a namespace. */
struct weir_op_written {
    char revision[72];
    uint64_t digest; /* FNV-1a of the data bytes */
    size_t bytes;
    /* the ConfigMap's resourceVersion after the write ("": unknown) */
    char rv_after[32];
    /* set by weir_op_writer_forget_all: the memo no longer skips a write;
     * the informer's copy decides (see weir_op_writer_sync) */
    bool recheck;
};

enum weir_op_write_decision {
    WEIR_OP_WRITE_SKIP,      /* the cluster holds it already (or we just wrote it) */
    WEIR_OP_WRITE_APPLY,     /* create or update */
    WEIR_OP_WRITE_TOO_LARGE, /* over max_bytes: not sent */
};

const char *weir_op_write_decision_name(enum weir_op_write_decision d);

/* The pure rule. current: the ConfigMap as the informer holds it (NULL:
 * absent); memo: what was last written (NULL: nothing known; one with
 * recheck set counts as nothing known). */
enum weir_op_write_decision weir_op_write_decide(const json_t *current, const char *revision,
                                                 const char *data, size_t len,
                                                 const struct weir_op_written *memo,
                                                 size_t max_bytes);

/* The ConfigMap to apply; NULL when out of memory. */
json_t *weir_op_configmap_build(const char *ns, const char *revision, const char *data);

/* The managed ConfigMaps' informer transform: the proxy config (up to 1 MiB
 * per namespace) is replaced by its length and digest, all the writer needs
 * to know whether the cluster holds what it would write. */
void weir_op_configmap_slim(json_t *cm);

/* Whether a ConfigMap is one the writer manages (name and label). */
bool weir_op_configmap_is_ours(const json_t *cm);

/* The document as written into the ConfigMap (compact, keys sorted). */
char *weir_op_config_serialize(const json_t *doc, size_t *len);

struct weir_op_writer_options {
    struct weir_kube_client *client;
    struct weir_kube_informer *configmaps; /* the managed ConfigMaps (label selector) */
    struct weir_kube_informer *namespaces; /* for Events about too large configs */
    struct weir_op_metrics *metrics;       /* may be NULL */
    struct weir_op_gate gate;              /* leadership */
    size_t max_bytes;                      /* 0: WEIR_OP_CONFIGMAP_MAX */
    const char *instance;                  /* Events' reportingInstance */
};

struct weir_op_writer;

int weir_op_writer_new(const struct weir_op_writer_options *opts, struct weir_op_writer **out);
void weir_op_writer_free(struct weir_op_writer *w);

/* Makes the namespace's ConfigMap hold cfg. When the result is not
 * WEIR_OP_OK and why is not NULL, why gets one sentence saying what went
 * wrong, for the CRs' Reconciled condition. */
enum weir_op_result weir_op_writer_sync(struct weir_op_writer *w, const char *ns,
                                        const struct weir_translate_config *cfg, char *why,
                                        size_t why_len);

/* Whether the namespace's last config was refused as over the ConfigMap limit. */
bool weir_op_writer_too_large(struct weir_op_writer *w, const char *ns);

/* The namespace is not in the mesh (any more): deletes the ConfigMap if the
 * operator manages one there. */
enum weir_op_result weir_op_writer_remove(struct weir_op_writer *w, const char *ns);

/* From the ConfigMap informer: whether the namespace needs a reconcile
 * because the object differs from what was written (the memo is then
 * cleared). deleted: the object is gone. */
bool weir_op_writer_observe(struct weir_op_writer *w, const json_t *cm, bool deleted);

/* Resync, new leadership: the memos no longer skip a write, the informer's
 * copy decides, except while that informer has not yet caught up with the
 * writer's own last write to a namespace (its watch broke before the write's
 * event came back, an API server restart): the copy it holds then is older
 * than what was written, and writing the same content again would be a
 * duplicate. */
void weir_op_writer_forget_all(struct weir_op_writer *w);

#endif
