// A Rust actr node (the Rust runtime's Node.js binding, npm
// @actrium/actr-linux-x64-gnu) driven from the command line, for the
// interop test (test/interop/rust.sh) and benchmark (bench/peers/rust.sh).
//
//   node rust_peer.mjs serve --addon A --dir D --signal HOST:PORT
//        --realm R --secret S --type MFR:NAME:VER
//     Registers, prints "ready <ActrId>", runs until SIGTERM or SIGINT
//     (at most 10 minutes). The binding is client-only: every call to it is answered
//     with NotImplemented (10009). With --ws-port P it also listens for
//     direct WebSocket lanes on P and advertises ws://HOST:P ([websocket]
//     in actr.toml).
//
//   node rust_peer.mjs call --addon A --dir D --signal ... --type MFR:NAME:VER
//        --target MFR:NAME:VER [--route R] [-n N] [--sizes B,B,...]
//        [--expect-error CODE_NAME] [--timeout MS]
//     Discovers the target type, calls it N times (echo.EchoService.Echo
//     unless --route), then once per size in --sizes. Replies must be
//     "Echo: " + the message (the upstream echo example), or, with
//     --expect-error, the call must fail with that actr error code name
//     (NotImplemented). Prints one line per failure, then
//       stats calls=N ok=K setup_us=S p50_us=A p99_us=B
//     (setup_us: discovery + first call, connection setup included;
//     p50/p99 over the N-1 later calls). Exit 0 when every call was good.
//
// The node's configuration (manifest.toml + actr.toml) is written into
// --dir. Every wait is bounded.
import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const argv = process.argv.slice(2);
const mode = argv.shift();
const opt = { route: 'echo.EchoService.Echo', n: 1, timeout: 10000,
	sizes: '', expectError: '' };
for (let i = 0; i < argv.length; i++) {
	const k = argv[i], v = argv[i + 1];
	const set = (name) => { opt[name] = v; i++; };
	switch (k) {
	case '--addon': set('addon'); break;
	case '--dir': set('dir'); break;
	case '--signal': set('signal'); break;
	case '--realm': set('realm'); break;
	case '--secret': set('secret'); break;
	case '--type': set('type'); break;
	case '--target': set('target'); break;
	case '--route': set('route'); break;
	case '-n': set('n'); break;
	case '--sizes': set('sizes'); break;
	case '--timeout': set('timeout'); break;
	case '--expect-error': set('expectError'); break;
	case '--ws-port': set('wsPort'); break;
	default:
		console.error(`rust_peer: unknown argument ${k}`);
		process.exit(2);
	}
}
if (!['serve', 'call'].includes(mode) || !opt.addon || !opt.dir ||
    !opt.signal || !opt.realm || !opt.type ||
    (mode === 'call' && !opt.target)) {
	console.error('usage: rust_peer.mjs serve|call --addon A --dir D ' +
		'--signal HOST:PORT --realm R [--secret S] --type T ' +
		'[--target T] [--route R] [-n N] [--sizes B,..] ' +
		'[--expect-error NAME] [--timeout MS]');
	process.exit(2);
}

const parseType = (s) => {
	const [manufacturer, name, version] = s.split(':');
	if (!manufacturer || !name || !version) {
		console.error(`rust_peer: type ${s}: expected MFR:NAME:VERSION`);
		process.exit(2);
	}
	return { manufacturer, name, version };
};
const idString = (id) => `${id.serialNumber.toString(16)}@` +
	`${id.realm.realmId}/${id.type.manufacturer}:${id.type.name}:` +
	`${id.type.version}`;

function writeConfig() {
	const t = parseType(opt.type);
	mkdirSync(opt.dir, { recursive: true });
	writeFileSync(join(opt.dir, 'manifest.toml'), [
		'edition = 1', 'exports = []', '', '[package]',
		`name = "${t.name}"`, `manufacturer = "${t.manufacturer}"`,
		`version = "${t.version}"`, 'description = "actr-c interop"',
		''].join('\n'));
	writeFileSync(join(opt.dir, 'actr.toml'), [
		'edition = 1', '', '[signaling]',
		`url = "ws://${opt.signal}/signaling/ws"`, '',
		'[ais_endpoint]', `url = "http://${opt.signal}/ais"`, '',
		'[deployment]', `realm_id = ${Number(opt.realm)}`,
		opt.secret ? `realm_secret = "${opt.secret}"` : '', '',
		'[hyper.trust]', 'kind = "dev_only"', '',
		...(opt.wsPort ? ['[websocket]',
			`listen_port = ${Number(opt.wsPort)}`,
			`advertised_host = "${opt.signal.split(':')[0]}"`,
			''] : [])].join('\n'));
	return join(opt.dir, 'manifest.toml');
}

// A bound on every await: a hung peer must not hang the test.
function bounded(p, ms, what) {
	let t;
	return Promise.race([p, new Promise((_, rej) => {
		t = setTimeout(() => rej(new Error(`${what}: no answer in ` +
			`${ms} ms`)), ms);
	})]).finally(() => clearTimeout(t));
}

// The binding throws Error whose message is JSON {kind, code, message}.
function errCode(e) {
	try {
		return JSON.parse(e.message).code || String(e.message);
	} catch {
		return String(e && e.message);
	}
}

