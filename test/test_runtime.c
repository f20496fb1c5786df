/* Tests of runtime/: lifecycle, routes, typed binding, replies now and
 * later, errors, timeouts, priorities, budget, shutdown, Ctrl+C. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include <actr/actr.h>
#include <actr/runtime.h>

#include "examples/echo_actor/echo.pb-c.h"
#include "test.h"

/* Run r until *flag becomes nonzero (bounded in iterations and time). */
static void run_until(actr_reactor_t *r, const int *flag)
{
	uint64_t end = actr_time_ns() + ACTR_SEC(actr_test_scale(5));

	for (int i = 0; i < 100000 && !*flag; i++) {
		CHECK(actr_reactor_run_once(r, 10) >= 0);
		CHECK(actr_time_ns() < end);
	}
	CHECK(*flag);
}

/* Run a few iterations (to let queued work settle). */
static void run_idle(actr_reactor_t *r, int n)
{
	for (int i = 0; i < n; i++)
		actr_reactor_run_once(r, 0);
}

/* ---- a test workload ----------------------------------------------------- */

struct rec {
	int calls;		/* handler invocations */
	char order[64];		/* handler order, one char per call */
	int norder;
	int started, ready, stopped, errors;
	uint32_t last_error;
	actr_ctx_t *kept[16];	/* kept contexts */
	int nkept;
	actr_reactor_t *r;
	actr_timer_t timer;
	char caller[ACTR_ID_STR_MAX + 1]; /* last caller's id string */
};

static int h_echo_raw(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	struct rec *rec = actr_ctx_user(ctx);
	const Actr__ActrId *c = actr_ctx_caller(ctx);

	rec->calls++;
	if (rec->norder < 63 && n)
		rec->order[rec->norder++] = (char)d[0];
	if (c)
		actr_id_format(c, rec->caller, sizeof(rec->caller));
	else
		strcpy(rec->caller, "local");
	return actr_reply_raw(ctx, d, n);
}

static int h_fail(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	(void)d;
	(void)n;
	return -ACTR_ENOTFOUND;
}

static int h_noreply(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	(void)ctx;
	(void)d;
	(void)n;
	return 0;
}

static int h_keep(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	struct rec *rec = actr_ctx_user(ctx);

	(void)d;
	(void)n;
	rec->calls++;
	CHECK(rec->nkept < 16);
	rec->kept[rec->nkept++] = actr_ctx_keep(ctx);
	return 0;
}

static int Echo(actr_ctx_t *ctx, const Echo__EchoRequest *req)
{
	Echo__EchoResponse resp = ECHO__ECHO_RESPONSE__INIT;
	char buf[128];
	struct rec *rec = actr_ctx_user(ctx);

	rec->calls++;
	snprintf(buf, sizeof(buf), "echo: %s", req->message);
	resp.reply = buf;
	resp.timestamp = 42;
	return actr_reply(ctx, &resp.base);
}

static const actr_method_t echo_methods[] = {
	ACTR_METHOD("Echo", Echo),
	ACTR_METHOD_END,
};

static int on_start(actr_ctx_t *ctx, void *user)
{
	struct rec *rec = user;

	CHECK(actr_ctx_caller(ctx) == NULL);
	CHECK_EQ(actr_reply_raw(ctx, "x", 1), -EINVAL); /* hook ctx */
	rec->started++;
	return 0;
}

static void on_ready(actr_ctx_t *ctx, void *user)
{
	((struct rec *)user)->ready++;
}

static void on_stop(actr_ctx_t *ctx, void *user)
{
	((struct rec *)user)->stopped++;
}

static void on_error(actr_ctx_t *ctx, uint32_t code, const char *route,
		     void *user)
{
	struct rec *rec = user;

	rec->errors++;
	rec->last_error = code;
}

static const actr_hooks_t hooks = { on_start, on_ready, on_stop, on_error };

