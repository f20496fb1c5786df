/*
 * What bench/memory and bench/conn_scale share: an actr-signal in a child
 * process, child processes each hosting many echo nodes (one system and
 * peer gate per node, all on the child's one reactor: usrsctp binds to
 * one reactor per process, not to one system), a driver that connects
 * the measuring node to all of them with a bounded number of setups in
 * flight, and the /proc readers for the memory figures.
 * Header-only, static inline: each bench program is a program of its own.
 */
#ifndef ACTR_BENCH_SCALE_H
#define ACTR_BENCH_SCALE_H

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/peer.h>
#include <actr/runtime.h>

#include "examples/echo_actor/echo.pb-c.h"
#include "server/signal_internal.h"
#include "bench/bench.h"

/* ---- /proc ---------------------------------------------------------- */

/* A "Key:   N kB" line of /proc/<pid>/<file>; -1 when absent. */
static inline long proc_kib(pid_t pid, const char *file, const char *key)
{
	char path[64], line[256];
	size_t kl = strlen(key);
	long kb = -1;
	FILE *f;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	else
		snprintf(path, sizeof(path), "/proc/self/%s", file);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			kb = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

struct mem {
	long rss;	/* VmRSS: resident, shared library pages included */
	long anon;	/* RssAnon: heap, stacks, anonymous maps only */
	long pss;	/* Pss (smaps_rollup): shared pages divided by users */
};

static inline void mem_read(pid_t pid, struct mem *m)
{
	m->rss = proc_kib(pid, "status", "VmRSS");
	m->anon = proc_kib(pid, "status", "RssAnon");
	m->pss = proc_kib(pid, "smaps_rollup", "Pss");
}

static inline void load_avg(char *buf, size_t cap)
{
	double la[3] = { 0 };

	if (getloadavg(la, 3) == 3)
		snprintf(buf, cap, "%.2f %.2f %.2f", la[0], la[1], la[2]);
	else
		snprintf(buf, cap, "n/a");
}

/* Open file descriptors of this process. */
static inline int count_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1 << 16; fd++) {
		char p[64];

		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		if (access(p, F_OK) == 0)
			n++;
	}
	return n;
}

/* ---- actr-signal in a child ------------------------------------------ */

static inline void scale_on_term(actr_signal_t *s, int signo, void *arg)
{
	actr_reactor_stop(arg);
}

/* Fork an actr-signal (realm 101, secret "pw", limits raised for many
 * actors on one address) on cpu; its ws:// URL into url. */
static inline pid_t scale_signal_child(int cpu, char *url, size_t cap)
{
	int pfd[2];
	uint16_t port = 0;
	pid_t pid;

	if (pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct actr__sig_config cfg;
		struct actr__sig_listen_config lc = { .host = "127.0.0.1" };
		struct actr__sig_listener *l;
		actr_signal_t st = { 0 };
		actr_reactor_t *r;

		close(pfd[0]);
		pin(cpu);
		r = actr_reactor_new();
		actr__sig_config_defaults(&cfg);
		cfg.db_path = ":memory:";
		cfg.conn_per_min = cfg.reg_per_min = 1e9;
		cfg.conn_burst = cfg.reg_burst = 1e9;
		cfg.reg_global_per_s = cfg.reg_global_burst = 1e9;
		cfg.max_conn_per_ip = 1000000;
		cfg.max_conns = 100000;
		cfg.max_exchanges = 1000000;
		cfg.msg_per_s = cfg.msg_burst = 1e9;
		cfg.max_pending = 8 << 20;
		l = r ? actr__sig_listen(r, &cfg, &lc) : NULL;
		if (!l || actr__sig_add_realm(actr__sig_listener_core(l), 101,
					      "pw") < 0)
			_exit(2);
		port = actr__sig_listener_port(l);
		if (write(pfd[1], &port, sizeof(port)) != sizeof(port))
			_exit(2);
		close(pfd[1]);
		actr_signal_start(r, &st, SIGTERM, scale_on_term, r);
		actr_reactor_run(r);
		_exit(0);
	}
	close(pfd[1]);
	if (pid < 0 || read(pfd[0], &port, sizeof(port)) != sizeof(port)) {
		close(pfd[0]);
		return -1;
	}
	close(pfd[0]);
	snprintf(url, cap, "ws://127.0.0.1:%u", port);
	return pid;
}

