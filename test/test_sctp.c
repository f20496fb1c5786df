/* Tests of sctp/: DCEP codec; two full stacks (UDP loopback -> DTLS ->
 * SCTP -> data channels) on one reactor; the same across two processes. */
#define _GNU_SOURCE
#include <sys/wait.h>

#include "test.h"
#include "test_sctp_stack.h"
#include "sctp/sctp_internal.h"

/* ---- helpers ------------------------------------------------------------ */

static uint32_t fnv(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

#define MAXCH 16

/* What one side saw on its channels. */
struct side {
	actr__dc_t *ch[MAXCH];		/* channels by order of appearance */
	int n_ch;
	int opens;			/* open callbacks */
	int closes;			/* closed callbacks */
	int lows;			/* buffered_low callbacks */
	int msgs;			/* messages received */
	uint64_t bytes;			/* bytes received */
	bool echo;			/* echo every message back */
	size_t last_len;
	uint32_t last_sum;
	bool last_binary;
	int seq_errors;			/* reliable-order violations */
	uint32_t next_seq[MAXCH];	/* expected sequence per channel */
	bool seq_started[MAXCH];	/* first sequence number seen */
	bool seen[4096];		/* sequence numbers seen (unordered) */
	int dups;
	int reorders;			/* unordered: arrived after a later one */
	uint32_t max_seq[MAXCH];	/* highest sequence seen per channel */
	actr__dc_t *last_closed;
};

static int ch_index(struct side *s, actr__dc_t *dc)
{
	for (int i = 0; i < s->n_ch; i++)
		if (s->ch[i] == dc)
			return i;
	return -1;
}

static void on_open(void *arg, actr__dc_t *dc)
{
	struct side *s = arg;

	s->opens++;
}

static void on_msg(void *arg, actr__dc_t *dc, const uint8_t *p, size_t n,
		   bool binary)
{
	struct side *s = arg;

	s->msgs++;
	s->bytes += n;
	s->last_len = n;
	s->last_sum = fnv(p, n);
	s->last_binary = binary;
	if (s->echo) {
		int rc = actr__dc_send(dc, p, n, binary);

		CHECK(rc == 0);
	}
	/* Sequenced traffic: 4-byte big-endian counter in front. */
	if (n >= 8 && !memcmp(p + 4, "SEQ!", 4)) {
		uint32_t seq = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
			       (uint32_t)p[2] << 8 | p[3];
		int i = ch_index(s, dc);

		if (seq < 4096) {
			if (s->seen[seq])
				s->dups++;
			s->seen[seq] = true;
		}
		if (i >= 0 && actr__dc_unordered(dc)) {
			if (seq < s->max_seq[i])
				s->reorders++;
			else
				s->max_seq[i] = seq;
		}
		if (i >= 0 && !actr__dc_unordered(dc)) {
			if (s->seq_started[i] && seq != s->next_seq[i])
				s->seq_errors++;
			s->next_seq[i] = seq + 1;
			s->seq_started[i] = true;
		}
	}
}

static void on_low(void *arg, actr__dc_t *dc)
{
	struct side *s = arg;

	s->lows++;
}

static void on_closed(void *arg, actr__dc_t *dc)
{
	struct side *s = arg;
	int i = ch_index(s, dc);

	s->closes++;
	s->last_closed = dc;
	if (i >= 0) /* the handle dies after this callback */
		s->ch[i] = NULL;
}

static const struct actr__dc_cbs side_cbs = {
	.open = on_open,
	.message = on_msg,
	.buffered_low = on_low,
	.closed = on_closed,
};

static void accept_channel(struct stk *k, actr__dc_t *dc)
{
	struct side *s = k->user;

	CHECK(s->n_ch < MAXCH);
	s->ch[s->n_ch++] = dc;
	actr__dc_set_cbs(dc, &side_cbs, s);
}

static actr__dc_t *open_ch(struct stk *k, const char *label, bool unordered,
			   enum actr__dc_reliability rel, uint32_t param)
{
	struct side *s = k->user;
	struct actr__dc_opts o = { .label = label, .unordered = unordered,
				   .reliability = rel,
				   .reliability_param = param };
	actr__dc_t *dc = actr__dc_open(k->sctp, &o, &side_cbs, s);

	CHECK(dc);
	CHECK(s->n_ch < MAXCH);
	s->ch[s->n_ch++] = dc;
	return dc;
}

struct world {
	actr_reactor_t *r;
	struct stk a, b;	/* a: DTLS client */
	struct side sa, sb;
	bool own_r;		/* reactor created by world_new */
};

static struct world *world_new_opts(actr_reactor_t *r,
				     const struct actr__sctp_opts *oa,
				     const struct actr__sctp_opts *ob)
{
	struct world *w = calloc(1, sizeof(*w));

	CHECK(w);
	w->r = r ? r : actr_reactor_new();
	w->own_r = !r;
	CHECK(w->r);
	CHECK_OK(stk_pair_opts(w->r, &w->a, &w->b, oa, ob));
	w->a.user = &w->sa;
	w->b.user = &w->sb;
	w->a.on_channel = accept_channel;
	w->b.on_channel = accept_channel;
	CHECK(STK_RUN_UNTIL(w->r,
			    w->a.sctp_st == ACTR_SCTP_CONNECTED &&
				    w->b.sctp_st == ACTR_SCTP_CONNECTED,
			    actr_test_scale(5000)));
	return w;
}

static struct world *world_new_on(actr_reactor_t *r)
{
	return world_new_opts(r, NULL, NULL);
}

static struct world *world_new(void)
{
	return world_new_on(NULL);
}

static void world_free(struct world *w)
{
	bool own = w->own_r;

	stk_free(&w->a);
	stk_free(&w->b);
	if (own)
		actr_reactor_free(w->r);
	free(w);
	if (own)
		CHECK(!actr__sctp_global_active()); /* usrsctp_finish ran */
}

/* ---- DCEP codec ---------------------------------------------------------- */

TEST(sctp_dcep_codec)
{
	struct actr__dcep_open o = { .channel_type = 0x81,
				     .priority = 256,
				     .reliability = 3,
				     .label = "STREAM_LATENCY_FIRST",
				     .label_len = 20,
				     .protocol = "p",
				     .protocol_len = 1 };
	struct actr__dcep_open q;
	uint8_t buf[64];
	int n = actr__dcep_encode_open(&o, buf, sizeof(buf));

	CHECK_EQ(n, 12 + 20 + 1);
	CHECK_EQ(buf[0], 0x03);
	CHECK_EQ(buf[1], 0x81);
	CHECK_EQ(buf[7], 3);
	CHECK_OK(actr__dcep_parse_open(buf, (size_t)n, &q));
	CHECK_EQ(q.channel_type, 0x81);
	CHECK_EQ(q.priority, 256);
	CHECK_EQ(q.reliability, 3);
	CHECK_EQ(q.label_len, 20);
	CHECK(!memcmp(q.label, "STREAM_LATENCY_FIRST", 20));
	CHECK_EQ(q.protocol_len, 1);
	CHECK_EQ(q.protocol[0], 'p');
	/* Truncated, overlong, wrong type, bad channel type. */
	CHECK_EQ(actr__dcep_parse_open(buf, (size_t)n - 1, &q), -ACTR_EPROTO);
	CHECK_EQ(actr__dcep_parse_open(buf, 11, &q), -ACTR_EPROTO);
	buf[0] = 0x02;
	CHECK_EQ(actr__dcep_parse_open(buf, (size_t)n, &q), -ACTR_EPROTO);
	buf[0] = 0x03;
	buf[1] = 0x05;
	CHECK_EQ(actr__dcep_parse_open(buf, (size_t)n, &q), -ACTR_EPROTO);
	CHECK_EQ(actr__dcep_encode_open(&o, buf, 20), -ENOSPC);
}

/* ---- CRC32c ----------------------------------------------------------------- */

TEST(sctp_crc32c)
{
	uint8_t pkt[1200];

	/* The standard check value of CRC-32C. */
	CHECK_EQ(actr__crc32c("123456789", 9), 0xe3069283u);
	/* Same as usrsctp's own routine, on odd lengths and alignments. */
	fill(pkt, sizeof(pkt), 7);
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 12; n < 200; n += 37)
			CHECK_EQ(actr__crc32c(pkt + off, n),
				 usrsctp_crc32c(pkt + off, n));
	actr__sctp_crc_fill(pkt, sizeof(pkt));
	CHECK(actr__sctp_crc_ok(pkt, sizeof(pkt)));
	pkt[100] ^= 1;
	CHECK(!actr__sctp_crc_ok(pkt, sizeof(pkt)));
	CHECK(!actr__sctp_crc_ok(pkt, 11));
}

