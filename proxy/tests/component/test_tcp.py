"""Opaque TCP: byte-for-byte passthrough with half-close, server-first protocols,
TCP metrics; the inbound listener to the
local application from the passthrough source 127.0.0.6."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import hashlib
import json
import os
import socket
import socketserver
import threading
import time

import weirtest as wt
from weirtest import Config, Proxy, curl, fqdn, upstream


class Banner(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(b"220 hello from a server-first protocol\r\n")
        data = self.request.recv(100)
        self.request.sendall(b"got:" + data)


class BannerServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


def echo_through(addr, data, chunk=65536):
    s = socket.create_connection(addr, timeout=10)
    for i in range(0, len(data), chunk):
        s.sendall(data[i:i + chunk])
    s.shutdown(socket.SHUT_WR)  # half-close: the echo server answers only after our EOF
    out = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        out += c
    s.close()
    return out


def body(t, ctx):
    echo = upstream.TcpEchoServer(("127.0.0.1", 0)).start()
    banner = BannerServer(("127.0.0.1", 0), Banner)
    threading.Thread(target=banner.serve_forever, daemon=True).start()
    P = wt.free_port("127.0.0.2")
    DB, BN, H2 = fqdn("db"), fqdn("banner"), fqdn("h2")
    cfg = Config()
    cfg.cluster(DB, P, [("127.0.0.1", echo.server_address[1])], protocol="tcp")
    cfg.service(DB, P, protocol="tcp", addresses=["127.0.0.2"])
    cfg.cluster(BN, P, [("127.0.0.1", banner.server_address[1])], protocol="tcp")
    cfg.service(BN, P, protocol="tcp", addresses=["127.0.0.3"])
    cfg.cluster(H2, P, [("127.0.0.1", echo.server_address[1])])
    cfg.service(H2, P, addresses=["127.0.0.4"])

    # inbound: the application listens on 127.0.0.1:APP; the inbound listener takes
    # 127.0.0.5:APP, so the connection's own address names the application's port
    app = upstream.Server(("127.0.0.1", 0), "app").start()
    APP = app.server_address[1]
    app_tcp = upstream.TcpEchoServer(("127.0.0.1", 0)).start()
    APP_TCP = app_tcp.server_address[1]
    cfg.inbound = {"services": [{"name": "client", "selector": {"app": "client"},
                                 "ports": [{"port": 80, "targetPort": APP, "protocol": "http"}]}]}
    path = os.path.join(ctx["dir"], "config.json")
    cfg.write(path)
    p = Proxy(ctx["binary"], ctx["dir"], path,
              outbound=["127.0.0.2:%d" % P, "127.0.0.3:%d" % P, "127.0.0.4:%d" % P,
                        "127.0.0.7:%d" % P],
              inbound=["127.0.0.5:%d" % APP, "127.0.0.5:%d" % APP_TCP],
              extra=["--pod-labels", "app=client,version=v1"])
    ctx["proxies"].append(p)
    p.start()

    out = echo_through(("127.0.0.2", P), b"ping")
    t.ok(out == b"echo:ping", "TCP passthrough with half-close", out)
    data = os.urandom(3 * 1024 * 1024)
    out = echo_through(("127.0.0.2", P), data)
    t.ok(out == b"echo:" + data, "3 MB both ways, byte for byte", len(out))

    s = socket.create_connection(("127.0.0.3", P), timeout=5)
    first = s.recv(100)
    s.sendall(b"QUIT")
    second = s.recv(100)
    s.close()
    t.ok(first.startswith(b"220 hello") and second == b"got:QUIT",
         "server-first protocol on a tcp port (nothing sniffed)", (first, second))

    s = socket.create_connection(("127.0.0.7", P), timeout=5)
    s.sendall(b"hello")
    try:
        closed = s.recv(100) == b""
    except OSError:
        closed = True
    s.close()
    t.ok(closed, "an unknown destination that is the listener itself is closed, not looped")

    # exact TCP metrics for db: three connections so far (ping, 3 MB, none other)
    lbl = {"destination_service": DB, "request_protocol": "tcp", "reporter": "source"}
    time.sleep(0.2)
    opened = p.metric("istio_tcp_connections_opened_total", lbl)
    closed_n = p.metric("istio_tcp_connections_closed_total", lbl)
    rx = p.metric("istio_tcp_received_bytes_total", lbl)
    tx = p.metric("istio_tcp_sent_bytes_total", lbl)
    t.ok(opened == 2 and closed_n == 2, "tcp connections opened/closed: %s/%s" % (opened, closed_n))
    t.ok(rx == 4 + len(data) and tx == 9 + 5 + len(data),
         "tcp bytes received/sent are exact (%s/%s)" % (rx, tx))
    lines = [x for x in p.access_lines() if x.get("protocol") == "TCP"
             and x.get("upstream_cluster", "").endswith(DB)]
    t.ok(len(lines) == 2 and lines[0]["bytes_received"] == 4 and lines[0]["bytes_sent"] == 9,
         "TCP connections in the access log", lines[:1])

    # inbound HTTP: to the application on 127.0.0.1 from 127.0.0.6
    st, h, b = curl("http://127.0.0.5:%d/in" % APP, "-H", "Host: client.default")
    j = json.loads(b) if st == 200 else {}
    t.ok(st == 200 and j.get("server") == "app" and j.get("peer") == "127.0.0.6",
         "inbound HTTP reaches the app from 127.0.0.6", (st, b[:200]))
    t.ok(p.metric("istio_requests_total", {"reporter": "destination", "response_code": "200",
                                           "destination_workload": "client"}) == 1,
         "inbound requests are reported by the destination",
         [x for x in p.metrics().splitlines() if x.startswith("istio_requests_total")])
    out = echo_through(("127.0.0.5", APP_TCP), b"inbound-bytes")
    t.ok(out == b"echo:inbound-bytes", "an undeclared inbound port is opaque TCP", out)
    data = os.urandom(100000)
    st, h, b = curl("http://127.0.0.5:%d/post" % APP, "-H", "Host: x", "--data-binary", "@-",
                    data=data)
    t.ok(st == 200 and json.loads(b)["body_sha"] == hashlib.sha256(data).hexdigest(),
         "inbound POST body intact")


if __name__ == "__main__":
    wt.main(body)
