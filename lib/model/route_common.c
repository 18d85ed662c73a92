#include "model/route_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void *weir_net_calloc(struct weir_check *c, size_t n, size_t size)
{
    void *p;
    if (n == 0)
        return NULL;
    p = calloc(n, size);
    if (!p)
        weir_check_error(c, NULL, "out of memory");
    return p;
}

size_t weir_net_count_present(const json_t *obj, const char *const *keys)
{
    size_t n = 0;
    for (; *keys; keys++) {
        const json_t *v = json_object_get(obj, *keys);
        if (v && !json_is_null(v))
            n++;
    }
    return n;
}

bool weir_net_get_enum(struct weir_check *c, const json_t *obj, const char *key,
                       const char *const *names, bool ignore_case, int *out)
{
    const char *s;
    char list[512];
    size_t len = 0, count = 0;

    if (!weir_get_string_borrowed(c, obj, key, false, &s))
        return false;
    for (int i = 0; names[i]; i++) {
        if ((ignore_case ? strcasecmp(names[i], s) : strcmp(names[i], s)) == 0) {
            *out = i;
            return true;
        }
        count++;
    }
    /* "A, B, C or D" */
    list[0] = '\0';
    for (size_t i = 0; i < count && len < sizeof(list); i++) {
        const char *sep = i == 0 ? "" : i + 1 == count ? " or " : ", ";
        int n = snprintf(list + len, sizeof(list) - len, "%s%s", sep, names[i]);
        if (n < 0)
            break;
        len += (size_t)n;
    }
    weir_check_push_key(c, key);
    weir_check_error(c, json_object_get(obj, key), "must be one of %s, got \"%s\"", list, s);
    weir_check_pop(c);
    return false;
}

bool weir_net_get_tristate(struct weir_check *c, const json_t *obj, const char *key,
                           enum weir_tristate *out)
{
    bool b;
    if (!weir_get_bool(c, obj, key, &b))
        return false;
    *out = b ? WEIR_TRI_TRUE : WEIR_TRI_FALSE;
    return true;
}

bool weir_net_get_percent(struct weir_check *c, const json_t *obj, const char *key, double *out)
{
    static const char *const fields[] = {"value", NULL};
    const json_t *v = weir_check_get(c, obj, key, JSON_OBJECT, false);
    double d = 0;
    bool ok = true;

    if (!v)
        return false;
    weir_check_push_key(c, key);
    weir_check_fields(c, v, fields, NULL);
    if (weir_net_count_present(v, fields) > 0)
        ok = weir_get_number(c, v, "value", false, 0, 100, &d);
    weir_check_pop(c);
    if (ok)
        *out = d;
    return ok;
}

bool weir_net_get_port_selector(struct weir_check *c, const json_t *obj, const char *key,
                                bool required, int64_t *out)
{
    static const char *const fields[] = {"number", NULL};
    const json_t *v = weir_check_get(c, obj, key, JSON_OBJECT, required);
    bool ok;

    if (!v)
        return false;
    weir_check_push_key(c, key);
    weir_check_fields(c, v, fields, NULL);
    ok = weir_get_int(c, v, "number", true, 1, 65535, out);
    weir_check_pop(c);
    return ok;
}

bool weir_net_get_seconds(struct weir_check *c, const json_t *obj, const char *key, int64_t *out_ns)
{
    int64_t ns;
    if (!weir_get_duration(c, obj, key, false, 1000000, &ns))
        return false;
    if (ns % 1000000000 != 0) {
        const json_t *v = json_object_get(obj, key);
        weir_check_push_key(c, key);
        weir_check_error(c, v, "must be a whole number of seconds, got %s", json_string_value(v));
        weir_check_pop(c);
        return false;
    }
    *out_ns = ns;
    return true;
}

