/*
 * The reactor: epoll (level-triggered by default) with a cached registered
 * mask, one ABSTIME timerfd armed to the earliest deadline of a binary
 * min-heap, an eventfd for posts from other threads, a signalfd, deferred
 * calls and PREPARE/CHECK hooks. See include/actr/reactor.h for the
 * iteration order.
 *
 * Stale events: epoll's data word carries (generation << 32 | fd). Closing
 * an io handle clears its slot and bumps the slot's generation, so events
 * already fetched in the current batch for a closed (or closed and reused)
 * fd are recognised and dropped without touching freed memory.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "list.h"

#define EVENT_BATCH 64
#define NO_INDEX UINT32_MAX

struct slot {
	actr_io_t *io;		/* handle watching this fd, NULL if none */
	uint32_t gen;		/* bumped on every close */
};

struct heap_entry {
	uint64_t deadline;	/* key, copied from the timer */
	uint64_t seq;		/* FIFO tie-break among equal deadlines */
	actr_timer_t *t;	/* the timer */
};

struct post_node {
	struct post_node *next;	/* stack link */
	actr_post_cb fn;	/* function to run */
	void *arg;		/* its argument */
};

struct actr_reactor {
	int epfd;			/* epoll instance */
	int tfd;			/* the timerfd */
	int efd;			/* eventfd for posts */
	int sfd;			/* signalfd, -1 until first signal */
	uint64_t now;			/* cached CLOCK_MONOTONIC ns */
	bool stop;			/* run() returns after this iteration */
	bool running;			/* inside run_once (no re-entry) */
	bool embedded;			/* the fd was handed out: keep it
					 * readable while work is pending */
	int wait_limit;			/* from PREPARE hooks, -1 = none */

	struct slot *slots;		/* indexed by fd */
	uint32_t nslots;		/* capacity of slots */
	unsigned nio;			/* io handles attached */

	struct heap_entry *heap;	/* timer min-heap */
	uint32_t nheap;			/* timers in the heap */
	uint32_t capheap;		/* heap capacity */
	uint64_t timer_seq;		/* next tie-break sequence */
	uint64_t armed;			/* timerfd deadline, 0 = disarmed */

	struct actr__list defer_q;	/* deferred FIFO */
	struct actr__list run_q;	/* batch run_deferred is running */

	actr_hook_t *hooks[2];		/* PREPARE and CHECK lists */
	actr_hook_t *hook_next;		/* iteration cursor (survives stop) */
	unsigned nhooks;

	actr_signal_t *signals;		/* watched signals */
	actr_signal_t *signal_next;	/* iteration cursor */
	sigset_t sigmask;		/* signals routed to sfd */

	_Atomic(struct post_node *) posts; /* Treiber stack, newest first */
	atomic_int post_wake;		/* an eventfd write is outstanding */

	uint64_t timerfd_errors;	/* timerfd_settime failures */
	atomic_uint_fast64_t wake_errors; /* eventfd writes that failed */
};

static void wake(actr_reactor_t *r);
static void timerfd_sync(actr_reactor_t *r);

/* Tags for the reactor's own descriptors in epoll's data word. */
#define TAG_TIMER (UINT64_MAX - 1)
#define TAG_POST (UINT64_MAX - 2)
#define TAG_SIGNAL (UINT64_MAX - 3)

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * ACTR_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static int epoll_add_tag(int epfd, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return actr__sys.epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno
								     : 0;
}

actr_reactor_t *actr_reactor_new(void)
{
	actr_reactor_t *r = actr__calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->sfd = -1;
	r->wait_limit = -1;
	actr__list_init(&r->defer_q);
	actr__list_init(&r->run_q);
	sigemptyset(&r->sigmask);
	atomic_init(&r->posts, NULL);
	atomic_init(&r->post_wake, 0);
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	r->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->epfd < 0 || r->tfd < 0 || r->efd < 0)
		goto out_close;
	if (epoll_add_tag(r->epfd, r->tfd, TAG_TIMER) < 0 ||
	    epoll_add_tag(r->epfd, r->efd, TAG_POST) < 0)
		goto out_close;
	r->now = mono_ns();
	return r;

