/*
 * The observability endpoint (include/actr/metrics.h): /metrics in
 * Prometheus text format, /healthz and /readyz, on the project's HTTP
 * server. Everything is read from the counters that exist at scrape time;
 * the only work between scrapes is the callers' latency histogram (one
 * bucket increment per completed call, runtime/internal.h) and the
 * reactor iteration time (a PREPARE hook: one clock read per iteration)
 * and timer lag (a 1 s timer).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <actr/log.h>
#include <actr/mailbox.h>
#include <actr/metrics.h>
#include <actr/net.h>
#include <actr/sigclient.h>
#include <actr/stream.h>
#include <actr/util.h>

#include "core/internal.h"
#include "core/strbuf.h"
#include "mailbox/internal.h"
#include "runtime/internal.h"
#include "runtime/metrics_internal.h"
#include "runtime/peer_internal.h"

#define TAG "metrics"
#define MAX_COLLECTORS 8
#define LAG_PERIOD_NS ACTR_SEC(1)
#define ADMIN_TOKEN_MIN 16

/* Outcomes of /admin/ requests (actr_metrics_admin_requests_total). */
enum { ADMIN_OK, ADMIN_UNAUTHORIZED, ADMIN_FORBIDDEN, ADMIN_BAD_REQUEST,
       ADMIN_FAILED, ADMIN_N };

/* Seconds: 100 us .. 10 s (calls, iterations, lag). */
const uint64_t actr__hist_bounds_ns[ACTR__HIST_N] = {
	ACTR_US(100), ACTR_US(250), ACTR_US(500), ACTR_MS(1),
	ACTR_US(2500), ACTR_MS(5), ACTR_MS(10), ACTR_MS(25),
	ACTR_MS(50), ACTR_MS(100), ACTR_MS(250), ACTR_MS(500),
	ACTR_SEC(1), ACTR_MS(2500), ACTR_SEC(5), ACTR_SEC(10),
};

struct collector {
	actr_metrics_collect_fn collect;	/* or NULL */
	actr_metrics_ready_fn ready;		/* or NULL */
	void *arg;				/* their argument */
};

struct actr_metrics {
	actr_reactor_t *r;		/* borrowed */
	actr_http_server_t *http;	/* owned */
	actr_system_t *sys;		/* watched, borrowed, or NULL */
	actr_peer_t *peer;		/* watched, borrowed, or NULL */
	struct collector col[MAX_COLLECTORS];
	unsigned ncol;
	actr_hook_t prepare;		/* iteration time */
	actr_timer_t lag_timer;		/* timer lag probe */
	struct actr__hist iter;		/* reactor iteration (busy) time */
	struct actr__hist lag;		/* lag of the 1 s probe timer */
	uint64_t lag_last_ns;		/* the last probe's lag */
	uint64_t iterations;		/* iterations seen */
	uint64_t scrapes;		/* /metrics answered */
	char *admin_token;		/* owned; NULL = no /admin/ */
	uint64_t admin[ADMIN_N];	/* admin requests by outcome */
};

struct actr_metrics_out {
	struct actr__strbuf sb;		/* the page */
	bool oom;			/* an append failed */
};

/* ---- writing ------------------------------------------------------------- */

static void outf(actr_metrics_out_t *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void outf(actr_metrics_out_t *o, const char *fmt, ...)
{
	char line[512], *big = NULL;
	const char *p = line;
	va_list ap, again;
	int n;

	va_start(ap, fmt);
	va_copy(again, ap);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* a long label set (route keys) must not cut a sample in two */
	if (n >= (int)sizeof(line)) {
		big = malloc((size_t)n + 1);
		if (big)
			vsnprintf(big, (size_t)n + 1, fmt, again);
		p = big;
	}
	va_end(again);
	if (n < 0)
		return;
	if (!p || actr__strbuf_append(&o->sb, p, (size_t)n) < 0)
		o->oom = true;
	free(big);
}

void actr_metrics_family(actr_metrics_out_t *o, const char *name,
			 const char *type, const char *help)
{
	outf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void actr_metrics_sample(actr_metrics_out_t *o, const char *name,
			 const char *labels, double value)
{
	/* counts exactly, fractions to 9 digits (a scrape stays short) */
	const char *fmt = value == (double)(int64_t)value && value < 1e15 &&
				  value > -1e15 ? "%.0f" : "%.9g";
	char v[40];

	snprintf(v, sizeof(v), fmt, value);
	if (labels && *labels)
		outf(o, "%s{%s} %s\n", name, labels, v);
	else
		outf(o, "%s %s\n", name, v);
}

/* ---- caller side by route ---------------------------------------------------- */

/* At most this many route keys get their own caller-side series: keys
 * come from the application, and a scrape must stay bounded. */
#define MAX_CALL_ROUTES 256

struct actr__call_route *actr__call_route(actr_system_t *sys,
					  const char *route_key)
{
	struct actr__map_node *n;
	struct actr__call_route *cr;
	size_t len;

	if (!route_key)
		return NULL;
	if (!sys->call_routes_init) {
		actr__map_init(&sys->call_routes);
		sys->call_routes_init = true;
	}
	n = actr__map_find_str(&sys->call_routes, route_key);
	if (n)
		return actr__map_entry(n, struct actr__call_route, node);
	if (actr__map_size(&sys->call_routes) >= MAX_CALL_ROUTES)
		return NULL;
	len = strlen(route_key);
	cr = calloc(1, sizeof(*cr) + len + 1);
	if (!cr)
		return NULL;
	memcpy(cr->key, route_key, len + 1);
	actr__map_insert_str(&sys->call_routes, &cr->node, cr->key);
	return cr;
}

void actr__call_routes_free(actr_system_t *sys)
{
	struct actr__map_iter it;
	struct actr__map_node *n;

	if (!sys->call_routes_init)
		return;
	actr__map_foreach(&sys->call_routes, it, n) {
		actr__map_remove(&sys->call_routes, n);
		free(actr__map_entry(n, struct actr__call_route, node));
	}
	actr__map_fini(&sys->call_routes);
	sys->call_routes_init = false;
}

/* ---- tables --------------------------------------------------------------- */

/*
 * Most series are a counter or gauge read from a stats struct. One row
 * says where: the value at off in a "view" (a stats struct, or a local
 * struct gathering several), its unit, and its labels. Rows of one
 * family are adjacent and the first carries help and type. A table is
 * written for several instances at once (the stream counters of each
 * node) family by family, as the text format wants a family's samples
 * together.
 */
enum { U_1 = 0, U_MS, U_US, U_NS };	/* the unit of the stored value */

struct row {
	const char *name;		/* family name */
	const char *type;		/* "counter"/"gauge", with help */
	const char *help;		/* first row of a family, else NULL */
	const char *labels;		/* this sample's, or NULL */
	uint16_t off;			/* of a uint64_t in the view */
	uint8_t unit;			/* U_*: scaled to seconds */
};

#define ROW(view, f, name, type, help, labels, unit) \
	{ name, type, help, labels, offsetof(view, f), unit }
/* the next sample of the family above */
#define MORE(view, f, name, labels) \
	{ name, NULL, NULL, labels, offsetof(view, f), U_1 }

struct inst {
	const void *view;		/* the values */
	const char *labels;		/* the instance's, or "" */
};

static double row_value(const struct row *r, const void *view)
{
	static const double div[] = { 1, 1e3, 1e6, 1e9 };
	uint64_t v;

	memcpy(&v, (const char *)view + r->off, sizeof(v));
	return (double)v / div[r->unit];
}

static void put_rows(actr_metrics_out_t *o, const struct row *rows,
		     size_t n, const struct inst *in, size_t ninst)
{
	char lab[640];

	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];

		if (r->help)
			actr_metrics_family(o, r->name, r->type, r->help);
		for (size_t k = 0; k < ninst; k++) {
			const char *il = in[k].labels ? in[k].labels : "";
			const char *rl = r->labels ? r->labels : "";

			snprintf(lab, sizeof(lab), "%s%s%s", il,
				 *il && *rl ? "," : "", rl);
			actr_metrics_sample(o, r->name, lab,
					    row_value(r, in[k].view));
		}
	}
}

