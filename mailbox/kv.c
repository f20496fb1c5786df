/*
 * Per-actor key-value storage: one SQLite WAL file per actor, one
 * WITHOUT ROWID table ordered by key bytes. See include/actr/kv.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mailbox/internal.h"

#define KV_LOG "kv"
#define KV_MAX_KEY 65536
#define KV_MAX_VAL (64u << 20)

struct actr_kv {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *s_get, *s_put, *s_del, *s_scan, *s_scan_all;
	sqlite3_stmt *s_begin, *s_commit, *s_rollback;
};

struct kv_op {
	struct kv_op *next;
	bool del;		/* delete, else put */
	size_t klen, vlen;
	uint8_t data[];		/* key then value */
};

struct actr_kv_batch {
	struct kv_op *head, *tail;
};

static const char kv_schema[] =
	"CREATE TABLE actr_kv(key BLOB PRIMARY KEY, value BLOB NOT NULL) "
	"WITHOUT ROWID;";

static bool key_ok(const void *key, size_t klen)
{
	return key && klen > 0 && klen <= KV_MAX_KEY;
}

int actr_kv_open(const char *path, bool sync_full, actr_kv_t **out)
{
	actr_kv_t *kv;
	int rc;

	*out = NULL;
	if (!path)
		return -EINVAL;
	kv = calloc(1, sizeof(*kv));
	if (!kv || !(kv->path = strdup(path))) {
		free(kv);
		return -ENOMEM;
	}
	rc = actr__db_open(path, "actr-kv", kv_schema, 4096, sync_full, 1000, true,
			   KV_LOG,
			   &kv->db);
	if (rc == 0)
		rc = actr__db_prepare(kv->db,
				      "SELECT value FROM actr_kv WHERE key=?1",
				      &kv->s_get);
	if (rc == 0)
		rc = actr__db_prepare(kv->db,
				      "INSERT OR REPLACE INTO actr_kv(key, "
				      "value) VALUES(?1, ?2)",
				      &kv->s_put);
	if (rc == 0)
		rc = actr__db_prepare(kv->db,
				      "DELETE FROM actr_kv WHERE key=?1",
				      &kv->s_del);
	if (rc == 0)
		rc = actr__db_prepare(kv->db,
				      "SELECT key, value FROM actr_kv WHERE "
				      "key >= ?1 AND key < ?2 ORDER BY key",
				      &kv->s_scan);
	if (rc == 0)
		rc = actr__db_prepare(kv->db,
				      "SELECT key, value FROM actr_kv WHERE "
				      "key >= ?1 ORDER BY key",
				      &kv->s_scan_all);
	if (rc == 0)
		rc = actr__db_prepare(kv->db, "BEGIN IMMEDIATE", &kv->s_begin);
	if (rc == 0)
		rc = actr__db_prepare(kv->db, "COMMIT", &kv->s_commit);
	if (rc == 0)
		rc = actr__db_prepare(kv->db, "ROLLBACK", &kv->s_rollback);
	if (rc < 0) {
		actr_kv_close(kv);
		return rc;
	}
	*out = kv;
	return 0;
}

void actr_kv_close(actr_kv_t *kv)
{
	if (!kv)
		return;
	sqlite3_finalize(kv->s_get);
	sqlite3_finalize(kv->s_put);
	sqlite3_finalize(kv->s_del);
	sqlite3_finalize(kv->s_scan);
	sqlite3_finalize(kv->s_scan_all);
	sqlite3_finalize(kv->s_begin);
	sqlite3_finalize(kv->s_commit);
	sqlite3_finalize(kv->s_rollback);
	sqlite3_close_v2(kv->db);
	free(kv->path);
	free(kv);
}

int actr_kv_get(actr_kv_t *kv, const void *key, size_t klen,
		actr_buf_t **val)
{
	int rc;

	*val = NULL;
	if (!key_ok(key, klen))
		return -EINVAL;
	sqlite3_bind_blob(kv->s_get, 1, key, (int)klen, SQLITE_STATIC);
	rc = sqlite3_step(kv->s_get);
	if (rc == SQLITE_ROW) {
		const void *p = sqlite3_column_blob(kv->s_get, 0);
		size_t n = (size_t)sqlite3_column_bytes(kv->s_get, 0);

		*val = actr_buf_copy(p ? p : "", n);
		rc = *val ? 0 : -ENOMEM;
	} else if (rc == SQLITE_DONE) {
		rc = -ACTR_ENOTFOUND;
	} else {
		rc = actr__sqlite_err(rc);
		actr_loge(KV_LOG, "%s: get: %s", kv->path,
			  sqlite3_errmsg(kv->db));
	}
	sqlite3_reset(kv->s_get);
	sqlite3_clear_bindings(kv->s_get);
	return rc;
}

static int do_put(actr_kv_t *kv, const void *key, size_t klen,
		  const void *val, size_t vlen)
{
	int rc;

	sqlite3_bind_blob(kv->s_put, 1, key, (int)klen, SQLITE_STATIC);
	sqlite3_bind_blob(kv->s_put, 2, vlen ? val : "", (int)vlen,
			  SQLITE_STATIC);
	rc = actr__db_exec_stmt(kv->s_put);
	sqlite3_clear_bindings(kv->s_put);
	return rc;
}

