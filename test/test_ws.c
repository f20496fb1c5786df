/* Tests of wire/ws.c over loopback: our client against our server (text,
 * binary, large, ping/pong, close codes both ways), protocol violations
 * from a raw socket answered with the right close code, the pending-bytes
 * cap, server shutdown, refused handshakes, and wss://. */
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
#include "net/ws_internal.h"

struct wsc {
	actr_ws_t *ws;		/* the client */
	bool open;		/* on_open ran */
	bool closed;		/* on_close ran */
	int close_code;		/* its code */
	char reason[128];	/* its reason */
	int msgs;		/* messages received */
	bool last_text;		/* type of the last one */
	uint8_t *last;		/* its bytes */
	size_t last_len;	/* its length */
	int pongs;		/* pongs received */
	char pong[32];		/* last pong data */
};

static void c_open(actr_ws_t *ws, void *arg)
{
	((struct wsc *)arg)->open = true;
}

static void c_msg(actr_ws_t *ws, bool text, const uint8_t *d, size_t n,
		  void *arg)
{
	struct wsc *c = arg;

	c->msgs++;
	c->last_text = text;
	free(c->last);
	c->last = malloc(n + 1);
	memcpy(c->last, d, n);
	c->last[n] = 0;
	c->last_len = n;
}

static void c_pong(actr_ws_t *ws, const uint8_t *d, size_t n, void *arg)
{
	struct wsc *c = arg;

	c->pongs++;
	snprintf(c->pong, sizeof(c->pong), "%.*s", (int)n, (const char *)d);
}

static void c_close(actr_ws_t *ws, int code, const char *reason, void *arg)
{
	struct wsc *c = arg;

	c->closed = true;
	c->close_code = code;
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	c->ws = NULL;
}

static const struct actr_ws_callbacks client_cbs = {
	.on_open = c_open,
	.on_message = c_msg,
	.on_pong = c_pong,
	.on_close = c_close,
};

static actr_ws_t *connect_to(actr_reactor_t *r, struct wsc *c,
			     const char *url, const char *ca)
{
	struct actr_ws_client_config cfg = { 0 };

	free(c->last);
	memset(c, 0, sizeof(*c));
	cfg.url = url;
	cfg.tls_ca_file = ca;
	cfg.headers = "X-Actr-Source-ID: 0a0b\r\n";
	c->ws = actr_ws_connect(r, &cfg, &client_cbs, c);
	CHECK(c->ws);
	return c->ws;
}

static void wait_msgs(actr_reactor_t *r, struct wsc *c, int n)
{
	uint64_t end = actr_time_ns() + ACTR_SEC(actr_test_scale(5));

	while (c->msgs < n && !c->closed && actr_time_ns() < end)
		actr_reactor_run_once(r, 20);
	CHECK_EQ(c->msgs, n);
}

/* Exercise an open client against an echo peer (ours or Python's). */
static void echo_round(actr_reactor_t *r, struct wsc *c)
{
	static uint8_t big[300000];
	int n = c->msgs;

	CHECK_EQ(actr_ws_send_text(c->ws, "héllo", 6), 0);
	wait_msgs(r, c, ++n);
	CHECK(c->last_text);
	CHECK_EQ(c->last_len, 6);
	CHECK_MEM(c->last, "héllo", 6);
	CHECK_EQ(actr_ws_send_binary(c->ws, "\x00\x01\x02", 3), 0);
	wait_msgs(r, c, ++n);
	CHECK(!c->last_text);
	CHECK_MEM(c->last, "\x00\x01\x02", 3);
	CHECK_EQ(actr_ws_send_binary(c->ws, "", 0), 0);
	wait_msgs(r, c, ++n);
	CHECK_EQ(c->last_len, 0);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 31 + 7);
	CHECK_EQ(actr_ws_send_binary(c->ws, big, sizeof(big)), 0);
	wait_msgs(r, c, ++n);
	CHECK_EQ(c->last_len, sizeof(big));
	CHECK_MEM(c->last, big, sizeof(big));
	for (int i = 0; i < 50; i++) {
		char m[16];

		snprintf(m, sizeof(m), "m%d", i);
		CHECK_EQ(actr_ws_send_binary(c->ws, m, strlen(m)), 0);
	}
	wait_msgs(r, c, n + 50);
	CHECK_STR((char *)c->last, "m49");
	n += 50;
	CHECK_EQ(actr_ws_ping(c->ws, "are-you-there", 13), 0);
	{
		uint64_t end = actr_time_ns() + ACTR_SEC(5);

		while (!c->pongs && actr_time_ns() < end)
			actr_reactor_run_once(r, 20);
	}
	CHECK_EQ(c->pongs, 1);
	CHECK_STR(c->pong, "are-you-there");
	CHECK_EQ(actr_ws_send_text(c->ws, "\xff", 1), -EINVAL);
	CHECK_EQ(actr_ws_ping(c->ws, big, 126), -EINVAL);
}

