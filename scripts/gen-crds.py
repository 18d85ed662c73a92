#!/usr/bin/env python3
"""Generate the CustomResourceDefinitions in crds/ and charts/weir/crds/.

Weir serves Istio's configuration API, so the schemas below follow Istio's
reference documentation field for field (networking.istio.io VirtualService,
DestinationRule, ServiceEntry; security.istio.io AuthorizationPolicy,
PeerAuthentication, RequestAuthentication), plus Weir's own
policy.weir.dev RateLimitPolicy.

The schemas are structural (every node is typed, unknown fields are pruned),
carry a description on every field so `kubectl explain` is useful, and keep
validation to types, enums and required fields: the semantic checks live in
the mesh model (lib/model) and run in the admission webhook.

Usage:
    python3 scripts/gen-crds.py            write crds/*.yaml and the chart's copy
    python3 scripts/gen-crds.py --check    exit 1 if either is not up to date
    python3 scripts/gen-crds.py --out DIR  write to DIR instead

Only the standard library is needed; the YAML is written by a small emitter
below, so the output is byte-for-byte the same on every machine.
"""

import argparse
import copy
import json
import os
import re
import sys

# --------------------------------------------------------------------------
# Schema building blocks
# --------------------------------------------------------------------------

U32_MAX = 4294967295


def _with(schema, desc=None, **extra):
    s = copy.deepcopy(schema)
    if desc is not None:
        s["description"] = desc
    s.update(extra)
    return s


def string(desc, **kw):
    return _with({"type": "string"}, desc, **kw)


def enum(desc, values):
    return {"description": desc, "type": "string", "enum": list(values)}


def duration(desc):
    """Durations are strings as in protobuf JSON: 1h, 1m, 1s, 500ms."""
    return string(desc + " A duration string such as 1s or 500ms.")


def boolean(desc, nullable=False):
    s = {"description": desc, "type": "boolean"}
    if nullable:
        s["nullable"] = True
    return s


def int32(desc, **kw):
    return _with({"type": "integer", "format": "int32"}, desc, **kw)


def uint32(desc, nullable=False):
    s = {"description": desc, "type": "integer", "minimum": 0, "maximum": U32_MAX}
    if nullable:
        s["nullable"] = True
    return s


def number(desc, **kw):
    return _with({"type": "number", "format": "double"}, desc, **kw)


def obj(desc, props, required=None, **kw):
    s = {"type": "object", "properties": props}
    if desc is not None:
        s["description"] = desc
    if required:
        s["required"] = list(required)
    s.update(kw)
    return s


def array(desc, items, **kw):
    return _with({"type": "array", "items": copy.deepcopy(items)}, desc, **kw)


def strings(desc, **kw):
    return array(desc, {"type": "string"}, **kw)


def string_map(desc):
    return {"description": desc, "type": "object", "additionalProperties": {"type": "string"}}


def int_or_string(desc=None):
    s = {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}
    if desc:
        s["description"] = desc
    return s


# --------------------------------------------------------------------------
# Shared sub-schemas
# --------------------------------------------------------------------------

RE2 = "RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)."


def string_match(desc, kinds=("exact", "prefix", "regex")):
    text = {
        "exact": "Exact string match.",
        "prefix": "Prefix-based match.",
        "regex": RE2,
    }
    return obj(desc, {k: string(text[k]) for k in kinds})


def percent(desc):
    return obj(desc, {"value": number("Percentage in the range 0.0 to 100.0.")})


PORT_SELECTOR_PROPS = {"number": uint32("Valid port number.")}


def port_selector(desc):
    return obj(desc, PORT_SELECTOR_PROPS)


def destination(desc):
    return obj(
        desc,
        {
            "host": string(
                "The name of a service from the service registry: a Kubernetes Service "
                "(short names are resolved in the rule's namespace), a fully qualified "
                "domain name, or a host declared by a ServiceEntry."
            ),
            "subset": string(
                "The name of a subset within the service, defined in a DestinationRule."
            ),
            "port": port_selector(
                "Specifies the port on the host that is being addressed. May be omitted "
                "if the service exposes a single port."
            ),
        },
        required=["host"],
    )


def header_operations(desc):
    return obj(
        desc,
        {
            "set": string_map("Overwrite the headers specified by key with the given values."),
            "add": string_map("Append the given values to the headers specified by keys."),
            "remove": strings("Remove the specified headers."),
        },
    )


def headers(desc):
    return obj(
        desc,
        {
            "request": header_operations(
                "Header manipulation rules to apply before forwarding a request."
            ),
            "response": header_operations(
                "Header manipulation rules to apply before returning a response."
            ),
        },
    )


WORKLOAD_SELECTOR_MATCH_LABELS = {
    "type": "object",
    "description": (
        "One or more labels that indicate a specific set of pods/VMs on which the "
        "configuration should be applied. The scope of the label search is the "
        "configuration's namespace."
    ),
    "additionalProperties": {"type": "string"},
}


def workload_selector(desc):
    return obj(desc, {"matchLabels": copy.deepcopy(WORKLOAD_SELECTOR_MATCH_LABELS)})


def policy_target_ref(desc):
    return obj(
        desc,
        {
            "group": string("Group of the target resource, e.g. gateway.networking.k8s.io."),
            "kind": string("Kind of the target resource, e.g. Gateway or Service."),
            "name": string("Name of the target resource."),
            "namespace": string(
                "Namespace of the target resource; when set it must be the policy's own "
                "namespace."
            ),
        },
        required=["kind", "name"],
    )


def status_schema():
    condition = obj(
        None,
        {
            "type": string("Type of the condition, e.g. Accepted or Reconciled."),
            "status": string("Status of the condition: True, False or Unknown."),
            "reason": string("Unique, one-word, CamelCase reason for the condition's last transition."),
            "message": string("Human-readable message indicating details about the last transition."),
            "lastTransitionTime": string(
                "Last time the condition transitioned from one status to another.",
                format="date-time",
            ),
            "lastProbeTime": string("Last time the condition was probed.", format="date-time"),
            "observedGeneration": int_or_string(
                "The metadata.generation of the resource that the condition describes."
            ),
        },
    )
    message = obj(
        None,
        {
            "type": obj(
                "Type of the message.",
                {
                    "code": string("A 7 character code, e.g. IST0101, identifying the message type."),
                    "name": string("A human-readable name for the message type."),
                },
            ),
            "level": enum(
                "How severe the message is.", ["UNKNOWN", "ERROR", "WARNING", "INFO"]
            ),
            "documentationUrl": string("A URL to documentation for this specific message type."),
        },
    )
    return obj(
        "Current state of the resource as observed by the control plane. Written only "
        "through the status subresource.",
        {
            "conditions": array(
                "Current service state of the resource, e.g. whether it was accepted and "
                "which of its fields are not supported.",
                condition,
            ),
            "observedGeneration": int_or_string(
                "The metadata.generation most recently processed by the control plane."
            ),
            "validationMessages": array(
                "Errors and warnings found when analyzing the resource.", message
            ),
        },
        **{"x-kubernetes-preserve-unknown-fields": True},
    )


# --------------------------------------------------------------------------
# networking.istio.io: VirtualService
# --------------------------------------------------------------------------


