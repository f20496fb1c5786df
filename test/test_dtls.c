/* Tests of wire/dtls.c: two DTLS endpoints in one process joined by
 * in-memory links that deliver each datagram on a deferred call (so no
 * callback re-enters the other side), optionally dropping datagrams. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <actr/actr.h>

#include "core/internal.h"
#include "test.h"
#include "wire/dtls.h"

#define LINK_MAX 64

struct ep;

struct link {
	actr_reactor_t *r;
	struct ep *to;			/* receiving endpoint */
	actr_defer_t d;			/* delivery */
	uint8_t *pkt[LINK_MAX];		/* queued datagrams */
	size_t len[LINK_MAX];
	int n;
	int drop_first;			/* drop this many more datagrams */
	int dropped;
	int sent;
	bool dead;			/* silent peer: swallow everything */
};

struct ep {
	actr__dtls_t *d;
	struct link out;		/* to the other endpoint */
	enum actr__dtls_state st;	/* last reported */
	int err;			/* its error */
	int states;			/* callbacks seen */
	uint64_t connected_at;		/* reactor time */
	uint8_t rx[2048];		/* last record */
	size_t rx_len;
	int records;
};

static void link_run(actr_defer_t *df, void *arg)
{
	struct link *l = arg;
	int n = l->n, i;
	uint8_t *pkt[LINK_MAX];
	size_t len[LINK_MAX];

	memcpy(pkt, l->pkt, sizeof(pkt[0]) * (size_t)n);
	memcpy(len, l->len, sizeof(len[0]) * (size_t)n);
	l->n = 0;
	for (i = 0; i < n; i++) {
		if (l->to && l->to->d)
			actr__dtls_feed(l->to->d, pkt[i], len[i]);
		free(pkt[i]);
	}
}

static int ep_send(void *arg, const uint8_t *p, size_t n)
{
	struct ep *e = arg;
	struct link *l = &e->out;

	l->sent++;
	if (l->dead)
		return 0;
	if (l->drop_first > 0) {
		l->drop_first--;
		l->dropped++;
		return 0;
	}
	if (l->n == LINK_MAX)
		return -ENOBUFS;
	l->pkt[l->n] = malloc(n);
	CHECK(l->pkt[l->n]);
	memcpy(l->pkt[l->n], p, n);
	l->len[l->n++] = n;
	actr_defer(l->r, &l->d, link_run, l);
	return 0;
}

static void ep_up(void *arg, const uint8_t *p, size_t n)
{
	struct ep *e = arg;

	CHECK(n <= sizeof(e->rx));
	memcpy(e->rx, p, n);
	e->rx_len = n;
	e->records++;
}

static actr_reactor_t *g_r;

static void ep_state(void *arg, enum actr__dtls_state st, int err)
{
	struct ep *e = arg;

	e->st = st;
	e->err = err;
	e->states++;
	if (st == ACTR_DTLS_CONNECTED)
		e->connected_at = actr_reactor_now(g_r);
}

static const struct actr__dtls_cbs cbs = {
	.send_down = ep_send,
	.deliver_up = ep_up,
	.state = ep_state,
};

static void ep_init(struct ep *e, struct ep *peer, actr_reactor_t *r)
{
	memset(e, 0, sizeof(*e));
	e->out.r = r;
	e->out.to = peer;
}

static void ep_fini(struct ep *e)
{
	actr_defer_cancel(e->out.r, &e->out.d);
	for (int i = 0; i < e->out.n; i++)
		free(e->out.pkt[i]);
	actr__dtls_free(e->d);
}

/* Run until both reach a final-ish state or the bound passes. */
static void run_until(actr_reactor_t *r, struct ep *a, struct ep *b,
		      enum actr__dtls_state want, int max_ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(max_ms));

	while (actr_time_ns() < end &&
	       !((a->st == want || a->st >= ACTR_DTLS_CLOSED) &&
		 (b->st == want || b->st >= ACTR_DTLS_CLOSED)))
		actr_reactor_run_once(r, 10);
}

