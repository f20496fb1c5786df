// The echo demo page: calls the C echo actor, draws a latency histogram
// and serves echo.EchoService.Echo itself, so that
//   examples/echo_actor/client --type acme:web:1.0.0
// calls this page. No framework, no build step.
//
// The page carries no secret. It registers in a realm configured without
// one (a public demo realm, `make demo-web` uses 102); an application
// whose realm has a secret hands the page a credential from its backend
// instead (ActrClient option `credential`, see README "From a browser").
//
// Query parameters: realm (102), type (acme:web:1.0.0), target
// (acme:echo:1.0.0), signal (this page's origin), autostart (1),
// credential (the URL of a backend that answers POST with a
// RegisterResponse, as web/demo/backend.mjs: then the realm may have a
// secret, which only the backend knows).
import { ActrClient } from '../actr.js';

const q = new URLSearchParams(location.search);
const cfg = {
	realm: Number(q.get('realm') ?? 102),
	type: q.get('type') ?? 'acme:web:1.0.0',
	target: q.get('target') ?? 'acme:echo:1.0.0',
	signal: q.get('signal') ?? location.origin,
	autostart: q.get('autostart') !== '0',
	credential: q.get('credential'),
};

// Asked again by the module whenever it needs a fresh registration.
async function fetchCredential() {
	const r = await fetch(cfg.credential, { method: 'POST' });
	if (!r.ok)
		throw new Error(`credential backend: HTTP ${r.status}`);
	return new Uint8Array(await r.arrayBuffer());
}
const ROUTE = 'echo.EchoService.Echo';
const $ = (id) => document.getElementById(id);

// ---- the two echo messages (one string field each; proto3) -------------

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

function varint(n, out) {
	while (n > 0x7f) {
		out.push((n & 0x7f) | 0x80);
		n = Math.floor(n / 128);
	}
	out.push(n);
}

// field 1 (a string), and for EchoResponse field 2 (uint64 timestamp)
function encodeEcho(text, timestamp) {
	const s = utf8.encode(text);
	const head = [0x0a];
	varint(s.length, head);
	const tail = [];
	if (timestamp !== undefined) {
		tail.push(0x10);
		varint(timestamp, tail);
	}
	const out = new Uint8Array(head.length + s.length + tail.length);
	out.set(head, 0);
	out.set(s, head.length);
	out.set(tail, head.length + s.length);
	return out;
}

// The string of field 1; other fields skipped. Throws on bad input.
function decodeEcho(b) {
	let i = 0;
	let text = '';
	const rd = () => {
		let v = 0, mul = 1, x;
		do {
			if (i >= b.length)
				throw new Error('truncated varint');
			x = b[i++];
			v += (x & 0x7f) * mul;
			mul *= 128;
		} while (x & 0x80);
		return v;
	};
	while (i < b.length) {
		const key = rd();
		const wt = key & 7;
		if (wt === 0) {
			rd();
		} else if (wt === 2) {
			const n = rd();
			if (i + n > b.length)
				throw new Error('truncated field');
			if (key >> 3 === 1)
				text = fromUtf8.decode(b.subarray(i, i + n));
			i += n;
		} else if (wt === 1) {
			i += 8;
		} else if (wt === 5) {
			i += 4;
		} else {
			throw new Error(`wire type ${wt}`);
		}
	}
	return text;
}

// ---- log, stats, histogram ----------------------------------------------

const stats = { rtt: [], served: 0, errors: 0 };

function log(text, err) {
	const el = $('log');
	const line = document.createElement('div');
	line.textContent = `${new Date().toISOString().slice(11, 23)} ${text}`;
	if (err)
		line.className = 'err';
	el.append(line);
	while (el.childElementCount > 200)
		el.firstElementChild.remove();
	el.scrollTop = el.scrollHeight;
}

function pct(sorted, p) {
	return sorted[Math.min(sorted.length - 1,
			       Math.floor(sorted.length * p))];
}

const fmt = (ms) => (ms < 1 ? `${(ms * 1000).toFixed(0)} us`
			     : `${ms.toFixed(2)} ms`);

// Log-spaced buckets from 50 us to 1 s, four per decade-and-a-bit.
const EDGES = [];
for (let e = 0.05; e < 1000; e *= 1.5)
	EDGES.push(e);

let drawPending = false;
function draw() {
	if (drawPending)
		return;
	drawPending = true;
	requestAnimationFrame(() => {
		drawPending = false;
		drawNow();
	});
}

