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
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/metrics.h>
#include <actr/net.h>

#include "runtime/peer_internal.h"
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

	/* the server goes: the client's open connection is dropped, and
	 * counted by the phase it was in (open: lost or closed) */
	rt_node_free(&srv);
	{
		uint64_t end = actr_time_ns() + ACTR_SEC(20);
		double open = 1;

		while (open > 0 && actr_time_ns() < end) {
			for (int i = 0; i < 20; i++)
				actr_reactor_run_once(r, 10);
			g = http_get(r, port, "/metrics");
			open = sample(g->body,
				      "actr_peer_connections{state=\"open\"}");
		}
		CHECK_EQ(open, 0);
		CHECK_EQ(sample(g->body, "actr_peer_connection_drops_total"
				"{phase=\"lost\"}") +
			 sample(g->body, "actr_peer_connection_drops_total"
				"{phase=\"closed\"}"), 1);
		CHECK_EQ(sample(g->body, "actr_peer_connection_drops_total"
				"{phase=\"ice\"}"), 0);
	}

	actr_metrics_free(m);
	rt_node_free(&cli);
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

/* ---- the admin endpoint: DLQ redrive and purge on the running node ----- */

struct hres {
	int done, rc, status;
	char body[1024];
};

static void on_hres(actr_http_call_t *call, int rc, int status,
		    const uint8_t *body, size_t len, void *arg)
{
	struct hres *h = arg;

	h->done = 1;
	h->rc = rc;
	h->status = status;
	if (len >= sizeof(h->body))
		len = sizeof(h->body) - 1;
	memcpy(h->body, body, len);
	h->body[len] = 0;
}

/* method path on 127.0.0.1:port with extra header lines (or NULL). */
static struct hres *http_do(actr_reactor_t *r, uint16_t port,
			    const char *method, const char *path,
			    const char *headers)
{
	static struct hres h;
	struct actr_http_request rq = { 0 };
	char url[256];

	memset(&h, 0, sizeof(h));
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	rq.method = method;
	rq.url = url;
	rq.headers = headers;
	CHECK(actr_http_request(r, &rq, on_hres, &h));
	rt_run(r, &h.done, 1, 5000);
	CHECK_EQ(h.done, 1);
	CHECK_EQ(h.rc, 0);
	return &h;
}

static int told;			/* admin.Note handled */
static char told_payload[64];

static int note(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	told++;
	snprintf(told_payload, sizeof(told_payload), "%.*s", (int)n,
		 (const char *)d);
	return 0;
}

/* A dead letter on p's mailbox: a TELL of admin.Note from `from`. */
static void dead_letter(actr_peer_t *p, const Actr__ActrId *from,
			const char *text)
{
	Actr__RpcEnvelope env = ACTR__RPC_ENVELOPE__INIT;
	uint8_t eb[256], ib[256];
	size_t en, in;

	env.route_key = "admin.Note";
	env.has_direction = true;
	env.direction = ACTR__DIRECTION__DIRECTION_TELL;
	env.request_id = "1";
	env.has_payload = true;
	env.payload.data = (uint8_t *)text;
	env.payload.len = strlen(text);
	en = actr__rpc_envelope__pack(&env, eb);
	in = actr__actr_id__pack(from, ib);
	CHECK_OK(actr_dlq_add(p->mb, ib, in, eb, en, "max_attempts",
			      "test"));
	CHECK_OK(actr_mailbox_commit(p->mb));
}

/* Run `actr ARGS` (stdout to out) while r turns: the node under test is
 * this process. Returns the exit status. */
static int actr_async(actr_reactor_t *r, const char *args, char *out,
		      size_t cap)
{
	char exe[PATH_MAX], cmd[2 * PATH_MAX], outf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	uint64_t end = actr_time_ns() + ACTR_SEC(30);
	pid_t pid;
	int st = -1;
	FILE *f;
	size_t got;

	CHECK(n > 0);
	exe[n] = 0;
	snprintf(outf, sizeof(outf), "%s/actr.out", actr_test_tmpdir());
	snprintf(cmd, sizeof(cmd), "%s/../actr %s >%s 2>&1", dirname(exe),
		 args, outf);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, WNOHANG) == 0 && actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
	CHECK(WIFEXITED(st));
	f = fopen(outf, "r");
	CHECK(f);
	got = fread(out, 1, cap - 1, f);
	out[got] = 0;
	fclose(f);
	return WEXITSTATUS(st);
}

#define ADMIN_TOKEN "s3cret-admin-token-0123"

