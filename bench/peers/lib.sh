# Shared by the side-by-side scripts in bench/peers/ (sourced, POSIX sh).
# The caller sets TOP (the project's top folder) and B (build folder,
# absolute) and NAME (for messages).

# peers_skip WHY: the one line, exit status 3 (the runner shows it)
peers_skip() {
	echo "SKIP: $NAME: $*"
	exit 3
}

# peers_need PROGRAM...: every program in the build folder
peers_need() {
	for p in "$@"; do
		[ -x "$B/$p" ] || { echo "FAIL: $NAME: $B/$p not built (make all)"; exit 1; }
	done
}

# peers_fetch SPEC...: the npm packages into $B/npm (npm-fetch.sh),
# SKIP when npm or the registry is unreachable
peers_fetch() {
	out=$(sh "$TOP/test/interop/npm-fetch.sh" "$B/npm" "$@" 2>&1)
	case $? in
	0) ;;
	3) peers_skip "$(echo "$out" | sed -n 's/^SKIP: //p' | head -1)" ;;
	*) echo "$out"
	   echo "FAIL: $NAME: cannot install $*"
	   exit 1 ;;
	esac
}

# The CPU every process of the comparison runs on: ACTR_BENCH_CPU,
# default the last one; -1: not pinned (multi-threaded stacks such as
# libwebrtc then spread over the CPUs; bench/datachannel's pin(-1) is a
# no-op too).
PEERS_CPU=${ACTR_BENCH_CPU:-$(($(getconf _NPROCESSORS_ONLN) - 1))}

# peers_run CMD...: CMD pinned to $PEERS_CPU, killed after 150 s; the
# script's INT/TERM stop it too (its children exit with it: dc_node's
# answerer on end of stdin)
peers_run() {
	if [ "$PEERS_CPU" = -1 ]; then
		ACTR_BENCH_CPU=-1 timeout -k 5 150 "$@" &
	else
		ACTR_BENCH_CPU=$PEERS_CPU timeout -k 5 150 \
			taskset -c "$PEERS_CPU" "$@" &
	fi
	peers_pid=$!
	trap 'kill -TERM $peers_pid 2>/dev/null' EXIT
	trap 'kill -TERM $peers_pid 2>/dev/null; exit 1' INT TERM
	wait $peers_pid
	rc=$?
	trap - EXIT
	return $rc
}
