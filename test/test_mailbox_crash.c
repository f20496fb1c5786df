/*
 * Crash tests of the mailbox: a forked child receives numbered messages over
 * a socket, stores them, confirms them to the parent only after its commit
 * (or at once when the crash journal holds them: handled-first delivery),
 * and handles them (appending the number to a log) before acking. The parent
 * kills it with SIGKILL at random points and starts it again, resending only
 * what was never confirmed. At the end every number must have been handled
 * at least once and the database must pass PRAGMA integrity_check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/mailbox.h>

#include "mailbox/internal.h"
#include "test.h"

#define PAD 60			/* payload: 4-byte number + padding */
#define DRAIN 0u		/* parent -> child: finish and exit */
#define DONE 0xffffffffu	/* child -> parent: drained */
#define READY 0xfffffffeu	/* child -> parent: mailbox open */

struct child {
	actr_reactor_t *r;
	actr_mailbox_t *mb;
	actr_io_t io;
	actr_hook_t dispatch, prepare;
	int fd;			/* socket to the parent */
	int log_fd;		/* handled numbers, O_APPEND */
	uint32_t poison;	/* kill ourselves when handling it, 0 = none */
	uint32_t work_us;	/* simulated handler time */
	uint8_t rbuf[4096];
	size_t rlen;
	uint32_t *unconfirmed;	/* numbers enqueued since the last commit */
	size_t nunconf, capunconf;
	bool drain;
	bool done;
};

static void child_write(struct child *c, const void *p, size_t n)
{
	const uint8_t *b = p;

	int waits = 0;

	while (n) {
		ssize_t w = write(c->fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN && waits++ < 1000) {
			/* the parent reads slowly (a loaded machine) */
			struct pollfd pf = { .fd = c->fd, .events = POLLOUT };

			poll(&pf, 1, 10);
			continue;
		}
		if (w <= 0)
			_exit(3);
		b += w;
		n -= (size_t)w;
	}
}

static void child_on_commit(actr_mailbox_t *mb, int rc, uint64_t seq,
			    void *arg)
{
	struct child *c = arg;

	(void)mb;
	(void)seq;
	if (rc || !c->nunconf)
		return;
	/* durable now: the sender may forget these */
	child_write(c, c->unconfirmed, c->nunconf * sizeof(uint32_t));
	c->nunconf = 0;
}

static void child_on_read(actr_io_t *io, unsigned ev, void *arg)
{
	struct child *c = arg;
	ssize_t n = read(io->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen);
	uint64_t id;
	size_t i;

	(void)ev;
	if (n <= 0) {
		if (n == 0 || errno != EAGAIN)
			_exit(4); /* parent went away */
		return;
	}
	c->rlen += (size_t)n;
	for (i = 0; i + 4 <= c->rlen; i += 4) {
		uint32_t num;
		actr_buf_t *b;

		memcpy(&num, c->rbuf + i, 4);
		if (num == DRAIN) {
			c->drain = true;
			continue;
		}
		b = actr_buf_new(4 + PAD);
		if (!b)
			_exit(5);
		memcpy(b->data, &num, 4);
		memset(b->data + 4, (int)(num & 0xff), PAD);
		if (actr_mailbox_enqueue(c->mb,
					 num % 7 ? ACTR_PRIO_NORMAL :
						   ACTR_PRIO_HIGH,
					 "parent", 6, b, &id))
			_exit(6);
		actr_buf_unref(b);
		/* in the crash journal: safe from SIGKILL already */
		if (actr__mb_journaled(c->mb, id)) {
			child_write(c, &num, 4);
			continue;
		}
		if (c->nunconf == c->capunconf) {
			c->capunconf = c->capunconf ? c->capunconf * 2 : 1024;
			c->unconfirmed = realloc(c->unconfirmed,
						 c->capunconf * 4);
			if (!c->unconfirmed)
				_exit(7);
		}
		c->unconfirmed[c->nunconf++] = num;
	}
	memmove(c->rbuf, c->rbuf + i, c->rlen - i);
	c->rlen -= i;
}