bool weir_net_parse_destination(struct weir_check *c, const json_t *v, struct weir_destination *out)
{
    static const char *const fields[] = {"host", "subset", "port", NULL};
    const char *s;
    bool ok = true;

    memset(out, 0, sizeof(*out));
    if (!weir_check_is_object(c, v))
        return false;
    weir_check_fields(c, v, fields, NULL);
    if (weir_get_string_borrowed(c, v, "host", true, &s)) {
        const char *why = strcmp(s, "*") == 0 ? "destination host must name a service, not \"*\""
                                              : weir_valid_host(s);
        if (why) {
            weir_check_push_key(c, "host");
            weir_check_error(c, json_object_get(v, "host"), "%s", why);
            weir_check_pop(c);
            ok = false;
        }
        out->host = strdup(s);
    } else {
        ok = false;
    }
    if (weir_get_string_borrowed(c, v, "subset", false, &s)) {
        const char *why = weir_valid_dns1123_label(s);
        if (why) {
            weir_check_push_key(c, "subset");
            weir_check_error(c, json_object_get(v, "subset"), "invalid subset name \"%s\": %s", s,
                             why);
            weir_check_pop(c);
            ok = false;
        }
        out->subset = strdup(s);
    }
    if (json_object_get(v, "port") && !weir_net_get_port_selector(c, v, "port", false, &out->port))
        ok = false;
    return ok;
}

bool weir_net_get_destination(struct weir_check *c, const json_t *obj, const char *key,
                              bool required, struct weir_destination *out)
{
    const json_t *v = weir_check_get(c, obj, key, JSON_OBJECT, required);
    bool ok;

    memset(out, 0, sizeof(*out));
    if (!v)
        return false;
    weir_check_push_key(c, key);
    ok = weir_net_parse_destination(c, v, out);
    weir_check_pop(c);
    return ok;
}

void weir_destination_free(struct weir_destination *d)
{
    if (!d)
        return;
    free(d->host);
    free(d->subset);
    memset(d, 0, sizeof(*d));
}

bool weir_net_get_regex_rewrite(struct weir_check *c, const json_t *obj, const char *key,
                                struct weir_regex_rewrite **out)
{
    static const char *const fields[] = {"match", "rewrite", NULL};
    const json_t *v = weir_check_get(c, obj, key, JSON_OBJECT, false);
    struct weir_regex_rewrite *r;
    bool ok = true;

    *out = NULL;
    if (!v)
        return false;
    r = weir_net_calloc(c, 1, sizeof(*r));
    if (!r)
        return false;
    weir_check_push_key(c, key);
    weir_check_fields(c, v, fields, NULL);
    if (weir_get_string(c, v, "match", true, &r->match)) {
        const char *why = weir_regex_error(r->match);
        if (why) {
            weir_check_push_key(c, "match");
            weir_check_error(c, json_object_get(v, "match"), "%s", why);
            weir_check_pop(c);
            ok = false;
        }
    } else {
        ok = false;
    }
    if (!weir_get_string(c, v, "rewrite", true, &r->rewrite))
        ok = false;
    weir_check_pop(c);
    *out = r;
    return ok;
}

void weir_regex_rewrite_free(struct weir_regex_rewrite *r)
{
    if (!r)
        return;
    free(r->match);
    free(r->rewrite);
    free(r);
}

void weir_net_get_export_to(struct weir_check *c, const json_t *spec, bool allow_none,
                            struct weir_strings *out)
{
    const json_t *arr = weir_check_get(c, spec, "exportTo", JSON_ARRAY, false);
    bool has_all = false, has_none = false;
    size_t i;
    json_t *item;

