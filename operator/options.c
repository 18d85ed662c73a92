#include "options.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "leader.h"
#include "meshconfig/mesh_config.h"
#include "model/check.h"
#include "writer.h"

void weir_op_options_usage(FILE *out)
{
    fprintf(out,
            "usage: weir-operator [options]\n"
            "\n"
            "The Weir control plane: watches the mesh CRs, Services, EndpointSlices, Pods\n"
            "and Namespaces, writes one proxy config per mesh namespace (the ConfigMap\n"
            "weir-proxy-config), reports on every CR's status, and serves /metrics,\n"
            "/healthz and /readyz.\n"
            "\n"
            "options:\n"
            "  --kubeconfig FILE         kubeconfig to use (default: in-cluster when\n"
            "                            KUBERNETES_SERVICE_HOST is set, else $KUBECONFIG or\n"
            "                            ~/.kube/config)\n"
            "  --namespace NS            where the lease and the mesh config live (default:\n"
            "                            $POD_NAMESPACE, the pod's "
            "namespace, " WEIR_OP_DEFAULT_NAMESPACE ")\n"
            "  --mesh-config-name NAME   the mesh config ConfigMap (default " WEIR_MESH_CONFIG_MAP
            ")\n"
            "  --root-namespace NS       where mesh-wide policies live (default: --namespace)\n"
            "  --listen ADDR:PORT        HTTP for /metrics, /healthz, /readyz (default\n"
            "                            " WEIR_OP_DEFAULT_LISTEN "; :PORT for every address)\n"
            "  --leader-elect[=BOOL]     hold a Lease so one replica writes (default true)\n"
            "  --lease-name NAME         the Lease (default " WEIR_OP_DEFAULT_LEASE ")\n"
            "  --id ID                   this replica's identity in the Lease (default:\n"
            "                            <hostname>_<random>)\n"
            "  --lease-duration DUR      (default 15s)\n"
            "  --renew-deadline DUR      (default 10s)\n"
            "  --retry-period DUR        (default 2s)\n"
            "  --resync-period DUR       re-check every namespace this often (default 5m)\n"
            "  --qps N, --burst N        client-side API request rate (default 20, 30)\n"
            "  --max-config-bytes N      ConfigMap size limit (default 1048576, the API's)\n"
            "  --scoped-reconcile[=BOOL] translate a namespace that exports nothing from the\n"
            "                            namespaces that can reach it (default true)\n"
            "  --log-format json|text    (default json)\n"
            "  --log-level LEVEL         debug, info, warn, error (default info)\n"
            "  --version                 print the version\n");
}

static int parse_bool(const char *s, bool *out)
{
    if (!s || strcmp(s, "true") == 0 || strcmp(s, "1") == 0) {
        *out = true;
        return 0;
    }
    if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0) {
        *out = false;
        return 0;
    }
    return -1;
}

static int parse_seconds(const char *s, double min, double *out)
{
    int64_t ns;
    if (weir_parse_duration(s, &ns) != 0 || (double)ns / 1e9 < min)
        return -1;
    *out = (double)ns / 1e9;
    return 0;
}

static bool dns_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

static bool dns_subdomain(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
              s[i] == '.'))
            return false;
    return s[0] != '-' && s[0] != '.' && s[n - 1] != '-' && s[n - 1] != '.';
}

