/*
 * Internal structures of the runtime (runtime/ sources only).
 *
 * The in-process "envelope" is struct actr__msg: it travels by pointer
 * from the gate to the dispatcher queue to the handler; its payload sits
 * inline for small messages. Messages, contexts and pending calls come
 * from per-system free lists, so a steady-state call allocates nothing.
 */
#ifndef ACTR_RUNTIME_INTERNAL_H
#define ACTR_RUNTIME_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <actr/runtime.h>

#include "core/internal.h"
#include "core/list.h"
#include "core/map.h"
#include "runtime/lane.h"

#define ACTR__MSG_INLINE 192	/* payload bytes stored inline */
#define ACTR__DEFAULT_BUDGET 64
#define ACTR__POLL_MAX 1000000u

enum { PRIO_HIGH = 0, PRIO_NORMAL = 1, PRIO_N = 2 };

enum msg_dir {
	DIR_REQUEST = ACTR__DIRECTION__DIRECTION_REQUEST,
	DIR_RESPONSE = ACTR__DIRECTION__DIRECTION_RESPONSE,
	DIR_TELL = ACTR__DIRECTION__DIRECTION_TELL,
};

/* A route of a workload. */
struct actr__route {
	struct actr__map_node node;	/* in the workload's routes */
	char *key;			/* "package.Service.Method" (owned) */
	uint8_t payload_type;		/* ACTR__PAYLOAD_TYPE__* */
	uint8_t prio;			/* PRIO_HIGH for RPC_SIGNAL */
	actr_raw_handler raw;		/* raw handler, or NULL */
	actr_typed_handler typed;	/* typed handler, or NULL */
	const ProtobufCMessageDescriptor *in; /* typed request type */
	struct actr__route_stats *stats; /* handler time (metrics.c), made
					  * at the first message handled
					  * while an endpoint watches */
};

struct actr_workload {
	Actr__ActrType type;		/* strings owned */
	struct actr__map routes;	/* struct actr__route by key */
	actr_hooks_t hooks;		/* lifecycle hooks */
	void *user;			/* user pointer for hooks and ctx */
	const Actr__Acl *acl;		/* borrowed, NULL = none */
};

/* Where a request came from, so its reply can go back. */
struct origin {
	actr__lane_t *lane;		/* remote lane, NULL = in-process */
	Actr__ActrId *caller;		/* remote caller id (owned) */
	char *rid_str;			/* remote request_id (owned) */
	char *traceparent;		/* W3C trace context (owned), or
					 * NULL (runtime/trace.c) */
	char *tracestate;		/* its tracestate (owned), or NULL */
};

struct actr__msg {
	struct actr__msg *next;		/* queue / free-list link */
	uint8_t dir;			/* enum msg_dir */
	uint8_t prio;			/* PRIO_* */
	bool typed_resp;		/* unused on requests */
	int32_t status;			/* response: 0 or -code */
	char *err_msg;			/* response error text (owned) */
	uint64_t rid;			/* request id (in-process / pending) */
	actr_node_t *target;		/* REQUEST/TELL: destination */
	const struct actr__route *route; /* resolved route */
	const Actr__ActrId *caller;	/* caller id, NULL = local shell */
	struct origin origin;		/* remote origin (lane != NULL) */
	uint8_t *data;			/* payload */
	size_t len;			/* payload length */
	uint64_t mbid;			/* durable inbox id, 0 = none */
	uint8_t *heap;			/* payload storage when not inline */
	uint8_t inl[ACTR__MSG_INLINE];	/* inline payload storage */
};

struct actr_ctx {
	struct actr_ctx *next_free;	/* free-list link */
	struct actr_ctx *kprev, *knext;	/* node's kept list */
	actr_node_t *node;		/* the node handling */
	struct actr__msg *req;		/* request being handled (owned) */
	bool is_hook;			/* lifecycle-hook context */
	bool in_handler;		/* the handler has not returned */
	bool kept;			/* actr_ctx_keep called */
	bool replied;			/* a reply was sent */
	bool forced;			/* answered by a forced shutdown:
					 * stays allocated (on the kept
					 * list) until the handler's own
					 * reply, which gets -EALREADY */
	char rid_buf[24];		/* request id string, lazily */
};

