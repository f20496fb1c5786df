/* Tests of proto/fragment.c: header codec, split, reassembly bounds. */
#include <errno.h>
#include <stdlib.h>

#include <actr/actr.h>

#include "proto/fragment.h"
#include "test.h"

TEST(proto_frag_header_golden)
{
	actr__frag_hdr_t h = { 0x01020304, 0x0506, 0x0708 }, g;
	uint8_t b[8];
	static const uint8_t want[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	actr__frag_hdr_write(b, &h);
	CHECK_MEM(b, want, 8);
	CHECK_OK(actr__frag_hdr_read(b, 8, &g));
	CHECK(g.msg_id == h.msg_id && g.index == h.index &&
	      g.total == h.total);
	CHECK_EQ(actr__frag_hdr_read(b, 7, &g), -ACTR_EPROTO);
	static const uint8_t zero_total[8] = { 0, 0, 0, 1, 0, 0, 0, 0 };
	CHECK_EQ(actr__frag_hdr_read(zero_total, 8, &g), -ACTR_EPROTO);
	static const uint8_t idx_eq_total[8] = { 0, 0, 0, 1, 0, 2, 0, 2 };
	CHECK_EQ(actr__frag_hdr_read(idx_eq_total, 8, &g), -ACTR_EPROTO);
	CHECK_EQ(actr__frag_count(0, 0), 1);
	CHECK_EQ(actr__frag_count(65527, 0), 1);
	CHECK_EQ(actr__frag_count(65528, 0), 2);
	CHECK_EQ(actr__frag_count((size_t)65535 * 10 + 1, 10), 0);
}

struct frags {
	uint8_t *f[64];
	size_t n[64];
	int count;
};

static int collect(const uint8_t *frag, size_t n, void *arg)
{
	struct frags *c = arg;

	if (c->count == 64)
		return -ENOSPC;
	c->f[c->count] = malloc(n);
	memcpy(c->f[c->count], frag, n);
	c->n[c->count++] = n;
	return 0;
}

static void frags_free(struct frags *c)
{
	for (int i = 0; i < c->count; i++)
		free(c->f[i]);
	c->count = 0;
}

TEST(proto_frag_split_reassemble_out_of_order)
{
	uint8_t msg[1000];
	struct frags c = { .count = 0 };
	actr__reasm_t *r = actr__reasm_new(1 << 20, 8, ACTR_SEC(5));
	actr_buf_t *out = NULL;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7);
	CHECK_OK(actr__frag_split(msg, sizeof(msg), 42, 300, collect, &c));
	CHECK_EQ(c.count, 4);
	CHECK_EQ(c.n[0], 308);
	CHECK_EQ(c.n[3], 8 + 100);
	static const uint8_t h2[8] = { 0, 0, 0, 42, 0, 2, 0, 4 };
	CHECK_MEM(c.f[2], h2, 8);
	/* deliver 3, 1, 0, 2 */
	int order[] = { 3, 1, 0 };
	for (int i = 0; i < 3; i++)
		CHECK_EQ(actr__reasm_feed(r, c.f[order[i]], c.n[order[i]], 0,
					  &out), 0);
	CHECK_EQ(actr__reasm_pending(r), 1);
	CHECK(actr__reasm_bytes(r) > 900);
	CHECK_EQ(actr__reasm_feed(r, c.f[2], c.n[2], 0, &out), 1);
	CHECK(out && out->len == sizeof(msg));
	CHECK_MEM(out->data, msg, sizeof(msg));
	actr_buf_unref(out);
	CHECK_EQ(actr__reasm_pending(r), 0);
	CHECK_EQ(actr__reasm_bytes(r), 0);
	CHECK_EQ(actr__reasm_stats(r)->completed, 1);

	/* single-fragment message */
	frags_free(&c);
	CHECK_OK(actr__frag_split((const uint8_t *)"hi", 2, 7, 0, collect, &c));
	CHECK_EQ(c.count, 1);
	CHECK_EQ(actr__reasm_feed(r, c.f[0], c.n[0], 0, &out), 1);
	CHECK(out->len == 2 && memcmp(out->data, "hi", 2) == 0);
	actr_buf_unref(out);
	frags_free(&c);
	actr__reasm_free(r);
}

