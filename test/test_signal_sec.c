/*
 * actr-signal attacked from outside, on real sockets (issue 12): what an
 * actor can observe of another's credential and what it can do with it,
 * relays to actors whose ACL refuses the sender, per-address state under
 * 100k source addresses (127.x.y.z), the global registration limit,
 * unregistering someone else, WebSocket version 8, LF-only requests and
 * half a frame header. Clients are plain sockets or wire/'s WebSocket
 * client, run on the same reactor as the server.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/net.h>

#include "test.h"
#include "server/signal_internal.h"

/* ---- server and reactor ------------------------------------------------- */

static struct actr__sig_listener *start(actr_reactor_t *r,
					struct actr__sig_config *cfg,
					const struct actr__sig_listen_config *lc0)
{
	struct actr__sig_listen_config lc = { .host = "127.0.0.1" };
	struct actr__sig_listener *l;

	if (lc0)
		lc = *lc0;
	lc.host = "127.0.0.1"; /* any 127.x.y.z source reaches it */
	cfg->db_path = ":memory:";
	l = actr__sig_listen(r, cfg, &lc);
	CHECK(l);
	CHECK_OK(actr__sig_add_realm(actr__sig_listener_core(l), 101, "pw"));
	return l;
}

/* Defaults with per-address limits out of the way. */
static void cfg_loose(struct actr__sig_config *cfg)
{
	actr__sig_config_defaults(cfg);
	cfg->conn_per_min = cfg->reg_per_min = 6000;
	cfg->conn_burst = cfg->reg_burst = 100;
	cfg->msg_per_s = cfg->msg_burst = 1000;
}

static void run_until(actr_reactor_t *r, const int *done, int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));

	while (!*done && actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
}

static void stop(actr_reactor_t *r, struct actr__sig_listener *l)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(3000));

	for (int i = 0; i < 5; i++)
		actr_reactor_run_once(r, 0);
	actr__sig_listener_free(l);
	for (int i = 0; i < 3; i++)
		actr_reactor_run_once(r, 0);
	while (actr_reactor_active(r) > 0 && actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
	actr_reactor_free(r);
}

/* ---- raw sockets ------------------------------------------------------------ */

/* A TCP connection from src (IPv4 text, NULL = any) to 127.0.0.1:port.
 * The connect completes in the kernel's backlog, without the server's
 * reactor; the request is written blocking, then the socket is made
 * non-blocking for reading. */
static int raw_open(const char *src, uint16_t port, const void *req,
		    size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(0x7f000001) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	if (src) {
		struct sockaddr_in b = { .sin_family = AF_INET };

		CHECK(inet_pton(AF_INET, src, &b.sin_addr) == 1);
		CHECK_OK(bind(fd, (struct sockaddr *)&b, sizeof(b)));
	}
	CHECK_OK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
	if (len)
		CHECK_EQ(write(fd, req, len), (ssize_t)len);
	CHECK_OK(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK));
	return fd;
}

/* Read into out (NUL-terminated) while driving the reactor, until EOF,
 * until needle appears (if non-NULL), or the bound passes. Returns the
 * bytes read; *eof tells whether the server hung up. */
static size_t raw_read(actr_reactor_t *r, int fd, char *out, size_t cap,
		       const char *needle, int ms, bool *eof)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));
	size_t got = 0;

	*eof = false;
	out[0] = 0;
	while (actr_time_ns() < end && got + 1 < cap) {
		ssize_t n;

		actr_reactor_run_once(r, 5);
		n = read(fd, out + got, cap - 1 - got);
		if (n == 0 || (n < 0 && errno == ECONNRESET)) {
			*eof = true;
			break;
		}
		if (n > 0) {
			got += (size_t)n;
			out[got] = 0;
			if (needle && memmem(out, got, needle, strlen(needle)))
				break;
		}
	}
	return got;
}

/* Status code of an HTTP answer in buf, or -1. */
static int status_of(const char *buf)
{
	int st;

	return sscanf(buf, "HTTP/1.1 %d", &st) == 1 ? st : -1;
}

/* ---- actors over HTTP and WebSocket ---------------------------------------- */

#define TW_MAX 32

