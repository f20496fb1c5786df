/*
 * bench/reactor_pingpong: 64-byte ping-pong between two processes over a
 * UNIX socketpair and over loopback UDP, once through a raw epoll loop and
 * once through the actr reactor, in the same run, both processes pinned to
 * one CPU. Prints p50/p99 RTT, round trips/s and the ratio actr/raw.
 *
 *   reactor_pingpong [--rounds N] [--reps K] [--cpu C] [--loop raw|actr]
 *                    [--transport unix|udp]
 *
 * Raw and actr runs alternate (K repetitions each) and the medians are
 * reported, so drift on a shared machine hits both alike.
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
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>
#include "bench/bench.h"

#define MSG 64

enum transport { T_UNIX, T_UDP };
enum loop { L_RAW, L_ACTR };

struct result {
	double p50_us;
	double p99_us;
	double rps;
};

static long rounds = 200000;
static int reps = 3;
static int cpu = 0;
static int lmin = 0, lmax = 1;	/* --loop: L_RAW..L_ACTR */
static int tmin = 0, tmax = 1;	/* --transport: T_UNIX..T_UDP */

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static int make_pair(enum transport t, int sv[2])
{
	struct sockaddr_in a[2];
	socklen_t alen = sizeof(a[0]);

	if (t == T_UNIX)
		return socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	for (int i = 0; i < 2; i++) {
		sv[i] = socket(AF_INET, SOCK_DGRAM, 0);
		if (sv[i] < 0)
			return -1;
		memset(&a[i], 0, sizeof(a[i]));
		a[i].sin_family = AF_INET;
		a[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(sv[i], (struct sockaddr *)&a[i], sizeof(a[i])) < 0 ||
		    getsockname(sv[i], (struct sockaddr *)&a[i], &alen) < 0)
			return -1;
	}
	if (connect(sv[0], (struct sockaddr *)&a[1], sizeof(a[1])) < 0 ||
	    connect(sv[1], (struct sockaddr *)&a[0], sizeof(a[0])) < 0)
		return -1;
	return 0;
}

/* Read one whole message (stream sockets may split it). */
static int read_msg(int fd, char *buf)
{
	size_t got = 0;

	while (got < MSG) {
		ssize_t n = recv(fd, buf + got, MSG - got, MSG_DONTWAIT);

		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			return -1;
		if (errno == EAGAIN && got == 0)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -1;
	}
	return 1;
}

/* ---- raw epoll loop ------------------------------------------------------ */

/* noinline: callgrind counts instructions inside it (bench/perf.sh) */
static __attribute__((noinline)) void raw_loop(int fd, int client,
					      uint64_t *rtt)
{
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	char buf[MSG] = { 0 };
	uint64_t t0 = 0;
	long done = 0;

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll");
	if (client) {
		t0 = actr_time_ns();
		if (send(fd, buf, MSG, 0) != MSG)
			die("send");
	}
	while (done < rounds) {
		struct epoll_event out[16];
		int n = epoll_wait(ep, out, 16, -1);

		for (int i = 0; i < n; i++) {
			int rc;

			while ((rc = read_msg(fd, buf)) == 1) {
				if (client) {
					uint64_t t1 = actr_time_ns();

					rtt[done] = t1 - t0;
					t0 = t1;
				}
				if (++done == rounds && client)
					break;
				if (send(fd, buf, MSG, 0) != MSG)
					die("send");
			}
			if (rc < 0)
				done = rounds;
		}
	}
	close(ep);
}

/* ---- actr reactor loop ---------------------------------------------------- */

struct actr_side {
	actr_reactor_t *r;
	int client;
	long done;
	uint64_t t0;
	uint64_t *rtt;
};

static void on_readable(actr_io_t *io, unsigned ev, void *arg)
{
	struct actr_side *s = arg;
	char buf[MSG];
	int rc;

	(void)ev;
	while ((rc = read_msg(io->fd, buf)) == 1) {
		if (s->client) {
			uint64_t t1 = actr_time_ns();

			s->rtt[s->done] = t1 - s->t0;
			s->t0 = t1;
		}
		if (++s->done == rounds && s->client)
			break;
		if (send(io->fd, buf, MSG, 0) != MSG)
			die("send");
	}
	if (rc < 0 || s->done >= rounds)
		actr_reactor_stop(s->r);
}

static __attribute__((noinline)) void actr_loop(int fd, int client,
					       uint64_t *rtt)
{
	struct actr_side s = { .client = client, .rtt = rtt };
	char buf[MSG] = { 0 };
	actr_io_t io;

	s.r = actr_reactor_new();
	if (!s.r || actr_io_init(s.r, &io, fd, on_readable, &s) < 0 ||
	    actr_io_set(&io, ACTR_READ) < 0)
		die("actr reactor");
	if (client) {
		s.t0 = actr_time_ns();
		if (send(fd, buf, MSG, 0) != MSG)
			die("send");
	}
	actr_reactor_run(s.r);
	actr_io_close(&io);
	actr_reactor_free(s.r);
}

