/*
 * The signaling core on the wire: the reactor's HTTP/1.1 server (wire/,
 * include/actr/net.h) routes /ais/ requests and /signaling/ws upgrades to
 * the core; WebSocket messages go in as frames, the core's sends become
 * binary messages. Output is queued per connection up to max_pending; a
 * client that lets it fill is closed (1008), so a slow reader never
 * stalls the others.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <actr/error.h>
#include <actr/log.h>
#include <actr/net.h>
#include <actr/reactor.h>
#include <actr/util.h>

#include "core/list.h"
#include "core/map.h"
#include "server/signal_internal.h"
#include "server/web.h"

#define TAG "signal"

/* A WebSocket of the listener: in l->conns while the WebSocket is
 * open; on l->closed while the core is yet to hear that it closed. */
struct lconn {
	struct actr__map_node node;	/* in l->conns (key id) */
	struct actr__list closed_link;	/* on l->closed, else self-linked */
	struct actr__sig_listener *l;	/* owner */
	uint64_t id;			/* core's connection id */
	actr_ws_t *ws;			/* the WebSocket, NULL once closed */
	bool closing;			/* we asked to close */
	bool notified;			/* core told (or queued to be told) */
	bool gone;			/* WebSocket freed, out of l->conns */
};

struct actr__sig_listener {
	actr_reactor_t *r;		/* owner */
	actr_http_server_t *http;	/* listener */
	struct actr__sig_server *core;	/* signaling core */
	actr_timer_t tick;		/* expiry tick */
	struct actr__map conns;		/* id -> lconn (owned) */
	uint64_t next_id;		/* connection ids */
	uint64_t text_ignored;		/* text frames dropped */
	uint64_t slow_closed;		/* clients closed for max_pending */
	size_t max_pending;		/* cfg's, for /metrics */
	int depth;			/* > 0 while inside a core call */
	struct actr__list closed;	/* lconn closed during a core call */
	struct actr__sig_web *web;	/* CORS policy, static folder */
	bool tls;			/* serving https/wss */
};

/* The open WebSocket with core id id, or NULL. */
static struct lconn *lconn_find(struct actr__sig_listener *l, uint64_t id)
{
	struct actr__map_node *n = actr__map_find_u64(&l->conns, id);

	return n ? actr__map_entry(n, struct lconn, node) : NULL;
}

/* Queue c for leave() to tell the core (no allocation, so it cannot
 * fail). */
static void queue_closed(struct actr__sig_listener *l, struct lconn *c)
{
	c->notified = true;
	actr__list_insert_tail(&l->closed, &c->closed_link);
}

/* A WebSocket may close synchronously inside a core call (a send that
 * overflows max_pending); the core hears of it only after the call
 * returns, so it never sees a connection vanish under its feet. */
static void enter(struct actr__sig_listener *l)
{
	l->depth++;
}

static void leave(struct actr__sig_listener *l)
{
	struct actr__list *n;

	if (--l->depth > 0)
		return;
	while ((n = actr__list_pop_head(&l->closed)) != NULL) {
		struct lconn *c = actr__list_entry(n, struct lconn, closed_link);
		uint64_t id = c->id;

		if (c->gone)
			free(c);
		l->depth++;
		actr__sig_conn_closed(l->core, id);
		l->depth--;
	}
}

static int io_send(void *ctx, uint64_t conn, const uint8_t *data, size_t len)
{
	struct actr__sig_listener *l = ctx;
	struct lconn *c = lconn_find(l, conn);
	int rc;

	if (!c || !c->ws || c->closing)
		return -ACTR_ECLOSED;
	rc = actr_ws_send_binary(c->ws, data, len);
	if (rc == -ENOBUFS) {
		l->slow_closed++;
		actr_logw(TAG, "conn %" PRIu64 " (%s): output queue full, closing"
			  " slow client", conn, actr_ws_peer(c->ws));
		c->closing = true;
		actr_ws_close(c->ws, 1008, "too slow");
		/* the close handshake may take close_timeout_ms; the core
		 * forgets the client now (after its current call). The close
		 * may also have completed synchronously and freed c. */
		c = lconn_find(l, conn);
		if (c && c->ws && !c->notified)
			queue_closed(l, c);
	}
	return rc;
}

static void io_close(void *ctx, uint64_t conn, int code, const char *why)
{
	struct actr__sig_listener *l = ctx;
	struct lconn *c = lconn_find(l, conn);

	if (!c || !c->ws || c->closing)
		return;
	c->closing = true;
	actr_ws_close(c->ws, code, why);
}

static void on_ws_message(actr_ws_t *ws, bool text, const uint8_t *data,
			  size_t len, void *arg)
{
	struct lconn *c = arg;

	if (text) {
		c->l->text_ignored++;
		actr_logd(TAG, "conn %" PRIu64 ": text frame ignored (%zu bytes)",
			  c->id, len);
		return;
	}
	enter(c->l);
	actr__sig_conn_frame(c->l->core, c->id, data, len, actr_wall_ms());
	leave(c->l);
}

