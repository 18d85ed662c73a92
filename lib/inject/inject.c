#include "inject/inject.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "inject/jsonpatch.h"
#include "model/check.h"
#include "model/common.h"

/* Istio's annotations and labels, honoured with Istio's meaning. */
#define ANN_INJECT             "sidecar.istio.io/inject"
#define ANN_ISTIO_STATUS       "sidecar.istio.io/status"
#define ANN_NATIVE             "sidecar.istio.io/nativeSidecar"
#define ANN_WEIR_NATIVE        "weir.dev/native-sidecar"
#define ANN_REWRITE_PROBES     "sidecar.istio.io/rewriteAppHTTPProbers"
#define ANN_LOG_LEVEL          "sidecar.istio.io/logLevel"
#define ANN_PROXY_CPU          "sidecar.istio.io/proxyCPU"
#define ANN_PROXY_MEMORY       "sidecar.istio.io/proxyMemory"
#define ANN_PROXY_CPU_LIMIT    "sidecar.istio.io/proxyCPULimit"
#define ANN_PROXY_MEMORY_LIMIT "sidecar.istio.io/proxyMemoryLimit"
#define ANN_INCLUDE_OUT_RANGES "traffic.sidecar.istio.io/includeOutboundIPRanges"
#define ANN_EXCLUDE_OUT_RANGES "traffic.sidecar.istio.io/excludeOutboundIPRanges"
#define ANN_INCLUDE_IN_PORTS   "traffic.sidecar.istio.io/includeInboundPorts"
#define ANN_EXCLUDE_IN_PORTS   "traffic.sidecar.istio.io/excludeInboundPorts"
#define ANN_EXCLUDE_OUT_PORTS  "traffic.sidecar.istio.io/excludeOutboundPorts"
#define ANN_INTERCEPTION_MODE  "sidecar.istio.io/interceptionMode"
#define ANN_DEFAULT_CONTAINER  "kubectl.kubernetes.io/default-container"
#define ANN_DEFAULT_LOGS       "kubectl.kubernetes.io/default-logs-container"
#define ANN_PROM_SCRAPE        "prometheus.io/scrape"
#define ANN_PROM_PORT          "prometheus.io/port"
#define ANN_PROM_PATH          "prometheus.io/path"
#define LABEL_TLS_MODE         "security.istio.io/tlsMode"

/* Istio annotations that Weir does not act on: a pod carrying one is still
 * injected, and the user is told the setting has no effect. */
static const char *const unsupported_annotations[] = {
    "traffic.sidecar.istio.io/excludeInterfaces",
    "traffic.sidecar.istio.io/kubevirtInterfaces",
    "proxy.istio.io/config",
    "sidecar.istio.io/proxyImage",
    "sidecar.istio.io/userVolume",
    "sidecar.istio.io/userVolumeMount",
    "sidecar.istio.io/bootstrapOverride",
    "sidecar.istio.io/componentLogLevel",
    NULL,
};

static const char *const never_injected_namespaces[] = {"kube-system", "kube-public",
                                                        "kube-node-lease", NULL};

struct settings {
    bool native;
    bool rewrite_probes;
    const char *log_level;
    const char *cpu_request, *memory_request, *cpu_limit, *memory_limit;
    char *include_outbound_ranges;
    char *exclude_outbound_ranges;
    char *include_inbound_ports;
    char *exclude_inbound_ports;
    char *exclude_outbound_ports;
};

struct injector {
    const struct weir_inject_request *req;
    const struct weir_mesh_config *mc;
    struct weir_check c;
    const json_t *meta, *spec, *annotations, *labels;
    const json_t *containers, *init_containers, *volumes;
    const char *ns;
    struct settings s;
    json_t *probers; /* WEIR_KUBE_APP_PROBERS, keyed by the rewritten path */
    json_t *patch;
    bool oom;
};

const char *weir_inject_decision_name(enum weir_inject_decision d)
{
    switch (d) {
    case WEIR_INJECT_PATCH:
        return "inject";
    case WEIR_INJECT_SKIP:
        return "skip";
    case WEIR_INJECT_REFUSE:
        return "refuse";
    }
    return "?";
}

void weir_inject_result_free(struct weir_inject_result *r)
{
    if (!r)
        return;
    json_decref(r->patch);
    r->patch = NULL;
}

static json_t *need(struct injector *in, json_t *v)
{
    if (!v)
        in->oom = true;
    return v;
}

static void add_op(struct injector *in, const char *op, const char *path, json_t *value)
{
    if (!value || weir_jsonpatch_add_op(in->patch, op, path, value) != 0)
        in->oom = true;
}

static const char *annotation(const struct injector *in, const char *key)
{
    return json_string_value(json_object_get(in->annotations, key));
}

static const char *label(const struct injector *in, const char *key)
{
    return json_string_value(json_object_get(in->labels, key));
}

/* Runs at metadata.annotations["key"] for the diagnostics. */
static void at_annotation(struct injector *in, const char *key)
{
    weir_check_push_key(&in->c, "metadata");
    weir_check_push_key(&in->c, "annotations");
    weir_check_push_key(&in->c, key);
}

static void leave(struct injector *in, int n)
{
    while (n-- > 0)
        weir_check_pop(&in->c);
}