def virtual_service_spec():
    match_gateways = strings(
        "Names of gateways where the rule should be applied. Overrides the gateways of "
        "the VirtualService for this match; `mesh` means all sidecars."
    )
    source_labels = string_map(
        "One or more labels that constrain the applicability of a rule to source "
        "(client) workloads with the given labels. If the VirtualService lists "
        "gateways, `mesh` must be one of them for this to apply."
    )
    source_namespace = string(
        "Source namespace constraining the applicability of a rule to workloads in "
        "that namespace."
    )
    destination_subnets = strings(
        "IPv4 or IPv6 addresses of the destination, with an optional subnet, e.g. "
        "a.b.c.d/xx or a.b.c.d."
    )

    http_match = obj(
        None,
        {
            "name": string(
                "The name assigned to a match. It is concatenated with the route's name "
                "and logged in access logs."
            ),
            "uri": string_match(
                "URI to match; case-sensitive unless ignoreUriCase is set. exact, prefix "
                "or regex."
            ),
            "scheme": string_match("URI scheme to match; case-sensitive. exact, prefix or regex."),
            "method": string_match("HTTP method to match; case-sensitive. exact, prefix or regex."),
            "authority": string_match(
                "HTTP Authority (Host) to match; case-sensitive. exact, prefix or regex."
            ),
            "headers": {
                "description": (
                    "Request headers to match, keyed by header name. Names must be "
                    "lowercase and use hyphens as separators, e.g. x-request-id. An "
                    "empty match ({}) tests only for the presence of the header."
                ),
                "type": "object",
                "additionalProperties": string_match(None),
            },
            "port": uint32(
                "Specifies the port on the host that is being addressed. Not needed when "
                "the service exposes a single port."
            ),
            "sourceLabels": source_labels,
            "gateways": match_gateways,
            "queryParams": {
                "description": (
                    "Query parameters to match, keyed by parameter name. exact or regex; "
                    "prefix is not supported."
                ),
                "type": "object",
                "additionalProperties": string_match(None),
            },
            "ignoreUriCase": boolean(
                "Match the URI case-insensitively. Applies only to exact and prefix URI "
                "matches."
            ),
            "withoutHeaders": {
                "description": (
                    "Headers that must not match: same syntax as headers, with the opposite "
                    "meaning."
                ),
                "type": "object",
                "additionalProperties": string_match(None),
            },
            "sourceNamespace": source_namespace,
            "statPrefix": string(
                "The human readable prefix to use when emitting statistics for this route."
            ),
        },
    )

    http_route_destination = obj(
        None,
        {
            "destination": destination(
                "Destination uniquely identifies the instances of a service to which the "
                "request should be forwarded."
            ),
            "weight": int32(
                "Relative proportion of traffic forwarded to this destination: "
                "weight/(sum of all weights). Weight 0 sends no traffic; with a single "
                "destination it may be omitted."
            ),
            "headers": headers(
                "Header manipulation rules applied when forwarding to this destination."
            ),
        },
        required=["destination"],
    )

    route_destination = obj(
        None,
        {
            "destination": destination(
                "Destination uniquely identifies the instances of a service to which the "
                "connection should be forwarded."
            ),
            "weight": int32(
                "Relative proportion of traffic forwarded to this destination: "
                "weight/(sum of all weights)."
            ),
        },
        required=["destination"],
    )

    redirect = obj(
        "Send a redirect (301 by default) instead of forwarding the request. Cannot be "
        "used together with route or directResponse.",
        {
            "uri": string(
                "On a redirect, overwrite the path portion of the URL with this value. The "
                "entire path is replaced, whatever the request URI was matched on."
            ),
            "authority": string(
                "On a redirect, overwrite the Authority/Host portion of the URL with this value."
            ),
            "port": uint32("On a redirect, overwrite the port portion of the URL with this value."),
            "derivePort": enum(
                "On a redirect, set the port dynamically: FROM_PROTOCOL_DEFAULT uses 80 for "
                "HTTP and 443 for HTTPS; FROM_REQUEST_PORT uses the port of the request.",
                ["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"],
            ),
            "scheme": string(
                "On a redirect, overwrite the scheme portion of the URL with this value, e.g. "
                "https. If unset, the original scheme is kept."
            ),
            "redirectCode": uint32(
                "On a redirect, the HTTP status code to use in the redirect response. The "
                "default is 301."
            ),
        },
    )

    direct_response = obj(
        "Return a fixed response instead of forwarding the request. Only valid when "
        "route and redirect are empty.",
        {
            "status": uint32("The HTTP response status to return."),
            "body": obj(
                "The content of the response body. If unset, no body is returned.",
                {
                    "string": string("Response body as a string."),
                    "bytes": string("Response body as base64 encoded bytes.", format="byte"),
                },
            ),
        },
        required=["status"],
    )

    delegate = obj(
        "Delegate the route to another VirtualService. Only valid on a root "
        "VirtualService rule that has no route or redirect.",
        {
            "name": string("Name of the delegate VirtualService."),
            "namespace": string(
                "Namespace of the delegate VirtualService; defaults to the namespace of "
                "the root VirtualService."
            ),
        },
    )

    rewrite = obj(
        "Rewrite the URI and the Authority header before forwarding. Cannot be used "
        "together with redirect.",
        {
            "uri": string(
                "Rewrite the path (or the prefix) portion of the URI with this value. If "
                "the URI was matched on a prefix, only the matched prefix is replaced."
            ),
            "authority": string("Rewrite the Authority/Host header with this value."),
            "uriRegexRewrite": obj(
                "Rewrite the path portion of the URI with the specified regex.",
                {
                    "match": string(RE2),
                    "rewrite": string(
                        "The string that replaces matching portions of the original URI. "
                        "Capture groups can be referenced, e.g. \\1."
                    ),
                },
            ),
        },
    )

    retries = obj(
        "Retry policy for HTTP requests.",
        {
            "attempts": int32(
                "Number of retries to be allowed for a given request. The interval between "
                "retries is determined automatically (25ms+). With a route timeout or "
                "perTryTimeout the actual number of retries also depends on those values. "
                "0 disables retries."
            ),
            "perTryTimeout": duration(
                "Timeout per attempt for a given request, including the initial call and any "
                "retries. Must be at least 1ms. Defaults to the route's timeout, which means "
                "no timeout."
            ),
            "retryOn": string(
                "Conditions under which a retry takes place, as a comma-separated list: "
                "HTTP policies such as 5xx, gateway-error, reset, connect-failure, "
                "retriable-4xx, refused-stream, retriable-status-codes or an HTTP status "
                "code like 503, and gRPC policies such as cancelled, deadline-exceeded, "
                "internal, resource-exhausted and unavailable."
            ),
            "retryRemoteLocalities": boolean(
                "Whether retries may go to endpoints in other localities.", nullable=True
            ),
            "retryIgnorePreviousHosts": boolean(
                "Whether retries should ignore previously tried hosts. Defaults to true.",
                nullable=True,
            ),
            "backoff": duration(
                "Minimum duration between retry attempts: the base interval of the "
                "exponential back-off. Defaults to 25ms."
            ),
        },
    )

    fault = obj(
        "Fault injection policy to apply on HTTP traffic at the client side. Timeouts "
        "and retries are not enabled on a route with faults.",
        {
            "delay": obj(
                "Delay requests before forwarding, emulating various failures such as network "
                "issues or an overloaded upstream service.",
                {
                    "fixedDelay": duration(
                        "Add a fixed delay before forwarding the request. Must be at least 1ms."
                    ),
                    "exponentialDelay": duration("Reserved by Istio; not implemented."),
                    "percentage": percent(
                        "Percentage of requests on which the delay will be injected (0-100)."
                    ),
                    "percent": int32(
                        "Deprecated: use percentage. Percentage of requests on which the delay "
                        "will be injected (0-100)."
                    ),
                },
            ),
            "abort": obj(
                "Abort HTTP request attempts and return error codes back to the downstream "
                "service, giving the impression that the upstream service is faulty.",
                {
                    "httpStatus": int32("HTTP status code to use to abort the HTTP request."),
                    "grpcStatus": string(
                        "gRPC status code to use to abort the request, e.g. UNAVAILABLE."
                    ),
                    "http2Error": string("Reserved by Istio; not implemented."),
                    "percentage": percent(
                        "Percentage of requests to be aborted with the error code provided (0-100)."
                    ),
                },
            ),
        },
    )

    cors = obj(
        "Cross-Origin Resource Sharing (CORS) policy.",
        {
            "allowOrigins": array(
                "String patterns that match allowed origins. An origin is allowed if any "
                "of the patterns matches.",
                string_match(None),
            ),
            "allowOrigin": strings(
                "Deprecated: use allowOrigins. The list of origins that are allowed to "
                "perform CORS requests."
            ),
            "allowMethods": strings(
                "List of HTTP methods allowed to access the resource; sent in the "
                "Access-Control-Allow-Methods header."
            ),
            "allowHeaders": strings(
                "List of HTTP headers that can be used when requesting the resource; sent "
                "in the Access-Control-Allow-Headers header."
            ),
            "exposeHeaders": strings(
                "A list of HTTP headers that the browsers are allowed to access; sent in "
                "the Access-Control-Expose-Headers header."
            ),
            "maxAge": duration(
                "How long the results of a preflight request can be cached; sent in the "
                "Access-Control-Max-Age header."
            ),
            "allowCredentials": boolean(
                "Whether the caller is allowed to send the actual request (not the "
                "preflight) using credentials; sent in Access-Control-Allow-Credentials.",
                nullable=True,
            ),
            "unmatchedPreflights": enum(
                "What to do with preflight requests that do not match the allowed origins: "
                "FORWARD them to the upstream (the default) or IGNORE them.",
                ["UNSPECIFIED", "FORWARD", "IGNORE"],
            ),
        },
    )

    mirror_destination = destination(
        "Mirror HTTP traffic to another destination in addition to forwarding the "
        "request to the intended destination. Mirrored traffic is best effort: the "
        "responses are discarded."
    )

    http_route = obj(
        None,
        {
            "name": string(
                "The name assigned to the route for debugging purposes. It is concatenated "
                "with the match's name and logged in access logs."
            ),
            "match": array(
                "Match conditions to be satisfied for the rule to be activated. Conditions "
                "inside one match block are ANDed; match blocks are ORed.",
                http_match,
            ),
            "route": array(
                "The destinations to forward the request to. Traffic is split between them "
                "according to their weights.",
                http_route_destination,
            ),
            "redirect": redirect,
            "directResponse": direct_response,
            "delegate": delegate,
            "rewrite": rewrite,
            "timeout": duration("Timeout for HTTP requests. Disabled by default."),
            "retries": retries,
            "fault": fault,
            "mirror": mirror_destination,
            "mirrors": array(
                "Destinations to mirror HTTP traffic to in addition to the original "
                "destination, each with its own percentage.",
                obj(
                    None,
                    {
                        "destination": destination(
                            "Destination specifies the target of the mirror operation."
                        ),
                        "percentage": percent(
                            "Percentage of the traffic to be mirrored to this destination. "
                            "Defaults to 100%."
                        ),
                    },
                    required=["destination"],
                ),
            ),
            "mirrorPercentage": percent(
                "Percentage of the traffic to be mirrored by the mirror field. Defaults to 100%."
            ),
            "mirrorPercent": uint32(
                "Deprecated: use mirrorPercentage. Percentage of the traffic to be mirrored "
                "(0-100).",
                nullable=True,
            ),
            "mirror_percent": uint32("Deprecated: use mirrorPercentage.", nullable=True),
            "corsPolicy": cors,
            "headers": headers("Header manipulation rules."),
        },
    )

    tls_route = obj(
        None,
        {
            "match": array(
                "Match conditions to be satisfied for the rule to be activated.",
                obj(
                    None,
                    {
                        "sniHosts": strings(
                            "SNI (server name indicator) to match on. Wildcard prefixes can "
                            "be used. Each value must be one of, or a subset of, the "
                            "VirtualService's hosts."
                        ),
                        "destinationSubnets": destination_subnets,
                        "port": uint32("Specifies the port on the host that is being addressed."),
                        "sourceLabels": source_labels,
                        "gateways": match_gateways,
                        "sourceNamespace": source_namespace,
                    },
                    required=["sniHosts"],
                ),
            ),
            "route": array(
                "The destinations to which the connection should be forwarded.",
                route_destination,
            ),
        },
        required=["match"],
    )

    tcp_route = obj(
        None,
        {
            "match": array(
                "Match conditions to be satisfied for the rule to be activated.",
                obj(
                    None,
                    {
                        "destinationSubnets": destination_subnets,
                        "port": uint32("Specifies the port on the host that is being addressed."),
                        "sourceSubnet": string("Deprecated; not supported by Istio."),
                        "sourceLabels": source_labels,
                        "gateways": match_gateways,
                        "sourceNamespace": source_namespace,
                    },
                ),
            ),
            "route": array(
                "The destinations to which the connection should be forwarded.",
                route_destination,
            ),
        },
    )

    return obj(
        "Routing rules for traffic addressed to one or more hosts: request matching, "
        "traffic splitting, retries, timeouts, fault injection, mirroring and rewrites. "
        "See https://istio.io/latest/docs/reference/config/networking/virtual-service/",
        {
            "hosts": strings(
                "The destination hosts to which traffic is being sent: DNS names (a wildcard "
                "prefix is allowed), short names resolved in the VirtualService's "
                "namespace, or IP addresses."
            ),
            "gateways": strings(
                "The names of gateways and sidecars that should apply these routes, as "
                "<namespace>/<name>. The reserved word mesh means all sidecars; when "
                "omitted, the routes apply to sidecars only."
            ),
            "http": array(
                "An ordered list of route rules for HTTP traffic. The first rule that "
                "matches a request is used.",
                http_route,
            ),
            "tls": array(
                "An ordered list of route rules for non-terminated TLS and HTTPS traffic, "
                "routed on SNI.",
                tls_route,
            ),
            "tcp": array("An ordered list of route rules for opaque TCP traffic.", tcp_route),
            "exportTo": strings(
                "A list of namespaces to which this virtual service is exported: . for the "
                "same namespace, * for all namespaces (the default)."
            ),
        },
    )


