/*
 * Internals of the mailbox layer (mailbox.c, dlq.c, kv.c, db.c). Never
 * included by applications; tests include it for fault injection.
 */
#ifndef ACTR_MAILBOX_INTERNAL_H
#define ACTR_MAILBOX_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include <actr/kv.h>
#include <actr/mailbox.h>

#include "core/internal.h"
#include "core/list.h"
#include "core/map.h"

#define MB_LOG "mailbox"

/* ---- little-endian codec -------------------------------------------- */

static inline void actr__put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void actr__put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t actr__get_le32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t actr__get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* ---- db.c: shared SQLite helpers -------------------------------------- */

/** Map a SQLite result code to 0 / -errno / -ACTR_E*. */
int actr__sqlite_err(int rc);

/*
 * Name of the "actr" VFS (mailbox/vfs.c: the default VFS with its syncs
 * announced to actr__sys.fdatasync), registered at the first call; NULL
 * (the default VFS) if it could not be. Any thread.
 */
const char *actr__db_vfs(void);

/* Sync (fdatasync) times of the files opened through the "actr" VFS, for
 * /metrics: process-wide, by kind (database, WAL), counted by whichever
 * thread syncs (the writer's commits with synchronous=FULL, the
 * checkpointer's checkpoints). Bounds in microseconds. */
#define ACTR__SYNC_HIST_N 14
enum { ACTR__SYNC_DB = 0, ACTR__SYNC_WAL, ACTR__SYNC_KINDS };
extern const uint32_t actr__sync_bounds_us[ACTR__SYNC_HIST_N];
struct actr__sync_hist {
	uint64_t b[ACTR__SYNC_HIST_N + 1];	/* per bucket, [N] = over */
	uint64_t count;				/* syncs */
	uint64_t sum_ns;			/* their total time */
	uint64_t errors;			/* syncs that failed */
};

/* Layout of a stored batch (actr_seg.data): a header of SEG_HDR bytes
 * (magic, count, checksum of the rest), then per message MSG_HDR bytes
 * (id, enqueued_ms, last_redrive_ms, redrives, from_len, payload_len,
 * priority) followed by from and payload. */
#define ACTR__MB_SEG_MAGIC 0x32534d41u	/* "AMS2" */
#define ACTR__MB_SEG_HDR 16
#define ACTR__MB_MSG_HDR 37
#define ACTR__MB_MAX_FROM 65536

/** A snapshot of the sync histograms (relaxed loads: a scrape may see a
 * sync counted in one field and not yet in another). Any thread. */
void actr__sync_hist_get(struct actr__sync_hist out[ACTR__SYNC_KINDS]);

/**
 * Open path read-write (created if missing), WAL, the given synchronous
 * level, wal_autocheckpoint = checkpoint_pages (0 = off), locking_mode
 * EXCLUSIVE if exclusive (page_size applies to a new file only), and check
 * it holds our schema: magic in table
 * actr_meta (key 'magic'); a database without tables gets schema_sql
 * executed and the magic stored. Returns 0 with *out set, or a negative
 * code after logging the reason (subsys, path, SQLite's message).
 */
int actr__db_open(const char *path, const char *magic, const char *schema_sql,
		  uint32_t page_size, int sync_full, uint32_t checkpoint_pages,
		  bool exclusive, const char *subsys, sqlite3 **out);

/** Prepare sql on db into *st; logs on failure. 0 or negative code. */
int actr__db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st);

/** Step a statement expected to finish (SQLITE_DONE); resets it. */
int actr__db_exec_stmt(sqlite3_stmt *st);

/** Run SQL text without results. 0 or negative code. */
int actr__db_exec(sqlite3 *db, const char *sql);

/* ---- mailbox internals shared with dlq.c ------------------------------ */

struct mb_seg;

/* An unacknowledged message. pub first: pointers are handed out as
 * actr_mailbox_msg_t *. */
struct mb_msg {
	actr_mailbox_msg_t pub;	/* what the dispatcher sees */
	struct actr__list qlink; /* in a priority queue (MB_QUEUED) */
	struct actr__map_node ifnode; /* in mb->inflight (MB_INFLIGHT) */
	struct mb_seg *seg;	/* stored batch, NULL while uncommitted */
	uint32_t seg_index;	/* position in seg */
	uint32_t stored_attempts; /* attempts value in actr_att, 0 = no row */
	uint32_t slot;		/* in-flight slot in the side file */
	uint8_t state;		/* MB_* below */
	bool pending;		/* in the open batch's new-message list */
	bool suspect;		/* in flight at a crash: delivered alone */
	bool journaled;		/* has a live record in the crash journal */
	uint64_t jpos;		/* its logical position there */
	uint8_t from_buf[];	/* sender bytes */
};

