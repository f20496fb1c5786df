/*
 * The in-flight side file <path>-inflight: slot i of a shared mapping holds
 * the id of a message in flight (0 = free). Stores to a shared file mapping
 * live in the page cache, so they survive the process being killed, at the
 * cost of one memory store per dequeue and per ack (no syscall, no fsync: a
 * power loss is not a poison message). At open, the ids found there were
 * being handled when the last process died.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailbox/internal.h"

int actr__mb_lease_open(struct mb_lease *l, const char *file)
{
	l->fd = actr__sys.open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (l->fd < 0) {
		int rc = -errno;

		actr_loge(MB_LOG, "%s: %s", file, strerror(-rc));
		return rc;
	}
	if (flock(l->fd, LOCK_EX | LOCK_NB) < 0) {
		int rc = errno == EWOULDBLOCK ? -EBUSY : -errno;

		actr_loge(MB_LOG, "%s: in use by another process", l->path);
		return rc;
	}
	return 0;
}

void actr__mb_lease_close(struct mb_lease *l)
{
	actr__mb_lease_unmap(l);
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

static int lease_map(struct mb_lease *l, uint32_t nslots)
{
	size_t len = (LEASE_HDR + (size_t)nslots) * sizeof(uint64_t);
	uint64_t *m;

	if (actr__sys.ftruncate(l->fd, (off_t)len) < 0)
		return -errno;
	m = actr__sys.mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
			   l->fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	if (l->map) /* the same file: the slots are already there */
		munmap(l->map,
		       (LEASE_HDR + (size_t)l->nslots) * sizeof(uint64_t));
	l->map = m;
	m[0] = LEASE_MAGIC;
	m[1] = nslots;
	return 0;
}

/* Make room for n more slots. */
int actr__mb_lease_reserve(struct mb_lease *l, uint32_t n)
{
	uint32_t old = l->nslots, cap;
	uint32_t *fs;
	int rc;

	if (l->nfree >= n)
		return 0;
	cap = old ? old * 2 : 256;
	while (cap - old + l->nfree < n)
		cap *= 2;
	fs = actr__realloc(l->free_slots, cap * sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	l->free_slots = fs;
	rc = lease_map(l, cap);
	if (rc < 0) {
		actr_logw(MB_LOG, "%s-inflight: cannot grow: %s", l->path,
			  strerror(-rc));
		return rc;
	}
	for (uint32_t i = cap; i > old; i--)
		l->free_slots[l->nfree++] = i - 1;
	l->nslots = cap;
	return 0;
}

/* Ids in flight when the last process died, sorted; *ids malloc'd. */
int actr__mb_lease_read(struct mb_lease *l, uint64_t **ids, size_t *n)
{
	struct stat sb;
	uint64_t *m, cnt, *v;
	size_t len, k = 0;

	*ids = NULL;
	*n = 0;
	if (fstat(l->fd, &sb) < 0 ||
	    sb.st_size < (off_t)(LEASE_HDR * sizeof(uint64_t)))
		return 0;
	len = (size_t)sb.st_size;
	m = actr__sys.mmap(NULL, len, PROT_READ, MAP_SHARED, l->fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	cnt = m[1];
	if (m[0] != LEASE_MAGIC ||
	    cnt > (len / sizeof(uint64_t)) - LEASE_HDR) {
		actr_logw(MB_LOG, "%s-inflight: unreadable, ignored", l->path);
		munmap(m, len);
		return 0;
	}
	v = actr__malloc((cnt + 1) * sizeof(*v));
	if (!v) {
		munmap(m, len);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < cnt; i++)
		if (m[LEASE_HDR + i])
			v[k++] = m[LEASE_HDR + i];
	munmap(m, len);
	*ids = v;
	*n = k;
	return 0;
}

void actr__mb_lease_clear(struct mb_lease *l)
{
	if (l->map)
		memset(l->map + LEASE_HDR, 0, l->nslots * sizeof(uint64_t));
}

void actr__mb_lease_unmap(struct mb_lease *l)
{
	if (l->map)
		munmap(l->map,
		       (LEASE_HDR + (size_t)l->nslots) * sizeof(uint64_t));
	l->map = NULL;
	free(l->free_slots);
	l->free_slots = NULL;
}
