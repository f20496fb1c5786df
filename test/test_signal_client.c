/*
 * The signaling client (wire/sigclient.c) against actr-signal on
 * loopback: register, connect, ping/pong, discovery, route candidates,
 * relay and role negotiation between two clients, ActrUp events,
 * renewal, reconnect after a server restart and re-registration on 401.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <actr/actr.h>
#include <actr/net.h>
#include <actr/sigclient.h>

#include "test.h"
#include "server/signal_internal.h"
#include "net_test_util.h"

struct cl {
	actr_sigclient_t *c;		/* client */
	actr_sig_state_t st;		/* last state */
	int states;			/* state changes */
	int relays;			/* relay messages */
	int last_kind;			/* last relay kind */
	uint8_t last_src[256];		/* last relay source */
	size_t last_src_len;		/* its length */
	uint8_t last_payload[512];	/* last relay payload */
	size_t last_payload_len;	/* its length */
	int ups;			/* ActrUp events */
	int status_calls;		/* node_status calls */
};

struct reply {
	int done;			/* callback ran */
	int rc;				/* its rc */
	uint8_t msg[4096];		/* copy of the message */
	size_t len;			/* its length */
};


/* Let closing connections finish (bounded) so nothing is left when the
 * reactor goes away. */
static void drain_ms(actr_reactor_t *r, int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));

	for (int i = 0; i < 3; i++) /* deferred frees */
		actr_reactor_run_once(r, 0);
	while (actr_reactor_active(r) > 0 && actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
}

static void drain(actr_reactor_t *r)
{
	drain_ms(r, 3000);
}

static void on_state(actr_sigclient_t *c, actr_sig_state_t st, void *arg)
{
	struct cl *x = arg;

	x->st = st;
	x->states++;
}

static void on_relay(actr_sigclient_t *c, const uint8_t *src, size_t slen,
		     int kind, const uint8_t *p, size_t plen, void *arg)
{
	struct cl *x = arg;

	x->relays++;
	x->last_kind = kind;
	CHECK(slen <= sizeof(x->last_src) && plen <= sizeof(x->last_payload));
	memcpy(x->last_src, src, slen);
	x->last_src_len = slen;
	memcpy(x->last_payload, p, plen);
	x->last_payload_len = plen;
}

static void on_up(actr_sigclient_t *c, const uint8_t *id, size_t n, void *arg)
{
	((struct cl *)arg)->ups++;
}

static void node_status(actr_sigclient_t *c, struct actr_sig_node_status *o,
			void *arg)
{
	struct cl *x = arg;

	x->status_calls++;
	o->availability = 1;
	o->power_reserve = 0.25f;
	o->mailbox_backlog = 7;
}

static void on_reply(actr_sigclient_t *c, int rc, const uint8_t *msg,
		     size_t len, void *arg)
{
	struct reply *r = arg;

	r->done = 1;
	r->rc = rc;
	CHECK(len <= sizeof(r->msg));
	if (msg)
		memcpy(r->msg, msg, len);
	r->len = len;
}

static void run_until(actr_reactor_t *r, const int *flag, int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));

	while (!*flag && actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
}

static void run_connected(actr_reactor_t *r, struct cl **xs, int n, int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));

	for (;;) {
		int ok = 1;

		for (int i = 0; i < n; i++)
			ok &= xs[i]->st == ACTR_SIG_CONNECTED;
		if (ok || actr_time_ns() >= end)
			break;
		actr_reactor_run_once(r, 10);
	}
	for (int i = 0; i < n; i++)
		CHECK_EQ(xs[i]->st, ACTR_SIG_CONNECTED);
}

static struct actr__sig_listener *server(actr_reactor_t *r, const char *db,
					 uint16_t port, uint32_t hb,
					 uint32_t ttl)
{
	struct actr__sig_config cfg;
	struct actr__sig_listen_config lc = { .host = "127.0.0.1",
					      .port = port };
	struct actr__sig_listener *l;

	actr__sig_config_defaults(&cfg);
	cfg.db_path = db;
	cfg.heartbeat_s = hb;
	cfg.token_ttl_s = ttl;
	cfg.conn_per_min = cfg.reg_per_min = 6000;
	cfg.conn_burst = cfg.reg_burst = 100;
	l = actr__sig_listen(r, &cfg, &lc);
	CHECK(l);
	CHECK_OK(actr__sig_add_realm(actr__sig_listener_core(l), 101, "pw"));
	return l;
}