static void put_one_view(actr_metrics_out_t *o, const struct row *rows,
			 size_t n, const void *view)
{
	struct inst in = { view, "" };

	put_rows(o, rows, n, &in, 1);
}

#define NROWS(t) (sizeof(t) / sizeof((t)[0]))

/* A histogram's samples: counts b[0..n] (b[n] above the last bound) with
 * bounds le[] in seconds. */
static void hist_gen(actr_metrics_out_t *o, const char *name,
		     const char *labels, const double *le, unsigned n,
		     const uint64_t *b, uint64_t count, uint64_t sum_ns)
{
	uint64_t cum = 0;
	const char *sep = *labels ? "," : "";

	for (unsigned i = 0; i < n; i++) {
		cum += b[i];
		outf(o, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
		     le[i], (unsigned long long)cum);
	}
	cum += b[n];
	outf(o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
	     (unsigned long long)cum);
	if (*labels) {
		outf(o, "%s_sum{%s} %.9f\n", name, labels, sum_ns / 1e9);
		outf(o, "%s_count{%s} %llu\n", name, labels,
		     (unsigned long long)count);
	} else {
		outf(o, "%s_sum %.9f\n", name, sum_ns / 1e9);
		outf(o, "%s_count %llu\n", name, (unsigned long long)count);
	}
}

/* The samples of histogram h (seconds) under labels (or ""). */
static void hist_samples(actr_metrics_out_t *o, const char *name,
			 const char *labels, const struct actr__hist *h)
{
	double le[ACTR__HIST_N];

	for (unsigned i = 0; i < ACTR__HIST_N; i++)
		le[i] = (double)actr__hist_bounds_ns[i] / 1e9;
	hist_gen(o, name, labels, le, ACTR__HIST_N, h->b, h->count,
		 h->sum_ns);
}

/* ---- sources --------------------------------------------------------------- */

struct reactor_view {
	uint64_t iterations, scrapes, lag_last_ns, active;
	uint64_t nio, ntimers, nhooks;
	uint64_t timerfd_errors, wake_errors;
};

#define RV struct reactor_view
static const struct row reactor_rows[] = {
	ROW(RV, iterations, "actr_reactor_iterations_total", "counter",
	    "Reactor iterations seen by the endpoint.", NULL, U_1),
	ROW(RV, lag_last_ns, "actr_reactor_lag_last_seconds", "gauge",
	    "Lag of the last probe.", NULL, U_NS),
	ROW(RV, active, "actr_reactor_active_handles", "gauge",
	    "Active timers, io handles and hooks.", NULL, U_1),
	ROW(RV, nio, "actr_reactor_handles", "gauge",
	    "Handles attached to the reactor, by kind (io = fds).",
	    "kind=\"io\"", U_1),
	MORE(RV, ntimers, "actr_reactor_handles", "kind=\"timer\""),
	MORE(RV, nhooks, "actr_reactor_handles", "kind=\"hook\""),
	ROW(RV, timerfd_errors, "actr_reactor_faults_total", "counter",
	    "Reactor faults by kind.", "kind=\"timerfd\"", U_1),
	MORE(RV, wake_errors, "actr_reactor_faults_total", "kind=\"wake\""),
	ROW(RV, scrapes, "actr_metrics_scrapes_total", "counter",
	    "Scrapes of /metrics answered.", NULL, U_1),
};
#undef RV

static void put_reactor(actr_metrics_t *m, actr_metrics_out_t *o)
{
	struct actr__reactor_faults f;
	struct reactor_view v;
	unsigned io, timers, hooks;

	actr__reactor_faults(m->r, &f);
	actr__reactor_handles(m->r, &io, &timers, &hooks);
	v = (struct reactor_view){
		.iterations = m->iterations, .scrapes = m->scrapes,
		.lag_last_ns = m->lag_last_ns,
		.active = actr_reactor_active(m->r),
		.nio = io, .ntimers = timers, .nhooks = hooks,
		.timerfd_errors = f.timerfd_errors,
		.wake_errors = f.wake_errors,
	};
	actr_metrics_family(o, "actr_reactor_iteration_seconds", "histogram",
			    "Reactor iteration time (wake to next wait).");
	hist_samples(o, "actr_reactor_iteration_seconds", "", &m->iter);
	actr_metrics_family(o, "actr_reactor_lag_seconds", "histogram",
			    "How late a 1 s timer fired (event loop lag).");
	hist_samples(o, "actr_reactor_lag_seconds", "", &m->lag);
	put_one_view(o, reactor_rows, NROWS(reactor_rows), &v);
	if (m->admin_token) {
		static const char *const outcome[ADMIN_N] = {
			"outcome=\"ok\"", "outcome=\"unauthorized\"",
			"outcome=\"forbidden\"", "outcome=\"bad_request\"",
			"outcome=\"failed\"",
		};

		actr_metrics_family(o, "actr_metrics_admin_requests_total",
				    "counter", "Admin endpoint requests, by "
				    "outcome.");
		for (int i = 0; i < ADMIN_N; i++)
			actr_metrics_sample(o,
					    "actr_metrics_admin_requests_total",
					    outcome[i], (double)m->admin[i]);
	}
}