static void annotation_error(struct injector *in, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void annotation_error(struct injector *in, const char *key, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    at_annotation(in, key);
    weir_check_error(&in->c, json_object_get(in->annotations, key), "%s", msg);
    leave(in, 3);
}

/* Go's strconv.ParseBool, which Istio uses for its boolean annotations. */
static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True", NULL};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False", NULL};
    for (int i = 0; yes[i]; i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
    }
    for (int i = 0; no[i]; i++) {
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static void bool_annotation(struct injector *in, const char *key, bool *slot)
{
    const char *v = annotation(in, key);
    if (v && parse_bool(v, slot) != 0)
        annotation_error(in, key, "\"%s\" is not a boolean; use \"true\" or \"false\"", v);
}

/* ---- lists of ports and address ranges ---- */

struct port_list {
    unsigned ports[128];
    size_t len;
    bool overflow;
};

static void port_list_add(struct port_list *l, unsigned port)
{
    for (size_t i = 0; i < l->len; i++) {
        if (l->ports[i] == port)
            return;
    }
    if (l->len == sizeof(l->ports) / sizeof(l->ports[0])) {
        l->overflow = true;
        return;
    }
    l->ports[l->len++] = port;
}

static char *port_list_join(const struct port_list *l)
{
    char *out = malloc(l->len * 6 + 1);
    size_t n = 0;
    if (!out)
        return NULL;
    out[0] = '\0';
    for (size_t i = 0; i < l->len; i++)
        n += (size_t)sprintf(out + n, "%s%u", i ? "," : "", l->ports[i]);
    return out;
}

enum list_kind { LIST_PORTS, LIST_CIDRS };

/* Parses a comma-separated annotation value ("8080, 9090" or "10.0.0.0/8,
 * 192.168.0.0/16"; "*" alone where allowed) and returns it normalised, with
 * spaces and empty entries dropped. On a bad entry records an error and
 * returns NULL. `ports` collects the port numbers when not NULL. */
static char *parse_list(struct injector *in, const char *key, const char *text, enum list_kind kind,
                        bool allow_star, struct port_list *ports)
{
    size_t len = strlen(text);
    char *out = malloc(len + 1);
    size_t n = 0;
    const char *p = text;

    if (!out) {
        in->oom = true;
        return NULL;
    }
    out[0] = '\0';
    while (*p) {
        char item[128];
        const char *end = strchr(p, ',');
        size_t ilen = end ? (size_t)(end - p) : strlen(p);
        const char *b = p, *e = p + ilen;
        while (b < e && isspace((unsigned char)*b))
            b++;
        while (e > b && isspace((unsigned char)e[-1]))
            e--;
        p = end ? end + 1 : p + ilen;
        if (b == e)
            continue;
        if ((size_t)(e - b) >= sizeof(item)) {
            annotation_error(in, key, "entry \"%.*s...\" is too long", 32, b);
            free(out);
            return NULL;
        }
        memcpy(item, b, (size_t)(e - b));
        item[e - b] = '\0';
        if (strcmp(item, "*") == 0) {
            if (!allow_star) {
                annotation_error(in, key, "\"*\" is not allowed here");
                free(out);
                return NULL;
            }
            if (n != 0 || (end && strspn(end + 1, " ,\t") != strlen(end + 1))) {
                annotation_error(in, key, "\"*\" must stand alone, got \"%s\"", text);
                free(out);
                return NULL;
            }
        } else if (kind == LIST_PORTS) {
            char *num_end;
            long port = strtol(item, &num_end, 10);
            if (!isdigit((unsigned char)item[0]) || *num_end || port < 1 || port > 65535) {
                annotation_error(in, key, "\"%s\" is not a port number (1..65535)", item);
                free(out);
                return NULL;
            }
            if (ports)
                port_list_add(ports, (unsigned)port);
        } else {
            const char *why = weir_valid_cidr(item);
            if (why) {
                annotation_error(in, key, "\"%s\": %s", item, why);
                free(out);
                return NULL;
            }
        }
        n += (size_t)sprintf(out + n, "%s%s", n ? "," : "", item);
    }
    return out;
}

/* ---- reading the pod ---- */

static const char *container_name(const json_t *c)
{
    return json_string_value(json_object_get(c, "name"));
}

static bool has_container(const json_t *list, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        const char *n = container_name(c);
        if (n && strcmp(n, name) == 0)
            return true;
    }
    return false;
}

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++) {
        if (strcmp(*list, s) == 0)
            return true;
    }
    return false;
}

enum opt { OPT_UNSET, OPT_IN, OPT_OUT };

/* Istio's reading of sidecar.istio.io/inject: the label wins over the
 * annotation; y/yes/true/on opt in, anything else that is not empty opts out. */
static enum opt pod_opt(struct injector *in)
{
    const char *v = label(in, ANN_INJECT);
    bool from_label = v != NULL;
    if (!v)
        v = annotation(in, ANN_INJECT);
    if (!v || !*v)
        return OPT_UNSET;
    if (!strcasecmp(v, "y") || !strcasecmp(v, "yes") || !strcasecmp(v, "true") ||
        !strcasecmp(v, "on"))
        return OPT_IN;
    if (strcasecmp(v, "n") != 0 && strcasecmp(v, "no") != 0 && strcasecmp(v, "false") != 0 &&
        strcasecmp(v, "off") != 0) {
        weir_check_push_key(&in->c, "metadata");
        weir_check_push_key(&in->c, from_label ? "labels" : "annotations");
        weir_check_push_key(&in->c, ANN_INJECT);
        weir_check_warning(&in->c, NULL,
                           "\"%s\" is not \"true\" or \"false\"; the pod is not injected, as "
                           "Istio does",
                           v);
        leave(in, 3);
    }
    return OPT_OUT;
}

static bool namespace_enabled(const json_t *labels)
{
    const char *weir = json_string_value(json_object_get(labels, WEIR_NAMESPACE_LABEL));
    const char *istio = json_string_value(json_object_get(labels, WEIR_ISTIO_NAMESPACE_LABEL));
    /* Weir's own label, when present, decides alone, as the webhook's
     * namespaceSelector does. */
    if (weir)
        return strcmp(weir, "enabled") == 0;
    return istio && strcmp(istio, "enabled") == 0;
}

static void set_reason(struct weir_inject_result *out, enum weir_inject_decision d, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));
static void set_reason(struct weir_inject_result *out, enum weir_inject_decision d, const char *fmt,
                       ...)
{
    va_list ap;
    out->decision = d;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
    va_end(ap);
}

/* Returns true when the pod is left alone; out says why. */
static bool skip(struct injector *in, struct weir_inject_result *out)
{
    if (json_is_true(json_object_get(in->spec, "hostNetwork"))) {
        set_reason(out, WEIR_INJECT_SKIP, "hostNetwork pods share the node's network namespace");
        return true;
    }
    if (annotation(in, WEIR_INJECT_STATUS_KEY) ||
        has_container(in->containers, WEIR_INJECT_PROXY_NAME) ||
        has_container(in->init_containers, WEIR_INJECT_PROXY_NAME)) {
        set_reason(out, WEIR_INJECT_SKIP, "already injected");
        return true;
    }
    if (annotation(in, ANN_ISTIO_STATUS) || has_container(in->containers, "istio-proxy") ||
        has_container(in->init_containers, "istio-proxy")) {
        set_reason(out, WEIR_INJECT_SKIP, "already injected by Istio");
        return true;
    }
    if (in_list(never_injected_namespaces, in->ns)) {
        set_reason(out, WEIR_INJECT_SKIP, "namespace %s is never injected", in->ns);
        return true;
    }
    enum opt o = pod_opt(in);
    if (o == OPT_OUT) {
        set_reason(out, WEIR_INJECT_SKIP, "the pod opts out with sidecar.istio.io/inject");
        return true;
    }
    if (o == OPT_UNSET && in->req->namespace_labels &&
        !namespace_enabled(in->req->namespace_labels)) {
        set_reason(out, WEIR_INJECT_SKIP, "namespace %s is not labelled %s=enabled", in->ns,
                   WEIR_NAMESPACE_LABEL);
        return true;
    }
    return false;
}

