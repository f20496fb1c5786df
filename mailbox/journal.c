/*
 * The crash journal <path>-jnl: in deliver_uncommitted mode a message
 * is handed to the dispatcher before the commit that stores it, so its
 * bytes are first copied into a ring in a shared file mapping. Stores to a
 * shared mapping live in the page cache, so they survive the process being
 * killed (not a power loss) at the cost of one memcpy, no syscall. A record
 * stays live until its message is committed to SQLite or acknowledged;
 * at open, live records are messages that died with the process before
 * either: they are queued again (and committed by the open).
 *
 * Layout: a 64-byte header (magic, ring size, logical tail) and the ring.
 * Records are 8-byte aligned and never straddle the end (a WRAP marker
 * fills the rest). Positions are logical (ever growing); the ring offset is
 * position % size. Records carry consecutive sequence numbers and a
 * checksum, so a scan from the tail stops at the first torn, stale or
 * foreign record. The tail only moves past records that are no longer
 * live, so nothing behind it or beyond the head can be live.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailbox/internal.h"


static struct jhdr *hdr(const actr_mailbox_t *mb)
{
	return (struct jhdr *)mb->jmap;
}

static struct jrec *rec_at(const actr_mailbox_t *mb, uint64_t pos)
{
	return (struct jrec *)(mb->jmap + JNL_HDR + pos % mb->jsize);
}

static uint64_t rec_sum(const struct jrec *j, size_t body)
{
	return actr__mb_jrec_sum(j, body);
}

int actr__mb_jnl_open(actr_mailbox_t *mb, const char *path)
{
	mb->jfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (mb->jfd < 0) {
		actr_loge(MB_LOG, "%s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

/* Messages of live records, oldest first, appended to out (not queued,
 * not pending). A missing, empty or foreign file holds none. */
int actr__mb_jnl_scan(actr_mailbox_t *mb, struct mb_pvec *out,
		      uint64_t *torn)
{
	struct stat sb;
	const struct jhdr *h;
	uint8_t *map;
	uint64_t size, pos, seq = 0, steps = 0;
	size_t len;
	int rc = 0;

	*torn = 0;
	if (fstat(mb->jfd, &sb) < 0)
		return -errno;
	if (sb.st_size < JNL_HDR + (off_t)JNL_MIN)
		return 0;
	len = (size_t)sb.st_size;
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, mb->jfd, 0);
	if (map == MAP_FAILED)
		return -errno;
	h = (const struct jhdr *)map;
	size = h->size;
	if (h->magic != JNL_MAGIC || size % 8 || size > len - JNL_HDR ||
	    size < JNL_MIN || h->tail % 8) {
		actr_logw(MB_LOG, "%s-jnl: unreadable header, ignored",
			  mb->path);
		goto out;
	}
	pos = h->tail;
	/* at most one pass over the ring */
	while (steps < size) {
		const struct jrec *j =
			(const struct jrec *)(map + JNL_HDR + pos % size);
		size_t room = size - pos % size, body;
		struct mb_msg *m;
		actr_buf_t *b;

		if (room < sizeof(*j)) {
			if (room >= 8 && j->magic == JREC_WRAP &&
			    j->len == room) {
				pos += room;
				steps += room;
				continue;
			}
			break;
		}
		if (j->magic == JREC_WRAP && j->len == room) {
			pos += room;
			steps += room;
			continue;
		}
		if (j->magic != JREC_MAGIC || j->len % 8 || j->len > room ||
		    j->len < sizeof(*j) || (seq && j->seq != seq + 1))
			break;
		body = j->len - sizeof(*j);
		if (j->from_len > body || j->payload_len > body - j->from_len ||
		    j->prio > 1 || rec_sum(j, j->from_len + j->payload_len) !=
					   j->sum) {
			(*torn)++;	/* the process died writing it */
			break;
		}
		seq = j->seq;
		pos += j->len;
		steps += j->len;
		if (!j->live)
			continue;
		b = actr_buf_copy(j->data + j->from_len, j->payload_len);
		m = b ? actr__mb_msg_new(j->prio, j->data, j->from_len, b) :
			NULL;
		if (!m || actr__mb_pvec_push(out, m) < 0) {
			if (m)
				actr__mb_msg_free(m);
			else
				actr_buf_unref(b);
			rc = -ENOMEM;
			break;
		}
		m->pub.id = j->id;
		m->pub.enqueued_ms = j->enqueued_ms;
		m->pub.last_redrive_ms = j->last_redrive_ms;
		m->pub.redrives = j->redrives;
	}
out:
	munmap(map, len);
	return rc;
}

