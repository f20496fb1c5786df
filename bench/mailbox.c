/*
 * Mailbox benchmark: N messages of 256 bytes through enqueue -> dequeue ->
 * handle (no-op) -> ack on a reactor, the mailbox committing once per
 * iteration (group commit), in three modes in the same run:
 *   memory  an in-memory ring of buffers (the baseline)
 *   normal  the durable mailbox, WAL + synchronous=NORMAL
 *   full    the durable mailbox, WAL + synchronous=FULL
 * Closed-loop lines are medians of 3 rounds.
 * Closed loop: each iteration BURST messages arrive and the dispatcher
 * takes up to BATCH. The mailbox runs in its default mode: a message is
 * handled only after the commit that stored it, so every message is written
 * and later deleted (nothing is elided). Latency = from enqueue until the
 * handler ran on a durable message (the reply could be released).
 * "+first" lines run the mailbox as the peer gate does: handled-first
 * delivery (deliver_uncommitted with the crash journal), where a message
 * handled and acked before the commit is never written.
 * Then an open loop at 50k msgs/s offered load: arrivals on a fixed
 * schedule, latency from the scheduled arrival; "+async" there makes every
 * handler ack one iteration later, so every message is written and every
 * commit (an fsync with FULL) runs on the reactor thread.
 *
 *   build/bench/mailbox [count] [burst] [dir]   (VERBOSE=1: commits per run;
 *   CKPT_PAGES=n, WAL_MAX_PAGES=n: the checkpointer's thresholds;
 *   OFFERED_SECS=n: longer open-loop runs, which include WAL restarts
 *   and checkpoints as a steady state has them; ONLY=label: the open loop
 *   only, and of it only that line, e.g. ONLY=full+paced+first+async;
 *   CLOSED=label: only that closed-loop line, e.g. CLOSED=normal+first,
 *   for bench/perf.sh's callgrind counts)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/mailbox.h>

#include "mailbox/internal.h"	/* commit/checkpoint durations */
#include "bench/bench.h"

#define PAYLOAD 256
#define BATCH 128	/* dequeue call size */
#define BUDGET 4096	/* messages the dispatcher handles per iteration */
#define WINDOW 1024	/* closed loop: outstanding messages */
#define PACE_US 200	/* the paced variant (the default pacing): */
#define ACK_FLUSH_MS 20	/* min_commit_us and ack_flush_ms */
#define OFFERED_RATE 50000
#define OFFERED_SECS 1	/* OFFERED_SECS=n in the environment: longer */
#define OFFERED_RUNS 3

enum mode { M_MEMORY, M_NORMAL, M_FULL };
static const char *mode_name[] = { "memory", "normal", "full" };

/* The baseline queue: a ring of buffers with the same per-message buffer
 * as the mailbox gets. */
struct ring {
	actr_buf_t **slot;
	uint64_t *t;
	size_t cap, head, n;
};

struct bench {
	enum mode mode;
	actr_reactor_t *r;
	actr_mailbox_t *mb;
	struct ring ring;
	actr_hook_t arrive, dispatch, prepare;
	uint8_t payload[PAYLOAD];
	uint64_t total;		/* messages to send */
	uint64_t sent, handled;
	uint32_t burst;		/* closed loop: arrivals per iteration */
	uint32_t window;	/* closed loop: or keep this many outstanding */
	uint64_t rate;		/* open loop: msgs/s, 0 = closed loop */
	uint64_t t_start;	/* open loop: schedule origin */
	uint64_t *lat;		/* per-message latency, ns */
	uint64_t *t_enq;	/* per message id: enqueue or schedule time */
	uint64_t id_base;	/* first id of the run */
	bool failed;
	/* latency breakdown (durable modes) */
	uint64_t *t_real;	/* per id: when it was really enqueued */
	uint64_t *w_arrive, *w_commit, *w_disp; /* per handled message */
	uint64_t last_commit_end;
	uint64_t *commit_ns;	/* per commit: duration */
	size_t ncommit, commit_cap;
	bool first;		/* handled-first delivery (crash journal) */
	bool defer;		/* acks one iteration after the handler */
	uint64_t *later;	/* defer: ids to ack next iteration */
	size_t nlater;
};

