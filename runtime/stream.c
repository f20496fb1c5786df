/*
 * Data streams (include/actr/stream.h): a node's registry of stream
 * callbacks, the latest-first filter of STREAM_LATENCY_FIRST, the
 * coalescing slots of its sender and the backpressure bookkeeping.
 *
 * Nothing here touches the mailbox or the dispatcher: an in-process chunk
 * goes from actr_stream_send straight to the target's callback, a remote
 * one through the lane seam's send_stream (runtime/lane.h) and comes back
 * in through actr__stream_deliver.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <actr/log.h>
#include <actr/stream.h>

#include "proto/chunk.h"
#include "runtime/internal.h"

#define TAG "stream"

#define STREAM_KEY (12 + ACTR_TYPE_STR_MAX + 1) /* id_key() of any valid id */
#define STREAM_ID_MAX ACTR__CHUNK_ID_MAX /* longest stream_id accepted */
#define STREAM_SENDERS_MAX 1024		/* latest-first senders per stream */
#define STREAM_SLOTS_MAX 256		/* held latency-first chunks */
#define STREAM_HIGH_WATER (4u << 20)
#define STREAM_LOW_WATER (1u << 20)
#define STREAM_SCRATCH_KEEP (1u << 20) /* encoding buffer kept between sends */

/* Last sequence delivered from one sender on a latency-first stream. */
struct slast {
	struct actr__map_node node;	/* in reg->last by sender key */
	uint64_t seq;			/* last delivered */
	char key[];			/* sender (id_key) */
};

/* A registered stream. */
struct sreg {
	struct actr__map_node node;	/* in s->regs by stream_id */
	actr_stream_cb cb;		/* the callback */
	void *arg;
	struct actr__map last;		/* struct slast (latest-first) */
	char id[];			/* stream_id */
};

/* A latency-first chunk waiting for the congested lane to drain. */
struct slot {
	struct actr__map_node node;	/* in s->slots by key */
	Actr__ActrId *target;		/* owned */
	size_t tlen;			/* target key length (prefix) */
	uint8_t *data;			/* encoded DataChunk (owned) */
	size_t len;
	uint64_t seq;			/* its sequence */
	size_t klen;
	char key[];			/* target (id_key), stream_id */
};

struct actr__streams {
	struct actr__map regs;		/* struct sreg by stream_id */
	struct actr__map slots;		/* struct slot by target/stream */
	actr_stream_opts_t opts;	/* effective options */
	actr_stream_stats_t st;		/* counters */
	uint8_t *scratch;		/* encoding buffer (grows) */
	size_t scratch_cap;
	bool flushing;			/* in flush_slots */
};

static struct actr__streams *streams_get(actr_node_t *n)
{
	struct actr__streams *s = n->streams;

	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	actr__map_init(&s->regs);
	actr__map_init(&s->slots);
	s->opts.struct_size = sizeof(s->opts);
	s->opts.high_water = STREAM_HIGH_WATER;
	s->opts.low_water = STREAM_LOW_WATER;
	n->streams = s;
	return s;
}

/*
 * A map key for id: serial, realm and the type's strings, laid out with
 * memcpy (actr_id_format's snprintf is measurable on the per-chunk path).
 * Its length, or 0 when id is incomplete or the key does not fit.
 */
static size_t id_key(const Actr__ActrId *id, char *out, size_t cap)
{
	const char *f[3];
	uint32_t realm;
	size_t n = 12;

	if (!id || !id->type || cap < n)
		return 0;
	realm = id->realm ? id->realm->realm_id : 0;
	memcpy(out, &id->serial_number, 8);
	memcpy(out + 8, &realm, 4);
	f[0] = id->type->manufacturer;
	f[1] = id->type->name;
	f[2] = id->type->version;
	for (int i = 0; i < 3; i++) {
		size_t l = f[i] ? strlen(f[i]) + 1 : 1;

		if (n + l > cap)
			return 0;
		if (f[i])
			memcpy(out + n, f[i], l);
		else
			out[n] = '\0';
		n += l;
	}
	return n;
}

static void reg_free(struct sreg *g)
{
	struct actr__map_iter it;
	struct actr__map_node *x;

	actr__map_foreach(&g->last, it, x) {
		actr__map_remove(&g->last, x);
		free(actr__map_entry(x, struct slast, node));
	}
	actr__map_fini(&g->last);
	free(g);
}

