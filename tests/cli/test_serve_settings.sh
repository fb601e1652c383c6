#!/bin/bash
# `qvl serve` as a service and as one replica of many: settings from a config
# file and QVL_* variables (flags > environment > file; errors name where the
# bad setting came from), X-Qvl-Instance on every answer, and conversations
# by the X-Conversation-Id header (follow-up, unknown id -> 400 "send the
# image again", a client-chosen id with an image starts one, bad or
# contradicting ids -> 400).
set -u
. "$(dirname "$0")/../lib/cli_common.sh"
pid=0
cleanup_hooks+=('kill -9 $pid 2>/dev/null')
$QVL make-test-model --config tiny --out "$tmp/m" 2>/dev/null

SERVE_ARGS=(--threads 1)   # every server here (serve_start, tests/lib/cli_common.sh)

# ---- settings ----
cat > "$tmp/qvl.conf" <<'CONF'
# a comment, then settings in both spellings
parallel = 2
max-queue 7
instance-id = "from-file"
no-ocr
CONF
serve_start file -- --config "$tmp/qvl.conf"
check "config file: parallel" "curl -s $URL/health | grep -q '\"total\":2'"
check "config file: instance id" "curl -s $URL/health | grep -q '\"instance\":\"from-file\"'"
check "config file: no-ocr flag" "grep -q 'OCR fast path off' $tmp/file.out"
serve_stop
serve_start env QVL_CONFIG="$tmp/qvl.conf" QVL_INSTANCE_ID=from-env QVL_PARALLEL=3 QVL_NO_OCR=0 -- --parallel 4
check "env overrides the file" "curl -s $URL/health | grep -q '\"instance\":\"from-env\"'"
check "flags override the env" "curl -s $URL/health | grep -q '\"total\":4'"
check "QVL_CONFIG names the file (its no-ocr stays on)" "grep -q 'OCR fast path off' $tmp/env.out"
serve_stop
serve_start dflt -- --parallel 1
check "default instance id is host:port" \
    "curl -s $URL/health | grep -q \"\\\"instance\\\":\\\"$(hostname | cut -c1-40):${URL##*:}\\\"\""
serve_stop

