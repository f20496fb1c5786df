/* Error names. */
#define _GNU_SOURCE
#include <string.h>

#include "internal.h"

static const char *const actr_names[] = {
	[ACTR_EUNAVAILABLE - 10000] = "unavailable",
	[ACTR_ETIMEDOUT - 10000] = "timed out",
	[ACTR_ENOTFOUND - 10000] = "not found",
	[ACTR_EPERM - 10000] = "permission denied",
	[ACTR_EINVALARG - 10000] = "invalid argument",
	[ACTR_EUNKNOWNROUTE - 10000] = "unknown route",
	[ACTR_EDEPNOTFOUND - 10000] = "dependency not found",
	[ACTR_EDECODE - 10000] = "decode failure",
	[ACTR_ENOTIMPL - 10000] = "not implemented",
	[ACTR_EINTERNAL - 10000] = "internal error",
	[ACTR_ENOTREADY - 10000] = "connection not ready",
	[ACTR_EPROTO - 10000] = "protocol violation",
	[ACTR_ETOOBIG - 10000] = "exceeds configured limit",
	[ACTR_ECLOSED - 10000] = "closed",
	[ACTR_ECORRUPT - 10000] = "corrupt or foreign data",
	[ACTR_EAUTH - 10000] = "authentication failed",
	[ACTR_EAGAIN - 10000] = "try again",
	[ACTR_ECANCELED - 10000] = "canceled",
};

const char *actr_strerror(int code)
{
	if (code < 0)
		code = -code;
	if (code == 0)
		return "success";
	if (code > 10000 && code - 10000 < (int)ACTR_ARRAY_LEN(actr_names) &&
	    actr_names[code - 10000])
		return actr_names[code - 10000];
	if (code < 4096) {
		/* strerrordesc_np is thread-safe and never NULL for known
		 * codes; fall back for unknown ones. */
		const char *s = strerrordesc_np(code);

		if (s)
			return s;
	}
	return "unknown error";
}
