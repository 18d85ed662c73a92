#!/usr/bin/env python3
"""Side-by-side proxy benchmark: direct, weir-proxy, nginx and HAProxy in one run.

Every row sends the same requests to the same upstream (nginx answering a fixed
1 KiB body) on loopback, with the same worker count, and measures:

  h1 req/s      HTTP/1.1 keep-alive, max throughput     wrk, --connections, --duration
  h2 req/s      HTTP/2 (h2c prior knowledge)            h2load, 16 clients x 10 streams
  p50/p99 ms    latency at a fixed 1000 req/s           h2load --h1 --rps, per-request log
  CPU s/100k    proxy CPU per 100,000 requests          /proc/<pid>/stat utime+stime,
                (at max throughput and at 1000 req/s)   summed over the proxy's processes
  RSS MiB       idle, and with 1000 open idle           /proc/<pid>/status VmRSS
                keep-alive connections

and prints a table, then writes bench/results/<timestamp>.csv with ratios
against nginx, HAProxy and direct. See bench/README.md for the method.

Usage: bench/proxy-bench.py [--workers 1|2] [--duration S] [--connections N]
Environment: WEIR_PROXY (default build/proxy/weir-proxy), WEIR_PROXY_ARGS,
WEIR_TARGET (see README).
"""
import argparse
import csv
import datetime
import hashlib
import json
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")

UPSTREAM = "127.0.0.2"
NGINX = "127.0.0.3"
HAPROXY = "127.0.0.4"
H1_PORT, H2_PORT = 18080, 18081
WEIR_PORTS = {"outboundCapture": 25001, "inboundCapture": 25006, "admin": 25000,
              "health": 25021, "metrics": 25090}
SERVICE_HOST = "upstream.bench.svc.cluster.local"
SERVICE_PORT = 80
# The client reaches weir-proxy's listener directly rather than through an
# iptables redirect, so the service port travels in Host, as the proxy's
# explicit mode expects (proxy/README.md).
SERVICE_AUTHORITY = f"{SERVICE_HOST}:{SERVICE_PORT}"
BODY_BYTES = 1024

IDLE_CONNECTIONS = 1000
PACED_RATE = 1000      # requests per second, all clients together
PACED_CLIENTS = 10
H2_CLIENTS, H2_STREAMS = 16, 10
# The whole run is bounded even if a tool hangs past its own timeout.
RUN_DEADLINE_S = 420

CLK_TCK = os.sysconf("SC_CLK_TCK")


class Failure(Exception):
    pass


# ---- processes ----------------------------------------------------------------

class Procs:
    """Everything this run starts, each in its own session so that one
    killpg() ends it with its children (nginx workers)."""

    def __init__(self):
        self.procs = []

    def start(self, name, argv, cpus, log_dir):
        out = open(os.path.join(log_dir, name + ".log"), "wb")
        p = subprocess.Popen(pin(cpus) + argv, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        self.procs.append((name, p))
        return p

    def stop(self, p):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=3)
        self.procs = [(n, q) for n, q in self.procs if q is not p]

    def stop_all(self):
        for _, p in list(reversed(self.procs)):
            self.stop(p)


def have_two_cpus():
    return shutil.which("taskset") is not None and len(os.sched_getaffinity(0)) >= 2


def pin(cpus):
    return ["taskset", "-c", cpus] if cpus and have_two_cpus() else []


