#!/bin/sh
# Interop with the Rust actr runtime (npm @actrium/actr-linux-x64-gnu, the
# Node.js build of the Rust repository's bindings/typescript), run by
# `make check`: test/interop/rust.sh BUILD_DIR
#
# Everything runs inside a private network namespace (unshare -n) with
# 198.18.0.1/32 on lo: webrtc-rs never gathers 127.0.0.0/8 candidates.
# One actr-signal (this project's) serves every node; steps, each PASS or
# FAIL:
#   rust-to-rust      Rust client -> Rust node (NotImplemented each call:
#                     the binding serves nothing, so every call proves
#                     discovery, negotiation, ICE, DTLS, SCTP, envelopes)
#   rust-to-c         Rust client -> C echo server: 1000 calls, replies
#                     checked, then 1 KiB, 64 KiB, 65528 B, 200 KiB, 1 MiB
#   c-to-rust         C client -> Rust node: 1000 calls, each NotImplemented
#   rust-presence     the Rust node, alive past the server's presence
#                     timeout on heartbeats alone, is still found and called
#   rust-renewal      a Rust node on a second actr-signal with 4 s
#                     credentials renews them (/ais/renew) and is still
#                     callable after three lifetimes
# Without root, unshare, node/npm or the registry the test prints
# "SKIP: <reason>"; with CI=true a skip is a failure.
set -u
B=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
case $B in /*) ;; *) B="$TOP/$B" ;; esac
RUST_PKG=@actrium/actr-linux-x64-gnu@0.5.9
ADDR=198.18.0.1

skip() {
	echo "SKIP: rust interop: $*"
	if [ "${CI:-}" = true ]; then
		echo "FAIL: rust interop skipped under CI=true"
		exit 1
	fi
	exit 0
}

if [ "${1:-}" != --inside ] && [ "${2:-}" != --inside ]; then
	[ "$(id -u)" -eq 0 ] || skip "needs root for a private network namespace"
	command -v unshare >/dev/null 2>&1 || skip "unshare(1) not installed"
	command -v ip >/dev/null 2>&1 || skip "ip(8) (iproute2) not installed"
	out=$(sh "$HERE/npm-fetch.sh" "$B/npm" "$RUST_PKG" 2>&1)
	case $? in
	0) ;;
	3) skip "$(echo "$out" | sed -n 's/^SKIP: //p' | head -1)" ;;
	*) echo "$out"; echo "FAIL: rust interop: cannot install $RUST_PKG"; exit 1 ;;
	esac
	for p in actr-signal examples/echo_actor/server examples/echo_actor/client; do
		[ -x "$B/$p" ] || { echo "FAIL: $B/$p not built"; exit 1; }
	done
	exec unshare -n sh "$0" "$B" --inside
fi

# ---- inside the namespace ------------------------------------------------
ip link set lo up && ip addr add "$ADDR/32" dev lo || {
	echo "FAIL: cannot configure the namespace's loopback"; exit 1; }
ADDON="$B/npm/actr.node"
DIR=$(mktemp -d "${TMPDIR:-/tmp}/actr-rust-interop.XXXXXX")
PIDS=""
FAILS=0
cleanup() {
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
	i=0
	for p in $PIDS; do
		while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1; i=$((i + 1))
		done
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	[ $FAILS -eq 0 ] && [ -z "${KEEP:-}" ] && rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# wait_for FILE PATTERN SECONDS
wait_for() {
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt $(($3 * 10)) ] && return 1
		sleep 0.1
	done
}

result() { # result NAME STATUS LOGFILE...
	name=$1 st=$2
	shift 2
	if [ "$st" -eq 0 ]; then
		echo "PASS: rust interop: $name $(grep -h '^stats ' "$@" |
			head -1 | sed 's/^stats //')"
	else
		FAILS=$((FAILS + 1))
		echo "FAIL: rust interop: $name (logs in $DIR)"
		for f in "$@"; do
			echo "---- $f (last 30 lines)"
			tail -30 "$f"
		done
	fi
}

start_signal() { # start_signal NAME PORT TOKEN_TTL
	cat >"$DIR/$1.conf" <<EOF
[server]
listen = $ADDR:$2
db = $DIR/$1.db
heartbeat_secs = 1
presence_ttl_secs = 4
token_ttl_secs = $3
[limits]
conn_per_min = 10000
conn_burst = 1000
reg_per_min = 10000
reg_burst = 1000
msg_per_s = 100000
msg_burst = 100000
[realm.101]
secret = interop-secret
EOF
	"$B/actr-signal" -c "$DIR/$1.conf" >"$DIR/$1.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_for "$DIR/$1.log" "listening on" 5
}

rust() { # rust MODE NAME TYPE PORT [ARGS...]: a Rust node
	mode=$1 name=$2 type=$3 port=$4
	shift 4
	node "$HERE/rust_peer.mjs" "$mode" --addon "$ADDON" \
		--dir "$DIR/$name" --signal "$ADDR:$port" --realm 101 \
		--secret interop-secret --type "$type" "$@"
}

start_rust_server() { # NAME TYPE PORT
	rust serve "$1" "$2" "$3" </dev/null >"$DIR/$1.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_for "$DIR/$1.log" "^ready " 30
}

C_ARGS="--signal ws://$ADDR:18181 --realm 101 --secret interop-secret --local $ADDR"

start_signal signal 18181 3600 || {
	result "actr-signal starts" 1 "$DIR/signal.log"; exit 1; }
T0=$(date +%s)
start_rust_server rust-echo acme:rust-echo:1.0.0 18181 || {
	result "Rust node registers" 1 "$DIR/rust-echo.log"; exit 1; }

rust call rust-caller acme:rust-caller:1.0.0 18181 \
	--target acme:rust-echo:1.0.0 -n 20 --expect-error NotImplemented \
	>"$DIR/rust-to-rust.log" 2>&1
result rust-to-rust $? "$DIR/rust-to-rust.log"

"$B/examples/echo_actor/server" $C_ARGS --type acme:echo:1.0.0 \
	>"$DIR/c-echo.log" 2>&1 &
PIDS="$PIDS $!"
if wait_for "$DIR/c-echo.log" "^ready " 10; then
	rust call rust-client acme:rust-client:1.0.0 18181 \
		--target acme:echo:1.0.0 -n 1000 \
		--sizes 1024,65536,65528,204800,1048576 \
		>"$DIR/rust-to-c.log" 2>&1
	result rust-to-c $? "$DIR/rust-to-c.log" "$DIR/c-echo.log"
else
	result "C echo server registers" 1 "$DIR/c-echo.log"
fi

"$B/examples/echo_actor/client" $C_ARGS --type acme:rust-echo:1.0.0 \
	-n 1000 --quiet --expect-error 10009 >"$DIR/c-to-rust.log" 2>&1
result c-to-rust $? "$DIR/c-to-rust.log"

# presence: the server forgets an actor 4 s after its last heartbeat;
# make sure the Rust node has lived through two of those windows
while [ $(($(date +%s) - T0)) -lt 9 ]; do sleep 0.5; done
"$B/examples/echo_actor/client" $C_ARGS --type acme:rust-echo:1.0.0 \
	-n 5 --expect-error 10009 >"$DIR/presence.log" 2>&1
st=$?
grep "rust-echo.*no heartbeat" "$DIR/signal.log" && st=1
result rust-presence $st "$DIR/presence.log" "$DIR/signal.log"

# renewal: 4 s credentials on a second server
start_signal signal-renew 18182 4 || {
	result "second actr-signal starts" 1 "$DIR/signal-renew.log"; exit 1; }
start_rust_server rust-renew acme:rust-renew:1.0.0 18182 || {
	result "Rust node registers (renewal)" 1 "$DIR/rust-renew.log"; exit 1; }
sleep 13
rust call rust-renew-caller acme:rust-caller:1.0.0 18182 \
	--target acme:rust-renew:1.0.0 -n 3 --expect-error NotImplemented \
	>"$DIR/renewal.log" 2>&1
st=$?
n=$(grep -c "renew: credential of .*acme:rust-renew" "$DIR/signal-renew.log")
echo "rust-renewal: $n renewals of the Rust node's credential in 13 s"
[ "$n" -ge 2 ] || st=1
result rust-renewal $st "$DIR/renewal.log" "$DIR/signal-renew.log" \
	"$DIR/rust-renew.log"

[ $FAILS -eq 0 ] && echo "rust interop: all steps passed" ||
	echo "rust interop: $FAILS step(s) failed"
[ $FAILS -eq 0 ]