TEST(ws_client_server_echo_and_close_codes)
{
	actr_reactor_t *r = actr_reactor_new();
	struct nt_echo e;
	struct wsc c = { 0 };
	struct actr_http_server_stats st;
	char url[128];

	nt_echo_start(r, &e, NULL, NULL, NULL);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%u/ws?token=good",
		 actr_http_server_port(e.srv));
	connect_to(r, &c, url, NULL);
	CHECK_EQ(actr_ws_send_text(c.ws, "early", 5), -ACTR_ENOTREADY);
	CHECK(nt_run_until(r, &c.open, 3000));
	CHECK_EQ(actr_ws_http_status(c.ws), 101);
	echo_round(r, &c);
	/* Client-initiated close: both sides see 4000. */
	CHECK_OK(actr_ws_close(c.ws, 4000, "bye"));
	CHECK_EQ(actr_ws_send_text(c.ws, "late", 4), -ACTR_ECLOSED);
	CHECK_EQ(actr_ws_close(c.ws, 1000, NULL), -ACTR_ECLOSED);
	CHECK(nt_run_until(r, &c.closed, 3000));
	CHECK_EQ(c.close_code, 4000);
	CHECK_STR(c.reason, "bye");
	for (int i = 0; i < 5; i++)
		actr_reactor_run_once(r, 10);
	CHECK_EQ(e.ws_closed, 1);
	CHECK_EQ(e.last_close_code, 4000);
	CHECK_STR(e.last_close_reason, "bye");
	/* Server-initiated close with a code of the application's. */
	connect_to(r, &c, url, NULL);
	CHECK(nt_run_until(r, &c.open, 3000));
	CHECK_OK(actr_ws_send_text(c.ws, "close:4321", 10));
	CHECK(nt_run_until(r, &c.closed, 3000));
	CHECK_EQ(c.close_code, 4321);
	CHECK_STR(c.reason, "asked");
	/* Close codes an application may not send. */
	connect_to(r, &c, url, NULL);
	CHECK(nt_run_until(r, &c.open, 3000));
	CHECK_EQ(actr_ws_close(c.ws, 1005, NULL), -EINVAL);
	CHECK_EQ(actr_ws_close(c.ws, 1006, NULL), -EINVAL);
	CHECK_EQ(actr_ws_close(c.ws, 999, NULL), -EINVAL);
	CHECK_OK(actr_ws_close(c.ws, 1000, NULL));
	CHECK(nt_run_until(r, &c.closed, 3000));
	CHECK_EQ(c.close_code, 1000);
	for (int i = 0; i < 5; i++)
		actr_reactor_run_once(r, 10);
	actr_http_server_stats(e.srv, &st);
	CHECK_EQ(st.upgrades, 3);
	CHECK_EQ(st.conns_open, 0);
	CHECK_EQ(st.ws_protocol_errors, 0);
	free(c.last);
	actr_http_server_free(e.srv);
	nt_drain(r);
	actr_reactor_free(r);
}

