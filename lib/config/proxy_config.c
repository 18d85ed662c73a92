#include "config/proxy_config_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PC_OBJECT "ProxyConfig"
#define PC_MAX_MS 2147483647LL

/* ---- header ---- */

static const char *valid_revision(const char *s)
{
    if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64)
        return "must be \"sha256:\" followed by 64 lower-case hex digits";
    for (const char *p = s + 7; *p; p++)
        if (!isdigit((unsigned char)*p) && !(*p >= 'a' && *p <= 'f'))
            return "must be \"sha256:\" followed by 64 lower-case hex digits";
    return NULL;
}

static const char *valid_trust_domain(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255)
        return "trust domain must be 1..255 characters";
    for (const char *p = s; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || strchr(".-_", *p)))
            return "trust domain must consist of lower-case letters, digits, '.', '-' and '_'";
    return NULL;
}

static bool digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* RFC 3339 date-time: 2024-05-01T12:00:00Z, fraction and offset optional forms. */
static const char *valid_timestamp(const char *s)
{
    static const char *why = "must be an RFC 3339 timestamp such as \"2024-05-01T12:00:00Z\"";
    if (strlen(s) < 20 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2) || s[13] != ':' ||
        !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
        return why;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return why;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if ((*p == 'Z' || *p == 'z') && !p[1])
        return NULL;
    if ((*p == '+' || *p == '-') && digits(p + 1, 2) && p[3] == ':' && digits(p + 4, 2) && !p[6])
        return NULL;
    return why;
}

static void parse_metadata(struct pc_loader *l, const json_t *md)
{
    static const char *const fields[] = {"namespace", "revision", "trustDomain", "generatedAt",
                                         NULL};
    struct weir_proxy_config *cfg = l->cfg;
    pc_fields(l, md, fields);
    cfg->namespace_ = pc_str(l, md, "namespace", true, weir_valid_namespace);
    cfg->revision = pc_str(l, md, "revision", true, valid_revision);
    cfg->trust_domain = pc_str(l, md, "trustDomain", true, valid_trust_domain);
    cfg->generated_at = pc_str(l, md, "generatedAt", false, valid_timestamp);
}

/* ---- proxy section ---- */

static const char *const port_keys[] = {"outboundCapture", "inboundCapture", "admin",
                                        "health",          "metrics",        NULL};

static void parse_ports(struct pc_loader *l, const json_t *ports, struct weir_pc_proxy *p)
{
    uint16_t *slots[] = {&p->outbound_capture_port, &p->inbound_capture_port, &p->admin_port,
                         &p->health_port, &p->metrics_port};
    pc_fields(l, ports, port_keys);
    for (int i = 0; port_keys[i]; i++)
        *slots[i] = (uint16_t)pc_int(l, ports, port_keys[i], false, 1, 65535, *slots[i]);
    /* One port serving two roles would send captured traffic to the admin
     * handler or loop the capture into itself. */
    for (int i = 1; port_keys[i]; i++) {
        for (int j = 0; j < i; j++) {
            if (*slots[i] != *slots[j])
                continue;
            weir_check_push_key(&l->c, port_keys[i]);
            weir_check_error(&l->c, NULL, "port %u is also used by %s", (unsigned)*slots[i],
                             port_keys[j]);
            weir_check_pop(&l->c);
            break;
        }
    }
}

static void parse_limits(struct pc_loader *l, const json_t *lim, struct weir_pc_proxy *p)
{
    static const char *const fields[] = {"maxHeaderBytes",    "maxHeaders",
                                         "headerTimeoutMs",   "streamIdleTimeoutMs",
                                         "maxRetryBodyBytes", NULL};
    pc_fields(l, lim, fields);
    p->limits.max_header_bytes =
        pc_int(l, lim, "maxHeaderBytes", false, 1024, 1048576, p->limits.max_header_bytes);
    p->limits.max_headers = pc_int(l, lim, "maxHeaders", false, 1, 10000, p->limits.max_headers);
    p->limits.header_timeout_ms =
        pc_int(l, lim, "headerTimeoutMs", false, 1, PC_MAX_MS, p->limits.header_timeout_ms);
    p->limits.stream_idle_timeout_ms = pc_int(l, lim, "streamIdleTimeoutMs", false, 0, PC_MAX_MS,
                                              p->limits.stream_idle_timeout_ms);
    p->limits.max_retry_body_bytes = pc_int(l, lim, "maxRetryBodyBytes", false, 0,
                                            (int64_t)64 << 20, p->limits.max_retry_body_bytes);
}