enum {
	MB_QUEUED = 1,		/* in a priority queue */
	MB_HELD = 2,		/* enqueued, waiting for its commit */
	MB_INFLIGHT = 3,	/* dequeued */
	MB_DEAD = 4,		/* acked/dead-lettered before commit */
};

/* A committed batch of messages: one row of actr_seg. */
struct mb_seg {
	uint64_t seg;		/* row id */
	uint32_t count;		/* messages in the row */
	uint32_t live;		/* not yet acknowledged */
	uint8_t *acked;		/* bitmap, count bits */
	bool dirty;		/* ack state changed in the open batch */
	bool row_has_acks;	/* an actr_ack row exists */
	struct mb_seg *dirty_next; /* open batch's dirty list */
	struct actr__list all;	/* in mb->segs (every live segment) */
};

/* A DLQ insert waiting for the commit. */
struct mb_dlq_pending {
	struct mb_dlq_pending *next;
	uint64_t msg_id;
	int priority;
	uint8_t *from;
	size_t from_len;
	actr_buf_t *payload;
	char *category;
	char *reason;
	uint64_t created_ms;
	uint64_t last_redrive_ms;
	uint32_t attempts;
	uint32_t redrives;
};

struct mb_queue {
	struct actr__list msgs;	/* struct mb_msg by qlink, id order */
	uint64_t n;		/* messages queued */
};

/* Growable vectors of u64 and of message pointers. */
struct mb_vec {
	uint64_t *v;
	size_t n, cap;
};

struct mb_pvec {
	struct mb_msg **v;
	size_t n, cap;
};

/* The background checkpointer (ckpt.c). Shared between the writer thread
 * and the checkpointer thread: only mu/cv/stop/kick (under mu), hist
 * (under mu) and the atomics; the rest is set before the thread starts. */
#define MB_CKPT_HIST 4096
struct mb_ckpt {
	pthread_t th;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, kick;		/* under mu */
	bool kicked;			/* atomic: a wake-up is pending */
	sqlite3 *db;			/* the thread's own connection */
	const char *path;
	uint32_t passive_pages;		/* PASSIVE when the WAL holds this */
	uint32_t max_pages;		/* RESTART past this */
	uint32_t hard_pages;		/* the writer checkpoints past this */
	uint64_t forced;		/* atomic: writer checkpoints */
	uint32_t wal_pages;		/* atomic: frames after the last commit */
	uint32_t wal_pages_max;		/* atomic */
	uint32_t ckpt_done;		/* atomic: frames copied by the last
					 * checkpoint (its WAL's mark) */
	uint32_t last_pages;		/* writer thread only: previous count */
	uint64_t commits;		/* atomic: commits seen by the hook */
	uint64_t runs, restarts, busy, errors; /* atomic counters */
	uint64_t us_max, us_total;	/* atomic: checkpoint durations */
	uint32_t hist[MB_CKPT_HIST];	/* under mu: the first durations, us */
	uint32_t hist_n;
};

/** Start the checkpointer (after the schema exists): its connection, the
 * writer's busy handler and WAL hook, the thread. 0 or negative code. */
int actr__mb_ckpt_start(actr_mailbox_t *mb);

/** Stop and join the thread, close its connection. Safe if not started. */
void actr__mb_ckpt_stop(actr_mailbox_t *mb);

/** Fill the checkpoint fields of st. */
void actr__mb_ckpt_stats(const actr_mailbox_t *mb, actr_mailbox_stats_t *st);

/** Copy up to max checkpoint durations (us, first MB_CKPT_HIST runs) into
 * out; returns how many (for the benchmark). */
size_t actr__mb_ckpt_durations(actr_mailbox_t *mb, uint32_t *out, size_t max);

/** Duration of the last commit in ns (for the benchmark). */
uint64_t actr__mb_last_commit_ns(const actr_mailbox_t *mb);

/* The crash journal's state (journal.c): owned by the mailbox, read and
 * written only by the actr__mb_jnl_* functions. */
struct mb_journal {
	int fd;				/* <path>-jnl, -1 if none */
	uint8_t *map;			/* header + ring, NULL if off */
	uint64_t size;			/* ring bytes */
	uint64_t head, tail, seq;	/* logical positions, next seq */
	const char *path;		/* the mailbox's path (log lines) */
};

