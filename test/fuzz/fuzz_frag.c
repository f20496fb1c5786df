/* libFuzzer target: the DataChannel fragment header and reassembler
 * (proto/fragment.c) on a fake clock. The input is a program of
 * operations, so most fragments carry a valid header:
 *   0 raw:    len u8, bytes (any header, as a peer could send)
 *   1 frag:   slot u8, total u8, index u8, len u8: a fragment of one of
 *             eight msg_ids (interleaved, duplicated, conflicting totals)
 *             whose data bytes name (slot, index)
 *   2 clock:  step u8 (advances the fake clock, evicting stale partials)
 *   3 split:  len u16, max_data u8, order u8: actr__frag_split() of a
 *             message fed back in order, reversed or interleaved
 * Invariants: only documented return codes; held bytes and partial
 * messages stay within their bounds; every return moves exactly the
 * counter it documents; a message completed from fragment ops holds the
 * data of its own fragments in index order; a split message that
 * completes is byte-identical to the original. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <actr/buf.h>
#include <actr/error.h>
#include <actr/log.h>

#include "proto/fragment.h"
#include "test/fuzz/fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	MAX_BYTES = 1 << 16,	/* reassembly memory bound */
	MAX_MSGS = 8,		/* partial messages bound */
	TTL_NS = 1000000,	/* stale after 1 ms of fake time */
	SLOTS = 8,		/* msg_ids of fragment ops */
	CHECK_TOTAL = 16,	/* content checked up to this many frags */
	SPLIT_MAX = 8192,	/* split message bytes */
	SPLIT_FRAGS = 512,	/* fragments of one split kept for reorder */
	FEEDS_MAX = 4096,	/* fragments fed per input (keeps each
				 * execution in milliseconds) */
};

#define SPLIT_ID0 0x40000000u	/* msg_id of the first split */

/* msg_ids of the fragment ops: small, large, and the wrap edge */
static const uint32_t slot_id[SLOTS] = {
	0, 1, 2, 3, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
};

struct state {
	actr__reasm_t *r;		/* under test */
	uint64_t now;			/* fake clock, ns */
	bool tainted[SLOTS];		/* a raw op used this slot's msg_id */
	bool split_tainted;		/* a raw op used a split's msg_id */
	uint32_t split_id;		/* msg_id of the next split */
	unsigned feeds;			/* fragments fed so far */
};

static uint8_t fill_byte(unsigned slot, unsigned index)
{
	return (uint8_t)(0x80 | slot << 4 | index);
}

/* Does the message completed for slot hold runs of its fragments' bytes
 * in index order (empty fragments leave no run)? */
static bool content_ok(unsigned slot, unsigned total, const actr_buf_t *b)
{
	unsigned i = 0;

	for (size_t k = 0; k < b->len; k++) {
		while (i < total && b->data[k] != fill_byte(slot, i))
			i++;
		if (i == total)
			return false;
	}
	return true;
}

static void check_bounds(const struct state *s)
{
	if (actr__reasm_bytes(s->r) > MAX_BYTES ||
	    actr__reasm_pending(s->r) > MAX_MSGS)
		abort();
}

/* Feed one DataChannel message and check the return code against the
 * counters. Returns rc; *out is set (owned by the caller) when rc == 1. */
static int feed(struct state *s, const uint8_t *p, size_t n,
		actr_buf_t **out)
{
	actr__reasm_stats_t a = *actr__reasm_stats(s->r), b;
	uint64_t proto_a, proto_b;
	int rc;

	*out = NULL;
	s->feeds++;
	rc = actr__reasm_feed(s->r, p, n, s->now, out);
	b = *actr__reasm_stats(s->r);
	proto_a = a.bad_header + a.duplicates + a.out_of_range;
	proto_b = b.bad_header + b.duplicates + b.out_of_range;
	switch (rc) {
	case 1:
		if (!*out || (*out)->len > ACTR_FRAG_MAX_DATA * 65535ull ||
		    b.completed != a.completed + 1 || proto_b != proto_a ||
		    b.too_big != a.too_big)
			abort();
		break;
	case 0:
		if (b.completed != a.completed || proto_b != proto_a ||
		    b.too_big != a.too_big)
			abort();
		break;
	case -ACTR_EPROTO:
		if (proto_b != proto_a + 1 || b.completed != a.completed)
			abort();
		break;
	case -ACTR_ETOOBIG:
		if (b.too_big != a.too_big + 1 || proto_b != proto_a)
			abort();
		break;
	case -ENOMEM:
		break;
	default:
		abort();
	}
	if (rc != 1 && *out)
		abort();
	if (b.evicted_stale < a.evicted_stale ||
	    b.evicted_memory < a.evicted_memory)
		abort();
	check_bounds(s);
	return rc;
}