/* A call waiting for its response. */
struct actr__pending {
	struct actr__map_node node;	/* in sys->pending, by rid */
	struct actr__list dl;		/* in sys->dl, deadline order */
	struct actr__pending *free_next; /* free list */
	uint64_t rid;			/* key */
	uint64_t deadline;		/* CLOCK_MONOTONIC ns */
	actr_result_cb cb;		/* completion */
	void *arg;			/* completion argument */
	const ProtobufCMessageDescriptor *resp_type; /* typed, or NULL */
	actr_node_t *owner;		/* node that called */
	uint64_t t0;			/* when the call was made (ns) */
	struct actr__call_route *cr;	/* its route's histograms, or NULL */
};

enum node_state {
	NODE_NEW = 0,
	NODE_RUNNING,
	NODE_STOPPING,
	NODE_STOPPED,
};

struct actr_ref {
	actr_node_t *node;		/* the node this ref points to */
};

struct actr_node {
	actr_system_t *sys;		/* owner */
	actr_node_t *next;		/* system's node list */
	actr_workload_t *w;		/* owned */
	Actr__ActrId id;		/* self id */
	Actr__Realm realm;		/* id.realm storage */
	struct actr_ref ref;		/* the shell's reference */
	struct actr_ctx hook_ctx;	/* context for lifecycle hooks */
	int state;			/* enum node_state */
	unsigned inflight;		/* queued msgs + live ctxs + calls */
	bool via_inbox;			/* in-process REQUEST/TELL go through
					 * sys->inbox (durable mailbox) */
	struct actr_ctx *kept;		/* kept contexts (reply later) */
	actr_shutdown_cb done;		/* graceful shutdown completion */
	void *done_arg;
	actr_defer_t finish;		/* deferred shutdown completion */
	actr_timer_t stop_timer;	/* shutdown deadline */
	bool forced;			/* forced: finish without waiting */
	actr_signal_t sigint, sigterm;	/* run_until_signal */
	bool *run_done;			/* run_until_signal's exit flag */
	struct actr__streams *streams;	/* stream registry (stream.c),
					 * NULL until first used */
	struct actr__medias *medias;	/* media tracks (media.c), NULL
					 * until first used */
};

struct dedup;

/* struct actr__inbox, the mailbox seam: runtime/lane.h. */

/** The shutdown deadline passed or a second signal came: answer every
 * request n still owes (queued or held by a kept context) with
 * Unavailable and why (the shutdown's completion then fails n's own
 * pending calls with -ACTR_ECLOSED, once these answers were dispatched).
 * Messages from the durable mailbox are not acknowledged (the next
 * process handles them again). */
void actr__node_force(actr_system_t *sys, actr_node_t *n, const char *why);

/* A latency histogram with fixed bounds (runtime/metrics.c names them):
 * cheap enough to update on every completed call. */
#define ACTR__HIST_N 16
extern const uint64_t actr__hist_bounds_ns[ACTR__HIST_N];

struct actr__hist {
	uint64_t b[ACTR__HIST_N + 1];	/* per bucket (not cumulative);
					 * [ACTR__HIST_N] = over the last */
	uint64_t count;			/* observations */
	uint64_t sum_ns;		/* their total */
};

static inline void actr__hist_observe(struct actr__hist *h, uint64_t ns)
{
	unsigned i = 0;

	while (i < ACTR__HIST_N && ns > actr__hist_bounds_ns[i])
		i++;
	h->b[i]++;
	h->count++;
	h->sum_ns += ns;
}

enum { ACTR__OUTCOME_OK, ACTR__OUTCOME_ERROR, ACTR__OUTCOME_TIMEOUT,
       ACTR__OUTCOME_N };

/* Caller side, per route key called (made while an endpoint watches). */
struct actr__call_route {
	struct actr__map_node node;	/* in sys->call_routes by key */
	struct actr__hist h[3];		/* by ACTR__OUTCOME_* */
	char key[];			/* route key */
};

