#!/bin/sh
# The side-by-side scripts (bench/peers/) keep their contract (make
# check-interop; here, not in bench/peers/, which the bench runner globs):
#
#  1. without the npm registry: one "SKIP: ..." line, exit status 3, no
#     process left behind (a fresh package folder, the registry pointed
#     at a closed port);
#  2. a tiny libdatachannel comparison (ACTR_BENCH_SIZES: 200 round
#     trips, 1 setup, 1 MiB; 3 rounds) writes the eight rows of its three
#     groups with the required fields, one subject per group, figures > 0,
#     and the echo samples of actr and libdatachannel (200 lines each);
#     this also notices when bench/datachannel's rows change shape.
#
#   sh test/interop/bench_peers.sh [BUILD_DIR]
#
# Needs node (else SKIP, a failure under CI=true, as test/interop/).
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-build}
case $B in /*) ;; *) B="$TOP/$B" ;; esac
NAME="bench peers"
FAILS=0
fail() { echo "FAIL: $NAME: $*"; FAILS=$((FAILS + 1)); }
skip() {
	echo "SKIP: $NAME: $*"
	[ "${CI:-}" = true ] && { echo "FAIL: $NAME skipped under CI=true"; exit 1; }
	exit 0
}
command -v node >/dev/null 2>&1 || skip "node is not installed"
[ -x "$B/bench/datachannel" ] || { echo "FAIL: $NAME: $B/bench/datachannel not built"; exit 1; }
# dc_node/dc_compare processes of this tree (others run their own copies
# from their trees), those running before excepted
ours() { pgrep -f "$TOP/bench/peers/dc_(node|compare)\.mjs" | sort; }
before=$(ours)
T=$(mktemp -d "${TMPDIR:-/tmp}/actr-peers-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM

# 1. the skip
mkdir -p "$T/b/bench"
ln -s "$B/bench/datachannel" "$T/b/bench/datachannel"
npm_config_registry=http://127.0.0.1:9/ npm_config_fetch_retries=0 \
	timeout 120 sh "$TOP/bench/peers/libdatachannel.sh" "$T/b" >"$T/skip.out" 2>&1
rc=$?
if [ $rc -ne 3 ] || [ "$(grep -c '^SKIP: ' "$T/skip.out")" -ne 1 ] ||
	[ "$(tail -1 "$T/skip.out" | cut -c1-5)" != "SKIP:" ]; then
	fail "no registry: exit $rc, output:"
	cat "$T/skip.out"
else
	echo "PASS: $NAME: no registry -> $(tail -1 "$T/skip.out")"
fi

# 2. a tiny comparison
mkdir -p "$T/out"
ACTR_BENCH_SIZES="200 1 1" ACTR_BENCH_OUT="$T/out" timeout 150 \
	sh "$TOP/bench/peers/libdatachannel.sh" "$B" >"$T/run.out" 2>&1
rc=$?
if [ $rc -eq 3 ]; then
	skip "$(tail -1 "$T/run.out")"
elif [ $rc -ne 0 ]; then
	fail "libdatachannel.sh exit $rc:"
	tail -20 "$T/run.out"
elif ! node - "$T/out" <<'EOJ'
const fs = require('fs');
const dir = process.argv[2];
const rows = fs.readFileSync(dir + '/results.jsonl', 'utf8').trim()
	.split('\n').map((l) => JSON.parse(l));
const bad = [];
const want = { 'dc echo 64 B': ['p50_us', 3], 'dc setup': ['setup_ms', 2],
	'dc throughput 64 KiB': ['throughput', 3] };
if (rows.length !== 8)
	bad.push(`${rows.length} rows, want 8`);
for (const [g, [k, n]] of Object.entries(want)) {
	const rs = rows.filter((r) => r.group === g);
	if (rs.length !== n)
		bad.push(`${g}: ${rs.length} rows, want ${n}`);
	if (rs.filter((r) => r.role === 'subject' && r.row === 'actr').length !== 1)
		bad.push(`${g}: no single actr subject`);
	if (!rs.some((r) => r.role === 'peer' && r.row === 'libdatachannel'))
		bad.push(`${g}: no libdatachannel peer`);
	for (const r of rs) {
		if (r.bench !== 'peers-libdatachannel' || !r.role || !r.row)
			bad.push(`${g}/${r.row}: required fields`);
		if (!(r[k] > 0))
			bad.push(`${g}/${r.row}: ${k} = ${r[k]}`);
		if (!(r.rounds >= 3))
			bad.push(`${g}/${r.row}: rounds = ${r.rounds}`);
	}
}
for (const row of ['actr', 'libdatachannel']) {
	const r = rows.find((x) => x.group === 'dc echo 64 B' && x.row === row);
	let lines = 0;
	try {
		lines = fs.readFileSync(dir + '/' + r.samples, 'utf8').trim()
			.split('\n').filter((l) => Number(l) > 0).length;
	} catch (e) { /* counted below */ }
	if (lines !== 200)
		bad.push(`${row} echo samples: ${lines} lines, want 200`);
}
if (bad.length) {
	console.log(bad.join('\n'));
	process.exit(1);
}
EOJ
then
	fail "the rows break the contract (above); the run said:"
	tail -12 "$T/run.out"
else
	echo "PASS: $NAME: tiny libdatachannel comparison, 8 rows, samples"
fi
sleep 0.5
left=$(ours | while read -r p; do
	echo "$before" | grep -qx "$p" || echo "$p"
done)
[ -z "$left" ] || fail "processes left behind: $left"
[ $FAILS -eq 0 ]
