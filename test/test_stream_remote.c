/*
 * Data streams between two nodes over a real peer connection on 127.0.0.1
 * (in-process actr-signal, ICE + DTLS + SCTP, the STREAM_* DataChannels):
 * 100 MB on STREAM_RELIABLE with order and checksum checked, backpressure
 * toward a slow receiver (would-block, bounded queue, low-water callback,
 * everything arrives), sender coalescing and latest-first delivery on
 * STREAM_LATENCY_FIRST, under loss brought by the test itself (a fixed-seed
 * drop of outgoing UDP datagrams through the actr__sys seam).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include <actr/actr.h>

#include "core/internal.h"
#include "server/signal_internal.h"
#include "test.h"
#include "test_remote_util.h"

/* ---- setup --------------------------------------------------------------- */

struct pair {
	actr_reactor_t *r;
	struct actr__sig_listener *l;
	struct rnode tx, rx;		/* sender, receiver */
	Actr__ActrId *to;		/* rx's id (owned) */
};

static void pair_new(struct pair *p)
{
	char url[64];

	p->r = actr_reactor_new();
	CHECK(p->r);
	p->l = rt_signal(p->r, 0, url, sizeof(url));
	rt_node(&p->rx, p->r, url, actr_workload_new("acme", "sink", "1.0.0"),
		NULL);
	rt_node(&p->tx, p->r, url, actr_workload_new("acme", "src", "1.0.0"),
		NULL);
	rt_wait_ready(p->r, &p->tx, &p->rx, 5000);
	p->to = actr_id_dup(actr_node_id(p->rx.node));
	CHECK(p->to);
}

static void pair_free(struct pair *p)
{
	actr_proto_free(p->to);
	rt_node_free(&p->tx);
	rt_node_free(&p->rx);
	actr__sig_listener_free(p->l);
	rt_drain(p->r);
	actr_reactor_free(p->r);
}

/* ---- a sender that follows the backpressure contract ---------------------- */

struct tx {
	actr_ref_t *ref;
	const Actr__ActrId *to;
	int lane;
	uint64_t seq, total;		/* next sequence, chunks to send */
	size_t size;			/* payload bytes per chunk */
	uint8_t *buf;
	size_t high_water;		/* configured bound */
	size_t max_buffered;		/* most seen queued */
	int would_block;		/* -ENOBUFS seen */
	int not_ready;			/* -ACTR_ENOTREADY seen */
	int writable;			/* callbacks */
	bool blocked;			/* waiting for writable */
};

/* The payload of chunk seq: a pattern the receiver can recompute. */
static void fill(uint8_t *b, size_t n, uint64_t seq)
{
	uint64_t x = seq * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i + 8 <= n; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(b + i, &x, 8);
	}
	memcpy(b, &seq, 8);
}

static void pump(struct tx *t)
{
	Actr__DataChunk c = ACTR__DATA_CHUNK__INIT;
	int rc;

	c.stream_id = "bulk";
	c.payload.data = t->buf;
	c.payload.len = t->size;
	t->blocked = false;
	while (t->seq < t->total) {
		fill(t->buf, t->size, t->seq);
		c.sequence = t->seq;
		rc = actr_stream_send(t->ref, t->to, &c, t->lane);
		if (rc == -ENOBUFS || rc == -ACTR_ENOTREADY) {
			if (rc == -ENOBUFS)
				t->would_block++;
			else
				t->not_ready++;
			t->blocked = true;
			return;
		}
		CHECK_OK(rc);
		t->seq++;
		t->max_buffered = ACTR_MAX(t->max_buffered,
					   actr_stream_buffered(t->ref, t->to,
								t->lane));
	}
}

static void on_writable(const Actr__ActrId *target, int lane, void *arg)
{
	struct tx *t = arg;

	CHECK(target);
	if (lane != t->lane)
		return;
	t->writable++;
	if (t->blocked)
		pump(t);
}

struct rx {
	uint64_t next;			/* expected sequence */
	uint64_t bytes;
	uint64_t sum;			/* FNV-1a over every payload */
	uint64_t want_sum;		/* the sender's */
	int chunks;
	int bad;			/* wrong sequence or content */
	unsigned slow_us;		/* a slow consumer: sleep per chunk */
	uint8_t *scratch;
};

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void on_bulk(const Actr__ActrId *from, const Actr__DataChunk *c,
		    void *arg)
{
	struct rx *x = arg;

	(void)from;
	if (c->sequence != x->next || c->payload.len < 8) {
		x->bad++;
	} else {
		fill(x->scratch, c->payload.len, c->sequence);
		if (memcmp(x->scratch, c->payload.data, c->payload.len))
			x->bad++;
	}
	x->next = c->sequence + 1;
	x->sum = fnv(x->sum, c->payload.data, c->payload.len);
	x->bytes += c->payload.len;
	x->chunks++;
	if (x->slow_us) {
		struct timespec ts = { 0, (long)x->slow_us * 1000 };

		nanosleep(&ts, NULL);
	}
}

