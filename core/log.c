/*
 * Logging: level filter, default stderr sink, pluggable sink, and a
 * limiter for repeated lines.
 *
 * Repeats are keyed by call site: the (format string, tag) pointer pair,
 * in a small direct-mapped table. Each key may emit `burst` lines per
 * window; later ones are counted without being formatted, and one summary
 * line ("... repeated N times: <format>") goes out when a line of that
 * key comes after the window ended, or when any line that is emitted
 * comes first (so the summary precedes what follows it), or on
 * actr_log_flush_repeats(). A key that loses its slot to another one
 * (a hash collision) has its summary emitted first. One mutex guards the
 * table; sinks are called outside it, so a sink may log.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "internal.h"

#define REPEAT_SLOTS 256		/* call sites tracked (power of two) */
#define REPEAT_BURST 10			/* default lines per key and window */
#define REPEAT_WINDOW_MS 5000		/* default window */
#define SUMMARY_MAX 8			/* summaries emitted per call */

static const char *const level_names[] = { "error", "warn", "info",
					   "debug", "trace" };

int actr_log_parse_level(const char *name, actr_log_level_t *out)
{
	if (!name)
		return -EINVAL;
	for (size_t i = 0; i < ACTR_ARRAY_LEN(level_names); i++)
		if (!strcasecmp(name, level_names[i])) {
			if (out)
				*out = (actr_log_level_t)i;
			return 0;
		}
	return -EINVAL;
}

/* ACTR_LOG, or info. A value that is not a level is an error said on
 * stderr at start (a typo must not silently mean "info"). */
static int level_from_env(void)
{
	const char *e = getenv("ACTR_LOG");
	actr_log_level_t l = ACTR_LOG_INFO;

	if (e && *e && actr_log_parse_level(e, &l) < 0)
		fprintf(stderr, "actr: error: ACTR_LOG=%s is not a log level "
			"(error, warn, info, debug or trace); using info\n",
			e);
	return (int)l;
}

/* ACTR_LOG_FORMAT, or text; a value that is not a format is said on
 * stderr at start. */
static int format_from_env(void)
{
	const char *e = getenv("ACTR_LOG_FORMAT");
	actr_log_format_t f = ACTR_LOG_FORMAT_TEXT;

	if (e && *e && actr_log_parse_format(e, &f) < 0)
		fprintf(stderr, "actr: error: ACTR_LOG_FORMAT=%s is not a log "
			"format (json, logfmt or text); using text\n", e);
	return (int)f;
}

int actr__log_level = ACTR_LOG_INFO;
static int log_format = ACTR_LOG_FORMAT_TEXT;
__thread const void *actr__log_msg __attribute__((tls_model("initial-exec")));
void (*actr__log_fields_of)(const void *msg, struct actr__log_fields *f,
			    char *buf, size_t cap);
static actr_log_sink_fn sink_fn;
static void *sink_arg;

/* One call site's repeat state. */
struct repeat {
	const char *fmt;		/* key: the format string, NULL = free */
	const char *subsys;		/* key: the tag pointer */
	actr_log_level_t level;		/* of the key's lines */
	uint64_t window_end;		/* ns (monotonic, coarse) */
	unsigned count;			/* lines seen in this window */
	uint64_t suppressed;		/* of them, not emitted */
};

/* A summary to emit once the lock is released. */
struct summary {
	actr_log_level_t level;
	const char *subsys;
	const char *fmt;
	uint64_t n;
};

static pthread_mutex_t rep_lock = PTHREAD_MUTEX_INITIALIZER;
static struct repeat reps[REPEAT_SLOTS];	/* guarded by rep_lock */
static unsigned rep_pending;		/* slots with suppressed > 0 */
static unsigned rep_burst = REPEAT_BURST;	/* 0 = no limit */
static uint64_t rep_window_ns = REPEAT_WINDOW_MS * 1000000ull;
static uint64_t rep_total;		/* lines suppressed so far */

__attribute__((constructor)) static void log_init(void)
{
	actr__log_level = level_from_env();
	log_format = format_from_env();
}

