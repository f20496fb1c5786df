/*
 * The host gate and in-process lane, the priority dispatcher, the
 * per-invocation context and replies.
 *
 * A call builds one struct actr__msg (payload inline), resolves the
 * target node and its route, records a pending entry and appends the
 * message to the dispatcher queue of the route's priority. The dispatcher
 * (a CHECK hook, or actr_system_poll) takes responses first, then High
 * (RPC_SIGNAL), then Normal, FIFO within each, at most `budget` per
 * iteration so I/O is not starved. A reply becomes a RESPONSE message on
 * the response queue, which completes the pending call. Nothing is
 * serialised in-process except typed payloads (packed once).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

/* ---- queues -------------------------------------------------------------- */

void actr__enqueue(actr_system_t *sys, struct actr__msg *m)
{
	int q = m->dir == DIR_RESPONSE ? PRIO_N : m->prio;

	m->next = NULL;
	if (sys->qtail[q])
		sys->qtail[q]->next = m;
	else
		sys->qhead[q] = m;
	sys->qtail[q] = m;
	sys->queued++;
	/* From host code between iterations: the reactor's fd must turn
	 * readable, or a host loop blocked on it never dispatches m. */
	actr__reactor_kick(sys->r);
}

static struct actr__msg *dequeue(actr_system_t *sys)
{
	/* responses complete continuations first, then High, then Normal */
	static const int order[] = { PRIO_N, PRIO_HIGH, PRIO_NORMAL };

	for (unsigned i = 0; i < ACTR_ARRAY_LEN(order); i++) {
		int q = order[i];
		struct actr__msg *m = sys->qhead[q];

		if (m) {
			sys->qhead[q] = m->next;
			if (!m->next)
				sys->qtail[q] = NULL;
			sys->queued--;
			return m;
		}
	}
	return NULL;
}

/* ---- responses ----------------------------------------------------------- */

static struct actr__msg *resp_new(actr_system_t *sys, uint64_t rid,
				  int status, const char *err, size_t len)
{
	struct actr__msg *m = actr__msg_new(sys, len);

	if (!m)
		return NULL;
	m->dir = DIR_RESPONSE;
	m->rid = rid;
	m->status = status;
	if (status < 0)
		m->err_msg = strdup(err ? err : actr_strerror(status));
	return m;
}

void actr__respond_local(actr_system_t *sys, uint64_t rid, int status,
			 const char *err, const void *data, size_t len)
{
	struct actr__msg *m = resp_new(sys, rid, status, err, len);

	if (!m) {
		/* Out of memory: the caller's deadline will complete it. */
		actr_loge("runtime", "no memory for a response");
		return;
	}
	if (len)
		memcpy(m->data, data, len);
	actr__enqueue(sys, m);
}

void actr__complete(actr_system_t *sys, struct actr__msg *resp)
{
	struct actr__pending *p = actr__pending_take(sys, resp->rid);
	actr_result_t res;
	ProtobufCMessage *msg = NULL;

	if (!p) {
		sys->st.late_responses++;
		actr_logd("runtime", "response %llx: no pending call, dropped",
			  (unsigned long long)resp->rid);
		actr__msg_free(sys, resp);
		return;
	}
	res.status = resp->status;
	res.message = resp->err_msg;
	res.data = resp->data;
	res.len = resp->len;
	res.msg = NULL;
	if (p->resp_type && res.status == 0) {
		msg = protobuf_c_message_unpack(p->resp_type, NULL, resp->len,
						resp->data);
		if (msg) {
			res.msg = msg;
		} else {
			res.status = -ACTR_EDECODE;
			res.message = "response could not be decoded";
		}
	}
	sys->st.responses++;
	actr__call_observe(sys, p, res.status);
	p->cb(&res, p->arg);
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
	actr__pending_release(sys, p);
	actr__msg_free(sys, resp);
}

/* ---- contexts ------------------------------------------------------------ */

static struct actr_ctx *ctx_new(actr_system_t *sys)
{
	struct actr_ctx *c = sys->free_ctxs;

