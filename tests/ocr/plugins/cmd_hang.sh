#!/bin/sh
# Never answers; the child sleep must die with it (process group kill).
exec sleep 30