int weir_op_options_parse(int argc, char **argv, struct weir_op_options *o, FILE *err)
{
    enum {
        O_KUBECONFIG = 256,
        O_NAMESPACE,
        O_MESH_CONFIG,
        O_ROOT,
        O_LISTEN,
        O_LEADER,
        O_LEASE,
        O_ID,
        O_LEASE_DURATION,
        O_RENEW,
        O_RETRY,
        O_RESYNC,
        O_QPS,
        O_BURST,
        O_MAX_BYTES,
        O_SCOPED,
        O_LOG_FORMAT,
        O_LOG_LEVEL,
        O_VERSION,
    };
    static const struct option longopts[] = {
        {"kubeconfig", required_argument, NULL, O_KUBECONFIG},
        {"namespace", required_argument, NULL, O_NAMESPACE},
        {"mesh-config-name", required_argument, NULL, O_MESH_CONFIG},
        {"root-namespace", required_argument, NULL, O_ROOT},
        {"listen", required_argument, NULL, O_LISTEN},
        {"leader-elect", optional_argument, NULL, O_LEADER},
        {"lease-name", required_argument, NULL, O_LEASE},
        {"id", required_argument, NULL, O_ID},
        {"lease-duration", required_argument, NULL, O_LEASE_DURATION},
        {"renew-deadline", required_argument, NULL, O_RENEW},
        {"retry-period", required_argument, NULL, O_RETRY},
        {"resync-period", required_argument, NULL, O_RESYNC},
        {"qps", required_argument, NULL, O_QPS},
        {"burst", required_argument, NULL, O_BURST},
        {"max-config-bytes", required_argument, NULL, O_MAX_BYTES},
        {"scoped-reconcile", optional_argument, NULL, O_SCOPED},
        {"log-format", required_argument, NULL, O_LOG_FORMAT},
        {"log-level", required_argument, NULL, O_LOG_LEVEL},
        {"version", no_argument, NULL, O_VERSION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    char *end;

    memset(o, 0, sizeof(*o));
    o->mesh_config_name = WEIR_MESH_CONFIG_MAP;
    weir_op_parse_listen(WEIR_OP_DEFAULT_LISTEN, o->listen_addr, sizeof(o->listen_addr),
                         &o->listen_port);
    o->log_format = WEIR_LOG_JSON;
    o->log_level = WEIR_LOG_INFO;
    o->leader_elect = true;
    o->scoped_reconcile = true;
    o->lease_name = WEIR_OP_DEFAULT_LEASE;
    o->lease_duration = WEIR_OP_LEASE_DURATION;
    o->renew_deadline = WEIR_OP_RENEW_DEADLINE;
    o->retry_period = WEIR_OP_RETRY_PERIOD;
    o->resync_period = WEIR_OP_DEFAULT_RESYNC;
    o->max_config_bytes = WEIR_OP_CONFIGMAP_MAX;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_KUBECONFIG:
            o->kubeconfig = optarg;
            break;
        case O_NAMESPACE:
        case O_ROOT:
            if (!dns_label(optarg)) {
                fprintf(err, "weir-operator: --%s \"%s\": not a namespace name\n",
                        c == O_NAMESPACE ? "namespace" : "root-namespace", optarg);
                return 2;
            }
            if (c == O_NAMESPACE)
                o->namespace_ = optarg;
            else
                o->root_namespace = optarg;
            break;
        case O_MESH_CONFIG:
        case O_LEASE:
            if (!dns_subdomain(optarg)) {
                fprintf(err, "weir-operator: --%s \"%s\": not an object name\n",
                        c == O_MESH_CONFIG ? "mesh-config-name" : "lease-name", optarg);
                return 2;
            }
            if (c == O_MESH_CONFIG)
                o->mesh_config_name = optarg;
            else
                o->lease_name = optarg;
            break;
        case O_LISTEN:
            if (weir_op_parse_listen(optarg, o->listen_addr, sizeof(o->listen_addr),
                                     &o->listen_port) != 0) {
                fprintf(err, "weir-operator: --listen \"%s\": expected ADDR:PORT or :PORT\n",
                        optarg);
                return 2;
            }
            break;
        case O_LEADER:
            if (parse_bool(optarg, &o->leader_elect) != 0) {
                fprintf(err, "weir-operator: --leader-elect=%s: expected true or false\n", optarg);
                return 2;
            }
            break;
        case O_SCOPED:
            if (parse_bool(optarg, &o->scoped_reconcile) != 0) {
                fprintf(err, "weir-operator: --scoped-reconcile=%s: expected true or false\n",
                        optarg);
                return 2;
            }
            break;
        case O_ID:
            if (!*optarg || strlen(optarg) > 128) {
                fprintf(err, "weir-operator: --id must be 1 to 128 characters\n");
                return 2;
            }
            o->id = optarg;
            break;
        case O_LEASE_DURATION:
        case O_RENEW:
        case O_RETRY:
        case O_RESYNC: {
            static const char *const names[] = {"lease-duration", "renew-deadline", "retry-period",
                                                "resync-period"};
            double *dst[] = {&o->lease_duration, &o->renew_deadline, &o->retry_period,
                             &o->resync_period};
            int i = c - O_LEASE_DURATION;
            if (parse_seconds(optarg, i == 3 ? 1.0 : 0.1, dst[i]) != 0) {
                fprintf(err, "weir-operator: --%s \"%s\": expected a duration such as 10s%s\n",
                        names[i], optarg, i == 3 ? " (at least 1s)" : "");
                return 2;
            }
            break;
        }
        case O_QPS:
            o->qps = strtod(optarg, &end);
            if (*end || !(o->qps > 0) || o->qps > 10000) {
                fprintf(err, "weir-operator: --qps must be a number in (0, 10000]\n");
                return 2;
            }
            break;
        case O_BURST: {
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 100000) {
                fprintf(err, "weir-operator: --burst must be 1..100000\n");
                return 2;
            }
            o->burst = (int)n;
            break;
        }
        case O_MAX_BYTES: {
            unsigned long long n = strtoull(optarg, &end, 10);
            if (*end || n < 1024 || n > WEIR_OP_CONFIGMAP_MAX) {
                fprintf(err, "weir-operator: --max-config-bytes must be 1024..%u\n",
                        WEIR_OP_CONFIGMAP_MAX);
                return 2;
            }
            o->max_config_bytes = (size_t)n;
            break;
        }
        case O_LOG_FORMAT:
            if (weir_log_parse_format(optarg, &o->log_format) != 0) {
                fprintf(err, "weir-operator: --log-format must be json or text\n");
                return 2;
            }
            break;
        case O_LOG_LEVEL:
            if (weir_log_parse_level(optarg, &o->log_level) != 0) {
                fprintf(err, "weir-operator: --log-level must be debug, info, warn or error\n");
                return 2;
            }
            break;
        case O_VERSION:
            fprintf(stdout, "weir-operator %s\n", WEIR_VERSION);
            return 1;
        case 'h':
            weir_op_options_usage(stdout);
            return 1;
        default:
            if (optopt)
                fprintf(err, "weir-operator: unknown or incomplete option (see --help)\n");
            else
                fprintf(err, "weir-operator: unknown option \"%s\" (see --help)\n",
                        argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(err, "weir-operator: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    if (o->leader_elect && !(o->renew_deadline < o->lease_duration)) {
        fprintf(err, "weir-operator: --renew-deadline must be shorter than --lease-duration\n");
        return 2;
    }
    if (o->leader_elect && !(o->retry_period < o->renew_deadline)) {
        fprintf(err, "weir-operator: --retry-period must be shorter than --renew-deadline\n");
        return 2;
    }
    return 0;
}
