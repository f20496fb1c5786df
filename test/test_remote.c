/*
 * Remote calls end to end in one process: actr-signal (server/ archive)
 * and three nodes (echo service, ACL-guarded service, client), each in its
 * own system, all on one reactor. Calls go through discovery, role
 * negotiation, SDP/ICE relay, ICE + DTLS + SCTP and the RPC lanes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <actr/actr.h>
#include <actr/peer.h>
#include <actr/runtime.h>

#include "examples/echo_actor/echo.pb-c.h"
#include "server/signal_internal.h"
#include "test.h"
#include "test_remote_util.h"

/* ---- the services ------------------------------------------------------ */

static int Echo(actr_ctx_t *ctx, const Echo__EchoRequest *req)
{
	Echo__EchoResponse resp = ECHO__ECHO_RESPONSE__INIT;

	resp.reply = req->message;
	resp.timestamp = 42;
	return actr_reply(ctx, &resp.base);
}

static const actr_method_t echo_methods[] = {
	ACTR_METHOD("Echo", Echo),
	ACTR_METHOD_END,
};

static int raw_fail(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	return -ACTR_EINVALARG;
}

static actr_ctx_t *slow_ctx;

static int raw_slow(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	slow_ctx = actr_ctx_keep(ctx);	/* answered at the end */
	return 0;
}

static int raw_big(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	return actr_reply_raw(ctx, d, n);
}

static int raw_who(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	char s[256];
	const Actr__ActrId *c = actr_ctx_caller(ctx);

	if (!c || actr_id_format(c, s, sizeof(s)) <= 0)
		return -ACTR_EINTERNAL;
	return actr_reply_raw(ctx, s, strlen(s));
}

static actr_workload_t *echo_workload(const char *name)
{
	actr_workload_t *w = actr_workload_new("acme", name, "1.0.0");

	CHECK(w);
	CHECK_OK(actr_workload_add_service(w, &echo__echo_service__descriptor,
					   echo_methods));
	CHECK_OK(actr_workload_add_route(w, "test.Fail", raw_fail, 0));
	CHECK_OK(actr_workload_add_route(w, "test.Slow", raw_slow, 0));
	CHECK_OK(actr_workload_add_route(w, "test.Big", raw_big, 0));
	CHECK_OK(actr_workload_add_route(w, "test.Who", raw_who, 0));
	return w;
}

/* An echo server node and a client node on one signaling server, both
 * registered and connected. */
static void echo_pair(actr_reactor_t *r, const char *url, struct rnode *srv,
		      struct rnode *cli)
{
	rt_node(srv, r, url, echo_workload("echo"), NULL);
	rt_node(cli, r, url, actr_workload_new("acme", "client", "1.0.0"),
		NULL);
	rt_wait_ready(r, srv, cli, 5000);
}

/* ---- results ----------------------------------------------------------- */

struct res {
	int done;		/* callbacks run */
	int status;		/* last status */
	char reply[128];	/* typed reply text */
	uint8_t *data;		/* raw reply copy */
	size_t len;
	int seq;		/* completion order */
};

static int completions;

static void on_res(const actr_result_t *r, void *arg)
{
	struct res *x = arg;

	x->done++;
	x->status = r->status;
	x->seq = ++completions;
	if (r->status == 0 && r->msg) {
		const Echo__EchoResponse *e = (const void *)r->msg;

		snprintf(x->reply, sizeof(x->reply), "%s", e->reply);
	}
	free(x->data);
	x->data = NULL;
	x->len = r->len;
	if (r->status == 0 && r->len && !r->msg) {
		x->data = malloc(r->len);
		CHECK(x->data);
		memcpy(x->data, r->data, r->len);
	}
}

static const Actr__ActrType *type_of(const char *name)
{
	static Actr__ActrType t[4];
	static int i;
	Actr__ActrType *x = &t[i++ & 3];

	actr__actr_type__init(x);
	x->manufacturer = "acme";
	x->name = (char *)name;
	x->version = "1.0.0";
	return x;
}

