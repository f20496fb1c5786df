/*
 * bench/metrics_overhead: what the observability endpoint
 * (include/actr/metrics.h) costs on remote calls. The bench/remote_call
 * workload (64-byte Echo round trips between two processes over the
 * full stack) in rounds that alternate between
 *
 *   off: client without an endpoint, calling an echo server without one
 *   on:  client with the endpoint watching its system and peer gate,
 *        scraped once per round (in process, as a Prometheus server
 *        would, only more often), calling an echo server with --metrics
 *        on as well
 *
 * Both servers are this program again (same CPU). Alternating rounds
 * cancel drift; the figure is the median over rounds of the p50 and of
 * calls/s (sequential, from the fastest 99% of a round's calls: the
 * machine may be shared), and the cost is on against off from the same
 * run.
 *
 *   build/bench/metrics_overhead [--calls N] [--rounds R] [--cpu C]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/metrics.h>
#include <actr/net.h>

#include "examples/echo_actor/echo.pb-c.h"
#include "server/signal_internal.h"
#include "bench/bench.h"

/* ---- server role --------------------------------------------------------- */

static int Echo(actr_ctx_t *ctx, const Echo__EchoRequest *req)
{
	Echo__EchoResponse resp = ECHO__ECHO_RESPONSE__INIT;

	resp.reply = req->message;
	return actr_reply(ctx, &resp.base);
}

static const actr_method_t methods[] = { ACTR_METHOD("Echo", Echo),
					 ACTR_METHOD_END };

static int run_server(const char *url, const char *name, bool metrics)
{
	actr_system_config_t sc = { .realm_id = 101 };
	actr_peer_config_t pc = { .signaling_url = url, .realm_secret = "pw",
				  .local_addr = "127.0.0.1" };
	struct actr_metrics_config mc = { ACTR_OPTS(mc) };
	actr_reactor_t *r = actr_reactor_new();
	actr_system_t *sys = r ? actr_system_new(r, &sc) : NULL;
	actr_workload_t *w = actr_workload_new("acme", name, "1.0.0");
	actr_metrics_t *m = NULL;
	actr_node_t *n;
	actr_peer_t *p;
	actr_ref_t *ref;

	if (!sys || !w ||
	    actr_workload_add_service(w, &echo__echo_service__descriptor,
				      methods) < 0 ||
	    !(n = actr_node_new(sys, w, 0)) || !(p = actr_peer_new(n, &pc)) ||
	    actr_node_start(n, &ref) < 0 || actr_peer_start(p) < 0)
		return 1;
	if (metrics) {
		m = actr_metrics_new(r, &mc);
		if (!m)
			return 1;
		actr_metrics_add_system(m, sys);
		actr_metrics_add_peer(m, p);
	}
	actr_ref_run_until_signal(ref);
	actr_metrics_free(m);
	actr_peer_free(p);
	actr_system_free(sys);
	drain(r);
	actr_reactor_free(r);
	return 0;
}

