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
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailbox/internal.h"

static int lease_map(actr_mailbox_t *mb, uint32_t nslots)
{
	size_t len = (LEASE_HDR + (size_t)nslots) * sizeof(uint64_t);
	uint64_t *m;

	if (ftruncate(mb->lease_fd, (off_t)len) < 0)
		return -errno;
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mb->lease_fd,
		 0);
	if (m == MAP_FAILED)
		return -errno;
	if (mb->lease) /* the same file: the slots are already there */
		munmap(mb->lease,
		       (LEASE_HDR + (size_t)mb->nslots) * sizeof(uint64_t));
	mb->lease = m;
	m[0] = LEASE_MAGIC;
	m[1] = nslots;
	return 0;
}

/* Make room for n more slots. */
int actr__mb_lease_reserve(actr_mailbox_t *mb, uint32_t n)
{
	uint32_t old = mb->nslots, cap;
	uint32_t *fs;
	int rc;

	if (mb->nfree >= n)
		return 0;
	cap = old ? old * 2 : 256;
	while (cap - old + mb->nfree < n)
		cap *= 2;
	fs = realloc(mb->free_slots, cap * sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	mb->free_slots = fs;
	rc = lease_map(mb, cap);
	if (rc < 0) {
		actr_logw(MB_LOG, "%s-inflight: cannot grow: %s", mb->path,
			  strerror(-rc));
		return rc;
	}
	for (uint32_t i = cap; i > old; i--)
		mb->free_slots[mb->nfree++] = i - 1;
	mb->nslots = cap;
	return 0;
}

/* Ids in flight when the last process died, sorted; *ids malloc'd. */
int actr__mb_lease_read(actr_mailbox_t *mb, uint64_t **ids, size_t *n)
{
	struct stat sb;
	uint64_t *m, cnt, *v;
	size_t len, k = 0;

	*ids = NULL;
	*n = 0;
	if (fstat(mb->lease_fd, &sb) < 0 ||
	    sb.st_size < (off_t)(LEASE_HDR * sizeof(uint64_t)))
		return 0;
	len = (size_t)sb.st_size;
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, mb->lease_fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	cnt = m[1];
	if (m[0] != LEASE_MAGIC ||
	    cnt > (len / sizeof(uint64_t)) - LEASE_HDR) {
		actr_logw(MB_LOG, "%s-inflight: unreadable, ignored", mb->path);
		munmap(m, len);
		return 0;
	}
	v = malloc((cnt + 1) * sizeof(*v));
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

void actr__mb_lease_clear(actr_mailbox_t *mb)
{
	if (mb->lease)
		memset(mb->lease + LEASE_HDR, 0, mb->nslots * sizeof(uint64_t));
}

void actr__mb_lease_unmap(actr_mailbox_t *mb)
{
	if (mb->lease)
		munmap(mb->lease,
		       (LEASE_HDR + (size_t)mb->nslots) * sizeof(uint64_t));
	mb->lease = NULL;
	free(mb->free_slots);
	mb->free_slots = NULL;
}
