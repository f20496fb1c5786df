// actr wire pieces with no I/O (PROTOCOL.md 1, 6, 7): the protobuf schema,
// errors, identity strings, the 8-byte DataChannel fragment header and its
// reassembler, RpcEnvelope encode/decode. web/actr.js drives them over
// RTCPeerConnection and WebSocket; web/test/*.test.mjs holds them to the
// byte fixtures in test/fixtures/wire/ that the C tests check too.
import './vendor/protobuf.light.min.js';
import schema from './actr_proto.js';

// The vendored protobufjs 8.8.1 light build (BSD-3-Clause, see
// vendor/LICENSE.protobufjs) is a UMD bundle: as an ES module it exposes
// itself as globalThis.protobuf.
const protobuf = globalThis.protobuf;

// 64-bit integers without long.js: protobufjs decodes (u)int64 into this
// and encodes anything with low/high from it. Serial numbers are 54-bit
// snowflakes, more than a JS number holds exactly.
export class Long64 {
	constructor(low, high, unsigned) {
		this.low = low | 0;
		this.high = high | 0;
		this.unsigned = !!unsigned;
	}
	static fromBits(low, high, unsigned) {
		return new Long64(low, high, unsigned);
	}
	static fromBigInt(v, unsigned = true) {
		const u = BigInt.asUintN(64, BigInt(v));
		return new Long64(Number(u & 0xffffffffn),
			Number(u >> 32n), unsigned);
	}
	static fromNumber(n, unsigned = false) {
		return Long64.fromBigInt(BigInt(Math.trunc(n)), unsigned);
	}
	static fromString(s, unsigned = false, radix = 10) {
		if (typeof unsigned === 'number') {
			radix = unsigned;
			unsigned = false;
		}
		const v = radix === 16 ? BigInt('0x' + s) : BigInt(s);
		return Long64.fromBigInt(v, unsigned);
	}
	static fromValue(v, unsigned) {
		if (v instanceof Long64)
			return v;
		if (typeof v === 'bigint')
			return Long64.fromBigInt(v, unsigned);
		if (typeof v === 'number')
			return Long64.fromNumber(v, unsigned);
		if (typeof v === 'string')
			return Long64.fromString(v, unsigned);
		return new Long64(v.low, v.high, v.unsigned ?? unsigned);
	}
	static isLong(v) {
		return v instanceof Long64;
	}
	toBigInt() {
		const v = (BigInt(this.high >>> 0) << 32n) |
			BigInt(this.low >>> 0);
		return this.unsigned ? v : BigInt.asIntN(64, v);
	}
	toNumber() {
		return Number(this.toBigInt());
	}
	valueOf() {
		return this.toNumber();
	}
	toString(radix = 10) {
		return this.toBigInt().toString(radix);
	}
	toJSON() {
		return this.toString();
	}
}
protobuf.util.Long = Long64;
protobuf.configure();

export const root = protobuf.Root.fromJSON(schema);
export const T = {};
for (const name of ['actr.ActrId', 'actr.ActrType', 'actr.RpcEnvelope',
	'actr.DataChunk', 'actr.RegisterRequest', 'actr.RegisterResponse',
	'actr.RenewCredentialRequest', 'actr.RenewCredentialResponse',
	'actr.IdentityClaims', 'actr.RoleNegotiation', 'actr.RoleAssignment',
	'actr.ErrorResponse', 'signaling.SignalingEnvelope',
	'webrtc.IceCandidate', 'webrtc.SessionDescription'])
	T[name.replace(/^.*\./, '')] = root.lookupType(name);

// ---- errors -----------------------------------------------------------

// The actr error codes (include/actr/error.h): 10001..10011 travel in
// ErrorResponse.code, the others are local meanings of the C runtime.
export const Code = Object.freeze({
	EUNAVAILABLE: 10001, ETIMEDOUT: 10002, ENOTFOUND: 10003,
	EPERM: 10004, EINVALARG: 10005, EUNKNOWNROUTE: 10006,
	EDEPNOTFOUND: 10007, EDECODE: 10008, ENOTIMPL: 10009,
	EINTERNAL: 10010, ENOTREADY: 10011,
	EPROTO: 10100, ETOOBIG: 10101, ECLOSED: 10102, ECORRUPT: 10103,
	EAUTH: 10104, EAGAIN: 10105, ECANCELED: 10106,
});
const codeNames = Object.fromEntries(Object.entries(Code)
	.map(([k, v]) => [v, k]));