/* ---- settings from the mesh config and the pod's annotations ---- */

static void quantity_annotation(struct injector *in, const char *key, const char **slot)
{
    const char *v = annotation(in, key);
    double q;
    if (!v)
        return;
    if (weir_quantity_parse(v, &q) != 0) {
        annotation_error(in, key, "\"%s\" is not a Kubernetes quantity (such as 500m, 2, 128Mi)",
                         v);
        return;
    }
    *slot = v;
}

static void check_request_limit(struct injector *in, const char *what, const char *request,
                                const char *limit, const char *req_key, const char *lim_key)
{
    double a, b;
    if (!request || !limit || weir_quantity_parse(request, &a) != 0 ||
        weir_quantity_parse(limit, &b) != 0 || a <= b)
        return;
    const char *key = annotation(in, req_key) ? req_key : lim_key;
    annotation_error(in, key, "the proxy's %s request %s is more than its limit %s; set %s as well",
                     what, request, limit, annotation(in, req_key) ? lim_key : req_key);
}

static void read_settings(struct injector *in)
{
    const struct weir_mesh_config *mc = in->mc;
    struct settings *s = &in->s;
    const char *v;

    s->native = mc->native_sidecar;
    s->rewrite_probes = true;
    s->log_level = mc->log_level;
    s->cpu_request = mc->resources.cpu_request;
    s->memory_request = mc->resources.memory_request;
    s->cpu_limit = mc->resources.cpu_limit;
    s->memory_limit = mc->resources.memory_limit;

    /* Weir's own annotation wins when both are given. */
    bool_annotation(in, ANN_NATIVE, &s->native);
    bool_annotation(in, ANN_WEIR_NATIVE, &s->native);
    bool_annotation(in, ANN_REWRITE_PROBES, &s->rewrite_probes);

    if ((v = annotation(in, ANN_LOG_LEVEL))) {
        static const char *const levels[] = {"trace", "debug", "info",     "warn", "warning",
                                             "error", "off",   "critical", NULL};
        if (!in_list(levels, v))
            annotation_error(in, ANN_LOG_LEVEL,
                             "\"%s\" is not a log level (debug, info, warn, error, off)", v);
        else if (strcmp(v, "trace") == 0)
            s->log_level = "debug"; /* Envoy's finest level maps to Weir's */
        else if (strcmp(v, "warning") == 0)
            s->log_level = "warn";
        else if (strcmp(v, "critical") == 0)
            s->log_level = "error";
        else
            s->log_level = v;
    }

    quantity_annotation(in, ANN_PROXY_CPU, &s->cpu_request);
    quantity_annotation(in, ANN_PROXY_MEMORY, &s->memory_request);
    quantity_annotation(in, ANN_PROXY_CPU_LIMIT, &s->cpu_limit);
    quantity_annotation(in, ANN_PROXY_MEMORY_LIMIT, &s->memory_limit);
    check_request_limit(in, "cpu", s->cpu_request, s->cpu_limit, ANN_PROXY_CPU,
                        ANN_PROXY_CPU_LIMIT);
    check_request_limit(in, "memory", s->memory_request, s->memory_limit, ANN_PROXY_MEMORY,
                        ANN_PROXY_MEMORY_LIMIT);

    if ((v = annotation(in, ANN_INTERCEPTION_MODE)) && strcmp(v, "REDIRECT") != 0) {
        at_annotation(in, ANN_INTERCEPTION_MODE);
        weir_check_unsupported(&in->c, NULL,
                               "Weir captures with REDIRECT only; \"%s\" has no effect", v);
        leave(in, 3);
    }
    for (int i = 0; unsupported_annotations[i]; i++) {
        if (annotation(in, unsupported_annotations[i])) {
            at_annotation(in, unsupported_annotations[i]);
            weir_check_unsupported(&in->c, NULL, "not supported by Weir; it has no effect");
            leave(in, 3);
        }
    }
}

/* The containerPorts the app declares, TCP only: iptables REDIRECT captures
 * TCP, and the proxy's own ports must not be among them. */
static void app_ports(struct injector *in, struct port_list *declared)
{
    const struct weir_ports *pt = &in->mc->ports;
    const struct {
        unsigned port;
        const char *what;
    } reserved[] = {
        {pt->outbound_capture, "outbound capture"},
        {pt->inbound_capture, "inbound capture"},
        {pt->admin, "admin"},
        {pt->health, "health"},
        {pt->metrics, "metrics"},
    };
    const char *lists[] = {"containers", "initContainers"};

    for (int l = 0; l < 2; l++) {
        const json_t *list = l == 0 ? in->containers : in->init_containers;
        size_t i;
        json_t *c;
        weir_check_push_key(&in->c, "spec");
        weir_check_push_key(&in->c, lists[l]);
        json_array_foreach(list, i, c)
        {
            const json_t *ports = json_object_get(c, "ports");
            size_t j;
            json_t *p;
            weir_check_push_index(&in->c, i);
            json_array_foreach(ports, j, p)
            {
                const json_t *num = json_object_get(p, "containerPort");
                const char *proto = json_string_value(json_object_get(p, "protocol"));
                if (!json_is_integer(num))
                    continue;
                json_int_t port = json_integer_value(num);
                if (port < 1 || port > 65535)
                    continue;
                for (size_t r = 0; r < sizeof(reserved) / sizeof(reserved[0]); r++) {
                    if ((unsigned)port == reserved[r].port) {
                        weir_check_push_key(&in->c, "ports");
                        weir_check_push_index(&in->c, j);
                        weir_check_push_key(&in->c, "containerPort");
                        weir_check_error(&in->c, num,
                                         "%lld is the proxy's %s port; two listeners cannot "
                                         "share it in one pod",
                                         (long long)port, reserved[r].what);
                        leave(in, 3);
                    }
                }
                if (l == 0 && (!proto || strcmp(proto, "TCP") == 0))
                    port_list_add(declared, (unsigned)port);
            }
            weir_check_pop(&in->c);
        }
        leave(in, 2);
    }
}

