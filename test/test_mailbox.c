/* Tests of mailbox/: ordering, priorities, batching, ack, recovery, DLQ,
 * stats, backpressure, bad files, full disk, reactor group commit. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/mailbox.h>

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

static int enq(actr_mailbox_t *mb, int prio, const char *from,
	       const char *text, uint64_t *id)
{
	actr_buf_t *b = actr_buf_copy(text, strlen(text));
	int rc = actr_mailbox_enqueue(mb, prio, from, from ? strlen(from) : 0,
				      b, id);

	actr_buf_unref(b);
	return rc;
}

static bool text_is(const actr_mailbox_msg_t *m, const char *s)
{
	return m->payload->len == strlen(s) &&
	       !memcmp(m->payload->data, s, m->payload->len);
}

static long long count_rows(actr_mailbox_t *mb, const char *table)
{
	char sql[128];
	sqlite3_stmt *st;
	long long n = -1;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	if (sqlite3_prepare_v2(actr__mailbox_db(mb), sql, -1, &st, NULL))
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static actr_mailbox_t *open_mb(const char *path, actr_mailbox_opts_t *o)
{
	actr_mailbox_t *mb = NULL;

	CHECK_OK(actr_mailbox_open(path, o, &mb));
	CHECK(mb);
	return mb;
}

/* Options for the "stored before handled" mode (not the default). */
static actr_mailbox_opts_t *stored_first(void)
{
	static actr_mailbox_opts_t o;

	actr_mailbox_opts_init(&o);
	o.deliver_uncommitted = false;
	return &o;
}

/* One default, with and without options: handled first (a message is
 * ready before any commit). Passing options for another reason (a
 * pressure callback) must not switch the delivery mode. */
TEST(mailbox_defaults_same_with_and_without_opts)
{
	actr_mailbox_opts_t o;
	actr_mailbox_t *mb;
	uint64_t id;

	mb = open_mb(tpath("d1.db"), NULL);
	CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, "a", "x", &id));
	CHECK(actr_mailbox_ready(mb));
	actr_mailbox_close(mb);

	actr_mailbox_opts_init(&o);
	CHECK(o.deliver_uncommitted);
	o.high_mark = 100;
	o.low_mark = 10;
	mb = open_mb(tpath("d2.db"), &o);
	CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, "a", "x", &id));
	CHECK(actr_mailbox_ready(mb));
	actr_mailbox_close(mb);
}

TEST(mailbox_priority_fifo_batches)
{
	actr_mailbox_t *mb = open_mb(tpath("a.db"), stored_first());
	actr_mailbox_msg_t *out[8];
	char t[16];
	uint64_t id, last = 0;

	/* interleave: n0 h0 n1 h1 ... */
	for (int i = 0; i < 5; i++) {
		snprintf(t, sizeof(t), "n%d", i);
		CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, "alice", t, &id));
		CHECK(id > last);
		last = id;
		snprintf(t, sizeof(t), "h%d", i);
		CHECK_OK(enq(mb, ACTR_PRIO_HIGH, "bob", t, &id));
		CHECK(id > last);
		last = id;
	}
	/* Stored before handled: nothing is visible before the commit. */
	CHECK(!actr_mailbox_ready(mb));
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 8), 0);
	CHECK_OK(actr_mailbox_commit(mb));
	CHECK_EQ(count_rows(mb, "actr_seg"), 1); /* one row per batch */
	CHECK(actr_mailbox_ready(mb));
	/* batches of 3: h0 h1 h2 | h3 h4 n0 | n1 n2 n3 | n4 */
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 3), 3);
	CHECK(text_is(out[0], "h0") && text_is(out[1], "h1") &&
	      text_is(out[2], "h2"));
	CHECK_EQ(out[0]->priority, ACTR_PRIO_HIGH);
	CHECK_EQ(out[0]->from_len, 3);
	CHECK_MEM(out[0]->from, "bob", 3);
	CHECK_EQ(out[0]->attempts, 1);
	CHECK(actr_mailbox_msg_durable(mb, out[0]));
	for (int i = 0; i < 3; i++)
		CHECK_OK(actr_mailbox_ack(mb, out[i]->id));
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 3), 3);
	CHECK(text_is(out[0], "h3") && text_is(out[1], "h4") &&
	      text_is(out[2], "n0"));
	CHECK_EQ(out[2]->priority, ACTR_PRIO_NORMAL);
	/* A High message arriving now overtakes the queued Normals. */
	CHECK_OK(enq(mb, ACTR_PRIO_HIGH, NULL, "h5", NULL));
	CHECK_OK(actr_mailbox_commit(mb));
	for (int i = 0; i < 3; i++)
		CHECK_OK(actr_mailbox_ack(mb, out[i]->id));
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 8), 5);
	CHECK(text_is(out[0], "h5") && text_is(out[1], "n1") &&
	      text_is(out[4], "n4"));
	CHECK_EQ(out[0]->from_len, 0);
	for (int i = 0; i < 5; i++)
		CHECK_OK(actr_mailbox_ack(mb, out[i]->id));
	CHECK_EQ(actr_mailbox_ack(mb, 999999),
		 -ACTR_ENOTFOUND);
	CHECK_OK(actr_mailbox_commit(mb));
	/* everything acked: no rows left */
	CHECK_EQ(count_rows(mb, "actr_seg"), 0);
	CHECK_EQ(count_rows(mb, "actr_ack"), 0);
	CHECK(!actr_mailbox_ready(mb));
	actr_mailbox_close(mb);
}

