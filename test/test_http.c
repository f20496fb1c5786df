/* Tests of wire/http_parse.c: head parser, chunked decoder, URL and query
 * parsing (sans-I/O, no sockets). */
#define _GNU_SOURCE
#include <errno.h>

#include <actr/actr.h>
#include <actr/net.h>

#include "test.h"
#include "core/internal.h"
#include "net/http_internal.h"

static const struct actr__http_limits lim = { 8192, 64, 1 << 20 };

/* Parse a NUL-terminated copy of s in one go. */
static ssize_t parse(const char *s, bool req, struct actr__http_msg *m,
		     char *buf, size_t cap)
{
	size_t scanned = 0, n = strlen(s);

	CHECK(n < cap);
	memcpy(buf, s, n + 1);
	return actr__http_parse(buf, n, req, &lim, &scanned, m);
}

TEST(http_parse_request_basic)
{
	static char buf[4096];
	static struct actr__http_msg m;
	const char *req = "POST /ais/register?x=1 HTTP/1.1\r\n"
			  "Host: 127.0.0.1:80\r\n"
			  "Content-Type: application/x-protobuf\r\n"
			  "content-length:  12 \r\n"
			  "X-Empty:\r\n"
			  "\r\nbody";

	CHECK_EQ(parse(req, true, &m, buf, sizeof(buf)), strlen(req) - 4);
	CHECK_STR(m.method, "POST");
	CHECK_STR(m.target, "/ais/register?x=1");
	CHECK_EQ(m.minor, 1);
	CHECK_EQ(m.nhdr, 4);
	CHECK_EQ(m.content_length, 12);
	CHECK(m.keep_alive);
	CHECK(!m.upgrade_ws);
	CHECK(!m.chunked);
	CHECK_STR(actr__http_header(&m, "CONTENT-TYPE"),
		  "application/x-protobuf");
	CHECK_STR(actr__http_header(&m, "x-empty"), "");
	CHECK(actr__http_header(&m, "missing") == NULL);
}

TEST(http_parse_upgrade_and_keepalive)
{
	static char buf[4096];
	static struct actr__http_msg m;

	CHECK(parse("GET /signaling/ws HTTP/1.1\r\nHost: a\r\n"
		    "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
		    "\r\n", true, &m, buf, sizeof(buf)) > 0);
	CHECK(m.upgrade_ws);
	CHECK(m.keep_alive);
	CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		    true, &m, buf, sizeof(buf)) > 0);
	CHECK(!m.keep_alive);
	CHECK(parse("GET / HTTP/1.0\r\n\r\n", true, &m, buf, sizeof(buf)) > 0);
	CHECK(!m.keep_alive);
	CHECK_EQ(m.minor, 0);
	CHECK(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true,
		    &m, buf, sizeof(buf)) > 0);
	CHECK(m.keep_alive);
	/* Upgrade without Connection: upgrade is not an upgrade. */
	CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
		    true, &m, buf, sizeof(buf)) > 0);
	CHECK(!m.upgrade_ws);
}

TEST(http_parse_leading_empty_lines_counted)
{
	static char buf[4096];
	static struct actr__http_msg m;
	const char *req = "\r\n\r\nPOST /e HTTP/1.1\r\nHost: h\r\n"
			  "Content-Length: 2\r\n\r\nabGET";
	size_t head = strlen(req) - 5;

	/* The empty lines are part of the head: after consuming head_len
	 * and the body, exactly the next request's bytes remain. */
	CHECK_EQ(parse(req, true, &m, buf, sizeof(buf)), head);
	CHECK_STR(m.method, "POST");
	CHECK_MEM(buf + head, "abGET", 5);
	/* Only empty lines so far: wait for more. */
	CHECK_EQ(parse("\r\n\r\n", true, &m, buf, sizeof(buf)), -EAGAIN);
}

