/*
 * Connections that survive (README "Recovery"): two nodes in two network
 * namespaces joined only through the user-space impairment relay
 * (test/impair.h): the caller (this process, 10.77.0.1, also running
 * actr-signal) and a callee (a child, 10.77.0.2) answering test.Ping with
 * its payload. Loss and cuts touch UDP only: the signaling connection
 * stays (delayed like everything else), the peer connection's path is
 * impaired.
 *
 *   - 10% loss and 20 ms delay each way, 200 calls: none fails, no
 *     connection is declared dead or replaced;
 *   - the link is cut for 15 s and restored: the connection is kept
 *     (ICE restart, the same DTLS/SCTP association), calls made during
 *     the cut complete after it (one whose deadline passes during the
 *     cut fails by its deadline, TimedOut), the first call after it
 *     succeeds (its time from the restore is printed, not asserted);
 *   - the link never comes back: the restart gives up after its budget
 *     and the call in flight fails with Unavailable and the reason.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/peer.h>
#include <actr/runtime.h>

#include "core/internal.h"
#include "server/signal_internal.h"
#include "impair.h"
#include "test.h"
#include "test_remote_util.h"

#define IP_A "10.77.0.1"
#define IP_B "10.77.0.2"

static Actr__ActrType pong_type = {
	PROTOBUF_C_MESSAGE_INIT(&actr__actr_type__descriptor), "acme", "pong",
	"1.0.0"
};

static int raw_ping(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	return actr_reply_raw(ctx, d, n);
}

/* The callee: reads the signaling URL from sock, serves test.Ping until
 * sock is shut down, then writes its actr_peer_stats_t there. */
static int callee_main(void *arg, int sock)
{
	actr_workload_t *w = actr_workload_new("acme", "pong", "1.0.0");
	char url[96] = { 0 };
	actr_peer_stats_t st;
	actr_reactor_t *r;
	struct rnode n;
	uint64_t end;
	size_t got = 0;

	(void)arg;
	while (got < sizeof(url) - 1 && !strchr(url, '\n')) {
		ssize_t k = read(sock, url + got, sizeof(url) - 1 - got);

		if (k <= 0)
			return 3;
		got += (size_t)k;
	}
	*strchr(url, '\n') = '\0';
	if (!w || actr_workload_add_route(w, "test.Ping", raw_ping, 0) < 0)
		return 4;
	r = actr_reactor_new();
	if (!r)
		return 4;
	rt_node_ex(&n, r, url, w, NULL, IP_B, 10000);
	end = actr_time_ns() + ACTR_SEC(600);
	while (actr_time_ns() < end) {
		struct pollfd pf = { sock, POLLIN, 0 };
		char c;

		actr_reactor_run_once(r, 20);
		if (poll(&pf, 1, 0) == 1 && read(sock, &c, 1) <= 0)
			break;
	}
	actr_peer_get_stats(n.peer, &st);
	rt_node_free(&n);
	actr_reactor_drain(r, 1000);
	actr_reactor_free(r);
	return write(sock, &st, sizeof(st)) == (ssize_t)sizeof(st) ? 0 : 5;
}

struct net2 {
	struct impair im;		/* the relay */
	pid_t callee;			/* the callee's process */
	int ctl;			/* its control socket */
	actr_reactor_t *r;
	struct actr__sig_listener *l;
	struct rnode cli;		/* the caller */
	char url[64];
};

static void net2_up(struct net2 *n, const struct impair_opts *o)
{
	char line[80];
	int fa, fb = -1;

	memset(n, 0, sizeof(*n));
	CHECK_OK(unshare(CLONE_NEWNET));
	fa = impair_tun("imp0", IP_A, 24);
	CHECK(fa >= 0);
	/* before any reactor exists here: the child starts clean */
	n->callee = impair_spawn_ns("imp1", IP_B, 24, callee_main, NULL, &fb,
				    &n->ctl);
	CHECK(n->callee > 0);
	CHECK_OK(impair_start(&n->im, fa, fb, o));
	n->r = actr_reactor_new();
	CHECK(n->r);
	n->l = rt_signal_on(n->r, IP_A, 0, n->url, sizeof(n->url));
	snprintf(line, sizeof(line), "%s\n", n->url);
	CHECK_EQ(write(n->ctl, line, strlen(line)), (ssize_t)strlen(line));
	rt_node_ex(&n->cli, n->r, n->url,
		   actr_workload_new("acme", "caller", "1.0.0"), NULL, IP_A,
		   10000);
	rt_wait_ready(n->r, &n->cli, NULL, 10000);
}

