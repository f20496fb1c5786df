/*
 * echo_actor demo: an echo service and a client in one process.
 *
 * The service is a workload with one typed method, echo.EchoService.Echo
 * (echo.proto), bound and called through the typed stubs that
 * tools/protoc-gen-actr generates from it (echo.actr.h). The client is the shell: it holds an actor ref and
 * calls the service N times, one after the other, printing each reply and
 * its round-trip time. Then it shuts the node down gracefully.
 *
 *   build/examples/echo_actor/demo [N]
 */
#include <stdio.h>
#include <stdlib.h>

#include <actr/actr.h>
#include <actr/runtime.h>

#include "examples/echo_actor/echo.actr.h" /* and echo.pb-c.h */

/* ---- the service --------------------------------------------------------- */

static int Echo(actr_ctx_t *ctx, const Echo__EchoRequest *req)
{
	Echo__EchoResponse resp = ECHO__ECHO_RESPONSE__INIT;

	resp.reply = req->message;
	resp.timestamp = actr_wall_ms();
	return actr_reply(ctx, &resp.base);
}

static const Echo__EchoService_Actr echo_handlers = { .Echo = Echo };

/* ---- the client ---------------------------------------------------------- */

struct client {
	actr_ref_t *ref;	/* the echo actor */
	int n, sent;		/* calls to make, calls made */
	uint64_t t0;		/* when the current call left */
	uint64_t first_ns;	/* first round trip (cold caches) */
	uint64_t total_ns;	/* sum of the later ones */
	char text[64];		/* current message */
};

static void on_reply(const actr_result_t *res,
		     const Echo__EchoResponse *reply, void *arg);

static void send_next(struct client *c)
{
	Echo__EchoRequest req = ECHO__ECHO_REQUEST__INIT;

	snprintf(c->text, sizeof(c->text), "hello #%d", ++c->sent);
	req.message = c->text;
	c->t0 = actr_time_ns();
	echo__echo_service__echo_call_ref(c->ref, &req, 1000, on_reply, c);
}

static void on_reply(const actr_result_t *res,
		     const Echo__EchoResponse *reply, void *arg)
{
	struct client *c = arg;
	uint64_t rtt = actr_time_ns() - c->t0;

	if (res->status < 0) {
		printf("call %d failed: %s\n", c->sent, res->message);
		actr_ref_shutdown(c->ref, NULL, NULL);
		return;
	}
	if (c->sent == 1)
		c->first_ns = rtt;
	else
		c->total_ns += rtt;
	printf("  %-12s -> \"%s\"  %6.2f us\n", c->text, reply->reply,
	       (double)rtt / 1e3);
	if (c->sent < c->n)
		send_next(c);
	else
		actr_ref_shutdown(c->ref, NULL, NULL);
}

int main(int argc, char **argv)
{
	struct client c = { .n = argc > 1 ? atoi(argv[1]) : 5 };
	char id[ACTR_ID_STR_MAX + 1];
	actr_reactor_t *r = actr_reactor_new();
	actr_system_t *sys = actr_system_new(r, NULL);
	actr_workload_t *w = actr_workload_new("acme", "echo", "1.0.0");
	actr_node_t *node;

	if (!sys || !w || c.n < 1 ||
	    echo__echo_service__actr_add(w, &echo_handlers) < 0)
		return 1;
	node = actr_node_new(sys, w, 0);
	if (!node || actr_node_start(node, &c.ref) < 0)
		return 1;

	actr_id_format(actr_ref_id(c.ref), id, sizeof(id));
	printf("echo actor %s: %d calls\n", id, c.n);
	send_next(&c);
	actr_ref_run_until_signal(c.ref);	/* until shutdown or Ctrl+C */
	printf("%d calls: first %.1f us (cold), then %.2f us on average\n",
	       c.sent, (double)c.first_ns / 1e3,
	       c.sent > 1 ? (double)c.total_ns / (c.sent - 1) / 1e3 : 0.0);

	actr_system_free(sys);
	actr_reactor_free(r);
	return 0;
}
