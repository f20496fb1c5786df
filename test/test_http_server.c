/* Tests of wire/http_server.c and wire/http_client.c over loopback:
 * routes, keep-alive, every rejection path (400, 413, 431, 501, 505, 408
 * slowloris, 503 max_conns, 401 upgrade), idle deadline, the HTTP client
 * (plain, chunked, timeout, refused) and HTTPS with a self-signed cert. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/net.h>

#include "core/internal.h"
#include "net/conn.h"
#include "net_test_util.h"
#include "test.h"

struct raw_ctx {
	unsigned port;		/* server port */
	const char *send;	/* request bytes */
	size_t send_len;	/* their length (0: strlen) */
	char resp[65536];	/* everything read until EOF */
	ssize_t resp_len;	/* its length */
};

/* Send ctx->send, read until the server closes. */
static void raw_exchange(void *arg)
{
	struct raw_ctx *c = arg;
	int fd = nt_connect(c->port);

	nt_send(fd, c->send, c->send_len ? c->send_len : strlen(c->send));
	c->resp_len = nt_read_all(fd, c->resp, sizeof(c->resp));
	close(fd);
}

static struct raw_ctx *exchange(actr_reactor_t *r, unsigned port,
				const char *req, size_t len)
{
	static struct raw_ctx c;

	memset(&c, 0, sizeof(c));
	c.port = port;
	c.send = req;
	c.send_len = len;
	nt_run_with_thread(r, raw_exchange, &c, 8);
	return &c;
}

static bool starts(const struct raw_ctx *c, const char *prefix)
{
	return strncmp(c->resp, prefix, strlen(prefix)) == 0;
}

struct expect_ctx {
	unsigned port;
	char resp[1024];
};

/* Send the head, wait for 100 Continue, then the body (like curl). */
static void expect_thread(void *arg)
{
	struct expect_ctx *x = arg;
	const char *head = "POST /echo HTTP/1.1\r\nHost: x\r\n"
			   "Content-Length: 10\r\nExpect: 100-continue\r\n"
			   "Connection: close\r\n\r\n";
	int fd = nt_connect(x->port);
	char cont[25];

	nt_send(fd, head, strlen(head));
	nt_read_exact(fd, cont, sizeof(cont));
	memcpy(x->resp, cont, sizeof(cont));
	nt_send(fd, "0123456789", 10);
	nt_read_all(fd, x->resp + sizeof(cont), sizeof(x->resp) - sizeof(cont));
	close(fd);
}