static void on_ws_close(actr_ws_t *ws, int code, const char *reason,
			void *arg)
{
	struct lconn *c = arg;
	struct actr__sig_listener *l = c->l;
	uint64_t id = c->id;

	c->ws = NULL;
	c->gone = true;
	actr_logd(TAG, "conn %" PRIu64 " closed (%d %s)", id, code,
		  reason ? reason : "");
	actr__map_remove(&l->conns, &c->node);
	if (actr__list_linked(&c->closed_link))
		return; /* leave() tells the core and frees c */
	if (!l->core || c->notified) {
		free(c);
		return;
	}
	if (l->depth > 0) {
		queue_closed(l, c);
		return;
	}
	free(c);
	actr__sig_conn_closed(l->core, id);
}

static const struct actr_ws_callbacks ws_cbs = {
	.on_message = on_ws_message,
	.on_close = on_ws_close,
};

static void on_request(actr_http_req_t *q, void *arg)
{
	struct actr__sig_listener *l = arg;
	const char *path = actr_http_req_path(q);
	const char *query = actr_http_req_query(q);
	const char *peer = actr_http_req_peer(q);
	struct actr__sig_http_reply rep;
	uint64_t now = actr_wall_ms();
	char *target = NULL;

	const char *method = actr_http_req_method(q);
	char hdrs[512];
	int cst;

	enter(l);
	hdrs[0] = '\0';
	if (!strncmp(path, "/ais/", 5) || !strcmp(path, "/signaling/ws")) {
		cst = actr__sig_cors(l->web, method,
				     actr_http_req_header(q, "origin"),
				     actr_http_req_header(q, "host"), l->tls,
				     actr_http_req_header(q,
					"access-control-request-method"),
				     actr_http_req_header(q,
					"access-control-request-headers"),
				     hdrs, sizeof(hdrs));
		if (cst) {
			actr_http_respond(q, cst, "text/plain", hdrs,
					  cst == 403 ? "origin not allowed\n"
						     : "", cst == 403 ? 19 : 0);
			goto out;
		}
	} else if (actr__sig_web_has_www(l->web)) {
		cst = actr__sig_www_serve(l->web, method, path, &rep, hdrs,
					  sizeof(hdrs));
		if (!rep.body && cst != 200) {
			const char *why = cst == 404 ? "not found\n" :
					  cst == 403 ? "forbidden\n" :
					  cst == 301 ? "moved\n" :
					  cst == 405 ? "method not allowed\n" :
					  "cannot serve this path\n";

			actr_http_respond(q, cst, rep.ctype, hdrs, why,
					  strlen(why));
		} else {
			actr_http_respond(q, cst, rep.ctype, hdrs, rep.body,
					  rep.len);
		}
		free(rep.body);
		goto out;
	}
	if (asprintf(&target, "%s%s%s", path, query[0] ? "?" : "", query) < 0) {
		target = NULL;
		actr_http_respond(q, 503, "text/plain", NULL,
				  "server out of memory\n", 21);
		goto out;
	}

	if (strcmp(path, "/signaling/ws") == 0 &&
	    actr_http_req_is_websocket(q)) {
		int st;
		struct lconn *c;

		/* a handshake we cannot accept (426 for a version other than
		 * 13) is answered before the credential is looked at */
		if (actr_http_ws_check(q) != 0)
			goto out;
		st = actr__sig_ws_check(l->core, target, peer, now, &rep);
		if (st != 101) {
			actr_http_respond(q, st, rep.ctype, hdrs, rep.body,
					  rep.len);
			free(rep.body);
			goto out;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			actr_http_respond(q, 503, "text/plain", NULL,
					  "server out of memory\n", 21);
			goto out;
		}
		c->l = l;
		c->id = ++l->next_id;
		actr__list_init(&c->closed_link);
		c->ws = actr_http_accept_ws(q, &ws_cbs, c);
		if (!c->ws) {
			free(c);
			goto out;
		}
		actr__map_insert_u64(&l->conns, &c->node, c->id);
		if (actr__sig_conn_open(l->core, c->id, target, peer, now) < 0) {
			c->closing = true;
			actr_ws_close(c->ws, 1008, "credential rejected");
		}
		goto out;
	}
	{
		size_t blen = 0;
		const uint8_t *body = actr_http_req_body(q, &blen);

		if (actr__sig_http(l->core, actr_http_req_method(q), target,
				   body, blen,
				   actr_http_req_header(q, "x-actrix-realm-secret"),
				   peer, now, &rep) < 0) {
			actr_http_respond(q, 500, "text/plain", NULL,
					  "internal error\n", 15);
			goto out;
		}
		actr_http_respond(q, rep.status, rep.ctype, hdrs, rep.body,
				  rep.len);
		free(rep.body);
	}
out:
	free(target);
	leave(l);
}

static void on_tick(actr_timer_t *t, void *arg)
{
	struct actr__sig_listener *l = arg;

	enter(l);
	actr__sig_tick(l->core, actr_wall_ms());
	leave(l);
}

