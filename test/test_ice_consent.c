/*
 * Consent freshness (RFC 7675) end to end: two processes connect a peer
 * connection over 127.0.0.1, exchange messages, then one is stopped
 * (SIGSTOP: its sockets stay open but nothing answers). The survivor must
 * report the loss upward (FAILED, -ACTR_ETIMEDOUT) within a bounded time, not
 * crash or hang, and refuse further sends with -ACTR_ECLOSED. A short
 * pause (shorter than the consent expiry) must not break the connection.
 *
 * A partition with both ends alive (a frozen TURN relay on the path):
 * both ends report it.
 *
 * The same through the peer gate: a call in flight when the callee
 * freezes (or its gate goes away) fails with the reason instead of
 * waiting for its deadline, and the next call after the callee restarts
 * connects again.
 *
 * libnice 0.1.21 checks consent every 4-6 s and expires it 10 s after the
 * last answer (fixed in libnice, see ice/ice.c), so loss is seen 4-10 s
 * after the peer stops. The pc tests here run without keep_on_path_loss
 * (the loss is final); the peer gate keeps the connection and restarts
 * ICE first (test_resilience.c), so its call fails only after the
 * restart budget.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/peer.h>
#include <actr/runtime.h>

#include "core/internal.h"
#include "server/signal_internal.h"
#include "wire/pc.h"
#include "test.h"
#include "test_pc_util.h"
#include "test_remote_util.h"

struct end {
	actr__pc_t *pc;
	char *sdp_out;		/* our description, not yet sent */
	int state;		/* last reported */
	int err;		/* its reason */
	int nstates[8];		/* reports per state */
	uint64_t t_state;	/* when the last report came */
	bool echo;		/* send every message back */
	int nmsgs;		/* messages received (not echoed) */
	char last[64];		/* the last one, as text */
};

static void e_description(void *arg, bool offer, const char *sdp)
{
	struct end *e = arg;

	CHECK(!e->sdp_out);
	e->sdp_out = strdup(sdp);
}

static void e_state(void *arg, int state, int err)
{
	struct end *e = arg;

	e->state = state;
	e->err = err;
	e->nstates[state]++;
	e->t_state = actr_time_ns();
}

static void e_message(void *arg, int lane, actr_buf_t *msg)
{
	struct end *e = arg;

	if (e->echo) {
		int rc = actr__pc_send(e->pc, lane, msg->data, msg->len);

		CHECK(rc == 0 || rc == -ENOBUFS);
	} else {
		e->nmsgs++;
		snprintf(e->last, sizeof(e->last), "%.*s",
			 (int)ACTR_MIN(msg->len, sizeof(e->last) - 1),
			 (const char *)msg->data);
	}
	actr_buf_unref(msg);
}

static const struct actr__pc_cbs ecbs = {
	e_description, NULL, e_state, e_message, NULL,
};

static bool ended(const struct end *e)
{
	return e->state == ACTR__PC_FAILED || e->state == ACTR__PC_CLOSED;
}

static void cfg_init(struct actr__pc_config *c)
{
	memset(c, 0, sizeof(*c));
	c->ice.local_addrs[0] = "127.0.0.1";
	c->handshake_timeout_ms = (unsigned)actr_test_scale(5000);
}

/* The answerer: echoes every message until its connection ends or the
 * parent goes away. Exits 0 when the connection was lost to consent
 * expiry (FAILED, -ACTR_ETIMEDOUT), 4 otherwise. */
