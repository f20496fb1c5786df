/* Tests of core/reactor.c: fd readiness, timers, deferred calls, hooks,
 * posts from other threads, signals. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <actr/actr.h>

#include "test.h"

/* ---- fd readiness ---------------------------------------------------- */

struct io_ctx {
	int reads;
	int writes;
	int hups;
	char last;
};

static void on_io(actr_io_t *io, unsigned ev, void *arg)
{
	struct io_ctx *c = arg;
	char ch;

	if (ev & ACTR_READ) {
		ssize_t n = read(io->fd, &ch, 1);

		if (n == 1) {
			c->reads++;
			c->last = ch;
		} else if (n == 0) {
			c->hups++;
			actr_io_set(io, 0);
		}
	}
	if (ev & ACTR_WRITE) {
		c->writes++;
		actr_io_set(io, ACTR_READ); /* one write event is enough */
	}
	if (ev & ACTR_HUP)
		c->hups++;
}

TEST(reactor_io_read_write)
{
	actr_reactor_t *r = actr_reactor_new();
	struct io_ctx c = { 0 };
	actr_io_t io;
	int sv[2];

	CHECK(r);
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(actr_io_init(r, &io, sv[0], on_io, &c));
	CHECK_OK(actr_io_set(&io, ACTR_READ | ACTR_WRITE));
	CHECK(actr_reactor_run_once(r, 1000) >= 1);
	CHECK_EQ(c.writes, 1);
	CHECK_EQ(c.reads, 0);
	/* Nothing readable: a 0-timeout iteration does nothing. */
	CHECK_EQ(actr_reactor_run_once(r, 0), 0);
	CHECK_EQ(write(sv[1], "x", 1), 1);
	CHECK_EQ(actr_reactor_run_once(r, 1000), 1);
	CHECK_EQ(c.reads, 1);
	CHECK_EQ(c.last, 'x');
	/* Level-triggered: two bytes, read one at a time, two iterations. */
	CHECK_EQ(write(sv[1], "yz", 2), 2);
	CHECK_EQ(actr_reactor_run_once(r, 1000), 1);
	CHECK_EQ(actr_reactor_run_once(r, 1000), 1);
	CHECK_EQ(c.reads, 3);
	CHECK_EQ(c.last, 'z');
	close(sv[1]);
	CHECK(actr_reactor_run_once(r, 1000) >= 1);
	CHECK(c.hups >= 1);
	actr_io_close(&io);
	actr_io_close(&io); /* twice is safe */
	CHECK_EQ(actr_reactor_active(r), 0);
	close(sv[0]);
	actr_reactor_free(r);
}

TEST(reactor_io_errors)
{
	actr_reactor_t *r = actr_reactor_new();
	struct io_ctx c = { 0 };
	actr_io_t a, b;
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(actr_io_init(r, &a, -1, on_io, &c), -EINVAL);
	CHECK_OK(actr_io_init(r, &a, sv[0], on_io, &c));
	CHECK_EQ(actr_io_init(r, &b, sv[0], on_io, &c), -EEXIST);
	actr_io_close(&a);
	CHECK_EQ(actr_io_set(&a, ACTR_READ), -EBADF);
	close(sv[0]);
	close(sv[1]);
	actr_reactor_free(r);
}

/* Two fds ready in one batch; the first callback closes and frees the
 * second handle. The second must not run (stale-event guard). */
struct stale_ctx {
	actr_io_t *other;
	int *other_fd;
	int ran;
};

static void on_stale(actr_io_t *io, unsigned ev, void *arg)
{
	struct stale_ctx *c = arg;

	c->ran++;
	if (c->other) {
		actr_io_close(c->other);
		close(*c->other_fd);
		free(c->other);
		/* Reuse the fd number for a new, unwatched descriptor. */
		*c->other_fd = dup(io->fd);
		c->other = NULL;
	} else {
		CHECK(!"closed handle's callback ran");
	}
	actr_io_set(io, 0);
}

