/*
 * The observability endpoint (include/actr/metrics.h): address parsing,
 * a node's /metrics, /healthz and /readyz in one process (counters and
 * the call latency histogram after real remote calls), and the programs
 * (actr-signal and the echo example with --metrics) checked by curl,
 * promtool and a real Prometheus server (test/ops/metrics.sh).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/metrics.h>
#include <actr/net.h>

#include "server/signal_internal.h"
#include "test.h"
#include "test_remote_util.h"

TEST(metrics_parse_addr)
{
	struct actr_metrics_config c = { ACTR_OPTS(c) };
	char host[64];

	CHECK_OK(actr_metrics_parse_addr("127.0.0.1:9464", &c, host,
					 sizeof(host)));
	CHECK_STR(c.host, "127.0.0.1");
	CHECK_EQ(c.port, 9464);
	CHECK_OK(actr_metrics_parse_addr("[::1]:80", &c, host, sizeof(host)));
	CHECK_STR(c.host, "::1");
	CHECK_EQ(c.port, 80);
	CHECK_OK(actr_metrics_parse_addr("9000", &c, host, sizeof(host)));
	CHECK(c.host == NULL);
	CHECK_EQ(c.port, 9000);
	CHECK_EQ(actr_metrics_parse_addr("host:", &c, host, sizeof(host)),
		 -EINVAL);
	CHECK_EQ(actr_metrics_parse_addr("h:70000", &c, host, sizeof(host)),
		 -EINVAL);
	CHECK_EQ(actr_metrics_parse_addr("h:x", &c, host, sizeof(host)),
		 -EINVAL);
}

/* ---- an in-process HTTP GET ------------------------------------------- */

struct get {
	int done;		/* callback ran */
	int rc;			/* transport result */
	int status;		/* HTTP status */
	char body[65536];	/* body, NUL-terminated (truncated) */
};

static void on_get(actr_http_call_t *call, int rc, int status,
		   const uint8_t *body, size_t len, void *arg)
{
	struct get *g = arg;

	g->done = 1;
	g->rc = rc;
	g->status = status;
	if (len >= sizeof(g->body))
		len = sizeof(g->body) - 1;
	memcpy(g->body, body, len);
	g->body[len] = 0;
}

static struct get *http_get(actr_reactor_t *r, uint16_t port,
			    const char *path)
{
	static struct get g;
	struct actr_http_request rq = { 0 };
	char url[128];

	memset(&g, 0, sizeof(g));
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	rq.url = url;
	CHECK(actr_http_request(r, &rq, on_get, &g));
	rt_run(r, &g.done, 1, 5000);
	CHECK_EQ(g.done, 1);
	CHECK_EQ(g.rc, 0);
	return &g;
}

/* The value of the sample line starting with `series ` in page. */
static double sample(const char *page, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = page; p && *p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (!strncmp(p, series, n) && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	}
	actr_test_fail(__FILE__, __LINE__, "no sample %s in:\n%.2000s",
		       series, page);
}

/* ---- a node's endpoint -------------------------------------------------- */

static int raw_echo(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	return actr_reply_raw(ctx, d, n);
}

static int raw_fail(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	return -ACTR_EINVALARG;
}

static Actr__ActrType mtype = ACTR__ACTR_TYPE__INIT;

static void on_chunk(const Actr__ActrId *from, const Actr__DataChunk *c,
		     void *arg)
{
	(*(int *)arg)++;
}

struct cres {
	int done;		/* completions */
	int ok;			/* of which status 0 */
};

static void on_res(const actr_result_t *res, void *arg)
{
	struct cres *x = arg;

	x->done++;
	x->ok += res->status == 0;
}

