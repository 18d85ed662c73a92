/*
 * The canonical form of docs/proxy-config.md (RFC 8785, JSON Canonicalization
 * Scheme): object members sorted, no insignificant whitespace, strings with
 * the minimal escapes, numbers as ECMAScript prints them. It feeds
 * metadata.revision, so it must agree byte for byte with
 * scripts/check-proxy-config-schema.py for every document the operator writes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "translate/translate_internal.h"

static void put_string(struct tr_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = 0;
    tr_buf_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\r':
            esc = "\\r";
            break;
        default:
            memcpy(u, "\\u00", 4);
            u[4] = hex[c >> 4];
            u[5] = hex[c & 15];
            u[6] = '\0';
            esc = u;
            break;
        }
        tr_buf_put(b, s + start, i - start);
        tr_buf_puts(b, esc);
        start = i + 1;
    }
    tr_buf_put(b, s + start, n - start);
    tr_buf_put(b, "\"", 1);
}

/* ECMAScript Number::toString: the shortest digits that read back as the
 * same double, placed as plain decimals for 1e-6 <= |x| < 1e21. */
static void put_real(struct tr_buf *b, double x)
{
    char e[40], digits[24];
    int exp10 = 0, k = 0;

    if (!isfinite(x)) {
        tr_buf_puts(b, "null"); /* jansson never holds these; kept total */
        return;
    }
    if (x == 0) {
        tr_buf_puts(b, "0");
        return;
    }
    if (x < 0) {
        tr_buf_puts(b, "-");
        x = -x;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec - 1, x);
        if (strtod(e, NULL) == x)
            break;
    }
    /* e is "d.ddde+XX" or "de+XX" */
    for (const char *p = e; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[k++] = *p;
    while (k > 1 && digits[k - 1] == '0')
        k--;
    digits[k] = '\0';
    exp10 = atoi(strchr(e, 'e') + 1);
    int n = exp10 + 1; /* position of the decimal point */
    if (k <= n && n <= 21) {
        tr_buf_put(b, digits, (size_t)k);
        for (int i = k; i < n; i++)
            tr_buf_puts(b, "0");
    } else if (0 < n && n <= 21) {
        tr_buf_put(b, digits, (size_t)n);
        tr_buf_puts(b, ".");
        tr_buf_put(b, digits + n, (size_t)(k - n));
    } else if (-6 < n && n <= 0) {
        tr_buf_puts(b, "0.");
        for (int i = 0; i < -n; i++)
            tr_buf_puts(b, "0");
        tr_buf_put(b, digits, (size_t)k);
    } else {
        tr_buf_put(b, digits, 1);
        if (k > 1) {
            tr_buf_puts(b, ".");
            tr_buf_put(b, digits + 1, (size_t)(k - 1));
        }
        tr_buf_printf(b, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
    }
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void tr_canonical(struct tr_buf *b, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char *small[16];
        const char **keys = n <= 16 ? small : malloc(n * sizeof(*keys));
        const char *k;
        json_t *member;
        if (!keys) {
            b->oom = true;
            return;
        }
        json_object_foreach((json_t *)v, k, member)
        {
            keys[i++] = k;
        }
        tr_sort(keys, n, sizeof(*keys), cmp_keys);
        tr_buf_put(b, "{", 1);
        for (i = 0; i < n; i++) {
            if (i)
                tr_buf_put(b, ",", 1);
            put_string(b, keys[i], strlen(keys[i]));
            tr_buf_put(b, ":", 1);
            tr_canonical(b, json_object_get(v, keys[i]));
        }
        tr_buf_put(b, "}", 1);
        if (keys != small)
            free(keys);
        break;
    }
    case JSON_ARRAY:
        tr_buf_put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                tr_buf_put(b, ",", 1);
            tr_canonical(b, json_array_get(v, i));
        }
        tr_buf_put(b, "]", 1);
        break;
    case JSON_STRING:
        put_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        tr_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        put_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        tr_buf_puts(b, "true");
        break;
    case JSON_FALSE:
        tr_buf_puts(b, "false");
        break;
    case JSON_NULL:
        tr_buf_puts(b, "null");
        break;
    }
}

static void hex_revision(struct tr_sha256 *h, char out[72])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char d[32];
    tr_sha256_final(h, d);
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[d[i] >> 4];
        out[8 + 2 * i] = hex[d[i] & 15];
    }
    out[71] = '\0';
}

int weir_proxy_config_revision(const json_t *doc, char out[72])
{
    /* shallow copies of the two levels touched: the caller's document stays
     * as it is */
    json_t *copy = json_copy((json_t *)doc);
    json_t *md = copy ? json_object_get(copy, "metadata") : NULL;
    struct tr_buf b = {0};
    struct tr_sha256 h;

    if (!copy)
        return -1;
    if (json_is_object(md)) {
        md = json_copy(md);
        if (!md || json_object_set_new(copy, "metadata", md) != 0) {
            json_decref(copy);
            return -1;
        }
        json_object_del(md, "revision");
        json_object_del(md, "generatedAt");
    }
    tr_canonical(&b, copy);
    json_decref(copy);
    if (b.oom) {
        tr_buf_free(&b);
        return -1;
    }
    tr_sha256_init(&h);
    tr_sha256_update(&h, b.data, b.len);
    tr_buf_free(&b);
    hex_revision(&h, out);
    return 0;
}

void tr_revision_final(struct tr_sha256 *h, char out[72])
{
    hex_revision(h, out);
}
