#include "model/request_authentication.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model/common.h"

static const char *const policy_fields[] = {"selector", "targetRef", "targetRefs", "jwtRules",
                                            NULL};
static const char *const policy_unsupported[] = {"targetRef", "targetRefs", NULL};
static const char *const rule_fields[] = {
    "issuer",
    "audiences",
    "jwksUri",
    "jwks",
    "fromHeaders",
    "fromParams",
    "fromCookies",
    "outputPayloadToHeader",
    "outputClaimToHeaders",
    "forwardOriginalToken",
    "timeout",
    NULL,
};
static const char *const header_fields[] = {"name", "prefix", NULL};
static const char *const claim_header_fields[] = {"header", "claim", NULL};

/* Istio refuses durations under a millisecond here, as everywhere. */
#define MIN_TIMEOUT_NS 1000000

static const char *nonempty(const char *s)
{
    return *s ? NULL : "must not be empty";
}

/* An optional string that Istio treats as absent when empty. */
static bool get_optional_string(struct weir_check *c, const json_t *obj, const char *key,
                                const char **out)
{
    return weir_get_string_borrowed(c, obj, key, false, out) && **out;
}

/* The string member obj[key], required and non-empty; NULL otherwise (with
 * the error recorded). Borrowed. */
static const char *get_required_string(struct weir_check *c, const json_t *obj, const char *key)
{
    const char *s;
    if (!weir_get_string_borrowed(c, obj, key, true, &s))
        return NULL;
    if (!*s) {
        weir_check_push_key(c, key);
        weir_check_error(c, json_object_get(obj, key), "must not be empty");
        weir_check_pop(c);
        return NULL;
    }
    return s;
}

static bool check_header_name(struct weir_check *c, const json_t *obj, const char *key,
                              const char *name)
{
    const char *why = weir_valid_header_name(name);
    if (!why)
        return true;
    weir_check_push_key(c, key);
    weir_check_error(c, json_object_get(obj, key), "%s, got \"%s\"", why, name);
    weir_check_pop(c);
    return false;
}

static char *dup_or_error(struct weir_check *c, const json_t *at, const char *s)
{
    char *d = strdup(s);
    if (!d)
        weir_check_error(c, at, "out of memory");
    return d;
}

/* ---- jwksUri ---- */

static _Thread_local char reason_buf[600];

static const char *uri_reason(const char *why, const char *uri)
{
    snprintf(reason_buf, sizeof(reason_buf), "%s, got \"%.400s\"", why, uri);
    return reason_buf;
}

/* Takes an http(s) URL apart as the JWKS fetcher will use it. NULL when fine,
 * else the reason; *u then holds whatever was allocated. */
