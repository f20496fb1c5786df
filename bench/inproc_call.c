/*
 * bench/inproc_call: actor ref -> handler -> reply round trip in one
 * process, 64-byte payload (raw route), by default 1M calls.
 *
 *   build/bench/inproc_call [--calls N] [--reps K] [--no-timing]
 *                           [--mode M]
 *   (M = ring, poll, reactor, typed, durable or embedded: run only that
 *   one; K rounds, 3 by default, the medians printed)
 *
 * Prints p50/p99 latency (ns; each sample includes two clock reads) and
 * calls/s (a second pass without clock reads) for:
 *   ring     the baseline: 64 B through two in-memory rings and a
 *            function pointer, no runtime at all;
 *   poll     the shell calls, then drives the dispatcher with
 *            actr_system_poll (no syscalls): the runtime's own cost;
 *   reactor  the shell calls, then one actr_reactor_run_once(0) (one
 *            epoll_wait per call): what a loop-driven app sees;
 *   typed    like poll, with a protobuf EchoRequest/EchoResponse (pack
 *            and unpack on both sides);
 *   durable  like reactor, through the durable mailbox (a peer gate with
 *            mailbox_local, SYNC_FULL, handled first: an envelope encode
 *            and a crash-journal copy per call; no signaling server, so
 *            it never registers, which in-process messages do not need);
 *   embedded like reactor once the fd was handed out (actr_reactor_fd):
 *            each call from host code makes the fd readable (an eventfd
 *            write and read), the price of a host loop that blocks on it.
 * Anchors (Rust actr docs): ~16 us in-process call, ~10 us host path.
 * Target: p50 <= 250 ns, <= 1500 instructions per call.
 *
 * Instructions per call (callgrind counts only inside run_calls):
 *   valgrind --tool=callgrind --collect-atstart=no \
 *     --toggle-collect=run_calls build/bench/inproc_call --calls 20000 \
 *     --no-timing --mode poll
 *   callgrind_annotate --inclusive=yes callgrind.out.<pid> | \
 *     grep -E 'run_calls|route_find|dispatch_prepare'
 * Ir(run_calls) / (N + N/100 + 1 warm-up calls) = instructions per
 * call; dispatch alone (route lookup + ACL + context setup) = Ir of
 * actr__route_find + dispatch_prepare, per call.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/peer.h>
#include <actr/runtime.h>

#include "examples/echo_actor/echo.pb-c.h"
#include "bench/bench.h"

#define ROUTE "bench.Bench.Echo"

static int h_echo(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	return actr_reply_raw(ctx, d, n);
}

static int Echo(actr_ctx_t *ctx, const Echo__EchoRequest *req)
{
	Echo__EchoResponse resp = ECHO__ECHO_RESPONSE__INIT;

	resp.reply = req->message;
	resp.timestamp = 1;
	return actr_reply(ctx, &resp.base);
}

static const actr_method_t methods[] = { ACTR_METHOD("Echo", Echo),
					 ACTR_METHOD_END };

static unsigned long done, failed;

static void on_done(const actr_result_t *r, void *arg)
{
	(void)arg;
	done++;
	if (r->status != 0 || (r->len != 64 && !r->msg))
		failed++;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

enum mode { POLL, REACTOR, TYPED, RING };

/*
 * The same-run floor of an in-process call: the request copied into a
 * ring slot, handed to the handler through a function pointer, the reply
 * copied into a second ring and taken out by the caller. No routing, no
 * context, no allocation: what any in-process message passing pays.
 */
#define RING_SLOTS 64

struct ring {
	uint8_t slot[RING_SLOTS][64];	/* message bytes */
	size_t len[RING_SLOTS];		/* bytes used per slot */
	unsigned head;			/* next slot written */
	unsigned tail;			/* next slot read */
};

static struct ring req_ring, rep_ring;

static void ring_push(struct ring *q, const uint8_t *d, size_t n)
{
	unsigned i = q->head++ % RING_SLOTS;

	memcpy(q->slot[i], d, n);
	q->len[i] = n;
}

