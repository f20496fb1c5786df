/*
 * RpcEnvelope construction and validation (PROTOCOL.md section 6).
 */
#include <errno.h>
#include <string.h>

#include <actr/error.h>
#include <actr/proto.h>

#include "core/internal.h"

static int fill(Actr__RpcEnvelope *e, const char *route_key,
		const char *request_id, const void *payload, size_t len)
{
	if (!e || !route_key || !*route_key || !request_id || !*request_id)
		return -EINVAL;
	actr__rpc_envelope__init(e);
	e->route_key = (char *)route_key;
	e->request_id = (char *)request_id;
	e->has_payload = 1;
	e->payload.data = (uint8_t *)payload;
	e->payload.len = len;
	e->has_direction = 1;
	return 0;
}

int actr_envelope_request(Actr__RpcEnvelope *e, const char *route_key,
			  const char *request_id, const void *payload,
			  size_t len, int64_t timeout_ms)
{
	int rc;

	if (timeout_ms <= 0)
		return -EINVAL;
	rc = fill(e, route_key, request_id, payload, len);
	if (rc == 0) {
		e->direction = ACTR__DIRECTION__DIRECTION_REQUEST;
		e->timeout_ms = timeout_ms;
	}
	return rc;
}

int actr_envelope_tell(Actr__RpcEnvelope *e, const char *route_key,
		       const char *request_id, const void *payload,
		       size_t len)
{
	int rc = fill(e, route_key, request_id, payload, len);

	if (rc == 0)
		e->direction = ACTR__DIRECTION__DIRECTION_TELL;
	return rc;
}

int actr_envelope_response(Actr__RpcEnvelope *e,
			   const Actr__RpcEnvelope *req, const void *payload,
			   size_t len)
{
	int rc;

	if (!req)
		return -EINVAL;
	rc = fill(e, req->route_key, req->request_id, payload, len);
	if (rc == 0) {
		e->direction = ACTR__DIRECTION__DIRECTION_RESPONSE;
		e->traceparent = req->traceparent;
		e->tracestate = req->tracestate;
	}
	return rc;
}

int actr_envelope_error(Actr__RpcEnvelope *e, const Actr__RpcEnvelope *req,
			Actr__ErrorResponse *err)
{
	int rc;

	if (!err || !err->message)
		return -EINVAL;
	rc = actr_envelope_response(e, req, NULL, 0);
	if (rc == 0) {
		e->has_payload = 0;
		e->error = err;
	}
	return rc;
}

int actr_envelope_validate(const Actr__RpcEnvelope *e)
{
	if (!e || !e->route_key || !*e->route_key || !e->request_id ||
	    !*e->request_id)
		return -ACTR_EPROTO;
	if (!e->has_direction)
		return -ACTR_EPROTO;
	switch (e->direction) {
	case ACTR__DIRECTION__DIRECTION_REQUEST:
		if (e->timeout_ms <= 0 || e->error)
			return -ACTR_EPROTO;
		return 0;
	case ACTR__DIRECTION__DIRECTION_TELL:
		if (e->timeout_ms != 0 || e->error)
			return -ACTR_EPROTO;
		return 0;
	case ACTR__DIRECTION__DIRECTION_RESPONSE:
		if (e->timeout_ms != 0)
			return -ACTR_EPROTO;
		if (!e->has_payload == !e->error)
			return -ACTR_EPROTO; /* neither or both */
		return 0;
	default:
		return -ACTR_EPROTO;
	}
}
