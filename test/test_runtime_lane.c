/* The remote-lane seam with a fake lane: inbound REQUEST/TELL/RESPONSE,
 * envelope rules (missing direction dropped), response cache (dedup),
 * late responses, RPC_SIGNAL lane priority, the mailbox seam, and
 * outbound calls to actors outside the process. */
#include <errno.h>
#include <stdlib.h>

#include <actr/actr.h>
#include <actr/runtime.h>

#include "runtime/internal.h"
#include "test.h"

struct sent {
	Actr__RpcEnvelope *env[32];	/* decoded copies of sent envelopes */
	char target[32][ACTR_ID_STR_MAX + 1];
	int payload_type[32];
	int n;
	int fail;			/* make send fail */
	size_t max;			/* refuse larger envelopes
					 * (-ACTR_ETOOBIG), 0 = no bound */
};

static int fake_send(actr__lane_t *lane, const Actr__ActrId *target,
		     const Actr__RpcEnvelope *env, int payload_type)
{
	struct sent *s = lane->arg;
	uint8_t buf[1024];
	size_t n;

	if (s->fail)
		return -EPIPE;
	CHECK(s->n < 32);
	/* a real lane encodes: do the same, so the bytes are checked */
	n = protobuf_c_message_get_packed_size(&env->base);
	if (s->max && n > s->max)
		return -ACTR_ETOOBIG;
	CHECK(n <= sizeof(buf));
	protobuf_c_message_pack(&env->base, buf);
	s->env[s->n] = actr__rpc_envelope__unpack(NULL, n, buf);
	CHECK(s->env[s->n]);
	actr_id_format(target, s->target[s->n], sizeof(s->target[0]));
	s->payload_type[s->n] = payload_type;
	s->n++;
	return 0;
}

static const struct actr__lane_ops fake_ops = { .send = fake_send };

static void sent_free(struct sent *s)
{
	for (int i = 0; i < s->n; i++)
		actr_proto_free(s->env[i]);
	s->n = 0;
}

struct srv {
	int handled;
	char order[32];
	int norder;
	actr_ctx_t *kept;
};

static int h_echo(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	struct srv *s = actr_ctx_user(ctx);

	s->handled++;
	if (n && s->norder < 31)
		s->order[s->norder++] = (char)d[0];
	return actr_reply_raw(ctx, d, n);
}

static void fwd_done(const actr_result_t *res, void *arg)
{
	actr_ctx_t *ctx = arg;

	if (res->status < 0)
		actr_reply_error(ctx, (uint32_t)-res->status, res->message);
	else
		actr_reply_raw(ctx, res->data, res->len);
}

/* Replies 500 bytes, whatever came. */
static int h_big(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	static uint8_t big[500];

	(void)d;
	(void)n;
	return actr_reply_raw(ctx, big, sizeof(big));
}

static Actr__ActrId *far_id;

static int h_fwd(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	return actr_call_raw(actr_ctx_keep(ctx), far_id, "far.F.Do", d, n,
			     0, fwd_done, ctx);
}

static actr__lane_t lane;
static struct sent sent;

static actr__lane_t *resolve(void *arg, const Actr__ActrId *target)
{
	return target->serial_number == 0xdef ? &lane : NULL;
}

struct t {
	actr_reactor_t *r;
	actr_system_t *sys;
	actr_node_t *node;
	actr_ref_t *ref;
	struct srv srv;
	Actr__ActrId *cli;
};

static void t_init(struct t *t)
{
	actr_workload_t *w;

	memset(t, 0, sizeof(*t));
	memset(&sent, 0, sizeof(sent));
	actr_log_set_level(ACTR_LOG_ERROR);
	lane.ops = &fake_ops;
	lane.arg = &sent;
	lane.max_message = 0;
	t->r = actr_reactor_new();
	t->sys = actr_system_new(t->r, &(actr_system_config_t){
						.realm_id = 101 });
	w = actr_workload_new("acme", "srv", "1");
	CHECK_OK(actr_workload_add_route(w, "t.T.Echo", h_echo, 0));
	CHECK_OK(actr_workload_add_route(w, "t.T.Fwd", h_fwd, 0));
	CHECK_OK(actr_workload_add_route(w, "t.T.Big", h_big, 0));
	actr_workload_set_hooks(w, &(actr_hooks_t){ 0 }, &t->srv);
	t->node = actr_node_new(t->sys, w, 0x5);
	CHECK_OK(actr_node_start(t->node, &t->ref));
	CHECK_OK(actr_id_parse("abc@101/acme:cli:1", &t->cli));
	CHECK_OK(actr_id_parse("def@101/acme:far:1", &far_id));
	actr__system_set_remote(t->sys, resolve, NULL);
}

