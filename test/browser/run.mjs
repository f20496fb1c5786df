// The browser scenarios (test/browser/run.sh runs this inside a private
// network namespace): real headless Chromium, web/actr.js and the demo
// page served by actr-signal --www, the C echo server and client.
//
//   node run.mjs --build B --top TOP --dir SCRATCH [--only NAME,...]
//
// One line per scenario, "PASS: browser: NAME ..." or "FAIL: ...", exit
// status 1 when any failed. Every wait is bounded.
import { spawn } from 'node:child_process';
import {
	existsSync, mkdirSync, openSync, readFileSync, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { hostCandidates, launch, openPage, percentile } from './lib.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) =>
	(v.startsWith('--') ? [...a, [v.slice(2), all[i + 1]]] : a), []));
const B = args.build, TOP = args.top, DIR = args.dir;
const ONLY = args.only ? args.only.split(',') : null;
const PORT = Number(args.port ?? 18300);
const SECRET = 'browser-secret';	// realm 101 (tests pass it in code)
const PUBLIC_REALM = 102;		// no secret: what the demo uses
const BASE = `http://127.0.0.1:${PORT}`;
const ARTIFACTS = join(B, 'test-artifacts');
const procs = new Set();
let fails = 0;

function note(s) {
	process.stdout.write(`   ${s}\n`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Start a program with output into DIR/name.log; resolve when pattern
// shows up there (bounded by ms).
async function start(name, argv, pattern, ms = 10000) {
	const log = join(DIR, `${name}.log`);
	const fd = openSync(log, 'a');
	const p = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd],
		env: { ...process.env, ACTR_LOG: process.env.ACTR_LOG ?? 'info' } });
	p.logfile = log;
	procs.add(p);
	p.on('exit', () => procs.delete(p));
	if (!pattern)
		return p;
	const end = Date.now() + ms;
	while (Date.now() < end) {
		if (readFileSync(log, 'utf8').match(pattern))
			return p;
		if (p.exitCode !== null)
			break;
		await sleep(50);
	}
	throw new Error(`${name} did not print ${pattern} (see ${log})`);
}

async function stop(p) {
	if (!p || p.exitCode !== null)
		return;
	const gone = new Promise((r) => p.once('exit', r));
	p.kill('SIGTERM');
	const t = setTimeout(() => p.kill('SIGKILL'), 5000);
	await gone;
	clearTimeout(t);
}

// Run a program to completion (bounded); resolves { code, out }.
function run(argv, ms) {
	return new Promise((resolve) => {
		const p = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe',
			'pipe'], env: { ...process.env, ACTR_LOG: 'warn' } });
		let out = '';
		p.stdout.on('data', (d) => { out += d; });
		p.stderr.on('data', (d) => { out += d; });
		const t = setTimeout(() => p.kill('SIGKILL'), ms);
		p.on('exit', (code) => {
			clearTimeout(t);
			resolve({ code, out });
		});
	});
}

function signalConf() {
	const conf = join(DIR, 'signal.conf');
	const text = `[server]
listen = 127.0.0.1:${PORT}
db = ${join(DIR, 'signal.db')}
www = ${join(TOP, 'web')}
cors_origins = http://localhost:${PORT}
heartbeat_secs = 1
presence_ttl_secs = 4
[limits]
conn_per_min = 10000
conn_burst = 1000
reg_per_min = 10000
reg_burst = 1000
msg_per_s = 100000
msg_burst = 100000
[realm.101]
secret = ${SECRET}
[realm.${PUBLIC_REALM}]
`;
	writeFileSync(conf, text);
	return conf;
}

let signal;
async function startSignal() {
	signal = await start('signal', [join(B, 'actr-signal'), '-c',
		join(DIR, 'signal.conf')], /listening on/);
}

const cArgs = (realm) => ['--signal', `ws://127.0.0.1:${PORT}`, '--realm',
	String(realm), '--local', '127.0.0.1'];

async function scenario(name, fn) {
	if (ONLY && !ONLY.includes(name))
		return;
	const t0 = Date.now();
	try {
		const info = await fn();
		console.log(`PASS: browser: ${name}${info ? ` ${info}` : ''} ` +
			    `(${((Date.now() - t0) / 1000).toFixed(1)} s)`);
	} catch (e) {
		fails++;
		console.log(`FAIL: browser: ${name}: ${e.stack ?? e}`);
	}
}

