/*
 * Tests of the signaling client's sans-I/O core (wire/sigclient_core.c)
 * in virtual time: a fake driver records the core's actions (POSTs,
 * WebSocket connects, frames, closes) and feeds it events; time moves
 * only when a test advances it. No sockets, no sleeping.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <actr/error.h>

#include "test.h"
#include "wire/sigclient_core.h"

#define WALL0 1700000000000ULL	/* wall clock at virtual time 0 (ms) */
#define T0 1000000ULL		/* virtual monotonic time at start (ms) */
#define MAXF 64

struct fk {
	struct actr__sigc *c;		/* core under test */
	uint64_t now;			/* virtual monotonic clock, ms */
	uint64_t rnd;			/* what rand returns (see lcg) */
	bool lcg;			/* rand: pseudo-random sequence */
	/* actions */
	int posts;			/* http_post calls */
	char path[64];			/* last POST path */
	uint8_t body[1024];		/* last POST body */
	size_t body_len;		/* its length */
	int cancels;			/* http_cancel calls */
	bool in_flight;			/* a POST awaits its reply */
	int connects;			/* ws_connect calls */
	char target[4096];		/* last connect target */
	bool ws;			/* the fake WebSocket exists */
	Signaling__SignalingEnvelope *sent[MAXF]; /* frames, oldest first */
	int nsent;			/* in sent */
	int closes;			/* ws_close calls */
	int close_code;			/* last one's code */
	bool close_detach;		/* last one's detach */
	int fail_post;			/* http_post fails */
	int fail_connect;		/* ws_connect fails */
	/* callbacks */
	actr_sig_state_t states[64];	/* state changes in order */
	int nstates;			/* in states */
	int status_calls;		/* node_status calls */
	int relays;			/* on_relay calls */
	int relay_kind;			/* last relay's kind */
	int ups;			/* on_actr_up calls */
	int warnings;			/* on_credential_warning calls */
};

struct rep {
	int done;			/* callbacks */
	int rc;				/* last rc */
	uint8_t msg[1024];		/* last message */
	size_t len;			/* its length */
};

/* ---- fake driver ------------------------------------------------------------ */

static int f_post(void *ctx, const char *path, const uint8_t *body, size_t len)
{
	struct fk *f = ctx;

	f->posts++;
	if (f->fail_post)
		return -ACTR_EUNAVAILABLE;
	snprintf(f->path, sizeof(f->path), "%s", path);
	CHECK(len <= sizeof(f->body));
	memcpy(f->body, body, len);
	f->body_len = len;
	f->in_flight = true;
	return 0;
}

static void f_cancel(void *ctx)
{
	struct fk *f = ctx;

	f->cancels++;
	f->in_flight = false;
}

static int f_connect(void *ctx, const char *target)
{
	struct fk *f = ctx;

	f->connects++;
	if (f->fail_connect)
		return -ACTR_EUNAVAILABLE;
	CHECK(!f->ws);
	snprintf(f->target, sizeof(f->target), "%s", target);
	f->ws = true;
	return 0;
}

static int f_send(void *ctx, const uint8_t *data, size_t len)
{
	struct fk *f = ctx;

	CHECK(f->ws);
	CHECK(f->nsent < MAXF);
	f->sent[f->nsent] = signaling__signaling_envelope__unpack(NULL, len, data);
	CHECK(f->sent[f->nsent]);
	f->nsent++;
	return 0;
}

static void f_close(void *ctx, int code, const char *why, bool detach)
{
	struct fk *f = ctx;

	CHECK(f->ws);
	f->closes++;
	f->close_code = code;
	f->close_detach = detach;
	if (detach)
		f->ws = false;
}

static uint64_t f_rand(void *arg)
{
	struct fk *f = arg;

	if (f->lcg)
		f->rnd = f->rnd * 6364136223846793005ULL + 1442695040888963407ULL;
	return f->rnd >> (f->lcg ? 11 : 0);
}

static void cb_state(actr_sigclient_t *h, actr_sig_state_t st, void *arg)
{
	struct fk *f = arg;

	CHECK(f->nstates < 64);
	f->states[f->nstates++] = st;
}

static void cb_status(actr_sigclient_t *h, struct actr_sig_node_status *o,
		      void *arg)
{
	struct fk *f = arg;

	f->status_calls++;
	o->availability = 2;
	o->power_reserve = 0.5f;
	o->mailbox_backlog = 9;
}

static void cb_relay(actr_sigclient_t *h, const uint8_t *src, size_t slen,
		     int kind, const uint8_t *p, size_t plen, void *arg)
{
	struct fk *f = arg;

	f->relays++;
	f->relay_kind = kind;
}

static void cb_up(actr_sigclient_t *h, const uint8_t *id, size_t n, void *arg)
{
	((struct fk *)arg)->ups++;
}

static void cb_warn(actr_sigclient_t *h, const char *msg, void *arg)
{
	((struct fk *)arg)->warnings++;
}

static void cb_reply(actr_sigclient_t *h, int rc, const uint8_t *msg,
		     size_t len, void *arg)
{
	struct rep *r = arg;

	r->done++;
	r->rc = rc;
	CHECK(len <= sizeof(r->msg));
	if (msg)
		memcpy(r->msg, msg, len);
	r->len = len;
}

static int nread;		/* frames of sent[] read by pop() */

static const uint8_t REQ[] = { 0x0a, 0x03, 'r', 'e', 'q' };

/* A core on a fake driver; cfg tweaks applied by the caller through
 * *cfg before fk_start. */
static void fk_init(struct fk *f, struct actr__sigc_config *cfg)
{
	memset(f, 0, sizeof(*f));
	memset(cfg, 0, sizeof(*cfg));
	nread = 0;
	f->now = T0;
	cfg->register_request = REQ;
	cfg->register_request_len = sizeof(REQ);
	cfg->cb.on_state = cb_state;
	cfg->cb.node_status = cb_status;
	cfg->cb.on_relay = cb_relay;
	cfg->cb.on_actr_up = cb_up;
	cfg->cb.on_credential_warning = cb_warn;
	cfg->arg = f;
	cfg->rand = f_rand;
	cfg->rand_arg = f;
}