static void t_fini(struct t *t)
{
	actr_system_free(t->sys);
	actr_reactor_free(t->r);
	actr_proto_free(t->cli);
	actr_proto_free(far_id);
	sent_free(&sent);
}

static void run(struct t *t)
{
	for (int i = 0; i < 5; i++)
		actr_reactor_run_once(t->r, 0);
}

TEST(runtime_lane_inbound_request_and_dedup)
{
	struct t t;
	Actr__RpcEnvelope e;

	t_init(&t);
	CHECK_OK(actr_envelope_request(&e, "t.T.Echo", "req-1", "hey", 3,
				       5000));
	CHECK_OK(actr__system_deliver(t.sys, t.node, &lane, t.cli, &e,
				      ACTR__PAYLOAD_TYPE__RPC_RELIABLE));
	run(&t);
	CHECK_EQ(t.srv.handled, 1);
	CHECK_EQ(sent.n, 1);
	Actr__RpcEnvelope *r = sent.env[0];
	CHECK_EQ(r->direction, ACTR__DIRECTION__DIRECTION_RESPONSE);
	CHECK_STR(r->request_id, "req-1");
	CHECK_STR(r->route_key, "t.T.Echo");
	CHECK_EQ(r->timeout_ms, 0);
	CHECK(r->has_payload && r->payload.len == 3);
	CHECK_MEM(r->payload.data, "hey", 3);
	CHECK_OK(actr_envelope_validate(r));
	CHECK_STR(sent.target[0], "abc@101/acme:cli:1");
	CHECK_EQ(sent.payload_type[0], ACTR__PAYLOAD_TYPE__RPC_RELIABLE);

	/* the same request again: answered from the cache */
	CHECK_OK(actr__system_deliver(t.sys, t.node, &lane, t.cli, &e,
				      ACTR__PAYLOAD_TYPE__RPC_RELIABLE));
	run(&t);
	CHECK_EQ(t.srv.handled, 1);
	CHECK_EQ(sent.n, 2);
	CHECK_STR(sent.env[1]->request_id, "req-1");
	CHECK_MEM(sent.env[1]->payload.data, "hey", 3);
	CHECK_EQ(actr_system_stats(t.sys)->dedup_hits, 1);

	/* a repeat while the first copy is still queued: handled once */
	CHECK_OK(actr_envelope_request(&e, "t.T.Echo", "req-2", "b", 1, 5000));
	CHECK_OK(actr__system_deliver(t.sys, t.node, &lane, t.cli, &e, 0));
	CHECK_OK(actr__system_deliver(t.sys, t.node, &lane, t.cli, &e, 0));
	run(&t);
	CHECK_EQ(t.srv.handled, 2);
	CHECK_EQ(sent.n, 3);

	/* the same request id from another caller is a different request */
	Actr__ActrId *other;
	CHECK_OK(actr_id_parse("abd@101/acme:cli:1", &other));
	CHECK_OK(actr__system_deliver(t.sys, t.node, &lane, other, &e, 0));
	run(&t);
	CHECK_EQ(t.srv.handled, 3);
	actr_proto_free(other);
	t_fini(&t);
}

