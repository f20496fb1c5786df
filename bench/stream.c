/*
 * bench/stream: data streams between two processes over the full stack
 * (runtime + peer gate + ICE/DTLS/SCTP, the STREAM_* DataChannels), next
 * to raw UDP on the same CPU in the same run.
 *
 *   build/bench/stream [--mb M] [--pings N] [--cpu C]
 *
 * This process pins itself to CPU C (default 0), runs actr-signal and the
 * sender node; it starts itself again as the receiver (acme:sink, same
 * CPU). Both opt in to the heap tuning (actr_set_malloc_tuning), as
 * bench/datachannel does. Figures:
 * - throughput: M MB (default 512) of 64 KiB chunks on STREAM_RELIABLE,
 *   the sender following the backpressure contract (send until -ENOBUFS,
 *   resume on the writable callback); from the first chunk to the
 *   receiver's acknowledgement of the last byte; median of 3 runs;
 * - chunk round trip p50/p99 of N (default 20000) 1 KiB chunks echoed
 *   by the receiver on the same lane, one at a time, for each lane
 *   (medians of 3 rounds);
 * - the baseline: the same round trip as a raw UDP ping-pong (a forked
 *   echo on the same CPU) and the ratio. Raw data-channel throughput is
 *   bench/datachannel's figure (run it next to this one).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>

#include "server/signal_internal.h"
#include "bench/bench.h"

#define CHUNK (64u << 10)
#define PING 1024u

/* ---- receiver role ------------------------------------------------------ */

struct sink {
	actr_ref_t *ref;
	uint64_t bytes;			/* of the current bulk run */
	uint64_t want;			/* announced by the "start" chunk */
};

static struct sink sink;

static void send_back(const Actr__ActrId *to, const char *stream,
		      const Actr__DataChunk *c, int lane)
{
	Actr__DataChunk r = *c;
	int rc;

	r.stream_id = (char *)stream;
	rc = actr_stream_send(sink.ref, to, &r, lane);
	if (rc < 0)
		fprintf(stderr, "stream sink: reply failed: %s\n",
			actr_strerror(rc));
}

static void on_bulk(const Actr__ActrId *from, const Actr__DataChunk *c,
		    void *arg)
{
	(void)arg;
	if (c->sequence == 0) {		/* a run starts: payload = bytes */
		memcpy(&sink.want, c->payload.data, sizeof(sink.want));
		sink.bytes = 0;
		return;
	}
	sink.bytes += c->payload.len;
	if (sink.bytes == sink.want) {
		Actr__DataChunk a = ACTR__DATA_CHUNK__INIT;

		a.sequence = c->sequence;
		send_back(from, "ack", &a, ACTR_STREAM_RELIABLE);
	}
}

static void on_ping(const Actr__ActrId *from, const Actr__DataChunk *c,
		    void *arg)
{
	send_back(from, "pong", c, (int)(intptr_t)arg);
}

/* bench.Who: the receiver's ActrId (encoded), so the sender can stream
 * to it (discovery finds actors by type for calls only). */
static int who(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	uint8_t b[256];
	const Actr__ActrId *self = actr_ctx_self(ctx);
	size_t len = actr__actr_id__get_packed_size(self);

	(void)d;
	(void)n;
	if (len > sizeof(b))
		return -ACTR_EINTERNAL;
	actr__actr_id__pack(self, b);
	return actr_reply_raw(ctx, b, len);
}