	if (c)
		sys->free_ctxs = c->next_free;
	else if (!(c = actr__malloc(sizeof(*c))))
		return NULL;
	c->is_hook = false;
	c->kept = false;
	c->replied = false;
	c->forced = false;
	c->rid_buf[0] = '\0';
	return c;
}

/* The invocation is over: free the request, release the node's unit. */
static void ctx_free(actr_system_t *sys, struct actr_ctx *c)
{
	actr_node_t *n = c->node;

	/* handled (a REQUEST's reply is queued already): acknowledge */
	if (ACTR_UNLIKELY(c->req->mbid) && sys->inbox)
		sys->inbox->done(sys->inbox_arg, c->req->mbid);
	actr__msg_free(sys, c->req);
	c->next_free = sys->free_ctxs;
	sys->free_ctxs = c;
	actr__node_release(n);
}

static void kept_link(struct actr_ctx *c)
{
	actr_node_t *n = c->node;

	c->kprev = NULL;
	c->knext = n->kept;
	if (n->kept)
		n->kept->kprev = c;
	n->kept = c;
}

static void kept_unlink(struct actr_ctx *c)
{
	if (c->kprev)
		c->kprev->knext = c->knext;
	else
		c->node->kept = c->knext;
	if (c->knext)
		c->knext->kprev = c->kprev;
}

/* The node is being freed: its kept contexts die with it. */
void actr__ctx_drop_kept(actr_system_t *sys, actr_node_t *n)
{
	struct actr_ctx *c;

	while ((c = n->kept)) {
		n->kept = c->knext;
		actr__msg_free(sys, c->req);
		c->next_free = sys->free_ctxs;
		sys->free_ctxs = c;
	}
}

/* Send the reply of remote request m (status < 0: error) on its lane. A
 * reply the lane refuses (too big for it, queue full, closed) becomes an
 * Internal error reply, so the caller learns at once instead of at its
 * deadline; the response cache keeps what was sent. Returns the first
 * send's result (the handler's actr_reply* sees the failure). */
static int reply_remote(actr_system_t *sys, struct actr__msg *m, int status,
			const char *err, const void *data, size_t len)
{
	const char *rid = m->origin.rid_str;
	actr__lane_t *lane = m->origin.lane;
	char why[160];
	int rc, rc2;

	if (status < 0 && !err)
		err = actr_strerror(status);
	rc = actr__remote_send(sys, lane, m->origin.caller, m->route->key,
			       rid, DIR_RESPONSE, status, err, data, len, 0,
			       ACTR__PAYLOAD_TYPE__RPC_RELIABLE);
	if (rc < 0) {
		sys->st.reply_failed++;
		if (rc == -ACTR_ETOOBIG && lane->max_message)
			snprintf(why, sizeof(why), "reply of %zu bytes exceeds "
				 "the lane limit of %zu bytes", len,
				 lane->max_message);
		else
			snprintf(why, sizeof(why), "reply of %zu bytes could "
				 "not be sent: %s", len, actr_strerror(rc));
		status = -ACTR_EINTERNAL;
		err = why;
		data = NULL;
		len = 0;
		rc2 = actr__remote_send(sys, lane, m->origin.caller,
					m->route->key, rid, DIR_RESPONSE,
					status, err, NULL, 0, 0,
					ACTR__PAYLOAD_TYPE__RPC_RELIABLE);
		actr_logw("runtime", "reply to %s: %s; error reply %s", rid,
			  why, rc2 < 0 ? actr_strerror(rc2) : "sent");
	}
	actr__dedup_store(sys->dedup, actr_reactor_now(sys->r),
			  m->origin.caller->serial_number, rid, status, err,
			  data, len);
	return rc;
}