TEST(ws_client_refused_handshake_and_failures)
{
	actr_reactor_t *r = actr_reactor_new();
	struct nt_echo e;
	struct wsc c = { 0 };
	char url[128];
	unsigned port;

	nt_echo_start(r, &e, NULL, NULL, NULL);
	port = actr_http_server_port(e.srv);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%u/ws?token=nope", port);
	connect_to(r, &c, url, NULL);
	CHECK(nt_run_until(r, &c.closed, 3000));
	CHECK(!c.open);
	CHECK_EQ(c.close_code, 1006);
	CHECK_STR(c.reason, "HTTP 401");
	/* Not a WebSocket endpoint: 404. */
	snprintf(url, sizeof(url), "ws://127.0.0.1:%u/hello", port);
	connect_to(r, &c, url, NULL);
	CHECK(nt_run_until(r, &c.closed, 3000));
	CHECK_STR(c.reason, "HTTP 200");
	actr_http_server_free(e.srv);
	/* Nobody listening. */
	connect_to(r, &c, url, NULL);
	CHECK(nt_run_until(r, &c.closed, 3000));
	CHECK_EQ(c.close_code, 1006);
	CHECK(strstr(c.reason, "connect"));
	{
		struct actr_ws_client_config cfg = { 0 };

		cfg.url = "http://127.0.0.1:1/";
		CHECK(actr_ws_connect(r, &cfg, &client_cbs, &c) == NULL);
		/* a name: resolved without blocking, then closed with the
		 * reason (the DNS server here refuses) */
		actr__resolve_set_servers("127.0.0.1:1");
		free(c.last);
		memset(&c, 0, sizeof(c));
		cfg.url = "ws://name.invalid/";
		CHECK(actr_ws_connect(r, &cfg, &client_cbs, &c) != NULL);
		CHECK(nt_run_until(r, &c.closed, 5000));
		actr__resolve_set_servers(NULL);
		CHECK_EQ(c.close_code, 1006);
		CHECK(strstr(c.reason, "resolve name.invalid") != NULL);
	}
	free(c.last);
	nt_drain(r);
	actr_reactor_free(r);
}

/* ---- raw peers sending bad frames ----------------------------------------------- */

struct raw_ws {
	unsigned port;
	const uint8_t *frames;	/* bytes to send after the handshake */
	size_t len;		/* their length */
	int close_code;		/* code in the server's close frame */
	bool eof;		/* server closed TCP afterwards */
};

static int raw_upgrade(unsigned port)
{
	static const char req[] =
		"GET /ws?token=good HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\nSec-WebSocket-Key: "
		"dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
	char resp[512];
	int fd = nt_connect(port);

	nt_send(fd, req, sizeof(req) - 1);
	CHECK(nt_read_response(fd, resp, sizeof(resp)) > 0);
	CHECK(strncmp(resp, "HTTP/1.1 101 ", 13) == 0);
	return fd;
}

static void raw_ws_thread(void *arg)
{
	struct raw_ws *w = arg;
	int fd = raw_upgrade(w->port);
	uint8_t h[2], p[125];
	char x;

	nt_send(fd, w->frames, w->len);
	nt_read_exact(fd, h, 2);
	CHECK_EQ(h[0], 0x88);
	CHECK(h[1] >= 2 && h[1] <= 125);
	nt_read_exact(fd, p, h[1]);
	w->close_code = (p[0] << 8) | p[1];
	w->eof = recv(fd, &x, 1, 0) == 0;
	close(fd);
}

static size_t mk(uint8_t *out, int b0, const void *p, size_t n, bool mask)
{
	static const uint8_t m[4] = { 1, 2, 3, 4 };
	size_t hl = actr__ws_header(out, b0 & 0xf, b0 & 0x80, n,
				    mask ? m : NULL);

	out[0] = (uint8_t)b0;
	memcpy(out + hl, p, n);
	if (mask)
		actr__ws_mask(out + hl, n, m, 0);
	return hl + n;
}

