/*
 * WebSocket binary echo over loopback between two processes pinned to one
 * CPU: 64-byte messages, one in flight; prints p50/p99 round-trip time and
 * messages per second, next to a raw TCP ping-pong of the same size in the
 * same run (blocking sockets, TCP_NODELAY) and the ratio; also the same
 * TCP exchange driven by the reactor (epoll), to separate the cost of the
 * event loop from that of WebSocket. Each kind runs 3 times, interleaved;
 * the medians are reported.
 *
 *   build/bench/ws_echo [messages] [cpu]     (defaults 20000, CPU 0)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/net.h>
#include "bench/bench.h"

#define MSG 64
#define WARMUP 1000
#define TIME_LIMIT_NS ACTR_SEC(20)

static int nmsg = 20000;

struct result {
	double p50_us;
	double p99_us;
	double msgs_per_s;
	int n;
};

static void summarize(uint64_t *rtt, int n, uint64_t elapsed_ns,
		      struct result *r)
{
	qsort(rtt, (size_t)n, sizeof(rtt[0]), cmp_u64);
	r->n = n;
	r->p50_us = n ? rtt[n / 2] / 1e3 : 0;
	r->p99_us = n ? rtt[(size_t)n * 99 / 100] / 1e3 : 0;
	r->msgs_per_s = elapsed_ns ? n / (elapsed_ns / 1e9) : 0;
}

/* ---- WebSocket --------------------------------------------------------------- */

static void srv_msg(actr_ws_t *ws, bool text, const uint8_t *d, size_t n,
		    void *arg)
{
	actr_ws_send_binary(ws, d, n);
}

static void srv_close(actr_ws_t *ws, int code, const char *reason, void *arg)
{
	actr_reactor_stop(arg);
}

static void srv_handler(actr_http_req_t *q, void *arg)
{
	static const struct actr_ws_callbacks cbs = {
		.on_message = srv_msg,
		.on_close = srv_close,
	};

	if (!actr_http_accept_ws(q, &cbs, arg))
		actr_http_respond(q, 404, NULL, NULL, NULL, 0);
}

/* Child: serve one WebSocket echo connection, exit when it closes. */
static void ws_server(int cpu, int ready_fd)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr_http_server_config cfg = { 0 };
	actr_http_server_t *s;
	uint16_t port;

	pin(cpu);
	cfg.on_request = srv_handler;
	cfg.arg = r;
	s = actr_http_server_new(r, &cfg);
	if (!s)
		_exit(1);
	port = actr_http_server_port(s);
	if (write(ready_fd, &port, sizeof(port)) != sizeof(port))
		_exit(1);
	actr_reactor_run(r);
	actr_http_server_free(s);
	actr_reactor_run_once(r, 0);
	actr_reactor_free(r);
	_exit(0);
}

struct cli {
	actr_reactor_t *r;
	actr_ws_t *ws;
	uint8_t msg[MSG];
	uint64_t *rtt;
	int sent;
	int got;
	uint64_t t_send;
	uint64_t t_start;
	uint64_t t_end;
	bool failed;
};

static void cli_send(struct cli *c)
{
	c->t_send = actr_time_ns();
	if (actr_ws_send_binary(c->ws, c->msg, MSG) < 0)
		c->failed = true;
	c->sent++;
}

static void cli_open(actr_ws_t *ws, void *arg)
{
	cli_send(arg);
}

static void cli_msg(actr_ws_t *ws, bool text, const uint8_t *d, size_t n,
		    void *arg)
{
	struct cli *c = arg;
	uint64_t now = actr_time_ns();

	if (n != MSG) {
		c->failed = true;
		actr_reactor_stop(c->r);
		return;
	}
	if (c->got >= WARMUP)
		c->rtt[c->got - WARMUP] = now - c->t_send;
	if (++c->got == WARMUP)
		c->t_start = now;
	if (c->got == WARMUP + nmsg ||
	    (c->t_start && now - c->t_start > TIME_LIMIT_NS)) {
		c->t_end = now;
		actr_ws_close(ws, 1000, NULL);
		return;
	}
	cli_send(c);
}

static void cli_close(actr_ws_t *ws, int code, const char *reason, void *arg)
{
	struct cli *c = arg;

	if (c->got < WARMUP + 1) {
		fprintf(stderr, "ws_echo: closed early: %d %s\n", code, reason);
		c->failed = true;
	}
	actr_reactor_stop(c->r);
}

