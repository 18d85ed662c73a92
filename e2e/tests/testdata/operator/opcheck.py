#!/usr/bin/env python3
"""Checks for e2e/tests/operator.sh that are easier in Python than in jq.

  opcheck.py config FILE NS TRUST_DOMAIN W1 W2 V1_IPS V2_IPS
      The proxy config FILE (the ConfigMap's proxy-config.json) serves NS:
      reviews.NS routes W1/W2 to its subsets v1/v2, whose clusters hold
      exactly the endpoint IPs given (comma-separated), and the trust domain
      is TRUST_DOMAIN.

  opcheck.py latency SERVER CA CERT KEY NS VS N
      N times: change the weights of VirtualService NS/VS with a merge patch
      straight to the API server and time how long until a watch on the
      ConfigMap NS/weir-proxy-config delivers a config with those weights.
      Prints every sample and the p50/p99 in ms; exits 1 when one took over
      10 s.

Only the standard library: the admin client certificate over TLS.
"""
import http.client
import json
import queue
import ssl
import sys
import threading
import time
import urllib.parse


def reviews_route(doc, ns):
    host = "reviews.%s.svc.cluster.local" % ns
    for svc in doc.get("services", []):
        if svc.get("host") == host:
            for port in svc.get("ports", []):
                if port.get("http"):
                    route = port["http"][0].get("route", [])
                    return {d["cluster"]: d["weight"] for d in route}
    return None


def check_config(path, ns, trust_domain, w1, w2, v1_ips, v2_ips):
    with open(path) as f:
        doc = json.load(f)
    problems = []
    md = doc.get("metadata", {})
    if doc.get("kind") != "ProxyConfig" or doc.get("apiVersion") != "proxy.weir.dev/v1":
        problems.append("not a proxy.weir.dev/v1 ProxyConfig")
    if md.get("namespace") != ns:
        problems.append("metadata.namespace is %r, want %r" % (md.get("namespace"), ns))
    if md.get("trustDomain") != trust_domain:
        problems.append("trustDomain is %r, want %r" % (md.get("trustDomain"), trust_domain))
    host = "reviews.%s.svc.cluster.local" % ns
    c1 = "outbound|9080|v1|%s" % host
    c2 = "outbound|9080|v2|%s" % host
    route = reviews_route(doc, ns)
    if route != {c1: int(w1), c2: int(w2)}:
        problems.append("route of %s is %r, want %s=%s %s=%s" % (host, route, c1, w1, c2, w2))
    clusters = {c["name"]: c for c in doc.get("clusters", [])}
    for name, want in ((c1, v1_ips), (c2, v2_ips)):
        c = clusters.get(name)
        if not c:
            problems.append("no cluster %s (have %s)" % (name, sorted(clusters)))
            continue
        got = sorted(e.get("address") for e in c.get("endpoints", []))
        if got != sorted(want.split(",")):
            problems.append("cluster %s endpoints %r, want %s" % (name, got, want))
        for e in c.get("endpoints", []):
            if e.get("port") != 9080:
                problems.append("cluster %s endpoint port %r, want 9080" % (name, e.get("port")))
    for p in problems:
        print(p)
    return 1 if problems else 0


class Api:
    def __init__(self, server, ca, cert, key):
        u = urllib.parse.urlparse(server)
        self.host, self.port = u.hostname, u.port or 443
        self.ctx = ssl.create_default_context(cafile=ca)
        self.ctx.load_cert_chain(cert, key)

    def conn(self, timeout=30):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)

    def request(self, method, path, body=None, ctype="application/json"):
        c = self.conn()
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = ctype
            body = json.dumps(body)
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        c.close()
        if r.status >= 300:
            raise RuntimeError("%s %s: %d %s" % (method, path, r.status, data[:300]))
        return json.loads(data)


def watcher(api, path, out, stop):
    c = api.conn(timeout=120)
    c.request("GET", path, headers={"Accept": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        out.put((time.monotonic(), {"type": "ERROR", "status": r.status}))
        return
    while not stop.is_set():
        line = r.readline()
        if not line:
            break
        try:
            out.put((time.monotonic(), json.loads(line)))
        except ValueError:
            pass


def latency(server, ca, cert, key, ns, vs, n):
    api = Api(server, ca, cert, key)
    cm_path = "/api/v1/namespaces/%s/configmaps" % ns
    listing = api.request("GET", cm_path + "?fieldSelector=metadata.name%3Dweir-proxy-config")
    rv = listing["metadata"]["resourceVersion"]
    events = queue.Queue()
    stop = threading.Event()
    t = threading.Thread(
        target=watcher,
        args=(api, cm_path + "?watch=1&fieldSelector=metadata.name%3Dweir-proxy-config"
              "&timeoutSeconds=110&resourceVersion=" + rv, events, stop),
        daemon=True)
    t.start()
    host = "reviews.%s.svc.cluster.local" % ns
    c1, c2 = "outbound|9080|v1|%s" % host, "outbound|9080|v2|%s" % host
    vs_path = "/apis/networking.istio.io/v1/namespaces/%s/virtualservices/%s" % (ns, vs)
    samples = []
    failed = False
    for i in range(n):
        w1 = 5 + (i * 37) % 90
        w2 = 100 - w1
        patch = {"spec": {"http": [{"route": [
            {"destination": {"host": "reviews", "subset": "v1"}, "weight": w1},
            {"destination": {"host": "reviews", "subset": "v2"}, "weight": w2}]}]}}
        t0 = time.monotonic()
        api.request("PATCH", vs_path, patch, "application/merge-patch+json")
        deadline = t0 + 10
        seen = None
        while seen is None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                when, ev = events.get(timeout=left)
            except queue.Empty:
                break
            if ev.get("type") not in ("ADDED", "MODIFIED"):
                continue
            data = ev["object"].get("data", {}).get("proxy-config.json")
            if data and reviews_route(json.loads(data), ns) == {c1: w1, c2: w2}:
                seen = when
        if seen is None:
            print("change %d (weights %d/%d): no ConfigMap update within 10 s" % (i + 1, w1, w2))
            failed = True
            break
        samples.append((seen - t0) * 1000)
    stop.set()
    if samples:
        s = sorted(samples)

        def rank(p):
            return s[max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))]
        print("samples_ms " + " ".join("%.0f" % x for x in samples))
        print("p50_ms %.0f p99_ms %.0f max_ms %.0f n %d" % (rank(50), rank(99), s[-1], len(s)))
    return 1 if failed else 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "config" and len(argv) == 9:
        return check_config(*argv[2:])
    if len(argv) >= 2 and argv[1] == "latency" and len(argv) == 9:
        return latency(*argv[2:8], int(argv[8]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