int actr_log_parse_format(const char *name, actr_log_format_t *out)
{
	static const char *const names[] = { "text", "json", "logfmt" };

	if (!name)
		return -EINVAL;
	for (size_t i = 0; i < ACTR_ARRAY_LEN(names); i++)
		if (!strcasecmp(name, names[i])) {
			if (out)
				*out = (actr_log_format_t)i;
			return 0;
		}
	return -EINVAL;
}

void actr_log_set_format(actr_log_format_t f)
{
	log_format = (int)f;
}

void actr_log_set_level(actr_log_level_t level)
{
	actr__log_level = (int)level;
}

actr_log_level_t actr_log_get_level(void)
{
	return (actr_log_level_t)actr__log_level;
}

void actr_log_set_sink(actr_log_sink_fn fn, void *arg)
{
	sink_fn = fn;
	sink_arg = arg;
}

/* Append s to out as a JSON string body (no quotes) or a logfmt value
 * (quoted when it has a space, '=' or '"'). Bounded by end. */
static char *put_str(char *o, char *end, const char *s, bool json)
{
	bool quote = !json && (!*s || strpbrk(s, " =\"\\\t\n"));

	if (quote && o < end)
		*o++ = '"';
	for (; *s && o + 7 < end; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else if (c < 0x20) {
			o += snprintf(o, (size_t)(end - o), "\\u%04x", c);
		} else {
			*o++ = (char)c;
		}
	}
	if (quote && o < end)
		*o++ = '"';
	return o;
}

/* One field: ,"k":"v" (json) or  k=v (logfmt). */
static char *put_field(char *o, char *end, const char *k, const char *v,
		       bool json)
{
	if (end - o < 64)
		return o;
	o += snprintf(o, (size_t)(end - o), json ? ",\"%s\":\"" : " %s=", k);
	o = put_str(o, end, v, json);
	if (json && o < end)
		*o++ = '"';
	return o;
}

/* A structured line of level, subsys, msg and the fields of the message
 * being handled on this thread (actr__log_cur). */
static void structured(bool json, const char *stamp, actr_log_level_t level,
		       const char *subsys, const char *msg)
{
	struct actr__log_fields fields = { 0 }, *f = NULL;
	char line[2048], *o = line, *end = line + sizeof(line) - 4;
	char store[512];

	if (actr__log_msg && actr__log_fields_of) {
		actr__log_fields_of(actr__log_msg, &fields, store,
				    sizeof(store));
		f = &fields;
	}

	if (json)
		o += snprintf(o, (size_t)(end - o), "{\"time\":\"%s\"",
			      stamp);
	else
		o += snprintf(o, (size_t)(end - o), "time=%s", stamp);
	o = put_field(o, end, "level", level_names[level < 5 ? level : 4],
		      json);
	o = put_field(o, end, "component", subsys ? subsys : "-", json);
	o = put_field(o, end, "msg", msg, json);
	if (f) {
		if (f->request_id)
			o = put_field(o, end, "request_id", f->request_id,
				      json);
		if (f->route)
			o = put_field(o, end, "route", f->route, json);
		if (f->peer)
			o = put_field(o, end, "peer", f->peer, json);
		if (f->trace_id)
			o = put_field(o, end, "trace_id", f->trace_id, json);
	}
	if (json)
		*o++ = '}';
	*o++ = '\n';
	fwrite(line, 1, (size_t)(o - line), stderr);
}

static void stderr_sink(actr_log_level_t level, const char *subsys,
			const char *msg)
{
	static const char letters[] = "EWIDT";
	struct timespec ts;
	struct tm tm;
	char stamp[40];
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ",
		 ts.tv_nsec / 1000000);
	if (log_format != ACTR_LOG_FORMAT_TEXT) {
		structured(log_format == ACTR_LOG_FORMAT_JSON, stamp, level,
			   subsys, msg);
		return;
	}
	fprintf(stderr, "%s %c %s: %s\n", stamp,
		letters[level < 5 ? level : 4], subsys ? subsys : "-", msg);
}

static void deliver(actr_log_level_t level, const char *subsys,
		    const char *msg)
{
	if (sink_fn)
		sink_fn(level, subsys, msg, sink_arg);
	else
		stderr_sink(level, subsys, msg);
}

