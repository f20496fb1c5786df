/*
 * bench/datachannel: the peer connection between two processes on
 * loopback, both pinned to one CPU.
 *
 *   - raw UDP ping-pong, 64 B (the physical floor, same run);
 *   - setup: offer created -> all four channels open, per connection
 *     (the first, cold connection of the processes reported apart);
 *   - echo: 64 B on RPC_RELIABLE, round trips, p50/p99;
 *   - throughput: one-way 64 KiB messages on STREAM_RELIABLE.
 *
 * Usage: datachannel [round_trips=20000] [setups=30] [megabytes=256]
 * Environment: ACTR_BENCH_CPU (default 0), ACTR_BENCH_MTU (SCTP packet
 * size on loopback, default 1200), ACTR_BENCH_TA (ICE check pacing in ms,
 * default 5), ACTR_BENCH_UDP_MB (size of the raw UDP baselines, default
 * 256), ACTR_BENCH_DIRECT=0 (data through libnice, not the direct UDP
 * path), ACTR_BENCH_GSO=0 (direct path without UDP GSO), ACTR_BENCH_REPS
 * (rounds of each figure, medians reported, default 3),
 * ACTR_BENCH_METRICS=R (then, R alternating rounds of echo and
 * throughput with the metrics endpoint off and on in both processes: its
 * cost on this path, same run).
 * The SDP travels over a socketpair (the bench's signaling). Both
 * processes opt in to the heap tuning (actr_set_malloc_tuning), as the
 * README's figures assume.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/metrics.h>
#include <actr/net.h>

#include "core/internal.h"
#include "wire/dtls.h"
#include "wire/pc.h"
#include "bench/bench.h"

#define MSG 64
#define BIG (64u << 10)

static double pct(uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return (double)v[i] / 1000.0; /* us */
}

static void die(const char *what)
{
	fprintf(stderr, "datachannel: %s\n", what);
	exit(1);
}

/* CPU seconds (user + system) of this process. */
static double cpu_self(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	       ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) /
		       1e6;
}

/* CPU seconds of a live child, from /proc (clock-tick resolution). */
static double cpu_pid(pid_t pid)
{
	char path[64], line[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
	fclose(f);
	/* after ")": state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			 "%lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Seconds a process spent runnable but waiting for the CPU (other load on
 * the pinned CPU), from /proc/PID/schedstat; 0 when unavailable. */
static double cpu_wait(pid_t pid)
{
	char path[64];
	unsigned long long run = 0, wait = 0;
	FILE *f;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/schedstat");
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &run, &wait) != 2)
		wait = 0;
	fclose(f);
	return (double)wait / 1e9;
}

/* ---- raw UDP ------------------------------------------------------------ */

static int udp_socket(struct sockaddr_in *sa)
{
	socklen_t sl = sizeof(*sa);
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || bind(s, (struct sockaddr *)sa, sizeof(*sa)) < 0 ||
	    getsockname(s, (struct sockaddr *)sa, &sl) < 0)
		die("udp socket");
	return s;
}

static char udp_samples[512];	/* the raw UDP CDF, for the echo row */