/* Stop the callee (its stats into *st), the relay and everything here. */
static void net2_down(struct net2 *n, actr_peer_stats_t *st)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(10000));
	size_t got = 0;
	int ws = 0;

	memset(st, 0, sizeof(*st));
	shutdown(n->ctl, SHUT_WR);
	while (got < sizeof(*st) && actr_time_ns() < end) {
		struct pollfd pf = { n->ctl, POLLIN, 0 };
		ssize_t k;

		actr_reactor_run_once(n->r, 10);
		if (poll(&pf, 1, 0) != 1)
			continue;
		k = read(n->ctl, (char *)st + got, sizeof(*st) - got);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	ws = rt_stop_child(n->r, n->callee, 0);
	close(n->ctl);
	impair_stop(&n->im);
	rt_node_free(&n->cli);
	actr__sig_listener_free(n->l);
	rt_drain(n->r);
	actr_reactor_free(n->r);
	CHECK_EQ(got, sizeof(*st));
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

struct res {
	int done;		/* callbacks */
	int status;		/* last status */
	char message[192];	/* last error message */
	char reply[64];		/* last reply */
	uint64_t t_done;	/* reactor time of the callback */
	actr_reactor_t *r;
};

static void on_res(const actr_result_t *rr, void *arg)
{
	struct res *x = arg;

	x->done++;
	x->status = rr->status;
	x->t_done = actr_reactor_now(x->r);
	snprintf(x->message, sizeof(x->message), "%s",
		 rr->message ? rr->message : "");
	snprintf(x->reply, sizeof(x->reply), "%.*s",
		 (int)ACTR_MIN(rr->len, sizeof(x->reply) - 1),
		 rr->data ? (const char *)rr->data : "");
}

static void ping(struct net2 *n, const char *text, uint32_t timeout_ms,
		 struct res *x)
{
	memset(x, 0, sizeof(*x));
	x->r = n->r;
	CHECK_OK(actr_peer_call_raw(n->cli.peer, &pong_type, "test.Ping", text,
				    strlen(text), timeout_ms, on_res, x));
}

/* Call until the callee answers (NotFound while it registers). */
static void ping_until_ok(struct net2 *n, int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));
	struct res x;

	for (;;) {
		ping(n, "hello", (uint32_t)actr_test_scale(5000), &x);
		rt_run(n->r, &x.done, 1, 10000);
		CHECK_EQ(x.done, 1);
		if (x.status == 0)
			break;
		CHECK(actr_time_ns() < end);
		for (int i = 0; i < 10; i++)
			actr_reactor_run_once(n->r, 10);
	}
	CHECK_STR(x.reply, "hello");
}

