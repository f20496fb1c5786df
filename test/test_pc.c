/* Tests of wire/pc.c: two peer connections in one process and in two
 * processes, over ICE (127.0.0.1) + DTLS + SCTP, with the four lanes. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>

#include "core/internal.h"
#include "sctp/sctp.h"
#include "wire/pc.h"
#include "wire/sdp.h"
#include "fault.h"
#include "test.h"
#include "test_pc_util.h"

#define MAXQ 64

struct side {
	const char *name;
	actr__pc_t *pc;
	struct side *other;
	char *sdp_out;		/* our description, not yet delivered */
	char *cands[MAXQ];	/* trickled candidates ("" = end) */
	int ncands;
	int state;
	int err;
	int nstates[8];
	actr_buf_t *msgs[MAXQ];	/* received messages */
	int lanes[MAXQ];	/* their lanes */
	int nmsgs;
	bool echo;		/* send every message back on its lane */
	bool hold_cands;	/* keep our candidates from the other side */
	void (*mangle)(struct side *s); /* edit sdp_out before delivery */
};

static void s_description(void *arg, bool offer, const char *sdp)
{
	struct side *s = arg;

	CHECK(!s->sdp_out);
	s->sdp_out = strdup(sdp);
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

	s->state = state;
	s->err = err;
	s->nstates[state]++;
}

static void s_message(void *arg, int lane, actr_buf_t *msg)
{
	struct side *s = arg;

	if (s->echo) {
		CHECK_OK(actr__pc_send(s->pc, lane, msg->data, msg->len));
		actr_buf_unref(msg);
		return;
	}
	CHECK(s->nmsgs < MAXQ);
	s->lanes[s->nmsgs] = lane;
	s->msgs[s->nmsgs++] = msg;
}

static const struct actr__pc_cbs scbs = {
	s_description, s_candidate, s_state, s_message, NULL,
};

/* Deliver what each side produced to the other (outside callbacks). */
static void pump(struct side *s)
{
	struct side *o = s->other;

	if (s->sdp_out) {
		if (s->mangle)
			s->mangle(s);
		if (o->pc)
			CHECK_OK(actr__pc_set_remote(o->pc, s->sdp_out,
						     strlen(s->sdp_out)));
		free(s->sdp_out);
		s->sdp_out = NULL;
	}
	/* Candidates only after the description they belong to. */
	if (!o->pc || actr__pc_state(o->pc) == ACTR__PC_NEW || s->hold_cands)
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
	CHECK(actr_reactor_run_once(r, 10) >= 0);
	pump(a);
	pump(b);
}

static void cfg_init(struct actr__pc_config *c, bool trickle)
{
	memset(c, 0, sizeof(*c));
	c->ice.local_addrs[0] = "127.0.0.1";
	c->trickle = trickle;
	c->handshake_timeout_ms = (unsigned)actr_test_scale(5000);
}

static void make_sides(actr_reactor_t *r, struct side *a, struct side *b,
		       const struct actr__pc_config *ca,
		       const struct actr__pc_config *cb)
{
	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	a->name = "offerer";
	b->name = "answerer";
	a->other = b;
	b->other = a;
	a->pc = actr__pc_new(r, true, NULL, ca, &scbs, a);
	b->pc = actr__pc_new(r, false, NULL, cb, &scbs, b);
	CHECK(a->pc && b->pc);
}

static bool connected(struct side *a, struct side *b)
{
	return a->state == ACTR__PC_CONNECTED && b->state == ACTR__PC_CONNECTED;
}

static bool finished(struct side *s)
{
	return s->state == ACTR__PC_FAILED || s->state == ACTR__PC_CLOSED;
}

/* Run until both sides are CONNECTED or one ended; bounded. */
static void run_connect(actr_reactor_t *r, struct side *a, struct side *b,
			int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));

	while (!connected(a, b) && !finished(a) && !finished(b) &&
	       actr_time_ns() < end)
		step(r, a, b);
}

static void free_sides(struct side *a, struct side *b)
{
	struct side *ss[2] = { a, b };

	for (int k = 0; k < 2; k++) {
		struct side *s = ss[k];

		actr__pc_free(s->pc);
		s->pc = NULL;
		free(s->sdp_out);
		for (int i = 0; i < s->ncands; i++)
			free(s->cands[i]);
		for (int i = 0; i < s->nmsgs; i++)
			actr_buf_unref(s->msgs[i]);
		s->nmsgs = 0;
		s->ncands = 0;
		s->sdp_out = NULL;
	}
}

