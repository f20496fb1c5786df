/*
 * counter server: named counters, with updates pushed to subscribers.
 *
 * The second example, richer than echo_actor: several methods, a
 * subscription whose updates are tells from the service back to each
 * subscriber (counter.Watcher.Updated), the whole configuration from a
 * file and the standard flags (<actr/config.h>), and typed stubs
 * generated from counter.proto by tools/protoc-gen-actr.
 *
 *   server [--config counter.toml] [--signaling URL] [--realm ID]
 *          [--realm-secret S] [--local-addr IP] [--acl RULES] ...
 *
 * Registers acme:counter:1.0.0 unless the configuration names another
 * type. Prints "ready <ActrId>" once registered; runs until Ctrl+C.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <actr/actr.h>
#include <actr/sigclient.h>

#include "examples/counter/counter.actr.h"

#define MAX_COUNTERS 32
#define MAX_SUBS 16

struct counter {
	char name[64];
	int64_t value;
	uint64_t version;
	Actr__ActrId *subs[MAX_SUBS];	/* watchers (owned copies) */
	unsigned nsubs;
};

static struct counter counters[MAX_COUNTERS];
static unsigned ncounters;

/* The counter called name, created at 0 (NULL when full or bad). */
static struct counter *find(const char *name, bool create)
{
	for (unsigned i = 0; i < ncounters; i++)
		if (!strcmp(counters[i].name, name))
			return &counters[i];
	if (!create || ncounters == MAX_COUNTERS || !*name ||
	    strlen(name) >= sizeof(counters[0].name))
		return NULL;
	snprintf(counters[ncounters].name, sizeof(counters[0].name), "%s",
		 name);
	return &counters[ncounters++];
}

static void value_of(const struct counter *k, Counter__Value *v)
{
	counter__value__init(v);
	v->name = (char *)k->name;
	v->value = k->value;
	v->version = k->version;
}

static int Add(actr_ctx_t *ctx, const Counter__AddRequest *req)
{
	struct counter *k = find(req->name, true);
	Counter__Value v;

	if (!k)
		return actr_reply_error(ctx, ACTR_EINVALARG,
					"bad counter name or too many counters");
	k->value += req->delta;
	k->version++;
	value_of(k, &v);
	/* push to every watcher: a tell each, no reply awaited */
	for (unsigned i = 0; i < k->nsubs; i++)
		if (counter__watcher__updated_tell(ctx, k->subs[i], &v) < 0)
			fprintf(stderr, "server: update to a watcher failed\n");
	return actr_reply(ctx, &v.base);
}

static int Get(actr_ctx_t *ctx, const Counter__GetRequest *req)
{
	struct counter *k = find(req->name, false);
	Counter__Value v;

	if (!k)
		return actr_reply_error(ctx, ACTR_ENOTFOUND, "no such counter");
	value_of(k, &v);
	return actr_reply(ctx, &v.base);
}

static int Subscribe(actr_ctx_t *ctx, const Counter__SubscribeRequest *req)
{
	const Actr__ActrId *who = actr_ctx_caller(ctx);
	struct counter *k = find(req->name, true);
	Counter__SubscribeAck ack = COUNTER__SUBSCRIBE_ACK__INIT;

	if (!who)
		return actr_reply_error(ctx, ACTR_EINVALARG,
					"subscribe from an actor, not a shell");
	if (!k)
		return actr_reply_error(ctx, ACTR_EINVALARG, "bad counter name");
	if (k->nsubs == MAX_SUBS)
		return actr_reply_error(ctx, ACTR_EUNAVAILABLE,
					"too many watchers");
	k->subs[k->nsubs] = actr_id_dup(who);
	if (!k->subs[k->nsubs])
		return actr_reply_error(ctx, ACTR_EINTERNAL, "out of memory");
	k->nsubs++;
	ack.value = k->value;
	ack.subscribers = k->nsubs;
	return actr_reply(ctx, &ack.base);
}

