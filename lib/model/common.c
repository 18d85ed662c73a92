#include "model/common.h"

#include "core/regex.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const string_match_fields[] = {"exact", "prefix", "regex", NULL};

const char *weir_match_type_name(enum weir_match_type t)
{
    switch (t) {
    case WEIR_MATCH_NONE:
        return "none";
    case WEIR_MATCH_EXACT:
        return "exact";
    case WEIR_MATCH_PREFIX:
        return "prefix";
    case WEIR_MATCH_REGEX:
        return "regex";
    }
    return "?";
}

bool weir_parse_string_match(struct weir_check *c, const json_t *v, struct weir_string_match *out)
{
    size_t set = 0;
    out->type = WEIR_MATCH_NONE;
    out->value = NULL;

    if (!weir_check_is_object(c, v))
        return false;
    weir_check_fields(c, v, string_match_fields, NULL);
    for (int i = 0; string_match_fields[i]; i++) {
        const json_t *f = json_object_get(v, string_match_fields[i]);
        if (f && !json_is_null(f))
            set++;
    }
    if (set != 1) {
        weir_check_error(c, v, "exactly one of exact, prefix or regex must be set, got %zu", set);
        return false;
    }
    const char *s;
    if (weir_get_string_borrowed(c, v, "exact", false, &s)) {
        out->type = WEIR_MATCH_EXACT;
    } else if (weir_get_string_borrowed(c, v, "prefix", false, &s)) {
        out->type = WEIR_MATCH_PREFIX;
    } else if (weir_get_string_borrowed(c, v, "regex", false, &s)) {
        const char *why = weir_regex_error(s);
        if (why) {
            weir_check_push_key(c, "regex");
            weir_check_error(c, json_object_get(v, "regex"), "%s", why);
            weir_check_pop(c);
            return false;
        }
        out->type = WEIR_MATCH_REGEX;
    } else {
        return false;
    }
    out->value = strdup(s);
    return out->value != NULL;
}

bool weir_get_string_match(struct weir_check *c, const json_t *parent, const char *key,
                           bool required, struct weir_string_match *out)
{
    const json_t *v = weir_check_get(c, parent, key, JSON_OBJECT, required);
    bool ok;
    out->type = WEIR_MATCH_NONE;
    out->value = NULL;
    if (!v)
        return false;
    weir_check_push_key(c, key);
    ok = weir_parse_string_match(c, v, out);
    weir_check_pop(c);
    return ok;
}

void weir_string_match_free(struct weir_string_match *m)
{
    free(m->value);
    m->value = NULL;
    m->type = WEIR_MATCH_NONE;
}

bool weir_get_workload_selector(struct weir_check *c, const json_t *spec, const char *key,
                                struct weir_string_map *match_labels)
{
    static const char *const fields[] = {"matchLabels", NULL};
    const json_t *sel = weir_check_get(c, spec, key, JSON_OBJECT, false);
    bool ok;
    match_labels->items = NULL;
    match_labels->len = 0;
    if (!sel)
        return false;
    weir_check_push_key(c, key);
    weir_check_fields(c, sel, fields, NULL);
    ok = weir_get_string_map(c, sel, "matchLabels", false, weir_valid_label_key,
                             weir_valid_label_value, match_labels);
    weir_check_pop(c);
    return ok;
}

/* Istio and Envoy evaluate RE2; so does this check (core/regex), so what
 * validates here is exactly what the data plane can run. */
const char *weir_regex_error(const char *re)
{
    return weir_regex_check(re);
}