/* Send the reply of ctx's request (status < 0: error). */
static int reply(struct actr_ctx *c, int status, const char *err,
		 const void *data, size_t len, const ProtobufCMessage *pm)
{
	actr_system_t *sys;
	struct actr__msg *m;
	uint8_t *tmp = NULL;
	int rc = 0;

	if (!c || c->is_hook)
		return -EINVAL;
	if (c->replied) {
		if (c->forced && !c->in_handler) {
			/* the handler's late reply: now c may go */
			kept_unlink(c);
			actr__msg_free(c->node->sys, c->req);
			c->next_free = c->node->sys->free_ctxs;
			c->node->sys->free_ctxs = c;
		}
		return -EALREADY;
	}
	sys = c->node->sys;
	m = c->req;
	c->replied = true;
	if (m->dir != DIR_REQUEST)
		goto out;
	if (!m->origin.lane) {
		/* in-process: the response goes by pointer to the caller */
		size_t n = pm ? protobuf_c_message_get_packed_size(pm) : len;
		struct actr__msg *r = resp_new(sys, m->rid, status, err, n);

		if (!r) {
			rc = -ENOMEM;
			goto out;
		}
		if (pm)
			protobuf_c_message_pack(pm, r->data);
		else if (n)
			memcpy(r->data, data, n);
		actr__enqueue(sys, r);
		goto out;
	}
	if (pm) {
		len = protobuf_c_message_get_packed_size(pm);
		tmp = malloc(len ? len : 1);
		if (!tmp) {
			rc = -ENOMEM;
			goto out;
		}
		protobuf_c_message_pack(pm, tmp);
		data = tmp;
	}
	rc = reply_remote(sys, m, status, err, data, len);
	free(tmp);
out:
	if (c->forced) {
		/* answered for a forced shutdown: the handler still holds c
		 * (it stays on the kept list until its own reply) */
		actr__node_release(c->node);
	} else if (!c->in_handler) {
		/* a kept context replying later */
		if (c->kept)
			kept_unlink(c);
		ctx_free(sys, c);
	}
	return rc;
}

void actr__node_force(actr_system_t *sys, actr_node_t *n, const char *why)
{
	struct actr_ctx *c, *next;

	/* Queued messages for n: requests are answered, tells dropped.
	 * Mailbox messages are left unacknowledged (handled again by the
	 * next process: at least once). */
	for (int q = 0; q < PRIO_N; q++) {
		struct actr__msg **mp = &sys->qhead[q], *prev = NULL;

		while (*mp) {
			struct actr__msg *m = *mp;

			if (m->target != n || m->dir == DIR_RESPONSE) {
				prev = m;
				mp = &m->next;
				continue;
			}
			*mp = m->next;
			if (sys->qtail[q] == m)
				sys->qtail[q] = prev;
			sys->queued--;
			if (m->dir == DIR_REQUEST && !m->origin.lane)
				actr__respond_local(sys, m->rid,
						    -ACTR_EUNAVAILABLE, why,
						    NULL, 0);
			else if (m->dir == DIR_REQUEST)
				(void)reply_remote(sys, m, -ACTR_EUNAVAILABLE,
						   why, NULL, 0);
			actr__msg_free(sys, m);
			actr__node_release(n);
		}
	}
	/* Kept contexts: their callers are told now. */
	for (c = n->kept; c; c = next) {
		next = c->knext;
		if (c->replied || c->forced)
			continue;
		c->forced = true;
		(void)reply(c, -ACTR_EUNAVAILABLE, why, NULL, 0, NULL);
	}
}

int actr_reply(actr_ctx_t *ctx, const ProtobufCMessage *resp)
{
	if (!resp)
		return -EINVAL;
	return reply(ctx, 0, NULL, NULL, 0, resp);
}

int actr_reply_raw(actr_ctx_t *ctx, const void *data, size_t len)
{
	if (len && !data)
		return -EINVAL;
	return reply(ctx, 0, NULL, data, len, NULL);
}

int actr_reply_error(actr_ctx_t *ctx, uint32_t code, const char *message)
{
	if (code == 0 || code > INT32_MAX)
		return -EINVAL;
	return reply(ctx, -(int)code, message, NULL, 0, NULL);
}