def run(argv, cpus, timeout):
    try:
        r = subprocess.run(pin(cpus) + argv, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise Failure(f"{argv[0]} ran past {timeout} s")
    return r.returncode, r.stdout + r.stderr


def wait_port(host, port, proc, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def process_tree(pid):
    """pid and its descendants: nginx with a master process works in children."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError):
            continue
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def cpu_seconds(pid):
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError):
            continue
    return total / CLK_TCK


def rss_kib(pid):
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


# ---- configs -------------------------------------------------------------------

def nginx_common(tmp, name):
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    return d, f"""
pid {d}/nginx.pid;
error_log {d}/error.log warn;
worker_rlimit_nofile 16384;
"""


def nginx_http_common(d):
    return f"""
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
"""


def upstream_conf(tmp):
    d, common = nginx_common(tmp, "upstream")
    body = "x" * BODY_BYTES
    conf = f"""{common}
master_process off;
worker_processes 1;
events {{ worker_connections 8192; }}
http {{
{nginx_http_common(d)}
    default_type application/octet-stream;
    server {{
        listen {UPSTREAM}:{H1_PORT} backlog=4096;
        listen {UPSTREAM}:{H2_PORT} http2 backlog=4096;
        location / {{ return 200 "{body}"; }}
    }}
}}
"""
    path = os.path.join(d, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    return ["nginx", "-p", d, "-e", f"{d}/error.log", "-c", path, "-g", "daemon off;"]


def nginx_proxy_conf(tmp, workers):
    d, common = nginx_common(tmp, "nginx-proxy")
    # One worker runs as the only process, as one weir-proxy worker does.
    master = "master_process off;" if workers == 1 else ""
    conf = f"""{common}
{master}
worker_processes {workers};
events {{ worker_connections 8192; }}
http {{
{nginx_http_common(d)}
    upstream up {{
        server {UPSTREAM}:{H1_PORT};
        keepalive 256;
    }}
    server {{
        listen {NGINX}:{H1_PORT} backlog=4096;
        listen {NGINX}:{H2_PORT} http2 backlog=4096;
        location / {{
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering on;
        }}
    }}
}}
"""
    path = os.path.join(d, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    return ["nginx", "-p", d, "-e", f"{d}/error.log", "-c", path, "-g", "daemon off;"]


def haproxy_conf(tmp, workers):
    d = os.path.join(tmp, "haproxy")
    os.makedirs(d, exist_ok=True)
    conf = f"""global
    nbthread {workers}
    # Room for the 1000 idle connections and the load generator; HAProxy
    # reserves two descriptors per connection against the process limit.
    maxconn 4000

defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    timeout http-keep-alive 120s

frontend h1
    bind {HAPROXY}:{H1_PORT}
    default_backend up

frontend h2
    bind {HAPROXY}:{H2_PORT} proto h2
    default_backend up

backend up
    http-reuse always
    server upstream {UPSTREAM}:{H1_PORT}
"""
    path = os.path.join(d, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(conf)
    return ["haproxy", "-db", "-f", path]


def revision(doc):
    """sha256 of the canonical form without metadata.revision (docs/proxy-config.md)."""
    d = json.loads(json.dumps(doc))
    d["metadata"].pop("revision", None)
    text = json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def weir_conf(tmp):
    """One plain-text HTTP service whose cluster is the upstream. The client
    connects to the outbound listener directly (no iptables here), so the
    service is found by the Host header; its address is loopback too in case
    the proxy maps the original destination first."""
    cluster = f"outbound|80||{SERVICE_HOST}"
    doc = {
        "apiVersion": "proxy.weir.dev/v1",
        "kind": "ProxyConfig",
        "metadata": {"namespace": "bench", "trustDomain": "cluster.local"},
        "proxy": {"ports": WEIR_PORTS, "accessLog": {"mode": "off"}},
        "services": [{
            "host": SERVICE_HOST,
            "namespace": "bench",
            "aliases": ["upstream", "upstream.bench", "upstream.bench.svc"],
            "ports": [{
                "number": SERVICE_PORT, "name": "http", "protocol": "http", "targetPort": H1_PORT,
                "http": [{"name": "default", "route": [{"cluster": cluster, "weight": 100}]}],
            }],
        }],
        "clusters": [{
            "name": cluster, "service": SERVICE_HOST, "port": SERVICE_PORT, "protocol": "http",
            "endpoints": [{"address": UPSTREAM, "port": H1_PORT}],
        }],
    }
    doc["metadata"]["revision"] = revision(doc)
    d = os.path.join(tmp, "weir")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "proxy-config.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
    return path


# ---- measurements --------------------------------------------------------------

def preflight(host, port, authority):
    """One request by hand: a row whose proxy answers wrongly is not measured."""
    req = f"GET / HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode()
    with socket.create_connection((host, port), timeout=3) as s:
        s.sendall(req)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < BODY_BYTES:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    status = data.split(b"\r\n", 1)[0].decode(errors="replace")
    body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
    if " 200 " not in status + " " or len(body) != BODY_BYTES:
        raise Failure(f"first request answered {status!r} with {len(body)} body bytes")


def wrk_h1(host, port, authority, args, cpus):
    rc, out = run(["wrk", "-t1", f"-c{args.connections}", f"-d{args.duration}s",
                   "-H", f"Host: {authority}", f"http://{host}:{port}/"],
                  cpus, args.duration + 30)
    m = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rc != 0 or not m or not rps:
        raise Failure("wrk: " + out.strip()[-200:])
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    n_bad = (int(bad.group(1)) if bad else 0) + (sum(map(int, errs.groups())) if errs else 0)
    return float(rps.group(1)), int(m.group(1)), n_bad


def h2load_h2(host, port, authority, args, cpus):
    duration = max(3, args.duration - 2)
    rc, out = run(["h2load", "-t1", f"-c{H2_CLIENTS}", f"-m{H2_STREAMS}", f"-D{duration}",
                   "--warm-up-time=1", "-H", f":authority: {authority}",
                   f"http://{host}:{port}/"], cpus, duration + 30)
    ok = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", out)
    rps = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    status2xx = re.search(r"status codes: (\d+) 2xx", out)
    if not ok or not rps or int(ok.group(1)) == 0 or not status2xx or int(status2xx.group(1)) == 0:
        return None  # no HTTP/2 on this listener
    return float(rps.group(1))


def h2load_paced(host, port, authority, args, cpus, log_dir, name):
    log = os.path.join(log_dir, f"{name}-latency.tsv")
    if os.path.exists(log):
        os.remove(log)  # h2load appends to its log
    rc, out = run(["h2load", "--h1", "-t1", f"-c{PACED_CLIENTS}",
                   f"--rps={PACED_RATE // PACED_CLIENTS}", f"-D{args.duration}",
                   "-H", f":authority: {authority}", f"--log-file={log}",
                   f"http://{host}:{port}/"], cpus, args.duration + 30)
    lat, bad = [], 0
    try:
        with open(log) as f:
            for line in f:
                cols = line.split("\t")
                if len(cols) < 3:
                    continue
                if cols[1] != "200":
                    bad += 1
                    continue
                lat.append(int(cols[2]) / 1000.0)
    except OSError:
        pass
    if not lat:
        raise Failure("h2load --rps: no response; " + out.strip()[-200:])
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(p * len(lat)))]
    return pct(0.50), pct(0.99), len(lat), bad


def open_idle(host, port, authority, n):
    """n keep-alive connections that each carried one request, then sit idle."""
    socks = []
    req = f"GET / HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode()
    deadline = time.monotonic() + 30
    for _ in range(n):
        if time.monotonic() > deadline:
            break
        try:
            s = socket.create_connection((host, port), timeout=5)
        except OSError:
            break  # the row reports how many were opened
        socks.append(s)
        try:
            s.sendall(req)
            got = b""
            while len(got) < BODY_BYTES or b"\r\n\r\n" not in got:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except OSError:
            break
    return socks


# ---- one row -------------------------------------------------------------------

def measure(name, host, authority, pid, args, log_dir):
    """pid: the proxy's process, None for direct."""
    row = {"target": name, "status": "ok"}
    client = "1"  # the load generator's CPU, shared with the upstream
    # weir-proxy takes HTTP/1.1 and prior-knowledge HTTP/2 on one listener.
    port1 = H1_PORT if name != "weir" else args.weir_port
    port2 = H2_PORT if name != "weir" else args.weir_port
    preflight(host, port1, authority)

    if pid is not None:
        time.sleep(0.5)
        row["rss_idle_mib"] = rss_kib(pid) / 1024
        socks = open_idle(host, port1, authority, IDLE_CONNECTIONS)
        time.sleep(0.5)
        row["rss_1000conn_mib"] = rss_kib(pid) / 1024
        row["idle_conns_opened"] = len(socks)
        for s in socks:
            s.close()
        time.sleep(0.5)

    cpu0 = cpu_seconds(pid) if pid is not None else 0
    rps, n, bad = wrk_h1(host, port1, authority, args, client)
    row["h1_rps"] = rps
    row["h1_errors"] = bad
    if pid is not None:
        row["cpu_s_per_100k"] = (cpu_seconds(pid) - cpu0) / n * 100000 if n else None

    row["h2_rps"] = h2load_h2(host, port2, authority, args, client)

    cpu0 = cpu_seconds(pid) if pid is not None else 0
    p50, p99, n, bad = h2load_paced(host, port1, authority, args, client, log_dir, name)
    row["p50_ms"], row["p99_ms"], row["paced_errors"] = p50, p99, bad
    if pid is not None:
        row["cpu_s_per_100k_at_1k"] = (cpu_seconds(pid) - cpu0) / n * 100000 if n else None
    return row


# ---- output --------------------------------------------------------------------

COLUMNS = [
    ("h1_rps", "h1 req/s", "{:.0f}"),
    ("h2_rps", "h2 req/s", "{:.0f}"),
    ("p50_ms", "p50 ms", "{:.3f}"),
    ("p99_ms", "p99 ms", "{:.3f}"),
    ("cpu_s_per_100k", "CPU s/100k", "{:.2f}"),
    ("cpu_s_per_100k_at_1k", "CPU s/100k@1k", "{:.2f}"),
    ("rss_idle_mib", "RSS idle MiB", "{:.1f}"),
    ("rss_1000conn_mib", "RSS 1k conn MiB", "{:.1f}"),
]


def fmt(row, key, spec):
    v = row.get(key)
    if row.get("status") != "ok":
        return row["status"] if key == "h1_rps" else ""
    if v is None:
        return "n/a" if key == "h2_rps" else "-"
    return spec.format(v)


def add_ratios(rows):
    by = {r["target"]: r for r in rows if r.get("status") == "ok"}

    def ratio(a, b):
        return a / b if a is not None and b not in (None, 0) else None
    for r in rows:
        if r.get("status") != "ok":
            continue
        for base in ("nginx", "haproxy", "direct"):
            b = by.get(base)
            if not b:
                continue
            for key in ("h1_rps", "h2_rps"):
                r[f"{key}_vs_{base}"] = ratio(r.get(key), b.get(key))
            if base != "direct":
                for key in ("p99_ms", "cpu_s_per_100k", "rss_1000conn_mib"):
                    r[f"{key}_vs_{base}"] = ratio(r.get(key), b.get(key))
        d = by.get("direct")
        if d:
            for key in ("p50_ms", "p99_ms"):
                if r.get(key) is not None and d.get(key) is not None:
                    r[f"{key}_added_over_direct"] = r[key] - d[key]


def print_table(rows):
    headers = ["target"] + [h for _, h, _ in COLUMNS]
    cells = [[r["target"]] + [fmt(r, k, s) for k, _, s in COLUMNS] for r in rows]
    widths = [max(len(headers[i]), *(len(c[i]) for c in cells)) for i in range(len(headers))]
    line = "  ".join(h.rjust(w) if i else h.ljust(w)
                     for i, (h, w) in enumerate(zip(headers, widths)))
    print(line)
    print("-" * len(line))
    for c in cells:
        print("  ".join(v.rjust(w) if i else v.ljust(w)
                        for i, (v, w) in enumerate(zip(c, widths))).rstrip())

    print()
    for r in rows:
        if r.get("status") != "ok" or r["target"] == "direct":
            continue
        parts = []
        for base in ("nginx", "haproxy", "direct"):
            v = r.get(f"h1_rps_vs_{base}")
            if v is not None and r["target"] != base:
                parts.append(f"h1 {v:.2f}x {base}")
        for base in ("nginx", "haproxy"):
            v = r.get(f"cpu_s_per_100k_vs_{base}")
            if v is not None and r["target"] != base:
                parts.append(f"CPU {v:.2f}x {base}")
        add = r.get("p99_ms_added_over_direct")
        if add is not None:
            parts.append(f"p99 {add:+.3f} ms over direct")
        if r.get("h1_errors") or r.get("paced_errors"):
            parts.append(f"ERRORS: {r.get('h1_errors', 0)} in the wrk phase, "
                         f"{r.get('paced_errors', 0)} at 1000 req/s")
        if r.get("idle_conns_opened", IDLE_CONNECTIONS) < IDLE_CONNECTIONS:
            parts.append(f"only {r['idle_conns_opened']} idle connections opened")
        if parts:
            print(f"{r['target']}: " + ", ".join(parts))


def write_csv(rows, meta, path):
    keys = ["timestamp", "workers", "duration_s", "connections", "target", "status"]
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            out = dict(meta)
            for k, v in r.items():
                out[k] = f"{v:.4f}" if isinstance(v, float) else v
            w.writerow(out)


def versions():
    v = {}
    for name, argv in (("nginx", ["nginx", "-v"]), ("haproxy", ["haproxy", "-v"]),
                       ("wrk", ["wrk", "-v"]), ("h2load", ["h2load", "--version"])):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=5)
            text = (r.stdout + r.stderr).strip().splitlines()
            v[name] = text[0] if text else "?"
        except (OSError, subprocess.TimeoutExpired):
            v[name] = "missing"
    return v


# ---- main ----------------------------------------------------------------------

def on_signal(signum, frame):
    raise SystemExit(128 + signum)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, choices=(1, 2), default=1)
    ap.add_argument("--duration", type=int, default=10, help="seconds per load phase (max 30)")
    ap.add_argument("--connections", type=int, default=64, help="wrk connections")
    ap.add_argument("--only", default="direct,weir,nginx,haproxy",
                    help="comma-separated rows to run")
    args = ap.parse_args()
    args.duration = max(3, min(args.duration, 30))

    for tool in ("nginx", "haproxy", "wrk", "h2load"):
        if not shutil.which(tool):
            sys.exit(f"proxy-bench: {tool} is missing (scripts/install-deps.sh installs it)")
    weir_bin = os.environ.get("WEIR_PROXY", os.path.join(ROOT, "build/proxy/weir-proxy"))
    target = os.environ.get("WEIR_TARGET", f"127.0.0.1:{WEIR_PORTS['outboundCapture']}")
    weir_host, _, weir_port = target.rpartition(":")
    if not weir_host.startswith("127.0.0."):
        sys.exit("proxy-bench: WEIR_TARGET must be a 127.0.0.x address")
    args.weir_port = int(weir_port)

    # 1000 idle connections plus wrk's need more descriptors than the default.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(s, on_signal)
    signal.alarm(RUN_DEADLINE_S)

    procs = Procs()
    tmp = tempfile.mkdtemp(prefix="weir-bench-")
    rows = []
    only = set(args.only.split(","))
    # The proxy gets CPU 0 to itself; the load generator and the upstream share
    # CPU 1. With two workers the proxy may use both CPUs.
    proxy_cpus = "0" if args.workers == 1 else None
    started = time.monotonic()
    try:
        up = procs.start("upstream", upstream_conf(tmp), "1", tmp)
        if not wait_port(UPSTREAM, H1_PORT, up):
            raise Failure(f"upstream nginx did not start, see {tmp}/upstream.log")

        plan = [
            ("direct", UPSTREAM, None),
            ("weir", weir_host, "weir"),
            ("nginx", NGINX, "nginx"),
            ("haproxy", HAPROXY, "haproxy"),
        ]
        for name, host, kind in plan:
            if name not in only:
                continue
            print(f"proxy-bench: {name} ...", file=sys.stderr, flush=True)
            p = None
            authority = SERVICE_AUTHORITY if kind == "weir" else "upstream"
            try:
                if kind == "nginx":
                    p = procs.start(name, nginx_proxy_conf(tmp, args.workers), proxy_cpus, tmp)
                elif kind == "haproxy":
                    p = procs.start(name, haproxy_conf(tmp, args.workers), proxy_cpus, tmp)
                elif kind == "weir":
                    if not os.access(weir_bin, os.X_OK):
                        rows.append({"target": name, "status": "not built"})
                        continue
                    cfg = weir_conf(tmp)
                    fmt_args = os.environ.get("WEIR_PROXY_ARGS",
                                              "--config {config} --workers {workers}")
                    argv = [weir_bin] + [a.format(config=cfg, workers=args.workers,
                                                  admin_port=WEIR_PORTS["admin"])
                                         for a in shlex.split(fmt_args)]
                    p = procs.start(name, argv, proxy_cpus, tmp)
                port = args.weir_port if kind == "weir" else H1_PORT
                if p is not None and not wait_port(host, port, p):
                    rows.append({"target": name, "status": "failed to start"})
                    exited = "" if p.poll() is None else f" (exited with status {p.returncode})"
                    print(f"proxy-bench: {name} did not listen on {host}:{port}{exited}; "
                          f"log {tmp}/{name}.log ends:", file=sys.stderr)
                    with open(os.path.join(tmp, name + ".log"), errors="replace") as f:
                        sys.stderr.writelines("  " + l for l in f.readlines()[-5:])
                    continue
                rows.append(measure(name, host, authority, p.pid if p else None, args, tmp))
            except (Failure, OSError) as e:
                rows.append({"target": name, "status": "failed"})
                print(f"proxy-bench: {name}: {e}", file=sys.stderr)
            finally:
                if p is not None:
                    procs.stop(p)
    finally:
        procs.stop_all()
        signal.alarm(0)

    add_ratios(rows)
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    v = versions()
    print()
    print(f"proxy-bench {stamp}: {args.workers} worker(s), {args.duration} s phases, "
          f"wrk -c{args.connections}, 1 KiB body, loopback; "
          f"{v['nginx']}; {v['haproxy'].split(' - ')[0]}; {v['wrk'].split(' [')[0]}; "
          f"{v['h2load']}")
    print_table(rows)
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, f"{stamp}.csv")
    write_csv(rows, {"timestamp": stamp, "workers": args.workers, "duration_s": args.duration,
                     "connections": args.connections}, path)
    ok = all(r["status"] in ("ok", "not built") for r in rows)
    if ok:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nwritten {os.path.relpath(path, ROOT)} in {time.monotonic() - started:.0f} s"
          + ("" if ok else f"; configs and logs kept in {tmp}"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
