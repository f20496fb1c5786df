/*
 * The pending-request table: calls waiting for a response, by request id
 * (core/map.h, u64 keys), and in deadline order on a list with one
 * reactor timer armed at the earliest deadline. Most calls share the default timeout, so insertion
 * from the tail is O(1) in practice; completion is O(1).
 */
#include <errno.h>
#include <stdlib.h>

#include "runtime/internal.h"

static void on_deadline(actr_timer_t *t, void *arg);

int actr__pending_init(actr_system_t *sys)
{
	actr__map_init(&sys->pending);
	actr__list_init(&sys->dl);
	actr_timer_init(sys->r, &sys->dl_timer, on_deadline, sys);
	return 0;
}

void actr__pending_fini(actr_system_t *sys)
{
	struct actr__pending *p;

	actr_timer_stop(&sys->dl_timer);
	while ((p = sys->free_pending)) {
		sys->free_pending = p->free_next;
		free(p);
	}
	actr__map_fini(&sys->pending);
}

static inline struct actr__pending *dl_entry(struct actr__list *l)
{
	return actr__list_entry(l, struct actr__pending, dl);
}

struct actr__pending *actr__pending_add(actr_system_t *sys,
					 actr_node_t *owner,
					 uint32_t timeout_ms)
{
	struct actr__pending *p = sys->free_pending;
	struct actr__list *at;
	uint64_t deadline;

	if (p)
		sys->free_pending = p->free_next;
	else if (!(p = actr__malloc(sizeof(*p))))
		return NULL;
	if (timeout_ms == 0)
		timeout_ms = ACTR_DEFAULT_TIMEOUT_MS;
	/* Inside the dispatcher the iteration's cached time is fresh; a
	 * call from outside (the shell before running the loop, another
	 * callback) may come long after it, so read the clock. */
	deadline = (sys->dispatching ? actr_reactor_now(sys->r)
				     : actr_reactor_update_time(sys->r)) +
		   ACTR_MS(timeout_ms);
	p->rid = sys->next_rid++;
	p->deadline = deadline;
	p->t0 = deadline - ACTR_MS(timeout_ms);
	p->cr = NULL;
	p->owner = owner;
	p->resp_type = NULL;
	if (owner)
		owner->inflight++;

	actr__map_insert_u64(&sys->pending, &p->node, p->rid);
	/* by deadline: walk back from the tail */
	for (at = sys->dl.prev; at != &sys->dl && dl_entry(at)->deadline >
						      deadline;
	     at = at->prev)
		;
	actr__list_insert_after(at, &p->dl);
	if (!actr_timer_active(&sys->dl_timer) ||
	    sys->dl_timer.deadline > deadline)
		actr_timer_start_at(&sys->dl_timer, deadline);
	return p;
}

static void unlink_pending(actr_system_t *sys, struct actr__pending *p)
{
	actr__map_remove(&sys->pending, &p->node);
	actr__list_remove(&p->dl);
}

struct actr__pending *actr__pending_take(actr_system_t *sys, uint64_t rid)
{
	struct actr__map_node *n = actr__map_find_u64(&sys->pending, rid);
	struct actr__pending *p;

	if (!n)
		return NULL;
	p = actr__map_entry(n, struct actr__pending, node);
	unlink_pending(sys, p);
	return p;
}

/* Return p to the free list; releases its owner's in-flight unit. */
void actr__pending_release(actr_system_t *sys, struct actr__pending *p)
{
	actr_node_t *owner = p->owner;

	p->free_next = sys->free_pending;
	sys->free_pending = p;
	if (owner)
		actr__node_release(owner);
}

static void fail(actr_system_t *sys, struct actr__pending *p, int status,
		 const char *msg)
{
	actr_result_t res = { .status = status, .message = msg };

	actr__call_observe(sys, p, status);
	p->cb(&res, p->arg);
	actr__pending_release(sys, p);
}

static void on_deadline(actr_timer_t *t, void *arg)
{
	actr_system_t *sys = arg;
	uint64_t now = actr_reactor_now(sys->r);
	struct actr__list *l;
	struct actr__pending *p;

	(void)t;
	while ((l = actr__list_first(&sys->dl)) &&
	       (p = dl_entry(l))->deadline <= now) {
		unlink_pending(sys, p);
		sys->st.timeouts++;
		actr_logd("runtime", "call %llx timed out",
			  (unsigned long long)p->rid);
		fail(sys, p, -ACTR_ETIMEDOUT, "call timed out");
	}
	if ((l = actr__list_first(&sys->dl)))
		actr_timer_start_at(&sys->dl_timer, dl_entry(l)->deadline);
}

void actr__pending_fail_all(actr_system_t *sys, actr_node_t *owner,
			    int status)
{
	struct actr__list *l;
	struct actr__pending *p;

	/* Restart from the head each time: a callback may change the list. */
	for (;;) {
		actr__list_foreach(l, &sys->dl)
			if (!owner || dl_entry(l)->owner == owner)
				break;
		if (l == &sys->dl)
			break;
		p = dl_entry(l);
		unlink_pending(sys, p);
		if (owner)
			p->owner = NULL; /* the owner is going away */
		fail(sys, p, status, actr_strerror(status));
	}
}
