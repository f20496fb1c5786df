/* Media tracks on two peer connections in one process (wire/pc.c +
 * wire/media.c): tracks in the initial offer and added by renegotiation,
 * frames byte for byte with their timestamps while DataChannel messages
 * flow, NACK recovery of a dropped packet, tampered and replayed SRTP,
 * removal of a track. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <actr/actr.h>

#include "core/internal.h"
#include "wire/pc.h"
#include "test.h"

#define MAXQ 64
#define MAXF 256

struct frame_rec {
	char track[65];
	uint64_t sum;
	size_t len;
	uint32_t ts;
	bool key;
	uint32_t lost;
};

struct side {
	actr__pc_t *pc;
	struct side *other;
	char *sdp_q[8];		/* our descriptions, not yet delivered */
	int kind_q[8];		/* 0 plain, 1 media offer, 2 media answer */
	int nq;
	int busy;		/* -EBUSY answers (crossed offers) */
	char *cands[MAXQ];
	int ncands;
	int state;
	int msgs;
	struct frame_rec fr[MAXF];
	int nfr;
	int keyreq;
	int media_offers;	/* renegotiation offers we made */
};

static uint64_t sum(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static void s_description(void *arg, bool offer, const char *sdp)
{
	struct side *s = arg;

	int kind = 0;

	CHECK(s->nq < 8);
	if (offer && actr__pc_media_offering(s->pc)) {
		kind = 1;
		s->media_offers++;
	} else if (!offer && s->other->pc &&
		   actr__pc_media_offering(s->other->pc)) {
		kind = 2;
	}
	s->sdp_q[s->nq] = strdup(sdp);
	s->kind_q[s->nq++] = kind;
}

static void s_candidate(void *arg, const char *cand)
{
	struct side *s = arg;

	CHECK(s->ncands < MAXQ);
	s->cands[s->ncands++] = strdup(cand ? cand : "");
}

static void s_state(void *arg, int state, int err)
{
	struct side *s = arg;

	(void)err;
	s->state = state;
}

static void s_message(void *arg, int lane, actr_buf_t *msg)
{
	struct side *s = arg;

	(void)lane;
	s->msgs++;
	actr_buf_unref(msg);
}

static void s_frame(void *arg, const char *track_id,
		    const struct actr__media_frame *f)
{
	struct side *s = arg;
	struct frame_rec *r;

	CHECK(s->nfr < MAXF);
	r = &s->fr[s->nfr++];
	snprintf(r->track, sizeof(r->track), "%s", track_id);
	r->sum = sum(f->data, f->len);
	r->len = f->len;
	r->ts = f->ts;
	r->key = f->keyframe;
	r->lost = f->lost;
}

static void s_keyreq(void *arg, const char *track_id)
{
	struct side *s = arg;

	(void)track_id;
	s->keyreq++;
}

static const struct actr__pc_cbs scbs = {
	s_description, s_candidate, s_state, s_message, NULL,
};

static const struct actr__pc_media_cbs smcbs = { s_frame, s_keyreq };

static void pump(struct side *s)
{
	struct side *o = s->other;

	for (int i = 0; i < s->nq; i++) {
		char *sdp = s->sdp_q[i];
		int kind = s->kind_q[i], rc;

		s->sdp_q[i] = NULL;
		if (kind == 0) {
			CHECK_OK(actr__pc_set_remote(o->pc, sdp, strlen(sdp)));
		} else {
			rc = actr__pc_set_remote_media(o->pc, sdp, strlen(sdp),
						       kind == 1);
			if (rc == -EBUSY)
				o->busy++;
			else
				CHECK_OK(rc);
		}
		free(sdp);
	}
	s->nq = 0;
	if (actr__pc_state(o->pc) == ACTR__PC_NEW)
		return;
	for (int i = 0; i < s->ncands; i++) {
		int rc = actr__pc_add_candidate(o->pc, s->cands[i]);

		CHECK(rc == 0 || rc == -ENOTSUP);
		free(s->cands[i]);
	}
	s->ncands = 0;
}

static void step(actr_reactor_t *r, struct side *a, struct side *b)
{
	CHECK(actr_reactor_run_once(r, 5) >= 0);
	pump(a);
	pump(b);
}

static void setup(actr_reactor_t *r, struct side *a, struct side *b)
{
	struct actr__pc_config c;

	memset(&c, 0, sizeof(c));
	c.ice.local_addrs[0] = "127.0.0.1";
	c.trickle = true;
	c.handshake_timeout_ms = (unsigned)actr_test_scale(5000);
	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	a->other = b;
	b->other = a;
	a->pc = actr__pc_new(r, true, NULL, &c, &scbs, a);
	b->pc = actr__pc_new(r, false, NULL, &c, &scbs, b);
	CHECK(a->pc && b->pc);
	actr__pc_set_media_cbs(a->pc, &smcbs);
	actr__pc_set_media_cbs(b->pc, &smcbs);
}

static void connect_sides(actr_reactor_t *r, struct side *a, struct side *b)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(8000));

	CHECK_OK(actr__pc_start(a->pc));
	while (!(a->state == ACTR__PC_CONNECTED &&
		 b->state == ACTR__PC_CONNECTED) && actr_time_ns() < end)
		step(r, a, b);
	CHECK_EQ(a->state, ACTR__PC_CONNECTED);
	CHECK_EQ(b->state, ACTR__PC_CONNECTED);
}

