/* libFuzzer target: the node's inbound envelope path, from the bytes a
 * peer gate's lane receives (runtime/peer.c c_message decodes them the
 * same way) through actr__system_deliver (direction, caller, timeout,
 * response cache, routes) to the dispatcher and the handlers, with a
 * fake lane that records what the runtime sends back. A fresh system per
 * input (response cache of 8 entries, so eviction runs); its workload
 * has a raw echo, a failing route, a route that keeps its context, one
 * that calls out through the lane, the typed echo.EchoService.Echo, and
 * an ACL that admits acme:cli callers only. The input is records:
 *   ctl u8 (bits 0-1 caller, 2-3 lane payload type, 4-5 source: the
 *           bytes / the previous envelope again / a response or an error
 *           response to the last outbound request carrying the bytes,
 *           bit 6 reply to kept contexts, bit 7 the lane fails sends)
 *   len u16, bytes
 * Invariants: deliver returns only its documented codes, and a drop
 * moves its counter; everything the runtime sends encodes and decodes,
 * goes to the caller of the request it answers (or to the far actor for
 * an outbound call), and no (caller, request_id) is answered more often
 * than it was delivered; once the dispatcher is idle and kept contexts
 * have replied, every accepted request (except those waiting on the
 * outbound call) has been answered. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <actr/actr.h>
#include <actr/log.h>
#include <actr/runtime.h>

#include "examples/echo_actor/echo.pb-c.h"
#include "runtime/lane.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	TRACK = 64,		/* (caller, request_id) pairs tracked */
	KEEP = 16,		/* kept contexts */
	RID_MAX = 64,		/* request_id bytes tracked */
};

struct track {
	uint64_t serial;	/* caller serial */
	char rid[RID_MAX];	/* request_id */
	unsigned delivered;	/* REQUESTs accepted (rc 0) or refused
				 * with an error answer */
	unsigned answered;	/* RESPONSEs the runtime sent */
	bool lost;		/* an answer went to a failing lane */
	bool waits;		/* on the outbound call (t.T.Fwd) */
};

struct fz {
	actr_reactor_t *r;
	actr_system_t *sys;
	actr_node_t *node;
	actr__lane_t lane;		/* fake lane */
	bool fail;			/* lane sends fail */
	Actr__ActrId *caller[3];	/* callers picked by ctl */
	Actr__ActrId *far;		/* target of the outbound call */
	struct track t[TRACK];		/* requests seen */
	unsigned nt;			/* in t */
	bool overflow;			/* more pairs than TRACK */
	actr_ctx_t *kept[KEEP];		/* contexts kept by t.T.Keep */
	unsigned nkept;			/* in kept */
	char out_rid[RID_MAX];		/* last outbound request id */
};

static struct fz fz;

static struct track *track_find(uint64_t serial, const char *rid, bool add)
{
	for (unsigned i = 0; i < fz.nt; i++)
		if (fz.t[i].serial == serial && !strcmp(fz.t[i].rid, rid))
			return &fz.t[i];
	if (!add || strlen(rid) >= RID_MAX || fz.nt == TRACK) {
		if (add)
			fz.overflow = true;
		return NULL;
	}
	memset(&fz.t[fz.nt], 0, sizeof(fz.t[0]));
	fz.t[fz.nt].serial = serial;
	strcpy(fz.t[fz.nt].rid, rid);
	return &fz.t[fz.nt++];
}

static int lane_send(actr__lane_t *lane, const Actr__ActrId *target,
		     const Actr__RpcEnvelope *env, int payload_type)
{
	size_t n = protobuf_c_message_get_packed_size(&env->base);
	uint8_t *buf = malloc(n ? n : 1);
	Actr__RpcEnvelope *back;
	struct track *t;

	if (!buf)
		return -ENOMEM;
	if (protobuf_c_message_pack(&env->base, buf) != n)
		abort();
	back = actr__rpc_envelope__unpack(NULL, n, buf);
	free(buf);
	if (!back || !back->has_direction || !back->request_id)
		abort();
	if (back->direction == ACTR__DIRECTION__DIRECTION_REQUEST) {
		/* the outbound call of t.T.Fwd */
		if (!actr_id_equal(target, fz.far) || back->timeout_ms <= 0)
			abort();
		if (strlen(back->request_id) < RID_MAX)
			strcpy(fz.out_rid, back->request_id);
	} else if (back->direction == ACTR__DIRECTION__DIRECTION_RESPONSE) {
		t = track_find(target->serial_number, back->request_id, false);
		if (t && fz.fail) {
			/* this send fails: not an answer (the runtime tries
			 * an error reply in its place, failing as well) */
			t->lost = true;
		} else if (t) {
			if (++t->answered > t->delivered)
				abort();
		} else if (!fz.overflow) {
			abort(); /* an answer to nothing that was delivered */
		}
	} else {
		abort();
	}
	actr__rpc_envelope__free_unpacked(back, NULL);
	return fz.fail ? -EPIPE : 0;
}

