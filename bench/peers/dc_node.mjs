// The data-channel figures of another WebRTC stack, measured the way
// bench/datachannel.c measures this project's: two processes on one CPU
// (the caller pins them with taskset), the offerer measures.
//
//   node dc_node.mjs drive IMPL NPM_DIR ROUND_TRIPS SETUPS MIB
//   node dc_node.mjs answer IMPL NPM_DIR        (spawned by drive)
//
// IMPL: "libdatachannel" (node-datachannel's native API, {iceServers: [],
// bindAddress: '127.0.0.1'}) or "libwebrtc" (@roamhq/wrtc's W3C API; the
// caller runs it in a network namespace with only lo, since it gathers
// every interface). NPM_DIR holds node_modules (test/interop/npm-fetch.sh).
//
// Per run, as bench/datachannel.c does:
//   - setup: new peer connection, the four lanes' channels created
//     (PROTOCOL.md 7: RPC_RELIABLE, RPC_SIGNAL, STREAM_RELIABLE,
//     STREAM_LATENCY_FIRST) -> all four open on the offerer; SETUPS + 1
//     fresh connections, the first (cold: one-time library costs) apart;
//     the previous connection is closed once the next is up, then a
//     100 ms pause; a failed setup is counted and retried; signaling over
//     the answerer's stdin and stdout: libdatachannel sends its
//     description once gathering is complete (no trickle, as the C bench;
//     its gathering on 127.0.0.1 is immediate), libwebrtc trickles (see
//     wrtcAdapter);
//   - echo: ROUND_TRIPS sequential 64 B messages on RPC_RELIABLE, the
//     answerer sends each back; 200 warm-up round trips first;
//   - throughput: MIB MiB of 64 KiB messages one way on STREAM_RELIABLE
//     with bufferedAmount backpressure (high 1 MiB, low 256 KiB), then a
//     4-byte barrier the answerer answers on RPC_SIGNAL with the byte
//     count it got; time from the first send to that answer.
// Prints one JSON line: {impl, setup_cold_ms, setup_ms: [...],
// setup_failures, echo_us: [...] (sorted), mbps, bytes}. Every wait is
// bounded (10 s per setup, 5 s + 5 ms per round trip for the echo, 60 s
// for the throughput); the process exits by itself after 120 s.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const [mode, impl, npmDir, ...rest] = process.argv.slice(2);
if (!['drive', 'answer'].includes(mode) ||
    !['libdatachannel', 'libwebrtc'].includes(impl) || !npmDir) {
	console.error('usage: dc_node.mjs drive|answer libdatachannel|libwebrtc NPM_DIR [ROUND_TRIPS SETUPS MIB]');
	process.exit(2);
}
const require = createRequire(join(resolve(npmDir), 'package.json'));
const version = (pkg) => JSON.parse(readFileSync(join(resolve(npmDir),
	'node_modules', pkg, 'package.json'), 'utf8')).version;
const LANES = [
	['RPC_RELIABLE', {}],
	['RPC_SIGNAL', {}],
	['STREAM_RELIABLE', {}],
	['STREAM_LATENCY_FIRST', { ordered: false, maxRetransmits: 3 }],
];
const MSG = 64;
const BIG = 64 << 10;
const HIGH = 1 << 20;
const LOW = 256 << 10;
const WARM = 200;

setTimeout(() => {
	process.stderr.write(`dc_node ${mode}: 120 s passed, exiting\n`);
	process.exit(1);
}, 120000).unref();

// ---- one adapter per stack: the same small surface ----------------------

// A channel: {label, onOpen(cb), onMessage(cb(Buffer)), send(Buffer),
// buffered(), onLow(threshold, cb or null: stop), close()}.
// A connection: {create(label, opts) -> channel, onChannel(cb),
// signal(msg) (the remote side's sdp/cand), start() (offerer), close()}.

