/* libFuzzer target: HTTP/1.1 head parser (request and response), chunked
 * decoder, URL and query parsing. Invariants: only documented return
 * codes; a parsed head never claims more bytes than it was given. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <actr/net.h>

#include "core/internal.h"
#include "net/http_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_head(const uint8_t *data, size_t size, bool request)
{
	struct actr__http_limits lim = { 8192, 64, 1 << 20 };
	struct actr__http_msg m;
	char *buf = malloc(size + 1);
	size_t scanned = 0;
	ssize_t rc = 0;

	if (!buf)
		return;
	memcpy(buf, data, size);
	buf[size] = '\0';
	/* Grow the input a byte range at a time, as a socket would. */
	for (size_t have = size < 7 ? size : 7; have <= size;
	     have += have / 2 + 1) {
		rc = actr__http_parse(buf, have, request, &lim, &scanned, &m);
		if (rc != -EAGAIN)
			break;
	}
	if (rc > 0 && (size_t)rc > size)
		abort();
	if (rc < 0 && rc != -EAGAIN && rc != -ACTR_ETOOBIG &&
	    rc != -ACTR_EPROTO)
		abort();
	if (rc > 0)
		for (unsigned i = 0; i < m.nhdr; i++)
			(void)actr__http_header(&m, m.hdr[i].name);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct actr__http_chunked c = { 0 };
	struct actr__url u;
	char *copy, out[256];
	size_t dec = 0;
	ssize_t rc;

	parse_head(data, size, true);
	parse_head(data, size, false);

	copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	rc = actr__http_chunked_decode(&c, (uint8_t *)copy, size, &dec, 4096);
	if (rc >= 0 && ((size_t)rc > size || dec > (size_t)rc))
		abort();
	memcpy(copy, data, size);
	copy[size] = '\0';
	(void)actr__url_parse(copy, &u);
	rc = actr_http_query_get(copy, "actor_id", out, sizeof(out));
	if (rc >= (ssize_t)sizeof(out))
		abort();
	free(copy);
	return 0;
}
