/* coturn for the TURN tests, the two-process pipe and the interop peers
 * (see test_pc_util.h). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <actr/actr.h>

#include "test.h"
#include "wire/pc.h"
#include "test_pc_util.h"

uint16_t test_free_udp_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	uint16_t port = 0;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(s, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	if (s >= 0)
		close(s);
	return port;
}

/* One STUN Binding request; true when any STUN response comes back. */
static bool stun_ping(uint16_t port, int timeout_ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	uint8_t req[20] = { 0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42 };
	uint8_t resp[512];
	struct pollfd pfd;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	bool ok = false;

	if (s < 0)
		return false;
	actr_random(req + 8, 12);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(port);
	if (sendto(s, req, sizeof(req), 0, (struct sockaddr *)&sa,
		   sizeof(sa)) == (ssize_t)sizeof(req)) {
		pfd.fd = s;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, timeout_ms) == 1 &&
		    recv(s, resp, sizeof(resp), 0) >= 20 &&
		    (resp[0] & 0xc0) == 0 && !memcmp(resp + 8, req + 8, 12))
			ok = true;
	}
	close(s);
	return ok;
}

/* One coturn start on a fresh port and relay range: 0 once it answers
 * STUN, -1 when it exited or stayed silent for ~10 s (scaled). */
static int turn_start_once(struct test_turn *t)
{
	char port[32], secret[64], minp[32], maxp[32], pidf[300], db[300],
		logf[300];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	unsigned base;
	long expires = (long)time(NULL) + 3600;
	uint64_t end;

	memset(t, 0, sizeof(*t));
	t->port = test_free_udp_port();
	snprintf(t->secret, sizeof(t->secret), "s%08x",
		 (unsigned)actr_rand64());
	snprintf(t->user, sizeof(t->user), "%ld:1a2b3c@101/acme:test:1.0",
		 expires);
	HMAC(EVP_sha1(), t->secret, (int)strlen(t->secret),
	     (const unsigned char *)t->user, strlen(t->user), mac, &maclen);
	actr_base64_encode(mac, maclen, t->pass, 0);
	base = 20000 + (unsigned)(actr_rand64() % 30000);
	snprintf(port, sizeof(port), "--listening-port=%u", t->port);
	snprintf(secret, sizeof(secret), "--static-auth-secret=%s", t->secret);
	snprintf(minp, sizeof(minp), "--min-port=%u", base);
	snprintf(maxp, sizeof(maxp), "--max-port=%u", base + 200);
	snprintf(pidf, sizeof(pidf), "--pidfile=%s/turn.pid",
		 actr_test_tmpdir());
	snprintf(db, sizeof(db), "--userdb=%s/turndb", actr_test_tmpdir());
	snprintf(logf, sizeof(logf), "%s/turn.log", actr_test_tmpdir());
	t->pid = fork();
	if (t->pid < 0)
		return -1;
	if (t->pid == 0) {
		int fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl("/usr/bin/turnserver", "turnserver", "-c", "/dev/null",
		      "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", port,
		      "--use-auth-secret", secret, "--realm=test", "--no-cli",
		      "--allow-loopback-peers", "--no-tls", "--no-dtls", minp,
		      maxp, pidf, db, "--log-file=stdout", "--simple-log",
		      (char *)NULL);
		_exit(127);
	}
	/* Bounded wait: coturn answers STUN once it listens (slow to start
	 * on a loaded machine or beside a sanitizer build). */
	end = actr_time_ns() + ACTR_MS(actr_test_scale(10000));
	while (actr_time_ns() < end) {
		int st;

		if (waitpid(t->pid, &st, WNOHANG) == t->pid) {
			t->pid = 0;
			actr_logw("test", "turnserver exited at start (see %s)",
				  logf);
			return -1;
		}
		if (stun_ping(t->port, 50))
			return 0;
	}
	actr_logw("test", "turnserver silent for 10 s (see %s)", logf);
	test_turn_stop(t);
	return -1;
}

int test_turn_start(struct test_turn *t)
{
	if (access("/usr/bin/turnserver", X_OK) != 0)
		return -1;
	/* a port taken between test_free_udp_port and coturn's bind, or a
	 * relay range in use, ends that start: another port, twice more */
	for (int i = 0; i < 3; i++)
		if (turn_start_once(t) == 0)
			return 0;
	return -1;
}

void test_turn_stop(struct test_turn *t)
{
	int st;

	if (t->pid <= 0)
		return;
	kill(t->pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(t->pid, &st, WNOHANG) == t->pid) {
			t->pid = 0;
			return;
		}
		usleep(10000);
	}
	kill(t->pid, SIGKILL);
	waitpid(t->pid, &st, 0);
	t->pid = 0;
}

/* Wait (bounded) until fd is readable. */
static bool pipe_wait(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int rc;

	do
		rc = poll(&pfd, 1, actr_test_scale(10000));
	while (rc < 0 && errno == EINTR);
	return rc == 1;
}

void test_pipe_put(int fd, const char *s)
{
	uint32_t n = (uint32_t)strlen(s);

	CHECK_EQ(write(fd, &n, 4), 4);
	CHECK_EQ(write(fd, s, n), n);
}