static actr_workload_t *test_workload(const char *name, struct rec *rec)
{
	actr_workload_t *w = actr_workload_new("acme", name, "1.0.0");

	CHECK(w);
	CHECK_OK(actr_workload_add_service(w, &echo__echo_service__descriptor,
					   echo_methods));
	CHECK_OK(actr_workload_add_route(w, "t.T.Echo", h_echo_raw,
					 ACTR__PAYLOAD_TYPE__RPC_RELIABLE));
	CHECK_OK(actr_workload_add_route(w, "t.T.Signal", h_echo_raw,
					 ACTR__PAYLOAD_TYPE__RPC_SIGNAL));
	CHECK_OK(actr_workload_add_route(w, "t.T.Fail", h_fail,
					 ACTR__PAYLOAD_TYPE__RPC_RELIABLE));
	CHECK_OK(actr_workload_add_route(w, "t.T.NoReply", h_noreply,
					 ACTR__PAYLOAD_TYPE__RPC_RELIABLE));
	CHECK_OK(actr_workload_add_route(w, "t.T.Keep", h_keep,
					 ACTR__PAYLOAD_TYPE__RPC_RELIABLE));
	actr_workload_set_hooks(w, &hooks, rec);
	return w;
}

/* ---- results ------------------------------------------------------------- */

struct res {
	int done;
	int status;
	char data[256];
	size_t len;
	char reply[128];	/* typed EchoResponse.reply */
	uint64_t ts;
	char message[128];
};

static void on_result(const actr_result_t *r, void *arg)
{
	struct res *res = arg;

	res->done++;
	res->status = r->status;
	res->len = r->len < sizeof(res->data) ? r->len : sizeof(res->data);
	if (r->len)
		memcpy(res->data, r->data, res->len);
	if (r->message)
		snprintf(res->message, sizeof(res->message), "%s",
			 r->message);
	if (r->msg) {
		const Echo__EchoResponse *e = (const void *)r->msg;

		snprintf(res->reply, sizeof(res->reply), "%s", e->reply);
		res->ts = e->timestamp;
	}
}

struct env {
	actr_reactor_t *r;
	actr_system_t *sys;
	struct rec rec;
	actr_node_t *node;
	actr_ref_t *ref;
};

static void env_init(struct env *e)
{
	memset(e, 0, sizeof(*e));
	actr_log_set_level(ACTR_LOG_ERROR);
	e->r = actr_reactor_new();
	CHECK(e->r);
	e->rec.r = e->r;
	e->sys = actr_system_new(e->r, NULL);
	CHECK(e->sys);
	e->node = actr_node_new(e->sys, test_workload("echo", &e->rec), 0);
	CHECK(e->node);
	CHECK_OK(actr_node_start(e->node, &e->ref));
}

static void env_fini(struct env *e)
{
	actr_system_free(e->sys);
	actr_reactor_free(e->r);
}

/* ---- tests --------------------------------------------------------------- */

TEST(runtime_lifecycle_and_raw_call)
{
	struct env e;
	struct res res = { 0 };
	char id[ACTR_ID_STR_MAX + 1];

	env_init(&e);
	CHECK_EQ(e.rec.started, 1);
	CHECK_EQ(e.rec.ready, 1);
	CHECK(actr_node_running(e.node));
	CHECK_EQ(actr_node_start(e.node, NULL), -EALREADY);
	CHECK(actr_id_format(actr_ref_id(e.ref), id, sizeof(id)) > 0);
	CHECK_STR(id, "1@0/acme:echo:1.0.0");

	CHECK_OK(actr_ref_call_raw(e.ref, "t.T.Echo", "hello", 5, 1000,
				   on_result, &res));
	CHECK_EQ(res.done, 0); /* never synchronous */
	run_until(e.r, &res.done);
	CHECK_EQ(res.done, 1);
	CHECK_EQ(res.status, 0);
	CHECK_EQ(res.len, 5);
	CHECK_MEM(res.data, "hello", 5);
	CHECK_STR(e.rec.caller, "local");
	CHECK_EQ(actr_system_stats(e.sys)->handled, 1);
	CHECK_EQ(actr_system_stats(e.sys)->responses, 1);

	int stopped = 0;
	CHECK_OK(actr_ref_shutdown(e.ref, NULL, NULL));
	CHECK_EQ(actr_ref_shutdown(e.ref, NULL, NULL), -EALREADY);
	CHECK_EQ(actr_ref_call_raw(e.ref, "t.T.Echo", "x", 1, 0, on_result,
				   &res), -ACTR_ECLOSED);
	for (int i = 0; i < 10 && !e.rec.stopped; i++)
		actr_reactor_run_once(e.r, 10);
	stopped = e.rec.stopped;
	CHECK_EQ(stopped, 1);
	CHECK(!actr_node_running(e.node));
	env_fini(&e);
}

