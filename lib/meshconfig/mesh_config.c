#include "meshconfig/mesh_config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "model/check.h"

#define DEFAULT_IMAGE_REPO "ghcr.io/weir-mesh"
#define DEFAULT_DRAIN_NS   (45LL * 1000000000LL)

static const char *const top_fields[] = {"trustDomain", "caAddress", "proxy",
                                         "capture",     "ports",     NULL};
static const char *const proxy_fields[] = {
    "image",         "initImage", "imagePullPolicy", "resources",
    "drainDuration", "logLevel",  "nativeSidecar",   NULL};
static const char *const resources_fields[] = {"requests", "limits", NULL};
static const char *const quantity_fields[] = {"cpu", "memory", NULL};
static const char *const capture_fields[] = {"inboundPorts", NULL};
static const char *const port_fields[] = {"outboundCapture", "inboundCapture", "admin",    "health",
                                          "metrics",         "proxyUID",       "proxyGID", NULL};

static void resources_free(struct weir_resources *r)
{
    free(r->cpu_request);
    free(r->memory_request);
    free(r->cpu_limit);
    free(r->memory_limit);
    memset(r, 0, sizeof(*r));
}

void weir_mesh_config_free(struct weir_mesh_config *mc)
{
    if (!mc)
        return;
    free(mc->trust_domain);
    free(mc->ca_address);
    free(mc->proxy_image);
    free(mc->init_image);
    free(mc->image_pull_policy);
    free(mc->log_level);
    resources_free(&mc->resources);
    memset(mc, 0, sizeof(*mc));
}

int weir_mesh_config_defaults(struct weir_mesh_config *mc)
{
    memset(mc, 0, sizeof(*mc));
    mc->trust_domain = strdup("cluster.local");
    mc->ca_address = strdup("weir-operator.weir-system.svc:15012");
    mc->proxy_image = strdup(DEFAULT_IMAGE_REPO "/weir-proxy:" WEIR_VERSION);
    mc->init_image = strdup(DEFAULT_IMAGE_REPO "/weir-init:" WEIR_VERSION);
    mc->image_pull_policy = strdup("IfNotPresent");
    mc->log_level = strdup("info");
    /* Istio's sidecar defaults: small requests so dense nodes still schedule,
     * limits high enough that a busy proxy is not throttled into latency. */
    mc->resources.cpu_request = strdup("100m");
    mc->resources.memory_request = strdup("128Mi");
    mc->resources.cpu_limit = strdup("2");
    mc->resources.memory_limit = strdup("1Gi");
    mc->drain_duration_ns = DEFAULT_DRAIN_NS;
    mc->native_sidecar = true;
    mc->inbound_capture = WEIR_CAPTURE_ALL;
    mc->ports = weir_default_ports;
    if (!mc->trust_domain || !mc->ca_address || !mc->proxy_image || !mc->init_image ||
        !mc->image_pull_policy || !mc->log_level || !mc->resources.cpu_request ||
        !mc->resources.memory_request || !mc->resources.cpu_limit || !mc->resources.memory_limit) {
        weir_mesh_config_free(mc);
        return -1;
    }
    return 0;
}

/* ---- quantities and durations ---- */

int weir_quantity_parse(const char *text, double *out)
{
    static const struct {
        const char *suffix;
        double factor;
    } suffixes[] = {
        {"Ki", 1024.0},
        {"Mi", 1048576.0},
        {"Gi", 1073741824.0},
        {"Ti", 1099511627776.0},
        {"Pi", 1125899906842624.0},
        {"Ei", 1152921504606846976.0},
        {"n", 1e-9},
        {"u", 1e-6},
        {"m", 1e-3},
        {"k", 1e3},
        {"M", 1e6},
        {"G", 1e9},
        {"T", 1e12},
        {"P", 1e15},
        {"E", 1e18},
        {"", 1.0},
    };
    const char *p = text;
    size_t digits = 0;

    if (!text || !*text)
        return -1;
    if (*p == '+')
        p++;
    /* Kubernetes' grammar: digits, an optional fraction, then one suffix or a
     * decimal exponent. strtod alone would also take "inf", "0x10" and spaces. */
    const char *num = p;
    while (isdigit((unsigned char)*p)) {
        p++;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            p++;
            digits++;
        }
    }
    if (digits == 0)
        return -1;
    char buf[64];
    size_t nlen = (size_t)(p - num);
    if (nlen >= sizeof(buf))
        return -1;
    memcpy(buf, num, nlen);
    buf[nlen] = '\0';
    double value = strtod(buf, NULL);

    if ((*p == 'e' || *p == 'E') && p[1] != '\0' && p[1] != 'i') {
        const char *e = p + 1;
        if (*e == '+' || *e == '-')
            e++;
        if (!isdigit((unsigned char)*e))
            return -1;
        while (isdigit((unsigned char)*e))
            e++;
        if (*e)
            return -1;
        long exp10 = strtol(p + 1, NULL, 10);
        if (exp10 > 30 || exp10 < -30)
            return -1;
        *out = value * pow(10.0, (double)exp10);
        return 0;
    }
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        if (strcmp(p, suffixes[i].suffix) == 0) {
            *out = value * suffixes[i].factor;
            return 0;
        }
    }
    return -1;
}