static void pattern(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

static uint64_t checksum(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/* Send msg on lane from s; wait until the other side echoed it back. */
static void echo_one(actr_reactor_t *r, struct side *a, struct side *b,
		     int lane, size_t len)
{
	uint8_t *msg = malloc(len ? len : 1);
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(20000));
	uint64_t want;
	int n0 = a->nmsgs;

	pattern(msg, len, (uint32_t)len);
	want = checksum(msg, len);
	CHECK_OK(actr__pc_send(a->pc, lane, msg, len));
	free(msg);
	while (a->nmsgs == n0 && actr_time_ns() < end)
		step(r, a, b);
	CHECK_EQ(a->nmsgs, n0 + 1);
	CHECK_EQ(a->lanes[n0], lane);
	CHECK_EQ(a->msgs[n0]->len, len);
	CHECK(checksum(a->msgs[n0]->data, len) == want);
	actr_buf_unref(a->msgs[n0]);
	a->nmsgs = n0;
}

/* The setup timeline in the stats: every phase reached, in order; no
 * DTLS datagram lost to ICE during setup; DTLS-SRTP negotiated on this
 * data-only connection (PROTOCOL.md 7) and its keys exportable. */
static void check_timeline(actr__pc_t *pc)
{
	struct actr__pc_stats st;
	struct actr__dtls_srtp_keys k;

	actr__pc_get_stats(pc, &st);
	CHECK(st.t_ice > 0);
	CHECK(st.t_dtls >= st.t_ice);
	CHECK(st.t_sctp >= st.t_dtls);
	CHECK(st.t_open >= st.t_sctp);
	CHECK(st.t_open < ACTR_SEC(actr_test_scale(5)));
	actr_logi("test", "setup: dtls queued %" PRIu64 " dropped %" PRIu64
		  " retransmits %" PRIu64 "; t_ice %.2f t_dtls %.2f "
		  "t_open %.2f ms",
		  st.dtls_queued_setup, st.dtls_dropped_setup,
		  st.dtls_retransmits, st.t_ice / 1e6, st.t_dtls / 1e6,
		  st.t_open / 1e6);
	CHECK_EQ(st.dtls_dropped_setup, 0);
	CHECK_EQ(st.srtp_profile, ACTR_SRTP_AEAD_AES_128_GCM);
	CHECK_OK(actr__dtls_srtp_keys(actr__pc_dtls(pc), &k));
	CHECK_EQ(k.profile, ACTR_SRTP_AEAD_AES_128_GCM);
	CHECK_EQ(k.key_len, 16);
}

static void connect_and_echo(bool trickle, bool legacy, size_t max)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__pc_config c;
	struct side a, b;
	uint64_t t0;
	static const size_t sizes[] = {
		1, 2, 100, 1200, 65527, 65528, 65535, 200000, 1u << 20,
		16u << 20,
	};

	cfg_init(&c, trickle);
	c.legacy_sdp = legacy;
	if (legacy)
		c.sctp_mtu = 16000; /* large SCTP packets on the loopback pair */
	make_sides(r, &a, &b, &c, &c);
	b.echo = true;
	t0 = actr_time_ns();
	CHECK_OK(actr__pc_start(a.pc));
	run_connect(r, &a, &b, 5000);
	CHECK_EQ(a.state, ACTR__PC_CONNECTED);
	CHECK_EQ(b.state, ACTR__PC_CONNECTED);
	check_timeline(a.pc);
	check_timeline(b.pc);
	actr_logi("test", "connected (%s%s) in %.2f ms",
		  trickle ? "trickle" : "candidates in SDP",
		  legacy ? ", legacy SDP" : "",
		  (double)(actr_time_ns() - t0) / 1e6);
	/* Under valgrind (scaled timeouts) 16 MiB takes minutes: 1 MiB. */
	if (actr_test_scale(1) > 1 && max > (1u << 20))
		max = 1u << 20;
	for (size_t i = 0; i < ACTR_ARRAY_LEN(sizes) && sizes[i] <= max; i++)
		echo_one(r, &a, &b, ACTR__LANE_RPC_RELIABLE, sizes[i]);
	for (int lane = 0; lane < ACTR__LANE_COUNT; lane++)
		echo_one(r, &a, &b, lane, 3000);
	/* The answerer sends too (it is not only an echo). */
	b.echo = false;
	a.echo = true;
	echo_one(r, &b, &a, ACTR__LANE_RPC_SIGNAL, 70000);
	CHECK_EQ(actr__pc_send(a.pc, 9, "x", 1), -EINVAL);
	CHECK_EQ(actr__pc_send(a.pc, 0, "x", (16u << 20) + 1), -ACTR_ETOOBIG);
	/* On the loopback host pair DTLS went through the direct UDP path
	 * (ice/udp.h) both ways, in batches. */
	{
		struct actr__ice_direct_stats da, db;

		actr__ice_direct_stats(actr__pc_ice(a.pc), &da);
		actr__ice_direct_stats(actr__pc_ice(b.pc), &db);
		CHECK(da.tx_active && da.rx_active);
		CHECK(db.tx_active && db.rx_active);
		CHECK(da.tx_datagrams > 0 && db.tx_datagrams > 0);
		CHECK(da.rx_datagrams > 0 && db.rx_datagrams > 0);
		CHECK(da.tx_calls < da.tx_datagrams ||
		      db.tx_calls < db.tx_datagrams);
		CHECK_EQ(da.tx_errors + db.tx_errors, 0);
		CHECK_EQ(da.foreign + db.foreign, 0);
	}
	free_sides(&a, &b);
	for (int i = 0; i < 5; i++)
		actr_reactor_run_once(r, 0);
	CHECK(!actr__sctp_global_active());
	actr_reactor_free(r);
}