TEST(runtime_typed_binding)
{
	struct env e;
	struct res res = { 0 };
	Echo__EchoRequest req = ECHO__ECHO_REQUEST__INIT;

	env_init(&e);
	req.message = "hi";
	CHECK_OK(actr_ref_call(e.ref, "echo.EchoService.Echo", &req.base,
			       &echo__echo_response__descriptor, 0, on_result,
			       &res));
	run_until(e.r, &res.done);
	CHECK_EQ(res.status, 0);
	CHECK_STR(res.reply, "echo: hi");
	CHECK_EQ(res.ts, 42);

	/* undecodable request to a typed route -> DecodeFailure */
	memset(&res, 0, sizeof(res));
	CHECK_OK(actr_ref_call_raw(e.ref, "echo.EchoService.Echo",
				   "\x0a\x05zz", 4, 0, on_result, &res));
	run_until(e.r, &res.done);
	CHECK_EQ(res.status, -ACTR_EDECODE);
	CHECK_EQ(e.rec.last_error, ACTR_EDECODE);

	/* unknown method name in a binding */
	actr_workload_t *w = actr_workload_new("a", "b", "1");
	static const actr_method_t bad[] = { ACTR_METHOD("Nope", Echo),
					     ACTR_METHOD_END };
	CHECK_EQ(actr_workload_add_service(w, &echo__echo_service__descriptor,
					   bad), -ACTR_ENOTFOUND);
	CHECK_EQ(actr_workload_add_route(w, "x.Y.Z", h_fail, 0), 0);
	CHECK_EQ(actr_workload_add_route(w, "x.Y.Z", h_fail, 0), -EEXIST);
	CHECK(actr_workload_new("a:b", "c", "1") == NULL);
	actr_workload_free(w);
	env_fini(&e);
}

TEST(runtime_errors)
{
	struct env e;
	struct res a = { 0 }, b = { 0 }, c = { 0 };

	env_init(&e);
	CHECK_OK(actr_ref_call_raw(e.ref, "t.T.Missing", "x", 1, 0, on_result,
				   &a));
	CHECK_OK(actr_ref_call_raw(e.ref, "t.T.Fail", "x", 1, 0, on_result,
				   &b));
	CHECK_OK(actr_ref_call_raw(e.ref, "t.T.NoReply", "x", 1, 0, on_result,
				   &c));
	run_until(e.r, &c.done);
	run_until(e.r, &a.done);
	run_until(e.r, &b.done);
	CHECK_EQ(a.status, -ACTR_EUNKNOWNROUTE);
	CHECK_EQ(b.status, -ACTR_ENOTFOUND);
	CHECK(b.message[0]);
	CHECK_EQ(c.status, -ACTR_EINTERNAL);
	CHECK_EQ(e.rec.errors, 1);
	CHECK_EQ(e.rec.last_error, ACTR_ENOTFOUND);
	CHECK_EQ(actr_system_stats(e.sys)->unknown_route, 1);
	CHECK_EQ(actr_system_stats(e.sys)->handler_errors, 1);
	/* bad arguments */
	CHECK_EQ(actr_ref_call_raw(e.ref, "t.T.Echo", NULL, 3, 0, on_result,
				   &a), -EINVAL);
	CHECK_EQ(actr_ref_call_raw(e.ref, "t.T.Echo", "x", 1, 0, NULL, NULL),
		 -EINVAL);
	env_fini(&e);
}

