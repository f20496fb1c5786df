/*
 * actr-signal for browsers (server/web.c): the static folder (content
 * types, index.html, no listing, traversal by "..", "%2e%2e", dot files
 * and symlinks out of the folder refused and counted) and the CORS policy
 * of /ais/ (nothing admitted by default, exact origins, preflights), then
 * the same through the listener over a real socket.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>

#include "net_test_util.h"
#include "server/signal_internal.h"
#include "server/web.h"
#include "test.h"

static void put(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f);
	fputs(text, f);
	fclose(f);
}

/* dir/www with index.html, app.js, sub/ (no index), a dot file, a symlink
 * out to dir/secret.txt and one inside to app.js; returns dir/www. */
static const char *tree(char *www, size_t cap)
{
	const char *dir = actr_test_tmpdir();
	char p[512];

	snprintf(www, cap, "%s/www", dir);
	CHECK_OK(mkdir(www, 0700));
	snprintf(p, sizeof(p), "%s/sub", www);
	CHECK_OK(mkdir(p, 0700));
	snprintf(p, sizeof(p), "%s/sub/deep", www);
	CHECK_OK(mkdir(p, 0700));
	put(dir, "secret.txt", "TOPSECRET");
	put(www, "index.html", "<p>home</p>");
	put(www, "app.js", "export const x = 1;");
	put(www, "mod.mjs", "m");
	put(www, "s.css", "c");
	put(www, "d.json", "{}");
	put(www, "i.png", "p");
	put(www, "i.svg", "<svg/>");
	put(www, "w.wasm", "w");
	put(www, "blob.bin", "b");
	put(www, ".env", "SECRET=1");
	put(www, "sub/deep/index.html", "<p>deep</p>");
	snprintf(p, sizeof(p), "%s/out", www);
	CHECK_OK(symlink("../secret.txt", p));
	snprintf(p, sizeof(p), "%s/sub/abs", www);
	{
		char target[512];

		snprintf(target, sizeof(target), "%s/secret.txt", dir);
		CHECK_OK(symlink(target, p));
	}
	snprintf(p, sizeof(p), "%s/alias.js", www);
	CHECK_OK(symlink("app.js", p));
	snprintf(p, sizeof(p), "%s/updir", www);
	CHECK_OK(symlink("..", p));
	return www;
}

/* Serve path; check the status, and the body when want is not NULL. */
static int get(struct actr__sig_web *w, const char *method, const char *path,
	       const char *want)
{
	struct actr__sig_http_reply rep;
	char hdrs[512];
	int st = actr__sig_www_serve(w, method, path, &rep, hdrs, sizeof(hdrs));

	if (want) {
		CHECK(rep.body);
		CHECK_EQ(rep.len, strlen(want));
		CHECK_MEM(rep.body, want, rep.len);
	}
	CHECK(!rep.body || !memmem(rep.body, rep.len, "TOPSECRET", 9));
	free(rep.body);
	return st;
}

static const char *ctype_of(struct actr__sig_web *w, const char *path)
{
	struct actr__sig_http_reply rep;
	char hdrs[512];

	CHECK_EQ(actr__sig_www_serve(w, "GET", path, &rep, hdrs, sizeof(hdrs)),
		 200);
	CHECK(strstr(hdrs, "X-Content-Type-Options: nosniff\r\n"));
	free(rep.body);
	return rep.ctype;
}

