#!/bin/bash
# Sets up and runs qvl: installs the Debian packages, builds, and starts the
# server on http://localhost:8080 (override with --port N).
#   scripts/run.sh                          the synthetic test model (written on first use)
#   scripts/run.sh --model DIR|FILE.gguf    a real model (--mmproj P.gguf for GGUF vision)
# Any other options are passed to `qvl serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -j"$(nproc)" qvl
args=("$@")
if [[ " ${args[*]:-} " != *" --model "* && " ${args[*]:-} " != *" -m "* && -z "${QVL_MODEL:-}" ]]; then
    if [ ! -f models/tiny/model.safetensors ]; then
        ./qvl make-test-model --config tiny --out models/tiny
    fi
    args=(--model models/tiny "${args[@]}")
fi
exec ./qvl serve "${args[@]}"
