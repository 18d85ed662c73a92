/*
 * AuthorizationPolicy (security.istio.io): access control on workloads.
 *
 * Semantics kept from Istio, which the translation and the proxy's
 * authorization engine rely on:
 *   - a policy with no rules never matches: with ALLOW that is the documented
 *     allow-nothing (deny-all) policy, `spec: {}`; a rule `{}` matches every
 *     request;
 *   - a rule matches when one of its sources, one of its operations and all of
 *     its conditions match; absent from/to/when match anything;
 *   - fields inside a source or an operation are ANDed, values inside a field
 *     are ORed, and a not* field matches when none of its values does;
 *   - string values are exact, prefix ("abc*"), suffix ("*abc") or presence
 *     ("*") matches; paths may instead be templates with {*} (one segment) and
 *     {**} (any number of segments, the last operator).
 *
 * Weir does not implement CUSTOM (external authorization), AUDIT, targetRef(s)
 * or the experimental condition keys (experimental.envoy.filters.*,
 * request.experimental.inline.headers[...]) yet: they are parsed, validated as
 * Istio would, kept in the model and reported as unsupported.
 *
 * Stricter than Istio, because each of these silently never matches there: a
 * '*' anywhere but alone or at one end of a value, port numbers outside
 * 1..65535, and path template operators that are not whole segments.
 *
 * The policy-scope functions at the end (selector, targetRef/targetRefs, port
 * numbers written as text) are shared by the three security kinds.
 */
#ifndef WEIR_MODEL_AUTHORIZATION_POLICY_H
#define WEIR_MODEL_AUTHORIZATION_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/check.h"
#include "model/mesh.h"

enum weir_authz_action {
    WEIR_AUTHZ_ALLOW, /* the default */
    WEIR_AUTHZ_DENY,
    WEIR_AUTHZ_AUDIT,  /* unsupported: matching requests would be marked for audit */
    WEIR_AUTHZ_CUSTOM, /* unsupported: delegates to the external provider */
};

/* How one rule value compares with a request attribute. */
enum weir_authz_match_kind {
    WEIR_AUTHZ_MATCH_EXACT,    /* "abc" */
    WEIR_AUTHZ_MATCH_PREFIX,   /* "abc*": value holds "abc" */
    WEIR_AUTHZ_MATCH_SUFFIX,   /* "*abc": value holds "abc" */
    WEIR_AUTHZ_MATCH_PRESENCE, /* "*": any non-empty attribute; value holds "" */
    WEIR_AUTHZ_MATCH_TEMPLATE, /* paths only, "/api/{*}/x/{**}": value holds the template */
};

/* One string value of a rule, with the wildcard already taken apart so the
 * engine never re-parses it. */
struct weir_authz_match {
    enum weir_authz_match_kind kind;
    char *value;
};

/* A list of string values (principals, hosts, methods, paths, ...). */
struct weir_authz_matches {
    struct weir_authz_match *items;
    size_t len;
};

/* An IP address or CIDR block as written ("10.0.0.0/8", "2001:db8::1"); a
 * bare address has the full prefix length. Host bits are kept as written. */
struct weir_cidr {
    char *text;
    uint8_t version; /* 4 or 6 */
    uint8_t addr[16];
    uint8_t prefix_len;
};

/* A list of IP blocks (ipBlocks, source.ip values, ...). */
struct weir_cidrs {
    struct weir_cidr *items;
    size_t len;
};

/* A Kubernetes service account, written "<namespace>/<name>"; matched
 * exactly, without wildcards. */
struct weir_service_account {
    char *namespace_;
    char *name;
};

/* A list of service accounts (serviceAccounts, source.serviceAccount values). */
struct weir_service_accounts {
    struct weir_service_account *items;
    size_t len;
};

/* A list of port numbers, each 1..65535. */
struct weir_ports {
    uint16_t *items;
    size_t len;
};

/* The request attributes a `when` condition may test (Istio's "Authorization
 * Policy Conditions"). */
enum weir_authz_key {
    WEIR_AUTHZ_KEY_REQUEST_HEADER,         /* request.headers[<name>] */
    WEIR_AUTHZ_KEY_SOURCE_IP,              /* source.ip: peer address of the connection */
    WEIR_AUTHZ_KEY_REMOTE_IP,              /* remote.ip: X-Forwarded-For or PROXY protocol */
    WEIR_AUTHZ_KEY_SOURCE_NAMESPACE,       /* source.namespace: from the peer certificate */
    WEIR_AUTHZ_KEY_SOURCE_PRINCIPAL,       /* source.principal: from the peer certificate */
    WEIR_AUTHZ_KEY_SOURCE_SERVICE_ACCOUNT, /* source.serviceAccount: "<ns>/<name>" */
    WEIR_AUTHZ_KEY_REQUEST_PRINCIPAL,      /* request.auth.principal: "<iss>/<sub>" of the JWT */
    WEIR_AUTHZ_KEY_REQUEST_AUDIENCES,      /* request.auth.audiences */
    WEIR_AUTHZ_KEY_REQUEST_PRESENTER,      /* request.auth.presenter: the azp claim */
    WEIR_AUTHZ_KEY_REQUEST_CLAIM,          /* request.auth.claims[<claim>][<nested>]... */
    WEIR_AUTHZ_KEY_DESTINATION_IP,
    WEIR_AUTHZ_KEY_DESTINATION_PORT,
    WEIR_AUTHZ_KEY_CONNECTION_SNI,
    WEIR_AUTHZ_KEY_EXPERIMENTAL,          /* experimental.envoy.filters.*: unsupported */
    WEIR_AUTHZ_KEY_REQUEST_INLINE_HEADER, /* request.experimental.inline.headers[<name>]:
                                             unsupported */
};

