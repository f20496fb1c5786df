/*
 * W3C trace context (runtime/trace.c): traceparent validation and
 * children, and a trace seen end to end across three nodes (A calls B,
 * whose handler calls C), in handler contexts and in C's JSON log line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <actr/actr.h>

#include "runtime/internal.h"
#include "server/signal_internal.h"
#include "test.h"
#include "test_remote_util.h"

TEST(trace_valid_and_child)
{
	const char *ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
	char c[ACTR__TRACEPARENT_LEN + 1], d[ACTR__TRACEPARENT_LEN + 1];

	CHECK(actr__trace_valid(ok));
	CHECK(!actr__trace_valid(NULL));
	CHECK(!actr__trace_valid(""));
	CHECK(!actr__trace_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"));
	CHECK(!actr__trace_valid("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
	CHECK(!actr__trace_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
	CHECK(!actr__trace_valid("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
	CHECK(!actr__trace_valid("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
	CHECK(actr__trace_valid("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later"));

	actr__trace_child(ok, c);
	CHECK(actr__trace_valid(c));
	CHECK(!strncmp(c, ok, 36));			/* same trace id */
	CHECK(strncmp(c + 36, ok + 36, 16));		/* new span */
	CHECK_STR(c + 52, "-01");
	actr__trace_child(NULL, c);
	actr__trace_child("garbage", d);
	CHECK(actr__trace_valid(c));
	CHECK(actr__trace_valid(d));
	CHECK(strncmp(c + 3, d + 3, 32));		/* two new traces */
	CHECK_STR(c + 52, "-01");			/* sampled */
}

/* ---- A -> B -> C --------------------------------------------------------- */

static char tp_b[64], tp_c[64];
static actr_peer_t *peer_b;
static Actr__ActrType type_c = ACTR__ACTR_TYPE__INIT;

static int leaf(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	const char *tp = actr_ctx_traceparent(ctx);

	snprintf(tp_c, sizeof(tp_c), "%s", tp ? tp : "");
	actr_logi("app", "leaf reached");
	return actr_reply_raw(ctx, "leaf", 4);
}

/* B's continuation: C answered, answer A. */
static void relay_done(const actr_result_t *res, void *arg)
{
	actr_ctx_t *ctx = arg;

	if (res->status < 0)
		actr_reply_error(ctx, (uint32_t)-res->status, "C failed");
	else
		actr_reply_raw(ctx, res->data, res->len);
}

static int relay(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	const char *tp = actr_ctx_traceparent(ctx);

	snprintf(tp_b, sizeof(tp_b), "%s", tp ? tp : "");
	return actr_peer_call_raw(peer_b, &type_c, "c.Leaf", "", 0, 10000,
				  relay_done, actr_ctx_keep(ctx));
}

/* b.Later: keep the context, call C by id after the handler returned
 * (from a deferred callback): the kept request's trace continues. */
static Actr__ActrId *id_c;
static actr_defer_t later_defer;
static actr_reactor_t *reactor;

static void later_fire(actr_defer_t *d, void *arg)
{
	actr_ctx_t *ctx = arg;

	if (actr_call_raw(ctx, id_c, "c.Leaf", "", 0, 10000, relay_done,
			  ctx) < 0)
		actr_reply_error(ctx, ACTR_EINTERNAL, "call failed");
}

static int later(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	const char *tp = actr_ctx_traceparent(ctx);

	snprintf(tp_b, sizeof(tp_b), "%s", tp ? tp : "");
	actr_defer(reactor, &later_defer, later_fire, actr_ctx_keep(ctx));
	return 0;
}

/* b.Local: an in-process hop to node B2 of B's system, whose handler
 * calls C: the trace survives the local hop. */
static char tp_b2[64];
static Actr__ActrId *id_b2;

static int local_hop(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	return actr_call_raw(ctx, id_b2, "b2.Relay", "", 0, 10000, relay_done,
			     actr_ctx_keep(ctx));
}

static int b2_relay(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	const char *tp = actr_ctx_traceparent(ctx);

	snprintf(tp_b2, sizeof(tp_b2), "%s", tp ? tp : "");
	return actr_call_raw(ctx, id_c, "c.Leaf", "", 0, 10000, relay_done,
			     actr_ctx_keep(ctx));
}

struct res {
	int done;
	int status;
	char reply[16];
};

static void on_res(const actr_result_t *r, void *arg)
{
	struct res *x = arg;

	x->done++;
	x->status = r->status;
	snprintf(x->reply, sizeof(x->reply), "%.*s", (int)r->len,
		 r->len ? (const char *)r->data : "");
}

