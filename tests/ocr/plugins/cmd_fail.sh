#!/bin/sh
# Exits non-zero with a message on stderr, without reading its input.
echo "model file not found: /opt/paddle/model" >&2
exit 3
