"""HTTP/2 with prior knowledge (h2c), downstream and upstream: routing by
:authority and path as for HTTP/1.1, 100 concurrent streams on one connection,
retries and timeouts, a reset stream that leaves its siblings alone, header limits,
an HTTP/2 upstream multiplexed on one connection with trailers passed through and
its concurrent-stream limit respected, REFUSED_STREAM and GOAWAY retries,
per-stream metrics, and GOAWAY on SIGTERM with the streams in flight finishing."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import atexit
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import threading
import time

import h2raw
import weirtest as wt
from weirtest import Config, Proxy, curl, fqdn, upstream


def h2load(url, *args, timeout=60):
    r = subprocess.run(["h2load"] + list(args) + [url], capture_output=True, text=True,
                       timeout=timeout)
    m = re.search(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored", r.stdout)
    codes = re.search(r"status codes: (\d+) 2xx", r.stdout)
    if not m:
        return None, r.stdout + r.stderr
    return {"total": int(m.group(1)), "ok": int(m.group(2)), "failed": int(m.group(3)),
            "errored": int(m.group(4)), "2xx": int(codes.group(1)) if codes else 0}, r.stdout


def cx_total(p, cluster):
    text = p.admin("/clusters")[1]
    n = 0
    for line in text.splitlines():
        parts = line.split("::")
        if len(parts) == 4 and parts[0] == cluster and parts[2] == "cx_total":
            n += int(parts[3])
    return n


def body(t, ctx):
    ua = upstream.Server(("127.0.0.1", 0), "a").start()
    ub = upstream.Server(("127.0.0.1", 0), "b").start()
    L = wt.free_port()
    R, S, G = fqdn("r"), fqdn("s"), fqdn("g")

    docroot = os.path.join(ctx["dir"], "docroot")
    os.makedirs(docroot)
    with open(os.path.join(docroot, "index.html"), "w") as f:
        f.write("hello from nghttpd\n")
    have_nghttpd = shutil.which("nghttpd") is not None
    gport = wt.free_port()
    nghttpd = nghttpd5 = None
    gport5 = 0
    if have_nghttpd:
        nghttpd = subprocess.Popen(["nghttpd", "--no-tls", "-a", "127.0.0.1", "-d", docroot,
                                    "--trailer", "x-upstream-trailer: t1", str(gport)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        atexit.register(nghttpd.kill)  # also when the body raises
        # a peer that takes 5 concurrent streams at most
        gport5 = wt.free_port()
        nghttpd5 = subprocess.Popen(["nghttpd", "--no-tls", "-a", "127.0.0.1", "-d", docroot,
                                     "-m", "5", str(gport5)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        atexit.register(nghttpd5.kill)

    cfg = Config()
    cfg.proxy["limits"] = {"maxHeaderBytes": 8192}
    ca = cfg.cluster(R, L, [("127.0.0.1", ua.server_address[1])])
    cb = cfg.cluster(S, L, [("127.0.0.1", ub.server_address[1])])
    cg = cfg.cluster(G, L, [("127.0.0.1", gport)], protocol="http2")
    G5 = fqdn("g5")
    cg5 = cfg.cluster(G5, L, [("127.0.0.1", gport5 if have_nghttpd else gport)],
                      protocol="http2")
    cfg.service(G5, L, protocol="http2")
    G5M = fqdn("g5m")
    cg5m = cfg.cluster(G5M, L, [("127.0.0.1", gport5 if have_nghttpd else gport)],
                       protocol="http2",
                       policy={"connectionPool": {"tcp": {"maxConnections": 2}}})
    cfg.service(G5M, L, protocol="http2")
    refuser, goaway_srv = h2raw.Server("refuse"), h2raw.Server("goaway")
    RF, GW = fqdn("refuse"), fqdn("goaway")
    cfg.cluster(RF, L, [("127.0.0.1", refuser.port)], protocol="http2")
    cfg.cluster(GW, L, [("127.0.0.1", goaway_srv.port)], protocol="http2")
    cfg.service(RF, L, protocol="http2")
    cfg.service(GW, L, protocol="http2")

    def route(cluster, **kw):
        r = {"route": [{"cluster": cluster, "weight": 100}]}
        r.update(kw)
        return r

    def m(prefix):
        return [{"uri": {"prefix": prefix}}]

    cfg.service(R, L, http=[
        route(cb, name="to-b", match=m("/b/")),
        route(ca, name="timeout", match=m("/timeout"), timeoutMs=300),
        route(ca, name="retry", match=m("/retry/"), retries={"attempts": 3, "retryOn": ["5xx"]}),
        route(ca, name="default"),
    ])
    cfg.service(S, L)
    cfg.service(G, L, protocol="http2")
    path = os.path.join(ctx["dir"], "config.json")
    cfg.write(path)
    # one worker: every downstream connection shares the worker's upstream connections
    p = Proxy(ctx["binary"], ctx["dir"], path, outbound=["127.0.0.1:%d" % L], workers=1)
    ctx["proxies"].append(p)
    p.start()
    base = "http://127.0.0.1:%d" % L
    addr = "127.0.0.1:%d" % L

    def get(path, host, *args):
        return curl(base + path, "--http2-prior-knowledge", "-H", "Host: " + host, *args)

    # ---- routing, as over HTTP/1.1 ----
    st, h, b = get("/x", "r")
    j = json.loads(b) if st == 200 else {}
    t.ok(st == 200 and h.get("x-upstream") == "a" and j.get("path") == "/x",
         "h2c GET routed by :authority to r", (st, h, b))
    t.ok(j.get("headers", {}).get("host") == "r" and "content-length" not in j.get("headers", {}),
         "the HTTP/1.1 upstream sees host from :authority and no invented body framing", j)
    st, h, b = get("/x", "s")
    t.ok(st == 200 and h.get("x-upstream") == "b", "another :authority, another service",
         (st, h))
    st, h, b = get("/b/y", "r")
    t.ok(st == 200 and h.get("x-upstream") == "b", "path prefix route over HTTP/2", (st, h))
    st, h, b = get("/x", "nowhere")
    t.ok(st == 404 and h.get("x-weir-response-flags") == "NR" and b"nowhere" in b,
         "unknown :authority: 404 NR", (st, h, b))
    data = os.urandom(300000)
    st, h, b = curl(base + "/post", "--http2-prior-knowledge", "-H", "Host: r",
                    "--data-binary", "@-", data=data)
    j = json.loads(b) if st == 200 else {}
    t.ok(st == 200 and j.get("body_len") == len(data) and
         j.get("body_sha") == __import__("hashlib").sha256(data).hexdigest(),
         "a 300 KB request body crosses intact (flow control)", (st, j.get("body_len")))
    st, h, b = get("/x", "r", "-H", "x-test-size: 1000000")
    t.ok(st == 200 and len(b) == 1000000, "a 1 MB response body", (st, len(b)))

    # ---- resilience ----
    st, h, b = get("/retry/1", "r", "-H", "x-test-fail: 2", "-H", "x-test-key: h2k1")
    seen = sum(1 for e in ua.log if dict(e["headers"]).get("x-test-key") == "h2k1")
    t.ok(st == 200 and seen == 3, "retries on 503 over HTTP/2", (st, seen))
    t0 = time.time()
    st, h, b = get("/timeout", "r", "-H", "x-test-delay-ms: 2000")
    t.ok(st == 504 and h.get("x-weir-response-flags") == "UT" and time.time() - t0 < 1.5,
         "route timeout over HTTP/2: 504 UT", (st, h))

    st, h, b = get("/x", "r", "-H", "x-big: " + "a" * 9000)
    t.ok(st == 431, "a header list over limits.maxHeaderBytes: 431 on that stream", (st, h, b))
    st, h, b = get("/x", "r")
    t.ok(st == 200, "the next request is served normally", st)

    # ---- 100 concurrent streams on one connection ----
    before = len(ua.log)
    res, out = h2load(base + "/load", "-c1", "-m100", "-n1000", "-H", ":authority: r")
    t.ok(res and res["ok"] == 1000 and res["failed"] == 0 and res["errored"] == 0 and
         res["2xx"] == 1000, "h2load -c1 -m100 -n1000: every stream succeeds", out)
    t.ok(len(ua.log) - before == 1000 and all(e["path"] == "/load" for e in ua.log[before:]),
         "all 1000 streams were routed to r's upstream", len(ua.log) - before)

    # ---- the limits the proxy announces ----
    c = h2raw.Conn(addr)
    f = c.read_frame()
    settings = {}
    if f and f[0] == h2raw.SETTINGS:
        for i in range(0, len(f[3]) - 5, 6):
            k, v = struct.unpack(">HI", f[3][i:i + 6])
            settings[k] = v
    c.close()
    t.ok(settings.get(3) == 1024 and settings.get(6) == 8192,
         "SETTINGS: 1024 concurrent streams, header list size = limits.maxHeaderBytes", settings)

    # ---- a reset stream leaves its siblings alone ----
    c = h2raw.Conn(addr)
    c.request(1, "GET", "/slow1", "r", [("x-test-delay-ms", "600")])
    c.request(3, "GET", "/slow3", "r", [("x-test-delay-ms", "600")])
    time.sleep(0.1)
    c.rst(1)
    got3, data3, goaway, other = False, b"", False, []
    deadline = time.time() + 5
    while time.time() < deadline:
        f = c.read_frame()
        if f is None:
            break
        ftype, flags, sid, payload = f
        if ftype == h2raw.GOAWAY:
            goaway = True
        if sid == 3 and ftype == h2raw.DATA:
            data3 += payload
            if flags & h2raw.END_STREAM:
                got3 = True
                break
        if sid == 1 and ftype in (h2raw.HEADERS, h2raw.DATA):
            other.append(ftype)
    c.close()
    t.ok(got3 and b"/slow3" in data3 and not goaway and not other,
         "RST_STREAM on stream 1: stream 3 on the same connection completes", (got3, data3, other))

    # ---- HTTP/2 upstream: multiplexed, trailers ----
    if have_nghttpd:
        time.sleep(0.2)
        st, h, b = get("/index.html", "g")
        t.ok(st == 200 and b == b"hello from nghttpd\n", "HTTP/2 upstream (nghttpd)", (st, h, b))
        r = subprocess.run(["nghttp", "-v", "-H", ":authority: g", base + "/index.html"],
                           capture_output=True, text=True, timeout=20)
        t.ok("x-upstream-trailer: t1" in r.stdout,
             "upstream trailers reach an HTTP/2 client", r.stdout[-2000:])
        before_cx = cx_total(p, cg)
        res, out = h2load(base + "/index.html", "-c1", "-m100", "-n500", "-H", ":authority: g")
        t.ok(res and res["ok"] == 500 and res["2xx"] == 500,
             "100 concurrent streams through to an HTTP/2 upstream", out)
        t.ok(cx_total(p, cg) - before_cx == 0 and cx_total(p, cg) == 1,
             "one upstream connection carried them all (multiplexed)", cx_total(p, cg))
        res, out = h2load(base + "/index.html", "-c1", "-m50", "-n300", "-H", ":authority: g5")
        t.ok(res and res["ok"] == 300 and res["2xx"] == 300 and cx_total(p, cg5) > 1,
             "a peer allowing 5 concurrent streams: 50 client streams all succeed, on more "
             "upstream connections once the first is at the peer's limit (%d)"
             % cx_total(p, cg5), (out, cx_total(p, cg5)))
        res, out = h2load(base + "/index.html", "-c1", "-m50", "-n300", "-H", ":authority: g5m")
        t.ok(res and res["ok"] == 300 and res["2xx"] == 300 and cx_total(p, cg5m) == 2,
             "... at most tcp.maxConnections of them, the rest of the streams queue on them",
             (out, cx_total(p, cg5m)))
        st, h, b = get("/index.html", "g", "--http1.1")
        t.ok(st == 200 and b == b"hello from nghttpd\n",
             "an HTTP/1.1 client reaches the HTTP/2 upstream", (st, b))
    else:
        t.ok(False, "nghttpd (Debian package nghttp2-server) is installed")

    # ---- requests the upstream did not process are tried again ----
    st, h, b = get("/r", "refuse")
    t.ok(st == 200 and b == b"raw-ok" and refuser.requests == 2,
         "REFUSED_STREAM from the upstream: retried, 200", (st, b, refuser.requests))
    st, h, b = get("/g", "goaway")
    t.ok(st == 200 and b == b"raw-ok" and goaway_srv.connections == 2,
         "GOAWAY before processing: retried on a new connection, 200",
         (st, b, goaway_srv.connections))

    # ---- telemetry: one request per stream ----
    time.sleep(0.3)
    n200 = p.metric("istio_requests_total", {"destination_service": R, "response_code": "200",
                                             "request_protocol": "http"})
    # /x twice, /b/y, /post, 1 MB, retry, the request after 431, 1000 load, slow3
    # (slow1 was reset)
    t.ok(n200 == 1007, "istio_requests_total counts every stream (%s)" % n200, n200)
    lines = p.access_lines()
    t.ok(any(e.get("protocol") == "HTTP/2" and e.get("path") == "/load" for e in lines),
         "the access log says HTTP/2", lines[-1:] if lines else None)
    t.ok(any(e.get("response_code") == 431 and e.get("protocol") == "HTTP/2" for e in lines),
         "the 431 is in the access log", [e for e in lines if e.get("response_code") == 431])
    t.ok(any(e.get("path") == "/slow1" and "DC" in (e.get("response_flags") or "")
             for e in lines), "the reset stream is logged DC",
         [e for e in lines if e.get("path") == "/slow1"])

    # ---- GOAWAY on SIGTERM; streams in flight finish ----
    c = h2raw.Conn(addr)
    c.request(1, "GET", "/inflight", "r", [("x-test-delay-ms", "700")])
    time.sleep(0.2)
    p.proc.send_signal(signal.SIGTERM)
    goaway, done1, data1 = False, False, b""
    deadline = time.time() + 8
    while time.time() < deadline:
        f = c.read_frame()
        if f is None:
            break
        ftype, flags, sid, payload = f
        if ftype == h2raw.GOAWAY:
            goaway = True
        if sid == 1 and ftype == h2raw.DATA:
            data1 += payload
            if flags & h2raw.END_STREAM:
                done1 = True
    c.close()
    t.ok(goaway, "SIGTERM: the client gets GOAWAY")
    t.ok(done1 and b"/inflight" in data1, "the stream in flight finishes after GOAWAY", data1)
    rc = p.proc.wait(15)
    t.ok(rc == 0, "weir-proxy exits 0 after the drain", rc)

    if nghttpd:
        for proc in (nghttpd, nghttpd5):
            proc.terminate()
            proc.wait(5)


if __name__ == "__main__":
    wt.main(body)
