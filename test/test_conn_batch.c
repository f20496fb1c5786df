/*
 * Output batching in wire/conn.c: writes during a reactor iteration are
 * sent together by one deferred flush at its end; 64 KiB or more queued
 * go out at once; bytes only batched do not count against the pending
 * cap; ACTR_WRITE is armed only after EAGAIN; an abrupt close still
 * tries to send what was queued. Driven over a socketpair, with the
 * syscall seam counting sends.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <actr/actr.h>

#include "core/internal.h"
#include "test.h"
#include "net/conn.h"

static int nsend;	/* actr__sys.send calls */

static ssize_t counting_send(int fd, const void *p, size_t n, int flags)
{
	nsend++;
	return send(fd, p, n, flags);
}

struct sink {
	bool closed;	/* on_close ran */
	int err;	/* its error */
};

static void sink_data(struct actr__conn *c, void *arg)
{
	actr__conn_consume(c, c->in_len);
}

static void sink_close(struct actr__conn *c, int err, void *arg)
{
	struct sink *s = arg;

	s->closed = true;
	s->err = err;
}

static const struct actr__conn_ops sink_ops = {
	.on_data = sink_data,
	.on_close = sink_close,
};

/* A connection on one end of a socketpair; *peer gets the other end
 * (blocking off, so reads never hang a test). */
static struct actr__conn *pair_conn(actr_reactor_t *r, struct sink *s,
				    size_t out_max, int sndbuf, int *peer)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv) < 0)
		return NULL;
	if (sndbuf)
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
			   sizeof(sndbuf));
	*peer = sv[1];
	return actr__conn_accept(r, sv[0], NULL, &sink_ops, s, 65536,
				 out_max);
}

