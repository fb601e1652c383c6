# cli_common.sh - sourced by tests/cli/*.sh: the binary under test, the shared
# test data, a temporary directory removed on exit, and check NAME CONDITION,
# which records a failure in $fail instead of stopping.
QVL=${QVL_BIN:-./qvl}
TD=${QVL_TESTDATA:-../shared/testdata}
tmp=$(mktemp -d)
cleanup_hooks=()
SERVE_ARGS=()
trap 'for h in "${cleanup_hooks[@]}"; do eval "$h"; done; rm -rf "$tmp"' EXIT
fail=0
check() { if eval "$2"; then :; else echo "FAIL: $1"; fail=1; fi; }

# serve_start NAME ENV... -- ARGS... : `qvl serve --model $tmp/m --port 0
# ${SERVE_ARGS[@]} ARGS` with the ENV assignments, output in $tmp/NAME.out/.err; sets URL and pid,
# or fails the whole test when it does not come up. serve_stop ends it.
serve_start() {
    local name=$1; shift
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    env "${envs[@]}" "$QVL" serve --model "$tmp/m" --port 0 "${SERVE_ARGS[@]}" "$@" > "$tmp/$name.out" 2> "$tmp/$name.err" &
    pid=$!
    URL=""
    for _ in $(seq 1 300); do
        URL=$(sed -n 's/.*ready on \(http:[^ ]*\) .*/\1/p' "$tmp/$name.out")
        [ -n "$URL" ] && return 0
        kill -0 $pid 2>/dev/null || break
        sleep 0.05
    done
    echo "FAIL: server '$name' did not start"; cat "$tmp/$name.err"; exit 1
}
serve_stop() { kill $pid; wait $pid 2>/dev/null; }
