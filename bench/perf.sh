#!/bin/sh
# The cost per operation of the in-process benchmarks, for bench/run.sh:
#   - perf stat (when it works here): task-clock and context switches per
#     operation, cycles and instructions too when the machine exposes
#     hardware counters (a VM often does not: then they are "not
#     supported" and left out);
#   - callgrind: instructions per operation counted only inside the
#     measured loop (--toggle-collect), small counts (callgrind is slow);
#   - PERF=record: perf record profiles of the data channel and RPC
#     benchmarks kept in bench/results/perf-*.data, with a text summary.
# Each result is one JSON line in RUN_DIR/perf.jsonl; what could not run
# is a line saying so and why.
#
#   sh bench/perf.sh BUILD_DIR RUN_DIR [record]
set -u

B=$1
OUT=$2
MODE=${3:-}
RES=bench/results
J="$OUT/perf.jsonl"
mkdir -p "$OUT/perf"
# these runs measure costs, not figures: no contract rows from them
unset ACTR_BENCH_OUT

line() { printf '%s\n' "$1" >>"$J"; }

# ---- perf stat ---------------------------------------------------------------
perf_ok=0
if command -v perf >/dev/null 2>&1 &&
	perf stat -x, -e task-clock true >"$OUT/perf/probe.txt" 2>&1 &&
	grep -q task-clock "$OUT/perf/probe.txt"; then
	perf_ok=1
fi
hw="<not supported>"
if [ $perf_ok = 1 ]; then
	perf stat -x, -e cycles,instructions true >"$OUT/perf/probe.txt" 2>&1
	grep -q '^[0-9]' "$OUT/perf/probe.txt" && hw=yes
fi

# what | operations | command...
stat_case() {
	what=$1 ops=$2
	shift 2
	f="$OUT/perf/stat.$(echo "$what" | tr -c 'a-zA-Z0-9\n' '-').csv"
	events=task-clock,context-switches
	[ "$hw" = yes ] && events=$events,cycles,instructions
	if ! timeout 120 perf stat -x, -e "$events" -o "$f" -- "$@" \
		>/dev/null 2>&1; then
		line "{\"what\":\"$what\",\"tool\":\"perf stat\",\"status\":\"failed\",\"reason\":\"$*\"}"
		return
	fi
	awk -F, -v what="$what" -v ops="$ops" -v hw="$hw" '
		$3 == "task-clock" { tc = $1 }
		$3 == "context-switches" { cs = $1 }
		$3 ~ /^cycles/ && $1 ~ /^[0-9]/ { cy = $1 }
		$3 ~ /^instructions/ && $1 ~ /^[0-9]/ { ins = $1 }
		END {
			printf "{\"what\":\"%s\",\"tool\":\"perf stat\",", what
			printf "\"task_clock_ns_per_op\":%.1f,", tc * 1e6 / ops
			printf "\"ctx_switches_per_op\":%.4f,", cs / ops
			if (cy != "")
				printf "\"cycles_per_op\":%.1f,", cy / ops
			if (ins != "")
				printf "\"instructions_per_op\":%.1f,", ins / ops
			printf "\"detail\":\"whole process(es) incl. setup, %d operations", ops
			if (hw != "yes")
				printf "; no hardware counters here (cycles, instructions not supported)"
			printf "\"}\n"
		}' "$f" >>"$J"
}

if [ $perf_ok = 1 ]; then
	stat_case "reactor ping-pong udp: actr" 100000 \
		"$B/bench/reactor_pingpong" --rounds 100000 --reps 1 --loop actr \
		--transport udp
	stat_case "reactor ping-pong udp: raw epoll" 100000 \
		"$B/bench/reactor_pingpong" --rounds 100000 --reps 1 --loop raw \
		--transport udp
	stat_case "in-process call (poll)" 1010001 \
		"$B/bench/inproc_call" --calls 1000000 --reps 1 --no-timing \
		--mode poll
	stat_case "in-process call: ring baseline" 1010001 \
		"$B/bench/inproc_call" --calls 1000000 --reps 1 --no-timing \
		--mode ring
	# closed loop, 3 rounds of 20000 (and a database open per round)
	stat_case "mailbox 256 B closed loop: normal+first" 60000 \
		env CLOSED=normal+first "$B/bench/mailbox" 20000
	stat_case "mailbox 256 B closed loop: in-memory ring" 60000 \
		env CLOSED=memory "$B/bench/mailbox" 20000
