/*
 * Data-channel stack benchmark over UDP loopback (no ICE): two full stacks
 * (UDP -> DTLS -> SCTP -> channel) on one reactor in one process, next to a
 * raw UDP ping-pong measured the same way in the same run.
 *
 *   build/bench/sctp_loopback [echo_count] [throughput_MiB] [fork]
 *
 * With "fork" the second stack (and the UDP echo of the baseline) runs in a
 * child process, so each side has its own reactor and can use its own core.
 *
 * Prints 64-byte echo p50/p99 (raw UDP and data channel, and the ratio) and
 * 64 KiB one-way throughput in MB/s. Targets from the issue for the full
 * peer connection: echo p50 <= 2.5x raw UDP, throughput >= 150 MB/s.
 * Pin to one CPU for stable latency: taskset -c 1 build/bench/sctp_loopback
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "../test/test_sctp_stack.h"
#include "bench/bench.h"

static double cpu_secs(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void pct(uint64_t *v, int n, double *p50, double *p99)
{
	qsort(v, (size_t)n, sizeof(v[0]), cmp_u64);
	*p50 = v[n / 2] / 1e3;
	*p99 = v[(n * 99) / 100] / 1e3;
}

/* ---- raw UDP ping-pong ----------------------------------------------------- */

struct udp_pp {
	int fa, fb;
	struct sockaddr_in aa, ab;
	actr_io_t ia, ib;
	uint64_t t0;
	uint64_t *rtt;
	int done, n;
	uint8_t msg[64];
};

static void udp_b(actr_io_t *io, unsigned ev, void *arg)
{
	struct udp_pp *u = arg;
	uint8_t buf[2048];
	ssize_t k;

	while ((k = recv(u->fb, buf, sizeof(buf), 0)) > 0)
		sendto(u->fb, buf, (size_t)k, 0, (struct sockaddr *)&u->aa,
		       sizeof(u->aa));
}

static void udp_a(actr_io_t *io, unsigned ev, void *arg)
{
	struct udp_pp *u = arg;
	uint8_t buf[2048];

	while (recv(u->fa, buf, sizeof(buf), 0) > 0) {
		u->rtt[u->done++] = actr_time_ns() - u->t0;
		if (u->done < u->n) {
			u->t0 = actr_time_ns();
			sendto(u->fa, u->msg, 64, 0, (struct sockaddr *)&u->ab,
			       sizeof(u->ab));
		}
	}
}

static int udp_sock(struct sockaddr_in *a)
{
	socklen_t al = sizeof(*a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)a, sizeof(*a));
	getsockname(fd, (struct sockaddr *)a, &al);
	return fd;
}

static void bench_udp(int n, bool fork_b, double *p50, double *p99)
{
	actr_reactor_t *r;
	struct udp_pp u;
	uint64_t end;
	pid_t pid = -1;

	memset(&u, 0, sizeof(u));
	u.n = n;
	u.rtt = calloc((size_t)n, sizeof(uint64_t));
	u.fa = udp_sock(&u.aa);
	u.fb = udp_sock(&u.ab);
	if (fork_b) {
		pid = fork();
		if (pid == 0) { /* the echo, on its own reactor */
			actr_reactor_t *rb = actr_reactor_new();
			uint64_t stop = actr_time_ns() + ACTR_SEC(60);

			actr_io_init(rb, &u.ib, u.fb, udp_b, &u);
			actr_io_set(&u.ib, ACTR_READ);
			while (actr_time_ns() < stop &&
			       actr_reactor_run_once(rb, 200) >= 0 &&
			       getppid() != 1)
				;
			_exit(0);
		}
	}
	r = actr_reactor_new();
	actr_io_init(r, &u.ia, u.fa, udp_a, &u);
	actr_io_set(&u.ia, ACTR_READ);
	if (!fork_b) {
		actr_io_init(r, &u.ib, u.fb, udp_b, &u);
		actr_io_set(&u.ib, ACTR_READ);
	}
	u.t0 = actr_time_ns();
	sendto(u.fa, u.msg, 64, 0, (struct sockaddr *)&u.ab, sizeof(u.ab));
	end = actr_time_ns() + ACTR_SEC(60);
	while (u.done < n && actr_time_ns() < end)
		actr_reactor_run_once(r, 100);
	pct(u.rtt, u.done, p50, p99);
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	actr_io_close(&u.ia);
	if (!fork_b)
		actr_io_close(&u.ib);
	close(u.fa);
	close(u.fb);
	free(u.rtt);
	actr_reactor_free(r);
}