static int cmp_uint(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

static void capture_settings(struct injector *in)
{
    struct settings *s = &in->s;
    const struct weir_ports *pt = &in->mc->ports;
    struct port_list declared = {0}, excluded = {0};
    const char *v;

    app_ports(in, &declared);

    v = annotation(in, ANN_INCLUDE_OUT_RANGES);
    s->include_outbound_ranges =
        v ? parse_list(in, ANN_INCLUDE_OUT_RANGES, v, LIST_CIDRS, true, NULL) : strdup("*");
    v = annotation(in, ANN_EXCLUDE_OUT_RANGES);
    s->exclude_outbound_ranges =
        v ? parse_list(in, ANN_EXCLUDE_OUT_RANGES, v, LIST_CIDRS, false, NULL) : strdup("");
    v = annotation(in, ANN_EXCLUDE_OUT_PORTS);
    s->exclude_outbound_ports =
        v ? parse_list(in, ANN_EXCLUDE_OUT_PORTS, v, LIST_PORTS, false, NULL) : strdup("");

    /* A pod declaring more ports than the list holds has every port captured:
     * capturing more is safe, capturing fewer is not. */
    v = annotation(in, ANN_INCLUDE_IN_PORTS);
    if (v) {
        s->include_inbound_ports = parse_list(in, ANN_INCLUDE_IN_PORTS, v, LIST_PORTS, true, NULL);
    } else if (in->mc->inbound_capture == WEIR_CAPTURE_DECLARED && !declared.overflow) {
        qsort(declared.ports, declared.len, sizeof(declared.ports[0]), cmp_uint);
        s->include_inbound_ports = port_list_join(&declared);
    } else {
        s->include_inbound_ports = strdup("*");
    }

    /* kubelet probes the proxy's health port and Prometheus scrapes its
     * metrics port from outside the pod; capturing them would loop them back
     * into the proxy's inbound listener. */
    port_list_add(&excluded, pt->health);
    port_list_add(&excluded, pt->metrics);
    v = annotation(in, ANN_EXCLUDE_IN_PORTS);
    if (v) {
        char *norm = parse_list(in, ANN_EXCLUDE_IN_PORTS, v, LIST_PORTS, false, &excluded);
        free(norm);
        if (excluded.overflow)
            annotation_error(in, ANN_EXCLUDE_IN_PORTS, "lists more than %zu ports",
                             sizeof(excluded.ports) / sizeof(excluded.ports[0]) - 2);
    }
    s->exclude_inbound_ports = port_list_join(&excluded);
}

static void settings_free(struct settings *s)
{
    free(s->include_outbound_ranges);
    free(s->exclude_outbound_ranges);
    free(s->include_inbound_ports);
    free(s->exclude_inbound_ports);
    free(s->exclude_outbound_ports);
}

/* Names the injected objects take must not already be used by the pod. */
static void check_reserved_names(struct injector *in)
{
    static const char *const volumes[] = {WEIR_INJECT_CONFIG_VOLUME, WEIR_INJECT_RUNTIME_VOLUME,
                                          WEIR_INJECT_TOKEN_VOLUME, WEIR_INJECT_PODINFO_VOLUME,
                                          NULL};
    size_t i;
    json_t *v;

    if (has_container(in->containers, WEIR_INJECT_INIT_NAME) ||
        has_container(in->init_containers, WEIR_INJECT_INIT_NAME)) {
        weir_check_push_key(&in->c, "spec");
        weir_check_error(&in->c, in->spec, "a container is already named %s, a name Weir injects",
                         WEIR_INJECT_INIT_NAME);
        weir_check_pop(&in->c);
    }
    weir_check_push_key(&in->c, "spec");
    weir_check_push_key(&in->c, "volumes");
    json_array_foreach(in->volumes, i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        if (name && in_list(volumes, name)) {
            weir_check_push_index(&in->c, i);
            weir_check_error(&in->c, v, "volume name %s is reserved for the injected proxy", name);
            weir_check_pop(&in->c);
        }
    }
    leave(in, 2);
}

/* ---- building the injected objects ---- */

static json_t *resources_json(struct injector *in)
{
    const struct settings *s = &in->s;
    json_t *res = need(in, json_object());
    json_t *req = need(in, json_object());
    json_t *lim = need(in, json_object());
    if (!res || !req || !lim) {
        json_decref(res);
        json_decref(req);
        json_decref(lim);
        return NULL;
    }
    if (s->cpu_request)
        json_object_set_new(req, "cpu", need(in, json_string(s->cpu_request)));
    if (s->memory_request)
        json_object_set_new(req, "memory", need(in, json_string(s->memory_request)));
    if (s->cpu_limit)
        json_object_set_new(lim, "cpu", need(in, json_string(s->cpu_limit)));
    if (s->memory_limit)
        json_object_set_new(lim, "memory", need(in, json_string(s->memory_limit)));
    if (json_object_size(req))
        json_object_set_new(res, "requests", req);
    else
        json_decref(req);
    if (json_object_size(lim))
        json_object_set_new(res, "limits", lim);
    else
        json_decref(lim);
    return res;
}

static json_t *init_container(struct injector *in)
{
    const struct settings *s = &in->s;
    const struct weir_ports *pt = &in->mc->ports;
    char proxy_port[8], inbound_port[8], uid[16], gid[16];

    snprintf(proxy_port, sizeof(proxy_port), "%u", (unsigned)pt->outbound_capture);
    snprintf(inbound_port, sizeof(inbound_port), "%u", (unsigned)pt->inbound_capture);
    snprintf(uid, sizeof(uid), "%u", (unsigned)pt->proxy_uid);
    snprintf(gid, sizeof(gid), "%u", (unsigned)pt->proxy_gid);
    /* The flag names are weir-init's interface (proxy/init); every flag is
     * always given so the rules never depend on weir-init's own defaults. */
    json_t *args =
        json_pack("[s,s, s,s, s,s, s,s, s,s, s,s, s,s, s,s, s,s]", "--proxy-port", proxy_port,
                  "--inbound-capture-port", inbound_port, "--proxy-uid", uid, "--proxy-gid", gid,
                  "--include-outbound-ranges", s->include_outbound_ranges,
                  "--exclude-outbound-ranges", s->exclude_outbound_ranges,
                  "--include-inbound-ports", s->include_inbound_ports, "--exclude-inbound-ports",
                  s->exclude_inbound_ports, "--exclude-outbound-ports", s->exclude_outbound_ports);
    /* Root with only the two capabilities iptables needs, nothing else. */
    json_t *sc = json_pack("{s:i, s:i, s:b, s:b, s:b, s:b, s:{s:[s,s], s:[s]}}", "runAsUser", 0,
                           "runAsGroup", 0, "runAsNonRoot", 0, "privileged", 0,
                           "allowPrivilegeEscalation", 0, "readOnlyRootFilesystem", 1,
                           "capabilities", "add", "NET_ADMIN", "NET_RAW", "drop", "ALL");
    return need(in, json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:s}", "name", WEIR_INJECT_INIT_NAME,
                              "image", in->mc->init_image, "imagePullPolicy",
                              in->mc->image_pull_policy, "args", need(in, args), "resources",
                              resources_json(in), "securityContext", need(in, sc),
                              "terminationMessagePolicy", "FallbackToLogsOnError"));
}

