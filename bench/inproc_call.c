/*
 * bench/inproc_call: actor ref -> handler -> reply round trip in one
 * process, 64-byte payload (raw route), by default 1M calls.
 *
 *   build/bench/inproc_call [--calls N] [--no-timing] [--mode M]
 *   (M = poll, reactor, typed, durable or embedded: run only that one)
 *
 * Prints p50/p99 latency (ns; each sample includes two clock reads) and
 * calls/s (a second pass without clock reads) for:
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/peer.h>
#include <actr/runtime.h>

#include "examples/echo_actor/echo.pb-c.h"

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

enum mode { POLL, REACTOR, TYPED };

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
		if (mode == TYPED)
			actr_ref_call(ref, "echo.EchoService.Echo", &req.base,
				      &echo__echo_response__descriptor, 0,
				      on_done, NULL);
		else
			actr_ref_call_raw(ref, ROUTE, payload, 64, 0, on_done,
					  NULL);
		if (mode == REACTOR)
			actr_reactor_run_once(reactor, 0);
		else
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

/* Latency percentiles from a pass with two clock reads per call, and
 * calls/s from a second pass without them. */
static void measure(const char *name, long n, enum mode mode, bool timing)
{
	uint32_t *lat = timing ? malloc((size_t)n * sizeof(*lat)) : NULL;
	uint64_t t0;
	double secs;

	if (timing && !lat) {
		perror("malloc");
		exit(1);
	}
	done = failed = 0;
	run_calls(n / 100 + 1, mode, NULL);	/* warm the free lists */
	done = failed = 0;
	if (timing) {
		run_calls(n, mode, lat);
		check_done(name, n);
		done = failed = 0;
	}
	t0 = actr_time_ns();
	run_calls(n, mode, NULL);
	secs = (double)(actr_time_ns() - t0) / 1e9;
	check_done(name, n);
	if (timing) {
		qsort(lat, (size_t)n, sizeof(*lat), cmp_u32);
		printf("%-8s calls=%-8ld p50=%6u ns  p99=%6u ns  "
		       "%10.0f calls/s\n",
		       name, n, lat[n / 2], lat[n * 99 / 100],
		       (double)n / secs);
	} else {
		printf("%-8s calls=%-8ld %10.0f calls/s\n", name, n,
		       (double)n / secs);
	}
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
		else {
			fprintf(stderr, "usage: %s [--calls N] [--no-timing] "
				"[--mode poll|reactor|typed|durable|"
				"embedded]\n",
				argv[0]);
			return 2;
		}
	}
	if (calls < 100)
		calls = 100;
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