static void parse_access_log(struct pc_loader *l, const json_t *al, struct weir_pc_proxy *p)
{
    static const char *const fields[] = {"mode", "encoding", "path", NULL};
    static const char *const modes[] = {"off", "stdout", "file", NULL};
    static const char *const encodings[] = {"text", "json", NULL};
    pc_fields(l, al, fields);
    p->access_log.mode = pc_enum(l, al, "mode", true, modes, WEIR_PC_ACCESS_LOG_OFF);
    p->access_log.encoding = pc_enum(l, al, "encoding", false, encodings, WEIR_PC_ACCESS_LOG_TEXT);
    if (p->access_log.mode == WEIR_PC_ACCESS_LOG_FILE) {
        p->access_log.path = pc_str(l, al, "path", true, pc_valid_abs_path);
    } else if (json_object_get(al, "path")) {
        weir_check_push_key(&l->c, "path");
        weir_check_error(&l->c, NULL, "only allowed when mode is \"file\"");
        weir_check_pop(&l->c);
    }
}

static void proxy_defaults(struct pc_loader *l, struct weir_pc_proxy *p)
{
    p->outbound_capture_port = 15001;
    p->inbound_capture_port = 15006;
    p->admin_port = 15000;
    p->health_port = 15021;
    p->metrics_port = 15090;
    p->uid = 1337;
    p->gid = 1337;
    p->outbound_traffic_policy = WEIR_PC_OUTBOUND_ALLOW_ANY;
    p->drain_time_ms = 5000;
    p->limits.max_header_bytes = 60 * 1024;
    p->limits.max_headers = 100;
    p->limits.header_timeout_ms = 10000;
    p->limits.stream_idle_timeout_ms = 300000;
    p->limits.max_retry_body_bytes = 1024 * 1024;
    p->access_log.mode = WEIR_PC_ACCESS_LOG_OFF;
    p->access_log.encoding = WEIR_PC_ACCESS_LOG_TEXT;
    pc_parse_cidr(l, "127.0.0.6", true, &p->inbound_passthrough_source);
}

static void parse_proxy(struct pc_loader *l, const json_t *root)
{
    static const char *const fields[] = {"ports",
                                         "uid",
                                         "gid",
                                         "inboundPassthroughSource",
                                         "outboundTrafficPolicy",
                                         "drainTimeMs",
                                         "limits",
                                         "accessLog",
                                         NULL};
    static const char *const policies[] = {"allow_any", "registry_only", NULL};
    struct weir_pc_proxy *p = &l->cfg->proxy;
    const json_t *proxy = weir_check_get(&l->c, root, "proxy", JSON_OBJECT, false);
    const json_t *v;
    const char *src;

    proxy_defaults(l, p);
    if (!proxy)
        return;
    weir_check_push_key(&l->c, "proxy");
    pc_fields(l, proxy, fields);
    if ((v = weir_check_get(&l->c, proxy, "ports", JSON_OBJECT, false))) {
        weir_check_push_key(&l->c, "ports");
        parse_ports(l, v, p);
        weir_check_pop(&l->c);
    }
    p->uid = (uint32_t)pc_int(l, proxy, "uid", false, 0, 4294967294LL, p->uid);
    p->gid = (uint32_t)pc_int(l, proxy, "gid", false, 0, 4294967294LL, p->gid);
    if (weir_get_string_borrowed(&l->c, proxy, "inboundPassthroughSource", false, &src)) {
        weir_check_push_key(&l->c, "inboundPassthroughSource");
        pc_parse_cidr(l, src, true, &p->inbound_passthrough_source);
        weir_check_pop(&l->c);
    }
    p->outbound_traffic_policy =
        pc_enum(l, proxy, "outboundTrafficPolicy", false, policies, WEIR_PC_OUTBOUND_ALLOW_ANY);
    p->drain_time_ms = pc_int(l, proxy, "drainTimeMs", false, 0, PC_MAX_MS, p->drain_time_ms);
    if ((v = weir_check_get(&l->c, proxy, "limits", JSON_OBJECT, false))) {
        weir_check_push_key(&l->c, "limits");
        parse_limits(l, v, p);
        weir_check_pop(&l->c);
    }
    if ((v = weir_check_get(&l->c, proxy, "accessLog", JSON_OBJECT, false))) {
        weir_check_push_key(&l->c, "accessLog");
        parse_access_log(l, v, p);
        weir_check_pop(&l->c);
    }
    weir_check_pop(&l->c);
}

