/* WebSocket connections (RFC 6455) on the reactor, client and server side:
 * the codec is ws_codec.c, the transport conn.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "net_internal.h"
#include "ws_internal.h"

enum { WS_CONNECTING = 0, WS_OPEN, WS_CLOSING, WS_CLOSED };

struct actr_ws {
	actr_reactor_t *r;			/* owner */
	struct actr__conn *c;			/* transport, NULL once gone */
	struct actr_ws_callbacks cb;		/* application callbacks */
	void *arg;				/* their argument */
	struct actr_net_limits lim;		/* caps and deadlines */
	int state;				/* WS_* */
	bool client;				/* we mask our frames */
	struct actr__ws_dec dec;		/* frame decoder */
	actr_timer_t timer;			/* handshake, frame or close
						   deadline (by state) */
	bool frame_started;			/* open: a partial frame is
						   buffered, timer armed */
	actr_defer_t defer;			/* deferred free */
	actr_http_server_t *srv;		/* server side: owner */
	struct actr__list link;			/* in the server's ws list */
	char key[25];				/* client: Sec-WebSocket-Key */
	char *req;				/* client: handshake request */
	size_t req_len;				/* its length */
	size_t scanned;				/* client: response head scan */
	int http_status;			/* client: handshake status */
	char peer[48];				/* peer address */
	/* client: a host name is resolved first (net/resolve.c) */
	struct actr__lookup *lookup;		/* in flight, or NULL */
	SSL_CTX *tls;				/* held until the connect */
	char host[256];				/* SNI and verification */
};

static const char *log_tag = "ws";

static void ws_free_cb(actr_defer_t *d, void *arg)
{
	actr_ws_t *ws = arg;

	actr__ws_dec_free(&ws->dec);
	SSL_CTX_free(ws->tls);
	free(ws->req);
	free(ws);
}

static void unlink_srv(actr_ws_t *ws)
{
	actr_http_server_t *s = ws->srv;

	if (!s)
		return;
	actr__list_remove(&ws->link);
	s->st.conns_open--;
	ws->srv = NULL;
}

/* End of the connection: close the transport (gracefully unless told),
 * tell the application once, free at the end of the iteration. */
static void finish(actr_ws_t *ws, int code, const char *reason, bool graceful)
{
	if (ws->state == WS_CLOSED)
		return;
	ws->state = WS_CLOSED;
	actr_timer_stop(&ws->timer);
	actr__resolve_cancel(ws->lookup);
	ws->lookup = NULL;
	unlink_srv(ws);
	if (ws->c)
		actr__conn_close(ws->c, graceful, ws->lim.close_timeout_ms);
	ws->c = NULL;
	actr_defer(ws->r, &ws->defer, ws_free_cb, ws);
	if (ws->cb.on_close)
		ws->cb.on_close(ws, code, reason ? reason : "", ws->arg);
}

/* Queue one frame. Control frames may go out while closing (close). */
static int send_frame(actr_ws_t *ws, int op, const void *data, size_t len)
{
	uint8_t hdr[ACTR__WS_MAX_HEADER];
	size_t hl;
	int rc;

	if (!ws->c)
		return -ACTR_ECLOSED;
	if (ws->client) {
		uint64_t rnd = actr_rand64();
		uint8_t mask[4], *p;

		memcpy(mask, &rnd, 4);
		hl = actr__ws_header(hdr, op, true, len, mask);
		p = actr__conn_reserve(ws->c, hl + len, &rc);
		if (!p)
			goto out_err;
		memcpy(p, hdr, hl);
		if (len)
			memcpy(p + hl, data, len);
		actr__ws_mask(p + hl, len, mask, 0);
		rc = actr__conn_commit(ws->c, hl + len);
	} else {
		struct iovec iov[2];

		hl = actr__ws_header(hdr, op, true, len, NULL);
		iov[0].iov_base = hdr;
		iov[0].iov_len = hl;
		iov[1].iov_base = (void *)data;
		iov[1].iov_len = len;
		rc = actr__conn_writev(ws->c, iov, len ? 2 : 1);
	}
	if (rc == 0)
		return 0;
out_err:
	if (rc == -ENOBUFS) {
		if (ws->srv)
			ws->srv->st.overflows++;
		actr_logw(log_tag, "%s: send refused, %zu bytes pending",
			  ws->peer, ws->c ? actr__conn_pending(ws->c) : 0);
	}
	return rc;
}

