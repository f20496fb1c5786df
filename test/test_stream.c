/*
 * Data streams inside one process (include/actr/stream.h): registration
 * from the shell and from a hook context, direct zero-copy delivery,
 * latest-first on STREAM_LATENCY_FIRST, unregistered and malformed chunks
 * counted, argument checks. The remote cases are in test_stream_remote.c.
 */
#include <errno.h>
#include <stdlib.h>

#include <actr/actr.h>

#include "runtime/lane.h"
#include "test.h"

struct sink {
	int n;					/* callbacks */
	const Actr__DataChunk *last_ptr;	/* chunk pointer seen */
	uint64_t last_seq;
	char from[ACTR_ID_STR_MAX + 1];		/* sender id string */
	char payload[64];
	uint64_t seqs[64];			/* sequences, in order */
	bool unregister_self;			/* unregister inside cb */
	actr_ref_t *ref;			/* for that */
};

static void on_chunk(const Actr__ActrId *from, const Actr__DataChunk *c,
		     void *arg)
{
	struct sink *s = arg;

	CHECK(from);
	actr_id_format(from, s->from, sizeof(s->from));
	s->last_ptr = c;
	s->last_seq = c->sequence;
	if (s->n < 64)
		s->seqs[s->n] = c->sequence;
	s->n++;
	snprintf(s->payload, sizeof(s->payload), "%.*s", (int)c->payload.len,
		 (const char *)c->payload.data);
	if (s->unregister_self)
		CHECK_OK(actr_stream_unregister(s->ref, c->stream_id));
}

struct world {
	actr_reactor_t *r;
	actr_system_t *sys;
	actr_node_t *a, *b;
	actr_ref_t *ra, *rb;
};

static struct sink hook_sink;

/* B registers "from-hook" from its on_start context. */
static int b_start(actr_ctx_t *ctx, void *user)
{
	(void)user;
	return actr_ctx_register_stream(ctx, "from-hook", on_chunk,
					&hook_sink);
}

static const Actr__ActrId *b_id;
static int a_ready_rc = 1;

/* A sends one chunk from its on_ready context (B runs already). */
static void a_ready(actr_ctx_t *ctx, void *user)
{
	Actr__DataChunk c = ACTR__DATA_CHUNK__INIT;

	(void)user;
	c.stream_id = "from-hook";
	c.sequence = 1;
	a_ready_rc = actr_ctx_send_data_chunk(ctx, b_id, &c,
					      ACTR_STREAM_RELIABLE);
}

static void world_new(struct world *w)
{
	actr_workload_t *wa = actr_workload_new("acme", "a", "1.0.0");
	actr_workload_t *wb = actr_workload_new("acme", "b", "1.0.0");
	actr_hooks_t hooks = { .on_start = b_start };
	actr_hooks_t ahooks = { .on_ready = a_ready };

	CHECK(wa && wb);
	actr_workload_set_hooks(wb, &hooks, NULL);
	actr_workload_set_hooks(wa, &ahooks, NULL);
	w->r = actr_reactor_new();
	CHECK(w->r);
	w->sys = actr_system_new(w->r, NULL);
	CHECK(w->sys);
	w->a = actr_node_new(w->sys, wa, 0);
	w->b = actr_node_new(w->sys, wb, 0);
	CHECK(w->a && w->b);
	b_id = actr_node_id(w->b);
	CHECK_OK(actr_node_start(w->b, &w->rb));
	CHECK_OK(actr_node_start(w->a, &w->ra));
	CHECK_OK(a_ready_rc);
}

static void world_free(struct world *w)
{
	actr_system_free(w->sys);
	actr_reactor_free(w->r);
}

static Actr__DataChunk chunk(const char *id, uint64_t seq, const char *p)
{
	Actr__DataChunk c = ACTR__DATA_CHUNK__INIT;

	c.stream_id = (char *)id;
	c.sequence = seq;
	c.payload.data = (uint8_t *)p;
	c.payload.len = strlen(p);
	return c;
}

