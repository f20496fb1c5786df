/*
 * Data-channel stack benchmark over UDP loopback (no ICE): two full stacks
 * (UDP -> DTLS -> SCTP -> channel) on one reactor in one process, next to a
 * raw UDP ping-pong measured the same way in the same run.
 *
 *   build/bench/sctp_loopback [echo_count] [throughput_MiB]
 *
 * Prints 64-byte echo p50/p99 (raw UDP and data channel, and the ratio) and
 * 64 KiB one-way throughput in MB/s. Targets from the issue for the full
 * peer connection: echo p50 <= 2.5x raw UDP, throughput >= 150 MB/s.
 * Pin to one CPU for stable latency: taskset -c 1 build/bench/sctp_loopback
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

#include "../test/test_sctp_stack.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
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

static void bench_udp(int n, double *p50, double *p99)
{
	actr_reactor_t *r = actr_reactor_new();
	struct udp_pp u;
	uint64_t end;

	memset(&u, 0, sizeof(u));
	u.n = n;
	u.rtt = calloc((size_t)n, sizeof(uint64_t));
	u.fa = udp_sock(&u.aa);
	u.fb = udp_sock(&u.ab);
	actr_io_init(r, &u.ia, u.fa, udp_a, &u);
	actr_io_init(r, &u.ib, u.fb, udp_b, &u);
	actr_io_set(&u.ia, ACTR_READ);
	actr_io_set(&u.ib, ACTR_READ);
	u.t0 = actr_time_ns();
	sendto(u.fa, u.msg, 64, 0, (struct sockaddr *)&u.ab, sizeof(u.ab));
	end = actr_time_ns() + ACTR_SEC(60);
	while (u.done < n && actr_time_ns() < end)
		actr_reactor_run_once(r, 100);
	pct(u.rtt, u.done, p50, p99);
	actr_io_close(&u.ia);
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
	bool echo;
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
	if (D.echo)
		actr__dc_send(dc, p, n, bin);
	else
		D.rx_bytes += n;
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

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20000;
	int mib = argc > 2 ? atoi(argv[2]) : 512;
	double u50, u99, d50, d99, secs;
	actr_reactor_t *r;
	struct stk a, b;
	struct actr__sctp_stats st;
	struct actr__dc_opts o = { .label = "STREAM_RELIABLE" };
	uint64_t t0, end;

	if (n < 100)
		n = 100;
	if (mib < 1)
		mib = 1;
	actr_log_set_level(ACTR_LOG_WARN);
	bench_udp(n, &u50, &u99);

	r = actr_reactor_new();
	if (stk_pair(r, &a, &b) < 0) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	b.on_channel = b_channel;
	t0 = actr_time_ns();
	end = t0 + ACTR_SEC(10);
	while (!(a.sctp_st == ACTR_SCTP_CONNECTED &&
		 b.sctp_st == ACTR_SCTP_CONNECTED) &&
	       actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
	printf("setup (DTLS + SCTP, loopback): %.2f ms\n",
	       (actr_time_ns() - t0) / 1e6);
	D.a_dc = actr__dc_open(a.sctp, &o, &acbs, NULL);
	while (!(D.a_open && D.b_dc) && actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
	if (!D.a_open || !D.b_dc) {
		fprintf(stderr, "channel did not open\n");
		return 1;
	}

	/* 64-byte echo */
	D.echo = true;
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

	/* 64 KiB one-way throughput */
	D.echo = false;
	D.big = calloc(1, 65536);
	D.tx_target = (uint64_t)mib << 20;
	actr__dc_set_buffered_low(D.a_dc, 1u << 20);
	t0 = actr_time_ns();
	end = t0 + ACTR_SEC(60);
	pump();
	uint64_t last_rx = 0, last_t = actr_time_ns();
	while (D.rx_bytes < D.tx_target && actr_time_ns() < end) {
		actr_reactor_run_once(r, 100);
		if (getenv("SCTP_DEBUG") && actr_time_ns() - last_t > ACTR_MS(10)) {
			struct actr__sctp_status ss;
			actr__sctp_get_status(a.sctp, &ss);
			printf("t=%.3f rx+%llu rwnd %u unacked %u pend %u cwnd %u srtt %u rto %u qA %zu\n",
			       (actr_time_ns() - t0) / 1e9, (unsigned long long)(D.rx_bytes - last_rx),
			       ss.peer_rwnd, ss.unacked, ss.pending, ss.cwnd, ss.srtt_ms, ss.rto_ms,
			       actr__dc_buffered(D.a_dc));
			last_rx = D.rx_bytes;
			last_t = actr_time_ns();
		}
		if (D.low) {
			D.low = false;
			pump();
		}
	}
	secs = (actr_time_ns() - t0) / 1e9;
	actr__sctp_get_stats(a.sctp, &st);
	printf("64 KiB one-way: %llu MiB in %.2f s = %.1f MB/s (target >= "
	       "150; libdatachannel 57 here); %llu packets, %llu "
	       "would-block\n",
	       (unsigned long long)(D.rx_bytes >> 20), secs,
	       D.rx_bytes / secs / 1e6,
	       (unsigned long long)st.packets_out,
	       (unsigned long long)st.would_block);
	{
		struct sctpstat ss;

		usrsctp_get_stat(&ss);
		printf("usrsctp: data out %u (retrans %u, fast %u), sacks out %u, "
		       "timeouts T3 %u, delayed-ack %u\n",
		       ss.sctps_senddata, ss.sctps_sendretransdata,
		       ss.sctps_sendfastretrans, ss.sctps_sendsacks,
		       ss.sctps_timodata, ss.sctps_timosack);
	}
	{
		struct actr__dtls_stats da, db;
		struct actr__sctp_stats sb;

		actr__dtls_get_stats(a.dtls, &da);
		actr__dtls_get_stats(b.dtls, &db);
		actr__sctp_get_stats(b.sctp, &sb);
		printf("dtls A: out %llu send errors %llu dropped in %llu; "
		       "B: in %llu dropped in %llu; sctp B dropped %llu\n",
		       (unsigned long long)da.datagrams_out,
		       (unsigned long long)da.send_errors,
		       (unsigned long long)da.dropped_in,
		       (unsigned long long)db.datagrams_in,
		       (unsigned long long)db.dropped_in,
		       (unsigned long long)sb.dropped_in);
	}
	stk_free(&a);
	stk_free(&b);
	actr_reactor_free(r);
	free(D.rtt);
	free(D.big);
	return D.rx_bytes >= D.tx_target && D.done == n ? 0 : 1;
}