static int send_close(actr_ws_t *ws, int code, const char *reason)
{
	uint8_t p[125];
	size_t rl = reason ? ACTR_MIN(strlen(reason), 123) : 0;

	if (code == 1005 || code == 0)
		return send_frame(ws, ACTR__WS_CLOSE, NULL, 0);
	p[0] = (uint8_t)(code >> 8);
	p[1] = (uint8_t)code;
	if (rl)
		memcpy(p + 2, reason, rl);
	return send_frame(ws, ACTR__WS_CLOSE, p, 2 + rl);
}

static void protocol_error(actr_ws_t *ws)
{
	int code = ws->dec.close_code;
	const char *why = ws->dec.error;

	if (ws->srv)
		ws->srv->st.ws_protocol_errors++;
	if (!ws->srv || actr__srv_log_ok(ws->srv))
		actr_logw(log_tag, "%s: closing with %d: %s", ws->peer, code,
			  why);
	send_close(ws, code, why);
	finish(ws, code, why, true);
}

/* After decoding: a partial frame left in the input must complete
 * within frame_timeout_ms of its first byte (the deadline restarts when
 * a frame completed and another began in the same input). */
static void frame_deadline(actr_ws_t *ws, bool progress)
{
	bool partial = ws->state == WS_OPEN && ws->c && ws->c->in_len > 0;

	if (partial && (progress || !ws->frame_started))
		actr_timer_start(&ws->timer,
				 ACTR_MS(ws->lim.frame_timeout_ms), 0);
	else if (!partial && ws->frame_started && ws->state == WS_OPEN)
		actr_timer_stop(&ws->timer);
	ws->frame_started = partial;
}

static void handle_frames(actr_ws_t *ws)
{
	struct actr__conn *c = ws->c;
	size_t off = 0;

	while (ws->state == WS_OPEN || ws->state == WS_CLOSING) {
		struct actr__ws_event ev;
		size_t used;
		int rc = actr__ws_decode(&ws->dec, c->in + off, c->in_len - off,
					 &ev, &used);

		if (rc < 0) {
			protocol_error(ws);
			break;
		}
		off += used;
		if (rc == 0) {
			if (used == 0)
				break;
			continue;
		}
		switch (ev.op) {
		case ACTR__WS_TEXT:
		case ACTR__WS_BINARY:
			if (ws->state == WS_OPEN && ws->cb.on_message)
				ws->cb.on_message(ws, ev.op == ACTR__WS_TEXT,
						  ev.data, ev.len, ws->arg);
			break;
		case ACTR__WS_PING:
			if (ws->state == WS_OPEN)
				send_frame(ws, ACTR__WS_PONG, ev.data, ev.len);
			break;
		case ACTR__WS_PONG:
			if (ws->cb.on_pong)
				ws->cb.on_pong(ws, ev.data, ev.len, ws->arg);
			break;
		case ACTR__WS_CLOSE: {
			char reason[124];

			memcpy(reason, ev.reason, ev.reason_len);
			reason[ev.reason_len] = '\0';
			if (ws->state == WS_OPEN)
				send_close(ws, ev.close_code, reason);
			finish(ws, ev.close_code, reason, true);
			break;
		}
		default:
			break;
		}
	}
	/* The transport outlives the iteration even if ws closed it. */
	actr__conn_consume(c, off);
	frame_deadline(ws, off > 0);
}

static void on_timer(actr_timer_t *t, void *arg)
{
	actr_ws_t *ws = arg;

	if (ws->state == WS_CONNECTING) {
		actr_logw(log_tag, "%s: handshake timed out", ws->peer);
		finish(ws, 1006, "handshake timeout", false);
	} else if (ws->state == WS_OPEN) {
		/* a frame started and did not complete in time */
		if (ws->srv)
			ws->srv->st.ws_frame_timeouts++;
		if (!ws->srv || actr__srv_log_ok(ws->srv))
			actr_logw(log_tag, "%s: frame incomplete after %u ms, "
				  "closing", ws->peer, ws->lim.frame_timeout_ms);
		send_close(ws, 1008, "frame deadline");
		finish(ws, 1008, "frame deadline", true);
	} else {
		finish(ws, 1006, "close timeout", false);
	}
}

