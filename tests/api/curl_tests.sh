#!/bin/bash
# curl_tests.sh URL QVL TMPDIR - HTTP-level checks against a running
# `qvl serve` (started by tests/cli/test_server.sh with --max-image-mb 1):
# every error is JSON with the right status, limits hold, multipart and SSE
# work; then a second server checks the API key, CORS and the time limit.
set -u
URL=$1 QVL=$2 tmp=$3
TD=${QVL_TESTDATA:-../shared/testdata}
IMG=$TD/images/img_256x256.png
fail=0

# expect NAME STATUS 'jq-free grep pattern' CURL-ARGS... : checks the status
# and that the body matches the pattern.
expect() {
    local name=$1 want=$2 pat=$3; shift 3
    local got
    got=$(curl -s -o "$tmp/body" -w '%{http_code}' "$@")
    if [ "$got" != "$want" ] || { [ -n "$pat" ] && ! grep -q -- "$pat" "$tmp/body"; }; then
        echo "FAIL: $name: status $got (want $want), body: $(head -c 300 "$tmp/body")"
        fail=1
    fi
}
JSON=(-H 'Content-Type: application/json')
ERR='"error":{"message":'

# Routing and methods
expect "unknown route" 404 "$ERR" "$URL/v2/nothing"
expect "wrong method" 405 "$ERR" -X DELETE "$URL/v1/chat/completions"
expect "GET on a POST route" 405 "$ERR" "$URL/api/v1/chat"
expect "health" 200 '"status":"ok"' "$URL/health"
expect "health shows the test model" 200 '"test_model":true' "$URL/health"
expect "health gives the detail levels" 200 '"detail":{"low":75000,"default":300000,"high":1200000,"maximum":16777216}' "$URL/health"
expect "page" 200 '<title>' "$URL/"
expect "script" 200 'renderMarkdown' "$URL/app.js"
expect "CORS preflight" 204 '' -X OPTIONS "$URL/v1/chat/completions"

# Bodies
expect "broken JSON" 400 'not valid JSON' "${JSON[@]}" -d '{"messages": [' "$URL/v1/chat/completions"
expect "empty body" 400 'empty' "${JSON[@]}" -X POST "$URL/v1/chat/completions"
expect "JSON array body" 400 'JSON object' "${JSON[@]}" -d '[]' "$URL/api/v1/chat"
expect "wrong content type" 415 'Content-Type' -H 'Content-Type: application/xml' -d '<x/>' "$URL/v1/chat/completions"
expect "no messages" 400 "'messages'" "${JSON[@]}" -d '{}' "$URL/v1/chat/completions"
expect "bad role" 400 'role' "${JSON[@]}" -d '{"messages":[{"role":"wizard","content":"x"}]}' "$URL/v1/chat/completions"
expect "temperature out of range" 400 'temperature' "${JSON[@]}" \
    -d '{"messages":[{"role":"user","content":"x"}],"temperature":9}' "$URL/v1/chat/completions"
expect "max_tokens over the context" 400 'max_tokens' "${JSON[@]}" \
    -d '{"messages":[{"role":"user","content":"x"}],"max_tokens":100000}' "$URL/v1/chat/completions"
expect "stop of wrong type" 400 'stop' "${JSON[@]}" \
    -d '{"messages":[{"role":"user","content":"x"}],"stop":[1]}' "$URL/v1/chat/completions"
expect "question missing" 400 'question' "${JSON[@]}" -d '{"image":""}' "$URL/api/v1/chat"
expect "unknown conversation" 400 'conversation_id' "${JSON[@]}" \
    -d '{"question":"q","conversation_id":"0123"}' "$URL/api/v1/chat"
expect "bad mode" 400 'mode' "${JSON[@]}" -d '{"question":"q","mode":"magic"}' "$URL/api/v1/chat"
# over the body limit: 8 images of --max-image-mb 1 as base64, plus 1 MB
head -c 14000000 /dev/zero | tr '\0' 'a' > "$tmp/big.txt"
expect "huge body (Content-Length)" 413 'larger than the limit' "${JSON[@]}" --data-binary @"$tmp/big.txt" "$URL/api/v1/chat"
expect "huge body (chunked)" 413 'larger than the limit' "${JSON[@]}" -H 'Transfer-Encoding: chunked' \
    --data-binary @"$tmp/big.txt" "$URL/api/v1/chat"
