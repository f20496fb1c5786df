#!/bin/sh
# Actor call latency across runtimes, in one run on one machine: C -> C,
# Rust -> C, C -> Rust, Rust -> Rust through this project's actr-signal,
# inside a private network namespace (198.18.0.1 on lo), every process
# pinned to one CPU (ACTR_BENCH_CPU, default the last one).
#
#   bench/peers/rust.sh [BUILD_DIR]     (bench/interop.sh runs it too)
#
# Per pair and round: discovery + first call (setup, connection included)
# then N sequential calls (ACTR_BENCH_CALLS, default 1000; 500 with
# ACTR_BENCH_QUICK=1) of echo.EchoService.Echo with a short message;
# p50/p99 over those. Rounds: ACTR_BENCH_ROUNDS (default 3, at least 3),
# each running every pair in turn;
# the table shows the median of the rounds. The Rust runtime is npm
# @actrium/actr-linux-x64-gnu (its Node.js binding: Rust rows include the
# binding's per-call cost); it serves nothing, so calls to a Rust node end
# in NotImplemented (10009), a full round trip. Needs root (unshare -n)
# and npm: otherwise one "SKIP: ..." line, exit status 3.
# ACTR_BENCH_OUT=DIR: one contract row per pair (bench "peers-rust", group
# "actor RPC echo", C -> C the subject, the others peers) appended to
# DIR/results.jsonl, and the median round's per-call latencies (us) in
# DIR/samples/peers-rust.actor-rpc-<pair>.txt.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
INTEROP=$TOP/test/interop
B=${1:-build}
case $B in /*) ;; *) B="$TOP/$B" ;; esac
NAME="side by side: Rust actr"
if [ "${ACTR_BENCH_QUICK:-}" = 1 ]; then
	N=${ACTR_BENCH_CALLS:-500}
else
	N=${ACTR_BENCH_CALLS:-1000}
fi
ROUNDS=${ACTR_BENCH_ROUNDS:-3}
[ "$ROUNDS" -ge 3 ] 2>/dev/null || ROUNDS=3
OUT=${ACTR_BENCH_OUT:-}
case $OUT in "" | /*) ;; *) OUT="$(pwd)/$OUT" ;; esac
export ACTR_BENCH_OUT="$OUT"
CPU=${ACTR_BENCH_CPU:-$(($(getconf _NPROCESSORS_ONLN) - 1))}
. "$INTEROP/lib.sh"
# This script's skips are status 3 (the bench runner's "skipped").
interop_skip() {
	echo "SKIP: $NAME: $*"
	exit 3
}
if [ -z "${ACTR_INTEROP_INSIDE:-}" ] && command -v taskset >/dev/null 2>&1 &&
	[ -z "${ACTR_BENCH_PINNED:-}" ]; then
	ACTR_BENCH_PINNED=1 ACTR_BENCH_CPU=$CPU exec taskset -c "$CPU" \
		timeout -k 5 170 sh "$0" "$@"
fi
interop_enter "$0" "$B"

start_signal signal 18281 3600 || { FAILS=1; cat "$DIR/signal.log"; exit 1; }
start_rust_server rust-echo acme:rust-echo:1.0.0 18281 ||
	{ FAILS=1; cat "$DIR/rust-echo.log"; exit 1; }
start_c_server c-echo acme:echo:1.0.0 18281 ||
	{ FAILS=1; cat "$DIR/c-echo.log"; exit 1; }

# one_round PAIR ROUND: print "stats ..." of one client run (its per-call
# latencies in $DIR/PAIR.ROUND.samples)
one_round() {
	log="$DIR/$1.$2.log"
	export ACTR_BENCH_SAMPLES="$DIR/$1.$2.samples"
	case $1 in
	c-c) "$B/examples/echo_actor/client" $(c_args 18281) --quiet -n "$N" \
		--type acme:echo:1.0.0 >"$log" 2>&1 ;;
	c-rust) "$B/examples/echo_actor/client" $(c_args 18281) --quiet \
		-n "$N" --type acme:rust-echo:1.0.0 --expect-error 10009 \
		>"$log" 2>&1 ;;
	rust-c) rust call "rc$2" acme:bench-client:1.0.0 18281 -n "$N" \
		--target acme:echo:1.0.0 >"$log" 2>&1 ;;
	rust-rust) rust call "rr$2" acme:bench-client:1.0.0 18281 -n "$N" \
		--target acme:rust-echo:1.0.0 --expect-error NotImplemented \
		>"$log" 2>&1 ;;
	esac || { echo "$1 round $2 failed:" >&2; tail -5 "$log" >&2; return 1; }
	grep -h '^stats ' "$log"
}

# field NAME: the value of NAME=... on stdin lines, one per line
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# out_row PAIR LABEL: the contract row of PAIR (its figures in $setup_ms,
# $p50, $p99, $range) and the samples of its median round
out_row() {
	mkdir -p "$OUT/samples"
	role=peer
	[ "$1" = c-c ] && role=subject
	smp=""
	r=$(sed 's/^round=\([0-9]*\) .* p50_us=\([0-9.]*\).*/\1 \2/' \
		"$DIR/$1.stats" | sort -k2 -n |
		awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
	if [ -n "$r" ] && [ -s "$DIR/$1.$r.samples" ]; then
		smp="samples/peers-rust.actor-rpc-$1.txt"
		cp "$DIR/$1.$r.samples" "$OUT/$smp"
	fi
	case $1 in
	c-c) note="this project both ends" ;;
	rust-c) note="Rust actr 0.5.9 (Node.js binding) calls the C echo server" ;;
	c-rust) note="C calls Rust actr 0.5.9, NotImplemented reply" ;;
	rust-rust) note="Rust actr 0.5.9 both ends (Node.js binding), NotImplemented reply" ;;
	esac
	printf '{"bench":"peers-rust","group":"actor RPC echo","row":"%s","role":"%s","p50_us":%s,"p99_us":%s,"setup_ms":%s,"n":%s,"rounds":%s,%s"note":"%s; setup = discovery + connection + first call, %s ms over the rounds"}\n' \
		"$2" "$role" "$p50" "$p99" "$setup_ms" "$N" "$ROUNDS" \
		"${smp:+\"samples\":\"$smp\",}" "$note" "$range" \
		>>"$OUT/results.jsonl"
}

