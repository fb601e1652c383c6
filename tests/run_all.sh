#!/bin/bash
# Runs the unit-test binaries given as arguments, then every tests/cli/*.sh
# script (which use $QVL_BIN); with --only first, just the given programs. Prints one line per test, plus the lines a
# passing test printed starting with "SKIP" (checks it could not run here,
# e.g. AVX-512 kernels on an AVX2 CPU), so nothing is skipped silently; exits
# non-zero if any failed, after running them all.
set -u
cd "$(dirname "$0")/.."
# The quantize-on-load cache of the tests' throwaway models goes to a
# temporary folder, not the user's ~/.cache/qvl.
export QVL_CACHE_DIR=$(mktemp -d)
trap 'rm -rf "$QVL_CACHE_DIR"' EXIT
scripts=(tests/cli/*.sh)
if [ "${1:-}" = --only ]; then shift; scripts=(); fi
# Under ASan: leaks that system libraries make once per process are not ours (tests/lsan.supp).
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
fail=0; n=0
for t in "$@" "${scripts[@]}"; do
    [ -e "$t" ] || continue
    n=$((n+1))
    start=$(date +%s.%N)
    if out=$("$t" 2>&1); then
        printf 'PASS %-40s %6.2fs\n' "$(basename "$t")" "$(echo "$(date +%s.%N) - $start" | bc)"
        grep '^SKIP' <<< "$out" | sed 's/^/     /'
    else
        fail=$((fail+1))
        # the output's end, then the name (a long output must not push it off)
        printf '%s\n' "$out" | tail -n 60
        printf 'FAIL %s\n' "$(basename "$t")"
    fi
done
echo "$((n-fail))/$n test programs passed ($QVL_BIN)"
[ $fail -eq 0 ]