static void teardown(struct side *a, struct side *b)
{
	struct side *ss[2] = { a, b };

	for (int k = 0; k < 2; k++) {
		actr__pc_free(ss[k]->pc);
		for (int i = 0; i < ss[k]->nq; i++)
			free(ss[k]->sdp_q[i]);
		for (int i = 0; i < ss[k]->ncands; i++)
			free(ss[k]->cands[i]);
	}
}

/* Send until accepted (negotiation may still be under way); bounded. */
static void send_frame(actr_reactor_t *r, struct side *a, struct side *b,
		       const char *track, const uint8_t *f, size_t n,
		       uint32_t ts)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
	int rc;

	while ((rc = actr__pc_send_frame(a->pc, track, f, n, ts)) ==
	       -ACTR_ENOTREADY && actr_time_ns() < end)
		step(r, a, b);
	CHECK_OK(rc);
}

static void wait_frames(actr_reactor_t *r, struct side *a, struct side *b,
			struct side *s, int n)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));

	while (s->nfr < n && actr_time_ns() < end)
		step(r, a, b);
	CHECK_EQ(s->nfr, n);
}

static void frame(uint8_t *p, size_t n, uint32_t seed, bool key, int codec)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
	if (codec == ACTR__CODEC_VP8)
		p[0] = (uint8_t)((p[0] & 0xfe) | (key ? 0 : 1));
}

/* Tracks from the initial offer (a: Opus + VP8) and from a renegotiation
 * the answerer starts once connected (b: VP8 back), with DataChannel
 * messages going both ways meanwhile. */
