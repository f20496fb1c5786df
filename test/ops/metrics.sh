#!/bin/sh
# The observability endpoints of the programs, as an operator sees them:
# actr-signal and the echo example server with --metrics on loopback,
# read with curl, checked by promtool, and scraped by a real Prometheus
# server whose query API must then return the nodes' series.
# usage: metrics.sh BUILD_DIR TMP_DIR     (exit 77: a tool is missing)
set -u
B=$1
T=$2
pids=""

cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
}
trap cleanup EXIT

fail() {
	echo "metrics.sh: $*" >&2
	for f in "$T"/*.log; do
		[ -f "$f" ] && { echo "== $f"; tail -n 15 "$f"; } >&2
	done
	exit 1
}

for t in curl promtool prometheus python3; do
	command -v "$t" >/dev/null 2>&1 || {
		echo "metrics.sh: $t missing: run sh scripts/deps.sh" >&2
		exit 77
	}
done

port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_code URL CODE: poll (bounded: 20 s) until URL answers CODE
wait_code() {
	i=0
	while [ $i -lt 200 ]; do
		c=$(curl -s -o /dev/null -w '%{http_code}' "$1")
		[ "$c" = "$2" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

SP=$(port); SM=$(port); NM=$(port); PP=$(port)

ACTR_LOG_FORMAT=json "$B/actr-signal" -l "127.0.0.1:$SP" -d "$T/sig.db" \
	-r 101:pw --metrics "127.0.0.1:$SM" >"$T/signal.log" 2>&1 &
pids="$pids $!"
wait_code "http://127.0.0.1:$SM/healthz" 200 || fail "actr-signal /healthz"
wait_code "http://127.0.0.1:$SM/readyz" 200 || fail "actr-signal /readyz"

ACTR_LOG_FORMAT=logfmt "$B/examples/echo_actor/server" \
	--signal "ws://127.0.0.1:$SP" --secret pw \
	--metrics "127.0.0.1:$NM" >"$T/node.log" 2>&1 &
pids="$pids $!"
wait_code "http://127.0.0.1:$NM/healthz" 200 || fail "node /healthz"
wait_code "http://127.0.0.1:$NM/readyz" 200 || fail "node never ready"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NM/x")" = 404 ] ||
	fail "unknown path is not 404"
# no admin token configured: no admin endpoint, whatever the request says
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST \
	-H 'Authorization: Bearer 0123456789abcdef0123' \
	"http://127.0.0.1:$NM/admin/dlq/redrive?id=all")" = 404 ] ||
	fail "admin endpoint answered without a configured token"

# ACTR_LOG_FORMAT: every line of actr-signal's log is a JSON object with
# time, level, component and msg; the node's lines are logfmt
python3 -c '
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
assert lines
for l in lines:
    o = json.loads(l)
    assert {"time", "level", "component", "msg"} <= set(o), o
' "$T/signal.log" || fail "actr-signal log is not JSON lines"
grep -q '^time=[0-9TZ:.-]* level=info component=peer msg=' "$T/node.log" ||
	fail "node log is not logfmt"

curl -sf "http://127.0.0.1:$NM/metrics" >"$T/node.prom" || fail "node scrape"
promtool check metrics <"$T/node.prom" || fail "promtool: node scrape"
grep -q '^actr_signaling_state{state="connected"} 1$' "$T/node.prom" ||
	fail "node scrape: not connected"
grep -q '^actr_signaling_registrations_total 1$' "$T/node.prom" ||
	fail "node scrape: registrations"
curl -sf "http://127.0.0.1:$SM/metrics" >"$T/signal.prom" || fail "signal scrape"
promtool check metrics <"$T/signal.prom" || fail "promtool: signal scrape"
grep -q '^actr_signal_actors_connected 1$' "$T/signal.prom" ||
	fail "signal scrape: connected actors"
grep -q '^actr_signal_registered_total 1$' "$T/signal.prom" ||
	fail "signal scrape: registrations"
grep -q '^actr_signal_queue_limit_bytes [1-9][0-9]*$' "$T/signal.prom" ||
	fail "signal: no queue pressure series"
grep -q '^actr_peer_setup_seconds_count ' "$T/node.prom" ||
	fail "node: no setup time histogram"
grep -q '^actr_reactor_handles{kind="io"} [1-9]' "$T/node.prom" ||
	fail "node: no fd count"

cat >"$T/prometheus.yml" <<CFG
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: actr-node
    static_configs:
      - targets: ['127.0.0.1:$NM']
  - job_name: actr-signal
    static_configs:
      - targets: ['127.0.0.1:$SM']
CFG
promtool check config "$T/prometheus.yml" >/dev/null || fail "prometheus.yml"
prometheus --config.file="$T/prometheus.yml" \
	--web.listen-address="127.0.0.1:$PP" --storage.tsdb.path="$T/tsdb" \
	>"$T/prometheus.log" 2>&1 &
pids="$pids $!"

# query VALUE_OF EXPR: the first result's value, or "" (no result yet)
query() {
	curl -s --get "http://127.0.0.1:$PP/api/v1/query" \
		--data-urlencode "query=$1" | python3 -c '
import json, sys
try:
    r = json.load(sys.stdin)["data"]["result"]
    print(r[0]["value"][1] if r else "")
except Exception:
    print("")'
}

# both targets up and scraped (bounded: 60 s)
i=0
while [ $i -lt 300 ]; do
	[ "$(query 'sum(up)')" = 2 ] &&
		[ -n "$(query 'actr_signal_actors_connected')" ] && break
	sleep 0.2
	i=$((i + 1))
done
[ "$(query 'sum(up)')" = 2 ] || fail "Prometheus: targets not up"
[ "$(query 'actr_signal_actors_connected{job="actr-signal"}')" = 1 ] ||
	fail "Prometheus: actr_signal_actors_connected"
[ "$(query 'actr_signaling_state{job="actr-node",state="connected"}')" = 1 ] ||
	fail "Prometheus: node signaling state"
[ -n "$(query 'actr_reactor_iteration_seconds_count{job="actr-node"}')" ] ||
	fail "Prometheus: node reactor histogram"
echo "metrics.sh: curl, promtool and Prometheus agree"
exit 0