TEST(signal_www_files)
{
	char www[512];
	struct actr__sig_web *w;
	struct actr__sig_http_reply rep;
	char hdrs[512];

	tree(www, sizeof(www));
	w = actr__sig_web_new(www, NULL, 0, 1 << 20);
	CHECK(w);
	CHECK(actr__sig_web_has_www(w));
	CHECK_EQ(get(w, "GET", "/", "<p>home</p>"), 200);
	CHECK_EQ(get(w, "GET", "/index.html", "<p>home</p>"), 200);
	CHECK_EQ(get(w, "HEAD", "/app.js", "export const x = 1;"), 200);
	CHECK_EQ(get(w, "GET", "/alias.js", "export const x = 1;"), 200);
	CHECK_EQ(get(w, "GET", "/sub/deep/", "<p>deep</p>"), 200);
	CHECK_EQ(get(w, "GET", "//sub///deep/", "<p>deep</p>"), 200);
	CHECK_EQ(get(w, "GET", "/%61pp.js", "export const x = 1;"), 200);
	CHECK_STR(ctype_of(w, "/"), "text/html; charset=utf-8");
	CHECK_STR(ctype_of(w, "/app.js"), "text/javascript; charset=utf-8");
	CHECK_STR(ctype_of(w, "/mod.mjs"), "text/javascript; charset=utf-8");
	CHECK_STR(ctype_of(w, "/s.css"), "text/css; charset=utf-8");
	CHECK_STR(ctype_of(w, "/d.json"), "application/json");
	CHECK_STR(ctype_of(w, "/i.png"), "image/png");
	CHECK_STR(ctype_of(w, "/i.svg"), "image/svg+xml");
	CHECK_STR(ctype_of(w, "/w.wasm"), "application/wasm");
	CHECK_STR(ctype_of(w, "/blob.bin"), "application/octet-stream");
	CHECK_EQ(actr__sig_web_stats(w)->files_served, 16);

	/* no listing: a folder without index.html is not found */
	CHECK_EQ(get(w, "GET", "/sub/", NULL), 404);
	CHECK_EQ(get(w, "GET", "/nope.js", NULL), 404);
	CHECK_EQ(get(w, "GET", "/app.js/x", NULL), 404);
	CHECK_EQ(actr__sig_web_stats(w)->not_found, 3);

	/* a folder without the slash is redirected so relative URLs work,
	 * never off the site */
	CHECK_EQ(actr__sig_www_serve(w, "GET", "/sub/deep", &rep, hdrs,
				     sizeof(hdrs)), 301);
	CHECK_STR(hdrs, "Location: /sub/deep/\r\n");
	CHECK_EQ(actr__sig_www_serve(w, "GET", "//sub/deep", &rep, hdrs,
				     sizeof(hdrs)), 301);
	CHECK_STR(hdrs, "Location: /sub/deep/\r\n");

	/* only GET and HEAD */
	CHECK_EQ(actr__sig_www_serve(w, "POST", "/app.js", &rep, hdrs,
				     sizeof(hdrs)), 405);
	CHECK(!rep.body);
	CHECK_STR(hdrs, "Allow: GET, HEAD\r\n");
	CHECK_EQ(get(w, "DELETE", "/app.js", NULL), 405);
	actr__sig_web_free(w);
}

TEST(signal_www_traversal)
{
	char www[512];
	struct actr__sig_web *w;
	static const char *const attacks[] = {
		"/../secret.txt",
		"/%2e%2e/secret.txt",
		"/%2E%2E/secret.txt",
		"/.%2e/secret.txt",
		"/sub/../../secret.txt",
		"/sub/%2e%2e/%2e%2e/secret.txt",
		"/%2e%2e%2fsecret.txt",
		"/sub%2f..%2f..%2fsecret.txt",
		"/./index.html",
		"/.env",
		"/%2eenv",
		"/out",			/* symlink ../secret.txt */
		"/sub/abs",		/* symlink to an absolute path out */
		"/updir/secret.txt",	/* symlink to .. */
		"/updir/",
		"/..%5csecret.txt",	/* backslash */
	};
	uint64_t refused;

	tree(www, sizeof(www));
	w = actr__sig_web_new(www, NULL, 0, 1 << 20);
	CHECK(w);
	for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
		int st = get(w, "GET", attacks[i], NULL);

		if (st != 403 && st != 404)
			actr_test_fail(__FILE__, __LINE__, "%s answered %d",
				       attacks[i], st);
	}
	refused = actr__sig_web_stats(w)->refused;
	/* every one is refused as such, not merely missed */
	CHECK_EQ(refused, sizeof(attacks) / sizeof(attacks[0]));
	CHECK_EQ(actr__sig_web_stats(w)->files_served, 0);

	/* malformed escapes and NUL */
	CHECK_EQ(get(w, "GET", "/%zz", NULL), 400);
	CHECK_EQ(get(w, "GET", "/%2", NULL), 400);
	CHECK_EQ(get(w, "GET", "/app.js%00.png", NULL), 400);
	CHECK_EQ(actr__sig_web_stats(w)->refused, refused + 3);
	actr__sig_web_free(w);

	/* a folder that does not exist is an error at start-up */
	CHECK(!actr__sig_web_new("/nonexistent/www", NULL, 0, 1 << 20));
}

TEST(signal_www_too_large)
{
	char www[512];
	struct actr__sig_web *w;

	tree(www, sizeof(www));
	w = actr__sig_web_new(www, NULL, 0, 4); /* "<p>home</p>" is 11 */
	CHECK(w);
	CHECK_EQ(get(w, "GET", "/", NULL), 500);
	CHECK_EQ(actr__sig_web_stats(w)->too_large, 1);
	CHECK_EQ(get(w, "GET", "/i.png", "p"), 200);
	actr__sig_web_free(w);
}

