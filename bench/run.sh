#!/bin/sh
# `make bench`: run every benchmark with the suite's quick presets and the
# result contract on (ACTR_BENCH_OUT, see bench/CONTRACT.md), then write
# bench/results/latest.md, latest.json and the pictures (bench/report.py).
#
#   sh bench/run.sh [BUILD_DIR]      (default build)
#
# Environment:
#   ONLY="a b"      run only these benchmarks (names as in the table)
#   PERF=record     also keep perf record profiles of the data channel and
#                   RPC benchmarks in bench/results/ (when perf works here)
#   BENCH_NO_PERF=1 skip the perf stat / callgrind section
#   BENCH_BUDGET=s  whole-run budget in seconds (default 540): a benchmark
#                   that would start past it is listed as skipped
#   BENCH_RESULTS=dir  where the report goes (default bench/results)
#
# Discovery (no list to keep in sync): every executable in BUILD_DIR/bench/,
# every bench/peers/*.sh (but lib.sh), bench/browser.sh and
# bench/interop.sh (unless it is
# bench/peers/rust.sh's wrapper). A program absent from the preset table
# runs with no arguments and the default time limit, a script with
# BUILD_DIR. ACTR_BENCH_QUICK=1 is set (the peers' and scale benchmarks'
# quick sizes). A benchmark that exits 3 or 77 was skipped; its last
# output line says why.
set -u

B=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
OUT=${ACTR_BENCH_RUN_DIR:-$B/bench-out}
RES=${BENCH_RESULTS:-bench/results}
BUDGET=${BENCH_BUDGET:-540}
DEFAULT_LIMIT=60

# ---- the suite's presets: name | time limit (s) | arguments ---------------
# Quick figures: each benchmark keeps its medians of >= 3 rounds but with
# fewer operations per round than its stand-alone default. The order is
# the running order (the side-by-side figures first, so that the budget
# cuts the least important); benchmarks not listed run last. Every benchmark
# is pinned where its own code says (CPU 0 by default: ACTR_BENCH_CPU).
presets() {
	cat <<'EOF'
reactor_pingpong   | 40  | --rounds 50000 --reps 3
inproc_call        | 30  | --calls 300000 --reps 3
datachannel        | 90  | 10000 20 64
remote_call        | 120 | --calls 1000 --reps 3
libdatachannel.sh  | 150 | BUILD
libwebrtc.sh       | 150 | BUILD
rust.sh            | 180 | BUILD
interop.sh         | 180 | BUILD
browser.sh         | 150 | BUILD
mailbox            | 90  | 20000
stream             | 90  | --mb 64 --pings 2000
ws_echo            | 40  | 10000
ws_lane            | 90  | --calls 3000 --repeat 3
media              | 60  | 50000 5000
sctp_loopback      | 60  | 10000 64
timers             | 30  | --fires 200000
metrics_overhead   | 40  | --calls 2000 --rounds 3
memory             | 60  |
conn_scale         | 120 |
signal_load        | 180 | --secs 3 --runs 3
reasm_attack       | 60  |
resilience         | 120 | --runs 3 --cut 3 --calls 100
EOF
}

preset_field() { # name field
	presets | awk -F'|' -v n="$1" -v f="$2" '
		{ gsub(/^[ \t]+|[ \t]+$/, "", $1) }
		$1 == n { v = $f; gsub(/^[ \t]+|[ \t]+$/, "", v); print v; exit }'
}

now() { date +%s.%N | cut -c1-14; }
calc() { awk "BEGIN { x = $1; print (x == int(x)) ? x : sprintf(\"%.1f\", x) }"; }

json_str() { # escape for a JSON string
	printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr '\n\t' '  '
}

status_line() { # name status seconds reason
	printf '{"bench":"%s","status":"%s","seconds":%s,"reason":"%s"}\n' \
		"$(json_str "$1")" "$2" "$3" "$(json_str "$4")" \
		>>"$OUT/status.jsonl"
}

