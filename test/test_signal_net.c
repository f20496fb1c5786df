/*
 * actr-signal on real sockets (loopback): the listener over wsnet's HTTP
 * and WebSocket server, rejections at the HTTP level (401 before the
 * upgrade, oversized frames, slowloris), and a third-party client
 * (Debian's python3-websockets + python3-protobuf) against it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/net.h>
#include <actr/sigclient.h>

#include "test.h"
#include "server/signal_internal.h"

extern char **environ;

/* Start argv with stdout (if both) and stderr into out; the child dies
 * with this test process, so a failed CHECK leaves nothing running. */
static pid_t spawn(char *const argv[], const char *out, bool both)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd < 0)
			_exit(127);
		if (both)
			dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}


/* Let closing connections finish (bounded) so nothing is left when the
 * reactor goes away. */
static void drain_ms(actr_reactor_t *r, int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));

	for (int i = 0; i < 3; i++) /* deferred frees */
		actr_reactor_run_once(r, 0);
	while (actr_reactor_active(r) > 0 && actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
}

static void drain(actr_reactor_t *r)
{
	drain_ms(r, 3000);
}

static struct actr__sig_listener *start(actr_reactor_t *r,
					struct actr__sig_config *cfg,
					uint32_t header_timeout_ms)
{
	struct actr__sig_listen_config lc = { .host = "127.0.0.1",
					      .header_timeout_ms =
						      header_timeout_ms };
	struct actr__sig_listener *l;

	actr__sig_config_defaults(cfg);
	cfg->db_path = ":memory:";
	cfg->conn_per_min = cfg->reg_per_min = 6000;
	cfg->conn_burst = cfg->reg_burst = 100;
	l = actr__sig_listen(r, cfg, &lc);
	CHECK(l);
	CHECK_OK(actr__sig_add_realm(actr__sig_listener_core(l), 101, "pw"));
	return l;
}

/* Run the reactor until *done or the bound (ms) passes. */
static void run_until(actr_reactor_t *r, const int *done, int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));

	while (!*done && actr_time_ns() < end)
		actr_reactor_run_once(r, 20);
}

/* ---- third-party client ---------------------------------------------- */

struct child {
	pid_t pid;		/* python */
	int status;		/* wait status */
	int done;		/* exited */
	actr_timer_t t;		/* waitpid poll */
};

static void poll_child(actr_timer_t *t, void *arg)
{
	struct child *c = arg;

	if (waitpid(c->pid, &c->status, WNOHANG) == c->pid) {
		c->done = 1;
		actr_timer_stop(t);
	}
}

TEST_TIMEOUT(signal_python_client, 40)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_config cfg;
	struct actr__sig_listener *l = start(r, &cfg, 0);
	const char *tmp = actr_test_tmpdir();
	char cwd[1024], port[16], out[1100], buf[4096];
	struct child c = { 0 };
	FILE *f;
	size_t n;

	if (access("/usr/bin/python3", X_OK) != 0 ||
	    access("test/signal_thirdparty.py", R_OK) != 0)
		actr_test_fail(__FILE__, __LINE__,
			       "needs /usr/bin/python3 and the repository as cwd");
	CHECK(getcwd(cwd, sizeof(cwd)));
	snprintf(port, sizeof(port), "%u", actr__sig_listener_port(l));
	snprintf(out, sizeof(out), "%s/py.out", tmp);
	char *argv[] = { "/usr/bin/python3", "test/signal_thirdparty.py", cwd,
			 (char *)tmp, port, "101", "pw", NULL };
	c.pid = spawn(argv, out, true);
	actr_timer_init(r, &c.t, poll_child, &c);
	actr_timer_start(&c.t, ACTR_MS(20), ACTR_MS(20));
	run_until(r, &c.done, 30000);
	if (!c.done) {
		kill(c.pid, SIGKILL);
		waitpid(c.pid, &c.status, 0);
	}
	f = fopen(out, "r");
	n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	buf[n] = 0;
	if (f)
		fclose(f);
	if (!c.done || !WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
		actr_test_fail(__FILE__, __LINE__, "python client failed:\n%s",
			       buf);
	CHECK(strstr(buf, "OK"));
	CHECK_EQ(actr__sig_stats(actr__sig_listener_core(l))->registered, 2);
	CHECK(actr__sig_stats(actr__sig_listener_core(l))->relayed >= 1);
	actr_timer_stop(&c.t);
	drain_ms(r, 200);
	actr__sig_listener_free(l);
	drain(r);
	actr_reactor_free(r);
}

