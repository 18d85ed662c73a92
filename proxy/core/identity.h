/*
 * The workload this proxy serves: its name, namespace and pod labels. They select
 * the config parts that apply to it (inbound ports, sourceLabels matches, policies)
 * and label its metrics. Read once at startup from flags or the environment the
 * injector sets (POD_NAME, POD_NAMESPACE, SERVICE_ACCOUNT) and from a downward-API
 * labels file; never changed afterwards.
 */
#ifndef WP_CORE_IDENTITY_H
#define WP_CORE_IDENTITY_H

#include "model/check.h"

struct wp_identity {
    char *pod_name;
    char *workload_name; /* the Deployment-like owner, derived from the pod name when not given */
    char *ns;
    char *service_account;
    struct weir_string_map labels;
};

/* Parses "k=v,k2=v2" into labels (appending). 0 or -1 with *err set. */
int wp_identity_parse_labels(struct wp_identity *id, const char *text, const char **err);
/* Reads a downward-API labels file: lines of k="v". 0 or -1 with *err set. */
int wp_identity_read_labels_file(struct wp_identity *id, const char *path, const char **err);
/* Fills what is still unset from the environment and derives the workload name. */
int wp_identity_finish(struct wp_identity *id);
void wp_identity_free(struct wp_identity *id);

#endif