TEST_TIMEOUT(media_pc_tracks_both_ways, 60)
{
	actr_reactor_t *r = actr_reactor_new();
	struct side a, b;
	static uint8_t f[30000];
	struct actr__media_stats st;
	uint64_t sums[20];
	int sent_b = 0;

	setup(r, &a, &b);
	CHECK_OK(actr__pc_add_track(a.pc, "mic", "opus"));
	CHECK_OK(actr__pc_add_track(a.pc, "cam", "VP8"));
	CHECK_EQ(actr__pc_add_track(a.pc, "cam", "VP8"), -EEXIST);
	CHECK_EQ(actr__pc_add_track(a.pc, "x", "theora"), -EINVAL);
	CHECK_OK(actr__pc_add_track(b.pc, "back", "VP8"));
	connect_sides(r, &a, &b);
	for (int i = 0; i < 10; i++) {
		uint32_t ts = 1000u + 960u * (uint32_t)i;

		frame(f, 120 + (size_t)i, (uint32_t)i, true, 0);
		send_frame(r, &a, &b, "mic", f, 120 + (size_t)i, ts);
		sums[2 * i] = sum(f, 120 + (size_t)i);
		frame(f, 3000 + 2500 * (size_t)i, 100u + (uint32_t)i, i == 0,
		      ACTR__CODEC_VP8);
		send_frame(r, &a, &b, "cam", f, 3000 + 2500 * (size_t)i,
			   90000u + 3000u * (uint32_t)i);
		sums[2 * i + 1] = sum(f, 3000 + 2500 * (size_t)i);
		CHECK_OK(actr__pc_send(a.pc, ACTR__LANE_RPC_RELIABLE, "call",
				       4));
		frame(f, 5000, 500u + (uint32_t)i, i == 0, ACTR__CODEC_VP8);
		send_frame(r, &b, &a, "back", f, 5000, 7u * (uint32_t)i);
		sent_b++;
		step(r, &a, &b);
	}
	wait_frames(r, &a, &b, &b, 20);
	wait_frames(r, &a, &b, &a, sent_b);
	for (int i = 0; i < 10; i++) {
		struct frame_rec *m = &b.fr[2 * i], *c = &b.fr[2 * i + 1];

		/* audio and video interleave in send order here */
		if (strcmp(m->track, "mic")) {
			struct frame_rec *t = m;

			m = c;
			c = t;
		}
		CHECK_STR(m->track, "mic");
		CHECK_EQ(m->sum, sums[2 * i]);
		CHECK_EQ(m->ts, 1000u + 960u * (uint32_t)i);
		CHECK_STR(c->track, "cam");
		CHECK_EQ(c->sum, sums[2 * i + 1]);
		CHECK_EQ(c->len, 3000 + 2500 * (size_t)i);
		CHECK_EQ(c->ts, 90000u + 3000u * (uint32_t)i);
		CHECK_EQ(c->key, i == 0);
		CHECK_EQ(c->lost, 0);
	}
	/* the answerer's track came by its own renegotiation offer */
	CHECK_EQ(b.media_offers, 1);
	CHECK_EQ(a.media_offers, 0);
	CHECK_STR(a.fr[0].track, "back");
	CHECK(a.fr[0].key);
	CHECK_EQ(a.fr[3].ts, 21);
	while (b.msgs < 10)
		step(r, &a, &b);
	/* RTCP: sender and receiver reports every second, both ways */
	{
		uint64_t end = actr_time_ns() +
			       ACTR_MS(actr_test_scale(5000));
		struct actr__media_stats x;

		do {
			step(r, &a, &b);
			actr__pc_media_stats(a.pc, &x);
			actr__pc_media_stats(b.pc, &st);
		} while ((x.rtcp_in < 1 || st.rtcp_in < 1) &&
			 actr_time_ns() < end);
		CHECK(x.rtcp_in >= 1 && x.rtcp_out >= 1);
		CHECK(st.rtcp_in >= 1 && st.rtcp_out >= 1);
		CHECK_EQ(x.malformed, 0);
	}
	actr__pc_media_stats(b.pc, &st);
	CHECK_EQ(st.srtp_auth_fail, 0);
	CHECK_EQ(st.lost, 0);
	CHECK_EQ(st.frames_in, 20);
	teardown(&a, &b);
	actr_reactor_free(r);
}

/* A data-only connection makes no SRTP sessions (libsrtp's first
 * initialisation is tens of milliseconds of setup, and the sessions are
 * memory per connection); the first track, added once connected, makes
 * them on both sides and its frames arrive. */
