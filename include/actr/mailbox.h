/*
 * Durable mailbox, dead-letter queue (DLQ) and per-actor key-value storage,
 * on SQLite in WAL mode.
 *
 * Model. Every inbound REQUEST/TELL is enqueued before it is handled and is
 * removed (acknowledged) only after its handler finished and its reply was
 * handed to the transport (PROTOCOL.md section 9). The whole backlog lives
 * in memory (two FIFO queues, High before Normal); SQLite is the durable
 * log the queues are rebuilt from at open. Nothing touches SQLite on the
 * dequeue path.
 *
 * Group commit. Enqueues, acks, failures and dead-letters are collected in
 * an open batch; actr_mailbox_commit() writes the whole batch in one
 * `BEGIN IMMEDIATE` transaction (one row per batch of new messages, one row
 * per touched batch for acknowledgements). After actr_mailbox_attach() a
 * CHECK hook at ACTR_ORDER_COMMIT commits once per reactor iteration,
 * after the dispatcher (ACTR_ORDER_DISPATCH) ran, if the batch holds
 * anything. An iteration's work is never split across transactions.
 * Two tunings:
 *  - min_commit_us (default 200 us): at most one commit per interval; an
 *    iteration soon after a commit leaves its batch open until the interval
 *    has passed (a timer commits it, on_commit reports it). At low rates
 *    nothing waits; at high rates this bounds the commits per second and
 *    so the WAL volume (every commit rewrites a few b-tree pages: at 50k
 *    msgs/s a commit per iteration wrote ~17k pages/s, paced ~7k).
 *  - ack_flush_ms (default off): a batch of nothing but acks is not urgent
 *    (a lost ack only means the message is delivered again): it rides with
 *    the next commit or is committed after ack_flush_ms (or at 4096 acks).
 *
 * Delivery modes (actr_mailbox_opts.deliver_uncommitted; the default is
 * true, with and without options, here and in the peer gate):
 *  - false ("stored before handled"): a message becomes visible to
 *    actr_mailbox_dequeue() only once the batch that stored it committed.
 *    Every dequeued message is durable. The price is latency: a message
 *    waits for a commit (with FULL, an fsync) before its handler runs.
 *  - true (default, "handled first"): a message is visible as soon as it is
 *    enqueued, after its bytes were copied into the crash journal
 *    (<path>-jnl, a ring in a shared file mapping: one memcpy, no
 *    syscall; it survives the process being killed, not a power loss).
 *    A message enqueued and acknowledged before the next commit is never
 *    written to SQLite at all (stats.elided); one still unacknowledged
 *    at the commit is written by it as usual. So when the handlers keep
 *    up, nothing waits for a commit and nothing is written, and:
 *    - a process crash loses no journaled message: the journal's
 *      live records are delivered again at open (a message that was in
 *      flight counts an attempt and is delivered alone, exactly as in
 *      the stored-first mode, so a poison message still ends in the DLQ);
 *    - a power loss loses what was neither handled nor committed, the
 *      same window as the stored-first mode's (enqueued, not yet committed).
 *    Replies need not be held for a commit: the message is acknowledged
 *    after its reply left, so a crash before that ack's commit delivers
 *    it again (at least once), as in the stored-first mode. A message that
 *    does not fit in the journal (journal_bytes, default 4 MiB) waits
 *    for its commit as in the stored-first mode, and so do later messages of
 *    its priority in that batch (FIFO is kept; stats.journal_full).
 *    journal_bytes = 0 turns the journal off: messages handed out
 *    before their commit are then lost if the process dies before it.
 *    actr_mailbox_msg_durable() tells whether a message's enqueue has
 *    been committed, for applications that want more than that.

 * Crash recovery. At open, every message stored but not acknowledged
 * (queued or in flight) is queued again in FIFO order. The ids of messages
 * in flight are mirrored in a small memory-mapped side file
 * (<path>-inflight: one memory store per dequeue and per ack, no syscall,
 * no fsync; the page cache keeps it across a process crash), so a message
 * that was being handled when the process died gets its attempt counted
 * and is then delivered alone (a "suspect"), so that a second crash blames
 * only it. After max_attempts it goes to the DLQ (category "crash_loop")
 * instead of crashing the process forever. Messages acked but not yet
 * committed at a crash are delivered again (at least once).
 *
 * Durability. sync = ACTR_MAILBOX_SYNC_FULL (default): a commit is on disk
 * when actr_mailbox_commit() returns (fsync of the WAL, on the calling
 * thread); survives power loss. ACTR_MAILBOX_SYNC_NORMAL: the WAL is synced
 * only by the checkpointer thread; survives a process crash, the last
 * commits may be lost on power loss. Both survive a process crash
 * (SIGKILL) with nothing committed lost.
 *
 * Checkpoints. A background thread with its own SQLite connection copies
 * the WAL into the database (the writer's automatic checkpoints are off),
 * so a commit only appends to the WAL: in NORMAL mode the reactor thread
 * never fsyncs and never copies pages; in FULL mode it fsyncs the WAL once
 * per commit. The thread runs a PASSIVE checkpoint (never blocks the
 * writer) when the WAL holds checkpoint_pages pages, and when it still
 * holds more than wal_max_pages a RESTART checkpoint, which holds the
 * write lock for the rest of the copy so that the WAL starts over; the
 * file is then trimmed to wal_max_pages pages. This bounds the WAL under
 * sustained load; the price is that a commit meeting a RESTART waits for
 * it (rare: once per wal_max_pages pages written). Should the thread fall
 * behind to 4 x wal_max_pages (starved of CPU), the commit that finds the
 * WAL that large checkpoints it itself (a hard bound).
 *
 * Memory: the whole unacknowledged backlog (payloads included) is held in
 * memory; use the backpressure marks to bound it.
 *
 * How the runtime's dispatcher uses it (one reactor thread):
 *   open + attach; the lane calls actr_mailbox_enqueue() for every inbound
 *   REQUEST/TELL (RPC_SIGNAL at High). The dispatcher's CHECK hook at
 *   ACTR_ORDER_DISPATCH calls actr_mailbox_dequeue() with its budget; per
 *   message: decode (undecodable: actr_mailbox_dead_letter(.., "decode",
 *   ..)), handle, hand the reply to the transport (or hold it while
 *   !actr_mailbox_msg_durable() and release it from on_commit), then
 *   actr_mailbox_ack(); a handler error: actr_mailbox_fail(). Keep the
 *   reactor from blocking while actr_mailbox_ready() is true (a PREPARE
 *   hook calling actr_reactor_limit_wait(r, 0)): in the stored-first mode new
 *   messages become ready in the commit at the end of the iteration.
 *
 * Ids are never reused (persisted counter), so a stale ack cannot remove a
 * newer message. One writer: the mailbox holds a lock (flock) on its
 * <path>-inflight side file while open; a second open of the same mailbox
 * (another process, or the same one) gets -EBUSY.
 *
 * Threads: every function here must be called from the thread that opened
 * the mailbox (the reactor thread once attached); that thread is the only
 * one that writes the mailbox's tables. actr_mailbox_open() starts one
 * helper thread, the checkpointer, and actr_mailbox_close() stops and
 * joins it. It has its own connection, blocks every signal, never calls
 * back into the application and never touches the reactor; it shares only
 * a mutex-guarded wake-up and counters with the writer. Do not fork()
 * and keep using a mailbox in the child.
 */