static json_t *env_value(const char *name, const char *value)
{
    return json_pack("{s:s, s:s}", "name", name, "value", value);
}

static json_t *env_field(const char *name, const char *field)
{
    return json_pack("{s:s, s:{s:{s:s, s:s}}}", "name", name, "valueFrom", "fieldRef", "apiVersion",
                     "v1", "fieldPath", field);
}

static void env_port(struct injector *in, json_t *env, const char *name, unsigned value,
                     unsigned dflt)
{
    char buf[8];
    if (value == dflt)
        return; /* the proxy knows the defaults from the same table */
    snprintf(buf, sizeof(buf), "%u", value);
    json_array_append_new(env, need(in, env_value(name, buf)));
}

static json_t *proxy_env(struct injector *in)
{
    const struct weir_mesh_config *mc = in->mc;
    const struct weir_ports *pt = &mc->ports;
    char drain[64];
    json_t *env = need(in, json_array());
    if (!env)
        return NULL;

    json_array_append_new(env, need(in, env_field("POD_NAME", "metadata.name")));
    json_array_append_new(env, need(in, env_field("POD_NAMESPACE", "metadata.namespace")));
    json_array_append_new(env, need(in, env_field("INSTANCE_IP", "status.podIP")));
    json_array_append_new(env, need(in, env_field("SERVICE_ACCOUNT", "spec.serviceAccountName")));
    json_array_append_new(env, need(in, env_value("WEIR_TRUST_DOMAIN", mc->trust_domain)));
    json_array_append_new(env, need(in, env_value("WEIR_CA_ADDRESS", mc->ca_address)));
    json_array_append_new(env, need(in, env_value("WEIR_CA_TOKEN_FILE", WEIR_PROXY_TOKEN_DIR
                                                  "/" WEIR_INJECT_TOKEN_VOLUME)));
    json_array_append_new(env, need(in, env_value("WEIR_PROXY_CONFIG_DIR", WEIR_PROXY_CONFIG_DIR)));
    json_array_append_new(env,
                          need(in, env_value("WEIR_PROXY_RUNTIME_DIR", WEIR_PROXY_RUNTIME_DIR)));
    json_array_append_new(env, need(in, env_value("WEIR_LOG_LEVEL", in->s.log_level)));
    json_array_append_new(env, need(in, env_value("WEIR_DRAIN_DURATION",
                                                  weir_duration_format(mc->drain_duration_ns, drain,
                                                                       sizeof(drain)))));
    json_array_append_new(
        env, need(in, env_value("WEIR_NATIVE_SIDECAR", in->s.native ? "true" : "false")));
    env_port(in, env, "WEIR_OUTBOUND_CAPTURE_PORT", pt->outbound_capture,
             weir_default_ports.outbound_capture);
    env_port(in, env, "WEIR_INBOUND_CAPTURE_PORT", pt->inbound_capture,
             weir_default_ports.inbound_capture);
    env_port(in, env, "WEIR_ADMIN_PORT", pt->admin, weir_default_ports.admin);
    env_port(in, env, "WEIR_HEALTH_PORT", pt->health, weir_default_ports.health);
    env_port(in, env, "WEIR_METRICS_PORT", pt->metrics, weir_default_ports.metrics);
    if (json_object_size(in->probers)) {
        char *probers = json_dumps(in->probers, JSON_COMPACT);
        if (probers)
            json_array_append_new(env, need(in, env_value(WEIR_APP_PROBERS_ENV, probers)));
        else
            in->oom = true;
        free(probers);
    }
    return env;
}

static json_t *health_probe(struct injector *in, int period, int failure_threshold)
{
    return need(in,
                json_pack("{s:{s:s, s:i, s:s}, s:i, s:i, s:i}", "httpGet", "path", "/healthz/ready",
                          "port", (int)in->mc->ports.health, "scheme", "HTTP", "periodSeconds",
                          period, "timeoutSeconds", 3, "failureThreshold", failure_threshold));
}