TEST(mailbox_recover_unacked_and_ids_not_reused)
{
	const char *p = tpath("r.db");
	actr_mailbox_t *mb = open_mb(p, NULL);
	actr_mailbox_msg_t *out[16];
	actr_mailbox_stats_t st;
	char t[16];
	uint64_t id, stale;

	for (int i = 0; i < 10; i++) {
		snprintf(t, sizeof(t), "m%d", i);
		CHECK_OK(enq(mb, i == 7 ? ACTR_PRIO_HIGH : ACTR_PRIO_NORMAL,
			     "x", t, NULL));
	}
	CHECK_OK(actr_mailbox_commit(mb));
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 4), 4); /* m7 m0 m1 m2 */
	CHECK(text_is(out[0], "m7"));
	CHECK_OK(actr_mailbox_ack(mb, out[0]->id));
	stale = out[2]->id;
	CHECK_OK(actr_mailbox_ack(mb, out[2]->id)); /* m1 */
	CHECK_OK(actr_mailbox_commit(mb));
	CHECK_EQ(count_rows(mb, "actr_ack"), 1); /* batch partly acked */
	/* m0 and m2 stay in flight; m3..m9 queued; also one uncommitted
	 * ack (m0) is written by close. */
	CHECK_OK(actr_mailbox_ack(mb, out[1]->id));
	actr_mailbox_close(mb);

	mb = open_mb(p, NULL);
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.recovered, 7);
	CHECK_EQ(st.queued_normal, 7);
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 16), 7);
	CHECK(text_is(out[0], "m2"));
	CHECK_EQ(out[0]->attempts, 1); /* clean close: no attempt counted */
	for (int i = 1; i < 7; i++) {
		snprintf(t, sizeof(t), "m%d", i + 2);
		if (i + 2 >= 7)
			snprintf(t, sizeof(t), "m%d", i + 3);
		CHECK(text_is(out[i], t));
	}
	/* A stale ack of an acked id does nothing. */
	CHECK_EQ(actr_mailbox_ack(mb, stale), -ACTR_ENOTFOUND);
	for (int i = 0; i < 7; i++)
		CHECK_OK(actr_mailbox_ack(mb, out[i]->id));
	CHECK_OK(actr_mailbox_commit(mb));
	CHECK_EQ(count_rows(mb, "actr_seg"), 0);
	actr_mailbox_close(mb);

	/* All rows gone, yet ids continue after the highest ever given. */
	mb = open_mb(p, NULL);
	CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, NULL, "new", &id));
	CHECK(id > 10);
	actr_mailbox_close(mb);
}

static void count_commit(actr_mailbox_t *mb, int rc, uint64_t seq,
			 void *arg)
{
	int *n = arg;

	(void)mb;
	(void)seq;
	if (rc == 0)
		n[0]++;
	else
		n[1]++;
}

TEST(mailbox_deliver_uncommitted_and_elision)
{
	actr_mailbox_opts_t o;
	actr_mailbox_t *mb;
	actr_mailbox_msg_t *out[4];
	int commits[2] = { 0, 0 };

	actr_mailbox_opts_init(&o);
	o.deliver_uncommitted = true;
	o.on_commit = count_commit;
	o.commit_arg = commits;
	mb = open_mb(tpath("u.db"), &o);
	CHECK_EQ(commits[0], 0); /* nothing to recover, nothing written */
	CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, NULL, "a", NULL));
	CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, NULL, "b", NULL));
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 4), 2);
	CHECK(!actr_mailbox_msg_durable(mb, out[0]));
	CHECK_OK(actr_mailbox_ack(mb, out[0]->id));
	CHECK_OK(actr_mailbox_commit(mb));
	CHECK_EQ(commits[0], 1);
	CHECK_EQ(actr_mailbox_durable_seq(mb), 1);
	/* b stays in flight and is now durable; a was never written */
	CHECK(actr_mailbox_msg_durable(mb, out[1]));
	CHECK_EQ(count_rows(mb, "actr_seg"), 1);
	CHECK_OK(actr_mailbox_ack(mb, out[1]->id));
	CHECK_OK(actr_mailbox_commit(mb));
	CHECK_EQ(count_rows(mb, "actr_seg"), 0);
	CHECK_OK(actr_mailbox_commit(mb)); /* nothing to do: no callback */
	CHECK_EQ(commits[0], 2);
	actr_mailbox_close(mb);
}

TEST(mailbox_fail_retry_then_dlq)
{
	const char *p = tpath("f.db");
	actr_mailbox_opts_t o;
	actr_mailbox_t *mb;
	actr_mailbox_msg_t *out[4];
	actr_dlq_entry_t *e;
	size_t n;
	uint64_t id;

	actr_mailbox_opts_init(&o);
	o.max_attempts = 3;
	mb = open_mb(p, &o);
	CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, "s", "bad", &id));
	CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, "s", "good", NULL));
	CHECK_OK(actr_mailbox_commit(mb));
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 1), 1);
	CHECK_EQ(out[0]->id, id);
	CHECK_EQ(actr_mailbox_fail(mb, id, "boom"), 0);
	CHECK_OK(actr_mailbox_commit(mb));
	actr_mailbox_close(mb);

	/* The failed attempt survives a restart; FIFO order is kept. */
	mb = open_mb(p, &o);
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 1), 1);
	CHECK_EQ(out[0]->id, id);
	CHECK_EQ(out[0]->attempts, 2);
	CHECK_EQ(actr_mailbox_fail(mb, id, "boom"), 0);
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 1), 1);
	CHECK_EQ(out[0]->id, id);
	CHECK_EQ(out[0]->attempts, 3);
	CHECK_EQ(actr_mailbox_fail(mb, id, "boom again"), 1); /* to DLQ */
	CHECK_EQ(actr_mailbox_fail(mb, id, "x"), -ACTR_ENOTFOUND);
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 4), 1);
	CHECK(text_is(out[0], "good"));
	CHECK_OK(actr_mailbox_ack(mb, out[0]->id));
	CHECK_OK(actr_dlq_query(mb, NULL, &e, &n));
	CHECK_EQ(n, 1);
	CHECK_EQ(e[0].msg_id, id);
	CHECK_STR(e[0].category, "max_attempts");
	CHECK_STR(e[0].reason, "boom again");
	CHECK_EQ(e[0].attempts, 3);
	CHECK_EQ(e[0].payload_len, 3);
	CHECK_MEM(e[0].payload, "bad", 3);
	CHECK_EQ(e[0].from_len, 1);
	CHECK(e[0].created_ms > 0);
	actr_dlq_entries_free(e, n);
	CHECK_EQ(count_rows(mb, "actr_att"), 0);
	CHECK_EQ(count_rows(mb, "actr_seg"), 0);
	actr_mailbox_close(mb);
}

