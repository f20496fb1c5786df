/*
 * bench/media: media tracks (RTP over SRTP) between two peer connections
 * on loopback, both ends in one process on one CPU.
 *
 *   - throughput: 1200-byte RTP packets (Opus track, one frame a packet)
 *     through packetise + SRTP protect + UDP send + receive + unprotect +
 *     delivery, packets per second; raw UDP (send + recv of 1216 bytes,
 *     same batching; and with sendmmsg/recvmmsg) in the same run;
 *   - latency: a frame of one packet sent by A and echoed by B on its own
 *     track, half the round trip, p50/p99; raw UDP ping-pong the same way;
 *   - memory per idle track: heap growth (mallinfo2) for 15 negotiated
 *     tracks, both ends, divided by 15.
 *
 * Usage: media [packets=200000] [round_trips=20000]
 * Environment: ACTR_BENCH_CPU (default 0). Figures are medians of 5
 * repeats of the throughput phase.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <actr/actr.h>

#include "core/internal.h"
#include "wire/pc.h"
#include "bench/bench.h"

#define PKT 1200
#define BATCH 64
#define REPEATS 5

struct side {
	actr__pc_t *pc;
	struct side *other;
	char *sdp;
	int kind;		/* 0 plain, 1 media offer, 2 media answer */
	char *cands[64];
	int ncands;
	int state;
	uint64_t frames;
	bool echo;
	uint8_t echo_buf[PKT];
};

static void die(const char *what)
{
	fprintf(stderr, "media: %s\n", what);
	exit(1);
}

static void s_description(void *arg, bool offer, const char *sdp)
{
	struct side *s = arg;

	free(s->sdp);
	s->sdp = strdup(sdp);
	s->kind = 0;
	if (offer && actr__pc_media_offering(s->pc))
		s->kind = 1;
	else if (!offer && s->other->pc &&
		 actr__pc_media_offering(s->other->pc))
		s->kind = 2;
}

static void s_candidate(void *arg, const char *cand)
{
	struct side *s = arg;

	if (s->ncands < 64)
		s->cands[s->ncands++] = strdup(cand ? cand : "");
}

static void s_state(void *arg, int state, int err)
{
	(void)err;
	((struct side *)arg)->state = state;
}

static void s_message(void *arg, int lane, actr_buf_t *msg)
{
	(void)arg;
	(void)lane;
	actr_buf_unref(msg);
}

static void s_frame(void *arg, const char *track_id,
		    const struct actr__media_frame *f)
{
	struct side *s = arg;

	(void)track_id;
	s->frames++;
	if (s->echo)
		actr__pc_send_frame(s->pc, "back", f->data, f->len, f->ts);
}

static const struct actr__pc_cbs cbs = {
	s_description, s_candidate, s_state, s_message, NULL,
};

static const struct actr__pc_media_cbs mcbs = { s_frame, NULL };

static void pump(struct side *s)
{
	struct side *o = s->other;

	if (s->sdp) {
		char *sdp = s->sdp;

		s->sdp = NULL;
		if (s->kind == 0)
			actr__pc_set_remote(o->pc, sdp, strlen(sdp));
		else
			actr__pc_set_remote_media(o->pc, sdp, strlen(sdp),
						  s->kind == 1);
		free(sdp);
	}
	if (actr__pc_state(o->pc) == ACTR__PC_NEW)
		return;
	for (int i = 0; i < s->ncands; i++) {
		actr__pc_add_candidate(o->pc, s->cands[i]);
		free(s->cands[i]);
	}
	s->ncands = 0;
}

static void step(actr_reactor_t *r, struct side *a, struct side *b, int ms)
{
	actr_reactor_run_once(r, ms);
	pump(a);
	pump(b);
}

static void make_pair(actr_reactor_t *r, struct side *a, struct side *b)
{
	struct actr__pc_config c;
	uint64_t end;

	memset(&c, 0, sizeof(c));
	c.ice.local_addrs[0] = "127.0.0.1";
	c.trickle = true;
	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	a->other = b;
	b->other = a;
	a->pc = actr__pc_new(r, true, NULL, &c, &cbs, a);
	b->pc = actr__pc_new(r, false, NULL, &c, &cbs, b);
	if (!a->pc || !b->pc)
		die("pc_new");
	actr__pc_set_media_cbs(a->pc, &mcbs);
	actr__pc_set_media_cbs(b->pc, &mcbs);
	if (actr__pc_add_track(a->pc, "out", "opus") < 0)
		die("add_track");
	if (actr__pc_start(a->pc) < 0)
		die("start");
	end = actr_time_ns() + ACTR_SEC(10);
	while (!(a->state == ACTR__PC_CONNECTED &&
		 b->state == ACTR__PC_CONNECTED) && actr_time_ns() < end)
		step(r, a, b, 5);
	if (a->state != ACTR__PC_CONNECTED)
		die("no connection");
}