TEST(reactor_stale_event_after_close)
{
	actr_reactor_t *r = actr_reactor_new();
	struct stale_ctx ca = { 0 }, cb = { 0 };
	actr_io_t ia, *ib = malloc(sizeof(*ib));
	int s1[2], s2[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, s1));
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, s2));
	CHECK_OK(actr_io_init(r, &ia, s1[0], on_stale, &ca));
	CHECK_OK(actr_io_init(r, ib, s2[0], on_stale, &cb));
	CHECK_OK(actr_io_set(&ia, ACTR_READ));
	CHECK_OK(actr_io_set(ib, ACTR_READ));
	CHECK_EQ(write(s1[1], "a", 1), 1);
	CHECK_EQ(write(s2[1], "b", 1), 1);
	usleep(1000);
	/* Whichever runs first closes the other. */
	ca.other = ib;
	ca.other_fd = &s2[0];
	cb.other = &ia;
	cb.other_fd = &s1[0];
	actr_reactor_run_once(r, 1000);
	CHECK_EQ(ca.ran + cb.ran, 1);
	if (cb.ran == 0)
		actr_io_close(&ia);
	close(s1[0]);
	close(s1[1]);
	close(s2[0]);
	close(s2[1]);
	actr_reactor_free(r);
}

/* ---- timers ---------------------------------------------------------- */

struct order_ctx {
	int seq[64];
	int n;
	uint64_t fired_at[64];
};

struct tagged_timer {
	actr_timer_t t;
	int tag;
	struct order_ctx *c;
};

static void on_tagged(actr_timer_t *t, void *arg)
{
	struct tagged_timer *tt = arg;

	tt->c->fired_at[tt->c->n] = actr_time_ns();
	tt->c->seq[tt->c->n++] = tt->tag;
	(void)t;
}

static void run_until_idle(actr_reactor_t *r, int max_iter)
{
	while (actr_reactor_active(r) && max_iter-- > 0)
		actr_reactor_run_once(r, 1000);
}

TEST(reactor_timers_fire_in_order)
{
	actr_reactor_t *r = actr_reactor_new();
	struct order_ctx c = { 0 };
	struct tagged_timer tt[6];
	/* delays in ms; equal delays must fire in start order (FIFO) */
	static const int delay[6] = { 30, 10, 20, 10, 0, 20 };
	static const int expect[6] = { 4, 1, 3, 2, 5, 0 };
	uint64_t t0 = actr_reactor_now(r);

	for (int i = 0; i < 6; i++) {
		tt[i].tag = i;
		tt[i].c = &c;
		actr_timer_init(r, &tt[i].t, on_tagged, &tt[i]);
		CHECK_OK(actr_timer_start(&tt[i].t, ACTR_MS(delay[i]), 0));
	}
	run_until_idle(r, 100);
	CHECK_EQ(c.n, 6);
	for (int i = 0; i < 6; i++) {
		CHECK_EQ(c.seq[i], expect[i]);
		/* never early */
		CHECK(c.fired_at[i] >= t0 + ACTR_MS(delay[expect[i]]));
	}
	/* Lateness is measured and printed, not asserted to the us. */
	printf("    timer lateness: last %.3f ms\n",
	       (double)(c.fired_at[5] - t0 - ACTR_MS(30)) / 1e6);
	actr_reactor_free(r);
}

static int repeat_count;

static void on_repeat(actr_timer_t *t, void *arg)
{
	(void)arg;
	if (++repeat_count == 5)
		actr_timer_stop(t);
}

TEST(reactor_timer_repeat_and_stop)
{
	actr_reactor_t *r = actr_reactor_new();
	actr_timer_t t;
	/* deadlines count from the reactor's clock (read once per
	 * iteration), so that is the clock to compare with */
	uint64_t t0 = actr_reactor_now(r);

	actr_timer_init(r, &t, on_repeat, NULL);
	CHECK_OK(actr_timer_start(&t, ACTR_MS(2), ACTR_MS(2)));
	CHECK(actr_timer_active(&t));
	run_until_idle(r, 100);
	CHECK_EQ(repeat_count, 5);
	CHECK(!actr_timer_active(&t));
	CHECK(actr_reactor_now(r) - t0 >= ACTR_MS(10)); /* never early */
	actr_reactor_free(r);
}

