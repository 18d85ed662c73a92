#include "core/diag.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void weir_diags_init(struct weir_diags *d)
{
    memset(d, 0, sizeof(*d));
}

static void diag_free(struct weir_diag *diag)
{
    free(diag->object);
    free(diag->path);
    free(diag->message);
    free(diag->source);
}

void weir_diags_clear(struct weir_diags *d)
{
    for (size_t i = 0; i < d->len; i++)
        diag_free(&d->items[i]);
    d->len = 0;
    d->truncated = false;
}

void weir_diags_free(struct weir_diags *d)
{
    weir_diags_clear(d);
    free(d->items);
    weir_diags_init(d);
}

/* Length of the valid UTF-8 sequence starting at s, 0 if it is not one. */
static size_t utf8_seq_len(const unsigned char *s)
{
    size_t n;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4;
    else
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* Diagnostics quote user input and are cut to fixed sizes, which can split a
 * multi-byte character; JSON output and terminals need valid UTF-8, so
 * anything that is not becomes '?'. */
static void utf8_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        size_t n = utf8_seq_len(p);
        if (n == 0) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

static char *dup_or_empty(const char *s)
{
    char *copy = strdup(s ? s : "");
    if (copy)
        utf8_sanitize(copy);
    return copy;
}

/* The list is full: an error must not be lost to earlier warnings, so it
 * takes the place of the last non-error entry. Returns the slot or -1. */
static long evict_for_error(struct weir_diags *d)
{
    for (size_t i = d->len; i-- > 0;) {
        if (d->items[i].severity != WEIR_SEV_ERROR) {
            diag_free(&d->items[i]);
            memmove(&d->items[i], &d->items[i + 1], (d->len - i - 1) * sizeof(d->items[0]));
            d->len--;
            return (long)i;
        }
    }
    return -1;
}

int weir_diags_add(struct weir_diags *d, enum weir_severity sev, const char *object,
                   const char *source, int line, const char *path, const char *fmt, ...)
{
    struct weir_diag diag = {.severity = sev, .line = line};
    va_list ap;
    char *message = NULL;

    if (d->len >= WEIR_DIAGS_MAX) {
        d->truncated = true;
        if (sev != WEIR_SEV_ERROR || evict_for_error(d) < 0)
            return -1;
    }
    if (d->len == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        struct weir_diag *items = realloc(d->items, cap * sizeof(*items));
        if (!items)
            goto fail;
        d->items = items;
        d->cap = cap;
    }

    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        goto fail;
    message = malloc((size_t)n + 1);
    if (!message)
        goto fail;
    va_start(ap, fmt);
    vsnprintf(message, (size_t)n + 1, fmt, ap);
    va_end(ap);

    utf8_sanitize(message);
    diag.message = message;
    diag.object = dup_or_empty(object);
    diag.path = dup_or_empty(path);
    diag.source = source ? dup_or_empty(source) : NULL;
    if (!diag.object || !diag.path || (source && !diag.source)) {
        diag_free(&diag);
        goto fail_noalloc;
    }
    d->items[d->len++] = diag;
    return 0;

fail:
    free(message);
fail_noalloc:
    d->truncated = true;
    return -1;
}

size_t weir_diags_count(const struct weir_diags *d, enum weir_severity sev)
{
    size_t n = 0;
    for (size_t i = 0; i < d->len; i++)
        if (d->items[i].severity == sev)
            n++;
    return n;
}

bool weir_diags_has_errors(const struct weir_diags *d)
{
    return weir_diags_count(d, WEIR_SEV_ERROR) > 0 || d->truncated;
}

int weir_diags_move(struct weir_diags *dst, struct weir_diags *src)
{
    int rc = 0;
    for (size_t i = 0; i < src->len; i++) {
        if (dst->len >= WEIR_DIAGS_MAX) {
            dst->truncated = true;
            rc = -1;
            diag_free(&src->items[i]);
            continue;
        }
        if (dst->len == dst->cap) {
            size_t cap = dst->cap ? dst->cap * 2 : 8;
            struct weir_diag *items = realloc(dst->items, cap * sizeof(*items));
            if (!items) {
                dst->truncated = true;
                rc = -1;
                diag_free(&src->items[i]);
                continue;
            }
            dst->items = items;
            dst->cap = cap;
        }
        dst->items[dst->len++] = src->items[i];
    }
    if (src->truncated)
        dst->truncated = true;
    src->len = 0;
    src->truncated = false;
    return rc;
}

const char *weir_severity_name(enum weir_severity sev)
{
    switch (sev) {
    case WEIR_SEV_ERROR:
        return "error";
    case WEIR_SEV_UNSUPPORTED:
        return "unsupported";
    case WEIR_SEV_WARNING:
        return "warning";
    }
    return "?";
}

char *weir_diag_format(const struct weir_diag *diag)
{
    const char *obj = diag->object && *diag->object ? diag->object : NULL;
    const char *path = diag->path && *diag->path ? diag->path : NULL;
    size_t n = strlen(diag->message) + (obj ? strlen(obj) + 2 : 0) + (path ? strlen(path) + 2 : 0);
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    snprintf(s, n + 1, "%s%s%s%s%s", obj ? obj : "", obj ? ": " : "", path ? path : "",
             path ? ": " : "", diag->message);
    return s;
}

void weir_diag_print(FILE *out, const struct weir_diag *diag)
{
    char *text = weir_diag_format(diag);
    if (diag->source && diag->line > 0)
        fprintf(out, "%s:%d: ", diag->source, diag->line);
    else if (diag->source)
        fprintf(out, "%s: ", diag->source);
    if (diag->severity != WEIR_SEV_ERROR)
        fprintf(out, "%s: ", weir_severity_name(diag->severity));
    fprintf(out, "%s\n", text ? text : diag->message);
    free(text);
}

/* ---- paths ---- */

void weir_path_init(struct weir_path *p)
{
    p->buf[0] = '\0';
    p->len = 0;
    p->depth = 0;
    p->overflow = false;
}

static bool is_plain_key(const char *key)
{
    if (!*key)
        return false;
    for (const char *c = key; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-')
            return false;
    return true;
}

static void path_append(struct weir_path *p, const char *s)
{
    size_t n = strlen(s);
    if (p->overflow)
        return;
    if (p->len + n + 4 >= WEIR_PATH_MAX) {
        p->overflow = true;
        memcpy(p->buf + p->len, "...", 4);
        p->len += 3;
        return;
    }
    memcpy(p->buf + p->len, s, n + 1);
    p->len += n;
}

static void path_mark(struct weir_path *p)
{
    if (p->depth < WEIR_PATH_DEPTH)
        p->marks[p->depth] = p->len;
    p->depth++;
}

void weir_path_push_key(struct weir_path *p, const char *key)
{
    path_mark(p);
    if (is_plain_key(key)) {
        if (p->len > 0)
            path_append(p, ".");
        path_append(p, key);
        return;
    }
    /* Keys such as label names carry dots and slashes: quote them so the path
     * stays unambiguous. Quotes and backslashes inside are escaped. */
    char quoted[WEIR_PATH_MAX];
    size_t q = 0;
    quoted[q++] = '[';
    quoted[q++] = '"';
    for (const char *c = key; *c && q + 4 < sizeof(quoted); c++) {
        if (*c == '"' || *c == '\\')
            quoted[q++] = '\\';
        quoted[q++] = *c;
    }
    quoted[q++] = '"';
    quoted[q++] = ']';
    quoted[q] = '\0';
    path_append(p, quoted);
}

void weir_path_push_index(struct weir_path *p, size_t index)
{
    char tmp[32];
    path_mark(p);
    snprintf(tmp, sizeof(tmp), "[%zu]", index);
    path_append(p, tmp);
}

void weir_path_pop(struct weir_path *p)
{
    if (p->depth == 0)
        return;
    p->depth--;
    if (p->depth < WEIR_PATH_DEPTH) {
        p->len = p->marks[p->depth];
        p->buf[p->len] = '\0';
        if (p->overflow && p->len + 4 < WEIR_PATH_MAX)
            p->overflow = false;
    }
}

const char *weir_path_str(const struct weir_path *p)
{
    return p->buf;
}