function ndcAdapter() {
	const ndc = require('node-datachannel');

	// $DC_NODE_LOG: libdatachannel's log level (Error by default)
	ndc.initLogger(process.env.DC_NODE_LOG || 'Error', (level, msg) =>
		process.stderr.write(`libdatachannel ${mode} ${Date.now() % 100000} ${level}: ${msg}\n`));
	const wrap = (dc) => ({
		label: dc.getLabel(),
		onOpen(cb) {
			let done = false;
			const once = () => { if (!done) { done = true; cb(); } };
			dc.onOpen(once);
			if (dc.isOpen())
				once();
		},
		onMessage(cb) {
			dc.onMessage((m) => cb(typeof m === 'string' ?
				Buffer.from(m) : m));
		},
		send(buf) { dc.sendMessageBinary(buf); },
		buffered() { return dc.bufferedAmount(); },
		onLow(n, cb) {
			dc.setBufferedAmountLowThreshold(n);
			dc.onBufferedAmountLow(cb || (() => {}));
		},
		close() { dc.close(); },
	});
	return {
		name: `libdatachannel (node-datachannel ${version('node-datachannel')})`,
		newPc(sendSig) {
			const pc = new ndc.PeerConnection('bench', {
				iceServers: [], bindAddress: '127.0.0.1',
			});
			const chans = [];
			let remoteSet = false;
			let localSent = false;

			// No trickle, as bench/datachannel.c: the description
			// goes once gathering is complete, candidates inside.
			pc.onGatheringStateChange((st) => {
				if (st !== 'complete' || localSent)
					return;
				localSent = true;
				const d = pc.localDescription();

				sendSig({ t: 'sdp', sdp: d.sdp, type: d.type });
			});
			return {
				create(label, opts) {
					const dc = pc.createDataChannel(label, {
						protocol: '',
						unordered: opts.ordered === false,
						maxRetransmits: opts.maxRetransmits,
					});
					chans.push(dc);
					return wrap(dc);
				},
				onChannel(cb) {
					pc.onDataChannel((dc) => {
						chans.push(dc);
						cb(wrap(dc));
					});
				},
				// One description per connection: a second
				// (gathering "complete" again while closing)
				// is dropped.
				signal(m) {
					if (remoteSet)
						return;
					remoteSet = true;
					pc.setRemoteDescription(m.sdp, m.type);
				},
				start() {},	// the first channel negotiates
				onFailed(cb) {
					pc.onStateChange((st) => {
						if (st === 'failed')
							cb();
					});
				},
				close() {
					for (const dc of chans)
						dc.close();
					pc.close();
				},
			};
		},
	};
}

function wrtcAdapter() {
	const wrtc = require('@roamhq/wrtc');
	const wrap = (dc) => {
		let poll;

		dc.binaryType = 'arraybuffer';
		return {
			label: dc.label,
			onOpen(cb) {
				if (dc.readyState === 'open')
					cb();
				else
					dc.onopen = () => cb();
			},
			onMessage(cb) {
				dc.onmessage = (e) => cb(Buffer.from(e.data));
			},
			// A pooled Buffer is a view: wrtc would send its
			// whole ArrayBuffer, so a view goes as a copy.
			send(buf) {
				dc.send(buf.byteOffset === 0 &&
					buf.byteLength === buf.buffer.byteLength ?
					buf : new Uint8Array(buf));
			},
			buffered() { return dc.bufferedAmount; },
			// wrtc 0.10.0 fires bufferedamountlow once at most
			// here (measured: stuck at bufferedAmount 0), so a
			// 1 ms poll stands in for it.
			onLow(n, cb) {
				clearInterval(poll);
				dc.bufferedAmountLowThreshold = n;
				dc.onbufferedamountlow = cb;
				if (cb)
					poll = setInterval(() => {
					if (dc.bufferedAmount <= n)
						cb();
				}, 1);
			},
			close() {
				clearInterval(poll);
				dc.close();
			},
		};
	};
	return {
		name: `libwebrtc (@roamhq/wrtc ${version('@roamhq/wrtc')})`,
		newPc(sendSig) {
			const pc = new wrtc.RTCPeerConnection({ iceServers: [] });
			let q = Promise.resolve();	// remote steps in order
			const chans = [];

			// Trickle ICE, as libwebrtc's users do: waiting for
			// its gathering to complete costs 100-180 ms here
			// (measured), a wait no real application makes.
			// Candidates go after the description (held until it
			// went).
			let held = [];

			const cand = (m) => {
				if (held)
					held.push(m);
				else
					sendSig(m);
			};
			pc.onicecandidate = (e) => {
				if (e.candidate && e.candidate.candidate)
					cand({ t: 'cand', cand: e.candidate.candidate,
						mid: e.candidate.sdpMid });
			};
			const local = async (desc) => {
				await pc.setLocalDescription(desc);
				sendSig({ t: 'sdp', sdp: pc.localDescription.sdp,
					type: pc.localDescription.type });
				for (const m of held)
					sendSig(m);
				held = null;
			};
			const fail = (e) => process.stderr.write(
				`libwebrtc: ${e && e.message}\n`);
			return {
				create(label, opts) {
					const dc = pc.createDataChannel(label, opts);
					chans.push(dc);
					return wrap(dc);
				},
				onChannel(cb) {
					pc.ondatachannel = (e) => {
						chans.push(e.channel);
						cb(wrap(e.channel));
					};
				},
				signal(m) {
					q = q.then(async () => {
						if (m.t === 'cand') {
							await pc.addIceCandidate({
								candidate: m.cand,
								sdpMid: m.mid });
							return;
						}
						await pc.setRemoteDescription({
							type: m.type, sdp: m.sdp });
						if (m.type === 'offer')
							await local(await pc.createAnswer());
					}).catch(fail);
				},
				onFailed(cb) {
					pc.onconnectionstatechange = () => {
						if (pc.connectionState === 'failed')
							cb();
					};
				},
				start() {
					q = q.then(async () =>
						local(await pc.createOffer())).catch(fail);
				},
				close() {
					for (const dc of chans)
						dc.close();
					pc.close();
				},
			};
		},
	};
}