/* A callback that stops a later timer, restarts another and frees
 * itself. */
struct cancel_ctx {
	actr_timer_t *victim;
	actr_timer_t *moved;
	int victim_fired;
	int moved_fired;
	int self_fired;
};

static void on_victim(actr_timer_t *t, void *arg)
{
	((struct cancel_ctx *)arg)->victim_fired++;
	(void)t;
}

static void on_moved(actr_timer_t *t, void *arg)
{
	((struct cancel_ctx *)arg)->moved_fired++;
	(void)t;
}

static void on_self_free(actr_timer_t *t, void *arg)
{
	struct cancel_ctx *c = arg;

	c->self_fired++;
	actr_timer_stop(c->victim);
	CHECK_OK(actr_timer_start(c->moved, ACTR_MS(1), 0));
	/* Re-arm myself, then free my own memory: the reactor must not
	 * touch it again, so stop first. */
	actr_timer_start(t, ACTR_MS(1), 0);
	actr_timer_stop(t);
	free(t);
}

TEST(reactor_timer_cancel_rearm_free_in_callback)
{
	actr_reactor_t *r = actr_reactor_new();
	struct cancel_ctx c = { 0 };
	actr_timer_t *self = malloc(sizeof(*self));
	actr_timer_t victim, moved;

	c.victim = &victim;
	c.moved = &moved;
	actr_timer_init(r, self, on_self_free, &c);
	actr_timer_init(r, &victim, on_victim, &c);
	actr_timer_init(r, &moved, on_moved, &c);
	CHECK_OK(actr_timer_start(self, ACTR_MS(1), 0));
	CHECK_OK(actr_timer_start(&victim, ACTR_MS(1), 0)); /* same deadline */
	CHECK_OK(actr_timer_start(&moved, ACTR_SEC(100), 0));
	run_until_idle(r, 100);
	CHECK_EQ(c.self_fired, 1);
	CHECK_EQ(c.victim_fired, 0);
	CHECK_EQ(c.moved_fired, 1);
	actr_reactor_free(r);
}

/* A repeating timer with period 0 re-arms as due, but must wait for the
 * next iteration so I/O is not starved. */
static int zero_count;

static void on_zero(actr_timer_t *t, void *arg)
{
	(void)arg;
	if (++zero_count >= 3)
		actr_timer_stop(t);
	else
		actr_timer_start(t, 0, 0);
}

TEST(reactor_timer_zero_delay_yields)
{
	actr_reactor_t *r = actr_reactor_new();
	actr_timer_t t;

	actr_timer_init(r, &t, on_zero, NULL);
	CHECK_OK(actr_timer_start(&t, 0, 0));
	CHECK_EQ(actr_reactor_run_once(r, 1000), 1);
	CHECK_EQ(zero_count, 1);
	CHECK_EQ(actr_reactor_run_once(r, 1000), 1);
	CHECK_EQ(zero_count, 2);
	actr_reactor_free(r);
}

/* Thousands of timers with random deadlines fire in deadline order, with
 * a third of them cancelled. */
struct many_ctx {
	uint64_t last_deadline;
	int fired;
	int out_of_order;
};

struct many_timer {
	actr_timer_t t;
	struct many_ctx *c;
};

static void on_many(actr_timer_t *t, void *arg)
{
	struct many_timer *m = arg;

	if (t->deadline < m->c->last_deadline)
		m->c->out_of_order++;
	m->c->last_deadline = t->deadline;
	m->c->fired++;
}

