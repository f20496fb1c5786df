/* The fault-injection seam: real syscalls by default. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

static const struct actr__sys real_sys = {
	.read = read,
	.write = write,
	.send = send,
	.recv = recv,
	.sendto = sendto,
	.recvfrom = recvfrom,
	.fsync = fsync,
	.malloc = malloc,
};

struct actr__sys actr__sys = {
	.read = read,
	.write = write,
	.send = send,
	.recv = recv,
	.sendto = sendto,
	.recvfrom = recvfrom,
	.fsync = fsync,
	.malloc = malloc,
};

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
