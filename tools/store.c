/*
 * The mailbox and dead-letter queue commands of `actr` (tools/cli.h):
 * read-only ones next to a running node (separate SQLite readers),
 * changing ones on a stopped node's file or through a running node's
 * admin endpoint (--node).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include <actr/actr.h>
#include <actr/metrics.h>
#include <actr/net.h>

#include "tools/cli.h"

/* ---- mailbox and DLQ --------------------------------------------------------- */

/* Open FILE's mailbox for a command. -EBUSY: a running node has it. */
static int mb_open(const char *path, actr_mailbox_t **mb)
{
	actr_mailbox_opts_t o;

	if (access(path, R_OK) < 0)
		return cli_fail(-ENOENT, "give the node's mailbox_path ([storage] "
			    "in its config)", "%s: %s", path,
			    strerror(errno));
	actr_mailbox_opts_init(&o);
	return actr_mailbox_open(path, &o, mb);
}

/* While the node runs, the DLQ table is read directly (SQLite WAL lets
 * a reader in next to the writer). */
static int dlq_read_running(const char *path, bool stats_only)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char sql[512];
	int rc, n = 0;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		sqlite3_close(db);
		return cli_fail(1, NULL, "%s: cannot read", path);
	}
	snprintf(sql, sizeof(sql), stats_only ?
		 "SELECT count(*), coalesce(min(created_ms),0), "
		 "coalesce(max(created_ms),0), "
		 "coalesce(sum(redrives > 0),0) FROM actr_dlq" :
		 "SELECT id, msg_id, category, reason, created_ms, attempts,"
		 " redrives, length(payload) FROM actr_dlq %s ORDER BY id"
		 " LIMIT %u", cli_opt.category ? "WHERE category = ?1" : "",
		 cli_opt.limit ? cli_opt.limit : 1000);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		rc = cli_fail(1, "is it an actr mailbox?", "%s: %s", path,
			  sqlite3_errmsg(db));
		sqlite3_close(db);
		return rc;
	}
	if (cli_opt.category && !stats_only)
		sqlite3_bind_text(st, 1, cli_opt.category, -1, SQLITE_STATIC);
	if (cli_opt.json && !stats_only)
		printf("{\"ok\":true,\"running\":true,\"entries\":[");
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (stats_only) {
			if (cli_opt.json)
				printf("{\"ok\":true,\"running\":true,"
				       "\"count\":%lld,\"oldest_ms\":%lld,"
				       "\"newest_ms\":%lld,\"redriven\":%lld}\n",
				       sqlite3_column_int64(st, 0),
				       sqlite3_column_int64(st, 1),
				       sqlite3_column_int64(st, 2),
				       sqlite3_column_int64(st, 3));
			else
				printf("dlq: %lld entries (%lld redriven "
				       "before); the node is running\n",
				       sqlite3_column_int64(st, 0),
				       sqlite3_column_int64(st, 3));
			continue;
		}
		if (cli_opt.json) {
			printf("%s{\"id\":%lld,\"msg_id\":%lld,\"category\":",
			       n ? "," : "", sqlite3_column_int64(st, 0),
			       sqlite3_column_int64(st, 1));
			cli_json_str(stdout, (const char *)sqlite3_column_text(st, 2),
				 (size_t)sqlite3_column_bytes(st, 2));
			printf(",\"reason\":");
			cli_json_str(stdout, (const char *)sqlite3_column_text(st, 3),
				 (size_t)sqlite3_column_bytes(st, 3));
			printf(",\"created_ms\":%lld,\"attempts\":%lld,"
			       "\"redrives\":%lld,\"bytes\":%lld}",
			       sqlite3_column_int64(st, 4),
			       sqlite3_column_int64(st, 5),
			       sqlite3_column_int64(st, 6),
			       sqlite3_column_int64(st, 7));
		} else {
			printf("%lld  %-14s %lld bytes  attempts %lld  %s\n",
			       sqlite3_column_int64(st, 0),
			       sqlite3_column_text(st, 2),
			       sqlite3_column_int64(st, 7),
			       sqlite3_column_int64(st, 5),
			       sqlite3_column_text(st, 3));
		}
		n++;
	}
	if (cli_opt.json && !stats_only)
		printf("]}\n");
	sqlite3_finalize(st);
	sqlite3_close(db);
	return 0;
}