TEST(reactor_thousands_of_timers)
{
	enum { N = 20000 };
	actr_reactor_t *r = actr_reactor_new();
	struct many_timer *m = calloc(N, sizeof(*m));
	struct many_ctx c = { 0 };
	int stopped = 0;

	for (int i = 0; i < N; i++) {
		m[i].c = &c;
		actr_timer_init(r, &m[i].t, on_many, &m[i]);
		CHECK_OK(actr_timer_start(&m[i].t,
					  ACTR_US(actr_rand64() % 50000), 0));
	}
	for (int i = 0; i < N; i += 3) {
		actr_timer_stop(&m[i].t);
		stopped++;
	}
	run_until_idle(r, 100000);
	CHECK_EQ(c.fired, N - stopped);
	CHECK_EQ(c.out_of_order, 0);
	free(m);
	actr_reactor_free(r);
}

/* ---- deferred calls and hooks ----------------------------------------- */

struct defer_ctx {
	actr_reactor_t *r;
	actr_defer_t d1, d2, d3;
	char log[16];
	int n;
};

static void on_d3(actr_defer_t *d, void *arg)
{
	struct defer_ctx *c = arg;

	c->log[c->n++] = '3';
	(void)d;
}

static void on_d1(actr_defer_t *d, void *arg)
{
	struct defer_ctx *c = arg;

	c->log[c->n++] = '1';
	actr_defer(c->r, &c->d3, on_d3, c); /* runs in the next iteration */
	(void)d;
}

static void on_d2(actr_defer_t *d, void *arg)
{
	struct defer_ctx *c = arg;

	c->log[c->n++] = '2';
	(void)d;
}

static void on_check(actr_hook_t *h, void *arg)
{
	struct defer_ctx *c = arg;

	c->log[c->n++] = h->order == 1 ? 'a' : 'b';
}

TEST(reactor_defer_and_hooks)
{
	actr_reactor_t *r = actr_reactor_new();
	struct defer_ctx c = { 0 };
	actr_hook_t ha = { 0 }, hb = { 0 };
	actr_defer_t cancelled = { 0 };

	c.r = r;
	actr_hook_start(r, &hb, ACTR_HOOK_CHECK, 2, on_check, &c);
	actr_hook_start(r, &ha, ACTR_HOOK_CHECK, 1, on_check, &c);
	actr_defer(r, &c.d1, on_d1, &c);
	actr_defer(r, &c.d2, on_d2, &c);
	actr_defer(r, &c.d1, on_d1, &c); /* already queued: no double run */
	actr_defer(r, &cancelled, on_d2, &c);
	actr_defer_cancel(r, &cancelled);
	/* The pending defer keeps the wait at 0. */
	actr_reactor_run_once(r, 5000);
	CHECK_STR(c.log, "ab12");
	actr_hook_stop(&hb);
	actr_reactor_run_once(r, 5000);
	CHECK_STR(c.log, "ab12a3");
	actr_hook_stop(&ha);
	CHECK_EQ(actr_reactor_active(r), 0);
	actr_reactor_free(r);
}

/* ---- posts from other threads ------------------------------------------ */

struct post_ctx {
	actr_reactor_t *r;
	int per_thread_last[4];
	int order_errors;
	int total;
};

struct post_msg {
	struct post_ctx *c;
	int thread;
	int seq;
};

static void on_post(void *arg)
{
	struct post_msg *m = arg;
	struct post_ctx *c = m->c;

	if (m->seq != c->per_thread_last[m->thread] + 1)
		c->order_errors++;
	c->per_thread_last[m->thread] = m->seq;
	if (++c->total == 4 * 2000)
		actr_reactor_stop(c->r);
	free(m);
}

struct poster {
	struct post_ctx *c;
	int thread;
};

static void *poster_main(void *arg)
{
	struct poster *p = arg;

	for (int i = 1; i <= 2000; i++) {
		struct post_msg *m = malloc(sizeof(*m));

		m->c = p->c;
		m->thread = p->thread;
		m->seq = i;
		if (actr_reactor_post(p->c->r, on_post, m) < 0)
			abort();
	}
	return NULL;
}

TEST(reactor_post_from_threads)
{
	actr_reactor_t *r = actr_reactor_new();
	struct post_ctx c = { .r = r };
	struct poster p[4];
	pthread_t th[4];

	for (int i = 0; i < 4; i++) {
		p[i].c = &c;
		p[i].thread = i;
		CHECK_OK(pthread_create(&th[i], NULL, poster_main, &p[i]));
	}
	CHECK_OK(actr_reactor_run(r));
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ(c.total, 8000);
	CHECK_EQ(c.order_errors, 0);
	actr_reactor_free(r);
}