TEST(ws_server_violations_close_codes)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr_net_limits lim = { 0 };
	struct nt_echo e;
	struct actr_http_server_stats st;
	struct raw_ws w;
	static uint8_t f[70000], zeros[5000];
	struct {
		size_t len;
		int code;
	} cases[8];
	int ncases = 0;
	size_t off = 0;

	lim.max_frame = 4096;
	lim.max_message = 8192;
	nt_echo_start(r, &e, &lim, NULL, NULL);
	/* Each case: a byte range in f and the expected close code. */
#define CASE(expr, want)                                    \
	do {                                                \
		size_t s_ = off;                            \
		off += (expr);                              \
		cases[ncases].len = off - s_;               \
		cases[ncases++].code = (want);              \
	} while (0)
	CASE(mk(f + off, 0x82, "x", 1, false), 1002);	/* unmasked */
	CASE(mk(f + off, 0xA2, "x", 1, true), 1002);	/* RSV2 */
	CASE(mk(f + off, 0x87, "x", 1, true), 1002);	/* opcode 7 */
	CASE(mk(f + off, 0x81, "\xc3\x28", 2, true), 1007); /* bad UTF-8 */
	CASE(mk(f + off, 0x82, zeros, 4097, true), 1009); /* frame cap */
	CASE(mk(f + off, 0x02, zeros, 4096, true) +
	     mk(f + off + 4096 + 8, 0x00, zeros, 4096, true) +
	     mk(f + off + 2 * (4096 + 8), 0x80, zeros, 1, true), 1009);
	CASE(mk(f + off, 0x88, "\x03\xed", 2, true), 1002); /* code 1005 */
	CASE(mk(f + off, 0x80, "x", 1, true), 1002);	/* stray CONT */
#undef CASE
	off = 0;
	for (int i = 0; i < ncases; i++) {
		memset(&w, 0, sizeof(w));
		w.port = actr_http_server_port(e.srv);
		w.frames = f + off;
		w.len = cases[i].len;
		nt_run_with_thread(r, raw_ws_thread, &w, 8);
		if (w.close_code != cases[i].code || !w.eof)
			actr_test_fail(__FILE__, __LINE__,
				       "case %d: code %d eof %d", i,
				       w.close_code, w.eof);
		CHECK_EQ(e.last_close_code, cases[i].code);
		off += cases[i].len;
	}
	actr_http_server_stats(e.srv, &st);
	CHECK_EQ(st.ws_protocol_errors, (uint64_t)ncases);
	actr_http_server_free(e.srv);
	nt_drain(r);
	actr_reactor_free(r);
}

/* A peer that answers a close with nothing: the close deadline ends it. */
struct silent {
	unsigned port;
	bool eof;
};

static void silent_thread(void *arg)
{
	struct silent *s = arg;
	int fd = raw_upgrade(s->port);
	uint8_t f[64];
	size_t n = mk(f, 0x81, "close:4002", 10, true);
	char buf[256];

	nt_send(fd, f, n);
	/* Read the close frame, never answer, wait for the server's FIN. */
	s->eof = nt_read_all(fd, buf, sizeof(buf)) >= 4;
	close(fd);
}

