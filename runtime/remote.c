/*
 * The remote side of the gate: envelopes to and from lanes (lane.h).
 * Inbound REQUEST/TELL pass the mailbox seam and the response cache, then
 * join the dispatcher queues like in-process messages; RESPONSEs go to
 * the pending table through the response queue.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

void actr__format_rid(uint64_t rid, char out[24])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 15; i >= 0; i--) {
		out[i] = hex[rid & 15];
		rid >>= 4;
	}
	out[16] = '\0';
}

/* Our own request ids are exactly 16 lowercase hex digits. */
bool actr__parse_rid(const char *s, uint64_t *rid)
{
	uint64_t v = 0;
	int i;

	if (!s)
		return false;
	for (i = 0; i < 16; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	if (s[16])
		return false;
	*rid = v;
	return true;
}

int actr__remote_send(actr_system_t *sys, actr__lane_t *lane,
		      const Actr__ActrId *target, const char *route_key,
		      const char *rid_str, int dir, int status,
		      const char *err, const void *data, size_t len,
		      int64_t timeout_ms, int payload_type)
{
	return actr__remote_send_traced(sys, lane, target, route_key, rid_str,
					dir, status, err, data, len,
					timeout_ms, payload_type, NULL, NULL);
}

int actr__remote_send_traced(actr_system_t *sys, actr__lane_t *lane,
			     const Actr__ActrId *target, const char *route_key,
			     const char *rid_str, int dir, int status,
			     const char *err, const void *data, size_t len,
			     int64_t timeout_ms, int payload_type,
			     const char *traceparent, const char *tracestate)
{
	Actr__RpcEnvelope e = ACTR__RPC_ENVELOPE__INIT;
	Actr__ErrorResponse er = ACTR__ERROR_RESPONSE__INIT;

	(void)sys;
	e.traceparent = (char *)traceparent;
	e.tracestate = (char *)tracestate;
	e.route_key = (char *)route_key;
	e.request_id = (char *)rid_str;
	e.has_direction = 1;
	e.direction = (Actr__Direction)dir;
	e.timeout_ms = dir == DIR_REQUEST ? timeout_ms : 0;
	if (status < 0) {
		er.code = (uint32_t)-status;
		er.message = (char *)(err ? err : actr_strerror(status));
		e.error = &er;
	} else {
		e.has_payload = 1;
		e.payload.data = (uint8_t *)data;
		e.payload.len = len;
	}
	return lane->ops->send(lane, target, &e, payload_type);
}

static int closed_send(actr__lane_t *lane, const Actr__ActrId *target,
		       const Actr__RpcEnvelope *env, int payload_type)
{
	(void)lane;
	(void)target;
	(void)env;
	(void)payload_type;
	return -ACTR_ECLOSED;
}

static const struct actr__lane_ops closed_ops = { .send = closed_send };
static actr__lane_t closed_lane = { &closed_ops, NULL, 0 };

void actr__system_lane_gone(actr_system_t *sys, actr__lane_t *lane)
{
	for (int q = 0; q < PRIO_N; q++)
		for (struct actr__msg *m = sys->qhead[q]; m; m = m->next)
			if (m->origin.lane == lane)
				m->origin.lane = &closed_lane;
	for (actr_node_t *n = sys->nodes; n; n = n->next)
		for (struct actr_ctx *c = n->kept; c; c = c->knext)
			if (c->req->origin.lane == lane)
				c->req->origin.lane = &closed_lane;
}

/* Answer a remote request directly on its lane (no handler ran). */
static void answer(actr_system_t *sys, actr__lane_t *lane,
		   const Actr__ActrId *from, const Actr__RpcEnvelope *env,
		   int status, const char *err, const void *data, size_t len)
{
	int rc = actr__remote_send(sys, lane, from, env->route_key,
				   env->request_id, DIR_RESPONSE, status, err,
				   data, len, 0,
				   ACTR__PAYLOAD_TYPE__RPC_RELIABLE);

	if (rc < 0)
		actr_logw("runtime", "answer %s: lane send failed: %s",
			  env->request_id, actr_strerror(rc));
}

static int deliver_response(actr_system_t *sys,
			    const Actr__RpcEnvelope *env)
{
	struct actr__msg *m;
	uint64_t rid;
	int status = 0;
	const char *err = NULL;
	size_t len = 0;

	if (!actr__parse_rid(env->request_id, &rid)) {
		sys->st.late_responses++;
		actr_logw("runtime", "response %s: not a pending request, "
			  "dropped", env->request_id);
		return -ACTR_ENOTFOUND;
	}
	if (env->error) {
		status = env->error->code && env->error->code <= INT32_MAX
				 ? -(int)env->error->code
				 : -ACTR_EINTERNAL;
		err = env->error->message;
	} else {
		len = env->payload.len;
	}
	m = actr__msg_new(sys, len);
	if (!m)
		return -ENOMEM;
	m->dir = DIR_RESPONSE;
	m->rid = rid;
	m->status = status;
	if (status < 0 && !(m->err_msg = strdup(err ? err : ""))) {
		actr__msg_free(sys, m);
		return -ENOMEM;
	}
	if (len)
		memcpy(m->data, env->payload.data, len);
	actr__enqueue(sys, m);
	return 0;
}

static bool valid_direction(const Actr__RpcEnvelope *env)
{
	return env->has_direction &&
	       (env->direction == ACTR__DIRECTION__DIRECTION_REQUEST ||
		env->direction == ACTR__DIRECTION__DIRECTION_RESPONSE ||
		env->direction == ACTR__DIRECTION__DIRECTION_TELL);
}

/* An envelope breaking PROTOCOL.md 6 (why): answered InvalidArgument
 * when it is a request we can answer (a REQUEST, or without a direction
 * one that looks like a request: see actr__system_deliver), else
 * dropped. Counted and logged either way. Returns -ACTR_EPROTO. */
static int refuse_invalid(actr_system_t *sys, actr__lane_t *lane,
			  const Actr__ActrId *from,
			  const Actr__RpcEnvelope *env, bool request,
			  const char *why)
{
	bool answerable = env->request_id && env->route_key && lane && from &&
			  from->realm && from->type &&
			  (request || (!env->error && env->timeout_ms > 0));

	sys->st.dropped_invalid++;
	actr_logw("runtime", "envelope %s refused (%s)%s",
		  env->request_id ? env->request_id : "?", why,
		  answerable ? ": answered InvalidArgument" : ", dropped");
	if (answerable)
		answer(sys, lane, from, env, -ACTR_EINVALARG, why, NULL, 0);
	return -ACTR_EPROTO;
}

/* A REQUEST/TELL whose encoding exceeds its lane's limit: a handler's
 * reply could not go back either, so it is refused before handling. */
static bool refuse_oversize(actr_system_t *sys, actr__lane_t *lane,
			    const Actr__ActrId *from,
			    const Actr__RpcEnvelope *env, int dir)
{
	char why[128];
	size_t n;

	if (!lane->max_message ||
	    (env->has_payload ? env->payload.len : 0) + 4096 <=
		    lane->max_message)
		return false;	/* cannot be over: skip the size walk */
	n = actr__rpc_envelope__get_packed_size(env);
	if (n <= lane->max_message)
		return false;
	sys->st.refused_oversize++;
	snprintf(why, sizeof(why), "request of %zu bytes exceeds the lane "
		 "limit of %zu bytes", n, lane->max_message);
	actr_logw("runtime", "%s %s from a remote caller: %s",
		  dir == DIR_REQUEST ? "request" : "tell", env->request_id,
		  why);
	if (dir == DIR_REQUEST)
		answer(sys, lane, from, env, -ACTR_EINVALARG, why, NULL, 0);
	return true;
}

int actr__system_deliver(actr_system_t *sys, actr_node_t *to,
			 actr__lane_t *lane, const Actr__ActrId *from,
			 const Actr__RpcEnvelope *env, int payload_type)
{
	const struct actr__route *r;
	struct actr__msg *m;
	int dir, status, hit;
	const char *err;
	const uint8_t *data;
	size_t len, klen;

	if (!env)
		return -EINVAL;
	if (!valid_direction(env))
		return refuse_invalid(sys, lane, from, env, false,
				      "missing or unknown direction");
	if (!env->request_id || !env->route_key) {
		sys->st.dropped_invalid++;
		actr_logw("runtime", "envelope without %s dropped",
			  env->request_id ? "route_key" : "request_id");
		return -ACTR_EPROTO;
	}
	dir = env->direction;
	if (dir == DIR_RESPONSE)
		return deliver_response(sys, env);
	if (!from || !from->realm || !from->type || !lane) {
		sys->st.dropped_invalid++;
		actr_logw("runtime", "request %s without a caller dropped",
			  env->request_id);
		return -ACTR_EPROTO;
	}
	if (dir == DIR_REQUEST && env->timeout_ms <= 0)
		return refuse_invalid(sys, lane, from, env, true,
				      "request with timeout_ms <= 0");
	if (refuse_oversize(sys, lane, from, env, dir))
		return -ACTR_ETOOBIG;
	if (!to || to->state != NODE_RUNNING) {
		if (dir == DIR_REQUEST)
			answer(sys, lane, from, env, -ACTR_EUNAVAILABLE,
			       "actor not running", NULL, 0);
		return -ACTR_EUNAVAILABLE;
	}
	if (dir == DIR_REQUEST) {
		hit = actr__dedup_check(sys->dedup, actr_reactor_now(sys->r),
					from->serial_number, env->request_id,
					&status, &err, &data, &len);
		if (hit) {
			sys->st.dedup_hits++;
			actr_logd("runtime", "request %s repeated (%s)",
				  env->request_id,
				  hit == 1 ? "in flight" : "from cache");
			if (hit == 2)
				answer(sys, lane, from, env, status, err, data,
				       len);
			return 0;
		}
	}
	klen = strlen(env->route_key);
	r = actr__route_find(to->w, env->route_key, klen);
	if (!r) {
		sys->st.unknown_route++;
		actr_logw("runtime", "unknown route %s from a remote caller",
			  env->route_key);
		if (dir == DIR_REQUEST) {
			actr__dedup_store(sys->dedup, actr_reactor_now(sys->r),
					  from->serial_number, env->request_id,
					  -ACTR_EUNKNOWNROUTE, "unknown route",
					  NULL, 0);
			answer(sys, lane, from, env, -ACTR_EUNKNOWNROUTE,
			       "unknown route", NULL, 0);
		}
		return 0;
	}
	int prio = payload_type == ACTR__PAYLOAD_TYPE__RPC_SIGNAL ? PRIO_HIGH
								 : PRIO_NORMAL;
	len = env->has_payload ? env->payload.len : 0;
	m = actr__msg_new(sys, len);
	if (!m)
		goto out_forget;
	if (len)
		memcpy(m->data, env->payload.data, len);
	m->dir = (uint8_t)dir;
	m->prio = (uint8_t)prio;
	m->route = r;
	m->target = to;
	m->origin.lane = lane;
	m->origin.caller = actr_id_dup(from);
	m->origin.rid_str = strdup(env->request_id);
	if (!m->origin.caller || !m->origin.rid_str) {
		actr__msg_free(sys, m);
		goto out_forget;
	}
	/* the caller's trace (a malformed one is ignored: the next call
	 * starts a new trace) */
	if (actr__trace_valid(env->traceparent)) {
		m->origin.traceparent = strdup(env->traceparent);
		if (env->tracestate && strlen(env->tracestate) <= 512)
			m->origin.tracestate = strdup(env->tracestate);
	}
	m->caller = m->origin.caller;
	to->inflight++;
	actr__enqueue(sys, m);
	return 0;

out_forget:
	if (dir == DIR_REQUEST)
		actr__dedup_forget(sys->dedup, from->serial_number,
				   env->request_id);
	return -ENOMEM;
}
