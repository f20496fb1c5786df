#!/bin/sh
# Every network command of the `actr` CLI against a live actr-signal and
# the echo example node, including bad input: unknown type, bad payload,
# bad target, a node that went down, a signaling server that is not there
# (a clear message on stderr and a non-zero exit each time).
# usage: cli.sh BUILD_DIR TMP_DIR
set -u
B=$1
T=$2
A="$B/actr"
pids=""

cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
}
trap cleanup EXIT

fail() {
	echo "cli.sh: $*" >&2
	for f in "$T"/*.log "$T"/out "$T"/err; do
		[ -f "$f" ] && { echo "== $f"; tail -n 15 "$f"; } >&2
	done
	exit 1
}

port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# run WANT_RC ARGS...: run the CLI, stdout in $T/out, stderr in $T/err
run() {
	want=$1
	shift
	"$A" "$@" >"$T/out" 2>"$T/err"
	got=$?
	[ "$got" = "$want" ] || fail "actr $*: exit $got, want $want"
}

SP=$(port)
F="--signaling ws://127.0.0.1:$SP --realm 101 --realm-secret pw --local-addr 127.0.0.1"

run 0 version
grep -q '^actr [0-9]' "$T/out" || fail "version"
run 0 --json version
grep -q '"version"' "$T/out" || fail "version --json"
run 2 frobnicate
grep -q "unknown command 'frobnicate'" "$T/err" || fail "unknown command"

run 0 signal --help
grep -q "usage: actr-signal" "$T/out" || fail "actr signal --help"
run 0 completion bash
bash -n "$T/out" || fail "completion script does not parse"
grep -q "complete -F _actr actr" "$T/out" || fail "completion"
# the script completes subcommands
out=$(bash -c ". '$T/out'; COMP_WORDS=(actr dlq re); COMP_CWORD=2; _actr; echo \${COMPREPLY[*]}")
[ "$out" = "redrive" ] || fail "completion of 'actr dlq re': '$out'"

# no signaling server there
# shellcheck disable=SC2086
run 1 $F --timeout 3000 discover acme:echo:1.0.0
grep -q "cannot register with ws://127.0.0.1:$SP" "$T/err" ||
	fail "no signaling: message"
grep -q "hint: is actr-signal running" "$T/err" || fail "no signaling: hint"
run 2 discover acme:echo:1.0.0
grep -q "no signaling server given" "$T/err" || fail "no --signaling"

# every command registers a node: relax the per-address limits
printf '[limits]\nreg_per_min=6000\nreg_burst=1000\nconn_per_min=6000\nconn_burst=1000\n' >"$T/signal.conf"
"$B/actr-signal" -c "$T/signal.conf" -l "127.0.0.1:$SP" -d "$T/sig.db" \
	-r 101:pw >"$T/signal.log" 2>&1 &
pids="$pids $!"
"$B/examples/echo_actor/server" --signal "ws://127.0.0.1:$SP" --secret pw \
	>"$T/node.log" 2>&1 &
ECHO=$!
pids="$pids $ECHO"

# discover until the node has registered (bounded: 20 tries)
i=0
while [ $i -lt 20 ]; do
	# shellcheck disable=SC2086
	"$A" $F --json discover acme:echo:1.0.0 >"$T/out" 2>"$T/err" && break
	sleep 0.3
	i=$((i + 1))
done
grep -q '"ids":\["[0-9a-f]*@101/acme:echo:1.0.0"\]' "$T/out" ||
	fail "discover --json"
ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ids"][0])' "$T/out")
# shellcheck disable=SC2086
run 0 $F discover acme:echo:1.0.0
[ "$(cat "$T/out")" = "$ID" ] || fail "discover: $(cat "$T/out") != $ID"
# shellcheck disable=SC2086
run 1 $F discover acme:nobody:1.0.0
grep -q "no actor of type acme:nobody:1.0.0 is registered" "$T/err" ||
	fail "discover unknown type"

# call: EchoRequest{message: "hi"} is 0a 02 68 69; the reply
# EchoResponse{reply: "Echo: hi", timestamp} starts 0a 08 "Echo: hi"
# shellcheck disable=SC2086
run 0 $F --json call acme:echo:1.0.0 echo.EchoService.Echo 0a026869
grep -q '"ok":true' "$T/out" || fail "call: ok"
grep -q '"reply_hex":"0a084563686f3a206869' "$T/out" || fail "call: reply"
grep -q '"latency_ms":[0-9]' "$T/out" || fail "call: latency"
# the same by ActrId, base64 and text payloads, human output
# shellcheck disable=SC2086
run 0 $F call "$ID" echo.EchoService.Echo base64:CgJoaQ==
grep -q "^ok: echo.EchoService.Echo on $ID in [0-9.]* ms" "$T/out" ||
	fail "call by id"
grep -q "0a084563686f3a206869" "$T/out" || fail "call by id: reply"
printf '\n\002hi' >"$T/payload"
# shellcheck disable=SC2086
run 0 $F call acme:echo:1.0.0 echo.EchoService.Echo "@$T/payload"
grep -q "0a084563686f3a206869" "$T/out" || fail "call @file"

# --proto: protobuf text format in, the reply decoded
P="$B/../examples/echo_actor/echo.proto"
# shellcheck disable=SC2086
run 0 $F --proto "$P" call acme:echo:1.0.0 echo.EchoService.Echo 'message: "hi"'
grep -q '^reply: "Echo: hi"$' "$T/out" || fail "--proto call"
# shellcheck disable=SC2086
run 0 $F --json --proto "$P" call acme:echo:1.0.0 echo.EchoService.Echo 'message: "x"'
grep -q '"reply_type":"echo.EchoResponse","reply_json":{"reply":"Echo: x","timestamp":"[0-9]*"}' "$T/out" ||
	fail "--proto --json: the reply as JSON"
# JSON payloads (proto3 JSON mapping: lowerCamelCase or .proto names)
# shellcheck disable=SC2086
run 0 $F --json --proto "$P" call acme:echo:1.0.0 echo.EchoService.Echo '{"message": "j\u0041son \"q\""}'
grep -q '"reply_json":{"reply":"Echo: jAson [\\]"q[\\]""' "$T/out" || fail "--proto JSON in, JSON out"
# shellcheck disable=SC2086
run 0 $F --proto "$P" call acme:echo:1.0.0 echo.EchoService.Echo ' {"message":"hj"}'
grep -q '^reply: "Echo: hj"$' "$T/out" || fail "--proto JSON in, text out"
# bad JSON: a clear error naming the problem, exit 2, nothing sent
for bad in '{"mesage": "hi"}' '{"message": 5}' '{"message": "hi"' \
	   '{"message": "hi"} x' '{message: "hi"}'; do
	# shellcheck disable=SC2086
	run 2 $F --proto "$P" call acme:echo:1.0.0 echo.EchoService.Echo "$bad"
	grep -q "bad JSON payload for echo.EchoRequest" "$T/err" ||
		fail "--proto bad JSON: $bad"
done
grep -q 'hint: give a JSON object' "$T/err" || fail "--proto bad JSON: hint"
# shellcheck disable=SC2086
run 2 $F --proto "$P" call acme:echo:1.0.0 echo.EchoService.Echo '{"mesage": "hi"}'
grep -q 'EchoRequest has no field "mesage"' "$T/err" || fail "--proto bad JSON: field"
# shellcheck disable=SC2086
run 2 $F --proto "$P" call acme:echo:1.0.0 echo.EchoService.Echo 'mesage: "hi"'
grep -q 'no field named "mesage"' "$T/err" || fail "--proto bad payload"
grep -q "bad payload for echo.EchoRequest" "$T/err" || fail "--proto bad payload 2"
# shellcheck disable=SC2086
run 2 $F --proto "$P" call acme:echo:1.0.0 echo.EchoService.Nope 'message: "hi"'
grep -q "no method echo.EchoService.Nope" "$T/err" || fail "--proto bad route"

# bad input
# shellcheck disable=SC2086
run 1 $F call acme:nobody:1.0.0 echo.EchoService.Echo 0a026869
grep -q "call failed: NotFound" "$T/err" || fail "unknown type: message"
grep -q "hint: no actor of that type" "$T/err" || fail "unknown type: hint"
# shellcheck disable=SC2086
run 2 $F call acme:echo:1.0.0 echo.EchoService.Echo nothex
grep -q "bad payload 'nothex': not hex" "$T/err" || fail "bad payload"
# shellcheck disable=SC2086
run 2 $F call acme-echo echo.EchoService.Echo 00
grep -q "bad target 'acme-echo'" "$T/err" || fail "bad target"
# shellcheck disable=SC2086
run 1 $F --json call acme:echo:1.0.0 no.Such.Route ""
grep -q '"error":"UnknownRoute"' "$T/out" || fail "unknown route: json"
grep -q "check the route key" "$T/err" || fail "unknown route: hint"
# a payload the service cannot decode
# shellcheck disable=SC2086
run 1 $F call acme:echo:1.0.0 echo.EchoService.Echo ffffffff
grep -q "call failed: \(DecodeFailure\|InvalidArgument\)" "$T/err" ||
	fail "undecodable payload"

# tell and ping
# shellcheck disable=SC2086
run 0 $F tell acme:echo:1.0.0 echo.EchoService.Echo 0a026869
grep -q "^sent echo.EchoService.Echo to acme:echo:1.0.0" "$T/out" || fail "tell"
# shellcheck disable=SC2086
run 1 $F --timeout 3000 tell acme:nobody:1.0.0 x.Y 00
grep -q "was not delivered" "$T/err" || fail "tell to nobody"
# shellcheck disable=SC2086
run 0 $F --json --count 3 ping acme:echo:1.0.0
python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["ok"] and r["count"] == 3 and r["setup_ms"] > 0, r
assert 0 < r["rtt_min_ms"] <= r["rtt_p50_ms"] <= r["rtt_max_ms"], r
' "$T/out" || fail "ping --json"
# shellcheck disable=SC2086
run 0 $F ping "$ID"
grep -q "round trips: min" "$T/out" || fail "ping by id"

# the node goes down: its id no longer answers
kill "$ECHO"
wait "$ECHO" 2>/dev/null
# shellcheck disable=SC2086
run 1 $F --timeout 4000 call "$ID" echo.EchoService.Echo 0a026869
grep -q "call failed: \(ConnectionNotReady\|TimedOut\|Unavailable\|NotFound\)" \
	"$T/err" || fail "node down: message"
grep -q "^hint: " "$T/err" || fail "node down: hint"
# shellcheck disable=SC2086
run 1 $F --timeout 4000 ping acme:echo:1.0.0
grep -q "ping failed" "$T/err" || fail "ping a node that is down"

# config check
cat >"$T/good.toml" <<CFG
[package]
manufacturer = "acme"
name = "echo"
version = "1.0.0"
[signaling]
url = "ws://127.0.0.1:$SP"
[deployment]
realm_id = 101
[observability]
filter_level = "info"
metrics = "127.0.0.1:9464"
CFG
run 0 config check "$T/good.toml"
grep -q "good.toml: ok$" "$T/out" || fail "config check good"
sed 's/realm_id = 101/realm_id = many/' "$T/good.toml" >"$T/bad.toml"
run 1 config check "$T/bad.toml"
grep -q "realm_id" "$T/err" || fail "config check: names the key"
sed 's/filter_level/filter_levle/' "$T/good.toml" >"$T/typo.toml"
run 0 config check "$T/typo.toml"
grep -q "filter_levle is not a key" "$T/err" || fail "config check: typo"
run 1 config check "$T/none.toml"
echo "cli.sh: every command behaves"
exit 0
