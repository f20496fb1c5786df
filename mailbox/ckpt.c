/*
 * The background checkpointer: a thread with its own SQLite connection that
 * copies the WAL into the database file, so the writer (the reactor
 * thread) only ever appends to the WAL and, with synchronous=NORMAL, never
 * waits for an fsync.
 *
 * Threads. The writer's connection has wal_autocheckpoint off; its WAL hook
 * (writer thread, after every commit) stores the WAL's frame count in an
 * atomic and wakes the thread once that passes checkpoint_pages. The
 * thread runs a PASSIVE checkpoint (never blocks the writer) and then, if
 * the WAL still holds more than wal_max_pages frames, a RESTART checkpoint:
 * it takes the write lock for the rest of the copy (the PASSIVE one did the
 * bulk) so that the next commit starts the WAL from its beginning again;
 * journal_size_limit then trims the file. That bounds the WAL file under
 * sustained load (a WAL that no checkpoint ever caught up with grew past
 * 1.7 GB in an earlier design). Should the thread fall behind (starved of
 * CPU) until the WAL holds 4 x wal_max_pages, the writer's hook runs the
 * RESTART itself, blocking that commit: a hard bound. While it holds the write lock the writer's
 * busy handler waits in 50 us steps (the only time the writer waits on
 * the thread). The thread touches nothing of the mailbox but this struct
 * (mutex, condition, atomics) and its own connection; it is started at
 * open and joined at close, before the writer's connection closes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mailbox/internal.h"

#define IDLE_MS 100		/* checkpoint what is left after a quiet spell */
#define BUSY_STEP_US 50		/* writer's wait step while RESTART runs */
#define BUSY_MAX_US 10000000	/* give up (SQLITE_BUSY) after 10 s */
#define CKPT_BUSY_MS 2000	/* the thread's wait for the write lock */

static uint64_t mono_us(void)
{
	return actr_time_ns() / 1000;
}

/* Writer connection: wait for the checkpointer's RESTART in short steps
 * (sqlite3_busy_timeout sleeps whole milliseconds). */
static int writer_busy(void *arg, int n)
{
	struct timespec ts = { 0, BUSY_STEP_US * 1000 };
	actr_mailbox_t *mb = arg; /* the writer thread's own fields */
	uint64_t t0 = mono_us();

	if ((uint64_t)n * BUSY_STEP_US >= BUSY_MAX_US)
		return 0;
	if (n == 0)
		mb->st.restart_waits++;
	nanosleep(&ts, NULL);
	mb->st.restart_wait_us += mono_us() - t0;
	return 1;
}

/* Checkpointer connection: RESTART waits for the write lock, which the
 * writer holds only during a commit; poll in short steps to find the gap
 * between two commits (sqlite3_busy_timeout sleeps 1, 2, 5.. ms). */
static int ckpt_busy(void *arg, int n)
{
	struct timespec ts = { 0, BUSY_STEP_US * 1000 };

	(void)arg;
	if ((uint64_t)n * BUSY_STEP_US >= CKPT_BUSY_MS * 1000ull)
		return 0;
	nanosleep(&ts, NULL);
	return 1;
}

