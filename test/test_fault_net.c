/*
 * net/'s error exits, driven through actr__sys (test/fault.h): accept
 * failing (EMFILE) on a listener, a connection's send failing mid-stream
 * (ECONNRESET on a batched flush, EPIPE on the direct sendmsg of a large
 * message), connect() failing at once.
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
#include "net/conn.h"
#include "net/net_internal.h"
#include "test.h"

static void no_handler(actr_http_req_t *req, void *arg)
{
}

static int connect_to(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

TEST(fault_net_accept_emfile_listener_backs_off)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr_http_server_config cfg = { 0 };
	struct actr_http_server_stats st;
	actr_http_server_t *s;
	int c1, c2, i;

	CHECK(r);
	cfg.on_request = no_handler;
	s = actr_http_server_new(r, &cfg);
	CHECK(s);
	c1 = connect_to(actr_http_server_port(s));
	CHECK(c1 >= 0);
	fault_arm(FAULT_ACCEPT4, 1, EMFILE, true, s->lfd);
	/* Out of descriptors: the listener is not polled in a busy loop
	 * (level-triggered, it stays readable) but paused. */
	for (i = 0; i < 10; i++)
		CHECK(actr_reactor_run_once(r, 0) >= 0);
	CHECK_EQ(fault_calls(FAULT_ACCEPT4), 1);
	CHECK_EQ(s->accept_errors, 1);
	fault_reset();
	/* ... and resumes: the waiting connection and a new one get in */
	c2 = connect_to(actr_http_server_port(s));
	CHECK(c2 >= 0);
	for (i = 0; i < 1000; i++) {
		actr_http_server_stats(s, &st);
		if (st.conns_accepted == 2)
			break;
		CHECK(actr_reactor_run_once(r, 100) >= 0);
	}
	CHECK_EQ(st.conns_accepted, 2);
	CHECK_EQ(s->accept_errors, 1);
	close(c1);
	close(c2);
	actr_http_server_free(s);
	actr_reactor_drain(r, 1000);
	actr_reactor_free(r);
}

struct sink {
	int closed;	/* on_close calls */
	int err;	/* its error */
};

static void sink_data(struct actr__conn *c, void *arg)
{
	actr__conn_consume(c, c->in_len);
}

static void sink_close(struct actr__conn *c, int err, void *arg)
{
	struct sink *s = arg;

	s->closed++;
	s->err = err;
}

static const struct actr__conn_ops sink_ops = {
	.on_data = sink_data,
	.on_close = sink_close,
};

static struct actr__conn *pair_conn(actr_reactor_t *r, struct sink *s,
				    int *peer)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv) < 0)
		return NULL;
	*peer = sv[1];
	return actr__conn_accept(r, sv[0], NULL, &sink_ops, s, 65536,
				 1 << 22);
}

TEST(fault_net_conn_send_reset_mid_stream)
{
	actr_reactor_t *r = actr_reactor_new();
	struct sink s = { 0 };
	struct actr__conn *c;
	char buf[64];
	int peer, i;

	CHECK(r);
	c = pair_conn(r, &s, &peer);
	CHECK(c);
	/* the first flush goes through, the second is reset */
	fault_arm(FAULT_SEND, 2, ECONNRESET, true, -1);
	CHECK_OK(actr__conn_write(c, "abc", 3));
	for (i = 0; i < 5; i++)
		actr_reactor_run_once(r, 0);
	CHECK_EQ(recv(peer, buf, sizeof(buf), MSG_DONTWAIT), 3);
	CHECK_OK(actr__conn_write(c, "def", 3)); /* queued: 0 */
	for (i = 0; i < 5 && !s.closed; i++)
		actr_reactor_run_once(r, 0);
	fault_reset();
	CHECK_EQ(s.closed, 1);	/* reported once, at the iteration's end */
	CHECK_EQ(s.err, -ECONNRESET);
	/* the connection is gone (freed after on_close): the peer sees
	 * the end of the stream and nothing of the refused bytes */
	CHECK_EQ(recv(peer, buf, sizeof(buf), MSG_DONTWAIT), 0);
	close(peer);
	actr_reactor_drain(r, 1000);
	actr_reactor_free(r);
}

TEST(fault_net_conn_direct_sendmsg_epipe)
{
	/* A large message with nothing queued goes out with sendmsg
	 * directly: its failure is the write's return value and the close
	 * is still reported once. */
	actr_reactor_t *r = actr_reactor_new();
	static uint8_t big[256 * 1024];
	struct sink s = { 0 };
	struct actr__conn *c;
	int peer;

	CHECK(r);
	c = pair_conn(r, &s, &peer);
	CHECK(c);
	fault_arm(FAULT_SENDMSG, 1, EPIPE, false, -1);
	CHECK_EQ(actr__conn_write(c, big, sizeof(big)), -EPIPE);
	CHECK_EQ(fault_hits(FAULT_SENDMSG), 1);
	fault_reset();
	for (int i = 0; i < 5 && !s.closed; i++)
		actr_reactor_run_once(r, 0);
	CHECK_EQ(s.closed, 1);
	CHECK_EQ(s.err, -EPIPE);
	close(peer);
	actr_reactor_drain(r, 1000);
	actr_reactor_free(r);
}
