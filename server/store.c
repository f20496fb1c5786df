/*
 * The state that survives a restart, in SQLite (WAL): signing keys, realms
 * with their secrets, the serial numbers in use (so a random serial is
 * never issued twice), and registered actors (their RegisterRequest, which
 * carries the ACL and service spec, the hashed renewal token, expiries,
 * registration time and whether a WebSocket was ever opened).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include <actr/error.h>
#include <actr/log.h>

#include "server/signal_internal.h"

struct actr__sig_store {
	sqlite3 *db;		/* connection */
	sqlite3_stmt *claim;	/* INSERT OR IGNORE a serial */
	sqlite3_stmt *release;	/* DELETE a serial */
	sqlite3_stmt *put_actor; /* upsert actor */
	sqlite3_stmt *del_actor; /* delete actor */
	sqlite3_stmt *connected; /* mark an actor connected */
};

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"CREATE TABLE IF NOT EXISTS keys(key_id INTEGER PRIMARY KEY,"
	" priv BLOB NOT NULL, created INTEGER NOT NULL,"
	" retired INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS realms(realm_id INTEGER PRIMARY KEY,"
	" secret TEXT, next_serial INTEGER NOT NULL DEFAULT 1);" /* unused
	   since serials are random; kept for databases that have it */
	"CREATE TABLE IF NOT EXISTS actors(actor_id TEXT PRIMARY KEY,"
	" reg BLOB NOT NULL, renew_hash BLOB NOT NULL,"
	" renew_exp INTEGER NOT NULL, cred_exp INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS serials(realm_id INTEGER NOT NULL,"
	" serial INTEGER NOT NULL, PRIMARY KEY(realm_id, serial))"
	" WITHOUT ROWID;";

/* Columns added after the first release: rows written before count as
 * connected (they are never expired as "never connected"). */
static const char migrate_actors[] =
	"ALTER TABLE actors ADD COLUMN reg_at INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE actors ADD COLUMN connected INTEGER NOT NULL DEFAULT 1;";

static int db_err(struct actr__sig_store *st, const char *what)
{
	actr_loge("signal", "store: %s: %s", what, sqlite3_errmsg(st->db));
	return -ACTR_EINTERNAL;
}

/* Does the actors table have the columns added later? */
static bool has_columns(struct actr__sig_store *st)
{
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(st->db,
			       "SELECT reg_at, connected FROM actors LIMIT 0",
			       -1, &q, NULL) != SQLITE_OK)
		return false;
	sqlite3_finalize(q);
	return true;
}

