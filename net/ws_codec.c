/* Sans-I/O RFC 6455 frame codec and handshake key helpers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "core/internal.h"
#include "ws_internal.h"

void actr__ws_dec_init(struct actr__ws_dec *d, bool server, size_t max_frame,
		       size_t max_message)
{
	memset(d, 0, sizeof(*d));
	d->server = server;
	d->max_frame = max_frame;
	d->max_message = max_message;
}

void actr__ws_dec_free(struct actr__ws_dec *d)
{
	free(d->msg);
	d->msg = NULL;
	d->msg_cap = d->msg_len = 0;
}

static int dec_error(struct actr__ws_dec *d, int code, const char *why,
		     int rc)
{
	d->close_code = code;
	d->error = why;
	return rc;
}

/* State layout: bits 0-1 continuation bytes still needed, bits 8-15 the
 * lowest and bits 16-23 the highest allowed next byte. */
#define U8(need, lo, hi) ((uint32_t)(need) | ((uint32_t)(lo) << 8) | \
			  ((uint32_t)(hi) << 16))

uint32_t actr__utf8_step(uint32_t st, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		unsigned need = st & 3;

		if (need) {
			if (c < ((st >> 8) & 0xff) || c > ((st >> 16) & 0xff))
				return UINT32_MAX;
			st = need - 1 ? U8(need - 1, 0x80, 0xbf) : 0;
			continue;
		}
		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf)
			st = U8(1, 0x80, 0xbf);
		else if (c == 0xe0)
			st = U8(2, 0xa0, 0xbf);
		else if (c == 0xed)
			st = U8(2, 0x80, 0x9f);
		else if (c >= 0xe1 && c <= 0xef)
			st = U8(2, 0x80, 0xbf);
		else if (c == 0xf0)
			st = U8(3, 0x90, 0xbf);
		else if (c >= 0xf1 && c <= 0xf3)
			st = U8(3, 0x80, 0xbf);
		else if (c == 0xf4)
			st = U8(3, 0x80, 0x8f);
		else
			return UINT32_MAX;
	}
	return st;
}

bool actr__ws_close_code_valid(int code)
{
	if (code >= 3000 && code <= 4999)
		return true;
	switch (code) {
	case 1000: case 1001: case 1002: case 1003:
	case 1007: case 1008: case 1009: case 1010: case 1011:
	case 1012: case 1013: case 1014:
		return true;
	default:
		return false;
	}
}

void actr__ws_mask(uint8_t *data, size_t len, const uint8_t mask[4],
		   size_t off)
{
	size_t i = 0;

	/* Align to the mask phase, then 8 bytes at a time. */
	for (; i < len && ((off + i) & 3); i++)
		data[i] ^= mask[(off + i) & 3];
	if (len - i >= 8) {
		uint64_t m8;
		uint8_t mm[8];

		for (int k = 0; k < 8; k++)
			mm[k] = mask[k & 3];
		memcpy(&m8, mm, 8);
		for (; len - i >= 8; i += 8) {
			uint64_t v;

			memcpy(&v, data + i, 8);
			v ^= m8;
			memcpy(data + i, &v, 8);
		}
	}
	for (; i < len; i++)
		data[i] ^= mask[(off + i) & 3];
}

static int append(struct actr__ws_dec *d, const uint8_t *p, size_t n)
{
	if (d->msg_len + n > d->msg_cap) {
		size_t cap = d->msg_cap ? d->msg_cap : 4096;
		uint8_t *nm;

		while (cap < d->msg_len + n)
			cap *= 2;
		cap = ACTR_MIN(cap, ACTR_MAX(d->max_message, d->msg_len + n));
		nm = actr__realloc(d->msg, cap);
		if (!nm)
			return -ENOMEM;
		d->msg = nm;
		d->msg_cap = cap;
	}
	if (n)
		memcpy(d->msg + d->msg_len, p, n);
	d->msg_len += n;
	return 0;
}

static int decode_close(struct actr__ws_dec *d, uint8_t *p, size_t n,
			struct actr__ws_event *ev)
{
	ev->close_code = 1005; /* no status received */
	ev->reason = "";
	ev->reason_len = 0;
	if (n == 0)
		return 1;
	if (n == 1)
		return dec_error(d, 1002, "close payload of 1 byte",
				 -ACTR_EPROTO);
	ev->close_code = (p[0] << 8) | p[1];
	if (!actr__ws_close_code_valid(ev->close_code))
		return dec_error(d, 1002, "invalid close code", -ACTR_EPROTO);
	if (actr__utf8_step(0, p + 2, n - 2) != 0)
		return dec_error(d, 1007, "close reason not UTF-8",
				 -ACTR_EPROTO);
	ev->reason = (const char *)p + 2;
	ev->reason_len = n - 2;
	return 1;
}

int actr__ws_decode(struct actr__ws_dec *d, uint8_t *in, size_t len,
		    struct actr__ws_event *ev, size_t *consumed)
{
	size_t hl = 2, total;
	uint64_t plen;
	bool fin, masked;
	int op;
	uint8_t *payload;

