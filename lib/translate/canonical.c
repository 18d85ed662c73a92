/*
 * The canonical form of docs/proxy-config.md (RFC 8785, JSON Canonicalization
 * Scheme): object members sorted, no insignificant whitespace, strings with
 * the minimal escapes, numbers as ECMAScript prints them; and
 * metadata.revision, the two-level digest built on it. Both must agree byte
 * for byte with scripts/check-proxy-config-schema.py for every document the
 * operator writes.
 *
 * The revision hashes each element of `clusters` and `services` on its own
 * and the document with those arrays replaced by the digest of their
 * elements' digests. The elements are the fragments most configs share, so
 * the translation hashes each one once per run and a namespace's revision
 * costs 32 bytes per element instead of the element's whole text.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "translate/translate_internal.h"

/* Every element of every config goes through here once per run: the buffer
 * is appended to in place while it has room. */
static inline void put(struct tr_buf *b, const void *p, size_t n)
{
    if (b->len + n < b->cap) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
    } else {
        tr_buf_put(b, p, n);
    }
}

static void put_string(struct tr_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = 0;
    put(b, "\"", 1);
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
        put(b, s + start, i - start);
        put(b, esc, strlen(esc));
        start = i + 1;
    }
    put(b, s + start, n - start);
    put(b, "\"", 1);
}

static void put_integer(struct tr_buf *b, json_int_t x)
{
    char tmp[24], *p = tmp + sizeof(tmp);
    unsigned long long u = x < 0 ? 0ull - (unsigned long long)x : (unsigned long long)x;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (x < 0)
        *--p = '-';
    put(b, p, (size_t)(tmp + sizeof(tmp) - p));
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

struct member {
    const char *key;
    size_t len;
    const json_t *value;
};

/* Code point order is byte order in UTF-8; a key that is a prefix of
 * another sorts first. */
static int cmp_member(const struct member *a, const struct member *b)
{
    int r = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);
    return r ? r : (a->len > b->len) - (a->len < b->len);
}

static int cmp_member_q(const void *a, const void *b)
{
    return cmp_member(a, b);
}

void tr_canonical(struct tr_buf *b, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0, len;
        struct member small[16];
        struct member *m = n <= 16 ? small : malloc(n * sizeof(*m));
        const char *k;
        json_t *value;
        if (!m) {
            b->oom = true;
            return;
        }
        json_object_keylen_foreach((json_t *)v, k, len, value)
        {
            m[i++] = (struct member){k, len, value};
        }
        if (n > 16) {
            qsort(m, n, sizeof(*m), cmp_member_q);
        } else {
            /* most objects here have a handful of members */
            for (size_t x = 1; x < n; x++) {
                struct member t = m[x];
                size_t y = x;
                for (; y > 0 && cmp_member(&m[y - 1], &t) > 0; y--)
                    m[y] = m[y - 1];
                m[y] = t;
            }
        }
        put(b, "{", 1);
        for (i = 0; i < n; i++) {
            if (i)
                put(b, ",", 1);
            put_string(b, m[i].key, m[i].len);
            put(b, ":", 1);
            tr_canonical(b, m[i].value);
        }
        put(b, "}", 1);
        if (m != small)
            free(m);
        break;
    }
    case JSON_ARRAY:
        put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                put(b, ",", 1);
            tr_canonical(b, json_array_get(v, i));
        }
        put(b, "]", 1);
        break;
    case JSON_STRING:
        put_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        put_integer(b, json_integer_value(v));
        break;
    case JSON_REAL:
        put_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        put(b, "true", 4);
        break;
    case JSON_FALSE:
        put(b, "false", 5);
        break;
    case JSON_NULL:
        put(b, "null", 4);
        break;
    }
}

static void hex(const unsigned char *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

int tr_digest(const json_t *v, struct tr_buf *scratch, unsigned char out[32])
{
    struct tr_sha256 h;
    scratch->len = 0;
    tr_canonical(scratch, v);
    if (scratch->oom)
        return -1;
    tr_sha256_init(&h);
    tr_sha256_update(&h, scratch->data ? scratch->data : "", scratch->len);
    tr_sha256_final(&h, out);
    return 0;
}

void tr_list_digest(const unsigned char *digests, size_t n, unsigned char out[32])
{
    struct tr_sha256 h;
    tr_sha256_init(&h);
    tr_sha256_update(&h, digests ? (const void *)digests : "", n * 32);
    tr_sha256_final(&h, out);
}

const char *const tr_lists[TR_N_LISTS] = {"clusters", "services"};

int tr_revision(const json_t *doc, const unsigned char lists[TR_N_LISTS][32], char out[72])
{
    /* shallow copies of the two levels touched: the caller's document stays
     * as it is */
    json_t *copy = json_copy((json_t *)doc);
    json_t *md = copy ? json_object_get(copy, "metadata") : NULL;
    struct tr_buf b = {0};
    unsigned char d[32];
    int rc = -1;

    if (!copy)
        return -1;
    if (json_is_object(md)) {
        md = json_copy(md);
        if (!md || json_object_set_new(copy, "metadata", md) != 0)
            goto out;
        json_object_del(md, "revision");
        json_object_del(md, "generatedAt");
    }
    for (size_t i = 0; i < TR_N_LISTS; i++) {
        char x[65];
        if (!json_is_array(json_object_get(copy, tr_lists[i])))
            continue;
        hex(lists[i], 32, x);
        if (json_object_set_new(copy, tr_lists[i], json_string(x)) != 0)
            goto out;
    }
    if (tr_digest(copy, &b, d) != 0)
        goto out;
    memcpy(out, "sha256:", 7);
    hex(d, 32, out + 7);
    rc = 0;
out:
    tr_buf_free(&b);
    json_decref(copy);
    return rc;
}

int weir_proxy_config_revision(const json_t *doc, char out[72])
{
    unsigned char lists[TR_N_LISTS][32];
    struct tr_buf b = {0};
    int rc = 0;

    for (size_t i = 0; i < TR_N_LISTS && rc == 0; i++) {
        const json_t *a = json_object_get(doc, tr_lists[i]);
        size_t n = json_array_size(a);
        unsigned char *d = malloc(n * 32 + 1);
        if (!d) {
            rc = -1;
            break;
        }
        for (size_t k = 0; k < n && rc == 0; k++)
            rc = tr_digest(json_array_get(a, k), &b, d + 32 * k);
        tr_list_digest(d, n, lists[i]);
        free(d);
    }
    tr_buf_free(&b);
    return rc == 0 ? tr_revision(doc, lists, out) : -1;
}