static void fk_start(struct fk *f, const struct actr__sigc_config *cfg)
{
	static const struct actr__sigc_io io = {
		.http_post = f_post,
		.http_cancel = f_cancel,
		.ws_connect = f_connect,
		.ws_send = f_send,
		.ws_close = f_close,
	};
	struct actr__sigc_io fio = io;

	fio.ctx = f;
	f->c = actr__sigc_new(cfg, &fio);
	CHECK(f->c);
	CHECK_OK(actr__sigc_start(f->c, f->now));
}

static void fk_free(struct fk *f)
{
	actr__sigc_free(f->c);
	for (int i = 0; i < f->nsent; i++)
		signaling__signaling_envelope__free_unpacked(f->sent[i], NULL);
}

static uint64_t wall(const struct fk *f)
{
	return WALL0 + (f->now - T0);
}

/* Move virtual time to t, running every deadline on the way as the
 * driver's timer would. */
static void advance_to(struct fk *f, uint64_t t)
{
	uint64_t d;

	while ((d = actr__sigc_next_deadline(f->c)) <= t) {
		if (d > f->now)
			f->now = d;
		actr__sigc_tick(f->c, f->now);
	}
	f->now = t;
}

static void advance(struct fk *f, uint64_t ms)
{
	advance_to(f, f->now + ms);
}

/* Oldest unread frame (owned by f until fk_free). */
static Signaling__SignalingEnvelope *pop(struct fk *f)
{
	CHECK(nread < f->nsent);
	return f->sent[nread++];
}

static bool drained(const struct fk *f)
{
	return nread == f->nsent;
}

/* An ActrId in realm 101 of type acme:name:1.0.0 (storage in *b). */
struct idbuf {
	Actr__ActrId id;		/* the id */
	Actr__Realm realm;		/* its realm */
	Actr__ActrType type;		/* its type */
};

static Actr__ActrId *mk_id(struct idbuf *b, const char *name, uint64_t serial)
{
	actr__actr_id__init(&b->id);
	actr__realm__init(&b->realm);
	actr__actr_type__init(&b->type);
	b->realm.realm_id = 101;
	b->type.manufacturer = "acme";
	b->type.name = (char *)name;
	b->type.version = "1.0.0";
	b->id.realm = &b->realm;
	b->id.type = &b->type;
	b->id.serial_number = serial;
	return &b->id;
}

/* Answer the POST in flight with a RegisterOk whose credential expires
 * exp_s (wall seconds); heartbeat hb_s. */
static void reply_ok(struct fk *f, uint64_t exp_s, uint32_t hb_s,
		     uint64_t serial)
{
	Actr__RegisterResponse resp = ACTR__REGISTER_RESPONSE__INIT;
	Actr__RegisterResponse__RegisterOk ok =
		ACTR__REGISTER_RESPONSE__REGISTER_OK__INIT;
	struct idbuf idb;
	Actr__AIdCredential cred = ACTR__AID_CREDENTIAL__INIT;
	Actr__IdentityClaims cl = ACTR__IDENTITY_CLAIMS__INIT;
	Actr__TurnCredential turn = ACTR__TURN_CREDENTIAL__INIT;
	uint8_t claims[256], sig[64] = { 7 }, pub[32] = { 1 }, tok[16] = { 2 };
	uint8_t buf[1024];

	CHECK(f->in_flight);
	f->in_flight = false;
	cl.realm_id = 101;
	cl.actor_id = "id";
	cl.expires_at = exp_s;
	cred.key_id = 3;
	cred.claims.data = claims;
	cred.claims.len = actr__identity_claims__pack(&cl, claims);
	cred.signature.data = sig;
	cred.signature.len = sizeof(sig);
	turn.username = "u";
	turn.password = "p";
	turn.expires_at = exp_s;
	ok.actr_id = mk_id(&idb, "x", serial);
	ok.credential = &cred;
	ok.turn_credential = &turn;
	ok.signaling_heartbeat_interval_secs = hb_s;
	ok.signing_pubkey.data = pub;
	ok.signing_pubkey.len = sizeof(pub);
	ok.signing_key_id = 3;
	ok.has_renewal_token = true;
	ok.renewal_token.data = tok;
	ok.renewal_token.len = sizeof(tok);
	resp.result_case = ACTR__REGISTER_RESPONSE__RESULT_SUCCESS;
	resp.success = &ok;
	CHECK(actr__register_response__get_packed_size(&resp) <= sizeof(buf));
	actr__sigc_http_reply(f->c, f->now, wall(f), 0, 200, buf,
			      actr__register_response__pack(&resp, buf));
}

static void reply_status(struct fk *f, int status)
{
	Actr__RegisterResponse resp = ACTR__REGISTER_RESPONSE__INIT;
	Actr__ErrorResponse er = ACTR__ERROR_RESPONSE__INIT;
	uint8_t buf[256];

	CHECK(f->in_flight);
	f->in_flight = false;
	er.code = (uint32_t)status;
	er.message = "no";
	resp.result_case = ACTR__REGISTER_RESPONSE__RESULT_ERROR;
	resp.error = &er;
	actr__sigc_http_reply(f->c, f->now, wall(f), 0, status, buf,
			      actr__register_response__pack(&resp, buf));
}

static void ws_closed(struct fk *f, int code, int http)
{
	CHECK(f->ws);
	f->ws = false;
	actr__sigc_ws_closed(f->c, f->now, code, "gone", http);
}

static void feed(struct fk *f, Signaling__SignalingEnvelope *env)
{
	uint8_t buf[2048];
	size_t n = signaling__signaling_envelope__get_packed_size(env);

	CHECK(n <= sizeof(buf));
	signaling__signaling_envelope__pack(env, buf);
	actr__sigc_ws_message(f->c, f->now, false, buf, n);
}