enum { F_PACED = 1, F_FIRST = 2, F_DEFER = 4 };

static uint64_t now_ns(void)
{
	return actr_time_ns();
}

static int enqueue_one(struct bench *b, uint64_t t)
{
	actr_buf_t *p = actr_buf_copy(b->payload, PAYLOAD);
	uint64_t id;
	int rc;

	if (!p)
		return -ENOMEM;
	if (b->mode == M_MEMORY) {
		struct ring *q = &b->ring;

		if (q->n == q->cap) {
			actr_buf_unref(p);
			return -ENOSPC;
		}
		q->slot[(q->head + q->n) % q->cap] = p;
		q->t[(q->head + q->n) % q->cap] = t;
		q->n++;
		return 0;
	}
	rc = actr_mailbox_enqueue(b->mb, ACTR_PRIO_NORMAL, "bench", 5, p, &id);
	actr_buf_unref(p);
	if (rc == 0) {
		b->t_enq[id - b->id_base] = t;
		b->t_real[id - b->id_base] = now_ns();
	}
	return rc;
}

static void on_arrive(actr_hook_t *h, void *arg)
{
	struct bench *b = arg;
	uint64_t n, t = now_ns();

	(void)h;
	if (b->rate) {
		/* everything scheduled up to now */
		uint64_t due = (t - b->t_start) * b->rate / ACTR_NSEC_PER_SEC + 1;

		n = due > b->sent ? due - b->sent : 0;
	} else if (b->window) {
		n = b->window - (b->sent - b->handled);
	} else {
		n = b->burst;
	}
	if (n > b->total - b->sent)
		n = b->total - b->sent;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t ts = b->rate ? b->t_start + b->sent * ACTR_NSEC_PER_SEC /
							   b->rate :
					t;

		if (enqueue_one(b, ts)) {
			b->failed = true;
			return;
		}
		b->sent++;
	}
}

/* The no-op handler reads each payload into this, so the read stays. */
static volatile uint8_t handler_sink;

static void on_dispatch(actr_hook_t *h, void *arg)
{
	struct bench *b = arg;
	actr_mailbox_msg_t *out[BATCH];
	size_t n;
	uint64_t t;

	(void)h;
	for (size_t i = 0; i < b->nlater; i++) /* async handlers finished */
		if (actr_mailbox_ack(b->mb, b->later[i]))
			b->failed = true;
	b->nlater = 0;
	if (b->mode == M_MEMORY) {
		struct ring *q = &b->ring;

		n = q->n < BUDGET ? q->n : BUDGET;
		t = now_ns();
		for (size_t i = 0; i < n; i++) {
			actr_buf_t *p = q->slot[q->head];

			handler_sink ^= p->data[0]; /* the handler */
			b->lat[b->handled++] = t - q->t[q->head];
			actr_buf_unref(p); /* the ack */
			q->head = (q->head + 1) % q->cap;
			q->n--;
		}
		return;
	}
	for (int budget = BUDGET; budget > 0; budget -= BATCH) {
		n = actr_mailbox_dequeue(b->mb, out, BATCH);
		if (!n)
			break;
		t = now_ns();
		for (size_t i = 0; i < n; i++) {
			handler_sink ^= out[i]->payload->data[0]; /* the handler */
			/* default mode: dequeued => durable, reply may go */
			uint64_t k = out[i]->id - b->id_base;
			uint64_t tc = b->last_commit_end;

			if (tc < b->t_real[k] || b->first)
				tc = b->t_real[k]; /* first: no commit wait */
			b->w_arrive[b->handled] = b->t_real[k] - b->t_enq[k];
			b->w_commit[b->handled] = tc - b->t_real[k];
			b->w_disp[b->handled] = t > tc ? t - tc : 0;
			b->lat[b->handled++] = t - b->t_enq[k];
			if (b->defer)
				b->later[b->nlater++] = out[i]->id;
			else if (actr_mailbox_ack(b->mb, out[i]->id))
				b->failed = true;
		}
	}
}