/* Read everything available on fd into buf (up to cap). */
static size_t drain(int fd, uint8_t *buf, size_t cap)
{
	size_t got = 0;

	for (int i = 0; i < 100000 && got < cap; i++) {
		ssize_t n = recv(fd, buf + got, cap - got, MSG_DONTWAIT);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

TEST(net_conn_batch_one_send_per_iteration)
{
	actr_reactor_t *r = actr_reactor_new();
	struct sink s = { 0 };
	uint8_t got[4096], want[4096];
	struct actr__conn *c;
	int peer;

	c = pair_conn(r, &s, 1 << 20, 0, &peer);
	CHECK(c);
	actr__sys.send = counting_send;
	nsend = 0;
	for (int i = 0; i < 32; i++) {
		uint8_t m[100];

		memset(m, 'a' + i % 26, sizeof(m));
		memcpy(want + i * 100, m, sizeof(m));
		CHECK_OK(actr__conn_write(c, m, sizeof(m)));
	}
	/* Nothing written yet: the bytes wait for the end of the iteration,
	 * and no writability watch was armed for them. */
	CHECK_EQ(nsend, 0);
	CHECK_EQ(actr__conn_pending(c), 3200);
	CHECK(!(c->io.want & ACTR_WRITE));
	CHECK_EQ(drain(peer, got, sizeof(got)), 0);
	actr_reactor_run_once(r, 0);
	CHECK_EQ(nsend, 1);
	CHECK_EQ(actr__conn_pending(c), 0);
	CHECK_EQ(drain(peer, got, sizeof(got)), 3200);
	CHECK_MEM(got, want, 3200);
	/* A quiet iteration sends nothing. */
	actr_reactor_run_once(r, 0);
	CHECK_EQ(nsend, 1);
	actr__sys_reset();
	actr__conn_close(c, false, 0);
	actr_reactor_run_once(r, 0);
	CHECK(!s.closed); /* the owner closed: no notice */
	close(peer);
	actr_reactor_free(r);
}

TEST(net_conn_batch_eager_flush_past_64k)
{
	actr_reactor_t *r = actr_reactor_new();
	static uint8_t got[200000];
	struct sink s = { 0 };
	struct actr__conn *c;
	uint8_t m[1000];
	size_t total = 0;
	int peer, i;

	c = pair_conn(r, &s, 1 << 20, 0, &peer);
	CHECK(c);
	actr__sys.send = counting_send;
	nsend = 0;
	for (i = 0; i < 80 && nsend == 0; i++) {
		memset(m, i, sizeof(m));
		CHECK_OK(actr__conn_write(c, m, sizeof(m)));
	}
	/* The send came within the iteration, once 64 KiB were queued. */
	CHECK_EQ(nsend, 1);
	CHECK_EQ(i, 66);
	for (int k = 0; k < 50; k++)
		total += drain(peer, got + total, sizeof(got) - total);
	CHECK_EQ(total, 66000);
	for (int k = 0; k < 66; k++)
		CHECK_EQ(got[k * 1000 + 999], (uint8_t)k);
	actr__sys_reset();
	actr__conn_close(c, false, 0);
	actr_reactor_run_once(r, 0);
	close(peer);
	actr_reactor_free(r);
}

TEST(net_conn_batch_cap_counts_only_refused_bytes)
{
	actr_reactor_t *r = actr_reactor_new();
	static uint8_t got[1 << 20];
	struct sink s = { 0 };
	struct actr__conn *c;
	uint8_t m[1024];
	size_t total = 0, sent = 0;
	int peer, rc = 0, n = 0;

	/* A reading peer is never refused, however much one iteration
	 * sends: 40 KiB through an 8 KiB cap. */
	c = pair_conn(r, &s, 8192, 0, &peer);
	CHECK(c);
	for (int i = 0; i < 40; i++) {
		memset(m, i, sizeof(m));
		CHECK_OK(actr__conn_write(c, m, sizeof(m)));
	}
	CHECK(actr__conn_pending(c) <= 8192);
	actr_reactor_run_once(r, 0);
	total = drain(peer, got, sizeof(got));
	CHECK_EQ(total, 40 * 1024);
	for (int i = 0; i < 40; i++)
		CHECK_EQ(got[i * 1024 + 7], (uint8_t)i);
	actr__conn_close(c, false, 0);
	actr_reactor_run_once(r, 0);
	close(peer);

	/* A peer that does not read: the kernel fills, then the cap
	 * refuses, and only then ACTR_WRITE is armed. */
	c = pair_conn(r, &s, 8192, 4096, &peer);
	CHECK(c);
	for (n = 0; n < 10000; n++) {
		memset(m, n, sizeof(m));
		rc = actr__conn_write(c, m, sizeof(m));
		if (rc)
			break;
		actr_reactor_run_once(r, 0);
	}
	CHECK_EQ(rc, -ENOBUFS);
	CHECK(actr__conn_pending(c) > 0);
	CHECK(actr__conn_pending(c) <= 8192);
	CHECK(c->wblocked);
	CHECK(c->io.want & ACTR_WRITE);
	sent = (size_t)n * sizeof(m);
	/* The peer reads: everything accepted arrives, in order. */
	total = 0;
	for (int k = 0; k < 2000 && total < sent; k++) {
		total += drain(peer, got + total, sizeof(got) - total);
		actr_reactor_run_once(r, 1);
	}
	CHECK_EQ(total, sent);
	for (int i = 0; i < n; i++)
		CHECK_EQ(got[(size_t)i * 1024 + 5], (uint8_t)i);
	CHECK_EQ(actr__conn_pending(c), 0);
	CHECK(!c->wblocked);
	CHECK(!(c->io.want & ACTR_WRITE));
	CHECK(!s.closed);
	actr__conn_close(c, false, 0);
	actr_reactor_run_once(r, 0);
	close(peer);
	actr_reactor_free(r);
}

TEST(net_conn_batch_abrupt_close_sends_queued_bytes)
{
	actr_reactor_t *r = actr_reactor_new();
	struct sink s = { 0 };
	struct actr__conn *c;
	char got[64];
	ssize_t n;
	int peer;

	c = pair_conn(r, &s, 1 << 20, 0, &peer);
	CHECK(c);
	CHECK_OK(actr__conn_write(c, "goodbye", 7));
	actr__conn_close(c, false, 0);
	CHECK_EQ(actr__conn_write(c, "late", 4), -ACTR_ECLOSED);
	n = recv(peer, got, sizeof(got), MSG_DONTWAIT);
	CHECK_EQ(n, 7);
	CHECK_MEM(got, "goodbye", 7);
	CHECK_EQ(recv(peer, got, sizeof(got), MSG_DONTWAIT), 0); /* EOF */
	actr_reactor_run_once(r, 0);
	CHECK(!s.closed);
	close(peer);
	actr_reactor_free(r);
}

static ssize_t failing_send(int fd, const void *p, size_t n, int flags)
{
	errno = EPIPE;
	return -1;
}

TEST(net_conn_batch_flush_error_reported_once)
{
	actr_reactor_t *r = actr_reactor_new();
	struct sink s = { 0 };
	struct actr__conn *c;
	int peer;

	c = pair_conn(r, &s, 1 << 20, 0, &peer);
	CHECK(c);
	actr__sys.send = failing_send;
	CHECK_OK(actr__conn_write(c, "x", 1));
	CHECK_OK(actr__conn_write(c, "y", 1));
	CHECK(!s.closed);
	for (int i = 0; i < 5 && !s.closed; i++)
		actr_reactor_run_once(r, 0);
	actr__sys_reset();
	CHECK(s.closed);
	CHECK_EQ(s.err, -EPIPE);
	close(peer);
	actr_reactor_free(r);
}