/* Callee side, per route: handler run time, by outcome (ok / error). */
struct actr__route_stats {
	struct actr__hist h[2];		/* [0] ok, [1] error */
};

struct actr_system {
	actr_reactor_t *r;		/* borrowed */
	actr_system_config_t cfg;	/* effective configuration */
	actr_system_stats_t st;		/* counters */
	actr_node_t *nodes;		/* attached nodes */
	uint64_t next_serial;		/* for serial 0 */
	uint64_t next_rid;		/* request ids */
	actr_hook_t check;		/* dispatcher (CHECK hook) */
	actr_hook_t prepare;		/* no blocking while work queued */
	struct actr__msg *qhead[PRIO_N + 1], *qtail[PRIO_N + 1];
					/* [PRIO_N] = responses */
	unsigned queued;		/* messages in the queues */
	struct actr__msg *free_msgs;	/* free lists */
	struct actr_ctx *free_ctxs;
	struct actr__pending *free_pending;
	unsigned nfree_msgs;
	/* pending table */
	struct actr__map pending;	/* struct actr__pending by rid */
	struct actr__list dl;		/* the same, by deadline */
	actr_timer_t dl_timer;		/* earliest deadline */
	/* remote seam */
	actr__lane_resolve_fn resolve;	/* target -> lane, or NULL */
	void *resolve_arg;
	struct dedup *dedup;		/* response cache */
	const struct actr__inbox *inbox; /* durable in-process inbox
					  * (actr__system_set_inbox) */
	void *inbox_arg;
	bool dispatching;		/* inside poll */
	/* caller-side latency by outcome (runtime/metrics.c), recorded
	 * only while an endpoint watches the system */
	bool call_hist_on;
	struct actr__hist call_hist[ACTR__OUTCOME_N];
	struct actr__map call_routes;	/* struct actr__call_route by key,
					 * made on first use (metrics.c) */
	bool call_routes_init;		/* call_routes initialised */
	/* trace context (trace.c) */
	struct actr__msg *cur_msg;	/* being handled now, or NULL */
	const char *trace_override;	/* a queued call's trace, or NULL */
};

/* dispatch.c: installed as core/log.c's actr__log_fields_of */
void actr__log_fields_of_msg(const void *msg, struct actr__log_fields *f,
			     char *buf, size_t cap);

/* trace.c */
#define ACTR__TRACEPARENT_LEN 55
bool actr__trace_valid(const char *tp);
/* A traceparent continuing parent (new span id), or a new trace when
 * parent is NULL or invalid. */
void actr__trace_child(const char *parent,
		       char out[ACTR__TRACEPARENT_LEN + 1]);
/* The trace a call made now continues, or NULL. */
const char *actr__trace_current(const actr_system_t *sys);

/* Record the latency of call p completing with status (metrics.c). */
static inline void actr__call_observe(actr_system_t *sys,
				      const struct actr__pending *p,
				      int status)
{
	uint64_t now;
	int o;

	if (!sys->call_hist_on)
		return;
	now = actr_reactor_now(sys->r);
	o = status == 0 ? ACTR__OUTCOME_OK :
	    status == -ACTR_ETIMEDOUT ? ACTR__OUTCOME_TIMEOUT :
					ACTR__OUTCOME_ERROR;
	actr__hist_observe(&sys->call_hist[o], now > p->t0 ? now - p->t0 : 0);
	if (p->cr)
		actr__hist_observe(&p->cr->h[o], now > p->t0 ? now - p->t0 : 0);
}

/* The caller-side histograms of route_key (created; NULL on ENOMEM or
 * when no endpoint watches). metrics.c. */
struct actr__call_route *actr__call_route(actr_system_t *sys,
					  const char *route_key);
void actr__call_routes_free(actr_system_t *sys);

/** An in-process message the inbox found stored at open (its caller died
 * with the last process): queue it for node t again as from the shell
 * (no caller, a REQUEST's reply is dropped), mbid set. 0, or
 * -ACTR_EUNKNOWNROUTE / -ACTR_EUNAVAILABLE (not running) / -ENOMEM. */