static void reply_kept_later(actr_timer_t *t, void *arg)
{
	struct rec *rec = arg;

	for (int i = 0; i < rec->nkept; i++) {
		char msg[32];
		int n = snprintf(msg, sizeof(msg), "late %d", i);

		CHECK_OK(actr_reply_raw(rec->kept[i], msg, (size_t)n));
	}
	rec->nkept = 0;
}

TEST(runtime_reply_later)
{
	struct env e;
	struct res a = { 0 }, b = { 0 };

	env_init(&e);
	actr_timer_init(e.r, &e.rec.timer, reply_kept_later, &e.rec);
	CHECK_OK(actr_ref_call_raw(e.ref, "t.T.Keep", "1", 1, 0, on_result,
				   &a));
	CHECK_OK(actr_ref_call_raw(e.ref, "t.T.Keep", "2", 1, 0, on_result,
				   &b));
	run_idle(e.r, 3);
	CHECK_EQ(e.rec.calls, 2);
	CHECK_EQ(a.done + b.done, 0);
	CHECK_STR(actr_ctx_request_id(e.rec.kept[0]),
		  actr_ctx_request_id(e.rec.kept[0]));
	CHECK(strlen(actr_ctx_request_id(e.rec.kept[0])) == 16);
	CHECK(strcmp(actr_ctx_request_id(e.rec.kept[0]),
		     actr_ctx_request_id(e.rec.kept[1])) != 0);
	CHECK_STR(actr_ctx_route(e.rec.kept[1]), "t.T.Keep");
	CHECK_OK(actr_timer_start(&e.rec.timer, ACTR_MS(5), 0));
	run_until(e.r, &b.done);
	CHECK_EQ(a.status, 0);
	CHECK_EQ(a.len, 6);
	CHECK_MEM(a.data, "late 0", 6);
	CHECK_MEM(b.data, "late 1", 6);
	env_fini(&e);
}

TEST(runtime_timeout_and_late_response)
{
	struct env e;
	struct res a = { 0 };
	uint64_t t0;

	env_init(&e);
	actr_timer_init(e.r, &e.rec.timer, reply_kept_later, &e.rec);
	t0 = actr_reactor_now(e.r); /* deadlines count from it */
	CHECK_OK(actr_ref_call_raw(e.ref, "t.T.Keep", "1", 1, 30, on_result,
				   &a));
	run_until(e.r, &a.done);
	CHECK_EQ(a.status, -ACTR_ETIMEDOUT);
	CHECK(actr_time_ns() - t0 >= ACTR_MS(29));
	CHECK_EQ(actr_system_stats(e.sys)->timeouts, 1);
	/* the handler replies after the deadline: dropped and counted */
	CHECK_EQ(e.rec.nkept, 1);
	CHECK_OK(actr_timer_start(&e.rec.timer, 0, 0));
	run_idle(e.r, 3);
	CHECK_EQ(a.done, 1);
	CHECK_EQ(actr_system_stats(e.sys)->late_responses, 1);
	env_fini(&e);
}

TEST(runtime_priority_order_and_budget)
{
	struct env e;
	struct res res[8];
	static const char *names[8] = { "t.T.Echo", "t.T.Echo", "t.T.Signal",
					"t.T.Echo", "t.T.Signal", "t.T.Echo",
					"t.T.Signal", "t.T.Echo" };
	static const char payload[8] = { 'a', 'b', 'X', 'c', 'Y', 'd', 'Z',
					 'e' };
	actr_system_config_t cfg = { .dispatch_budget = 3 };
	int all = 0;

	memset(&e, 0, sizeof(e));
	memset(res, 0, sizeof(res));
	actr_log_set_level(ACTR_LOG_ERROR);
	e.r = actr_reactor_new();
	e.sys = actr_system_new(e.r, &cfg);
	e.node = actr_node_new(e.sys, test_workload("p", &e.rec), 7);
	CHECK_OK(actr_node_start(e.node, &e.ref));
	CHECK(actr_ref_id(e.ref)->serial_number == 7);
	for (int i = 0; i < 8; i++)
		CHECK_OK(actr_ref_call_raw(e.ref, names[i], &payload[i], 1, 0,
					   on_result, &res[i]));
	/* one iteration handles at most the budget */
	actr_reactor_run_once(e.r, 0);
	CHECK_EQ(e.rec.calls + actr_system_stats(e.sys)->responses, 3);
	CHECK(e.rec.calls < 3);
	for (int i = 0; i < 20 && !all; i++) {
		actr_reactor_run_once(e.r, 0);
		all = 1;
		for (int j = 0; j < 8; j++)
			all &= res[j].done;
	}
	CHECK(all);
	e.rec.order[e.rec.norder] = '\0';
	/* High (RPC_SIGNAL) first, FIFO within each priority */
	CHECK_STR(e.rec.order, "XYZabcde");
	env_fini(&e);
}