struct pair {
	actr_reactor_t *r;
	actr__dtls_cert_t *cc, *sc;
	struct ep c, s;
};

static void pair_new(struct pair *p, const char *cfp, const char *sfp)
{
	/* A slow machine (valgrind) must not cause retransmissions. */
	unsigned rto = (unsigned)actr_test_scale(150);
	struct actr__dtls_opts co = { .role = ACTR_DTLS_CLIENT,
				      .initial_rto_ms = rto };
	struct actr__dtls_opts so = { .role = ACTR_DTLS_SERVER,
				      .initial_rto_ms = rto };

	p->r = actr_reactor_new();
	CHECK(p->r);
	g_r = p->r;
	p->cc = actr__dtls_cert_new();
	p->sc = actr__dtls_cert_new();
	CHECK(p->cc && p->sc);
	ep_init(&p->c, &p->s, p->r);
	ep_init(&p->s, &p->c, p->r);
	co.remote_fingerprint =
		cfp ? cfp : actr__dtls_cert_fingerprint(p->sc);
	so.remote_fingerprint =
		sfp ? sfp : actr__dtls_cert_fingerprint(p->cc);
	if (sfp && !strcmp(sfp, "later"))
		so.remote_fingerprint = NULL;
	p->c.d = actr__dtls_new(p->r, p->cc, &co, &cbs, &p->c);
	p->s.d = actr__dtls_new(p->r, p->sc, &so, &cbs, &p->s);
	CHECK(p->c.d && p->s.d);
}

static void pair_free(struct pair *p)
{
	ep_fini(&p->c);
	ep_fini(&p->s);
	actr__dtls_cert_unref(p->cc);
	actr__dtls_cert_unref(p->sc);
	actr_reactor_free(p->r);
}

TEST(dtls_fingerprint_parse)
{
	actr__dtls_cert_t *c = actr__dtls_cert_new();
	const char *fp;
	uint8_t md[64];
	char alg[16];

	CHECK(c);
	fp = actr__dtls_cert_fingerprint(c);
	CHECK(strncmp(fp, "sha-256 ", 8) == 0);
	CHECK_EQ(strlen(fp), 8 + 32 * 3 - 1);
	CHECK_EQ(actr__dtls_parse_fingerprint(fp, alg, md, sizeof(md)), 32);
	CHECK_STR(alg, "sha-256");
	CHECK_EQ(actr__dtls_parse_fingerprint("SHA-256 AB:CD", alg, md, 64),
		 -ACTR_EPROTO); /* too short */
	CHECK_EQ(actr__dtls_parse_fingerprint("md5 AB:CD", alg, md, 64),
		 -ACTR_EPROTO);
	CHECK_EQ(actr__dtls_parse_fingerprint("sha-1", alg, md, 64), -ACTR_EPROTO);
	CHECK_EQ(actr__dtls_parse_fingerprint(
			 "sha-1 00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:"
			 "ff:00:11:22:3G",
			 alg, md, 64),
		 -ACTR_EPROTO);
	CHECK_EQ(actr__dtls_parse_fingerprint(
			 "SHA-1 00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:"
			 "ff:00:11:22:33",
			 alg, md, 64),
		 20);
	CHECK_EQ(md[19], 0x33);
	actr__dtls_cert_unref(c);
}

