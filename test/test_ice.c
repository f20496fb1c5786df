/* Tests of ice/: the GLib bridge and two libnice agents on 127.0.0.1 in
 * one process (host candidates only), trickled to each other directly. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <actr/actr.h>

#include "ice/gloop.h"
#include "ice/ice.h"
#include "test.h"
#include "test_pc_util.h"

/* ---- the bridge on its own ------------------------------------------- */

static gboolean on_gtimeout(gpointer data)
{
	int *n = data;

	(*n)++;
	return *n < 3 ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static gboolean on_gidle(gpointer data)
{
	int *n = data;

	(*n)++;
	return G_SOURCE_REMOVE;
}

TEST(ice_gloop_timeout_and_idle)
{
	actr_reactor_t *r = actr_reactor_new();
	actr__gloop_t *g = actr__gloop_get(r);
	int ticks = 0, idles = 0;
	uint64_t t0 = actr_time_ns();
	GSource *s;

	CHECK(g);
	CHECK(actr__gloop_get(r) == g); /* one per reactor thread */
	actr__gloop_unref(g);
	s = g_timeout_source_new(20);
	g_source_set_callback(s, on_gtimeout, &ticks, NULL);
	g_source_attach(s, actr__gloop_context(g));
	g_source_unref(s);
	s = g_idle_source_new();
	g_source_set_callback(s, on_gidle, &idles, NULL);
	g_source_attach(s, actr__gloop_context(g));
	g_source_unref(s);
	/* Blocking iterations: the reactor wakes only for GLib's timeout. */
	for (int i = 0; i < 50 && ticks < 3; i++)
		CHECK(actr_reactor_run_once(r, -1) >= 0);
	CHECK_EQ(ticks, 3);
	CHECK_EQ(idles, 1);
	CHECK(actr_time_ns() - t0 >= ACTR_MS(55));
	actr__gloop_unref(g);
	CHECK_EQ(actr_reactor_active(r), 0);
	actr_reactor_free(r);
}

static gboolean on_gio(GIOChannel *ch, GIOCondition cond, gpointer data)
{
	int *n = data;
	char c;

	if (read(g_io_channel_unix_get_fd(ch), &c, 1) == 1)
		(*n)++;
	return G_SOURCE_CONTINUE;
}

TEST(ice_gloop_fd_watch)
{
	actr_reactor_t *r = actr_reactor_new();
	actr__gloop_t *g = actr__gloop_get(r);
	struct actr__gloop_stats st;
	int sv[2], reads = 0;
	GIOChannel *ch;
	GSource *s;

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	ch = g_io_channel_unix_new(sv[0]);
	s = g_io_create_watch(ch, G_IO_IN);
	g_source_set_callback(s, (GSourceFunc)(void (*)(void))on_gio, &reads,
			      NULL);
	g_source_attach(s, actr__gloop_context(g));
	CHECK(actr_reactor_run_once(r, 0) >= 0);
	/* Sources are never blocked during dispatch (no wake-up writes). */
	CHECK(g_source_get_can_recurse(s));
	actr__gloop_stats(g, &st);
	uint64_t changes = st.fd_changes;
	for (int i = 0; i < 5; i++) {
		CHECK_EQ(write(sv[1], "x", 1), 1);
		for (int k = 0; k < 10 && reads <= i; k++)
			CHECK(actr_reactor_run_once(r, 1000) >= 0);
	}
	CHECK_EQ(reads, 5);
	actr__gloop_stats(g, &st);
	/* The watched set did not change, so no epoll_ctl either. */
	CHECK_EQ(st.fd_changes, changes);
	CHECK(st.dispatches >= 5);
	g_source_destroy(s);
	g_source_unref(s);
	CHECK(actr_reactor_run_once(r, 0) >= 0);
	actr__gloop_stats(g, &st);
	CHECK(st.fd_changes > changes); /* the fd was dropped */
	g_io_channel_unref(ch);
	close(sv[0]);
	close(sv[1]);
	actr__gloop_unref(g);
	actr_reactor_free(r);
}

/* A timeout source attached after a bound fires at once when expedited;
 * its next expiry keeps the interval; other names and older sources keep
 * their time. */
static gboolean on_gcount(gpointer data)
{
	(*(int *)data)++;
	return G_SOURCE_CONTINUE;
}

static GSource *named_timeout(actr__gloop_t *g, unsigned ms, const char *name,
			      int *counter)
{
	GSource *s = g_timeout_source_new(ms);

	g_source_set_name(s, name);
	g_source_set_callback(s, on_gcount, counter, NULL);
	g_source_attach(s, actr__gloop_context(g));
	return s;
}

TEST(ice_gloop_expedite)
{
	actr_reactor_t *r = actr_reactor_new();
	actr__gloop_t *g = actr__gloop_get(r);
	int old = 0, fresh = 0, other = 0;
	GSource *s1, *s2, *s3;
	struct actr__gloop_stats st;
	guint before;

	CHECK(g);
	s1 = named_timeout(g, 10000, "tick", &old);
	before = actr__gloop_newest_id(g);
	CHECK(before >= g_source_get_id(s1));
	s2 = named_timeout(g, 10000, "tick", &fresh);
	s3 = named_timeout(g, 10000, "other", &other);
	/* the loop below lasts at most 5 s, the timeouts 10 s: fresh set
	 * means the expedited one ran */
	CHECK_EQ(actr__gloop_expedite(g, before, "tick"), 1);
	for (int i = 0; i < 50 && !fresh; i++)
		CHECK(actr_reactor_run_once(r, 100) >= 0);
	CHECK_EQ(fresh, 1);
	CHECK_EQ(old, 0);
	CHECK_EQ(other, 0);
	/* Re-armed a full interval later, and expediting again moves
	 * nothing (the source already fired once, its time is ahead). */
	for (int i = 0; i < 5; i++)
		CHECK(actr_reactor_run_once(r, 10) >= 0);
	CHECK_EQ(fresh, 1);
	actr__gloop_stats(g, &st);
	CHECK_EQ(st.expedited, 1);
	CHECK_EQ(actr__gloop_expedite(g, actr__gloop_newest_id(g), "tick"), 0);
	g_source_destroy(s1);
	g_source_destroy(s2);
	g_source_destroy(s3);
	g_source_unref(s1);
	g_source_unref(s2);
	g_source_unref(s3);
	actr__gloop_unref(g);
	actr_reactor_free(r);
}

/* ---- two agents ------------------------------------------------------- */

struct peer {
	actr__ice_t *ice;
	struct peer *other;
	bool trickle;		/* pass candidates to the other side */
	int ncand;
	bool gathered;
	int state;
	int nstates[8];
	char last[2048];
	size_t lastlen;
	int nrecv;
	uint32_t seq_next;	/* next numbered DTLS-like datagram */
	int seq_bad;		/* numbered datagrams out of order */
	int seq_got;		/* numbered datagrams received */
};

static void p_cand(void *arg, const char *cand)
{
	struct peer *p = arg;

	p->ncand++;
	CHECK(strncmp(cand, "candidate:", 10) == 0);
	CHECK(strstr(cand, "127.0.0.1") != NULL);
	if (p->trickle && p->other->ice)
		CHECK_OK(actr__ice_add_remote_candidate(p->other->ice, cand));
}

static void p_done(void *arg)
{
	struct peer *p = arg;

	p->gathered = true;
	if (p->trickle && p->other->ice)
		CHECK_OK(actr__ice_remote_gathering_done(p->other->ice));
}

static void p_state(void *arg, int state)
{
	struct peer *p = arg;

	p->state = state;
	p->nstates[state]++;
}

static void p_recv(void *arg, const uint8_t *d, size_t n)
{
	struct peer *p = arg;

	p->nrecv++;
	if (n >= 5 && d[0] == 23) {
		uint32_t seq = (uint32_t)d[1] << 24 | (uint32_t)d[2] << 16 |
			       (uint32_t)d[3] << 8 | d[4];

		p->seq_bad += seq != p->seq_next;
		p->seq_next = seq + 1;
		p->seq_got++;
		for (size_t i = 5; i < n; i++)
			p->seq_bad += d[i] != (uint8_t)(seq + i);
	}
	p->lastlen = n < sizeof(p->last) ? n : sizeof(p->last);
	memcpy(p->last, d, p->lastlen);
}

static const struct actr__ice_cbs pcbs = { p_cand, p_done, p_state, p_recv };

static void run_until(actr_reactor_t *r, bool *flag, int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));

	while (!*flag && actr_time_ns() < end)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
}

