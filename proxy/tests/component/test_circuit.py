"""DestinationRule circuit breaking and outlier detection: the connectionPool
limits (maxConnections with the pending queue, http1MaxPendingRequests,
http2MaxRequests, maxRequestsPerConnection, maxRetries) answer 503 UO past
them, and outlierDetection ejects an endpoint that keeps failing, within
maxEjectionPercent, and brings it back after the ejection time.

The proxy runs one worker: the limits and the detectors are per worker."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import json
import os
import socketserver
import threading
import time

import weirtest as wt
from weirtest import Config, Proxy, curl, fqdn, upstream


class FailingHandler(socketserver.StreamRequestHandler):
    """Answers every request 503, keeping the connection."""

    def handle(self):
        while True:
            lines = upstream.read_head(self.rfile)
            if lines is None:
                return
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            if upstream.read_body(self.rfile, headers) is None:
                return
            with self.server.lock:
                self.server.hits += 1
            self.wfile.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbad\n")
            self.wfile.flush()


class FailingServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self):
        self.hits = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), FailingHandler)

    def start(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self


def concurrent(n, fn):
    """Runs fn() n times at once; returns the results."""
    out = [None] * n

    def run(i):
        out[i] = fn()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    return out


def body(t, ctx):
    slow = upstream.Server(("127.0.0.1", 0), "slow").start()
    slow2 = upstream.Server(("127.0.0.1", 0), "slow2").start()
    slow3 = upstream.Server(("127.0.0.1", 0), "slow3").start()
    per = upstream.Server(("127.0.0.1", 0), "per").start()
    retry = upstream.Server(("127.0.0.1", 0), "retry").start()
    good = upstream.Server(("127.0.0.1", 0), "good").start()
    bad = FailingServer().start()
    bad1 = FailingServer().start()
    bad2 = FailingServer().start()
    L = wt.free_port()
    P, Q, M, R, O, E, T = (fqdn(n) for n in ("pending", "maxrq", "perconn", "retries",
                                             "outlier", "maxeject", "queuetimeout"))
    cfg = Config()

    def ep(s):
        return ("127.0.0.1", s.server_address[1])

    cp = cfg.cluster(P, L, [ep(slow)], policy={"connectionPool": {
        "tcp": {"maxConnections": 1}, "http": {"http1MaxPendingRequests": 1}}})
    cq = cfg.cluster(Q, L, [ep(slow2)], policy={"connectionPool": {
        "http": {"http2MaxRequests": 2}}})
    ct = cfg.cluster(T, L, [ep(slow3)], policy={"connectionPool": {
        "tcp": {"maxConnections": 1}, "http": {"http1MaxPendingRequests": 10}}})
    cfg.service(T, L, http=[{"name": "default", "timeoutMs": 500,
                             "route": [{"cluster": ct, "weight": 100}]}])
    cfg.cluster(M, L, [ep(per)], policy={"connectionPool": {
        "http": {"maxRequestsPerConnection": 2}}})
    cfg.cluster(R, L, [ep(retry)], policy={"connectionPool": {"http": {"maxRetries": 0}}})
    co = cfg.cluster(O, L, [ep(good), ep(bad)], policy={"outlierDetection": {
        "consecutive5xx": 3, "intervalMs": 1000, "baseEjectionTimeMs": 2000,
        "maxEjectionPercent": 100}})
    ce = cfg.cluster(E, L, [ep(bad1), ep(bad2)], policy={"outlierDetection": {
        "consecutive5xx": 2, "intervalMs": 1000, "baseEjectionTimeMs": 30000,
        "maxEjectionPercent": 50}})
    for svc in (P, Q, M, O, E):
        cfg.service(svc, L)
    cr = wt.cluster_name(R, L)
    cfg.service(R, L, http=[{"name": "default", "route": [{"cluster": cr, "weight": 100}],
                             "retries": {"attempts": 3, "retryOn": ["5xx"]}}])
    path = os.path.join(ctx["dir"], "config.json")
    cfg.write(path)
    p = Proxy(ctx["binary"], ctx["dir"], path, outbound=["127.0.0.1:%d" % L], workers=1)
    ctx["proxies"].append(p)
    p.start()
    base = "http://127.0.0.1:%d" % L

    def get(path, host, *args):
        return curl(base + path, "-H", "Host: " + host, *args)

    def slow_get(host):
        st, h, b = get("/slow", host, "-H", "x-test-delay-ms: 1200")
        return st, h.get("x-weir-response-flags")

    # maxConnections 1 + http1MaxPendingRequests 1: one in flight, one queued, three refused
    res = concurrent(5, lambda: slow_get("pending"))
    ok = [r for r in res if r[0] == 200]
    uo = [r for r in res if r[0] == 503 and r[1] == "UO"]
    t.ok(len(ok) == 2 and len(uo) == 3,
         "maxConnections 1, 1 pending: 2 served, 3 answered 503 UO", res)
    t.ok(slow.counters.connections == 1, "the queued request reused the one connection",
         slow.counters.connections)
    t.ok(p.metric("weir_upstream_overflow_total", {"cluster": cp}) == 3,
         "weir_upstream_overflow_total counts the 3 overflows",
         p.metric("weir_upstream_overflow_total", {"cluster": cp}))
    st, h, b = get("/after", "pending")
    t.ok(st == 200, "the cluster serves again once the burst is over", (st, h))

    def slow_get_h2():
        st, h, b = get("/slow-h2", "pending", "--http2-prior-knowledge", "-H",
                       "x-test-delay-ms: 1200")
        return st, h.get("x-weir-response-flags")

    res = concurrent(3, slow_get_h2)
    t.ok(sorted(r[0] for r in res) == [200, 200, 503] and (503, "UO") in res,
         "HTTP/2 clients share the same queue: 2 served, 1 answered 503 UO", res)

    # http2MaxRequests 2 over HTTP/1.1 clients
    res = concurrent(5, lambda: slow_get("maxrq"))
    ok = [r for r in res if r[0] == 200]
    uo = [r for r in res if r[0] == 503 and r[1] == "UO"]
    t.ok(len(ok) == 2 and len(uo) == 3, "http2MaxRequests 2: 2 served, 3 answered 503 UO", res)
    t.ok(p.metric("weir_upstream_overflow_total", {"cluster": cq}) == 3,
         "overflows counted per cluster", p.metric("weir_upstream_overflow_total", {"cluster": cq}))

    # the route timeout ends queued requests too, and their places are given back
    res = concurrent(4, lambda: slow_get("queuetimeout"))
    t.ok(all(r == (504, "UT") for r in res), "queued requests time out with 504 UT", res)
    st, h, b = get("/after", "queuetimeout")
    t.ok(st == 200, "nothing is left held after the timeouts", (st, h, b))

    # maxRequestsPerConnection 2: a new upstream connection every 2 requests
    conns = []
    for i in range(6):
        st, h, b = get("/per/%d" % i, "perconn")
        if st == 200:
            j = json.loads(b)
            conns.append((j["connection"], j["request_on_connection"]))
    t.ok(len(conns) == 6 and per.counters.connections == 3
         and max(r for _, r in conns) == 2,
         "maxRequestsPerConnection 2: 6 requests on 3 upstream connections", conns)

    # maxRetries 0: the retry policy would retry, the breaker does not
    st, h, b = get("/r", "retries", "-H", "x-test-fail: 5", "-H", "x-test-key: cb-r1")
    t.ok(st == 503 and h.get("x-weir-response-flags") == "UO" and len(retry.log) == 1,
         "maxRetries 0: no retry, the upstream's 503 with UO", (st, h, len(retry.log)))
    t.ok(p.metric("weir_proxy_upstream_rq_retry_overflow_total") == 1,
         "retry overflow counted", p.metric("weir_proxy_upstream_rq_retry_overflow_total"))

    # outlier detection: the failing endpoint is ejected after 3 consecutive 5xx
    for i in range(12):
        get("/warm/%d" % i, "outlier")
        if bad.hits >= 3:
            break
    t.ok(bad.hits == 3, "the failing endpoint answered 3 times", bad.hits)
    t.ok(p.metric("weir_outlier_ejections_total", {"cluster": co}) == 1,
         "weir_outlier_ejections_total counts the ejection",
         p.metric("weir_outlier_ejections_total", {"cluster": co}))
    codes = [get("/after/%d" % i, "outlier")[0] for i in range(40)]
    t.ok(codes.count(200) == 40 and bad.hits == 3 and len(good.log) >= 40,
         "while ejected, 40 of 40 requests go to the healthy endpoint",
         (codes, bad.hits, len(good.log)))
    time.sleep(3.2)  # base 2 s, then the next 1 s interval tick
    before = bad.hits
    codes = [get("/back/%d" % i, "outlier")[0] for i in range(10)]
    t.ok(bad.hits > before and 503 in codes,
         "after the ejection time the endpoint is tried again", (codes, bad.hits))

    # maxEjectionPercent 50 with both endpoints failing: only one is ejected
    for i in range(20):
        get("/e/%d" % i, "maxeject")
    t.ok(p.metric("weir_outlier_ejections_total", {"cluster": ce}) == 1,
         "maxEjectionPercent 50 of 2 endpoints: one ejection, not two",
         p.metric("weir_outlier_ejections_total", {"cluster": ce}))
    hits = sorted((bad1.hits, bad2.hits))
    t.ok(hits[0] == 2 and hits[1] == 18, "the other endpoint takes every later request", hits)
    t.ok(p.metric("weir_proxy_downstream_rq_active") == 0, "no request left active",
         p.metric("weir_proxy_downstream_rq_active"))


if __name__ == "__main__":
    wt.main(body)
