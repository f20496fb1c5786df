/*
 * The direct UDP path's error exits (ice/udp.c), driven through actr__sys
 * (test/fault.h): sendmmsg refusing a GSO run (fallback to plain
 * datagrams), refusing a datagram (counted drop), recvmmsg failing
 * (counted, retried at the next event).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <actr/actr.h>

#include "core/internal.h"
#include "fault.h"
#include "ice/udp.h"
#include "test.h"

struct rx {
	int n;		/* datagrams delivered */
	size_t last;	/* length of the last */
};

static void on_rx(void *arg, const uint8_t *p, size_t n,
		  const struct sockaddr *from, socklen_t fromlen,
		  bool from_peer)
{
	struct rx *rx = arg;

	rx->n++;
	rx->last = n;
}

static int udp_bound(struct sockaddr_in *a)
{
	socklen_t l = sizeof(*a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)a, sizeof(*a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)a, &l) < 0)
		return -1;
	return fd;
}

/* Datagrams waiting on fd (drained). */
static int count_datagrams(int fd)
{
	char b[2048];
	int n = 0;

	for (int i = 0; i < 1000; i++) {
		if (recv(fd, b, sizeof(b), MSG_DONTWAIT) < 0)
			break;
		n++;
	}
	return n;
}

TEST(fault_udp_sendmmsg_gso_fallback_and_drop)
{
	actr_reactor_t *r = actr_reactor_new();
	struct sockaddr_in la, pa;
	struct actr__udpp_stats st;
	struct rx rx = { 0 };
	actr__udpp_t *p;
	uint8_t d[100];
	int lfd, pfd;

	CHECK(r);
	lfd = udp_bound(&la);
	pfd = udp_bound(&pa);
	CHECK(lfd >= 0 && pfd >= 0);
	p = actr__udpp_new(r, on_rx, &rx);
	CHECK(p);
	CHECK_OK(actr__udpp_set(p, lfd, (struct sockaddr *)&pa, sizeof(pa)));
	memset(d, 23, sizeof(d));
	/* A run of equal datagrams goes as one GSO message; refused with
	 * EIO (no GSO on this route), it is sent again as datagrams. */
	for (int i = 0; i < 4; i++)
		CHECK_OK(actr__udpp_send(p, d, sizeof(d)));
	fault_arm(FAULT_SENDMMSG, 1, EIO, false, lfd);
	actr__udpp_flush_all();
	CHECK_EQ(fault_hits(FAULT_SENDMMSG), 1);
	actr__udpp_get_stats(p, &st);
	CHECK_EQ(st.tx_datagrams, 4);
	CHECK_EQ(st.tx_errors, 0);
	CHECK_EQ(st.tx_gso_runs, 0);
	CHECK_EQ(count_datagrams(pfd), 4);
	/* A plain datagram refused (full buffer): dropped and counted, the
	 * next one goes. */
	CHECK_OK(actr__udpp_send(p, d, sizeof(d)));
	fault_arm(FAULT_SENDMMSG, 1, ENOBUFS, false, lfd);
	actr__udpp_flush_all();
	fault_reset();
	CHECK_OK(actr__udpp_send(p, d, 50));
	actr__udpp_flush_all();
	actr__udpp_get_stats(p, &st);
	CHECK_EQ(st.tx_errors, 1);
	CHECK_EQ(st.tx_datagrams, 5);
	CHECK_EQ(count_datagrams(pfd), 1);
	/* Every call failing: everything counted, nothing loops. */
	for (int i = 0; i < 8; i++)
		CHECK_OK(actr__udpp_send(p, d, sizeof(d) - (size_t)i));
	fault_arm(FAULT_SENDMMSG, 1, EPERM, true, lfd);
	actr__udpp_flush_all();
	fault_reset();
	actr__udpp_get_stats(p, &st);
	CHECK_EQ(st.tx_errors, 9);
	actr__udpp_free(p);
	close(lfd);
	close(pfd);
	actr_reactor_free(r);
}

TEST(fault_udp_recvmmsg_failure_counted_and_retried)
{
	actr_reactor_t *r = actr_reactor_new();
	struct sockaddr_in la, pa;
	struct actr__udpp_stats st;
	struct rx rx = { 0 };
	actr__udpp_t *p;
	uint8_t d[60];
	int lfd, pfd, i;

	CHECK(r);
	lfd = udp_bound(&la);
	pfd = udp_bound(&pa);
	CHECK(lfd >= 0 && pfd >= 0);
	p = actr__udpp_new(r, on_rx, &rx);
	CHECK(p);
	CHECK_OK(actr__udpp_set(p, lfd, (struct sockaddr *)&pa, sizeof(pa)));
	for (i = 0; i < 1000; i++) {
		actr__udpp_get_stats(p, &st);
		if (st.rx_active)
			break;
		CHECK(actr_reactor_run_once(r, 10) >= 0);
	}
	if (!st.rx_active) {
		/* no SO_REUSEPORT steering here: nothing to test */
		actr__udpp_free(p);
		close(lfd);
		close(pfd);
		actr_reactor_free(r);
		actr_test_skip("direct receive unavailable");
	}
	memset(d, 23, sizeof(d)); /* DTLS-looking: steered to the path */
	fault_arm(FAULT_RECVMMSG, 1, ENOMEM, false, -1);
	CHECK_EQ(sendto(pfd, d, sizeof(d), 0, (struct sockaddr *)&la,
			sizeof(la)),
		 (ssize_t)sizeof(d));
	for (i = 0; i < 100 && !rx.n; i++)
		CHECK(actr_reactor_run_once(r, 100) >= 0);
	CHECK_EQ(fault_hits(FAULT_RECVMMSG), 1);
	fault_reset();
	CHECK_EQ(rx.n, 1);
	CHECK_EQ(rx.last, sizeof(d));
	actr__udpp_get_stats(p, &st);
	CHECK_EQ(st.rx_errors, 1);
	CHECK_EQ(st.rx_datagrams, 1);
	actr__udpp_free(p);
	close(lfd);
	close(pfd);
	actr_reactor_free(r);
}