/* The in-flight side file (inflight.c): its descriptor also holds the
 * mailbox's one-process lock. */
struct mb_lease {
	int fd;				/* <path>-inflight, -1 if none */
	uint64_t *map;			/* magic, nslots, slots */
	uint32_t nslots;		/* slots in the mapping */
	uint32_t *free_slots;		/* stack of unused slot numbers */
	uint32_t nfree;
	const char *path;		/* the mailbox's path (log lines) */
};

struct actr_mailbox {
	sqlite3 *db;
	struct mb_ckpt ckpt;		/* background checkpointer */
	uint64_t last_commit_ns;	/* duration of the last commit */
	actr_mailbox_opts_t o;
	char *path;
	struct mb_lease lease;		/* in-flight side file */

	struct mb_queue q[2];		/* High, Normal */
	struct actr__list segs;		/* every segment still referenced */

	struct actr__map inflight;	/* struct mb_msg by id (ifnode) */

	/* open batch */
	struct mb_pvec newmsgs;		/* enqueued in this batch, in order */
	uint64_t nheld;			/* of those, waiting for the commit */
	struct mb_seg *dirty_segs;
	struct mb_vec att_put;		/* pairs: id, attempts */
	struct mb_vec att_del;		/* ids */
	struct mb_dlq_pending *dlq_head, *dlq_tail;
	size_t ndlq_pending;
	struct mb_vec dlq_del;		/* DLQ entry ids */
	uint64_t next_id;		/* next message id */
	uint64_t stored_next_id;	/* ids below the value in actr_meta
					 * may be in use */
	uint64_t next_seg;
	uint8_t *blob;			/* segment encoding scratch */
	size_t blob_cap;

	struct mb_journal jnl;		/* crash journal, deliver_uncommitted
					 * mode */
	bool hold[2];			/* per priority: a message of this
					 * batch waits for the commit, so
					 * later ones do too (FIFO) */

	uint64_t loaded_max_id;		/* open: largest id in any segment */

	uint64_t durable_seq;
	bool pressure_on;
	actr_mailbox_stats_t st;

	actr_reactor_t *r;
	actr_hook_t hook;
	actr_timer_t retry;		/* commit again after an error */
	actr_timer_t flush;		/* paced commit / acks that waited */
	uint64_t flush_at;		/* its deadline while active */
	uint64_t last_commit;		/* monotonic ns of the last commit */
	uint64_t nacks_pending;		/* acks in the open batch */

	sqlite3_stmt *s_begin, *s_commit, *s_rollback;
	sqlite3_stmt *s_seg_ins, *s_seg_del, *s_ack_put, *s_ack_del;
	sqlite3_stmt *s_att_put, *s_att_del, *s_dlq_ins, *s_dlq_del;
	sqlite3_stmt *s_meta_put;
};

/* Enqueue a redriven DLQ entry as a new Normal message in the open batch. */
int actr__mb_enqueue_redrive(actr_mailbox_t *mb, const void *from,
			     size_t from_len, const void *payload,
			     size_t plen, uint32_t redrives, uint64_t now_ms,
			     uint64_t dlq_id);

/* Queue a DLQ insert in the open batch (takes ownership of p). */
void actr__mb_dlq_push(actr_mailbox_t *mb, struct mb_dlq_pending *p);

/* Message and vector helpers (mailbox.c). */
struct mb_msg *actr__mb_msg_new(int prio, const void *from, size_t from_len,
				actr_buf_t *payload);
void actr__mb_msg_free(struct mb_msg *m);
int actr__mb_pvec_push(struct mb_pvec *v, struct mb_msg *m);

/* ---- journal.c: the crash journal -------------------------------------- */

#define JNL_MAGIC 0x314a4d41u	/* "AMJ1" */
#define JNL_HDR 64		/* header bytes before the ring */
#define JNL_MIN (64u << 10)	/* smallest ring */

/* The file's header and records (the fuzz target builds them). */
struct jhdr {
	uint32_t magic;
	uint32_t version;
	uint64_t size;		/* ring bytes */
	uint64_t tail;		/* logical position of the oldest record */
};

#define JREC_MAGIC 0x52434a41u	/* "AJCR" */
#define JREC_WRAP 0x50524a41u	/* "AJRP": the rest of the ring is empty */