/* ---- signals ----------------------------------------------------------- */

static void on_signal(actr_signal_t *s, int signo, void *arg)
{
	int *got = arg;

	*got = signo;
	actr_signal_stop(s);
}

TEST(reactor_signal_delivery)
{
	actr_reactor_t *r = actr_reactor_new();
	actr_signal_t s = { 0 };
	int got = 0;

	CHECK_EQ(actr_signal_start(r, &s, SIGKILL, on_signal, &got), -EINVAL);
	CHECK_OK(actr_signal_start(r, &s, SIGUSR1, on_signal, &got));
	CHECK_OK(kill(getpid(), SIGUSR1));
	for (int i = 0; i < 100 && !got; i++)
		actr_reactor_run_once(r, 100);
	CHECK_EQ(got, SIGUSR1);
	actr_reactor_free(r);
}

/* SIGINT stops a running reactor cleanly (the Ctrl+C path). */
static void on_sigint(actr_signal_t *s, int signo, void *arg)
{
	actr_reactor_stop(arg);
	(void)s;
	(void)signo;
}

static void send_sigint(actr_timer_t *t, void *arg)
{
	kill(getpid(), SIGINT);
	(void)t;
	(void)arg;
}

TEST(reactor_sigint_stops_run)
{
	actr_reactor_t *r = actr_reactor_new();
	actr_signal_t s = { 0 };
	actr_timer_t t;

	CHECK_OK(actr_signal_start(r, &s, SIGINT, on_sigint, r));
	actr_timer_init(r, &t, send_sigint, NULL);
	CHECK_OK(actr_timer_start(&t, ACTR_MS(5), 0));
	CHECK_OK(actr_reactor_run(r));
	actr_signal_stop(&s);
	actr_reactor_free(r);
}

/* ---- embedding ---------------------------------------------------------- */

TEST(reactor_embeddable_fd)
{
	actr_reactor_t *r = actr_reactor_new();
	struct io_ctx c = { 0 };
	actr_io_t io;
	int sv[2];
	fd_set rd;
	struct timeval tv = { 1, 0 };
	int efd = actr_reactor_fd(r);

	CHECK(efd >= 0);
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(actr_io_init(r, &io, sv[0], on_io, &c));
	CHECK_OK(actr_io_set(&io, ACTR_READ));
	CHECK_EQ(write(sv[1], "q", 1), 1);
	/* A host loop polls the epoll fd and runs one iteration. */
	FD_ZERO(&rd);
	FD_SET(efd, &rd);
	CHECK_EQ(select(efd + 1, &rd, NULL, NULL, &tv), 1);
	CHECK_EQ(actr_reactor_run_once(r, 0), 1);
	CHECK_EQ(c.last, 'q');
	actr_io_close(&io);
	close(sv[0]);
	close(sv[1]);
	actr_reactor_free(r);
}

/* A signal handled by an ordinary handler interrupts epoll_wait (EINTR):
 * the iteration still runs its hooks instead of returning early. */
static void on_usr2(int signo)
{
	(void)signo;
}

static void count_hook(actr_hook_t *h, void *arg)
{
	(*(int *)arg)++;
	(void)h;
}

struct kicker {
	pthread_t target;
};

static void *kick_main(void *arg)
{
	struct kicker *k = arg;

	usleep(50000);
	pthread_kill(k->target, SIGUSR2);
	return NULL;
}