TEST(mailbox_dlq_filters_redrive_delete)
{
	actr_mailbox_t *mb = open_mb(tpath("d.db"), NULL);
	actr_mailbox_msg_t *out[8];
	actr_dlq_filter_t f;
	actr_dlq_entry_t *e;
	actr_dlq_stats_t ds;
	actr_mailbox_stats_t st;
	uint64_t t0 = actr_wall_ms();
	size_t n;

	for (int i = 0; i < 6; i++)
		CHECK_OK(enq(mb, ACTR_PRIO_HIGH, i % 2 ? "bob" : "eve",
			     i < 3 ? "dec" : "other", NULL));
	CHECK_OK(actr_mailbox_commit(mb));
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 8), 6);
	for (int i = 0; i < 6; i++)
		CHECK_OK(actr_mailbox_dead_letter(mb, out[i]->id,
						  i < 3 ? "decode" : "acl",
						  "why"));
	CHECK_OK(actr_dlq_add(mb, "zed", 3, "\x01\x02", 2, "decode",
			      "transport"));
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.dlq_size, 0); /* not committed yet */
	CHECK_OK(actr_mailbox_commit(mb));
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.dlq_size, 7);
	CHECK_EQ(st.in_flight, 0);

	memset(&f, 0, sizeof(f));
	f.category = "decode";
	CHECK_OK(actr_dlq_query(mb, &f, &e, &n));
	CHECK_EQ(n, 4);
	CHECK_EQ(e[3].msg_id, 0); /* the transport one */
	actr_dlq_entries_free(e, n);
	f.from = "bob";
	f.from_len = 3;
	CHECK_OK(actr_dlq_query(mb, &f, &e, &n));
	CHECK_EQ(n, 1);
	actr_dlq_entries_free(e, n);
	memset(&f, 0, sizeof(f));
	f.limit = 2;
	CHECK_OK(actr_dlq_query(mb, &f, &e, &n));
	CHECK_EQ(n, 2);
	f.after_id = e[1].id;
	actr_dlq_entries_free(e, n);
	f.limit = 0;
	CHECK_OK(actr_dlq_query(mb, &f, &e, &n));
	CHECK_EQ(n, 5);
	actr_dlq_entries_free(e, n);
	memset(&f, 0, sizeof(f));
	f.since_ms = t0 + 3600 * 1000;
	CHECK_OK(actr_dlq_query(mb, &f, &e, &n));
	CHECK_EQ(n, 0);
	free(e);
	f.since_ms = t0;
	f.until_ms = actr_wall_ms() + 1;
	CHECK_OK(actr_dlq_stats(mb, &f, &ds));
	CHECK_EQ(ds.count, 7);
	CHECK(ds.oldest_ms >= t0 && ds.newest_ms >= ds.oldest_ms);
	CHECK_EQ(ds.redriven, 0);

	/* redrive the acl ones from eve: back at Normal, redrives 1 */
	memset(&f, 0, sizeof(f));
	f.category = "acl";
	f.from = "eve";
	f.from_len = 3;
	CHECK_EQ(actr_dlq_redrive(mb, &f), 1);
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.dlq_size, 6);
	CHECK_EQ(st.queued_normal, 1);
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 8), 1);
	CHECK_EQ(out[0]->priority, ACTR_PRIO_NORMAL);
	CHECK_EQ(out[0]->redrives, 1);
	CHECK(out[0]->last_redrive_ms >= t0);
	CHECK(text_is(out[0], "other"));
	CHECK_OK(actr_mailbox_dead_letter(mb, out[0]->id, "acl", "again"));
	CHECK_OK(actr_dlq_stats(mb, NULL, &ds));
	CHECK_EQ(ds.count, 7);
	CHECK_EQ(ds.redriven, 1);
	memset(&f, 0, sizeof(f));
	f.category = "acl";
	CHECK_OK(actr_dlq_query(mb, &f, &e, &n));
	CHECK_EQ(n, 3);
	CHECK_EQ(e[2].redrives, 1);
	CHECK_STR(e[2].reason, "again");
	f.id = e[0].id;
	actr_dlq_entries_free(e, n);
	CHECK_EQ(actr_dlq_delete(mb, &f), 1);
	CHECK_EQ(actr_dlq_delete(mb, &f), 0);
	f.id = 0;
	CHECK_EQ(actr_dlq_delete(mb, &f), 2);
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.dlq_size, 4);
	CHECK_EQ(count_rows(mb, "actr_dlq"), 4);
	actr_mailbox_close(mb);
}

static void on_pressure(actr_mailbox_t *mb, bool on, uint64_t d, void *arg)
{
	int *v = arg;

	(void)mb;
	v[on ? 0 : 1]++;
	v[2] = (int)d;
}

TEST(mailbox_stats_and_backpressure)
{
	actr_mailbox_opts_t o;
	actr_mailbox_t *mb;
	actr_mailbox_msg_t *out[8];
	actr_mailbox_stats_t st;
	int pr[3] = { 0, 0, 0 };

	actr_mailbox_opts_init(&o);
	o.high_mark = 5;
	o.low_mark = 2;
	o.on_pressure = on_pressure;
	o.pressure_arg = pr;
	mb = open_mb(tpath("s.db"), &o);
	for (int i = 0; i < 4; i++)
		CHECK_OK(enq(mb, i ? ACTR_PRIO_NORMAL : ACTR_PRIO_HIGH, NULL,
			     "x", NULL));
	CHECK_EQ(pr[0], 0);
	CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, NULL, "x", NULL));
	CHECK_EQ(pr[0], 1);
	CHECK_EQ(pr[2], 5);
	CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, NULL, "x", NULL));
	CHECK_EQ(pr[0], 1); /* once per crossing */
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.uncommitted, 6);
	CHECK_EQ(st.enqueued, 6);
	CHECK_OK(actr_mailbox_commit(mb));
	usleep(20000);
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.queued_high, 1);
	CHECK_EQ(st.queued_normal, 5);
	CHECK_EQ(st.uncommitted, 0);
	CHECK(st.oldest_age_ms >= 15);
	CHECK_EQ(st.commits, 1);
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 3), 3);
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.in_flight, 3);
	CHECK_EQ(st.queued_normal, 3);
	for (int i = 0; i < 3; i++)
		CHECK_OK(actr_mailbox_ack(mb, out[i]->id));
	CHECK_EQ(pr[1], 0); /* depth 3 > low mark */
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 1), 1);
	CHECK_OK(actr_mailbox_ack(mb, out[0]->id));
	CHECK_EQ(pr[1], 1);
	CHECK_EQ(pr[2], 2);
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.acked, 4);
	actr_mailbox_close(mb);
}