/* ---- name rules ---- */

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static const char *check_label(const char *s, size_t len)
{
    if (len == 0)
        return "must not be empty";
    if (len > 63)
        return "must be at most 63 characters";
    if (!is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
        return "must start and end with a lower-case letter or digit";
    for (size_t i = 0; i < len; i++)
        if (!is_lower_alnum(s[i]) && s[i] != '-')
            return "must consist of lower-case letters, digits and '-'";
    return NULL;
}

const char *weir_valid_dns1123_label(const char *s)
{
    return check_label(s, strlen(s));
}

const char *weir_valid_dns1123_subdomain(const char *s)
{
    size_t len = strlen(s);
    if (len == 0)
        return "must not be empty";
    if (len > 253)
        return "must be at most 253 characters";
    for (const char *p = s;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (check_label(p, n))
            return "must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', "
                   "starting and ending with a letter or digit";
        if (!dot)
            break;
        p = dot + 1;
    }
    return NULL;
}

const char *weir_valid_namespace(const char *s)
{
    return weir_valid_dns1123_label(s) ? "must be a valid namespace name (DNS-1123 label)" : NULL;
}

const char *weir_valid_host(const char *s)
{
    size_t len = strlen(s);
    const char *p = s;

    if (len == 0)
        return "host must not be empty";
    if (len > 255)
        return "host must be at most 255 characters";
    if (strcmp(s, "*") == 0)
        return NULL;
    if (strncmp(s, "*.", 2) == 0) {
        p = s + 2;
        if (!*p)
            return "wildcard host needs a domain after \"*.\"";
    } else if (strchr(s, '*'))
        return "wildcard '*' is only allowed as the first label (\"*.example.com\")";
    if (!weir_valid_ip(p))
        return NULL;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n == 0)
            return dot ? "host has an empty label" : NULL; /* a trailing dot is an FQDN */
        if (n > 63)
            return "host label is longer than 63 characters";
        for (size_t i = 0; i < n; i++) {
            char c = p[i];
            if (!isalnum((unsigned char)c) && c != '-')
                return "host must consist of letters, digits, '-' and '.'";
        }
        if (p[0] == '-' || p[n - 1] == '-')
            return "host labels must not start or end with '-'";
        if (!dot)
            break;
        p = dot + 1;
    }
    return NULL;
}

const char *weir_valid_label_key(const char *s)
{
    const char *slash = strchr(s, '/');
    const char *name = s;
    if (slash) {
        char prefix[256];
        size_t n = (size_t)(slash - s);
        if (n == 0 || n > 253)
            return "label key prefix must be a DNS subdomain of at most 253 characters";
        memcpy(prefix, s, n);
        prefix[n] = '\0';
        if (weir_valid_dns1123_subdomain(prefix))
            return "label key prefix must be a DNS-1123 subdomain";
        name = slash + 1;
    }
    size_t len = strlen(name);
    if (len == 0 || len > 63)
        return "label key name must be 1..63 characters";
    if (!isalnum((unsigned char)name[0]) || !isalnum((unsigned char)name[len - 1]))
        return "label key name must start and end with a letter or digit";
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr("-_.", name[i]))
            return "label key name must consist of letters, digits, '-', '_' and '.'";
    return NULL;
}

const char *weir_valid_label_value(const char *s)
{
    size_t len = strlen(s);
    if (len == 0)
        return NULL;
    if (len > 63)
        return "label value must be at most 63 characters";
    if (!isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
        return "label value must start and end with a letter or digit";
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("-_.", s[i]))
            return "label value must consist of letters, digits, '-', '_' and '.'";
    return NULL;
}

const char *weir_valid_ip(const char *s)
{
    unsigned char buf[16];
    if (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1)
        return NULL;
    return "must be an IPv4 or IPv6 address";
}

const char *weir_valid_cidr(const char *s)
{
    char ip[64];
    const char *slash = strchr(s, '/');
    unsigned char buf[16];
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    int max;

    if (n == 0 || n >= sizeof(ip))
        return "must be an IP address or CIDR block";
    memcpy(ip, s, n);
    ip[n] = '\0';
    if (inet_pton(AF_INET, ip, buf) == 1)
        max = 32;
    else if (inet_pton(AF_INET6, ip, buf) == 1)
        max = 128;
    else
        return "must be an IP address or CIDR block";
    if (slash) {
        char *end;
        const char *bits = slash + 1;
        if (!isdigit((unsigned char)*bits))
            return "CIDR prefix length must be a number";
        long len = strtol(bits, &end, 10);
        if (*end || len < 0 || len > max)
            return max == 32 ? "CIDR prefix length must be 0..32"
                             : "CIDR prefix length must be 0..128";
    }
    return NULL;
}

const char *weir_valid_header_name(const char *s)
{
    if (!*s)
        return "header name must not be empty";
    for (const char *p = s; *p; p++) {
        /* RFC 9110 token characters */
        if (!isalnum((unsigned char)*p) && !strchr("!#$%&'*+-.^_`|~", *p))
            return "header name must be an HTTP token (letters, digits and !#$%&'*+-.^_`|~)";
    }
    return NULL;
}

const char *weir_valid_export_to(const char *s)
{
    if (strcmp(s, ".") == 0 || strcmp(s, "*") == 0)
        return NULL;
    return weir_valid_dns1123_label(s) ? "exportTo entries must be \".\", \"*\" or a namespace name"
                                       : NULL;
}

bool weir_valid_port_number(int64_t n)
{
    return n >= 1 && n <= 65535;
}
