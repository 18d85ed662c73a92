"""TLS origination (DestinationRule tls simple and mutual): plain HTTP from the
client, TLS to the upstream with SNI, chain and subjectAltName verification, a
client certificate in mutual mode, insecureSkipVerify, TCP routes, and HTTP/2
negotiated with ALPN h2. Certificates are made with the openssl CLI in the test's
temp dir; upstreams are Python ssl servers (and nghttpd for h2) on loopback."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time

import weirtest as wt
from weirtest import Config, Proxy, curl, fqdn

API_NAME = "api.example.com"
CLIENT_ID = "spiffe://cluster.local/ns/default/sa/client"


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_pki(d):
    """A CA, a server and a client certificate signed by it, another CA, and a
    self-signed server certificate."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", *ec, "-keyout", ca + ".key", "-out", ca + ".crt", "-days", "2",
                "-subj", "/CN=%s" % ca, "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    leaves = {"server": ("DNS:%s" % API_NAME, "serverAuth"),
              "client": ("URI:%s" % CLIENT_ID, "clientAuth")}
    for name, (san, eku) in leaves.items():
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=%s\n"
                    % (san, eku))
        openssl("req", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj",
                "/CN=%s" % name, cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile",
                name + ".ext", cwd=d)
    openssl("req", "-x509", *ec, "-keyout", "self.key", "-out", "self.crt", "-days", "2",
            "-subj", "/CN=self", "-addext", "subjectAltName=DNS:self.example.com", cwd=d)
    return {n: os.path.join(d, n) for n in os.listdir(d)}


class TlsUpstream:
    """An HTTPS server that answers with what it saw of the TLS handshake."""

    def __init__(self, pki, cert, key, client_ca=None, max_version=None):
        self.sni = []
        self.handshakes_failed = 0
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki[cert], pki[key])
        if client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(pki[client_ca])
        if max_version:
            ctx.maximum_version = max_version
        ctx.set_alpn_protocols(["http/1.1"])
        ctx.sni_callback = lambda sock, name, c: self.sni.append(name) and None
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                peer = self.connection.getpeercert()
                uris = [v for k, v in (peer or {}).get("subjectAltName", ()) if k == "URI"]
                body = json.dumps({"tls": self.connection.version(),
                                   "alpn": self.connection.selected_alpn_protocol(),
                                   "client": uris, "path": self.path}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, addr = self.socket.accept()
                sock.settimeout(5)
                try:
                    return ctx.wrap_socket(sock, server_side=True), addr
                except (ssl.SSLError, OSError):
                    outer.handshakes_failed += 1
                    sock.close()
                    raise

            def handle_error(self, request, client_address):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class TlsEcho:
    """Reads until the client's close_notify (half-close), then answers with
    everything it read and closes."""

    def __init__(self, pki):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki["server.crt"], pki["server.key"])
        self.ctx = ctx
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            c, _ = self.sock.accept()
            threading.Thread(target=self.one, args=(c,), daemon=True).start()

    def one(self, c):
        try:
            c.settimeout(10)
            s = self.ctx.wrap_socket(c, server_side=True)
            data = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
            s.sendall(b"echo:" + data)
            s.close()
        except (OSError, ssl.SSLError):
            c.close()


def access_for(p, cluster, n_before=0):
    deadline = time.time() + 5
    while time.time() < deadline:
        lines = [x for x in p.access_lines()[n_before:] if x.get("upstream_cluster") == cluster]
        if lines:
            return lines[-1]
        time.sleep(0.05)
    return {}