static void run_transfer(struct pair *p, struct tx *t, struct rx *x,
			 int secs)
{
	actr_stream_opts_t o = { ACTR_OPTS(o) };

	o.high_water = t->high_water;
	o.writable = on_writable;
	o.arg = t;
	CHECK_OK(actr_stream_configure(p->tx.ref, &o));
	CHECK_OK(actr_stream_register(p->rx.ref, "bulk", on_bulk, x));
	t->ref = p->tx.ref;
	t->to = p->to;
	t->buf = malloc(t->size);
	x->scratch = malloc(t->size);
	CHECK(t->buf && x->scratch);
	x->sum = x->want_sum = 0xcbf29ce484222325ull;
	for (uint64_t s = 0; s < t->total; s++) {
		fill(t->buf, t->size, s);
		x->want_sum = fnv(x->want_sum, t->buf, t->size);
	}
	/* the first send starts the connection (-ACTR_ENOTREADY); the
	 * writable callback resumes when it opens */
	pump(t);
	CHECK_EQ(t->not_ready, 1);
	rt_run(p->r, &x->chunks, (int)t->total, secs * 1000);
	CHECK_EQ(x->chunks, (int)t->total);
	CHECK_EQ(x->bad, 0);
	CHECK_EQ(x->bytes, t->total * t->size);
	CHECK(x->sum == x->want_sum);
	CHECK(t->max_buffered <= t->high_water);
	free(t->buf);
	free(x->scratch);
}

/* ---- STREAM_RELIABLE ----------------------------------------------------- */

TEST_TIMEOUT(stream_remote_reliable_100mb, 180)
{
	struct pair p;
	struct tx t = { 0 };
	struct rx x = { 0 };
	actr_stream_stats_t sa, sb;
	Actr__DataChunk c = ACTR__DATA_CHUNK__INIT;
	int before;

	pair_new(&p);
	t.lane = ACTR_STREAM_RELIABLE;
	t.size = 64 << 10;
	/* 100 MB (a fifth under valgrind, which is ~50x slower) */
	t.total = (actr_test_scale(1) > 1 ? 20u : 100u) * 1000 * 1000 /
		  t.size + 1;
	t.high_water = 4 << 20;
	run_transfer(&p, &t, &x, 150);
	actr_stream_get_stats(p.tx.ref, &sa);
	actr_stream_get_stats(p.rx.ref, &sb);
	CHECK_EQ(sa.chunks_out, t.total);
	CHECK_EQ(sb.chunks_in, t.total);
	CHECK_EQ(sb.bytes_in, t.total * t.size);
	CHECK_EQ(sb.malformed, 0);
	/* the RPC side saw none of it */
	CHECK_EQ(actr_system_stats(p.rx.sys)->handled, 0);

	/* a stream nobody registered: counted at the receiver */
	c.stream_id = "nobody";
	c.sequence = 1;
	CHECK_OK(actr_stream_send(p.tx.ref, p.to, &c, ACTR_STREAM_RELIABLE));
	before = (int)sb.unregistered;
	for (int i = 0; i < 1000 && (int)sb.unregistered == before; i++) {
		actr_reactor_run_once(p.r, 10);
		actr_stream_get_stats(p.rx.ref, &sb);
	}
	CHECK_EQ(sb.unregistered, 1);
	pair_free(&p);
}

