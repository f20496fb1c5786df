/* libFuzzer target: the signaling server's sans-I/O core (server/core.c,
 * server/dispatch.c) behind a fake transport and a fake clock. A fresh
 * core per input (SQLite in memory) with three actors registered over
 * /ais/register in realm 101 and connected: A (acme:a) on conn 1
 * (offerer), B (acme:b) on conn 2 (webrtc_role=answer) and C (acme:b) on
 * conn 3, so a route request for acme:b ranks two candidates. A and B
 * send; C only answers as a candidate. The input is records, op u8, len u16,
 * bytes; op bits 0-2 pick the kind, bit 3 the actor (A or B), bits 4-7 a
 * sub-selector:
 *   0 raw:    the bytes as one WebSocket binary message from the actor
 *   1 a2s:    the bytes decoded as the ActrToSignaling payload the
 *             sub-selector picks (the n-th oneof member by field number),
 *             sent with the actor's real source and credential (so
 *             authentication passes and dispatch runs)
 *   2 relay:  the same for an ActrRelay payload (bits 4-6) to the other
 *             actor, or with bit 7 to itself (bit 4 set) or to nobody
 *   3 http:   the bytes as the body of POST /ais/register (with or
 *             without the realm secret) or /ais/renew, or a GET
 *   4 renew:  POST /ais/renew for the actor with its real renewal token
 *             (or the bytes as the token)
 *   5 clock:  advance the fake clock by the bytes (u16 seconds) and tick
 *   6 conn:   the transport closes the actor's connection, or reconnects
 *             it with its current credential
 *   7 query:  the bytes as the /signaling/ws upgrade query
 * Invariants: HTTP replies carry only the documented statuses, and a
 * register/renew body decodes with success exactly when the status is
 * 200, its credential verifying against the server's keys; every frame
 * the core sends decodes as a SignalingEnvelope and goes to a connection
 * that is open and not asked to close; a relayed envelope reaches the
 * other actor byte for byte; an undecodable message moves rej_bad by one
 * and is answered once; counters never go back; live actors never
 * outnumber open connections. Logging is at error level.
 *
 * State: setting a core up costs ~20 ms (SQLite, a signing key, three
 * registrations), so a core is reused by the next input while it is
 * intact (all three actors live on their connections, the clock unmoved) and
 * at most RESET_EVERY inputs; rate limits are raised so reuse does not
 * drain them. FUZZ_SIGNAL_FRESH=1 in the environment sets a core up for
 * every input (use it to reproduce a crash from its input alone). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <actr/error.h>
#include <actr/log.h>
#include <actr/util.h>

#include "server/signal_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	NCONN = 5,		/* conn ids 1..4 used; index by id */
	QUERY_CONN = 4,		/* conn of the fuzzed upgrade queries */
	SECRET_REALM = 101,	/* realm with secret "s3cret" */
	OPEN_REALM = 102,	/* realm without a secret */
	FRAMES_MAX = 4096,	/* sends per input before aborting */
	RESET_EVERY = 256,	/* inputs per core at most */
};

struct actor {
	Actr__RegisterResponse *resp;	/* owned; NULL = not registered */
	Actr__RegisterResponse__RegisterOk *ok;	/* = resp->success */
	uint64_t conn;			/* its connection id */
	bool answer;			/* connects as answerer */
};

struct fz {
	struct actr__sig_server *s;	/* core under test */
	struct actr__sig_config cfg;
	struct actr__sig_io io;
	uint64_t now;			/* fake wall clock, ms */
	bool open[NCONN];		/* conn is open (transport side) */
	bool closing[NCONN];		/* core asked to close it */
	uint64_t pending_close[8];	/* closes to report after the call */
	unsigned npending;
	unsigned frames[NCONN];		/* frames sent per conn */
	unsigned nframes;		/* total this input */
	const uint8_t *relay;		/* bytes of the relay being fed */
	size_t relay_len;
	unsigned relay_seen;		/* sends byte-identical to it */
	struct actr__sig_stats st;	/* last counters seen */
	struct actor a[3];		/* A, B and C */
};

static struct fz fz;

/* ---- fake transport ----------------------------------------------------- */

static int fake_send(void *ctx, uint64_t conn, const uint8_t *data,
		     size_t len)
{
	Signaling__SignalingEnvelope *env;

	(void)ctx;
	if (conn >= NCONN || !fz.open[conn] || fz.closing[conn] ||
	    ++fz.nframes > FRAMES_MAX)
		abort();
	env = signaling__signaling_envelope__unpack(NULL, len, data);
	if (!env)
		abort();
	signaling__signaling_envelope__free_unpacked(env, NULL);
	fz.frames[conn]++;
	if (fz.relay && len == fz.relay_len && !memcmp(data, fz.relay, len))
		fz.relay_seen++;
	return 0;
}