/* ---- one process, two stacks -------------------------------------------- */

static const char *const labels[4] = { "RPC_RELIABLE", "RPC_SIGNAL",
				       "STREAM_RELIABLE",
				       "STREAM_LATENCY_FIRST" };

static void open_lanes(struct world *w)
{
	for (int i = 0; i < 3; i++)
		open_ch(&w->a, labels[i], false, ACTR_DC_RELIABLE, 0);
	open_ch(&w->a, labels[3], true, ACTR_DC_PR_RTX, 3);
	CHECK(STK_RUN_UNTIL(w->r, w->sa.opens == 4 && w->sb.n_ch == 4,
			    actr_test_scale(3000)));
}

/* A corrupted packet is dropped and counted; the association goes on. */
TEST(sctp_bad_packet_dropped)
{
	struct world *w = world_new();
	struct actr__sctp_stats st;
	uint8_t junk[300];

	open_lanes(w);
	fill(junk, sizeof(junk), 3);
	actr__sctp_feed(w->b.sctp, junk, sizeof(junk));	/* bad CRC */
	actr__sctp_feed(w->b.sctp, junk, 5);		/* runt */
	actr__sctp_get_stats(w->b.sctp, &st);
	CHECK_EQ(st.bad_crc, 1);
	CHECK_EQ(st.dropped_in, 2);
	w->sb.echo = true;
	CHECK_OK(actr__dc_send(w->sa.ch[0], "ok", 2, true));
	CHECK(STK_RUN_UNTIL(w->r, w->sa.msgs == 1, 3000));
	world_free(w);
}