/* A SignalingToActr envelope answering reply_for (payload set by the
 * caller in m). */
static void feed_s2a(struct fk *f, const char *reply_for,
		     Signaling__SignalingToActr *m)
{
	Signaling__SignalingEnvelope env = SIGNALING__SIGNALING_ENVELOPE__INIT;
	struct idbuf idb;

	m->target = mk_id(&idb, "x", 0);
	env.envelope_version = 2;
	env.envelope_id = "s-1";
	env.reply_for = (char *)reply_for;
	env.flow_case = SIGNALING__SIGNALING_ENVELOPE__FLOW_SERVER_TO_ACTR;
	env.server_to_actr = m;
	feed(f, &env);
}

static void feed_pong(struct fk *f, const char *reply_for, bool warn)
{
	Signaling__SignalingToActr m = SIGNALING__SIGNALING_TO_ACTR__INIT;
	Actr__Pong pong = ACTR__PONG__INIT;
	Actr__CredentialWarning w = ACTR__CREDENTIAL_WARNING__INIT;

	w.message = "key in tolerance";
	if (warn)
		pong.credential_warning = &w;
	m.payload_case = SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_PONG;
	m.pong = &pong;
	feed_s2a(f, reply_for, &m);
}

/* Register with a credential valid for an hour (heartbeat hb_s), open
 * the WebSocket and answer the first Ping. */
static void connect_up(struct fk *f, uint32_t hb_s)
{
	Signaling__SignalingEnvelope *e;

	CHECK_EQ(actr__sigc_state(f->c), ACTR_SIG_REGISTERING);
	reply_ok(f, wall(f) / 1000 + 3600, hb_s, 0x42);
	CHECK_EQ(actr__sigc_state(f->c), ACTR_SIG_CONNECTING);
	CHECK(f->ws);
	actr__sigc_ws_open(f->c, f->now);
	CHECK_EQ(actr__sigc_state(f->c), ACTR_SIG_CONNECTED);
	e = pop(f);
	CHECK(e->actr_to_server->ping);
	feed_pong(f, e->envelope_id, false);
}

/* ---- tests ------------------------------------------------------------------ */

TEST(sigclient_core_register_then_connect)
{
	struct fk f;
	struct actr__sigc_config cfg;
	Signaling__SignalingEnvelope *e;
	size_t n;

	fk_init(&f, &cfg);
	cfg.answer_only = true;
	fk_start(&f, &cfg);
	/* REGISTERING: one POST of the request, nothing else */
	CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_REGISTERING);
	CHECK_EQ(f.posts, 1);
	CHECK_STR(f.path, "/ais/register");
	CHECK_EQ(f.body_len, sizeof(REQ));
	CHECK_MEM(f.body, REQ, sizeof(REQ));
	CHECK_EQ(f.connects, 0);
	CHECK_EQ(actr__sigc_start(f.c, f.now), -EALREADY);
	CHECK_STR(actr__sigc_id_str(f.c), "");
	/* registered: the WebSocket target carries the credential */
	reply_ok(&f, wall(&f) / 1000 + 3600, 30, 0x42);
	CHECK_EQ(actr__sigc_stats(f.c)->pub.registrations, 1);
	CHECK_STR(actr__sigc_id_str(f.c), "42@101/acme:x:1.0.0");
	CHECK(actr__sigc_turn(f.c, &n) && n > 0);
	CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_CONNECTING);
	CHECK_EQ(f.connects, 1);
	CHECK(!strncmp(f.target, "/signaling/ws?actor_id=42%40101%2Facme%3Ax%3A1.0.0&key_id=3&claims=", 67));
	CHECK(strstr(f.target, "&signature="));
	CHECK(strstr(f.target, "&webrtc_role=answer"));
	CHECK_EQ(f.nsent, 0); /* nothing before the WebSocket opens */
	CHECK_EQ(actr__sigc_request(f.c, f.now, &(Signaling__ActrToSignaling)
				    SIGNALING__ACTR_TO_SIGNALING__INIT,
				    ACTR__SIGC_DISCOVERY, NULL, NULL),
		 -ACTR_ENOTREADY);
	/* open: CONNECTED and the first Ping, filled from node_status */
	actr__sigc_ws_open(f.c, f.now);
	CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_CONNECTED);
	CHECK_EQ(actr__sigc_stats(f.c)->pub.connects, 1);
	CHECK_EQ(f.status_calls, 1);
	e = pop(&f);
	CHECK_EQ(e->flow_case, SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_TO_SERVER);
	CHECK_EQ(e->actr_to_server->payload_case,
		 SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_PING);
	CHECK_EQ(e->actr_to_server->ping->availability, 2);
	CHECK_EQ(e->actr_to_server->ping->mailbox_backlog, 9);
	CHECK_EQ(e->actr_to_server->source->serial_number, 0x42);
	CHECK_EQ(e->actr_to_server->credential->key_id, 3);
	/* states in order */
	CHECK_EQ(f.nstates, 3);
	CHECK_EQ(f.states[0], ACTR_SIG_REGISTERING);
	CHECK_EQ(f.states[1], ACTR_SIG_CONNECTING);
	CHECK_EQ(f.states[2], ACTR_SIG_CONNECTED);
	/* stop: detach the WebSocket, IDLE; the registration stays */
	actr__sigc_stop(f.c, f.now);
	CHECK_EQ(f.closes, 1);
	CHECK(f.close_detach);
	CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_IDLE);
	CHECK_STR(actr__sigc_id_str(f.c), "42@101/acme:x:1.0.0");
	/* start again: no new registration, straight to the WebSocket */
	CHECK_OK(actr__sigc_start(f.c, f.now));
	CHECK_EQ(f.posts, 1);
	CHECK_EQ(f.connects, 2);
	fk_free(&f);
}