TEST(ws_server_close_deadline_and_shutdown)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr_net_limits lim = { 0 };
	struct nt_echo e;
	struct silent s = { 0 };
	struct wsc c = { 0 };
	char url[128];

	lim.close_timeout_ms = 200;
	nt_echo_start(r, &e, &lim, NULL, NULL);
	s.port = actr_http_server_port(e.srv);
	nt_run_with_thread(r, silent_thread, &s, 8);
	CHECK(s.eof);
	CHECK_EQ(e.ws_closed, 1);
	CHECK_EQ(e.last_close_code, 1006);
	CHECK_STR(e.last_close_reason, "close timeout");
	/* Server shutdown: the client hears 1001. */
	snprintf(url, sizeof(url), "ws://127.0.0.1:%u/ws?token=good", s.port);
	connect_to(r, &c, url, NULL);
	CHECK(nt_run_until(r, &c.open, 3000));
	for (int i = 0; i < 5; i++)
		actr_reactor_run_once(r, 10);
	CHECK_EQ(e.ws_open, 2);
	actr_http_server_free(e.srv);
	CHECK_EQ(e.ws_closed, 2);
	CHECK_EQ(e.last_close_code, 1001);
	CHECK(nt_run_until(r, &c.closed, 3000));
	CHECK_EQ(c.close_code, 1001);
	free(c.last);
	nt_drain(r);
	actr_reactor_free(r);
}

/* ---- output cap: a client that does not read ----------------------------------- */

struct hog {
	bool closed;		/* on_close ran */
	int sent;		/* 64 KiB messages queued */
	int rc;			/* the send that stopped the flood */
	size_t pending;		/* actr_ws_pending then */
};

static void hog_close(actr_ws_t *ws, int code, const char *reason, void *arg)
{
	((struct hog *)arg)->closed = true;
}

static const struct actr_ws_callbacks hog_cbs = { .on_close = hog_close };

/* Accept, then flood the client (which does not read) until refused. */
static void hog_handler(actr_http_req_t *q, void *arg)
{
	static uint8_t chunk[65536];
	struct hog *h = arg;
	actr_ws_t *ws = actr_http_accept_ws(q, &hog_cbs, h);

	CHECK(ws);
	for (int i = 0; i < 2000; i++) {
		h->rc = actr_ws_send_binary(ws, chunk, sizeof(chunk));
		if (h->rc != 0)
			break;
		h->sent++;
	}
	h->pending = actr_ws_pending(ws);
}

static void stall_thread(void *arg)
{
	int fd = raw_upgrade(*(unsigned *)arg);

	usleep(300000); /* do not read while the server floods */
	close(fd);
}

TEST(ws_server_pending_cap)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr_http_server_config cfg = { 0 };
	struct actr_http_server_stats st;
	struct hog h = { 0 };
	actr_http_server_t *s;
	unsigned port;

	cfg.on_request = hog_handler;
	cfg.arg = &h;
	cfg.limits.max_pending = 256 * 1024;
	s = actr_http_server_new(r, &cfg);
	CHECK(s);
	port = actr_http_server_port(s);
	nt_run_with_thread(r, stall_thread, &port, 8);
	CHECK_EQ(h.rc, -ENOBUFS);
	CHECK(h.sent > 0);
	CHECK(h.pending <= 256 * 1024);
	CHECK(h.pending > 256 * 1024 - 65536 - 14);
	CHECK(nt_run_until(r, &h.closed, 3000));
	actr_http_server_stats(s, &st);
	CHECK_EQ(st.overflows, 1);
	CHECK_EQ(st.conns_open, 0);
	actr_http_server_free(s);
	nt_drain(r);
	actr_reactor_free(r);
}

/* ---- transport failures through the syscall seam --------------------------------- */

static ssize_t failing_send(int fd, const void *p, size_t n, int flags)
{
	errno = EPIPE;
	return -1;
}

static ssize_t failing_recv(int fd, void *p, size_t n, int flags)
{
	errno = ECONNRESET;
	return -1;
}

