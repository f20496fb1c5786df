/* Fuzz-style tests: random and mutated bytes into the HTTP head parser,
 * the chunked decoder, the query parser and the WebSocket decoder, for a
 * bounded number of iterations. Asserts no crash (ASan/valgrind catch
 * memory errors) and only the documented return codes and invariants. */
#define _GNU_SOURCE
#include <errno.h>

#include <actr/actr.h>
#include <actr/net.h>

#include "core/internal.h"
#include "test.h"
#include "net/http_internal.h"
#include "net/ws_internal.h"

#define ITER 20000

static uint64_t rs = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

static const char *const http_seeds[] = {
	"GET /signaling/ws?actor_id=a&key_id=1 HTTP/1.1\r\nHost: h\r\n"
	"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
	"dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
	"POST /ais/register HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
	"Content-Type: application/x-protobuf\r\n\r\nabcd",
	"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	"3\r\nabc\r\n0\r\n\r\n",
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	"Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
};

/* Produce a mutated copy of a seed (or pure noise) into buf. */
static size_t mutate(uint8_t *buf, size_t cap, const char *seed)
{
	size_t n;

	if (rnd() % 8 == 0) {
		n = rnd() % cap;
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)rnd();
		return n;
	}
	n = strlen(seed);
	memcpy(buf, seed, n);
	for (int k = (int)(rnd() % 8); k >= 0; k--) {
		size_t pos = n ? rnd() % n : 0;

		switch (rnd() % 5) {
		case 0: /* flip a byte */
			buf[pos] = (uint8_t)rnd();
			break;
		case 1: /* special characters */
			buf[pos] = (uint8_t)"\r\n :\0\t%,;\x80\xff"[rnd() % 12];
			break;
		case 2: /* truncate */
			n = pos;
			break;
		case 3: /* duplicate a range */
			if (n + 64 < cap) {
				size_t len = rnd() % 64;

				if (pos + len > n)
					len = n - pos;
				memmove(buf + pos + len, buf + pos, n - pos);
				n += len;
			}
			break;
		default: /* insert a run */
			if (n + 300 < cap) {
				size_t len = rnd() % 300;

				memmove(buf + pos + len, buf + pos, n - pos);
				memset(buf + pos, "a\r\n:"[rnd() % 4], len);
				n += len;
			}
			break;
		}
	}
	return n;
}

TEST_TIMEOUT(net_fuzz_http_parser, 60)
{
	static uint8_t buf[8192], copy[8192];
	static struct actr__http_msg m;
	struct actr__http_limits lim = { 2048, 16, 4096 };
	int ok = 0, again = 0, bad = 0;

	for (int it = 0; it < ITER; it++) {
		const char *seed = http_seeds[rnd() % ACTR_ARRAY_LEN(http_seeds)];
		size_t n = mutate(buf, sizeof(buf) - 1, seed);
		bool req = rnd() & 1;
		size_t scanned = 0, cut;
		ssize_t rc;

		/* Feed a prefix first, as a socket would. */
		memcpy(copy, buf, n);
		cut = n ? rnd() % (n + 1) : 0;
		rc = actr__http_parse((char *)copy, cut, req, &lim, &scanned,
				      &m);
		if (rc == -EAGAIN) {
			CHECK(scanned <= cut);
			memcpy(copy, buf, n);
			rc = actr__http_parse((char *)copy, n, req, &lim,
					      &scanned, &m);
		}
		if (rc > 0) {
			ok++;
			CHECK((size_t)rc <= n && (size_t)rc <= lim.max_head);
			CHECK(m.nhdr <= lim.max_headers);
			for (unsigned i = 0; i < m.nhdr; i++) {
				CHECK(m.hdr[i].name >= (char *)copy);
				CHECK(m.hdr[i].value < (char *)copy + rc);
				CHECK(strlen(m.hdr[i].name) > 0);
			}
			CHECK(m.content_length <= (int64_t)lim.max_body);
			if (req)
				CHECK(m.method && m.target);
			else
				CHECK(m.status >= 100 && m.status <= 999);
		} else if (rc == -EAGAIN) {
			again++;
		} else {
			bad++;
			CHECK(rc == -ACTR_EPROTO || rc == -ACTR_ETOOBIG);
			CHECK(m.error_status == 400 || m.error_status == 413 ||
			      m.error_status == 431 || m.error_status == 501 ||
			      m.error_status == 505);
		}
	}
	/* The mutator must reach every outcome, or the test proves little. */
	CHECK(ok > 100 && again > 100 && bad > 100);
}

