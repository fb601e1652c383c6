#!/bin/bash
# bench/run.sh - `make bench`: speed and memory of qvl on the full-size 2b
# test model, next to llama.cpp's figures for the same model on this machine
# type (../shared/docs/perf-anchors.md).
#
# Generates models/2b once (reused when present or with BENCH_SKIP_GEN=1),
# converts it to Q4_K and Q8_0 GGUF files (reused while newer than the
# model), then measures with $BENCH_THREADS (default 2) threads, medians of
# several runs. Writes bench/results/latest.json (a flat object; null = not
# measurable yet) and a copy named by date, and prints a table.
# Environment: BENCH_BIN (driver, default build/release/bench), BENCH_MODELS
# (default models), BENCH_THREADS, BENCH_SKIP_GEN, BENCH_RUNS (decode runs,
# default 5), BENCH_PREFILL_RUNS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."

QVL=./qvl
BENCH=${BENCH_BIN:-build/release/bench}
MODELS=${BENCH_MODELS:-models}
THREADS=${BENCH_THREADS:-2}
RUNS=${BENCH_RUNS:-5}
PREFILL_RUNS=${BENCH_PREFILL_RUNS:-3}
HF=$MODELS/2b
OUT=bench/results

die() { echo "bench: $*" >&2; exit 1; }
[ -x "$QVL" ] && [ -x "$BENCH" ] || die "build first: make qvl $BENCH"

# Free space (GB) of the models folder's file system.
free_gb() { df -P -BG "$1" | awk 'NR == 2 { sub("G", "", $4); print $4 }'; }

mkdir -p "$MODELS" "$OUT"
if [ ! -f "$HF/config.json" ]; then
    [ "${BENCH_SKIP_GEN:-0}" = 1 ] && die "BENCH_SKIP_GEN=1 but $HF holds no model"
    [ "$(free_gb "$MODELS")" -ge 8 ] || die "need 8 GB free in $MODELS for the 2b model and its GGUF files"
    echo "generating the 2b test model into $HF ..."
    $QVL make-test-model --config 2b --out "$HF"
fi
for q in q4_k q8_0; do
    gguf=$MODELS/2b-$q.gguf
    if [ ! -f "$gguf" ] || [ "$HF/config.json" -nt "$gguf" ]; then
        echo "converting $HF to $gguf ..."
        $QVL convert --model "$HF" --out "$gguf" --quant $q -t "$THREADS" >/dev/null
    fi
done

# "key value" lines of the driver -> shell variables prefixed by $1.
collect() {
    local prefix=$1; shift
    local out
    out=$("$@") || die "failed: $*"
    while read -r k v; do
        [ -n "$k" ] && printf -v "${prefix}${k}" '%s' "$v"
    done <<< "$out"
}

echo "measuring (threads $THREADS; the machine is shared: compare ratios, not absolutes) ..."
collect tok_ "$BENCH" tokenizer "$HF"
collect bw_ "$BENCH" bandwidth "$THREADS"
collect q4_ "$BENCH" text "$MODELS/2b-q4_k.gguf" --threads "$THREADS" --runs "$RUNS" --decode 32 \
    --prefill 512 --prefill-runs "$PREFILL_RUNS"
collect q8_ "$BENCH" text "$MODELS/2b-q8_0.gguf" --threads "$THREADS" --runs "$RUNS" --decode 32 \
    --prefill 512 --prefill-runs "$PREFILL_RUNS"

calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
# Fraction of the bandwidth limit: bytes read per token * tok/s / bandwidth.
frac_q4=$(calc "$q4_decode_tok_s * $q4_weight_mb_per_token / 1000 / $bw_bandwidth_gb_s")
frac_q8=$(calc "$q8_decode_tok_s * $q8_weight_mb_per_token / 1000 / $bw_bandwidth_gb_s")
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

json=$(cat <<EOF
{
  "decode_tok_s_q4_k_m": $q4_decode_tok_s,
  "decode_tok_s_q8_0": $q8_decode_tok_s,
  "prefill_tok_s_q4_k_m": $q4_prefill_tok_s,
  "prefill_tok_s_q8_0": $q8_prefill_tok_s,
  "image_encode_ms_448": null,
  "image_encode_ms_1024x768": null,
  "ttft_ms_image_question": null,
  "ttft_ms_followup": null,
  "aggregate_decode_tok_s_5_streams": null,
  "peak_rss_mb_q4_k_m": $q4_peak_rss_mb,
  "peak_rss_mb_q8_0": $q8_peak_rss_mb,
  "bandwidth_gb_s": $bw_bandwidth_gb_s,
  "decode_bandwidth_fraction_q4_k_m": $frac_q4,
  "decode_bandwidth_fraction_q8_0": $frac_q8,
  "weight_mb_per_token_q4_k_m": $q4_weight_mb_per_token,
  "weight_mb_per_token_q8_0": $q8_weight_mb_per_token,
  "load_s_q4_k_m": $q4_load_s,
  "load_s_q8_0": $q8_load_s,
  "tokenizer_mb_s": $tok_tokenizer_mb_s,
  "threads": $THREADS,
  "kernels": "$q4_kernels",
  "q4_k_m_is": "qvl convert --quant q4_k (Q4_K matrices, Q6_K embedding/output)",
  "commit": "$commit",
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
EOF
)
echo "$json" > "$OUT/latest.json"
echo "$json" > "$OUT/$(date -u +%Y%m%d-%H%M%S).json"

# Reference figures: llama.cpp, 2 threads, same model shape (perf-anchors.md).
row() {   # name ours reference target-ratio
    awk -v n="$1" -v o="$2" -v r="$3" -v t="$4" 'BEGIN {
        if (r == "-") printf "%-28s %10.2f %10s %8s %8s\n", n, o, "-", "-", "-";
        else if (t == "-") printf "%-28s %10.2f %10.2f %7.2fx %8s\n", n, o, r, o / r, "-";
        else printf "%-28s %10.2f %10.2f %7.2fx %7.2fx\n", n, o, r, o / r, t }'
}
printf '\n%-28s %10s %10s %8s %8s\n' "figure" "qvl" "llama.cpp" "ratio" "target"
row "decode tok/s Q4_K_M" "$q4_decode_tok_s" 25.0 1.15
row "decode tok/s Q8_0" "$q8_decode_tok_s" 15.2 1.15
row "prefill tok/s pp512 Q4_K_M" "$q4_prefill_tok_s" 80.3 1.3
row "prefill tok/s pp512 Q8_0" "$q8_prefill_tok_s" 70.4 1.3
row "peak RSS MB Q4_K_M (text)" "$q4_peak_rss_mb" - -
row "load s Q4_K_M gguf" "$q4_load_s" - -
row "tokenizer MB/s (1 core)" "$tok_tokenizer_mb_s" - -
row "memory bandwidth GB/s" "$bw_bandwidth_gb_s" 38 -
printf '%-28s %10s   (bytes/token x tok/s / bandwidth; target >= 0.75)\n' "decode bw fraction Q4_K_M" "$frac_q4"
printf '%-28s %10s\n' "decode bw fraction Q8_0" "$frac_q8"
echo "image encode, TTFT, 5-stream aggregate: not measured yet (null in $OUT/latest.json)"