TEST_TIMEOUT(pc_echo_in_process, 60)
{
	connect_and_echo(false, false, 16u << 20);
}

TEST_TIMEOUT(pc_echo_trickle, 30)
{
	connect_and_echo(true, false, 1u << 20);
}

TEST_TIMEOUT(pc_echo_legacy_sdp, 30)
{
	connect_and_echo(false, true, 1u << 20);
}

/* STREAM_LATENCY_FIRST is unordered with 3 retransmissions; the others
 * ordered and reliable; many messages in a burst all arrive (loopback
 * loses nothing) and the ordered lane keeps order. */
TEST_TIMEOUT(pc_lane_options_and_burst, 20)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__pc_config c;
	struct side a, b;
	uint64_t end;
	int got_unordered = 0;

	cfg_init(&c, false);
	c.ice.pacing_ms = 1; /* one pair on loopback: fast checks are fine */
	make_sides(r, &a, &b, &c, &c);
	CHECK_OK(actr__pc_start(a.pc));
	run_connect(r, &a, &b, 5000);
	CHECK(connected(&a, &b));
	for (int i = 0; i < 40; i++) {
		uint8_t m[600];

		memset(m, i, sizeof(m));
		m[0] = (uint8_t)i;
		CHECK_OK(actr__pc_send(a.pc, i < 20 ? ACTR__LANE_RPC_RELIABLE
						    : ACTR__LANE_STREAM_LATENCY_FIRST,
				       m, sizeof(m)));
	}
	end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
	while (b.nmsgs < 40 && actr_time_ns() < end)
		step(r, &a, &b);
	CHECK_EQ(b.nmsgs, 40);
	int next = 0;
	for (int i = 0; i < 40; i++) {
		if (b.lanes[i] == ACTR__LANE_RPC_RELIABLE) {
			CHECK_EQ(b.msgs[i]->data[0], next);
			next++;
		} else {
			CHECK_EQ(b.lanes[i], ACTR__LANE_STREAM_LATENCY_FIRST);
			got_unordered++;
		}
		CHECK_EQ(b.msgs[i]->len, 600);
	}
	CHECK_EQ(next, 20);
	CHECK_EQ(got_unordered, 20);
	CHECK_EQ(actr__lane_by_label("STREAM_LATENCY_FIRST"),
		 ACTR__LANE_STREAM_LATENCY_FIRST);
	CHECK_EQ(actr__lane_by_label("rpc_reliable"), -1);
	CHECK_STR(actr__lane_label(ACTR__LANE_RPC_SIGNAL), "RPC_SIGNAL");
	free_sides(&a, &b);
	actr_reactor_free(r);
}

/* The answer carries a fingerprint that is not the answerer's: the
 * offerer refuses the DTLS handshake. */
static void mangle_fp(struct side *s)
{
	char *p = strstr(s->sdp_out, "a=fingerprint:sha-256 ");

	CHECK(p);
	p += strlen("a=fingerprint:sha-256 ");
	p[0] = p[0] == 'A' ? 'B' : 'A';
}

TEST_TIMEOUT(pc_fingerprint_mismatch_refused, 20)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__pc_config c;
	struct side a, b;
	uint64_t end;

	cfg_init(&c, false);
	make_sides(r, &a, &b, &c, &c);
	b.mangle = mangle_fp;
	CHECK_OK(actr__pc_start(a.pc));
	end = actr_time_ns() + ACTR_MS(actr_test_scale(6000));
	while (!(finished(&a) && finished(&b)) && actr_time_ns() < end)
		step(r, &a, &b);
	CHECK_EQ(a.state, ACTR__PC_FAILED);
	CHECK_EQ(a.err, -ACTR_EAUTH);
	CHECK(b.state != ACTR__PC_CONNECTED);
	CHECK_EQ(a.nstates[ACTR__PC_CONNECTED], 0);
	CHECK_EQ(b.nstates[ACTR__PC_CONNECTED], 0);
	free_sides(&a, &b);
	actr_reactor_free(r);
}

/* No answer ever comes: the deadline fails the offerer. */
TEST(pc_handshake_deadline)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__pc_config c;
	struct side a, b;
	uint64_t t0 = actr_time_ns();
	uint64_t end = t0 + ACTR_MS(actr_test_scale(3000));

	cfg_init(&c, false);
	c.handshake_timeout_ms = 300;
	make_sides(r, &a, &b, &c, &c);
	actr__pc_free(b.pc); /* nobody answers */
	b.pc = NULL;
	CHECK_OK(actr__pc_start(a.pc));
	while (!finished(&a) && actr_time_ns() < end) {
		CHECK(actr_reactor_run_once(r, 50) >= 0);
		free(a.sdp_out);
		a.sdp_out = NULL;
	}
	CHECK_EQ(a.state, ACTR__PC_FAILED);
	CHECK_EQ(a.err, -ACTR_ETIMEDOUT);
	CHECK(actr_time_ns() - t0 >= ACTR_MS(290));
	free_sides(&a, &b);
	actr_reactor_free(r);
}