/** An actr failure: .code is the numeric actr code, .codeName its name
 * (e.g. "ETIMEDOUT"), .message the text (the remote one when a remote
 * handler failed). */
export class ActrError extends Error {
	constructor(code, message) {
		super(message || codeNames[code] || `actr error ${code}`);
		this.name = 'ActrError';
		this.code = code;
		this.codeName = codeNames[code] || `E${code}`;
	}
}

/** The actr error for a signaling/AIS ErrorResponse (HTTP-like codes
 * 401/403/404/429, as wire/sigclient_core.c maps them). */
export function errorFromServer(err, what) {
	const map = { 401: Code.EAUTH, 403: Code.EPERM, 404: Code.ENOTFOUND,
		410: Code.EPROTO, 429: Code.EAGAIN };
	const code = map[err.code] ??
		(err.code >= 10001 && err.code <= 10011 ? err.code : Code.EPROTO);
	return new ActrError(code, `${what}: ${err.code} ${err.message}`);
}

// ---- identity strings (PROTOCOL.md 1) --------------------------------

export function actrTypeString(t) {
	return `${t.manufacturer}:${t.name}:${t.version}`;
}

export function parseActrType(s) {
	const m = /^([^:]+):([^:]+):([^:]+)$/.exec(s);
	if (!m)
		throw new ActrError(Code.EINVALARG,
			`not an actr type "manufacturer:name:version": ${s}`);
	return { manufacturer: m[1], name: m[2], version: m[3] };
}

/** "<serial hex>@<realm>/<mfr:name:version>" */
export function actrIdString(id) {
	return `${Long64.fromValue(id.serialNumber, true).toString(16)}@` +
		`${id.realm.realmId}/${actrTypeString(id.type)}`;
}

export function parseActrId(s) {
	const m = /^([0-9a-f]+)@(\d+)\/(.+)$/.exec(s);
	if (!m)
		throw new ActrError(Code.EINVALARG, `not an ActrId: ${s}`);
	return { realm: { realmId: Number(m[2]) },
		serialNumber: Long64.fromString(m[1], true, 16),
		type: parseActrType(m[3]) };
}

// ---- fragment header (PROTOCOL.md 7) ----------------------------------

export const FRAG_HDR = 8;
export const MAX_DC_MSG = 65535;
export const MAX_FRAG_DATA = MAX_DC_MSG - FRAG_HDR;

/** The header of one DataChannel message, or an EPROTO ActrError. */
export function readFragHeader(msg) {
	if (msg.length < FRAG_HDR)
		throw new ActrError(Code.EPROTO,
			`DataChannel message of ${msg.length} bytes: no header`);
	const dv = new DataView(msg.buffer, msg.byteOffset, FRAG_HDR);
	const h = { msgId: dv.getUint32(0), index: dv.getUint16(4),
		total: dv.getUint16(6) };
	if (h.total === 0 || h.index >= h.total)
		throw new ActrError(Code.EPROTO,
			`fragment ${h.index} of ${h.total}: bad header`);
	return h;
}

/** Split msg under msgId into DataChannel messages (each a new
 * Uint8Array: header + at most maxData bytes). */
export function fragment(msg, msgId, maxData = MAX_FRAG_DATA) {
	const total = Math.max(1, Math.ceil(msg.length / maxData));
	if (total > 0xffff)
		throw new ActrError(Code.ETOOBIG,
			`message of ${msg.length} bytes needs ${total} fragments`);
	const out = [];
	for (let i = 0; i < total; i++) {
		const data = msg.subarray(i * maxData, (i + 1) * maxData);
		const f = new Uint8Array(FRAG_HDR + data.length);
		const dv = new DataView(f.buffer);
		dv.setUint32(0, msgId >>> 0);
		dv.setUint16(4, i);
		dv.setUint16(6, total);
		f.set(data, FRAG_HDR);
		out.push(f);
	}
	return out;
}

