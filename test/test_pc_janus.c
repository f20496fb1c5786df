/* Interop with a real ICE lite peer: Janus (Debian's janus package) with
 * ice_lite = true, its echotest plugin echoing DataChannel messages, over
 * its HTTP API (test/janus_echo.py carries the SDP). The test runs in a
 * private network namespace where 198.18.0.2 sits on one end of a veth
 * pair (Janus and libnice gather nothing on lo, whatever its address). This project offers, so it is the controlling
 * agent by the usual rule; the answerer-side rule (a lite offer makes the
 * answerer controlling) is tested in process in test_pc.c, since the
 * echotest plugin does not offer. Without Janus the test is skipped
 * (a failure when CI=true). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>

#include "core/internal.h"

#include "proto/fragment.h"
#include "wire/pc.h"
#include "wire/sdp.h"
#include "test.h"
#include "test_pc_util.h"

#define PY "/usr/bin/python3"

#define JANUS "/usr/bin/janus"
#define JANUS_LIB "/usr/lib/x86_64-linux-gnu/janus"
#define ADDR "198.18.0.2"

struct app {
	actr__pc_t *pc;
	char *sdp_out;
	int state;
	int err;
	actr_buf_t *msg;	/* last message */
	int lane;		/* its lane */
	int nmsgs;
};

static void j_description(void *arg, bool offer, const char *sdp)
{
	struct app *a = arg;

	a->sdp_out = strdup(sdp);
}

static void j_state(void *arg, int state, int err)
{
	struct app *a = arg;

	a->state = state;
	a->err = err;
}

static void j_message(void *arg, int lane, actr_buf_t *msg)
{
	struct app *a = arg;

	actr_buf_unref(a->msg);
	a->msg = msg;
	a->lane = lane;
	a->nmsgs++;
}

static const struct actr__pc_cbs jcbs = {
	j_description, NULL, j_state, j_message, NULL,
};

/* Skip (or, under CI=true, fail) when Janus or Python is missing. */
static bool janus_available(void)
{
	if (access(JANUS, X_OK) == 0 && access(PY, X_OK) == 0 &&
	    access(JANUS_LIB "/plugins/libjanus_echotest.so", R_OK) == 0 &&
	    access(JANUS_LIB "/transports/libjanus_http.so", R_OK) == 0)
		return true;
	actr_test_skip("Janus is not installed (apt-get install janus)");
	return false;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f);
	fputs(text, f);
	CHECK_OK(fclose(f));
}

/* A Janus configuration in dir: ICE lite, HTTP API on 127.0.0.1:8088,
 * the echotest plugin only. */
static void janus_config(const char *dir)
{
	char main_cfg[2048];

	snprintf(main_cfg, sizeof(main_cfg),
		 "general: {\n"
		 "  configs_folder = \"%s\"\n"
		 "  plugins_folder = \"" JANUS_LIB "/plugins\"\n"
		 "  transports_folder = \"" JANUS_LIB "/transports\"\n"
		 "  events_folder = \"%s/none\"\n"
		 "  loggers_folder = \"%s/none\"\n"
		 "  debug_level = 4\n"
		 "}\n"
		 "nat: {\n  ice_lite = true\n  nice_debug = false\n"
		 "  ice_enforce_list = \"j0\"\n}\n"
		 "media: {\n}\n"
		 "plugins: {\n  disable = \"libjanus_audiobridge.so,"
		 "libjanus_duktape.so,libjanus_lua.so,libjanus_nosip.so,"
		 "libjanus_recordplay.so,libjanus_sip.so,libjanus_streaming.so,"
		 "libjanus_textroom.so,libjanus_videocall.so,"
		 "libjanus_videoroom.so,libjanus_voicemail.so\"\n}\n"
		 "transports: {\n  disable = \"libjanus_websockets.so,"
		 "libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,"
		 "libjanus_rabbitmq.so\"\n}\n"
		 "events: {\n  broadcast = false\n}\n",
		 dir, dir, dir);
	write_file(dir, "janus.jcfg", main_cfg);
	write_file(dir, "janus.transport.http.jcfg",
		   "general: {\n  base_path = \"/janus\"\n  http = true\n"
		   "  port = 8088\n  ip = \"127.0.0.1\"\n  https = false\n}\n"
		   "admin: {\n  admin_http = false\n}\n");
	write_file(dir, "janus.plugin.echotest.jcfg", "general: {\n}\n");
}