static void on_prepare(actr_hook_t *h, void *arg)
{
	struct bench *b = arg;

	(void)h;
	actr_reactor_limit_wait(b->r, 0); /* a benchmark may spin */
}

static uint64_t lat_probe[20];

static void on_commit(actr_mailbox_t *mb, int rc, uint64_t seq, void *arg)
{
	struct bench *b = arg;

	(void)seq;
	if (rc < 0)
		return;
	b->last_commit_end = now_ns();
	if (b->ncommit < b->commit_cap)
		b->commit_ns[b->ncommit++] = actr__mb_last_commit_ns(mb);
}

/* p50/p99/max of v[0..n) in us, sorting v */
static void pct(uint64_t *v, size_t n, double out[3])
{
	out[0] = out[1] = out[2] = 0;
	if (!n)
		return;
	qsort(v, n, sizeof(*v), cmp_u64);
	out[0] = (double)v[n / 2] / 1e3;
	out[1] = (double)v[n * 99 / 100] / 1e3;
	out[2] = (double)v[n - 1] / 1e3;
}

struct result {
	double rate, p50_us, p99_us, max_us;
	double cpu_us;		/* user + system CPU per message */
	/* breakdown, p50/p99/max in us */
	double arrive[3], commit_wait[3], disp[3], commit[3], ckpt[3];
	uint64_t commits, checkpoints, restarts, wal_pages_max;
	uint64_t restart_waits, restart_wait_us;
};

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) *
		       ACTR_NSEC_PER_SEC +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* noinline: callgrind counts instructions inside it (bench/perf.sh) */