static int call_echo(struct rnode *c, const char *type, const char *text,
		     uint32_t timeout, struct res *x)
{
	Echo__EchoRequest req = ECHO__ECHO_REQUEST__INIT;

	req.message = (char *)text;
	return actr_peer_call(c->peer, type_of(type), "echo.EchoService.Echo",
			      &req.base, &echo__echo_response__descriptor,
			      timeout, on_res, x);
}

/* ---- tests ------------------------------------------------------------- */

TEST_TIMEOUT(remote_echo_two_nodes_one_process, 40)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode srv, cli;
	struct res a = { 0 }, b[3] = { 0 }, c = { 0 };
	actr_peer_stats_t st;
	char url[64], who[256];

	CHECK(r);
	l = rt_signal(r, 0, url, sizeof(url));
	echo_pair(r, url, &srv, &cli);

	/* three calls made before any connection exists are queued */
	CHECK_OK(call_echo(&cli, "echo", "one", 10000, &b[0]));
	CHECK_OK(call_echo(&cli, "echo", "two", 10000, &b[1]));
	CHECK_OK(call_echo(&cli, "echo", "three", 10000, &b[2]));
	rt_run(r, &b[2].done, 1, 15000);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(b[i].done, 1);
		CHECK_EQ(b[i].status, 0);
	}
	CHECK_STR(b[0].reply, "one");
	CHECK(b[0].seq < b[1].seq && b[1].seq < b[2].seq);	/* in order */
	CHECK_STR(b[2].reply, "three");
	actr_peer_get_stats(cli.peer, &st);
	CHECK_EQ(st.conns_created, 1);
	CHECK_EQ(st.conns_open, 1);
	CHECK(st.queued >= 1);
	CHECK_EQ(st.discoveries, 1);

	/* reuse: no new connection, no new discovery */
	CHECK_OK(call_echo(&cli, "echo", "again", 5000, &a));
	rt_run(r, &a.done, 1, 5000);
	CHECK_EQ(a.status, 0);
	CHECK_STR(a.reply, "again");
	actr_peer_get_stats(cli.peer, &st);
	CHECK_EQ(st.conns_created, 1);
	CHECK_EQ(st.discoveries, 1);
	CHECK_EQ(actr_peer_conn_count(cli.peer), 1);

	/* the callee sees the caller's ActrId issued by the server; this
	 * route goes on RPC_SIGNAL, its response on RPC_RELIABLE */
	CHECK_OK(actr_peer_set_route_lane(cli.peer, "test.Who",
					  ACTR__PAYLOAD_TYPE__RPC_SIGNAL));
	CHECK_OK(actr_peer_call_raw(cli.peer, type_of("echo"), "test.Who",
				    "", 0, 5000, on_res, &c));
	rt_run(r, &c.done, 1, 5000);
	CHECK_EQ(c.status, 0);
	CHECK(actr_id_format(actr_node_id(cli.node), who, sizeof(who)) > 0);
	CHECK_EQ(c.len, strlen(who));
	CHECK(!memcmp(c.data, who, c.len));
	CHECK(actr_node_id(cli.node)->serial_number != 0);
	free(c.data);
	actr_peer_get_stats(cli.peer, &st);
	CHECK_EQ(st.signal_out, 1);
	CHECK_EQ(st.signal_in, 0);
	actr_peer_get_stats(srv.peer, &st);
	CHECK_EQ(st.signal_in, 1);
	CHECK_EQ(st.signal_out, 0);

	rt_node_free(&cli);
	rt_node_free(&srv);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}

