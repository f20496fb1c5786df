/*
 * bench/ws_lane: 64-byte Echo round trips between two processes over the
 * direct WebSocket lane (runtime + peer gate + WebSocket over TCP), next
 * to a raw TCP ping-pong of the same size and, for context, the same
 * call over a WebRTC DataChannel, all in the same run.
 *
 *   build/bench/ws_lane [--calls N] [--cpu C] [--size B] [--repeat R]
 *                       [--no-webrtc]
 *
 * This process pins itself to CPU C (default 0), runs actr-signal in
 * process and two client nodes; it starts itself once more as the echo
 * server (same CPU), which listens for direct WebSockets and registers
 * its ws_address. One client prefers the WebSocket lane, the other
 * calls the same server over WebRTC. Each measurement is R rounds
 * (default 5) of N sequential calls, each issued from the previous
 * reply's callback as an actor chaining calls does; the printed p50/p99
 * are the median over the rounds. The raw TCP ping-pong (a forked echo
 * on the same CPU, TCP_NODELAY, blocking read/write) is measured the
 * same way; the rounds of the three alternate, and the ratio of the
 * p50s is the figure of merit (target: <= 1.5).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
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
#include <actr/peer.h>
#include <actr/runtime.h>

#include "examples/echo_actor/echo.pb-c.h"
#include "server/signal_internal.h"
#include "bench/bench.h"

#define MAX_REPEAT 15

/* ---- server role ------------------------------------------------------- */

static int Echo(actr_ctx_t *ctx, const Echo__EchoRequest *req)
{
	Echo__EchoResponse resp = ECHO__ECHO_RESPONSE__INIT;

	resp.reply = req->message;
	resp.timestamp = 1;
	return actr_reply(ctx, &resp.base);
}

static const actr_method_t methods[] = { ACTR_METHOD("Echo", Echo),
					 ACTR_METHOD_END };

static int run_server(const char *url)
{
	actr_system_config_t sc = { .realm_id = 101 };
	actr_peer_config_t pc = { .signaling_url = url, .realm_secret = "pw",
				  .local_addr = "127.0.0.1",
				  .ws_listen = "127.0.0.1" };
	actr_reactor_t *r = actr_reactor_new();
	actr_system_t *sys = r ? actr_system_new(r, &sc) : NULL;
	actr_workload_t *w = actr_workload_new("acme", "echo", "1.0.0");
	actr_node_t *n;
	actr_peer_t *p;
	actr_ref_t *ref;

	if (!sys || !w ||
	    actr_workload_add_service(w, &echo__echo_service__descriptor,
				      methods) < 0 ||
	    !(n = actr_node_new(sys, w, 0)) || !(p = actr_peer_new(n, &pc)) ||
	    actr_node_start(n, &ref) < 0 || actr_peer_start(p) < 0)
		return 1;
	actr_ref_run_until_signal(ref);
	actr_peer_free(p);
	actr_system_free(sys);
	drain(r);
	actr_reactor_free(r);
	return 0;
}