char *weir_duration_format(int64_t ns, char *out, size_t len)
{
    if (ns <= 0) {
        snprintf(out, len, "0s");
    } else if (ns < 1000) {
        snprintf(out, len, "%lldns", (long long)ns);
    } else if (ns < 1000000) {
        snprintf(out, len, "%gus", (double)ns / 1e3);
    } else if (ns < 1000000000) {
        snprintf(out, len, "%gms", (double)ns / 1e6);
    } else {
        long long h = ns / 3600000000000LL;
        long long m = (ns / 60000000000LL) % 60;
        double s = (double)(ns % 60000000000LL) / 1e9;
        size_t n = 0;
        out[0] = '\0';
        if (h)
            n += (size_t)snprintf(out + n, len > n ? len - n : 0, "%lldh", h);
        if (h || m)
            n += (size_t)snprintf(out + n, len > n ? len - n : 0, "%lldm", m);
        snprintf(out + (n < len ? n : len), len > n ? len - n : 0, "%gs", s);
    }
    return out;
}

/* ---- validation ---- */

/* SPIFFE trust domains: lower-case letters, digits, '.', '-' and '_'. */
static const char *valid_trust_domain(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return "must not be empty";
    if (n > 255)
        return "must be at most 255 characters";
    for (const char *p = s; *p; p++) {
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && !strchr(".-_", *p))
            return "must hold only lower-case letters, digits, '.', '-' and '_' (a SPIFFE trust "
                   "domain)";
    }
    return NULL;
}

static const char *valid_host_port(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return "must be host:port";
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end || errno || port < 1 || port > 65535)
        return "must be host:port with a port of 1..65535";
    for (const char *p = s; p < colon; p++) {
        if (isspace((unsigned char)*p) || *p == '/')
            return "must be host:port (no scheme, path or spaces)";
    }
    return NULL;
}

static const char *valid_image(const char *s)
{
    if (!*s)
        return "must not be empty";
    for (const char *p = s; *p; p++) {
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
            return "must not contain spaces or control characters";
    }
    return NULL;
}

/* Replaces *slot with a copy of the string member `key` when present and valid. */
static void get_string(struct weir_check *c, const json_t *obj, const char *key,
                       const char *(*valid)(const char *), char **slot)
{
    const char *s;
    if (!weir_get_string_borrowed(c, obj, key, false, &s))
        return;
    const char *why = valid ? valid(s) : NULL;
    if (why) {
        weir_check_push_key(c, key);
        weir_check_error(c, json_object_get(obj, key), "\"%s\" %s", s, why);
        weir_check_pop(c);
        return;
    }
    char *copy = strdup(s);
    if (!copy) {
        weir_check_error(c, obj, "out of memory");
        return;
    }
    free(*slot);
    *slot = copy;
}

static void get_quantity(struct weir_check *c, const json_t *obj, const char *key, char **slot)
{
    const json_t *v = json_object_get(obj, key);
    char num[64];
    const char *s;
    double q;

    if (!v || json_is_null(v))
        return;
    /* YAML turns `cpu: 2` into a number; Kubernetes accepts both forms. */
    if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        s = num;
    } else if (json_is_real(v)) {
        snprintf(num, sizeof(num), "%g", json_real_value(v));
        s = num;
    } else if (json_is_string(v)) {
        s = json_string_value(v);
    } else {
        weir_check_push_key(c, key);
        weir_check_error(c, v, "must be a string or a number, got %s", weir_json_type_name(v));
        weir_check_pop(c);
        return;
    }
    if (weir_quantity_parse(s, &q) != 0) {
        weir_check_push_key(c, key);
        weir_check_error(c, v, "\"%s\" is not a Kubernetes quantity (such as 500m, 2, 128Mi, 1Gi)",
                         s);
        weir_check_pop(c);
        return;
    }
    char *copy = strdup(s);
    if (!copy) {
        weir_check_error(c, obj, "out of memory");
        return;
    }
    free(*slot);
    *slot = copy;
}