TEST(stream_inproc_deliver)
{
	struct world w;
	struct sink s = { 0 };
	actr_stream_stats_t sa, sb;
	Actr__DataChunk c = chunk("video", 1, "hello");
	char aid[ACTR_ID_STR_MAX + 1];

	world_new(&w);
	CHECK_OK(actr_stream_register(w.rb, "video", on_chunk, &s));
	CHECK_OK(actr_stream_send(w.ra, actr_node_id(w.b), &c,
				  ACTR_STREAM_RELIABLE));
	/* direct: delivered inside the send, the sender's own struct */
	CHECK_EQ(s.n, 1);
	CHECK(s.last_ptr == &c);
	CHECK_STR(s.payload, "hello");
	actr_id_format(actr_node_id(w.a), aid, sizeof(aid));
	CHECK_STR(s.from, aid);
	/* nothing went through the dispatcher */
	CHECK_EQ(actr_system_stats(w.sys)->handled, 0);
	/* contexts: B registered from on_start, A sent from on_ready */
	CHECK_EQ(hook_sink.n, 1);
	CHECK_EQ(hook_sink.last_seq, 1);
	CHECK_STR(hook_sink.from, aid);
	c = chunk("from-hook", 7, "hook");
	CHECK_OK(actr_stream_send(w.ra, actr_node_id(w.b), &c,
				  ACTR_STREAM_LATENCY_FIRST));
	CHECK_EQ(hook_sink.n, 2);
	CHECK_EQ(hook_sink.last_seq, 7);
	/* reliable delivers every chunk in order, even "older" ones */
	for (uint64_t i = 10; i > 5; i--) {
		c = chunk("video", i, "r");
		CHECK_OK(actr_stream_send(w.ra, actr_node_id(w.b), &c,
					  ACTR_STREAM_RELIABLE));
	}
	CHECK_EQ(s.n, 6);
	CHECK_EQ(s.seqs[5], 6);
	actr_stream_get_stats(w.ra, &sa);
	actr_stream_get_stats(w.rb, &sb);
	CHECK_EQ(sa.chunks_out, 8);
	CHECK_EQ(sb.chunks_in, 8);
	CHECK_EQ(sb.stale, 0);
	world_free(&w);
}

TEST(stream_inproc_latest_first)
{
	struct world w;
	struct sink s = { 0 };
	actr_stream_stats_t sb;
	static const uint64_t seqs[] = { 5, 3, 5, 6, 1, 9, 8, 10 };
	Actr__DataChunk c;

	world_new(&w);
	CHECK_OK(actr_stream_register(w.rb, "pos", on_chunk, &s));
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		c = chunk("pos", seqs[i], "x");
		CHECK_OK(actr_stream_send(w.ra, actr_node_id(w.b), &c,
					  ACTR_STREAM_LATENCY_FIRST));
	}
	/* only ever newer: 5 6 9 10 */
	CHECK_EQ(s.n, 4);
	CHECK_EQ(s.seqs[0], 5);
	CHECK_EQ(s.seqs[1], 6);
	CHECK_EQ(s.seqs[2], 9);
	CHECK_EQ(s.seqs[3], 10);
	actr_stream_get_stats(w.rb, &sb);
	CHECK_EQ(sb.stale, 4);
	CHECK_EQ(sb.chunks_in, 4 + 1);	/* + the one from on_ready */
	/* another sender (the shell of b itself) has its own sequence */
	c = chunk("pos", 2, "x");
	CHECK_OK(actr_stream_send(w.rb, actr_node_id(w.b), &c,
				  ACTR_STREAM_LATENCY_FIRST));
	CHECK_EQ(s.n, 5);
	/* re-registering forgets nothing; unregistering does */
	CHECK_OK(actr_stream_unregister(w.rb, "pos"));
	CHECK_OK(actr_stream_register(w.rb, "pos", on_chunk, &s));
	c = chunk("pos", 1, "x");
	CHECK_OK(actr_stream_send(w.ra, actr_node_id(w.b), &c,
				  ACTR_STREAM_LATENCY_FIRST));
	CHECK_EQ(s.n, 6);
	world_free(&w);
}