TEST(mailbox_release_keeps_order_and_attempts)
{
	actr_mailbox_t *mb = open_mb(tpath("rel.db"), NULL);
	actr_mailbox_msg_t *out[4];
	uint64_t a, b;

	CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, NULL, "a", &a));
	CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, NULL, "b", &b));
	CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, NULL, "c", NULL));
	CHECK_OK(actr_mailbox_commit(mb));
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 2), 2);
	CHECK_OK(actr_mailbox_release(mb, b));
	CHECK_OK(actr_mailbox_release(mb, a));
	CHECK_EQ(actr_mailbox_release(mb, a), -ACTR_ENOTFOUND);
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 4), 3);
	CHECK(text_is(out[0], "a") && text_is(out[1], "b") &&
	      text_is(out[2], "c"));
	CHECK_EQ(out[0]->attempts, 1);
	actr_mailbox_close(mb);
}

TEST(mailbox_bad_args)
{
	actr_mailbox_opts_t o;
	actr_mailbox_t *mb;
	actr_buf_t *big;

	actr_mailbox_opts_init(&o);
	o.max_payload = 100;
	mb = open_mb(tpath("b.db"), &o);
	big = actr_buf_new(101);
	memset(big->data, 0, big->len);
	CHECK_EQ(actr_mailbox_enqueue(mb, 7, NULL, 0, big, NULL), -EINVAL);
	CHECK_EQ(actr_mailbox_enqueue(mb, 0, NULL, 0, NULL, NULL), -EINVAL);
	CHECK_EQ(actr_mailbox_enqueue(mb, 0, NULL, 0, big, NULL),
		 -ACTR_ETOOBIG);
	actr_buf_unref(big);
	CHECK_EQ(actr_mailbox_ack(mb, 1), -ACTR_ENOTFOUND);
	CHECK_EQ(actr_mailbox_dead_letter(mb, 1, NULL, NULL),
		 -ACTR_ENOTFOUND);
	actr_mailbox_close(mb);
	actr_mailbox_close(NULL);
}

static void write_file(const char *p, const void *d, size_t n)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0);
	CHECK_EQ(write(fd, d, n), (ssize_t)n);
	close(fd);
}

TEST(mailbox_corrupt_or_foreign_file)
{
	actr_mailbox_t *mb = NULL, *mb2 = NULL;
	actr_kv_t *kv = NULL;
	char junk[8192];
	sqlite3 *db;

	/* garbage */
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 7 + 3);
	write_file(tpath("junk.db"), junk, sizeof(junk));
	CHECK_EQ(actr_mailbox_open(tpath("junk.db"), NULL, &mb),
		 -ACTR_ECORRUPT);
	CHECK(!mb);
	CHECK_EQ(actr_kv_open(tpath("junk.db"), true, &kv), -ACTR_ECORRUPT);
	/* a text file */
	write_file(tpath("text.db"), "hello, this is not a database\n", 30);
	CHECK_EQ(actr_mailbox_open(tpath("text.db"), NULL, &mb),
		 -ACTR_ECORRUPT);
	/* a SQLite database of someone else */
	CHECK_EQ(sqlite3_open(tpath("foreign.db"), &db), SQLITE_OK);
	CHECK_EQ(sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES(1)",
			      NULL, NULL, NULL),
		 SQLITE_OK);
	sqlite3_close(db);
	CHECK_EQ(actr_mailbox_open(tpath("foreign.db"), NULL, &mb),
		 -ACTR_ECORRUPT);
	/* a KV store is not a mailbox and the reverse */
	CHECK_OK(actr_kv_open(tpath("kv.db"), false, &kv));
	actr_kv_close(kv);
	CHECK_EQ(actr_mailbox_open(tpath("kv.db"), NULL, &mb), -ACTR_ECORRUPT);
	mb = open_mb(tpath("m.db"), NULL);
	/* one writer: a second open of the same file is refused */
	CHECK_EQ(actr_mailbox_open(tpath("m.db"), NULL, &mb2), -EBUSY);
	CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, NULL, "x", NULL));
	actr_mailbox_close(mb);
	CHECK_EQ(actr_kv_open(tpath("m.db"), true, &kv), -ACTR_ECORRUPT);
	/* a damaged batch row is reported, not crashed on */
	CHECK_EQ(sqlite3_open(tpath("m.db"), &db), SQLITE_OK);
	CHECK_EQ(sqlite3_exec(db,
			      "UPDATE actr_seg SET data = x'414d5332ffff0000"
			      "0102030405'",
			      NULL, NULL, NULL),
		 SQLITE_OK);
	sqlite3_close(db);
	mb = NULL;
	CHECK_EQ(actr_mailbox_open(tpath("m.db"), NULL, &mb), -ACTR_ECORRUPT);
	CHECK(!mb);
	/* a missing directory */
	CHECK(actr_mailbox_open("/nonexistent-dir/x.db", NULL, &mb) < 0);
}

