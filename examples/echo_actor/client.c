/*
 * echo_actor client: calls the echo service over the network.
 *
 * Registers as acme:echo-client:1.0.0, finds an actor of the target type
 * (acme:echo:1.0.0 unless --type) through the signaling server and calls
 * the route (echo.EchoService.Echo unless --route) N times, one after the
 * other, printing each reply and its round-trip time. The first call
 * includes discovery, role negotiation, ICE, DTLS and SCTP. Each reply
 * must be "Echo: " + the message (the upstream echo example's rule).
 *
 *   client [--signal ws://127.0.0.1:8081] [--realm 101] [--secret S]
 *          [--local 127.0.0.1] [--type MFR:NAME:VERSION] [--route KEY]
 *          [-n N] [--size BYTES] [--timeout MS] [--expect-error CODE]
 *          [--quiet] [--prefer-ws]
 *
 * --prefer-ws calls over the target's direct WebSocket lane when it
 * advertises one (ws_address) instead of WebRTC; the last line then also
 * says how many frames went over it ("ws frames_out=N frames_in=M").
 * --size pads each message to BYTES bytes. --expect-error CODE counts a
 * call as good when it fails with that actr error code (10009 for a node
 * that serves nothing: the Rust runtime's Node.js binding). At the end a
 * line for scripts:
 *
 *   stats calls=N ok=K setup_us=S p50_us=A p99_us=B
 *
 * (setup_us: the first call, setup included; p50/p99 over the others).
 * Exit status 0 when every call succeeded (or failed as expected).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <actr/actr.h>
#include <actr/peer.h>
#include <actr/runtime.h>
#include <actr/sigclient.h>

#include "examples/echo_actor/echo.pb-c.h"

#define ECHO_PREFIX "Echo: "	/* the upstream example's reply prefix */

struct client {
	actr_peer_t *peer;	/* our gate */
	actr_reactor_t *r;	/* our reactor */
	Actr__ActrType *type;	/* target type (owned) */
	const char *route;	/* route key */
	int n, sent, ok;	/* calls to make, made, good */
	size_t size;		/* message bytes (0: "hello #i") */
	int expect_error;	/* actr code that counts as good, 0 = none */
	uint32_t timeout;	/* per call, ms */
	bool quiet;		/* no line per call */
	bool done;		/* stop the loop */
	uint64_t t0;		/* when the current call left */
	uint64_t *rtt;		/* per call, ns */
	char *text;		/* current message (size + 32 bytes) */
};

static void on_reply(const actr_result_t *res, void *arg);

static void send_next(struct client *c)
{
	Echo__EchoRequest req = ECHO__ECHO_REQUEST__INIT;
	int n, rc;

	n = sprintf(c->text, "hello #%d", ++c->sent);
	if (c->size > (size_t)n) {
		for (size_t i = (size_t)n; i < c->size; i++)
			c->text[i] = (char)('a' + (i + (size_t)c->sent) % 26);
		c->text[c->size] = '\0';
	}
	req.message = c->text;
	c->t0 = actr_time_ns();
	rc = actr_peer_call(c->peer, c->type, c->route, &req.base,
			    &echo__echo_response__descriptor, c->timeout,
			    on_reply, c);
	if (rc < 0) {
		printf("call %d: %s\n", c->sent, actr_strerror(rc));
		c->done = true;
	}
}

/* Is res the good outcome of the current call? */
static bool check_reply(struct client *c, const actr_result_t *res)
{
	const Echo__EchoResponse *reply = (const void *)res->msg;
	size_t pl = sizeof(ECHO_PREFIX) - 1;

	if (c->expect_error)
		return res->status == -c->expect_error;
	if (res->status < 0 || !reply || !reply->reply)
		return false;
	return !strncmp(reply->reply, ECHO_PREFIX, pl) &&
	       !strcmp(reply->reply + pl, c->text);
}

static void on_reply(const actr_result_t *res, void *arg)
{
	struct client *c = arg;
	const Echo__EchoResponse *reply = (const void *)res->msg;
	bool good = check_reply(c, res);

	c->rtt[c->sent - 1] = actr_time_ns() - c->t0;
	c->ok += good;
	if (!good || !c->quiet || c->sent == 1) {
		if (res->status < 0)
			printf("  call %-6d failed: %s (%s)%s\n", c->sent,
			       actr_strerror(res->status),
			       res->message ? res->message : "",
			       good ? ", as expected" : "");
		else
			printf("  call %-6d -> \"%.40s%s\"  %8.1f us%s%s\n",
			       c->sent, reply->reply,
			       strlen(reply->reply) > 40 ? "..." : "",
			       (double)c->rtt[c->sent - 1] / 1e3,
			       c->sent == 1 ? "  (includes connection setup)"
					    : "",
			       good ? "" : "  WRONG REPLY");
	}
	if (c->sent < c->n)
		send_next(c);
	else
		c->done = true;
}

static void on_state(actr_peer_t *p, int st, void *arg)
{
	struct client *c = arg;

	(void)p;

	if (st == ACTR_SIG_CONNECTED && !c->sent)
		send_next(c);
	else if (st == ACTR_SIG_FAILED)
		c->done = true;
}

static const char *arg_of(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc) {
		fprintf(stderr, "client: %s needs a value\n", argv[*i]);
		exit(2);
	}
	return argv[++*i];
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* $ACTR_BENCH_SAMPLES=FILE: the calls after the first, in us, one a line
 * (bench/peers/rust.sh draws their distribution). rtt[1..] is sorted. */