TEST(sigclient_core_register_failures_back_off)
{
	struct fk f;
	struct actr__sigc_config cfg;

	fk_init(&f, &cfg);
	f.fail_post = 1;
	fk_start(&f, &cfg);
	/* the POST could not start: BACKOFF at once, retry in [500, 1000] */
	CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_BACKOFF);
	CHECK_EQ(actr__sigc_next_deadline(f.c), f.now + 500); /* rand 0 */
	f.fail_post = 0;
	advance(&f, 500);
	CHECK_EQ(actr__sigc_stats(f.c)->pub.reconnect_attempts, 1);
	CHECK_EQ(f.posts, 2);
	CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_REGISTERING);
	/* a server that cannot register now (and an undecodable body)
	 * back off too, with the reason kept */
	reply_status(&f, 503);
	CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_BACKOFF);
	{
		char why[128];

		CHECK(actr__sigc_reason(f.c, why, sizeof(why)) < 0);
		CHECK_STR(why, "registration refused: 503 no");
	}
	CHECK_EQ(actr__sigc_next_deadline(f.c), f.now + 1000);
	advance(&f, 1000);
	CHECK_EQ(f.posts, 3);
	f.in_flight = false;
	actr__sigc_http_reply(f.c, f.now, wall(&f), 0, 200,
			      (const uint8_t *)"\xff\xff", 2);
	CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_BACKOFF);
	CHECK_EQ(actr__sigc_next_deadline(f.c), f.now + 2000);
	advance(&f, 2000);
	CHECK_EQ(f.posts, 4);
	CHECK_EQ(actr__sigc_stats(f.c)->pub.registrations, 0);
	reply_ok(&f, wall(&f) / 1000 + 3600, 30, 1);
	actr__sigc_ws_open(f.c, f.now);
	CHECK_EQ(actr__sigc_attempts(f.c), 0); /* an open resets the count */
	fk_free(&f);
}

/* A wrong realm secret (401) or an unknown realm (403) does not get
 * better by asking again: FAILED at once, no retry, and the reason. */
TEST(sigclient_core_permanent_refusal_stops)
{
	static const int codes[] = { 401, 403 };

	for (int i = 0; i < 2; i++) {
		struct fk f;
		struct actr__sigc_config cfg;
		char why[128];

		fk_init(&f, &cfg);
		fk_start(&f, &cfg);
		CHECK_EQ(f.posts, 1);
		reply_status(&f, codes[i]);
		CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_FAILED);
		CHECK_EQ(actr__sigc_reason(f.c, why, sizeof(why)),
			 codes[i] == 401 ? -ACTR_EAUTH : -ACTR_EPERM);
		CHECK(strstr(why, codes[i] == 401 ? "refused: 401"
						  : "refused: 403") != NULL);
		advance(&f, 120000);
		CHECK_EQ(f.posts, 1);		/* never asked again */
		CHECK_EQ(actr__sigc_stats(f.c)->pub.reconnect_attempts, 0);
		fk_free(&f);
	}
}

TEST(sigclient_core_heartbeat_and_pong_timeout)
{
	struct fk f;
	struct actr__sigc_config cfg;
	Signaling__SignalingEnvelope *e;
	uint64_t t_open;
	char id[32];

	fk_init(&f, &cfg);
	fk_start(&f, &cfg);
	reply_ok(&f, wall(&f) / 1000 + 3600, 10, 7);
	t_open = f.now;
	actr__sigc_ws_open(f.c, f.now);
	e = pop(&f);
	CHECK(e->actr_to_server->ping);
	snprintf(id, sizeof(id), "%s", e->envelope_id);
	/* pong deadline 0.4 x 10 s; next ping at 10 s */
	CHECK_EQ(actr__sigc_next_deadline(f.c), t_open + 4000);
	advance(&f, 3999);
	feed_pong(&f, id, false);
	CHECK_EQ(actr__sigc_stats(f.c)->pub.pongs, 1);
	CHECK_EQ(actr__sigc_next_deadline(f.c), t_open + 10000);
	advance_to(&f, t_open + 9999);
	CHECK(drained(&f));
	advance_to(&f, t_open + 10000);
	e = pop(&f);
	CHECK(e->actr_to_server->ping);
	CHECK_EQ(f.status_calls, 2);
	snprintf(id, sizeof(id), "%s", e->envelope_id);
	feed_pong(&f, id, false);
	advance_to(&f, t_open + 20000);
	e = pop(&f);
	CHECK(e->actr_to_server->ping);
	/* this one is not answered: the connection is closed at +4 s */
	advance_to(&f, t_open + 23999);
	CHECK_EQ(f.closes, 0);
	advance_to(&f, t_open + 24000);
	CHECK_EQ(actr__sigc_stats(f.c)->pub.pong_timeouts, 1);
	CHECK_EQ(actr__sigc_stats(f.c)->pub.timeouts, 1);
	CHECK_EQ(actr__sigc_stats(f.c)->pub.pongs, 2);
	CHECK_EQ(f.closes, 1);
	CHECK_EQ(f.close_code, 4002);
	CHECK(!f.close_detach);
	/* the close comes back: BACKOFF, no more pings, reconnect in 0.5 s */
	ws_closed(&f, 4002, 0);
	CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_BACKOFF);
	CHECK_EQ(actr__sigc_next_deadline(f.c), f.now + 500);
	advance(&f, 500);
	CHECK(drained(&f));
	CHECK_EQ(f.connects, 2);
	CHECK_EQ(f.posts, 1); /* same registration */
	actr__sigc_ws_open(f.c, f.now);
	CHECK(pop(&f)->actr_to_server->ping);
	fk_free(&f);

	/* a short interval: the pong deadline is the 1 s floor, and the
	 * server's interval 0 means the configured default */
	fk_init(&f, &cfg);
	cfg.pong_min_ms = 1500;
	cfg.heartbeat_s = 2;
	fk_start(&f, &cfg);
	reply_ok(&f, wall(&f) / 1000 + 3600, 1, 7);
	actr__sigc_ws_open(f.c, f.now);
	CHECK_EQ(actr__sigc_next_deadline(f.c), f.now + 1000); /* ping */
	advance(&f, 999);
	CHECK_EQ(actr__sigc_stats(f.c)->pub.pong_timeouts, 0);
	advance(&f, 1);
	CHECK_EQ(f.nsent, 2);
	advance(&f, 500);
	CHECK_EQ(actr__sigc_stats(f.c)->pub.pong_timeouts, 1);
	ws_closed(&f, 4002, 0);
	fk_free(&f);

	fk_init(&f, &cfg);
	cfg.heartbeat_s = 2;
	fk_start(&f, &cfg);
	reply_ok(&f, wall(&f) / 1000 + 3600, 0, 7);
	actr__sigc_ws_open(f.c, f.now);
	CHECK_EQ(actr__sigc_next_deadline(f.c), f.now + 1000); /* pong */
	feed_pong(&f, pop(&f)->envelope_id, false);
	CHECK_EQ(actr__sigc_next_deadline(f.c), f.now + 2000); /* ping */
	fk_free(&f);
}