TEST(runtime_lane_envelope_rules)
{
	struct t t;
	Actr__RpcEnvelope e;

	t_init(&t);
	CHECK_OK(actr_envelope_request(&e, "t.T.Echo", "r", "x", 1, 5000));
	e.has_direction = 0;
	CHECK_EQ(actr__system_deliver(t.sys, t.node, &lane, t.cli, &e, 0),
		 -ACTR_EPROTO);
	e.has_direction = 1;
	e.direction = 9;
	CHECK_EQ(actr__system_deliver(t.sys, t.node, &lane, t.cli, &e, 0),
		 -ACTR_EPROTO);
	e.direction = ACTR__DIRECTION__DIRECTION_REQUEST;
	e.timeout_ms = 0;
	CHECK_EQ(actr__system_deliver(t.sys, t.node, &lane, t.cli, &e, 0),
		 -ACTR_EPROTO);
	CHECK_EQ(actr_system_stats(t.sys)->dropped_invalid, 3);
	run(&t);
	CHECK_EQ(t.srv.handled, 0);
	/* each looked like a request: answered InvalidArgument at once */
	CHECK_EQ(sent.n, 3);
	for (int i = 0; i < 3; i++) {
		CHECK_STR(sent.env[i]->request_id, "r");
		CHECK(sent.env[i]->error);
		CHECK_EQ(sent.env[i]->error->code, ACTR_EINVALARG);
		CHECK_EQ(sent.env[i]->direction,
			 ACTR__DIRECTION__DIRECTION_RESPONSE);
		CHECK_OK(actr_envelope_validate(sent.env[i]));
	}
	CHECK(strstr(sent.env[0]->error->message, "direction"));
	CHECK(strstr(sent.env[2]->error->message, "timeout_ms"));
	sent_free(&sent);
	/* without a direction, what may be a response is never answered
	 * (no timeout, or an error inside): dropped, counted */
	e.has_direction = 0;
	CHECK_EQ(actr__system_deliver(t.sys, t.node, &lane, t.cli, &e, 0),
		 -ACTR_EPROTO);
	Actr__ErrorResponse er = ACTR__ERROR_RESPONSE__INIT;
	er.code = ACTR_EINTERNAL;
	er.message = "x";
	e.timeout_ms = 5000;
	e.error = &er;
	CHECK_EQ(actr__system_deliver(t.sys, t.node, &lane, t.cli, &e, 0),
		 -ACTR_EPROTO);
	e.error = NULL;
	/* no caller to answer */
	CHECK_EQ(actr__system_deliver(t.sys, t.node, &lane, NULL, &e, 0),
		 -ACTR_EPROTO);
	CHECK_EQ(actr_system_stats(t.sys)->dropped_invalid, 6);
	CHECK_EQ(sent.n, 0);

	/* a response nobody waits for */
	Actr__RpcEnvelope resp;
	CHECK_OK(actr_envelope_response(&resp, &e, "y", 1));
	resp.request_id = "00000000000000ff";
	CHECK_OK(actr__system_deliver(t.sys, t.node, &lane, t.cli, &resp, 0));
	resp.request_id = "not-ours";
	CHECK_EQ(actr__system_deliver(t.sys, t.node, &lane, t.cli, &resp, 0),
		 -ACTR_ENOTFOUND);
	run(&t);
	CHECK_EQ(actr_system_stats(t.sys)->late_responses, 2);

	/* unknown route: ErrorResponse 10006 on the lane */
	CHECK_OK(actr_envelope_request(&e, "t.T.Nope", "r9", "x", 1, 5000));
	CHECK_OK(actr__system_deliver(t.sys, t.node, &lane, t.cli, &e, 0));
	CHECK_EQ(sent.n, 1);
	CHECK(sent.env[0]->error);
	CHECK_EQ(sent.env[0]->error->code, ACTR_EUNKNOWNROUTE);
	CHECK(!sent.env[0]->has_payload);
	CHECK_OK(actr_envelope_validate(sent.env[0]));
	t_fini(&t);
}

/* A request over the lane's limit is refused unhandled with
 * InvalidArgument; a reply the lane refuses becomes an Internal error
 * reply, which the response cache keeps for a repeat. */