static void slot_free(struct actr__streams *s, struct slot *sl)
{
	actr__map_remove(&s->slots, &sl->node);
	s->st.held--;
	actr_proto_free(sl->target);
	free(sl->data);
	free(sl);
}

void actr__stream_node_free(actr_node_t *n)
{
	struct actr__streams *s = n->streams;
	struct actr__map_iter it;
	struct actr__map_node *x;

	if (!s)
		return;
	actr__map_foreach(&s->regs, it, x) {
		actr__map_remove(&s->regs, x);
		reg_free(actr__map_entry(x, struct sreg, node));
	}
	actr__map_foreach(&s->slots, it, x)
		slot_free(s, actr__map_entry(x, struct slot, node));
	actr__map_fini(&s->regs);
	actr__map_fini(&s->slots);
	free(s->scratch);
	free(s);
	n->streams = NULL;
}

/* ---- registration -------------------------------------------------------- */

static int do_register(actr_node_t *n, const char *stream_id,
		       actr_stream_cb cb, void *arg)
{
	struct actr__streams *s;
	struct actr__map_node *x;
	struct sreg *g;
	size_t len;

	if (!n || !stream_id || !cb || strlen(stream_id) > STREAM_ID_MAX)
		return -EINVAL;
	s = streams_get(n);
	if (!s)
		return -ENOMEM;
	x = actr__map_find_str(&s->regs, stream_id);
	if (x) {
		/* a new callback; senders' latest-first state stays */
		g = actr__map_entry(x, struct sreg, node);
		g->cb = cb;
		g->arg = arg;
		return 0;
	}
	len = strlen(stream_id);
	g = malloc(sizeof(*g) + len + 1);
	if (!g)
		return -ENOMEM;
	memcpy(g->id, stream_id, len + 1);
	g->cb = cb;
	g->arg = arg;
	actr__map_init(&g->last);
	actr__map_insert(&s->regs, &g->node, g->id, len);
	return 0;
}

static int do_unregister(actr_node_t *n, const char *stream_id)
{
	struct actr__map_node *x;

	if (!n || !stream_id)
		return -EINVAL;
	if (!n->streams ||
	    !(x = actr__map_find_str(&n->streams->regs, stream_id)))
		return -ACTR_ENOTFOUND;
	actr__map_remove(&n->streams->regs, x);
	reg_free(actr__map_entry(x, struct sreg, node));
	return 0;
}

int actr_stream_register(actr_ref_t *ref, const char *stream_id,
			 actr_stream_cb cb, void *arg)
{
	return ref ? do_register(ref->node, stream_id, cb, arg) : -EINVAL;
}

int actr_stream_unregister(actr_ref_t *ref, const char *stream_id)
{
	return ref ? do_unregister(ref->node, stream_id) : -EINVAL;
}

int actr_ctx_register_stream(actr_ctx_t *ctx, const char *stream_id,
			     actr_stream_cb cb, void *arg)
{
	return ctx ? do_register(ctx->node, stream_id, cb, arg) : -EINVAL;
}

int actr_ctx_unregister_stream(actr_ctx_t *ctx, const char *stream_id)
{
	return ctx ? do_unregister(ctx->node, stream_id) : -EINVAL;
}

int actr_stream_configure(actr_ref_t *ref, const actr_stream_opts_t *opts)
{
	actr_stream_opts_t o = { 0 };
	struct actr__streams *s;

	if (!ref || !opts || actr__opts_copy(&o, sizeof(o), opts) < 0)
		return -EINVAL;
	if (!o.high_water)
		o.high_water = STREAM_HIGH_WATER;
	if (!o.low_water)
		o.low_water = ACTR_MIN((size_t)STREAM_LOW_WATER,
				       o.high_water / 2);
	if (o.low_water >= o.high_water)
		return -EINVAL;
	s = streams_get(ref->node);
	if (!s)
		return -ENOMEM;
	o.struct_size = sizeof(o);
	s->opts = o;
	return 0;
}

void actr_stream_get_stats(actr_ref_t *ref, actr_stream_stats_t *st)
{
	memset(st, 0, sizeof(*st));
	if (ref && ref->node->streams)
		*st = ref->node->streams->st;
}