TEST_TIMEOUT(remote_errors_propagate, 40)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode srv, cli;
	struct res a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 }, e = { 0 };
	char url[64];

	CHECK(r);
	l = rt_signal(r, 0, url, sizeof(url));
	echo_pair(r, url, &srv, &cli);

	/* unknown route on the callee */
	CHECK_OK(actr_peer_call_raw(cli.peer, type_of("echo"), "test.Nope",
				    "x", 1, 10000, on_res, &a));
	rt_run(r, &a.done, 1, 15000);
	CHECK_EQ(a.status, -ACTR_EUNKNOWNROUTE);
	/* handler error code */
	CHECK_OK(actr_peer_call_raw(cli.peer, type_of("echo"), "test.Fail",
				    "x", 1, 5000, on_res, &b));
	rt_run(r, &b.done, 1, 5000);
	CHECK_EQ(b.status, -ACTR_EINVALARG);
	/* deadline: the handler keeps the request */
	CHECK_OK(actr_peer_call_raw(cli.peer, type_of("echo"), "test.Slow",
				    "x", 1, actr_test_scale(300), on_res, &c));
	rt_run(r, &c.done, 1, 5000);
	CHECK_EQ(c.status, -ACTR_ETIMEDOUT);
	CHECK(slow_ctx);
	/* a reply after the deadline is dropped as late */
	CHECK_OK(actr_reply_raw(slow_ctx, "late", 4));
	/* no actor of that type */
	CHECK_OK(call_echo(&cli, "nobody", "x", 5000, &d));
	rt_run(r, &d.done, 1, 5000);
	CHECK_EQ(d.status, -ACTR_ENOTFOUND);
	/* the connection still works after all that */
	CHECK_OK(call_echo(&cli, "echo", "still", 5000, &e));
	rt_run(r, &e.done, 1, 5000);
	CHECK_EQ(e.status, 0);
	CHECK_STR(e.reply, "still");

	rt_node_free(&cli);
	rt_node_free(&srv);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}

TEST_TIMEOUT(remote_acl_denied, 40)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode srv, cli;
	struct res a = { 0 };
	static Actr__AclRule rule = ACTR__ACL_RULE__INIT;
	static Actr__AclRule *rules[1] = { &rule };
	static Actr__Acl acl = ACTR__ACL__INIT;
	actr_workload_t *w;
	char url[64];

	CHECK(r);
	rule.permission = ACTR__ACL_RULE__PERMISSION__ALLOW;
	rule.from_type = (Actr__ActrType *)type_of("friend");
	acl.n_rules = 1;
	acl.rules = rules;
	l = rt_signal(r, 0, url, sizeof(url));
	w = echo_workload("guarded");
	actr_workload_set_acl(w, &acl);
	rt_node(&srv, r, url, w, NULL);
	rt_node(&cli, r, url, actr_workload_new("acme", "client", "1.0.0"),
		NULL);
	rt_wait_ready(r, &srv, &cli, 5000);
	CHECK_OK(call_echo(&cli, "guarded", "x", 10000, &a));
	rt_run(r, &a.done, 1, 15000);
	CHECK_EQ(a.status, -ACTR_EPERM);
	CHECK_EQ(actr_system_stats(srv.sys)->denied, 1);

	rt_node_free(&cli);
	rt_node_free(&srv);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}

TEST_TIMEOUT(remote_large_payload, 60)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode srv, cli;
	struct res a = { 0 };
	size_t n = 1u << 20;
	uint8_t *big = malloc(n);
	char url[64];

	CHECK(r && big);
	for (size_t i = 0; i < n; i++)
		big[i] = (uint8_t)(i * 7 + (i >> 13));
	l = rt_signal(r, 0, url, sizeof(url));
	echo_pair(r, url, &srv, &cli);
	CHECK_OK(actr_peer_call_raw(cli.peer, type_of("echo"), "test.Big", big,
				    n, 30000, on_res, &a));
	rt_run(r, &a.done, 1, 40000);
	CHECK_EQ(a.status, 0);
	CHECK_EQ(a.len, n);
	CHECK(a.data && !memcmp(a.data, big, n));
	free(a.data);
	free(big);

	rt_node_free(&cli);
	rt_node_free(&srv);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}