static const struct actr__lane_ops lane_ops = { .send = lane_send };

static actr__lane_t *resolve(void *arg, const Actr__ActrId *target)
{
	(void)arg;
	return actr_id_equal(target, fz.far) ? &fz.lane : NULL;
}

/* ---- the workload ------------------------------------------------------- */

static int h_echo(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	return actr_reply_raw(ctx, d, n);
}

static int h_fail(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	(void)ctx;
	return n && d[0] ? -(int)d[0] : -ACTR_EINTERNAL;
}

static int h_keep(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	(void)d;
	(void)n;
	if (fz.nkept == KEEP)
		return actr_reply_error(ctx, 8, "busy");
	fz.kept[fz.nkept++] = actr_ctx_keep(ctx);
	return 0;
}

static void fwd_done(const actr_result_t *res, void *arg)
{
	actr_ctx_t *ctx = arg;

	if (res->status < 0)
		actr_reply_error(ctx, (uint32_t)-res->status, res->message);
	else
		actr_reply_raw(ctx, res->data, res->len);
}

static int h_fwd(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	return actr_call_raw(actr_ctx_keep(ctx), fz.far, "far.F.Do", d, n, 0,
			     fwd_done, ctx);
}

static int h_typed(actr_ctx_t *ctx, const Echo__EchoRequest *req)
{
	Echo__EchoResponse resp = ECHO__ECHO_RESPONSE__INIT;

	resp.reply = req->message;
	return actr_reply(ctx, &resp.base);
}

static const actr_method_t methods[] = {
	ACTR_METHOD("Echo", h_typed),
	ACTR_METHOD_END,
};

static Actr__ActrType acl_type = ACTR__ACTR_TYPE__INIT;
static Actr__AclRule acl_rule = ACTR__ACL_RULE__INIT;
static Actr__AclRule *acl_rules[] = { &acl_rule };
static Actr__Acl acl = ACTR__ACL__INIT;

static void setup(void)
{
	actr_workload_t *w;
	static const char *const callers[] = {
		"abc@101/acme:cli:1", "abd@101/acme:other:1",
		"abe@102/acme:cli:1",
	};

	memset(&fz, 0, sizeof(fz));
	fz.lane.ops = &lane_ops;
	fz.r = actr_reactor_new();
	fz.sys = actr_system_new(fz.r, &(actr_system_config_t){
						.realm_id = 101,
						.dedup_max = 8 });
	w = actr_workload_new("acme", "srv", "1");
	if (!fz.r || !fz.sys || !w ||
	    actr_workload_add_route(w, "t.T.Echo", h_echo, 0) < 0 ||
	    actr_workload_add_route(w, "t.T.Fail", h_fail, 0) < 0 ||
	    actr_workload_add_route(w, "t.T.Keep", h_keep, 0) < 0 ||
	    actr_workload_add_route(w, "t.T.Fwd", h_fwd, 0) < 0 ||
	    actr_workload_add_route(w, "t.T.Sig", h_echo,
				    ACTR__PAYLOAD_TYPE__RPC_SIGNAL) < 0 ||
	    actr_workload_add_service(w, &echo__echo_service__descriptor,
				      methods) < 0)
		abort();
	acl_type.manufacturer = "acme";
	acl_type.name = "cli";
	acl_type.version = "1";
	acl_rule.permission = ACTR__ACL_RULE__PERMISSION__ALLOW;
	acl_rule.from_type = &acl_type;
	acl_rule.source_realm_case = ACTR__ACL_RULE__SOURCE_REALM_ANY_REALM;
	acl_rule.any_realm = true;
	acl.n_rules = 1;
	acl.rules = acl_rules;
	actr_workload_set_acl(w, &acl);
	fz.node = actr_node_new(fz.sys, w, 0x5);
	if (!fz.node || actr_node_start(fz.node, NULL) < 0)
		abort();
	for (int i = 0; i < 3; i++)
		if (actr_id_parse(callers[i], &fz.caller[i]) < 0)
			abort();
	if (actr_id_parse("def@101/acme:far:1", &fz.far) < 0)
		abort();
	actr__system_set_remote(fz.sys, resolve, NULL);
}

static void release_kept(void)
{
	for (unsigned i = 0; i < fz.nkept; i++)
		actr_reply_raw(fz.kept[i], "late", 4);
	fz.nkept = 0;
}

static void teardown(void)
{
	release_kept();
	actr_system_free(fz.sys);
	actr_reactor_free(fz.r);
	for (int i = 0; i < 3; i++)
		actr_proto_free(fz.caller[i]);
	actr_proto_free(fz.far);
}

/* ---- one record --------------------------------------------------------- */

