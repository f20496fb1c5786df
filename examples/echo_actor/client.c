/*
 * echo_actor client: calls the echo service over the network.
 *
 * Registers as acme:echo-client:1.0.0, finds an acme:echo:1.0.0 actor
 * through the signaling server and calls echo.EchoService.Echo N times,
 * one after the other, printing each reply and its round-trip time. The
 * first call includes discovery, role negotiation, ICE, DTLS and SCTP.
 *
 *   client [--signal ws://127.0.0.1:8081] [--realm 101] [--secret S]
 *          [--local 127.0.0.1] [-n N] [--timeout MS] [--quiet]
 *
 * Exit status 0 when every call succeeded.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <actr/actr.h>
#include <actr/node.h>
#include <actr/runtime.h>
#include <actr/signal.h>

#include "proto/echo.pb-c.h"

struct client {
	actr_peer_t *peer;	/* our gate */
	actr_reactor_t *r;	/* our reactor */
	int n, sent, ok;	/* calls to make, made, succeeded */
	uint32_t timeout;	/* per call, ms */
	bool quiet;		/* no line per call */
	bool done;		/* stop the loop */
	uint64_t t0;		/* when the current call left */
	uint64_t first_ns;	/* first call (with setup) */
	uint64_t total_ns;	/* sum of the later ones */
	char text[64];		/* current message */
};

static Actr__ActrType echo_type = {
	PROTOBUF_C_MESSAGE_INIT(&actr__actr_type__descriptor), "acme",
	"echo", "1.0.0"
};

static void on_reply(const actr_result_t *res, void *arg);

static void send_next(struct client *c)
{
	Echo__EchoRequest req = ECHO__ECHO_REQUEST__INIT;
	int rc;

	snprintf(c->text, sizeof(c->text), "hello #%d", ++c->sent);
	req.message = c->text;
	c->t0 = actr_time_ns();
	rc = actr_peer_call(c->peer, &echo_type, "echo.EchoService.Echo",
			    &req.base, &echo__echo_response__descriptor,
			    c->timeout, on_reply, c);
	if (rc < 0) {
		printf("call %d: %s\n", c->sent, actr_strerror(rc));
		c->done = true;
	}
}

static void on_reply(const actr_result_t *res, void *arg)
{
	struct client *c = arg;
	uint64_t rtt = actr_time_ns() - c->t0;
	const Echo__EchoResponse *reply = (const void *)res->msg;

	if (res->status < 0) {
		printf("  %-12s failed: %s (%s)\n", c->text,
		       actr_strerror(res->status),
		       res->message ? res->message : "");
	} else {
		c->ok++;
		if (!c->quiet || c->sent == 1)
			printf("  %-12s -> \"%s\"  %8.1f us%s\n", c->text,
			       reply->reply, (double)rtt / 1e3,
			       c->sent == 1 ? "  (includes connection "
					      "setup)" : "");
	}
	if (c->sent == 1)
		c->first_ns = rtt;
	else
		c->total_ns += rtt;
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

int main(int argc, char **argv)
{
	struct client c = { .n = 5, .timeout = 10000 };
	actr_peer_config_t pc = { .signaling_url = "ws://127.0.0.1:8081",
				  .local_addr = "127.0.0.1" };
	actr_system_config_t sc = { .realm_id = 101 };
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
		else if (!strcmp(a, "-n"))
			c.n = atoi(arg_of(argc, argv, &i));
		else if (!strcmp(a, "--timeout"))
			c.timeout = (uint32_t)atoi(arg_of(argc, argv, &i));
		else if (!strcmp(a, "--quiet"))
			c.quiet = true;
		else {
			fprintf(stderr, "usage: client [--signal URL] [--realm "
				"ID] [--secret S] [--local IP] [-n N] "
				"[--timeout MS] [--quiet]\n");
			return 2;
		}
	}
	if (c.n < 1)
		return 2;
	c.r = actr_reactor_new();
	sys = c.r ? actr_system_new(c.r, &sc) : NULL;
	w = actr_workload_new("acme", "echo-client", "1.0.0");
	if (!sys || !w)
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
	if (c.sent)
		printf("%d/%d calls ok: first %.2f ms (discovery + negotiation "
		       "+ ICE + DTLS + SCTP + call), then %.1f us on "
		       "average\n", c.ok, c.n, (double)c.first_ns / 1e6,
		       c.sent > 1 ? (double)c.total_ns / (c.sent - 1) / 1e3
				  : 0.0);
	else
		printf("no call made: signaling server unreachable\n");
	actr_peer_free(c.peer);
	actr_system_free(sys);
	actr_reactor_drain(c.r, 1000); /* let closes finish */
	actr_reactor_free(c.r);
	return c.ok == c.n ? 0 : 1;
}