static json_t *proxy_container(struct injector *in)
{
    const struct weir_ports *pt = &in->mc->ports;
    json_t *sc = json_pack("{s:I, s:I, s:b, s:b, s:b, s:b, s:{s:[s]}}", "runAsUser",
                           (json_int_t)pt->proxy_uid, "runAsGroup", (json_int_t)pt->proxy_gid,
                           "runAsNonRoot", 1, "privileged", 0, "allowPrivilegeEscalation", 0,
                           "readOnlyRootFilesystem", 1, "capabilities", "drop", "ALL");
    json_t *mounts = json_pack(
        "[{s:s, s:s, s:b}, {s:s, s:s}, {s:s, s:s, s:b}, {s:s, s:s, s:b}]", "name",
        WEIR_INJECT_CONFIG_VOLUME, "mountPath", WEIR_PROXY_CONFIG_DIR, "readOnly", 1, "name",
        WEIR_INJECT_RUNTIME_VOLUME, "mountPath", WEIR_PROXY_RUNTIME_DIR, "name",
        WEIR_INJECT_TOKEN_VOLUME, "mountPath", WEIR_PROXY_TOKEN_DIR, "readOnly", 1, "name",
        WEIR_INJECT_PODINFO_VOLUME, "mountPath", WEIR_PROXY_PODINFO_DIR, "readOnly", 1);
    /* The pod's labels select the config that applies to this workload
     * (sourceLabels, inbound workload selectors); the env cannot carry them. */
    json_t *args = json_pack("[s,s]", "--pod-labels-file", WEIR_PROXY_PODINFO_DIR "/labels");
    /* Istio's port name, so existing PodMonitors and dashboards match. */
    json_t *ports = json_pack("[{s:s, s:i, s:s}]", "name", "http-envoy-prom", "containerPort",
                              (int)pt->metrics, "protocol", "TCP");
    json_t *c =
        need(in, json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s}", "name",
                           WEIR_INJECT_PROXY_NAME, "image", in->mc->proxy_image, "imagePullPolicy",
                           in->mc->image_pull_policy, "args", need(in, args), "ports",
                           need(in, ports), "env", proxy_env(in), "resources", resources_json(in),
                           "readinessProbe", health_probe(in, 15, 4),
                           /* Up to 10 minutes for the first config; kubelet holds back the
                            * containers after a native sidecar until this passes. */
                           "startupProbe", health_probe(in, 1, 600), "securityContext",
                           need(in, sc), "volumeMounts", need(in, mounts),
                           "terminationMessagePolicy", "FallbackToLogsOnError"));
    if (!c)
        return NULL;
    if (in->s.native) {
        json_object_set_new(c, "restartPolicy", need(in, json_string("Always")));
    } else {
        /* Istio's holdApplicationUntilProxyStarts: kubelet runs postStart
         * before it starts the next container, so the app waits for the proxy. */
        json_object_set_new(c, "lifecycle",
                            need(in, json_pack("{s:{s:{s:[s,s]}}}", "postStart", "exec", "command",
                                               "weir-proxy", "wait")));
    }
    return c;
}

static json_t *volumes_json(struct injector *in)
{
    /* The config map is optional so a pod created before the operator wrote
     * its namespace's config still starts; the proxy waits for the file. */
    return need(
        in, json_pack("[{s:s, s:{s:s, s:b}}, {s:s, s:{s:s}}, {s:s, s:{s:[{s:{s:s, s:i, "
                      "s:s}}]}}, {s:s, s:{s:[{s:s, s:{s:s}}, {s:s, s:{s:s}}]}}]",
                      "name", WEIR_INJECT_CONFIG_VOLUME, "configMap", "name", WEIR_PROXY_CONFIG_MAP,
                      "optional", 1, "name", WEIR_INJECT_RUNTIME_VOLUME, "emptyDir", "medium",
                      "Memory", "name", WEIR_INJECT_TOKEN_VOLUME, "projected", "sources",
                      "serviceAccountToken", "audience", WEIR_CA_TOKEN_AUDIENCE,
                      "expirationSeconds", WEIR_CA_TOKEN_LIFETIME, "path", WEIR_INJECT_TOKEN_VOLUME,
                      "name", WEIR_INJECT_PODINFO_VOLUME, "downwardAPI", "items", "path", "labels",
                      "fieldRef", "fieldPath", "metadata.labels", "path", "annotations", "fieldRef",
                      "fieldPath", "metadata.annotations"));
}

/* ---- probes ---- */

/* A probe's port: a number, or the name of one of the container's ports. */
static long resolve_port(const json_t *container, const json_t *port)
{
    if (json_is_integer(port))
        return (long)json_integer_value(port);
    const char *name = json_string_value(port);
    if (!name)
        return -1;
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(container, "ports"), i, p)
    {
        const char *pn = json_string_value(json_object_get(p, "name"));
        if (pn && strcmp(pn, name) == 0 && json_is_integer(json_object_get(p, "containerPort")))
            return (long)json_integer_value(json_object_get(p, "containerPort"));
    }
    return -1;
}

static void rewrite_probe(struct injector *in, size_t index, const json_t *container,
                          const char *field, const char *suffix)
{
    static const char *const handlers[] = {"httpGet", "tcpSocket", "grpc", NULL};
    const json_t *probe = json_object_get(container, field);
    const char *cname = container_name(container);
    const char *kind = NULL;
    const json_t *handler = NULL;
    char path[256], pointer[256];

    if (!json_is_object(probe) || !cname)
        return;
    for (int i = 0; handlers[i]; i++) {
        handler = json_object_get(probe, handlers[i]);
        if (json_is_object(handler)) {
            kind = handlers[i];
            break;
        }
    }
    if (!kind)
        return; /* exec probes run inside the container; nothing crosses the proxy */
    const char *host = json_string_value(json_object_get(handler, "host"));
    if (host && *host)
        return; /* probes some other host, not this pod */
    long port = resolve_port(container, json_object_get(handler, "port"));
    if (port < 1 || port > 65535) {
        weir_check_push_key(&in->c, "spec");
        weir_check_push_key(&in->c, "containers");
        weir_check_push_index(&in->c, index);
        weir_check_push_key(&in->c, field);
        weir_check_push_key(&in->c, kind);
        weir_check_push_key(&in->c, "port");
        weir_check_warning(&in->c, handler,
                           "names no port of container %s; the probe is left as it is and will "
                           "fail once mTLS is STRICT",
                           cname);
        leave(in, 6);
        return;
    }

    /* The original, for the proxy to run on kubelet's behalf: Istio's
     * ISTIO_KUBE_APP_PROBERS format, with the port resolved to a number. */
    json_t *orig = need(in, json_deep_copy(handler));
    if (!orig)
        return;
    json_object_set_new(orig, "port", need(in, json_integer(port)));
    if (strcmp(kind, "httpGet") == 0 && !json_object_get(orig, "scheme"))
        json_object_set_new(orig, "scheme", need(in, json_string("HTTP")));
    const json_t *timeout = json_object_get(probe, "timeoutSeconds");
    json_t *prober =
        need(in, json_pack("{s:o, s:I}", kind, orig, "timeoutSeconds",
                           json_is_integer(timeout) ? json_integer_value(timeout) : 1));
    snprintf(path, sizeof(path), "/app-health/%s/%s", cname, suffix);
    if (prober)
        json_object_set_new(in->probers, path, prober);

    json_t *rewritten = need(in, json_deep_copy(probe));
    if (!rewritten)
        return;
    for (int i = 0; handlers[i]; i++)
        json_object_del(rewritten, handlers[i]);
    json_object_set_new(rewritten, "httpGet",
                        need(in, json_pack("{s:s, s:i, s:s}", "path", path, "port",
                                           (int)in->mc->ports.health, "scheme", "HTTP")));
    snprintf(pointer, sizeof(pointer), "/spec/containers/%zu/%s", index, field);
    add_op(in, "replace", pointer, rewritten);
}

