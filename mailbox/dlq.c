/*
 * The dead-letter queue: one row per dead message in actr_dlq, written in
 * the mailbox's group commit; queried, redriven and deleted by filter.
 * These are administrative calls: each first commits the open batch, so it
 * works on the durable state.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mailbox/internal.h"

#define DLQ_WHERE                                                        \
	" WHERE (?1 = 0 OR id = ?1) AND (?2 IS NULL OR category = ?2)"   \
	" AND (?3 IS NULL OR sender = ?3) AND created_ms >= ?4"          \
	" AND (?5 = 0 OR created_ms < ?5) AND id > ?6"

#define DLQ_COLS                                                         \
	"id, msg_id, priority, sender, payload, category, reason,"       \
	" created_ms, attempts, redrives, last_redrive_ms"

static int prepare_filtered(actr_mailbox_t *mb, const char *sql,
			    const actr_dlq_filter_t *f, sqlite3_stmt **out)
{
	static const actr_dlq_filter_t all = { 0 };
	sqlite3_stmt *st;
	int rc;

	if (!f)
		f = &all;
	rc = sqlite3_prepare_v2(mb->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		actr_loge(MB_LOG, "dlq: %s", sqlite3_errmsg(mb->db));
		return actr__sqlite_err(rc);
	}
	sqlite3_bind_int64(st, 1, (int64_t)f->id);
	if (f->category)
		sqlite3_bind_text(st, 2, f->category, -1, SQLITE_STATIC);
	if (f->from)
		sqlite3_bind_blob(st, 3, f->from, (int)f->from_len,
				  SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)f->since_ms);
	sqlite3_bind_int64(st, 5, (int64_t)f->until_ms);
	sqlite3_bind_int64(st, 6, (int64_t)f->after_id);
	if (sqlite3_bind_parameter_count(st) >= 7)
		sqlite3_bind_int64(st, 7, f->limit ? f->limit : 1000);
	*out = st;
	return 0;
}

static void *dup_col(sqlite3_stmt *st, int col, size_t *len, bool text)
{
	const void *p = text ? (const void *)sqlite3_column_text(st, col) :
			       sqlite3_column_blob(st, col);
	size_t n = (size_t)sqlite3_column_bytes(st, col);
	uint8_t *d = actr__malloc(n + 1);

	if (!d)
		return NULL;
	if (n)
		memcpy(d, p, n);
	d[n] = 0;
	if (len)
		*len = n;
	return d;
}

void actr_dlq_entries_free(actr_dlq_entry_t *e, size_t n)
{
	if (!e)
		return;
	for (size_t i = 0; i < n; i++) {
		free(e[i].from);
		free(e[i].payload);
		free(e[i].category);
		free(e[i].reason);
	}
	free(e);
}

int actr_dlq_query(actr_mailbox_t *mb, const actr_dlq_filter_t *f,
		   actr_dlq_entry_t **out, size_t *n)
{
	actr_dlq_entry_t *v = NULL;
	size_t cnt = 0, cap = 0;
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	*n = 0;
	rc = actr_mailbox_commit(mb);
	if (rc == 0)
		rc = prepare_filtered(mb,
				      "SELECT " DLQ_COLS " FROM actr_dlq"
				      DLQ_WHERE " ORDER BY id LIMIT ?7",
				      f, &st);
	if (rc < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		actr_dlq_entry_t *e;

		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			actr_dlq_entry_t *nv = actr__realloc(v, ncap * sizeof(*nv));

			if (!nv)
				goto out_nomem;
			v = nv;
			cap = ncap;
		}
		e = &v[cnt++];
		memset(e, 0, sizeof(*e));
		e->id = (uint64_t)sqlite3_column_int64(st, 0);
		e->msg_id = (uint64_t)sqlite3_column_int64(st, 1);
		e->priority = sqlite3_column_int(st, 2);
		e->from = dup_col(st, 3, &e->from_len, false);
		e->payload = dup_col(st, 4, &e->payload_len, false);
		e->category = dup_col(st, 5, NULL, true);
		e->reason = dup_col(st, 6, NULL, true);
		e->created_ms = (uint64_t)sqlite3_column_int64(st, 7);
		e->attempts = (uint32_t)sqlite3_column_int64(st, 8);
		e->redrives = (uint32_t)sqlite3_column_int64(st, 9);
		e->last_redrive_ms = (uint64_t)sqlite3_column_int64(st, 10);
		if (!e->from || !e->payload || !e->category || !e->reason)
			goto out_nomem;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		actr_dlq_entries_free(v, cnt);
		return actr__sqlite_err(rc);
	}
	*out = v;
	*n = cnt;
	return 0;

out_nomem:
	sqlite3_finalize(st);
	actr_dlq_entries_free(v, cnt);
	return -ENOMEM;
}

static void q_unlink(struct mb_queue *q, struct mb_msg *m)
{
	actr__list_remove(&m->qlink);
	q->n--;
}

/* A redrive whose commit failed: forget the messages it added. */
static void undo_redrive(actr_mailbox_t *mb)
{
	for (size_t i = 0; i < mb->newmsgs.n; i++) {
		struct mb_msg *m = mb->newmsgs.v[i];

		if (m->state == MB_QUEUED)
			q_unlink(&mb->q[m->pub.priority], m);
		else if (m->state == MB_HELD)
			mb->nheld--;
		actr_buf_unref(m->pub.payload);
		free(m);
	}
	mb->st.enqueued -= mb->newmsgs.n;
	mb->newmsgs.n = 0;
	mb->dlq_del.n = 0;
}