TEST_TIMEOUT(media_pc_srtp_when_first_track, 60)
{
	actr_reactor_t *r = actr_reactor_new();
	struct side a, b;
	static uint8_t f[4000];
	struct actr__media_stats st;
	uint64_t end;

	setup(r, &a, &b);
	connect_sides(r, &a, &b);
	end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));

	CHECK_OK(actr__pc_send(a.pc, ACTR__LANE_RPC_RELIABLE, "call", 4));
	while (b.msgs < 1 && actr_time_ns() < end)
		step(r, &a, &b);
	CHECK_EQ(b.msgs, 1);
	CHECK(!actr__media_srtp_live(actr__pc_media(a.pc)));
	CHECK(!actr__media_srtp_live(actr__pc_media(b.pc)));
	CHECK_OK(actr__pc_add_track(a.pc, "late", "VP8"));
	frame(f, sizeof(f), 7, true, ACTR__CODEC_VP8);
	send_frame(r, &a, &b, "late", f, sizeof(f), 3000);
	wait_frames(r, &a, &b, &b, 1);
	CHECK_STR(b.fr[0].track, "late");
	CHECK_EQ(b.fr[0].sum, sum(f, sizeof(f)));
	CHECK(actr__media_srtp_live(actr__pc_media(a.pc)));
	CHECK(actr__media_srtp_live(actr__pc_media(b.pc)));
	actr__pc_media_stats(b.pc, &st);
	CHECK_EQ(st.srtp_auth_fail, 0);
	CHECK_EQ(st.malformed, 0);
	teardown(&a, &b);
	actr_reactor_free(r);
}

/* The third packet of a 20-packet frame never leaves; the receiver NACKs
 * it, the sender answers from its retransmission buffer, the frame
 * arrives whole. Then tampered, replayed and garbage SRTP are counted
 * and deliver nothing. Then the track is removed by renegotiation. */
TEST_TIMEOUT(media_pc_nack_tamper_remove, 60)
{
	actr_reactor_t *r = actr_reactor_new();
	struct side a, b;
	static uint8_t f[22000], pkt[2000];
	struct actr__media_stats sa, sb;
	uint64_t s0;
	size_t n;

	setup(r, &a, &b);
	CHECK_OK(actr__pc_add_track(a.pc, "cam", "VP8"));
	connect_sides(r, &a, &b);
	frame(f, 1000, 1, true, ACTR__CODEC_VP8);
	send_frame(r, &a, &b, "cam", f, 1000, 0);
	wait_frames(r, &a, &b, &b, 1);
	actr__media_test_drop(actr__pc_media(a.pc), 3);
	frame(f, sizeof(f), 2, false, ACTR__CODEC_VP8);
	s0 = sum(f, sizeof(f));
	send_frame(r, &a, &b, "cam", f, sizeof(f), 3000);
	/* the packet after the gap triggers the NACK at once; the frame
	 * arrives complete */
	wait_frames(r, &a, &b, &b, 2);
	CHECK_EQ(b.fr[1].sum, s0);
	CHECK_EQ(b.fr[1].lost, 0);
	actr__pc_media_stats(a.pc, &sa);
	actr__pc_media_stats(b.pc, &sb);
	CHECK(sb.nacks_sent >= 1);
	CHECK(sa.nacks_in >= 1);
	CHECK(sa.rtx_sent >= 1);
	CHECK_EQ(sb.lost, 0);
	CHECK_EQ(sb.frames_dropped, 0);

	/* a keyframe request from the receiver reaches the sender */
	CHECK_OK(actr__pc_request_keyframe(b.pc, "cam"));
	for (int i = 0; i < 200 && !a.keyreq; i++)
		step(r, &a, &b);
	CHECK_EQ(a.keyreq, 1);

	/* a packet lost for good: after the hole timeout the broken frame
	 * is skipped, the next one arrives with the loss reported, and a
	 * keyframe is requested */
	actr__media_test_drop_rtx(actr__pc_media(a.pc), true);
	actr__media_test_drop(actr__pc_media(a.pc), 2);
	frame(f, 5000, 3, false, ACTR__CODEC_VP8);
	send_frame(r, &a, &b, "cam", f, 5000, 6000);
	frame(f, 4000, 4, true, ACTR__CODEC_VP8);
	s0 = sum(f, 4000);
	send_frame(r, &a, &b, "cam", f, 4000, 9000);
	wait_frames(r, &a, &b, &b, 3);
	CHECK_EQ(b.fr[2].sum, s0);
	CHECK_EQ(b.fr[2].ts, 9000);
	CHECK_EQ(b.fr[2].lost, 1);
	for (int i = 0; i < 200 && a.keyreq < 2; i++)
		step(r, &a, &b);
	CHECK_EQ(a.keyreq, 2);
	actr__pc_media_stats(b.pc, &sb);
	CHECK_EQ(sb.lost, 1);
	CHECK_EQ(sb.frames_dropped, 1);
	CHECK_EQ(sb.plis_sent, 2);
	actr__media_test_drop_rtx(actr__pc_media(a.pc), false);

	/* replay the last packet, then a tampered copy, then garbage */
	n = actr__media_test_last(actr__pc_media(a.pc), pkt, sizeof(pkt));
	CHECK(n > 100);
	actr__media_recv(actr__pc_media(b.pc), pkt, n);
	n = actr__media_test_last(actr__pc_media(a.pc), pkt, sizeof(pkt));
	pkt[n / 2] ^= 0x40;
	actr__media_recv(actr__pc_media(b.pc), pkt, n);
	memset(pkt, 0x80, 64);
	actr__media_recv(actr__pc_media(b.pc), pkt, 64);
	actr__pc_media_stats(b.pc, &sb);
	CHECK_EQ(sb.srtp_replay, 2); /* replay; garbage fails its index */
	CHECK_EQ(sb.srtp_auth_fail, 1);
	CHECK_EQ(sb.frames_in, 3);

	/* remove: renegotiated, the receiver forgets the track */
	CHECK_OK(actr__pc_remove_track(a.pc, "cam"));
	CHECK_EQ(actr__pc_remove_track(a.pc, "cam"), -ACTR_ENOTFOUND);
	{
		int before = a.media_offers;

		for (int i = 0; i < 2000 && (a.media_offers == before ||
					     actr__pc_media_offering(a.pc));
		     i++)
			step(r, &a, &b);
		CHECK_EQ(a.media_offers, before + 1);
		CHECK(!actr__pc_media_offering(a.pc));
	}
	/* b forgot the track: nothing left to remove */
	CHECK_EQ(actr__media_remove_recv(actr__pc_media(b.pc), "cam"),
		 -ACTR_ENOTFOUND);
	CHECK_EQ(actr__pc_send_frame(a.pc, "cam", f, 100, 1),
		 -ACTR_ENOTFOUND);
	CHECK_OK(actr__pc_send(a.pc, ACTR__LANE_RPC_RELIABLE, "still", 5));
	while (b.msgs < 1)
		step(r, &a, &b);
	teardown(&a, &b);
	actr_reactor_free(r);
}