struct jrec {
	uint32_t magic;		/* JREC_MAGIC, or JREC_WRAP: go on at 0 */
	uint32_t len;		/* record bytes, a multiple of 8 */
	uint64_t seq;		/* consecutive */
	uint64_t sum;		/* of everything from id to the end */
	uint64_t live;		/* 1 until committed or acknowledged */
	uint64_t id;
	uint64_t enqueued_ms;
	uint64_t last_redrive_ms;
	uint32_t redrives;
	uint32_t from_len;
	uint32_t payload_len;
	uint32_t prio;
	uint8_t data[];		/* sender bytes, then payload */
};

uint64_t actr__mb_seg_sum(const uint8_t *p, size_t n);

/* Checksum of a record with body bytes of data (from id to the end). */
static inline uint64_t actr__mb_jrec_sum(const struct jrec *j, size_t body)
{
	return actr__mb_seg_sum((const uint8_t *)&j->id,
				sizeof(*j) - offsetof(struct jrec, id) + body);
}

/** Open (create) the journal file at file. 0 or -errno (logged). */
int actr__mb_jnl_open(struct mb_journal *j, const char *file);

/** Append the messages of live records (oldest first, ids and metadata
 * set, not queued) to out; *torn counts a record cut short by a crash.
 * A missing or foreign journal holds none. 0 or -ENOMEM/-errno. */
int actr__mb_jnl_scan(struct mb_journal *j, struct mb_pvec *out,
		      uint64_t *torn);

/** Start an empty journal with a ring of size bytes, mapped. 0 or -errno. */
int actr__mb_jnl_reset(struct mb_journal *j, uint32_t size);

/** Unmap and close (remove_file: truncate it to nothing first). */
void actr__mb_jnl_close(struct mb_journal *j, bool remove_file);

/** Record m (pending, id set); false when the ring has no room. */
bool actr__mb_jnl_put(struct mb_journal *j, struct mb_msg *m);

/** m was committed or acknowledged: its record is no longer live. */
void actr__mb_jnl_done(struct mb_journal *j, struct mb_msg *m);

/** Whether message id is pending and recorded in the journal (tests). */
bool actr__mb_journaled(const actr_mailbox_t *mb, uint64_t id);

/* ---- inflight.c: the in-flight side file ------------------------------- */

#define LEASE_MAGIC 0x31494d41u	/* "AMI1" */
#define LEASE_HDR 2		/* u64 words before the slots: magic, count */

/** Open (create) the side file at file and take the mailbox's
 * one-process lock on it. 0, -EBUSY (another process has the mailbox
 * open) or -errno; logged. */
int actr__mb_lease_open(struct mb_lease *l, const char *file);

/** Unmap, then close the file (releases the lock). Safe if not open. */
void actr__mb_lease_close(struct mb_lease *l);

/** Make room for n more in-flight slots (maps or grows the file). 0 or
 * negative code (logged). */
int actr__mb_lease_reserve(struct mb_lease *l, uint32_t n);

/** Ids in flight when the last process died (*ids malloc'd, unsorted; an
 * unreadable file counts as empty). 0 or -ENOMEM/-errno. */
int actr__mb_lease_read(struct mb_lease *l, uint64_t **ids, size_t *n);

/** Forget every slot (after recovery, at a clean close). */
void actr__mb_lease_clear(struct mb_lease *l);

/** Unmap and free the slot bookkeeping. */
void actr__mb_lease_unmap(struct mb_lease *l);

/** m goes in flight: record its id in a free slot (reserved before). */
static inline void actr__mb_lease_take(struct mb_lease *l, struct mb_msg *m)
{
	m->slot = l->free_slots[--l->nfree];
	__atomic_store_n(&l->map[LEASE_HDR + m->slot], m->pub.id,
			 __ATOMIC_RELAXED);
}

/** m leaves flight: clear its slot. */
static inline void actr__mb_lease_drop(struct mb_lease *l, struct mb_msg *m)
{
	__atomic_store_n(&l->map[LEASE_HDR + m->slot], 0, __ATOMIC_RELAXED);
	l->free_slots[l->nfree++] = m->slot;
}

/* Checksum of a stored batch's body (bytes after its 16-byte header). */
uint64_t actr__mb_seg_sum(const uint8_t *p, size_t n);

/* The connection, for tests (fault injection: max_page_count). */
sqlite3 *actr__mailbox_db(actr_mailbox_t *mb);
sqlite3 *actr__kv_db(actr_kv_t *kv);

#endif