TEST_TIMEOUT(sctp_channels_open_echo, 30)
{
	struct world *w = world_new();
	static uint8_t msg[65536];
	static const size_t sizes[] = { 1,    2,    100,   1000,  1200,
					1201, 4096, 16384, 65535, 65536 };
	struct actr__sctp_stats st;

	open_lanes(w);
	/* The answerer sees the four lanes with their labels and options. */
	for (int i = 0; i < 4; i++) {
		actr__dc_t *dc = w->sb.ch[i];

		CHECK_STR(actr__dc_label(dc), labels[i]);
		CHECK_STR(actr__dc_protocol(dc), "");
		CHECK_EQ(actr__dc_get_state(dc), ACTR_DC_OPEN);
		CHECK_EQ(actr__dc_stream(dc) % 2, 0); /* DTLS client: even */
		CHECK_EQ(actr__dc_stream(dc), actr__dc_stream(w->sa.ch[i]));
		CHECK_EQ(actr__dc_unordered(dc), i == 3);
		CHECK_EQ(actr__dc_max_retransmits(dc), i == 3 ? 3 : -1);
		CHECK_EQ(actr__dc_max_lifetime(dc), -1);
	}
	/* A channel from the other direction gets an odd stream id. */
	actr__dc_t *back = open_ch(&w->b, "BACK", false, ACTR_DC_RELIABLE, 0);

	CHECK_EQ(actr__dc_stream(back) % 2, 1);
	CHECK(STK_RUN_UNTIL(w->r, w->sa.n_ch == 5 && w->sb.opens == 1,
			    actr_test_scale(3000)));
	CHECK_STR(actr__dc_label(w->sa.ch[4]), "BACK");

	/* Echo 1 B .. 64 KiB on each reliable lane (B echoes). */
	w->sb.echo = true;
	for (int c = 0; c < 3; c++) {
		for (size_t i = 0; i < ACTR_ARRAY_LEN(sizes); i++) {
			int before = w->sa.msgs;

			fill(msg, sizes[i], (uint32_t)(c * 100 + i));
			CHECK_OK(actr__dc_send(w->sa.ch[c], msg, sizes[i],
					       true));
			CHECK(STK_RUN_UNTIL(w->r, w->sa.msgs == before + 1,
					    actr_test_scale(3000)));
			CHECK_EQ(w->sa.last_len, sizes[i]);
			CHECK_EQ(w->sa.last_sum, fnv(msg, sizes[i]));
			CHECK(w->sa.last_binary);
		}
	}
	/* Strings and empty messages (PPID 51, 56, 57). */
	CHECK_OK(actr__dc_send(w->sa.ch[0], "hello", 5, false));
	CHECK(STK_RUN_UNTIL(w->r, w->sa.last_len == 5, 3000));
	CHECK(!w->sa.last_binary);
	CHECK_OK(actr__dc_send(w->sa.ch[0], NULL, 0, true));
	CHECK(STK_RUN_UNTIL(w->r, w->sa.last_len == 0, 3000));
	CHECK(w->sa.last_binary);
	int before = w->sa.msgs;

	CHECK_OK(actr__dc_send(w->sa.ch[0], NULL, 0, false));
	CHECK(STK_RUN_UNTIL(w->r, w->sa.msgs == before + 1, 3000));
	CHECK_EQ(w->sa.last_len, 0);
	CHECK(!w->sa.last_binary);
	/* Above the peer's max message size. */
	CHECK_EQ(actr__dc_send(w->sa.ch[0], msg, 65537, true), -ACTR_ETOOBIG);

	/* Packets fit the path MTU, and carry a valid CRC32c. */
	actr__sctp_get_stats(w->a.sctp, &st);
	printf("  largest SCTP packet: %llu\n", (unsigned long long)st.max_packet_out);
	CHECK(st.max_packet_out <= 1200);
	CHECK(w->a.max_sctp_pkt <= 1200);
	CHECK(w->a.max_sctp_pkt > 1000);
	CHECK_EQ(w->a.bad_crc, 0);
	CHECK_EQ(w->b.bad_crc, 0);
	CHECK_EQ(st.dropped_in, 0);
	world_free(w);
}

static void seq_msg(uint8_t *p, size_t n, uint32_t seq)
{
	fill(p, n, seq);
	p[0] = (uint8_t)(seq >> 24);
	p[1] = (uint8_t)(seq >> 16);
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	memcpy(p + 4, "SEQ!", 4);
}

