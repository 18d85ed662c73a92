"""A minimal HTTP/2 client speaking raw frames, for what nghttp and curl cannot
be told to do: reset one stream among several, watch for GOAWAY."""

import socket
import struct

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def _int(value, prefix_bits, first=0):
    """HPACK integer with an N-bit prefix (RFC 7541 5.1)."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_headers(fields):
    """Literal fields without indexing, no Huffman: any decoder accepts them."""
    out = b""
    for name, value in fields:
        n, v = name.encode(), value.encode()
        out += b"\x00" + _int(len(n), 7) + n + _int(len(v), 7) + v
    return out


def frame(ftype, flags, stream_id, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream_id) + payload


class Conn:
    def __init__(self, addr, timeout=10):
        host, port = addr.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=timeout)
        self.buf = b""
        self.s.sendall(PREFACE + frame(SETTINGS, 0, 0))

    def request(self, stream_id, method, path, authority, headers=(), end=True):
        fields = [(":method", method), (":scheme", "http"), (":path", path),
                  (":authority", authority)] + list(headers)
        flags = END_HEADERS | (END_STREAM if end else 0)
        self.s.sendall(frame(HEADERS, flags, stream_id, encode_headers(fields)))

    def headers(self, stream_id, fields, end=True):
        """A HEADERS frame of plain fields: the request's trailers when sent after it."""
        flags = END_HEADERS | (END_STREAM if end else 0)
        self.s.sendall(frame(HEADERS, flags, stream_id, encode_headers(fields)))

    def data(self, stream_id, payload, end=False):
        self.s.sendall(frame(DATA, END_STREAM if end else 0, stream_id, payload))

    def body(self, stream_id, timeout=10):
        """The DATA payload of a stream up to its END_STREAM (None on a reset or a
        close), and the types of the frames seen on it."""
        import time
        data, types = b"", []
        deadline = time.time() + timeout
        while time.time() < deadline:
            f = self.read_frame()
            if f is None:
                return None, types
            ftype, flags, sid, payload = f
            if sid != stream_id:
                continue
            types.append(ftype)
            if ftype == RST_STREAM:
                return None, types
            if ftype == DATA:
                data += payload
            if ftype in (DATA, HEADERS) and flags & END_STREAM:
                return data, types
        return None, types

    def rst(self, stream_id, code=8):  # CANCEL
        self.s.sendall(frame(RST_STREAM, 0, stream_id, struct.pack(">I", code)))

    def read_frame(self):
        """(type, flags, stream_id, payload), or None when the peer closed."""
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                return None
            self.buf += chunk
        n = int.from_bytes(self.buf[:3], "big")
        ftype, flags = self.buf[3], self.buf[4]
        sid = struct.unpack(">I", self.buf[5:9])[0] & 0x7FFFFFFF
        payload = self.buf[9:9 + n]
        self.buf = self.buf[9 + n:]
        if ftype == SETTINGS and not flags & ACK:
            self.s.sendall(frame(SETTINGS, ACK, 0))
        return ftype, flags, sid, payload

    def close(self):
        self.s.close()


class Server:
    """An HTTP/2 upstream that misbehaves on purpose. mode "refuse": the first
    request ever is refused (RST_STREAM REFUSED_STREAM); "goaway": the first
    connection answers its first request with GOAWAY (last stream 0) and closes;
    "trailers": every answer ends with the trailer "x-raw-trailer: rt" and has no
    content-length; "bigtrailers": with 60 trailer fields; "bighead": a head of 60
    fields. Everything else gets 200 "raw-ok"."""

    def __init__(self, mode):
        import threading
        self.mode = mode
        self.requests = 0
        self.connections = 0
        self.lock = threading.Lock()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import threading
        while True:
            try:
                s, _ = self.ls.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                conn_no = self.connections
            threading.Thread(target=self._serve, args=(s, conn_no), daemon=True).start()

    def _serve(self, s, conn_no):
        s.settimeout(10)
        c = Conn.__new__(Conn)
        c.s, c.buf = s, b""
        try:
            while len(c.buf) < len(PREFACE):
                chunk = s.recv(65536)
                if not chunk:
                    return
                c.buf += chunk
            c.buf = c.buf[len(PREFACE):]
            s.sendall(frame(SETTINGS, 0, 0))
            while True:
                f = c.read_frame()
                if f is None:
                    return
                ftype, flags, sid, _ = f
                if ftype != HEADERS:
                    continue
                with self.lock:
                    self.requests += 1
                    first = self.requests == 1
                if first and self.mode == "refuse":
                    s.sendall(frame(RST_STREAM, 0, sid, struct.pack(">I", 7)))
                    continue
                if first and self.mode == "goaway" and conn_no == 1:
                    s.sendall(frame(GOAWAY, 0, 0, struct.pack(">II", 0, 0)))
                    s.shutdown(socket.SHUT_WR)
                    while c.read_frame() is not None:
                        pass  # read to the peer's close, so ours is no reset
                    return
                many = encode_headers([("x-f%d" % i, "v") for i in range(60)])
                if self.mode == "bighead":
                    s.sendall(frame(HEADERS, END_HEADERS, sid, b"\x88" + many) +
                              frame(DATA, END_STREAM, sid, b"raw-ok"))
                    continue
                if self.mode == "bigtrailers":
                    s.sendall(frame(HEADERS, END_HEADERS, sid, b"\x88") +
                              frame(DATA, 0, sid, b"raw-ok") +
                              frame(HEADERS, END_HEADERS | END_STREAM, sid, many))
                    continue
                if self.mode == "trailers":
                    s.sendall(frame(HEADERS, END_HEADERS, sid, b"\x88") +
                              frame(DATA, 0, sid, b"raw-ok") +
                              frame(HEADERS, END_HEADERS | END_STREAM, sid,
                                    encode_headers([("x-raw-trailer", "rt")])))
                    continue
                s.sendall(frame(HEADERS, END_HEADERS, sid, b"\x88") +
                          frame(DATA, END_STREAM, sid, b"raw-ok"))
        except OSError:
            return
        finally:
            s.close()