/* ---- document ---- */

static void object_label(const json_t *root, char *buf, size_t size)
{
    const json_t *md = json_object_get(root, "metadata");
    const json_t *ns = json_is_object(md) ? json_object_get(md, "namespace") : NULL;
    if (json_is_string(ns) && !weir_valid_namespace(json_string_value(ns)))
        snprintf(buf, size, "%s %s", PC_OBJECT, json_string_value(ns));
    else
        snprintf(buf, size, "%s", PC_OBJECT);
}

/* True when the document is of the kind and version this loader reads; a
 * document of another version is not walked further, as its fields would
 * only produce noise. */
static bool check_type(struct pc_loader *l, const json_t *root)
{
    const char *api, *kind;
    bool ok = true;
    if (weir_get_string_borrowed(&l->c, root, "apiVersion", true, &api)) {
        if (strcmp(api, WEIR_PROXY_CONFIG_API_VERSION) != 0) {
            weir_check_push_key(&l->c, "apiVersion");
            weir_check_error(&l->c, NULL, "unsupported version \"%s\" (this proxy reads %s)", api,
                             WEIR_PROXY_CONFIG_API_VERSION);
            weir_check_pop(&l->c);
            ok = false;
        }
    } else {
        ok = false;
    }
    if (weir_get_string_borrowed(&l->c, root, "kind", true, &kind)) {
        if (strcmp(kind, WEIR_PROXY_CONFIG_KIND) != 0) {
            weir_check_push_key(&l->c, "kind");
            weir_check_error(&l->c, NULL, "must be \"%s\", got \"%s\"", WEIR_PROXY_CONFIG_KIND,
                             kind);
            weir_check_pop(&l->c);
            ok = false;
        }
    } else {
        ok = false;
    }
    return ok;
}

static void load_document(struct pc_loader *l, const json_t *root)
{
    static const char *const fields[] = {"apiVersion", "kind",    "metadata",   "proxy", "services",
                                         "clusters",   "inbound", "rateLimits", NULL};
    const json_t *md;

    if (!weir_check_is_object(&l->c, root) || !check_type(l, root))
        return;
    l->cfg->api_version = pc_strdup(l, WEIR_PROXY_CONFIG_API_VERSION);
    pc_fields(l, root, fields);
    if ((md = weir_check_get(&l->c, root, "metadata", JSON_OBJECT, true))) {
        weir_check_push_key(&l->c, "metadata");
        parse_metadata(l, md);
        weir_check_pop(&l->c);
    }
    parse_proxy(l, root);
    pc_parse_services(l, root);
    pc_parse_clusters(l, root);
    pc_parse_inbound(l, root);
    pc_parse_rate_limits(l, root);
    if (l->oom)
        return;
    /* Without the table a reference points into, every reference would be
     * reported as unknown: one error for the missing table is enough. */
    bool services = json_is_array(json_object_get(root, "services"));
    bool clusters = json_is_array(json_object_get(root, "clusters"));
    if (services)
        pc_resolve_clusters(l);
    if (clusters)
        pc_resolve_routes(l);
    if (services)
        pc_resolve_rate_limits(l);
}

int weir_proxy_config_load(const char *json, size_t len, const char *source,
                           struct weir_proxy_config **out, struct weir_diags *diags)
{
    struct weir_yaml_stream src = {.source = (char *)source};
    struct pc_loader l = {0};
    json_error_t jerr;
    json_t *root;
    char label[128];