TEST(sigclient_core_renewal_schedule)
{
	struct fk f;
	struct actr__sigc_config cfg;
	uint64_t exp_s, t_reg, t_renew;
	Actr__RenewCredentialRequest *rq;

	/* renew_before 300 s plus 0..30 s of jitter: every draw lands in
	 * [expiry - 330 s, expiry - 300 s] */
	for (uint64_t r = 0; r < 40; r++) {
			fk_init(&f, &cfg);
		cfg.renew_jitter_s = 30;
		f.rnd = r * 1000003;
		fk_start(&f, &cfg);
		exp_s = wall(&f) / 1000 + 3600;
		reply_ok(&f, exp_s, 30, 1);
		actr__sigc_stop(f.c, f.now); /* leaves only the renewal */
		t_renew = actr__sigc_next_deadline(f.c);
		CHECK_EQ(t_renew, f.now + (3600 - 300 - f.rnd % 31) * 1000);
		CHECK(t_renew >= f.now + 3270 * 1000 &&
		      t_renew <= f.now + 3300 * 1000);
		CHECK_EQ(actr__sigc_cred_expiry(f.c), f.now + 3600 * 1000);
		fk_free(&f);
	}

	/* the renewal itself, while connected */
	fk_init(&f, &cfg);
	cfg.renew_before_s = 60;
	fk_start(&f, &cfg);
	connect_up(&f, 3000);
	t_reg = f.now;
	exp_s = (WALL0 + (t_reg - T0)) / 1000 + 3600;
	advance_to(&f, t_reg + (3600 - 60) * 1000 - 1);
	CHECK_EQ(f.posts, 1);
	advance(&f, 1);
	CHECK_EQ(f.posts, 2);
	CHECK_STR(f.path, "/ais/renew");
	rq = actr__renew_credential_request__unpack(NULL, f.body_len, f.body);
	CHECK(rq);
	CHECK_EQ(rq->actr_id->serial_number, 0x42);
	CHECK_EQ(rq->renewal_token.len, 16);
	actr__renew_credential_request__free_unpacked(rq, NULL);
	/* due again while the POST is in flight: -EBUSY, retried 1 s later */
	CHECK_EQ(actr__sigc_renew(f.c, f.now), -EBUSY);
	reply_ok(&f, exp_s + 3600, 3000, 0x42);
	CHECK_EQ(actr__sigc_stats(f.c)->pub.renewals, 1);
	CHECK_EQ(actr__sigc_stats(f.c)->pub.registrations, 1);
	CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_CONNECTED);
	CHECK_EQ(f.connects, 1); /* the session continues */
	actr__sigc_stop(f.c, f.now); /* leaves only the renewal */
	CHECK_EQ(actr__sigc_next_deadline(f.c),
		 t_reg + (2 * 3600 - 60) * 1000);
	fk_free(&f);
}

