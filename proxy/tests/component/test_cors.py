"""CORS (a route's corsPolicy): preflights from allowed origins answered by the
proxy and never forwarded, CORS fields on actual responses, unmatched preflights
forwarded (forward) or answered bare (ignore), origin matching by exact, prefix
and regex, "*" allowing any origin, CORS fields on proxy-made answers."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import json
import os

import weirtest as wt
from weirtest import Config, Proxy, curl, fqdn, upstream

CORS_FIELDS = ("access-control-allow-origin", "access-control-allow-methods",
               "access-control-allow-headers", "access-control-max-age",
               "access-control-allow-credentials", "access-control-expose-headers")


def cors_of(h):
    return {k: v for k, v in h.items() if k in CORS_FIELDS}


def body(t, ctx):
    up = upstream.Server(("127.0.0.1", 0), "up").start()
    L = wt.free_port()
    A, O, S = fqdn("api"), fqdn("open"), fqdn("strict")
    cfg = Config()
    ca = cfg.cluster(A, L, [("127.0.0.1", up.server_address[1])])
    co = cfg.cluster(O, L, [("127.0.0.1", up.server_address[1])])
    cs = cfg.cluster(S, L, [("127.0.0.1", up.server_address[1])])
    cfg.service(A, L, http=[
        {"name": "direct", "match": [{"uri": {"exact": "/direct"}}],
         "corsPolicy": {"allowOrigins": [{"exact": "https://app.example"}]},
         "directResponse": {"status": 418, "body": "teapot\n"}},
        {"name": "api", "route": [{"cluster": ca, "weight": 100}],
         "corsPolicy": {
             "allowOrigins": [{"exact": "https://app.example"}, {"prefix": "https://dev."},
                              {"regex": "https://[a-z]+\\.corp\\.example"}],
             "allowMethods": ["GET", "POST", "PUT"],
             "allowHeaders": ["content-type", "x-token"],
             "exposeHeaders": ["x-request-id", "x-total"],
             "maxAgeMs": 86400000,
             "allowCredentials": True}},
    ])
    cfg.service(O, L, http=[
        {"name": "open", "route": [{"cluster": co, "weight": 100}],
         "corsPolicy": {"allowOrigins": [{"exact": "*"}], "allowMethods": ["GET"]}},
    ])
    cfg.service(S, L, http=[
        {"name": "strict", "route": [{"cluster": cs, "weight": 100}],
         "corsPolicy": {"allowOrigins": [{"exact": "https://app.example"}],
                        "allowMethods": ["GET"], "unmatchedPreflights": "ignore"}},
    ])
    path = os.path.join(ctx["dir"], "config.json")
    cfg.write(path)
    p = Proxy(ctx["binary"], ctx["dir"], path, outbound=["127.0.0.1:%d" % L], workers=1)
    ctx["proxies"].append(p)
    p.start()
    base = "http://127.0.0.1:%d" % L

    def req(host, path="/x", method="GET", *headers):
        args = ["-X", method, "-H", "Host: " + host]
        for hd in headers:
            args += ["-H", hd]
        return curl(base + path, *args)

    def preflight(host, origin, path="/x", *extra):
        return req(host, path, "OPTIONS", "Origin: " + origin,
                   "Access-Control-Request-Method: POST", *extra)

    # ---- preflight from an allowed origin: answered by the proxy -------------------
    before = up.counters.requests
    st, h, b = preflight("api", "https://app.example", "/x", "Access-Control-Request-Headers: x-token")
    t.ok(st == 204 and b == b"", "allowed preflight: 204 from the proxy, no body", (st, h, b))
    t.ok(cors_of(h) == {
        "access-control-allow-origin": "https://app.example",
        "access-control-allow-methods": "GET,POST,PUT",
        "access-control-allow-headers": "content-type,x-token",
        "access-control-max-age": "86400",
        "access-control-allow-credentials": "true"}, "allowed preflight: exact CORS fields", h)
    t.ok(up.counters.requests == before, "allowed preflight is not forwarded upstream",
         up.counters.requests - before)
    for origin in ("https://dev.shop.example", "https://billing.corp.example"):
        st, h, b = preflight("api", origin)
        t.ok(st == 204 and h.get("access-control-allow-origin") == origin,
             "preflight from %s (prefix/regex origin match) answered" % origin, (st, h))
    t.ok(up.counters.requests == before, "no preflight so far reached the upstream")

    # ---- actual requests --------------------------------------------------------------
    st, h, b = req("api", "/x", "GET", "Origin: https://app.example")
    j = json.loads(b) if st == 200 else {}
    t.ok(st == 200 and j.get("server") == "up", "actual request from an allowed origin forwarded",
         (st, b[:200]))
    t.ok(cors_of(h) == {"access-control-allow-origin": "https://app.example",
                        "access-control-expose-headers": "x-request-id,x-total",
                        "access-control-allow-credentials": "true"},
         "actual response: allow-origin, expose-headers, allow-credentials exactly", h)
    t.ok(j.get("headers", {}).get("origin") == "https://app.example",
         "the Origin field reaches the upstream", j.get("headers"))
    st, h, b = req("api", "/x", "POST", "Origin: https://evil.example")
    t.ok(st == 200 and cors_of(h) == {}, "actual request from another origin: no CORS fields",
         (st, h))
    st, h, b = req("api", "/x", "GET")
    t.ok(st == 200 and cors_of(h) == {}, "request without Origin: no CORS fields", (st, h))
    st, h, b = req("api", "/x", "OPTIONS", "Origin: https://app.example")
    t.ok(st == 200 and json.loads(b).get("method") == "OPTIONS" and
         h.get("access-control-allow-origin") == "https://app.example" and
         "access-control-allow-methods" not in h,
         "OPTIONS without Access-Control-Request-Method is not a preflight: forwarded", (st, h))

    # ---- unmatched preflights -----------------------------------------------------------
    before = up.counters.requests
    st, h, b = preflight("api", "https://evil.example")
    j = json.loads(b) if st == 200 else {}
    t.ok(st == 200 and j.get("method") == "OPTIONS" and up.counters.requests == before + 1,
         "unmatched preflight forwarded upstream (unmatchedPreflights: forward)", (st, b[:200]))
    t.ok(cors_of(h) == {}, "forwarded unmatched preflight: no CORS fields", h)
    before = up.counters.requests
    st, h, b = preflight("strict", "https://evil.example")
    t.ok(st == 204 and cors_of(h) == {} and up.counters.requests == before,
         "unmatched preflight answered 204 without CORS fields, not forwarded (ignore)",
         (st, h, up.counters.requests - before))
    st, h, b = preflight("strict", "https://app.example")
    t.ok(st == 204 and cors_of(h) == {"access-control-allow-origin": "https://app.example",
                                      "access-control-allow-methods": "GET"},
         "allowed preflight with no max age nor credentials: only those fields", h)

    # ---- "*" allows any origin, echoed ------------------------------------------------------
    st, h, b = preflight("open", "https://anything.example")
    t.ok(st == 204 and cors_of(h) == {"access-control-allow-origin": "https://anything.example",
                                      "access-control-allow-methods": "GET"},
         "allowOrigins \"*\": any origin's preflight answered, the origin echoed", h)
    st, h, b = req("open", "/x", "GET", "Origin: http://other.example")
    t.ok(st == 200 and cors_of(h) == {"access-control-allow-origin": "http://other.example"},
         "allowOrigins \"*\": actual response echoes the origin", h)

    # ---- proxy-made answers and HTTP/2 ----------------------------------------------------
    st, h, b = req("api", "/direct", "GET", "Origin: https://app.example")
    t.ok(st == 418 and b == b"teapot\n" and
         cors_of(h) == {"access-control-allow-origin": "https://app.example"},
         "a direct response carries the CORS fields of its route", (st, h, b))
    st, h, b = curl(base + "/x", "--http2-prior-knowledge", "-X", "OPTIONS", "-H", "Host: api",
                    "-H", "Origin: https://app.example", "-H", "Access-Control-Request-Method: PUT")
    t.ok(st == 204 and h.get("access-control-allow-methods") == "GET,POST,PUT" and
         h.get("access-control-max-age") == "86400", "HTTP/2 preflight answered the same way",
         (st, h))

    lines = [x for x in p.access_lines() if x.get("method") == "OPTIONS"]
    t.ok(any(x.get("response_code") == 204 for x in lines),
         "answered preflights are in the access log", lines[:2])


if __name__ == "__main__":
    wt.main(body)