int actr__inbox_redeliver(actr_system_t *sys, actr_node_t *t,
			  const char *route_key, int dir, const void *data,
			  size_t len, uint64_t mbid);

/* workload.c */
/* Route of w for key[0..len), or NULL. */
static inline const struct actr__route *
actr__route_find(const actr_workload_t *w, const char *key, size_t len)
{
	const struct actr__map_node *n = actr__map_find(&w->routes, key, len);

	return n ? actr__map_entry(n, const struct actr__route, node) : NULL;
}

/* msg / ctx pools (system.c) */
struct actr__msg *actr__msg_new(actr_system_t *sys, size_t len);
void actr__msg_free(actr_system_t *sys, struct actr__msg *m);
actr_node_t *actr__node_find(actr_system_t *sys, const Actr__ActrId *id);
void actr__node_release(actr_node_t *n);
void actr__ctx_drop_kept(actr_system_t *sys, actr_node_t *n);

/* stream.c */
void actr__stream_node_free(actr_node_t *n);

/* media.c */
void actr__media_node_free(actr_node_t *n);

/* dispatch.c */
void actr__enqueue(actr_system_t *sys, struct actr__msg *m);
void actr__respond_local(actr_system_t *sys, uint64_t rid, int status,
			 const char *err, const void *data, size_t len);
void actr__dispatch_hook(actr_hook_t *h, void *arg);
void actr__prepare_hook(actr_hook_t *h, void *arg);
void actr__complete(actr_system_t *sys, struct actr__msg *resp);
int actr__send(actr_system_t *sys, actr_node_t *from,
	       const Actr__ActrId *caller, actr_node_t *target,
	       const Actr__ActrId *target_id, const char *route_key,
	       struct actr__msg *m, int dir, uint32_t timeout_ms,
	       actr_result_cb cb, void *arg,
	       const ProtobufCMessageDescriptor *resp_type);

/* pending.c */
int actr__pending_init(actr_system_t *sys);
void actr__pending_fini(actr_system_t *sys);
struct actr__pending *actr__pending_add(actr_system_t *sys,
					 actr_node_t *owner,
					 uint32_t timeout_ms);
struct actr__pending *actr__pending_take(actr_system_t *sys, uint64_t rid);
void actr__pending_release(actr_system_t *sys, struct actr__pending *p);
void actr__pending_fail_all(actr_system_t *sys, actr_node_t *owner,
			    int status);

/* dedup.c */
struct dedup *actr__dedup_new(unsigned max, uint64_t ttl_ns);
void actr__dedup_free(struct dedup *d);
/* Look up (caller serial, rid); returns 0 = new (now marked in flight),
 * 1 = in flight (drop), 2 = cached (*status, *err, *data, *len set). */
int actr__dedup_check(struct dedup *d, uint64_t now, uint64_t serial,
		      const char *rid, int *status, const char **err,
		      const uint8_t **data, size_t *len);
/* Forget an in-flight entry (the request was refused before handling). */
void actr__dedup_forget(struct dedup *d, uint64_t serial, const char *rid);
void actr__dedup_store(struct dedup *d, uint64_t now, uint64_t serial,
		       const char *rid, int status, const char *err,
		       const void *data, size_t len);

/* remote.c */
int actr__remote_send_traced(actr_system_t *sys, actr__lane_t *lane,
			     const Actr__ActrId *target, const char *route_key,
			     const char *rid_str, int dir, int status,
			     const char *err, const void *data, size_t len,
			     int64_t timeout_ms, int payload_type,
			     const char *traceparent, const char *tracestate);
int actr__remote_send(actr_system_t *sys, actr__lane_t *lane,
		      const Actr__ActrId *target, const char *route_key,
		      const char *rid_str, int dir, int status,
		      const char *err, const void *data, size_t len,
		      int64_t timeout_ms, int payload_type);
void actr__format_rid(uint64_t rid, char out[24]);

/* Parse a request id of ours (exactly 16 lowercase hex digits; NULL or
 * anything else is false). */
bool actr__parse_rid(const char *s, uint64_t *rid);

#endif
