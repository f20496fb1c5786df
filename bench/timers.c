/*
 * bench/timers: cost of the reactor's timer heap with 100k and 1M live
 * timers: start (insert), stop (remove from the middle) and the fire rate
 * when every timer re-arms itself on expiry, so the heap stays full.
 *
 *   timers [--fires N]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <actr/actr.h>

#include "bench/bench.h"

/* A fixed-seed xorshift: the same deadlines every run (the suite's
 * figures are repeatable), not actr_rand64's system randomness. */
static uint64_t bench_rand(void)
{
	static uint64_t x = 0x9e3779b97f4a7c15ull;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

struct bt {
	actr_timer_t t;
	long *fired;
};

static uint64_t spread_ns = ACTR_MS(20);

static void on_fire(actr_timer_t *t, void *arg)
{
	struct bt *b = arg;

	(*b->fired)++;
	/* Re-arm at a random point of the window: the heap stays at N. */
	actr_timer_start(t, bench_rand() % spread_ns, 0);
}

static void run(long n, long fires)
{
	actr_reactor_t *r = actr_reactor_new();
	struct bt *v = calloc((size_t)n, sizeof(*v));
	long fired = 0;
	uint64_t t0, t_start, t_stop, t_fire;
	long restarted = 0;

	if (!r || !v) {
		perror("alloc");
		exit(2);
	}
	t0 = actr_time_ns();
	for (long i = 0; i < n; i++) {
		v[i].fired = &fired;
		actr_timer_init(r, &v[i].t, on_fire, &v[i]);
		actr_timer_start(&v[i].t, bench_rand() % spread_ns, 0);
	}
	t_start = actr_time_ns() - t0;

	/* Stop and restart a tenth of them, from random heap positions. */
	t0 = actr_time_ns();
	for (long i = 0; i < n; i += 10) {
		actr_timer_stop(&v[i].t);
		restarted++;
	}
	t_stop = actr_time_ns() - t0;
	for (long i = 0; i < n; i += 10)
		actr_timer_start(&v[i].t, bench_rand() % spread_ns, 0);

	t0 = actr_time_ns();
	for (int it = 0; fired < fires && it < 10000000; it++)
		actr_reactor_run_once(r, 1000);
	t_fire = actr_time_ns() - t0;

	printf("%8ld live timers: start %6.1f ns/op  stop %6.1f ns/op  "
	       "fire %9.0f timers/s (%.0f ns per fire incl. re-arm)\n",
	       n, (double)t_start / (double)n,
	       (double)t_stop / (double)restarted,
	       (double)fired * 1e9 / (double)t_fire,
	       (double)t_fire / (double)fired);
	{
		char group[48];

		snprintf(group, sizeof(group), "timers, %ld live", n);
		bench_out_row(&(struct bench_row){
			.bench = "timers", .group = group, .row = "actr heap",
			.role = "subject",
			.throughput = (double)fired * 1e9 / (double)t_fire,
			.unit = "fires/s", .n = (uint64_t)fired, .rounds = 1,
			.extra = { { "start_ns", (double)t_start / (double)n },
				   { "stop_ns", (double)t_stop /
						(double)restarted } },
			.note = "one round; no baseline (the reactor's own "
				"timer heap)",
		});
	}
	for (long i = 0; i < n; i++)
		actr_timer_stop(&v[i].t);
	free(v);
	actr_reactor_free(r);
}

int main(int argc, char **argv)
{
	long fires = 2000000;

	if (argc == 3 && !strcmp(argv[1], "--fires"))
		fires = atol(argv[2]);
	else if (argc != 1) {
		fprintf(stderr, "usage: %s [--fires N]\n", argv[0]);
		return 2;
	}
	printf("timers: deadlines spread over %.0f ms, every fired timer "
	       "re-arms (heap stays full); %ld fires per size\n",
	       (double)spread_ns / 1e6, fires);
	run(100000, fires);
	run(1000000, fires);
	return 0;
}
