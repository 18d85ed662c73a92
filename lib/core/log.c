#include "core/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A rendered line longer than this is cut with a marker: a log call must never
 * allocate without bound because a field carried a huge value. */
#define LOG_LINE_MAX   16384
#define LOG_MAX_FIELDS 32

static struct {
    char component[64];
    enum weir_log_format format;
    _Atomic int level;
    FILE *out;
} g_log = {"weir", WEIR_LOG_TEXT, WEIR_LOG_INFO, NULL};

void weir_log_setup(const char *component, enum weir_log_format format, enum weir_log_level level,
                    FILE *out)
{
    snprintf(g_log.component, sizeof(g_log.component), "%s", component ? component : "weir");
    g_log.format = format;
    atomic_store(&g_log.level, (int)level);
    g_log.out = out;
}

void weir_log_set_level(enum weir_log_level level)
{
    atomic_store(&g_log.level, (int)level);
}

enum weir_log_level weir_log_get_level(void)
{
    return (enum weir_log_level)atomic_load(&g_log.level);
}

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

const char *weir_log_level_name(enum weir_log_level level)
{
    if ((unsigned)level <= WEIR_LOG_OFF)
        return level_names[level];
    return "?";
}

int weir_log_parse_level(const char *name, enum weir_log_level *out)
{
    if (!name)
        return -1;
    for (int i = 0; i <= WEIR_LOG_OFF; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum weir_log_level)i;
            return 0;
        }
    }
    if (strcmp(name, "warning") == 0) {
        *out = WEIR_LOG_WARN;
        return 0;
    }
    return -1;
}

int weir_log_parse_format(const char *name, enum weir_log_format *out)
{
    if (name && strcmp(name, "text") == 0) {
        *out = WEIR_LOG_TEXT;
        return 0;
    }
    if (name && strcmp(name, "json") == 0) {
        *out = WEIR_LOG_JSON;
        return 0;
    }
    return -1;
}

static void timestamp(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* Appends to a bounded buffer; returns false once the buffer is full. */
struct line {
    char buf[LOG_LINE_MAX];
    size_t len;
    bool full;
};

static void line_put(struct line *l, const char *s, size_t n)
{
    if (l->full)
        return;
    if (l->len + n >= sizeof(l->buf) - 16) {
        n = sizeof(l->buf) - 16 - l->len;
        l->full = true;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void line_puts(struct line *l, const char *s)
{
    line_put(l, s, strlen(s));
}

/* Text values with spaces, quotes or control bytes are quoted and escaped so a
 * line stays one line and parseable by eye. */
static void line_put_text_value(struct line *l, const char *v)
{
    bool plain = *v != '\0';
    for (const char *c = v; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == '"' || *c == '=' || (unsigned char)*c == 0x7f)
            plain = false;
    if (plain) {
        line_puts(l, v);
        return;
    }
    line_puts(l, "\"");
    for (const char *c = v; *c; c++) {
        char esc[8];
        unsigned char u = (unsigned char)*c;
        if (u == '"' || u == '\\') {
            esc[0] = '\\';
            esc[1] = (char)u;
            line_put(l, esc, 2);
        } else if (u == '\n') {
            line_puts(l, "\\n");
        } else if (u < 0x20 || u == 0x7f) {
            snprintf(esc, sizeof(esc), "\\x%02x", u);
            line_puts(l, esc);
        } else {
            line_put(l, c, 1);
        }
    }
    line_puts(l, "\"");
}

static void emit(enum weir_log_level level, const char *msg, const char **kv, int nkv)
{
    char ts[40];
    struct line *l;
    FILE *out = g_log.out ? g_log.out : stderr;

    l = malloc(sizeof(*l));
    if (!l)
        return;
    l->len = 0;
    l->full = false;
    timestamp(ts, sizeof(ts));

    if (g_log.format == WEIR_LOG_JSON) {
        json_t *obj = json_object();
        if (!obj) {
            free(l);
            return;
        }
        json_object_set_new(obj, "ts", json_string(ts));
        json_object_set_new(obj, "level", json_string(weir_log_level_name(level)));
        json_object_set_new(obj, "component", json_string(g_log.component));
        json_object_set_new(obj, "msg", json_string(msg ? msg : ""));
        for (int i = 0; i + 1 < nkv; i += 2) {
            if (!kv[i])
                continue;
            json_object_set_new(obj, kv[i], kv[i + 1] ? json_string(kv[i + 1]) : json_null());
        }
        char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(obj);
        if (text) {
            line_puts(l, text);
            free(text);
        }
    } else {
        char head[128];
        snprintf(head, sizeof(head), "%s %-5s %s: ", ts, weir_log_level_name(level),
                 g_log.component);
        line_puts(l, head);
        line_puts(l, msg ? msg : "");
        for (int i = 0; i + 1 < nkv; i += 2) {
            if (!kv[i])
                continue;
            line_puts(l, " ");
            line_puts(l, kv[i]);
            line_puts(l, "=");
            line_put_text_value(l, kv[i + 1] ? kv[i + 1] : "null");
        }
    }
    if (l->full)
        line_puts(l, "...(cut)");
    l->buf[l->len++] = '\n';
    flockfile(out);
    fwrite(l->buf, 1, l->len, out);
    fflush(out);
    funlockfile(out);
    free(l);
}

void weir_log(enum weir_log_level level, const char *msg, ...)
{
    const char *kv[LOG_MAX_FIELDS * 2];
    int n = 0;
    va_list ap;

    if ((int)level < atomic_load(&g_log.level) || level >= WEIR_LOG_OFF)
        return;
    va_start(ap, msg);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (!key)
            break;
        const char *value = va_arg(ap, const char *);
        if (n < LOG_MAX_FIELDS * 2) {
            kv[n++] = key;
            kv[n++] = value;
        }
    }
    va_end(ap);
    emit(level, msg, kv, n);
}

void weir_logf(enum weir_log_level level, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;

    if ((int)level < atomic_load(&g_log.level) || level >= WEIR_LOG_OFF)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    emit(level, msg, NULL, 0);
}
