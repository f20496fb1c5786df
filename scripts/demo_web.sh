#!/bin/sh
# `make demo-web`: the browser demo. Starts actr-signal serving web/ (the
# ES module and web/demo/) with a public demo realm 102 (no secret: the
# page ships none) and the C echo server, prints the URL and runs until
# Ctrl-C, or for ACTR_DEMO_SECONDS seconds when that is set. With node
# installed also realm 101 with a random secret that only the credential
# backend (web/demo/backend.mjs, on PORT+1) and a second echo server know:
# the second URL shows a page that gets its credential from a backend.
#   scripts/demo_web.sh BUILD_DIR        (ACTR_DEMO_PORT, default 8090)
set -eu
B=${1:-build}
TOP=$(cd "$(dirname "$0")/.." && pwd)
PORT=${ACTR_DEMO_PORT:-8090}
EX="$B/examples/echo_actor"
for p in "$B/actr-signal" "$EX/server" "$EX/client"; do
	[ -x "$p" ] || { echo "demo-web: $p is not built (make all)" >&2; exit 1; }
done
[ -f "$TOP/web/actr.js" ] || { echo "demo-web: web/actr.js is missing" >&2; exit 1; }

DIR=$(mktemp -d "${TMPDIR:-/tmp}/actr-demo-web.XXXXXX")
SIG_PID=
SRV_PID=
SRV2_PID=
BE_PID=
SECRET=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
. "$TOP/scripts/stop.sh"
cleanup() {
	stop "$BE_PID" "$SRV2_PID" "$SRV_PID" "$SIG_PID"
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

wait_for() { # FILE PATTERN: up to 5 s
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 50 ]; then
			echo "demo-web: timed out waiting for '$2' in $1" >&2
			cat "$1" >&2 || true
			exit 1
		fi
		sleep 0.1
	done
}

cat >"$DIR/signal.conf" <<EOC
[server]
listen = 127.0.0.1:$PORT
db = $DIR/signal.db
www = $TOP/web
[realm.102]
[realm.101]
secret = $SECRET
EOC
chmod 600 "$DIR/signal.conf"
"$B/actr-signal" -c "$DIR/signal.conf" >"$DIR/signal.log" 2>&1 &
SIG_PID=$!
wait_for "$DIR/signal.log" "listening on"

ACTR_LOG=${ACTR_LOG:-warn} "$EX/server" --signal "ws://127.0.0.1:$PORT" \
	--realm 102 >"$DIR/server.out" 2>"$DIR/server.log" &
SRV_PID=$!
wait_for "$DIR/server.out" "^ready"

cat <<EOM
== actr browser demo
   open      http://127.0.0.1:$PORT/demo/
   echo      C echo server (acme:echo:1.0.0) in realm 102 (no secret)
   call the page from C:
             $EX/client --signal ws://127.0.0.1:$PORT --realm 102 --type acme:web:1.0.0
EOM
if command -v node >/dev/null 2>&1; then
	ACTR_LOG=${ACTR_LOG:-warn} "$EX/server" --signal "ws://127.0.0.1:$PORT" \
		--realm 101 --secret "$SECRET" >"$DIR/server101.out" \
		2>"$DIR/server101.log" &
	SRV2_PID=$!
	ACTR_REALM_SECRET=$SECRET node "$TOP/web/demo/backend.mjs" \
		--signal "http://127.0.0.1:$PORT" --realm 101 \
		--type acme:web:1.0.0 --listen "127.0.0.1:$((PORT + 1))" \
		--allow-origin "http://127.0.0.1:$PORT" >"$DIR/backend.log" 2>&1 &
	BE_PID=$!
	wait_for "$DIR/server101.out" "^ready"
	wait_for "$DIR/backend.log" "^ready"
	echo "   realm 101 has a secret only the backend knows; the page asks it:"
	echo "   open      http://127.0.0.1:$PORT/demo/?realm=101&credential=http://127.0.0.1:$((PORT + 1))/credential"
fi
echo "   logs      $DIR"

if [ -n "${ACTR_DEMO_SECONDS:-}" ]; then
	echo "   (stopping after $ACTR_DEMO_SECONDS s)"
	i=0
	while [ $i -lt "$ACTR_DEMO_SECONDS" ] && kill -0 "$SIG_PID" 2>/dev/null; do
		sleep 1
		i=$((i + 1))
	done
else
	echo "   Ctrl-C stops"
	wait "$SIG_PID" || true
fi