TEST(runtime_lane_oversize_and_failed_reply)
{
	struct t t;
	Actr__RpcEnvelope e;
	static uint8_t pl[200];
	const actr_system_stats_t *st;

	t_init(&t);
	st = actr_system_stats(t.sys);
	lane.max_message = 100;
	CHECK_OK(actr_envelope_request(&e, "t.T.Echo", "r1", pl, sizeof(pl),
				       5000));
	CHECK_EQ(actr__system_deliver(t.sys, t.node, &lane, t.cli, &e, 0),
		 -ACTR_ETOOBIG);
	CHECK_OK(actr_envelope_tell(&e, "t.T.Echo", "t1", pl, sizeof(pl)));
	CHECK_EQ(actr__system_deliver(t.sys, t.node, &lane, t.cli, &e, 0),
		 -ACTR_ETOOBIG);
	run(&t);
	CHECK_EQ(t.srv.handled, 0);
	CHECK_EQ(st->refused_oversize, 2);
	CHECK_EQ(sent.n, 1);		/* the request's answer only */
	CHECK_STR(sent.env[0]->request_id, "r1");
	CHECK(sent.env[0]->error);
	CHECK_EQ(sent.env[0]->error->code, ACTR_EINVALARG);
	CHECK(strstr(sent.env[0]->error->message,
		     "exceeds the lane limit of 100 bytes"));

	/* the handler's 500-byte reply does not fit the lane */
	sent.max = 120;
	CHECK_OK(actr_envelope_request(&e, "t.T.Big", "r2", "x", 1, 5000));
	CHECK_OK(actr__system_deliver(t.sys, t.node, &lane, t.cli, &e, 0));
	run(&t);
	CHECK_EQ(st->handled, 1);
	CHECK_EQ(st->reply_failed, 1);
	CHECK_EQ(st->handler_errors, 1);	/* actr_reply_raw failed */
	CHECK_EQ(sent.n, 2);
	CHECK_STR(sent.env[1]->request_id, "r2");
	CHECK(sent.env[1]->error);
	CHECK_EQ(sent.env[1]->error->code, ACTR_EINTERNAL);
	CHECK(strstr(sent.env[1]->error->message, "reply of 500 bytes"));
	CHECK_OK(actr_envelope_validate(sent.env[1]));
	/* a repeat gets the same error from the cache, unhandled */
	CHECK_OK(actr__system_deliver(t.sys, t.node, &lane, t.cli, &e, 0));
	run(&t);
	CHECK_EQ(st->handled, 1);
	CHECK_EQ(sent.n, 3);
	CHECK(sent.env[2]->error);
	CHECK_EQ(sent.env[2]->error->code, ACTR_EINTERNAL);
	t_fini(&t);
}

TEST(runtime_lane_signal_priority)
{
	struct t t;
	Actr__RpcEnvelope e;
	static const char *ids[] = { "1", "2", "3", "4" };
	static const char pl[] = { 'a', 'b', 'X', 'c' };
	static const int lanes[] = { ACTR__PAYLOAD_TYPE__RPC_RELIABLE,
				     ACTR__PAYLOAD_TYPE__RPC_RELIABLE,
				     ACTR__PAYLOAD_TYPE__RPC_SIGNAL,
				     ACTR__PAYLOAD_TYPE__RPC_RELIABLE };

	t_init(&t);
	for (int i = 0; i < 4; i++) {
		CHECK_OK(actr_envelope_tell(&e, "t.T.Echo", ids[i], &pl[i], 1));
		CHECK_OK(actr__system_deliver(t.sys, t.node, &lane, t.cli, &e,
					      lanes[i]));
	}
	run(&t);
	t.srv.order[t.srv.norder] = '\0';
	CHECK_STR(t.srv.order, "Xabc");
	CHECK_EQ(sent.n, 0); /* tells get no response */
	t_fini(&t);
}

/* The mailbox seam (lane.h): an inbox installed for the node takes its
 * in-process REQUEST/TELL, hands them back with an id, and hears when they
 * were handled; a refusal fails the call with the inbox's code. */
struct inbox {
	int stored;			/* store() calls */
	int refuse;			/* store's code when nonzero */
	struct actr__msg *held;		/* taken, not yet handed back */
	uint64_t done[4];		/* done() ids */
	int ndone;
};

static int inbox_store(void *arg, struct actr__msg *m)
{
	struct inbox *ib = arg;

	ib->stored++;
	if (ib->refuse)
		return ib->refuse;
	ib->held = m;
	return 0;
}

static void inbox_done(void *arg, uint64_t mbid)
{
	struct inbox *ib = arg;

	if (ib->ndone < 4)
		ib->done[ib->ndone++] = mbid;
}

static const struct actr__inbox test_inbox = { inbox_store, inbox_done };

struct call_res {
	int done;
	int status;
};

static void on_call(const actr_result_t *res, void *arg)
{
	struct call_res *c = arg;

	c->done = 1;
	c->status = res->status;
}

