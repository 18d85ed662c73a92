#!/usr/bin/env bash
# weir-init against the real kernel: two throwaway network namespaces, a "pod"
# and a "peer", joined by a veth pair with addresses that exist only inside
# them. weir-init writes its rules in the pod; stand-in listeners on the
# capture ports report the ORIGINAL destination (SO_ORIGINAL_DST) of what
# reaches them, so each check says where a connection really went.
#
# usage: test_netns.sh WEIR_INIT SCRIPT_DIR     (as root; fails, never skips, otherwise)
set -uo pipefail

weir_init=${1:?usage: test_netns.sh WEIR_INIT SCRIPT_DIR}
scripts=${2:?usage: test_netns.sh WEIR_INIT SCRIPT_DIR}

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
    for line in "$@"; do echo "#   $line"; done
}
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}

if [ "$(id -u)" -ne 0 ]; then
    not_ok "running as root (network namespaces and iptables need it; CI runs as root)"
    finish
fi
for tool in ip iptables-save ip6tables-save setpriv timeout; do
    if ! command -v "$tool" >/dev/null; then
        not_ok "required tool $tool is installed"
        finish
    fi
done
# The clients also run as the proxy's uid, which cannot read a per-user
# Python install: prefer the system interpreter.
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
if [ -z "$py" ]; then
    not_ok "python3 is installed"
    finish
fi

pod=weir-t-$$-pod
peer=weir-t-$$-peer
veth_pod=wt$$p
veth_peer=wt$$q
pod_ip=192.168.213.2
peer_ip=192.168.213.1
pod_ip6=fd00:213::2
peer_ip6=fd00:213::1
tmp=$(mktemp -d)
pids=()