TEST(runtime_tell)
{
	struct env e;

	env_init(&e);
	CHECK_OK(actr_ref_tell_raw(e.ref, "t.T.Echo", "t", 1));
	CHECK_OK(actr_ref_tell_raw(e.ref, "t.T.Missing", "t", 1));
	Echo__EchoRequest req = ECHO__ECHO_REQUEST__INIT;
	req.message = "m";
	CHECK_OK(actr_ref_tell(e.ref, "echo.EchoService.Echo", &req.base));
	run_idle(e.r, 3);
	CHECK_EQ(e.rec.calls, 2); /* the reply of a tell goes nowhere */
	CHECK_EQ(actr_system_stats(e.sys)->unknown_route, 1);
	CHECK_EQ(actr_system_stats(e.sys)->responses, 0);
	env_fini(&e);
}

struct shut {
	int done;
	int stopped_at_done;
	struct rec *rec;
};

static void on_shutdown_done(actr_node_t *n, void *arg)
{
	struct shut *s = arg;

	s->done++;
	s->stopped_at_done = s->rec->stopped;
	CHECK(!actr_node_running(n));
}

TEST(runtime_shutdown_drains_in_flight)
{
	struct env e;
	struct res kept = { 0 }, queued[3];
	struct shut s = { 0, 0, NULL };

	env_init(&e);
	s.rec = &e.rec;
	memset(queued, 0, sizeof(queued));
	actr_timer_init(e.r, &e.rec.timer, reply_kept_later, &e.rec);
	CHECK_OK(actr_ref_call_raw(e.ref, "t.T.Keep", "k", 1, 0, on_result,
				   &kept));
	run_idle(e.r, 2);
	CHECK_EQ(e.rec.nkept, 1);
	for (int i = 0; i < 3; i++)
		CHECK_OK(actr_ref_call_raw(e.ref, "t.T.Echo", "q", 1, 0,
					   on_result, &queued[i]));
	/* shutdown with one kept context and three queued calls */
	CHECK_OK(actr_ref_shutdown(e.ref, on_shutdown_done, &s));
	run_idle(e.r, 5);
	CHECK_EQ(queued[0].done + queued[1].done + queued[2].done, 3);
	CHECK_EQ(queued[2].status, 0);
	CHECK_EQ(s.done, 0); /* still waiting for the kept context */
	CHECK_EQ(e.rec.stopped, 0);
	CHECK_OK(actr_timer_start(&e.rec.timer, ACTR_MS(20), 0));
	run_until(e.r, &s.done);
	CHECK_EQ(kept.done, 1);
	CHECK_EQ(kept.status, 0);
	CHECK_EQ(s.stopped_at_done, 1); /* on_stop ran before done */
	actr_node_free(e.node);
	env_fini(&e);
}

static void raise_sigint(actr_timer_t *t, void *arg)
{
	raise(SIGINT);
}

TEST(runtime_ctrl_c_graceful)
{
	struct env e;
	struct res kept = { 0 };
	actr_timer_t sig;

	env_init(&e);
	actr_timer_init(e.r, &e.rec.timer, reply_kept_later, &e.rec);
	actr_timer_init(e.r, &sig, raise_sigint, NULL);
	CHECK_OK(actr_ref_call_raw(e.ref, "t.T.Keep", "k", 1, 0, on_result,
				   &kept));
	CHECK_OK(actr_timer_start(&sig, ACTR_MS(10), 0));
	CHECK_OK(actr_timer_start(&e.rec.timer, ACTR_MS(60), 0));
	CHECK_OK(actr_ref_run_until_signal(e.ref));
	CHECK_EQ(kept.done, 1); /* drained before returning */
	CHECK_EQ(kept.status, 0);
	CHECK_EQ(e.rec.stopped, 1);
	CHECK(!actr_node_running(e.node));
	env_fini(&e);
}