/* ---- delivery ------------------------------------------------------------ */

/*
 * Latest-first: true when chunk seq from sender `from` may be delivered
 * on g (newer than the last one delivered from that sender), and then it
 * is recorded as the last. Out of memory the chunk is delivered
 * unrecorded: delivering beats dropping, and the next one retries.
 */
static bool latest_first(struct actr__streams *s, struct sreg *g,
			 const Actr__ActrId *from, uint64_t seq)
{
	char key[STREAM_KEY];
	struct actr__map_node *x;
	struct slast *l;
	size_t klen = id_key(from, key, sizeof(key));
	struct actr__map_iter it;

	if (!klen)
		return true;
	x = actr__map_find(&g->last, key, klen);
	if (x) {
		l = actr__map_entry(x, struct slast, node);
		if (seq <= l->seq) {
			s->st.stale++;
			return false;
		}
		l->seq = seq;
		return true;
	}
	if (actr__map_size(&g->last) >= STREAM_SENDERS_MAX) {
		/* forget one sender: a stream fed by this many actors at
		 * once is an attack or a bug, not a video call */
		x = actr__map_iter_first(&it, &g->last);
		actr__map_remove(&g->last, x);
		free(actr__map_entry(x, struct slast, node));
		actr_logw(TAG, "stream %s: more than %d senders, one forgotten",
			  g->id, STREAM_SENDERS_MAX);
	}
	l = malloc(sizeof(*l) + klen);
	if (!l)
		return true;
	memcpy(l->key, key, klen);
	l->seq = seq;
	actr__map_insert(&g->last, &l->node, l->key, klen);
	return true;
}

/* Hand chunk from `from` to n's callback for its stream. 0,
 * -ACTR_ENOTFOUND (no registration). */
static int deliver(actr_node_t *n, const Actr__ActrId *from,
		   const Actr__DataChunk *chunk, int lane)
{
	struct actr__streams *s = streams_get(n);
	struct actr__map_node *x;
	struct sreg *g;

	if (!s)
		return -ENOMEM;
	x = chunk->stream_id ? actr__map_find_str(&s->regs, chunk->stream_id)
			     : NULL;
	if (!x) {
		s->st.unregistered++;
		actr_logw(TAG, "chunk for unregistered stream \"%.64s\" "
			  "dropped", chunk->stream_id ? chunk->stream_id : "");
		return -ACTR_ENOTFOUND;
	}
	g = actr__map_entry(x, struct sreg, node);
	if (lane == ACTR_STREAM_LATENCY_FIRST &&
	    !latest_first(s, g, from, chunk->sequence))
		return 0;
	s->st.chunks_in++;
	s->st.bytes_in += chunk->payload.len;
	/* g may be freed by the callback (unregister): not used after */
	g->cb(from, chunk, g->arg);
	return 0;
}

int actr__stream_decode(const uint8_t *data, size_t len,
			Actr__DataChunk **out)
{
	Actr__DataChunk *c = actr__data_chunk__unpack(NULL, len, data);

	*out = NULL;
	if (!c)
		return -ACTR_EPROTO;
	if (!c->stream_id || strlen(c->stream_id) > STREAM_ID_MAX) {
		actr__data_chunk__free_unpacked(c, NULL);
		return -ACTR_EPROTO;
	}
	*out = c;
	return 0;
}

int actr__stream_deliver(actr_node_t *n, const Actr__ActrId *from,
			 int payload_type, const uint8_t *data, size_t len)
{
	struct actr__streams *s = streams_get(n);
	struct actr__chunk_view v;
	Actr__DataChunk *c = NULL;
	int rc;

	if (!s)
		return -ENOMEM;
	/* the payload stays in the lane's buffer; protobuf-c (a copy) only
	 * for chunks with metadata */
	rc = actr__chunk_parse(data, len, &v);
	if (rc == 1)
		rc = actr__stream_decode(data, len, &c);
	if (rc < 0) {
		s->st.malformed++;
		actr_logw(TAG, "malformed DataChunk (%zu bytes) on lane %d "
			  "dropped", len, payload_type);
		return rc;
	}
	rc = deliver(n, from, c ? c : &v.c, payload_type);
	if (c)
		actr__data_chunk__free_unpacked(c, NULL);
	return rc;
}