/* Which typed list of a condition holds its values. */
enum weir_authz_value_type {
    WEIR_AUTHZ_VALUES_STRING,          /* values/not_values */
    WEIR_AUTHZ_VALUES_IP,              /* ip_values/not_ip_values */
    WEIR_AUTHZ_VALUES_PORT,            /* port_values/not_port_values */
    WEIR_AUTHZ_VALUES_SERVICE_ACCOUNT, /* sa_values/not_sa_values */
};

/* One `when` entry: the attribute and the values it must (not) have. Only the
 * pair of lists named by weir_authz_key_value_type(key) is filled. */
struct weir_authz_condition {
    enum weir_authz_key key;
    char *key_text;            /* as written: "request.auth.claims[groups]" */
    char *header;              /* REQUEST_(INLINE_)HEADER: the header name, else NULL */
    struct weir_strings claim; /* REQUEST_CLAIM: the claim path, {"a","b"} for [a][b] */
    struct weir_authz_matches values;
    struct weir_authz_matches not_values;
    struct weir_cidrs ip_values;
    struct weir_cidrs not_ip_values;
    struct weir_ports port_values;
    struct weir_ports not_port_values;
    struct weir_service_accounts sa_values;
    struct weir_service_accounts not_sa_values;
};

/* rules[].from[].source: who sends the request. Never empty once valid. */
struct weir_authz_source {
    struct weir_authz_matches principals; /* "<trust-domain>/ns/<ns>/sa/<sa>" */
    struct weir_authz_matches not_principals;
    struct weir_authz_matches request_principals; /* "<iss>/<sub>" of the JWT */
    struct weir_authz_matches not_request_principals;
    struct weir_authz_matches namespaces;
    struct weir_authz_matches not_namespaces;
    /* Exclusive with principals and namespaces (and their not* forms). */
    struct weir_service_accounts service_accounts;
    struct weir_service_accounts not_service_accounts;
    struct weir_cidrs ip_blocks; /* source address of the connection */
    struct weir_cidrs not_ip_blocks;
    struct weir_cidrs remote_ip_blocks; /* original client: X-Forwarded-For / PROXY */
    struct weir_cidrs not_remote_ip_blocks;
};

/* rules[].to[].operation: what the request does. Never empty once valid.
 * Hosts, methods and paths are HTTP-only attributes. */
struct weir_authz_operation {
    struct weir_authz_matches hosts; /* compared case-insensitively */
    struct weir_authz_matches not_hosts;
    struct weir_ports ports;
    struct weir_ports not_ports;
    struct weir_authz_matches methods;
    struct weir_authz_matches not_methods;
    struct weir_authz_matches paths;
    struct weir_authz_matches not_paths;
};

/* One rule: any source AND any operation AND every condition. */
struct weir_authz_rule {
    struct weir_authz_source *from; /* nfrom == 0: any source */
    size_t nfrom;
    struct weir_authz_operation *to; /* nto == 0: any operation */
    size_t nto;
    struct weir_authz_condition *when; /* nwhen == 0: no further condition */
    size_t nwhen;
};

/* A targetRef / targetRefs entry (Gateway API policy attachment). */
struct weir_policy_target_ref {
    char *group; /* "" for the core group */
    char *kind;
    char *name;
    char *namespace_; /* NULL: the policy's namespace */
};

/* targetRef and targetRefs merged: Istio allows only one of the two. */
struct weir_policy_target_refs {
    struct weir_policy_target_ref *items;
    size_t len;
};

/* The whole policy. Scope: its namespace (the root namespace meaning the mesh)
 * narrowed by selector; targets replace the selector when set. */
struct weir_authorization_policy {
    struct weir_string_map selector; /* matchLabels; empty: every workload in scope */
    struct weir_policy_target_refs targets;
    enum weir_authz_action action;
    char *provider;                /* CUSTOM: provider.name, else NULL */
    struct weir_authz_rule *rules; /* nrules == 0: never matches */
    size_t nrules;
};

const char *weir_authz_action_name(enum weir_authz_action action);
enum weir_authz_value_type weir_authz_key_value_type(enum weir_authz_key key);

/* ---- shared by the security kinds (candidates for model/common.c) ---- */

/* spec.selector as a WorkloadSelector; warns when it is present without
 * labels, since it then selects every workload like an absent one. */
void weir_get_policy_selector(struct weir_check *c, const json_t *spec,
                              struct weir_string_map *match_labels);
/* spec.targetRef and spec.targetRefs into one list; at most one of selector,
 * targetRef and targetRefs may be set. Reporting the fields as unsupported is
 * left to the caller's weir_check_fields. */
void weir_get_policy_targets(struct weir_check *c, const json_t *spec,
                             struct weir_policy_target_refs *out);
void weir_policy_target_refs_free(struct weir_policy_target_refs *t);
/* A port number written as decimal text ("8080"); 0 and -1 like the rest of the
 * model: 0 with *port set, -1 when it is not a number in 1..65535. */
int weir_parse_port_text(const char *text, uint16_t *port);

#endif