const stack = impl === 'libdatachannel' ? ndcAdapter() : wrtcAdapter();

function lines(input, cb) {
	createInterface({ input, crlfDelay: Infinity }).on('line', (l) => {
		if (l.length)
			cb(JSON.parse(l));
	});
}

// ---- the answering process ---------------------------------------------

function answer() {
	const pcs = new Map();	// connection id -> connection
	let closed = -1;	// connections up to this id are gone
	const send = (m) => process.stdout.write(JSON.stringify(m) + '\n');

	lines(process.stdin, (m) => {
		if (m.t === 'quit') {
			for (const pc of pcs.values())
				pc.close();
			process.exit(0);
		}
		let pc = pcs.get(m.c);

		if (m.t === 'close') {
			if (pc)
				pc.close();
			pcs.delete(m.c);
			closed = Math.max(closed, m.c);
			return;
		}
		if (m.c <= closed)
			return;	// a closed connection's
		if (!pc) {
			pc = stack.newPc((s) => send({ c: m.c, ...s }));
			pcs.set(m.c, pc);
			const byLabel = {};
			let rx = 0;

			pc.onChannel((ch) => {
				byLabel[ch.label] = ch;
				ch.onMessage((buf) => {
					if (ch.label === 'RPC_RELIABLE') {
						ch.send(buf);
					} else if (ch.label === 'STREAM_RELIABLE' &&
						   buf.length !== 4) {
						rx += buf.length;
					} else if (ch.label === 'STREAM_RELIABLE') {
						const r = Buffer.alloc(8);

						r.writeBigUInt64LE(BigInt(rx));
						rx = 0;
						byLabel.RPC_SIGNAL.send(r);
					}
				});
			});
		}
		try {
			pc.signal(m);
		} catch (e) {
			process.stderr.write(`dc_node answer: ${e.message}\n`);
		}
	});
	process.stdin.on('end', () => process.exit(0));
	send({ t: 'ready' });	// loaded: setups do not include Node's start
}

// ---- the offering process (measures) -----------------------------------

function withTimeout(p, ms, what) {
	let t;

	return Promise.race([p, new Promise((_, rej) => {
		t = setTimeout(() => rej(new Error(`${what}: no result in ${ms} ms`)), ms);
	})]).finally(() => clearTimeout(t));
}