static int Unsubscribe(actr_ctx_t *ctx, const Counter__SubscribeRequest *req)
{
	const Actr__ActrId *who = actr_ctx_caller(ctx);
	struct counter *k = find(req->name, false);
	Counter__Empty e = COUNTER__EMPTY__INIT;

	for (unsigned i = 0; k && who && i < k->nsubs; i++) {
		char a[ACTR_ID_STR_MAX + 1], b[ACTR_ID_STR_MAX + 1];

		actr_id_format(k->subs[i], a, sizeof(a));
		actr_id_format(who, b, sizeof(b));
		if (strcmp(a, b))
			continue;
		actr_proto_free(k->subs[i]);
		k->subs[i] = k->subs[--k->nsubs];
		break;
	}
	return actr_reply(ctx, &e.base);
}

static void on_state(actr_peer_t *p, int state, void *arg)
{
	char id[ACTR_ID_STR_MAX + 1];

	(void)p;
	if (state != ACTR_SIG_CONNECTED)
		return;
	actr_id_format(actr_ref_id(arg), id, sizeof(id));
	printf("ready %s\n", id);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const Counter__Counter_Actr handlers = {
		.Add = Add, .Get = Get, .Subscribe = Subscribe,
		.Unsubscribe = Unsubscribe,
	};
	actr_config_t *c = actr_config_new();
	const Actr__ActrType *t;
	actr_peer_config_t pc;
	actr_metrics_t *metrics = NULL;
	actr_reactor_t *r;
	actr_system_t *sys;
	actr_workload_t *w;
	actr_node_t *node;
	actr_ref_t *ref;
	actr_peer_t *peer;
	char err[300];

	if (!c || actr_config_args(c, &argc, argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "server: %s\n", c ? err : "out of memory");
		return 2;
	}
	if (argc > 1) {
		fprintf(stderr, "server: unexpected argument %s (see the "
			"flags in examples/counter/server.c)\n", argv[1]);
		return 2;
	}
	if (!actr_config_peer(c)->signaling_url) {
		fprintf(stderr, "server: no signaling URL: --signaling URL or "
			"[signaling] url in --config FILE\n");
		return 2;
	}
	t = actr_config_type(c);
	r = actr_reactor_new();
	sys = actr_system_new(r, actr_config_system(c));
	w = actr_workload_new(t ? t->manufacturer : "acme",
			      t ? t->name : "counter",
			      t ? t->version : "1.0.0");
	if (!sys || !w || counter__counter__actr_add(w, &handlers) < 0)
		return 1;
	actr_workload_set_acl(w, actr_config_acl(c));
	node = actr_node_new(sys, w, 0);
	if (!node || actr_node_start(node, &ref) < 0)
		return 1;
	pc = *actr_config_peer(c);
	pc.on_state = on_state;
	pc.arg = ref;
	peer = actr_peer_new(node, &pc);
	if (!peer || actr_peer_start(peer) < 0) {
		fprintf(stderr, "server: cannot start the peer gate\n");
		return 1;
	}
	/* --metrics HOST:PORT or [observability] metrics: the endpoint */
	if (actr_config_metrics(c)) {
		metrics = actr_metrics_new(r, actr_config_metrics(c));
		if (!metrics) {
			fprintf(stderr, "server: cannot serve metrics: the "
				"address is taken or not local\n");
			return 1;
		}
		actr_metrics_add_system(metrics, sys);
		actr_metrics_add_peer(metrics, peer);
	}
	actr_ref_run_until_signal(ref);
	actr_metrics_free(metrics);
	actr_peer_free(peer);
	actr_system_free(sys);
	actr_reactor_drain(r, 3000); /* let closes finish */
	actr_reactor_free(r);
	for (unsigned i = 0; i < ncounters; i++)
		for (unsigned j = 0; j < counters[i].nsubs; j++)
			actr_proto_free(counters[i].subs[j]);
	actr_config_free(c);
	return 0;
}