TEST(mailbox_disk_full_loses_nothing)
{
	const char *p = tpath("full.db");
	actr_mailbox_t *mb = open_mb(p, stored_first());
	actr_mailbox_msg_t *out[4];
	actr_mailbox_stats_t st;
	actr_buf_t *big = actr_buf_new(64 * 1024);
	sqlite3 *db = actr__mailbox_db(mb);
	uint64_t keep, gone;
	char sql[96];
	int rc = 0, i;

	memset(big->data, 'z', big->len);
	CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, NULL, "keep", &keep));
	CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, NULL, "gone", &gone));
	CHECK_OK(actr_mailbox_commit(mb));
	/* The disk is "full": no more pages than it has now. */
	CHECK_EQ(sqlite3_exec(db, "PRAGMA max_page_count = 1", NULL, NULL,
			      NULL),
		 SQLITE_OK);
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 1), 1);
	CHECK_EQ(out[0]->id, keep);
	CHECK_EQ(actr_mailbox_dequeue(mb, out + 1, 1), 1);
	CHECK_OK(actr_mailbox_ack(mb, gone));
	for (i = 0; i < 4; i++)
		CHECK_OK(actr_mailbox_enqueue(mb, ACTR_PRIO_HIGH, NULL, 0, big,
					      NULL));
	rc = actr_mailbox_commit(mb);
	CHECK_EQ(rc, -ENOSPC);
	CHECK_EQ(actr_mailbox_commit(mb), -ENOSPC); /* still full */
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.commit_errors, 2);
	CHECK_EQ(st.uncommitted, 4); /* kept, not delivered */
	CHECK_EQ(st.queued_high, 0);
	CHECK_EQ(st.durable_seq, 1);
	/* space comes back: the same batch commits */
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = 1000000");
	CHECK_EQ(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	CHECK_OK(actr_mailbox_commit(mb));
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.queued_high, 4);
	actr_mailbox_close(mb);
	actr_buf_unref(big);

	mb = open_mb(p, NULL);
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.queued_high, 4);
	CHECK_EQ(st.queued_normal, 1); /* "keep"; the acked one is gone */
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 4), 4);
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 4), 1);
	CHECK(text_is(out[0], "keep"));
	actr_mailbox_close(mb);
}

/* ---- reactor: group commit once per iteration -------------------------- */

struct rx {
	actr_reactor_t *r;
	actr_mailbox_t *mb;
	actr_hook_t arrive, dispatch;
	int to_send;		/* messages still to arrive */
	int per_tick;		/* arrivals per iteration */
	int handled;
	int commits, commit_fail;
	int released;		/* replies released after a commit */
	int held;		/* replies waiting for a commit */
	uint64_t last_id;
	bool order_ok;
};

static void rx_arrive(actr_hook_t *h, void *arg)
{
	struct rx *x = arg;
	char t[16];

	(void)h;
	for (int i = 0; i < x->per_tick && x->to_send > 0; i++, x->to_send--) {
		snprintf(t, sizeof(t), "%d", x->to_send);
		CHECK_OK(enq(x->mb, ACTR_PRIO_NORMAL, "p", t, NULL));
	}
}

static void rx_dispatch(actr_hook_t *h, void *arg)
{
	struct rx *x = arg;
	actr_mailbox_msg_t *out[16];
	size_t n = actr_mailbox_dequeue(x->mb, out, 16);

	(void)h;
	for (size_t i = 0; i < n; i++) {
		if (out[i]->id <= x->last_id)
			x->order_ok = false;
		x->last_id = out[i]->id;
		x->handled++;
		if (actr_mailbox_msg_durable(x->mb, out[i]))
			x->released++;
		else
			x->held++;
		CHECK_OK(actr_mailbox_ack(x->mb, out[i]->id));
	}
}

static void rx_commit(actr_mailbox_t *mb, int rc, uint64_t seq, void *arg)
{
	struct rx *x = arg;

	(void)mb;
	(void)seq;
	if (rc)
		x->commit_fail++;
	else
		x->commits++;
	x->released += x->held;
	x->held = 0;
}

static void run_rx(bool uncommitted)
{
	actr_mailbox_opts_t o;
	struct rx x = { .per_tick = 10, .to_send = 100, .order_ok = true };
	actr_mailbox_stats_t st;
	int iters = 0;

	actr_mailbox_opts_init(&o);
	o.sync = ACTR_MAILBOX_SYNC_NORMAL;
	o.on_commit = rx_commit;
	o.commit_arg = &x;
	o.deliver_uncommitted = uncommitted;
	o.ack_flush_ms = 0; /* every iteration commits its acks too */
	o.min_commit_us = 0; /* and commits at once */
	x.r = actr_reactor_new();
	CHECK(x.r);
	x.mb = open_mb(tpath(uncommitted ? "rx2.db" : "rx1.db"), &o);
	CHECK_OK(actr_mailbox_attach(x.mb, x.r));
	CHECK_EQ(actr_mailbox_attach(x.mb, x.r), -EBUSY);
	actr_hook_start(x.r, &x.arrive, ACTR_HOOK_CHECK, 10, rx_arrive, &x);
	actr_hook_start(x.r, &x.dispatch, ACTR_HOOK_CHECK,
			ACTR_ORDER_DISPATCH, rx_dispatch, &x);
	while (x.handled < 100 && iters < 1000) {
		actr_reactor_run_once(x.r, 0);
		iters++;
	}
	CHECK_EQ(x.handled, 100);
	CHECK(x.order_ok);
	actr_mailbox_stats(x.mb, &st);
	CHECK_EQ(st.commits, (uint64_t)x.commits);
	if (uncommitted) {
		/* handled and acked in the iteration they arrived: never
		 * durable, never written, and no transaction at all */
		CHECK_EQ(x.commits, 0);
		CHECK_EQ(x.held, 100);
		CHECK_EQ(st.elided, 100);
		CHECK_EQ(st.journal_full, 0);
		CHECK_EQ(count_rows(x.mb, "actr_seg"), 0);
	} else {
		/* one transaction per iteration with work; handled one
		 * iteration after their commit */
		CHECK(x.commits <= iters);
		CHECK_EQ(x.commits, 11);
		CHECK_EQ(x.released, 100);
		CHECK_EQ(x.held, 0);
		CHECK_EQ(st.elided, 0);
	}
	actr_hook_stop(&x.arrive);
	actr_hook_stop(&x.dispatch);
	actr_mailbox_close(x.mb);
	CHECK_EQ(actr_reactor_active(x.r), 0);
	actr_reactor_free(x.r);
}

TEST(mailbox_reactor_group_commit)
{
	run_rx(false);
	run_rx(true);
}

