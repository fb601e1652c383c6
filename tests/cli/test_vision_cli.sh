#!/bin/bash
# Vision commands end to end: preprocess (grid, written PNG), encode-image
# (shape, bytes against the golden embeddings within tolerance), logits
# --image against the golden logits, ask --image (a PDF: every page read by
# OCR and by the model), and the clear errors
# (GGUF without --mmproj, a pad run that does not match the image).
set -u
. "$(dirname "$0")/../lib/cli_common.sh"
IM=$TD/images
G=$TD/golden/image
GG=$TD/gguf

for c in preprocess encode-image; do check "$c --help" "$QVL $c --help | grep -q usage"; done
check "preprocess without --out is a usage error" "$QVL preprocess --image $IM/img_300x200.png 2>/dev/null; [ \$? -eq 2 ]"

# preprocess: HF rules upscale 300x200 to 320x224; llama rules keep 288x192
out=$($QVL preprocess --image $IM/img_300x200.png --out $tmp/p.png)
check "preprocess hf grid" "echo '$out' | grep -q '320x224, grid (t, h, w) = (1, 14, 20).* 70 image tokens'"
out=$($QVL preprocess --image $IM/img_300x200.png --resize llama --out $tmp/p2.png)
check "preprocess llama grid" "echo '$out' | grep -q '288x192, grid (t, h, w) = (1, 12, 18).* 54 image tokens'"
check "preprocess writes a PNG" "[ \"\$(head -c 4 $tmp/p.png | tail -c 3)\" = PNG ]"
check "preprocess refuses a text file" "echo hello > $tmp/x.jpg; ! $QVL preprocess --image $tmp/x.jpg --out $tmp/x.png 2>$tmp/err && grep -q x.jpg $tmp/err"

$QVL make-test-model --config tiny --out "$tmp/m" >/dev/null 2>&1

# max |a - b| of two float32 files (prints 'size' when the sizes differ)
maxdiff() { python3 - "$1" "$2" <<'PY'
import array, sys
a = array.array('f', open(sys.argv[1], 'rb').read()); b = array.array('f', open(sys.argv[2], 'rb').read())
print('size' if len(a) != len(b) else max(abs(x - y) for x, y in zip(a, b)))
PY
}
for c in I2 I3; do
    img=$IM/$(cat $G/$c/image.txt)
    out=$($QVL encode-image -m $tmp/m --vision-quant none --image $img --out $tmp/$c.f32 -t 2)
    check "encode-image $c prints the shape" "echo '$out' | grep -q 'x 512 floats'"
    d=$(maxdiff $tmp/$c.f32 $G/$c/F16/image_embd.f32)
    check "encode-image $c within 1e-2 of the golden (got $d)" "python3 -c 'import sys; sys.exit(0 if \"$d\" != \"size\" and float(\"$d\") <= 1e-2 else 1)'"
done
$QVL encode-image -m $GG/tiny-Q8_0.gguf --mmproj $GG/tiny-mmproj-F16.gguf --vision-quant none --image $IM/img_512x384.png --out $tmp/gg.f32 -t 2 >/dev/null
d=$(maxdiff $tmp/gg.f32 $G/I3/F16/image_embd.f32)
check "encode-image from the mmproj within 1e-2 (got $d)" "python3 -c 'import sys; sys.exit(0 if \"$d\" != \"size\" and float(\"$d\") <= 1e-2 else 1)'"
# A Q8_0 mmproj (--mmproj-quant): half the bytes, embeddings near the golden F16 ones whether
# the int8 matrices run packed (the best table) or as stored (the scalar reference's dots).
$QVL convert -m $tmp/m --out $tmp/t.gguf --mmproj-out $tmp/q8.gguf --mmproj-quant q8_0 -t 2 2>/dev/null
$QVL convert -m $tmp/m --out $tmp/t.gguf --mmproj-out $tmp/f16.gguf -t 2 2>/dev/null
check "a Q8_0 mmproj is under 2/3 of the F16 one" "[ \$(stat -c %s $tmp/q8.gguf) -lt \$(( \$(stat -c %s $tmp/f16.gguf) * 2 / 3 )) ]"
check "convert refuses an unknown --mmproj-quant before any work" "! $QVL convert -m $tmp/m --out $tmp/u.gguf --mmproj-out $tmp/u2.gguf --mmproj-quant q4 2>$tmp/err && grep -q 'use f16 or q8_0' $tmp/err && [ ! -e $tmp/u.gguf ]"
$QVL encode-image -m $tmp/t.gguf --mmproj $tmp/q8.gguf --image $IM/img_512x384.png --out $tmp/q8.f32 -t 2 >/dev/null
$QVL encode-image -m $tmp/t.gguf --mmproj $tmp/q8.gguf --kernels scalar --image $IM/img_512x384.png --out $tmp/q8s.f32 -t 2 >/dev/null
for f in q8 q8s; do
    d=$(maxdiff $tmp/$f.f32 $G/I3/F16/image_embd.f32)
    check "encode-image from a Q8_0 mmproj ($f) within 3e-2 of the F16 golden (got $d)" "python3 -c 'import sys; sys.exit(0 if \"$d\" != \"size\" and float(\"$d\") <= 3e-2 else 1)'"