static pid_t spawn(const char *url)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	pid_t pid;

	if (n <= 0)
		return -1;
	exe[n] = '\0';
	pid = fork();
	if (pid == 0) {
		execl(exe, exe, "--role-server", url, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* ---- figures ------------------------------------------------------------ */

struct fig {
	double p50[MAX_REPEAT], p99[MAX_REPEAT], rate[MAX_REPEAT];
	int n;
};

static void add_round(struct fig *f, uint64_t *lat, int n, uint64_t total)
{
	qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
	f->p50[f->n] = (double)lat[n / 2] / 1e3;
	f->p99[f->n] = (double)lat[(size_t)n * 99 / 100] / 1e3;
	f->rate[f->n] = (double)n / ((double)total / 1e9);
	f->n++;
}

static double median(double *v, int n)
{
	double s[MAX_REPEAT];

	memcpy(s, v, sizeof(*v) * (size_t)n);
	qsort(s, (size_t)n, sizeof(*s), cmp_dbl);
	return s[n / 2];
}

static double report(const char *what, struct fig *f, const char *row,
		     const char *role, int calls)
{
	double p50 = median(f->p50, f->n);

	bench_out_row(&(struct bench_row){
		.bench = "ws_lane", .group = "actor call over WebSocket 64 B",
		.row = row, .role = role, .p50_us = p50,
		.p99_us = median(f->p99, f->n),
		.throughput = median(f->rate, f->n), .unit = "calls/s",
		.n = (uint64_t)calls, .rounds = (unsigned)f->n,
	});
	printf("  %-28s p50 %7.1f us  p99 %7.1f us  %8.0f calls/s  "
	       "(median of %d)\n", what, p50, median(f->p99, f->n),
	       median(f->rate, f->n), f->n);
	return p50;
}

/* ---- client ------------------------------------------------------------ */

struct run {
	actr_peer_t *peer;
	Actr__ActrType type;		/* target */
	int done;			/* completions */
	int last_status;
	/* a timed round: each reply issues the next call from its
	 * callback, as an actor chaining calls would (no reactor
	 * iteration between a reply and the next request) */
	uint64_t *lat;			/* round latencies, or NULL */
	int i, n;			/* next index, round size */
	uint64_t t0;			/* current call issued */
	char msg[4096];			/* the payload text */
};

static int issue(struct run *x, uint32_t timeout);

static void on_res(const actr_result_t *r, void *arg)
{
	struct run *x = arg;

	x->done++;
	x->last_status = r->status;
	if (!x->lat)
		return;
	if (r->status < 0) {
		x->lat = NULL;	/* the round failed */
		return;
	}
	x->lat[x->i++] = actr_time_ns() - x->t0;
	if (x->i < x->n && issue(x, 5000) < 0)
		x->lat = NULL;
}

static int issue(struct run *x, uint32_t timeout)
{
	Echo__EchoRequest req = ECHO__ECHO_REQUEST__INIT;

	req.message = x->msg;
	x->t0 = actr_time_ns();
	return actr_peer_call(x->peer, &x->type, "echo.EchoService.Echo",
			      &req.base, &echo__echo_response__descriptor,
			      timeout, on_res, x);
}

static int one_call(actr_reactor_t *r, struct run *x, uint32_t timeout)
{
	int want = x->done + 1;
	uint64_t end = actr_time_ns() + ACTR_MS(timeout + 1000);

	if (issue(x, timeout) < 0)
		return -1;
	while (x->done < want && actr_time_ns() < end)
		actr_reactor_run_once(r, 100);
	return x->done == want ? x->last_status : -ACTR_ETIMEDOUT;
}

/* Setup (the first call) and warm-up. */
static int setup(actr_reactor_t *r, struct run *x, actr_peer_t *peer,
		 int n, size_t size, const char *label)
{
	uint64_t t0, t1;
	int rc = -1, tries = 0;

	x->peer = peer;
	actr__actr_type__init(&x->type);
	x->type.manufacturer = "acme";
	x->type.name = "echo";
	x->type.version = "1.0.0";
	memset(x->msg, 'x', size < sizeof(x->msg) ? size : sizeof(x->msg) - 1);
	do {
		t0 = actr_time_ns();
		rc = one_call(r, x, 10000);
		t1 = actr_time_ns();
		if (rc == -ACTR_ENOTFOUND)	/* not registered yet */
			for (int i = 0; i < 5; i++)
				actr_reactor_run_once(r, 10);
	} while (rc == -ACTR_ENOTFOUND && ++tries < 200);
	if (rc < 0) {
		fprintf(stderr, "ws_lane: first call failed: %s\n",
			actr_strerror(rc));
		return -1;
	}
	printf("  %-28s setup + first call %.2f ms\n", label,
	       (double)(t1 - t0) / 1e6);
	for (int i = 0; i < n / 10 + 10; i++)	/* warm-up */
		if (one_call(r, x, 5000) < 0)
			break;
	return 0;
}

/* One round of n timed sequential calls. */
static int round_calls(actr_reactor_t *r, struct run *x, int n,
		       uint64_t *lat, struct fig *f)
{
	uint64_t start = actr_time_ns();
	uint64_t end = start + ACTR_MS(5000) * (uint64_t)n;

	x->lat = lat;
	x->i = 0;
	x->n = n;
	if (issue(x, 5000) < 0)
		return -1;
	while (x->lat && x->i < n && actr_time_ns() < end)
		actr_reactor_run_once(r, 100);
	if (!x->lat || x->i < n) {
		fprintf(stderr, "ws_lane: call %d failed\n", x->i);
		return -1;
	}
	x->lat = NULL;
	add_round(f, lat, n, actr_time_ns() - start);
	return 0;
}

/* ---- raw TCP ping-pong ------------------------------------------------- */

static int full_io(int fd, uint8_t *buf, size_t n, bool wr)
{
	for (size_t off = 0; off < n;) {
		ssize_t k = wr ? write(fd, buf + off, n - off)
			       : read(fd, buf + off, n - off);

		if (k <= 0)
			return -1;
		off += (size_t)k;
	}
	return 0;
}

/* A forked TCP echo on the same CPU; returns the connected socket. */
static int tcp_start(size_t size, int n, pid_t *pid_out)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t sl = sizeof(a);
	uint8_t buf[4096] = { 0 };
	int ls = socket(AF_INET, SOCK_STREAM, 0), s, one = 1;
	pid_t pid;

	if (size > sizeof(buf))
		return -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(ls, (struct sockaddr *)&a, &sl) < 0 ||
	    listen(ls, 1) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		int c = accept(ls, NULL, NULL);

		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		while (full_io(c, buf, size, false) == 0 &&
		       full_io(c, buf, size, true) == 0)
			;
		_exit(0);
	}
	close(ls);
	*pid_out = pid;
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (int i = 0; i < n / 10 + 10; i++)	/* warm-up */
		if (full_io(s, buf, size, true) || full_io(s, buf, size, false))
			return -1;
	return s;
}

