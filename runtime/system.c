/*
 * System (reactor, dispatcher, pending table, pools), nodes and their
 * lifecycle, the shell's reference, graceful shutdown and Ctrl+C.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

#define MSG_FREE_MAX 1024	/* messages kept on the free list */

/* ---- pools -------------------------------------------------------------- */

struct actr__msg *actr__msg_new(actr_system_t *sys, size_t len)
{
	struct actr__msg *m = sys->free_msgs;

	if (m) {
		sys->free_msgs = m->next;
		sys->nfree_msgs--;
	} else {
		m = actr__malloc(sizeof(*m));
		if (!m)
			return NULL;
	}
	m->next = NULL;
	m->status = 0;
	m->err_msg = NULL;
	m->route = NULL;
	m->caller = NULL;
	m->target = NULL;
	m->origin.lane = NULL;
	m->origin.caller = NULL;
	m->origin.rid_str = NULL;
	m->origin.traceparent = NULL;
	m->origin.tracestate = NULL;
	m->typed_resp = false;
	m->mbid = 0;
	m->heap = NULL;
	m->len = len;
	if (len <= ACTR__MSG_INLINE) {
		m->data = m->inl;
	} else {
		m->heap = actr__malloc(len);
		if (!m->heap) {
			m->next = sys->free_msgs;
			sys->free_msgs = m;
			sys->nfree_msgs++;
			return NULL;
		}
		m->data = m->heap;
	}
	return m;
}

void actr__msg_free(actr_system_t *sys, struct actr__msg *m)
{
	if (ACTR_UNLIKELY(m->heap || m->err_msg || m->origin.caller ||
			  m->origin.rid_str || m->origin.traceparent)) {
		free(m->heap);
		free(m->err_msg);
		actr_proto_free(m->origin.caller);
		free(m->origin.rid_str);
		free(m->origin.traceparent);
		free(m->origin.tracestate);
	}
	if (sys->nfree_msgs >= MSG_FREE_MAX) {
		free(m);
		return;
	}
	m->next = sys->free_msgs;
	sys->free_msgs = m;
	sys->nfree_msgs++;
}

/* ---- system -------------------------------------------------------------- */

actr_system_t *actr_system_new(actr_reactor_t *r,
			       const actr_system_config_t *cfg)
{
	actr_system_t *sys;

	if (!r)
		return NULL;
	sys = calloc(1, sizeof(*sys));
	if (!sys)
		return NULL;
	sys->r = r;
	actr__log_fields_of = actr__log_fields_of_msg;	/* core/log.c */
	if (cfg && actr__opts_copy(&sys->cfg, sizeof(sys->cfg), cfg) < 0) {
		actr_loge("runtime", "actr_system_config_t from a newer "
			  "actr/runtime.h (struct_size %u): rebuild against "
			  "this library", cfg->struct_size);
		free(sys);
		return NULL;
	}
	if (!sys->cfg.dispatch_budget)
		sys->cfg.dispatch_budget = ACTR__DEFAULT_BUDGET;
	if (!sys->cfg.dedup_ttl_ms)
		sys->cfg.dedup_ttl_ms = 30000;
	if (!sys->cfg.dedup_max)
		sys->cfg.dedup_max = 4096;
	sys->next_serial = 1;
	/* request ids: random high half so restarts do not reuse them */
	sys->next_rid = (actr_rand64() & 0xffffffff00000000ull) | 1;
	sys->dedup = actr__dedup_new(sys->cfg.dedup_max,
				     ACTR_MS(sys->cfg.dedup_ttl_ms));
	if (!sys->dedup || actr__pending_init(sys) < 0) {
		actr__dedup_free(sys->dedup);
		free(sys);
		return NULL;
	}
	actr_hook_start(r, &sys->check, ACTR_HOOK_CHECK, ACTR_ORDER_DISPATCH,
			actr__dispatch_hook, sys);
	actr_hook_start(r, &sys->prepare, ACTR_HOOK_PREPARE,
			ACTR_ORDER_DISPATCH, actr__prepare_hook, sys);
	return sys;
}

