/*
 * The durable mailbox: in-memory priority queues over a SQLite WAL log,
 * group commit, crash recovery. See include/actr/mailbox.h for the contract.
 *
 * Storage layout (fewer, larger rows):
 *   actr_seg(seg, data)  one row per committed batch of new messages; data
 *                        is the batch encoded back to back (seg = first id)
 *   actr_ack(seg, bits)  for a partly acknowledged batch: bitmap of acked
 *                        positions; the seg row and this row are deleted
 *                        with the batch's last acknowledgement
 *   actr_att(id, n)      attempts of messages that failed or were in
 *                        flight at a crash (rare)
 *   actr_dlq(...)        dead letters, one row each
 *   actr_meta            magic, version, next_id (ids are never reused)
 * plus the in-flight side file (inflight.c) for crash-loop detection.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "mailbox/internal.h"

#define SEG_MAGIC ACTR__MB_SEG_MAGIC
#define SEG_HDR ACTR__MB_SEG_HDR	/* magic, count, checksum of the rest */
#define MSG_HDR ACTR__MB_MSG_HDR
#define MAX_FROM ACTR__MB_MAX_FROM
#define ID_BLOCK 65536	/* ids reserved per actr_meta write */

/* The message state machine (MB_* in internal.h): new -> QUEUED or HELD;
 * HELD -> QUEUED (committed) or DEAD; QUEUED -> INFLIGHT or DEAD;
 * INFLIGHT -> QUEUED (released, retried) or DEAD; DEAD is final. Checked
 * in builds without NDEBUG. */
static inline void mb_set_state(struct mb_msg *m, uint8_t to)
{
	assert(m->state != MB_DEAD);
	assert(m->state != to);
	assert(to != MB_INFLIGHT || m->state == MB_QUEUED);
	assert(to != MB_HELD || m->state == 0);
	m->state = to;
}

static const char schema_sql[] =
	"CREATE TABLE actr_seg(seg INTEGER PRIMARY KEY, data BLOB NOT NULL);"
	"CREATE TABLE actr_ack(seg INTEGER PRIMARY KEY, bits BLOB NOT NULL);"
	"CREATE TABLE actr_att(id INTEGER PRIMARY KEY,"
	" attempts INTEGER NOT NULL);"
	"CREATE TABLE actr_dlq(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" msg_id INTEGER NOT NULL, priority INTEGER NOT NULL,"
	" sender BLOB NOT NULL, payload BLOB NOT NULL,"
	" category TEXT NOT NULL, reason TEXT NOT NULL,"
	" created_ms INTEGER NOT NULL, attempts INTEGER NOT NULL,"
	" redrives INTEGER NOT NULL, last_redrive_ms INTEGER NOT NULL);"
	"CREATE INDEX actr_dlq_created ON actr_dlq(created_ms);";

/* ---- vectors ------------------------------------------------------------ */

static int vec_push(struct mb_vec *v, uint64_t x)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		uint64_t *nv = actr__realloc(v->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		v->v = nv;
		v->cap = cap;
	}
	v->v[v->n++] = x;
	return 0;
}

int actr__mb_pvec_push(struct mb_pvec *v, struct mb_msg *m)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		struct mb_msg **nv = actr__realloc(v->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		v->v = nv;
		v->cap = cap;
	}
	v->v[v->n++] = m;
	return 0;
}

/* ---- messages and queues ------------------------------------------------ */

struct mb_msg *actr__mb_msg_new(int prio, const void *from, size_t from_len,
				actr_buf_t *payload)
{
	struct mb_msg *m = actr__malloc(sizeof(*m) + from_len);

	if (!m)
		return NULL;
	memset(m, 0, sizeof(*m));
	if (from_len)
		memcpy(m->from_buf, from, from_len);
	m->pub.from = m->from_buf;
	m->pub.from_len = from_len;
	m->pub.priority = (uint8_t)prio;
	m->pub.payload = payload;
	return m;
}

void actr__mb_msg_free(struct mb_msg *m)
{
	actr_buf_unref(m->pub.payload);
	free(m);
}

static void q_push_tail(struct mb_queue *q, struct mb_msg *m)
{
	actr__list_insert_tail(&q->msgs, &m->qlink);
	q->n++;
}

static struct mb_msg *q_first(const struct mb_queue *q)
{
	struct actr__list *l = actr__list_first(&q->msgs);

	return l ? actr__list_entry(l, struct mb_msg, qlink) : NULL;
}

/* Insert keeping id order, searching from the head (messages put back are
 * older than nearly everything queued). */
static void q_insert_from_head(struct mb_queue *q, struct mb_msg *m)
{
	struct actr__list *at;

	actr__list_foreach(at, &q->msgs)
		if (actr__list_entry(at, struct mb_msg, qlink)->pub.id >=
		    m->pub.id)
			break;
	actr__list_insert_before(at, &m->qlink); /* the head: at the tail */
	q->n++;
}

static struct mb_msg *q_pop(struct mb_queue *q)
{
	struct mb_msg *m = q_first(q);

	if (!m)
		return NULL;
	actr__list_remove(&m->qlink);
	q->n--;
	return m;
}

/* ---- in-flight table: core/map.h on id ---------------------------------- */

static struct mb_msg *if_get(const actr_mailbox_t *mb, uint64_t id)
{
	struct actr__map_node *n = actr__map_find_u64(&mb->inflight, id);

	return n ? actr__map_entry(n, struct mb_msg, ifnode) : NULL;
}

static void if_put(actr_mailbox_t *mb, struct mb_msg *m)
{
	actr__map_insert_u64(&mb->inflight, &m->ifnode, m->pub.id);
}

static void if_del(actr_mailbox_t *mb, struct mb_msg *m)
{
	actr__map_remove(&mb->inflight, &m->ifnode);
}

/* ---- batch bookkeeping -------------------------------------------------- */

static bool batch_dirty(const actr_mailbox_t *mb)
{
	return mb->newmsgs.n || mb->dirty_segs || mb->att_put.n ||
	       mb->att_del.n || mb->dlq_head || mb->dlq_del.n;
}

static uint64_t depth(const actr_mailbox_t *mb)
{
	return mb->q[0].n + mb->q[1].n + actr__map_size(&mb->inflight) + mb->nheld;
}

static void check_pressure(actr_mailbox_t *mb)
{
	uint64_t d;

	if (!mb->o.high_mark || !mb->o.on_pressure)
		return;
	d = depth(mb);
	if (!mb->pressure_on && d >= mb->o.high_mark) {
		mb->pressure_on = true;
		mb->o.on_pressure(mb, true, d, mb->o.pressure_arg);
	} else if (mb->pressure_on && d <= mb->o.low_mark) {
		mb->pressure_on = false;
		mb->o.on_pressure(mb, false, d, mb->o.pressure_arg);
	}
}

