// web/actr.js in Node (node-datachannel's W3C polyfill + the `ws`
// package) against a real actr-signal and C actors; driven by
// test/interop/web.sh.
//
// Usage: node web_node.mjs NPM_DIR SIGNAL_URL REALM SECRET STEP...
// Steps (each prints "ok STEP ..." or "fail STEP reason"):
//   call      200 calls of echo.EchoService.Echo on acme:echo:1.0.0,
//             each reply "Echo: " + message, then one 1 MiB message
//   backend   a credential registered by "a backend" (base64 bytes from
//             an async function), no secret in the client: calls echo
//   badcred   a wrong realm secret: start() rejects with EAUTH (10104)
//   unknown   a route the C echo server does not serve: UNKNOWN_ROUTE
//   serve     serve echo.EchoService.Echo as acme:web-echo:1.0.0, print
//             "serving" and wait for stdin to close (the C client calls)
// At the end: "stats setup_ms=S p50_us=A p99_us=B" for the call step.
import { createRequire } from 'node:module';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const [npmDir, signalUrl, realm, secret, ...steps] = process.argv.slice(2);
const require = createRequire(join(resolve(npmDir), 'package.json'));
const { RTCPeerConnection } = await import(
	require.resolve('node-datachannel/polyfill'));
const WebSocket = require('ws');
if (process.env.ACTR_WEB_DEBUG === '2')
	require('node-datachannel').initLogger('Debug', (lvl, msg) =>
		process.stderr.write(`ldc ${lvl}: ${msg}\n`));
const here = dirname(fileURLToPath(import.meta.url));
const { ActrClient, ActrError } = await import(
	join(here, '../../web/actr.js'));

const enc = new TextEncoder();
const dec = new TextDecoder();
const out = (s) => process.stdout.write(s + '\n');
const fail = (step, why) => {
	out(`fail ${step} ${why}`);
	process.exitCode = 1;
};

// echo.EchoRequest / EchoResponse by hand: field 1 string (proto3).
function varint(n) {
	const b = [];
	while (n > 0x7f) {
		b.push((n & 0x7f) | 0x80);
		n = Math.floor(n / 128);
	}
	b.push(n);
	return b;
}
function str1(s) {
	const v = enc.encode(s);
	const h = [0x0a, ...varint(v.length)];
	const m = new Uint8Array(h.length + v.length);
	m.set(h);
	m.set(v, h.length);
	return m;
}
function field1(bytes) {
	if (bytes[0] !== 0x0a)
		return null;
	let len = 0, mul = 1, i = 1;
	for (; bytes[i] & 0x80; i++, mul *= 128)
		len += (bytes[i] & 0x7f) * mul;
	len += bytes[i] * mul;
	return dec.decode(bytes.subarray(i + 1, i + 1 + len));
}

function client(type, extra = {}) {
	return new ActrClient({ signalUrl, realm: Number(realm), type,
		realmSecret: secret, RTCPeerConnection, WebSocket,
		rtcConfig: { bindAddress: '127.0.0.1' },
		log: (lvl, s) => {
			if (process.env.ACTR_WEB_DEBUG || lvl === 'warn' ||
			    lvl === 'error')
				process.stderr.write(`${type} ${lvl}: ${s}\n`);
		}, ...extra });
}

async function stepCall() {
	const c = client('acme:web-client:1.0.0');
	await c.start();
	const rtt = [];
	let setup = 0;
	try {
		for (let i = 0; i < 200; i++) {
			const msg = `hello #${i}`;
			const t0 = performance.now();
			const r = await c.call('acme:echo:1.0.0',
				'echo.EchoService.Echo', str1(msg),
				{ timeoutMs: 10000 });
			const dt = performance.now() - t0;
			if (i === 0)
				setup = dt;
			else
				rtt.push(dt);
			const got = field1(r);
			if (got !== 'Echo: ' + msg)
				return fail('call', `reply ${i}: ${got}`);
		}
		const big = 'x'.repeat(1 << 20);
		const r = await c.call('acme:echo:1.0.0',
			'echo.EchoService.Echo', str1(big), { timeoutMs: 20000 });
		if (field1(r) !== 'Echo: ' + big)
			return fail('call', '1 MiB reply differs');
		rtt.sort((a, b) => a - b);
		const pct = (p) => rtt[Math.min(rtt.length - 1,
			Math.floor(p * rtt.length))] * 1000;
		out(`ok call 200 replies checked, 1 MiB echoed`);
		out(`stats setup_ms=${setup.toFixed(1)} ` +
			`p50_us=${pct(0.5).toFixed(0)} ` +
			`p99_us=${pct(0.99).toFixed(0)}`);
	} finally {
		await c.close();
	}
}