struct tw {
	actr_ws_t *ws;					/* the connection */
	int opened;					/* on_open seen */
	int closed;					/* on_close seen */
	int settled;					/* opened or closed */
	int code;					/* close code */
	char reason[128];				/* close reason */
	int n;						/* envelopes received */
	int head;					/* next to pop */
	Signaling__SignalingEnvelope *msg[TW_MAX];	/* received */
};

struct ta {
	Actr__RegisterResponse *resp;		/* owned */
	Actr__RegisterResponse__RegisterOk *ok;	/* = resp->success */
	char id[256];				/* ActrId string form */
	struct tw w;				/* its WebSocket */
};

static void tw_open(actr_ws_t *ws, void *arg)
{
	((struct tw *)arg)->opened = 1;
	((struct tw *)arg)->settled = 1;
}

static void tw_msg(actr_ws_t *ws, bool text, const uint8_t *d, size_t n,
		   void *arg)
{
	struct tw *w = arg;

	CHECK(!text && w->n < TW_MAX);
	w->msg[w->n] = signaling__signaling_envelope__unpack(NULL, n, d);
	CHECK(w->msg[w->n]);
	w->n++;
}

static void tw_close(actr_ws_t *ws, int code, const char *reason, void *arg)
{
	struct tw *w = arg;

	w->closed = 1;
	w->settled = 1;
	w->code = code;
	w->ws = NULL;
	snprintf(w->reason, sizeof(w->reason), "%s", reason ? reason : "");
}

static const struct actr_ws_callbacks twcb = {
	.on_open = tw_open, .on_message = tw_msg, .on_close = tw_close
};

static void tw_free(struct tw *w)
{
	for (int i = 0; i < w->n; i++)
		signaling__signaling_envelope__free_unpacked(w->msg[i], NULL);
	w->n = w->head = 0;
}

struct reg {
	int done;		/* answered */
	int status;		/* HTTP status or negative rc */
	uint8_t body[4096];	/* response body */
	size_t len;		/* its length */
};

static void on_reg(actr_http_call_t *call, int rc, int status,
		   const uint8_t *body, size_t len, void *arg)
{
	struct reg *g = arg;

	g->done = 1;
	g->status = rc == 0 ? status : rc;
	if (rc == 0 && len <= sizeof(g->body)) {
		memcpy(g->body, body, len);
		g->len = len;
	}
}

/* Pack a LINKED RegisterRequest for acme:<name>:1 in realm 101 into buf
 * (1 KiB); returns its length. */
static size_t pack_register(const char *name, const Actr__Acl *acl,
			    uint8_t *buf)
{
	Actr__RegisterRequest req = ACTR__REGISTER_REQUEST__INIT;
	Actr__ActrType t = ACTR__ACTR_TYPE__INIT;
	Actr__Realm rl = ACTR__REALM__INIT;

	t.manufacturer = "acme";
	t.name = (char *)name;
	t.version = "1";
	rl.realm_id = 101;
	req.actr_type = &t;
	req.realm = &rl;
	req.acl = (Actr__Acl *)acl;
	req.has_auth_mode = true;
	req.auth_mode = ACTR__REGISTER_AUTH_MODE__REGISTER_AUTH_MODE_LINKED;
	CHECK(actr__register_request__get_packed_size(&req) <= 1024);
	return actr__register_request__pack(&req, buf);
}

/* Register acme:<name>:1 in realm 101 over HTTP. Returns the status. */
static int ta_register(actr_reactor_t *r, uint16_t port, struct ta *a,
		       const char *name, const Actr__Acl *acl)
{
	struct actr_http_request hr = { 0 };
	static struct reg g;
	uint8_t buf[1024];
	char url[128];

	memset(a, 0, sizeof(*a));
	memset(&g, 0, sizeof(g));
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/ais/register", port);
	hr.method = "POST";
	hr.url = url;
	hr.content_type = "application/x-protobuf";
	hr.headers = "x-actrix-realm-secret: pw\r\n";
	hr.body = buf;
	hr.body_len = pack_register(name, acl, buf);
	CHECK(actr_http_request(r, &hr, on_reg, &g));
	run_until(r, &g.done, 5000);
	CHECK(g.done);
	if (g.status == 200) {
		a->resp = actr__register_response__unpack(NULL, g.len, g.body);
		CHECK(a->resp && a->resp->success);
		a->ok = a->resp->success;
		CHECK(actr__sig_id_str(a->ok->actr_id, a->id, sizeof(a->id)) >
		      0);
	}
	return g.status;
}