/* The answer's only candidate points at a dead port: ICE fails and the
 * failure reaches the peer connection. */
static void mangle_cands(struct side *s)
{
	struct actr__sdp sdp;
	char *out = malloc(8192);
	uint16_t port = test_free_udp_port();

	CHECK_OK(actr__sdp_parse(s->sdp_out, strlen(s->sdp_out), &sdp));
	sdp.ncands = 0;
	char cand[128];
	snprintf(cand, sizeof(cand),
		 "candidate:1 1 UDP 2013266431 127.0.0.1 %u typ host", port);
	CHECK_OK(actr__sdp_add_candidate(&sdp, cand));
	CHECK(actr__sdp_write(&sdp, out, 8192) > 0);
	free(s->sdp_out);
	s->sdp_out = out;
}

TEST_TIMEOUT(pc_ice_failure_reported, 20)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__pc_config c;
	struct side a, b;
	uint64_t end;

	cfg_init(&c, false);
	c.ice.stun_initial_ms = 50;
	c.ice.stun_max_retrans = 2;
	c.handshake_timeout_ms = (unsigned)actr_test_scale(15000);
	make_sides(r, &a, &b, &c, &c);
	b.mangle = mangle_cands;
	CHECK_OK(actr__pc_start(a.pc));
	/* Keep the answerer from reaching us: drop it after the answer. */
	end = actr_time_ns() + ACTR_MS(actr_test_scale(12000));
	while (!finished(&a) && actr_time_ns() < end) {
		step(r, &a, &b);
		if (b.pc && a.state == ACTR__PC_CONNECTING &&
		    actr__pc_state(b.pc) == ACTR__PC_CONNECTING &&
		    !b.sdp_out && b.nstates[ACTR__PC_CONNECTING]) {
			/* the answer was delivered (pump ran) */
			actr__pc_free(b.pc);
			b.pc = NULL;
		}
	}
	CHECK_EQ(a.state, ACTR__PC_FAILED);
	CHECK_EQ(a.err, -ACTR_EUNAVAILABLE);
	free_sides(&a, &b);
	actr_reactor_free(r);
}

/* Close, then a fresh pair on the same reactor connects again. */
TEST_TIMEOUT(pc_close_and_reopen, 30)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__pc_config c;
	struct side a, b;
	uint64_t end;

	cfg_init(&c, false);
	for (int round = 0; round < 2; round++) {
		make_sides(r, &a, &b, &c, &c);
		b.echo = true;
		CHECK_OK(actr__pc_start(a.pc));
		run_connect(r, &a, &b, 5000);
		CHECK(connected(&a, &b));
		echo_one(r, &a, &b, ACTR__LANE_RPC_RELIABLE, 5000);
		CHECK_OK(actr__pc_close(a.pc));
		end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
		while (!(finished(&a) && finished(&b)) && actr_time_ns() < end)
			step(r, &a, &b);
		CHECK_EQ(a.state, ACTR__PC_CLOSED);
		CHECK_EQ(b.state, ACTR__PC_CLOSED);
		CHECK_EQ(a.err, 0); /* a clean shutdown on both sides */
		CHECK_EQ(b.err, 0);
		CHECK_EQ(actr__pc_send(a.pc, 0, "x", 1), -ACTR_ECLOSED);
		free_sides(&a, &b);
	}
	actr_reactor_free(r);
}

/* Through coturn, ICE forced to relay on both sides. */
TEST_TIMEOUT(pc_turn_relay, 20)
{
	actr_reactor_t *r = actr_reactor_new();
	struct test_turn turn;
	struct actr__pc_config c;
	struct side a, b;

	CHECK_OK(test_turn_start(&turn));
	cfg_init(&c, true);
	c.ice.turn_ip = "127.0.0.1";
	c.ice.turn_port = turn.port;
	c.ice.turn_user = turn.user;
	c.ice.turn_pass = turn.pass;
	c.ice.relay_only = true;
	make_sides(r, &a, &b, &c, &c);
	b.echo = true;
	CHECK_OK(actr__pc_start(a.pc));
	run_connect(r, &a, &b, 8000);
	CHECK(connected(&a, &b));
	CHECK_STR(actr__ice_selected_local_type(actr__pc_ice(a.pc)), "relay");
	echo_one(r, &a, &b, ACTR__LANE_RPC_RELIABLE, 100);
	echo_one(r, &a, &b, ACTR__LANE_STREAM_RELIABLE, 300000);
	{
		/* Relayed: everything stayed on libnice. */
		struct actr__ice_direct_stats da, db;

		actr__ice_direct_stats(actr__pc_ice(a.pc), &da);
		actr__ice_direct_stats(actr__pc_ice(b.pc), &db);
		CHECK(!da.tx_active && !da.rx_active);
		CHECK(!db.tx_active && !db.rx_active);
		CHECK_EQ(da.tx_datagrams + db.tx_datagrams + da.rx_datagrams +
				 db.rx_datagrams,
			 0);
	}
	free_sides(&a, &b);
	actr_reactor_free(r);
	test_turn_stop(&turn);
}

/* ---- two processes --------------------------------------------------- */

