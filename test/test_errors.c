/* One code per meaning (include/actr/error.h): the same event gives the
 * same code in every layer. Each test drives a representative failure
 * path of several layers and checks the documented code, so a second
 * spelling (-ETIMEDOUT next to -ACTR_ETIMEDOUT, -ENOENT next to
 * -ACTR_ENOTFOUND, -EINVAL for a peer's bytes) fails here.
 * scripts/check_errors.py (make check) refuses the old spellings in the
 * library's sources. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/net.h>

#include "core/internal.h"
#include "net/http_internal.h"
#include "runtime/lane.h"
#include "test.h"
#include "wire/dtls.h"
#include "wire/sdp.h"

/* Every ACTR_E* value has its own name. */
TEST(errors_strerror_names_every_code)
{
	static const int codes[] = {
		ACTR_EUNAVAILABLE, ACTR_ETIMEDOUT, ACTR_ENOTFOUND,
		ACTR_EPERM, ACTR_EINVALARG, ACTR_EUNKNOWNROUTE,
		ACTR_EDEPNOTFOUND, ACTR_EDECODE, ACTR_ENOTIMPL,
		ACTR_EINTERNAL, ACTR_ENOTREADY, ACTR_EPROTO, ACTR_ETOOBIG,
		ACTR_ECLOSED, ACTR_ECORRUPT, ACTR_EAUTH, ACTR_EAGAIN,
		ACTR_ECANCELED,
	};
	size_t n = ACTR_ARRAY_LEN(codes);

	for (size_t i = 0; i < n; i++) {
		const char *s = actr_strerror(-codes[i]);

		CHECK(s && strcmp(s, "unknown error") != 0);
		CHECK_STR(actr_strerror(codes[i]), s);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(actr_strerror(codes[j]), s) != 0);
	}
	CHECK_STR(actr_strerror(0), "success");
	CHECK_STR(actr_strerror(-10000), "unknown error");
	CHECK_STR(actr_strerror(-10012), "unknown error");
	CHECK_STR(actr_strerror(-10107), "unknown error");
	CHECK(strcmp(actr_strerror(-EINVAL), "unknown error") != 0);
}

/* ---- timeouts: -ACTR_ETIMEDOUT in core, wire, net and runtime ---------- */

struct dtls_ep {
	int st;		/* last state */
	int err;	/* its error */
	int failed;	/* FAILED seen */
};

static int drop_all(void *arg, const uint8_t *p, size_t n)
{
	(void)arg;
	(void)p;
	(void)n;
	return 0;
}

static void ep_up(void *arg, const uint8_t *p, size_t n)
{
	(void)arg;
	(void)p;
	(void)n;
}

static void ep_state(void *arg, enum actr__dtls_state st, int err)
{
	struct dtls_ep *e = arg;

	e->st = st;
	e->err = err;
	e->failed |= st == ACTR_DTLS_FAILED;
}

static bool run_until_flag(actr_reactor_t *r, const int *flag, int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));

	while (!*flag && actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
	return *flag != 0;
}

struct resp {
	int done;	/* completion seen */
	int rc;		/* its code */
};

static void on_resp(actr_http_call_t *call, int rc, int status,
		    const uint8_t *body, size_t len, void *arg)
{
	struct resp *p = arg;

	(void)call;
	(void)status;
	(void)body;
	(void)len;
	p->rc = rc;
	p->done = 1;
}

static void on_result(const actr_result_t *res, void *arg)
{
	struct resp *p = arg;

	p->rc = res->status;
	p->done = 1;
}

static int h_never(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	actr_ctx_t **kept = actr_ctx_user(ctx);

	(void)d;
	(void)n;
	*kept = actr_ctx_keep(ctx);
	return 0;
}

static void on_busy(actr_timer_t *t, void *arg)
{
	(void)t;
	(void)arg;
}