TEST(mailbox_reactor_retry_after_full_disk)
{
	actr_mailbox_opts_t o;
	actr_reactor_t *r = actr_reactor_new();
	actr_mailbox_t *mb;
	actr_mailbox_stats_t st;
	actr_buf_t *big = actr_buf_new(32 * 1024);
	int commits[2] = { 0, 0 };
	uint64_t t0;

	actr_mailbox_opts_init(&o);
	o.retry_ms = 1000;
	o.on_commit = count_commit;
	o.commit_arg = commits;
	memset(big->data, 1, big->len);
	mb = open_mb(tpath("rt.db"), &o);
	CHECK_OK(actr_mailbox_attach(mb, r));
	CHECK_EQ(sqlite3_exec(actr__mailbox_db(mb), "PRAGMA max_page_count=1",
			      NULL, NULL, NULL),
		 SQLITE_OK);
	CHECK_OK(actr_mailbox_enqueue(mb, 0, NULL, 0, big, NULL));
	actr_reactor_run_once(r, 0);
	CHECK_EQ(commits[1], 1);
	/* the hook does not hammer the disk while the retry timer runs */
	actr_reactor_run_once(r, 0);
	CHECK_EQ(commits[1], 1);
	CHECK_EQ(sqlite3_exec(actr__mailbox_db(mb),
			      "PRAGMA max_page_count=1000000", NULL, NULL,
			      NULL),
		 SQLITE_OK);
	t0 = actr_time_ns();
	while (!commits[0] && actr_time_ns() - t0 < ACTR_SEC(5))
		actr_reactor_run_once(r, 100);
	CHECK_EQ(commits[0], 1);
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.queued_high, 1);
	actr_buf_unref(big);
	actr_mailbox_close(mb);
	actr_reactor_free(r);
}

TEST(mailbox_reactor_ack_deferral)
{
	actr_mailbox_opts_t o;
	actr_reactor_t *r = actr_reactor_new();
	actr_mailbox_t *mb;
	actr_mailbox_msg_t *out[4];
	actr_mailbox_stats_t st;
	int commits[2] = { 0, 0 };
	uint64_t t0;

	actr_mailbox_opts_init(&o);
	o.sync = ACTR_MAILBOX_SYNC_NORMAL;
	o.ack_flush_ms = 50;
	o.min_commit_us = 0;
	o.on_commit = count_commit;
	o.commit_arg = commits;
	mb = open_mb(tpath("ad.db"), &o);
	CHECK_OK(actr_mailbox_attach(mb, r));
	CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, NULL, "a", NULL));
	actr_reactor_run_once(r, 0);
	CHECK_EQ(commits[0], 1); /* new messages: committed at once */
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 4), 1);
	CHECK_OK(actr_mailbox_ack(mb, out[0]->id));
	actr_reactor_run_once(r, 0);
	CHECK_EQ(commits[0], 1); /* only an ack: it waits */
	CHECK_EQ(count_rows(mb, "actr_seg"), 1);
	/* it rides with the next commit of new messages */
	CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, NULL, "b", NULL));
	actr_reactor_run_once(r, 0);
	CHECK_EQ(commits[0], 2);
	CHECK_EQ(count_rows(mb, "actr_seg"), 1); /* a gone, b stored */
	/* or is committed by the flush timer */
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 4), 1);
	CHECK_OK(actr_mailbox_ack(mb, out[0]->id));
	t0 = actr_reactor_now(r); /* deadlines count from it */
	actr_reactor_run_once(r, 0);
	CHECK_EQ(commits[0], 2);
	while (commits[0] < 3 && actr_time_ns() - t0 < ACTR_SEC(5))
		actr_reactor_run_once(r, 1000);
	CHECK_EQ(commits[0], 3);
	CHECK(actr_time_ns() - t0 >= ACTR_MS(45));
	CHECK_EQ(count_rows(mb, "actr_seg"), 0);
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.acked, 2);
	actr_mailbox_close(mb);
	CHECK_EQ(actr_reactor_active(r), 0);
	actr_reactor_free(r);
}

TEST(mailbox_reactor_commit_pacing)
{
	actr_mailbox_opts_t o;
	actr_reactor_t *r = actr_reactor_new();
	actr_mailbox_t *mb;
	int commits[2] = { 0, 0 };
	uint64_t t0;

	actr_mailbox_opts_init(&o);
	o.deliver_uncommitted = false;	/* commits gate delivery */
	o.sync = ACTR_MAILBOX_SYNC_NORMAL;
	o.min_commit_us = 100000; /* 100 ms, so the test is not racy */
	o.on_commit = count_commit;
	o.commit_arg = commits;
	actr_mailbox_stats_t st;

	mb = open_mb(tpath("pace.db"), &o);
	CHECK_OK(actr_mailbox_attach(mb, r));
	CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, NULL, "a", NULL));
	t0 = actr_reactor_now(r); /* deadlines count from it */
	actr_reactor_run_once(r, 0);
	CHECK_EQ(commits[0], 1); /* the first commit goes at once */
	/* the next iterations' messages wait for the interval, together */
	CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, NULL, "b", NULL));
	actr_reactor_run_once(r, 0);
	CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, NULL, "c", NULL));
	actr_reactor_run_once(r, 0);
	CHECK_EQ(commits[0], 1);
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.uncommitted, 2);
	CHECK_EQ(st.queued_normal, 1);
	while (commits[0] < 2 && actr_time_ns() - t0 < ACTR_SEC(5))
		actr_reactor_run_once(r, 1000);
	CHECK_EQ(commits[0], 2);
	CHECK(actr_time_ns() - t0 >= ACTR_MS(95));
	CHECK_EQ(count_rows(mb, "actr_seg"), 2); /* a, then b+c in one row */
	actr_mailbox_close(mb);
	actr_reactor_free(r);
}

/* Damaged stored rows and side file: open either works or says corrupt,
 * never crashes (run under ASan/valgrind to catch bad reads). */