static pid_t janus_start(const char *dir)
{
	char cfg[PATH_MAX], log[PATH_MAX];
	pid_t pid;

	snprintf(cfg, sizeof(cfg), "%s/janus.jcfg", dir);
	snprintf(log, sizeof(log), "%s/janus.log", dir);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(JANUS, JANUS, "-C", cfg, "-F", dir, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void janus_stop(pid_t pid, const char *dir)
{
	char cmd[PATH_MAX + 64];
	int st;

	kill(pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			pid = 0;
			break;
		}
		usleep(10000);
	}
	if (pid) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_EQ(system(cmd), 0);
}

/* Janus's log, for a failing test's output. */
static void show_log(const char *dir)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "tail -40 '%s/janus.log'", dir);
	if (system(cmd) != 0)
		printf("(no Janus log)\n");
}

/* Run until cond or the bound; bounded loop. */
#define RUN_UNTIL(r, cond, ms)                                             \
	do {                                                               \
		uint64_t end_ = actr_time_ns() +                           \
				ACTR_MS(actr_test_scale(ms));              \
		while (!(cond) && actr_time_ns() < end_)                   \
			actr_reactor_run_once((r), 10);                    \
	} while (0)

TEST_TIMEOUT(pc_janus_ice_lite_echo, 60)
{
	char dir[] = "/tmp/actr-janus-XXXXXX";
	char line[65536], *answer = NULL;
	struct actr__pc_config c;
	struct actr__sdp *rs;
	struct app a = { 0 };
	struct test_peer p;
	char script[PATH_MAX];
	char *argv[] = { PY, script, "http://127.0.0.1:8088/janus", NULL };
	actr_reactor_t *r;
	uint8_t msg[64];
	pid_t janus;
	size_t n;

	if (!janus_available())
		return;
	/* A private network: a non-loopback address Janus will offer. */
	CHECK_OK(unshare(CLONE_NEWNET));
	CHECK_EQ(system("ip link set lo up && ip link add j0 type veth peer "
			"name j1 && ip addr add " ADDR "/24 dev j0 && "
			"ip link set j0 up && ip link set j1 up"),
		 0);
	CHECK(mkdtemp(dir));
	janus_config(dir);
	janus = janus_start(dir);
	CHECK(test_source_path("test/janus_echo.py", script, sizeof(script)));
	test_peer_start(&p, argv);

	r = actr_reactor_new();
	memset(&c, 0, sizeof(c));
	c.ice.local_addrs[0] = ADDR;
	c.trickle = false; /* candidates in the offer; Janus answers with its
			    * own (half trickle) */
	c.handshake_timeout_ms = (unsigned)actr_test_scale(15000);
	a.pc = actr__pc_new(r, true, NULL, &c, &jcbs, &a);
	CHECK(a.pc);
	CHECK_OK(actr__pc_start(a.pc));
	RUN_UNTIL(r, a.sdp_out, 5000);
	CHECK(a.sdp_out);
	test_peer_put_b64(&p, "SDP", a.sdp_out);
	RUN_UNTIL(r, test_peer_line(&p, line, sizeof(line)), 15000);
	if (strncmp(line, "SDP ", 4)) {
		show_log(dir);
		printf("janus_echo.py: %s\n", line);
		CHECK(!"no answer from Janus");
	}
	answer = test_peer_b64_arg(line);
	/* Janus says it is lite, and we parse it so. */
	rs = malloc(sizeof(*rs));
	CHECK(rs);
	CHECK_OK(actr__sdp_parse(answer, strlen(answer), rs));
	CHECK(rs->ice_lite);
	free(rs);
	CHECK_OK(actr__pc_set_remote(a.pc, answer, strlen(answer)));
	CHECK(actr__ice_controlling(actr__pc_ice(a.pc)));

	/* Janus's echotest does not open our four lanes (pc never reaches
	 * CONNECTED): wait for the lane we open to be usable, then echo. */
	RUN_UNTIL(r, actr__pc_send(a.pc, ACTR__LANE_RPC_RELIABLE, "x", 0) !=
			     -ACTR_ENOTREADY || a.state == ACTR__PC_FAILED,
		  15000);
	{
		struct actr__pc_stats st;

		actr__pc_get_stats(a.pc, &st);
		if (!st.t_ice || !st.t_dtls || !st.t_sctp)
			show_log(dir);
		CHECK(st.t_ice && st.t_dtls && st.t_sctp);
	}
	n = (size_t)snprintf((char *)msg, sizeof(msg), "hello janus lite");
	CHECK_OK(actr__pc_send(a.pc, ACTR__LANE_RPC_RELIABLE, msg, n));
	RUN_UNTIL(r, a.nmsgs >= 2, 10000);
	CHECK(a.msg);
	CHECK_EQ(a.lane, ACTR__LANE_RPC_RELIABLE);
	CHECK_EQ(a.msg->len, n);
	CHECK_MEM(a.msg->data, msg, n);

	actr_buf_unref(a.msg);
	free(a.sdp_out);
	free(answer);
	actr__pc_close_free(a.pc);
	actr_reactor_drain(r, actr_test_scale(2000));
	actr_reactor_free(r);
	test_peer_stop(&p);
	janus_stop(janus, dir);
}
