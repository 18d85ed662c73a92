#include "model/check.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void weir_check_init(struct weir_check *c, struct weir_diags *diags,
                     const struct weir_yaml_stream *src, const char *object, int line)
{
    c->diags = diags;
    c->src = src;
    snprintf(c->object, sizeof(c->object), "%s", object ? object : "");
    weir_path_init(&c->path);
    c->line = line;
    c->errors = 0;
}

static int line_of(const struct weir_check *c, const json_t *at)
{
    int line = c->src && at ? weir_yaml_line(c->src, at) : 0;
    return line > 0 ? line : c->line;
}

static void vrecord(struct weir_check *c, enum weir_severity sev, const json_t *at, const char *fmt,
                    va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (sev == WEIR_SEV_ERROR)
        c->errors++;
    weir_diags_add(c->diags, sev, c->object, c->src ? c->src->source : NULL, line_of(c, at),
                   weir_path_str(&c->path), "%s", msg);
}

void weir_check_error(struct weir_check *c, const json_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vrecord(c, WEIR_SEV_ERROR, at, fmt, ap);
    va_end(ap);
}

void weir_check_unsupported(struct weir_check *c, const json_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vrecord(c, WEIR_SEV_UNSUPPORTED, at, fmt, ap);
    va_end(ap);
}

void weir_check_warning(struct weir_check *c, const json_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vrecord(c, WEIR_SEV_WARNING, at, fmt, ap);
    va_end(ap);
}

void weir_check_push_key(struct weir_check *c, const char *key)
{
    weir_path_push_key(&c->path, key);
}

void weir_check_push_index(struct weir_check *c, size_t index)
{
    weir_path_push_index(&c->path, index);
}

void weir_check_pop(struct weir_check *c)
{
    weir_path_pop(&c->path);
}

const char *weir_json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

static bool in_list(const char *const *list, const char *key)
{
    for (; list && *list; list++)
        if (strcmp(*list, key) == 0)
            return true;
    return false;
}

void weir_check_fields(struct weir_check *c, const json_t *obj, const char *const *known,
                       const char *const *unsupported)
{
    const char *key;
    json_t *value;

    if (!json_is_object(obj))
        return;
    json_object_foreach((json_t *)obj, key, value)
    {
        weir_check_push_key(c, key);
        if (in_list(unsupported, key))
            weir_check_unsupported(c, value, "field is not supported by Weir yet");
        else if (!in_list(known, key))
            weir_check_error(c, value, "unknown field");
        weir_check_pop(c);
    }
}

bool weir_check_is_object(struct weir_check *c, const json_t *v)
{
    if (json_is_object(v))
        return true;
    weir_check_error(c, v, "must be an object, got %s", v ? weir_json_type_name(v) : "nothing");
    return false;
}

static const char *type_word(json_type t)
{
    switch (t) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

static bool type_ok(const json_t *v, json_type type)
{
    switch (type) {
    case JSON_INTEGER:
        if (json_is_integer(v))
            return true;
        if (json_is_real(v)) {
            double d = json_real_value(v);
            return d == floor(d) && fabs(d) < 9.0e15;
        }
        return false;
    case JSON_REAL:
        return json_is_number(v);
    case JSON_TRUE:
    case JSON_FALSE:
        return json_is_boolean(v);
    default:
        return json_typeof(v) == type;
    }
}

const json_t *weir_check_get(struct weir_check *c, const json_t *obj, const char *key,
                             json_type type, bool required)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

    /* Kubernetes treats an explicit null like an absent field. */
    if (!v || json_is_null(v)) {
        if (required) {
            weir_check_push_key(c, key);
            weir_check_error(c, obj, "required field is missing");
            weir_check_pop(c);
        }
        return NULL;
    }
    if (!type_ok(v, type)) {
        weir_check_push_key(c, key);
        weir_check_error(c, v, "must be %s, got %s", type_word(type), weir_json_type_name(v));
        weir_check_pop(c);
        return NULL;
    }
    return v;
}

