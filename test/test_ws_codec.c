/* Tests of wire/ws_codec.c: RFC 6455 frame decoding (every close-code
 * path), encoding, UTF-8 checking, handshake keys (sans-I/O). */
#define _GNU_SOURCE
#include <errno.h>

#include <actr/actr.h>

#include "core/internal.h"
#include "test.h"
#include "net/ws_internal.h"

static const uint8_t kmask[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* Build a frame into out; masked when mask != 0. Returns its length. */
static size_t frame(uint8_t *out, int first_byte, const void *p, size_t n,
		    bool mask)
{
	size_t hl = actr__ws_header(out, first_byte & 0x0f,
				    (first_byte & 0x80) != 0, n,
				    mask ? kmask : NULL);

	out[0] = (uint8_t)first_byte; /* keep RSV bits as given */
	if (n)
		memcpy(out + hl, p, n);
	if (mask)
		actr__ws_mask(out + hl, n, kmask, 0);
	return hl + n;
}

/* Decode one buffer, expecting an error with the given close code. */
static void expect_error(bool server, const uint8_t *in, size_t n, int code)
{
	struct actr__ws_dec d;
	struct actr__ws_event ev;
	uint8_t *copy = malloc(n + 1);
	size_t used, off = 0;
	int rc = 0;

	memcpy(copy, in, n);
	actr__ws_dec_init(&d, server, 1000, 3000);
	for (int i = 0; i < 16 && off <= n; i++) {
		rc = actr__ws_decode(&d, copy + off, n - off, &ev, &used);
		if (rc < 0)
			break;
		if (rc == 0 && used == 0)
			break;
		off += used;
	}
	if (rc >= 0 || d.close_code != code)
		actr_test_fail(__FILE__, __LINE__, "rc %d code %d, want %d", rc,
			       d.close_code, code);
	actr__ws_dec_free(&d);
	free(copy);
}

TEST(ws_codec_single_frames)
{
	struct actr__ws_dec d;
	struct actr__ws_event ev;
	uint8_t buf[256];
	size_t n, used;

	actr__ws_dec_init(&d, true, 1000, 3000);
	n = frame(buf, 0x81, "héllo", 6, true);
	CHECK_EQ(actr__ws_decode(&d, buf, n, &ev, &used), 1);
	CHECK_EQ(used, n);
	CHECK_EQ(ev.op, ACTR__WS_TEXT);
	CHECK_EQ(ev.len, 6);
	CHECK_MEM(ev.data, "héllo", 6);
	CHECK(ev.data == buf + 6); /* unmasked in place, no copy */
	n = frame(buf, 0x82, "\x00\xff\x01", 3, true);
	CHECK_EQ(actr__ws_decode(&d, buf, n, &ev, &used), 1);
	CHECK_EQ(ev.op, ACTR__WS_BINARY);
	CHECK_MEM(ev.data, "\x00\xff\x01", 3);
	n = frame(buf, 0x82, NULL, 0, true);
	CHECK_EQ(actr__ws_decode(&d, buf, n, &ev, &used), 1);
	CHECK_EQ(ev.len, 0);
	n = frame(buf, 0x89, "ping", 4, true);
	CHECK_EQ(actr__ws_decode(&d, buf, n, &ev, &used), 1);
	CHECK_EQ(ev.op, ACTR__WS_PING);
	n = frame(buf, 0x8A, "pong", 4, true);
	CHECK_EQ(actr__ws_decode(&d, buf, n, &ev, &used), 1);
	CHECK_EQ(ev.op, ACTR__WS_PONG);
	CHECK_MEM(ev.data, "pong", 4);
	/* Partial input: nothing consumed. */
	n = frame(buf, 0x82, "abcdef", 6, true);
	for (size_t i = 0; i < n; i++) {
		CHECK_EQ(actr__ws_decode(&d, buf, i, &ev, &used), 0);
		CHECK_EQ(used, 0);
	}
	actr__ws_dec_free(&d);
}

TEST(ws_codec_fragmented_with_interleaved_ping)
{
	struct actr__ws_dec d;
	struct actr__ws_event ev;
	uint8_t buf[512];
	size_t n = 0, off = 0, used;
	const char *euro = "\xe2\x82\xac"; /* split across fragments */

	actr__ws_dec_init(&d, false, 1000, 3000);
	n += frame(buf + n, 0x01, "ab\xe2", 3, false);
	n += frame(buf + n, 0x89, "p", 1, false);
	n += frame(buf + n, 0x00, "\x82", 1, false);
	n += frame(buf + n, 0x80, "\xac" "cd", 3, false);
	CHECK_EQ(actr__ws_decode(&d, buf, n, &ev, &used), 0);
	CHECK(used > 0);
	off += used;
	CHECK_EQ(actr__ws_decode(&d, buf + off, n - off, &ev, &used), 1);
	CHECK_EQ(ev.op, ACTR__WS_PING);
	off += used;
	CHECK_EQ(actr__ws_decode(&d, buf + off, n - off, &ev, &used), 0);
	off += used;
	CHECK_EQ(actr__ws_decode(&d, buf + off, n - off, &ev, &used), 1);
	off += used;
	CHECK_EQ(off, n);
	CHECK_EQ(ev.op, ACTR__WS_TEXT);
	CHECK_EQ(ev.len, 7);
	CHECK_MEM(ev.data, "ab", 2);
	CHECK_MEM(ev.data + 2, euro, 3);
	CHECK_MEM(ev.data + 5, "cd", 2);
	/* A second fragmented message reuses the buffer. */
	n = frame(buf, 0x02, "x", 1, false);
	n += frame(buf + n, 0x80, "y", 1, false);
	CHECK_EQ(actr__ws_decode(&d, buf, n, &ev, &used), 0);
	CHECK_EQ(actr__ws_decode(&d, buf + used, n - used, &ev, &used), 1);
	CHECK_EQ(ev.op, ACTR__WS_BINARY);
	CHECK_EQ(ev.len, 2);
	CHECK_MEM(ev.data, "xy", 2);
	actr__ws_dec_free(&d);
}

TEST(ws_codec_long_lengths_bytewise)
{
	struct actr__ws_dec d;
	struct actr__ws_event ev;
	size_t len = 70000, n, used;
	uint8_t *buf = malloc(len + 20), *p = malloc(len);

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7);
	n = frame(buf, 0x82, p, len, true);
	CHECK_EQ(n, len + 14);
	actr__ws_dec_init(&d, true, 100000, 100000);
	for (size_t i = 0; i < 20; i++)
		CHECK_EQ(actr__ws_decode(&d, buf, i, &ev, &used), 0);
	CHECK_EQ(actr__ws_decode(&d, buf, n - 1, &ev, &used), 0);
	CHECK_EQ(used, 0);
	CHECK_EQ(actr__ws_decode(&d, buf, n, &ev, &used), 1);
	CHECK_EQ(ev.len, len);
	CHECK_MEM(ev.data, p, len);
	/* 16-bit length form */
	n = frame(buf, 0x82, p, 300, true);
	CHECK_EQ(n, 300 + 8);
	CHECK_EQ(actr__ws_decode(&d, buf, n, &ev, &used), 1);
	CHECK_MEM(ev.data, p, 300);
	actr__ws_dec_free(&d);
	free(buf);
	free(p);
}

