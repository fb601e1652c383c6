#!/bin/bash
# bench/run.sh - `make bench`: speed and memory of qvl on the full-size 2b
# test model, next to llama.cpp's figures for the same model on this machine
# type (../shared/docs/perf-anchors.md). bench/README.md explains each figure.
#
# Generates models/2b once (reused when present or with BENCH_SKIP_GEN=1),
# converts it to Q4_K_M and Q8_0 GGUF files and an F16 mmproj (reused while
# newer than the model), makes the test images with ImageMagick, then
# measures with $BENCH_THREADS (default 2) threads, medians of several runs.
# Writes bench/results/latest.json (a flat object; null = not measurable)
# and a copy named by date, and prints a table.
# Environment: BENCH_BIN (driver, default build/release/bench), BENCH_MODELS
# (default models), BENCH_THREADS, BENCH_SKIP_GEN, BENCH_RUNS (decode runs,
# default 5), BENCH_PREFILL_RUNS (default 3), BENCH_IMAGE_RUNS (vision and
# time-to-first-token runs, default 3), BENCH_IMAGE_BUDGET (seconds after
# which such a measurement stops adding runs, default 60), BENCH_BATCH_IMAGES
# (images of the batch run, 3 questions each, default 100: the issue's
# catalogue), BENCH_BATCH_SEP_IMAGES (the first images of it asked again one
# question per run, for the reuse speed-up, default 5), BENCH_STREAM_TOKENS (tokens
# per stream in the concurrency measurement, default 64), BENCH_STREAM_RUNS
# (alternating 5-stream and 1-stream runs, default 3), BENCH_KERNELS (force a
# kernel table, e.g. avx2 on an AVX-512 machine: QVL_KERNELS for every qvl
# process, and OpenBLAS's matching core type), BENCH_MAX_MIN (default 40:
# the batch step shrinks its folder to fit the time left; the JSON's
# "capped" says what was cut), BENCH_GRAMMAR_RUNS (JSON Schema answers,
# each decoded constrained and free, default 3).
set -euo pipefail
cd "$(dirname "$0")/.."

QVL=./qvl
BENCH=${BENCH_BIN:-build/release/bench}
MODELS=${BENCH_MODELS:-models}
THREADS=${BENCH_THREADS:-2}
RUNS=${BENCH_RUNS:-5}
PREFILL_RUNS=${BENCH_PREFILL_RUNS:-3}
IMAGE_RUNS=${BENCH_IMAGE_RUNS:-3}
IMAGE_BUDGET=${BENCH_IMAGE_BUDGET:-60}
BATCH_IMAGES=${BENCH_BATCH_IMAGES:-100}
SEP_IMAGES=${BENCH_BATCH_SEP_IMAGES:-5}
[ "$SEP_IMAGES" -le "$BATCH_IMAGES" ] || SEP_IMAGES=$BATCH_IMAGES
STREAM_TOKENS=${BENCH_STREAM_TOKENS:-64}
STREAM_RUNS=${BENCH_STREAM_RUNS:-3}
MAX_MIN=${BENCH_MAX_MIN:-40}
BENCH_T0=$(date +%s)
capped=()
if [ -n "${BENCH_KERNELS:-}" ]; then
    export QVL_KERNELS=$BENCH_KERNELS
    # OpenBLAS picks its own kernels from CPUID: make it match the tier.
    case $BENCH_KERNELS in
        avx2 | avxvnni | scalar) export OPENBLAS_CORETYPE=Haswell ;;
        avx512 | avx512bf16) export OPENBLAS_CORETYPE=SkylakeX ;;
    esac
fi
GRAMMAR_RUNS=${BENCH_GRAMMAR_RUNS:-3}
HF=$MODELS/2b
Q4=$MODELS/2b-q4_k_m.gguf   # llama.cpp's Q4_K_M mix, tensor for tensor
MMPROJ=$MODELS/2b-mmproj-f16.gguf
MMPROJ_Q8=$MODELS/2b-mmproj-q8_0.gguf   # qvl convert --mmproj-quant q8_0
REAL=../shared/testdata/images/real
OCR_DOC=tests/ocr/set/bench_doc_1024x768.png
OCR_PHOTO=tests/ocr/photo/bench_photo_1024x768.jpg   # dense, tilted 7 degrees, under a lamp
OUT=bench/results

die() { echo "bench: $*" >&2; exit 1; }
[ -x "$QVL" ] && [ -x "$BENCH" ] || die "build first: make qvl $BENCH"
command -v convert >/dev/null || die "needs ImageMagick's convert for the test images (scripts/install-deps.sh)"
command -v node >/dev/null && command -v python3 >/dev/null || die "needs node and python3 (scripts/install-deps.sh)"
[ -d "$REAL" ] || die "no test pictures in $REAL"