TEST(dtls_handshake_data_srtp_close)
{
	struct pair p;
	struct actr__dtls_srtp_keys ck, sk;
	struct actr__dtls_stats st;
	char msg[1200];

	pair_new(&p, NULL, NULL);
	CHECK_EQ(actr__dtls_send(p.c.d, "x", 1), -ACTR_ENOTREADY);
	CHECK_OK(actr__dtls_start(p.s.d));
	CHECK_OK(actr__dtls_start(p.c.d));
	CHECK_EQ(actr__dtls_start(p.c.d), -EALREADY);
	run_until(p.r, &p.c, &p.s, ACTR_DTLS_CONNECTED, 3000);
	CHECK_EQ(p.c.st, ACTR_DTLS_CONNECTED);
	CHECK_EQ(p.s.st, ACTR_DTLS_CONNECTED);
	/* Each side saw the other's certificate. */
	CHECK_STR(actr__dtls_remote_fingerprint(p.c.d),
		  actr__dtls_cert_fingerprint(p.sc));
	CHECK_STR(actr__dtls_remote_fingerprint(p.s.d),
		  actr__dtls_cert_fingerprint(p.cc));

	/* Application data both ways: one record per send. */
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (char)(i * 7);
	CHECK_OK(actr__dtls_send(p.c.d, msg, sizeof(msg)));
	CHECK_OK(actr__dtls_send(p.s.d, "pong", 4));
	for (int i = 0; i < 20 && (!p.s.records || !p.c.records); i++)
		actr_reactor_run_once(p.r, 10);
	CHECK_EQ(p.s.records, 1);
	CHECK_EQ(p.s.rx_len, sizeof(msg));
	CHECK_MEM(p.s.rx, msg, sizeof(msg));
	CHECK_EQ(p.c.records, 1);
	CHECK_EQ(p.c.rx_len, 4);
	CHECK_MEM(p.c.rx, "pong", 4);
	CHECK_EQ(actr__dtls_send(p.c.d, msg, 20000), -ACTR_ETOOBIG);

	/* SRTP: both sides export the same keys, mirrored. */
	CHECK_OK(actr__dtls_srtp_keys(p.c.d, &ck));
	CHECK_OK(actr__dtls_srtp_keys(p.s.d, &sk));
	CHECK_EQ(ck.profile, ACTR_SRTP_AEAD_AES_128_GCM);
	CHECK_EQ(sk.profile, ck.profile);
	CHECK_EQ(ck.key_len, 16);
	CHECK_EQ(ck.salt_len, 12);
	CHECK_MEM(ck.local_key, sk.remote_key, 16);
	CHECK_MEM(ck.remote_key, sk.local_key, 16);
	CHECK_MEM(ck.local_salt, sk.remote_salt, 12);
	CHECK_MEM(ck.remote_salt, sk.local_salt, 12);
	CHECK(memcmp(ck.local_key, ck.remote_key, 16) != 0);

	/* No retransmission on a clean link. */
	actr__dtls_get_stats(p.c.d, &st);
	CHECK_EQ(st.retransmits, 0);

	/* Clean close: close_notify reaches the server. */
	CHECK_OK(actr__dtls_close(p.c.d));
	CHECK_EQ(p.c.st, ACTR_DTLS_CLOSED);
	CHECK_EQ(actr__dtls_close(p.c.d), -ACTR_ECLOSED);
	CHECK_EQ(actr__dtls_send(p.c.d, "x", 1), -ACTR_ECLOSED);
	for (int i = 0; i < 20 && p.s.st != ACTR_DTLS_CLOSED; i++)
		actr_reactor_run_once(p.r, 10);
	CHECK_EQ(p.s.st, ACTR_DTLS_CLOSED);
	CHECK_EQ(p.s.err, 0);
	pair_free(&p);
}

/* Every session negotiates use_srtp (PROTOCOL.md 7), data-only ones
 * included: no option turns it on, both roles select the same profile
 * (the first of our list) and export keys (mirrored: see
 * dtls_handshake_data_srtp_close). */