done
# --vision-quant q8_0: the float tower quantized while loading, from the HF directory or an F16
# mmproj alike; auto picks it where the table has no BF16 GEMM (avx2 here, forced).
$QVL encode-image -m $tmp/m --vision-quant q8_0 --image $IM/img_512x384.png --out $tmp/vq.f32 -t 2 >/dev/null
$QVL encode-image -m $GG/tiny-Q8_0.gguf --mmproj $GG/tiny-mmproj-F16.gguf --vision-quant q8_0 --image $IM/img_512x384.png --out $tmp/vqg.f32 -t 2 >/dev/null
for f in vq vqg; do
    d=$(maxdiff $tmp/$f.f32 $G/I3/F16/image_embd.f32)
    check "encode-image --vision-quant q8_0 ($f) within 3e-2 of the F16 golden, not equal to it (got $d)" "python3 -c 'import sys; sys.exit(0 if \"$d\" != \"size\" and 0 < float(\"$d\") <= 3e-2 else 1)'"
done
$QVL encode-image -m $tmp/m --kernels avx2 --vision-quant auto --image $IM/img_512x384.png --out $tmp/va.f32 -t 2 >/dev/null
$QVL encode-image -m $tmp/m --kernels avx2 --vision-quant q8_0 --image $IM/img_512x384.png --out $tmp/vq2.f32 -t 2 >/dev/null
check "--vision-quant auto on the avx2 table is q8_0" "cmp -s $tmp/va.f32 $tmp/vq2.f32"
check "--vision-quant with a bad value says what to choose" "! $QVL encode-image -m $tmp/m --vision-quant q4 --image $IM/img_512x384.png --out $tmp/x.f32 2>$tmp/err && grep -q 'choose none' $tmp/err"
check "encode-image on a GGUF without --mmproj says so" "$QVL encode-image -m $GG/tiny-Q8_0.gguf --image $IM/img_256x256.png --out $tmp/n.f32 2>&1 | grep -q -- --mmproj"

$QVL logits -m $tmp/m --quant bf16 --vision-quant none --prompt-ids $G/I3/F16/prompt_ids.txt --image $IM/img_512x384.png --out $tmp/l.f32 -t 2 2>/dev/null
d=$(maxdiff $tmp/l.f32 $G/I3/F16/logits_last.f32)
check "logits --image I3 within 2e-2 (got $d)" "python3 -c 'import sys; sys.exit(0 if \"$d\" != \"size\" and float(\"$d\") <= 2e-2 else 1)'"
check "logits --image with the wrong image names the mismatch" "$QVL logits -m $tmp/m --prompt-ids $G/I3/F16/prompt_ids.txt --image $IM/img_256x256.png --out $tmp/l.f32 2>&1 | grep -q 'has 64 tokens (8x8) but its run of <|image_pad|> at position 15 has 192'"

# 16 template/question tokens + the 80 tokens of the 320x256 image
out=$($QVL ask -m $tmp/m --image $IM/img_320x256.png -n 4 -v "What is in this picture?" 2>&1)
check "ask --image runs with the image expanded" "echo \"\$out\" | grep -q 'prompt: 96 tokens'"
# a two-page born-digital PDF: OCR reads both text layers under page headers; the model reads both pages
out=$($QVL ask -m $tmp/m --image tests/ocr/pdf/born_en.pdf "Extract the text" 2>&1)
check "ask --image PDF: OCR reads every page" "echo \"\$out\" | grep -q -- '--- page 2 ---'"
out=$($QVL ask -m $tmp/m --image tests/ocr/pdf/born_en.pdf --pages 2 --max-pixels 50000 -n 2 -v "What is this?" 2>&1)
one=$(echo "$out" | sed -n 's/^prompt: \([0-9]*\) tokens.*/\1/p')
out=$($QVL ask -m $tmp/m --image tests/ocr/pdf/born_en.pdf --max-pixels 50000 -n 2 -v "What is this?" 2>&1)
two=$(echo "$out" | sed -n 's/^prompt: \([0-9]*\) tokens.*/\1/p')
check "ask --image PDF: the model reads every page ($one tokens for one page, $two for two)" \
    "[ -n \"$one\" ] && [ -n \"$two\" ] && [ $two -gt $((one + 20)) ]"
check "ask --image on a GGUF without --mmproj says so" "$QVL ask -m $GG/tiny-Q8_0.gguf --image $IM/img_320x256.png 'hi' 2>&1 | grep -q -- --mmproj"
exit $fail