TEST(sigclient_core_renewal_refused_registers_again)
{
	struct fk f;
	struct actr__sigc_config cfg;

	fk_init(&f, &cfg);
	fk_start(&f, &cfg);
	connect_up(&f, 3000);
	CHECK_OK(actr__sigc_renew(f.c, f.now));
	CHECK_STR(f.path, "/ais/renew");
	/* a failed renewal (not 401) while connected: retried in 5 s */
	reply_status(&f, 500);
	CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_CONNECTED);
	CHECK_EQ(actr__sigc_next_deadline(f.c), f.now + 5000);
	advance(&f, 5000);
	CHECK_EQ(f.posts, 3);
	CHECK_STR(f.path, "/ais/renew");
	/* 401: the server forgot us; drop the registration, close, and
	 * register afresh once the close is in */
	reply_status(&f, 401);
	CHECK_STR(actr__sigc_id_str(f.c), "");
	CHECK_EQ(f.closes, 1);
	CHECK_EQ(f.close_code, 1000);
	ws_closed(&f, 1000, 0);
	CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_BACKOFF);
	advance(&f, 500);
	CHECK_EQ(f.posts, 4);
	CHECK_STR(f.path, "/ais/register");
	CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_REGISTERING);
	reply_ok(&f, wall(&f) / 1000 + 3600, 3000, 0x43);
	CHECK_EQ(actr__sigc_stats(f.c)->pub.registrations, 2);
	CHECK_EQ(f.connects, 2);
	CHECK(strstr(f.target, "actor_id=43%40"));
	actr__sigc_ws_open(f.c, f.now);
	CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_CONNECTED);
	fk_free(&f);

	/* the upgrade refused with 401: the next attempt registers */
	fk_init(&f, &cfg);
	fk_start(&f, &cfg);
	reply_ok(&f, wall(&f) / 1000 + 3600, 30, 1);
	ws_closed(&f, 1006, 401);
	CHECK_STR(actr__sigc_id_str(f.c), "");
	advance(&f, 500);
	CHECK_STR(f.path, "/ais/register");
	CHECK_EQ(f.posts, 2);
	fk_free(&f);

	/* a credential warning on a pong renews at once */
	fk_init(&f, &cfg);
	fk_start(&f, &cfg);
	reply_ok(&f, wall(&f) / 1000 + 3600, 30, 1);
	actr__sigc_ws_open(f.c, f.now);
	feed_pong(&f, pop(&f)->envelope_id, true);
	CHECK_EQ(f.warnings, 1);
	CHECK_EQ(f.posts, 2);
	CHECK_STR(f.path, "/ais/renew");
	fk_free(&f);

	/* the credential expired while stopped: start waits for the
	 * renewal in flight (due 300 s before expiry), whose reply connects */
	fk_init(&f, &cfg);
	fk_start(&f, &cfg);
	reply_ok(&f, wall(&f) / 1000 + 3600, 30, 1);
	actr__sigc_stop(f.c, f.now);
	advance(&f, 3600 * 1000);
	CHECK_EQ(f.posts, 2);
	CHECK_STR(f.path, "/ais/renew");
	CHECK_OK(actr__sigc_start(f.c, f.now));
	CHECK_EQ(f.connects, 1);
	CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_IDLE);
	reply_ok(&f, wall(&f) / 1000 + 3600, 30, 1);
	CHECK_EQ(f.connects, 2);
	CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_CONNECTING);
	fk_free(&f);

	/* expired, no renewal possible in flight (cancelled by stop):
	 * start renews first */
	fk_init(&f, &cfg);
	fk_start(&f, &cfg);
	reply_ok(&f, wall(&f) / 1000 + 3600, 30, 1);
	advance(&f, 3300 * 1000);
	CHECK_STR(f.path, "/ais/renew");
	actr__sigc_stop(f.c, f.now);
	CHECK_EQ(f.cancels, 1);
	advance(&f, 300 * 1000);
	CHECK_OK(actr__sigc_start(f.c, f.now));
	CHECK_EQ(f.posts, 3);
	CHECK_STR(f.path, "/ais/renew");
	CHECK_EQ(f.connects, 1);
	fk_free(&f);
}

TEST(sigclient_core_backoff_and_give_up)
{
	static const uint64_t want[] = { 1000, 2000, 4000, 8000, 16000,
					 32000, 60000, 60000, 60000, 60000 };
	struct fk f;
	struct actr__sigc_config cfg;

	/* rand 0: each delay is the bottom of its jitter range, d / 2 */
	for (int pass = 0; pass < 2; pass++) {
			fk_init(&f, &cfg);
		f.lcg = pass == 1;
		f.rnd = pass ? 12345 : 0;
		fk_start(&f, &cfg);
		reply_ok(&f, wall(&f) / 1000 + 36000, 30, 1);
		for (unsigned i = 0; i < 10; i++) {
			uint64_t d;

			ws_closed(&f, 1006, 0);
			CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_BACKOFF);
			CHECK_EQ(actr__sigc_attempts(f.c), i + 1);
			d = actr__sigc_next_deadline(f.c) - f.now;
			if (pass == 0)
				CHECK_EQ(d, want[i] / 2);
			else
				CHECK(d >= want[i] / 2 && d <= want[i]);
			advance(&f, d - 1);
			CHECK_EQ(f.connects, (int)i + 1);
			advance(&f, 1);
			CHECK_EQ(f.connects, (int)i + 2);
			CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_CONNECTING);
		}
		/* the 10th retry failed too: FAILED, nothing more scheduled
		 * but the renewal */
		ws_closed(&f, 1006, 0);
		CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_FAILED);
		CHECK_EQ(actr__sigc_stats(f.c)->pub.reconnect_attempts, 10);
		CHECK_EQ(f.states[f.nstates - 1], ACTR_SIG_FAILED);
		advance(&f, 10 * 60000);
		CHECK_EQ(f.connects, 11);
		CHECK_EQ(f.posts, 1);
		fk_free(&f);
	}

	/* configured delays: 100 ms doubling to 250 ms, 3 attempts; a
	 * WebSocket that cannot even start counts as a failure */
	fk_init(&f, &cfg);
	cfg.backoff_initial_ms = 100;
	cfg.backoff_max_ms = 250;
	cfg.max_attempts = 3;
	fk_start(&f, &cfg);
	f.fail_connect = 1;
	reply_ok(&f, wall(&f) / 1000 + 3600, 30, 1);
	CHECK_EQ(actr__sigc_next_deadline(f.c) - f.now, 50);
	advance(&f, 50);
	CHECK_EQ(actr__sigc_next_deadline(f.c) - f.now, 100);
	advance(&f, 100);
	CHECK_EQ(actr__sigc_next_deadline(f.c) - f.now, 125);
	advance(&f, 125);
	CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_FAILED);
	CHECK_EQ(f.connects, 4);
	fk_free(&f);
}