/* "/signaling/ws?actor_id=..&key_id=..&claims=..&signature=.." for
 * actor_id and credential c into out (URL-safe base64: no escaping). */
static void ws_target(const char *actor_id, const Actr__AIdCredential *c,
		      char *out, size_t cap)
{
	char c64[1024], s64[256];

	actr_base64_encode(c->claims.data, c->claims.len, c64, 1);
	actr_base64_encode(c->signature.data, c->signature.len, s64, 1);
	snprintf(out, cap, "/signaling/ws?actor_id=%s&key_id=%u&claims=%s"
		 "&signature=%s", actor_id, c->key_id, c64, s64);
}

/* Open a WebSocket to /signaling/ws as actor_id with credential c (the
 * attacker chooses both). Returns 101 or the refusing status. */
static int ws_login(actr_reactor_t *r, uint16_t port, const char *actor_id,
		    const Actr__AIdCredential *c, struct tw *w)
{
	struct actr_ws_client_config wc = { 0 };
	char url[2048], target[1900];

	memset(w, 0, sizeof(*w));
	ws_target(actor_id, c, target, sizeof(target));
	snprintf(url, sizeof(url), "ws://127.0.0.1:%u%s", port, target);
	wc.url = url;
	w->ws = actr_ws_connect(r, &wc, &twcb, w);
	CHECK(w->ws);
	run_until(r, &w->settled, 5000);
	CHECK(w->settled);
	if (w->opened)
		return 101;
	CHECK(strncmp(w->reason, "HTTP ", 5) == 0);
	return atoi(w->reason + 5);
}

static void ta_connect(actr_reactor_t *r, uint16_t port, struct ta *a)
{
	CHECK_EQ(ws_login(r, port, a->id, a->ok->credential, &a->w), 101);
}

static void ta_free(struct ta *a)
{
	if (a->w.ws)
		actr_ws_close(a->w.ws, 1000, NULL);
	tw_free(&a->w);
	if (a->resp)
		actr__register_response__free_unpacked(a->resp, NULL);
	a->resp = NULL;
}

static void tw_send(struct tw *w, Signaling__SignalingEnvelope *env)
{
	uint8_t *buf;
	size_t len;

	env->envelope_version = 2;
	buf = actr__sig_env_pack(env, &len);
	CHECK(buf);
	CHECK_OK(actr_ws_send_binary(w->ws, buf, len));
	free(buf);
}

/* The next envelope w received (waiting at most ms), or NULL. The caller
 * must not free it (tw_free does). */
static Signaling__SignalingEnvelope *tw_pop(actr_reactor_t *r, struct tw *w,
					    int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));

	while (w->head == w->n && !w->closed && actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
	return w->head < w->n ? w->msg[w->head++] : NULL;
}

/* The error code of an envelope (SignalingToActr.error or
 * envelope_error), 0 if it is not an error. */
static uint32_t err_code(const Signaling__SignalingEnvelope *e)
{
	if (e->flow_case == SIGNALING__SIGNALING_ENVELOPE__FLOW_ENVELOPE_ERROR)
		return e->envelope_error->code;
	if (e->flow_case == SIGNALING__SIGNALING_ENVELOPE__FLOW_SERVER_TO_ACTR &&
	    e->server_to_actr->payload_case ==
		    SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_ERROR)
		return e->server_to_actr->error->code;
	return 0;
}

/* Send an ActrRelay from `from`'s connection claiming source src with
 * credential cred; kind: 0 ICE candidate, 1 SDP answer, 2 role
 * negotiation. */
