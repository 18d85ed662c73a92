#!/usr/bin/env bash
# Transparent interception end to end, against the real kernel: a "pod" and a
# "peer" network namespace joined by a veth pair (addresses exist only inside
# them), weir-init's rules in the pod, weir-proxy running there as uid/gid 1337
# on the capture ports 15001/15006, and an application (a normal uid) that
# knows nothing of the proxy:
#
#   outbound: app --curl PEER_IP:8080--> iptables REDIRECT --> weir-proxy:15001
#             (SO_ORIGINAL_DST = PEER_IP:8080, route by address) --> peer upstream
#   inbound:  peer --curl POD_IP:9090--> PREROUTING REDIRECT --> weir-proxy:15006
#             --from 127.0.0.6--> app on 127.0.0.1:9090
#
# usage: test_intercept.sh WEIR_PROXY WEIR_INIT   (as root; fails, never skips, otherwise)
set -uo pipefail

weir_proxy=${1:?usage: test_intercept.sh WEIR_PROXY WEIR_INIT}
weir_init=${2:?usage: test_intercept.sh WEIR_PROXY WEIR_INIT}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

passed=0
failed=0
n=0
ok() {
    n=$((n + 1))
    passed=$((passed + 1))
    echo "ok $n - $1"
}
not_ok() {
    n=$((n + 1))
    failed=$((failed + 1))
    echo "not ok $n - $1"
    shift
    for line in "$@"; do echo "$line" | sed 's/^/#   /'; done
}
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}
has() { grep -qi -- "$1" <<<"$2"; } # has PATTERN TEXT: a line of TEXT matches
check() { # check DESCRIPTION DETAIL COMMAND...: ok when COMMAND succeeds
    local desc=$1 detail=$2
    shift 2
    if "$@"; then ok "$desc"; else not_ok "$desc" "$detail"; fi
}

if [ "$(id -u)" -ne 0 ]; then
    not_ok "running as root (network namespaces and iptables need it; CI runs as root)"
    finish
fi
for tool in ip iptables-save setpriv timeout curl ss ps; do
    if ! command -v "$tool" >/dev/null; then
        not_ok "required tool $tool is installed"
        finish
    fi
done
# Processes also run as uid 1337 and 1000, which cannot read a per-user Python.
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
if [ -z "$py" ]; then
    not_ok "python3 is installed"
    finish
fi

pod=weir-i-$$-pod
peer=weir-i-$$-peer
veth_pod=wi$$p
veth_peer=wi$$q
pod_ip=192.168.214.2
peer_ip=192.168.214.1
app_uid=1000
proxy_uid=1337
host=echo.default.svc.cluster.local
tmp=$(mktemp -d)
pids=()
proxy_pid=

