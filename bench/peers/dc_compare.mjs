// This project's data channel next to another WebRTC stack's, in one run
// with one method: 64 B echo p50/p99, setup (offer -> the four lanes'
// channels open) and one-way throughput with 64 KiB messages.
//
//   node dc_compare.mjs PEER BUILD_DIR NPM_DIR
//
// PEER: libdatachannel or libwebrtc (bench/peers/dc_node.mjs measures it);
// this project's figures, its echo samples and the raw UDP baseline come
// from BUILD_DIR/bench/datachannel (two processes too, same sizes; its
// own contract rows, read from a scratch folder). The caller
// (bench/peers/libdatachannel.sh, libwebrtc.sh) has pinned this process
// to one CPU (taskset; children inherit it) and passes that CPU in
// ACTR_BENCH_CPU, which bench/datachannel pins itself to.
//
// Rounds alternate actr / peer (so both see the same machine load);
// every figure is the median over the rounds (ACTR_BENCH_ROUNDS, default
// 3, at least 3). Sizes: ACTR_BENCH_QUICK=1 (make bench) 2000 round
// trips, 5 setups, 16 MiB; otherwise 5000, 7, 32 MiB. Each child run is killed after 60 s
// and no round starts after 75 s.
// ACTR_BENCH_OUT=DIR: rows appended to DIR/results.jsonl, the echo
// samples of actr and the peer (median round, us) to
// DIR/samples/<bench>.<slug>.txt.
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync,
	writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const [peer, build, npmDir] = process.argv.slice(2);
if (!['libdatachannel', 'libwebrtc'].includes(peer) || !build || !npmDir) {
	console.error('usage: dc_compare.mjs libdatachannel|libwebrtc BUILD_DIR NPM_DIR');
	process.exit(2);
}
const HERE = dirname(fileURLToPath(import.meta.url));
const BENCH = `peers-${peer}`;
const quick = process.env.ACTR_BENCH_QUICK === '1';
// $ACTR_BENCH_SIZES="ROUND_TRIPS SETUPS MIB" overrides both (the tiny
// run of test/interop/bench_peers.sh).
const sizes = (process.env.ACTR_BENCH_SIZES || '').split(/\s+/).map(Number);
const N = sizes[0] >= 100 ? sizes[0] : quick ? 2000 : 5000;
const SETUPS = sizes[1] >= 1 ? sizes[1] : quick ? 5 : 7;
const MIB = sizes[2] >= 1 ? sizes[2] : quick ? 16 : 32;
const ROUNDS = Math.max(3, Number(process.env.ACTR_BENCH_ROUNDS) || 3);
const CPU = process.env.ACTR_BENCH_CPU || '0';
const OUT = process.env.ACTR_BENCH_OUT ? resolve(process.env.ACTR_BENCH_OUT) : null;
const start = Date.now();

const median = (v) => {
	const s = [...v].sort((a, b) => a - b);

	return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
};
const pct = (sorted, p) => sorted[Math.round(p * (sorted.length - 1))];

function run(cmd, args, env) {
	const r = spawnSync(cmd, args, {
		env, encoding: 'utf8', timeout: 60000, maxBuffer: 64 << 20,
	});

	if (r.status !== 0) {
		process.stderr.write(r.stderr || '');
		throw new Error(`${cmd} ${args.join(' ')}: ${r.error ? r.error.message : 'exit ' + (r.status ?? r.signal)}`);
	}
	return r.stdout;
}

// bench/datachannel's figures: its own contract rows, written into a
// scratch ACTR_BENCH_OUT (its rows belong to its own table, not to the
// run's), with its echo samples; its human output when it wrote none.
function actrRound() {
	const tmp = mkdtempSync(join(tmpdir(), 'actr-peers-'));
	const env = { ...process.env, ACTR_BENCH_CPU: CPU,
		ACTR_BENCH_UDP_MB: String(MIB), ACTR_BENCH_OUT: tmp };

	try {
		const out = run(join(build, 'bench/datachannel'),
			[String(N), String(SETUPS), String(MIB)], env);
		const cold = /first \(cold\) connection of both processes: ([\d.]+) ms/.exec(out);
		const r = fromRows(tmp) || fromText(out);

		r.cold = cold ? Number(cold[1]) : NaN;
		return r;
	} finally {
		rmSync(tmp, { recursive: true, force: true });
	}
}

