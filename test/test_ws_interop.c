/* Interop with a third-party WebSocket implementation: Debian's
 * python3-websockets (run by /usr/bin/python3, test/ws_peer.py) as a
 * client of our server and as a server for our client, over ws:// and
 * wss:// with a self-signed certificate made in the test. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/net.h>

#include "core/internal.h"
#include "net_test_util.h"
#include "test.h"

static bool have_python_websockets(void)
{
	if (access(NT_PYTHON, X_OK) != 0)
		return false;
	return system(NT_PYTHON " -c 'import websockets' 2>/dev/null") == 0;
}

/* Python client against our echo server; returns the exit status. */
static void python_client_run(const char *cert, const char *key)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr_http_server_stats st;
	struct nt_echo e;
	char url[128], line[256];
	int out_fd, in_fd, status;
	pid_t pid;

	CHECK(have_python_websockets());
	nt_echo_start(r, &e, NULL, cert, key);
	snprintf(url, sizeof(url), "%s://127.0.0.1:%u/ws?token=good",
		 cert ? "wss" : "ws", actr_http_server_port(e.srv));
	{
		const char *argv[] = { NT_PYTHON, nt_peer_script(), "client",
				       url, cert, NULL };

		pid = nt_spawn(&out_fd, &in_fd, argv);
	}
	status = nt_run_until_exit(r, pid, 20000);
	line[0] = '\0';
	nt_read_line(out_fd, line, sizeof(line), 100);
	if (status != 0)
		actr_test_fail(__FILE__, __LINE__, "python client: %d %s",
			       status, line);
	CHECK_STR(line, "OK");
	for (int i = 0; i < 10; i++)
		actr_reactor_run_once(r, 10);
	actr_http_server_stats(e.srv, &st);
	/* Four connections: echo session, server close, 1009, 401. */
	CHECK_EQ(st.upgrades, 3);
	CHECK_EQ(st.upgrades_rejected, 1);
	CHECK_EQ(st.ws_protocol_errors, 1);
	CHECK_EQ(e.ws_closed, 3);
	close(out_fd);
	close(in_fd);
	actr_http_server_free(e.srv);
	nt_drain(r);
	actr_reactor_free(r);
}

TEST_TIMEOUT(ws_interop_python_client_ws, 30)
{
	python_client_run(NULL, NULL);
}

TEST_TIMEOUT(ws_interop_python_client_wss, 30)
{
	char cert[512], key[512];

	nt_make_cert(actr_test_tmpdir(), cert, key, sizeof(cert));
	python_client_run(cert, key);
}

/* ---- our client against the Python server ---------------------------------------- */

struct pc {
	bool open;
	bool closed;
	int close_code;
	char reason[128];
	int msgs;
	bool last_text;
	uint8_t *last;
	size_t last_len;
	int pongs;
};

static void p_open(actr_ws_t *ws, void *arg)
{
	((struct pc *)arg)->open = true;
}

static void p_msg(actr_ws_t *ws, bool text, const uint8_t *d, size_t n,
		  void *arg)
{
	struct pc *c = arg;

	c->msgs++;
	c->last_text = text;
	free(c->last);
	c->last = malloc(n + 1);
	memcpy(c->last, d, n);
	c->last[n] = 0;
	c->last_len = n;
}

static void p_pong(actr_ws_t *ws, const uint8_t *d, size_t n, void *arg)
{
	((struct pc *)arg)->pongs++;
}

static void p_close(actr_ws_t *ws, int code, const char *reason, void *arg)
{
	struct pc *c = arg;

	c->closed = true;
	c->close_code = code;
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
}

static const struct actr_ws_callbacks pcbs = {
	.on_open = p_open,
	.on_message = p_msg,
	.on_pong = p_pong,
	.on_close = p_close,
};

static void wait_n(actr_reactor_t *r, struct pc *c, int n)
{
	uint64_t end = actr_time_ns() + ACTR_SEC(actr_test_scale(5));

	while (c->msgs < n && !c->closed && actr_time_ns() < end)
		actr_reactor_run_once(r, 20);
	CHECK_EQ(c->msgs, n);
}