struct actr__sig_store *actr__sig_store_open(const char *path)
{
	struct actr__sig_store *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	if (sqlite3_open(path, &st->db) != SQLITE_OK) {
		actr_loge("signal", "store: cannot open %s: %s", path,
			  st->db ? sqlite3_errmsg(st->db) : "no memory");
		goto fail;
	}
	sqlite3_busy_timeout(st->db, 1000);
	if (sqlite3_exec(st->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		db_err(st, "schema");
		goto fail;
	}
	if (!has_columns(st) &&
	    sqlite3_exec(st->db, migrate_actors, NULL, NULL, NULL) != SQLITE_OK) {
		db_err(st, "migrate actors");
		goto fail;
	}
	if (sqlite3_prepare_v2(st->db,
			       "INSERT OR IGNORE INTO serials VALUES(?1,?2)",
			       -1, &st->claim, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(st->db,
			       "DELETE FROM serials WHERE realm_id=?1 AND serial=?2",
			       -1, &st->release, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(st->db,
			       "INSERT OR REPLACE INTO actors(actor_id, reg,"
			       " renew_hash, renew_exp, cred_exp, reg_at,"
			       " connected) VALUES(?1,?2,?3,?4,?5,?6,?7)",
			       -1, &st->put_actor, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(st->db, "DELETE FROM actors WHERE actor_id=?1",
			       -1, &st->del_actor, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(st->db,
			       "UPDATE actors SET connected=1 WHERE actor_id=?1",
			       -1, &st->connected, NULL) != SQLITE_OK) {
		db_err(st, "prepare");
		goto fail;
	}
	return st;
fail:
	actr__sig_store_close(st);
	return NULL;
}

void actr__sig_store_close(struct actr__sig_store *st)
{
	if (!st)
		return;
	sqlite3_finalize(st->claim);
	sqlite3_finalize(st->release);
	sqlite3_finalize(st->put_actor);
	sqlite3_finalize(st->del_actor);
	sqlite3_finalize(st->connected);
	sqlite3_close(st->db);
	free(st);
}

int actr__sig_store_put_key(struct actr__sig_store *st,
			    const struct actr__sig_key *k)
{
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(st->db,
			       "INSERT OR REPLACE INTO keys VALUES(?1,?2,?3,?4)",
			       -1, &q, NULL) != SQLITE_OK)
		return db_err(st, "put key");
	sqlite3_bind_int64(q, 1, k->id);
	sqlite3_bind_blob(q, 2, k->priv, 32, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, (sqlite3_int64)k->created_s);
	sqlite3_bind_int64(q, 4, (sqlite3_int64)k->retired_s);
	rc = sqlite3_step(q) == SQLITE_DONE ? 0 : db_err(st, "put key");
	sqlite3_finalize(q);
	return rc;
}

int actr__sig_store_load_keys(struct actr__sig_store *st,
			      struct actr__sig_ident *id)
{
	sqlite3_stmt *q;
	int rc = 0, s;

	if (sqlite3_prepare_v2(st->db,
			       "SELECT key_id, priv, created, retired FROM keys"
			       " ORDER BY key_id",
			       -1, &q, NULL) != SQLITE_OK)
		return db_err(st, "load keys");
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		const void *priv = sqlite3_column_blob(q, 1);

		if (sqlite3_column_bytes(q, 1) != 32 || !priv) {
			actr_logw("signal", "store: key %lld is corrupt",
				  (long long)sqlite3_column_int64(q, 0));
			continue;
		}
		rc = actr__sig_ident_add(
			id, (uint32_t)sqlite3_column_int64(q, 0), priv,
			(uint64_t)sqlite3_column_int64(q, 2),
			(uint64_t)sqlite3_column_int64(q, 3));
		if (rc < 0)
			break;
	}
	if (rc == 0 && s != SQLITE_DONE)
		rc = db_err(st, "load keys");
	sqlite3_finalize(q);
	return rc;
}

int actr__sig_store_put_realm(struct actr__sig_store *st, uint32_t realm,
			      const char *secret)
{
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(st->db,
			       "INSERT INTO realms(realm_id, secret) VALUES(?1,?2)"
			       " ON CONFLICT(realm_id) DO UPDATE SET"
			       " secret=excluded.secret",
			       -1, &q, NULL) != SQLITE_OK)
		return db_err(st, "put realm");
	sqlite3_bind_int64(q, 1, realm);
	if (secret)
		sqlite3_bind_text(q, 2, secret, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, 2);
	rc = sqlite3_step(q) == SQLITE_DONE ? 0 : db_err(st, "put realm");
	sqlite3_finalize(q);
	return rc;
}

int actr__sig_store_load_realms(struct actr__sig_store *st,
				actr__sig_realm_fn fn, void *arg)
{
	sqlite3_stmt *q;
	int s;

	if (sqlite3_prepare_v2(st->db, "SELECT realm_id, secret FROM realms",
			       -1, &q, NULL) != SQLITE_OK)
		return db_err(st, "load realms");
	while ((s = sqlite3_step(q)) == SQLITE_ROW)
		fn(arg, (uint32_t)sqlite3_column_int64(q, 0),
		   (const char *)sqlite3_column_text(q, 1));
	sqlite3_finalize(q);
	return s == SQLITE_DONE ? 0 : db_err(st, "load realms");
}

/* Run a prepared (realm, serial) statement; returns the changed rows or
 * -ACTR_EINTERNAL. */
static int step_serial(struct actr__sig_store *st, sqlite3_stmt *q,
		       uint32_t realm, uint64_t serial, const char *what)
{
	int rc;

	sqlite3_bind_int64(q, 1, realm);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)serial);
	rc = sqlite3_step(q) == SQLITE_DONE ? sqlite3_changes(st->db)
					    : db_err(st, what);
	sqlite3_reset(q);
	return rc;
}

