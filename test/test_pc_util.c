/* coturn for the TURN tests (see test_pc_util.h). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

int test_turn_start(struct test_turn *t)
{
	char port[32], secret[64], minp[32], maxp[32], pidf[300], db[300],
		logf[300];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	unsigned base;
	long expires = (long)time(NULL) + 3600;

	memset(t, 0, sizeof(*t));
	if (access("/usr/bin/turnserver", X_OK) != 0)
		return -1;
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
	/* Bounded wait: coturn answers STUN once it listens. */
	for (int i = 0; i < 60; i++) {
		int st;

		if (waitpid(t->pid, &st, WNOHANG) == t->pid) {
			t->pid = 0;
			return -1;
		}
		if (stun_ping(t->port, 50))
			return 0;
	}
	test_turn_stop(t);
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
