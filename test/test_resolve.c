/*
 * Host names resolved without blocking the reactor (net/resolve.c, c-ares)
 * against a DNS server this test runs itself on 127.0.0.1: a name, a name
 * that does not exist, a server that never answers, a lookup cancelled,
 * and a node whose signaling URL is a name registering through it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/peer.h>

#include "net/conn.h"
#include "runtime/peer_internal.h"
#include "server/signal_internal.h"
#include "test.h"
#include "test_remote_util.h"

/* ---- a small DNS server: A records for *.test names it knows ------------ */

struct dns {
	int fd;
	uint16_t port;
	actr_io_t io;
	int queries;		/* datagrams received */
	int answered;		/* A answers sent */
};

/* Write the QNAME at q (wire form) as text into out; the end of the name
 * or NULL when malformed. */
static const uint8_t *qname(const uint8_t *q, const uint8_t *end, char *out,
			    size_t cap)
{
	size_t n = 0;

	while (q < end && *q) {
		uint8_t l = *q++;

		if (l > 63 || q + l > end || n + l + 2 > cap)
			return NULL;
		if (n)
			out[n++] = '.';
		memcpy(out + n, q, l);
		n += l;
		q += l;
	}
	if (q >= end)
		return NULL;
	out[n] = '\0';
	return q + 1;
}

static void on_dns(actr_io_t *io, unsigned ev, void *arg)
{
	struct dns *d = arg;
	uint8_t buf[512], out[600];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	char name[256];
	const uint8_t *qend;
	ssize_t n;
	uint16_t qtype;
	size_t qlen, o;
	bool known, a;

	(void)io;
	(void)ev;
	n = recvfrom(d->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
	if (n < 12)
		return;
	d->queries++;
	qend = qname(buf + 12, buf + n, name, sizeof(name));
	if (!qend || qend + 4 > buf + n)
		return;
	qtype = (uint16_t)(qend[0] << 8 | qend[1]);
	if (!strcmp(name, "silent.test"))
		return;			/* never answers */
	known = !strcmp(name, "signal.test") || !strcmp(name, "other.test");
	a = known && qtype == 1;
	qlen = (size_t)(qend + 4 - (buf + 12));
	memcpy(out, buf, 2);				/* id */
	out[2] = 0x81 | (buf[2] & 0x01);		/* QR, RD */
	out[3] = known ? 0x80 : 0x83;			/* RA; NXDOMAIN */
	out[4] = 0; out[5] = 1;				/* one question */
	out[6] = 0; out[7] = a ? 1 : 0;			/* answers */
	memset(out + 8, 0, 4);
	memcpy(out + 12, buf + 12, qlen);
	o = 12 + qlen;
	if (a) {
		static const uint8_t rr[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0,
					      60, 0, 4, 127, 0, 0, 1 };

		memcpy(out + o, rr, sizeof(rr));
		o += sizeof(rr);
		d->answered++;
	}
	(void)sendto(d->fd, out, o, 0, (struct sockaddr *)&from, fl);
}

static void dns_start(struct dns *d, actr_reactor_t *r)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	char csv[64];

	memset(d, 0, sizeof(*d));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CHECK(d->fd >= 0);
	CHECK_OK(bind(d->fd, (struct sockaddr *)&sa, sizeof(sa)));
	CHECK_OK(getsockname(d->fd, (struct sockaddr *)&sa, &sl));
	d->port = ntohs(sa.sin_port);
	CHECK_OK(actr_io_init(r, &d->io, d->fd, on_dns, d));
	CHECK_OK(actr_io_set(&d->io, ACTR_READ));
	snprintf(csv, sizeof(csv), "127.0.0.1:%u", d->port);
	actr__resolve_set_servers(csv);
}

static void dns_stop(struct dns *d)
{
	actr__resolve_set_servers(NULL);
	actr_io_close(&d->io);
	close(d->fd);
}

struct got {
	int done, rc;
	char addr[64];
	uint16_t port;
};

static void on_lookup(int rc, const struct sockaddr *sa, socklen_t len,
		      void *arg)
{
	struct got *g = arg;

	(void)len;
	g->done++;
	g->rc = rc;
	if (rc == 0 && sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, g->addr, sizeof(g->addr));
		g->port = ntohs(s4->sin_port);
	}
}

static void run(actr_reactor_t *r, const int *flag, int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));

	while (*flag < 1 && actr_time_ns() < end)
		CHECK(actr_reactor_run_once(r, 10) >= 0);
}

