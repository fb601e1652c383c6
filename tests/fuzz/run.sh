#!/bin/bash
# tests/fuzz/run.sh SECONDS - runs every libFuzzer target in build/fuzz for
# SECONDS each (`make fuzz FUZZ_SECONDS=N`), two at a time (FUZZ_JOBS; the
# machines have 2 cores), starting from its seeds in
# tests/fuzz/corpus/<target>: they are copied to build/fuzz/corpus/<target>,
# where new inputs accumulate between runs (the repository's seeds stay as
# they are). Prints execs/s and coverage per target; a crash, leak or abort
# fails the run and leaves the input as build/fuzz/crash-* (turn it into a
# regression test, then into a seed).
set -u
cd "$(dirname "$0")/../.."
seconds=${1:-60}
jobs_max=${FUZZ_JOBS:-2}
export QVL_TESTDATA=${QVL_TESTDATA:-$PWD/../shared/testdata}
# what system libraries allocate once per process is not a finding (tests/lsan.supp: fontconfig, for PDFs)
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

# run_one TARGET: one target's run; its summary line goes to build/fuzz/TARGET.summary.
run_one() {
    local t=$1 bin=build/fuzz/$1 work=build/fuzz/corpus/$1 log=build/fuzz/$1.log status=ok
    mkdir -p "$work"
    [ -d "tests/fuzz/corpus/$t" ] && cp -n tests/fuzz/corpus/$t/* "$work/" 2>/dev/null
    "$bin" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix=build/fuzz/ \
        -rss_limit_mb=2048 "$work" > "$log" 2>&1 || status=FAILED
    local execs cov
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    {
        printf '%-22s %-6s %10s runs  %8s execs/s  cov %6s  corpus %5s files\n' "$t" "$status" "${execs:-?}" \
            "$(( ${execs:-0} / seconds ))" "${cov:-?}" "$(ls "$work" | wc -l)"
        [ $status = ok ] || grep -m5 -E 'ERROR|SUMMARY|Test unit written' "$log"
    } > "build/fuzz/$t.summary"
}

targets=()
for bin in build/fuzz/fuzz_*; do
    [ -f "$bin" ] && [ -x "$bin" ] && targets+=("$(basename "$bin")")
done
running=0
for t in "${targets[@]}"; do
    if [ $running -ge "$jobs_max" ]; then wait -n; running=$((running - 1)); fi
    rm -f "build/fuzz/$t.summary"
    run_one "$t" &
    running=$((running + 1))
done
wait
fail=0
for t in "${targets[@]}"; do
    if [ -f "build/fuzz/$t.summary" ]; then cat "build/fuzz/$t.summary"; else echo "$t: no result"; fail=1; fi
    grep -q '^[^ ]* *FAILED' "build/fuzz/$t.summary" 2>/dev/null && fail=1
done
exit $fail
