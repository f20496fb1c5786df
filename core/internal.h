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
 * Fault-injection seam: the syscalls that can fail in ways tests need to
 * provoke go through this table. Tests replace entries and restore them;
 * production code never changes it.
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
	int (*fsync)(int fd);
	void *(*malloc)(size_t n);
};

extern struct actr__sys actr__sys;

/** Reset actr__sys to the real syscalls. */
void actr__sys_reset(void);

/** malloc through the seam (so allocation failure can be simulated). */
static inline void *actr__malloc(size_t n)
{
	return actr__sys.malloc(n);
}

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