static const char *client_ca;	/* https + this CA when set */

static void client(actr_reactor_t *r, struct cl *x, uint16_t port,
		   const char *name, const char *spec, bool answer,
		   uint32_t renew_before)
{
	Actr__RegisterRequest req = ACTR__REGISTER_REQUEST__INIT;
	Actr__ActrType t = ACTR__ACTR_TYPE__INIT;
	Actr__Realm rl = ACTR__REALM__INIT;
	Actr__ServiceSpec sp = ACTR__SERVICE_SPEC__INIT;
	struct actr_sigclient_config cfg = { 0 };
	uint8_t buf[512];
	char url[64];

	memset(x, 0, sizeof(*x));
	t.manufacturer = "acme";
	t.name = (char *)name;
	t.version = "1.0.0";
	rl.realm_id = 101;
	req.actr_type = &t;
	req.realm = &rl;
	req.has_auth_mode = true;
	req.auth_mode = ACTR__REGISTER_AUTH_MODE__REGISTER_AUTH_MODE_LINKED;
	if (spec) {
		sp.name = (char *)spec;
		sp.fingerprint = "fp";
		req.service_spec = &sp;
	}
	snprintf(url, sizeof(url), "%s://127.0.0.1:%u",
		 client_ca ? "https" : "http", port);
	cfg.url = url;
	cfg.tls_ca_file = client_ca;
	cfg.register_request = buf;
	cfg.register_request_len = actr__register_request__pack(&req, buf);
	cfg.realm_secret = "pw";
	cfg.answer_only = answer;
	cfg.backoff_initial_ms = 100;
	cfg.backoff_max_ms = 400;
	cfg.request_timeout_ms = (uint32_t)actr_test_scale(300);
	cfg.renew_before_s = renew_before;
	cfg.cb.on_state = on_state;
	cfg.cb.on_relay = on_relay;
	cfg.cb.on_actr_up = on_up;
	cfg.cb.node_status = node_status;
	cfg.arg = x;
	x->c = actr_sigclient_new(r, &cfg);
	CHECK(x->c);
	CHECK_OK(actr_sigclient_start(x->c));
}