static void op_raw(struct state *s, struct in *in)
{
	size_t n = take(in);
	actr__frag_hdr_t h;
	actr_buf_t *out;

	if (n > in->n)
		n = in->n;
	if (actr__frag_hdr_read(in->p, n, &h) == 0) {
		for (unsigned i = 0; i < SLOTS; i++)
			if (slot_id[i] == h.msg_id)
				s->tainted[i] = true;
		if (h.msg_id >= SPLIT_ID0 && h.msg_id < SPLIT_ID0 + 65536)
			s->split_tainted = true;
	}
	if (feed(s, in->p, n, &out) == 1)
		actr_buf_unref(out);
	in->p += n;
	in->n -= n;
}

static void op_frag(struct state *s, struct in *in)
{
	static uint8_t buf[ACTR_FRAG_HDR_LEN + 255 * 64];
	unsigned slot = take(in) % SLOTS, t = take(in), ix = take(in);
	size_t len = (size_t)take(in) * 64;
	actr__frag_hdr_t h;
	actr_buf_t *out;

	/* totals 1..16 mostly; with the top bit, 0..32767 (0 is a bad
	 * header) */
	h.total = (uint16_t)(t & 0x80 ? (t & 0x7f) << 8 | ix : (t & 15) + 1);
	/* an index past the total sometimes (a bad header) */
	h.index = (uint16_t)(!h.total || (ix & 0x80 && !(t & 0x80))
				     ? ix
				     : ix % h.total);
	h.msg_id = slot_id[slot];
	actr__frag_hdr_write(buf, &h);
	memset(buf + ACTR_FRAG_HDR_LEN, fill_byte(slot, h.index & 15), len);
	if (feed(s, buf, ACTR_FRAG_HDR_LEN + len, &out) != 1)
		return;
	if (!s->tainted[slot] && h.total <= CHECK_TOTAL &&
	    !content_ok(slot, h.total, out))
		abort();
	actr_buf_unref(out);
}

struct split {
	uint8_t *frag[SPLIT_FRAGS];	/* copies of the emitted fragments */
	size_t len[SPLIT_FRAGS];	/* their lengths */
	unsigned n;			/* emitted */
};

static int emit(const uint8_t *frag, size_t n, void *arg)
{
	struct split *sp = arg;

	if (sp->n == SPLIT_FRAGS)
		return -ENOSPC;
	sp->frag[sp->n] = malloc(n);
	if (!sp->frag[sp->n])
		return -ENOMEM;
	memcpy(sp->frag[sp->n], frag, n);
	sp->len[sp->n++] = n;
	return 0;
}

static void op_split(struct state *s, struct in *in)
{
	static uint8_t msg[SPLIT_MAX];
	size_t len = (take(in) << 8 | take(in)) % (SPLIT_MAX + 1);
	size_t max_data = (size_t)take(in) * 8 + 1;
	unsigned order = take(in), done = 0;
	struct split sp = { .n = 0 };
	int rc;

	for (size_t i = 0; i < len; i++)
		msg[i] = (uint8_t)(i * 7 + len);
	rc = actr__frag_split(msg, len, s->split_id++, max_data, emit, &sp);
	if (rc != 0 && rc != -ENOSPC && rc != -ENOMEM)
		abort();
	if (rc == 0 && sp.n != actr__frag_count(len, max_data))
		abort();
	for (unsigned k = 0; k < sp.n; k++) {
		/* 0 in order, 1 reversed, 2 evens then odds, 3 each twice */
		unsigned half = (sp.n + 1) / 2, i = k;
		unsigned reps = order % 4 == 3 ? 2 : 1;
		actr_buf_t *out;

		if (order % 4 == 1)
			i = sp.n - 1 - k;
		else if (order % 4 == 2)
			i = k < half ? 2 * k : 2 * (k - half) + 1;
		for (unsigned rep = 0; rep < reps; rep++) {
			if (feed(s, sp.frag[i], sp.len[i], &out) != 1)
				continue;
			if (!s->split_tainted &&
			    (rc != 0 || out->len != len ||
			     (len && memcmp(out->data, msg, len) != 0)))
				abort();
			done++;
			actr_buf_unref(out);
		}
	}
	/* a one-fragment message fed twice completes twice */
	if (!s->split_tainted && done > (order % 4 == 3 && sp.n == 1 ? 2u : 1u))
		abort();
	for (unsigned k = 0; k < sp.n; k++)
		free(sp.frag[k]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state s = { .split_id = SPLIT_ID0 };
	struct in in = { data, size };

	actr_log_set_level(ACTR_LOG_ERROR);
	s.r = actr__reasm_new(MAX_BYTES, MAX_MSGS, TTL_NS);
	if (!s.r)
		return 0;
	for (unsigned ops = 0; in.n && ops < 4096 && s.feeds < FEEDS_MAX;
	     ops++) {
		switch (take(&in) % 4) {
		case 0:
			op_raw(&s, &in);
			break;
		case 1:
			op_frag(&s, &in);
			break;
		case 2:
			s.now += (uint64_t)take(&in) * (TTL_NS / 64);
			if (actr__reasm_expire(s.r, s.now) > MAX_MSGS)
				abort();
			check_bounds(&s);
			break;
		default:
			op_split(&s, &in);
			break;
		}
	}
	actr__reasm_free(s.r);
	return 0;
}
