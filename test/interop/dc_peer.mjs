// libdatachannel peer for the interop tests (test/test_pc_datachannel.c),
// through node-datachannel's native API (not the W3C polyfill).
//
// Usage: node dc_peer.mjs offer|answer NPM_DIR
//   NPM_DIR holds node_modules/node-datachannel (test/interop/npm-fetch.sh).
//
// Line protocol on stdin/stdout (SDP and candidates base64-encoded, one
// line each):
//   C -> node: "SDP <b64>"     the C side's offer or answer
//              "CAND <b64>"    one of its candidates ("candidate:...")
//              "CANDEND"       its end of candidates
//   node -> C: "SDP <b64>"     our offer or answer (trickle: no candidates)
//              "CAND <b64>"    one of our candidates
//              "CANDEND"       our gathering finished
//              "OPEN <label> <protocol or -> <stream id>"  per open channel
//              "READY"         loaded, before anything else (so setup
//                              times do not include Node's start)
//              "ERR <text>"    something went wrong here (the test fails)
//              "DONE"          stdin closed, exiting
// Every DataChannel message received is sent back unchanged on the same
// channel (echo). When a channel opens, one greeting is sent on it: the
// actr 8-byte fragment header (msg_id 0, frag 0 of 1) + "hello <label>".
// As offerer it opens the four lanes of PROTOCOL.md 7 and a channel with a
// foreign label ("EXTRA"), which the C answerer must ignore.
//
// Only 127.0.0.1 is used (bindAddress), no STUN/TURN server. The process
// ends by itself after 60 s.
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const [role, npmDir] = process.argv.slice(2);
if ((role !== 'offer' && role !== 'answer') || !npmDir) {
	console.error('usage: dc_peer.mjs offer|answer NPM_DIR');
	process.exit(2);
}
const require = createRequire(join(resolve(npmDir), 'package.json'));
const ndc = require('node-datachannel');

const LANES = [
	['RPC_RELIABLE', {}],
	['RPC_SIGNAL', {}],
	['STREAM_RELIABLE', {}],
	['STREAM_LATENCY_FIRST', { unordered: true, maxRetransmits: 3 }],
];

const out = (line) => process.stdout.write(line + '\n');
const b64 = (s) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s) => Buffer.from(s, 'base64').toString('utf8');

ndc.initLogger('Warning', (level, msg) =>
	process.stderr.write(`libdatachannel ${level}: ${msg}\n`));

const pc = new ndc.PeerConnection('dc_peer', {
	iceServers: [],
	bindAddress: '127.0.0.1',
});
const channels = [];	// keep every channel referenced
out('READY');
let remoteMid = '0';

pc.onLocalDescription((sdp, type) => out('SDP ' + b64(sdp)));
pc.onLocalCandidate((cand, mid) => out('CAND ' + b64(cand)));
pc.onGatheringStateChange((st) => {
	if (st === 'complete')
		out('CANDEND');
});

function greeting(label) {
	const hdr = Buffer.alloc(8);

	hdr.writeUInt32BE(0, 0);	// msg_id
	hdr.writeUInt16BE(0, 4);	// frag_index
	hdr.writeUInt16BE(1, 6);	// total_frags
	return Buffer.concat([hdr, Buffer.from('hello ' + label)]);
}

function attach(dc) {
	let opened = false;
	const label = dc.getLabel();
	const onOpen = () => {
		if (opened)
			return;
		opened = true;
		out(`OPEN ${label} ${dc.getProtocol() || '-'} ${dc.getId()}`);
		if (label !== 'EXTRA')
			dc.sendMessageBinary(greeting(label));
	};

	channels.push(dc);
	dc.onMessage((msg) => {
		try {
			if (typeof msg === 'string')
				dc.sendMessage(msg);
			else
				dc.sendMessageBinary(Buffer.from(msg));
		} catch (e) {
			out(`ERR echo on ${label}: ${e.message}`);
		}
	});
	dc.onError((e) => out(`ERR channel ${label}: ${e}`));
	dc.onOpen(onOpen);
	if (dc.isOpen())
		onOpen();
}

pc.onDataChannel(attach);

if (role === 'offer') {
	for (const [label, opts] of LANES)
		attach(pc.createDataChannel(label, { protocol: '', ...opts }));
	attach(pc.createDataChannel('EXTRA'));
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
	try {
		if (line.startsWith('SDP ')) {
			const sdp = unb64(line.slice(4));
			const m = /^a=mid:(\S+)/m.exec(sdp);

			if (m)
				remoteMid = m[1];
			pc.setRemoteDescription(sdp,
				role === 'offer' ? 'answer' : 'offer');
		} else if (line.startsWith('CAND ')) {
			pc.addRemoteCandidate(unb64(line.slice(5)), remoteMid);
		} else if (line === 'CANDEND') {
			// libdatachannel has no end-of-candidates call: nothing
		} else if (line.length) {
			out(`ERR unknown line ${line.slice(0, 40)}`);
		}
	} catch (e) {
		out(`ERR ${e.message}`);
	}
});
rl.on('close', () => {
	for (const dc of channels)
		dc.close();
	pc.close();
	ndc.cleanup();
	out('DONE');
	process.exit(0);
});
setTimeout(() => {
	out('ERR dc_peer: 60 s passed, exiting');
	process.exit(1);
}, 60000).unref();