static void answerer_process(int rfd, int wfd)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__pc_config c;
	struct side b = { 0 }, dummy = { 0 };
	char *offer = test_pipe_get(rfd);
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(55000));

	cfg_init(&c, false);
	b.other = &dummy;
	b.echo = true;
	b.pc = actr__pc_new(r, false, NULL, &c, &scbs, &b);
	if (!offer || !b.pc)
		_exit(2);
	if (actr__pc_set_remote(b.pc, offer, strlen(offer)) < 0)
		_exit(3);
	free(offer);
	while (!finished(&b) && actr_time_ns() < end) {
		actr_reactor_run_once(r, 50);
		if (b.sdp_out) {
			test_pipe_put(wfd, b.sdp_out);
			free(b.sdp_out);
			b.sdp_out = NULL;
		}
	}
	/* Linger so the shutdown handshake completes on the other side. */
	end = actr_time_ns() + ACTR_MS(actr_test_scale(300));
	while (actr_time_ns() < end)
		actr_reactor_run_once(r, 20);
	_exit(b.state == ACTR__PC_CLOSED ? 0 : 4);
}

TEST_TIMEOUT(pc_echo_two_processes, 60)
{
	int to_child[2], from_child[2], st;
	pid_t pid;
	actr_reactor_t *r;
	struct actr__pc_config c;
	struct side a = { 0 }, b = { 0 };
	uint64_t end;
	char *answer;

	CHECK_OK(pipe(to_child));
	CHECK_OK(pipe(from_child));
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(to_child[1]);
		close(from_child[0]);
		answerer_process(to_child[0], from_child[1]);
	}
	close(to_child[0]);
	close(from_child[1]);
	r = actr_reactor_new();
	cfg_init(&c, false);
	a.other = &b;
	a.pc = actr__pc_new(r, true, NULL, &c, &scbs, &a);
	CHECK(a.pc);
	CHECK_OK(actr__pc_start(a.pc));
	end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
	while (!a.sdp_out && actr_time_ns() < end)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK(a.sdp_out);
	test_pipe_put(to_child[1], a.sdp_out);
	free(a.sdp_out);
	a.sdp_out = NULL;
	answer = test_pipe_get(from_child[0]);
	CHECK(answer);
	CHECK_OK(actr__pc_set_remote(a.pc, answer, strlen(answer)));
	free(answer);
	end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
	while (a.state != ACTR__PC_CONNECTED && !finished(&a) &&
	       actr_time_ns() < end)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK_EQ(a.state, ACTR__PC_CONNECTED);
	{
		static const size_t sizes[] = { 1, 64, 65527, 65528,
						1u << 20, 16u << 20 };
		size_t nsizes = ACTR_ARRAY_LEN(sizes);

		if (actr_test_scale(1) > 1)
			nsizes--; /* valgrind: no 16 MiB */
		for (size_t i = 0; i < nsizes; i++) {
			uint8_t *msg = malloc(sizes[i]);
			uint64_t want;

			pattern(msg, sizes[i], (uint32_t)i + 7);
			want = checksum(msg, sizes[i]);
			CHECK_OK(actr__pc_send(a.pc, (int)i % 3, msg, sizes[i]));
			free(msg);
			/* 16 MiB both ways under ASan on a loaded machine
			 * takes seconds. */
			end = actr_time_ns() + ACTR_MS(actr_test_scale(30000));
			while (a.nmsgs == 0 && actr_time_ns() < end)
				CHECK(actr_reactor_run_once(r, 20) >= 0);
			CHECK_EQ(a.nmsgs, 1);
			CHECK_EQ(a.lanes[0], (int)i % 3);
			CHECK_EQ(a.msgs[0]->len, sizes[i]);
			CHECK(checksum(a.msgs[0]->data, sizes[i]) == want);
			actr_buf_unref(a.msgs[0]);
			a.nmsgs = 0;
		}
	}
	CHECK_OK(actr__pc_close(a.pc));
	end = actr_time_ns() + ACTR_MS(actr_test_scale(3000));
	while (!finished(&a) && actr_time_ns() < end)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK_EQ(a.state, ACTR__PC_CLOSED);
	for (int i = 0, n = actr_test_scale(300); i < n; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		actr_reactor_run_once(r, 10);
		if (i == n - 1) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
		}
	}
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	actr__pc_free(a.pc);
	actr_reactor_free(r);
	close(to_child[1]);
	close(from_child[0]);
}

/* ICE restart while connected: new credentials both ways, lanes stay open
 * and carry messages afterwards; a renegotiation that changes the DTLS
 * fingerprint is refused. */
