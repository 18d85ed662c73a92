"""DestinationRule connectionPool.http.h2UpgradePolicy: an http cluster with
"upgrade" takes HTTP/1.1 clients' requests to its endpoints over HTTP/2 (prior
knowledge, multiplexed on one connection, reaching an HTTP/2-only nghttpd), bodies
and trailers included; Upgrade/WebSocket requests stay on HTTP/1.1; "do_not_upgrade"
and the default keep HTTP/1.1. Also the client side: an HTTP/1.1 "Upgrade: h2c" is
not taken nor passed on (h2c smuggling), the request is served over HTTP/1.1."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import atexit
import json
import os
import shutil
import socket
import subprocess
import time

import weirtest as wt
from weirtest import Config, Proxy, curl, fqdn, upstream


def cx_total(p, cluster):
    n = 0
    for line in p.admin("/clusters")[1].splitlines():
        parts = line.split("::")
        if len(parts) == 4 and parts[0] == cluster and parts[2] == "cx_total":
            n += int(parts[3])
    return n


def body(t, ctx):
    if not shutil.which("nghttpd"):
        t.ok(False, "nghttpd (Debian package nghttp2-server) is installed")
        return
    ua = upstream.Server(("127.0.0.1", 0), "a").start()
    L = wt.free_port()
    U, W, D, N = fqdn("up"), fqdn("ws"), fqdn("down"), fqdn("plain")

    docroot = os.path.join(ctx["dir"], "docroot")
    os.makedirs(docroot)
    with open(os.path.join(docroot, "index.html"), "w") as f:
        f.write("hello from nghttpd\n")
    gport = wt.free_port()
    nghttpd = subprocess.Popen(["nghttpd", "--no-tls", "-a", "127.0.0.1", "-d", docroot,
                                "--echo-upload", str(gport)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    atexit.register(nghttpd.kill)  # also when the body raises

    def pool(policy):
        return {"connectionPool": {"http": {"h2UpgradePolicy": policy}}}

    cfg = Config()
    # an HTTP/2-only server behind an http cluster that upgrades
    cu = cfg.cluster(U, L, [("127.0.0.1", gport)], policy=pool("upgrade"))
    # an HTTP/1.1-only server behind one that upgrades: only WebSocket can get through
    cw = cfg.cluster(W, L, [("127.0.0.1", ua.server_address[1])], policy=pool("upgrade"))
    cfg.cluster(D, L, [("127.0.0.1", ua.server_address[1])], policy=pool("do_not_upgrade"))
    cfg.cluster(N, L, [("127.0.0.1", ua.server_address[1])])
    for host, alias in ((U, "up"), (W, "ws"), (D, "down"), (N, "plain")):
        cfg.service(host, L, aliases=[alias])
    path = os.path.join(ctx["dir"], "config.json")
    cfg.write(path)
    p = Proxy(ctx["binary"], ctx["dir"], path, outbound=["127.0.0.1:%d" % L], workers=1)
    ctx["proxies"].append(p)
    p.start()
    base = "http://127.0.0.1:%d" % L
    time.sleep(0.2)  # nghttpd listening

    st, h, b = curl(base + "/index.html", "--http1.1", "-H", "Host: up")
    t.ok(st == 200 and b == b"hello from nghttpd\n" and h.get("server", "").startswith("nghttpd"),
         "upgrade: an HTTP/1.1 request reaches an HTTP/2-only upstream", (st, h, b))
    data = os.urandom(200000)
    st, h, b = curl(base + "/index.html", "--http1.1", "-H", "Host: up", "--data-binary", "@-",
                    data=data)
    t.ok(st == 200 and b == data, "a 200 KB body each way over the upgraded exchange",
         (st, len(b)))
    st, h, b = curl(base + "/index.html", "--http1.1", "-H", "Host: up", "-H",
                    "Transfer-Encoding: chunked", "--data-binary", "@-", data=b"chunked-up")
    t.ok(st == 200 and b == b"chunked-up", "a chunked request body over the upgraded exchange",
         (st, b))
    st, h, b = curl(base + "/index.html", "--http1.0", "-H", "Host: up")
    t.ok(st == 200 and b == b"hello from nghttpd\n", "an HTTP/1.0 client is upgraded too",
         (st, b))

    r = subprocess.run(["h2load", "--h1", "-c8", "-n400", "-H", ":authority: up",
                        base + "/index.html"], capture_output=True, text=True, timeout=60)
    t.ok("400 succeeded" in r.stdout and "status codes: 400 2xx" in r.stdout,
         "400 requests on 8 HTTP/1.1 client connections all succeed", r.stdout[-1500:])
    t.ok(cx_total(p, cu) == 1,
         "one multiplexed upstream connection carried every upgraded request",
         cx_total(p, cu))

    # WebSocket to the upgrading cluster: HTTP/1.1, 101, bytes both ways
    s = socket.create_connection(("127.0.0.1", L))
    s.settimeout(5)
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: ws\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    head, _, echo = head.partition(b"\r\n\r\n")
    s.sendall(b"ping-over-ws")
    while len(echo) < 12:
        chunk = s.recv(4096)
        if not chunk:
            break
        echo += chunk
    s.close()
    t.ok(head.startswith(b"HTTP/1.1 101") and echo == b"ping-over-ws",
         "a WebSocket request to an upgrade cluster stays HTTP/1.1 (101, echo)", (head, echo))
    st, h, b = curl(base + "/plain", "--http1.1", "-H", "Host: ws")
    t.ok(st in (502, 503) and not any(e["path"] == "/plain" for e in ua.log),
         "while a plain request to that cluster goes out as HTTP/2 (which the HTTP/1.1-only "
         "upstream cannot answer)", (st, h, b))

    for host, what in (("down", "do_not_upgrade"), ("plain", "no policy")):
        st, h, b = curl(base + "/v", "--http1.1", "-H", "Host: " + host)
        j = json.loads(b) if st == 200 else {}
        t.ok(st == 200 and j.get("version") == "HTTP/1.1",
             "%s: HTTP/1.1 upstream" % what, (st, b))

    # a client's h2c upgrade: served as HTTP/1.1, nothing of it reaches the upstream
    r = subprocess.run(["curl", "-v", "-s", "-S", "-i", "--http2", "--noproxy", "*", "-H",
                        "Host: plain", base + "/h2c-1", "-H", "Host: plain", base + "/h2c-2"],
                       capture_output=True, timeout=20)
    out = r.stdout.decode("latin-1")
    seen = [e for e in ua.log if e["path"] in ("/h2c-1", "/h2c-2")]
    names = {k for e in seen for k, _ in e["headers"]}
    t.ok(out.count("HTTP/1.1 200") == 2 and "101" not in out.split("\r\n", 1)[0] and
         b"Re-using existing connection" in r.stderr and
         len(seen) == 2 and not names & {"upgrade", "http2-settings", "connection"},
         "Upgrade: h2c from a client is not taken: two HTTP/1.1 answers on the connection, "
         "no upgrade fields upstream", (out[-1500:], names))
    st, h, b = curl(base + "/h2c-3", "--http1.1", "-H", "Host: plain", "-H",
                    "Connection: upgrade", "-H", "Upgrade: h2c, websocket")
    t.ok(st == 400, "h2c offered among other upgrades: 400", (st, b))

    lines = [e for e in p.access_lines() if e.get("upstream_cluster") == cu]
    t.ok(len(lines) >= 404 and all(e.get("response_code") == 200 for e in lines) and
         lines[0].get("protocol") == "HTTP/1.1",
         "the access log shows the client's protocol and 200 for every upgraded request",
         lines[:2])

    nghttpd.terminate()
    nghttpd.wait(5)


if __name__ == "__main__":
    wt.main(body)