actr_ctx_t *actr_ctx_keep(actr_ctx_t *ctx)
{
	if (ctx && !ctx->is_hook)
		ctx->kept = true;
	return ctx;
}

const Actr__ActrId *actr_ctx_self(const actr_ctx_t *ctx)
{
	return &ctx->node->id;
}

const Actr__ActrId *actr_ctx_caller(const actr_ctx_t *ctx)
{
	return ctx->is_hook ? NULL : ctx->req->caller;
}

const char *actr_ctx_request_id(actr_ctx_t *ctx)
{
	if (ctx->is_hook)
		return "";
	if (ctx->req->origin.rid_str)
		return ctx->req->origin.rid_str;
	if (!ctx->rid_buf[0])
		actr__format_rid(ctx->req->rid, ctx->rid_buf);
	return ctx->rid_buf;
}

const char *actr_ctx_route(const actr_ctx_t *ctx)
{
	return ctx->is_hook ? "" : ctx->req->route->key;
}

void *actr_ctx_user(const actr_ctx_t *ctx)
{
	return ctx->node->w->user;
}

/* ---- dispatch ------------------------------------------------------------ */

/* Refuse a request without running a handler. */
static void refuse(actr_system_t *sys, struct actr__msg *m, int status,
		   const char *why)
{
	actr_node_t *n = m->target;
	struct actr_ctx *c;

	if (m->dir == DIR_REQUEST && (c = ctx_new(sys))) {
		c->node = n;
		c->req = m;
		c->in_handler = false;
		reply(c, status, why, NULL, 0, NULL); /* frees m, releases n */
		return;
	}
	actr__msg_free(sys, m);
	actr__node_release(n);
}

/* Dispatch proper: ACL and context setup for m (the route was resolved
 * by the gate). NULL when m was refused (answered already). Kept out of
 * line so its cost can be measured on its own (bench/inproc_call). */
static __attribute__((noinline)) struct actr_ctx *
dispatch_prepare(actr_system_t *sys, struct actr__msg *m)
{
	actr_node_t *n = m->target;
	struct actr_ctx *c;

	/* n is RUNNING or STOPPING: messages are queued only for running
	 * nodes, and actr_node_free purges the queue of its node's. */
	/* local callers and nodes without an ACL skip the evaluation */
	if (m->caller && n->w->acl &&
	    ACTR_UNLIKELY(!actr_acl_allows(n->w->acl, m->caller))) {
		sys->st.denied++;
		actr_logd("runtime", "%s: caller denied by ACL", m->route->key);
		refuse(sys, m, -ACTR_EPERM, "permission denied");
		return NULL;
	}
	c = ctx_new(sys);
	if (ACTR_UNLIKELY(!c)) {
		refuse(sys, m, -ENOMEM, "out of memory");
		return NULL;
	}
	c->node = n;
	c->req = m;
	return c;
}

/* Callee-side handler time of route r (metrics.c reads it). */
static void route_observe(struct actr__route *r, uint64_t ns, bool error)
{
	if (ACTR_UNLIKELY(!r->stats) &&
	    !(r->stats = calloc(1, sizeof(*r->stats))))
		return;
	actr__hist_observe(&r->stats->h[error], ns);
}

/* The log fields of message m (core/log.c asks while m is handled). */
void actr__log_fields_of_msg(const void *msg, struct actr__log_fields *f,
			     char *buf, size_t cap)
{
	const struct actr__msg *m = msg;

	f->route = m->route ? m->route->key : NULL;
	f->request_id = m->origin.rid_str;
	if (m->origin.traceparent && cap >= 33) {
		memcpy(buf, m->origin.traceparent + 3, 32);
		buf[32] = '\0';
		f->trace_id = buf;
		buf += 33;
		cap -= 33;
	}
	if (m->caller && actr_id_format(m->caller, buf, cap) > 0)
		f->peer = buf;
}

