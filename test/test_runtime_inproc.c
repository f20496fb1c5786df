/* In-process integration: several workloads in one process calling each
 * other (nested A -> B -> C before replying), ACL between workloads,
 * timeouts and errors across workloads, shutdown with calls in flight,
 * and the remote-lane seam with a fake lane (dedup, late responses,
 * missing direction, RPC_SIGNAL priority). */
#include <errno.h>
#include <stdlib.h>

#include <actr/actr.h>
#include <actr/runtime.h>

#include "runtime/lane.h"
#include "test.h"

static void run_until(actr_reactor_t *r, const int *flag)
{
	uint64_t end = actr_time_ns() + ACTR_SEC(actr_test_scale(5));

	for (int i = 0; i < 100000 && !*flag; i++) {
		CHECK(actr_reactor_run_once(r, 10) >= 0);
		CHECK(actr_time_ns() < end);
	}
	CHECK(*flag);
}

/* ---- a chain of workloads: A.Relay -> B.Relay -> C.Relay ----------------- */

struct hop {
	const Actr__ActrId *next;	/* where Relay forwards, NULL = leaf */
	const char *next_route;		/* route called on next */
	char seen_caller[ACTR_ID_STR_MAX + 1];
	int handled;
	uint32_t timeout_ms;		/* for the forwarded call */
	actr_ref_t *ref;		/* the shell's ref to this hop */
	actr_ctx_t *hung;		/* kept by Hang */
	actr_timer_t timer;		/* replies to hung */
};

static void on_forward_done(const actr_result_t *res, void *arg)
{
	actr_ctx_t *ctx = arg;
	char buf[256];
	int n;

	if (res->status < 0) {
		CHECK_OK(actr_reply_error(ctx, (uint32_t)-res->status,
					  res->message));
		return;
	}
	/* prepend our name to the inner reply */
	n = snprintf(buf, sizeof(buf), "%s<%.*s",
		     actr_ctx_self(ctx)->type->name, (int)res->len,
		     (const char *)res->data);
	CHECK_OK(actr_reply_raw(ctx, buf, (size_t)n));
}

static int relay(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	struct hop *h = actr_ctx_user(ctx);
	const Actr__ActrId *c = actr_ctx_caller(ctx);

	h->handled++;
	if (c)
		actr_id_format(c, h->seen_caller, sizeof(h->seen_caller));
	else
		strcpy(h->seen_caller, "local");
	if (!h->next) {
		char buf[64];
		int len = snprintf(buf, sizeof(buf), "%s:%.*s",
				   actr_ctx_self(ctx)->type->name, (int)n,
				   (const char *)d);
		return actr_reply_raw(ctx, buf, (size_t)len);
	}
	/* call the next hop before replying: keep the context */
	return actr_call_raw(actr_ctx_keep(ctx), h->next,
			     h->next_route ? h->next_route : "chain.Hop.Relay",
			     d, n, h->timeout_ms, on_forward_done, ctx);
}

static int hop_fail(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	return -ACTR_EINVALARG;
}

static void reply_hung(actr_timer_t *t, void *arg)
{
	struct hop *h = arg;

	CHECK(h->hung);
	CHECK_OK(actr_reply_raw(h->hung, "slow", 4));
	h->hung = NULL;
}

static int hop_hang(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	struct hop *h = actr_ctx_user(ctx);

	h->handled++;
	h->hung = actr_ctx_keep(ctx);
	return 0;
}

static actr_node_t *make_hop(actr_system_t *sys, const char *name,
			     struct hop *h, const Actr__Acl *acl)
{
	actr_workload_t *w = actr_workload_new("acme", name, "1");
	actr_hooks_t hooks = { 0 };
	actr_node_t *n;