void actr_system_free(actr_system_t *sys)
{
	struct actr__msg *m;
	struct actr_ctx *c;

	if (!sys)
		return;
	while (sys->nodes)
		actr_node_free(sys->nodes);
	actr__pending_fail_all(sys, NULL, -ACTR_ECLOSED);
	for (int q = 0; q <= PRIO_N; q++) {
		while ((m = sys->qhead[q])) {
			sys->qhead[q] = m->next;
			actr__msg_free(sys, m);
		}
	}
	while ((m = sys->free_msgs)) {
		sys->free_msgs = m->next;
		free(m);
	}
	while ((c = sys->free_ctxs)) {
		sys->free_ctxs = c->next_free;
		free(c);
	}
	actr_hook_stop(&sys->check);
	actr_hook_stop(&sys->prepare);
	actr__pending_fini(sys);
	actr__call_routes_free(sys);
	actr__dedup_free(sys->dedup);
	free(sys);
}

const actr_system_stats_t *actr_system_stats(const actr_system_t *sys)
{
	return &sys->st;
}

actr_reactor_t *actr_system_reactor(const actr_system_t *sys)
{
	return sys->r;
}

void actr__system_set_remote(actr_system_t *sys, actr__lane_resolve_fn fn,
			     void *arg)
{
	sys->resolve = fn;
	sys->resolve_arg = arg;
}

int actr__system_set_inbox(actr_system_t *sys, actr_node_t *n,
			   const struct actr__inbox *inbox, void *arg)
{
	if (inbox && sys->inbox && sys->inbox != inbox)
		return -EBUSY;
	sys->inbox = inbox;
	sys->inbox_arg = inbox ? arg : NULL;
	n->via_inbox = inbox != NULL;
	return 0;
}

/* ---- nodes --------------------------------------------------------------- */

actr_node_t *actr__node_find(actr_system_t *sys, const Actr__ActrId *id)
{
	for (actr_node_t *n = sys->nodes; n; n = n->next)
		if (n->id.serial_number == id->serial_number &&
		    (n->state == NODE_RUNNING || n->state == NODE_STOPPING) &&
		    actr_id_equal(&n->id, id))
			return n;
	return NULL;
}

static bool serial_used(actr_system_t *sys, uint64_t serial)
{
	for (actr_node_t *n = sys->nodes; n; n = n->next)
		if (n->id.serial_number == serial)
			return true;
	return false;
}

static void on_stop_deadline(actr_timer_t *t, void *arg);