static int tcp_round(int s, size_t size, int n, uint64_t *lat,
		     struct fig *f)
{
	uint8_t buf[4096] = { 0 };
	uint64_t t0, start = actr_time_ns();

	for (int i = 0; i < n; i++) {
		t0 = actr_time_ns();
		if (full_io(s, buf, size, true) || full_io(s, buf, size, false))
			return -1;
		lat[i] = actr_time_ns() - t0;
	}
	add_round(f, lat, n, actr_time_ns() - start);
	return 0;
}

static actr_peer_t *client(actr_reactor_t *r, const char *url,
			   const char *name, bool ws, actr_system_t **sys)
{
	actr_system_config_t sc = { .realm_id = 101 };
	actr_peer_config_t pc = { .realm_secret = "pw",
				  .local_addr = "127.0.0.1",
				  .signaling_url = url, .prefer_ws = ws };
	actr_node_t *node;
	actr_peer_t *peer;
	actr_ref_t *ref;

	*sys = actr_system_new(r, &sc);
	node = *sys ? actr_node_new(*sys, actr_workload_new("acme", name,
							    "1.0.0"), 0)
		    : NULL;
	peer = node ? actr_peer_new(node, &pc) : NULL;
	if (!peer || actr_node_start(node, &ref) < 0 ||
	    actr_peer_start(peer) < 0)
		return NULL;
	return peer;
}

