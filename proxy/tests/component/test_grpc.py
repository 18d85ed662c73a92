"""gRPC end to end: a grpcio client -> weir-proxy (h2c) -> a grpcio server.
A unary call with its trailers, an error status carried in a trailers-only
response, the route timeout as DEADLINE_EXCEEDED, a fault abort's grpcStatus, an
unreachable upstream as UNAVAILABLE, concurrent calls multiplexed on one upstream
connection, inbound gRPC to the local application, request_protocol="grpc" in
the metrics, and grpc-timeout as a deadline capped by the route timeout (wire
checks with nghttp, which sets no deadline of its own)."""

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

    def wait(request, context):
        time.sleep(1)
        return b"waited"

    def capped(request, context):
        time.sleep(2)
        return b"late"

    def remaining(request, context):
        # the deadline the server was given, from the grpc-timeout it received
        left = context.time_remaining()
        return b"none" if left is None else ("%.3f" % left).encode()

    handler = grpc.method_handlers_generic_handler("test.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
        "Fault": grpc.unary_unary_rpc_method_handler(unary),
        "Meta": grpc.unary_unary_rpc_method_handler(meta),
        "Wait": grpc.unary_unary_rpc_method_handler(wait),
        "Capped": grpc.unary_unary_rpc_method_handler(capped),
        "Sleep": grpc.unary_unary_rpc_method_handler(capped),
        "Remaining": grpc.unary_unary_rpc_method_handler(remaining),
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
        # the grpcio server would enforce grpc-timeout itself and race the proxy:
        # these routes keep it from the server, so only the proxy can end the call
        route(ce, name="capped", match=m("/test.Echo/Capped"), timeoutMs=1000,
              headers={"request": {"remove": ["grpc-timeout"]}}),
        route(ce, name="sleep", match=m("/test.Echo/Sleep"), timeoutMs=300,
              headers={"request": {"remove": ["grpc-timeout"]}}),
        route(ce, name="wait", match=m("/test.Echo/Wait"),
              headers={"request": {"remove": ["grpc-timeout"]}}),
        route(ce, name="remaining", match=m("/test.Echo/Remaining"), timeoutMs=800),
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

    # ---- grpc-timeout: the client's deadline, capped by the route timeout ----
    def wire(method, timeout_header, http1=False):
        """A call without a client-side deadline, so that only the proxy can end it:
        (seconds, output)."""
        hdrs = ["-H", "content-type: application/grpc", "-H", "te: trailers"]
        if timeout_header is not None:
            hdrs += ["-H", "grpc-timeout: " + timeout_header]
        t0 = time.time()
        if http1:
            st, h, b = wt.curl("http://127.0.0.1:%d/test.Echo/%s" % (L, method), "--http1.1",
                               "-H", "Host: echo", *hdrs, "--data-binary", "@" + msg, timeout=10)
            return time.time() - t0, (st, h, b)
        r = subprocess.run(["nghttp", "-v", "-H", ":authority: echo", "-H", ":method: POST"] +
                           hdrs + ["-d", msg, "http://127.0.0.1:%d/test.Echo/%s" % (L, method)],
                           capture_output=True, text=True, timeout=20)
        return time.time() - t0, r.stdout

    def deadline_answer(out):
        heads = re.findall(r"recv HEADERS frame <[^>]*flags=(0x[0-9a-f]+)", out)
        return (heads == ["0x05"] and ":status: 200" in out and "grpc-status: 4" in out and
                "grpc-message: upstream_response_timeout" in out and
                "recv DATA frame" not in out)

    before_ut = p.metric("istio_requests_total", {"destination_service": E,
                                                  "response_flags": "UT"}) or 0
    dt, out = wire("Wait", "200m")
    t.ok(deadline_answer(out) and 0.15 < dt < 0.9,
         "grpc-timeout 200m, no route timeout: trailers-only grpc-status 4 after %.2fs" % dt,
         out[-3000:])
    dt, out = wire("Capped", "250m")
    t.ok(deadline_answer(out) and 0.2 < dt < 0.9,
         "grpc-timeout 250m under a 1000 ms route timeout: the header wins (%.2fs)" % dt,
         out[-3000:])
    dt, out = wire("Sleep", "5S")
    t.ok(deadline_answer(out) and 0.25 < dt < 1.5,
         "grpc-timeout 5S over a 300 ms route timeout: the route wins (%.2fs)" % dt,
         out[-3000:])
    for bad in ("10", "5s", "123456789m", "0S", "-1S", "1.5S"):
        dt, out = wire("Sleep", bad)
        t.ok(deadline_answer(out) and 0.25 < dt < 1.5,
             "malformed grpc-timeout %r ignored: the 300 ms route timeout applies (%.2fs)"
             % (bad, dt), out[-3000:])
    dt, out = wire("Wait", "abc")
    t.ok("grpc-status: 0" in out and "grpc-status: 4" not in out and dt >= 0.9,
         "malformed grpc-timeout and no route timeout: the call completes (%.2fs)" % dt,
         out[-3000:])
    dt, res = wire("Wait", "300m", http1=True)
    st, h, b = res
    t.ok(st == 200 and h.get("grpc-status") == "4" and h.get("x-weir-response-flags") == "UT"
         and 0.2 < dt < 0.9,
         "an HTTP/1.1 gRPC client's grpc-timeout bounds the call too (%.2fs)" % dt, (st, h, b))

    code, resp, _, _ = call("Remaining", timeout=5)
    t.ok(code == grpc.StatusCode.OK and resp != b"none" and 0.5 < float(resp) <= 0.8,
         "the upstream is given the route's shorter deadline (%s s left)" % resp, (code, resp))
    code, resp, _, _ = call("Remaining", timeout=0.6)
    t.ok(code == grpc.StatusCode.OK and resp != b"none" and 0.3 < float(resp) <= 0.65,
         "a client deadline under the route's reaches the upstream (%s s left)" % resp,
         (code, resp))
    code, _, _, _ = call("Wait", timeout=0.3)
    t.ok(code == grpc.StatusCode.DEADLINE_EXCEEDED, "grpcio client with a 300 ms deadline: "
         "DEADLINE_EXCEEDED", code)

    time.sleep(0.5)
    lines = [e for e in p.access_lines() if e.get("path") in ("/test.Echo/Wait",
                                                              "/test.Echo/Capped",
                                                              "/test.Echo/Sleep")]
    # the grpcio call races its own 300 ms deadline against the proxy's: the
    # client's cancel (DC) or the proxy's deadline (UT) may come first
    grpcio = [e for e in lines if (e.get("user_agent") or "").startswith("grpc-python")]
    others = [e for e in lines if e not in grpcio]
    timed_out = [e for e in others if e.get("response_flags") == "UT"]
    t.ok(len(timed_out) == 10 and all(e.get("response_code") == 200 and
                                     e.get("response_code_details") ==
                                     "upstream_response_timeout" for e in timed_out) and
         all(e.get("response_flags") in ("UT", "DC") for e in grpcio),
         "the access log shows the deadline as UT with status 200", lines)
    ut = p.metric("istio_requests_total", {"destination_service": E, "response_flags": "UT",
                                           "request_protocol": "grpc"}) or 0
    # 200m, 250m, 5S, six malformed values, HTTP/1.1; the grpcio call may race the client
    t.ok(ut - before_ut in (10, 11), "istio_requests_total{response_flags=\"UT\"} counts "
         "every deadline (%s)" % (ut - before_ut), p.metrics()[-2000:])

    ch.close()
    server.stop(0)


if __name__ == "__main__":
    wt.main(body)
