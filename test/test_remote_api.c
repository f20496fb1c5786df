/*
 * The application's reach beyond a handler (issue: tell and discover
 * outside a handler): actr_peer_discover lists the ActrIds a type resolves
 * to, the shell calls and tells a remote actor by ActrId
 * (actr_ref_call_to / actr_ref_tell_to), a tell by type
 * (actr_peer_tell) arrives, and one to a type nobody serves is dropped
 * with a counter, never silently. Typed stubs reach the same functions.
 */
#include <stdio.h>
#include <string.h>

#include <actr/actr.h>
#include <actr/peer.h>

#include "examples/echo_actor/echo.actr.h"
#include "server/signal_internal.h"
#include "test.h"
#include "test_remote_util.h"

static int notes, echoes;

static int raw_echo(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	echoes++;
	return actr_reply_raw(ctx, d, n);
}

static int raw_note(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	(void)ctx;
	(void)d;
	(void)n;
	notes++;
	return 0;
}

static int Echo(actr_ctx_t *ctx, const Echo__EchoRequest *req)
{
	Echo__EchoResponse resp = ECHO__ECHO_RESPONSE__INIT;

	echoes++;
	resp.reply = req->message;
	return actr_reply(ctx, &resp.base);
}

static actr_workload_t *service(void)
{
	static const Echo__EchoService_Actr h = { .Echo = Echo };
	actr_workload_t *w = actr_workload_new("acme", "apisvc", "1.0.0");

	CHECK(w);
	CHECK_OK(actr_workload_add_route(w, "test.Echo", raw_echo, 0));
	CHECK_OK(actr_workload_add_route(w, "test.Note", raw_note, 0));
	CHECK_OK(echo__echo_service__actr_add(w, &h));
	return w;
}

struct found {
	int done, status;
	size_t n;
	Actr__ActrId *first;
};

static void on_found(int status, const char *msg,
		     const Actr__ActrId *const *ids, size_t n, void *arg)
{
	struct found *f = arg;

	(void)msg;
	f->done++;
	f->status = status;
	f->n = n;
	if (n)
		f->first = actr_id_dup(ids[0]);
}

struct res {
	int done, status;
	char reply[64];
};

static void on_res(const actr_result_t *r, void *arg)
{
	struct res *x = arg;

	x->done++;
	x->status = r->status;
	snprintf(x->reply, sizeof(x->reply), "%.*s", (int)r->len,
		 (const char *)r->data);
}

static void on_typed(const actr_result_t *r, const Echo__EchoResponse *e,
		     void *arg)
{
	struct res *x = arg;

	x->done++;
	x->status = r->status;
	snprintf(x->reply, sizeof(x->reply), "%s", e ? e->reply : "");
}

TEST_TIMEOUT(remote_api_discover_and_reach_by_id_or_type, 40)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode a, b1, b2;
	struct found f = { 0 }, none = { 0 };
	struct res x = { 0 }, y = { 0 };
	Actr__ActrType svc = ACTR__ACTR_TYPE__INIT, nobody = ACTR__ACTR_TYPE__INIT;
	Echo__EchoRequest req = ECHO__ECHO_REQUEST__INIT;
	actr_peer_stats_t st;
	char url[64];

	CHECK(r);
	svc.manufacturer = "acme";
	svc.name = "apisvc";
	svc.version = "1.0.0";
	nobody.manufacturer = "acme";
	nobody.name = "nobody";
	nobody.version = "1.0.0";
	l = rt_signal(r, 0, url, sizeof(url));
	rt_node(&a, r, url, actr_workload_new("acme", "apicli", "1.0.0"),
		NULL);
	rt_node(&b1, r, url, service(), NULL);
	rt_node(&b2, r, url, service(), NULL);
	rt_wait_ready(r, &a, &b1, 5000);
	rt_wait_ready(r, &b2, NULL, 5000);

	/* discover: both instances */
	CHECK_OK(actr_peer_discover(a.peer, &svc, 0, on_found, &f));
	rt_run(r, &f.done, 1, 5000);
	CHECK_EQ(f.status, 0);
	CHECK_EQ(f.n, 2);
	CHECK(f.first);
	CHECK_OK(actr_peer_discover(a.peer, &nobody, 0, on_found, &none));
	rt_run(r, &none.done, 1, 5000);
	CHECK_EQ(none.n, 0);

	/* the shell calls one of them by ActrId, raw and typed */
	echoes = 0;
	CHECK_OK(actr_ref_call_to_raw(a.ref, f.first, "test.Echo", "id", 2,
				      10000, on_res, &x));
	rt_run(r, &x.done, 1, 10000);
	CHECK_EQ(x.status, 0);
	CHECK_STR(x.reply, "id");
	req.message = "stub";
	CHECK_OK(echo__echo_service__echo_call_to(a.ref, f.first, &req, 10000,
						  on_typed, &y));
	rt_run(r, &y.done, 1, 10000);
	CHECK_EQ(y.status, 0);
	CHECK_STR(y.reply, "stub");
	CHECK_EQ(echoes, 2);

	/* tells: by id from the shell, by type through the gate */
	notes = 0;
	CHECK_OK(actr_ref_tell_to_raw(a.ref, f.first, "test.Note", "1", 1));
	CHECK_OK(actr_peer_tell_raw(a.peer, &svc, "test.Note", "2", 1));
	rt_run(r, &notes, 2, 10000);
	CHECK_EQ(notes, 2);

	/* a tell by type that finds nobody: dropped, counted */
	CHECK_OK(actr_peer_tell_raw(a.peer, &nobody, "test.Note", "3", 1));
	for (int i = 0; i < 300; i++) {
		actr_peer_get_stats(a.peer, &st);
		if (st.tells_dropped)
			break;
		actr_reactor_run_once(r, 10);
	}
	CHECK_EQ(st.tells_dropped, 1);
	CHECK_EQ(notes, 2);

	actr_proto_free(f.first);
	rt_node_free(&a);
	rt_node_free(&b1);
	rt_node_free(&b2);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}