/* Both sides add a track in the same iteration of a live connection: the
 * offers cross. The connection's offerer keeps its offer (the other's is
 * refused with -EBUSY); the answerer rolls its own back, answers, and
 * offers its track again afterwards. Both tracks end up carrying frames. */
TEST_TIMEOUT(media_pc_crossed_offers, 60)
{
	actr_reactor_t *r = actr_reactor_new();
	struct side a, b;
	static uint8_t f[3000];

	setup(r, &a, &b);
	connect_sides(r, &a, &b);
	CHECK_OK(actr__pc_add_track(a.pc, "from-a", "VP8"));
	CHECK_OK(actr__pc_add_track(b.pc, "from-b", "opus"));
	frame(f, 3000, 9, true, ACTR__CODEC_VP8);
	send_frame(r, &a, &b, "from-a", f, 3000, 1);
	send_frame(r, &b, &a, "from-b", f, 100, 2);
	wait_frames(r, &a, &b, &b, 1);
	wait_frames(r, &a, &b, &a, 1);
	CHECK_STR(b.fr[0].track, "from-a");
	CHECK_STR(a.fr[0].track, "from-b");
	CHECK_EQ(b.fr[0].sum, sum(f, 3000));
	CHECK_EQ(a.fr[0].sum, sum(f, 100));
	CHECK_EQ(a.busy, 1);	/* b's first offer, refused by a */
	CHECK_EQ(b.busy, 0);
	CHECK_EQ(a.media_offers, 1);
	CHECK_EQ(b.media_offers, 2); /* crossed, then again */
	teardown(&a, &b);
	actr_reactor_free(r);
}
