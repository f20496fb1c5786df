/*
 * The reactor's error exits, driven through actr__sys (test/fault.h):
 * epoll_ctl failing at creation and on add, epoll_wait interrupted or
 * failing, timerfd_settime failing, the eventfd write of a post failing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <actr/actr.h>

#include "core/internal.h"
#include "fault.h"
#include "test.h"

static void count_cb(void *arg)
{
	++*(int *)arg;
}

static void defer_cb(actr_defer_t *d, void *arg)
{
	++*(int *)arg;
}

static void timer_cb(actr_timer_t *t, void *arg)
{
	++*(int *)arg;
}

static void io_cb(actr_io_t *io, unsigned ev, void *arg)
{
	char b[16];

	if (ev & ACTR_READ)
		(void)!read(io->fd, b, sizeof(b));
	++*(int *)arg;
}

TEST(fault_reactor_new_epoll_ctl_fails)
{
	/* The timerfd's and the eventfd's registration: each failure gives
	 * NULL with the errno, and nothing leaks (ASan/valgrind runs). */
	for (unsigned nth = 1; nth <= 2; nth++) {
		fault_arm(FAULT_EPOLL_CTL, nth, ENOMEM, false, -1);
		errno = 0;
		CHECK(actr_reactor_new() == NULL);
		CHECK_EQ(errno, ENOMEM);
		CHECK_EQ(fault_hits(FAULT_EPOLL_CTL), 1);
		fault_reset();
	}
	fault_arm(FAULT_CALLOC, 1, ENOMEM, false, -1);
	CHECK(actr_reactor_new() == NULL);
	fault_reset();
}

TEST(fault_reactor_io_add_fails_then_retries)
{
	actr_reactor_t *r = actr_reactor_new();
	actr_io_t io;
	int sv[2], events = 0;

	CHECK(r);
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
	CHECK_OK(actr_io_init(r, &io, sv[0], io_cb, &events));
	fault_arm(FAULT_EPOLL_CTL, 1, ENOSPC, false, sv[0]);
	CHECK_EQ(actr_io_set(&io, ACTR_READ), -ENOSPC);
	CHECK_EQ(io.registered, 0); /* the cached mask still says "none" */
	/* The same request again reaches epoll (not skipped as cached). */
	CHECK_OK(actr_io_set(&io, ACTR_READ));
	CHECK_EQ(fault_calls(FAULT_EPOLL_CTL), 2);
	fault_reset();
	CHECK_EQ(write(sv[1], "x", 1), 1);
	for (int i = 0; i < 10 && !events; i++)
		CHECK(actr_reactor_run_once(r, 1000) >= 0);
	CHECK_EQ(events, 1);
	actr_io_close(&io);
	close(sv[0]);
	close(sv[1]);
	actr_reactor_free(r);
}

TEST(fault_reactor_wait_eintr_finishes_iteration)
{
	actr_reactor_t *r = actr_reactor_new();
	actr_defer_t d = { 0 };
	actr_timer_t t;
	int deferred = 0, fired = 0;

	CHECK(r);
	actr_timer_init(r, &t, timer_cb, &fired);
	CHECK_OK(actr_timer_start(&t, 0, 0));
	actr_defer(r, &d, defer_cb, &deferred);
	fault_arm(FAULT_EPOLL_WAIT, 1, EINTR, false, -1);
	CHECK_EQ(actr_reactor_run_once(r, 0), 2);
	CHECK_EQ(fault_hits(FAULT_EPOLL_WAIT), 1);
	fault_reset();
	CHECK_EQ(deferred, 1);
	CHECK_EQ(fired, 1);
	actr_reactor_free(r);
}

TEST(fault_reactor_wait_ebadf_is_returned)
{
	actr_reactor_t *r = actr_reactor_new();
	actr_defer_t d = { 0 };
	int deferred = 0;

	CHECK(r);
	actr_defer(r, &d, defer_cb, &deferred);
	fault_arm(FAULT_EPOLL_WAIT, 1, EBADF, false, -1);
	CHECK_EQ(actr_reactor_run_once(r, 0), -EBADF);
	CHECK_EQ(deferred, 0); /* the iteration stopped at the wait */
	/* run() ends with the error instead of spinning on it */
	fault_arm(FAULT_EPOLL_WAIT, 1, EBADF, true, -1);
	CHECK_EQ(actr_reactor_run(r), -EBADF);
	CHECK_EQ(fault_calls(FAULT_EPOLL_WAIT), 1);
	fault_reset();
	/* the loop is usable again (not stuck "running") */
	CHECK(actr_reactor_run_once(r, 0) >= 1);
	CHECK_EQ(deferred, 1);
	actr_reactor_free(r);
}

TEST(fault_reactor_timerfd_failure_still_fires)
{
	/* Arming the timerfd fails every time: the loop must not block in
	 * epoll_wait(-1) past the deadline. */
	actr_reactor_t *r = actr_reactor_new();
	struct actr__reactor_faults f;
	actr_timer_t t;
	int fired = 0, i;

	CHECK(r);
	actr_timer_init(r, &t, timer_cb, &fired);
	fault_arm(FAULT_TIMERFD_SETTIME, 1, ENOMEM, true, -1);
	CHECK_OK(actr_timer_start(&t, ACTR_MS(2), 0));
	for (i = 0; i < 1000 && !fired; i++)
		CHECK(actr_reactor_run_once(r, -1) >= 0);
	CHECK_EQ(fired, 1);
	CHECK(fault_hits(FAULT_TIMERFD_SETTIME) >= 1);
	actr__reactor_faults(r, &f);
	CHECK_EQ(f.timerfd_errors, fault_hits(FAULT_TIMERFD_SETTIME));
	/* the timerfd works again: armed on the next start */
	fault_reset();
	CHECK_OK(actr_timer_start(&t, ACTR_MS(1), 0));
	for (i = 0; i < 1000 && fired < 2; i++)
		CHECK(actr_reactor_run_once(r, -1) >= 0);
	CHECK_EQ(fired, 2);
	actr_reactor_free(r);
}

TEST(fault_reactor_post_wake_failure_not_lost)
{
	/* The eventfd write of a post fails: the post is queued (0), and
	 * the next post wakes the loop for both, in order. */
	actr_reactor_t *r = actr_reactor_new();
	struct actr__reactor_faults f;
	int a = 0, b = 0;

	CHECK(r);
	fault_arm(FAULT_WRITE, 1, EAGAIN, false, -1);
	CHECK_OK(actr_reactor_post(r, count_cb, &a));
	CHECK_EQ(fault_hits(FAULT_WRITE), 1);
	CHECK_OK(actr_reactor_post(r, count_cb, &b));
	CHECK_EQ(fault_calls(FAULT_WRITE), 2);
	fault_reset();
	for (int i = 0; i < 10 && !(a && b); i++)
		CHECK(actr_reactor_run_once(r, -1) >= 0);
	CHECK_EQ(a, 1);
	CHECK_EQ(b, 1);
	actr__reactor_faults(r, &f);
	CHECK_EQ(f.wake_errors, 1);
	/* out of memory for the node: -ENOMEM, nothing queued */
	fault_arm(FAULT_MALLOC, 1, ENOMEM, false, -1);
	CHECK_EQ(actr_reactor_post(r, count_cb, &a), -ENOMEM);
	fault_reset();
	CHECK(actr_reactor_run_once(r, 0) >= 0);
	CHECK_EQ(a, 1);
	actr_reactor_free(r);
}