static void exchange_creds(struct peer *a, struct peer *b)
{
	char u[64], p[128];

	CHECK_OK(actr__ice_local_credentials(a->ice, u, sizeof(u), p,
					     sizeof(p)));
	CHECK(strlen(u) >= 4 && strlen(p) >= 22);
	CHECK_OK(actr__ice_set_remote_credentials(b->ice, u, p));
	CHECK_OK(actr__ice_local_credentials(b->ice, u, sizeof(u), p,
					     sizeof(p)));
	CHECK_OK(actr__ice_set_remote_credentials(a->ice, u, p));
}

/* Two trickling agents on r with config ca (a controlling, b not) and
 * callbacks cbs_a for a, credentials exchanged. */
static void make_pair_cfg(actr_reactor_t *r, struct peer *a, struct peer *b,
			  const struct actr__ice_config *ca,
			  const struct actr__ice_cbs *cbs_a)
{
	struct actr__ice_config cfa = *ca, cfb = *ca;

	cfa.controlling = true;
	cfb.controlling = false;
	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	a->other = b;
	b->other = a;
	a->trickle = b->trickle = true;
	a->ice = actr__ice_new(r, &cfa, cbs_a, a);
	b->ice = actr__ice_new(r, &cfb, &pcbs, b);
	CHECK(a->ice && b->ice);
	exchange_creds(a, b);
}