def body(t, ctx):
    pki_dir = os.path.join(ctx["dir"], "pki")
    os.mkdir(pki_dir)
    pki = make_pki(pki_dir)
    srv = TlsUpstream(pki, "server.crt", "server.key")
    mtls = TlsUpstream(pki, "server.crt", "server.key", client_ca="ca.crt")
    mtls12 = TlsUpstream(pki, "server.crt", "server.key", client_ca="ca.crt",
                         max_version=ssl.TLSVersion.TLSv1_2)
    selfsigned = TlsUpstream(pki, "self.crt", "self.key")
    echo = TlsEcho(pki)

    P = wt.free_port("127.0.0.11")
    cfg = Config()
    cases = {}  # name -> (listener ip, cluster)

    def add(name, ip, port, tls, protocol="http"):
        host = fqdn(name)
        policy = {"tls": tls}
        c = cfg.cluster(host, P, [("127.0.0.1", port)], protocol=protocol, policy=policy)
        cfg.service(host, P, protocol=protocol, addresses=[ip])
        cases[name] = (ip, c)

    ca = pki["ca.crt"]
    add("simple", "127.0.0.11", srv.port, {"mode": "simple", "sni": API_NAME,
                                            "caCertificates": ca})
    add("wrongca", "127.0.0.12", srv.port, {"mode": "simple", "sni": API_NAME,
                                             "caCertificates": pki["other-ca.crt"]})
    add("sanmismatch", "127.0.0.13", srv.port,
        {"mode": "simple", "sni": API_NAME, "caCertificates": ca,
         "subjectAltNames": ["other.example.com"]})
    add("sanlist", "127.0.0.14", srv.port,
        {"mode": "simple", "sni": API_NAME, "caCertificates": ca,
         "subjectAltNames": ["other.example.com", API_NAME]})
    mutual = {"mode": "mutual", "sni": API_NAME, "caCertificates": ca,
              "clientCertificate": pki["client.crt"], "privateKey": pki["client.key"]}
    add("mutual", "127.0.0.15", mtls.port, mutual)
    add("nocert", "127.0.0.16", mtls.port, {"mode": "simple", "sni": API_NAME,
                                             "caCertificates": ca})
    add("nocert12", "127.0.0.17", mtls12.port, {"mode": "simple", "sni": API_NAME,
                                                 "caCertificates": ca})
    add("insecure", "127.0.0.18", selfsigned.port, {"mode": "simple",
                                                     "insecureSkipVerify": True})
    add("selfsigned", "127.0.0.19", selfsigned.port, {"mode": "simple",
                                                       "sni": "self.example.com"})
    add("tcp", "127.0.0.20", srv.port, {"mode": "simple", "sni": API_NAME,
                                         "caCertificates": ca}, protocol="tcp")
    add("tcpecho", "127.0.0.23", echo.port, {"mode": "simple", "sni": API_NAME,
                                              "caCertificates": ca}, protocol="tcp")
    add("missingkey", "127.0.0.21", mtls.port,
        dict(mutual, privateKey=os.path.join(pki_dir, "absent.key")))

    h2d = None
    htdocs = os.path.join(ctx["dir"], "htdocs")
    os.mkdir(htdocs)
    with open(os.path.join(htdocs, "hello"), "w") as f:
        f.write("hello over h2\n")
    if shutil.which("nghttpd"):
        H2P = wt.free_port()
        h2d = subprocess.Popen(["nghttpd", "-a", "127.0.0.1", "-d", htdocs, str(H2P),
                                pki["server.key"], pki["server.crt"]],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        add("h2", "127.0.0.22", H2P, {"mode": "simple", "sni": API_NAME,
                                      "caCertificates": ca}, protocol="http2")

    path = os.path.join(ctx["dir"], "config.json")
    cfg.write(path)
    p = Proxy(ctx["binary"], ctx["dir"], path,
              outbound=["%s:%d" % (ip, P) for ip, _ in cases.values()])
    ctx["proxies"].append(p)
    try:
        p.start()
        run(t, p, P, cases, srv, mtls, mtls12, h2d)
    finally:
        if h2d:
            h2d.terminate()
            h2d.wait()


def get(ip, P, path="/"):
    return curl("http://%s:%d%s" % (ip, P, path))


def run(t, p, P, cases, srv, mtls, mtls12, h2d):
    # simple: verified against the CA, SNI sent, ALPN http/1.1, kept alive
    ip, cl = cases["simple"]
    st, _, b = get(ip, P, "/one")
    info = json.loads(b) if st == 200 else {}
    t.ok(st == 200 and info.get("path") == "/one", "simple: 200 through TLS", (st, b))
    t.ok(srv.sni and srv.sni[-1] == API_NAME, "simple: the upstream saw SNI %s" % API_NAME,
         srv.sni)
    t.ok(info.get("tls", "").startswith("TLS") and info.get("alpn") == "http/1.1",
         "simple: TLS with ALPN http/1.1", info)
    n_sni = len(srv.sni)
    st2, _, _ = get(ip, P, "/two")
    t.ok(st2 == 200, "simple: a second request", st2)
    t.ok(access_for(p, cl).get("response_flags") == "-", "simple: access log flags -",
         access_for(p, cl))
    t.ok(n_sni >= 1, "simple: at least one handshake", n_sni)

    # verification failures: 503 UF with the OpenSSL reason in the access log
    for name, want in (("wrongca", "certificate_verify_failed"),
                       ("sanmismatch", "hostname_mismatch"),
                       ("selfsigned", "certificate_verify_failed")):
        ip, cl = cases[name]
        st, _, b = get(ip, P)
        e = access_for(p, cl)
        t.ok(st == 503, "%s: 503" % name, (st, b))
        t.ok(e.get("response_flags") == "UF", "%s: flag UF" % name, e)
        t.ok(want in (e.get("response_code_details") or ""),
             "%s: the reason (%s) in the access log" % (name, want), e)

    ip, _ = cases["sanlist"]
    t.ok(get(ip, P)[0] == 200, "subjectAltNames: any listed name matches")

    # mutual: the client certificate is presented
    ip, cl = cases["mutual"]
    st, _, b = get(ip, P)
    info = json.loads(b) if st == 200 else {}
    t.ok(st == 200 and info.get("client") == [CLIENT_ID],
         "mutual: 200, the upstream saw the client certificate", (st, b))

    # no client certificate: with TLS 1.3 the server refuses after the client's
    # handshake is done (a reset: UC); with TLS 1.2 during it (UF)
    ip, cl = cases["nocert"]
    before = mtls.handshakes_failed
    st, _, b = get(ip, P)
    e = access_for(p, cl)
    t.ok(st == 503 and e.get("response_flags") in ("UF", "UC"),
         "no client certificate (TLS 1.3): 503", (st, e))
    t.ok(mtls.handshakes_failed > before, "no client certificate: the upstream refused it",
         mtls.handshakes_failed)
    ip, cl = cases["nocert12"]
    st, _, b = get(ip, P)
    e = access_for(p, cl)
    t.ok(st == 503 and e.get("response_flags") == "UF", "no client certificate (TLS 1.2): 503 UF",
         (st, e))
    t.ok("alert" in (e.get("response_code_details") or ""),
         "no client certificate (TLS 1.2): the alert in the access log", e)

    # a client key that cannot be loaded: the cluster fails with the reason
    ip, cl = cases["missingkey"]
    st, _, _ = get(ip, P)
    e = access_for(p, cl)
    t.ok(st == 503 and e.get("response_flags") == "UF" and
         "privateKey" in (e.get("response_code_details") or ""),
         "unloadable client key: 503 UF naming privateKey", (st, e))

    # insecureSkipVerify: a self-signed upstream is accepted
    ip, _ = cases["insecure"]
    t.ok(get(ip, P)[0] == 200, "insecureSkipVerify: a self-signed upstream is accepted")

    # TCP route: the client's bytes go out in TLS
    ip, cl = cases["tcp"]
    out = wt.raw("%s:%d" % (ip, P), b"GET /tcp HTTP/1.0\r\nHost: x\r\n\r\n", timeout=10)
    t.ok(out.startswith(b"HTTP/1.1 200") and b'"/tcp"' in out, "tcp: relayed through TLS",
         out[:300])

    # TCP half-close: the client's EOF becomes close_notify, the answer still comes back
    ip, cl = cases["tcpecho"]
    big = os.urandom(300 * 1024)
    out = wt.raw("%s:%d" % (ip, P), big, timeout=10, shutdown=True)
    t.ok(out == b"echo:" + big, "tcp: half-close through TLS, %d bytes each way" % len(big),
         (len(out), out[:40]))

    if h2d:
        ip, cl = cases["h2"]
        st, _, b = get(ip, P, "/hello")
        e = access_for(p, cl)
        t.ok(st == 200 and b == b"hello over h2\n", "http2: h2 over TLS with ALPN h2",
             (st, b, e))
    else:
        t.ok(True, "http2: skipped (no nghttpd)")

    m = p.metrics()
    t.ok("weir" in m or m, "metrics still served")


if __name__ == "__main__":
    wt.main(body)