TEST(http_server_routes_keepalive_pipelined)
{
	actr_reactor_t *r = actr_reactor_new();
	struct nt_echo e;
	struct actr_http_server_stats st;
	struct raw_ctx *c;
	unsigned port;
	char *second;

	nt_echo_start(r, &e, NULL, NULL, NULL);
	port = actr_http_server_port(e.srv);
	CHECK(port > 0);
	/* Two pipelined requests on one connection, the last one closes. */
	c = exchange(r, port,
		     "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
		     "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
		     "Connection: close\r\n\r\nabcde",
		     0);
	CHECK(starts(c, "HTTP/1.1 200 OK\r\n"));
	CHECK(strstr(c->resp, "Content-Length: 5\r\n"));
	second = strstr(c->resp + 1, "HTTP/1.1 200 OK\r\n");
	CHECK(second);
	CHECK(strstr(c->resp, "\r\n\r\nhello"));
	CHECK(strstr(second, "X-Echo: yes\r\n"));
	CHECK(strstr(second, "Connection: close\r\n"));
	CHECK(strstr(second, "\r\n\r\nabcde"));
	/* Chunked request body and a 404. */
	c = exchange(r, port,
		     "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
		     "chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
		     "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		     0);
	CHECK(starts(c, "HTTP/1.1 200 OK\r\n"));
	CHECK(strstr(c->resp, "\r\n\r\nabcde"));
	CHECK(strstr(c->resp, "HTTP/1.1 404 Not Found\r\n"));
	/* HEAD: same head, no body. Expect: 100-continue before the body. */
	c = exchange(r, port,
		     "HEAD /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		     0);
	CHECK(starts(c, "HTTP/1.1 200 OK\r\n"));
	CHECK(strstr(c->resp, "Content-Length: 5\r\n"));
	CHECK(!strstr(c->resp, "hello"));
	{
		struct expect_ctx x = { port, "" };

		nt_run_with_thread(r, expect_thread, &x, 8);
		CHECK(strncmp(x.resp, "HTTP/1.1 100 Continue\r\n\r\n"
				      "HTTP/1.1 200 OK\r\n", 42) == 0);
		CHECK(strstr(x.resp, "\r\n\r\n0123456789"));
	}
	actr_http_server_stats(e.srv, &st);
	CHECK_EQ(st.requests, 6);
	CHECK_EQ(st.conns_accepted, 4);
	CHECK_EQ(st.bad_requests, 0);
	actr_http_server_free(e.srv);
	nt_drain(r);
	actr_reactor_free(r);
}

struct flood_ctx {
	unsigned port;
	int sent;		/* requests sent before the server gave up */
	bool closed;		/* the server closed the connection */
};

/* Pipeline big POSTs and never read the answers. */
static void flood_thread(void *arg)
{
	static char req[32768 + 128];
	struct flood_ctx *f = arg;
	int fd = nt_connect(f->port);
	int n = snprintf(req, sizeof(req),
			 "POST /echo HTTP/1.1\r\nHost: x\r\n"
			 "Content-Length: 32768\r\n\r\n");
	char buf[4096];

	memset(req + n, 'z', 32768);
	for (f->sent = 0; f->sent < 600; f->sent++)
		if (nt_send(fd, req, (size_t)n + 32768) < 0)
			break;
	/* Read what was answered until the server's close. */
	for (int i = 0; i < 100000; i++) {
		ssize_t k = recv(fd, buf, sizeof(buf), 0);

		if (k <= 0) {
			f->closed = k == 0 || errno == ECONNRESET;
			break;
		}
	}
	close(fd);
}

TEST(http_server_pipelining_without_reading_is_capped)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr_net_limits lim = { 0 };
	struct nt_echo e;
	struct actr_http_server_stats st;
	struct flood_ctx f = { 0 };

	lim.max_pending = 64 * 1024;
	lim.close_timeout_ms = 200;
	nt_echo_start(r, &e, &lim, NULL, NULL);
	f.port = actr_http_server_port(e.srv);
	nt_run_with_thread(r, flood_thread, &f, 20);
	CHECK(f.closed);
	CHECK(f.sent < 600);
	actr_http_server_stats(e.srv, &st);
	CHECK_EQ(st.overflows, 1);
	CHECK_EQ(st.conns_open, 0);
	CHECK(st.requests > 2);
	actr_http_server_free(e.srv);
	nt_drain(r);
	actr_reactor_free(r);
}

TEST(http_server_rejects_bad_requests)
{
	static const struct {
		const char *req;
		const char *status;
	} cases[] = {
		{ "GARBAGE\r\n\r\n", "HTTP/1.1 400 " },
		{ "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 " },
		{ "GET / HTTP/3.0\r\nHost: x\r\n\r\n", "HTTP/1.1 505 " },
		{ "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: br\r\n"
		  "\r\n", "HTTP/1.1 501 " },
		{ "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n",
		  "HTTP/1.1 400 " },
		{ "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
		  "\r\n\r\nZZ\r\n", "HTTP/1.1 400 " },
	};
	actr_reactor_t *r = actr_reactor_new();
	struct nt_echo e;
	struct actr_http_server_stats st;
	unsigned port;

	nt_echo_start(r, &e, NULL, NULL, NULL);
	port = actr_http_server_port(e.srv);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct raw_ctx *c = exchange(r, port, cases[i].req, 0);

		if (!starts(c, cases[i].status))
			actr_test_fail(__FILE__, __LINE__, "case %zu: %.40s",
				       i, c->resp);
		CHECK(strstr(c->resp, "Connection: close\r\n"));
	}
	actr_http_server_stats(e.srv, &st);
	CHECK_EQ(st.bad_requests, 6);
	CHECK_EQ(st.requests, 0);
	CHECK_EQ(st.conns_open, 0);
	actr_http_server_free(e.srv);
	nt_drain(r);
	actr_reactor_free(r);
}