printf 'port = 0\nparalel = 2\n' > "$tmp/typo.conf"
$QVL serve --config "$tmp/typo.conf" --model "$tmp/m" 2> "$tmp/typo.err"
check "unknown key refused (2), named with file:line" "[ $? -eq 2 ] && grep -q 'typo.conf:2: unknown setting .paralel.' $tmp/typo.err"
printf 'port = many\n' > "$tmp/bad.conf"
$QVL serve --config "$tmp/bad.conf" --model "$tmp/m" 2> "$tmp/bad.err"
check "bad value refused with file:line" "[ $? -eq 2 ] && grep -q 'bad.conf:1: --port expects a whole number' $tmp/bad.err"
QVL_PORT=x $QVL serve --model "$tmp/m" 2> "$tmp/envbad.err"
check "bad variable named" "[ $? -eq 2 ] && grep -q 'QVL_PORT: --port expects a whole number' $tmp/envbad.err"
QVL_NO_OCR=maybe $QVL serve --model "$tmp/m" 2> "$tmp/flag.err"
check "bad flag variable named" "[ $? -eq 2 ] && grep -q 'QVL_NO_OCR: --no-ocr is a flag' $tmp/flag.err"
$QVL serve --config "$tmp/none.conf" --model "$tmp/m" 2> "$tmp/none.err"
check "missing config file reported" "[ $? -eq 2 ] && grep -q 'none.conf' $tmp/none.err"
$QVL serve --instance-id 'a b' --model "$tmp/m" 2> "$tmp/inst.err"
check "bad instance id refused" "[ $? -eq 2 ] && grep -q 'instance-id must be' $tmp/inst.err"
# every long option of serve --help has its variable: a number or flag
# variable with a bad value is refused naming the variable (16 of them); a
# string is taken as given, then the --parallel 0 flag is refused (that
# strings are read at all, QVL_INSTANCE_ID above shows)
named=0
for o in $($QVL serve --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
    [ "$o" = --config ] || [ "$o" = --help ] && continue
    v=QVL_$(echo "${o#--}" | tr 'a-z-' 'A-Z_')
    env "$v=@bad@" $QVL serve --model "$tmp/m" --port 0 --no-ocr --parallel 0 2> "$tmp/each.err" > /dev/null
    grep -q "^$v: " "$tmp/each.err" && named=$((named + 1))
    grep -q "^$v: \|--parallel must be" "$tmp/each.err" || { echo "FAIL: $v ($(head -c 200 $tmp/each.err))"; fail=1; }
done
check "16 number/flag variables read (got $named)" "[ $named -eq 16 ]"

# ---- the replica headers ----
serve_start rep -- --instance-id r7 --no-ocr --cors '*'
img=$(base64 -w0 "$TD/images/img_256x256.png")
ask() { curl -s -D "$tmp/h" -o "$tmp/b" -w '%{http_code}' -H 'Content-Type: application/json' "$@" "$URL/api/v1/chat"; }
code=$(ask -d "{\"image\":\"$img\",\"question\":\"What is this?\",\"max_tokens\":2}")
cid=$(sed -n 's/^X-Conversation-Id: \([^\r]*\).*/\1/p' "$tmp/h")
check "first answer 200" "[ $code = 200 ]"
check "X-Qvl-Instance on an answer" "grep -q '^X-Qvl-Instance: r7' $tmp/h"
check "new conversation id is r7-<32 hex>, in the header and the body" \
    "[[ $cid =~ ^r7-[0-9a-f]{32}$ ]] && grep -q '\"conversation_id\":\"$cid\"' $tmp/b"
code=$(ask -H "X-Conversation-Id: $cid" -d '{"question":"And more?","max_tokens":2}')
check "follow-up by the header alone: 200, same id" "[ $code = 200 ] && grep -q '\"conversation_id\":\"$cid\"' $tmp/b"
check "follow-up holds the first turn" "[ \$(sed -n 's/.*\"prompt_tokens\":\([0-9]*\).*/\1/p' $tmp/b) -gt 80 ]"
code=$(ask -H "X-Conversation-Id: r9-0123" -d '{"question":"And more?"}')
check "unknown conversation: 400 saying to resend the image, naming this replica" \
    "[ $code = 400 ] && grep -q 'not held by this server (instance r7).*Send the image again' $tmp/b"
code=$(ask -H "X-Conversation-Id: client-chosen-1" -d "{\"image\":\"$img\",\"question\":\"Hi\",\"max_tokens\":2}")
check "a client-chosen id with an image starts a conversation" \
    "[ $code = 200 ] && grep -q '^X-Conversation-Id: client-chosen-1' $tmp/h"
code=$(ask -d '{"question":"Again?","conversation_id":"client-chosen-1","max_tokens":2}')
check "... which the body's conversation_id then finds" "[ $code = 200 ]"
code=$(ask -H "X-Conversation-Id: client-chosen-1" -d "{\"question\":\"x\",\"conversation_id\":\"$cid\"}")
check "header and body disagreeing: 400" "[ $code = 400 ] && grep -q 'differ' $tmp/b"
code=$(ask -H "X-Conversation-Id: bad id!" -d '{"question":"x"}')
check "malformed header: 400" "[ $code = 400 ] && grep -q 'X-Conversation-Id must be' $tmp/b"
check "X-Qvl-Instance on errors, the page and /metrics" \
    "[ \$(curl -s -D - -o /dev/null $URL/ $URL/metrics $URL/nothing | grep -c '^X-Qvl-Instance: r7') = 3 ]"
curl -s -D "$tmp/h" -o /dev/null -H 'Content-Type: application/json' -H 'X-Conversation-Id: oa-1' \
    -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}' "$URL/v1/chat/completions"
check "OpenAI API echoes X-Conversation-Id" "grep -q '^X-Conversation-Id: oa-1' $tmp/h"
check "CORS exposes the headers" "grep -qi '^Access-Control-Expose-Headers: X-Qvl-Instance, X-Conversation-Id' $tmp/h"
curl -s -D "$tmp/h" -o /dev/null -X OPTIONS "$URL/api/v1/chat"
check "CORS allows sending X-Conversation-Id" "grep -qi '^Access-Control-Allow-Headers:.*X-Conversation-Id' $tmp/h"
serve_stop
exit $fail
