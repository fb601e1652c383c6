#!/bin/bash
# tests/faults/run.sh [OUT.md] - tries faults and bad inputs against the
# CLI and a running server on the tiny test model, one row each: what was
# done, what was expected (a clean refusal with a message, or success), what
# happened (exit status or HTTP status and the first line of the message).
# Fails if any row is not as expected, if a process died of a signal, or if
# the server stopped answering; writes the table as Markdown (default
# build/faults.md; docs/faults.md is a copy). Run by make test in both
# builds (under ASan the error paths are checked for memory errors too).
set -u
. "$(dirname "$0")/../lib/cli_common.sh"
out=${1:-build/faults.md}
rows=()
n_bad=0

# row WHAT EXPECTED OBSERVED OK(0/1)
row() {
    local mark=yes
    [ "$4" = 1 ] || { mark="**NO**"; n_bad=$((n_bad + 1)); echo "FAIL fault: $1: expected $2, got $3"; }
    rows+=("| $1 | $2 | ${3//|/\\|} | $mark |")
}

# cli WHAT EXPECT(error|ok) CMD... : error = exit 1 or 2 with a message on stderr.
cli() {
    local what=$1 expect=$2; shift 2
    local err rc
    err=$(timeout 120 "$@" 2>&1 >/dev/null)
    rc=$?
    local msg
    # the last line: errors come last, after notes such as a first quantization
    msg=$(printf '%s' "$err" | grep -v '^\[' | tail -n 1 | sed "s|$tmp|<tmp>|g" | cut -c1-150)
    if [ "$expect" = ok ]; then
        row "$what" "works" "exit $rc${msg:+: $msg}" $([ $rc -eq 0 ] && echo 1 || echo 0)
    else
        row "$what" "clear error" "exit $rc: $msg" $([ $rc -ge 1 ] && [ $rc -le 2 ] && [ -n "$msg" ] && echo 1 || echo 0)
    fi
}