static void rewrite_probes(struct injector *in)
{
    size_t i;
    json_t *c;
    if (!in->s.rewrite_probes)
        return;
    json_array_foreach(in->containers, i, c)
    {
        rewrite_probe(in, i, c, "livenessProbe", "livez");
        rewrite_probe(in, i, c, "readinessProbe", "readyz");
        rewrite_probe(in, i, c, "startupProbe", "startupz");
    }
}

/* ---- the patch ---- */

static void add_to_list(struct injector *in, const char *list_path, const json_t *existing,
                        size_t at, json_t *items)
{
    char path[128];
    size_t i;
    json_t *item;

    if (!items)
        return;
    /* No list yet (or an explicit null): one "add" creates it whole, since
     * RFC 6902 cannot add an element to an array that does not exist. */
    if (!json_is_array(existing)) {
        add_op(in, "add", list_path, json_incref(items));
        json_decref(items);
        return;
    }
    json_array_foreach(items, i, item)
    {
        if (at == (size_t)-1)
            snprintf(path, sizeof(path), "%s/-", list_path);
        else
            snprintf(path, sizeof(path), "%s/%zu", list_path, at + i);
        add_op(in, "add", path, json_incref(item));
    }
    json_decref(items);
}

static void add_to_map(struct injector *in, const char *map_path, const json_t *existing,
                       json_t *entries)
{
    const char *key;
    json_t *value;

    if (!entries)
        return;
    if (json_object_size(entries) == 0) {
        json_decref(entries);
        return;
    }
    if (!json_is_object(existing)) {
        add_op(in, "add", map_path, json_incref(entries));
        json_decref(entries);
        return;
    }
    json_object_foreach(entries, key, value)
    {
        char path[512];
        snprintf(path, sizeof(path), "%s", map_path);
        /* Annotation keys hold "/" (weir.dev/status): RFC 6901 escapes it. */
        if (weir_json_pointer_append(path, sizeof(path), key) != 0) {
            in->oom = true;
            continue;
        }
        add_op(in, "add", path, json_incref(value));
    }
    json_decref(entries);
}

static const char *first_app_container(const struct injector *in)
{
    return container_name(json_array_get(in->containers, 0));
}

static json_t *status_json(struct injector *in)
{
    json_t *st =
        json_pack("{s:s, s:[s], s:[], s:[s,s,s,s], s:b}", "version", WEIR_VERSION, "initContainers",
                  WEIR_INJECT_INIT_NAME, "containers", "volumes", WEIR_INJECT_CONFIG_VOLUME,
                  WEIR_INJECT_RUNTIME_VOLUME, WEIR_INJECT_TOKEN_VOLUME, WEIR_INJECT_PODINFO_VOLUME,
                  "nativeSidecar", (int)in->s.native);
    if (!st)
        return NULL;
    json_array_append_new(json_object_get(st, in->s.native ? "initContainers" : "containers"),
                          need(in, json_string(WEIR_INJECT_PROXY_NAME)));
    char *text = json_dumps(st, JSON_COMPACT);
    json_decref(st);
    json_t *s = text ? json_string(text) : NULL;
    free(text);
    return s;
}

static void build_patch(struct injector *in)
{
    const struct weir_ports *pt = &in->mc->ports;
    char port[8];

    /* Probe replacements first: they address the app containers by their
     * original index, before the proxy may be inserted at containers[0]. */
    rewrite_probes(in);

    json_t *init = init_container(in);
    json_t *proxy = proxy_container(in);
    if (in->s.native) {
        /* weir-init, then the proxy, ahead of the app's own init containers, so
         * those already run in the mesh. */
        add_to_list(in, "/spec/initContainers", in->init_containers, 0,
                    need(in, json_pack("[o,o]", init, proxy)));
    } else {
        /* Without a proxy running, capture must start after the app's init
         * containers (they keep plain network access), and the proxy goes
         * first among the containers so its postStart hook holds the app. */
        add_to_list(in, "/spec/initContainers", in->init_containers, (size_t)-1,
                    need(in, json_pack("[o]", init)));
        add_to_list(in, "/spec/containers", in->containers, 0, need(in, json_pack("[o]", proxy)));
    }
    add_to_list(in, "/spec/volumes", in->volumes, (size_t)-1, volumes_json(in));

    json_t *annotations = need(in, json_object());
    json_t *labels = need(in, json_object());
    if (!annotations || !labels) {
        json_decref(annotations);
        json_decref(labels);
        return;
    }
    json_object_set_new(annotations, WEIR_INJECT_STATUS_KEY, need(in, status_json(in)));
    /* Users who scrape their app already set these; theirs stay. */
    if (!annotation(in, ANN_PROM_SCRAPE) && !annotation(in, ANN_PROM_PORT) &&
        !annotation(in, ANN_PROM_PATH)) {
        snprintf(port, sizeof(port), "%u", (unsigned)pt->metrics);
        json_object_set_new(annotations, ANN_PROM_SCRAPE, need(in, json_string("true")));
        json_object_set_new(annotations, ANN_PROM_PORT, need(in, json_string(port)));
        json_object_set_new(annotations, ANN_PROM_PATH, need(in, json_string("/stats/prometheus")));
    }
    /* kubectl logs/exec would otherwise pick the proxy, which comes first
     * without native sidecars. */
    const char *app = first_app_container(in);
    if (app && !annotation(in, ANN_DEFAULT_CONTAINER))
        json_object_set_new(annotations, ANN_DEFAULT_CONTAINER, need(in, json_string(app)));
    if (app && !annotation(in, ANN_DEFAULT_LOGS))
        json_object_set_new(annotations, ANN_DEFAULT_LOGS, need(in, json_string(app)));
    /* Istio's mark of an endpoint that speaks mesh mTLS. */
    if (!label(in, LABEL_TLS_MODE))
        json_object_set_new(labels, LABEL_TLS_MODE, need(in, json_string("istio")));

    if (!json_is_object(in->meta)) {
        json_t *meta = need(in, json_object());
        if (meta) {
            json_object_set_new(meta, "annotations", annotations);
            if (json_object_size(labels))
                json_object_set_new(meta, "labels", labels);
            else
                json_decref(labels);
            add_op(in, "add", "/metadata", meta);
        } else {
            json_decref(annotations);
            json_decref(labels);
        }
        return;
    }
    add_to_map(in, "/metadata/annotations", in->annotations, annotations);
    add_to_map(in, "/metadata/labels", in->labels, labels);
}