static void send_relay(struct ta *from, const Actr__ActrId *src,
		       const Actr__AIdCredential *cred, const struct ta *to,
		       int kind, const char *eid)
{
	Signaling__SignalingEnvelope env = SIGNALING__SIGNALING_ENVELOPE__INIT;
	Signaling__ActrRelay rl = SIGNALING__ACTR_RELAY__INIT;
	Webrtc__IceCandidate ic = WEBRTC__ICE_CANDIDATE__INIT;
	Webrtc__SessionDescription sd = WEBRTC__SESSION_DESCRIPTION__INIT;
	Actr__RoleNegotiation rn = ACTR__ROLE_NEGOTIATION__INIT;

	rl.source = (Actr__ActrId *)src;
	rl.credential = (Actr__AIdCredential *)cred;
	rl.target = to->ok->actr_id;
	if (kind == 0) {
		ic.candidate = "candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host";
		ic.username_fragment = "ufrag";
		rl.payload_case = SIGNALING__ACTR_RELAY__PAYLOAD_ICE_CANDIDATE;
		rl.ice_candidate = &ic;
	} else if (kind == 1) {
		sd.type = WEBRTC__SESSION_DESCRIPTION__TYPE__ANSWER;
		sd.sdp = "v=0\r\n";
		sd.sdp_exchange_id = "x1";
		rl.payload_case = SIGNALING__ACTR_RELAY__PAYLOAD_SESSION_DESCRIPTION;
		rl.session_description = &sd;
	} else {
		rn.from = (Actr__ActrId *)src;
		rn.to = to->ok->actr_id;
		rn.realm_id = 101;
		rl.payload_case = SIGNALING__ACTR_RELAY__PAYLOAD_ROLE_NEGOTIATION;
		rl.role_negotiation = &rn;
	}
	env.envelope_id = (char *)eid;
	env.flow_case = SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY;
	env.actr_relay = &rl;
	tw_send(&from->w, &env);
}

/* Send an ActrToSignaling (payload set in m) from a's connection. */
static void send_a2s(struct ta *a, const Actr__ActrId *src,
		     const Actr__AIdCredential *cred,
		     Signaling__ActrToSignaling *m, const char *eid)
{
	Signaling__SignalingEnvelope env = SIGNALING__SIGNALING_ENVELOPE__INIT;

	m->source = (Actr__ActrId *)src;
	m->credential = (Actr__AIdCredential *)cred;
	env.envelope_id = (char *)eid;
	env.flow_case = SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_TO_SERVER;
	env.actr_to_server = m;
	tw_send(&a->w, &env);
}

/* a pings; returns true when the pong came back (a is still served). */
static bool ping_ok(actr_reactor_t *r, struct ta *a)
{
	Signaling__ActrToSignaling m = SIGNALING__ACTR_TO_SIGNALING__INIT;
	Actr__Ping p = ACTR__PING__INIT;
	Signaling__SignalingEnvelope *e;

	m.payload_case = SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_PING;
	m.ping = &p;
	send_a2s(a, a->ok->actr_id, a->ok->credential, &m, "ping");
	e = tw_pop(r, &a->w, 5000);
	return e && e->flow_case ==
			    SIGNALING__SIGNALING_ENVELOPE__FLOW_SERVER_TO_ACTR &&
	       e->server_to_actr->payload_case ==
		       SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_PONG;
}

static bool cred_blank(const Actr__AIdCredential *c)
{
	return c && c->key_id == 0 && c->claims.len == 0 &&
	       c->signature.len == 0;
}

/* ---- 1. impersonation ---------------------------------------------------- */

