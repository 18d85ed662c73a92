"""Mirrors to clusters that speak HTTP/2: a gRPC call mirrored to a second grpcio
server (the copy arrives with its exact message; a slow or unreachable mirror never
delays or fails the call; a body past limits.maxRetryBodyBytes is not mirrored),
and an HTTP/1.1 request mirrored to nghttpd through an http2 cluster and an http
cluster with h2UpgradePolicy upgrade (nghttpd's -v log shows the shadow authority,
the content-length and every body byte)."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import atexit
import os
import re
import shutil
import subprocess
import threading
import time
from concurrent import futures

import weirtest as wt
from weirtest import Config, Proxy, curl, fqdn, upstream

try:
    import grpc
except ImportError:  # Debian: python3-grpcio
    grpc = None


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.calls = []

    def add(self, what):
        with self.lock:
            self.calls.append(what)

    def wait(self, n, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.calls) >= n:
                    return list(self.calls)
            time.sleep(0.05)
        with self.lock:
            return list(self.calls)


def serve(port, rec, delay):
    def unary(request, context):
        if delay:
            time.sleep(delay)
        rec.add(request)
        return b"echo:" + request[:16]

    handler = grpc.method_handlers_generic_handler("test.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         options=[("grpc.max_receive_message_length", 8 << 20)])
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
    main_port, mirror_port, dead, L = (wt.free_port() for _ in range(4))
    main_rec, mirror_rec = Recorder(), Recorder()
    main_srv = serve(main_port, main_rec, 0)
    # the shadow is slow: the client's call must not wait for it
    mirror_srv = serve(mirror_port, mirror_rec, 1.0)

    docroot = os.path.join(ctx["dir"], "docroot")
    os.makedirs(docroot)
    gport = wt.free_port()
    nghttpd_log = os.path.join(ctx["dir"], "nghttpd.log")
    nghttpd = subprocess.Popen(["nghttpd", "-v", "--no-tls", "-a", "127.0.0.1", "-d", docroot,
                                "--echo-upload", str(gport)],
                               stdout=open(nghttpd_log, "w"), stderr=subprocess.DEVNULL)
    atexit.register(nghttpd.kill)  # also when the body raises
    ua = upstream.Server(("127.0.0.1", 0), "a").start()

    E, M, D = fqdn("echo"), fqdn("shadow"), fqdn("dead")
    P, NG, NU = fqdn("p"), fqdn("ng"), fqdn("ngu")
    cfg = Config()
    cfg.proxy["limits"] = {"maxRetryBodyBytes": 200000}
    ce = cfg.cluster(E, L, [("127.0.0.1", main_port)], protocol="grpc")
    cm = cfg.cluster(M, L, [("127.0.0.1", mirror_port)], protocol="grpc")
    cd = cfg.cluster(D, L, [("127.0.0.1", dead)], protocol="grpc")
    cp = cfg.cluster(P, L, [("127.0.0.1", ua.server_address[1])])
    cng = cfg.cluster(NG, L, [("127.0.0.1", gport)], protocol="http2")
    cnu = cfg.cluster(NU, L, [("127.0.0.1", gport)],
                      policy={"connectionPool": {"http": {"h2UpgradePolicy": "upgrade"}}})
    cfg.service(E, L, protocol="grpc", aliases=["echo"], http=[
        {"name": "mirrored", "route": [{"cluster": ce, "weight": 100}],
         "mirrors": [{"cluster": cm, "percentage": 100}, {"cluster": cd, "percentage": 100}]}])
    cfg.service(M, L, protocol="grpc")
    cfg.service(D, L, protocol="grpc")
    cfg.service(P, L, aliases=["p"], http=[
        {"name": "mirrored", "route": [{"cluster": cp, "weight": 100}],
         "mirrors": [{"cluster": cng, "percentage": 100}, {"cluster": cnu, "percentage": 100}]}])
    cfg.service(NG, L, protocol="http2")
    cfg.service(NU, L)
    path = os.path.join(ctx["dir"], "config.json")
    cfg.write(path)
    p = Proxy(ctx["binary"], ctx["dir"], path, outbound=["127.0.0.1:%d" % L], workers=1)
    ctx["proxies"].append(p)
    p.start()

    ch = grpc.insecure_channel("127.0.0.1:%d" % L, options=[
        ("grpc.default_authority", "echo"), ("grpc.enable_http_proxy", 0),
        ("grpc.max_send_message_length", 8 << 20)])
    fn = ch.unary_unary("/test.Echo/Unary")

    def call(msg):
        t0 = time.time()
        try:
            resp = fn(msg, timeout=5)
            return resp, time.time() - t0
        except grpc.RpcError as e:
            return e.code(), time.time() - t0

    resp, dt = call(b"hello-mirror")
    t.ok(resp == b"echo:hello-mirror" and dt < 0.8,
         "the gRPC call is answered by the main upstream without waiting for the slow "
         "mirror or the unreachable one (%.2fs)" % dt, resp)
    got = mirror_rec.wait(1)
    t.ok(got == [b"hello-mirror"],
         "the mirror, a grpc cluster, receives the call over HTTP/2 with its message", got)

    msg = os.urandom(100000)
    resp, dt = call(msg)
    got = mirror_rec.wait(2)
    t.ok(resp == b"echo:" + msg[:16] and len(got) == 2 and got[1] == msg,
         "a 100 KB message is mirrored byte for byte", (len(got), len(got[-1]) if got else 0))

    msg = os.urandom(300000)
    resp, dt = call(msg)
    time.sleep(1.5)
    got = mirror_rec.wait(3, timeout=0.5)
    t.ok(resp == b"echo:" + msg[:16] and len(got) == 2 and len(main_rec.calls) == 3,
         "a message past limits.maxRetryBodyBytes reaches the main upstream only",
         (len(got), len(main_rec.calls)))

    # ---- HTTP/1.1 client, mirrors to an http2 cluster and an upgraded http one ----
    data = os.urandom(5000)
    st, h, b = curl("http://127.0.0.1:%d/m/1" % L, "--http1.1", "-H", "Host: p",
                    "--data-binary", "@-", data=data)
    t.ok(st == 200 and h.get("x-upstream") == "a", "the HTTP/1.1 request is answered", (st, h))
    deadline = time.time() + 5
    shadows = []
    while time.time() < deadline:
        with open(nghttpd_log, errors="replace") as f:
            log = f.read()
        shadows = re.findall(r"recv \(stream_id=(\d+)\) :authority: p-shadow", log)
        if len(shadows) >= 2 and log.count("send DATA frame") >= 2:
            break
        time.sleep(0.1)
    t.ok(len(shadows) == 2, "both shadows reach nghttpd over HTTP/2 with the -shadow authority",
         log[-3000:])
    lengths = re.findall(r"recv \(stream_id=\d+\) content-length: (\d+)", log)
    received = sum(int(n) for n in re.findall(r"recv DATA frame <length=(\d+)", log))
    t.ok(lengths == ["5000", "5000"] and received == 10000,
         "each shadow carries content-length 5000 and the 5000 body bytes",
         (lengths, received))

    time.sleep(0.3)
    n = p.metric("weir_proxy_mirror_requests_total")
    # 3 gRPC calls x 2 mirrors minus the 300 KB one, 1 HTTP/1.1 request x 2 mirrors
    t.ok(n == 6, "weir_proxy_mirror_requests_total counts each shadow sent (%s)" % n, n)

    ch.close()
    main_srv.stop(0)
    mirror_srv.stop(0)
    nghttpd.terminate()
    nghttpd.wait(5)


if __name__ == "__main__":
    wt.main(body)