TEST(http_parse_incremental_bytewise)
{
	static char buf[4096];
	static struct actr__http_msg m;
	const char *req = "GET /x HTTP/1.1\r\nHost: h\r\nA: b\r\n\r\n";
	size_t n = strlen(req), scanned = 0;

	for (size_t i = 1; i < n; i++) {
		memcpy(buf, req, i);
		CHECK_EQ(actr__http_parse(buf, i, true, &lim, &scanned, &m),
			 -EAGAIN);
		CHECK_EQ(scanned, i);
	}
	memcpy(buf, req, n);
	CHECK_EQ(actr__http_parse(buf, n, true, &lim, &scanned, &m), n);
	CHECK_STR(actr__http_header(&m, "a"), "b");
}

struct bad_case {
	const char *text;
	int rc;
	int status;
};

TEST(http_parse_rejects_malformed)
{
	static char buf[4096];
	static struct actr__http_msg m;
	static const struct bad_case cases[] = {
		{ "GET\r\n\r\n", -ACTR_EPROTO, 400 },
		{ "GET / HTTP/1.1\r\n\r\n", -ACTR_EPROTO, 400 }, /* no Host */
		{ "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", -ACTR_EPROTO, 400 },
		{ "GET / HTTP/2.0\r\nHost: a\r\n\r\n", -ACTR_EPROTO, 505 },
		{ "GET / HTTX/1.1\r\nHost: a\r\n\r\n", -ACTR_EPROTO, 400 },
		{ "GET x HTTP/1.1\r\nHost: a\r\n\r\n", -ACTR_EPROTO, 400 },
		{ "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", -ACTR_EPROTO, 400 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
		  -ACTR_EPROTO, 400 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", -ACTR_EPROTO,
		  400 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nA: b\r\n folded\r\n\r\n",
		  -ACTR_EPROTO, 400 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nA: b\x01\r\n\r\n", -ACTR_EPROTO,
		  400 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", -ACTR_EPROTO,
		  400 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
		  -ACTR_EPROTO, 400 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
		  "Content-Length: 2\r\n\r\n", -ACTR_EPROTO, 400 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n",
		  -ACTR_ETOOBIG, 413 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "
		  "99999999999999999999999\r\n\r\n", -ACTR_ETOOBIG, 413 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
		  -ACTR_EPROTO, 501 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		  "Content-Length: 3\r\n\r\n", -ACTR_EPROTO, 400 },
		{ "HTTP/1.1 200 OK\r\n\r\n", -ACTR_EPROTO, 400 }, /* as req */
	};

	for (size_t i = 0; i < ACTR_ARRAY_LEN(cases); i++) {
		ssize_t rc = parse(cases[i].text, true, &m, buf, sizeof(buf));

		if (rc != cases[i].rc || m.error_status != cases[i].status)
			actr_test_fail(__FILE__, __LINE__,
				       "case %zu: rc %zd status %d", i, rc,
				       m.error_status);
	}
}

TEST(http_parse_limits)
{
	static char buf[16384];
	static struct actr__http_msg m;
	struct actr__http_limits small = { 200, 4, 100 };
	size_t scanned = 0, n;

	/* Head larger than max_head without a terminator: 431 early. */
	memset(buf, 'a', 300);
	memcpy(buf, "GET /", 5);
	CHECK_EQ(actr__http_parse(buf, 300, true, &small, &scanned, &m),
		 -ACTR_ETOOBIG);
	CHECK_EQ(m.error_status, 431);
	/* Complete head over the limit: 431. */
	n = (size_t)snprintf(buf, sizeof(buf),
			     "GET / HTTP/1.1\r\nHost: a\r\nX: %0250d\r\n\r\n", 0);
	scanned = 0;
	CHECK_EQ(actr__http_parse(buf, n, true, &small, &scanned, &m),
		 -ACTR_ETOOBIG);
	CHECK_EQ(m.error_status, 431);
	/* Too many header fields: 431. */
	n = (size_t)snprintf(buf, sizeof(buf),
			     "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n"
			     "C: 3\r\nD: 4\r\n\r\n");
	scanned = 0;
	CHECK_EQ(actr__http_parse(buf, n, true, &small, &scanned, &m),
		 -ACTR_ETOOBIG);
	CHECK_EQ(m.error_status, 431);
	/* Exactly four is fine. */
	n = (size_t)snprintf(buf, sizeof(buf),
			     "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n"
			     "C: 3\r\n\r\n");
	scanned = 0;
	CHECK_EQ(actr__http_parse(buf, n, true, &small, &scanned, &m), n);
}