function drawNow() {
	const c = $('hist');
	const g = c.getContext('2d');
	const W = c.width, H = c.height, left = 40, bottom = 30;
	const counts = new Array(EDGES.length).fill(0);
	for (const v of stats.rtt) {
		let k = EDGES.findIndex((e) => v < e);
		if (k < 0)
			k = EDGES.length - 1;
		counts[Math.max(0, k - 1)]++;
	}
	const max = Math.max(1, ...counts);
	g.clearRect(0, 0, W, H);
	g.font = '11px sans-serif';
	g.fillStyle = '#666';
	g.strokeStyle = '#ccc';
	g.beginPath();
	g.moveTo(left, 5);
	g.lineTo(left, H - bottom);
	g.lineTo(W - 5, H - bottom);
	g.stroke();
	g.fillText(String(max), 4, 14);
	g.fillText('0', 4, H - bottom);
	const bw = (W - left - 10) / EDGES.length;
	for (let k = 0; k < EDGES.length; k++) {
		const h = (counts[k] / max) * (H - bottom - 12);
		g.fillStyle = '#3a7bd5';
		g.fillRect(left + 2 + k * bw, H - bottom - h, bw - 3, h);
		if (k % 3 === 0 && k < EDGES.length - 2) {
			g.fillStyle = '#666';
			g.fillText(fmt(EDGES[k]), left + k * bw, H - bottom + 14);
		}
	}
	g.fillStyle = '#444';
	g.fillText('round trip (log scale)', W - 140, H - 4);
	const s = [...stats.rtt].sort((a, b) => a - b);
	$('stats').innerHTML = '';
	const kv = [['calls', String(s.length)], ['errors', String(stats.errors)]];
	if (s.length)
		kv.push(['p50', fmt(pct(s, 0.5))], ['p99', fmt(pct(s, 0.99))],
			['min', fmt(s[0])], ['max', fmt(s[s.length - 1])]);
	if (stats.setupMs !== undefined)
		kv.push(['first call (setup)', fmt(stats.setupMs)]);
	for (const [k, v] of kv) {
		const span = document.createElement('span');
		span.textContent = `${k}: ${v}`;
		$('stats').append(span);
	}
}

// ---- the actor ----------------------------------------------------------

const client = new ActrClient({
	signalUrl: cfg.signal,
	realm: cfg.realm,
	type: cfg.type,
	iceServers: [],
	...(cfg.credential ? { credential: fetchCredential } : {}),
	onState: (s) => {
		window.demo?.states.push(s);
		$('state').textContent = s;
		$('state').className = s;
		log(`state: ${s}`, s === 'failed');
	},
});

client.serve(ROUTE, async (bytes, ctx) => {
	const text = decodeEcho(bytes);
	stats.served++;
	$('served').textContent = String(stats.served);
	if (stats.served <= 5 || stats.served % 100 === 0)
		log(`served #${stats.served}: "${text.slice(0, 60)}"` +
		    (ctx?.callerId ? ` from ${ctx.callerId}` : ''));
	return encodeEcho(`Echo: ${text}`, Date.now());
});

let first = true;
async function echo(text) {
	const t0 = performance.now();
	try {
		const reply = decodeEcho(await client.call(cfg.target, ROUTE,
			encodeEcho(text), { timeoutMs: 10000 }));
		const ms = performance.now() - t0;
		if (first) {
			stats.setupMs = ms;
			first = false;
		} else {
			stats.rtt.push(ms);
		}
		if (reply !== `Echo: ${text}`)
			throw new Error(`unexpected reply "${reply.slice(0, 60)}"`);
		draw();
		return { reply, ms };
	} catch (e) {
		stats.errors++;
		draw();
		throw e;
	}
}

async function sendOne() {
	try {
		const { reply, ms } = await echo($('msg').value);
		$('last').textContent = `${reply} (${fmt(ms)})`;
		log(`reply: "${reply.slice(0, 80)}" in ${fmt(ms)}`);
	} catch (e) {
		log(`call failed: ${e.name ?? 'Error'} ${e.code ?? ''} ` +
		    `${e.message}`, true);
	}
}

async function burst(n) {
	let ok = 0;
	for (let i = 0; i < n; i++) {
		try {
			await echo(`burst #${i}`);
			ok++;
		} catch (e) {
			log(`call ${i} failed: ${e.code ?? ''} ${e.message}`, true);
			break;
		}
	}
	log(`${ok}/${n} calls answered`);
	return ok;
}

async function start() {
	$('mytype').textContent = cfg.type;
	$('target').textContent = cfg.target;
	$('howto').textContent = `examples/echo_actor/client --signal ` +
		`${cfg.signal.replace(/^http/, 'ws')} --realm ${cfg.realm} ` +
		`--type ${cfg.type}`;
	draw();
	log(`registering with ${cfg.signal} in realm ${cfg.realm} as ` +
	    `${cfg.type}` + (cfg.credential ? ` (credential from ` +
	    `${cfg.credential})` : ''));
	try {
		await client.start();
		$('myid').textContent = client.actrId ?? 'registered';
		window.demo.ready = true;
		await sendOne();
	} catch (e) {
		window.demo.error = `${e.code ?? ''} ${e.message}`;
		log(`start failed: ${e.name ?? 'Error'} ${e.code ?? ''} ` +
		    `${e.message}`, true);
	}
}

$('send').onclick = sendOne;
$('burst').onclick = () => burst(200);
$('msg').onkeydown = (e) => {
	if (e.key === 'Enter')
		sendOne();
};

// for the browser tests (test/browser/) and the console
window.demo = { client, stats, echo, burst, encodeEcho, decodeEcho,
	ready: false, error: null, start, states: [] };
if (cfg.autostart)
	start();