/* A burst far above usrsctp's 1 MiB send buffer: sends beyond it are queued
 * (EWOULDBLOCK), resumed on the writable upcall, and all arrive in order. */
TEST_TIMEOUT(sctp_burst_would_block_resumes, 60)
{
	struct world *w = world_new();
	static uint8_t msg[65536];
	struct actr__sctp_stats st;
	const int n = 64; /* 4 MiB */
	actr__dc_t *dc;

	open_lanes(w);
	dc = w->sa.ch[2]; /* STREAM_RELIABLE */
	actr__dc_set_buffered_low(dc, 256 * 1024);
	for (int i = 0; i < n; i++) {
		seq_msg(msg, sizeof(msg), (uint32_t)i);
		CHECK_OK(actr__dc_send(dc, msg, sizeof(msg), true));
	}
	actr__sctp_get_stats(w->a.sctp, &st);
	CHECK(st.would_block >= 1);
	CHECK(actr__dc_buffered(dc) >= 2 * 1024 * 1024);
	CHECK_EQ(st.queued_bytes, actr__dc_buffered(dc));
	CHECK(STK_RUN_UNTIL(w->r, w->sb.msgs == n, actr_test_scale(20000)));
	CHECK_EQ(w->sb.bytes, (uint64_t)n * sizeof(msg));
	CHECK_EQ(w->sb.seq_errors, 0);
	CHECK_EQ(w->sb.dups, 0);
	CHECK_EQ(actr__dc_buffered(dc), 0);
	CHECK_EQ(w->sa.lows, 1); /* crossed the mark once */

	/* The queue limit: sending without ever running the reactor stops
	 * at max_queued (16 MiB) with -ENOBUFS, not unbounded memory. */
	int i, rc = 0;

	for (i = 0; i < 1000 && rc == 0; i++)
		rc = actr__dc_send(dc, msg, sizeof(msg), true);
	CHECK_EQ(rc, -ENOBUFS);
	CHECK(i > 16 * 16 && i < 1000);
	world_free(w);
}

/* Unordered channel with maxRetransmits = 0 over a lossy link: messages
 * are abandoned rather than retransmitted, nothing is duplicated, and a
 * reliable channel on the same association still gets everything in
 * order. */
TEST_TIMEOUT(sctp_unordered_partial_reliability, 60)
{
	struct world *w = world_new();
	uint8_t msg[600];
	const int n = 400;
	actr__dc_t *pr, *rel;
	int got_pr, got_rel;

	pr = open_ch(&w->a, "LOSSY", true, ACTR_DC_PR_RTX, 0);
	rel = open_ch(&w->a, "SAFE", false, ACTR_DC_RELIABLE, 0);
	CHECK(STK_RUN_UNTIL(w->r, w->sb.n_ch == 2 && w->sa.opens == 2,
			    actr_test_scale(3000)));
	CHECK(actr__dc_unordered(w->sb.ch[0]));
	CHECK_EQ(actr__dc_max_retransmits(w->sb.ch[0]), 0);
	/* Let the ACKs arrive, so the lossy channel is really unordered. */
	STK_RUN_UNTIL(w->r, false, 50);
	w->a.drop_every = 5; /* lose 20% of A's datagrams from now on */
	for (int i = 0; i < n; i++) {
		seq_msg(msg, sizeof(msg), (uint32_t)i);
		CHECK_OK(actr__dc_send(pr, msg, sizeof(msg), true));
		if (i % 10 == 0)
			actr_reactor_run_once(w->r, 0);
	}
	/* The lossy traffic settles (no arrival for 300 ms); then the
	 * reliable channel. */
	{
		uint64_t quiet = actr_time_ns(), end = quiet + ACTR_SEC(30);
		int last = -1;

		while (actr_time_ns() - quiet < ACTR_MS(300) &&
		       actr_time_ns() < end) {
			actr_reactor_run_once(w->r, 5);
			if (w->sb.msgs != last) {
				last = w->sb.msgs;
				quiet = actr_time_ns();
			}
		}
	}
	got_pr = w->sb.msgs;
	for (int i = 0; i < 100; i++) {
		seq_msg(msg, sizeof(msg), (uint32_t)(1000 + i));
		CHECK_OK(actr__dc_send(rel, msg, sizeof(msg), true));
	}
	CHECK(STK_RUN_UNTIL(w->r, w->sb.msgs == got_pr + 100,
			    actr_test_scale(20000)));
	got_rel = w->sb.msgs - got_pr;
	printf("  lossy channel: %d of %d delivered; reliable: %d of 100; "
	       "%lu datagrams dropped\n",
	       got_pr, n, got_rel, w->a.dropped);
	CHECK(w->a.dropped > 10);
	CHECK(got_pr < n);	/* abandoned, not retransmitted */
	CHECK(got_pr > n / 4);	/* but most got through */
	CHECK_EQ(got_rel, 100);
	CHECK_EQ(w->sb.dups, 0);
	CHECK_EQ(w->sb.seq_errors, 0); /* reliable one in order */

	/* Unordered but reliable over the same loss: everything arrives,
	 * and retransmitted messages arrive after later ones. */
	actr__dc_t *un = open_ch(&w->a, "UNORD", true, ACTR_DC_RELIABLE, 0);
	int base = w->sb.msgs;

	w->a.drop_every = 0;
	CHECK(STK_RUN_UNTIL(w->r, w->sb.n_ch == 3, actr_test_scale(3000)));
	STK_RUN_UNTIL(w->r, false, 50); /* the ACK */
	w->a.drop_every = 5;
	w->sb.reorders = 0;
	for (int i = 0; i < 200; i++) {
		seq_msg(msg, sizeof(msg), (uint32_t)(2000 + i));
		CHECK_OK(actr__dc_send(un, msg, sizeof(msg), true));
		if (i % 10 == 0)
			actr_reactor_run_once(w->r, 0);
	}
	CHECK(STK_RUN_UNTIL(w->r, w->sb.msgs == base + 200,
			    actr_test_scale(20000)));
	printf("  unordered reliable: 200 of 200, %d arrived out of order\n",
	       w->sb.reorders);
	CHECK(w->sb.reorders > 0);
	CHECK_EQ(w->sb.dups, 0);
	w->a.drop_every = 0;
	world_free(w);
}