static void parse_resources(struct weir_check *c, const json_t *proxy, struct weir_resources *r)
{
    const json_t *res = weir_check_get(c, proxy, "resources", JSON_OBJECT, false);
    if (!res)
        return;
    /* A resources block replaces the default one as a whole, as a container's
     * resources do: leaving out limits means no limits (a common choice for CPU). */
    resources_free(r);
    weir_check_push_key(c, "resources");
    weir_check_fields(c, res, resources_fields, NULL);
    const json_t *req = weir_check_get(c, res, "requests", JSON_OBJECT, false);
    if (req) {
        weir_check_push_key(c, "requests");
        weir_check_fields(c, req, quantity_fields, NULL);
        get_quantity(c, req, "cpu", &r->cpu_request);
        get_quantity(c, req, "memory", &r->memory_request);
        weir_check_pop(c);
    }
    const json_t *lim = weir_check_get(c, res, "limits", JSON_OBJECT, false);
    if (lim) {
        weir_check_push_key(c, "limits");
        weir_check_fields(c, lim, quantity_fields, NULL);
        get_quantity(c, lim, "cpu", &r->cpu_limit);
        get_quantity(c, lim, "memory", &r->memory_limit);
        weir_check_pop(c);
    }
    /* Kubernetes refuses such a pod; saying so here names the mesh config
     * instead of failing every injected pod. */
    double a, b;
    if (r->cpu_request && r->cpu_limit && weir_quantity_parse(r->cpu_request, &a) == 0 &&
        weir_quantity_parse(r->cpu_limit, &b) == 0 && a > b) {
        weir_check_error(c, res, "requests.cpu %s is more than limits.cpu %s", r->cpu_request,
                         r->cpu_limit);
    }
    if (r->memory_request && r->memory_limit && weir_quantity_parse(r->memory_request, &a) == 0 &&
        weir_quantity_parse(r->memory_limit, &b) == 0 && a > b) {
        weir_check_error(c, res, "requests.memory %s is more than limits.memory %s",
                         r->memory_request, r->memory_limit);
    }
    weir_check_pop(c);
}

static void parse_proxy(struct weir_check *c, const json_t *doc, struct weir_mesh_config *mc)
{
    const json_t *proxy = weir_check_get(c, doc, "proxy", JSON_OBJECT, false);
    const char *s;

    if (!proxy)
        return;
    weir_check_push_key(c, "proxy");
    weir_check_fields(c, proxy, proxy_fields, NULL);
    get_string(c, proxy, "image", valid_image, &mc->proxy_image);
    get_string(c, proxy, "initImage", valid_image, &mc->init_image);
    if (weir_get_string_borrowed(c, proxy, "imagePullPolicy", false, &s)) {
        if (strcmp(s, "Always") != 0 && strcmp(s, "IfNotPresent") != 0 && strcmp(s, "Never") != 0) {
            weir_check_push_key(c, "imagePullPolicy");
            weir_check_error(c, json_object_get(proxy, "imagePullPolicy"),
                             "must be Always, IfNotPresent or Never, got \"%s\"", s);
            weir_check_pop(c);
        } else {
            get_string(c, proxy, "imagePullPolicy", NULL, &mc->image_pull_policy);
        }
    }
    parse_resources(c, proxy, &mc->resources);
    weir_get_duration(c, proxy, "drainDuration", false, 0, &mc->drain_duration_ns);
    if (weir_get_string_borrowed(c, proxy, "logLevel", false, &s)) {
        enum weir_log_level lvl;
        if (weir_log_parse_level(s, &lvl) != 0) {
            weir_check_push_key(c, "logLevel");
            weir_check_error(c, json_object_get(proxy, "logLevel"),
                             "must be debug, info, warn, error or off, got \"%s\"", s);
            weir_check_pop(c);
        } else {
            char *copy = strdup(weir_log_level_name(lvl));
            if (copy) {
                free(mc->log_level);
                mc->log_level = copy;
            }
        }
    }
    weir_get_bool(c, proxy, "nativeSidecar", &mc->native_sidecar);
    weir_check_pop(c);
}

