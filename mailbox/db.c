/*
 * SQLite helpers shared by the mailbox and the key-value store: opening
 * with the right pragmas, recognising our own files, error mapping.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mailbox/internal.h"

int actr__sqlite_err(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
	case SQLITE_FORMAT:
		return -ACTR_ECORRUPT;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_IOERR:
		return -EIO;
	case SQLITE_CANTOPEN:
		return -ENOENT; /* errno: OS (file or directory missing) */
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_TOOBIG:
		return -ACTR_ETOOBIG;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
		return -ACTR_ECORRUPT;
	default:
		return -ACTR_EINTERNAL;
	}
}

int actr__db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
				    NULL);

	if (rc != SQLITE_OK) {
		actr_loge(MB_LOG, "prepare failed: %s (%s)", sqlite3_errmsg(db),
			  sql);
		*st = NULL;
		return actr__sqlite_err(rc);
	}
	return 0;
}

int actr__db_exec_stmt(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : actr__sqlite_err(rc);
}

int actr__db_exec(sqlite3 *db, const char *sql)
{
	return actr__sqlite_err(sqlite3_exec(db, sql, NULL, NULL, NULL));
}

/* Read the magic from actr_meta; 1 = matches, 0 = foreign, <0 error. */
static int check_magic(sqlite3 *db, const char *magic)
{
	sqlite3_stmt *st;
	int rc, ok = 0;

	rc = sqlite3_prepare_v2(db,
				"SELECT value FROM actr_meta WHERE key='magic'",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return 0; /* no such table: foreign */
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(st, 0);

		ok = v && !strcmp((const char *)v, magic);
	} else if (rc != SQLITE_DONE) {
		ok = actr__sqlite_err(rc);
	}
	sqlite3_finalize(st);
	return ok;
}

int actr__db_open(const char *path, const char *magic, const char *schema_sql,
		  uint32_t page_size, int sync_full, uint32_t checkpoint_pages,
		  bool exclusive, const char *subsys, sqlite3 **out)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char sql[256];
	int rc, err, ntables = 0;

	*out = NULL;
	rc = sqlite3_open_v2(path, &db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_NOMUTEX,
			     actr__db_vfs());
	if (rc != SQLITE_OK) {
		err = actr__sqlite_err(rc);
		actr_loge(subsys, "%s: cannot open: %s", path,
			  db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto out_close;
	}
	sqlite3_extended_result_codes(db, 0);
	/* Exclusive lock: one writer, and no shared-memory index to go stale
	 * after a crash. Taken at the first read below. Without it (the
	 * mailbox: a checkpointer connection shares the file) the caller
	 * keeps other processes out itself. */
	if (exclusive) {
		err = actr__db_exec(db, "PRAGMA locking_mode=EXCLUSIVE");
		if (err)
			goto out_errmsg;
	}
	/* The first read: a garbage or foreign-format file fails here. */
	rc = sqlite3_prepare_v2(db,
				"SELECT count(*) FROM sqlite_master "
				"WHERE type='table'",
				-1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		ntables = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW) {
		err = actr__sqlite_err(rc);
		if (err == -EBUSY)
			actr_loge(subsys, "%s: in use by another process",
				  path);
		else
			actr_loge(subsys, "%s: not a usable database: %s",
				  path, sqlite3_errmsg(db));
		goto out_close;
	}
	if (ntables > 0) {
		rc = check_magic(db, magic);
		if (rc <= 0) {
			err = rc < 0 ? rc : -ACTR_ECORRUPT;
			actr_loge(subsys,
				  "%s: not an %s database (foreign schema)",
				  path, magic);
			goto out_close;
		}
	}
	if (ntables == 0) { /* only before the first table */
		snprintf(sql, sizeof(sql), "PRAGMA page_size=%u", page_size);
		err = actr__db_exec(db, sql);
		if (err)
			goto out_errmsg;
	}
	err = actr__db_exec(db, "PRAGMA journal_mode=WAL");
	if (err)
		goto out_errmsg;
	snprintf(sql, sizeof(sql),
		 "PRAGMA synchronous=%s; PRAGMA wal_autocheckpoint=%u; "
		 "PRAGMA journal_size_limit=67108864; "
		 "PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY",
		 sync_full ? "FULL" : "NORMAL", checkpoint_pages);
	err = actr__db_exec(db, sql);
	if (err)
		goto out_errmsg;
	if (ntables == 0) {
		err = actr__db_exec(db, "BEGIN IMMEDIATE");
		if (!err)
			err = actr__db_exec(db, schema_sql);
		if (!err) {
			snprintf(sql, sizeof(sql),
				 "CREATE TABLE actr_meta(key TEXT PRIMARY KEY,"
				 " value) WITHOUT ROWID;"
				 "INSERT INTO actr_meta VALUES('magic','%s');"
				 "INSERT INTO actr_meta VALUES('version',1);",
				 magic);
			err = actr__db_exec(db, sql);
		}
		if (!err)
			err = actr__db_exec(db, "COMMIT");
		if (err) {
			actr_loge(subsys, "%s: cannot create schema: %s", path,
				  sqlite3_errmsg(db));
			goto out_close;
		}
	}
	*out = db;
	return 0;

out_errmsg:
	actr_loge(subsys, "%s: %s", path, sqlite3_errmsg(db));
out_close:
	sqlite3_close_v2(db);
	return err;
}