/* Send n 1200-byte RTP packets from a to b in batches; packets/s. */
static double media_rate(actr_reactor_t *r, struct side *a, struct side *b,
			 uint64_t n, uint64_t *lost)
{
	uint8_t frame[PKT - 12];
	uint64_t t0, t1, got0 = b->frames, sent = 0;
	uint32_t ts = 0;

	memset(frame, 0xab, sizeof(frame));
	t0 = actr_time_ns();
	while (sent < n) {
		for (int i = 0; i < BATCH && sent < n; i++, sent++) {
			ts += 960;
			if (actr__pc_send_frame(a->pc, "out", frame,
						sizeof(frame), ts) < 0)
				die("send_frame");
		}
		/* let the receiver catch up before the next batch */
		for (int k = 0; k < 1000 && b->frames - got0 < sent; k++)
			step(r, a, b, 0);
	}
	t1 = actr_time_ns();
	*lost += n - (b->frames - got0);
	return (double)n * 1e9 / (double)(t1 - t0);
}

/* Raw UDP: the same batches, send then receive, one process. */
static double udp_rate(uint64_t n)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0), d = socket(AF_INET,
							     SOCK_DGRAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	uint8_t buf[2048];
	uint64_t t0, sent = 0, got = 0;
	int big = 4 << 20;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(d, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(d, (struct sockaddr *)&sa, &sl) < 0 ||
	    connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("udp socket");
	setsockopt(d, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	memset(buf, 0xab, sizeof(buf));
	t0 = actr_time_ns();
	while (sent < n) {
		for (int i = 0; i < BATCH && sent < n; i++, sent++)
			if (send(s, buf, PKT + 16, 0) < 0)
				die("udp send");
		while (got < sent) {
			if (recv(d, buf, sizeof(buf), 0) < 0)
				die("udp recv");
			got++;
		}
	}
	close(s);
	close(d);
	return (double)n * 1e9 / (double)(actr_time_ns() - t0);
}

/* Raw UDP with the kernel's batch calls: sendmmsg and recvmmsg of BATCH
 * datagrams (what the direct path uses, without GSO/GRO). */
static double udp_mmsg_rate(uint64_t n)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0), d = socket(AF_INET,
							     SOCK_DGRAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	static uint8_t buf[BATCH][2048];
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	uint64_t t0, sent = 0, got = 0;
	int big = 4 << 20;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(d, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(d, (struct sockaddr *)&sa, &sl) < 0 ||
	    connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("udp socket");
	setsockopt(d, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	memset(mm, 0, sizeof(mm));
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = buf[i];
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	t0 = actr_time_ns();
	while (sent < n) {
		int k = (int)ACTR_MIN((uint64_t)BATCH, n - sent), m;

		for (int i = 0; i < k; i++)
			iov[i].iov_len = PKT + 16;
		if (sendmmsg(s, mm, (unsigned)k, 0) != k)
			die("udp sendmmsg");
		sent += (uint64_t)k;
		while (got < sent) {
			for (int i = 0; i < BATCH; i++)
				iov[i].iov_len = 2048;
			m = recvmmsg(d, mm, BATCH, MSG_WAITFORONE, NULL);
			if (m <= 0)
				die("udp recvmmsg");
			got += (uint64_t)m;
		}
	}
	close(s);
	close(d);
	return (double)n * 1e9 / (double)(actr_time_ns() - t0);
}

/* Half round trips of a one-packet frame, A -> B -> A, in us. */
static void media_latency(actr_reactor_t *r, struct side *a, struct side *b,
			  int n, double *p50, double *p99)
{
	uint64_t *v = malloc(sizeof(*v) * (size_t)n);
	uint8_t frame[PKT - 12];
	uint64_t end;

	static bool back_added;	/* rounds after the first reuse it */

	memset(frame, 0x5a, sizeof(frame));
	b->echo = true;
	/* the echo track: B's offer, answered by A */
	if (!back_added && actr__pc_add_track(b->pc, "back", "opus") < 0)
		die("add back");
	back_added = true;
	end = actr_time_ns() + ACTR_SEC(5);
	while (actr_time_ns() < end &&
	       actr__pc_send_frame(b->pc, "back", frame, 10, 1) ==
	       -ACTR_ENOTREADY)
		step(r, a, b, 1);
	for (int k = 0; k < 100; k++)
		step(r, a, b, 0);
	for (int i = 0; i < n; i++) {
		uint64_t want = a->frames + 1, t0 = actr_time_ns();

		if (actr__pc_send_frame(a->pc, "out", frame, sizeof(frame),
					(uint32_t)i * 960) < 0)
			die("latency send");
		end = t0 + ACTR_SEC(1);
		while (a->frames < want && actr_time_ns() < end)
			step(r, a, b, 1);
		v[i] = (actr_time_ns() - t0) / 2;
	}
	b->echo = false;
	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	*p50 = (double)v[n / 2] / 1000.0;
	*p99 = (double)v[(size_t)((double)n * 0.99)] / 1000.0;
	free(v);
}

static void udp_latency(int n, double *p50, double *p99)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0), d = socket(AF_INET,
							     SOCK_DGRAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET }, sb = sa;
	socklen_t sl = sizeof(sa);
	uint64_t *v = malloc(sizeof(*v) * (size_t)n);
	uint8_t buf[2048];

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sb.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(d, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(d, (struct sockaddr *)&sa, &sl) < 0 ||
	    bind(s, (struct sockaddr *)&sb, sizeof(sb)) < 0 ||
	    getsockname(s, (struct sockaddr *)&sb, &sl) < 0 ||
	    connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    connect(d, (struct sockaddr *)&sb, sizeof(sb)) < 0)
		die("udp socket");
	memset(buf, 0, sizeof(buf));
	for (int i = 0; i < n; i++) {
		uint64_t t0 = actr_time_ns();

		if (send(s, buf, PKT + 16, 0) < 0 ||
		    recv(d, buf, sizeof(buf), 0) < 0 ||
		    send(d, buf, PKT + 16, 0) < 0 ||
		    recv(s, buf, sizeof(buf), 0) < 0)
			die("udp ping-pong");
		v[i] = (actr_time_ns() - t0) / 2;
	}
	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	*p50 = (double)v[n / 2] / 1000.0;
	*p99 = (double)v[(size_t)((double)n * 0.99)] / 1000.0;
	free(v);
	close(s);
	close(d);
}

/* Heap per negotiated idle track (both ends), 15 tracks. */
static double track_memory(actr_reactor_t *r, struct side *a, struct side *b)
{
	struct mallinfo2 m0, m1;
	char id[16];
	uint8_t f[16] = { 0 };
	uint64_t end;

	for (int k = 0; k < 200; k++)
		step(r, a, b, 0);
	m0 = mallinfo2();
	for (int i = 0; i < 13; i++) { /* 16 sections: out, back, 13 + data */
		snprintf(id, sizeof(id), "idle%d", i);
		if (actr__pc_add_track(a->pc, id, i & 1 ? "VP8" : "opus") < 0)
			die("add idle");
	}
	end = actr_time_ns() + ACTR_SEC(5);
	while (actr_time_ns() < end &&
	       actr__pc_send_frame(a->pc, "idle12", f, 1, 1) ==
	       -ACTR_ENOTREADY)
		step(r, a, b, 1);
	for (int k = 0; k < 50; k++)
		step(r, a, b, 0);
	m1 = mallinfo2();
	/* idle12 sent one frame: its receiver holds nothing after delivery
	 * (audio) */
	return ((double)m1.uordblks - (double)m0.uordblks) / 13.0;
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
	int rt = argc > 2 ? atoi(argv[2]) : 20000;
	actr_reactor_t *r;
	struct side a, b;
	double mr[REPEATS], ur[REPEATS], umr[REPEATS], mp50, mp99, up50, up99, mem;
	uint64_t lost = 0;
	struct actr__media_stats st;

	pin_env(0);
	actr_log_set_level(ACTR_LOG_WARN);
	actr_set_malloc_tuning(true);
	r = actr_reactor_new();
	make_pair(r, &a, &b);
	media_rate(r, &a, &b, 20000, &lost); /* warm up */
	lost = 0;
	for (int i = 0; i < REPEATS; i++) {
		ur[i] = udp_rate(n);
		umr[i] = udp_mmsg_rate(n);
		mr[i] = media_rate(r, &a, &b, n, &lost);
	}
	qsort(mr, REPEATS, sizeof(double), cmp_dbl);
	qsort(ur, REPEATS, sizeof(double), cmp_dbl);
	qsort(umr, REPEATS, sizeof(double), cmp_dbl);
	actr__pc_media_stats(b.pc, &st);
	printf("media: %d-byte RTP, protect+send+receive+unprotect+deliver, "
	       "one CPU: %.0f packets/s (median of %d x %" PRIu64 ")\n",
	       PKT, mr[REPEATS / 2], REPEATS, n);
	printf("media: raw UDP same run (send+recv %d B, same batches): "
	       "%.0f packets/s; media/raw = %.2f\n", PKT + 16,
	       ur[REPEATS / 2], mr[REPEATS / 2] / ur[REPEATS / 2]);
	printf("media: raw UDP same run with sendmmsg/recvmmsg of %d: %.0f "
	       "packets/s; media/raw = %.2f\n", BATCH, umr[REPEATS / 2],
	       mr[REPEATS / 2] / umr[REPEATS / 2]);
	printf("media: lost %" PRIu64 " of %" PRIu64 " (receiver: srtp "
	       "failures %" PRIu64 ", replays %" PRIu64 ")\n", lost,
	       n * REPEATS, st.srtp_auth_fail, st.srtp_replay);
	bench_out_row(&(struct bench_row){
		.bench = "media", .group = "media RTP packets/s",
		.row = "actr SRTP track", .role = "subject",
		.throughput = mr[REPEATS / 2], .unit = "packets/s", .n = n,
		.rounds = REPEATS,
		.note = "protect+send+receive+unprotect+deliver, one CPU",
	});
	bench_out_row(&(struct bench_row){
		.bench = "media", .group = "media RTP packets/s",
		.row = "raw UDP", .role = "baseline",
		.throughput = ur[REPEATS / 2], .unit = "packets/s", .n = n,
		.rounds = REPEATS,
	});
	bench_out_row(&(struct bench_row){
		.bench = "media", .group = "media RTP packets/s",
		.row = "raw UDP sendmmsg", .role = "baseline",
		.throughput = umr[REPEATS / 2], .unit = "packets/s", .n = n,
		.rounds = REPEATS,
	});
	{
		double m50[3], m99[3], u50[3], u99[3];

		for (int k = 0; k < 3; k++) {
			media_latency(r, &a, &b, rt, &m50[k], &m99[k]);
			udp_latency(rt, &u50[k], &u99[k]);
		}
		mp50 = bench_median(m50, 3);
		mp99 = bench_median(m99, 3);
		up50 = bench_median(u50, 3);
		up99 = bench_median(u99, 3);
	}
	bench_out_row(&(struct bench_row){
		.bench = "media", .group = "media frame half round trip",
		.row = "actr SRTP track", .role = "subject", .p50_us = mp50,
		.p99_us = mp99, .n = (uint64_t)rt, .rounds = 3,
	});
	bench_out_row(&(struct bench_row){
		.bench = "media", .group = "media frame half round trip",
		.row = "raw UDP", .role = "baseline", .p50_us = up50,
		.p99_us = up99, .n = (uint64_t)rt, .rounds = 3,
	});
	printf("media: latency per one-packet frame (half round trip): p50 "
	       "%.1f us, p99 %.1f us; raw UDP same run p50 %.1f us, p99 "
	       "%.1f us; added p50 %.1f us\n", mp50, mp99, up50, up99,
	       mp50 - up50);
	mem = track_memory(r, &a, &b);
	printf("media: heap per idle negotiated track (both ends): %.0f "
	       "bytes\n", mem);
	actr__pc_free(a.pc);
	actr__pc_free(b.pc);
	free(a.sdp);
	free(b.sdp);
	for (int i = 0; i < a.ncands; i++)
		free(a.cands[i]);
	for (int i = 0; i < b.ncands; i++)
		free(b.cands[i]);
	actr_reactor_drain(r, 500);
	actr_reactor_free(r);
	return 0;
}
