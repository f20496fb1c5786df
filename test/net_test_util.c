/* Helpers shared by the HTTP/WebSocket tests (see net_test_util.h). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/internal.h"
#include "net_test_util.h"
#include "test.h"

struct thr {
	void (*fn)(void *);
	void *arg;
	actr_reactor_t *r;
	atomic_bool done;
};

static void nop(void *arg)
{
}

static void *thr_main(void *p)
{
	struct thr *t = p;

	t->fn(t->arg);
	atomic_store(&t->done, true);
	actr_reactor_post(t->r, nop, NULL);
	return NULL;
}

void nt_run_with_thread(actr_reactor_t *r, void (*fn)(void *), void *arg,
			int timeout_s)
{
	struct thr t = { fn, arg, r, false };
	pthread_t th;
	uint64_t end = actr_time_ns() + ACTR_SEC(actr_test_scale(timeout_s));

	CHECK_OK(pthread_create(&th, NULL, thr_main, &t));
	while (!atomic_load(&t.done)) {
		if (actr_time_ns() > end)
			actr_test_fail(__FILE__, __LINE__, "client thread hung");
		actr_reactor_run_once(r, 50);
	}
	pthread_join(th, NULL);
	/* Let the server finish what the client's last bytes started. */
	for (int i = 0; i < 5; i++)
		actr_reactor_run_once(r, 0);
}

bool nt_run_until(actr_reactor_t *r, volatile bool *flag, int timeout_ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(timeout_ms));

	while (!*flag && actr_time_ns() < end)
		actr_reactor_run_once(r, 20);
	return *flag;
}

void nt_drain(actr_reactor_t *r)
{
	uint64_t end = actr_time_ns() + ACTR_SEC(actr_test_scale(3));

	do
		actr_reactor_run_once(r, 10);
	while (actr_reactor_active(r) > 0 && actr_time_ns() < end);
	CHECK_EQ(actr_reactor_active(r), 0);
}

int nt_connect(unsigned port)
{
	struct sockaddr_in a = { 0 };
	struct timeval tv = { actr_test_scale(5), 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	CHECK(fd >= 0);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	CHECK_OK(connect(fd, (struct sockaddr *)&a, sizeof(a)));
	return fd;
}

int nt_send(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);

		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

ssize_t nt_read_all(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	while (n + 1 < cap) {
		ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);

		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

void nt_read_exact(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = recv(fd, (char *)buf + got, n - got, 0);

		if (r <= 0)
			actr_test_fail(__FILE__, __LINE__,
				       "short read %zu of %zu", got, n);
		got += (size_t)r;
	}
}

ssize_t nt_read_response(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	char *end;
	long cl = 0;

	for (;;) {
		ssize_t r;

		buf[n] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end)
			break;
		if (n + 1 >= cap)
			return -1;
		r = recv(fd, buf + n, 1, 0);
		if (r <= 0)
			return -1;
		n += (size_t)r;
	}
	{
		const char *p = strcasestr(buf, "content-length:");

		if (p)
			cl = strtol(p + 15, NULL, 10);
	}
	if ((size_t)(end + 4 - buf) + (size_t)cl + 1 > cap)
		return -1;
	nt_read_exact(fd, buf + n, (size_t)cl);
	n += (size_t)cl;
	buf[n] = '\0';
	return (ssize_t)n;
}

/* ---- echo server ---------------------------------------------------------- */

static void echo_msg(actr_ws_t *ws, bool text, const uint8_t *d, size_t n,
		     void *arg)
{
	struct nt_echo *e = arg;

	e->messages++;
	if (text && n > 6 && memcmp(d, "close:", 6) == 0) {
		char code[16] = "";

		memcpy(code, d + 6, ACTR_MIN(n - 6, sizeof(code) - 1));
		actr_ws_close(ws, atoi(code), "asked");
		return;
	}
	if (text)
		actr_ws_send_text(ws, (const char *)d, n);
	else
		actr_ws_send_binary(ws, d, n);
}

static void echo_close(actr_ws_t *ws, int code, const char *reason, void *arg)
{
	struct nt_echo *e = arg;

	e->ws_closed++;
	e->last_close_code = code;
	snprintf(e->last_close_reason, sizeof(e->last_close_reason), "%s",
		 reason);
}

