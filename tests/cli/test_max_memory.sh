#!/bin/bash
# --max-memory (issue 19) on the tiny test model: the budget in /health,
# /metrics and the start-up log, from the flag, QVL_MAX_MEMORY and a config
# file; a request that could never fit gets 413 with the numbers on the
# OpenAI, simple and Ollama APIs before any image is encoded; two requests
# that fit only one at a time both succeed, the second after waiting for
# memory (counted, not timed), and the server's peak RSS stays under the
# budget; bad values and a budget below the model refuse to start; qvl ask
# and qvl batch refuse a question over the budget with exit 1.
set -u
. "$(dirname "$0")/../lib/cli_common.sh"
pid=0
cleanup_hooks+=('kill -9 $pid 2>/dev/null')
$QVL make-test-model --config tiny --out "$tmp/m" 2>/dev/null

# Two gradient PNGs (tests/api/big_image.mjs): at the largest detail a
# 1024x1024 needs ~60 MiB of working memory, a 1536x1536 ~127 MiB.
node --input-type=module -e "
import { gradientPng } from '$PWD/tests/api/big_image.mjs';
import fs from 'node:fs';
fs.writeFileSync('$tmp/mid.b64', gradientPng(1024, 1024, 9));
fs.writeFileSync('$tmp/big.b64', gradientPng(1536, 1536, 7));
fs.writeFileSync('$tmp/huge.b64', gradientPng(4000, 4000, 5));"
base64 -d "$tmp/mid.b64" > "$tmp/mid.png"
base64 -d "$tmp/big.b64" > "$tmp/big.png"
base64 -d "$tmp/huge.b64" > "$tmp/huge.png"   # ~1 GiB at the largest detail: over 800M whatever the build

SERVE_ARGS=(--threads 2 --no-ocr --image-cache-mb 0 --max-conversations 1)   # every server here (serve_start, tests/lib/cli_common.sh)
health() { curl -s "$URL/health" | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{
    const h=JSON.parse(s); console.log(h.memory ? h.memory['$1'] : 'none')})"; }