int actr__sig_store_claim_serial(struct actr__sig_store *st, uint32_t realm,
				 uint64_t serial)
{
	int rc = step_serial(st, st->claim, realm, serial, "claim serial");

	if (rc < 0)
		return rc;
	return rc == 1 ? 0 : -EEXIST;
}

int actr__sig_store_release_serial(struct actr__sig_store *st, uint32_t realm,
				   uint64_t serial)
{
	int rc = step_serial(st, st->release, realm, serial, "release serial");

	return rc < 0 ? rc : 0;
}

int actr__sig_store_put_actor(struct actr__sig_store *st,
			      const struct actr__sig_actor_row *row)
{
	sqlite3_stmt *q = st->put_actor;
	int rc;

	sqlite3_bind_text(q, 1, row->actor_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(q, 2, row->reg, (int)row->reg_len, SQLITE_STATIC);
	sqlite3_bind_blob(q, 3, row->renew_hash, 32, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, (sqlite3_int64)row->renew_exp_s);
	sqlite3_bind_int64(q, 5, (sqlite3_int64)row->cred_exp_s);
	sqlite3_bind_int64(q, 6, (sqlite3_int64)row->reg_s);
	sqlite3_bind_int(q, 7, row->connected);
	rc = sqlite3_step(q) == SQLITE_DONE ? 0 : db_err(st, "put actor");
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc;
}

/* Run a prepared statement whose one parameter is an actor id. 0 or
 * -ACTR_EINTERNAL. */
static int step_actor(struct actr__sig_store *st, sqlite3_stmt *q,
		      const char *actor_id, const char *what)
{
	int rc;

	sqlite3_bind_text(q, 1, actor_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(q) == SQLITE_DONE ? 0 : db_err(st, what);
	sqlite3_reset(q);
	return rc;
}

int actr__sig_store_del_actor(struct actr__sig_store *st,
			      const char *actor_id)
{
	return step_actor(st, st->del_actor, actor_id, "del actor");
}

int actr__sig_store_set_connected(struct actr__sig_store *st,
				  const char *actor_id)
{
	return step_actor(st, st->connected, actor_id, "set connected");
}

int actr__sig_store_load_actors(struct actr__sig_store *st,
				actr__sig_actor_fn fn, void *arg)
{
	sqlite3_stmt *q;
	int s;

	if (sqlite3_prepare_v2(st->db,
			       "SELECT actor_id, reg, renew_hash, renew_exp,"
			       " cred_exp, reg_at, connected FROM actors",
			       -1, &q, NULL) != SQLITE_OK)
		return db_err(st, "load actors");
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		struct actr__sig_actor_row row = {
			.actor_id = (const char *)sqlite3_column_text(q, 0),
			.reg = sqlite3_column_blob(q, 1),
			.reg_len = (size_t)sqlite3_column_bytes(q, 1),
			.renew_hash = sqlite3_column_blob(q, 2),
			.renew_exp_s = (uint64_t)sqlite3_column_int64(q, 3),
			.cred_exp_s = (uint64_t)sqlite3_column_int64(q, 4),
			.reg_s = (uint64_t)sqlite3_column_int64(q, 5),
			.connected = sqlite3_column_int(q, 6) != 0,
		};

		if (!row.actor_id || !row.reg ||
		    sqlite3_column_bytes(q, 2) != 32 || !row.renew_hash) {
			actr_logw("signal", "store: skipping corrupt actor row");
			continue;
		}
		fn(arg, &row);
	}
	sqlite3_finalize(q);
	return s == SQLITE_DONE ? 0 : db_err(st, "load actors");
}