#ifndef ACTR_MAILBOX_H
#define ACTR_MAILBOX_H

#include <actr/api.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <actr/buf.h>
#include <actr/reactor.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct actr_mailbox actr_mailbox_t;

enum actr_mailbox_priority {
	ACTR_PRIO_HIGH = 0,	/* RPC_SIGNAL: served before Normal */
	ACTR_PRIO_NORMAL = 1,	/* everything else */
};

enum actr_mailbox_sync {
	ACTR_MAILBOX_SYNC_FULL = 0,	/* survives power loss (default) */
	ACTR_MAILBOX_SYNC_NORMAL = 1,	/* survives a process crash only */
};

/** A message handed out by actr_mailbox_dequeue(). Owned by the mailbox and
 * valid until it is acked, failed, dead-lettered or released; take a
 * reference on payload to keep the bytes longer. Read-only. */
typedef struct actr_mailbox_msg {
	uint64_t id;		/* unique, never reused */
	actr_buf_t *payload;	/* message bytes (e.g. an RpcEnvelope) */
	const uint8_t *from;	/* sender bytes (e.g. an encoded ActrId) */
	size_t from_len;	/* length of from */
	uint64_t enqueued_ms;	/* wall clock when first enqueued */
	uint64_t last_redrive_ms; /* wall clock of the last DLQ redrive, 0 */
	uint32_t attempts;	/* deliveries so far, this one included */
	uint32_t redrives;	/* times redriven from the DLQ */
	uint8_t priority;	/* enum actr_mailbox_priority */
} actr_mailbox_msg_t;