/* ---- entry point ---- */

static void object_label(const struct injector *in, char *buf, size_t len)
{
    const char *name = json_string_value(json_object_get(in->meta, "name"));
    const char *gen = json_string_value(json_object_get(in->meta, "generateName"));
    if (in->req->object)
        snprintf(buf, len, "%s", in->req->object);
    else if (name)
        snprintf(buf, len, "Pod %s/%s", in->ns, name);
    else if (gen)
        snprintf(buf, len, "Pod %s/%s*", in->ns, gen);
    else
        snprintf(buf, len, "Pod %s/(unnamed)", in->ns);
}

static bool check_shape(struct injector *in, struct weir_inject_result *out)
{
    struct weir_check *c = &in->c;
    if (!weir_check_is_object(c, in->req->pod))
        goto bad;
    if (!json_is_object(in->spec)) {
        weir_check_get(c, in->req->pod, "spec", JSON_OBJECT, true);
        goto bad;
    }
    weir_check_push_key(c, "spec");
    in->containers = weir_check_get(c, in->spec, "containers", JSON_ARRAY, true);
    if (in->containers && json_array_size(in->containers) == 0) {
        weir_check_push_key(c, "containers");
        weir_check_error(c, in->containers, "a pod needs at least one container");
        weir_check_pop(c);
    }
    const json_t *inits = json_object_get(in->spec, "initContainers");
    if (inits && !json_is_null(inits))
        in->init_containers = weir_check_get(c, in->spec, "initContainers", JSON_ARRAY, false);
    const json_t *vols = json_object_get(in->spec, "volumes");
    if (vols && !json_is_null(vols))
        in->volumes = weir_check_get(c, in->spec, "volumes", JSON_ARRAY, false);
    const char *lists[] = {"containers", "initContainers"};
    for (int l = 0; l < 2; l++) {
        const json_t *list = l == 0 ? in->containers : in->init_containers;
        size_t i;
        json_t *ct;
        weir_check_push_key(c, lists[l]);
        json_array_foreach(list, i, ct)
        {
            weir_check_push_index(c, i);
            if (weir_check_is_object(c, ct)) {
                const char *name;
                weir_get_string_borrowed(c, ct, "name", true, &name);
            }
            weir_check_pop(c);
        }
        weir_check_pop(c);
    }
    weir_check_pop(c);
    if (in->meta && !json_is_null(in->meta) && !json_is_object(in->meta))
        weir_check_get(c, in->req->pod, "metadata", JSON_OBJECT, false);
    if (c->errors == 0)
        return true;
bad:
    set_reason(out, WEIR_INJECT_REFUSE, "not a pod: the object has no valid spec.containers");
    return false;
}

static void first_error(const struct weir_diags *d, size_t from, struct weir_inject_result *out)
{
    for (size_t i = from; i < d->len; i++) {
        if (d->items[i].severity == WEIR_SEV_ERROR) {
            char *text = weir_diag_format(&d->items[i]);
            set_reason(out, WEIR_INJECT_REFUSE, "%s", text ? text : d->items[i].message);
            free(text);
            return;
        }
    }
    set_reason(out, WEIR_INJECT_REFUSE, "the pod cannot be injected");
}

int weir_inject(const struct weir_inject_request *req, struct weir_inject_result *out,
                struct weir_diags *diags)
{
    struct injector in;
    char object[320];
    size_t first_diag = diags->len;

    memset(out, 0, sizeof(*out));
    memset(&in, 0, sizeof(in));
    in.req = req;
    in.mc = req->mesh;
    in.meta = json_object_get(req->pod, "metadata");
    in.spec = json_object_get(req->pod, "spec");
    in.annotations = json_object_get(in.meta, "annotations");
    in.labels = json_object_get(in.meta, "labels");
    in.ns = req->namespace_ && *req->namespace_
                ? req->namespace_
                : json_string_value(json_object_get(in.meta, "namespace"));
    if (!in.ns || !*in.ns)
        in.ns = "default";
    object_label(&in, object, sizeof(object));
    weir_check_init(&in.c, diags, req->src, object, req->line);
    for (const char *const *k = req->path_prefix; k && *k; k++)
        weir_check_push_key(&in.c, *k);

    if (!check_shape(&in, out)) {
        first_error(diags, first_diag, out);
        return 0;
    }
    if (skip(&in, out))
        return 0;

    read_settings(&in);
    capture_settings(&in);
    check_reserved_names(&in);
    if (in.oom)
        goto oom;
    if (in.c.errors) {
        first_error(diags, first_diag, out);
        settings_free(&in.s);
        return 0;
    }

    in.probers = json_object();
    in.patch = json_array();
    if (!in.probers || !in.patch)
        goto oom;
    build_patch(&in);
    if (in.oom)
        goto oom;
    json_decref(in.probers);
    settings_free(&in.s);
    out->decision = WEIR_INJECT_PATCH;
    out->native = in.s.native;
    snprintf(out->reason, sizeof(out->reason), "injected (%s sidecar)",
             in.s.native ? "native" : "regular");
    out->patch = in.patch;
    return 0;

oom:
    json_decref(in.probers);
    json_decref(in.patch);
    settings_free(&in.s);
    memset(out, 0, sizeof(*out));
    return -1;
}
