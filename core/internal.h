/*
 * Internal helpers shared by the library's own files (actr__ prefix).
 * Never included by applications.
 */
#ifndef ACTR_CORE_INTERNAL_H
#define ACTR_CORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct epoll_event;
struct itimerspec;
struct mmsghdr;
struct timespec;

#include <actr/buf.h>
#include <actr/error.h>
#include <actr/log.h>
#include <actr/reactor.h>
#include <actr/util.h>

#define ACTR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define ACTR_MIN(a, b) ((a) < (b) ? (a) : (b))
#define ACTR_MAX(a, b) ((a) > (b) ? (a) : (b))
#define ACTR_CONTAINER_OF(ptr, type, member) \
	((type *)((char *)(ptr)-offsetof(type, member)))
#define ACTR_UNUSED(x) ((void)(x))
#define ACTR_LIKELY(x) __builtin_expect(!!(x), 1)
#define ACTR_UNLIKELY(x) __builtin_expect(!!(x), 0)

/*
 * Fault-injection seam (SQLite's aSyscall[]): every syscall of the library's
 * own whose failure it handles goes through this table, and so do the
 * allocations on paths that report -ENOMEM. Tests replace entries (see
 * test/fault.h) and restore them with actr__sys_reset(); production code
 * never changes it. Entries have the libc signatures and errno semantics.
 * Not routed: close/munmap/fstat and other calls whose failure is ignored
 * or cannot happen on a valid descriptor, OpenSSL's and libnice's own I/O
 * (they send through ours), and SQLite's file I/O except its syncs, which
 * mailbox/vfs.c hands to .fsync/.fdatasync.
 */
struct actr__sys {
	ssize_t (*read)(int fd, void *buf, size_t n);
	ssize_t (*write)(int fd, const void *buf, size_t n);
	ssize_t (*send)(int fd, const void *buf, size_t n, int flags);
	ssize_t (*recv)(int fd, void *buf, size_t n, int flags);
	ssize_t (*sendto)(int fd, const void *buf, size_t n, int flags,
			  const struct sockaddr *addr, socklen_t alen);
	ssize_t (*recvfrom)(int fd, void *buf, size_t n, int flags,
			    struct sockaddr *addr, socklen_t *alen);
	ssize_t (*sendmsg)(int fd, const struct msghdr *mh, int flags);
	ssize_t (*recvmsg)(int fd, struct msghdr *mh, int flags);
	int (*sendmmsg)(int fd, struct mmsghdr *v, unsigned n, int flags);
	int (*recvmmsg)(int fd, struct mmsghdr *v, unsigned n, int flags,
			struct timespec *timeout);
	int (*socket)(int domain, int type, int proto);
	int (*connect)(int fd, const struct sockaddr *addr, socklen_t alen);
	int (*accept4)(int fd, struct sockaddr *addr, socklen_t *alen,
		       int flags);
	int (*setsockopt)(int fd, int level, int name, const void *v,
			  socklen_t len);
	int (*epoll_ctl)(int epfd, int op, int fd, struct epoll_event *ev);
	int (*epoll_wait)(int epfd, struct epoll_event *evs, int max,
			  int timeout_ms);
	int (*timerfd_settime)(int fd, int flags, const struct itimerspec *its,
			       struct itimerspec *old);
	int (*open)(const char *path, int flags, ...);
	int (*ftruncate)(int fd, off_t len);
	int (*posix_fallocate)(int fd, off_t off, off_t len); /* returns errno */
	void *(*mmap)(void *addr, size_t len, int prot, int flags, int fd,
		      off_t off);
	int (*fsync)(int fd);
	int (*fdatasync)(int fd);
	void *(*malloc)(size_t n);
	void *(*calloc)(size_t n, size_t size);
	void *(*realloc)(void *p, size_t n);
};

extern struct actr__sys actr__sys;

/** Reset actr__sys to the real syscalls. */
void actr__sys_reset(void);

/** malloc through the seam (so allocation failure can be simulated). */
static inline void *actr__malloc(size_t n)
{
	return actr__sys.malloc(n);
}

/** calloc through the seam. */
static inline void *actr__calloc(size_t n, size_t size)
{
	return actr__sys.calloc(n, size);
}

/** realloc through the seam (on failure p is untouched, as realloc). */
static inline void *actr__realloc(void *p, size_t n)
{
	return actr__sys.realloc(p, n);
}

/** Between iterations (host code): make the reactor's fd readable so a
 * host loop blocked on it runs the work just queued. No-op inside an
 * iteration (the dispatcher's hooks see it there). */
void actr__reactor_kick(actr_reactor_t *r);

/* Failures the reactor survived (counted, also logged). */
struct actr__reactor_faults {
	uint64_t timerfd_errors;	/* timerfd_settime failed: the wait was
					 * bounded by the deadline instead */
	uint64_t wake_errors;		/* a post's eventfd write failed */
};

/* What the structured log formats add to a line logged while a message
 * is handled on this thread: the runtime points actr__log_msg at the
 * message around a handler (one store) and installs actr__log_fields_of,
 * which fills the fields only when a structured line is written. */
struct actr__log_fields {
	const char *route;		/* route key, or NULL */
	const char *request_id;		/* remote request id, or NULL */
	const char *peer;		/* caller's ActrId, or NULL */
	const char *trace_id;		/* W3C trace id (hex), or NULL */
};
extern __thread const void *actr__log_msg
	__attribute__((tls_model("initial-exec")));
/* buf[0..cap) is storage for the strings it points f at. */
extern void (*actr__log_fields_of)(const void *msg,
				   struct actr__log_fields *f, char *buf,
				   size_t cap);

/** Read r's fault counters. Reactor thread. */
void actr__reactor_faults(const actr_reactor_t *r,
			  struct actr__reactor_faults *f);

/** Handles attached to r now, by kind (for /metrics). */
void actr__reactor_handles(const actr_reactor_t *r, unsigned *nio,
			   unsigned *ntimers, unsigned *nhooks);

/** Value of one hex digit (either case), or -1. */
static inline int actr__hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/** Set O_NONBLOCK and FD_CLOEXEC on fd. 0 or -errno. */
int actr__fd_nonblock(int fd);

/** Copy the caller's option struct src (first member uint32_t
 * struct_size) into dst of this library's size: a smaller (older) struct
 * is zero-extended, a larger (newer) one must have only zeros past size.
 * dst->struct_size becomes size. 0, or -ENOTSUP (a field this library
 * does not know is set), -EINVAL (struct_size smaller than the field). */
int actr__opts_copy(void *dst, size_t size, const void *src);

#endif