/* s as a label value (backslash, quote and newline escaped). */
static void label_value(char *out, size_t cap, const char *s)
{
	size_t o = 0;

	for (; *s && o + 3 < cap; s++) {
		if (*s == '"' || *s == '\\' || *s == '\n') {
			out[o++] = '\\';
			out[o++] = *s == '\n' ? 'n' : *s;
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
}

/* Caller side by route key and outcome (routes called since the
 * endpoint was added). */
static void put_call_routes(actr_metrics_t *m, actr_metrics_out_t *o)
{
	static const char *const outcome[ACTR__OUTCOME_N] = {
		"ok", "error", "timeout"
	};
	struct actr__map_iter it;
	struct actr__map_node *n;
	char lab[640], key[512];

	if (!m->sys->call_routes_init ||
	    !actr__map_size(&m->sys->call_routes))
		return;
	actr_metrics_family(o, "actr_call_route_duration_seconds",
			    "histogram", "Caller side: call made to "
			    "completion, by route and outcome.");
	actr__map_foreach(&m->sys->call_routes, it, n) {
		const struct actr__call_route *cr =
			actr__map_entry(n, const struct actr__call_route, node);

		label_value(key, sizeof(key), cr->key);
		for (int i = 0; i < ACTR__OUTCOME_N; i++) {
			snprintf(lab, sizeof(lab),
				 "route=\"%s\",outcome=\"%s\"", key,
				 outcome[i]);
			hist_samples(o, "actr_call_route_duration_seconds",
				     lab, &cr->h[i]);
		}
	}
}

/* Callee side: handler time by node type, route and outcome. */
static void put_routes(actr_metrics_t *m, actr_metrics_out_t *o)
{
	char lab[1024], type[256], key[512];
	bool family = false;

	for (actr_node_t *n = m->sys->nodes; n; n = n->next) {
		struct actr__map_iter it;
		struct actr__map_node *mn;

		if (actr_type_format(&n->w->type, type, sizeof(type)) <= 0)
			continue;
		actr__map_foreach(&n->w->routes, it, mn) {
			const struct actr__route *r = actr__map_entry(
				mn, const struct actr__route, node);

			if (!r->stats)
				continue;
			if (!family) {
				actr_metrics_family(o,
					"actr_handler_duration_seconds",
					"histogram", "Callee side: handler run"
					" time by actor type, route and "
					"outcome.");
				family = true;
			}
			for (int e = 0; e < 2; e++) {
				label_value(key, sizeof(key), r->key);
				snprintf(lab, sizeof(lab), "type=\"%s\",route="
					 "\"%s\",outcome=\"%s\"", type, key,
					 e ? "error" : "ok");
				hist_samples(o,
					     "actr_handler_duration_seconds",
					     lab, &r->stats->h[e]);
			}
		}
	}
}

/* Stream counters by node type (nodes that registered or sent one). */
#define MAX_STREAM_NODES 64
#define SV actr_stream_stats_t
static const struct row stream_rows[] = {
	ROW(SV, chunks_out, "actr_stream_chunks_total", "counter",
	    "DataChunks sent (out) and delivered (in), by actor type.",
	    "dir=\"out\"", U_1),
	MORE(SV, chunks_in, "actr_stream_chunks_total", "dir=\"in\""),
	ROW(SV, bytes_out, "actr_stream_bytes_total", "counter",
	    "Their payload bytes.", "dir=\"out\"", U_1),
	MORE(SV, bytes_in, "actr_stream_bytes_total", "dir=\"in\""),
	ROW(SV, would_block, "actr_stream_would_block_total", "counter",
	    "Sends refused above the high-water mark (-ENOBUFS).", NULL,
	    U_1),
	ROW(SV, coalesced, "actr_stream_dropped_total", "counter",
	    "Chunks not delivered, by reason.", "reason=\"coalesced\"", U_1),
	MORE(SV, stale, "actr_stream_dropped_total", "reason=\"stale\""),
	MORE(SV, unregistered, "actr_stream_dropped_total",
	     "reason=\"unregistered\""),
	MORE(SV, malformed, "actr_stream_dropped_total",
	     "reason=\"malformed\""),
	ROW(SV, writable, "actr_stream_writable_total", "counter",
	    "Writable callbacks run.", NULL, U_1),
	ROW(SV, held, "actr_stream_held", "gauge",
	    "Latency-first chunks waiting in their slots.", NULL, U_1),
};
#undef SV
_Static_assert(sizeof(size_t) == sizeof(uint64_t), "held read as u64");

static void put_streams(actr_metrics_t *m, actr_metrics_out_t *o)
{
	struct sview {
		actr_stream_stats_t st;
		char lab[300];
	} *v;
	struct inst in[MAX_STREAM_NODES];
	char type[256];
	size_t k = 0;

	v = calloc(MAX_STREAM_NODES, sizeof(*v));
	if (!v) {
		o->oom = true;
		return;
	}
	for (actr_node_t *n = m->sys->nodes; n && k < MAX_STREAM_NODES;
	     n = n->next) {
		if (!n->streams ||
		    actr_type_format(&n->w->type, type, sizeof(type)) <= 0)
			continue;
		actr_stream_get_stats(&n->ref, &v[k].st);
		snprintf(v[k].lab, sizeof(v[k].lab), "type=\"%s\"", type);
		in[k] = (struct inst){ &v[k].st, v[k].lab };
		k++;
	}
	if (k)
		put_rows(o, stream_rows, NROWS(stream_rows), in, k);
	free(v);
}

struct system_view {
	actr_system_stats_t s;
	uint64_t pending;
};

#define YV struct system_view
static const struct row system_rows[] = {
	ROW(YV, s.handled, "actr_handled_total", "counter",
	    "Requests and tells handled.", NULL, U_1),
	ROW(YV, s.responses, "actr_responses_total", "counter",
	    "Responses matched to a call.", NULL, U_1),
	ROW(YV, s.late_responses, "actr_late_responses_total", "counter",
	    "Responses with no pending call.", NULL, U_1),
	ROW(YV, s.timeouts, "actr_call_timeouts_total", "counter",
	    "Calls completed with TimedOut.", NULL, U_1),
	ROW(YV, s.handler_errors, "actr_handler_errors_total", "counter",
	    "Handlers that returned an error.", NULL, U_1),
	ROW(YV, s.dedup_hits, "actr_dedup_hits_total", "counter",
	    "Repeated requests answered from the response cache.", NULL,
	    U_1),
	ROW(YV, s.reply_failed, "actr_reply_failed_total", "counter",
	    "Replies a lane refused (Internal sent instead).", NULL, U_1),
	ROW(YV, s.forced_shutdowns, "actr_forced_shutdowns_total",
	    "counter", "Shutdowns that hit their deadline.", NULL, U_1),
	ROW(YV, s.dropped_invalid, "actr_rejected_total", "counter",
	    "Inbound messages refused, by reason.", "reason=\"invalid\"",
	    U_1),
	MORE(YV, s.unknown_route, "actr_rejected_total",
	     "reason=\"unknown_route\""),
	MORE(YV, s.denied, "actr_rejected_total", "reason=\"acl\""),
	MORE(YV, s.refused_oversize, "actr_rejected_total",
	     "reason=\"oversize\""),
	ROW(YV, pending, "actr_calls_pending", "gauge",
	    "Calls waiting for a reply.", NULL, U_1),
};
#undef YV

static void put_system(actr_metrics_t *m, actr_metrics_out_t *o)
{
	static const char *const outcome[ACTR__OUTCOME_N] = {
		"outcome=\"ok\"", "outcome=\"error\"", "outcome=\"timeout\""
	};
	struct system_view v;

	v.s = *actr_system_stats(m->sys);
	v.pending = actr__map_size(&m->sys->pending);
	put_one_view(o, system_rows, NROWS(system_rows), &v);
	actr_metrics_family(o, "actr_call_duration_seconds", "histogram",
			    "Caller side: call made to completion, by outcome.");
	for (int i = 0; i < ACTR__OUTCOME_N; i++)
		hist_samples(o, "actr_call_duration_seconds", outcome[i],
			     &m->sys->call_hist[i]);
	put_call_routes(m, o);
	put_routes(m, o);
	put_streams(m, o);
}

#define MV actr_mailbox_stats_t
static const struct row mailbox_rows[] = {
	ROW(MV, queued_high, "actr_mailbox_queued", "gauge",
	    "Messages waiting in the mailbox, by priority.",
	    "priority=\"high\"", U_1),
	MORE(MV, queued_normal, "actr_mailbox_queued", "priority=\"normal\""),
	ROW(MV, in_flight, "actr_mailbox_in_flight", "gauge",
	    "Dequeued, not yet acknowledged.", NULL, U_1),
	ROW(MV, uncommitted, "actr_mailbox_uncommitted", "gauge",
	    "Enqueued in the open batch (not yet durable).", NULL, U_1),
	ROW(MV, oldest_age_ms, "actr_mailbox_oldest_age_seconds", "gauge",
	    "Age of the oldest unacknowledged message.", NULL, U_MS),
	ROW(MV, dlq_size, "actr_mailbox_dlq_size", "gauge",
	    "Entries in the dead-letter queue.", NULL, U_1),
	ROW(MV, enqueued, "actr_mailbox_enqueued_total", "counter",
	    "Messages enqueued since open.", NULL, U_1),
	ROW(MV, acked, "actr_mailbox_acked_total", "counter",
	    "Messages acknowledged since open.", NULL, U_1),
	ROW(MV, failed, "actr_mailbox_failed_total", "counter",
	    "Deliveries failed back to the mailbox.", NULL, U_1),
	ROW(MV, recovered, "actr_mailbox_recovered_total", "counter",
	    "Messages found at open (delivered again).", NULL, U_1),
	ROW(MV, dead_lettered, "actr_mailbox_dead_lettered_total", "counter",
	    "Messages moved to the dead-letter queue.", NULL, U_1),
	ROW(MV, commits, "actr_mailbox_commits_total", "counter",
	    "Group commits.", NULL, U_1),
	ROW(MV, commit_errors, "actr_mailbox_commit_errors_total", "counter",
	    "Failed commits.", NULL, U_1),
	ROW(MV, commit_us_total, "actr_mailbox_commit_seconds_total",
	    "counter", "Time spent committing (writer thread).", NULL, U_US),
	ROW(MV, commit_us_max, "actr_mailbox_commit_seconds_max", "gauge",
	    "Longest commit.", NULL, U_US),
	ROW(MV, checkpoints, "actr_mailbox_checkpoints_total", "counter",
	    "Background WAL checkpoints run.", NULL, U_1),
	ROW(MV, checkpoint_us_total, "actr_mailbox_checkpoint_seconds_total",
	    "counter", "Time spent checkpointing.", NULL, U_US),
	ROW(MV, elided, "actr_mailbox_elided_total", "counter",
	    "Messages handled before any commit (never written).", NULL,
	    U_1),
	ROW(MV, wal_pages, "actr_mailbox_wal_pages", "gauge",
	    "Frames in the WAL after the last commit.", NULL, U_1),
};
#undef MV

static void put_mailbox(actr_metrics_out_t *o, actr_mailbox_t *mb)
{
	static const char *const kind[ACTR__SYNC_KINDS] = {
		"file=\"db\"", "file=\"wal\""
	};
	struct actr__sync_hist sh[ACTR__SYNC_KINDS];
	double le[ACTR__SYNC_HIST_N];
	actr_mailbox_stats_t s;

	actr_mailbox_stats(mb, &s);
	put_one_view(o, mailbox_rows, NROWS(mailbox_rows), &s);
	actr__sync_hist_get(sh);
	for (unsigned i = 0; i < ACTR__SYNC_HIST_N; i++)
		le[i] = actr__sync_bounds_us[i] / 1e6;
	actr_metrics_family(o, "actr_mailbox_fsync_seconds", "histogram",
			    "Syncs of mailbox files (all mailboxes of the "
			    "process), by file: commits with synchronous="
			    "FULL sync the WAL, checkpoints both.");
	for (int k = 0; k < ACTR__SYNC_KINDS; k++)
		hist_gen(o, "actr_mailbox_fsync_seconds", kind[k], le,
			 ACTR__SYNC_HIST_N, sh[k].b, sh[k].count,
			 sh[k].sum_ns);
	actr_metrics_family(o, "actr_mailbox_fsync_errors_total", "counter",
			    "Syncs of mailbox files that failed.");
	for (int k = 0; k < ACTR__SYNC_KINDS; k++)
		actr_metrics_sample(o, "actr_mailbox_fsync_errors_total",
				    kind[k], (double)sh[k].errors);
}

struct peer_view {
	actr_peer_stats_t s;
	actr_peer_ws_stats_t w;
	struct actr_sigclient_stats sc;
	struct actr__peer_obs obs;	/* the counters, not the histogram */
	uint64_t rel_out, rel_in;	/* messages minus signal lane */
	uint64_t by_state[4];		/* connections by peer_conn_state */
};

#define PV struct peer_view
#define LANES(f, name, type, help, dir, d) \
	ROW(PV, obs.f[d][0], name, type, help, \
	    "dir=\"" dir "\",lane=\"rpc_reliable\"", U_1), \
	MORE(PV, obs.f[d][1], name, "dir=\"" dir "\",lane=\"rpc_signal\""), \
	MORE(PV, obs.f[d][2], name, \
	     "dir=\"" dir "\",lane=\"stream_reliable\""), \
	MORE(PV, obs.f[d][3], name, \
	     "dir=\"" dir "\",lane=\"stream_latency_first\"")
#define LANES_MORE(f, name, dir, d) \
	MORE(PV, obs.f[d][0], name, "dir=\"" dir "\",lane=\"rpc_reliable\""), \
	MORE(PV, obs.f[d][1], name, "dir=\"" dir "\",lane=\"rpc_signal\""), \
	MORE(PV, obs.f[d][2], name, \
	     "dir=\"" dir "\",lane=\"stream_reliable\""), \
	MORE(PV, obs.f[d][3], name, \
	     "dir=\"" dir "\",lane=\"stream_latency_first\"")

static const struct row peer_rows[] = {
	ROW(PV, by_state[PC_NEGOTIATING], "actr_peer_connections", "gauge",
	    "Peer connections by state.", "state=\"negotiating\"", U_1),
	MORE(PV, by_state[PC_CONNECTING], "actr_peer_connections",
	     "state=\"connecting\""),
	MORE(PV, by_state[PC_OPEN], "actr_peer_connections",
	     "state=\"open\""),
	MORE(PV, by_state[PC_DEAD], "actr_peer_connections",
	     "state=\"dead\""),
	ROW(PV, s.conns_created, "actr_peer_connections_created_total",
	    "counter", "Peer connections created.", NULL, U_1),
	ROW(PV, s.conns_open, "actr_peer_connections_opened_total",
	    "counter", "Peer connections that reached CONNECTED.", NULL,
	    U_1),
	ROW(PV, s.conns_failed, "actr_peer_connections_failed_total",
	    "counter", "Peer connections failed or closed.", NULL, U_1),
	ROW(PV, obs.fail[ACTR__FAIL_SIGNALING],
	    "actr_peer_connection_drops_total", "counter",
	    "Connections dropped, by the phase they were in: signaling "
	    "(no transport yet), ice, dtls, sctp (setup), lost or closed "
	    "(after open).", "phase=\"signaling\"", U_1),
	MORE(PV, obs.fail[ACTR__FAIL_ICE], "actr_peer_connection_drops_total",
	     "phase=\"ice\""),
	MORE(PV, obs.fail[ACTR__FAIL_DTLS],
	     "actr_peer_connection_drops_total", "phase=\"dtls\""),
	MORE(PV, obs.fail[ACTR__FAIL_SCTP],
	     "actr_peer_connection_drops_total", "phase=\"sctp\""),
	MORE(PV, obs.fail[ACTR__FAIL_LOST],
	     "actr_peer_connection_drops_total", "phase=\"lost\""),
	MORE(PV, obs.fail[ACTR__FAIL_CLOSED],
	     "actr_peer_connection_drops_total", "phase=\"closed\""),
	ROW(PV, s.last_setup_ns, "actr_peer_last_setup_seconds", "gauge",
	    "Setup time of the last connection (new to open).", NULL, U_NS),
	ROW(PV, s.discoveries, "actr_peer_discoveries_total", "counter",
	    "Route-candidate requests.", NULL, U_1),
	ROW(PV, rel_out, "actr_peer_messages_total", "counter",
	    "Envelopes by direction and lane.",
	    "dir=\"out\",lane=\"reliable\"", U_1),
	MORE(PV, s.signal_out, "actr_peer_messages_total",
	     "dir=\"out\",lane=\"signal\""),
	MORE(PV, rel_in, "actr_peer_messages_total",
	     "dir=\"in\",lane=\"reliable\""),
	MORE(PV, s.signal_in, "actr_peer_messages_total",
	     "dir=\"in\",lane=\"signal\""),
	MORE(PV, w.msgs_in, "actr_peer_messages_total",
	     "dir=\"in\",lane=\"websocket\""),
	MORE(PV, w.msgs_out, "actr_peer_messages_total",
	     "dir=\"out\",lane=\"websocket\""),
	LANES(msgs, "actr_peer_lane_messages_total", "counter",
	      "Messages handed to (out) or received from (in) a "
	      "connection, by lane (DataChannel or its WebSocket).",
	      "in", 0),
	LANES_MORE(msgs, "actr_peer_lane_messages_total", "out", 1),
	LANES(bytes, "actr_peer_lane_bytes_total", "counter",
	      "Their bytes (encoded envelopes and chunks).", "in", 0),
	LANES_MORE(bytes, "actr_peer_lane_bytes_total", "out", 1),
	ROW(PV, s.queued, "actr_peer_queued_total", "counter",
	    "Messages queued while their connection was set up.", NULL, U_1),
	ROW(PV, s.bad_in, "actr_peer_dropped_total", "counter",
	    "Inbound input dropped, by reason.", "reason=\"undecodable\"",
	    U_1),
	MORE(PV, s.reasm_refused, "actr_peer_dropped_total",
	     "reason=\"reassembly_refused\""),
	MORE(PV, s.reasm_evicted, "actr_peer_dropped_total",
	     "reason=\"reassembly_evicted\""),
	MORE(PV, s.stale_sdp, "actr_peer_dropped_total",
	     "reason=\"stale_sdp\""),
	MORE(PV, s.stale_candidates, "actr_peer_dropped_total",
	     "reason=\"stale_candidate\""),
	MORE(PV, s.late_replies_dropped, "actr_peer_dropped_total",
	     "reason=\"late_reply\""),
	MORE(PV, s.tells_dropped, "actr_peer_dropped_total",
	     "reason=\"tell_no_target\""),
	MORE(PV, w.bad_frames, "actr_peer_dropped_total",
	     "reason=\"ws_bad_frame\""),
	ROW(PV, s.reasm_held, "actr_peer_reassembly_bytes", "gauge",
	    "Bytes of partial inbound messages held.", NULL, U_1),
	ROW(PV, s.paths_lost, "actr_peer_paths_lost_total", "counter",
	    "ICE paths of open connections lost.", NULL, U_1),
	ROW(PV, s.ice_restarts, "actr_peer_ice_restarts_total", "counter",
	    "ICE restart attempts.", NULL, U_1),
	ROW(PV, s.ice_restarts_ok, "actr_peer_ice_restarts_ok_total",
	    "counter", "Lost paths found again by a restart.", NULL, U_1),
	ROW(PV, s.ice_restart_failures,
	    "actr_peer_ice_restart_failures_total", "counter",
	    "ICE restarts given up (connection dropped).", NULL, U_1),
	ROW(PV, s.network_changes, "actr_peer_network_changes_total",
	    "counter", "Link/address events heard.", NULL, U_1),
	ROW(PV, w.fallbacks, "actr_peer_ws_fallbacks_total", "counter",
	    "WebRTC setups that moved to the direct WebSocket.", NULL, U_1),
	ROW(PV, w.auth_refused, "actr_peer_ws_refused_total", "counter",
	    "Direct WebSocket upgrades refused, by reason.",
	    "reason=\"auth\"", U_1),
	MORE(PV, w.acl_refused, "actr_peer_ws_refused_total",
	     "reason=\"acl\""),
	ROW(PV, sc.registrations, "actr_signaling_registrations_total",
	    "counter", "Successful registrations.", NULL, U_1),
	ROW(PV, sc.reconnect_attempts, "actr_signaling_reconnects_total",
	    "counter", "Reconnection attempts after a loss.", NULL, U_1),
	ROW(PV, sc.pong_timeouts, "actr_signaling_pong_timeouts_total",
	    "counter", "Heartbeats not answered in time.", NULL, U_1),
	ROW(PV, sc.timeouts, "actr_signaling_request_timeouts_total",
	    "counter", "Signaling requests timed out.", NULL, U_1),
	ROW(PV, sc.relays_in, "actr_signaling_relays_total", "counter",
	    "Relay messages by direction.", "dir=\"in\"", U_1),
	MORE(PV, sc.relays_out, "actr_signaling_relays_total",
	     "dir=\"out\""),
	ROW(PV, sc.bad_frames, "actr_signaling_bad_frames_total", "counter",
	    "Undecodable signaling frames.", NULL, U_1),
};
#undef PV

static void put_peer(actr_metrics_t *m, actr_metrics_out_t *o)
{
	static const char *const names[] = {
		"idle", "registering", "connecting", "connected", "backoff",
		"failed"
	};
	struct peer_view v;
	struct actr__map_iter it;
	struct actr__map_node *n;
	actr_peer_t *p = m->peer;
	char lab[64];

	memset(&v, 0, sizeof(v));
	actr_peer_get_stats(p, &v.s);
	actr_peer_get_ws_stats(p, &v.w);
	actr_sigclient_get_stats(p->sc, &v.sc);
	v.obs = p->obs;
	v.rel_out = v.s.msgs_out - v.s.signal_out;
	v.rel_in = v.s.msgs_in - v.s.signal_in;
	actr__map_foreach(&p->conns, it, n) {
		const struct peer_conn *c =
			actr__map_entry(n, const struct peer_conn, node);

		if (c->st >= 0 && c->st < 4)
			v.by_state[c->st]++;
	}
	put_one_view(o, peer_rows, NROWS(peer_rows), &v);
	actr_metrics_family(o, "actr_peer_setup_seconds", "histogram",
			    "Connection setup time (new to open).");
	hist_samples(o, "actr_peer_setup_seconds", "", &p->obs.setup);
	actr_metrics_family(o, "actr_signaling_state", "gauge",
			    "Signaling client state (1 for the current one).");
	for (int i = ACTR_SIG_IDLE; i <= ACTR_SIG_FAILED; i++) {
		snprintf(lab, sizeof(lab), "state=\"%s\"", names[i]);
		actr_metrics_sample(o, "actr_signaling_state", lab,
				    (int)actr_sigclient_state(p->sc) == i);
	}
	if (p->mb)
		put_mailbox(o, p->mb);
}

/* ---- peer hooks ------------------------------------------------------------ */

void actr__peer_obs_drop(struct peer_conn *c, int status)
{
	struct actr__pc_stats ps;
	int phase;

	if (c->st == PC_OPEN) {
		/* a close (either side's) reports -ACTR_ECLOSED */
		phase = status && status != -ACTR_ECLOSED ? ACTR__FAIL_LOST
							  : ACTR__FAIL_CLOSED;
	} else if (!c->pc) {
		phase = ACTR__FAIL_SIGNALING;
	} else {
		/* the first step of the setup timeline not reached */
		actr__pc_get_stats(c->pc, &ps);
		phase = !ps.t_ice ? ACTR__FAIL_ICE :
			!ps.t_dtls ? ACTR__FAIL_DTLS : ACTR__FAIL_SCTP;
	}
	c->p->obs.fail[phase]++;
}

/* ---- HTTP ------------------------------------------------------------------ */

/* Ready or not, with the first reason in why. */
static bool is_ready(actr_metrics_t *m, char *why, size_t n)
{
	if (m->peer) {
		if (!actr_peer_ready(m->peer)) {
			char reason[160] = "";

			actr_peer_reason(m->peer, reason, sizeof(reason));
			snprintf(why, n, "not registered with signaling%s%s",
				 *reason ? ": " : "", reason);
			return false;
		}
		if (m->peer->cfg.mailbox_path && !m->peer->mb) {
			snprintf(why, n, "mailbox %s not open",
				 m->peer->cfg.mailbox_path);
			return false;
		}
	}
	for (unsigned i = 0; i < m->ncol; i++)
		if (m->col[i].ready && !m->col[i].ready(why, n, m->col[i].arg))
			return false;
	return true;
}

char *actr__metrics_render(actr_metrics_t *m, size_t *len)
{
	actr_metrics_out_t o = { .oom = false };

	actr__strbuf_init(&o.sb);
	m->scrapes++;
	put_reactor(m, &o);
	if (m->sys)
		put_system(m, &o);
	if (m->peer)
		put_peer(m, &o);
	for (unsigned i = 0; i < m->ncol; i++)
		if (m->col[i].collect)
			m->col[i].collect(&o, m->col[i].arg);
	if (o.oom) {
		actr__strbuf_free(&o.sb);
		return NULL;
	}
	return actr__strbuf_take(&o.sb, len);
}

static void serve_metrics(actr_metrics_t *m, actr_http_req_t *q)
{
	char *body;
	size_t len = 0;

	body = actr__metrics_render(m, &len);
	if (!body) {
		actr_http_respond(q, 503, "text/plain", NULL,
				  "out of memory\n", 14);
		return;
	}
	actr_http_respond(q, 200, "text/plain; version=0.0.4; charset=utf-8",
			  NULL, body, len);
	free(body);
}

#define NOT_FOUND "not found: try /metrics, /healthz or /readyz\n"

/* ---- admin: the changing DLQ commands on the running node ---------------- */

/* Equal without an early exit (the time says nothing of the token). */
static bool token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < lb; i++)
		d |= (unsigned char)(a[i % (la ? la : 1)] ^ b[i]);
	return la && !d;
}

