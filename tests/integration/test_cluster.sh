#!/bin/bash
# make test-integration: scripts/cluster.sh starts nginx + 2 replicas of the
# tiny test model on loopback; tests/integration/traffic.mjs sends mixed
# traffic, kills one replica mid-run and checks that new requests keep
# succeeding and conversations on the survivor continue; then
# `cluster.sh stop` must leave no process of the cluster running and no
# port open. The generated nginx config must also match the shipped
# deploy/nginx/qvl.conf (the one operators install).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/cli_common.sh
export QVL=${QVL_BIN:-$PWD/qvl}
export QVL_CACHE_DIR=$tmp/cache
state=$tmp/cluster
cleanup_hooks+=('scripts/cluster.sh stop --state "$state" > /dev/null 2>&1')
start=$(date +%s)
command -v nginx > /dev/null || { echo "FAIL: nginx is not installed (scripts/install-deps.sh)"; exit 1; }
command -v node > /dev/null || { echo "FAIL: node is not installed (scripts/install-deps.sh)"; exit 1; }

check "deploy/nginx/qvl.conf is what cluster.sh generates" \
    "diff <(scripts/cluster.sh nginx-config --replicas 2) deploy/nginx/qvl.conf"

$QVL make-test-model --config tiny --out "$tmp/m" > /dev/null 2>&1 || { echo "FAIL: make-test-model"; exit 1; }
# a free port for nginx: ask the kernel, then use it (the test is alone on it
# for the few milliseconds in between, like any port-0 dance)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
scripts/cluster.sh start --replicas 2 --port "$port" --model "$tmp/m" --state "$state" \
    -- --parallel 2 --max-conversations 5000 > "$tmp/start.log" 2>&1 \
    || { echo "FAIL: cluster.sh start"; cat "$tmp/start.log"; exit 1; }
cp "$state/replicas.json" "$tmp/replicas.json"
pids=$(sed -n 's/.*"pid": \([0-9]*\).*/\1/p' "$tmp/replicas.json" | tr '\n' ' ')
ports=$(sed -n 's/.*"port": \([0-9]*\).*/\1/p' "$tmp/replicas.json" | tr '\n' ' ')
nginx_pid=$(cat "$state/nginx.pid")
check "replicas.json lists 2 running replicas" "[ \$(echo $pids | wc -w) -eq 2 ] && kill -0 $pids"
for p in $ports; do
    check "replica on $p healthy, named" "curl -sf http://127.0.0.1:$p/health | grep -q '\"instance\":\"r[12]\"'"
done
check "two replicas quantizing into one cache at once both keep a whole file" \
    "[ \$(grep -l 'quantized and cached in' $state/r1.log $state/r2.log | wc -l) -eq 2 ] && ! grep -q 'could not' $state/r*.log"
check "second start on the same state refused" \
    "! scripts/cluster.sh start --replicas 1 --port 1 --model $tmp/m --state $state 2> /dev/null"

node tests/integration/traffic.mjs "http://127.0.0.1:$port" "$tmp/replicas.json" "$TD/images/img_256x256.png"
check "traffic, kill and conversations (traffic.mjs)" "[ $? -eq 0 ]"

scripts/cluster.sh stop --state "$state" > /dev/null
check "cluster.sh stop" "[ $? -eq 0 ]"
for p in $pids $nginx_pid; do check "pid $p gone after stop" "! kill -0 $p 2> /dev/null"; done
check "no nginx of the cluster left" "! pgrep -f 'nginx.*$state' > /dev/null"
check "no replica of the cluster left" "! pgrep -f 'qvl serve --model $tmp/m' > /dev/null"
for p in $port $ports; do check "port $p closed" "! curl -s -o /dev/null --max-time 2 http://127.0.0.1:$p/health"; done
check "stop removed the pid files" "[ ! -e $state/replicas.json ] && [ ! -e $state/nginx.pid ]"
echo "integration: $(( $(date +%s) - start )) s"
exit $fail