cleanup() {
    [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    ip netns del "$pod" 2>/dev/null
    ip netns del "$peer" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_pod() { ip netns exec "$pod" "$@"; }
in_peer() { ip netns exec "$peer" "$@"; }
as_app() { in_pod setpriv --reuid "$app_uid" --regid "$app_uid" --clear-groups "$@"; }
dump() { for f in "$@"; do echo "--- $f"; tail -n 40 "$f" 2>/dev/null; done; }

# What the proxy and the servers run and read lives in a directory every uid can
# read; what they write goes to a sticky, world-writable one (they run as 1337/1000).
chmod 755 "$tmp"
mkdir -m 755 "$tmp/bin"
mkdir -m 1777 "$tmp/log"
install -m 755 "$weir_proxy" "$tmp/bin/weir-proxy"

# An HTTP server that answers every request with a JSON echo (its name, the
# peer address, the request's headers) and appends "METHOD PATH PEER" to a log,
# so a test can count what really arrived.
cat >"$tmp/bin/server.py" <<'EOF_SERVER'
import http.server, json, sys
name, addr, port, log, ready = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        with open(log, "a") as f:
            f.write("%s %s %s\n" % (self.command, self.path, self.client_address[0]))
        body = json.dumps({"server": name, "path": self.path, "peer": self.client_address[0],
                           "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer((addr, port), H)
open(ready, "w").close()
srv.serve_forever()
EOF_SERVER
chmod 644 "$tmp/bin/server.py"

setup() {
    ip netns add "$pod" && ip netns add "$peer" &&
        ip -n "$pod" link add "$veth_pod" type veth peer name "$veth_peer" netns "$peer" &&
        in_pod ip link set lo up && in_peer ip link set lo up &&
        in_pod ip addr add "$pod_ip/24" dev "$veth_pod" &&
        in_peer ip addr add "$peer_ip/24" dev "$veth_peer" &&
        in_pod ip link set "$veth_pod" up && in_peer ip link set "$veth_peer" up
}

wait_file() { # wait_file PATH: up to 10 s
    for _ in $(seq 1 200); do
        [ -e "$1" ] && return 0
        sleep 0.05
    done
    return 1
}

start_server() { # start_server NETNS NAME ADDR PORT
    local ns=$1 name=$2 addr=$3 port=$4
    : >"$tmp/log/$name.requests"
    chmod 666 "$tmp/log/$name.requests"
    ip netns exec "$ns" setpriv --reuid "$app_uid" --regid "$app_uid" --clear-groups \
        "$py" "$tmp/bin/server.py" "$name" "$addr" "$port" "$tmp/log/$name.requests" \
        "$tmp/log/$name.ready" >"$tmp/log/$name.out" 2>&1 &
    pids+=($!)
    wait_file "$tmp/log/$name.ready" || {
        dump "$tmp/log/$name.out"
        return 1
    }
}

if setup; then
    ok "create namespaces $pod and $peer with a veth pair"
else
    not_ok "create namespaces $pod and $peer with a veth pair"
    finish
fi

# The peer's upstream on PEER_IP:8080; the pod's application on 9090.
if start_server "$peer" upstream "$peer_ip" 8080 && start_server "$pod" app 0.0.0.0 9090; then
    ok "upstream (peer $peer_ip:8080) and app (pod :9090) started"
else
    not_ok "upstream (peer $peer_ip:8080) and app (pod :9090) started"
    finish
fi

# ---- the proxy config: the peer's service by address, a route header, a direct response
"$py" - "$here/component" "$tmp/bin/proxy-config.json" "$host" "$peer_ip" <<'EOF_CONFIG'
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1])
from weirtest import Config
path, host, peer_ip = sys.argv[2], sys.argv[3], sys.argv[4]
cfg = Config()
c = cfg.cluster(host, 8080, [(peer_ip, 8080)])
cfg.service(host, 8080, addresses=[peer_ip], http=[
    {"name": "direct", "match": [{"uri": {"exact": "/direct"}}],
     "directResponse": {"status": 200, "body": "answered by weir-proxy\n"}},
    {"name": "default",
     "headers": {"request": {"set": {"x-weir-route": "default"}},
                 "response": {"set": {"x-weir-route": "default"}}},
     "route": [{"cluster": c, "weight": 100}]},
])
cfg.inbound = {"services": [{"name": "app", "selector": {"app": "app"},
                             "ports": [{"port": 9090, "protocol": "http"}]}]}
cfg.write(path)
EOF_CONFIG
chmod 644 "$tmp/bin/proxy-config.json"
if "$tmp/bin/weir-proxy" --check-config "$tmp/bin/proxy-config.json" >"$tmp/log/check.out" 2>&1; then
    ok "the proxy config is valid (weir-proxy --check-config)"
else
    not_ok "the proxy config is valid (weir-proxy --check-config)" "$(cat "$tmp/log/check.out")"
    finish
fi

# ---- weir-init with its defaults, then the proxy as 1337 on the capture ports
if in_pod "$weir_init" >"$tmp/log/init.out" 2>&1; then
    ok "weir-init applies the default rules in the pod"
else
    not_ok "weir-init applies the default rules in the pod" "$(cat "$tmp/log/init.out")"
    finish
fi

# `ip netns exec` forks: the proxy writes its own pid (sh execs it) for the signals below.
in_pod env ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    setpriv --reuid "$proxy_uid" --regid "$proxy_uid" --clear-groups \
    sh -c 'echo $$ >"$1/proxy.pid" && shift && exec "$@"' sh "$tmp/log" \
    "$tmp/bin/weir-proxy" --config "$tmp/bin/proxy-config.json" --workers 2 \
    --workload-name app --namespace default --pod-labels app=app \
    >"$tmp/log/access.log" 2>"$tmp/log/proxy.stderr" &
pids+=($!)
wait_file "$tmp/log/proxy.pid" && sleep 0.05
proxy_pid=$(cat "$tmp/log/proxy.pid" 2>/dev/null)
ready=0
for _ in $(seq 1 200); do
    if ! kill -0 "$proxy_pid" 2>/dev/null; then break; fi
    if [ "$(in_pod curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
        http://127.0.0.1:15021/healthz/ready)" = 200 ]; then
        ready=1
        break
    fi
    sleep 0.05
done
if [ $ready -eq 1 ]; then
    ok "weir-proxy runs as uid $proxy_uid in the pod and is ready"
else
    not_ok "weir-proxy runs as uid $proxy_uid in the pod and is ready" "$(dump "$tmp/log/proxy.stderr")"
    finish
fi
owner=$(ps -o uid= -p "$proxy_pid" | tr -d ' ')
check "the proxy process runs as uid $proxy_uid (got $owner)" "" [ "$owner" = "$proxy_uid" ]
listening=$(in_pod ss -Htln 2>/dev/null | awk '{print $4}')
listens_on() { for port; do grep -q ":$port\$" <<<"$listening" || return 1; done; }
check "the proxy listens on 15001 and 15006 in the pod" "$listening" \
    listens_on 15001 15006

metric() { # metric LABEL-SUBSTRING...: the sum of istio_requests_total samples with every label
    in_pod curl -s --max-time 5 http://127.0.0.1:15090/stats/prometheus |
        "$py" -c '
import sys
want = sys.argv[1:]
total = 0
for line in sys.stdin:
    if line.startswith("istio_requests_total{") and all(w in line for w in want):
        total += float(line.rsplit(" ", 1)[1])
print(int(total))' "$@"
}
upstream_count() { grep -c . "$tmp/log/upstream.requests"; }

# ---- outbound: the app's curl to PEER_IP:8080 goes through the proxy ----------------
out=$(as_app curl -s -S -i --max-time 10 --noproxy '*' "http://$peer_ip:8080/hello" 2>&1)
body=$(printf '%s' "$out" | tr -d '\r' | sed -n '/^$/,$p' | tail -n +2)
check "outbound: the app's request to $peer_ip:8080 gets 200" "$out" \
    grep -q '^HTTP/1.1 200' <<<"$out"
check "outbound: the route's response header is present (the proxy was in the path)" "$out" \
    grep -qi '^x-weir-route: default' <<<"$out"
peer_seen=$("$py" -c 'import json,sys; j=json.loads(sys.argv[1]); print(j["peer"], j["headers"].get("x-weir-route"), j["headers"].get("host"))' "$body" 2>&1)
check "outbound: the upstream got the route's request header, from the pod ($pod_ip), Host kept" \
    "$peer_seen / $body" [ "$peer_seen" = "$pod_ip default $peer_ip:8080" ]
requests=$(upstream_count)
check "outbound: exactly one request reached the upstream (the proxy's own connection was not re-captured)" \
    "$(cat "$tmp/log/upstream.requests")" [ "$requests" -eq 1 ]

out=$(as_app curl -s -S --max-time 10 --noproxy '*' "http://$peer_ip:8080/direct" 2>&1)
check "outbound: a direct response comes from the proxy" "$out" [ "$out" = "answered by weir-proxy" ]
check "outbound: the direct response did not reach the upstream" \
    "$(cat "$tmp/log/upstream.requests")" [ "$(upstream_count)" -eq 1 ]

for i in 1 2 3 4 5; do
    as_app curl -s -o /dev/null --max-time 10 --noproxy '*' "http://$peer_ip:8080/n$i"
done
check "outbound: five more requests, exactly five more at the upstream (no loop)" \
    "$(cat "$tmp/log/upstream.requests")" [ "$(upstream_count)" -eq 6 ]

sleep 0.3
got=$(metric 'reporter="source"' "destination_service=\"$host\"" 'response_code="200"')
check "outbound: istio_requests_total{reporter=\"source\",destination_service=\"$host\"} counts 7" \
    "got $got; $(in_pod curl -s http://127.0.0.1:15090/stats/prometheus | grep '^istio_requests_total')" \
    [ "$got" = 7 ]
log_line=$(grep -F '"/hello"' "$tmp/log/access.log" | head -n 1)
check "outbound: the access log names the original destination's cluster" "$log_line" \
    grep -qF "outbound|8080||$host" <<<"$log_line"

# Without the proxy in the way, uid 1337 reaches the peer directly: the rules exempt it.
before=$(upstream_count)
out=$(in_pod setpriv --reuid "$proxy_uid" --regid "$proxy_uid" --clear-groups \
    curl -s -S -i --max-time 10 --noproxy '*' "http://$peer_ip:8080/direct" 2>&1)
delta=$(($(upstream_count) - before))
direct_once() { ! has "^x-weir-route" "$out" && [ "$delta" -eq 1 ]; } # not via the proxy, once
check "uid $proxy_uid's own connection to $peer_ip:8080 is not captured (reaches the upstream itself)" \
    "$out" direct_once

# ---- inbound: the peer's curl to POD_IP:9090 is captured on 15006 -------------------
out=$(in_peer curl -s -S --max-time 10 --noproxy '*' "http://$pod_ip:9090/in" 2>&1)
seen=$("$py" -c 'import json,sys; j=json.loads(sys.argv[1]); print(j["server"], j["peer"], j["path"])' "$out" 2>&1)
check "inbound: $peer_ip -> $pod_ip:9090 reaches the app through the proxy, from 127.0.0.6" \
    "$seen / $out" [ "$seen" = "app 127.0.0.6 /in" ]
check "inbound: exactly one request at the app" "$(cat "$tmp/log/app.requests")" \
    [ "$(grep -c . "$tmp/log/app.requests")" -eq 1 ]
sleep 0.3
got=$(metric 'reporter="destination"' 'response_code="200"' 'destination_workload="app"')
check "inbound: istio_requests_total{reporter=\"destination\"} counts 1" \
    "got $got; $(in_pod curl -s http://127.0.0.1:15090/stats/prometheus | grep '^istio_requests_total')" \
    [ "$got" = 1 ]

# ---- shutdown: the proxy drains and exits 0 (no leaks under ASan) ------------------------
kill -TERM "$proxy_pid"
for _ in $(seq 1 200); do
    kill -0 "$proxy_pid" 2>/dev/null || break
    sleep 0.05
done
# The proxy is not this shell's child: its status comes through `ip netns exec`.
wait "${pids[-1]}"
rc=$?
proxy_pid=
check "weir-proxy exits 0 on SIGTERM" "rc=$rc; $(dump "$tmp/log/proxy.stderr")" [ $rc -eq 0 ]

in_pod "$weir_init" --cleanup >"$tmp/log/init.out" 2>&1
before=$(upstream_count)
out=$(as_app curl -s -S -i --max-time 10 --noproxy '*' "http://$peer_ip:8080/after" 2>&1)
delta=$(($(upstream_count) - before))
ok_and_direct() { has "^HTTP/1.1 200" "$out" && direct_once; }
check "after weir-init --cleanup the app reaches the upstream directly" "$out" \
    ok_and_direct

finish