static const char *parse_jwks_uri(const char *s, struct weir_jwks_uri *u)
{
    const char *p, *auth_end, *host_end, *port_text = NULL;
    char host[256], port_buf[8];

    for (p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return uri_reason("must be a URL without spaces or control characters", s);
    if (strncasecmp(s, "https://", 8) == 0) {
        u->tls = true;
        u->port = 443;
        p = s + 8;
    } else if (strncasecmp(s, "http://", 7) == 0) {
        u->tls = false;
        u->port = 80;
        p = s + 7;
    } else {
        return uri_reason("must be an http:// or https:// URL", s);
    }
    auth_end = p + strcspn(p, "/?#");
    if (memchr(p, '@', (size_t)(auth_end - p)))
        return uri_reason("must not carry credentials", s);
    if (*p == '[') {
        host_end = memchr(p, ']', (size_t)(auth_end - p));
        if (!host_end)
            return uri_reason("has an unterminated IPv6 address", s);
        if ((size_t)(host_end - p - 1) >= sizeof(host))
            return uri_reason("has a host longer than 255 characters", s);
        memcpy(host, p + 1, (size_t)(host_end - p - 1));
        host[host_end - p - 1] = '\0';
        if (!strchr(host, ':') || weir_valid_ip(host))
            return uri_reason("has an invalid IPv6 address", s);
        host_end++;
        if (host_end < auth_end && *host_end != ':')
            return uri_reason("has an invalid host", s);
    } else {
        host_end = memchr(p, ':', (size_t)(auth_end - p));
        if (!host_end)
            host_end = auth_end;
        if ((size_t)(host_end - p) >= sizeof(host))
            return uri_reason("has a host longer than 255 characters", s);
        memcpy(host, p, (size_t)(host_end - p));
        host[host_end - p] = '\0';
        if (!*host)
            return uri_reason("has no host", s);
        const char *why = strchr(host, '*') ? "host must not be a wildcard" : weir_valid_host(host);
        if (why)
            return uri_reason(why, s);
    }
    if (host_end < auth_end) { /* ":port" */
        size_t n = (size_t)(auth_end - host_end - 1);
        port_text = host_end + 1;
        if (n == 0 || n >= sizeof(port_buf))
            return uri_reason("has an invalid port", s);
        memcpy(port_buf, port_text, n);
        port_buf[n] = '\0';
        if (weir_parse_port_text(port_buf, &u->port) != 0)
            return uri_reason("has an invalid port", s);
    }
    u->host = strdup(host);
    if (*auth_end == '/') {
        u->path = strdup(auth_end);
    } else {
        /* "https://h?x" and "https://h": the request line still needs "/". */
        size_t n = strlen(auth_end) + 2;
        if ((u->path = malloc(n)))
            snprintf(u->path, n, "/%s", auth_end);
    }
    u->text = strdup(s);
    if (!u->host || !u->path || !u->text)
        return "out of memory";
    return NULL;
}

static void jwks_uri_free(struct weir_jwks_uri *u)
{
    free(u->text);
    free(u->host);
    free(u->path);
    memset(u, 0, sizeof(*u));
}

/* ---- jwks ---- */

/* The key set is decoded by the proxy at load time; refusing a malformed one
 * here keeps it from reaching every proxy and failing there. */
static void check_jwks(struct weir_check *c, const json_t *at, const char *text)
{
    json_error_t err;
    json_t *doc = json_loads(text, 0, &err);
    const json_t *keys;
    size_t i;
    json_t *key;

    if (!doc) {
        weir_check_error(c, at, "must be a JSON Web Key Set, but is not valid JSON: %s", err.text);
        return;
    }
    keys = json_object_get(doc, "keys");
    if (!json_is_array(keys)) {
        weir_check_error(c, at, "must be a JSON Web Key Set: an object with a \"keys\" array");
    } else if (json_array_size(keys) == 0) {
        weir_check_error(c, at, "JSON Web Key Set has no keys");
    } else {
        json_array_foreach(keys, i, key)
        {
            if (!json_is_string(json_object_get(key, "kty"))) {
                weir_check_error(c, at, "JSON Web Key Set: keys[%zu] has no \"kty\"", i);
                break;
            }
        }
    }
    json_decref(doc);
}

/* ---- token locations and outputs ---- */

/* The index of the first of arr[0..before) whose string member `key` equals
 * value (case-insensitively when asked), or -1. Indices are the document's, so
 * the message points at the right entry even when others were malformed. */
static long earlier_with(const json_t *arr, size_t before, const char *key, const char *value,
                         bool nocase)
{
    for (size_t j = 0; j < before; j++) {
        const char *s = json_string_value(json_object_get(json_array_get(arr, j), key));
        if (s && (nocase ? strcasecmp(s, value) : strcmp(s, value)) == 0)
            return (long)j;
    }
    return -1;
}

static void parse_from_headers(struct weir_check *c, const json_t *rule, struct weir_jwt_rule *r)
{
    const json_t *arr = weir_check_get(c, rule, "fromHeaders", JSON_ARRAY, false);
    size_t i;
    json_t *item;

    if (!arr || json_array_size(arr) == 0)
        return;
    if (!(r->from_headers = calloc(json_array_size(arr), sizeof(*r->from_headers)))) {
        weir_check_error(c, arr, "out of memory");
        return;
    }
    weir_check_push_key(c, "fromHeaders");
    json_array_foreach(arr, i, item)
    {
        weir_check_push_index(c, i);
        if (weir_check_is_object(c, item)) {
            const char *name = NULL, *prefix = "";
            weir_check_fields(c, item, header_fields, NULL);
            name = get_required_string(c, item, "name");
            weir_get_string_borrowed(c, item, "prefix", false, &prefix);
            if (name && check_header_name(c, item, "name", name)) {
                struct weir_jwt_header *h = &r->from_headers[r->nfrom_headers];
                h->name = dup_or_error(c, item, name);
                h->prefix = dup_or_error(c, item, prefix);
                if (h->name && h->prefix) {
                    r->nfrom_headers++;
                } else {
                    free(h->name);
                    free(h->prefix);
                    h->name = h->prefix = NULL;
                }
            }
        }
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

static void parse_claim_headers(struct weir_check *c, const json_t *rule, struct weir_jwt_rule *r)
{
    const json_t *arr = weir_check_get(c, rule, "outputClaimToHeaders", JSON_ARRAY, false);
    size_t i;
    json_t *item;

    if (!arr || json_array_size(arr) == 0)
        return;
    if (!(r->output_claim_to_headers =
              calloc(json_array_size(arr), sizeof(*r->output_claim_to_headers)))) {
        weir_check_error(c, arr, "out of memory");
        return;
    }
    weir_check_push_key(c, "outputClaimToHeaders");
    json_array_foreach(arr, i, item)
    {
        weir_check_push_index(c, i);
        if (weir_check_is_object(c, item)) {
            weir_check_fields(c, item, claim_header_fields, NULL);
            const char *header = get_required_string(c, item, "header");
            const char *claim = get_required_string(c, item, "claim");
            bool ok = header && claim && check_header_name(c, item, "header", header);
            /* Two claims into one header would overwrite each other. */
            long j = ok ? earlier_with(arr, i, "header", header, true) : -1;
            if (j >= 0) {
                weir_check_push_key(c, "header");
                weir_check_error(c, json_object_get(item, "header"),
                                 "duplicate header \"%s\", also in outputClaimToHeaders[%ld]",
                                 header, j);
                weir_check_pop(c);
                ok = false;
            }
            if (ok) {
                struct weir_jwt_claim_to_header *h =
                    &r->output_claim_to_headers[r->noutput_claim_to_headers];
                h->header = dup_or_error(c, item, header);
                h->claim = dup_or_error(c, item, claim);
                if (h->header && h->claim) {
                    r->noutput_claim_to_headers++;
                } else {
                    free(h->header);
                    free(h->claim);
                    h->header = h->claim = NULL;
                }
            }
        }
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

/* ---- rules ---- */

static void parse_rule(struct weir_check *c, const json_t *rules, size_t index,
                       struct weir_jwt_rule *r)
{
    const json_t *v = json_array_get(rules, index);
    const char *issuer, *uri = NULL, *jwks = NULL, *payload_header = NULL;
    bool has_uri = false, has_jwks = false;

    weir_check_fields(c, v, rule_fields, NULL);
    if ((issuer = get_required_string(c, v, "issuer"))) {
        long j = earlier_with(rules, index, "issuer", issuer, false);
        if (j >= 0) {
            weir_check_push_key(c, "issuer");
            weir_check_error(c, json_object_get(v, "issuer"),
                             "duplicate issuer \"%s\", also in jwtRules[%ld]", issuer, j);
            weir_check_pop(c);
        }
        r->issuer = dup_or_error(c, v, issuer);
    }
    weir_get_strings(c, v, "audiences", false, nonempty, &r->audiences);

    if ((has_uri = get_optional_string(c, v, "jwksUri", &uri))) {
        const json_t *at = json_object_get(v, "jwksUri");
        const char *why = parse_jwks_uri(uri, &r->jwks_uri);
        weir_check_push_key(c, "jwksUri");
        if (why) {
            weir_check_error(c, at, "%s", why);
            jwks_uri_free(&r->jwks_uri);
        } else if (!r->jwks_uri.tls) {
            weir_check_warning(c, at,
                               "keys fetched over plain http:// can be tampered with on the "
                               "way; use https://");
        }
        weir_check_pop(c);
    }
    if ((has_jwks = get_optional_string(c, v, "jwks", &jwks))) {
        weir_check_push_key(c, "jwks");
        check_jwks(c, json_object_get(v, "jwks"), jwks);
        weir_check_pop(c);
        r->jwks = dup_or_error(c, v, jwks);
    }
    if (has_uri && has_jwks)
        weir_check_error(c, v, "only one of jwksUri and jwks may be set");

    parse_from_headers(c, v, r);
    weir_get_strings(c, v, "fromParams", false, nonempty, &r->from_params);
    weir_get_strings(c, v, "fromCookies", false, nonempty, &r->from_cookies);
    if (get_optional_string(c, v, "outputPayloadToHeader", &payload_header) &&
        check_header_name(c, v, "outputPayloadToHeader", payload_header))
        r->output_payload_to_header = dup_or_error(c, v, payload_header);
    parse_claim_headers(c, v, r);
    weir_get_bool(c, v, "forwardOriginalToken", &r->forward_original_token);
    weir_get_duration(c, v, "timeout", false, MIN_TIMEOUT_NS, &r->timeout_ns);
}

static void rule_free(struct weir_jwt_rule *r)
{
    free(r->issuer);
    weir_strings_free(&r->audiences);
    jwks_uri_free(&r->jwks_uri);
    free(r->jwks);
    for (size_t i = 0; i < r->nfrom_headers; i++) {
        free(r->from_headers[i].name);
        free(r->from_headers[i].prefix);
    }
    free(r->from_headers);
    weir_strings_free(&r->from_params);
    weir_strings_free(&r->from_cookies);
    free(r->output_payload_to_header);
    for (size_t i = 0; i < r->noutput_claim_to_headers; i++) {
        free(r->output_claim_to_headers[i].header);
        free(r->output_claim_to_headers[i].claim);
    }
    free(r->output_claim_to_headers);
}

struct weir_request_authentication *weir_request_authentication_parse(struct weir_check *c,
                                                                      const json_t *spec)
{
    struct weir_request_authentication *ra = calloc(1, sizeof(*ra));
    const json_t *arr;
    size_t i;
    json_t *item;

    if (!ra)
        return NULL;
    weir_check_fields(c, spec, policy_fields, policy_unsupported);
    weir_get_policy_selector(c, spec, &ra->selector);
    weir_get_policy_targets(c, spec, &ra->targets);

    arr = weir_check_get(c, spec, "jwtRules", JSON_ARRAY, false);
    if (!arr || json_array_size(arr) == 0)
        return ra;
    if (!(ra->jwt_rules = calloc(json_array_size(arr), sizeof(*ra->jwt_rules)))) {
        weir_check_error(c, arr, "out of memory");
        return ra;
    }
    weir_check_push_key(c, "jwtRules");
    json_array_foreach(arr, i, item)
    {
        weir_check_push_index(c, i);
        if (weir_check_is_object(c, item)) {
            parse_rule(c, arr, i, &ra->jwt_rules[ra->njwt_rules]);
            ra->njwt_rules++;
        }
        weir_check_pop(c);
    }
    weir_check_pop(c);
    return ra;
}

void weir_request_authentication_free(struct weir_request_authentication *ra)
{
    if (!ra)
        return;
    weir_string_map_free(&ra->selector);
    weir_policy_target_refs_free(&ra->targets);
    for (size_t i = 0; i < ra->njwt_rules; i++)
        rule_free(&ra->jwt_rules[i]);
    free(ra->jwt_rules);
    free(ra);
}
