"""Trailers in both directions across protocols: a chunked HTTP/1.1 request's
trailer fields to an HTTP/1.1 upstream (chunked trailers) and to an HTTP/2 upstream
(a trailing HEADERS frame, seen in nghttpd's -v log); HTTP/2 request trailers to
an HTTP/1.1 upstream; response trailers from HTTP/1.1 and HTTP/2 upstreams to
HTTP/1.1 clients (with the last chunk) and HTTP/2 clients; fields that must not be
trailers dropped; trailers over the header limits refused with 431 (HTTP/1.1 and
HTTP/2) and malformed ones with 400."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import atexit
import json
import os
import re
import shutil
import socket
import subprocess
import time

import h2raw
import weirtest as wt
from weirtest import Config, Proxy, fqdn, upstream


def chunked(pieces, trailers):
    """A chunked body with its trailer section, as bytes."""
    out = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
    return out + b"0\r\n" + b"".join(b"%s: %s\r\n" % (k, v) for k, v in trailers) + b"\r\n"


def h1_exchange(addr, host, path, body=None, headers=(), timeout=10):
    """One HTTP/1.1 request on a raw socket (body: bytes already chunk-framed, sent
    with transfer-encoding: chunked); returns (status, head fields, body, trailer
    fields) of a response read to its end."""
    h, port = addr.rsplit(":", 1)
    s = socket.create_connection((h, int(port)), timeout=timeout)
    req = "%s %s HTTP/1.1\r\nHost: %s\r\n" % ("POST" if body is not None else "GET", path, host)
    for k, v in headers:
        req += "%s: %s\r\n" % (k, v)
    if body is not None:
        req += "transfer-encoding: chunked\r\n"
    s.sendall(req.encode() + b"\r\n" + (body or b""))
    f = s.makefile("rb")
    status_line = f.readline()
    if not status_line:
        s.close()
        return 0, {}, b"", []
    status = int(status_line.split()[1])
    fields = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        k, _, v = line.decode("latin-1").partition(":")
        fields[k.strip().lower()] = v.strip()
    data, trailers = b"", []
    if fields.get("transfer-encoding") == "chunked":
        while True:
            line = f.readline()
            if not line:
                trailers = None  # cut short: no last chunk
                break
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while True:
                    line = f.readline()
                    if line in (b"\r\n", b""):
                        break
                    k, _, v = line.decode("latin-1").rstrip("\r\n").partition(":")
                    trailers.append((k.strip().lower(), v.strip()))
                break
            data += f.read(size)
            f.readline()
    elif "content-length" in fields:
        data = f.read(int(fields["content-length"]))
    s.close()
    return status, fields, data, trailers


def body(t, ctx):
    if not shutil.which("nghttpd"):
        t.ok(False, "nghttpd (Debian package nghttp2-server) is installed")
        return
    ua = upstream.Server(("127.0.0.1", 0), "a").start()
    L = wt.free_port()
    A, G = fqdn("a"), fqdn("g")

    docroot = os.path.join(ctx["dir"], "docroot")
    os.makedirs(docroot)
    with open(os.path.join(docroot, "index.html"), "w") as f:
        f.write("hello from nghttpd\n")
    gport = wt.free_port()
    nghttpd_log = os.path.join(ctx["dir"], "nghttpd.log")
    nghttpd = subprocess.Popen(["nghttpd", "-v", "--no-tls", "-a", "127.0.0.1", "-d", docroot,
                                "--echo-upload", "--trailer", "x-upstream-trailer: t1",
                                str(gport)],
                               stdout=open(nghttpd_log, "w"), stderr=subprocess.DEVNULL)
    atexit.register(nghttpd.kill)  # also when the body raises

    cfg = Config()
    cfg.proxy["limits"] = {"maxHeaderBytes": 2048, "maxHeaders": 20}
    ca = cfg.cluster(A, L, [("127.0.0.1", ua.server_address[1])])
    cg = cfg.cluster(G, L, [("127.0.0.1", gport)], protocol="http2")
    cfg.service(A, L, aliases=["a"], http=[
        {"name": "retry", "match": [{"uri": {"prefix": "/retry/"}}],
         "route": [{"cluster": ca, "weight": 100}], "retries": {"attempts": 2, "retryOn": ["5xx"]}},
        {"name": "default", "route": [{"cluster": ca, "weight": 100}]}])
    cfg.service(G, L, protocol="http2", aliases=["g"])
    raw_srv = h2raw.Server("trailers")
    RT = fqdn("rt")
    cfg.cluster(RT, L, [("127.0.0.1", raw_srv.port)], protocol="http2")
    cfg.service(RT, L, protocol="http2", aliases=["rt"])
    big_tr, big_hd = h2raw.Server("bigtrailers"), h2raw.Server("bighead")
    BT, BH = fqdn("bigtr"), fqdn("bighd")
    cfg.cluster(BT, L, [("127.0.0.1", big_tr.port)], protocol="http2")
    cfg.service(BT, L, protocol="http2", aliases=["bigtr"])
    cfg.cluster(BH, L, [("127.0.0.1", big_hd.port)], protocol="http2")
    cfg.service(BH, L, protocol="http2", aliases=["bighd"])
    path = os.path.join(ctx["dir"], "config.json")
    cfg.write(path)
    p = Proxy(ctx["binary"], ctx["dir"], path, outbound=["127.0.0.1:%d" % L], workers=1)
    ctx["proxies"].append(p)
    p.start()
    addr = "127.0.0.1:%d" % L
    base = "http://" + addr
    time.sleep(0.2)  # nghttpd listening

    # ---- HTTP/1.1 request trailers -> HTTP/1.1 upstream ----
    st, h, b, _ = h1_exchange(addr, "a", "/t1", chunked(
        [b"hello ", b"world"], [(b"X-Req-Trailer", b"v1"), (b"grpc-foo", b"bar baz"),
                                (b"Content-Length", b"99"), (b"Host", b"evil")]))
    j = json.loads(b) if st == 200 else {}
    t.ok(st == 200 and j.get("body_len") == 11 and
         j.get("trailers") == [["x-req-trailer", "v1"], ["grpc-foo", "bar baz"]],
         "HTTP/1.1 request trailers reach an HTTP/1.1 upstream as chunked trailers; "
         "content-length and host are not trailers and are dropped", (st, j))
    t.ok(j.get("headers", {}).get("transfer-encoding") == "chunked" and
         "x-req-trailer" not in j.get("headers", {}),
         "the upstream reads them after the body, not in the head", j.get("headers"))

    # ---- two such requests pipelined on one connection: each keeps its own ----
    one = (b"POST /p1 HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\n\r\n" +
           chunked([b"first"], [(b"x-n", b"1")]))
    two = (b"POST /p2 HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\n\r\n" +
           chunked([b"second"], []))
    conn = socket.create_connection(("127.0.0.1", L), timeout=10)
    conn.sendall(one + two)
    f = conn.makefile("rb")
    echoes = []
    for _ in range(2):
        head = {}
        status = f.readline()
        while True:
            line = f.readline()
            if line in (b"\r\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            head[k.strip().lower()] = v.strip()
        echoes.append(json.loads(f.read(int(head.get("content-length", "0")))))
    conn.close()
    t.ok([e.get("path") for e in echoes] == ["/p1", "/p2"] and
         echoes[0].get("trailers") == [["x-n", "1"]] and echoes[1].get("trailers") == [] and
         echoes[0].get("connection") == echoes[1].get("connection"),
         "two pipelined chunked requests on one connection: the trailers stay with theirs",
         echoes)

    # ---- retried: the trailers are replayed with the body ----
    st, h, b, _ = h1_exchange(addr, "a", "/retry/1", chunked([b"again"], [(b"x-rt", b"r")]),
                              headers=[("x-test-fail", "1"), ("x-test-key", "trailer-retry")])
    j = json.loads(b) if st == 200 else {}
    tries = [e for e in ua.log if e["path"] == "/retry/1"]
    t.ok(st == 200 and len(tries) == 2 and j.get("body_len") == 5 and
         j.get("trailers") == [["x-rt", "r"]],
         "a retry after a 503 sends the body and the trailers again", (st, len(tries), j))

    # ---- HTTP/1.1 request trailers -> HTTP/2 upstream (trailing HEADERS) ----
    st, h, b, tr = h1_exchange(addr, "g", "/index.html?t2", chunked(
        [b"upload-", b"body"], [(b"x-req-trailer", b"v2"), (b"x-second", b"s")]))
    time.sleep(0.3)
    with open(nghttpd_log, errors="replace") as f:
        log = f.read()
    m = re.search(r"recv \(stream_id=(\d+)\) :path: /index.html\?t2", log)
    sid = m.group(1) if m else "?"
    got = re.findall(r"recv \(stream_id=%s\) (x-req-trailer|x-second): (\S+)" % sid, log)
    heads = re.findall(r"recv HEADERS frame <[^>]*flags=(0x[0-9a-f]+), stream_id=%s>" % sid, log)
    t.ok(st == 200 and b == b"upload-body", "HTTP/1.1 chunked upload to an HTTP/2 upstream",
         (st, h, b))
    t.ok(got == [("x-req-trailer", "v2"), ("x-second", "s")] and len(heads) == 2 and
         heads[1] == "0x05",
         "its trailers reach the HTTP/2 upstream as a trailing HEADERS frame with END_STREAM",
         (got, heads, log[-3000:]))

    # ---- HTTP/2 upstream response trailers -> HTTP/1.1 client (last chunk) ----
    st, h, b, tr = h1_exchange(addr, "rt", "/t2b")
    t.ok(st == 200 and b == b"raw-ok" and h.get("transfer-encoding") == "chunked" and
         tr == [("x-raw-trailer", "rt")],
         "an HTTP/2 upstream's response trailers reach an HTTP/1.1 client with the last chunk",
         (st, h, b, tr))
    # nghttpd sends content-length: a response framed by its length has no place for them
    st, h, b, tr = h1_exchange(addr, "g", "/index.html")
    t.ok(st == 200 and b == b"hello from nghttpd\n" and tr == [],
         "a length-framed response to an HTTP/1.1 client stays intact, trailers dropped",
         (st, h, b, tr))

    # ---- HTTP/2 request trailers -> HTTP/1.1 upstream ----
    c = h2raw.Conn(addr)
    c.request(1, "POST", "/t3", "a", [("content-type", "text/plain")], end=False)
    c.data(1, b"h2-body")
    c.headers(1, [("x-h2-trailer", "v3"), ("grpc-status-details-bin", "AAEC")], end=True)
    data, types = c.body(1)
    c.close()
    j = json.loads(data) if data else {}
    t.ok(j.get("body_len") == 7 and
         j.get("trailers") == [["x-h2-trailer", "v3"], ["grpc-status-details-bin", "AAEC"]],
         "HTTP/2 request trailers reach an HTTP/1.1 upstream as chunked trailers", (j, types))

    # ---- HTTP/2 request trailers -> HTTP/2 upstream ----
    up = os.path.join(ctx["dir"], "up.bin")
    with open(up, "wb") as f:
        f.write(b"nghttp-upload")
    r = subprocess.run(["nghttp", "-v", "-H", ":authority: g", "-d", up, "--trailer",
                        "x-h2h2-trailer: v4", base + "/index.html?t4"],
                       capture_output=True, text=True, timeout=20)
    time.sleep(0.3)
    with open(nghttpd_log, errors="replace") as f:
        log = f.read()
    m = re.search(r"recv \(stream_id=(\d+)\) :path: /index.html\?t4", log)
    sid = m.group(1) if m else "?"
    t.ok("nghttp-upload" in r.stdout and
         re.search(r"recv \(stream_id=%s\) x-h2h2-trailer: v4" % sid, log),
         "HTTP/2 request trailers reach an HTTP/2 upstream", (r.stdout[-1500:], log[-2000:]))

    # ---- HTTP/1.1 upstream response trailers -> HTTP/1.1 and HTTP/2 clients ----
    st, h, b, tr = h1_exchange(addr, "a", "/t5", headers=[
        ("x-test-trailers", "grpc-status=0,grpc-message=fine,x-r=1")])
    j = json.loads(b) if st == 200 else {}
    t.ok(st == 200 and j.get("path") == "/t5" and
         tr == [("grpc-status", "0"), ("grpc-message", "fine"), ("x-r", "1")],
         "an HTTP/1.1 upstream's response trailers reach an HTTP/1.1 client", (st, h, tr))
    r = subprocess.run(["nghttp", "-v", "-H", ":authority: a", "-H",
                        "x-test-trailers: x-r=2,content-length=5", base + "/t6"],
                       capture_output=True, text=True, timeout=20)
    heads = re.findall(r"recv HEADERS frame <[^>]*flags=(0x[0-9a-f]+)", r.stdout)
    t.ok(heads == ["0x04", "0x05"] and "x-r: 2" in r.stdout and
         "content-length: 5" not in r.stdout,
         "... and an HTTP/2 client as a trailing HEADERS frame (content-length dropped)",
         r.stdout[-2500:])

    # ---- bounds: trailers share the head's limits ----
    st, h, b, _ = h1_exchange(addr, "a", "/big", chunked([b"x"], [(b"x-big", b"b" * 2100)]))
    t.ok(st == 431, "HTTP/1.1 trailers past limits.maxHeaderBytes: 431", (st, h, b))
    st, h, b, _ = h1_exchange(addr, "a", "/many", chunked(
        [b"x"], [(b"x-%d" % i, b"v") for i in range(20)]))
    t.ok(st == 431, "HTTP/1.1 trailers past limits.maxHeaders (with the head's): 431",
         (st, h, b))
    st, h, b, _ = h1_exchange(addr, "a", "/ctl", chunked([b"x"], [(b"x-bad", b"a\x01b")]))
    t.ok(st == 400, "a control character in a trailer value: 400", (st, h, b))
    r = subprocess.run(["nghttp", "-v", "-H", ":authority: a", "-d", up, "--trailer",
                        "x-big: " + "b" * 2100, base + "/h2big"],
                       capture_output=True, text=True, timeout=20)
    t.ok(":status: 431" in r.stdout,
         "HTTP/2 trailers past the header list budget: 431 on the stream", r.stdout[-2000:])
    st, h, b, _ = h1_exchange(addr, "a", "/after")
    t.ok(st == 200, "the next request is served normally", st)

    # HTTP/2 upstream responses share the budget too
    st, h, b, _ = h1_exchange(addr, "bighd", "/h")
    t.ok(st == 502 and h.get("x-weir-response-flags") == "UPE",
         "an HTTP/2 upstream head past limits.maxHeaders: 502 UPE", (st, h, b))
    st, h, b, tr = h1_exchange(addr, "bigtr", "/t")
    # (the head and body may still sit in the proxy's output when the reset closes it)
    t.ok((st == 200 and tr is None) or st == 0,
         "HTTP/2 upstream trailers past the limits: the client's response is cut short",
         (st, h, b, tr))
    lines = [e for e in p.access_lines() if e.get("path") == "/t"]
    t.ok(lines and lines[-1].get("response_code") == 200 and
         "UC" in lines[-1].get("response_flags", ""),
         "... logged 200 UC, as an upstream reset after the head", lines)

    time.sleep(0.3)
    lines = p.access_lines()
    e = [x for x in lines if x.get("path") == "/h2big"]
    t.ok(e and e[-1].get("response_code") == 431 and "DPE" in e[-1].get("response_flags", "") and
         e[-1].get("response_code_details") == "request_trailers_too_large",
         "the HTTP/2 refusal is logged 431 DPE request_trailers_too_large", e)
    t.ok(any(x.get("response_code") == 431 and x.get("response_flags") == "DPE"
             for x in lines), "the HTTP/1.1 refusal is logged 431 DPE",
         [x for x in lines if x.get("response_code") in (431, 400)])

    nghttpd.terminate()
    nghttpd.wait(5)


if __name__ == "__main__":
    wt.main(body)