TEST(signal_cors_policy)
{
	static const char *const origins[] = { "http://localhost:8080",
					       "https://app.example.com" };
	struct actr__sig_web *w, *none;
	char h[512];

	/* bad configuration is refused */
	{
		static const char *const bad[] = {
			"*", "null", "localhost:8080", "http://a/b",
			"http://", "ftp://x", "http://a b",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			CHECK(!actr__sig_web_new(NULL, &bad[i], 1, 1024));
	}
	none = actr__sig_web_new(NULL, NULL, 0, 1024);
	CHECK(none);
	CHECK(!actr__sig_web_has_www(none));
	w = actr__sig_web_new(NULL, origins, 2, 1024);
	CHECK(w);

	/* programs send no Origin: untouched */
	CHECK_EQ(actr__sig_cors(none, "POST", NULL, "127.0.0.1:1", false,
				NULL, NULL, h, sizeof(h)), 0);
	CHECK_STR(h, "");
	/* the server's own page (--www) is not cross-origin */
	CHECK_EQ(actr__sig_cors(none, "POST", "http://127.0.0.1:1",
				"127.0.0.1:1", false, NULL, NULL, h,
				sizeof(h)), 0);
	CHECK_STR(h, "");
	/* ... but the same host over the other scheme is */
	CHECK_EQ(actr__sig_cors(none, "POST", "https://127.0.0.1:1",
				"127.0.0.1:1", false, NULL, NULL, h,
				sizeof(h)), 403);

	/* nothing admitted by default: refused before the core runs */
	CHECK_EQ(actr__sig_cors(none, "POST", "http://localhost:8080",
				"127.0.0.1:1", false, NULL, NULL, h,
				sizeof(h)), 403);
	CHECK(!strstr(h, "Access-Control-Allow-Origin"));
	CHECK_EQ(actr__sig_cors(none, "OPTIONS", "http://localhost:8080",
				"127.0.0.1:1", false, "POST", "content-type",
				h, sizeof(h)), 403);
	CHECK(!strstr(h, "Access-Control-Allow-Origin"));
	CHECK_EQ(actr__sig_web_stats(none)->cors_denied, 3);

	/* exact match only: port, scheme, suffix and prefix differ */
	{
		static const char *const near[] = {
			"http://localhost:8081", "https://localhost:8080",
			"http://localhost", "http://localhost:80800",
			"https://app.example.com.evil.net",
			"https://evilapp.example.com", "null",
		};

		for (size_t i = 0; i < sizeof(near) / sizeof(near[0]); i++) {
			CHECK_EQ(actr__sig_cors(w, "POST", near[i],
						"127.0.0.1:1", false, NULL,
						NULL, h, sizeof(h)), 403);
			CHECK_STR(h, "Vary: Origin\r\n");
		}
	}

	/* admitted: the origin echoed, Vary: Origin */
	CHECK_EQ(actr__sig_cors(w, "POST", "https://app.example.com",
				"127.0.0.1:1", false, NULL, NULL, h,
				sizeof(h)), 0);
	CHECK_STR(h, "Access-Control-Allow-Origin: https://app.example.com"
		  "\r\nVary: Origin\r\n");

	/* preflight answered */
	CHECK_EQ(actr__sig_cors(w, "OPTIONS", "http://localhost:8080",
				"127.0.0.1:1", false, "POST",
				"Content-Type, x-actrix-realm-secret", h,
				sizeof(h)), 204);
	CHECK(strstr(h, "Access-Control-Allow-Origin: http://localhost:8080"
		     "\r\n"));
	CHECK(strstr(h, "Access-Control-Allow-Methods: GET, POST\r\n"));
	CHECK(strstr(h, "Access-Control-Allow-Headers: content-type, "
		     "x-actrix-realm-secret\r\n"));
	CHECK(strstr(h, "Access-Control-Max-Age: 600\r\n"));
	CHECK(strstr(h, "Vary: Origin\r\n"));
	CHECK_EQ(actr__sig_web_stats(w)->preflights, 1);

	/* a method or header the endpoints do not take is refused */
	CHECK_EQ(actr__sig_cors(w, "OPTIONS", "http://localhost:8080",
				"127.0.0.1:1", false, "DELETE", NULL, h,
				sizeof(h)), 403);
	CHECK_EQ(actr__sig_cors(w, "OPTIONS", "http://localhost:8080",
				"127.0.0.1:1", false, "POST",
				"content-type, x-evil", h, sizeof(h)), 403);
	CHECK(!strstr(h, "Access-Control-Allow-Origin"));
	CHECK_EQ(actr__sig_web_stats(w)->cors_denied, 9);
	CHECK_EQ(actr__sig_web_stats(w)->cors_allowed, 2);
	actr__sig_web_free(w);
	actr__sig_web_free(none);
}

/* ---- through the listener -------------------------------------------- */

struct raw {
	unsigned port;		/* listener */
	char www[512];		/* served folder */
	char out[6][2048];	/* responses */
};

static void exchange(unsigned port, const char *req, char *out, size_t cap)
{
	int fd = nt_connect(port);

	CHECK(fd >= 0);
	CHECK_OK(nt_send(fd, req, strlen(req)));
	CHECK(nt_read_response(fd, out, cap) > 0);
	close(fd);
}

static void raw_client(void *arg)
{
	struct raw *x = arg;
	char req[1024];

	exchange(x->port, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", x->out[0],
		 sizeof(x->out[0]));
	exchange(x->port, "GET /%2e%2e/secret.txt HTTP/1.1\r\nHost: a\r\n\r\n",
		 x->out[1], sizeof(x->out[1]));
	exchange(x->port, "OPTIONS /ais/register HTTP/1.1\r\nHost: a\r\n"
		 "Origin: http://localhost:9\r\n"
		 "Access-Control-Request-Method: POST\r\n"
		 "Access-Control-Request-Headers: content-type\r\n\r\n",
		 x->out[2], sizeof(x->out[2]));
	exchange(x->port, "GET /ais/health HTTP/1.1\r\nHost: a\r\n"
		 "Origin: http://evil.example:9\r\n\r\n",
		 x->out[3], sizeof(x->out[3]));
	exchange(x->port, "GET /ais/health HTTP/1.1\r\nHost: a\r\n"
		 "Origin: http://localhost:9\r\n\r\n",
		 x->out[4], sizeof(x->out[4]));
	/* a page elsewhere cannot open the signaling WebSocket either */
	snprintf(req, sizeof(req),
		 "GET /signaling/ws?x=1 HTTP/1.1\r\nHost: a\r\n"
		 "Origin: http://evil.example:9\r\nUpgrade: websocket\r\n"
		 "Connection: Upgrade\r\n"
		 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		 "Sec-WebSocket-Version: 13\r\n\r\n");
	exchange(x->port, req, x->out[5], sizeof(x->out[5]));
}

TEST_TIMEOUT(signal_www_listener, 20)
{
	static struct raw x;
	static const char *const origins[] = { "http://localhost:9" };
	struct actr__sig_config cfg;
	struct actr__sig_listen_config lc = { .host = "127.0.0.1" };
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	const struct actr__sig_web_stats *st;

	CHECK(r);
	tree(x.www, sizeof(x.www));
	actr__sig_config_defaults(&cfg);
	cfg.db_path = ":memory:";
	lc.www_dir = x.www;
	lc.cors_origins = origins;
	lc.n_cors_origins = 1;
	l = actr__sig_listen(r, &cfg, &lc);
	CHECK(l);
	x.port = actr__sig_listener_port(l);
	nt_run_with_thread(r, raw_client, &x, 15);

	CHECK(!strncmp(x.out[0], "HTTP/1.1 200", 12));
	CHECK(strstr(x.out[0], "Content-Type: text/html; charset=utf-8\r\n"));
	CHECK(strstr(x.out[0], "<p>home</p>"));
	CHECK(!strncmp(x.out[1], "HTTP/1.1 403", 12));
	CHECK(!strstr(x.out[1], "TOPSECRET"));
	CHECK(!strncmp(x.out[2], "HTTP/1.1 204", 12));
	CHECK(strstr(x.out[2], "Access-Control-Allow-Origin: "
		     "http://localhost:9\r\n"));
	CHECK(strstr(x.out[2], "Access-Control-Max-Age: 600\r\n"));
	CHECK(!strncmp(x.out[3], "HTTP/1.1 403", 12));
	CHECK(!strstr(x.out[3], "Access-Control-Allow-Origin"));
	CHECK(!strncmp(x.out[4], "HTTP/1.1 200", 12));
	CHECK(strstr(x.out[4], "Access-Control-Allow-Origin: "
		     "http://localhost:9\r\nVary: Origin\r\n"));
	CHECK(strstr(x.out[4], "\"status\":\"ok\""));
	CHECK(!strncmp(x.out[5], "HTTP/1.1 403", 12));
	st = actr__sig_web_stats(actr__sig_listener_web(l));
	CHECK_EQ(st->files_served, 1);
	CHECK_EQ(st->refused, 1);
	CHECK_EQ(st->preflights, 1);
	CHECK_EQ(st->cors_denied, 2);
	actr__sig_listener_free(l);
	nt_drain(r);
	actr_reactor_free(r);
}

/* ---- the program: flags and key file --------------------------------- */

/* Path of the built actr-signal next to this test binary. */
static void signal_prog(char *out, size_t cap)
{
	char exe[1024];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	CHECK(n > 0);
	exe[n] = 0;
	*strrchr(exe, '/') = 0; /* .../build/test */
	*strrchr(exe, '/') = 0; /* .../build */
	snprintf(out, cap, "%s/actr-signal", exe);
	CHECK(access(out, X_OK) == 0);
}

static pid_t spawn_signal(char *const argv[], const char *log)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd < 0)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* The start of file path as a string (out, cap bytes). */
static const char *slurp(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f) {
		n = fread(out, 1, cap - 1, f);
		fclose(f);
	}
	out[n] = 0;
	return out;
}