static __attribute__((noinline)) int run(enum mode mode, const char *dir,
					 uint64_t total, uint32_t burst,
					 uint32_t window, uint64_t rate,
					 int flags, struct result *res)
{
	struct bench b = { .mode = mode, .total = total, .burst = burst,
			   .window = window, .rate = rate,
			   .first = flags & F_FIRST, .defer = flags & F_DEFER };
	bool paced = flags & F_PACED;
	char path[512];
	uint64_t t0, t1, c0, iters = 0;
	int rc = 0;

	memset(b.payload, 0xab, sizeof(b.payload));
	memset(res, 0, sizeof(*res));
	b.lat = calloc(total, sizeof(*b.lat));
	b.t_enq = calloc(total, sizeof(*b.t_enq));
	b.t_real = calloc(total, sizeof(*b.t_real));
	b.w_arrive = calloc(total, sizeof(*b.w_arrive));
	b.w_commit = calloc(total, sizeof(*b.w_commit));
	b.w_disp = calloc(total, sizeof(*b.w_disp));
	b.commit_cap = total + 16;
	b.commit_ns = calloc(b.commit_cap, sizeof(*b.commit_ns));
	b.later = calloc(BUDGET, sizeof(*b.later));
	b.r = actr_reactor_new();
	if (!b.lat || !b.t_enq || !b.t_real || !b.w_arrive || !b.w_commit ||
	    !b.w_disp || !b.commit_ns || !b.later || !b.r) {
		rc = -ENOMEM;
		goto out_free;
	}
	if (mode == M_MEMORY) {
		b.ring.cap = total + 1;
		b.ring.slot = calloc(b.ring.cap, sizeof(*b.ring.slot));
		b.ring.t = calloc(b.ring.cap, sizeof(*b.ring.t));
		if (!b.ring.slot || !b.ring.t) {
			rc = -ENOMEM;
			goto out_free;
		}
	} else {
		actr_mailbox_opts_t o;
		uint64_t id;
		actr_buf_t *p = actr_buf_copy("x", 1);
		actr_mailbox_msg_t *m;

		snprintf(path, sizeof(path), "%s/bench-%s-%llu.db", dir,
			 mode_name[mode], (unsigned long long)rate);
		unlink(path);
		actr_mailbox_opts_init(&o);
		o.sync = mode == M_FULL ? ACTR_MAILBOX_SYNC_FULL :
					  ACTR_MAILBOX_SYNC_NORMAL;
		if (getenv("CKPT_PAGES")) /* experiments */
			o.checkpoint_pages = (uint32_t)atoi(getenv("CKPT_PAGES"));
		if (getenv("WAL_MAX_PAGES"))
			o.wal_max_pages = (uint32_t)atoi(getenv("WAL_MAX_PAGES"));
		if (paced) {
			o.min_commit_us = PACE_US;
			o.ack_flush_ms = ACK_FLUSH_MS;
		} else {
			o.min_commit_us = 0; /* a commit every iteration */
		}
		o.deliver_uncommitted = b.first;
		rc = actr_mailbox_open(path, &o, &b.mb);
		if (rc < 0) {
			actr_buf_unref(p);
			goto out_free;
		}
		/* learn the first id (and warm the file) */
		actr_mailbox_enqueue(b.mb, ACTR_PRIO_NORMAL, NULL, 0, p, &id);
		actr_buf_unref(p);
		actr_mailbox_commit(b.mb);
		actr_mailbox_dequeue(b.mb, &m, 1);
		actr_mailbox_ack(b.mb, id);
		actr_mailbox_commit(b.mb);
		b.id_base = id + 1;
		actr_mailbox_attach(b.mb, b.r);
		b.mb->o.on_commit = on_commit; /* from here on */
		b.mb->o.commit_arg = &b;
	}
	actr_hook_start(b.r, &b.arrive, ACTR_HOOK_CHECK, 10, on_arrive, &b);
	actr_hook_start(b.r, &b.dispatch, ACTR_HOOK_CHECK, ACTR_ORDER_DISPATCH,
			on_dispatch, &b);
	actr_hook_start(b.r, &b.prepare, ACTR_HOOK_PREPARE, 0, on_prepare, &b);
	c0 = cpu_ns();
	t0 = b.t_start = now_ns();
	while (b.handled < total && !b.failed &&
	       now_ns() - t0 < ACTR_SEC(120)) {
		actr_reactor_run_once(b.r, 0);
		iters++;
	}
	t1 = now_ns();
	res->cpu_us = (double)(cpu_ns() - c0) / 1e3 / (double)total;
	if (b.failed || b.handled < total) {
		fprintf(stderr, "%s: run failed (%llu of %llu handled)\n",
			mode_name[mode], (unsigned long long)b.handled,
			(unsigned long long)total);
		rc = -EIO;
	}
	actr_hook_stop(&b.arrive);
	actr_hook_stop(&b.dispatch);
	actr_hook_stop(&b.prepare);
	if (b.mb) {
		actr_mailbox_stats_t st;

		uint32_t ck[MB_CKPT_HIST];
		uint64_t ck64[MB_CKPT_HIST];
		size_t nck;

		actr_mailbox_commit(b.mb);
		actr_mailbox_stats(b.mb, &st);
		nck = actr__mb_ckpt_durations(b.mb, ck, MB_CKPT_HIST);
		for (size_t i = 0; i < nck; i++)
			ck64[i] = (uint64_t)ck[i] * 1000;
		pct(ck64, nck, res->ckpt);
		res->checkpoints = st.checkpoints;
		res->restarts = st.checkpoint_restarts;
		res->wal_pages_max = st.wal_pages_max;
		res->restart_waits = st.restart_waits;
		res->restart_wait_us = st.restart_wait_us;
		res->commits = st.commits;
		pct(b.commit_ns, b.ncommit, res->commit);
		pct(b.w_arrive, b.handled, res->arrive);
		pct(b.w_commit, b.handled, res->commit_wait);
		pct(b.w_disp, b.handled, res->disp);
		if (getenv("VERBOSE"))
			printf("  [%llu commits, %.1f msgs/commit]\n",
			       (unsigned long long)st.commits,
			       (double)total / (double)st.commits);
		if (st.commit_errors)
			rc = -EIO;
		actr_mailbox_close(b.mb);
		actr_mailbox_remove(path);
	}
	qsort(b.lat, b.handled, sizeof(*b.lat), cmp_u64);
	res->rate = (double)b.handled * 1e9 / (double)(t1 - t0);
	if (b.handled) {
		res->p50_us = (double)b.lat[b.handled / 2] / 1e3;
		res->p99_us = (double)b.lat[b.handled * 99 / 100] / 1e3;
		res->max_us = (double)b.lat[b.handled - 1] / 1e3;
	}
out_free:
	free(b.lat);
	free(b.t_enq);
	free(b.t_real);
	free(b.w_arrive);
	free(b.w_commit);
	free(b.w_disp);
	free(b.commit_ns);
	free(b.later);
	free(b.ring.slot);
	free(b.ring.t);
	actr_reactor_free(b.r);
	return rc;
}