static Actr__RpcEnvelope *response_to_out(const uint8_t *d, size_t n,
					  bool error, Actr__ErrorResponse *er)
{
	static Actr__RpcEnvelope e;

	actr__rpc_envelope__init(&e);
	actr__error_response__init(er);
	e.route_key = "far.F.Do";
	e.request_id = fz.out_rid;
	e.has_direction = true;
	e.direction = ACTR__DIRECTION__DIRECTION_RESPONSE;
	if (error) {
		er->code = n ? d[0] : 0;
		er->message = "far error";
		e.error = er;
	} else {
		e.has_payload = true;
		e.payload.data = (uint8_t *)d;
		e.payload.len = n;
	}
	return &e;
}

static void deliver(const Actr__RpcEnvelope *env, unsigned ctl)
{
	static const int ptypes[] = {
		ACTR__PAYLOAD_TYPE__RPC_RELIABLE,
		ACTR__PAYLOAD_TYPE__RPC_SIGNAL,
		ACTR__PAYLOAD_TYPE__STREAM_RELIABLE,
		99,
	};
	const Actr__ActrId *from = (ctl & 3) == 3 ? NULL : fz.caller[ctl & 3];
	actr_system_stats_t a = *actr_system_stats(fz.sys), b;
	bool dir_req = env->has_direction &&
		       env->direction == ACTR__DIRECTION__DIRECTION_REQUEST;
	bool dir_bad = !env->has_direction ||
		       (env->direction != ACTR__DIRECTION__DIRECTION_REQUEST &&
			env->direction != ACTR__DIRECTION__DIRECTION_RESPONSE &&
			env->direction != ACTR__DIRECTION__DIRECTION_TELL);
	/* what may be answered: a REQUEST (an invalid one gets
	 * InvalidArgument), or a direction-less envelope that looks like one */
	bool request = env->request_id && env->route_key && from &&
		       (dir_req || (dir_bad && !env->error &&
				    env->timeout_ms > 0));
	struct track *t = NULL;
	unsigned answered = 0;
	int rc;

	/* tracked before delivery: the answer may go out inside it */
	if (request) {
		t = track_find(from->serial_number, env->request_id, true);
		if (t) {
			answered = t->answered;
			t->delivered++;
			if (!strcmp(env->route_key, "t.T.Fwd"))
				t->waits = true;
		}
	}
	rc = actr__system_deliver(fz.sys, fz.node, &fz.lane, from, env,
				  ptypes[(ctl >> 2) & 3]);
	b = *actr_system_stats(fz.sys);
	switch (rc) {
	case 0:
		break;
	case -ACTR_EPROTO:
	case -EINVAL:
		if (b.dropped_invalid != a.dropped_invalid + 1)
			abort();
		break;
	case -ACTR_ENOTFOUND:
		if (b.late_responses != a.late_responses + 1)
			abort();
		break;
	case -ENOMEM:
		break;
	default:
		abort(); /* the node is running: no -ACTR_EUNAVAILABLE */
	}
	if (t && rc != 0 && t->answered == answered)
		t->delivered--; /* refused without an answer */
	actr_system_poll(fz.sys, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t prev[1 << 16];
	size_t prev_len = 0, off = 0;
	bool have_prev = false;

	actr_log_set_level(ACTR_LOG_ERROR);
	setup();
	for (unsigned recs = 0; off + 3 <= size && recs < 256; recs++) {
		unsigned ctl = data[off];
		size_t n = (size_t)data[off + 1] << 8 | data[off + 2];
		const uint8_t *d = data + off + 3;
		Actr__RpcEnvelope *env = NULL;
		Actr__ErrorResponse er;

		off += 3;
		if (n > size - off)
			n = size - off;
		off += n;
		fz.fail = ctl & 0x80;
		switch ((ctl >> 4) & 3) {
		case 1:
			if (!have_prev)
				break;
			d = prev;
			n = prev_len;
			/* fall through */
		case 0:
			env = actr__rpc_envelope__unpack(NULL, n, d);
			if (env) {
				deliver(env, ctl);
				if (d != prev) {
					memcpy(prev, d, n);
					prev_len = n;
					have_prev = true;
				}
				actr__rpc_envelope__free_unpacked(env, NULL);
			}
			break;
		default: /* 2 answer, 3 error */
			if (fz.out_rid[0])
				deliver(response_to_out(d, n, ctl & 0x10, &er),
					ctl);
			break;
		}
		if (ctl & 0x40) {
			release_kept();
			actr_system_poll(fz.sys, 0);
		}
	}
	fz.fail = false;
	release_kept();
	actr_system_poll(fz.sys, 0);
	for (unsigned i = 0; i < fz.nt; i++)
		if (fz.t[i].delivered && !fz.t[i].answered && !fz.t[i].waits &&
		    !fz.t[i].lost)
			abort();
	teardown();
	return 0;
}