static const struct actr_ws_callbacks echo_cbs = {
	.on_message = echo_msg,
	.on_close = echo_close,
};

static void echo_handler(actr_http_req_t *q, void *arg)
{
	struct nt_echo *e = arg;
	const char *path = actr_http_req_path(q);
	const char *m = actr_http_req_method(q);

	if (strcmp(path, "/hello") == 0 &&
	    (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)) {
		actr_http_respond(q, 200, "text/plain", NULL, "hello", 5);
	} else if (strcmp(path, "/echo") == 0 && strcmp(m, "POST") == 0) {
		size_t n;
		const uint8_t *b = actr_http_req_body(q, &n);

		actr_http_respond(q, 200, "application/octet-stream",
				  "X-Echo: yes\r\n", b, n);
	} else if (strcmp(path, "/ws") == 0) {
		char tok[32];

		if (actr_http_query_get(actr_http_req_query(q), "token", tok,
					sizeof(tok)) < 0 ||
		    strcmp(tok, "good") != 0) {
			actr_http_respond(q, 401, "text/plain", NULL, "denied",
					  6);
			return;
		}
		if (actr_http_accept_ws(q, &echo_cbs, e))
			e->ws_open++;
	} else {
		actr_http_respond(q, 404, NULL, NULL, NULL, 0);
	}
}

actr_http_server_t *nt_echo_start(actr_reactor_t *r, struct nt_echo *e,
				  const struct actr_net_limits *lim,
				  const char *cert, const char *key)
{
	struct actr_http_server_config cfg = { 0 };

	memset(e, 0, sizeof(*e));
	cfg.host = "127.0.0.1";
	cfg.on_request = echo_handler;
	cfg.arg = e;
	cfg.tls_cert_file = cert;
	cfg.tls_key_file = key;
	if (lim)
		cfg.limits = *lim;
	e->srv = actr_http_server_new(r, &cfg);
	CHECK(e->srv);
	return e->srv;
}

void nt_make_cert(const char *dir, char *cert, char *key, size_t cap)
{
	char cmd[1024];

	snprintf(cert, cap, "%s/cert.pem", dir);
	snprintf(key, cap, "%s/key.pem", dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		 "-nodes -keyout %s -out %s -days 1 -subj /CN=127.0.0.1 "
		 "-addext subjectAltName=IP:127.0.0.1 2>/dev/null",
		 key, cert);
	CHECK_EQ(system(cmd), 0);
}

pid_t nt_spawn(int *out_fd, int *in_fd, const char *const argv[])
{
	int po[2], pi[2];
	pid_t pid;

	CHECK_OK(pipe2(po, O_CLOEXEC));
	CHECK_OK(pipe2(pi, O_CLOEXEC));
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pi[0], 0);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(po[1]);
	close(pi[0]);
	*out_fd = po[0];
	*in_fd = pi[1];
	return pid;
}

int nt_read_line(int fd, char *buf, size_t cap, int timeout_ms)
{
	size_t n = 0;
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(timeout_ms));

	while (n + 1 < cap) {
		struct pollfd p = { fd, POLLIN, 0 };
		int left = (int)((end - ACTR_MIN(end, actr_time_ns())) / 1000000);

		if (left <= 0 || poll(&p, 1, left) <= 0)
			return -1;
		if (read(fd, buf + n, 1) != 1)
			return -1;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return (int)n;
}

int nt_run_until_exit(actr_reactor_t *r, pid_t pid, int timeout_ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(timeout_ms));
	int st;

	while (actr_time_ns() < end) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
		actr_reactor_run_once(r, 20);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

const char *nt_peer_script(void)
{
	static char path[PATH_MAX];
	char dir[PATH_MAX / 2];
	const char *f = __FILE__;
	const char *slash = strrchr(f, '/');

	if (path[0])
		return path;
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - f) : 1,
		 slash ? f : ".");
	snprintf(path, sizeof(path), "%s/ws_peer.py", dir);
	if (access(path, R_OK) != 0 && getenv("ACTR_SRC_DIR"))
		snprintf(path, sizeof(path), "%s/test/ws_peer.py",
			 getenv("ACTR_SRC_DIR"));
	return path;
}
