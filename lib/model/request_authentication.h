/*
 * RequestAuthentication (security.istio.io): which JSON Web Tokens a workload
 * accepts. A request carrying a token that fails every rule is refused; a
 * request carrying none passes with no request identity, so requiring a token
 * is the job of an AuthorizationPolicy (requestPrincipals: ["*"]).
 *
 * Each rule names one issuer (unique within a policy, so a token's `iss`
 * selects exactly one rule), where its keys come from (jwksUri, inline jwks,
 * or OpenID discovery from the issuer when both are absent), where the token
 * is looked for, and what is passed on to the application.
 *
 * targetRef/targetRefs are parsed and reported as unsupported.
 */
#ifndef WEIR_MODEL_REQUEST_AUTHENTICATION_H
#define WEIR_MODEL_REQUEST_AUTHENTICATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/authorization_policy.h"
#include "model/check.h"
#include "model/mesh.h"

/* A header the token is read from. */
struct weir_jwt_header {
    char *name;
    char *prefix; /* stripped before decoding, e.g. "Bearer "; "" when none */
};

/* One outputClaimToHeaders entry: copy a claim of a verified token into a
 * request header for the application. */
struct weir_jwt_claim_to_header {
    char *header;
    char *claim; /* may be nested with dots: "nested.key.group" */
};

/* jwksUri taken apart for the fetcher. */
struct weir_jwks_uri {
    char *text; /* as written */
    bool tls;   /* https */
    char *host; /* without brackets for IPv6 */
    uint16_t port;
    char *path; /* path and query, "/" when none */
};

/* One jwtRules entry. With no from_headers, from_params and from_cookies the
 * token is read from "Authorization: Bearer <token>" then ?access_token=. */
struct weir_jwt_rule {
    char *issuer;
    struct weir_strings audiences; /* empty: the service name is accepted */
    struct weir_jwks_uri jwks_uri; /* jwks_uri.text NULL when absent */
    char *jwks;                    /* inline JSON Web Key Set, NULL when absent */
    struct weir_jwt_header *from_headers;
    size_t nfrom_headers;
    struct weir_strings from_params;
    struct weir_strings from_cookies;
    char *output_payload_to_header; /* NULL when absent */
    struct weir_jwt_claim_to_header *output_claim_to_headers;
    size_t noutput_claim_to_headers;
    bool forward_original_token; /* keep the token on the upstream request */
    int64_t timeout_ns;          /* JWKS fetch timeout; 0: the default (5s) */
};

/* The whole policy. */
struct weir_request_authentication {
    struct weir_string_map selector; /* matchLabels; empty: every workload in scope */
    struct weir_policy_target_refs targets;
    struct weir_jwt_rule *jwt_rules;
    size_t njwt_rules;
};

#endif