TEST(dtls_srtp_always_negotiated)
{
	struct pair p;
	struct actr__dtls_srtp_keys ck, sk;

	pair_new(&p, NULL, NULL);
	CHECK_EQ(actr__dtls_srtp_profile(p.c.d), ACTR_SRTP_NONE);
	CHECK_EQ(actr__dtls_srtp_keys(p.c.d, &ck), -ACTR_ENOTREADY);
	CHECK_OK(actr__dtls_start(p.s.d));
	CHECK_OK(actr__dtls_start(p.c.d));
	run_until(p.r, &p.c, &p.s, ACTR_DTLS_CONNECTED, 3000);
	CHECK_EQ(p.c.st, ACTR_DTLS_CONNECTED);
	CHECK_EQ(p.s.st, ACTR_DTLS_CONNECTED);
	CHECK_EQ(actr__dtls_srtp_profile(p.c.d), ACTR_SRTP_AEAD_AES_128_GCM);
	CHECK_EQ(actr__dtls_srtp_profile(p.s.d), ACTR_SRTP_AEAD_AES_128_GCM);
	CHECK_STR(actr__srtp_profile_name(actr__dtls_srtp_profile(p.s.d)),
		  "SRTP_AEAD_AES_128_GCM");
	CHECK_STR(actr__srtp_profile_name(ACTR_SRTP_NONE), "none");
	CHECK_OK(actr__dtls_srtp_keys(p.c.d, &ck));
	CHECK_OK(actr__dtls_srtp_keys(p.s.d, &sk));
	CHECK_EQ(sk.profile, ck.profile);
	pair_free(&p);
}

TEST(dtls_fingerprint_mismatch_client_refuses)
{
	struct pair p;
	actr__dtls_cert_t *other = actr__dtls_cert_new();

	CHECK(other);
	/* The client expects another certificate than the server's. */
	pair_new(&p, actr__dtls_cert_fingerprint(other), NULL);
	CHECK_OK(actr__dtls_start(p.s.d));
	CHECK_OK(actr__dtls_start(p.c.d));
	run_until(p.r, &p.c, &p.s, ACTR_DTLS_CONNECTED, 3000);
	CHECK_EQ(p.c.st, ACTR_DTLS_FAILED);
	CHECK_EQ(p.c.err, -ACTR_EAUTH);
	/* The server got the alert and failed too; never connected. */
	CHECK_EQ(p.s.st, ACTR_DTLS_FAILED);
	CHECK_EQ(p.s.connected_at, 0);
	CHECK_EQ(p.c.connected_at, 0);
	pair_free(&p);
	actr__dtls_cert_unref(other);
}

TEST(dtls_fingerprint_mismatch_server_refuses)
{
	struct pair p;
	actr__dtls_cert_t *other = actr__dtls_cert_new();

	CHECK(other);
	pair_new(&p, NULL, actr__dtls_cert_fingerprint(other));
	CHECK_OK(actr__dtls_start(p.s.d));
	CHECK_OK(actr__dtls_start(p.c.d));
	run_until(p.r, &p.c, &p.s, ACTR_DTLS_CONNECTED, 3000);
	CHECK_EQ(p.s.st, ACTR_DTLS_FAILED);
	CHECK_EQ(p.s.err, -ACTR_EAUTH);
	CHECK(p.c.st != ACTR_DTLS_CONNECTED);
	CHECK_EQ(p.s.connected_at, 0);
	pair_free(&p);
	actr__dtls_cert_unref(other);
}