// echo.EchoRequest{1: message} and echo.EchoResponse{1: reply,
// 2: timestamp}, proto3, by hand (no schema compiler needed).
function varint(n) {
	const out = [];
	while (n > 127) {
		out.push((n & 127) | 128);
		n = Math.floor(n / 128);
	}
	out.push(n);
	return Buffer.from(out);
}
function encodeRequest(msg) {
	const b = Buffer.from(msg);
	return Buffer.concat([Buffer.from([0x0a]), varint(b.length), b]);
}
function decodeResponse(buf) {
	let i = 0, reply = null, timestamp = 0;
	const readVarint = () => {
		let v = 0, mul = 1, byte;
		do {
			if (i >= buf.length)
				throw new Error('truncated varint');
			byte = buf[i++];
			v += (byte & 127) * mul;
			mul *= 128;
		} while (byte & 128);
		return v;
	};
	while (i < buf.length) {
		const key = readVarint();
		if (key === 0x0a) {
			const n = readVarint();
			reply = buf.toString('utf8', i, i + n);
			i += n;
		} else if (key === 0x10) {
			timestamp = readVarint();
		} else {
			throw new Error(`unexpected field key ${key}`);
		}
	}
	return { reply, timestamp };
}

function message(i, size) {
	let s = `rust #${i}`;
	if (size > s.length)
		s += 'x'.repeat(size - s.length);
	return s;
}

const require = createRequire(import.meta.url);
const addon = require(opt.addon);

async function start() {
	const node = await bounded(addon.ActrNode.fromFile(writeConfig()),
		15000, 'ActrNode.fromFile');
	return bounded(node.start(), 20000, 'ActrNode.start');
}

async function stop(ref) {
	ref.shutdown();
	await bounded(ref.waitForShutdown(), 10000, 'shutdown').catch(
		(e) => console.error(`rust_peer: ${e.message}`));
}

async function serve() {
	const ref = await start();
	console.log(`ready ${idString(ref.actorId())}`);
	// the addon's threads do not keep Node's event loop alive
	const alive = setInterval(() => {}, 1000);
	await new Promise((resolve) => {
		process.on('SIGTERM', resolve);
		process.on('SIGINT', resolve);
	});
	clearInterval(alive);
	await stop(ref);
}

async function callOnce(ref, target, i, size, st) {
	const msg = message(i, size);
	const t0 = process.hrtime.bigint();
	let good = false, why = '';
	try {
		const r = await bounded(ref.call(target, opt.route, 0,
			encodeRequest(msg), Number(opt.timeout)),
			Number(opt.timeout) + 5000, 'call');
		if (opt.expectError) {
			why = 'succeeded, expected ' + opt.expectError;
		} else {
			const d = decodeResponse(r);
			good = d.reply === 'Echo: ' + msg;
			why = good ? '' : `wrong reply (${String(d.reply)
				.slice(0, 40)}..., ${d.reply?.length} bytes)`;
		}
	} catch (e) {
		const code = errCode(e);
		good = opt.expectError && code === opt.expectError;
		why = good ? '' : `failed: ${code} ${e.message.slice(0, 200)}`;
	}
	const us = Number(process.hrtime.bigint() - t0) / 1e3;
	st.calls++;
	if (good)
		st.ok++;
	else
		console.log(`call ${i} (${size || msg.length} B): ${why}`);
	return us;
}

async function call() {
	const ref = await start();
	const st = { calls: 0, ok: 0 };
	const rtt = [];
	let setup = 0;
	try {
		const t0 = process.hrtime.bigint();
		const ids = await bounded(ref.discover(parseType(opt.target),
			1), 10000, 'discover');
		if (!ids.length)
			throw new Error(`no actor of type ${opt.target}`);
		const target = ids[0];
		for (let i = 1; i <= Number(opt.n); i++) {
			const us = await callOnce(ref, target, i, 0, st);
			if (i === 1)
				setup = Number(process.hrtime.bigint() - t0) / 1e3;
			else
				rtt.push(us);
		}
		const sizes = opt.sizes ? opt.sizes.split(',').map(Number) : [];
		for (const [k, size] of sizes.entries()) {
			await callOnce(ref, target, Number(opt.n) + k + 1, size,
				st);
		}
	} catch (e) {
		console.log(`rust_peer: ${errCode(e)}: ${e.message}`);
	}
	rtt.sort((a, b) => a - b);
	const pct = (p) => rtt.length ?
		rtt[Math.ceil(rtt.length * p / 100) - 1] : 0;
	const want = Number(opt.n) + (opt.sizes ? opt.sizes.split(',').length
		: 0);
	// $ACTR_BENCH_SAMPLES=FILE: the calls after the first, us, one a
	// line (bench/peers/rust.sh draws their distribution).
	if (process.env.ACTR_BENCH_SAMPLES && rtt.length)
		writeFileSync(process.env.ACTR_BENCH_SAMPLES,
			rtt.map((x) => x.toFixed(1)).join('\n') + '\n');
	console.log(`stats calls=${st.calls} ok=${st.ok} ` +
		`setup_us=${setup.toFixed(1)} p50_us=${pct(50).toFixed(1)} ` +
		`p99_us=${pct(99).toFixed(1)}`);
	await stop(ref);
	process.exitCode = st.ok === want ? 0 : 1;
}

const watchdog = setTimeout(() => {
	console.error('rust_peer: overall time limit reached');
	process.exit(3);
}, mode === 'serve' ? 600000 : 300000);
watchdog.unref();
await (mode === 'serve' ? serve() : call());
// the addon's runtime threads may keep the process alive
process.exit(process.exitCode ?? 0);
