#include "config/proxy_config_internal.h"

#include "core/regex.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- arena ----
 * A loaded config is read by many threads and dropped as a whole, so its
 * pieces live in a few large blocks instead of thousands of small mallocs:
 * one free at the end, no per-member ownership to get wrong. */

struct pc_block {
    struct pc_block *next;
    size_t used;
    size_t cap;
};

struct weir_pc_arena {
    struct pc_block *head;
    struct weir_regex **regexes;
    size_t n_regexes;
    size_t cap_regexes;
};

#define PC_BLOCK_SIZE ((size_t)64 << 10)
#define PC_ALIGN      (alignof(max_align_t))
#define PC_ROUND(n)   (((n) + PC_ALIGN - 1) & ~(PC_ALIGN - 1))

struct weir_pc_arena *pc_arena_new(void)
{
    return calloc(1, sizeof(struct weir_pc_arena));
}

void pc_arena_free(struct weir_pc_arena *a)
{
    if (!a)
        return;
    for (struct pc_block *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    for (size_t i = 0; i < a->n_regexes; i++)
        weir_regex_free(a->regexes[i]);
    free(a->regexes);
    free(a);
}

/* Allocation failure injection for the loader's tests: the n-th arena
 * allocation from now fails (0: never). Tests run single-threaded. */
static unsigned long fail_countdown;

void pc_test_fail_alloc_after(unsigned long n)
{
    fail_countdown = n;
}

void *pc_alloc(struct pc_loader *l, size_t n)
{
    struct weir_pc_arena *a = l->arena;
    size_t header = PC_ROUND(sizeof(struct pc_block));

    if (n == 0 || l->oom)
        return NULL;
    if (fail_countdown > 0 && --fail_countdown == 0) {
        l->oom = true;
        return NULL;
    }
    if (n > SIZE_MAX / 2) {
        l->oom = true;
        return NULL;
    }
    n = PC_ROUND(n);
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > PC_BLOCK_SIZE ? n : PC_BLOCK_SIZE;
        struct pc_block *b = malloc(header + cap);
        if (!b) {
            l->oom = true;
            return NULL;
        }
        b->used = 0;
        b->cap = cap;
        b->next = a->head;
        a->head = b;
    }
    void *p = (char *)a->head + header + a->head->used;
    a->head->used += n;
    memset(p, 0, n);
    return p;
}

void *pc_alloc_array(struct pc_loader *l, size_t n, size_t size)
{
    if (n == 0)
        return NULL;
    if (size && n > SIZE_MAX / 2 / size) {
        l->oom = true;
        return NULL;
    }
    return pc_alloc(l, n * size);
}

