#!/bin/sh
# This project's data channel next to libdatachannel (node-datachannel
# 0.33.4, its native API, {iceServers: [], bindAddress: '127.0.0.1'}),
# measured in the same run the same way: 64 B echo p50/p99, setup (offer
# -> four channels open), one-way throughput with 64 KiB messages, plus
# the raw UDP baseline; two processes each, all on one CPU.
#
#   bench/peers/libdatachannel.sh [BUILD_DIR]
#
# node-datachannel is installed from npm into BUILD_DIR/npm; without npm
# or the registry: one "SKIP: ..." line, exit status 3. Environment:
# ACTR_BENCH_QUICK=1 (small sizes), ACTR_BENCH_ROUNDS (>= 3),
# ACTR_BENCH_CPU, ACTR_BENCH_OUT=DIR (contract rows; see
# bench/peers/dc_compare.mjs).
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-build}
case $B in /*) ;; *) B="$TOP/$B" ;; esac
NAME="side by side: libdatachannel"
. "$TOP/bench/peers/lib.sh"
command -v taskset >/dev/null 2>&1 || peers_skip "taskset(1) not installed"
peers_need bench/datachannel
peers_fetch node-datachannel@0.33.4
peers_run node "$TOP/bench/peers/dc_compare.mjs" libdatachannel "$B" "$B/npm"
