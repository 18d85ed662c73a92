#include "model/mesh.h"

#include <stdlib.h>
#include <string.h>

#include "model/common.h"

static const struct {
    enum weir_kind kind;
    const char *group;
    const char *name;
} kinds[] = {
    {WEIR_KIND_VIRTUAL_SERVICE, "networking.istio.io", "VirtualService"},
    {WEIR_KIND_DESTINATION_RULE, "networking.istio.io", "DestinationRule"},
    {WEIR_KIND_SERVICE_ENTRY, "networking.istio.io", "ServiceEntry"},
    {WEIR_KIND_AUTHORIZATION_POLICY, "security.istio.io", "AuthorizationPolicy"},
    {WEIR_KIND_PEER_AUTHENTICATION, "security.istio.io", "PeerAuthentication"},
    {WEIR_KIND_REQUEST_AUTHENTICATION, "security.istio.io", "RequestAuthentication"},
    {WEIR_KIND_RATE_LIMIT_POLICY, "policy.weir.dev", "RateLimitPolicy"},
};

static const char *const networking_versions[] = {"v1", "v1beta1", "v1alpha3", NULL};
static const char *const security_versions[] = {"v1", "v1beta1", NULL};
static const char *const policy_versions[] = {"v1alpha1", NULL};

const char *weir_kind_name(enum weir_kind kind)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (kinds[i].kind == kind)
            return kinds[i].name;
    return NULL;
}

/* The group serving a mesh kind name, NULL when the name is not a mesh kind. */
static const char *mesh_group_of(const char *kind_name)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kind_name, kinds[i].name) == 0)
            return kinds[i].group;
    return NULL;
}

static bool group_is(const char *api_version, const char *group, const char **version)
{
    size_t n = strlen(group);
    if (strncmp(api_version, group, n) != 0 || api_version[n] != '/')
        return false;
    *version = api_version + n + 1;
    return true;
}

static bool version_in(const char *version, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(version, *list) == 0)
            return true;
    return false;
}

enum weir_kind weir_kind_lookup(const char *api_version, const char *kind, bool *group_known,
                                bool *version_served)
{
    const char *version = NULL;
    const char *const *served = NULL;

    *group_known = false;
    *version_served = false;
    if (!api_version || !kind)
        return WEIR_KIND_NONE;
    if (group_is(api_version, "networking.istio.io", &version))
        served = networking_versions;
    else if (group_is(api_version, "security.istio.io", &version))
        served = security_versions;
    else if (group_is(api_version, "policy.weir.dev", &version))
        served = policy_versions;
    else
        return WEIR_KIND_NONE;
    *group_known = true;
    *version_served = version_in(version, served);
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kind, kinds[i].name) == 0 &&
            strncmp(api_version, kinds[i].group, strlen(kinds[i].group)) == 0)
            return kinds[i].kind;
    return WEIR_KIND_NONE;
}

static void meta_free(struct weir_meta *m)
{
    free(m->api_version);
    free(m->name);
    free(m->namespace_);
    weir_string_map_free(&m->labels);
    weir_string_map_free(&m->annotations);
    free(m->resource_version);
    free(m->uid);
}

void weir_resource_free(struct weir_resource *r)
{
    if (!r)
        return;
    switch (r->kind) {
    case WEIR_KIND_VIRTUAL_SERVICE:
        weir_virtual_service_free(r->u.vs);
        break;
    case WEIR_KIND_DESTINATION_RULE:
        weir_destination_rule_free(r->u.dr);
        break;
    case WEIR_KIND_SERVICE_ENTRY:
        weir_service_entry_free(r->u.se);
        break;
    case WEIR_KIND_AUTHORIZATION_POLICY:
        weir_authorization_policy_free(r->u.ap);
        break;
    case WEIR_KIND_PEER_AUTHENTICATION:
        weir_peer_authentication_free(r->u.pa);
        break;
    case WEIR_KIND_REQUEST_AUTHENTICATION:
        weir_request_authentication_free(r->u.ra);
        break;
    case WEIR_KIND_RATE_LIMIT_POLICY:
        weir_rate_limit_policy_free(r->u.rl);
        break;
    case WEIR_KIND_NONE:
        break;
    }
    meta_free(&r->meta);
    free(r);
}

static const char *const metadata_fields[] = {
    "name",
    "namespace",
    "labels",
    "annotations",
    "generation",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "managedFields",
    "ownerReferences",
    "finalizers",
    "generateName",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    NULL,
};

static const char *const top_fields[] = {"apiVersion", "kind", "metadata", "spec", "status", NULL};

static void parse_meta(struct weir_check *c, const json_t *doc, const char *default_ns,
                       struct weir_meta *m)
{
    const json_t *md = weir_check_get(c, doc, "metadata", JSON_OBJECT, true);
    const char *ns = NULL;

    if (!md)
        return;
    weir_check_push_key(c, "metadata");
    weir_check_fields(c, md, metadata_fields, NULL);
    if (weir_get_string(c, md, "name", true, &m->name)) {
        const char *why = weir_valid_dns1123_subdomain(m->name);
        if (why) {
            weir_check_push_key(c, "name");
            weir_check_error(c, json_object_get(md, "name"), "%s", why);
            weir_check_pop(c);
        }
    }
    if (weir_get_string_borrowed(c, md, "namespace", false, &ns)) {
        const char *why = weir_valid_namespace(ns);
        if (why) {
            weir_check_push_key(c, "namespace");
            weir_check_error(c, json_object_get(md, "namespace"), "%s", why);
            weir_check_pop(c);
        }
    }
    m->namespace_ = strdup(ns ? ns : default_ns);
    weir_get_string_map(c, md, "labels", false, weir_valid_label_key, weir_valid_label_value,
                        &m->labels);
    weir_get_string_map(c, md, "annotations", false, NULL, NULL, &m->annotations);
    weir_get_int(c, md, "generation", false, 0, INT64_MAX, &m->generation);
    weir_get_string(c, md, "resourceVersion", false, &m->resource_version);
    weir_get_string(c, md, "uid", false, &m->uid);
    weir_check_pop(c);
}

