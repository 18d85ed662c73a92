"""Routing: host and path/header routing to two clusters, subsets, weights,
header operations, rewrite, redirect, direct response, no route (404 NR)."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import json
import os
import re

import weirtest as wt
from weirtest import Config, Proxy, curl, fqdn, upstream


def body(t, ctx):
    ua = upstream.Server(("127.0.0.1", 0), "a").start()
    ub = upstream.Server(("127.0.0.1", 0), "b").start()
    ushadow = upstream.Server(("127.0.0.1", 0), "shadow").start()
    uv1 = upstream.Server(("127.0.0.1", 0), "c-v1").start()
    uv2 = upstream.Server(("127.0.0.1", 0), "c-v2").start()
    L = wt.free_port()
    A, B, C = fqdn("a"), fqdn("b"), fqdn("c")
    cfg = Config()
    ca = cfg.cluster(A, L, [("127.0.0.1", ua.server_address[1])])
    cb = cfg.cluster(B, L, [("127.0.0.1", ub.server_address[1])])
    ep1 = ("127.0.0.1", uv1.server_address[1], {"app": "c", "version": "v1"})
    ep2 = ("127.0.0.1", uv2.server_address[1], {"app": "c", "version": "v2"})
    cfg.cluster(C, L, [ep1, ep2])
    c1 = cfg.cluster(C, L, [ep1], subset="v1")
    c2 = cfg.cluster(C, L, [ep2], subset="v2")
    S = fqdn("shadow")
    cs = cfg.cluster(S, L, [("127.0.0.1", ushadow.server_address[1])])
    cfg.service(S, L)
    cdead = cfg.cluster(S, L, [("127.0.0.1", wt.free_port())], subset="dead")
    hs = [upstream.Server(("127.0.0.1", 0), "h%d" % i).start() for i in range(4)]
    H, K = fqdn("hash"), fqdn("cookie")
    cfg.cluster(H, L, [("127.0.0.1", x.server_address[1]) for x in hs],
                policy={"loadBalancer": {"policy": "consistent_hash",
                                         "consistentHash": {"header": "x-user"}}})
    cfg.service(H, L)
    cfg.cluster(K, L, [("127.0.0.1", x.server_address[1]) for x in hs],
                policy={"loadBalancer": {"policy": "consistent_hash", "consistentHash": {
                    "cookie": {"name": "sticky", "path": "/", "ttlMs": 60000}}}})
    cfg.service(K, L)
    cfg.service(B, L, aliases=["bravo"])
    cfg.service(C, L, http=[
        {"name": "v2-by-header", "match": [{"headers": {"x-version": {"exact": "v2"}}}],
         "route": [{"cluster": c2, "weight": 100}]},
        {"name": "v1", "route": [{"cluster": c1, "weight": 100}]},
    ])
    cfg.service(A, L, http=[
        {"name": "to-b", "match": [{"uri": {"prefix": "/b/"}}, {"headers": {"x-to": {"exact": "b"}}}],
         "route": [{"cluster": cb, "weight": 100}]},
        {"name": "split", "match": [{"uri": {"prefix": "/split"}}],
         "route": [{"cluster": ca, "weight": 90}, {"cluster": cb, "weight": 10}]},
        {"name": "ops", "match": [{"uri": {"exact": "/ops"}}],
         "headers": {"request": {"set": {"x-set": "route"}, "add": {"x-added": "1"},
                                 "remove": ["x-remove"]},
                     "response": {"set": {"x-resp": "yes"}, "remove": ["x-upstream"]}},
         "route": [{"cluster": ca, "weight": 100,
                    "headers": {"request": {"add": {"x-dest": "a"}},
                                "response": {"add": {"x-dest-resp": "a"}}}}]},
        {"name": "rewrite", "match": [{"uri": {"prefix": "/old/"}}],
         "rewrite": {"uri": "/new/", "authority": "rewritten.local"},
         "route": [{"cluster": ca, "weight": 100}]},
        {"name": "regex-rewrite", "match": [{"uri": {"prefix": "/user/"}}],
         "rewrite": {"uriRegex": {"match": "^/user/([0-9]+)$", "rewrite": "/profile?id=\\1"}},
         "route": [{"cluster": ca, "weight": 100}]},
        {"name": "redirect", "match": [{"uri": {"exact": "/redir"}}],
         "redirect": {"uri": "/target", "code": 302}},
        {"name": "redirect-https", "match": [{"uri": {"exact": "/secure"}}],
         "redirect": {"scheme": "https", "authority": "secure.example", "code": 308}},
        {"name": "direct", "match": [{"uri": {"exact": "/direct"}}],
         "headers": {"response": {"set": {"content-type": "text/plain"}}},
         "directResponse": {"status": 418, "body": "short and stout\n"}},
        {"name": "mirror", "match": [{"uri": {"prefix": "/mirror"}}],
         "mirrors": [{"cluster": cs, "percentage": 100}, {"cluster": cdead, "percentage": 100}],
         "route": [{"cluster": ca, "weight": 100}]},
        {"name": "no-mirror", "match": [{"uri": {"prefix": "/nomirror"}}],
         "mirrors": [{"cluster": cs, "percentage": 0}],
         "route": [{"cluster": ca, "weight": 100}]},
        {"name": "default", "route": [{"cluster": ca, "weight": 100}]},
    ])
    path = os.path.join(ctx["dir"], "config.json")
    cfg.write(path)
    p = Proxy(ctx["binary"], ctx["dir"], path, outbound=["127.0.0.1:%d" % L])
    ctx["proxies"].append(p)
    p.start()
    base = "http://127.0.0.1:%d" % L

    def get(path, host="a", *args):
        st, h, b = curl(base + path, "-H", "Host: " + host, *args)
        try:
            j = json.loads(b)
        except ValueError:
            j = {}
        return st, h, b, j

    st, h, b, j = get("/x")
    t.ok(st == 200 and j.get("server") == "a", "Host a routes to cluster a", (st, b))
    t.ok(j.get("headers", {}).get("x-forwarded-for") == "127.0.0.1",
         "x-forwarded-for carries the client address", j.get("headers"))
    t.ok(j.get("headers", {}).get("x-forwarded-proto") == "http", "x-forwarded-proto is set")
    t.ok(re.match(r"^[0-9a-f-]{36}$", j.get("headers", {}).get("x-request-id", "")) is not None,
         "x-request-id is generated when absent", j.get("headers"))
    t.ok("1.1 weir" in j.get("headers", {}).get("via", "") and "weir" in h.get("via", ""),
         "via is added both ways", (j.get("headers"), h))
    st, h, b, j = get("/x", "a", "-H", "x-request-id: keep-me")
    t.ok(j.get("headers", {}).get("x-request-id") == "keep-me", "x-request-id is kept when sent")

    for host in (fqdn("b"), "b", "b.default", "b.default.svc", "bravo", "B.Default:%d" % L):
        st, h, b, j = get("/", host)
        t.ok(st == 200 and j.get("server") == "b", "Host %s routes to b" % host, (st, b))
    st, h, b, j = get("/", "b:1")
    t.ok(st == 404 and h.get("x-weir-response-flags") == "NR",
         "a service port that does not exist is no route", (st, h))

    st, h, b, j = get("/b/thing")
    t.ok(j.get("server") == "b", "path prefix routes a's /b/ to b", b)
    st, h, b, j = get("/thing", "a", "-H", "x-to: b")
    t.ok(j.get("server") == "b", "a header routes to b (second match entry)", b)

    st, h, b, j = get("/", "c")
    t.ok(j.get("server") == "c-v1", "subset v1 by default", b)
    st, h, b, j = get("/", "c", "-H", "x-version: v2")
    t.ok(j.get("server") == "c-v2", "subset v2 by header", b)

    st, h, b, j = get("/ops", "a", "-H", "x-remove: 1", "-H", "x-set: client")
    hd = j.get("headers", {})
    t.ok(hd.get("x-set") == "route" and hd.get("x-added") == "1" and "x-remove" not in hd
         and hd.get("x-dest") == "a", "request header operations (route, then destination)", hd)
    t.ok(h.get("x-resp") == "yes" and "x-upstream" not in h and h.get("x-dest-resp") == "a",
         "response header operations", h)

    st, h, b, j = get("/old/thing?q=1")
    t.ok(j.get("path") == "/new/thing?q=1" and j.get("headers", {}).get("host") ==
         "rewritten.local", "prefix rewrite and authority rewrite", b)
    st, h, b, j = get("/user/42")
    t.ok(j.get("path") == "/profile?id=42", "regex rewrite", b)

    st, h, b, j = get("/redir")
    t.ok(st == 302 and h.get("location") == "http://a/target", "redirect 302 with Location",
         (st, h))
    st, h, b, j = get("/secure?x=1", "a:%d" % L)
    t.ok(st == 308 and h.get("location") == "https://secure.example/secure?x=1",
         "scheme and authority redirect", (st, h))
    st, h, b, j = get("/direct")
    t.ok(st == 418 and b == b"short and stout\n" and h.get("content-type") == "text/plain"
         and h.get("content-length") == "16", "direct response with body", (st, h, b))

    st, h, b, j = get("/", "nope.example")
    t.ok(st == 404 and b == b'weir: no route for host "nope.example"\n'
         and h.get("x-weir-response-flags") == "NR", "404 names the host, flag NR", (st, h, b))

    def server_for(host, *args):
        st, h, b, j = get("/", host, *args)
        return j.get("server"), h

    picks = {u: {server_for("hash", "-H", "x-user: " + u)[0] for _ in range(5)}
             for u in ("alice", "bob", "carol", "dave", "erin", "frank")}
    t.ok(all(len(v) == 1 for v in picks.values()) and
         len({next(iter(v)) for v in picks.values()}) >= 2,
         "consistent hash on a header: a key sticks to one endpoint, keys spread", picks)
    srv, h = server_for("cookie")
    cookie = h.get("set-cookie", "")
    value = cookie.split(";")[0]
    t.ok(value.startswith("sticky=") and "Max-Age=60" in cookie and "Path=/" in cookie,
         "a missing hash cookie is minted", h)
    again = {server_for("cookie", "-H", "Cookie: other=1; " + value)[0] for _ in range(5)}
    t.ok(again == {srv}, "the minted cookie keeps the client on its endpoint", (srv, again))

    payload = os.urandom(3000)
    st, h, b = curl(base + "/mirror/x", "-H", "Host: a", "--data-binary", "@-", data=payload)
    j = json.loads(b) if st == 200 else {}
    import time
    deadline = time.time() + 5
    while time.time() < deadline and not ushadow.log:
        time.sleep(0.05)
    shadow = ushadow.log[0] if ushadow.log else {}
    sh = dict(shadow.get("headers", []))
    t.ok(st == 200 and j.get("server") == "a", "the mirrored request is answered by a", (st, b))
    t.ok(shadow.get("path") == "/mirror/x" and sh.get("host") == "a-shadow"
         and sh.get("content-length") == "3000", "the shadow gets a copy with host a-shadow", sh)
    st, h, b, j = get("/nomirror")
    time.sleep(0.3)
    t.ok(st == 200 and len(ushadow.log) == 1, "a 0% mirror sends nothing", len(ushadow.log))

    # weights: 1000 requests on kept-alive connections from one curl
    urls = [base + "/split"] * 1000
    import subprocess
    r = subprocess.run(["curl", "-s", "-H", "Host: a", "--noproxy", "*"] + urls,
                       capture_output=True, timeout=120)
    na = r.stdout.count(b'"server": "a"')
    nb = r.stdout.count(b'"server": "b"')
    t.ok(na + nb == 1000 and 60 <= nb <= 140, "weights 90/10 over 1000 requests (b got %d)" % nb,
         (na, nb))

    lines = p.access_lines()
    t.ok(any(line.get("path") == "/redir" and line.get("response_code") == 302 for line in lines),
         "access log has the redirect")
    nr = [line for line in lines if line.get("authority") == "nope.example"]
    t.ok(nr and nr[0]["response_flags"] == "NR" and nr[0]["response_code"] == 404,
         "access log has NR", nr)
    ok = [line for line in lines if line.get("path") == "/x"]
    t.ok(ok and ok[0]["upstream_cluster"] == "outbound|%d||%s" % (L, fqdn("a"))
         and ok[0]["upstream_host"] == "127.0.0.1:%d" % ua.server_address[1]
         and ok[0]["method"] == "GET" and ok[0]["protocol"] == "HTTP/1.1"
         and ok[0]["bytes_sent"] > 0 and ok[0]["request_id"], "access log fields", ok[:1])


if __name__ == "__main__":
    wt.main(body)
