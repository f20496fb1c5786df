/*
 * The reactor: one single-threaded event loop per thread, built directly on
 * epoll, one timerfd, one eventfd and one signalfd.
 *
 * Every handle (io, timer, defer, signal, hook) is an intrusive struct the
 * caller owns and embeds in its own objects; the reactor never allocates
 * per handle. Timers and io handles are prepared by their _init function;
 * defer, signal and hook handles must be zero-initialised before first
 * use (e.g. `actr_hook_t h = { 0 };` or calloc). Every function here except actr_reactor_post() must be called
 * from the reactor's own thread.
 *
 * One iteration (actr_reactor_run_once):
 *   1. run PREPARE hooks (they may shorten the wait);
 *   2. epoll_wait, blocking (-1) unless deferred calls, a hook or the caller
 *      asks for less; timers arrive through the timerfd;
 *   3. refresh the cached "now", dispatch fd events, run expired timers in
 *      deadline order (FIFO among equal deadlines), posted calls, signals;
 *   4. run CHECK hooks in ascending order (the dispatcher, then the mailbox
 *      commit), then the deferred calls queued so far;
 *   5. re-arm the timerfd if the earliest deadline moved earlier.
 *
 * Freeing: a handle may be stopped and its memory freed from inside any
 * callback, including its own; the reactor does not touch it afterwards.
 */
#ifndef ACTR_REACTOR_H
#define ACTR_REACTOR_H

#include <actr/api.h>

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct actr_reactor actr_reactor_t;
typedef struct actr_io actr_io_t;
typedef struct actr_timer actr_timer_t;
typedef struct actr_defer actr_defer_t;
typedef struct actr_signal actr_signal_t;
typedef struct actr_hook actr_hook_t;

#define ACTR_NSEC_PER_SEC 1000000000ull
#define ACTR_MS(x) ((uint64_t)(x) * 1000000ull)	/* milliseconds in ns */
#define ACTR_US(x) ((uint64_t)(x) * 1000ull)	/* microseconds in ns */
#define ACTR_SEC(x) ((uint64_t)(x) * ACTR_NSEC_PER_SEC)

/* io event bits, given to actr_io_set() and reported to callbacks */
enum {
	ACTR_READ = 1u << 0,
	ACTR_WRITE = 1u << 1,
	ACTR_EDGE = 1u << 2,	/* edge-triggered (default: level) */
	ACTR_ERROR = 1u << 3,	/* reported only: EPOLLERR */
	ACTR_HUP = 1u << 4,	/* reported only: EPOLLHUP / EPOLLRDHUP */
};

typedef void (*actr_io_cb)(actr_io_t *io, unsigned events, void *arg);
typedef void (*actr_timer_cb)(actr_timer_t *t, void *arg);
typedef void (*actr_defer_cb)(actr_defer_t *d, void *arg);
typedef void (*actr_signal_cb)(actr_signal_t *s, int signo, void *arg);
typedef void (*actr_hook_cb)(actr_hook_t *h, void *arg);
typedef void (*actr_post_cb)(void *arg);

/* Handles. Fields are private; they are public only so handles can be
 * embedded without allocation. */
struct actr_io {
	actr_reactor_t *r;	/* owner */
	actr_io_cb cb;		/* event callback */
	void *arg;		/* callback argument */
	int fd;			/* watched descriptor, -1 when closed */
	unsigned want;		/* ACTR_READ|ACTR_WRITE|ACTR_EDGE asked for */
	unsigned registered;	/* mask epoll currently has, 0 = not added */
};

struct actr_timer {
	actr_reactor_t *r;	/* owner */
	actr_timer_cb cb;	/* expiry callback */
	void *arg;		/* callback argument */
	uint64_t deadline;	/* absolute CLOCK_MONOTONIC ns */
	uint64_t repeat;	/* re-arm period in ns, 0 = one-shot */
	uint32_t index;		/* position in the heap, UINT32_MAX = idle */
};

/* The library's intrusive list node (core/list.h), declared here because
 * handles embed it. Private. */
