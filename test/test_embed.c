/*
 * Embedding: a host loop owns its own epoll descriptor, watches the
 * reactor's fd in it, blocks without a timeout of its own and calls
 * actr_reactor_run_once(r, 0) only when that fd is readable. Work the host
 * queues between iterations (in-process calls and tells, deferred calls,
 * timers, remote calls through the peer gate) and work an iteration
 * leaves behind (a dispatch budget used up) must make the fd readable,
 * or such a loop stalls.
 *
 * The host's epoll_wait has a generous safety timeout only so that a
 * broken reactor fails the test instead of hanging it; every wait that
 * ran into it is counted as a stall and the tests assert there were none.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/peer.h>
#include <actr/runtime.h>

#include "server/signal_internal.h"
#include "test.h"
#include "test_remote_util.h"

#define SAFETY_MS 4000	/* a stall: the fd stayed unreadable this long */

struct host {
	actr_reactor_t *r;
	int ep;			/* the host's own epoll */
	int stalls;		/* waits that ended in SAFETY_MS */
	int wakeups;		/* waits that saw the fd readable */
};

static void host_init(struct host *h, actr_reactor_t *r)
{
	struct epoll_event ev = { .events = EPOLLIN };

	memset(h, 0, sizeof(*h));
	h->r = r;
	h->ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(h->ep >= 0);
	CHECK_OK(epoll_ctl(h->ep, EPOLL_CTL_ADD, actr_reactor_fd(r), &ev));
}

/* Block like a host loop until *flag >= want (at most max_waits waits). */
static void host_run(struct host *h, const int *flag, int want, int max_waits)
{
	for (int i = 0; i < max_waits && *flag < want; i++) {
		struct epoll_event ev;
		int n = epoll_wait(h->ep, &ev, 1, SAFETY_MS);

		if (n == 0) {
			h->stalls++;
			fprintf(stderr, "  host wait %d: fd not readable for "
				"%d ms (flag %d of %d)\n", i, SAFETY_MS, *flag,
				want);
			break;	/* counted; the caller's checks fail */
		}
		if (n > 0)
			h->wakeups++;
		CHECK(actr_reactor_run_once(h->r, 0) >= 0);
	}
}

static void host_free(struct host *h)
{
	close(h->ep);
}

/* ---- an in-process echo ---------------------------------------------------- */

static int handled;

static int raw_echo(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	handled++;
	return actr_reply_raw(ctx, d, n);
}

static int raw_note(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	(void)ctx;
	(void)d;
	(void)n;
	handled++;
	return 0;
}