echo "actor calls across runtimes: $N sequential calls per round, median of $ROUNDS rounds, CPU $CPU"
echo "$(uname -m), $(getconf _NPROCESSORS_ONLN) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf '%-16s %12s %16s %10s %10s\n' "pair" "setup ms" "(min-max)" "p50 us" \
	"p99 us"
PAIRS="c-c rust-c c-rust rust-rust"
for pair in $PAIRS; do : >"$DIR/$pair.stats"; done
# Rounds outside, pairs inside: every pair sees the same spread of load.
for r in $(seq 1 "$ROUNDS"); do
	for pair in $PAIRS; do
		if line=$(one_round "$pair" "$r"); then
			echo "round=$r $line" >>"$DIR/$pair.stats"
		else
			FAILS=$((FAILS + 1))
		fi
	done
done
for pair in $PAIRS; do
	setup=$(field setup_us <"$DIR/$pair.stats" | median)
	range=$(field setup_us <"$DIR/$pair.stats" | sort -n |
		awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.1f-%.1f", lo / 1000, hi / 1000}')
	p50=$(field p50_us <"$DIR/$pair.stats" | median)
	p99=$(field p99_us <"$DIR/$pair.stats" | median)
	label=$(echo "$pair" | sed 's/-/ -> /; s/\bc\b/C/g; s/rust/Rust/g')
	setup_ms=$(awk "BEGIN {print ${setup:-0} / 1000}")
	printf '%-16s %12.1f %16s %10.1f %10.1f\n' "$label" "$setup_ms" \
		"($range)" "${p50:-0}" "${p99:-0}"
	[ -n "$OUT" ] && [ -n "$p50" ] && out_row "$pair" "$label"
done
[ $FAILS -eq 0 ]
