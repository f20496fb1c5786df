/*
 * bench/resilience: what a lossy or cut link costs a peer connection, with
 * ICE restart (the default) and without it (no_ice_restart: the behaviour
 * before, a lost path ends the connection) in the same run.
 *
 *   build/bench/resilience [--runs N] [--cut S] [--calls N] [--cpu C]
 *
 * Two nodes in two network namespaces joined through the user-space
 * impairment relay (test/impair.h; loss and cuts touch UDP only, so
 * signaling stays up): the caller with actr-signal (10.77.0.1) and a
 * callee answering test.Ping (10.77.0.2, a child process). Per mode:
 *
 *   - link cut: the link is cut for S seconds (default 15) while a call
 *     is in flight, then restored, and a call is made at once; the time
 *     from the restore to its success is measured, N runs (default 3),
 *     median printed;
 *   - loss: 10% loss and 20 ms delay each way, then N calls (default
 *     200) one after the other (30 s deadline each); failed calls and
 *     connections declared dead are counted.
 *
 * Needs root (network namespaces, TUN). Everything is pinned to CPU C
 * (default 0).
 */
#define _GNU_SOURCE
#include <errno.h>
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
#include <actr/peer.h>
#include <actr/runtime.h>

#include "server/signal_internal.h"
#include "test/impair.h"
#include "bench/bench.h"

#define IP_A "10.77.0.1"
#define IP_B "10.77.0.2"
#define MAX_RUNS 16

static Actr__ActrType pong_type = {
	PROTOBUF_C_MESSAGE_INIT(&actr__actr_type__descriptor), "acme", "pong",
	"1.0.0"
};

struct result {
	double recovery_ms[MAX_RUNS];	/* restore -> first success */
	double path_ms[MAX_RUNS];	/* restore -> ICE path found again
					 * (0: not by a restart) */
	int runs;
	int cut_failed;			/* calls of the cut phase failed */
	int loss_failed;		/* of the loss calls */
	int loss_calls;
	unsigned long long conns_failed; /* connections declared dead
					  * during the loss calls */
	unsigned long long restarts_ok;	/* and paths found again there */
	int ok;				/* the mode ran to the end */
};

static int raw_ping(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	return actr_reply_raw(ctx, d, n);
}

static actr_peer_t *make_node(actr_reactor_t *r, const char *url,
			      actr_workload_t *w, const char *ip,
			      bool no_restart, actr_system_t **sysp)
{
	actr_system_config_t sc = { .realm_id = 101 };
	actr_peer_config_t pc = { .realm_secret = "pw" };
	actr_system_t *sys = actr_system_new(r, &sc);
	actr_node_t *node = sys && w ? actr_node_new(sys, w, 0) : NULL;
	actr_peer_t *p;
	actr_ref_t *ref;

	pc.signaling_url = url;
	pc.local_addr = ip;
	pc.no_ice_restart = no_restart;
	p = node ? actr_peer_new(node, &pc) : NULL;
	if (!p || actr_node_start(node, &ref) < 0 || actr_peer_start(p) < 0)
		return NULL;
	*sysp = sys;
	return p;
}

static bool g_no_restart;	/* the mode, for the callee */

/* The callee: reads the URL from sock, serves until sock closes. */
static int callee_main(void *arg, int sock)
{
	actr_workload_t *w = actr_workload_new("acme", "pong", "1.0.0");
	char url[96] = { 0 };
	actr_system_t *sys = NULL;
	actr_reactor_t *r;
	actr_peer_t *p;
	size_t got = 0;

	(void)arg;
	while (got < sizeof(url) - 1 && !strchr(url, '\n')) {
		ssize_t k = read(sock, url + got, sizeof(url) - 1 - got);

		if (k <= 0)
			return 3;
		got += (size_t)k;
	}
	*strchr(url, '\n') = '\0';
	if (!w || actr_workload_add_route(w, "test.Ping", raw_ping, 0) < 0 ||
	    !(r = actr_reactor_new()) ||
	    !(p = make_node(r, url, w, IP_B, g_no_restart, &sys)))
		return 4;
	for (;;) {
		struct pollfd pf = { sock, POLLIN, 0 };
		char c;

		actr_reactor_run_once(r, 20);
		if (poll(&pf, 1, 0) == 1 && read(sock, &c, 1) <= 0)
			break;
	}
	actr_peer_free(p);
	actr_system_free(sys);
	actr_reactor_drain(r, 1000);
	actr_reactor_free(r);
	return 0;
}

struct call {
	int done, status;
	uint64_t t_done;
	actr_reactor_t *r;
};

static void on_res(const actr_result_t *rr, void *arg)
{
	struct call *x = arg;

	x->done++;
	x->status = rr->status;
	x->t_done = actr_reactor_now(x->r);
}