/* ---- sending ------------------------------------------------------------- */

static actr__lane_t *remote_lane(actr_node_t *n, const Actr__ActrId *target)
{
	actr_system_t *sys = n->sys;
	actr__lane_t *l;

	if (!sys->resolve)
		return NULL;
	l = sys->resolve(sys->resolve_arg, target);
	return l && l->ops->send_stream ? l : NULL;
}

/* Encode chunk into s->scratch; its length, or a negative code. */
static ssize_t encode(struct actr__streams *s, const Actr__DataChunk *chunk)
{
	size_t len = actr__data_chunk__get_packed_size(chunk);

	if (len > s->scratch_cap) {
		size_t cap = ACTR_MAX(len, (size_t)4096);
		uint8_t *b = realloc(s->scratch, cap);

		if (!b)
			return -ENOMEM;
		s->scratch = b;
		s->scratch_cap = cap;
	}
	actr__data_chunk__pack(chunk, s->scratch);
	return (ssize_t)len;
}

static size_t low_water_of(struct actr__streams *s, int lane)
{
	/* the latency-first lane wakes its slots when the queue is empty */
	return lane == ACTR_STREAM_LATENCY_FIRST ? 0 : s->opts.low_water;
}

/* Keep an encoded latency-first chunk in its (target, stream) slot,
 * replacing an older one. 0, -ENOBUFS (too many slots), -ENOMEM. */
static int hold(struct actr__streams *s, const Actr__ActrId *target,
		const Actr__DataChunk *chunk, const uint8_t *data, size_t len)
{
	char key[STREAM_KEY + STREAM_ID_MAX];
	size_t tlen = id_key(target, key, STREAM_KEY);
	size_t slen = strlen(chunk->stream_id), klen;
	struct actr__map_node *x;
	struct slot *sl;
	uint8_t *d;

	if (!tlen)
		return -EINVAL;
	klen = tlen + slen;
	memcpy(key + tlen, chunk->stream_id, slen);
	d = malloc(len ? len : 1);
	if (!d)
		return -ENOMEM;
	memcpy(d, data, len);
	x = actr__map_find(&s->slots, key, klen);
	if (x) {
		sl = actr__map_entry(x, struct slot, node);
		if (chunk->sequence < sl->seq) {
			/* an older chunk than the held one: it loses */
			free(d);
			s->st.coalesced++;
			return 0;
		}
		free(sl->data);
		sl->data = d;
		sl->len = len;
		sl->seq = chunk->sequence;
		s->st.coalesced++;
		return 0;
	}
	if (s->st.held >= STREAM_SLOTS_MAX) {
		free(d);
		return -ENOBUFS;
	}
	sl = malloc(sizeof(*sl) + klen);
	if (!sl || !(sl->target = actr_id_dup(target))) {
		free(sl);
		free(d);
		return -ENOMEM;
	}
	memcpy(sl->key, key, klen);
	sl->klen = klen;
	sl->tlen = tlen;
	sl->data = d;
	sl->len = len;
	sl->seq = chunk->sequence;
	actr__map_insert(&s->slots, &sl->node, sl->key, klen);
	s->st.held++;
	return 0;
}

/* Send the held chunks toward target while the lane takes them into an
 * empty queue. True when none is left for target. */
static bool flush_slots(actr_node_t *n, actr__lane_t *l,
			const Actr__ActrId *target)
{
	struct actr__streams *s = n->streams;
	char tkey[STREAM_KEY];
	size_t tlen;
	struct actr__map_iter it;
	struct actr__map_node *x;
	bool left = false;

	if (!s || !s->st.held)
		return true;
	/* a send below may call back into actr__stream_writable */
	if (s->flushing)
		return false;
	tlen = id_key(target, tkey, sizeof(tkey));
	if (!tlen)
		return true;
	s->flushing = true;
	actr__map_foreach(&s->slots, it, x) {
		struct slot *sl = actr__map_entry(x, struct slot, node);
		int rc;

		if (sl->tlen != tlen || memcmp(sl->key, tkey, tlen))
			continue;
		if (left)	/* the lane pushed back: keep the rest */
			continue;
		rc = l->ops->send_stream(l, target, ACTR_STREAM_LATENCY_FIRST,
					 sl->data, sl->len, 0, 0);
		if (rc == -ENOBUFS) {
			left = true;
			continue;
		}
		if (rc == 0)
			s->st.chunks_out++;
		else
			actr_logw(TAG, "held chunk of stream %.*s dropped: %s",
				  (int)(sl->klen - tlen), sl->key + tlen,
				  actr_strerror(rc));
		slot_free(s, sl);
	}
	s->flushing = false;
	return !left;
}