out_close:;
	int saved = errno;

	if (r->epfd >= 0)
		close(r->epfd);
	if (r->tfd >= 0)
		close(r->tfd);
	if (r->efd >= 0)
		close(r->efd);
	free(r);
	errno = saved;
	return NULL;
}

void actr_reactor_free(actr_reactor_t *r)
{
	struct post_node *p, *next;

	if (!r)
		return;
	for (actr_signal_t *s = r->signals; s;) {
		actr_signal_t *n = s->next;

		actr_signal_stop(s);
		s = n;
	}
	for (p = atomic_exchange(&r->posts, NULL); p; p = next) {
		next = p->next;
		free(p);
	}
	close(r->epfd);
	close(r->tfd);
	close(r->efd);
	if (r->sfd >= 0)
		close(r->sfd);
	free(r->slots);
	free(r->heap);
	free(r);
}

void actr__reactor_faults(const actr_reactor_t *r,
			  struct actr__reactor_faults *f)
{
	f->timerfd_errors = r->timerfd_errors;
	f->wake_errors = atomic_load(&r->wake_errors);
}

void actr__reactor_handles(const actr_reactor_t *r, unsigned *nio,
			   unsigned *ntimers, unsigned *nhooks)
{
	*nio = r->nio;
	*ntimers = r->nheap;
	*nhooks = r->nhooks;
}

int actr_reactor_fd(actr_reactor_t *r)
{
	r->embedded = true;
	return r->epfd;
}

uint64_t actr_reactor_now(const actr_reactor_t *r)
{
	return r->now;
}

uint64_t actr_reactor_update_time(actr_reactor_t *r)
{
	r->now = mono_ns();
	return r->now;
}

unsigned actr_reactor_active(const actr_reactor_t *r)
{
	return r->nio + r->nheap + r->nhooks;
}

void actr_reactor_stop(actr_reactor_t *r)
{
	r->stop = true;
}

void actr_reactor_limit_wait(actr_reactor_t *r, int timeout_ms)
{
	if (timeout_ms < 0)
		return;
	if (r->wait_limit < 0 || timeout_ms < r->wait_limit)
		r->wait_limit = timeout_ms;
}

/* ---- fd events -------------------------------------------------------- */

static int slots_reserve(actr_reactor_t *r, int fd)
{
	uint32_t cap;
	struct slot *s;

	if ((uint32_t)fd < r->nslots)
		return 0;
	cap = r->nslots ? r->nslots : 64;
	while (cap <= (uint32_t)fd)
		cap *= 2;
	s = actr__realloc(r->slots, cap * sizeof(*s));
	if (!s)
		return -ENOMEM;
	memset(s + r->nslots, 0, (cap - r->nslots) * sizeof(*s));
	r->slots = s;
	r->nslots = cap;
	return 0;
}

int actr_io_init(actr_reactor_t *r, actr_io_t *io, int fd, actr_io_cb cb,
		 void *arg)
{
	int rc;

	if (fd < 0 || !cb)
		return -EINVAL;
	rc = slots_reserve(r, fd);
	if (rc < 0)
		return rc;
	if (r->slots[fd].io)
		return -EEXIST;
	io->r = r;
	io->cb = cb;
	io->arg = arg;
	io->fd = fd;
	io->want = 0;
	io->registered = 0;
	r->slots[fd].io = io;
	r->nio++;
	return 0;
}

static uint32_t to_epoll(unsigned events)
{
	uint32_t e = 0;

	if (events & ACTR_READ)
		e |= EPOLLIN;
	if (events & ACTR_WRITE)
		e |= EPOLLOUT;
	if (events & ACTR_EDGE)
		e |= EPOLLET;
	return e;
}