# --------------------------------------------------------------------------
# networking.istio.io: DestinationRule
# --------------------------------------------------------------------------


def load_balancer():
    return obj(
        "Settings controlling the load balancer algorithms.",
        {
            "simple": enum(
                "Standard load balancing algorithm: LEAST_REQUEST (the default), ROUND_ROBIN, "
                "RANDOM, PASSTHROUGH (forward to the address the caller connected to) or "
                "LEAST_CONN (deprecated alias of LEAST_REQUEST).",
                ["UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"],
            ),
            "consistentHash": obj(
                "Consistent hash-based load balancing, for soft session affinity on an HTTP "
                "header, a cookie, the source IP or a query parameter.",
                {
                    "httpHeaderName": string("Hash based on a specific HTTP header."),
                    "httpCookie": obj(
                        "Hash based on an HTTP cookie. If the cookie is absent and ttl is "
                        "set, a new cookie is generated.",
                        {
                            "name": string("Name of the cookie."),
                            "path": string("Path to set for the cookie."),
                            "ttl": duration("Lifetime of the cookie."),
                            "attributes": array(
                                "Additional attributes for the generated cookie.",
                                obj(
                                    None,
                                    {
                                        "name": string("The name of the cookie attribute."),
                                        "value": string("The optional value of the cookie attribute."),
                                    },
                                    required=["name"],
                                ),
                            ),
                        },
                        required=["name"],
                    ),
                    "useSourceIp": boolean("Hash based on the source IP address."),
                    "httpQueryParameterName": string(
                        "Hash based on a specific HTTP query parameter."
                    ),
                    "ringHash": obj(
                        "Use the ring hash (ketama) algorithm.",
                        {
                            "minimumRingSize": {
                                "description": (
                                    "The minimum number of virtual nodes to use for the hash "
                                    "ring. Defaults to 1024."
                                ),
                                "type": "integer",
                                "minimum": 0,
                            }
                        },
                    ),
                    "maglev": obj(
                        "Use the Maglev algorithm.",
                        {
                            "tableSize": {
                                "description": (
                                    "The table size for Maglev hashing; must be a prime "
                                    "number. Defaults to 65537."
                                ),
                                "type": "integer",
                                "minimum": 0,
                            }
                        },
                    ),
                    "minimumRingSize": {
                        "description": "Deprecated: use ringHash.minimumRingSize.",
                        "type": "integer",
                        "minimum": 0,
                    },
                },
            ),
            "localityLbSetting": obj(
                "Locality load balancer settings. When set, they replace the mesh-wide "
                "settings entirely.",
                {
                    "distribute": array(
                        "Load balancing weights across localities. Only one of distribute, "
                        "failover or failoverPriority can be set.",
                        obj(
                            None,
                            {
                                "from": string(
                                    "Originating locality, '/' separated, e.g. "
                                    "region/zone/sub_zone; '*' matches any segment."
                                ),
                                "to": {
                                    "description": (
                                        "Map of upstream localities to traffic distribution "
                                        "weights. The weights must add up to 100."
                                    ),
                                    "type": "object",
                                    "additionalProperties": {
                                        "type": "integer",
                                        "minimum": 0,
                                        "maximum": U32_MAX,
                                    },
                                },
                            },
                        ),
                    ),
                    "failover": array(
                        "The region traffic fails over to when the endpoints in the local "
                        "region become unhealthy; requires outlierDetection. Only one of "
                        "distribute, failover or failoverPriority can be set.",
                        obj(
                            None,
                            {
                                "from": string("Originating region."),
                                "to": string(
                                    "Destination region the traffic will fail over to when "
                                    "endpoints in the 'from' region become unhealthy."
                                ),
                            },
                        ),
                    ),
                    "failoverPriority": strings(
                        "An ordered list of labels used to sort endpoints for priority based "
                        "load balancing, e.g. topology.istio.io/network or "
                        "topology.kubernetes.io/region."
                    ),
                    "enabled": boolean(
                        "Enable locality load balancing; overrides the mesh-wide setting.",
                        nullable=True,
                    ),
                },
            ),
            "warmupDurationSecs": duration(
                "Deprecated: use warmup. Slow-start window during which a new endpoint "
                "receives gradually more traffic."
            ),
            "warmup": obj(
                "Slow-start configuration: a new endpoint receives gradually more traffic "
                "over a warmup window.",
                {
                    "duration": duration("Length of the warmup window."),
                    "minimumPercent": number(
                        "Percentage of its full share of traffic that an endpoint receives at "
                        "the start of the warmup window. Defaults to 10.",
                        minimum=0,
                        maximum=100,
                        nullable=True,
                    ),
                    "aggression": number(
                        "How fast traffic increases over the warmup window: 1.0 is linear "
                        "(the default), larger values ramp up more slowly at first.",
                        minimum=1,
                        nullable=True,
                    ),
                },
                required=["duration"],
            ),
        },
    )


