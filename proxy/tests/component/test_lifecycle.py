"""Admin and metrics endpoints with exact values after a known number of
requests, --check-config, SIGTERM drain (an in-flight request completes, exit 0),
/drain_listeners, /quitquitquit, the drain deadline, a policy this version
cannot enforce, and a proxy that starts without a valid config."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import json
import os
import signal
import socket
import subprocess
import threading
import time

import weirtest as wt
from weirtest import Config, Proxy, curl, fqdn, upstream


def connect_refused(addr):
    try:
        s = socket.create_connection(addr, timeout=2)
    except OSError:
        return True
    # a listener closed after accept would reset; a closed listener refuses
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        data = s.recv(100)
        return data == b""
    except OSError:
        return True
    finally:
        s.close()


def body(t, ctx):
    ua = upstream.Server(("127.0.0.1", 0), "a").start()
    L = wt.free_port()
    A = fqdn("a")
    cfg = Config()
    ca = cfg.cluster(A, L, [("127.0.0.1", ua.server_address[1])])
    cfg.service(A, L)
    path = os.path.join(ctx["dir"], "config.json")
    cfg.write(path)

    # --check-config
    def check(p):
        r = subprocess.run([ctx["binary"], "--check-config", p], capture_output=True, text=True)
        return r.returncode, r.stdout + r.stderr

    rc, out = check(path)
    t.ok(rc == 0 and "ok" in out, "--check-config accepts a valid document", out)
    bad = cfg.document()
    bad["services"][0]["ports"][0]["http"][0]["route"][0]["weight"] = 90
    bad["clusters"][0]["name"] = "outbound|1||nowhere"
    bad_path = os.path.join(ctx["dir"], "bad.json")
    with open(bad_path, "w") as f:
        json.dump(bad, f)
    rc, out = check(bad_path)
    t.ok(rc == 1 and "ProxyConfig default: services[0].ports[0].http[0].route: weights must sum "
         "to 100, got 90" in out and "clusters[0]" in out,
         "--check-config prints every error with its field path, exit 1", out)
    rc, out = check(os.path.join(ctx["dir"], "missing.json"))
    t.ok(rc == 1 and "cannot open" in out, "--check-config on a missing file", out)
    with open(bad_path, "w") as f:
        f.write('{"apiVersion": "proxy.weir.dev/v2"}')
    rc, out = check(bad_path)
    t.ok(rc == 1 and 'unsupported version "proxy.weir.dev/v2"' in out, "unsupported version", out)
    r = subprocess.run([ctx["binary"], "--workers", "zero"], capture_output=True, text=True)
    t.ok(r.returncode == 2 and "--workers" in r.stderr, "a bad flag is a usage error", r.stderr)

    p = Proxy(ctx["binary"], ctx["dir"], path, outbound=["127.0.0.1:%d" % L])
    ctx["proxies"].append(p)
    p.start()
    base = "http://127.0.0.1:%d" % L

    # a known set of requests
    sent_bytes = 0
    resp_bytes = 0
    for i in range(7):
        payload = b"x" * (100 * i)
        st, h, b = curl(base + "/n%d" % i, "-H", "Host: a", *(
            ["--data-binary", "@-"] if payload else []), data=payload or None)
        sent_bytes += len(payload)
        resp_bytes += len(b)
    for i in range(3):
        curl(base + "/", "-H", "Host: unknown.example")
    time.sleep(0.2)

    lbl = {"destination_service": A, "response_code": "200", "reporter": "source",
           "source_workload": "client", "source_workload_namespace": "default",
           "request_protocol": "http", "response_flags": "-"}
    t.ok(p.metric("istio_requests_total", lbl) == 7, "istio_requests_total == 7",
         [x for x in p.metrics().splitlines() if "istio_requests_total" in x])
    t.ok(p.metric("istio_requests_total", {"response_code": "404", "response_flags": "NR"}) == 3,
         "istio_requests_total 404 NR == 3")
    t.ok(p.metric("istio_request_duration_milliseconds_count", lbl) == 7
         and p.metric("istio_request_duration_milliseconds_bucket",
                      dict(lbl, le="+Inf")) == 7, "duration histogram counts 7")
    t.ok(p.metric("istio_request_bytes_sum", lbl) == sent_bytes,
         "istio_request_bytes sum is the bytes sent (%d)" % sent_bytes,
         p.metric("istio_request_bytes_sum", lbl))
    t.ok(p.metric("istio_response_bytes_sum", lbl) == resp_bytes,
         "istio_response_bytes sum is the bytes answered (%d)" % resp_bytes,
         p.metric("istio_response_bytes_sum", lbl))
    t.ok(p.metric("weir_proxy_downstream_rq_total") == 10, "weir_proxy_downstream_rq_total == 10")
    t.ok(p.metric("weir_proxy_upstream_rq_total") == 7, "weir_proxy_upstream_rq_total == 7")
    t.ok(p.metric("weir_proxy_downstream_rq_active") == 0, "no request active")
    t.ok(p.metric("weir_proxy_config_info") == 1 and
         cfg.document()["metadata"]["revision"] in p.metrics(), "config info carries the revision")

    st, text = p.admin("/clusters")
    key = "%s::127.0.0.1:%d::" % (ca, ua.server_address[1])
    t.ok(st == 200 and key + "rq_total::7" in text and key + "rq_success::7" in text
         and key + "health_flags::healthy" in text, "/clusters counts per endpoint", text)
    st, j = p.admin("/clusters?format=json")
    t.ok(st == 200 and json.loads(j)["clusters"][0]["endpoints"][0]["rq_total"] == 7,
         "/clusters?format=json")
    st, text = p.admin("/stats")
    t.ok(st == 200 and "weir_proxy_downstream_rq_total: 10" in text, "/stats", text[:400])
    st, dump = p.admin("/config_dump")
    d = json.loads(dump) if st == 200 else {}
    t.ok(d.get("config") == cfg.document() and d.get("generation") == 1,
         "/config_dump returns the document serving now")
    t.ok(p.admin("/ready") == (200, "LIVE\n"), "/ready is LIVE")
    t.ok(p.admin("/healthz/ready", port=p.health_port)[0] == 200, "health port /healthz/ready")
    t.ok(p.admin("/logging?level=debug")[0] == 405, "changing the level needs POST")
    st, text = p.admin("/logging?level=debug", method="POST")
    t.ok(st == 200 and "debug" in text and "debug" in p.admin("/logging")[1], "/logging?level=")
    p.admin("/logging?level=info", method="POST")
    t.ok(p.admin("/logging?level=loud", method="POST")[0] == 400, "an unknown level is refused")
    t.ok(p.admin("/quitquitquit")[0] == 405, "GET /quitquitquit does nothing")
    t.ok(p.admin("/nope")[0] == 404, "unknown admin path: 404")

    # SIGTERM: stop accepting, finish the request in flight, exit 0
    result = {}

    def slow():
        result["r"] = curl(base + "/slow", "-H", "Host: a", "-H", "x-test-delay-ms: 1500")

    th = threading.Thread(target=slow)
    th.start()
    idle = socket.create_connection(("127.0.0.1", L))
    idle.sendall(b"GET /idle HTTP/1.1\r\nHost: a\r\n\r\n")
    idle.settimeout(5)
    idle.recv(65536)
    time.sleep(0.3)
    t0 = time.time()
    p.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    t.ok(connect_refused(("127.0.0.1", L)), "new connections are refused while draining")
    t.ok(p.admin("/healthz/ready", port=p.health_port)[0] == 503, "not ready while draining")
    try:
        gone = idle.recv(100) == b""
    except OSError:
        gone = True
    t.ok(gone, "an idle keep-alive connection is closed at drain")
    th.join()
    rc = p.proc.wait(10)
    dt = time.time() - t0
    st, h, b = result["r"]
    t.ok(st == 200 and h.get("connection") == "close", "the in-flight request completes "
         "(with connection: close)", (st, h))
    t.ok(rc == 0 and dt < 4, "exit 0 after the drain (%.2fs)" % dt, p.stderr()[-2000:])

    # the drain deadline cuts what is still running
    q = Proxy(ctx["binary"], ctx["dir"], path, outbound=["127.0.0.1:%d" % L],
              extra=["--drain-time", "500ms"])
    ctx["proxies"].append(q)
    q.start()
    th = threading.Thread(target=slow)
    th.start()
    time.sleep(0.3)
    t0 = time.time()
    q.proc.send_signal(signal.SIGTERM)
    rc = q.proc.wait(10)
    dt = time.time() - t0
    th.join()
    t.ok(rc == 0 and 0.4 < dt < 1.5 and result["r"][0] != 200,
         "the drain deadline ends it (%.2fs, exit %s)" % (dt, rc))

    # /drain_listeners, then /quitquitquit
    q = Proxy(ctx["binary"], ctx["dir"], path, outbound=["127.0.0.1:%d" % L])
    ctx["proxies"].append(q)
    q.start()
    st, _ = q.admin("/drain_listeners", method="POST")
    time.sleep(0.2)
    t.ok(st == 200 and q.admin("/ready")[0] == 503 and connect_refused(("127.0.0.1", L)),
         "/drain_listeners closes the listeners")
    st, _ = q.admin("/quitquitquit", method="POST")
    rc = q.proc.wait(10)
    t.ok(st == 200 and rc == 0, "/quitquitquit exits 0", rc)

    # a policy this version cannot enforce refuses inbound traffic instead of ignoring it
    app = upstream.Server(("127.0.0.1", 0), "app").start()
    pol = Config()
    pol.cluster(A, L, [("127.0.0.1", ua.server_address[1])])
    pol.service(A, L)
    pol.inbound = {"services": [{"name": "client", "selector": {"app": "client"},
                                 "ports": [{"port": 80, "targetPort": app.server_address[1],
                                            "protocol": "http"}]}],
                   "authorization": [{"name": "default/deny-admin", "action": "deny",
                                      "rules": [{"to": [{"paths": [{"prefix": "/admin"}]}]}]}]}
    pol_path = os.path.join(ctx["dir"], "policy.json")
    pol.write(pol_path)
    q = Proxy(ctx["binary"], ctx["dir"], pol_path, inbound=["127.0.0.5:%d" % app.server_address[1]],
              extra=["--pod-labels", "app=client"])
    ctx["proxies"].append(q)
    q.start()
    st, h, b = curl("http://127.0.0.5:%d/" % app.server_address[1], "-H", "Host: client")
    t.ok(st == 403 and not app.log, "an authorization policy that cannot be enforced: 403, "
         "nothing reaches the app", (st, b))
    q.stop()

    # kubelet probes moved to the health port run against the app
    app = upstream.Server(("127.0.0.1", 0), "app").start()
    APP = app.server_address[1]
    q = Proxy(ctx["binary"], ctx["dir"], path, outbound=["127.0.0.1:%d" % wt.free_port()])
    q.env["WEIR_KUBE_APP_PROBERS"] = json.dumps({
        "/app-health/app/readyz": {"httpGet": {"path": "/healthy", "port": APP, "scheme": "HTTP",
                                               "httpHeaders": [{"name": "x-probe",
                                                                "value": "1"}]},
                                   "timeoutSeconds": 1},
        "/app-health/app/startupz": {"httpGet": {"path": "/", "port": APP, "httpHeaders": [
            {"name": "x-test-status", "value": "500"}]}, "timeoutSeconds": 1},
        "/app-health/app/livez": {"tcpSocket": {"port": APP}, "timeoutSeconds": 1},
        "/app-health/gone/livez": {"tcpSocket": {"port": wt.free_port()}, "timeoutSeconds": 1},
        "/app-health/gone/readyz": {"httpGet": {"path": "/", "port": wt.free_port()},
                                    "timeoutSeconds": 1},
    })
    ctx["proxies"].append(q)
    q.start()
    hp = q.health_port
    st, _ = q.admin("/app-health/app/readyz", port=hp)
    seen = [e for e in app.log if e["path"] == "/healthy"]
    t.ok(st == 200 and seen and dict(seen[0]["headers"]).get("x-probe") == "1",
         "an httpGet app probe runs against the app with its headers", (st, seen[:1]))
    t.ok(q.admin("/app-health/app/startupz", port=hp)[0] == 500, "a failing app probe fails")
    t.ok(q.admin("/app-health/app/livez", port=hp)[0] == 200, "a tcpSocket app probe")
    t.ok(q.admin("/app-health/gone/livez", port=hp)[0] == 503, "a tcpSocket probe to nothing")
    t.ok(q.admin("/app-health/gone/readyz", port=hp)[0] == 503, "an httpGet probe to nothing")
    t.ok(q.admin("/app-health/other/readyz", port=hp)[0] == 404, "an unknown probe path: 404")
    r = subprocess.run([ctx["binary"], "wait", "--health-port", str(hp), "--timeout", "5"],
                       capture_output=True, text=True, timeout=20)
    t.ok(r.returncode == 0, "weir-proxy wait returns 0 once ready", r.stderr)
    r = subprocess.run([ctx["binary"], "wait", "--health-port", str(wt.free_port()), "--timeout",
                        "1"], capture_output=True, text=True, timeout=20)
    t.ok(r.returncode == 1 and "not ready" in r.stderr, "weir-proxy wait gives up", r.stderr)
    q.stop()

    # access log to a file, text encoding, reopened on SIGUSR1 (log rotation)
    logfile = os.path.join(ctx["dir"], "access-file.log")
    fcfg = Config()
    fcfg.proxy = {"accessLog": {"mode": "file", "encoding": "text", "path": logfile}}
    fcfg.cluster(A, L, [("127.0.0.1", ua.server_address[1])])
    fcfg.service(A, L)
    fpath = os.path.join(ctx["dir"], "filelog.json")
    fcfg.write(fpath)
    q = Proxy(ctx["binary"], ctx["dir"], fpath, outbound=["127.0.0.1:%d" % L])
    ctx["proxies"].append(q)
    q.start()
    curl(base + "/filelog1", "-H", "Host: a")
    time.sleep(0.2)
    first = open(logfile).read() if os.path.exists(logfile) else ""
    os.rename(logfile, logfile + ".1")
    q.proc.send_signal(signal.SIGUSR1)
    time.sleep(0.3)
    curl(base + "/filelog2", "-H", "Host: a")
    time.sleep(0.2)
    second = open(logfile).read() if os.path.exists(logfile) else ""
    t.ok('"GET /filelog1 HTTP/1.1" 200 - ' in first and "outbound|%d||%s" % (L, A) in first,
         "text access log in a file", first)
    t.ok("/filelog2" in second and "/filelog1" not in second, "SIGUSR1 reopens the file", second)
    q.stop()

    # no valid config at start: alive, not ready, ready once one arrives
    late = os.path.join(ctx["dir"], "late.json")
    with open(late, "w") as f:
        f.write("{}")
    q = Proxy(ctx["binary"], ctx["dir"], late, outbound=["127.0.0.1:%d" % L])
    ctx["proxies"].append(q)
    q.start(wait_ready=False)
    time.sleep(0.5)
    t.ok(q.proc.poll() is None and q.admin("/ready")[0] == 503, "started without a valid config:"
         " up but not ready")
    cfg.write(late)
    deadline = time.time() + 8
    while time.time() < deadline and q.admin("/ready")[0] != 200:
        time.sleep(0.1)
    t.ok(q.admin("/ready")[0] == 200 and curl(base + "/", "-H", "Host: a")[0] == 200,
         "ready and serving once a valid config arrives")


if __name__ == "__main__":
    wt.main(body)
