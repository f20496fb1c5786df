/* Fault injection through actr__sys: see fault.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/internal.h"
#include "fault.h"

struct fault {
	atomic_uint calls;	/* calls seen (fd filter applied) */
	atomic_uint hits;	/* calls failed */
	atomic_bool failing;	/* armed and not disarmed */
	unsigned nth;		/* first call to fail, 0 = none */
	int err;		/* errno to fail with */
	bool every;		/* fail every call from nth on */
	int fd;			/* only this descriptor, -1 = any */
};

static struct fault F[FAULT_COUNT];

/* True when this call must fail (errno is set). */
static bool hit(enum fault_call c, int fd)
{
	struct fault *f = &F[c];
	unsigned n;

	if (f->fd >= 0 && fd != f->fd)
		return false;
	n = atomic_fetch_add(&f->calls, 1) + 1;
	if (!atomic_load(&f->failing) || !f->nth ||
	    !(n == f->nth || (f->every && n > f->nth)))
		return false;
	atomic_fetch_add(&f->hits, 1);
	errno = f->err;
	return true;
}

static ssize_t w_read(int fd, void *b, size_t n)
{
	return hit(FAULT_READ, fd) ? -1 : read(fd, b, n);
}

static ssize_t w_write(int fd, const void *b, size_t n)
{
	return hit(FAULT_WRITE, fd) ? -1 : write(fd, b, n);
}

static ssize_t w_send(int fd, const void *b, size_t n, int fl)
{
	return hit(FAULT_SEND, fd) ? -1 : send(fd, b, n, fl);
}

static ssize_t w_recv(int fd, void *b, size_t n, int fl)
{
	return hit(FAULT_RECV, fd) ? -1 : recv(fd, b, n, fl);
}

static ssize_t w_sendmsg(int fd, const struct msghdr *mh, int fl)
{
	return hit(FAULT_SENDMSG, fd) ? -1 : sendmsg(fd, mh, fl);
}

static int w_sendmmsg(int fd, struct mmsghdr *v, unsigned n, int fl)
{
	return hit(FAULT_SENDMMSG, fd) ? -1 : sendmmsg(fd, v, n, fl);
}

static int w_recvmmsg(int fd, struct mmsghdr *v, unsigned n, int fl,
		      struct timespec *t)
{
	return hit(FAULT_RECVMMSG, fd) ? -1 : recvmmsg(fd, v, n, fl, t);
}

static int w_accept4(int fd, struct sockaddr *a, socklen_t *l, int fl)
{
	return hit(FAULT_ACCEPT4, fd) ? -1 : accept4(fd, a, l, fl);
}

static int w_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	return hit(FAULT_EPOLL_CTL, fd) ? -1 : epoll_ctl(epfd, op, fd, ev);
}

static int w_epoll_wait(int epfd, struct epoll_event *evs, int max, int ms)
{
	return hit(FAULT_EPOLL_WAIT, epfd) ? -1
					   : epoll_wait(epfd, evs, max, ms);
}

static int w_timerfd_settime(int fd, int fl, const struct itimerspec *its,
			     struct itimerspec *old)
{
	return hit(FAULT_TIMERFD_SETTIME, fd) ? -1
					      : timerfd_settime(fd, fl, its, old);
}

static int w_open(const char *path, int fl, ...)
{
	mode_t mode = 0;
	va_list ap;

	va_start(ap, fl);
	if (fl & O_CREAT)
		mode = va_arg(ap, mode_t);
	va_end(ap);
	return hit(FAULT_OPEN, -1) ? -1 : open(path, fl, mode);
}

static int w_ftruncate(int fd, off_t len)
{
	return hit(FAULT_FTRUNCATE, fd) ? -1 : ftruncate(fd, len);
}

static int w_fallocate(int fd, off_t off, off_t len)
{
	return hit(FAULT_FALLOCATE, fd) ? errno : posix_fallocate(fd, off, len);
}

static void *w_mmap(void *a, size_t len, int prot, int fl, int fd, off_t off)
{
	return hit(FAULT_MMAP, fd) ? MAP_FAILED
				   : mmap(a, len, prot, fl, fd, off);
}

static int w_fdatasync(int fd)
{
	return hit(FAULT_FDATASYNC, fd) ? -1 : fdatasync(fd);
}

static void *w_malloc(size_t n)
{
	return hit(FAULT_MALLOC, -1) ? NULL : malloc(n);
}

static void *w_calloc(size_t n, size_t size)
{
	return hit(FAULT_CALLOC, -1) ? NULL : calloc(n, size);
}

static void *w_realloc(void *p, size_t n)
{
	return hit(FAULT_REALLOC, -1) ? NULL : realloc(p, n);
}

static void install(enum fault_call c)
{
	switch (c) {
	case FAULT_READ: actr__sys.read = w_read; break;
	case FAULT_WRITE: actr__sys.write = w_write; break;
	case FAULT_SEND: actr__sys.send = w_send; break;
	case FAULT_RECV: actr__sys.recv = w_recv; break;
	case FAULT_SENDMSG: actr__sys.sendmsg = w_sendmsg; break;
	case FAULT_SENDMMSG: actr__sys.sendmmsg = w_sendmmsg; break;
	case FAULT_RECVMMSG: actr__sys.recvmmsg = w_recvmmsg; break;
	case FAULT_ACCEPT4: actr__sys.accept4 = w_accept4; break;
	case FAULT_EPOLL_CTL: actr__sys.epoll_ctl = w_epoll_ctl; break;
	case FAULT_EPOLL_WAIT: actr__sys.epoll_wait = w_epoll_wait; break;
	case FAULT_TIMERFD_SETTIME:
		actr__sys.timerfd_settime = w_timerfd_settime;
		break;
	case FAULT_OPEN: actr__sys.open = w_open; break;
	case FAULT_FTRUNCATE: actr__sys.ftruncate = w_ftruncate; break;
	case FAULT_FALLOCATE: actr__sys.posix_fallocate = w_fallocate; break;
	case FAULT_MMAP: actr__sys.mmap = w_mmap; break;
	case FAULT_FDATASYNC: actr__sys.fdatasync = w_fdatasync; break;
	case FAULT_MALLOC: actr__sys.malloc = w_malloc; break;
	case FAULT_CALLOC: actr__sys.calloc = w_calloc; break;
	case FAULT_REALLOC: actr__sys.realloc = w_realloc; break;
	case FAULT_COUNT: break;
	}
}

void fault_arm(enum fault_call call, unsigned nth, int err, bool every,
	       int fd)
{
	struct fault *f = &F[call];

	atomic_store(&f->failing, false);
	atomic_store(&f->calls, 0);
	atomic_store(&f->hits, 0);
	f->nth = nth;
	f->err = err;
	f->every = every;
	f->fd = fd;
	install(call);
	atomic_store(&f->failing, true);
}

unsigned fault_calls(enum fault_call call)
{
	return atomic_load(&F[call].calls);
}

unsigned fault_hits(enum fault_call call)
{
	return atomic_load(&F[call].hits);
}

void fault_disarm(enum fault_call call)
{
	atomic_store(&F[call].failing, false);
}

void fault_reset(void)
{
	for (int i = 0; i < FAULT_COUNT; i++)
		atomic_store(&F[i].failing, false);
	actr__sys_reset();
}