def connection_pool():
    return obj(
        "Settings controlling the volume of connections to an upstream service.",
        {
            "tcp": obj(
                "Settings common to both HTTP and TCP upstream connections.",
                {
                    "maxConnections": int32(
                        "Maximum number of HTTP1/TCP connections to a destination host. "
                        "Defaults to 2^32-1."
                    ),
                    "connectTimeout": duration("TCP connection timeout. Defaults to 10s."),
                    "tcpKeepalive": obj(
                        "If set, SO_KEEPALIVE is set on the socket to enable TCP keepalives.",
                        {
                            "probes": uint32(
                                "Maximum number of keepalive probes to send without response "
                                "before deciding the connection is dead. Defaults to the OS "
                                "setting (9 on Linux)."
                            ),
                            "time": duration(
                                "How long a connection must be idle before keepalive probes "
                                "start being sent. Defaults to the OS setting (2h on Linux)."
                            ),
                            "interval": duration(
                                "The time between keepalive probes. Defaults to the OS setting "
                                "(75s on Linux)."
                            ),
                        },
                    ),
                    "maxConnectionDuration": duration(
                        "The maximum duration of a connection. Unset means no limit."
                    ),
                    "idleTimeout": duration(
                        "The idle timeout for TCP connections: how long a connection may send "
                        "and receive no bytes before it is closed. Defaults to 1h."
                    ),
                },
            ),
            "http": obj(
                "HTTP connection pool settings.",
                {
                    "http1MaxPendingRequests": int32(
                        "Maximum number of requests that will be queued while waiting for a "
                        "ready connection pool connection. Defaults to 2^32-1."
                    ),
                    "http2MaxRequests": int32(
                        "Maximum number of active requests to a destination. Defaults to 2^32-1."
                    ),
                    "maxRequestsPerConnection": int32(
                        "Maximum number of requests per connection to a backend. 1 disables "
                        "keep-alive; 0 means unlimited."
                    ),
                    "maxRetries": int32(
                        "Maximum number of retries that can be outstanding to all hosts in a "
                        "cluster at a given time. Defaults to 2^32-1."
                    ),
                    "idleTimeout": duration(
                        "The idle timeout for upstream connection pool connections: how long "
                        "a connection may have no active requests before it is closed. "
                        "Defaults to 1h."
                    ),
                    "h2UpgradePolicy": enum(
                        "Whether HTTP/1.1 connections to the destination should be upgraded "
                        "to HTTP/2: DEFAULT (the mesh-wide setting), DO_NOT_UPGRADE or UPGRADE.",
                        ["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"],
                    ),
                    "useClientProtocol": boolean(
                        "If true, the client's protocol is preserved when connecting to the "
                        "backend; h2UpgradePolicy then has no effect."
                    ),
                    "maxConcurrentStreams": int32(
                        "The maximum number of concurrent streams allowed for a peer on one "
                        "HTTP/2 connection. Defaults to 2^31-1."
                    ),
                },
            ),
        },
    )


def outlier_detection():
    return obj(
        "Settings controlling the eviction of unhealthy hosts from the load balancing pool.",
        {
            "splitExternalLocalOriginErrors": boolean(
                "Whether to distinguish local origin failures (timeouts, connection resets) "
                "from external errors (5xx responses)."
            ),
            "consecutiveLocalOriginFailures": uint32(
                "Number of consecutive locally originated failures before ejection occurs. "
                "Only used with splitExternalLocalOriginErrors.",
                nullable=True,
            ),
            "consecutiveGatewayErrors": uint32(
                "Number of gateway errors (502, 503, 504) before a host is ejected from the "
                "connection pool. 0 disables this check.",
                nullable=True,
            ),
            "consecutive5xxErrors": uint32(
                "Number of 5xx errors before a host is ejected from the connection pool. 0 "
                "disables this check. Defaults to 5.",
                nullable=True,
            ),
            "interval": duration("Time interval between ejection sweep analysis. Defaults to 10s."),
            "baseEjectionTime": duration(
                "Minimum ejection duration. A host stays ejected for this time multiplied by "
                "the number of times it has been ejected. Defaults to 30s."
            ),
            "maxEjectionPercent": int32(
                "Maximum percentage of hosts in the load balancing pool that can be ejected. "
                "Defaults to 10."
            ),
            "minHealthPercent": int32(
                "Outlier detection is enabled only while at least this percentage of the "
                "hosts in the load balancing pool are healthy. Defaults to 0."
            ),
            "consecutiveErrors": int32(
                "Deprecated: use consecutiveGatewayErrors or consecutive5xxErrors."
            ),
        },
    )