/* A kept context that never replies: the shutdown's deadline forces it.
 * Its caller is told Unavailable, a queued tell is dropped, on_stop and
 * done run, and the handler's late reply gets -EALREADY (and releases the
 * context: ASan and valgrind see no leak). */
TEST(runtime_shutdown_deadline_forces)
{
	struct env e;
	struct res kept = { 0 }, other = { 0 };
	struct shut s = { 0, 0, NULL };
	actr_system_config_t cfg = { .shutdown_timeout_ms = 50 };

	memset(&e, 0, sizeof(e));
	actr_log_set_level(ACTR_LOG_ERROR);
	e.r = actr_reactor_new();
	CHECK(e.r);
	e.rec.r = e.r;
	e.sys = actr_system_new(e.r, &cfg);
	CHECK(e.sys);
	e.node = actr_node_new(e.sys, test_workload("echo", &e.rec), 0);
	CHECK(e.node);
	CHECK_OK(actr_node_start(e.node, &e.ref));
	s.rec = &e.rec;

	CHECK_OK(actr_ref_call_raw(e.ref, "t.T.Keep", "k", 1, 0, on_result,
				   &kept));
	run_idle(e.r, 2);
	CHECK_EQ(e.rec.nkept, 1);
	CHECK_OK(actr_ref_call_raw(e.ref, "t.T.Keep", "k2", 2, 0, on_result,
				   &other));
	CHECK_OK(actr_ref_shutdown(e.ref, on_shutdown_done, &s));
	run_until(e.r, &s.done);
	CHECK_EQ(s.done, 1);
	CHECK_EQ(s.stopped_at_done, 1);		/* on_stop ran */
	CHECK_EQ(kept.done, 1);
	CHECK_EQ(kept.status, -ACTR_EUNAVAILABLE);
	CHECK(strstr(kept.message, "deadline") != NULL);
	CHECK_EQ(other.done, 1);		/* the second Keep: answered */
	CHECK(other.status < 0);
	CHECK_EQ(actr_system_stats(e.sys)->forced_shutdowns, 1);
	/* the handler replies at last */
	CHECK_EQ(actr_reply_raw(e.rec.kept[0], "late", 4), -EALREADY);
	e.rec.nkept = 0;
	run_idle(e.r, 2);
	CHECK_EQ(kept.done, 1);			/* exactly once */
	actr_node_free(e.node);
	env_fini(&e);
}

static void raise_sigint_twice(actr_timer_t *t, void *arg)
{
	int *n = arg;

	raise(SIGINT);
	if (++*n < 2)
		(void)actr_timer_start(t, ACTR_MS(20), 0);
}

/* Ctrl+C, then Ctrl+C again: the second forces the shutdown though the
 * kept context never replies and no deadline would end it. */
TEST(runtime_second_ctrl_c_forces)
{
	struct env e;
	struct res kept = { 0 };
	actr_system_config_t cfg = { .shutdown_timeout_ms = UINT32_MAX };
	actr_timer_t sig;
	int nsig = 0;

	memset(&e, 0, sizeof(e));
	actr_log_set_level(ACTR_LOG_ERROR);
	e.r = actr_reactor_new();
	CHECK(e.r);
	e.rec.r = e.r;
	e.sys = actr_system_new(e.r, &cfg);
	CHECK(e.sys);
	e.node = actr_node_new(e.sys, test_workload("echo", &e.rec), 0);
	CHECK(e.node);
	CHECK_OK(actr_node_start(e.node, &e.ref));
	actr_timer_init(e.r, &sig, raise_sigint_twice, &nsig);
	CHECK_OK(actr_ref_call_raw(e.ref, "t.T.Keep", "k", 1, 0, on_result,
				   &kept));
	CHECK_OK(actr_timer_start(&sig, ACTR_MS(10), 0));
	CHECK_OK(actr_ref_run_until_signal(e.ref));
	CHECK_EQ(nsig, 2);
	CHECK_EQ(kept.done, 1);
	CHECK_EQ(kept.status, -ACTR_EUNAVAILABLE);
	CHECK_EQ(e.rec.stopped, 1);
	CHECK(!actr_node_running(e.node));
	CHECK_EQ(actr_system_stats(e.sys)->forced_shutdowns, 1);
	CHECK_EQ(actr_reply_raw(e.rec.kept[0], "late", 4), -EALREADY);
	e.rec.nkept = 0;
	actr_timer_stop(&sig);
	env_fini(&e);
}