TEST(http_server_431_and_413)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr_net_limits lim = { 0 };
	struct nt_echo e;
	struct actr_http_server_stats st;
	struct raw_ctx *c;
	static char big[40000];
	unsigned port;
	size_t n;

	lim.max_header_bytes = 4096;
	lim.max_headers = 16;
	lim.max_body = 10000;
	nt_echo_start(r, &e, &lim, NULL, NULL);
	port = actr_http_server_port(e.srv);
	/* One huge header. */
	n = (size_t)snprintf(big, sizeof(big),
			     "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(big + n, 'a', 6000);
	n += 6000;
	n += (size_t)snprintf(big + n, sizeof(big) - n, "\r\n\r\n");
	c = exchange(r, port, big, n);
	CHECK(starts(c, "HTTP/1.1 431 "));
	/* Too many header fields (each small). */
	n = (size_t)snprintf(big, sizeof(big), "GET /hello HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "X-%d: v\r\n", i);
	n += (size_t)snprintf(big + n, sizeof(big) - n, "\r\n");
	c = exchange(r, port, big, n);
	CHECK(starts(c, "HTTP/1.1 431 "));
	/* Body over max_body, announced: refused before reading it. */
	n = (size_t)snprintf(big, sizeof(big),
			     "POST /echo HTTP/1.1\r\nHost: x\r\n"
			     "Content-Length: 30000\r\n\r\n");
	memset(big + n, 'b', 30000);
	c = exchange(r, port, big, n + 30000);
	CHECK(starts(c, "HTTP/1.1 413 "));
	/* Chunked body growing over max_body. */
	n = (size_t)snprintf(big, sizeof(big),
			     "POST /echo HTTP/1.1\r\nHost: x\r\n"
			     "Transfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 20; i++) {
		n += (size_t)snprintf(big + n, sizeof(big) - n, "3e8\r\n");
		memset(big + n, 'c', 1000);
		n += 1000;
		n += (size_t)snprintf(big + n, sizeof(big) - n, "\r\n");
	}
	c = exchange(r, port, big, n);
	CHECK(starts(c, "HTTP/1.1 413 "));
	/* Exactly at the limit is accepted. */
	n = (size_t)snprintf(big, sizeof(big),
			     "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close"
			     "\r\nContent-Length: 10000\r\n\r\n");
	memset(big + n, 'd', 10000);
	c = exchange(r, port, big, n + 10000);
	CHECK(starts(c, "HTTP/1.1 200 "));
	CHECK(strstr(c->resp, "Content-Length: 10000\r\n"));
	actr_http_server_stats(e.srv, &st);
	CHECK_EQ(st.headers_too_large, 2);
	CHECK_EQ(st.body_too_large, 2);
	CHECK_EQ(st.requests, 1);
	actr_http_server_free(e.srv);
	nt_drain(r);
	actr_reactor_free(r);
}

struct trickle {
	unsigned port;
	int bytes_sent;		/* before the server closed */
	bool closed;		/* server closed the connection */
	char resp[256];		/* what it said */
	uint64_t elapsed_ms;	/* from connect to close */
};

/* Slowloris: one header byte every 50 ms, never finishing. */
static void trickle_thread(void *arg)
{
	struct trickle *t = arg;
	const char *req = "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaa"
			  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	uint64_t t0 = actr_time_ns();
	int fd = nt_connect(t->port);
	struct timeval tv = { 0, 50000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (size_t i = 0; i < strlen(req); i++) {
		ssize_t n = recv(fd, t->resp, sizeof(t->resp) - 1, 0);

		if (n >= 0) {
			t->resp[n > 0 ? n : 0] = '\0';
			t->closed = true;
			break;
		}
		if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1) {
			t->closed = true;
			break;
		}
		t->bytes_sent++;
	}
	t->elapsed_ms = (actr_time_ns() - t0) / 1000000;
	close(fd);
}

TEST(http_server_slowloris_header_deadline)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr_net_limits lim = { 0 };
	struct nt_echo e;
	struct actr_http_server_stats st;
	struct trickle t = { 0 };

	lim.header_timeout_ms = 300;
	nt_echo_start(r, &e, &lim, NULL, NULL);
	t.port = actr_http_server_port(e.srv);
	nt_run_with_thread(r, trickle_thread, &t, 8);
	CHECK(t.closed);
	CHECK(strncmp(t.resp, "HTTP/1.1 408 ", 13) == 0);
	/* Closed near the deadline, long before the request could finish. */
	CHECK(t.bytes_sent < 40);
	CHECK(t.elapsed_ms >= 250);
	actr_http_server_stats(e.srv, &st);
	CHECK_EQ(st.header_timeouts, 1);
	CHECK_EQ(st.requests, 0);
	actr_http_server_free(e.srv);
	nt_drain(r);
	actr_reactor_free(r);
}

