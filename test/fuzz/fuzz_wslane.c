/* libFuzzer target: the direct WebSocket lane's frame parser and its
 * identity-header decoder (wire/wslane.c). Invariants: a parsed frame
 * lies inside the input and its length matches the header; an error
 * names one of the lane's close codes; the headers decode or fail
 * cleanly (first byte picks where the input is split between them). */
#include <stdlib.h>
#include <string.h>

#include <actr/error.h>
#include <actr/proto.h>

#include "wire/wslane.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void headers(const uint8_t *data, size_t size)
{
	size_t cut = size ? data[0] % (size + 1) : 0;
	char *a = malloc(cut + 1), *b = malloc(size - cut + 1);
	Actr__ActrId *id;
	Actr__AIdCredential *cred;
	const char *why = NULL;
	int rc;

	if (!a || !b)
		goto out;
	memcpy(a, data, cut);
	a[cut] = '\0';
	memcpy(b, data + cut, size - cut);
	b[size - cut] = '\0';
	rc = actr__wsl_headers_parse(a, b, &id, &cred, &why);
	if (rc == 0) {
		uint8_t pub[32] = { 0 };

		if (!id || !cred)
			abort();
		/* a zero key verifies nothing */
		if (actr__wsl_cred_check(pub, cred, id, 0, &why) == 0)
			abort();
		actr_proto_free(id);
		actr_proto_free(cred);
	} else if (!why || id || cred) {
		abort();
	}
out:
	free(a);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *d = NULL;
	size_t len = 0;
	int type = -1, code = -1;
	int rc = actr__wsl_parse(data, size, 4096, &type, &d, &len, &code);

	if (rc == 0) {
		if (type < 0 || type > ACTR__WSL_TYPE_MAX || code != 0 ||
		    d != data + ACTR__WSL_HDR || len + ACTR__WSL_HDR != size ||
		    len > 4096)
			abort();
	} else if (!((rc == -ACTR_EPROTO && (code == ACTR__WSL_CLOSE_PROTO ||
					      code == ACTR__WSL_CLOSE_TYPE)) ||
		     (rc == -ACTR_ETOOBIG && code == ACTR__WSL_CLOSE_TOOBIG))) {
		abort();
	}
	headers(data, size);
	return 0;
}