TEST_TIMEOUT(signal_sec_no_credential_leaks, 40)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_config cfg;
	struct actr__sig_listener *l;
	struct actr__sig_server *core;
	struct ta v, m, w;
	struct tw forged;
	Signaling__SignalingEnvelope *e;
	const Actr__AIdCredential *seen[3];
	int nseen = 0;
	uint16_t port;

	cfg_loose(&cfg);
	l = start(r, &cfg, NULL);
	core = actr__sig_listener_core(l);
	port = actr__sig_listener_port(l);
	CHECK_EQ(ta_register(r, port, &v, "victim", NULL), 200);
	CHECK_EQ(ta_register(r, port, &m, "mallory", NULL), 200);
	CHECK_EQ(ta_register(r, port, &w, "witness", NULL), 200);
	ta_connect(r, port, &v);
	ta_connect(r, port, &m);
	ta_connect(r, port, &w);

	/* everything that reaches the attacker about the victim: the
	 * RoleAssignment of its negotiation, and the victim's relays */
	send_relay(&m, m.ok->actr_id, m.ok->credential, &v, 2, "neg");
	e = tw_pop(r, &m.w, 5000);
	CHECK(e && e->flow_case == SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY);
	CHECK_EQ(e->actr_relay->payload_case,
		 SIGNALING__ACTR_RELAY__PAYLOAD_ROLE_ASSIGNMENT);
	CHECK_EQ(e->actr_relay->source->serial_number,
		 v.ok->actr_id->serial_number);
	seen[nseen++] = e->actr_relay->credential;
	e = tw_pop(r, &v.w, 5000); /* the victim's assignment */
	CHECK(e && e->actr_relay && cred_blank(e->actr_relay->credential));
	send_relay(&v, v.ok->actr_id, v.ok->credential, &m, 1, "sdp");
	send_relay(&v, v.ok->actr_id, v.ok->credential, &m, 0, "ice");
	for (int i = 0; i < 2; i++) {
		e = tw_pop(r, &m.w, 5000);
		CHECK(e && e->flow_case ==
				   SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY);
		CHECK_EQ(e->actr_relay->source->serial_number,
			 v.ok->actr_id->serial_number);
		seen[nseen++] = e->actr_relay->credential;
	}
	/* the payload arrived intact; the credential did not travel */
	CHECK_STR(e->actr_relay->ice_candidate->username_fragment, "ufrag");
	for (int i = 0; i < nseen; i++)
		CHECK(cred_blank(seen[i]));

	/* log in as the victim with what was seen, or with one's own */
	CHECK_EQ(ws_login(r, port, v.id, seen[0], &forged), 401);
	CHECK_EQ(ws_login(r, port, v.id, m.ok->credential, &forged), 401);
	/* relay as the victim on the attacker's connection */
	send_relay(&m, v.ok->actr_id, seen[1], &w, 0, "spoof1");
	e = tw_pop(r, &m.w, 5000);
	CHECK(e && err_code(e) == 401);
	send_relay(&m, v.ok->actr_id, m.ok->credential, &w, 0, "spoof2");
	e = tw_pop(r, &m.w, 5000);
	CHECK(e && err_code(e) == 401);
	/* unregister the victim: as itself (401), or by naming it (403) */
	{
		Signaling__ActrToSignaling a2s = SIGNALING__ACTR_TO_SIGNALING__INIT;
		Actr__UnregisterRequest ur = ACTR__UNREGISTER_REQUEST__INIT;

		ur.actr_id = v.ok->actr_id;
		a2s.payload_case =
			SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_UNREGISTER_REQUEST;
		a2s.unregister_request = &ur;
		send_a2s(&m, v.ok->actr_id, seen[2], &a2s, "unreg1");
		e = tw_pop(r, &m.w, 5000);
		CHECK(e && err_code(e) == 401);
		send_a2s(&m, m.ok->actr_id, m.ok->credential, &a2s, "unreg2");
		e = tw_pop(r, &m.w, 5000);
		CHECK(e && err_code(e) == 403);
		CHECK_STR(e->reply_for, "unreg2");
	}
	/* nothing reached the witness: its next message is its own pong */
	CHECK(ping_ok(r, &w));
	/* the victim is still registered, connected and served */
	CHECK(!v.w.closed);
	CHECK(ping_ok(r, &v));
	CHECK_EQ(actr__sig_live_count(core), 3);
	CHECK_EQ(actr__sig_actor_count(core), 3);
	CHECK_EQ(actr__sig_stats(core)->rej_401, 5);
	CHECK_EQ(actr__sig_stats(core)->rej_403, 1);
	CHECK(!m.w.closed); /* refused, not disconnected */
	ta_free(&v);
	ta_free(&m);
	ta_free(&w);
	stop(r, l);
}

/* ---- 2. relay ACL ---------------------------------------------------------- */

