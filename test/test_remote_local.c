/*
 * In-process calls through the peer gate's durable mailbox
 * (actr_peer_config.mailbox_local): handled and acknowledged like remote
 * ones, and redelivered after the process died in the handler.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/peer.h>
#include <actr/runtime.h>

#include "server/signal_internal.h"
#include "test.h"
#include "test_remote_util.h"

static int hits;
static bool in_child;		/* "kill" kills only the first process */
static bool caller_seen;	/* the last handler saw a caller id */

static int raw_echo(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	hits++;
	caller_seen = actr_ctx_caller(ctx) != NULL;
	if (in_child && n == 4 && !memcmp(d, "kill", 4))
		kill(getpid(), SIGKILL);
	return actr_reply_raw(ctx, d, n);
}

static int raw_note(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	(void)ctx;
	(void)d;
	(void)n;
	hits++;
	return 0;
}

static actr_workload_t *workload(void)
{
	actr_workload_t *w = actr_workload_new("acme", "local", "1.0.0");

	CHECK(w);
	CHECK_OK(actr_workload_add_route(w, "test.Echo", raw_echo, 0));
	CHECK_OK(actr_workload_add_route(w, "test.Note", raw_note, 0));
	return w;
}

struct res {
	int done, status;
	char reply[64];
};

static void on_result(const actr_result_t *r, void *arg)
{
	struct res *x = arg;

	x->done++;
	x->status = r->status;
	snprintf(x->reply, sizeof(x->reply), "%.*s", (int)r->len,
		 (const char *)r->data);
}

/* A node with mailbox_local on its own signaling server. */
static struct actr__sig_listener *setup(actr_reactor_t *r, struct rnode *a,
					const char *mb)
{
	struct actr__sig_listener *l;
	char url[64];

	l = rt_signal(r, 0, url, sizeof(url));
	rt_mailbox_local = true;
	rt_node(a, r, url, workload(), mb);
	rt_mailbox_local = false;
	rt_wait_ready(r, a, NULL, 5000);
	return l;
}

static void teardown(actr_reactor_t *r, struct rnode *a,
		     struct actr__sig_listener *l)
{
	rt_node_free(a);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}

TEST_TIMEOUT(remote_local_calls_through_mailbox, 30)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode a;
	struct res x = { 0 };
	actr_peer_stats_t st;
	char mb[512];

	CHECK(r);
	snprintf(mb, sizeof(mb), "%s/local.db", actr_test_tmpdir());
	l = setup(r, &a, mb);
	hits = 0;
	CHECK_OK(actr_ref_call_raw(a.ref, "test.Echo", "hi", 2, 5000,
				   on_result, &x));
	CHECK_OK(actr_ref_tell_raw(a.ref, "test.Note", "n", 1));
	rt_run(r, &x.done, 1, 5000);
	rt_run(r, &hits, 2, 5000);
	CHECK_EQ(x.done, 1);
	CHECK_EQ(x.status, 0);
	CHECK_STR(x.reply, "hi");
	CHECK_EQ(hits, 2);
	CHECK(caller_seen == false);	/* from the shell */
	for (int i = 0; i < 10; i++)
		actr_reactor_run_once(r, 1);
	actr_peer_get_stats(a.peer, &st);
	CHECK_EQ(st.persisted, 2);	/* both went through the mailbox */
	CHECK_EQ(st.acked, 2);		/* and were acknowledged */
	CHECK_EQ(st.local_redelivered, 0);
	/* an unknown route is refused before the mailbox */
	memset(&x, 0, sizeof(x));
	CHECK_OK(actr_ref_call_raw(a.ref, "test.Nope", "", 0, 5000, on_result,
				   &x));
	rt_run(r, &x.done, 1, 5000);
	CHECK_EQ(x.status, -ACTR_EUNKNOWNROUTE);
	actr_peer_get_stats(a.peer, &st);
	CHECK_EQ(st.persisted, 2);

	/* The running node's mailbox and dead-letter queue, from the
	 * application: what the gate stored, and an entry put in the DLQ
	 * read back. */
	actr_mailbox_t *m = actr_peer_mailbox(a.peer);
	actr_mailbox_stats_t ms;
	actr_dlq_stats_t ds;

	CHECK(m);
	actr_mailbox_stats(m, &ms);
	CHECK_EQ(ms.enqueued, 2);
	CHECK_EQ(ms.acked, 2);
	CHECK_OK(actr_dlq_add(m, "x", 1, "poison", 6, "app", "bad input"));
	CHECK_OK(actr_dlq_stats(m, NULL, &ds));
	CHECK_EQ(ds.count, 1);
	teardown(r, &a, l);
}

