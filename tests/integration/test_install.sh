#!/bin/bash
# make install into a temporary PREFIX: every file in its place, the binary
# finds its OCR rules from anywhere, the man page renders and holds every
# command's help, the installed unit passes `systemd-analyze verify`, and
# the installed cluster.sh finds its nginx files.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/cli_common.sh
p=$tmp/prefix
make --no-print-directory install PREFIX="$p" > "$tmp/install.log" 2>&1 \
    || { echo "FAIL: make install"; cat "$tmp/install.log"; exit 1; }
for f in bin/qvl share/man/man1/qvl.1 share/qvl/ocr-rules.txt share/qvl/qvl.conf.example lib/systemd/system/qvl.service \
         share/qvl/deploy/cluster.sh share/qvl/deploy/nginx/qvl.conf share/qvl/deploy/nginx/qvl-proxy.conf; do
    check "installed $f" "[ -s $p/$f ]"
done
check "the page is inside the binary" "grep -q 'app.js' $p/bin/qvl"
check "the installed binary finds its OCR rules from another folder" \
    "(cd / && $p/bin/qvl route 'read the text in this image' | grep -q '^ocr')"
man -l "$p/share/man/man1/qvl.1" > "$tmp/man.txt" 2> "$tmp/man.err"
check "man page renders without warnings" "[ ! -s $tmp/man.err ] && grep -q 'qvl serve' $tmp/man.txt"
for c in ask serve batch convert ocr route; do
    check "man page holds 'qvl $c --help'" "grep -qF -- \"\$($p/bin/qvl $c --help | sed -n 3p | sed 's/^ *//')\" $tmp/man.txt"
done
check "unit file: ExecStart is the installed binary" "grep -q '^ExecStart=$p/bin/qvl serve' $p/lib/systemd/system/qvl.service"
if command -v systemd-analyze > /dev/null; then
    MANPATH=$p/share/man systemd-analyze verify "$p/lib/systemd/system/qvl.service" > "$tmp/verify.txt" 2>&1
    check "systemd-analyze verify qvl.service: $(cat "$tmp/verify.txt")" "[ $? -eq 0 ] && [ ! -s $tmp/verify.txt ]"
else
    echo "FAIL: systemd-analyze is missing (apt-get install systemd)"; fail=1
fi
check "installed cluster.sh writes the nginx config" \
    "$p/share/qvl/deploy/cluster.sh nginx-config --replicas 3 | grep -q 'upstream qvl_r3'"
exit $fail