/** Called after every commit attempt that had something to write: rc 0 and
 * the new durable sequence number, or rc < 0 (the batch stays pending and is
 * retried at the next commit; nothing acknowledged is lost). */
typedef void (*actr_mailbox_commit_cb)(actr_mailbox_t *mb, int rc,
				       uint64_t seq, void *arg);

/** Called when depth (queued + in flight + uncommitted) reaches high_mark
 * (on = true) and when it falls back to low_mark (on = false), from
 * enqueue/ack/fail/dead-letter calls. Not called during open: a recovered
 * backlog shows in actr_mailbox_stats() and is judged at the next call. */
typedef void (*actr_mailbox_pressure_cb)(actr_mailbox_t *mb, bool on,
					 uint64_t depth, void *arg);

typedef struct actr_mailbox_opts {
	uint32_t struct_size;		/* sizeof this struct as the caller
					 * compiled it (0 = this header's):
					 * see <actr/util.h>, ACTR_OPTS */
	int sync;		/* enum actr_mailbox_sync, default FULL */
	uint32_t max_attempts;	/* deliveries before the DLQ, default 5 */
	bool deliver_uncommitted; /* see "Delivery modes"; default true
				   * (actr_mailbox_opts_init, NULL opts) */
	uint64_t high_mark;	/* backpressure on at this depth, 0 = off */
	uint64_t low_mark;	/* backpressure off at this depth */
	actr_mailbox_pressure_cb on_pressure; /* may be NULL */
	void *pressure_arg;	/* argument of on_pressure */
	actr_mailbox_commit_cb on_commit; /* may be NULL */
	void *commit_arg;	/* argument of on_commit */
	uint32_t max_payload;	/* enqueue limit in bytes, default 16 MiB */
	uint32_t checkpoint_pages; /* background checkpoint when the WAL
				    * holds this many pages, default 4096 */
	uint32_t wal_max_pages;	/* WAL bound: a RESTART checkpoint past
				 * this many pages; default 4 x
				 * checkpoint_pages */
	uint32_t page_size;	/* for a new file, default 4096 */
	uint32_t retry_ms;	/* commit retry after an error, default 100 */
	int32_t ack_flush_ms;	/* a batch of only acks waits up to this for
				 * the next commit; default 0 = acks are
				 * committed in their own iteration too */
	uint32_t min_commit_us;	/* at most one commit per this interval;
				 * default 200; 0 = every iteration */
	uint32_t journal_bytes;	/* deliver_uncommitted: size of the crash
				 * journal's ring; default 4 MiB; 0 = no
				 * journal (see "Delivery modes") */
} actr_mailbox_opts_t;

