/*
 * bench/remote_call: 64-byte Echo round trips between two processes over
 * the full stack (runtime + peer gate + ICE/DTLS/SCTP DataChannel), next
 * to a raw UDP ping-pong of the same size in the same run.
 *
 *   build/bench/remote_call [--calls N] [--cpu C] [--size B]
 *
 * This process pins itself to CPU C (default 0), runs actr-signal in
 * process and the client node; it starts itself twice more as echo
 * servers (same CPU): acme:echo:1.0.0 without a mailbox,
 * acme:echo-durable:1.0.0 with the durable mailbox as the peer gate runs
 * it by default (SYNC_FULL, handled first: each request goes through the
 * crash journal and, answered in its iteration, is never written), and a
 * third with SYNC_FULL and deliver_uncommitted = false (stored before
 * handled: every request waits for a commit and its fsync, and is written
 * and deleted). For each it prints the
 * setup time of the first call (discovery + role negotiation + ICE +
 * DTLS + SCTP + the call), p50/p99 of N sequential calls and calls/s;
 * then the same for UDP (a forked echo on the same CPU) and the ratio.
 * Each figure is the median of K rounds of N calls (--reps, default 3).
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
#include <actr/mailbox.h>
#include <actr/peer.h>
#include <actr/runtime.h>
#include <actr/sigclient.h>

#include "examples/echo_actor/echo.pb-c.h"
#include "server/signal_internal.h"
#include "bench/bench.h"

/* ---- server role ------------------------------------------------------- */

static int Echo(actr_ctx_t *ctx, const Echo__EchoRequest *req)
{
	Echo__EchoResponse resp = ECHO__ECHO_RESPONSE__INIT;

	resp.reply = req->message;
	resp.timestamp = 1;
	return actr_reply(ctx, &resp.base);
}

static const actr_method_t methods[] = { ACTR_METHOD("Echo", Echo),
					 ACTR_METHOD_END };

static int run_server(const char *url, const char *name, const char *mb,
		      bool stored_first)
{
	actr_mailbox_opts_t mo;

	actr_system_config_t sc = { .realm_id = 101 };
	actr_peer_config_t pc = { .signaling_url = url, .realm_secret = "pw",
				  .local_addr = "127.0.0.1",
				  .mailbox_path = mb,
				  .mailbox_sync = ACTR_MAILBOX_SYNC_FULL };
	actr_reactor_t *r = actr_reactor_new();
	actr_system_t *sys = r ? actr_system_new(r, &sc) : NULL;
	actr_workload_t *w = actr_workload_new("acme", name, "1.0.0");
	actr_node_t *n;
	actr_peer_t *p;
	actr_ref_t *ref;

	actr_mailbox_opts_init(&mo);
	mo.sync = ACTR_MAILBOX_SYNC_FULL;
	mo.deliver_uncommitted = false;	/* stored before handled */
	if (stored_first)
		pc.mailbox_opts = &mo;
	if (!sys || !w ||
	    actr_workload_add_service(w, &echo__echo_service__descriptor,
				      methods) < 0 ||
	    !(n = actr_node_new(sys, w, 0)) || !(p = actr_peer_new(n, &pc)) ||
	    actr_node_start(n, &ref) < 0 || actr_peer_start(p) < 0)
		return 1;
	actr_ref_run_until_signal(ref);
	actr_peer_free(p);
	actr_system_free(sys);
	drain(r);
	actr_reactor_free(r);
	return 0;
}

