/* Tests of sctp/: DCEP codec; two full stacks (UDP loopback -> DTLS ->
 * SCTP -> data channels) on one reactor; the same across two processes. */
#define _GNU_SOURCE
#include <sys/wait.h>

#include "test.h"
#include "test_sctp_stack.h"

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
	bool seen[4096];		/* sequence numbers seen (unordered) */
	int dups;
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
		if (i >= 0 && !actr__dc_unordered(dc)) {
			if (seq != s->next_seq[i])
				s->seq_errors++;
			s->next_seq[i] = seq + 1;
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
};

static struct world *world_new(void)
{
	struct world *w = calloc(1, sizeof(*w));

	CHECK(w);
	w->r = actr_reactor_new();
	CHECK(w->r);
	CHECK_OK(stk_pair(w->r, &w->a, &w->b));
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

static void world_free(struct world *w)
{
	stk_free(&w->a);
	stk_free(&w->b);
	actr_reactor_free(w->r);
	free(w);
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