static void parse_capture(struct weir_check *c, const json_t *doc, struct weir_mesh_config *mc)
{
    const json_t *cap = weir_check_get(c, doc, "capture", JSON_OBJECT, false);
    const char *s;

    if (!cap)
        return;
    weir_check_push_key(c, "capture");
    weir_check_fields(c, cap, capture_fields, NULL);
    if (weir_get_string_borrowed(c, cap, "inboundPorts", false, &s)) {
        if (strcmp(s, "all") == 0) {
            mc->inbound_capture = WEIR_CAPTURE_ALL;
        } else if (strcmp(s, "declared") == 0) {
            mc->inbound_capture = WEIR_CAPTURE_DECLARED;
        } else {
            weir_check_push_key(c, "inboundPorts");
            weir_check_error(c, json_object_get(cap, "inboundPorts"),
                             "must be \"all\" or \"declared\", got \"%s\"", s);
            weir_check_pop(c);
        }
    }
    weir_check_pop(c);
}

static void parse_ports(struct weir_check *c, const json_t *doc, struct weir_ports *ports)
{
    const json_t *p = weir_check_get(c, doc, "ports", JSON_OBJECT, false);
    int64_t v;

    if (!p)
        return;
    weir_check_push_key(c, "ports");
    weir_check_fields(c, p, port_fields, NULL);
    struct {
        const char *key;
        uint16_t *slot;
    } table[] = {
        {"outboundCapture", &ports->outbound_capture},
        {"inboundCapture", &ports->inbound_capture},
        {"admin", &ports->admin},
        {"health", &ports->health},
        {"metrics", &ports->metrics},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (weir_get_int(c, p, table[i].key, false, 1, 65535, &v))
            *table[i].slot = (uint16_t)v;
    }
    /* uid 0 would exempt root's traffic from capture and run the proxy as root. */
    if (weir_get_int(c, p, "proxyUID", false, 1, 2147483647, &v))
        ports->proxy_uid = (uint32_t)v;
    if (weir_get_int(c, p, "proxyGID", false, 1, 2147483647, &v))
        ports->proxy_gid = (uint32_t)v;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        for (size_t j = i + 1; j < sizeof(table) / sizeof(table[0]); j++) {
            if (*table[i].slot == *table[j].slot) {
                weir_check_error(c, p, "%s and %s are both %u; every proxy port must differ",
                                 table[i].key, table[j].key, (unsigned)*table[i].slot);
            }
        }
    }
    weir_check_pop(c);
}

/* A ConfigMap manifest holding the document under data.mesh, as installed by
 * the chart, is accepted too, so `kubectl get cm -o yaml` output works as is. */
static int unwrap_config_map(const json_t *doc, json_t **inner, struct weir_yaml_stream *inner_src,
                             struct weir_diags *diags, const char *source)
{
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    *inner = NULL;
    if (!kind || strcmp(kind, "ConfigMap") != 0)
        return 0;
    const char *text = json_string_value(json_object_get(json_object_get(doc, "data"), "mesh"));
    if (!text) {
        weir_diags_add(diags, WEIR_SEV_ERROR, "MeshConfig", source, 0, "data.mesh",
                       "a ConfigMap given as mesh config must hold the document under data.mesh");
        return -1;
    }
    /* Lines inside data.mesh count from the start of that string; the source
     * name says so, or a user would look at the wrong line of the manifest. */
    char name[512];
    snprintf(name, sizeof(name), "%s data.mesh", source ? source : "ConfigMap");
    if (weir_yaml_parse(text, strlen(text), name, NULL, inner_src, diags) != 0)
        return -1;
    if (inner_src->ndocs > 1) {
        weir_diags_add(diags, WEIR_SEV_ERROR, "MeshConfig", source, 0, "data.mesh",
                       "holds %zu YAML documents; expected one", inner_src->ndocs);
        return -1;
    }
    *inner = inner_src->ndocs ? inner_src->docs[0].root : NULL;
    return 1;
}

int weir_mesh_config_parse(const json_t *doc, const struct weir_yaml_stream *src, int line,
                           struct weir_mesh_config *out, struct weir_diags *diags)
{
    struct weir_check c;
    struct weir_yaml_stream inner_src;
    json_t *inner = NULL;
    int wrapped;