	CHECK(w);
	CHECK_OK(actr_workload_add_route(w, "chain.Hop.Relay", relay,
					 ACTR__PAYLOAD_TYPE__RPC_RELIABLE));
	CHECK_OK(actr_workload_add_route(w, "chain.Hop.Fail", hop_fail,
					 ACTR__PAYLOAD_TYPE__RPC_RELIABLE));
	CHECK_OK(actr_workload_add_route(w, "chain.Hop.Hang", hop_hang,
					 ACTR__PAYLOAD_TYPE__RPC_RELIABLE));
	actr_workload_set_hooks(w, &hooks, h);
	actr_workload_set_acl(w, acl);
	n = actr_node_new(sys, w, 0);
	CHECK(n);
	CHECK_OK(actr_node_start(n, &h->ref));
	actr_timer_init(actr_system_reactor(sys), &h->timer, reply_hung, h);
	return n;
}

struct res {
	int done;
	int status;
	char data[256];
};

static void on_result(const actr_result_t *r, void *arg)
{
	struct res *res = arg;
	size_t n = r->len < 255 ? r->len : 255;

	res->done++;
	res->status = r->status;
	if (n)
		memcpy(res->data, r->data, n);
	res->data[n] = '\0';
}

struct world {
	actr_reactor_t *r;
	actr_system_t *sys;
	struct hop ha, hb, hc;
	actr_node_t *a, *b, *c;
};

static void world_init(struct world *w, const Actr__Acl *acl_c)
{
	memset(w, 0, sizeof(*w));
	actr_log_set_level(ACTR_LOG_ERROR);
	w->r = actr_reactor_new();
	w->sys = actr_system_new(w->r, &(actr_system_config_t){
						.realm_id = 101 });
	w->c = make_hop(w->sys, "c", &w->hc, acl_c);
	w->b = make_hop(w->sys, "b", &w->hb, NULL);
	w->a = make_hop(w->sys, "a", &w->ha, NULL);
	w->ha.next = actr_node_id(w->b);
	w->hb.next = actr_node_id(w->c);
}

static void world_fini(struct world *w)
{
	actr_system_free(w->sys);
	actr_reactor_free(w->r);
}

TEST(runtime_inproc_nested_chain)
{
	struct world w;
	struct res res = { 0 };
	char want[ACTR_ID_STR_MAX + 1];

	world_init(&w, NULL);
	/* shell -> A; A -> B; B -> C; C replies; B, A reply in turn */
	CHECK_OK(actr_ref_call_raw(w.ha.ref, "chain.Hop.Relay", "ping", 4, 0,
				   on_result, &res));
	run_until(w.r, &res.done);
	CHECK_EQ(res.status, 0);
	CHECK_STR(res.data, "a<b<c:ping");
	CHECK_EQ(w.ha.handled + w.hb.handled + w.hc.handled, 3);
	/* each hop saw the previous workload as its caller */
	actr_id_format(actr_node_id(w.b), want, sizeof(want));
	CHECK_STR(w.hc.seen_caller, want);
	actr_id_format(actr_node_id(w.a), want, sizeof(want));
	CHECK_STR(w.hb.seen_caller, want);
	CHECK_STR(w.ha.seen_caller, "local");
	CHECK(strstr(want, "@101/acme:a:1") != NULL);

	/* many concurrent chains */
	struct res many[50];
	memset(many, 0, sizeof(many));
	for (int i = 0; i < 50; i++)
		CHECK_OK(actr_ref_call_raw(w.ha.ref, "chain.Hop.Relay", "m",
					   1, 0, on_result, &many[i]));
	run_until(w.r, &many[49].done);
	for (int i = 0; i < 50; i++) {
		CHECK_EQ(many[i].done, 1);
		CHECK_STR(many[i].data, "a<b<c:m");
	}
	world_fini(&w);
}