TEST_TIMEOUT(mailbox_damaged_rows_fuzz, 60)
{
	const char *p = tpath("fz.db");
	char side[600];
	actr_mailbox_t *mb = open_mb(p, NULL);
	actr_mailbox_msg_t *out[4];
	uint8_t *orig, *blob;
	int len, ok = 0, bad = 0;
	sqlite3 *db;
	sqlite3_stmt *st;
	uint64_t seed = 0x1234567;

	for (int i = 0; i < 5; i++)
		CHECK_OK(enq(mb, i & 1, "sender", "some payload bytes", NULL));
	CHECK_OK(actr_mailbox_commit(mb));
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 1), 1);
	CHECK_OK(actr_mailbox_ack(mb, out[0]->id)); /* makes an ack row */
	actr_mailbox_close(mb);

	CHECK_EQ(sqlite3_open(p, &db), SQLITE_OK);
	CHECK_EQ(sqlite3_prepare_v2(db, "SELECT data FROM actr_seg", -1, &st,
				    NULL),
		 SQLITE_OK);
	CHECK_EQ(sqlite3_step(st), SQLITE_ROW);
	len = sqlite3_column_bytes(st, 0);
	orig = malloc((size_t)len);
	blob = malloc((size_t)len);
	memcpy(orig, sqlite3_column_blob(st, 0), (size_t)len);
	sqlite3_finalize(st);
	sqlite3_close(db);
	snprintf(side, sizeof(side), "%s-inflight", p);

	for (int round = 0; round < 150; round++) {
		int cut = len;

		memcpy(blob, orig, (size_t)len);
		for (int k = 0; k < 1 + round % 4; k++) {
			seed = seed * 6364136223846793005ull + 1;
			blob[(seed >> 33) % (uint64_t)len] ^=
				(uint8_t)(1u << ((seed >> 20) % 8));
		}
		if (round % 5 == 4)
			cut = (int)((seed >> 40) % (uint64_t)len);
		/* half the time with a valid checksum, so the decoder itself
		 * meets the damage */
		if (round & 1 && cut >= 16)
			actr__put_le64(blob + 8,
				       actr__mb_seg_sum(blob + 16,
							(size_t)cut - 16));
		CHECK_EQ(sqlite3_open(p, &db), SQLITE_OK);
		CHECK_EQ(sqlite3_prepare_v2(db,
					    "UPDATE actr_seg SET data = ?1",
					    -1, &st, NULL),
			 SQLITE_OK);
		sqlite3_bind_blob(st, 1, blob, cut, SQLITE_STATIC);
		CHECK_EQ(sqlite3_step(st), SQLITE_DONE);
		sqlite3_finalize(st);
		/* also an empty ack bitmap now and then (else the real one:
		 * message 1 acked) */
		CHECK_EQ(sqlite3_exec(db,
				      round % 7 == 3 ?
					      "UPDATE actr_ack SET bits = x''" :
					      "UPDATE actr_ack SET bits = x'01'",
				      NULL, NULL, NULL),
			 SQLITE_OK);
		sqlite3_close(db);
		/* and a garbage side file */
		if (round % 3 == 1) {
			int fd = open(side, O_WRONLY | O_TRUNC);

			CHECK(fd >= 0);
			CHECK_EQ(write(fd, blob, (size_t)ACTR_MIN(len, 64)),
				 (ssize_t)ACTR_MIN(len, 64));
			close(fd);
		}
		mb = NULL;
		int rc = actr_mailbox_open(p, NULL, &mb);

		if (rc == 0) {
			actr_mailbox_stats_t s2;

			ok++;
			actr_mailbox_stats(mb, &s2);
			CHECK(s2.queued_high + s2.queued_normal <= 4);
			while (actr_mailbox_dequeue(mb, out, 4))
				;
			actr_mailbox_close(mb);
		} else {
			CHECK_EQ(rc, -ACTR_ECORRUPT);
			CHECK(!mb);
			bad++;
		}
	}
	printf("    %d damaged files opened, %d refused as corrupt\n", ok, bad);
	CHECK(bad > 0);
	CHECK(ok > 0); /* payload bytes under a valid checksum load */
	free(orig);
	free(blob);
}

/* ---- handled-first delivery: the crash journal --------------------------- */

static void journal_opts(actr_mailbox_opts_t *o, uint32_t bytes)
{
	actr_mailbox_opts_init(o);
	o->deliver_uncommitted = true;
	o->journal_bytes = bytes;
	o->sync = ACTR_MAILBOX_SYNC_NORMAL;
}

/* A child handles messages before any commit and dies by SIGKILL in a
 * handler: every message it had enqueued and not acknowledged comes back,
 * the one in flight first and alone, with its attempt counted; the one it
 * acknowledged does not. */
TEST(mailbox_journal_survives_kill_in_handler)
{
	const char *p = tpath("j.db");
	actr_mailbox_opts_t o;
	actr_mailbox_t *mb;
	actr_mailbox_msg_t *out[8];
	actr_mailbox_stats_t st;
	int status;
	pid_t pid;

	journal_opts(&o, 1u << 20);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		actr_mailbox_msg_t *m[8];
		uint64_t id;

		if (actr_mailbox_open(p, &o, &mb))
			_exit(2);
		/* "done" is handled and acked: elided, never recovered */
		if (enq(mb, ACTR_PRIO_NORMAL, "s", "done", &id) ||
		    !actr__mb_journaled(mb, id) ||
		    actr_mailbox_dequeue(mb, m, 8) != 1 ||
		    actr_mailbox_ack(mb, id))
			_exit(3);
		if (enq(mb, ACTR_PRIO_NORMAL, "s", "n1", NULL) ||
		    enq(mb, ACTR_PRIO_HIGH, "t", "poison", NULL) ||
		    enq(mb, ACTR_PRIO_NORMAL, "s", "n2", NULL))
			_exit(4);
		/* the handler of the High one kills the process */
		if (actr_mailbox_dequeue(mb, m, 1) != 1 ||
		    !text_is(m[0], "poison"))
			_exit(5);
		kill(getpid(), SIGKILL);
		_exit(6);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	/* opened in the default mode: the journal is read anyway */
	mb = open_mb(p, NULL);
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.journal_recovered, 3);
	CHECK_EQ(st.recovered, 3);
	CHECK_EQ(count_rows(mb, "actr_seg"), 1);	/* committed at open */
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 8), 1);	/* the suspect, alone */
	CHECK(text_is(out[0], "poison"));
	CHECK_EQ(out[0]->attempts, 2);	/* the crash counted */
	CHECK_EQ(out[0]->from_len, 1);
	CHECK(!memcmp(out[0]->from, "t", 1));
	CHECK_OK(actr_mailbox_ack(mb, out[0]->id));
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 8), 2);
	CHECK(text_is(out[0], "n1"));
	CHECK(text_is(out[1], "n2"));
	CHECK_EQ(out[0]->attempts, 1);
	CHECK_OK(actr_mailbox_ack(mb, out[0]->id));
	CHECK_OK(actr_mailbox_ack(mb, out[1]->id));
	actr_mailbox_close(mb);
	/* nothing comes back twice */
	mb = open_mb(p, &o);
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.recovered, 0);
	CHECK_EQ(st.journal_recovered, 0);
	actr_mailbox_close(mb);
}

