/*
 * The proxy config: the one contract between weir-operator (writes it, one per
 * mesh namespace) and weir-proxy (reads it, never reads CRDs). The document is
 * specified in docs/proxy-config.md with a JSON Schema beside it; this module
 * loads it into immutable structs that the proxy reads at request time.
 *
 * Return convention: the loaders return 0 when the document is valid and *out
 * is set, -1 when it is not (or memory ran out): *out is NULL and every error
 * found is in diags, each naming the field path:
 *
 *   ProxyConfig default: services[0].ports[0].http[2].route[1].cluster: unknown
 *   cluster "outbound|9080|v3|reviews.default.svc.cluster.local"
 *
 * Layout of a loaded config. All memory belongs to the config and is released
 * at once by weir_proxy_config_free(); nothing inside is freed or changed on its
 * own, so a loaded config can be shared read-only between threads and swapped
 * as one snapshot. An array is a pointer and a length: `foo` with `n_foo`, or
 * `items` with `len` in the small collection structs; an absent array is NULL
 * with length 0. Absent optional strings are NULL. Optional sub-objects whose
 * absence means "off" are pointers (NULL = off); those with defaults are
 * embedded and hold the default when absent.
 *
 *   weir_proxy_config
 *     proxy                   port table, limits, access log
 *     services[]              sorted by host
 *       ports[]               sorted by number
 *         http[], tls[], tcp[]  first match wins; every destination and mirror
 *                             holds the index of its cluster and a pointer to it
 *     clusters[]              sorted by name; each holds its service's index
 *       endpoints[]           sorted by address, then port
 *     inbound
 *       services[]            ports of the workloads a Service selects
 *       peer_authentication[] the first matching entry applies
 *       authorization[]       sorted by name
 *       request_authentication[]  sorted by name
 *     rate_limits[]           sorted by name
 *
 * Durations are int64 milliseconds; percentages are parts per million
 * (0..1000000) so that a per-request decision is `random() % 1000000 < ppm`.
 * Addresses and CIDR blocks are parsed to binary. Regular expressions are
 * compiled once at load; those of matches are anchored at both ends (RE2
 * full-match semantics, as in Envoy), the rewrite pattern is searched.
 */
#ifndef WEIR_CONFIG_PROXY_CONFIG_H
#define WEIR_CONFIG_PROXY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/diag.h"
#include "model/check.h"
#include "core/regex.h"
#include "model/common.h"

#define WEIR_PROXY_CONFIG_API_VERSION "proxy.weir.dev/v1"
#define WEIR_PROXY_CONFIG_KIND        "ProxyConfig"
/* A ConfigMap holds at most 1 MiB; the bound leaves room for a push channel
 * carrying a whole large mesh while keeping a hostile document from taking the
 * proxy's memory. */
#define WEIR_PROXY_CONFIG_MAX_BYTES ((size_t)64 << 20)
#define WEIR_PC_PPM_MAX             1000000u

/* ---- shared field types ---- */

enum weir_pc_protocol {
    WEIR_PC_PROTO_HTTP,
    WEIR_PC_PROTO_HTTP2,
    WEIR_PC_PROTO_GRPC,
    WEIR_PC_PROTO_TCP,
    WEIR_PC_PROTO_TLS,
    WEIR_PC_PROTO_HTTPS,
};

/* A string match ready for request time. `m.type` is WEIR_MATCH_NONE when the
 * field was absent (matches anything). */
struct weir_pc_match {
    struct weir_string_match m;
    bool ignore_case; /* exact and prefix compare ASCII case-insensitively, regex caseless */
    struct weir_regex *regex; /* compiled RE2 when m.type == WEIR_MATCH_REGEX, else NULL */
};

struct weir_pc_matches {
    struct weir_pc_match *items;
    size_t len;
};

/* A named string match: headers, query parameters. Names are lower-case. */
struct weir_pc_named_match {
    const char *name;
    struct weir_pc_match match;
};

struct weir_pc_named_matches {
    struct weir_pc_named_match *items;
    size_t len;
};

/* An IP address or CIDR block; a plain address has the full prefix length. */
struct weir_pc_cidr {
    const char *text;
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    uint8_t prefix_len;
};

struct weir_pc_cidrs {
    struct weir_pc_cidr *items;
    size_t len;
};