struct idle_ctx {
	unsigned port;
	char resp[1024];
	bool closed_by_server;
};

static void idle_thread(void *arg)
{
	struct idle_ctx *c = arg;
	int fd = nt_connect(c->port);
	char x;

	nt_send(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32);
	CHECK(nt_read_response(fd, c->resp, sizeof(c->resp)) > 0);
	/* Keep-alive: the server closes the idle connection (recv = 0). */
	c->closed_by_server = recv(fd, &x, 1, 0) == 0;
	close(fd);
}

TEST(http_server_idle_keepalive_deadline)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr_net_limits lim = { 0 };
	struct nt_echo e;
	struct actr_http_server_stats st;
	struct idle_ctx c = { 0 };

	lim.idle_timeout_ms = 200;
	nt_echo_start(r, &e, &lim, NULL, NULL);
	c.port = actr_http_server_port(e.srv);
	nt_run_with_thread(r, idle_thread, &c, 8);
	CHECK(strncmp(c.resp, "HTTP/1.1 200 ", 13) == 0);
	CHECK(c.closed_by_server);
	actr_http_server_stats(e.srv, &st);
	CHECK_EQ(st.idle_timeouts, 1);
	CHECK_EQ(st.conns_open, 0);
	actr_http_server_free(e.srv);
	nt_drain(r);
	actr_reactor_free(r);
}

struct maxc_ctx {
	unsigned port;
	char third[256];
	char first[256];
};

static void maxc_thread(void *arg)
{
	struct maxc_ctx *c = arg;
	int a = nt_connect(c->port), b = nt_connect(c->port), d;

	/* Let the server accept both before the third arrives. */
	nt_send(a, "G", 1);
	nt_send(b, "G", 1);
	usleep(200000);
	d = nt_connect(c->port);
	nt_read_all(d, c->third, sizeof(c->third));
	close(d);
	{
		const char *rest = "ET /hello HTTP/1.1\r\nHost: x\r\n"
				   "Connection: close\r\n\r\n";

		nt_send(a, rest, strlen(rest));
	}
	nt_read_all(a, c->first, sizeof(c->first));
	close(a);
	close(b);
}

TEST(http_server_max_conns_503)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr_net_limits lim = { 0 };
	struct nt_echo e;
	struct actr_http_server_stats st;
	struct maxc_ctx c = { 0 };

	lim.max_conns = 2;
	nt_echo_start(r, &e, &lim, NULL, NULL);
	c.port = actr_http_server_port(e.srv);
	nt_run_with_thread(r, maxc_thread, &c, 8);
	CHECK(strncmp(c.third, "HTTP/1.1 503 ", 13) == 0);
	CHECK(strncmp(c.first, "HTTP/1.1 200 ", 13) == 0);
	actr_http_server_stats(e.srv, &st);
	CHECK_EQ(st.conns_rejected, 1);
	CHECK_EQ(st.conns_accepted, 2);
	actr_http_server_free(e.srv);
	nt_drain(r);
	actr_reactor_free(r);
}