async function stepUnknown() {
	const c = client('acme:web-client2:1.0.0');
	await c.start();
	try {
		await c.call('acme:echo:1.0.0', 'echo.EchoService.Nope',
			str1('x'), { timeoutMs: 10000 });
		fail('unknown', 'call succeeded');
	} catch (e) {
		if (e instanceof ActrError && e.code === 10006)
			out(`ok unknown ${e.codeName} ${e.message}`);
		else
			fail('unknown', `${e.name} ${e.code} ${e.message}`);
	} finally {
		await c.close();
	}
}

async function stepBadCred() {
	const c = client('acme:web-bad:1.0.0', { realmSecret: 'wrong' });
	try {
		await c.start();
		fail('badcred', 'start() succeeded');
	} catch (e) {
		if (e instanceof ActrError && e.code === 10104 &&
		    c.state === 'failed')
			out(`ok badcred ${e.codeName} ${e.message}`);
		else
			fail('badcred', `${e.name} ${e.code} ${e.message}`);
	} finally {
		await c.close();
	}
}

async function stepServe() {
	const c = client('acme:web-echo:1.0.0');
	let served = 0;
	c.serve('echo.EchoService.Echo', async (bytes, ctx) => {
		served++;
		if (!ctx.callerId.includes('/acme:echo-client:'))
			throw new ActrError(10004, 'unexpected caller');
		return str1('Echo: ' + field1(bytes));
	});
	await c.start();
	out(`serving ${c.actrId}`);
	await new Promise((r) => {
		process.stdin.on('end', r);
		process.stdin.on('close', r);
		process.stdin.resume();
	});
	out(`ok serve served=${served}`);
	await c.close();
}

async function stepPair() {
	const a = client('acme:web-peer:1.0.0');
	const b = client('acme:web-caller:1.0.0');
	// zero ACL rules: nobody may reach it (PROTOCOL.md 2)
	const priv = client('acme:web-private:1.0.0', { acl: { rules: [] } });
	a.serve('echo.EchoService.Echo', (bytes, ctx) =>
		str1('Echo: ' + field1(bytes) + ' from ' + ctx.callerId));
	try {
		await a.start();
		await b.start();
		await priv.start();
		for (let i = 0; i < 50; i++) {
			const r = await b.call('acme:web-peer:1.0.0',
				'echo.EchoService.Echo', str1(`p${i}`),
				{ timeoutMs: 10000 });
			const want = `Echo: p${i} from ${b.actrId}`;
			if (field1(r) !== want)
				return fail('pair', `reply ${i}: ${field1(r)}`);
		}
		const big = new Uint8Array(300000).fill(7);
		a.serve('raw', (bytes) => bytes);
		const r = await b.call(a.actrId, 'raw', big);
		if (r.length !== big.length || r.some((x) => x !== 7))
			return fail('pair', '300 kB raw echo differs');
		// a stream, reliable lane: 20 chunks in order, sequence 0..19
		const got = [];
		a.onStream('s1', (chunk, meta) => got.push([meta.sequence,
			dec.decode(chunk), meta.callerId]));
		for (let i = 0; i < 20; i++)
			await b.sendStream(a.actrId, 's1', `chunk ${i}`);
		const until = Date.now() + 10000;
		while (got.length < 20 && Date.now() < until)
			await new Promise((res) => setTimeout(res, 20));
		if (got.length !== 20 || got.some(([seq, text, who], i) =>
			seq !== i || text !== `chunk ${i}` || who !== b.actrId))
			return fail('pair', `stream: ${JSON.stringify(got)}`);
		try {
			await b.call(priv.actrId, 'raw', str1('x'),
				{ timeoutMs: 10000 });
			return fail('pair', 'call through a denying ACL succeeded');
		} catch (e) {
			if (!(e instanceof ActrError) || e.code !== 10004)
				return fail('pair', `ACL denial: ${e.code} ` +
					e.message);
		}
		out(`ok pair 50 calls, 300 kB and a 20-chunk stream between ` +
			`two module instances, ACL denial EPERM`);
	} finally {
		await a.close();
		await b.close();
		await priv.close();
	}
}

