/*
 * The mailbox's error exits, driven through actr__sys (test/fault.h): a
 * sync failing at commit (through the "actr" VFS), the crash journal and
 * the in-flight side file failing at open, allocation failing in enqueue.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/mailbox.h>

#include "fault.h"
#include "mailbox/internal.h"
#include "test.h"

static char *tpath(const char *name)
{
	static char p[4][512];
	static int i;
	char *s = p[i++ % 4];

	snprintf(s, 512, "%s/%s", actr_test_tmpdir(), name);
	return s;
}

static int enq(actr_mailbox_t *mb, const char *text)
{
	actr_buf_t *b = actr_buf_copy(text, strlen(text));
	int rc = actr_mailbox_enqueue(mb, ACTR_PRIO_NORMAL, "a", 1, b, NULL);

	actr_buf_unref(b);
	return rc;
}

/* Dequeue and ack everything; the payloads, in order, joined by ','. */
static void take_all(actr_mailbox_t *mb, char *out, size_t cap)
{
	actr_mailbox_msg_t *m[16];
	size_t n, len = 0;

	out[0] = 0;
	for (int round = 0; round < 100; round++) {
		n = actr_mailbox_dequeue(mb, m, 16);
		if (!n)
			break;
		for (size_t i = 0; i < n; i++) {
			len += (size_t)snprintf(out + len, cap - len, "%s%.*s",
						len ? "," : "",
						(int)m[i]->payload->len,
						(const char *)m[i]->payload->data);
			CHECK_OK(actr_mailbox_ack(mb, m[i]->id));
		}
	}
}

struct commits {
	int ok;		/* on_commit with 0 */
	int failed;	/* on_commit with an error */
	int last;	/* its last code */
};

static void on_commit(actr_mailbox_t *mb, int rc, uint64_t seq, void *arg)
{
	struct commits *c = arg;

	if (rc)
		c->failed++;
	else
		c->ok++;
	c->last = rc;
}

TEST(fault_mailbox_sync_fails_commit_kept_and_retried)
{
	const char *path = tpath("sync.db");
	actr_mailbox_opts_t o;
	actr_mailbox_stats_t st;
	actr_mailbox_t *mb = NULL;
	char got[256];

	actr_mailbox_opts_init(&o);
	CHECK_OK(actr_mailbox_open(path, &o, &mb));
	CHECK_OK(enq(mb, "one"));
	CHECK_OK(enq(mb, "two"));
	fault_arm(FAULT_FDATASYNC, 1, EIO, true, -1);
	CHECK_EQ(actr_mailbox_commit(mb), -EIO);
	CHECK(fault_hits(FAULT_FDATASYNC) >= 1);
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.commit_errors, 1);
	CHECK_EQ(st.commits, 0);
	CHECK_EQ(st.uncommitted, 2); /* the batch is kept */
	CHECK_EQ(actr_mailbox_commit(mb), -EIO); /* still failing */
	fault_reset();
	CHECK_OK(actr_mailbox_commit(mb));
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.commits, 1);
	CHECK_EQ(st.commit_errors, 2);
	CHECK_EQ(st.uncommitted, 0);
	actr_mailbox_close(mb);
	/* exactly once on disk: the failed attempts left nothing behind */
	mb = NULL;
	CHECK_OK(actr_mailbox_open(path, &o, &mb));
	take_all(mb, got, sizeof(got));
	CHECK_STR(got, "one,two");
	actr_mailbox_close(mb);
}

TEST(fault_mailbox_sync_fails_retry_timer_commits)
{
	/* Attached: the failure reaches on_commit, the retry timer commits
	 * once the sync works again. */
	actr_reactor_t *r = actr_reactor_new();
	struct commits c = { 0 };
	actr_mailbox_opts_t o;
	actr_mailbox_stats_t st;
	actr_mailbox_t *mb = NULL;
	char got[256];

	CHECK(r);
	actr_mailbox_opts_init(&o);
	o.on_commit = on_commit;
	o.commit_arg = &c;
	o.retry_ms = 1;
	CHECK_OK(actr_mailbox_open(tpath("retry.db"), &o, &mb));
	CHECK_OK(actr_mailbox_attach(mb, r));
	fault_arm(FAULT_FDATASYNC, 1, EIO, false, -1);
	CHECK_OK(enq(mb, "x"));
	for (int i = 0; i < 1000 && !c.ok; i++)
		CHECK(actr_reactor_run_once(r, 100) >= 0);
	CHECK_EQ(fault_hits(FAULT_FDATASYNC), 1);
	fault_reset();
	CHECK_EQ(c.failed, 1);
	CHECK_EQ(c.ok, 1);
	CHECK_EQ(c.last, 0);
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.commit_errors, 1);
	CHECK_EQ(st.commits, 1);
	take_all(mb, got, sizeof(got));
	CHECK_STR(got, "x");
	actr_mailbox_detach(mb);
	actr_mailbox_close(mb);
	actr_reactor_free(r);
}