TEST_TIMEOUT(trace_three_nodes, 60)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode a, b, c;
	actr_workload_t *wb, *wc;
	Actr__ActrType type_b = ACTR__ACTR_TYPE__INIT;
	struct res x = { 0 }, y = { 0 };
	char url[64], logpath[4096], first[64], line[4096];
	char needle[128];
	FILE *f;
	bool seen = false;
	int fd;

	CHECK(r);
	l = rt_signal(r, 0, url, sizeof(url));
	wb = actr_workload_new("acme", "tb", "1.0.0");
	wc = actr_workload_new("acme", "tc", "1.0.0");
	CHECK(wb && wc);
	CHECK_OK(actr_workload_add_route(wb, "b.Relay", relay, 0));
	CHECK_OK(actr_workload_add_route(wb, "b.Later", later, 0));
	CHECK_OK(actr_workload_add_route(wb, "b.Local", local_hop, 0));
	reactor = r;
	CHECK_OK(actr_workload_add_route(wc, "c.Leaf", leaf, 0));
	rt_node(&b, r, url, wb, NULL);
	rt_node(&c, r, url, wc, NULL);
	rt_node(&a, r, url, actr_workload_new("acme", "ta", "1.0.0"), NULL);
	peer_b = b.peer;
	rt_wait_ready(r, &a, &b, 5000);
	rt_wait_ready(r, &b, &c, 5000);
	type_b.manufacturer = type_c.manufacturer = "acme";
	type_b.name = "tb";
	type_c.name = "tc";
	type_b.version = type_c.version = "1.0.0";

	/* C's log lines in JSON, to a file */
	snprintf(logpath, sizeof(logpath), "%s/log.json", actr_test_tmpdir());
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	fflush(stderr);
	CHECK(dup2(fd, 2) == 2);
	close(fd);
	actr_log_set_format(ACTR_LOG_FORMAT_JSON);

	/* a call from A's shell starts a trace; B continues it to C */
	CHECK_OK(actr_peer_call_raw(a.peer, &type_b, "b.Relay", "", 0, 15000,
				    on_res, &x));
	rt_run(r, &x.done, 1, 20000);
	CHECK_EQ(x.done, 1);
	CHECK_EQ(x.status, 0);
	CHECK_STR(x.reply, "leaf");
	CHECK(actr__trace_valid(tp_b));
	CHECK(actr__trace_valid(tp_c));
	CHECK(!strncmp(tp_b, tp_c, 35));		/* one trace id */
	CHECK(strncmp(tp_b + 36, tp_c + 36, 16));	/* two spans */
	snprintf(first, sizeof(first), "%s", tp_b);

	/* C's handler logged with that trace id */
	fflush(stderr);
	snprintf(needle, sizeof(needle), "\"trace_id\":\"%.32s\"", tp_c + 3);
	f = fopen(logpath, "r");
	CHECK(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "leaf reached") && strstr(line, needle) &&
		    strstr(line, "\"route\":\"c.Leaf\"") &&
		    strstr(line, "\"peer\":\""))
			seen = true;
	fclose(f);
	CHECK(seen);

	/* the next call from the shell is another trace */
	CHECK_OK(actr_peer_call_raw(a.peer, &type_b, "b.Relay", "", 0, 15000,
				    on_res, &y));
	rt_run(r, &y.done, 1, 20000);
	CHECK_EQ(y.status, 0);
	CHECK(actr__trace_valid(tp_b));
	CHECK(strncmp(first + 3, tp_b + 3, 32));
	CHECK(!strncmp(tp_b, tp_c, 35));

	/* a call from a kept context, after the handler returned */
	CHECK(actr_node_id(c.node)->serial_number != 0);
	id_c = actr_id_dup(actr_node_id(c.node));
	CHECK(id_c);
	memset(&x, 0, sizeof(x));
	tp_c[0] = 0;
	CHECK_OK(actr_peer_call_raw(a.peer, &type_b, "b.Later", "", 0, 15000,
				    on_res, &x));
	rt_run(r, &x.done, 1, 20000);
	CHECK_EQ(x.status, 0);
	CHECK_STR(x.reply, "leaf");
	CHECK(actr__trace_valid(tp_b));
	CHECK(actr__trace_valid(tp_c));
	CHECK(!strncmp(tp_b, tp_c, 35));

	/* an in-process hop B -> B2 (same system), then B2 -> C */
	{
		actr_workload_t *w2 = actr_workload_new("acme", "tb2", "1.0.0");
		actr_node_t *b2;
		actr_ref_t *ref2;

		CHECK(w2);
		CHECK_OK(actr_workload_add_route(w2, "b2.Relay", b2_relay, 0));
		b2 = actr_node_new(b.sys, w2, 0);
		CHECK(b2);
		CHECK_OK(actr_node_start(b2, &ref2));
		id_b2 = actr_id_dup(actr_node_id(b2));
		CHECK(id_b2);
		memset(&x, 0, sizeof(x));
		tp_c[0] = 0;
		CHECK_OK(actr_peer_call_raw(a.peer, &type_b, "b.Local", "", 0,
					    15000, on_res, &x));
		rt_run(r, &x.done, 1, 20000);
		CHECK_EQ(x.status, 0);
		CHECK(actr__trace_valid(tp_b2));
		CHECK(actr__trace_valid(tp_c));
		CHECK(!strncmp(tp_b2, tp_c, 35));
		actr_proto_free(id_b2);
	}
	actr_proto_free(id_c);

	actr_log_set_format(ACTR_LOG_FORMAT_TEXT);
	rt_node_free(&a);
	rt_node_free(&b);
	rt_node_free(&c);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}

