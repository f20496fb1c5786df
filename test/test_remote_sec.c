/*
 * A node attacked from outside, through real signaling and WebRTC in one
 * process (issue 12): what cannot be answered normally is answered with
 * an error at once, never left to the caller's deadline; reassembly
 * memory stays under the gate's cap with several attacker connections.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <actr/actr.h>
#include <actr/peer.h>
#include <actr/runtime.h>

#include "runtime/internal.h"
#include "runtime/peer_internal.h"
#include "server/signal_internal.h"
#include "test.h"
#include "test_remote_util.h"

#define MIB (1u << 20)

struct res {
	int done;		/* callbacks run */
	int status;		/* last status */
	char message[200];	/* last error text */
};

static void on_res(const actr_result_t *r, void *arg)
{
	struct res *x = arg;

	x->done++;
	x->status = r->status;
	snprintf(x->message, sizeof(x->message), "%s",
		 r->message ? r->message : "");
}

static int raw_echo(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	return actr_reply_raw(ctx, d, n);
}

/* Replies one byte more than the lane can carry. */
static int raw_too_big(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	size_t len = ACTR__PC_MIN_MAX_MESSAGE + 1;
	uint8_t *big = calloc(1, len);
	int rc;

	(void)d;
	(void)n;
	CHECK(big);
	rc = actr_reply_raw(ctx, big, len);
	free(big);
	return rc;
}

static Actr__ActrType victim_type = { PROTOBUF_C_MESSAGE_INIT(
	&actr__actr_type__descriptor), "acme", "victim", "1.0.0" };

static actr_workload_t *victim_workload(void)
{
	actr_workload_t *w = actr_workload_new("acme", "victim", "1.0.0");

	CHECK(w);
	CHECK_OK(actr_workload_add_route(w, "test.Echo", raw_echo, 0));
	CHECK_OK(actr_workload_add_route(w, "test.TooBig", raw_too_big, 0));
	return w;
}

struct scene {
	actr_reactor_t *r;
	struct actr__sig_listener *l;
	char url[64];
	struct rnode victim;
};

/* Signaling and the victim node (reassembly budget cap/floor, 0 = the
 * defaults); nodes made later get the default limits. */
static void scene_start_ex(struct scene *s, size_t cap, size_t floor)
{
	memset(s, 0, sizeof(*s));
	s->r = actr_reactor_new();
	CHECK(s->r);
	s->l = rt_signal(s->r, 0, s->url, sizeof(s->url));
	memset(&rt_limits, 0, sizeof(rt_limits));
	rt_limits.reasm_cap = cap;
	rt_limits.reasm_floor = floor;
	rt_node(&s->victim, s->r, s->url, victim_workload(), NULL);
	memset(&rt_limits, 0, sizeof(rt_limits));
}

static void scene_start(struct scene *s)
{
	scene_start_ex(s, 0, 0);
}

static void scene_end(struct scene *s)
{
	rt_node_free(&s->victim);
	actr__sig_listener_free(s->l);
	rt_drain(s->r);
	actr_reactor_free(s->r);
}

/* An attacker node connected to the victim (one echo call went
 * through). */
static void attacker(struct scene *s, struct rnode *a, const char *name)
{
	struct res x = { 0 };

	rt_node(a, s->r, s->url, actr_workload_new("acme", name, "1.0.0"),
		NULL);
	rt_wait_ready(s->r, a, &s->victim, 5000);
	CHECK_OK(actr_peer_call_raw(a->peer, &victim_type, "test.Echo", "hi",
				    2, 10000, on_res, &x));
	rt_run(s->r, &x.done, 1, 10000);
	CHECK_EQ(x.status, 0);
}

