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
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/node.h>
#include <actr/runtime.h>

#include "proto/echo.pb-c.h"
#include "server/signal_internal.h"
#include "test.h"
#include "test_remote_util.h"

static Actr__ActrType echo_type = {
	PROTOBUF_C_MESSAGE_INIT(&actr__actr_type__descriptor), "acme",
	"echo", "1.0.0"
};

/* examples/echo_actor/server of the build directory of this runner. */
static void server_path(char *out, size_t cap)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	CHECK(n > 0);
	exe[n] = '\0';
	snprintf(out, cap, "%s/../examples/echo_actor/server",
		 dirname(exe));
	CHECK(access(out, X_OK) == 0);
}

static pid_t spawn_server(const char *url, const char *mailbox,
			  const char *crash)
{
	char path[PATH_MAX + 64], logf[PATH_MAX];
	pid_t pid;

	server_path(path, sizeof(path));
	snprintf(logf, sizeof(logf), "%s/server.log", actr_test_tmpdir());
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0600);
		const char *argv[16];
		int i = 0;

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		argv[i++] = path;
		argv[i++] = "--signal";
		argv[i++] = url;
		argv[i++] = "--secret";
		argv[i++] = "pw";
		if (mailbox) {
			argv[i++] = "--mailbox";
			argv[i++] = mailbox;
			argv[i++] = "--sync";
			argv[i++] = "normal";
		}
		if (crash) {
			argv[i++] = "--crash-once";
			argv[i++] = crash;
		}
		argv[i] = NULL;
		execv(path, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* The children's log, on stderr (when a check about them fails). */
static void dump_log(void)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "tail -n 40 %s/server.log >&2",
		 actr_test_tmpdir());
	if (system(cmd) != 0)
		fprintf(stderr, "(no server log)\n");
}

/* SIGTERM (or SIGKILL), reap, bounded; r keeps running meanwhile (the
 * child's WebSocket close needs our signaling server). Returns the wait
 * status. */
static int stop_child(actr_reactor_t *r, pid_t pid, int sig)
{
	int st = 0;

	kill(pid, sig);
	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		actr_reactor_run_once(r, 10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return st;
}

struct res {
	int done;		/* callbacks */
	int status;		/* last status */
	char reply[64];		/* last reply text */
};

static void on_res(const actr_result_t *r, void *arg)
{
	struct res *x = arg;

	x->done++;
	x->status = r->status;
	x->reply[0] = '\0';
	if (r->status == 0 && r->msg)
		snprintf(x->reply, sizeof(x->reply), "%s",
			 ((const Echo__EchoResponse *)r->msg)->reply);
}

static void call(struct rnode *c, const char *text, uint32_t timeout,
		 struct res *x)
{
	Echo__EchoRequest req = ECHO__ECHO_REQUEST__INIT;

	req.message = (char *)text;
	CHECK_OK(actr_peer_call(c->peer, &echo_type, "echo.EchoService.Echo",
				&req.base, &echo__echo_response__descriptor,
				timeout, on_res, x));
}

/* Call until one succeeds (NotFound while the server registers). Returns
 * the number of failed attempts; CHECK fails after ms. */
static int call_until_ok(actr_reactor_t *r, struct rnode *c, const char *text,
			 int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));
	int fails = 0;
	struct res x;

	for (;;) {
		memset(&x, 0, sizeof(x));
		call(c, text, (uint32_t)actr_test_scale(2000), &x);
		rt_run(r, &x.done, 1, 5000);
		CHECK_EQ(x.done, 1);
		if (x.status == 0)
			break;
		fails++;
		CHECK(actr_time_ns() < end);
		for (int i = 0; i < 10; i++)	/* ~100 ms between tries */
			actr_reactor_run_once(r, 10);
	}
	CHECK_STR(x.reply, text);
	return fails;
}

TEST_TIMEOUT(remote_proc_echo_kill_restart, 60)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode cli;
	struct res x = { 0 };
	actr_peer_stats_t st;
	char url[64];
	pid_t pid;
	int ws;

	CHECK(r);
	l = rt_signal(r, 0, url, sizeof(url));
	rt_node(&cli, r, url,
		actr_workload_new("acme", "client", "1.0.0"), NULL);
	rt_wait_ready(r, &cli, NULL, 5000);

	pid = spawn_server(url, NULL, NULL);
	call_until_ok(r, &cli, "first", 15000);
	call_until_ok(r, &cli, "second", 5000);
	actr_peer_get_stats(cli.peer, &st);
	CHECK_EQ(st.conns_open, 1);

	/* the server dies: the next call fails cleanly (no hang, no crash) */
	ws = stop_child(r, pid, SIGKILL);
	CHECK(WIFSIGNALED(ws));
	call(&cli, "dead", (uint32_t)actr_test_scale(1500), &x);
	rt_run(r, &x.done, 1, 10000);
	CHECK_EQ(x.done, 1);
	CHECK(x.status == -ACTR_ETIMEDOUT || x.status == -ACTR_ENOTFOUND ||
	      x.status == -ACTR_ENOTREADY || x.status == -ACTR_EUNAVAILABLE);

	/* a new server process: found and connected again */
	pid = spawn_server(url, NULL, NULL);
	call_until_ok(r, &cli, "back", 15000);
	actr_peer_get_stats(cli.peer, &st);
	CHECK(st.conns_open >= 2);
	ws = stop_child(r, pid, SIGTERM);
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		dump_log();
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
	struct res x = { 0 };
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
	pid = spawn_server(url, mb, crash);

	/* call until the request reaches the server, whose handler then
	 * kills the process after the request was stored */
	end = actr_time_ns() + ACTR_MS(actr_test_scale(15000));
	for (;;) {
		memset(&x, 0, sizeof(x));
		call(&cli, "survive", (uint32_t)actr_test_scale(20000), &x);
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
	pid = spawn_server(url, mb, crash);
	rt_run(r, &x.done, 1, 25000);
	CHECK_EQ(x.done, 1);
	CHECK_EQ(x.status, 0);
	CHECK_STR(x.reply, "survive");
	/* and it serves new calls */
	call_until_ok(r, &cli, "after", 5000);
	ws = stop_child(r, pid, SIGTERM);
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		dump_log();
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);

	rt_node_free(&cli);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}