/* ---- HTTP-level rejections ----------------------------------------------- */

struct wsc {
	int opened;		/* on_open seen */
	int closed;		/* on_close seen */
	int code;		/* close code */
	char reason[128];	/* close reason */
	int msgs;		/* messages */
};

static void w_open(actr_ws_t *ws, void *arg)
{
	((struct wsc *)arg)->opened = 1;
}

static void w_msg(actr_ws_t *ws, bool text, const uint8_t *d, size_t n,
		  void *arg)
{
	((struct wsc *)arg)->msgs++;
}

static void w_close(actr_ws_t *ws, int code, const char *reason, void *arg)
{
	struct wsc *w = arg;

	w->closed = 1;
	w->code = code;
	snprintf(w->reason, sizeof(w->reason), "%s", reason ? reason : "");
}

static const struct actr_ws_callbacks wcb = { .on_open = w_open,
					      .on_message = w_msg,
					      .on_close = w_close };

struct reg {
	int done;		/* response arrived */
	int status;		/* HTTP status */
	Actr__RegisterResponse *resp; /* decoded */
};

static void on_reg(actr_http_call_t *call, int rc, int status,
		   const uint8_t *body, size_t len, void *arg)
{
	struct reg *g = arg;

	g->done = 1;
	g->status = rc == 0 ? status : rc;
	if (rc == 0)
		g->resp = actr__register_response__unpack(NULL, len, body);
}

static void do_register(actr_reactor_t *r, uint16_t port, const char *secret,
			struct reg *g)
{
	Actr__RegisterRequest req = ACTR__REGISTER_REQUEST__INIT;
	Actr__ActrType t = ACTR__ACTR_TYPE__INIT;
	Actr__Realm rl = ACTR__REALM__INIT;
	uint8_t buf[256];
	char url[128], hdr[128];
	struct actr_http_request hr = { 0 };

	memset(g, 0, sizeof(*g));
	t.manufacturer = "acme";
	t.name = "net";
	t.version = "1";
	rl.realm_id = 101;
	req.actr_type = &t;
	req.realm = &rl;
	req.has_auth_mode = true;
	req.auth_mode = ACTR__REGISTER_AUTH_MODE__REGISTER_AUTH_MODE_LINKED;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/ais/register", port);
	snprintf(hdr, sizeof(hdr), "x-actrix-realm-secret: %s\r\n", secret);
	hr.method = "POST";
	hr.url = url;
	hr.content_type = "application/x-protobuf";
	hr.headers = hdr;
	hr.body = buf;
	hr.body_len = actr__register_request__pack(&req, buf);
	CHECK(actr_http_request(r, &hr, on_reg, g));
	run_until(r, &g->done, 5000);
	CHECK(g->done);
}