TEST_TIMEOUT(signal_sec_relay_acl, 40)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_config cfg;
	struct actr__sig_listener *l;
	struct actr__sig_server *core;
	struct ta caller, callee, intruder;
	Actr__AclRule rule;
	Actr__ActrType rt = ACTR__ACTR_TYPE__INIT;
	Actr__AclRule *rp = &rule;
	Actr__Acl only_caller = ACTR__ACL__INIT, nobody = ACTR__ACL__INIT;
	Signaling__SignalingEnvelope *e;
	uint16_t port;

	/* the callee admits acme:caller only; the caller admits nobody, so
	 * the callee reaches it only inside an exchange the caller opened */
	actr__acl_rule__init(&rule);
	rt.manufacturer = "acme";
	rt.name = "caller";
	rt.version = "1";
	rule.permission = ACTR__ACL_RULE__PERMISSION__ALLOW;
	rule.from_type = &rt;
	rule.source_realm_case = ACTR__ACL_RULE__SOURCE_REALM_ANY_REALM;
	rule.any_realm = true;
	only_caller.n_rules = 1;
	only_caller.rules = &rp;
	cfg_loose(&cfg);
	l = start(r, &cfg, NULL);
	core = actr__sig_listener_core(l);
	port = actr__sig_listener_port(l);
	CHECK_EQ(ta_register(r, port, &caller, "caller", &nobody), 200);
	CHECK_EQ(ta_register(r, port, &callee, "callee", &only_caller), 200);
	/* no ACL of its own: under the old either-side rule that let it
	 * reach every locked actor */
	CHECK_EQ(ta_register(r, port, &intruder, "intruder", NULL), 200);
	ta_connect(r, port, &caller);
	ta_connect(r, port, &callee);
	ta_connect(r, port, &intruder);

	/* denied relays of every kind: 403, nothing delivered */
	for (int kind = 0; kind < 3; kind++) {
		send_relay(&intruder, intruder.ok->actr_id,
			   intruder.ok->credential, &callee, kind, "in");
		e = tw_pop(r, &intruder.w, 5000);
		CHECK(e && err_code(e) == 403);
		CHECK_STR(e->reply_for, "in");
	}
	CHECK(ping_ok(r, &callee)); /* first thing it hears: its pong */
	/* the callee may not open an exchange with the caller itself */
	send_relay(&callee, callee.ok->actr_id, callee.ok->credential, &caller,
		   1, "unsolicited");
	e = tw_pop(r, &callee.w, 5000);
	CHECK(e && err_code(e) == 403);
	CHECK(ping_ok(r, &caller));

	/* the caller negotiates: both get assignments */
	send_relay(&caller, caller.ok->actr_id, caller.ok->credential, &callee,
		   2, "neg");
	e = tw_pop(r, &caller.w, 5000);
	CHECK(e && e->actr_relay && e->actr_relay->payload_case ==
			      SIGNALING__ACTR_RELAY__PAYLOAD_ROLE_ASSIGNMENT);
	e = tw_pop(r, &callee.w, 5000);
	CHECK(e && e->actr_relay && e->actr_relay->payload_case ==
			      SIGNALING__ACTR_RELAY__PAYLOAD_ROLE_ASSIGNMENT);
	/* the callee answers its caller: SDP and candidates flow back */
	send_relay(&callee, callee.ok->actr_id, callee.ok->credential, &caller,
		   1, "answer");
	send_relay(&callee, callee.ok->actr_id, callee.ok->credential, &caller,
		   0, "cand");
	e = tw_pop(r, &caller.w, 5000);
	CHECK(e && e->actr_relay && e->actr_relay->payload_case ==
			      SIGNALING__ACTR_RELAY__PAYLOAD_SESSION_DESCRIPTION);
	CHECK_STR(e->envelope_id, "answer");
	e = tw_pop(r, &caller.w, 5000);
	CHECK(e && e->actr_relay && e->actr_relay->payload_case ==
			      SIGNALING__ACTR_RELAY__PAYLOAD_ICE_CANDIDATE);
	/* the exchange is the caller's with the callee, nobody else's */
	send_relay(&intruder, intruder.ok->actr_id, intruder.ok->credential,
		   &caller, 0, "in2");
	e = tw_pop(r, &intruder.w, 5000);
	CHECK(e && err_code(e) == 403);
	CHECK_EQ(actr__sig_stats(core)->rej_403, 5);
	CHECK_EQ(actr__sig_stats(core)->relayed, 2);
	ta_free(&caller);
	ta_free(&callee);
	ta_free(&intruder);
	stop(r, l);
}