TEST(reactor_eintr_finishes_iteration)
{
	actr_reactor_t *r = actr_reactor_new();
	struct sigaction sa = { 0 };
	struct kicker k = { pthread_self() };
	actr_hook_t h = { 0 };
	pthread_t th;
	int hooks = 0;

	sa.sa_handler = on_usr2; /* no SA_RESTART: epoll_wait gets EINTR */
	CHECK_OK(sigaction(SIGUSR2, &sa, NULL));
	actr_hook_start(r, &h, ACTR_HOOK_CHECK, 1, count_hook, &hooks);
	CHECK_OK(pthread_create(&th, NULL, kick_main, &k));
	CHECK(actr_reactor_run_once(r, 5000) >= 1);	/* woken, not timed out */
	CHECK_EQ(hooks, 1);
	pthread_join(th, NULL);
	actr_hook_stop(&h);
	actr_reactor_free(r);
}

/* Cancelling from inside a deferred call: a later call of the same batch
 * (even the last) does not run, and calls queued meanwhile wait for the
 * next iteration. Cancel is O(1): 100k queued, all cancelled. */
struct cancel_batch {
	actr_reactor_t *r;
	actr_defer_t a, b, c, late;
	char log[8];
	int n;
};

static void cb_log(actr_defer_t *d, void *arg)
{
	struct cancel_batch *cb = arg;

	cb->log[cb->n++] = d == &cb->a ? 'a' : d == &cb->b ? 'b' :
			   d == &cb->c ? 'c' : 'L';
	if (d == &cb->a) {
		actr_defer_cancel(cb->r, &cb->c); /* the batch's last */
		actr_defer(cb->r, &cb->late, cb_log, cb);
	}
}

TEST(reactor_defer_cancel_in_batch)
{
	actr_reactor_t *r = actr_reactor_new();
	struct cancel_batch cb = { .r = r };
	actr_defer_t *many = calloc(100000, sizeof(*many));

	actr_defer(r, &cb.a, cb_log, &cb);
	actr_defer(r, &cb.b, cb_log, &cb);
	actr_defer(r, &cb.c, cb_log, &cb);
	actr_reactor_run_once(r, 0);
	CHECK_STR(cb.log, "ab");
	actr_reactor_run_once(r, 0);
	CHECK_STR(cb.log, "abL");
	for (int i = 0; i < 100000; i++)
		actr_defer(r, &many[i], cb_log, &cb);
	for (int i = 0; i < 100000; i += 2) /* from the middle, then ends */
		actr_defer_cancel(r, &many[i]);
	for (int i = 1; i < 100000; i += 2)
		actr_defer_cancel(r, &many[i]);
	CHECK_EQ(actr_reactor_run_once(r, 0), 0);
	CHECK_STR(cb.log, "abL");
	free(many);
	actr_reactor_free(r);
}

/* drain: runs until idle (timers fired, deferred calls done), or reports
 * -ACTR_ETIMEDOUT while something stays active. */
static void on_drain_timer(actr_timer_t *t, void *arg)
{
	(*(int *)arg)++;
	(void)t;
}

static void on_drain_defer(actr_defer_t *d, void *arg)
{
	(*(int *)arg) += 10;
	(void)d;
}

TEST(reactor_drain_until_idle)
{
	actr_reactor_t *r = actr_reactor_new();
	actr_defer_t d = { 0 };
	actr_timer_t t;
	actr_io_t io;
	struct io_ctx c = { 0 };
	int sv[2], n = 0;
	uint64_t t0;

	actr_timer_init(r, &t, on_drain_timer, &n);
	CHECK_OK(actr_timer_start(&t, ACTR_MS(5), 0));
	actr_defer(r, &d, on_drain_defer, &n);
	CHECK_OK(actr_reactor_drain(r, 5000));
	CHECK_EQ(n, 11);
	CHECK_EQ(actr_reactor_active(r), 0);

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(actr_io_init(r, &io, sv[0], on_io, &c));
	CHECK_OK(actr_io_set(&io, ACTR_READ));
	t0 = actr_reactor_now(r); /* deadlines count from it */
	CHECK_EQ(actr_reactor_drain(r, 50), -ACTR_ETIMEDOUT);
	CHECK(actr_time_ns() - t0 >= ACTR_MS(50));
	actr_io_close(&io);
	CHECK_OK(actr_reactor_drain(r, 50));
	close(sv[0]);
	close(sv[1]);
	actr_reactor_free(r);
}