/* One waiting message for `mailbox ls`. */
struct ls_msg {
	uint64_t id;
	uint64_t enqueued_ms;
	uint32_t attempts, redrives;
	uint8_t priority;
	size_t len;
	char route[128];		/* the RpcEnvelope's route key, or "" */
	char from[200];			/* the sender's ActrId, or "" */
};

struct ls_ctx {
	struct ls_msg *v;		/* the first `limit` seen */
	size_t n, limit;
	uint64_t count[2];		/* by priority */
	uint64_t bytes;			/* payload bytes, all */
	uint64_t oldest_ms;		/* smallest enqueued_ms, 0 none */
};

static int ls_collect(const actr_mailbox_stored_t *m, void *arg)
{
	struct ls_ctx *c = arg;
	struct ls_msg *e;
	Actr__RpcEnvelope *env;
	Actr__ActrId *from;

	c->count[m->priority & 1]++;
	c->bytes += m->len;
	if (!c->oldest_ms || m->enqueued_ms < c->oldest_ms)
		c->oldest_ms = m->enqueued_ms;
	if (!c->v || c->n == c->limit)
		return 0;
	e = &c->v[c->n++];
	memset(e, 0, sizeof(*e));
	e->id = m->id;
	e->enqueued_ms = m->enqueued_ms;
	e->attempts = m->attempts;
	e->redrives = m->redrives;
	e->priority = m->priority;
	e->len = m->len;
	env = actr__rpc_envelope__unpack(NULL, m->len, m->data);
	if (env) {
		snprintf(e->route, sizeof(e->route), "%s",
			 env->route_key ? env->route_key : "");
		actr__rpc_envelope__free_unpacked(env, NULL);
	}
	from = m->from_len ? actr__actr_id__unpack(NULL, m->from_len, m->from)
			   : NULL;
	if (from) {
		if (actr_id_format(from, e->from, sizeof(e->from)) <= 0)
			e->from[0] = 0;
		actr__actr_id__free_unpacked(from, NULL);
	}
	return 0;
}

