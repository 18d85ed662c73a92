#include "telemetry/access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

/* The file sink's descriptor number never changes once opened (see the header). */
static atomic_int file_fd = -1;
static char *file_path; /* main thread only */

int wp_access_log_configure(const struct weir_proxy_config *cfg)
{
    int fd, cur;
    if (cfg->proxy.access_log.mode != WEIR_PC_ACCESS_LOG_FILE)
        return 0;
    if (file_path && strcmp(file_path, cfg->proxy.access_log.path) == 0 &&
        atomic_load(&file_fd) >= 0)
        return 0;
    fd = open(cfg->proxy.access_log.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        weir_log(WEIR_LOG_ERROR, "cannot open the access log", "path", cfg->proxy.access_log.path,
                 "error", strerror(errno), NULL);
        return -1;
    }
    cur = atomic_load(&file_fd);
    if (cur >= 0) {
        dup2(fd, cur);
        close(fd);
    } else {
        atomic_store(&file_fd, fd);
    }
    free(file_path);
    file_path = strdup(cfg->proxy.access_log.path);
    return 0;
}

void wp_access_log_reopen(void)
{
    int fd, cur = atomic_load(&file_fd);
    if (cur < 0 || !file_path)
        return;
    fd = open(file_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        weir_log(WEIR_LOG_ERROR, "cannot reopen the access log", "path", file_path, "error",
                 strerror(errno), NULL);
        return;
    }
    dup2(fd, cur);
    close(fd);
}

void wp_access_log_close(void)
{
    int fd = atomic_exchange(&file_fd, -1);
    if (fd >= 0)
        close(fd);
    free(file_path);
    file_path = NULL;
}

struct line {
    char buf[8192];
    size_t len;
    bool over;
};

static void put(struct line *l, const char *s, size_t n)
{
    if (l->len + n >= sizeof(l->buf)) {
        l->over = true;
        n = sizeof(l->buf) - 1 - l->len;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void puts_(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

static void put_json_str(struct line *l, const char *s)
{
    if (!s) {
        puts_(l, "null");
        return;
    }
    put(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(l, esc, 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
            put(l, esc, 6);
        } else {
            put(l, (const char *)p, 1);
        }
    }
    put(l, "\"", 1);
}

static void put_num(struct line *l, long long v)
{
    char b[32];
    int n = snprintf(b, sizeof(b), "%lld", v);
    put(l, b, (size_t)n);
}

static void format_time(int64_t us, char *out, size_t cap)
{
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)((us / 1000) % 1000));
}

static void json_line(struct line *l, const struct wp_access_entry *e)
{
    char ts[40];
    format_time(e->start_unix_us, ts, sizeof(ts));
#define FIELD(name) \
    puts_(l, ","    \
             "\"" name "\":")
    puts_(l, "{\"start_time\":");
    put_json_str(l, ts);
    FIELD("method");
    put_json_str(l, e->method);
    FIELD("path");
    put_json_str(l, e->path);
    FIELD("protocol");
    put_json_str(l, e->protocol);
    FIELD("response_code");
    put_num(l, e->response_code);
    FIELD("response_flags");
    put_json_str(l, e->response_flags ? e->response_flags : "-");
    FIELD("response_code_details");
    put_json_str(l, e->details);
    FIELD("bytes_received");
    put_num(l, (long long)e->bytes_received);
    FIELD("bytes_sent");
    put_num(l, (long long)e->bytes_sent);
    FIELD("duration");
    put_num(l, (long long)e->duration_ms);
    FIELD("upstream_service_time");
    if (e->upstream_service_time_ms >= 0)
        put_num(l, (long long)e->upstream_service_time_ms);
    else
        puts_(l, "null");
    FIELD("x_forwarded_for");
    put_json_str(l, e->x_forwarded_for);
    FIELD("user_agent");
    put_json_str(l, e->user_agent);
    FIELD("request_id");
    put_json_str(l, e->request_id);
    FIELD("authority");
    put_json_str(l, e->authority);
    FIELD("upstream_host");
    put_json_str(l, e->upstream_host);
    FIELD("upstream_cluster");
    put_json_str(l, e->upstream_cluster);
    FIELD("downstream_remote_address");
    put_json_str(l, e->downstream_remote);
    FIELD("downstream_local_address");
    put_json_str(l, e->downstream_local);
    FIELD("route_name");
    put_json_str(l, e->route_name);
#undef FIELD
    puts_(l, "}\n");
}

static void text_field(struct line *l, const char *s)
{
    puts_(l, s && *s ? s : "-");
}

/* Istio's default text format:
 * [START] "METHOD PATH PROTOCOL" CODE FLAGS DETAILS - "-" RX TX DURATION UPSTREAM_TIME "XFF"
 * "UA" "REQUEST_ID" "AUTHORITY" "UPSTREAM_HOST" CLUSTER - LOCAL REMOTE - ROUTE */
static void text_line(struct line *l, const struct wp_access_entry *e)
{
    char ts[40];
    format_time(e->start_unix_us, ts, sizeof(ts));
    puts_(l, "[");
    puts_(l, ts);
    puts_(l, "] \"");
    text_field(l, e->method);
    puts_(l, " ");
    text_field(l, e->path);
    puts_(l, " ");
    text_field(l, e->protocol);
    puts_(l, "\" ");
    put_num(l, e->response_code);
    puts_(l, " ");
    text_field(l, e->response_flags);
    puts_(l, " ");
    text_field(l, e->details);
    puts_(l, " - \"-\" ");
    put_num(l, (long long)e->bytes_received);
    puts_(l, " ");
    put_num(l, (long long)e->bytes_sent);
    puts_(l, " ");
    put_num(l, (long long)e->duration_ms);
    puts_(l, " ");
    if (e->upstream_service_time_ms >= 0)
        put_num(l, (long long)e->upstream_service_time_ms);
    else
        puts_(l, "-");
    puts_(l, " \"");
    text_field(l, e->x_forwarded_for);
    puts_(l, "\" \"");
    text_field(l, e->user_agent);
    puts_(l, "\" \"");
    text_field(l, e->request_id);
    puts_(l, "\" \"");
    text_field(l, e->authority);
    puts_(l, "\" \"");
    text_field(l, e->upstream_host);
    puts_(l, "\" ");
    text_field(l, e->upstream_cluster);
    puts_(l, " - ");
    text_field(l, e->downstream_local);
    puts_(l, " ");
    text_field(l, e->downstream_remote);
    puts_(l, " - ");
    text_field(l, e->route_name);
    puts_(l, "\n");
}

void wp_access_log_write(const struct weir_proxy_config *cfg, const struct wp_access_entry *e)
{
    struct line l;
    int fd;
    if (!cfg || cfg->proxy.access_log.mode == WEIR_PC_ACCESS_LOG_OFF)
        return;
    fd = cfg->proxy.access_log.mode == WEIR_PC_ACCESS_LOG_STDOUT ? STDOUT_FILENO
                                                                 : atomic_load(&file_fd);
    if (fd < 0)
        return;
    l.len = 0;
    l.over = false;
    if (cfg->proxy.access_log.encoding == WEIR_PC_ACCESS_LOG_JSON)
        json_line(&l, e);
    else
        text_line(&l, e);
    if (l.over) {
        /* a cut line must still be one line */
        l.buf[l.len - 1] = '\n';
    }
    for (size_t off = 0; off < l.len;) {
        ssize_t n = write(fd, l.buf + off, l.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* a failed sink loses the line; the request it describes is unaffected */
        off += (size_t)n;
    }
}