TMP=$(mktemp -d /tmp/qvl-bench.XXXXXX)
SRV_PID=
cleanup() {
    [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
load_start=$(cut -d' ' -f1 /proc/loadavg)

# Free space (GB) of the models folder's file system.
free_gb() { df -P -BG "$1" | awk 'NR == 2 { sub("G", "", $4); print $4 }'; }

mkdir -p "$MODELS" "$OUT"
if [ ! -f "$HF/config.json" ]; then
    [ "${BENCH_SKIP_GEN:-0}" = 1 ] && die "BENCH_SKIP_GEN=1 but $HF holds no model"
    [ "$(free_gb "$MODELS")" -ge 9 ] || die "need 9 GB free in $MODELS for the 2b model and its GGUF files"
    echo "generating the 2b test model into $HF ..."
    $QVL make-test-model --config 2b --out "$HF"
fi
for q in q4_k_m q8_0; do
    gguf=$MODELS/2b-$q.gguf
    if [ ! -f "$gguf" ] || [ "$HF/config.json" -nt "$gguf" ]; then
        echo "converting $HF to $gguf ..."
        $QVL convert --model "$HF" --out "$gguf" --quant $q -t "$THREADS" >/dev/null
    fi
done
if [ ! -f "$MMPROJ" ] || [ "$HF/config.json" -nt "$MMPROJ" ]; then
    echo "writing the F16 vision tower $MMPROJ ..."   # convert always writes a text model too: thrown away
    $QVL convert --model "$HF" --out "$TMP/text.gguf" --mmproj-out "$MMPROJ" --quant q4_k_m -t "$THREADS" >/dev/null
    rm -f "$TMP/text.gguf"
fi
if [ ! -f "$MMPROJ_Q8" ] || [ "$HF/config.json" -nt "$MMPROJ_Q8" ]; then
    echo "writing the Q8_0 vision tower $MMPROJ_Q8 ..."
    $QVL convert --model "$HF" --out "$TMP/text.gguf" --mmproj-out "$MMPROJ_Q8" --mmproj-quant q8_0 --quant q4_k_m \
        -t "$THREADS" >/dev/null
    rm -f "$TMP/text.gguf"
fi

# Test images: 448x448 (28x28 patches, 196 tokens) and 1024x768 (64x48
# patches, 768 tokens), cropped from real photos; distinct ones for batch.
PX448=$((448 * 448))
PX1024=$((1024 * 768))
DEFAULT_PX=300000   # image/preprocess.h IMAGE_QVL_MAX_PIXELS: what a request without max_pixels gets
MAX_PX=4000000      # a "maximum detail" request: ~4000 image tokens, minutes of encoding
convert "$REAL/chelsea.png" -resize '448x448^' -gravity center -extent 448x448 "$TMP/i448.png"
convert "$REAL/coffee.png" -resize '1024x768^' -gravity center -extent 1024x768 "$TMP/i1024x768.png"
mkdir -p "$TMP/batch" "$TMP/batch_sep"
pics=("$REAL"/*.png "$REAL"/*.jpg)
for ((i = 0; i < BATCH_IMAGES; i++)); do
    side=$((448 + 24 * (i / ${#pics[@]})))
    convert "${pics[i % ${#pics[@]}]}" -resize "${side}x${side}^" -gravity center -extent 448x448 \
        -type TrueColor "$TMP/batch/img$(printf %03d $i).png"
    if [ "$i" -lt "$SEP_IMAGES" ]; then cp "$TMP/batch/img$(printf %03d $i).png" "$TMP/batch_sep/"; fi
done

# Median of the numbers given as arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Decode once more (Q4_K_M and Q8_0), appending to the q4_/q8_ decode lists:
# decode is bound by memory bandwidth, which on a shared host changes from
# one minute to the next, so the figure is the median over runs spread over
# the whole bench.
decode_again() {
    collect d4_ "$BENCH" text "$Q4" --threads "$THREADS" --runs "$RUNS" --decode 32 --prefill 0
    collect d8_ "$BENCH" text "$MODELS/2b-q8_0.gguf" --threads "$THREADS" --runs "$RUNS" --decode 32 --prefill 0
    q4_decode_list+=("$d4_decode_tok_s") q8_decode_list+=("$d8_decode_tok_s")
}

# "key value" lines of a command -> shell variables prefixed by $1.
collect() {
    local prefix=$1; shift
    local out
    out=$("$@") || die "failed: $*"
    while read -r k v; do
        [ -n "$k" ] && printf -v "${prefix}${k}" '%s' "$v"
    done <<< "$out"
}
# Value of key $2 in the JSON object printed on stdin.
json_get() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

echo "measuring (threads $THREADS, load average $load_start; the machine is shared: compare ratios) ..."
collect tok_ "$BENCH" tokenizer "$HF"
collect bw_ "$BENCH" bandwidth "$THREADS"
collect cv_ "$BENCH" convert
echo "  text decode/prefill Q4_K_M, Q8_0 ..."
collect q4_ "$BENCH" text "$Q4" --threads "$THREADS" --runs "$RUNS" --decode 32 \
    --prefill 512 --prefill-runs "$PREFILL_RUNS"
collect q8_ "$BENCH" text "$MODELS/2b-q8_0.gguf" --threads "$THREADS" --runs "$RUNS" --decode 32 \
    --prefill 512 --prefill-runs "$PREFILL_RUNS"
q4_decode_list=("$q4_decode_tok_s") q8_decode_list=("$q8_decode_tok_s")
echo "  JSON Schema decode (tag extraction, Q4_K_M, temperature 1) vs free decode ..."
collect gr_ "$BENCH" grammar "$Q4" --threads "$THREADS" --runs "$GRAMMAR_RUNS"

VOPTS=(--mmproj "$MMPROJ" --threads "$THREADS" --runs "$IMAGE_RUNS" --budget "$IMAGE_BUDGET")
echo "  vision encoder 448x448, 1024x768 ..."
collect v448_ "$BENCH" vision "$Q4" "${VOPTS[@]}" --image "$TMP/i448.png" --max-pixels $PX448
collect v1024_ "$BENCH" vision "$Q4" "${VOPTS[@]}" --image "$TMP/i1024x768.png" --max-pixels $PX1024
echo "  vision encoder 1024x768 at the default vision weights (qvl serve's --vision-quant auto) ..."
collect v1024d_ "$BENCH" vision "$Q4" "${VOPTS[@]}" --vision-quant auto --image "$TMP/i1024x768.png" --max-pixels $PX1024
echo "  vision encoder 448x448 with the Q8_0 mmproj ..."
collect vq8_ "$BENCH" vision "$Q4" "${VOPTS[@]}" --mmproj "$MMPROJ_Q8" --image "$TMP/i448.png" --max-pixels $PX448
[ "$v448_tokens" = 196 ] && [ "$v1024_tokens" = 768 ] ||
    die "image tokens $v448_tokens and $v1024_tokens, expected 196 and 768"
echo "  time to first token: image + question, follow-up (Q4_K_M + the F16 vision file at the default vision weights, 448x448) ..."
collect vlm_ "$BENCH" vlm "$Q4" "${VOPTS[@]}" --vision-quant auto --image "$TMP/i448.png" --max-pixels $PX448 --ctx 4096
echo "  time to first token: a 12 MP phone photo (4032x3024 JPEG) at the default detail and vision weights ..."
convert "$REAL/coffee.png" -resize '4032x3024!' -quality 90 "$TMP/photo12.jpg"
collect photo_ "$BENCH" vlm "$Q4" "${VOPTS[@]}" --vision-quant auto --image "$TMP/photo12.jpg" --max-pixels $DEFAULT_PX --ctx 4096 \
    --answer-tokens 64

echo "  text decode again (runs spread over the bench) ..."
decode_again
echo "  OCR 1024x768 document ..."
ocr_json=$($QVL ocr --bench "$OCR_DOC" --lang eng) || die "qvl ocr --bench failed"
ocr_ms=$(json_get warm_ms_median <<< "$ocr_json")
echo "  OCR of photographed pages: a dense tilted 1024x768 photo under a lamp (orientation, levelling, light), CER per category ..."
ocr_photo_json=$($QVL ocr --bench "$OCR_PHOTO" --lang eng) || die "qvl ocr --bench $OCR_PHOTO failed"
ocr_photo_ms=$(json_get warm_ms_median <<< "$ocr_photo_json")
photo_eval=$($QVL ocr --eval tests/ocr/photo --json) || die "qvl ocr --eval tests/ocr/photo failed"
clean_eval=$($QVL ocr --eval tests/ocr/set --json) || die "qvl ocr --eval tests/ocr/set failed"
real_eval=$($QVL ocr --eval tests/ocr/real --json) || die "qvl ocr --eval tests/ocr/real failed"
ocr_photo_mean_cer=$(json_get mean_image_cer <<< "$photo_eval")
ocr_photo_max_cer=$(json_get max_cer <<< "$photo_eval")
ocr_photo_categories=$(python3 -c 'import json,sys; print(json.dumps({k: v["cer"] for k, v in json.load(sys.stdin)["categories"].items()}))' <<< "$photo_eval")
ocr_clean_cer=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["categories"]["all"]["cer"])' <<< "$clean_eval")
ocr_page_png_cer=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["categories"]["real_print"]["cer"])' <<< "$real_eval")
pdf_eval=$(QVL_BIN=$QVL python3 tests/ocr/pdf_accuracy.py --json) || die "tests/ocr/pdf_accuracy.py failed"
ocr_pdf_born_cer=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["cer"]["born"])' <<< "$pdf_eval")
ocr_pdf_scan_cer=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["cer"]["scan"])' <<< "$pdf_eval")

# A server on model $2 (default the Q4_K_M one) with $1 slots, more qvl
# serve flags after those; sets SRV_PID and SRV_URL.
start_server() {
    local slots=$1 model=${2:-$Q4}
    shift $(($# < 2 ? $# : 2))
    $QVL serve -m "$model" --parallel "$slots" -t "$THREADS" --port 0 --no-ocr "$@" >"$TMP/serve.out" 2>"$TMP/serve.err" &
    SRV_PID=$!
    SRV_URL=
    local w=0
    while [ -z "$SRV_URL" ] && [ $((w++)) -lt 600 ]; do
        kill -0 "$SRV_PID" 2>/dev/null || die "qvl serve exited: $(cat "$TMP/serve.err")"
        SRV_URL=$(grep -o 'ready on http://[^ ]*' "$TMP/serve.out" 2>/dev/null | cut -d' ' -f3 || true)
        [ -n "$SRV_URL" ] || sleep 0.2
    done
    [ -n "$SRV_URL" ] || die "qvl serve did not get ready in 120 s"
}
stop_server() {
    kill "$SRV_PID" && wait "$SRV_PID" || true
    SRV_PID=
}
echo "  5 concurrent streams and a single stream (qvl serve --parallel 5), server TTFT ..."
# Alternating on one server, so that a slow minute of the host hits both
# figures alike; medians of STREAM_RUNS each.
start_server 5
s5_list=() s1_list=()
for ((r = 0; r < STREAM_RUNS; r++)); do
    collect s5_ env QVL_URL="$SRV_URL" node bench/streams.mjs 5 "$STREAM_TOKENS"
    collect s1_ env QVL_URL="$SRV_URL" node bench/streams.mjs 1 "$STREAM_TOKENS"
    s5_list+=("$s5_tok_s") s1_list+=("$s1_tok_s")
done
s5_tok_s=$(median "${s5_list[@]}") s1_tok_s=$(median "${s1_list[@]}")
stop_server
start_server 1
ttft_json=$(QVL_URL="$SRV_URL" node bench/ttft.mjs 10) || die "bench/ttft.mjs failed"
stop_server
echo "  a client leaving during a maximum-detail encode of the 12 MP photo: slot free after ..."
start_server 1 "$Q4" --mmproj "$MMPROJ" --ctx 8192   # room for ~3900 image tokens
cancel_json=$(QVL_URL="$SRV_URL" node bench/cancel.mjs "$TMP/photo12.jpg" $MAX_PX 3) || die "bench/cancel.mjs failed"
stop_server
cancel_ms=$(json_get cancel_ms_median <<< "$cancel_json")
cancel_runs=$(python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["runs"]))' <<< "$cancel_json")
srv_ttft_client=$(json_get client_ttft_ms_median <<< "$ttft_json")
srv_ttft_server=$(json_get server_first_token_ms_median <<< "$ttft_json")
# The server's own overhead (issue 5: < 50 ms): the same on the tiny model,
# where the model's compute is negligible.
$QVL make-test-model --config tiny --out "$TMP/tiny" 2>/dev/null
start_server 1 "$TMP/tiny"
tiny_json=$(QVL_URL="$SRV_URL" node bench/ttft.mjs 20) || die "bench/ttft.mjs failed on the tiny model"
stop_server
srv_ttft_tiny=$(json_get client_ttft_ms_median <<< "$tiny_json")

# Batch (issue 8): the whole folder with 3 questions per image in one run
# (encode once, reuse the prefix), timed from start to end (model loading
# included); then the first SEP_IMAGES images again in 3 runs of one question
# each. The reuse speed-up compares the records' own milliseconds for those
# same images (loading excluded). Errors are fatal.
Q1="What is in this image?"
Q2="What colour is the main object?"
Q3="Describe the background."
batch() {   # folder out questions...
    local dir=$1 out=$2; shift 2
    local qs=()
    for q in "$@"; do qs+=(--question "$q"); done
    $QVL batch -m "$Q4" --mmproj "$MMPROJ" --images "$dir" "${qs[@]}" --out "$out" --max-tokens 16 \
        --temperature 0 --mode vlm --max-pixels $PX448 -t "$THREADS" 2>"$TMP/batch.err" ||
        die "qvl batch failed: $(tail -3 "$TMP/batch.err")"
}
# "ms records" summed over JSONL files, only records whose image file name is
# in folder $1 (fails on a record with an error).
records_ms() {
    python3 - "$@" <<'PY'
import json, os, sys
names = set(os.listdir(sys.argv[1]))
total = n = 0
for path in sys.argv[2:]:
    for line in open(path):
        r = json.loads(line)
        if r.get("error"): sys.exit("bench: batch record error: %s" % r["error"])
        if os.path.basename(r["path"]) in names:
            total += r["ms"]; n += 1
print(total, n)
PY
}
# The batch step is the longest: shrink its folder to what fits in the time
# left before BENCH_MAX_MIN (keeping 3 minutes for the rest), estimating an
# image at 1.5x the measured 448x448 time to first token.
left_s=$((MAX_MIN * 60 - ($(date +%s) - BENCH_T0) - 180))
fit=$(awk -v l="$left_s" -v t="$vlm_ttft_ms" 'BEGIN { n = int(l / (1.5 * t / 1000)); print n < 0 ? 0 : n }')
if [ "$fit" -lt "$BATCH_IMAGES" ]; then
    [ "$fit" -gt "$SEP_IMAGES" ] || fit=$((SEP_IMAGES + 1))
    capped+=("batch: $fit of $BATCH_IMAGES images, to finish within $MAX_MIN minutes")
    mkdir -p "$TMP/batch_fit"
    for f in $(ls "$TMP/batch" | head -n "$fit"); do mv "$TMP/batch/$f" "$TMP/batch_fit/"; done
    rm -rf "$TMP/batch" && mv "$TMP/batch_fit" "$TMP/batch"
    BATCH_IMAGES=$fit
fi
echo "  batch: $BATCH_IMAGES images x 3 questions, then $SEP_IMAGES of them in 3 runs of 1 question ..."
t0=$(date +%s.%N)
batch "$TMP/batch" "$TMP/reuse.jsonl" "$Q1" "$Q2" "$Q3"
batch_wall_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
all=$(records_ms "$TMP/batch" "$TMP/reuse.jsonl") || die "unreadable batch output"
read -r _ all_n <<< "$all"
[ "$all_n" = $((3 * BATCH_IMAGES)) ] || die "batch wrote $all_n records, expected $((3 * BATCH_IMAGES))"
for k in 1 2 3; do
    q=Q$k
    batch "$TMP/batch_sep" "$TMP/sep$k.jsonl" "${!q}"
done
reuse=$(records_ms "$TMP/batch_sep" "$TMP/reuse.jsonl") && sep=$(records_ms "$TMP/batch_sep" "$TMP"/sep[123].jsonl) ||
    die "unreadable batch output"
read -r reuse_ms reuse_n <<< "$reuse"
read -r sep_ms sep_n <<< "$sep"
[ "$reuse_n" = $((3 * SEP_IMAGES)) ] && [ "$sep_n" = "$reuse_n" ] ||
    die "batch wrote $reuse_n and $sep_n records for the reuse comparison, expected $((3 * SEP_IMAGES))"
echo "  text decode a third time ..."
decode_again
q4_decode_tok_s=$(median "${q4_decode_list[@]}") q8_decode_tok_s=$(median "${q8_decode_list[@]}")
load_end=$(cut -d' ' -f1 /proc/loadavg)

calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
# Fraction of the bandwidth limit: bytes read per token * tok/s / bandwidth.
frac_q4=$(calc "$q4_decode_tok_s * $q4_weight_mb_per_token / 1000 / $bw_bandwidth_gb_s")
frac_q8=$(calc "$q8_decode_tok_s * $q8_weight_mb_per_token / 1000 / $bw_bandwidth_gb_s")
followup_frac=$(calc "$vlm_followup_ttft_ms / $vlm_ttft_ms")
stream_ratio=$(calc "$s5_tok_s / $s1_tok_s")
batch_ipm=$(calc "$BATCH_IMAGES * 60 / $batch_wall_s")
batch_speedup=$(calc "$sep_ms / $reuse_ms")
batch_min=$(calc "$batch_wall_s / 60")
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
cpu_model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//; s/"//g')
cpu_flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' |
    grep -xE 'avx2|fma|f16c|avx_vnni|avx512f|avx512bw|avx512dq|avx512vl|avx512_vnni|avx512_bf16' | tr '\n' ' ' | sed 's/ $//')
[ "$v448_runs" -ge "$IMAGE_RUNS" ] || capped+=("448x448 encode: $v448_runs of $IMAGE_RUNS runs (BENCH_IMAGE_BUDGET $IMAGE_BUDGET s)")
[ "$v1024_runs" -ge "$IMAGE_RUNS" ] || capped+=("1024x768 encode: $v1024_runs of $IMAGE_RUNS runs (BENCH_IMAGE_BUDGET $IMAGE_BUDGET s)")
bench_min=$(( ($(date +%s) - BENCH_T0 + 30) / 60 ))

json=$(cat <<EOF
{
  "decode_tok_s_q4_k_m": $q4_decode_tok_s,
  "decode_tok_s_q8_0": $q8_decode_tok_s,
  "decode_tok_s_q4_k_m_sessions": [$(IFS=,; echo "${q4_decode_list[*]}")],
  "decode_tok_s_q8_0_sessions": [$(IFS=,; echo "${q8_decode_list[*]}")],
  "prefill_tok_s_q4_k_m": $q4_prefill_tok_s,
  "prefill_tok_s_q8_0": $q8_prefill_tok_s,
  "image_encode_ms_448": $v448_encode_ms,
  "image_encode_ms_1024x768": $v1024_encode_ms,
  "image_encode_ms_448_q8_0_mmproj": $vq8_encode_ms,
  "image_encode_ms_1024x768_default_weights": $v1024d_encode_ms,
  "default_vision_weights": "$v1024d_vision_weights",
  "image_encode_runs_448": $v448_runs,
  "image_encode_runs_1024x768": $v1024_runs,
  "ttft_ms_image_question": $vlm_ttft_ms,
  "ttft_vision_weights": "$vlm_vision_weights",
  "ttft_image_part_ms": $vlm_image_ms,
  "ttft_prompt_tokens": $vlm_prompt_tokens,
  "ttft_ms_followup": $vlm_followup_ttft_ms,
  "ttft_ms_photo_12mp": $photo_ttft_ms,
  "photo_12mp_image_part_ms": $photo_image_ms,
  "photo_12mp_prompt_tokens": $photo_prompt_tokens,
  "photo_12mp_image_tokens": $photo_image_tokens,
  "photo_12mp_vision_weights": "$photo_vision_weights",
  "answer_ms_photo_12mp": $photo_answer_ms,
  "cancel_ms_encode": $cancel_ms,
  "cancel_ms_encode_runs": $cancel_runs,
  "ttft_followup_fraction": $followup_frac,
  "ttft_followup_new_tokens": $vlm_followup_new_tokens,
  "ttft_followup_image_cache_hits": $vlm_followup_image_cache_hits,
  "ttft_runs": $vlm_runs,
  "server_ttft_ms_text_client": $srv_ttft_client,
  "server_ttft_ms_tiny_client": $srv_ttft_tiny,
  "server_ttft_ms_text_server": $srv_ttft_server,
  "aggregate_decode_tok_s_5_streams": $s5_tok_s,
  "single_stream_tok_s_server": $s1_tok_s,
  "aggregate_5_streams_runs": [$(IFS=,; echo "${s5_list[*]}")],
  "single_stream_runs": [$(IFS=,; echo "${s1_list[*]}")],
  "aggregate_5_streams_ratio": $stream_ratio,
  "stream_tokens": $STREAM_TOKENS,
  "peak_rss_mb_q4_k_m": $vlm_peak_rss_mb,
  "peak_rss_mb_text_q4_k_m": $q4_peak_rss_mb,
  "peak_rss_mb_q8_0": $q8_peak_rss_mb,
  "ocr_ms_1024x768": $ocr_ms,
  "ocr_ms_photo_1024x768": $ocr_photo_ms,
  "ocr_photo_mean_cer": $ocr_photo_mean_cer,
  "ocr_photo_max_cer": $ocr_photo_max_cer,
  "ocr_photo_cer_by_category": $ocr_photo_categories,
  "ocr_clean_set_cer": $ocr_clean_cer,
  "ocr_page_png_cer": $ocr_page_png_cer,
  "ocr_pdf_born_digital_cer": $ocr_pdf_born_cer,
  "ocr_pdf_scanned_cer": $ocr_pdf_scan_cer,
  "batch_images_per_min": $batch_ipm,
  "batch_question_reuse_speedup": $batch_speedup,
  "batch_images": $BATCH_IMAGES,
  "batch_minutes_images_x3": $batch_min,
  "batch_reuse_images": $SEP_IMAGES,
  "bandwidth_gb_s": $bw_bandwidth_gb_s,
  "decode_bandwidth_fraction_q4_k_m": $frac_q4,
  "decode_bandwidth_fraction_q8_0": $frac_q8,
  "weight_mb_per_token_q4_k_m": $q4_weight_mb_per_token,
  "weight_mb_per_token_q8_0": $q8_weight_mb_per_token,
  "load_s_q4_k_m": $q4_load_s,
  "load_s_q8_0": $q8_load_s,
  "load_s_q4_k_m_with_mmproj": $vlm_load_s,
  "tokenizer_mb_s": $tok_tokenizer_mb_s,
  "decode_tok_s_json_schema": $gr_decode_tok_s_json_schema,
  "decode_tok_s_json_free": $gr_decode_tok_s_unconstrained,
  "json_schema_decode_ratio": $gr_json_schema_ratio,
  "json_schema_tokens": $gr_json_tokens,
  "grammar_mask_us_per_token": $gr_mask_us_per_token,
  "grammar_masks_cached_share": $gr_masks_cached_share,
  "grammar_forced_share": $gr_forced_share,
  "schema_compile_ms": $gr_schema_compile_ms,
  "vocab_index_ms": $gr_vocab_index_ms,
  "bf16_to_f32_ns": $cv_bf16_to_f32_ns,
  "f32_to_f16_ns": $cv_f32_to_f16_ns,
  "f16_to_f32_ns": $cv_f16_to_f32_ns,
  "threads": $THREADS,
  "load_avg": $load_start,
  "load_avg_end": $load_end,
  "kernels": "$q4_kernels",
  "cpu_model": "$cpu_model",
  "cpu_flags": "$cpu_flags",
  "openblas_coretype": "${OPENBLAS_CORETYPE:-auto}",
  "capped": [$(for c in "${capped[@]}"; do printf '%s"%s"' "${sep_:-}" "$c"; sep_=", "; done)],
  "bench_minutes": $bench_min,
  "q4_k_m_is": "qvl convert --quant q4_k_m (llama.cpp's Q4_K_M types per tensor: Q4_K, Q6_K embedding/output and attn_v/ffn_down in 14 of 28 layers); vision: F16 mmproj",
  "commit": "$commit",
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
EOF
)
echo "$json" > "$OUT/latest.json"
echo "$json" > "$OUT/$(date -u +%Y%m%d-%H%M%S).json"

# One table row: name, ours, llama.cpp's figure or -, target, and "low" when
# smaller is better. ratio > 1 always means qvl is ahead (for times: how many
# times faster). Without a reference the target applies to our own figure.
row() {
    awk -v n="$1" -v o="$2" -v r="$3" -v t="$4" -v low="${5:-}" 'BEGIN {
        if (r == "-") { printf "%-34s %10.2f %10s %8s %9s\n", n, o, "-", "-", t; exit }
        ratio = low == "low" ? r / o : o / r
        printf "%-34s %10.2f %10.2f %7.2fx %9s\n", n, o, r, ratio, t }'
}
# llama.cpp's figures (../shared/docs/perf-anchors.md) from a machine that
# runs this tier natively: Zen 4 for the AVX-512 tables, Zen 3 for AVX2.
case $q4_kernels in
    avx512*) A=(Zen4 25.0 15.2 80.3 70.4 4100 21700 7100 "<=4500ms" 3250) ;;
    *) A=(Zen3 12.9 10.9 38.5 35.7 5100 35400 10100 "<=6000ms" 3690) ;;
esac
echo
echo "kernels $q4_kernels on $cpu_model; llama.cpp anchors: ${A[0]}${capped:+; capped: ${capped[*]}}"
printf '\n%-34s %10s %10s %8s %9s\n' "figure" "qvl" "llama.cpp" "ratio" "target"
row "decode tok/s Q4_K_M" "$q4_decode_tok_s" "${A[1]}" ">=1.15x"
row "decode tok/s Q8_0" "$q8_decode_tok_s" "${A[2]}" ">=1.15x"
row "prefill tok/s pp512 Q4_K_M" "$q4_prefill_tok_s" "${A[3]}" ">=1.3x"
row "prefill tok/s pp512 Q8_0" "$q8_prefill_tok_s" "${A[4]}" ">=1.3x"
row "image encode ms 448x448" "$v448_encode_ms" "${A[5]}" ">=1.5x" low
row "image encode ms 1024x768" "$v1024_encode_ms" "${A[6]}" ">=1.5x" low
row "  448x448 with a Q8_0 mmproj" "$vq8_encode_ms" "${A[5]}" ">=1.5x" low
row "  1024x768, default weights $v1024d_vision_weights" "$v1024d_encode_ms" "${A[6]}" ">=1.5x" low
row "TTFT ms 448 + question, $vlm_vision_weights vision" "$vlm_ttft_ms" "${A[7]}" "${A[8]}" low
row "TTFT ms follow-up, same image" "$vlm_followup_ttft_ms" "${A[7]}" "-" low
row "TTFT ms 12 MP photo, default detail" "$photo_ttft_ms" - "<=6000ms (AVX2 <=10000)"
row "  whole answer, 64 tokens, ms" "$photo_answer_ms" - "<=8500ms (AVX2 <=15000)"
row "cancel during max-detail encode, ms" "$cancel_ms" - "<=1000ms"
row "  follow-up / first question" "$followup_frac" - "<=0.15"
row "peak RSS MB, Q4_K_M+F16, 448 req" "$vlm_peak_rss_mb" "${A[9]}" "<=3000MB" low
row "5 streams aggregate tok/s" "$s5_tok_s" - "-"
row "  single stream tok/s (server)" "$s1_tok_s" - "-"
row "  aggregate / single" "$stream_ratio" - ">=2.5"
row "OCR ms 1024x768 document (warm)" "$ocr_ms" - "<1000ms"
row "OCR ms 1024x768 tilted photo (warm)" "$ocr_photo_ms" - "<=1000ms"
row "  photographed set CER, mean/image" "$ocr_photo_mean_cer" - "<=0.05"
row "  photographed set CER, worst image" "$ocr_photo_max_cer" - "<=0.15"
row "  clean rendered set CER" "$ocr_clean_cer" - "<=0.019"
row "  page.png (uneven light) CER" "$ocr_page_png_cer" - "<=0.10"
row "  PDF text layers CER" "$ocr_pdf_born_cer" - "<=0.01"
row "  scanned PDF pages CER" "$ocr_pdf_scan_cer" - "<=0.05"
row "batch images/min (448, 3 q)" "$batch_ipm" - "-"
row "  question reuse speed-up" "$batch_speedup" - "-"
row "  $BATCH_IMAGES images x 3 q, minutes" "$batch_min" - "-"
row "server TTFT ms, text (client)" "$srv_ttft_client" - "-"
row "server TTFT ms, tiny model (overhead)" "$srv_ttft_tiny" - "<50ms"
row "peak RSS MB Q4_K_M (text only)" "$q4_peak_rss_mb" - "-"
row "load s Q4_K_M gguf" "$q4_load_s" - "-"
row "tokenizer MB/s (1 core)" "$tok_tokenizer_mb_s" - "-"
row "decode tok/s JSON Schema Q4_K_M" "$gr_decode_tok_s_json_schema" - "-"
row "  JSON Schema / free decode" "$gr_json_schema_ratio" - ">=0.9"
row "  mask us per token" "$gr_mask_us_per_token" - "-"
row "  schema compile ms" "$gr_schema_compile_ms" - "-"
row "memory bandwidth GB/s" "$bw_bandwidth_gb_s" 38 "-"
row "decode bw fraction Q4_K_M" "$frac_q4" - ">=0.75"
row "decode bw fraction Q8_0" "$frac_q8" - "-"
# Decode per GB/s of this run's probe against llama.cpp's per GB/s of the
# anchors' (38): a ratio that a slow minute of the host's memory moves less.
row "decode Q4_K_M tok/s per GB/s" "$(calc "$q4_decode_tok_s / $bw_bandwidth_gb_s")" "$(calc "25.0 / 38")" "-"
row "decode Q8_0 tok/s per GB/s" "$(calc "$q8_decode_tok_s / $bw_bandwidth_gb_s")" "$(calc "15.2 / 38")" "-"
echo
echo "image encode: median of $v448_runs / $v1024_runs runs; TTFT: $vlm_runs runs (follow-up computed" \
     "$vlm_followup_new_tokens new tokens, image cache hits $vlm_followup_image_cache_hits/$vlm_runs)"
echo "decode: median of 3 sessions of $RUNS x 32 tokens spread over the bench (Q4_K_M ${q4_decode_list[*]};" \
    "Q8_0 ${q8_decode_list[*]}); streams: median of $STREAM_RUNS alternating runs" \
    "(5: ${s5_list[*]}; 1: ${s1_list[*]})"
echo "batch: $BATCH_IMAGES images x 3 questions (max 16 tokens), wall time incl. loading; reuse speed-up on $SEP_IMAGES images"
echo "load average: $load_start at the start, $load_end at the end; JSON in $OUT/latest.json"
