#include "model/authorization_policy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/common.h"

static const char *const policy_fields[] = {"selector", "targetRef", "targetRefs", "action",
                                            "provider", "rules",     NULL};
static const char *const policy_unsupported[] = {"targetRef", "targetRefs", "provider", NULL};
static const char *const rule_fields[] = {"from", "to", "when", NULL};
static const char *const from_fields[] = {"source", NULL};
static const char *const to_fields[] = {"operation", NULL};
static const char *const source_fields[] = {
    "principals", "notPrincipals", "requestPrincipals", "notRequestPrincipals",
    "namespaces", "notNamespaces", "serviceAccounts",   "notServiceAccounts",
    "ipBlocks",   "notIpBlocks",   "remoteIpBlocks",    "notRemoteIpBlocks",
    NULL,
};
static const char *const operation_fields[] = {
    "hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths", NULL};
static const char *const condition_fields[] = {"key", "values", "notValues", NULL};
static const char *const provider_fields[] = {"name", NULL};
static const char *const target_ref_fields[] = {"group", "kind", "name", "namespace", NULL};

static const char *const action_names[] = {
    [WEIR_AUTHZ_ALLOW] = "ALLOW",
    [WEIR_AUTHZ_DENY] = "DENY",
    [WEIR_AUTHZ_AUDIT] = "AUDIT",
    [WEIR_AUTHZ_CUSTOM] = "CUSTOM",
};

const char *weir_authz_action_name(enum weir_authz_action action)
{
    if ((size_t)action < sizeof(action_names) / sizeof(action_names[0]))
        return action_names[action];
    return "?";
}

enum weir_authz_value_type weir_authz_key_value_type(enum weir_authz_key key)
{
    switch (key) {
    case WEIR_AUTHZ_KEY_SOURCE_IP:
    case WEIR_AUTHZ_KEY_REMOTE_IP:
    case WEIR_AUTHZ_KEY_DESTINATION_IP:
        return WEIR_AUTHZ_VALUES_IP;
    case WEIR_AUTHZ_KEY_DESTINATION_PORT:
        return WEIR_AUTHZ_VALUES_PORT;
    case WEIR_AUTHZ_KEY_SOURCE_SERVICE_ACCOUNT:
        return WEIR_AUTHZ_VALUES_SERVICE_ACCOUNT;
    default:
        return WEIR_AUTHZ_VALUES_STRING;
    }
}

/* ---- shared by the security kinds ---- */

int weir_parse_port_text(const char *text, uint16_t *port)
{
    unsigned long n = 0;
    size_t len = strlen(text);

    /* Digits only and no leading zero, so "080" and "80" cannot name the same
     * port twice in one map. */
    if (len == 0 || len > 5 || text[0] == '0')
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        n = n * 10 + (unsigned long)(text[i] - '0');
    }
    if (n < 1 || n > 65535)
        return -1;
    *port = (uint16_t)n;
    return 0;
}

void weir_get_policy_selector(struct weir_check *c, const json_t *spec,
                              struct weir_string_map *match_labels)
{
    const json_t *sel = json_object_get(spec, "selector");

    weir_get_workload_selector(c, spec, "selector", match_labels);
    if (json_is_object(sel) && match_labels->len == 0) {
        const json_t *labels = json_object_get(sel, "matchLabels");
        /* Only when the labels are really absent or empty, not when they were
         * all rejected (those already have errors). */
        if (!labels || json_is_null(labels) ||
            (json_is_object(labels) && json_object_size(labels) == 0)) {
            weir_check_push_key(c, "selector");
            weir_check_warning(c, sel,
                               "has no labels, so the policy applies to every workload in its "
                               "namespace");
            weir_check_pop(c);
        }
    }
}

static bool get_nonempty_string(struct weir_check *c, const json_t *obj, const char *key,
                                bool required, char **out)
{
    const char *s;
    if (!weir_get_string_borrowed(c, obj, key, required, &s))
        return false;
    if (!*s) {
        weir_check_push_key(c, key);
        weir_check_error(c, json_object_get(obj, key), "must not be empty");
        weir_check_pop(c);
        return false;
    }
    *out = strdup(s);
    if (!*out) {
        weir_check_error(c, obj, "out of memory");
        return false;
    }
    return true;
}

static void parse_target_ref(struct weir_check *c, const json_t *v,
                             struct weir_policy_target_ref *ref)
{
    const char *ns;

    weir_check_fields(c, v, target_ref_fields, NULL);
    if (!weir_get_string(c, v, "group", false, &ref->group))
        ref->group = strdup("");
    get_nonempty_string(c, v, "kind", true, &ref->kind);
    if (get_nonempty_string(c, v, "name", true, &ref->name)) {
        const char *why = weir_valid_dns1123_subdomain(ref->name);
        if (why) {
            weir_check_push_key(c, "name");
            weir_check_error(c, json_object_get(v, "name"), "%s, got \"%s\"", why, ref->name);
            weir_check_pop(c);
        }
    }
    if (weir_get_string_borrowed(c, v, "namespace", false, &ns) && *ns) {
        const char *why = weir_valid_namespace(ns);
        if (why) {
            weir_check_push_key(c, "namespace");
            weir_check_error(c, json_object_get(v, "namespace"), "%s, got \"%s\"", why, ns);
            weir_check_pop(c);
        } else {
            ref->namespace_ = strdup(ns);
        }
    }
}