TEST(dtls_fingerprint_known_late)
{
	struct pair p;

	/* The server (offerer) does not have the answer yet. */
	pair_new(&p, NULL, "later");
	CHECK_OK(actr__dtls_start(p.s.d));
	CHECK_OK(actr__dtls_start(p.c.d));
	run_until(p.r, &p.c, &p.c, ACTR_DTLS_CONNECTED, 3000);
	CHECK_EQ(p.c.st, ACTR_DTLS_CONNECTED);
	CHECK_EQ(actr__dtls_get_state(p.s.d), ACTR_DTLS_HANDSHAKE);
	CHECK_EQ(p.s.states, 0); /* not verified yet */
	/* Data sent meanwhile is held, then delivered. */
	CHECK_OK(actr__dtls_send(p.c.d, "early", 5));
	for (int i = 0; i < 5; i++)
		actr_reactor_run_once(p.r, 5);
	CHECK_EQ(p.s.records, 0);
	CHECK_EQ(actr__dtls_set_remote_fingerprint(p.s.d, "sha-256 zz"),
		 -ACTR_EPROTO);
	CHECK_OK(actr__dtls_set_remote_fingerprint(
		p.s.d, actr__dtls_cert_fingerprint(p.cc)));
	CHECK_EQ(p.s.st, ACTR_DTLS_CONNECTED);
	CHECK_EQ(p.s.records, 1);
	CHECK_MEM(p.s.rx, "early", 5);
	pair_free(&p);

	/* Same, but the late fingerprint does not match. */
	actr__dtls_cert_t *other = actr__dtls_cert_new();

	pair_new(&p, NULL, "later");
	CHECK_OK(actr__dtls_start(p.s.d));
	CHECK_OK(actr__dtls_start(p.c.d));
	run_until(p.r, &p.c, &p.c, ACTR_DTLS_CONNECTED, 3000);
	CHECK_OK(actr__dtls_set_remote_fingerprint(
		p.s.d, actr__dtls_cert_fingerprint(other)));
	CHECK_EQ(p.s.st, ACTR_DTLS_FAILED);
	CHECK_EQ(p.s.err, -ACTR_EAUTH);
	pair_free(&p);
	actr__dtls_cert_unref(other);
}

TEST(dtls_handshake_deadline)
{
	struct pair p;
	unsigned limit = (unsigned)actr_test_scale(400);
	struct actr__dtls_opts co = { .role = ACTR_DTLS_CLIENT,
				      .handshake_timeout_ms = limit,
				      .initial_rto_ms = 50 };
	struct actr__dtls_stats st;
	uint64_t t0;

	pair_new(&p, NULL, NULL);
	actr__dtls_free(p.c.d);
	co.remote_fingerprint = actr__dtls_cert_fingerprint(p.sc);
	p.c.d = actr__dtls_new(p.r, p.cc, &co, &cbs, &p.c);
	CHECK(p.c.d);
	p.c.out.dead = true; /* the server never hears anything */
	t0 = actr_reactor_now(p.r);	/* the deadline's clock */
	CHECK_OK(actr__dtls_start(p.c.d));
	run_until(p.r, &p.c, &p.c, ACTR_DTLS_CONNECTED, 3000);
	CHECK_EQ(p.c.st, ACTR_DTLS_FAILED);
	CHECK_EQ(p.c.err, -ACTR_ETIMEDOUT);
	CHECK(actr_reactor_now(p.r) - t0 >= ACTR_MS(limit)); /* never early */
	actr__dtls_get_stats(p.c.d, &st);
	/* 50, 100, 200 ms: the flight was resent at least twice. */
	CHECK(st.retransmits >= 2);
	CHECK(p.c.out.sent >= 3);
	pair_free(&p);
}

TEST(dtls_retransmit_dropped_first_flight)
{
	struct pair p;
	struct actr__dtls_stats st;
	uint64_t t0, took;

	pair_new(&p, NULL, NULL);
	p.c.out.drop_first = 1; /* the ClientHello is lost */
	CHECK_OK(actr__dtls_start(p.s.d));
	t0 = actr_time_ns();
	CHECK_OK(actr__dtls_start(p.c.d));
	run_until(p.r, &p.c, &p.s, ACTR_DTLS_CONNECTED, 3000);
	took = actr_time_ns() - t0;
	CHECK_EQ(p.c.st, ACTR_DTLS_CONNECTED);
	CHECK_EQ(p.s.st, ACTR_DTLS_CONNECTED);
	CHECK_EQ(p.c.out.dropped, 1);
	actr__dtls_get_stats(p.c.d, &st);
	CHECK(st.retransmits >= 1);
	/* Recovered by the short first timeout (initial_rto_ms, 150 ms
	 * here), not OpenSSL's 1 s: our timer callback set the first
	 * retransmission timeout (asserted on the counter, not on the wall
	 * clock, which a loaded machine stretches). */
	CHECK_EQ(st.first_rto_ms, (uint32_t)actr_test_scale(150));
	printf("  setup with a dropped ClientHello: %.1f ms\n", took / 1e6);
	pair_free(&p);
}