struct weir_pc_ports {
    uint16_t *items;
    size_t len;
};

/* Label selector: every pair must be present on the workload. A NULL
 * `selector` pointer in a policy means "every workload of the namespace". */
struct weir_pc_selector {
    struct weir_string_map match_labels;
};

/* ---- proxy: port table, limits, access log ---- */

enum weir_pc_outbound_policy {
    WEIR_PC_OUTBOUND_ALLOW_ANY,     /* unknown destinations pass through as TCP */
    WEIR_PC_OUTBOUND_REGISTRY_ONLY, /* unknown destinations are refused */
};

enum weir_pc_access_log_mode {
    WEIR_PC_ACCESS_LOG_OFF,
    WEIR_PC_ACCESS_LOG_STDOUT,
    WEIR_PC_ACCESS_LOG_FILE,
};

enum weir_pc_access_log_encoding {
    WEIR_PC_ACCESS_LOG_TEXT,
    WEIR_PC_ACCESS_LOG_JSON,
};

struct weir_pc_proxy {
    uint16_t outbound_capture_port;                 /* 15001 */
    uint16_t inbound_capture_port;                  /* 15006 */
    uint16_t admin_port;                            /* 15000, bound to 127.0.0.1 */
    uint16_t health_port;                           /* 15021 */
    uint16_t metrics_port;                          /* 15090 */
    uint32_t uid, gid;                              /* 1337 */
    struct weir_pc_cidr inbound_passthrough_source; /* 127.0.0.6 */
    enum weir_pc_outbound_policy outbound_traffic_policy;
    int64_t drain_time_ms;
    struct {
        int64_t max_header_bytes;
        int64_t max_headers;
        int64_t header_timeout_ms;
        int64_t stream_idle_timeout_ms;
        int64_t max_retry_body_bytes;
    } limits;
    struct {
        enum weir_pc_access_log_mode mode;
        enum weir_pc_access_log_encoding encoding;
        const char *path; /* set only for WEIR_PC_ACCESS_LOG_FILE */
    } access_log;
};

/* ---- services and routes ---- */

struct weir_pc_cluster;

/* One header operation set, applied in the order remove, set, add. */
struct weir_pc_header_ops {
    struct weir_string_map set;
    struct weir_string_map add;
    struct weir_strings remove;
};

struct weir_pc_headers {
    struct weir_pc_header_ops request;
    struct weir_pc_header_ops response;
};

struct weir_pc_destination {
    const char *cluster_name;
    size_t cluster_index;                  /* into weir_proxy_config.clusters */
    const struct weir_pc_cluster *cluster; /* &clusters[cluster_index] */
    uint32_t weight;                       /* 0..100; a route's weights sum to 100 */
    struct weir_pc_headers headers;        /* HTTP only */
};

struct weir_pc_http_match {
    const char *name;
    struct weir_pc_match uri; /* ignore_case set from ignoreUriCase */
    struct weir_pc_match scheme;
    struct weir_pc_match method;
    struct weir_pc_match authority;
    struct weir_pc_named_matches headers;
    struct weir_pc_named_matches without_headers;
    struct weir_pc_named_matches query_params;
    uint16_t port; /* 0: any */
    struct weir_string_map source_labels;
    const char *source_namespace;
    bool ignore_uri_case;
};

enum weir_pc_http_action {
    WEIR_PC_ACTION_ROUTE,
    WEIR_PC_ACTION_REDIRECT,
    WEIR_PC_ACTION_DIRECT_RESPONSE,
};

enum weir_pc_derive_port {
    WEIR_PC_DERIVE_PORT_NONE,
    WEIR_PC_DERIVE_PORT_FROM_PROTOCOL_DEFAULT,
    WEIR_PC_DERIVE_PORT_FROM_REQUEST_PORT,
};

struct weir_pc_redirect {
    const char *uri;
    const char *authority;
    uint16_t port; /* 0: keep */
    enum weir_pc_derive_port derive_port;
    const char *scheme; /* "http" or "https", NULL: keep */
    int code;           /* 301 */
};

struct weir_pc_direct_response {
    int status;
    const char *body; /* NULL: no body */
    size_t body_len;
};

struct weir_pc_rewrite {
    const char *uri;
    const char *authority;
    struct weir_pc_match uri_regex; /* type REGEX when set */
    const char *uri_regex_rewrite;  /* substitution, \1..\9 refer to groups */
};