static void make_pair_ta(actr_reactor_t *r, struct peer *a, struct peer *b,
			 unsigned retrans, unsigned pacing_ms)
{
	struct actr__ice_config ca = { .local_addrs = { "127.0.0.1" },
				       .stun_initial_ms = 50,
				       .stun_max_retrans = retrans,
				       .pacing_ms = pacing_ms };

	make_pair_cfg(r, a, b, &ca, &pcbs);
}

static void make_pair(actr_reactor_t *r, struct peer *a, struct peer *b,
		      unsigned retrans)
{
	make_pair_ta(r, a, b, retrans, 0);
}

static bool both_connected(struct peer *a, struct peer *b)
{
	return a->state == ACTR__ICE_COMPLETED &&
	       b->state == ACTR__ICE_COMPLETED;
}

static void connect_pair(actr_reactor_t *r, struct peer *a, struct peer *b)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));

	CHECK_EQ(actr__ice_send(a->ice, "x", 1), -ACTR_ENOTREADY);
	CHECK_OK(actr__ice_gather(a->ice));
	CHECK_OK(actr__ice_gather(b->ice));
	while (!both_connected(a, b) && actr_time_ns() < end)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK(a->gathered && b->gathered);
	CHECK(a->ncand >= 1 && b->ncand >= 1);
	CHECK_EQ(a->state, ACTR__ICE_COMPLETED);
	CHECK_EQ(b->state, ACTR__ICE_COMPLETED);
}

TEST(ice_two_agents_loopback)
{
	actr_reactor_t *r = actr_reactor_new();
	struct peer a, b;
	char pair[256];
	uint64_t t0 = actr_time_ns();

	make_pair(r, &a, &b, 0);
	connect_pair(r, &a, &b);
	actr_logi("test", "ICE connected in %.2f ms",
		  (double)(actr_time_ns() - t0) / 1e6);
	CHECK_OK(actr__ice_selected_pair(a.ice, pair, sizeof(pair)));
	CHECK(strstr(pair, "127.0.0.1") != NULL);
	CHECK_STR(actr__ice_selected_local_type(a.ice), "host");
	CHECK(actr__ice_selected_is_loopback(a.ice));
	CHECK_EQ(a.nstates[ACTR__ICE_FAILED], 0);

	/* Packets both ways, in order, with their exact bytes. */
	for (int i = 0; i < 20; i++) {
		char msg[32];
		int n = snprintf(msg, sizeof(msg), "ping %d", i);
		bool got = false;

		CHECK_OK(actr__ice_send(a.ice, msg, (size_t)n));
		for (int k = 0; k < 100 && b.nrecv <= i; k++)
			CHECK(actr_reactor_run_once(r, 20) >= 0);
		CHECK_EQ(b.nrecv, i + 1);
		CHECK_EQ(b.lastlen, n);
		CHECK_MEM(b.last, msg, (size_t)n);
		CHECK_OK(actr__ice_send(b.ice, "pong", 4));
		for (int k = 0; k < 100 && a.nrecv <= i; k++)
			CHECK(actr_reactor_run_once(r, 20) >= 0);
		got = a.nrecv == i + 1;
		CHECK(got);
	}
	/* A 1200-byte datagram crosses whole. */
	{
		char big[1200];

		for (size_t i = 0; i < sizeof(big); i++)
			big[i] = (char)(i * 7);
		CHECK_OK(actr__ice_send(a.ice, big, sizeof(big)));
		for (int k = 0; k < 100 && b.nrecv < 21; k++)
			CHECK(actr_reactor_run_once(r, 20) >= 0);
		CHECK_EQ(b.lastlen, sizeof(big));
		CHECK_MEM(b.last, big, sizeof(big));
	}
	actr__ice_free(a.ice);
	actr__ice_free(b.ice);
	CHECK_EQ(actr_reactor_active(r), 0);
	actr_reactor_free(r);
}

/* The first connectivity check goes out at once, not one pacing interval
 * Ta after the candidates: with Ta = 200 s both sides still complete within
 * connect_pair's 5 s bound (100 s under valgrind's scaling). The selected socket's kernel buffers are
 * raised for SCTP's window. */
