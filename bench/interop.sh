#!/bin/sh
# Actor call latency across runtimes, in one run on one machine: C -> C,
# Rust -> C, C -> Rust, Rust -> Rust through this project's actr-signal,
# inside a private network namespace (198.18.0.1 on lo), every process
# pinned to one CPU (ACTR_BENCH_CPU, default the last one).
#
#   bench/interop.sh [BUILD_DIR]      (make bench runs it)
#
# Per pair and round: discovery + first call (setup, connection included)
# then N sequential calls (ACTR_BENCH_CALLS, default 1000) of
# echo.EchoService.Echo with a short message; p50/p99 over those. Rounds:
# ACTR_BENCH_ROUNDS (default 5); the table shows the median of the
# rounds. The Rust runtime is npm @actrium/actr-linux-x64-gnu (its
# Node.js binding: Rust rows include the binding's per-call cost); it
# serves nothing, so calls to a Rust node end in NotImplemented (10009),
# a full round trip. Needs root (unshare -n); prints SKIP otherwise.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
INTEROP=$TOP/test/interop
B=${1:-build}
case $B in /*) ;; *) B="$TOP/$B" ;; esac
NAME="bench interop"
N=${ACTR_BENCH_CALLS:-1000}
ROUNDS=${ACTR_BENCH_ROUNDS:-5}
CPU=${ACTR_BENCH_CPU:-$(($(getconf _NPROCESSORS_ONLN) - 1))}
. "$INTEROP/lib.sh"
if [ -z "${ACTR_INTEROP_INSIDE:-}" ] && command -v taskset >/dev/null 2>&1 &&
	[ -z "${ACTR_BENCH_PINNED:-}" ]; then
	ACTR_BENCH_PINNED=1 ACTR_BENCH_CPU=$CPU exec taskset -c "$CPU" sh "$0" "$@"
fi
interop_enter "$0" "$B"

start_signal signal 18281 3600 || { FAILS=1; cat "$DIR/signal.log"; exit 1; }
start_rust_server rust-echo acme:rust-echo:1.0.0 18281 ||
	{ FAILS=1; cat "$DIR/rust-echo.log"; exit 1; }
start_c_server c-echo acme:echo:1.0.0 18281 ||
	{ FAILS=1; cat "$DIR/c-echo.log"; exit 1; }

# one_round PAIR ROUND: print "stats ..." of one client run
one_round() {
	log="$DIR/$1.$2.log"
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

echo "actor calls across runtimes: $N sequential calls per round, median of $ROUNDS rounds, CPU $CPU"
echo "$(uname -m), $(getconf _NPROCESSORS_ONLN) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf '%-16s %12s %16s %10s %10s\n' "pair" "setup ms" "(min-max)" "p50 us" \
	"p99 us"
for pair in c-c rust-c c-rust rust-rust; do
	: >"$DIR/$pair.stats"
	for r in $(seq 1 "$ROUNDS"); do
		one_round "$pair" "$r" >>"$DIR/$pair.stats" || FAILS=$((FAILS + 1))
	done
	setup=$(field setup_us <"$DIR/$pair.stats" | median)
	range=$(field setup_us <"$DIR/$pair.stats" | sort -n |
		awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.1f-%.1f", lo / 1000, hi / 1000}')
	p50=$(field p50_us <"$DIR/$pair.stats" | median)
	p99=$(field p99_us <"$DIR/$pair.stats" | median)
	label=$(echo "$pair" | sed 's/-/ -> /; s/\bc\b/C/g; s/rust/Rust/g')
	printf '%-16s %12.1f %16s %10.1f %10.1f\n' "$label" \
		"$(awk "BEGIN {print ${setup:-0} / 1000}")" "($range)" "${p50:-0}" \
		"${p99:-0}"
done
[ $FAILS -eq 0 ]
