/*
 * RateLimitPolicy (policy.weir.dev/v1alpha1): local token-bucket rate limits
 * kept by each proxy of the selected workloads. A policy in the root
 * namespace applies in every namespace (its selector still picks the
 * workloads); one elsewhere applies to the workloads of its namespace.
 *
 *   spec:
 *     selector: {matchLabels: {app: productpage}}   # absent: every workload
 *     direction: INBOUND                             # or OUTBOUND
 *     limits:
 *     - name: per-user                               # unique in the policy
 *       match: {route, port, path, methods, headers} # absent: every request
 *       descriptors: [{kind: header, header: x-user}]
 *       tokenBucket: {maxTokens: 100, tokensPerFill: 10, fillInterval: 1s}
 *       statusCode: 429
 *       maxBuckets: 10000
 *
 * Each limit becomes one entry of the proxy config's rateLimits
 * (docs/proxy-config.md), named "<namespace>/<policy>.<limit>".
 */
#ifndef WEIR_MODEL_RATE_LIMIT_POLICY_H
#define WEIR_MODEL_RATE_LIMIT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/check.h"
#include "model/common.h"

enum weir_rl_direction {
    WEIR_RL_INBOUND,  /* requests arriving at the workload */
    WEIR_RL_OUTBOUND, /* requests the workload sends */
};

enum weir_rl_descriptor_kind {
    WEIR_RL_DESC_HEADER,
    WEIR_RL_DESC_PATH,
    WEIR_RL_DESC_METHOD,
    WEIR_RL_DESC_SOURCE_IP,
    WEIR_RL_DESC_SOURCE_PRINCIPAL,
};

struct weir_rl_descriptor {
    enum weir_rl_descriptor_kind kind;
    char *header; /* lower case; WEIR_RL_DESC_HEADER only */
};

struct weir_rl_header_match {
    char *name; /* lower case */
    struct weir_string_match match;
};

struct weir_rl_limit {
    char *name;
    bool has_match;
    char *route;   /* match.route: an HTTP route name (OUTBOUND only), NULL when absent */
    uint16_t port; /* match.port, 0 when absent */
    struct weir_string_match path;
    struct weir_strings methods;
    struct weir_rl_header_match *headers; /* sorted by name */
    size_t n_headers;
    struct weir_rl_descriptor *descriptors;
    size_t n_descriptors;
    int64_t max_tokens, tokens_per_fill;
    int64_t fill_interval_ns;
    int status_code; /* 429 unless given */
    int64_t max_buckets;
};

struct weir_rate_limit_policy {
    struct weir_string_map selector; /* matchLabels; empty: every workload */
    enum weir_rl_direction direction;
    struct weir_rl_limit *limits;
    size_t n_limits;
};

struct weir_rate_limit_policy *weir_rate_limit_policy_parse(struct weir_check *c,
                                                            const json_t *spec);
void weir_rate_limit_policy_free(struct weir_rate_limit_policy *p);

const char *weir_rl_descriptor_kind_name(enum weir_rl_descriptor_kind k);

/* The longest "<policy>.<limit>" the proxy config's names allow (a DNS-1123
 * subdomain). */
#define WEIR_RL_NAME_MAX 253

#endif