long=$(head -c 30000 /dev/zero | tr '\0' 'x' | sed 's/x/word /g')
printf '{"question":"%s"}' "$long" > "$tmp/long.json"
expect "prompt longer than the context" 413 'context' "${JSON[@]}" --data-binary @"$tmp/long.json" "$URL/api/v1/chat"

# Images
b64=$(base64 -w0 "$IMG")
printf '{"question":"what is it?","image":"data:image/png;base64,%s","max_tokens":3}' "$b64" > "$tmp/img.json"
expect "image as data URL" 200 '"response":' "${JSON[@]}" --data-binary @"$tmp/img.json" "$URL/api/v1/chat"
printf '{"question":"what is it?","image":"%s","max_tokens":3}' "$b64" > "$tmp/img.json"
expect "image as bare base64" 200 '"timestamp":"20' "${JSON[@]}" --data-binary @"$tmp/img.json" "$URL/api/v1/chat"
printf '{"question":"q","image":"data:image/jpeg;base64,%s"}' "$b64" > "$tmp/img.json"
expect "declared type disagrees" 415 'image/png' "${JSON[@]}" --data-binary @"$tmp/img.json" "$URL/api/v1/chat"
expect "bad base64" 400 'base64' "${JSON[@]}" -d '{"question":"q","image":"data:image/png;base64,@@@@"}' "$URL/api/v1/chat"
expect "not an image" 415 'not a supported image' "${JSON[@]}" \
    -d "{\"question\":\"q\",\"image\":\"$(echo 'just some text here' | base64 -w0)\"}" "$URL/api/v1/chat"
expect "http image URL refused" 400 'data URL' "${JSON[@]}" \
    -d '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"http://example.com/a.png"}}]}]}' \
    "$URL/v1/chat/completions"
head -c 1200000 /dev/urandom > "$tmp/rand.bin"
printf '\x89PNG\r\n\x1a\n' | cat - "$tmp/rand.bin" > "$tmp/bigimg.png"
printf '{"question":"q","image":"%s"}' "$(base64 -w0 "$tmp/bigimg.png")" > "$tmp/img.json"
expect "image over --max-image-mb" 413 'larger than the limit' "${JSON[@]}" --data-binary @"$tmp/img.json" "$URL/api/v1/chat"
printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR' > "$tmp/trunc.png"
printf '{"question":"q","image":"%s"}' "$(base64 -w0 "$tmp/trunc.png")" > "$tmp/img.json"
expect "truncated image" 400 'error' "${JSON[@]}" --data-binary @"$tmp/img.json" "$URL/api/v1/chat"

# A 12-megapixel photo at full detail would be ~11,800 image tokens: refused
# with the numbers before the vision encoder runs (in well under the seconds
# an encode takes), and answered at a CPU-sized max_pixels.
convert -size 4032x3024 gradient:tan-navy -quality 80 "$tmp/photo.jpg"
printf '{"question":"q","image":"%s","max_tokens":2,"max_pixels":16777216}' "$(base64 -w0 "$tmp/photo.jpg")" > "$tmp/img.json"
start=$(date +%s%N)
expect "photo over the context" 413 'lower max_pixels' "${JSON[@]}" --data-binary @"$tmp/img.json" "$URL/api/v1/chat"
ms=$((($(date +%s%N) - start) / 1000000))
[ $ms -lt 5000 ] || { echo "FAIL: the context check took $ms ms: it must come before the encode"; fail=1; }
grep -q 'image tokens' "$tmp/body" || { echo "FAIL: the 413 does not give the numbers: $(head -c 300 "$tmp/body")"; fail=1; }
printf '{"question":"q","image":"%s","max_tokens":2,"max_pixels":200000}' "$(base64 -w0 "$tmp/photo.jpg")" > "$tmp/img.json"
expect "photo at max_pixels 200000" 200 '"response"' "${JSON[@]}" --data-binary @"$tmp/img.json" "$URL/api/v1/chat"

