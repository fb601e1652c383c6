#!/bin/bash
# tests/load/run.sh [CLIENTS] [SECONDS] - `make test-load`: qvl serve on the
# tiny test model on 127.0.0.1, tests/load/load.mjs against it, then SIGTERM:
# the server must exit 0 (under ASan that is also its leak check). Writes
# the report to build/load-report.json. QVL_BIN picks the binary.
set -u
cd "$(dirname "$0")/../.."
QVL=${QVL_BIN:-./qvl}
clients=${1:-20} seconds=${2:-120}
tmp=$(mktemp -d /tmp/qvl-load.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
"$QVL" make-test-model --config tiny --out "$tmp/tiny" > /dev/null 2>&1 || exit 1
"$QVL" serve --model "$tmp/tiny" --port 0 --parallel 4 --timeout 60 > "$tmp/out" 2> "$tmp/err" &
pid=$!
for _ in $(seq 100); do
    url=$(sed -n 's/.*ready on \(http:[^ ]*\) .*/\1/p' "$tmp/out")
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { echo "FAIL: the server did not start"; cat "$tmp/err"; exit 1; }
stat() { echo "$(ls /proc/$pid/fd | wc -l) $(awk '/^Threads:/ { print $2 }' /proc/$pid/status)"; }
read -r fds_cold threads_cold <<< "$(stat)"
# A short warm-up first, busy enough to use every slot: the slots' thread
# pools, the OCR engine and the caches are made on first use and kept; the
# baseline is after them.
QVL_URL=$url QVL_PID=$pid node tests/load/load.mjs 8 5 > /dev/null || { echo "FAIL: the warm-up failed"; exit 1; }
sleep 1
read -r fds0 threads0 <<< "$(stat)"
echo "  fds $fds_cold cold, $fds0 warm; threads $threads_cold cold, $threads0 warm"
QVL_URL=$url QVL_PID=$pid node tests/load/load.mjs "$clients" "$seconds" > "$tmp/report.json"
rc=$?
# The clients are gone: their connections' fds and threads must go too.
for _ in $(seq 50); do
    read -r fds1 threads1 <<< "$(stat)"
    [ "$fds1" -le "$fds0" ] && [ "$threads1" -le "$threads0" ] && break
    sleep 0.1
done
echo "  after the clients left: fds $fds0 -> $fds1, threads $threads0 -> $threads1"
[ "$fds1" -le "$fds0" ] && [ "$threads1" -le "$threads0" ] || { echo "FAIL: fds or threads left behind"; rc=1; }
mkdir -p build && cp "$tmp/report.json" build/load-report.json
build=plain
grep -q AddressSanitizer "$QVL" && build=asan
python3 - "$tmp/report.json" "$build" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
by = {}
for k, n in r["outcomes"].items():
    kind, status = k.rsplit(" ", 1)
    by.setdefault(status, 0)
    by[status] += n
print("load: %d clients x %d s: %d requests, by status %s, p50 %.0f ms, p99 %.0f ms" %
      (r["clients"], r["seconds"], r["completed"], json.dumps(by, sort_keys=True), r["p50_ms"], r["p99_ms"]))
for when in ("start", "middle", "end"):
    s = r[when] or {}
    print("  %-6s RSS %s MB, fds %s, threads %s" % (when, s.get("rss_mb"), s.get("fds"), s.get("threads")))
print("  RSS slope over the last three quarters: %s MB/min; second half / first half: %+s%%" %
      (r["rss_slope_mb_per_min"], r["rss_growth_between_halves_pct"]))
# ASan keeps freed memory in quarantine, so only a plain build's RSS means
# anything; 15%: caches filling after the warm-up stay well below it.
g = r["rss_growth_between_halves_pct"]
if sys.argv[2] == "plain" and g is not None and g >= 15:
    print("FAIL: RSS grew %.1f%% between the halves of the run" % g)
    sys.exit(1)
PY
[ $? -eq 0 ] || rc=1
kill -TERM "$pid"
wait "$pid"
src=$?
pid=
[ $src -eq 0 ] || { echo "FAIL: server exit status $src after the load"; tail -n 30 "$tmp/err"; rc=1; }
[ $rc -eq 0 ] && echo "PASS load test" || echo "FAIL load test"
exit $rc