TEST_TIMEOUT(metrics_admin_dlq, 60)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct actr_metrics_config mc = { ACTR_OPTS(mc),
					  .admin_token = ADMIN_TOKEN };
	actr_metrics_t *m, *plain;
	actr_workload_t *w;
	struct rnode srv, cli;
	struct hres *h;
	struct get *g;
	char url[64], mbox[512], tokf[512], args[2048], out[2048];
	const char *auth = "Authorization: Bearer " ADMIN_TOKEN "\r\n";
	uint16_t port;
	FILE *f;

	CHECK(r);
	snprintf(mbox, sizeof(mbox), "%s/admin.db", actr_test_tmpdir());
	snprintf(tokf, sizeof(tokf), "%s/token", actr_test_tmpdir());
	l = rt_signal(r, 0, url, sizeof(url));
	w = actr_workload_new("acme", "adm", "1.0.0");
	CHECK(w);
	CHECK_OK(actr_workload_add_route(w, "admin.Note", note, 0));
	rt_node(&srv, r, url, w, mbox);
	rt_node(&cli, r, url, actr_workload_new("acme", "admc", "1.0.0"),
		NULL);
	rt_wait_ready(r, &srv, &cli, 5000);

	/* a short token is refused: the endpoint would be guessable */
	mc.admin_token = "short";
	CHECK(actr_metrics_new(r, &mc) == NULL);
	CHECK_EQ(errno, EINVAL);
	mc.admin_token = ADMIN_TOKEN;
	m = actr_metrics_new(r, &mc);
	CHECK(m);
	CHECK_OK(actr_metrics_add_system(m, srv.sys));
	CHECK_OK(actr_metrics_add_peer(m, srv.peer));
	port = actr_metrics_port(m);
	dead_letter(srv.peer, actr_node_id(cli.node), "first");

	/* no token, a wrong one, a GET: refused, nothing changes */
	h = http_do(r, port, "POST", "/admin/dlq/redrive?id=all", NULL);
	CHECK_EQ(h->status, 401);
	h = http_do(r, port, "POST", "/admin/dlq/redrive?id=all",
		    "Authorization: Bearer s3cret-admin-token-0124\r\n");
	CHECK_EQ(h->status, 403);
	h = http_do(r, port, "POST", "/admin/dlq/redrive?id=all",
		    "Authorization: Basic czNjcmV0\r\n");
	CHECK_EQ(h->status, 401);
	h = http_do(r, port, "GET", "/admin/dlq/redrive?id=all", auth);
	CHECK_EQ(h->status, 405);
	h = http_do(r, port, "POST", "/admin/dlq/redrive", auth);
	CHECK_EQ(h->status, 400);
	h = http_do(r, port, "POST", "/admin/dlq/redrive?id=x1", auth);
	CHECK_EQ(h->status, 400);
	for (int i = 0; i < 10; i++)
		actr_reactor_run_once(r, 5);
	CHECK_EQ(told, 0);
	g = http_get(r, port, "/metrics");
	CHECK_EQ(sample(g->body, "actr_mailbox_dlq_size"), 1);

	/* the right token: redriven, and the handler sees the message */
	h = http_do(r, port, "POST", "/admin/dlq/redrive?id=all", auth);
	CHECK_EQ(h->status, 200);
	CHECK_STR(h->body, "{\"ok\":true,\"redriven\":1}\n");
	rt_run(r, &told, 1, 5000);
	CHECK_EQ(told, 1);
	CHECK_STR(told_payload, "first");
	g = http_get(r, port, "/metrics");
	CHECK_EQ(sample(g->body, "actr_mailbox_dlq_size"), 0);
	CHECK_EQ(sample(g->body, "actr_metrics_admin_requests_total"
			"{outcome=\"ok\"}"), 1);
	CHECK_EQ(sample(g->body, "actr_metrics_admin_requests_total"
			"{outcome=\"unauthorized\"}"), 2);
	CHECK_EQ(sample(g->body, "actr_metrics_admin_requests_total"
			"{outcome=\"forbidden\"}"), 1);
	CHECK_EQ(sample(g->body, "actr_metrics_admin_requests_total"
			"{outcome=\"bad_request\"}"), 3);

	/* the CLI: the file-based command refuses and points to --node;
	 * --node with the token file redrives through the endpoint */
	dead_letter(srv.peer, actr_node_id(cli.node), "second");
	snprintf(args, sizeof(args), "dlq redrive %s", mbox);
	CHECK_EQ(actr_async(r, args, out, sizeof(out)), 1);
	CHECK(strstr(out, "open in a running node"));
	CHECK(strstr(out, "--node http://HOST:PORT --token-file"));
	f = fopen(tokf, "w");
	CHECK(f);
	fprintf(f, "s3cret-admin-token-0124\n");	/* wrong */
	fclose(f);
	snprintf(args, sizeof(args), "dlq redrive --node "
		 "http://127.0.0.1:%u --token-file %s", port, tokf);
	CHECK_EQ(actr_async(r, args, out, sizeof(out)), 1);
	CHECK(strstr(out, "HTTP 403"));
	CHECK(strstr(out, "hint: check the token file"));
	CHECK_EQ(told, 1);
	f = fopen(tokf, "w");
	CHECK(f);
	fprintf(f, "%s\n", ADMIN_TOKEN);
	fclose(f);
	snprintf(args, sizeof(args), "--json dlq redrive --node "
		 "http://127.0.0.1:%u --token-file %s", port, tokf);
	CHECK_EQ(actr_async(r, args, out, sizeof(out)), 0);
	CHECK(strstr(out, "\"redriven\":1"));
	rt_run(r, &told, 2, 5000);
	CHECK_EQ(told, 2);
	CHECK_STR(told_payload, "second");

	/* purge: gone, never handled */
	dead_letter(srv.peer, actr_node_id(cli.node), "third");
	snprintf(args, sizeof(args), "--json --category max_attempts dlq "
		 "purge --node http://127.0.0.1:%u --token-file %s", port,
		 tokf);
	CHECK_EQ(actr_async(r, args, out, sizeof(out)), 0);
	CHECK(strstr(out, "\"purged\":1"));
	for (int i = 0; i < 20; i++)
		actr_reactor_run_once(r, 5);
	CHECK_EQ(told, 2);
	g = http_get(r, port, "/metrics");
	CHECK_EQ(sample(g->body, "actr_mailbox_dlq_size"), 0);

	/* an endpoint without a token has no /admin/ at all */
	{
		struct actr_metrics_config pc = { ACTR_OPTS(pc) };

		plain = actr_metrics_new(r, &pc);
		CHECK(plain);
		CHECK_OK(actr_metrics_add_peer(plain, srv.peer));
		h = http_do(r, actr_metrics_port(plain), "POST",
			    "/admin/dlq/redrive?id=all", auth);
		CHECK_EQ(h->status, 404);
		g = http_get(r, actr_metrics_port(plain), "/metrics");
		CHECK(!strstr(g->body, "actr_metrics_admin_requests_total"));
		actr_metrics_free(plain);
	}

	actr_metrics_free(m);
	rt_node_free(&cli);
	rt_node_free(&srv);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}

