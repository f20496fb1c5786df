/* libFuzzer target: the DataChannel fragment reassembler. The input is a
 * sequence of messages, each prefixed by a length byte and a time step
 * byte. Invariants: memory stays within the bound; a completed message is
 * never larger than the bound. */
#include <stdlib.h>

#include <actr/buf.h>
#include <actr/error.h>

#include "proto/fragment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum { MAX_BYTES = 1 << 16 };
	actr__reasm_t *r = actr__reasm_new(MAX_BYTES, 8, 1000000);
	uint64_t now = 0;
	size_t off = 0;

	if (!r)
		return 0;
	while (off + 2 <= size) {
		size_t n = data[off];
		actr_buf_t *out = NULL;
		int rc;

		now += (uint64_t)data[off + 1] * 10000;
		off += 2;
		if (n > size - off)
			n = size - off;
		rc = actr__reasm_feed(r, data + off, n, now, &out);
		off += n;
		if (rc == 1) {
			if (!out || out->len > MAX_BYTES)
				abort();
			actr_buf_unref(out);
		} else if (rc != 0 && rc != -ACTR_EPROTO &&
			   rc != -ACTR_ETOOBIG && rc != -12 /* ENOMEM */) {
			abort();
		}
		if (actr__reasm_bytes(r) > MAX_BYTES)
			abort();
	}
	actr__reasm_free(r);
	return 0;
}
