// A minimal application backend that hands pages credentials, so a realm
// with a secret never ships it to a browser. The backend holds the secret,
// decides who may have an identity (here: anyone; a real application
// checks its own session first, see the mark below) and registers with
// actr-signal on the page's behalf; the page passes the RegisterResponse
// bytes to ActrClient as `credential`.
//
//   ACTR_REALM_SECRET=... node web/demo/backend.mjs \
//       --signal http://127.0.0.1:8090 --realm 101 --type acme:web:1.0.0 \
//       --listen 127.0.0.1:8091 --allow-origin http://127.0.0.1:8090
//
//   POST /credential   200, application/octet-stream: a RegisterResponse
//                      (or actr-signal's error status and body)
//
// The secret comes from the environment (or --secret-file), not the
// command line, where other users could read it. The type is the
// backend's choice, never the page's.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { T } from '../wire.js';

const a = Object.fromEntries(process.argv.slice(2).reduce((acc, v, i, all) =>
	(v.startsWith('--') ? [...acc, [v.slice(2), all[i + 1]]] : acc), []));
const secret = a['secret-file']
	? readFileSync(a['secret-file'], 'utf8').trim()
	: process.env.ACTR_REALM_SECRET;
if (!a.signal || !a.realm || !a.type || !a.listen || !secret) {
	console.error('usage: ACTR_REALM_SECRET=S node backend.mjs --signal URL ' +
		'--realm ID --type MFR:NAME:VER --listen HOST:PORT ' +
		'[--allow-origin ORIGIN] [--secret-file F]');
	process.exit(2);
}
const [manufacturer, name, version] = a.type.split(':');
const origin = a['allow-origin'];
const [host, port] = [a.listen.slice(0, a.listen.lastIndexOf(':')),
	Number(a.listen.slice(a.listen.lastIndexOf(':') + 1))];
let issued = 0;

async function register() {
	const req = T.RegisterRequest.encode({
		actrType: { manufacturer, name, version },
		realm: { realmId: Number(a.realm) },
		authMode: 2,	// LINKED
	}).finish();
	const res = await fetch(`${a.signal.replace(/\/+$/, '')}/ais/register`, {
		method: 'POST',
		headers: { 'content-type': 'application/x-protobuf',
			   'x-actrix-realm-secret': secret },
		body: req,
		signal: AbortSignal.timeout(5000),
	});
	return { status: res.status, body: new Uint8Array(await res.arrayBuffer()) };
}

const srv = createServer(async (q, r) => {
	const cors = origin && q.headers.origin === origin
		? { 'access-control-allow-origin': origin, vary: 'Origin' }
		: { vary: 'Origin' };
	if (q.url !== '/credential') {
		r.writeHead(404, cors).end();
		return;
	}
	if (q.method === 'OPTIONS') {
		r.writeHead(204, { ...cors, 'access-control-allow-methods': 'POST',
			'access-control-max-age': '600' }).end();
		return;
	}
	if (q.method !== 'POST') {
		r.writeHead(405, { ...cors, allow: 'POST, OPTIONS' }).end();
		return;
	}
	// <- an application authenticates its user here (session cookie,
	//    token) and refuses with 401/403 before registering anything
	try {
		const { status, body } = await register();
		issued++;
		r.writeHead(status, { ...cors,
			'content-type': 'application/octet-stream',
			'cache-control': 'no-store' }).end(body);
	} catch (e) {
		r.writeHead(502, cors).end(`actr-signal: ${e.message}`);
	}
});
srv.listen(port, host, () =>
	console.log(`ready backend on http://${host}:${port}/credential ` +
		    `(realm ${a.realm}, type ${a.type})`));
process.on('SIGTERM', () => {
	console.log(`issued ${issued} credentials`);
	srv.close();
	process.exit(0);
});