static void admin_answer(actr_http_req_t *q, int status, const char *fmt,
			 ...) __attribute__((format(printf, 3, 4)));

static void admin_answer(actr_http_req_t *q, int status, const char *fmt,
			 ...)
{
	char body[320];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	actr_http_respond(q, status, "application/json",
			  status == 401 ? "WWW-Authenticate: Bearer "
					  "realm=\"actr-admin\"\r\n" : NULL,
			  body, (size_t)n < sizeof(body) ? (size_t)n
							 : sizeof(body) - 1);
}

/* Query parameter name's value into out ("" when absent). false when it
 * is there but too long. */
static bool query_param(const char *query, const char *name, char *out,
			size_t cap)
{
	size_t nl = strlen(name);

	out[0] = 0;
	for (const char *p = query; p && *p; p = strchr(p, '&')) {
		size_t vl;

		if (*p == '&')
			p++;
		if (strncmp(p, name, nl) || p[nl] != '=')
			continue;
		p += nl + 1;
		vl = strcspn(p, "&");
		if (vl >= cap)
			return false;
		memcpy(out, p, vl);
		out[vl] = 0;
		return true;
	}
	return true;
}

int actr__metrics_admin_check(const char *token, const char *method,
			      const char *path, const char *query,
			      const char *auth, struct actr__admin_req *out)
{
	char id[32], *end;

	memset(out, 0, sizeof(*out));
	if (!token || strncmp(path, "/admin/", 7))
		return 404;
	if (!auth || strncmp(auth, "Bearer ", 7))
		return 401;
	if (!token_equal(token, auth + 7))
		return 403;
	if (strcmp(method, "POST"))
		return 405;
	out->redrive = !strcmp(path, "/admin/dlq/redrive");
	if (!out->redrive && strcmp(path, "/admin/dlq/purge"))
		return 404;
	if (!query_param(query, "id", id, sizeof(id)) ||
	    !query_param(query, "category", out->category,
			 sizeof(out->category)) || !*id)
		return 400;
	if (strcmp(id, "all")) {
		errno = 0;
		out->id = strtoull(id, &end, 10);
		if (!out->id || *end || errno || *id == '-' || *id == '+')
			return 400;
	}
	return 200;
}

