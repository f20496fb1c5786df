/*
 * What the benchmark programs share: pinning to a CPU, sorting samples,
 * letting a reactor finish its closes, stopping a child process.
 * Header-only: each file in bench/ is a program of its own.
 */
#ifndef ACTR_BENCH_H
#define ACTR_BENCH_H

/* sched_setaffinity and CPU_SET need it before the first system header */
#ifndef _GNU_SOURCE
#error "bench/bench.h: #define _GNU_SOURCE before any #include"
#endif

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

/*
 * The result contract of `make bench` (bench/run.sh, bench/report.py).
 *
 * With ACTR_BENCH_OUT=DIR set, each figure row a benchmark measured is
 * APPENDED as one JSON object per line to DIR/results.jsonl, and raw
 * latency samples (microseconds, one per line) MAY go to
 * DIR/samples/<bench>.<slug>.txt for the CDF pictures. Without it the
 * helpers do nothing: the human output stays as it is.
 *
 * A row: bench, group, row, role are required; role is "subject" (this
 * project), "baseline" (the same-run raw floor: raw epoll, raw UDP, raw
 * TCP, in-memory ring) or "peer" (another implementation). Figures are
 * medians over >= 3 rounds. Numbers left 0 (and strings left NULL) are
 * not written: "not measured". Extra numeric fields (rss_kib,
 * instructions, ...) go in extra[], name NULL ends the list.
 *
 *	bench_out_row(&(struct bench_row){
 *		.bench = "datachannel", .group = "echo 64 B",
 *		.row = "actr", .role = "subject",
 *		.p50_us = 32.1, .p99_us = 40.2, .n = 20000, .rounds = 5,
 *		.samples = bench_out_samples_ns("datachannel", "echo 64 B",
 *						"actr", ns, n),
 *	});
 */
#define BENCH_EXTRA_MAX 8

struct bench_row {
	const char *bench;	/* program name, e.g. "datachannel" */
	const char *group;	/* one table of the report, "echo 64 B" */
	const char *row;	/* "actr", "raw UDP", "libdatachannel" */
	const char *role;	/* "subject", "baseline" or "peer" */
	double p50_us;		/* latency percentiles, microseconds */
	double p99_us;
	double mean_us;
	double setup_ms;	/* connection setup time */
	double throughput;	/* in unit */
	const char *unit;	/* "MB/s", "msg/s", "calls/s" */
	uint64_t n;		/* operations measured per round */
	unsigned rounds;	/* rounds the medians are taken over */
	const char *samples;	/* from bench_out_samples*(), relative */
	const char *note;	/* free text shown in the report */
	struct {
		const char *name;
		double value;
	} extra[BENCH_EXTRA_MAX];
};

/* DIR of ACTR_BENCH_OUT, or NULL when results are not collected. */
static inline const char *bench_out_dir(void)
{
	const char *d = getenv("ACTR_BENCH_OUT");

	return d && *d ? d : NULL;
}

static inline void bench__json_str(char *buf, size_t cap, size_t *len,
				   const char *s)
{
	size_t l = *len;

	if (l < cap)
		buf[l++] = '"';
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (l + 7 >= cap)
			break;
		if (c == '"' || c == '\\') {
			buf[l++] = '\\';
			buf[l++] = (char)c;
		} else if (c < 0x20) {
			l += (size_t)snprintf(buf + l, cap - l, "\\u%04x", c);
		} else {
			buf[l++] = (char)c;
		}
	}
	if (l < cap)
		buf[l++] = '"';
	*len = l;
}

static inline void bench__json_kv_str(char *buf, size_t cap, size_t *len,
				      const char *key, const char *val)
{
	if (!val)
		return;
	if (*len + strlen(key) + 4 < cap)
		*len += (size_t)snprintf(buf + *len, cap - *len, ",\"%s\":",
					 key);
	bench__json_str(buf, cap, len, val);
}

static inline void bench__json_kv_num(char *buf, size_t cap, size_t *len,
				      const char *key, double v, int zero_ok)
{
	int w;

	/* 0 = not measured (but an extra field's 0 is a count); NaN/inf
	 * are not JSON */
	if ((v == 0 && !zero_ok) || v != v || v - v != 0 || *len >= cap)
		return;
	w = snprintf(buf + *len, cap - *len, ",\"%s\":%.10g", key, v);
	if (w > 0 && (size_t)w < cap - *len)
		*len += (size_t)w;
}

/*
 * Append one row to $ACTR_BENCH_OUT/results.jsonl (one write() on an
 * O_APPEND file: lines from several processes do not interleave).
 * Returns 0, 0 as well when ACTR_BENCH_OUT is unset, or -errno.
 */