function fromRows(dir) {
	let rows;

	try {
		rows = readFileSync(join(dir, 'results.jsonl'), 'utf8').trim()
			.split('\n').map((l) => JSON.parse(l));
	} catch {
		return null;
	}
	const get = (group, row) => rows.find((x) => x.group === group &&
		x.row === row) || {};
	const echo = get('echo 64 B', 'actr');
	const udp = get('echo 64 B', 'raw UDP');
	const r = { u50: udp.p50_us, u99: udp.p99_us,
		umbps: get('one-way 64 KiB', 'raw UDP').throughput,
		s50: get('setup', 'actr').setup_ms, e50: echo.p50_us,
		e99: echo.p99_us, mbps: get('one-way 64 KiB', 'actr').throughput };

	if (Object.values(r).some((v) => typeof v !== 'number'))
		return null;
	if (echo.samples) {
		try {
			r.samples = readFileSync(join(dir, echo.samples), 'utf8');
		} catch { /* no samples: no curve */ }
	}
	return r;
}

function fromText(out) {
	const num = (re, what) => {
		const m = re.exec(out);

		if (!m)
			throw new Error(`bench/datachannel: no ${what} line in:\n${out}`);
		return m.slice(1).map(Number);
	};
	const [u50, u99] = num(/raw UDP 64 B ping-pong: p50 ([\d.]+) us\s+p99 ([\d.]+) us/, 'raw UDP');
	const [umbps] = num(/raw UDP one-way 1200 B datagrams: ([\d.]+) MB\/s/, 'raw UDP throughput');
	const [s50] = num(/setup offer -> 4 channels open: p50 ([\d.]+) ms/, 'setup');
	const [e50, e99] = num(/echo 64 B RPC_RELIABLE: p50 ([\d.]+) us\s+p99 ([\d.]+) us/, 'echo');
	const [mbps] = num(/throughput 64 KiB messages STREAM_RELIABLE: ([\d.]+) MB\/s/, 'throughput');

	return { u50, u99, umbps, s50, e50, e99, mbps };
}

function peerRound() {
	const out = run(process.execPath, [join(HERE, 'dc_node.mjs'), 'drive',
		peer, npmDir, String(N), String(SETUPS), String(MIB)],
		process.env);
	const r = JSON.parse(out.trim().split('\n').pop());
	const e = r.echo_us;

	return { name: r.impl, s50: median(r.setup_ms), setups: r.setup_ms,
		fails: r.setup_failures || 0,
		e50: pct(e, 0.5), e99: pct(e, 0.99),
		emean: e.reduce((a, b) => a + b, 0) / e.length, samples: e,
		mbps: r.mbps, cold: r.setup_cold_ms };
}

const A = [];
const P = [];
for (let i = 0; i < ROUNDS; i++) {
	if (i >= 3 && Date.now() - start > 75000)
		break;
	A.push(actrRound());
	P.push(peerRound());
	if (Date.now() - start > 75000 && i >= 2)
		break;
}
const rounds = A.length;
const med = (arr, k) => median(arr.map((x) => x[k]));
const pname = P[0].name;

// The median round (by echo p50) gives the CDF samples.
const midOf = (X) => X.map((x, i) => [x.e50, i])
	.sort((a, b) => a[0] - b[0])[Math.floor((X.length - 1) / 2)][1];
const mid = midOf(P);
const amid = midOf(A);

