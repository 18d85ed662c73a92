#!/usr/bin/env python3
"""Writes a mesh's cluster state for the operator scale benchmark.

The default size is the operator's scale target: 1,000 namespaces, 10 Services each (10,000),
two VirtualServices and two DestinationRules per namespace (2,000 of each).
Every Service has two ports (http 8080, grpc 9090) and two pods, one per
version (v1, v2), behind one EndpointSlice; the VirtualServices split traffic
between the versions with a header match, retries and a timeout; the
DestinationRules define the two subsets with a traffic policy.

Visibility (--visibility): "mesh" (the default) restricts nothing with
exportTo, so every service is visible in every namespace, the largest config a
mesh of that size can give. "namespace" is how a large mesh is usually run:
each namespace's Services, VirtualServices and DestinationRules are exported
to their own namespace (exportTo "."), except those of the first
--shared-namespaces namespaces (default 10: the platform's shared services),
which every namespace sees.

Output: a multi-document YAML stream whose documents are single-line JSON
objects (JSON is YAML), "---" between them: Namespaces, then per namespace its
Services, Pods, EndpointSlices, VirtualServices and DestinationRules.
`kubectl apply -f` and `weirctl render -f` read it as YAML; translate_bench
reads each line with jansson, which is much faster at this size. The same
arguments give the same bytes.

With --service-accounts, each Service's ServiceAccount is written too, so
that the Pods pass the API server's admission (apply.sh); the translation
does not read them.

Usage: gen.py [--namespaces N] [--services-per-ns N] [--vs-per-ns N]
              [--dr-per-ns N] [--visibility mesh|namespace]
              [--shared-namespaces N] [--service-accounts] [-o FILE]
"""
import argparse
import json
import sys

NAMES = ["api", "auth", "billing", "cache", "cart", "db", "orders", "search", "users", "web"]
CREATED = "2024-01-01T00:00:00Z"


def service_name(i):
    """Ten familiar names, then numbered ones: real meshes reuse names across
    namespaces, which scatters a namespace's own services through the sorted
    host list."""
    return NAMES[i] if i < len(NAMES) else f"svc-{i}"


def ns_name(n):
    return f"ns-{n:04d}"


def cluster_ip(index):
    """In the local cluster's service range (10.96.0.0/16), past the addresses
    the cluster's own Services take."""
    index += 16
    if index >= 65535:
        raise SystemExit("gen.py: more Services than 10.96.0.0/16 holds")
    return f"10.96.{index >> 8}.{index & 255}"


def pod_ip(index):
    """Pod addresses from 10.128.0.1 up (data only: nothing is routed to them)."""
    index += 1
    return f"10.{128 + (index >> 16)}.{(index >> 8) & 255}.{index & 255}"


PORTS = [("http", 8080), ("grpc", 9090)]
VERSIONS = ["v1", "v2"]