TEST(ws_codec_header_sizes)
{
	uint8_t h[ACTR__WS_MAX_HEADER];

	CHECK_EQ(actr__ws_header(h, 2, true, 125, NULL), 2);
	CHECK_EQ(h[1], 125);
	CHECK_EQ(actr__ws_header(h, 2, true, 126, NULL), 4);
	CHECK_EQ(h[1], 126);
	CHECK_EQ(actr__ws_header(h, 2, true, 65535, NULL), 4);
	CHECK_EQ(actr__ws_header(h, 2, true, 65536, NULL), 10);
	CHECK_EQ(h[1], 127);
	CHECK_EQ(actr__ws_header(h, 2, false, 1, kmask), 6);
	CHECK_EQ(h[0], 0x02);
	CHECK_EQ(h[1], 0x81);
}

TEST(ws_codec_protocol_violations_1002)
{
	uint8_t b[300];
	size_t n;

	n = frame(b, 0xC2, "x", 1, true); /* RSV1 */
	expect_error(true, b, n, 1002);
	n = frame(b, 0x92, "x", 1, true); /* RSV3 */
	expect_error(true, b, n, 1002);
	n = frame(b, 0x83, "x", 1, true); /* reserved data opcode */
	expect_error(true, b, n, 1002);
	n = frame(b, 0x8B, "x", 1, true); /* reserved control opcode */
	expect_error(true, b, n, 1002);
	n = frame(b, 0x09, "x", 1, true); /* fragmented ping */
	expect_error(true, b, n, 1002);
	{
		uint8_t big[200];

		memset(big, 'a', sizeof(big));
		n = frame(b, 0x89, big, 126, true); /* control > 125 */
	}
	expect_error(true, b, n, 1002);
	n = frame(b, 0x82, "x", 1, false); /* unmasked to a server */
	expect_error(true, b, n, 1002);
	n = frame(b, 0x82, "x", 1, true); /* masked to a client */
	expect_error(false, b, n, 1002);
	n = frame(b, 0x80, "x", 1, true); /* continuation, no message */
	expect_error(true, b, n, 1002);
	n = frame(b, 0x01, "x", 1, true); /* new message inside one */
	n += frame(b + n, 0x81, "y", 1, true);
	expect_error(true, b, n, 1002);
	/* Non-minimal 16-bit length. */
	memcpy(b, "\x82\xfe\x00\x05" "abcd" "hello", 13);
	expect_error(true, b, 13, 1002);
	/* Non-minimal 64-bit length. */
	memcpy(b, "\x82\xff\x00\x00\x00\x00\x00\x00\x00\x05" "abcd" "hello",
	       19);
	expect_error(true, b, 19, 1002);
	/* 64-bit length with the top bit set. */
	memcpy(b, "\x82\xff\x80\x00\x00\x00\x00\x00\x00\x05" "abcd", 14);
	expect_error(true, b, 14, 1002);
}