/* Close a channel by stream reset from either side, then reopen it. */
TEST_TIMEOUT(sctp_close_and_reopen, 30)
{
	struct world *w = world_new();
	actr__dc_t *dc;
	uint16_t sid;

	open_lanes(w);
	w->sb.echo = true;
	dc = w->sa.ch[1]; /* RPC_SIGNAL */
	sid = actr__dc_stream(dc);
	CHECK_OK(actr__dc_send(dc, "last words", 10, true));
	CHECK_OK(actr__dc_close(dc)); /* queued data goes out first */
	CHECK_EQ(actr__dc_close(dc), -ACTR_ECLOSED);
	CHECK_EQ(actr__dc_send(dc, "x", 1, true), -ACTR_ECLOSED);
	CHECK(STK_RUN_UNTIL(w->r, w->sa.closes == 1 && w->sb.closes == 1,
			    actr_test_scale(3000)));
	CHECK_EQ(w->sb.msgs, 1); /* "last words" arrived before the close */
	CHECK_EQ(w->sb.last_len, 10);
	CHECK(w->sa.ch[1] == NULL && w->sb.ch[1] == NULL);
	/* (B's echo of it may or may not have reached A's closing end.) */
	int m = w->sa.msgs;

	CHECK(m <= 1);
	/* The other lanes are untouched. */
	CHECK_OK(actr__dc_send(w->sa.ch[0], "still", 5, true));
	CHECK(STK_RUN_UNTIL(w->r, w->sa.msgs == m + 1, 3000));

	/* Reopen with the same label: the freed stream id is reused. */
	dc = open_ch(&w->a, "RPC_SIGNAL", false, ACTR_DC_RELIABLE, 0);
	CHECK_EQ(actr__dc_stream(dc), sid);
	CHECK(STK_RUN_UNTIL(w->r, w->sb.n_ch == 5, actr_test_scale(3000)));
	CHECK_STR(actr__dc_label(w->sb.ch[4]), "RPC_SIGNAL");
	CHECK_OK(actr__dc_send(dc, "again", 5, true));
	CHECK(STK_RUN_UNTIL(w->r, w->sa.msgs == m + 2, 3000));
	CHECK_EQ(w->sa.last_len, 5);

	/* Now the answerer closes one (incoming reset on the opener). */
	CHECK_OK(actr__dc_close(w->sb.ch[3]));
	CHECK(STK_RUN_UNTIL(w->r, w->sa.closes == 2 && w->sb.closes == 2,
			    actr_test_scale(3000)));
	CHECK(w->sa.ch[3] == NULL);
	world_free(w);
}