TEST_TIMEOUT(metrics_node_endpoint, 60)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct actr_metrics_config mc = { ACTR_OPTS(mc) };
	actr_metrics_t *m;
	actr_workload_t *w;
	struct rnode srv, cli;
	struct cres x = { 0 };
	struct get *g;
	char url[64], mbox[512];
	uint16_t port;
	int chunks = 0;

	CHECK(r);
	snprintf(mbox, sizeof(mbox), "%s/srv.db", actr_test_tmpdir());
	l = rt_signal(r, 0, url, sizeof(url));
	w = actr_workload_new("acme", "mecho", "1.0.0");
	CHECK(w);
	CHECK_OK(actr_workload_add_route(w, "test.Echo", raw_echo, 0));
	CHECK_OK(actr_workload_add_route(w, "test.Fail", raw_fail, 0));
	rt_node(&srv, r, url, w, mbox);
	rt_node(&cli, r, url, actr_workload_new("acme", "mcli", "1.0.0"),
		NULL);
	m = actr_metrics_new(r, &mc);
	CHECK(m);
	port = actr_metrics_port(m);
	CHECK(port != 0);
	CHECK_OK(actr_metrics_add_system(m, cli.sys));
	CHECK_EQ(actr_metrics_add_system(m, cli.sys), -EBUSY);
	CHECK_OK(actr_metrics_add_peer(m, cli.peer));

	/* not registered yet: not ready, but healthy */
	g = http_get(r, port, "/readyz");
	if (!actr_peer_ready(cli.peer)) {
		CHECK_EQ(g->status, 503);
		CHECK(strstr(g->body, "not registered"));
	}
	g = http_get(r, port, "/healthz");
	CHECK_EQ(g->status, 200);
	CHECK_STR(g->body, "ok\n");

	rt_wait_ready(r, &srv, &cli, 5000);
	g = http_get(r, port, "/readyz");
	CHECK_EQ(g->status, 200);
	CHECK_STR(g->body, "ready\n");

	mtype.manufacturer = "acme";
	mtype.name = "mecho";
	mtype.version = "1.0.0";
	for (int i = 0; i < 5; i++)
		CHECK_OK(actr_peer_call_raw(cli.peer, &mtype, "test.Echo",
					    "hi", 2, 10000, on_res, &x));
	CHECK_OK(actr_peer_call_raw(cli.peer, &mtype, "test.Fail", "", 0,
				    10000, on_res, &x));
	rt_run(r, &x.done, 6, 15000);
	CHECK_EQ(x.done, 6);
	CHECK_EQ(x.ok, 5);

	g = http_get(r, port, "/metrics");
	CHECK_EQ(g->status, 200);
	CHECK_EQ(sample(g->body,
			"actr_call_duration_seconds_count{outcome=\"ok\"}"), 5);
	CHECK_EQ(sample(g->body,
			"actr_call_duration_seconds_count{outcome=\"error\"}"),
		 1);
	CHECK_EQ(sample(g->body, "actr_call_duration_seconds_bucket"
			"{outcome=\"ok\",le=\"+Inf\"}"), 5);
	CHECK(sample(g->body,
		     "actr_call_duration_seconds_sum{outcome=\"ok\"}") > 0);
	CHECK_EQ(sample(g->body, "actr_call_route_duration_seconds_count"
			"{route=\"test.Echo\",outcome=\"ok\"}"), 5);
	CHECK_EQ(sample(g->body, "actr_call_route_duration_seconds_count"
			"{route=\"test.Fail\",outcome=\"error\"}"), 1);
	CHECK_EQ(sample(g->body, "actr_call_route_duration_seconds_count"
			"{route=\"test.Echo\",outcome=\"error\"}"), 0);
	CHECK_EQ(sample(g->body, "actr_peer_connections{state=\"open\"}"), 1);
	CHECK_EQ(sample(g->body, "actr_peer_connections_opened_total"), 1);
	CHECK_EQ(sample(g->body,
			"actr_signaling_state{state=\"connected\"}"), 1);
	CHECK_EQ(sample(g->body, "actr_signaling_state{state=\"idle\"}"), 0);
	CHECK_EQ(sample(g->body, "actr_responses_total"), 6);
	CHECK_EQ(sample(g->body,
			"actr_peer_messages_total{dir=\"out\",lane=\"reliable\"}"),
		 6);
	CHECK(sample(g->body, "actr_reactor_iterations_total") > 0);
	CHECK(sample(g->body, "actr_reactor_iteration_seconds_count") > 0);
	CHECK_EQ(sample(g->body, "actr_metrics_scrapes_total"), 1);
	CHECK(strstr(g->body, "# TYPE actr_call_duration_seconds histogram\n"));
	/* issue 17's audit: handles by kind, the setup histogram, lanes */
	CHECK(sample(g->body, "actr_reactor_handles{kind=\"timer\"}") > 0);
	CHECK(sample(g->body, "actr_reactor_handles{kind=\"io\"}") > 0);
	CHECK_EQ(sample(g->body, "actr_peer_setup_seconds_count"), 1);
	CHECK_EQ(sample(g->body, "actr_peer_setup_seconds_bucket"
			"{le=\"+Inf\"}"), 1);
	CHECK(sample(g->body, "actr_peer_setup_seconds_sum") > 0);
	CHECK_EQ(sample(g->body, "actr_peer_lane_messages_total"
			"{dir=\"out\",lane=\"rpc_reliable\"}"), 6);
	CHECK_EQ(sample(g->body, "actr_peer_lane_messages_total"
			"{dir=\"in\",lane=\"rpc_reliable\"}"), 6);
	/* six envelopes of a route key, an id and a payload each */
	CHECK(sample(g->body, "actr_peer_lane_bytes_total"
		     "{dir=\"out\",lane=\"rpc_reliable\"}") > 6 * 12);
	CHECK_EQ(sample(g->body, "actr_peer_connection_drops_total"
			"{phase=\"ice\"}"), 0);

	/* streams: counted on both sides, by the node's type */
	{
		Actr__DataChunk c = ACTR__DATA_CHUNK__INIT;

		CHECK_OK(actr_stream_register(srv.ref, "s1", on_chunk,
					      &chunks));
		c.stream_id = "s1";
		c.payload.data = (uint8_t *)"12345";
		c.payload.len = 5;
		for (int i = 0; i < 3; i++) {
			c.sequence = (uint64_t)i + 1;
			CHECK_OK(actr_stream_send(cli.ref,
						  actr_node_id(srv.node), &c,
						  ACTR_STREAM_RELIABLE));
		}
		rt_run(r, &chunks, 3, 10000);
		CHECK_EQ(chunks, 3);
		g = http_get(r, port, "/metrics");
		CHECK_EQ(sample(g->body, "actr_stream_chunks_total"
				"{type=\"acme:mcli:1.0.0\",dir=\"out\"}"), 3);
		CHECK_EQ(sample(g->body, "actr_stream_bytes_total"
				"{type=\"acme:mcli:1.0.0\",dir=\"out\"}"), 15);
		CHECK_EQ(sample(g->body, "actr_peer_lane_messages_total"
				"{dir=\"out\",lane=\"stream_reliable\"}"), 3);
	}

	/* callee side, on the server's system */
	{
		struct actr_metrics_config sc = { ACTR_OPTS(sc) };
		actr_metrics_t *ms = actr_metrics_new(r, &sc);
		struct cres y = { 0 };

		CHECK(ms);
		CHECK_OK(actr_metrics_add_system(ms, srv.sys));
		CHECK_OK(actr_metrics_add_peer(ms, srv.peer));
		for (int i = 0; i < 3; i++)
			CHECK_OK(actr_peer_call_raw(cli.peer, &mtype,
						    "test.Echo", "x", 1, 10000,
						    on_res, &y));
		CHECK_OK(actr_peer_call_raw(cli.peer, &mtype, "test.Fail", "",
					    0, 10000, on_res, &y));
		rt_run(r, &y.done, 4, 15000);
		CHECK_EQ(y.ok, 3);
		g = http_get(r, actr_metrics_port(ms), "/metrics");
		CHECK_EQ(sample(g->body, "actr_handler_duration_seconds_count"
				"{type=\"acme:mecho:1.0.0\",route=\"test.Echo\","
				"outcome=\"ok\"}"), 3);
		CHECK_EQ(sample(g->body, "actr_handler_duration_seconds_count"
				"{type=\"acme:mecho:1.0.0\",route=\"test.Fail\","
				"outcome=\"error\"}"), 1);
		CHECK_EQ(sample(g->body, "actr_stream_chunks_total"
				"{type=\"acme:mecho:1.0.0\",dir=\"in\"}"), 3);
		/* the mailbox (synchronous=FULL) synced its WAL per commit */
		/* handled before any commit: elided, never written */
		CHECK(sample(g->body, "actr_mailbox_enqueued_total") >= 4);
		CHECK(sample(g->body, "actr_mailbox_elided_total") >= 4);
		CHECK_EQ(sample(g->body, "actr_mailbox_queued"
				"{priority=\"normal\"}"), 0);
		/* a commit with synchronous=FULL syncs the WAL: the fsync
		 * histogram (process-wide) counts it */
		{
			double before = sample(g->body,
				"actr_mailbox_fsync_seconds_count"
				"{file=\"wal\"}");
			actr_mailbox_t *mb;
			actr_buf_t *b = actr_buf_copy("x", 1);
			char p2[600];

			snprintf(p2, sizeof(p2), "%s/other.db",
				 actr_test_tmpdir());
			CHECK_OK(actr_mailbox_open(p2, NULL, &mb));
			CHECK_OK(actr_mailbox_enqueue(mb, ACTR_PRIO_NORMAL,
						      NULL, 0, b, NULL));
			actr_buf_unref(b);
			CHECK_OK(actr_mailbox_commit(mb));
			actr_mailbox_close(mb);
			g = http_get(r, actr_metrics_port(ms), "/metrics");
			CHECK(sample(g->body, "actr_mailbox_fsync_seconds_count"
				     "{file=\"wal\"}") >= before + 1);
			CHECK(sample(g->body, "actr_mailbox_fsync_seconds_bucket"
				     "{file=\"wal\",le=\"+Inf\"}") >=
			      before + 1);
			CHECK(sample(g->body, "actr_mailbox_fsync_seconds_sum"
				     "{file=\"wal\"}") > 0);
		}
		actr_metrics_free(ms);
	}

	g = http_get(r, port, "/nope");
	CHECK_EQ(g->status, 404);

	actr_metrics_free(m);
	rt_node_free(&cli);
	rt_node_free(&srv);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}