TEST(ws_codec_size_limits_1009)
{
	uint8_t *b = malloc(8000), *p = calloc(1, 4000);
	size_t n;

	/* max_frame 1000: a 1001-byte frame is refused from its header. */
	n = frame(b, 0x82, p, 1001, true);
	expect_error(true, b, 10, 1009);
	/* max_message 3000: three 1000-byte fragments pass, a fourth not. */
	n = frame(b, 0x02, p, 1000, true);
	n += frame(b + n, 0x00, p, 1000, true);
	n += frame(b + n, 0x00, p, 1000, true);
	n += frame(b + n, 0x80, p, 1, true);
	expect_error(true, b, n, 1009);
	free(b);
	free(p);
}

TEST(ws_codec_utf8_1007)
{
	uint8_t b[64];
	size_t n;

	n = frame(b, 0x81, "\xc0\x80", 2, true); /* overlong */
	expect_error(true, b, n, 1007);
	n = frame(b, 0x81, "\xed\xa0\x80", 3, true); /* surrogate */
	expect_error(true, b, n, 1007);
	n = frame(b, 0x81, "\xf4\x90\x80\x80", 4, true); /* > U+10FFFF */
	expect_error(true, b, n, 1007);
	n = frame(b, 0x81, "ok\xe2\x82", 4, true); /* truncated at FIN */
	expect_error(true, b, n, 1007);
	/* Fail fast: the bad first fragment is refused before the end. */
	n = frame(b, 0x01, "\xff", 1, true);
	expect_error(true, b, n, 1007);
	/* Binary frames are not checked. */
	{
		struct actr__ws_dec d;
		struct actr__ws_event ev;
		size_t used;

		actr__ws_dec_init(&d, true, 100, 100);
		n = frame(b, 0x82, "\xff\xc0", 2, true);
		CHECK_EQ(actr__ws_decode(&d, b, n, &ev, &used), 1);
		actr__ws_dec_free(&d);
	}
	CHECK_EQ(actr__utf8_step(0, (const uint8_t *)"\xf0\x9f\x98\x80", 4), 0);
	CHECK(actr__utf8_step(0, (const uint8_t *)"\xf0\x9f", 2) != 0);
	CHECK(actr__utf8_step(0, (const uint8_t *)"\xf0\x9f", 2) != UINT32_MAX);
	CHECK_EQ(actr__utf8_step(0, (const uint8_t *)"\xf8\x88\x80\x80\x80", 5),
		 UINT32_MAX);
}

