#include "inject/jsonpatch.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A pointer longer than this is refused rather than parsed into ever more
 * tokens; Kubernetes objects are nowhere near as deep. */
#define POINTER_MAX_TOKENS 128
#define TOKEN_MAX          1024

static void set_err(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    if (!err || !len)
        return;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

int weir_json_pointer_append(char *buf, size_t len, const char *token)
{
    size_t n = strlen(buf);
    if (n + 1 >= len)
        return -1;
    buf[n++] = '/';
    for (const char *p = token; *p; p++) {
        const char *rep = *p == '~' ? "~0" : *p == '/' ? "~1" : NULL;
        size_t need = rep ? 2 : 1;
        if (n + need >= len) {
            buf[len - 1] = '\0';
            return -1;
        }
        if (rep) {
            buf[n++] = rep[0];
            buf[n++] = rep[1];
        } else {
            buf[n++] = *p;
        }
    }
    buf[n] = '\0';
    return 0;
}

/* The next unescaped reference token of a pointer; *p advances past it.
 * Returns 0, or -1 on a bad escape or an over-long token. */
static int next_token(const char **p, char *out, size_t len)
{
    size_t n = 0;
    const char *s = *p;
    if (*s != '/')
        return -1;
    s++;
    while (*s && *s != '/') {
        char ch = *s;
        if (ch == '~') {
            if (s[1] == '0')
                ch = '~';
            else if (s[1] == '1')
                ch = '/';
            else
                return -1;
            s++;
        }
        if (n + 1 >= len)
            return -1;
        out[n++] = ch;
        s++;
    }
    out[n] = '\0';
    *p = s;
    return 0;
}

/* RFC 6901 array indices: "0" or digits without a leading zero. */
static int parse_index(const char *tok, size_t *out)
{
    if (!*tok || (tok[0] == '0' && tok[1]))
        return -1;
    for (const char *c = tok; *c; c++) {
        if (!isdigit((unsigned char)*c))
            return -1;
    }
    errno = 0;
    unsigned long long v = strtoull(tok, NULL, 10);
    if (errno || v > (1ULL << 31))
        return -1;
    *out = (size_t)v;
    return 0;
}

/* Walks to the parent of the pointer's last token. On success *parent is that
 * container (borrowed) and last holds the unescaped final token. A root pointer
 * ("") gives *parent = NULL. */
static int resolve_parent(json_t *doc, const char *pointer, json_t **parent, char *last,
                          size_t last_len, char *err, size_t errlen)
{
    const char *p = pointer;
    json_t *cur = doc;
    char tok[TOKEN_MAX];
    int depth = 0;

    *parent = NULL;
    last[0] = '\0';
    if (*p == '\0')
        return 0;
    if (*p != '/') {
        set_err(err, errlen, "path \"%s\" must be empty or start with \"/\"", pointer);
        return -1;
    }
    for (;;) {
        if (++depth > POINTER_MAX_TOKENS) {
            set_err(err, errlen, "path \"%s\" is deeper than %d levels", pointer,
                    POINTER_MAX_TOKENS);
            return -1;
        }
        if (next_token(&p, tok, sizeof(tok)) != 0) {
            set_err(err, errlen, "path \"%s\" has an invalid escape or an over-long token",
                    pointer);
            return -1;
        }
        if (*p == '\0') {
            *parent = cur;
            snprintf(last, last_len, "%s", tok);
            return 0;
        }
        json_t *next = NULL;
        if (json_is_object(cur)) {
            next = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            size_t i;
            if (parse_index(tok, &i) == 0)
                next = json_array_get(cur, i);
        }
        if (!next) {
            set_err(err, errlen, "path \"%s\": \"%s\" does not exist", pointer, tok);
            return -1;
        }
        cur = next;
    }
}

json_t *weir_json_pointer_get(const json_t *doc, const char *pointer)
{
    json_t *parent;
    char last[TOKEN_MAX];
    if (resolve_parent((json_t *)doc, pointer, &parent, last, sizeof(last), NULL, 0) != 0)
        return NULL;
    if (!parent)
        return (json_t *)doc;
    if (json_is_object(parent))
        return json_object_get(parent, last);
    if (json_is_array(parent)) {
        size_t i;
        if (parse_index(last, &i) == 0)
            return json_array_get(parent, i);
    }
    return NULL;
}

/* add: steals value. */
static int op_add(json_t **doc, const char *path, json_t *value, char *err, size_t errlen)
{
    json_t *parent;
    char last[TOKEN_MAX];

    if (resolve_parent(*doc, path, &parent, last, sizeof(last), err, errlen) != 0)
        goto fail;
    if (!parent) {
        json_decref(*doc);
        *doc = value;
        return 0;
    }
    if (json_is_object(parent)) {
        if (json_object_set_new(parent, last, value) != 0) {
            set_err(err, errlen, "add \"%s\": out of memory", path);
            return -1;
        }
        return 0;
    }
    if (json_is_array(parent)) {
        size_t i;
        if (strcmp(last, "-") == 0) {
            if (json_array_append_new(parent, value) != 0) {
                set_err(err, errlen, "add \"%s\": out of memory", path);
                return -1;
            }
            return 0;
        }
        if (parse_index(last, &i) != 0 || i > json_array_size(parent)) {
            set_err(err, errlen, "add \"%s\": index %s is out of range 0..%zu", path, last,
                    json_array_size(parent));
            goto fail;
        }
        if (json_array_insert_new(parent, i, value) != 0) {
            set_err(err, errlen, "add \"%s\": out of memory", path);
            return -1;
        }
        return 0;
    }
    set_err(err, errlen, "add \"%s\": the parent is neither an object nor an array", path);
fail:
    json_decref(value);
    return -1;
}

/* remove: returns the removed value (a new reference) when out is not NULL. */
static int op_remove(json_t *doc, const char *path, json_t **out, char *err, size_t errlen)
{
    json_t *parent;
    char last[TOKEN_MAX];

    if (resolve_parent(doc, path, &parent, last, sizeof(last), err, errlen) != 0)
        return -1;
    if (!parent) {
        set_err(err, errlen, "remove: the whole document cannot be removed");
        return -1;
    }
    if (json_is_object(parent)) {
        json_t *v = json_object_get(parent, last);
        if (!v) {
            set_err(err, errlen, "remove \"%s\": no such member", path);
            return -1;
        }
        if (out)
            *out = json_incref(v);
        json_object_del(parent, last);
        return 0;
    }
    if (json_is_array(parent)) {
        size_t i;
        if (parse_index(last, &i) != 0 || i >= json_array_size(parent)) {
            set_err(err, errlen, "remove \"%s\": no such element", path);
            return -1;
        }
        if (out)
            *out = json_incref(json_array_get(parent, i));
        json_array_remove(parent, i);
        return 0;
    }
    set_err(err, errlen, "remove \"%s\": the parent is neither an object nor an array", path);
    return -1;
}

static int apply_one(json_t **doc, const json_t *op, size_t index, char *err, size_t errlen)
{
    const char *name = json_string_value(json_object_get(op, "op"));
    const char *path = json_string_value(json_object_get(op, "path"));
    const char *from = json_string_value(json_object_get(op, "from"));
    json_t *value = json_object_get(op, "value");
    char sub[512];

    if (!json_is_object(op) || !name || !path) {
        set_err(err, errlen, "operation %zu: must be an object with string \"op\" and \"path\"",
                index);
        return -1;
    }
    if (strcmp(name, "add") == 0 || strcmp(name, "replace") == 0 || strcmp(name, "test") == 0) {
        if (!value) {
            set_err(err, errlen, "operation %zu (%s \"%s\"): \"value\" is missing", index, name,
                    path);
            return -1;
        }
    }
    if ((strcmp(name, "move") == 0 || strcmp(name, "copy") == 0) && !from) {
        set_err(err, errlen, "operation %zu (%s \"%s\"): \"from\" is missing", index, name, path);
        return -1;
    }

    int rc;
    if (strcmp(name, "add") == 0) {
        rc = op_add(doc, path, json_deep_copy(value), sub, sizeof(sub));
    } else if (strcmp(name, "remove") == 0) {
        rc = op_remove(*doc, path, NULL, sub, sizeof(sub));
    } else if (strcmp(name, "replace") == 0) {
        if (!weir_json_pointer_get(*doc, path)) {
            snprintf(sub, sizeof(sub), "replace \"%s\": no such value", path);
            rc = -1;
        } else if (*path == '\0') {
            rc = op_add(doc, path, json_deep_copy(value), sub, sizeof(sub));
        } else {
            rc = op_remove(*doc, path, NULL, sub, sizeof(sub));
            if (rc == 0)
                rc = op_add(doc, path, json_deep_copy(value), sub, sizeof(sub));
        }
    } else if (strcmp(name, "move") == 0) {
        size_t flen = strlen(from);
        json_t *moved = NULL;
        if (strncmp(path, from, flen) == 0 && path[flen] == '/') {
            snprintf(sub, sizeof(sub), "move: \"%s\" is inside \"%s\"", path, from);
            rc = -1;
        } else if (strcmp(path, from) == 0) {
            rc = weir_json_pointer_get(*doc, from) ? 0 : -1;
            if (rc)
                snprintf(sub, sizeof(sub), "move: \"%s\" does not exist", from);
        } else {
            rc = op_remove(*doc, from, &moved, sub, sizeof(sub));
            if (rc == 0)
                rc = op_add(doc, path, moved, sub, sizeof(sub));
        }
    } else if (strcmp(name, "copy") == 0) {
        json_t *v = weir_json_pointer_get(*doc, from);
        if (!v) {
            snprintf(sub, sizeof(sub), "copy: \"%s\" does not exist", from);
            rc = -1;
        } else {
            rc = op_add(doc, path, json_deep_copy(v), sub, sizeof(sub));
        }
    } else if (strcmp(name, "test") == 0) {
        json_t *v = weir_json_pointer_get(*doc, path);
        rc = v && json_equal(v, value) ? 0 : -1;
        if (rc)
            snprintf(sub, sizeof(sub), "test \"%s\": the value differs", path);
    } else {
        snprintf(sub, sizeof(sub), "unknown op \"%s\"", name);
        rc = -1;
    }
    if (rc != 0)
        set_err(err, errlen, "operation %zu: %s", index, sub);
    return rc;
}

int weir_jsonpatch_apply(json_t **doc, const json_t *patch, char *err, size_t errlen)
{
    if (!json_is_array(patch)) {
        set_err(err, errlen, "a JSON patch must be an array of operations");
        return -1;
    }
    json_t *work = json_deep_copy(*doc);
    if (!work) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < json_array_size(patch); i++) {
        if (apply_one(&work, json_array_get(patch, i), i, err, errlen) != 0) {
            json_decref(work);
            return -1;
        }
    }
    json_decref(*doc);
    *doc = work;
    return 0;
}

int weir_jsonpatch_add_op(json_t *patch, const char *op, const char *path, json_t *value)
{
    json_t *o;
    /* Only remove goes without a value; a NULL here is a failed allocation. */
    if (!value && strcmp(op, "remove") != 0)
        return -1;
    o = json_object();
    if (!o || json_object_set_new(o, "op", json_string(op)) != 0 ||
        json_object_set_new(o, "path", json_string(path)) != 0) {
        json_decref(o);
        json_decref(value);
        return -1;
    }
    if (value && json_object_set_new(o, "value", value) != 0) {
        json_decref(o);
        return -1;
    }
    return json_array_append_new(patch, o);
}
