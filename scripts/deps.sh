#!/bin/sh
# Install every Debian package the project needs, when missing.
# Idempotent and quiet when everything is present. Needs root (or sudo)
# only when something is missing. `deps.sh fuzz` adds clang and libFuzzer
# for `make fuzz`; `deps.sh bench` gnuplot and perf for `make bench`.
set -eu

PKGS="build-essential pkg-config libsqlite3-dev sqlite3 libprotobuf-c-dev
protobuf-c-compiler protobuf-compiler libprotobuf-dev libssl-dev libsrtp2-dev libnice-dev
libusrsctp-dev libglib2.0-dev libc-ares-dev valgrind python3-protobuf python3-websockets
python3-aiortc coturn openssl janus iproute2 chromium prometheus"
[ "${1:-}" = fuzz ] && PKGS="$PKGS clang libclang-rt-dev"
# `deps.sh bench` adds what `make bench` draws and profiles with
[ "${1:-}" = bench ] && PKGS="$PKGS gnuplot-nox linux-perf"
# The interop tests drive npm packages with Node.js: Debian's when the
# machine has none of its own.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
	PKGS="$PKGS nodejs npm"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
# coturn's and janus's packages start daemons on some systems; tests start
# their own.
if command -v systemctl >/dev/null 2>&1; then
	$SUDO systemctl disable --now coturn janus >/dev/null 2>&1 || true
fi