int actr_dlq_redrive(actr_mailbox_t *mb, const actr_dlq_filter_t *f)
{
	uint64_t now = actr_wall_ms();
	sqlite3_stmt *st;
	int rc, n = 0;

	rc = actr_mailbox_commit(mb);
	if (rc == 0)
		rc = prepare_filtered(mb,
				      "SELECT id, sender, payload, redrives "
				      "FROM actr_dlq" DLQ_WHERE
				      " ORDER BY id LIMIT ?7",
				      f, &st);
	if (rc < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int e = actr__mb_enqueue_redrive(
			mb, sqlite3_column_blob(st, 1),
			(size_t)sqlite3_column_bytes(st, 1),
			sqlite3_column_blob(st, 2),
			(size_t)sqlite3_column_bytes(st, 2),
			(uint32_t)sqlite3_column_int64(st, 3) + 1, now,
			(uint64_t)sqlite3_column_int64(st, 0));

		if (e < 0) {
			rc = e;
			break;
		}
		n++;
	}
	sqlite3_finalize(st);
	rc = rc == SQLITE_DONE ? 0 : rc < 0 ? rc : actr__sqlite_err(rc);
	if (rc == 0)
		rc = actr_mailbox_commit(mb);
	if (rc < 0) {
		undo_redrive(mb);
		return rc;
	}
	if (n)
		actr_logi(MB_LOG, "%d dead letters redriven", n);
	return n;
}

int actr_dlq_delete(actr_mailbox_t *mb, const actr_dlq_filter_t *f)
{
	sqlite3_stmt *st;
	int rc, n;

	rc = actr_mailbox_commit(mb);
	if (rc == 0)
		rc = prepare_filtered(mb,
				      "DELETE FROM actr_dlq WHERE id IN "
				      "(SELECT id FROM actr_dlq" DLQ_WHERE
				      " ORDER BY id LIMIT ?7)",
				      f, &st);
	if (rc < 0)
		return rc;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		rc = actr__sqlite_err(rc);
		actr_loge(MB_LOG, "dlq delete failed: %s", actr_strerror(rc));
		return rc;
	}
	n = sqlite3_changes(mb->db);
	mb->st.dlq_size -= ACTR_MIN((uint64_t)n, mb->st.dlq_size);
	return n;
}

int actr_dlq_stats(actr_mailbox_t *mb, const actr_dlq_filter_t *f,
		   actr_dlq_stats_t *out)
{
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = actr_mailbox_commit(mb);
	if (rc == 0)
		rc = prepare_filtered(mb,
				      "SELECT count(*), min(created_ms), "
				      "max(created_ms), "
				      "coalesce(sum(redrives > 0), 0) "
				      "FROM actr_dlq" DLQ_WHERE,
				      f, &st);
	if (rc < 0)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->count = (uint64_t)sqlite3_column_int64(st, 0);
		out->oldest_ms = (uint64_t)sqlite3_column_int64(st, 1);
		out->newest_ms = (uint64_t)sqlite3_column_int64(st, 2);
		out->redriven = (uint64_t)sqlite3_column_int64(st, 3);
		rc = 0;
	} else {
		rc = actr__sqlite_err(rc);
	}
	sqlite3_finalize(st);
	return rc;
}

int actr_dlq_add(actr_mailbox_t *mb, const void *from, size_t from_len,
		 const void *payload, size_t payload_len, const char *category,
		 const char *reason)
{
	struct mb_dlq_pending *p;

	if ((!from && from_len) || (!payload && payload_len))
		return -EINVAL;
	if (payload_len > mb->o.max_payload)
		return -ACTR_ETOOBIG;
	p = actr__calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->from = actr__malloc(from_len + 1);
	p->payload = actr_buf_copy(payload ? payload : "", payload_len);
	p->category = strdup(category ? category : "unknown");
	p->reason = strdup(reason ? reason : "");
	if (!p->from || !p->payload || !p->category || !p->reason) {
		actr_buf_unref(p->payload);
		free(p->from);
		free(p->category);
		free(p->reason);
		free(p);
		return -ENOMEM;
	}
	if (from_len)
		memcpy(p->from, from, from_len);
	p->from_len = from_len;
	p->priority = ACTR_PRIO_NORMAL;
	p->created_ms = actr_wall_ms();
	actr__mb_dlq_push(mb, p);
	mb->st.dead_lettered++;
	actr_logw(MB_LOG, "bytes from the transport to the dead-letter "
			  "queue: %s: %s",
		  p->category, p->reason);
	return 0;
}