void actr__stream_writable(actr_node_t *n, const Actr__ActrId *target,
			   int payload_type)
{
	struct actr__streams *s = n->streams;
	actr__lane_t *l;

	if (!s)
		return;
	if (payload_type == ACTR_STREAM_LATENCY_FIRST && s->st.held &&
	    (l = remote_lane(n, target)))
		flush_slots(n, l, target);
	if (s->opts.writable) {
		s->st.writable++;
		s->opts.writable(target, payload_type, s->opts.arg);
	}
}

static int do_send(actr_node_t *n, const Actr__ActrId *target,
		   const Actr__DataChunk *chunk, int lane)
{
	struct actr__streams *s;
	actr_node_t *t;
	actr__lane_t *l;
	ssize_t len;
	int rc;

	if (!n || !target || !chunk || !chunk->stream_id ||
	    strlen(chunk->stream_id) > STREAM_ID_MAX ||
	    (chunk->payload.len && !chunk->payload.data) ||
	    (lane != ACTR_STREAM_RELIABLE &&
	     lane != ACTR_STREAM_LATENCY_FIRST))
		return -EINVAL;
	s = streams_get(n);
	if (!s)
		return -ENOMEM;
	t = actr__node_find(n->sys, target);
	if (t) {
		/* in-process: the sender's struct, at once */
		if (t->state != NODE_RUNNING)
			return -ACTR_EUNAVAILABLE;
		s->st.chunks_out++;
		s->st.bytes_out += chunk->payload.len;
		deliver(t, &n->id, chunk, lane);
		return 0;
	}
	l = remote_lane(n, target);
	if (!l)
		return -ACTR_EUNAVAILABLE;
	len = encode(s, chunk);
	if (len < 0)
		return (int)len;
	if (lane == ACTR_STREAM_LATENCY_FIRST && !flush_slots(n, l, target))
		return hold(s, target, chunk, s->scratch, (size_t)len);
	/* reliable: up to high_water queued; latency-first: only into an
	 * empty queue, else it waits in its slot */
	rc = l->ops->send_stream(l, target, lane, s->scratch, (size_t)len,
				 lane == ACTR_STREAM_RELIABLE
					 ? s->opts.high_water : 0,
				 low_water_of(s, lane));
	if (rc == -ENOBUFS) {
		if (lane == ACTR_STREAM_LATENCY_FIRST)
			return hold(s, target, chunk, s->scratch, (size_t)len);
		s->st.would_block++;
	}
	if (rc == 0) {
		s->st.chunks_out++;
		s->st.bytes_out += chunk->payload.len;
	}
	if (s->scratch_cap > STREAM_SCRATCH_KEEP) {
		/* one huge chunk must not pin its size for the node's life */
		free(s->scratch);
		s->scratch = NULL;
		s->scratch_cap = 0;
	}
	return rc;
}

int actr_stream_send(actr_ref_t *ref, const Actr__ActrId *target,
		     const Actr__DataChunk *chunk, int lane)
{
	return ref ? do_send(ref->node, target, chunk, lane) : -EINVAL;
}

int actr_ctx_send_data_chunk(actr_ctx_t *ctx, const Actr__ActrId *target,
			     const Actr__DataChunk *chunk, int lane)
{
	return ctx ? do_send(ctx->node, target, chunk, lane) : -EINVAL;
}

size_t actr_stream_buffered(actr_ref_t *ref, const Actr__ActrId *target,
			    int lane)
{
	actr__lane_t *l;

	if (!ref || !target || actr__node_find(ref->node->sys, target))
		return 0;
	l = remote_lane(ref->node, target);
	return l ? l->ops->buffered(l, target, lane) : 0;
}