TEST_TIMEOUT(remote_sec_oversize_request_answered, 60)
{
	struct scene s;
	struct rnode a;
	struct res x = { 0 };
	size_t n = ACTR__PC_MIN_MAX_MESSAGE + 5;
	uint8_t *big = calloc(1, n);
	const actr_system_stats_t *st;

	CHECK(big);
	scene_start(&s);
	st = actr_system_stats(s.victim.sys);
	/* the attacker's lanes carry 32 MiB; the victim's 16 MiB */
	rt_limits.max_message = 32u * MIB;
	attacker(&s, &a, "attacker");
	CHECK_OK(actr_peer_call_raw(a.peer, &victim_type, "test.Echo", big, n,
				    30000, on_res, &x));
	rt_run(s.r, &x.done, 1, 25000);
	CHECK_EQ(x.done, 1);
	/* answered, unhandled, long before the deadline */
	CHECK_EQ(x.status, -ACTR_EINVALARG);
	CHECK(strstr(x.message, "exceeds the lane limit of 16777216 bytes"));
	CHECK_EQ(st->refused_oversize, 1);
	CHECK_EQ(st->handled, 1);	/* the warm-up call only */
	free(big);
	rt_node_free(&a);
	scene_end(&s);
}

TEST_TIMEOUT(remote_sec_reply_too_big_error_reply, 40)
{
	struct scene s;
	struct rnode a;
	struct res x = { 0 }, y = { 0 };
	const actr_system_stats_t *st;

	scene_start(&s);
	st = actr_system_stats(s.victim.sys);
	attacker(&s, &a, "client");
	CHECK_OK(actr_peer_call_raw(a.peer, &victim_type, "test.TooBig", "x",
				    1, 30000, on_res, &x));
	rt_run(s.r, &x.done, 1, 20000);
	CHECK_EQ(x.done, 1);
	CHECK_EQ(x.status, -ACTR_EINTERNAL);	/* not TimedOut */
	CHECK(strstr(x.message, "exceeds the lane limit"));
	CHECK_EQ(st->reply_failed, 1);
	/* the connection still serves calls */
	CHECK_OK(actr_peer_call_raw(a.peer, &victim_type, "test.Echo", "ok", 2,
				    10000, on_res, &y));
	rt_run(s.r, &y.done, 1, 10000);
	CHECK_EQ(y.status, 0);
	rt_node_free(&a);
	scene_end(&s);
}

/* Send a crafted envelope from a's peer gate straight onto its
 * connection to the victim, with a pending entry in a's runtime for the
 * request id so the answer lands in *x. */
static void send_crafted(struct rnode *a, const Actr__ActrId *to,
			 Actr__RpcEnvelope *e, struct res *x)
{
	struct actr__pending *p = actr__pending_add(a->sys, a->node, 20000);
	char rid[24];

	CHECK(p);
	p->cb = on_res;
	p->arg = x;
	p->resp_type = NULL;
	actr__format_rid(p->rid, rid);
	e->request_id = rid;
	CHECK_OK(a->peer->lane.ops->send(&a->peer->lane, to, e,
					 ACTR__PAYLOAD_TYPE__RPC_RELIABLE));
	e->request_id = NULL;
}

TEST_TIMEOUT(remote_sec_malformed_requests_invalid_argument, 40)
{
	struct scene s;
	struct rnode a;
	struct res x[3] = { { 0 } };
	Actr__RpcEnvelope e = ACTR__RPC_ENVELOPE__INIT;
	const actr_system_stats_t *st;
	int done = 0;

	scene_start(&s);
	st = actr_system_stats(s.victim.sys);
	attacker(&s, &a, "attacker");
	e.route_key = "test.Echo";
	e.has_payload = 1;
	e.payload.data = (uint8_t *)"x";
	e.payload.len = 1;
	/* a REQUEST without a deadline */
	e.has_direction = 1;
	e.direction = ACTR__DIRECTION__DIRECTION_REQUEST;
	e.timeout_ms = 0;
	send_crafted(&a, actr_node_id(s.victim.node), &e, &x[0]);
	/* a request without a direction, and one with an unknown one */
	e.timeout_ms = 5000;
	e.has_direction = 0;
	send_crafted(&a, actr_node_id(s.victim.node), &e, &x[1]);
	e.has_direction = 1;
	e.direction = 7;
	send_crafted(&a, actr_node_id(s.victim.node), &e, &x[2]);
	for (int i = 0; i < 1000 && done < 3; i++) {
		actr_reactor_run_once(s.r, 10);
		done = x[0].done + x[1].done + x[2].done;
	}
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(x[i].done, 1);
		CHECK_EQ(x[i].status, -ACTR_EINVALARG);	/* not TimedOut */
	}
	CHECK(strstr(x[0].message, "timeout_ms"));
	CHECK(strstr(x[1].message, "direction"));
	CHECK_EQ(st->dropped_invalid, 3);
	CHECK_EQ(st->handled, 1);	/* the warm-up call only */
	rt_node_free(&a);
	scene_end(&s);
}