static double bench_udp(int n, double *p99, bool save)
{
	struct sockaddr_in a, b;
	int sa = udp_socket(&a), sb = udp_socket(&b);
	uint64_t *rtt = calloc((size_t)n, sizeof(*rtt));
	char buf[MSG];
	pid_t pid;

	struct timeval tv = { 5, 0 };
	setsockopt(sa, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(sb, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	pid = fork();
	if (pid == 0) {
		for (int i = 0; i < n + 100; i++) {
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t k = recvfrom(sb, buf, sizeof(buf), 0,
					     (struct sockaddr *)&from, &fl);

			if (k <= 0)
				_exit(1);
			sendto(sb, buf, (size_t)k, 0, (struct sockaddr *)&from,
			       fl);
		}
		_exit(0);
	}
	memset(buf, 'u', sizeof(buf));
	for (int i = 0; i < n + 100; i++) {
		uint64_t t0 = actr_time_ns();

		sendto(sa, buf, MSG, 0, (struct sockaddr *)&b, sizeof(b));
		if (recv(sa, buf, sizeof(buf), 0) != MSG)
			die("udp echo lost");
		if (i >= 100)
			rtt[i - 100] = actr_time_ns() - t0;
	}
	waitpid(pid, NULL, 0);
	qsort(rtt, (size_t)n, sizeof(*rtt), cmp_u64);
	printf("raw UDP 64 B ping-pong: p50 %.1f us  p99 %.1f us  (%d round trips)\n",
	       pct(rtt, (size_t)n, 0.5), pct(rtt, (size_t)n, 0.99), n);
	fflush(stdout);
	close(sa);
	close(sb);
	double p50 = pct(rtt, (size_t)n, 0.5);
	const char *sp = save ? bench_out_samples_ns("datachannel", "echo 64 B",
						     "raw UDP", rtt, (size_t)n)
			      : NULL;

	if (sp)
		snprintf(udp_samples, sizeof(udp_samples), "%s", sp);
	*p99 = pct(rtt, (size_t)n, 0.99);

	free(rtt);
	return p50;
}

/* One-way UDP goodput with 1200-byte datagrams (the ceiling for SCTP
 * packets of that size over this kernel and CPU). */
static double bench_udp_throughput(uint64_t total)
{
	struct sockaddr_in a, b;
	int sa = udp_socket(&a), sb = udp_socket(&b), pfd[2];
	int big = 4 << 20;
	char buf[1200];
	uint64_t got = 0, t0, dt;
	pid_t pid;

	setsockopt(sb, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	struct timeval tv = { 1, 0 };
	setsockopt(sb, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (pipe(pfd) < 0)
		die("pipe");
	pid = fork();
	if (pid == 0) {
		for (;;) {
			ssize_t k = recv(sb, buf, sizeof(buf), 0);

			if (k <= 1)
				break; /* end marker or timeout */
			got += (uint64_t)k;
		}
		if (write(pfd[1], &got, sizeof(got)) != sizeof(got))
			_exit(1);
		_exit(0);
	}
	memset(buf, 'r', sizeof(buf));
	t0 = actr_time_ns();
	for (uint64_t sent = 0; sent < total; sent += sizeof(buf))
		sendto(sa, buf, sizeof(buf), 0, (struct sockaddr *)&b,
		       sizeof(b));
	for (int i = 0; i < 3; i++)
		sendto(sa, buf, 1, 0, (struct sockaddr *)&b, sizeof(b));
	if (read(pfd[0], &got, sizeof(got)) != sizeof(got))
		die("udp throughput");
	dt = actr_time_ns() - t0;
	waitpid(pid, NULL, 0);
	close(pfd[0]);
	close(pfd[1]);
	close(sa);
	close(sb);
	double mbps = (double)got / ((double)dt / 1e9) / 1e6;

	printf("raw UDP one-way 1200 B datagrams: %.1f MB/s received (%.0f%% of %.0f MiB sent)\n",
	       mbps, 100.0 * (double)got / (double)total,
	       (double)total / (1 << 20));
	fflush(stdout);
	return mbps;
}

/* The same with sendmmsg/recvmmsg, 32 datagrams per call: the floor for a
 * stack that batches its system calls (the kernel's own per-datagram cost
 * on this machine). */
#define MMSG 32
static double bench_udp_batched(uint64_t total)
{
	struct sockaddr_in a, b;
	int sa = udp_socket(&a), sb = udp_socket(&b), pfd[2];
	int big = 4 << 20;
	static char bufs[MMSG][1200];
	struct mmsghdr mm[MMSG];
	struct iovec iov[MMSG];
	uint64_t got = 0, t0, dt;
	double c0;
	pid_t pid;

	setsockopt(sb, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	struct timeval tv = { 1, 0 };
	setsockopt(sb, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(mm, 0, sizeof(mm));
	for (int i = 0; i < MMSG; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = sizeof(bufs[i]);
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	if (pipe(pfd) < 0)
		die("pipe");
	pid = fork();
	if (pid == 0) {
		bool end = false;

		while (!end) {
			int n = recvmmsg(sb, mm, MMSG, MSG_WAITFORONE, NULL);

			if (n <= 0)
				break; /* timeout */
			for (int i = 0; i < n; i++) {
				if (mm[i].msg_len <= 1)
					end = true; /* end marker */
				else
					got += mm[i].msg_len;
			}
		}
		double cc = cpu_self();

		if (write(pfd[1], &got, sizeof(got)) != sizeof(got) ||
		    write(pfd[1], &cc, sizeof(cc)) != sizeof(cc))
			_exit(1);
		_exit(0);
	}
	for (int i = 0; i < MMSG; i++) {
		mm[i].msg_hdr.msg_name = &b;
		mm[i].msg_hdr.msg_namelen = sizeof(b);
		memset(bufs[i], 'r', sizeof(bufs[i]));
	}
	c0 = cpu_self();
	t0 = actr_time_ns();
	for (uint64_t sent = 0; sent < total;) {
		int n = sendmmsg(sa, mm, MMSG, 0);

		if (n > 0)
			sent += (uint64_t)n * sizeof(bufs[0]);
	}
	for (int i = 0; i < 3; i++)
		sendto(sa, bufs[0], 1, 0, (struct sockaddr *)&b, sizeof(b));
	double ccpu = 0;

	if (read(pfd[0], &got, sizeof(got)) != sizeof(got) ||
	    read(pfd[0], &ccpu, sizeof(ccpu)) != sizeof(ccpu))
		die("udp batched throughput");
	dt = actr_time_ns() - t0;
	double tcpu = cpu_self() - c0 + ccpu;

	waitpid(pid, NULL, 0);
	close(pfd[0]);
	close(pfd[1]);
	close(sa);
	close(sb);
	double mbps = (double)got / ((double)dt / 1e9) / 1e6;

	printf("raw UDP one-way 1200 B datagrams, sendmmsg/recvmmsg x%d: %.1f MB/s received (%.0f%%); "
	       "CPU %.1f us per datagram (both processes)\n",
	       MMSG, mbps, 100.0 * (double)got / (double)total,
	       tcpu > 0 ? tcpu * 1e6 / ((double)got / 1200.0) : 0.0);
	fflush(stdout);
	return mbps;
}

/* ---- signaling over a SOCK_SEQPACKET socketpair ---------------------- */

static void sig_send(int fd, char kind, const void *p, size_t n)
{
	char *m = malloc(n + 1);

	m[0] = kind;
	memcpy(m + 1, p, n);
	if (send(fd, m, n + 1, 0) != (ssize_t)(n + 1))
		die("signaling send");
	free(m);
}

/* ---- the answering process ------------------------------------------- */

struct node {
	actr_reactor_t *r;
	actr__dtls_cert_t *cert;
	struct actr__pc_config cfg;
	actr__pc_t *pc;
	actr__pc_t *prev;	/* previous connection, freed once the
				 * next is up (usrsctp stays initialised,
				 * as in a node with live connections) */
	int sig;
	actr_io_t io;
	int state;
	uint64_t rx_bytes;	/* STREAM_RELIABLE bytes received */
	int got;		/* messages on RPC_RELIABLE (offerer) */
	uint64_t reply;		/* RPC_SIGNAL reply (offerer) */
	bool got_reply;
	bool quit;
	bool offerer;
	actr_metrics_t *metrics;	/* ACTR_BENCH_METRICS: on, or NULL */
};

static void n_description(void *arg, bool offer, const char *sdp)
{
	struct node *nd = arg;

	sig_send(nd->sig, offer ? 'O' : 'A', sdp, strlen(sdp) + 1);
}

static void n_state(void *arg, int state, int err)
{
	struct node *nd = arg;

	nd->state = state;
	if (state == ACTR__PC_FAILED)
		fprintf(stderr, "datachannel: %s failed: %s\n",
			nd->offerer ? "offerer" : "answerer",
			actr_strerror(err));
}

static void n_message(void *arg, int lane, actr_buf_t *msg)
{
	struct node *nd = arg;

	if (nd->offerer) {
		if (lane == ACTR__LANE_RPC_SIGNAL && msg->len == 8) {
			memcpy(&nd->reply, msg->data, 8);
			nd->got_reply = true;
		} else {
			nd->got++;
		}
	} else if (lane == ACTR__LANE_RPC_RELIABLE) {
		actr__pc_send(nd->pc, lane, msg->data, msg->len);
	} else if (lane == ACTR__LANE_STREAM_RELIABLE && msg->len != 4) {
		nd->rx_bytes += msg->len;
	} else if (lane == ACTR__LANE_STREAM_RELIABLE) {
		/* the barrier, behind the data on the same ordered lane */
		actr__pc_send(nd->pc, ACTR__LANE_RPC_SIGNAL, &nd->rx_bytes, 8);
		nd->rx_bytes = 0;
	}
	actr_buf_unref(msg);
}

static const struct actr__pc_cbs ncbs = {
	n_description, NULL, n_state, n_message, NULL,
};

/* The metrics endpoint on nd's reactor (the reactor probes: iteration
 * time and lag; this path has no system or peer gate to watch). */
static void metrics_set(struct node *nd, bool on)
{
	struct actr_metrics_config mc = { ACTR_OPTS(mc) };

	if (on && !nd->metrics) {
		nd->metrics = actr_metrics_new(nd->r, &mc);
		if (!nd->metrics)
			die("metrics endpoint");
	} else if (!on && nd->metrics) {
		actr_metrics_free(nd->metrics);
		nd->metrics = NULL;
	}
}

static void on_sig(actr_io_t *io, unsigned ev, void *arg)
{
	struct node *nd = arg;
	static char buf[16384];
	ssize_t n = recv(nd->sig, buf, sizeof(buf) - 1, 0);

	if (n <= 0) {
		nd->quit = true;
		return;
	}
	buf[n] = 0;
	if (buf[0] == 'Q') {
		nd->quit = true;
	} else if (buf[0] == 'M' || buf[0] == 'm') {
		metrics_set(nd, buf[0] == 'M');
	} else if (buf[0] == 'O' && !nd->offerer) {
		if (nd->prev)
			actr__pc_free(nd->prev);
		nd->prev = nd->pc;
		nd->pc = actr__pc_new(nd->r, false, nd->cert, &nd->cfg, &ncbs,
				      nd);
		if (!nd->pc || actr__pc_set_remote(nd->pc, buf + 1,
						   strlen(buf + 1)) < 0)
			die("answerer: bad offer");
	} else if (buf[0] == 'A' && nd->offerer && nd->pc) {
		if (actr__pc_set_remote(nd->pc, buf + 1, strlen(buf + 1)) < 0)
			die("offerer: bad answer");
	}
}

static void node_init(struct node *nd, int sig, bool offerer)
{
	memset(nd, 0, sizeof(*nd));
	nd->r = actr_reactor_new();
	nd->cert = actr__dtls_cert_new();
	if (!nd->r || !nd->cert)
		die("reactor/cert");
	nd->cfg.ice.local_addrs[0] = "127.0.0.1";
	nd->cfg.trickle = false;
	nd->cfg.handshake_timeout_ms = 10000;
	/* $ACTR_BENCH_MTU: SCTP packets on the loopback pair (default 1200,
	 * the network-safe size; up to 16000). */
	/* $ACTR_BENCH_TA: ICE check pacing in ms (default 5, RFC floor). */
	if (getenv("ACTR_BENCH_TA"))
		nd->cfg.ice.pacing_ms = (unsigned)atoi(getenv("ACTR_BENCH_TA"));
	/* $ACTR_BENCH_DIRECT=0: data through libnice (no sendmmsg/recvmmsg
	 * path), for comparison. */
	if (getenv("ACTR_BENCH_DIRECT") && !atoi(getenv("ACTR_BENCH_DIRECT")))
		nd->cfg.ice.no_direct = true;
	/* $ACTR_BENCH_GSO=0: the direct path without UDP GSO runs. */
	if (getenv("ACTR_BENCH_GSO") && !atoi(getenv("ACTR_BENCH_GSO")))
		nd->cfg.ice.no_gso = true;
	if (getenv("ACTR_BENCH_MTU"))
		nd->cfg.sctp_mtu = (unsigned)atoi(getenv("ACTR_BENCH_MTU"));
	nd->sig = sig;
	nd->offerer = offerer;
	actr_io_init(nd->r, &nd->io, sig, on_sig, nd);
	actr_io_set(&nd->io, ACTR_READ);
}

static void answerer(int sig)
{
	struct node nd;

	pin_env(0);
	node_init(&nd, sig, false);
	while (!nd.quit) {
		actr_reactor_run_once(nd.r, 1000);
		if (nd.prev && nd.pc &&
		    actr__pc_state(nd.pc) == ACTR__PC_CONNECTED) {
			actr__pc_free(nd.prev);
			nd.prev = NULL;
		}
	}
	if (nd.pc) {
		struct actr__pc_stats st;

		actr__pc_get_stats(nd.pc, &st);
		fprintf(stderr, "answerer: frags in %llu msgs in %llu bad %llu\n",
			(unsigned long long)st.frags_in,
			(unsigned long long)st.msgs_in,
			(unsigned long long)st.bad_frags);
	}
	actr__pc_free(nd.pc);
	actr__pc_free(nd.prev);
	_exit(0);
}

/* ---- the offering process (measures) ------------------------------------ */

static bool run_until(struct node *nd, bool *flag, uint64_t ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(ms);

	while (!*flag && actr_time_ns() < end)
		actr_reactor_run_once(nd->r, 10);
	return *flag;
}

static bool wait_state(struct node *nd, int state, uint64_t ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(ms);

	while (nd->state != state && nd->state != ACTR__PC_FAILED &&
	       actr_time_ns() < end)
		actr_reactor_run_once(nd->r, 10);
	return nd->state == state;
}

/* ---- ACTR_BENCH_METRICS: the endpoint's cost on this path -------------- */

static void scraped(actr_http_call_t *call, int rc, int status,
		    const uint8_t *body, size_t len, void *arg)
{
	*(bool *)arg = rc == 0 && status == 200 && len > 0;
}

/* One in-process scrape of nd's endpoint (as a Prometheus server would). */
static void scrape(struct node *nd)
{
	struct actr_http_request rq = { 0 };
	char url[64];
	bool ok = false;
	uint64_t end = actr_time_ns() + ACTR_SEC(5);

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics",
		 actr_metrics_port(nd->metrics));
	rq.url = url;
	if (!actr_http_request(nd->r, &rq, scraped, &ok))
		die("scrape");
	while (!ok && actr_time_ns() < end)
		actr_reactor_run_once(nd->r, 10);
	if (!ok)
		die("scrape failed");
}

/* rounds alternating off/on (off-on-on-off: drift cancels), each round
 * n echo round trips then mb MiB one way; medians of the rounds. */
static void bench_metrics(struct node *nd, int rounds, int n, int mb)
{
	double *p50[2], *tput[2];
	uint64_t *v = calloc((size_t)n, sizeof(*v));
	uint8_t *big = malloc(BIG), m[MSG];
	int k[2] = { 0, 0 };

	for (int s = 0; s < 2; s++) {
		p50[s] = calloc((size_t)rounds, sizeof(double));
		tput[s] = calloc((size_t)rounds, sizeof(double));
	}
	memset(m, 'e', sizeof(m));
	memset(big, 't', BIG);
	for (int r = 0; r < 2 * rounds; r++) {
		int on = (r % 4 == 1 || r % 4 == 2);
		uint64_t total = (uint64_t)mb << 20, sent = 0, t0;

		metrics_set(nd, on);
		sig_send(nd->sig, on ? 'M' : 'm', "", 0);
		if (on)
			scrape(nd);
		for (int i = 0; i < n + 200; i++) {
			int want = nd->got + 1;

			t0 = actr_time_ns();
			if (actr__pc_send(nd->pc, ACTR__LANE_RPC_RELIABLE, m,
					  sizeof(m)) < 0)
				die("echo send");
			while (nd->got < want) {
				actr_reactor_run_once(nd->r, 1000);
				if (actr_time_ns() - t0 > ACTR_SEC(5))
					die("echo lost");
			}
			if (i >= 200)
				v[i - 200] = actr_time_ns() - t0;
		}
		qsort(v, (size_t)n, sizeof(*v), cmp_u64);
		p50[on][k[on]] = pct(v, (size_t)n, 0.5);
		nd->got_reply = false;
		t0 = actr_time_ns();
		while (sent < total) {
			int rc = actr__pc_send(nd->pc,
					       ACTR__LANE_STREAM_RELIABLE, big,
					       BIG);

			if (rc == 0)
				sent += BIG;
			else if (rc == -ENOBUFS)
				actr_reactor_run_once(nd->r, 10);
			else
				die("throughput send");
		}
		while (actr__pc_send(nd->pc, ACTR__LANE_STREAM_RELIABLE, "done",
				     4) == -ENOBUFS)
			actr_reactor_run_once(nd->r, 10);
		if (!run_until(nd, &nd->got_reply, 60000) || nd->reply != sent)
			die("metrics round: throughput barrier");
		tput[on][k[on]] = (double)sent /
				  ((double)(actr_time_ns() - t0) / 1e9) / 1e6;
		k[on]++;
	}
	metrics_set(nd, false);
	sig_send(nd->sig, 'm', "", 0);
	for (int s = 0; s < 2; s++) {
		qsort(p50[s], (size_t)k[s], sizeof(double), cmp_dbl);
		qsort(tput[s], (size_t)k[s], sizeof(double), cmp_dbl);
	}
	{
		double e0 = p50[0][k[0] / 2], e1 = p50[1][k[1] / 2];
		double t0 = tput[0][k[0] / 2], t1 = tput[1][k[1] / 2];

		printf("metrics endpoint off/on (both processes, %d rounds "
		       "each, medians): echo p50 %.1f / %.1f us (%+.1f%%); "
		       "throughput %.1f / %.1f MB/s (%+.1f%%) (target: "
		       "cost <= 2%%)\n", k[0], e0, e1,
		       100.0 * (e1 - e0) / e0, t0, t1,
		       100.0 * (t1 - t0) / t0);
	}
	for (int s = 0; s < 2; s++) {
		free(p50[s]);
		free(tput[s]);
	}
	free(big);
	free(v);
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 20000;
	int setups = argc > 2 ? atoi(argv[2]) : 30;
	int mbytes = argc > 3 ? atoi(argv[3]) : 256;
	int sv[2];
	struct node nd;
	pid_t pid;
	uint64_t *v;
	double udp50, udp99, udpmbps, udpmmsg, echo50, echo99, set50, set99;
	double setmax, mbps, tcpu = 0;
	/* rounds of each figure, the medians reported */
	int reps = getenv("ACTR_BENCH_REPS") ? atoi(getenv("ACTR_BENCH_REPS"))
					     : 3;
	double r50[16], r99[16], rmb[16], rmb2[16];
	char echo_samples[512] = "";
	const char *udp_mb = getenv("ACTR_BENCH_UDP_MB");
	uint64_t udp_total = (uint64_t)(udp_mb ? atoi(udp_mb) : 256) << 20;

	actr_set_malloc_tuning(true); /* inherited by the forked peer */
	if (rounds < 100 || setups < 1 || mbytes < 1)
		die("usage: datachannel [round_trips>=100] [setups] [MiB]");
	if (!getenv("ACTR_LOG"))
		actr_log_set_level(ACTR_LOG_WARN);
	if (reps < 1 || reps > 16)
		die("ACTR_BENCH_REPS: 1 to 16");
	pin_env(0);
	for (int k = 0; k < reps; k++)
		r50[k] = bench_udp(rounds, &r99[k], k == reps - 1);
	udp50 = bench_median(r50, (size_t)reps);
	udp99 = bench_median(r99, (size_t)reps);
	for (int k = 0; k < reps; k++) {
		rmb[k] = bench_udp_throughput(udp_total);
		rmb2[k] = bench_udp_batched(udp_total);
	}
	udpmbps = bench_median(rmb, (size_t)reps);
	udpmmsg = bench_median(rmb2, (size_t)reps);

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
		die("socketpair");
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		answerer(sv[1]);
	}
	close(sv[1]);
	node_init(&nd, sv[0], true);

	/* Setup: offer -> all four channels open, fresh connection each. */
	v = calloc((size_t)(setups > rounds ? setups : rounds), sizeof(*v));
	uint64_t *ph[4];

	for (int k = 0; k < 4; k++)
		ph[k] = calloc((size_t)setups, sizeof(uint64_t));
	/* i == -1: the first connection of both processes, reported on its
	 * own: it pays one-time costs (libnice/GLib type setup, OpenSSL's
	 * first handshake, usrsctp initialisation) that a node pays once. */
	for (int i = -1; i < setups; i++) {
		uint64_t t0 = actr_time_ns(), dt;
		struct actr__pc_stats st;

		nd.state = 0;
		nd.prev = nd.pc;
		nd.pc = actr__pc_new(nd.r, true, nd.cert, &nd.cfg, &ncbs, &nd);
		if (!nd.pc || actr__pc_start(nd.pc) < 0)
			die("offerer start");
		if (!wait_state(&nd, ACTR__PC_CONNECTED, 10000))
			die("setup did not complete in 10 s");
		dt = actr_time_ns() - t0;
		actr__pc_get_stats(nd.pc, &st);
		if (i < 0) {
			printf("first (cold) connection of both processes: %.2f ms "
			       "(ICE %.2f, DTLS %.2f, SCTP %.2f, open %.2f), not in the figures below\n",
			       (double)dt / 1e6, (double)st.t_ice / 1e6,
			       (double)st.t_dtls / 1e6, (double)st.t_sctp / 1e6,
			       (double)st.t_open / 1e6);
		} else {
			v[i] = dt;
			ph[0][i] = st.t_ice;
			ph[1][i] = st.t_dtls;
			ph[2][i] = st.t_sctp;
			ph[3][i] = st.t_open;
		}
		/* The previous connection goes once the new one is up. */
		actr__pc_free(nd.prev);
		nd.prev = NULL;
	}
	{
		int slow = 0;

		for (int i = 1; i < setups; i++)
			if (v[i] > v[slow])
				slow = i;
		printf("slowest setup: connection #%d (%.2f ms: ICE %.2f, DTLS %.2f, SCTP %.2f, open %.2f)\n",
		       slow + 1, (double)v[slow] / 1e6, (double)ph[0][slow] / 1e6,
		       (double)ph[1][slow] / 1e6, (double)ph[2][slow] / 1e6,
		       (double)ph[3][slow] / 1e6);
	}
	qsort(v, (size_t)setups, sizeof(*v), cmp_u64);
	set50 = pct(v, (size_t)setups, 0.5) / 1000.0;
	set99 = pct(v, (size_t)setups, 0.99) / 1000.0;
	setmax = (double)v[setups - 1] / 1e6;
	printf("setup offer -> 4 channels open: p50 %.2f ms  p99 %.2f ms  max %.2f ms  (%d connections)\n",
	       set50, set99, setmax, setups);
	for (int k = 0; k < 4; k++)
		qsort(ph[k], (size_t)setups, sizeof(uint64_t), cmp_u64);
	printf("setup timeline (offerer, p50 since pc_new): ICE connected %.2f ms, "
	       "DTLS %.2f ms, SCTP up %.2f ms, lanes open %.2f ms\n",
	       pct(ph[0], (size_t)setups, 0.5) / 1000.0,
	       pct(ph[1], (size_t)setups, 0.5) / 1000.0,
	       pct(ph[2], (size_t)setups, 0.5) / 1000.0,
	       pct(ph[3], (size_t)setups, 0.5) / 1000.0);
	for (int k = 0; k < 4; k++)
		free(ph[k]);
	fflush(stdout);

	bench_out_row(&(struct bench_row){
		.bench = "datachannel", .group = "setup", .row = "actr",
		.role = "subject", .setup_ms = set50, .n = (uint64_t)setups,
		.rounds = 1,
		.note = "offer -> 4 channels open, p50 of n connections",
		.extra = { { "setup_p99_ms", set99 },
			   { "setup_max_ms", setmax } },
	});

	/* Echo: 64 B on RPC_RELIABLE. */
	for (int k = 0; k < reps; k++) {
		uint8_t m[MSG];

		double c0 = cpu_self() + cpu_pid(pid), w0 = 0;

		memset(m, 'e', sizeof(m));
		for (int i = 0; i < rounds + 200; i++) {
			uint64_t t0 = actr_time_ns();
			int want = nd.got + 1;

			if (actr__pc_send(nd.pc, ACTR__LANE_RPC_RELIABLE, m,
					  sizeof(m)) < 0)
				die("echo send");
			while (nd.got < want) {
				actr_reactor_run_once(nd.r, 1000);
				if (actr_time_ns() - t0 > ACTR_SEC(5))
					die("echo lost");
			}
			if (i >= 200)
				v[i - 200] = actr_time_ns() - t0;
			if (i == 199) {
				c0 = cpu_self() + cpu_pid(pid);
				w0 = (double)actr_time_ns();
			}
		}
		double ecpu = cpu_self() + cpu_pid(pid) - c0;
		double ewall = ((double)actr_time_ns() - w0) / 1e9;
		qsort(v, (size_t)rounds, sizeof(*v), cmp_u64);
		r50[k] = echo50 = pct(v, (size_t)rounds, 0.5);
		r99[k] = echo99 = pct(v, (size_t)rounds, 0.99);
		if (k == reps - 1) {
			const char *sp = bench_out_samples_ns(
				"datachannel", "echo 64 B", "actr", v,
				(size_t)rounds);

			if (sp)
				snprintf(echo_samples, sizeof(echo_samples),
					 "%s", sp);
		}
		printf("echo 64 B RPC_RELIABLE: p50 %.1f us  p99 %.1f us  (%d round trips); "
		       "CPU %.1f us per round trip (both processes, %.0f%% of wall)\n",
		       echo50, echo99, rounds, ecpu * 1e6 / rounds,
		       100.0 * ecpu / ewall);
		fflush(stdout);
	}
	echo50 = bench_median(r50, (size_t)reps);
	echo99 = bench_median(r99, (size_t)reps);
	bench_out_row(&(struct bench_row){
		.bench = "datachannel", .group = "echo 64 B", .row = "raw UDP",
		.role = "baseline", .p50_us = udp50, .p99_us = udp99,
		.n = (uint64_t)rounds, .rounds = (unsigned)reps,
		.samples = udp_samples[0] ? udp_samples : NULL,
		.note = "64 B UDP ping-pong, two processes",
	});
	bench_out_row(&(struct bench_row){
		.bench = "datachannel", .group = "echo 64 B", .row = "actr",
		.role = "subject", .p50_us = echo50, .p99_us = echo99,
		.n = (uint64_t)rounds, .rounds = (unsigned)reps,
		.samples = echo_samples[0] ? echo_samples : NULL,
		.note = "RPC_RELIABLE, two processes",
	});

	/* Throughput: 64 KiB messages one way, then an RPC_SIGNAL barrier
	 * the receiver answers with the byte count it got. */
	for (int k = 0; k < reps; k++) {
		uint8_t *m = malloc(BIG);
		uint64_t total = (uint64_t)mbytes << 20, sent = 0, t0, dt;
		uint64_t end = actr_time_ns() + ACTR_SEC(60);

		double c0, q0;

		memset(m, 't', BIG);
		c0 = cpu_self() + cpu_pid(pid);
		q0 = cpu_wait(0) + cpu_wait(pid);
		t0 = actr_time_ns();
		while (sent < total && actr_time_ns() < end) {
			int rc = actr__pc_send(nd.pc, ACTR__LANE_STREAM_RELIABLE,
					       m, BIG);

			if (rc == 0)
				sent += BIG;
			else if (rc == -ENOBUFS)
				actr_reactor_run_once(nd.r, 10);
			else
				die("throughput send");
		}
		nd.got_reply = false;
		while (actr__pc_send(nd.pc, ACTR__LANE_STREAM_RELIABLE, "done",
				     4) == -ENOBUFS)
			actr_reactor_run_once(nd.r, 10);
		if (!run_until(&nd, &nd.got_reply, 60000))
			die("throughput barrier lost");
		dt = actr_time_ns() - t0;
		if (nd.reply != sent) {
			fprintf(stderr, "sent %llu, receiver got %llu\n",
				(unsigned long long)sent,
				(unsigned long long)nd.reply);
			die("throughput: receiver count differs");
		}
		rmb[k] = mbps = (double)sent / ((double)dt / 1e9) / 1e6;
		tcpu = cpu_self() + cpu_pid(pid) - c0;
		printf("throughput 64 KiB messages STREAM_RELIABLE: %.1f MB/s  (%.0f MiB in %.2f s); "
		       "CPU %.2f s both processes = %.1f MB per CPU-second; "
		       "%.2f s runnable but waiting for the CPU (other load)\n",
		       mbps, (double)sent / (1 << 20), (double)dt / 1e9, tcpu,
		       tcpu > 0 ? (double)sent / 1e6 / tcpu : 0.0,
		       cpu_wait(0) + cpu_wait(pid) - q0);
		free(m);
	}
	mbps = bench_median(rmb, (size_t)reps);
	bench_out_row(&(struct bench_row){
		.bench = "datachannel", .group = "one-way 64 KiB",
		.row = "raw UDP", .role = "baseline", .throughput = udpmbps,
		.unit = "MB/s", .n = udp_total, .rounds = (unsigned)reps,
		.note = "1200 B datagrams, one sendto each",
	});
	bench_out_row(&(struct bench_row){
		.bench = "datachannel", .group = "one-way 64 KiB",
		.row = "raw UDP sendmmsg", .role = "baseline",
		.throughput = udpmmsg, .unit = "MB/s", .n = udp_total,
		.rounds = (unsigned)reps,
		.note = "1200 B datagrams, 32 per sendmmsg",
	});
	bench_out_row(&(struct bench_row){
		.bench = "datachannel", .group = "one-way 64 KiB",
		.row = "actr", .role = "subject", .throughput = mbps, .unit = "MB/s",
		.n = (uint64_t)mbytes << 20, .rounds = (unsigned)reps,
		.note = "STREAM_RELIABLE, 64 KiB messages",
	});

	if (getenv("ACTR_BENCH_METRICS") && atoi(getenv("ACTR_BENCH_METRICS")))
		bench_metrics(&nd, atoi(getenv("ACTR_BENCH_METRICS")),
			      rounds / 4 > 500 ? rounds / 4 : 500,
			      mbytes / 4 > 16 ? mbytes / 4 : 16);

	printf("\n(medians of %d rounds)\n", reps);
	printf("raw UDP p50 %.1f us | echo p50 %.1f us = %.2fx raw UDP (target <= 2.5x)\n",
	       udp50, echo50, echo50 / udp50);
	printf("setup p50 %.2f ms (target <= 5 ms), max %.2f ms (target <= 50 ms), ICE pacing %s ms\n",
	       set50, setmax,
	       getenv("ACTR_BENCH_TA") ? getenv("ACTR_BENCH_TA") : "5");
	printf("throughput %.1f MB/s (target >= 150 MB/s), %.1f MB/CPU-s, SCTP packets %s; "
	       "raw UDP 1200 B one-way %.1f MB/s (batched x32: %.1f MB/s)\n",
	       mbps, tcpu > 0 ? (double)((uint64_t)mbytes << 20) / 1e6 / tcpu : 0.0,
	       getenv("ACTR_BENCH_MTU") ? getenv("ACTR_BENCH_MTU")
					      : "1200", udpmbps, udpmmsg);
	printf("for comparison (measured elsewhere): libdatachannel 103 us / 57 MB/s, "
	       "libwebrtc 188 us, aiortc 417 us, Chromium 435 us\n");
	(void)set99;
	(void)echo99;

	actr__pc_close(nd.pc);
	wait_state(&nd, ACTR__PC_CLOSED, 2000);
	actr__pc_free(nd.pc);
	sig_send(nd.sig, 'Q', "", 0);
	for (int i = 0; i < 200; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			pid = 0;
			break;
		}
		usleep(10000);
	}
	if (pid) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	actr_io_close(&nd.io);
	actr__dtls_cert_unref(nd.cert);
	actr_reactor_free(nd.r);
	free(v);
	return 0;
}
