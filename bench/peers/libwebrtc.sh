#!/bin/sh
# This project's data channel next to Google's libwebrtc (npm
# @roamhq/wrtc 0.10.0, its prebuilt linux-x64 binary, W3C API), measured
# in the same run the same way: 64 B echo p50/p99, setup (offer -> four
# channels open), one-way throughput with 64 KiB messages, plus the raw
# UDP baseline; two processes each, all on one CPU. libwebrtc gathers on
# every interface, so everything runs in a private network namespace
# with only lo up (unshare -n, as test/interop/lib.sh): needs root.
#
#   bench/peers/libwebrtc.sh [BUILD_DIR]
#
# Installed from npm into BUILD_DIR/npm; without npm, the registry or
# root: one "SKIP: ..." line, exit status 3. Environment as
# bench/peers/libdatachannel.sh.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-build}
case $B in /*) ;; *) B="$TOP/$B" ;; esac
NAME="side by side: libwebrtc"
. "$TOP/bench/peers/lib.sh"
if [ -z "${ACTR_PEERS_INSIDE:-}" ]; then
	command -v taskset >/dev/null 2>&1 || peers_skip "taskset(1) not installed"
	[ "$(id -u)" -eq 0 ] || peers_skip "needs root for a private network namespace"
	command -v unshare >/dev/null 2>&1 || peers_skip "unshare(1) not installed"
	command -v ip >/dev/null 2>&1 || peers_skip "ip(8) (iproute2) not installed"
	peers_need bench/datachannel
	peers_fetch @roamhq/wrtc@0.10.0
	ACTR_PEERS_INSIDE=1 exec unshare -n sh "$0" "$B"
fi
ip link set lo up || { echo "FAIL: $NAME: cannot bring up lo in the namespace"; exit 1; }
peers_run node "$TOP/bench/peers/dc_compare.mjs" libwebrtc "$B" "$B/npm"
