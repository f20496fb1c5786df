/* Tests of the mailbox's background checkpointer (mailbox/ckpt.c): the WAL
 * stays bounded under sustained load, the thread comes and goes with the
 * mailbox, one process per mailbox without the exclusive SQLite lock. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/mailbox.h>

#include "mailbox/internal.h"
#include "test.h"

static const char *ck_path(const char *name, const char *suffix)
{
	static char p[2][512];
	static int i;
	char *s = p[i++ % 2];

	snprintf(s, 512, "%s/%s%s", actr_test_tmpdir(), name, suffix);
	return s;
}

static long long file_size(const char *p)
{
	struct stat sb;

	return stat(p, &sb) == 0 ? (long long)sb.st_size : 0;
}

static int nthreads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* One round: n messages of len bytes in, committed, all out, acked,
 * committed. Returns 0 or the first error. */
static int round_trip(actr_mailbox_t *mb, actr_buf_t *b, int n)
{
	actr_mailbox_msg_t *out[64];
	size_t got;
	int rc;

	for (int i = 0; i < n; i++) {
		rc = actr_mailbox_enqueue(mb, ACTR_PRIO_NORMAL, "t", 1, b,
					  NULL);
		if (rc)
			return rc;
	}
	rc = actr_mailbox_commit(mb);
	if (rc)
		return rc;
	while ((got = actr_mailbox_dequeue(mb, out, 64)))
		for (size_t i = 0; i < got; i++)
			if ((rc = actr_mailbox_ack(mb, out[i]->id)))
				return rc;
	return actr_mailbox_commit(mb);
}

TEST_TIMEOUT(mailbox_ckpt_wal_bounded_under_load, 60)
{
	const char *db = ck_path("load.db", "");
	const char *wal = ck_path("load.db", "-wal");
	actr_mailbox_opts_t o;
	actr_mailbox_t *mb = NULL;
	actr_mailbox_stats_t st;
	actr_buf_t *b = actr_buf_new(1024);
	struct timespec pause = { 0, 100 * 1000 };
	long long max = 0, written = 0, bound;
	uint64_t keep = 0, end = actr_time_ns() + ACTR_SEC(20);
	int rounds = 0;

	memset(b->data, 'w', b->len);
	actr_mailbox_opts_init(&o);
	o.sync = ACTR_MAILBOX_SYNC_NORMAL;
	o.checkpoint_pages = 64;
	o.wal_max_pages = 256;
	CHECK_OK(actr_mailbox_open(db, &o, &mb));
	/* A message left unacknowledged throughout: it must survive every
	 * checkpoint and WAL restart. */
	CHECK_OK(actr_mailbox_enqueue(mb, ACTR_PRIO_HIGH, "k", 1, b, &keep));
	CHECK_OK(actr_mailbox_commit(mb));
	/* Sustained load, writing far more than the bound: each round adds
	 * about 20 KiB to the WAL; without a checkpoint the WAL would reach
	 * tens of MB. Paced a little, as the reactor's min_commit_us does,
	 * and bounded in rounds and time. */
	{
		actr_mailbox_msg_t *m;

		CHECK_EQ(actr_mailbox_dequeue(mb, &m, 1), 1);
		CHECK_EQ(m->id, keep); /* held in flight: never acked here */
	}
	while (rounds < 4000 && actr_time_ns() < end) {
		CHECK_OK(round_trip(mb, b, 20));
		rounds++;
		written += 20 * 1100;
		if (file_size(wal) > max)
			max = file_size(wal);
		nanosleep(&pause, NULL);
	}
	actr_mailbox_stats(mb, &st);
	/* The WAL restarts past wal_max_pages; it may grow by what the writer
	 * adds while the checkpointer catches up (a loaded machine delays the
	 * thread), but never past 4 x wal_max_pages (+ one commit): there the
	 * writer checkpoints itself. */
	bound = (4 * 256 + 256) * (4096 + 24);
	fprintf(stderr, "rounds %d, written %lld B, WAL max %lld B (bound "
		"%lld), %llu checkpoints, %llu restarts, %llu forced, WAL max "
		"%llu pages\n",
		rounds, written, max, bound,
		(unsigned long long)st.checkpoints,
		(unsigned long long)st.checkpoint_restarts,
		(unsigned long long)st.checkpoints_forced,
		(unsigned long long)st.wal_pages_max);
	CHECK(rounds >= 1000);
	CHECK(written > 4 * bound);
	CHECK(max > 0 && max <= bound);
	CHECK(st.checkpoints > 0);
	CHECK(st.checkpoint_restarts > 0);
	CHECK_EQ(st.commit_errors, 0);
	CHECK(st.wal_pages_max > 0 && st.wal_pages_max <= 4 * 256 + 256);
	/* A crash-like end (in flight, not closed cleanly is covered by the
	 * SIGKILL tests); here: close and the kept message is delivered. */
	actr_mailbox_close(mb);
	CHECK_OK(actr_mailbox_open(db, &o, &mb));
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.recovered, 1);
	{
		actr_mailbox_msg_t *m;

		CHECK_EQ(actr_mailbox_dequeue(mb, &m, 1), 1);
		CHECK_EQ(m->id, keep);
		CHECK_EQ(m->payload->len, 1024);
	}
	actr_mailbox_close(mb);
	actr_buf_unref(b);
}

