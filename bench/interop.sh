#!/bin/sh
# Kept for the commands and documents that name it: the actor call
# latency across runtimes now lives in bench/peers/rust.sh (with the
# other side-by-side comparisons).
exec sh "$(dirname "$0")/peers/rust.sh" "$@"