int actr_io_set(actr_io_t *io, unsigned events)
{
	actr_reactor_t *r = io->r;
	struct epoll_event ev;
	int op;

	if (io->fd < 0)
		return -EBADF;
	events &= ACTR_READ | ACTR_WRITE | ACTR_EDGE;
	io->want = events;
	if (!(events & (ACTR_READ | ACTR_WRITE)))
		events = 0;
	if (events == io->registered)
		return 0;
	if (!events)
		op = EPOLL_CTL_DEL;
	else if (!io->registered)
		op = EPOLL_CTL_ADD;
	else
		op = EPOLL_CTL_MOD;
	ev.events = to_epoll(events);
	ev.data.u64 = (uint64_t)r->slots[io->fd].gen << 32 | (uint32_t)io->fd;
	if (actr__sys.epoll_ctl(r->epfd, op, io->fd, &ev) < 0) {
		int err = errno;

		if (op != EPOLL_CTL_DEL)
			return -err;
	}
	io->registered = events;
	return 0;
}

void actr_io_close(actr_io_t *io)
{
	actr_reactor_t *r = io->r;
	struct slot *s;

	if (!r || io->fd < 0)
		return;
	if (io->registered)
		epoll_ctl(r->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	s = &r->slots[io->fd];
	assert(s->io == io);
	s->io = NULL;
	s->gen++;
	r->nio--;
	io->fd = -1;
	io->registered = 0;
	io->want = 0;
}

static unsigned from_epoll(uint32_t e)
{
	unsigned ev = 0;

	if (e & EPOLLIN)
		ev |= ACTR_READ;
	if (e & EPOLLOUT)
		ev |= ACTR_WRITE;
	if (e & EPOLLERR)
		ev |= ACTR_ERROR;
	if (e & (EPOLLHUP | EPOLLRDHUP))
		ev |= ACTR_HUP;
	return ev;
}

/* ---- timers: binary min-heap keyed by (deadline, seq) ------------------ */

static inline bool entry_less(const struct heap_entry *a,
			      const struct heap_entry *b)
{
	return a->deadline < b->deadline ||
	       (a->deadline == b->deadline && a->seq < b->seq);
}

static inline void heap_place(actr_reactor_t *r, uint32_t i,
			      struct heap_entry e)
{
	r->heap[i] = e;
	e.t->index = i;
}

static void sift_up(actr_reactor_t *r, uint32_t i, struct heap_entry e)
{
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (!entry_less(&e, &r->heap[parent]))
			break;
		heap_place(r, i, r->heap[parent]);
		i = parent;
	}
	heap_place(r, i, e);
}

static void sift_down(actr_reactor_t *r, uint32_t i, struct heap_entry e)
{
	uint32_t n = r->nheap;

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && entry_less(&r->heap[c + 1], &r->heap[c]))
			c++;
		if (!entry_less(&r->heap[c], &e))
			break;
		heap_place(r, i, r->heap[c]);
		i = c;
	}
	heap_place(r, i, e);
}

static void heap_remove(actr_reactor_t *r, uint32_t i)
{
	struct heap_entry last;

	r->heap[i].t->index = NO_INDEX;
	last = r->heap[--r->nheap];
	if (i == r->nheap)
		return;
	if (i > 0 && entry_less(&last, &r->heap[(i - 1) / 2]))
		sift_up(r, i, last);
	else
		sift_down(r, i, last);
}

static int heap_grow(actr_reactor_t *r)
{
	uint32_t cap = r->capheap ? r->capheap * 2 : 64;
	struct heap_entry *h = actr__realloc(r->heap, cap * sizeof(*h));

	if (!h)
		return -ENOMEM;
	r->heap = h;
	r->capheap = cap;
	return 0;
}

void actr_timer_init(actr_reactor_t *r, actr_timer_t *t, actr_timer_cb cb,
		     void *arg)
{
	t->r = r;
	t->cb = cb;
	t->arg = arg;
	t->deadline = 0;
	t->repeat = 0;
	t->index = NO_INDEX;
}