TEST_TIMEOUT(signal_client_end_to_end, 30)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l = server(r, ":memory:", 0, 30, 3600);
	uint16_t port = actr__sig_listener_port(l);
	struct cl a, b, late;
	struct cl *ab[2] = { &a, &b };
	struct reply rep = { 0 };
	uint8_t bid[256];
	size_t bid_len;
	struct actr_sigclient_stats st;

	client(r, &a, port, "caller", NULL, false, 0);
	client(r, &b, port, "echo", "Echo", false, 0);
	run_connected(r, ab, 2, 5000);
	/* the first ping goes out on connect, filled from node_status */
	{
		int pongs = 0;
		uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(3000));

		while (!pongs && actr_time_ns() < end) {
			actr_reactor_run_once(r, 10);
			actr_sigclient_get_stats(a.c, &st);
			pongs = (int)st.pongs;
		}
		CHECK(pongs >= 1);
		CHECK(a.status_calls >= 1);
	}
	CHECK(strstr(actr_sigclient_actor_id_str(b.c), "@101/acme:echo:1.0.0"));

	/* discovery */
	CHECK_OK(actr_sigclient_discover(a.c, "acme", 0, on_reply, &rep));
	run_until(r, &rep.done, 3000);
	CHECK(rep.done);
	CHECK_OK(rep.rc);
	{
		Actr__DiscoveryResponse *d =
			actr__discovery_response__unpack(NULL, rep.len, rep.msg);
		bool echo = false;

		CHECK(d && d->success);
		for (size_t i = 0; i < d->success->n_entries; i++)
			if (!strcmp(d->success->entries[i]->name, "Echo"))
				echo = true;
		CHECK(echo);
		actr__discovery_response__free_unpacked(d, NULL);
	}

	/* route candidates */
	{
		Actr__RouteCandidatesRequest q = ACTR__ROUTE_CANDIDATES_REQUEST__INIT;
		Actr__ActrType t = ACTR__ACTR_TYPE__INIT;
		Actr__RouteCandidatesResponse *rr;
		uint8_t buf[256];
		size_t n;

		t.manufacturer = "acme";
		t.name = "echo";
		t.version = "1.0.0";
		q.target_type = &t;
		q.client_fingerprint = "fp";
		n = actr__route_candidates_request__pack(&q, buf);
		memset(&rep, 0, sizeof(rep));
		CHECK_OK(actr_sigclient_route_candidates(a.c, buf, n, on_reply,
							 &rep));
		run_until(r, &rep.done, 3000);
		CHECK_OK(rep.rc);
		rr = actr__route_candidates_response__unpack(NULL, rep.len,
							     rep.msg);
		CHECK(rr && rr->success && rr->success->n_candidates == 1);
		bid_len = actr_sigclient_actor_id(b.c, bid, sizeof(bid));
		CHECK(bid_len > 0);
		{
			uint8_t cand[256];
			size_t cn = actr__actr_id__pack(rr->success->candidates[0],
							cand);

			CHECK_EQ(cn, bid_len);
			CHECK_MEM(cand, bid, cn);
		}
		actr__route_candidates_response__free_unpacked(rr, NULL);
	}

	/* relay an ICE candidate a -> b */
	{
		Webrtc__IceCandidate ic = WEBRTC__ICE_CANDIDATE__INIT;
		uint8_t buf[256], aid[256];
		size_t n, an;
		Webrtc__IceCandidate *got;

		ic.candidate = "candidate:1 1 udp 1 127.0.0.1 4000 typ host";
		n = webrtc__ice_candidate__pack(&ic, buf);
		CHECK_OK(actr_sigclient_relay(a.c, bid, bid_len,
					      ACTR_SIG_RELAY_ICE_CANDIDATE, buf, n));
		run_until(r, &b.relays, 3000);
		CHECK_EQ(b.relays, 1);
		CHECK_EQ(b.last_kind, ACTR_SIG_RELAY_ICE_CANDIDATE);
		got = webrtc__ice_candidate__unpack(NULL, b.last_payload_len,
						    b.last_payload);
		CHECK(got);
		CHECK_STR(got->candidate, ic.candidate);
		webrtc__ice_candidate__free_unpacked(got, NULL);
		an = actr_sigclient_actor_id(a.c, aid, sizeof(aid));
		CHECK_EQ(b.last_src_len, an);
		CHECK_MEM(b.last_src, aid, an);
		/* and a bad kind is refused locally */
		CHECK_EQ(actr_sigclient_relay(a.c, bid, bid_len, 99, buf, n), -EINVAL);
	}

	/* role negotiation: exactly one offerer */
	{
		Actr__RoleAssignment *ra_a, *ra_b;

		memset(&rep, 0, sizeof(rep));
		b.relays = 0;
		CHECK_OK(actr_sigclient_negotiate_role(a.c, bid, bid_len,
						       on_reply, &rep));
		run_until(r, &rep.done, 3000);
		run_until(r, &b.relays, 3000);
		CHECK_OK(rep.rc);
		CHECK_EQ(b.last_kind, ACTR_SIG_RELAY_ROLE_ASSIGNMENT);
		ra_a = actr__role_assignment__unpack(NULL, rep.len, rep.msg);
		ra_b = actr__role_assignment__unpack(NULL, b.last_payload_len,
						     b.last_payload);
		CHECK(ra_a && ra_b);
		CHECK(ra_a->is_offerer != ra_b->is_offerer);
		/* the larger serial offers (serials are random within a
		 * millisecond, not in registration order) */
		{
			uint8_t aid[256];
			size_t an = actr_sigclient_actor_id(a.c, aid, sizeof(aid));
			Actr__ActrId *ia = actr__actr_id__unpack(NULL, an, aid);
			Actr__ActrId *ib = actr__actr_id__unpack(NULL, bid_len,
								 bid);

			CHECK(ia && ib);
			CHECK_EQ(ra_b->is_offerer,
				 ib->serial_number > ia->serial_number);
			actr__actr_id__free_unpacked(ia, NULL);
			actr__actr_id__free_unpacked(ib, NULL);
		}
		actr__role_assignment__free_unpacked(ra_a, NULL);
		actr__role_assignment__free_unpacked(ra_b, NULL);
	}

	/* ActrUp: a subscribes, a new acme:late comes up */
	memset(&rep, 0, sizeof(rep));
	CHECK_OK(actr_sigclient_subscribe(a.c, "acme", "late", "1.0.0", true,
					  on_reply, &rep));
	run_until(r, &rep.done, 3000);
	CHECK_OK(rep.rc);
	client(r, &late, port, "late", NULL, false, 0);
	run_until(r, &a.ups, 5000);
	CHECK_EQ(a.ups, 1);
	/* service spec by name; an unknown one is 404 */
	memset(&rep, 0, sizeof(rep));
	CHECK_OK(actr_sigclient_service_spec(a.c, "Nope", on_reply, &rep));
	run_until(r, &rep.done, 3000);
	CHECK_EQ(rep.rc, -ACTR_ENOTFOUND);

	actr_sigclient_free(late.c);
	actr_sigclient_free(a.c);
	actr_sigclient_free(b.c);
	drain_ms(r, 200);
	actr__sig_listener_free(l);
	drain(r);
	actr_reactor_free(r);
}