static int bench_ws(int cpu, struct result *res)
{
	static const struct actr_ws_callbacks cbs = {
		.on_open = cli_open,
		.on_message = cli_msg,
		.on_close = cli_close,
	};
	struct actr_ws_client_config cfg = { 0 };
	struct cli c = { 0 };
	char url[64];
	int pfd[2], st;
	uint16_t port;
	pid_t pid;

	if (pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		ws_server(cpu, pfd[1]);
	}
	close(pfd[1]);
	if (read(pfd[0], &port, sizeof(port)) != sizeof(port))
		return -1;
	close(pfd[0]);
	c.r = actr_reactor_new();
	c.rtt = calloc((size_t)nmsg, sizeof(uint64_t));
	memset(c.msg, 0xab, sizeof(c.msg));
	snprintf(url, sizeof(url), "ws://127.0.0.1:%u/", port);
	cfg.url = url;
	c.ws = actr_ws_connect(c.r, &cfg, &cbs, &c);
	if (!c.ws)
		return -1;
	actr_reactor_run(c.r);
	for (int i = 0; i < 10; i++)
		actr_reactor_run_once(c.r, 10);
	waitpid(pid, &st, 0);
	if (c.failed || c.got <= WARMUP) {
		free(c.rtt);
		actr_reactor_free(c.r);
		return -1;
	}
	summarize(c.rtt, c.got - WARMUP, c.t_end - c.t_start, res);
	free(c.rtt);
	actr_reactor_free(c.r);
	return c.failed ? -1 : 0;
}

/* ---- raw TCP ------------------------------------------------------------------ */

static int full_io(int fd, void *buf, size_t n, bool wr)
{
	size_t done = 0;

	while (done < n) {
		ssize_t k = wr ? write(fd, (char *)buf + done, n - done)
			       : read(fd, (char *)buf + done, n - done);

		if (k <= 0)
			return -1;
		done += (size_t)k;
	}
	return 0;
}

static int bench_tcp(int cpu, struct result *res)
{
	struct sockaddr_in a = { 0 };
	socklen_t sl = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fd, one = 1, st;
	uint8_t buf[MSG];
	uint64_t *rtt = calloc((size_t)nmsg, sizeof(uint64_t));
	uint64_t t0 = 0, t1;
	int n = 0, rc = -1;
	pid_t pid;

	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!rtt || lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &sl) < 0)
		goto out_close_listener;
	pid = fork();
	if (pid < 0)
		goto out_close_listener;
	if (pid == 0) {
		int cfd;

		pin(cpu);
		cfd = accept(lfd, NULL, NULL);
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		while (full_io(cfd, buf, MSG, false) == 0 &&
		       full_io(cfd, buf, MSG, true) == 0)
			;
		_exit(0);
	}
	close(lfd);
	lfd = -1;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		goto out_reap_child;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(buf, 0xab, sizeof(buf));
	for (int i = 0; i < WARMUP + nmsg; i++) {
		uint64_t s = actr_time_ns();

		if (i == WARMUP)
			t0 = s;
		if (full_io(fd, buf, MSG, true) < 0 ||
		    full_io(fd, buf, MSG, false) < 0)
			break;
		if (i >= WARMUP)
			rtt[n++] = actr_time_ns() - s;
		if (t0 && actr_time_ns() - t0 > TIME_LIMIT_NS)
			break;
	}
	t1 = actr_time_ns();
	close(fd);
	waitpid(pid, &st, 0);
	summarize(rtt, n, t1 - t0, res);
	free(rtt);
	return 0;

out_reap_child: /* it waits in accept() */
	if (fd >= 0)
		close(fd);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
out_close_listener:
	if (lfd >= 0)
		close(lfd);
	free(rtt);
	return rc;
}

/* ---- raw TCP on the reactor (epoll, non-blocking) --------------------------------- */

struct rio {
	actr_reactor_t *r;
	actr_io_t io;
	uint8_t buf[MSG];
	size_t have;
	bool client;
	uint64_t *rtt;
	int got;
	uint64_t t_send;
	uint64_t t_start;
	uint64_t t_end;
};

static void rio_cb(actr_io_t *io, unsigned ev, void *arg)
{
	struct rio *x = arg;
	ssize_t k = read(io->fd, x->buf + x->have, MSG - x->have);
	uint64_t now;

	if (k <= 0) {
		actr_reactor_stop(x->r);
		return;
	}
	x->have += (size_t)k;
	if (x->have < MSG)
		return;
	x->have = 0;
	if (!x->client) {
		if (write(io->fd, x->buf, MSG) != MSG)
			actr_reactor_stop(x->r);
		return;
	}
	now = actr_time_ns();
	if (x->got >= WARMUP)
		x->rtt[x->got - WARMUP] = now - x->t_send;
	if (++x->got == WARMUP)
		x->t_start = now;
	if (x->got == WARMUP + nmsg ||
	    (x->t_start && now - x->t_start > TIME_LIMIT_NS)) {
		x->t_end = now;
		actr_reactor_stop(x->r);
		return;
	}
	x->t_send = actr_time_ns();
	if (write(io->fd, x->buf, MSG) != MSG)
		actr_reactor_stop(x->r);
}

static void rio_run(int fd, struct rio *x)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	x->r = actr_reactor_new();
	actr_io_init(x->r, &x->io, fd, rio_cb, x);
	actr_io_set(&x->io, ACTR_READ);
	if (x->client) {
		x->t_send = actr_time_ns();
		if (write(fd, x->buf, MSG) != MSG)
			return;
	}
	actr_reactor_run(x->r);
	actr_io_close(&x->io);
	actr_reactor_free(x->r);
}

