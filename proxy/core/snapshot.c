#include "core/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/identity.h"
#include "core/log.h"
#include "core/worker.h"
#include "tls/client.h"

#define PC_OBJECT "ProxyConfig"

static char *read_bounded(const char *path, size_t *len, struct weir_diags *diags)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *buf = NULL;
    size_t n = 0, cap = 0;

    if (fd < 0) {
        weir_diags_add(diags, WEIR_SEV_ERROR, PC_OBJECT, path, 0, "", "cannot open %s: %s", path,
                       strerror(errno));
        return NULL;
    }
    for (;;) {
        ssize_t r;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64 * 1024;
            char *nb;
            if (ncap > WEIR_PROXY_CONFIG_MAX_BYTES + 1)
                ncap = WEIR_PROXY_CONFIG_MAX_BYTES + 1;
            if (ncap == cap)
                break; /* one byte past the bound: the loader reports the size */
            if (!(nb = realloc(buf, ncap))) {
                weir_diags_add(diags, WEIR_SEV_ERROR, PC_OBJECT, path, 0, "", "out of memory");
                goto fail;
            }
            buf = nb;
            cap = ncap;
        }
        r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            weir_diags_add(diags, WEIR_SEV_ERROR, PC_OBJECT, path, 0, "", "cannot read %s: %s",
                           path, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *len = n;
    return buf ? buf : strdup("");
fail:
    close(fd);
    free(buf);
    return NULL;
}

static bool selected(const struct weir_pc_selector *sel, const struct wp_identity *id)
{
    return !sel || weir_pc_selector_matches(&sel->match_labels, &id->labels);
}

static int cmp_inbound(const void *a, const void *b)
{
    const struct wp_inbound_port *x = a, *y = b;
    return (int)x->target_port - (int)y->target_port;
}

static int merge_inbound(struct wp_snapshot *s, const struct wp_identity *id)
{
    const struct weir_pc_inbound *in = &s->cfg->inbound;
    size_t n = 0;
    for (size_t i = 0; i < in->n_services; i++) {
        if (weir_pc_selector_matches(&in->services[i].selector.match_labels, &id->labels))
            n += in->services[i].n_ports;
    }
    if (!n)
        return 0;
    if (!(s->inbound_ports = calloc(n, sizeof(*s->inbound_ports))))
        return -1;
    /* services are in name order; across services the first entry wins */
    for (size_t i = 0; i < in->n_services; i++) {
        const struct weir_pc_inbound_service *svc = &in->services[i];
        if (!weir_pc_selector_matches(&svc->selector.match_labels, &id->labels))
            continue;
        for (size_t p = 0; p < svc->n_ports; p++) {
            bool dup = false;
            for (size_t k = 0; k < s->n_inbound_ports && !dup; k++)
                dup = s->inbound_ports[k].target_port == svc->ports[p].target_port;
            if (dup)
                continue;
            s->inbound_ports[s->n_inbound_ports++] = (struct wp_inbound_port){
                .target_port = svc->ports[p].target_port,
                .service_port = svc->ports[p].port,
                .protocol = svc->ports[p].protocol,
                .service_name = svc->name,
            };
        }
    }
    qsort(s->inbound_ports, s->n_inbound_ports, sizeof(*s->inbound_ports), cmp_inbound);
    return 0;
}

static void free_tls(struct wp_snapshot *s)
{
    if (!s->tls)
        return;
    for (size_t i = 0; i < s->cfg->n_clusters; i++)
        wp_tls_client_unref(s->tls[i]);
    free(s->tls);
    s->tls = NULL;
}

/* One client context per cluster that originates TLS. A context that cannot be
 * built is kept (its connections fail with the reason) and logged here once. */
static int build_tls(struct wp_snapshot *s)
{
    const struct weir_proxy_config *cfg = s->cfg;
    if (!cfg->n_clusters || !(s->tls = calloc(cfg->n_clusters, sizeof(*s->tls))))
        return cfg->n_clusters ? -1 : 0;
    for (size_t i = 0; i < cfg->n_clusters; i++) {
        if (!wp_tls_cluster_originates(&cfg->clusters[i]))
            continue;
        if (!(s->tls[i] = wp_tls_client_new(&cfg->clusters[i])))
            return -1;
        if (wp_tls_client_error(s->tls[i]))
            weir_log(WEIR_LOG_WARN, "TLS origination context not usable", "reason",
                     wp_tls_client_error(s->tls[i]), NULL);
    }
    return 0;
}