static void echo_process(pid_t parent, const struct actr__pc_config *c,
			 int rfd, int wfd)
{
	actr_reactor_t *r;
	struct end b = { 0 };
	char *offer;
	uint64_t end;

	/* Never outlive the test, even stopped. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(5);
	r = actr_reactor_new();
	offer = test_pipe_get(rfd);
	b.echo = true;
	b.pc = r ? actr__pc_new(r, false, NULL, c, &ecbs, &b) : NULL;
	if (!offer || !b.pc)
		_exit(2);
	if (actr__pc_set_remote(b.pc, offer, strlen(offer)) < 0)
		_exit(3);
	free(offer);
	end = actr_time_ns() + ACTR_MS(actr_test_scale(60000));
	while (!ended(&b) && actr_time_ns() < end) {
		actr_reactor_run_once(r, 50);
		if (b.sdp_out) {
			test_pipe_put(wfd, b.sdp_out);
			free(b.sdp_out);
			b.sdp_out = NULL;
		}
	}
	_exit(b.state == ACTR__PC_FAILED && b.err == -ACTR_ETIMEDOUT ? 0 : 4);
}

/* Fork the echoing answerer (configuration c) and connect a->pc to it
 * (non-trickle: one description each way, over a pipe pair). Returns the
 * child's pid; a is CONNECTED. */
static pid_t connect_child(actr_reactor_t *r,
			   const struct actr__pc_config *c, struct end *a)
{
	int to_child[2], from_child[2];
	pid_t pid, self = getpid();
	uint64_t end;
	char *answer;

	CHECK_OK(pipe(to_child));
	CHECK_OK(pipe(from_child));
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(to_child[1]);
		close(from_child[0]);
		echo_process(self, c, to_child[0], from_child[1]);
	}
	close(to_child[0]);
	close(from_child[1]);
	a->pc = actr__pc_new(r, true, NULL, c, &ecbs, a);
	CHECK(a->pc);
	CHECK_OK(actr__pc_start(a->pc));
	end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
	while (!a->sdp_out && actr_time_ns() < end)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK(a->sdp_out);
	test_pipe_put(to_child[1], a->sdp_out);
	free(a->sdp_out);
	a->sdp_out = NULL;
	answer = test_pipe_get(from_child[0]);
	CHECK(answer);
	CHECK_OK(actr__pc_set_remote(a->pc, answer, strlen(answer)));
	free(answer);
	close(to_child[1]);
	close(from_child[0]);
	end = actr_time_ns() + ACTR_MS(actr_test_scale(8000));
	while (a->state != ACTR__PC_CONNECTED && !ended(a) &&
	       actr_time_ns() < end)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK_EQ(a->state, ACTR__PC_CONNECTED);
	return pid;
}

/* Reap the child (bounded; SIGKILL after ms, scaled) and return its wait
 * status. */
static int reap_child(pid_t pid, int ms)
{
	int st = 0;

	for (int i = 0, n = actr_test_scale(ms) / 10; i < n; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	kill(pid, SIGCONT);
	waitpid(pid, &st, 0);
	return st;
}

/* Run r for ms (wall clock, not scaled: it races libnice's fixed consent
 * timer) or until *e ended. */
static void run_for(actr_reactor_t *r, struct end *e, int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(ms);

	while (!ended(e) && actr_time_ns() < end)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
}

/* Send text on lane 0 and wait (bounded) for its echo. */
static void echo_round(actr_reactor_t *r, struct end *a, const char *text)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
	int before = a->nmsgs;

	CHECK_OK(actr__pc_send(a->pc, ACTR__LANE_RPC_RELIABLE, text,
			       strlen(text)));
	while (a->nmsgs == before && !ended(a) && actr_time_ns() < end)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK_EQ(a->nmsgs, before + 1);
	CHECK_STR(a->last, text);
}

/* Stop or continue the child and see it happen (bounded). */
static void signal_child(pid_t pid, int sig)
{
	int st = 0;

	CHECK_OK(kill(pid, sig));
	for (int i = 0; i < 500; i++) {
		pid_t w = waitpid(pid, &st, WNOHANG | WUNTRACED | WCONTINUED);

		CHECK(w >= 0);
		if (w == pid &&
		    ((sig == SIGSTOP && WIFSTOPPED(st)) ||
		     (sig == SIGCONT && WIFCONTINUED(st))))
			return;
		usleep(2000);
	}
	CHECK(!"child did not change state");
}