static int bench_tcp_reactor(int cpu, struct result *res)
{
	struct sockaddr_in a = { 0 };
	socklen_t sl = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fd, st;
	struct rio x = { 0 };
	pid_t pid;

	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &sl) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct rio srv = { 0 };

		pin(cpu);
		fd = accept(lfd, NULL, NULL);
		rio_run(fd, &srv);
		_exit(0);
	}
	close(lfd);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	x.client = true;
	x.rtt = calloc((size_t)nmsg, sizeof(uint64_t));
	memset(x.buf, 0xab, sizeof(x.buf));
	rio_run(fd, &x);
	close(fd);
	waitpid(pid, &st, 0);
	if (x.got <= WARMUP) {
		free(x.rtt);
		return -1;
	}
	summarize(x.rtt, x.got - WARMUP, x.t_end - x.t_start, res);
	free(x.rtt);
	return 0;
}

#define ROUNDS 3

/* Field-wise medians of ROUNDS results. */
static struct result median_of(struct result *r)
{
	double p50[ROUNDS], p99[ROUNDS], rate[ROUNDS];
	struct result m = r[0];

	for (int k = 0; k < ROUNDS; k++) {
		p50[k] = r[k].p50_us;
		p99[k] = r[k].p99_us;
		rate[k] = r[k].msgs_per_s;
	}
	m.p50_us = bench_median(p50, ROUNDS);
	m.p99_us = bench_median(p99, ROUNDS);
	m.msgs_per_s = bench_median(rate, ROUNDS);
	return m;
}

static void out_row(const char *row, const char *role, const struct result *r,
		    const char *note)
{
	bench_out_row(&(struct bench_row){
		.bench = "ws_echo", .group = "WebSocket echo 64 B",
		.row = row, .role = role, .p50_us = r->p50_us,
		.p99_us = r->p99_us, .throughput = r->msgs_per_s,
		.unit = "msgs/s", .n = (uint64_t)r->n, .rounds = ROUNDS,
		.note = note,
	});
}

int main(int argc, char **argv)
{
	struct result ws, tcp, rt, wsk[ROUNDS], tcpk[ROUNDS], rtk[ROUNDS];
	int cpu = 0;

	if (argc > 1)
		nmsg = atoi(argv[1]);
	if (argc > 2)
		cpu = atoi(argv[2]);
	if (nmsg < 100 || nmsg > 10000000)
		nmsg = 20000;
	signal(SIGPIPE, SIG_IGN);
	actr_log_set_level(ACTR_LOG_ERROR);
	pin(cpu);
	/* Interleaved WebSocket, TCP, TCP+epoll, ROUNDS times; the medians
	 * count, so a burst of load elsewhere on a shared machine does not
	 * land on one side only. */
	for (int k = 0; k < ROUNDS; k++) {
		if (bench_ws(cpu, &wsk[k]) < 0 ||
		    bench_tcp(cpu, &tcpk[k]) < 0 ||
		    bench_tcp_reactor(cpu, &rtk[k]) < 0) {
			fprintf(stderr, "ws_echo: benchmark failed\n");
			return 1;
		}
	}
	ws = median_of(wsk);
	tcp = median_of(tcpk);
	rt = median_of(rtk);
	out_row("raw TCP", "baseline", &tcp,
		"blocking sockets, TCP_NODELAY");
	out_row("WebSocket", "subject", &ws, "actr_ws client and server");
	out_row("TCP on the actr reactor", "subject", &rt,
		"the same TCP exchange driven by epoll");
	printf("ws_echo: %d-byte messages, one in flight, both processes on "
	       "CPU %d, %d round trips after %d warm-up\n",
	       MSG, cpu, ws.n, WARMUP);
	printf("  raw TCP   p50 %7.1f us  p99 %7.1f us  %9.0f msgs/s\n",
	       tcp.p50_us, tcp.p99_us, tcp.msgs_per_s);
	printf("  TCP+epoll p50 %7.1f us  p99 %7.1f us  %9.0f msgs/s  "
	       "(same TCP exchange on the reactor)\n",
	       rt.p50_us, rt.p99_us, rt.msgs_per_s);
	printf("  WebSocket p50 %7.1f us  p99 %7.1f us  %9.0f msgs/s\n",
	       ws.p50_us, ws.p99_us, ws.msgs_per_s);
	printf("  ratio WebSocket/TCP: p50 %.2fx  p99 %.2fx  throughput %.2fx\n",
	       ws.p50_us / tcp.p50_us, ws.p99_us / tcp.p99_us,
	       ws.msgs_per_s / tcp.msgs_per_s);
	printf("  ratio WebSocket/TCP+epoll: p50 %.2fx  p99 %.2fx  "
	       "throughput %.2fx\n",
	       ws.p50_us / rt.p50_us, ws.p99_us / rt.p99_us,
	       ws.msgs_per_s / rt.msgs_per_s);
	return 0;
}