/* Graceful shutdown and abort; usrsctp is finished and can start again. */
TEST_TIMEOUT(sctp_association_teardown, 30)
{
	struct world *w = world_new();

	open_lanes(w);
	CHECK_OK(actr__sctp_shutdown(w->a.sctp));
	CHECK(STK_RUN_UNTIL(w->r,
			    w->a.sctp_st == ACTR_SCTP_CLOSED &&
				    w->b.sctp_st == ACTR_SCTP_CLOSED,
			    actr_test_scale(3000)));
	CHECK_EQ(w->a.sctp_err, 0);
	CHECK_EQ(w->b.sctp_err, 0);
	CHECK_EQ(w->sa.closes, 4); /* every channel reported closed */
	CHECK_EQ(w->sb.closes, 4);
	CHECK_EQ(actr__sctp_shutdown(w->a.sctp), -ACTR_ECLOSED);
	world_free(w);
	CHECK(!actr__sctp_global_active());

	/* Again in the same process (usrsctp re-initialised); this time B
	 * goes away abruptly: A sees the abort. */
	w = world_new();
	CHECK(actr__sctp_global_active());
	open_lanes(w);
	actr__sctp_free(w->b.sctp);
	w->b.sctp = NULL;
	CHECK(STK_RUN_UNTIL(w->r, w->a.sctp_st == ACTR_SCTP_CLOSED,
			    actr_test_scale(3000)));
	CHECK_EQ(w->a.sctp_err, -ECONNRESET);
	CHECK_EQ(w->sa.closes, 4);
	CHECK(actr__sctp_global_active()); /* A is still alive */
	world_free(w);
}

/* Several associations at once in one process (the id table). */
TEST_TIMEOUT(sctp_many_associations, 30)
{
	actr_reactor_t *r = actr_reactor_new();
	struct world *w[3];
	uint8_t msg[3000];

	/* usrsctp belongs to one reactor: all associations share it. */
	for (int i = 0; i < 3; i++) {
		w[i] = world_new_on(r);
		open_lanes(w[i]);
		w[i]->sb.echo = true;
	}
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 3; i++) {
			fill(msg, sizeof(msg), (uint32_t)(i * 10 + round));
			CHECK_OK(actr__dc_send(w[i]->sa.ch[0], msg,
					       sizeof(msg) - (size_t)i, true));
		}
		for (int i = 0; i < 3; i++) {
			fill(msg, sizeof(msg), (uint32_t)(i * 10 + round));
			CHECK(STK_RUN_UNTIL(w[i]->r,
					    w[i]->sa.msgs == round + 1,
					    actr_test_scale(3000)));
			CHECK_EQ(w[i]->sa.last_sum,
				 fnv(msg, sizeof(msg) - (size_t)i));
		}
	}
	/* Freeing one association leaves the others working. */
	world_free(w[0]);
	CHECK(actr__sctp_global_active());
	CHECK_OK(actr__dc_send(w[1]->sa.ch[0], "x", 1, true));
	CHECK(STK_RUN_UNTIL(w[1]->r, w[1]->sa.msgs == 6, 3000));
	world_free(w[1]);
	world_free(w[2]);
	CHECK(!actr__sctp_global_active());
	actr_reactor_free(r);
}

/* ---- two processes --------------------------------------------------------- */

struct hello {
	uint16_t port;
	char fp[160];
};

static bool read_full(int fd, void *p, size_t n)
{
	uint8_t *b = p;

	while (n > 0) {
		ssize_t k = read(fd, b, n);

		if (k <= 0)
			return false;
		b += k;
		n -= (size_t)k;
	}
	return true;
}

/* The child: the answerer, echoing everything until the parent shuts the
 * association down. Exit status 0 only after a clean close. */
static void child_echo(int rd, int wr)
{
	actr_reactor_t *r = actr_reactor_new();
	actr__dtls_cert_t *cert = actr__dtls_cert_new();
	struct side sd;
	struct stk k;
	struct hello me, peer;
	bool ok;

	memset(&sd, 0, sizeof(sd));
	sd.echo = true;
	if (!r || !cert || stk_socket(&k, r) < 0)
		_exit(2);
	k.user = &sd;
	k.on_channel = accept_channel;
	memset(&me, 0, sizeof(me));
	me.port = k.port;
	snprintf(me.fp, sizeof(me.fp), "%s", actr__dtls_cert_fingerprint(cert));
	if (write(wr, &me, sizeof(me)) != sizeof(me) ||
	    !read_full(rd, &peer, sizeof(peer)))
		_exit(3);
	if (stk_start(&k, cert, false, peer.port, peer.fp) < 0)
		_exit(4);
	ok = STK_RUN_UNTIL(r, k.sctp_st == ACTR_SCTP_CLOSED,
			   actr_test_scale(15000));
	ok = ok && k.sctp_err == 0 && sd.msgs >= 10 && sd.n_ch == 4;
	stk_free(&k);
	actr__dtls_cert_unref(cert);
	actr_reactor_free(r);
	_exit(ok && !actr__sctp_global_active() ? 0 : 5);
}