static void handle(actr_system_t *sys, struct actr__msg *m)
{
	actr_node_t *n = m->target;
	const struct actr__route *r = m->route;
	struct actr_ctx *c = dispatch_prepare(sys, m);
	uint64_t t0;
	int rc;

	if (!c)
		return;
	/* lines logged by the handler carry the request (structured
	 * formats, core/log.c); calls it makes continue its trace */
	actr__log_msg = m;
	sys->cur_msg = m;
	t0 = sys->call_hist_on ? actr_time_ns() : 0;
	c->in_handler = true;
	sys->st.handled++;
	if (r->raw) {
		rc = r->raw(c, m->data, m->len);
	} else {
		ProtobufCMessage *req =
			protobuf_c_message_unpack(r->in, NULL, m->len, m->data);

		if (req) {
			rc = r->typed(c, req);
			protobuf_c_message_free_unpacked(req, NULL);
		} else {
			actr_logw("runtime", "%s: request could not be decoded",
				  r->key);
			rc = -ACTR_EDECODE;
		}
	}
	c->in_handler = false;
	if (t0)
		route_observe((struct actr__route *)r, actr_time_ns() - t0,
			      rc < 0);
	if (ACTR__LOG_ENABLED(ACTR_LOG_DEBUG))
		actr_logd("runtime", "handled %s: %s%s%s", r->key,
			  rc < 0 ? actr_strerror(rc) : "ok",
			  m->origin.traceparent ? " traceparent " : "",
			  m->origin.traceparent ? m->origin.traceparent : "");
	/* poll is not re-entrant for a system: nothing to restore */
	sys->cur_msg = NULL;
	actr__log_msg = NULL;
	if (ACTR_UNLIKELY(rc < 0)) {
		sys->st.handler_errors++;
		if (n->w->hooks.on_error)
			n->w->hooks.on_error(c, (uint32_t)-rc, r->key,
					     n->w->user);
		if (!c->replied) {
			c->kept = false;
			reply(c, rc, NULL, NULL, 0, NULL);
			return;
		}
	} else if (!c->replied && !c->kept) {
		if (m->dir == DIR_REQUEST) {
			reply(c, -ACTR_EINTERNAL, "handler did not reply",
			      NULL, 0, NULL);
			return;
		}
	} else if (!c->replied) {
		kept_link(c);	/* replies later */
		return;
	}
	ctx_free(sys, c);
}

unsigned actr_system_poll(actr_system_t *sys, unsigned budget)
{
	unsigned n = 0;
	struct actr__msg *m;

	if (sys->dispatching)
		return 0;	/* called from a handler: not re-entrant */
	if (budget == 0)
		budget = ACTR__POLL_MAX;
	sys->dispatching = true;
	while (n < budget && (m = dequeue(sys))) {
		n++;
		if (m->dir == DIR_RESPONSE)
			actr__complete(sys, m);
		else
			handle(sys, m);
	}
	sys->dispatching = false;
	return n;
}

void actr__dispatch_hook(actr_hook_t *h, void *arg)
{
	actr_system_t *sys = arg;

	(void)h;
	if (sys->queued)
		actr_system_poll(sys, sys->cfg.dispatch_budget);
}

void actr__prepare_hook(actr_hook_t *h, void *arg)
{
	actr_system_t *sys = arg;

	(void)h;
	if (sys->queued)
		actr_reactor_limit_wait(sys->r, 0);
}

/* ---- outbound: host gate and remote seam --------------------------------- */

struct call {
	actr_node_t *owner;		/* node the call belongs to */
	const Actr__ActrId *caller;	/* NULL = shell */
	actr_node_t *target;		/* resolved in-process target */
	const Actr__ActrId *target_id;	/* for lookup / remote */
	const char *route_key;
	const ProtobufCMessage *pm;	/* typed payload, or NULL */
	const void *data;		/* raw payload */
	size_t len;
	int dir;			/* DIR_REQUEST or DIR_TELL */
	uint32_t timeout_ms;
	actr_result_cb cb;
	void *arg;
	const ProtobufCMessageDescriptor *resp_type;
	const char *trace;		/* traceparent to continue (the
					 * ctx's request), or NULL: the
					 * message being handled now */
	const char *tstate;		/* its tracestate, or NULL */
};