    out->items = NULL;
    out->len = 0;
    if (!arr)
        return;
    out->items = weir_net_calloc(c, json_array_size(arr), sizeof(*out->items));
    if (!out->items)
        return;
    weir_check_push_key(c, "exportTo");
    json_array_foreach(arr, i, item)
    {
        const char *s = json_string_value(item);
        weir_check_push_index(c, i);
        if (!s) {
            weir_check_error(c, item, "must be a string, got %s", weir_json_type_name(item));
        } else if (!(allow_none && strcmp(s, "~") == 0) && weir_valid_export_to(s)) {
            weir_check_error(c, item,
                             allow_none
                                 ? "must be \".\", \"*\", \"~\" or a namespace name, got \"%s\""
                                 : "must be \".\", \"*\" or a namespace name, got \"%s\"",
                             s);
        } else if (weir_strings_contains(out, s)) {
            weir_check_error(c, item, "\"%s\" is listed twice", s);
        } else {
            out->items[out->len] = strdup(s);
            if (out->items[out->len])
                out->len++;
            has_all = has_all || strcmp(s, "*") == 0;
            has_none = has_none || strcmp(s, "~") == 0;
        }
        weir_check_pop(c);
    }
    if (has_all && json_array_size(arr) > 1)
        weir_check_error(c, arr, "\"*\" cannot be combined with other entries");
    if (has_none && json_array_size(arr) > 1)
        weir_check_error(c, arr, "\"~\" cannot be combined with other entries");
    weir_check_pop(c);
}

bool weir_net_host_covers(const char *wide, const char *narrow)
{
    const char *suffix, *n;
    size_t ln, ls;

    if (strcmp(wide, "*") == 0 || strcasecmp(wide, narrow) == 0)
        return true;
    if (strncmp(wide, "*.", 2) != 0)
        return false;
    suffix = wide + 1; /* ".example.com" */
    n = strncmp(narrow, "*.", 2) == 0 ? narrow + 1 : narrow;
    ln = strlen(n);
    ls = strlen(suffix);
    return ln > ls && strcasecmp(n + ln - ls, suffix) == 0;
}

const char *weir_net_valid_header_op_name(const char *s)
{
    const char *why = weir_valid_header_name(s);
    if (why)
        return why;
    if (strcasecmp(s, "host") == 0)
        return "the Host header cannot be changed by header operations; use rewrite.authority";
    return NULL;
}

void weir_net_settle_weights(struct weir_check *c, const json_t *route_array, int64_t *weights,
                             size_t n, bool all_valid)
{
    int64_t sum = 0;

    if (n == 1) {
        weights[0] = 100;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (weights[i] == WEIR_UNSET)
            weights[i] = 0;
        sum += weights[i];
    }
    if (n > 1 && all_valid && sum != 100) {
        const json_t *first = json_array_get(route_array, 0);
        const json_t *w = json_object_get(first, "weight");
        weir_check_push_key(c, "route");
        weir_check_push_index(c, 0);
        weir_check_push_key(c, "weight");
        weir_check_error(c, w ? w : first, "weights must sum to 100, got %lld", (long long)sum);
        weir_check_pop(c);
        weir_check_pop(c);
        weir_check_pop(c);
    }
}

const char *weir_net_valid_gateway_name(const char *s)
{
    static const char *const why = "must be \"mesh\", a gateway name or \"namespace/name\"";
    const char *slash = strchr(s, '/');

    if (strcmp(s, "mesh") == 0)
        return NULL;
    if (slash) {
        char ns[64];
        size_t n = (size_t)(slash - s);
        if (n == 0 || n >= sizeof(ns))
            return why;
        memcpy(ns, s, n);
        ns[n] = '\0';
        if (weir_valid_dns1123_label(ns) || weir_valid_dns1123_subdomain(slash + 1))
            return why;
        return NULL;
    }
    return weir_valid_dns1123_subdomain(s) ? why : NULL;
}

void weir_net_get_namespace(struct weir_check *c, const json_t *obj, const char *key, char **out)
{
    const char *s;
    if (!weir_get_string_borrowed(c, obj, key, false, &s))
        return;
    const char *why = weir_valid_namespace(s);
    if (why) {
        weir_check_push_key(c, key);
        weir_check_error(c, json_object_get(obj, key), "%s, got \"%s\"", why, s);
        weir_check_pop(c);
    }
    *out = strdup(s);
}
