/* Tests of mailbox/kv.c: get/put/delete, prefix scan, atomic batches,
 * persistence, full disk. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>

#include <actr/actr.h>
#include <actr/kv.h>

#include "mailbox/internal.h"
#include "test.h"

static const char *kpath(const char *name)
{
	static char p[512];

	snprintf(p, sizeof(p), "%s/%s", actr_test_tmpdir(), name);
	return p;
}

static bool val_is(actr_kv_t *kv, const char *k, const char *v)
{
	actr_buf_t *b = NULL;
	bool ok;

	if (actr_kv_get(kv, k, strlen(k), &b))
		return false;
	ok = b->len == strlen(v) && !memcmp(b->data, v, b->len);
	actr_buf_unref(b);
	return ok;
}

TEST(mailbox_kv_put_get_delete_persist)
{
	actr_kv_t *kv;
	actr_buf_t *b = (actr_buf_t *)1;

	CHECK_OK(actr_kv_open(kpath("a.kv"), true, &kv));
	CHECK_EQ(actr_kv_get(kv, "k", 1, &b), -ACTR_ENOTFOUND);
	CHECK(b == NULL);
	CHECK_OK(actr_kv_put(kv, "k", 1, "v1", 2));
	CHECK(val_is(kv, "k", "v1"));
	CHECK_OK(actr_kv_put(kv, "k", 1, "value2", 6));
	CHECK(val_is(kv, "k", "value2"));
	CHECK_OK(actr_kv_put(kv, "empty", 5, NULL, 0));
	CHECK(val_is(kv, "empty", ""));
	CHECK_OK(actr_kv_put(kv, "gone", 4, "x", 1));
	CHECK_OK(actr_kv_delete(kv, "gone", 4));
	CHECK_OK(actr_kv_delete(kv, "gone", 4)); /* absent: fine */
	CHECK_EQ(actr_kv_get(kv, "gone", 4, &b), -ACTR_ENOTFOUND);
	CHECK_EQ(actr_kv_put(kv, NULL, 0, "x", 1), -EINVAL);
	CHECK_EQ(actr_kv_put(kv, "k", 0, "x", 1), -EINVAL);
	actr_kv_close(kv);

	CHECK_OK(actr_kv_open(kpath("a.kv"), false, &kv));
	CHECK(val_is(kv, "k", "value2"));
	CHECK(val_is(kv, "empty", ""));
	CHECK_EQ(actr_kv_get(kv, "gone", 4, &b), -ACTR_ENOTFOUND);
	actr_kv_close(kv);
	actr_kv_close(NULL);
}

struct scan_acc {
	char keys[512];
	int n;
	int stop_at;
};

static int scan_cb(const void *k, size_t kl, const void *v, size_t vl,
		   void *arg)
{
	struct scan_acc *a = arg;

	(void)v;
	(void)vl;
	strncat(a->keys, k, kl);
	strcat(a->keys, ",");
	a->n++;
	return a->n == a->stop_at ? 42 : 0;
}

TEST(mailbox_kv_scan_prefix)
{
	static const char *keys[] = { "user:2", "user:1", "usex", "use",
				      "order:1", "user:10", "v" };
	struct scan_acc a;
	actr_kv_t *kv;
	const uint8_t ff[] = { 0xff, 0xff }, ff1[] = { 0xff, 0xff, 0x01 };

	CHECK_OK(actr_kv_open(kpath("s.kv"), false, &kv));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		CHECK_OK(actr_kv_put(kv, keys[i], strlen(keys[i]), "v", 1));
	memset(&a, 0, sizeof(a));
	CHECK_OK(actr_kv_scan(kv, "user:", 5, scan_cb, &a));
	CHECK_STR(a.keys, "user:1,user:10,user:2,");
	memset(&a, 0, sizeof(a));
	CHECK_OK(actr_kv_scan(kv, "use", 3, scan_cb, &a));
	CHECK_STR(a.keys, "use,user:1,user:10,user:2,usex,");
	memset(&a, 0, sizeof(a));
	CHECK_OK(actr_kv_scan(kv, NULL, 0, scan_cb, &a));
	CHECK_EQ(a.n, 7);
	memset(&a, 0, sizeof(a));
	a.stop_at = 2;
	CHECK_EQ(actr_kv_scan(kv, "user:", 5, scan_cb, &a), 42);
	CHECK_STR(a.keys, "user:1,user:10,");
	memset(&a, 0, sizeof(a));
	CHECK_OK(actr_kv_scan(kv, "zzz", 3, scan_cb, &a));
	CHECK_EQ(a.n, 0);
	/* a prefix of 0xff bytes has no upper bound */
	CHECK_OK(actr_kv_put(kv, ff1, 3, "v", 1));
	memset(&a, 0, sizeof(a));
	CHECK_OK(actr_kv_scan(kv, ff, 2, scan_cb, &a));
	CHECK_EQ(a.n, 1);
	actr_kv_close(kv);
}

