// node:test tests of ActrClient's registration and signaling handling
// with a fake fetch and WebSocket (no network, no WebRTC): what goes on
// the wire, how server answers and bad input from the server or a peer
// are handled. The real thing is in test/interop/web.sh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ActrClient, ActrError, Code, Long64 } from '../actr.js';
import { T } from '../wire.js';

const ID = { realm: { realmId: 101 }, serialNumber: Long64.fromBigInt(
	0x3ffffffffffff1n), type: { manufacturer: 'acme', name: 'web',
	version: '1.0.0' } };
const PEER = { realm: { realmId: 101 }, serialNumber: Long64.fromNumber(
	0x1234, true), type: { manufacturer: 'acme', name: 'echo',
	version: '1.0.0' } };

function registerOk() {
	const claims = T.IdentityClaims.encode({ realmId: 101,
		actorId: '3ffffffffffff1@101/acme:web:1.0.0',
		expiresAt: Long64.fromNumber(Date.now() / 1000 + 3600, true) })
		.finish();
	return T.RegisterResponse.encode({ success: {
		actrId: ID,
		credential: { keyId: 3, claims,
			signature: new Uint8Array(64).fill(1) },
		turnCredential: { username: 'u', password: 'p',
			expiresAt: Long64.fromNumber(0, true) },
		signalingHeartbeatIntervalSecs: 30,
		signingPubkey: new Uint8Array(32), signingKeyId: 3 } }).finish();
}

class FakeWS {
	static last = null;
	constructor(url) {
		this.url = url;
		this.sent = [];
		this.readyState = 0;
		FakeWS.last = this;
		setTimeout(() => {
			this.readyState = 1;
			this.onopen?.();
		}, 0);
	}
	send(b) {
		this.sent.push(T.SignalingEnvelope.decode(b));
	}
	close() {
		this.readyState = 3;
	}
	deliver(env) {
		this.onmessage({ data: new Uint8Array(T.SignalingEnvelope.encode({
			envelopeVersion: 2, envelopeId: 'srv', ...env })
			.finish()).buffer });
	}
}

function client(fetchImpl, extra = {}) {
	const logs = [];
	const c = new ActrClient({ signalUrl: 'http://sig.test:8081/',
		realm: 101, type: 'acme:web:1.0.0', realmSecret: 's3',
		WebSocket: FakeWS, fetch: fetchImpl,
		RTCPeerConnection: class {},
		log: (lvl, s) => logs.push(`${lvl} ${s}`), ...extra });
	c.logs = logs;
	return c;
}

const okFetch = (seen) => async (url, init) => {
	seen?.push({ url, init });
	return { status: 200, arrayBuffer: async () => registerOk() };
};

test('registration request, WebSocket URL with the credential', async () => {
	const seen = [];
	const c = client(okFetch(seen));
	await c.start();
	assert.equal(seen[0].url, 'http://sig.test:8081/ais/register');
	assert.equal(seen[0].init.headers['x-actrix-realm-secret'], 's3');
	assert.equal(seen[0].init.headers['content-type'],
		'application/x-protobuf');
	const rq = T.RegisterRequest.decode(seen[0].init.body);
	assert.equal(rq.authMode, 2);
	assert.equal(rq.realm.realmId, 101);
	assert.equal(rq.actrType.name, 'web');
	const u = new URL(FakeWS.last.url);
	assert.equal(u.protocol, 'ws:');
	assert.equal(u.pathname, '/signaling/ws');
	assert.equal(u.searchParams.get('actor_id'),
		'3ffffffffffff1@101/acme:web:1.0.0');
	assert.equal(u.searchParams.get('key_id'), '3');
	assert.equal(u.searchParams.get('signature'),
		Buffer.alloc(64, 1).toString('base64'));
	assert.equal(c.state, 'connected');
	assert.equal(c.actrId, '3ffffffffffff1@101/acme:web:1.0.0');
	await c.close();
	assert.equal(c.state, 'closed');
	// close unregisters
	assert.ok(FakeWS.last.sent.some((e) =>
		e.actrToServer?.unregisterRequest));
});

