#!/bin/bash
# qvl batch end to end on the tiny model: the right records for good, corrupt,
# non-image and nested files; kill -9 in the middle then --resume gives exactly
# one record per (image, question) and valid JSONL; a full disk stops the run
# with the file whole; CSV output parses; --schema answers are JSON that
# follows the schema.
set -u
. "$(dirname "$0")/../lib/cli_common.sh"
pid=0
cleanup_hooks+=('kill -9 $pid 2>/dev/null')

$QVL make-test-model --config tiny --out "$tmp/m" 2>/dev/null
mkdir -p "$tmp/imgs/nested/deeper"
cp $TD/images/img_256x256.png "$tmp/imgs/a.png"
cp $TD/images/img_320x256.png "$tmp/imgs/nested/deeper/b.data"      # an image by its bytes, not its name
head -c 300 $TD/images/img_512x384.png > "$tmp/imgs/c.png"         # corrupt
echo "not an image" > "$tmp/imgs/notes.png"                         # not an image, whatever its name
$QVL batch -m "$tmp/m" --mode vlm --images "$tmp/imgs" -q "What is this?" -q "Describe it, briefly." \
    --out "$tmp/r.jsonl" -n 4 --max-pixels 65536 2>"$tmp/log"
check "batch exit status" "[ $? -eq 0 ]"
check "6 records (3 images x 2 questions)" "[ \$(wc -l < $tmp/r.jsonl) -eq 6 ]"
check "corrupt image recorded as an error" "grep -q '\"path\":\"$tmp/imgs/c.png\".*\"error\":\"[^\"]*corrupt' $tmp/r.jsonl"
check "nested image found by its bytes" "grep -q 'deeper/b.data' $tmp/r.jsonl"
check "non-image skipped" "! grep -q notes.png $tmp/r.jsonl"
check "summary printed" "grep -q '6 records written (2 errors)' $tmp/log"
check "second run without --resume refused" "! $QVL batch -m $tmp/m --images $tmp/imgs -q x --out $tmp/r.jsonl 2>/dev/null"

# kill -9 in the middle, then resume
for i in $(seq 1 5); do cp $TD/images/img_256x256.png "$tmp/imgs/k$i.png"; done
$QVL batch -m "$tmp/m" --mode vlm --images "$tmp/imgs" -q "Q1" -q "Q2" --out "$tmp/k.jsonl" -n 24 \
    --no-loop-check 2>/dev/null &
pid=$!
for i in $(seq 1 100); do [ -s "$tmp/k.jsonl" ] && [ $(wc -l < "$tmp/k.jsonl") -ge 3 ] && break; sleep 0.1; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
before=$(wc -l < "$tmp/k.jsonl")
check "killed mid-run (some, not all records)" "[ $before -ge 1 ] && [ $before -lt 16 ]"
$QVL batch -m "$tmp/m" --mode vlm --images "$tmp/imgs" -q "Q1" -q "Q2" --out "$tmp/k.jsonl" -n 24 \
    --no-loop-check --resume 2>/dev/null
check "resume finished: 8 images x 2 questions" "[ \$(wc -l < $tmp/k.jsonl) -eq 16 ]"
check "exactly one record per pair" "[ \$(python3 -c 'import json,sys; print(len({(r[\"path\"],r[\"question\"]) for r in map(json.loads, open(sys.argv[1]))}))' $tmp/k.jsonl) -eq 16 ]"

# The disk fills up (a 1 KB file size limit stands in for it): the run stops
# with a clear error and a non-zero status, the file ends with the last
# complete record, and --resume finishes once there is room.
(ulimit -f 1; trap '' XFSZ
 exec $QVL batch -m "$tmp/m" --mode vlm --images "$tmp/imgs" -q "Q1" -q "Q2" --out "$tmp/full.jsonl" -n 40 \
    --no-loop-check) 2> "$tmp/full.log"
check "disk full: non-zero exit" "[ $? -ne 0 ]"
check "disk full: says so and what to do" "grep -q 'write failed.*--resume' $tmp/full.log"
check "disk full: every line of the file is a whole record" \
    "python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' $tmp/full.jsonl"