static void seg_mark_acked(actr_mailbox_t *mb, struct mb_msg *m)
{
	struct mb_seg *s = m->seg;

	s->acked[m->seg_index / 8] |= (uint8_t)(1u << (m->seg_index % 8));
	s->live--;
	mb->nacks_pending++;
	if (!s->dirty) {
		s->dirty = true;
		s->dirty_next = mb->dirty_segs;
		mb->dirty_segs = s;
	}
}

static void seg_unlink_free(actr_mailbox_t *mb, struct mb_seg *s)
{
	actr__list_remove(&s->all);
	free(s->acked);
	free(s);
}

static struct mb_seg *seg_new(actr_mailbox_t *mb, uint64_t id, uint32_t count)
{
	struct mb_seg *s = actr__calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->acked = actr__calloc((count + 7) / 8 + 1, 1);
	if (!s->acked) {
		free(s);
		return NULL;
	}
	s->seg = id;
	s->count = count;
	s->live = count;
	actr__list_insert_head(&mb->segs, &s->all);
	return s;
}

/* The message leaves the mailbox (acked or dead-lettered). It is in flight
 * or, during recovery, not on any list. */
static void msg_finish(actr_mailbox_t *mb, struct mb_msg *m)
{
	if (m->state == MB_INFLIGHT) {
		if_del(mb, m);
		actr__mb_lease_drop(&mb->lease, m);
	}
	if (m->stored_attempts && vec_push(&mb->att_del, m->pub.id) < 0)
		actr_logw(MB_LOG, "out of memory: attempt row of %llu kept",
			  (unsigned long long)m->pub.id);
	if (m->pending) {
		actr__mb_jnl_done(&mb->jnl, m);
		mb_set_state(m, MB_DEAD); /* never written; freed at commit */
		return;
	}
	seg_mark_acked(mb, m);
	actr__mb_msg_free(m);
}

static struct mb_dlq_pending *dlq_from_msg(struct mb_msg *m,
					   const char *category,
					   const char *reason)
{
	struct mb_dlq_pending *p = actr__calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->from = actr__malloc(m->pub.from_len + 1);
	p->category = strdup(category ? category : "unknown");
	p->reason = strdup(reason ? reason : "");
	if (!p->from || !p->category || !p->reason) {
		free(p->from);
		free(p->category);
		free(p->reason);
		free(p);
		return NULL;
	}
	memcpy(p->from, m->pub.from, m->pub.from_len);
	p->from_len = m->pub.from_len;
	p->msg_id = m->pub.id;
	p->priority = m->pub.priority;
	p->payload = actr_buf_ref(m->pub.payload);
	p->created_ms = actr_wall_ms();
	p->attempts = m->pub.attempts;
	p->redrives = m->pub.redrives;
	p->last_redrive_ms = m->pub.last_redrive_ms;
	return p;
}

void actr__mb_dlq_push(actr_mailbox_t *mb, struct mb_dlq_pending *p)
{
	p->next = NULL;
	if (mb->dlq_tail)
		mb->dlq_tail->next = p;
	else
		mb->dlq_head = p;
	mb->dlq_tail = p;
	mb->ndlq_pending++;
}

static void dlq_pending_free(struct mb_dlq_pending *p)
{
	actr_buf_unref(p->payload);
	free(p->from);
	free(p->category);
	free(p->reason);
	free(p);
}

/* ---- enqueue / dequeue / ack ------------------------------------------- */

static int enqueue_msg(actr_mailbox_t *mb, struct mb_msg *m)
{
	if (actr__mb_pvec_push(&mb->newmsgs, m) < 0)
		return -ENOMEM;
	m->pub.id = mb->next_id++;
	m->pending = true;
	/* Handed out before its commit only if it survives a process crash
	 * in the journal meanwhile (or the journal is off), and only while
	 * no earlier message of its priority waits for the commit (FIFO). */
	if (mb->o.deliver_uncommitted && !mb->hold[m->pub.priority] &&
	    (!mb->jnl.map || actr__mb_jnl_put(&mb->jnl, m))) {
		mb_set_state(m, MB_QUEUED);
		q_push_tail(&mb->q[m->pub.priority], m);
	} else {
		if (mb->o.deliver_uncommitted) {
			mb->hold[m->pub.priority] = true;
			mb->st.journal_full++;
		}
		mb_set_state(m, MB_HELD);
		mb->nheld++;
	}
	mb->st.enqueued++;
	check_pressure(mb);
	return 0;
}

int actr_mailbox_enqueue(actr_mailbox_t *mb, int priority, const void *from,
			 size_t from_len, actr_buf_t *payload, uint64_t *id)
{
	struct mb_msg *m;
	int rc;

	if ((priority != ACTR_PRIO_HIGH && priority != ACTR_PRIO_NORMAL) ||
	    !payload || (from_len && !from))
		return -EINVAL;
	if (payload->len > mb->o.max_payload || from_len > MAX_FROM)
		return -ACTR_ETOOBIG;
	m = actr__mb_msg_new(priority, from, from_len, actr_buf_ref(payload));
	if (!m) {
		actr_buf_unref(payload);
		return -ENOMEM;
	}
	m->pub.enqueued_ms = actr_wall_ms();
	rc = enqueue_msg(mb, m);
	if (rc < 0) {
		actr__mb_msg_free(m);
		return rc;
	}
	if (id)
		*id = m->pub.id;
	return 0;
}

int actr__mb_enqueue_redrive(actr_mailbox_t *mb, const void *from,
			     size_t from_len, const void *payload,
			     size_t plen, uint32_t redrives, uint64_t now_ms,
			     uint64_t dlq_id)
{
	actr_buf_t *b = actr_buf_copy(payload ? payload : "", plen);
	struct mb_msg *m;
	int rc;

	if (!b)
		return -ENOMEM;
	m = actr__mb_msg_new(ACTR_PRIO_NORMAL, from, from_len, b);
	if (!m) {
		actr_buf_unref(b);
		return -ENOMEM;
	}
	m->pub.enqueued_ms = now_ms;
	m->pub.redrives = redrives;
	m->pub.last_redrive_ms = now_ms;
	rc = vec_push(&mb->dlq_del, dlq_id);
	if (rc == 0)
		rc = enqueue_msg(mb, m);
	if (rc < 0) {
		actr__mb_msg_free(m);
		return rc;
	}
	return 0;
}

bool actr_mailbox_ready(const actr_mailbox_t *mb)
{
	return mb->q[0].n || mb->q[1].n;
}