TEST(dtls_early_datagram_kept)
{
	struct pair p;
	struct actr__dtls_stats st;

	pair_new(&p, NULL, NULL);
	/* The client starts first; the server is started only later (ICE
	 * not yet complete on its side): the ClientHello must be kept. */
	CHECK_OK(actr__dtls_start(p.c.d));
	for (int i = 0; i < 3; i++)
		actr_reactor_run_once(p.r, 0);
	CHECK_EQ(p.s.st, ACTR_DTLS_NEW);
	CHECK_OK(actr__dtls_start(p.s.d));
	run_until(p.r, &p.c, &p.s, ACTR_DTLS_CONNECTED, 3000);
	CHECK_EQ(p.c.st, ACTR_DTLS_CONNECTED);
	CHECK_EQ(p.s.st, ACTR_DTLS_CONNECTED);
	actr__dtls_get_stats(p.c.d, &st);
	CHECK_EQ(st.retransmits, 0);
	pair_free(&p);
}

TEST(dtls_bad_input_dropped)
{
	struct pair p;
	struct actr__dtls_stats st;
	uint8_t junk[200];

	pair_new(&p, NULL, NULL);
	CHECK_OK(actr__dtls_start(p.s.d));
	CHECK_OK(actr__dtls_start(p.c.d));
	run_until(p.r, &p.c, &p.s, ACTR_DTLS_CONNECTED, 3000);
	CHECK_EQ(p.s.st, ACTR_DTLS_CONNECTED);
	memset(junk, 0x17, sizeof(junk)); /* application-data type, garbage */
	CHECK_OK(actr__dtls_feed(p.s.d, junk, sizeof(junk)));
	CHECK_EQ(actr__dtls_feed(p.s.d, junk, 5), -ACTR_EPROTO);
	junk[0] = 0x80; /* RTP range */
	CHECK_EQ(actr__dtls_feed(p.s.d, junk, sizeof(junk)), -ACTR_EPROTO);
	actr__dtls_get_stats(p.s.d, &st);
	CHECK(st.dropped_in >= 2);
	/* Still works. */
	CHECK_OK(actr__dtls_send(p.c.d, "ok", 2));
	for (int i = 0; i < 10 && !p.s.records; i++)
		actr_reactor_run_once(p.r, 5);
	CHECK_EQ(p.s.records, 1);
	CHECK_EQ(p.s.st, ACTR_DTLS_CONNECTED);
	pair_free(&p);
}

/* Freeing the connection from its own state callback is safe. */
static void free_on_connect(void *arg, enum actr__dtls_state st, int err)
{
	struct ep *e = arg;

	ep_state(arg, st, err);
	if (st == ACTR_DTLS_CONNECTED) {
		actr__dtls_free(e->d);
		e->d = NULL;
	}
}

TEST(dtls_free_from_callback)
{
	struct pair p;
	struct actr__dtls_cbs fcbs = cbs;
	struct actr__dtls_opts co = { .role = ACTR_DTLS_CLIENT };

	fcbs.state = free_on_connect;
	pair_new(&p, NULL, NULL);
	actr__dtls_free(p.c.d);
	co.remote_fingerprint = actr__dtls_cert_fingerprint(p.sc);
	p.c.d = actr__dtls_new(p.r, p.cc, &co, &fcbs, &p.c);
	CHECK_OK(actr__dtls_start(p.s.d));
	CHECK_OK(actr__dtls_start(p.c.d));
	run_until(p.r, &p.c, &p.s, ACTR_DTLS_CONNECTED, 3000);
	CHECK_EQ(p.c.st, ACTR_DTLS_CONNECTED);
	CHECK(p.c.d == NULL);
	pair_free(&p);
}