TEST(http_server_upgrade_checks)
{
	actr_reactor_t *r = actr_reactor_new();
	struct nt_echo e;
	struct actr_http_server_stats st;
	struct raw_ctx *c;
	unsigned port;

	nt_echo_start(r, &e, NULL, NULL, NULL);
	port = actr_http_server_port(e.srv);
	/* Credential in the query checked before the upgrade: 401. */
	c = exchange(r, port,
		     "GET /ws?token=bad HTTP/1.1\r\nHost: x\r\nUpgrade: websocket"
		     "\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
		     "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		     0);
	CHECK(starts(c, "HTTP/1.1 401 "));
	CHECK(strstr(c->resp, "Connection: close\r\n"));
	/* Wrong version: 426 naming the supported one. */
	c = exchange(r, port,
		     "GET /ws?token=good HTTP/1.1\r\nHost: x\r\nUpgrade: websocket"
		     "\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
		     "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
		     0);
	CHECK(starts(c, "HTTP/1.1 426 "));
	CHECK(strstr(c->resp, "Sec-WebSocket-Version: 13\r\n"));
	/* Bad key: 400. */
	c = exchange(r, port,
		     "GET /ws?token=good HTTP/1.1\r\nHost: x\r\nUpgrade: websocket"
		     "\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\n"
		     "Sec-WebSocket-Version: 13\r\n\r\n",
		     0);
	CHECK(starts(c, "HTTP/1.1 400 "));
	/* Good: 101 with the RFC's example accept key, then a close. */
	c = exchange(r, port,
		     "GET /ws?token=good HTTP/1.1\r\nHost: x\r\nUpgrade: websocket"
		     "\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
		     "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
		     "\x88\x82\x01\x02\x03\x04\x02\xea", /* close 1000 masked */
		     0);
	CHECK(starts(c, "HTTP/1.1 101 Switching Protocols\r\n"));
	CHECK(strstr(c->resp,
		     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
	/* The server echoed the close frame: 0x88 0x02 0x03 0xe8. */
	CHECK(memmem(c->resp, (size_t)c->resp_len, "\x88\x02\x03\xe8", 4));
	CHECK_EQ(e.last_close_code, 1000);
	actr_http_server_stats(e.srv, &st);
	CHECK_EQ(st.upgrades, 1);
	CHECK_EQ(st.upgrades_rejected, 3); /* 401, 426, 400 */
	CHECK_EQ(st.conns_open, 0);
	actr_http_server_free(e.srv);
	nt_drain(r);
	actr_reactor_free(r);
}

/* ---- HTTP client -------------------------------------------------------------- */

struct resp {
	bool done;
	int rc;
	int status;
	char body[70000];
	size_t len;
	char echo_hdr[16];
};

static void on_resp(actr_http_call_t *call, int rc, int status,
		    const uint8_t *body, size_t len, void *arg)
{
	struct resp *p = arg;
	const char *h = actr_http_call_header(call, "x-echo");

	p->done = true;
	p->rc = rc;
	p->status = status;
	p->len = ACTR_MIN(len, sizeof(p->body));
	if (len)
		memcpy(p->body, body, p->len);
	snprintf(p->echo_hdr, sizeof(p->echo_hdr), "%s", h ? h : "");
}


static struct resp *do_request(actr_reactor_t *r, const char *method,
			       const char *url, const void *body, size_t len,
			       const char *ca)
{
	static struct resp p;
	struct actr_http_request rq = { 0 };

	memset(&p, 0, sizeof(p));
	rq.method = method;
	rq.url = url;
	rq.body = body;
	rq.body_len = len;
	rq.content_type = "application/x-protobuf";
	rq.timeout_ms = (uint32_t)actr_test_scale(3000);
	rq.tls_ca_file = ca;
	CHECK(actr_http_request(r, &rq, on_resp, &p));
	CHECK(nt_run_until(r, &p.done, 5000));
	return &p;
}

TEST(http_client_get_post)
{
	actr_reactor_t *r = actr_reactor_new();
	struct nt_echo e;
	struct resp *p;
	char url[128];
	static uint8_t big[60000];

	nt_echo_start(r, &e, NULL, NULL, NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/hello",
		 actr_http_server_port(e.srv));
	p = do_request(r, "GET", url, NULL, 0, NULL);
	CHECK_EQ(p->rc, 0);
	CHECK_EQ(p->status, 200);
	CHECK_EQ(p->len, 5);
	CHECK_MEM(p->body, "hello", 5);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 13);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/echo",
		 actr_http_server_port(e.srv));
	p = do_request(r, "POST", url, big, sizeof(big), NULL);
	CHECK_EQ(p->rc, 0);
	CHECK_EQ(p->status, 200);
	CHECK_EQ(p->len, sizeof(big));
	CHECK_MEM(p->body, big, sizeof(big));
	CHECK_STR(p->echo_hdr, "yes");
	snprintf(url, sizeof(url), "http://localhost:%u/missing",
		 actr_http_server_port(e.srv));
	p = do_request(r, "GET", url, NULL, 0, NULL);
	CHECK_EQ(p->rc, 0);
	CHECK_EQ(p->status, 404);
	/* Not a URL we accept. */
	{
		struct actr_http_request rq = { 0 };

		rq.url = "gopher://127.0.0.1/";
		CHECK(actr_http_request(r, &rq, on_resp, NULL) == NULL);
	}
	/* A name no DNS server answers for: resolved without blocking,
	 * then the call fails with the reason (the server here refuses:
	 * nothing listens on its port). */
	actr__resolve_set_servers("127.0.0.1:1");
	p = do_request(r, "GET", "http://example.invalid/", NULL, 0, NULL);
	actr__resolve_set_servers(NULL);
	CHECK(p->rc == -ACTR_EUNAVAILABLE || p->rc == -ACTR_ETIMEDOUT);
	actr_http_server_free(e.srv);
	nt_drain(r);
	actr_reactor_free(r);
}

static int listen_raw(unsigned *port)
{
	struct sockaddr_in a = { 0 };
	socklen_t sl = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_OK(bind(fd, (struct sockaddr *)&a, sizeof(a)));
	CHECK_OK(listen(fd, 4));
	CHECK_OK(getsockname(fd, (struct sockaddr *)&a, &sl));
	*port = ntohs(a.sin_port);
	return fd;
}

TEST(http_client_timeout_and_refused)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr_http_request rq = { 0 };
	struct resp *p = calloc(1, sizeof(*p));
	unsigned port;
	int lfd = listen_raw(&port);
	char url[128];
	uint64_t t0;

	/* A listener that never answers: the deadline fires. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", port);
	rq.url = url;
	rq.timeout_ms = 200;
	t0 = actr_reactor_now(r); /* deadlines count from it */
	CHECK(actr_http_request(r, &rq, on_resp, p));
	CHECK(nt_run_until(r, &p->done, 3000));
	CHECK_EQ(p->rc, -ACTR_ETIMEDOUT);
	CHECK(actr_time_ns() - t0 >= ACTR_MS(190));
	close(lfd);
	/* Nobody listening any more: refused. */
	memset(p, 0, sizeof(*p));
	CHECK(actr_http_request(r, &rq, on_resp, p));
	CHECK(nt_run_until(r, &p->done, 3000));
	CHECK_EQ(p->rc, -ECONNREFUSED);
	/* A cancelled call never calls back. */
	memset(p, 0, sizeof(*p));
	{
		actr_http_call_t *call = actr_http_request(r, &rq, on_resp, p);

		CHECK(call);
		actr_http_call_cancel(call);
		for (int i = 0; i < 10; i++)
			actr_reactor_run_once(r, 10);
		CHECK(!p->done);
	}
	free(p);
	nt_drain(r);
	actr_reactor_free(r);
}