TEST(runtime_inproc_acl_between_workloads)
{
	struct world w;
	struct res res = { 0 };
	Actr__ActrType only_x = ACTR__ACTR_TYPE__INIT;
	Actr__AclRule rule = ACTR__ACL_RULE__INIT, *rules[] = { &rule };
	Actr__Acl acl = ACTR__ACL__INIT;

	only_x.manufacturer = "acme";
	only_x.name = "x"; /* B is acme:b:1: not allowed to call C */
	only_x.version = "1";
	rule.permission = ACTR__ACL_RULE__PERMISSION__ALLOW;
	rule.from_type = &only_x;
	acl.n_rules = 1;
	acl.rules = rules;
	world_init(&w, &acl);
	CHECK_OK(actr_ref_call_raw(w.ha.ref, "chain.Hop.Relay", "p", 1, 0,
				   on_result, &res));
	run_until(w.r, &res.done);
	CHECK_EQ(res.status, -ACTR_EPERM);
	CHECK_EQ(w.hc.handled, 0);
	CHECK_EQ(actr_system_stats(w.sys)->denied, 1);

	/* the shell is a local caller: allowed despite the ACL */
	memset(&res, 0, sizeof(res));
	CHECK_OK(actr_ref_call_raw(w.hc.ref, "chain.Hop.Relay", "s", 1, 0,
				   on_result, &res));
	run_until(w.r, &res.done);
	CHECK_STR(res.data, "c:s");

	/* allow B's type: now the chain passes */
	only_x.name = "b";
	memset(&res, 0, sizeof(res));
	CHECK_OK(actr_ref_call_raw(w.ha.ref, "chain.Hop.Relay", "p", 1, 0,
				   on_result, &res));
	run_until(w.r, &res.done);
	CHECK_EQ(res.status, 0);
	CHECK_STR(res.data, "a<b<c:p");
	world_fini(&w);
}

TEST(runtime_inproc_errors_and_timeouts_propagate)
{
	struct world w;
	struct res res = { 0 };

	world_init(&w, NULL);
	/* B -> C.Fail: the handler's code comes back through A */
	w.hb.next_route = "chain.Hop.Fail";
	CHECK_OK(actr_ref_call_raw(w.ha.ref, "chain.Hop.Relay", "x", 1, 0,
				   on_result, &res));
	run_until(w.r, &res.done);
	CHECK_EQ(res.status, -ACTR_EINVALARG);

	/* B -> C.Hang with a 20 ms deadline: TimedOut back to the shell,
	 * and C's reply after the deadline is dropped and counted */
	memset(&res, 0, sizeof(res));
	w.hb.next_route = "chain.Hop.Hang";
	w.hb.timeout_ms = 20;
	CHECK_OK(actr_ref_call_raw(w.ha.ref, "chain.Hop.Relay", "y", 1, 0,
				   on_result, &res));
	run_until(w.r, &res.done);
	CHECK_EQ(res.status, -ACTR_ETIMEDOUT);
	CHECK(w.hc.hung);
	CHECK_OK(actr_timer_start(&w.hc.timer, 0, 0));
	for (int i = 0; i < 5; i++)
		actr_reactor_run_once(w.r, 0);
	CHECK_EQ(actr_system_stats(w.sys)->late_responses, 1);
	CHECK_EQ(actr_system_stats(w.sys)->timeouts, 1);

	/* C is gone and there is no remote lane: Unavailable */
	memset(&res, 0, sizeof(res));
	w.hb.next_route = NULL;
	Actr__ActrId *gone = actr_id_dup(actr_node_id(w.c));
	w.hb.next = gone;
	actr_node_free(w.c);
	CHECK_OK(actr_ref_call_raw(w.ha.ref, "chain.Hop.Relay", "z", 1, 0,
				   on_result, &res));
	run_until(w.r, &res.done);
	CHECK_EQ(res.status, -ACTR_EUNAVAILABLE);
	actr_proto_free(gone);
	world_fini(&w);
}

struct shut {
	int done;
};

static void on_shut(actr_node_t *n, void *arg)
{
	((struct shut *)arg)->done++;
}