/* ---- echo hosts ------------------------------------------------------ */

static inline int scale_echo(actr_ctx_t *ctx, const Echo__EchoRequest *req)
{
	Echo__EchoResponse resp = ECHO__ECHO_RESPONSE__INIT;

	resp.reply = req->message;
	resp.timestamp = 1;
	return actr_reply(ctx, &resp.base);
}

static const actr_method_t scale_methods[] = {
	ACTR_METHOD("Echo", scale_echo), ACTR_METHOD_END
};

/* Fork a process hosting nodes acme:echo-<first..first+count-1>:1.0.0,
 * each its own system + peer gate on one reactor; it writes one byte to
 * ready_fd when all are registered and runs until SIGTERM. */
static inline pid_t scale_host_child(const char *url, int first, int count, int cpu,
			      int ready_fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		actr_reactor_t *r;
		actr_signal_t st = { 0 };
		actr_peer_t **peers = calloc((size_t)count, sizeof(*peers));
		uint64_t end;
		int up = 0;

		pin(cpu);
		bench_raise_nofile(65536);
		r = actr_reactor_new();
		if (!r || !peers)
			_exit(2);
		for (int i = 0; i < count; i++) {
			actr_system_config_t sc = { .realm_id = 101 };
			actr_peer_config_t pc = {
				.signaling_url = url, .realm_secret = "pw",
				.local_addr = "127.0.0.1",
				.setup_timeout_ms = 30000 };
			char name[32];
			actr_system_t *sys = actr_system_new(r, &sc);
			actr_workload_t *w;
			actr_node_t *n;
			actr_ref_t *ref;

			snprintf(name, sizeof(name), "echo-%d", first + i);
			w = actr_workload_new("acme", name, "1.0.0");
			if (!sys || !w ||
			    actr_workload_add_service(
				    w, &echo__echo_service__descriptor,
				    scale_methods) < 0 ||
			    !(n = actr_node_new(sys, w, 0)) ||
			    !(peers[i] = actr_peer_new(n, &pc)) ||
			    actr_node_start(n, &ref) < 0 ||
			    actr_peer_start(peers[i]) < 0)
				_exit(3);
		}
		end = actr_time_ns() + ACTR_MS(60000);
		while (up < count && actr_time_ns() < end) {
			actr_reactor_run_once(r, 10);
			up = 0;
			for (int i = 0; i < count; i++)
				up += actr_peer_ready(peers[i]);
		}
		if (up < count)
			_exit(4);
		if (write(ready_fd, "r", 1) != 1)
			_exit(2);
		close(ready_fd);
		actr_signal_start(r, &st, SIGTERM, scale_on_term, r);
		actr_reactor_run(r);
		_exit(0);	/* the kernel closes the sockets */
	}
	return pid;
}

/* Start hosts children over count nodes (CPUs alternate from cpu0);
 * waits for all to be ready (bounded). 0 or -1. */
static inline int scale_hosts(const char *url, int count, int hosts, int cpu0,
		       pid_t *pids)
{
	int pfd[2], ready = 0, per = (count + hosts - 1) / hosts;

	if (pipe(pfd) < 0)
		return -1;
	for (int h = 0; h < hosts; h++) {
		int first = h * per;
		int k = first + per <= count ? per : count - first;

		pids[h] = k > 0 ? scale_host_child(url, first, k,
						   cpu0 < 0 ? -1 :
						   (cpu0 + h) % 2, pfd[1])
				: 0;
		if (k > 0)
			ready--;
	}
	close(pfd[1]);
	ready = -ready;
	while (ready > 0) {
		char c;
		ssize_t n = read(pfd[0], &c, 1);

		if (n <= 0)
			break;
		ready--;
	}
	close(pfd[0]);
	return ready ? -1 : 0;
}