TEST_TIMEOUT(signal_client_heartbeat_and_renew, 30)
{
	actr_reactor_t *r = actr_reactor_new();
	/* heartbeat 1 s; credentials of 10 s renewed 8 s before expiry */
	struct actr__sig_listener *l = server(r, ":memory:", 0, 1, 10);
	struct cl a;
	struct cl *aa[1] = { &a };
	struct actr_sigclient_stats st = { 0 };
	uint64_t end;
	char id[256];

	client(r, &a, actr__sig_listener_port(l), "x", NULL, false, 8);
	run_connected(r, aa, 1, 5000);
	snprintf(id, sizeof(id), "%s", actr_sigclient_actor_id_str(a.c));
	end = actr_time_ns() + ACTR_MS(actr_test_scale(8000));
	while ((st.renewals < 1 || st.pongs < 3) && actr_time_ns() < end) {
		actr_reactor_run_once(r, 20);
		actr_sigclient_get_stats(a.c, &st);
	}
	CHECK(st.renewals >= 1);
	CHECK(st.pongs >= 3);
	CHECK_EQ(st.pong_timeouts, 0);
	CHECK_EQ(st.connects, 1);
	CHECK_STR(actr_sigclient_actor_id_str(a.c), id);
	CHECK_EQ(actr__sig_stats(actr__sig_listener_core(l))->renewed,
		 st.renewals);
	actr_sigclient_free(a.c);
	drain_ms(r, 200);
	actr__sig_listener_free(l);
	drain(r);
	actr_reactor_free(r);
}

