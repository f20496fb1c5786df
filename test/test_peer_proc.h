/*
 * A helper process for interop tests (aiortc, Janus): a Python script in
 * test/ run by Debian's interpreter, spoken to by lines on its stdin and
 * stdout, SDP base64-encoded so it fits one line. Header-only (static
 * functions), shared by the interop test files.
 */
#ifndef ACTR_TEST_PEER_PROC_H
#define ACTR_TEST_PEER_PROC_H

#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>

#include "core/internal.h"
#include "test.h"

#define PY "/usr/bin/python3"

struct peer {
	pid_t pid;
	int to;			/* its stdin */
	int from;		/* its stdout (non-blocking) */
	char buf[65536];	/* partial line */
	size_t len;
};

/* The path of test/<name>, from the source root or next to the runner. */
static inline bool script_path(const char *name, char *out, size_t cap)
{
	char exe[PATH_MAX];
	ssize_t n;

	snprintf(out, cap, "test/%s", name);
	if (access(out, R_OK) == 0)
		return true;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = 0;
	/* <root>/build/test/actr-test -> <root>/test/<name> */
	snprintf(out, cap, "%s/../../test/%s", dirname(exe), name);
	return access(out, R_OK) == 0;
}

/* Run PY test/<name> arg with pipes to its stdin and from its stdout. */
static inline void peer_start(struct peer *p, const char *name,
			      const char *arg)
{
	int in[2], outp[2];
	char script[PATH_MAX];

	memset(p, 0, sizeof(*p));
	CHECK(script_path(name, script, sizeof(script)));
	CHECK_OK(pipe(in));
	CHECK_OK(pipe(outp));
	p->pid = fork();
	CHECK(p->pid >= 0);
	if (p->pid == 0) {
		dup2(in[0], 0);
		dup2(outp[1], 1);
		close(in[1]);
		close(outp[0]);
		execl(PY, PY, script, arg, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	p->to = in[1];
	p->from = outp[0];
	CHECK_OK(actr__fd_nonblock(p->from));
}

static inline void peer_stop(struct peer *p)
{
	int st;

	close(p->to);
	for (int i = 0; i < 300; i++) {
		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			p->pid = 0;
			break;
		}
		usleep(10000);
	}
	if (p->pid) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, &st, 0);
	}
	close(p->from);
}

/* One complete line from the peer into line (NUL-terminated), or false. */
static inline bool peer_line(struct peer *p, char *line, size_t cap)
{
	char *nl;
	ssize_t n;

	if (p->len < sizeof(p->buf)) {
		n = read(p->from, p->buf + p->len, sizeof(p->buf) - p->len);
		if (n > 0)
			p->len += (size_t)n;
	}
	nl = memchr(p->buf, '\n', p->len);
	if (!nl)
		return false;
	size_t l = (size_t)(nl - p->buf);

	CHECK(l < cap);
	memcpy(line, p->buf, l);
	line[l] = 0;
	p->len -= l + 1;
	memmove(p->buf, nl + 1, p->len);
	return true;
}

static inline void send_sdp(struct peer *p, const char *sdp)
{
	size_t n = strlen(sdp);
	char *b64 = malloc(ACTR_BASE64_LEN(n) + 8);
	size_t k;

	memcpy(b64, "SDP ", 4);
	k = actr_base64_encode(sdp, n, b64 + 4, 0);
	b64[4 + k] = '\n';
	CHECK_EQ(write(p->to, b64, 5 + k), (ssize_t)(5 + k));
	free(b64);
}

static inline char *decode_sdp(const char *line)
{
	size_t n = strlen(line + 4);
	char *sdp = malloc(n + 1);
	ssize_t k = actr_base64_decode(line + 4, n, sdp, n);

	CHECK(k > 0);
	sdp[k] = 0;
	return sdp;
}

#endif
