#!/usr/bin/env bash
# Installs every Debian package Weir needs to build, test, run the local
# cluster and benchmark. Idempotent and quiet when everything is present.
set -euo pipefail

packages=(
    # build
    build-essential cmake ninja-build pkg-config git
    libyaml-dev libjansson-dev libcurl4-openssl-dev libssl-dev
    libmicrohttpd-dev libevent-dev libnghttp2-dev libhttp-parser-dev libpcre2-dev
    # tests, sanitizers, fuzzing, formatting
    check libsubunit-dev clang clang-format libclang-rt-14-dev llvm
    # real peers and plumbing for component and cluster tests
    curl openssl iproute2 iptables procps psmisc python3 python3-jsonschema jq
    # benchmarks
    nginx haproxy wrk nghttp2-client
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
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
