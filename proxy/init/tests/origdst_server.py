#!/usr/bin/env python3
"""Stand-in for the proxy's listeners and for the test's peers.

Usage: origdst_server.py READY_FILE PORT=NAME...

Listens on every PORT over IPv4 (0.0.0.0) and IPv6 (::). For each accepted
connection it writes one line and closes:

    NAME port=LISTEN_PORT orig=ORIGINAL_DST

ORIGINAL_DST is what SO_ORIGINAL_DST (IP6T_SO_ORIGINAL_DST for IPv6) reports,
i.e. the address the client asked for before a REDIRECT rule changed it; for a
connection that was not redirected it is the listening address. IPv6
addresses are printed in brackets: [fd00::1]:8080. READY_FILE is created once
every socket listens.
"""
import socket
import struct
import sys
import threading

SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h; IP6T_SO_ORIGINAL_DST has the same value


def original_dst(conn, family):
    try:
        if family == socket.AF_INET:
            raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
            port = struct.unpack("!H", raw[2:4])[0]
            return "%s:%d" % (socket.inet_ntop(socket.AF_INET, raw[4:8]), port)
        raw = conn.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, 28)
        port = struct.unpack("!H", raw[2:4])[0]
        return "[%s]:%d" % (socket.inet_ntop(socket.AF_INET6, raw[8:24]), port)
    except OSError:
        # No conntrack entry for this connection: it was not redirected.
        host, port = conn.getsockname()[:2]
        return ("[%s]:%d" if family == socket.AF_INET6 else "%s:%d") % (host, port)


def serve(sock, family, port, name):
    while True:
        conn, _ = sock.accept()
        with conn:
            line = "%s port=%d orig=%s\n" % (name, port, original_dst(conn, family))
            try:
                conn.sendall(line.encode())
            except OSError:
                pass


def main():
    ready = sys.argv[1]
    threads = []
    for spec in sys.argv[2:]:
        port_text, name = spec.split("=", 1)
        port = int(port_text)
        for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((host, port))
            sock.listen(64)
            t = threading.Thread(target=serve, args=(sock, family, port, name), daemon=True)
            t.start()
            threads.append(t)
    with open(ready, "w") as f:
        f.write("ready\n")
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