def client_tls():
    return obj(
        "TLS related settings for connections to the upstream service.",
        {
            "mode": enum(
                "Whether connections to this port should be secured using TLS: DISABLE, "
                "SIMPLE (originate TLS), MUTUAL (mutual TLS with the certificates given "
                "here) or ISTIO_MUTUAL (mutual TLS with mesh-issued certificates).",
                ["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"],
            ),
            "clientCertificate": string(
                "Path to the file holding the client-side TLS certificate. Required if mode "
                "is MUTUAL and credentialName is not set."
            ),
            "privateKey": string(
                "Path to the file holding the client's private key. Required if mode is "
                "MUTUAL and credentialName is not set."
            ),
            "caCertificates": string(
                "Path to the file of certificate authority certificates used to verify the "
                "server certificate."
            ),
            "caCrl": string(
                "Path to the file of the certificate revocation list (CRL) used in verifying "
                "the server certificate."
            ),
            "credentialName": string(
                "The name of the Secret that holds the TLS certificates for the client, "
                "including the CA certificates; used instead of the file paths."
            ),
            "subjectAltNames": strings(
                "A list of alternate names to verify the subject identity in the server "
                "certificate. Overrides the ServiceEntry's subjectAltNames."
            ),
            "sni": string("SNI string to present to the server during the TLS handshake."),
            "insecureSkipVerify": boolean(
                "Whether to skip verifying the CA signature and the SAN of the server "
                "certificate.",
                nullable=True,
            ),
        },
    )


def traffic_policy(desc):
    port_level = obj(
        None,
        {
            "port": port_selector(
                "The port on the destination service to which this policy applies."
            ),
            "loadBalancer": load_balancer(),
            "connectionPool": connection_pool(),
            "outlierDetection": outlier_detection(),
            "tls": client_tls(),
        },
    )
    return obj(
        desc,
        {
            "loadBalancer": load_balancer(),
            "connectionPool": connection_pool(),
            "outlierDetection": outlier_detection(),
            "tls": client_tls(),
            "portLevelSettings": array(
                "Traffic policies specific to individual ports. They override the "
                "destination-level settings.",
                port_level,
            ),
            "tunnel": obj(
                "Tunneling of TCP over other transport or application layers for the host "
                "of this DestinationRule.",
                {
                    "protocol": string(
                        "Protocol used to tunnel the downstream connection: CONNECT (the "
                        "default) or POST."
                    ),
                    "targetHost": string(
                        "Host to which the downstream connection is tunneled: an FQDN or an "
                        "IP address."
                    ),
                    "targetPort": uint32("Port to which the downstream connection is tunneled."),
                },
                required=["targetHost", "targetPort"],
            ),
            "proxyProtocol": obj(
                "The upstream PROXY protocol settings.",
                {
                    "version": enum(
                        "The PROXY protocol version to use: V1 (text) or V2 (binary).",
                        ["V1", "V2"],
                    )
                },
            ),
            "retryBudget": obj(
                "A limit on concurrent retries in relation to the number of active requests.",
                {
                    "percent": number(
                        "The limit on concurrent retries as a percentage of the sum of active "
                        "and pending requests. Defaults to 20.",
                        minimum=0,
                        maximum=100,
                        nullable=True,
                    ),
                    "minRetryConcurrency": uint32(
                        "The minimum retry concurrency allowed for the retry budget. Defaults to 3."
                    ),
                },
            ),
        },
    )


def destination_rule_spec():
    return obj(
        "Policies that apply to traffic for a service after routing has occurred: load "
        "balancing, connection pool sizes, outlier detection, TLS, and named subsets of "
        "its endpoints. See "
        "https://istio.io/latest/docs/reference/config/networking/destination-rule/",
        {
            "host": string(
                "The name of a service from the service registry: a Kubernetes Service "
                "(short names are resolved in the rule's namespace) or a host declared by a "
                "ServiceEntry."
            ),
            "trafficPolicy": traffic_policy(
                "Traffic policies to apply (load balancing policy, connection pool sizes, "
                "outlier detection)."
            ),
            "subsets": array(
                "One or more named sets that represent individual versions of a service. "
                "Traffic policies can be overridden at subset level.",
                obj(
                    None,
                    {
                        "name": string(
                            "Name of the subset. The service name and the subset name can be "
                            "used for traffic splitting in a route rule."
                        ),
                        "labels": string_map(
                            "Labels apply a filter over the endpoints of a service in the "
                            "service registry."
                        ),
                        "trafficPolicy": traffic_policy(
                            "Traffic policies that apply to this subset. They override the "
                            "ones of the DestinationRule."
                        ),
                    },
                    required=["name"],
                ),
            ),
            "exportTo": strings(
                "A list of namespaces to which this destination rule is exported: . for the "
                "same namespace, * for all namespaces (the default)."
            ),
            "workloadSelector": workload_selector(
                "Criteria used to select the pods/VMs on which this DestinationRule applies. "
                "When omitted it applies to all workloads that can see it."
            ),
        },
        required=["host"],
    )


# --------------------------------------------------------------------------
# networking.istio.io: ServiceEntry
# --------------------------------------------------------------------------