/* POST /admin/dlq/redrive|purge?id=N|all[&category=C] */
static void serve_admin(actr_metrics_t *m, actr_http_req_t *q,
			const char *path)
{
	const char *peer = actr_http_req_peer(q);
	struct actr__admin_req rq;
	actr_dlq_filter_t f = { 0 };
	actr_mailbox_t *mb;
	int rc, st;

	st = actr__metrics_admin_check(m->admin_token, actr_http_req_method(q),
				       path, actr_http_req_query(q),
				       actr_http_req_header(q, "Authorization"),
				       &rq);
	switch (st) {
	case 401:
		m->admin[ADMIN_UNAUTHORIZED]++;
		actr_logw(TAG, "admin %s from %s refused: no bearer token",
			  path, peer);
		admin_answer(q, 401, "{\"ok\":false,\"error\":\"send "
			     "Authorization: Bearer <admin token>\"}\n");
		return;
	case 403:
		m->admin[ADMIN_FORBIDDEN]++;
		actr_logw(TAG, "admin %s from %s refused: wrong token", path,
			  peer);
		admin_answer(q, 403, "{\"ok\":false,\"error\":\"wrong admin "
			     "token\"}\n");
		return;
	case 405:
		m->admin[ADMIN_BAD_REQUEST]++;
		actr_http_respond(q, 405, "application/json",
				  "Allow: POST\r\n", "{\"ok\":false,"
				  "\"error\":\"use POST\"}\n", 32);
		return;
	case 404:
		m->admin[ADMIN_BAD_REQUEST]++;
		admin_answer(q, 404, "{\"ok\":false,\"error\":\"try "
			     "/admin/dlq/redrive or /admin/dlq/purge\"}\n");
		return;
	case 400:
		m->admin[ADMIN_BAD_REQUEST]++;
		admin_answer(q, 400, "{\"ok\":false,\"error\":\"give "
			     "id=N or id=all (and category=C)\"}\n");
		return;
	default:
		break;
	}
	mb = m->peer ? m->peer->mb : NULL;
	if (!mb) {
		m->admin[ADMIN_FAILED]++;
		admin_answer(q, 409, "{\"ok\":false,\"error\":\"this node "
			     "has no mailbox\"}\n");
		return;
	}
	f.id = rq.id;
	f.category = *rq.category ? rq.category : NULL;
	rc = rq.redrive ? actr_dlq_redrive(mb, &f) : actr_dlq_delete(mb, &f);
	/* committed now: a redriven message is delivered after the commit
	 * (the peer's on_commit pumps the mailbox) */
	if (rc >= 0 && actr_mailbox_commit(mb) < 0)
		rc = -EIO;
	if (rc < 0) {
		m->admin[ADMIN_FAILED]++;
		actr_logw(TAG, "admin %s from %s failed: %s", path, peer,
			  actr_strerror(rc));
		admin_answer(q, 500, "{\"ok\":false,\"error\":\"%s\"}\n",
			     actr_strerror(rc));
		return;
	}
	m->admin[ADMIN_OK]++;
	actr_logi(TAG, "admin: %s %d dead letter(s) (id %llu%s%s) for %s",
		  rq.redrive ? "redrove" : "purged", rc,
		  (unsigned long long)rq.id, *rq.category ? ", category " : "",
		  rq.category, peer);
	admin_answer(q, 200, "{\"ok\":true,\"%s\":%d}\n",
		     rq.redrive ? "redriven" : "purged", rc);
}