TEST(stream_inproc_unregistered)
{
	struct world w;
	struct sink s = { 0 };
	actr_stream_stats_t sb;
	Actr__DataChunk c = chunk("nobody", 1, "x");

	world_new(&w);
	/* accepted by the sender (it cannot know), dropped and counted */
	CHECK_OK(actr_stream_send(w.ra, actr_node_id(w.b), &c,
				  ACTR_STREAM_RELIABLE));
	actr_stream_get_stats(w.rb, &sb);
	CHECK_EQ(sb.unregistered, 1);
	CHECK_EQ(sb.chunks_in, 1);	/* the one from on_ready */
	/* a callback that unregisters itself gets one chunk only */
	s.unregister_self = true;
	s.ref = w.rb;
	CHECK_OK(actr_stream_register(w.rb, "once", on_chunk, &s));
	c = chunk("once", 1, "x");
	CHECK_OK(actr_stream_send(w.ra, actr_node_id(w.b), &c,
				  ACTR_STREAM_RELIABLE));
	CHECK_OK(actr_stream_send(w.ra, actr_node_id(w.b), &c,
				  ACTR_STREAM_RELIABLE));
	CHECK_EQ(s.n, 1);
	actr_stream_get_stats(w.rb, &sb);
	CHECK_EQ(sb.unregistered, 2);
	CHECK_EQ(actr_stream_unregister(w.rb, "once"), -ACTR_ENOTFOUND);
	world_free(&w);
}

TEST(stream_malformed_and_args)
{
	struct world w;
	struct sink s = { 0 };
	actr_stream_stats_t sb;
	Actr__DataChunk c = chunk("v", 1, "x"), good = c;
	Actr__ActrId other;
	Actr__ActrType t = ACTR__ACTR_TYPE__INIT;
	Actr__Realm rl = ACTR__REALM__INIT;
	static const uint8_t junk[] = { 0x0a, 0x7f, 0x01 };
	uint8_t buf[64];
	size_t n;

	world_new(&w);
	CHECK_OK(actr_stream_register(w.rb, "v", on_chunk, &s));
	/* from a peer: truncated, missing required fields, empty */
	CHECK_EQ(actr__stream_deliver(w.b, actr_node_id(w.a),
				      ACTR_STREAM_RELIABLE, junk,
				      sizeof(junk)),
		 -ACTR_EPROTO);
	CHECK_EQ(actr__stream_deliver(w.b, actr_node_id(w.a),
				      ACTR_STREAM_RELIABLE, junk, 0),
		 -ACTR_EPROTO);
	n = actr__data_chunk__pack(&good, buf);
	CHECK_OK(actr__stream_deliver(w.b, actr_node_id(w.a),
				      ACTR_STREAM_RELIABLE, buf, n));
	CHECK_EQ(s.n, 1);
	CHECK_STR(s.payload, "x");
	actr_stream_get_stats(w.rb, &sb);
	CHECK_EQ(sb.malformed, 2);
	/* caller mistakes */
	CHECK_EQ(actr_stream_send(w.ra, actr_node_id(w.b), &c, 0), -EINVAL);
	CHECK_EQ(actr_stream_send(w.ra, actr_node_id(w.b), &c, 1), -EINVAL);
	CHECK_EQ(actr_stream_send(w.ra, NULL, &c, 2), -EINVAL);
	c.stream_id = NULL;
	CHECK_EQ(actr_stream_send(w.ra, actr_node_id(w.b), &c, 2), -EINVAL);
	CHECK_EQ(actr_stream_register(w.rb, NULL, on_chunk, &s), -EINVAL);
	CHECK_EQ(actr_stream_register(w.rb, "v", NULL, &s), -EINVAL);
	CHECK_EQ(actr_stream_configure(w.ra, &(actr_stream_opts_t){
		 ACTR_OPTS(actr_stream_opts_t), .high_water = 10,
		 .low_water = 10 }), -EINVAL);
	CHECK_OK(actr_stream_configure(w.ra, &(actr_stream_opts_t){
		 ACTR_OPTS(actr_stream_opts_t), .high_water = 10 }));
	/* an actor not in this process, and no peer gate */
	other = *actr_node_id(w.b);
	rl.realm_id = other.realm->realm_id;
	t.manufacturer = "acme";
	t.name = "elsewhere";
	t.version = "1.0.0";
	other.realm = &rl;
	other.type = &t;
	other.serial_number = 999;
	CHECK_EQ(actr_stream_send(w.ra, &other, &good, 2),
		 -ACTR_EUNAVAILABLE);
	CHECK_EQ(actr_stream_buffered(w.ra, &other, 2), 0);
	CHECK_EQ(actr_stream_buffered(w.ra, actr_node_id(w.b), 2), 0);
	world_free(&w);
}