typedef struct actr_mailbox_stats {
	uint64_t queued_high;	/* waiting, High */
	uint64_t queued_normal;	/* waiting, Normal */
	uint64_t in_flight;	/* dequeued, not yet acked */
	uint64_t uncommitted;	/* enqueued in the open batch */
	uint64_t oldest_age_ms;	/* age of the oldest unacked message, 0 */
	uint64_t dlq_size;	/* entries in the dead-letter queue */
	uint64_t enqueued;	/* counters since open ... */
	uint64_t acked;
	uint64_t failed;	/* actr_mailbox_fail() calls */
	uint64_t dead_lettered;
	uint64_t recovered;	/* messages found at open */
	uint64_t commits;	/* successful commits */
	uint64_t commit_errors;	/* failed commits */
	uint64_t durable_seq;	/* sequence number of the last commit */
	uint64_t commit_us_max;	/* longest commit (writer thread) */
	uint64_t commit_us_total; /* time spent committing */
	uint64_t checkpoints;	/* background checkpoints run */
	uint64_t checkpoint_restarts; /* of those, WAL restarts (bound) */
	uint64_t checkpoint_us_max; /* longest (checkpointer thread) */
	uint64_t checkpoint_us_total;
	uint64_t wal_pages;	/* frames in the WAL after the last commit */
	uint64_t wal_pages_max;	/* most frames seen in the WAL */
	uint64_t restart_waits;	/* commits that waited for a RESTART */
	uint64_t restart_wait_us; /* and how long, in total */
	uint64_t checkpoints_forced; /* run by the writer: the thread fell
				      * behind to 4 x wal_max_pages */
	uint64_t elided;	/* enqueued and acked before any commit:
				 * never written */
	uint64_t journal_full;	/* deliver_uncommitted: messages that waited
				 * for their commit (journal full, or an
				 * earlier one of their priority waited) */
	uint64_t journal_recovered; /* messages found in the journal at open */
} actr_mailbox_stats_t;

/** Fill opts with the defaults. */
ACTR_API void actr_mailbox_opts_init(actr_mailbox_opts_t *opts);

/**
 * Open (or create) the mailbox at path and rebuild the queues from it,
 * delivering again every stored, unacknowledged message. opts may be NULL
 * (defaults); it is copied. On success *out owns the mailbox. No callback
 * runs before it returns.
 * Returns 0; -ACTR_ECORRUPT for a file that is not a SQLite database, a
 * damaged one, or a database of another schema; -EBUSY if another process
 * has it open; -ENOMEM, -EIO, -EACCES, -EINVAL. Every failure is logged
 * with the path and SQLite's message.
 */
ACTR_API int actr_mailbox_open(const char *path, const actr_mailbox_opts_t *opts,
		      actr_mailbox_t **out);

/** Delete the files of the closed mailbox at path: the database and its
 * side files (-wal, -shm, -inflight, -jnl). Missing files are not an
 * error. 0, or -errno of the first file that could not be removed. Not
 * while the mailbox is open (in any process). */
ACTR_API int actr_mailbox_remove(const char *path);

/** Commit what is pending (best effort), detach and free. In-flight
 * messages are not counted as failed attempts. NULL is ignored. */
ACTR_API void actr_mailbox_close(actr_mailbox_t *mb);

/** Commit once per iteration of r (CHECK hook at ACTR_ORDER_COMMIT) and
 * retry failed commits on a timer. 0, or -EBUSY if already attached. */
ACTR_API int actr_mailbox_attach(actr_mailbox_t *mb, actr_reactor_t *r);

/** Stop the hook and the retry timer. Safe if not attached. */
ACTR_API void actr_mailbox_detach(actr_mailbox_t *mb);

/**
 * Add a message to the open batch. from[0..from_len) is copied (may be
 * NULL/0); the mailbox takes its own reference on payload (the caller keeps
 * its own). *id (may be NULL) receives the new id.
 * Returns 0; -EINVAL (bad priority, NULL payload); -ACTR_ETOOBIG (payload
 * over max_payload or from over 64 KiB); -ENOMEM.
 */
ACTR_API int actr_mailbox_enqueue(actr_mailbox_t *mb, int priority, const void *from,
			 size_t from_len, actr_buf_t *payload, uint64_t *id);

/**
 * Move up to max deliverable messages, High before Normal, FIFO within a
 * priority, into out[] and mark them in flight (attempts + 1). The records
 * stay owned by the mailbox. Returns the number moved (0 when empty).
 */