TEST_TIMEOUT(signal_client_reconnect_after_restart, 30)
{
	actr_reactor_t *r = actr_reactor_new();
	char db[512], id[256];
	struct actr__sig_listener *l;
	struct cl a;
	struct cl *aa[1] = { &a };
	struct actr_sigclient_stats st;
	uint16_t port;

	snprintf(db, sizeof(db), "%s/sig.db", actr_test_tmpdir());
	l = server(r, db, 0, 30, 3600);
	port = actr__sig_listener_port(l);
	client(r, &a, port, "x", NULL, false, 0);
	run_connected(r, aa, 1, 5000);
	snprintf(id, sizeof(id), "%s", actr_sigclient_actor_id_str(a.c));
	/* restart the server on the same port and state */
	actr__sig_listener_free(l);
	{
		int lost = 0;
		uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(3000));

		while (a.st == ACTR_SIG_CONNECTED && actr_time_ns() < end)
			actr_reactor_run_once(r, 10);
		lost = a.st != ACTR_SIG_CONNECTED;
		CHECK(lost);
	}
	l = server(r, db, port, 30, 3600);
	run_connected(r, aa, 1, 5000);
	actr_sigclient_get_stats(a.c, &st);
	CHECK_EQ(st.connects, 2);
	CHECK_EQ(st.registrations, 1);
	CHECK_STR(actr_sigclient_actor_id_str(a.c), id);
	CHECK_EQ(actr__sig_live_count(actr__sig_listener_core(l)), 1);

	/* restart with a fresh state: the credential is refused (401), the
	 * client registers again under a new identity */
	actr__sig_listener_free(l);
	l = server(r, ":memory:", port, 30, 3600);
	{
		uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(8000));

		do {
			actr_reactor_run_once(r, 10);
			actr_sigclient_get_stats(a.c, &st);
		} while ((st.registrations < 2 || a.st != ACTR_SIG_CONNECTED) &&
			 actr_time_ns() < end);
	}
	CHECK_EQ(st.registrations, 2);
	CHECK_EQ(a.st, ACTR_SIG_CONNECTED);
	CHECK_EQ(actr__sig_live_count(actr__sig_listener_core(l)), 1);
	actr_sigclient_free(a.c);
	drain_ms(r, 200);
	actr__sig_listener_free(l);
	drain(r);
	actr_reactor_free(r);
}

TEST_TIMEOUT(signal_client_gives_up, 20)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l = server(r, ":memory:", 0, 30, 3600);
	uint16_t port = actr__sig_listener_port(l);
	struct cl a;
	struct actr_sigclient_stats st;
	int failed = 0;
	uint64_t end;

	actr__sig_listener_free(l); /* nothing listens there now */
	client(r, &a, port, "x", NULL, false, 0);
	end = actr_time_ns() + ACTR_MS(actr_test_scale(10000));
	while (!failed && actr_time_ns() < end) {
		actr_reactor_run_once(r, 10);
		failed = a.st == ACTR_SIG_FAILED;
	}
	CHECK(failed);
	actr_sigclient_get_stats(a.c, &st);
	CHECK_EQ(st.reconnect_attempts, 10);
	/* requests fail fast while not connected */
	CHECK_EQ(actr_sigclient_discover(a.c, NULL, 0, NULL, NULL),
		 -ACTR_ENOTREADY);
	actr_sigclient_free(a.c);
	drain(r);
	actr_reactor_free(r);
}

/* ---- a mute server: registration works, the WebSocket never answers ---- */

struct mute {
	struct actr__sig_server *core;	/* issues real registrations */
	int upgrades;			/* WebSockets accepted */
};

static int mute_send(void *ctx, uint64_t conn, const uint8_t *d, size_t n)
{
	return 0;
}

static void mute_close(void *ctx, uint64_t conn, int code, const char *w)
{
}

static void mute_msg(actr_ws_t *ws, bool text, const uint8_t *d, size_t n,
		     void *arg)
{
}

static void mute_ws_close(actr_ws_t *ws, int code, const char *r, void *arg)
{
}

static void mute_request(actr_http_req_t *q, void *arg)
{
	static const struct actr_ws_callbacks cbs = {
		.on_message = mute_msg, .on_close = mute_ws_close };
	struct mute *m = arg;
	struct actr__sig_http_reply rep;
	size_t n = 0;
	const uint8_t *body = actr_http_req_body(q, &n);

	if (actr_http_req_is_websocket(q)) {
		if (actr_http_accept_ws(q, &cbs, m))
			m->upgrades++;
		return;
	}
	CHECK_OK(actr__sig_http(m->core, actr_http_req_method(q),
				actr_http_req_path(q), body, n,
				actr_http_req_header(q, "x-actrix-realm-secret"),
				"127.0.0.1", actr_wall_ms(), &rep));
	actr_http_respond(q, rep.status, rep.ctype, NULL, rep.body, rep.len);
	free(rep.body);
}