test('a refused registration: EAUTH, state failed', async () => {
	const states = [];
	const c = client(async () => ({ status: 401, arrayBuffer: async () =>
		T.RegisterResponse.encode({ error: { code: 401,
			message: 'realm secret mismatch' } }).finish() }),
	{ onState: (s) => states.push(s) });
	await assert.rejects(c.start(), (e) => e instanceof ActrError &&
		e.code === Code.EAUTH && e.codeName === 'EAUTH' &&
		/realm secret mismatch/.test(e.message));
	assert.deepEqual(states, ['registering', 'failed']);
});

test('a body that is not a RegisterResponse: EPROTO', async () => {
	const c = client(async () => ({ status: 502,
		arrayBuffer: async () => new TextEncoder().encode('<html>') }));
	await assert.rejects(c.start(), (e) => e.code === Code.EPROTO);
});

test('an unreachable server: EUNAVAILABLE', async () => {
	const c = client(async () => {
		throw new TypeError('fetch failed');
	});
	await assert.rejects(c.start(), (e) => e.code === Code.EUNAVAILABLE);
});

test('discover: request on the wire, reply by reply_for', async () => {
	const c = client(okFetch());
	await c.start();
	const ws = FakeWS.last;
	const p = c.discover('acme:echo:1.0.0', { limit: 4 });
	const rq = ws.sent.at(-1);
	const a2s = rq.actrToServer;
	assert.equal(a2s.routeCandidatesRequest.targetType.name, 'echo');
	assert.equal(a2s.routeCandidatesRequest.criteria.candidateCount, 4);
	assert.equal(a2s.credential.keyId, 3);
	assert.equal(Long64.fromValue(a2s.source.serialNumber).toBigInt(),
		0x3ffffffffffff1n);
	ws.deliver({ replyFor: rq.envelopeId, serverToActr: { target: ID,
		routeCandidatesResponse: { success: {
			candidates: [PEER], wsAddressMap: [] } } } });
	const ids = await p;
	assert.equal(ids.length, 1);
	assert.equal(ids[0].type.name, 'echo');
	// a server error answering a request: the mapped code
	const q = c.discover('acme:echo:1.0.0');
	ws.deliver({ replyFor: ws.sent.at(-1).envelopeId,
		envelopeError: { code: 429, message: 'slow down' } });
	await assert.rejects(q, (e) => e.code === Code.EAGAIN);
	const r = c.discover('acme:echo:1.0.0');
	ws.deliver({ replyFor: ws.sent.at(-1).envelopeId, serverToActr: {
		target: ID, error: { code: 403, message: 'denied' } } });
	await assert.rejects(r, (e) => e.code === Code.EPERM);
	await c.close();
});

test('bad input from the server or a peer is counted, not thrown',
	async () => {
		const c = client(okFetch());
		await c.start();
		const ws = FakeWS.last;
		ws.onmessage({ data: 'a text frame' });		// ignored
		ws.onmessage({ data: Uint8Array.of(0xff, 0xff, 0xff).buffer });
		assert.equal(c.stats.badInput, 1);
		// a candidate for no session: dropped quietly
		ws.deliver({ actrRelay: { source: PEER, target: ID,
			credential: { keyId: 0, claims: new Uint8Array(0),
				signature: new Uint8Array(0) },
			iceCandidate: { candidate: 'candidate:1 1 UDP 1 1.2.3.4 5 typ host',
				usernameFragment: 'x' } } });
		// a description without sdp_exchange_id
		ws.deliver({ actrRelay: { source: PEER, target: ID,
			credential: { keyId: 0, claims: new Uint8Array(0),
				signature: new Uint8Array(0) },
			sessionDescription: { type: 0, sdp: 'v=0\r\n' } } });
		await new Promise((r) => setTimeout(r, 10));
		assert.equal(c.stats.badInput, 2);
		assert.equal(c.conns.size, 0);
		assert.ok(c.logs.some((l) => /sdp_exchange_id/.test(l)));
		// a stray response: no crash, no pending call touched
		assert.equal(c.calls.size, 0);
		await c.close();
	});

test('a signaling request without an answer times out (ETIMEDOUT)',
	async (t) => {
		const c = client(okFetch());
		await c.start();
		t.mock.timers.enable({ apis: ['setTimeout'] });
		const p = c.discover('acme:echo:1.0.0');
		t.mock.timers.tick(5001);
		await assert.rejects(p, (e) => e.code === Code.ETIMEDOUT);
		// the real timers armed before the mock are cleared by the
		// real clearTimeout
		t.mock.timers.reset();
		await c.close();
	});