/* ---- data channel ---------------------------------------------------------- */

struct dcb {
	actr__dc_t *a_dc;	/* A's channel */
	actr__dc_t *b_dc;	/* B's end */
	int a_open;
	/* echo */
	uint64_t t0;
	uint64_t *rtt;
	int done, n;
	uint8_t msg[64];
	/* throughput */
	uint64_t rx_bytes;
	uint64_t tx_bytes, tx_target;
	uint8_t *big;
	bool low;
};

static struct dcb D;

static void a_open(void *arg, actr__dc_t *dc)
{
	D.a_open = 1;
}

static void a_msg(void *arg, actr__dc_t *dc, const uint8_t *p, size_t n,
		  bool bin)
{
	if (n == 4) { /* DONE: the receiver has everything */
		D.rx_bytes = D.tx_target;
		return;
	}
	D.rtt[D.done++] = actr_time_ns() - D.t0;
	if (D.done < D.n) {
		D.t0 = actr_time_ns();
		actr__dc_send(D.a_dc, D.msg, 64, true);
	}
}

static void a_low(void *arg, actr__dc_t *dc)
{
	D.low = true;
}

static void b_msg(void *arg, actr__dc_t *dc, const uint8_t *p, size_t n,
		  bool bin)
{
	if (n == 64) { /* echo phase */
		actr__dc_send(dc, p, n, bin);
		return;
	}
	if (n == 8) { /* throughput phase starts: the byte target */
		memcpy(&D.tx_target, p, 8);
		D.rx_bytes = 0;
		return;
	}
	D.rx_bytes += n;
	if (D.tx_target && D.rx_bytes >= D.tx_target)
		actr__dc_send(dc, "DONE", 4, true);
}

static const struct actr__dc_cbs acbs = { .open = a_open,
					  .message = a_msg,
					  .buffered_low = a_low };
static const struct actr__dc_cbs bcbs = { .message = b_msg };

static void b_channel(struct stk *k, actr__dc_t *dc)
{
	D.b_dc = dc;
	actr__dc_set_cbs(dc, &bcbs, NULL);
}

/* Keep the channel's queue between 1 and 4 MiB. */
static void pump(void)
{
	while (D.tx_bytes < D.tx_target &&
	       actr__dc_buffered(D.a_dc) < 4u << 20) {
		if (actr__dc_send(D.a_dc, D.big, 65536, true) < 0)
			break;
		D.tx_bytes += 65536;
	}
}

struct hello {
	uint16_t port;
	char fp[160];
};

/* Child of fork mode: stack B, echoing 64-byte messages and counting the
 * rest, until the parent shuts the association down. */