/* ---- 4. per-address state and the global registration limit ------------ */

#define NADDR 100000

/* Source address number i: 127.(10 + i / 65536).(i / 256 % 256).(i % 256) */
static void addr_of(unsigned i, char out[32])
{
	snprintf(out, 32, "127.%u.%u.%u", 10 + (i >> 16), (i >> 8) & 255,
		 i & 255);
}

TEST_TIMEOUT(signal_sec_ip_table_bounded, 300)
{
	static const char req[] =
		"POST /ais/renew HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		"Content-Length: 1\r\n\r\nx";
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_config cfg;
	struct actr__sig_listener *l;
	struct actr__sig_server *core;
	enum { INFLIGHT = 64 };
	int fds[INFLIGHT];
	unsigned next = 0, done = 0, bad = 0;
	uint64_t end;
	struct mallinfo2 m0, m1;
	uint16_t port;

	cfg_loose(&cfg);
	l = start(r, &cfg, NULL);
	core = actr__sig_listener_core(l);
	port = actr__sig_listener_port(l);
	for (int i = 0; i < INFLIGHT; i++)
		fds[i] = -1;
	m0 = mallinfo2();
	end = actr_time_ns() + ACTR_SEC(actr_test_scale(240));
	while (done < NADDR && actr_time_ns() < end) {
		for (int i = 0; i < INFLIGHT; i++) {
			char a[32], buf[256];
			ssize_t n;

			if (fds[i] < 0 && next < NADDR) {
				addr_of(next++, a);
				fds[i] = raw_open(a, port, req, sizeof(req) - 1);
				continue;
			}
			if (fds[i] < 0)
				continue;
			n = read(fds[i], buf, sizeof(buf) - 1);
			if (n > 0) {
				buf[n] = 0;
				/* a malformed renewal: 400 from the core */
				if (status_of(buf) != 400)
					bad++;
			}
			if (n == 0 || (n < 0 && errno != EAGAIN)) {
				close(fds[i]);
				fds[i] = -1;
				done++;
			}
		}
		actr_reactor_run_once(r, 0);
	}
	m1 = mallinfo2();
	for (int i = 0; i < INFLIGHT; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	CHECK_EQ(done, NADDR);
	CHECK_EQ(bad, 0);
	/* bounded: the table holds the most recent max_ip_entries */
	CHECK_EQ(actr__sig_ip_entries(core), cfg.max_ip_entries);
	CHECK_EQ(actr__sig_stats(core)->ip_evicted,
		 NADDR - cfg.max_ip_entries);
	printf("per-address table: %zu entries after %u addresses, %llu "
	       "evicted; heap %+lld bytes (%.0f B/address seen)\n",
	       actr__sig_ip_entries(core), NADDR,
	       (unsigned long long)actr__sig_stats(core)->ip_evicted,
	       (long long)m1.uordblks - (long long)m0.uordblks,
	       ((double)m1.uordblks - (double)m0.uordblks) /
		       (double)cfg.max_ip_entries);
	stop(r, l);
}

TEST_TIMEOUT(signal_sec_global_registration_limit, 30)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_config cfg;
	struct actr__sig_listener *l;
	struct actr__sig_server *core;
	uint8_t body[1024];
	char req[2048];
	size_t blen, hl;
	int ok = 0, limited = 0;
	uint16_t port;

	cfg_loose(&cfg);
	cfg.reg_global_per_s = 0.01; /* nothing refills during the test */
	cfg.reg_global_burst = 5;
	l = start(r, &cfg, NULL);
	core = actr__sig_listener_core(l);
	port = actr__sig_listener_port(l);
	blen = pack_register("flood", NULL, body);
	hl = (size_t)snprintf(req, sizeof(req),
			      "POST /ais/register HTTP/1.1\r\nHost: x\r\n"
			      "Connection: close\r\nx-actrix-realm-secret: pw\r\n"
			      "Content-Length: %zu\r\n\r\n", blen);
	memcpy(req + hl, body, blen);
	/* eight registrations from eight addresses, each well inside its
	 * own per-address budget */
	for (unsigned i = 0; i < 8; i++) {
		char a[32], buf[1024];
		bool eof;
		int fd;

		snprintf(a, sizeof(a), "127.0.9.%u", i + 1);
		fd = raw_open(a, port, req, hl + blen);
		raw_read(r, fd, buf, sizeof(buf), NULL, 5000, &eof);
		close(fd);
		CHECK(eof);
		if (status_of(buf) == 200)
			ok++;
		else if (status_of(buf) == 429)
			limited++;
	}
	CHECK_EQ(ok, 5);
	CHECK_EQ(limited, 3);
	CHECK_EQ(actr__sig_stats(core)->reg_global_limited, 3);
	CHECK_EQ(actr__sig_actor_count(core), 5);
	stop(r, l);
}