TEST_TIMEOUT(ice_consent_loss_reported, 60)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__pc_config c;
	struct end a = { 0 };
	uint64_t t_stop, end, next_send;
	unsigned sent = 0, accepted = 0;
	pid_t pid;
	int st, rc;

	CHECK(r);
	cfg_init(&c);
	pid = connect_child(r, &c, &a);
	echo_round(r, &a, "hello");

	/* a pause shorter than the consent expiry: nothing is lost, the
	 * message sent meanwhile arrives once the peer runs again */
	signal_child(pid, SIGSTOP);
	CHECK_OK(actr__pc_send(a.pc, ACTR__LANE_RPC_RELIABLE, "paused", 6));
	run_for(r, &a, 1000);
	CHECK_EQ(a.state, ACTR__PC_CONNECTED);
	CHECK_EQ(a.nmsgs, 1);
	signal_child(pid, SIGCONT);
	end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
	while (a.nmsgs < 2 && !ended(&a) && actr_time_ns() < end)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK_EQ(a.nmsgs, 2);
	CHECK_STR(a.last, "paused");
	echo_round(r, &a, "again");

	/* the peer goes silent for good; we keep sending meanwhile */
	signal_child(pid, SIGSTOP);
	t_stop = actr_time_ns();
	next_send = t_stop;
	end = t_stop + ACTR_MS(actr_test_scale(30000));
	while (!ended(&a) && actr_time_ns() < end) {
		CHECK(actr_reactor_run_once(r, 20) >= 0);
		if (!ended(&a) && actr_time_ns() >= next_send) {
			rc = actr__pc_send(a.pc, ACTR__LANE_RPC_RELIABLE,
					   "into the void", 13);
			CHECK(rc == 0 || rc == -ENOBUFS);
			sent++;
			next_send += ACTR_MS(500);
		}
	}
	/* reported once, as a lost connection, after the peer stopped
	 * answering (not at once) and within the bound */
	CHECK_EQ(a.state, ACTR__PC_FAILED);
	CHECK_EQ(a.err, -ACTR_ETIMEDOUT);
	CHECK_EQ(a.nstates[ACTR__PC_FAILED], 1);
	CHECK(a.t_state - t_stop >= ACTR_SEC(2));
	CHECK(sent >= 4);
	CHECK_EQ(actr__ice_state(actr__pc_ice(a.pc)), ACTR__ICE_FAILED);
	fprintf(stderr, "consent loss reported %.1f s after SIGSTOP (%u "
		"sends meanwhile)\n", (double)(a.t_state - t_stop) / 1e9, sent);

	/* sending now fails cleanly; nothing else is reported */
	CHECK_EQ(actr__pc_send(a.pc, ACTR__LANE_RPC_RELIABLE, "x", 1),
		 -ACTR_ECLOSED);
	CHECK_EQ(actr__pc_send(a.pc, ACTR__LANE_STREAM_LATENCY_FIRST, "x", 1),
		 -ACTR_ECLOSED);
	end = actr_time_ns() + ACTR_MS(actr_test_scale(500));
	while (actr_time_ns() < end)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK_EQ(a.state, ACTR__PC_FAILED);
	CHECK_EQ(a.nstates[ACTR__PC_FAILED] + a.nstates[ACTR__PC_CLOSED], 1);
	for (int i = 0; i < 3; i++)
		if (actr__pc_send(a.pc, i, "x", 1) != -ACTR_ECLOSED)
			accepted++;
	CHECK_EQ(accepted, 0);

	/* the stopped peer: killed and reaped (bounded) */
	kill(pid, SIGKILL);
	kill(pid, SIGCONT);
	st = reap_child(pid, 5000);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	actr__pc_free(a.pc);
	actr_reactor_drain(r, 100);
	actr_reactor_free(r);
}

/* A network partition with both ends alive: the path runs through a TURN
 * relay (coturn, relay-only on both sides), which is frozen. Both ends
 * must see consent expire: we report FAILED, and the child exits 0 only
 * after it saw FAILED with -ACTR_ETIMEDOUT too. */