    *out = NULL;
    if (len > WEIR_PROXY_CONFIG_MAX_BYTES) {
        weir_diags_add(diags, WEIR_SEV_ERROR, PC_OBJECT, source, 0, "",
                       "document is %zu bytes, more than the limit of %zu bytes", len,
                       WEIR_PROXY_CONFIG_MAX_BYTES);
        return -1;
    }
    /* Duplicate keys are refused: two values for one field would leave the
     * proxy's reading to the parser's choice. */
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        weir_diags_add(diags, WEIR_SEV_ERROR, PC_OBJECT, source, jerr.line > 0 ? jerr.line : 0, "",
                       "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        return -1;
    }

    object_label(root, label, sizeof(label));
    weir_check_init(&l.c, diags, source ? &src : NULL, label, 0);
    l.arena = pc_arena_new();
    if (l.arena)
        l.cfg = pc_alloc(&l, sizeof(*l.cfg));
    if (!l.cfg) {
        json_decref(root);
        pc_arena_free(l.arena);
        weir_diags_add(diags, WEIR_SEV_ERROR, label, source, 0, "", "out of memory");
        return -1;
    }
    l.cfg->arena = l.arena;

    load_document(&l, root);
    json_decref(root);

    if (l.oom)
        weir_diags_add(diags, WEIR_SEV_ERROR, label, source, 0, "", "out of memory");
    if (l.oom || l.c.errors > 0) {
        pc_arena_free(l.arena);
        return -1;
    }
    *out = l.cfg;
    return 0;
}

int weir_proxy_config_load_file(const char *path, struct weir_proxy_config **out,
                                struct weir_diags *diags)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc;

    *out = NULL;
    if (fd < 0) {
        weir_diags_add(diags, WEIR_SEV_ERROR, PC_OBJECT, path, 0, "", "cannot open %s: %s", path,
                       strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        (uint64_t)st.st_size > WEIR_PROXY_CONFIG_MAX_BYTES) {
        weir_diags_add(diags, WEIR_SEV_ERROR, PC_OBJECT, path, 0, "",
                       "document is %lld bytes, more than the limit of %zu bytes",
                       (long long)st.st_size, WEIR_PROXY_CONFIG_MAX_BYTES);
        close(fd);
        return -1;
    }
    /* Read to the bound plus one byte even when fstat gave a size: the file
     * may grow while being read (a ConfigMap update), or be a pipe. */
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 64 * 1024;
            if (ncap > WEIR_PROXY_CONFIG_MAX_BYTES + 1)
                ncap = WEIR_PROXY_CONFIG_MAX_BYTES + 1;
            if (ncap == cap)
                break;
            char *nbuf = realloc(buf, ncap);
            if (!nbuf) {
                weir_diags_add(diags, WEIR_SEV_ERROR, PC_OBJECT, path, 0, "", "out of memory");
                free(buf);
                close(fd);
                return -1;
            }
            buf = nbuf;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            weir_diags_add(diags, WEIR_SEV_ERROR, PC_OBJECT, path, 0, "", "cannot read %s: %s",
                           path, strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (len > WEIR_PROXY_CONFIG_MAX_BYTES) {
        weir_diags_add(diags, WEIR_SEV_ERROR, PC_OBJECT, path, 0, "",
                       "document is more than the limit of %zu bytes", WEIR_PROXY_CONFIG_MAX_BYTES);
        free(buf);
        return -1;
    }
    rc = weir_proxy_config_load(buf ? buf : "", len, path, out, diags);
    free(buf);
    return rc;
}

void weir_proxy_config_free(struct weir_proxy_config *cfg)
{
    if (cfg)
        pc_arena_free(cfg->arena);
}

static int cmp_cluster_name(const void *key, const void *item)
{
    const struct weir_pc_cluster *c = item;
    return strcmp(key, c->name);
}

static int cmp_service_host(const void *key, const void *item)
{
    const struct weir_pc_service *s = item;
    return strcmp(key, s->host);
}

const struct weir_pc_cluster *weir_proxy_config_cluster(const struct weir_proxy_config *cfg,
                                                        const char *name)
{
    if (!cfg->n_clusters)
        return NULL;
    return bsearch(name, cfg->clusters, cfg->n_clusters, sizeof(*cfg->clusters), cmp_cluster_name);
}

const struct weir_pc_service *weir_proxy_config_service(const struct weir_proxy_config *cfg,
                                                        const char *host)
{
    if (!cfg->n_services)
        return NULL;
    return bsearch(host, cfg->services, cfg->n_services, sizeof(*cfg->services), cmp_service_host);
}