// The module survives an actr-signal restart: web.sh restarts the server
// after "restart-ready"; the client must go through "reconnecting" back
// to "connected" and call the C echo server again (a fresh discovery).
async function stepRestart() {
	const seen = [];
	const c = client('acme:web-restart:1.0.0',
		{ onState: (s) => seen.push(s) });
	await c.start();
	try {
		await c.call('acme:echo:1.0.0', 'echo.EchoService.Echo',
			str1('before'), { timeoutMs: 10000 });
		out('restart-ready');
		const end = Date.now() + 60000;
		while (Date.now() < end && !(seen.includes('reconnecting') &&
		       c.state === 'connected'))
			await new Promise((r) => setTimeout(r, 100));
		if (c.state !== 'connected')
			return fail('restart', `state ${c.state} after ` +
				seen.join(','));
		let r = null, last = null;
		while (Date.now() < end && !r) {
			try {
				await c.discover('acme:echo:1.0.0');
				r = await c.call('acme:echo:1.0.0',
					'echo.EchoService.Echo', str1('after'),
					{ timeoutMs: 5000 });
			} catch (e) {
				last = e;
				await new Promise((res) => setTimeout(res, 500));
			}
		}
		if (!r || field1(r) !== 'Echo: after')
			return fail('restart', `no call after the restart: ` +
				last?.message);
		out(`ok restart states ${seen.join(',')} ` +
			`reconnects=${c.stats.reconnects}`);
	} finally {
		await c.close();
	}
}

// Against an actr-signal issuing 4 s credentials: the client renews
// (/ais/renew) and its signaling requests, checked against the credential
// each time, still pass after two lifetimes.
async function stepRenew() {
	const c = client('acme:web-renew:1.0.0');
	await c.start();
	try {
		const t0 = Date.now();
		while (Date.now() - t0 < 9000)
			await new Promise((r) => setTimeout(r, 100));
		// a request the server checks against the current credential
		// (the first one expired 5 s ago): it must not throw
		await c.discover('acme:echo:1.0.0');
		if (c.stats.renewals < 2 ||
		    c.stats.registrations !== 1 || c.state !== 'connected')
			return fail('renew', `renewals=${c.stats.renewals} ` +
				`registrations=${c.stats.registrations} ` +
				`state=${c.state}`);
		out(`ok renew renewals=${c.stats.renewals} ` +
			`pongs=${c.stats.pongs} after 9 s of 4 s credentials`);
	} finally {
		await c.close();
	}
}

// The credential from "a backend": registered here with the realm secret
// (as an application server would), handed to a client that has none.
async function stepBackend() {
	const { T } = await import(join(here, '../../web/wire.js'));
	const backend = async () => {
		const res = await fetch(`${signalUrl}/ais/register`, {
			method: 'POST', headers: {
				'content-type': 'application/x-protobuf',
				'x-actrix-realm-secret': secret },
			body: T.RegisterRequest.encode({
				actrType: { manufacturer: 'acme', name: 'web-page',
					version: '1.0.0' },
				realm: { realmId: Number(realm) }, authMode: 2 })
				.finish() });
		return Buffer.from(await res.arrayBuffer()).toString('base64');
	};
	const c = client('acme:web-page:1.0.0', { realmSecret: undefined,
		credential: backend });
	await c.start();
	try {
		const r = await c.call('acme:echo:1.0.0', 'echo.EchoService.Echo',
			str1('from a page'), { timeoutMs: 10000 });
		if (field1(r) !== 'Echo: from a page')
			return fail('backend', `reply ${field1(r)}`);
		out(`ok backend ${c.actrId} called the C echo server`);
	} finally {
		await c.close();
	}
}

const table = { call: stepCall, unknown: stepUnknown, badcred: stepBadCred,
	serve: stepServe, pair: stepPair,
	restart: stepRestart, renew: stepRenew,
	backend: stepBackend };
const guard = setTimeout(() => {
	fail('all', 'timed out after 120 s');
	process.exit(1);
}, 120000);
for (const s of steps) {
	try {
		await table[s]();
	} catch (e) {
		fail(s, `${e.name} ${e.code ?? ''} ${e.message}`);
	}
}
clearTimeout(guard);
process.exit(process.exitCode ?? 0);