/* The trace a call continues: its context's request's, else the
 * message being handled now (or a queued call's: trace.c). */
static const char *call_trace(const actr_system_t *sys, const struct call *k,
			      const char **tstate)
{
	if (k->trace) {
		*tstate = k->tstate;
		return k->trace;
	}
	*tstate = sys->cur_msg && !sys->trace_override ?
			  sys->cur_msg->origin.tracestate : NULL;
	return actr__trace_current(sys);
}

static int send_remote(actr_system_t *sys, const struct call *k)
{
	actr__lane_t *lane = sys->resolve ? sys->resolve(sys->resolve_arg,
							 k->target_id)
					  : NULL;
	struct actr__pending *p = NULL;
	const void *data = k->data;
	size_t len = k->len;
	uint8_t *tmp = NULL;
	char rid[24] = "", tp[ACTR__TRACEPARENT_LEN + 1];
	const char *parent, *tstate;
	int64_t timeout;
	int rc;

	if (!lane && k->dir == DIR_TELL)
		return -ACTR_EUNAVAILABLE;
	if (k->dir == DIR_REQUEST) {
		p = actr__pending_add(sys, k->owner, k->timeout_ms);
		if (!p)
			return -ENOMEM;
		p->cb = k->cb;
		p->arg = k->arg;
		p->resp_type = k->resp_type;
		if (ACTR_UNLIKELY(sys->call_hist_on))
			p->cr = actr__call_route(sys, k->route_key);
		actr__format_rid(p->rid, rid);
		if (!lane) {
			actr__respond_local(sys, p->rid, -ACTR_EUNAVAILABLE,
					    "no route to actor", NULL, 0);
			return 0;
		}
	} else {
		actr__format_rid(sys->next_rid++, rid);
	}
	if (k->pm) {
		len = protobuf_c_message_get_packed_size(k->pm);
		tmp = malloc(len ? len : 1);
		if (!tmp) {
			rc = -ENOMEM;
			goto out;
		}
		protobuf_c_message_pack(k->pm, tmp);
		data = tmp;
	}
	timeout = k->timeout_ms ? k->timeout_ms : ACTR_DEFAULT_TIMEOUT_MS;
	/* continue the trace of the message being handled, or start one */
	parent = call_trace(sys, k, &tstate);
	actr__trace_child(parent, tp);
	rc = actr__remote_send_traced(sys, lane, k->target_id, k->route_key,
				      rid, k->dir, 0, NULL, data, len,
				      k->dir == DIR_REQUEST ? timeout : 0,
				      ACTR__PAYLOAD_TYPE__RPC_RELIABLE, tp,
				      parent ? tstate : NULL);
out:
	free(tmp);
	if (rc < 0 && p) {
		actr__respond_local(sys, p->rid, rc, "lane send failed", NULL,
				    0);
		rc = 0;	/* reported through the callback */
	}
	return rc;
}

