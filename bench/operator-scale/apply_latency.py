#!/usr/bin/env python3
"""Time from a VirtualService change to the ConfigMaps that carry it.

  apply_latency.py SERVER CA CERT KEY NAMESPACES CHANGES OUT_CSV [SHARED]

N times (CHANGES): merge-patch the weights of one VirtualService written by
gen.py (they rotate through the namespaces, so each change names another
host), straight to the API server with the admin certificate, and follow a
cluster-wide watch on the ConfigMaps named weir-proxy-config until each of the
NAMESPACES mesh namespaces holds a proxy config routing that host with the
new weights. Two samples per change:

  own  until the ConfigMap of the VirtualService's own namespace has it
       (what `kubectl apply` followed by a look at that namespace sees);
  all  until every namespace has it (the VirtualService is exported
       everywhere, so every config changes).

With SHARED (a state from gen.py --visibility namespace --shared-namespaces
SHARED), the changes go to VirtualServices of the other namespaces, which are
exported to their own namespace only: a change is awaited in that namespace
alone, and "all" is the same sample.

Changes are sequential: the next one starts when the last namespace has the
previous one, so a sample never includes the backlog of an earlier change.
Writes every sample to OUT_CSV and prints p50/p99/max of both in ms. Exits 1
when a change has not reached every namespace within 60 s.

Only the standard library. Event times are taken when the watch line arrives;
the configs (up to 1 MiB each) are parsed afterwards, off the clock.
"""
import http.client
import json
import queue
import ssl
import sys
import threading
import time
import urllib.parse

NAMES = ["api", "auth", "billing", "cache", "cart", "db", "orders", "search", "users", "web"]


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
    c = api.conn(timeout=600)
    c.request("GET", path, headers={"Accept": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        out.put((time.monotonic(), None))
        return
    while not stop.is_set():
        line = r.readline()
        if not line:
            out.put((time.monotonic(), None))
            break
        out.put((time.monotonic(), line))


def split_weights(doc, host, port):
    """The weights of the "split" route of host:port, by cluster."""
    for svc in doc.get("services", []):
        if svc.get("host") != host:
            continue
        for p in svc.get("ports", []):
            if p.get("number") != port:
                continue
            for route in p.get("http", []):
                if route.get("name") == "split":
                    return {d["cluster"]: d["weight"] for d in route.get("route", [])}
    return None


def rank(sorted_samples, p):
    s = sorted_samples
    return s[max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))]


def main(argv):
    if len(argv) not in (8, 9):
        print(__doc__, file=sys.stderr)
        return 2
    server, ca, cert, key = argv[1:5]
    namespaces, changes, out_csv = int(argv[5]), int(argv[6]), argv[7]
    shared = int(argv[8]) if len(argv) == 9 else None
    if shared is not None and shared >= namespaces:
        print("SHARED must be less than NAMESPACES", file=sys.stderr)
        return 2
    api = Api(server, ca, cert, key)
    selector = "fieldSelector=metadata.name%3Dweir-proxy-config"
    listing = api.request("GET", "/api/v1/configmaps?" + selector)
    events = queue.Queue()
    stop = threading.Event()
    threading.Thread(target=watcher, daemon=True, args=(
        api, "/api/v1/configmaps?watch=1&timeoutSeconds=3600&" + selector +
        "&resourceVersion=" + listing["metadata"]["resourceVersion"], events, stop)).start()

    rows = []
    failed = False
    for i in range(changes):
        if shared is None:
            ns = "ns-%04d" % (i % namespaces)
            name = NAMES[(i // namespaces) % 2]  # gen.py's VirtualServices: the first two names
            expect = namespaces
        else:
            private = namespaces - shared
            ns = "ns-%04d" % (shared + i % private)
            name = NAMES[(i // private) % 2]
            expect = 1
        host = "%s.%s.svc.cluster.local" % (name, ns)
        # a change must change something: not the weight the VirtualService
        # has now (gen.py's 90, or an earlier run's), read off the clock
        path = "/apis/networking.istio.io/v1/namespaces/%s/virtualservices/%s" % (ns, name)
        current = api.request("GET", path)
        now_w = [r.get("weight") for h in current["spec"]["http"] if h.get("name") == "split"
                 for r in h.get("route", [])[:1]]
        w1 = 5 + (i * 37) % 90
        if now_w and now_w[0] == w1:
            w1 = 5 + (w1 - 4) % 90
        want = {"outbound|8080|v1|" + host: w1, "outbound|8080|v2|" + host: 100 - w1}
        patch = {"spec": {"http": [
            {"name": "canary", "match": [{"headers": {"x-canary": {"exact": "1"}}}],
             "route": [{"destination": {"host": name, "subset": "v2"}}]},
            {"name": "split",
             "route": [{"destination": {"host": name, "subset": "v1"}, "weight": w1},
                       {"destination": {"host": name, "subset": "v2"}, "weight": 100 - w1}],
             "timeout": "10s",
             "retries": {"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx,connect-failure"}}]}}
        t0 = time.monotonic()
        api.request("PATCH", path, patch, "application/merge-patch+json")
        reached = {}
        deadline = t0 + 60
        while len(reached) < expect:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                when, line = events.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                print("the ConfigMap watch ended", file=sys.stderr)
                return 1
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("type") not in ("ADDED", "MODIFIED"):
                continue
            cm_ns = ev["object"]["metadata"]["namespace"]
            data = ev["object"].get("data", {}).get("proxy-config.json")
            if cm_ns in reached or not data or (shared is not None and cm_ns != ns):
                continue
            if split_weights(json.loads(data), host, 8080) == want:
                reached[cm_ns] = when
        if len(reached) < expect or ns not in reached:
            print("change %d (%s/%s, %d/%d): %d of %d namespaces within 60 s"
                  % (i + 1, ns, name, w1, 100 - w1, len(reached), expect), file=sys.stderr)
            failed = True
            break
        rows.append(((reached[ns] - t0) * 1000, (max(reached.values()) - t0) * 1000))
    stop.set()
    with open(out_csv, "w") as f:
        f.write("change,own_ms,all_ms\n")
        for i, (own, everywhere) in enumerate(rows):
            f.write("%d,%.1f,%.1f\n" % (i + 1, own, everywhere))
    if rows:
        own = sorted(r[0] for r in rows)
        everywhere = sorted(r[1] for r in rows)
        print("own_p50_ms %.0f own_p99_ms %.0f own_max_ms %.0f all_p50_ms %.0f all_p99_ms %.0f "
              "all_max_ms %.0f n %d" % (rank(own, 50), rank(own, 99), own[-1],
                                        rank(everywhere, 50), rank(everywhere, 99),
                                        everywhere[-1], len(rows)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