static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Move slot s's suppressed count into out (caller holds rep_lock). */
static void take_summary(struct repeat *s, struct summary *out)
{
	out->level = s->level;
	out->subsys = s->subsys;
	out->fmt = s->fmt;
	out->n = s->suppressed;
	s->suppressed = 0;
	rep_pending--;
}

/* Collect up to cap summaries of slots other than skip (lock held). */
static unsigned sweep(const struct repeat *skip, struct summary *out,
		      unsigned cap)
{
	unsigned n = 0;

	for (unsigned i = 0; i < REPEAT_SLOTS && rep_pending && n < cap; i++)
		if (&reps[i] != skip && reps[i].suppressed)
			take_summary(&reps[i], &out[n++]);
	return n;
}

static void emit_summaries(const struct summary *s, unsigned n)
{
	char msg[1024];

	for (unsigned i = 0; i < n; i++) {
		snprintf(msg, sizeof(msg), "... repeated %llu times: %s",
			 (unsigned long long)s[i].n, s[i].fmt);
		deliver(s[i].level, s[i].subsys, msg);
	}
}

/* Account one line of (fmt, subsys): true when it is to be emitted.
 * Summaries due now are collected into out[0..*nsum). */
static bool admit(actr_log_level_t level, const char *subsys,
		  const char *fmt, struct summary *out, unsigned *nsum)
{
	uintptr_t h = ((uintptr_t)fmt >> 2) ^ ((uintptr_t)subsys >> 4);
	struct repeat *s;
	uint64_t now = coarse_ns();
	bool pass;

	h = (h * 0x9e3779b97f4a7c15ull) >> 32;
	s = &reps[h & (REPEAT_SLOTS - 1)];
	*nsum = 0;
	pthread_mutex_lock(&rep_lock);
	if (s->fmt != fmt || s->subsys != subsys || now >= s->window_end) {
		if (s->suppressed)
			take_summary(s, &out[(*nsum)++]);
		s->fmt = fmt;
		s->subsys = subsys;
		s->level = level;
		s->window_end = now + rep_window_ns;
		s->count = 0;
	}
	pass = !rep_burst || ++s->count <= rep_burst;
	if (!pass) {
		if (!s->suppressed++)
			rep_pending++;
		rep_total++;
	} else if (rep_pending) {
		*nsum += sweep(s, out + *nsum, SUMMARY_MAX - *nsum);
	}
	pthread_mutex_unlock(&rep_lock);
	return pass;
}

void actr_log_emit(actr_log_level_t level, const char *subsys,
		   const char *fmt, ...)
{
	struct summary sums[SUMMARY_MAX];
	unsigned nsum;
	char msg[1024];
	va_list ap;
	bool pass = admit(level, subsys, fmt, sums, &nsum);

	emit_summaries(sums, nsum);
	if (!pass)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	deliver(level, subsys, msg);
}

void actr_log_set_repeat_limit(unsigned burst, unsigned window_ms)
{
	pthread_mutex_lock(&rep_lock);
	rep_burst = burst;
	rep_window_ns = (uint64_t)(window_ms ? window_ms : REPEAT_WINDOW_MS) *
			1000000ull;
	pthread_mutex_unlock(&rep_lock);
}

void actr_log_flush_repeats(void)
{
	struct summary sums[SUMMARY_MAX];
	unsigned n;

	do {
		pthread_mutex_lock(&rep_lock);
		n = sweep(NULL, sums, SUMMARY_MAX);
		pthread_mutex_unlock(&rep_lock);
		emit_summaries(sums, n);
	} while (n == SUMMARY_MAX);
}

unsigned long long actr_log_suppressed(void)
{
	unsigned long long n;

	pthread_mutex_lock(&rep_lock);
	n = rep_total;
	pthread_mutex_unlock(&rep_lock);
	return n;
}

/* Whatever a flood left pending reaches stderr at exit (a custom sink may
 * be gone by then). */
__attribute__((destructor)) static void log_fini(void)
{
	if (!sink_fn)
		actr_log_flush_repeats();
}