TEST(ws_transport_errors_via_seam)
{
	actr_reactor_t *r = actr_reactor_new();
	struct nt_echo e;
	struct wsc c = { 0 };
	char url[128];
	int rc;

	nt_echo_start(r, &e, NULL, NULL, NULL);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%u/ws?token=good",
		 actr_http_server_port(e.srv));
	/* A send that fails: small sends are batched until the end of the
	 * iteration, so the call succeeds and the failure comes as on_close
	 * (never from inside the send call). */
	connect_to(r, &c, url, NULL);
	CHECK(nt_run_until(r, &c.open, 3000));
	actr__sys.send = failing_send;
	rc = actr_ws_send_binary(c.ws, "x", 1);
	CHECK_EQ(rc, 0);
	CHECK(!c.closed);
	CHECK(nt_run_until(r, &c.closed, 3000));
	actr__sys_reset();
	CHECK_EQ(c.close_code, 1006);
	CHECK(strstr(c.reason, "pipe") || strstr(c.reason, "Pipe"));
	/* The server notices the vanished peer. */
	for (int i = 0; i < 20 && e.ws_closed < 1; i++)
		actr_reactor_run_once(r, 20);
	CHECK_EQ(e.ws_closed, 1);
	CHECK_EQ(e.last_close_code, 1006);
	/* A receive that fails: both ends see 1006. */
	connect_to(r, &c, url, NULL);
	CHECK(nt_run_until(r, &c.open, 3000));
	actr__sys.recv = failing_recv;
	CHECK_OK(actr_ws_send_binary(c.ws, "y", 1));
	CHECK(nt_run_until(r, &c.closed, 3000));
	actr__sys_reset();
	CHECK_EQ(c.close_code, 1006);
	for (int i = 0; i < 20 && e.ws_closed < 2; i++)
		actr_reactor_run_once(r, 20);
	CHECK_EQ(e.ws_closed, 2);
	free(c.last);
	actr_http_server_free(e.srv);
	nt_drain(r);
	actr_reactor_free(r);
}

/* A close frame without a status: the server answers with an empty close
 * and reports 1005; a peer that never answers the upgrade hits the
 * client's handshake deadline. */
struct empty_close {
	unsigned port;
	uint8_t reply[8];
	ssize_t reply_len;
};

static void empty_close_thread(void *arg)
{
	struct empty_close *x = arg;
	int fd = raw_upgrade(x->port);
	uint8_t f[16];
	size_t n = mk(f, 0x88, "", 0, true);

	nt_send(fd, f, n);
	x->reply_len = nt_read_all(fd, (char *)x->reply, sizeof(x->reply));
	close(fd);
}

TEST(ws_close_without_status_and_handshake_deadline)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr_ws_client_config cfg = { 0 };
	struct empty_close x = { 0 };
	struct nt_echo e;
	struct wsc c = { 0 };
	unsigned port;
	char url[64];
	int lfd;

	nt_echo_start(r, &e, NULL, NULL, NULL);
	x.port = actr_http_server_port(e.srv);
	nt_run_with_thread(r, empty_close_thread, &x, 8);
	CHECK_EQ(x.reply_len, 2);
	CHECK_EQ(x.reply[0], 0x88);
	CHECK_EQ(x.reply[1], 0x00);
	CHECK_EQ(e.ws_closed, 1);
	CHECK_EQ(e.last_close_code, 1005);
	actr_http_server_free(e.srv);
	/* A listener that accepts nothing: TCP connects, no 101 ever. */
	{
		struct sockaddr_in a = { 0 };
		socklen_t sl = sizeof(a);

		lfd = socket(AF_INET, SOCK_STREAM, 0);
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		CHECK_OK(bind(lfd, (struct sockaddr *)&a, sizeof(a)));
		CHECK_OK(listen(lfd, 4));
		CHECK_OK(getsockname(lfd, (struct sockaddr *)&a, &sl));
		port = ntohs(a.sin_port);
	}
	snprintf(url, sizeof(url), "ws://127.0.0.1:%u/", port);
	cfg.url = url;
	cfg.limits.handshake_timeout_ms = 200;
	c.ws = actr_ws_connect(r, &cfg, &client_cbs, &c);
	CHECK(c.ws);
	CHECK(nt_run_until(r, &c.closed, 3000));
	CHECK(!c.open);
	CHECK_EQ(c.close_code, 1006);
	CHECK_STR(c.reason, "handshake timeout");
	close(lfd);
	nt_drain(r);
	actr_reactor_free(r);
}