static pid_t spawn(const char *url, const char *name, const char *mb,
		   bool stored_first)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	pid_t pid;

	if (n <= 0)
		return -1;
	exe[n] = '\0';
	pid = fork();
	if (pid == 0) {
		execl(exe, exe, "--role-server", url, name, mb ? mb : "",
		      stored_first ? "stored-first" : "default", (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* ---- client ------------------------------------------------------------ */

struct run {
	actr_peer_t *peer;
	Actr__ActrType type;		/* target */
	int done, failed;		/* completions, failures */
	int last_status;
	char msg[4096];			/* the payload text */
};

static void on_res(const actr_result_t *r, void *arg)
{
	struct run *x = arg;

	x->done++;
	x->last_status = r->status;
	if (r->status < 0)
		x->failed++;
}

static int one_call(actr_reactor_t *r, struct run *x, uint32_t timeout)
{
	Echo__EchoRequest req = ECHO__ECHO_REQUEST__INIT;
	int want = x->done + 1;
	uint64_t end = actr_time_ns() + ACTR_MS(timeout + 1000);

	req.message = x->msg;
	if (actr_peer_call(x->peer, &x->type, "echo.EchoService.Echo",
			   &req.base, &echo__echo_response__descriptor,
			   timeout, on_res, x) < 0)
		return -1;
	while (x->done < want && actr_time_ns() < end)
		actr_reactor_run_once(r, 100);
	return x->done == want ? x->last_status : -ACTR_ETIMEDOUT;
}

static int reps = 3;	/* rounds of n calls, the medians reported */

/* The figures of one row: per-round values, medians in [0] after fold. */
struct fig {
	double p50[16], p99[16], rate[16];	/* us, us, calls/s */
	int k;					/* rounds so far */
	double setup_ms;			/* first call, ms */
	char samples[512];			/* last round's CDF */
};

static void fig_row(struct fig *f, const char *row, const char *role,
		    int n, const char *note)
{
	bench_out_row(&(struct bench_row){
		.bench = "remote_call",
		.group = "actor call 64 B",
		.row = row,
		.role = role,
		.p50_us = bench_median(f->p50, (size_t)f->k),
		.p99_us = bench_median(f->p99, (size_t)f->k),
		.throughput = bench_median(f->rate, (size_t)f->k),
		.unit = "calls/s",
		.setup_ms = f->setup_ms,
		.n = (uint64_t)n,
		.rounds = (unsigned)f->k,
		.samples = f->samples[0] ? f->samples : NULL,
		.note = note,
	});
}

static void report(const char *what, uint64_t *lat, int n, uint64_t total_ns,
		   double *p50_out, struct fig *f, const char *row)
{
	qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
	if (f && f->k < 16) {
		f->p50[f->k] = (double)lat[n / 2] / 1e3;
		f->p99[f->k] = (double)lat[(size_t)n * 99 / 100] / 1e3;
		f->rate[f->k] = (double)n / ((double)total_ns / 1e9);
		f->k++;
		if (f->k == reps && row) {
			const char *sp = bench_out_samples_ns(
				"remote_call", "actor call 64 B", row, lat,
				(size_t)n);

			if (sp)
				snprintf(f->samples, sizeof(f->samples), "%s",
					 sp);
		}
	}
	printf("  %-30s p50 %8.1f us  p99 %8.1f us  %8.0f calls/s\n", what,
	       (double)lat[n / 2] / 1e3,
	       (double)lat[(size_t)n * 99 / 100] / 1e3,
	       (double)n / ((double)total_ns / 1e9));
	if (p50_out)
		*p50_out = (double)lat[n / 2];
}

/* Setup, warm-up, then n timed sequential calls to type name. */
static int measure(actr_reactor_t *r, actr_peer_t *peer, const char *name,
		   int n, size_t size, const char *label, double *p50,
		   struct fig *f, const char *row)
{
	struct run x = { .peer = peer };
	uint64_t *lat = calloc((size_t)n, sizeof(*lat));
	uint64_t t0, t1, start;
	int rc = -1, tries = 0;

	if (!lat)
		return -1;
	actr__actr_type__init(&x.type);
	x.type.manufacturer = "acme";
	x.type.name = (char *)name;
	x.type.version = "1.0.0";
	memset(x.msg, 'x', size < sizeof(x.msg) ? size : sizeof(x.msg) - 1);
	/* first call: discovery + negotiation + ICE + DTLS + SCTP */
	do {
		t0 = actr_time_ns();
		rc = one_call(r, &x, 10000);
		t1 = actr_time_ns();
		if (rc == -ACTR_ENOTFOUND)	/* not registered yet */
			for (int i = 0; i < 5; i++)
				actr_reactor_run_once(r, 10);
	} while (rc == -ACTR_ENOTFOUND && ++tries < 200);
	if (rc < 0) {
		fprintf(stderr, "remote_call: first call to %s failed: %s\n",
			name, actr_strerror(rc));
		free(lat);
		return -1;
	}
	printf("  %-30s setup + first call %.2f ms\n", label,
	       (double)(t1 - t0) / 1e6);
	f->setup_ms = (double)(t1 - t0) / 1e6;
	for (int i = 0; i < n / 10 + 10; i++)	/* warm-up */
		if (one_call(r, &x, 5000) < 0)
			break;
	for (int k = 0; k < reps; k++) {
		start = actr_time_ns();
		for (int i = 0; i < n; i++) {
			t0 = actr_time_ns();
			if (one_call(r, &x, 5000) < 0) {
				fprintf(stderr, "remote_call: call %d failed\n",
					i);
				free(lat);
				return -1;
			}
			lat[i] = actr_time_ns() - t0;
		}
		report(label, lat, n, actr_time_ns() - start, p50, f, row);
	}
	*p50 = bench_median(f->p50, (size_t)f->k) * 1e3;
	free(lat);
	return 0;
}

/* ---- raw UDP ping-pong ------------------------------------------------- */

static int udp_pingpong(int n, size_t size, double *p50, struct fig *f)
{
	struct sockaddr_in a = { .sin_family = AF_INET }, b = a;
	socklen_t sl = sizeof(b);
	uint8_t buf[4096] = { 0 };
	uint64_t *lat = calloc((size_t)n + 100, sizeof(*lat));
	int s1 = socket(AF_INET, SOCK_DGRAM, 0);
	int s2 = socket(AF_INET, SOCK_DGRAM, 0);
	uint64_t start = 0, t0;
	pid_t pid;
	int st;

	if (size > sizeof(buf))
		size = sizeof(buf);
	a.sin_addr.s_addr = b.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!lat || s1 < 0 || s2 < 0 ||
	    bind(s2, (struct sockaddr *)&b, sizeof(b)) < 0 ||
	    getsockname(s2, (struct sockaddr *)&b, &sl) < 0 ||
	    connect(s1, (struct sockaddr *)&b, sizeof(b)) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		/* echo: until the parent closes (a zero-length datagram) */
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

		if (i == 100)
			start = actr_time_ns();
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
	report("raw UDP ping-pong", lat + 100, n, actr_time_ns() - start, p50,
	       f, "raw UDP");
	free(lat);
	return 0;
}

int main(int argc, char **argv)
{
	struct actr__sig_config scfg;
	struct actr__sig_listen_config lc = { .host = "127.0.0.1" };
	actr_system_config_t sc = { .realm_id = 101 };
	actr_peer_config_t pc = { .realm_secret = "pw",
				  .local_addr = "127.0.0.1" };
	struct actr__sig_listener *l;
	actr_reactor_t *r;
	actr_system_t *sys;
	actr_node_t *node;
	actr_peer_t *peer;
	actr_ref_t *ref;
	char url[64], mb[PATH_MAX], mb2[PATH_MAX + 8];
	double p_plain = 0, p_mb = 0, p_mb2 = 0, p_udp = 0;
	static struct fig f_plain, f_mb, f_mb2, f_udp;
	int n = 20000, cpu = 0, rc = 0;
	size_t size = 64;
	pid_t s1, s2, s3;
	uint64_t end;

	if (argc == 6 && !strcmp(argv[1], "--role-server"))
		return run_server(argv[2], argv[3], *argv[4] ? argv[4] : NULL,
				  !strcmp(argv[5], "stored-first"));
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--calls") && i + 1 < argc)
			n = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--cpu") && i + 1 < argc)
			cpu = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--size") && i + 1 < argc)
			size = (size_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--calls N] [--cpu C] "
				"[--size B] [--reps K]\n", argv[0]);
			return 2;
		}
	}
	if (n < 100)
		n = 100;
	if (reps < 1 || reps > 16)
		reps = 3;
	pin(cpu);
	if (actr_log_get_level() == ACTR_LOG_INFO && !getenv("ACTR_LOG"))
		actr_log_set_level(ACTR_LOG_WARN);
	setenv("ACTR_LOG", "warn", 0);	/* the servers too */
	printf("remote_call: %zu-byte Echo, %d sequential calls, client and "
	       "servers on CPU %d, loopback\n", size, n, cpu);
	snprintf(mb, sizeof(mb), "/tmp/actr-remote-call-%d.db", (int)getpid());
	snprintf(mb2, sizeof(mb2), "%s.sf", mb);
	r = actr_reactor_new();
	actr__sig_config_defaults(&scfg);
	scfg.db_path = ":memory:";
	scfg.msg_per_s = scfg.msg_burst = 1e6;
	l = r ? actr__sig_listen(r, &scfg, &lc) : NULL;
	if (!l || actr__sig_add_realm(actr__sig_listener_core(l), 101,
				      "pw") < 0)
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
	s1 = spawn(url, "echo", NULL, false);
	s2 = spawn(url, "echo-durable", mb, false);
	s3 = spawn(url, "echo-stored-first", mb2, true);
	end = actr_time_ns() + ACTR_MS(10000);
	while ((!actr_peer_ready(peer) ||
		actr__sig_live_count(actr__sig_listener_core(l)) < 4) &&
	       actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
	if (measure(r, peer, "echo", n, size, "actr remote", &p_plain,
		    &f_plain, "C -> C") < 0 ||
	    measure(r, peer, "echo-durable", n, size,
		    "actr remote + mailbox FULL", &p_mb, &f_mb, NULL) < 0 ||
	    measure(r, peer, "echo-stored-first", n, size,
		    "  same, stored before handled", &p_mb2, &f_mb2, NULL) < 0)
		rc = 1;
	stop(r, s1);
	stop(r, s2);
	stop(r, s3);
	actr_peer_free(peer);
	actr_system_free(sys);
	actr__sig_listener_free(l);
	drain(r);
	actr_reactor_free(r);
	actr_mailbox_remove(mb);
	actr_mailbox_remove(mb2);
	for (int k = 0; k < reps && !rc; k++)
		if (udp_pingpong(n, size, &p_udp, &f_udp) < 0)
			rc = 1;
	p_udp = bench_median(f_udp.p50, (size_t)f_udp.k) * 1e3;
	if (!rc && size == 64) {
		/* the contract rows (group named for 64 B only) */
		fig_row(&f_udp, "raw UDP", "baseline", n,
			"64 B UDP ping-pong, forked echo");
		fig_row(&f_plain, "C -> C", "subject", n,
			"Echo over the data channel, no mailbox");
		fig_row(&f_mb, "C -> C + mailbox FULL", "subject", n,
			"durable mailbox, SYNC_FULL, handled first");
		fig_row(&f_mb2, "C -> C stored first", "subject", n,
			"SYNC_FULL, stored before handled");
	}
	if (!rc && p_udp > 0)
		printf("  p50 ratio to UDP: actr remote %.1fx, with mailbox "
		       "%.1fx (stored before handled: %.1fx)\n", p_plain / p_udp,
		       p_mb / p_udp, p_mb2 / p_udp);
	return rc;
}