TEST(proto_frag_reject_duplicate_and_range)
{
	uint8_t msg[600] = { 0 };
	struct frags c = { .count = 0 };
	actr__reasm_t *r = actr__reasm_new(1 << 20, 8, ACTR_SEC(5));
	actr_buf_t *out = NULL;
	uint8_t bad[16];

	CHECK_OK(actr__frag_split(msg, sizeof(msg), 1, 200, collect, &c));
	CHECK_EQ(actr__reasm_feed(r, c.f[0], c.n[0], 0, &out), 0);
	CHECK_EQ(actr__reasm_feed(r, c.f[0], c.n[0], 0, &out), -ACTR_EPROTO);
	CHECK_EQ(actr__reasm_stats(r)->duplicates, 1);
	/* same msg_id, different total */
	memcpy(bad, c.f[1], 16);
	bad[7] = 9;
	CHECK_EQ(actr__reasm_feed(r, bad, 16, 0, &out), -ACTR_EPROTO);
	CHECK_EQ(actr__reasm_stats(r)->out_of_range, 1);
	/* index >= total */
	bad[5] = 9;
	CHECK_EQ(actr__reasm_feed(r, bad, 16, 0, &out), -ACTR_EPROTO);
	CHECK_EQ(actr__reasm_stats(r)->bad_header, 1);
	CHECK_EQ(actr__reasm_feed(r, bad, 5, 0, &out), -ACTR_EPROTO);
	/* the partial message survives the bad fragments */
	CHECK_EQ(actr__reasm_feed(r, c.f[1], c.n[1], 0, &out), 0);
	CHECK_EQ(actr__reasm_feed(r, c.f[2], c.n[2], 0, &out), 1);
	CHECK_EQ(out->len, 600);
	actr_buf_unref(out);
	frags_free(&c);
	actr__reasm_free(r);
}

TEST(proto_frag_stale_and_memory_bound)
{
	uint8_t msg[6000] = { 0 };
	struct frags c = { .count = 0 };
	actr__reasm_t *r = actr__reasm_new(4000, 2, ACTR_SEC(1));
	actr_buf_t *out = NULL;

	/* stale: first fragment at t=0, second after the ttl */
	CHECK_OK(actr__frag_split(msg, 400, 1, 200, collect, &c));
	CHECK_EQ(actr__reasm_feed(r, c.f[0], c.n[0], 0, &out), 0);
	CHECK_EQ(actr__reasm_feed(r, c.f[1], c.n[1], ACTR_SEC(2), &out), 0);
	CHECK_EQ(actr__reasm_stats(r)->evicted_stale, 1);
	CHECK_EQ(actr__reasm_pending(r), 1); /* a new partial with index 1 */
	CHECK_EQ(actr__reasm_expire(r, ACTR_SEC(4)), 1);
	CHECK_EQ(actr__reasm_pending(r), 0);
	CHECK_EQ(actr__reasm_bytes(r), 0);
	frags_free(&c);

	/* more partial messages than max_msgs: the oldest goes */
	for (uint32_t id = 10; id < 13; id++) {
		CHECK_OK(actr__frag_split(msg, 400, id, 200, collect, &c));
		CHECK_EQ(actr__reasm_feed(r, c.f[0], c.n[0], ACTR_SEC(5), &out),
			 0);
		frags_free(&c);
	}
	CHECK_EQ(actr__reasm_pending(r), 2);
	CHECK_EQ(actr__reasm_stats(r)->evicted_memory, 1);

	/* a message larger than the whole bound is refused and dropped */
	CHECK_OK(actr__frag_split(msg, 6000, 20, 1000, collect, &c));
	int rc = 0;
	for (int i = 0; i < c.count && rc >= 0; i++)
		rc = actr__reasm_feed(r, c.f[i], c.n[i], ACTR_SEC(5), &out);
	CHECK_EQ(rc, -ACTR_ETOOBIG);
	CHECK(actr__reasm_bytes(r) <= 4000);
	CHECK_EQ(actr__reasm_stats(r)->too_big, 1);
	frags_free(&c);
	actr__reasm_free(r);
}

TEST(proto_frag_fuzz_headers)
{
	actr__reasm_t *r = actr__reasm_new(64 * 1024, 16, ACTR_MS(10));
	uint8_t b[64];
	actr_buf_t *out;

	actr_log_set_level(ACTR_LOG_ERROR);
	/* random short fragments: never crash, memory stays bounded */
	for (int i = 0; i < 20000; i++) {
		size_t n = actr_rand64() % sizeof(b);
		for (size_t j = 0; j < n; j++)
			b[j] = (uint8_t)actr_rand64();
		if (n >= 8) {
			b[0] = b[1] = b[2] = 0;
			b[3] &= 3;
			b[4] = 0;
			b[6] = 0;
			b[7] &= 7;
		}
		out = NULL;
		if (actr__reasm_feed(r, b, n, (uint64_t)i * ACTR_US(10),
				     &out) == 1)
			actr_buf_unref(out);
		CHECK(actr__reasm_bytes(r) <= 64 * 1024);
	}
	actr__reasm_free(r);
}

