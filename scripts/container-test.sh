#!/bin/bash
# container-test.sh - builds the qvl image with podman and checks it: runs
# it with the tiny test model mounted read-only, waits for its HEALTHCHECK,
# asks /health and one question, checks it runs as the unprivileged user and
# keeps the quantized weights on the cache volume, then stops it (cleanly,
# within the grace) and removes what it made. Needs root (podman, apt).
#
# On machines without a container registry (docs/deploy.md) it first makes
# the set-up ../shared/docs/containers.md describes, idempotently, and says
# what it changed: installs podman, mmdebstrap and runc; writes
# /etc/containers/containers.conf (default_ulimits = [], as this VM refuses
# raising limits) when there is none; builds debian:12-slim with mmdebstrap
# and imports it when podman has no such image. runc is used because crun
# stops on hybrid cgroups.
#
#   scripts/container-test.sh        (QVL_BIN: the host qvl that writes the test model, default ./qvl)
set -euo pipefail
cd "$(dirname "$0")/.."
QVL=${QVL_BIN:-./qvl}
say() { echo "container-test: $*"; }
t0=$(date +%s)
elapsed() { echo "$(( $(date +%s) - t0 )) s"; }

# ---- set-up ----
missing=""
for p in podman mmdebstrap runc uidmap slirp4netns fuse-overlayfs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    say "installing$missing"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing > /dev/null
fi
if [ ! -e /etc/containers/containers.conf ]; then
    mkdir -p /etc/containers
    printf '[containers]\ndefault_ulimits = []\n' > /etc/containers/containers.conf
    say "wrote /etc/containers/containers.conf (default_ulimits = [])"
fi
podman=(podman --runtime runc)
if ! "${podman[@]}" image exists debian:12-slim; then
    tar=$(mktemp -d)/deb12.tar
    say "building debian:12-slim with mmdebstrap (no registry needed)"
    mmdebstrap --variant=minbase bookworm "$tar" > /dev/null 2>&1
    "${podman[@]}" import "$tar" debian:12-slim > /dev/null
    rm -rf "$(dirname "$tar")"
    say "imported debian:12-slim ($(elapsed))"
fi

# ---- build ----
tb=$(date +%s)
"${podman[@]}" build --format docker -q -t qvl . > /dev/null   # OCI images drop HEALTHCHECK
say "image built in $(( $(date +%s) - tb )) s: $("${podman[@]}" image inspect qvl --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')"

# ---- run ----
tmp=$(mktemp -d)
name=qvl-test-$$
vol=qvl-test-cache-$$
cleanup() {
    "${podman[@]}" rm -f -t 0 "$name" > /dev/null 2>&1 || true
    "${podman[@]}" volume rm -f "$vol" > /dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
"$QVL" make-test-model --config tiny --out "$tmp/tiny" > /dev/null 2>&1
chmod -R a+rX "$tmp"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
tr=$(date +%s)
"${podman[@]}" run -d --name "$name" --network host -e QVL_PORT="$port" -e QVL_PARALLEL=2 \
    -v "$tmp/tiny:/models:ro" -v "$vol:/var/lib/qvl/cache" qvl > /dev/null
healthy=0
for _ in $(seq 1 120); do
    if "${podman[@]}" healthcheck run "$name" > /dev/null 2>&1; then healthy=1; break; fi
    sleep 0.5
done
[ $healthy = 1 ] || { "${podman[@]}" logs "$name" | tail -20; say "FAIL: the container never became healthy"; exit 1; }
say "healthy $(( $(date +%s) - tr )) s after 'run'"
fail=0
check() { if eval "$2"; then say "ok   $1"; else say "FAIL $1"; fail=1; fi; }
health=$(curl -s "http://127.0.0.1:$port/health")
check "/health from the host: $health" "echo '$health' | grep -q '\"status\":\"ok\"'"
check "runs as uid 10001 (qvl), not root" "[ \"\$(${podman[*]} exec $name id -u)\" = 10001 ]"
img=$(base64 -w0 ../shared/testdata/images/img_256x256.png 2>/dev/null || base64 -w0 "$tmp/tiny/config.json")
code=$(curl -s -o "$tmp/answer.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d "{\"image\":\"$img\",\"question\":\"What is this?\",\"max_tokens\":4}" "http://127.0.0.1:$port/api/v1/chat")
check "an answer (HTTP $code)" "[ $code = 200 ] && grep -q '\"response\"' $tmp/answer.json"
check "the quantized weights are on the cache volume" \
    "${podman[*]} exec $name sh -c 'ls /var/lib/qvl/cache/*.gguf' > /dev/null"
check "the OCR path works (Tesseract data in the image)" \
    "${podman[*]} exec $name qvl route 'read the text' | grep -q '^ocr'"
ts=$(date +%s)
"${podman[@]}" stop -t 30 "$name" > /dev/null
check "stops cleanly on SIGTERM (exit 0) in $(( $(date +%s) - ts )) s" \
    "[ \"\$(${podman[*]} inspect $name --format '{{.State.ExitCode}}')\" = 0 ]"
say "(the image 'qvl' stays for reuse; podman rmi qvl removes it)"
say "done in $(elapsed)"
exit $fail