int weir_mesh_parse(const json_t *doc, const struct weir_yaml_stream *src, int line,
                    const char *default_ns, struct weir_resource **out, struct weir_diags *diags)
{
    struct weir_check c;
    struct weir_resource *r;
    const char *api_version = NULL, *kind_name = NULL, *name = NULL, *ns = NULL;
    bool group_known, version_served;
    char object[320];

    *out = NULL;
    if (!default_ns)
        default_ns = "default";

    if (json_is_object(doc)) {
        const json_t *md = json_object_get(doc, "metadata");
        api_version = json_string_value(json_object_get(doc, "apiVersion"));
        kind_name = json_string_value(json_object_get(doc, "kind"));
        name = json_string_value(json_object_get(md, "name"));
        ns = json_string_value(json_object_get(md, "namespace"));
    }
    enum weir_kind kind = weir_kind_lookup(api_version, kind_name, &group_known, &version_served);

    /* The object's label for messages: "VirtualService default/reviews". */
    snprintf(object, sizeof(object), "%s %s/%s", kind_name ? kind_name : "object",
             ns ? ns : default_ns, name ? name : "(unnamed)");
    weir_check_init(&c, diags, src, object, line);

    if (!json_is_object(doc)) {
        weir_check_error(&c, doc, "a Kubernetes object must be a mapping, got %s",
                         weir_json_type_name(doc));
        return -1;
    }
    if (!api_version || !kind_name) {
        weir_check_error(&c, doc, "apiVersion and kind are required");
        return -1;
    }
    if (!group_known) {
        /* A mesh kind under a misspelt or versionless group would otherwise be
         * skipped as "not ours" and a broken manifest would pass. */
        const char *group = mesh_group_of(kind_name);
        if (group && (!strchr(api_version, '/') || strstr(api_version, "istio") ||
                      strstr(api_version, "weir"))) {
            weir_check_push_key(&c, "apiVersion");
            weir_check_error(&c, json_object_get(doc, "apiVersion"),
                             "%s does not serve %s; use %s/%s", api_version, kind_name, group,
                             strcmp(group, "policy.weir.dev") == 0 ? "v1alpha1" : "v1");
            return -1;
        }
        return 1;
    }
    if (kind == WEIR_KIND_NONE) {
        weir_check_push_key(&c, "kind");
        weir_check_error(&c, json_object_get(doc, "kind"), "%s is not a kind of %s", kind_name,
                         api_version);
        return -1;
    }
    if (!version_served) {
        weir_check_push_key(&c, "apiVersion");
        const char *use = strncmp(api_version, "security", 8) == 0 ? "v1 or v1beta1"
                          : strncmp(api_version, "policy", 6) == 0 ? "v1alpha1"
                                                                   : "v1, v1beta1 or v1alpha3";
        weir_check_error(&c, json_object_get(doc, "apiVersion"), "%s is not served; use %s",
                         api_version, use);
        return -1;
    }

    r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    r->kind = kind;
    r->line = line;
    r->meta.api_version = strdup(api_version);
    weir_check_fields(&c, doc, top_fields, NULL);
    parse_meta(&c, doc, default_ns, &r->meta);

    /* Every kind here has a spec; an empty one is meaningful for the security
     * kinds (an allow-nothing AuthorizationPolicy), so only its type is checked. */
    const json_t *spec = weir_check_get(&c, doc, "spec", JSON_OBJECT, false);
    json_t *empty = NULL;
    if (!spec)
        spec = empty = json_object();
    weir_check_push_key(&c, "spec");
    switch (kind) {
    case WEIR_KIND_VIRTUAL_SERVICE:
        r->u.vs = weir_virtual_service_parse(&c, spec);
        break;
    case WEIR_KIND_DESTINATION_RULE:
        r->u.dr = weir_destination_rule_parse(&c, spec);
        break;
    case WEIR_KIND_SERVICE_ENTRY:
        r->u.se = weir_service_entry_parse(&c, spec);
        break;
    case WEIR_KIND_AUTHORIZATION_POLICY:
        r->u.ap = weir_authorization_policy_parse(&c, spec);
        break;
    case WEIR_KIND_PEER_AUTHENTICATION:
        r->u.pa = weir_peer_authentication_parse(&c, spec);
        break;
    case WEIR_KIND_REQUEST_AUTHENTICATION:
        r->u.ra = weir_request_authentication_parse(&c, spec);
        break;
    case WEIR_KIND_RATE_LIMIT_POLICY:
        r->u.rl = weir_rate_limit_policy_parse(&c, spec);
        break;
    case WEIR_KIND_NONE:
        break;
    }
    weir_check_pop(&c);
    json_decref(empty);

    if (!r->u.any || !r->meta.api_version || !r->meta.namespace_ || c.errors > 0) {
        if (!r->u.any && c.errors == 0)
            weir_check_error(&c, doc, "out of memory");
        weir_resource_free(r);
        return -1;
    }
    *out = r;
    return 0;
}