TEST(resolve_names_against_own_dns_server)
{
	actr_reactor_t *r = actr_reactor_new();
	struct dns d;
	struct got ok = { 0 }, nx = { 0 }, slow = { 0 }, gone = { 0 };
	struct actr__lookup *l;

	CHECK(r);
	dns_start(&d, r);
	CHECK(actr__resolve_start(r, "signal.test", 8081, 2000, on_lookup,
				  &ok));
	CHECK(actr__resolve_start(r, "nowhere.test", 80, 2000, on_lookup,
				  &nx));
	CHECK(actr__resolve_start(r, "silent.test", 80, 300, on_lookup,
				  &slow));
	l = actr__resolve_start(r, "other.test", 80, 2000, on_lookup, &gone);
	CHECK(l);
	actr__resolve_cancel(l);
	run(r, &ok.done, 3000);
	run(r, &nx.done, 3000);
	run(r, &slow.done, 3000);
	CHECK_EQ(ok.done, 1);
	CHECK_EQ(ok.rc, 0);
	CHECK_STR(ok.addr, "127.0.0.1");
	CHECK_EQ(ok.port, 8081);
	CHECK_EQ(nx.done, 1);
	CHECK_EQ(nx.rc, -ACTR_ENOTFOUND);
	CHECK_EQ(slow.done, 1);
	CHECK_EQ(slow.rc, -ACTR_ETIMEDOUT);
	for (int i = 0; i < 20; i++)
		actr_reactor_run_once(r, 5);
	CHECK_EQ(gone.done, 0);		/* cancelled: never called */
	CHECK(d.answered >= 1);
	dns_stop(&d);
	actr_reactor_drain(r, 1000);
	actr_reactor_free(r);
}

/* A node whose signaling URL is a name registers through our DNS. */
TEST_TIMEOUT(resolve_signaling_url_by_name, 20)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct dns d;
	struct rnode a;
	char url[64], named[96];
	const char *port;

	CHECK(r);
	dns_start(&d, r);
	l = rt_signal(r, 0, url, sizeof(url));
	port = strrchr(url, ':');
	CHECK(port);
	snprintf(named, sizeof(named), "ws://signal.test%s", port);
	rt_node(&a, r, named, actr_workload_new("acme", "named", "1.0.0"),
		NULL);
	rt_wait_ready(r, &a, NULL, 8000);
	CHECK(d.answered >= 1);		/* the name went through our server */
	rt_node_free(&a);
	actr__sig_listener_free(l);
	dns_stop(&d);
	rt_drain(r);
	actr_reactor_free(r);
}

/* STUN and TURN servers given by name are resolved without blocking and
 * used once known; a bad ICE server URL or a second gate on one system is
 * refused with errno and a reason. */
TEST_TIMEOUT(resolve_ice_server_names_and_peer_new_errors, 20)
{
	actr_reactor_t *r = actr_reactor_new();
	struct dns d;
	actr_system_config_t sc = { .realm_id = 101 };
	actr_system_t *sys;
	actr_node_t *n;
	actr_peer_t *p, *p2;
	const char *servers[] = { "stun:signal.test:3478",
				  "turn:other.test:3479", NULL };
	const char *bad[] = { "stun:", NULL };
	actr_peer_config_t pc = { .signaling_url = "ws://127.0.0.1:1",
				  .ice_servers = servers };

	CHECK(r);
	dns_start(&d, r);
	sys = actr_system_new(r, &sc);
	n = actr_node_new(sys, actr_workload_new("acme", "ice", "1.0.0"), 0);
	CHECK(sys && n);
	CHECK_OK(actr_node_start(n, NULL));
	actr_log_set_level(ACTR_LOG_ERROR);

	errno = 0;
	pc.ice_servers = bad;
	CHECK(actr_peer_new(n, &pc) == NULL);
	CHECK_EQ(errno, EINVAL);
	pc.ice_servers = servers;
	pc.signaling_url = "ftp://127.0.0.1:1";
	errno = 0;
	CHECK(actr_peer_new(n, &pc) == NULL);
	CHECK_EQ(errno, EINVAL);
	pc.signaling_url = NULL;
	CHECK(actr_peer_new(n, &pc) == NULL);
	CHECK_EQ(errno, EINVAL);
	pc.signaling_url = "ws://127.0.0.1:1";

	p = actr_peer_new(n, &pc);
	CHECK(p);
	errno = 0;
	p2 = actr_peer_new(n, &pc);		/* one gate per system */
	CHECK(p2 == NULL);
	CHECK_EQ(errno, EBUSY);
	CHECK(p->pccfg.ice.stun_ip == NULL);	/* not known yet */
	for (int i = 0; i < 300 && (!p->pccfg.ice.stun_ip ||
				    !p->pccfg.ice.turn_ip); i++)
		actr_reactor_run_once(r, 10);
	CHECK(p->pccfg.ice.stun_ip != NULL);
	CHECK_STR(p->pccfg.ice.stun_ip, "127.0.0.1");
	CHECK_EQ(p->pccfg.ice.stun_port, 3478);
	CHECK_STR(p->pccfg.ice.turn_ip, "127.0.0.1");
	CHECK_EQ(p->pccfg.ice.turn_port, 3479);
	CHECK(d.answered >= 2);
	actr_peer_free(p);
	actr_system_free(sys);
	dns_stop(&d);
	actr_log_set_level(ACTR_LOG_INFO);
	rt_drain(r);
	actr_reactor_free(r);
}