/* Open with the journal on while call fails once (the nth time); the code
 * is returned, nothing is left open, and a later open works. */
static void journal_open_fails(const char *name, enum fault_call call,
			       unsigned nth, int err)
{
	actr_mailbox_opts_t o;
	actr_mailbox_t *mb = NULL;

	actr_mailbox_opts_init(&o);
	o.deliver_uncommitted = true;
	fault_arm(call, nth, err, false, -1);
	CHECK_EQ(actr_mailbox_open(tpath(name), &o, &mb), -err);
	CHECK(mb == NULL);
	CHECK_EQ(fault_hits(call), 1);
	fault_reset();
	CHECK_OK(actr_mailbox_open(tpath(name), &o, &mb));
	CHECK_OK(enq(mb, "y"));
	actr_mailbox_close(mb);
}

TEST(fault_mailbox_journal_open_failures)
{
	/* open: 1 = the side file, 2 = the journal */
	journal_open_fails("j1.db", FAULT_OPEN, 1, EACCES);
	journal_open_fails("j2.db", FAULT_OPEN, 2, EMFILE);
	/* ftruncate: 1 = the side file's map, 2 and 3 = the journal reset */
	journal_open_fails("j3.db", FAULT_FTRUNCATE, 1, EFBIG);
	journal_open_fails("j4.db", FAULT_FTRUNCATE, 2, EIO);
	journal_open_fails("j5.db", FAULT_FTRUNCATE, 3, ENOSPC);
	journal_open_fails("j6.db", FAULT_FALLOCATE, 1, ENOSPC);
	/* mmap: the side file, then the journal */
	journal_open_fails("j7.db", FAULT_MMAP, 1, ENOMEM);
	journal_open_fails("j8.db", FAULT_MMAP, 2, ENOMEM);
}

TEST(fault_mailbox_enqueue_enomem_nothing_lost)
{
	const char *path = tpath("nomem.db");
	actr_mailbox_stats_t st;
	actr_mailbox_t *mb = NULL;
	actr_buf_t *lost;
	char got[65536];
	int rc = 0, ok = 2;

	CHECK_OK(actr_mailbox_open(path, NULL, &mb));
	CHECK_OK(enq(mb, "a"));
	CHECK_OK(enq(mb, "b"));
	lost = actr_buf_copy("lost", 4); /* (buffers allocate too) */
	fault_arm(FAULT_MALLOC, 1, ENOMEM, false, -1);
	CHECK_EQ(actr_mailbox_enqueue(mb, ACTR_PRIO_NORMAL, "a", 1, lost,
				      NULL),
		 -ENOMEM);
	fault_reset();
	actr_buf_unref(lost); /* the mailbox took no reference */
	/* the batch vector cannot grow: -ENOMEM once it is full */
	fault_arm(FAULT_REALLOC, 1, ENOMEM, true, -1);
	for (int i = 0; i < 4096 && rc == 0; i++) {
		char t[16];

		snprintf(t, sizeof(t), "m%d", i);
		rc = enq(mb, t);
		ok += rc == 0;
	}
	fault_reset();
	CHECK_EQ(rc, -ENOMEM);
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.enqueued, (uint64_t)ok);
	CHECK_OK(actr_mailbox_commit(mb));
	actr_mailbox_close(mb);
	mb = NULL;
	CHECK_OK(actr_mailbox_open(path, NULL, &mb));
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.recovered, (uint64_t)ok);
	take_all(mb, got, sizeof(got));
	CHECK(!strncmp(got, "a,b", 3));
	CHECK(!strstr(got, "lost"));
	actr_mailbox_close(mb);
}
