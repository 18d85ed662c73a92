#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a
# bounded time, seeded from the test manifests. Any crash, leak or sanitizer
# report fails the run and leaves the reproducer in the build folder.
#   FUZZ_SECONDS  seconds per target (default 30)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${WEIR_FUZZ_BUILD:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-30}

if ! CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DWEIR_FUZZ=ON -DWEIR_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build.configure.log" 2>&1; then
    cat "$build.configure.log" >&2
    exit 1
fi
if ! cmake --build "$build" -j2 >"$build.build.log" 2>&1; then
    grep -E 'error|FAILED' "$build.build.log" >&2 || tail -40 "$build.build.log" >&2
    exit 1
fi

declare -A seeds=(
    [fuzz_yaml_model]="$root/lib/tests/manifests"
    [fuzz_proxy_config]="$root/docs/examples"
    [fuzz_admission]="$root/webhook/tests/data"
    [fuzz_kube_watch]="$root/lib/tests/kube"
)

failed=0
passed=0
for bin in "$build"/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    corpus="$build/corpus/$name"
    mkdir -p "$corpus"
    seed_dir=${seeds[$name]:-}
    if [ -n "$seed_dir" ] && [ -d "$seed_dir" ]; then
        # Seeds are named after their path so valid/x.yaml and invalid/x.yaml
        # do not overwrite each other.
        while IFS= read -r seed; do
            rel=${seed#"$seed_dir"/}
            cp "$seed" "$corpus/seed-${rel//\//_}"
        done < <(find "$seed_dir" -type f \( -name '*.yaml' -o -name '*.json' \))
    fi
    log="$build/$name.log"
    if (cd "$build" && "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
            -print_final_stats=1 "$corpus" >"$log" 2>&1); then
        runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
        echo "fuzz: $name ok ($runs runs in ${seconds}s)"
        passed=$((passed + 1))
    else
        echo "fuzz: $name FAILED; log: $log" >&2
        tail -40 "$log" >&2
        failed=$((failed + 1))
    fi
done
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
    echo "fuzz: no fuzz targets were built" >&2
    exit 1
fi
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
