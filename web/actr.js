// actr for browsers: one ES module, no build step. A page (or Node with
// node-datachannel's W3C polyfill and the `ws` package, injected through
// the constructor) registers with actr-signal, calls actors (C, Rust or
// other pages) over WebRTC DataChannels and serves routes they call.
//
//   import { ActrClient, ActrError } from './actr.js';
//   const c = new ActrClient({ signalUrl: 'http://127.0.0.1:8081',
//       realm: 101, type: 'acme:web:1.0.0', credential: bytesFromBackend });
//   await c.start();
//   const reply = await c.call('acme:echo:1.0.0', 'echo.EchoService.Echo',
//       requestBytes, { timeoutMs: 5000 });
//
// The wire (PROTOCOL.md 3-7) follows what the C runtime does
// (wire/sigclient_core.c, runtime/peer.c): POST /ais/register, the
// signaling WebSocket with the credential in the query string (a browser
// cannot set headers on it), heartbeats, renewal, reconnect with backoff,
// role negotiation through the server, SDP with sdp_exchange_id, trickled
// candidates with username_fragment, the four DataChannels, the 8-byte
// fragment header and RpcEnvelope. See web/README.md.
import {
	ActrError, Code, Direction, Long64, Reassembler, T, actrIdString,
	actrTypeString, decodeRpc, encodeRpc, errorFromServer, fragment,
	parseActrId, parseActrType,
} from './wire.js';

export {
	ActrError, Code, Long64, actrIdString, actrTypeString, parseActrId,
	parseActrType,
};
// protobufjs (light build) and the actr schema root, for applications
// that encode their own messages with protobufjs JSON descriptors
export { protobuf, root } from './wire.js';

// The four lanes (PROTOCOL.md 7): label, RTCDataChannelInit.
const LANES = [
	['RPC_RELIABLE', { ordered: true }],
	['RPC_SIGNAL', { ordered: true }],
	['STREAM_RELIABLE', { ordered: true }],
	['STREAM_LATENCY_FIRST', { ordered: false, maxRetransmits: 3 }],
];
const LANE = { RPC_RELIABLE: 0, RPC_SIGNAL: 1, STREAM_RELIABLE: 2,
	STREAM_LATENCY_FIRST: 3 };
const SDP_TYPE = { OFFER: 0, ANSWER: 1, RENEGOTIATION_OFFER: 2,
	ICE_RESTART_OFFER: 3 };

const DEFAULT_CALL_MS = 30000;		// PROTOCOL.md 6
const SIGNAL_REQUEST_MS = 5000;		// per signaling request (5)
const CONNECT_MS = 10000;		// WebSocket upgrade
const DEDUP_MS = 30000;			// response cache (6)
const RENEW_BEFORE_S = 300;		// renew 5 min before expiry (5)
const RENEW_JITTER_S = 30;
const BACKOFF_MAX_MS = 60000;
const RECONNECT_TRIES = 10;
const SEND_HIGH_WATER = 4 << 20;	// DataChannel bufferedAmount
const SEND_LOW_WATER = 1 << 20;
const SETUP_TRIES = 3;			// connection setups per call