TEST(ws_codec_close_frames)
{
	static const int bad[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 2000,
				   2999, 5000, 65535 };
	static const int good[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009,
				    1010, 1011, 1012, 1013, 1014, 3000, 4999 };
	struct actr__ws_dec d;
	struct actr__ws_event ev;
	uint8_t b[64], p[16];
	size_t n, used;

	actr__ws_dec_init(&d, true, 100, 100);
	n = frame(b, 0x88, NULL, 0, true);
	CHECK_EQ(actr__ws_decode(&d, b, n, &ev, &used), 1);
	CHECK_EQ(ev.op, ACTR__WS_CLOSE);
	CHECK_EQ(ev.close_code, 1005);
	CHECK_EQ(ev.reason_len, 0);
	for (size_t i = 0; i < ACTR_ARRAY_LEN(good); i++) {
		p[0] = (uint8_t)(good[i] >> 8);
		p[1] = (uint8_t)good[i];
		memcpy(p + 2, "bye", 3);
		n = frame(b, 0x88, p, 5, true);
		CHECK_EQ(actr__ws_decode(&d, b, n, &ev, &used), 1);
		CHECK_EQ(ev.close_code, good[i]);
		CHECK_EQ(ev.reason_len, 3);
		CHECK_MEM(ev.reason, "bye", 3);
	}
	actr__ws_dec_free(&d);
	for (size_t i = 0; i < ACTR_ARRAY_LEN(bad); i++) {
		p[0] = (uint8_t)(bad[i] >> 8);
		p[1] = (uint8_t)bad[i];
		n = frame(b, 0x88, p, 2, true);
		expect_error(true, b, n, 1002);
	}
	n = frame(b, 0x88, "\x03", 1, true); /* 1-byte payload */
	expect_error(true, b, n, 1002);
	n = frame(b, 0x88, "\x03\xe8\xff", 3, true); /* reason not UTF-8 */
	expect_error(true, b, n, 1007);
}

TEST(ws_codec_handshake_keys)
{
	char acc[29], key[25];

	/* RFC 6455 section 1.3 example. */
	CHECK_OK(actr__ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", acc));
	CHECK_STR(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	CHECK(actr__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=="));
	CHECK(!actr__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ="));
	CHECK(!actr__ws_key_valid("dGhlIHNhbXBsZSBub25jZ!=="));
	CHECK(!actr__ws_key_valid(""));
	CHECK_OK(actr__ws_new_key(key));
	CHECK(actr__ws_key_valid(key));
}

TEST(ws_codec_mask_phase)
{
	uint8_t a[37], b[37];

	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = b[i] = (uint8_t)i;
	/* Masking in two pieces with the right offset equals one pass. */
	actr__ws_mask(a, sizeof(a), kmask, 0);
	actr__ws_mask(b, 5, kmask, 0);
	actr__ws_mask(b + 5, sizeof(b) - 5, kmask, 5);
	CHECK_MEM(a, b, sizeof(a));
	for (size_t i = 0; i < sizeof(a); i++)
		CHECK_EQ(a[i], (uint8_t)i ^ kmask[i & 3]);
}