def service_entry_spec():
    endpoint = obj(
        None,
        {
            "address": string(
                "Address of the network endpoint without the port: an IP address, a DNS "
                "name, or unix:///absolute/path for a Unix domain socket."
            ),
            "ports": {
                "description": (
                    "Ports of the endpoint, keyed by the name of the service port they "
                    "serve. They override the service's port numbers."
                ),
                "type": "object",
                "additionalProperties": {"type": "integer", "minimum": 0, "maximum": U32_MAX},
            },
            "labels": string_map("One or more labels associated with the endpoint."),
            "network": string(
                "The network the endpoint is in. Endpoints in the same network are assumed "
                "to be directly reachable from one another."
            ),
            "locality": string(
                "The locality associated with the endpoint, as region/zone/subzone."
            ),
            "weight": uint32(
                "The load balancing weight of the endpoint. Endpoints with higher weights "
                "receive proportionally more traffic."
            ),
            "serviceAccount": string(
                "The service account of the workload, if a sidecar is present in it."
            ),
        },
    )
    port = obj(
        None,
        {
            "number": uint32("A valid non-negative integer port number."),
            "protocol": string(
                "The protocol exposed on the port: HTTP, HTTPS, GRPC, HTTP2, MONGO, TCP or "
                "TLS. TLS connections are routed on SNI without terminating TLS."
            ),
            "name": string("Label assigned to the port."),
            "targetPort": uint32(
                "The port number on the endpoint where the traffic will be received. "
                "Defaults to number."
            ),
        },
        required=["number", "name"],
    )
    return obj(
        "Adds an entry to the mesh's service registry, so that services the platform "
        "does not know of (external APIs, VMs, other clusters) can be routed to and "
        "secured like mesh services. See "
        "https://istio.io/latest/docs/reference/config/networking/service-entry/",
        {
            "hosts": strings(
                "The hosts associated with the ServiceEntry: DNS names, with a wildcard "
                "prefix allowed. HTTP traffic is matched on the Host/Authority header, "
                "HTTPS and TLS traffic on SNI.",
                minItems=1,
            ),
            "addresses": strings(
                "The virtual IP addresses or CIDR prefixes associated with the service. "
                "Non-HTTP traffic is matched on them."
            ),
            "ports": array(
                "The ports associated with the external service.",
                port,
                **{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
            ),
            "location": enum(
                "Whether the service is external to the mesh (MESH_EXTERNAL: no mutual TLS, "
                "policy enforced on the client side) or part of the mesh (MESH_INTERNAL).",
                ["MESH_EXTERNAL", "MESH_INTERNAL"],
            ),
            "resolution": enum(
                "Service discovery mode for the hosts: NONE (connect to the address the "
                "caller used), STATIC (use the endpoints' addresses), DNS (resolve the "
                "hosts or endpoint names, use every address), DNS_ROUND_ROBIN (use the "
                "first address returned) or DYNAMIC_DNS (resolve at request time; allows "
                "wildcard hosts).",
                ["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"],
            ),
            "endpoints": array(
                "One or more endpoints associated with the service. Only one of endpoints "
                "or workloadSelector can be set.",
                endpoint,
            ),
            "workloadSelector": obj(
                "Selects pods and WorkloadEntries as the endpoints of a MESH_INTERNAL "
                "service. Only one of endpoints or workloadSelector can be set.",
                {
                    "labels": string_map(
                        "One or more labels that indicate a specific set of pods/VMs on "
                        "which the configuration should be applied."
                    )
                },
            ),
            "exportTo": strings(
                "A list of namespaces to which this service is exported: . for the same "
                "namespace, * for all namespaces (the default)."
            ),
            "subjectAltNames": strings(
                "If specified, the proxy verifies that the server certificate's subject "
                "alternate name matches one of these values."
            ),
        },
        required=["hosts"],
    )


# --------------------------------------------------------------------------
# security.istio.io
# --------------------------------------------------------------------------


def authorization_policy_spec():
    src = {}
    for key, neg, desc, what in [
        (
            "principals",
            "notPrincipals",
            "Peer identities, derived from the peer certificate, e.g. "
            "cluster.local/ns/default/sa/productpage. Requires mutual TLS. Prefix, suffix "
            "and presence (*) matches are supported.",
            "peer identities",
        ),
        (
            "requestPrincipals",
            "notRequestPrincipals",
            "Request identities, <iss>/<sub> of a validated JWT, e.g. "
            "example.com/sub-1. Prefix, suffix and presence (*) matches are supported.",
            "request identities",
        ),
        (
            "namespaces",
            "notNamespaces",
            "Namespaces of the source workloads, derived from the peer certificate. "
            "Requires mutual TLS.",
            "namespaces",
        ),
        (
            "serviceAccounts",
            "notServiceAccounts",
            "Service accounts of the source workloads, as <namespace>/<name>. Cannot be "
            "combined with namespaces or principals.",
            "service accounts",
        ),
        (
            "ipBlocks",
            "notIpBlocks",
            "IP addresses or CIDR blocks, matched against the source address of the IP "
            "packet, e.g. 203.0.113.4 or 10.1.0.0/16.",
            "IP blocks",
        ),
        (
            "remoteIpBlocks",
            "notRemoteIpBlocks",
            "IP addresses or CIDR blocks of the original client, taken from the "
            "X-Forwarded-For header or the PROXY protocol.",
            "remote IP blocks",
        ),
    ]:
        src[key] = strings(desc)
        src[neg] = strings("Negative match of " + what + ".")

    op = {}
    for key, neg, desc, what in [
        (
            "hosts",
            "notHosts",
            "Hosts as specified in the HTTP request (Host header), matched "
            "case-insensitively. HTTP only.",
            "hosts",
        ),
        ("ports", "notPorts", "Destination ports, as strings, e.g. \"8080\".", "ports"),
        (
            "methods",
            "notMethods",
            "HTTP methods, e.g. GET; for gRPC always POST. HTTP only.",
            "methods",
        ),
        (
            "paths",
            "notPaths",
            "HTTP request paths or gRPC methods (/package.service/method). Prefix, suffix "
            "and presence (*) matches are supported. HTTP only.",
            "paths",
        ),
    ]:
        op[key] = strings(desc)
        op[neg] = strings("Negative match of " + what + ".")

    rule = obj(
        None,
        {
            "from": array(
                "Sources of the request; if not set, any source is allowed. The rule "
                "matches if any of the sources matches.",
                obj(None, {"source": obj("Source specifies the source of a request.", src)}),
            ),
            "to": array(
                "Operations of the request; if not set, any operation is allowed. The rule "
                "matches if any of the operations matches.",
                obj(None, {"operation": obj("Operation specifies the operation of a request.", op)}),
            ),
            "when": array(
                "Additional conditions of the request; if not set, any condition is allowed. "
                "All conditions must match.",
                obj(
                    None,
                    {
                        "key": string(
                            "The name of an Istio attribute, e.g. request.headers[User-Agent], "
                            "source.ip or request.auth.claims[iss]."
                        ),
                        "values": strings(
                            "A list of allowed values for the attribute. At least one of "
                            "values or notValues must be set."
                        ),
                        "notValues": strings("A list of negative match values for the attribute."),
                    },
                    required=["key"],
                ),
            ),
        },
    )

    return obj(
        "Access control for workloads: the action to take (ALLOW, DENY, AUDIT or CUSTOM) "
        "on requests that match the rules. See "
        "https://istio.io/latest/docs/reference/config/security/authorization-policy/",
        {
            "selector": workload_selector(
                "The workloads this policy applies to. If not set, it applies to all "
                "workloads in its namespace, or in the mesh when in the root namespace."
            ),
            "targetRef": policy_target_ref(
                "The resource this policy is attached to, e.g. a Gateway or a Service. "
                "Mutually exclusive with selector and targetRefs."
            ),
            "targetRefs": array(
                "The resources this policy is attached to. Mutually exclusive with selector "
                "and targetRef.",
                policy_target_ref(None),
            ),
            "rules": array(
                "A list of rules to match the request. A match occurs when at least one rule "
                "matches. If not set, no request matches: an ALLOW policy then denies all "
                "requests to its workloads.",
                rule,
            ),
            "action": enum(
                "The action to take if the request matches the rules: ALLOW (the default), "
                "DENY, AUDIT or CUSTOM (delegate to the provider).",
                ["ALLOW", "DENY", "AUDIT", "CUSTOM"],
            ),
            "provider": obj(
                "The extension provider used by the CUSTOM action.",
                {
                    "name": string(
                        "The name of the extension provider, as defined in the mesh "
                        "configuration."
                    )
                },
            ),
        },
    )


MTLS_MODES = ["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]
MTLS_MODE_DESC = (
    "The mutual TLS mode: UNSET (inherit from the parent policy, PERMISSIVE if there is "
    "none), DISABLE (plaintext only), PERMISSIVE (plaintext or mutual TLS) or STRICT "
    "(mutual TLS only)."
)


def peer_authentication_spec():
    return obj(
        "The mutual TLS mode for traffic received by the selected workloads. See "
        "https://istio.io/latest/docs/reference/config/security/peer_authentication/",
        {
            "selector": workload_selector(
                "The workloads this policy applies to. If not set, it applies to all "
                "workloads in its namespace, or in the mesh when in the root namespace."
            ),
            "mtls": obj(
                "Mutual TLS settings for the workload. If not set, they are inherited from "
                "the namespace-wide or mesh-wide policy.",
                {"mode": enum(MTLS_MODE_DESC, MTLS_MODES)},
            ),
            "portLevelMtls": {
                "description": (
                    "Port specific mutual TLS settings, keyed by the workload's port number "
                    "(the container port, not the Service port). Only valid with a selector."
                ),
                "type": "object",
                "additionalProperties": obj(None, {"mode": enum(MTLS_MODE_DESC, MTLS_MODES)}),
            },
        },
    )


def request_authentication_spec():
    jwt_rule = obj(
        None,
        {
            "issuer": string("Identifies the issuer that issued the JWT (its iss claim)."),
            "audiences": strings(
                "The JWT audiences (aud claim) that are allowed to access. If empty, the "
                "service name is accepted."
            ),
            "jwksUri": string(
                "URL of the provider's public key set (JWKS) used to validate the signature "
                "of the JWT. If neither jwksUri nor jwks is set, OpenID discovery on the "
                "issuer is used."
            ),
            "jwks_uri": string("Deprecated spelling of jwksUri."),
            "jwks": string(
                "JSON Web Key Set of public keys to validate the signature of the JWT, "
                "given inline. Takes precedence over jwksUri."
            ),
            "fromHeaders": array(
                "Header locations from which the JWT is read. Defaults to "
                "Authorization: Bearer <token>.",
                obj(
                    None,
                    {
                        "name": string("The HTTP header name."),
                        "prefix": string(
                            "The prefix to strip before decoding the token, e.g. \"Bearer \"."
                        ),
                    },
                    required=["name"],
                ),
            ),
            "fromParams": strings(
                "Query parameters from which the JWT is read, e.g. access_token."
            ),
            "fromCookies": strings("Cookie names from which the JWT is read."),
            "outputPayloadToHeader": string(
                "Header in which the base64url-encoded payload of a verified JWT is passed to "
                "the backend."
            ),
            "forwardOriginalToken": boolean(
                "If true, the original token is kept in the request forwarded upstream; by "
                "default it is removed."
            ),
            "outputClaimToHeaders": array(
                "Claims of a verified token to copy into HTTP request headers.",
                obj(
                    None,
                    {
                        "header": string("The name of the header to be created."),
                        "claim": string(
                            "The name of the claim to be copied from; nested claims are "
                            "separated by '.'."
                        ),
                    },
                    required=["header", "claim"],
                ),
            ),
            "timeout": duration(
                "How long to wait for the JWKS to be fetched. Defaults to 5s."
            ),
        },
    )
    return obj(
        "Request (JWT) authentication for the selected workloads: which tokens are "
        "accepted and how they are validated. A request with an invalid token is "
        "rejected; a request without a token is accepted but has no authenticated "
        "identity. See "
        "https://istio.io/latest/docs/reference/config/security/request_authentication/",
        {
            "selector": workload_selector(
                "The workloads this policy applies to. If not set, it applies to all "
                "workloads in its namespace, or in the mesh when in the root namespace."
            ),
            "targetRef": policy_target_ref(
                "The resource this policy is attached to, e.g. a Gateway. Mutually "
                "exclusive with selector and targetRefs."
            ),
            "targetRefs": array(
                "The resources this policy is attached to. Mutually exclusive with selector "
                "and targetRef.",
                policy_target_ref(None),
            ),
            "jwtRules": array(
                "The JWTs that can be validated at the selected workloads' proxy.", jwt_rule
            ),
        },
    )


# --------------------------------------------------------------------------
# policy.weir.dev: RateLimitPolicy
# --------------------------------------------------------------------------


def rate_limit_policy_spec():
    match = obj(
        "Which requests count against this limit. All the conditions given must hold; "
        "if match is omitted, every request counts.",
        {
            "route": string(
                "OUTBOUND only: the name of the VirtualService HTTP route (http[].name) the "
                "request was routed by. A namespace where no such route is visible does not "
                "apply the limit."
            ),
            "port": int32(
                "The service port (OUTBOUND) or the workload's container port (INBOUND).",
                minimum=1,
                maximum=65535,
            ),
            "path": string_match("The request path without its query string."),
            "methods": strings("HTTP methods in upper case, e.g. GET or POST; any of them matches."),
            "headers": {
                "description": (
                    "Request headers that must be present and match, keyed by header name "
                    "(case-insensitive); exact, prefix or regex."
                ),
                "type": "object",
                "additionalProperties": string_match(None),
            },
        },
    )
    bucket = obj(
        "Token bucket: it starts full with maxTokens tokens, each request takes one, and "
        "tokensPerFill tokens are added every fillInterval, up to maxTokens.",
        {
            "maxTokens": {
                "description": "Capacity of the bucket: the largest burst allowed.",
                "type": "integer",
                "format": "int64",
                "minimum": 1,
                "maximum": U32_MAX,
            },
            "tokensPerFill": {
                "description": "Tokens added to the bucket at every fill.",
                "type": "integer",
                "format": "int64",
                "minimum": 1,
                "maximum": U32_MAX,
            },
            "fillInterval": duration(
                "Time between two fills, at least 1ms; rounded up to whole milliseconds."
            ),
        },
        required=["maxTokens", "tokensPerFill", "fillInterval"],
    )
    descriptor = obj(
        None,
        {
            "kind": enum(
                "The request attribute: a header's value, the path, the method, the "
                "downstream source IP address, or the peer's mutual TLS identity (empty for "
                "plain-text peers).",
                ["header", "path", "method", "sourceIp", "sourcePrincipal"],
            ),
            "header": string(
                "kind header only: the header's name; a request without it uses the empty "
                "value."
            ),
        },
        required=["kind"],
    )
    limit = obj(
        None,
        {
            "name": string(
                "Name of the limit, a DNS label unique within the policy; the proxy reports "
                "it as <namespace>/<policy>.<name>."
            ),
            "match": match,
            "descriptors": array(
                "Request attributes whose combination of values selects a bucket, so that "
                "each client (or path, ...) gets its own; none: one bucket for every request "
                "that matches.",
                descriptor,
            ),
            "tokenBucket": bucket,
            "statusCode": int32(
                "HTTP status of a request refused for want of a token. Defaults to 429.",
                minimum=400,
                maximum=599,
            ),
            "maxBuckets": {
                "description": (
                    "Most buckets a proxy keeps for this limit; past it the least recently "
                    "used bucket is dropped, so clients with ever new keys cannot grow the "
                    "proxy's memory. Defaults to 10000."
                ),
                "type": "integer",
                "format": "int64",
                "minimum": 1,
                "maximum": 1000000,
            },
        },
        required=["name", "tokenBucket"],
    )
    return obj(
        "Local rate limits enforced by the Weir proxy of the selected workloads, on the "
        "requests they receive (INBOUND) or send (OUTBOUND). Each limit is a token bucket "
        "kept by every proxy on its own. A policy in the mesh root namespace applies in every "
        "namespace.",
        {
            "selector": workload_selector(
                "The workloads this policy applies to. If not set, it applies to all "
                "workloads in its namespace (every workload of the mesh for the root "
                "namespace)."
            ),
            "direction": enum(
                "Which requests are limited: INBOUND, those the workload receives (the "
                "default), or OUTBOUND, those it sends.",
                ["INBOUND", "OUTBOUND"],
            ),
            "limits": array(
                "The rate limits. A request is checked against every limit it matches and "
                "is refused if any of them has no token left.",
                limit,
                minItems=1,
            ),
        },
        required=["limits"],
    )


# --------------------------------------------------------------------------
# The CRDs
# --------------------------------------------------------------------------

AGE_COLUMN = {
    "name": "Age",
    "type": "date",
    "jsonPath": ".metadata.creationTimestamp",
    "description": "Time since the resource was created.",
}


def column(name, path, desc):
    return {"name": name, "type": "string", "jsonPath": path, "description": desc}


KINDS = [
    {
        "group": "networking.istio.io",
        "kind": "VirtualService",
        "plural": "virtualservices",
        "short": ["vs"],
        "categories": ["istio-io", "networking-istio-io"],
        "versions": ["v1", "v1beta1", "v1alpha3"],
        "spec": virtual_service_spec,
        "spec_required": False,
        "columns": [
            column(
                "Gateways",
                ".spec.gateways",
                "The names of gateways and sidecars that should apply these routes.",
            ),
            column("Hosts", ".spec.hosts", "The destination hosts to which traffic is being sent."),
        ],
    },
    {
        "group": "networking.istio.io",
        "kind": "DestinationRule",
        "plural": "destinationrules",
        "short": ["dr"],
        "categories": ["istio-io", "networking-istio-io"],
        "versions": ["v1", "v1beta1", "v1alpha3"],
        "spec": destination_rule_spec,
        "spec_required": False,
        "columns": [column("Host", ".spec.host", "The name of a service from the service registry.")],
    },
    {
        "group": "networking.istio.io",
        "kind": "ServiceEntry",
        "plural": "serviceentries",
        "short": ["se"],
        "categories": ["istio-io", "networking-istio-io"],
        "versions": ["v1", "v1beta1", "v1alpha3"],
        "spec": service_entry_spec,
        "spec_required": True,
        "columns": [
            column("Hosts", ".spec.hosts", "The hosts associated with the ServiceEntry."),
            column(
                "Location",
                ".spec.location",
                "Whether the service is external to the mesh or part of it "
                "(MESH_EXTERNAL or MESH_INTERNAL).",
            ),
            column(
                "Resolution",
                ".spec.resolution",
                "Service discovery mode for the hosts (NONE, STATIC, DNS, ...).",
            ),
        ],
    },
    {
        "group": "security.istio.io",
        "kind": "AuthorizationPolicy",
        "plural": "authorizationpolicies",
        "short": ["ap"],
        "categories": ["istio-io", "security-istio-io"],
        "versions": ["v1", "v1beta1"],
        "spec": authorization_policy_spec,
        "spec_required": False,
        "columns": [column("Action", ".spec.action", "The action to take on matching requests.")],
    },
    {
        "group": "security.istio.io",
        "kind": "PeerAuthentication",
        "plural": "peerauthentications",
        "short": ["pa"],
        "categories": ["istio-io", "security-istio-io"],
        "versions": ["v1", "v1beta1"],
        "spec": peer_authentication_spec,
        "spec_required": False,
        "columns": [
            column("Mode", ".spec.mtls.mode", "The mutual TLS mode used for peer authentication.")
        ],
    },
    {
        "group": "security.istio.io",
        "kind": "RequestAuthentication",
        "plural": "requestauthentications",
        "short": ["ra"],
        "categories": ["istio-io", "security-istio-io"],
        "versions": ["v1", "v1beta1"],
        "spec": request_authentication_spec,
        "spec_required": False,
        "columns": [],
    },
    {
        "group": "policy.weir.dev",
        "kind": "RateLimitPolicy",
        "plural": "ratelimitpolicies",
        "short": [],
        "categories": ["weir", "policy-weir-dev"],
        "versions": ["v1alpha1"],
        "spec": rate_limit_policy_spec,
        "spec_required": True,
        "columns": [],
    },
]


def crd(k):
    root = obj(
        k["kind"] + " (" + k["group"] + "). " + k["spec"]()["description"].split(" See ")[0],
        {
            "apiVersion": string(
                "APIVersion defines the versioned schema of this representation of an object."
            ),
            "kind": string("Kind is a string value representing the REST resource this object represents."),
            "metadata": {"type": "object"},
            "spec": k["spec"](),
            "status": status_schema(),
        },
        required=["spec"] if k["spec_required"] else None,
    )
    versions = []
    for i, v in enumerate(k["versions"]):
        versions.append(
            {
                "name": v,
                "served": True,
                "storage": i == 0,
                "schema": {"openAPIV3Schema": copy.deepcopy(root)},
                "subresources": {"status": {}},
                "additionalPrinterColumns": copy.deepcopy(k["columns"]) + [dict(AGE_COLUMN)],
            }
        )
    names = {
        "kind": k["kind"],
        "listKind": k["kind"] + "List",
        "plural": k["plural"],
        "singular": k["kind"].lower(),
    }
    if k["short"]:
        names["shortNames"] = list(k["short"])
    names["categories"] = list(k["categories"])
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": k["plural"] + "." + k["group"],
            "labels": {"app.kubernetes.io/part-of": "weir"},
        },
        "spec": {
            "group": k["group"],
            "names": names,
            "scope": "Namespaced",
            "versions": versions,
        },
    }