const allSetups = P.flatMap((p) => p.setups);
const slow = allSetups.filter((x) => x > 500).length;
const fails = P.reduce((a, p) => a + p.fails, 0);
const rows = [
	{ group: 'dc echo 64 B', row: 'actr', role: 'subject',
	  p50_us: med(A, 'e50'), p99_us: med(A, 'e99'), n: N,
	  slug: A[amid].samples ? 'dc-echo-64b-actr' : undefined,
	  text: A[amid].samples,
	  note: 'RPC_RELIABLE lane, bench/datachannel' },
	{ group: 'dc echo 64 B', row: 'raw UDP', role: 'baseline',
	  p50_us: med(A, 'u50'), p99_us: med(A, 'u99'), n: N,
	  note: 'recvfrom/sendto ping-pong, two processes' },
	{ group: 'dc echo 64 B', row: peer, role: 'peer',
	  p50_us: med(P, 'e50'), p99_us: med(P, 'e99'), mean_us: med(P, 'emean'),
	  n: N, slug: `dc-echo-64b-${peer}`, note: pname,
	  text: P[mid].samples.map((x) => x.toFixed(1)).join('\n') + '\n' },
	{ group: 'dc setup', row: 'actr', role: 'subject',
	  setup_ms: med(A, 's50'), n: SETUPS,
	  note: `offer -> 4 channels open, p50 of ${SETUPS} per round; cold first ${med(A, 'cold').toFixed(1)} ms apart` },
	// The peer's setups pooled over the rounds: libdatachannel's are
	// bimodal (~10-30 ms or ~1 s: a DTLS retransmission), so a
	// median of three round medians would flip between the modes.
	{ group: 'dc setup', row: peer, role: 'peer', setup_ms: median(allSetups),
	  setup_min_ms: Math.min(...allSetups),
	  setup_max_ms: Math.max(...allSetups), n: allSetups.length,
	  setup_over_500ms: slow, setup_failures: fails,
	  note: `${pname}, offer -> 4 channels open, ${peer === 'libwebrtc' ? 'trickle ICE' : 'full description after gathering'}; p50 of all ${allSetups.length} setups of the rounds, ${slow} over 500 ms, ${fails} failed and retried; cold first ${med(P, 'cold').toFixed(1)} ms apart` },
	{ group: 'dc throughput 64 KiB', row: 'actr', role: 'subject',
	  throughput: med(A, 'mbps'), unit: 'MB/s', mib: MIB, n: MIB * 16,
	  note: 'STREAM_RELIABLE, one way, then a barrier' },
	{ group: 'dc throughput 64 KiB', row: 'raw UDP', role: 'baseline',
	  throughput: med(A, 'umbps'), unit: 'MB/s', mib: MIB,
	  n: Math.ceil(MIB * (1 << 20) / 1200),
	  note: '1200 B datagrams one way, sendto/recv' },
	{ group: 'dc throughput 64 KiB', row: peer, role: 'peer',
	  throughput: med(P, 'mbps'), unit: 'MB/s', mib: MIB, n: MIB * 16,
	  note: `${pname}, bufferedAmount backpressure 1 MiB / 256 KiB` },
];

const fmt = (v, d = 1) => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(d));
console.log(`data channel: actr vs ${pname}; two processes ${CPU === '-1' ? 'not pinned' : 'on CPU ' + CPU}, median of ${rounds} rounds (${N} round trips, ${SETUPS} setups, ${MIB} MiB per round)`);
console.log(`load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log('group                 row              p50 us    p99 us  setup ms      MB/s  actr/row');
for (const r of rows) {
	const a = rows.find((x) => x.group === r.group && x.role === 'subject');
	const k = r.p50_us !== undefined ? 'p50_us' :
		r.setup_ms !== undefined ? 'setup_ms' : 'throughput';
	const ratio = r === a ? '' : (a[k] / r[k]).toPrecision(3) +
		(k === 'throughput' ? ' (>1 better)' : ' (<1 better)');

	console.log(`${r.group.padEnd(21)} ${r.row.padEnd(14)} ${fmt(r.p50_us).padStart(8)} ${fmt(r.p99_us).padStart(9)} ${fmt(r.setup_ms, 2).padStart(9)} ${fmt(r.throughput).padStart(9)}  ${ratio}`);
}

if (OUT) {
	mkdirSync(join(OUT, 'samples'), { recursive: true });
	for (const r of rows) {
		const line = { bench: BENCH, ...r, rounds };

	if (CPU === '-1')
		line.note += '; not pinned';

		delete line.slug;
		delete line.text;
		if (r.slug) {
			const f = `samples/${BENCH}.${r.slug}.txt`;

			writeFileSync(join(OUT, f), r.text);
			line.samples = f;
		}
		for (const k of Object.keys(line))
			if (typeof line[k] === 'number')
				line[k] = Number(line[k].toFixed(3));
		appendFileSync(join(OUT, 'results.jsonl'), JSON.stringify(line) + '\n');
	}
}