static int run_receiver(const char *url)
{
	actr_system_config_t sc = { .realm_id = 101 };
	actr_peer_config_t pc = { .signaling_url = url, .realm_secret = "pw",
				  .local_addr = "127.0.0.1" };
	actr_reactor_t *r = actr_reactor_new();
	actr_system_t *sys = r ? actr_system_new(r, &sc) : NULL;
	actr_workload_t *w = actr_workload_new("acme", "sink", "1.0.0");
	actr_node_t *n;
	actr_peer_t *p;

	if (!sys || !w || actr_workload_add_route(w, "bench.Who", who, 0) < 0 ||
	    !(n = actr_node_new(sys, w, 0)) || !(p = actr_peer_new(n, &pc)) ||
	    actr_node_start(n, &sink.ref) < 0 || actr_peer_start(p) < 0)
		return 1;
	if (actr_stream_register(sink.ref, "bulk", on_bulk, NULL) < 0 ||
	    actr_stream_register(sink.ref, "ping-r", on_ping,
				 (void *)(intptr_t)ACTR_STREAM_RELIABLE) < 0 ||
	    actr_stream_register(sink.ref, "ping-l", on_ping,
				 (void *)(intptr_t)ACTR_STREAM_LATENCY_FIRST) <
		    0)
		return 1;
	actr_ref_run_until_signal(sink.ref);
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
		execl(exe, exe, "--role-receiver", url, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* ---- sender role -------------------------------------------------------- */

struct src {
	actr_reactor_t *r;
	actr_ref_t *ref;
	Actr__ActrId *to;		/* the receiver (owned) */
	uint8_t *buf;			/* 64 KiB payload */
	uint64_t seq, last;		/* next bulk chunk, last one */
	bool blocked;
	int acks;			/* "ack" chunks */
	int pongs;			/* "pong" chunks */
	uint64_t pong_seq;
	uint64_t would_block;
};

static struct src src;

static void pump(void)
{
	Actr__DataChunk c = ACTR__DATA_CHUNK__INIT;
	int rc;

	c.stream_id = "bulk";
	c.payload.data = src.buf;
	c.payload.len = CHUNK;
	src.blocked = false;
	while (src.seq <= src.last) {
		c.sequence = src.seq;
		rc = actr_stream_send(src.ref, src.to, &c,
				      ACTR_STREAM_RELIABLE);
		if (rc == -ENOBUFS) {
			src.would_block++;
			src.blocked = true;
			return;
		}
		if (rc < 0) {
			fprintf(stderr, "stream: send failed: %s\n",
				actr_strerror(rc));
			exit(1);
		}
		src.seq++;
	}
}

static void on_writable(const Actr__ActrId *t, int lane, void *arg)
{
	(void)t;
	(void)arg;
	if (lane == ACTR_STREAM_RELIABLE && src.blocked)
		pump();
}

static void on_ack(const Actr__ActrId *from, const Actr__DataChunk *c,
		   void *arg)
{
	(void)from;
	(void)c;
	(void)arg;
	src.acks++;
}

static void on_pong(const Actr__ActrId *from, const Actr__DataChunk *c,
		    void *arg)
{
	(void)from;
	(void)arg;
	src.pong_seq = c->sequence;
	src.pongs++;
}

static bool run_until(const int *flag, int want, int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(ms);

	while (*flag < want && actr_time_ns() < end)
		actr_reactor_run_once(src.r, 100);
	return *flag >= want;
}

/* One bulk run of mb MB; MB/s, or < 0. */
static double bulk(unsigned mb)
{
	Actr__DataChunk c = ACTR__DATA_CHUNK__INIT;
	uint64_t bytes, t0, t1;
	int acks = src.acks;

	src.last = ((uint64_t)mb * 1000 * 1000 + CHUNK - 1) / CHUNK;
	bytes = src.last * CHUNK;
	c.stream_id = "bulk";
	c.sequence = 0;
	c.payload.data = (uint8_t *)&bytes;
	c.payload.len = sizeof(bytes);
	if (actr_stream_send(src.ref, src.to, &c, ACTR_STREAM_RELIABLE) < 0)
		return -1;
	src.seq = 1;
	t0 = actr_time_ns();
	pump();
	if (!run_until(&src.acks, acks + 1, 60000))
		return -1;
	t1 = actr_time_ns();
	return (double)bytes / 1e6 / ((double)(t1 - t0) / 1e9);
}

static double last_p99;	/* us, of the latest report() */

static void report(const char *what, uint64_t *lat, int n, double *p50)
{
	qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
	last_p99 = (double)lat[(size_t)n * 99 / 100] / 1e3;
	printf("  %-34s p50 %8.1f us  p99 %8.1f us\n", what,
	       (double)lat[n / 2] / 1e3,
	       (double)lat[(size_t)n * 99 / 100] / 1e3);
	*p50 = (double)lat[n / 2];
}

/* n sequential 1 KiB round trips on lane; p50 in ns, or < 0. */
static int pings(int lane, int n, const char *label, double *p50)
{
	Actr__DataChunk c = ACTR__DATA_CHUNK__INIT;
	uint8_t buf[PING] = { 0 };
	uint64_t *lat = calloc((size_t)n, sizeof(*lat));
	static uint64_t seq;	/* latest-first: always newer */
	int warm = n / 10 + 10;

	if (!lat)
		return -1;
	c.stream_id = lane == ACTR_STREAM_RELIABLE ? "ping-r" : "ping-l";
	c.payload.data = buf;
	c.payload.len = sizeof(buf);
	for (int i = -warm; i < n; i++) {
		uint64_t t0 = actr_time_ns(), end = t0 + ACTR_MS(1000);

		c.sequence = ++seq;
		if (actr_stream_send(src.ref, src.to, &c, lane) < 0) {
			free(lat);
			return -1;
		}
		while (src.pong_seq != seq && actr_time_ns() < end)
			actr_reactor_run_once(src.r, 100);
		if (src.pong_seq != seq) {
			/* latency-first may lose one: it does not count */
			i--;
			continue;
		}
		if (i >= 0)
			lat[i] = actr_time_ns() - t0;
	}
	report(label, lat, n, p50);
	free(lat);
	return 0;
}

#define ROUNDS 3

/* The contract row of ROUNDS p50s (ns) and p99s (us). */
static void ping_row(const char *row, const char *role, double *p50,
		     double *p99, int n)
{
	bench_out_row(&(struct bench_row){
		.bench = "stream", .group = "stream 1 KiB round trip",
		.row = row, .role = role,
		.p50_us = bench_median(p50, ROUNDS) / 1e3,
		.p99_us = bench_median(p99, ROUNDS), .n = (uint64_t)n,
		.rounds = ROUNDS,
	});
}

/* ---- raw UDP ping-pong ---------------------------------------------------- */

static int udp_pingpong(int n, size_t size, double *p50)
{
	struct sockaddr_in a = { .sin_family = AF_INET }, b = a;
	socklen_t sl = sizeof(b);
	uint8_t buf[4096] = { 0 };
	uint64_t *lat = calloc((size_t)n + 100, sizeof(*lat));
	int s1 = socket(AF_INET, SOCK_DGRAM, 0);
	int s2 = socket(AF_INET, SOCK_DGRAM, 0);
	uint64_t t0;
	pid_t pid;
	int st;

	a.sin_addr.s_addr = b.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!lat || s1 < 0 || s2 < 0 ||
	    bind(s2, (struct sockaddr *)&b, sizeof(b)) < 0 ||
	    getsockname(s2, (struct sockaddr *)&b, &sl) < 0 ||
	    connect(s1, (struct sockaddr *)&b, sizeof(b)) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		for (;;) {
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t k = recvfrom(s2, buf, sizeof(buf), 0,
					     (struct sockaddr *)&from, &fl);

			if (k <= 0)
				_exit(0);
			sendto(s2, buf, (size_t)k, 0, (struct sockaddr *)&from,
			       fl);
		}
	}
	close(s2);
	for (int i = 0; i < n + 100; i++) {
		struct pollfd pf = { .fd = s1, .events = POLLIN };

		t0 = actr_time_ns();
		if (send(s1, buf, size, 0) != (ssize_t)size ||
		    poll(&pf, 1, 1000) != 1 ||
		    recv(s1, buf, sizeof(buf), 0) < 0)
			break;
		lat[i] = actr_time_ns() - t0;
	}
	if (send(s1, buf, 0, 0) < 0)
		kill(pid, SIGKILL);
	for (int i = 0; i < 100 && waitpid(pid, &st, WNOHANG) != pid; i++)
		usleep(10000);
	kill(pid, SIGKILL);
	waitpid(pid, &st, WNOHANG);
	close(s1);
	report("raw UDP ping-pong (1 KiB)", lat + 100, n, p50);
	free(lat);
	return 0;
}

/* ---- main ----------------------------------------------------------------- */

static struct {
	int done, status;
	uint8_t id[256];
	size_t len;
} who_res;

static void on_who(const actr_result_t *r, void *arg)
{
	(void)arg;
	who_res.status = r->status;
	if (r->status == 0 && r->len <= sizeof(who_res.id)) {
		memcpy(who_res.id, r->data, r->len);
		who_res.len = r->len;
	}
	who_res.done++;
}

/* Find the receiver with a call by type (opens the connection too). */
static int find_receiver(actr_peer_t *peer)
{
	Actr__ActrType t = ACTR__ACTR_TYPE__INIT;

	t.manufacturer = "acme";
	t.name = "sink";
	t.version = "1.0.0";
	for (int tries = 0; tries < 200; tries++) {
		int want = who_res.done + 1;

		if (actr_peer_call_raw(peer, &t, "bench.Who", "", 0, 10000,
				       on_who, NULL) < 0 ||
		    !run_until(&who_res.done, want, 11000))
			return -1;
		if (who_res.status == 0)
			break;
		for (int i = 0; i < 5; i++)	/* not registered yet */
			actr_reactor_run_once(src.r, 10);
	}
	if (who_res.status < 0)
		return who_res.status;
	src.to = actr__actr_id__unpack(NULL, who_res.len, who_res.id);
	return src.to ? 0 : -ACTR_EPROTO;
}

int main(int argc, char **argv)
{
	struct actr__sig_config scfg;
	struct actr__sig_listen_config lc = { .host = "127.0.0.1" };
	actr_system_config_t sc = { .realm_id = 101 };
	actr_peer_config_t pc = { .realm_secret = "pw",
				  .local_addr = "127.0.0.1" };
	actr_stream_opts_t so = { ACTR_OPTS(so) };
	struct actr__sig_listener *l;
	actr_system_t *sys;
	actr_node_t *node;
	actr_peer_t *peer;
	double mbs[3], p_rel = 0, p_lf = 0, p_udp = 0;
	double r50[ROUNDS], r99[ROUNDS], l50[ROUNDS], l99[ROUNDS], u50[ROUNDS];
	double u99[ROUNDS];
	int n = 20000, cpu = 0, rc = 0;
	unsigned mb = 512;
	pid_t child;

	/* both processes, as bench/datachannel (README's figures) */
	actr_set_malloc_tuning(true);
	if (argc == 3 && !strcmp(argv[1], "--role-receiver"))
		return run_receiver(argv[2]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pings") && i + 1 < argc)
			n = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--mb") && i + 1 < argc)
			mb = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--cpu") && i + 1 < argc)
			cpu = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--mb M] [--pings N] "
				"[--cpu C]\n", argv[0]);
			return 2;
		}
	}
	if (n < 100)
		n = 100;
	if (!mb)
		mb = 1;
	pin(cpu);
	if (actr_log_get_level() == ACTR_LOG_INFO && !getenv("ACTR_LOG"))
		actr_log_set_level(ACTR_LOG_WARN);
	setenv("ACTR_LOG", "warn", 0);	/* the receiver too */
	printf("stream: sender and receiver processes on CPU %d, loopback; "
	       "%u MB of 64 KiB chunks x3, %d 1 KiB round trips per lane\n",
	       cpu, mb, n);
	src.r = actr_reactor_new();
	actr__sig_config_defaults(&scfg);
	scfg.db_path = ":memory:";
	scfg.msg_per_s = scfg.msg_burst = 1e6;
	l = src.r ? actr__sig_listen(src.r, &scfg, &lc) : NULL;
	if (!l || actr__sig_add_realm(actr__sig_listener_core(l), 101,
				      "pw") < 0)
		return 1;
	{
		static char url[64];

		snprintf(url, sizeof(url), "ws://127.0.0.1:%u",
			 actr__sig_listener_port(l));
		pc.signaling_url = url;
	}
	sys = actr_system_new(src.r, &sc);
	node = sys ? actr_node_new(sys, actr_workload_new("acme", "src",
							  "1.0.0"), 0)
		   : NULL;
	peer = node ? actr_peer_new(node, &pc) : NULL;
	src.buf = calloc(1, CHUNK);
	if (!peer || !src.buf || actr_node_start(node, &src.ref) < 0 ||
	    actr_peer_start(peer) < 0)
		return 1;
	so.writable = on_writable;
	if (actr_stream_configure(src.ref, &so) < 0 ||
	    actr_stream_register(src.ref, "ack", on_ack, NULL) < 0 ||
	    actr_stream_register(src.ref, "pong", on_pong, NULL) < 0)
		return 1;
	child = spawn(pc.signaling_url);
	{
		uint64_t end = actr_time_ns() + ACTR_MS(10000);

		while (!actr_peer_ready(peer) && actr_time_ns() < end)
			actr_reactor_run_once(src.r, 10);
	}
	if (find_receiver(peer) < 0) {
		fprintf(stderr, "stream: receiver not found\n");
		rc = 1;
		goto out;
	}
	for (int i = 0; i < 3; i++) {
		mbs[i] = bulk(mb);
		if (mbs[i] < 0) {
			fprintf(stderr, "stream: bulk run failed\n");
			rc = 1;
			goto out;
		}
	}
	qsort(mbs, 3, sizeof(mbs[0]), cmp_dbl);
	printf("  %-34s %8.1f MB/s (median of 3: %.1f .. %.1f), "
	       "%llu would-block\n", "STREAM_RELIABLE 64 KiB chunks", mbs[1],
	       mbs[0], mbs[2], (unsigned long long)src.would_block);
	bench_out_row(&(struct bench_row){
		.bench = "stream", .group = "one-way 64 KiB",
		.row = "actr stream STREAM_RELIABLE", .role = "subject",
		.throughput = mbs[1], .unit = "MB/s",
		.n = (uint64_t)mb << 20, .rounds = 3,
		.note = "bench/stream: runtime + peer gate, 64 KiB chunks",
	});
	for (int k = 0; k < ROUNDS && !rc; k++) {
		if (pings(ACTR_STREAM_RELIABLE, n,
			  "STREAM_RELIABLE 1 KiB round trip", &r50[k]) < 0)
			rc = 1;
		r99[k] = last_p99;
		if (!rc && pings(ACTR_STREAM_LATENCY_FIRST, n,
				 "STREAM_LATENCY_FIRST 1 KiB round trip",
				 &l50[k]) < 0)
			rc = 1;
		l99[k] = last_p99;
	}
	if (!rc) {
		ping_row("STREAM_RELIABLE", "subject", r50, r99, n);
		ping_row("STREAM_LATENCY_FIRST", "subject", l50, l99, n);
		p_rel = bench_median(r50, ROUNDS);
		p_lf = bench_median(l50, ROUNDS);
	}
out:
	stop(src.r, child);
	actr_proto_free(src.to);
	actr_peer_free(peer);
	actr_system_free(sys);
	actr__sig_listener_free(l);
	drain(src.r);
	actr_reactor_free(src.r);
	free(src.buf);
	for (int k = 0; k < ROUNDS && !rc; k++) {
		if (udp_pingpong(n, PING, &u50[k]) < 0)
			rc = 1;
		u99[k] = last_p99;
	}
	if (!rc) {
		ping_row("raw UDP", "baseline", u50, u99, n);
		p_udp = bench_median(u50, ROUNDS);
	}
	if (!rc && p_udp > 0)
		printf("  p50 ratio to UDP: STREAM_RELIABLE %.2fx, "
		       "STREAM_LATENCY_FIRST %.2fx\n", p_rel / p_udp,
		       p_lf / p_udp);
	return rc;
}
