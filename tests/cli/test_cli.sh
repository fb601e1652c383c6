#!/bin/bash
# Command-line behaviour: help texts, usage errors, tokenize byte-for-byte,
# chat-template renderings, logits against the golden files, convert round trip.
set -u
. "$(dirname "$0")/../lib/cli_common.sh"

for c in ask tokenize logits chat-template make-test-model convert; do
    check "$c --help" "$QVL $c --help | grep -q usage"
done
check "unknown command exits 2" "$QVL frobnicate 2>/dev/null; [ \$? -eq 2 ]"
check "unknown option exits 2" "$QVL ask --frobnicate x 2>/dev/null; [ \$? -eq 2 ]"
check "missing model is explained" "$QVL ask 'hi' 2>&1 | grep -q 'make-test-model'"

$QVL make-test-model --config tiny --out "$tmp/m" 2>/dev/null
check "test model written" "[ -f $tmp/m/model.safetensors ]"

# tokenize: argument and stdin (byte for byte, including a trailing newline)
check "tokenize arg" "[ \"\$($QVL tokenize -m $tmp/m 'Hello, world!')\" = '9707 11 1879 0' ]"
check "tokenize stdin keeps the newline (! and newline are one token, 4894)" "[ \"\$(printf 'Hello, world!\n' | $QVL tokenize -m $tmp/m)\" = '9707 11 1879 4894' ]"
gg=$TD/gguf/tiny-Q8_0.gguf
check "tokenize from gguf" "[ \"\$($QVL tokenize -m $gg 'Hello, world!')\" = '9707 11 1879 0' ]"
for t in T1 T2 T3; do
    want=$(tr '\n' ' ' < $TD/golden/text/$t/F16/prompt_ids.txt | sed 's/ $//')
    got=$($QVL tokenize -m $tmp/m < $TD/golden/text/$t/F16/prompt.txt)
    check "tokenize golden $t" "[ \"$got\" = \"$want\" ]"
done

# chat-template: rendering of a messages file, and of an OpenAI request body
cat > "$tmp/msgs.json" <<'JSON'
[{"role":"system","content":"You are a helpful assistant."},
 {"role":"user","content":[{"type":"image"},{"type":"text","text":"What is in this image?"}]}]
JSON
printf '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is in this image?<|im_end|>\n<|im_start|>assistant\n' > "$tmp/want.txt"
$QVL chat-template --messages "$tmp/msgs.json" > "$tmp/got.txt"
check "chat-template renders exactly" "cmp -s $tmp/got.txt $tmp/want.txt"
echo '{"messages":[{"role":"user","content":"Hi"}]}' | $QVL chat-template --messages - --no-generation-prompt > "$tmp/got2.txt"
printf '<|im_start|>user\nHi<|im_end|>\n' > "$tmp/want2.txt"
check "chat-template from a request body" "cmp -s $tmp/got2.txt $tmp/want2.txt"
check "chat-template bad json" "! $QVL chat-template --messages <(echo '[{') 2>/dev/null"

# logits: bit-identical to the reference on the Q8_0 file for T1 (--exact:
# the matrices as stored; packed ones are within the golden tolerances,
# which test_text_golden checks)
$QVL logits --exact -m $gg --prompt-ids $TD/golden/text/T1/Q8_0/prompt_ids.txt --out "$tmp/l.f32" 2>/dev/null
check "logits T1 Q8_0 bit-identical to the golden" "cmp -s $tmp/l.f32 $TD/golden/text/T1/Q8_0/logits_last.f32"
check "logits rejects junk ids" "! echo 'a b c' | $QVL logits -m $gg --prompt-ids - --out $tmp/x.f32 2>/dev/null"
check "logits rejects out-of-range ids" "echo 999999 | $QVL logits -m $gg --prompt-ids - --out $tmp/x.f32 2>&1 | grep -q 'out of range'"

# convert, then ask the converted model (greedy, deterministic)
$QVL convert -m $tmp/m --out $tmp/m.gguf --quant q8_0 2>/dev/null
check "convert wrote a gguf" "[ -s $tmp/m.gguf ]"
a=$($QVL ask -m $tmp/m --temperature 0 -n 8 'Hi' 2>/dev/null)
b=$($QVL ask -m $tmp/m.gguf --temperature 0 -n 8 'Hi' 2>/dev/null)
check "converted model answers like the directory" "[ -n \"$a\" ] && [ \"$a\" = \"$b\" ]"
printf '{"type":"object","properties":{"size":{"enum":["S","M"]},"n":{"type":"integer","minimum":1,"maximum":9}},"required":["size","n"]}' > "$tmp/schema.json"
check "ask --schema answers JSON that follows the schema" "$QVL ask -m $tmp/m --temperature 1 --seed 3 --schema $tmp/schema.json 'Size?' 2>/dev/null | python3 -c 'import json, sys; v = json.load(sys.stdin); assert v[\"size\"] in (\"S\", \"M\") and 1 <= v[\"n\"] <= 9'"
printf '{"type":"string","pattern":"a+"}' > "$tmp/bad_schema.json"
bad_out=$($QVL ask -m $tmp/m --schema $tmp/bad_schema.json 'x' 2>&1 >/dev/null); bad_rc=$?
check "ask --schema names an unsupported keyword and exits 2" "[ $bad_rc -eq 2 ] && grep -q \"'pattern' is not supported\" <<< \"\$bad_out\""
check "ask --schema json and a cut answer says the JSON is incomplete" "$QVL ask -m $tmp/m --temperature 1 -n 2 --schema json 'x' 2>&1 >/dev/null | grep -q 'JSON is incomplete'"
check "--kernels names the tables this CPU runs when the name is wrong" "! $QVL ask -m $tmp/m --kernels avx9 'Hi' 2>$tmp/k.err && grep -q 'it runs:.* scalar' $tmp/k.err"
a=$($QVL ask -m $tmp/m --temperature 0 -n 6 --no-loop-check 'Hi' 2>/dev/null)
b=$($QVL ask -m $tmp/m --kernels scalar --temperature 0 -n 6 --no-loop-check 'Hi' 2>/dev/null)
check "--kernels scalar answers as the best table does" "[ -n \"$a\" ] && [ \"$a\" = \"$b\" ]"
check "ask stops at max tokens and says so" "$QVL ask -m $tmp/m.gguf --temperature 0 -n 3 --no-loop-check 'Hi' 2>&1 >/dev/null | grep -q 'max-tokens'"

# The quantization cache cannot be written (a path through a file; a full
# disk, as a 100 KB file size limit): the model still loads and answers,
# the warning says why, and no temporary file is left behind.
echo x > "$tmp/afile"
out=$(QVL_CACHE_DIR=$tmp/afile/cache $QVL ask -m $tmp/m --quant q8_0 --temperature 0 -n 2 'Hi' 2>&1)
rc=$?
check "cache folder impossible: answers and warns" "[ $rc -eq 0 ] && grep -q 'could not cache.*Not a directory' <<< \"\$out\""
out=$( (ulimit -f 100; trap '' XFSZ; QVL_CACHE_DIR=$tmp/qc exec $QVL ask -m $tmp/m --quant q8_0 --temperature 0 -n 2 'Hi') 2>&1)
check "cache disk full: answers and warns" "grep -q 'could not cache.*write failed' <<< \"\$out\""
check "cache disk full: no file left in the cache" "[ -z \"\$(ls -A $tmp/qc)\" ]"
exit $fail