bool weir_get_string_borrowed(struct weir_check *c, const json_t *obj, const char *key,
                              bool required, const char **out)
{
    const json_t *v = weir_check_get(c, obj, key, JSON_STRING, required);
    if (!v)
        return false;
    *out = json_string_value(v);
    return true;
}

bool weir_get_string(struct weir_check *c, const json_t *obj, const char *key, bool required,
                     char **out)
{
    const char *s;
    if (!weir_get_string_borrowed(c, obj, key, required, &s))
        return false;
    *out = strdup(s);
    return *out != NULL;
}

bool weir_get_bool(struct weir_check *c, const json_t *obj, const char *key, bool *out)
{
    const json_t *v = weir_check_get(c, obj, key, JSON_TRUE, false);
    if (!v)
        return false;
    *out = json_is_true(v);
    return true;
}

static int64_t json_int_of(const json_t *v)
{
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : (int64_t)json_real_value(v);
}

bool weir_get_int(struct weir_check *c, const json_t *obj, const char *key, bool required,
                  int64_t min, int64_t max, int64_t *out)
{
    const json_t *v = weir_check_get(c, obj, key, JSON_INTEGER, required);
    if (!v)
        return false;
    int64_t n = json_int_of(v);
    if (n < min || n > max) {
        weir_check_push_key(c, key);
        weir_check_error(c, v, "must be %lld..%lld, got %lld", (long long)min, (long long)max,
                         (long long)n);
        weir_check_pop(c);
        return false;
    }
    *out = n;
    return true;
}

bool weir_get_number(struct weir_check *c, const json_t *obj, const char *key, bool required,
                     double min, double max, double *out)
{
    const json_t *v = weir_check_get(c, obj, key, JSON_REAL, required);
    if (!v)
        return false;
    double d = json_number_value(v);
    if (d < min || d > max) {
        weir_check_push_key(c, key);
        weir_check_error(c, v, "must be %g..%g, got %g", min, max, d);
        weir_check_pop(c);
        return false;
    }
    *out = d;
    return true;
}

int weir_parse_duration(const char *text, int64_t *out_ns)
{
    static const struct {
        const char *unit;
        double ns;
    } units[] = {
        {"ns", 1.0}, {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"ms", 1e6},
        {"s", 1e9},  {"m", 60e9}, {"h", 3600e9},
    };
    const char *p = text;
    double total = 0;

    if (!p || !*p)
        return -1;
    while (*p) {
        const char *start = p;
        bool digits = false;
        while (*p >= '0' && *p <= '9') {
            p++;
            digits = true;
        }
        if (*p == '.') {
            p++;
            while (*p >= '0' && *p <= '9') {
                p++;
                digits = true;
            }
        }
        if (!digits)
            return -1;
        double value = strtod(start, NULL);
        size_t best = 0;
        int found = -1;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t n = strlen(units[i].unit);
            if (strncmp(p, units[i].unit, n) == 0 && n > best) {
                best = n;
                found = (int)i;
            }
        }
        if (found < 0)
            return -1;
        total += value * units[found].ns;
        p += best;
        if (total > 9.2e18)
            return -1;
    }
    *out_ns = (int64_t)llround(total);
    return 0;
}

bool weir_get_duration(struct weir_check *c, const json_t *obj, const char *key, bool required,
                       int64_t min_ns, int64_t *out_ns)
{
    const json_t *v = weir_check_get(c, obj, key, JSON_STRING, required);
    int64_t ns;
    if (!v)
        return false;
    weir_check_push_key(c, key);
    if (weir_parse_duration(json_string_value(v), &ns) != 0) {
        weir_check_error(c, v, "invalid duration \"%s\" (use a form such as \"1.5s\" or \"250ms\")",
                         json_string_value(v));
        weir_check_pop(c);
        return false;
    }
    if (ns < min_ns) {
        if (min_ns >= 1000000)
            weir_check_error(c, v, "duration must be at least %lldms, got %s",
                             (long long)(min_ns / 1000000), json_string_value(v));
        else
            weir_check_error(c, v, "duration must be at least %lldns, got %s", (long long)min_ns,
                             json_string_value(v));
        weir_check_pop(c);
        return false;
    }
    weir_check_pop(c);
    *out_ns = ns;
    return true;
}