static void fake_close(void *ctx, uint64_t conn, int code, const char *why)
{
	(void)ctx;
	(void)why;
	if (conn >= NCONN || !fz.open[conn] || code < 1000 || code > 4999)
		abort();
	if (!fz.closing[conn] && fz.npending < 8) {
		fz.closing[conn] = true;
		fz.pending_close[fz.npending++] = conn;
	}
}

/* The transport reports the closes the core asked for, after the call
 * (as server/listen.c does from its own loop). */
static void report_closes(void)
{
	for (unsigned i = 0; i < fz.npending; i++) {
		uint64_t c = fz.pending_close[i];

		fz.open[c] = false;
		fz.closing[c] = false;
		actr__sig_conn_closed(fz.s, c);
	}
	fz.npending = 0;
}

/* ---- checks ------------------------------------------------------------- */

/* Every counter is a uint64_t; they are compared as an array. */
_Static_assert(sizeof(struct actr__sig_stats) % sizeof(uint64_t) == 0,
	       "struct actr__sig_stats holds uint64_t counters only");

static void check_stats(void)
{
	const struct actr__sig_stats *b = actr__sig_stats(fz.s);
	const uint64_t *x = (const uint64_t *)&fz.st, *y = (const uint64_t *)b;
	size_t open = 0;

	for (size_t i = 0; i < sizeof(*b) / sizeof(uint64_t); i++)
		if (y[i] < x[i])
			abort();
	fz.st = *b;
	for (unsigned c = 0; c < NCONN; c++)
		open += fz.open[c];
	if (actr__sig_live_count(fz.s) > open)
		abort();
}

/* A reply of register/renew: status and body agree; a success carries a
 * credential that verifies. Returns the decoded reply on success (owned
 * by the caller), else NULL. */
static Actr__RegisterResponse *check_reg_reply(
	const struct actr__sig_http_reply *rep)
{
	Actr__RegisterResponse *r;
	Actr__RegisterResponse__RegisterOk *ok;
	char id[512];

	if (rep->status != 200 && rep->status != 400 && rep->status != 401 &&
	    rep->status != 403 && rep->status != 429 && rep->status != 500)
		abort();
	r = actr__register_response__unpack(NULL, rep->len, rep->body);
	if (!r || (rep->status == 200) !=
			  (r->result_case ==
			   ACTR__REGISTER_RESPONSE__RESULT_SUCCESS))
		abort();
	if (rep->status != 200) {
		actr__register_response__free_unpacked(r, NULL);
		return NULL;
	}
	ok = r->success;
	if (actr__sig_id_str(ok->actr_id, id, sizeof(id)) <= 0 ||
	    actr__sig_cred_verify(actr__sig_identity(fz.s), ok->credential, id,
				  ok->actr_id->realm->realm_id,
				  fz.now / 1000, NULL) != 0)
		abort();
	return r;
}

/* ---- actors ------------------------------------------------------------- */

static int do_http(const char *method, const char *target, const uint8_t *b,
		   size_t n, const char *secret,
		   struct actr__sig_http_reply *rep)
{
	int rc = actr__sig_http(fz.s, method, target, b, n, secret,
				"127.0.0.1", fz.now, rep);

	if (rc != 0 && rc != -ENOMEM)
		abort();
	return rc;
}

static void reg(struct actor *a, const char *name)
{
	Actr__RegisterRequest req = ACTR__REGISTER_REQUEST__INIT;
	Actr__ActrType t = ACTR__ACTR_TYPE__INIT;
	Actr__Realm r = ACTR__REALM__INIT;
	struct actr__sig_http_reply rep;
	uint8_t buf[512];
	size_t n;

	t.manufacturer = "acme";
	t.name = (char *)name;
	t.version = "1.0.0";
	r.realm_id = SECRET_REALM;
	req.actr_type = &t;
	req.realm = &r;
	req.has_auth_mode = true;
	req.auth_mode = ACTR__REGISTER_AUTH_MODE__REGISTER_AUTH_MODE_LINKED;
	n = actr__register_request__pack(&req, buf);
	if (do_http("POST", "/ais/register", buf, n, "s3cret", &rep) != 0)
		abort();
	a->resp = check_reg_reply(&rep);
	free(rep.body);
	if (!a->resp)
		abort();
	a->ok = a->resp->success;
}

