#include "model/peer_authentication.h"

#include <stdlib.h>
#include <string.h>

#include "model/authorization_policy.h"
#include "model/common.h"

static const char *const policy_fields[] = {"selector", "mtls", "portLevelMtls", NULL};
static const char *const mtls_fields[] = {"mode", NULL};

static const char *const mode_names[] = {
    [WEIR_MTLS_UNSET] = "UNSET",
    [WEIR_MTLS_DISABLE] = "DISABLE",
    [WEIR_MTLS_PERMISSIVE] = "PERMISSIVE",
    [WEIR_MTLS_STRICT] = "STRICT",
};

const char *weir_mtls_mode_name(enum weir_mtls_mode mode)
{
    if ((size_t)mode < sizeof(mode_names) / sizeof(mode_names[0]))
        return mode_names[mode];
    return "?";
}

/* A MutualTLS object ({mode: ...}) already known to be an object. */
static void parse_mtls(struct weir_check *c, const json_t *v, enum weir_mtls_mode *out)
{
    const char *s;

    *out = WEIR_MTLS_UNSET;
    weir_check_fields(c, v, mtls_fields, NULL);
    if (!weir_get_string_borrowed(c, v, "mode", false, &s))
        return;
    for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
        if (strcmp(s, mode_names[i]) == 0) {
            *out = (enum weir_mtls_mode)i;
            return;
        }
    }
    weir_check_push_key(c, "mode");
    weir_check_error(c, json_object_get(v, "mode"),
                     "must be one of UNSET, DISABLE, PERMISSIVE, STRICT, got \"%s\"", s);
    weir_check_pop(c);
}

static int cmp_port(const void *a, const void *b)
{
    const struct weir_port_mtls *x = a, *y = b;
    return (int)x->port - (int)y->port;
}

/* Read from the JSON rather than the parsed map, so labels already refused
 * as malformed do not add a second error here. */
static bool selector_has_labels(const json_t *spec)
{
    const json_t *labels = json_object_get(json_object_get(spec, "selector"), "matchLabels");
    return json_is_object(labels) && json_object_size(labels) > 0;
}

static void parse_port_level(struct weir_check *c, const json_t *spec,
                             struct weir_peer_authentication *pa)
{
    const json_t *map = weir_check_get(c, spec, "portLevelMtls", JSON_OBJECT, false);
    const char *key;
    json_t *value;

    if (!map)
        return;
    weir_check_push_key(c, "portLevelMtls");
    /* Port-level settings would otherwise apply to every workload of the
     * namespace or mesh, whose ports have nothing in common. */
    if (!selector_has_labels(spec))
        weir_check_error(c, map, "requires a workload selector");
    if (json_object_size(map) == 0) {
        weir_check_error(c, map, "must name at least one port when set");
        weir_check_pop(c);
        return;
    }
    pa->port_level = calloc(json_object_size(map), sizeof(*pa->port_level));
    if (!pa->port_level) {
        weir_check_error(c, map, "out of memory");
        weir_check_pop(c);
        return;
    }
    json_object_foreach((json_t *)map, key, value)
    {
        struct weir_port_mtls *pm = &pa->port_level[pa->nport_level];
        bool ok = true;
        weir_check_push_key(c, key);
        if (weir_parse_port_text(key, &pm->port) != 0) {
            weir_check_error(c, value, "must be a port number 1..65535, got \"%s\"", key);
            ok = false;
        }
        if (weir_check_is_object(c, value))
            parse_mtls(c, value, &pm->mode);
        else
            ok = false;
        if (ok)
            pa->nport_level++;
        weir_check_pop(c);
    }
    qsort(pa->port_level, pa->nport_level, sizeof(*pa->port_level), cmp_port);
    weir_check_pop(c);
}

struct weir_peer_authentication *weir_peer_authentication_parse(struct weir_check *c,
                                                                const json_t *spec)
{
    struct weir_peer_authentication *pa = calloc(1, sizeof(*pa));
    if (!pa)
        return NULL;
    weir_check_fields(c, spec, policy_fields, NULL);
    weir_get_policy_selector(c, spec, &pa->selector);
    const json_t *mtls = weir_check_get(c, spec, "mtls", JSON_OBJECT, false);
    if (mtls) {
        weir_check_push_key(c, "mtls");
        parse_mtls(c, mtls, &pa->mode);
        weir_check_pop(c);
    }
    parse_port_level(c, spec, pa);
    return pa;
}

void weir_peer_authentication_free(struct weir_peer_authentication *pa)
{
    if (!pa)
        return;
    weir_string_map_free(&pa->selector);
    free(pa->port_level);
    free(pa);
}