TEST(runtime_lane_mailbox_seam)
{
	static const struct actr__inbox other = { inbox_store, inbox_done };
	struct t t;
	struct inbox ib = { 0 };
	struct call_res a = { 0 }, b = { 0 }, c = { 0 };

	t_init(&t);
	CHECK_OK(actr__system_set_inbox(t.sys, t.node, &test_inbox, &ib));
	CHECK_EQ(actr__system_set_inbox(t.sys, t.node, &other, &ib), -EBUSY);
	CHECK_OK(actr_ref_call_raw(t.ref, "t.T.Echo", "x", 1, 5000, on_call,
				   &a));
	run(&t);
	CHECK_EQ(ib.stored, 1);
	CHECK(ib.held);
	CHECK_EQ(a.done, 0); /* stored, not handled yet */
	ib.held->mbid = 42;
	actr__enqueue(t.sys, ib.held);
	ib.held = NULL;
	run(&t);
	CHECK_EQ(a.done, 1);
	CHECK_EQ(a.status, 0);
	CHECK_EQ(t.srv.handled, 1);
	CHECK_EQ(ib.ndone, 1);
	CHECK_EQ(ib.done[0], 42);
	/* refused: the caller gets the inbox's code */
	ib.refuse = -EIO;
	CHECK_OK(actr_ref_call_raw(t.ref, "t.T.Echo", "y", 1, 5000, on_call,
				   &b));
	run(&t);
	CHECK_EQ(b.done, 1);
	CHECK_EQ(b.status, -EIO);
	/* removed: straight to the dispatcher again */
	CHECK_OK(actr__system_set_inbox(t.sys, t.node, NULL, NULL));
	CHECK_OK(actr_ref_call_raw(t.ref, "t.T.Echo", "z", 1, 5000, on_call,
				   &c));
	run(&t);
	CHECK_EQ(c.done, 1);
	CHECK_EQ(c.status, 0);
	CHECK_EQ(ib.stored, 2);
	CHECK_EQ(t.srv.handled, 2);
	t_fini(&t);
}

struct res {
	int done, status;
	char data[64];
};

static void on_result(const actr_result_t *r, void *arg)
{
	struct res *res = arg;

	res->done++;
	res->status = r->status;
	memcpy(res->data, r->data, r->len < 63 ? r->len : 63);
}

TEST(runtime_lane_outbound_call)
{
	struct t t;
	struct res res = { 0 };
	Actr__RpcEnvelope resp;

	t_init(&t);
	CHECK_OK(actr_ref_call_raw(t.ref, "t.T.Fwd", "go", 2, 0, on_result,
				   &res));
	run(&t);
	CHECK_EQ(sent.n, 1);
	Actr__RpcEnvelope *q = sent.env[0];
	CHECK_EQ(q->direction, ACTR__DIRECTION__DIRECTION_REQUEST);
	CHECK_STR(q->route_key, "far.F.Do");
	CHECK_EQ(q->timeout_ms, 30000);
	CHECK_EQ(strlen(q->request_id), 16);
	CHECK_STR(sent.target[0], "def@101/acme:far:1");
	CHECK_OK(actr_envelope_validate(q));

	CHECK_OK(actr_envelope_response(&resp, q, "done", 4));
	CHECK_OK(actr__system_deliver(t.sys, t.node, &lane, far_id, &resp, 0));
	run(&t);
	CHECK_EQ(res.done, 1);
	CHECK_EQ(res.status, 0);
	CHECK_STR(res.data, "done");
	/* the same response again: no longer pending */
	CHECK_OK(actr__system_deliver(t.sys, t.node, &lane, far_id, &resp, 0));
	run(&t);
	CHECK_EQ(actr_system_stats(t.sys)->late_responses, 1);

	/* an error response carries its code */
	memset(&res, 0, sizeof(res));
	CHECK_OK(actr_ref_call_raw(t.ref, "t.T.Fwd", "go", 2, 0, on_result,
				   &res));
	run(&t);
	CHECK_EQ(sent.n, 2);
	Actr__ErrorResponse er = ACTR__ERROR_RESPONSE__INIT;
	er.code = ACTR_ENOTIMPL;
	er.message = "nope";
	CHECK_OK(actr_envelope_error(&resp, sent.env[1], &er));
	CHECK_OK(actr__system_deliver(t.sys, t.node, &lane, far_id, &resp, 0));
	run(&t);
	CHECK_EQ(res.status, -ACTR_ENOTIMPL);

	/* a failing lane fails the call */
	memset(&res, 0, sizeof(res));
	sent.fail = 1;
	CHECK_OK(actr_ref_call_raw(t.ref, "t.T.Fwd", "go", 2, 0, on_result,
				   &res));
	run(&t);
	CHECK_EQ(res.done, 1);
	CHECK_EQ(res.status, -EPIPE);
	t_fini(&t);
}