TEST_TIMEOUT(signal_client_timeouts_and_dead_connection, 30)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_config cfg;
	struct actr__sig_io io = { NULL, mute_send, mute_close };
	struct actr_http_server_config hc = { 0 };
	struct mute m = { 0 };
	actr_http_server_t *hs;
	struct cl a;
	struct cl *aa[1] = { &a };
	struct reply rep = { 0 };
	struct actr_sigclient_stats st;
	uint64_t end;

	actr__sig_config_defaults(&cfg);
	cfg.db_path = ":memory:";
	/* the pong deadline (max(0.4 x interval, 1 s)) must come after the
	 * request timeout, also when timeouts are scaled (valgrind) */
	cfg.heartbeat_s = (uint32_t)actr_test_scale(2);
	cfg.reg_per_min = 6000;
	m.core = actr__sig_new(&cfg, &io, actr_wall_ms());
	CHECK(m.core);
	CHECK_OK(actr__sig_add_realm(m.core, 101, "pw"));
	hc.host = "127.0.0.1";
	hc.on_request = mute_request;
	hc.arg = &m;
	hs = actr_http_server_new(r, &hc);
	CHECK(hs);
	client(r, &a, actr_http_server_port(hs), "x", NULL, false, 0);
	run_connected(r, aa, 1, 5000);
	/* a request nobody answers times out (request_timeout_ms = 300) */
	CHECK_OK(actr_sigclient_discover(a.c, NULL, 0, on_reply, &rep));
	run_until(r, &rep.done, 3000);
	CHECK(rep.done);
	CHECK_EQ(rep.rc, -ACTR_ETIMEDOUT);
	/* the unanswered ping kills the connection; the client reconnects */
	end = actr_time_ns() + ACTR_MS(actr_test_scale(8000));
	do {
		actr_reactor_run_once(r, 10);
		actr_sigclient_get_stats(a.c, &st);
	} while ((st.pong_timeouts < 1 || st.connects < 2) &&
		 actr_time_ns() < end);
	CHECK(st.pong_timeouts >= 1);
	CHECK(st.connects >= 2);
	CHECK_EQ(st.registrations, 1);
	CHECK(m.upgrades >= 2);
	actr_sigclient_free(a.c);
	drain_ms(r, 200);
	actr_http_server_free(hs);
	drain(r);
	actr__sig_free(m.core);
	actr_reactor_free(r);
}

TEST_TIMEOUT(signal_client_over_tls, 30)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_config cfg;
	struct actr__sig_listen_config lc = { .host = "127.0.0.1" };
	struct actr__sig_listener *l;
	char cert[512], key[512];
	struct cl a, b;
	struct cl *ab[2] = { &a, &b };
	struct reply rep = { 0 };

	nt_make_cert(actr_test_tmpdir(), cert, key, sizeof(cert));
	actr__sig_config_defaults(&cfg);
	cfg.db_path = ":memory:";
	lc.tls_cert = cert;
	lc.tls_key = key;
	l = actr__sig_listen(r, &cfg, &lc);
	CHECK(l);
	CHECK_OK(actr__sig_add_realm(actr__sig_listener_core(l), 101, "pw"));
	client_ca = cert;
	client(r, &a, actr__sig_listener_port(l), "caller", NULL, false, 0);
	client(r, &b, actr__sig_listener_port(l), "echo", "Echo", false, 0);
	client_ca = NULL;
	run_connected(r, ab, 2, 8000);
	CHECK_OK(actr_sigclient_discover(a.c, NULL, 0, on_reply, &rep));
	run_until(r, &rep.done, 3000);
	CHECK_OK(rep.rc);
	actr_sigclient_free(a.c);
	actr_sigclient_free(b.c);
	drain_ms(r, 200);
	actr__sig_listener_free(l);
	drain(r);
	actr_reactor_free(r);
}