void weir_get_policy_targets(struct weir_check *c, const json_t *spec,
                             struct weir_policy_target_refs *out)
{
    const json_t *one = weir_check_get(c, spec, "targetRef", JSON_OBJECT, false);
    const json_t *many = weir_check_get(c, spec, "targetRefs", JSON_ARRAY, false);
    const json_t *sel = json_object_get(spec, "selector");
    size_t cap = (one ? 1 : 0) + (many ? json_array_size(many) : 0);
    int set = (one ? 1 : 0) + (many && json_array_size(many) > 0 ? 1 : 0) +
              (sel && !json_is_null(sel) ? 1 : 0);

    out->items = NULL;
    out->len = 0;
    if (set > 1)
        weir_check_error(c, spec, "only one of selector, targetRef and targetRefs may be set");
    if (cap == 0)
        return;
    out->items = calloc(cap, sizeof(*out->items));
    if (!out->items) {
        weir_check_error(c, spec, "out of memory");
        return;
    }
    if (one) {
        weir_check_push_key(c, "targetRef");
        parse_target_ref(c, one, &out->items[out->len++]);
        weir_check_pop(c);
    }
    if (many) {
        size_t i;
        json_t *item;
        weir_check_push_key(c, "targetRefs");
        json_array_foreach(many, i, item)
        {
            weir_check_push_index(c, i);
            if (weir_check_is_object(c, item))
                parse_target_ref(c, item, &out->items[out->len++]);
            weir_check_pop(c);
        }
        weir_check_pop(c);
    }
}

void weir_policy_target_refs_free(struct weir_policy_target_refs *t)
{
    for (size_t i = 0; i < t->len; i++) {
        free(t->items[i].group);
        free(t->items[i].kind);
        free(t->items[i].name);
        free(t->items[i].namespace_);
    }
    free(t->items);
    t->items = NULL;
    t->len = 0;
}

/* ---- value lists ---- */

/* Reasons that quote the offending value are formatted here; one buffer per
 * thread, like weir_regex_error. */
static _Thread_local char reason_buf[600];

/* The string at an array position, or NULL with the error recorded. Istio
 * refuses empty values everywhere in a rule. */
static const char *item_string(struct weir_check *c, const json_t *item)
{
    if (!json_is_string(item)) {
        weir_check_error(c, item, "must be a string, got %s", weir_json_type_name(item));
        return NULL;
    }
    if (json_string_value(item)[0] == '\0') {
        weir_check_error(c, item, "must not be empty");
        return NULL;
    }
    return json_string_value(item);
}

/* The array obj[key], or NULL when absent or mistyped. */
static const json_t *get_array(struct weir_check *c, const json_t *obj, const char *key)
{
    return weir_check_get(c, obj, key, JSON_ARRAY, false);
}

/* Istio reads '*' only as the whole value or at one end; anywhere else it is
 * a literal character, which is never what the author of "a*b" or "*.internal*"
 * meant. */
static const char *wildcard_error(const char *s)
{
    size_t n = strlen(s);
    bool bad = false;

    if (strcmp(s, "*") == 0)
        return NULL;
    for (size_t i = 1; i + 1 < n; i++)
        if (s[i] == '*')
            bad = true;
    if (n > 1 && s[0] == '*' && s[n - 1] == '*')
        bad = true;
    if (!bad)
        return NULL;
    snprintf(reason_buf, sizeof(reason_buf),
             "wildcard '*' is only allowed alone, as a prefix or as a suffix, got \"%.400s\"", s);
    return reason_buf;
}

static bool is_path_template(const char *s)
{
    return strstr(s, "{*}") || strstr(s, "{**}");
}

/* Path templates as Envoy's URI template matcher takes them: every operator is
 * a whole segment, and {**} (which may swallow slashes) comes last. */
static const char *path_template_error(const char *s)
{
    const char *p = s;
    bool seen_any = false;

    if (s[0] != '/') {
        snprintf(reason_buf, sizeof(reason_buf),
                 "a path template must start with '/', got \"%.400s\"", s);
        return reason_buf;
    }
    while (*p == '/') {
        const char *seg = p + 1;
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        bool one = n == 3 && strncmp(seg, "{*}", 3) == 0;
        bool any = n == 4 && strncmp(seg, "{**}", 4) == 0;

        if (one || any) {
            if (seen_any) {
                snprintf(reason_buf, sizeof(reason_buf),
                         "{**} must be the last operator of a path template, got \"%.400s\"", s);
                return reason_buf;
            }
            seen_any = any;
        } else {
            for (size_t i = 0; i < n; i++) {
                if (seg[i] == '*' || seg[i] == '{' || seg[i] == '}') {
                    snprintf(reason_buf, sizeof(reason_buf),
                             "path template operators must be whole segments {*} or {**}, "
                             "got \"%.400s\"",
                             s);
                    return reason_buf;
                }
            }
        }
        p = seg + n;
    }
    return NULL;
}

enum match_flavor {
    FLAVOR_PLAIN,
    FLAVOR_PATH,   /* may be a template */
    FLAVOR_METHOD, /* warns on lower case */
};

static int match_of(const char *s, enum match_flavor flavor, struct weir_authz_match *m)
{
    size_t n = strlen(s);
    const char *from = s;

    if (flavor == FLAVOR_PATH && is_path_template(s)) {
        m->kind = WEIR_AUTHZ_MATCH_TEMPLATE;
    } else if (strcmp(s, "*") == 0) {
        m->kind = WEIR_AUTHZ_MATCH_PRESENCE;
        from = s + 1;
        n = 0;
    } else if (s[0] == '*') {
        m->kind = WEIR_AUTHZ_MATCH_SUFFIX;
        from = s + 1;
        n--;
    } else if (s[n - 1] == '*') {
        m->kind = WEIR_AUTHZ_MATCH_PREFIX;
        n--;
    } else {
        m->kind = WEIR_AUTHZ_MATCH_EXACT;
    }
    m->value = strndup(from, n);
    return m->value ? 0 : -1;
}