TEST(runtime_lane_dedup_expires)
{
	struct t t;
	Actr__RpcEnvelope e;
	actr_workload_t *w;

	/* a system whose response cache lives 300 ms */
	memset(&t, 0, sizeof(t));
	memset(&sent, 0, sizeof(sent));
	actr_log_set_level(ACTR_LOG_ERROR);
	lane.ops = &fake_ops;
	lane.arg = &sent;
	t.r = actr_reactor_new();
	t.sys = actr_system_new(t.r, &(actr_system_config_t){
					     .dedup_ttl_ms = 300 });
	w = actr_workload_new("acme", "srv", "1");
	CHECK_OK(actr_workload_add_route(w, "t.T.Echo", h_echo, 0));
	actr_workload_set_hooks(w, &(actr_hooks_t){ 0 }, &t.srv);
	t.node = actr_node_new(t.sys, w, 0);
	CHECK_OK(actr_node_start(t.node, &t.ref));
	CHECK_OK(actr_id_parse("abc@0/acme:cli:1", &t.cli));
	CHECK_OK(actr_id_parse("def@0/acme:far:1", &far_id));

	CHECK_OK(actr_envelope_request(&e, "t.T.Echo", "x1", "a", 1, 5000));
	actr_reactor_run_once(t.r, 0); /* fresh cached time, as in a lane */
	CHECK_OK(actr__system_deliver(t.sys, t.node, &lane, t.cli, &e, 0));
	run(&t);
	CHECK_OK(actr__system_deliver(t.sys, t.node, &lane, t.cli, &e, 0));
	run(&t);
	CHECK_EQ(t.srv.handled, 1);
	/* after the ttl the same id is a new request */
	uint64_t end = actr_time_ns() + ACTR_MS(350);
	while (actr_time_ns() < end)
		actr_reactor_run_once(t.r, 5);
	CHECK_OK(actr__system_deliver(t.sys, t.node, &lane, t.cli, &e, 0));
	run(&t);
	CHECK_EQ(t.srv.handled, 2);
	CHECK_EQ(sent.n, 3);
	t_fini(&t);
}

TEST(runtime_lane_fuzz_inbound)
{
	struct t t;
	Actr__RpcEnvelope e;
	uint8_t good[256], buf[256];
	size_t glen;
	int delivered = 0;

	t_init(&t);
	CHECK_OK(actr_envelope_request(&e, "t.T.Echo", "f", "abc", 3, 100));
	glen = protobuf_c_message_get_packed_size(&e.base);
	protobuf_c_message_pack(&e.base, good);
	/* mutate a valid encoded envelope: decode what decodes, deliver it
	 * on either lane; nothing may crash or leak */
	for (int i = 0; i < 3000; i++) {
		size_t n = glen;
		memcpy(buf, good, glen);
		for (int k = 0; k < 3; k++)
			buf[actr_rand64() % n] = (uint8_t)actr_rand64();
		if (actr_rand64() % 4 == 0)
			n = actr_rand64() % glen;
		Actr__RpcEnvelope *d = actr__rpc_envelope__unpack(NULL, n, buf);
		if (!d)
			continue;
		actr__system_deliver(t.sys, t.node, &lane, t.cli, d,
				     (int)(actr_rand64() % 5));
		delivered++;
		actr_proto_free(d);
		if (sent.n > 16)
			sent_free(&sent);
		if (i % 8 == 0) {
			sent_free(&sent);
			actr_reactor_run_once(t.r, 0);
		}
	}
	sent_free(&sent);
	run(&t);
	CHECK(delivered > 100);
	sent_free(&sent);
	t_fini(&t);
}