char *pc_strdup(struct pc_loader *l, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = pc_alloc(l, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

bool pc_arena_keep_regex(struct pc_loader *l, struct weir_regex *code)
{
    struct weir_pc_arena *a = l->arena;
    if (a->n_regexes == a->cap_regexes) {
        size_t cap = a->cap_regexes ? a->cap_regexes * 2 : 16;
        struct weir_regex **items = realloc(a->regexes, cap * sizeof(*items));
        if (!items) {
            weir_regex_free(code);
            l->oom = true;
            return false;
        }
        a->regexes = items;
        a->cap_regexes = cap;
    }
    a->regexes[a->n_regexes++] = code;
    return true;
}

/* ---- getters ---- */

static void error_at(struct pc_loader *l, const char *key, const json_t *at, const char *why)
{
    weir_check_push_key(&l->c, key);
    weir_check_error(&l->c, at, "%s", why);
    weir_check_pop(&l->c);
}

const char *pc_str(struct pc_loader *l, const json_t *obj, const char *key, bool required,
                   pc_validator valid)
{
    const char *s;
    if (!weir_get_string_borrowed(&l->c, obj, key, required, &s))
        return NULL;
    const char *why = valid ? valid(s) : NULL;
    if (why) {
        error_at(l, key, json_object_get(obj, key), why);
        return NULL;
    }
    return pc_strdup(l, s);
}

int64_t pc_int(struct pc_loader *l, const json_t *obj, const char *key, bool required, int64_t min,
               int64_t max, int64_t def)
{
    int64_t v;
    return weir_get_int(&l->c, obj, key, required, min, max, &v) ? v : def;
}

bool pc_bool(struct pc_loader *l, const json_t *obj, const char *key, bool def)
{
    bool v;
    return weir_get_bool(&l->c, obj, key, &v) ? v : def;
}

uint32_t pc_percent(struct pc_loader *l, const json_t *obj, const char *key, bool required,
                    uint32_t def)
{
    double d;
    if (!weir_get_number(&l->c, obj, key, required, 0.0, 100.0, &d))
        return def;
    return (uint32_t)llround(d * (WEIR_PC_PPM_MAX / 100));
}

int pc_enum(struct pc_loader *l, const json_t *obj, const char *key, bool required,
            const char *const *names, int def)
{
    const char *s;
    char list[512];
    size_t used = 0;

    if (!weir_get_string_borrowed(&l->c, obj, key, required, &s))
        return def;
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    list[0] = '\0';
    for (int i = 0; names[i] && used < sizeof(list); i++)
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", names[i]);
    weir_check_push_key(&l->c, key);
    weir_check_error(&l->c, json_object_get(obj, key), "must be one of %s; got \"%s\"", list, s);
    weir_check_pop(&l->c);
    return def;
}

static void check_nonempty(struct pc_loader *l, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_array(v) && json_array_size(v) == 0)
        error_at(l, key, v, "must not be empty");
    else if (json_is_object(v) && json_object_size(v) == 0)
        error_at(l, key, v, "must not be empty");
}

void pc_strings(struct pc_loader *l, const json_t *obj, const char *key, bool required,
                bool nonempty, pc_validator valid, struct weir_strings *out)
{
    struct weir_strings tmp;

    out->items = NULL;
    out->len = 0;
    weir_get_strings(&l->c, obj, key, required, valid, &tmp);
    if (nonempty)
        check_nonempty(l, obj, key);
    if (tmp.len > 0) {
        out->items = pc_alloc_array(l, tmp.len, sizeof(*out->items));
        for (size_t i = 0; out->items && i < tmp.len; i++)
            if ((out->items[i] = pc_strdup(l, tmp.items[i])))
                out->len++;
    }
    weir_strings_free(&tmp);
}

static void copy_map(struct pc_loader *l, struct weir_string_map *tmp, struct weir_string_map *out)
{
    out->items = NULL;
    out->len = 0;
    if (tmp->len > 0) {
        out->items = pc_alloc_array(l, tmp->len, sizeof(*out->items));
        for (size_t i = 0; out->items && i < tmp->len; i++) {
            out->items[i].key = pc_strdup(l, tmp->items[i].key);
            out->items[i].value = pc_strdup(l, tmp->items[i].value);
            if (out->items[i].key && out->items[i].value)
                out->len++;
        }
    }
    weir_string_map_free(tmp);
}

bool pc_labels(struct pc_loader *l, const json_t *obj, const char *key, bool required,
               struct weir_string_map *out)
{
    struct weir_string_map tmp;
    bool present = json_is_object(json_object_get(obj, key));
    weir_get_string_map(&l->c, obj, key, required, weir_valid_label_key, weir_valid_label_value,
                        &tmp);
    copy_map(l, &tmp, out);
    return present;
}

static const char *valid_header_value(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return "header value must not contain control characters";
    return NULL;
}

void pc_header_values(struct pc_loader *l, const json_t *obj, const char *key,
                      struct weir_string_map *out)
{
    struct weir_string_map tmp;
    weir_get_string_map(&l->c, obj, key, false, pc_valid_header_name, valid_header_value, &tmp);
    copy_map(l, &tmp, out);
}

const struct weir_pc_selector *pc_selector(struct pc_loader *l, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    struct weir_pc_selector *sel;
    if (!v || json_is_null(v))
        return NULL;
    sel = pc_alloc(l, sizeof(*sel));
    if (!sel)
        return NULL;
    pc_labels(l, obj, key, false, &sel->match_labels);
    check_nonempty(l, obj, key);
    return sel;
}

/* ---- string matches ---- */

bool pc_compile_regex(struct pc_loader *l, const json_t *at, const char *pattern, bool ignore_case,
                      bool anchored, struct weir_regex **out)
{
    char why[256];
    struct weir_regex *code;

    /* Route and policy matches are full matches (RE2 FullMatch, as Envoy
     * evaluates them); rewrites replace every match. Both use one compiled
     * pattern, so `anchored` only documents the caller's intent. */
    (void)anchored;
    *out = NULL;
    code = weir_regex_compile_case(pattern, ignore_case, why, sizeof(why));
    if (!code) {
        weir_check_error(&l->c, at, "%s", why);
        return false;
    }
    if (!pc_arena_keep_regex(l, code))
        return false;
    *out = code;
    return true;
}

bool pc_match_value(struct pc_loader *l, const json_t *v, bool ignore_case,
                    struct weir_pc_match *out)
{
    struct weir_string_match tmp;

    memset(out, 0, sizeof(*out));
    out->ignore_case = ignore_case;
    if (!weir_parse_string_match(&l->c, v, &tmp)) {
        weir_string_match_free(&tmp);
        return false;
    }
    out->m.type = tmp.type;
    out->m.value = pc_strdup(l, tmp.value);
    weir_string_match_free(&tmp);
    if (!out->m.value)
        return false;
    if (out->m.type == WEIR_MATCH_REGEX) {
        weir_check_push_key(&l->c, "regex");
        bool ok = pc_compile_regex(l, json_object_get(v, "regex"), out->m.value, ignore_case, true,
                                   &out->regex);
        weir_check_pop(&l->c);
        if (!ok) {
            out->m.type = WEIR_MATCH_NONE;
            return false;
        }
    }
    return true;
}

void pc_match(struct pc_loader *l, const json_t *obj, const char *key, bool required,
              bool ignore_case, struct weir_pc_match *out)
{
    const json_t *v = weir_check_get(&l->c, obj, key, JSON_OBJECT, required);
    memset(out, 0, sizeof(*out));
    if (!v)
        return;
    weir_check_push_key(&l->c, key);
    pc_match_value(l, v, ignore_case, out);
    weir_check_pop(&l->c);
}

void pc_match_list(struct pc_loader *l, const json_t *obj, const char *key,
                   struct weir_pc_matches *out)
{
    const json_t *arr = weir_check_get(&l->c, obj, key, JSON_ARRAY, false);
    size_t i;
    json_t *item;

    out->items = NULL;
    out->len = 0;
    if (!arr)
        return;
    out->items = pc_alloc_array(l, json_array_size(arr), sizeof(*out->items));
    if (!out->items)
        return;
    weir_check_push_key(&l->c, key);
    json_array_foreach(arr, i, item)
    {
        weir_check_push_index(&l->c, i);
        if (pc_match_value(l, item, false, &out->items[out->len]))
            out->len++;
        weir_check_pop(&l->c);
    }
    weir_check_pop(&l->c);
}

void pc_named_matches(struct pc_loader *l, const json_t *obj, const char *key,
                      struct weir_pc_named_matches *out)
{
    const json_t *map = weir_check_get(&l->c, obj, key, JSON_OBJECT, false);
    /* Query parameter names are case-sensitive; header names are lower-case
     * in the contract so the proxy compares them after lower-casing once. */
    bool headers = strcmp(key, "queryParams") != 0;
    const char *name;
    json_t *v;

    out->items = NULL;
    out->len = 0;
    if (!map)
        return;
    out->items = pc_alloc_array(l, json_object_size(map), sizeof(*out->items));
    if (!out->items)
        return;
    weir_check_push_key(&l->c, key);
    json_object_foreach((json_t *)map, name, v)
    {
        weir_check_push_key(&l->c, name);
        const char *why = headers ? pc_valid_header_name(name) : pc_valid_not_empty(name);
        if (why) {
            weir_check_error(&l->c, v, "invalid name: %s", why);
        } else {
            struct weir_pc_named_match *nm = &out->items[out->len];
            nm->name = pc_strdup(l, name);
            if (pc_match_value(l, v, false, &nm->match) && nm->name)
                out->len++;
        }
        weir_check_pop(&l->c);
    }
    weir_check_pop(&l->c);
}

bool weir_pc_match_eval(const struct weir_pc_match *m, const char *s, size_t len)
{
    size_t n;
    switch (m->m.type) {
    case WEIR_MATCH_NONE:
        return true;
    case WEIR_MATCH_EXACT:
        n = strlen(m->m.value);
        return n == len && (m->ignore_case ? strncasecmp(s, m->m.value, n) == 0
                                           : memcmp(s, m->m.value, n) == 0);
    case WEIR_MATCH_PREFIX:
        n = strlen(m->m.value);
        return n <= len && (m->ignore_case ? strncasecmp(s, m->m.value, n) == 0
                                           : memcmp(s, m->m.value, n) == 0);
    case WEIR_MATCH_REGEX:
        /* RE2: linear in the input, so a crafted header cannot stall a worker */
        return weir_regex_full_match(m->regex, s, len);
    }
    return false;
}

/* ---- addresses ---- */

bool pc_parse_cidr(struct pc_loader *l, const char *text, bool address_only,
                   struct weir_pc_cidr *out)
{
    char ip[64];
    const char *slash = strchr(text, '/');
    size_t n = slash ? (size_t)(slash - text) : strlen(text);
    const char *why = address_only ? weir_valid_ip(text) : weir_valid_cidr(text);

    memset(out, 0, sizeof(*out));
    if (why || n >= sizeof(ip)) {
        weir_check_error(&l->c, NULL, "%s, got \"%s\"", why ? why : "invalid address", text);
        return false;
    }
    memcpy(ip, text, n);
    ip[n] = '\0';
    if (inet_pton(AF_INET, ip, out->addr) == 1) {
        out->family = AF_INET;
        out->prefix_len = 32;
    } else {
        inet_pton(AF_INET6, ip, out->addr);
        out->family = AF_INET6;
        out->prefix_len = 128;
    }
    if (slash)
        out->prefix_len = (uint8_t)atoi(slash + 1);
    out->text = pc_strdup(l, text);
    return out->text != NULL;
}

void pc_cidrs(struct pc_loader *l, const json_t *obj, const char *key, bool nonempty,
              struct weir_pc_cidrs *out)
{
    const json_t *arr = weir_check_get(&l->c, obj, key, JSON_ARRAY, false);
    size_t i;
    json_t *item;

    out->items = NULL;
    out->len = 0;
    if (!arr)
        return;
    if (nonempty)
        check_nonempty(l, obj, key);
    out->items = pc_alloc_array(l, json_array_size(arr), sizeof(*out->items));
    if (!out->items)
        return;
    weir_check_push_key(&l->c, key);
    json_array_foreach(arr, i, item)
    {
        weir_check_push_index(&l->c, i);
        if (!json_is_string(item))
            weir_check_error(&l->c, item, "must be a string, got %s", weir_json_type_name(item));
        else if (pc_parse_cidr(l, json_string_value(item), false, &out->items[out->len]))
            out->len++;
        weir_check_pop(&l->c);
    }
    weir_check_pop(&l->c);
}

void pc_ports(struct pc_loader *l, const json_t *obj, const char *key, struct weir_pc_ports *out)
{
    const json_t *arr = weir_check_get(&l->c, obj, key, JSON_ARRAY, false);
    size_t i;
    json_t *item;

    out->items = NULL;
    out->len = 0;
    if (!arr)
        return;
    out->items = pc_alloc_array(l, json_array_size(arr), sizeof(*out->items));
    if (!out->items)
        return;
    weir_check_push_key(&l->c, key);
    json_array_foreach(arr, i, item)
    {
        weir_check_push_index(&l->c, i);
        if (!json_is_integer(item))
            weir_check_error(&l->c, item, "must be an integer, got %s", weir_json_type_name(item));
        else if (!weir_valid_port_number(json_integer_value(item)))
            weir_check_error(&l->c, item, "must be 1..65535, got %lld",
                             (long long)json_integer_value(item));
        else
            out->items[out->len++] = (uint16_t)json_integer_value(item);
        weir_check_pop(&l->c);
    }
    weir_check_pop(&l->c);
}

bool weir_pc_cidr_contains(const struct weir_pc_cidr *block, int family, const uint8_t *ip)
{
    unsigned bits = block->prefix_len;
    if (block->family != family)
        return false;
    if (memcmp(block->addr, ip, bits / 8) != 0)
        return false;
    if (bits % 8) {
        uint8_t mask = (uint8_t)(0xff00u >> (bits % 8));
        return (block->addr[bits / 8] & mask) == (ip[bits / 8] & mask);
    }
    return true;
}

bool weir_pc_selector_matches(const struct weir_string_map *match_labels,
                              const struct weir_string_map *labels)
{
    for (size_t i = 0; i < match_labels->len; i++) {
        const char *v = weir_string_map_get(labels, match_labels->items[i].key);
        if (!v || strcmp(v, match_labels->items[i].value) != 0)
            return false;
    }
    return true;
}

/* ---- arrays of objects ---- */

void *pc_objects(struct pc_loader *l, const json_t *obj, const char *key, bool required,
                 bool nonempty, size_t size, pc_item_fn fn, size_t *n_out)
{
    const json_t *arr = weir_check_get(&l->c, obj, key, JSON_ARRAY, required);
    size_t i;
    json_t *item;
    char *items;

    *n_out = 0;
    if (!arr)
        return NULL;
    if (nonempty)
        check_nonempty(l, obj, key);
    items = pc_alloc_array(l, json_array_size(arr), size);
    if (!items)
        return NULL;
    weir_check_push_key(&l->c, key);
    json_array_foreach(arr, i, item)
    {
        weir_check_push_index(&l->c, i);
        if (weir_check_is_object(&l->c, item) && !l->oom)
            fn(l, item, items + i * size);
        weir_check_pop(&l->c);
    }
    weir_check_pop(&l->c);
    *n_out = json_array_size(arr);
    return items;
}

void pc_fields(struct pc_loader *l, const json_t *obj, const char *const *known)
{
    weir_check_fields(&l->c, obj, known, NULL);
}

void pc_check_order(struct pc_loader *l, const void *items, size_t n, size_t size, pc_cmp_fn cmp,
                    pc_describe_fn describe, const char *field, const char *order)
{
    const char *base = items;
    char a[300], b[300];

    for (size_t i = 1; i < n; i++) {
        const void *prev = base + (i - 1) * size, *cur = base + i * size;
        int r = cmp(prev, cur);
        if (r < 0)
            continue;
        describe(cur, a, sizeof(a));
        describe(prev, b, sizeof(b));
        weir_check_push_index(&l->c, i);
        weir_check_push_key(&l->c, field);
        if (r == 0)
            weir_check_error(&l->c, NULL, "duplicate %s, also at index %zu", a, i - 1);
        else
            weir_check_error(&l->c, NULL, "out of order: %s must come before %s at index %zu (%s)",
                             a, b, i - 1, order);
        weir_check_pop(&l->c);
        weir_check_pop(&l->c);
    }
}

/* ---- validators ---- */

const char *pc_valid_header_name(const char *s)
{
    const char *why = weir_valid_header_name(s);
    if (why)
        return why;
    for (const char *p = s; *p; p++)
        if (isupper((unsigned char)*p))
            return "header name must be lower-case";
    return NULL;
}

const char *pc_valid_abs_path(const char *s)
{
    return s[0] == '/' ? NULL : "must be an absolute file path";
}

const char *pc_valid_not_empty(const char *s)
{
    return *s ? NULL : "must not be empty";
}

const char *pc_valid_method(const char *s)
{
    if (!*s)
        return "must not be empty";
    for (const char *p = s; *p; p++)
        if (!(isupper((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-' || *p == '_'))
            return "must be an upper-case HTTP method such as \"GET\"";
    return NULL;
}

const char *pc_valid_spiffe(const char *s)
{
    const char *td = s + 9;
    if (strncmp(s, "spiffe://", 9) != 0)
        return "must be a SPIFFE ID \"spiffe://<trust domain>/<path>\"";
    const char *slash = strchr(td, '/');
    if (!slash || slash == td || !slash[1])
        return "must be a SPIFFE ID \"spiffe://<trust domain>/<path>\"";
    return NULL;
}

const char *pc_valid_object_ref(const char *s)
{
    const char *slash = strchr(s, '/');
    char ns[64];
    if (!slash || (size_t)(slash - s) >= sizeof(ns))
        return "must be \"namespace/name\"";
    memcpy(ns, s, (size_t)(slash - s));
    ns[slash - s] = '\0';
    if (weir_valid_namespace(ns) || weir_valid_dns1123_subdomain(slash + 1))
        return "must be \"namespace/name\"";
    return NULL;
}

const char *const pc_protocol_names[] = {"http", "http2", "grpc", "tcp", "tls", "https", NULL};

const char *weir_pc_protocol_name(enum weir_pc_protocol p)
{
    if ((unsigned)p < sizeof(pc_protocol_names) / sizeof(pc_protocol_names[0]) - 1)
        return pc_protocol_names[p];
    return "?";
}