TEST(mailbox_kv_batch_atomic)
{
	actr_kv_t *kv;
	actr_kv_batch_t *b = actr_kv_batch_new();
	actr_buf_t *v;
	char big[4096];
	char k[32];

	CHECK(b);
	CHECK_OK(actr_kv_open(kpath("b.kv"), true, &kv));
	CHECK_OK(actr_kv_put(kv, "a", 1, "old", 3));
	CHECK_OK(actr_kv_batch_put(b, "a", 1, "new", 3));
	CHECK_OK(actr_kv_batch_put(b, "b", 1, "bee", 3));
	CHECK_OK(actr_kv_batch_delete(b, "a", 1));
	CHECK_OK(actr_kv_batch_put(b, "a", 1, "newer", 5));
	CHECK_EQ(actr_kv_batch_put(b, "", 0, "x", 1), -EINVAL);
	CHECK(val_is(kv, "a", "old")); /* not applied before commit */
	CHECK_OK(actr_kv_batch_commit(kv, b));
	CHECK(val_is(kv, "a", "newer"));
	CHECK(val_is(kv, "b", "bee"));
	CHECK_OK(actr_kv_batch_commit(kv, b)); /* emptied: no-op */

	/* All or nothing: a batch that does not fit leaves no trace. */
	CHECK_EQ(sqlite3_exec(actr__kv_db(kv), "PRAGMA max_page_count=1",
			      NULL, NULL, NULL),
		 SQLITE_OK);
	memset(big, 'q', sizeof(big));
	CHECK_OK(actr_kv_batch_delete(b, "b", 1));
	for (int i = 0; i < 64; i++) {
		snprintf(k, sizeof(k), "big%d", i);
		CHECK_OK(actr_kv_batch_put(b, k, strlen(k), big, sizeof(big)));
	}
	CHECK_EQ(actr_kv_batch_commit(kv, b), -ENOSPC);
	CHECK(val_is(kv, "b", "bee"));
	CHECK_EQ(actr_kv_get(kv, "big0", 4, &v), -ACTR_ENOTFOUND);
	CHECK_EQ(actr_kv_put(kv, "x", 1, big, sizeof(big)), -ENOSPC);
	/* room again: the same batch applies */
	CHECK_EQ(sqlite3_exec(actr__kv_db(kv),
			      "PRAGMA max_page_count=1000000", NULL, NULL,
			      NULL),
		 SQLITE_OK);
	CHECK_OK(actr_kv_batch_commit(kv, b));
	CHECK_EQ(actr_kv_get(kv, "b", 1, &v), -ACTR_ENOTFOUND);
	CHECK_OK(actr_kv_get(kv, "big63", 5, &v));
	CHECK_EQ(v->len, sizeof(big));
	actr_buf_unref(v);
	actr_kv_batch_free(b);
	actr_kv_batch_free(NULL);
	actr_kv_close(kv);
}

TEST(mailbox_kv_one_file_per_actor)
{
	actr_kv_t *a, *b;

	CHECK_OK(actr_kv_open(kpath("actor-a.kv"), false, &a));
	CHECK_OK(actr_kv_open(kpath("actor-b.kv"), false, &b));
	CHECK_OK(actr_kv_put(a, "k", 1, "A", 1));
	CHECK_OK(actr_kv_put(b, "k", 1, "B", 1));
	CHECK(val_is(a, "k", "A"));
	CHECK(val_is(b, "k", "B"));
	actr_kv_close(a);
	actr_kv_close(b);
}