static void on_request(actr_http_req_t *q, void *arg)
{
	actr_metrics_t *m = arg;
	const char *path = actr_http_req_path(q);
	char why[256], body[300];
	int n;

	if (!strncmp(path, "/admin/", 7)) {
		if (m->admin_token)
			serve_admin(m, q, path);
		else	/* never on unless configured */
			actr_http_respond(q, 404, "text/plain", NULL,
					  NOT_FOUND, sizeof(NOT_FOUND) - 1);
		return;
	}
	if (strcmp(actr_http_req_method(q), "GET") &&
	    strcmp(actr_http_req_method(q), "HEAD")) {
		actr_http_respond(q, 405, "text/plain", "Allow: GET\r\n",
				  "method not allowed\n", 19);
		return;
	}
	if (!strcmp(path, "/metrics")) {
		serve_metrics(m, q);
	} else if (!strcmp(path, "/healthz")) {
		/* answered from the reactor it watches: it is turning */
		actr_http_respond(q, 200, "text/plain", NULL, "ok\n", 3);
	} else if (!strcmp(path, "/readyz")) {
		why[0] = 0;
		if (is_ready(m, why, sizeof(why))) {
			actr_http_respond(q, 200, "text/plain", NULL,
					  "ready\n", 6);
			return;
		}
		n = snprintf(body, sizeof(body), "not ready: %s\n", why);
		actr_http_respond(q, 503, "text/plain", NULL, body,
				  (size_t)n < sizeof(body) ? (size_t)n
							   : sizeof(body) - 1);
	} else {
		actr_http_respond(q, 404, "text/plain", NULL,
				  NOT_FOUND, sizeof(NOT_FOUND) - 1);
	}
}

