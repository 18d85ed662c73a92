"""Local rate limits (rateLimits): buckets shared by the proxy's two workers, the
6th request of a 5-token bucket refused with 429 and flag RL, separate buckets per
x-user, a limit answering 503, an outbound limit on one route, a limit for another
workload ignored, the gRPC answer (trailers-only, grpc-status 14), inbound TCP
connections closed past their bucket, refill after the interval, a reload that keeps
an unchanged limit's bucket and starts a changed one over, and the counts in the
metrics and the access log.

Fill intervals are long (1000 s) wherever a check needs "no refill now"; the refill
check waits well past a short interval."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import hashlib
import json
import os
import socket
import time

import weirtest as wt
from weirtest import Config, Proxy, curl, fqdn, upstream

LONG = 1000000  # ms: no refill during the test


class RLConfig(Config):
    def __init__(self):
        super().__init__()
        self.rate_limits = []

    def document(self):
        doc = super().document()
        doc["rateLimits"] = sorted(self.rate_limits, key=lambda r: r["name"])
        doc["metadata"]["revision"] = ""
        body = json.dumps(doc, sort_keys=True)
        doc["metadata"]["revision"] = "sha256:" + hashlib.sha256(body.encode()).hexdigest()
        return doc


def limit(name, max_tokens, fill_ms=LONG, per_fill=1, **kw):
    r = {"name": name,
         "tokenBucket": {"maxTokens": max_tokens, "tokensPerFill": per_fill,
                         "fillIntervalMs": fill_ms}}
    r.update(kw)
    return r


def echo_through(addr, data):
    """The echo's answer, or None when the proxy closed the connection first."""
    s = socket.create_connection(addr, timeout=10)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            out += c
        return out
    except OSError:
        return None
    finally:
        s.close()


