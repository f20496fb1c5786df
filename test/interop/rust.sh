#!/bin/sh
# Interop with the Rust actr runtime (npm @actrium/actr-linux-x64-gnu, the
# Node.js build of the Rust repository's bindings/typescript), run by
# `make check`: test/interop/rust.sh BUILD_DIR
#
# Everything runs inside a private network namespace (unshare -n) with
# 198.18.0.1/32 on lo: webrtc-rs never gathers 127.0.0.0/8 candidates.
# This project's actr-signal serves every node; steps, each PASS or FAIL:
#   rust-to-rust      Rust client -> Rust node (NotImplemented each call:
#                     the binding serves nothing, so every call proves
#                     discovery, negotiation, ICE, DTLS, SCTP, envelopes)
#   rust-to-c         Rust client -> C echo server: 1000 calls, replies
#                     checked, then 1 KiB, 64 KiB, 65528 B, 200 KiB, 1 MiB
#   c-to-rust         C client -> Rust node: 1000 calls, each NotImplemented
#   c-closes-cleanly  the C client's exit ends its connection with an SCTP
#                     SHUTDOWN the Rust side completes (no ABORT)
#   c-to-rust-ws      C client -> Rust node over the direct WebSocket lane
#                     (the Rust node listens, [websocket] in actr.toml, and
#                     advertises ws_address; the C client prefers it): 200
#                     calls, each NotImplemented, every one a WebSocket
#                     frame each way; the Rust gate verified the C node's
#                     X-Actr-Credential
#   rust-presence     the Rust node, alive past the server's presence
#                     timeout on heartbeats alone, is still found and called
#   rust-renewal      a Rust node on a second actr-signal with 4 s
#                     credentials renews them (/ais/renew) and is still
#                     callable after three lifetimes
# Without root, unshare, node/npm or the registry the test prints
# "SKIP: <reason>"; with CI=true a skip is a failure.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
INTEROP=$TOP/test/interop
B=${1:-build}
case $B in /*) ;; *) B="$TOP/$B" ;; esac
NAME="rust interop"
. "$INTEROP/lib.sh"
interop_enter "$0" "$B"

result() { # result NAME STATUS LOGFILE...
	step=$1 st=$2
	shift 2
	if [ "$st" -eq 0 ]; then
		echo "PASS: $NAME: $step $(grep -h '^stats ' "$1" | head -1 |
			sed 's/^stats //')"
	else
		FAILS=$((FAILS + 1))
		echo "FAIL: $NAME: $step (logs in $DIR)"
		for f in "$@"; do
			echo "---- $f (last 30 lines)"
			tail -30 "$f"
		done
	fi
}

start_signal signal 18181 3600 || {
	result "actr-signal starts" 1 "$DIR/signal.log"; exit 1; }
T0=$(date +%s)
start_rust_server rust-echo acme:rust-echo:1.0.0 18181 || {
	result "Rust node registers" 1 "$DIR/rust-echo.log"; exit 1; }

rust call rust-caller acme:rust-caller:1.0.0 18181 \
	--target acme:rust-echo:1.0.0 -n 20 --expect-error NotImplemented \
	>"$DIR/rust-to-rust.log" 2>&1
result rust-to-rust $? "$DIR/rust-to-rust.log"

if start_c_server c-echo acme:echo:1.0.0 18181; then
	rust call rust-client acme:rust-client:1.0.0 18181 \
		--target acme:echo:1.0.0 -n 1000 \
		--sizes 1024,65536,65528,204800,1048576 \
		>"$DIR/rust-to-c.log" 2>&1
	result rust-to-c $? "$DIR/rust-to-c.log" "$DIR/c-echo.log"
else
	result "C echo server registers" 1 "$DIR/c-echo.log"
fi

"$B/examples/echo_actor/client" $(c_args 18181) --type acme:rust-echo:1.0.0 \
	-n 1000 --quiet --expect-error 10009 >"$DIR/c-to-rust.log" 2>&1
result c-to-rust $? "$DIR/c-to-rust.log"

# the C client's exit closed its connection with an SCTP SHUTDOWN that the
# Rust side completed (no ABORT: webrtc-sctp logs it as ErrChunk)
sleep 0.5
st=0
grep -q "closed cleanly" "$DIR/c-to-rust.log" || st=1
grep -q "aborting" "$DIR/c-to-rust.log" && st=1
grep "ErrChunk" "$DIR/rust-echo.log" && st=1
result c-closes-cleanly $st "$DIR/rust-echo.log" "$DIR/c-to-rust.log"

# the direct WebSocket lane: a Rust node that listens, a C caller that
# prefers the lane
if start_rust_server_ws rust-ws acme:rust-ws:1.0.0 18181 18190; then
	"$B/examples/echo_actor/client" $(c_args 18181) \
		--type acme:rust-ws:1.0.0 --prefer-ws -n 200 --quiet \
		--expect-error 10009 >"$DIR/c-to-rust-ws.log" 2>&1
	st=$?
	grep -q "^ws frames_out=200 frames_in=200" "$DIR/c-to-rust-ws.log" ||
		st=1
	grep -q "identity verification passed" "$DIR/rust-ws.log" || st=1
	result c-to-rust-ws $st "$DIR/c-to-rust-ws.log" "$DIR/rust-ws.log"
else
	result "Rust node registers (WebSocket lane)" 1 "$DIR/rust-ws.log"
fi

# presence: the server forgets an actor 4 s after its last heartbeat;
# the Rust node must live through two of those windows on heartbeats
while [ $(($(date +%s) - T0)) -lt 9 ]; do sleep 0.5; done
"$B/examples/echo_actor/client" $(c_args 18181) --type acme:rust-echo:1.0.0 \
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
echo "$NAME: the Rust node renewed its 4 s credential $n times in 13 s"
[ "$n" -ge 2 ] || st=1
result rust-renewal $st "$DIR/renewal.log" "$DIR/signal-renew.log" \
	"$DIR/rust-renew.log"

if [ $FAILS -eq 0 ]; then
	echo "$NAME: all steps passed"
else
	echo "$NAME: $FAILS step(s) failed"
fi
[ $FAILS -eq 0 ]
