/*
 * bench/conn_scale: one node holding many peer connections.
 *
 *   build/bench/conn_scale [--conns N] [--hosts H] [--window W]
 *                          [--passes P] [--rounds K] [--idle S]
 *
 * actr-signal runs in a child process; H children host N echo nodes
 * (acme:echo-<i>:1.0.0), one system + peer gate each on the child's one
 * reactor (a process can host many peer gates on one reactor: usrsctp is
 * bound to the reactor, not to a system). This process holds one node
 * and connects to all N with W setups in flight (discovery + role
 * negotiation + ICE + DTLS + SCTP + the first call), then:
 *   - setup rate (connections/s) and setup time p50/p99;
 *   - RSS with all N open, per connection (after the first one);
 *   - the node's CPU while the N connections are idle: in the 2 s right
 *     after the setups, and for S (2) s from 6 s on (consent checks,
 *     heartbeats, timers);
 *   - call latency: P passes of sequential 64-byte Echo calls
 *     round-robin over the N connections, K rounds, p50/p99 (median of
 *     rounds); next to it the same node calling one connection only.
 * N defaults to 1000, 200 with ACTR_BENCH_QUICK=1. RLIMIT_NOFILE is
 * raised as needed (about 3 descriptors per connection here).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench/scale.h"

static double cpu_self_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double pct(uint64_t *v, size_t n, int p)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return n ? (double)v[n * (size_t)p / 100 < n ? n * (size_t)p / 100
						   : n - 1] / 1e3 : 0;
}

static double median3(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* K rounds of calls (one target, or round-robin over all); medians of
 * p50/p99 into out[0..1]; the samples of the median round kept. */
static int calls(struct scale_driver *d, bool all, int ncalls, int rounds,
		 double *out, uint64_t *keep)
{
	double p50[9], p99[9];
	uint64_t *lat = calloc((size_t)ncalls, sizeof(*lat));
	int target = 0;

	if (!lat)
		return -1;
	for (int k = 0; k < rounds; k++) {
		for (int i = 0; i < ncalls; i++) {
			int rc;

			if (all)
				target = (target + 1) % d->n;
			rc = scale_call_sync(d, target, &lat[i]);
			if (rc < 0) {
				fprintf(stderr, "conn_scale: call to echo-%d: "
					"%s\n", target, actr_strerror(rc));
				free(lat);
				return -1;
			}
		}
		if (keep && k == rounds / 2)
			memcpy(keep, lat, (size_t)ncalls * sizeof(*lat));
		p50[k] = pct(lat, (size_t)ncalls, 50);
		p99[k] = pct(lat, (size_t)ncalls, 99);
	}
	out[0] = median3(p50, rounds);
	out[1] = median3(p99, rounds);
	free(lat);
	return 0;
}