/* retryOn conditions as a bit set. */
enum weir_pc_retry_on {
    WEIR_PC_RETRY_5XX = 1u << 0,
    WEIR_PC_RETRY_GATEWAY_ERROR = 1u << 1,
    WEIR_PC_RETRY_RESET = 1u << 2,
    WEIR_PC_RETRY_CONNECT_FAILURE = 1u << 3,
    WEIR_PC_RETRY_RETRIABLE_4XX = 1u << 4,
    WEIR_PC_RETRY_REFUSED_STREAM = 1u << 5,
    WEIR_PC_RETRY_RETRIABLE_STATUS_CODES = 1u << 6,
    WEIR_PC_RETRY_CANCELLED = 1u << 7,
    WEIR_PC_RETRY_DEADLINE_EXCEEDED = 1u << 8,
    WEIR_PC_RETRY_INTERNAL = 1u << 9,
    WEIR_PC_RETRY_RESOURCE_EXHAUSTED = 1u << 10,
    WEIR_PC_RETRY_UNAVAILABLE = 1u << 11,
};

struct weir_pc_retries {
    uint32_t attempts;          /* 0: no retry */
    int64_t per_try_timeout_ms; /* 0: the route timeout bounds each try */
    uint32_t retry_on;          /* enum weir_pc_retry_on bits */
    struct {
        uint16_t *items;
        size_t len;
    } retriable_status_codes;
};

struct weir_pc_fault {
    bool delay;
    int64_t delay_fixed_ms;
    uint32_t delay_ppm;
    bool abort;
    int abort_http_status; /* 0 when a gRPC status is used */
    int abort_grpc_status; /* 0 when an HTTP status is used */
    uint32_t abort_ppm;
};

struct weir_pc_mirror {
    const char *cluster_name;
    size_t cluster_index;
    const struct weir_pc_cluster *cluster;
    uint32_t ppm;
};

enum weir_pc_unmatched_preflights {
    WEIR_PC_PREFLIGHT_FORWARD,
    WEIR_PC_PREFLIGHT_IGNORE,
};

struct weir_pc_cors {
    struct weir_pc_matches allow_origins;
    struct weir_strings allow_methods;
    struct weir_strings allow_headers;
    struct weir_strings expose_headers;
    int64_t max_age_ms; /* -1: no Access-Control-Max-Age */
    bool allow_credentials;
    enum weir_pc_unmatched_preflights unmatched_preflights;
};

struct weir_pc_http_route {
    const char *name;
    struct weir_pc_http_match *match; /* n_match == 0: every request */
    size_t n_match;
    enum weir_pc_http_action action;
    struct weir_pc_destination *route; /* WEIR_PC_ACTION_ROUTE */
    size_t n_route;
    const struct weir_pc_redirect *redirect;               /* WEIR_PC_ACTION_REDIRECT */
    const struct weir_pc_direct_response *direct_response; /* WEIR_PC_ACTION_DIRECT_RESPONSE */
    const struct weir_pc_rewrite *rewrite;
    int64_t timeout_ms; /* 0: none */
    const struct weir_pc_retries *retries;
    const struct weir_pc_fault *fault;
    struct weir_pc_mirror *mirrors;
    size_t n_mirrors;
    const struct weir_pc_cors *cors;
    struct weir_pc_headers headers;
};

/* TCP and TLS route match; sni_hosts only on TLS routes. */
struct weir_pc_l4_match {
    struct weir_strings sni_hosts;
    struct weir_pc_cidrs destination_subnets;
    uint16_t port;
    struct weir_string_map source_labels;
    const char *source_namespace;
};

struct weir_pc_l4_route {
    struct weir_pc_l4_match *match;
    size_t n_match;
    struct weir_pc_destination *route;
    size_t n_route;
};

struct weir_pc_port {
    uint16_t number;
    const char *name;
    enum weir_pc_protocol protocol;
    uint16_t target_port;        /* equals number when absent */
    const char *virtual_service; /* "namespace/name", NULL for the default route */
    struct weir_pc_http_route *http;
    size_t n_http;
    struct weir_pc_l4_route *tls;
    size_t n_tls;
    struct weir_pc_l4_route *tcp;
    size_t n_tcp;
};