/* A record the process was writing when it died (damaged bytes) is
 * skipped with a log line; the records before it are recovered. */
TEST(mailbox_journal_torn_record_ignored)
{
	const char *p = tpath("jt.db");
	char jp[600];
	actr_mailbox_opts_t o;
	actr_mailbox_t *mb;
	actr_mailbox_msg_t *out[8];
	actr_mailbox_stats_t st;
	int status, fd;
	pid_t pid;
	off_t at;

	journal_opts(&o, 1u << 20);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (actr_mailbox_open(p, &o, &mb) ||
		    enq(mb, ACTR_PRIO_NORMAL, "s", "first", NULL) ||
		    enq(mb, ACTR_PRIO_NORMAL, "s", "second-XYZ", NULL))
			_exit(2);
		kill(getpid(), SIGKILL);
		_exit(3);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFSIGNALED(status));
	/* damage the second record's payload */
	snprintf(jp, sizeof(jp), "%s-jnl", p);
	fd = open(jp, O_RDWR);
	CHECK(fd >= 0);
	{
		char buf[4096];
		ssize_t n = pread(fd, buf, sizeof(buf), 0);
		char *x = memmem(buf, (size_t)n, "XYZ", 3);

		CHECK(x);
		at = x - buf;
	}
	CHECK_EQ(pwrite(fd, "Q", 1, at), 1);
	close(fd);
	mb = open_mb(p, &o);
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.journal_recovered, 1);
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 8), 1);
	CHECK(text_is(out[0], "first"));
	actr_mailbox_close(mb);

	/* a foreign file in its place is ignored, not trusted */
	fd = open(jp, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0);
	for (int i = 0; i < 40000; i++)
		CHECK_EQ(write(fd, "garbage!", 8), 8);
	close(fd);
	mb = open_mb(p, &o);
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.journal_recovered, 0);
	CHECK_EQ(st.recovered, 1);	/* "first", committed at the last open */
	actr_mailbox_close(mb);
}

/* A message that does not fit in the journal waits for its commit, and so
 * do later ones of its priority (FIFO); the ring's space comes back once
 * its messages are committed or acknowledged, also across wrap-arounds. */
TEST(mailbox_journal_full_keeps_fifo)
{
	actr_mailbox_opts_t o;
	actr_mailbox_t *mb;
	actr_mailbox_msg_t *out[8];
	actr_mailbox_stats_t st;
	actr_buf_t *big = actr_buf_new(20000);
	uint64_t id[5];

	CHECK(big);
	memset(big->data, 'b', big->len);
	journal_opts(&o, 64u << 10);	/* the smallest ring */
	mb = open_mb(tpath("jf.db"), &o);
	for (int i = 0; i < 4; i++) {
		CHECK_OK(actr_mailbox_enqueue(mb, ACTR_PRIO_NORMAL, "s", 1, big,
					      &id[i]));
		CHECK(actr__mb_journaled(mb, id[i]) == (i < 3));
	}
	CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, "s", "small", &id[4]));
	CHECK(!actr__mb_journaled(mb, id[4]));	/* behind a held one */
	CHECK_EQ(actr_mailbox_dequeue(mb, out, 8), 3);
	CHECK_EQ(out[2]->id, id[2]);
	CHECK_OK(actr_mailbox_commit(mb));
	CHECK_EQ(actr_mailbox_dequeue(mb, out + 3, 5), 2);
	CHECK_EQ(out[3]->id, id[3]);
	CHECK_EQ(out[4]->id, id[4]);
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.journal_full, 2);
	for (int i = 0; i < 5; i++)
		CHECK_OK(actr_mailbox_ack(mb, out[i]->id));
	/* many laps around the ring: every message fits again */
	for (int lap = 0; lap < 40; lap++) {
		uint64_t a, b;

		CHECK_OK(actr_mailbox_enqueue(mb, ACTR_PRIO_NORMAL, "s", 1, big,
					      &a));
		CHECK_OK(enq(mb, ACTR_PRIO_HIGH, "s", "hi", &b));
		CHECK(actr__mb_journaled(mb, a) && actr__mb_journaled(mb, b));
		CHECK_EQ(actr_mailbox_dequeue(mb, out, 8), 2);
		CHECK_OK(actr_mailbox_ack(mb, b));
		if (lap % 3 == 0)
			CHECK_OK(actr_mailbox_commit(mb)); /* a stays, stored */
		CHECK_OK(actr_mailbox_ack(mb, a));
	}
	CHECK_OK(actr_mailbox_commit(mb));
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.journal_full, 2);
	CHECK_EQ(st.elided, 80 - 14 + 0);	/* a of 14 laps was written */
	CHECK_EQ(count_rows(mb, "actr_seg"), 0);
	actr_mailbox_close(mb);
	actr_buf_unref(big);
}

/* actr_mailbox_remove deletes the database and every side file. */
TEST(mailbox_remove_files)
{
	const char *p = tpath("rm.db");
	static const char *const sfx[] = { "", "-wal", "-shm", "-inflight",
					   "-jnl" };
	actr_mailbox_opts_t o;
	actr_mailbox_t *mb;
	char f[600];

	journal_opts(&o, 1u << 20);
	mb = open_mb(p, &o);
	CHECK_OK(enq(mb, ACTR_PRIO_NORMAL, "s", "x", NULL));
	CHECK_OK(actr_mailbox_commit(mb));
	snprintf(f, sizeof(f), "%s-jnl", p);
	CHECK(access(f, F_OK) == 0);
	actr_mailbox_close(mb);
	CHECK_OK(actr_mailbox_remove(p));
	for (size_t i = 0; i < ACTR_ARRAY_LEN(sfx); i++) {
		snprintf(f, sizeof(f), "%s%s", p, sfx[i]);
		CHECK(access(f, F_OK) != 0);
	}
	CHECK_OK(actr_mailbox_remove(p));	/* nothing left: still 0 */
	CHECK_EQ(actr_mailbox_remove(NULL), -EINVAL);
}
