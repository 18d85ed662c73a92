"""Timeouts, retries, upstream failures and fault injection: 504 UT, retries
that succeed on a flaky upstream, URX when they run out, 503 UF/UH/UC, 502 on a
malformed response, fault delays and aborts."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import json
import os
import time

import weirtest as wt
from weirtest import Config, Proxy, curl, fqdn, upstream


def body(t, ctx):
    ua = upstream.Server(("127.0.0.1", 0), "a").start()
    ub = upstream.Server(("127.0.0.1", 0), "b").start()
    dead = wt.free_port()  # nothing listens there
    L = wt.free_port()
    R, D, N, F = fqdn("r"), fqdn("dead"), fqdn("noep"), fqdn("f")
    cfg = Config()
    cr = cfg.cluster(R, L, [("127.0.0.1", ua.server_address[1]), ("127.0.0.1", ub.server_address[1])])
    cd = cfg.cluster(D, L, [("127.0.0.1", dead)],
                     policy={"connectionPool": {"tcp": {"connectTimeoutMs": 500}}})
    cn = cfg.cluster(N, L, [])
    cf = cfg.cluster(F, L, [("127.0.0.1", ua.server_address[1])])

    def route(cluster, **kw):
        r = {"route": [{"cluster": cluster, "weight": 100}]}
        r.update(kw)
        return r

    def m(prefix):
        return [{"uri": {"prefix": prefix}}]

    cfg.service(R, L, http=[
        route(cr, name="timeout", match=m("/timeout"), timeoutMs=300),
        route(cr, name="retry", match=m("/retry/"), retries={"attempts": 3, "retryOn": ["5xx"]}),
        route(cr, name="exhaust", match=m("/exhaust"),
              retries={"attempts": 2, "retryOn": ["gateway_error"]}),
        route(cr, name="codes", match=m("/codes"),
              retries={"attempts": 2, "retryOn": ["retriable_status_codes"],
                       "retriableStatusCodes": [418]}),
        route(cr, name="pertry", match=m("/pertry"), timeoutMs=5000,
              retries={"attempts": 2, "perTryTimeoutMs": 200, "retryOn": ["5xx"]}),
        route(cr, name="noretry", match=m("/noretry")),
        route(cr, name="default"),
    ])
    cfg.service(D, L, http=[
        route(cd, name="retried", match=m("/retried"),
              retries={"attempts": 2, "retryOn": ["connect_failure"]}),
        route(cd, name="default"),
    ])
    cfg.service(N, L)
    cfg.service(F, L, http=[
        route(cf, name="abort", match=m("/abort"),
              fault={"abort": {"httpStatus": 503, "percentage": 100}}),
        route(cf, name="delay", match=m("/delay"),
              fault={"delay": {"fixedDelayMs": 400, "percentage": 100}}),
        route(cf, name="grpc", match=m("/grpc"),
              fault={"abort": {"grpcStatus": 14, "percentage": 100}}),
        route(cf, name="half", match=m("/half"),
              fault={"abort": {"httpStatus": 500, "percentage": 50}}),
        route(cf, name="never", match=m("/never"),
              fault={"abort": {"httpStatus": 500, "percentage": 0}}),
    ])
    path = os.path.join(ctx["dir"], "config.json")
    cfg.write(path)
    p = Proxy(ctx["binary"], ctx["dir"], path, outbound=["127.0.0.1:%d" % L])
    ctx["proxies"].append(p)
    p.start()
    base = "http://127.0.0.1:%d" % L

    def get(path, host, *args):
        return curl(base + path, "-H", "Host: " + host, *args)

    def seen(key):
        return sum(1 for s in (ua, ub) for e in s.log
                   if dict(e["headers"]).get("x-test-key") == key)

    t0 = time.time()
    st, h, b = get("/timeout", "r", "-H", "x-test-delay-ms: 2000")
    dt = time.time() - t0
    t.ok(st == 504 and h.get("x-weir-response-flags") == "UT" and 0.25 <= dt < 1.5,
         "route timeout: 504 UT after ~300 ms (%.2fs)" % dt, (st, h, b))

    st, h, b = get("/retry/1", "r", "-H", "x-test-fail: 2", "-H", "x-test-key: k1")
    t.ok(st == 200 and seen("k1") == 3, "flaky upstream succeeds after two retries", (st, seen("k1")))
    t.ok("x-weir-response-flags" not in h, "a success after retries carries no flag", h)

    st, h, b = curl(base + "/retry/post", "-H", "Host: r", "-H", "x-test-fail: 2", "-H",
                    "x-test-key: k2", "--data-binary", "@-", data=os.urandom(20000))
    j = json.loads(b) if st == 200 else {}
    shas = {e["headers"] and dict(e["headers"]).get("content-length") for s in (ua, ub)
            for e in s.log if dict(e["headers"]).get("x-test-key") == "k2"}
    t.ok(st == 200 and j.get("body_len") == 20000 and seen("k2") == 3 and shas == {"20000"},
         "a request body is replayed on every retry", (st, seen("k2"), shas))

    st, h, b = get("/exhaust", "r", "-H", "x-test-fail: 10", "-H", "x-test-key: k3")
    t.ok(st == 503 and h.get("x-weir-response-flags") == "URX" and seen("k3") == 3,
         "retries run out: the upstream's 503 with URX", (st, h, seen("k3")))

    st, h, b = get("/codes", "r", "-H", "x-test-status: 418", "-H", "x-test-key: k4")
    t.ok(st == 418 and seen("k4") == 3 and h.get("x-weir-response-flags") == "URX",
         "retriable_status_codes retries 418", (st, seen("k4")))
    st, h, b = get("/codes", "r", "-H", "x-test-status: 503", "-H", "x-test-key: k5")
    t.ok(st == 503 and seen("k5") == 1, "a status not listed is not retried", (st, seen("k5")))
    st, h, b = get("/noretry", "r", "-H", "x-test-fail: 1", "-H", "x-test-key: k6")
    t.ok(st == 503 and seen("k6") == 1 and "x-weir-response-flags" not in h,
         "no retry policy: no retry", (st, seen("k6"), h))

    t0 = time.time()
    st, h, b = get("/pertry", "r", "-H", "x-test-delay-ms: 1500", "-H", "x-test-key: k7")
    dt = time.time() - t0
    t.ok(st == 504 and h.get("x-weir-response-flags") == "URX,UT" and dt < 1.4,
         "per-try timeout retried, then 504 UT,URX (%.2fs)" % dt, (st, h))

    st, h, b = get("/", "dead")
    t.ok(st == 503 and h.get("x-weir-response-flags") == "UF" and b.startswith(b"weir: upstream"),
         "connection refused: 503 with x-weir-response-flags UF", (st, h, b))
    st, h, b = get("/retried", "dead")
    t.ok(st == 503 and h.get("x-weir-response-flags") == "UF,URX", "UF retried, then URX", (st, h))
    st, h, b = get("/", "noep")
    t.ok(st == 503 and h.get("x-weir-response-flags") == "UH", "no endpoints: 503 UH", (st, h))
    st, h, b = get("/", "r", "-H", "x-test-malformed: 1")
    t.ok(st == 502 and h.get("x-weir-response-flags") == "UPE", "malformed response: 502",
         (st, h, b))
    st, h, b = get("/", "r", "-H", "x-test-close: 1")
    t.ok(st == 503 and h.get("x-weir-response-flags") == "UC",
         "upstream closes before answering: 503 UC", (st, h, b))

    st, h, b = get("/abort", "f")
    t.ok(st == 503 and b == b"fault filter abort" and h.get("x-weir-response-flags") == "FI",
         "fault abort", (st, h, b))
    t0 = time.time()
    st, h, b = get("/delay", "f")
    dt = time.time() - t0
    t.ok(st == 200 and dt >= 0.4 and h.get("x-weir-response-flags") == "DI",
         "fault delay (%.2fs)" % dt, (st, h))
    st, h, b = get("/grpc", "f")
    t.ok(st == 200 and h.get("grpc-status") == "14", "gRPC fault abort", (st, h))
    codes = [get("/half", "f")[0] for _ in range(60)]
    n500 = codes.count(500)
    t.ok(codes.count(200) + n500 == 60 and 10 <= n500 <= 50,
         "50%% abort hits about half (%d of 60)" % n500, codes)
    t.ok(all(get("/never", "f")[0] == 200 for _ in range(5)), "0% never aborts")

    lines = p.access_lines()
    flags = {(line.get("path"), line.get("response_flags")) for line in lines}
    t.ok(("/timeout", "UT") in flags and ("/abort", "FI") in flags and ("/", "UF") in flags
         and ("/exhaust", "URX") in flags, "flags in the access log", sorted(flags))
    t.ok(p.metric("weir_proxy_upstream_rq_retry_total") >= 8, "retries are counted",
         p.metric("weir_proxy_upstream_rq_retry_total"))
    t.ok(p.metric("istio_requests_total", {"response_flags": "UF", "response_code": "503",
                                           "destination_service": D}) == 1,
         "istio_requests_total carries response_flags",
         [line for line in p.metrics().splitlines() if "istio_requests_total" in line])


if __name__ == "__main__":
    wt.main(body)