actr_node_t *actr_node_new(actr_system_t *sys, actr_workload_t *w,
			   uint64_t serial)
{
	actr_node_t *n;

	if (!sys || !w)
		goto out_free_w;
	if (serial == 0) {
		while (serial_used(sys, sys->next_serial))
			sys->next_serial++;
		serial = sys->next_serial++;
	} else if (serial_used(sys, serial)) {
		goto out_free_w;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		goto out_free_w;
	n->sys = sys;
	n->w = w;
	actr__realm__init(&n->realm);
	n->realm.realm_id = sys->cfg.realm_id;
	actr__actr_id__init(&n->id);
	n->id.realm = &n->realm;
	n->id.serial_number = serial;
	n->id.type = &w->type;
	n->ref.node = n;
	n->hook_ctx.node = n;
	actr_timer_init(sys->r, &n->stop_timer, on_stop_deadline, n);
	n->hook_ctx.is_hook = true;
	n->next = sys->nodes;
	sys->nodes = n;
	return n;

out_free_w:
	actr_workload_free(w);
	return NULL;
}

int actr_node_start(actr_node_t *n, actr_ref_t **ref)
{
	const actr_hooks_t *h = &n->w->hooks;
	int rc;

	if (n->state != NODE_NEW)
		return -EALREADY;
	if (h->on_start) {
		rc = h->on_start(&n->hook_ctx, n->w->user);
		if (rc < 0)
			return rc;
	}
	n->state = NODE_RUNNING;
	if (h->on_ready)
		h->on_ready(&n->hook_ctx, n->w->user);
	if (ref)
		*ref = &n->ref;
	return 0;
}

/* Leave actr_ref_run_until_signal, if it is running for n. */
static void end_run(actr_node_t *n)
{
	actr_signal_stop(&n->sigint);
	actr_signal_stop(&n->sigterm);
	if (n->run_done) {
		*n->run_done = true;
		n->run_done = NULL;
		actr_reactor_stop(n->sys->r);
	}
}

static void finish_shutdown(actr_defer_t *d, void *arg)
{
	actr_node_t *n = arg;

	(void)d;
	if (n->state != NODE_STOPPING || (n->inflight && !n->forced))
		return;
	actr_timer_stop(&n->stop_timer);
	if (n->forced)
		actr__pending_fail_all(n->sys, n, -ACTR_ECLOSED);
	if (n->w->hooks.on_stop)
		n->w->hooks.on_stop(&n->hook_ctx, n->w->user);
	n->state = NODE_STOPPED;
	end_run(n);
	if (n->done)
		n->done(n, n->done_arg);	/* may free n */
}

/* One unit of in-flight work of n is over. */
void actr__node_release(actr_node_t *n)
{
	if (!n->inflight)
		return;	/* forced: the count was given up */
	if (--n->inflight == 0 && n->state == NODE_STOPPING)
		actr_defer(n->sys->r, &n->finish, finish_shutdown, n);
}

void actr_node_free(actr_node_t *n)
{
	actr_system_t *sys;
	actr_node_t **pp;

	if (!n)
		return;
	sys = n->sys;
	actr_defer_cancel(sys->r, &n->finish);
	actr_timer_stop(&n->stop_timer);
	end_run(n);
	/* Abrupt stop: queued messages for n are dropped, its calls fail. */
	n->state = NODE_STOPPED;
	for (int q = 0; q < PRIO_N; q++) {
		struct actr__msg **mp = &sys->qhead[q], *prev = NULL;

		while (*mp) {
			struct actr__msg *m = *mp;

			if (m->target == n) {
				*mp = m->next;
				if (sys->qtail[q] == m)
					sys->qtail[q] = prev;
				sys->queued--;
				if (m->dir == DIR_REQUEST && !m->origin.lane)
					actr__respond_local(sys, m->rid,
							    -ACTR_EUNAVAILABLE,
							    "actor stopped",
							    NULL, 0);
				actr__msg_free(sys, m);
			} else {
				prev = m;
				mp = &m->next;
			}
		}
	}
	actr__pending_fail_all(sys, n, -ACTR_ECLOSED);
	actr__ctx_drop_kept(sys, n);
	actr__stream_node_free(n);
	actr__media_node_free(n);
	for (pp = &sys->nodes; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			break;
		}
	}
	actr_workload_free(n->w);
	free(n);
}

const Actr__ActrId *actr_node_id(const actr_node_t *n)
{
	return &n->id;
}

bool actr_node_running(const actr_node_t *n)
{
	return n->state == NODE_RUNNING;
}

/* ---- ref ----------------------------------------------------------------- */

const Actr__ActrId *actr_ref_id(const actr_ref_t *ref)
{
	return &ref->node->id;
}

actr_node_t *actr_ref_node(const actr_ref_t *ref)
{
	return ref->node;
}

/* Stop waiting: answer what n owes and finish now. */
static void force_shutdown(actr_node_t *n, const char *why)
{
	actr_system_t *sys = n->sys;

	if (n->state != NODE_STOPPING || n->forced)
		return;
	actr_logw("runtime", "node %llx: %s: %u unit(s) of work still in "
		  "flight are answered Unavailable or failed",
		  (unsigned long long)n->id.serial_number, why, n->inflight);
	n->forced = true;
	sys->st.forced_shutdowns++;
	actr__node_force(sys, n, why);
	n->inflight = 0;
	actr_defer(sys->r, &n->finish, finish_shutdown, n);
}