/* Writer thread, after every commit: nothing but atomics, and a wake-up
 * when the WAL passed the threshold. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct mb_ckpt *c = arg;
	uint32_t p = pages > 0 ? (uint32_t)pages : 0, done, fresh;

	(void)db;
	(void)name;
	__atomic_store_n(&c->wal_pages, p, __ATOMIC_RELAXED);
	__atomic_add_fetch(&c->commits, 1, __ATOMIC_RELAXED);
	if (p > __atomic_load_n(&c->wal_pages_max, __ATOMIC_RELAXED))
		__atomic_store_n(&c->wal_pages_max, p, __ATOMIC_RELAXED);
	/* frames not yet copied: the WAL's frame count only shrinks when
	 * the WAL starts over, so count from the last checkpoint's mark */
	if (p < c->last_pages) /* the WAL started over */
		__atomic_store_n(&c->ckpt_done, 0, __ATOMIC_RELAXED);
	c->last_pages = p;
	done = __atomic_load_n(&c->ckpt_done, __ATOMIC_RELAXED);
	fresh = p >= done ? p - done : p;
	if (p >= c->hard_pages) {
		/* The thread fell behind (starved of CPU): the hard bound.
		 * Restart the WAL from here, blocking this commit. */
		struct timespec ts = { 0, BUSY_STEP_US * 1000 };
		int rc = SQLITE_BUSY;

		/* BUSY without the busy handler while the thread holds the
		 * checkpoint lock: wait for it, in short steps */
		for (uint64_t w = 0; w < BUSY_MAX_US; w += BUSY_STEP_US) {
			rc = sqlite3_wal_checkpoint_v2(
				db, NULL, SQLITE_CHECKPOINT_RESTART, NULL,
				NULL);
			if (rc != SQLITE_BUSY)
				break;
			nanosleep(&ts, NULL);
		}

		if (__atomic_add_fetch(&c->forced, 1, __ATOMIC_RELAXED) == 1 ||
		    rc != SQLITE_OK)
			actr_logw(MB_LOG, "%s: WAL at %u pages, checkpointed by "
				  "the writer: %s", c->path, p,
				  rc == SQLITE_OK ? "ok" : sqlite3_errmsg(db));
		if (rc == SQLITE_OK)
			__atomic_store_n(&c->ckpt_done, 0, __ATOMIC_RELAXED);
		return SQLITE_OK;
	}
	if ((fresh >= c->passive_pages || p > c->max_pages) &&
	    !__atomic_exchange_n(&c->kicked, true, __ATOMIC_ACQ_REL)) {
		pthread_mutex_lock(&c->mu);
		c->kick = true;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
	}
	return SQLITE_OK;
}

static void ckpt_run(struct mb_ckpt *c)
{
	uint64_t t0 = mono_us(), dt;
	int log = 0, done = 0, rc;

	rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
				       &log, &done);
	if (rc == SQLITE_OK && log > 0 && (uint32_t)log > c->max_pages) {
		rc = sqlite3_wal_checkpoint_v2(c->db, NULL,
					       SQLITE_CHECKPOINT_RESTART, &log,
					       &done);
		if (rc == SQLITE_OK) {
			__atomic_add_fetch(&c->restarts, 1, __ATOMIC_RELAXED);
			done = 0; /* the next commit starts the WAL over */
		}
	}
	dt = mono_us() - t0;
	if (rc == SQLITE_OK || rc == SQLITE_BUSY)
		__atomic_store_n(&c->ckpt_done, done > 0 ? (uint32_t)done : 0,
				 __ATOMIC_RELAXED);
	if (rc == SQLITE_BUSY) {
		/* the writer never left a gap: the hard bound remains */
		__atomic_add_fetch(&c->busy, 1, __ATOMIC_RELAXED);
		return;
	} else if (rc != SQLITE_OK) {
		if (__atomic_add_fetch(&c->errors, 1, __ATOMIC_RELAXED) < 10)
			actr_logw(MB_LOG, "%s: checkpoint failed: %s", c->path,
				  sqlite3_errmsg(c->db));
		return;
	}
	__atomic_add_fetch(&c->runs, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&c->us_total, dt, __ATOMIC_RELAXED);
	if (dt > __atomic_load_n(&c->us_max, __ATOMIC_RELAXED))
		__atomic_store_n(&c->us_max, dt, __ATOMIC_RELAXED);
	pthread_mutex_lock(&c->mu);
	if (c->hist_n < MB_CKPT_HIST)
		c->hist[c->hist_n++] = (uint32_t)ACTR_MIN(dt, UINT32_MAX);
	pthread_mutex_unlock(&c->mu);
}