int main(int argc, char **argv)
{
	actr_system_config_t sc = { .realm_id = 101 };
	actr_peer_config_t pc = { .realm_secret = "pw",
				  .local_addr = "127.0.0.1",
				  .setup_timeout_ms = 30000,
				  .max_queued = 64 };
	struct mem idle, one, all;
	struct scale_driver d;
	actr_reactor_t *r;
	actr_system_t *sys;
	actr_node_t *node;
	actr_peer_t *peer;
	actr_ref_t *ref;
	char url[64], la[64], la2[64], note[256];
	uint64_t *setup, *keep, t0, t1, end;
	double rr[2], single[2], cpu0, cpu1, secs, idle_cpu, busy_cpu;
	pid_t sig, hosts[16];
	int n = getenv("ACTR_BENCH_QUICK") ? 200 : 1000;
	int nhosts = 4, window = 32, passes = 3, rounds = 3, rc = 0;
	int ncalls, fdn, idle_s = 2;
	long lim;

	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			goto usage;
		if (!strcmp(argv[i], "--conns"))
			n = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--hosts"))
			nhosts = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--window"))
			window = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--passes"))
			passes = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--rounds"))
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--idle"))
			idle_s = atoi(argv[++i]);
		else
			goto usage;
	}
	if (n < 2 || nhosts < 1 || nhosts > 16 || window < 1 || passes < 1 ||
	    rounds < 1 || rounds > 9 || idle_s < 1)
		goto usage;
	if (actr_log_get_level() == ACTR_LOG_INFO && !getenv("ACTR_LOG"))
		actr_log_set_level(ACTR_LOG_WARN);
	lim = bench_raise_nofile(4L * n + 1024);
	if (lim < 3L * n + 256)
		fprintf(stderr, "conn_scale: RLIMIT_NOFILE %ld may be short "
			"for %d connections\n", lim, n);
	sig = scale_signal_child(1, url, sizeof(url));
	if (sig < 0) {
		fprintf(stderr, "conn_scale: signaling server did not start\n");
		return 1;
	}
	t0 = actr_time_ns();
	if (scale_hosts(url, n, nhosts, 1, hosts) < 0) {
		fprintf(stderr, "conn_scale: hosts did not start\n");
		kill(sig, SIGKILL);
		return 1;
	}
	t1 = actr_time_ns();
	pin_env(0);
	load_avg(la, sizeof(la));
	printf("conn_scale: one node, %d peer connections (echo nodes in %d "
	       "child processes, registered in %.1f s), %d setups in "
	       "flight, loopback; load average %s\n", n, nhosts,
	       (double)(t1 - t0) / 1e9, window, la);
	pc.signaling_url = url;
	r = actr_reactor_new();
	sys = r ? actr_system_new(r, &sc) : NULL;
	if (!sys ||
	    !(node = actr_node_new(sys, actr_workload_new("acme", "scale",
							  "1.0.0"), 0)) ||
	    !(peer = actr_peer_new(node, &pc)) ||
	    actr_node_start(node, &ref) < 0 || actr_peer_start(peer) < 0)
		return 1;
	end = actr_time_ns() + ACTR_MS(10000);
	while (!actr_peer_ready(peer) && actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
	setup = calloc((size_t)n, sizeof(*setup));
	ncalls = passes * n;
	keep = calloc((size_t)ncalls, sizeof(*keep));
	if (!actr_peer_ready(peer) || !setup || !keep ||
	    scale_driver_init(&d, r, peer, n) < 0)
		return 1;
	scale_idle(r, 300);
	mem_read(0, &idle);
	if (scale_connect(&d, 0, 1, 1, setup)) {
		rc = 1;
		goto out;
	}
	scale_idle(r, 300);
	mem_read(0, &one);
	t0 = actr_time_ns();
	if (scale_connect(&d, 1, n, window, setup)) {
		fprintf(stderr, "conn_scale: not every connection opened\n");
		rc = 1;
		goto out;
	}
	t1 = actr_time_ns();
	secs = (double)(t1 - t0) / 1e9;
	scale_idle(r, 500);
	mem_read(0, &all);
	fdn = count_fds();
	printf("  setup: %d connections in %.2f s: %.0f connections/s; "
	       "setup + first call p50 %.1f ms p99 %.1f ms\n", n - 1, secs,
	       (n - 1) / secs, pct(setup + 1, (size_t)n - 1, 50) / 1e3,
	       pct(setup + 1, (size_t)n - 1, 99) / 1e3);
	printf("  memory: VmRSS %ld KiB idle node, %ld KiB with %d "
	       "connections: %.1f KiB per connection (RssAnon %.1f KiB); "
	       "%d fds open\n", idle.rss, all.rss, n,
	       (double)(all.rss - one.rss) / (n - 1),
	       (double)(all.anon - one.anon) / (n - 1), fdn);
	/* right after the setups libnice still runs each agent's check
	 * timer (Ta, 5 ms here) until 5 s after its last check
	 * (idle-timeout); then only consent checks (every 4-6 s), the SCTP
	 * tick and heartbeats remain */
	cpu0 = cpu_self_s();
	t0 = actr_time_ns();
	scale_idle(r, 2000);
	cpu1 = cpu_self_s();
	busy_cpu = 100 * (cpu1 - cpu0) / ((double)(actr_time_ns() - t0) / 1e9);
	scale_idle(r, 4000);
	cpu0 = cpu_self_s();
	t0 = actr_time_ns();
	fflush(stdout);
	scale_idle(r, 1000 * idle_s);
	cpu1 = cpu_self_s();
	idle_cpu = 100 * (cpu1 - cpu0) / ((double)(actr_time_ns() - t0) / 1e9);
	printf("  idle: the node uses %.1f%% of a core in the 2 s after the "
	       "setups, %.1f%% from 6 s on, holding %d idle connections\n",
	       busy_cpu, idle_cpu, n);
	if (calls(&d, false, ncalls, rounds, single, NULL) < 0 ||
	    calls(&d, true, ncalls, rounds, rr, keep) < 0) {
		rc = 1;
		goto out;
	}
	load_avg(la2, sizeof(la2));
	printf("  calls round-robin over %d connections: p50 %.1f us p99 "
	       "%.1f us (%d calls x %d rounds, medians)\n", n, rr[0], rr[1],
	       ncalls, rounds);
	printf("  same node, one connection:            p50 %.1f us p99 "
	       "%.1f us; ratio p50 %.2fx\n", single[0], single[1],
	       single[0] > 0 ? rr[0] / single[0] : 0);
	printf("  load average at end %s\n", la2);
	{
		char group[64];

		snprintf(group, sizeof(group), "%d connections", n);
		snprintf(note, sizeof(note), "setup %.0f conn/s (p99 %.1f "
			 "ms), VmRSS %ld KiB, %.1f KiB per connection, idle "
			 "CPU %.1f%%; load %s", (n - 1) / secs,
			 pct(setup + 1, (size_t)n - 1, 99) / 1e3, all.rss,
			 (double)(all.rss - one.rss) / (n - 1), idle_cpu, la);
		bench_out_row(&(struct bench_row){
			.bench = "conn_scale", .group = group,
			.row = "actr round-robin", .role = "subject",
			.p50_us = rr[0], .p99_us = rr[1],
			.setup_ms = pct(setup + 1, (size_t)n - 1, 50) / 1e3,
			.n = (uint64_t)ncalls, .rounds = (unsigned)rounds,
			.samples = bench_out_samples_ns("conn_scale", group,
							"actr round-robin",
							keep,
							(size_t)ncalls),
			.note = note,
			.extra = { { "conns", n },
				   { "rate_per_s", (n - 1) / secs },
				   { "rss_kib", (double)all.rss },
				   { "per_conn_kib", (double)(all.rss -
							      one.rss) /
						     (n - 1) },
				   { "idle_cpu_pct", idle_cpu },
				   { "after_setup_cpu_pct", busy_cpu } } });
		bench_out_row(&(struct bench_row){
			.bench = "conn_scale", .group = group,
			.row = "actr one connection", .role = "baseline",
			.p50_us = single[0], .p99_us = single[1],
			.n = (uint64_t)ncalls, .rounds = (unsigned)rounds,
			.note = "the same node calling one of its "
				"connections" });
	}
out:
	for (int h = 0; h < nhosts; h++)
		if (hosts[h] > 0)
			stop(r, hosts[h]);
	actr_peer_free(peer);
	actr_system_free(sys);
	drain(r);
	stop(r, sig);
	actr_reactor_free(r);
	free(setup);
	free(keep);
	free(d.t);
	return rc;
usage:
	fprintf(stderr, "usage: %s [--conns N] [--hosts H] [--window W] "
		"[--passes P] [--rounds K] [--idle S]\n", argv[0]);
	return 2;
}