void weir_strings_free(struct weir_strings *s)
{
    for (size_t i = 0; i < s->len; i++)
        free(s->items[i]);
    free(s->items);
    s->items = NULL;
    s->len = 0;
}

void weir_string_map_free(struct weir_string_map *m)
{
    for (size_t i = 0; i < m->len; i++) {
        free(m->items[i].key);
        free(m->items[i].value);
    }
    free(m->items);
    m->items = NULL;
    m->len = 0;
}

const char *weir_string_map_get(const struct weir_string_map *m, const char *key)
{
    for (size_t i = 0; i < m->len; i++)
        if (strcmp(m->items[i].key, key) == 0)
            return m->items[i].value;
    return NULL;
}

bool weir_strings_contains(const struct weir_strings *s, const char *value)
{
    for (size_t i = 0; i < s->len; i++)
        if (strcmp(s->items[i], value) == 0)
            return true;
    return false;
}

bool weir_get_strings(struct weir_check *c, const json_t *obj, const char *key, bool required,
                      weir_string_validator valid, struct weir_strings *out)
{
    const json_t *arr = weir_check_get(c, obj, key, JSON_ARRAY, required);
    size_t i;
    json_t *item;
    bool ok = true;

    out->items = NULL;
    out->len = 0;
    if (!arr)
        return false;
    if (json_array_size(arr) > 0) {
        out->items = calloc(json_array_size(arr), sizeof(*out->items));
        if (!out->items)
            return false;
    }
    weir_check_push_key(c, key);
    json_array_foreach(arr, i, item)
    {
        weir_check_push_index(c, i);
        if (!json_is_string(item)) {
            weir_check_error(c, item, "must be a string, got %s", weir_json_type_name(item));
            ok = false;
        } else {
            const char *why = valid ? valid(json_string_value(item)) : NULL;
            if (why) {
                weir_check_error(c, item, "%s", why);
                ok = false;
            } else {
                out->items[out->len] = strdup(json_string_value(item));
                if (out->items[out->len])
                    out->len++;
            }
        }
        weir_check_pop(c);
    }
    weir_check_pop(c);
    return ok;
}

bool weir_get_string_map(struct weir_check *c, const json_t *obj, const char *key, bool required,
                         weir_string_validator valid_key, weir_string_validator valid_value,
                         struct weir_string_map *out)
{
    const json_t *map = weir_check_get(c, obj, key, JSON_OBJECT, required);
    const char *k;
    json_t *v;
    bool ok = true;

    out->items = NULL;
    out->len = 0;
    if (!map)
        return false;
    if (json_object_size(map) > 0) {
        out->items = calloc(json_object_size(map), sizeof(*out->items));
        if (!out->items)
            return false;
    }
    weir_check_push_key(c, key);
    json_object_foreach((json_t *)map, k, v)
    {
        weir_check_push_key(c, k);
        const char *why = valid_key ? valid_key(k) : NULL;
        if (why) {
            weir_check_error(c, v, "invalid key: %s", why);
            ok = false;
        } else if (!json_is_string(v)) {
            weir_check_error(c, v, "must be a string, got %s", weir_json_type_name(v));
            ok = false;
        } else if (valid_value && (why = valid_value(json_string_value(v)))) {
            weir_check_error(c, v, "%s", why);
            ok = false;
        } else {
            struct weir_kv *kv = &out->items[out->len];
            kv->key = strdup(k);
            kv->value = strdup(json_string_value(v));
            if (kv->key && kv->value) {
                out->len++;
            } else {
                free(kv->key);
                free(kv->value);
            }
        }
        weir_check_pop(c);
    }
    weir_check_pop(c);
    return ok;
}
