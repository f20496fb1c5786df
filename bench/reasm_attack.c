/*
 * bench/reasm_attack: memory a victim node holds while attackers send
 * partial messages (fragments of messages that never complete), with and
 * without the peer gate's reassembly budget (actr_peer_config.reasm_cap).
 *
 *   build/bench/reasm_attack [--attackers N] [--cap MiB|off]
 *
 * This process runs actr-signal and N attacker nodes; it starts itself
 * again as the victim (acme:victim:1.0.0), which prints its accounting
 * and VmRSS every 100 ms on a pipe. Each attacker connects (one Echo
 * call), then fills all four lanes with up to 16 MiB of partial messages
 * each, the most a lane's reassembler takes (so ~64 MiB per connection
 * without a budget). Printed: the victim's bytes held in partial
 * messages, its peak, refused fragments and evicted partials, and its RSS
 * before the attack and at the end. "--cap off" sets a budget no attack
 * reaches (the behaviour before the budget existed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/peer.h>
#include <actr/runtime.h>

#include "proto/fragment.h"
#include "runtime/peer_internal.h"
#include "server/signal_internal.h"
#include "wire/pc.h"
#include "bench/bench.h"

#define MAX_ATT 16
#define FRAG_DATA 60000
#define LANE_FRAGS 280		/* 16.8 MB offered per lane */

static Actr__ActrType victim_type = { PROTOBUF_C_MESSAGE_INIT(
	&actr__actr_type__descriptor), "acme", "victim", "1.0.0" };

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	long kib = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static int raw_echo(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	return actr_reply_raw(ctx, d, n);
}

/* The victim: registers and reports "held peak refused evicted rss" on
 * stdout every 100 ms until killed. */
static int run_victim(const char *url, size_t cap)
{
	actr_reactor_t *r = actr_reactor_new();
	actr_system_config_t sc = { .realm_id = 101 };
	actr_peer_config_t pc = { .realm_secret = "pw",
				  .local_addr = "127.0.0.1" };
	actr_workload_t *w = actr_workload_new("acme", "victim", "1.0.0");
	actr_system_t *sys = r ? actr_system_new(r, &sc) : NULL;
	actr_node_t *node;
	actr_peer_t *peer;
	actr_ref_t *ref;
	uint64_t next = 0;

	if (!sys || !w || actr_workload_add_route(w, "test.Echo", raw_echo,
						  0) < 0)
		return 1;
	node = actr_node_new(sys, w, 0);
	pc.signaling_url = url;
	pc.reasm_cap = cap;
	peer = node ? actr_peer_new(node, &pc) : NULL;
	if (!peer || actr_node_start(node, &ref) < 0 ||
	    actr_peer_start(peer) < 0)
		return 1;
	for (;;) {
		actr_reactor_run_once(r, 10);
		if (actr_time_ns() >= next) {
			actr_peer_stats_t st;

			actr_peer_get_stats(peer, &st);
			printf("%llu %llu %llu %llu %ld\n",
			       (unsigned long long)st.reasm_held,
			       (unsigned long long)st.reasm_peak,
			       (unsigned long long)st.reasm_refused,
			       (unsigned long long)st.reasm_evicted, rss_kib());
			fflush(stdout);
			next = actr_time_ns() + ACTR_MS(100);
		}
	}
}

struct victim {
	pid_t pid;
	FILE *out;		/* its report lines */
	unsigned long long held, peak, refused, evicted;
	long rss;
};