/* ---- the measuring node: calls by type echo-<i> ----------------------- */

struct scale_target {
	Actr__ActrType type;
	char name[32];
	uint64_t t0;		/* call sent */
	uint64_t lat;		/* last completion - t0 */
	int status;		/* last status */
	bool done;
};

struct scale_driver {
	actr_reactor_t *r;
	actr_peer_t *peer;
	struct scale_target *t;
	int n;
	int inflight, completed, failed;
	char msg[65];
};

static inline void scale_on_res(const actr_result_t *res, void *arg)
{
	struct scale_target *t = arg;

	t->lat = actr_time_ns() - t->t0;
	t->status = res->status;
	t->done = true;
}

static inline int scale_driver_init(struct scale_driver *d, actr_reactor_t *r,
			     actr_peer_t *peer, int n)
{
	memset(d, 0, sizeof(*d));
	d->r = r;
	d->peer = peer;
	d->n = n;
	d->t = calloc((size_t)n, sizeof(*d->t));
	if (!d->t)
		return -1;
	memset(d->msg, 'x', 64);
	for (int i = 0; i < n; i++) {
		actr__actr_type__init(&d->t[i].type);
		snprintf(d->t[i].name, sizeof(d->t[i].name), "echo-%d", i);
		d->t[i].type.manufacturer = "acme";
		d->t[i].type.name = d->t[i].name;
		d->t[i].type.version = "1.0.0";
	}
	return 0;
}

static inline int scale_call(struct scale_driver *d, int i, uint32_t timeout)
{
	Echo__EchoRequest req = ECHO__ECHO_REQUEST__INIT;
	struct scale_target *t = &d->t[i];

	req.message = d->msg;
	t->done = false;
	t->t0 = actr_time_ns();
	return actr_peer_call(d->peer, &t->type, "echo.EchoService.Echo",
			      &req.base, &echo__echo_response__descriptor,
			      timeout, scale_on_res, t);
}

/* First call to targets [from, to), at most window in flight: discovery
 * + role negotiation + ICE + DTLS + SCTP + the call. Setup times in
 * ns[from..to). Returns the number that failed. */
static inline int scale_connect(struct scale_driver *d, int from, int to, int window,
			 uint64_t *ns)
{
	int next = from, busy = 0, failed = 0, left = to - from;
	uint64_t end = actr_time_ns() + ACTR_MS(30000 + 200 * (to - from));

	while (left > 0 && actr_time_ns() < end) {
		while (busy < window && next < to) {
			if (scale_call(d, next, 30000) < 0) {
				failed++;
				left--;
			} else {
				busy++;
			}
			next++;
		}
		actr_reactor_run_once(d->r, 10);
		for (int i = from; i < next; i++) {
			struct scale_target *t = &d->t[i];

			if (!t->done || t->t0 == 0)
				continue;
			ns[i] = t->lat;
			if (t->status < 0) {
				if (failed < 5)
					fprintf(stderr, "setup of echo-%d: "
						"%s\n", i,
						actr_strerror(t->status));
				failed++;
			}
			t->t0 = 0;	/* counted */
			busy--;
			left--;
		}
	}
	return failed + left;
}

/* One call to target i, run until it completes; its status. */
static inline int scale_call_sync(struct scale_driver *d, int i, uint64_t *ns)
{
	uint64_t end = actr_time_ns() + ACTR_MS(6000);
	struct scale_target *t = &d->t[i];

	if (scale_call(d, i, 5000) < 0)
		return -1;
	while (!t->done && actr_time_ns() < end)
		actr_reactor_run_once(d->r, 100);
	if (!t->done)
		return -ACTR_ETIMEDOUT;
	*ns = t->lat;
	t->t0 = 0;
	return t->status;
}

/* Run r for ms. */
static inline void scale_idle(actr_reactor_t *r, int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(ms);

	while (actr_time_ns() < end)
		actr_reactor_run_once(r, 20);
}

#endif
