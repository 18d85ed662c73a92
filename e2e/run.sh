#!/usr/bin/env bash
# Runs the end-to-end suites against a local control plane built from the
# Kubernetes Go modules (e2e/cluster): brings it up, runs the cluster smoke
# test and then every e2e/tests/*.sh suite, and always takes it down again.
# Every suite runs even when an earlier one failed, so one run shows all.
#
#   WEIR_BUILD   the CMake build folder with weirctl, weir-webhook, ... (the
#                suites that need Weir's binaries read it)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
export WEIR_BUILD=${WEIR_BUILD:-$here/../build-test}
export WEIR_BUILD_DIR=$WEIR_BUILD
# This run owns the cluster it starts, so suites may disrupt it (kube-client
# freezes the API server to prove the client resumes).
export WEIR_E2E_ALLOW_DISRUPT=${WEIR_E2E_ALLOW_DISRUPT:-1}
export WEIR_WEBHOOK_BIN=${WEIR_WEBHOOK_BIN:-$WEIR_BUILD/webhook/weir-webhook}

"$here/cluster/up" || exit 1
trap '"$here/cluster/down"' EXIT

passed=0
failed=0
failures=()
run_suite() {
    local name=$1
    shift
    local t0=$(date +%s)
    echo "--- e2e: $name"
    if "$@"; then
        passed=$((passed + 1))
        echo "--- e2e: $name ok ($(( $(date +%s) - t0 )) s)"
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "--- e2e: $name FAILED ($(( $(date +%s) - t0 )) s)"
    fi
}

run_suite cluster-smoke "$here/cluster/smoke-test"
for suite in "$here"/tests/*.sh; do
    [ -e "$suite" ] || continue
    run_suite "$(basename "$suite" .sh)" bash "$suite"
done

if [ "$failed" -gt 0 ]; then
    echo "e2e: failed suites: ${failures[*]}"
fi
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