TEST(ice_first_check_not_paced)
{
	actr_reactor_t *r = actr_reactor_new();
	struct peer a, b;
	int v = 0, maxv = 0;
	socklen_t sl = sizeof(v);
	FILE *f;

	make_pair_ta(r, &a, &b, 0, 200000);
	connect_pair(r, &a, &b);
	CHECK_EQ(a.nstates[ACTR__ICE_FAILED], 0);

	CHECK(actr__ice_selected_fd(a.ice) >= 0);
	f = fopen("/proc/sys/net/core/rmem_max", "r");
	if (f) {
		if (fscanf(f, "%d", &maxv) != 1)
			maxv = 0;
		fclose(f);
	}
	CHECK_OK(getsockopt(actr__ice_selected_fd(a.ice), SOL_SOCKET,
			    SO_RCVBUF, &v, &sl));
	/* The kernel doubles the request, capped at rmem_max; the default
	 * is 208 KiB. */
	if (maxv >= (1 << 20))
		CHECK(v >= 2 * (1 << 20));
	sl = sizeof(v);
	CHECK_OK(getsockopt(actr__ice_selected_fd(b.ice), SOL_SOCKET,
			    SO_RCVBUF, &v, &sl));
	if (maxv >= (1 << 20))
		CHECK(v >= 2 * (1 << 20));
	actr__ice_free(a.ice);
	actr__ice_free(b.ice);
	CHECK_EQ(actr_reactor_active(r), 0);
	actr_reactor_free(r);
}

/* Remote candidates given after both sides gathered (non-trickle order),
 * and the "a=" prefix accepted. */
struct collect {
	char cands[8][512];
	int n;
};

static void c_cand(void *arg, const char *cand)
{
	struct collect *c = arg;

	if (c->n < 8)
		snprintf(c->cands[c->n++], 512, "a=%s", cand);
}

static void c_done(void *arg)
{
	struct collect *c = arg;

	c->n += 100;
}

TEST(ice_bad_candidates_rejected)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__ice_config cfg = { .local_addrs = { "127.0.0.1" } };
	struct actr__ice_cbs cbs = { c_cand, c_done, NULL, NULL };
	struct collect c = { 0 };
	actr__ice_t *ice = actr__ice_new(r, &cfg, &cbs, &c);
	char longline[800];

	CHECK(ice);
	CHECK_EQ(actr__ice_add_remote_candidate(ice, "hello"), -ACTR_EPROTO);
	CHECK_EQ(actr__ice_add_remote_candidate(ice, "candidate:"), -ACTR_EPROTO);
	CHECK_EQ(actr__ice_add_remote_candidate(
			 ice, "candidate:1 1 UDP 1 300.1.1.1 5 typ host"),
		 -ACTR_EPROTO);
	CHECK_EQ(actr__ice_add_remote_candidate(
			 ice, "candidate:1 1 udp 1 abcd.local 5 typ host"),
		 -ENOTSUP);
	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = 0;
	memcpy(longline, "candidate:", 10);
	CHECK_EQ(actr__ice_add_remote_candidate(ice, longline), -ACTR_EPROTO);
	CHECK_EQ(actr__ice_set_remote_credentials(ice, "", "x"), -EINVAL);
	CHECK_OK(actr__ice_add_remote_candidate(
		ice, "a=candidate:1 1 UDP 2013266431 127.0.0.1 9 typ host"));
	/* A server name instead of an IP literal is refused up front. */
	cfg.stun_ip = "stun.example.org";
	CHECK(actr__ice_new(r, &cfg, &cbs, &c) == NULL);
	actr__ice_free(ice);
	actr_reactor_free(r);
}

TEST(ice_late_candidates)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__ice_config ca = { .controlling = true,
				       .local_addrs = { "127.0.0.1" } };
	struct actr__ice_config cb = ca;
	struct actr__ice_cbs cbs = { c_cand, c_done, NULL, NULL };
	struct collect c1 = { 0 }, c2 = { 0 };
	bool done = false;
	uint64_t end;
	char u[64], p[128];
	actr__ice_t *a, *b;

	cb.controlling = false;
	a = actr__ice_new(r, &ca, &cbs, &c1);
	b = actr__ice_new(r, &cb, &cbs, &c2);
	CHECK(a && b);
	CHECK_OK(actr__ice_gather(a));
	CHECK_OK(actr__ice_gather(b));
	end = actr_time_ns() + ACTR_MS(actr_test_scale(3000));
	while ((c1.n < 100 || c2.n < 100) && actr_time_ns() < end)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK(c1.n > 100 && c2.n > 100);
	CHECK_OK(actr__ice_local_credentials(a, u, sizeof(u), p, sizeof(p)));
	CHECK_OK(actr__ice_set_remote_credentials(b, u, p));
	CHECK_OK(actr__ice_local_credentials(b, u, sizeof(u), p, sizeof(p)));
	CHECK_OK(actr__ice_set_remote_credentials(a, u, p));
	for (int i = 0; i < c1.n - 100; i++)
		CHECK_OK(actr__ice_add_remote_candidate(b, c1.cands[i]));
	for (int i = 0; i < c2.n - 100; i++)
		CHECK_OK(actr__ice_add_remote_candidate(a, c2.cands[i]));
	CHECK_OK(actr__ice_remote_gathering_done(a));
	CHECK_OK(actr__ice_remote_gathering_done(b));
	end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
	while (!done && actr_time_ns() < end) {
		CHECK(actr_reactor_run_once(r, 20) >= 0);
		done = actr__ice_state(a) == ACTR__ICE_COMPLETED &&
		       actr__ice_state(b) == ACTR__ICE_COMPLETED;
	}
	CHECK(done);
	actr__ice_free(a);
	actr__ice_free(b);
	actr_reactor_free(r);
}

