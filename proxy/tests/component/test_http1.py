"""HTTP/1.1 on the wire: bad input (400, 431, smuggling forms, header timeout)
without disturbing other connections, keep-alive reuse on both sides, chunked
streaming, large bodies, Expect: 100-continue, WebSocket upgrade, HEAD,
pipelining, HTTP/1.0."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import hashlib
import json
import os
import socket
import subprocess
import time

import weirtest as wt
from weirtest import Config, Proxy, curl, fqdn, raw, upstream


def read_response(s, timeout=5, buf=b""):
    """Reads one response (content-length or chunked) from a socket, starting with
    bytes already read (buf); returns (status, headers, body, leftover)."""
    s.settimeout(timeout)
    while b"\r\n\r\n" not in buf:
        c = s.recv(65536)
        if not c:
            return 0, {}, buf, b""
        buf += c
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(rest) < n:
            c = s.recv(65536)
            if not c:
                break
            rest += c
        return status, headers, rest[:n], rest[n:]
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += s.recv(65536)
            line, _, rest = rest.partition(b"\r\n")
            n = int(line.split(b";")[0], 16)
            while len(rest) < n + 2:
                rest += s.recv(65536)
            body += rest[:n]
            rest = rest[n + 2:]
            if n == 0:
                return status, headers, body, rest
    return status, headers, rest, b""


def body(t, ctx):
    ua = upstream.Server(("127.0.0.1", 0), "a").start()
    L = wt.free_port()
    A = fqdn("a")
    cfg = Config()
    cfg.proxy["limits"] = {"maxHeaderBytes": 4096, "maxHeaders": 20, "headerTimeoutMs": 700,
                           "maxRetryBodyBytes": 65536}
    cfg.cluster(A, L, [("127.0.0.1", ua.server_address[1])])
    # the listener's address belongs to the service: the port is declared HTTP, so
    # bytes that are not HTTP get a 400 rather than a TCP tunnel
    cfg.service(A, L, addresses=["127.0.0.1"])
    path = os.path.join(ctx["dir"], "config.json")
    cfg.write(path)
    # one worker: upstream pools are per worker, and the reuse checks below need every
    # client connection to meet the same pool
    p = Proxy(ctx["binary"], ctx["dir"], path, outbound=["127.0.0.1:%d" % L], workers=1)
    ctx["proxies"].append(p)
    p.start()
    addr = "127.0.0.1:%d" % L
    base = "http://" + addr

    # a bystander request in flight while the bad input arrives must not notice it
    by = socket.create_connection(("127.0.0.1", L))
    by.sendall(b"GET /bystander HTTP/1.1\r\nHost: a\r\nx-test-delay-ms: 1500\r\n\r\n")

    def rejects(name, data, status):
        out = raw(addr, data)
        first = out.split(b"\r\n", 1)[0]
        ok = first.startswith(b"HTTP/1.1 %d" % status) and b"connection: close" in out
        t.ok(ok, "%s: %d and close" % (name, status), out[:300])

    rejects("garbage", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", 400)
    rejects("header block over maxHeaderBytes",
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"x" * 5000 + b"\r\n\r\n", 431)
    rejects("more fields than maxHeaders",
            b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(25))
            + b"\r\n", 431)
    rejects("Content-Length with Transfer-Encoding",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"0\r\n\r\n", 400)
    rejects("two Content-Length",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400)
    rejects("Transfer-Encoding other than chunked",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 501)
    rejects("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\n\r\n", 400)
    rejects("bare LF", b"GET / HTTP/1.1\nHost: a\n\n", 400)
    rejects("space before colon",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400)
    rejects("bad chunk size",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", 400)
    rejects("two Host headers", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)
    rejects("missing Host", b"GET / HTTP/1.1\r\n\r\n", 400)
    n_before = len(ua.log)
    out = raw(addr, b"POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"
              b"helloGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
    t.ok(out.startswith(b"HTTP/1.1 400") and out.count(b"HTTP/1.1") == 1
         and not any(e["path"] == "/smuggled" for e in ua.log[n_before:]),
         "a smuggled second request never reaches the upstream", out[:200])

    st0, _, _, _ = read_response(by)
    by.sendall(b"GET /bystander2 HTTP/1.1\r\nHost: a\r\n\r\n")
    st1, h1, b1, _ = read_response(by)
    t.ok(st0 == 200 and st1 == 200, "the bystander connection was not disturbed", (st0, st1))
    by.close()

    t0 = time.time()
    out = raw(addr, b"GET / HTTP/1.1\r\nHost: a\r\n")  # never finished
    dt = time.time() - t0
    t.ok(out.startswith(b"HTTP/1.1 408") and 0.5 <= dt < 3, "slow client: 408 after the header "
         "timeout (%.2fs)" % dt, out[:100])
    t0 = time.time()
    out = raw(addr, b"")
    dt = time.time() - t0
    t.ok(out == b"" and 0.5 <= dt < 3, "idle connection closed quietly (%.2fs)" % dt, out)

    # keep-alive: one downstream connection, one upstream connection, five requests
    conns = ua.counters.connections
    r = subprocess.run(["curl", "-s", "--noproxy", "*", "-H", "Host: a"] + [base + "/k"] * 5,
                       capture_output=True, timeout=30)
    echoes = [json.loads(x) for x in r.stdout.replace(b"}{", b"}\n{").split(b"\n") if x]
    t.ok(len(echoes) == 5 and len({e["connection"] for e in echoes}) == 1,
         "five requests reuse one upstream connection", [e["connection"] for e in echoes])
    st, h, b = curl(base + "/k2", "-H", "Host: a")
    t.ok(json.loads(b)["connection"] == echoes[0]["connection"],
         "a new client connection reuses the pooled upstream connection")
    t.ok(ua.counters.connections - conns <= 2, "upstream connections opened: %d"
         % (ua.counters.connections - conns))
    t.ok(p.metric("weir_proxy_upstream_rq_reused_cx_total") >= 4, "reuse is counted",
         p.metric("weir_proxy_upstream_rq_reused_cx_total"))

    # chunked response streamed as it comes
    s = socket.create_connection(("127.0.0.1", L))
    s.sendall(b"GET /c HTTP/1.1\r\nHost: a\r\nx-test-chunks: 4\r\nx-test-chunk-delay-ms: 400\r\n\r\n")
    t0 = time.time()
    s.settimeout(5)
    first = s.recv(65536)
    while b"piece-0" not in first:
        first += s.recv(65536)
    t_first = time.time() - t0
    rest = b""
    while not (first + rest).endswith(b"0\r\n\r\n"):
        rest += s.recv(65536)
    t_all = time.time() - t0
    s.close()
    t.ok(b"transfer-encoding: chunked" in first and t_first < 0.35 and t_all >= 1.1,
         "chunked response is streamed, not buffered (first %.2fs, all %.2fs)" % (t_first, t_all))

    data = os.urandom(300000)
    st, h, b = curl(base + "/up", "-H", "Host: a", "-H", "Transfer-Encoding: chunked",
                    "--data-binary", "@-", data=data)
    j = json.loads(b) if st == 200 else {}
    t.ok(st == 200 and j.get("body_len") == len(data)
         and j.get("body_sha") == hashlib.sha256(data).hexdigest()
         and j["headers"].get("transfer-encoding") == "chunked",
         "chunked request upload (300 kB) arrives intact", (st, j.get("body_len")))
    data = os.urandom(5 * 1024 * 1024)
    st, h, b = curl(base + "/big", "-H", "Host: a", "--data-binary", "@-", data=data)
    j = json.loads(b) if st == 200 else {}
    t.ok(st == 200 and j.get("body_sha") == hashlib.sha256(data).hexdigest()
         and j["headers"].get("content-length") == str(len(data)),
         "5 MB upload past maxRetryBodyBytes streams intact", (st, j.get("body_len")))
    r = subprocess.run(["curl", "-s", "--noproxy", "*", "-H", "Host: a", "-H",
                        "x-test-size: 20000000", "-o", "-", base + "/down"], capture_output=True,
                       timeout=60)
    expect = (bytes(range(256)) * 256)
    t.ok(len(r.stdout) == 20000000 and r.stdout[:65536] == expect and
         r.stdout[-100:] == expect[(20000000 % 65536) - 100:20000000 % 65536],
         "20 MB download intact", len(r.stdout))

    # Expect: 100-continue answered by the proxy, body then forwarded
    s = socket.create_connection(("127.0.0.1", L))
    s.settimeout(5)
    s.sendall(b"POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    cont = s.recv(100)
    s.sendall(b"hello")
    st, h, b, _ = read_response(s)
    s.close()
    j = json.loads(b) if st == 200 else {}
    t.ok(cont == b"HTTP/1.1 100 Continue\r\n\r\n" and st == 200 and j.get("body_len") == 5
         and "expect" not in j.get("headers", {}), "100-continue", (cont, st, j.get("headers")))
    st, h, b = curl(base + "/e2", "-H", "Host: a", "-H", "Expect: 100-continue", "--data-binary",
                    "@-", data=b"x" * 2000)
    t.ok(st == 200 and json.loads(b)["body_len"] == 2000, "curl with Expect: 100-continue")

    # WebSocket: 101, then bytes both ways
    s = socket.create_connection(("127.0.0.1", L))
    s.settimeout(5)
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    head, _, extra = head.partition(b"\r\n\r\n")
    s.sendall(b"\x81\x05hello")
    echo = extra
    while len(echo) < 7:
        echo += s.recv(4096)
    s.sendall(b"second")
    echo2 = b""
    while len(echo2) < 6:
        echo2 += s.recv(4096)
    s.close()
    hl = head.lower()
    t.ok(head.startswith(b"HTTP/1.1 101") and b"upgrade: websocket" in hl
         and b"connection: upgrade" in hl and echo == b"\x81\x05hello" and echo2 == b"second",
         "WebSocket upgrade, then byte passthrough", (head, echo, echo2))

    st, h, b = curl(base + "/h", "-H", "Host: a", "-I")
    t.ok(st == 200 and h.get("content-length") and b == b"", "HEAD", (st, h, b))

    s = socket.create_connection(("127.0.0.1", L))
    s.sendall(b"GET /p1 HTTP/1.1\r\nHost: a\r\n\r\nGET /p2 HTTP/1.1\r\nHost: a\r\n\r\n")
    st1, _, b1, left = read_response(s)
    st2, _, b2, _ = read_response(s, buf=left)
    s.close()
    t.ok(st1 == 200 and st2 == 200 and json.loads(b1)["path"] == "/p1"
         and json.loads(b2)["path"] == "/p2", "pipelined requests answered in order")

    out = raw(addr, b"GET /old HTTP/1.0\r\nHost: a\r\n\r\n")
    t.ok(out.startswith(b"HTTP/1.1 200") and b'"path": "/old"' in out, "HTTP/1.0 request, "
         "closed after the response", out[:100])
    out = raw(addr, b"GET /nolen HTTP/1.1\r\nHost: a\r\nx-test-no-length: 1\r\n"
              b"Connection: close\r\n\r\n")
    t.ok(b"transfer-encoding: chunked" in out and out.endswith(b"0\r\n\r\n"),
         "a close-delimited upstream body is re-framed as chunked", out[:300])
    t.ok(p.metric("weir_proxy_downstream_protocol_errors_total") >= 13,
         "protocol errors are counted", p.metric("weir_proxy_downstream_protocol_errors_total"))


if __name__ == "__main__":
    wt.main(body)