TEST_TIMEOUT(stream_remote_backpressure_slow_receiver, 120)
{
	struct pair p;
	struct tx t = { 0 };
	struct rx x = { 0 };
	actr_stream_stats_t sa;

	pair_new(&p);
	t.lane = ACTR_STREAM_RELIABLE;
	t.size = 64 << 10;
	t.total = 400;			/* 26 MB */
	t.high_water = 1 << 20;		/* bound: 1 MiB queued */
	x.slow_us = 1000;		/* <= 64 MB/s consumer */
	run_transfer(&p, &t, &x, 100);
	actr_stream_get_stats(p.tx.ref, &sa);
	/* the sender was told to wait, and woken */
	CHECK(t.would_block > 0);
	CHECK_EQ(sa.would_block, (uint64_t)t.would_block);
	CHECK(t.writable > 0);
	CHECK(t.max_buffered <= t.high_water);

	/* chunks larger than high_water still go into an empty queue */
	{
		actr_stream_opts_t o = { ACTR_OPTS(o), .high_water = 16384 };
		Actr__DataChunk c = ACTR__DATA_CHUNK__INIT;
		uint8_t *b = calloc(1, 3 << 20);
		int want = x.chunks + 1;

		CHECK(b);
		CHECK_EQ(actr_stream_buffered(p.tx.ref, p.to,
					      ACTR_STREAM_RELIABLE), 0);
		CHECK_OK(actr_stream_configure(p.tx.ref, &o));
		c.stream_id = "bulk";
		c.sequence = t.total;
		c.payload.data = b;
		c.payload.len = 65536;
		x.slow_us = 0;
		x.scratch = malloc(3 << 20);
		CHECK(x.scratch);
		CHECK_OK(actr_stream_send(p.tx.ref, p.to, &c,
					  ACTR_STREAM_RELIABLE));
		rt_run(p.r, &x.chunks, want, 5000);
		CHECK_EQ(x.chunks, want);
		/* and a 3 MiB one (48 fragments) */
		c.sequence++;
		c.payload.len = 3 << 20;
		want++;
		CHECK_OK(actr_stream_send(p.tx.ref, p.to, &c,
					  ACTR_STREAM_RELIABLE));
		rt_run(p.r, &x.chunks, want, 10000);
		CHECK_EQ(x.chunks, want);
		CHECK_EQ(x.bytes, t.total * t.size + 65536 + (3 << 20));
		free(x.scratch);
		free(b);
	}
	pair_free(&p);
}

/* ---- STREAM_LATENCY_FIRST ------------------------------------------------ */

struct lf {
	uint64_t last;			/* last delivered */
	int n;				/* delivered */
	int older;			/* an older after a newer: never */
};

static void on_lf(const Actr__ActrId *from, const Actr__DataChunk *c,
		  void *arg)
{
	struct lf *l = arg;

	(void)from;
	if (l->n && c->sequence <= l->last)
		l->older++;
	l->last = c->sequence;
	l->n++;
}

/* Open the connection with one reliable chunk. */
static void connect_pair(struct pair *p)
{
	Actr__DataChunk c = ACTR__DATA_CHUNK__INIT;
	int rc = -1;

	c.stream_id = "hello";
	for (int i = 0; i < 2000 && rc; i++) {
		rc = actr_stream_send(p->tx.ref, p->to, &c,
				      ACTR_STREAM_RELIABLE);
		if (rc)
			CHECK_EQ(rc, -ACTR_ENOTREADY);
		actr_reactor_run_once(p->r, 10);
	}
	CHECK_OK(rc);
}

TEST_TIMEOUT(stream_remote_latency_first_coalesce, 60)
{
	struct pair p;
	struct lf l = { 0 };
	actr_stream_stats_t sa, sb;
	Actr__DataChunk c = ACTR__DATA_CHUNK__INIT;
	uint8_t *buf = calloc(1, 32 << 10);
	const uint64_t n = 2000;	/* 64 MB offered in one burst */

	CHECK(buf);
	pair_new(&p);
	CHECK_OK(actr_stream_register(p.rx.ref, "pos", on_lf, &l));
	connect_pair(&p);
	c.stream_id = "pos";
	c.payload.data = buf;
	c.payload.len = 32 << 10;
	/* a burst without running the reactor: SCTP's buffer fills, the
	 * lane congests, later chunks replace each other in the slot */
	for (uint64_t s = 1; s <= n; s++) {
		c.sequence = s;
		CHECK_OK(actr_stream_send(p.tx.ref, p.to, &c,
					  ACTR_STREAM_LATENCY_FIRST));
	}
	actr_stream_get_stats(p.tx.ref, &sa);
	CHECK(sa.coalesced > 0);
	CHECK_EQ(sa.held, 1);
	/* the newest one always arrives (3 retransmits on loopback) */
	for (int i = 0; i < 3000 && l.last != n; i++)
		actr_reactor_run_once(p.r, 10);
	CHECK_EQ(l.last, n);
	CHECK_EQ(l.older, 0);
	CHECK(l.n < (int)n);
	actr_stream_get_stats(p.tx.ref, &sa);
	actr_stream_get_stats(p.rx.ref, &sb);
	CHECK_EQ(sa.held, 0);
	CHECK_EQ(sa.chunks_out + sa.coalesced, n + 1);
	CHECK_EQ(sb.chunks_in, (uint64_t)l.n);
	CHECK_EQ(sb.unregistered, 1);	/* "hello" */
	free(buf);
	pair_free(&p);
}