static int send_call(actr_system_t *sys, const struct call *k)
{
	actr_node_t *t = k->target;
	const struct actr__route *r;
	struct actr__pending *p;
	struct actr__msg *m;
	size_t klen, len;

	if (!k->route_key || (k->len && !k->data) ||
	    (k->dir == DIR_REQUEST && !k->cb))
		return -EINVAL;
	if (!t) {
		const Actr__ActrId *id = k->target_id;

		if (!id || !id->realm || !id->type)
			return -EINVAL;
		t = actr__node_find(sys, k->target_id);
		if (!t)
			return send_remote(sys, k);
	}
	klen = strlen(k->route_key);
	r = actr__route_find(t->w, k->route_key, klen);
	len = k->pm ? protobuf_c_message_get_packed_size(k->pm) : k->len;
	m = actr__msg_new(sys, len);
	if (!m)
		return -ENOMEM;
	if (k->pm)
		protobuf_c_message_pack(k->pm, m->data);
	else if (len)
		memcpy(m->data, k->data, len);
	m->dir = (uint8_t)k->dir;
	m->rid = 0;
	if (k->dir == DIR_REQUEST) {
		p = actr__pending_add(sys, k->owner, k->timeout_ms);
		if (!p) {
			actr__msg_free(sys, m);
			return -ENOMEM;
		}
		p->cb = k->cb;
		p->arg = k->arg;
		p->resp_type = k->resp_type;
		if (ACTR_UNLIKELY(sys->call_hist_on))
			p->cr = actr__call_route(sys, k->route_key);
		m->rid = p->rid;
	}
	if (ACTR_UNLIKELY(!r || t->state != NODE_RUNNING)) {
		int status = r ? -ACTR_EUNAVAILABLE : -ACTR_EUNKNOWNROUTE;

		if (!r) {
			sys->st.unknown_route++;
			actr_logw("runtime", "unknown route %s", k->route_key);
		}
		if (k->dir == DIR_REQUEST)
			actr__respond_local(sys, m->rid, status,
					    r ? "actor not running"
					      : "unknown route",
					    NULL, 0);
		actr__msg_free(sys, m);
		return 0;
	}
	m->prio = r->prio;
	m->route = r;
	m->target = t;
	m->caller = k->caller;
	/* an in-process hop keeps the trace going (costs only when there
	 * is one: in-process calls never start a trace) */
	{
		const char *tstate, *tr = call_trace(sys, k, &tstate);

		if (ACTR_UNLIKELY(tr != NULL)) {
			char tp[ACTR__TRACEPARENT_LEN + 1];

			actr__trace_child(tr, tp);
			m->origin.traceparent = strdup(tp);
			if (tstate && m->origin.traceparent)
				m->origin.tracestate = strdup(tstate);
		}
	}
	t->inflight++;
	if (ACTR_UNLIKELY(t->via_inbox) && sys->inbox) {
		/* stored first; the inbox queues it when it may run */
		int rc = sys->inbox->store(sys->inbox_arg, m);

		if (rc < 0) {
			if (k->dir == DIR_REQUEST)
				actr__respond_local(sys, m->rid, rc,
						    "mailbox refused the message",
						    NULL, 0);
			actr__msg_free(sys, m);
			actr__node_release(t);
			return k->dir == DIR_REQUEST ? 0 : rc;
		}
		return 0;
	}
	actr__enqueue(sys, m);
	return 0;
}

int actr__inbox_redeliver(actr_system_t *sys, actr_node_t *t,
			  const char *route_key, int dir, const void *data,
			  size_t len, uint64_t mbid)
{
	const struct actr__route *r;
	struct actr__msg *m;

	r = actr__route_find(t->w, route_key, strlen(route_key));
	if (!r)
		return -ACTR_EUNKNOWNROUTE;
	if (t->state != NODE_RUNNING)
		return -ACTR_EUNAVAILABLE;
	m = actr__msg_new(sys, len);
	if (!m)
		return -ENOMEM;
	if (len)
		memcpy(m->data, data, len);
	m->dir = (uint8_t)dir;
	m->rid = 0;	/* no caller waits: the reply is dropped */
	m->prio = r->prio;
	m->route = r;
	m->target = t;
	m->mbid = mbid;
	t->inflight++;
	actr__enqueue(sys, m);
	return 0;
}

int actr_ref_call(actr_ref_t *ref, const char *route_key,
		  const ProtobufCMessage *req,
		  const ProtobufCMessageDescriptor *resp_type,
		  uint32_t timeout_ms, actr_result_cb cb, void *arg)
{
	actr_node_t *n = ref->node;
	struct call k = { n, NULL, n, NULL, route_key, req, NULL, 0,
			  DIR_REQUEST, timeout_ms, cb, arg, resp_type,
			  NULL, NULL };

	if (!req)
		return -EINVAL;
	if (n->state != NODE_RUNNING)
		return -ACTR_ECLOSED;
	return send_call(n->sys, &k);
}