/* The dispatcher: a few messages per iteration, so a backlog builds up. */
static void child_dispatch(actr_hook_t *h, void *arg)
{
	struct child *c = arg;
	actr_mailbox_msg_t *out[8];
	size_t n = actr_mailbox_dequeue(c->mb, out, 8);
	actr_mailbox_stats_t st;

	(void)h;
	for (size_t i = 0; i < n; i++) {
		uint32_t num;

		memcpy(&num, out[i]->payload->data, 4);
		if (num == c->poison)
			kill(getpid(), SIGKILL);
		if (c->work_us && !c->drain)
			usleep(c->work_us);
		if (write(c->log_fd, &num, 4) != 4)
			_exit(8);
		if (actr_mailbox_ack(c->mb, out[i]->id))
			_exit(9);
	}
	if (c->drain && !n) {
		actr_mailbox_stats(c->mb, &st);
		if (!st.in_flight && !st.uncommitted && !st.queued_high &&
		    !st.queued_normal && !c->nunconf)
			c->done = true;
	}
}

static void child_prepare(actr_hook_t *h, void *arg)
{
	struct child *c = arg;

	(void)h;
	if (actr_mailbox_ready(c->mb) || c->drain)
		actr_reactor_limit_wait(c->r, 0);
}

static void child_main(int fd, const char *db, const char *log, int mode,
		       uint32_t poison, uint32_t max_attempts, uint32_t work_us)
{
	struct child c = { .fd = fd, .poison = poison, .work_us = work_us };
	actr_mailbox_opts_t o;
	uint32_t done = DONE;

	actr_log_set_level(ACTR_LOG_ERROR);
	actr_mailbox_opts_init(&o);
	o.sync = mode & 1 ? ACTR_MAILBOX_SYNC_FULL : ACTR_MAILBOX_SYNC_NORMAL;
	o.deliver_uncommitted = (mode & 2) != 0;
	o.max_attempts = max_attempts;
	o.on_commit = child_on_commit;
	o.commit_arg = &c;
	c.log_fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0600);
	c.r = actr_reactor_new();
	if (c.log_fd < 0 || !c.r || actr_mailbox_open(db, &o, &c.mb))
		_exit(2);
	child_write(&c, &(uint32_t){ READY }, 4);
	actr__fd_nonblock(fd);
	actr_mailbox_attach(c.mb, c.r);
	actr_io_init(c.r, &c.io, fd, child_on_read, &c);
	actr_io_set(&c.io, ACTR_READ);
	actr_hook_start(c.r, &c.dispatch, ACTR_HOOK_CHECK, ACTR_ORDER_DISPATCH,
			child_dispatch, &c);
	actr_hook_start(c.r, &c.prepare, ACTR_HOOK_PREPARE, 0, child_prepare,
			&c);
	for (int i = 0; i < 2000000 && !c.done; i++)
		actr_reactor_run_once(c.r, 100);
	child_write(&c, &done, 4);
	actr_io_close(&c.io);
	actr_hook_stop(&c.dispatch);
	actr_hook_stop(&c.prepare);
	actr_mailbox_close(c.mb);
	actr_reactor_free(c.r);
	free(c.unconfirmed);
	_exit(0);
}

/* ---- parent -------------------------------------------------------------- */

struct run {
	const char *db, *log;
	uint32_t total;		/* numbers 1..total */
	uint32_t avail;		/* numbers 1..avail are sent so far */
	uint32_t work_us;	/* simulated handler time */
	bool *confirmed;	/* child said "stored" */
	uint32_t nconfirmed;
	uint32_t poison;
	uint32_t max_attempts;
	uint8_t rbuf[4];
	size_t rlen;
	bool drained;
	bool ready;		/* the child has opened the mailbox */
};

static void parent_read(struct run *x, int fd)
{
	uint8_t buf[4096];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			x->rbuf[x->rlen++] = buf[i];
			if (x->rlen == 4) {
				uint32_t num;

				memcpy(&num, x->rbuf, 4);
				x->rlen = 0;
				if (num == DONE) {
					x->drained = true;
				} else if (num == READY) {
					x->ready = true;
				} else {
					CHECK(num >= 1 && num <= x->total);
					if (!x->confirmed[num]) {
						x->confirmed[num] = true;
						x->nconfirmed++;
					}
				}
			}
		}
	}
}

/* One life of the child: send what is unconfirmed, kill kill_ms after it
 * opened the mailbox (after the fork if early: maybe during recovery), or
 * let it drain when kill_ms < 0. Returns the child's exit status. */