TEST_TIMEOUT(sctp_two_processes, 60)
{
	int p2c[2], c2p[2], status = -1;
	struct hello me, peer;
	actr__dtls_cert_t *cert;
	actr_reactor_t *r;
	static uint8_t msg[65536];
	static const size_t sizes[] = { 1, 64, 1200, 5000, 65535, 65536 };
	struct world *w;
	pid_t pid;

	CHECK(!actr__sctp_global_active());
	CHECK_OK(pipe(p2c));
	CHECK_OK(pipe(c2p));
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(p2c[1]);
		close(c2p[0]);
		child_echo(p2c[0], c2p[1]);
	}
	close(p2c[0]);
	close(c2p[1]);
	r = actr_reactor_new();
	cert = actr__dtls_cert_new();
	w = calloc(1, sizeof(*w));
	CHECK(r && cert && w);
	w->r = r;
	w->own_r = true;
	CHECK_OK(stk_socket(&w->a, r));
	w->a.user = &w->sa;
	w->a.on_channel = accept_channel;
	memset(&me, 0, sizeof(me));
	me.port = w->a.port;
	snprintf(me.fp, sizeof(me.fp), "%s", actr__dtls_cert_fingerprint(cert));
	CHECK(read_full(c2p[0], &peer, sizeof(peer)));
	CHECK_EQ(write(p2c[1], &me, sizeof(me)), sizeof(me));
	CHECK_OK(stk_start(&w->a, cert, true, peer.port, peer.fp));
	actr__dtls_cert_unref(cert);
	w->b.fd = -1;
	CHECK(STK_RUN_UNTIL(r, w->a.sctp_st == ACTR_SCTP_CONNECTED,
			    actr_test_scale(5000)));
	CHECK_STR(actr__dtls_remote_fingerprint(w->a.dtls), peer.fp);
	for (int i = 0; i < 3; i++)
		open_ch(&w->a, labels[i], false, ACTR_DC_RELIABLE, 0);
	open_ch(&w->a, labels[3], true, ACTR_DC_PR_RTX, 3);
	CHECK(STK_RUN_UNTIL(r, w->sa.opens == 4, actr_test_scale(3000)));
	for (int rep = 0; rep < 2; rep++) {
		for (size_t i = 0; i < ACTR_ARRAY_LEN(sizes); i++) {
			int before = w->sa.msgs;

			fill(msg, sizes[i], (uint32_t)(rep * 10 + i));
			CHECK_OK(actr__dc_send(w->sa.ch[rep], msg, sizes[i],
					       true));
			CHECK(STK_RUN_UNTIL(r, w->sa.msgs == before + 1,
					    actr_test_scale(3000)));
			CHECK_EQ(w->sa.last_len, sizes[i]);
			CHECK_EQ(w->sa.last_sum, fnv(msg, sizes[i]));
		}
	}
	CHECK_OK(actr__sctp_shutdown(w->a.sctp));
	CHECK(STK_RUN_UNTIL(r, w->a.sctp_st == ACTR_SCTP_CLOSED,
			    actr_test_scale(3000)));
	CHECK_EQ(w->a.sctp_err, 0);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	close(p2c[1]);
	close(c2p[0]);
	stk_free(&w->a);
	actr_reactor_free(r);
	free(w);
	CHECK(!actr__sctp_global_active());
}

/* Bad options are refused; usrsctp belongs to one reactor at a time. */
TEST(sctp_new_rejects)
{
	actr_reactor_t *r1 = actr_reactor_new(), *r2 = actr_reactor_new();
	static const struct actr__sctp_cbs cbs = { .send_down = stk_sctp_down };
	struct actr__sctp_opts o = { .mtu = 100 };
	actr__sctp_t *s;

	errno = 0;
	CHECK(actr__sctp_new(r1, &o, &cbs, NULL) == NULL);
	CHECK_EQ(errno, EINVAL);
	CHECK(!actr__sctp_global_active());
	o.mtu = 0;
	s = actr__sctp_new(r1, &o, &cbs, NULL);
	CHECK(s);
	CHECK(actr__sctp_new(r2, &o, &cbs, NULL) == NULL);
	CHECK_EQ(errno, EBUSY);
	CHECK_EQ(actr__sctp_shutdown(s), -ACTR_ECLOSED); /* not connected */
	actr__sctp_free(s);
	CHECK(!actr__sctp_global_active());
	/* Now the other reactor may own it. */
	s = actr__sctp_new(r2, &o, &cbs, NULL);
	CHECK(s);
	actr__sctp_free(s);
	actr_reactor_free(r1);
	actr_reactor_free(r2);
}

/* Out-of-band negotiated channels: no DCEP, same stream id both sides. */
TEST_TIMEOUT(sctp_negotiated_channel, 30)
{
	struct world *w = world_new();
	struct actr__dc_opts o = { .label = "oob", .negotiated = true,
				   .negotiated_id = 9 };
	actr__dc_t *ca, *cb;

	ca = actr__dc_open(w->a.sctp, &o, &side_cbs, &w->sa);
	cb = actr__dc_open(w->b.sctp, &o, &side_cbs, &w->sb);
	CHECK(ca && cb);
	CHECK(actr__dc_open(w->a.sctp, &o, &side_cbs, &w->sa) == NULL);
	CHECK_EQ(errno, EEXIST);
	w->sa.ch[w->sa.n_ch++] = ca;
	w->sb.ch[w->sb.n_ch++] = cb;
	CHECK(STK_RUN_UNTIL(w->r, w->sa.opens == 1 && w->sb.opens == 1,
			    3000));
	CHECK_EQ(actr__dc_stream(ca), 9);
	w->sb.echo = true;
	CHECK_OK(actr__dc_send(ca, "neg", 3, false));
	CHECK(STK_RUN_UNTIL(w->r, w->sa.msgs == 1, 3000));
	CHECK_EQ(w->sa.last_len, 3);
	CHECK_EQ(w->sb.n_ch, 1); /* no DCEP channel event on B */
	world_free(w);
}

