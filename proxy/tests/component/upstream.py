"""A scriptable HTTP/1.1 upstream for the component tests.

Every request is answered with a JSON echo of what arrived (method, path, headers,
body size, peer address, the server's name, which connection and which request on
it), unless a request header asks for something else:

  x-test-status: N          answer with status N
  x-test-delay-ms: N        wait N ms before answering
  x-test-fail: N            with x-test-key: K, the first N requests with key K get 503
  x-test-close: 1           close the connection without answering
  x-test-malformed: 1       answer bytes that are not HTTP
  x-test-chunks: N          answer a chunked body of N pieces, x-test-chunk-delay-ms apart
  x-test-no-length: 1       answer without content-length, closing to end the body
  x-test-size: N            answer a body of N bytes (a repeating pattern)
  x-test-trailers: a=1,b=2  answer the echo chunked, with these trailer fields
  upgrade: websocket        answer 101, then echo every byte back

It also serves a TCP echo mode (see TcpEchoServer): read until the client's EOF,
answer "echo:" + data, then close, so a test sees that half-close went through.
"""

import json
import socket
import socketserver
import threading
import time


# Failure budgets are keyed by x-test-key and shared by every server of the
# process, so a cluster of several servers fails N times in total.
_FAIL_LOCK = threading.Lock()
_FAIL_LEFT = {}


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.connections = 0
        self.requests = 0

    def conn(self):
        with self.lock:
            self.connections += 1
            return self.connections

    def req(self):
        with self.lock:
            self.requests += 1
            return self.requests

    def should_fail(self, key, n):
        with _FAIL_LOCK:
            left = _FAIL_LEFT.setdefault(key, n)
            if left > 0:
                _FAIL_LEFT[key] = left - 1
                return True
            return False


def read_head(f):
    lines = []
    while True:
        line = f.readline(65536)
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            if not lines:
                continue
            return lines
        lines.append(line.rstrip(b"\r\n").decode("latin-1"))


def read_body(f, headers, trailers=None):
    """The body; a chunked body's trailer fields go to `trailers` as [name, value]."""
    te = headers.get("transfer-encoding", "").lower()
    if te == "chunked":
        body = b""
        while True:
            size_line = f.readline()
            if not size_line:
                return None
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:  # trailers
                    t = f.readline()
                    if t in (b"\r\n", b"\n", b""):
                        break
                    if trailers is not None:
                        k, _, v = t.decode("latin-1").rstrip("\r\n").partition(":")
                        trailers.append([k.strip().lower(), v.strip()])
                return body
            body += f.read(size)
            f.readline()
    n = int(headers.get("content-length", "0") or 0)
    return f.read(n) if n else b""


def _shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # the peer went first


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        srv = self.server
        conn_no = srv.counters.conn()
        req_on_conn = 0
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            try:
                head = read_head(self.rfile)
            except (ConnectionError, OSError):
                return
            if head is None:
                return
            method, path, version = (head[0].split(" ", 2) + ["", ""])[:3]
            headers = {}
            header_list = []
            for line in head[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
                header_list.append([k.strip().lower(), v.strip()])
            if headers.get("expect", "").lower() == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            trailers = []
            body = read_body(self.rfile, headers, trailers)
            if body is None:
                return
            req_on_conn += 1
            srv.counters.req()
            srv.log.append({"method": method, "path": path, "headers": header_list,
                            "peer": self.client_address[0]})
            delay = int(headers.get("x-test-delay-ms", "0") or 0)
            if delay:
                time.sleep(delay / 1000.0)
            if headers.get("x-test-close"):
                _shutdown(self.connection)
                return
            if headers.get("x-test-malformed"):
                self.wfile.write(b"this is not http at all\r\n\r\n")
                self.wfile.flush()
                _shutdown(self.connection)
                return
            if headers.get("upgrade", "").lower() == "websocket":
                self.wfile.write(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
                                 b"connection: upgrade\r\n\r\n")
                self.wfile.flush()
                while True:
                    data = self.connection.recv(65536)
                    if not data:
                        return
                    self.connection.sendall(data)
            status = int(headers.get("x-test-status", "200") or 200)
            fail = int(headers.get("x-test-fail", "0") or 0)
            if fail and srv.counters.should_fail(headers.get("x-test-key", ""), fail):
                status = 503
            echo = {
                "server": srv.name,
                "method": method,
                "path": path,
                "version": version,
                "headers": headers,
                "header_list": header_list,
                "body_len": len(body),
                "body_sha": __import__("hashlib").sha256(body).hexdigest(),
                "trailers": trailers,
                "peer": self.client_address[0],
                "connection": conn_no,
                "request_on_connection": req_on_conn,
            }
            out = json.dumps(echo).encode()
            keep = headers.get("connection", "").lower() != "close"
            chunks = int(headers.get("x-test-chunks", "0") or 0)
            size = int(headers.get("x-test-size", "0") or 0)
            if headers.get("x-test-trailers"):
                fields = [f.partition("=") for f in headers["x-test-trailers"].split(",")]
                self.wfile.write(("HTTP/1.1 %d X\r\ncontent-type: application/json\r\n"
                                  "transfer-encoding: chunked\r\n\r\n%x\r\n" % (status, len(out))
                                  ).encode() + out + b"\r\n0\r\n" +
                                 "".join("%s: %s\r\n" % (k, v) for k, _, v in fields).encode() +
                                 b"\r\n")
                self.wfile.flush()
            elif size:
                self.wfile.write(("HTTP/1.1 %d X\r\ncontent-type: application/octet-stream\r\n"
                                  "content-length: %d\r\n\r\n" % (status, size)).encode())
                block = bytes(range(256)) * 256
                left = size
                while left > 0:
                    n = min(left, len(block))
                    self.wfile.write(block[:n])
                    left -= n
                self.wfile.flush()
            elif chunks:
                cdelay = int(headers.get("x-test-chunk-delay-ms", "0") or 0) / 1000.0
                self.wfile.write(("HTTP/1.1 %d X\r\ncontent-type: text/plain\r\n"
                                  "transfer-encoding: chunked\r\n\r\n" % status).encode())
                self.wfile.flush()
                for i in range(chunks):
                    piece = ("piece-%d;" % i).encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.flush()
                    if cdelay:
                        time.sleep(cdelay)
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            elif headers.get("x-test-no-length"):
                self.wfile.write(("HTTP/1.1 %d X\r\ncontent-type: application/json\r\n"
                                  "connection: close\r\n\r\n" % status).encode() + out)
                self.wfile.flush()
                return
            else:
                resp = ("HTTP/1.1 %d X\r\ncontent-type: application/json\r\n"
                        "x-upstream: %s\r\ncontent-length: %d\r\n%s\r\n"
                        % (status, srv.name, len(out), "" if keep else "connection: close\r\n"))
                if method == "HEAD":
                    out = b""
                self.wfile.write(resp.encode() + out)
                self.wfile.flush()
            if not keep:
                return


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 256  # a proxy opens many connections at once under load

    def __init__(self, addr, name):
        self.name = name
        self.counters = Counters()
        self.log = []
        super().__init__(addr, Handler)

    def start(self):
        t = threading.Thread(target=self.serve_forever, daemon=True)
        t.start()
        return self


class TcpEchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        self.server.counters.conn()
        data = b""
        while True:
            chunk = self.request.recv(65536)
            if not chunk:
                break
            data += chunk
        # the client's half-close arrived: answer, then close our side
        try:
            self.request.sendall(b"echo:" + data)
            self.request.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class TcpEchoServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, addr):
        self.counters = Counters()
        super().__init__(addr, TcpEchoHandler)

    def start(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self