static void write_samples(struct client *c)
{
	const char *path = getenv("ACTR_BENCH_SAMPLES");
	FILE *f;

	if (!path || !*path || c->sent < 2)
		return;
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		return;
	}
	for (int i = 1; i < c->sent; i++)
		fprintf(f, "%.1f\n", (double)c->rtt[i] / 1e3);
	fclose(f);
}

static void print_stats(struct client *c)
{
	uint64_t p50 = 0, p99 = 0;
	int later = c->sent - 1;

	if (!c->sent) {
		printf("no call made: signaling server unreachable\n");
		return;
	}
	if (later > 0) {
		qsort(c->rtt + 1, (size_t)later, sizeof(*c->rtt), cmp_u64);
		p50 = c->rtt[1 + (later - 1) / 2];
		p99 = c->rtt[1 + (later * 99 + 99) / 100 - 1];
	}
	printf("%d/%d calls ok: first %.2f ms (discovery + negotiation + ICE "
	       "+ DTLS + SCTP + call), then p50 %.1f us, p99 %.1f us\n",
	       c->ok, c->n, (double)c->rtt[0] / 1e6, (double)p50 / 1e3,
	       (double)p99 / 1e3);
	printf("stats calls=%d ok=%d setup_us=%.1f p50_us=%.1f p99_us=%.1f\n",
	       c->sent, c->ok, (double)c->rtt[0] / 1e3, (double)p50 / 1e3,
	       (double)p99 / 1e3);
	write_samples(c);
}

static void usage(void)
{
	fprintf(stderr, "usage: client [--signal URL] [--realm ID] "
		"[--secret S] [--local IP] [--type MFR:NAME:VERSION] "
		"[--route KEY] [-n N] [--size BYTES] [--timeout MS] "
		"[--expect-error CODE] [--quiet] [--prefer-ws]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct client c = { .n = 5, .timeout = 10000,
			    .route = "echo.EchoService.Echo" };
	actr_peer_config_t pc = { ACTR_OPTS(pc),
				  .signaling_url = "ws://127.0.0.1:8081",
				  .local_addr = "127.0.0.1" };
	actr_system_config_t sc = { ACTR_OPTS(sc), .realm_id = 101 };
	const char *type_s = "acme:echo:1.0.0";
	actr_system_t *sys;
	actr_workload_t *w;
	actr_node_t *node;
	actr_ref_t *ref;
	uint64_t end;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--signal"))
			pc.signaling_url = arg_of(argc, argv, &i);
		else if (!strcmp(a, "--realm"))
			sc.realm_id = (uint32_t)atoi(arg_of(argc, argv, &i));
		else if (!strcmp(a, "--secret"))
			pc.realm_secret = arg_of(argc, argv, &i);
		else if (!strcmp(a, "--local"))
			pc.local_addr = arg_of(argc, argv, &i);
		else if (!strcmp(a, "--type"))
			type_s = arg_of(argc, argv, &i);
		else if (!strcmp(a, "--route"))
			c.route = arg_of(argc, argv, &i);
		else if (!strcmp(a, "-n"))
			c.n = atoi(arg_of(argc, argv, &i));
		else if (!strcmp(a, "--size"))
			c.size = strtoul(arg_of(argc, argv, &i), NULL, 10);
		else if (!strcmp(a, "--timeout"))
			c.timeout = (uint32_t)atoi(arg_of(argc, argv, &i));
		else if (!strcmp(a, "--expect-error"))
			c.expect_error = atoi(arg_of(argc, argv, &i));
		else if (!strcmp(a, "--quiet"))
			c.quiet = true;
		else if (!strcmp(a, "--prefer-ws"))
			pc.prefer_ws = true;
		else
			usage();
	}
	if (c.n < 1 || c.size > (64u << 20))
		usage();
	if (actr_type_parse(type_s, &c.type) < 0) {
		fprintf(stderr, "client: --type %s: expected "
			"MANUFACTURER:NAME:VERSION\n", type_s);
		return 2;
	}
	c.rtt = calloc((size_t)c.n, sizeof(*c.rtt));
	c.text = malloc(c.size + 32);
	c.r = actr_reactor_new();
	sys = c.r ? actr_system_new(c.r, &sc) : NULL;
	w = actr_workload_new("acme", "echo-client", "1.0.0");
	if (!c.rtt || !c.text || !sys || !w)
		return 1;
	node = actr_node_new(sys, w, 0);
	if (!node)
		return 1;
	pc.on_state = on_state;
	pc.arg = &c;
	c.peer = actr_peer_new(node, &pc);
	if (!c.peer || actr_node_start(node, &ref) < 0 ||
	    actr_peer_start(c.peer) < 0) {
		fprintf(stderr, "client: cannot start\n");
		return 1;
	}
	/* bounded: every call has its deadline, plus setup */
	end = actr_time_ns() + ACTR_MS(15000 + (uint64_t)c.n * c.timeout);
	while (!c.done && actr_time_ns() < end)
		actr_reactor_run_once(c.r, 100);
	print_stats(&c);
	if (pc.prefer_ws) {
		actr_peer_ws_stats_t ws;

		actr_peer_get_ws_stats(c.peer, &ws);
		printf("ws frames_out=%llu frames_in=%llu\n",
		       (unsigned long long)ws.msgs_out,
		       (unsigned long long)ws.msgs_in);
	}
	actr_peer_free(c.peer);
	actr_system_free(sys);
	actr_reactor_drain(c.r, 3000); /* let closes finish */
	actr_reactor_free(c.r);
	actr_proto_free(c.type);
	free(c.rtt);
	free(c.text);
	return c.ok == c.n ? 0 : 1;
}