    memset(&inner_src, 0, sizeof(inner_src));
    if (weir_mesh_config_defaults(out) != 0) {
        weir_diags_add(diags, WEIR_SEV_ERROR, "MeshConfig", NULL, 0, NULL, "out of memory");
        return -1;
    }
    wrapped = unwrap_config_map(doc, &inner, &inner_src, diags, src ? src->source : NULL);
    if (wrapped < 0) {
        weir_yaml_stream_free(&inner_src);
        weir_mesh_config_free(out);
        return -1;
    }
    if (wrapped) {
        doc = inner;
        src = &inner_src;
        line = 1;
        if (!doc) { /* an empty data.mesh is the default mesh */
            weir_yaml_stream_free(&inner_src);
            return 0;
        }
    }

    weir_check_init(&c, diags, src, "MeshConfig", line);
    if (!json_is_null(doc) && weir_check_is_object(&c, doc)) {
        weir_check_fields(&c, doc, top_fields, NULL);
        get_string(&c, doc, "trustDomain", valid_trust_domain, &out->trust_domain);
        get_string(&c, doc, "caAddress", valid_host_port, &out->ca_address);
        parse_proxy(&c, doc, out);
        parse_capture(&c, doc, out);
        parse_ports(&c, doc, &out->ports);
    }
    weir_yaml_stream_free(&inner_src);
    if (c.errors) {
        weir_mesh_config_free(out);
        return -1;
    }
    return 0;
}

int weir_mesh_config_load_file(const char *path, struct weir_mesh_config *out,
                               struct weir_diags *diags)
{
    struct weir_yaml_stream s;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (weir_yaml_parse_file(path, NULL, &s, diags) != 0)
        goto out;
    if (s.ndocs > 1) {
        weir_diags_add(diags, WEIR_SEV_ERROR, "MeshConfig", path, s.docs[1].line, NULL,
                       "the file holds %zu YAML documents; a mesh config is one", s.ndocs);
        goto out;
    }
    if (s.ndocs == 0) { /* an empty file is the default mesh */
        rc = weir_mesh_config_defaults(out);
        if (rc != 0)
            weir_diags_add(diags, WEIR_SEV_ERROR, "MeshConfig", path, 0, NULL, "out of memory");
        goto out;
    }
    rc = weir_mesh_config_parse(s.docs[0].root, &s, s.docs[0].line, out, diags);
out:
    weir_yaml_stream_free(&s);
    return rc;
}

static json_t *quantities_json(const char *cpu, const char *memory)
{
    json_t *o = json_object();
    if (cpu)
        json_object_set_new(o, "cpu", json_string(cpu));
    if (memory)
        json_object_set_new(o, "memory", json_string(memory));
    return o;
}

json_t *weir_mesh_config_to_json(const struct weir_mesh_config *mc)
{
    char drain[64];
    json_t *res = json_object();
    if (mc->resources.cpu_request || mc->resources.memory_request)
        json_object_set_new(
            res, "requests",
            quantities_json(mc->resources.cpu_request, mc->resources.memory_request));
    if (mc->resources.cpu_limit || mc->resources.memory_limit)
        json_object_set_new(res, "limits",
                            quantities_json(mc->resources.cpu_limit, mc->resources.memory_limit));
    return json_pack(
        "{s:s, s:s, s:{s:s, s:s, s:s, s:o, s:s, s:s, s:b}, s:{s:s}, s:{s:i, s:i, s:i, s:i, s:i, "
        "s:I, s:I}}",
        "trustDomain", mc->trust_domain, "caAddress", mc->ca_address, "proxy", "image",
        mc->proxy_image, "initImage", mc->init_image, "imagePullPolicy", mc->image_pull_policy,
        "resources", res, "drainDuration",
        weir_duration_format(mc->drain_duration_ns, drain, sizeof(drain)), "logLevel",
        mc->log_level, "nativeSidecar", (int)mc->native_sidecar, "capture", "inboundPorts",
        mc->inbound_capture == WEIR_CAPTURE_ALL ? "all" : "declared", "ports", "outboundCapture",
        (int)mc->ports.outbound_capture, "inboundCapture", (int)mc->ports.inbound_capture, "admin",
        (int)mc->ports.admin, "health", (int)mc->ports.health, "metrics", (int)mc->ports.metrics,
        "proxyUID", (json_int_t)mc->ports.proxy_uid, "proxyGID", (json_int_t)mc->ports.proxy_gid);
}