def body(t, ctx):
    up = upstream.Server(("127.0.0.1", 0), "up").start()
    app = upstream.Server(("127.0.0.1", 0), "app").start()
    app_tcp = upstream.TcpEchoServer(("127.0.0.1", 0)).start()
    APP, APP_TCP = app.server_address[1], app_tcp.server_address[1]
    L = wt.free_port()
    A = fqdn("a")

    def build(all_tokens=5, extra=()):
        cfg = RLConfig()
        cl = cfg.cluster(A, L, [("127.0.0.1", up.server_address[1])])
        cfg.service(A, L, http=[
            {"name": "limited", "match": [{"uri": {"prefix": "/limited"}}],
             "route": [{"cluster": cl, "weight": 100}]},
            {"name": "default", "route": [{"cluster": cl, "weight": 100}]},
        ])
        cfg.inbound = {"services": [{"name": "client", "selector": {"app": "client"},
                                     "ports": [{"port": 80, "targetPort": APP,
                                                "protocol": "http"}]}]}
        cfg.rate_limits = [
            limit("default/in-all", all_tokens, match={"port": APP, "path": {"prefix": "/all"}}),
            limit("default/in-503", 1, statusCode=503, match={"path": {"prefix": "/svc"}}),
            limit("default/in-grpc", 1, match={"path": {"prefix": "/grpc.Svc/"}}),
            limit("default/in-per-user", 2, match={"path": {"prefix": "/user"}},
                  descriptors=[{"kind": "header", "header": "x-user"}]),
            limit("default/in-refill", 1, fill_ms=1500, match={"path": {"prefix": "/refill"}}),
            limit("default/in-tcp", 2, match={"port": APP_TCP},
                  descriptors=[{"kind": "source_ip"}]),
            limit("default/other-workload", 1, selector={"app": "other"},
                  match={"path": {"prefix": "/all"}}),
            limit("default/out-route", 2, direction="outbound", match={"route": "limited"}),
        ] + list(extra)
        return cfg

    path = os.path.join(ctx["dir"], "config.json")
    build().write(path)
    p = Proxy(ctx["binary"], ctx["dir"], path, outbound=["127.0.0.1:%d" % L],
              inbound=["127.0.0.5:%d" % APP, "127.0.0.5:%d" % APP_TCP], workers=2,
              extra=["--pod-labels", "app=client"])
    ctx["proxies"].append(p)
    p.start()
    t.ok("not supported" not in p.stderr(), "no 'not supported' warning for rateLimits",
         p.stderr()[-2000:])
    inb = "http://127.0.0.5:%d" % APP

    def get(url, *args):
        return curl(url, "-H", "Host: client.default", *args)

    # ---- a 5-token bucket shared by both workers (each curl is a new connection) ------
    codes = [get(inb + "/all/%d" % i)[0] for i in range(5)]
    t.ok(codes == [200] * 5, "5 requests pass a 5-token bucket", codes)
    st, h, b = get(inb + "/all/6")
    t.ok(st == 429 and h.get("x-weir-response-flags") == "RL",
         "the 6th gets 429 with flag RL (the limit for another workload does not apply)",
         (st, h))
    t.ok(b"default/in-all" in b, "the body names the limit", b)
    before = app.counters.requests
    get(inb + "/all/7")
    t.ok(app.counters.requests == before, "a refused request never reaches the application")
    st, h, b = get(inb + "/free")
    t.ok(st == 200, "a request no limit matches passes", st)

    # ---- separate buckets per x-user --------------------------------------------------
    alice = [get(inb + "/user", "-H", "x-user: alice")[0] for i in range(3)]
    t.ok(alice == [200, 200, 429], "x-user alice: 2 pass, the 3rd is refused", alice)
    bob = [get(inb + "/user", "-H", "x-user: bob")[0] for i in range(2)]
    t.ok(bob == [200, 200], "x-user bob has a bucket of his own", bob)
    anon = [get(inb + "/user")[0] for i in range(3)]
    t.ok(anon == [200, 200, 429], "no x-user: the empty value's bucket", anon)

    # ---- statusCode 503 ---------------------------------------------------------------
    codes = [get(inb + "/svc")[0] for i in range(2)]
    t.ok(codes == [200, 503], "a limit with statusCode 503 answers 503", codes)

    # ---- gRPC: trailers-only, grpc-status 14 ------------------------------------------
    gargs = ("--http2-prior-knowledge", "-X", "POST", "-H", "content-type: application/grpc",
             "--data-binary", "")
    st, h, b = get(inb + "/grpc.Svc/Call", *gargs)
    t.ok(st == 200 and "grpc-status" not in h, "the first gRPC call passes", (st, h))
    st, h, b = get(inb + "/grpc.Svc/Call", *gargs)
    t.ok(st == 200 and h.get("grpc-status") == "14" and
         h.get("grpc-message") == "local_rate_limited" and
         h.get("x-weir-response-flags") == "RL" and b == b"",
         "the second gets grpc-status 14 UNAVAILABLE, trailers-only, flag RL", (st, h, b))

    # ---- outbound, matched by route ---------------------------------------------------
    ob = "http://127.0.0.1:%d" % L
    codes = [curl(ob + "/limited/x", "-H", "Host: a")[0] for i in range(3)]
    t.ok(codes == [200, 200, 429], "outbound route 'limited': 2 pass, the 3rd is refused", codes)
    codes = [curl(ob + "/other", "-H", "Host: a")[0] for i in range(4)]
    t.ok(codes == [200] * 4, "another route of the same service is not limited", codes)

    # ---- inbound TCP: connections closed past the bucket ------------------------------
    outs = [echo_through(("127.0.0.5", APP_TCP), b"x%d" % i) for i in range(3)]
    t.ok(outs[0] == b"echo:x0" and outs[1] == b"echo:x1", "two TCP connections pass", outs)
    t.ok(not outs[2], "the third TCP connection is closed without reaching the app", outs)

    # ---- refill ----------------------------------------------------------------------
    codes = []
    for i in range(3):
        codes.append(get(inb + "/refill")[0])
        if codes[-1] == 429:
            break
    t.ok(codes[-1] == 429, "refill limit: refused once its token is spent", codes)
    time.sleep(3.2)  # more than two fill intervals of 1.5 s
    st = get(inb + "/refill")[0]
    t.ok(st == 200, "a token again after the fill interval", st)

    # ---- metrics and access log -------------------------------------------------------
    m = {n: p.metric("weir_proxy_rate_limited_total", {"limit": n}) for n in
         ("default/in-all", "default/in-per-user", "default/in-503", "default/in-grpc",
          "default/out-route", "default/in-tcp", "default/other-workload")}
    t.ok(m["default/in-all"] == 2 and m["default/in-per-user"] == 2 and
         m["default/in-503"] == 1 and m["default/in-grpc"] == 1 and
         m["default/out-route"] == 1 and m["default/in-tcp"] == 1 and
         m["default/other-workload"] is None,
         "weir_proxy_rate_limited_total per limit (none for another workload's)", m)
    n429 = p.metric("istio_requests_total", {"reporter": "destination", "response_code": "429",
                                             "response_flags": "RL"})
    n503 = p.metric("istio_requests_total", {"reporter": "destination", "response_code": "503",
                                             "response_flags": "RL"})
    nout = p.metric("istio_requests_total", {"reporter": "source", "response_code": "429",
                                             "response_flags": "RL"})
    t.ok(n429 == 2 + 2 + 1 and n503 == 1 and nout == 1,
         "istio_requests_total counts them with their response code and flag RL",
         (n429, n503, nout))
    time.sleep(0.3)
    rl = [x for x in p.access_lines() if x.get("response_flags") == "RL"]
    t.ok(len(rl) == 2 + 2 + 1 + 1 + 1 + 1 and
         all(x.get("response_code_details") == "local_rate_limited" for x in rl),
         "the access log shows flag RL and local_rate_limited", rl[:2])

    # ---- reload: an unchanged limit keeps its bucket, a changed one starts over -------
    reloads = p.metric("weir_config_reloads_total") or 0

    def reload(cfg):
        cfg.write(path)
        deadline = time.time() + 10
        while time.time() < deadline and (p.metric("weir_config_reloads_total") or 0) <= reloads:
            time.sleep(0.05)
        return p.metric("weir_config_reloads_total")

    r = reload(build(extra=[limit("default/zz-new", 1, match={"path": {"prefix": "/zz"}})]))
    t.ok(r == reloads + 1, "the new document is loaded", r)
    reloads = r
    st = get(inb + "/all/after-reload")[0]
    t.ok(st == 429, "after a reload that keeps the limit, its spent bucket stays spent", st)
    st = get(inb + "/user", "-H", "x-user: alice")[0]
    t.ok(st == 429, "... and so do the keyed buckets", st)
    t.ok(p.metric("weir_proxy_rate_limited_total", {"limit": "default/in-all"}) == 3,
         "the counter goes on across the reload")
    codes = [get(inb + "/zz")[0] for i in range(2)]
    t.ok(codes == [200, 429], "a limit added by the reload applies", codes)
    r = reload(build(all_tokens=6))
    t.ok(r == reloads + 1, "a document changing the limit is loaded", r)
    codes = [get(inb + "/all/%d" % i)[0] for i in range(7)]
    t.ok(codes == [200] * 6 + [429], "a changed limit starts over with a full bucket", codes)
    t.ok(p.metric("weir_proxy_rate_limited_total", {"limit": "default/in-all"}) == 4,
         "its counter carries on", p.metric("weir_proxy_rate_limited_total",
                                            {"limit": "default/in-all"}))
    t.ok(p.metric("weir_proxy_rate_limited_total", {"limit": "default/zz-new"}) is None,
         "a removed limit is gone from the metrics")


if __name__ == "__main__":
    wt.main(body)
