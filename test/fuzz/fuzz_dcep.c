/* libFuzzer target: the DCEP codec (sctp/dcep.c, RFC 8832), what a peer's
 * PPID 50 message reaches first. The input is parsed as a message; then
 * its first bytes pick an OPEN to encode into a buffer of a chosen size.
 * Invariants: the parser returns 0 exactly when RFC 8832 section 5.1's
 * layout holds (an independent check of type, channel type and the two
 * lengths against the size); a parsed OPEN points inside the input and
 * encodes back to the same bytes; the encoder fails with -ENOSPC exactly
 * when the message does not fit, and what it writes parses back to the
 * same fields. (The ACK, one byte 0x02, is matched in sctp.c's static
 * on_dcep() before this parser; it needs a usrsctp association.) */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <actr/error.h>

#include "sctp/sctp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { HDR = 12 };

/* RFC 8832 5.1, written apart from the parser under test. */
static bool valid_open(const uint8_t *p, size_t n)
{
	size_t ll, pl;

	if (n < HDR || p[0] != ACTR_DCEP_OPEN)
		return false;
	if (p[1] != 0x00 && p[1] != 0x01 && p[1] != 0x02 && p[1] != 0x80 &&
	    p[1] != 0x81 && p[1] != 0x82)
		return false;
	ll = (size_t)p[8] * 256 + p[9];
	pl = (size_t)p[10] * 256 + p[11];
	return HDR + ll + pl == n;
}

static bool same_open(const struct actr__dcep_open *a,
		      const struct actr__dcep_open *b)
{
	return a->channel_type == b->channel_type &&
	       a->priority == b->priority &&
	       a->reliability == b->reliability &&
	       a->label_len == b->label_len &&
	       a->protocol_len == b->protocol_len &&
	       (!a->label_len ||
		memcmp(a->label, b->label, a->label_len) == 0) &&
	       (!a->protocol_len ||
		memcmp(a->protocol, b->protocol, a->protocol_len) == 0);
}

static void check_parse(const uint8_t *data, size_t size)
{
	struct actr__dcep_open o;
	uint8_t *back;
	int rc = actr__dcep_parse_open(data, size, &o);

	if (rc != 0 && rc != -ACTR_EPROTO)
		abort();
	if ((rc == 0) != valid_open(data, size))
		abort();
	if (rc != 0)
		return;
	if ((const uint8_t *)o.label != data + HDR ||
	    o.protocol != o.label + o.label_len ||
	    HDR + o.label_len + o.protocol_len != size)
		abort();
	back = malloc(size);
	if (!back)
		return;
	if (actr__dcep_encode_open(&o, back, size) != (int)size ||
	    memcmp(back, data, size) != 0)
		abort();
	free(back);
}

/* Encode an OPEN built from the input (label and protocol are slices of
 * it) into cap bytes and parse it back. */
static void check_encode(const uint8_t *data, size_t size)
{
	struct actr__dcep_open o = { 0 }, back;
	size_t cap, need;
	uint8_t *out;
	int rc;

	if (size < 10)
		return;
	o.channel_type = data[0];
	o.priority = (uint16_t)(data[1] << 8 | data[2]);
	o.reliability = (uint32_t)data[3] << 24 | (uint32_t)data[4] << 16;
	o.label_len = data[5] % (size - 9 + 1);
	o.protocol_len = data[6] % (size - 9 - o.label_len + 1);
	o.label = (const char *)data + 9;
	o.protocol = o.label + o.label_len;
	need = HDR + o.label_len + o.protocol_len;
	cap = (size_t)(data[7] << 8 | data[8]) % (need + 8);
	out = malloc(cap ? cap : 1);
	if (!out)
		return;
	rc = actr__dcep_encode_open(&o, out, cap);
	if (need > cap) {
		if (rc != -ENOSPC)
			abort();
	} else if (rc != (int)need) {
		abort();
	} else if ((o.channel_type & 0x7f) <= 0x02) {
		if (actr__dcep_parse_open(out, need, &back) != 0 ||
		    !same_open(&o, &back))
			abort();
	} else if (actr__dcep_parse_open(out, need, &back) != -ACTR_EPROTO) {
		abort(); /* an unknown channel type is refused on the way in */
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_parse(data, size);
	check_encode(data, size);
	return 0;
}