int actr_ref_call_raw(actr_ref_t *ref, const char *route_key,
		      const void *data, size_t len, uint32_t timeout_ms,
		      actr_result_cb cb, void *arg)
{
	actr_node_t *n = ref->node;
	struct call k = { n, NULL, n, NULL, route_key, NULL, data, len,
			  DIR_REQUEST, timeout_ms, cb, arg, NULL,
			  NULL, NULL };

	if (n->state != NODE_RUNNING)
		return -ACTR_ECLOSED;
	return send_call(n->sys, &k);
}

int actr_ref_tell(actr_ref_t *ref, const char *route_key,
		  const ProtobufCMessage *msg)
{
	actr_node_t *n = ref->node;
	struct call k = { n, NULL, n, NULL, route_key, msg, NULL, 0,
			  DIR_TELL, 0, NULL, NULL, NULL,
			  NULL, NULL };

	if (!msg)
		return -EINVAL;
	if (n->state != NODE_RUNNING)
		return -ACTR_ECLOSED;
	return send_call(n->sys, &k);
}

int actr_ref_tell_raw(actr_ref_t *ref, const char *route_key,
		      const void *data, size_t len)
{
	actr_node_t *n = ref->node;
	struct call k = { n, NULL, n, NULL, route_key, NULL, data, len,
			  DIR_TELL, 0, NULL, NULL, NULL,
			  NULL, NULL };

	if (n->state != NODE_RUNNING)
		return -ACTR_ECLOSED;
	return send_call(n->sys, &k);
}

int actr_call(actr_ctx_t *ctx, const Actr__ActrId *target,
	      const char *route_key, const ProtobufCMessage *req,
	      const ProtobufCMessageDescriptor *resp_type, uint32_t timeout_ms,
	      actr_result_cb cb, void *arg)
{
	struct call k = { ctx->node, &ctx->node->id, NULL, target, route_key,
			  req, NULL, 0, DIR_REQUEST, timeout_ms, cb, arg,
			  resp_type,
			  NULL, NULL };

	if (!req)
		return -EINVAL;
	if (ctx->req) {	/* also from a kept context, later */
		k.trace = ctx->req->origin.traceparent;
		k.tstate = ctx->req->origin.tracestate;
	}
	return send_call(ctx->node->sys, &k);
}

int actr_call_raw(actr_ctx_t *ctx, const Actr__ActrId *target,
		  const char *route_key, const void *data, size_t len,
		  uint32_t timeout_ms, actr_result_cb cb, void *arg)
{
	struct call k = { ctx->node, &ctx->node->id, NULL, target, route_key,
			  NULL, data, len, DIR_REQUEST, timeout_ms, cb, arg,
			  NULL,
			  NULL, NULL };

	if (ctx->req) {	/* also from a kept context, later */
		k.trace = ctx->req->origin.traceparent;
		k.tstate = ctx->req->origin.tracestate;
	}
	return send_call(ctx->node->sys, &k);
}

int actr_tell(actr_ctx_t *ctx, const Actr__ActrId *target,
	      const char *route_key, const ProtobufCMessage *msg)
{
	struct call k = { ctx->node, &ctx->node->id, NULL, target, route_key,
			  msg, NULL, 0, DIR_TELL, 0, NULL, NULL, NULL,
			  NULL, NULL };

	if (!msg)
		return -EINVAL;
	if (ctx->req) {	/* also from a kept context, later */
		k.trace = ctx->req->origin.traceparent;
		k.tstate = ctx->req->origin.tracestate;
	}
	return send_call(ctx->node->sys, &k);
}

int actr_tell_raw(actr_ctx_t *ctx, const Actr__ActrId *target,
		  const char *route_key, const void *data, size_t len)
{
	struct call k = { ctx->node, &ctx->node->id, NULL, target, route_key,
			  NULL, data, len, DIR_TELL, 0, NULL, NULL, NULL,
			  NULL, NULL };

	if (ctx->req) {	/* also from a kept context, later */
		k.trace = ctx->req->origin.traceparent;
		k.tstate = ctx->req->origin.tracestate;
	}
	return send_call(ctx->node->sys, &k);
}