TEST(http_parse_response)
{
	static char buf[4096];
	static struct actr__http_msg m;

	CHECK(parse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		    "Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n",
		    false, &m, buf, sizeof(buf)) > 0);
	CHECK_EQ(m.status, 101);
	CHECK(m.upgrade_ws);
	CHECK(parse("HTTP/1.1 401\r\nContent-Length: 0\r\n\r\n", false, &m, buf,
		    sizeof(buf)) > 0);
	CHECK_EQ(m.status, 401);
	CHECK_EQ(m.content_length, 0);
	CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		    false, &m, buf, sizeof(buf)) > 0);
	CHECK(m.chunked);
	CHECK_EQ(parse("HTTP/1.1 2x0 OK\r\n\r\n", false, &m, buf, sizeof(buf)),
		 -ACTR_EPROTO);
	CHECK_EQ(parse("HTTP/1.1 099 X\r\n\r\n", false, &m, buf, sizeof(buf)),
		 -ACTR_EPROTO);
}

TEST(http_chunked_decode)
{
	static const char body[] = "4\r\nWiki\r\n5;ext=1\r\npedia\r\n"
				   "E\r\n in\r\n\r\nchunks.\r\n0\r\n"
				   "Trailer: x\r\n\r\nNEXT";
	uint8_t buf[128];
	struct actr__http_chunked c = { 0 };
	size_t out = 0, total = 0, in_off = 0, n = strlen(body);

	/* Feed in 3-byte pieces, compacting like the server does. */
	memcpy(buf, body, n);
	while (!c.done) {
		size_t avail = ACTR_MIN(n - in_off, (size_t)3);
		ssize_t rc;

		CHECK(avail > 0);
		rc = actr__http_chunked_decode(&c, buf + in_off, avail, &out,
					       1000);
		CHECK(rc >= 0);
		memmove(buf + total, buf + in_off, out);
		total += out;
		in_off += (size_t)rc;
	}
	CHECK_EQ(total, 23);
	CHECK_MEM(buf, "Wikipedia in\r\n\r\nchunks.", 23);
	CHECK_MEM(body + in_off, "NEXT", 4);

	memset(&c, 0, sizeof(c));
	memcpy(buf, "zz\r\n", 4);
	CHECK_EQ(actr__http_chunked_decode(&c, buf, 4, &out, 1000),
		 -ACTR_EPROTO);
	memset(&c, 0, sizeof(c));
	memcpy(buf, "3e9\r\n", 5);
	CHECK_EQ(actr__http_chunked_decode(&c, buf, 5, &out, 1000),
		 -ACTR_ETOOBIG);
	memset(&c, 0, sizeof(c));
	memcpy(buf, "1\r\nab\r\n", 7); /* chunk longer than announced */
	CHECK_EQ(actr__http_chunked_decode(&c, buf, 7, &out, 1000),
		 -ACTR_EPROTO);
}

TEST(http_query_get_percent_decoding)
{
	char out[64];

	CHECK_EQ(actr_http_query_get("actor_id=a%3Ab&key_id=7&claims=AB%2BC%2F%3D"
				     "&flag&sp=a+b", "claims", out, sizeof(out)),
		 6);
	CHECK_STR(out, "AB+C/=");
	CHECK_EQ(actr_http_query_get("?actor_id=a%3Ab", "actor_id", out,
				     sizeof(out)), 3);
	CHECK_STR(out, "a:b");
	CHECK_EQ(actr_http_query_get("a=1&flag&sp=a+b", "flag", out,
				     sizeof(out)), 0);
	CHECK_STR(out, "");
	CHECK_EQ(actr_http_query_get("a=1&sp=a+b", "sp", out, sizeof(out)), 3);
	CHECK_STR(out, "a b");
	CHECK_EQ(actr_http_query_get("a=1", "b", out, sizeof(out)), -ACTR_ENOTFOUND);
	CHECK_EQ(actr_http_query_get("a=%4", "a", out, sizeof(out)), -ACTR_EPROTO);
	CHECK_EQ(actr_http_query_get("a=%zz", "a", out, sizeof(out)), -ACTR_EPROTO);
	CHECK_EQ(actr_http_query_get("a=123456", "a", out, 4), -ENOSPC);
	CHECK_EQ(actr_http_query_get("", "a", out, sizeof(out)), -ACTR_ENOTFOUND);
}

