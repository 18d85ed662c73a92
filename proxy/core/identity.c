#include "core/identity.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_label(struct wp_identity *id, const char *k, size_t klen, const char *v, size_t vlen)
{
    struct weir_kv *n = realloc(id->labels.items, (id->labels.len + 1) * sizeof(*n));
    if (!n)
        return -1;
    id->labels.items = n;
    n[id->labels.len].key = strndup(k, klen);
    n[id->labels.len].value = strndup(v, vlen);
    if (!n[id->labels.len].key || !n[id->labels.len].value) {
        free(n[id->labels.len].key);
        free(n[id->labels.len].value);
        return -1;
    }
    id->labels.len++;
    return 0;
}

int wp_identity_parse_labels(struct wp_identity *id, const char *text, const char **err)
{
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, ','), *eq;
        if (!end)
            end = p + strlen(p);
        eq = memchr(p, '=', (size_t)(end - p));
        if (end > p) {
            if (!eq || eq == p) {
                *err = "a label must be written key=value";
                return -1;
            }
            if (add_label(id, p, (size_t)(eq - p), eq + 1, (size_t)(end - eq - 1)) < 0) {
                *err = "out of memory";
                return -1;
            }
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

int wp_identity_read_labels_file(struct wp_identity *id, const char *path, const char **err)
{
    FILE *f = fopen(path, "re");
    char line[4096];
    if (!f) {
        *err = "cannot open the labels file";
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        char *eq = strchr(line, '='), *v, *end;
        size_t vlen;
        if (!eq)
            continue;
        v = eq + 1;
        end = v + strlen(v);
        while (end > v && (end[-1] == '\n' || end[-1] == '\r'))
            end--;
        /* the downward API quotes values: app="reviews" */
        if (end - v >= 2 && v[0] == '"' && end[-1] == '"') {
            v++;
            end--;
        }
        vlen = (size_t)(end - v);
        if (add_label(id, line, (size_t)(eq - line), v, vlen) < 0) {
            fclose(f);
            *err = "out of memory";
            return -1;
        }
    }
    fclose(f);
    return 0;
}

static int set_from_env(char **dst, const char *var)
{
    const char *v = getenv(var);
    if (*dst || !v || !*v)
        return 0;
    *dst = strdup(v);
    return *dst ? 0 : -1;
}

static bool all_alnum_lower(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i])))
            return false;
    }
    return true;
}

int wp_identity_finish(struct wp_identity *id)
{
    if (set_from_env(&id->pod_name, "POD_NAME") < 0 || set_from_env(&id->ns, "POD_NAMESPACE") < 0 ||
        set_from_env(&id->service_account, "SERVICE_ACCOUNT") < 0 ||
        set_from_env(&id->workload_name, "WEIR_WORKLOAD_NAME") < 0)
        return -1;
    if (!id->labels.len) {
        const char *l = getenv("WEIR_POD_LABELS");
        const char *err;
        if (l && wp_identity_parse_labels(id, l, &err) < 0)
            return -1;
    }
    if (!id->workload_name && id->pod_name) {
        /* Deployment pods are named <deployment>-<pod-template-hash>-<5 chars>;
         * ReplicaSet-less owners (StatefulSet) keep their name up to the ordinal.
         * The label app.kubernetes.io/name or app is preferred when present. */
        const char *app = weir_string_map_get(&id->labels, "app.kubernetes.io/name");
        if (!app)
            app = weir_string_map_get(&id->labels, "app");
        if (app) {
            id->workload_name = strdup(app);
        } else {
            char *name = strdup(id->pod_name);
            if (!name)
                return -1;
            for (int k = 0; k < 2; k++) {
                char *dash = strrchr(name, '-');
                if (!dash || !all_alnum_lower(dash + 1, strlen(dash + 1)))
                    break;
                *dash = '\0';
            }
            id->workload_name = name;
        }
    }
    return 0;
}

void wp_identity_free(struct wp_identity *id)
{
    free(id->pod_name);
    free(id->workload_name);
    free(id->ns);
    free(id->service_account);
    weir_string_map_free(&id->labels);
    memset(id, 0, sizeof(*id));
}
