#!/usr/bin/env bash
# Weir's main job, as far as it exists today: build Weir, check the example
# mesh configuration the way the mesh will (and show what a mistake looks
# like), then start a real local Kubernetes control plane (kube-apiserver,
# etcd, kube-controller-manager built from the Kubernetes Go modules) and leave
# it running for you to use. Stop it with e2e/cluster/down.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${WEIR_BUILD:-$root/build}
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

step "installing packages"
bash scripts/install-deps.sh

step "building Weir"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEIR_TESTS=OFF >/dev/null
cmake --build "$build" -j2 >/dev/null
weirctl="$build/cli/weirctl"

step "weirctl validate -f examples/bookinfo"
"$weirctl" validate -f examples/bookinfo

step "weirctl validate -f examples/mistakes (expected to fail)"
if "$weirctl" validate -f examples/mistakes; then
    echo "demo: the broken example was accepted; that is a bug" >&2
    exit 1
fi

step "starting the local Kubernetes control plane"
bash e2e/cluster/up
# shellcheck source=/dev/null
source e2e/cluster/env.sh
"$KUBECTL" version
"$KUBECTL" get namespaces

cat <<EOT

The control plane is running. Use it with:
  source e2e/cluster/env.sh && kubectl get all -A
Stop it with:
  e2e/cluster/down
EOT
