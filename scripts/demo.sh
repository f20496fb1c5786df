#!/bin/sh
# `make demo`: echo_actor across processes over WebRTC. Starts actr-signal
# on a free loopback port, the echo server, then the client calling Echo
# N times (replies and latency), and stops everything, bounded in time.
# Falls back to the in-process demo (or the reactor benchmark) when the
# networked programs are not built.
set -eu
B=${1:-build}
N=${DEMO_CALLS:-10}
EX="$B/examples/echo_actor"
if [ ! -x "$B/actr-signal" ] || [ ! -x "$EX/server" ] || [ ! -x "$EX/client" ]; then
	if [ -x "$EX/demo" ]; then
		exec "$EX/demo"
	fi
	echo "demo: examples/echo_actor is not built yet; running the reactor benchmark"
	exec "$B/bench/reactor_pingpong" --rounds 50000
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/actr-demo.XXXXXX")
SIG_PID=
SRV_PID=
. "$(dirname "$0")/stop.sh"
cleanup() {
	stop "$SRV_PID" "$SIG_PID"
	rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

# wait_for FILE PATTERN: up to 5 s for PATTERN to show up in FILE
wait_for() {
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 50 ]; then
			echo "demo: timed out waiting for '$2' in $1" >&2
			cat "$1" >&2 || true
			exit 1
		fi
		sleep 0.1
	done
}

echo "== actr-signal on 127.0.0.1 (free port), realm 101"
"$B/actr-signal" -l 127.0.0.1:0 -d "$DIR/signal.db" -r 101:demo-secret \
	>"$DIR/signal.log" 2>&1 &
SIG_PID=$!
wait_for "$DIR/signal.log" "listening on"
PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' \
	"$DIR/signal.log" | head -n 1)
URL="ws://127.0.0.1:$PORT"
echo "   $URL"

echo "== echo server (acme:echo:1.0.0)"
ACTR_LOG=${ACTR_LOG:-warn} "$EX/server" --signal "$URL" --secret demo-secret \
	>"$DIR/server.out" 2>"$DIR/server.log" &
SRV_PID=$!
wait_for "$DIR/server.out" "^ready"
echo "   $(cat "$DIR/server.out")"

echo "== client: $N Echo calls over WebRTC (discovery, negotiation, ICE, DTLS, SCTP)"
RC=0
ACTR_LOG=${ACTR_LOG:-warn} timeout 60 "$EX/client" --signal "$URL" \
	--secret demo-secret -n "$N" || RC=$?
stop "$SRV_PID"
SRV_PID=
tail -n 1 "$DIR/server.log" | sed 's/^/   /'
exit $RC
