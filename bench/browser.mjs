// bench/browser.sh's driver (inside the private network namespace):
// page -> C echo next to C -> C in the same run. Per round: the C client
// (examples/echo_actor/client -n N) and a fresh page in headless Chromium
// (web/actr.js), each registering, then discovery + negotiation + first
// call (setup) and N sequential echo.EchoService.Echo calls (p50/p99).
// Prints the median over rounds and the page/C ratios, and the floor:
// a DataChannel echo between two RTCPeerConnections of one page
// (Chromium alone; its setup is the offer/answer and channel open).
//   node browser.mjs --build B --top TOP --dir DIR --calls N --rounds R
import { spawn } from 'node:child_process';
import { appendFileSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch, openPage, percentile } from '../test/browser/lib.mjs';

const a = Object.fromEntries(process.argv.slice(2).reduce((acc, v, i, all) =>
	(v.startsWith('--') ? [...acc, [v.slice(2), all[i + 1]]] : acc), []));
const B = a.build, TOP = a.top, DIR = a.dir;
const N = Number(a.calls ?? 1000), ROUNDS = Number(a.rounds ?? 3);
const PORT = 18390, REALM = 102;
const BASE = `http://127.0.0.1:${PORT}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const procs = [];

async function start(name, argv, pattern, logLevel = 'warn') {
	const log = join(DIR, `${name}.log`);
	const fd = openSync(log, 'a');
	const p = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd],
		env: { ...process.env, ACTR_LOG: logLevel } });
	procs.push(p);
	for (let i = 0; i < 100; i++) {
		if (pattern.test(readFileSync(log, 'utf8')))
			return p;
		await sleep(50);
	}
	throw new Error(`${name} did not start (${log})`);
}

function cClient() {
	return new Promise((resolve, reject) => {
		const p = spawn(join(B, 'examples/echo_actor/client'), ['--signal',
			`ws://127.0.0.1:${PORT}`, '--realm', String(REALM),
			'--local', '127.0.0.1', '--quiet', '-n', String(N + 1)],
			{ stdio: ['ignore', 'pipe', 'pipe'],
			  env: { ...process.env, ACTR_LOG: 'warn' } });
		let out = '';
		p.stdout.on('data', (d) => { out += d; });
		p.stderr.on('data', (d) => { out += d; });
		const t = setTimeout(() => p.kill('SIGKILL'), 120000);
		p.on('exit', (code) => {
			clearTimeout(t);
			const m = out.match(/setup_us=([\d.]+) p50_us=([\d.]+) p99_us=([\d.]+)/);
			if (code !== 0 || !m)
				return reject(new Error(`C client: ${out.slice(-500)}`));
			resolve({ setup: +m[1], p50: +m[2], p99: +m[3] });
		});
	});
}

async function pageRound(ctx, round) {
	const p = await openPage(ctx, `${BASE}/demo/?autostart=0`);
	const r = await p.evaluate(async ([n, realm, round]) => {
		const m = await import('/actr.js');
		const d = window.demo;
		const c = new m.ActrClient({ signalUrl: location.origin, realm,
			type: `acme:bench-${round}:1.0.0`, iceServers: [] });
		await c.start();
		const call = async (i) => {
			const t = performance.now();
			const rep = d.decodeEcho(await c.call('acme:echo:1.0.0',
				'echo.EchoService.Echo', d.encodeEcho(`hello #${i}`),
				{ timeoutMs: 10000 }));
			if (rep !== `Echo: hello #${i}`)
				throw new Error(`bad reply ${rep}`);
			return performance.now() - t;
		};
		const setup = await call(0);
		const rtt = [];
		for (let i = 1; i <= n; i++)
			rtt.push(await call(i));
		await c.close();
		return { setup, rtt };
	}, [N, REALM, round]);
	await p.close();
	const s = r.rtt.sort((x, y) => x - y);
	return { setup: r.setup * 1000, p50: percentile(s, 0.5) * 1000,
		 p99: percentile(s, 0.99) * 1000 };
}

