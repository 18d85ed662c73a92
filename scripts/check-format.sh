#!/usr/bin/env bash
# Fails when a tracked C/C++ source differs from .clang-format; prints only
# the offending places. `cmake --build build --target format` fixes them.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h' '*.cc' ':!:e2e/cluster/build/**')
if [ "${#files[@]}" -eq 0 ]; then
    echo "check-format: no sources found" >&2
    exit 1
fi
if ! clang-format --dry-run --Werror "${files[@]}" 2>"${TMPDIR:-/tmp}/weir-format.$$"; then
    grep -E '^[^ ].*: error:' "${TMPDIR:-/tmp}/weir-format.$$" | sed 's/ \[-Wclang-format-violations\]//' >&2
    rm -f "${TMPDIR:-/tmp}/weir-format.$$"
    echo "check-format: run 'cmake --build <build> --target format' to fix" >&2
    exit 1
fi
rm -f "${TMPDIR:-/tmp}/weir-format.$$"
echo "check-format: ${#files[@]} files formatted"