static pid_t spawn_victim(const char *url, const char *cap, FILE **out)
{
	int fd[2];
	pid_t pid;

	if (pipe(fd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		execl("/proc/self/exe", "reasm_attack", "--role-victim", url,
		      cap, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	fcntl(fd[0], F_SETFL, O_NONBLOCK);
	*out = fdopen(fd[0], "r");
	return pid;
}

/* Take the victim's latest report line, if any. */
static void victim_poll(struct victim *v)
{
	char line[256];

	while (fgets(line, sizeof(line), v->out))
		sscanf(line, "%llu %llu %llu %llu %ld", &v->held, &v->peak,
		       &v->refused, &v->evicted, &v->rss);
	clearerr(v->out);
}

struct att {
	actr_system_t *sys;
	actr_node_t *node;
	actr_peer_t *peer;
	int done, status;
	int lane;		/* attack cursor: lane and fragment */
	unsigned frag;
	uint32_t base;		/* msg_id of its first partial message */
};

static void on_res(const actr_result_t *r, void *arg)
{
	struct att *a = arg;

	a->done++;
	a->status = r->status;
}

static int attacker_new(struct att *a, actr_reactor_t *r, const char *url,
			int i)
{
	actr_system_config_t sc = { .realm_id = 101 };
	actr_peer_config_t pc = { .realm_secret = "pw",
				  .local_addr = "127.0.0.1" };
	actr_ref_t *ref;
	char name[32];

	snprintf(name, sizeof(name), "attacker%d", i);
	a->sys = actr_system_new(r, &sc);
	a->node = a->sys ? actr_node_new(a->sys, actr_workload_new(
						  "acme", name, "1.0.0"), 0)
			 : NULL;
	pc.signaling_url = url;
	a->peer = a->node ? actr_peer_new(a->node, &pc) : NULL;
	if (!a->peer || actr_node_start(a->node, &ref) < 0 ||
	    actr_peer_start(a->peer) < 0)
		return -1;
	return 0;
}

/* Queue partial messages on every lane of a's connection, from where
 * the last call stopped (the send queue was full). 1 when all went, 0
 * when more is to send, -1 on an error. */
static int attack(struct att *a)
{
	static uint8_t frag[ACTR_FRAG_HDR_LEN + FRAG_DATA];
	struct actr__map_iter it;
	struct actr__map_node *v;
	actr__pc_t *pc = NULL;
	int rc;

	actr__map_foreach(&a->peer->conns, it, v) {
		struct peer_conn *c = actr__map_entry(v, struct peer_conn, node);

		if (c->st == PC_OPEN)
			pc = c->pc;
	}
	if (!pc)
		return -1;
	for (; a->lane < ACTR__LANE_COUNT; a->lane++, a->frag = 0) {
		actr__dc_t *dc = actr__pc_lane_channel(pc, a->lane);

		for (; dc && a->frag < LANE_FRAGS; a->frag++) {
			/* 40 fragments of 1000 per message: never whole */
			actr__frag_hdr_t h = { a->base + a->frag / 40,
					       (uint16_t)(a->frag % 40),
					       1000 };

			actr__frag_hdr_write(frag, &h);
			rc = actr__dc_send(dc, frag, sizeof(frag), true);
			if (rc == -ENOBUFS)
				return 0;
			if (rc < 0)
				return -1;
		}
	}
	return 1;
}

static size_t buffered(struct att *a, int n)
{
	size_t total = 0;

	for (int i = 0; i < n; i++) {
		struct actr__map_iter it;
		struct actr__map_node *v;

		actr__map_foreach(&a[i].peer->conns, it, v) {
			struct peer_conn *c =
				actr__map_entry(v, struct peer_conn, node);

			for (int l = 0; c->pc && l < ACTR__LANE_COUNT; l++)
				total += actr__pc_buffered(c->pc, l);
		}
	}
	return total;
}

int main(int argc, char **argv)
{
	struct actr__sig_config scfg;
	struct actr__sig_listen_config lc = { .host = "127.0.0.1" };
	struct actr__sig_listener *l;
	struct att a[MAX_ATT] = { { 0 } };
	struct victim v = { 0 };
	actr_reactor_t *r;
	const char *cap = "0";
	char url[64];
	int n = 4, st, rc = 0;
	long rss0;
	uint64_t end, quiet = 0;
	unsigned long long last = 0;

	if (argc == 4 && !strcmp(argv[1], "--role-victim"))
		return run_victim(argv[2], !strcmp(argv[3], "off")
						   ? (size_t)1 << 40
						   : (size_t)atol(argv[3]) << 20);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--attackers") && i + 1 < argc)
			n = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--cap") && i + 1 < argc)
			cap = argv[++i];
		else {
			fprintf(stderr, "usage: %s [--attackers N] "
				"[--cap MiB|off]\n", argv[0]);
			return 2;
		}
	}
	if (n < 1 || n > MAX_ATT)
		n = 4;
	setenv("ACTR_LOG", "error", 1);
	actr_log_set_level(ACTR_LOG_ERROR);
	r = actr_reactor_new();
	actr__sig_config_defaults(&scfg);
	scfg.db_path = ":memory:";
	scfg.msg_per_s = scfg.msg_burst = 1e6;
	scfg.conn_per_min = scfg.reg_per_min = 6000;
	scfg.conn_burst = scfg.reg_burst = 1000;
	l = r ? actr__sig_listen(r, &scfg, &lc) : NULL;
	if (!l || actr__sig_add_realm(actr__sig_listener_core(l), 101,
				      "pw") < 0)
		return 1;
	snprintf(url, sizeof(url), "ws://127.0.0.1:%u",
		 actr__sig_listener_port(l));
	v.pid = spawn_victim(url, cap, &v.out);
	if (v.pid < 0 || !v.out)
		return 1;
	for (int i = 0; i < n; i++)
		if (attacker_new(&a[i], r, url, i) < 0)
			return 1;
	/* connect: one Echo call each (NotFound until the victim is up) */
	end = actr_time_ns() + ACTR_SEC(30);
	for (int i = 0; i < n && actr_time_ns() < end; i++) {
		a[i].done = 0;
		if (actr_peer_ready(a[i].peer) &&
		    actr_peer_call_raw(a[i].peer, &victim_type, "test.Echo",
				       "hi", 2, 5000, on_res, &a[i]) == 0)
			while (!a[i].done && actr_time_ns() < end)
				actr_reactor_run_once(r, 10);
		if (a[i].done != 1 || a[i].status != 0) {
			actr_reactor_run_once(r, 50);
			i--;	/* again */
		}
	}
	if (actr_time_ns() >= end) {
		fprintf(stderr, "reasm_attack: attackers could not connect\n");
		rc = 1;
		goto out;
	}
	for (int i = 0; i < 20; i++)
		actr_reactor_run_once(r, 10);
	victim_poll(&v);
	rss0 = v.rss;
	for (int i = 0; i < n; i++)
		a[i].base = 0x40000000u + (uint32_t)i * 1000;
	/* until everything left and the victim's figures are still 1 s */
	end = actr_time_ns() + ACTR_SEC(120);
	while (actr_time_ns() < end) {
		int busy = 0;

		for (int i = 0; i < n; i++)
			if (a[i].lane < ACTR__LANE_COUNT) {
				busy = 1;
				if (attack(&a[i]) < 0) {
					fprintf(stderr, "reasm_attack: "
						"attacker %d failed\n", i);
					a[i].lane = ACTR__LANE_COUNT;
				}
			}
		actr_reactor_run_once(r, 10);
		victim_poll(&v);
		if (busy || buffered(a, n) ||
		    v.held + v.refused + v.evicted != last) {
			last = v.held + v.refused + v.evicted;
			quiet = actr_time_ns() + ACTR_SEC(1);
		} else if (actr_time_ns() >= quiet) {
			break;
		}
	}
	printf("reasm_attack: %d attackers x 4 lanes x %u B offered (%.1f "
	       "MiB), victim budget %s MiB%s\n", n, LANE_FRAGS * FRAG_DATA,
	       n * 4.0 * LANE_FRAGS * FRAG_DATA / (1 << 20), cap,
	       !strcmp(cap, "0") ? " (default 64)" : "");
	printf("  victim holds %.1f MiB (peak %.1f), refused %llu fragments, "
	       "evicted %llu partials; victim RSS %.1f -> %.1f MiB\n",
	       v.held / 1048576.0, v.peak / 1048576.0, v.refused, v.evicted,
	       rss0 / 1024.0, v.rss / 1024.0);
	bench_out_row(&(struct bench_row){
		.bench = "reasm_attack", .group = "reassembly flood",
		.row = "actr victim", .role = "subject", .n = (uint64_t)n,
		.rounds = 1,
		.extra = { { "held_mib", v.held / 1048576.0 },
			   { "peak_mib", v.peak / 1048576.0 },
			   { "refused", (double)v.refused },
			   { "evicted", (double)v.evicted },
			   { "rss_mib", v.rss / 1024.0 } },
		.note = "n = attackers; memory held stays under the budget",
	});
out:
	kill(v.pid, SIGKILL);
	waitpid(v.pid, &st, 0);
	for (int i = 0; i < n; i++) {
		actr_peer_free(a[i].peer);
		if (a[i].sys)
			actr_system_free(a[i].sys);
	}
	actr__sig_listener_free(l);
	actr_reactor_drain(r, 2000);
	actr_reactor_free(r);
	return rc;
}
