/*
 * GLib's GMainContext bridged into the reactor (internal to ice/).
 *
 * One bridge per reactor thread, shared by every ICE agent of that thread
 * and reference counted. The reactor's PREPARE hook runs
 * g_main_context_prepare()/query(), mirrors the GPollFDs as actr_io handles
 * (epoll_ctl only when a descriptor or its mask changes) and puts GLib's
 * timeout on the reactor's timer heap; the CHECK hook runs
 * g_main_context_check()/dispatch(). The context is only iterated from the
 * hooks, never from inside a callback of its own.
 */
#ifndef ACTR_ICE_GLOOP_H
#define ACTR_ICE_GLOOP_H

#include <stdbool.h>

#include <glib.h>

#include <actr/reactor.h>

typedef struct actr__gloop actr__gloop_t;

/** The bridge of reactor r (created on first use, then one more reference).
 * Must be called on r's thread. NULL when out of memory. Release with
 * actr__gloop_unref(). */
actr__gloop_t *actr__gloop_get(actr_reactor_t *r);

/** Drop a reference; the last one stops the hooks, closes the io handles
 * and unrefs the GMainContext. */
void actr__gloop_unref(actr__gloop_t *g);

/** The GMainContext to attach GLib sources (libnice agents) to. */
GMainContext *actr__gloop_context(const actr__gloop_t *g);

/** Forget every mirrored descriptor; the next PREPARE registers the
 * current ones again. Call after sockets of the context were closed
 * (an agent freed): a new socket may reuse a closed descriptor's number
 * within one iteration, and epoll dropped the old registration with the
 * close, so a cache keyed by number alone would leave it unwatched. */
void actr__gloop_invalidate(actr__gloop_t *g);

/** Code outside a GLib dispatch called into libnice or GLib (sources may
 * have been added or changed): prepare and query at the next iteration.
 * Without it an iteration does so only after a GLib descriptor event, its
 * timeout, or a dispatch. */
void actr__gloop_touch(actr__gloop_t *g);

/** True while GLib callbacks run (objects of the context must not be
 * finalised then; defer instead). */
bool actr__gloop_in_dispatch(const actr__gloop_t *g);

/** The newest GSource id of the context (attaches and destroys a probe
 * source). Pass it to actr__gloop_expedite() after a call that may create
 * sources. */
guint actr__gloop_newest_id(actr__gloop_t *g);

/** Make the timeout sources named name that were attached after source id
 * `after` and are still waiting for their first expiry fire at the next
 * iteration; later expiries keep their interval. Returns how many were
 * moved. Used for libnice's connectivity-check timer, whose first tick
 * otherwise waits one pacing interval Ta before the first check. */
unsigned actr__gloop_expedite(actr__gloop_t *g, guint after,
			      const char *name);

/** Counters for tests: iterations dispatched and epoll_ctl-worthy changes. */
struct actr__gloop_stats {
	uint64_t dispatches;	/* g_main_context_dispatch calls */
	uint64_t fd_changes;	/* io handles added, removed or re-masked */
	unsigned nfds;		/* GPollFDs in the last query */
	uint64_t expedited;	/* timeout sources made due at once */
	uint64_t skipped;	/* iterations without prepare/query/check
				 * (nothing for GLib since the last) */
};
void actr__gloop_stats(const actr__gloop_t *g, struct actr__gloop_stats *st);

#endif
