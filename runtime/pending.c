/*
 * The pending-request table: calls waiting for a response, by request id
 * (chained hash; ids are sequential so rid & mask spreads them evenly),
 * and in deadline order on a list with one reactor timer armed at the
 * earliest deadline. Most calls share the default timeout, so insertion
 * from the tail is O(1) in practice; completion is O(1).
 */
#include <errno.h>
#include <stdlib.h>

#include "runtime/internal.h"

#define PENDING_BUCKETS_MIN 256

static void on_deadline(actr_timer_t *t, void *arg);

int actr__pending_init(actr_system_t *sys)
{
	sys->pbuckets = calloc(PENDING_BUCKETS_MIN, sizeof(*sys->pbuckets));
	if (!sys->pbuckets)
		return -ENOMEM;
	sys->pmask = PENDING_BUCKETS_MIN - 1;
	actr_timer_init(sys->r, &sys->dl_timer, on_deadline, sys);
	return 0;
}

void actr__pending_fini(actr_system_t *sys)
{
	struct actr__pending *p;

	actr_timer_stop(&sys->dl_timer);
	while ((p = sys->free_pending)) {
		sys->free_pending = p->hnext;
		free(p);
	}
	free(sys->pbuckets);
	sys->pbuckets = NULL;
}

static void rehash(actr_system_t *sys)
{
	unsigned n = (sys->pmask + 1) * 2;
	struct actr__pending **b = calloc(n, sizeof(*b));

	if (!b)
		return; /* keep the old table; chains just get longer */
	for (unsigned i = 0; i <= sys->pmask; i++) {
		struct actr__pending *p = sys->pbuckets[i], *next;

		for (; p; p = next) {
			next = p->hnext;
			p->hnext = b[p->rid & (n - 1)];
			b[p->rid & (n - 1)] = p;
		}
	}
	free(sys->pbuckets);
	sys->pbuckets = b;
	sys->pmask = n - 1;
}

struct actr__pending *actr__pending_add(actr_system_t *sys,
					 actr_node_t *owner,
					 uint32_t timeout_ms)
{
	struct actr__pending *p = sys->free_pending, *at;
	uint64_t deadline;

	if (p)
		sys->free_pending = p->hnext;
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
	p->owner = owner;
	p->resp_type = NULL;
	if (owner)
		owner->inflight++;

	/* by id */
	if (ACTR_UNLIKELY(sys->npending > 2 * (sys->pmask + 1)))
		rehash(sys);
	p->hnext = sys->pbuckets[p->rid & sys->pmask];
	sys->pbuckets[p->rid & sys->pmask] = p;
	sys->npending++;

	/* by deadline: walk back from the tail */
	for (at = sys->dl_tail; at && at->deadline > deadline; at = at->prev)
		;
	p->prev = at;
	p->next = at ? at->next : sys->dl_head;
	if (p->next)
		p->next->prev = p;
	else
		sys->dl_tail = p;
	if (at)
		at->next = p;
	else
		sys->dl_head = p;
	if (!actr_timer_active(&sys->dl_timer) ||
	    sys->dl_timer.deadline > deadline)
		actr_timer_start_at(&sys->dl_timer, deadline);
	return p;
}

static void unlink_pending(actr_system_t *sys, struct actr__pending *p)
{
	struct actr__pending **pp = &sys->pbuckets[p->rid & sys->pmask];

	while (*pp != p)
		pp = &(*pp)->hnext;
	*pp = p->hnext;
	sys->npending--;
	if (p->prev)
		p->prev->next = p->next;
	else
		sys->dl_head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		sys->dl_tail = p->prev;
}

struct actr__pending *actr__pending_take(actr_system_t *sys, uint64_t rid)
{
	struct actr__pending *p = sys->pbuckets[rid & sys->pmask];

	while (p && p->rid != rid)
		p = p->hnext;
	if (p)
		unlink_pending(sys, p);
	return p;
}

/* Return p to the free list; releases its owner's in-flight unit. */
void actr__pending_release(actr_system_t *sys, struct actr__pending *p)
{
	actr_node_t *owner = p->owner;

	p->hnext = sys->free_pending;
	sys->free_pending = p;
	if (owner)
		actr__node_release(owner);
}

static void fail(actr_system_t *sys, struct actr__pending *p, int status,
		 const char *msg)
{
	actr_result_t res = { .status = status, .message = msg };

	p->cb(&res, p->arg);
	actr__pending_release(sys, p);
}

static void on_deadline(actr_timer_t *t, void *arg)
{
	actr_system_t *sys = arg;
	uint64_t now = actr_reactor_now(sys->r);
	struct actr__pending *p;

	(void)t;
	while ((p = sys->dl_head) && p->deadline <= now) {
		unlink_pending(sys, p);
		sys->st.timeouts++;
		actr_logd("runtime", "call %llx timed out",
			  (unsigned long long)p->rid);
		fail(sys, p, -ACTR_ETIMEDOUT, "call timed out");
	}
	if (sys->dl_head)
		actr_timer_start_at(&sys->dl_timer, sys->dl_head->deadline);
}

void actr__pending_fail_all(actr_system_t *sys, actr_node_t *owner,
			    int status)
{
	struct actr__pending *p;

	/* Restart from the head each time: a callback may change the list. */
	for (;;) {
		for (p = sys->dl_head; p && owner && p->owner != owner;
		     p = p->next)
			;
		if (!p)
			break;
		unlink_pending(sys, p);
		if (owner)
			p->owner = NULL; /* the owner is going away */
		fail(sys, p, status, actr_strerror(status));
	}
}