struct actr__list {
	struct actr__list *next;	/* next node, or the head */
	struct actr__list *prev;	/* previous node, or the head */
};

struct actr_defer {
	struct actr__list link;	/* on the queue or the running batch */
	actr_defer_cb cb;	/* callback */
	void *arg;		/* callback argument */
	bool queued;		/* on the queue now */
};

struct actr_signal {
	actr_reactor_t *r;	/* owner */
	actr_signal_t *next;	/* list link */
	actr_signal_cb cb;	/* callback */
	void *arg;		/* callback argument */
	int signo;		/* signal number, 0 = stopped */
	bool was_blocked;	/* signo was blocked before we watched it */
};

enum actr_hook_kind {
	ACTR_HOOK_PREPARE = 0,	/* before waiting */
	ACTR_HOOK_CHECK = 1,	/* after I/O and timers */
};

struct actr_hook {
	actr_reactor_t *r;	/* owner */
	actr_hook_t *next;	/* list link, sorted by order */
	actr_hook_cb cb;	/* callback */
	void *arg;		/* callback argument */
	int kind;		/* enum actr_hook_kind */
	int order;		/* lower runs first */
	bool active;		/* on the list */
};

/* Suggested CHECK hook orders for the runtime's own phases. */
enum {
	ACTR_ORDER_DISPATCH = 100,	/* priority dispatcher */
	ACTR_ORDER_COMMIT = 200,	/* mailbox group commit */
};

/* ---- reactor ---------------------------------------------------------- */

/** Create a reactor for the calling thread. NULL on failure (errno set). */
ACTR_API actr_reactor_t *actr_reactor_new(void);

/** Destroy a reactor. Handles still registered are forgotten, not freed;
 * posted calls not yet run are dropped (their memory is released). */
ACTR_API void actr_reactor_free(actr_reactor_t *r);

/**
 * The epoll descriptor, for embedding in a host loop: when it is readable,
 * call actr_reactor_run_once(r, 0). It is readable whenever the reactor
 * has work: an event on one of its descriptors, a timer due, a post, and
 * work queued by host code between iterations (a deferred call, an
 * in-process call or reply, a timer started) or left over by an
 * iteration (a dispatch budget used up). A host loop may therefore block
 * on it without a timeout. Asking for the fd turns this on: from then
 * on such work costs an eventfd write (about a microsecond here); loops
 * that only call actr_reactor_run() or actr_reactor_run_once() never ask
 * and never pay.
 */
ACTR_API int actr_reactor_fd(actr_reactor_t *r);

/**
 * How long a host loop may sleep before it must call
 * actr_reactor_run_once(r, 0): 0 when work is pending, else the
 * milliseconds until the earliest timer, else -1 (until the fd is
 * readable). Informational: the fd becomes readable on its own when a
 * timer is due. Between iterations only (0 from inside a callback).
 */
ACTR_API int actr_reactor_timeout(actr_reactor_t *r);

/** Run one iteration, waiting at most timeout_ms (-1 = until an event,
 * 0 = do not block). Returns the number of callbacks run (>= 0), or a
 * negative error if epoll failed. */
ACTR_API int actr_reactor_run_once(actr_reactor_t *r, int timeout_ms);

/** Run iterations until actr_reactor_stop(). Returns 0, or a negative
 * error if epoll failed. */
ACTR_API int actr_reactor_run(actr_reactor_t *r);

/** Run iterations until nothing is active (no io handle, timer or hook)
 * and no deferred call is queued, or timeout_ms passes: the way to let
 * closing connections and deferred frees finish before
 * actr_reactor_free(). Runs at least one iteration. Returns 0 when idle,
 * -ACTR_ETIMEDOUT if something was still active, or a negative epoll error. */
ACTR_API int actr_reactor_drain(actr_reactor_t *r, int timeout_ms);

/** Ask actr_reactor_run() to return after the current iteration. */
ACTR_API void actr_reactor_stop(actr_reactor_t *r);