/* The only remote candidate is a closed port: ICE must report failure
 * (after end-of-candidates), within bounded time. */
TEST(ice_failure_reported)
{
	actr_reactor_t *r = actr_reactor_new();
	struct peer a, b;
	bool failed = false;
	uint64_t end;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	char cand[128];

	/* A port that surely has no listener: bind, learn it, close. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_OK(bind(s, (struct sockaddr *)&sa, sizeof(sa)));
	CHECK_OK(getsockname(s, (struct sockaddr *)&sa, &sl));
	close(s);
	make_pair(r, &a, &b, 2);
	a.trickle = false;
	b.trickle = false;
	CHECK_OK(actr__ice_gather(a.ice));
	snprintf(cand, sizeof(cand),
		 "candidate:1 1 UDP 2013266431 127.0.0.1 %u typ host",
		 ntohs(sa.sin_port));
	CHECK_OK(actr__ice_add_remote_candidate(a.ice, cand));
	CHECK_OK(actr__ice_remote_gathering_done(a.ice));
	end = actr_time_ns() + ACTR_MS(actr_test_scale(8000));
	while (!failed && actr_time_ns() < end) {
		CHECK(actr_reactor_run_once(r, 50) >= 0);
		failed = a.state == ACTR__ICE_FAILED;
	}
	CHECK(failed);
	CHECK_EQ(a.nstates[ACTR__ICE_COMPLETED], 0);
	CHECK_EQ(actr__ice_send(a.ice, "x", 1), -ACTR_ENOTREADY);
	actr__ice_free(a.ice);
	actr__ice_free(b.ice);
	actr_reactor_free(r);
}

/* ICE restart: new credentials, connectivity again over the new ones. */
TEST(ice_restart)
{
	actr_reactor_t *r = actr_reactor_new();
	struct peer a, b;
	char u1[64], p1[128], u2[64], p2[128];
	uint64_t end;

	make_pair(r, &a, &b, 0);
	connect_pair(r, &a, &b);
	CHECK_OK(actr__ice_local_credentials(a.ice, u1, sizeof(u1), p1,
					     sizeof(p1)));
	CHECK_OK(actr__ice_restart(a.ice));
	CHECK_OK(actr__ice_restart(b.ice));
	CHECK_OK(actr__ice_local_credentials(a.ice, u2, sizeof(u2), p2,
					     sizeof(p2)));
	CHECK(strcmp(u1, u2) != 0);
	exchange_creds(&a, &b);
	a.state = b.state = 0;
	/* Candidates stay; re-announce them as a signaling peer would. */
	end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
	while (!both_connected(&a, &b) && actr_time_ns() < end)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK(both_connected(&a, &b));
	CHECK_OK(actr__ice_send(a.ice, "after", 5));
	for (int k = 0; k < 100 && b.lastlen != 5; k++)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK_MEM(b.last, "after", 5);
	actr__ice_free(a.ice);
	actr__ice_free(b.ice);
	actr_reactor_free(r);
}

/* Freeing an agent from inside its own callback is safe. */
static void free_in_state(void *arg, int state)
{
	struct peer *p = arg;

	p->state = state;
	if (state == ACTR__ICE_COMPLETED && p->ice) {
		actr__ice_free(p->ice);
		p->ice = NULL;
	}
}

TEST(ice_free_in_callback)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__ice_cbs cbs = pcbs;
	struct actr__ice_config ca = { .local_addrs = { "127.0.0.1" } };
	struct peer a, b;
	bool done = false;

	cbs.state = free_in_state;
	make_pair_cfg(r, &a, &b, &ca, &cbs);
	CHECK_OK(actr__ice_gather(a.ice));
	CHECK_OK(actr__ice_gather(b.ice));
	for (int i = 0; i < 500 && !done; i++) {
		CHECK(actr_reactor_run_once(r, 20) >= 0);
		done = a.ice == NULL;
	}
	CHECK(done);
	for (int i = 0; i < 3; i++)
		CHECK(actr_reactor_run_once(r, 0) >= 0);
	actr__ice_free(b.ice);
	CHECK_EQ(actr_reactor_active(r), 0);
	actr_reactor_free(r);
	(void)run_until;
}

/* Through a real TURN server (coturn on 127.0.0.1, use-auth-secret): both
 * agents forced to relay candidates. */
