#!/bin/sh
# Reports an error the polite way, in the protocol.
cat >/dev/null
echo '{"error": "language not supported"}'