size_t actr_mailbox_dequeue(actr_mailbox_t *mb, actr_mailbox_msg_t **out,
			    size_t max)
{
	size_t n = 0;

	while (n < max && (mb->q[0].n || mb->q[1].n)) {
		struct mb_queue *q = &mb->q[mb->q[0].n ? 0 : 1];
		struct mb_msg *m;

		/* A message that was in flight at a crash goes alone, so a
		 * second crash blames it and nothing else. */
		if (q_first(q)->suspect && n)
			break;
		if (actr__mb_lease_reserve(&mb->lease, 1) < 0)
			break;
		m = q_pop(q);
		mb_set_state(m, MB_INFLIGHT);
		m->pub.attempts++;
		if_put(mb, m);
		actr__mb_lease_take(&mb->lease, m);
		out[n++] = &m->pub;
		if (m->suspect)
			break;
	}
	return n;
}

int actr_mailbox_ack(actr_mailbox_t *mb, uint64_t id)
{
	struct mb_msg *m = if_get(mb, id);

	if (!m)
		return -ACTR_ENOTFOUND;
	msg_finish(mb, m);
	mb->st.acked++;
	check_pressure(mb);
	return 0;
}

static int dead_letter(actr_mailbox_t *mb, struct mb_msg *m,
		       const char *category, const char *reason)
{
	struct mb_dlq_pending *p = dlq_from_msg(m, category, reason);

	if (!p)
		return -ENOMEM;
	actr__mb_dlq_push(mb, p);
	actr_logw(MB_LOG, "message %llu to the dead-letter queue: %s: %s",
		  (unsigned long long)m->pub.id, p->category, p->reason);
	msg_finish(mb, m);
	mb->st.dead_lettered++;
	return 0;
}

int actr_mailbox_dead_letter(actr_mailbox_t *mb, uint64_t id,
			     const char *category, const char *reason)
{
	struct mb_msg *m = if_get(mb, id);
	int rc;

	if (!m)
		return -ACTR_ENOTFOUND;
	rc = dead_letter(mb, m, category, reason);
	check_pressure(mb);
	return rc;
}

static void requeue(actr_mailbox_t *mb, struct mb_msg *m)
{
	if_del(mb, m);
	actr__mb_lease_drop(&mb->lease, m);
	mb_set_state(m, MB_QUEUED);
	q_insert_from_head(&mb->q[m->pub.priority], m);
}

int actr_mailbox_fail(actr_mailbox_t *mb, uint64_t id, const char *reason)
{
	struct mb_msg *m = if_get(mb, id);
	int rc;

	if (!m)
		return -ACTR_ENOTFOUND;
	mb->st.failed++;
	if (m->pub.attempts >= mb->o.max_attempts) {
		rc = dead_letter(mb, m, "max_attempts", reason);
		check_pressure(mb);
		return rc < 0 ? rc : 1;
	}
	rc = vec_push(&mb->att_put, m->pub.id);
	if (rc == 0)
		rc = vec_push(&mb->att_put, m->pub.attempts);
	if (rc < 0) {
		if (mb->att_put.n & 1)
			mb->att_put.n--;
		return rc;
	}
	m->stored_attempts = m->pub.attempts;
	requeue(mb, m);
	return 0;
}

int actr_mailbox_release(actr_mailbox_t *mb, uint64_t id)
{
	struct mb_msg *m = if_get(mb, id);

	if (!m)
		return -ACTR_ENOTFOUND;
	m->pub.attempts--;
	requeue(mb, m);
	return 0;
}

uint64_t actr_mailbox_durable_seq(const actr_mailbox_t *mb)
{
	return mb->durable_seq;
}

bool actr_mailbox_msg_durable(const actr_mailbox_t *mb,
			      const actr_mailbox_msg_t *msg)
{
	const struct mb_msg *m = (const struct mb_msg *)msg;

	(void)mb;
	return !m->pending;
}

void actr_mailbox_stats(const actr_mailbox_t *mb, actr_mailbox_stats_t *st)
{
	uint64_t oldest = UINT64_MAX, now = actr_wall_ms();
	struct actr__map_iter it;
	struct actr__map_node *n;

	*st = mb->st;
	st->queued_high = mb->q[0].n;
	st->queued_normal = mb->q[1].n;
	st->in_flight = actr__map_size(&mb->inflight);
	st->uncommitted = 0;
	for (size_t i = 0; i < mb->newmsgs.n; i++) {
		const struct mb_msg *m = mb->newmsgs.v[i];

		if (m->state == MB_DEAD)
			continue;
		st->uncommitted++;
		if (m->pub.enqueued_ms < oldest)
			oldest = m->pub.enqueued_ms;
	}
	for (int p = 0; p < 2; p++) {
		const struct mb_msg *m = q_first(&mb->q[p]);

		if (m && m->pub.enqueued_ms < oldest)
			oldest = m->pub.enqueued_ms;
	}
	actr__map_foreach((struct actr__map *)&mb->inflight, it, n) {
		const struct mb_msg *m = actr__map_entry(n, struct mb_msg,
							 ifnode);

		if (m->pub.enqueued_ms < oldest)
			oldest = m->pub.enqueued_ms;
	}
	st->oldest_age_ms = oldest == UINT64_MAX || oldest > now ?
				    0 : now - oldest;
	st->durable_seq = mb->durable_seq;
	actr__mb_ckpt_stats(mb, st);
}

uint64_t actr__mb_last_commit_ns(const actr_mailbox_t *mb)
{
	return mb->last_commit_ns;
}

/* ---- commit --------------------------------------------------------------- */

/* A fast 64-bit checksum of a stored batch (word-wise multiply-xorshift;
 * detects damaged bytes SQLite's page format does not check). */
uint64_t actr__mb_seg_sum(const uint8_t *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	for (w = 0; i < n; i++)
		w = (w << 8) | p[i];
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 29);
}

static int encode_batch(actr_mailbox_t *mb, size_t *len, uint32_t *count,
			uint64_t *first)
{
	size_t need = SEG_HDR, off;
	uint32_t n = 0;

	for (size_t i = 0; i < mb->newmsgs.n; i++) {
		const struct mb_msg *m = mb->newmsgs.v[i];

		if (m->state != MB_DEAD)
			need += MSG_HDR + m->pub.from_len + m->pub.payload->len;
	}
	if (need > mb->blob_cap) {
		size_t cap = need + need / 2;
		uint8_t *b = actr__realloc(mb->blob, cap);

		if (!b)
			return -ENOMEM;
		mb->blob = b;
		mb->blob_cap = cap;
	}
	off = SEG_HDR;
	for (size_t i = 0; i < mb->newmsgs.n; i++) {
		const struct mb_msg *m = mb->newmsgs.v[i];
		uint8_t *p = mb->blob + off;

		if (m->state == MB_DEAD)
			continue;
		if (!n)
			*first = m->pub.id;
		actr__put_le64(p, m->pub.id);
		actr__put_le64(p + 8, m->pub.enqueued_ms);
		actr__put_le64(p + 16, m->pub.last_redrive_ms);
		actr__put_le32(p + 24, m->pub.redrives);
		actr__put_le32(p + 28, (uint32_t)m->pub.from_len);
		actr__put_le32(p + 32, (uint32_t)m->pub.payload->len);
		p[36] = m->pub.priority;
		memcpy(p + MSG_HDR, m->pub.from, m->pub.from_len);
		memcpy(p + MSG_HDR + m->pub.from_len, m->pub.payload->data,
		       m->pub.payload->len);
		off += MSG_HDR + m->pub.from_len + m->pub.payload->len;
		n++;
	}
	actr__put_le32(mb->blob, SEG_MAGIC);
	actr__put_le32(mb->blob + 4, n);
	actr__put_le64(mb->blob + 8, actr__mb_seg_sum(mb->blob + SEG_HDR, off - SEG_HDR));
	*len = off;
	*count = n;
	return 0;
}