struct actr__sig_listener *
actr__sig_listen(struct actr_reactor *r, const struct actr__sig_config *cfg,
		 const struct actr__sig_listen_config *lc)
{
	struct actr__sig_listener *l = calloc(1, sizeof(*l));
	struct actr__sig_io io = { .ctx = l, .send = io_send,
				   .close = io_close };
	struct actr_http_server_config hc = { 0 };

	if (!l) {
		actr_loge(TAG, "out of memory");
		return NULL;
	}
	l->r = r;
	actr__map_init(&l->conns);
	actr__list_init(&l->closed);
	l->core = actr__sig_new(cfg, &io, actr_wall_ms());
	if (!l->core)
		goto fail;
	l->tls = lc->tls_cert != NULL;
	l->web = actr__sig_web_new(lc->www_dir, lc->cors_origins,
				   lc->n_cors_origins,
				   cfg->max_pending > 4096 ? cfg->max_pending - 4096
							   : cfg->max_pending);
	if (!l->web)
		goto fail;
	hc.host = lc->host ? lc->host : "127.0.0.1";
	hc.port = lc->port;
	hc.tls_cert_file = lc->tls_cert;
	hc.tls_key_file = lc->tls_key;
	hc.limits.max_frame = cfg->max_frame;
	hc.limits.max_message = cfg->max_frame;
	hc.limits.max_pending = cfg->max_pending;
	l->max_pending = cfg->max_pending;
	hc.limits.max_body = 256 * 1024;
	hc.limits.max_conns = cfg->max_conns + 64;
	hc.limits.header_timeout_ms = lc->header_timeout_ms;
	hc.limits.frame_timeout_ms = lc->frame_timeout_ms ? lc->frame_timeout_ms
							  : 10000;
	hc.on_request = on_request;
	hc.arg = l;
	l->http = actr_http_server_new(r, &hc);
	if (!l->http)
		goto fail;
	if (lc->www_dir)
		actr_logi(TAG, "serving the files of %s (--www)", lc->www_dir);
	for (size_t i = 0; i < lc->n_cors_origins; i++)
		actr_logi(TAG, "CORS: admitting pages of %s",
			  lc->cors_origins[i]);
	actr_timer_init(r, &l->tick, on_tick, l);
	actr_timer_start(&l->tick, ACTR_SEC(1), ACTR_SEC(1));
	actr_logi(TAG, "listening on %s://%s:%u (POST /ais/register, "
		  "/ais/renew; GET /ais/health, /ais/signing-pubkey, "
		  "/signaling/ws)", lc->tls_cert ? "https" : "http", hc.host,
		  actr_http_server_port(l->http));
	return l;
fail:
	actr__sig_listener_free(l);
	return NULL;
}

uint16_t actr__sig_listener_port(const struct actr__sig_listener *l)
{
	return actr_http_server_port(l->http);
}

void actr__sig_listener_http_stats(const struct actr__sig_listener *l,
				   struct actr_http_server_stats *out)
{
	actr_http_server_stats(l->http, out);
}

void actr__sig_listener_queue_stats(const struct actr__sig_listener *l,
				    struct actr__sig_queue_stats *q)
{
	struct actr__map_iter it;
	struct actr__map_node *n;

	memset(q, 0, sizeof(*q));
	q->slow_closed = l->slow_closed;
	q->max_pending = l->max_pending;
	actr__map_foreach((struct actr__map *)&l->conns, it, n) {
		const struct lconn *c = actr__map_entry(n, const struct lconn,
							node);
		size_t b = c->ws ? actr_ws_pending(c->ws) : 0;

		q->bytes += b;
		q->backlogged += b > 0;
		if (b > q->max_bytes)
			q->max_bytes = b;
	}
}

struct actr__sig_web *actr__sig_listener_web(struct actr__sig_listener *l)
{
	return l->web;
}

struct actr__sig_server *actr__sig_listener_core(struct actr__sig_listener *l)
{
	return l->core;
}

void actr__sig_listener_free(struct actr__sig_listener *l)
{
	struct actr__map_iter it;
	struct actr__map_node *n;
	struct actr__list *ln;

	if (!l)
		return;
	if (l->tick.r)
		actr_timer_stop(&l->tick);
	/* the server reports on_close for every WebSocket: core first */
	actr_http_server_free(l->http);
	actr__sig_free(l->core);
	l->core = NULL;
	/* nothing is left once the server closed every WebSocket; free
	 * what a failed setup or a pending notification may hold */
	while ((ln = actr__list_pop_head(&l->closed)) != NULL) {
		struct lconn *c = actr__list_entry(ln, struct lconn, closed_link);

		if (c->gone)
			free(c);
	}
	actr__map_foreach(&l->conns, it, n) {
		actr__map_remove(&l->conns, n);
		free(actr__map_entry(n, struct lconn, node));
	}
	actr__map_fini(&l->conns);
	actr__sig_web_free(l->web);
	free(l);
}