struct canned {
	int lfd;
	const char *reply;
	char req[4096];
};

static void canned_thread(void *arg)
{
	struct canned *c = arg;
	int fd = accept(c->lfd, NULL, NULL);
	size_t n = 0;

	CHECK(fd >= 0);
	while (n + 1 < sizeof(c->req) && !strstr(c->req, "\r\n\r\n")) {
		ssize_t k = recv(fd, c->req + n, sizeof(c->req) - 1 - n, 0);

		if (k <= 0)
			break;
		n += (size_t)k;
		c->req[n] = '\0';
	}
	nt_send(fd, c->reply, strlen(c->reply));
	/* Half-close and drain so the client's body never causes a RST. */
	shutdown(fd, SHUT_WR);
	while (recv(fd, c->req + n, sizeof(c->req) - 1 - n, 0) > 0)
		n = ACTR_MIN(n, sizeof(c->req) - 2);
	c->req[n] = '\0';
	close(fd);
}

TEST(http_client_chunked_and_close_delimited)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr_http_request rq = { 0 };
	struct resp *p = calloc(1, sizeof(*p));
	struct canned c = { 0 };
	unsigned port;
	char url[128];
	pthread_t th;

	c.lfd = listen_raw(&port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/x?y=1", port);
	rq.url = url;
	rq.method = "POST";
	rq.body = "Q";
	rq.body_len = 1;
	rq.headers = "X-Actrix-Realm-Secret: s3\r\n";
	c.reply = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world"
		  "\r\n0\r\n\r\n";
	CHECK(actr_http_request(r, &rq, on_resp, p));
	nt_run_with_thread(r, canned_thread, &c, 5);
	CHECK(nt_run_until(r, &p->done, 3000));
	CHECK_EQ(p->rc, 0);
	CHECK_EQ(p->status, 200);
	CHECK_EQ(p->len, 11);
	CHECK_MEM(p->body, "hello world", 11);
	CHECK(strstr(c.req, "POST /x?y=1 HTTP/1.1\r\n"));
	CHECK(strstr(c.req, "X-Actrix-Realm-Secret: s3\r\n"));
	CHECK(strstr(c.req, "Content-Length: 1\r\n"));
	/* No length: the body ends when the server closes. */
	memset(p, 0, sizeof(*p));
	c.reply = "HTTP/1.0 200 OK\r\n\r\nuntil close";
	CHECK(actr_http_request(r, &rq, on_resp, p));
	nt_run_with_thread(r, canned_thread, &c, 5);
	CHECK(nt_run_until(r, &p->done, 3000));
	CHECK_EQ(p->rc, 0);
	CHECK_EQ(p->len, 11);
	CHECK_MEM(p->body, "until close", 11);
	/* Malformed status line. */
	memset(p, 0, sizeof(*p));
	c.reply = "HTTP/1.1 abc\r\n\r\n";
	CHECK(actr_http_request(r, &rq, on_resp, p));
	nt_run_with_thread(r, canned_thread, &c, 5);
	CHECK(nt_run_until(r, &p->done, 3000));
	CHECK_EQ(p->rc, -ACTR_EPROTO);
	(void)th;
	close(c.lfd);
	free(p);
	nt_drain(r);
	actr_reactor_free(r);
}