static int bind_exec(sqlite3_stmt *st)
{
	int rc = actr__db_exec_stmt(st);

	sqlite3_clear_bindings(st);
	return rc;
}

/* Write the open batch inside BEGIN..COMMIT. Nothing in memory changes. */
static int write_batch(actr_mailbox_t *mb, uint32_t *count, uint64_t *first,
		       uint64_t *dlq_deleted)
{
	size_t len;
	int rc = 0;

	*count = 0;
	if (mb->newmsgs.n) {
		rc = encode_batch(mb, &len, count, first);
		if (rc < 0)
			return rc;
		if (*count) {
			sqlite3_bind_int64(mb->s_seg_ins, 1, (int64_t)*first);
			sqlite3_bind_blob(mb->s_seg_ins, 2, mb->blob, (int)len,
					  SQLITE_STATIC);
			rc = bind_exec(mb->s_seg_ins);
		}
	}
	for (struct mb_seg *s = mb->dirty_segs; s && !rc; s = s->dirty_next) {
		if (s->live == 0) {
			sqlite3_bind_int64(mb->s_seg_del, 1, (int64_t)s->seg);
			rc = bind_exec(mb->s_seg_del);
			if (!rc && s->row_has_acks) {
				sqlite3_bind_int64(mb->s_ack_del, 1,
						   (int64_t)s->seg);
				rc = bind_exec(mb->s_ack_del);
			}
		} else {
			sqlite3_bind_int64(mb->s_ack_put, 1, (int64_t)s->seg);
			sqlite3_bind_blob(mb->s_ack_put, 2, s->acked,
					  (int)((s->count + 7) / 8),
					  SQLITE_STATIC);
			rc = bind_exec(mb->s_ack_put);
		}
	}
	for (size_t i = 0; i + 1 < mb->att_put.n && !rc; i += 2) {
		sqlite3_bind_int64(mb->s_att_put, 1, (int64_t)mb->att_put.v[i]);
		sqlite3_bind_int64(mb->s_att_put, 2,
				   (int64_t)mb->att_put.v[i + 1]);
		rc = bind_exec(mb->s_att_put);
	}
	for (size_t i = 0; i < mb->att_del.n && !rc; i++) {
		sqlite3_bind_int64(mb->s_att_del, 1, (int64_t)mb->att_del.v[i]);
		rc = bind_exec(mb->s_att_del);
	}
	for (struct mb_dlq_pending *p = mb->dlq_head; p && !rc; p = p->next) {
		sqlite3_stmt *st = mb->s_dlq_ins;

		sqlite3_bind_int64(st, 1, (int64_t)p->msg_id);
		sqlite3_bind_int(st, 2, p->priority);
		sqlite3_bind_blob(st, 3, p->from, (int)p->from_len,
				  SQLITE_STATIC);
		sqlite3_bind_blob(st, 4, p->payload->data,
				  (int)p->payload->len, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, p->category, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, p->reason, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, (int64_t)p->created_ms);
		sqlite3_bind_int64(st, 8, p->attempts);
		sqlite3_bind_int64(st, 9, p->redrives);
		sqlite3_bind_int64(st, 10, (int64_t)p->last_redrive_ms);
		rc = bind_exec(st);
	}
	for (size_t i = 0; i < mb->dlq_del.n && !rc; i++) {
		sqlite3_bind_int64(mb->s_dlq_del, 1, (int64_t)mb->dlq_del.v[i]);
		rc = bind_exec(mb->s_dlq_del);
		if (!rc)
			*dlq_deleted += (uint64_t)sqlite3_changes(mb->db);
	}
	if (!rc && mb->next_id > mb->stored_next_id) {
		/* reserve a block of ids: one meta write per ID_BLOCK */
		sqlite3_bind_int64(mb->s_meta_put, 1,
				   (int64_t)(mb->next_id + ID_BLOCK));
		rc = bind_exec(mb->s_meta_put);
	}
	return rc;
}

/* The transaction committed: bring memory in line. */
static void batch_done(actr_mailbox_t *mb, struct mb_seg *seg,
		       uint64_t dlq_deleted)
{
	uint32_t idx = 0;
	struct mb_seg *s, *next;

	mb->durable_seq++;
	for (size_t i = 0; i < mb->newmsgs.n; i++) {
		struct mb_msg *m = mb->newmsgs.v[i];

		if (m->state == MB_DEAD) {
			actr__mb_msg_free(m);
			continue;
		}
		actr__mb_jnl_done(&mb->jnl, m);	/* the WAL has it now */
		m->seg = seg;
		m->seg_index = idx++;
		m->pending = false;
		if (m->state == MB_HELD) {
			mb->nheld--;
			mb_set_state(m, MB_QUEUED);
			q_push_tail(&mb->q[m->pub.priority], m);
		}
	}
	mb->newmsgs.n = 0;
	mb->hold[0] = mb->hold[1] = false;
	for (s = mb->dirty_segs; s; s = next) {
		next = s->dirty_next;
		s->dirty = false;
		s->dirty_next = NULL;
		if (s->live == 0)
			seg_unlink_free(mb, s);
		else
			s->row_has_acks = true;
	}
	mb->dirty_segs = NULL;
	mb->att_put.n = 0;
	mb->att_del.n = 0;
	mb->dlq_del.n = 0;
	while (mb->dlq_head) {
		struct mb_dlq_pending *p = mb->dlq_head;

		mb->dlq_head = p->next;
		dlq_pending_free(p);
	}
	mb->dlq_tail = NULL;
	mb->st.dlq_size += mb->ndlq_pending;
	mb->st.dlq_size -= ACTR_MIN(dlq_deleted, mb->st.dlq_size);
	mb->ndlq_pending = 0;
	if (mb->next_id > mb->stored_next_id)
		mb->stored_next_id = mb->next_id + ID_BLOCK;
	mb->nacks_pending = 0;
	mb->st.commits++;
}