ACTR_API size_t actr_mailbox_dequeue(actr_mailbox_t *mb, actr_mailbox_msg_t **out,
			    size_t max);

/** True if actr_mailbox_dequeue() would return a message now. */
ACTR_API bool actr_mailbox_ready(const actr_mailbox_t *mb);

/**
 * Acknowledge an in-flight message: the handler finished and its reply was
 * handed to the transport. The record is freed; the removal is durable at
 * the next commit. Returns 0, or -ACTR_ENOTFOUND for an id that is not in
 * flight (unknown, already acked: a stale ack never touches another
 * message).
 */
ACTR_API int actr_mailbox_ack(actr_mailbox_t *mb, uint64_t id);

/**
 * The handler failed on an in-flight message. Its attempt count is stored;
 * below max_attempts it goes back to the head of its queue (FIFO order is
 * kept), at max_attempts it moves to the DLQ (category "max_attempts",
 * reason as given, may be NULL). Returns 0 if requeued, 1 if
 * dead-lettered, -ACTR_ENOTFOUND, -ENOMEM.
 */
ACTR_API int actr_mailbox_fail(actr_mailbox_t *mb, uint64_t id, const char *reason);

/**
 * Move an in-flight message to the DLQ now (e.g. undecodable:
 * category "decode"). category and reason are copied (NULL = "unknown"/"").
 * Returns 0, -ACTR_ENOTFOUND, -ENOMEM.
 */
ACTR_API int actr_mailbox_dead_letter(actr_mailbox_t *mb, uint64_t id,
			     const char *category, const char *reason);

/** Put an in-flight message back at the head of its queue without counting
 * the attempt (e.g. the dispatcher ran out of budget). 0 or
 * -ACTR_ENOTFOUND. */
ACTR_API int actr_mailbox_release(actr_mailbox_t *mb, uint64_t id);

/**
 * Write the open batch in one transaction now. Returns 0 (also when there
 * was nothing to write) or a negative code (-ENOSPC for a full disk, -EIO,
 * -ACTR_ECORRUPT...): the batch stays pending in memory and is retried by
 * the next call; the error is logged and counted. Calls on_commit.
 */
ACTR_API int actr_mailbox_commit(actr_mailbox_t *mb);

/** Sequence number of the last successful commit (0 before the first). */
ACTR_API uint64_t actr_mailbox_durable_seq(const actr_mailbox_t *mb);

/** True if msg's enqueue has been committed (always true for dequeued
 * messages unless deliver_uncommitted is set). */
ACTR_API bool actr_mailbox_msg_durable(const actr_mailbox_t *mb,
			      const actr_mailbox_msg_t *msg);

/** Current counters. */
ACTR_API void actr_mailbox_stats(const actr_mailbox_t *mb, actr_mailbox_stats_t *st);

/* ---- dead-letter queue ------------------------------------------------- */

/** Which DLQ entries an operation applies to. Zeroed = all. */
typedef struct actr_dlq_filter {
	uint64_t id;		/* one entry, 0 = any */
	const char *category;	/* exact category, NULL = any */
	const void *from;	/* exact sender bytes, NULL = any */
	size_t from_len;	/* length of from */
	uint64_t since_ms;	/* created_ms >= since_ms */
	uint64_t until_ms;	/* created_ms < until_ms, 0 = no bound */
	uint64_t after_id;	/* entries with id > after_id (paging) */
	uint32_t limit;		/* at most this many, 0 = 1000 */
} actr_dlq_filter_t;

typedef struct actr_dlq_entry {
	uint64_t id;		/* DLQ entry id */
	uint64_t msg_id;	/* mailbox id it had, 0 if never enqueued */
	int priority;		/* priority it had */
	uint8_t *from;		/* sender bytes */
	size_t from_len;
	uint8_t *payload;	/* message bytes */
	size_t payload_len;
	char *category;		/* e.g. "decode", "max_attempts" */
	char *reason;		/* human-readable */
	uint64_t created_ms;	/* wall clock when dead-lettered */
	uint64_t last_redrive_ms; /* wall clock of the last redrive, 0 */
	uint32_t attempts;	/* deliveries before it was dead-lettered */
	uint32_t redrives;	/* times it was redriven before */
} actr_dlq_entry_t;

