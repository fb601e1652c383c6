#!/bin/sh
# A working command plugin: reports the size, the language and the byte
# count of the decoded PPM, so the test can check the whole image arrived.
req=$(cat)
w=$(printf '%s' "$req" | sed -n 's/.*"width": *\([0-9]*\).*/\1/p')
h=$(printf '%s' "$req" | sed -n 's/.*"height": *\([0-9]*\).*/\1/p')
lang=$(printf '%s' "$req" | sed -n 's/.*"lang": *"\([a-z_+]*\)".*/\1/p')
bytes=$(printf '%s' "$req" | sed -n 's/.*"base64": *"\([^"]*\)".*/\1/p' | base64 -d | wc -c)
printf '{"lines": [{"text": "cmd %sx%s %s bytes %s", "confidence": 88, "box": [0, 0, %s, %s]}, {"text": "识别", "confidence": 70}]}\n' "$w" "$h" "$lang" "$bytes" "$w" "$h"
