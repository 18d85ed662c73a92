#!/usr/bin/env bash
# The operator scale benchmark in one command: writes the cluster state with
# gen.py (kept between runs), builds translate_bench in a Release tree, runs it,
# prints its table and writes bench/results/operator-scale-<time>.csv.
#
# Usage: bench/operator-scale/run.sh [gen.py options] [translate_bench options]
#   gen.py:          --namespaces N (1000) --services-per-ns N (10)
#                    --vs-per-ns N (2) --dr-per-ns N (2)
#   translate_bench: --full-runs N (3) --incr-runs N (10) --impact-runs N (3)
# Environment: WEIR_BENCH_BUILD   build tree (default <repo>/build-scale, made
#                                 with CMAKE_BUILD_TYPE=Release when missing)
#              WEIR_BENCH_STATE   folder for generated states (default /tmp)
#              WEIR_BENCH_JOBS    build parallelism (default 2)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${WEIR_BENCH_BUILD:-$root/build-scale}
state_dir=${WEIR_BENCH_STATE:-/tmp}
jobs=${WEIR_BENCH_JOBS:-2}

gen_args=()
bench_args=()
while (($#)); do
	case $1 in
	--namespaces | --services-per-ns | --vs-per-ns | --dr-per-ns | --visibility | --shared-namespaces)
		(($# >= 2)) || { echo "run.sh: $1 needs a value" >&2; exit 2; }
		gen_args+=("$1" "$2")
		shift 2
		;;
	--full-runs | --incr-runs | --impact-runs)
		(($# >= 2)) || { echo "run.sh: $1 needs a value" >&2; exit 2; }
		bench_args+=("$1" "$2")
		shift 2
		;;
	-h | --help)
		sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "run.sh: unknown option $1 (see --help)" >&2
		exit 2
		;;
	esac
done

# ---- the state: generated once per size and generator version ----
key=$( (cat "$here/gen.py"; echo "${gen_args[*]:-}") | sha256sum | cut -c1-12)
state=$state_dir/weir-operator-scale-$key.yaml
if [[ ! -s $state ]]; then
	echo "generating the cluster state (${gen_args[*]:-default size}) into $state"
	python3 "$here/gen.py" "${gen_args[@]}" -o "$state.tmp"
	mv "$state.tmp" "$state"
fi

# ---- the program: a Release build of libweir and translate_bench ----
if [[ ! -f $build/build.ninja ]]; then
	cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
if ninja -C "$build" -t targets all 2>/dev/null | grep -q '^translate_bench:'; then
	ninja -C "$build" -j"$jobs" translate_bench >/dev/null
	prog=$build/bench/operator-scale/translate_bench
else
	# the top-level CMakeLists.txt does not add bench/operator-scale yet:
	# link against the tree's libweir by hand, with the flags it uses
	ninja -C "$build" -j"$jobs" weir >/dev/null
	mkdir -p "$build/bench/operator-scale"
	prog=$build/bench/operator-scale/translate_bench
	# shellcheck disable=SC2046 # pkg-config prints several words on purpose
	cc -std=c11 -O2 -DNDEBUG -D_POSIX_C_SOURCE=200809L -I"$root/lib" \
		-o "$prog" "$here/translate_bench.c" "$build/lib/libweir.a" \
		$(pkg-config --cflags --libs jansson yaml-0.1 re2 libcurl libcrypto) \
		-lstdc++ -lm
fi

# ---- run ----
mkdir -p "$root/bench/results"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
csv=$root/bench/results/operator-scale-$stamp.csv
tmp_csv=$(mktemp)
trap 'rm -f "$tmp_csv"' EXIT
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD -- lib 2>/dev/null || commit="$commit+dirty"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//; s/,/ /g')

echo "translate_bench on $(nproc) cores ($cpu), build $build, commit $commit"
"$prog" "$state" "${bench_args[@]}" --csv "$tmp_csv"
{
	echo "time,commit,cpu,cores,$(head -1 "$tmp_csv")"
	echo "$stamp,$commit,$cpu,$(nproc),$(tail -1 "$tmp_csv")"
} >"$csv"
echo
echo "wrote $csv"
