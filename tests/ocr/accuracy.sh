#!/bin/bash
# accuracy.sh - OCR accuracy and latency report: character error rate per
# category and per tag on the rendered set (tests/ocr/set) and on the real
# scans in the shared test data (tests/ocr/real), then the latency of a
# 1024x768 document page (target: < 1 s warm on 2 cores).
#   tests/ocr/accuracy.sh [--json]      (QVL_BIN overrides ./qvl)
# Regenerate the rendered set first with tests/ocr/gen_testset.py when it
# changes. Exits non-zero when an image could not be scored.
set -u
cd "$(dirname "$0")/../.."
QVL=${QVL_BIN:-./qvl}
json=""
[ "${1:-}" = "--json" ] && json="--json"
rc=0
"$QVL" ocr --eval tests/ocr/set $json || rc=1
"$QVL" ocr --eval tests/ocr/real $json || rc=1
"$QVL" ocr --bench tests/ocr/set/bench_doc_1024x768.png --lang eng --runs 5 || rc=1
"$QVL" ocr --bench tests/ocr/set/bench_doc_1024x768.png --lang eng+chi_sim --runs 5 || rc=1
exit $rc