# The Ollama API: its error shape ({"error": "..."}) also for what the router
# refuses, and NDJSON streaming by default (tests/api/ollama.test.mjs drives
# its npm client).
OERR='{"error":"'
MODEL=$(curl -s "$URL/api/tags" | sed -n 's/.*"name":"\([^"]*\)".*/\1/p')
expect "Ollama: other routes" 404 "${OERR}POST /api/pull is not part" "${JSON[@]}" -d '{"model":"x"}' "$URL/api/pull"
expect "Ollama: wrong method" 405 "${OERR}method GET" "$URL/api/chat"
expect "Ollama: huge body" 413 "${OERR}the request body is larger" "${JSON[@]}" --data-binary @"$tmp/big.txt" \
    "$URL/api/chat"
printf '{"model":"%s","prompt":"q","images":["%s"]}' "$MODEL" "$(base64 -w0 "$tmp/bigimg.png")" > "$tmp/img.json"
expect "Ollama: image over --max-image-mb" 413 "${OERR}image 1" "${JSON[@]}" --data-binary @"$tmp/img.json" \
    "$URL/api/generate"
curl -s -D "$tmp/nd.head" -o "$tmp/nd.body" "${JSON[@]}" "$URL/api/chat" \
    -d "{\"model\":\"$MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"options\":{\"num_predict\":3}}"
grep -qi '^content-type: application/x-ndjson' "$tmp/nd.head" && [ "$(grep -c '"done":false' "$tmp/nd.body")" -ge 1 ] &&
    [ "$(tail -n 1 "$tmp/nd.body" | grep -c '"done":true,"done_reason"')" = 1 ] ||
    { echo "FAIL: /api/chat does not stream NDJSON by default: $(head -c 300 "$tmp/nd.head" "$tmp/nd.body")"; fail=1; }