test('call arguments are checked before anything is sent', async () => {
	const c = client(okFetch());
	await c.start();
	await assert.rejects(c.call('not-a-type', 'a.B.C', new Uint8Array(1)),
		(e) => e.code === Code.EINVALARG);
	await assert.rejects(c.call('acme:echo:1.0.0', 'a.B.C', 42),
		(e) => e.code === Code.EINVALARG);
	await c.close();
	await assert.rejects(c.call('acme:echo:1.0.0', 'a.B.C', 'x'),
		(e) => e.code === Code.ECLOSED);
});

// A scripted RTCPeerConnection: records what the client does with it.
class FakePC {
	static last = null;
	constructor(cfg) {
		this.cfg = cfg;
		this.calls = [];
		this.cands = [];
		this.channels = [];
		this.signalingState = 'stable';
		this.iceConnectionState = 'new';
		this.connectionState = 'new';
		this.localDescription = null;
		this.gen = 0;
		FakePC.last = this;
	}
	sdp(kind) {
		return `v=0\r\na=ice-ufrag:${kind}${this.gen}\r\n`;
	}
	createDataChannel(label, init) {
		const dc = { label, init, readyState: 'connecting',
			sent: [], send(b) { this.sent.push(b); }, close() {} };
		this.channels.push(dc);
		return dc;
	}
	async createOffer(o) {
		if (o?.iceRestart)
			this.gen++;
		return { type: 'offer', sdp: this.sdp('off') };
	}
	async createAnswer() {
		return { type: 'answer', sdp: this.sdp('ans') };
	}
	async setLocalDescription(d) {
		this.calls.push(['local', d.type]);
		this.localDescription = d;
	}
	async setRemoteDescription(d) {
		this.calls.push(['remote', d.type, d.sdp]);
		if (d.type === 'offer')
			this.gen++;
	}
	async addIceCandidate(c) {
		this.cands.push(c.candidate);
	}
	close() {
		this.calls.push(['close']);
	}
}

const CRED = { keyId: 0, claims: new Uint8Array(0),
	signature: new Uint8Array(0) };
const tick = () => new Promise((r) => setTimeout(r, 5));

test('answerer: offer/answer with the exchange id, candidates by ufrag, ' +
	'ICE restart answered in place', async () => {
	const c = client(okFetch(), { RTCPeerConnection: FakePC });
	await c.start();
	const ws = FakeWS.last;
	const relay = (payload) => ws.deliver({ actrRelay: { source: PEER,
		target: ID, credential: CRED, ...payload } });
	const sentSdp = () => ws.sent.filter((e) =>
		e.actrRelay?.sessionDescription).map((e) =>
		e.actrRelay.sessionDescription);
	relay({ roleAssignment: { isOfferer: false } });
	const pc = FakePC.last;
	assert.ok(pc);
	assert.equal(pc.channels.length, 0);	// the offerer opens them
	// a candidate before the offer is held, then applied
	relay({ iceCandidate: { candidate: 'candidate:early', sdpMid: '0',
		sdpMlineIndex: 0, usernameFragment: 'remote1' } });
	relay({ sessionDescription: { type: 0,
		sdp: 'v=0\r\na=ice-ufrag:remote1\r\n', sdpExchangeId: 'x-1' } });
	await tick();
	let answers = sentSdp();
	assert.equal(answers.length, 1);
	assert.equal(answers[0].type, 1);		// ANSWER
	assert.equal(answers[0].sdpExchangeId, 'x-1');
	assert.deepEqual(pc.cands, ['candidate:early']);
	// our candidates carry our ufrag, no end-of-candidates
	pc.onicecandidate({ candidate: { candidate: 'candidate:mine',
		sdpMid: '0', sdpMLineIndex: 0 } });
	pc.onicecandidate({ candidate: null });
	const mine = ws.sent.filter((e) => e.actrRelay?.iceCandidate)
		.map((e) => e.actrRelay.iceCandidate);
	assert.equal(mine.length, 1);
	assert.equal(mine[0].usernameFragment, 'ans1');
	assert.equal(mine[0].sdpMid, '0');
	// the channels arrive and open
	const dc = { label: 'RPC_RELIABLE', readyState: 'open', sent: [],
		send(b) { this.sent.push(b); }, close() {} };
	pc.ondatachannel({ channel: dc });
	pc.ondatachannel({ channel: { label: 'EXTRA', readyState: 'open' } });
	const conn = c.conns.get('1234@101/acme:echo:1.0.0');
	assert.ok(conn.open);
	// ICE restart offer on the open connection: answered in place
	relay({ sessionDescription: { type: 3,
		sdp: 'v=0\r\na=ice-ufrag:remote2\r\n', sdpExchangeId: 'x-2' } });
	await tick();
	answers = sentSdp();
	assert.equal(answers.length, 2);
	assert.equal(answers[1].sdpExchangeId, 'x-2');
	assert.equal(c.conns.get(conn.key), conn);	// not replaced
	assert.ok(!pc.calls.some(([k]) => k === 'close'));
	assert.equal(c.stats.iceRestarts, 1);
	// candidates: old generation and no ufrag dropped, new one added
	relay({ iceCandidate: { candidate: 'candidate:old', sdpMid: '0',
		sdpMlineIndex: 0, usernameFragment: 'remote1' } });
	relay({ iceCandidate: { candidate: 'candidate:noufrag', sdpMid: '0',
		sdpMlineIndex: 0 } });
	relay({ iceCandidate: { candidate: 'candidate:new', sdpMid: '0',
		sdpMlineIndex: 0, usernameFragment: 'remote2' } });
	await tick();
	assert.deepEqual(pc.cands, ['candidate:early', 'candidate:new']);
	assert.equal(c.stats.badInput, 1);
	// a garbled DataChannel message is counted, not thrown
	dc.onmessage({ data: Uint8Array.of(1, 2, 3).buffer });
	assert.equal(c.stats.badInput, 2);
	await c.close();
	assert.ok(pc.calls.some(([k]) => k === 'close'));
});