/* The pc of a's connection to the victim. */
static actr__pc_t *conn_pc(struct rnode *a)
{
	struct actr__map_iter it;
	struct actr__map_node *v;

	actr__map_foreach(&a->peer->conns, it, v) {
		struct peer_conn *c =
			actr__map_entry(v, struct peer_conn, node);

		if (c->st == PC_OPEN)
			return c->pc;
	}
	return NULL;
}

/* Fragments the victim's pcs received so far. */
static uint64_t victim_frags_in(struct scene *s)
{
	struct actr__map_iter it;
	struct actr__map_node *v;
	uint64_t n = 0;

	actr__map_foreach(&s->victim.peer->conns, it, v) {
		struct peer_conn *c =
			actr__map_entry(v, struct peer_conn, node);
		struct actr__pc_stats st;

		if (c->pc) {
			actr__pc_get_stats(c->pc, &st);
			n += st.frags_in;
		}
	}
	return n;
}

/* Send nfrags fragments of 60000 bytes of messages that never complete
 * (msg_id base.., 1000 fragments each, 40 sent per message) on a's
 * RPC_RELIABLE channel. */
static void send_partials(struct rnode *a, uint32_t base, unsigned nfrags)
{
	static uint8_t frag[ACTR_FRAG_HDR_LEN + 60000];
	actr__dc_t *dc = actr__pc_lane_channel(conn_pc(a),
					       ACTR__LANE_RPC_RELIABLE);

	CHECK(dc);
	for (unsigned i = 0; i < nfrags; i++) {
		actr__frag_hdr_t h = { base + i / 40, (uint16_t)(i % 40),
				       1000 };

		actr__frag_hdr_write(frag, &h);
		CHECK_OK(actr__dc_send(dc, frag, sizeof(frag), true));
	}
}

/* Four attackers each send 6 MiB of partial messages to a victim whose
 * budget is 8 MiB: the victim holds at most 8 MiB, refuses or evicts the
 * rest, and an honest 1 MiB call still goes through meanwhile. */