struct weir_pc_service {
    const char *host;
    const char *namespace_;
    struct weir_strings aliases;
    struct weir_pc_cidrs addresses;
    struct weir_pc_port *ports;
    size_t n_ports;
};

/* ---- clusters ---- */

enum weir_pc_resolution {
    WEIR_PC_RESOLUTION_STATIC, /* endpoint addresses are IPs */
    WEIR_PC_RESOLUTION_DNS,    /* endpoint addresses are host names the proxy resolves */
};

enum weir_pc_health {
    WEIR_PC_HEALTHY,
    WEIR_PC_UNHEALTHY,
    WEIR_PC_DRAINING,
};

struct weir_pc_endpoint {
    const char *address;
    struct weir_pc_cidr ip; /* family 0 for DNS names */
    uint16_t port;
    struct weir_string_map labels;
    uint32_t weight; /* 1..128 */
    enum weir_pc_health health;
    const char *identity; /* "spiffe://td/ns/N/sa/S" or NULL */
};

enum weir_pc_lb_policy {
    WEIR_PC_LB_ROUND_ROBIN,
    WEIR_PC_LB_LEAST_REQUEST,
    WEIR_PC_LB_RANDOM,
    WEIR_PC_LB_PASSTHROUGH,
    WEIR_PC_LB_CONSISTENT_HASH,
};

enum weir_pc_hash_on {
    WEIR_PC_HASH_HEADER,
    WEIR_PC_HASH_COOKIE,
    WEIR_PC_HASH_SOURCE_IP,
    WEIR_PC_HASH_QUERY_PARAMETER,
};

struct weir_pc_load_balancer {
    enum weir_pc_lb_policy policy;
    /* consistent hash only */
    enum weir_pc_hash_on hash_on;
    const char *hash_key;    /* header, cookie or query parameter name */
    const char *cookie_path; /* NULL: none */
    int64_t cookie_ttl_ms;   /* 0: no expiry, lives as long as the client keeps it */
    uint32_t ring_size;
};

enum weir_pc_h2_upgrade {
    WEIR_PC_H2_DO_NOT_UPGRADE,
    WEIR_PC_H2_UPGRADE,
};

struct weir_pc_connection_pool {
    int64_t max_connections;
    int64_t connect_timeout_ms;
    bool keepalive;
    int64_t keepalive_probes; /* 0: system default */
    int64_t keepalive_time_ms;
    int64_t keepalive_interval_ms;
    int64_t http1_max_pending_requests;
    int64_t http2_max_requests;
    int64_t max_requests_per_connection; /* 0: unlimited */
    int64_t max_retries;
    int64_t idle_timeout_ms;
    enum weir_pc_h2_upgrade h2_upgrade_policy;
};

struct weir_pc_outlier_detection {
    int64_t consecutive_5xx;            /* 0: off */
    int64_t consecutive_gateway_errors; /* 0: off */
    int64_t interval_ms;
    int64_t base_ejection_time_ms;
    uint32_t max_ejection_percent;
    uint32_t min_health_percent;
};

enum weir_pc_tls_mode {
    WEIR_PC_TLS_DISABLE,
    WEIR_PC_TLS_SIMPLE,
    WEIR_PC_TLS_MUTUAL,
    WEIR_PC_TLS_ISTIO_MUTUAL,
};

struct weir_pc_tls {
    enum weir_pc_tls_mode mode;
    const char *sni;
    struct weir_strings subject_alt_names;
    const char *ca_certificates;
    const char *client_certificate;
    const char *private_key;
    bool insecure_skip_verify;
};

struct weir_pc_service;

struct weir_pc_cluster {
    const char *name; /* "outbound|9080|v1|reviews.default.svc.cluster.local" */
    const char *service_host;
    size_t service_index; /* into weir_proxy_config.services */
    const struct weir_pc_service *service;
    uint16_t port;
    const char *subset; /* NULL: the whole service */
    enum weir_pc_protocol protocol;
    enum weir_pc_resolution resolution;
    struct weir_pc_endpoint *endpoints;
    size_t n_endpoints;
    struct weir_pc_load_balancer load_balancer;
    struct weir_pc_connection_pool connection_pool;
    const struct weir_pc_outlier_detection *outlier_detection; /* NULL: off */
    struct weir_pc_tls tls;
};

/* ---- inbound ---- */

