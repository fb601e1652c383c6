#!/bin/bash
# run_tiers.sh BUILD_DIR [--kernels-only] - runs the numeric tests (kernels,
# packed, golden, forward passes) once more per kernel table this CPU can
# execute besides the one it picks by itself, forced with QVL_KERNELS: a Zen 4
# checks avx512 (no BF16), avx2 and scalar too, a Zen 5 also avxvnni, a Zen 3
# scalar. The scalar table stays the judge of the others inside the tests;
# this makes sure every table also meets the goldens.
# --kernels-only (the sanitizer run): only the tests that call each kernel
# directly over many shapes and tails, which is where a table's memory errors
# would be; the release run has checked every table against the goldens, and
# the forward passes under ASan take minutes per table for no new code.
set -u
cd "$(dirname "$0")/.."
build=$1
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { for f in "$@"; do [[ $flags == *" $f "* ]] || return 1; done; }
tiers=()
has avx512f avx512bw avx512vl avx512dq avx512_vnni avx512_bf16 avx2 fma f16c && tiers+=(avx512bf16)
has avx512f avx512bw avx512vl avx512dq avx512_vnni avx2 fma f16c && tiers+=(avx512)
has avx2 fma f16c avx_vnni && tiers+=(avxvnni)
has avx2 fma f16c && tiers+=(avx2)
tiers+=(scalar)
tests="test_kernels test_packed test_vision_kernels test_attn_prompt test_text_forward test_batch_decode
       test_text_golden test_vision_golden"
[ "${2:-}" = --kernels-only ] && tests="test_kernels test_packed test_vision_kernels test_attn_prompt"
# tiers[0] is the table the tests already ran with. Two tables at a time
# (one core each; the tests are single-threaded), each table's lines kept in
# its own file and printed in order; a failing test also leaves
# $res/TIER.failed, which fails the run (its output is cut to its last
# lines, so the log alone cannot be trusted to keep the FAIL line).
res=$(mktemp -d)
trap 'rm -rf "$res"' EXIT
run_tier() {
    local tier=$1 t start out
    for t in $tests; do
        start=$(date +%s.%N)
        if out=$(QVL_KERNELS=$tier "$build/tests/$t" 2>&1); then
            printf 'PASS %-40s %6.2fs\n' "$t ($tier)" "$(echo "$(date +%s.%N) - $start" | bc)"
        else
            : > "$res/$tier.failed"
            printf '%s\n' "$out" | tail -n 40
            printf 'FAIL %s (%s)\n' "$t" "$tier"
        fi
    done
}
for tier in "${tiers[@]:1}"; do
    while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n; done
    run_tier "$tier" > "$res/$tier" &
done
wait
fail=0
for tier in "${tiers[@]:1}"; do
    cat "$res/$tier"
    [ ! -e "$res/$tier.failed" ] || fail=1
done
echo "kernel tables checked: ${tiers[*]}"
exit $fail