static void ice_restart_case(bool trickle, bool keep)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__pc_config c;
	struct actr__pc_stats sa, sb;
	struct side a, b;
	char u1[64], p1[128], u2[64], p2[128];
	uint64_t end;

	cfg_init(&c, trickle);
	c.keep_on_path_loss = keep;
	make_sides(r, &a, &b, &c, &c);
	b.echo = true;
	CHECK_OK(actr__pc_start(a.pc));
	run_connect(r, &a, &b, 5000);
	CHECK(connected(&a, &b));
	echo_one(r, &a, &b, ACTR__LANE_RPC_RELIABLE, 1000);
	CHECK_OK(actr__ice_local_credentials(actr__pc_ice(a.pc), u1, sizeof(u1),
					     p1, sizeof(p1)));
	CHECK_EQ(actr__pc_restart_ice(b.pc), -EINVAL); /* answerer */
	CHECK_OK(actr__pc_restart_ice(a.pc));
	CHECK_EQ(actr__pc_restart_ice(a.pc), -EINVAL); /* already pending */
	CHECK_OK(actr__ice_local_credentials(actr__pc_ice(a.pc), u2, sizeof(u2),
					     p2, sizeof(p2)));
	CHECK(strcmp(u1, u2) != 0);
	end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
	/* The new offer and answer cross; then ICE completes again. */
	for (int i = 0; i < 3; i++)
		step(r, &a, &b);
	while ((actr__ice_state(actr__pc_ice(a.pc)) != ACTR__ICE_COMPLETED ||
		actr__ice_state(actr__pc_ice(b.pc)) != ACTR__ICE_COMPLETED) &&
	       actr_time_ns() < end)
		step(r, &a, &b);
	CHECK_EQ(actr__ice_state(actr__pc_ice(a.pc)), ACTR__ICE_COMPLETED);
	CHECK_EQ(actr__ice_state(actr__pc_ice(b.pc)), ACTR__ICE_COMPLETED);
	CHECK(!a.sdp_out && !b.sdp_out);
	CHECK_EQ(a.state, ACTR__PC_CONNECTED);
	CHECK_EQ(b.state, ACTR__PC_CONNECTED);
	echo_one(r, &a, &b, ACTR__LANE_RPC_RELIABLE, 200000);
	echo_one(r, &a, &b, ACTR__LANE_RPC_SIGNAL, 10);
	/* one DTLS session each way throughout; with keep_on_path_loss the
	 * restart was a path lost and found again on both sides */
	actr__pc_get_stats(a.pc, &sa);
	actr__pc_get_stats(b.pc, &sb);
	CHECK_EQ(sa.dtls_handshakes, 1);
	CHECK_EQ(sb.dtls_handshakes, 1);
	CHECK_EQ(sa.ice_restarts, 1);
	CHECK_EQ(sb.ice_restarts, 1);
	CHECK_EQ(sa.path_losses, keep ? 1 : 0);
	CHECK_EQ(sb.path_losses, keep ? 1 : 0);
	CHECK_EQ(sa.path_restores, keep ? 1 : 0);
	CHECK_EQ(sb.path_restores, keep ? 1 : 0);
	CHECK(!actr__pc_path_lost(a.pc) && !actr__pc_path_lost(b.pc));
	/* An unsolicited answer, and an offer with another fingerprint. */
	{
		struct actr__sdp s;
		char *text = malloc(8192);

		s = (struct actr__sdp){ 0 };
		strcpy(s.ufrag, "zzzz");
		strcpy(s.pwd, "0123456789012345678901234");
		strcpy(s.fp_algo, "sha-256");
		strcpy(s.fp, "AA:BB");
		s.setup = ACTR__SDP_SETUP_ACTPASS;
		CHECK(actr__sdp_write(&s, text, 8192) > 0);
		CHECK_EQ(actr__pc_set_remote(a.pc, text, strlen(text)), -ACTR_EPROTO);
		CHECK_EQ(actr__pc_set_remote(b.pc, text, strlen(text)), -ACTR_EPROTO);
		free(text);
	}
	CHECK_EQ(a.state, ACTR__PC_CONNECTED);
	free_sides(&a, &b);
	actr_reactor_free(r);
}

TEST_TIMEOUT(pc_ice_restart, 20)
{
	ice_restart_case(false, false);
}

TEST_TIMEOUT(pc_ice_restart_trickle, 20)
{
	ice_restart_case(true, false);
}

/* The same with keep_on_path_loss (the peer gate's setting). */
TEST_TIMEOUT(pc_ice_restart_keep_path, 20)
{
	ice_restart_case(true, true);
}

/* The offer says a=setup:active (the offerer wants to be DTLS client):
 * the answerer answers passive and becomes the DTLS server. */
static void mangle_setup_active(struct side *s)
{
	char *p = strstr(s->sdp_out, "a=setup:actpass");

	if (!p)
		return; /* already changed */
	memmove(p + 14, p + 15, strlen(p + 15) + 1); /* actpass -> actpas */
	memcpy(p, "a=setup:active", 14);
}

/* Remove every line starting with prefix from s's description. */
static void strip_lines(struct side *s, const char *prefix)
{
	char *p = s->sdp_out;

	while ((p = strstr(p, prefix))) {
		char *e = strstr(p, "\r\n");

		e = e ? e + 2 : p + strlen(p);
		memmove(p, e, strlen(e) + 1);
	}
}

/* setup:active, and no candidates at all: the answerer never learns the
 * offerer's addresses from signaling. */
static void mangle_active_no_cands(struct side *s)
{
	mangle_setup_active(s);
	strip_lines(s, "a=candidate:");
	strip_lines(s, "a=end-of-candidates");
}

