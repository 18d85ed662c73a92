"""Harness for weir-proxy's component tests: config documents, the proxy process,
curl, raw sockets, and "ok N - ..." reporting.

Every address used is on loopback. The proxy runs with explicit listeners
(--listen-outbound/--listen-inbound): a connection that was not redirected by
iptables has no SO_ORIGINAL_DST entry, so the proxy takes the listener's own
address as the destination, and a service whose port number equals the listener's
port is routed by Host.
"""

import argparse
import copy
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import upstream  # noqa: E402

NS = "default"


def free_port(host="127.0.0.1"):
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fqdn(name, ns=NS):
    return "%s.%s.svc.cluster.local" % (name, ns)


def cluster_name(host, port, subset=None):
    return "outbound|%d|%s|%s" % (port, subset or "", host)


class Config:
    """Builds a proxy-config document in canonical order."""

    def __init__(self, ns=NS):
        self.ns = ns
        self.services = {}
        self.clusters = {}
        self.proxy = {"accessLog": {"mode": "stdout", "encoding": "json"}}
        self.inbound = None

    def service(self, host, port, protocol="http", http=None, tcp=None, aliases=(),
                addresses=(), namespace=None):
        svc = self.services.setdefault(host, {"host": host, "namespace": namespace or self.ns,
                                              "ports": []})
        if aliases:
            svc["aliases"] = sorted(aliases)
        if addresses:
            svc["addresses"] = sorted(addresses)
        p = {"number": port, "name": "p%d" % port, "protocol": protocol}
        if http is not None:
            p["http"] = http
        if tcp is not None:
            p["tcp"] = tcp
        if http is None and tcp is None:
            if protocol in ("tcp", "tls", "https"):
                p["tcp"] = [{"route": [{"cluster": cluster_name(host, port), "weight": 100}]}]
            else:
                p["http"] = [{"name": "default",
                              "route": [{"cluster": cluster_name(host, port), "weight": 100}]}]
        svc["ports"] = sorted([q for q in svc["ports"] if q["number"] != port] + [p],
                              key=lambda q: q["number"])
        return host

    def cluster(self, host, port, endpoints, subset=None, protocol="http", policy=None):
        """endpoints: list of (ip, port) or (ip, port, labels)."""
        name = cluster_name(host, port, subset)
        eps = []
        for e in endpoints:
            ep = {"address": e[0], "port": e[1]}
            if len(e) > 2 and e[2]:
                ep["labels"] = e[2]
            eps.append(ep)
        eps.sort(key=lambda e: (e["address"], e["port"]))
        c = {"name": name, "service": host, "port": port, "protocol": protocol,
             "endpoints": eps}
        if subset:
            c["subset"] = subset
        if policy:
            c["trafficPolicy"] = policy
        self.clusters[name] = c
        return name

    def document(self):
        doc = copy.deepcopy({
            "apiVersion": "proxy.weir.dev/v1",
            "kind": "ProxyConfig",
            "metadata": {"namespace": self.ns, "revision": "", "trustDomain": "cluster.local"},
            "proxy": self.proxy,
            "services": [self.services[k] for k in sorted(self.services)],
            "clusters": [self.clusters[k] for k in sorted(self.clusters)],
        })
        if self.inbound:
            doc["inbound"] = copy.deepcopy(self.inbound)
        body = json.dumps(doc, sort_keys=True)
        doc["metadata"]["revision"] = "sha256:" + hashlib.sha256(body.encode()).hexdigest()
        return doc

    def write(self, path):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.document(), f, indent=1)
        os.replace(tmp, path)