TEST_TIMEOUT(ice_consent_relay_partition, 60)
{
	actr_reactor_t *r = actr_reactor_new();
	struct test_turn turn;
	struct actr__pc_config c;
	struct end a = { 0 };
	uint64_t t_stop, end;
	pid_t pid;
	int st;

	CHECK(r);
	CHECK_OK(test_turn_start(&turn));
	cfg_init(&c);
	c.ice.turn_ip = "127.0.0.1";
	c.ice.turn_port = turn.port;
	c.ice.turn_user = turn.user;
	c.ice.turn_pass = turn.pass;
	c.ice.relay_only = true;
	pid = connect_child(r, &c, &a);
	CHECK_STR(actr__ice_selected_local_type(actr__pc_ice(a.pc)), "relay");
	echo_round(r, &a, "via relay");

	/* the relay stops forwarding (its sockets stay open) */
	CHECK_OK(kill(turn.pid, SIGSTOP));
	t_stop = actr_time_ns();
	end = t_stop + ACTR_MS(actr_test_scale(30000));
	while (!ended(&a) && actr_time_ns() < end)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK_EQ(a.state, ACTR__PC_FAILED);
	CHECK_EQ(a.err, -ACTR_ETIMEDOUT);
	CHECK(a.t_state - t_stop >= ACTR_SEC(2));
	CHECK_EQ(actr__pc_send(a.pc, ACTR__LANE_RPC_RELIABLE, "x", 1),
		 -ACTR_ECLOSED);
	fprintf(stderr, "partition reported %.1f s after the relay froze\n",
		(double)(a.t_state - t_stop) / 1e9);

	/* the other end saw it too (its checks share the frozen relay) */
	st = reap_child(pid, 15000);
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);

	CHECK_OK(kill(turn.pid, SIGCONT));
	test_turn_stop(&turn);
	actr__pc_free(a.pc);
	actr_reactor_drain(r, 100);
	actr_reactor_free(r);
}

/* ---- the peer gate over a lost connection ------------------------------ */

/* The echo server (a child process) stops answering mid-session: consent
 * expires, the ICE restarts that follow cannot reconnect (the server is
 * frozen), and after their budget (3 s here) a call already sent on the
 * connection fails with Unavailable and the reason, long before its own
 * deadline; the server dies and comes back; the next call connects again
 * and succeeds. */
TEST_TIMEOUT(ice_consent_peer_call_fails_then_reconnects, 90)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode cli;
	struct rt_echo_res x = { 0 };
	actr_peer_stats_t st;
	uint64_t t_stop, took;
	char url[64];
	pid_t pid;
	int ws;

	CHECK(r);
	l = rt_signal(r, 0, url, sizeof(url));
	rt_recovery.restart_timeout_ms = 3000;
	rt_node(&cli, r, url, actr_workload_new("acme", "client", "1.0.0"),
		NULL);
	rt_wait_ready(r, &cli, NULL, 5000);
	pid = rt_spawn_echo_server(url, NULL, NULL);
	rt_echo_call_until_ok(r, &cli, "first", 15000);
	actr_peer_get_stats(cli.peer, &st);
	CHECK_EQ(st.conns_open, 1);
	CHECK_EQ(actr_peer_conn_count(cli.peer), 1);

	/* the server freezes; a call goes out on the open connection with
	 * a deadline far beyond the consent expiry */
	signal_child(pid, SIGSTOP);
	t_stop = actr_time_ns();
	rt_echo_call(&cli, "frozen", (uint32_t)actr_test_scale(60000), &x);
	rt_run(r, &x.done, 1, 40000);
	took = actr_time_ns() - t_stop;
	CHECK_EQ(x.done, 1);
	fprintf(stderr, "pending call failed after %.1f s: %d %s\n",
		(double)took / 1e9, x.status, x.message);
	/* failed by the connection's loss (Unavailable, the reason), not
	 * by its own deadline (that would be -ACTR_ETIMEDOUT): asserted on
	 * the outcome and counters, not on the wall clock */
	CHECK_EQ(x.status, -ACTR_EUNAVAILABLE);
	CHECK(strstr(x.message, "consent expired"));
	CHECK_EQ(actr_peer_conn_count(cli.peer), 0);
	actr_peer_get_stats(cli.peer, &st);
	CHECK(st.conns_failed >= 1);
	/* the loss was seen and restarts tried before giving up */
	CHECK_EQ(st.paths_lost, 1);
	CHECK_EQ(st.ice_restart_failures, 1);
	CHECK_EQ(st.ice_restarts_ok, 0);

	/* the frozen server is killed; a new one takes its place and the
	 * next call finds it and connects again */
	kill(pid, SIGCONT);
	ws = rt_stop_child(r, pid, SIGKILL);
	CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
	pid = rt_spawn_echo_server(url, NULL, NULL);
	rt_echo_call_until_ok(r, &cli, "back", 15000);
	actr_peer_get_stats(cli.peer, &st);
	CHECK_EQ(st.conns_open, 2);
	ws = rt_stop_child(r, pid, SIGTERM);
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		rt_dump_server_log();
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);

	rt_node_free(&cli);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}