# http WHAT EXPECTED_STATUS CURL_ARGS... : the status and the error message.
http() {
    local what=$1 want=$2; shift 2
    local body code msg
    body=$(curl -s -m 60 -o "$tmp/body" -w '%{http_code}' "$@")
    code=$body
    msg=$(python3 -c 'import json,sys
try:
    j = json.load(open(sys.argv[1])); e = j.get("error", j)
    print((e.get("message") if isinstance(e, dict) else e)[:150])
except Exception: print(open(sys.argv[1], errors="replace").read(150).replace("\n", " "))' "$tmp/body" 2>/dev/null)
    row "$what" "$want" "$code: ${msg//$tmp/<tmp>}" $([[ " $want " == *" $code "* ]] && echo 1 || echo 0)
}

M=$tmp/m
$QVL make-test-model --config tiny --out "$M" > /dev/null 2>&1
I=$TD/images/img_256x256.png

# ---- model files ----
cli "model folder missing" error $QVL ask -m "$tmp/nope" hi
mkdir -p "$tmp/empty"; cli "model folder empty" error $QVL ask -m "$tmp/empty" hi
cp -r "$M" "$tmp/nocfg"; rm "$tmp/nocfg/config.json"; cli "config.json missing" error $QVL ask -m "$tmp/nocfg" hi
cp -r "$M" "$tmp/badcfg"; echo '{"model_type": ' > "$tmp/badcfg/config.json"; cli "config.json broken JSON" error $QVL ask -m "$tmp/badcfg" hi
cp -r "$M" "$tmp/notok"; rm "$tmp/notok/tokenizer.json"; cli "tokenizer.json missing" error $QVL ask -m "$tmp/notok" hi
cp -r "$M" "$tmp/badtok"; echo '[1,2' > "$tmp/badtok/tokenizer.json"; cli "tokenizer.json broken" error $QVL ask -m "$tmp/badtok" hi
cp -r "$M" "$tmp/trunc"; truncate -s 100000 "$tmp/trunc/model.safetensors"; cli "safetensors truncated" error $QVL ask -m "$tmp/trunc" hi
cp -r "$M" "$tmp/hdr"; printf '\xff\xff\xff\xff\xff\xff\xff\x7f{}' > "$tmp/hdr/model.safetensors"; cli "safetensors header length 2^63" error $QVL ask -m "$tmp/hdr" hi
cp -r "$M" "$tmp/zero"; : > "$tmp/zero/model.safetensors"; cli "safetensors empty file" error $QVL ask -m "$tmp/zero" hi
$QVL convert --model "$M" --out "$tmp/m.gguf" --quant q8_0 > /dev/null 2>&1
head -c 5000 "$tmp/m.gguf" > "$tmp/t.gguf"; cli "GGUF truncated" error $QVL ask -m "$tmp/t.gguf" hi
{ printf 'GGUX'; tail -c +5 "$tmp/m.gguf"; } > "$tmp/magic.gguf"; cli "GGUF wrong magic" error $QVL ask -m "$tmp/magic.gguf" hi
{ printf 'GGUF\x63\x00\x00\x00'; tail -c +9 "$tmp/m.gguf"; } > "$tmp/ver.gguf"; cli "GGUF version 99" error $QVL ask -m "$tmp/ver.gguf" hi
{ head -c 16 "$tmp/m.gguf"; printf '\xff\xff\xff\xff\xff\xff\xff\x0f'; tail -c +25 "$tmp/m.gguf"; } > "$tmp/kv.gguf"
cli "GGUF key count 2^60" error $QVL ask -m "$tmp/kv.gguf" hi
cli "unknown model file (a PNG)" error $QVL ask -m "$I" hi
cli "--mmproj missing" error $QVL ask -m "$tmp/m.gguf" --mmproj "$tmp/none.gguf" hi
cli "--mmproj is a text model" error $QVL ask -m "$tmp/m.gguf" --mmproj "$tmp/m.gguf" --image "$I" hi

# ---- images on the command line ----
head -c 300 "$TD/images/img_512x384.png" > "$tmp/cut.png"; cli "PNG truncated" error $QVL ask -m "$M" --image "$tmp/cut.png" hi
: > "$tmp/empty.jpg"; cli "zero-byte image" error $QVL ask -m "$M" --image "$tmp/empty.jpg" hi
echo "just text" > "$tmp/text.png"; cli "text file named .png" error $QVL ask -m "$M" --image "$tmp/text.png" hi
python3 - "$tmp/bomb.png" <<'PY'
import struct, sys, zlib
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
cli "PNG claiming 100000x100000" error $QVL ask -m "$M" --image "$tmp/bomb.png" hi
cli "image file missing" error $QVL ask -m "$M" --image "$tmp/nope.png" hi
cli "a directory as image" error $QVL ask -m "$M" --image "$tmp" hi

# ---- batch ----
mkdir -p "$tmp/imgs"; cp "$I" "$tmp/imgs/a.png"
$QVL batch -m "$M" --images "$tmp/imgs" -q hi --out "$tmp/r.jsonl" -n 2 > /dev/null 2>&1
cli "batch: output exists, no --resume" error $QVL batch -m "$M" --images "$tmp/imgs" -q hi --out "$tmp/r.jsonl"
cli "batch: images folder missing" error $QVL batch -m "$M" --images "$tmp/nope" -q hi --out "$tmp/x.jsonl"
cli "batch: --shard 3/2" error $QVL batch -m "$M" --images "$tmp/imgs" -q hi --out "$tmp/y.jsonl" --shard 3/2
cli "unknown option" error $QVL ask -m "$M" --no-such-flag hi
cli "--threads abc" error $QVL ask -m "$M" -t abc hi

# ---- the server ----
"$QVL" serve --model "$M" --port 0 --parallel 1 --max-queue 0 --max-image-mb 1 --api-key sekrit > "$tmp/srv.out" 2> "$tmp/srv.err" &
pid=$!
cleanup_hooks+=('kill $pid 2>/dev/null')
for _ in $(seq 100); do
    URL=$(sed -n 's/.*ready on \(http:[^ ]*\) .*/\1/p' "$tmp/srv.out"); [ -n "$URL" ] && break; sleep 0.1
done
A=(-H "Authorization: Bearer sekrit")
J=(-H "Content-Type: application/json")
png64=$(base64 -w0 "$I")
http "no API key" 401 -X POST "$URL/api/v1/chat" "${J[@]}" -d '{"question":"hi"}'
http "wrong API key" 401 -X POST "$URL/api/v1/chat" "${J[@]}" -H "Authorization: Bearer nope" -d '{"question":"hi"}'
http "broken JSON" 400 "${A[@]}" "${J[@]}" "$URL/api/v1/chat" -d '{"question": "hi", '
http "JSON array instead of object" 400 "${A[@]}" "${J[@]}" "$URL/api/v1/chat" -d '[1, 2]'
http "no question" 400 "${A[@]}" "${J[@]}" "$URL/api/v1/chat" -d '{"image": "'"$png64"'"}'
http "max_tokens a string" 400 "${A[@]}" "${J[@]}" "$URL/v1/chat/completions" -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":"many"}'
http "max_tokens -5" 400 "${A[@]}" "${J[@]}" "$URL/v1/chat/completions" -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":-5}'
http "temperature 1e300" 400 "${A[@]}" "${J[@]}" "$URL/v1/chat/completions" -d '{"messages":[{"role":"user","content":"hi"}],"temperature":1e300}'
http "empty messages" 400 "${A[@]}" "${J[@]}" "$URL/v1/chat/completions" -d '{"messages":[]}'
http "unknown role" 400 "${A[@]}" "${J[@]}" "$URL/v1/chat/completions" -d '{"messages":[{"role":"wizard","content":"hi"}]}'
http "image over http:// URL" 400 "${A[@]}" "${J[@]}" "$URL/v1/chat/completions" -d '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"http://example.com/a.png"}}]}]}'
http "image: bad base64" 400 "${A[@]}" "${J[@]}" "$URL/api/v1/chat" -d '{"question":"hi","image":"%%%%"}'
http "image: base64 of text" "400 415" "${A[@]}" "${J[@]}" "$URL/api/v1/chat" -d '{"question":"hi","image":"aGVsbG8gd29ybGQ="}'
http "image: PNG claiming 100000x100000" "400 413 415" "${A[@]}" "${J[@]}" "$URL/api/v1/chat" -d '{"question":"hi","image":"'"$(base64 -w0 "$tmp/bomb.png")"'"}'
head -c 2000000 /dev/urandom > "$tmp/big.bin"
http "body over the limit (2 MB, limit 1 MB images)" 413 "${A[@]}" -F "image=@$tmp/big.bin" -F question=hi "$URL/api/v1/chat"
http "Content-Length 10 GB announced" 413 "${A[@]}" "${J[@]}" -H "Content-Length: 10000000000" "$URL/api/v1/chat" --data-binary '{}'
http "multipart without question" 400 "${A[@]}" -F "image=@$I" "$URL/api/v1/chat"
http "unknown route" 404 "${A[@]}" "$URL/no/such/route"
http "wrong method (DELETE)" "404 405" "${A[@]}" -X DELETE "$URL/api/v1/chat"
http "max_pixels 1e12" 400 "${A[@]}" "${J[@]}" "$URL/api/v1/chat" -d '{"question":"hi","image":"'"$png64"'","max_pixels":1e12}'
http "prompt longer than the context" "400 413" "${A[@]}" "${J[@]}" "$URL/api/v1/chat" -d '{"question":"'"$(printf 'word %.0s' $(seq 6000))"'"}'
# one slot, no queue: a second request while the first runs is turned away
curl -s -m 60 "${A[@]}" "${J[@]}" "$URL/v1/chat/completions" -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":2000,"ignore_eos":true}' > /dev/null &
cpid=$!
sleep 0.5
http "server full (1 slot, --max-queue 0)" "429 503" "${A[@]}" "${J[@]}" "$URL/api/v1/chat" -d '{"question":"hi"}'
kill $cpid 2>/dev/null; wait $cpid 2>/dev/null
# the client left: its slot frees within moments (checked by the API tests)
for _ in $(seq 100); do
    curl -s "${A[@]}" "$URL/health" | grep -q '"busy": *0' && break; sleep 0.05
done
http "a valid question still answered after all that" 200 "${A[@]}" "${J[@]}" "$URL/api/v1/chat" -d '{"question":"hi","max_tokens":2}'
kill -TERM $pid; wait $pid; rc=$?
row "SIGTERM after the faults" "exit 0" "exit $rc" $([ $rc -eq 0 ] && echo 1 || echo 0)

# ---- a client that disconnects at every phase, for each API (its own server: one slot and a queue) ----
while IFS=$'\t' read -r what want got ok; do row "$what" "$want" "$got" "$ok"; done \
    < <(python3 "$(dirname "$0")/disconnect.py" "$QVL" "$M" || printf 'disconnect sweep\truns\tthe sweep failed\t0\n')
# ---- the memory budget (--max-memory) ----
python3 - "$tmp" <<'PY'
import struct, sys, zlib
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
for name, side in (("mid", 1024), ("large", 1536), ("huge", 4000)):   # gradients: small files, many pixels
    row = bytes((x * 3 + c * 50) & 255 for x in range(side) for c in range(3))
    shift = [bytes((v + y) & 255 for v in range(256)) for y in range(256)]
    raw = b"".join(b"\0" + row.translate(shift[y & 255]) for y in range(side))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
    open(f"{sys.argv[1]}/{name}.png", "wb").write(png + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
cli "ask: question over --max-memory (4000x4000 at full detail: ~1 GiB)" error \
    $QVL ask -m "$M" --image "$tmp/huge.png" --max-pixels 16777216 --max-memory 800M hi
cli "serve: --max-memory below what the model holds" error $QVL serve -m "$M" --port 0 --max-memory 20M
cli "serve: --max-memory 6X" error $QVL serve -m "$M" --port 0 --max-memory 6X
# start_budget MAX: a 2-slot server without OCR or caches; sets URL and pid
start_budget() {
    "$QVL" serve --model "$M" --port 0 --parallel 2 --threads 2 --no-ocr --image-cache-mb 0 --max-conversations 1 \
        --max-pixels 16777216 --max-memory "$1" > "$tmp/mem.out" 2> "$tmp/mem.err" &
    pid=$!
    for _ in $(seq 100); do
        URL=$(sed -n 's/.*ready on \(http:[^ ]*\) .*/\1/p' "$tmp/mem.out"); [ -n "$URL" ] && break; sleep 0.1
    done
}
start_budget 4G
base=$(curl -s "$URL/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["memory"]["base_bytes"])')
kill $pid; wait $pid
budget=$((base + (90 << 20)))   # 90 MiB for requests: a 1024x1024 at full detail needs ~60, a 1536x1536 ~127
start_budget $budget
body() { printf '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,%s"}}]}],"max_tokens":2}' "$(base64 -w0 "$1")"; }
body "$tmp/large.png" > "$tmp/large.json"
body "$tmp/mid.png" > "$tmp/mid.json"
http "budget: a request that never fits (1536x1536 at full detail, 90 MiB left)" 413 "${J[@]}" "$URL/v1/chat/completions" -d @"$tmp/large.json"
echo 5 > /proc/$pid/clear_refs   # peak RSS from here
curl -s -o /dev/null -w '%{http_code} ' "${J[@]}" "$URL/v1/chat/completions" -d @"$tmp/mid.json" > "$tmp/c1" & c1=$!
curl -s -o /dev/null -w '%{http_code} ' "${J[@]}" "$URL/v1/chat/completions" -d @"$tmp/mid.json" > "$tmp/c2" & c2=$!
wait $c1 $c2
waits=$(curl -s "$URL/metrics" | awk '$1 == "qvl_memory_waits_total" {print $2}')
codes="$(cat "$tmp/c1" "$tmp/c2")"
row "budget: two requests that fit one at a time (2 slots)" "200 200, one waits" "${codes}waited: $waits" \
    $([ "$codes" = "200 200 " ] && [ "${waits:-0}" -ge 1 ] && echo 1 || echo 0)
hwm=$(awk '/^VmHWM/ {print $2 * 1024}' /proc/$pid/status)
if ldd "$QVL" | grep -q libasan; then   # ASan's shadow and quarantine are resident but not qvl's to count
    echo "SKIP fault: budget: peak RSS under the budget: an ASan build"
else
    row "budget: peak RSS while they ran" "under the budget" "$((hwm >> 20)) MiB of $((budget >> 20)) MiB" \
        $([ "$hwm" -le "$budget" ] && echo 1 || echo 0)
fi
kill -TERM $pid; wait $pid

mkdir -p "$(dirname "$out")"
{
    echo "# Faults and bad inputs tried"
    echo
    echo "Generated by \`tests/faults/run.sh\` (run by \`make test\`) on the tiny test model; each row"
    echo "is one fault, what a user should get, and what qvl did."
    echo
    echo "| fault | expected | observed | as expected |"
    echo "|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
} > "$out"
echo "faults: ${#rows[@]} tried, $n_bad not as expected ($out)"
[ $n_bad -eq 0 ] && exit $fail || exit 1
