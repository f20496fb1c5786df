/*
 * Remote calls across processes: this process runs actr-signal (in
 * process) and a client node; the echo service is the example program
 * build/examples/echo_actor/server in a child process. The child is
 * killed and restarted (calls fail cleanly, then work again), and with a
 * durable mailbox a request whose handler crashed the process is handled
 * again by the restarted process, whose reply completes the original call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/peer.h>
#include <actr/runtime.h>

#include "examples/echo_actor/echo.pb-c.h"
#include "server/signal_internal.h"
#include "test.h"
#include "test_remote_util.h"

TEST_TIMEOUT(remote_proc_echo_kill_restart, 60)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode cli;
	struct rt_echo_res x = { 0 };
	actr_peer_stats_t st;
	char url[64];
	pid_t pid;
	int ws;

	CHECK(r);
	l = rt_signal(r, 0, url, sizeof(url));
	rt_node(&cli, r, url,
		actr_workload_new("acme", "client", "1.0.0"), NULL);
	rt_wait_ready(r, &cli, NULL, 5000);

	pid = rt_spawn_echo_server(url, NULL, NULL);
	rt_echo_call_until_ok(r, &cli, "first", 15000);
	rt_echo_call_until_ok(r, &cli, "second", 5000);
	actr_peer_get_stats(cli.peer, &st);
	CHECK_EQ(st.conns_open, 1);

	/* the server dies: the next call fails cleanly (no hang, no crash) */
	ws = rt_stop_child(r, pid, SIGKILL);
	CHECK(WIFSIGNALED(ws));
	rt_echo_call(&cli, "dead", (uint32_t)actr_test_scale(1500), &x);
	rt_run(r, &x.done, 1, 10000);
	CHECK_EQ(x.done, 1);
	CHECK(x.status == -ACTR_ETIMEDOUT || x.status == -ACTR_ENOTFOUND ||
	      x.status == -ACTR_ENOTREADY || x.status == -ACTR_EUNAVAILABLE);

	/* a new server process: found and connected again */
	pid = rt_spawn_echo_server(url, NULL, NULL);
	rt_echo_call_until_ok(r, &cli, "back", 15000);
	actr_peer_get_stats(cli.peer, &st);
	CHECK(st.conns_open >= 2);
	ws = rt_stop_child(r, pid, SIGTERM);
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		rt_dump_server_log();
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);

	rt_node_free(&cli);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}

TEST_TIMEOUT(remote_proc_mailbox_redelivery_after_crash, 60)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode cli;
	struct rt_echo_res x = { 0 };
	char url[64], mb[PATH_MAX], crash[PATH_MAX];
	uint64_t end;
	pid_t pid;
	int ws = 0, fails = 0;
	pid_t reaped = 0;

	CHECK(r);
	snprintf(mb, sizeof(mb), "%s/echo-mailbox.db", actr_test_tmpdir());
	snprintf(crash, sizeof(crash), "%s/crashed", actr_test_tmpdir());
	unlink(crash);
	l = rt_signal(r, 0, url, sizeof(url));
	rt_node(&cli, r, url,
		actr_workload_new("acme", "client", "1.0.0"), NULL);
	rt_wait_ready(r, &cli, NULL, 5000);
	pid = rt_spawn_echo_server(url, mb, crash);

	/* call until the request reaches the server, whose handler then
	 * kills the process after the request was stored */
	end = actr_time_ns() + ACTR_MS(actr_test_scale(15000));
	for (;;) {
		memset(&x, 0, sizeof(x));
		rt_echo_call(&cli, "survive", (uint32_t)actr_test_scale(20000),
			     &x);
		while (!x.done && !(reaped = waitpid(pid, &ws, WNOHANG)) &&
		       actr_time_ns() < end)
			actr_reactor_run_once(r, 10);
		if (!x.done)
			break;	/* the server exited, our call pending */
		CHECK_EQ(x.status, -ACTR_ENOTFOUND);	/* not registered */
		CHECK(++fails < 200 && actr_time_ns() < end);
		for (int i = 0; i < 10; i++)
			actr_reactor_run_once(r, 10);
	}
	if (reaped != pid)
		reaped = waitpid(pid, &ws, 0);
	CHECK_EQ(reaped, pid);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 3);	/* the crash */
	CHECK(access(crash, F_OK) == 0);

	/* restarted on the same mailbox: the stored request is handled
	 * again and its reply reaches the still pending call */
	pid = rt_spawn_echo_server(url, mb, crash);
	rt_run(r, &x.done, 1, 25000);
	CHECK_EQ(x.done, 1);
	CHECK_EQ(x.status, 0);
	CHECK_STR(x.reply, "Echo: survive");
	/* and it serves new calls */
	rt_echo_call_until_ok(r, &cli, "after", 5000);
	ws = rt_stop_child(r, pid, SIGTERM);
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		rt_dump_server_log();
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);

	rt_node_free(&cli);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}