TEST_TIMEOUT(ice_turn_relay, 20)
{
	actr_reactor_t *r = actr_reactor_new();
	struct test_turn turn;
	struct actr__ice_config ca = { .local_addrs = { "127.0.0.1" },
				       .turn_ip = "127.0.0.1",
				       .relay_only = true };
	struct peer a, b;
	uint64_t end;
	char pair[256];

	CHECK_OK(test_turn_start(&turn));
	ca.turn_port = turn.port;
	ca.turn_user = turn.user;
	ca.turn_pass = turn.pass;
	make_pair_cfg(r, &a, &b, &ca, &pcbs);
	CHECK_OK(actr__ice_gather(a.ice));
	CHECK_OK(actr__ice_gather(b.ice));
	end = actr_time_ns() + ACTR_MS(actr_test_scale(8000));
	while (!both_connected(&a, &b) && actr_time_ns() < end)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK(both_connected(&a, &b));
	CHECK_OK(actr__ice_selected_pair(a.ice, pair, sizeof(pair)));
	actr_logi("test", "relay pair: %s", pair);
	CHECK_STR(actr__ice_selected_local_type(a.ice), "relay");
	CHECK_STR(actr__ice_selected_local_type(b.ice), "relay");
	CHECK_OK(actr__ice_send(a.ice, "via turn", 8));
	for (int k = 0; k < 100 && b.lastlen != 8; k++)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK_MEM(b.last, "via turn", 8);
	{
		/* A relayed pair stays on libnice (no direct path), also
		 * for DTLS-looking datagrams. */
		struct actr__ice_direct_stats sa, sb;
		uint8_t d[100] = { 23, 0, 0, 0, 0 };

		for (size_t i = 5; i < sizeof(d); i++)
			d[i] = (uint8_t)i;
		CHECK_OK(actr__ice_send(a.ice, d, sizeof(d)));
		for (int k = 0; k < 100 && b.seq_got < 1; k++)
			CHECK(actr_reactor_run_once(r, 20) >= 0);
		CHECK_EQ(b.seq_got, 1);
		CHECK_EQ(b.seq_bad, 0);
		actr__ice_direct_stats(a.ice, &sa);
		actr__ice_direct_stats(b.ice, &sb);
		CHECK(!sa.tx_active && !sa.rx_active);
		CHECK(!sb.tx_active && !sb.rx_active);
		CHECK_EQ(sa.tx_datagrams + sb.rx_datagrams, 0);
	}
	actr__ice_free(a.ice);
	actr__ice_free(b.ice);
	actr_reactor_free(r);
	test_turn_stop(&turn);
}

/* A wrong TURN password: no relay candidate, so relay-only ICE cannot
 * connect and gathering still ends. */
TEST_TIMEOUT(ice_turn_bad_credentials, 20)
{
	actr_reactor_t *r = actr_reactor_new();
	struct test_turn turn;
	struct actr__ice_config ca = { .controlling = true,
				       .local_addrs = { "127.0.0.1" },
				       .turn_ip = "127.0.0.1",
				       .relay_only = true };
	struct peer a = { 0 }, b = { 0 };
	uint64_t end;

	CHECK_OK(test_turn_start(&turn));
	ca.turn_port = turn.port;
	ca.turn_user = turn.user;
	ca.turn_pass = "d3Jvbmc=";
	a.other = &b;
	a.ice = actr__ice_new(r, &ca, &pcbs, &a);
	CHECK(a.ice);
	CHECK_OK(actr__ice_gather(a.ice));
	end = actr_time_ns() + ACTR_MS(actr_test_scale(8000));
	while (!a.gathered && actr_time_ns() < end)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK(a.gathered);
	CHECK_EQ(a.ncand, 0);
	actr__ice_free(a.ice);
	actr_reactor_free(r);
	test_turn_stop(&turn);
}

/* Agents freed and new ones created within one iteration, while another
 * agent keeps the bridge alive: the new sockets reuse the closed
 * descriptors' numbers and must still be watched. */
TEST(ice_fd_reuse_after_free)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__ice_config kc = { .local_addrs = { "127.0.0.1" } };
	struct actr__ice_cbs none = { 0 };
	actr__ice_t *keeper = actr__ice_new(r, &kc, &none, NULL);
	struct peer a, b;

	CHECK(keeper);
	CHECK_OK(actr__ice_gather(keeper));
	for (int round = 0; round < 3; round++) {
		make_pair(r, &a, &b, 0);
		connect_pair(r, &a, &b);
		CHECK_OK(actr__ice_send(a.ice, "ping", 4));
		for (int k = 0; k < 100 && b.nrecv == 0; k++)
			CHECK(actr_reactor_run_once(r, 20) >= 0);
		CHECK_EQ(b.nrecv, 1);
		/* No iteration between this free and the next make_pair. */
		actr__ice_free(a.ice);
		actr__ice_free(b.ice);
	}
	actr__ice_free(keeper);
	actr_reactor_free(r);
}

/* ---- the direct UDP path (ice/udp.h) ------------------------------------ */

