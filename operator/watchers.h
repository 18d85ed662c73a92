/*
 * The informers the operator runs, and what their events turn into: keys on
 * the work queue (operator/scope.h has the rule), and the few facts the rest
 * of the operator asks about between reconciles: which namespaces are in the
 * mesh, which hold mesh CRs or a managed ConfigMap, the mesh's trust domain.
 *
 *   informer            what                                   selector
 *   namespaces          mesh membership (injection labels)
 *   services            the service registry
 *   endpointslices      endpoints
 *   pods                labels (subsets), service accounts     not Succeeded/Failed
 *   6 mesh CR kinds     networking.istio.io, security.istio.io
 *   mesh-config         the mesh config ConfigMap              --namespace, name
 *   proxy-configmaps    the ConfigMaps the operator writes     managed-by label
 *
 * Every informer lists then watches (lib/kube/informer.h: resume from the
 * last resourceVersion, relist on 410, backoff on errors). The operator does
 * not use the informers' own resync: it resyncs on one timer of its own
 * (main.c) by queueing every namespace it knows.
 *
 * Handlers run on the informer threads and only take locks held briefly
 * (the namespace sets, the queue, the writer's memo).
 */
#ifndef WEIR_OP_WATCHERS_H
#define WEIR_OP_WATCHERS_H

#include <stdbool.h>
#include <stdio.h>

#include "kube/client.h"
#include "kube/informer.h"
#include "model/mesh.h"
#include "queue.h"
#include "status.h"
#include "writer.h"

/* The translation's inputs come first (reconcile.c snapshots that range). */
enum weir_op_watch {
    WEIR_OP_W_NAMESPACES,
    WEIR_OP_W_SERVICES,
    WEIR_OP_W_ENDPOINTSLICES,
    WEIR_OP_W_PODS,
    WEIR_OP_W_VIRTUALSERVICES,
    WEIR_OP_W_DESTINATIONRULES,
    WEIR_OP_W_SERVICEENTRIES,
    WEIR_OP_W_AUTHORIZATIONPOLICIES,
    WEIR_OP_W_PEERAUTHENTICATIONS,
    WEIR_OP_W_REQUESTAUTHENTICATIONS,
    WEIR_OP_W_RATELIMITPOLICIES,
    WEIR_OP_W_MESH_CONFIG,
    WEIR_OP_W_PROXY_CONFIGMAPS,
    WEIR_OP_W_COUNT,
};

#define WEIR_OP_W_FIRST_CR WEIR_OP_W_VIRTUALSERVICES
#define WEIR_OP_W_LAST_CR  WEIR_OP_W_RATELIMITPOLICIES

/* The informer name ("virtualservices") and resource of a watch. */
const char *weir_op_watch_name(enum weir_op_watch w);
const struct weir_kube_resource *weir_op_watch_resource(enum weir_op_watch w);
/* The watch of a mesh kind; WEIR_OP_W_COUNT for WEIR_KIND_NONE. */
enum weir_op_watch weir_op_watch_of_kind(enum weir_kind kind);

struct weir_op_watchers_options {
    struct weir_kube_client *client;
    struct weir_op_queue *queue;
    const char *namespace_;       /* where the mesh config lives */
    const char *mesh_config_name; /* NULL: weir-mesh-config */
    const char *root_namespace;   /* mesh-wide policies */
    int watch_timeout;            /* seconds per watch; 0: client-go's 5-10 min */
};

struct weir_op_watchers;

/* Creates the informers (not started). */
int weir_op_watchers_new(const struct weir_op_watchers_options *opts,
                         struct weir_op_watchers **out);
/* The writer and the status updater hear about ConfigMap and CR events. */
void weir_op_watchers_bind(struct weir_op_watchers *w, struct weir_op_writer *writer,
                           struct weir_op_status *status);
int weir_op_watchers_start(struct weir_op_watchers *w);
void weir_op_watchers_stop(struct weir_op_watchers *w);
void weir_op_watchers_free(struct weir_op_watchers *w);

/* Every informer has listed once. */
bool weir_op_watchers_synced(struct weir_op_watchers *w);

struct weir_kube_informer *weir_op_watchers_informer(struct weir_op_watchers *w,
                                                     enum weir_op_watch which);

bool weir_op_watchers_in_mesh(struct weir_op_watchers *w, const char *ns);
bool weir_op_watchers_has_crs(struct weir_op_watchers *w, const char *ns);
/* Whether what namespace ns holds can only change its own config: it is not
 * the root namespace, exports nothing and no ServiceEntry claims Service
 * names or addresses (translate.h, "Scoped translations"). */
bool weir_op_watchers_private(struct weir_op_watchers *w, const char *ns);
/* The namespaces that export something (new strings in a new array, free
 * each and the array). Returns 0, 1 when scoped translations are off (a
 * ServiceEntry claims Service names or addresses; *out is then NULL), or -1
 * when out of memory. */
int weir_op_watchers_exporting(struct weir_op_watchers *w, char ***out, size_t *n);

/* Queues every namespace in the mesh, holding CRs or holding a managed
 * ConfigMap. */
void weir_op_watchers_enqueue_all(struct weir_op_watchers *w);

/* The trust domain of the mesh config, malloc'd; NULL for the default. */
char *weir_op_watchers_trust_domain(struct weir_op_watchers *w);

/* Informer gauges and counters for /metrics. */
void weir_op_watchers_write_metrics(struct weir_op_watchers *w, FILE *out);

#endif