static inline int bench_out_row(const struct bench_row *r)
{
	const char *dir = bench_out_dir();
	char path[4096], buf[4096];
	size_t len = 0;
	int fd, rc = 0;

	if (!dir)
		return 0;
	len += (size_t)snprintf(buf, sizeof(buf), "{\"bench\":");
	bench__json_str(buf, sizeof(buf), &len, r->bench);
	bench__json_kv_str(buf, sizeof(buf), &len, "group", r->group);
	bench__json_kv_str(buf, sizeof(buf), &len, "row", r->row);
	bench__json_kv_str(buf, sizeof(buf), &len, "role", r->role);
	bench__json_kv_num(buf, sizeof(buf), &len, "p50_us", r->p50_us, 0);
	bench__json_kv_num(buf, sizeof(buf), &len, "p99_us", r->p99_us, 0);
	bench__json_kv_num(buf, sizeof(buf), &len, "mean_us", r->mean_us, 0);
	bench__json_kv_num(buf, sizeof(buf), &len, "setup_ms", r->setup_ms, 0);
	bench__json_kv_num(buf, sizeof(buf), &len, "throughput",
			   r->throughput, 0);
	bench__json_kv_str(buf, sizeof(buf), &len, "unit", r->unit);
	bench__json_kv_num(buf, sizeof(buf), &len, "n", (double)r->n, 0);
	bench__json_kv_num(buf, sizeof(buf), &len, "rounds", r->rounds, 0);
	bench__json_kv_str(buf, sizeof(buf), &len, "samples", r->samples);
	bench__json_kv_str(buf, sizeof(buf), &len, "note", r->note);
	for (int i = 0; i < BENCH_EXTRA_MAX && r->extra[i].name; i++)
		bench__json_kv_num(buf, sizeof(buf), &len, r->extra[i].name,
				   r->extra[i].value, 1);
	if (len + 2 > sizeof(buf))
		return -ENOSPC;
	buf[len++] = '}';
	buf[len++] = '\n';
	snprintf(path, sizeof(path), "%s/results.jsonl", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, len) != (ssize_t)len)
		rc = -EIO;
	close(fd);
	return rc;
}

/* "echo 64 B" + "actr" -> "echo-64-b-actr": lower case, [a-z0-9.] kept,
 * every other run of bytes one dash. */
static inline void bench_slug(char *out, size_t cap, const char *group,
			      const char *row)
{
	const char *parts[2] = { group, row };
	size_t l = 0;
	int dash = 1;

	for (int p = 0; p < 2; p++) {
		for (const char *s = parts[p]; s && *s; s++) {
			char c = *s;

			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			    c == '.') {
				if (l + 1 < cap)
					out[l++] = c;
				dash = 0;
			} else if (!dash && l + 1 < cap) {
				out[l++] = '-';
				dash = 1;
			}
		}
		if (!dash && l + 1 < cap) {
			out[l++] = '-';
			dash = 1;
		}
	}
	while (l > 0 && out[l - 1] == '-')
		l--;
	out[l] = 0;
}

/*
 * Write n latency samples (microseconds) to
 * $ACTR_BENCH_OUT/samples/<bench>.<slug(group, row)>.txt (replaced if it
 * exists). Returns the path relative to $ACTR_BENCH_OUT for the row's
 * .samples, in a static buffer valid until the next call; NULL when
 * ACTR_BENCH_OUT is unset or the file could not be written.
 */
static inline const char *bench_out_samples(const char *bench,
					    const char *group, const char *row,
					    const double *us, size_t n)
{
	static char rel[512];
	const char *dir = bench_out_dir();
	char slug[256], path[4096];
	FILE *f;

	if (!dir || !n)
		return NULL;
	bench_slug(slug, sizeof(slug), group, row);
	snprintf(path, sizeof(path), "%s/samples", dir);
	mkdir(path, 0755);
	snprintf(rel, sizeof(rel), "samples/%s.%s.txt", bench, slug);
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "w");
	if (!f)
		return NULL;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%.3f\n", us[i]);
	if (fclose(f) != 0)
		return NULL;
	return rel;
}

/* The same from nanosecond samples. */
static inline const char *bench_out_samples_ns(const char *bench,
					       const char *group,
					       const char *row,
					       const uint64_t *ns, size_t n)
{
	const char *rel;
	double *us;

	if (!bench_out_dir() || !n)
		return NULL;
	us = malloc(n * sizeof(*us));
	if (!us)
		return NULL;
	for (size_t i = 0; i < n; i++)
		us[i] = (double)ns[i] / 1000.0;
	rel = bench_out_samples(bench, group, row, us, n);
	free(us);
	return rel;
}

/* Percentile p (0..1) of n sorted values. */
static inline double bench_pct_dbl(const double *sorted, size_t n, double p)
{
	if (!n)
		return 0;
	return sorted[(size_t)(p * (double)(n - 1) + 0.5)];
}

/* Median of n values (sorts v in place). */
static inline double bench_median(double *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* RLIMIT_NOFILE up to want (root may raise the hard limit as well);
 * returns the soft limit now in force. */
static inline long bench_raise_nofile(long want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if ((long)rl.rlim_max < want) {
		struct rlimit up = { (rlim_t)want, (rlim_t)want };

		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			return want;
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	return (long)rl.rlim_cur;
}

#endif