TEST_TIMEOUT(http_server_https_self_signed, 20)
{
	actr_reactor_t *r = actr_reactor_new();
	char cert[512], key[512], url[128];
	struct nt_echo e;
	struct actr_http_server_stats st;
	struct resp *p;

	nt_make_cert(actr_test_tmpdir(), cert, key, sizeof(cert));
	nt_echo_start(r, &e, NULL, cert, key);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/echo",
		 actr_http_server_port(e.srv));
	p = do_request(r, "POST", url, "secret body", 11, cert);
	CHECK_EQ(p->rc, 0);
	CHECK_EQ(p->status, 200);
	CHECK_EQ(p->len, 11);
	CHECK_MEM(p->body, "secret body", 11);
	/* Without our CA the certificate does not verify. */
	p = do_request(r, "GET", url, NULL, 0, "/etc/ssl/certs/ca-certificates.crt");
	CHECK_EQ(p->rc, -ACTR_EAUTH);
	/* Plain HTTP to a TLS port: the handshake fails, no request. */
	{
		struct raw_ctx *c = exchange(r, actr_http_server_port(e.srv),
					     "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
					     0);

		CHECK(!strstr(c->resp, "hello"));
	}
	actr_http_server_stats(e.srv, &st);
	CHECK_EQ(st.requests, 1);
	CHECK(st.tls_failures >= 1);
	actr_http_server_free(e.srv);
	/* A client that connects to the TLS port and says nothing is cut off
	 * by the header deadline, which also bounds the TLS handshake. */
	{
		struct actr_net_limits lim = { 0 };
		struct raw_ctx *c;

		lim.header_timeout_ms = 300;
		nt_echo_start(r, &e, &lim, cert, key);
		c = exchange(r, actr_http_server_port(e.srv), "", 0);
		CHECK_EQ(c->resp_len, 0);
		actr_http_server_stats(e.srv, &st);
		CHECK_EQ(st.header_timeouts, 1);
		CHECK_EQ(st.conns_open, 0);
		actr_http_server_free(e.srv);
	}
	nt_drain(r);
	actr_reactor_free(r);
}

