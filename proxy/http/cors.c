#include "http/cors.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H_ORIGIN         "origin"
#define H_REQUEST_METHOD "access-control-request-method"

static const struct wp_header *nonempty(const struct wp_headers *h, const char *name)
{
    const struct wp_header *f = wp_headers_get(h, name, strlen(name));
    return f && f->value_len ? f : NULL;
}

static bool is_preflight(const char *method, const struct wp_headers *req)
{
    return method && strcmp(method, "OPTIONS") == 0 && nonempty(req, H_ORIGIN) &&
           nonempty(req, H_REQUEST_METHOD);
}

/* Envoy's rule: an entry that matches the literal "*" allows any origin. */
static bool origin_allowed(const struct weir_pc_cors *cors, const struct wp_header *origin)
{
    for (size_t i = 0; i < cors->allow_origins.len; i++) {
        const struct weir_pc_match *m = &cors->allow_origins.items[i];
        if (weir_pc_match_eval(m, "*", 1) ||
            weir_pc_match_eval(m, origin->value, origin->value_len))
            return true;
    }
    return false;
}

/* Sets `name` to the items joined with "," (Istio's encoding); nothing when empty. */
static int set_list(struct wp_headers *h, const char *name, const struct weir_strings *list)
{
    size_t len = 0, off = 0;
    char *v;
    int rc;

    if (list->len == 0)
        return 0;
    for (size_t i = 0; i < list->len; i++)
        len += strlen(list->items[i]) + 1;
    v = malloc(len);
    if (!v)
        return -1;
    for (size_t i = 0; i < list->len; i++) {
        size_t n = strlen(list->items[i]);
        if (i)
            v[off++] = ',';
        memcpy(v + off, list->items[i], n);
        off += n;
    }
    rc = wp_headers_set(h, name, v, off);
    free(v);
    return rc;
}

bool wp_cors_answers_preflight(const struct weir_pc_cors *cors, const char *method,
                               const struct wp_headers *req)
{
    if (!cors || !is_preflight(method, req))
        return false;
    return origin_allowed(cors, nonempty(req, H_ORIGIN)) ||
           cors->unmatched_preflights == WEIR_PC_PREFLIGHT_IGNORE;
}

int wp_cors_response_headers(const struct weir_pc_cors *cors, const char *method,
                             const struct wp_headers *req, struct wp_headers *resp)
{
    const struct wp_header *origin = cors ? nonempty(req, H_ORIGIN) : NULL;

    if (!origin || !origin_allowed(cors, origin))
        return 0;
    if (wp_headers_set(resp, "access-control-allow-origin", origin->value, origin->value_len) < 0)
        return -1;
    if (cors->allow_credentials &&
        wp_headers_set(resp, "access-control-allow-credentials", "true", 4) < 0)
        return -1;
    if (!is_preflight(method, req))
        return set_list(resp, "access-control-expose-headers", &cors->expose_headers);
    if (set_list(resp, "access-control-allow-methods", &cors->allow_methods) < 0 ||
        set_list(resp, "access-control-allow-headers", &cors->allow_headers) < 0)
        return -1;
    if (cors->max_age_ms >= 0) {
        char age[32];
        int n = snprintf(age, sizeof(age), "%" PRId64, cors->max_age_ms / 1000);
        if (wp_headers_set(resp, "access-control-max-age", age, (size_t)n) < 0)
            return -1;
    }
    return 0;
}
