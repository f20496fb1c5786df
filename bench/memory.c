/*
 * bench/memory: resident memory of an idle node and of each idle peer
 * connection it holds.
 *
 *   build/bench/memory [--conns N] [--hosts H]
 *
 * actr-signal runs in a child process, and H children host N echo nodes
 * (acme:echo-<i>:1.0.0, one system + peer gate each, on the child's one
 * reactor). This process measures itself (/proc/self/status VmRSS and
 * RssAnon, smaps_rollup Pss):
 *   bare     the process before any actr object;
 *   idle     a node (system + workload + peer gate registered with the
 *            signaling server, durable mailbox open), quiet for 1 s;
 *   1 conn   after its first peer connection (one call done): what the
 *            first connection adds once (GLib/libnice, usrsctp, OpenSSL
 *            contexts) besides its own share;
 *   N conns  connected to all N (DataChannels open, one call each), quiet
 *            for 1 s: per connection = (N conns - 1 conn) / (N - 1).
 * Goals (issue 18): idle node <= 4 MiB, <= 300 KiB per idle connection.
 * VmRSS counts every touched page of the shared libraries (GLib, libnice,
 * OpenSSL, SQLite, libc); RssAnon is what this process alone allocated.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/scale.h"

static void show(const char *what, const struct mem *m)
{
	printf("  %-34s VmRSS %6ld KiB  RssAnon %6ld KiB  Pss %6ld KiB\n",
	       what, m->rss, m->anon, m->pss);
}

int main(int argc, char **argv)
{
	actr_system_config_t sc = { .realm_id = 101 };
	actr_peer_config_t pc = { .realm_secret = "pw",
				  .local_addr = "127.0.0.1",
				  .setup_timeout_ms = 30000 };
	struct mem bare, idle, one, all;
	struct scale_driver d;
	actr_reactor_t *r;
	actr_system_t *sys;
	actr_workload_t *w;
	actr_node_t *node;
	actr_peer_t *peer;
	actr_ref_t *ref;
	char url[64], mb[PATH_MAX], la[64], note[256];
	uint64_t *setup, end;
	pid_t sig, hosts[16];
	int n = 100, nhosts = 2, fd0, fd1, fdn, rc = 0;
	double per_rss, per_anon, per_pss;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--conns") && i + 1 < argc)
			n = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--hosts") && i + 1 < argc)
			nhosts = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--conns N] [--hosts H]\n",
				argv[0]);
			return 2;
		}
	}
	if (n < 2)
		n = 2;
	if (nhosts < 1 || nhosts > 16)
		nhosts = 2;
	if (actr_log_get_level() == ACTR_LOG_INFO && !getenv("ACTR_LOG"))
		actr_log_set_level(ACTR_LOG_WARN);
	bench_raise_nofile(65536);
	mem_read(0, &bare);
	sig = scale_signal_child(1, url, sizeof(url));
	if (sig < 0 || scale_hosts(url, n, nhosts, 1, hosts) < 0) {
		fprintf(stderr, "memory: signaling server or hosts did not "
			"start\n");
		return 1;
	}
	pin_env(0);
	load_avg(la, sizeof(la));
	printf("memory: one node, %d idle peer connections (echo nodes in %d "
	       "child processes), loopback; load average %s\n", n, nhosts, la);
	snprintf(mb, sizeof(mb), "/tmp/actr-memory-%d.db", (int)getpid());
	pc.signaling_url = url;
	pc.mailbox_path = mb;
	fd0 = count_fds();
	r = actr_reactor_new();
	sys = r ? actr_system_new(r, &sc) : NULL;
	w = actr_workload_new("acme", "memory", "1.0.0");
	if (!sys || !w ||
	    actr_workload_add_service(w, &echo__echo_service__descriptor,
				      scale_methods) < 0 ||
	    !(node = actr_node_new(sys, w, 0)) ||
	    !(peer = actr_peer_new(node, &pc)) ||
	    actr_node_start(node, &ref) < 0 || actr_peer_start(peer) < 0)
		return 1;
	end = actr_time_ns() + ACTR_MS(10000);
	while (!actr_peer_ready(peer) && actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
	if (!actr_peer_ready(peer)) {
		fprintf(stderr, "memory: not registered\n");
		return 1;
	}
	scale_idle(r, 1000);
	mem_read(0, &idle);
	fd1 = count_fds();

	setup = calloc((size_t)n, sizeof(*setup));
	if (!setup || scale_driver_init(&d, r, peer, n) < 0)
		return 1;
	if (scale_connect(&d, 0, 1, 1, setup)) {
		fprintf(stderr, "memory: first connection failed\n");
		rc = 1;
		goto out;
	}
	scale_idle(r, 500);
	mem_read(0, &one);
	if (scale_connect(&d, 1, n, 16, setup)) {
		fprintf(stderr, "memory: connections failed\n");
		rc = 1;
		goto out;
	}
	scale_idle(r, 1000);
	mem_read(0, &all);
	fdn = count_fds();

	show("bare process (no actr object)", &bare);
	show("idle node (registered, mailbox)", &idle);
	show("after the first connection", &one);
	{
		char what[64];

		snprintf(what, sizeof(what), "with %d idle connections", n);
		show(what, &all);
	}
	per_rss = (double)(all.rss - one.rss) / (n - 1);
	per_anon = (double)(all.anon - one.anon) / (n - 1);
	per_pss = (double)(all.pss - one.pss) / (n - 1);
	printf("  idle node: %ld KiB VmRSS (%ld KiB over the bare process; "
	       "goal <= 4096)\n", idle.rss, idle.rss - bare.rss);
	printf("  first connection adds %ld KiB VmRSS (stack setup + its "
	       "own)\n", one.rss - idle.rss);
	printf("  per idle connection: %.1f KiB VmRSS, %.1f KiB RssAnon, "
	       "%.1f KiB Pss (goal <= 300); %.1f fds each (%d node, %d "
	       "total)\n", per_rss, per_anon, per_pss,
	       (double)(fdn - fd1) / n, fd1 - fd0, fdn);
	snprintf(note, sizeof(note), "VmRSS; RssAnon %ld KiB, Pss %ld KiB, "
		 "%ld KiB over a bare process; load %s", idle.anon, idle.pss,
		 idle.rss - bare.rss, la);
	bench_out_row(&(struct bench_row){
		.bench = "memory", .group = "memory", .row = "idle node",
		.role = "subject", .n = 1, .rounds = 1, .note = note,
		.extra = { { "rss_kib", (double)idle.rss },
			   { "anon_kib", (double)idle.anon },
			   { "pss_kib", (double)idle.pss } } });
	snprintf(note, sizeof(note), "VmRSS added per connection with %d "
		 "open (after the first); RssAnon %.1f, Pss %.1f; load %s", n,
		 per_anon, per_pss, la);
	bench_out_row(&(struct bench_row){
		.bench = "memory", .group = "memory",
		.row = "per idle connection", .role = "subject",
		.n = (uint64_t)n, .rounds = 1, .note = note,
		.extra = { { "per_conn_kib", per_rss },
			   { "per_conn_anon_kib", per_anon },
			   { "rss_kib", (double)all.rss },
			   { "first_conn_kib", (double)(one.rss - idle.rss) },
			   { "fds_per_conn", (double)(fdn - fd1) / n } } });
out:
	for (int h = 0; h < nhosts; h++)
		if (hosts[h] > 0)
			stop(r, hosts[h]);
	actr_peer_free(peer);
	actr_system_free(sys);
	drain(r);
	stop(r, sig);
	actr_reactor_free(r);
	actr_mailbox_remove(mb);
	free(setup);
	free(d.t);
	return rc;
}