/* ---- 5. HTTP and WebSocket edges ------------------------------------------ */

TEST_TIMEOUT(signal_sec_http_edges, 30)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_config cfg;
	struct actr__sig_listener *l;
	uint16_t port;
	char buf[2048];
	bool eof;
	int fd;

	cfg_loose(&cfg);
	l = start(r, &cfg, NULL); /* header deadline: the default 10 s */
	port = actr__sig_listener_port(l);
	/* an LF-only request: 400 at once, not 408 after the deadline */
	{
		static const char lf[] = "GET /ais/health HTTP/1.1\nHost: x\n\n";

		fd = raw_open(NULL, port, lf, sizeof(lf) - 1);
		raw_read(r, fd, buf, sizeof(buf), NULL, 8000, &eof);
		close(fd);
		CHECK(eof);
		CHECK_EQ(status_of(buf), 400);
	}
	/* WebSocket version 8 (no credential either): 426 naming 13 */
	{
		static const char v8[] =
			"GET /signaling/ws?actor_id=1@101/a:b:1 HTTP/1.1\r\n"
			"Host: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
			"Sec-WebSocket-Version: 8\r\n"
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

		fd = raw_open(NULL, port, v8, sizeof(v8) - 1);
		raw_read(r, fd, buf, sizeof(buf), NULL, 5000, &eof);
		close(fd);
		CHECK_EQ(status_of(buf), 426);
		CHECK(strstr(buf, "\r\nSec-WebSocket-Version: 13\r\n"));
	}
	stop(r, l);
}

TEST_TIMEOUT(signal_sec_half_frame_header, 30)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_config cfg;
	struct actr__sig_listen_config lc = { .frame_timeout_ms = 300 };
	struct actr__sig_listener *l;
	struct actr__sig_server *core;
	struct actr_http_server_stats hs;
	struct ta a;
	char target[1900], req[4096], buf[4096];
	uint16_t port;
	bool eof;
	size_t n;
	char *p;
	int fd;

	cfg_loose(&cfg);
	l = start(r, &cfg, &lc);
	core = actr__sig_listener_core(l);
	port = actr__sig_listener_port(l);
	CHECK_EQ(ta_register(r, port, &a, "slow", NULL), 200);
	ws_target(a.id, a.ok->credential, target, sizeof(target));
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
		 "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
		 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n\x82",
		 target);
	/* the upgrade, then the first byte of a binary frame header */
	fd = raw_open(NULL, port, req, strlen(req));
	n = raw_read(r, fd, buf, sizeof(buf), "\r\n\r\n", 5000, &eof);
	CHECK(n > 0 && status_of(buf) == 101);
	CHECK_EQ(actr__sig_live_count(core), 1);
	/* the server closes with 1008 once the frame deadline passes (the
	 * presence timeout is 60 s) */
	p = strstr(buf, "\r\n\r\n") + 4;
	n -= (size_t)(p - buf);
	memmove(buf, p, n);
	if (!eof)
		n += raw_read(r, fd, buf + n, sizeof(buf) - n, NULL, 5000, &eof);
	close(fd);
	CHECK(eof);
	CHECK(n >= 4);
	CHECK_EQ((uint8_t)buf[0], 0x88); /* close frame */
	CHECK_EQ(((uint8_t)buf[2] << 8) | (uint8_t)buf[3], 1008);
	actr__sig_listener_http_stats(l, &hs);
	CHECK_EQ(hs.ws_frame_timeouts, 1);
	CHECK_EQ(actr__sig_live_count(core), 0);
	ta_free(&a);
	stop(r, l);
}
