/*
 * The counter example across processes (examples/counter): the server and
 * its clients configured from examples/counter/counter.toml plus flags,
 * over WebRTC through an in-process actr-signal. A watcher subscribes and
 * must receive exactly the two updates that two adds cause, in order,
 * then unsubscribe and exit 0; a get reads the final value; a get of a
 * counter that does not exist fails with a non-zero exit.
 */
#define _GNU_SOURCE
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

#include "server/signal_internal.h"
#include "test.h"
#include "test_remote_util.h"

static char bindir[PATH_MAX], url[64];

/* Start examples/counter/PROG with the config file, our signaling URL and
 * args; stdout and stderr to <tmpdir>/<out>. */
static pid_t spawn(const char *prog, const char *out, const char *const *args)
{
	char path[PATH_MAX + 32], cfg[PATH_MAX + 32], logf[PATH_MAX];
	pid_t pid;

	snprintf(path, sizeof(path), "%s/../examples/counter/%s", bindir, prog);
	/* the tests run from the source tree (make check) */
	snprintf(cfg, sizeof(cfg), "examples/counter/counter.toml");
	snprintf(logf, sizeof(logf), "%s/%s", actr_test_tmpdir(), out);
	CHECK(access(path, X_OK) == 0);
	CHECK(access(cfg, R_OK) == 0);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		const char *argv[16];
		int fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0600), i = 0;

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		argv[i++] = path;
		argv[i++] = "--config";
		argv[i++] = cfg;
		argv[i++] = "--signaling";
		argv[i++] = url;
		while (*args && i < 15)
			argv[i++] = *args++;
		argv[i] = NULL;
		execv(path, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static bool file_has(const char *out, const char *text)
{
	char path[PATH_MAX], buf[4096];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", actr_test_tmpdir(), out);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, text) != NULL;
}

static void dump(const char *out)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "cat %s/%s >&2", actr_test_tmpdir(), out);
	if (system(cmd) != 0)
		fprintf(stderr, "(no %s)\n", out);
}

/* Run the reactor (the signaling server lives in it) until out contains
 * text, or ms pass. */
static bool wait_text(actr_reactor_t *r, const char *out, const char *text,
		      int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));

	while (actr_time_ns() < end) {
		if (file_has(out, text))
			return true;
		actr_reactor_run_once(r, 10);
	}
	return file_has(out, text);
}

/* Run the reactor until pid exits (ms); its exit status, or -1. */
static int wait_exit(actr_reactor_t *r, pid_t pid, int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));
	int st;

	while (actr_time_ns() < end) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
		actr_reactor_run_once(r, 10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

TEST_TIMEOUT(example_counter_pushes_updates, 90)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	const char *none[] = { NULL };
	const char *watch[] = { "watch", "hits", "2", NULL };
	const char *add5[] = { "add", "hits", "5", NULL };
	const char *sub2[] = { "add", "hits", "-2", NULL };
	const char *get[] = { "get", "hits", NULL };
	const char *missing[] = { "get", "nothing", NULL };
	ssize_t n = readlink("/proc/self/exe", bindir, sizeof(bindir) - 1);
	pid_t srv, w;
	int st;

	CHECK(r && n > 0);
	bindir[n] = '\0';
	{
		char tmp[PATH_MAX];

		snprintf(tmp, sizeof(tmp), "%s", dirname(bindir));
		snprintf(bindir, sizeof(bindir), "%s", tmp);
	}
	l = rt_signal(r, 0, url, sizeof(url));
	srv = spawn("server", "server.out", none);
	if (!wait_text(r, "server.out", "ready ", 15000))
		dump("server.out");
	CHECK(file_has("server.out", "ready "));
	CHECK(file_has("server.out", "acme:counter:1.0.0"));

	w = spawn("client", "watch.out", watch);
	if (!wait_text(r, "watch.out", "subscribed hits = 0", 15000))
		dump("watch.out");
	CHECK(file_has("watch.out", "subscribed hits = 0 (1 watching)"));

	st = wait_exit(r, spawn("client", "add1.out", add5), 20000);
	if (st)
		dump("add1.out");
	CHECK_EQ(st, 0);
	CHECK(file_has("add1.out", "hits = 5 (v1)"));
	st = wait_exit(r, spawn("client", "add2.out", sub2), 20000);
	CHECK_EQ(st, 0);
	CHECK(file_has("add2.out", "hits = 3 (v2)"));

	/* the watcher got both pushes, in order, and left on its own */
	st = wait_exit(r, w, 20000);
	if (st)
		dump("watch.out");
	CHECK_EQ(st, 0);
	CHECK(file_has("watch.out", "update hits 5 v1\nupdate hits 3 v2\n"));

	st = wait_exit(r, spawn("client", "get.out", get), 20000);
	CHECK_EQ(st, 0);
	CHECK(file_has("get.out", "hits = 3 (v2)"));
	st = wait_exit(r, spawn("client", "missing.out", missing), 20000);
	CHECK_EQ(st, 1);
	CHECK(file_has("missing.out", "no such counter"));

	CHECK_EQ(WEXITSTATUS(rt_stop_child(r, srv, SIGTERM)), 0);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}
