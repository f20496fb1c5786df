#!/bin/sh
# The JavaScript client (web/actr.js) in Node against this project's
# actr-signal and C actors, run by `make check`: test/interop/web.sh BUILD
#
# Node runs the module with node-datachannel's W3C RTCPeerConnection
# polyfill and the `ws` package (pinned below, installed by npm-fetch.sh
# into BUILD/npm), the same module a page loads. Steps, each PASS or FAIL:
#   schema       web/actr_proto.js is what web/tools/gen-proto.mjs makes
#                of proto/*.proto today
#   badcred      a wrong realm secret: start() rejects with ActrError
#                EAUTH (10104) and the client's state is "failed"
#   unknown      a route the C echo server lacks: ActrError 10006
#   backend      a client without the secret, given a credential that a
#                "backend" registered for it, calls the C echo server
#   js-to-c      200 calls to the C echo server, each reply checked, then
#                one 1 MiB message (17 fragments each way)
#   c-to-js      the C client (examples/echo_actor/client --type) calls a
#                route the module serves, 200 times, replies checked
#   js-to-js     one module instance calls another through actr-signal
#                (both sides of role negotiation, SDP and the channels in
#                JavaScript), a 20-chunk stream in order, an ACL denial
#                gives ActrError EPERM
#   c-to-c       the same-run baseline: the C client calls the C echo
#                server 200 times
#   renew        against a second actr-signal issuing 4 s credentials the
#                client renews them and is still served after 9 s
#   restart      actr-signal is restarted under a connected client: it goes
#                "reconnecting" -> "connected" and calls the C echo again
# Inside a private network namespace (unshare -n) when root, so fixed
# ports on 127.0.0.1 collide with nothing. Without node/npm or the
# registry the test prints "SKIP: <reason>"; with CI=true a skip fails.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
INTEROP=$TOP/test/interop
B=${1:-build}
case $B in /*) ;; *) B="$TOP/$B" ;; esac
NAME="web interop"
NPM_SPECS="node-datachannel@0.33.4 ws@8.18.3 protobufjs@8.8.1"
PORT=18391
SECRET=web-secret
# interop_skip, interop_cleanup, wait_for; PIDS and FAILS
. "$INTEROP/lib.sh"

if [ -z "${ACTR_WEB_INSIDE:-}" ]; then
	command -v node >/dev/null 2>&1 || interop_skip "node is not installed"
	out=$(sh "$INTEROP/npm-fetch.sh" "$B/npm" $NPM_SPECS 2>&1)
	case $? in
	0) ;;
	3) interop_skip "$(echo "$out" | sed -n 's/^SKIP: //p' | head -1)" ;;
	*) echo "$out"; echo "FAIL: $NAME: cannot install $NPM_SPECS"; exit 1 ;;
	esac
	for p in actr-signal examples/echo_actor/server \
		examples/echo_actor/client; do
		[ -x "$B/$p" ] || { echo "FAIL: $NAME: $B/$p not built"; exit 1; }
	done
	if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null 2>&1 &&
	   command -v ip >/dev/null 2>&1; then
		ACTR_WEB_INSIDE=1 exec unshare -n sh "$0" "$B"
	fi
	# no namespace: a port of our own on the shared loopback
	PORT=$((20000 + $$ % 20000))
else
	ip link set lo up || { echo "FAIL: $NAME: lo"; exit 1; }
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/actr-web.XXXXXX")
trap interop_cleanup EXIT
trap 'exit 1' INT TERM


result() { # result STEP STATUS DETAIL LOGFILE...
	step=$1 st=$2 detail=$3
	shift 3
	if [ "$st" -eq 0 ]; then
		echo "PASS: $NAME: $step $detail"
	else
		FAILS=$((FAILS + 1))
		echo "FAIL: $NAME: $step (logs in $DIR)"
		for f in "$@"; do
			echo "---- $f (last 30 lines)"
			tail -30 "$f"
		done
	fi
}

# schema: the committed generated module is current
node "$TOP/web/tools/gen-proto.mjs" "$B/npm" "$DIR/actr_proto.js" \
	>"$DIR/schema.log" 2>&1 &&
	cmp "$DIR/actr_proto.js" "$TOP/web/actr_proto.js" >>"$DIR/schema.log" 2>&1
result schema $? "" "$DIR/schema.log"

# (the node:test unit tests run in the C runner: web_fixtures_node)
conf() { # conf NAME PORT TOKEN_TTL
	cat >"$DIR/$1.conf" <<EOC
[server]
listen = 127.0.0.1:$2
db = $DIR/$1.db
heartbeat_secs = 1
token_ttl_secs = $3
[limits]
conn_per_min = 10000
conn_burst = 1000
reg_per_min = 10000
reg_burst = 1000
msg_per_s = 100000
msg_burst = 100000
[realm.101]
secret = $SECRET
EOC
}
conf signal "$PORT" 3600
conf short $((PORT + 1)) 4
start_signal() {
	"$B/actr-signal" -c "$DIR/signal.conf" >>"$DIR/signal.log" 2>&1 &
	SIG=$!
	PIDS="$PIDS $SIG"
}
start_signal
wait_for "$DIR/signal.log" "listening on" 5 || {
	result "actr-signal starts" 1 "" "$DIR/signal.log"; exit 1; }
C_ARGS="--signal ws://127.0.0.1:$PORT --realm 101 --secret $SECRET --local 127.0.0.1"
# shellcheck disable=SC2086
"$B/examples/echo_actor/server" $C_ARGS >"$DIR/echo.log" 2>&1 &
PIDS="$PIDS $!"
wait_for "$DIR/echo.log" "^ready " 10 || {
	result "C echo server starts" 1 "" "$DIR/echo.log"; exit 1; }

js() { # js LOG STEP...
	log=$1
	shift
	timeout 150 node "$INTEROP/web_node.mjs" "$B/npm" \
		"http://127.0.0.1:$PORT" 101 "$SECRET" "$@" >"$log" 2>&1
}

js "$DIR/js.log" badcred unknown backend call pair
for step in badcred unknown backend call pair; do
	grep -q "^ok $step" "$DIR/js.log"
	st=$?
	name=$step
	[ "$step" = call ] && name=js-to-c
	[ "$step" = pair ] && name=js-to-js
	detail=$(grep "^ok $step" "$DIR/js.log" | cut -d' ' -f3-)
	[ "$step" = call ] && detail="$(grep '^stats ' "$DIR/js.log")"
	result "$name" $st "$detail" "$DIR/js.log" "$DIR/signal.log"
done

# c-to-js: the module serves, the C client calls (stdin held open by a
# fifo until the C client is done)
mkfifo "$DIR/hold"
js "$DIR/serve.log" serve <"$DIR/hold" &
JS=$!
PIDS="$PIDS $JS"
exec 3>"$DIR/hold"
if wait_for "$DIR/serve.log" "^serving " 20; then
	# shellcheck disable=SC2086
	timeout 60 "$B/examples/echo_actor/client" $C_ARGS \
		--type acme:web-echo:1.0.0 -n 200 --quiet >"$DIR/client.log" 2>&1
	st=$?
else
	st=1
fi
exec 3>&-
wait "$JS"
grep -q "^ok serve served=200" "$DIR/serve.log" || st=1
result c-to-js $st "$(grep -h '^stats ' "$DIR/client.log")" \
	"$DIR/client.log" "$DIR/serve.log"

# shellcheck disable=SC2086
timeout 60 "$B/examples/echo_actor/client" $C_ARGS -n 200 --quiet \
	>"$DIR/c2c.log" 2>&1
result c-to-c $? "$(grep -h '^stats ' "$DIR/c2c.log")" "$DIR/c2c.log"

"$B/actr-signal" -c "$DIR/short.conf" >"$DIR/short.log" 2>&1 &
PIDS="$PIDS $!"
if wait_for "$DIR/short.log" "listening on" 5; then
	timeout 60 node "$INTEROP/web_node.mjs" "$B/npm" \
		"http://127.0.0.1:$((PORT + 1))" 101 "$SECRET" renew \
		>"$DIR/renew.log" 2>&1
	grep -q "^ok renew" "$DIR/renew.log"
	st=$?
else
	st=1
fi
result renew $st "$(grep -h '^ok renew' "$DIR/renew.log" | cut -d' ' -f3-)" \
	"$DIR/renew.log" "$DIR/short.log"

# restart: the server goes away under a connected client and comes back
# (same state file) 1 s later
js "$DIR/restart.log" restart &
JS=$!
PIDS="$PIDS $JS"
st=1
if wait_for "$DIR/restart.log" "^restart-ready" 20; then
	kill -TERM "$SIG"
	wait "$SIG" 2>/dev/null
	sleep 1
	start_signal
	wait "$JS"
	grep -q "^ok restart" "$DIR/restart.log" && st=0
fi
result restart $st "$(grep -h '^ok restart' "$DIR/restart.log" |
	cut -d' ' -f3-)" "$DIR/restart.log" "$DIR/signal.log"

[ "$FAILS" -eq 0 ]