/** Monotonic time in ns, cached once per iteration. */
ACTR_API uint64_t actr_reactor_now(const actr_reactor_t *r);

/** Refresh the cached time now (for long callbacks). */
ACTR_API uint64_t actr_reactor_update_time(actr_reactor_t *r);

/** Number of active timers, io handles and hooks (0 when idle). */
ACTR_API unsigned actr_reactor_active(const actr_reactor_t *r);

/**
 * Run fn(arg) on the reactor's thread during a coming iteration. The only
 * function that may be called from any thread. Calls run in the order each
 * thread posted them; wake-ups are coalesced (one eventfd write per batch).
 * Returns 0 or -ENOMEM.
 */
ACTR_API int actr_reactor_post(actr_reactor_t *r, actr_post_cb fn, void *arg);

/* ---- fd events -------------------------------------------------------- */

/** Attach an io handle to fd; nothing is watched until actr_io_set(). */
ACTR_API int actr_io_init(actr_reactor_t *r, actr_io_t *io, int fd, actr_io_cb cb,
		 void *arg);

/** Set the watched events (ACTR_READ|ACTR_WRITE, optionally ACTR_EDGE).
 * epoll_ctl runs only when the mask changes. 0 stops watching. */
ACTR_API int actr_io_set(actr_io_t *io, unsigned events);

/** Stop watching and detach (the fd is not closed). Events already fetched
 * for this fd in the current batch are discarded. Safe to call twice. */
ACTR_API void actr_io_close(actr_io_t *io);

/* ---- timers ----------------------------------------------------------- */

/** Prepare t (must precede any other call on it; t is idle after). */
ACTR_API void actr_timer_init(actr_reactor_t *r, actr_timer_t *t, actr_timer_cb cb,
		     void *arg);

/** (Re)start t to fire delay_ns after the cached now, then every repeat_ns
 * if repeat_ns > 0. O(log n). Returns 0, or -ENOMEM if the heap could not
 * grow (t is then idle). */
ACTR_API int actr_timer_start(actr_timer_t *t, uint64_t delay_ns, uint64_t repeat_ns);

/** (Re)start t at an absolute CLOCK_MONOTONIC deadline in ns (one-shot
 * unless a repeat was set by actr_timer_start). 0 or -ENOMEM. */
ACTR_API int actr_timer_start_at(actr_timer_t *t, uint64_t deadline_ns);

/** Stop t; no-op if idle. O(log n). */
ACTR_API void actr_timer_stop(actr_timer_t *t);

static inline bool actr_timer_active(const actr_timer_t *t)
{
	return t->index != UINT32_MAX;
}

/* ---- deferred calls --------------------------------------------------- */

/** Queue cb(d, arg) to run at the end of the current iteration (or of the
 * next one if called from a deferred callback). Queuing an already queued
 * handle only updates cb and arg. */
ACTR_API void actr_defer(actr_reactor_t *r, actr_defer_t *d, actr_defer_cb cb,
		void *arg);

/** Remove d from the queue if it is there. O(1); may be called from any
 * callback, including a deferred call of the same batch. */
ACTR_API void actr_defer_cancel(actr_reactor_t *r, actr_defer_t *d);

/* ---- signals ---------------------------------------------------------- */

/** Deliver signo to cb on the reactor thread through the signalfd. The
 * signal is blocked in the calling thread while any handle watches it. */
ACTR_API int actr_signal_start(actr_reactor_t *r, actr_signal_t *s, int signo,
		      actr_signal_cb cb, void *arg);

ACTR_API void actr_signal_stop(actr_signal_t *s);

/* ---- iteration hooks -------------------------------------------------- */

/** Run cb every iteration at the given phase; lower order runs first. */
ACTR_API void actr_hook_start(actr_reactor_t *r, actr_hook_t *h, int kind, int order,
		     actr_hook_cb cb, void *arg);

ACTR_API void actr_hook_stop(actr_hook_t *h);

/** From a PREPARE hook: wait at most timeout_ms this iteration. */
ACTR_API void actr_reactor_limit_wait(actr_reactor_t *r, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