/* Messages enqueued and acknowledged in the open batch need no write:
 * drop them, so that a batch of nothing else needs no transaction. */
static void purge_dead(actr_mailbox_t *mb)
{
	size_t k = 0;

	for (size_t i = 0; i < mb->newmsgs.n; i++) {
		struct mb_msg *m = mb->newmsgs.v[i];

		if (m->state == MB_DEAD) {
			actr__mb_msg_free(m);
			mb->st.elided++;
		} else {
			mb->newmsgs.v[k++] = m;
		}
	}
	mb->newmsgs.n = k;
}

int actr_mailbox_commit(actr_mailbox_t *mb)
{
	struct mb_seg *seg = NULL;
	uint64_t first = 0, dlq_deleted = 0;
	uint32_t count = 0;
	uint64_t t0;
	int rc;

	purge_dead(mb);
	if (!batch_dirty(mb))
		return 0;
	t0 = actr_time_ns();
	rc = actr__db_exec_stmt(mb->s_begin);
	if (rc == 0)
		rc = write_batch(mb, &count, &first, &dlq_deleted);
	if (rc == 0 && count && !(seg = seg_new(mb, first, count)))
		rc = -ENOMEM;
	if (rc == 0)
		rc = actr__db_exec_stmt(mb->s_commit);
	if (rc < 0) {
		const char *why = sqlite3_errmsg(mb->db);

		if (!sqlite3_get_autocommit(mb->db))
			actr__db_exec_stmt(mb->s_rollback);
		if (seg)
			seg_unlink_free(mb, seg);
		mb->st.commit_errors++;
		actr_loge(MB_LOG, "%s: commit failed (%s): %s; batch kept",
			  mb->path, actr_strerror(rc), why);
		if (mb->r && !actr_timer_active(&mb->retry))
			actr_timer_start(&mb->retry, ACTR_MS(mb->o.retry_ms), 0);
		if (mb->o.on_commit)
			mb->o.on_commit(mb, rc, mb->durable_seq,
					mb->o.commit_arg);
		return rc;
	}
	batch_done(mb, seg, dlq_deleted);
	mb->last_commit_ns = actr_time_ns() - t0;
	mb->st.commit_us_total += mb->last_commit_ns / 1000;
	if (mb->last_commit_ns / 1000 > mb->st.commit_us_max)
		mb->st.commit_us_max = mb->last_commit_ns / 1000;
	if (mb->r) {
		actr_timer_stop(&mb->flush);
		actr_timer_stop(&mb->retry);
		mb->last_commit = actr_time_ns();
	}
	if (mb->o.on_commit)
		mb->o.on_commit(mb, 0, mb->durable_seq, mb->o.commit_arg);
	return 0;
}

/* ---- reactor glue -------------------------------------------------------- */

#define ACK_FLUSH_COUNT 4096

/* Commit at deadline (monotonic ns) unless a commit is planned earlier. */
static void plan_commit(actr_mailbox_t *mb, uint64_t deadline)
{
	if (actr_timer_active(&mb->flush) && mb->flush_at <= deadline)
		return;
	mb->flush_at = deadline;
	actr_timer_start_at(&mb->flush, deadline);
}

/* Once per iteration: commit what is urgent now (paced by min_commit_us),
 * let acks wait a little. */
static void on_check(actr_hook_t *h, void *arg)
{
	actr_mailbox_t *mb = arg;
	uint64_t now, pace;

	(void)h;
	purge_dead(mb);
	if (actr_timer_active(&mb->retry) || !batch_dirty(mb))
		return;
	if (mb->newmsgs.n || mb->dlq_head || mb->dlq_del.n || mb->att_put.n ||
	    mb->o.ack_flush_ms <= 0 || mb->nacks_pending >= ACK_FLUSH_COUNT) {
		now = actr_reactor_now(mb->r);
		pace = mb->last_commit + ACTR_US(mb->o.min_commit_us);
		if (!mb->o.min_commit_us || now >= pace)
			actr_mailbox_commit(mb);
		else
			plan_commit(mb, pace);
		return;
	}
	if (!actr_timer_active(&mb->flush))
		plan_commit(mb, actr_reactor_now(mb->r) +
					ACTR_MS(mb->o.ack_flush_ms));
}

static void on_flush(actr_timer_t *t, void *arg)
{
	actr_mailbox_t *mb = arg;

	(void)t;
	if (!actr_timer_active(&mb->retry))
		actr_mailbox_commit(mb);
}

static void on_retry(actr_timer_t *t, void *arg)
{
	(void)t;
	actr_mailbox_commit(arg);
}

int actr_mailbox_attach(actr_mailbox_t *mb, actr_reactor_t *r)
{
	if (mb->r)
		return -EBUSY;
	mb->r = r;
	actr_timer_init(r, &mb->retry, on_retry, mb);
	actr_timer_init(r, &mb->flush, on_flush, mb);
	actr_hook_start(r, &mb->hook, ACTR_HOOK_CHECK, ACTR_ORDER_COMMIT,
			on_check, mb);
	return 0;
}

void actr_mailbox_detach(actr_mailbox_t *mb)
{
	if (!mb->r)
		return;
	actr_hook_stop(&mb->hook);
	actr_timer_stop(&mb->retry);
	actr_timer_stop(&mb->flush);
	mb->r = NULL;
}

/* ---- open: load and recover ---------------------------------------------- */

