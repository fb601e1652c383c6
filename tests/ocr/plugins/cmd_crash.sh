#!/bin/sh
# Dies of a signal, like a crashing engine.
cat >/dev/null
kill -SEGV $$
