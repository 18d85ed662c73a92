#!/usr/bin/env python3
"""Usage: origdst_client.py HOST PORT [SOURCE_ADDRESS]

Connects (optionally from SOURCE_ADDRESS), prints the one line the server
sends, and exits 0; exits 1 with the error when the connection fails, so the
test sees "nobody answered" as a failure rather than as an empty line.
"""
import socket
import sys


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(5)
    try:
        if len(sys.argv) > 3:
            sock.bind((sys.argv[3], 0))
        sock.connect((host, port))
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(256)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    finally:
        sock.close()
    sys.stdout.write(data.decode(errors="replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