/**
 * Reassembles one lane's fragments by msg_id. push() returns the whole
 * message when its last fragment arrived, else null; a malformed or
 * inconsistent fragment throws EPROTO (the partial message it belonged to
 * is dropped) and is counted in .stats. At most maxBytes of partial data
 * and maxMsgs partial messages are held: beyond that the oldest partial
 * message is dropped (stats.evicted).
 */
export class Reassembler {
	constructor({ maxBytes = 64 << 20, maxMsgs = 64 } = {}) {
		this.maxBytes = maxBytes;
		this.maxMsgs = maxMsgs;
		this.partial = new Map();	// msgId -> {total, parts, got, bytes}
		this.bytes = 0;
		this.stats = { completed: 0, bad: 0, duplicates: 0,
			evicted: 0 };
	}

	push(msg) {
		let h;
		try {
			h = readFragHeader(msg);
		} catch (e) {
			this.stats.bad++;
			throw e;
		}
		const data = msg.subarray(FRAG_HDR);
		if (h.total === 1) {
			this.stats.completed++;
			return data;
		}
		let p = this.partial.get(h.msgId);
		if (p && p.total !== h.total) {
			this.drop(h.msgId);
			this.stats.bad++;
			throw new ActrError(Code.EPROTO, `message ${h.msgId}: ` +
				`total ${h.total} after ${p.total}`);
		}
		if (!p) {
			while (this.partial.size >= this.maxMsgs)
				this.evictOldest();
			p = { total: h.total, parts: new Array(h.total),
				got: 0, bytes: 0 };
			this.partial.set(h.msgId, p);
		}
		if (p.parts[h.index]) {
			this.stats.duplicates++;
			return null;
		}
		while (this.bytes + data.length > this.maxBytes &&
		       this.partial.size > 1)
			this.evictOldest(h.msgId);
		if (this.bytes + data.length > this.maxBytes) {
			this.drop(h.msgId);
			this.stats.bad++;
			throw new ActrError(Code.ETOOBIG, `message ${h.msgId} ` +
				`exceeds ${this.maxBytes} bytes`);
		}
		p.parts[h.index] = data.slice();
		p.got++;
		p.bytes += data.length;
		this.bytes += data.length;
		if (p.got < p.total)
			return null;
		this.drop(h.msgId);
		const whole = new Uint8Array(p.bytes);
		let off = 0;
		for (const part of p.parts) {
			whole.set(part, off);
			off += part.length;
		}
		this.stats.completed++;
		return whole;
	}

	drop(msgId) {
		const p = this.partial.get(msgId);
		if (p) {
			this.bytes -= p.bytes;
			this.partial.delete(msgId);
		}
	}

	evictOldest(keep) {
		for (const id of this.partial.keys()) {
			if (id === keep)
				continue;
			this.drop(id);
			this.stats.evicted++;
			return;
		}
	}
}

// ---- RpcEnvelope (PROTOCOL.md 6) --------------------------------------

export const Direction = Object.freeze({ UNSPECIFIED: 0, REQUEST: 1,
	RESPONSE: 2, TELL: 3 });

/** Encode an RpcEnvelope from a plain object (camelCase fields). */
export function encodeRpc(env) {
	return T.RpcEnvelope.encode({ metadata: [], timeoutMs: 0, ...env })
		.finish();
}

/** Decode an RpcEnvelope; EPROTO when the bytes are not one or it breaks
 * the rules receivers enforce (direction set, timeout_ms > 0 exactly on
 * REQUEST). */
export function decodeRpc(bytes) {
	let env;
	try {
		env = T.RpcEnvelope.decode(bytes);
	} catch (e) {
		throw new ActrError(Code.EPROTO,
			`not an RpcEnvelope: ${e.message}`);
	}
	const dir = env.direction ?? 0;
	if (dir < 1 || dir > 3)
		throw new ActrError(Code.EPROTO,
			`RpcEnvelope ${env.requestId}: direction ${dir}`);
	env.timeoutMs = Number(env.timeoutMs ?? 0);
	return env;
}

export { protobuf };