static actr_ctx_t *held_ctx;	/* the request test.Hold keeps */

static int raw_hold(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	held_ctx = actr_ctx_keep(ctx);
	return 0;
}

static int raw_pong(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	return actr_reply_raw(ctx, "pong", 4);
}

static actr_workload_t *hold_workload(void)
{
	actr_workload_t *w = actr_workload_new("acme", "hold", "1.0.0");

	CHECK(w);
	CHECK_OK(actr_workload_add_route(w, "test.Hold", raw_hold, 0));
	CHECK_OK(actr_workload_add_route(w, "test.Ping", raw_pong, 0));
	return w;
}

static void on_raw(const actr_result_t *r, void *arg)
{
	struct rt_echo_res *x = arg;

	x->done++;
	x->status = r->status;
	snprintf(x->message, sizeof(x->message), "%s",
		 r->message ? r->message : "");
	snprintf(x->reply, sizeof(x->reply), "%.*s",
		 (int)ACTR_MIN(r->len, sizeof(x->reply) - 1),
		 r->data ? (const char *)r->data : "");
}

/* The callee's peer gate goes away (its connections abort) while our
 * call is in its handler: the call fails at once with Unavailable, not at
 * its deadline; a new callee of the same type is then called through a
 * new connection. */
TEST_TIMEOUT(ice_consent_peer_abort_fails_call_in_flight, 30)
{
	static Actr__ActrType hold_type = {
		PROTOBUF_C_MESSAGE_INIT(&actr__actr_type__descriptor), "acme",
		"hold", "1.0.0"
	};
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode srv, cli;
	struct rt_echo_res x = { 0 }, y = { 0 };
	actr_peer_stats_t st;
	char url[64];

	CHECK(r);
	l = rt_signal(r, 0, url, sizeof(url));
	rt_node(&srv, r, url, hold_workload(), NULL);
	rt_node(&cli, r, url, actr_workload_new("acme", "client", "1.0.0"),
		NULL);
	rt_wait_ready(r, &srv, &cli, 5000);
	held_ctx = NULL;
	CHECK_OK(actr_peer_call_raw(cli.peer, &hold_type, "test.Hold", "x", 1,
				    (uint32_t)actr_test_scale(20000), on_raw,
				    &x));
	for (int i = 0; i < actr_test_scale(500) && !held_ctx; i++)
		actr_reactor_run_once(r, 10);
	CHECK(held_ctx);
	CHECK_EQ(x.done, 0);

	/* Unavailable with the reason, not TimedOut: it failed on the lost
	 * connection, not at its 20 s deadline */
	actr_peer_free(srv.peer);
	srv.peer = NULL;
	rt_run(r, &x.done, 1, 10000);
	CHECK_EQ(x.done, 1);
	CHECK_EQ(x.status, -ACTR_EUNAVAILABLE);
	CHECK(strstr(x.message, "connection"));
	CHECK_EQ(actr_peer_conn_count(cli.peer), 0);
	/* the callee's handler answers after its gate is gone: the reply
	 * goes into a closed lane, cleanly refused */
	CHECK_EQ(actr_reply_raw(held_ctx, "late", 4), -ACTR_ECLOSED);
	held_ctx = NULL;

	/* a new callee of that type: found, connected, answers */
	rt_node_free(&srv);
	rt_node(&srv, r, url, hold_workload(), NULL);
	rt_wait_ready(r, &srv, NULL, 5000);
	for (int i = 0; i < 50; i++) {
		memset(&y, 0, sizeof(y));
		CHECK_OK(actr_peer_call_raw(cli.peer, &hold_type, "test.Ping",
					    "p", 1,
					    (uint32_t)actr_test_scale(3000),
					    on_raw, &y));
		rt_run(r, &y.done, 1, 5000);
		CHECK_EQ(y.done, 1);
		if (y.status == 0)
			break;
		for (int k = 0; k < 10; k++)
			actr_reactor_run_once(r, 10);
	}
	CHECK_EQ(y.status, 0);
	CHECK_STR(y.reply, "pong");
	actr_peer_get_stats(cli.peer, &st);
	CHECK_EQ(st.conns_open, 2);

	rt_node_free(&cli);
	rt_node_free(&srv);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}
