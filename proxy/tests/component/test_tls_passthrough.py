"""TLS passthrough routed by SNI: on a port declared tls, the proxy reads the
ClientHello's server name, picks the tls route whose sniHosts match (exact or
*.suffix, weighted clusters), and relays the bytes untouched, so the client's TLS
ends at the upstream. Without a server name, or without a match, the tcp
routes apply. The upstreams are Python ssl servers on loopback."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import os
import socket
import ssl
import subprocess
import threading
import time

import weirtest as wt
from weirtest import Config, Proxy, cluster_name, fqdn


class TlsNamed:
    """Terminates TLS and answers "<name> <sni>" to the first line."""

    def __init__(self, name, cert, key):
        self.name = name
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sni = None
        self.ctx.sni_callback = self.on_sni
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(32)
        self.port = self.sock.getsockname()[1]
        self.failed = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def on_sni(self, sslobj, name, ctx):
        self.sni = name

    def serve(self):
        while True:
            c, _ = self.sock.accept()
            threading.Thread(target=self.one, args=(c,), daemon=True).start()

    def one(self, c):
        try:
            c.settimeout(10)
            s = self.ctx.wrap_socket(c, server_side=True)
            line = b""
            while not line.endswith(b"\n"):
                d = s.recv(1024)
                if not d:
                    break
                line += d
            s.sendall(("%s %s\n" % (self.name, self.sni)).encode())
            s.close()
        except (OSError, ssl.SSLError):
            self.failed += 1
            c.close()


def ask(addr, server_name):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(addr, timeout=10)
    s = ctx.wrap_socket(raw, server_hostname=server_name)
    s.sendall(b"hello\n")
    out = b""
    while True:
        d = s.recv(1024)
        if not d:
            break
        out += d
    s.close()
    return out.decode().split()


def body(t, ctx):
    d = ctx["dir"]
    key, cert = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=upstream"], check=True, capture_output=True)
    ups = {n: TlsNamed(n, cert, key) for n in ("a", "b1", "b2", "fallback")}

    P = wt.free_port("127.0.0.30")
    host = fqdn("secure")
    cfg = Config()
    for n, u in ups.items():
        cfg.cluster(host, P, [("127.0.0.1", u.port)], subset=n, protocol="tls")
    cfg.service(host, P, protocol="tls", addresses=["127.0.0.30"],
                tcp=[{"route": [{"cluster": cluster_name(host, P, "fallback"),
                                 "weight": 100}]}])
    port = cfg.services[host]["ports"][0]
    port["tls"] = [
        {"match": [{"sniHosts": ["a.example.com"]}],
         "route": [{"cluster": cluster_name(host, P, "a"), "weight": 100}]},
        {"match": [{"sniHosts": ["*.wild.example.com"]}],
         "route": [{"cluster": cluster_name(host, P, "b1"), "weight": 50},
                   {"cluster": cluster_name(host, P, "b2"), "weight": 50}]},
    ]
    path = os.path.join(d, "config.json")
    cfg.write(path)
    p = Proxy(ctx["binary"], d, path, outbound=["127.0.0.30:%d" % P])
    ctx["proxies"].append(p)
    p.start()
    addr = ("127.0.0.30", P)

    r = ask(addr, "a.example.com")
    t.ok(r == ["a", "a.example.com"], "sni a.example.com -> cluster a, SNI intact", r)
    r = ask(addr, "A.Example.COM")
    t.ok(r and r[0] == "a", "SNI matched without regard to case", r)

    seen = set()
    for _ in range(30):
        r = ask(addr, "x.wild.example.com")
        seen.add(r[0] if r else None)
    t.ok(seen == {"b1", "b2"}, "*.wild.example.com -> weighted b1/b2, both chosen", seen)
    r = ask(addr, "wild.example.com")
    t.ok(r and r[0] == "fallback", "*.suffix does not match the bare suffix: tcp route", r)

    r = ask(addr, "other.example.com")
    t.ok(r and r[0] == "fallback", "no sniHosts match: the tcp route", r)
    r = ask(addr, None)
    t.ok(r and r[0] == "fallback" and r[1] == "None", "no server name: the tcp route", r)

    # not TLS at all: relayed to the tcp route as it is (the upstream then fails
    # its handshake)
    before = ups["fallback"].failed
    wt.raw("127.0.0.30:%d" % P, b"plain text, not a ClientHello\n", timeout=3)
    deadline = time.time() + 5
    while ups["fallback"].failed == before and time.time() < deadline:
        time.sleep(0.05)
    t.ok(ups["fallback"].failed > before, "non-TLS bytes go to the tcp route unchanged")

    # a ClientHello split over many small writes is reassembled
    ctx_ = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx_.check_hostname = False
    ctx_.verify_mode = ssl.CERT_NONE
    inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx_.wrap_bio(inc, outg, server_hostname="a.example.com")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outg.read()
    s = socket.create_connection(addr, timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(0, len(hello), 7):
        s.sendall(hello[i:i + 7])
        time.sleep(0.002)
    s.settimeout(10)
    got = s.recv(5)
    s.close()
    t.ok(got[:1] == b"\x16", "a ClientHello in 7-byte pieces: the upstream's ServerHello back",
         got)

    lines = [x for x in p.access_lines() if x.get("protocol") == "TCP"]
    t.ok(any(x.get("upstream_cluster") == cluster_name(host, P, "a") for x in lines),
         "access log names the tls route's cluster", lines[-3:])


if __name__ == "__main__":
    wt.main(body)