static bool has_lower(const char *s)
{
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z')
            return true;
    return false;
}

static void get_matches(struct weir_check *c, const json_t *obj, const char *key,
                        enum match_flavor flavor, struct weir_authz_matches *out)
{
    const json_t *arr = get_array(c, obj, key);
    size_t i;
    json_t *item;

    out->items = NULL;
    out->len = 0;
    if (!arr || json_array_size(arr) == 0)
        return;
    out->items = calloc(json_array_size(arr), sizeof(*out->items));
    if (!out->items) {
        weir_check_error(c, arr, "out of memory");
        return;
    }
    weir_check_push_key(c, key);
    json_array_foreach(arr, i, item)
    {
        weir_check_push_index(c, i);
        const char *s = item_string(c, item);
        const char *why = NULL;
        if (s) {
            why = flavor == FLAVOR_PATH && is_path_template(s) ? path_template_error(s)
                                                               : wildcard_error(s);
            if (why)
                weir_check_error(c, item, "%s", why);
        }
        if (s && !why) {
            if (flavor == FLAVOR_PATH && s[0] != '/' && s[0] != '*')
                weir_check_warning(c, item, "request paths start with '/', so \"%s\" never matches",
                                   s);
            if (flavor == FLAVOR_METHOD && has_lower(s)) {
                char upper[64];
                size_t k;
                for (k = 0; s[k] && k + 1 < sizeof(upper); k++)
                    upper[k] = (s[k] >= 'a' && s[k] <= 'z') ? (char)(s[k] - 'a' + 'A') : s[k];
                upper[k] = '\0';
                weir_check_warning(c, item,
                                   "HTTP methods are case-sensitive, \"%s\" never matches; "
                                   "use \"%s\"",
                                   s, upper);
            }
            if (match_of(s, flavor, &out->items[out->len]) == 0)
                out->len++;
            else
                weir_check_error(c, item, "out of memory");
        }
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

static const char *cidr_of(const char *s, struct weir_cidr *out)
{
    char ip[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    const char *why = weir_valid_cidr(s);

    if (why) {
        snprintf(reason_buf, sizeof(reason_buf), "%s, got \"%.400s\"", why, s);
        return reason_buf;
    }
    /* weir_valid_cidr accepted it, so the address part fits and parses. */
    memcpy(ip, s, n);
    ip[n] = '\0';
    memset(out->addr, 0, sizeof(out->addr));
    if (inet_pton(AF_INET, ip, out->addr) == 1) {
        out->version = 4;
        out->prefix_len = 32;
    } else {
        inet_pton(AF_INET6, ip, out->addr);
        out->version = 6;
        out->prefix_len = 128;
    }
    if (slash)
        out->prefix_len = (uint8_t)atoi(slash + 1);
    return NULL;
}

static void get_cidrs(struct weir_check *c, const json_t *obj, const char *key,
                      struct weir_cidrs *out)
{
    const json_t *arr = get_array(c, obj, key);
    size_t i;
    json_t *item;

    out->items = NULL;
    out->len = 0;
    if (!arr || json_array_size(arr) == 0)
        return;
    out->items = calloc(json_array_size(arr), sizeof(*out->items));
    if (!out->items) {
        weir_check_error(c, arr, "out of memory");
        return;
    }
    weir_check_push_key(c, key);
    json_array_foreach(arr, i, item)
    {
        weir_check_push_index(c, i);
        const char *s = item_string(c, item);
        if (s) {
            struct weir_cidr *cidr = &out->items[out->len];
            const char *why = cidr_of(s, cidr);
            if (why) {
                weir_check_error(c, item, "%s", why);
            } else if (!(cidr->text = strdup(s))) {
                weir_check_error(c, item, "out of memory");
            } else {
                out->len++;
            }
        }
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

static void get_ports(struct weir_check *c, const json_t *obj, const char *key,
                      struct weir_ports *out)
{
    const json_t *arr = get_array(c, obj, key);
    size_t i;
    json_t *item;

    out->items = NULL;
    out->len = 0;
    if (!arr || json_array_size(arr) == 0)
        return;
    out->items = calloc(json_array_size(arr), sizeof(*out->items));
    if (!out->items) {
        weir_check_error(c, arr, "out of memory");
        return;
    }
    weir_check_push_key(c, key);
    json_array_foreach(arr, i, item)
    {
        weir_check_push_index(c, i);
        const char *s = item_string(c, item);
        if (s && weir_parse_port_text(s, &out->items[out->len]) != 0)
            weir_check_error(c, item, "must be a port number 1..65535, got \"%s\"", s);
        else if (s)
            out->len++;
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

/* Istio's limits on serviceAccounts lists (its CRD schema). */
#define MAX_SERVICE_ACCOUNTS    16
#define MAX_SERVICE_ACCOUNT_LEN 320

static const char *service_account_of(const char *s, struct weir_service_account *out)
{
    const char *slash = strchr(s, '/');
    char ns[64];
    size_t n = slash ? (size_t)(slash - s) : 0;

    if (strlen(s) > MAX_SERVICE_ACCOUNT_LEN) {
        snprintf(reason_buf, sizeof(reason_buf), "must be at most %d characters",
                 MAX_SERVICE_ACCOUNT_LEN);
        return reason_buf;
    }
    if (strchr(s, '*')) {
        snprintf(reason_buf, sizeof(reason_buf),
                 "service accounts are matched exactly, without wildcards, got \"%.400s\"", s);
        return reason_buf;
    }
    if (!slash || n == 0 || n >= sizeof(ns) || weir_valid_dns1123_subdomain(slash + 1)) {
        snprintf(reason_buf, sizeof(reason_buf),
                 "must be a service account as <namespace>/<name>, got \"%.400s\"", s);
        return reason_buf;
    }
    memcpy(ns, s, n);
    ns[n] = '\0';
    if (weir_valid_namespace(ns)) {
        snprintf(reason_buf, sizeof(reason_buf),
                 "must be a service account as <namespace>/<name>, got \"%.400s\"", s);
        return reason_buf;
    }
    out->namespace_ = strdup(ns);
    out->name = strdup(slash + 1);
    if (!out->namespace_ || !out->name) {
        free(out->namespace_);
        free(out->name);
        out->namespace_ = out->name = NULL;
        return "out of memory";
    }
    return NULL;
}

static void get_service_accounts(struct weir_check *c, const json_t *obj, const char *key,
                                 struct weir_service_accounts *out)
{
    const json_t *arr = get_array(c, obj, key);
    size_t i;
    json_t *item;

    out->items = NULL;
    out->len = 0;
    if (!arr || json_array_size(arr) == 0)
        return;
    weir_check_push_key(c, key);
    if (json_array_size(arr) > MAX_SERVICE_ACCOUNTS)
        weir_check_error(c, arr, "must list at most %d service accounts, got %zu",
                         MAX_SERVICE_ACCOUNTS, json_array_size(arr));
    out->items = calloc(json_array_size(arr), sizeof(*out->items));
    if (!out->items) {
        weir_check_error(c, arr, "out of memory");
        weir_check_pop(c);
        return;
    }
    json_array_foreach(arr, i, item)
    {
        weir_check_push_index(c, i);
        const char *s = item_string(c, item);
        const char *why = s ? service_account_of(s, &out->items[out->len]) : NULL;
        if (why)
            weir_check_error(c, item, "%s", why);
        else if (s)
            out->len++;
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

static void service_accounts_free(struct weir_service_accounts *m)
{
    for (size_t i = 0; i < m->len; i++) {
        free(m->items[i].namespace_);
        free(m->items[i].name);
    }
    free(m->items);
}

static void matches_free(struct weir_authz_matches *m)
{
    for (size_t i = 0; i < m->len; i++)
        free(m->items[i].value);
    free(m->items);
}

static void cidrs_free(struct weir_cidrs *m)
{
    for (size_t i = 0; i < m->len; i++)
        free(m->items[i].text);
    free(m->items);
}

/* ---- rules ---- */

/* What the walk of one rule learns for the checks that span fields. */
struct rule_ctx {
    enum weir_authz_action action;
    bool tcp_in_from; /* a source names an attribute a plain TCP connection has */
    bool tcp_in_to;   /* an operation names ports */
};

static bool array_given(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_array(v) && json_array_size(v) > 0;
}

static bool mistyped(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v) && !json_is_array(v);
}

/* Istio refuses identity matches in a CUSTOM policy (its translation of the
 * external-authorization trigger does not carry them); refusing them too keeps
 * the two accepting the same objects. */
static void check_custom_field(struct weir_check *c, const json_t *obj, const char *key,
                               const struct rule_ctx *ctx)
{
    if (ctx->action != WEIR_AUTHZ_CUSTOM || !array_given(obj, key))
        return;
    weir_check_push_key(c, key);
    weir_check_error(c, json_object_get(obj, key), "not supported with action CUSTOM");
    weir_check_pop(c);
}

static void parse_source(struct weir_check *c, const json_t *v, struct weir_authz_source *s,
                         struct rule_ctx *ctx)
{
    static const char *const identity_fields[] = {
        "principals",           "notPrincipals",      "requestPrincipals",
        "notRequestPrincipals", "namespaces",         "notNamespaces",
        "serviceAccounts",      "notServiceAccounts", NULL,
    };
    bool any = false;

    weir_check_fields(c, v, source_fields, NULL);
    get_matches(c, v, "principals", FLAVOR_PLAIN, &s->principals);
    get_matches(c, v, "notPrincipals", FLAVOR_PLAIN, &s->not_principals);
    get_matches(c, v, "requestPrincipals", FLAVOR_PLAIN, &s->request_principals);
    get_matches(c, v, "notRequestPrincipals", FLAVOR_PLAIN, &s->not_request_principals);
    get_matches(c, v, "namespaces", FLAVOR_PLAIN, &s->namespaces);
    get_matches(c, v, "notNamespaces", FLAVOR_PLAIN, &s->not_namespaces);
    get_service_accounts(c, v, "serviceAccounts", &s->service_accounts);
    get_service_accounts(c, v, "notServiceAccounts", &s->not_service_accounts);
    get_cidrs(c, v, "ipBlocks", &s->ip_blocks);
    get_cidrs(c, v, "notIpBlocks", &s->not_ip_blocks);
    get_cidrs(c, v, "remoteIpBlocks", &s->remote_ip_blocks);
    get_cidrs(c, v, "notRemoteIpBlocks", &s->not_remote_ip_blocks);
    for (int i = 0; identity_fields[i]; i++)
        check_custom_field(c, v, identity_fields[i], ctx);
    /* A service account is a namespace plus a name: next to principals or
     * namespaces the two would have to agree, and Istio refuses the mix. */
    if ((array_given(v, "serviceAccounts") || array_given(v, "notServiceAccounts")) &&
        (array_given(v, "principals") || array_given(v, "notPrincipals") ||
         array_given(v, "namespaces") || array_given(v, "notNamespaces")))
        weir_check_error(c, v, "serviceAccounts cannot be combined with principals or namespaces");

    for (int i = 0; source_fields[i]; i++) {
        if (!array_given(v, source_fields[i]))
            continue;
        any = true;
        /* Everything but the JWT identity is known on a plain TCP connection. */
        if (strcmp(source_fields[i], "requestPrincipals") != 0 &&
            strcmp(source_fields[i], "notRequestPrincipals") != 0)
            ctx->tcp_in_from = true;
    }
    if (!any)
        weir_check_error(c, v, "must not be empty");
}

static void parse_operation(struct weir_check *c, const json_t *v, struct weir_authz_operation *op,
                            struct rule_ctx *ctx)
{
    bool any = false;

    weir_check_fields(c, v, operation_fields, NULL);
    get_matches(c, v, "hosts", FLAVOR_PLAIN, &op->hosts);
    get_matches(c, v, "notHosts", FLAVOR_PLAIN, &op->not_hosts);
    get_ports(c, v, "ports", &op->ports);
    get_ports(c, v, "notPorts", &op->not_ports);
    get_matches(c, v, "methods", FLAVOR_METHOD, &op->methods);
    get_matches(c, v, "notMethods", FLAVOR_METHOD, &op->not_methods);
    get_matches(c, v, "paths", FLAVOR_PATH, &op->paths);
    get_matches(c, v, "notPaths", FLAVOR_PATH, &op->not_paths);

    for (int i = 0; operation_fields[i]; i++)
        if (array_given(v, operation_fields[i]))
            any = true;
    if (array_given(v, "ports") || array_given(v, "notPorts"))
        ctx->tcp_in_to = true;
    if (!any)
        weir_check_error(c, v, "must not be empty");
}

/* "[a][b]" after a key prefix into {"a", "b"}; -1 when malformed. */
static int parse_brackets(const char *s, struct weir_strings *out)
{
    size_t n = 0, cap = 0;
    for (const char *p = s; *p; p++)
        if (*p == '[')
            cap++;
    out->items = NULL;
    out->len = 0;
    if (cap == 0 || *s != '[')
        return -1;
    out->items = calloc(cap, sizeof(*out->items));
    if (!out->items)
        return -1;
    while (*s) {
        const char *close;
        if (*s != '[' || !(close = strchr(s + 1, ']')) || close == s + 1)
            goto fail;
        for (const char *p = s + 1; p < close; p++)
            if (*p == '[')
                goto fail;
        if (!(out->items[n] = strndup(s + 1, (size_t)(close - s - 1))))
            goto fail;
        out->len = ++n;
        s = close + 1;
    }
    return 0;
fail:
    weir_strings_free(out);
    return -1;
}

static const struct {
    const char *name;
    enum weir_authz_key key;
} plain_keys[] = {
    {"source.ip", WEIR_AUTHZ_KEY_SOURCE_IP},
    {"remote.ip", WEIR_AUTHZ_KEY_REMOTE_IP},
    {"source.namespace", WEIR_AUTHZ_KEY_SOURCE_NAMESPACE},
    {"source.principal", WEIR_AUTHZ_KEY_SOURCE_PRINCIPAL},
    {"source.serviceAccount", WEIR_AUTHZ_KEY_SOURCE_SERVICE_ACCOUNT},
    {"request.auth.principal", WEIR_AUTHZ_KEY_REQUEST_PRINCIPAL},
    {"request.auth.audiences", WEIR_AUTHZ_KEY_REQUEST_AUDIENCES},
    {"request.auth.presenter", WEIR_AUTHZ_KEY_REQUEST_PRESENTER},
    {"destination.ip", WEIR_AUTHZ_KEY_DESTINATION_IP},
    {"destination.port", WEIR_AUTHZ_KEY_DESTINATION_PORT},
    {"connection.sni", WEIR_AUTHZ_KEY_CONNECTION_SNI},
};

#define HEADERS_PREFIX        "request.headers"
#define INLINE_HEADERS_PREFIX "request.experimental.inline.headers"
#define CLAIMS_PREFIX         "request.auth.claims"
#define EXPERIMENTAL_PREFIX   "experimental.envoy.filters."

/* Classifies a condition key. Returns true when it is one Istio accepts; on
 * false an error has been recorded at the current path (the key). */
static bool parse_key(struct weir_check *c, const json_t *at, const char *key,
                      struct weir_authz_condition *cond)
{
    for (size_t i = 0; i < sizeof(plain_keys) / sizeof(plain_keys[0]); i++) {
        if (strcmp(key, plain_keys[i].name) == 0) {
            cond->key = plain_keys[i].key;
            return true;
        }
    }
    bool inline_header = strncmp(key, INLINE_HEADERS_PREFIX, strlen(INLINE_HEADERS_PREFIX)) == 0;
    if (inline_header || strncmp(key, HEADERS_PREFIX, strlen(HEADERS_PREFIX)) == 0) {
        const char *prefix = inline_header ? INLINE_HEADERS_PREFIX : HEADERS_PREFIX;
        struct weir_strings names;
        const char *why;
        if (parse_brackets(key + strlen(prefix), &names) != 0 || names.len != 1) {
            weir_strings_free(&names);
            weir_check_error(c, at, "must name one header as %s[<name>], got \"%s\"", prefix, key);
            return false;
        }
        /* Pseudo-headers such as :authority are matchable too. */
        const char *name = names.items[0][0] == ':' ? names.items[0] + 1 : names.items[0];
        if ((why = weir_valid_header_name(name))) {
            weir_check_error(c, at, "%s, got \"%s\"", why, key);
            weir_strings_free(&names);
            return false;
        }
        cond->key =
            inline_header ? WEIR_AUTHZ_KEY_REQUEST_INLINE_HEADER : WEIR_AUTHZ_KEY_REQUEST_HEADER;
        cond->header = names.items[0];
        free(names.items);
        if (inline_header)
            weir_check_unsupported(c, at, "condition key %s[...] is not supported by Weir yet",
                                   INLINE_HEADERS_PREFIX);
        return true;
    }
    if (strncmp(key, CLAIMS_PREFIX, strlen(CLAIMS_PREFIX)) == 0) {
        if (parse_brackets(key + strlen(CLAIMS_PREFIX), &cond->claim) != 0) {
            weir_check_error(c, at,
                             "must name a claim as request.auth.claims[<claim>] "
                             "(nested: [<claim>][<field>]), got \"%s\"",
                             key);
            return false;
        }
        cond->key = WEIR_AUTHZ_KEY_REQUEST_CLAIM;
        return true;
    }
    if (strncmp(key, EXPERIMENTAL_PREFIX, strlen(EXPERIMENTAL_PREFIX)) == 0) {
        const char *open = strchr(key, '[');
        size_t n = strlen(key);
        if (!open || key[n - 1] != ']' || open + 1 >= key + n - 1) {
            weir_check_error(c, at, "must have the form %s<filter>[<key>], got \"%s\"",
                             EXPERIMENTAL_PREFIX, key);
            return false;
        }
        cond->key = WEIR_AUTHZ_KEY_EXPERIMENTAL;
        weir_check_unsupported(c, at, "condition key %s* is not supported by Weir yet",
                               EXPERIMENTAL_PREFIX);
        return true;
    }
    if (strcmp(key, "destination.namespace") == 0)
        weir_check_error(c, at, "destination.namespace is replaced by the policy's namespace");
    else if (strncmp(key, "destination.labels", 18) == 0)
        weir_check_error(c, at, "destination.labels is replaced by the policy's selector");
    else if (strcmp(key, "destination.name") == 0 || strcmp(key, "destination.user") == 0)
        weir_check_error(c, at, "%s was removed after security.istio.io/v1alpha1", key);
    else
        weir_check_error(c, at, "unknown condition key \"%s\"", key);
    return false;
}

static void get_condition_values(struct weir_check *c, const json_t *v, const char *key,
                                 enum weir_authz_value_type type, struct weir_authz_matches *m,
                                 struct weir_cidrs *ips, struct weir_ports *ports,
                                 struct weir_service_accounts *sas)
{
    switch (type) {
    case WEIR_AUTHZ_VALUES_SERVICE_ACCOUNT:
        get_service_accounts(c, v, key, sas);
        break;
    case WEIR_AUTHZ_VALUES_IP:
        get_cidrs(c, v, key, ips);
        break;
    case WEIR_AUTHZ_VALUES_PORT:
        get_ports(c, v, key, ports);
        break;
    case WEIR_AUTHZ_VALUES_STRING:
        get_matches(c, v, key, FLAVOR_PLAIN, m);
        break;
    }
}

/* The attributes a CUSTOM policy cannot test (see check_custom_field). */
static bool is_identity_key(enum weir_authz_key key)
{
    switch (key) {
    case WEIR_AUTHZ_KEY_SOURCE_NAMESPACE:
    case WEIR_AUTHZ_KEY_SOURCE_PRINCIPAL:
    case WEIR_AUTHZ_KEY_SOURCE_SERVICE_ACCOUNT:
    case WEIR_AUTHZ_KEY_REQUEST_PRINCIPAL:
    case WEIR_AUTHZ_KEY_REQUEST_AUDIENCES:
    case WEIR_AUTHZ_KEY_REQUEST_PRESENTER:
    case WEIR_AUTHZ_KEY_REQUEST_CLAIM:
        return true;
    default:
        return false;
    }
}

static void parse_condition(struct weir_check *c, const json_t *v,
                            struct weir_authz_condition *cond, const struct rule_ctx *ctx)
{
    const char *key;
    bool known = false;

    weir_check_fields(c, v, condition_fields, NULL);
    if (weir_get_string_borrowed(c, v, "key", true, &key)) {
        const json_t *at = json_object_get(v, "key");
        weir_check_push_key(c, "key");
        if (!*key) {
            weir_check_error(c, at, "must not be empty");
        } else if ((known = parse_key(c, at, key, cond))) {
            if (!(cond->key_text = strdup(key)))
                weir_check_error(c, at, "out of memory");
            if (ctx->action == WEIR_AUTHZ_CUSTOM && is_identity_key(cond->key))
                weir_check_error(c, at, "\"%s\" is not supported with action CUSTOM", key);
        }
        weir_check_pop(c);
    }
    /* An unknown key gives no value type: check the values as plain strings
     * so their own mistakes still show, then drop them. */
    enum weir_authz_value_type type =
        known ? weir_authz_key_value_type(cond->key) : WEIR_AUTHZ_VALUES_STRING;
    get_condition_values(c, v, "values", type, &cond->values, &cond->ip_values, &cond->port_values,
                         &cond->sa_values);
    get_condition_values(c, v, "notValues", type, &cond->not_values, &cond->not_ip_values,
                         &cond->not_port_values, &cond->not_sa_values);
    /* A mistyped list already has its error; do not add a second one. */
    if (!array_given(v, "values") && !array_given(v, "notValues") && !mistyped(v, "values") &&
        !mistyped(v, "notValues"))
        weir_check_error(c, v, "at least one of values or notValues must be set");
}

static void condition_free(struct weir_authz_condition *cond)
{
    free(cond->key_text);
    free(cond->header);
    weir_strings_free(&cond->claim);
    matches_free(&cond->values);
    matches_free(&cond->not_values);
    cidrs_free(&cond->ip_values);
    cidrs_free(&cond->not_ip_values);
    free(cond->port_values.items);
    free(cond->not_port_values.items);
    service_accounts_free(&cond->sa_values);
    service_accounts_free(&cond->not_sa_values);
}

static void source_free(struct weir_authz_source *s)
{
    matches_free(&s->principals);
    matches_free(&s->not_principals);
    matches_free(&s->request_principals);
    matches_free(&s->not_request_principals);
    matches_free(&s->namespaces);
    matches_free(&s->not_namespaces);
    service_accounts_free(&s->service_accounts);
    service_accounts_free(&s->not_service_accounts);
    cidrs_free(&s->ip_blocks);
    cidrs_free(&s->not_ip_blocks);
    cidrs_free(&s->remote_ip_blocks);
    cidrs_free(&s->not_remote_ip_blocks);
}

static void operation_free(struct weir_authz_operation *op)
{
    matches_free(&op->hosts);
    matches_free(&op->not_hosts);
    free(op->ports.items);
    free(op->not_ports.items);
    matches_free(&op->methods);
    matches_free(&op->not_methods);
    matches_free(&op->paths);
    matches_free(&op->not_paths);
}

/* rule.from / rule.to: arrays of single-member wrappers ({source: ...},
 * {operation: ...}) whose member is required and must not be empty. One walk
 * serves both; `parse` fills element i of `elems`. */
typedef void (*wrapped_parse_fn)(struct weir_check *c, const json_t *v, void *elem,
                                 struct rule_ctx *ctx);

static void parse_source_elem(struct weir_check *c, const json_t *v, void *elem,
                              struct rule_ctx *ctx)
{
    parse_source(c, v, elem, ctx);
}

static void parse_operation_elem(struct weir_check *c, const json_t *v, void *elem,
                                 struct rule_ctx *ctx)
{
    parse_operation(c, v, elem, ctx);
}

static void parse_wrapped(struct weir_check *c, const json_t *rule, const char *key,
                          const char *member, const char *const *fields, const char *empty_why,
                          size_t elem_size, void **elems, size_t *n, wrapped_parse_fn parse,
                          struct rule_ctx *ctx)
{
    const json_t *arr = get_array(c, rule, key);
    size_t i;
    json_t *item;

    if (!arr)
        return;
    weir_check_push_key(c, key);
    if (json_array_size(arr) == 0) {
        weir_check_error(c, arr, "%s", empty_why);
    } else if (!(*elems = calloc(json_array_size(arr), elem_size))) {
        weir_check_error(c, arr, "out of memory");
    } else {
        json_array_foreach(arr, i, item)
        {
            weir_check_push_index(c, i);
            if (weir_check_is_object(c, item)) {
                weir_check_fields(c, item, fields, NULL);
                const json_t *v = weir_check_get(c, item, member, JSON_OBJECT, true);
                if (v) {
                    weir_check_push_key(c, member);
                    parse(c, v, (char *)*elems + elem_size * (*n)++, ctx);
                    weir_check_pop(c);
                }
            }
            weir_check_pop(c);
        }
    }
    weir_check_pop(c);
}

static void parse_from(struct weir_check *c, const json_t *rule, struct weir_authz_rule *r,
                       struct rule_ctx *ctx)
{
    void *elems = NULL;
    parse_wrapped(c, rule, "from", "source", from_fields,
                  "must not be empty; leave it out to match any source", sizeof(*r->from), &elems,
                  &r->nfrom, parse_source_elem, ctx);
    r->from = elems;
}

static void parse_to(struct weir_check *c, const json_t *rule, struct weir_authz_rule *r,
                     struct rule_ctx *ctx)
{
    void *elems = NULL;
    parse_wrapped(c, rule, "to", "operation", to_fields,
                  "must not be empty; leave it out to match any operation", sizeof(*r->to), &elems,
                  &r->nto, parse_operation_elem, ctx);
    r->to = elems;
}

static void parse_when(struct weir_check *c, const json_t *rule, struct weir_authz_rule *r,
                       const struct rule_ctx *ctx)
{
    const json_t *arr = get_array(c, rule, "when");
    size_t i;
    json_t *item;

    if (!arr || json_array_size(arr) == 0)
        return;
    if (!(r->when = calloc(json_array_size(arr), sizeof(*r->when)))) {
        weir_check_error(c, arr, "out of memory");
        return;
    }
    weir_check_push_key(c, "when");
    json_array_foreach(arr, i, item)
    {
        weir_check_push_index(c, i);
        if (weir_check_is_object(c, item))
            parse_condition(c, item, &r->when[r->nwhen++], ctx);
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

static void parse_rule(struct weir_check *c, const json_t *v, struct weir_authz_rule *r,
                       enum weir_authz_action action)
{
    struct rule_ctx ctx = {.action = action};

    weir_check_fields(c, v, rule_fields, NULL);
    parse_from(c, v, r, &ctx);
    parse_to(c, v, r, &ctx);
    parse_when(c, v, r, &ctx);

    /* Istio's warning: on a TCP connection the HTTP attributes are missing,
     * and a DENY rule treats a missing attribute as a match, so the rule then
     * denies every TCP connection it covers. */
    bool has_from = array_given(v, "from"), has_to = array_given(v, "to");
    if (action == WEIR_AUTHZ_DENY &&
        ((has_from && !has_to && !ctx.tcp_in_from) || (has_to && !ctx.tcp_in_to)))
        weir_check_warning(c, v,
                           "a DENY rule with only HTTP attributes also denies all TCP traffic "
                           "in its scope; set ports to limit it");
}

static void rule_free(struct weir_authz_rule *r)
{
    for (size_t i = 0; i < r->nfrom; i++)
        source_free(&r->from[i]);
    free(r->from);
    for (size_t i = 0; i < r->nto; i++)
        operation_free(&r->to[i]);
    free(r->to);
    for (size_t i = 0; i < r->nwhen; i++)
        condition_free(&r->when[i]);
    free(r->when);
}

/* ---- the policy ---- */

static void parse_action(struct weir_check *c, const json_t *spec,
                         struct weir_authorization_policy *ap)
{
    const char *s;

    ap->action = WEIR_AUTHZ_ALLOW;
    if (!weir_get_string_borrowed(c, spec, "action", false, &s))
        return;
    const json_t *at = json_object_get(spec, "action");
    weir_check_push_key(c, "action");
    size_t i;
    for (i = 0; i < sizeof(action_names) / sizeof(action_names[0]); i++)
        if (strcmp(s, action_names[i]) == 0)
            break;
    if (i == sizeof(action_names) / sizeof(action_names[0])) {
        weir_check_error(c, at, "must be one of ALLOW, DENY, AUDIT, CUSTOM, got \"%s\"", s);
    } else {
        ap->action = (enum weir_authz_action)i;
        if (ap->action == WEIR_AUTHZ_AUDIT)
            weir_check_unsupported(c, at,
                                   "action AUDIT is not supported by Weir yet: matching "
                                   "requests are not audited");
        else if (ap->action == WEIR_AUTHZ_CUSTOM)
            weir_check_unsupported(c, at,
                                   "action CUSTOM (external authorization) is not supported by "
                                   "Weir yet");
    }
    weir_check_pop(c);
}

static void parse_provider(struct weir_check *c, const json_t *spec,
                           struct weir_authorization_policy *ap)
{
    const json_t *raw = json_object_get(spec, "provider");
    const json_t *p = weir_check_get(c, spec, "provider", JSON_OBJECT, false);

    if (!p) {
        if (ap->action == WEIR_AUTHZ_CUSTOM && (!raw || json_is_null(raw))) {
            weir_check_push_key(c, "provider");
            weir_check_error(c, spec, "required when action is CUSTOM");
            weir_check_pop(c);
        }
        return;
    }
    weir_check_push_key(c, "provider");
    weir_check_fields(c, p, provider_fields, NULL);
    get_nonempty_string(c, p, "name", true, &ap->provider);
    if (ap->action != WEIR_AUTHZ_CUSTOM)
        weir_check_error(c, p, "only allowed with action CUSTOM, got action %s",
                         weir_authz_action_name(ap->action));
    weir_check_pop(c);
}

static void parse_rules(struct weir_check *c, const json_t *spec,
                        struct weir_authorization_policy *ap)
{
    const json_t *raw = json_object_get(spec, "rules");
    const json_t *arr = get_array(c, spec, "rules");
    bool mistyped = raw && !json_is_null(raw) && !arr;
    size_t i;
    json_t *item;

    /* Without rules a DENY or CUSTOM policy never triggers; Istio refuses it
     * rather than let it look like protection. (ALLOW without rules is the
     * documented allow-nothing policy.) */
    if (!mistyped && (!arr || json_array_size(arr) == 0) &&
        (ap->action == WEIR_AUTHZ_DENY || ap->action == WEIR_AUTHZ_CUSTOM)) {
        weir_check_push_key(c, "rules");
        weir_check_error(c, arr ? arr : spec,
                         "a %s policy without rules never matches; add an empty rule {} to "
                         "match every request",
                         weir_authz_action_name(ap->action));
        weir_check_pop(c);
    }
    if (!arr || json_array_size(arr) == 0)
        return;
    if (!(ap->rules = calloc(json_array_size(arr), sizeof(*ap->rules)))) {
        weir_check_error(c, arr, "out of memory");
        return;
    }
    weir_check_push_key(c, "rules");
    json_array_foreach(arr, i, item)
    {
        weir_check_push_index(c, i);
        if (weir_check_is_object(c, item))
            parse_rule(c, item, &ap->rules[ap->nrules++], ap->action);
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

struct weir_authorization_policy *weir_authorization_policy_parse(struct weir_check *c,
                                                                  const json_t *spec)
{
    struct weir_authorization_policy *ap = calloc(1, sizeof(*ap));
    if (!ap)
        return NULL;
    weir_check_fields(c, spec, policy_fields, policy_unsupported);
    weir_get_policy_selector(c, spec, &ap->selector);
    weir_get_policy_targets(c, spec, &ap->targets);
    parse_action(c, spec, ap);
    parse_provider(c, spec, ap);
    parse_rules(c, spec, ap);
    return ap;
}

void weir_authorization_policy_free(struct weir_authorization_policy *ap)
{
    if (!ap)
        return;
    weir_string_map_free(&ap->selector);
    weir_policy_target_refs_free(&ap->targets);
    free(ap->provider);
    for (size_t i = 0; i < ap->nrules; i++)
        rule_free(&ap->rules[i]);
    free(ap->rules);
    free(ap);
}