TEST(sigclient_core_request_timeout)
{
	struct fk f;
	struct actr__sigc_config cfg;
	Signaling__ActrToSignaling m = SIGNALING__ACTR_TO_SIGNALING__INIT;
	Actr__DiscoveryRequest q = ACTR__DISCOVERY_REQUEST__INIT;
	struct rep a = { 0 }, b = { 0 }, c = { 0 };
	Signaling__SignalingEnvelope *e;

	fk_init(&f, &cfg);
	cfg.request_timeout_ms = 700;
	fk_start(&f, &cfg);
	connect_up(&f, 3000);
	m.payload_case = SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_DISCOVERY_REQUEST;
	m.discovery_request = &q;
	CHECK_OK(actr__sigc_request(f.c, f.now, &m, ACTR__SIGC_DISCOVERY,
				    cb_reply, &a));
	e = pop(&f);
	CHECK_EQ(e->actr_to_server->payload_case,
		 SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_DISCOVERY_REQUEST);
	CHECK_EQ(actr__sigc_next_deadline(f.c), f.now + 700);
	advance(&f, 699);
	CHECK_EQ(a.done, 0);
	advance(&f, 1);
	CHECK_EQ(a.done, 1);
	CHECK_EQ(a.rc, -ACTR_ETIMEDOUT);
	CHECK_EQ(actr__sigc_stats(f.c)->pub.timeouts, 1);
	CHECK_EQ(actr__sigc_stats(f.c)->pub.pong_timeouts, 0);
	CHECK_EQ(f.closes, 0); /* a request timeout keeps the session */
	CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_CONNECTED);
	/* a late reply is stray */
	{
		Signaling__SignalingToActr s = SIGNALING__SIGNALING_TO_ACTR__INIT;
		Actr__DiscoveryResponse dr = ACTR__DISCOVERY_RESPONSE__INIT;

		s.payload_case =
			SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_DISCOVERY_RESPONSE;
		s.discovery_response = &dr;
		feed_s2a(&f, e->envelope_id, &s);
		CHECK_EQ(a.done, 1);
		CHECK_EQ(actr__sigc_stats(f.c)->stray, 1);
	}
	/* the WebSocket closes under a request: -ACTR_ECLOSED; stop under
	 * one: -ACTR_ECANCELED */
	CHECK_OK(actr__sigc_request(f.c, f.now, &m, ACTR__SIGC_DISCOVERY,
				    cb_reply, &b));
	ws_closed(&f, 1006, 0);
	CHECK_EQ(b.done, 1);
	CHECK_EQ(b.rc, -ACTR_ECLOSED);
	advance(&f, 500);
	actr__sigc_ws_open(f.c, f.now);
	CHECK_OK(actr__sigc_request(f.c, f.now, &m, ACTR__SIGC_DISCOVERY,
				    cb_reply, &c));
	actr__sigc_stop(f.c, f.now);
	CHECK_EQ(c.done, 1);
	CHECK_EQ(c.rc, -ACTR_ECANCELED);
	fk_free(&f);
}

TEST(sigclient_core_reply_correlation)
{
	struct fk f;
	struct actr__sigc_config cfg;
	Signaling__ActrToSignaling m = SIGNALING__ACTR_TO_SIGNALING__INIT;
	Actr__GetServiceSpecRequest q = ACTR__GET_SERVICE_SPEC_REQUEST__INIT;
	Signaling__SignalingToActr s = SIGNALING__SIGNALING_TO_ACTR__INIT;
	Actr__DiscoveryResponse dr = ACTR__DISCOVERY_RESPONSE__INIT;
	Actr__ErrorResponse er = ACTR__ERROR_RESPONSE__INIT;
	struct rep a = { 0 }, b = { 0 }, c = { 0 }, role = { 0 };
	char ida[32], idb[32], idc[32];
	Actr__ErrorResponse *got;

	fk_init(&f, &cfg);
	fk_start(&f, &cfg);
	connect_up(&f, 3000);
	q.name = "Echo";
	m.payload_case =
		SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_GET_SERVICE_SPEC_REQUEST;
	m.get_service_spec_request = &q;
	CHECK_OK(actr__sigc_request(f.c, f.now, &m, ACTR__SIGC_SPEC, cb_reply, &a));
	CHECK_OK(actr__sigc_request(f.c, f.now, &m, ACTR__SIGC_SPEC, cb_reply, &b));
	CHECK_OK(actr__sigc_request(f.c, f.now, &m, ACTR__SIGC_SPEC, cb_reply, &c));
	snprintf(ida, sizeof(ida), "%s", pop(&f)->envelope_id);
	snprintf(idb, sizeof(idb), "%s", pop(&f)->envelope_id);
	snprintf(idc, sizeof(idc), "%s", pop(&f)->envelope_id);
	CHECK(strcmp(ida, idb) && strcmp(idb, idc));
	/* b answered first: only b completes, with the response bytes */
	s.payload_case = SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_DISCOVERY_RESPONSE;
	s.discovery_response = &dr;
	feed_s2a(&f, idb, &s);
	CHECK_EQ(a.done + b.done + c.done, 1);
	CHECK_EQ(b.rc, 0);
	CHECK_EQ(b.len, actr__discovery_response__get_packed_size(&dr));
	/* a: an error 404 -> -ACTR_ENOTFOUND with the ErrorResponse */
	er.code = 404;
	er.message = "no such spec";
	s.payload_case = SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_ERROR;
	s.error = &er;
	feed_s2a(&f, ida, &s);
	CHECK_EQ(a.done, 1);
	CHECK_EQ(a.rc, -ACTR_ENOTFOUND);
	got = actr__error_response__unpack(NULL, a.len, a.msg);
	CHECK(got && got->code == 404);
	actr__error_response__free_unpacked(got, NULL);
	/* c: an envelope error 429 -> -ACTR_EAGAIN */
	{
		Signaling__SignalingEnvelope env =
			SIGNALING__SIGNALING_ENVELOPE__INIT;

		env.envelope_version = 2;
		env.envelope_id = "s-2";
		env.reply_for = idc;
		env.flow_case = SIGNALING__SIGNALING_ENVELOPE__FLOW_ENVELOPE_ERROR;
		er.code = 429;
		env.envelope_error = &er;
		feed(&f, &env);
		CHECK_EQ(c.done, 1);
		CHECK_EQ(c.rc, -ACTR_EAGAIN);
		/* again: nobody waits for it any more */
		feed(&f, &env);
		CHECK_EQ(c.done, 1);
	}
	/* replies to unknown ids (and a second reply to b) are stray */
	s.payload_case = SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_DISCOVERY_RESPONSE;
	s.discovery_response = &dr; /* (a oneof: error shared the slot) */
	feed_s2a(&f, idb, &s);
	feed_s2a(&f, "c-ffff", &s);
	feed_s2a(&f, NULL, &s);
	CHECK_EQ(b.done, 1);
	CHECK_EQ(actr__sigc_stats(f.c)->stray, 4);
	CHECK_EQ(actr__sigc_next_deadline(f.c), f.now + 3000 * 1000); /* ping */

	/* role negotiation: the RoleAssignment that answers it completes
	 * the request; another goes to on_relay */
	{
		struct idbuf ib;
		Actr__ActrId *to = mk_id(&ib, "echo", 9);
		Signaling__SignalingEnvelope env =
			SIGNALING__SIGNALING_ENVELOPE__INIT;
		Signaling__ActrRelay rl = SIGNALING__ACTR_RELAY__INIT;
		Actr__RoleAssignment ra = ACTR__ROLE_ASSIGNMENT__INIT;
		Actr__AIdCredential blank = ACTR__AID_CREDENTIAL__INIT;
		Signaling__SignalingEnvelope *e;
		Actr__RoleAssignment *gra;
		char idr[32];

		CHECK_OK(actr__sigc_negotiate_role(f.c, f.now, to, cb_reply,
						   &role));
		e = pop(&f);
		CHECK_EQ(e->flow_case,
			 SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY);
		CHECK_EQ(e->actr_relay->payload_case,
			 SIGNALING__ACTR_RELAY__PAYLOAD_ROLE_NEGOTIATION);
		CHECK_EQ(e->actr_relay->target->serial_number, 9);
		CHECK_EQ(e->actr_relay->role_negotiation->from->serial_number,
			 0x42);
		CHECK_EQ(actr__sigc_stats(f.c)->pub.relays_out, 1);
		snprintf(idr, sizeof(idr), "%s", e->envelope_id);
		ra.is_offerer = true;
		rl.source = to;
		rl.target = to;
		rl.credential = &blank;
		rl.payload_case = SIGNALING__ACTR_RELAY__PAYLOAD_ROLE_ASSIGNMENT;
		rl.role_assignment = &ra;
		env.envelope_version = 2;
		env.envelope_id = "s-3";
		env.reply_for = idr;
		env.flow_case = SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY;
		env.actr_relay = &rl;
		feed(&f, &env);
		CHECK_EQ(role.done, 1);
		CHECK_EQ(role.rc, 0);
		gra = actr__role_assignment__unpack(NULL, role.len, role.msg);
		CHECK(gra && gra->is_offerer);
		actr__role_assignment__free_unpacked(gra, NULL);
		CHECK_EQ(f.relays, 0);
		feed(&f, &env);
		CHECK_EQ(role.done, 1);
		CHECK_EQ(f.relays, 1);
		CHECK_EQ(f.relay_kind, ACTR_SIG_RELAY_ROLE_ASSIGNMENT);
		CHECK_EQ(actr__sigc_stats(f.c)->pub.relays_in, 2);
	}
	/* ActrUp events reach on_actr_up */
	{
		Actr__ActrUpEvent up = ACTR__ACTR_UP_EVENT__INIT;
		struct idbuf ib;

		up.actor_id = mk_id(&ib, "late", 5);
		s.payload_case = SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_ACTR_UP_EVENT;
		s.actr_up_event = &up;
		feed_s2a(&f, NULL, &s);
		CHECK_EQ(f.ups, 1);
	}
	CHECK_EQ(actr__sigc_stats(f.c)->pub.bad_frames, 0);
	fk_free(&f);
}