int main(int argc, char **argv)
{
	struct actr__sig_config scfg;
	struct actr__sig_listen_config lc = { .host = "127.0.0.1" };
	struct fig fws = { 0 }, frtc = { 0 }, ftcp = { 0 };
	struct actr__sig_listener *l;
	actr_reactor_t *r;
	actr_system_t *sys1, *sys2;
	actr_peer_t *pws, *prtc;
	actr_peer_ws_stats_t wst;
	char url[64];
	double p_ws = 0, p_rtc = 0, p_tcp = 0;
	int n = 10000, cpu = 0, rounds = 5, rc = 0;
	size_t size = 64;
	static struct run xws, xrtc;
	uint64_t *lat = NULL;
	int ts = -1;
	bool no_rtc = false;
	pid_t srv, tpid = -1;
	uint64_t end;

	if (argc == 3 && !strcmp(argv[1], "--role-server"))
		return run_server(argv[2]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--calls") && i + 1 < argc)
			n = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--cpu") && i + 1 < argc)
			cpu = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--size") && i + 1 < argc)
			size = (size_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--no-webrtc"))
			no_rtc = true;
		else {
			fprintf(stderr, "usage: %s [--calls N] [--cpu C] "
				"[--size B] [--repeat R] [--no-webrtc]\n",
				argv[0]);
			return 2;
		}
	}
	if (n < 100)
		n = 100;
	if (rounds < 1 || rounds > MAX_REPEAT)
		rounds = 5;
	pin(cpu);
	if (actr_log_get_level() == ACTR_LOG_INFO && !getenv("ACTR_LOG"))
		actr_log_set_level(ACTR_LOG_WARN);
	setenv("ACTR_LOG", "warn", 0);	/* the server too */
	printf("ws_lane: %zu-byte Echo, %d rounds of %d sequential calls, "
	       "client and server on CPU %d, loopback\n", size, rounds, n,
	       cpu);
	r = actr_reactor_new();
	actr__sig_config_defaults(&scfg);
	scfg.db_path = ":memory:";
	scfg.msg_per_s = scfg.msg_burst = 1e6;
	l = r ? actr__sig_listen(r, &scfg, &lc) : NULL;
	if (!l || actr__sig_add_realm(actr__sig_listener_core(l), 101,
				      "pw") < 0)
		return 1;
	snprintf(url, sizeof(url), "ws://127.0.0.1:%u",
		 actr__sig_listener_port(l));
	pws = client(r, url, "bench-ws", true, &sys1);
	prtc = client(r, url, "bench-rtc", false, &sys2);
	if (!pws || !prtc)
		return 1;
	srv = spawn(url);
	end = actr_time_ns() + ACTR_MS(10000);
	while ((!actr_peer_ready(pws) || !actr_peer_ready(prtc) ||
		actr__sig_live_count(actr__sig_listener_core(l)) < 3) &&
	       actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
	lat = calloc((size_t)n, sizeof(*lat));
	if (!lat || setup(r, &xws, pws, n, size, "actr WebSocket lane") < 0 ||
	    (!no_rtc &&
	     setup(r, &xrtc, prtc, n, size, "actr WebRTC DataChannel") < 0) ||
	    (ts = tcp_start(size, n, &tpid)) < 0)
		rc = 1;
	/* rounds interleaved, so that load from elsewhere hits all three
	 * alike */
	for (int k = 0; k < rounds && !rc; k++)
		if (round_calls(r, &xws, n, lat, &fws) < 0 ||
		    (!no_rtc && round_calls(r, &xrtc, n, lat, &frtc) < 0) ||
		    tcp_round(ts, size, n, lat, &ftcp) < 0)
			rc = 1;
	if (ts >= 0)
		close(ts);	/* the echo child exits */
	if (tpid > 0)
		waitpid(tpid, NULL, 0);
	free(lat);
	actr_peer_get_ws_stats(pws, &wst);
	if (!rc && wst.conns_out != 1) {
		fprintf(stderr, "ws_lane: the calls did not use the "
			"WebSocket lane\n");
		rc = 1;
	}
	stop(r, srv);
	actr_peer_free(pws);
	actr_peer_free(prtc);
	actr_system_free(sys1);
	actr_system_free(sys2);
	actr__sig_listener_free(l);
	drain(r);
	actr_reactor_free(r);
	if (rc)
		return rc;
	p_ws = report("actr WebSocket lane", &fws, "WebSocket lane", "subject",
		      n);
	if (!no_rtc)
		p_rtc = report("actr WebRTC DataChannel", &frtc,
			       "WebRTC DataChannel", "subject", n);
	p_tcp = report("raw TCP ping-pong", &ftcp, "raw TCP", "baseline", n);
	printf("  p50 ratio to raw TCP: WebSocket lane %.2fx (target <= "
	       "1.5x), WebRTC %.2fx\n", p_ws / p_tcp, p_rtc / p_tcp);
	return 0;
}