static int one_life(struct run *x, int mode, int kill_ms, bool early)
{
	uint32_t *out = malloc((x->total + 1) * 4);
	size_t nout = 0, off = 0;
	uint64_t t0 = actr_time_ns(), limit;
	int sv[2], status = 0;
	pid_t pid;

	CHECK(out);
	for (uint32_t i = 1; i <= x->avail; i++)
		if (!x->confirmed[i])
			out[nout++] = i;
	if (kill_ms < 0)
		out[nout++] = DRAIN;
	nout *= 4;
	x->rlen = 0;
	x->ready = false;
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		child_main(sv[1], x->db, x->log, mode, x->poison,
			   x->max_attempts, x->work_us);
	}
	close(sv[1]);
	actr__fd_nonblock(sv[0]);
	/* slower under valgrind: the child needs time to get work done */
	limit = kill_ms < 0 ? ACTR_SEC(actr_test_scale(20)) :
			      ACTR_MS(actr_test_scale(kill_ms));
	while (!x->drained &&
	       (kill_ms >= 0 && !early && !x->ready ?
			actr_time_ns() - t0 < ACTR_SEC(actr_test_scale(10)) :
			actr_time_ns() - t0 < limit)) {
		struct pollfd p = { .fd = sv[0], .events = POLLIN };
		bool was_ready = x->ready;
		ssize_t w;

		if (off < nout)
			p.events |= POLLOUT;
		poll(&p, 1, 1);
		if (p.revents & POLLOUT) {
			w = write(sv[0], (uint8_t *)out + off, nout - off);
			if (w > 0)
				off += (size_t)w;
		}
		if (p.revents & (POLLIN | POLLHUP))
			parent_read(x, sv[0]);
		if (!early && !was_ready && x->ready)
			t0 = actr_time_ns(); /* the clock starts now */
		if (p.revents & POLLHUP)
			break;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			pid = 0;
			break;
		}
	}
	if (pid > 0) {
		if (kill_ms >= 0 || !x->drained)
			kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	parent_read(x, sv[0]); /* what it wrote before it died */
	close(sv[0]);
	free(out);
	return status;
}

static uint32_t *read_log(const char *log, size_t *n)
{
	FILE *f = fopen(log, "a+b"); /* empty if no child got that far */
	uint32_t *v;
	long sz;

	CHECK(f);
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	v = malloc((size_t)sz + 4);
	CHECK(v);
	CHECK_EQ(fread(v, 1, (size_t)sz, f), (size_t)sz);
	fclose(f);
	*n = (size_t)sz / 4;
	return v;
}