metric() { curl -s "$URL/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
# openai_req FILE.b64 MAX_PIXELS: an OpenAI chat request body with that image
openai_req() {
    printf '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"%s"}},%s]}],%s}' \
        "data:image/png;base64,$(cat "$1")" '{"type":"text","text":"hi"}' "\"max_tokens\":4,\"max_pixels\":$2"
}
openai_req "$tmp/big.b64" 16777216 > "$tmp/big.json"
openai_req "$tmp/mid.b64" 16777216 > "$tmp/mid.json"
openai_req "$tmp/mid.b64" 300000 > "$tmp/small.json"
printf '{"question":"hi","image":"%s","max_tokens":4,"max_pixels":16777216}' "$(cat "$tmp/big.b64")" \
    > "$tmp/simple.json"
printf '{"model":"m","stream":false,"messages":[{"role":"user","content":"hi","images":["%s"]}]}' \
    "$(cat "$tmp/big.b64")" > "$tmp/ollama.json"

# ---- the setting, where it shows ----
serve_start flag -- --max-memory 4G
check "/health: budget" "[ \"$(health budget_bytes)\" = $((4 << 30)) ]"
check "/health: nothing reserved" "[ \"$(health reserved_bytes)\" = 0 ]"
check "/health: a base (model, caches)" "[ \"$(health base_bytes)\" -gt $((10 << 20)) ]"
check "/metrics: budget" "[ \"$(metric qvl_memory_budget_bytes)\" = $((4 << 30)) ]"
check "/metrics: reserved" "[ \"$(metric qvl_memory_reserved_bytes)\" = 0 ]"
check "start-up log names the budget" "grep -q 'memory budget 4.0 GiB: .* for requests' $tmp/flag.out"
serve_stop
serve_start env QVL_MAX_MEMORY=3G -- --parallel 1
check "QVL_MAX_MEMORY" "[ \"$(health budget_bytes)\" = $((3 << 30)) ]"
serve_stop
printf 'max-memory = 2G\n' > "$tmp/qvl.conf"
serve_start conf -- --config "$tmp/qvl.conf"
check "config file max-memory" "[ \"$(health budget_bytes)\" = $((2 << 30)) ]"
# The base as the tight server below will have it: the first start above
# quantized the model (more resident memory); this one, like that one, maps
# the quantized copy.
base=$(health base_bytes)
serve_stop
serve_start auto --
check "default auto: a budget" "[ \"$(health budget_bytes)\" -gt 0 ] && grep -q 'memory budget .* (auto)' $tmp/auto.out"
serve_stop
serve_start off -- --max-memory off
check "off: no budget in /health" "[ \"$(health budget_bytes)\" = none ] && grep -q 'no memory budget' $tmp/off.out"
serve_stop
$QVL serve --model "$tmp/m" --port 0 --max-memory 6X > /dev/null 2> "$tmp/bad.err"
check "bad size refused (2)" "[ $? -eq 2 ] && grep -q \"memory size '6X'\" $tmp/bad.err"
$QVL serve --model "$tmp/m" --port 0 --max-memory 20M > /dev/null 2> "$tmp/small.err"
check "budget below the model: refused at start, with what to change" \
    "[ $? -ne 0 ] && grep -q 'not more than what the server holds.*raise --max-memory' $tmp/small.err"

# ---- a tight budget: 90 MiB for requests ----
serve_start tight -- --max-memory $((base + (90 << 20))) --parallel 2 --max-pixels 16777216
code=$(curl -s -o "$tmp/r413" -w '%{http_code}' "$URL/v1/chat/completions" -H 'Content-Type: application/json' \
       -d @"$tmp/big.json")
check "OpenAI: over the budget -> 413" "[ $code = 413 ]"
check "413 says what it needs and what to change" \
    "grep -q 'needs [0-9.]* MiB of memory (images .*encoder .*lower max_pixels.*raise --max-memory' $tmp/r413"
code=$(curl -s -o "$tmp/s413" -w '%{http_code}' "$URL/api/v1/chat" -H 'Content-Type: application/json' \
       -d @"$tmp/simple.json")
check "simple API: 413" "[ $code = 413 ] && grep -q 'needs' $tmp/s413"
code=$(curl -s -o "$tmp/o413" -w '%{http_code}' "$URL/api/chat" -d @"$tmp/ollama.json")
check "Ollama API: 413" "[ $code = 413 ] && grep -q '\"error\":\"this request needs' $tmp/o413"
check "refused before any image was encoded" "[ \"$(metric qvl_images_total)\" = 0 ]"
echo 5 > /proc/$pid/clear_refs   # the peak RSS from here on (loading the model had its own)
clients=()
for i in 1 2; do
    curl -s -o "$tmp/two$i" -w '%{http_code}' "$URL/v1/chat/completions" -H 'Content-Type: application/json' \
        -d @"$tmp/mid.json" > "$tmp/two$i.code" &
    clients+=($!)
done
wait "${clients[@]}"
check "two that fit one at a time: both 200" "[ \"$(cat $tmp/two1.code)$(cat $tmp/two2.code)\" = 200200 ]"
check "the second waited for memory" "[ \"$(metric qvl_memory_waits_total)\" -ge 1 ]"
hwm=$(awk '/^VmHWM/ {print $2 * 1024}' /proc/$pid/status)
if ldd "$QVL" | grep -q libasan; then   # ASan's shadow and quarantine are resident but not qvl's to count
    echo "SKIP peak RSS under the budget: an ASan build"
else
    check "peak RSS ($hwm) stayed under the budget" "[ $hwm -le $((base + (90 << 20))) ]"
fi
check "everything released" "[ \"$(health reserved_bytes)\" = 0 ]"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/chat/completions" -H 'Content-Type: application/json' \
       -d @"$tmp/small.json")
check "a smaller detail of the same image fits" "[ $code = 200 ]"
serve_stop

# ---- the CLI ----
$QVL ask --model "$tmp/m" --image "$tmp/huge.png" --max-pixels 16777216 --max-memory 800M -n 2 hi \
    > /dev/null 2> "$tmp/ask.err"
check "ask over the budget: exit 1 with the numbers" \
    "[ $? -eq 1 ] && grep -q 'qvl ask: this request needs' $tmp/ask.err"
$QVL ask --model "$tmp/m" --image "$tmp/mid.png" --max-memory 1G -n 2 hi > /dev/null 2>&1
check "ask within the budget: exit 0" "[ $? -eq 0 ]"
mkdir "$tmp/imgs" && cp "$tmp/mid.png" "$tmp/huge.png" "$tmp/imgs/"
$QVL batch --model "$tmp/m" --images "$tmp/imgs" -q hi -n 2 --max-pixels 16777216 --max-memory 800M \
    --mode vlm --out "$tmp/out.jsonl" 2> "$tmp/batch.err"
check "batch: exit 1 when a record did not fit" \
    "[ $? -eq 1 ] && grep -q 'needed more memory than --max-memory' $tmp/batch.err"
check "batch: that record's error, the other answered" \
    "grep 'huge.png' $tmp/out.jsonl | grep -q '\"error\":\"this request needs' &&
     grep 'mid.png' $tmp/out.jsonl | grep -q '\"error\":null'"
exit $fail
