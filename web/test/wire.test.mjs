// node:test unit tests of web/wire.js against the byte fixtures the C
// encoders are held to (test/fixtures/wire/, test/test_web_fixtures.c):
// the same values built here must give exactly the same bytes, and the
// decoders must give the values back. Run: node --test web/test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
	ActrError, Code, Direction, Long64, Reassembler, T, actrIdString,
	decodeRpc, encodeRpc, fragment, parseActrId, readFragHeader,
} from '../wire.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixDir = join(here, '../../test/fixtures/wire');
const fix = (f) => new Uint8Array(readFileSync(join(fixDir, f)));
const te = new TextEncoder();

const WEB_SERIAL = 0x3ffffffffffff1n;	// 54 bits, as snowflakes are
const ECHO_SERIAL = 0x1cdd7f64e8c31n;
const BIG_LEN = 70000;
const bigByte = (i) => (i * 7 + 3) & 0xff;

const request = () => encodeRpc({ routeKey: 'echo.EchoService.Echo',
	payload: Uint8Array.of(0x0a, 5, ...te.encode('hello')),
	direction: Direction.REQUEST, requestId: 'req-1', timeoutMs: 5000 });

function relay(payload, extra = {}) {
	const realm = { realmId: 101 };
	return T.SignalingEnvelope.encode({ envelopeVersion: 2, ...extra,
		actrRelay: {
			source: { realm, serialNumber: Long64.fromBigInt(WEB_SERIAL),
				type: { manufacturer: 'acme', name: 'web',
					version: '1.0.0' } },
			credential: { keyId: 1, claims: Uint8Array.of(0x08, 0x65),
				signature: new Uint8Array(64).fill(0xab) },
			target: { realm, serialNumber: Long64.fromBigInt(ECHO_SERIAL),
				type: { manufacturer: 'acme', name: 'echo',
					version: '1.0.0' } },
			...payload } }).finish();
}

const builders = {
	'rpc_request.bin': request,
	'rpc_response.bin': () => encodeRpc({
		routeKey: 'echo.EchoService.Echo',
		payload: Uint8Array.of(0x0a, 11, ...te.encode('Echo: hello')),
		direction: Direction.RESPONSE, requestId: 'req-1' }),
	'rpc_error.bin': () => encodeRpc({ routeKey: 'echo.EchoService.Nope',
		error: { code: Code.EUNKNOWNROUTE, message: 'unknown route' },
		direction: Direction.RESPONSE, requestId: 'req-2' }),
	'rpc_tell.bin': () => encodeRpc({ routeKey: 'log.Sink.Put',
		payload: Uint8Array.of(0, 1, 2, 0xff), direction: Direction.TELL,
		traceparent:
		'00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
		requestId: 'tell-1',
		metadata: [{ key: 'k1', value: 'v1' }, { key: 'k2', value: '' }] }),
	'data_chunk.bin': () => T.DataChunk.encode({ streamId: 's1',
		sequence: Long64.fromNumber(5, true), payload: te.encode('abc'),
		timestampMs: Long64.fromNumber(1700000000000) }).finish(),
	'sig_candidate.bin': () => relay({ iceCandidate: {
		candidate:
		'candidate:1 1 UDP 2122252543 127.0.0.1 50000 typ host',
		sdpMid: '0', sdpMlineIndex: 0, usernameFragment: 'abcd' } },
	{ envelopeId: 'e-1' }),
	'sig_offer.bin': () => relay({ sessionDescription: { type: 0,
		sdp: 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n',
		sdpExchangeId: '6f1c2a4e-8d1b-4c55-9a3e-0b7d2f4e6a81' } },
	{ envelopeId: 'e-2', replyFor: 'e-0' }),
	'dc_single.bin': () => fragment(request(), 7)[0],
	'dc_frag0.bin': () => bigFrags()[0],
	'dc_frag1.bin': () => bigFrags()[1],
};

function bigMsg() {
	const m = new Uint8Array(BIG_LEN);
	for (let i = 0; i < BIG_LEN; i++)
		m[i] = bigByte(i);
	return m;
}

function bigFrags() {
	const f = fragment(bigMsg(), 0x01020304);
	assert.equal(f.length, 2);
	return f;
}

test('every fixture of index.json has a builder here', () => {
	const idx = JSON.parse(readFileSync(join(fixDir, 'index.json')));
	assert.deepEqual(idx.fixtures.map((f) => f.file).sort(),
		Object.keys(builders).sort());
});

for (const [file, build] of Object.entries(builders)) {
	test(`encoder gives the bytes of ${file}`, () => {
		assert.deepEqual(Buffer.from(build()), Buffer.from(fix(file)));
	});
}