TEST_TIMEOUT(signal_net_rejections, 30)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_config cfg;
	struct actr__sig_listener *l = start(r, &cfg, 300);
	uint16_t port = actr__sig_listener_port(l);
	struct reg g;
	struct wsc w = { 0 };
	struct actr_ws_client_config wc = { 0 };
	char url[2048], c64[512], s64[128];
	actr_ws_t *ws;

	/* wrong realm secret -> 401, right one -> 200 */
	do_register(r, port, "nope", &g);
	CHECK_EQ(g.status, 401);
	CHECK(g.resp && g.resp->result_case == ACTR__REGISTER_RESPONSE__RESULT_ERROR);
	actr__register_response__free_unpacked(g.resp, NULL);
	do_register(r, port, "pw", &g);
	CHECK_EQ(g.status, 200);
	CHECK(g.resp && g.resp->success);

	/* upgrade without credential: 401 before the upgrade */
	snprintf(url, sizeof(url), "ws://127.0.0.1:%u/signaling/ws", port);
	wc.url = url;
	CHECK(actr_ws_connect(r, &wc, &wcb, &w));
	run_until(r, &w.closed, 5000);
	CHECK(w.closed && !w.opened);
	CHECK(strstr(w.reason, "401"));

	/* valid credential; then an oversized frame closes with 1009 */
	{
		const Actr__AIdCredential *c = g.resp->success->credential;
		char id[256];
		uint8_t *big;

		CHECK(actr__sig_id_str(g.resp->success->actr_id, id,
				       sizeof(id)) > 0);
		actr_base64_encode(c->claims.data, c->claims.len, c64, 1);
		actr_base64_encode(c->signature.data, c->signature.len, s64, 1);
		/* the URL-safe alphabet also decodes; no escaping needed */
		snprintf(url, sizeof(url),
			 "ws://127.0.0.1:%u/signaling/ws?actor_id=%s&key_id=%u"
			 "&claims=%s&signature=%s", port, id, c->key_id, c64,
			 s64);
		memset(&w, 0, sizeof(w));
		ws = actr_ws_connect(r, &wc, &wcb, &w);
		CHECK(ws);
		run_until(r, &w.opened, 5000);
		CHECK(w.opened && !w.closed);
		CHECK_EQ(actr__sig_live_count(actr__sig_listener_core(l)), 1);
		big = calloc(1, cfg.max_frame + 1);
		CHECK_OK(actr_ws_send_binary(ws, big, cfg.max_frame + 1));
		free(big);
		run_until(r, &w.closed, 5000);
		CHECK(w.closed);
		CHECK_EQ(w.code, 1009);
		/* the core forgot the connection */
		CHECK_EQ(actr__sig_live_count(actr__sig_listener_core(l)), 0);
	}
	actr__register_response__free_unpacked(g.resp, NULL);

	/* slowloris: a head that never completes is cut at the deadline */
	{
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_port = htons(port),
					  .sin_addr.s_addr = htonl(0x7f000001) };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		int done = 0;
		char rb[256];
		ssize_t got = 0;
		uint64_t end;

		CHECK(fd >= 0);
		connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		run_until(r, &done, 50);
		CHECK_EQ(write(fd, "GET /ais/health HTTP/1.1\r\nHost: x\r\n", 35), 35);
		end = actr_time_ns() + ACTR_MS(actr_test_scale(3000));
		while (actr_time_ns() < end) {
			actr_reactor_run_once(r, 20);
			got = read(fd, rb, sizeof(rb) - 1);
			if (got >= 0)
				break;
		}
		CHECK(got >= 0); /* 408 answer or EOF: the server hung up */
		if (got > 0) {
			rb[got] = 0;
			CHECK(strstr(rb, "408"));
		}
		close(fd);
	}
	drain_ms(r, 200);
	actr__sig_listener_free(l);
	drain(r);
	actr_reactor_free(r);
}

/* ---- slow clients ------------------------------------------------------- */

struct fast {
	int up;			/* connected */
	int done;		/* reply arrived */
	int rc;			/* its rc */
};

static void fast_state(actr_sigclient_t *c, actr_sig_state_t st, void *arg)
{
	((struct fast *)arg)->up = st == ACTR_SIG_CONNECTED;
}

static void fast_reply(actr_sigclient_t *c, int rc, const uint8_t *m,
		       size_t n, void *arg)
{
	struct fast *f = arg;

	f->done = 1;
	f->rc = rc;
}

