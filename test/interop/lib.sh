# Shared by test/interop/rust.sh and bench/peers/rust.sh (sourced, POSIX sh):
# the private network namespace, actr-signal, Rust nodes through
# rust_peer.mjs, bounded waits and cleanup. The caller sets B (build dir,
# absolute), INTEROP (this folder, absolute), NAME (for messages) and
# calls interop_enter "$0" "$@" first.

RUST_PKG=@actrium/actr-linux-x64-gnu@0.5.9
ADDR=198.18.0.1
ADDON="$B/npm/actr.node"
PIDS=""
FAILS=0

interop_skip() {
	echo "SKIP: $NAME: $*"
	if [ "${CI:-}" = true ]; then
		echo "FAIL: $NAME skipped under CI=true"
		exit 1
	fi
	exit 0
}

# interop_enter SCRIPT ARGS...: outside the namespace, check what is
# needed, install the Rust runtime from npm and re-run SCRIPT inside a
# new network namespace (ACTR_INTEROP_INSIDE=1); inside, bring up lo
# with $ADDR and a scratch folder $DIR.
interop_enter() {
	script=$1
	shift
	if [ -z "${ACTR_INTEROP_INSIDE:-}" ]; then
		[ "$(id -u)" -eq 0 ] ||
			interop_skip "needs root for a private network namespace"
		command -v unshare >/dev/null 2>&1 ||
			interop_skip "unshare(1) not installed"
		command -v ip >/dev/null 2>&1 ||
			interop_skip "ip(8) (iproute2) not installed"
		out=$(sh "$INTEROP/npm-fetch.sh" "$B/npm" "$RUST_PKG" 2>&1)
		case $? in
		0) ;;
		3) interop_skip "$(echo "$out" | sed -n 's/^SKIP: //p' | head -1)" ;;
		*) echo "$out"
		   echo "FAIL: $NAME: cannot install $RUST_PKG"
		   exit 1 ;;
		esac
		for p in actr-signal examples/echo_actor/server \
			examples/echo_actor/client; do
			[ -x "$B/$p" ] || { echo "FAIL: $NAME: $B/$p not built"; exit 1; }
		done
		ACTR_INTEROP_INSIDE=1 exec unshare -n sh "$script" "$@"
	fi
	ip link set lo up && ip addr add "$ADDR/32" dev lo || {
		echo "FAIL: $NAME: cannot configure the namespace's loopback"
		exit 1
	}
	DIR=$(mktemp -d "${TMPDIR:-/tmp}/actr-interop.XXXXXX")
	trap interop_cleanup EXIT
	trap 'exit 1' INT TERM
}

# Stop every started process (TERM, KILL after ~5 s); keep $DIR when a
# step failed (or KEEP is set).
interop_cleanup() {
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
	i=0
	for p in $PIDS; do
		while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	[ "$FAILS" -eq 0 ] && [ -z "${KEEP:-}" ] && rm -rf "$DIR"
}

# wait_for FILE PATTERN SECONDS
wait_for() {
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt $(($3 * 10)) ] && return 1
		sleep 0.1
	done
}

# start_signal NAME PORT TOKEN_TTL: actr-signal on $ADDR:PORT, realm 101
# (secret interop-secret), 1 s heartbeats, 4 s presence timeout, rate
# limits out of the way; log in $DIR/NAME.log.
start_signal() {
	cat >"$DIR/$1.conf" <<EOC
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
EOC
	"$B/actr-signal" -c "$DIR/$1.conf" >"$DIR/$1.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_for "$DIR/$1.log" "listening on" 5
}

# rust MODE NAME TYPE PORT [ARGS...]: a Rust node (rust_peer.mjs)
rust() {
	mode=$1 name=$2 type=$3 port=$4
	shift 4
	node "$INTEROP/rust_peer.mjs" "$mode" --addon "$ADDON" \
		--dir "$DIR/$name" --signal "$ADDR:$port" --realm 101 \
		--secret interop-secret --type "$type" "$@"
}

# start_rust_server NAME TYPE PORT: a Rust node that stays up
start_rust_server() {
	rust serve "$1" "$2" "$3" </dev/null >"$DIR/$1.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_for "$DIR/$1.log" "^ready " 30
}

# start_rust_server_ws NAME TYPE PORT WSPORT: the same, listening for
# direct WebSocket lanes on WSPORT
start_rust_server_ws() {
	rust serve "$1" "$2" "$3" --ws-port "$4" </dev/null \
		>"$DIR/$1.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_for "$DIR/$1.log" "^ready " 30
}

# start_c_server NAME TYPE PORT: the C echo example server
start_c_server() {
	"$B/examples/echo_actor/server" $(c_args "$3") --type "$2" \
		>"$DIR/$1.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_for "$DIR/$1.log" "^ready " 10
}

# c_args PORT: the C examples' connection flags
c_args() {
	echo "--signal ws://$ADDR:$1 --realm 101 --secret interop-secret --local $ADDR"
}