# A client that sends half a request holds a connection, not a slot.
port=${URL##*:}
exec 3<> "/dev/tcp/127.0.0.1/$port"
printf 'POST /api/v1/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"qu' >&3
expect "served beside a stalled upload" 200 '"response":' -m 10 "${JSON[@]}" -d '{"question":"hi","max_tokens":2}' \
    "$URL/api/v1/chat"
exec 3>&-

# Multipart
expect "multipart upload" 200 '"response":' -F image=@"$IMG" -F question='这是什么？' -F max_tokens=3 "$URL/api/v1/chat"
echo "plain text" > "$tmp/note.txt"
expect "multipart non-image" 415 'not a supported image' -F image=@"$tmp/note.txt" -F question=q "$URL/api/v1/chat"
expect "multipart wrong declared type" 415 'declared' -F "image=@$IMG;type=image/webp" -F question=q "$URL/api/v1/chat"
expect "multipart bad number" 400 'max_tokens' -F question=q -F max_tokens=lots "$URL/api/v1/chat"

# OCR fast path: reading questions go to OCR, others to the model; "mode" forces a route
OCRIMG=tests/ocr/set/doc_en_01_clean.png
expect "OCR answers a reading question" 200 '"route":"ocr"' -F image=@"$OCRIMG" \
    -F question='Extract the text in this image' "$URL/api/v1/chat"
grep -q 'closed on public holidays' "$tmp/body" || { echo "FAIL: OCR text missing: $(head -c 200 "$tmp/body")"; fail=1; }
expect "model answers other questions" 200 '"route":"vlm"' -F image=@"$OCRIMG" -F question='Is it sunny?' \
    -F max_tokens=2 "$URL/api/v1/chat"
expect "mode forces the model" 200 '"route":"vlm"' -F image=@"$OCRIMG" -F question='Extract the text' -F mode=vlm \
    -F max_tokens=2 "$URL/api/v1/chat"
expect "ocr+vlm" 200 '"route":"ocr+vlm"' -F image=@"$OCRIMG" -F question='Summarise' -F mode=ocr+vlm \
    -F max_tokens=2 "$URL/api/v1/chat"
expect "mode ocr needs an image" 400 'image' "${JSON[@]}" -d '{"question":"read it","mode":"ocr"}' "$URL/api/v1/chat"
printf '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,%s"}},{"type":"text","text":"OCR this"}]}]}' \
    "$(base64 -w0 "$OCRIMG")" > "$tmp/ocr.json"
expect "OpenAI endpoint routes too" 200 '"route":"ocr"' "${JSON[@]}" --data-binary @"$tmp/ocr.json" \
    "$URL/v1/chat/completions"

# Photographed pages (issue 17): an upside-down page is turned and read; noise is not served as text
expect "upside-down page read" 200 '"rotation":180' -F image=@tests/ocr/photo/rot180_en.png \
    -F question='Extract the text' "$URL/api/v1/chat"
grep -q '"route":"ocr"' "$tmp/body" && grep -q 'Turn off the lights' "$tmp/body" ||
    { echo "FAIL: upside-down page: $(head -c 300 "$tmp/body")"; fail=1; }
convert -size 320x240 xc: -seed 7 +noise Random "$tmp/noise.png"
expect "noise falls back to the model" 200 '"ocr_fallback":true' -F image=@"$tmp/noise.png" \
    -F question='Extract the text' -F max_tokens=2 "$URL/api/v1/chat"
grep -q '"trusted":false' "$tmp/body" || { echo "FAIL: noise reading trusted: $(head -c 300 "$tmp/body")"; fail=1; }

# PDF (written here; no cross-reference table, so the reader rebuilds it): pages and text layers
pdf_page() {   # $1 = object number of the page, $2 = of its content, $3 = the text
    printf '%d 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>\nendobj\n' "$1" "$2"
    local ops="BT /F1 14 Tf 72 720 Td ($3) Tj ET"
    printf '%d 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n' "$2" "${#ops}" "$ops"
}
{
    printf '%%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >> >>\nendobj\n'
    printf '2 0 obj\n<< /Type /Pages /Kids [4 0 R 6 0 R] /Count 2 >>\nendobj\n'
    printf '3 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n'
    pdf_page 4 5 'First page of the contract'
    pdf_page 6 7 'Second page signed in Paris'
    printf 'trailer\n<< /Root 1 0 R >>\n%%%%EOF\n'
} > "$tmp/doc.pdf"
expect "PDF: text layer of page 2" 200 '"response":"Second page signed in Paris"' -F image=@"$tmp/doc.pdf" \
    -F question='Extract the text' -F pages=2 "$URL/api/v1/chat"
expect "PDF: all pages by default" 200 '--- page 1 ---\\nFirst page of the contract\\n\\n--- page 2 ---\\nSecond page' \
    -F image=@"$tmp/doc.pdf" -F question='Extract the text' "$URL/api/v1/chat"
expect "PDF: a page past the end" 400 'the document has 2 pages' -F image=@"$tmp/doc.pdf" \
    -F question='Extract the text' -F pages=3 "$URL/api/v1/chat"
expect "PDF: a bad page selection" 400 "'pages' must be" "${JSON[@]}" -d '{"question":"read","pages":[1]}' \
    "$URL/api/v1/chat"
expect "PDF: the model sees every page" 200 '"images":2' -F image=@"$tmp/doc.pdf" -F question='Is it signed?' \
    -F max_tokens=2 -F max_pixels=50000 "$URL/api/v1/chat"
grep -q '"route":"vlm"' "$tmp/body" || { echo "FAIL: PDF question not answered by the model"; fail=1; }
{
    printf '%%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n'
    printf '2 0 obj\n<< /Type /Pages /Kids [4 0 R 6 0 R 8 0 R 10 0 R 12 0 R 14 0 R 16 0 R 18 0 R 20 0 R] /Count 9 >>\nendobj\n'
    printf '3 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n'
    for k in 1 2 3 4 5 6 7 8 9; do pdf_page $((2 * k + 2)) $((2 * k + 3)) "Page $k"; done
    printf 'trailer\n<< /Root 1 0 R >>\n%%%%EOF\n'
} > "$tmp/nine.pdf"
expect "PDF: more pages than a question takes" 413 "choose the pages it should read with 'pages'" \
    -F image=@"$tmp/nine.pdf" -F question='Is it signed?' -F max_tokens=2 "$URL/api/v1/chat"
expect "PDF: pages picks within the limit" 200 '"images":2' -F image=@"$tmp/nine.pdf" -F question='Is it signed?' \
    -F max_tokens=2 -F max_pixels=50000 -F pages=8-9 "$URL/api/v1/chat"
expect "PDF: OCR reads every page past the limit" 200 '--- page 9 ---\\nPage 9' -F image=@"$tmp/nine.pdf" \
    -F question='Extract the text' "$URL/api/v1/chat"
img64=$(base64 -w0 tests/ocr/photo/rot180_en.png)
parts=$(for k in 1 2 3 4 5 6 7 8 9; do printf '{"type":"image_url","image_url":{"url":"data:image/png;base64,%s"}},' "$img64"; done)
printf '{"messages":[{"role":"user","content":[%s{"type":"text","text":"hi"}]}],"max_tokens":2}' "$parts" > "$tmp/nine.json"
expect "OpenAI: at most 8 images a question" 400 'more than 8 images' "${JSON[@]}" --data-binary @"$tmp/nine.json" \
    "$URL/v1/chat/completions"
printf '{"model":"%s","messages":[{"role":"user","content":"hi","images":[%s]}],"stream":false}' "$MODEL" \
    "$(for k in 1 2 3 4 5 6 7 8 9; do printf '"%s"%s' "$img64" "$([ $k -lt 9 ] && echo ,)"; done)" > "$tmp/nine_ollama.json"
expect "Ollama: at most 8 images a question" 400 'more than 8 images' "${JSON[@]}" \
    --data-binary @"$tmp/nine_ollama.json" "$URL/api/chat"
printf '{"image":"%s"}' "$(base64 -w0 "$tmp/nine.pdf")" > "$tmp/pages.json"
expect "PDF: page thumbnails for the web page" 200 '"pages":9,"thumbnails":\[{"page":1,"width":' "${JSON[@]}" \
    --data-binary @"$tmp/pages.json" "$URL/api/v1/pages"
[ "$(grep -o '"rgb"' "$tmp/body" | wc -l)" = 9 ] || { echo "FAIL: not 9 thumbnails"; fail=1; }
printf '{"image":"%s"}' "$(base64 -w0 tests/ocr/photo/rot180_en.png)" > "$tmp/pages.json"
expect "an ordinary image has no page thumbnails" 200 '"pages":1,"thumbnails":\[\]' "${JSON[@]}" \
    --data-binary @"$tmp/pages.json" "$URL/api/v1/pages"
expect "page thumbnails need an image" 400 "'image' must be" "${JSON[@]}" -d '{}' "$URL/api/v1/pages"
head -c 200 "$tmp/doc.pdf" > "$tmp/cut.pdf"
expect "PDF: truncated" 400 'PDF' -F image=@"$tmp/cut.pdf" -F question='Extract the text' "$URL/api/v1/chat"

# SSE framing: events, a final event, [DONE] for the OpenAI route
curl -sN "${JSON[@]}" -d '{"question":"hi","stream":true,"max_tokens":5}' "$URL/api/v1/chat" > "$tmp/sse1"
grep -q '^data: {"text":' "$tmp/sse1" && grep -q '"done":true' "$tmp/sse1" || { echo "FAIL: simple SSE"; cat "$tmp/sse1"; fail=1; }
curl -sN -D "$tmp/hdr" "${JSON[@]}" -d '{"messages":[{"role":"user","content":"hi"}],"stream":true,"max_tokens":5}' \
    "$URL/v1/chat/completions" > "$tmp/sse2"
grep -qi '^content-type: text/event-stream' "$tmp/hdr" || { echo "FAIL: SSE content type"; fail=1; }
[ "$(tail -n 2 "$tmp/sse2" | head -n 1)" = "data: [DONE]" ] || { echo "FAIL: no [DONE] last"; cat "$tmp/sse2"; fail=1; }
grep -q '"usage":{"prompt_tokens":' "$tmp/sse2" || { echo "FAIL: no usage in the stream"; fail=1; }
curl -s "$URL/metrics" > "$tmp/metrics"
for m in qvl_http_responses_total qvl_generated_tokens_total qvl_queue_length qvl_time_to_first_token_seconds_bucket \
         qvl_image_encode_seconds_count qvl_resident_memory_bytes qvl_conversations qvl_conversation_bytes; do
    grep -q "^$m" "$tmp/metrics" || { echo "FAIL: /metrics lacks $m"; fail=1; }
done
grep -q '^qvl_images_total [1-9]' "$tmp/metrics" || { echo "FAIL: images not counted"; fail=1; }

# A second server: API keys (one given, two from a file), CORS origin, a 1 s
# time limit, a queue of 0.
printf '# one key per client\nteam-a-0001\n\n  team-b-0002  \n' > "$tmp/keys"
"$QVL" serve --model "$tmp/tiny" --port 0 --api-key s3cret --api-key-file "$tmp/keys" --cors https://example.org \
    --timeout 1 --max-queue 0 > "$tmp/key.out" 2> "$tmp/key.err" &
kpid=$!
for _ in $(seq 1 200); do grep -qs 'ready on' "$tmp/key.out" && break; sleep 0.05; done
K=$(sed -n 's/.*ready on \(http:[^ ]*\) .*/\1/p' "$tmp/key.out")
expect "no key" 401 'API key' "${JSON[@]}" -d '{"question":"q"}' "$K/api/v1/chat"
expect "wrong key" 401 'API key' -H 'Authorization: Bearer nope' "$K/v1/models"
expect "right key" 200 '"object":"list"' -H 'Authorization: Bearer s3cret' "$K/v1/models"
expect "X-API-Key header" 200 '"object":"list"' -H 'X-API-Key: s3cret' "$K/v1/models"
expect "a key from the file" 200 '"object":"list"' -H 'Authorization: Bearer team-a-0001' "$K/v1/models"
expect "another key from the file" 200 '"object":"list"' -H 'X-API-Key: team-b-0002' "$K/v1/models"
expect "a file key's prefix" 401 'API key' -H 'Authorization: Bearer team-b-000' "$K/v1/models"
expect "metrics need a key" 401 'API key' "$K/metrics"
expect "health needs no key" 200 '"ok"' "$K/health"
expect "Ollama: no key" 401 "${OERR}missing or wrong API key" "${JSON[@]}" -d '{}' "$K/api/chat"
expect "Ollama: version needs no key" 200 '"version"' "$K/api/version"
curl -s -D "$tmp/cors" -o /dev/null "$K/health"
grep -qi '^access-control-allow-origin: https://example.org' "$tmp/cors" || { echo "FAIL: CORS header"; fail=1; }
AUTH=(-H 'Authorization: Bearer s3cret')
# Past the limit: the partial answer (200, finish "timeout"), or 504 when no
# text came out in time (a slow machine, a sanitizer build).
t0=$(date +%s.%N)
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "${AUTH[@]}" "${JSON[@]}" \
       -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":4000}' "$K/v1/chat/completions")
{ [ "$code" = 200 ] && grep -q '"finish":"timeout"' "$tmp/body"; } ||
    { [ "$code" = 504 ] && grep -q "server's limit of 1 s" "$tmp/body"; } ||
    { echo "FAIL: time limit: status $code, body: $(head -c 300 "$tmp/body")"; fail=1; }
[ "$(echo "$(date +%s.%N) - $t0 < 3" | bc)" = 1 ] || { echo "FAIL: the 1 s time limit did not stop the request"; fail=1; }
curl -sN "${AUTH[@]}" "${JSON[@]}" -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":4000,"stream":true}' \
    "$K/v1/chat/completions" > /dev/null &
bpid=$!
sleep 0.3
expect "queue full" 503 'busy' "${AUTH[@]}" "${JSON[@]}" -d '{"question":"q"}' "$K/api/v1/chat"
expect "queue full (Ollama)" 503 "${OERR}" "${AUTH[@]}" "${JSON[@]}" -d "{\"model\":\"$MODEL\",\"prompt\":\"q\"}" \
    "$K/api/generate"
wait $bpid
kill -TERM $kpid; wait $kpid 2>/dev/null

exit $fail