/* An error exit of the DTLS/SCTP send path: the SCTP send queue cannot
 * allocate while a large message is being queued. The send reports
 * -ENOMEM (not success, not a crash), nothing else breaks, and the next
 * messages on every lane still cross. */
TEST_TIMEOUT(pc_send_queue_enomem, 30)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__pc_config c;
	struct side a, b;
	size_t big = 4u << 20;
	uint8_t *msg = malloc(big);
	int rc;

	CHECK(msg);
	memset(msg, 0x5a, big);
	cfg_init(&c, true);
	make_sides(r, &a, &b, &c, &c);
	b.echo = true;
	CHECK_OK(actr__pc_start(a.pc));
	run_connect(r, &a, &b, 5000);
	CHECK(connected(&a, &b));
	/* 4 MiB cannot all go into usrsctp at once: fragments are queued,
	 * and the first queue allocation fails */
	fault_arm(FAULT_MALLOC, 1, ENOMEM, false, -1);
	rc = actr__pc_send(a.pc, ACTR__LANE_STREAM_RELIABLE, msg, big);
	CHECK_EQ(fault_hits(FAULT_MALLOC), 1);
	CHECK_EQ(rc, -ENOMEM);
	fault_reset();
	free(msg);
	CHECK_EQ(actr__pc_state(a.pc), ACTR__PC_CONNECTED);
	echo_one(r, &a, &b, ACTR__LANE_RPC_RELIABLE, 1000);
	echo_one(r, &a, &b, ACTR__LANE_STREAM_RELIABLE, 200000);
	free_sides(&a, &b);
	actr_reactor_free(r);
}

TEST_TIMEOUT(pc_offerer_as_dtls_client, 20)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__pc_config c;
	struct side a, b;

	cfg_init(&c, false);
	make_sides(r, &a, &b, &c, &c);
	a.mangle = mangle_setup_active;
	b.echo = true;
	CHECK_OK(actr__pc_start(a.pc));
	run_connect(r, &a, &b, 5000);
	CHECK(connected(&a, &b));
	check_timeline(a.pc); /* SRTP with the roles swapped */
	check_timeline(b.pc);
	echo_one(r, &a, &b, ACTR__LANE_STREAM_RELIABLE, 100000);
	free_sides(&a, &b);
	actr_reactor_free(r);
}

/*
 * The offerer's pair works before the answerer's ICE does: the answerer
 * never gets the offerer's candidates, learns its address from its first
 * check (peer-reflexive) and answers with a triggered check, which libnice
 * sends only at the next tick of its pacing timer (Ta = 100 ms here, below
 * the 150 ms first DTLS retransmission). Meanwhile the offerer, DTLS
 * client (a=setup:active), sends its ClientHello; the answerer's reply
 * flight is held and sent when its ICE connects: nothing lost, nothing
 * retransmitted. (libdatachannel as answerer does this to an offerer.)
 */
TEST_TIMEOUT(pc_dtls_held_until_ice_connects, 20)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__pc_config ca, cb;
	struct actr__pc_stats sa, sb;
	struct side a, b;

	cfg_init(&ca, true);
	cfg_init(&cb, true);
	cb.ice.pacing_ms = 100;
	/* a first DTLS retransmission far beyond any ICE delay: a reply
	 * flight lost before ICE connected would show as a retransmission,
	 * however slow the machine */
	ca.dtls_rto_ms = cb.dtls_rto_ms = (unsigned)actr_test_scale(3000);
	ca.handshake_timeout_ms = cb.handshake_timeout_ms =
		(unsigned)actr_test_scale(10000);
	make_sides(r, &a, &b, &ca, &cb);
	a.mangle = mangle_active_no_cands;
	a.hold_cands = true;
	b.echo = true;
	CHECK_OK(actr__pc_start(a.pc));
	run_connect(r, &a, &b, 8000);
	CHECK(connected(&a, &b));
	actr__pc_get_stats(a.pc, &sa);
	actr__pc_get_stats(b.pc, &sb);
	actr_logi("test", "answerer: queued %" PRIu64 ", t_ice %.1f t_dtls "
		  "%.1f ms; offerer t_ice %.1f ms",
		  sb.dtls_queued_setup, sb.t_ice / 1e6, sb.t_dtls / 1e6,
		  sa.t_ice / 1e6);
	CHECK(sb.dtls_queued_setup > 0);
	CHECK_EQ(sb.dtls_dropped_setup, 0);
	CHECK_EQ(sb.dtls_retransmits, 0);
	CHECK_EQ(sa.dtls_retransmits, 0);
	CHECK_EQ(sa.dtls_queued_setup, 0); /* the client waits for ICE */
	echo_one(r, &a, &b, ACTR__LANE_RPC_RELIABLE, 5000);
	free_sides(&a, &b);
	actr_reactor_free(r);
}

/* One side disappears (freed: SCTP abort): the other reports CLOSED with
 * -ECONNRESET, within bounded time. */