/* Loss: outgoing UDP datagrams of the direct path dropped with a fixed
 * seed (the kernel has no netem; the seam is actr__sys.sendmmsg). */
static int (*real_sendmmsg)(int, struct mmsghdr *, unsigned, int);
static uint64_t loss_rng = 42;
static unsigned loss_pct, loss_dropped, loss_seen;

static bool lose(void)
{
	loss_rng = loss_rng * 6364136223846793005ull + 1442695040888963407ull;
	return (unsigned)(loss_rng >> 33) % 100 < loss_pct;
}

/* Every datagram of every message (a UDP GSO run is split into its
 * segments) is dropped or sent on its own. */
static int lossy_sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
	static uint8_t buf[65536];

	for (unsigned i = 0; i < n; i++) {
		struct msghdr *m = &v[i].msg_hdr;
		struct cmsghdr *cm;
		size_t len = 0, seg;

		for (size_t k = 0; k < m->msg_iovlen; k++) {
			size_t l = m->msg_iov[k].iov_len;

			CHECK(len + l <= sizeof(buf));
			memcpy(buf + len, m->msg_iov[k].iov_base, l);
			len += l;
		}
		seg = len;
		for (cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
			uint16_t g;

			if (cm->cmsg_level != IPPROTO_UDP ||
			    cm->cmsg_type != 103 /* UDP_SEGMENT */)
				continue;
			memcpy(&g, CMSG_DATA(cm), sizeof(g));
			seg = g ? g : len;
		}
		for (size_t off = 0; off < len; off += seg) {
			loss_seen++;
			if (lose()) {
				loss_dropped++;
				continue;
			}
			/* a full socket buffer is one more loss */
			(void)sendto(fd, buf + off, ACTR_MIN(seg, len - off),
				     flags, m->msg_name, m->msg_namelen);
		}
		v[i].msg_len = (unsigned)len;
	}
	return (int)n;
}

TEST_TIMEOUT(stream_remote_latency_first_loss, 90)
{
	struct pair p;
	struct lf l = { 0 };
	actr_stream_stats_t sa, sb;
	Actr__DataChunk c = ACTR__DATA_CHUNK__INIT;
	uint8_t buf[1024] = { 0 };
	const uint64_t n = 3000;
	uint64_t next_tick;

	pair_new(&p);
	CHECK_OK(actr_stream_register(p.rx.ref, "pos", on_lf, &l));
	connect_pair(&p);
	real_sendmmsg = actr__sys.sendmmsg;
	loss_pct = 10;
	actr__sys.sendmmsg = lossy_sendmmsg;
	c.stream_id = "pos";
	c.payload.data = buf;
	c.payload.len = sizeof(buf);
	/* one 1 KiB chunk every 0.5 ms, like a position feed */
	next_tick = actr_reactor_now(p.r);
	for (uint64_t s = 1; s <= n;) {
		if (actr_reactor_update_time(p.r) >= next_tick) {
			c.sequence = s++;
			CHECK_OK(actr_stream_send(p.tx.ref, p.to, &c,
						  ACTR_STREAM_LATENCY_FIRST));
			next_tick += 500000;
		}
		actr_reactor_run_once(p.r, 0);
	}
	for (int i = 0; i < 300; i++)
		actr_reactor_run_once(p.r, 10);
	actr__sys.sendmmsg = real_sendmmsg;
	actr_stream_get_stats(p.tx.ref, &sa);
	actr_stream_get_stats(p.rx.ref, &sb);
	fprintf(stderr, "loss: %u of %u datagrams dropped; %d of %llu delivered, "
		"%llu stale, %llu coalesced, %llu handed to SCTP\n",
		loss_dropped, loss_seen, l.n, (unsigned long long)n,
		(unsigned long long)sb.stale, (unsigned long long)sa.coalesced,
		(unsigned long long)sa.chunks_out);
	CHECK(loss_dropped > 0);
	CHECK(l.n > 0);
	CHECK_EQ(l.older, 0);		/* never an older after a newer */
	CHECK(sb.stale > 0);		/* retransmissions came late */
	CHECK_EQ(sb.chunks_in, (uint64_t)l.n);
	pair_free(&p);
}
