#!/bin/sh
# Page -> C echo next to C -> C, in one run on one machine (make bench runs
# it): headless Chromium (web/actr.js in the demo page's origin) and
# examples/echo_actor/client each call the C echo server through this
# project's actr-signal, inside a private network namespace (lo only).
# Setup = discovery, negotiation, ICE, DTLS, SCTP and the first call;
# p50/p99 over ACTR_BENCH_CALLS (1000) sequential calls; median of
# ACTR_BENCH_ROUNDS (3). Not pinned: Chromium is several processes.
# ACTR_BENCH_OUT=DIR: contract rows (bench/CONTRACT.md), group "page echo":
# page -> C the subject, C -> C the baseline, Chromium's own DataChannel
# echo between two of its peer connections a peer (the browser's floor).
# Exit status 3: skipped (the reason on the last line).
#   bench/browser.sh [BUILD_DIR]
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-build}
case $B in /*) ;; *) B="$TOP/$B" ;; esac
if [ -z "${ACTR_BROWSER_INSIDE:-}" ]; then
	[ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null 2>&1 &&
		[ -x /usr/bin/chromium ] && [ -f "$TOP/web/actr.js" ] ||
		{ echo "SKIP: bench browser: needs root, unshare, chromium, web/actr.js"; exit 3; }
	sh "$TOP/test/interop/npm-fetch.sh" "$B/npm" playwright-core@1.65.2 ||
		{ echo "SKIP: bench browser: playwright-core not installed"; exit 3; }
	ACTR_BROWSER_INSIDE=1 exec unshare -n sh "$0" "$@"
fi
ip link set lo up
DIR=$(mktemp -d "${TMPDIR:-/tmp}/actr-bench-browser.XXXXXX")
timeout -k 5 600 node "$TOP/bench/browser.mjs" --build "$B" --top "$TOP" \
	--dir "$DIR" --calls "${ACTR_BENCH_CALLS:-1000}" \
	--rounds "${ACTR_BENCH_ROUNDS:-3}"
RC=$?
[ $RC -eq 0 ] && rm -rf "$DIR"
exit $RC
