#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing, builds
# with warnings as errors under AddressSanitizer + UndefinedBehaviorSanitizer,
# checks formatting, runs the unit, component and CLI tests (CTest), a bounded
# fuzz run of every fuzz target, and the local Kubernetes control-plane tests.
#
#   FUZZ_SECONDS=N        seconds per fuzz target (default 30)
#   WEIR_SKIP_CLUSTER=1   skip the control-plane tests (for a quick local loop)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${WEIR_TEST_BUILD:-$root/build-test}
cd "$root"

step() { printf '\n==> %s\n' "$*"; }
start=$(date +%s)

step "installing packages"
bash scripts/install-deps.sh

step "building (Werror, ASan+UBSan)"
cmake -S . -B "$build" -G Ninja -DWEIR_WERROR=ON -DWEIR_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" -j2

step "checking formatting"
bash scripts/check-format.sh

step "unit, component and CLI tests"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" --output-on-failure -j2

step "fuzzing (bounded)"
bash scripts/fuzz-smoke.sh

if [ "${WEIR_SKIP_CLUSTER:-0}" != 1 ]; then
    step "local Kubernetes control plane"
    WEIR_BUILD="$build" bash e2e/run.sh
fi

step "all tests passed in $(( $(date +%s) - start )) s"
