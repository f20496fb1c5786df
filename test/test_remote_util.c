/* Helpers for the remote-call tests (see test_remote_util.h). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>

#include "examples/echo_actor/echo.pb-c.h"
#include "server/signal_internal.h"
#include "test.h"
#include "test_remote_util.h"

struct actr__sig_listener *rt_signal(actr_reactor_t *r, uint16_t port,
				     char *url, size_t cap)
{
	return rt_signal_on(r, "127.0.0.1", port, url, cap);
}

struct actr__sig_listener *rt_signal_on(actr_reactor_t *r, const char *host,
					uint16_t port, char *url, size_t cap)
{
	struct actr__sig_config cfg;
	struct actr__sig_listen_config lc = { .host = host, .port = port };
	struct actr__sig_listener *l;

	actr__sig_config_defaults(&cfg);
	cfg.db_path = ":memory:";
	cfg.conn_per_min = cfg.reg_per_min = 6000;
	cfg.conn_burst = cfg.reg_burst = 1000;
	cfg.msg_per_s = 100000;
	cfg.msg_burst = 100000;
	l = actr__sig_listen(r, &cfg, &lc);
	CHECK(l);
	CHECK_OK(actr__sig_add_realm(actr__sig_listener_core(l), 101, "pw"));
	snprintf(url, cap, "ws://%s:%u", host, actr__sig_listener_port(l));
	return l;
}

bool rt_mailbox_local;
struct rt_limits rt_limits;
struct rt_recovery rt_recovery;

void rt_node(struct rnode *n, actr_reactor_t *r, const char *url,
	     actr_workload_t *w, const char *mailbox)
{
	rt_node_ex(n, r, url, w, mailbox, "127.0.0.1",
		   (unsigned)actr_test_scale(5000));
}

void rt_node_ex(struct rnode *n, actr_reactor_t *r, const char *url,
		actr_workload_t *w, const char *mailbox,
		const char *local_addr, unsigned setup_ms)
{
	actr_system_config_t sc = { .realm_id = 101 };
	actr_peer_config_t pc = { 0 };

	memset(n, 0, sizeof(*n));
	CHECK(w);
	n->sys = actr_system_new(r, &sc);
	CHECK(n->sys);
	n->node = actr_node_new(n->sys, w, 0);
	CHECK(n->node);
	pc.signaling_url = url;
	pc.realm_secret = "pw";
	pc.local_addr = local_addr;
	pc.mailbox_path = mailbox;
	pc.mailbox_sync = 1;
	pc.mailbox_local = rt_mailbox_local;
	pc.setup_timeout_ms = setup_ms;
	pc.max_message = rt_limits.max_message;
	pc.reasm_cap = rt_limits.reasm_cap;
	pc.reasm_floor = rt_limits.reasm_floor;
	pc.no_ice_restart = rt_recovery.no_ice_restart;
	pc.ice_restart_timeout_ms = rt_recovery.restart_timeout_ms;
	pc.ice_restart_max_interval_ms = rt_recovery.restart_max_interval_ms;
	pc.watch_network = rt_recovery.watch_network;
	n->peer = actr_peer_new(n->node, &pc);
	CHECK(n->peer);
	CHECK_OK(actr_node_start(n->node, &n->ref));
	CHECK_OK(actr_peer_start(n->peer));
}

void rt_node_free(struct rnode *n)
{
	actr_peer_free(n->peer);
	n->peer = NULL;
	if (n->sys)
		actr_system_free(n->sys);
	n->sys = NULL;
}

void rt_wait_ready(actr_reactor_t *r, struct rnode *a, struct rnode *b,
		   int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));

	while ((!actr_peer_ready(a->peer) || (b && !actr_peer_ready(b->peer)))
	       && actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
	CHECK(actr_peer_ready(a->peer));
	CHECK(!b || actr_peer_ready(b->peer));
}

void rt_run(actr_reactor_t *r, const int *flag, int want, int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));

	while (*flag < want && actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
}

void rt_drain(actr_reactor_t *r)
{
	actr_reactor_drain(r, actr_test_scale(2000));
}

/* ---- the echo example server as a child process ------------------- */

Actr__ActrType rt_echo_type = {
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

pid_t rt_spawn_echo_server(const char *url, const char *mailbox,
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

void rt_dump_server_log(void)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "tail -n 40 %s/server.log >&2",
		 actr_test_tmpdir());
	if (system(cmd) != 0)
		fprintf(stderr, "(no server log)\n");
}

int rt_stop_child(actr_reactor_t *r, pid_t pid, int sig)
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

static void on_echo_res(const actr_result_t *r, void *arg)
{
	struct rt_echo_res *x = arg;

	x->done++;
	x->status = r->status;
	x->reply[0] = '\0';
	snprintf(x->message, sizeof(x->message), "%s",
		 r->message ? r->message : "");
	if (r->status == 0 && r->msg)
		snprintf(x->reply, sizeof(x->reply), "%s",
			 ((const Echo__EchoResponse *)r->msg)->reply);
}

void rt_echo_call(struct rnode *c, const char *text, uint32_t timeout,
		  struct rt_echo_res *x)
{
	Echo__EchoRequest req = ECHO__ECHO_REQUEST__INIT;

	req.message = (char *)text;
	CHECK_OK(actr_peer_call(c->peer, &rt_echo_type,
				"echo.EchoService.Echo", &req.base,
				&echo__echo_response__descriptor, timeout,
				on_echo_res, x));
}

int rt_echo_call_until_ok(actr_reactor_t *r, struct rnode *c,
			  const char *text, int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));
	int fails = 0;
	struct rt_echo_res x;
	char want[sizeof(x.reply)];

	for (;;) {
		memset(&x, 0, sizeof(x));
		rt_echo_call(c, text, (uint32_t)actr_test_scale(2000), &x);
		rt_run(r, &x.done, 1, 5000);
		CHECK_EQ(x.done, 1);
		if (x.status == 0)
			break;
		fails++;
		CHECK(actr_time_ns() < end);
		for (int i = 0; i < 10; i++)	/* ~100 ms between tries */
			actr_reactor_run_once(r, 10);
	}
	snprintf(want, sizeof(want), "Echo: %s", text);
	CHECK_STR(x.reply, want);
	return fails;
}