static void on_close(struct actr__conn *c, int err, void *arg)
{
	actr_ws_t *ws = arg;
	char why[96];

	ws->c = NULL;
	if (ws->state == WS_CONNECTING)
		snprintf(why, sizeof(why), "connect: %s",
			 err ? actr_strerror(err) : "closed by peer");
	else
		snprintf(why, sizeof(why), "%s",
			 err ? actr_strerror(err) : "closed without close frame");
	finish(ws, 1006, why, false);
}

static void on_data(struct actr__conn *c, void *arg);

static const struct actr__conn_ops ws_ops = {
	.on_data = on_data,
	.on_close = on_close,
};

/* ---- server side -------------------------------------------------------------- */

actr_ws_t *actr__ws_accept(actr_http_server_t *srv, struct actr__conn *c,
			   const struct actr_ws_callbacks *cb, void *arg)
{
	actr_ws_t *ws = actr__calloc(1, sizeof(*ws));

	if (!ws)
		return NULL;
	ws->r = srv->r;
	ws->c = c;
	ws->cb = *cb;
	ws->arg = arg;
	ws->lim = srv->lim;
	ws->state = WS_OPEN;
	ws->http_status = 101;
	snprintf(ws->peer, sizeof(ws->peer), "%s", c->peer);
	actr__ws_dec_init(&ws->dec, true, ws->lim.max_frame,
			  ws->lim.max_message);
	actr_timer_init(ws->r, &ws->timer, on_timer, ws);
	ws->srv = srv;
	actr__list_insert_head(&srv->ws, &ws->link);
	actr__conn_set_ops(c, &ws_ops, ws);
	return ws;
}

void actr__ws_input(actr_ws_t *ws)
{
	if (ws->c && ws->c->in_len)
		handle_frames(ws);
}

actr_ws_t *actr__ws_of(struct actr__list *l)
{
	return actr__list_entry(l, actr_ws_t, link);
}

void actr__ws_shutdown(actr_ws_t *ws)
{
	if (ws->state == WS_OPEN)
		send_close(ws, 1001, "server shutting down");
	finish(ws, 1001, "server shutting down", false);
}

/* ---- client side -------------------------------------------------------------- */

static void client_open(struct actr__conn *c, void *arg)
{
	actr_ws_t *ws = arg;

	actr__conn_write(c, ws->req, ws->req_len);
	free(ws->req);
	ws->req = NULL;
}

static void client_handshake(actr_ws_t *ws)
{
	struct actr__conn *c = ws->c;
	struct actr__http_limits lim = { ws->lim.max_header_bytes,
					 ws->lim.max_headers, SIZE_MAX };
	struct actr__http_msg *m;
	const char *acc;
	char want[29], why[64];
	ssize_t rc;

	m = actr__malloc(sizeof(*m));
	if (!m) {
		finish(ws, 1006, "out of memory", false);
		return;
	}
	rc = actr__http_parse((char *)c->in, c->in_len, false, &lim,
			      &ws->scanned, m);
	if (rc == -EAGAIN)
		goto out;
	if (rc < 0) {
		actr_logw(log_tag, "%s: malformed handshake response",
			  ws->peer);
		finish(ws, 1006, "malformed handshake response", false);
		goto out;
	}
	ws->http_status = m->status;
	if (m->status != 101) {
		snprintf(why, sizeof(why), "HTTP %d", m->status);
		actr_logw(log_tag, "%s: handshake refused: %s", ws->peer, why);
		finish(ws, 1006, why, false);
		goto out;
	}
	acc = actr__http_header(m, "sec-websocket-accept");
	actr__ws_accept_key(ws->key, want);
	if (!m->upgrade_ws || !acc || strcmp(acc, want) != 0 ||
	    actr__http_header(m, "sec-websocket-extensions")) {
		actr_logw(log_tag, "%s: bad handshake response", ws->peer);
		finish(ws, 1006, "bad handshake response", false);
		goto out;
	}
	actr__conn_consume(c, (size_t)rc);
	ws->state = WS_OPEN;
	actr_timer_stop(&ws->timer);
	if (ws->cb.on_open)
		ws->cb.on_open(ws, ws->arg);
	if (ws->state == WS_OPEN && ws->c && ws->c->in_len)
		handle_frames(ws);
out:
	free(m);
}

static void on_data(struct actr__conn *c, void *arg)
{
	actr_ws_t *ws = arg;

	if (ws->state == WS_CONNECTING)
		client_handshake(ws);
	else
		handle_frames(ws);
}