test('RpcEnvelope decoding of the fixtures', () => {
	const r = decodeRpc(fix('rpc_request.bin'));
	assert.equal(r.routeKey, 'echo.EchoService.Echo');
	assert.equal(r.direction, Direction.REQUEST);
	assert.equal(r.timeoutMs, 5000);
	assert.equal(r.requestId, 'req-1');
	const e = decodeRpc(fix('rpc_error.bin'));
	assert.equal(e.error.code, 10006);
	assert.equal(e.error.message, 'unknown route');
	assert.equal(e.payload?.length ?? 0, 0);
	const t = decodeRpc(fix('rpc_tell.bin'));
	assert.equal(t.direction, Direction.TELL);
	assert.equal(t.timeoutMs, 0);
	assert.deepEqual(t.metadata.map((m) => [m.key, m.value]),
		[['k1', 'v1'], ['k2', '']]);
	assert.deepEqual([...t.payload], [0, 1, 2, 0xff]);
});

test('an envelope without a direction is refused (EPROTO)', () => {
	const b = T.RpcEnvelope.encode({ routeKey: 'a.B.C', requestId: 'x',
		timeoutMs: 0, metadata: [] }).finish();
	assert.throws(() => decodeRpc(b), (e) => e instanceof ActrError &&
		e.code === Code.EPROTO);
	assert.throws(() => decodeRpc(Uint8Array.of(0xff, 0xff, 0xff)),
		(e) => e.code === Code.EPROTO);
});

test('54-bit serial numbers survive decoding and the string form', () => {
	const env = T.SignalingEnvelope.decode(fix('sig_candidate.bin'));
	const src = env.actrRelay.source;
	assert.equal(Long64.fromValue(src.serialNumber).toBigInt(), WEB_SERIAL);
	assert.equal(actrIdString(src), '3ffffffffffff1@101/acme:web:1.0.0');
	const back = parseActrId(actrIdString(src));
	assert.equal(back.serialNumber.toBigInt(), WEB_SERIAL);
	assert.equal(env.actrRelay.iceCandidate.usernameFragment, 'abcd');
	assert.equal(env.actrRelay.iceCandidate.sdpMlineIndex, 0);
	const off = T.SignalingEnvelope.decode(fix('sig_offer.bin'));
	assert.equal(off.replyFor, 'e-0');
	assert.equal(off.actrRelay.sessionDescription.sdpExchangeId,
		'6f1c2a4e-8d1b-4c55-9a3e-0b7d2f4e6a81');
});

test('fragment header reads the fixtures', () => {
	assert.deepEqual(readFragHeader(fix('dc_single.bin')),
		{ msgId: 7, index: 0, total: 1 });
	assert.deepEqual(readFragHeader(fix('dc_frag1.bin')),
		{ msgId: 0x01020304, index: 1, total: 2 });
	assert.equal(fix('dc_frag0.bin').length, 65535);
});

test('malformed headers are EPROTO', () => {
	for (const bad of [Uint8Array.of(0, 0, 0, 1, 0, 0, 0),
		Uint8Array.of(0, 0, 0, 1, 0, 0, 0, 0),
		Uint8Array.of(0, 0, 0, 1, 0, 2, 0, 2)])
		assert.throws(() => readFragHeader(bad),
			(e) => e.code === Code.EPROTO);
});

test('reassembly of the C fragments, out of order', () => {
	const r = new Reassembler();
	assert.equal(r.push(fix('dc_frag1.bin')), null);
	const whole = r.push(fix('dc_frag0.bin'));
	assert.deepEqual(Buffer.from(whole), Buffer.from(bigMsg()));
	assert.deepEqual(Buffer.from(r.push(fix('dc_single.bin'))),
		Buffer.from(fix('rpc_request.bin')));
	assert.equal(r.stats.completed, 2);
	assert.equal(r.bytes, 0);
	assert.equal(r.partial.size, 0);
});

test('reassembler bounds: inconsistent total, duplicates, memory', () => {
	const r = new Reassembler({ maxBytes: 100, maxMsgs: 2 });
	const [a0, a1] = fragment(new Uint8Array(60).fill(1), 1, 30);
	assert.equal(r.push(a0), null);
	assert.equal(r.push(a0), null);
	assert.equal(r.stats.duplicates, 1);
	const bad = a1.slice();
	bad[7] = 3;	// total 3 after 2
	assert.throws(() => r.push(bad), (e) => e.code === Code.EPROTO);
	assert.equal(r.partial.size, 0);
	// three partial messages with room for two: the oldest goes
	for (let id = 10; id < 13; id++)
		r.push(fragment(new Uint8Array(20), id, 10)[0]);
	assert.equal(r.partial.size, 2);
	assert.equal(r.stats.evicted, 1);
	// one message larger than the bound
	const huge = fragment(new Uint8Array(300), 20, 60);
	assert.throws(() => huge.forEach((f) => r.push(f)),
		(e) => e.code === Code.ETOOBIG);
	assert.ok(r.bytes <= 100);
});

test('fragmentation limits', () => {
	assert.equal(fragment(new Uint8Array(0), 1).length, 1);
	assert.equal(fragment(new Uint8Array(65527), 1).length, 1);
	assert.equal(fragment(new Uint8Array(65528), 1).length, 2);
	assert.throws(() => fragment(new Uint8Array(65536 * 2), 1, 1),
		(e) => e.code === Code.ETOOBIG);
});
