"""gRPC end to end: a grpcio client -> weir-proxy (h2c) -> a grpcio server.
A unary call with its trailers, an error status carried in a trailers-only
response, the route timeout as DEADLINE_EXCEEDED, a fault abort's grpcStatus, an
unreachable upstream as UNAVAILABLE, concurrent calls multiplexed on one upstream
connection, inbound gRPC to the local application, and request_protocol="grpc" in
the metrics."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import os
import re
import struct
import subprocess
import time
from concurrent import futures

import weirtest as wt
from weirtest import Config, Proxy, fqdn

try:
    import grpc
except ImportError:  # Debian: python3-grpcio
    grpc = None


def serve(port):
    def unary(request, context):
        context.set_trailing_metadata((("x-echo-trailer", "tv"),))
        return b"echo:" + request

    def fail(request, context):
        context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")

    def slow(request, context):
        time.sleep(2)
        return b"late"

    def meta(request, context):
        md = dict(context.invocation_metadata())
        return ("%s|%s" % (md.get("x-weir-test", ""), md.get("via", ""))).encode()

    handler = grpc.method_handlers_generic_handler("test.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
        "Fault": grpc.unary_unary_rpc_method_handler(unary),
        "Meta": grpc.unary_unary_rpc_method_handler(meta),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    return server


def body(t, ctx):
    if grpc is None:
        t.ok(False, "python3 grpc is installed (Debian package python3-grpcio)")
        return
    gport, dead, L = wt.free_port(), wt.free_port(), wt.free_port()
    server = serve(gport)
    E, D = fqdn("echo"), fqdn("dead")
    cfg = Config()
    ce = cfg.cluster(E, L, [("127.0.0.1", gport)], protocol="grpc")
    cd = cfg.cluster(D, L, [("127.0.0.1", dead)], protocol="grpc")

    def route(cluster, **kw):
        r = {"route": [{"cluster": cluster, "weight": 100}]}
        r.update(kw)
        return r

    def m(prefix):
        return [{"uri": {"prefix": prefix}}]

    cfg.service(E, L, protocol="grpc", aliases=["echo"], http=[
        route(ce, name="slow", match=m("/test.Echo/Slow"), timeoutMs=300),
        route(ce, name="fault", match=m("/test.Echo/Fault"),
              fault={"abort": {"grpcStatus": 8, "percentage": 100}}),
        route(ce, name="default",
              headers={"request": {"set": {"x-weir-test": "added-by-route"}}}),
    ])
    cfg.service(D, L, protocol="grpc", aliases=["dead"])
    path = os.path.join(ctx["dir"], "config.json")
    cfg.write(path)
    p = Proxy(ctx["binary"], ctx["dir"], path, outbound=["127.0.0.1:%d" % L],
              inbound=["127.0.0.5:%d" % gport], workers=1)
    ctx["proxies"].append(p)
    p.start()

    def channel(host):
        return grpc.insecure_channel("127.0.0.1:%d" % L, options=[
            ("grpc.default_authority", host), ("grpc.enable_http_proxy", 0)])

    ch = channel("echo")

    def call(method, req=b"hi", timeout=5, chan=None):
        fn = (chan or ch).unary_unary("/test.Echo/" + method)
        try:
            resp, c = fn.with_call(req, timeout=timeout)
            return grpc.StatusCode.OK, resp, dict(c.trailing_metadata() or ()), ""
        except grpc.RpcError as e:
            return e.code(), None, dict(e.trailing_metadata() or ()), e.details()

    code, resp, tr, _ = call("Unary", b"hello")
    t.ok(code == grpc.StatusCode.OK and resp == b"echo:hello", "unary call through the proxy",
         (code, resp))
    t.ok(tr.get("x-echo-trailer") == "tv", "the server's trailers reach the client", tr)
    big = os.urandom(1500000)
    code, resp, _, _ = call("Unary", big, timeout=20)
    t.ok(code == grpc.StatusCode.OK and resp == b"echo:" + big,
         "a 1.5 MB message each way (flow control on both connections)",
         (code, len(resp or b"")))
    code, resp, _, _ = call("Meta")
    t.ok(code == grpc.StatusCode.OK and resp.startswith(b"added-by-route|"),
         "route header operations apply to gRPC requests", resp)

    code, _, _, details = call("Fail")
    t.ok(code == grpc.StatusCode.NOT_FOUND and details == "no such thing",
         "an error status and message propagate", (code, details))

    # the same error seen on the wire: one HEADERS frame that ends the stream
    msg = os.path.join(ctx["dir"], "msg.bin")
    with open(msg, "wb") as f:
        f.write(b"\x00" + struct.pack(">I", 2) + b"hi")
    r = subprocess.run(["nghttp", "-v", "-H", ":authority: echo", "-H", ":method: POST",
                        "-H", "content-type: application/grpc", "-H", "te: trailers",
                        "-d", msg, "http://127.0.0.1:%d/test.Echo/Fail" % L],
                       capture_output=True, text=True, timeout=20)
    heads = re.findall(r"recv HEADERS frame <[^>]*flags=(0x[0-9a-f]+)", r.stdout)
    t.ok(heads == ["0x05"] and "grpc-status: 5" in r.stdout and "recv DATA frame" not in r.stdout,
         "trailers-only response: one HEADERS with END_STREAM carrying grpc-status",
         r.stdout[-3000:])

    # a trailers-only answer to an HTTP/1.1 client: the fields in the head, framed
    st, h, b = wt.curl("http://127.0.0.1:%d/test.Echo/Fail" % L, "--http1.1", "-H", "Host: echo",
                       "-H", "content-type: application/grpc", "--data-binary", "@" + msg,
                       timeout=5)
    t.ok(st == 200 and h.get("grpc-status") == "5" and h.get("content-length") == "0",
         "HTTP/1.1 client, HTTP/2 upstream: a trailers-only answer is a complete response",
         (st, h, b))

    t0 = time.time()
    code, _, _, details = call("Slow", timeout=5)
    dt = time.time() - t0
    t.ok(code == grpc.StatusCode.DEADLINE_EXCEEDED and dt < 1.5,
         "route timeout: grpc-status 4 DEADLINE_EXCEEDED from the proxy (%.2fs)" % dt,
         (code, details))
    code, _, _, details = call("Fault")
    t.ok(code == grpc.StatusCode.RESOURCE_EXHAUSTED and details == "fault filter abort",
         "fault abort with grpcStatus 8", (code, details))
    code, _, _, details = call("Unary", chan=channel("dead"))
    t.ok(code == grpc.StatusCode.UNAVAILABLE, "an unreachable upstream: UNAVAILABLE",
         (code, details))

    with futures.ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda i: call("Unary", b"%d" % i), range(200)))
    t.ok(all(r[0] == grpc.StatusCode.OK and r[1] == b"echo:%d" % i
             for i, r in enumerate(results)), "200 concurrent calls, each with its own answer",
         [r[0] for r in results if r[0] != grpc.StatusCode.OK][:5])
    cx = 0
    for line in p.admin("/clusters")[1].splitlines():
        parts = line.split("::")
        if len(parts) == 4 and parts[0] == ce and parts[2] == "cx_total":
            cx += int(parts[3])
    t.ok(cx == 1, "one upstream connection carried every call", cx)

    # inbound, to the application on the same port: an undeclared port speaks
    # whatever the client spoke, HTTP/2 here
    inbound = grpc.insecure_channel("127.0.0.5:%d" % gport,
                                    options=[("grpc.enable_http_proxy", 0)])
    code, resp, tr, _ = call("Unary", b"in", chan=inbound)
    t.ok(code == grpc.StatusCode.OK and resp == b"echo:in" and tr.get("x-echo-trailer") == "tv",
         "inbound gRPC to the local application, trailers included", (code, resp, tr))
    inbound.close()

    time.sleep(0.3)
    n = p.metric("istio_requests_total", {"destination_service": E, "request_protocol": "grpc",
                                          "response_code": "200"})
    # Unary, 1.5 MB, Meta, Fail, nghttp's Fail, curl's Fail, Slow, Fault, 200 concurrent
    t.ok(n == 208, "istio_requests_total{request_protocol=\"grpc\"} counts every call (%s)" % n,
         p.metrics()[-2000:])
    ch.close()
    server.stop(0)


if __name__ == "__main__":
    wt.main(body)