$QVL batch -m "$tmp/m" --mode vlm --images "$tmp/imgs" -q "Q1" -q "Q2" --out "$tmp/full.jsonl" -n 40 \
    --no-loop-check --resume 2>/dev/null
check "disk full, then --resume: one record per pair" "[ \$(python3 -c 'import json,sys; print(len({(r[\"path\"],r[\"question\"]) for r in map(json.loads, open(sys.argv[1]))}))' $tmp/full.jsonl) -eq 16 ] && [ \$(wc -l < $tmp/full.jsonl) -eq 16 ]"

# CSV parses with a real CSV reader and holds what the JSONL run held
$QVL batch -m "$tmp/m" --mode vlm --images "$tmp/imgs/a.png" -q 'Say "hi", then list: a, b' --out "$tmp/r.csv" -n 4 2>/dev/null
check "csv parses: header + 1 record, question intact" \
    "python3 -c 'import csv,sys; r=list(csv.reader(open(sys.argv[1], newline=\"\"))); assert len(r)==2 and r[1][1]==\"Say \\\"hi\\\", then list: a, b\" and r[0][0]==\"path\"' $tmp/r.csv"

# --schema: every answer is JSON that follows the schema (temperature 1: whatever the weights)
printf '{"type":"object","properties":{"color":{"enum":["red","blue"]},"count":{"type":"integer","minimum":0,"maximum":9}},"required":["color","count"]}' > "$tmp/schema.json"
$QVL batch -m "$tmp/m" --mode vlm --images "$tmp/imgs/a.png" -q "Color?" -q "Count?" --temperature 1 \
    --schema "$tmp/schema.json" --out "$tmp/s.jsonl" -n 64 --max-pixels 65536 2>/dev/null
check "batch --schema: 2 answers that parse and follow the schema" \
    "python3 -c 'import json,sys; rs=[json.loads(json.loads(l)[\"answer\"]) for l in open(sys.argv[1])]; assert len(rs)==2 and all(r[\"color\"] in (\"red\",\"blue\") and 0<=r[\"count\"]<=9 for r in rs)' $tmp/s.jsonl"
$QVL batch -m "$tmp/m" --images "$tmp/imgs/a.png" -q x --schema /nonexistent.json --out "$tmp/bad.jsonl" 2>"$tmp/bad.log"
check "batch --schema with a missing file exits 2 and says why" "[ $? -eq 2 ] && grep -q nonexistent $tmp/bad.log"

# A PDF gives one record per page: the text layer answers "extract the text" page by page; resumable
mkdir -p "$tmp/docs"
{
    printf '%%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n'
    printf '2 0 obj\n<< /Type /Pages /Kids [4 0 R 6 0 R] /Count 2 >>\nendobj\n'
    printf '3 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n'
    for p in "4 5 Alpha page" "6 7 Beta page"; do
        set -- $p
        printf '%d 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>\nendobj\n' "$1" "$2"
        ops="BT /F1 14 Tf 72 720 Td ($3 $4) Tj ET"
        printf '%d 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n' "$2" "${#ops}" "$ops"
    done
    printf 'trailer\n<< /Root 1 0 R >>\n%%%%EOF\n'
} > "$tmp/docs/two.pdf"
$QVL batch -m "$tmp/m" --images "$tmp/docs" -q "Extract the text" --out "$tmp/d.jsonl" 2>/dev/null
check "PDF: one record per page with its page number and text" \
    "python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; assert [(x[\"page\"],x[\"answer\"],x[\"route\"]) for x in r]==[(1,\"Alpha page\",\"ocr\"),(2,\"Beta page\",\"ocr\")], r' $tmp/d.jsonl"
$QVL batch -m "$tmp/m" --images "$tmp/docs" -q "Extract the text" --out "$tmp/d.jsonl" --resume 2>/dev/null
check "PDF: resume redoes no page" "[ \$(wc -l < $tmp/d.jsonl) -eq 2 ]"
exit $fail