TEST_TIMEOUT(signal_net_slow_client_dropped, 30)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_config cfg;
	struct actr__sig_listen_config lc = { .host = "127.0.0.1" };
	struct actr__sig_listener *l;
	struct actr__sig_server *core;
	Actr__RegisterRequest req = ACTR__REGISTER_REQUEST__INIT;
	Actr__ActrType t = ACTR__ACTR_TYPE__INIT;
	Actr__Realm rl = ACTR__REALM__INIT;
	Actr__RegisterResponse *resp;
	struct actr__sig_http_reply rep;
	struct actr_sigclient_config cc = { 0 };
	actr_sigclient_t *fc;
	struct fast f = { 0 };
	uint8_t buf[512], sid[256];
	size_t n, sid_len;
	char q[2048], c64[512], s64[128], url[64], id[256];
	int fd, sent = 0;
	uint64_t end;

	actr__sig_config_defaults(&cfg);
	cfg.db_path = ":memory:";
	cfg.msg_per_s = cfg.msg_burst = 1e6;
	cfg.max_pending = 32 * 1024;
	l = actr__sig_listen(r, &cfg, &lc);
	CHECK(l);
	core = actr__sig_listener_core(l);
	CHECK_OK(actr__sig_add_realm(core, 101, NULL));
	/* the slow actor registers in-process and connects with a raw socket
	 * that never reads */
	t.manufacturer = "acme";
	t.name = "slow";
	t.version = "1";
	rl.realm_id = 101;
	req.actr_type = &t;
	req.realm = &rl;
	req.has_auth_mode = true;
	req.auth_mode = ACTR__REGISTER_AUTH_MODE__REGISTER_AUTH_MODE_LINKED;
	n = actr__register_request__pack(&req, buf);
	CHECK_OK(actr__sig_http(core, "POST", "/ais/register", buf, n, NULL,
				"127.0.0.1", actr_wall_ms(), &rep));
	resp = actr__register_response__unpack(NULL, rep.len, rep.body);
	free(rep.body);
	CHECK(resp && resp->success);
	sid_len = actr__actr_id__pack(resp->success->actr_id, sid);
	CHECK(actr__sig_id_str(resp->success->actr_id, id, sizeof(id)) > 0);
	actr_base64_encode(resp->success->credential->claims.data,
			   resp->success->credential->claims.len, c64, 1);
	actr_base64_encode(resp->success->credential->signature.data,
			   resp->success->credential->signature.len, s64, 1);
	snprintf(q, sizeof(q),
		 "GET /signaling/ws?actor_id=%s&key_id=%u&claims=%s&signature=%s"
		 " HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: "
		 "websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
		 "dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", id,
		 resp->success->credential->key_id, c64, s64);
	{
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_port = htons(actr__sig_listener_port(l)),
					  .sin_addr.s_addr = htonl(0x7f000001) };
		int small = 4096, done = 0;

		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		CHECK(fd >= 0);
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
		connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		run_until(r, &done, 50);
		CHECK_EQ(write(fd, q, strlen(q)), (ssize_t)strlen(q));
		end = actr_time_ns() + ACTR_MS(actr_test_scale(3000));
		while (actr__sig_live_count(core) < 1 && actr_time_ns() < end)
			actr_reactor_run_once(r, 10);
		CHECK_EQ(actr__sig_live_count(core), 1);
	}
	actr__register_response__free_unpacked(resp, NULL);

	/* a normal client floods the slow one with relays */
	t.name = "fast";
	n = actr__register_request__pack(&req, buf);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u",
		 actr__sig_listener_port(l));
	cc.url = url;
	cc.register_request = buf;
	cc.register_request_len = n;
	cc.cb.on_state = fast_state;
	cc.arg = &f;
	fc = actr_sigclient_new(r, &cc);
	CHECK(fc);
	CHECK_OK(actr_sigclient_start(fc));
	run_until(r, &f.up, 5000);
	CHECK(f.up);
	{
		Webrtc__SessionDescription sd = WEBRTC__SESSION_DESCRIPTION__INIT;
		static char sdp[2048];
		static uint8_t pl[4096];
		size_t pn;

		memset(sdp, 'a', sizeof(sdp) - 1);
		sd.sdp = sdp;
		pn = webrtc__session_description__pack(&sd, pl);
		end = actr_time_ns() + ACTR_MS(actr_test_scale(10000));
		while (actr__sig_live_count(core) == 2 && sent < 5000 &&
		       actr_time_ns() < end) {
			for (int i = 0; i < 20; i++)
				if (actr_sigclient_relay(fc, sid, sid_len,
							 ACTR_SIG_RELAY_SDP, pl,
							 pn) == 0)
					sent++;
			actr_reactor_run_once(r, 1);
		}
	}
	/* the slow one was cut off; the fast one is still served */
	end = actr_time_ns() + ACTR_MS(actr_test_scale(3000));
	while (actr__sig_live_count(core) != 1 && actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
	CHECK_EQ(actr__sig_live_count(core), 1);
	CHECK(sent < 5000);
	CHECK_OK(actr_sigclient_discover(fc, NULL, 0, fast_reply, &f));
	run_until(r, &f.done, 5000);
	CHECK(f.done);
	CHECK_OK(f.rc);
	close(fd);
	actr_sigclient_free(fc);
	drain_ms(r, 200);
	actr__sig_listener_free(l);
	drain(r);
	actr_reactor_free(r);
}