TEST_TIMEOUT(remote_sec_reassembly_cap_several_attackers, 90)
{
	enum { NATT = 4, FRAGS = 105 };	/* 105 x 60000 B = 6 MiB each */
	struct scene s;
	struct rnode a[NATT], honest;
	struct res x = { 0 };
	actr_peer_stats_t st;
	uint64_t want;
	size_t cap = 8u * MIB, n = MIB;
	uint8_t *big = calloc(1, n);

	CHECK(big);
	scene_start_ex(&s, cap, MIB);
	for (int i = 0; i < NATT; i++) {
		char name[16];

		snprintf(name, sizeof(name), "attacker%d", i);
		attacker(&s, &a[i], name);
	}
	attacker(&s, &honest, "honest");
	want = victim_frags_in(&s) + NATT * FRAGS;
	for (int i = 0; i < NATT; i++)
		send_partials(&a[i], 0x40000000u + (uint32_t)i * 100, FRAGS);
	for (int i = 0; i < 3000 && victim_frags_in(&s) < want; i++) {
		actr_reactor_run_once(s.r, 10);
		actr_peer_get_stats(s.victim.peer, &st);
		CHECK(st.reasm_held <= cap);
	}
	CHECK_EQ(victim_frags_in(&s), want);
	actr_peer_get_stats(s.victim.peer, &st);
	printf("offered %u x %u B; victim holds %llu B (peak %llu, cap %zu), "
	       "refused %llu fragments, evicted %llu partials (RSS: "
	       "bench/reasm_attack)\n", NATT * FRAGS, 60000u,
	       (unsigned long long)st.reasm_held,
	       (unsigned long long)st.reasm_peak, cap,
	       (unsigned long long)st.reasm_refused,
	       (unsigned long long)st.reasm_evicted);
	CHECK(st.reasm_held <= cap);
	CHECK(st.reasm_peak <= cap);
	CHECK(st.reasm_held > cap / 2);		/* it did hold data */
	CHECK(st.reasm_refused + st.reasm_evicted > 0);
	/* an honest 1 MiB call gets room: attackers over their share lose
	 * their oldest partials to it */
	CHECK_OK(actr_peer_call_raw(honest.peer, &victim_type, "test.Echo",
				    big, n, 20000, on_res, &x));
	rt_run(s.r, &x.done, 1, 20000);
	CHECK_EQ(x.status, 0);
	actr_peer_get_stats(s.victim.peer, &st);
	CHECK(st.reasm_peak <= cap);
	free(big);
	rt_node_free(&honest);
	for (int i = 0; i < NATT; i++)
		rt_node_free(&a[i]);
	scene_end(&s);
}

/* What the application hears about a refused registration: on_state gets
 * FAILED once (no retries), and actr_peer_reason says why. */
struct refusal {
	int failed, backoff;
	int rc;
	char why[256];
};

static void on_refusal_state(actr_peer_t *p, int st, void *arg)
{
	struct refusal *x = arg;

	if (st == ACTR_SIG_BACKOFF)
		x->backoff++;
	if (st == ACTR_SIG_FAILED) {
		x->failed++;
		x->rc = actr_peer_reason(p, x->why, sizeof(x->why));
	}
}

TEST_TIMEOUT(remote_sec_bad_secret_and_realm_reported, 30)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	char url[64];
	static const struct {
		uint32_t realm;
		const char *secret;
		int rc;
		const char *text;
	} cases[] = {
		{ 101, "wrong", -ACTR_EAUTH, "realm secret mismatch" },
		{ 999, "pw", -ACTR_EPERM, "unknown realm" },
	};

	CHECK(r);
	l = rt_signal(r, 0, url, sizeof(url));
	for (int i = 0; i < 2; i++) {
		actr_system_config_t sc = { .realm_id = cases[i].realm };
		actr_peer_config_t pc = { 0 };
		struct refusal x = { 0 };
		actr_system_t *sys = actr_system_new(r, &sc);
		actr_node_t *n = actr_node_new(sys, actr_workload_new("acme",
						"refused", "1.0.0"), 0);
		actr_peer_t *p;
		struct actr_sigclient_stats ss;

		CHECK(sys && n);
		CHECK_OK(actr_node_start(n, NULL));
		pc.signaling_url = url;
		pc.realm_secret = cases[i].secret;
		pc.local_addr = "127.0.0.1";
		pc.on_state = on_refusal_state;
		pc.arg = &x;
		p = actr_peer_new(n, &pc);
		CHECK(p);
		CHECK_OK(actr_peer_start(p));
		rt_run(r, &x.failed, 1, 5000);
		CHECK_EQ(x.failed, 1);
		CHECK_EQ(x.backoff, 0);			/* not retried */
		CHECK_EQ(x.rc, cases[i].rc);
		CHECK(strstr(x.why, cases[i].text) != NULL);
		for (int k = 0; k < 20; k++)
			actr_reactor_run_once(r, 10);
		CHECK_EQ(x.failed, 1);
		actr_sigclient_get_stats(p->sc, &ss);
		CHECK_EQ(ss.reconnect_attempts, 0);
		actr_peer_free(p);
		actr_system_free(sys);
	}
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}
