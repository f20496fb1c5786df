/* libFuzzer target: the SDP parser. Invariant: whatever parses writes back
 * as SDP that parses again to the same ICE credentials, fingerprint and
 * SCTP port. Logging is at error level (a rejected SDP logs a warning). */
#include <stdlib.h>
#include <string.h>

#include <actr/log.h>

#include "wire/sdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct actr__sdp a, b;
	static char text[65536 + 8192];
	int n;

	actr_log_set_level(ACTR_LOG_ERROR);
	if (actr__sdp_parse((const char *)data, size, &a) != 0)
		return 0;
	n = actr__sdp_write(&a, text, sizeof(text));
	if (n < 0)
		return 0; /* e.g. a required field was absent */
	if (actr__sdp_parse(text, (size_t)n, &b) != 0)
		abort();
	if (strcmp(a.ufrag, b.ufrag) || strcmp(a.pwd, b.pwd) ||
	    strcmp(a.fp, b.fp) || a.sctp_port != b.sctp_port)
		abort();
	return 0;
}