# --------------------------------------------------------------------------
# Deterministic YAML emitter (block style, two-space indent)
# --------------------------------------------------------------------------

# Keys of a schema node in the order a reader expects them.
SCHEMA_KEY_ORDER = [
    "description",
    "type",
    "format",
    "enum",
    "minimum",
    "maximum",
    "minItems",
    "nullable",
    "anyOf",
    "x-kubernetes-int-or-string",
    "properties",
    "additionalProperties",
    "items",
    "required",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-preserve-unknown-fields",
]

# A plain (unquoted) scalar: starts with a letter, '_' or '/', and holds no
# character that could end it or start a comment, flow collection or quote.
_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9 _./()',;*<>=+?!&%@^$|\\-]*$")
_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        if _PLAIN.match(v) and not v.endswith(" ") and v.lower() not in _RESERVED:
            return v
        return json.dumps(v, ensure_ascii=True)
    raise TypeError("cannot emit %r" % (v,))


def order_schema(node, in_properties=False):
    """Sort property names and put schema keywords in a fixed order."""
    if isinstance(node, list):
        return [order_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    if in_properties:
        return {k: order_schema(node[k]) for k in sorted(node)}
    out = {}
    for k in SCHEMA_KEY_ORDER:
        if k in node:
            out[k] = order_schema(node[k], in_properties=(k == "properties"))
    for k in sorted(node):
        if k not in out:
            out[k] = order_schema(node[k])
    return out


def emit(node, indent=0):
    sp = " " * indent
    lines = []
    if isinstance(node, dict):
        for k, v in node.items():
            key = scalar(k)
            if isinstance(v, dict) and v:
                lines.append(sp + key + ":")
                lines.extend(emit(v, indent + 2))
            elif isinstance(v, list) and v:
                lines.append(sp + key + ":")
                lines.extend(emit(v, indent))
            elif isinstance(v, dict):
                lines.append(sp + key + ": {}")
            elif isinstance(v, list):
                lines.append(sp + key + ": []")
            else:
                lines.append(sp + key + ": " + scalar(v))
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict) and item:
                sub = emit(item, indent + 2)
                sub[0] = sp + "- " + sub[0][indent + 2 :]
                lines.extend(sub)
            elif isinstance(item, (dict, list)) and not item:
                lines.append(sp + "- " + ("{}" if isinstance(item, dict) else "[]"))
            elif isinstance(item, list):
                raise TypeError("nested lists are not used in CRDs")
            else:
                lines.append(sp + "- " + scalar(item))
    else:
        raise TypeError("top level must be a mapping or a list")
    return lines