static void run_b_child(int rd, int wr)
{
	actr_reactor_t *r = actr_reactor_new();
	actr__dtls_cert_t *cert = actr__dtls_cert_new();
	struct hello me, peer;
	struct stk b;
	uint64_t stop = actr_time_ns() + ACTR_SEC(180);

	if (!r || !cert || stk_socket(&b, r) < 0)
		_exit(2);
	b.on_channel = b_channel;
	memset(&me, 0, sizeof(me));
	me.port = b.port;
	snprintf(me.fp, sizeof(me.fp), "%s", actr__dtls_cert_fingerprint(cert));
	if (write(wr, &me, sizeof(me)) != sizeof(me) ||
	    read(rd, &peer, sizeof(peer)) != sizeof(peer))
		_exit(3);
	if (stk_start(&b, cert, false, peer.port, peer.fp) < 0)
		_exit(4);
	while (b.sctp_st != ACTR_SCTP_CLOSED && actr_time_ns() < stop &&
	       getppid() != 1)
		actr_reactor_run_once(r, 200);
	stk_free(&b);
	actr__dtls_cert_unref(cert);
	actr_reactor_free(r);
	_exit(0);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20000;
	int mib = argc > 2 ? atoi(argv[2]) : 512;
	bool forked = argc > 3 && !strcmp(argv[3], "fork");
	double u50, u99, d50, d99, secs, cpu, cpu0;
	actr_reactor_t *r;
	struct stk a, b;
	struct actr__sctp_stats st;
	struct actr__dc_opts o = { .label = "STREAM_RELIABLE" };
	uint64_t t0, end;
	pid_t pid = -1;

	actr_set_malloc_tuning(true); /* as bench/datachannel */
	if (n < 100)
		n = 100;
	if (mib < 1)
		mib = 1;
	actr_log_set_level(ACTR_LOG_WARN);
	printf("mode: %s\n", forked ? "two processes" : "one process, one "
						       "reactor");
	bench_udp(n, forked, &u50, &u99);

	if (forked) {
		int p2c[2], c2p[2];
		struct hello me, peer;
		actr__dtls_cert_t *cert;

		if (pipe(p2c) || pipe(c2p))
			return 1;
		pid = fork();
		if (pid == 0) {
			close(p2c[1]);
			close(c2p[0]);
			run_b_child(p2c[0], c2p[1]);
		}
		close(p2c[0]);
		close(c2p[1]);
		r = actr_reactor_new();
		cert = actr__dtls_cert_new();
		memset(&b, 0, sizeof(b));
		b.fd = -1;
		b.sctp_st = ACTR_SCTP_CONNECTED; /* remote: not watched */
		if (stk_socket(&a, r) < 0)
			return 1;
		memset(&me, 0, sizeof(me));
		me.port = a.port;
		snprintf(me.fp, sizeof(me.fp), "%s",
			 actr__dtls_cert_fingerprint(cert));
		if (read(c2p[0], &peer, sizeof(peer)) != sizeof(peer) ||
		    write(p2c[1], &me, sizeof(me)) != sizeof(me))
			return 1;
		if (stk_start(&a, cert, true, peer.port, peer.fp) < 0)
			return 1;
		actr__dtls_cert_unref(cert);
	} else {
		r = actr_reactor_new();
		if (stk_pair(r, &a, &b) < 0) {
			fprintf(stderr, "setup failed\n");
			return 1;
		}
		b.on_channel = b_channel;
	}
	t0 = actr_time_ns();
	end = t0 + ACTR_SEC(10);
	while (!(a.sctp_st == ACTR_SCTP_CONNECTED &&
		 b.sctp_st == ACTR_SCTP_CONNECTED) &&
	       actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
	printf("setup (DTLS + SCTP, loopback): %.2f ms\n",
	       (actr_time_ns() - t0) / 1e6);
	D.a_dc = actr__dc_open(a.sctp, &o, &acbs, NULL);
	while (!(D.a_open && (D.b_dc || forked)) && actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
	if (!D.a_open) {
		fprintf(stderr, "channel did not open\n");
		return 1;
	}

	/* 64-byte echo */
	D.n = n;
	D.rtt = calloc((size_t)n, sizeof(uint64_t));
	D.t0 = actr_time_ns();
	actr__dc_send(D.a_dc, D.msg, 64, true);
	end = actr_time_ns() + ACTR_SEC(60);
	while (D.done < n && actr_time_ns() < end)
		actr_reactor_run_once(r, 100);
	pct(D.rtt, D.done, &d50, &d99);
	printf("64 B echo, %d round trips (us):\n", D.done);
	printf("  raw UDP       p50 %7.1f  p99 %7.1f\n", u50, u99);
	printf("  data channel  p50 %7.1f  p99 %7.1f   ratio p50 %.2fx "
	       "(target <= 2.5x)\n",
	       d50, d99, d50 / u50);
	/* one round each: this is the DTLS+SCTP layer alone, a diagnostic
	 * next to bench/datachannel (which takes the medians) */
	bench_out_row(&(struct bench_row){
		.bench = "sctp_loopback", .group = "DTLS+SCTP echo 64 B",
		.row = "raw UDP", .role = "baseline", .p50_us = u50,
		.p99_us = u99, .n = (uint64_t)n, .rounds = 1,
	});
	bench_out_row(&(struct bench_row){
		.bench = "sctp_loopback", .group = "DTLS+SCTP echo 64 B",
		.row = "actr DTLS+SCTP channel", .role = "subject",
		.p50_us = d50, .p99_us = d99, .n = (uint64_t)D.done,
		.rounds = 1,
		.note = forked ? "two processes, no ICE"
			       : "one process, no ICE",
	});

	/* 64 KiB one-way throughput */
	D.big = calloc(1, 65536);
	D.tx_target = (uint64_t)mib << 20;
	D.rx_bytes = 0;
	actr__dc_send(D.a_dc, &D.tx_target, 8, true); /* tells B the target */
	actr__dc_set_buffered_low(D.a_dc, 1u << 20);
	t0 = actr_time_ns();
	cpu0 = cpu_secs();
	end = t0 + ACTR_SEC(60);
	pump();
	while (D.rx_bytes < D.tx_target && actr_time_ns() < end) {
		actr_reactor_run_once(r, 100);
		if (D.low) {
			D.low = false;
			pump();
		}
	}
	secs = (actr_time_ns() - t0) / 1e9;
	cpu = cpu_secs() - cpu0;
	actr__sctp_get_stats(a.sctp, &st);
	if (!forked)
		printf("64 KiB one-way, CPU-bound: %.1f MB per CPU second (both "
		       "stacks on one core; %.0f%% of one core busy)\n",
		       D.rx_bytes / cpu / 1e6, 100 * cpu / secs);
	bench_out_row(&(struct bench_row){
		.bench = "sctp_loopback", .group = "DTLS+SCTP one-way 64 KiB",
		.row = "actr DTLS+SCTP channel", .role = "subject",
		.throughput = D.rx_bytes / secs / 1e6, .unit = "MB/s",
		.n = D.rx_bytes, .rounds = 1,
		.note = forked ? "two processes, no ICE"
			       : "one process, no ICE",
	});
	printf("64 KiB one-way: %llu MiB in %.2f s = %.1f MB/s (target >= "
	       "150; libdatachannel 57 here); %llu packets, %llu "
	       "would-block\n",
	       (unsigned long long)(D.rx_bytes >> 20), secs,
	       D.rx_bytes / secs / 1e6, (unsigned long long)st.packets_out,
	       (unsigned long long)st.would_block);
	{
		struct sctpstat ss;

		usrsctp_get_stat(&ss);
		printf("usrsctp (this process): data out %u (retrans %u, fast "
		       "%u), sacks out %u, T3 timeouts %u, delayed-ack "
		       "timeouts %u\n",
		       ss.sctps_senddata, ss.sctps_sendretransdata,
		       ss.sctps_sendfastretrans, ss.sctps_sendsacks,
		       ss.sctps_timodata, ss.sctps_timosack);
	}
	if (forked) {
		actr__sctp_shutdown(a.sctp);
		end = actr_time_ns() + ACTR_SEC(5);
		while (a.sctp_st != ACTR_SCTP_CLOSED && actr_time_ns() < end)
			actr_reactor_run_once(r, 50);
		waitpid(pid, NULL, 0);
	}
	stk_free(&a);
	if (!forked)
		stk_free(&b);
	actr_reactor_free(r);
	free(D.rtt);
	free(D.big);
	return D.rx_bytes >= D.tx_target && D.done == n ? 0 : 1;
}