/* The steered receive socket comes RX_DELAY_MS (20 ms) after the path:
 * run the loop until it is there (bounded). */
static void wait_steering(actr_reactor_t *r, struct peer *p)
{
	struct actr__ice_direct_stats st;
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(2000));

	do {
		actr__ice_direct_stats(p->ice, &st);
		if (st.rx_active)
			return;
		CHECK(actr_reactor_run_once(r, 5) >= 0);
	} while (actr_time_ns() < end);
	actr__ice_direct_stats(p->ice, &st);
	CHECK(st.rx_active);
}

/* A numbered datagram that looks like DTLS (first byte 23). */
static void send_numbered(struct peer *p, uint32_t seq, size_t n)
{
	uint8_t d[1200];

	d[0] = 23;
	d[1] = (uint8_t)(seq >> 24);
	d[2] = (uint8_t)(seq >> 16);
	d[3] = (uint8_t)(seq >> 8);
	d[4] = (uint8_t)seq;
	for (size_t i = 5; i < n; i++)
		d[i] = (uint8_t)(seq + i);
	CHECK_OK(actr__ice_send(p->ice, d, n));
}

/* On a host pair, sends leave in sendmmsg batches and DTLS-looking
 * datagrams arrive through the steered socket in recvmmsg batches, in
 * order and intact; other datagrams (and STUN: an ICE restart) still go
 * through libnice's socket. */
TEST(ice_direct_path_batches)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__ice_direct_stats sa, sb, sb2;
	struct peer a, b;
	uint64_t end;
	int n = 300;

	make_pair(r, &a, &b, 0);
	connect_pair(r, &a, &b);
	/* One send selects the path; the steering follows 20 ms later
	 * (until then DTLS-looking datagrams still arrive, via libnice). */
	send_numbered(&b, 0, 100);
	send_numbered(&a, 0, 100);
	for (int k = 0; k < 100 && (a.seq_got < 1 || b.seq_got < 1); k++)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK(a.seq_got == 1 && b.seq_got == 1);
	actr__ice_direct_stats(b.ice, &sb);
	CHECK(sb.tx_active);
	CHECK(!sb.rx_active);
	CHECK_EQ(sb.rx_datagrams, 0);
	wait_steering(r, &a);
	wait_steering(r, &b);
	b.seq_next = 0; /* the burst numbers from 0 again */
	b.seq_got = 0;

	/* A burst written within one iteration. */
	for (int i = 0; i < n; i++)
		send_numbered(&a, (uint32_t)i, 1200);
	end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
	while (b.seq_got < n && actr_time_ns() < end)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK_EQ(b.seq_got, n);
	CHECK_EQ(b.seq_bad, 0);
	actr__ice_direct_stats(a.ice, &sa);
	actr__ice_direct_stats(b.ice, &sb);
	CHECK(sa.tx_active && sa.rx_active);
	CHECK(sa.tx_datagrams >= (uint64_t)n);
	CHECK(sa.tx_calls <= 2 + (uint64_t)n / 32); /* 64 per call */
	CHECK(sa.tx_gso_runs > 0); /* equal sizes: UDP GSO runs */
	CHECK(sa.tx_gso_runs < (uint64_t)n);
	CHECK_EQ(sa.tx_errors, 0);
	CHECK(sb.rx_datagrams >= (uint64_t)n);
	CHECK(sb.rx_calls < (uint64_t)n); /* several per recvmmsg */
	actr_logi("test", "direct: %llu datagrams in %llu sendmmsg (%llu GSO "
			  "runs), %llu in %llu recvmmsg",
		  (unsigned long long)sa.tx_datagrams,
		  (unsigned long long)sa.tx_calls,
		  (unsigned long long)sa.tx_gso_runs,
		  (unsigned long long)sb.rx_datagrams,
		  (unsigned long long)sb.rx_calls);

	/* Not DTLS: through libnice's socket, not the steered one. */
	CHECK_OK(actr__ice_send(a.ice, "plain", 5));
	for (int k = 0; k < 100 && b.lastlen != 5; k++)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK_MEM(b.last, "plain", 5);
	actr__ice_direct_stats(b.ice, &sb2);
	CHECK_EQ(sb2.rx_datagrams, sb.rx_datagrams);

	/* STUN still reaches libnice: an ICE restart completes, and the
	 * path carries data again afterwards (the burst above continues). */
	CHECK_OK(actr__ice_restart(a.ice));
	CHECK_OK(actr__ice_restart(b.ice));
	exchange_creds(&a, &b);
	a.state = b.state = 0;
	end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
	while (!both_connected(&a, &b) && actr_time_ns() < end)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK(both_connected(&a, &b));
	for (int i = 0; i < 10; i++)
		send_numbered(&a, (uint32_t)(n + i), 600);
	end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
	while (b.seq_got < n + 10 && actr_time_ns() < end)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK_EQ(b.seq_got, n + 10);
	CHECK_EQ(b.seq_bad, 0);
	actr__ice_direct_stats(a.ice, &sa);
	CHECK(sa.tx_active);
	actr__ice_free(a.ice);
	actr__ice_free(b.ice);
	CHECK_EQ(actr_reactor_active(r), 0);
	actr_reactor_free(r);
}