/* Feed fragment index of total of msg_id, with len data bytes, to r. */
static int feed_one(actr__reasm_t *r, uint32_t msg_id, unsigned index,
		    unsigned total, size_t len, actr_buf_t **out)
{
	uint8_t b[ACTR_FRAG_HDR_LEN + 4096];
	actr__frag_hdr_t h = { msg_id, (uint16_t)index, (uint16_t)total };

	CHECK(len <= 4096);
	actr__frag_hdr_write(b, &h);
	memset(b + ACTR_FRAG_HDR_LEN, (int)index, len);
	*out = NULL;
	return actr__reasm_feed(r, b, ACTR_FRAG_HDR_LEN + len, 0, out);
}

static size_t pool_held(const actr__reasm_pool_t *pool)
{
	actr__reasm_pool_stats_t st;

	actr__reasm_pool_get_stats(pool, &st);
	return st.held;
}

TEST(proto_frag_pool_cap_and_fairness)
{
	actr__reasm_pool_t *pool = actr__reasm_pool_new(10000, 1000);
	actr__reasm_acct_t *acct[3];
	actr__reasm_t *r[3];
	actr__reasm_pool_stats_t st;
	actr_buf_t *out;
	int rc = 0, i;

	actr_log_set_level(ACTR_LOG_ERROR);
	CHECK(pool);
	for (i = 0; i < 3; i++) {
		CHECK((acct[i] = actr__reasm_acct_new(pool)));
		CHECK((r[i] = actr__reasm_new(1 << 20, 8, ACTR_SEC(30))));
		actr__reasm_set_account(r[i], acct[i]);
	}
	/* alone, A may use the whole cap and no more: its message is
	 * refused (and dropped) once it would not fit */
	for (i = 0; i < 100 && rc == 0; i++) {
		rc = feed_one(r[0], 1, (unsigned)i, 100, 500, &out);
		CHECK(pool_held(pool) <= 10000);
	}
	CHECK_EQ(rc, -ACTR_ETOOBIG);
	CHECK(i > 15);
	CHECK_EQ(actr__reasm_stats(r[0])->refused_pool, 1);
	CHECK_EQ(pool_held(pool), 0);
	/* A holds 8000+ of 10000; B comes: A is over its share (5000) and
	 * loses its oldest partial to B */
	for (i = 0; i < 16; i++)
		CHECK_EQ(feed_one(r[0], 2, (unsigned)i, 100, 500, &out), 0);
	CHECK(pool_held(pool) > 8000);
	CHECK_EQ(feed_one(r[1], 7, 0, 2, 3000, &out), 0);
	actr__reasm_pool_get_stats(pool, &st);
	CHECK_EQ(st.evicted_other, 1);
	CHECK_EQ(st.active, 1);
	CHECK(st.held <= 10000);
	CHECK_EQ(actr__reasm_pending(r[0]), 0);
	CHECK_EQ(feed_one(r[1], 7, 1, 2, 3000, &out), 1);
	CHECK_EQ(out->len, 6000);
	actr_buf_unref(out);
	CHECK_EQ(pool_held(pool), 0);
	/* three peers sending at once: each keeps within max(cap / 3,
	 * floor) (its own oldest partials go first), all within the cap */
	for (i = 0; i < 60; i++) {
		for (int k = 0; k < 3; k++) {
			rc = feed_one(r[k], 100 + (uint32_t)i / 4,
				      (unsigned)i % 4, 5, 400, &out);
			CHECK(rc == 0 || rc == -ACTR_ETOOBIG);
			CHECK(actr__reasm_bytes(r[k]) <= 10000 / 3 + 1);
			CHECK(pool_held(pool) <= 10000);
		}
	}
	actr__reasm_pool_get_stats(pool, &st);
	CHECK_EQ(st.active, 3);
	CHECK(st.evicted > 1);
	CHECK(st.peak <= 10000);
	for (i = 0; i < 3; i++)
		actr__reasm_free(r[i]);
	CHECK_EQ(pool_held(pool), 0);
	/* the pool outlives its owner's reference while accounts remain */
	actr__reasm_pool_unref(pool);
	for (i = 0; i < 3; i++)
		actr__reasm_acct_free(acct[i]);
}