/* [observability] admin_token_file: the token read from the file; a
 * missing or empty file is refused, naming the key */
TEST(metrics_admin_token_config)
{
	actr_config_t *c = actr_config_new();
	char tok[600], cfg[600], err[256] = "";
	char buf[64];
	FILE *f;

	CHECK(c);
	snprintf(tok, sizeof(tok), "%s/admin.token", actr_test_tmpdir());
	snprintf(cfg, sizeof(cfg), "%s/node.toml", actr_test_tmpdir());
	f = fopen(tok, "w");
	CHECK(f);
	fprintf(f, "%s  \n# not read\n", ADMIN_TOKEN);
	fclose(f);
	CHECK_OK(actr_metrics_read_token(tok, buf, sizeof(buf)));
	CHECK_STR(buf, ADMIN_TOKEN);
	CHECK_EQ(actr_metrics_read_token(tok, buf, 8), -ACTR_ETOOBIG);
	f = fopen(cfg, "w");
	CHECK(f);
	fprintf(f, "[observability]\nmetrics = \"127.0.0.1:0\"\n"
		"admin_token_file = \"%s\"\n", tok);
	fclose(f);
	CHECK_OK(actr_config_load(c, cfg, err, sizeof(err)));
	CHECK(actr_config_metrics(c));
	CHECK_STR(actr_config_metrics(c)->admin_token, ADMIN_TOKEN);
	actr_config_free(c);

	c = actr_config_new();
	CHECK(c);
	f = fopen(cfg, "w");
	CHECK(f);
	fprintf(f, "[observability]\nadmin_token_file = \"%s/none\"\n",
		actr_test_tmpdir());
	fclose(f);
	CHECK(actr_config_load(c, cfg, err, sizeof(err)) < 0);
	CHECK(strstr(err, "admin_token_file"));
	actr_config_free(c);
}