// The floor: two RTCPeerConnections in one page, a DataChannel echo,
// nothing of actr in the path.
async function chromiumFloor(ctx) {
	const p = await openPage(ctx, `${BASE}/demo/?autostart=0`);
	const r = await p.evaluate(async (n) => {
		const a = new RTCPeerConnection(), b = new RTCPeerConnection();
		a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
		b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
		const t0 = performance.now();
		const ch = a.createDataChannel('echo', { ordered: true });
		b.ondatachannel = (e) => {
			e.channel.onmessage = (m) => e.channel.send(m.data);
		};
		await a.setLocalDescription(await a.createOffer());
		await b.setRemoteDescription(a.localDescription);
		await b.setLocalDescription(await b.createAnswer());
		await a.setRemoteDescription(b.localDescription);
		await new Promise((res) => { ch.onopen = res; });
		const msg = new Uint8Array(32);
		const once = () => new Promise((res) => {
			const t = performance.now();
			ch.onmessage = () => res(performance.now() - t);
			ch.send(msg);
		});
		const setup = (await once()) + (performance.now() - t0);
		const rtt = [];
		for (let i = 0; i < n; i++)
			rtt.push(await once());
		a.close();
		b.close();
		return { setup, rtt };
	}, N);
	await p.close();
	const s = r.rtt.sort((x, y) => x - y);
	return { setup: r.setup * 1000, p50: percentile(s, 0.5) * 1000,
		 p99: percentile(s, 0.99) * 1000 };
}

const med = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

async function main() {
	writeFileSync(join(DIR, 'signal.conf'), `[server]
listen = 127.0.0.1:${PORT}
db = ${join(DIR, 'signal.db')}
www = ${join(TOP, 'web')}
[limits]
conn_per_min = 10000
conn_burst = 1000
reg_per_min = 10000
reg_burst = 1000
msg_per_s = 100000
msg_burst = 100000
[realm.${REALM}]
`);
	await start('signal', [join(B, 'actr-signal'), '-c',
		join(DIR, 'signal.conf')], /listening on/, 'info');
	await start('echo', [join(B, 'examples/echo_actor/server'), '--signal',
		`ws://127.0.0.1:${PORT}`, '--realm', String(REALM), '--local',
		'127.0.0.1'], /^ready/m);
	const br = await launch(join(B, 'npm'));
	const rows = { c: [], page: [], floor: [] };
	try {
		for (let i = 0; i < ROUNDS; i++) {
			rows.c.push(await cClient());
			rows.page.push(await pageRound(br.ctx, i));
			rows.floor.push(await chromiumFloor(br.ctx));
		}
	} finally {
		await br.close();
	}
	const load = readFileSync('/proc/loadavg', 'utf8').split(' ')
		.slice(0, 3).join(' ');
	console.log(`page -> C echo vs C -> C: ${N} sequential calls per ` +
		    `round, median of ${ROUNDS} rounds (load ${load})`);
	console.log(`${process.arch}, ${readFileSync('/proc/cpuinfo', 'utf8')
		.match(/model name\s*:\s*(.*)/)?.[1] ?? '?'}, Chromium ` +
		    `${br.ctx.browser()?.version() ?? ''}`);
	const f = (k, v) => `${k.padEnd(22)}${v.map((x) => x.padStart(12)).join('')}`;
	console.log(f('pair', ['setup ms', 'p50 us', 'p99 us']));
	const summary = {};
	for (const [k, label] of [['c', 'C -> C'], ['page', 'page -> C'],
		['floor', 'Chromium DC echo']]) {
		const s = { setup: med(rows[k].map((r) => r.setup)),
			p50: med(rows[k].map((r) => r.p50)),
			p99: med(rows[k].map((r) => r.p99)) };
		summary[k] = s;
		console.log(f(label, [(s.setup / 1000).toFixed(1),
			s.p50.toFixed(1), s.p99.toFixed(1)]));
	}
	if (process.env.ACTR_BENCH_OUT) {
		const roles = { c: ['C -> C', 'baseline'],
			page: ['page -> C', 'subject'],
			floor: ['Chromium DC echo', 'peer'] };
		let lines = '';
		for (const k of ['page', 'c', 'floor'])
			lines += JSON.stringify({ bench: 'browser',
				group: 'page echo', row: roles[k][0],
				role: roles[k][1], p50_us: summary[k].p50,
				p99_us: summary[k].p99,
				setup_ms: summary[k].setup / 1000, n: N,
				rounds: ROUNDS }) + '\n';
		appendFileSync(join(process.env.ACTR_BENCH_OUT,
			'results.jsonl'), lines);
	}
	console.log(f('ratio page/C', [
		(summary.page.setup / summary.c.setup).toFixed(2) + 'x',
		(summary.page.p50 / summary.c.p50).toFixed(2) + 'x',
		(summary.page.p99 / summary.c.p99).toFixed(2) + 'x']));
}

for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'])
	process.on(sig, () => {
		for (const p of procs)
			p.kill('SIGKILL');
		process.exit(1);
	});

let rc = 0;
try {
	await main();
} catch (e) {
	console.log(`FAIL: bench browser: ${e.stack ?? e}`);
	rc = 1;
}
for (const p of procs)
	p.kill('SIGTERM');
await sleep(300);
process.exit(rc);