/* ---- re-entrancy: objects closed or freed from inside their callbacks -------- */

struct reent {
	actr_http_server_t *srv;	/* freed from a ws callback */
	bool ws_closed;			/* on_close ran */
	int code;			/* its code */
};

static void re_msg(actr_ws_t *ws, bool text, const uint8_t *d, size_t n,
		   void *arg)
{
	struct reent *x = arg;

	/* Free the whole server while this connection's frame is handled;
	 * more frames follow in the same read. */
	actr_http_server_free(x->srv);
	x->srv = NULL;
}

static void re_close(actr_ws_t *ws, int code, const char *reason, void *arg)
{
	struct reent *x = arg;

	x->ws_closed = true;
	x->code = code;
}

static void re_handler(actr_http_req_t *q, void *arg)
{
	static const struct actr_ws_callbacks cbs = {
		.on_message = re_msg,
		.on_close = re_close,
	};

	if (strcmp(actr_http_req_path(q), "/silent") == 0)
		return; /* never answers: the server says 500 */
	actr_http_accept_ws(q, &cbs, arg);
}

static void re_thread(void *arg)
{
	unsigned port = *(unsigned *)arg;
	static const char req[] =
		"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\nSec-WebSocket-Key: "
		"dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
		/* two masked binary frames in the same segment */
		"\x82\x81\x01\x02\x03\x04\x61\x82\x81\x01\x02\x03\x04\x62";
	char buf[1024];
	int fd = nt_connect(port);

	nt_send(fd, req, sizeof(req) - 1);
	nt_read_all(fd, buf, sizeof(buf));
	close(fd);
}

static void silent_thread(void *arg)
{
	struct raw_ctx *c = arg;
	int fd = nt_connect(c->port);

	nt_send(fd, "GET /silent HTTP/1.1\r\nHost: x\r\n\r\n", 34);
	c->resp_len = nt_read_all(fd, c->resp, sizeof(c->resp));
	close(fd);
}

TEST(http_server_reentrant_free_and_unanswered)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr_http_server_config cfg = { 0 };
	static struct raw_ctx c;
	struct reent x = { 0 };
	unsigned port;

	cfg.on_request = re_handler;
	cfg.arg = &x;
	x.srv = actr_http_server_new(r, &cfg);
	CHECK(x.srv);
	port = actr_http_server_port(x.srv);
	c.port = port;
	nt_run_with_thread(r, silent_thread, &c, 8);
	CHECK(strncmp(c.resp, "HTTP/1.1 500 ", 13) == 0);
	nt_run_with_thread(r, re_thread, &port, 8);
	CHECK(x.srv == NULL);
	CHECK(x.ws_closed);
	CHECK_EQ(x.code, 1001);
	nt_drain(r);
	actr_reactor_free(r);
}