TEST(http_url_parse)
{
	struct actr__url u;

	CHECK_OK(actr__url_parse("ws://127.0.0.1:8080/signaling/ws?a=b", &u));
	CHECK(u.ws && !u.tls);
	CHECK_STR(u.host, "127.0.0.1");
	CHECK_EQ(u.port, 8080);
	CHECK_STR(u.target, "/signaling/ws?a=b");
	CHECK_STR(u.hostport, "127.0.0.1:8080");
	CHECK_OK(actr__url_parse("https://[::1]/x#frag", &u));
	CHECK(u.tls && !u.ws);
	CHECK_STR(u.host, "::1");
	CHECK_EQ(u.port, 443);
	CHECK_STR(u.target, "/x");
	CHECK_STR(u.hostport, "[::1]:443");
	CHECK_OK(actr__url_parse("http://h?q=1", &u));
	CHECK_STR(u.target, "/?q=1");
	CHECK_EQ(u.port, 80);
	CHECK_EQ(actr__url_parse("ftp://h/", &u), -EINVAL);
	CHECK_EQ(actr__url_parse("http://:80/", &u), -EINVAL);
	CHECK_EQ(actr__url_parse("http://h:0/", &u), -EINVAL);
	CHECK_EQ(actr__url_parse("http://h:99999/", &u), -EINVAL);
	CHECK_EQ(actr__url_parse("http://u@h/", &u), -EINVAL);
	CHECK_EQ(actr__url_parse("http://h/a b", &u), -EINVAL);
}

TEST(http_writer_response_head_and_header_check)
{
	char buf[256];
	ssize_t n;

	n = actr__http_response_head(buf, sizeof(buf), 401, "text/plain",
				     "X-A: 1\r\n", 6, false);
	CHECK(n > 0);
	CHECK_STR(buf, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 6\r\n"
		       "Content-Type: text/plain\r\nConnection: close\r\n"
		       "X-A: 1\r\n\r\n");
	n = actr__http_response_head(buf, sizeof(buf), 200, NULL, NULL, 0, true);
	CHECK_STR(buf, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	CHECK_EQ(actr__http_response_head(buf, 10, 200, NULL, NULL, 0, true),
		 -ENOSPC);
	CHECK_EQ(actr__http_response_head(NULL, 0, 200, NULL, NULL, 0, true),
		 38);
	/* What the writer produces, the parser accepts. */
	{
		static struct actr__http_msg m;
		struct actr__http_limits l2 = { 1024, 16, 100 };
		size_t scanned = 0;

		n = actr__http_response_head(buf, sizeof(buf), 413, "a/b",
					     "X-Y: z\r\n", 7, false);
		CHECK_EQ(actr__http_parse(buf, (size_t)n, false, &l2, &scanned,
					  &m), n);
		CHECK_EQ(m.status, 413);
		CHECK_EQ(m.content_length, 7);
		CHECK(!m.keep_alive);
		CHECK_STR(actr__http_header(&m, "x-y"), "z");
	}
	CHECK(actr__http_headers_valid(NULL));
	CHECK(actr__http_headers_valid(""));
	CHECK(actr__http_headers_valid("A: b\r\nC-d: e f\r\n"));
	CHECK(!actr__http_headers_valid("A: b"));
	CHECK(!actr__http_headers_valid("A: b\r\n\r\nGET / HTTP/1.1\r\n"));
	CHECK(!actr__http_headers_valid("A: b\nC: d\r\n"));
	CHECK(!actr__http_headers_valid(": b\r\n"));
	CHECK(!actr__http_headers_valid("A b: c\r\n"));
}