int actr_timer_start_at(actr_timer_t *t, uint64_t deadline_ns)
{
	actr_reactor_t *r = t->r;
	struct heap_entry e;

	if (t->index != NO_INDEX)
		heap_remove(r, t->index);
	if (r->nheap == r->capheap && heap_grow(r) < 0)
		return -ENOMEM;
	t->deadline = deadline_ns;
	e.deadline = deadline_ns;
	e.seq = r->timer_seq++;
	e.t = t;
	r->nheap++;
	sift_up(r, r->nheap - 1, e);
	if (!r->running)
		timerfd_sync(r); /* a host loop waits on the fd, not on us */
	return 0;
}

int actr_timer_start(actr_timer_t *t, uint64_t delay_ns, uint64_t repeat_ns)
{
	actr_reactor_t *r = t->r;

	/* Between iterations (host code of an embedding loop) the cached
	 * time is as old as the host's last wait: count from the clock. */
	if (!r->running)
		r->now = mono_ns();
	t->repeat = repeat_ns;
	return actr_timer_start_at(t, r->now + delay_ns);
}

void actr_timer_stop(actr_timer_t *t)
{
	if (t->index != NO_INDEX)
		heap_remove(t->r, t->index);
}

/* Arm the timerfd if the earliest deadline is earlier than what it holds.
 * A later deadline (the earliest timer was stopped) is left alone: the
 * timerfd fires early once and is re-armed then. */
static void timerfd_sync(actr_reactor_t *r)
{
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };
	uint64_t d;

	if (!r->nheap)
		return;
	d = r->heap[0].deadline;
	if (r->armed && r->armed <= d)
		return;
	if (d == 0)
		d = 1; /* 0 would disarm */
	its.it_value.tv_sec = (time_t)(d / ACTR_NSEC_PER_SEC);
	its.it_value.tv_nsec = (long)(d % ACTR_NSEC_PER_SEC);
	if (actr__sys.timerfd_settime(r->tfd, TFD_TIMER_ABSTIME, &its, NULL) ==
	    0) {
		r->armed = d;
		return;
	}
	/* Not armed (r->armed unchanged, so the next sync tries again):
	 * this iteration's wait ends at the deadline instead. */
	r->timerfd_errors++;
	actr_logw("reactor", "timerfd_settime: %s", strerror(errno));
	uint64_t ms = d > r->now ? (d - r->now + ACTR_MS(1) - 1) / ACTR_MS(1)
				 : 0;
	if (r->wait_limit < 0 || (uint64_t)r->wait_limit > ms)
		r->wait_limit = (int)ACTR_MIN(ms, (uint64_t)INT32_MAX);
}

/* Run the timers due at r->now. Timers (re)started during this run with
 * a deadline that is already due wait for the next iteration, so a timer
 * re-arming itself with delay 0 cannot starve I/O. */
static int run_timers(actr_reactor_t *r)
{
	uint64_t seq_limit = r->timer_seq;
	int n = 0;

	while (r->nheap && r->heap[0].deadline <= r->now &&
	       r->heap[0].seq < seq_limit) {
		actr_timer_t *t = r->heap[0].t;

		heap_remove(r, 0);
		if (t->repeat) {
			uint64_t next = t->deadline + t->repeat;

			/* The slot just freed by heap_remove: cannot fail. */
			(void)actr_timer_start_at(t, next > r->now
							     ? next
							     : r->now + t->repeat);
		}
		t->cb(t, t->arg);
		n++;
	}
	return n;
}

/* ---- deferred calls ----------------------------------------------------- */

void actr_defer(actr_reactor_t *r, actr_defer_t *d, actr_defer_cb cb,
		void *arg)
{
	d->cb = cb;
	d->arg = arg;
	if (d->queued)
		return;
	d->queued = true;
	actr__list_insert_tail(&r->defer_q, &d->link);
	if (r->embedded && !r->running)
		wake(r);
}

/* O(1): d is on the queue for this iteration's end or on the batch being
 * run now; either way it just leaves its list. */