class Proxy:
    def __init__(self, binary, workdir, config_path, outbound=(), inbound=(), workers=2,
                 extra=()):
        self.binary = binary
        self.workdir = workdir
        self.config_path = config_path
        self.admin_port = free_port()
        self.health_port = free_port()
        self.metrics_port = free_port()
        self.outbound = list(outbound)
        self.inbound = list(inbound)
        self.workers = workers
        self.extra = list(extra)
        self.env = {}
        self.proc = None
        self.access_log = os.path.join(workdir, "access.log")
        self.stderr_log = os.path.join(workdir, "proxy.stderr")

    def args(self):
        a = [self.binary, "--config", self.config_path, "--workers", str(self.workers),
             "--admin-port", str(self.admin_port), "--health-port", str(self.health_port),
             "--metrics-port", str(self.metrics_port), "--bind-address", "127.0.0.1",
             "--workload-name", "client", "--namespace", NS]
        for addr in self.outbound:
            a += ["--listen-outbound", addr]
        for addr in self.inbound:
            a += ["--listen-inbound", addr]
        return a + self.extra

    def start(self, wait_ready=True):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
        env.update(self.env)
        self.proc = subprocess.Popen(self.args(), stdout=open(self.access_log, "ab"),
                                     stderr=open(self.stderr_log, "ab"), env=env)
        if wait_ready:
            deadline = time.time() + 15
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError("weir-proxy exited early:\n" + self.stderr())
                try:
                    if self.admin("/ready")[0] == 200:
                        return self
                except OSError:
                    pass
                time.sleep(0.05)
            raise RuntimeError("weir-proxy not ready:\n" + self.stderr())
        return self

    def admin(self, path, method="GET", port=None):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (port or self.admin_port, path),
                                     method=method)
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metrics(self):
        return self.admin("/stats/prometheus", port=self.metrics_port)[1]

    def metric(self, name, labels=None):
        """Sum of a metric's samples whose labels include `labels`."""
        total = 0.0
        found = False
        for line in self.metrics().splitlines():
            if not line or line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            mname, _, rest = key.partition("{")
            if mname != name:
                continue
            if labels:
                if not all(('%s="%s"' % (k, v)) in rest for k, v in labels.items()):
                    continue
            total += float(value)
            found = True
        return total if found else None

    def stderr(self):
        try:
            with open(self.stderr_log, errors="replace") as f:
                return f.read()[-6000:]
        except OSError:
            return ""

    def access_lines(self):
        out = []
        try:
            with open(self.access_log) as f:
                for line in f:
                    line = line.strip()
                    if line.startswith("{"):
                        out.append(json.loads(line))
        except OSError:
            pass
        return out

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -9


def curl(url, *args, timeout=10, data=None):
    """Returns (status, headers dict (lower-case, last value wins), body bytes)."""
    cmd = ["curl", "-s", "-S", "-i", "--max-time", str(timeout), "--noproxy", "*"]
    cmd += list(args)
    cmd.append(url)
    r = subprocess.run(cmd, input=data, capture_output=True)
    out = r.stdout
    status, headers = 0, {}
    while out.startswith(b"HTTP/"):
        head, sep, rest = out.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        out = rest
        if status >= 200 or not sep:
            break
    return status, headers, out


def raw(addr, data, timeout=5, read_all=True, shutdown=False):
    """Sends bytes on a fresh connection and returns what came back until close
    (or timeout)."""
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.sendall(data)
    if shutdown:
        s.shutdown(socket.SHUT_WR)
    chunks = []
    try:
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
            if not read_all:
                break
    except socket.timeout:
        pass
    s.close()
    return b"".join(chunks)


class Reporter:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, detail=None):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, desc), flush=True)
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, desc), flush=True)
            if detail is not None:
                for line in str(detail).splitlines()[:40]:
                    print("#   " + line, flush=True)
        return cond

    def finish(self):
        print("%d passed, %d failed" % (self.n - self.failed, self.failed), flush=True)
        return 1 if self.failed else 0


def main(body):
    """Runs body(t, ctx) with a temp dir and the proxy binary; reports and exits."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--proxy", required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    t = Reporter()
    workdir = tempfile.mkdtemp(prefix="weir-proxy-test-")
    ctx = {"binary": args.proxy, "dir": workdir, "proxies": []}
    try:
        body(t, ctx)
    except Exception:
        t.ok(False, "test body raised", traceback.format_exc())
    finally:
        for p in ctx["proxies"]:
            rc = p.stop(signal.SIGKILL if p.proc and p.proc.poll() is None and False else
                        signal.SIGTERM)
            if rc not in (0, None):
                t.ok(False, "weir-proxy exited cleanly (status %s)" % rc, p.stderr())
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(t.finish())