static pid_t spawn(const char *url, const char *name, bool metrics)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	pid_t pid;

	if (n <= 0)
		return -1;
	exe[n] = '\0';
	pid = fork();
	if (pid == 0) {
		execl(exe, exe, "--role-server", url, name,
		      metrics ? "on" : "off", (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* ---- client ---------------------------------------------------------------- */

struct run {
	actr_peer_t *peer;
	Actr__ActrType type;		/* target */
	int done;			/* completions */
	int last_status;
};

static void on_res(const actr_result_t *res, void *arg)
{
	struct run *x = arg;

	x->done++;
	x->last_status = res->status;
}

static int one_call(actr_reactor_t *r, struct run *x)
{
	Echo__EchoRequest req = ECHO__ECHO_REQUEST__INIT;
	char msg[65];
	int want = x->done + 1;
	uint64_t end = actr_time_ns() + ACTR_MS(11000);

	memset(msg, 'x', 64);
	msg[64] = 0;
	req.message = msg;
	if (actr_peer_call(x->peer, &x->type, "echo.EchoService.Echo",
			   &req.base, &echo__echo_response__descriptor, 10000,
			   on_res, x) < 0)
		return -1;
	while (x->done < want && actr_time_ns() < end)
		actr_reactor_run_once(r, 100);
	return x->done == want ? x->last_status : -ACTR_ETIMEDOUT;
}

/* First call (retried while the server registers) and a warm-up. */
static int connect_to(actr_reactor_t *r, struct run *x, const char *name)
{
	int rc, tries = 0;

	actr__actr_type__init(&x->type);
	x->type.manufacturer = "acme";
	x->type.name = (char *)name;
	x->type.version = "1.0.0";
	do {
		rc = one_call(r, x);
		if (rc == -ACTR_ENOTFOUND)
			for (int i = 0; i < 5; i++)
				actr_reactor_run_once(r, 10);
	} while (rc == -ACTR_ENOTFOUND && ++tries < 200);
	for (int i = 0; i < 200 && rc == 0; i++)
		rc = one_call(r, x);
	if (rc < 0)
		fprintf(stderr, "metrics_overhead: calls to %s fail: %s\n",
			name, actr_strerror(rc));
	return rc;
}

struct scrape {
	int done;			/* callback ran */
	size_t bytes;			/* body length */
};

static void on_scrape(actr_http_call_t *c, int rc, int status,
		      const uint8_t *body, size_t len, void *arg)
{
	struct scrape *s = arg;

	s->done = 1;
	s->bytes = rc == 0 && status == 200 ? len : 0;
}

/* GET /metrics of m, waiting for the answer. Returns the body size. */
static size_t scrape(actr_reactor_t *r, actr_metrics_t *m)
{
	struct actr_http_request rq = { 0 };
	struct scrape s = { 0 };
	uint64_t end = actr_time_ns() + ACTR_MS(5000);
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics",
		 actr_metrics_port(m));
	rq.url = url;
	if (!actr_http_request(r, &rq, on_scrape, &s))
		return 0;
	while (!s.done && actr_time_ns() < end)
		actr_reactor_run_once(r, 100);
	return s.bytes;
}

/* n timed calls: p50 (ns) and calls/s (of the fastest 99%). */
static int round_of(actr_reactor_t *r, struct run *x, int n, uint64_t *lat,
		    double *p50, double *rate)
{
	uint64_t t0, sum = 0;
	int keep = n - n / 100;

	for (int i = 0; i < n; i++) {
		t0 = actr_time_ns();
		if (one_call(r, x) < 0)
			return -1;
		lat[i] = actr_time_ns() - t0;
	}
	/* calls/s from the fastest 99%: the machine is shared, and a
	 * neighbour's burst in one round must not decide the figure */
	qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
	for (int i = 0; i < keep; i++)
		sum += lat[i];
	*rate = keep / (sum / 1e9);
	*p50 = (double)lat[n / 2];
	return 0;
}

int main(int argc, char **argv)
{
	struct actr__sig_config cfg;
	struct actr__sig_listen_config lc = { .host = "127.0.0.1" };
	struct actr__sig_listener *l;
	actr_system_config_t sc = { .realm_id = 101 };
	actr_peer_config_t pc = { .realm_secret = "pw",
				  .local_addr = "127.0.0.1" };
	struct actr_metrics_config mc = { ACTR_OPTS(mc) };
	struct run off = { 0 }, on = { 0 };
	actr_reactor_t *r;
	actr_system_t *sys;
	actr_node_t *node;
	actr_peer_t *peer;
	actr_ref_t *ref;
	pid_t s_off, s_on;
	char url[64];
	int n = 2000, rounds = 11, cpu = 0, rc = 1;
	double *p50[2], *rate[2];
	uint64_t *lat;
	size_t bytes = 0;

	if (argc == 5 && !strcmp(argv[1], "--role-server"))
		return run_server(argv[2], argv[3], !strcmp(argv[4], "on"));
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--calls") && i + 1 < argc)
			n = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--cpu") && i + 1 < argc)
			cpu = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--calls N] [--rounds R] "
				"[--cpu C]\n", argv[0]);
			return 2;
		}
	}
	if (n < 10 || rounds < 1)
		return 2;
	pin(cpu);
	signal(SIGPIPE, SIG_IGN);
	actr_log_set_level(ACTR_LOG_WARN);
	lat = calloc((size_t)n, sizeof(*lat));
	for (int k = 0; k < 2; k++) {
		p50[k] = calloc((size_t)rounds, sizeof(double));
		rate[k] = calloc((size_t)rounds, sizeof(double));
	}
	r = actr_reactor_new();
	actr__sig_config_defaults(&cfg);
	cfg.db_path = ":memory:";
	cfg.msg_per_s = cfg.msg_burst = 1e6;
	l = r ? actr__sig_listen(r, &cfg, &lc) : NULL;
	if (!lat || !l ||
	    actr__sig_add_realm(actr__sig_listener_core(l), 101, "pw") < 0)
		return 1;
	snprintf(url, sizeof(url), "ws://127.0.0.1:%u",
		 actr__sig_listener_port(l));
	pc.signaling_url = url;
	sys = actr_system_new(r, &sc);
	node = sys ? actr_node_new(sys, actr_workload_new("acme", "bench",
							  "1.0.0"), 0)
		   : NULL;
	peer = node ? actr_peer_new(node, &pc) : NULL;
	if (!peer || actr_node_start(node, &ref) < 0 ||
	    actr_peer_start(peer) < 0)
		return 1;
	s_off = spawn(url, "echo-plain", false);
	s_on = spawn(url, "echo-metrics", true);
	off.peer = on.peer = peer;
	if (connect_to(r, &off, "echo-plain") < 0 ||
	    connect_to(r, &on, "echo-metrics") < 0)
		goto out;

	printf("metrics_overhead: %d rounds x %d sequential 64-byte Echo "
	       "calls, CPU %d\n", rounds, n, cpu);
	for (int i = 0; i < rounds; i++) {
		actr_metrics_t *m;

		if (round_of(r, &off, n, lat, &p50[0][i], &rate[0][i]) < 0)
			goto out;
		m = actr_metrics_new(r, &mc);
		if (!m || actr_metrics_add_system(m, sys) < 0 ||
		    actr_metrics_add_peer(m, peer) < 0)
			goto out;
		if (round_of(r, &on, n, lat, &p50[1][i], &rate[1][i]) < 0) {
			actr_metrics_free(m);
			goto out;
		}
		bytes = scrape(r, m);
		actr_metrics_free(m);
	}
	for (int k = 0; k < 2; k++) {
		qsort(p50[k], (size_t)rounds, sizeof(double), cmp_dbl);
		qsort(rate[k], (size_t)rounds, sizeof(double), cmp_dbl);
	}
	printf("  %-34s p50 %7.1f us  %8.0f calls/s\n",
	       "without endpoint (baseline)", p50[0][rounds / 2] / 1e3,
	       rate[0][rounds / 2]);
	printf("  %-34s p50 %7.1f us  %8.0f calls/s\n",
	       "with endpoint, scraped each round", p50[1][rounds / 2] / 1e3,
	       rate[1][rounds / 2]);
	bench_out_row(&(struct bench_row){
		.bench = "metrics_overhead", .group = "actor call, metrics on",
		.row = "without endpoint", .role = "baseline",
		.p50_us = p50[0][rounds / 2] / 1e3,
		.throughput = rate[0][rounds / 2], .unit = "calls/s",
		.n = (uint64_t)n, .rounds = (unsigned)rounds,
	});
	bench_out_row(&(struct bench_row){
		.bench = "metrics_overhead", .group = "actor call, metrics on",
		.row = "with /metrics, scraped each round", .role = "subject",
		.p50_us = p50[1][rounds / 2] / 1e3,
		.throughput = rate[1][rounds / 2], .unit = "calls/s",
		.n = (uint64_t)n, .rounds = (unsigned)rounds,
	});
	printf("  cost: %+.2f%% calls/s, %+.2f%% p50 (a scrape: %zu bytes)\n",
	       (rate[1][rounds / 2] / rate[0][rounds / 2] - 1) * 100,
	       (p50[1][rounds / 2] / p50[0][rounds / 2] - 1) * 100, bytes);
	rc = 0;
out:
	stop(r, s_off);
	stop(r, s_on);
	actr_peer_free(peer);
	actr_system_free(sys);
	actr__sig_listener_free(l);
	drain(r);
	actr_reactor_free(r);
	free(lat);
	for (int k = 0; k < 2; k++) {
		free(p50[k]);
		free(rate[k]);
	}
	return rc;
}