cleanup() {
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

# The client and server in a directory every uid can read: the client also
# runs as the proxy uid.
chmod 755 "$tmp"
cp "$scripts/origdst_server.py" "$scripts/origdst_client.py" "$tmp/"
chmod 644 "$tmp"/*.py

in_pod() { ip netns exec "$pod" "$@"; }
in_peer() { ip netns exec "$peer" "$@"; }

setup() {
    # The pair is born inside the namespaces: the host's own stack never sees it.
    ip netns add "$pod" && ip netns add "$peer" &&
        ip -n "$pod" link add "$veth_pod" type veth peer name "$veth_peer" netns "$peer" &&
        in_pod ip link set lo up && in_peer ip link set lo up &&
        in_pod ip addr add "$pod_ip/24" dev "$veth_pod" &&
        in_peer ip addr add "$peer_ip/24" dev "$veth_peer" &&
        in_pod ip link set "$veth_pod" up && in_peer ip link set "$veth_peer" up
}

start_server() { # start_server NETNS NAME PORT=LABEL...
    local ns=$1 name=$2
    shift 2
    ip netns exec "$ns" "$py" "$tmp/origdst_server.py" "$tmp/$name.ready" "$@" \
        >"$tmp/$name.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do
        [ -e "$tmp/$name.ready" ] && return 0
        sleep 0.05
    done
    echo "# server $name did not start:" && sed 's/^/#   /' "$tmp/$name.log"
    return 1
}

if ! setup; then
    not_ok "create namespaces $pod and $peer with a veth pair"
    finish
fi
ok "create namespaces $pod and $peer with a veth pair"

# The pod's "proxy" (capture ports) and "app" (8080, 8081); the peer's services.
if start_server "$pod" pod 15001=proxy-out 15006=proxy-in 8080=app 8081=app &&
    start_server "$peer" peer 8080=peer 9090=peer; then
    ok "listeners started in both namespaces"
else
    not_ok "listeners started in both namespaces"
    finish
fi

# connect NETNS [setpriv options --] HOST PORT [SOURCE]: prints the server's line.
connect() {
    local ns=$1
    shift
    local prefix=()
    if [ "$1" = as ]; then
        prefix=(setpriv --reuid "$2" --regid "$3" --clear-groups)
        shift 3
    fi
    ip netns exec "$ns" timeout 10 "${prefix[@]}" "$py" "$tmp/origdst_client.py" "$@" 2>&1
}

expect_connect() { # expect_connect DESCRIPTION WANT connect-args...
    local desc=$1 want=$2
    shift 2
    local got
    got=$(connect "$@")
    if [ "$got" = "$want" ]; then
        ok "$desc"
    else
        not_ok "$desc" "want: $want" "got:  $got"
    fi
}

nat_state() { # the nat table without timestamps and counters
    ip netns exec "$pod" "${1:-iptables}-save" -t nat | grep -v '^#' |
        sed -e 's/\[[0-9]*:[0-9]*\]//'
}

run_init() { # run_init ARGS...: weir-init in the pod, output in $tmp/init.out
    in_pod "$weir_init" "$@" >"$tmp/init.out" 2>&1
}

# ---- validation: bad values are usage errors that name the flag ----------------
run_init --exclude-inbound-ports 80,http
rc=$?
if [ $rc -eq 2 ] && grep -qF -- '--exclude-inbound-ports: "http" is not a port number' "$tmp/init.out"; then
    ok "bad port: exit 2 naming the flag and value"
else
    not_ok "bad port: exit 2 naming the flag and value" "rc=$rc" "$(cat "$tmp/init.out")"
fi
WEIR_PROXY_UID=root in_pod "$weir_init" >"$tmp/init.out" 2>&1
rc=$?
if [ $rc -eq 2 ] && grep -qF -- '--proxy-uid: "root" is not a number (from WEIR_PROXY_UID)' "$tmp/init.out"; then
    ok "bad uid from the environment: exit 2 naming the variable"
else
    not_ok "bad uid from the environment: exit 2 naming the variable" "rc=$rc" "$(cat "$tmp/init.out")"
fi
if [ -z "$(nat_state | grep WEIR_)" ]; then
    ok "a usage error changes nothing"
else
    not_ok "a usage error changes nothing" "$(nat_state)"
fi

# ---- (h) no capability: exit 1 with the message, nothing changed ----------------
in_pod setpriv --inh-caps=-all --bounding-set=-net_admin,-net_raw "$weir_init" \
    >"$tmp/init.out" 2>&1
rc=$?
cap_msg='weir-init: cannot change iptables rules: CAP_NET_ADMIN is required (run as root with NET_ADMIN and NET_RAW)'
if [ $rc -eq 1 ] && grep -qF -- "$cap_msg" "$tmp/init.out"; then
    ok "without CAP_NET_ADMIN: exit 1 with a clear message"
else
    not_ok "without CAP_NET_ADMIN: exit 1 with a clear message" "rc=$rc" "$(cat "$tmp/init.out")"
fi
if [ -z "$(nat_state | grep WEIR_)" ]; then
    ok "without CAP_NET_ADMIN: nothing changed"
else
    not_ok "without CAP_NET_ADMIN: nothing changed" "$(nat_state)"
fi

# ---- (g) --dry-run prints the rules and changes nothing, capability or not ------------
before=$(nat_state)
in_pod setpriv --inh-caps=-all --bounding-set=-net_admin,-net_raw "$weir_init" --dry-run \
    --exclude-outbound-ports 9090 >"$tmp/dry.out" 2>"$tmp/dry.err"
rc=$?
if [ $rc -eq 0 ] && grep -qx '\*nat' "$tmp/dry.out" && grep -qx 'COMMIT' "$tmp/dry.out" &&
    grep -qx -- '-A WEIR_OUTPUT -j WEIR_REDIRECT' "$tmp/dry.out" &&
    grep -qx -- '-A WEIR_OUTPUT -p tcp --dport 9090 -j RETURN' "$tmp/dry.out" &&
    grep -qx -- '-A WEIR_REDIRECT -p tcp -j REDIRECT --to-ports 15001' "$tmp/dry.out"; then
    ok "--dry-run prints the iptables-restore input"
else
    not_ok "--dry-run prints the iptables-restore input" "rc=$rc" "$(cat "$tmp/dry.out" "$tmp/dry.err")"
fi
if [ "$(nat_state)" = "$before" ]; then
    ok "--dry-run changes nothing"
else
    not_ok "--dry-run changes nothing" "$(nat_state)"
fi
# What it prints is exactly what iptables-restore accepts.
if grep -v '^#' "$tmp/dry.out" | in_pod iptables-restore --test --noflush 2>"$tmp/dry.err"; then
    ok "--dry-run output is valid iptables-restore input"
else
    not_ok "--dry-run output is valid iptables-restore input" "$(cat "$tmp/dry.err")"
fi

# ---- apply --------------------------------------------------------------------------------
init_args=(--exclude-outbound-ports 9090 --exclude-inbound-ports 8081)
if run_init "${init_args[@]}"; then
    ok "weir-init applies the rules (exit 0)"
else
    not_ok "weir-init applies the rules (exit 0)" "$(cat "$tmp/init.out")"
fi
for chain in WEIR_INBOUND WEIR_IN_REDIRECT WEIR_OUTPUT WEIR_REDIRECT; do
    if in_pod iptables -t nat -S "$chain" >/dev/null 2>&1; then
        ok "chain $chain exists"
    else
        not_ok "chain $chain exists"
    fi
done
if [ -z "$(nat_state ip6tables | grep WEIR_)" ]; then
    ok "no IPv6 rules for a pod without an IPv6 address (--ipv6 auto)"
else
    not_ok "no IPv6 rules for a pod without an IPv6 address (--ipv6 auto)" "$(nat_state ip6tables)"
fi

# (a) the app's outbound connection lands on 15001 with its original destination.
expect_connect "outbound from the app is captured on 15001 with the original destination" \
    "proxy-out port=15001 orig=$peer_ip:8080" "$pod" "$peer_ip" 8080
# (b) the proxy's own upstream connection is not captured again: no loop.
expect_connect "outbound from uid 1337 reaches the peer directly" \
    "peer port=8080 orig=$peer_ip:8080" "$pod" as 1337 1337 "$peer_ip" 8080
expect_connect "outbound from gid 1337 (another uid) reaches the peer directly" \
    "peer port=8080 orig=$peer_ip:8080" "$pod" as 4242 1337 "$peer_ip" 8080
# (c) an excluded outbound port bypasses capture.
expect_connect "outbound to an excluded port (9090) bypasses capture" \
    "peer port=9090 orig=$peer_ip:9090" "$pod" "$peer_ip" 9090
# The app talking to itself stays on loopback.
expect_connect "app to 127.0.0.1 is not captured" \
    "app port=8080 orig=127.0.0.1:8080" "$pod" 127.0.0.1 8080
expect_connect "app to its own pod IP is not captured" \
    "app port=8080 orig=$pod_ip:8080" "$pod" "$pod_ip" 8080
# The proxy reaching its own pod IP is inbound traffic for this pod.
expect_connect "proxy to its own pod IP goes to the inbound listener" \
    "proxy-in port=15006 orig=$pod_ip:8080" "$pod" as 1337 1337 "$pod_ip" 8080
# Inbound passthrough: the proxy's connection from 127.0.0.6 reaches the app as is.
expect_connect "proxy from 127.0.0.6 to the app is passed through" \
    "app port=8080 orig=$pod_ip:8080" "$pod" as 1337 1337 "$pod_ip" 8080 127.0.0.6
# (d) inbound.
expect_connect "inbound to pod:8080 is captured on 15006 with the original destination" \
    "proxy-in port=15006 orig=$pod_ip:8080" "$peer" "$pod_ip" 8080
expect_connect "inbound to an excluded port (8081) reaches the app" \
    "app port=8081 orig=$pod_ip:8081" "$peer" "$pod_ip" 8081
expect_connect "inbound to the outbound capture port is not redirected" \
    "proxy-out port=15001 orig=$pod_ip:15001" "$peer" "$pod_ip" 15001

# ---- (e) idempotent ------------------------------------------------------------------------
first=$(nat_state)
if run_init "${init_args[@]}" && [ "$(nat_state)" = "$first" ]; then
    ok "re-running weir-init leaves iptables-save -t nat identical"
else
    not_ok "re-running weir-init leaves iptables-save -t nat identical" \
        "$(diff <(echo "$first") <(nat_state))" "$(cat "$tmp/init.out")"
fi
hooks=$(nat_state | grep -c -- '-j WEIR_OUTPUT$')
if [ "$hooks" -eq 1 ]; then
    ok "exactly one OUTPUT jump into WEIR_OUTPUT after two runs"
else
    not_ok "exactly one OUTPUT jump into WEIR_OUTPUT after two runs" "found $hooks"
fi

# Re-running with other options replaces the rules.
if run_init --include-outbound-ranges 10.77.0.0/16 --include-inbound-ports ''; then
    expect_connect "outbound outside --include-outbound-ranges is not captured" \
        "peer port=8080 orig=$peer_ip:8080" "$pod" "$peer_ip" 8080
    expect_connect "--include-inbound-ports '' captures no inbound traffic" \
        "app port=8080 orig=$pod_ip:8080" "$peer" "$pod_ip" 8080
else
    not_ok "weir-init with other options" "$(cat "$tmp/init.out")"
fi
if run_init --include-outbound-ranges "$peer_ip/32,fd00:213::/64" --include-inbound-ports 8081 \
    --log-format json; then
    expect_connect "outbound inside --include-outbound-ranges is captured" \
        "proxy-out port=15001 orig=$peer_ip:8080" "$pod" "$peer_ip" 8080
    expect_connect "an inbound port outside --include-inbound-ports reaches the app" \
        "app port=8080 orig=$pod_ip:8080" "$peer" "$pod_ip" 8080
    expect_connect "an inbound port in --include-inbound-ports is captured" \
        "proxy-in port=15006 orig=$pod_ip:8081" "$peer" "$pod_ip" 8081
    if "$py" -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$tmp/init.out"; then
        ok "--log-format json writes JSON lines"
    else
        not_ok "--log-format json writes JSON lines" "$(cat "$tmp/init.out")"
    fi
else
    not_ok "weir-init with include lists" "$(cat "$tmp/init.out")"
fi
if WEIR_EXCLUDE_OUTBOUND_RANGES="$peer_ip/24" run_init; then
    expect_connect "WEIR_EXCLUDE_OUTBOUND_RANGES from the environment bypasses capture" \
        "peer port=8080 orig=$peer_ip:8080" "$pod" "$peer_ip" 8080
else
    not_ok "weir-init with WEIR_EXCLUDE_OUTBOUND_RANGES" "$(cat "$tmp/init.out")"
fi
if [ "$(nat_state | grep -c -- '-j WEIR_')" -gt 0 ] &&
    [ "$(nat_state | grep -c -- '^-A OUTPUT .*WEIR_OUTPUT')" -eq 1 ] &&
    [ "$(nat_state | grep -c -- '^-A PREROUTING .*WEIR_INBOUND')" -eq 1 ]; then
    ok "after four runs with different options: one jump per hook"
else
    not_ok "after four runs with different options: one jump per hook" "$(nat_state)"
fi

# ---- IPv6: detected from the pod's addresses ------------------------------------------
in_pod ip addr add "$pod_ip6/64" dev "$veth_pod" nodad &&
    in_peer ip addr add "$peer_ip6/64" dev "$veth_peer" nodad
if run_init "${init_args[@]}" && [ -n "$(nat_state ip6tables | grep WEIR_OUTPUT)" ]; then
    ok "--ipv6 auto writes ip6tables rules once the pod has an IPv6 address"
else
    not_ok "--ipv6 auto writes ip6tables rules once the pod has an IPv6 address" \
        "$(cat "$tmp/init.out")" "$(nat_state ip6tables)"
fi
expect_connect "IPv6 outbound is captured on 15001 with the original destination" \
    "proxy-out port=15001 orig=[$peer_ip6]:8080" "$pod" "$peer_ip6" 8080
expect_connect "IPv6 outbound from uid 1337 reaches the peer directly" \
    "peer port=8080 orig=[$peer_ip6]:8080" "$pod" as 1337 1337 "$peer_ip6" 8080
expect_connect "IPv6 inbound is captured on 15006 with the original destination" \
    "proxy-in port=15006 orig=[$pod_ip6]:8080" "$peer" "$pod_ip6" 8080
expect_connect "IPv4 still captured in a dual-stack pod" \
    "proxy-out port=15001 orig=$peer_ip:8080" "$pod" "$peer_ip" 8080
first6=$(nat_state ip6tables)
if run_init "${init_args[@]}" && [ "$(nat_state ip6tables)" = "$first6" ]; then
    ok "re-running leaves ip6tables-save -t nat identical"
else
    not_ok "re-running leaves ip6tables-save -t nat identical" \
        "$(diff <(echo "$first6") <(nat_state ip6tables))"
fi
if run_init --ipv6 off --cleanup && [ -n "$(nat_state ip6tables | grep WEIR_)" ] &&
    run_init --ipv6 on; then
    ok "--ipv6 off leaves ip6tables alone; --ipv6 on writes it"
else
    not_ok "--ipv6 off leaves ip6tables alone; --ipv6 on writes it" "$(cat "$tmp/init.out")"
fi

# ---- chains and jumps left by something else are replaced, not added to -------------------
in_pod iptables -t nat -N WEIR_OLD &&
    in_pod iptables -t nat -A WEIR_OLD -j WEIR_REDIRECT &&
    in_pod iptables -t nat -A OUTPUT -d 10.9.0.0/16 -j WEIR_OLD &&
    in_pod iptables -t nat -N CNI_TEST &&
    in_pod iptables -t nat -A CNI_TEST -p tcp -j WEIR_REDIRECT &&
    in_pod iptables -t nat -A CNI_TEST -p udp -j RETURN &&
    in_pod iptables -t nat -A OUTPUT -p tcp -j WEIR_OUTPUT
run_init "${init_args[@]}"
rc=$?
# CNI_TEST is someone else's chain: it stays, minus its jump into WEIR_.
if [ $rc -eq 0 ] && [ "$(nat_state | grep -v CNI_TEST)" = "$first" ] &&
    [ "$(nat_state | grep -c -- '-A CNI_TEST -p udp -j RETURN')" -eq 1 ] &&
    [ -z "$(nat_state | grep -e WEIR_OLD -e 'CNI_TEST.*WEIR_')" ]; then
    ok "a re-run removes stale WEIR_ chains, duplicate hooks and foreign jumps into WEIR_"
else
    not_ok "a re-run removes stale WEIR_ chains, duplicate hooks and foreign jumps into WEIR_" \
        "$(diff <(echo "$first") <(nat_state))" "$(cat "$tmp/init.out")"
fi
in_pod iptables -t nat -F CNI_TEST && in_pod iptables -t nat -X CNI_TEST

# ---- how iptables-restore is driven: --noflush, the dry-run text on stdin, no shell -------
fake=$tmp/fake-bin
mkdir -p "$fake"
cat >"$fake/iptables-restore" <<'EOF_FAKE'
#!/bin/sh
printf '%s\n' "$*" >"${0%/*}/args"
cat >"${0%/*}/stdin"
exit 0
EOF_FAKE
chmod 755 "$fake/iptables-restore"
# From a clean table the applied text has no -D lines, so it equals the dry run.
in_pod "$weir_init" --cleanup >/dev/null 2>&1
run_init --dry-run --ipv6 off --exclude-outbound-ports 9090
grep -v '^#' "$tmp/init.out" >"$tmp/dry.txt"
if in_pod env PATH="$fake:$PATH" "$weir_init" --ipv6 off --exclude-outbound-ports 9090 \
    >"$tmp/init.out" 2>&1 && [ "$(cat "$fake/args")" = "--noflush" ] &&
    cmp -s "$fake/stdin" "$tmp/dry.txt"; then
    ok "iptables-restore gets --noflush and exactly the --dry-run text on stdin"
else
    not_ok "iptables-restore gets --noflush and exactly the --dry-run text on stdin" \
        "args: $(cat "$fake/args" 2>/dev/null)" "$(diff "$tmp/dry.txt" "$fake/stdin" 2>&1)"
fi
cat >"$fake/iptables-restore" <<'EOF_FAKE'
#!/bin/sh
cat >/dev/null
echo "iptables-restore: line 7 failed" >&2
exit 1
EOF_FAKE
in_pod env PATH="$fake:$PATH" "$weir_init" --ipv6 off >"$tmp/init.out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -qF 'iptables tool failed' "$tmp/init.out" &&
    grep -qF 'line 7 failed' "$tmp/init.out"; then
    ok "an iptables-restore failure exits 1 and shows its error"
else
    not_ok "an iptables-restore failure exits 1 and shows its error" "rc=$rc" "$(cat "$tmp/init.out")"
fi
run_init "${init_args[@]}"

# ---- (f) cleanup ---------------------------------------------------------------------------
if run_init --cleanup; then
    ok "--cleanup exits 0"
else
    not_ok "--cleanup exits 0" "$(cat "$tmp/init.out")"
fi
if [ -z "$(nat_state | grep WEIR_)" ] && [ -z "$(nat_state ip6tables | grep WEIR_)" ]; then
    ok "--cleanup removes every WEIR_ chain and jump (IPv4 and IPv6)"
else
    not_ok "--cleanup removes every WEIR_ chain and jump (IPv4 and IPv6)" \
        "$(nat_state)" "$(nat_state ip6tables)"
fi
expect_connect "after cleanup the app reaches the peer directly" \
    "peer port=8080 orig=$peer_ip:8080" "$pod" "$peer_ip" 8080
if run_init --cleanup; then
    ok "--cleanup again (nothing there) exits 0"
else
    not_ok "--cleanup again (nothing there) exits 0" "$(cat "$tmp/init.out")"
fi

finish