TEST(errors_timeouts_are_actr_etimedout)
{
	actr_reactor_t *r = actr_reactor_new();
	static const struct actr__dtls_cbs cbs = {
		.send_down = drop_all, .deliver_up = ep_up, .state = ep_state
	};
	actr__dtls_cert_t *cert = actr__dtls_cert_new();
	struct actr__dtls_opts o = { .role = ACTR_DTLS_CLIENT,
				     .handshake_timeout_ms = 100,
				     .initial_rto_ms = 50 };
	struct dtls_ep ep = { 0 };
	actr__dtls_t *d;
	struct actr_http_request rq = { 0 };
	struct resp hp = { 0 }, cp = { 0 };
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t sl = sizeof(a);
	int lfd;
	char url[64];
	actr_system_t *sys;
	actr_workload_t *w;
	actr_node_t *node;
	actr_ref_t *ref;
	actr_ctx_t *kept = NULL;
	actr_timer_t busy;

	actr_log_set_level(ACTR_LOG_ERROR);
	CHECK(r && cert);

	/* wire/: a DTLS handshake whose peer never answers. */
	o.remote_fingerprint = actr__dtls_cert_fingerprint(cert);
	d = actr__dtls_new(r, cert, &o, &cbs, &ep);
	CHECK(d);
	CHECK_OK(actr__dtls_start(d));
	CHECK(run_until_flag(r, &ep.failed, 3000));
	CHECK_EQ(ep.err, -ACTR_ETIMEDOUT);
	actr__dtls_free(d);
	actr__dtls_cert_unref(cert);

	/* net/: an HTTP request to a listener that never answers. */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK_OK(bind(lfd, (struct sockaddr *)&a, sizeof(a)));
	CHECK_OK(listen(lfd, 4));
	CHECK_OK(getsockname(lfd, (struct sockaddr *)&a, &sl));
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", ntohs(a.sin_port));
	rq.url = url;
	rq.timeout_ms = 100;
	CHECK(actr_http_request(r, &rq, on_resp, &hp));
	CHECK(run_until_flag(r, &hp.done, 3000));
	CHECK_EQ(hp.rc, -ACTR_ETIMEDOUT);
	close(lfd);

	/* runtime/: a call whose handler never replies. */
	sys = actr_system_new(r, NULL);
	CHECK(sys);
	w = actr_workload_new("acme", "never", "1.0.0");
	CHECK(w);
	CHECK_OK(actr_workload_add_route(w, "t.T.Never", h_never,
					 ACTR__PAYLOAD_TYPE__RPC_RELIABLE));
	actr_workload_set_hooks(w, &(actr_hooks_t){ 0 }, &kept);
	node = actr_node_new(sys, w, 0);
	CHECK(node);
	CHECK_OK(actr_node_start(node, &ref));
	CHECK_OK(actr_ref_call_raw(ref, "t.T.Never", "x", 1, 30, on_result,
				   &cp));
	CHECK(run_until_flag(r, &cp.done, 3000));
	CHECK_EQ(cp.rc, -ACTR_ETIMEDOUT);
	CHECK(kept);
	actr_reply_raw(kept, "late", 4); /* dropped: the call timed out */
	actr_system_free(sys);

	/* core/: a drain that cannot finish. */
	actr_timer_init(r, &busy, on_busy, NULL);
	CHECK_OK(actr_timer_start(&busy, ACTR_MS(60000), 0));
	CHECK_EQ(actr_reactor_drain(r, 20), -ACTR_ETIMEDOUT);
	actr_timer_stop(&busy);
	actr_reactor_drain(r, 1000);
	actr_reactor_free(r);
}

/* ---- a peer's malformed bytes: -ACTR_EPROTO; absent: -ACTR_ENOTFOUND --- */

TEST(errors_malformed_peer_input_is_actr_eproto)
{
	actr_reactor_t *r = actr_reactor_new();
	actr_system_t *sys;
	Actr__RpcEnvelope e;
	struct actr__sdp *sdp = calloc(1, sizeof(*sdp));
	char out[64];
	char alg[16];
	uint8_t md[64];
	struct actr__url u;

	actr_log_set_level(ACTR_LOG_ERROR);
	CHECK(r && sdp);
	sys = actr_system_new(r, NULL);
	CHECK(sys);

	/* runtime/: an inbound REQUEST that names no caller. */
	CHECK_OK(actr_envelope_request(&e, "t.T.Echo", "req-1", "hey", 3,
				       5000));
	CHECK_EQ(actr__system_deliver(sys, NULL, NULL, NULL, &e,
				      ACTR__PAYLOAD_TYPE__RPC_RELIABLE),
		 -ACTR_EPROTO);
	/* ... and one without a request id. */
	e.request_id = NULL;
	CHECK_EQ(actr__system_deliver(sys, NULL, NULL, NULL, &e,
				      ACTR__PAYLOAD_TYPE__RPC_RELIABLE),
		 -ACTR_EPROTO);
	CHECK_EQ(actr__system_deliver(sys, NULL, NULL, NULL, NULL, 0),
		 -EINVAL); /* our own caller's mistake */

	/* wire/: SDP, candidates and fingerprints a peer sent. */
	CHECK_EQ(actr__sdp_parse("v=0\r\n", 5, sdp), -ACTR_EPROTO);
	CHECK_EQ(actr__sdp_add_candidate(sdp, "nonsense"), -ACTR_EPROTO);
	CHECK_EQ(actr__dtls_parse_fingerprint("md5 AB:CD", alg, md,
					      sizeof(md)),
		 -ACTR_EPROTO);

	/* net/: a query string from a client. */
	CHECK_EQ(actr_http_query_get("a=%zz", "a", out, sizeof(out)),
		 -ACTR_EPROTO);
	CHECK_EQ(actr_http_query_get("a=1", "b", out, sizeof(out)),
		 -ACTR_ENOTFOUND);
	CHECK_EQ(actr_http_query_get(NULL, "b", out, sizeof(out)), -EINVAL);
	/* a URL is the caller's: -EINVAL, however long */
	CHECK_EQ(actr__url_parse("ftp://h/", &u), -EINVAL);

	free(sdp);
	actr_system_free(sys);
	actr_reactor_free(r);
}

/* A missing method of a bound service is -ACTR_ENOTFOUND, as a missing
 * actor, key or header is. */
TEST(errors_not_found_is_actr_enotfound)
{
	actr_workload_t *w = actr_workload_new("a", "b", "1");
	static const ProtobufCMethodDescriptor m = { "Real", NULL, NULL };
	static const ProtobufCServiceDescriptor svc = {
		.magic = PROTOBUF_C__SERVICE_DESCRIPTOR_MAGIC,
		.name = "x.S", .short_name = "S", .c_name = "x__S",
		.package = "x", .n_methods = 1, .methods = &m,
	};
	static const actr_method_t bad[] = {
		{ .name = "Nope", .fn = (void *)1 }, { 0 }
	};

	CHECK(w);
	CHECK_EQ(actr_workload_add_service(w, &svc, bad), -ACTR_ENOTFOUND);
	actr_workload_free(w);
}
