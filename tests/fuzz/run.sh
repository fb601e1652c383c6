#!/bin/bash
# tests/fuzz/run.sh SECONDS - runs every libFuzzer target in build/fuzz for
# SECONDS each (`make fuzz FUZZ_SECONDS=N`), starting from its seeds in
# tests/fuzz/corpus/<target>: they are copied to build/fuzz/corpus/<target>,
# where new inputs accumulate between runs (the repository's seeds stay as
# they are). Prints execs/s and coverage per target; a crash, leak or abort
# fails the run and leaves the input as build/fuzz/crash-* (turn it into a
# regression test, then into a seed).
set -u
cd "$(dirname "$0")/../.."
seconds=${1:-60}
fail=0
export QVL_TESTDATA=${QVL_TESTDATA:-$PWD/../shared/testdata}
for bin in build/fuzz/fuzz_*; do
    t=$(basename "$bin")
    work=build/fuzz/corpus/$t
    mkdir -p "$work"
    [ -d "tests/fuzz/corpus/$t" ] && cp -n tests/fuzz/corpus/$t/* "$work/" 2>/dev/null
    log=build/fuzz/$t.log
    if "$bin" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix=build/fuzz/ \
        -rss_limit_mb=2048 "$work" > "$log" 2>&1; then
        status=ok
    else
        status=FAILED
        fail=1
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    printf '%-22s %-6s %10s runs  %8s execs/s  cov %6s  corpus %5s files\n' "$t" "$status" "${execs:-?}" \
        "$(( ${execs:-0} / seconds ))" "${cov:-?}" "$(ls "$work" | wc -l)"
    [ $status = ok ] || grep -m5 -E 'ERROR|SUMMARY|Test unit written' "$log"
done
exit $fail