/* ---- reactor probes -------------------------------------------------------- */

/* Before the reactor waits: the work of this iteration is done. */
static void on_prepare(actr_hook_t *h, void *arg)
{
	actr_metrics_t *m = arg;
	uint64_t now = actr_time_ns(), woke = actr_reactor_now(m->r);

	m->iterations++;
	actr__hist_observe(&m->iter, now > woke ? now - woke : 0);
}

static void on_lag(actr_timer_t *t, void *arg)
{
	actr_metrics_t *m = arg;
	uint64_t now = actr_reactor_now(m->r);

	m->lag_last_ns = now > t->deadline ? now - t->deadline : 0;
	actr__hist_observe(&m->lag, m->lag_last_ns);
	actr_timer_start(t, LAG_PERIOD_NS, 0);
}

/* ---- API ------------------------------------------------------------------- */

int actr_metrics_parse_addr(const char *s, struct actr_metrics_config *cfg,
			    char *buf, size_t cap)
{
	const char *colon;
	char *end;
	unsigned long port;
	size_t hl;

	if (!s || !cfg || !buf || !cap || !*s)
		return -EINVAL;
	colon = strrchr(s, ':');
	port = strtoul(colon ? colon + 1 : s, &end, 10);
	if (*end || end == (colon ? colon + 1 : s) || port > 65535)
		return -EINVAL;
	hl = colon ? (size_t)(colon - s) : 0;
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	}
	if (hl >= cap)
		return -EINVAL;
	memcpy(buf, s, hl);
	buf[hl] = 0;
	cfg->host = hl ? buf : NULL;
	cfg->port = (uint16_t)port;
	return 0;
}