async function drive(roundTrips, setups, mib) {
	const child = spawn(process.execPath,
		[fileURLToPath(import.meta.url), 'answer', impl, npmDir],
		{ stdio: ['pipe', 'pipe', 'inherit'] });
	const pcs = new Map();
	const now = () => Number(process.hrtime.bigint()) / 1e3;	// us
	let conn = null;

	child.on('exit', (code) => {
		if (code)
			process.stderr.write(`dc_node answer exited with ${code}\n`);
	});
	let ready;
	const loaded = new Promise((r) => { ready = r; });

	lines(child.stdout, (m) => {
		const pc = pcs.get(m.c);

		if (m.t === 'ready')
			ready();
		else if (pc)
			try {
				pc.signal(m);
			} catch (e) {
				process.stderr.write(`dc_node drive: ${e.message}\n`);
			}
	});
	await withTimeout(loaded, 10000, 'answerer start');

	// One fresh connection: resolves with its channels once all are open.
	async function connect(id) {
		const t0 = now();
		const pc = stack.newPc((s) =>
			child.stdin.write(JSON.stringify({ c: id, ...s }) + '\n'));
		pcs.set(id, pc);
		const chans = {};
		const opened = LANES.map(([label, opts]) => {
			const ch = pc.create(label, opts);

			chans[label] = ch;
			return new Promise((res) => ch.onOpen(res));
		});
		const failed = new Promise((res) => pc.onFailed(() => res(true)));

		let bad;

		pc.start();
		try {
			bad = await withTimeout(Promise.race([
				Promise.all(opened), failed]), 10000, 'setup');
		} catch (e) {
			process.stderr.write(`dc_node drive: connection ${id}: ${e.message}\n`);
			bad = true;	// stuck: counted as failed too
		}
		return { id, pc, chans, ms: (now() - t0) / 1e3, bad: bad === true };
	}

	// A connection that fails (or is not up in 10 s) is counted, closed
	// and replaced (at most SETUPS + 1 times in a run): libdatachannel on loopback sometimes
	// fails its DTLS handshake ("unknown CA", the answerer's ClientHello
	// racing the offerer's remote description), a real outcome of the
	// stack that the figures should show rather than hide.
	const res = { impl: stack.name, setup_ms: [], setup_failures: 0 };
	let id = 0;
	for (let i = -1; i < setups; i++) {
		const prev = conn;

		for (;;) {
			conn = await connect(id++);
			if (!conn.bad)
				break;
			conn.pc.close();
			pcs.delete(id - 1);
			child.stdin.write(JSON.stringify({ t: 'close', c: id - 1 }) + '\n');
			if (++res.setup_failures > setups + 1)
				throw new Error(`${res.setup_failures} setups failed`);
			await new Promise((r) => setTimeout(r, 100));
		}
		if (i < 0)
			res.setup_cold_ms = conn.ms;
		else
			res.setup_ms.push(conn.ms);
		// The previous connection goes once the next is up (as
		// bench/datachannel.c), on both sides, then a pause so that
		// its teardown does not overlap the next setup.
		if (prev) {
			prev.pc.close();
			pcs.delete(prev.id);
			child.stdin.write(JSON.stringify({ t: 'close', c: prev.id }) + '\n');
			await new Promise((r) => setTimeout(r, 100));
		}
	}

	// Echo: one message in flight, callback chain (no promise per trip).
	const echo = conn.chans.RPC_RELIABLE;
	const rtt = new Float64Array(roundTrips);
	await withTimeout(new Promise((resolveEcho) => {
		const m = Buffer.alloc(MSG, 'e');
		let i = 0;
		let t0 = 0;

		echo.onMessage(() => {
			const dt = now() - t0;

			if (i >= WARM)
				rtt[i - WARM] = dt;
			if (++i === roundTrips + WARM) {
				resolveEcho();
				return;
			}
			t0 = now();
			echo.send(m);
		});
		t0 = now();
		echo.send(m);
	}), 5000 + roundTrips * 5, 'echo');
	res.echo_us = Array.from(rtt).sort((a, b) => a - b);

	// Throughput with backpressure, then the barrier.
	const data = conn.chans.STREAM_RELIABLE;
	const sig = conn.chans.RPC_SIGNAL;
	const total = mib * (1 << 20);
	const big = Buffer.alloc(BIG, 't');
	let sent = 0;
	const t0 = now();
	const got = await withTimeout(new Promise((resolveTp) => {
		sig.onMessage((buf) => resolveTp(Number(buf.readBigUInt64LE(0))));
		const pump = () => {
			while (sent < total && data.buffered() < HIGH) {
				data.send(big);
				sent += BIG;
			}
			if (sent >= total) {
				data.onLow(LOW, null);
				data.send(Buffer.from('done'));
			}
		};
		data.onLow(LOW, pump);
		pump();
	}), 60000, 'throughput');
	const dt = (now() - t0) / 1e6;
	if (got !== sent)
		throw new Error(`throughput: sent ${sent}, the answerer got ${got}`);
	res.bytes = sent;
	res.mbps = sent / dt / 1e6;

	conn.pc.close();
	child.stdin.write(JSON.stringify({ t: 'quit' }) + '\n');
	await withTimeout(new Promise((r) => child.on('exit', r)), 5000,
		'answerer exit').catch(() => child.kill('SIGKILL'));
	// (no ndc.cleanup() here: node-datachannel 0.33.4 asserts in it
	// while a closed connection's callbacks are still referenced)
	process.stdout.write(JSON.stringify(res) + '\n');
	process.exit(0);
}

if (mode === 'answer') {
	answer();
} else {
	const [n, s, mib] = rest.map(Number);

	drive(n || 5000, s || 10, mib || 64).catch((e) => {
		process.stderr.write(`dc_node drive (${impl}): ${e.message}\n`);
		process.exit(1);
	});
}