TEST_TIMEOUT(remote_local_redelivered_after_crash, 40)
{
	char mb[512];
	int status;
	pid_t pid;

	snprintf(mb, sizeof(mb), "%s/local-crash.db", actr_test_tmpdir());
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		actr_reactor_t *r = actr_reactor_new();
		struct rnode a;
		struct res x = { 0 };

		in_child = true;
		setup(r, &a, mb);
		actr_ref_call_raw(a.ref, "test.Echo", "kill", 4, 5000,
				  on_result, &x);
		rt_run(r, &x.done, 1, 5000);
		_exit(3);	/* the handler should have killed us */
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	/* the next process finds the message and handles it once more */
	{
		actr_reactor_t *r = actr_reactor_new();
		struct actr__sig_listener *l;
		struct rnode a;
		struct res x = { 0 };
		actr_peer_stats_t st;

		CHECK(r);
		hits = 0;
		caller_seen = true;
		l = setup(r, &a, mb);
		rt_run(r, &hits, 1, 5000);
		CHECK_EQ(hits, 1);
		CHECK(!caller_seen);
		for (int i = 0; i < 10; i++)
			actr_reactor_run_once(r, 1);
		actr_peer_get_stats(a.peer, &st);
		CHECK_EQ(st.recovered, 1);
		CHECK_EQ(st.local_redelivered, 1);
		CHECK_EQ(st.acked, 1);
		/* its reply had nobody to go to */
		CHECK(actr_system_stats(a.sys)->late_responses >= 1);
		/* and new calls work */
		CHECK_OK(actr_ref_call_raw(a.ref, "test.Echo", "after", 5,
					   5000, on_result, &x));
		rt_run(r, &x.done, 1, 5000);
		CHECK_EQ(x.status, 0);
		CHECK_STR(x.reply, "after");
		teardown(r, &a, l);
	}
}

/* No signaling server at all: in-process messages through the mailbox
 * do not wait for a registration that never comes. */
TEST_TIMEOUT(remote_local_without_registration, 20)
{
	actr_reactor_t *r = actr_reactor_new();
	struct rnode a;
	struct res x = { 0 };
	actr_peer_stats_t st;
	char mb[512];

	CHECK(r);
	snprintf(mb, sizeof(mb), "%s/local-noreg.db", actr_test_tmpdir());
	hits = 0;
	rt_mailbox_local = true;
	rt_node(&a, r, "ws://127.0.0.1:1", workload(), mb); /* refused */
	rt_mailbox_local = false;
	CHECK_OK(actr_ref_call_raw(a.ref, "test.Echo", "early", 5, 5000,
				   on_result, &x));
	CHECK_OK(actr_ref_tell_raw(a.ref, "test.Note", "n", 1));
	rt_run(r, &x.done, 1, 5000);
	rt_run(r, &hits, 2, 5000);
	CHECK(!actr_peer_ready(a.peer));
	CHECK_EQ(x.status, 0);
	CHECK_STR(x.reply, "early");
	CHECK_EQ(hits, 2);
	for (int i = 0; i < 10; i++)
		actr_reactor_run_once(r, 1);
	actr_peer_get_stats(a.peer, &st);
	CHECK_EQ(st.persisted, 2);
	CHECK_EQ(st.acked, 2);
	rt_node_free(&a);
	rt_drain(r);
	actr_reactor_free(r);
}