actr_metrics_t *actr_metrics_new(actr_reactor_t *r,
				 const struct actr_metrics_config *cfg)
{
	struct actr_metrics_config c = { 0 };
	struct actr_http_server_config hc = { 0 };
	actr_metrics_t *m;

	if (!r || !cfg) {
		errno = EINVAL;
		return NULL;
	}
	if (actr__opts_copy(&c, sizeof(c), cfg) < 0) {
		errno = ENOTSUP;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		errno = ENOMEM;
		return NULL;
	}
	m->r = r;
	if (c.admin_token) {
		if (strlen(c.admin_token) < ADMIN_TOKEN_MIN) {
			actr_loge(TAG, "admin token too short (want %u "
				  "characters or more)", ADMIN_TOKEN_MIN);
			free(m);
			errno = EINVAL;
			return NULL;
		}
		m->admin_token = strdup(c.admin_token);
		if (!m->admin_token) {
			free(m);
			errno = ENOMEM;
			return NULL;
		}
	}
	hc.host = c.host ? c.host : "127.0.0.1";
	hc.port = c.port;
	hc.on_request = on_request;
	hc.arg = m;
	m->http = actr_http_server_new(r, &hc);
	if (!m->http) {
		int e = errno ? errno : EADDRNOTAVAIL;

		actr_loge(TAG, "cannot listen on %s:%u: %s", hc.host,
			  (unsigned)hc.port, strerror(e));
		free(m->admin_token);
		free(m);
		errno = e;
		return NULL;
	}
	actr_hook_start(r, &m->prepare, ACTR_HOOK_PREPARE, 1000, on_prepare,
			m);
	actr_timer_init(r, &m->lag_timer, on_lag, m);
	actr_timer_start(&m->lag_timer, LAG_PERIOD_NS, 0);
	actr_logi(TAG, "serving /metrics, /healthz, /readyz%s on "
		  "http://%s:%u", m->admin_token ? " and /admin/ (token "
		  "required)" : "", hc.host,
		  (unsigned)actr_http_server_port(m->http));
	return m;
}

int actr_metrics_read_token(const char *path, char *buf, size_t cap)
{
	FILE *f;
	size_t n;
	int rc = 0;

	if (!path || !buf || cap < 2)
		return -EINVAL;
	f = fopen(path, "r");
	if (!f)
		return -errno;
	if (!fgets(buf, (int)cap, f))
		buf[0] = 0;
	n = strlen(buf);
	if (n == cap - 1 && buf[n - 1] != '\n' && fgetc(f) != EOF)
		rc = -ACTR_ETOOBIG;
	fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
		     buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = 0;
	if (rc == 0 && !n)
		rc = -EINVAL;
	if (rc < 0)
		memset(buf, 0, cap);
	return rc;
}

uint16_t actr_metrics_port(const actr_metrics_t *m)
{
	return m ? actr_http_server_port(m->http) : 0;
}

int actr_metrics_add_system(actr_metrics_t *m, actr_system_t *sys)
{
	if (!m || !sys)
		return -EINVAL;
	if (m->sys)
		return -EBUSY;
	m->sys = sys;
	sys->call_hist_on = true;
	return 0;
}

int actr_metrics_add_peer(actr_metrics_t *m, actr_peer_t *p)
{
	if (!m || !p)
		return -EINVAL;
	if (m->peer)
		return -EBUSY;
	m->peer = p;
	return 0;
}

int actr_metrics_add_collector(actr_metrics_t *m,
			       actr_metrics_collect_fn collect,
			       actr_metrics_ready_fn ready, void *arg)
{
	if (!m || (!collect && !ready))
		return -EINVAL;
	if (m->ncol == MAX_COLLECTORS)
		return -ENOSPC;
	m->col[m->ncol++] = (struct collector){ collect, ready, arg };
	return 0;
}

void actr_metrics_free(actr_metrics_t *m)
{
	if (!m)
		return;
	if (m->sys)
		m->sys->call_hist_on = false;
	actr_hook_stop(&m->prepare);
	actr_timer_stop(&m->lag_timer);
	actr_http_server_free(m->http);
	free(m->admin_token);
	free(m);
}