/* Wait (bounded) for every string of want in the log; the port. */
static unsigned wait_log(const char *log, const char *const *want, size_t n)
{
	static char buf[16384];
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
	const char *key = "listening on http://127.0.0.1:";

	while (actr_time_ns() < end) {
		FILE *f = fopen(log, "r");
		size_t got = 0, i;
		const char *p;

		if (f) {
			got = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
		}
		buf[got] = 0;
		for (i = 0; i < n && strstr(buf, want[i]); i++)
			;
		p = strstr(buf, key);
		if (i == n && p)
			return (unsigned)atoi(p + strlen(key));
		usleep(20000);
	}
	actr_test_fail(__FILE__, __LINE__, "log lacks what was wanted:\n%s",
		       buf);
}

TEST_TIMEOUT(signal_www_program_config, 30)
{
	const char *tmp = actr_test_tmpdir();
	char prog[1100], conf[600], log[600], www[512], out[4096];
	static const char *const want[] = {
		"serving the files of",
		"CORS: admitting pages of http://a.example:1",
		"CORS: admitting pages of http://b.example:2",
		"CORS: admitting pages of http://c.example:3",
	};
	char *argv[8];
	unsigned port;
	pid_t pid;
	int st = -1, fd;
	FILE *f;

	signal_prog(prog, sizeof(prog));
	tree(www, sizeof(www));
	snprintf(conf, sizeof(conf), "%s/signal.conf", tmp);
	snprintf(log, sizeof(log), "%s/signal.log", tmp);
	f = fopen(conf, "w");
	CHECK(f);
	/* list entries with spaces around them are trimmed */
	fprintf(f, "[server]\nlisten = 127.0.0.1:0\ndb = %s/db\nwww = %s\n"
		"cors_origins = http://a.example:1; http://b.example:2 ;\n",
		tmp, www);
	fclose(f);
	argv[0] = prog;
	argv[1] = "--config";
	argv[2] = conf;
	argv[3] = "--cors-origin";
	argv[4] = "http://c.example:3";
	argv[5] = NULL;
	pid = spawn_signal(argv, log);
	port = wait_log(log, want, sizeof(want) / sizeof(want[0]));
	CHECK(port > 0);

	fd = nt_connect(port);
	CHECK(fd >= 0);
	{
		const char *req = "GET /app.js HTTP/1.1\r\nHost: x\r\n\r\n";

		CHECK_OK(nt_send(fd, req, strlen(req)));
	}
	CHECK(nt_read_response(fd, out, sizeof(out)) > 0);
	close(fd);
	CHECK(!strncmp(out, "HTTP/1.1 200", 12));
	CHECK(strstr(out, "export const x = 1;"));

	fd = nt_connect(port);
	CHECK(fd >= 0);
	{
		const char *req = "OPTIONS /ais/register HTTP/1.1\r\nHost: x\r\n"
				  "Origin: http://b.example:2\r\n"
				  "Access-Control-Request-Method: POST\r\n\r\n";

		CHECK_OK(nt_send(fd, req, strlen(req)));
	}
	CHECK(nt_read_response(fd, out, sizeof(out)) > 0);
	close(fd);
	CHECK(!strncmp(out, "HTTP/1.1 204", 12));
	CHECK(strstr(out, "Access-Control-Allow-Origin: http://b.example:2"));
	kill(pid, SIGTERM);
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		actr_test_fail(__FILE__, __LINE__, "actr-signal ended with "
			       "status 0x%x; log:\n%s", st,
			       slurp(log, out, sizeof(out)));

	/* a wildcard origin is refused at start-up */
	argv[3] = "--cors-origin";
	argv[4] = "*";
	pid = spawn_signal(argv, log);
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) != 0);
}