char *test_pipe_get(int fd)
{
	uint32_t n;
	char *s;
	size_t got = 0;

	if (!pipe_wait(fd) || read(fd, &n, 4) != 4 || n > 65536)
		return NULL;
	s = malloc(n + 1);
	if (!s)
		return NULL;
	while (got < n) {
		ssize_t k = pipe_wait(fd) ? read(fd, s + got, n - got) : -1;

		if (k <= 0) {
			free(s);
			return NULL;
		}
		got += (size_t)k;
	}
	s[n] = 0;
	return s;
}

bool test_source_path(const char *rel, char *out, size_t cap)
{
	char exe[PATH_MAX];
	ssize_t n;

	if (access(rel, R_OK) == 0) {
		snprintf(out, cap, "%s", rel);
		return true;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = 0;
	/* <root>/build/test/actr-test -> <root>/<rel> */
	snprintf(out, cap, "%s/../../%s", dirname(exe), rel);
	return access(out, R_OK) == 0;
}

void test_peer_start(struct test_peer *p, char *const argv[])
{
	int in[2], outp[2];

	memset(p, 0, sizeof(*p));
	CHECK_OK(pipe(in));
	CHECK_OK(pipe(outp));
	fflush(stdout);
	fflush(stderr);
	p->pid = fork();
	CHECK(p->pid >= 0);
	if (p->pid == 0) {
		dup2(in[0], 0);
		dup2(outp[1], 1);
		close(in[1]);
		close(outp[0]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	p->to = in[1];
	p->from = outp[0];
	CHECK_OK(fcntl(p->from, F_SETFL,
		       fcntl(p->from, F_GETFL) | O_NONBLOCK));
}

void test_peer_stop(struct test_peer *p)
{
	int st;

	close(p->to);
	for (int i = 0; i < 300 && p->pid; i++) {
		if (waitpid(p->pid, &st, WNOHANG) == p->pid)
			p->pid = 0;
		else
			usleep(10000);
	}
	if (p->pid) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, &st, 0);
		p->pid = 0;
	}
	close(p->from);
}

bool test_peer_line(struct test_peer *p, char *line, size_t cap)
{
	char *nl;
	size_t l;
	ssize_t n;

	if (p->len < sizeof(p->buf)) {
		n = read(p->from, p->buf + p->len, sizeof(p->buf) - p->len);
		if (n > 0)
			p->len += (size_t)n;
	}
	nl = memchr(p->buf, '\n', p->len);
	if (!nl) {
		CHECK(p->len < sizeof(p->buf)); /* a line longer than buf */
		return false;
	}
	l = (size_t)(nl - p->buf);
	CHECK(l < cap);
	memcpy(line, p->buf, l);
	line[l] = 0;
	p->len -= l + 1;
	memmove(p->buf, nl + 1, p->len);
	return true;
}

void test_peer_put_b64(struct test_peer *p, const char *tag,
		       const char *text)
{
	size_t n = strlen(text), t = strlen(tag);
	char *line = malloc(t + 1 + ACTR_BASE64_LEN(n) + 1);
	size_t k;

	CHECK(line);
	memcpy(line, tag, t);
	line[t] = ' ';
	k = actr_base64_encode(text, n, line + t + 1, 0);
	line[t + 1 + k] = '\n';
	CHECK_EQ(write(p->to, line, t + 2 + k), (ssize_t)(t + 2 + k));
	free(line);
}

char *test_peer_b64_arg(const char *line)
{
	const char *sp = strchr(line, ' ');
	size_t n;
	char *text;
	ssize_t k;

	CHECK(sp);
	n = strlen(sp + 1);
	text = malloc(n + 1);
	CHECK(text);
	k = actr_base64_decode(sp + 1, n, text, n);
	CHECK(k >= 0);
	text[k] = 0;
	return text;
}

void test_inbox_put(struct test_inbox *b, int lane, actr_buf_t *msg)
{
	CHECK(b->n < TEST_INBOX_MAX);
	b->lanes[b->n] = lane;
	b->msgs[b->n++] = msg;
}

int test_inbox_find(const struct test_inbox *b, int lane, const void *data,
		    size_t len)
{
	for (int i = 0; i < b->n; i++)
		if (b->lanes[i] == lane && b->msgs[i]->len == len &&
		    !memcmp(b->msgs[i]->data, data, len))
			return i;
	return -1;
}

void test_inbox_drop(struct test_inbox *b, int i)
{
	actr_buf_unref(b->msgs[i]);
	b->n--;
	memmove(&b->msgs[i], &b->msgs[i + 1],
		(size_t)(b->n - i) * sizeof(b->msgs[0]));
	memmove(&b->lanes[i], &b->lanes[i + 1],
		(size_t)(b->n - i) * sizeof(b->lanes[0]));
}

void test_inbox_take_greetings(struct test_inbox *b)
{
	for (int lane = 0; lane < ACTR__LANE_COUNT; lane++) {
		char g[64];
		int n = snprintf(g, sizeof(g), "hello %s",
				 actr__lane_label(lane));
		int i = test_inbox_find(b, lane, g, (size_t)n);

		CHECK(i >= 0);
		test_inbox_drop(b, i);
	}
}

void test_inbox_clear(struct test_inbox *b)
{
	while (b->n > 0)
		test_inbox_drop(b, b->n - 1);
}