struct weir_pc_inbound_port {
    uint16_t port;        /* the Service port */
    uint16_t target_port; /* the container port the capture sees */
    const char *name;
    enum weir_pc_protocol protocol;
};

struct weir_pc_inbound_service {
    const char *name;
    struct weir_pc_selector selector;
    struct weir_pc_inbound_port *ports;
    size_t n_ports;
};

enum weir_pc_mtls_mode {
    WEIR_PC_MTLS_DISABLE,
    WEIR_PC_MTLS_PERMISSIVE,
    WEIR_PC_MTLS_STRICT,
};

struct weir_pc_port_mtls {
    uint16_t port;
    enum weir_pc_mtls_mode mode;
};

struct weir_pc_peer_authentication {
    const char *name;
    const struct weir_pc_selector *selector;
    enum weir_pc_mtls_mode mode;
    struct weir_pc_port_mtls *ports;
    size_t n_ports;
};

struct weir_pc_authz_source {
    struct weir_pc_matches principals, not_principals;
    struct weir_pc_matches request_principals, not_request_principals;
    struct weir_pc_matches namespaces, not_namespaces;
    struct weir_pc_cidrs ip_blocks, not_ip_blocks;
    struct weir_pc_cidrs remote_ip_blocks, not_remote_ip_blocks;
};

struct weir_pc_authz_operation {
    struct weir_pc_matches hosts, not_hosts; /* compared with the lower-cased authority */
    struct weir_pc_ports ports, not_ports;
    struct weir_strings methods, not_methods;
    struct weir_pc_matches paths, not_paths;
};

enum weir_pc_condition_key {
    WEIR_PC_COND_REQUEST_HEADER,
    WEIR_PC_COND_SOURCE_IP,
    WEIR_PC_COND_REMOTE_IP,
    WEIR_PC_COND_SOURCE_NAMESPACE,
    WEIR_PC_COND_SOURCE_PRINCIPAL,
    WEIR_PC_COND_REQUEST_PRINCIPAL,
    WEIR_PC_COND_REQUEST_AUDIENCE,
    WEIR_PC_COND_REQUEST_PRESENTER,
    WEIR_PC_COND_REQUEST_CLAIM,
    WEIR_PC_COND_DESTINATION_IP,
    WEIR_PC_COND_DESTINATION_PORT,
    WEIR_PC_COND_SNI,
};

/* Values are held in the member that fits the key: cidrs for the *_IP keys,
 * ports for DESTINATION_PORT, matches for the others. */
struct weir_pc_condition {
    enum weir_pc_condition_key key;
    const char *header;        /* REQUEST_HEADER */
    struct weir_strings claim; /* REQUEST_CLAIM: path into nested claims */
    struct weir_pc_matches values, not_values;
    struct weir_pc_cidrs cidrs, not_cidrs;
    struct weir_pc_ports ports, not_ports;
};

struct weir_pc_authz_rule {
    struct weir_pc_authz_source *from; /* any entry matches; none: any source */
    size_t n_from;
    struct weir_pc_authz_operation *to;
    size_t n_to;
    struct weir_pc_condition *when; /* all must hold */
    size_t n_when;
};

enum weir_pc_authz_action {
    WEIR_PC_AUTHZ_ALLOW,
    WEIR_PC_AUTHZ_DENY,
};

struct weir_pc_authorization {
    const char *name;
    const struct weir_pc_selector *selector;
    enum weir_pc_authz_action action;
    struct weir_pc_authz_rule *rules; /* none: the policy matches no request */
    size_t n_rules;
};

struct weir_pc_jwt_header {
    const char *name;
    const char *prefix; /* NULL: none */
};

struct weir_pc_claim_to_header {
    const char *header;
    const char *claim;
};

struct weir_pc_jwt_rule {
    const char *issuer;
    struct weir_strings audiences;
    const char *jwks_uri; /* exactly one of jwks_uri and jwks */
    const char *jwks;     /* a JWK set, JSON text */
    /* none of the three given: authorization "Bearer " and access_token */
    struct weir_pc_jwt_header *from_headers;
    size_t n_from_headers;
    struct weir_strings from_params;
    struct weir_strings from_cookies;
    const char *output_payload_to_header;
    struct weir_pc_claim_to_header *output_claim_to_headers;
    size_t n_output_claim_to_headers;
    bool forward_original_token;
};

