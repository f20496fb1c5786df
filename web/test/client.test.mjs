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