function check(cond, what) {
	if (!cond)
		throw new Error(`check failed: ${what}`);
}

// Page-side helper: make a client in the page with the module.
const NEW_CLIENT = `async (o) => {
	const m = await import('/actr.js');
	const c = new m.ActrClient({ signalUrl: location.origin,
		iceServers: [], ...o });
	return c;
}`;

async function main() {
	mkdirSync(ARTIFACTS, { recursive: true });
	check(existsSync(join(TOP, 'web', 'actr.js')), 'web/actr.js exists');
	const logLines = [];
	const plog = (s) => {
		logLines.push(s);
		if (process.env.V)
			console.log(s);
	};
	signalConf();
	await startSignal();
	const echo = await start('c-echo', [join(B, 'examples/echo_actor/server'),
		...cArgs(PUBLIC_REALM)], /^ready/m);
	const browser = await launch(join(B, 'npm'), { log: plog });
	const ctx = browser.ctx;
	let demo;

	try {
		await scenario('chromium-loopback', async () => {
			const p = await openPage(ctx, `${BASE}/demo/?autostart=0`);
			const c = await hostCandidates(p);
			check(c.some((s) => / 127\.0\.0\.1 \d+ typ host/.test(s)),
			      `a 127.0.0.1 host candidate in ${JSON.stringify(c)}`);
			check(await p.title() !== '', 'the demo page has a title');
			await p.close();
			return `${c.length} host candidates`;
		});

		await scenario('page-to-c-echo', async () => {
			demo = await openPage(ctx, `${BASE}/demo/`);
			await demo.waitForFunction(() => window.demo?.ready ||
				window.demo?.error, null, { timeout: 30000 });
			const err = await demo.evaluate(() => window.demo.error);
			check(!err, `demo started (${err})`);
			const r = await demo.evaluate(async () => {
				const rtt = [];
				for (let i = 0; i < 1000; i++) {
					const t = performance.now();
					await window.demo.echo(`call ${i} ${'x'.repeat(i % 50)}`);
					rtt.push(performance.now() - t);
				}
				// 1 MB: fragmented both ways, reassembled, checked
				const big = Array.from({ length: 1 << 20 }, (_, i) =>
					String.fromCharCode(97 + (i * 7 + (i >> 13)) % 26)).join('');
				const { reply } = await window.demo.echo(big);
				return { rtt, bigOk: reply === `Echo: ${big}`,
					 setup: window.demo.stats.setupMs,
					 errors: window.demo.stats.errors };
			});
			check(r.rtt.length === 1000, '1000 replies');
			check(r.bigOk, 'the 1 MB reply matches');
			check(r.errors === 0, 'no call failed');
			const s = r.rtt.sort((a, b) => a - b);
			return `1000 calls + 1 MiB, setup ${r.setup.toFixed(1)} ms, ` +
				`p50 ${(percentile(s, 0.5) * 1000).toFixed(0)} us, ` +
				`p99 ${(percentile(s, 0.99) * 1000).toFixed(0)} us`;
		});

		await scenario('c-client-to-page', async () => {
			check(demo, 'the demo page is open');
			const before = await demo.evaluate(() => window.demo.stats.served);
			const r = await run([join(B, 'examples/echo_actor/client'),
				...cArgs(PUBLIC_REALM), '--type', 'acme:web:1.0.0',
				'-n', '200', '--quiet'], 60000);
			check(r.code === 0, `client exit 0: ${r.out.slice(-800)}`);
			const after = await demo.evaluate(() => window.demo.stats.served);
			check(after - before === 200, `page served 200 (${after - before})`);
			const st = r.out.match(/stats .*/);
			return st ? st[0] : '';
		});

		await scenario('demo-screenshot', async () => {
			check(demo, 'the demo page is open');
			await demo.evaluate(() => window.demo.burst(50));
			await sleep(300);
			const path = join(ARTIFACTS, 'demo.png');
			await demo.screenshot({ path, fullPage: true });
			return path;
		});

		await scenario('page-to-page', async () => {
			const p = await openPage(ctx, `${BASE}/demo/?type=acme:web-b:1.0.0` +
				'&target=acme:web:1.0.0');
			await p.waitForFunction(() => window.demo?.ready ||
				window.demo?.error, null, { timeout: 30000 });
			check(!(await p.evaluate(() => window.demo.error)), 'page B started');
			const n = await p.evaluate(() => window.demo.burst(100));
			check(n === 100, `100 page->page calls (${n})`);
			const served = await demo.evaluate(() => window.demo.stats.served);
			await p.evaluate(() => window.demo.client.close());
			await p.close();
			return `page A served ${served} calls in all`;
		});

		await scenario('wrong-credential', async () => {
			const p = await openPage(ctx, `${BASE}/demo/?autostart=0`);
			const r = await p.evaluate(async ([mk, secret]) => {
				const m = await import('/actr.js');
				const c = await (eval(mk))({ realm: 101,
					type: 'acme:bad:1.0.0', realmSecret: secret });
				try {
					await c.start();
					await c.close();
					return { ok: true };
				} catch (e) {
					return { ok: false, isActr: e instanceof m.ActrError,
						 code: e.code, name: e.name, msg: e.message };
				}
			}, [NEW_CLIENT, 'not-the-secret']);
			check(!r.ok, 'registration with a wrong secret fails');
			check(r.isActr && r.code === 10104,
			      `ActrError EAUTH (10104): ${JSON.stringify(r)}`);
			await p.close();
			return `${r.name} ${r.code} "${r.msg}"`;
		});

		await scenario('acl-denied', async () => {
			const p = await openPage(ctx, `${BASE}/demo/?autostart=0`);
			const r = await p.evaluate(async ([mk, realm]) => {
				const m = await import('/actr.js');
				const mkc = eval(mk);
				const g = await mkc({ realm, type: 'acme:guarded:1.0.0',
					acl: { rules: [{ permission: 1,
						fromType: { manufacturer: 'acme',
							name: 'friend', version: '1.0.0' },
						anyRealm: true }] } });
				g.serve('echo.EchoService.Echo', async (b) => b);
				await g.start();
				const c = await mkc({ realm, type: 'acme:stranger:1.0.0' });
				await c.start();
				let out;
				try {
					await c.call('acme:guarded:1.0.0',
						'echo.EchoService.Echo', new Uint8Array([10, 1, 65]),
						{ timeoutMs: 10000 });
					out = { ok: true };
				} catch (e) {
					out = { ok: false, isActr: e instanceof m.ActrError,
						code: e.code, msg: e.message };
				}
				// by ActrId (no discovery): actr-signal refuses the
				// relay the ACL does not admit (403)
				try {
					await c.call(g.actrId, 'echo.EchoService.Echo',
						new Uint8Array([10, 1, 65]), { timeoutMs: 10000 });
					out.byId = 'answered';
				} catch (e) {
					out.byId = e instanceof m.ActrError ? e.code : String(e);
				}
				await c.close();
				// the type the ACL admits gets through: the ACL is
				// what refused the stranger
				const f = await mkc({ realm, type: 'acme:friend:1.0.0' });
				await f.start();
				const rep = await f.call('acme:guarded:1.0.0',
					'echo.EchoService.Echo', new Uint8Array([10, 1, 65]),
					{ timeoutMs: 10000 });
				out.friend = Array.from(rep).join(',');
				await f.close();
				await g.close();
				return out;
			}, [NEW_CLIENT, PUBLIC_REALM]);
			// actr-signal hides an actor from the types its ACL does
			// not admit (server/dispatch.c visible_to), as the Rust
			// signaling does: the stranger cannot even find it
			check(!r.ok, 'a call the ACL does not admit fails');
			check(r.isActr && r.code === 10003,
			      `ActrError ENOTFOUND (10003): ${JSON.stringify(r)}`);
			check(r.byId === 10004, `by id: ActrError EPERM (10004): ` +
			      `${r.byId}`);
			check(r.friend === '10,1,65', `the admitted type is answered ` +
			      `(${r.friend})`);
			await p.close();
			return `by type ${r.code} "${r.msg}", by id ${r.byId}`;
		});

		await scenario('backend-credential', async () => {
			// realm 101 has a secret: only the backend
			// (web/demo/backend.mjs) knows it; the page gets a
			// RegisterResponse from it
			const bport = PORT + 2;
			writeFileSync(join(DIR, 'secret'), SECRET);
			const be = await start('backend', ['node',
				join(TOP, 'web/demo/backend.mjs'), '--signal', BASE,
				'--realm', '101', '--type', 'acme:web-cred:1.0.0',
				'--listen', `127.0.0.1:${bport}`, '--allow-origin', BASE,
				'--secret-file', join(DIR, 'secret')], /^ready/m);
			const e101 = await start('c-echo-101', [join(B,
				'examples/echo_actor/server'), ...cArgs(101), '--secret',
				SECRET], /^ready/m);
			try {
				const p = await openPage(ctx, `${BASE}/demo/?realm=101` +
					`&credential=http://127.0.0.1:${bport}/credential`);
				await p.waitForFunction(() => window.demo?.ready ||
					window.demo?.error, null, { timeout: 30000 });
				const r = await p.evaluate(async () => ({
					err: window.demo.error,
					id: window.demo.client.actrId,
					n: window.demo.error ? 0 : await window.demo.burst(20),
					html: document.documentElement.outerHTML,
				}));
				check(!r.err, `the page started (${r.err})`);
				check(/@101\/acme:web-cred:1\.0\.0$/.test(r.id),
				      `registered in realm 101 as the backend's type ` +
				      `(${r.id})`);
				check(r.n === 20, `20 calls in realm 101 (${r.n})`);
				check(!r.html.includes(SECRET), 'no secret in the page');
				await p.evaluate(() => window.demo.client.close());
				await p.close();
				return r.id;
			} finally {
				await stop(e101);
				await stop(be);
			}
		});

		await scenario('cors-cross-origin', async () => {
			// the page from http://localhost:PORT (a configured
			// --cors-origin) registers at http://127.0.0.1:PORT
			const p = await openPage(ctx,
				`http://localhost:${PORT}/demo/?autostart=0`);
			const r = await p.evaluate(async ([base, realm]) => {
				const m = await import('/actr.js');
				const c = new m.ActrClient({ signalUrl: base, realm,
					type: 'acme:cors:1.0.0', iceServers: [] });
				try {
					await c.start();
					await c.close();
					return { ok: true };
				} catch (e) {
					return { ok: false, msg: `${e.code} ${e.message}` };
				}
			}, [BASE, PUBLIC_REALM]);
			check(r.ok, `cross-origin registration admitted: ${r.msg}`);
			await p.close();
		});

		await scenario('cors-denied', async () => {
			// a page from an origin nobody configured (a second
			// actr-signal serving the same folder) cannot register
			const other = await start('signal-other', [join(B, 'actr-signal'),
				'-l', `127.0.0.1:${PORT + 1}`, '-d',
				join(DIR, 'other.db'), '--www', join(TOP, 'web')],
				/listening on/);
			try {
				const p = await openPage(ctx,
					`http://127.0.0.1:${PORT + 1}/demo/?autostart=0`);
				const r = await p.evaluate(async ([base, realm]) => {
					const m = await import('/actr.js');
					const c = new m.ActrClient({ signalUrl: base, realm,
						type: 'acme:cors:1.0.0', iceServers: [] });
					try {
						await c.start();
						await c.close();
						return { ok: true };
					} catch (e) {
						await c.close().catch(() => {});
						return { ok: false, isActr: e instanceof m.ActrError,
							 code: e.code, msg: e.message };
					}
				}, [BASE, PUBLIC_REALM]);
				check(!r.ok, 'a page from another origin is refused');
				check(r.isActr, `an ActrError: ${JSON.stringify(r)}`);
				const log = readFileSync(signal.logfile, 'utf8');
				check(/from origin http:\/\/127\.0\.0\.1:\d+ refused/.test(log),
				      'actr-signal logged the refused origin');
				await p.close();
				return `${r.code} "${r.msg}"`;
			} finally {
				await stop(other);
			}
		});

		await scenario('default-chromium', async () => {
			// Chromium as a user runs it: no loopback ICE, host
			// addresses hidden behind mDNS names, no media
			// permission. The C server (all interfaces, so the
			// namespace's veth address too) learns the page's
			// address from its checks (peer-reflexive).
			check(process.env.ACTR_BROWSER_VETH === '1',
			      'run.sh set up a veth address (198.18.0.1)');
			const srv = await start('c-echo-all', [join(B,
				'examples/echo_actor/server'), '--signal',
				`ws://127.0.0.1:${PORT}`, '--realm', String(PUBLIC_REALM),
				'--type', 'acme:echo-all:1.0.0'], /^ready/m);
			const plain = await launch(join(B, 'npm'), { log: plog,
				tag: 'default', plain: true });
			try {
				const p = await plain.ctx.newPage();
				await p.goto(`${BASE}/demo/?type=acme:web-default:1.0.0` +
					'&target=acme:echo-all:1.0.0');
				await p.waitForFunction(() => window.demo?.ready ||
					window.demo?.error, null, { timeout: 30000 });
				const n = await p.evaluate(async () => {
					if (window.demo.error)
						return window.demo.error;
					return window.demo.burst(50);
				});
				check(n === 50, `50 calls from a default Chromium (${n})`);
				const c = await hostCandidates(p);
				check(!c.some((x) => / 198\.18\.0\.1 /.test(x)),
				      `the page's address stays hidden: ${JSON.stringify(c)}`);
				return `50 calls; the page offered ${c.length} host ` +
					`candidates (${c.map((x) => x.split(' ')[4]).join(',')})`;
			} finally {
				await plain.close();
				await stop(srv);
			}
		});

		await scenario('signal-restart', async () => {
			check(demo, 'the demo page is open');
			const mark = await demo.evaluate(() => window.demo.states.length);
			await stop(signal);
			// the page notices (its WebSocket closed) before the
			// server is back
			await demo.waitForFunction((n) => window.demo.states.length > n,
				mark, { timeout: 20000 });
			await sleep(300);
			await startSignal();
			// the page reconnects (backoff) and registers again
			await demo.waitForFunction((n) => {
				const s = window.demo.states;
				return s.length > n + 1 && s[s.length - 1] === 'connected';
			}, mark, { timeout: 40000 });
			const seen = await demo.evaluate((n) =>
				window.demo.states.slice(n).join(','), mark);
			const r = await demo.evaluate(async () => {
				// the C echo server reconnects on its own backoff
				let ids = [];
				for (let i = 0; i < 60 && !ids.length; i++) {
					ids = await window.demo.client.discover(
						'acme:echo:1.0.0');
					if (!ids.length)
						await new Promise((r) => setTimeout(r, 500));
				}
				const n = await window.demo.burst(20);
				return { ids: ids.length, n };
			});
			check(r.n === 20, `20 calls after the restart (${r.n})`);
			check(r.ids >= 1, `discovery after the restart (${r.ids})`);
			const c = await run([join(B, 'examples/echo_actor/client'),
				...cArgs(PUBLIC_REALM), '--type', 'acme:web:1.0.0',
				'-n', '5', '--quiet'], 60000);
			check(c.code === 0, `a new C client reaches the page: ` +
			      c.out.slice(-400));
			return `states ${seen}`;
		});
	} finally {
		await browser.close();
		await stop(echo);
		await stop(signal);
		for (const p of procs)
			await stop(p);
		if (fails || process.env.V) {
			console.log('---- page console (last 60 lines)');
			console.log(logLines.slice(-60).join('\n'));
		}
	}
}

// Killed (timeout(1), Ctrl-C, a closed pipe): take the children along,
// they would outlive us in the namespace otherwise.
function killAll(code) {
	for (const p of procs)
		p.kill('SIGKILL');
	process.exit(code);
}
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'])
	process.on(sig, () => killAll(1));
process.stdout.on('error', () => killAll(1));

const watchdog = setTimeout(() => {
	console.log('FAIL: browser: the run took over 240 s');
	for (const p of procs)
		p.kill('SIGKILL');
	process.exit(1);
}, 240000);
try {
	await main();
} catch (e) {
	fails++;
	console.log(`FAIL: browser: setup: ${e.stack ?? e}`);
	for (const p of procs)
		p.kill('SIGKILL');
}
clearTimeout(watchdog);
process.exit(fails ? 1 : 0);
