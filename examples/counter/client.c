/*
 * counter client: change, read or watch a counter of the counter server.
 *
 *   client [config flags] add NAME DELTA
 *   client [config flags] get NAME
 *   client [config flags] watch NAME COUNT
 *
 * The config flags are <actr/config.h>'s (--config FILE, --signaling URL,
 * --realm ID, --realm-secret S, --local-addr IP, ...), plus --target
 * MFR:NAME:VERSION (acme:counter:1.0.0). watch subscribes, prints each
 * update the server pushes ("update NAME VALUE vVERSION"), unsubscribes
 * after COUNT of them and exits. Exit status 0 when everything worked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <actr/actr.h>
#include <actr/sigclient.h>

#include "examples/counter/counter.actr.h"

static struct {
	actr_peer_t *peer;
	actr_ref_t *ref;
	Actr__ActrType *target;
	const char *op, *name;
	long long arg;			/* delta, or updates to wait for */
	long long seen;			/* updates received */
	bool started;
	int status;			/* exit status */
} app = { .status = 1 };

static void stop(int status)
{
	app.status = status;
	actr_ref_shutdown(app.ref, NULL, NULL);
}

static void on_value(const actr_result_t *res, const Counter__Value *v,
		     void *arg)
{
	(void)arg;
	if (!v) {
		fprintf(stderr, "client: %s %s failed: %s (%d)\n", app.op,
			app.name, res->message, -res->status);
		stop(1);
		return;
	}
	printf("%s = %lld (v%llu)\n", v->name, (long long)v->value,
	       (unsigned long long)v->version);
	stop(0);
}

static void on_unsubscribed(const actr_result_t *res, const Counter__Empty *e,
			    void *arg)
{
	(void)e;
	(void)arg;
	stop(res->status < 0 ? 1 : 0);
}

/* counter.Watcher.Updated, told by the server. */
static int Updated(actr_ctx_t *ctx, const Counter__Value *v)
{
	Counter__SubscribeRequest rq = COUNTER__SUBSCRIBE_REQUEST__INIT;

	(void)ctx;
	printf("update %s %lld v%llu\n", v->name, (long long)v->value,
	       (unsigned long long)v->version);
	fflush(stdout);
	if (++app.seen == app.arg) {
		rq.name = (char *)app.name;
		if (counter__counter__unsubscribe_call_peer(
			    app.peer, app.target, &rq, 5000, on_unsubscribed,
			    NULL) < 0)
			stop(1);
	}
	return 0;
}

static void on_subscribed(const actr_result_t *res,
			  const Counter__SubscribeAck *ack, void *arg)
{
	(void)arg;
	if (!ack) {
		fprintf(stderr, "client: subscribe %s failed: %s\n", app.name,
			res->message);
		stop(1);
		return;
	}
	printf("subscribed %s = %lld (%u watching)\n", app.name,
	       (long long)ack->value, ack->subscribers);
	fflush(stdout);
}

static void on_state(actr_peer_t *p, int state, void *arg)
{
	Counter__AddRequest add = COUNTER__ADD_REQUEST__INIT;
	Counter__GetRequest get = COUNTER__GET_REQUEST__INIT;
	Counter__SubscribeRequest sub = COUNTER__SUBSCRIBE_REQUEST__INIT;
	int rc;

	(void)arg;
	if (state != ACTR_SIG_CONNECTED || app.started)
		return;
	app.started = true;
	if (!strcmp(app.op, "add")) {
		add.name = (char *)app.name;
		add.delta = app.arg;
		rc = counter__counter__add_call_peer(p, app.target, &add, 10000,
						     on_value, NULL);
	} else if (!strcmp(app.op, "get")) {
		get.name = (char *)app.name;
		rc = counter__counter__get_call_peer(p, app.target, &get, 10000,
						     on_value, NULL);
	} else {
		sub.name = (char *)app.name;
		rc = counter__counter__subscribe_call_peer(
			p, app.target, &sub, 10000, on_subscribed, NULL);
	}
	if (rc < 0) {
		fprintf(stderr, "client: %s\n", actr_strerror(rc));
		stop(1);
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: client [config flags] [--target TYPE] "
		"add NAME DELTA | get NAME | watch NAME COUNT\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const Counter__Watcher_Actr watcher = { .Updated = Updated };
	actr_config_t *c = actr_config_new();
	const char *target = "acme:counter:1.0.0";
	actr_peer_config_t pc;
	actr_reactor_t *r;
	actr_system_t *sys;
	actr_workload_t *w;
	actr_node_t *node;
	char err[300];
	int i = 1;

	if (!c || actr_config_args(c, &argc, argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "client: %s\n", c ? err : "out of memory");
		return 2;
	}
	if (argc > 2 && !strcmp(argv[1], "--target")) {
		target = argv[2];
		i = 3;
	}
	if (argc - i < 2)
		return usage();
	app.op = argv[i];
	app.name = argv[i + 1];
	if (!strcmp(app.op, "add") || !strcmp(app.op, "watch")) {
		if (argc - i != 3)
			return usage();
		app.arg = atoll(argv[i + 2]);
	} else if (strcmp(app.op, "get") || argc - i != 2) {
		return usage();
	}
	if (actr_type_parse(target, &app.target) < 0) {
		fprintf(stderr, "client: --target %s is not MFR:NAME:VERSION\n",
			target);
		return 2;
	}
	if (!actr_config_peer(c)->signaling_url) {
		fprintf(stderr, "client: no signaling URL: --signaling URL or "
			"[signaling] url in --config FILE\n");
		return 2;
	}
	r = actr_reactor_new();
	sys = actr_system_new(r, actr_config_system(c));
	w = actr_workload_new("acme", "counter-client", "1.0.0");
	if (!sys || !w || counter__watcher__actr_add(w, &watcher) < 0)
		return 1;
	node = actr_node_new(sys, w, 0);
	if (!node || actr_node_start(node, &app.ref) < 0)
		return 1;
	pc = *actr_config_peer(c);
	pc.on_state = on_state;
	app.peer = actr_peer_new(node, &pc);
	if (!app.peer || actr_peer_start(app.peer) < 0) {
		fprintf(stderr, "client: cannot start the peer gate\n");
		return 1;
	}
	actr_ref_run_until_signal(app.ref);
	actr_peer_free(app.peer);
	actr_system_free(sys);
	actr_reactor_drain(r, 3000); /* let closes finish */
	actr_reactor_free(r);
	actr_proto_free(app.target);
	actr_config_free(c);
	return app.status;
}