else
	line '{"what":"perf stat","tool":"perf stat","status":"unavailable","reason":"perf stat -e task-clock does not work here (perf missing or perf_event_paranoid); callgrind figures below instead"}'
fi

# ---- callgrind ---------------------------------------------------------------
# what | operations | function to count inside | command...
# ($CG_ENV: variables for the program; valgrind must run it directly,
# not through env(1), or only env would be counted)
CG_ENV=""
cg_case() {
	what=$1 ops=$2 fn=$3
	shift 3
	d="$OUT/perf/cg.$(echo "$what" | tr -c 'a-zA-Z0-9\n' '-')"
	mkdir -p "$d"
	# shellcheck disable=SC2086
	if ! env $CG_ENV timeout 300 valgrind --tool=callgrind --collect-atstart=no \
		--toggle-collect="$fn" --callgrind-out-file="$d/out.%p" \
		"$@" >"$d/log" 2>&1; then
		line "{\"what\":\"$what\",\"tool\":\"callgrind\",\"status\":\"failed\",\"reason\":\"see $d/log\"}"
		return
	fi
	# the instruction count of every process (a ping-pong has two)
	cat "$d"/out.* | awk -v what="$what" -v ops="$ops" -v fn="$fn" '
		/^(summary|totals):/ && !seen[FILENAME FNR] { split($0, a, " ");
			if ($1 == "summary:") ir += a[2] }
		END {
			printf "{\"what\":\"%s\",\"tool\":\"callgrind\",", what
			printf "\"instructions_per_op\":%.1f,", ir / ops
			printf "\"detail\":\"user-space instructions inside %s, all processes, %d operations\"}\n", fn, ops
		}' >>"$J"
}

if command -v valgrind >/dev/null 2>&1; then
	cg_case "in-process call (poll)" 20201 run_calls \
		"$B/bench/inproc_call" --calls 20000 --reps 1 --no-timing \
		--mode poll
	cg_case "in-process call: ring baseline" 20201 run_calls \
		"$B/bench/inproc_call" --calls 20000 --reps 1 --no-timing \
		--mode ring
	cg_case "reactor ping-pong udp: actr" 2000 actr_loop \
		"$B/bench/reactor_pingpong" --rounds 2000 --reps 1 --loop actr \
		--transport udp
	cg_case "reactor ping-pong udp: raw epoll" 2000 raw_loop \
		"$B/bench/reactor_pingpong" --rounds 2000 --reps 1 --loop raw \
		--transport udp
	# toggled on run(): a database open per 5000 messages included
	CG_ENV=CLOSED=normal+first
	cg_case "mailbox 256 B closed loop: normal+first" 15000 run \
		"$B/bench/mailbox" 5000
	CG_ENV=CLOSED=memory
	cg_case "mailbox 256 B closed loop: in-memory ring" 15000 run \
		"$B/bench/mailbox" 5000
	CG_ENV=""
else
	line '{"what":"callgrind","tool":"callgrind","status":"unavailable","reason":"valgrind is not installed"}'
fi

# ---- PERF=record -------------------------------------------------------------
if [ "$MODE" = record ]; then
	if [ $perf_ok = 1 ] && perf record -o "$OUT/perf/probe.data" -- true \
		>/dev/null 2>&1; then
		for c in "datachannel|$B/bench/datachannel 5000 10 64" \
			"remote_call|$B/bench/remote_call --calls 3000 --reps 1"; do
			name=${c%%|*}
			# shellcheck disable=SC2086
			timeout 180 perf record -g -o "$RES/perf-$name.data" \
				-- ${c#*|} >/dev/null 2>&1
			# flat: the top symbols (perf report -i FILE for the
			# call graphs)
			perf report -i "$RES/perf-$name.data" --stdio \
				--no-children -g none --percent-limit 0.5 \
				2>/dev/null | head -80 >"$RES/perf-$name.txt"
			line "{\"what\":\"$name\",\"tool\":\"perf record\",\"status\":\"kept\",\"reason\":\"bench/results/perf-$name.data (summary perf-$name.txt)\"}"
		done
	else
		line '{"what":"PERF=record","tool":"perf record","status":"unavailable","reason":"perf record does not work here"}'
	fi
fi
exit 0