/* ---- driver --------------------------------------------------------------- */

static struct result run_one(enum transport t, enum loop l, uint64_t *rtt)
{
	struct result res;
	int sv[2], status;
	uint64_t start, total;
	pid_t pid;

	if (make_pair(t, sv) < 0)
		die("socket pair");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(sv[0]);
		alarm(120); /* never outlive a stuck parent */
		if (l == L_RAW)
			raw_loop(sv[1], 0, NULL);
		else
			actr_loop(sv[1], 0, NULL);
		_exit(0);
	}
	close(sv[1]);
	start = actr_time_ns();
	if (l == L_RAW)
		raw_loop(sv[0], 1, rtt);
	else
		actr_loop(sv[0], 1, rtt);
	total = actr_time_ns() - start;
	close(sv[0]);
	waitpid(pid, &status, 0);
	qsort(rtt, (size_t)rounds, sizeof(*rtt), cmp_u64);
	res.p50_us = (double)rtt[rounds / 2] / 1e3;
	res.p99_us = (double)rtt[rounds * 99 / 100] / 1e3;
	res.rps = (double)rounds * 1e9 / (double)total;
	return res;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

int main(int argc, char **argv)
{
	static const char *const tname[] = { "unix", "udp" };
	uint64_t *rtt;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atol(argv[++i]);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--cpu") && i + 1 < argc)
			cpu = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--loop") && i + 1 < argc)
			lmin = lmax = strcmp(argv[++i], "raw") ? 1 : 0;
		else if (!strcmp(argv[i], "--transport") && i + 1 < argc)
			tmin = tmax = strcmp(argv[++i], "unix") ? 1 : 0;
		else {
			fprintf(stderr,
				"usage: %s [--rounds N] [--reps K] [--cpu C] "
				"[--loop raw|actr] [--transport unix|udp]\n",
				argv[0]);
			return 2;
		}
	}
	if (rounds < 100 || reps < 1 || reps > 50) {
		fprintf(stderr, "rounds >= 100, 1 <= reps <= 50\n");
		return 2;
	}
	rtt = malloc((size_t)rounds * sizeof(*rtt));
	if (!rtt)
		die("malloc");
	pin(cpu);
	printf("reactor_pingpong: %d-byte messages, %ld round trips, %d reps "
	       "(medians), both processes on CPU %d\n",
	       MSG, rounds, reps, cpu);
	for (int t = tmin; t <= tmax; t++) {
		double p50[2][50], p99[2][50], rps[2][50];
		double m50[2], m99[2], mrps[2];
		char group[32], spath[2][512] = { "", "" };
		static const char *const lname[] = { "raw epoll", "actr" };

		snprintf(group, sizeof(group), "ping-pong %s %d B", tname[t],
			 MSG);
		for (int k = 0; k < reps; k++) {
			for (int l = lmin; l <= lmax; l++) {
				struct result r = run_one(t, l, rtt);
				const char *sp = NULL;

				/* the CDF: every round trip of the last rep */
				if (k == reps - 1)
					sp = bench_out_samples_ns(
						"reactor_pingpong", group,
						lname[l], rtt, (size_t)rounds);
				if (sp)
					snprintf(spath[l], sizeof(spath[l]),
						 "%s", sp);

				p50[l][k] = r.p50_us;
				p99[l][k] = r.p99_us;
				rps[l][k] = r.rps;
			}
		}
		for (int l = lmin; l <= lmax; l++) {
			m50[l] = median(p50[l], reps);
			m99[l] = median(p99[l], reps);
			mrps[l] = median(rps[l], reps);
			printf("%-4s %-4s: p50 %6.2f us  p99 %6.2f us  %8.0f "
			       "round trips/s\n",
			       tname[t], l == L_RAW ? "raw" : "actr", m50[l],
			       m99[l], mrps[l]);
			bench_out_row(&(struct bench_row){
				.bench = "reactor_pingpong",
				.group = group,
				.row = lname[l],
				.role = l == L_RAW ? "baseline" : "subject",
				.p50_us = m50[l],
				.p99_us = m99[l],
				.throughput = mrps[l],
				.unit = "round trips/s",
				.n = (uint64_t)rounds,
				.rounds = (unsigned)reps,
				.samples = spath[l][0] ? spath[l] : NULL,
			});
		}
		if (lmin == lmax)
			continue;
		printf("%-4s ratio actr/raw: p50 %.3f  throughput %.3f "
		       "(target <= 1.02)\n",
		       tname[t], m50[L_ACTR] / m50[L_RAW],
		       mrps[L_RAW] / mrps[L_ACTR]);
	}
	free(rtt);
	return 0;
}