test('offerer: four channels with their options, stale answer ignored, ' +
	'restart on request', async () => {
	const c = client(okFetch(), { RTCPeerConnection: FakePC });
	await c.start();
	const ws = FakeWS.last;
	const relay = (payload) => ws.deliver({ actrRelay: { source: PEER,
		target: ID, credential: CRED, ...payload } });
	const sentSdp = () => ws.sent.filter((e) =>
		e.actrRelay?.sessionDescription).map((e) =>
		e.actrRelay.sessionDescription);
	relay({ roleAssignment: { isOfferer: true } });
	const pc = FakePC.last;
	assert.deepEqual(pc.channels.map((d) => [d.label, d.init.ordered,
		d.init.maxRetransmits, d.init.protocol]), [
		['RPC_RELIABLE', true, undefined, ''],
		['RPC_SIGNAL', true, undefined, ''],
		['STREAM_RELIABLE', true, undefined, ''],
		['STREAM_LATENCY_FIRST', false, 3, '']]);
	await tick();
	const offer = sentSdp()[0];
	assert.equal(offer.type, 0);
	assert.match(offer.sdpExchangeId, /^[0-9a-f-]{36}$/);
	relay({ sessionDescription: { type: 1, sdp: 'v=0\r\n',
		sdpExchangeId: 'not-ours' } });
	await tick();
	assert.ok(!pc.calls.some(([k]) => k === 'remote'));	// stale
	relay({ sessionDescription: { type: 1,
		sdp: 'v=0\r\na=ice-ufrag:r1\r\n',
		sdpExchangeId: offer.sdpExchangeId } });
	await tick();
	assert.equal(pc.calls.filter(([k]) => k === 'remote').length, 1);
	pc.channels[0].readyState = 'open';
	pc.channels[0].onopen();
	relay({ iceRestartRequest: { reason: 'ICE path lost' } });
	await tick();
	const restart = sentSdp()[1];
	assert.equal(restart.type, 3);		// ICE_RESTART_OFFER
	assert.notEqual(restart.sdpExchangeId, offer.sdpExchangeId);
	relay({ sessionDescription: { type: 1,
		sdp: 'v=0\r\na=ice-ufrag:r2\r\n',
		sdpExchangeId: restart.sdpExchangeId } });
	await tick();
	assert.equal(pc.calls.filter(([k]) => k === 'remote').length, 2);
	const conn = c.conns.get('1234@101/acme:echo:1.0.0');
	assert.ok(conn.open && !conn.restarting);
	assert.equal(conn.remoteUfrag, 'r2');
	await c.close();
});

