# cli_common.sh - sourced by tests/cli/*.sh: the binary under test, the shared
# test data, a temporary directory removed on exit, and check NAME CONDITION,
# which records a failure in $fail instead of stopping.
QVL=${QVL_BIN:-./qvl}
TD=${QVL_TESTDATA:-../shared/testdata}
tmp=$(mktemp -d)
cleanup_hooks=()
trap 'for h in "${cleanup_hooks[@]}"; do eval "$h"; done; rm -rf "$tmp"' EXIT
fail=0
check() { if eval "$2"; then :; else echo "FAIL: $1"; fail=1; fi; }