TEST(runtime_inproc_shutdown_with_nested_call_in_flight)
{
	struct world w;
	struct res res = { 0 }, refused = { 0 };
	struct shut s = { 0 };

	world_init(&w, NULL);
	w.hb.next_route = "chain.Hop.Hang"; /* C holds the innermost call */
	CHECK_OK(actr_ref_call_raw(w.ha.ref, "chain.Hop.Relay", "d", 1, 0,
				   on_result, &res));
	for (int i = 0; i < 10 && !w.hc.hung; i++)
		actr_reactor_run_once(w.r, 0);
	CHECK(w.hc.hung);
	/* A and B shut down while A -> B -> C is in flight */
	CHECK_OK(actr_ref_shutdown(w.ha.ref, on_shut, &s));
	CHECK_OK(actr_ref_shutdown(w.hb.ref, on_shut, &s));
	/* B no longer accepts new work from others (C -> B) */
	w.hc.next = actr_node_id(w.b);
	CHECK_OK(actr_ref_call_raw(w.hc.ref, "chain.Hop.Relay", "n", 1, 0,
				   on_result, &refused));
	for (int i = 0; i < 10; i++)
		actr_reactor_run_once(w.r, 0);
	CHECK_EQ(s.done, 0);
	CHECK_EQ(res.done, 0);
	CHECK_EQ(refused.done, 1);
	CHECK_EQ(refused.status, -ACTR_EUNAVAILABLE); /* C -> B refused */
	/* C answers: the chain unwinds, then both nodes finish */
	CHECK_OK(actr_timer_start(&w.hc.timer, ACTR_MS(5), 0));
	run_until(w.r, &res.done);
	CHECK_EQ(res.status, 0);
	CHECK_STR(res.data, "a<b<slow");
	for (int i = 0; i < 10 && s.done < 2; i++)
		actr_reactor_run_once(w.r, 0);
	CHECK_EQ(s.done, 2);
	CHECK(!actr_node_running(w.a) && !actr_node_running(w.b));
	CHECK(actr_node_running(w.c));
	world_fini(&w);
}

struct greeter {
	const Actr__ActrId *peer;	/* whom on_ready calls */
	struct res res;			/* the reply */
	int told;			/* tells received */
};

static void greeter_ready(actr_ctx_t *ctx, void *user)
{
	struct greeter *g = user;

	/* lifecycle contexts may call and tell, not reply */
	CHECK_EQ(actr_reply_raw(ctx, "x", 1), -EINVAL);
	CHECK_STR(actr_ctx_request_id(ctx), "");
	CHECK_OK(actr_call_raw(ctx, g->peer, "chain.Hop.Relay", "hi", 2, 0,
			       on_result, &g->res));
	CHECK_OK(actr_tell_raw(ctx, g->peer, "chain.Hop.Relay", "t", 1));
}

TEST(runtime_inproc_call_from_on_ready)
{
	struct world w;
	struct greeter g = { 0 };
	actr_hooks_t hooks = { .on_ready = greeter_ready };
	actr_workload_t *gw;
	actr_node_t *gn;

	world_init(&w, NULL);
	w.hc.next = NULL;
	g.peer = actr_node_id(w.c);
	gw = actr_workload_new("acme", "greeter", "1");
	actr_workload_set_hooks(gw, &hooks, &g);
	gn = actr_node_new(w.sys, gw, 0);
	CHECK_OK(actr_node_start(gn, NULL));
	run_until(w.r, &g.res.done);
	CHECK_EQ(g.res.status, 0);
	CHECK_STR(g.res.data, "c:hi");
	for (int i = 0; i < 5; i++)
		actr_reactor_run_once(w.r, 0);
	CHECK_EQ(w.hc.handled, 2); /* the call and the tell */
	char want[ACTR_ID_STR_MAX + 1];
	actr_id_format(actr_node_id(gn), want, sizeof(want));
	CHECK_STR(w.hc.seen_caller, want);
	world_fini(&w);
}