TEST_TIMEOUT(remote_setup_failure_not_ready, 30)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode srv, cli;
	struct res a = { 0 }, b = { 0 };
	actr_peer_stats_t st;
	char url[64];

	CHECK(r);
	l = rt_signal(r, 0, url, sizeof(url));
	/* the callee's ICE has no usable address (TEST-NET-1): the
	 * connection cannot come up */
	rt_node_ex(&srv, r, url, echo_workload("echo"), NULL, "192.0.2.1",
		   (unsigned)actr_test_scale(800));
	rt_node_ex(&cli, r, url, actr_workload_new("acme", "client", "1.0.0"),
		   NULL, "127.0.0.1", (unsigned)actr_test_scale(800));
	rt_wait_ready(r, &srv, &cli, 5000);
	CHECK_OK(call_echo(&cli, "echo", "x", 20000, &a));
	CHECK_OK(call_echo(&cli, "echo", "y", 20000, &b));
	rt_run(r, &b.done, 1, 15000);
	CHECK_EQ(a.done, 1);
	CHECK_EQ(b.done, 1);
	/* queued calls fail at once with ConnectionNotReady, well before
	 * their own deadline */
	CHECK_EQ(a.status, -ACTR_ENOTREADY);
	CHECK_EQ(b.status, -ACTR_ENOTREADY);
	actr_peer_get_stats(cli.peer, &st);
	CHECK_EQ(st.conns_open, 0);
	CHECK(st.conns_failed >= 1);
	CHECK_EQ(actr_peer_conn_count(cli.peer), 0);

	rt_node_free(&cli);
	rt_node_free(&srv);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}

TEST_TIMEOUT(remote_callee_gone, 30)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode srv, cli;
	struct res a = { 0 };
	actr_peer_stats_t st;
	char url[64];

	CHECK(r);
	l = rt_signal(r, 0, url, sizeof(url));
	echo_pair(r, url, &srv, &cli);
	/* the callee vanishes between discovery and the call: its peer gate
	 * is gone, so nobody answers the relay */
	CHECK_OK(call_echo(&cli, "echo", "x", 20000, &a));
	actr_peer_free(srv.peer);
	srv.peer = NULL;
	rt_run(r, &a.done, 1, 20000);
	CHECK_EQ(a.done, 1);
	CHECK(a.status == -ACTR_ENOTREADY || a.status == -ACTR_ENOTFOUND ||
	      a.status == -ACTR_ETIMEDOUT);
	actr_peer_get_stats(cli.peer, &st);
	CHECK_EQ(st.conns_open, 0);

	rt_node_free(&cli);
	rt_node_free(&srv);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}

/* ---- calls by ActrId from a handler, TELL, durable mailbox ------------- */

static int counted;

static int raw_count(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	counted++;
	return 0;
}

static void relay_done(const actr_result_t *r, void *arg)
{
	actr_ctx_t *ctx = arg;

	if (r->status < 0)
		actr_reply_error(ctx, (uint32_t)-r->status, "relay failed");
	else
		actr_reply_raw(ctx, r->data, r->len);
}

/* Payload: the target's ActrId string. Tells it test.Count, then calls
 * its test.Big with "ping" and answers with the reply. */
static int raw_relay(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	char s[256];
	Actr__ActrId *id = NULL;
	int rc;

	CHECK(n < sizeof(s));
	memcpy(s, d, n);
	s[n] = '\0';
	CHECK_OK(actr_id_parse(s, &id));
	rc = actr_tell_raw(ctx, id, "test.Count", "t", 1);
	if (rc == 0)
		rc = actr_call_raw(ctx, id, "test.Big", "ping", 4, 10000,
				   relay_done, actr_ctx_keep(ctx));
	actr_proto_free(id);
	return rc;
}