void actr_defer_cancel(actr_reactor_t *r, actr_defer_t *d)
{
	if (!d->queued)
		return;
	actr__list_remove(&d->link);
	d->queued = false;
}

/* Run exactly what was queued when we started: the queue is moved to the
 * run batch, so calls deferred by deferred calls wait for the next
 * iteration, and any of the batch may be cancelled while it runs. */
static int run_deferred(actr_reactor_t *r)
{
	struct actr__list *l;
	int n = 0;

	actr__list_splice_tail(&r->run_q, &r->defer_q);
	while ((l = actr__list_pop_head(&r->run_q)) != NULL) {
		actr_defer_t *cur = actr__list_entry(l, actr_defer_t, link);

		cur->queued = false;
		cur->cb(cur, cur->arg);
		n++;
	}
	return n;
}

/* ---- hooks ---------------------------------------------------------------- */

void actr_hook_start(actr_reactor_t *r, actr_hook_t *h, int kind, int order,
		     actr_hook_cb cb, void *arg)
{
	actr_hook_t **pp;

	if (h->active && h->r == r)
		actr_hook_stop(h);
	h->r = r;
	h->cb = cb;
	h->arg = arg;
	h->kind = kind ? ACTR_HOOK_CHECK : ACTR_HOOK_PREPARE;
	h->order = order;
	for (pp = &r->hooks[h->kind]; *pp && (*pp)->order <= order;
	     pp = &(*pp)->next)
		;
	h->next = *pp;
	*pp = h;
	h->active = true;
	r->nhooks++;
}

void actr_hook_stop(actr_hook_t *h)
{
	actr_reactor_t *r = h->r;
	actr_hook_t **pp;

	if (!h->active)
		return;
	if (r->hook_next == h)
		r->hook_next = h->next;
	for (pp = &r->hooks[h->kind]; *pp; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	}
	h->active = false;
	r->nhooks--;
}

static int run_hooks(actr_reactor_t *r, int kind)
{
	actr_hook_t *h = r->hooks[kind];
	int n = 0;

	while (h) {
		r->hook_next = h->next;
		h->cb(h, h->arg);
		n++;
		h = r->hook_next;
	}
	r->hook_next = NULL;
	return n;
}

/* ---- posts from other threads -------------------------------------------- */

/* Make the epoll descriptor readable (the eventfd), once until the next
 * iteration drains it. Any thread. */
static void wake(actr_reactor_t *r)
{
	uint64_t one = 1;
	ssize_t w;
	int tries = 0;

	if (atomic_exchange(&r->post_wake, 1) != 0)
		return;
	do {
		w = actr__sys.write(r->efd, &one, sizeof(one));
	} while (w < 0 && errno == EINTR && ++tries < 8);
	if (w < 0) {
		/* Whatever is queued still runs in the next iteration; the
		 * loop was not woken. The next wake-up tries again. */
		atomic_store(&r->post_wake, 0);
		atomic_fetch_add(&r->wake_errors, 1);
	}
}

void actr__reactor_kick(actr_reactor_t *r)
{
	if (r->embedded && !r->running)
		wake(r);
}


int actr_reactor_post(actr_reactor_t *r, actr_post_cb fn, void *arg)
{
	struct post_node *n = actr__malloc(sizeof(*n));
	struct post_node *head;

	if (!n)
		return -ENOMEM;
	n->fn = fn;
	n->arg = arg;
	head = atomic_load(&r->posts);
	do {
		n->next = head;
	} while (!atomic_compare_exchange_weak(&r->posts, &head, n));
	wake(r);
	return 0;
}