static int call(actr_reactor_t *r, actr_peer_t *p, uint32_t timeout_ms,
		struct call *x)
{
	memset(x, 0, sizeof(*x));
	x->r = r;
	return actr_peer_call_raw(p, &pong_type, "test.Ping", "ping", 4,
				  timeout_ms, on_res, x);
}

static void run_until(actr_reactor_t *r, const int *flag, uint64_t ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(ms);

	while ((!flag || !*flag) && actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
}

/* Call until one succeeds (the callee registers, or a connection is set
 * up again); returns false after ms. */
static bool call_until_ok(actr_reactor_t *r, actr_peer_t *p, uint64_t ms,
			  struct call *x)
{
	uint64_t end = actr_time_ns() + ACTR_MS(ms);

	while (actr_time_ns() < end) {
		if (call(r, p, 5000, x) < 0)
			return false;
		run_until(r, &x->done, 10000);
		if (x->done && x->status == 0)
			return true;
		run_until(r, NULL, 50);
	}
	return false;
}

/* One mode, in its own network namespace (a child of main). */
static int run_mode(bool no_restart, int runs, int cut_s, int ncalls,
		    struct result *res)
{
	struct impair_opts o = { .udp_only = true, .seed = 42 };
	struct actr__sig_config scfg;
	struct actr__sig_listen_config lc = { .host = IP_A };
	struct actr__sig_listener *l;
	actr_system_t *sys = NULL;
	actr_peer_stats_t st;
	struct impair im;
	actr_reactor_t *r;
	actr_peer_t *p;
	struct call x, y;
	char url[64], line[80];
	int fa, fb = -1, ctl = -1, ws;
	uint64_t ok_before, t_path, failed_before;
	pid_t callee;

	memset(res, 0, sizeof(*res));
	g_no_restart = no_restart;
	if (unshare(CLONE_NEWNET) < 0) {
		perror("unshare (needs root)");
		return 1;
	}
	fa = impair_tun("imp0", IP_A, 24);
	callee = fa >= 0 ? impair_spawn_ns("imp1", IP_B, 24, callee_main,
					    NULL, &fb, &ctl)
			 : -1;
	if (callee <= 0 || impair_start(&im, fa, fb, &o) < 0) {
		fprintf(stderr, "cannot set up the namespaces\n");
		return 1;
	}
	r = actr_reactor_new();
	actr__sig_config_defaults(&scfg);
	scfg.db_path = ":memory:";
	scfg.msg_per_s = scfg.msg_burst = 1e6;
	l = r ? actr__sig_listen(r, &scfg, &lc) : NULL;
	if (!l || actr__sig_add_realm(actr__sig_listener_core(l), 101,
				      "pw") < 0)
		return 1;
	snprintf(url, sizeof(url), "ws://%s:%u", IP_A,
		 actr__sig_listener_port(l));
	snprintf(line, sizeof(line), "%s\n", url);
	if (write(ctl, line, strlen(line)) != (ssize_t)strlen(line))
		return 1;
	p = make_node(r, url, actr_workload_new("acme", "caller", "1.0.0"),
		      IP_A, no_restart, &sys);
	if (!p || !call_until_ok(r, p, 20000, &x))
		return 1;

	for (int i = 0; i < runs; i++) {
		uint64_t t_restore;

		o.cut = true;
		impair_set(&im, &o);
		/* a call in flight across the cut */
		if (call(r, p, (uint32_t)(cut_s + 30) * 1000, &y) < 0)
			return 1;
		run_until(r, NULL, (uint64_t)cut_s * 1000);
		o.cut = false;
		impair_set(&im, &o);
		t_restore = actr_reactor_now(r);
		actr_peer_get_stats(p, &st);
		ok_before = st.ice_restarts_ok;
		if (call(r, p, 30000, &x) < 0)
			return 1;
		/* the time the path is found again, then the call */
		t_path = 0;
		for (uint64_t end = actr_time_ns() + ACTR_SEC(30);
		     !x.done && actr_time_ns() < end;) {
			actr_reactor_run_once(r, 1);
			actr_peer_get_stats(p, &st);
			if (!t_path && st.ice_restarts_ok > ok_before)
				t_path = actr_reactor_now(r);
		}
		if (!x.done || x.status != 0) {
			/* no restart: the connection is set up anew */
			if (!call_until_ok(r, p, 30000, &x))
				return 1;
		}
		res->path_ms[res->runs] =
			t_path ? (double)(t_path - t_restore) / 1e6 : 0;
		res->recovery_ms[res->runs++] =
			(double)(x.t_done - t_restore) / 1e6;
		run_until(r, &y.done, 35000);
		if (!y.done || y.status != 0)
			res->cut_failed++;
		run_until(r, NULL, 1000);
	}

	o.loss = 0.10;
	o.delay_ms = 20;
	impair_set(&im, &o);
	actr_peer_get_stats(p, &st);
	failed_before = st.conns_failed;
	ok_before = st.ice_restarts_ok;
	for (int i = 0; i < ncalls; i++) {
		if (call(r, p, 30000, &x) < 0) {
			res->loss_failed++;
			run_until(r, NULL, 100);
			continue;
		}
		run_until(r, &x.done, 35000);
		res->loss_calls++;
		if (!x.done || x.status != 0)
			res->loss_failed++;
	}
	actr_peer_get_stats(p, &st);
	res->conns_failed = st.conns_failed - failed_before;
	res->restarts_ok = st.ice_restarts_ok - ok_before;
	res->ok = 1;

	close(ctl);
	for (int i = 0; i < 300 && waitpid(callee, &ws, WNOHANG) != callee;
	     i++)
		actr_reactor_run_once(r, 10);
	kill(callee, SIGKILL);
	waitpid(callee, &ws, 0);
	impair_stop(&im);
	actr_peer_free(p);
	actr_system_free(sys);
	actr__sig_listener_free(l);
	actr_reactor_drain(r, 1000);
	actr_reactor_free(r);
	return 0;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Run one mode in a child (its own namespace); its result comes back
 * over a pipe. */
static int mode(bool no_restart, int runs, int cut_s, int ncalls,
		struct result *res)
{
	int pf[2], ws;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	if (pipe(pf) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct result rr;
		int rc;

		close(pf[0]);
		rc = run_mode(no_restart, runs, cut_s, ncalls, &rr);
		if (write(pf[1], &rr, sizeof(rr)) != (ssize_t)sizeof(rr))
			rc = 1;
		_exit(rc);
	}
	close(pf[1]);
	if (read(pf[0], res, sizeof(*res)) != (ssize_t)sizeof(*res))
		res->ok = 0;
	close(pf[0]);
	waitpid(pid, &ws, 0);
	return res->ok ? 0 : -1;
}

static void report(const char *name, struct result *res, int cut_s)
{
	double med;

	if (!res->ok) {
		printf("%-28s did not complete\n", name);
		return;
	}
	for (int i = 0; i < res->runs; i++)
		printf("%-28s run %d: path back %.0f ms, first call %.0f ms "
		       "after the restore\n", name, i + 1, res->path_ms[i],
		       res->recovery_ms[i]);
	qsort(res->recovery_ms, (size_t)res->runs, sizeof(double), cmp_d);
	med = res->recovery_ms[res->runs / 2];
	printf("%-28s %d s cut: first call %.0f ms after the restore "
	       "(median of %d, min %.0f, max %.0f), call across the cut "
	       "failed %d/%d\n", name, cut_s, med, res->runs,
	       res->recovery_ms[0], res->recovery_ms[res->runs - 1],
	       res->cut_failed, res->runs);
	bench_out_row(&(struct bench_row){
		.bench = "resilience", .group = "recovery after a link cut",
		.row = name, .role = "subject", .n = (uint64_t)res->runs,
		.rounds = (unsigned)res->runs,
		.extra = { { "recovery_ms", med },
			   { "cut_s", cut_s },
			   { "loss_calls_failed", res->loss_failed },
			   { "loss_calls", res->loss_calls } },
		.note = "first call after the link is restored, median",
	});
	printf("%-28s 10%% loss, 20 ms each way: %d/%d calls failed; "
	       "meanwhile connections declared dead: %llu, consent losses "
	       "recovered by ICE restart: %llu\n", "", res->loss_failed,
	       res->loss_calls, res->conns_failed, res->restarts_ok);
}

int main(int argc, char **argv)
{
	int runs = 3, cut_s = 15, ncalls = 200, cpu = 0;
	struct result with, without;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--cut") && i + 1 < argc)
			cut_s = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--calls") && i + 1 < argc)
			ncalls = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--cpu") && i + 1 < argc)
			cpu = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--runs N] [--cut S] "
				"[--calls N] [--cpu C]\n", argv[0]);
			return 2;
		}
	}
	if (runs < 1)
		runs = 1;
	if (runs > MAX_RUNS)
		runs = MAX_RUNS;
	if (cut_s < 1)
		cut_s = 1;
	pin(cpu);
	if (actr_log_get_level() == ACTR_LOG_INFO && !getenv("ACTR_LOG"))
		actr_log_set_level(ACTR_LOG_ERROR);
	printf("resilience: two namespaces through the impairment relay, "
	       "CPU %d; %d link cuts of %d s, then %d calls at 10%% loss\n",
	       cpu, runs, cut_s, ncalls);
	fflush(stdout);
	if (mode(false, runs, cut_s, ncalls, &with) < 0)
		fprintf(stderr, "ICE restart mode failed\n");
	report("ICE restart (default)", &with, cut_s);
	fflush(stdout);
	if (mode(true, runs, cut_s, ncalls, &without) < 0)
		fprintf(stderr, "no_ice_restart mode failed\n");
	report("no_ice_restart (before)", &without, cut_s);
	return with.ok && without.ok ? 0 : 1;
}