HEADER = (
    "# Generated by scripts/gen-crds.py; do not edit by hand.\n"
    "# Regenerate with: python3 scripts/gen-crds.py\n"
)


def render(k):
    doc = crd(k)
    for v in doc["spec"]["versions"]:
        v["schema"]["openAPIV3Schema"] = order_schema(v["schema"]["openAPIV3Schema"])
    text = HEADER + "---\n" + "\n".join(emit(doc)) + "\n"
    try:  # Round-trip check where PyYAML happens to be installed.
        import yaml  # noqa: PLC0415

        assert yaml.safe_load(text) == doc, "emitter round trip failed for " + k["kind"]
    except ImportError:
        pass
    return doc, text


def outputs():
    files = {}
    for k in KINDS:
        _, text = render(k)
        files[k["group"] + "_" + k["plural"] + ".yaml"] = text
    return files


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if crds/ is out of date")
    ap.add_argument("--out", help="output directory (default: crds/ and charts/weir/crds/)")
    args = ap.parse_args()
    # the chart installs the same files from its own crds/ folder (Helm's rule)
    outs = [args.out] if args.out else [os.path.join(root, "crds"),
                                        os.path.join(root, "charts", "weir", "crds")]

    files = outputs()
    if args.check:
        stale = []
        for out in outs:
            for name, text in sorted(files.items()):
                path = os.path.join(out, name)
                try:
                    with open(path, encoding="utf-8") as f:
                        if f.read() == text:
                            continue
                except FileNotFoundError:
                    pass
                stale.append(path)
        if stale:
            for p in stale:
                print("gen-crds: out of date: " + p, file=sys.stderr)
            print("gen-crds: run python3 scripts/gen-crds.py and commit the result", file=sys.stderr)
            return 1
        print("gen-crds: %d CRDs up to date in %s" % (len(files), ", ".join(os.path.relpath(o) for o in outs)))
        return 0

    for out in outs:
        os.makedirs(out, exist_ok=True)
        for name, text in sorted(files.items()):
            path = os.path.join(out, name)
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
            print("wrote " + os.path.relpath(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