test('serving: replies, error codes, a repeated request answered from ' +
	'the cache', async () => {
	const { fragment, decodeRpc, encodeRpc, Direction } =
		await import('../wire.js');
	const c = client(okFetch(), { RTCPeerConnection: FakePC });
	let calls = 0;
	c.serve('t.S.Echo', (bytes, ctx) => {
		calls++;
		assert.equal(ctx.callerId, '1234@101/acme:echo:1.0.0');
		return bytes;
	});
	c.serve('t.S.Bad', () => {
		throw new ActrError(Code.EINVALARG, 'no such thing');
	});
	c.serve('t.S.Boom', () => {
		throw new Error('boom');
	});
	await c.start();
	FakeWS.last.deliver({ actrRelay: { source: PEER, target: ID,
		credential: CRED, roleAssignment: { isOfferer: false } } });
	const dc = { label: 'RPC_RELIABLE', readyState: 'open', sent: [],
		send(b) { this.sent.push(b); }, close() {} };
	FakePC.last.ondatachannel({ channel: dc });
	let id = 0;
	const req = (route, rid, dir = Direction.REQUEST) =>
		dc.onmessage({ data: fragment(encodeRpc({ routeKey: route,
			payload: Uint8Array.of(1, 2, 3), direction: dir,
			requestId: rid, timeoutMs: dir === Direction.REQUEST
				? 1000 : 0 }), id++)[0] });
	req('t.S.Echo', 'r1');
	await tick();
	req('t.S.Echo', 'r1');		// a repeat: from the cache
	req('t.S.Nope', 'r2');
	req('t.S.Bad', 'r3');
	req('t.S.Boom', 'r4');
	req('t.S.Echo', 't1', Direction.TELL);	// no reply
	await tick();
	const out = dc.sent.map((f) => decodeRpc(f.subarray(8)));
	assert.equal(calls, 2);		// r1 once, t1 once
	assert.deepEqual(out.map((e) => [e.requestId, e.direction,
		e.error?.code ?? 0]), [
		['r1', Direction.RESPONSE, 0], ['r1', Direction.RESPONSE, 0],
		['r2', Direction.RESPONSE, Code.EUNKNOWNROUTE],
		['r3', Direction.RESPONSE, Code.EINVALARG],
		['r4', Direction.RESPONSE, Code.EINTERNAL]]);
	assert.deepEqual([...out[1].payload], [1, 2, 3]);
	assert.equal(out[4].error.message, 'boom');
	assert.ok(out.every((e) => e.timeoutMs === 0));
	// our own msg_ids count from 0 on the lane
	assert.deepEqual(dc.sent.map((f) => new DataView(f.buffer,
		f.byteOffset).getUint32(0)), [0, 1, 2, 3, 4]);
	await c.close();
});

test('a backend credential function is called again at renewal time',
	async (t) => {
		let n = 0;
		const short = () => {
			n++;
			const claims = T.IdentityClaims.encode({ realmId: 101,
				actorId: 'x', expiresAt: Long64.fromNumber(
					Math.floor(Date.now() / 1000) + 2, true) })
				.finish();
			const ok = T.RegisterResponse.decode(registerOk());
			ok.success.credential.claims = claims;
			return T.RegisterResponse.encode(ok).finish();
		};
		const c = client(async () => {
			throw new Error('no fetch with a credential');
		}, { credential: short, realmSecret: undefined });
		await c.start();
		assert.equal(n, 1);
		const until = Date.now() + 5000;
		while (c.stats.renewals < 1 && Date.now() < until)
			await new Promise((r) => setTimeout(r, 50));
		assert.ok(n >= 2 && c.stats.renewals >= 1);
		assert.equal(c.state, 'connected');	// same ActrId: same session
		assert.equal(c.stats.registrations, 1);
		await c.close();
	});

test('a WebSocket upgrade nobody answers: start() rejects ETIMEDOUT',
	async (t) => {
		class SilentWS {
			constructor() {
				this.readyState = 0;
			}
			close() {
				this.closed = true;
			}
		}
		t.mock.timers.enable({ apis: ['setTimeout'] });
		const c = client(okFetch(), { WebSocket: SilentWS });
		const p = c.start();
		for (let i = 0; i < 20 && c.state !== 'connecting'; i++)
			await Promise.resolve();
		assert.equal(c.state, 'connecting');
		t.mock.timers.tick(10001);
		await assert.rejects(p, (e) => e.code === Code.ETIMEDOUT);
		assert.equal(c.state, 'failed');
		t.mock.timers.reset();
		await c.close();
	});