typedef struct actr_dlq_stats {
	uint64_t count;		/* entries */
	uint64_t oldest_ms;	/* created_ms of the oldest, 0 if none */
	uint64_t newest_ms;	/* created_ms of the newest, 0 if none */
	uint64_t redriven;	/* entries redriven at least once before */
} actr_dlq_stats_t;

/**
 * Put bytes that never became a mailbox message (e.g. an envelope that could
 * not be decoded at the transport) into the DLQ, in the open batch.
 * Everything is copied. 0, -EINVAL, -ENOMEM.
 */
ACTR_API int actr_dlq_add(actr_mailbox_t *mb, const void *from, size_t from_len,
		 const void *payload, size_t payload_len, const char *category,
		 const char *reason);

/**
 * Entries matching f (NULL = all), oldest first. Commits the open batch
 * first. On success *out is a malloc'd array of *n entries the caller frees
 * with actr_dlq_entries_free(). Returns 0 or a negative code.
 */
ACTR_API int actr_dlq_query(actr_mailbox_t *mb, const actr_dlq_filter_t *f,
		   actr_dlq_entry_t **out, size_t *n);

ACTR_API void actr_dlq_entries_free(actr_dlq_entry_t *e, size_t n);

/**
 * Put matching entries back into the mailbox at Normal priority as new
 * messages (new ids, attempts 0, redrives + 1) and remove them from the
 * DLQ, in one transaction. Returns the number redriven (>= 0) or a
 * negative code.
 */
ACTR_API int actr_dlq_redrive(actr_mailbox_t *mb, const actr_dlq_filter_t *f);

/** Delete matching entries. Returns the number deleted or a negative
 * code. */
ACTR_API int actr_dlq_delete(actr_mailbox_t *mb, const actr_dlq_filter_t *f);

/** Count, age and redrive figures of the entries matching f (NULL =
 * all). 0 or a negative code. */
ACTR_API int actr_dlq_stats(actr_mailbox_t *mb, const actr_dlq_filter_t *f,
		   actr_dlq_stats_t *st);

/**
 * A committed, unacknowledged message as actr_mailbox_peek() reads it.
 * Valid during the callback only.
 */
typedef struct actr_mailbox_stored {
	uint64_t id;		/* the message id */
	uint64_t enqueued_ms;	/* wall clock when first enqueued */
	uint32_t attempts;	/* failed or crashed deliveries recorded */
	uint32_t redrives;	/* times redriven from the DLQ */
	uint8_t priority;	/* enum actr_mailbox_priority */
	const uint8_t *from;	/* sender bytes (e.g. an encoded ActrId) */
	size_t from_len;
	const uint8_t *data;	/* message bytes (e.g. an RpcEnvelope) */
	size_t len;
} actr_mailbox_stored_t;

/** Return non-zero to stop the walk. */
typedef int (*actr_mailbox_peek_fn)(const actr_mailbox_stored_t *m,
				    void *arg);

/**
 * Walk the messages waiting in the mailbox file at path, in id order,
 * without opening it as a mailbox: a read-only SQLite reader in one read
 * transaction, so it works next to the node that has the mailbox open
 * (WAL). Sees what is committed: messages of a batch not yet committed
 * (and, with deliver_uncommitted, those only in the crash journal) are
 * not there yet; messages being handled are (they are acknowledged when
 * done). Returns the number of messages visited, or -ACTR_ENOTFOUND (no
 * such file), -EACCES, -ACTR_ECORRUPT (not a mailbox, or a damaged
 * batch), -ENOMEM.
 */
ACTR_API int actr_mailbox_peek(const char *path, actr_mailbox_peek_fn fn,
			       void *arg);

#ifdef __cplusplus
}
#endif
#endif
