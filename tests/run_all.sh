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
scripts=(tests/cli/*.sh)
jobs_max=${QVL_TEST_JOBS:-2}
# --only: the given programs (the integration tests: servers, nginx) one at a time
if [ "${1:-}" = --only ]; then shift; scripts=(); jobs_max=1; fi
# Under ASan: leaks that system libraries make once per process are not ours (tests/lsan.supp).
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
fail=0; n=0
# The unit-test programs run QVL_TEST_JOBS at a time (default 2: most are
# single-threaded, and CI's machines have 2 cores); each one's output is kept
# and printed in the given order. The CLI scripts, which start servers and
# use every core, run one after another.
res=$(mktemp -d)
trap 'rm -rf "$QVL_CACHE_DIR" "$res"' EXIT
run_one() {   # $1 program, $2 result file: exit status, seconds, then the output
    local start out rc
    start=$(date +%s.%N)
    out=$("$1" 2>&1); rc=$?
    printf '%s\n%s\n%s\n' "$rc" "$(echo "$(date +%s.%N) - $start" | bc)" "$out" > "$2"
}
report() {   # $1 program, $2 result file
    local rc secs
    { read -r rc; read -r secs; } < "$2"
    n=$((n+1))
    if [ "$rc" = 0 ]; then
        printf 'PASS %-40s %6.2fs\n' "$(basename "$1")" "$secs"
        tail -n +3 "$2" | grep '^SKIP' | sed 's/^/     /'
    else
        fail=$((fail+1))
        # the output's end, then the name (a long output must not push it off)
        tail -n +3 "$2" | tail -n 60
        printf 'FAIL %s\n' "$(basename "$1")"
    fi
}
units=()
for t in "$@"; do [ -e "$t" ] && units+=("$t"); done
for i in "${!units[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n; done
    run_one "${units[i]}" "$res/$i" &
done
wait
for i in "${!units[@]}"; do report "${units[i]}" "$res/$i"; done
for t in "${scripts[@]}"; do
    [ -e "$t" ] || continue
    run_one "$t" "$res/script"
    report "$t" "$res/script"
done
echo "$((n-fail))/$n test programs passed ($QVL_BIN)"
[ $fail -eq 0 ]