/* ---- trace context on the signaling of a connection ------------------- */

#define SIGLOG_MAX 64

/* actr-signal's traced relay lines: kind and trace id of each. */
struct siglog {
	int n;
	char kind[SIGLOG_MAX][24];	/* "role negotiation", ... */
	char trace_id[SIGLOG_MAX][33];	/* 32 hex */
};

static void sig_sink(actr_log_level_t level, const char *subsys,
		     const char *text, void *arg)
{
	struct siglog *s = arg;
	const char *t = strstr(text, " traceparent=00-");
	const char *arrow = strstr(text, " -> ");

	if (strcmp(subsys, "signal") || !t || !arrow || s->n == SIGLOG_MAX)
		return;
	/* "<kind> <from> -> <to> traceparent=..." */
	snprintf(s->kind[s->n], sizeof(s->kind[0]), "%.*s",
		 (int)strcspn(text, "0123456789"), text);
	snprintf(s->trace_id[s->n], sizeof(s->trace_id[0]), "%.32s", t + 16);
	s->n++;
}

/* Lines of kind (its first word) with trace id tid. */
static int siglog_count(const struct siglog *s, const char *kind,
			const char *tid)
{
	int k = 0;

	for (int i = 0; i < s->n; i++)
		k += !strncmp(s->kind[i], kind, strlen(kind)) &&
		     !strcmp(s->trace_id[i], tid);
	return k;
}

TEST_TIMEOUT(trace_signaling_envelope, 60)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode a, c;
	actr_workload_t *wc;
	struct res x = { 0 };
	static struct siglog sl;
	char tid[33];
	char url[64];

	CHECK(r);
	memset(&sl, 0, sizeof(sl));
	l = rt_signal(r, 0, url, sizeof(url));
	wc = actr_workload_new("acme", "tc", "1.0.0");
	CHECK(wc);
	CHECK_OK(actr_workload_add_route(wc, "c.Leaf", leaf, 0));
	rt_node(&c, r, url, wc, NULL);
	rt_node(&a, r, url, actr_workload_new("acme", "ta", "1.0.0"), NULL);
	rt_wait_ready(r, &a, &c, 5000);
	type_c.manufacturer = "acme";
	type_c.name = "tc";
	type_c.version = "1.0.0";
	tp_c[0] = 0;

	/* A's first call opens the connection: the trace generated for
	 * the call rides on the role negotiation (A's) and on both halves
	 * of the SDP exchange (the answerer took it from the relay that
	 * opened its side), and actr-signal logs it */
	actr_log_set_sink(sig_sink, &sl);
	CHECK_OK(actr_peer_call_raw(a.peer, &type_c, "c.Leaf", "", 0, 15000,
				    on_res, &x));
	rt_run(r, &x.done, 1, 20000);
	actr_log_set_sink(NULL, NULL);
	CHECK_EQ(x.status, 0);
	CHECK(actr__trace_valid(tp_c));
	snprintf(tid, sizeof(tid), "%.32s", tp_c + 3);
	CHECK_EQ(siglog_count(&sl, "role negotiation", tid), 1);
	CHECK_EQ(siglog_count(&sl, "description", tid), 2);
	/* nothing else traced differently */
	for (int i = 0; i < sl.n; i++)
		CHECK_STR(sl.trace_id[i], tid);

	/* a second call on the open connection: no signaling at all */
	memset(&x, 0, sizeof(x));
	sl.n = 0;
	actr_log_set_sink(sig_sink, &sl);
	CHECK_OK(actr_peer_call_raw(a.peer, &type_c, "c.Leaf", "", 0, 15000,
				    on_res, &x));
	rt_run(r, &x.done, 1, 20000);
	actr_log_set_sink(NULL, NULL);
	CHECK_EQ(x.status, 0);
	CHECK_EQ(sl.n, 0);

	rt_node_free(&a);
	rt_node_free(&c);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}