/* What one small durable write costs on this disk right now. */
static double fdatasync_us(const char *dir)
{
	char path[512], page[4096];
	uint64_t t0, best = UINT64_MAX;
	int fd;

	snprintf(path, sizeof(path), "%s/fsync-probe", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	memset(page, 1, sizeof(page));
	for (int i = 0; i < 20; i++) {
		t0 = now_ns();
		if (pwrite(fd, page, sizeof(page), (off_t)i * 4096) < 0 ||
		    fdatasync(fd) < 0)
			break;
		t0 = now_ns() - t0;
		lat_probe[i] = t0;
		if (t0 < best)
			best = t0;
	}
	close(fd);
	unlink(path);
	qsort(lat_probe, 20, sizeof(lat_probe[0]), cmp_u64);
	return (double)lat_probe[10] / 1e3;
}

static int cmp_p99(const void *a, const void *b)
{
	double x = ((const struct result *)a)->p99_us;
	double y = ((const struct result *)b)->p99_us;

	return x < y ? -1 : x > y;
}

static void print_line(const char *label, const struct result *r,
		       const struct result *base)
{
	printf("%s: %.0f msgs/s p50 %.1f us p99 %.1f us", label, r->rate,
	       r->p50_us, r->p99_us);
	if (base)
		printf(" (durable/in-memory %.3f)", r->rate / base->rate);
	printf(" [cpu %.2f us/msg]", r->cpu_us);
	printf("\n");
}

static void print_breakdown(const struct result *r)
{
	printf("   p50/p99/max us: late arrival (reactor busy) %.0f/%.0f/%.0f,"
	       " waiting for the commit %.0f/%.0f/%.0f, commit to handler "
	       "%.0f/%.0f/%.0f\n",
	       r->arrive[0], r->arrive[1], r->arrive[2], r->commit_wait[0],
	       r->commit_wait[1], r->commit_wait[2], r->disp[0], r->disp[1],
	       r->disp[2]);
	printf("   %llu commits, duration %.0f/%.0f/%.0f us; %llu background "
	       "checkpoints (%llu WAL restarts), duration %.0f/%.0f/%.0f us;"
	       " WAL at most %llu pages; %llu commits waited %llu us in all"
	       " for a WAL restart\n",
	       (unsigned long long)r->commits, r->commit[0], r->commit[1],
	       r->commit[2], (unsigned long long)r->checkpoints,
	       (unsigned long long)r->restarts, r->ckpt[0], r->ckpt[1],
	       r->ckpt[2], (unsigned long long)r->wal_pages_max,
	       (unsigned long long)r->restart_waits,
	       (unsigned long long)r->restart_wait_us);
}

#define REPS 3	/* closed-loop rounds per line, the medians printed */

/* The median round by rate, with p50 and p99 the medians of their own. */
static void median_result(struct result *rk, int n, struct result *out)
{
	double p50[REPS], p99[REPS], rate[REPS];

	for (int k = 0; k < n; k++) {
		p50[k] = rk[k].p50_us;
		p99[k] = rk[k].p99_us;
		rate[k] = rk[k].rate;
	}
	*out = rk[0];
	for (int k = 0; k < n; k++)
		if (rk[k].rate == bench_median(rate, (size_t)n))
			*out = rk[k];
	out->p50_us = bench_median(p50, (size_t)n);
	out->p99_us = bench_median(p99, (size_t)n);
	out->rate = bench_median(rate, (size_t)n);
}

/* The contract row of one printed line (the memory ring is the
 * baseline). */
static void out_row(const char *group, const char *label, int mode,
		    const struct result *r, uint64_t n, unsigned rounds)
{
	bench_out_row(&(struct bench_row){
		.bench = "mailbox",
		.group = group,
		.row = mode == M_MEMORY ? "in-memory ring" : label,
		.role = mode == M_MEMORY ? "baseline" : "subject",
		.p50_us = r->p50_us,
		.p99_us = r->p99_us,
		.throughput = r->rate,
		.unit = "msgs/s",
		.n = n,
		.rounds = rounds,
		.extra = { { "cpu_us_per_msg", r->cpu_us } },
	});
}

/* The open-loop variants, in print order. */
static const struct {
	int mode, flags;
} open_loop[] = {
	{ M_MEMORY, 0 },
	{ M_NORMAL, 0 },
	{ M_FULL, 0 },
	{ M_NORMAL, F_PACED },
	{ M_FULL, F_PACED },
	{ M_NORMAL, F_PACED | F_FIRST },
	{ M_FULL, F_PACED | F_FIRST },
	{ M_NORMAL, F_PACED | F_FIRST | F_DEFER },
	{ M_FULL, F_PACED | F_FIRST | F_DEFER },
};

int main(int argc, char **argv)
{
	uint64_t total = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
	uint32_t burst = argc > 2 ? (uint32_t)atoi(argv[2]) : BATCH;
	char tmpl[] = "/tmp/actr-bench-mailbox-XXXXXX";
	const char *dir = argc > 3 ? argv[3] : mkdtemp(tmpl);
	struct result res[3] = { 0 }, fixed[3];
	char label[64];
	int rc = 0;
	int offered_secs = getenv("OFFERED_SECS") ?
				   atoi(getenv("OFFERED_SECS")) : OFFERED_SECS;

	if (offered_secs <= 0 || offered_secs > 60)
		offered_secs = OFFERED_SECS;
	if (!dir || !total || !burst) {
		fprintf(stderr, "usage: %s [count] [burst] [dir]\n", argv[0]);
		return 2;
	}
	actr_log_set_level(ACTR_LOG_WARN);
	/* keep glibc from trimming and regrowing the heap every iteration
	 * (it did, with 1024 buffers freed at once, in every mode) */
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	mallopt(M_TOP_PAD, 16 << 20);
	printf("mailbox: %llu msgs x %d B, enqueue -> dequeue -> handle -> "
	       "ack, one commit per reactor iteration, a message is handled "
	       "only after the commit that stored it (except +first); "
	       "files in %s; "
	       "4 KiB write+fdatasync here now: %.0f us (median of 20)\n",
	       (unsigned long long)total, PAYLOAD, dir, fdatasync_us(dir));
	if (!getenv("ONLY")) {
		const char *only_closed = getenv("CLOSED");

		printf("-- closed loop, %d messages outstanding (batches grow when "
		       "commits are slow):\n", WINDOW);
		for (int m = 0; m < 3 && !rc; m++) {
			struct result rk[REPS];

			if (only_closed && strcmp(only_closed, mode_name[m]))
				continue;
			for (int k = 0; k < REPS && !rc; k++)
				rc = run((enum mode)m, dir, total, burst,
					 WINDOW, 0, 0, &rk[k]);
			if (rc)
				break;
			median_result(rk, REPS, &res[m]);
			print_line(mode_name[m], &res[m],
				   m && res[0].rate > 0 ? &res[0] : NULL);
			out_row("mailbox 256 B closed loop", mode_name[m], m,
				&res[m], total, REPS);
		}
		for (int m = 1; m < 3 && !rc; m++) {
			struct result rk[REPS], rf;

			snprintf(label, sizeof(label), "%s+first",
				 mode_name[m]);
			if (only_closed && strcmp(only_closed, label))
				continue;
			for (int k = 0; k < REPS && !rc; k++)
				rc = run((enum mode)m, dir, total, burst,
					 WINDOW, 0, F_FIRST, &rk[k]);
			if (rc)
				break;
			median_result(rk, REPS, &rf);
			/* no baseline line when CLOSED= skipped it */
			print_line(label, &rf, res[0].rate > 0 ? &res[0] : NULL);
			out_row("mailbox 256 B closed loop", label, m, &rf,
				total, REPS);
		}
		if (only_closed)
			goto out;
		printf("-- closed loop, %u arrivals per iteration (fixed batch, as "
		       "in the issue's anchors):\n", burst);
		for (int m = 0; m < 3 && !rc; m++) {
			rc = run((enum mode)m, dir, total, burst, 0, 0, 0,
				 &fixed[m]);
			snprintf(label, sizeof(label), "%s/%u", mode_name[m], burst);
			if (!rc)
				print_line(label, &fixed[m], m ? &fixed[0] : NULL);
		}
	}
	printf("-- open loop, %d msgs/s offered for %d s, latency from the "
	       "scheduled arrival to the handler (stored before handled: on "
	       "a durable message; +first: handled first, the message in the "
	       "crash journal), median of %d runs:\n",
	       OFFERED_RATE, offered_secs, OFFERED_RUNS);
	for (size_t v = 0; v < ACTR_ARRAY_LEN(open_loop) && !rc; v++) {
		int m = open_loop[v].mode, fl = open_loop[v].flags;
		struct result rr[OFFERED_RUNS], *o;

		snprintf(label, sizeof(label), "%s%s%s%s", mode_name[m],
			 fl & F_PACED ? "+paced" : "",
			 fl & F_FIRST ? "+first" : "",
			 fl & F_DEFER ? "+async" : "");
		if (getenv("ONLY") && strcmp(getenv("ONLY"), label))
			continue;

		/* the median of a few runs: one disk stall decides a run */
		for (int k = 0; k < OFFERED_RUNS && !rc; k++)
			rc = run((enum mode)m, dir,
				 (uint64_t)OFFERED_RATE * offered_secs, burst, 0,
				 OFFERED_RATE, fl, &rr[k]);
		if (rc)
			break;
		qsort(rr, OFFERED_RUNS, sizeof(rr[0]), cmp_p99);
		o = &rr[OFFERED_RUNS / 2];
		printf("%s at %d msgs/s offered: p50 %.1f us p99 %.1f us "
		       "(p99 of %d runs: %.1f..%.1f us)\n",
		       label, OFFERED_RATE, o->p50_us, o->p99_us,
		       OFFERED_RUNS, rr[0].p99_us,
		       rr[OFFERED_RUNS - 1].p99_us);
		out_row("mailbox 256 B open loop 50k/s", label, m, o,
			(uint64_t)OFFERED_RATE * offered_secs, OFFERED_RUNS);
		if (m)
			print_breakdown(o);
	}
	if (!rc)
		printf("(+paced: min_commit_us %d, ack_flush_ms %d; +first: "
		       "deliver_uncommitted with the crash journal, as the peer "
		       "gate runs it; +async: every handler acks one iteration "
		       "later, so every message is written; the memory line is "
		       "this machine's noise floor)\n",
		       PACE_US, ACK_FLUSH_MS);
out:
	if (argc <= 3)
		rmdir(dir);
	if (rc)
		fprintf(stderr, "mailbox bench failed: %s\n",
			actr_strerror(rc));
	return rc ? 1 : 0;
}
