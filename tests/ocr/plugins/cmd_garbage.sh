#!/bin/sh
# Answers something that is not JSON.
cat >/dev/null
echo "Traceback (most recent call last): oops"
