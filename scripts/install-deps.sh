#!/usr/bin/env bash
# Installs every Debian package Weir needs to build, test, run the local
# cluster and benchmark. Idempotent and quiet when everything is present.
set -euo pipefail

packages=(
    # build
    build-essential cmake ninja-build pkg-config git
    libyaml-dev libjansson-dev libcurl4-openssl-dev libssl-dev
    libmicrohttpd-dev libevent-dev libnghttp2-dev libhttp-parser-dev libre2-dev libxxhash-dev
    # tests, sanitizers, fuzzing, formatting
    check libsubunit-dev clang clang-format libclang-rt-14-dev llvm
    # real peers and plumbing for component and cluster tests
    curl openssl iproute2 iptables procps psmisc python3 python3-jsonschema python3-yaml jq
    # benchmarks
    nginx haproxy wrk nghttp2-client nghttp2-server python3-grpcio
)

# The local control plane (e2e/cluster) is built with Go >= 1.24 from the Go
# module proxy. Debian bookworm packages only Go 1.19, so the Go toolchain is
# the one this machine kind provides in /usr/local/go.
check_go() {
    local go_bin
    go_bin=$(command -v go || true)
    if [ -z "$go_bin" ] && [ -x /usr/local/go/bin/go ]; then
        go_bin=/usr/local/go/bin/go
    fi
    if [ -z "$go_bin" ]; then
        echo "install-deps: Go >= 1.24 is required to build the local Kubernetes control plane" \
            "(e2e/cluster); install it in /usr/local/go or put it on PATH" >&2
        return 1
    fi
    local version
    version=$("$go_bin" env GOVERSION 2>/dev/null || true)
    version=${version#go}
    local major=${version%%.*} rest=${version#*.}
    local minor=${rest%%.*}
    if [ -z "$major" ] || [ "$major" -lt 1 ] || { [ "$major" -eq 1 ] && [ "${minor:-0}" -lt 24 ]; }; then
        echo "install-deps: Go >= 1.24 is required, found ${version:-unknown} at $go_bin" >&2
        return 1
    fi
}

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    check_go
    exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The benchmark starts nginx and haproxy by hand; the packaged services are not wanted.
for svc in nginx haproxy; do
    if command -v systemctl >/dev/null 2>&1; then
        $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
    fi
    if [ -x "/etc/init.d/$svc" ]; then
        $SUDO "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
    fi
done
check_go