/* Start an empty journal of size ring bytes (after recovery committed). */
int actr__mb_jnl_reset(actr_mailbox_t *mb, uint32_t size)
{
	size_t len;
	int rc;

	size = ACTR_MAX(size, JNL_MIN) & ~7u;
	len = JNL_HDR + (size_t)size;
	if (mb->jmap) {
		munmap(mb->jmap, JNL_HDR + mb->jsize);
		mb->jmap = NULL;
	}
	/* zero it: nothing of the old ring may look like a record */
	if (ftruncate(mb->jfd, 0) < 0 || ftruncate(mb->jfd, (off_t)len) < 0)
		return -errno;
	/* blocks allocated now: a full disk must not turn into SIGBUS on a
	 * store into the mapping later */
	rc = posix_fallocate(mb->jfd, 0, (off_t)len);
	if (rc)
		return -rc;
	mb->jmap = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mb->jfd,
			0);
	if (mb->jmap == MAP_FAILED) {
		mb->jmap = NULL;
		return -errno;
	}
	/* touch every page now: a first write to each page of a shared
	 * mapping faults (~13 us each on this VM: 1 call in 24 paid it on
	 * the ring's first lap) */
	memset(mb->jmap + JNL_HDR, 0, size);
	mb->jsize = size;
	mb->jhead = mb->jtail = 0;
	mb->jseq = 1;
	hdr(mb)->size = size;
	hdr(mb)->tail = 0;
	hdr(mb)->version = 1;
	__atomic_store_n(&hdr(mb)->magic, JNL_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

void actr__mb_jnl_close(actr_mailbox_t *mb, bool remove_file)
{
	if (mb->jmap)
		munmap(mb->jmap, JNL_HDR + mb->jsize);
	mb->jmap = NULL;
	if (mb->jfd >= 0) {
		if (remove_file && ftruncate(mb->jfd, 0) < 0)
			actr_logw(MB_LOG, "%s-jnl: %s", mb->path,
				  strerror(errno));
		close(mb->jfd);
	}
	mb->jfd = -1;
}

/* Move the tail past records that are no longer live. */
static void advance_tail(actr_mailbox_t *mb)
{
	uint64_t t = mb->jtail;

	while (t < mb->jhead) {
		const struct jrec *j = rec_at(mb, t);

		if (j->magic != JREC_WRAP && j->live)
			break;
		t += j->len;
	}
	if (t != mb->jtail) {
		mb->jtail = t;
		__atomic_store_n(&hdr(mb)->tail, t, __ATOMIC_RELEASE);
	}
}

bool actr__mb_jnl_put(actr_mailbox_t *mb, struct mb_msg *m)
{
	size_t body = m->pub.from_len + m->pub.payload->len;
	uint64_t need = (sizeof(struct jrec) + body + 7) & ~(uint64_t)7;
	uint64_t room = mb->jsize - mb->jhead % mb->jsize, fill = 0;
	struct jrec *j;

	if (room < need)
		fill = room;	/* a WRAP marker, then from the start */
	if (need + fill > mb->jsize - (mb->jhead - mb->jtail)) {
		advance_tail(mb);
		if (need + fill > mb->jsize - (mb->jhead - mb->jtail))
			return false;
	}
	if (fill) {
		j = rec_at(mb, mb->jhead);
		j->len = (uint32_t)fill;
		j->magic = JREC_WRAP;
		mb->jhead += fill;
	}
	j = rec_at(mb, mb->jhead);
	j->magic = JREC_MAGIC;
	j->len = (uint32_t)need;
	j->seq = mb->jseq++;
	j->live = 1;
	j->id = m->pub.id;
	j->enqueued_ms = m->pub.enqueued_ms;
	j->last_redrive_ms = m->pub.last_redrive_ms;
	j->redrives = m->pub.redrives;
	j->from_len = (uint32_t)m->pub.from_len;
	j->payload_len = (uint32_t)m->pub.payload->len;
	j->prio = m->pub.priority;
	memcpy(j->data, m->pub.from, m->pub.from_len);
	memcpy(j->data + m->pub.from_len, m->pub.payload->data,
	       m->pub.payload->len);
	j->sum = rec_sum(j, body);
	m->jpos = mb->jhead;
	m->journaled = true;
	mb->jhead += need;
	return true;
}

void actr__mb_jnl_done(actr_mailbox_t *mb, struct mb_msg *m)
{
	if (!m->journaled)
		return;
	m->journaled = false;
	__atomic_store_n(&rec_at(mb, m->jpos)->live, 0, __ATOMIC_RELAXED);
	if (m->jpos == mb->jtail)
		advance_tail(mb);
}