def objects(args):
    svc_index = 0
    pod_index = 0
    for n in range(args.namespaces):
        ns = ns_name(n)
        private = args.visibility == "namespace" and n >= args.shared_namespaces
        yield {"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": ns, "labels": {"istio-injection": "enabled"}}}
        for s in range(args.services_per_ns):
            name = service_name(s)
            if args.service_accounts:
                yield {"apiVersion": "v1", "kind": "ServiceAccount",
                       "metadata": {"name": name, "namespace": ns}}
            addr = cluster_ip(svc_index)
            svc_index += 1
            meta = {"name": name, "namespace": ns, "labels": {"app": name}}
            if private:
                meta["annotations"] = {"networking.istio.io/exportTo": "."}
            yield {"apiVersion": "v1", "kind": "Service",
                   "metadata": meta,
                   "spec": {"selector": {"app": name}, "type": "ClusterIP",
                            "clusterIP": addr, "clusterIPs": [addr],
                            "ports": [{"name": pn, "port": pp, "targetPort": pp, "protocol": "TCP"}
                                      for pn, pp in PORTS]}}
            endpoints = []
            for v in VERSIONS:
                pod = f"{name}-{v}"
                addr = pod_ip(pod_index)
                pod_index += 1
                yield {"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": pod, "namespace": ns,
                                    "labels": {"app": name, "version": v}},
                       "spec": {"serviceAccountName": name,
                                "containers": [{"name": "app", "image": "registry.local/app:1",
                                                "ports": [{"name": pn, "containerPort": pp}
                                                          for pn, pp in PORTS]}]},
                       "status": {"phase": "Running", "podIP": addr,
                                  "podIPs": [{"ip": addr}]}}
                endpoints.append({"addresses": [addr], "conditions": {"ready": True},
                                  "targetRef": {"kind": "Pod", "namespace": ns, "name": pod}})
            yield {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                   "metadata": {"name": f"{name}-x1", "namespace": ns,
                                "labels": {"kubernetes.io/service-name": name}},
                   "addressType": "IPv4",
                   "ports": [{"name": pn, "port": pp, "protocol": "TCP"} for pn, pp in PORTS],
                   "endpoints": endpoints}
        for s in range(min(args.vs_per_ns, args.services_per_ns)):
            name = service_name(s)
            vs = virtual_service(ns, name, 90)
            if private:
                vs["spec"]["exportTo"] = ["."]
            yield vs
        for s in range(min(args.dr_per_ns, args.services_per_ns)):
            name = service_name(s)
            yield {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                   "metadata": {"name": name, "namespace": ns, "generation": 1,
                                "creationTimestamp": CREATED},
                   "spec": {"host": name,
                            **({"exportTo": ["."]} if private else {}),
                            "trafficPolicy": {
                                "loadBalancer": {"simple": "LEAST_REQUEST"},
                                "connectionPool": {"http": {"http1MaxPendingRequests": 1024}},
                                "outlierDetection": {"consecutive5xxErrors": 5,
                                                     "interval": "10s",
                                                     "baseEjectionTime": "30s"}},
                            "subsets": [{"name": v, "labels": {"version": v}} for v in VERSIONS]}}


def virtual_service(ns, name, v1_weight, generation=1):
    """The VirtualService of one service; translate_bench.c changes v1_weight."""
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": name, "namespace": ns, "generation": generation,
                         "creationTimestamp": CREATED},
            "spec": {"hosts": [name],
                     "http": [
                         {"name": "canary",
                          "match": [{"headers": {"x-canary": {"exact": "1"}}}],
                          "route": [{"destination": {"host": name, "subset": "v2"}}]},
                         {"name": "split",
                          "route": [{"destination": {"host": name, "subset": "v1"},
                                     "weight": v1_weight},
                                    {"destination": {"host": name, "subset": "v2"},
                                     "weight": 100 - v1_weight}],
                          "timeout": "10s",
                          "retries": {"attempts": 3, "perTryTimeout": "2s",
                                      "retryOn": "5xx,connect-failure"}}]}}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--namespaces", type=int, default=1000)
    p.add_argument("--services-per-ns", type=int, default=10)
    p.add_argument("--vs-per-ns", type=int, default=2)
    p.add_argument("--dr-per-ns", type=int, default=2)
    p.add_argument("--visibility", choices=["mesh", "namespace"], default="mesh",
                   help="mesh: every service visible everywhere; namespace: exportTo \".\" "
                        "except the shared namespaces")
    p.add_argument("--shared-namespaces", type=int, default=10,
                   help="with --visibility namespace: how many namespaces stay visible to all")
    p.add_argument("--service-accounts", action="store_true",
                   help="write each Service's ServiceAccount too (for a real API server)")
    p.add_argument("-o", "--output", default="-", help="file to write (default: stdout)")
    args = p.parse_args()
    if args.namespaces < 1 or args.services_per_ns < 1:
        p.error("at least one namespace and one service per namespace")

    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
    for obj in objects(args):
        out.write("---\n")
        out.write(json.dumps(obj, separators=(",", ":"), sort_keys=True))
        out.write("\n")
    if out is not sys.stdout:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