static actr_ws_t *pconnect(actr_reactor_t *r, struct pc *c, const char *url,
			   const char *ca)
{
	struct actr_ws_client_config cfg = { 0 };
	actr_ws_t *ws;

	free(c->last);
	memset(c, 0, sizeof(*c));
	cfg.url = url;
	cfg.tls_ca_file = ca;
	ws = actr_ws_connect(r, &cfg, &pcbs, c);
	CHECK(ws);
	CHECK(nt_run_until(r, &c->open, 5000));
	return ws;
}

static void python_server_run(const char *cert, const char *key)
{
	actr_reactor_t *r = actr_reactor_new();
	static uint8_t big[400000];
	char line[64], url[128];
	int out_fd, in_fd, st;
	struct pc c = { 0 };
	actr_ws_t *ws;
	pid_t pid;

	CHECK(have_python_websockets());
	{
		const char *argv[] = { NT_PYTHON, nt_peer_script(), "server",
				       cert, key, NULL };

		pid = nt_spawn(&out_fd, &in_fd, argv);
	}
	CHECK(nt_read_line(out_fd, line, sizeof(line), 10000) > 0);
	snprintf(url, sizeof(url), "%s://127.0.0.1:%d/", cert ? "wss" : "ws",
		 atoi(line));
	ws = pconnect(r, &c, url, cert);
	CHECK_OK(actr_ws_send_text(ws, "grüße", 7));
	wait_n(r, &c, 1);
	CHECK(c.last_text);
	CHECK_STR((char *)c.last, "grüße");
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i ^ (i >> 8));
	CHECK_OK(actr_ws_send_binary(ws, big, sizeof(big)));
	wait_n(r, &c, 2);
	CHECK(!c.last_text);
	CHECK_EQ(c.last_len, sizeof(big));
	CHECK_MEM(c.last, big, sizeof(big));
	/* The server sends a fragmented text message: we reassemble it. */
	CHECK_OK(actr_ws_send_text(ws, "frag", 4));
	wait_n(r, &c, 3);
	CHECK_STR((char *)c.last, "fragged \xe2\x82\xac");
	/* The server pings us (we pong automatically), then answers. */
	CHECK_OK(actr_ws_send_text(ws, "ping-me", 7));
	wait_n(r, &c, 4);
	CHECK_STR((char *)c.last, "pinged");
	CHECK_OK(actr_ws_ping(ws, "x", 1));
	{
		uint64_t end = actr_time_ns() + ACTR_SEC(5);

		while (!c.pongs && actr_time_ns() < end)
			actr_reactor_run_once(r, 20);
		CHECK_EQ(c.pongs, 1);
	}
	/* We close with 4000; the Python side echoes it. */
	CHECK_OK(actr_ws_close(ws, 4000, "done"));
	CHECK(nt_run_until(r, &c.closed, 5000));
	CHECK_EQ(c.close_code, 4000);
	/* The server closes with 4002 when asked. */
	ws = pconnect(r, &c, url, cert);
	CHECK_OK(actr_ws_send_text(ws, "close:4002", 10));
	CHECK(nt_run_until(r, &c.closed, 5000));
	CHECK_EQ(c.close_code, 4002);
	CHECK_STR(c.reason, "asked");
	free(c.last);
	close(in_fd); /* the server exits when its stdin closes */
	st = nt_run_until_exit(r, pid, 10000);
	CHECK_EQ(st, 0);
	close(out_fd);
	nt_drain(r);
	actr_reactor_free(r);
}

TEST_TIMEOUT(ws_interop_python_server_ws, 30)
{
	python_server_run(NULL, NULL);
}

TEST_TIMEOUT(ws_interop_python_server_wss, 30)
{
	char cert[512], key[512];

	nt_make_cert(actr_test_tmpdir(), cert, key, sizeof(cert));
	python_server_run(cert, key);
}