static size_t ring_pop(struct ring *q, uint8_t *d)
{
	unsigned i = q->tail++ % RING_SLOTS;

	memcpy(d, q->slot[i], q->len[i]);
	return q->len[i];
}

static int ring_echo(const uint8_t *d, size_t n)
{
	ring_push(&rep_ring, d, n);
	return 0;
}

/* volatile: the compiler must not inline the handler away */
static int (*volatile ring_handler)(const uint8_t *, size_t) = ring_echo;

static void ring_call(const uint8_t *payload, size_t n)
{
	uint8_t msg[64];
	size_t len;

	ring_push(&req_ring, payload, n);
	len = ring_pop(&req_ring, msg);
	ring_handler(msg, len);
	len = ring_pop(&rep_ring, msg);
	done++;
	if (len != 64)
		failed++;
}

static actr_system_t *sys;
static actr_reactor_t *reactor;
static actr_ref_t *ref;

/* The measured loop (callgrind toggles collection on this function). */
static __attribute__((noinline)) void run_calls(long n, enum mode mode,
						uint32_t *lat)
{
	static uint8_t payload[64];
	Echo__EchoRequest req = ECHO__ECHO_REQUEST__INIT;

	req.message = "0123456789012345678901234567890123456789012345678901234";
	for (long i = 0; i < n; i++) {
		uint64_t t0 = lat ? actr_time_ns() : 0;

		payload[0] = (uint8_t)i;
		if (mode == RING)
			ring_call(payload, 64);
		else if (mode == TYPED)
			actr_ref_call(ref, "echo.EchoService.Echo", &req.base,
				      &echo__echo_response__descriptor, 0,
				      on_done, NULL);
		else
			actr_ref_call_raw(ref, ROUTE, payload, 64, 0, on_done,
					  NULL);
		if (mode == REACTOR)
			actr_reactor_run_once(reactor, 0);
		else if (mode != RING)
			actr_system_poll(sys, 0);
		if (lat)
			lat[i] = (uint32_t)(actr_time_ns() - t0);
	}
}

static void check_done(const char *name, long n)
{
	if ((long)done != n || failed) {
		fprintf(stderr, "%s: %lu of %ld calls completed, %lu failed\n",
			name, done, n, failed);
		exit(1);
	}
}

static int reps = 3;

/* Latency percentiles from a pass with two clock reads per call, and
 * calls/s from a second pass without them; medians of reps rounds.
 * role/row: the contract row written when ACTR_BENCH_OUT is set. */
static void measure(const char *name, long n, enum mode mode, bool timing)
{
	uint32_t *lat = timing ? malloc((size_t)n * sizeof(*lat)) : NULL;
	double p50[16], p99[16], rate[16], m50 = 0, m99 = 0, mrate;
	const char *sp = NULL;
	uint64_t t0;
	double secs;

	if (timing && !lat) {
		perror("malloc");
		exit(1);
	}
	for (int k = 0; k < reps; k++) {
		done = failed = 0;
		run_calls(n / 100 + 1, mode, NULL); /* warm the free lists */
		done = failed = 0;
		if (timing) {
			run_calls(n, mode, lat);
			check_done(name, n);
			done = failed = 0;
			qsort(lat, (size_t)n, sizeof(*lat), cmp_u32);
			p50[k] = lat[n / 2];
			p99[k] = lat[n * 99 / 100];
		}
		t0 = actr_time_ns();
		run_calls(n, mode, NULL);
		secs = (double)(actr_time_ns() - t0) / 1e9;
		check_done(name, n);
		rate[k] = (double)n / secs;
	}
	mrate = bench_median(rate, (size_t)reps);
	if (timing) {
		m50 = bench_median(p50, (size_t)reps);
		m99 = bench_median(p99, (size_t)reps);
		printf("%-8s calls=%-8ld p50=%6.0f ns  p99=%6.0f ns  "
		       "%10.0f calls/s\n",
		       name, n, m50, m99, mrate);
		if (bench_out_dir()) {
			double *us = malloc((size_t)n * sizeof(*us));

			for (long i = 0; us && i < n; i++)
				us[i] = lat[i] / 1000.0;
			if (us)
				sp = bench_out_samples("inproc_call",
						       "call 64 B", name, us,
						       (size_t)n);
			free(us);
		}
	} else {
		printf("%-8s calls=%-8ld %10.0f calls/s\n", name, n, mrate);
	}
	bench_out_row(&(struct bench_row){
		.bench = "inproc_call",
		.group = "call 64 B",
		.row = name,
		.role = mode == RING ? "baseline" : "subject",
		.p50_us = m50 / 1000.0,
		.p99_us = m99 / 1000.0,
		.throughput = mrate,
		.unit = "calls/s",
		.n = (uint64_t)n,
		.rounds = (unsigned)reps,
		.samples = sp,
		.note = mode == RING ? "64 B copied through two in-memory "
				       "rings and a function pointer" : NULL,
	});
	free(lat);
}