static const struct actr__conn_ops client_ops = {
	.on_open = client_open,
	.on_data = on_data,
	.on_close = on_close,
};

static size_t client_in_max(const actr_ws_t *ws)
{
	return ACTR_MAX(ws->lim.max_header_bytes,
			ws->lim.max_frame + ACTR__WS_MAX_HEADER) + 4096;
}

/* The host name resolved (or not): connect, or close with the reason. */
static void on_resolved(int rc, const struct sockaddr *sa, socklen_t len,
			void *arg)
{
	actr_ws_t *ws = arg;
	char why[300];
	int err = 0;

	ws->lookup = NULL;
	if (rc < 0) {
		snprintf(why, sizeof(why), "resolve %s: %s", ws->host,
			 actr_strerror(rc));
		actr_logw(log_tag, "%s", why);
		finish(ws, 1006, why, false);
		return;
	}
	ws->c = actr__conn_connect(ws->r, sa, len, ws->tls, ws->host,
				   &client_ops, ws, client_in_max(ws),
				   ws->lim.max_pending, &err);
	SSL_CTX_free(ws->tls);
	ws->tls = NULL;
	if (!ws->c) {
		snprintf(why, sizeof(why), "connect: %s", actr_strerror(err));
		finish(ws, 1006, why, false);
	}
}

actr_ws_t *actr_ws_connect(actr_reactor_t *r,
			   const struct actr_ws_client_config *cfg,
			   const struct actr_ws_callbacks *cb, void *arg)
{
	struct sockaddr_storage ss;
	struct actr__url u;
	SSL_CTX *tls = NULL;
	socklen_t sl;
	actr_ws_t *ws;
	int n, err = 0;
	bool literal;

	if (!actr__http_headers_valid(cfg->headers)) {
		actr_logw(log_tag, "invalid extra headers");
		return NULL;
	}
	if (!cfg->url || actr__url_parse(cfg->url, &u) < 0 || !u.ws) {
		actr_logw(log_tag, "bad URL %s", cfg->url ? cfg->url : "(null)");
		return NULL;
	}
	/* an IP literal connects now; a name is resolved first */
	literal = actr__resolve(u.host, u.port, &ss, &sl) == 0;
	ws = actr__calloc(1, sizeof(*ws));
	if (!ws)
		return NULL;
	ws->r = r;
	ws->cb = *cb;
	ws->arg = arg;
	ws->lim = cfg->limits;
	actr__net_limits_fill(&ws->lim);
	ws->client = true;
	ws->state = WS_CONNECTING;
	snprintf(ws->peer, sizeof(ws->peer), "%.47s", u.hostport);
	actr__ws_dec_init(&ws->dec, false, ws->lim.max_frame,
			  ws->lim.max_message);
	actr_timer_init(r, &ws->timer, on_timer, ws);
	if (actr__ws_new_key(ws->key) < 0)
		goto out_free;
	n = snprintf(NULL, 0,
		     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
		     "Sec-WebSocket-Version: 13\r\n%s\r\n",
		     u.target, u.hostport, ws->key,
		     cfg->headers ? cfg->headers : "");
	ws->req = actr__malloc((size_t)n + 1);
	if (!ws->req)
		goto out_free;
	ws->req_len = (size_t)snprintf(
		ws->req, (size_t)n + 1,
		"GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
		"Sec-WebSocket-Version: 13\r\n%s\r\n",
		u.target, u.hostport, ws->key, cfg->headers ? cfg->headers : "");
	if (u.tls) {
		tls = actr__tls_client_ctx(cfg->tls_ca_file, cfg->tls_insecure);
		if (!tls)
			goto out_free;
	}
	if (literal) {
		ws->c = actr__conn_connect(r, (struct sockaddr *)&ss, sl, tls,
					   u.host, &client_ops, ws,
					   client_in_max(ws),
					   ws->lim.max_pending, &err);
		SSL_CTX_free(tls); /* the SSL object keeps its own reference */
		if (!ws->c)
			goto out_free;
	} else {
		ws->tls = tls;
		snprintf(ws->host, sizeof(ws->host), "%s", u.host);
		ws->lookup = actr__resolve_start(r, u.host, u.port,
						 ws->lim.handshake_timeout_ms,
						 on_resolved, ws);
		if (!ws->lookup)
			goto out_free;
	}
	actr_timer_start(&ws->timer, ACTR_MS(ws->lim.handshake_timeout_ms), 0);
	return ws;
out_free:
	actr__ws_dec_free(&ws->dec);
	SSL_CTX_free(ws->tls);
	free(ws->req);
	free(ws);
	return NULL;
}