TEST_TIMEOUT(mailbox_ckpt_thread_stop_start, 60)
{
	const char *db = ck_path("ss.db", "");
	actr_mailbox_opts_t o;
	actr_mailbox_t *mb = NULL, *mb2 = NULL;
	actr_mailbox_stats_t st;
	actr_buf_t *b = actr_buf_new(2048);
	int base = nthreads();
	uint64_t total_ckpts = 0;
	pid_t pid;
	int ws = 0;

	CHECK(base >= 1);
	memset(b->data, 's', b->len);
	actr_mailbox_opts_init(&o);
	o.checkpoint_pages = 16;
	o.wal_max_pages = 64;
	o.sync = ACTR_MAILBOX_SYNC_NORMAL;
	for (int cycle = 0; cycle < 12; cycle++) {
		uint64_t id;

		o.sync = cycle % 2 ? ACTR_MAILBOX_SYNC_FULL :
				     ACTR_MAILBOX_SYNC_NORMAL;
		CHECK_OK(actr_mailbox_open(db, &o, &mb));
		/* one checkpointer thread while open */
		CHECK_EQ(nthreads(), base + 1);
		actr_mailbox_stats(mb, &st);
		CHECK_EQ(st.recovered, cycle ? 1u : 0u); /* the last one kept */
		for (int i = 0; i < 30; i++)
			CHECK_OK(round_trip(mb, b, 4));
		CHECK_OK(actr_mailbox_enqueue(mb, ACTR_PRIO_NORMAL, "c", 1, b,
					      &id));
		CHECK_OK(actr_mailbox_commit(mb));
		/* the checkpointer caught up within a bounded wait */
		for (int i = 0; i < 400; i++) {
			actr_mailbox_stats(mb, &st);
			if (st.checkpoints)
				break;
			usleep(5000);
		}
		CHECK(st.checkpoints > 0);
		total_ckpts += st.checkpoints;
		if (cycle == 0) {
			/* one process per mailbox: another process is
			 * refused while this one has it open */
			pid = fork();
			CHECK(pid >= 0);
			if (pid == 0)
				_exit(actr_mailbox_open(db, &o, &mb2) ==
					      -EBUSY ?
					      0 :
					      1);
			CHECK_EQ(waitpid(pid, &ws, 0), pid);
			CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
			/* and in this process too */
			CHECK_EQ(actr_mailbox_open(db, &o, &mb2), -EBUSY);
			CHECK(!mb2);
			CHECK_EQ(nthreads(), base + 1);
		}
		actr_mailbox_close(mb);
		mb = NULL;
		/* the thread is gone with the mailbox */
		CHECK_EQ(nthreads(), base);
	}
	CHECK(total_ckpts >= 12);
	actr_buf_unref(b);
}
