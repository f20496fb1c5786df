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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <actr/log.h>
#include <actr/mailbox.h>
#include <actr/metrics.h>
#include <actr/net.h>
#include <actr/sigclient.h>
#include <actr/util.h>

#include "core/strbuf.h"
#include "runtime/internal.h"
#include "runtime/peer_internal.h"

#define TAG "metrics"
#define MAX_COLLECTORS 8
#define LAG_PERIOD_NS ACTR_SEC(1)

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
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (actr__strbuf_append(&o->sb, line, (size_t)n) < 0)
		o->oom = true;
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

/* A counter or gauge family with a single unlabelled sample. */
static void one(actr_metrics_out_t *o, const char *name, const char *type,
		const char *help, double v)
{
	actr_metrics_family(o, name, type, help);
	actr_metrics_sample(o, name, NULL, v);
}

/* The samples of histogram h (seconds) under labels (or ""). */
static void hist_samples(actr_metrics_out_t *o, const char *name,
			 const char *labels, const struct actr__hist *h)
{
	uint64_t cum = 0;
	const char *sep = *labels ? "," : "";

	for (unsigned i = 0; i < ACTR__HIST_N; i++) {
		cum += h->b[i];
		outf(o, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
		     (double)actr__hist_bounds_ns[i] / 1e9,
		     (unsigned long long)cum);
	}
	cum += h->b[ACTR__HIST_N];
	outf(o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
	     (unsigned long long)cum);
	if (*labels) {
		outf(o, "%s_sum{%s} %.9f\n", name, labels, h->sum_ns / 1e9);
		outf(o, "%s_count{%s} %llu\n", name, labels,
		     (unsigned long long)h->count);
	} else {
		outf(o, "%s_sum %.9f\n", name, h->sum_ns / 1e9);
		outf(o, "%s_count %llu\n", name, (unsigned long long)h->count);
	}
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

/* ---- sources --------------------------------------------------------------- */

static void put_reactor(actr_metrics_t *m, actr_metrics_out_t *o)
{
	struct actr__reactor_faults f;

	actr__reactor_faults(m->r, &f);
	one(o, "actr_reactor_iterations_total", "counter",
	    "Reactor iterations seen by the endpoint.", (double)m->iterations);
	actr_metrics_family(o, "actr_reactor_iteration_seconds", "histogram",
			    "Reactor iteration time (wake to next wait).");
	hist_samples(o, "actr_reactor_iteration_seconds", "", &m->iter);
	actr_metrics_family(o, "actr_reactor_lag_seconds", "histogram",
			    "How late a 1 s timer fired (event loop lag).");
	hist_samples(o, "actr_reactor_lag_seconds", "", &m->lag);
	one(o, "actr_reactor_lag_last_seconds", "gauge",
	    "Lag of the last probe.", m->lag_last_ns / 1e9);
	one(o, "actr_reactor_active_handles", "gauge",
	    "Active timers, io handles and hooks.",
	    (double)actr_reactor_active(m->r));
	actr_metrics_family(o, "actr_reactor_faults_total", "counter",
			    "Reactor faults by kind.");
	actr_metrics_sample(o, "actr_reactor_faults_total",
			    "kind=\"timerfd\"", (double)f.timerfd_errors);
	actr_metrics_sample(o, "actr_reactor_faults_total", "kind=\"wake\"",
			    (double)f.wake_errors);
	one(o, "actr_metrics_scrapes_total", "counter",
	    "Scrapes of /metrics answered.", (double)m->scrapes);
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

static void put_system(actr_metrics_t *m, actr_metrics_out_t *o)
{
	const actr_system_stats_t *s = actr_system_stats(m->sys);
	static const char *const outcome[ACTR__OUTCOME_N] = {
		"outcome=\"ok\"", "outcome=\"error\"", "outcome=\"timeout\""
	};

	one(o, "actr_handled_total", "counter",
	    "Requests and tells handled.", (double)s->handled);
	one(o, "actr_responses_total", "counter",
	    "Responses matched to a call.", (double)s->responses);
	one(o, "actr_late_responses_total", "counter",
	    "Responses with no pending call.", (double)s->late_responses);
	one(o, "actr_call_timeouts_total", "counter",
	    "Calls completed with TimedOut.", (double)s->timeouts);
	one(o, "actr_handler_errors_total", "counter",
	    "Handlers that returned an error.", (double)s->handler_errors);
	one(o, "actr_dedup_hits_total", "counter",
	    "Repeated requests answered from the response cache.",
	    (double)s->dedup_hits);
	one(o, "actr_reply_failed_total", "counter",
	    "Replies a lane refused (Internal sent instead).",
	    (double)s->reply_failed);
	one(o, "actr_forced_shutdowns_total", "counter",
	    "Shutdowns that hit their deadline.", (double)s->forced_shutdowns);
	actr_metrics_family(o, "actr_rejected_total", "counter",
			    "Inbound messages refused, by reason.");
	actr_metrics_sample(o, "actr_rejected_total", "reason=\"invalid\"",
			    (double)s->dropped_invalid);
	actr_metrics_sample(o, "actr_rejected_total",
			    "reason=\"unknown_route\"", (double)s->unknown_route);
	actr_metrics_sample(o, "actr_rejected_total", "reason=\"acl\"",
			    (double)s->denied);
	actr_metrics_sample(o, "actr_rejected_total", "reason=\"oversize\"",
			    (double)s->refused_oversize);
	one(o, "actr_calls_pending", "gauge", "Calls waiting for a reply.",
	    (double)actr__map_size(&m->sys->pending));
	actr_metrics_family(o, "actr_call_duration_seconds", "histogram",
			    "Caller side: call made to completion, by outcome.");
	for (int i = 0; i < ACTR__OUTCOME_N; i++)
		hist_samples(o, "actr_call_duration_seconds", outcome[i],
			     &m->sys->call_hist[i]);
	put_call_routes(m, o);
	put_routes(m, o);
}

static void put_mailbox(actr_metrics_out_t *o, actr_mailbox_t *mb)
{
	actr_mailbox_stats_t s;

	actr_mailbox_stats(mb, &s);
	actr_metrics_family(o, "actr_mailbox_queued", "gauge",
			    "Messages waiting in the mailbox, by priority.");
	actr_metrics_sample(o, "actr_mailbox_queued", "priority=\"high\"",
			    (double)s.queued_high);
	actr_metrics_sample(o, "actr_mailbox_queued", "priority=\"normal\"",
			    (double)s.queued_normal);
	one(o, "actr_mailbox_in_flight", "gauge",
	    "Dequeued, not yet acknowledged.", (double)s.in_flight);
	one(o, "actr_mailbox_oldest_age_seconds", "gauge",
	    "Age of the oldest unacknowledged message.",
	    s.oldest_age_ms / 1e3);
	one(o, "actr_mailbox_dlq_size", "gauge",
	    "Entries in the dead-letter queue.", (double)s.dlq_size);
	one(o, "actr_mailbox_enqueued_total", "counter",
	    "Messages enqueued since open.", (double)s.enqueued);
	one(o, "actr_mailbox_acked_total", "counter",
	    "Messages acknowledged since open.", (double)s.acked);
	one(o, "actr_mailbox_dead_lettered_total", "counter",
	    "Messages moved to the dead-letter queue.",
	    (double)s.dead_lettered);
	one(o, "actr_mailbox_commits_total", "counter",
	    "Group commits.", (double)s.commits);
	one(o, "actr_mailbox_commit_errors_total", "counter",
	    "Failed commits.", (double)s.commit_errors);
	one(o, "actr_mailbox_commit_seconds_total", "counter",
	    "Time spent committing (writer thread).", s.commit_us_total / 1e6);
	one(o, "actr_mailbox_commit_seconds_max", "gauge",
	    "Longest commit.", s.commit_us_max / 1e6);
	one(o, "actr_mailbox_elided_total", "counter",
	    "Messages handled before any commit (never written).",
	    (double)s.elided);
	one(o, "actr_mailbox_wal_pages", "gauge",
	    "Frames in the WAL after the last commit.", (double)s.wal_pages);
}

static void put_peer(actr_metrics_t *m, actr_metrics_out_t *o)
{
	static const char *const state[] = {
		"state=\"negotiating\"", "state=\"connecting\"",
		"state=\"open\"", "state=\"dead\""
	};
	unsigned by_state[4] = { 0 };
	actr_peer_stats_t s;
	actr_peer_ws_stats_t w;
	struct actr_sigclient_stats sc = { 0 };
	struct actr__map_iter it;
	struct actr__map_node *n;
	actr_peer_t *p = m->peer;
	char lab[64];

	actr_peer_get_stats(p, &s);
	actr_peer_get_ws_stats(p, &w);
	actr_sigclient_get_stats(p->sc, &sc);
	actr__map_foreach(&p->conns, it, n) {
		const struct peer_conn *c =
			actr__map_entry(n, const struct peer_conn, node);

		if (c->st >= 0 && c->st < 4)
			by_state[c->st]++;
	}
	actr_metrics_family(o, "actr_peer_connections", "gauge",
			    "Peer connections by state.");
	for (int i = 0; i < 4; i++)
		actr_metrics_sample(o, "actr_peer_connections", state[i],
				    by_state[i]);
	one(o, "actr_peer_connections_created_total", "counter",
	    "Peer connections created.", (double)s.conns_created);
	one(o, "actr_peer_connections_opened_total", "counter",
	    "Peer connections that reached CONNECTED.", (double)s.conns_open);
	one(o, "actr_peer_connections_failed_total", "counter",
	    "Peer connections failed or closed.", (double)s.conns_failed);
	one(o, "actr_peer_last_setup_seconds", "gauge",
	    "Setup time of the last connection (new to open).",
	    s.last_setup_ns / 1e9);
	one(o, "actr_peer_discoveries_total", "counter",
	    "Route-candidate requests.", (double)s.discoveries);
	actr_metrics_family(o, "actr_peer_messages_total", "counter",
			    "Envelopes by direction and lane.");
	actr_metrics_sample(o, "actr_peer_messages_total",
			    "dir=\"out\",lane=\"reliable\"",
			    (double)(s.msgs_out - s.signal_out));
	actr_metrics_sample(o, "actr_peer_messages_total",
			    "dir=\"out\",lane=\"signal\"", (double)s.signal_out);
	actr_metrics_sample(o, "actr_peer_messages_total",
			    "dir=\"in\",lane=\"reliable\"",
			    (double)(s.msgs_in - s.signal_in));
	actr_metrics_sample(o, "actr_peer_messages_total",
			    "dir=\"in\",lane=\"signal\"", (double)s.signal_in);
	actr_metrics_sample(o, "actr_peer_messages_total",
			    "dir=\"in\",lane=\"websocket\"", (double)w.msgs_in);
	actr_metrics_sample(o, "actr_peer_messages_total",
			    "dir=\"out\",lane=\"websocket\"",
			    (double)w.msgs_out);
	one(o, "actr_peer_queued_total", "counter",
	    "Messages queued while their connection was set up.",
	    (double)s.queued);
	actr_metrics_family(o, "actr_peer_dropped_total", "counter",
			    "Inbound input dropped, by reason.");
	actr_metrics_sample(o, "actr_peer_dropped_total",
			    "reason=\"undecodable\"", (double)s.bad_in);
	actr_metrics_sample(o, "actr_peer_dropped_total",
			    "reason=\"reassembly_refused\"",
			    (double)s.reasm_refused);
	actr_metrics_sample(o, "actr_peer_dropped_total",
			    "reason=\"reassembly_evicted\"",
			    (double)s.reasm_evicted);
	actr_metrics_sample(o, "actr_peer_dropped_total",
			    "reason=\"stale_sdp\"", (double)s.stale_sdp);
	actr_metrics_sample(o, "actr_peer_dropped_total",
			    "reason=\"stale_candidate\"",
			    (double)s.stale_candidates);
	actr_metrics_sample(o, "actr_peer_dropped_total",
			    "reason=\"late_reply\"",
			    (double)s.late_replies_dropped);
	actr_metrics_sample(o, "actr_peer_dropped_total",
			    "reason=\"tell_no_target\"",
			    (double)s.tells_dropped);
	actr_metrics_sample(o, "actr_peer_dropped_total",
			    "reason=\"ws_bad_frame\"", (double)w.bad_frames);
	one(o, "actr_peer_reassembly_bytes", "gauge",
	    "Bytes of partial inbound messages held.", (double)s.reasm_held);
	one(o, "actr_peer_paths_lost_total", "counter",
	    "ICE paths of open connections lost.", (double)s.paths_lost);
	one(o, "actr_peer_ice_restarts_total", "counter",
	    "ICE restart attempts.", (double)s.ice_restarts);
	one(o, "actr_peer_ice_restart_failures_total", "counter",
	    "ICE restarts given up (connection dropped).",
	    (double)s.ice_restart_failures);
	actr_metrics_family(o, "actr_peer_ws_refused_total", "counter",
			    "Direct WebSocket upgrades refused, by reason.");
	actr_metrics_sample(o, "actr_peer_ws_refused_total",
			    "reason=\"auth\"", (double)w.auth_refused);
	actr_metrics_sample(o, "actr_peer_ws_refused_total", "reason=\"acl\"",
			    (double)w.acl_refused);
	/* signaling */
	actr_metrics_family(o, "actr_signaling_state", "gauge",
			    "Signaling client state (1 for the current one).");
	for (int i = ACTR_SIG_IDLE; i <= ACTR_SIG_FAILED; i++) {
		static const char *const names[] = {
			"idle", "registering", "connecting", "connected",
			"backoff", "failed"
		};

		snprintf(lab, sizeof(lab), "state=\"%s\"", names[i]);
		actr_metrics_sample(o, "actr_signaling_state", lab,
				    (int)actr_sigclient_state(p->sc) == i);
	}
	one(o, "actr_signaling_registrations_total", "counter",
	    "Successful registrations.", (double)sc.registrations);
	one(o, "actr_signaling_reconnects_total", "counter",
	    "Reconnection attempts after a loss.",
	    (double)sc.reconnect_attempts);
	one(o, "actr_signaling_pong_timeouts_total", "counter",
	    "Heartbeats not answered in time.", (double)sc.pong_timeouts);
	one(o, "actr_signaling_request_timeouts_total", "counter",
	    "Signaling requests timed out.", (double)sc.timeouts);
	actr_metrics_family(o, "actr_signaling_relays_total", "counter",
			    "Relay messages by direction.");
	actr_metrics_sample(o, "actr_signaling_relays_total", "dir=\"in\"",
			    (double)sc.relays_in);
	actr_metrics_sample(o, "actr_signaling_relays_total", "dir=\"out\"",
			    (double)sc.relays_out);
	one(o, "actr_signaling_bad_frames_total", "counter",
	    "Undecodable signaling frames.", (double)sc.bad_frames);
	if (p->mb)
		put_mailbox(o, p->mb);
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

static void serve_metrics(actr_metrics_t *m, actr_http_req_t *q)
{
	actr_metrics_out_t o = { .oom = false };
	char *body;
	size_t len;

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
		actr_http_respond(q, 503, "text/plain", NULL,
				  "out of memory\n", 14);
		return;
	}
	body = actr__strbuf_take(&o.sb, &len);
	actr_http_respond(q, 200, "text/plain; version=0.0.4; charset=utf-8",
			  NULL, body ? body : "", body ? len : 0);
	free(body);
}

#define NOT_FOUND "not found: try /metrics, /healthz or /readyz\n"

static void on_request(actr_http_req_t *q, void *arg)
{
	actr_metrics_t *m = arg;
	const char *path = actr_http_req_path(q);
	char why[256], body[300];
	int n;

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
	hc.host = c.host ? c.host : "127.0.0.1";
	hc.port = c.port;
	hc.on_request = on_request;
	hc.arg = m;
	m->http = actr_http_server_new(r, &hc);
	if (!m->http) {
		int e = errno ? errno : EADDRNOTAVAIL;

		actr_loge(TAG, "cannot listen on %s:%u: %s", hc.host,
			  (unsigned)hc.port, strerror(e));
		free(m);
		errno = e;
		return NULL;
	}
	actr_hook_start(r, &m->prepare, ACTR_HOOK_PREPARE, 1000, on_prepare,
			m);
	actr_timer_init(r, &m->lag_timer, on_lag, m);
	actr_timer_start(&m->lag_timer, LAG_PERIOD_NS, 0);
	actr_logi(TAG, "serving /metrics, /healthz, /readyz on http://%s:%u",
		  hc.host, (unsigned)actr_http_server_port(m->http));
	return m;
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
	free(m);
}
