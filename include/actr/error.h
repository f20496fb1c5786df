/*
 * actr error codes.
 *
 * Every action in the library returns 0 on success or a negative code:
 * either a negated errno value (-EINVAL, -ENOMEM, ...) or a negated
 * ACTR_E* value below. The ACTR_E* values 10001..10011 are the codes the
 * actr wire protocol carries in ErrorResponse.code (PROTOCOL.md section 6),
 * so a runtime error can be put on the wire unchanged.
 */
#ifndef ACTR_ERROR_H
#define ACTR_ERROR_H

#include <actr/api.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
	ACTR_EUNAVAILABLE = 10001,	/* target unavailable */
	ACTR_ETIMEDOUT = 10002,		/* call deadline passed */
	ACTR_ENOTFOUND = 10003,		/* no such actor or object */
	ACTR_EPERM = 10004,		/* denied by ACL */
	ACTR_EINVALARG = 10005,		/* invalid argument from a peer */
	ACTR_EUNKNOWNROUTE = 10006,	/* route key not registered */
	ACTR_EDEPNOTFOUND = 10007,	/* dependency not found */
	ACTR_EDECODE = 10008,		/* payload could not be decoded */
	ACTR_ENOTIMPL = 10009,		/* not implemented */
	ACTR_EINTERNAL = 10010,		/* internal error */
	ACTR_ENOTREADY = 10011,		/* connection not ready */

	ACTR_EPROTO = 10100,		/* peer violated a protocol */
	ACTR_ETOOBIG = 10101,		/* input exceeds a configured limit */
	ACTR_ECLOSED = 10102,		/* object closed / shutting down */
	ACTR_ECORRUPT = 10103,		/* stored data is corrupt or foreign */
	ACTR_EAUTH = 10104,		/* authentication failed */
	ACTR_EAGAIN = 10105,		/* try again later (normal outcome) */
	ACTR_ECANCELED = 10106,		/* operation canceled */
};

/**
 * Name an error code. Accepts the negative codes functions return (or
 * their positive value). Never returns NULL; thread-safe.
 */
ACTR_API const char *actr_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif
