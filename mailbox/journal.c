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


static struct jhdr *hdr(const struct mb_journal *jn)
{
	return (struct jhdr *)jn->map;
}

static struct jrec *rec_at(const struct mb_journal *jn, uint64_t pos)
{
	return (struct jrec *)(jn->map + JNL_HDR + pos % jn->size);
}

static uint64_t rec_sum(const struct jrec *j, size_t body)
{
	return actr__mb_jrec_sum(j, body);
}

int actr__mb_jnl_open(struct mb_journal *jn, const char *file)
{
	jn->fd = actr__sys.open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (jn->fd < 0) {
		int rc = -errno;

		actr_loge(MB_LOG, "%s: %s", file, strerror(-rc));
		return rc;
	}
	return 0;
}

/* Messages of live records, oldest first, appended to out (not queued,
 * not pending). A missing, empty or foreign file holds none. */
int actr__mb_jnl_scan(struct mb_journal *jn, struct mb_pvec *out,
		      uint64_t *torn)
{
	struct stat sb;
	const struct jhdr *h;
	uint8_t *map;
	uint64_t size, pos, seq = 0, steps = 0;
	size_t len;
	int rc = 0;

	*torn = 0;
	if (fstat(jn->fd, &sb) < 0)
		return -errno;
	if (sb.st_size < JNL_HDR + (off_t)JNL_MIN)
		return 0;
	len = (size_t)sb.st_size;
	map = actr__sys.mmap(NULL, len, PROT_READ, MAP_SHARED, jn->fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	h = (const struct jhdr *)map;
	size = h->size;
	if (h->magic != JNL_MAGIC || size % 8 || size > len - JNL_HDR ||
	    size < JNL_MIN || h->tail % 8) {
		actr_logw(MB_LOG, "%s-jnl: unreadable header, ignored",
			  jn->path);
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
int actr__mb_jnl_reset(struct mb_journal *jn, uint32_t size)
{
	size_t len;
	int rc;

	size = ACTR_MAX(size, JNL_MIN) & ~7u;
	len = JNL_HDR + (size_t)size;
	if (jn->map) {
		munmap(jn->map, JNL_HDR + jn->size);
		jn->map = NULL;
	}
	/* zero it: nothing of the old ring may look like a record */
	if (actr__sys.ftruncate(jn->fd, 0) < 0 ||
	    actr__sys.ftruncate(jn->fd, (off_t)len) < 0)
		return -errno;
	/* blocks allocated now: a full disk must not turn into SIGBUS on a
	 * store into the mapping later */
	rc = actr__sys.posix_fallocate(jn->fd, 0, (off_t)len);
	if (rc)
		return -rc;
	jn->map = actr__sys.mmap(NULL, len, PROT_READ | PROT_WRITE,
				  MAP_SHARED, jn->fd, 0);
	if (jn->map == MAP_FAILED) {
		jn->map = NULL;
		return -errno;
	}
	/* touch every page now: a first write to each page of a shared
	 * mapping faults (~13 us each on this VM: 1 call in 24 paid it on
	 * the ring's first lap) */
	memset(jn->map + JNL_HDR, 0, size);
	jn->size = size;
	jn->head = jn->tail = 0;
	jn->seq = 1;
	hdr(jn)->size = size;
	hdr(jn)->tail = 0;
	hdr(jn)->version = 1;
	__atomic_store_n(&hdr(jn)->magic, JNL_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

void actr__mb_jnl_close(struct mb_journal *jn, bool remove_file)
{
	if (jn->map)
		munmap(jn->map, JNL_HDR + jn->size);
	jn->map = NULL;
	if (jn->fd >= 0) {
		if (remove_file && ftruncate(jn->fd, 0) < 0)
			actr_logw(MB_LOG, "%s-jnl: %s", jn->path,
				  strerror(errno));
		close(jn->fd);
	}
	jn->fd = -1;
}

/* Move the tail past records that are no longer live. */
static void advance_tail(struct mb_journal *jn)
{
	uint64_t t = jn->tail;

	while (t < jn->head) {
		const struct jrec *j = rec_at(jn, t);

		if (j->magic != JREC_WRAP && j->live)
			break;
		t += j->len;
	}
	if (t != jn->tail) {
		jn->tail = t;
		__atomic_store_n(&hdr(jn)->tail, t, __ATOMIC_RELEASE);
	}
}

bool actr__mb_jnl_put(struct mb_journal *jn, struct mb_msg *m)
{
	size_t body = m->pub.from_len + m->pub.payload->len;
	uint64_t need = (sizeof(struct jrec) + body + 7) & ~(uint64_t)7;
	uint64_t room = jn->size - jn->head % jn->size, fill = 0;
	struct jrec *j;

	if (room < need)
		fill = room;	/* a WRAP marker, then from the start */
	if (need + fill > jn->size - (jn->head - jn->tail)) {
		advance_tail(jn);
		if (need + fill > jn->size - (jn->head - jn->tail))
			return false;
	}
	if (fill) {
		j = rec_at(jn, jn->head);
		j->len = (uint32_t)fill;
		j->magic = JREC_WRAP;
		jn->head += fill;
	}
	j = rec_at(jn, jn->head);
	j->magic = JREC_MAGIC;
	j->len = (uint32_t)need;
	j->seq = jn->seq++;
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
	m->jpos = jn->head;
	m->journaled = true;
	jn->head += need;
	return true;
}

void actr__mb_jnl_done(struct mb_journal *jn, struct mb_msg *m)
{
	if (!m->journaled)
		return;
	m->journaled = false;
	__atomic_store_n(&rec_at(jn, m->jpos)->live, 0, __ATOMIC_RELAXED);
	if (m->jpos == jn->tail)
		advance_tail(jn);
}
