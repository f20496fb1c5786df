/* libFuzzer target: the RFC 6455 frame decoder, as server (masked frames
 * required) and as client, fed in two pieces. Invariants: events never
 * point outside the input or the reassembly buffer; an error sets a close
 * code the protocol allows. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <actr/error.h>

#include "net/ws_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run(const uint8_t *data, size_t size, bool server)
{
	struct actr__ws_dec d;
	uint8_t *buf = malloc(size ? size : 1);
	size_t off = 0, split = size ? data[0] % (size + 1) : 0;

	if (!buf)
		return;
	memcpy(buf, data, size);
	actr__ws_dec_init(&d, server, 4096, 16384);
	while (off < size) {
		struct actr__ws_event ev;
		size_t used = 0, avail = size - off;
		int rc;

		if (off < split && avail > split - off)
			avail = split - off; /* the first piece */
		rc = actr__ws_decode(&d, buf + off, avail, &ev, &used);
		if (rc < 0) {
			if (rc != -ACTR_EPROTO && rc != -ACTR_ETOOBIG &&
			    rc != -ENOMEM)
				abort();
			if (!actr__ws_close_code_valid(d.close_code) &&
			    d.close_code != 1002 && d.close_code != 1007 &&
			    d.close_code != 1009 && d.close_code != 1011)
				abort();
			break;
		}
		if (used > avail)
			abort();
		if (rc == 1 && ev.len && !ev.data)
			abort();
		if (used == 0) {
			if (off + avail == size)
				break; /* incomplete frame at the end */
			split = 0; /* deliver the rest in one piece */
			continue;
		}
		off += used;
	}
	actr__ws_dec_free(&d);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size, true);
	run(data, size, false);
	return 0;
}