static int run_posts(actr_reactor_t *r)
{
	struct post_node *list, *rev = NULL, *next;
	uint64_t v;
	int n = 0;

	while (actr__sys.read(r->efd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	atomic_store(&r->post_wake, 0);
	list = atomic_exchange(&r->posts, NULL);
	while (list) { /* reverse to posting order */
		next = list->next;
		list->next = rev;
		rev = list;
		list = next;
	}
	for (; rev; rev = next) {
		next = rev->next;
		rev->fn(rev->arg);
		free(rev);
		n++;
	}
	return n;
}

/* ---- signals ---------------------------------------------------------------- */

static int signalfd_update(actr_reactor_t *r)
{
	int fd = signalfd(r->sfd, &r->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (r->sfd < 0) {
		int rc = epoll_add_tag(r->epfd, fd, TAG_SIGNAL);

		if (rc < 0) {
			close(fd);
			return rc;
		}
		r->sfd = fd;
	}
	return 0;
}

int actr_signal_start(actr_reactor_t *r, actr_signal_t *s, int signo,
		      actr_signal_cb cb, void *arg)
{
	sigset_t one, old;
	int rc;

	if (signo <= 0 || signo >= NSIG || signo == SIGKILL || signo == SIGSTOP)
		return -EINVAL;
	sigemptyset(&one);
	sigaddset(&one, signo);
	if (pthread_sigmask(SIG_BLOCK, &one, &old) != 0)
		return -EINVAL;
	s->was_blocked = sigismember(&old, signo) == 1;
	/* If another handle already watches signo, keep its view of the
	 * original mask so the last one out restores it. */
	for (actr_signal_t *o = r->signals; o; o = o->next)
		if (o->signo == signo)
			s->was_blocked = o->was_blocked;
	sigaddset(&r->sigmask, signo);
	rc = signalfd_update(r);
	if (rc < 0)
		return rc;
	s->r = r;
	s->cb = cb;
	s->arg = arg;
	s->signo = signo;
	s->next = r->signals;
	r->signals = s;
	return 0;
}

void actr_signal_stop(actr_signal_t *s)
{
	actr_reactor_t *r = s->r;
	actr_signal_t **pp;
	int signo = s->signo;

	if (!r || !signo)
		return;
	if (r->signal_next == s)
		r->signal_next = s->next;
	for (pp = &r->signals; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	s->signo = 0;
	for (actr_signal_t *o = r->signals; o; o = o->next)
		if (o->signo == signo)
			return; /* still watched */
	sigdelset(&r->sigmask, signo);
	signalfd_update(r);
	if (!s->was_blocked) {
		/* Consume a pending instance before unblocking so it does not
		 * take its default action now. */
		struct timespec zero = { 0, 0 };
		sigset_t one;

		sigemptyset(&one);
		sigaddset(&one, signo);
		while (sigtimedwait(&one, NULL, &zero) == signo)
			;
		pthread_sigmask(SIG_UNBLOCK, &one, NULL);
	}
}

static int run_signals(actr_reactor_t *r)
{
	struct signalfd_siginfo si[8];
	int n = 0;

	for (;;) {
		ssize_t got = actr__sys.read(r->sfd, si, sizeof(si));

		if (got <= 0)
			break;
		for (size_t i = 0; i < (size_t)got / sizeof(si[0]); i++) {
			int signo = (int)si[i].ssi_signo;
			actr_signal_t *s = r->signals;

			while (s) {
				r->signal_next = s->next;
				if (s->signo == signo) {
					s->cb(s, signo, s->arg);
					n++;
				}
				s = r->signal_next;
			}
			r->signal_next = NULL;
		}
	}
	return n;
}

/* ---- the loop ------------------------------------------------------------- */

static int wait_timeout(actr_reactor_t *r, int timeout_ms)
{
	if (!actr__list_empty(&r->defer_q) || r->stop)
		return 0;
	if (r->nheap && r->heap[0].deadline <= r->now)
		return 0;
	if (r->wait_limit >= 0 &&
	    (timeout_ms < 0 || r->wait_limit < timeout_ms))
		timeout_ms = r->wait_limit;
	return timeout_ms;
}

/* Is there work the next iteration must do at once? Asks the PREPARE
 * hooks (they only report, through actr_reactor_limit_wait). */
static bool work_pending(actr_reactor_t *r)
{
	r->wait_limit = -1;
	if (!actr__list_empty(&r->defer_q) ||
	    atomic_load_explicit(&r->posts, memory_order_relaxed))
		return true;
	if (!r->hooks[ACTR_HOOK_PREPARE])
		return false;
	run_hooks(r, ACTR_HOOK_PREPARE);
	return r->wait_limit == 0;
}

int actr_reactor_timeout(actr_reactor_t *r)
{
	uint64_t now;

	if (r->running || r->stop || work_pending(r))
		return 0;
	if (!r->nheap)
		return r->wait_limit;
	now = mono_ns();
	if (r->heap[0].deadline <= now)
		return 0;
	uint64_t ms = (r->heap[0].deadline - now + ACTR_MS(1) - 1) / ACTR_MS(1);
	if (r->wait_limit >= 0 && (uint64_t)r->wait_limit < ms)
		ms = (uint64_t)r->wait_limit;
	return (int)ACTR_MIN(ms, (uint64_t)INT32_MAX);
}

int actr_reactor_run_once(actr_reactor_t *r, int timeout_ms)
{
	struct epoll_event evs[EVENT_BATCH];
	int nev, n = 0;

	assert(!r->running);
	r->running = true;
	r->wait_limit = -1;
	n += run_hooks(r, ACTR_HOOK_PREPARE);
	timerfd_sync(r);
	nev = actr__sys.epoll_wait(r->epfd, evs, EVENT_BATCH,
				   wait_timeout(r, timeout_ms));
	if (nev < 0) {
		int err = errno;

		if (err != EINTR) {
			r->running = false;
			return -err;
		}
		nev = 0; /* a signal interrupted the wait: finish the iteration */
	}
	r->now = mono_ns();
	for (int i = 0; i < nev; i++) {
		uint64_t tag = evs[i].data.u64;
		uint32_t fd = (uint32_t)tag;
		struct slot *s;
		actr_io_t *io;
		unsigned ev;

		if (ACTR_UNLIKELY(tag >= TAG_SIGNAL)) {
			if (tag == TAG_TIMER) {
				uint64_t exp;

				if (actr__sys.read(r->tfd, &exp, sizeof(exp)) > 0 ||
				    errno == EAGAIN)
					r->armed = 0;
			} else if (tag == TAG_POST) {
				n += run_posts(r);
			} else {
				n += run_signals(r);
			}
			continue;
		}
		s = &r->slots[fd];
		io = s->io;
		if (!io || s->gen != (uint32_t)(tag >> 32))
			continue; /* closed during this batch */
		ev = from_epoll(evs[i].events) &
		     (io->want | ACTR_ERROR | ACTR_HUP);
		if (!ev)
			continue;
		io->cb(io, ev, io->arg);
		n++;
	}
	if (ACTR_UNLIKELY(atomic_load_explicit(&r->posts, memory_order_relaxed)))
		n += run_posts(r); /* queued while a wake-up failed */
	n += run_timers(r);
	n += run_hooks(r, ACTR_HOOK_CHECK);
	n += run_deferred(r);
	timerfd_sync(r);
	r->running = false;
	if (r->embedded && work_pending(r))
		wake(r);
	return n;
}

int actr_reactor_run(actr_reactor_t *r)
{
	r->stop = false;
	while (!r->stop) {
		int rc = actr_reactor_run_once(r, -1);

		if (rc < 0)
			return rc;
	}
	r->stop = false;
	return 0;
}

int actr_reactor_drain(actr_reactor_t *r, int timeout_ms)
{
	uint64_t end = mono_ns() + ACTR_MS(timeout_ms > 0 ? timeout_ms : 0);
	int rc;

	do {
		rc = actr_reactor_run_once(r, actr_reactor_active(r) ? 10 : 0);
		if (rc < 0)
			return rc;
	} while ((actr_reactor_active(r) > 0 ||
		  !actr__list_empty(&r->defer_q)) &&
		 mono_ns() < end);
	return actr_reactor_active(r) > 0 || !actr__list_empty(&r->defer_q)
		       ? -ACTR_ETIMEDOUT : 0;
}