static void run_ms(actr_reactor_t *r, int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(ms);

	while (actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
}

static void print_stats(const char *who, const actr_peer_stats_t *st)
{
	fprintf(stderr, "%s: conns created %llu open %llu failed %llu, paths "
		"lost %llu, ICE restarts %llu ok %llu failed %llu\n", who,
		(unsigned long long)st->conns_created,
		(unsigned long long)st->conns_open,
		(unsigned long long)st->conns_failed,
		(unsigned long long)st->paths_lost,
		(unsigned long long)st->ice_restarts,
		(unsigned long long)st->ice_restarts_ok,
		(unsigned long long)st->ice_restart_failures);
}

/* 10% loss and 20 ms each way: 200 calls all succeed on one connection
 * that is never declared dead. */
TEST_TIMEOUT(resil_loss_200_calls, 240)
{
	struct impair_opts o = { .delay_ms = 20, .udp_only = true,
				 .seed = 13 };
	struct impair_stats is;
	actr_peer_stats_t st, cst;
	struct net2 n;
	struct res x;
	int failed = 0;
	char text[32];

	net2_up(&n, &o);
	ping_until_ok(&n, 20000);
	o.loss = 0.10;
	CHECK_OK(impair_set(&n.im, &o));
	for (int i = 0; i < 200; i++) {
		snprintf(text, sizeof(text), "call %d", i);
		ping(&n, text, 30000, &x);
		rt_run(n.r, &x.done, 1, 40000);
		CHECK_EQ(x.done, 1);
		if (x.status != 0) {
			failed++;
			fprintf(stderr, "call %d failed: %d %s\n", i, x.status,
				x.message);
		} else {
			CHECK_STR(x.reply, text);
		}
	}
	CHECK_OK(impair_get_stats(&n.im, &is));
	actr_peer_get_stats(n.cli.peer, &st);
	print_stats("caller", &st);
	fprintf(stderr, "relay: forwarded %llu/%llu, lost %llu/%llu\n",
		(unsigned long long)is.forwarded[0],
		(unsigned long long)is.forwarded[1],
		(unsigned long long)is.lost[0], (unsigned long long)is.lost[1]);
	/* the relay really dropped packets both ways */
	CHECK(is.lost[0] > 0 && is.lost[1] > 0);
	CHECK_EQ(failed, 0);
	CHECK_EQ(st.conns_created, 1);
	CHECK_EQ(st.conns_open, 1);
	CHECK_EQ(st.conns_failed, 0);
	CHECK_EQ(st.ice_restart_failures, 0);
	CHECK_EQ(actr_peer_conn_count(n.cli.peer), 1);
	net2_down(&n, &cst);
	print_stats("callee", &cst);
	CHECK_EQ(cst.conns_created, 1);
	CHECK_EQ(cst.conns_failed, 0);
}

/* The link is cut for 15 s and restored. */
TEST_TIMEOUT(resil_link_cut_15s, 120)
{
	struct impair_opts o = { .udp_only = true, .seed = 7 };
	actr_peer_stats_t st, cst;
	struct res during[3], after, brief;
	struct net2 n;
	uint64_t t_restore, t_brief;
	char text[32];

	net2_up(&n, &o);
	ping_until_ok(&n, 20000);

	o.cut = true;
	CHECK_OK(impair_set(&n.im, &o));
	/* a call whose deadline (3 s) passes during the cut fails by it */
	t_brief = actr_reactor_now(n.r);
	ping(&n, "brief", 3000, &brief);
	/* calls made during the cut, with deadlines beyond it: one at once,
	 * one before and one after the consent expiry (~10 s) */
	for (int i = 0; i < 3; i++) {
		run_ms(n.r, i == 0 ? 100 : i == 1 ? 4000 : 7000);
		snprintf(text, sizeof(text), "during %d", i);
		ping(&n, text, 60000, &during[i]);
	}
	run_ms(n.r, 15000 - 11100);
	actr_peer_get_stats(n.cli.peer, &st);
	print_stats("caller, end of the cut", &st);
	CHECK_EQ(brief.done, 1);
	CHECK_EQ(brief.status, -ACTR_ETIMEDOUT);
	fprintf(stderr, "brief call: %d %s after %.3f s\n", brief.status,
		brief.message, (double)(brief.t_done - t_brief) / 1e9);
	/* by its deadline (the call timers may be coalesced by a few ms),
	 * not by the connection */
	CHECK(brief.t_done - t_brief >= ACTR_MS(2900));
	/* the connection was not given up during the cut */
	CHECK_EQ(actr_peer_conn_count(n.cli.peer), 1);
	CHECK_EQ(st.conns_failed, 0);

	o.cut = false;
	CHECK_OK(impair_set(&n.im, &o));
	t_restore = actr_reactor_now(n.r);
	actr_logi("test", "link restored");
	ping(&n, "after", 30000, &after);
	rt_run(n.r, &after.done, 1, 35000);
	CHECK_EQ(after.done, 1);
	CHECK_EQ(after.status, 0);
	CHECK_STR(after.reply, "after");
	fprintf(stderr, "first call after the restore succeeded %.0f ms "
		"after it\n", (double)(after.t_done - t_restore) / 1e6);
	for (int i = 0; i < 3; i++) {
		rt_run(n.r, &during[i].done, 1, 65000);
		CHECK_EQ(during[i].done, 1);
		snprintf(text, sizeof(text), "during %d", i);
		if (during[i].status != 0)
			fprintf(stderr, "call %d: %d %s\n", i,
				during[i].status, during[i].message);
		/* their deadlines (60 s) did not pass: they completed */
		CHECK_EQ(during[i].status, 0);
		CHECK_STR(during[i].reply, text);
	}
	actr_peer_get_stats(n.cli.peer, &st);
	print_stats("caller", &st);
	/* the same connection (no new one, hence no new DTLS handshake or
	 * SCTP association), found again by an ICE restart */
	CHECK_EQ(st.conns_created, 1);
	CHECK_EQ(st.conns_open, 1);
	CHECK_EQ(st.conns_failed, 0);
	CHECK(st.paths_lost >= 1);
	CHECK(st.ice_restarts >= 1);
	CHECK(st.ice_restarts_ok >= 1);
	CHECK_EQ(st.ice_restart_failures, 0);
	net2_down(&n, &cst);
	print_stats("callee", &cst);
	CHECK_EQ(cst.conns_created, 1);
	CHECK_EQ(cst.conns_failed, 0);
	CHECK(cst.ice_restarts_ok >= 1);
}

/* The link never comes back: the caller's restart gives up after its
 * budget (4 s after the loss) and the call in flight fails with
 * Unavailable and the reason, long before its own deadline. */
TEST_TIMEOUT(resil_restart_gives_up, 90)
{
	struct impair_opts o = { .udp_only = true, .seed = 3 };
	actr_peer_stats_t st, cst;
	struct net2 n;
	struct res x;
	uint64_t t0;

	rt_recovery.restart_timeout_ms = 4000;
	net2_up(&n, &o);
	ping_until_ok(&n, 20000);
	o.cut = true;
	CHECK_OK(impair_set(&n.im, &o));
	t0 = actr_reactor_now(n.r);
	ping(&n, "lost", 120000, &x);
	rt_run(n.r, &x.done, 1, 60000);
	CHECK_EQ(x.done, 1);
	fprintf(stderr, "call failed %.1f s after the cut: %d %s\n",
		(double)(x.t_done - t0) / 1e9, x.status, x.message);
	CHECK_EQ(x.status, -ACTR_EUNAVAILABLE);
	CHECK(strstr(x.message, "ICE restarts did not reconnect"));
	/* not before consent could expire and the budget ran out */
	CHECK(x.t_done - t0 >= ACTR_SEC(4));
	actr_peer_get_stats(n.cli.peer, &st);
	print_stats("caller", &st);
	CHECK_EQ(st.ice_restart_failures, 1);
	CHECK_EQ(st.ice_restarts_ok, 0);
	CHECK(st.ice_restarts >= 2);
	CHECK_EQ(st.conns_failed, 1);
	CHECK_EQ(actr_peer_conn_count(n.cli.peer), 0);
	net2_down(&n, &cst);
	print_stats("callee", &cst);
}

/* A network change the application reports (actr_peer_restart_ice), on
 * either side: the connection restarts ICE (new ICE generation) and is
 * kept; calls keep working. In process, over 127.0.0.1. */
TEST_TIMEOUT(resil_restart_on_network_change, 30)
{
	actr_reactor_t *r = actr_reactor_new();
	actr_workload_t *w = actr_workload_new("acme", "pong", "1.0.0");
	struct actr__sig_listener *l;
	struct rnode srv, cli;
	actr_peer_stats_t s1, s2;
	struct net2 n = { 0 };
	struct res x;
	char url[64];

	CHECK(r && w);
	CHECK_OK(actr_workload_add_route(w, "test.Ping", raw_ping, 0));
	l = rt_signal(r, 0, url, sizeof(url));
	rt_node(&srv, r, url, w, NULL);
	rt_node(&cli, r, url, actr_workload_new("acme", "caller", "1.0.0"),
		NULL);
	rt_wait_ready(r, &srv, &cli, 5000);
	n.r = r;
	n.cli = cli;
	ping_until_ok(&n, 10000);
	for (int round = 0; round < 2; round++) {
		/* the caller, then the callee sees the change */
		struct rnode *who = round == 0 ? &cli : &srv;
		uint64_t ok_before, end;

		actr_peer_get_stats(cli.peer, &s1);
		actr_peer_get_stats(srv.peer, &s2);
		ok_before = s1.ice_restarts_ok + s2.ice_restarts_ok;
		CHECK_EQ(actr_peer_restart_ice(who->peer), 1);
		end = actr_time_ns() + ACTR_MS(actr_test_scale(10000));
		while (actr_time_ns() < end) {
			actr_reactor_run_once(r, 10);
			actr_peer_get_stats(cli.peer, &s1);
			actr_peer_get_stats(srv.peer, &s2);
			if (s1.ice_restarts_ok + s2.ice_restarts_ok > ok_before)
				break;
		}
		/* the offerer restarted and found the path again */
		CHECK(s1.ice_restarts_ok + s2.ice_restarts_ok > ok_before);
		ping(&n, "still here", 5000, &x);
		rt_run(r, &x.done, 1, 10000);
		CHECK_EQ(x.done, 1);
		CHECK_EQ(x.status, 0);
		CHECK_STR(x.reply, "still here");
	}
	print_stats("caller", &s1);
	print_stats("callee", &s2);
	/* one connection each, never replaced or failed */
	CHECK_EQ(s1.conns_created, 1);
	CHECK_EQ(s2.conns_created, 1);
	CHECK_EQ(s1.conns_failed + s2.conns_failed, 0);
	CHECK_EQ(s1.ice_restart_failures + s2.ice_restart_failures, 0);
	CHECK(s1.ice_restarts + s2.ice_restarts >= 2);
	rt_node_free(&cli);
	rt_node_free(&srv);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}

/* watch_network: a new interface with an address appears in the nodes'
 * namespace; both gates hear it (netlink) and the connection restarts ICE
 * by itself and is kept. */
TEST_TIMEOUT(resil_network_change_watched, 30)
{
	actr_reactor_t *r;
	actr_workload_t *w;
	struct actr__sig_listener *l;
	struct rnode srv, cli;
	actr_peer_stats_t s1, s2;
	struct net2 n = { 0 };
	struct res x;
	uint64_t end;
	char url[64];
	int fd;

	/* a private namespace: the new device is ours alone */
	CHECK_OK(unshare(CLONE_NEWNET));
	fd = impair_tun("imp8", "10.78.0.1", 24); /* brings lo up too */
	CHECK(fd >= 0);
	r = actr_reactor_new();
	w = actr_workload_new("acme", "pong", "1.0.0");
	CHECK(r && w);
	CHECK_OK(actr_workload_add_route(w, "test.Ping", raw_ping, 0));
	l = rt_signal(r, 0, url, sizeof(url));
	rt_recovery.watch_network = true;
	rt_node(&srv, r, url, w, NULL);
	rt_node(&cli, r, url, actr_workload_new("acme", "caller", "1.0.0"),
		NULL);
	rt_wait_ready(r, &srv, &cli, 5000);
	n.r = r;
	n.cli = cli;
	ping_until_ok(&n, 10000);
	actr_peer_get_stats(cli.peer, &s1);
	actr_peer_get_stats(srv.peer, &s2);
	CHECK_EQ(s1.ice_restarts_ok + s2.ice_restarts_ok, 0);

	/* the network changes */
	close(impair_tun("imp9", "10.79.0.1", 24));
	end = actr_time_ns() + ACTR_MS(actr_test_scale(10000));
	while (actr_time_ns() < end) {
		actr_reactor_run_once(r, 10);
		actr_peer_get_stats(cli.peer, &s1);
		actr_peer_get_stats(srv.peer, &s2);
		if (s1.ice_restarts_ok + s2.ice_restarts_ok > 0)
			break;
	}
	print_stats("caller", &s1);
	print_stats("callee", &s2);
	CHECK(s1.network_changes > 0 && s2.network_changes > 0);
	CHECK(s1.ice_restarts_ok + s2.ice_restarts_ok > 0);
	ping(&n, "after", 5000, &x);
	rt_run(r, &x.done, 1, 10000);
	CHECK_EQ(x.done, 1);
	CHECK_EQ(x.status, 0);
	CHECK_EQ(s1.conns_created, 1);
	CHECK_EQ(s2.conns_created, 1);
	CHECK_EQ(s1.conns_failed + s2.conns_failed, 0);
	rt_node_free(&cli);
	rt_node_free(&srv);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
	close(fd);
}