/* High before Normal, then by id. */
static int ls_cmp(const void *a, const void *b)
{
	const struct ls_msg *x = a, *y = b;

	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Entries in FILE's dead-letter queue (read-only), or -1. */
static long long dlq_count(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long n = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
		    SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM actr_dlq", -1, &st,
			       NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return n;
}

/*
 * `mailbox stats|ls FILE`: read-only (a separate SQLite reader, see
 * actr_mailbox_peek), so both work next to the running node that holds
 * the mailbox, and never change the file.
 */
int cli_mailbox(int argc, char **argv)
{
	struct ls_ctx c = { .limit = cli_opt.limit ? cli_opt.limit : 1000 };
	bool ls = argc == 2 && !strcmp(argv[0], "ls");
	uint64_t now = actr_wall_ms();
	long long dlq;
	int rc;

	if (argc != 2 || (!ls && strcmp(argv[0], "stats")))
		return cli_fail(2, "actr mailbox stats FILE | actr mailbox ls FILE",
			    "unknown mailbox command");
	if (access(argv[1], R_OK) < 0)
		return cli_fail(1, "give the node's mailbox_path ([storage] in "
			    "its config)", "%s: %s", argv[1], strerror(errno));
	if (ls && !(c.v = calloc(c.limit, sizeof(*c.v))))
		return cli_fail(1, NULL, "out of memory");
	rc = actr_mailbox_peek(argv[1], ls_collect, &c);
	if (rc < 0) {
		free(c.v);
		return cli_fail(1, rc == -ACTR_ECORRUPT ? "is it an actr mailbox?"
						    : NULL,
			    "%s: %s", argv[1], actr_strerror(rc));
	}
	dlq = dlq_count(argv[1]);
	if (!ls) {
		if (cli_opt.json)
			printf("{\"ok\":true,\"queued_high\":%llu,"
			       "\"queued_normal\":%llu,\"bytes\":%llu,"
			       "\"dlq_size\":%lld,\"oldest_age_ms\":%llu}\n",
			       (unsigned long long)c.count[0],
			       (unsigned long long)c.count[1],
			       (unsigned long long)c.bytes, dlq,
			       (unsigned long long)(c.oldest_ms && now >
				c.oldest_ms ? now - c.oldest_ms : 0));
		else
			printf("%s: %llu waiting (high %llu, normal %llu; "
			       "%llu bytes), %lld in the dead-letter queue, "
			       "oldest %llu ms\n", argv[1],
			       (unsigned long long)(c.count[0] + c.count[1]),
			       (unsigned long long)c.count[0],
			       (unsigned long long)c.count[1],
			       (unsigned long long)c.bytes, dlq,
			       (unsigned long long)(c.oldest_ms && now >
				c.oldest_ms ? now - c.oldest_ms : 0));
		return 0;
	}
	qsort(c.v, c.n, sizeof(*c.v), ls_cmp);
	if (cli_opt.json) {
		printf("{\"ok\":true,\"queued_high\":%llu,\"queued_normal\":"
		       "%llu,\"dlq_size\":%lld,\"truncated\":%s,\"messages\":[",
		       (unsigned long long)c.count[0],
		       (unsigned long long)c.count[1], dlq,
		       c.n < c.count[0] + c.count[1] ? "true" : "false");
		for (size_t i = 0; i < c.n; i++) {
			const struct ls_msg *e = &c.v[i];

			printf("%s{\"id\":%llu,\"priority\":\"%s\",\"bytes\":"
			       "%zu,\"age_ms\":%llu,\"attempts\":%u,"
			       "\"redrives\":%u,\"route\":", i ? "," : "",
			       (unsigned long long)e->id,
			       e->priority ? "normal" : "high", e->len,
			       (unsigned long long)(now > e->enqueued_ms ?
						    now - e->enqueued_ms : 0),
			       e->attempts, e->redrives);
			cli_json_str(stdout, e->route, strlen(e->route));
			printf(",\"from\":");
			cli_json_str(stdout, e->from, strlen(e->from));
			printf("}");
		}
		printf("]}\n");
	} else {
		printf("%llu waiting (high %llu, normal %llu), %lld in the "
		       "dead-letter queue\n",
		       (unsigned long long)(c.count[0] + c.count[1]),
		       (unsigned long long)c.count[0],
		       (unsigned long long)c.count[1], dlq);
		if (c.n)
			printf("%-6s %10s %10s %8s  %-32s %s\n", "PRIO", "ID",
			       "AGE_MS", "BYTES", "ROUTE", "FROM");
		for (size_t i = 0; i < c.n; i++) {
			const struct ls_msg *e = &c.v[i];

			printf("%-6s %10llu %10llu %8zu  %-32s %s\n",
			       e->priority ? "normal" : "high",
			       (unsigned long long)e->id,
			       (unsigned long long)(now > e->enqueued_ms ?
						    now - e->enqueued_ms : 0),
			       e->len, *e->route ? e->route : "-",
			       *e->from ? e->from : "-");
		}
		if (c.n < c.count[0] + c.count[1])
			printf("... %llu more (--limit N)\n",
			       (unsigned long long)(c.count[0] + c.count[1] -
						    c.n));
	}
	free(c.v);
	return 0;
}

struct admin_res {
	int done;
	int rc;				/* transport */
	int status;			/* HTTP */
	char body[512];
};

static void on_admin(actr_http_call_t *call, int rc, int status,
		     const uint8_t *body, size_t len, void *arg)
{
	struct admin_res *x = arg;

	(void)call;
	x->done = 1;
	x->rc = rc;
	x->status = status;
	if (len >= sizeof(x->body))
		len = sizeof(x->body) - 1;
	memcpy(x->body, body, len);
	x->body[len] = 0;
}

/*
 * `dlq redrive|purge --node URL --token-file F`: through the running
 * node's admin endpoint (POST /admin/dlq/SUB?id=N|all[&category=C]),
 * which changes the mailbox the node holds and delivers what it
 * redrives.
 */
static int dlq_admin(const char *sub)
{
	struct actr_http_request rq = { 0 };
	struct admin_res x = { 0 };
	char token[256], hdr[300], url[1024], id[32];
	actr_reactor_t *r;
	uint64_t end;
	int rc;

	if (!cli_opt.token_file)
		return cli_fail(2, "the node's [observability] admin_token_file",
			    "--node needs --token-file FILE");
	rc = actr_metrics_read_token(cli_opt.token_file, token, sizeof(token));
	if (rc < 0)
		return cli_fail(2, "the file holds the node's admin token on its "
			    "first line", "--token-file %s: %s",
			    cli_opt.token_file, rc == -EINVAL ? "empty" :
			    actr_strerror(rc));
	if (cli_opt.id)
		snprintf(id, sizeof(id), "%llu", (unsigned long long)cli_opt.id);
	else
		snprintf(id, sizeof(id), "all");
	snprintf(url, sizeof(url), "%s/admin/dlq/%s?id=%s%s%s", cli_opt.node, sub,
		 id, cli_opt.category ? "&category=" : "",
		 cli_opt.category ? cli_opt.category : "");
	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", token);
	explicit_bzero(token, sizeof(token));
	rq.method = "POST";
	rq.url = url;
	rq.headers = hdr;
	rq.timeout_ms = cli_opt.timeout_ms;
	r = actr_reactor_new();
	if (!r)
		return cli_fail(1, NULL, "out of memory");
	if (!actr_http_request(r, &rq, on_admin, &x)) {
		explicit_bzero(hdr, sizeof(hdr));
		actr_reactor_free(r);
		return cli_fail(2, "give the endpoint as http://HOST:PORT",
			    "--node %s: not a URL", cli_opt.node);
	}
	end = actr_time_ns() + ACTR_MS(cli_opt.timeout_ms) + ACTR_SEC(1);
	while (!x.done && actr_time_ns() < end)
		actr_reactor_run_once(r, 50);
	explicit_bzero(hdr, sizeof(hdr));
	actr_reactor_drain(r, 100);
	actr_reactor_free(r);
	if (!x.done || x.rc < 0)
		return cli_fail(1, "is the node running with its metrics endpoint "
			    "(--metrics / [observability] metrics)?",
			    "%s: %s", cli_opt.node, x.done ?
			    actr_strerror(x.rc) : "no answer");
	if (x.status == 200) {
		if (cli_opt.json)
			printf("%s", x.body);
		else
			printf("dlq %s through %s: %s", sub, cli_opt.node, x.body);
		return 0;
	}
	return cli_fail(1, x.status == 401 || x.status == 403 ?
		    "check the token file: it must hold the node's "
		    "admin_token_file content" : x.status == 404 ?
		    "the node has no admin endpoint: configure "
		    "[observability] admin_token_file (--admin-token-file)" :
		    NULL, "dlq %s through %s refused: HTTP %d %s", sub,
		    cli_opt.node, x.status, x.body);
}

int cli_dlq(int argc, char **argv)
{
	const char *sub = argc > 0 ? argv[0] : "";
	actr_dlq_filter_t f = { 0 };
	actr_mailbox_t *mb;
	actr_dlq_entry_t *e = NULL;
	size_t n = 0;
	bool change = !strcmp(sub, "redrive") || !strcmp(sub, "purge");
	int rc;

	if (change && cli_opt.node)		/* no FILE: the node has it */
		return argc == 1 ? dlq_admin(sub)
				 : cli_fail(2, "actr dlq redrive|purge --node URL"
					" --token-file F", "--node takes no "
					"FILE");
	if (argc < 2 || (!change && strcmp(sub, "list") &&
			 strcmp(sub, "stats") && strcmp(sub, "show")))
		return cli_fail(2, "actr dlq list|stats|show|redrive|purge FILE",
			    "unknown dlq command '%s'", sub);
	if (!strcmp(sub, "show")) {
		if (argc != 3)
			return cli_fail(2, "actr dlq show FILE ID",
				    "show needs an entry id");
		cli_opt.id = strtoull(argv[2], NULL, 10);
	}
	f.id = cli_opt.id;
	f.category = cli_opt.category;
	f.limit = cli_opt.limit;
	rc = mb_open(argv[1], &mb);
	if (rc == -EBUSY) {
		if (change)
			return cli_fail(1, "go through the node's admin endpoint: "
				    "actr dlq redrive|purge --node "
				    "http://HOST:PORT --token-file FILE "
				    "(its [observability] metrics address and "
				    "admin_token_file), or stop the node first",
				    "%s is open in a running node", argv[1]);
		return dlq_read_running(argv[1], !strcmp(sub, "stats"));
	}
	if (rc < 0)
		return rc == -ENOENT ? 1 : cli_fail(1, NULL, "%s: %s", argv[1],
						 actr_strerror(rc));
	if (!strcmp(sub, "stats")) {
		actr_dlq_stats_t s;

		rc = actr_dlq_stats(mb, &f, &s);
		if (rc == 0 && cli_opt.json)
			printf("{\"ok\":true,\"count\":%llu,\"oldest_ms\":%llu,"
			       "\"newest_ms\":%llu,\"redriven\":%llu}\n",
			       (unsigned long long)s.count,
			       (unsigned long long)s.oldest_ms,
			       (unsigned long long)s.newest_ms,
			       (unsigned long long)s.redriven);
		else if (rc == 0)
			printf("dlq: %llu entries (%llu redriven before)\n",
			       (unsigned long long)s.count,
			       (unsigned long long)s.redriven);
	} else if (change) {
		rc = !strcmp(sub, "redrive") ? actr_dlq_redrive(mb, &f)
					     : actr_dlq_delete(mb, &f);
		if (rc >= 0 && actr_mailbox_commit(mb) == 0) {
			if (cli_opt.json)
				printf("{\"ok\":true,\"%s\":%d}\n",
				       !strcmp(sub, "redrive") ? "redriven"
							       : "purged", rc);
			else
				printf("%s %d entr%s\n",
				       !strcmp(sub, "redrive") ? "redrove"
							       : "purged", rc,
				       rc == 1 ? "y" : "ies");
			rc = 0;
		}
	} else {
		rc = actr_dlq_query(mb, &f, &e, &n);
		if (rc == 0 && !strcmp(sub, "show") && n == 0)
			rc = -ACTR_ENOTFOUND;
		if (rc == 0 && cli_opt.json)
			printf("{\"ok\":true,\"entries\":[");
		for (size_t i = 0; rc == 0 && i < n; i++) {
			if (cli_opt.json) {
				printf("%s{\"id\":%llu,\"category\":", i ? "," : "",
				       (unsigned long long)e[i].id);
				cli_json_str(stdout, e[i].category,
					 strlen(e[i].category));
				printf(",\"reason\":");
				cli_json_str(stdout, e[i].reason,
					 strlen(e[i].reason));
				printf(",\"attempts\":%u,\"redrives\":%u",
				       e[i].attempts, e[i].redrives);
				if (!strcmp(sub, "show"))
					cli_print_bytes("payload", e[i].payload,
						    e[i].payload_len);
				printf("}");
			} else if (!strcmp(sub, "show")) {
				printf("entry %llu: %s: %s (attempts %u, "
				       "redrives %u)\n",
				       (unsigned long long)e[i].id,
				       e[i].category, e[i].reason,
				       e[i].attempts, e[i].redrives);
				cli_print_bytes("payload", e[i].payload,
					    e[i].payload_len);
			} else {
				printf("%llu  %-14s %zu bytes  attempts %u  "
				       "%s\n", (unsigned long long)e[i].id,
				       e[i].category, e[i].payload_len,
				       e[i].attempts, e[i].reason);
			}
		}
		if (rc == 0 && cli_opt.json)
			printf("]}\n");
		actr_dlq_entries_free(e, n);
	}
	actr_mailbox_close(mb);
	if (rc < 0)
		return cli_fail(1, rc == -ACTR_ENOTFOUND ?
			    "list the ids with `actr dlq list FILE`" : NULL,
			    "dlq %s: %s", sub, actr_strerror(rc));
	return 0;
}