static void find_unenforceable(struct wp_snapshot *s, const struct wp_identity *id)
{
    const struct weir_pc_inbound *in = &s->cfg->inbound;
    for (size_t i = 0; i < in->n_authorization; i++) {
        if (selected(in->authorization[i].selector, id)) {
            s->inbound_refusal = "an authorization policy applies to this workload and this "
                                 "proxy version does not enforce authorization";
            return;
        }
    }
    for (size_t i = 0; i < in->n_request_authentication; i++) {
        if (selected(in->request_authentication[i].selector, id)) {
            s->inbound_refusal = "a request authentication policy applies to this workload and "
                                 "this proxy version does not validate JWTs";
            return;
        }
    }
    for (size_t i = 0; i < in->n_peer_authentication; i++) {
        const struct weir_pc_peer_authentication *pa = &in->peer_authentication[i];
        bool strict;
        if (!selected(pa->selector, id))
            continue;
        /* the first matching entry applies; any strict port needs mTLS */
        strict = pa->mode == WEIR_PC_MTLS_STRICT;
        for (size_t p = 0; p < pa->n_ports; p++)
            strict = strict || pa->ports[p].mode == WEIR_PC_MTLS_STRICT;
        if (strict)
            s->inbound_refusal = "peer authentication is strict and this proxy version does not "
                                 "terminate mTLS";
        return;
    }
}

struct wp_snapshot *wp_snapshot_load(const char *path, const struct wp_identity *id,
                                     uint64_t generation, struct weir_diags *diags)
{
    struct wp_snapshot *s = calloc(1, sizeof(*s));
    if (!s) {
        weir_diags_add(diags, WEIR_SEV_ERROR, PC_OBJECT, path, 0, "", "out of memory");
        return NULL;
    }
    atomic_init(&s->refs, 1);
    s->generation = generation;
    s->loaded_at = time(NULL);
    if (!(s->path = strdup(path)))
        goto oom;
    if (!(s->raw = read_bounded(path, &s->raw_len, diags)))
        goto fail;
    if (weir_proxy_config_load(s->raw, s->raw_len, path, &s->cfg, diags) < 0)
        goto fail;
    if (wp_route_index_build(&s->routes, s->cfg) < 0 || merge_inbound(s, id) < 0 ||
        build_tls(s) < 0 || wp_rl_set_build(s->cfg, &id->labels, wp_now_us() / 1000, &s->rl) < 0)
        goto oom;
    find_unenforceable(s, id);
    return s;
oom:
    weir_diags_add(diags, WEIR_SEV_ERROR, PC_OBJECT, path, 0, "", "out of memory");
fail:
    if (s->cfg)
        free_tls(s);
    wp_rl_set_free(s->rl);
    wp_route_index_free(&s->routes);
    weir_proxy_config_free(s->cfg);
    free(s->inbound_ports);
    free(s->raw);
    free(s->path);
    free(s);
    return NULL;
}

void wp_snapshot_ref(struct wp_snapshot *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void wp_snapshot_unref(struct wp_snapshot *s)
{
    if (!s)
        return;
    /* acq_rel: the freeing thread must see every write made before other releases */
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    free_tls(s);
    wp_rl_set_free(s->rl);
    wp_route_index_free(&s->routes);
    weir_proxy_config_free(s->cfg);
    free(s->inbound_ports);
    free(s->raw);
    free(s->path);
    free(s);
}

void wp_snapshot_inherit(struct wp_snapshot *s, const struct wp_snapshot *prev)
{
    wp_rl_set_inherit(s->rl, prev ? prev->rl : NULL);
}

void wp_snapshot_warn_unsupported(const struct wp_snapshot *s, const struct wp_identity *id)
{
    (void)id;
    if (s->inbound_refusal)
        weir_log(WEIR_LOG_WARN, "inbound traffic is refused", "reason", s->inbound_refusal, NULL);
}

const struct wp_inbound_port *wp_snapshot_inbound_port(const struct wp_snapshot *s,
                                                       uint16_t target_port)
{
    size_t lo = 0, hi = s->n_inbound_ports;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->inbound_ports[mid].target_port == target_port)
            return &s->inbound_ports[mid];
        if (s->inbound_ports[mid].target_port < target_port)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