TEST(runtime_free_running_node_fails_calls)
{
	struct env e;
	struct res a = { 0 }, b = { 0 };

	env_init(&e);
	CHECK_OK(actr_ref_call_raw(e.ref, "t.T.Keep", "k", 1, 0, on_result,
				   &a));
	run_idle(e.r, 2);
	CHECK_OK(actr_ref_call_raw(e.ref, "t.T.Echo", "k", 1, 0, on_result,
				   &b));
	/* abrupt: pending calls complete with ECLOSED, queued ones too */
	actr_node_free(e.node);
	run_idle(e.r, 2);
	CHECK_EQ(a.done, 1);
	CHECK_EQ(b.done, 1);
	CHECK(a.status < 0 && b.status < 0);
	env_fini(&e);
}

TEST(runtime_large_payload)
{
	struct env e;
	struct res res = { 0 };
	static uint8_t big[100000];

	env_init(&e);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 13);
	CHECK_OK(actr_ref_call_raw(e.ref, "t.T.Echo", big, sizeof(big), 0,
				   on_result, &res));
	run_until(e.r, &res.done);
	CHECK_EQ(res.status, 0);
	CHECK_MEM(res.data, big, sizeof(res.data));
	env_fini(&e);
}

#include "core/internal.h"

static int fail_after;

static void *failing_malloc(size_t n)
{
	if (fail_after-- <= 0)
		return NULL;
	return malloc(n);
}

TEST(runtime_alloc_failure)
{
	struct env e;
	struct res res = { 0 };
	int rc = 0;

	env_init(&e);
	/* every allocation fails: the call is refused, nothing leaks */
	fail_after = 0;
	actr__sys.malloc = failing_malloc;
	rc = actr_ref_call_raw(e.ref, "t.T.Echo", "x", 1, 0, on_result, &res);
	actr__sys_reset();
	CHECK_EQ(rc, -ENOMEM);
	/* the message succeeds, the pending entry fails */
	fail_after = 1;
	actr__sys.malloc = failing_malloc;
	rc = actr_ref_call_raw(e.ref, "t.T.Echo", "x", 1, 0, on_result, &res);
	actr__sys_reset();
	CHECK_EQ(rc, -ENOMEM);
	/* after recovery calls work again */
	CHECK_OK(actr_ref_call_raw(e.ref, "t.T.Echo", "x", 1, 0, on_result,
				   &res));
	run_until(e.r, &res.done);
	CHECK_EQ(res.status, 0);
	CHECK_EQ(res.done, 1);
	env_fini(&e);
}

static void free_node_when_done(actr_node_t *n, void *arg)
{
	*(int *)arg = 1;
	actr_node_free(n);
}

static void start_shutdown(actr_timer_t *t, void *arg)
{
	static int freed;

	CHECK_OK(actr_ref_shutdown(arg, free_node_when_done, &freed));
}

TEST(runtime_run_until_node_freed)
{
	struct env e;
	actr_timer_t t;

	env_init(&e);
	actr_timer_init(e.r, &t, start_shutdown, e.ref);
	CHECK_OK(actr_timer_start(&t, ACTR_MS(5), 0));
	/* the done callback frees the node; the run loop must notice */
	CHECK_OK(actr_ref_run_until_signal(e.ref));
	CHECK_EQ(e.rec.stopped, 1);
	env_fini(&e);
}
