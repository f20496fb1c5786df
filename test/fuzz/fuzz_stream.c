/* libFuzzer target: the inbound DataChunk path (runtime/stream.c and its
 * zero-copy decoder proto/chunk.c, checked against protobuf-c), from the
 * bytes a peer gate's stream lane receives (runtime/peer.c c_message hands
 * them over as they came) through actr__stream_decode, the registry and
 * the latest-first filter to the callbacks. A fresh system per input with
 * streams "a" (whose callback unregisters "b" now and then) and "b"
 * registered. The input is records:
 *   ctl u8 (bit 0 lane: STREAM_RELIABLE / STREAM_LATENCY_FIRST, bits 1-2
 *           sender, bit 3 the bytes are a raw message; else a DataChunk is
 *           built: bits 4-5 stream id "a" "b" "c" or "", then seq u8)
 *   raw: len u16, bytes
 * Invariants: deliver returns 0, -ACTR_EPROTO or -ACTR_ENOTFOUND; each
 * moves exactly its counter (malformed, unregistered, or chunks_in /
 * stale); a callback gets a chunk of its own stream; on STREAM_LATENCY_FIRST
 * a sender's deliveries on a stream only ever grow in sequence while it
 * stays registered. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <actr/actr.h>
#include <actr/log.h>

#include "proto/chunk.h"
#include "runtime/lane.h"
#include "test/fuzz/fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
	actr_ref_t *ref;
	Actr__ActrId *sender[4];
	int lane;			/* of the record being delivered */
	int who;			/* its sender */
	uint64_t last[2][4];		/* latest-first: per stream, sender */
	bool seen[2][4];
	unsigned calls;			/* callbacks */
	unsigned flips;			/* "a" unregistered "b" */
};

static struct fz fz;

static void cb(const Actr__ActrId *from, const Actr__DataChunk *c, void *arg)
{
	int s = (int)(intptr_t)arg;

	if (!from || !c || !c->stream_id ||
	    strcmp(c->stream_id, s ? "b" : "a"))
		abort();
	if (fz.lane == ACTR_STREAM_LATENCY_FIRST) {
		if (fz.seen[s][fz.who] && c->sequence <= fz.last[s][fz.who])
			abort();
		fz.seen[s][fz.who] = true;
		fz.last[s][fz.who] = c->sequence;
	}
	fz.calls++;
	if (s == 0 && (c->sequence & 7) == 7) {
		/* a callback may change the registry */
		if (++fz.flips & 1)
			actr_stream_unregister(fz.ref, "b");
		else
			actr_stream_register(fz.ref, "b", cb, (void *)1);
		memset(fz.seen[1], 0, sizeof(fz.seen[1]));
	}
}

/* The zero-copy decoder against protobuf-c: what it accepts, protobuf-c
 * accepts with the same values; what it leaves to protobuf-c has
 * metadata. */
static void differential(const uint8_t *p, size_t n)
{
	struct actr__chunk_view v;
	int rc = actr__chunk_parse(p, n, &v);
	Actr__DataChunk *u = actr__data_chunk__unpack(NULL, n, p);

	if (rc == 0) {
		if (!u || strcmp(u->stream_id, v.c.stream_id) ||
		    u->sequence != v.c.sequence ||
		    u->payload.len != v.c.payload.len ||
		    (u->payload.len &&
		     memcmp(u->payload.data, v.c.payload.data,
			    u->payload.len)) ||
		    u->has_timestamp_ms != v.c.has_timestamp_ms ||
		    (u->has_timestamp_ms &&
		     u->timestamp_ms != v.c.timestamp_ms) ||
		    u->n_metadata)
			abort();
	} else if (rc == 1) {
		if (u && !u->n_metadata)
			abort();
	} else if (rc != -ACTR_EPROTO) {
		abort();
	}
	if (u)
		actr__data_chunk__free_unpacked(u, NULL);
}

static Actr__ActrId *sender(unsigned i)
{
	Actr__ActrId *id = calloc(1, sizeof(*id));
	Actr__ActrType *t = calloc(1, sizeof(*t));
	Actr__Realm *r = calloc(1, sizeof(*r));

	if (!id || !t || !r)
		abort();
	actr__actr_id__init(id);
	actr__actr_type__init(t);
	actr__realm__init(r);
	t->manufacturer = strdup("acme");
	t->name = strdup(i & 1 ? "x" : "y");
	t->version = strdup("1");
	r->realm_id = 7;
	id->realm = r;
	id->type = t;
	id->serial_number = 100 + i;
	return id;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	struct in in = { data, size };
	actr_reactor_t *r;
	actr_system_t *sys;
	actr_node_t *n;
	actr_stream_stats_t a, b;

	if (!init) {
		actr_log_set_level(ACTR_LOG_ERROR);
		init = true;
	}
	memset(&fz, 0, sizeof(fz));
	r = actr_reactor_new();
	sys = r ? actr_system_new(r, NULL) : NULL;
	n = sys ? actr_node_new(sys, actr_workload_new("acme", "fz", "1"), 0)
		: NULL;
	if (!n || actr_node_start(n, &fz.ref) < 0 ||
	    actr_stream_register(fz.ref, "a", cb, (void *)0) < 0 ||
	    actr_stream_register(fz.ref, "b", cb, (void *)1) < 0)
		abort();
	for (unsigned i = 0; i < 4; i++)
		fz.sender[i] = sender(i);
	for (int recs = 0; in.n && recs < 4096; recs++) {
		unsigned ctl = take(&in), len;
		uint8_t buf[1024], pay[16] = { 0 };
		const uint8_t *p;
		unsigned calls = fz.calls;
		int rc;

		fz.lane = ctl & 1 ? ACTR_STREAM_LATENCY_FIRST
				  : ACTR_STREAM_RELIABLE;
		fz.who = (int)(ctl >> 1 & 3);
		if (ctl & 8) {
			len = take(&in) << 8;
			len |= take(&in);
			if (len > in.n)
				len = (unsigned)in.n;
			p = in.p;
			in.p += len;
			in.n -= len;
			differential(p, len);
		} else {
			static const char *ids[] = { "a", "b", "c", "" };
			Actr__DataChunk c = ACTR__DATA_CHUNK__INIT;

			c.stream_id = (char *)ids[ctl >> 4 & 3];
			c.sequence = take(&in);
			c.payload.data = pay;
			c.payload.len = sizeof(pay);
			len = (unsigned)actr__data_chunk__pack(&c, buf);
			p = buf;
		}
		actr_stream_get_stats(fz.ref, &a);
		rc = actr__stream_deliver(n, fz.sender[fz.who], fz.lane, p, len);
		actr_stream_get_stats(fz.ref, &b);
		switch (rc) {
		case 0:
			if (b.chunks_in + b.stale != a.chunks_in + a.stale + 1 ||
			    b.chunks_in - a.chunks_in != fz.calls - calls)
				abort();
			break;
		case -ACTR_EPROTO:
			if (b.malformed != a.malformed + 1 || fz.calls != calls)
				abort();
			break;
		case -ACTR_ENOTFOUND:
			if (b.unregistered != a.unregistered + 1 ||
			    fz.calls != calls)
				abort();
			break;
		default:
			abort();
		}
	}
	for (unsigned i = 0; i < 4; i++)
		actr_proto_free(fz.sender[i]);
	actr_system_free(sys);
	actr_reactor_free(r);
	return 0;
}
