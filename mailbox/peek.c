/*
 * actr_mailbox_peek(): the waiting messages of a mailbox file, read by a
 * separate read-only SQLite connection (the `actr mailbox ls` command
 * next to a running node). It decodes the stored batches as
 * mailbox.c's recovery does, but queues nothing and writes nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "mailbox/internal.h"

/* Attempts recorded for id (actr_att), 0 when none. */
static uint32_t attempts_of(sqlite3_stmt *att, uint64_t id)
{
	uint32_t n = 0;

	sqlite3_bind_int64(att, 1, (int64_t)id);
	if (sqlite3_step(att) == SQLITE_ROW)
		n = (uint32_t)sqlite3_column_int64(att, 0);
	sqlite3_reset(att);
	return n;
}

/* Visit the unacknowledged messages of one batch. 1 = stopped by fn. */
static int peek_segment(const uint8_t *d, size_t len, const uint8_t *bits,
			size_t blen, sqlite3_stmt *att,
			actr_mailbox_peek_fn fn, void *arg, int *visited)
{
	size_t off = ACTR__MB_SEG_HDR;
	uint32_t count;

	if (len < ACTR__MB_SEG_HDR ||
	    actr__get_le32(d) != ACTR__MB_SEG_MAGIC ||
	    actr__get_le64(d + 8) != actr__mb_seg_sum(d + ACTR__MB_SEG_HDR,
						       len - ACTR__MB_SEG_HDR))
		return -ACTR_ECORRUPT;
	count = actr__get_le32(d + 4);
	if (count == 0 || count > len / ACTR__MB_MSG_HDR ||
	    (bits && blen < (count + 7) / 8))
		return -ACTR_ECORRUPT;
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *p = d + off;
		actr_mailbox_stored_t m;
		uint32_t flen, plen;

		if (len - off < ACTR__MB_MSG_HDR)
			return -ACTR_ECORRUPT;
		flen = actr__get_le32(p + 28);
		plen = actr__get_le32(p + 32);
		if (flen > ACTR__MB_MAX_FROM ||
		    flen > len - off - ACTR__MB_MSG_HDR ||
		    plen > len - off - ACTR__MB_MSG_HDR - flen || p[36] > 1)
			return -ACTR_ECORRUPT;
		off += ACTR__MB_MSG_HDR + flen + plen;
		if (bits && (bits[i / 8] & (1u << (i % 8))))
			continue;	/* acknowledged */
		m.id = actr__get_le64(p);
		m.enqueued_ms = actr__get_le64(p + 8);
		m.redrives = actr__get_le32(p + 24);
		m.priority = p[36];
		m.from = p + ACTR__MB_MSG_HDR;
		m.from_len = flen;
		m.data = p + ACTR__MB_MSG_HDR + flen;
		m.len = plen;
		m.attempts = attempts_of(att, m.id);
		(*visited)++;
		if (fn(&m, arg))
			return 1;
	}
	return 0;
}

int actr_mailbox_peek(const char *path, actr_mailbox_peek_fn fn, void *arg)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *seg = NULL, *att = NULL;
	int rc, visited = 0;

	if (!path || !fn)
		return -EINVAL;
	if (access(path, R_OK) < 0)
		return errno == ENOENT ? -ACTR_ENOTFOUND : -errno;
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		rc = actr__sqlite_err(rc);
		goto out;
	}
	sqlite3_busy_timeout(db, 1000);
	/* one read transaction: the batches and their acks agree */
	rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT s.data, a.bits FROM "
					"actr_seg s LEFT JOIN actr_ack a ON "
					"a.seg = s.seg ORDER BY s.seg", -1,
					&seg, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT attempts FROM actr_att "
					"WHERE id = ?1", -1, &att, NULL);
	if (rc != SQLITE_OK) {
		/* no such table: not a mailbox */
		rc = rc == SQLITE_ERROR ? -ACTR_ECORRUPT
					: actr__sqlite_err(rc);
		goto out;
	}
	while ((rc = sqlite3_step(seg)) == SQLITE_ROW) {
		const uint8_t *d = sqlite3_column_blob(seg, 0);
		size_t len = (size_t)sqlite3_column_bytes(seg, 0);
		const uint8_t *bits = NULL;
		size_t blen = 0;

		if (sqlite3_column_type(seg, 1) != SQLITE_NULL) {
			bits = sqlite3_column_blob(seg, 1);
			blen = (size_t)sqlite3_column_bytes(seg, 1);
			if (!bits)
				bits = (const uint8_t *)"";
		}
		rc = peek_segment(d ? d : (const uint8_t *)"", len, bits,
				  blen, att, fn, arg, &visited);
		if (rc < 0)
			goto out;
		if (rc == 1) {		/* fn stopped the walk */
			rc = SQLITE_DONE;
			break;
		}
	}
	rc = rc == SQLITE_DONE ? 0 : actr__sqlite_err(rc);
out:
	sqlite3_finalize(seg);
	sqlite3_finalize(att);
	sqlite3_close(db);
	return rc < 0 ? rc : visited;
}