rm -rf "$OUT"
mkdir -p "$OUT/logs" "$OUT/samples" "$RES"
: >"$OUT/results.jsonl"
: >"$OUT/status.jsonl"
export ACTR_BENCH_OUT="$ROOT/$OUT"
# the peers' and scale benchmarks' small sizes (their own presets)
export ACTR_BENCH_QUICK=1
case "$OUT" in /*) export ACTR_BENCH_OUT="$OUT" ;; esac

# machine, for the report's header
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "commit=$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo '+dirty')"
	echo "cpu=$(sed -n 's/^model name[ \t]*: //p' /proc/cpuinfo | head -1)"
	echo "cores=$(nproc)"
	echo "kernel=$(uname -sr)"
	echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"

# the list: executables in $B/bench, then the scripts
list=""
for f in "$B"/bench/*; do
	[ -f "$f" ] && [ -x "$f" ] || continue
	list="$list $(basename "$f")"
done
for f in bench/peers/*.sh; do
	case $f in */lib.sh) continue ;; esac
	[ -f "$f" ] && list="$list $(basename "$f")"
done
# page -> C in headless Chromium next to C -> C (issue 19)
[ -f bench/browser.sh ] && list="$list browser.sh"
# bench/interop.sh became a wrapper of bench/peers/rust.sh: not twice
[ -f bench/peers/rust.sh ] || list="$list interop.sh"
# running order: the table's, then the rest
ordered=""
for n in $(presets | awk -F'|' '{ gsub(/[ \t]/, "", $1); print $1 }'); do
	case " $list " in *" $n "*) ordered="$ordered $n" ;; esac
done
for n in $list; do
	case " $ordered " in *" $n "*) ;; *) ordered="$ordered $n" ;; esac
done
list=$ordered
if [ -n "${ONLY:-}" ]; then
	sel=""
	for n in $list; do
		case " $ONLY " in *" $n "*) sel="$sel $n" ;; esac
	done
	list=$sel
fi

t_start=$(now)
for name in $list; do
	elapsed=$(calc "$(now) - $t_start")
	limit=$(preset_field "$name" 2)
	limit=${limit:-$DEFAULT_LIMIT}
	args=$(preset_field "$name" 3)
	case $name in *.sh) [ -z "$args" ] && args=BUILD ;; esac
	if [ "$(calc "$elapsed + $limit > $BUDGET")" = 1 ]; then
		echo "== $name: skipped (suite budget ${BUDGET}s reached)"
		status_line "$name" skipped 0 \
			"suite time budget (${BUDGET}s) reached before it started"
		continue
	fi
	case "$name" in
	*.sh)
		if [ -f "bench/peers/$name" ]; then
			cmd="sh bench/peers/$name"
		else
			cmd="sh bench/$name"
		fi
		;;
	*) cmd="$B/bench/$name" ;;
	esac
	# shellcheck disable=SC2086
	set -- $args
	[ "${1:-}" = BUILD ] && set -- "$B"
	echo "== $name $*"
	t0=$(now)
	rows0=$(wc -l <"$OUT/results.jsonl")
	timeout -k 5 "$limit" $cmd "$@" >"$OUT/logs/$name.log" 2>&1
	rc=$?
	dt=$(calc "$(now) - $t0")
	tail -n 3 "$OUT/logs/$name.log" | sed 's/^/   /'
	last=$(grep -v '^[[:space:]]*$' "$OUT/logs/$name.log" | tail -1)
	rows=$(($(wc -l <"$OUT/results.jsonl") - rows0))
	case $rc in
	0)
		if [ "$rows" -gt 0 ]; then
			status_line "$name" ok "$dt" "$rows rows"
		else
			status_line "$name" ok "$dt" \
				"ran, but wrote no contract rows"
		fi
		;;
	3 | 77) status_line "$name" skipped "$dt" "$last" ;;
	124 | 137) status_line "$name" timeout "$dt" \
		"over its ${limit}s limit; last line: $last" ;;
	*) status_line "$name" failed "$dt" "exit $rc; last line: $last" ;;
	esac
done
echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
echo "suite_seconds=$(calc "$(now) - $t_start")" >>"$OUT/machine.txt"

# ---- perf: per-operation costs ----------------------------------------------
[ -z "${BENCH_NO_PERF:-}" ] && sh bench/perf.sh "$B" "$OUT" "${PERF:-}"

python3 bench/report.py "$OUT" "$RES"