/* ---- the actr-signal program: key file, flags, logs, SIGTERM ---------- */

static void on_http(actr_http_call_t *call, int rc, int status,
		    const uint8_t *body, size_t len, void *arg)
{
	struct reg *g = arg;

	g->done = 1;
	g->status = rc == 0 ? status : rc;
}

TEST_TIMEOUT(signal_program_config_and_flags, 30)
{
	const char *tmp = actr_test_tmpdir();
	char exe[1024], prog[1100], conf[600], log[600], db[600], buf[8192];
	char *argv[8], *p;

	buf[0] = 0;
	actr_reactor_t *r = actr_reactor_new();
	unsigned port = 0;
	pid_t pid;
	int st = -1;
	ssize_t n;
	FILE *f;
	uint64_t end;
	struct reg g;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	CHECK(n > 0);
	exe[n] = 0;
	*strrchr(exe, '/') = 0; /* .../build/test */
	*strrchr(exe, '/') = 0; /* .../build */
	snprintf(prog, sizeof(prog), "%s/actr-signal", exe);
	CHECK(access(prog, X_OK) == 0);
	snprintf(conf, sizeof(conf), "%s/signal.conf", tmp);
	snprintf(log, sizeof(log), "%s/signal.log", tmp);
	snprintf(db, sizeof(db), "%s/signal.db", tmp);
	f = fopen(conf, "w");
	CHECK(f);
	fprintf(f, "[server]\nlisten = 127.0.0.1:0\ndb = %s\nheartbeat_secs = 7\n"
		   "[realm.101]\nsecret = pw\n[limits]\nreg_per_min = 600\n", db);
	fclose(f);
	argv[0] = prog;
	argv[1] = "--config";
	argv[2] = conf;
	argv[3] = "--realm";
	argv[4] = "102";
	argv[5] = NULL;
	pid = spawn(argv, log, false);
	/* the log says where it listens */
	end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
	while ((!port || !strstr(buf, "realm 102")) && actr_time_ns() < end) {
		usleep(20000);
		f = fopen(log, "r");
		if (!f)
			continue;
		n = (ssize_t)fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n > 0 ? n : 0] = 0;
		p = strstr(buf, "listening on http://127.0.0.1:");
		if (p)
			port = (unsigned)atoi(p + strlen("listening on http://127.0.0.1:"));
	}
	CHECK(port > 0);
	CHECK(strstr(buf, "realm 101 (with secret)"));
	CHECK(strstr(buf, "realm 102"));
	/* realm 101's secret came from the file; heartbeat from the file */
	do_register(r, (uint16_t)port, "pw", &g);
	CHECK_EQ(g.status, 200);
	CHECK(g.resp && g.resp->success);
	CHECK_EQ(g.resp->success->signaling_heartbeat_interval_secs, 7);
	actr__register_response__free_unpacked(g.resp, NULL);
	do_register(r, (uint16_t)port, "wrong", &g);
	CHECK_EQ(g.status, 401);
	if (g.resp)
		actr__register_response__free_unpacked(g.resp, NULL);
	{
		struct actr_http_request hr = { 0 };
		char url[128];

		snprintf(url, sizeof(url), "http://127.0.0.1:%u/ais/health", port);
		hr.url = url;
		memset(&g, 0, sizeof(g));
		CHECK(actr_http_request(r, &hr, on_http, &g));
		run_until(r, &g.done, 5000);
		CHECK_EQ(g.status, 200);
	}
	kill(pid, SIGTERM);
	end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
	while (actr_time_ns() < end && waitpid(pid, &st, WNOHANG) != pid)
		usleep(10000);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* state survived: the serial counter is in the db */
	CHECK(access(db, R_OK) == 0);
	drain(r);
	actr_reactor_free(r);
}