TEST(sigclient_core_garbage_frames)
{
	struct fk f;
	struct actr__sigc_config cfg;
	static const uint8_t junk[] = { 0xff, 0x01, 0x80, 0x80, 0x80 };
	Signaling__SignalingEnvelope env = SIGNALING__SIGNALING_ENVELOPE__INIT;
	Signaling__SignalingToActr s = SIGNALING__SIGNALING_TO_ACTR__INIT;
	Signaling__ActrRelay rl = SIGNALING__ACTR_RELAY__INIT;
	struct idbuf idb;
	Actr__AIdCredential blank = ACTR__AID_CREDENTIAL__INIT;

	fk_init(&f, &cfg);
	fk_start(&f, &cfg);
	connect_up(&f, 3000);
	/* undecodable bytes */
	actr__sigc_ws_message(f.c, f.now, false, junk, sizeof(junk));
	CHECK_EQ(actr__sigc_stats(f.c)->pub.bad_frames, 1);
	actr__sigc_ws_message(f.c, f.now, false, NULL, 0);
	CHECK_EQ(actr__sigc_stats(f.c)->pub.bad_frames, 2);
	/* text frames are not part of the protocol: ignored, not counted */
	actr__sigc_ws_message(f.c, f.now, true, (const uint8_t *)"hi", 2);
	CHECK_EQ(actr__sigc_stats(f.c)->pub.bad_frames, 2);
	/* an envelope without a flow */
	env.envelope_version = 2;
	env.envelope_id = "s-1";
	feed(&f, &env);
	CHECK_EQ(actr__sigc_stats(f.c)->pub.bad_frames, 3);
	/* SignalingToActr without a payload */
	feed_s2a(&f, NULL, &s);
	CHECK_EQ(actr__sigc_stats(f.c)->pub.bad_frames, 4);
	/* a relay without a payload */
	rl.source = rl.target = mk_id(&idb, "b", 1);
	rl.credential = &blank;
	env.flow_case = SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY;
	env.actr_relay = &rl;
	feed(&f, &env);
	CHECK_EQ(actr__sigc_stats(f.c)->pub.bad_frames, 5);
	CHECK_EQ(actr__sigc_stats(f.c)->pub.relays_in, 0);
	CHECK_EQ(f.relays, 0);
	/* none of it hurts the session */
	CHECK_EQ(actr__sigc_state(f.c), ACTR_SIG_CONNECTED);
	CHECK_EQ(f.closes, 0);
	CHECK(drained(&f));
	fk_free(&f);
}