/* ---- application API ------------------------------------------------------------ */

static int check_send(actr_ws_t *ws, size_t len)
{
	if (ws->state == WS_CONNECTING)
		return -ACTR_ENOTREADY;
	if (ws->state != WS_OPEN || !ws->c)
		return -ACTR_ECLOSED;
	if (len > ws->lim.max_message)
		return -ACTR_ETOOBIG;
	return 0;
}

int actr_ws_send_binary(actr_ws_t *ws, const void *data, size_t len)
{
	int rc = check_send(ws, len);

	return rc ? rc : send_frame(ws, ACTR__WS_BINARY, data, len);
}

int actr__ws_send_binary2(actr_ws_t *ws, const void *a, size_t alen,
			  const void *b, size_t blen)
{
	uint8_t hdr[ACTR__WS_MAX_HEADER];
	size_t hl, len = alen + blen;
	int rc = check_send(ws, len);

	if (rc)
		return rc;
	if (ws->client) {
		uint64_t rnd = actr_rand64();
		uint8_t mask[4], *p;

		memcpy(mask, &rnd, 4);
		hl = actr__ws_header(hdr, ACTR__WS_BINARY, true, len, mask);
		p = actr__conn_reserve(ws->c, hl + len, &rc);
		if (!p)
			return rc;
		memcpy(p, hdr, hl);
		memcpy(p + hl, a, alen);
		if (blen)
			memcpy(p + hl + alen, b, blen);
		actr__ws_mask(p + hl, len, mask, 0);
		return actr__conn_commit(ws->c, hl + len);
	} else {
		struct iovec iov[3];

		hl = actr__ws_header(hdr, ACTR__WS_BINARY, true, len, NULL);
		iov[0].iov_base = hdr;
		iov[0].iov_len = hl;
		iov[1].iov_base = (void *)a;
		iov[1].iov_len = alen;
		iov[2].iov_base = (void *)b;
		iov[2].iov_len = blen;
		return actr__conn_writev(ws->c, iov, blen ? 3 : 2);
	}
}

int actr__ws_pong(actr_ws_t *ws, const void *data, size_t len)
{
	int rc = check_send(ws, len);

	if (rc)
		return rc;
	if (len > 125)
		return -EINVAL;
	return send_frame(ws, ACTR__WS_PONG, data, len);
}

int actr_ws_send_text(actr_ws_t *ws, const char *text, size_t len)
{
	int rc = check_send(ws, len);

	if (rc)
		return rc;
	if (actr__utf8_step(0, (const uint8_t *)text, len) != 0)
		return -EINVAL;
	return send_frame(ws, ACTR__WS_TEXT, text, len);
}

int actr_ws_ping(actr_ws_t *ws, const void *data, size_t len)
{
	int rc = check_send(ws, len);

	if (rc)
		return rc;
	if (len > 125)
		return -EINVAL;
	return send_frame(ws, ACTR__WS_PING, data, len);
}

int actr_ws_close(actr_ws_t *ws, int code, const char *reason)
{
	int rc;

	if (!actr__ws_close_code_valid(code) || (reason && strlen(reason) > 123))
		return -EINVAL;
	if (ws->state == WS_CONNECTING) {
		finish(ws, code, reason, false);
		return 0;
	}
	if (ws->state != WS_OPEN)
		return -ACTR_ECLOSED;
	rc = send_close(ws, code, reason);
	if (rc == -ENOBUFS) {
		/* Cannot even queue the close: drop the transport. */
		finish(ws, code, reason, false);
		return 0;
	}
	ws->state = WS_CLOSING;
	actr_timer_start(&ws->timer, ACTR_MS(ws->lim.close_timeout_ms), 0);
	return 0;
}

size_t actr_ws_pending(const actr_ws_t *ws)
{
	return ws->c ? actr__conn_pending(ws->c) : 0;
}

void actr_ws_set_arg(actr_ws_t *ws, void *arg)
{
	ws->arg = arg;
}

int actr_ws_http_status(const actr_ws_t *ws)
{
	return ws->http_status;
}

const char *actr_ws_peer(const actr_ws_t *ws)
{
	return ws->peer;
}