TEST_TIMEOUT(pc_peer_abort_reported, 20)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__pc_config c;
	struct side a, b;
	uint64_t end;

	cfg_init(&c, false);
	make_sides(r, &a, &b, &c, &c);
	CHECK_OK(actr__pc_start(a.pc));
	run_connect(r, &a, &b, 5000);
	CHECK(connected(&a, &b));
	actr__pc_free(b.pc);
	b.pc = NULL;
	end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
	while (!finished(&a) && actr_time_ns() < end)
		step(r, &a, &b);
	CHECK_EQ(a.state, ACTR__PC_CLOSED);
	CHECK_EQ(a.err, -ECONNRESET);
	CHECK_EQ(actr__pc_send(a.pc, 0, "x", 1), -ACTR_ECLOSED);
	free_sides(&a, &b);
	actr_reactor_free(r);
}

/* The offer claims a=ice-lite: the answerer must take the controlling
 * role (RFC 8445 6.1.1) before its checks start. Both agents here are
 * really full ones, so both control and the role conflict is settled by
 * the tie-breaker (RFC 8445 7.3.1.1): the connection still comes up. */
static void mangle_ice_lite(struct side *s)
{
	char *p = strstr(s->sdp_out, "m=application");
	char *n;

	if (!p || strstr(s->sdp_out, "a=ice-lite"))
		return;
	n = malloc(strlen(s->sdp_out) + 16);
	CHECK(n);
	sprintf(n, "%.*sa=ice-lite\r\n%s", (int)(p - s->sdp_out), s->sdp_out,
		p);
	free(s->sdp_out);
	s->sdp_out = n;
}

TEST_TIMEOUT(pc_answerer_controls_lite_offerer, 20)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__pc_config c;
	struct side a, b;
	uint64_t end;

	cfg_init(&c, false);
	for (int lite = 0; lite < 2; lite++) {
		make_sides(r, &a, &b, &c, &c);
		if (lite)
			a.mangle = mangle_ice_lite;
		b.echo = true;
		CHECK(!actr__ice_controlling(actr__pc_ice(b.pc)));
		CHECK(actr__ice_controlling(actr__pc_ice(a.pc)));
		CHECK_OK(actr__pc_start(a.pc));
		end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
		while (actr__pc_state(b.pc) == ACTR__PC_NEW &&
		       actr_time_ns() < end)
			step(r, &a, &b);
		/* The offer is applied: the role is what the offer implies. */
		CHECK_EQ(actr__pc_state(b.pc), ACTR__PC_CONNECTING);
		CHECK_EQ(actr__ice_controlling(actr__pc_ice(b.pc)), lite);
		run_connect(r, &a, &b, 5000);
		CHECK(connected(&a, &b));
		echo_one(r, &a, &b, ACTR__LANE_RPC_RELIABLE, 1000);
		free_sides(&a, &b);
	}
	actr_reactor_free(r);
}

/* Closing a working connection with actr__pc_close_free (what the peer
 * gate does on actr_peer_free): the other side sees a clean SCTP
 * shutdown (CLOSED, err 0), not an abort; the closing pc frees itself
 * without any further callback. Then the abort case for contrast:
 * actr__pc_free aborts and the other side says so (-ECONNRESET). */
TEST_TIMEOUT(pc_close_free_is_graceful, 20)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__pc_config c;
	struct side a, b;
	uint64_t end;
	int a_states;

	cfg_init(&c, false);
	for (int closer = 0; closer < 2; closer++) {
		struct side *x, *y;

		make_sides(r, &a, &b, &c, &c);
		CHECK_OK(actr__pc_start(a.pc));
		run_connect(r, &a, &b, 5000);
		CHECK(connected(&a, &b));
		x = closer ? &b : &a; /* offerer, then answerer closes */
		y = closer ? &a : &b;
		a_states = x->nstates[ACTR__PC_CLOSED];
		actr__pc_close_free(x->pc);
		x->pc = NULL;
		end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
		while (!finished(y) && actr_time_ns() < end)
			step(r, &a, &b);
		CHECK_EQ(y->state, ACTR__PC_CLOSED);
		CHECK_EQ(y->err, 0);
		CHECK_EQ(actr__pc_send(y->pc, 0, "x", 1), -ACTR_ECLOSED);
		/* The closer reported nothing after close_free. */
		CHECK_EQ(x->nstates[ACTR__PC_CLOSED], a_states);
		CHECK_EQ(x->state, ACTR__PC_CONNECTED);
		actr__pc_free(y->pc);
		y->pc = NULL;
		/* The closer freed itself: usrsctp is released with the last
		 * association. */
		end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
		while (actr__sctp_global_active() && actr_time_ns() < end)
			actr_reactor_run_once(r, 10);
		CHECK(!actr__sctp_global_active());
		free_sides(&a, &b);
	}
	/* Not connected yet: freed at once, nothing lingers. */
	make_sides(r, &a, &b, &c, &c);
	actr__pc_close_free(a.pc);
	a.pc = NULL;
	CHECK(!actr__sctp_global_active());
	free_sides(&a, &b);
	CHECK_OK(actr_reactor_drain(r, actr_test_scale(2000)));
	actr_reactor_free(r);
}