static int prepare_all(actr_mailbox_t *mb)
{
	static const struct {
		size_t off;
		const char *sql;
	} t[] = {
#define S(f, q) { offsetof(actr_mailbox_t, f), q }
		S(s_begin, "BEGIN IMMEDIATE"),
		S(s_commit, "COMMIT"),
		S(s_rollback, "ROLLBACK"),
		S(s_seg_ins, "INSERT INTO actr_seg(seg, data) VALUES(?1, ?2)"),
		S(s_seg_del, "DELETE FROM actr_seg WHERE seg = ?1"),
		S(s_ack_put, "INSERT OR REPLACE INTO actr_ack(seg, bits) "
			     "VALUES(?1, ?2)"),
		S(s_ack_del, "DELETE FROM actr_ack WHERE seg = ?1"),
		S(s_att_put, "INSERT OR REPLACE INTO actr_att(id, attempts) "
			     "VALUES(?1, ?2)"),
		S(s_att_del, "DELETE FROM actr_att WHERE id = ?1"),
		S(s_dlq_ins, "INSERT INTO actr_dlq(msg_id, priority, sender, "
			     "payload, category, reason, created_ms, "
			     "attempts, redrives, last_redrive_ms) "
			     "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"),
		S(s_dlq_del, "DELETE FROM actr_dlq WHERE id = ?1"),
		S(s_meta_put, "INSERT OR REPLACE INTO actr_meta(key, value) "
			      "VALUES('next_id', ?1)"),
#undef S
	};

	for (size_t i = 0; i < ACTR_ARRAY_LEN(t); i++) {
		int rc = actr__db_prepare(mb->db, t[i].sql,
					  (sqlite3_stmt **)((char *)mb +
							    t[i].off));
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int query_u64(sqlite3 *db, const char *sql, uint64_t *v)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return actr__sqlite_err(rc);
	rc = sqlite3_step(st);
	*v = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : actr__sqlite_err(rc);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool in_sorted(const uint64_t *v, size_t n, uint64_t x)
{
	return n && bsearch(&x, v, n, sizeof(*v), cmp_u64);
}

/* Attempts rows, as (id, n) pairs sorted by id. */
static int load_attempts(actr_mailbox_t *mb, struct mb_vec *att)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(mb->db,
				    "SELECT id, attempts FROM actr_att "
				    "ORDER BY id",
				    -1, &st, NULL);

	if (rc != SQLITE_OK)
		return actr__sqlite_err(rc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (vec_push(att, (uint64_t)sqlite3_column_int64(st, 0)) < 0 ||
		    vec_push(att, (uint64_t)sqlite3_column_int64(st, 1)) < 0) {
			sqlite3_finalize(st);
			return -ENOMEM;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : actr__sqlite_err(rc);
}

static uint32_t attempts_of(const struct mb_vec *att, uint64_t id)
{
	size_t lo = 0, hi = att->n / 2;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (att->v[2 * mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < att->n / 2 && att->v[2 * lo] == id ?
		       (uint32_t)att->v[2 * lo + 1] : 0;
}

/* Decode one stored batch and queue its unacknowledged messages. */
static int load_segment(actr_mailbox_t *mb, uint64_t segid, const uint8_t *d,
			size_t len, const uint8_t *bits, size_t blen,
			const struct mb_vec *att, struct mb_pvec *crashed,
			const uint64_t *lease, size_t nlease)
{
	uint32_t count;
	size_t off = SEG_HDR;
	struct mb_seg *s;

	if (len < SEG_HDR || actr__get_le32(d) != SEG_MAGIC ||
	    actr__get_le64(d + 8) != actr__mb_seg_sum(d + SEG_HDR, len - SEG_HDR))
		return -ACTR_ECORRUPT;
	count = actr__get_le32(d + 4);
	if (count == 0 || count > len / MSG_HDR ||
	    (bits && blen < (count + 7) / 8))
		return -ACTR_ECORRUPT;
	s = seg_new(mb, segid, count);
	if (!s)
		return -ENOMEM;
	if (bits)
		memcpy(s->acked, bits, (count + 7) / 8);
	s->row_has_acks = bits != NULL;
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *p = d + off;
		uint32_t flen, plen;
		struct mb_msg *m;
		actr_buf_t *b;

		if (len - off < MSG_HDR)
			return -ACTR_ECORRUPT;
		flen = actr__get_le32(p + 28);
		plen = actr__get_le32(p + 32);
		if (actr__get_le64(p) > mb->loaded_max_id)
			mb->loaded_max_id = actr__get_le64(p);
		if (flen > MAX_FROM || plen > len - off - MSG_HDR - flen ||
		    flen > len - off - MSG_HDR || p[36] > 1)
			return -ACTR_ECORRUPT;
		off += MSG_HDR + flen + plen;
		if (s->acked[i / 8] & (1u << (i % 8))) {
			s->live--;
			continue;
		}
		b = actr_buf_copy(p + MSG_HDR + flen, plen);
		m = b ? actr__mb_msg_new(p[36], p + MSG_HDR, flen, b) : NULL;
		if (!m) {
			actr_buf_unref(b);
			return -ENOMEM;
		}
		m->pub.id = actr__get_le64(p);
		m->pub.enqueued_ms = actr__get_le64(p + 8);
		m->pub.last_redrive_ms = actr__get_le64(p + 16);
		m->pub.redrives = actr__get_le32(p + 24);
		m->pub.attempts = attempts_of(att, m->pub.id);
		m->stored_attempts = m->pub.attempts;
		m->seg = s;
		m->seg_index = i;
		if (m->pub.id >= mb->next_id)
			mb->next_id = m->pub.id + 1;
		if (in_sorted(lease, nlease, m->pub.id)) {
			if (actr__mb_pvec_push(crashed, m) < 0) {
				actr__mb_msg_free(m);
				return -ENOMEM;
			}
			continue;
		}
		mb_set_state(m, MB_QUEUED);
		q_push_tail(&mb->q[m->pub.priority], m);
		mb->st.recovered++;
	}
	if (s->live == 0 && !s->dirty) { /* fully acked: drop the row */
		s->dirty = true;
		s->dirty_next = mb->dirty_segs;
		mb->dirty_segs = s;
	}
	return 0;
}

/* Messages in flight at the crash: count the attempt, requeue or
 * dead-letter. */
static int recover_crashed(actr_mailbox_t *mb, struct mb_pvec *crashed)
{
	for (size_t i = 0; i < crashed->n; i++) {
		struct mb_msg *m = crashed->v[i];
		int rc;

		m->pub.attempts++;
		mb->st.recovered++;
		if (m->pub.attempts >= mb->o.max_attempts) {
			char why[96];

			snprintf(why, sizeof(why),
				 "process died while handling it %u times",
				 m->pub.attempts);
			m->state = 0;
			rc = dead_letter(mb, m, "crash_loop", why);
		} else {
			rc = vec_push(&mb->att_put, m->pub.id);
			if (rc == 0)
				rc = vec_push(&mb->att_put, m->pub.attempts);
			m->stored_attempts = m->pub.attempts;
			m->suspect = true;
			mb_set_state(m, MB_QUEUED);
			q_insert_from_head(&mb->q[m->pub.priority], m);
		}
		crashed->v[i] = NULL;
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Messages of live journal records: handed out before their commit when
 * the process died. They join the open batch (committed by the open). A
 * record whose message a segment holds (the process died between the
 * commit and marking the record) is skipped. */
static int load_journal(actr_mailbox_t *mb, struct mb_pvec *crashed,
			const uint64_t *lease, size_t nlease)
{
	struct mb_pvec got = { 0 };
	uint64_t torn = 0;
	size_t i;
	int rc = actr__mb_jnl_scan(&mb->jnl, &got, &torn);

	if (torn)
		actr_logi(MB_LOG, "%s-jnl: a record cut short by the crash "
			  "(its message was not yet handed out) ignored",
			  mb->path);
	for (i = 0; i < got.n && rc == 0; i++) {
		struct mb_msg *m = got.v[i];

		if (m->pub.id <= mb->loaded_max_id)
			continue;	/* freed below */
		rc = actr__mb_pvec_push(&mb->newmsgs, m);
		if (rc < 0)
			break;
		got.v[i] = NULL;
		m->pending = true;
		if (m->pub.id >= mb->next_id)
			mb->next_id = m->pub.id + 1;
		mb->st.journal_recovered++;
		if (in_sorted(lease, nlease, m->pub.id)) {
			rc = actr__mb_pvec_push(crashed, m);
		} else {
			mb_set_state(m, MB_QUEUED);
			q_push_tail(&mb->q[m->pub.priority], m);
			mb->st.recovered++;
		}
	}
	for (i = 0; i < got.n; i++)
		if (got.v[i])
			actr__mb_msg_free(got.v[i]);
	free(got.v);
	return rc;
}

static int load(actr_mailbox_t *mb)
{
	struct mb_vec att = { 0 };
	struct mb_pvec crashed = { 0 };
	uint64_t *lease = NULL;
	size_t nlease = 0;
	sqlite3_stmt *st = NULL, *ack = NULL;
	int rc;

	rc = query_u64(mb->db,
		       "SELECT value FROM actr_meta WHERE key='next_id'",
		       &mb->next_id);
	if (rc == 0)
		rc = query_u64(mb->db, "SELECT count(*) FROM actr_dlq",
			       &mb->st.dlq_size);
	if (rc == 0)
		rc = load_attempts(mb, &att);
	if (rc == 0)
		rc = actr__mb_lease_read(&mb->lease, &lease, &nlease);
	if (rc < 0)
		goto out;
	if (mb->next_id == 0)
		mb->next_id = 1;
	mb->stored_next_id = mb->next_id;
	if (nlease)
		qsort(lease, nlease, sizeof(*lease), cmp_u64);
	rc = sqlite3_prepare_v2(mb->db,
				"SELECT seg, data FROM actr_seg ORDER BY seg",
				-1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(mb->db,
					"SELECT bits FROM actr_ack "
					"WHERE seg = ?1",
					-1, &ack, NULL);
	if (rc != SQLITE_OK) {
		rc = actr__sqlite_err(rc);
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t segid = (uint64_t)sqlite3_column_int64(st, 0);
		const uint8_t *d = sqlite3_column_blob(st, 1);
		size_t len = (size_t)sqlite3_column_bytes(st, 1);
		const uint8_t *bits = NULL;
		size_t blen = 0;

		sqlite3_bind_int64(ack, 1, (int64_t)segid);
		rc = sqlite3_step(ack);
		if (rc == SQLITE_ROW) { /* an empty bitmap is damage too */
			bits = sqlite3_column_blob(ack, 0);
			blen = (size_t)sqlite3_column_bytes(ack, 0);
			if (!bits)
				bits = (const uint8_t *)"";
		} else if (rc != SQLITE_DONE) {
			break;
		}
		rc = load_segment(mb, segid, d ? d : (const uint8_t *)"",
				  len, bits, blen, &att, &crashed, lease,
				  nlease);
		sqlite3_reset(ack);
		if (rc < 0) {
			if (rc == -ACTR_ECORRUPT)
				actr_loge(MB_LOG,
					  "%s: stored batch %llu is corrupt",
					  mb->path, (unsigned long long)segid);
			goto out;
		}
	}
	rc = rc == SQLITE_DONE ? 0 : actr__sqlite_err(rc);
	if (rc == 0 && mb->jnl.fd >= 0)
		rc = load_journal(mb, &crashed, lease, nlease);
	if (rc == 0)
		rc = recover_crashed(mb, &crashed);
out:
	for (size_t i = 0; i < crashed.n; i++) /* pending: in newmsgs */
		if (crashed.v[i] && !crashed.v[i]->pending)
			actr__mb_msg_free(crashed.v[i]);
	free(crashed.v);
	sqlite3_finalize(st);
	sqlite3_finalize(ack);
	free(att.v);
	free(lease);
	return rc;
}

/* The defaults, in one place: actr_mailbox_opts_init copies them, and
 * actr_mailbox_open takes a field whose 0 is not a setting from them. */
static const actr_mailbox_opts_t mb_defaults = {
	.struct_size = sizeof(actr_mailbox_opts_t),
	.sync = ACTR_MAILBOX_SYNC_FULL,
	.max_attempts = 5,
	.max_payload = 16u << 20,
	.checkpoint_pages = 4096,
	.wal_max_pages = 16384,
	.page_size = 4096,
	.ack_flush_ms = 0,
	.min_commit_us = 200,
	.retry_ms = 100,
	.journal_bytes = 4u << 20,
	.deliver_uncommitted = true,
};

void actr_mailbox_opts_init(actr_mailbox_opts_t *o)
{
	*o = mb_defaults;
}

/* Zero fields that mean "the default" (actr/mailbox.h). */
static void fill_defaults(actr_mailbox_opts_t *o)
{
	if (!o->max_attempts)
		o->max_attempts = mb_defaults.max_attempts;
	if (!o->max_payload)
		o->max_payload = mb_defaults.max_payload;
	if (!o->retry_ms)
		o->retry_ms = mb_defaults.retry_ms;
	if (!o->page_size)
		o->page_size = mb_defaults.page_size;
	if (!o->checkpoint_pages)
		o->checkpoint_pages = mb_defaults.checkpoint_pages;
	if (!o->wal_max_pages)
		o->wal_max_pages = 4 * o->checkpoint_pages;
}

static void free_all(actr_mailbox_t *mb)
{
	struct actr__map_iter it;
	struct actr__map_node *n;

	for (int p = 0; p < 2; p++) {
		struct mb_msg *m;

		while ((m = q_pop(&mb->q[p])))
			if (!m->pending)
				actr__mb_msg_free(m);
	}
	actr__map_foreach(&mb->inflight, it, n) {
		struct mb_msg *m = actr__map_entry(n, struct mb_msg, ifnode);

		actr__map_remove(&mb->inflight, n);
		if (!m->pending)
			actr__mb_msg_free(m);
	}
	for (size_t i = 0; i < mb->newmsgs.n; i++)
		actr__mb_msg_free(mb->newmsgs.v[i]);
	while (!actr__list_empty(&mb->segs))
		seg_unlink_free(mb, actr__list_entry(actr__list_first(&mb->segs),
						     struct mb_seg, all));
	while (mb->dlq_head) {
		struct mb_dlq_pending *p = mb->dlq_head;

		mb->dlq_head = p->next;
		dlq_pending_free(p);
	}
	free(mb->newmsgs.v);
	free(mb->att_put.v);
	free(mb->att_del.v);
	free(mb->dlq_del.v);
	actr__map_fini(&mb->inflight);
	actr__mb_lease_unmap(&mb->lease);
	actr__mb_jnl_close(&mb->jnl, false);
	free(mb->blob);
}

static void close_db(actr_mailbox_t *mb)
{
	sqlite3_stmt **sts[] = {
		&mb->s_begin, &mb->s_commit, &mb->s_rollback, &mb->s_seg_ins,
		&mb->s_seg_del, &mb->s_ack_put, &mb->s_ack_del,
		&mb->s_att_put, &mb->s_att_del, &mb->s_dlq_ins,
		&mb->s_dlq_del, &mb->s_meta_put,
	};

	for (size_t i = 0; i < ACTR_ARRAY_LEN(sts); i++) {
		sqlite3_finalize(*sts[i]);
		*sts[i] = NULL;
	}
	sqlite3_close_v2(mb->db);
	mb->db = NULL;
}

int actr_mailbox_open(const char *path, const actr_mailbox_opts_t *opts,
		      actr_mailbox_t **out)
{
	actr_mailbox_t *mb;
	char *lpath = NULL, *jpath = NULL;
	bool journal;
	int rc;

	*out = NULL;
	if (!path)
		return -EINVAL;
	mb = actr__calloc(1, sizeof(*mb));
	if (!mb)
		return -ENOMEM;
	mb->lease.fd = -1;
	mb->jnl.fd = -1;
	actr__list_init(&mb->q[0].msgs);
	actr__list_init(&mb->q[1].msgs);
	actr__list_init(&mb->segs);
	actr__map_init(&mb->inflight);
	if (!opts)
		actr_mailbox_opts_init(&mb->o);
	else if ((rc = actr__opts_copy(&mb->o, sizeof(mb->o), opts)) < 0) {
		actr_loge(MB_LOG, "%s: options from a newer actr/mailbox.h "
			  "(struct_size %u): rebuild against this library",
			  path, opts->struct_size);
		free(mb);
		return rc;
	}
	fill_defaults(&mb->o);
	mb->path = strdup(path);
	mb->lease.path = mb->jnl.path = mb->path;
	if (!mb->path || asprintf(&lpath, "%s-inflight", path) < 0) {
		lpath = NULL;
		rc = -ENOMEM;
		goto out_free;
	}
	if (asprintf(&jpath, "%s-jnl", path) < 0) {
		jpath = NULL;
		rc = -ENOMEM;
		goto out_free;
	}
	journal = mb->o.deliver_uncommitted && mb->o.journal_bytes;
	/* One process (one open mailbox) per file: a lock on the side file,
	 * since the database itself is shared with the checkpointer's
	 * connection (normal locking mode). */
	rc = actr__mb_lease_open(&mb->lease, lpath);
	if (rc < 0)
		goto out_free;
	/* a journal left by an earlier process is read even if this one
	 * runs without */
	if (journal || access(jpath, F_OK) == 0) {
		rc = actr__mb_jnl_open(&mb->jnl, jpath);
		if (rc < 0)
			goto out_free;
	}
	rc = actr__db_open(path, "actr-mailbox", schema_sql,
			   mb->o.page_size,
			   mb->o.sync != ACTR_MAILBOX_SYNC_NORMAL, 0, false,
			   MB_LOG, &mb->db);
	if (rc < 0)
		goto out_free;
	rc = prepare_all(mb);
	if (rc == 0)
		rc = load(mb);
	if (rc == 0) {
		/* the recovery's changes; no callbacks before open returns */
		actr_mailbox_commit_cb cb = mb->o.on_commit;

		mb->o.on_commit = NULL;
		rc = actr_mailbox_commit(mb);
		mb->o.on_commit = cb;
	}
	if (rc < 0) {
		actr_loge(MB_LOG, "%s: cannot load: %s", path,
			  actr_strerror(rc));
		goto out_free;
	}
	/* Only now, with the recovery committed, forget the old slots. */
	rc = actr__mb_lease_reserve(&mb->lease, 1);
	if (rc < 0) {
		actr_loge(MB_LOG, "%s: %s", lpath, strerror(-rc));
		goto out_free;
	}
	actr__mb_lease_clear(&mb->lease);
	/* and what the journal held: start it empty (or drop it) */
	if (journal)
		rc = actr__mb_jnl_reset(&mb->jnl, mb->o.journal_bytes);
	else
		actr__mb_jnl_close(&mb->jnl, true);
	if (rc < 0) {
		actr_loge(MB_LOG, "%s: %s", jpath, strerror(-rc));
		goto out_free;
	}
	rc = actr__mb_ckpt_start(mb);
	if (rc < 0)
		goto out_free;
	if (mb->st.recovered)
		actr_logi(MB_LOG, "%s: %llu unacknowledged messages recovered",
			  path, (unsigned long long)mb->st.recovered);
	free(lpath);
	free(jpath);
	*out = mb;
	return 0;

out_free:
	free(lpath);
	free(jpath);
	free_all(mb);
	if (mb->db)
		close_db(mb);
	actr__mb_lease_close(&mb->lease);
	free(mb->path);
	free(mb);
	return rc;
}

void actr_mailbox_close(actr_mailbox_t *mb)
{
	if (!mb)
		return;
	actr_mailbox_detach(mb);
	if (batch_dirty(mb))
		actr_mailbox_commit(mb);
	/* A clean exit: what is in flight was not a crash. */
	if (mb->lease.map)
		actr__mb_lease_clear(&mb->lease);
	actr__mb_ckpt_stop(mb);
	free_all(mb);
	close_db(mb); /* the last connection: checkpoints, removes the WAL */
	actr__mb_lease_close(&mb->lease); /* then lets the next process in */
	free(mb->path);
	free(mb);
}

int actr_mailbox_remove(const char *path)
{
	static const char *const sfx[] = { "-wal", "-shm", "-inflight", "-jnl",
					   "" };
	char *p;
	int rc = 0;

	if (!path)
		return -EINVAL;
	/* the database last: side files never outlive it */
	for (size_t i = 0; i < ACTR_ARRAY_LEN(sfx); i++) {
		if (asprintf(&p, "%s%s", path, sfx[i]) < 0)
			return -ENOMEM;
		if (unlink(p) < 0 && errno != ENOENT && !rc)
			rc = -errno;
		free(p);
	}
	return rc;
}

bool actr__mb_journaled(const actr_mailbox_t *mb, uint64_t id)
{
	for (size_t i = 0; i < mb->newmsgs.n; i++)
		if (mb->newmsgs.v[i]->pub.id == id)
			return mb->newmsgs.v[i]->journaled;
	return false;
}

sqlite3 *actr__mailbox_db(actr_mailbox_t *mb)
{
	return mb->db;
}