static void *ckpt_main(void *arg)
{
	struct mb_ckpt *c = arg;
	uint64_t seen = 0;

	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		bool kicked;

		if (!c->kick) {
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_nsec += IDLE_MS * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&c->cv, &c->mu, &ts);
			if (c->stop)
				break;
		}
		kicked = c->kick;
		c->kick = false;
		pthread_mutex_unlock(&c->mu);
		__atomic_store_n(&c->kicked, false, __ATOMIC_RELEASE);
		{
			uint64_t n = __atomic_load_n(&c->commits,
						     __ATOMIC_RELAXED);

			/* kicked, or quiet with commits not yet copied */
			if (kicked || (n != seen &&
				       __atomic_load_n(&c->wal_pages,
						       __ATOMIC_RELAXED))) {
				seen = n;
				ckpt_run(c);
			}
		}
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int actr__mb_ckpt_start(actr_mailbox_t *mb)
{
	struct mb_ckpt *c = &mb->ckpt;
	pthread_condattr_t ca;
	sigset_t all, old;
	char sql[160];
	int rc;

	c->path = mb->path;
	/* actr_mailbox_open filled the defaults */
	c->passive_pages = mb->o.checkpoint_pages;
	c->max_pages = mb->o.wal_max_pages;
	if (c->max_pages < c->passive_pages)
		c->max_pages = c->passive_pages;
	c->hard_pages = 4 * c->max_pages;
	/* the writer trims the WAL file to this when it starts it again */
	snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit=%llu",
		 (unsigned long long)c->max_pages *
			 mb->o.page_size);
	rc = actr__db_exec(mb->db, sql);
	if (rc < 0)
		return rc;
	rc = sqlite3_open_v2(mb->path, &c->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		actr_loge(MB_LOG, "%s: checkpointer cannot open: %s", mb->path,
			  c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		rc = actr__sqlite_err(rc);
		goto fail;
	}
	sqlite3_extended_result_codes(c->db, 0);
	snprintf(sql, sizeof(sql),
		 "PRAGMA synchronous=%s; PRAGMA wal_autocheckpoint=0",
		 mb->o.sync == ACTR_MAILBOX_SYNC_NORMAL ? "NORMAL" : "FULL");
	rc = actr__db_exec(c->db, sql);
	if (rc < 0) {
		actr_loge(MB_LOG, "%s: checkpointer: %s", mb->path,
			  sqlite3_errmsg(c->db));
		goto fail;
	}
	sqlite3_busy_handler(c->db, ckpt_busy, NULL);
	sqlite3_busy_handler(mb->db, writer_busy, mb);
	if (pthread_mutex_init(&c->mu, NULL)) {
		rc = -ENOMEM;
		goto fail;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (rc) {
		pthread_mutex_destroy(&c->mu);
		rc = -ENOMEM;
		goto fail;
	}
	c->stop = false;
	c->kick = false;
	/* The thread takes no signals: the application's handling (e.g. a
	 * signalfd with SIGTERM blocked in the reactor thread) stays as is. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&c->th, NULL, ckpt_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mu);
		actr_loge(MB_LOG, "%s: checkpointer thread: %s", mb->path,
			  strerror(rc));
		rc = -rc;
		goto fail;
	}
	c->started = true;
	sqlite3_wal_hook(mb->db, wal_hook, c);
	return 0;

fail:
	sqlite3_close_v2(c->db);
	c->db = NULL;
	return rc;
}

void actr__mb_ckpt_stop(actr_mailbox_t *mb)
{
	struct mb_ckpt *c = &mb->ckpt;

	if (!c->started)
		return;
	sqlite3_wal_hook(mb->db, NULL, NULL);
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->th, NULL);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	sqlite3_close_v2(c->db);
	c->db = NULL;
	c->started = false;
}

void actr__mb_ckpt_stats(const actr_mailbox_t *mb, actr_mailbox_stats_t *st)
{
	const struct mb_ckpt *c = &mb->ckpt;

	st->checkpoints = __atomic_load_n(&c->runs, __ATOMIC_RELAXED);
	st->checkpoint_restarts = __atomic_load_n(&c->restarts,
						  __ATOMIC_RELAXED);
	st->checkpoint_us_max = __atomic_load_n(&c->us_max, __ATOMIC_RELAXED);
	st->checkpoint_us_total = __atomic_load_n(&c->us_total,
						  __ATOMIC_RELAXED);
	st->wal_pages = __atomic_load_n(&c->wal_pages, __ATOMIC_RELAXED);
	st->wal_pages_max = __atomic_load_n(&c->wal_pages_max,
					    __ATOMIC_RELAXED);
	st->checkpoints_forced = __atomic_load_n(&c->forced, __ATOMIC_RELAXED);
}

size_t actr__mb_ckpt_durations(actr_mailbox_t *mb, uint32_t *out, size_t max)
{
	struct mb_ckpt *c = &mb->ckpt;
	size_t n;

	if (!c->started)
		return 0;
	pthread_mutex_lock(&c->mu);
	n = ACTR_MIN(max, (size_t)c->hist_n);
	memcpy(out, c->hist, n * sizeof(*out));
	pthread_mutex_unlock(&c->mu);
	return n;
}
