"""Hot reload the way Kubernetes updates a mounted ConfigMap: a new timestamped
directory, then the "..data" symlink renamed over the old one. Routing changes
with zero failed requests under a concurrent curl loop; a request in flight
finishes on the config it started with; an invalid document is refused, counted,
and the last good one keeps serving."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import json
import os
import shutil
import subprocess
import threading
import time

import weirtest as wt
from weirtest import Config, Proxy, curl, fqdn, upstream


class ConfigMapDir:
    """A directory laid out as the kubelet lays out a ConfigMap volume."""

    def __init__(self, root):
        self.root = root
        self.gen = 0
        self.current = None
        os.makedirs(root)

    def publish(self, text):
        self.gen += 1
        d = "..2026_01_01_00_00_%02d.%d" % (self.gen, self.gen)
        os.makedirs(os.path.join(self.root, d))
        with open(os.path.join(self.root, d, "proxy-config.json"), "w") as f:
            f.write(text)
        tmp = os.path.join(self.root, "..data_tmp")
        os.symlink(d, tmp)
        os.rename(tmp, os.path.join(self.root, "..data"))
        link = os.path.join(self.root, "proxy-config.json")
        if not os.path.islink(link):
            os.symlink("..data/proxy-config.json", link)
        if self.current:
            shutil.rmtree(os.path.join(self.root, self.current))
        self.current = d

    @property
    def path(self):
        return os.path.join(self.root, "proxy-config.json")


def config(L, port, name_suffix=""):
    c = Config()
    A = fqdn("a")
    cl = c.cluster(A, L, [("127.0.0.1", port)])
    c.service(A, L, http=[{"name": "default" + name_suffix,
                           "route": [{"cluster": cl, "weight": 100}]}])
    return c


def body(t, ctx):
    one = upstream.Server(("127.0.0.1", 0), "one").start()
    two = upstream.Server(("127.0.0.1", 0), "two").start()
    L = wt.free_port()
    cm = ConfigMapDir(os.path.join(ctx["dir"], "configmap"))
    c1 = config(L, one.server_address[1])
    cm.publish(json.dumps(c1.document()))
    p = Proxy(ctx["binary"], ctx["dir"], cm.path, outbound=["127.0.0.1:%d" % L])
    ctx["proxies"].append(p)
    p.start()
    base = "http://127.0.0.1:%d" % L

    st, h, b = curl(base + "/", "-H", "Host: a")
    t.ok(st == 200 and json.loads(b)["server"] == "one", "serves the first config")

    results = []
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            # several requests per curl: kept-alive connections cross the swap too
            urls = []
            for _ in range(5):
                urls += ["-o", "/dev/null", base + "/loop"]
            r = subprocess.run(["curl", "-s", "--noproxy", "*", "-H", "Host: a", "-w",
                                "%{http_code}\\n"] + urls, capture_output=True, timeout=20)
            results.extend(r.stdout.decode().split())

    threads = [threading.Thread(target=loop) for _ in range(2)]
    for th in threads:
        th.start()
    time.sleep(0.5)
    c2 = config(L, two.server_address[1], "-v2")
    cm.publish(json.dumps(c2.document()))
    deadline = time.time() + 10
    switched = False
    while time.time() < deadline:
        st, h, b = curl(base + "/", "-H", "Host: a")
        if st == 200 and json.loads(b)["server"] == "two":
            switched = True
            break
        time.sleep(0.05)
    time.sleep(0.5)
    stop.set()
    for th in threads:
        th.join()
    bad = [r for r in results if r != "200"]
    t.ok(switched, "routing follows the ..data swap")
    t.ok(len(results) > 20 and not bad, "zero failed requests during the swap (%d requests)"
         % len(results), bad[:10])
    t.ok(p.metric("weir_config_reloads_total") == 2, "reloads counted",
         p.metric("weir_config_reloads_total"))
    st, dump = p.admin("/config_dump")
    t.ok(st == 200 and json.loads(dump)["revision"] == c2.document()["metadata"]["revision"],
         "/config_dump shows the new revision")

    # a request in flight keeps the snapshot it started with
    slow = {}

    def slow_req():
        slow["r"] = curl(base + "/slow", "-H", "Host: a", "-H", "x-test-delay-ms: 1500")

    th = threading.Thread(target=slow_req)
    th.start()
    time.sleep(0.4)
    c3 = config(L, one.server_address[1], "-v3")
    cm.publish(json.dumps(c3.document()))
    deadline = time.time() + 10
    while time.time() < deadline:
        st, h, b = curl(base + "/", "-H", "Host: a")
        if st == 200 and json.loads(b)["server"] == "one":
            break
        time.sleep(0.05)
    th.join()
    st, h, b = slow["r"]
    t.ok(st == 200 and json.loads(b)["server"] == "two",
         "an in-flight request finishes on its own snapshot", (st, b[:100]))
    t.ok(json.loads(curl(base + "/", "-H", "Host: a")[2])["server"] == "one",
         "new requests use the new snapshot")

    # invalid documents: refused, counted, the last good one serves
    bad_doc = c2.document()
    bad_doc["services"][0]["ports"][0]["http"][0]["route"][0]["weight"] = 90
    bad_doc["metadata"]["revision"] = "sha256:" + "1" * 64
    cm.publish(json.dumps(bad_doc))
    deadline = time.time() + 10
    while time.time() < deadline and not p.metric("weir_config_reload_failures_total"):
        time.sleep(0.05)
    t.ok(p.metric("weir_config_reload_failures_total") == 1, "an invalid config is counted",
         p.metric("weir_config_reload_failures_total"))
    st, h, b = curl(base + "/", "-H", "Host: a")
    t.ok(st == 200 and json.loads(b)["server"] == "one", "the last good config keeps serving")
    t.ok("weights must sum to 100, got 90" in p.stderr() and "http[0].route" in p.stderr(),
         "the rejection is logged with the field path", p.stderr()[-800:])
    cm.publish("{ not json")
    deadline = time.time() + 10
    while time.time() < deadline and p.metric("weir_config_reload_failures_total") < 2:
        time.sleep(0.05)
    t.ok(p.metric("weir_config_reload_failures_total") == 2, "malformed JSON is refused too")
    t.ok(curl(base + "/", "-H", "Host: a")[0] == 200 and p.admin("/ready")[0] == 200,
         "still serving and ready")

    # the same document again is not a reload
    cm.publish(json.dumps(c3.document()))
    time.sleep(0.6)
    t.ok(p.metric("weir_config_reloads_total") == 3, "an unchanged revision is not swapped",
         p.metric("weir_config_reloads_total"))

    # editing the file in place (no symlinks) is noticed as well
    plain = os.path.join(ctx["dir"], "plain.json")
    c1.write(plain)
    q = Proxy(ctx["binary"], os.path.join(ctx["dir"]), plain, outbound=["127.0.0.1:%d" % wt.free_port()])
    q.access_log = os.path.join(ctx["dir"], "q-access.log")
    q.stderr_log = os.path.join(ctx["dir"], "q-stderr.log")
    ctx["proxies"].append(q)
    q.start()
    config(int(q.outbound[0].rsplit(":", 1)[1]), two.server_address[1], "-x").write(plain)
    base_q = "http://" + q.outbound[0]
    deadline = time.time() + 10
    server = None
    while time.time() < deadline:
        st, h, b = curl(base_q + "/", "-H", "Host: a")
        server = json.loads(b)["server"] if st == 200 else None
        if server == "two":
            break
        time.sleep(0.1)
    t.ok(server == "two", "a plain file replaced in place is reloaded", server)


if __name__ == "__main__":
    wt.main(body)
