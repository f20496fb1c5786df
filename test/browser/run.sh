#!/bin/sh
# The browser tests, run by `make check` (check-browser): real headless
# Chromium (Debian's /usr/bin/chromium, driven by playwright-core from
# npm, pinned below) loads web/actr.js and the demo page from
# actr-signal --www and talks to the C echo server and client:
#   chromium-loopback   Chromium gathers 127.0.0.1 host candidates (fake
#                       media devices and one getUserMedia call)
#   page-to-c-echo      1000 calls, every reply checked, then 1 MiB
#   demo-screenshot     build/test-artifacts/demo.png
#   c-client-to-page    examples/echo_actor/client --type acme:web:1.0.0
#                       calls the page's actor 200 times
#   page-to-page        a second page calls the first through actr-signal
#   backend-credential  the page gets a RegisterResponse from
#                       web/demo/backend.mjs (realm 101, secret only there)
#                       and calls a C echo server in that realm
#   wrong-credential    a wrong realm secret: ActrError EAUTH (10104)
#   acl-denied          a page actor's ACL refuses a caller: ENOTFOUND
#                       (10003) by type (hidden), EPERM (10004) by id;
#                       the admitted type is answered
#   cors-cross-origin   a page from another origin (a --cors-origin)
#   cors-denied         a page from an origin not configured: refused
#   default-chromium    Chromium with default WebRTC privacy (mDNS host
#                       names, no loopback): 50 calls to a C echo server
#                       on all interfaces (a veth address in the namespace)
#   signal-restart      actr-signal restarted: the page registers again,
#                       discovers and calls; a new C client reaches it
# Everything runs in a private network namespace (unshare -n, only lo).
# Without root, unshare, node/npm, Chromium or the registry it prints
# "SKIP: <reason>"; with CI=true a skip is a failure.
#   test/browser/run.sh BUILD_DIR [SCENARIO,...]
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-build}
case $B in /*) ;; *) B="$TOP/$B" ;; esac
ONLY=${2:-}
PLAYWRIGHT=playwright-core@1.65.2
NAME=browser

skip() {
	echo "SKIP: $NAME: $*"
	if [ "${CI:-}" = true ]; then
		echo "FAIL: $NAME skipped under CI=true"
		exit 1
	fi
	exit 0
}

if [ -z "${ACTR_BROWSER_INSIDE:-}" ]; then
	[ "$(id -u)" -eq 0 ] || skip "needs root for a private network namespace"
	command -v unshare >/dev/null 2>&1 || skip "unshare(1) not installed"
	command -v ip >/dev/null 2>&1 || skip "ip(8) (iproute2) not installed"
	CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
	[ -x "$CHROMIUM" ] || skip "$CHROMIUM not installed (scripts/deps.sh)"
	[ -f "$TOP/web/actr.js" ] || skip "web/actr.js is not there"
	out=$(sh "$TOP/test/interop/npm-fetch.sh" "$B/npm" "$PLAYWRIGHT" 2>&1)
	case $? in
	0) ;;
	3) skip "$(echo "$out" | sed -n 's/^SKIP: //p' | head -1)" ;;
	*) echo "$out"; echo "FAIL: $NAME: cannot install $PLAYWRIGHT"; exit 1 ;;
	esac
	for p in actr-signal examples/echo_actor/server examples/echo_actor/client
	do
		[ -x "$B/$p" ] || { echo "FAIL: $NAME: $B/$p not built"; exit 1; }
	done
	export CHROMIUM
	ACTR_BROWSER_INSIDE=1 exec unshare -n sh "$0" "$@"
fi

ip link set lo up || { echo "FAIL: $NAME: cannot bring lo up"; exit 1; }
# a second address (a veth pair inside the namespace) for the scenario
# with Chromium's default WebRTC privacy (it never offers loopback)
if ip link add actr0 type veth peer name actr1 2>/dev/null &&
	ip addr add 198.18.0.1/24 dev actr0 && ip link set actr0 up &&
	ip link set actr1 up; then
	export ACTR_BROWSER_VETH=1
fi
DIR=$(mktemp -d "${TMPDIR:-/tmp}/actr-browser.XXXXXX")
echo "== browser tests (Chromium $("$CHROMIUM" --version 2>/dev/null |
	sed -n 's/^Chromium \([0-9.]*\).*/\1/p'), logs in $DIR)"
# Chromium's own watchdog is in run.mjs; timeout(1) is the last resort
timeout -k 5 300 node "$TOP/test/browser/run.mjs" --build "$B" --top "$TOP" \
	--dir "$DIR" ${ONLY:+--only "$ONLY"}
RC=$?
[ $RC -eq 0 ] && [ -z "${KEEP:-}" ] && rm -rf "$DIR"
exit $RC