static void check_integrity(const char *db)
{
	sqlite3 *h;
	sqlite3_stmt *st;

	CHECK_EQ(sqlite3_open(db, &h), SQLITE_OK);
	CHECK_EQ(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL),
		 SQLITE_OK);
	CHECK_EQ(sqlite3_step(st), SQLITE_ROW);
	CHECK_STR((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	sqlite3_close(h);
}

TEST_TIMEOUT(mailbox_crash_sigkill_rounds, 60)
{
	char db[512], log[512];
	struct run x = { .total = 6000, .max_attempts = 1000, .work_us = 30 };
	uint32_t *seen, *handled;
	size_t nh, nh_before = 0, dups = 0, missing = 0, from_db = 0;
	actr_mailbox_t *mb;
	actr_mailbox_stats_t st;
	uint64_t seed = actr_rand64();
	int rounds = 60, killed = 0;
	bool *snap;

	snprintf(db, sizeof(db), "%s/crash.db", actr_test_tmpdir());
	snprintf(log, sizeof(log), "%s/handled.log", actr_test_tmpdir());
	x.db = db;
	x.log = log;
	x.confirmed = calloc(x.total + 1, sizeof(bool));
	snap = calloc(x.total + 1, sizeof(bool));
	CHECK(x.confirmed && snap);
	for (int r = 0; r <= rounds; r++) {
		int status;

		memcpy(snap, x.confirmed, x.total + 1);
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		if (r < rounds) {
			/* new work keeps arriving; modes rotate through
			 * NORMAL/FULL x committed-only/uncommitted delivery */
			x.avail = (uint32_t)((uint64_t)x.total * (r + 1) /
					     rounds);
			status = one_life(&x, r & 3,
					  1 + (int)((seed >> 33) % 25),
					  r % 8 == 5);
			if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
				killed++;
			else /* it may only die by our hand: exit code */
				CHECK_EQ(WIFEXITED(status) ?
						 WEXITSTATUS(status) : -1,
					 -1);
		} else {
			/* last life: drain everything */
			CHECK_EQ(one_life(&x, 1, -1, false), 0);
		}
		/* A number confirmed before this life and handled in it
		 * came back from the database alone (it was not resent). */
		handled = read_log(log, &nh);
		for (size_t i = nh_before; i < nh; i++)
			from_db += snap[handled[i]];
		nh_before = nh;
		free(handled);
	}
	CHECK(killed >= 50);
	CHECK(x.drained);
	CHECK_EQ(x.nconfirmed, x.total);

	handled = read_log(log, &nh);
	seen = calloc(x.total + 1, sizeof(*seen));
	CHECK(seen);
	for (size_t i = 0; i < nh; i++) {
		CHECK(handled[i] >= 1 && handled[i] <= x.total);
		if (seen[handled[i]]++)
			dups++;
	}
	for (uint32_t i = 1; i <= x.total; i++)
		missing += !seen[i];
	printf("    %d kills, %u messages, %zu handled after a restart from "
	       "the database only, %zu handled, %zu duplicates, %zu "
	       "missing\n",
	       killed, x.total, from_db, nh, dups, missing);
	CHECK_EQ(missing, 0);
	CHECK(from_db > 0);
	check_integrity(db);
	/* nothing left over, nothing dead-lettered */
	CHECK_OK(actr_mailbox_open(db, NULL, &mb));
	actr_mailbox_stats(mb, &st);
	CHECK_EQ(st.recovered, 0);
	CHECK_EQ(st.dlq_size, 0);
	actr_mailbox_close(mb);
	free(seen);
	free(handled);
	free(x.confirmed);
	free(snap);
}

/* A message that kills the process whenever it is handled ends in the DLQ
 * after max_attempts lives, and only it. */
static void crash_loop(int mode)
{
	char db[512], log[512];
	struct run x = { .total = 40, .avail = 40, .poison = 13,
			 .max_attempts = 3 };
	uint32_t *handled;
	size_t nh;
	int lives = 0, status;
	actr_mailbox_t *mb;
	actr_dlq_entry_t *e;
	size_t n;
	bool seen[41] = { false };

	snprintf(db, sizeof(db), "%s/loop%d.db", actr_test_tmpdir(), mode);
	snprintf(log, sizeof(log), "%s/handled%d.log", actr_test_tmpdir(),
		 mode);
	x.db = db;
	x.log = log;
	x.confirmed = calloc(x.total + 1, sizeof(bool));
	CHECK(x.confirmed);
	/* Each life drains or dies on the poison message. */
	do {
		x.drained = false;
		status = one_life(&x, mode, -1, false);
		lives++;
	} while (!x.drained && lives < 10);
	CHECK(x.drained);
	CHECK_EQ(status, 0);
	CHECK_EQ(lives, 4); /* three deaths, then it is in the DLQ */
	handled = read_log(log, &nh);
	for (size_t i = 0; i < nh; i++)
		seen[handled[i]] = true;
	for (uint32_t i = 1; i <= x.total; i++)
		CHECK(seen[i] == (i != 13));
	CHECK_OK(actr_mailbox_open(db, NULL, &mb));
	CHECK_OK(actr_dlq_query(mb, NULL, &e, &n));
	CHECK_EQ(n, 1); /* only the poison: its neighbours were not blamed */
	CHECK_STR(e[0].category, "crash_loop");
	CHECK_EQ(e[0].attempts, 3);
	CHECK_EQ(e[0].payload_len, 4 + PAD);
	CHECK_MEM(e[0].payload, &x.poison, 4);
	actr_dlq_entries_free(e, n);
	actr_mailbox_close(mb);
	check_integrity(db);
	free(handled);
	free(x.confirmed);
}

TEST_TIMEOUT(mailbox_crash_loop_goes_to_dlq, 30)
{
	crash_loop(0);	/* stored before handled */
}

/* Handled first: the poison is handed out in the iteration it arrived,
 * before any commit; the crash journal brings it back each time. */
TEST_TIMEOUT(mailbox_crash_loop_journal_goes_to_dlq, 30)
{
	crash_loop(2);
}