/* The upgrade query of an actor, as sh_query() in test/signal_harness.c
 * builds it (that file needs the test runner, so it is not linked here). */
static void pct(const char *in, char *out)
{
	for (; *in; in++) {
		if (*in == '+' || *in == '/' || *in == '=') {
			sprintf(out, "%%%02X", (unsigned char)*in);
			out += 3;
		} else {
			*out++ = *in;
		}
	}
	*out = 0;
}

static void query(const struct actor *a, char *out, size_t cap)
{
	char c64[1024], s64[256], cp[3072], sp[768], id[512];
	const Actr__AIdCredential *c = a->ok->credential;

	if (c->claims.len > 700 || c->signature.len > 180 ||
	    actr__sig_id_str(a->ok->actr_id, id, sizeof(id)) <= 0)
		abort();
	actr_base64_encode(c->claims.data, c->claims.len, c64, 0);
	actr_base64_encode(c->signature.data, c->signature.len, s64, 0);
	pct(c64, cp);
	pct(s64, sp);
	snprintf(out, cap,
		 "/signaling/ws?actor_id=%s&key_id=%u&claims=%s&signature=%s%s",
		 id, c->key_id, cp, sp, a->answer ? "&webrtc_role=answer" : "");
}

/* ws_check + conn_open of target on conn; true when connected. */
static bool connect_target(const char *target, uint64_t conn)
{
	struct actr__sig_http_reply rep;
	int st = actr__sig_ws_check(fz.s, target, "127.0.0.1", fz.now, &rep);

	free(rep.body);
	if (st != 101 && st != 400 && st != 401 && st != 403 && st != 429 &&
	    st != 503)
		abort();
	if (st != 101 || fz.open[conn])
		return false;
	fz.open[conn] = true;
	if (actr__sig_conn_open(fz.s, conn, target, "127.0.0.1", fz.now) !=
	    0) {
		fz.open[conn] = false;
		return false;
	}
	report_closes(); /* a replaced connection */
	return true;
}

static void connect_actor(struct actor *a)
{
	char q[4096];

	query(a, q, sizeof(q));
	connect_target(q, a->conn);
}

static void setup(void)
{
	memset(&fz, 0, sizeof(fz));
	actr__sig_config_defaults(&fz.cfg);
	fz.cfg.db_path = ":memory:";
	fz.cfg.turn_secret = "turnsecret";
	fz.cfg.conn_per_min = 1e6;
	fz.cfg.conn_burst = 1e6;
	fz.cfg.reg_per_min = 1e6;
	fz.cfg.reg_burst = 1e6;
	fz.cfg.msg_per_s = 1e6;
	fz.cfg.msg_burst = 1e6;
	fz.io.send = fake_send;
	fz.io.close = fake_close;
	fz.now = 1800000000000ull;
	fz.s = actr__sig_new(&fz.cfg, &fz.io, fz.now);
	if (!fz.s || actr__sig_add_realm(fz.s, SECRET_REALM, "s3cret") < 0 ||
	    actr__sig_add_realm(fz.s, OPEN_REALM, NULL) < 0)
		abort();
	fz.a[0].conn = 1;
	fz.a[1].conn = 2;
	fz.a[1].answer = true;
	fz.a[2].conn = 3;
	reg(&fz.a[0], "a");
	reg(&fz.a[1], "b");
	reg(&fz.a[2], "b");
	for (int i = 0; i < 3; i++)
		connect_actor(&fz.a[i]);
	if (!fz.open[1] || !fz.open[2] || !fz.open[3] ||
	    actr__sig_live_count(fz.s) != 3)
		abort();
	fz.st = *actr__sig_stats(fz.s);
}

static void teardown(void)
{
	actr__sig_free(fz.s);
	for (int i = 0; i < 3; i++)
		if (fz.a[i].resp)
			actr__register_response__free_unpacked(fz.a[i].resp,
							       NULL);
}

/* ---- operations --------------------------------------------------------- */

/* One WebSocket message from conn, with the undecodable-message check. */
static void frame(uint64_t conn, const uint8_t *d, size_t n)
{
	Signaling__SignalingEnvelope *env;
	uint64_t bad = fz.st.rej_bad;
	unsigned sent = fz.frames[conn];
	bool live = fz.open[conn] && !fz.closing[conn];

	actr__sig_conn_frame(fz.s, conn, d, n, fz.now);
	env = signaling__signaling_envelope__unpack(NULL, n, d);
	if (env) {
		signaling__signaling_envelope__free_unpacked(env, NULL);
	} else if (live) {
		if (actr__sig_stats(fz.s)->rej_bad != bad + 1 ||
		    fz.frames[conn] != sent + 1)
			abort();
	}
	report_closes();
}