function uuid() {
	const c = globalThis.crypto;
	if (c?.randomUUID)
		return c.randomUUID();
	const b = new Uint8Array(16);
	c.getRandomValues(b);
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
	return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-` +
		`${h.slice(16, 20)}-${h.slice(20)}`;
}

function b64(bytes) {
	let s = '';
	for (let i = 0; i < bytes.length; i += 0x8000)
		s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
	return btoa(s);
}

function unb64(s) {
	const bin = atob(s);
	const out = new Uint8Array(bin.length);
	for (let i = 0; i < bin.length; i++)
		out[i] = bin.charCodeAt(i);
	return out;
}

function toBytes(v) {
	if (v instanceof Uint8Array)
		return v;
	if (v instanceof ArrayBuffer)
		return new Uint8Array(v);
	if (ArrayBuffer.isView(v))
		return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
	if (typeof v === 'string')
		return new TextEncoder().encode(v);
	if (v && v.$type && typeof v.$type.encode === 'function')
		return v.$type.encode(v).finish();	// a protobufjs message
	throw new ActrError(Code.EINVALARG,
		'payload: Uint8Array, ArrayBuffer, string or protobufjs message');
}

function ufragOf(sdp) {
	const m = /a=ice-ufrag:(\S+)/.exec(sdp || '');
	return m ? m[1] : '';
}

function sleep(ms) {
	return new Promise((r) => setTimeout(r, ms));
}

function withTimeout(promise, ms, what) {
	let t;
	return Promise.race([promise, new Promise((_, rej) => {
		t = setTimeout(() => rej(new ActrError(Code.ETIMEDOUT,
			`${what}: no answer in ${ms} ms`)), ms);
	})]).finally(() => clearTimeout(t));
}

/**
 * A browser actor. Options:
 *   signalUrl    http(s):// (or ws(s)://) base of actr-signal
 *   realm        realm id (number)
 *   type         "manufacturer:name:version" of this actor
 *   realmSecret  LINKED registration with the realm secret (tests and
 *                trusted pages only: never ship a secret in a public page)
 *   credential   instead: an encoded RegisterResponse (Uint8Array,
 *                ArrayBuffer or base64) the application's backend got from
 *                POST /ais/register on the page's behalf, or an async
 *                function returning one (called again whenever a fresh
 *                registration is needed)
 *   acl          optional actr.Acl object published at registration
 *   iceServers   RTCIceServer list (TURN entries get the TurnCredential
 *                from registration when they have no username)
 *   webrtcRole   'answer' to connect as answer-only (PROTOCOL.md 5)
 *   onState      called with 'registering', 'connecting', 'connected',
 *                'reconnecting', 'failed', 'closed'
 *   log          function(level, text) (default: console for warnings)
 *   RTCPeerConnection, WebSocket, fetch: injectable (Node tests)
 *   rtcConfig    extra fields for new RTCPeerConnection(...)
 */
export class ActrClient {
	constructor(opts = {}) {
		if (!opts.signalUrl)
			throw new ActrError(Code.EINVALARG, 'signalUrl missing');
		this.opts = opts;
		this.base = opts.signalUrl.replace(/\/+$/, '')
			.replace(/^ws(s?):/, 'http$1:');
		this.type = typeof opts.type === 'string'
			? parseActrType(opts.type) : opts.type;
		if (!this.type)
			throw new ActrError(Code.EINVALARG, 'type missing');
		this.realm = Number(opts.realm);
		this.RTCPeerConnection = opts.RTCPeerConnection ??
			globalThis.RTCPeerConnection;
		this.WebSocket = opts.WebSocket ?? globalThis.WebSocket;
		this.fetch = opts.fetch ?? globalThis.fetch?.bind(globalThis);
		this.log = opts.log ?? ((lvl, s) => {
			if (lvl === 'warn' || lvl === 'error')
				console.warn(`actr: ${s}`);
		});
		this.state = 'idle';
		this.ok = null;		// RegisterOk in use
		this.id = null;		// our ActrId
		this.ws = null;
		this.pending = new Map();	// envelope_id -> {resolve, reject}
		this.conns = new Map();		// ActrId string -> Conn
		this.typeCache = new Map();	// type string -> ActrId
		this.calls = new Map();		// request_id -> pending call
		this.routes = new Map();	// route -> handler
		this.streams = new Map();	// stream id -> callback
		this.dedup = new Map();		// request_id -> {at, bytes}
		this.timers = new Set();
		this.closed = false;
		this.stats = { calls: 0, served: 0, badInput: 0, reconnects: 0,
			registrations: 0, renewals: 0, pongs: 0, setupRetries: 0,
			iceRestarts: 0 };
		this.warned = new Map();	// rate-limited log lines
	}

	// ---- public API ------------------------------------------------

	/** Register and connect the signaling WebSocket; resolves once
	 * connected. Rejects with an ActrError (EAUTH for a refused
	 * credential or realm secret) and then stops. */
	async start() {
		if (this.closed)
			throw new ActrError(Code.ECLOSED, 'client closed');
		try {
			await this.register();
			await this.connect();
		} catch (e) {
			this.setState('failed');
			this.stopTimers();
			throw e;
		}
	}

	/** The ActrIds of live actors of a type (route candidates). */
	async discover(type, { limit = 16 } = {}) {
		const t = typeof type === 'string' ? parseActrType(type) : type;
		const r = await this.request({ routeCandidatesRequest: {
			targetType: t,
			criteria: { candidateCount: limit, rankingFactors: [] },
			clientFingerprint: '' } }, 'route candidates');
		const rc = r.routeCandidatesResponse;
		if (!rc)
			throw new ActrError(Code.EPROTO,
				'route candidates: unexpected reply');
		if (rc.error)
			throw errorFromServer(rc.error, 'route candidates');
		return rc.success?.candidates ?? [];
	}

	/** Call route on target (type string, ActrId string or object);
	 * resolves with the reply payload (Uint8Array). opts.timeoutMs
	 * (default 30 s), opts.lane 'RPC_SIGNAL' for the priority lane,
	 * opts.metadata [{key, value}]. */
	async call(target, route, payload, opts = {}) {
		return this.send(target, route, payload, opts, false);
	}

	/** One-way message (TELL): resolves once handed to the channel. */
	async tell(target, route, payload, opts = {}) {
		await this.send(target, route, payload, opts, true);
	}

	/** Serve route: handler(bytes, ctx) returns (or resolves with) the
	 * reply (Uint8Array, string or protobufjs message); a thrown
	 * ActrError travels with its code, anything else as EINTERNAL.
	 * ctx: { caller (ActrId), callerId (string), route, requestId,
	 * metadata, deadline (Date.now() ms), tell (bool) }. */
	serve(route, handler) {
		if (handler)
			this.routes.set(route, handler);
		else
			this.routes.delete(route);
	}

	/** Receive DataChunks of a stream: cb(payload, {caller, sequence,
	 * metadata, streamId}). */
	onStream(streamId, cb) {
		if (cb)
			this.streams.set(streamId, cb);
		else
			this.streams.delete(streamId);
	}

	/** Send one DataChunk on a stream lane (STREAM_RELIABLE, or
	 * STREAM_LATENCY_FIRST with reliable: false). */
	async sendStream(target, streamId, payload, opts = {}) {
		const id = await this.resolveTarget(target, opts);
		const conn = await this.ready(id,
			opts.timeoutMs ?? DEFAULT_CALL_MS);
		const seq = conn.streamSeq.get(streamId) ?? 0;
		conn.streamSeq.set(streamId, seq + 1);
		const chunk = T.DataChunk.encode({ streamId,
			sequence: Long64.fromNumber(seq, true),
			payload: toBytes(payload),
			metadata: opts.metadata ?? [],
			timestampMs: Long64.fromNumber(Date.now()) }).finish();
		await this.lanesend(conn, opts.reliable === false
			? LANE.STREAM_LATENCY_FIRST : LANE.STREAM_RELIABLE, chunk);
	}

	/** Our ActrId string, once registered. */
	get actrId() {
		return this.id ? actrIdString(this.id) : null;
	}

	/** Unregister (best effort), close every connection. */
	async close() {
		if (this.closed)
			return;
		this.closed = true;
		this.stopTimers();
		const ws = this.ws;
		if (ws && ws.readyState === 1 && this.id) {
			try {
				this.sendEnv({ actrToServer: this.a2s({
					unregisterRequest: { actrId: this.id,
						reason: 'closed' } }) });
			} catch { /* closing anyway */ }
		}
		for (const c of [...this.conns.values()])
			this.dropConn(c, Code.ECLOSED, 'client closed');
		for (const [, p] of this.pending)
			p.reject(new ActrError(Code.ECLOSED, 'client closed'));
		this.pending.clear();
		this.ws = null;
		if (ws)
			ws.close(1000, 'closed');
		this.setState('closed');
	}

	// ---- registration ----------------------------------------------

	setState(s) {
		if (this.state === s)
			return;
		this.state = s;
		this.log('debug', `state ${s}`);
		try {
			this.opts.onState?.(s);
		} catch (e) {
			this.log('warn', `onState threw: ${e.message}`);
		}
	}

	warnLimited(key, text) {
		const now = Date.now();
		const last = this.warned.get(key) ?? 0;
		if (now - last < 5000)
			return;
		this.warned.set(key, now);
		this.log('warn', text);
	}

	timer(fn, ms) {
		const t = setTimeout(() => {
			this.timers.delete(t);
			fn();
		}, ms);
		this.timers.add(t);
		return t;
	}

	stopTimers() {
		for (const t of this.timers)
			clearTimeout(t);
		this.timers.clear();
		clearTimeout(this.pingTimer);
		clearTimeout(this.pongTimer);
	}

	async post(path, bytes, headers = {}) {
		let res;
		try {
			res = await this.fetch(this.base + path, { method: 'POST',
				headers: { 'content-type': 'application/x-protobuf',
					...headers },
				body: bytes });
		} catch (e) {
			throw new ActrError(Code.EUNAVAILABLE,
				`${path}: ${e.message}`);
		}
		const body = new Uint8Array(await res.arrayBuffer());
		return { status: res.status, body };
	}

	async register() {
		this.setState('registering');
		let resp;
		const cred = this.opts.credential;
		if (cred) {
			let v = typeof cred === 'function' ? await cred() : cred;
			if (typeof v === 'string')
				v = unb64(v);
			resp = this.decodeRegister(toBytes(v), 200,
				'registration');
		} else {
			const req = T.RegisterRequest.encode({
				actrType: this.type,
				realm: { realmId: this.realm },
				authMode: 2,		// LINKED
				...(this.opts.acl ? { acl: this.opts.acl } : {}),
			}).finish();
			const h = this.opts.realmSecret
				? { 'x-actrix-realm-secret': this.opts.realmSecret }
				: {};
			const { status, body } =
				await this.post('/ais/register', req, h);
			resp = this.decodeRegister(body, status, 'registration');
		}
		this.adopt(resp);
		this.stats.registrations++;
		this.log('info', `registered as ${actrIdString(this.id)}`);
	}

	decodeRegister(body, status, what) {
		let r;
		try {
			r = T.RegisterResponse.decode(body);
		} catch {
			throw new ActrError(status === 401 ? Code.EAUTH
				: Code.EPROTO, `${what}: HTTP ${status}, ` +
				'body not a RegisterResponse');
		}
		if (r.error)
			throw errorFromServer(r.error, `${what} refused`);
		if (!r.success)
			throw new ActrError(Code.EPROTO, `${what}: no result`);
		return r.success;
	}

	adopt(ok) {
		const newId = !this.id ||
			actrIdString(this.id) !== actrIdString(ok.actrId);
		this.ok = ok;
		this.id = ok.actrId;
		if (newId) {
			// a new identity: sessions of the old one are void
			for (const c of [...this.conns.values()])
				this.dropConn(c, Code.EUNAVAILABLE,
					're-registered');
		}
		const claims = T.IdentityClaims.decode(ok.credential.claims);
		this.expiresAt = Number(claims.expiresAt) * 1000;
		this.armRenew();
	}

	armRenew() {
		if (this.renewTimer)
			clearTimeout(this.renewTimer);
		const cred = this.opts.credential;
		if (cred && typeof cred !== 'function')
			return;	// a fixed credential lasts until it expires
		const left = this.expiresAt - Date.now();
		const lead = left > 2 * RENEW_BEFORE_S * 1000
			? (RENEW_BEFORE_S + Math.random() * RENEW_JITTER_S) * 1000
			: left / 2;
		this.renewTimer = this.timer(() => this.renew(),
			Math.max(500, left - lead));
	}

	async renew() {
		if (this.closed)
			return;
		const tok = this.ok?.renewalToken;
		const cred = this.opts.credential;
		try {
			if (typeof cred === 'function') {
				// the backend hands out the next one
				let v = await cred();
				if (typeof v === 'string')
					v = unb64(v);
				const ok = this.decodeRegister(toBytes(v), 200,
					'renewal');
				const same = actrIdString(ok.actrId) === this.actrId;
				this.adopt(ok);
				this.stats.renewals++;
				if (!same)	// a new identity: a new session
					this.reconnect(false);
				return;
			}
			if (!tok || !tok.length)
				throw new ActrError(Code.EAUTH, 'no renewal token');
			const req = T.RenewCredentialRequest.encode({
				actrId: this.id, renewalToken: tok }).finish();
			const { status, body } = await this.post('/ais/renew', req);
			let r;
			try {
				r = T.RenewCredentialResponse.decode(body);
			} catch {
				throw new ActrError(status === 401 ? Code.EAUTH
					: Code.EPROTO, `renewal: HTTP ${status}`);
			}
			if (r.error)
				throw errorFromServer(r.error, 'renewal refused');
			this.adopt(r.success);
			this.stats.renewals++;
		} catch (e) {
			if (this.closed)
				return;
			if (e.code === Code.EAUTH) {
				// the server no longer knows us: start afresh
				this.log('info', `renewal: ${e.message}; ` +
					'registering again');
				this.reconnect(true);
			} else {
				this.warnLimited('renew', `renewal: ${e.message}`);
				this.renewTimer = this.timer(() => this.renew(),
					5000);
			}
		}
	}

	// ---- signaling WebSocket ---------------------------------------

	wsUrl() {
		const c = this.ok.credential;
		const q = new URLSearchParams({
			actor_id: actrIdString(this.id),
			key_id: String(c.keyId),
			claims: b64(c.claims),
			signature: b64(c.signature),
		});
		if (this.opts.webrtcRole === 'answer')
			q.set('webrtc_role', 'answer');
		return this.base.replace(/^http/, 'ws') + '/signaling/ws?' + q;
	}

	/** Open the WebSocket; resolves when open, rejects (EUNAVAILABLE)
	 * when it fails before. */
	connect() {
		this.setState('connecting');
		return new Promise((resolve, reject) => {
			let opened = false;
			let ws;
			try {
				ws = new this.WebSocket(this.wsUrl());
			} catch (e) {
				reject(new ActrError(Code.EUNAVAILABLE,
					`signaling: ${e.message}`));
				return;
			}
			ws.binaryType = 'arraybuffer';
			this.ws = ws;
			// an upgrade nobody answers must not hang start()
			const limit = setTimeout(() => {
				if (opened || this.ws !== ws)
					return;
				this.ws = null;
				try {
					ws.close();
				} catch { /* never opened */ }
				reject(new ActrError(Code.ETIMEDOUT, 'signaling ' +
					`WebSocket: no upgrade in ${CONNECT_MS} ms`));
			}, CONNECT_MS);
			ws.onopen = () => {
				clearTimeout(limit);
				if (this.ws !== ws)
					return;
				opened = true;
				this.attempts = 0;
				this.setState('connected');
				this.heartbeat();
				resolve();
			};
			ws.onmessage = (ev) => {
				if (this.ws === ws)
					this.onFrame(ev.data);
			};
			ws.onerror = () => {};
			ws.onclose = (ev) => {
				clearTimeout(limit);
				if (this.ws !== ws)
					return;
				this.ws = null;
				clearTimeout(this.pingTimer);
				clearTimeout(this.pongTimer);
				for (const [, p] of this.pending)
					p.reject(new ActrError(Code.EUNAVAILABLE,
						'signaling connection lost'));
				this.pending.clear();
				if (!opened) {
					reject(new ActrError(Code.EUNAVAILABLE,
						`signaling WebSocket refused (code ` +
						`${ev.code}): credential rejected or ` +
						'server unreachable'));
					return;
				}
				if (!this.closed) {
					this.log('info', `signaling closed (${ev.code})`);
					this.reconnect(false);
				}
			};
		});
	}

	/** Reconnect with backoff from 1 s (x2, max 60 s, jitter, 10
	 * attempts); fresh registration when asked or after a failed
	 * WebSocket upgrade (the credential may be the reason). */
	async reconnect(fresh) {
		if (this.reconnecting || this.closed)
			return;
		this.reconnecting = true;
		this.setState('reconnecting');
		if (this.ws) {
			const ws = this.ws;
			this.ws = null;
			clearTimeout(this.pingTimer);
			clearTimeout(this.pongTimer);
			for (const [, p] of this.pending)
				p.reject(new ActrError(Code.EUNAVAILABLE,
					'signaling reconnecting'));
			this.pending.clear();
			ws.close(1000, 're-registering');
		}
		let delay = 1000;
		for (let i = 0; i < RECONNECT_TRIES && !this.closed; i++) {
			if (i > 0 || !fresh) {
				await sleep(delay * (0.75 + Math.random() / 2));
				delay = Math.min(delay * 2, BACKOFF_MAX_MS);
			}
			if (this.closed)
				break;
			try {
				if (fresh || i > 0)
					await this.register();
				await this.connect();
				this.stats.reconnects++;
				this.reconnecting = false;
				return;
			} catch (e) {
				this.warnLimited('reconnect',
					`reconnect ${i + 1}: ${e.message}`);
				if (e.code === Code.EAUTH || e.code === Code.EPERM)
					break;	// stays wrong however often we ask
			}
		}
		this.reconnecting = false;
		if (!this.closed)
			this.setState('failed');
	}

	heartbeat() {
		const secs = this.ok.signalingHeartbeatIntervalSecs || 30;
		clearTimeout(this.pingTimer);
		this.pingTimer = setTimeout(() => {
			if (!this.ws || this.closed)
				return;
			let eid;
			try {
				eid = this.sendEnv({ actrToServer: this.a2s({ ping: {
					availability: 0, powerReserve: 1,
					mailboxBacklog: 0, stickyClientIds: [] } }) });
			} catch {
				return;	// closing: onclose reconnects
			}
			const wait = Math.max(400 * secs, 1000);
			this.pongTimer = setTimeout(() => {
				this.pending.delete(eid);
				this.warnLimited('pong', `no Pong in ${wait} ms: ` +
					'reconnecting');
				this.reconnect(false);
			}, wait);
			this.pending.set(eid, { resolve: (s) => {
				this.pending.delete(eid);
				clearTimeout(this.pongTimer);
				this.stats.pongs++;
				if (s.pong?.credentialWarning) {
					// the signing key retires: renew now
					this.log('info', 'credential warning: ' +
						s.pong.credentialWarning.message);
					this.renew();
				}
				this.heartbeat();
			}, reject: () => {} });
		}, secs * 1000);
	}

	a2s(payload) {
		return { source: this.id, credential: this.ok.credential,
			...payload };
	}

	/** Send one SignalingEnvelope built from flow fields; returns its
	 * envelope_id. */
	sendEnv(flow, replyFor) {
		const eid = uuid();
		const env = { envelopeVersion: 2, envelopeId: eid, ...flow };
		if (replyFor)
			env.replyFor = replyFor;
		const ws = this.ws;
		if (!ws || ws.readyState !== 1)
			throw new ActrError(Code.ENOTREADY,
				'signaling not connected');
		ws.send(T.SignalingEnvelope.encode(env).finish());
		return eid;
	}

	/** A request to the server; resolves with SignalingToActr. */
	request(payload, what) {
		const eid = this.sendEnv({ actrToServer: this.a2s(payload) });
		return this.awaitReply(eid, what);
	}

	awaitReply(eid, what) {
		const p = new Promise((resolve, reject) => {
			this.pending.set(eid, { resolve, reject });
		});
		return withTimeout(p, SIGNAL_REQUEST_MS, what)
			.finally(() => this.pending.delete(eid));
	}

	relay(target, payload) {
		return this.sendEnv({ actrRelay: { source: this.id,
			credential: this.ok.credential, target, ...payload } });
	}

	onFrame(data) {
		if (typeof data === 'string')
			return;	// text frames are ignored (PROTOCOL.md 5)
		let env;
		try {
			env = T.SignalingEnvelope.decode(toBytes(data));
		} catch (e) {
			this.stats.badInput++;
			this.warnLimited('sigdecode',
				`undecodable signaling frame: ${e.message}`);
			return;
		}
		const p = env.replyFor ? this.pending.get(env.replyFor) : null;
		if (env.serverToActr) {
			const s = env.serverToActr;
			if (p) {
				if (s.error)
					p.reject(errorFromServer(s.error, 'signaling'));
				else
					p.resolve(s);
			} else if (s.error) {
				this.warnLimited('sigerr', `signaling error ` +
					`${s.error.code} ${s.error.message}`);
			}
		} else if (env.envelopeError) {
			if (p)
				p.reject(errorFromServer(env.envelopeError,
					'signaling'));
			else
				this.warnLimited('sigerr', 'signaling error ' +
					`${env.envelopeError.code} ` +
					env.envelopeError.message);
		} else if (env.actrRelay) {
			this.onRelay(env.actrRelay, p);
		}
	}

	// ---- peer connections ------------------------------------------

	async resolveTarget(target, opts) {
		if (typeof target === 'object' && target.type)
			return target;
		if (typeof target !== 'string')
			throw new ActrError(Code.EINVALARG,
				'target: type string, ActrId string or object');
		if (target.includes('@'))
			return parseActrId(target);
		const cached = this.typeCache.get(target);
		if (cached)
			return cached;
		const ids = await this.discover(target, { limit: 1 });
		if (!ids.length)
			throw new ActrError(Code.ENOTFOUND,
				`no live actor of type ${target}`);
		this.typeCache.set(target, ids[0]);
		return ids[0];
	}

	newConn(remote) {
		const c = { key: actrIdString(remote), remote, pc: null,
			offerer: false, xid: '', remoteSdp: false, early: [],
			dcs: [null, null, null, null],
			reasm: LANES.map(() => new Reassembler()),
			msgId: [0, 0, 0, 0], open: false, waiters: [],
			streamSeq: new Map(), started: Date.now() };
		this.conns.set(c.key, c);
		return c;
	}

	dropConn(c, code, why) {
		if (this.conns.get(c.key) === c)
			this.conns.delete(c.key);
		if (c.dead)
			return;
		c.dead = true;
		this.log('info', `connection to ${c.key} closed: ${why}`);
		for (const [t, id] of this.typeCache)
			if (actrIdString(id) === c.key)
				this.typeCache.delete(t);
		const err = new ActrError(code, `${c.key}: ${why}`);
		for (const w of c.waiters)
			w.reject(err);
		c.waiters = [];
		for (const [rid, call] of this.calls) {
			if (call.conn === c) {
				this.calls.delete(rid);
				clearTimeout(call.timer);
				call.reject(err);
			}
		}
		try {
			for (const dc of c.dcs)
				dc?.close();
			c.pc?.close();
		} catch { /* already closed */ }
	}

	/** The open connection to id, set up when needed (role
	 * negotiation first, as the initiator). A setup that fails before
	 * the channels open is tried again (up to SETUP_TRIES within the
	 * deadline): a new session from scratch, as the C runtime's
	 * reconnect does. Refusals by the server (ACL, unknown peer) are
	 * final. */
	async ready(id, timeoutMs) {
		const key = actrIdString(id);
		const end = Date.now() + timeoutMs;
		for (let attempt = 1; ; attempt++) {
			let c = this.conns.get(key);
			if (c?.open)
				return c;
			if (!c)
				c = this.negotiate(id);
			const conn = c;
			const p = new Promise((resolve, reject) => {
				conn.waiters.push({ resolve, reject });
			});
			try {
				return await withTimeout(p, Math.max(1,
					end - Date.now()), `connection to ${key}`);
			} catch (e) {
				if (e.code === Code.ETIMEDOUT && !conn.open)
					this.dropConn(conn, Code.ETIMEDOUT,
						'setup timed out');
				if (e.code === Code.ETIMEDOUT || conn.refused ||
				    e.code === Code.ECLOSED ||
				    attempt >= SETUP_TRIES || Date.now() >= end)
					throw e;
				this.stats.setupRetries++;
				this.log('info', `setup to ${key} failed ` +
					`(${e.message}); trying again`);
			}
		}
	}

	/** A new connection to id and its RoleNegotiation; the
	 * RoleAssignment comes back as a relay (onRelay). */
	negotiate(id) {
		const c = this.newConn(id);
		let eid;
		try {
			eid = this.relay(id, { roleNegotiation: {
				from: this.id, to: id, realmId: this.realm } });
		} catch (e) {
			c.refused = true;
			this.dropConn(c, e.code, e.message);
			throw e;
		}
		this.awaitReply(eid, 'role negotiation').catch((e) => {
			if (c.pc)
				return;
			c.refused = true;	// ACL, unknown peer: final
			this.dropConn(c, e.code === Code.ENOTFOUND
				? Code.EUNAVAILABLE : e.code,
			`role negotiation: ${e.message}`);
		});
		return c;
	}

	makePc(c, offerer) {
		const turn = this.ok.turnCredential;
		const iceServers = (this.opts.iceServers ?? []).map((s) =>
			(String(s.urls).startsWith('turn') && !s.username && turn)
				? { ...s, username: turn.username,
					credential: turn.password }
				: s);
		const pc = new this.RTCPeerConnection({
			...(this.opts.rtcConfig ?? {}), iceServers });
		c.pc = pc;
		c.offerer = offerer;
		pc.onicecandidate = (ev) => this.onLocalCandidate(c, ev);
		pc.onconnectionstatechange = () => {
			const s = pc.connectionState;
			if (s === 'failed' || s === 'closed')
				this.dropConn(c, Code.EUNAVAILABLE,
					`peer connection ${s}`);
		};
		pc.oniceconnectionstatechange = () => {
			// a lost path: the offerer restarts ICE, the answerer
			// asks it to (as runtime/peer_restart.c does); DTLS,
			// SCTP and the calls in flight stay
			if (pc.iceConnectionState !== 'disconnected' || !c.open ||
			    c.dead)
				return;
			if (c.offerer) {
				this.restartIce(c).catch((e) => this.dropConn(c,
					Code.EUNAVAILABLE, `ICE restart: ${e.message}`));
			} else {
				try {
					this.relay(c.remote, { iceRestartRequest: {
						reason: 'ICE path lost' } });
				} catch { /* signaling down: nothing to ask */ }
			}
		};
		pc.ondatachannel = (ev) => this.attach(c, ev.channel);
		if (offerer) {
			LANES.forEach(([label, init]) =>
				this.attach(c, pc.createDataChannel(label,
					{ ...init, protocol: '' })));
			this.offer(c).catch((e) => this.dropConn(c,
				Code.EUNAVAILABLE, `offer: ${e.message}`));
		}
	}

	async offer(c) {
		const pc = c.pc;
		const o = await pc.createOffer();
		// node-datachannel's polyfill negotiates by itself when the
		// channels are created (its createOffer hands out that offer):
		// setting it again would start a second negotiation
		if (pc.signalingState !== 'have-local-offer')
			await pc.setLocalDescription(o);
		c.xid = uuid();
		c.localUfrag = ufragOf(pc.localDescription.sdp);
		this.relay(c.remote, { sessionDescription: {
			type: SDP_TYPE.OFFER, sdp: pc.localDescription.sdp,
			sdpExchangeId: c.xid } });
		this.flushCandidates(c);
	}

	onLocalCandidate(c, ev) {
		const cand = ev.candidate;
		if (!cand || !cand.candidate)
			return;	// no end-of-candidates message (PROTOCOL.md 4)
		if (!c.localUfrag) {
			// before our description went out: keep it
			(c.localCands ??= []).push(cand);
			return;
		}
		this.sendCandidate(c, cand);
	}

	flushCandidates(c) {
		for (const cand of c.localCands ?? [])
			this.sendCandidate(c, cand);
		c.localCands = [];
	}

	sendCandidate(c, cand) {
		if (c.dead)
			return;
		try {
			this.relay(c.remote, { iceCandidate: {
				candidate: cand.candidate.replace(/^a=/, ''),
				sdpMid: cand.sdpMid ?? '0',
				sdpMlineIndex: cand.sdpMLineIndex ?? 0,
				usernameFragment: cand.usernameFragment ||
					c.localUfrag } });
		} catch (e) {
			this.warnLimited('cand', `candidate: ${e.message}`);
		}
	}

	onRelay(rl, pending) {
		if (!rl.source?.type) {
			this.stats.badInput++;
			this.warnLimited('relay', 'relay without a source');
			return;
		}
		const key = actrIdString(rl.source);
		let c = this.conns.get(key);
		if (rl.roleAssignment) {
			pending?.resolve(rl.roleAssignment);
			if (c && c.pc) {
				// a new session: whatever we had is stale
				this.dropConn(c, Code.EUNAVAILABLE,
					'peer renegotiated');
				c = null;
			}
			if (!c)
				c = this.newConn(rl.source);
			if (!c.pc)
				this.makePc(c, !!rl.roleAssignment.isOfferer);
		} else if (rl.sessionDescription) {
			this.onSdp(c, rl.source, rl.sessionDescription)
				.catch((e) => {
					const cc = this.conns.get(key);
					if (cc)
						this.dropConn(cc, Code.EPROTO,
							`description: ${e.message}`);
				});
		} else if (rl.iceCandidate) {
			const ic = rl.iceCandidate;
			if (!c || !c.pc || !ic.candidate)
				return;
			if (!ic.usernameFragment) {
				this.stats.badInput++;
				return;	// dropped, as upstream does
			}
			if (!c.remoteSdp) {
				c.early.push(ic);
				return;
			}
			this.addCandidate(c, ic);
		} else if (rl.iceRestartRequest) {
			if (c?.open && c.offerer)
				this.restartIce(c).catch((e) => this.dropConn(c,
					Code.EUNAVAILABLE,
					`ICE restart: ${e.message}`));
		}
	}

	addCandidate(c, ic) {
		if (ic.usernameFragment !== c.remoteUfrag)
			return;	// an old ICE generation
		c.pc.addIceCandidate({ candidate: ic.candidate,
			sdpMid: ic.sdpMid ?? '0',
			sdpMLineIndex: ic.sdpMlineIndex ?? 0 }).catch((e) =>
			this.warnLimited('addcand', `candidate from ${c.key} ` +
				`refused: ${e.message}`));
	}

	async onSdp(c, src, sd) {
		const isOffer = sd.type === SDP_TYPE.OFFER ||
			sd.type === SDP_TYPE.ICE_RESTART_OFFER ||
			sd.type === SDP_TYPE.RENEGOTIATION_OFFER;
		if (!sd.sdpExchangeId) {
			this.stats.badInput++;
			this.warnLimited('xid', 'description without ' +
				'sdp_exchange_id ignored');
			return;
		}
		if (sd.type === SDP_TYPE.ICE_RESTART_OFFER && c?.open &&
		    !c.offerer) {
			await this.answerRestart(c, sd);
			return;
		}
		if (isOffer) {
			if (c && (c.remoteSdp || (c.pc && c.offerer))) {
				this.dropConn(c, Code.EUNAVAILABLE,
					'peer started a new session');
				c = null;
			}
			if (!c)
				c = this.newConn(src);
			c.xid = sd.sdpExchangeId;
			if (!c.pc)
				this.makePc(c, false);
			await c.pc.setRemoteDescription({ type: 'offer',
				sdp: sd.sdp });
			c.remoteSdp = true;
			c.remoteUfrag = ufragOf(sd.sdp);
			const a = await c.pc.createAnswer();
			await c.pc.setLocalDescription(a);
			c.localUfrag = ufragOf(c.pc.localDescription.sdp);
			this.relay(c.remote, { sessionDescription: {
				type: SDP_TYPE.ANSWER,
				sdp: c.pc.localDescription.sdp,
				sdpExchangeId: c.xid } });
			this.flushCandidates(c);
		} else {
			if (!c || !c.pc || !c.offerer ||
			    (c.remoteSdp && !c.restarting))
				return;	// unexpected answer
			if (sd.sdpExchangeId !== c.xid)
				return;	// stale answer
			await c.pc.setRemoteDescription({ type: 'answer',
				sdp: sd.sdp });
			c.remoteSdp = true;
			c.restarting = false;
			c.remoteUfrag = ufragOf(sd.sdp);
		}
		for (const ic of c.early.splice(0))
			this.addCandidate(c, ic);
	}

	/** ICE restart as the offerer (the answerer asked: PROTOCOL.md 4,
	 * runtime/peer_restart.c): new ICE credentials, a fresh exchange id
	 * on an ICE_RESTART_OFFER; the channels stay. One at a time. */
	async restartIce(c) {
		if (c.restarting)
			return;
		c.restarting = true;
		this.stats.iceRestarts++;
		const o = await c.pc.createOffer({ iceRestart: true });
		await c.pc.setLocalDescription(o);
		c.xid = uuid();
		c.localUfrag = ufragOf(c.pc.localDescription.sdp);
		this.relay(c.remote, { sessionDescription: {
			type: SDP_TYPE.ICE_RESTART_OFFER,
			sdp: c.pc.localDescription.sdp, sdpExchangeId: c.xid } });
	}

	/** The answer to a restart offer on an open connection: the same
	 * session with new ICE credentials; candidates of the old
	 * generation are dropped by their ufrag from now on. */
	async answerRestart(c, sd) {
		this.stats.iceRestarts++;
		c.xid = sd.sdpExchangeId;
		await c.pc.setRemoteDescription({ type: 'offer', sdp: sd.sdp });
		c.remoteUfrag = ufragOf(sd.sdp);
		const a = await c.pc.createAnswer();
		await c.pc.setLocalDescription(a);
		c.localUfrag = ufragOf(c.pc.localDescription.sdp);
		this.relay(c.remote, { sessionDescription: {
			type: SDP_TYPE.ANSWER, sdp: c.pc.localDescription.sdp,
			sdpExchangeId: c.xid } });
	}

	attach(c, dc) {
		const lane = LANE[dc.label];
		if (lane === undefined) {
			this.log('debug', `channel "${dc.label}" ignored`);
			return;
		}
		dc.binaryType = 'arraybuffer';
		c.dcs[lane] = dc;
		const opened = () => {
			if (lane === LANE.RPC_RELIABLE && !c.open && !c.dead) {
				c.open = true;
				c.setupMs = Date.now() - c.started;
				for (const w of c.waiters.splice(0))
					w.resolve(c);
			}
		};
		if (dc.readyState === 'open')
			opened();
		else
			dc.onopen = opened;
		dc.onmessage = (ev) => this.onDcMessage(c, lane, ev.data);
		dc.onclose = () => {
			if (lane === LANE.RPC_RELIABLE)
				this.dropConn(c, Code.EUNAVAILABLE,
					'channel closed');
		};
	}

	/** Send one message on a lane, fragmented, waiting for the
	 * channel's buffer to drain above the high-water mark. */
	async lanesend(c, lane, bytes) {
		const dc = c.dcs[lane];
		if (!dc || dc.readyState !== 'open')
			throw new ActrError(Code.ENOTREADY,
				`${LANES[lane][0]} to ${c.key} not open`);
		const id = c.msgId[lane];
		c.msgId[lane] = (id + 1) >>> 0;
		for (const f of fragment(bytes, id)) {
			if (dc.bufferedAmount > SEND_HIGH_WATER)
				await this.drain(dc);
			if (dc.readyState !== 'open')
				throw new ActrError(Code.EUNAVAILABLE,
					`${LANES[lane][0]} to ${c.key} closed`);
			dc.send(f);
		}
	}

	drain(dc) {
		dc.bufferedAmountLowThreshold = SEND_LOW_WATER;
		return new Promise((resolve) => {
			const done = () => {
				clearInterval(poll);
				dc.removeEventListener?.('bufferedamountlow', done);
				resolve();
			};
			dc.addEventListener?.('bufferedamountlow', done);
			// and a poll, for channels whose event never fires
			const poll = setInterval(() => {
				if (dc.bufferedAmount <= SEND_LOW_WATER ||
				    dc.readyState !== 'open')
					done();
			}, 20);
		});
	}

	// ---- RPC -------------------------------------------------------

	async send(target, route, payload, opts, tell) {
		if (this.closed)
			throw new ActrError(Code.ECLOSED, 'client closed');
		const timeoutMs = opts.timeoutMs ?? DEFAULT_CALL_MS;
		const deadline = Date.now() + timeoutMs;
		const bytes = toBytes(payload);
		const id = await this.resolveTarget(target, opts);
		const c = await this.ready(id, Math.max(1,
			deadline - Date.now()));
		const rid = uuid();
		const env = encodeRpc({ routeKey: route, payload: bytes,
			direction: tell ? Direction.TELL : Direction.REQUEST,
			requestId: rid, metadata: opts.metadata ?? [],
			timeoutMs: tell ? 0 : Math.max(1, deadline - Date.now()) });
		const lane = opts.lane === 'RPC_SIGNAL' ? LANE.RPC_SIGNAL
			: LANE.RPC_RELIABLE;
		this.stats.calls++;
		if (tell)
			return this.lanesend(c, lane, env);
		const p = new Promise((resolve, reject) => {
			const call = { conn: c, resolve, reject };
			call.timer = setTimeout(() => {
				this.calls.delete(rid);
				reject(new ActrError(Code.ETIMEDOUT,
					`${route}: no reply in ${timeoutMs} ms`));
			}, Math.max(1, deadline - Date.now()));
			this.calls.set(rid, call);
		});
		try {
			await this.lanesend(c, lane, env);
		} catch (e) {
			const call = this.calls.get(rid);
			if (call) {
				this.calls.delete(rid);
				clearTimeout(call.timer);
			}
			throw e;
		}
		return p;
	}

	onDcMessage(c, lane, data) {
		let msg;
		try {
			msg = c.reasm[lane].push(toBytes(data));
		} catch (e) {
			this.stats.badInput++;
			this.warnLimited('frag', `from ${c.key}: ${e.message}`);
			return;
		}
		if (!msg)
			return;
		if (lane >= LANE.STREAM_RELIABLE) {
			this.onChunk(c, msg);
			return;
		}
		let env;
		try {
			env = decodeRpc(msg);
		} catch (e) {
			this.stats.badInput++;
			this.warnLimited('rpc', `from ${c.key}: ${e.message}`);
			return;
		}
		if (env.direction === Direction.RESPONSE) {
			const call = this.calls.get(env.requestId);
			if (!call) {
				this.warnLimited('stale', `response ` +
					`${env.requestId} from ${c.key}: no such call`);
				return;
			}
			this.calls.delete(env.requestId);
			clearTimeout(call.timer);
			if (env.error)
				call.reject(new ActrError(env.error.code,
					env.error.message));
			else
				call.resolve(env.payload ?? new Uint8Array(0));
			return;
		}
		this.handle(c, env);
	}

	async handle(c, env) {
		const tell = env.direction === Direction.TELL;
		const rid = env.requestId;
		if (!tell) {
			this.pruneDedup();
			const d = this.dedup.get(rid);
			if (d) {
				if (d.bytes)	// a repeat: answer from the cache
					this.lanesend(c, LANE.RPC_RELIABLE, d.bytes)
						.catch(() => {});
				return;
			}
			this.dedup.set(rid, { at: Date.now(), bytes: null });
		}
		const h = this.routes.get(env.routeKey);
		let reply;
		if (!h) {
			reply = { error: { code: Code.EUNKNOWNROUTE,
				message: `no handler for ${env.routeKey}` } };
		} else {
			try {
				const out = await h(env.payload ?? new Uint8Array(0),
					{ caller: c.remote, callerId: c.key,
						route: env.routeKey, requestId: rid,
						metadata: env.metadata ?? [],
						deadline: Date.now() + env.timeoutMs,
						tell });
				reply = { payload: out === undefined
					? new Uint8Array(0) : toBytes(out) };
				this.stats.served++;
			} catch (e) {
				reply = { error: e instanceof ActrError &&
					e.code >= 10001 && e.code <= 10011
					? { code: e.code, message: e.message }
					: { code: Code.EINTERNAL,
						message: String(e?.message ?? e) } };
			}
		}
		if (tell)
			return;
		const bytes = encodeRpc({ routeKey: env.routeKey,
			direction: Direction.RESPONSE, requestId: rid,
			timeoutMs: 0, ...reply });
		this.dedup.set(rid, { at: Date.now(), bytes });
		const cur = this.conns.get(c.key) ?? c;
		this.lanesend(cur, LANE.RPC_RELIABLE, bytes).catch((e) =>
			this.warnLimited('reply', `reply to ${c.key}: ` +
				e.message));
	}

	pruneDedup() {
		const old = Date.now() - DEDUP_MS;
		for (const [k, v] of this.dedup) {
			if (v.at >= old)
				break;	// insertion order = age order
			this.dedup.delete(k);
		}
	}

	onChunk(c, msg) {
		let ch;
		try {
			ch = T.DataChunk.decode(msg);
		} catch (e) {
			this.stats.badInput++;
			this.warnLimited('chunk', `from ${c.key}: ${e.message}`);
			return;
		}
		const cb = this.streams.get(ch.streamId);
		if (!cb)
			return;
		try {
			cb(ch.payload, { caller: c.remote, callerId: c.key,
				streamId: ch.streamId,
				sequence: Number(ch.sequence),
				metadata: ch.metadata ?? [] });
		} catch (e) {
			this.warnLimited('streamcb', `stream callback: ` +
				e.message);
		}
	}
}