static void on_stop_deadline(actr_timer_t *t, void *arg)
{
	(void)t;
	force_shutdown(arg, "shutdown deadline passed");
}

/* The shell toward any ActrId: the node's own (hook) context calls. */
int actr_ref_call_to(actr_ref_t *ref, const Actr__ActrId *target,
		     const char *route_key, const ProtobufCMessage *req,
		     const ProtobufCMessageDescriptor *resp_type,
		     uint32_t timeout_ms, actr_result_cb cb, void *arg)
{
	if (!ref)
		return -EINVAL;
	return actr_call(&ref->node->hook_ctx, target, route_key, req,
			 resp_type, timeout_ms, cb, arg);
}

int actr_ref_call_to_raw(actr_ref_t *ref, const Actr__ActrId *target,
			 const char *route_key, const void *data, size_t len,
			 uint32_t timeout_ms, actr_result_cb cb, void *arg)
{
	if (!ref)
		return -EINVAL;
	return actr_call_raw(&ref->node->hook_ctx, target, route_key, data,
			     len, timeout_ms, cb, arg);
}

int actr_ref_tell_to(actr_ref_t *ref, const Actr__ActrId *target,
		     const char *route_key, const ProtobufCMessage *msg)
{
	if (!ref)
		return -EINVAL;
	return actr_tell(&ref->node->hook_ctx, target, route_key, msg);
}

int actr_ref_tell_to_raw(actr_ref_t *ref, const Actr__ActrId *target,
			 const char *route_key, const void *data, size_t len)
{
	if (!ref)
		return -EINVAL;
	return actr_tell_raw(&ref->node->hook_ctx, target, route_key, data,
			     len);
}

int actr_ref_shutdown(actr_ref_t *ref, actr_shutdown_cb done, void *arg)
{
	actr_node_t *n = ref->node;
	uint32_t ms = n->sys->cfg.shutdown_timeout_ms;

	if (n->state != NODE_RUNNING)
		return -EALREADY;
	n->state = NODE_STOPPING;
	n->done = done;
	n->done_arg = arg;
	actr_logd("runtime", "node %llx: shutting down (%u in flight)",
		  (unsigned long long)n->id.serial_number, n->inflight);
	if (n->inflight == 0) {
		actr_defer(n->sys->r, &n->finish, finish_shutdown, n);
		return 0;
	}
	if (ms != UINT32_MAX)
		(void)actr_timer_start(&n->stop_timer, ACTR_MS(ms ? ms : 5000),
				       0);
	return 0;
}

static void on_signal(actr_signal_t *s, int signo, void *arg)
{
	actr_node_t *n = arg;

	(void)s;
	if (n->state == NODE_STOPPING) {
		force_shutdown(n, "second signal");
		return;
	}
	actr_logi("runtime", "signal %d: graceful shutdown (a second one "
		  "forces it)", signo);
	actr_ref_shutdown(&n->ref, NULL, NULL);
}

int actr_ref_run_until_signal(actr_ref_t *ref)
{
	actr_node_t *n = ref->node;
	bool done = n->state != NODE_RUNNING && n->state != NODE_STOPPING;
	int rc;

	if (done || n->run_done)
		return done ? 0 : -EALREADY;
	rc = actr_signal_start(n->sys->r, &n->sigint, SIGINT, on_signal, n);
	if (rc == 0)
		rc = actr_signal_start(n->sys->r, &n->sigterm, SIGTERM,
				       on_signal, n);
	if (rc < 0) {
		actr_signal_stop(&n->sigint);
		return rc;
	}
	/* The flag lives here: the node may be freed (by a shutdown
	 * callback) before the loop ends. Another actr_reactor_stop() does
	 * not end the wait. */
	n->run_done = &done;
	while (!done) {
		rc = actr_reactor_run(n->sys->r);
		if (rc < 0)
			break;
	}
	if (!done)
		end_run(n);
	return rc < 0 ? rc : 0;
}