static actr_workload_t *workload(const char *name)
{
	actr_workload_t *w = actr_workload_new("acme", name, "1.0.0");

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

TEST(embed_inproc_call_wakes_host_loop)
{
	actr_reactor_t *r = actr_reactor_new();
	actr_system_config_t cfg = { .dispatch_budget = 1 };
	actr_system_t *sys;
	actr_node_t *n;
	actr_ref_t *ref;
	struct host h;
	struct res x = { 0 };

	CHECK(r);
	sys = actr_system_new(r, &cfg);
	CHECK(sys);
	n = actr_node_new(sys, workload("embed"), 0);
	CHECK(n);
	CHECK_OK(actr_node_start(n, &ref));
	host_init(&h, r);
	/* Settle what starting queued, then the loop is idle. */
	for (int i = 0; i < 5 && actr_reactor_timeout(r) == 0; i++)
		CHECK(actr_reactor_run_once(r, 0) >= 0);
	CHECK_EQ(actr_reactor_timeout(r), -1);

	/* A call from host code between iterations. */
	handled = 0;
	CHECK_OK(actr_ref_call_raw(ref, "test.Echo", "hi", 2, 0, on_result,
				   &x));
	CHECK_EQ(actr_reactor_timeout(r), 0);	/* work is pending */
	host_run(&h, &x.done, 1, 50);
	CHECK_EQ(x.done, 1);
	CHECK_EQ(x.status, 0);
	CHECK_STR(x.reply, "hi");

	/* Ten tells with a dispatch budget of one per iteration: each
	 * iteration leaves work behind, and the fd must stay readable. */
	handled = 0;
	for (int i = 0; i < 10; i++)
		CHECK_OK(actr_ref_tell_raw(ref, "test.Note", "n", 1));
	host_run(&h, &handled, 10, 100);
	CHECK_EQ(handled, 10);
	CHECK_EQ(h.stalls, 0);
	CHECK(h.wakeups >= 10);	/* at most one tell per iteration */

	host_free(&h);
	actr_node_free(n);
	actr_system_free(sys);
	actr_reactor_free(r);
}

static int fired;

static void on_timer(actr_timer_t *t, void *arg)
{
	(void)t;
	(void)arg;
	fired++;
}

static void on_defer(actr_defer_t *d, void *arg)
{
	(void)d;
	(void)arg;
	fired++;
}

TEST(embed_timer_and_defer_from_host_code)
{
	actr_reactor_t *r = actr_reactor_new();
	actr_timer_t t;
	actr_defer_t d = { 0 };
	struct host h;
	int ms;

	CHECK(r);
	host_init(&h, r);
	fired = 0;
	CHECK_EQ(actr_reactor_timeout(r), -1);	/* nothing at all */

	/* A timer started by host code after the host slept: it counts
	 * from the clock, not from the last iteration's cached time, and
	 * the timerfd is armed at once. */
	CHECK(actr_reactor_run_once(r, 0) >= 0);
	usleep(50 * 1000);
	uint64_t before = actr_time_ns();

	actr_timer_init(r, &t, on_timer, NULL);
	CHECK_OK(actr_timer_start(&t, ACTR_MS(30), 0));
	ms = actr_reactor_timeout(r);
	CHECK(ms >= 0 && ms <= 30);
	host_run(&h, &fired, 1, 20);
	CHECK_EQ(fired, 1);
	CHECK(actr_time_ns() - before >= ACTR_MS(30));	/* never early */

	/* A deferred call queued by host code. */
	actr_defer(r, &d, on_defer, NULL);
	CHECK_EQ(actr_reactor_timeout(r), 0);
	host_run(&h, &fired, 2, 20);
	CHECK_EQ(fired, 2);
	CHECK_EQ(h.stalls, 0);

	host_free(&h);
	actr_reactor_free(r);
}

TEST_TIMEOUT(embed_remote_call_wakes_host_loop, 30)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode a, b;
	struct host h;
	struct res x = { 0 };
	char url[64];
	Actr__ActrType bt = ACTR__ACTR_TYPE__INIT;

	CHECK(r);
	l = rt_signal(r, 0, url, sizeof(url));
	rt_node(&a, r, url, workload("embeda"), NULL);
	rt_node(&b, r, url, workload("embedb"), NULL);
	rt_wait_ready(r, &a, &b, 5000);
	host_init(&h, r);

	/* Discovery, role negotiation, ICE, DTLS, SCTP and the call, all
	 * driven by a loop that only runs the reactor when its fd says so. */
	bt.manufacturer = "acme";
	bt.name = "embedb";
	bt.version = "1.0.0";
	handled = 0;
	CHECK_OK(actr_peer_call_raw(a.peer, &bt, "test.Echo", "remote", 6,
				    10000, on_result, &x));
	host_run(&h, &x.done, 1, 5000);
	CHECK_EQ(x.done, 1);
	CHECK_EQ(x.status, 0);
	CHECK_STR(x.reply, "remote");
	CHECK_EQ(handled, 1);

	/* A second call on the open connection. */
	CHECK_OK(actr_peer_call_raw(a.peer, &bt, "test.Echo", "again", 5,
				    10000, on_result, &x));
	host_run(&h, &x.done, 2, 1000);
	CHECK_EQ(x.done, 2);
	CHECK_STR(x.reply, "again");
	CHECK_EQ(h.stalls, 0);

	host_free(&h);
	rt_node_free(&a);
	rt_node_free(&b);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}