int main(int argc, char **argv)
{
	long calls = 1000000;
	bool timing = true;
	const char *only = NULL;
	actr_workload_t *w;
	actr_node_t *node;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--calls") && i + 1 < argc)
			calls = atol(argv[++i]);
		else if (!strcmp(argv[i], "--no-timing"))
			timing = false;
		else if (!strcmp(argv[i], "--mode") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--calls N] [--no-timing] "
				"[--reps K] [--mode poll|reactor|"
				"typed|durable|embedded|ring]\n",
				argv[0]);
			return 2;
		}
	}
	if (calls < 100)
		calls = 100;
	if (reps < 1 || reps > 16)
		reps = 3;
	reactor = actr_reactor_new();
	sys = actr_system_new(reactor, NULL);
	w = actr_workload_new("bench", "echo", "1.0.0");
	if (!reactor || !sys || !w ||
	    actr_workload_add_route(w, ROUTE, h_echo, 0) < 0 ||
	    actr_workload_add_service(w, &echo__echo_service__descriptor,
				      methods) < 0)
		return 1;
	node = actr_node_new(sys, w, 0);
	if (!node || actr_node_start(node, &ref) < 0)
		return 1;

	printf("inproc_call: 64-byte payload, ref -> handler -> reply\n");
	long tenth = calls / 10 > 100 ? calls / 10 : 100;

	if (!only || !strcmp(only, "ring"))
		measure("ring", calls, RING, timing);
	if (!only || !strcmp(only, "poll"))
		measure("poll", calls, POLL, timing);
	if (!only || !strcmp(only, "reactor"))
		measure("reactor", only ? calls : tenth, REACTOR, timing);
	if (!only || !strcmp(only, "typed"))
		measure("typed", only ? calls : tenth, TYPED, timing);
	if (!only || !strcmp(only, "durable")) {
		char db[64];
		actr_peer_config_t pc = { .signaling_url = "ws://127.0.0.1:1",
					  .mailbox_path = db,
					  .mailbox_local = true };
		actr_peer_t *peer;

		snprintf(db, sizeof(db), "/tmp/actr-inproc-%d.db",
			 (int)getpid());
		actr_log_set_level(ACTR_LOG_ERROR); /* no server: retries */
		peer = actr_peer_new(node, &pc);
		if (!peer || actr_peer_start(peer) < 0)
			return 1;
		measure("durable", only ? calls : tenth, REACTOR, timing);
		actr_peer_free(peer);
		actr_mailbox_remove(db);
	}
	if (!only || !strcmp(only, "embedded")) {
		(void)actr_reactor_fd(reactor);	/* on for good: last */
		measure("embedded", only ? calls : tenth, REACTOR, timing);
	}
	printf("anchors (Rust actr docs): in-process call ~16000 ns, "
	       "host path ~10000 ns; target p50 <= 250 ns\n");
	printf("instructions/call: valgrind --tool=callgrind "
	       "--collect-atstart=no --toggle-collect=run_calls %s --calls "
	       "20000 --no-timing --mode poll; then callgrind_annotate "
	       "--inclusive=yes "
	       "(see the comment at the top of bench/inproc_call.c)\n",
	       argv[0]);
	actr_system_free(sys);
	actr_reactor_free(reactor);
	return 0;
}