/* The sub-selector's oneof member of desc (a message with one oneof). */
static const ProtobufCFieldDescriptor *pick_field(
	const ProtobufCMessageDescriptor *desc, unsigned sel)
{
	const ProtobufCFieldDescriptor *f[32];
	unsigned n = 0;

	for (unsigned i = 0; i < desc->n_fields && n < 32; i++)
		if (desc->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
			f[n++] = &desc->fields[i];
	return n ? f[sel % n] : NULL;
}

/* Set oneof member f of msg to payload (protobuf-c keeps the case at
 * quantifier_offset and the member pointer at offset). */
static void set_oneof(void *msg, const ProtobufCFieldDescriptor *f,
		      ProtobufCMessage *payload)
{
	uint32_t id = f->id;

	memcpy((uint8_t *)msg + f->quantifier_offset, &id, sizeof(id));
	memcpy((uint8_t *)msg + f->offset, &payload, sizeof(payload));
}

static void authed(unsigned op, const uint8_t *d, size_t n)
{
	struct actor *a = &fz.a[(op >> 3) & 1], *b = &fz.a[!((op >> 3) & 1)];
	unsigned sel = op >> 4;
	bool relay = (op & 7) == 2;
	const ProtobufCFieldDescriptor *f = pick_field(
		relay ? &signaling__actr_relay__descriptor
		      : &signaling__actr_to_signaling__descriptor,
		relay ? sel & 7 : sel);
	Signaling__SignalingEnvelope env = SIGNALING__SIGNALING_ENVELOPE__INIT;
	Signaling__ActrToSignaling m = SIGNALING__ACTR_TO_SIGNALING__INIT;
	Signaling__ActrRelay rl = SIGNALING__ACTR_RELAY__INIT;
	Actr__ActrId nobody = ACTR__ACTR_ID__INIT;
	ProtobufCMessage *payload;
	uint8_t *buf, *fwd = NULL;
	size_t len, fwd_len = 0;
	unsigned relayed = fz.relay_seen;
	uint64_t relays = fz.st.relayed;

	if (!f || !a->ok)
		return;
	payload = protobuf_c_message_unpack(f->descriptor, NULL, n, d);
	if (!payload)
		return;
	env.envelope_version = 2;
	env.envelope_id = "fz-1";
	if (relay) {
		rl.source = a->ok->actr_id;
		rl.credential = a->ok->credential;
		if (!(sel & 8))
			rl.target = b->ok ? b->ok->actr_id : &nobody;
		else if (sel & 1)
			rl.target = a->ok->actr_id;
		else
			rl.target = &nobody; /* no realm, no type */
		set_oneof(&rl, f, payload);
		env.flow_case = SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY;
		env.actr_relay = &rl;
	} else {
		m.source = a->ok->actr_id;
		m.credential = a->ok->credential;
		set_oneof(&m, f, payload);
		env.flow_case =
			SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_TO_SERVER;
		env.actr_to_server = &m;
	}
	buf = actr__sig_env_pack(&env, &len);
	if (relay && buf) {
		/* what the target must receive: the same envelope with the
		 * sender's credential blanked (it never leaves its owner) */
		Actr__AIdCredential blank = ACTR__AID_CREDENTIAL__INIT;

		rl.credential = &blank;
		fwd = actr__sig_env_pack(&env, &fwd_len);
	}
	protobuf_c_message_free_unpacked(payload, NULL);
	if (!buf || (relay && !fwd)) {
		free(buf);
		free(fwd);
		return;
	}
	fz.relay = fwd;
	fz.relay_len = fwd_len;
	frame(a->conn, buf, len);
	fz.relay = NULL;
	/* a forwarded relay goes out as sent but for the blanked credential
	 * (a role negotiation is answered with two new assignments
	 * instead) */
	if (actr__sig_stats(fz.s)->relayed > relays &&
	    fz.relay_seen != relayed + 1)
		abort();
	free(buf);
	free(fwd);
}

static void http(unsigned op, const uint8_t *d, size_t n)
{
	static const char *const paths[] = {
		"/ais/register", "/ais/register", "/ais/renew",
		"/ais/health", "/ais/signing-pubkey", "/ais/renew?x=1",
		"/signaling/ws", "/nope",
	};
	unsigned sel = op >> 4;
	const char *path = paths[sel & 7];
	bool get = sel & 8 && sel & 1;
	struct actr__sig_http_reply rep;
	Actr__RegisterResponse *r;

	if (do_http(get ? "GET" : "POST", path, d, n,
		    op & 8 ? "s3cret" : NULL, &rep) != 0)
		return;
	if (!get && !strncmp(path, "/ais/re", 7)) {
		r = check_reg_reply(&rep);
		if (r)
			actr__register_response__free_unpacked(r, NULL);
	} else if (rep.status != 200 && rep.status != 404 &&
		   rep.status != 405 && rep.status != 426) {
		abort();
	}
	free(rep.body);
}

static void renew(unsigned op, const uint8_t *d, size_t n)
{
	struct actor *a = &fz.a[(op >> 3) & 1];
	Actr__RenewCredentialRequest req =
		ACTR__RENEW_CREDENTIAL_REQUEST__INIT;
	struct actr__sig_http_reply rep;
	Actr__RegisterResponse *r;
	uint8_t buf[2048];

	if (!a->ok || !a->ok->has_renewal_token)
		return;
	req.actr_id = a->ok->actr_id;
	req.renewal_token = a->ok->renewal_token;
	if (op & 0x10) {
		req.renewal_token.data = (uint8_t *)d;
		req.renewal_token.len = n > 512 ? 512 : n;
	}
	if (actr__renew_credential_request__get_packed_size(&req) >
	    sizeof(buf))
		abort();
	n = actr__renew_credential_request__pack(&req, buf);
	if (do_http("POST", "/ais/renew", buf, n, NULL, &rep) != 0)
		return;
	r = check_reg_reply(&rep);
	free(rep.body);
	if (!r)
		return;
	/* the actor carries on with its new credential */
	if (!actr_id_equal(r->success->actr_id, a->ok->actr_id))
		abort();
	actr__register_response__free_unpacked(a->resp, NULL);
	a->resp = r;
	a->ok = r->success;
}

static void conn_op(unsigned op)
{
	struct actor *a = &fz.a[(op >> 3) & 1];

	if (!(op & 0x10)) {
		if (fz.open[a->conn]) {
			fz.open[a->conn] = false;
			fz.closing[a->conn] = false;
			actr__sig_conn_closed(fz.s, a->conn);
		}
	} else if (a->ok && !fz.open[a->conn]) {
		connect_actor(a);
	}
}

static void query_op(const uint8_t *d, size_t n)
{
	char target[2048] = "/signaling/ws?";
	size_t k = strlen(target);

	for (size_t i = 0; i < n && k < sizeof(target) - 1; i++)
		if (d[i])
			target[k++] = (char)d[i];
	target[k] = 0;
	if (connect_target(target, QUERY_CONN)) {
		/* someone connected with a query of its own: drop it */
		fz.open[QUERY_CONN] = false;
		actr__sig_conn_closed(fz.s, QUERY_CONN);
	}
}

/* Can the next input start from this core? */
static bool intact(uint64_t t0)
{
	for (int i = 0; i < 3; i++)
		if (!fz.a[i].ok || !fz.open[fz.a[i].conn] ||
		    fz.closing[fz.a[i].conn])
			return false;
	return fz.now == t0 && !fz.open[QUERY_CONN] &&
	       actr__sig_live_count(fz.s) == 3;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready, fresh;
	static unsigned uses;
	size_t off = 0;
	uint64_t t0;

	if (!ready) {
		actr_log_set_level(ACTR_LOG_ERROR);
		fresh = getenv("FUZZ_SIGNAL_FRESH") != NULL;
		setup();
		ready = true;
	}
	fz.nframes = 0;
	t0 = fz.now;
	for (unsigned recs = 0; off + 3 <= size && recs < 64; recs++) {
		unsigned op = data[off];
		size_t n = (size_t)data[off + 1] << 8 | data[off + 2];
		const uint8_t *d = data + off + 3;

		off += 3;
		if (n > size - off)
			n = size - off;
		off += n;
		switch (op & 7) {
		case 0:
			frame(fz.a[(op >> 3) & 1].conn, d, n);
			break;
		case 1:
		case 2:
			authed(op, d, n);
			break;
		case 3:
			http(op, d, n);
			break;
		case 4:
			renew(op, d, n);
			break;
		case 5:
			fz.now += 1000 * (uint64_t)(n >= 2 ? d[0] << 8 | d[1]
							   : n ? d[0] : 1);
			actr__sig_tick(fz.s, fz.now);
			report_closes();
			break;
		case 6:
			conn_op(op);
			break;
		default:
			query_op(d, n);
			break;
		}
		check_stats();
	}
	if (fresh || ++uses >= RESET_EVERY || !intact(t0)) {
		teardown();
		setup();
		uses = 0;
	}
	return 0;
}