	*consumed = 0;
	memset(ev, 0, sizeof(*ev));
	if (len < 2)
		return 0;
	fin = in[0] & 0x80;
	op = in[0] & 0x0f;
	masked = in[1] & 0x80;
	plen = in[1] & 0x7f;
	if (in[0] & 0x70)
		return dec_error(d, 1002, "reserved bits set", -ACTR_EPROTO);
	if (op != ACTR__WS_CONT && op != ACTR__WS_TEXT &&
	    op != ACTR__WS_BINARY && op != ACTR__WS_CLOSE &&
	    op != ACTR__WS_PING && op != ACTR__WS_PONG)
		return dec_error(d, 1002, "unknown opcode", -ACTR_EPROTO);
	if ((op & 0x8) && (!fin || plen > 125))
		return dec_error(d, 1002, "bad control frame", -ACTR_EPROTO);
	if (masked != d->server)
		return dec_error(d, 1002,
				 d->server ? "unmasked client frame"
					   : "masked server frame",
				 -ACTR_EPROTO);
	if (plen == 126) {
		if (len < 4)
			return 0;
		plen = ((uint64_t)in[2] << 8) | in[3];
		if (plen < 126)
			return dec_error(d, 1002, "non-minimal length",
					 -ACTR_EPROTO);
		hl = 4;
	} else if (plen == 127) {
		if (len < 10)
			return 0;
		plen = 0;
		for (int i = 2; i < 10; i++)
			plen = (plen << 8) | in[i];
		if (plen >> 63)
			return dec_error(d, 1002, "length MSB set",
					 -ACTR_EPROTO);
		if (plen <= 0xffff)
			return dec_error(d, 1002, "non-minimal length",
					 -ACTR_EPROTO);
		hl = 10;
	}
	if (plen > d->max_frame)
		return dec_error(d, 1009, "frame too big", -ACTR_ETOOBIG);
	if (masked)
		hl += 4;
	if (len < hl || len - hl < plen)
		return 0;
	payload = in + hl;
	if (masked)
		actr__ws_mask(payload, (size_t)plen, in + hl - 4, 0);
	*consumed = hl + (size_t)plen;
	ev->data = payload;
	ev->len = (size_t)plen;

	if (op & 0x8) {
		ev->op = op;
		if (op == ACTR__WS_CLOSE)
			return decode_close(d, payload, ev->len, ev);
		return 1;
	}
	if (op == ACTR__WS_CONT && !d->msg_op)
		return dec_error(d, 1002, "continuation without a message",
				 -ACTR_EPROTO);
	if (op != ACTR__WS_CONT && d->msg_op)
		return dec_error(d, 1002, "new message inside a fragmented one",
				 -ACTR_EPROTO);
	total = (op == ACTR__WS_CONT ? d->msg_len : 0) + (size_t)plen;
	if (total > d->max_message)
		return dec_error(d, 1009, "message too big", -ACTR_ETOOBIG);
	if ((op == ACTR__WS_CONT ? d->msg_op : op) == ACTR__WS_TEXT) {
		d->utf8 = actr__utf8_step(op == ACTR__WS_CONT ? d->utf8 : 0,
					  payload, ev->len);
		if (d->utf8 == UINT32_MAX || (fin && d->utf8 != 0))
			return dec_error(d, 1007, "text is not UTF-8",
					 -ACTR_EPROTO);
	}
	if (op != ACTR__WS_CONT) {
		if (fin) {
			ev->op = op; /* unfragmented: zero copy */
			return 1;
		}
		d->msg_op = op;
		d->msg_len = 0;
	}
	if (append(d, payload, ev->len) < 0)
		return dec_error(d, 1011, "out of memory", -ENOMEM);
	if (!fin)
		return 0;
	ev->op = d->msg_op;
	ev->data = d->msg;
	ev->len = d->msg_len;
	d->msg_op = 0;
	return 1;
}

size_t actr__ws_header(uint8_t *out, int op, bool fin, uint64_t len,
		       const uint8_t *mask)
{
	size_t n = 2;

	out[0] = (uint8_t)((fin ? 0x80 : 0) | (op & 0x0f));
	if (len < 126) {
		out[1] = (uint8_t)len;
	} else if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		n = 4;
	} else {
		out[1] = 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		n = 10;
	}
	if (mask) {
		out[1] |= 0x80;
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int actr__ws_accept_key(const char *key, char out[29])
{
	unsigned char md[SHA_DIGEST_LENGTH];
	char cat[128];
	size_t kl = strlen(key);

	if (kl + sizeof(ws_guid) > sizeof(cat))
		return -EINVAL;
	memcpy(cat, key, kl);
	memcpy(cat + kl, ws_guid, sizeof(ws_guid) - 1);
	SHA1((const unsigned char *)cat, kl + sizeof(ws_guid) - 1, md);
	actr_base64_encode(md, sizeof(md), out, 0);
	return 0;
}

int actr__ws_new_key(char out[25])
{
	uint8_t raw[16];
	int rc = actr_random(raw, sizeof(raw));

	if (rc < 0)
		return rc;
	actr_base64_encode(raw, sizeof(raw), out, 0);
	return 0;
}

bool actr__ws_key_valid(const char *key)
{
	uint8_t raw[18];

	return strlen(key) == 24 &&
	       actr_base64_decode(key, 24, raw, sizeof(raw)) == 16;
}
