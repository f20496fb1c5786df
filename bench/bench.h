/*
 * What the benchmark programs share: pinning to a CPU, sorting samples,
 * letting a reactor finish its closes, stopping a child process.
 * Header-only: each file in bench/ is a program of its own.
 */
#ifndef ACTR_BENCH_H
#define ACTR_BENCH_H

#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <actr/reactor.h>
#include <actr/util.h>

/* Run this process on one CPU (both ends of a latency benchmark share
 * it); cpu < 0: leave it where it is. */
static inline void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		perror("sched_setaffinity");
}

/* The same on $ACTR_BENCH_CPU, or dflt. */
static inline void pin_env(int dflt)
{
	const char *env = getenv("ACTR_BENCH_CPU");

	pin(env ? atoi(env) : dflt);
}

/* qsort comparators */
static inline int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static inline int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Let closing connections finish (at most a second). */
static inline void drain(actr_reactor_t *r)
{
	uint64_t end = actr_time_ns() + ACTR_MS(1000);

	for (int i = 0; i < 3; i++)
		actr_reactor_run_once(r, 0);
	while (actr_reactor_active(r) > 0 && actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
}

/* SIGTERM a child, keep r running meanwhile (its signaling server may be
 * ours), then SIGKILL after 3 s. */
static inline void stop(actr_reactor_t *r, pid_t pid)
{
	int st;

	kill(pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		actr_reactor_run_once(r, 10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

#endif