/* A collector and a ready() that says no. */
static void collect(actr_metrics_out_t *o, void *arg)
{
	actr_metrics_family(o, "app_things", "gauge", "Things.");
	actr_metrics_sample(o, "app_things", "kind=\"a\"", 3);
}

static bool not_ready(char *why, size_t n, void *arg)
{
	snprintf(why, n, "warming up");
	return *(int *)arg;
}

TEST(metrics_collector_and_ready)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr_metrics_config mc = { ACTR_OPTS(mc), .host = "127.0.0.1" };
	actr_metrics_t *m;
	struct get *g;
	int ready = 0;

	CHECK(r);
	m = actr_metrics_new(r, &mc);
	CHECK(m);
	CHECK_OK(actr_metrics_add_collector(m, collect, not_ready, &ready));
	g = http_get(r, actr_metrics_port(m), "/readyz");
	CHECK_EQ(g->status, 503);
	CHECK_STR(g->body, "not ready: warming up\n");
	ready = 1;
	g = http_get(r, actr_metrics_port(m), "/readyz");
	CHECK_EQ(g->status, 200);
	g = http_get(r, actr_metrics_port(m), "/metrics");
	CHECK_EQ(sample(g->body, "app_things{kind=\"a\"}"), 3);
	CHECK(strstr(g->body, "# TYPE app_things gauge\n"));
	/* a busy port is an error, not a crash */
	mc.port = actr_metrics_port(m);
	CHECK(actr_metrics_new(r, &mc) == NULL);
	actr_metrics_free(m);
	rt_drain(r);
	actr_reactor_free(r);
}

/* ---- the programs, with curl, promtool and Prometheus ------------------ */

/* Run test/ops/NAME.sh with the build directory and a temporary one. */
void ops_script(const char *name);
void ops_script(const char *name)
{
	char exe[PATH_MAX], cmd[3 * PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *bdir;
	int st;

	CHECK(n > 0);
	exe[n] = 0;
	bdir = dirname(dirname(exe));		/* build/test/actr-test */
	snprintf(cmd, sizeof(cmd), "sh %s/../test/ops/%s.sh %s %s", bdir,
		 name, bdir, actr_test_tmpdir());
	st = system(cmd);
	CHECK(WIFEXITED(st));
	if (WEXITSTATUS(st) == TEST_SKIP_STATUS)
		actr_test_skip("%s.sh: a tool is missing (see its output)",
			       name);
	CHECK_EQ(WEXITSTATUS(st), 0);
}

TEST_TIMEOUT(metrics_programs_prometheus, 120)
{
	ops_script("metrics");
}
