/*
 * Helpers around the wire schemas in proto/ (PROTOCOL.md 1-7):
 * string forms of ActrType / ActrId, and construction and validation of
 * RpcEnvelope. The message types themselves are protobuf-c generated
 * (build/gen/proto/actr.pb-c.h, included here).
 *
 * All functions are pure and thread-safe.
 */
#ifndef ACTR_PROTO_H
#define ACTR_PROTO_H

#include <actr/api.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/actr.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits on string forms (bytes, without the NUL). */
#define ACTR_TYPE_FIELD_MAX 128	/* one of manufacturer / name / version */
#define ACTR_TYPE_STR_MAX (3 * ACTR_TYPE_FIELD_MAX + 2)
#define ACTR_ID_STR_MAX (16 + 1 + 10 + 1 + ACTR_TYPE_STR_MAX)

#define ACTR_DEFAULT_TIMEOUT_MS 30000	/* default call timeout */

/**
 * Write "manufacturer:name:version" into out (cap bytes, NUL-terminated).
 * Returns the length, -EINVAL if a field is missing, empty or contains ':'
 * or '/' or '@' or a control character, -ENOSPC if cap is too small.
 */
ACTR_API int actr_type_format(const Actr__ActrType *t, char *out, size_t cap);

/**
 * Parse "manufacturer:name:version". On success *out is a new message
 * (release with actr_proto_free). Returns 0, -EINVAL for a malformed
 * string (wrong number of ':', empty or over-long field, bad characters),
 * -ENOMEM.
 */
ACTR_API int actr_type_parse(const char *s, Actr__ActrType **out);

/**
 * Write "<serial hex>@<realm>/<manufacturer:name:version>" (serial in
 * lowercase hex without leading zeros). Returns the length, -EINVAL,
 * -ENOSPC as actr_type_format.
 */
ACTR_API int actr_id_format(const Actr__ActrId *id, char *out, size_t cap);

/**
 * Parse the ActrId string form. *out is a new message (actr_proto_free).
 * Returns 0, -EINVAL (missing '@' or '/', bad hex, serial over 64 bits,
 * realm not a decimal u32, bad type), -ENOMEM.
 */
ACTR_API int actr_id_parse(const char *s, Actr__ActrId **out);

/** Free a message built by a parse function or by protobuf-c unpack with
 * the default allocator. NULL is ignored. */
ACTR_API void actr_proto_free(void *msg);

/** Deep-copy an ActrId (new message, actr_proto_free). NULL on ENOMEM. */
ACTR_API Actr__ActrId *actr_id_dup(const Actr__ActrId *id);

/** ActrType equality: all three fields equal (version included). */
ACTR_API bool actr_type_equal(const Actr__ActrType *a, const Actr__ActrType *b);

/** ActrId equality: realm, serial number and type. */
ACTR_API bool actr_id_equal(const Actr__ActrId *a, const Actr__ActrId *b);

/* ---- RpcEnvelope ------------------------------------------------------ */

/*
 * The envelope builders fill a caller-owned envelope whose strings and
 * payload are borrowed from the arguments (nothing is copied or
 * allocated); they must outlive every use of *e.
 */

/** A REQUEST: timeout_ms must be > 0. 0 or -EINVAL. */
ACTR_API int actr_envelope_request(Actr__RpcEnvelope *e, const char *route_key,
			  const char *request_id, const void *payload,
			  size_t len, int64_t timeout_ms);

/** A TELL (fire and forget; timeout_ms 0). 0 or -EINVAL. */
ACTR_API int actr_envelope_tell(Actr__RpcEnvelope *e, const char *route_key,
		       const char *request_id, const void *payload,
		       size_t len);

/** A successful RESPONSE to req (same route key and request_id). */
ACTR_API int actr_envelope_response(Actr__RpcEnvelope *e,
			   const Actr__RpcEnvelope *req, const void *payload,
			   size_t len);

/** An error RESPONSE to req; err (caller-owned) carries code and message. */
ACTR_API int actr_envelope_error(Actr__RpcEnvelope *e, const Actr__RpcEnvelope *req,
			Actr__ErrorResponse *err);

/**
 * Validate an envelope received from a peer (PROTOCOL.md section 6):
 * direction present and known; timeout_ms > 0 exactly for REQUEST (0 for
 * TELL and RESPONSE); non-empty route_key and request_id; a RESPONSE carries
 * a payload or an error but not both. Returns 0 or -ACTR_EPROTO.
 */
ACTR_API int actr_envelope_validate(const Actr__RpcEnvelope *e);

#ifdef __cplusplus
}
#endif
#endif
