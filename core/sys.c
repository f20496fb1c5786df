/* The fault-injection seam: real syscalls by default. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "internal.h"

#define REAL_SYS                                 \
	{                                        \
		.read = read,                    \
		.write = write,                  \
		.send = send,                    \
		.recv = recv,                    \
		.sendto = sendto,                \
		.recvfrom = recvfrom,            \
		.sendmsg = sendmsg,              \
		.recvmsg = recvmsg,              \
		.sendmmsg = sendmmsg,            \
		.recvmmsg = recvmmsg,            \
		.socket = socket,                \
		.connect = connect,              \
		.accept4 = accept4,              \
		.setsockopt = setsockopt,        \
		.epoll_ctl = epoll_ctl,          \
		.epoll_wait = epoll_wait,        \
		.timerfd_settime = timerfd_settime, \
		.open = open,                    \
		.ftruncate = ftruncate,          \
		.posix_fallocate = posix_fallocate, \
		.mmap = mmap,                    \
		.fsync = fsync,                  \
		.fdatasync = fdatasync,          \
		.malloc = malloc,                \
		.calloc = calloc,                \
		.realloc = realloc,              \
	}

static const struct actr__sys real_sys = REAL_SYS;

struct actr__sys actr__sys = REAL_SYS;

void actr__sys_reset(void)
{
	actr__sys = real_sys;
}

int actr__fd_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	fl = fcntl(fd, F_GETFD);
	if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}