/* Both sides close channels at the same time (concurrent stream resets,
 * some refused for now and retried); all close, and all reopen. */
TEST_TIMEOUT(sctp_close_many_both_sides, 30)
{
	struct world *w = world_new();

	open_lanes(w);
	CHECK_OK(actr__dc_close(w->sa.ch[0]));
	CHECK_OK(actr__dc_close(w->sa.ch[1]));
	CHECK_OK(actr__dc_close(w->sb.ch[2]));
	CHECK_OK(actr__dc_close(w->sb.ch[3]));
	CHECK(STK_RUN_UNTIL(w->r, w->sa.closes == 4 && w->sb.closes == 4,
			    actr_test_scale(5000)));
	for (int i = 0; i < 4; i++)
		CHECK(w->sa.ch[i] == NULL && w->sb.ch[i] == NULL);
	w->sa.n_ch = w->sb.n_ch = 0;
	w->sa.opens = 0;
	open_lanes(w);
	w->sb.echo = true;
	for (int i = 0; i < 4; i++) {
		CHECK_STR(actr__dc_label(w->sb.ch[i]), labels[i]);
		CHECK_OK(actr__dc_send(w->sa.ch[i], "x", 1, true));
	}
	CHECK(STK_RUN_UNTIL(w->r, w->sa.msgs == 4, actr_test_scale(3000)));
	world_free(w);
}

/* A peer that ignores our limit (aiortc does not read a=max-message-size):
 * a message over max_message is not delivered, the channel is closed by a
 * stream reset on both sides, the counter says why, and the other
 * channels go on. Both input paths: a message that arrives whole in one
 * read (under RX_CHUNK) and one that arrives in pieces. */
TEST_TIMEOUT(sctp_oversize_message_resets_channel, 30)
{
	struct actr__sctp_opts oa = { .remote_max_message = 1u << 20 };
	struct actr__sctp_opts ob = { .max_message = 65536 };
	struct world *w = world_new_opts(NULL, &oa, &ob);
	struct actr__sctp_stats st;
	static uint8_t big[200000];

	open_lanes(w);
	fill(big, sizeof(big), 7);
	/* At the limit: delivered. */
	CHECK_OK(actr__dc_send(w->sa.ch[0], big, 65536, true));
	CHECK(STK_RUN_UNTIL(w->r, w->sb.msgs == 1, actr_test_scale(3000)));
	CHECK_EQ(w->sb.last_len, 65536);
	/* Over it, in pieces: the channel closes, nothing is delivered. */
	CHECK_OK(actr__dc_send(w->sa.ch[0], big, sizeof(big), true));
	CHECK(STK_RUN_UNTIL(w->r, w->sa.closes == 1 && w->sb.closes == 1,
			    actr_test_scale(3000)));
	CHECK_EQ(w->sb.msgs, 1);
	CHECK(w->sa.ch[0] == NULL);
	actr__sctp_get_stats(w->b.sctp, &st);
	CHECK_EQ(st.oversize_in, 1);
	CHECK_EQ(st.messages_in, 1);
	/* The association and the other channels are untouched. */
	CHECK_EQ(w->b.sctp_st, ACTR_SCTP_CONNECTED);
	w->sb.echo = true;
	CHECK_OK(actr__dc_send(w->sa.ch[1], "ok", 2, true));
	CHECK(STK_RUN_UNTIL(w->r, w->sa.msgs == 1, actr_test_scale(3000)));
	CHECK_EQ(w->sa.last_len, 2);
	world_free(w);

	/* A limit below one read: the message arrives whole and is still
	 * refused. */
	ob.max_message = 1000;
	w = world_new_opts(NULL, &oa, &ob);
	open_lanes(w);
	CHECK_OK(actr__dc_send(w->sa.ch[2], big, 1000, true));
	CHECK_OK(actr__dc_send(w->sa.ch[2], big, 1001, true));
	CHECK(STK_RUN_UNTIL(w->r, w->sa.closes == 1 && w->sb.closes == 1,
			    actr_test_scale(3000)));
	CHECK_EQ(w->sb.msgs, 1);
	CHECK_EQ(w->sb.last_len, 1000);
	actr__sctp_get_stats(w->b.sctp, &st);
	CHECK_EQ(st.oversize_in, 1);
	CHECK_EQ(actr__dc_send(w->sa.ch[3], "x", 1, true), 0);
	world_free(w);
}