TEST_TIMEOUT(remote_call_by_id_tell_mailbox, 40)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode srv, cli;
	struct res a = { 0 };
	actr_peer_stats_t st;
	actr_workload_t *w, *cw;
	char url[64], id[256], mb[512];
	uint64_t end;

	CHECK(r);
	snprintf(mb, sizeof(mb), "%s/remote-mb.db", actr_test_tmpdir());
	l = rt_signal(r, 0, url, sizeof(url));
	w = echo_workload("echo");
	CHECK_OK(actr_workload_add_route(w, "test.Count", raw_count, 0));
	rt_node(&srv, r, url, w, mb);
	cw = actr_workload_new("acme", "client", "1.0.0");
	CHECK_OK(actr_workload_add_route(cw, "test.Relay", raw_relay, 0));
	rt_node(&cli, r, url, cw, NULL);
	rt_wait_ready(r, &srv, &cli, 5000);
	CHECK(actr_id_format(actr_node_id(srv.node), id, sizeof(id)) > 0);

	/* shell -> client workload -> (tell + call by ActrId) -> server */
	CHECK_OK(actr_ref_call_raw(cli.ref, "test.Relay", id, strlen(id),
				   15000, on_res, &a));
	rt_run(r, &a.done, 1, 15000);
	CHECK_EQ(a.status, 0);
	CHECK_EQ(a.len, 4);
	CHECK(!memcmp(a.data, "ping", 4));
	free(a.data);
	/* both went through the mailbox and are acknowledged (the TELL once
	 * the dispatcher drained) */
	end = actr_time_ns() + ACTR_MS(actr_test_scale(3000));
	do {
		actr_reactor_run_once(r, 10);
		actr_peer_get_stats(srv.peer, &st);
	} while (st.acked < 2 && actr_time_ns() < end);
	CHECK_EQ(counted, 1);
	CHECK_EQ(st.persisted, 2);
	CHECK_EQ(st.acked, 2);

	rt_node_free(&cli);
	rt_node_free(&srv);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}

TEST_TIMEOUT(remote_peer_freed_with_calls_in_flight, 30)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode srv, cli;
	struct res a = { 0 }, b = { 0 }, c = { 0 };
	char url[64];

	CHECK(r);
	l = rt_signal(r, 0, url, sizeof(url));
	echo_pair(r, url, &srv, &cli);
	CHECK_OK(call_echo(&cli, "echo", "warm", 10000, &a));
	rt_run(r, &a.done, 1, 10000);
	CHECK_EQ(a.status, 0);
	/* one call in the runtime (the handler keeps it), one waiting for
	 * discovery; then the caller's peer gate goes away */
	slow_ctx = NULL;
	CHECK_OK(actr_peer_call_raw(cli.peer, type_of("echo"), "test.Slow",
				    "x", 1, actr_test_scale(500), on_res, &b));
	for (int i = 0; i < 200 && !slow_ctx; i++)
		actr_reactor_run_once(r, 10);
	CHECK(slow_ctx);
	CHECK_OK(call_echo(&cli, "other", "x", 10000, &c));
	actr_peer_free(cli.peer);
	cli.peer = NULL;
	CHECK_EQ(c.done, 1);
	CHECK_EQ(c.status, -ACTR_ECLOSED);
	rt_run(r, &b.done, 1, 5000);
	CHECK_EQ(b.done, 1);
	CHECK(b.status == -ACTR_ETIMEDOUT || b.status == -ACTR_ENOTREADY);
	/* the server sees the caller's connection go; a late reply then is
	 * dropped and counted, and opens no new connection to the caller */
	for (int i = 0; i < 500 && actr_peer_conn_count(srv.peer); i++)
		actr_reactor_run_once(r, 10);
	CHECK_EQ(actr_peer_conn_count(srv.peer), 0);
	CHECK_EQ(actr_reply_raw(slow_ctx, "late", 4), -ACTR_ECLOSED);
	for (int i = 0; i < 30; i++)
		actr_reactor_run_once(r, 10);
	CHECK_EQ(actr_peer_conn_count(srv.peer), 0);
	{
		actr_peer_stats_t st;

		actr_peer_get_stats(srv.peer, &st);
		CHECK(st.late_replies_dropped >= 1);
	}

	rt_node_free(&cli);
	rt_node_free(&srv);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}