static int do_del(actr_kv_t *kv, const void *key, size_t klen)
{
	int rc;

	sqlite3_bind_blob(kv->s_del, 1, key, (int)klen, SQLITE_STATIC);
	rc = actr__db_exec_stmt(kv->s_del);
	sqlite3_clear_bindings(kv->s_del);
	return rc;
}

static int log_err(actr_kv_t *kv, const char *what, int rc)
{
	if (rc < 0)
		actr_loge(KV_LOG, "%s: %s failed: %s (%s)", kv->path, what,
			  actr_strerror(rc), sqlite3_errmsg(kv->db));
	return rc;
}

int actr_kv_put(actr_kv_t *kv, const void *key, size_t klen, const void *val,
		size_t vlen)
{
	if (!key_ok(key, klen) || (!val && vlen))
		return -EINVAL;
	if (vlen > KV_MAX_VAL)
		return -ACTR_ETOOBIG;
	return log_err(kv, "put", do_put(kv, key, klen, val, vlen));
}

int actr_kv_delete(actr_kv_t *kv, const void *key, size_t klen)
{
	if (!key_ok(key, klen))
		return -EINVAL;
	return log_err(kv, "delete", do_del(kv, key, klen));
}

/* The smallest key greater than every key starting with prefix: prefix
 * with trailing 0xff bytes dropped and the last byte incremented. Returns
 * its length, 0 if there is none (prefix all 0xff). */
static size_t prefix_end(const uint8_t *p, size_t n, uint8_t *out)
{
	while (n && p[n - 1] == 0xff)
		n--;
	if (!n)
		return 0;
	memcpy(out, p, n);
	out[n - 1]++;
	return n;
}

int actr_kv_scan(actr_kv_t *kv, const void *prefix, size_t plen,
		 actr_kv_scan_cb cb, void *arg)
{
	uint8_t *end = NULL;
	size_t elen = 0;
	sqlite3_stmt *st;
	int rc, stop = 0;

	if ((!prefix && plen) || plen > KV_MAX_KEY || !cb)
		return -EINVAL;
	if (plen) {
		end = malloc(plen);
		if (!end)
			return -ENOMEM;
		elen = prefix_end(prefix, plen, end);
	}
	st = elen ? kv->s_scan : kv->s_scan_all;
	sqlite3_bind_blob(st, 1, plen ? prefix : "", (int)plen, SQLITE_STATIC);
	if (elen)
		sqlite3_bind_blob(st, 2, end, (int)elen, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		stop = cb(sqlite3_column_blob(st, 0),
			  (size_t)sqlite3_column_bytes(st, 0),
			  sqlite3_column_blob(st, 1),
			  (size_t)sqlite3_column_bytes(st, 1), arg);
		if (stop)
			break;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	free(end);
	if (stop)
		return stop;
	return log_err(kv, "scan", rc == SQLITE_DONE ? 0 :
						      actr__sqlite_err(rc));
}

actr_kv_batch_t *actr_kv_batch_new(void)
{
	return calloc(1, sizeof(actr_kv_batch_t));
}

static int batch_add(actr_kv_batch_t *b, bool del, const void *key,
		     size_t klen, const void *val, size_t vlen)
{
	struct kv_op *op;

	if (!key_ok(key, klen) || (!val && vlen))
		return -EINVAL;
	if (vlen > KV_MAX_VAL)
		return -ACTR_ETOOBIG;
	op = malloc(sizeof(*op) + klen + vlen);
	if (!op)
		return -ENOMEM;
	op->next = NULL;
	op->del = del;
	op->klen = klen;
	op->vlen = vlen;
	memcpy(op->data, key, klen);
	if (vlen)
		memcpy(op->data + klen, val, vlen);
	if (b->tail)
		b->tail->next = op;
	else
		b->head = op;
	b->tail = op;
	return 0;
}

int actr_kv_batch_put(actr_kv_batch_t *b, const void *key, size_t klen,
		      const void *val, size_t vlen)
{
	return batch_add(b, false, key, klen, val, vlen);
}

int actr_kv_batch_delete(actr_kv_batch_t *b, const void *key, size_t klen)
{
	return batch_add(b, true, key, klen, NULL, 0);
}

static void batch_clear(actr_kv_batch_t *b)
{
	while (b->head) {
		struct kv_op *op = b->head;

		b->head = op->next;
		free(op);
	}
	b->tail = NULL;
}

int actr_kv_batch_commit(actr_kv_t *kv, actr_kv_batch_t *b)
{
	int rc = actr__db_exec_stmt(kv->s_begin);

	for (struct kv_op *op = b->head; op && !rc; op = op->next)
		rc = op->del ? do_del(kv, op->data, op->klen) :
			       do_put(kv, op->data, op->klen,
				      op->data + op->klen, op->vlen);
	if (!rc)
		rc = actr__db_exec_stmt(kv->s_commit);
	if (rc < 0) {
		log_err(kv, "batch", rc);
		if (!sqlite3_get_autocommit(kv->db))
			actr__db_exec_stmt(kv->s_rollback);
		return rc;
	}
	batch_clear(b);
	return 0;
}

void actr_kv_batch_free(actr_kv_batch_t *b)
{
	if (!b)
		return;
	batch_clear(b);
	free(b);
}

sqlite3 *actr__kv_db(actr_kv_t *kv)
{
	return kv->db;
}
