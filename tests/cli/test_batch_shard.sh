#!/bin/bash
# qvl batch across machines: --shard I/N splits the images into disjoint
# shares whose union is the whole batch, the same wherever the folder is
# mounted; --merge joins the shard files into what one run would have
# written (same pairs, same answers, same order), each pair once, and
# refuses what it cannot merge.
set -u
. "$(dirname "$0")/../lib/cli_common.sh"
$QVL make-test-model --config tiny --out "$tmp/m" 2>/dev/null
mkdir -p "$tmp/imgs/sub"
for i in 1 2 3 4 5 6 7 8 9; do cp "$TD/images/img_256x256.png" "$tmp/imgs/a$i.png"; done
cp "$TD/images/img_300x200.png" "$tmp/imgs/sub/b.png"
run() { $QVL batch -m "$tmp/m" --mode vlm -q "What is this?" -q "Colour?" -n 2 --max-pixels 65536 "$@" 2>>"$tmp/log"; }
# the (path, question, answer) of each record, in file order
pairs() { python3 -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l); print(r["path"], "|", r["question"], "|", r["answer"])' "$1"; }

run --images "$tmp/imgs" --out "$tmp/all.jsonl"
for i in 0 1 2; do run --images "$tmp/imgs" --shard $i/3 --out "$tmp/s$i.jsonl"; done
n0=$(wc -l < "$tmp/s0.jsonl"); n1=$(wc -l < "$tmp/s1.jsonl"); n2=$(wc -l < "$tmp/s2.jsonl")
check "shards hold 20 records in all ($n0+$n1+$n2)" "[ $((n0 + n1 + n2)) -eq 20 ]"
check "no shard empty or whole" "[ $n0 -gt 0 ] && [ $n1 -gt 0 ] && [ $n2 -gt 0 ] && [ $n0 -lt 20 ]"
check "shards disjoint" "[ \$(cat $tmp/s?.jsonl | python3 -c 'import json,sys; print(len({json.loads(l)[\"path\"] for l in sys.stdin}))') -eq 10 ]"
check "shard says its share" "grep -q 'shard 1/3: [0-9]* of the 10 images' $tmp/log"
# the share follows the path under --images, not where the folder is mounted
ln -s "$tmp/imgs" "$tmp/elsewhere"
run --images "$tmp/elsewhere/" --shard 1/3 --out "$tmp/moved.jsonl"
check "same share from another mount point" "[ \"\$(pairs $tmp/moved.jsonl | sed 's|$tmp/elsewhere/|$tmp/imgs/|')\" = \"\$(pairs $tmp/s1.jsonl)\" ]"

$QVL batch --merge --out "$tmp/merged.jsonl" "$tmp/s2.jsonl" "$tmp/s0.jsonl" "$tmp/s1.jsonl" 2> "$tmp/merge.log"
check "merge exit 0 and summary" "[ $? -eq 0 ] && grep -q 'merged 3 files into .*: 20 records' $tmp/merge.log"
check "merged = one run (pairs, answers, order)" "[ \"\$(pairs $tmp/merged.jsonl)\" = \"\$(pairs $tmp/all.jsonl)\" ]"
$QVL batch --merge --out "$tmp/merged.jsonl" "$tmp/s0.jsonl" 2> "$tmp/e1"
check "merge refuses to overwrite results" "[ $? -eq 1 ] && grep -q 'already holds results' $tmp/e1"
# a repeated shard and a torn last record
cp "$tmp/s0.jsonl" "$tmp/torn.jsonl"; printf '{"path":"x","quest' >> "$tmp/torn.jsonl"
$QVL batch --merge --out "$tmp/m2.jsonl" "$tmp/s0.jsonl" "$tmp/torn.jsonl" "$tmp/s1.jsonl" "$tmp/s2.jsonl" 2> "$tmp/e2"
check "repeats and torn records left out, and said" \
    "grep -q '20 records, $n0 repeated pairs left out, a torn last record left out of 1 file' $tmp/e2 && [ \"\$(pairs $tmp/m2.jsonl)\" = \"\$(pairs $tmp/all.jsonl)\" ]"
# CSV shards merge into CSV; formats cannot be mixed
for i in 0 1; do run --images "$tmp/imgs" --shard $i/2 --out "$tmp/c$i.csv"; done
$QVL batch --merge --out "$tmp/merged.csv" "$tmp/c0.csv" "$tmp/c1.csv" 2>/dev/null
check "CSV merge: header once, 20 records" "[ \$(python3 -c 'import csv,sys; r=list(csv.reader(open(sys.argv[1]))); print(len(r) if r[0][0]==\"path\" and sum(x[0]==\"path\" for x in r)==1 else -1)' $tmp/merged.csv) -eq 21 ]"
$QVL batch --merge --out "$tmp/mixed.jsonl" "$tmp/s0.jsonl" "$tmp/c0.csv" 2> "$tmp/e3"
check "mixing CSV into JSONL refused" "[ $? -eq 1 ] && grep -q 'not a qvl batch JSONL file' $tmp/e3"
# usage errors
$QVL batch -m "$tmp/m" --images "$tmp/imgs" -q x --out "$tmp/z.jsonl" --shard 3/3 2> "$tmp/e4"
check "--shard 3/3 refused" "[ $? -eq 2 ] && grep -q '0 <= I < N' $tmp/e4"
$QVL batch -m "$tmp/m" --images "$tmp/imgs" -q x --out "$tmp/z.jsonl" --shard 1of3 2>/dev/null
check "--shard 1of3 refused" "[ $? -eq 2 ]"
$QVL batch --merge --out "$tmp/z.jsonl" 2> "$tmp/e5"
check "--merge without files refused" "[ $? -eq 2 ] && grep -q 'needs the results files' $tmp/e5"
$QVL batch --merge --images "$tmp/imgs" --out "$tmp/z.jsonl" "$tmp/s0.jsonl" 2>/dev/null
check "--merge with --images refused" "[ $? -eq 2 ]"
$QVL batch -m "$tmp/m" --images "$tmp/imgs" -q x --out "$tmp/z.jsonl" stray 2>/dev/null
check "stray argument refused" "[ $? -eq 2 ]"
exit $fail
