#!/bin/sh
# `make demo`: the main job. Until examples/echo_actor exists this runs the
# reactor ping-pong benchmark (short run) and says so.
set -eu
B=${1:-build}
if [ -x "$B/examples/echo_actor/demo" ]; then
	exec "$B/examples/echo_actor/demo"
fi
echo "demo: examples/echo_actor is not built yet; running the reactor benchmark"
exec "$B/bench/reactor_pingpong" --rounds 50000