TEST_TIMEOUT(net_fuzz_chunked_and_query, 60)
{
	static uint8_t buf[4096];
	char out[64];
	int done = 0;

	for (int it = 0; it < ITER; it++) {
		size_t n = mutate(buf, sizeof(buf) - 1,
				  "5\r\nhello\r\n1;x=y\r\n!\r\n0\r\nT: v\r\n\r\n");
		struct actr__http_chunked c = { 0 };
		size_t off = 0, total = 0;

		while (off < n && !c.done) {
			size_t part = 1 + rnd() % (n - off), o = 0;
			ssize_t rc = actr__http_chunked_decode(&c, buf + off,
							       part, &o, 100);

			if (rc < 0) {
				CHECK(rc == -ACTR_EPROTO || rc == -ACTR_ETOOBIG);
				break;
			}
			CHECK((size_t)rc <= part && o <= (size_t)rc);
			total += o;
			off += (size_t)rc;
			if (rc == 0 && !c.done)
				break; /* must not happen: no progress */
		}
		CHECK(total <= 100);
		done += c.done;

		buf[n] = '\0';
		{
			ssize_t q = actr_http_query_get((char *)buf, "a", out,
							sizeof(out));

			CHECK(q >= 0 || q == -ACTR_ENOTFOUND || q == -ACTR_EPROTO ||
			      q == -ENOSPC);
			if (q >= 0)
				CHECK((size_t)q < sizeof(out));
		}
	}
	CHECK(done > 100);
}

TEST_TIMEOUT(net_fuzz_ws_decoder, 60)
{
	static uint8_t buf[8192], stream[8192];
	int events = 0, errors = 0;

	for (int it = 0; it < ITER; it++) {
		struct actr__ws_dec d;
		bool server = rnd() & 1;
		size_t n = 0, off = 0;
		int frames = 1 + (int)(rnd() % 4);

		/* A few valid-looking frames, then mutations. */
		for (int f = 0; f < frames && n + 300 < sizeof(buf); f++) {
			static const int ops[] = { 0x81, 0x82, 0x01, 0x00, 0x80,
						   0x89, 0x8A, 0x88 };
			uint8_t mask[4] = { (uint8_t)rnd(), 1, 2, 3 };
			size_t len = rnd() % 200;
			size_t hl = actr__ws_header(buf + n, ops[rnd() % 8] & 0xf,
						    true, len,
						    server ? mask : NULL);

			buf[n] = (uint8_t)ops[rnd() % 8];
			for (size_t i = 0; i < len; i++)
				buf[n + hl + i] = (uint8_t)(rnd() % 3 ? 'a' + i % 26 : rnd());
			n += hl + len;
		}
		for (int k = (int)(rnd() % 4); k > 0 && n; k--)
			buf[rnd() % n] = (uint8_t)rnd();
		actr__ws_dec_init(&d, server, 150, 400);
		memcpy(stream, buf, n);
		for (int step = 0; step < 64; step++) {
			struct actr__ws_event ev;
			size_t used, avail = n - off;
			int rc;

			/* Sometimes present only part of what is there. */
			if (avail && rnd() % 3 == 0)
				avail = rnd() % avail;
			rc = actr__ws_decode(&d, stream + off, avail, &ev,
					     &used);
			CHECK(used <= avail);
			if (rc < 0) {
				errors++;
				CHECK(rc == -ACTR_EPROTO || rc == -ACTR_ETOOBIG);
				CHECK(d.close_code == 1002 ||
				      d.close_code == 1007 ||
				      d.close_code == 1009);
				CHECK(actr__ws_close_code_valid(d.close_code));
				break;
			}
			off += used;
			if (rc == 1) {
				events++;
				CHECK(ev.op == ACTR__WS_TEXT ||
				      ev.op == ACTR__WS_BINARY ||
				      ev.op == ACTR__WS_PING ||
				      ev.op == ACTR__WS_PONG ||
				      ev.op == ACTR__WS_CLOSE);
				if (ev.op == ACTR__WS_TEXT)
					CHECK(actr__utf8_step(0, ev.data,
							      ev.len) == 0);
				if (ev.op & 0x8)
					CHECK(ev.len <= 125);
				else
					CHECK(ev.len <= 400);
				if (ev.op == ACTR__WS_CLOSE)
					CHECK(ev.close_code == 1005 ||
					      actr__ws_close_code_valid(
						      ev.close_code));
			} else if (used == 0 && avail == n - off) {
				break; /* needs more than there is */
			}
		}
		actr__ws_dec_free(&d);
	}
	CHECK(events > 1000 && errors > 1000);
}