struct weir_pc_request_authentication {
    const char *name;
    const struct weir_pc_selector *selector;
    struct weir_pc_jwt_rule *jwt_rules;
    size_t n_jwt_rules;
};

struct weir_pc_inbound {
    struct weir_pc_inbound_service *services;
    size_t n_services;
    struct weir_pc_peer_authentication *peer_authentication;
    size_t n_peer_authentication;
    struct weir_pc_authorization *authorization;
    size_t n_authorization;
    struct weir_pc_request_authentication *request_authentication;
    size_t n_request_authentication;
};

/* ---- rate limits ---- */

enum weir_pc_direction {
    WEIR_PC_INBOUND,
    WEIR_PC_OUTBOUND,
};

enum weir_pc_descriptor_kind {
    WEIR_PC_DESC_HEADER,
    WEIR_PC_DESC_PATH,
    WEIR_PC_DESC_METHOD,
    WEIR_PC_DESC_SOURCE_IP,
    WEIR_PC_DESC_SOURCE_PRINCIPAL,
};

struct weir_pc_descriptor {
    enum weir_pc_descriptor_kind kind;
    const char *header; /* WEIR_PC_DESC_HEADER */
};

struct weir_pc_rate_limit_match {
    const char *route; /* an outbound HTTP route's name, NULL: any */
    uint16_t port;     /* 0: any */
    struct weir_pc_match path;
    struct weir_strings methods;
    struct weir_pc_named_matches headers;
};

struct weir_pc_rate_limit {
    const char *name;
    const struct weir_pc_selector *selector;
    enum weir_pc_direction direction;
    const struct weir_pc_rate_limit_match *match; /* NULL: every request */
    struct weir_pc_descriptor *descriptors;       /* none: one bucket for all */
    size_t n_descriptors;
    int64_t max_tokens;
    int64_t tokens_per_fill;
    int64_t fill_interval_ms;
    int status_code;     /* 429 */
    int64_t max_buckets; /* bound on distinct descriptor values kept */
};

/* ---- the document ---- */

struct weir_pc_arena;

struct weir_proxy_config {
    const char *api_version;
    const char *namespace_;
    const char *revision; /* "sha256:<64 hex>" */
    const char *trust_domain;
    const char *generated_at; /* RFC 3339, NULL when absent */
    struct weir_pc_proxy proxy;
    struct weir_pc_service *services;
    size_t n_services;
    struct weir_pc_cluster *clusters;
    size_t n_clusters;
    struct weir_pc_inbound inbound;
    struct weir_pc_rate_limit *rate_limits;
    size_t n_rate_limits;
    struct weir_pc_arena *arena; /* private: owns everything above */
};

/* Loads a document of `len` bytes (need not be NUL-terminated). `source`
 * names it in diagnostics (a file name), may be NULL. */
int weir_proxy_config_load(const char *json, size_t len, const char *source,
                           struct weir_proxy_config **out, struct weir_diags *diags);
/* Reads the file (bounded by WEIR_PROXY_CONFIG_MAX_BYTES) and loads it. */
int weir_proxy_config_load_file(const char *path, struct weir_proxy_config **out,
                                struct weir_diags *diags);
void weir_proxy_config_free(struct weir_proxy_config *cfg);

/* Lookups for the proxy's slow paths (config swap, admin port); request-time
 * code follows the indexes held in the structs instead. NULL when absent. */
const struct weir_pc_cluster *weir_proxy_config_cluster(const struct weir_proxy_config *cfg,
                                                        const char *name);
const struct weir_pc_service *weir_proxy_config_service(const struct weir_proxy_config *cfg,
                                                        const char *host);

/* Evaluates a string match against `len` bytes of `s`. WEIR_MATCH_NONE matches
 * anything. Safe to call from any thread. */
bool weir_pc_match_eval(const struct weir_pc_match *m, const char *s, size_t len);
/* True when `ip` (4 or 16 bytes of `family`) lies inside the block. */
bool weir_pc_cidr_contains(const struct weir_pc_cidr *block, int family, const uint8_t *ip);
/* True when every label of the selector is present with the same value. */
bool weir_pc_selector_matches(const struct weir_string_map *match_labels,
                              const struct weir_string_map *labels);

const char *weir_pc_protocol_name(enum weir_pc_protocol p);

#endif