/* A DTLS-looking datagram from an address that is no remote candidate is
 * dropped and counted; the agents' own traffic is unaffected. */
TEST(ice_direct_foreign_source_dropped)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__ice_direct_stats sb;
	struct sockaddr_in to, me = { 0 };
	socklen_t sl = sizeof(to);
	struct peer a, b;
	uint8_t fake[64];
	int s;

	make_pair(r, &a, &b, 0);
	connect_pair(r, &a, &b);
	send_numbered(&b, 0, 64); /* selects b's path */
	send_numbered(&a, 0, 64);
	for (int k = 0; k < 100 && (a.seq_got < 1 || b.seq_got < 1); k++)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK(a.seq_got == 1 && b.seq_got == 1);
	wait_steering(r, &b);
	CHECK_OK(getsockname(actr__ice_selected_fd(b.ice),
			     (struct sockaddr *)&to, &sl));
	s = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(s >= 0);
	me.sin_family = AF_INET;
	me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_OK(bind(s, (struct sockaddr *)&me, sizeof(me)));
	memset(fake, 0, sizeof(fake));
	fake[0] = 23;
	fake[4] = 1; /* would be sequence 1 */
	CHECK_EQ(sendto(s, fake, sizeof(fake), 0, (struct sockaddr *)&to,
			sizeof(to)),
		 (ssize_t)sizeof(fake));
	for (int k = 0; k < 50; k++) {
		actr__ice_direct_stats(b.ice, &sb);
		if (sb.foreign)
			break;
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	}
	CHECK_EQ(sb.foreign, 1);
	CHECK_EQ(b.seq_got, 1);
	send_numbered(&a, 1, 64);
	for (int k = 0; k < 100 && b.seq_got < 2; k++)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK_EQ(b.seq_got, 2);
	CHECK_EQ(b.seq_bad, 0);
	close(s);
	actr__ice_free(a.ice);
	actr__ice_free(b.ice);
	actr_reactor_free(r);
}

/* no_gso: the direct path sends plain datagrams (sendmmsg), still in
 * batches, in order and intact. */
TEST(ice_direct_no_gso)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__ice_config ca = { .local_addrs = { "127.0.0.1" },
				       .no_gso = true };
	struct actr__ice_direct_stats sa, sb;
	struct peer a, b;
	int n = 200;

	make_pair_cfg(r, &a, &b, &ca, &pcbs);
	connect_pair(r, &a, &b);
	send_numbered(&b, 0, 64); /* selects b's path */
	for (int k = 0; k < 100 && a.seq_got < 1; k++)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	wait_steering(r, &b);
	for (int i = 0; i < n; i++)
		send_numbered(&a, (uint32_t)i, 1200);
	for (int k = 0; k < 200 && b.seq_got < n; k++)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK_EQ(b.seq_got, n);
	CHECK_EQ(b.seq_bad, 0);
	actr__ice_direct_stats(a.ice, &sa);
	actr__ice_direct_stats(b.ice, &sb);
	CHECK(sa.tx_active && sb.rx_active);
	CHECK_EQ(sa.tx_gso_runs, 0);
	CHECK(sa.tx_datagrams >= (uint64_t)n);
	CHECK(sa.tx_calls <= 2 + (uint64_t)n / 32);
	CHECK(sb.rx_calls < (uint64_t)n);
	actr__ice_free(a.ice);
	actr__ice_free(b.ice);
	actr_reactor_free(r);
}

/* no_direct keeps every datagram on libnice. */
TEST(ice_direct_off)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__ice_config ca = { .local_addrs = { "127.0.0.1" },
				       .no_direct = true };
	struct actr__ice_direct_stats sa, sb;
	struct peer a, b;

	make_pair_cfg(r, &a, &b, &ca, &pcbs);
	connect_pair(r, &a, &b);
	for (int i = 0; i < 50; i++)
		send_numbered(&a, (uint32_t)i, 1000);
	for (int k = 0; k < 200 && b.seq_got < 50; k++)
		CHECK(actr_reactor_run_once(r, 20) >= 0);
	CHECK_EQ(b.seq_got, 50);
	CHECK_EQ(b.seq_bad, 0);
	actr__ice_direct_stats(a.ice, &sa);
	actr__ice_direct_stats(b.ice, &sb);
	CHECK(!sa.tx_active && !sa.rx_active && !sb.rx_active);
	CHECK_EQ(sa.tx_datagrams + sb.rx_datagrams, 0);
	actr__ice_free(a.ice);
	actr__ice_free(b.ice);
	actr_reactor_free(r);
}
