"""connectionPool limits with HTTP/2 upstreams: http2MaxRequests bounds the calls
in flight to a grpc cluster (exactly the overflow answered UNAVAILABLE, 503 UO in
the log and weir_upstream_overflow_total), http1MaxPendingRequests bounds the
exchanges waiting for an HTTP/2 connection (a TLS upstream that never finishes its
handshake holds them: exactly the overflow is 503 UO at once, the rest UF at the
connect timeout), and maxRequestsPerConnection makes the multiplexed connection to
an http2 cluster close after N streams (connections counted at the proxy for
sequential and concurrent requests, none failing)."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import atexit
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from concurrent import futures

import weirtest as wt
from weirtest import Config, Proxy, curl, fqdn

try:
    import grpc
except ImportError:  # Debian: python3-grpcio
    grpc = None


def cx_total(p, cluster):
    n = 0
    for line in p.admin("/clusters")[1].splitlines():
        parts = line.split("::")
        if len(parts) == 4 and parts[0] == cluster and parts[2] == "cx_total":
            n += int(parts[3])
    return n


def serve(port):
    def slow(request, context):
        time.sleep(0.6)
        return b"slow"

    handler = grpc.method_handlers_generic_handler("test.Echo", {
        "Slow": grpc.unary_unary_rpc_method_handler(slow)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    return server


def body(t, ctx):
    if grpc is None:
        t.ok(False, "python3 grpc is installed (Debian package python3-grpcio)")
        return
    if not shutil.which("nghttpd"):
        t.ok(False, "nghttpd (Debian package nghttp2-server) is installed")
        return
    gport, L = wt.free_port(), wt.free_port()
    server = serve(gport)
    docroot = os.path.join(ctx["dir"], "docroot")
    os.makedirs(docroot)
    with open(os.path.join(docroot, "index.html"), "w") as f:
        f.write("hello from nghttpd\n")
    nport = wt.free_port()
    nghttpd = subprocess.Popen(["nghttpd", "--no-tls", "-a", "127.0.0.1", "-d", docroot,
                                str(nport)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    atexit.register(nghttpd.kill)  # also when the body raises

    # accepts and never answers: a TLS handshake towards it never completes
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    held = []

    def hold():
        while True:
            try:
                held.append(silent.accept()[0])
            except OSError:
                return
    threading.Thread(target=hold, daemon=True).start()

    E, N, S = fqdn("echo"), fqdn("n"), fqdn("silent")
    cfg = Config()
    cs = cfg.cluster(S, L, [("127.0.0.1", silent.getsockname()[1])], protocol="http2",
                     policy={"tls": {"mode": "simple", "insecureSkipVerify": True},
                             "connectionPool": {"tcp": {"connectTimeoutMs": 1500},
                                                "http": {"http1MaxPendingRequests": 3}}})
    cfg.service(S, L, protocol="http2", aliases=["silent"])
    ce = cfg.cluster(E, L, [("127.0.0.1", gport)], protocol="grpc",
                     policy={"connectionPool": {"http": {"http2MaxRequests": 5}}})
    cn = cfg.cluster(N, L, [("127.0.0.1", nport)], protocol="http2",
                     policy={"connectionPool": {"http": {"maxRequestsPerConnection": 3}}})
    cfg.service(E, L, protocol="grpc", aliases=["echo"])
    cfg.service(N, L, protocol="http2", aliases=["n"])
    path = os.path.join(ctx["dir"], "config.json")
    cfg.write(path)
    p = Proxy(ctx["binary"], ctx["dir"], path, outbound=["127.0.0.1:%d" % L], workers=1)
    ctx["proxies"].append(p)
    p.start()
    base = "http://127.0.0.1:%d" % L
    time.sleep(0.2)  # nghttpd listening

    # ---- http2MaxRequests: 20 calls at once, 5 allowed in flight ----
    ch = grpc.insecure_channel("127.0.0.1:%d" % L, options=[
        ("grpc.default_authority", "echo"), ("grpc.enable_http_proxy", 0)])
    fn = ch.unary_unary("/test.Echo/Slow")
    grpc.channel_ready_future(ch).result(timeout=5)

    def call(i):
        try:
            return fn(b"x", timeout=5)
        except grpc.RpcError as e:
            return e.code()

    with futures.ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(call, range(20)))
    ok = sum(1 for r in results if r == b"slow")
    unavailable = sum(1 for r in results if r == grpc.StatusCode.UNAVAILABLE)
    t.ok(ok == 5 and unavailable == 15,
         "http2MaxRequests 5 on a grpc cluster: 5 calls served, 15 UNAVAILABLE", results)
    time.sleep(0.3)
    uo = [e for e in p.access_lines() if e.get("upstream_cluster") == ce and
          e.get("response_flags") == "UO"]
    t.ok(len(uo) == 15 and all(e.get("response_code_details") ==
                               "upstream_max_requests_overflow" for e in uo),
         "the 15 overflows are logged UO upstream_max_requests_overflow", uo[:2])
    n = p.metric("weir_upstream_overflow_total", {"cluster": ce})
    t.ok(n == 15, "weir_upstream_overflow_total counts them (%s)" % n, n)
    with futures.ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(call, range(5)))
    t.ok(all(r == b"slow" for r in results), "the slots are given back: 5 more calls pass",
         results)
    ch.close()

    # ---- http1MaxPendingRequests: exchanges waiting for an HTTP/2 connection ----
    t0 = time.time()
    r = subprocess.run(["h2load", "-c1", "-m10", "-n10", "-H", ":authority: silent",
                        base + "/p"], capture_output=True, text=True, timeout=60)
    dt = time.time() - t0
    time.sleep(0.3)
    lines = [e for e in p.access_lines() if e.get("upstream_cluster") == cs]
    uo = [e for e in lines if e.get("response_flags") == "UO"]
    uf = [e for e in lines if e.get("response_flags") == "UF"]
    t.ok("status codes: 0 2xx, 0 3xx, 0 4xx, 10 5xx" in r.stdout and len(uo) == 7 and
         len(uf) == 3 and all(e.get("response_code") == 503 for e in lines),
         "http1MaxPendingRequests 3, 10 streams while the HTTP/2 connection is still in its "
         "TLS handshake: 7 answered 503 UO, 3 wait and get 503 UF",
         (r.stdout[-800:], [(e.get("response_flags"), e.get("duration")) for e in lines]))
    t.ok(all(e.get("response_code_details") == "upstream_pending_overflow" and
             e.get("duration", 9999) < 500 for e in uo) and
         all(e.get("duration", 0) >= 1400 for e in uf) and dt < 5,
         "the overflow is answered at once, the waiting ones at the connect timeout",
         [(e.get("response_flags"), e.get("duration")) for e in lines])
    n = p.metric("weir_upstream_overflow_total", {"cluster": cs})
    t.ok(n == 7, "weir_upstream_overflow_total counts the 7 (%s)" % n, n)

    # ---- maxRequestsPerConnection on a multiplexed upstream connection ----
    bodies = [curl(base + "/index.html", "--http2-prior-knowledge", "-H", "Host: n")
              for _ in range(10)]
    t.ok(all(st == 200 and b == b"hello from nghttpd\n" for st, _, b in bodies),
         "10 sequential requests to an http2 cluster with maxRequestsPerConnection 3",
         [st for st, _, _ in bodies])
    t.ok(cx_total(p, cn) == 4, "... took 4 upstream connections", cx_total(p, cn))
    r = subprocess.run(["h2load", "-c1", "-m10", "-n30", "-H", ":authority: n",
                        base + "/index.html"], capture_output=True, text=True, timeout=60)
    m = re.search(r"(\d+) succeeded, (\d+) failed", r.stdout)
    t.ok(m and m.group(1) == "30" and m.group(2) == "0",
         "30 requests, 10 at a time: none fails", r.stdout[-1500:])
    t.ok(cx_total(p, cn) == 14, "... on 10 more connections of 3 streams each", cx_total(p, cn))
    time.sleep(0.5)
    active = 0
    for line in p.admin("/clusters")[1].splitlines():
        parts = line.split("::")
        if len(parts) == 4 and parts[0] == cn and parts[2] == "cx_active":
            active += int(parts[3])
    t.ok(active <= 1, "the full connections are closed once their streams are done "
         "(%d left open)" % active, p.admin("/clusters")[1])

    silent.close()
    for s in held:
        s.close()
    server.stop(0)
    nghttpd.terminate()
    nghttpd.wait(5)


if __name__ == "__main__":
    wt.main(body)
