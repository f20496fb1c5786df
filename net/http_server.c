/* HTTP/1.1 server on the reactor: request routing, WebSocket upgrades,
 * limits, deadlines and counters. The codec is http_parse.c; the transport
 * conn.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/internal.h"
#include "net_internal.h"
#include "ws_internal.h"

enum { PH_HEAD = 0, PH_BODY, PH_DEAD };
enum { T_HEADER = 0, T_IDLE, T_BODY };

struct hconn {
	actr_http_server_t *s;		/* owner */
	struct actr__conn *c;		/* transport, NULL once closed */
	struct actr__list link;		/* in the server's conns */
	actr_timer_t timer;		/* header / idle / body deadline */
	int timer_kind;			/* T_* */
	int phase;			/* PH_* */
	size_t scanned;			/* head terminator search offset */
	size_t head_len;		/* parsed head length */
	size_t body_len;		/* body bytes (decoded) after the head */
	size_t raw_off;			/* chunked: next undecoded input byte */
	uintptr_t base;			/* c->in when the head was parsed */
	bool is_head;			/* answering a HEAD request */
	struct actr__http_chunked ch;	/* chunked decoder */
	struct actr__http_msg msg;	/* parsed head */
	actr_defer_t defer;		/* deferred free */
};

struct actr_http_req {
	struct hconn *h;		/* connection */
	const char *path;		/* target before '?' */
	const char *query;		/* after '?', "" if none */
	const uint8_t *body;		/* body bytes */
	size_t body_len;		/* their count */
	bool answered;			/* respond/accept called */
	actr_ws_t *ws;			/* set by accept */
};

static const char *log_tag = "http";

static void hconn_free_cb(actr_defer_t *d, void *arg)
{
	free(arg);
}

/* Detach h from its server and its transport; free it at iteration end.
 * close_conn: close the transport too (gracefully). */
static void hconn_release(struct hconn *h, bool close_conn)
{
	actr_http_server_t *s = h->s;

	if (h->phase == PH_DEAD)
		return;
	h->phase = PH_DEAD;
	actr_timer_stop(&h->timer);
	actr__list_remove(&h->link);
	if (close_conn) {
		s->st.conns_open--;
		if (h->c)
			actr__conn_close(h->c, true, s->lim.close_timeout_ms);
	}
	h->c = NULL;
	actr_defer(s->r, &h->defer, hconn_free_cb, h);
}

static void arm(struct hconn *h, int kind)
{
	uint32_t ms = kind == T_HEADER ? h->s->lim.header_timeout_ms
				       : h->s->lim.idle_timeout_ms;

	h->timer_kind = kind;
	actr_timer_start(&h->timer, ACTR_MS(ms), 0);
}

static int write_response(struct hconn *h, int status, const char *ctype,
			  const char *headers, const void *body, size_t len,
			  bool keep)
{
	struct iovec iov[2];
	char head[1024];
	char *hp = head;
	ssize_t n;
	int rc;

	n = actr__http_response_head(head, sizeof(head), status, ctype,
				     headers, len, keep);
	if (n == -ENOSPC) {
		n = actr__http_response_head(NULL, 0, status, ctype, headers,
					     len, keep);
		hp = n > 0 ? actr__malloc((size_t)n + 1) : NULL;
		if (!hp)
			return -ENOMEM;
		n = actr__http_response_head(hp, (size_t)n + 1, status, ctype,
					     headers, len, keep);
	}
	if (n < 0) {
		rc = (int)n;
		goto out;
	}
	iov[0].iov_base = hp;
	iov[0].iov_len = (size_t)n;
	iov[1].iov_base = (void *)body;
	iov[1].iov_len = len;
	if (h->is_head)
		len = 0; /* same head, no body */
	rc = actr__conn_writev(h->c, iov, len ? 2 : 1);
out:
	if (hp != head)
		free(hp);
	return rc;
}

bool actr__srv_log_ok(actr_http_server_t *s)
{
	uint64_t sec = actr_reactor_now(s->r) / 1000000000ull;

	if (sec != s->log_sec) {
		s->log_sec = sec;
		s->log_n = 0;
	}
	return s->log_n++ < 10;
}

/* Answer an error and close the connection after the answer is sent. */
static void send_error(struct hconn *h, int status, const char *why)
{
	if (actr__srv_log_ok(h->s))
		actr_logw(log_tag, "%s: %d %s (%s)", h->c->peer, status,
			  actr__http_reason(status), why);
	write_response(h, status, "text/plain", NULL, actr__http_reason(status),
		       strlen(actr__http_reason(status)), false);
	hconn_release(h, true);
}

/* send_error for a bad request, counted. */
static void reject(struct hconn *h, int status, const char *why)
{
	actr_http_server_t *s = h->s;

	if (status == 431)
		s->st.headers_too_large++;
	else if (status == 413)
		s->st.body_too_large++;
	else
		s->st.bad_requests++;
	send_error(h, status, why);
}

static void on_timer(actr_timer_t *t, void *arg)
{
	struct hconn *h = arg;

	switch (h->timer_kind) {
	case T_IDLE:
		h->s->st.idle_timeouts++;
		actr_logd(log_tag, "%s: idle keep-alive connection closed",
			  h->c->peer);
		hconn_release(h, true);
		break;
	case T_BODY:
		h->s->st.idle_timeouts++;
		send_error(h, 408, "body deadline");
		break;
	default:
		h->s->st.header_timeouts++;
		send_error(h, 408, "header deadline");
		break;
	}
}

/* Run the handler for the complete request in h->c->in. Returns false if
 * the connection is gone or upgraded. */
static bool dispatch(struct hconn *h)
{
	actr_http_server_t *s = h->s;
	struct actr__conn *c = h->c;
	struct actr_http_req q = { 0 };
	char *target = (char *)h->msg.target, *qm;
	size_t used;

	s->st.requests++;
	actr__http_rebase(&h->msg, h->base, (const char *)c->in);
	target = (char *)h->msg.target;
	h->is_head = strcmp(h->msg.method, "HEAD") == 0;
	qm = strchr(target, '?');
	if (qm)
		*qm = '\0';
	q.h = h;
	q.path = target;
	q.query = qm ? qm + 1 : "";
	q.body = c->in + h->head_len;
	q.body_len = h->body_len;
	actr_timer_stop(&h->timer);
	s->handler(&q, s->arg);
	if (h->phase == PH_DEAD)
		return false;
	if (!q.answered) {
		actr_logw(log_tag, "%s %s: handler did not answer",
			  h->msg.method, q.path);
		write_response(h, 500, NULL, NULL, NULL, 0, false);
		hconn_release(h, true);
		return false;
	}
	used = h->msg.chunked ? h->raw_off : h->head_len + h->body_len;
	actr__conn_consume(c, used);
	if (q.ws) {
		/* The WebSocket owns the transport now. */
		hconn_release(h, false);
		if (c->in_len)
			actr__ws_input(q.ws);
		return false;
	}
	if (!h->msg.keep_alive) {
		hconn_release(h, true);
		return false;
	}
	h->phase = PH_HEAD;
	h->scanned = 0;
	h->body_len = 0;
	h->is_head = false;
	arm(h, c->in_len ? T_HEADER : T_IDLE);
	return true;
}

static void on_data(struct actr__conn *c, void *arg)
{
	struct hconn *h = arg;
	actr_http_server_t *s = h->s;
	struct actr__http_limits lim = {
		s->lim.max_header_bytes, s->lim.max_headers, s->lim.max_body
	};

	while (h->phase != PH_DEAD && c->in_len > 0) {
		if (h->phase == PH_HEAD) {
			ssize_t rc;

			if (h->timer_kind == T_IDLE)
				arm(h, T_HEADER);
			rc = actr__http_parse((char *)c->in, c->in_len, true,
					      &lim, &h->scanned, &h->msg);
			if (rc == -EAGAIN)
				return;
			if (rc < 0) {
				reject(h, h->msg.error_status, "malformed head");
				return;
			}
			h->head_len = (size_t)rc;
			h->body_len = 0;
			h->base = (uintptr_t)c->in;
			if (h->msg.chunked) {
				memset(&h->ch, 0, sizeof(h->ch));
				h->raw_off = h->head_len;
			}
			if (h->msg.chunked || h->msg.content_length > 0) {
				const char *ex = actr__http_header(&h->msg,
								   "expect");

				h->phase = PH_BODY;
				arm(h, T_BODY);
				if (ex && strcasecmp(ex, "100-continue") == 0 &&
				    c->in_len == h->head_len)
					actr__conn_write(c,
						"HTTP/1.1 100 Continue\r\n\r\n",
						25);
			}
		}
		if (h->phase == PH_BODY) {
			if (h->msg.chunked) {
				size_t out = 0;
				ssize_t n = actr__http_chunked_decode(
					&h->ch, c->in + h->raw_off,
					c->in_len - h->raw_off, &out,
					s->lim.max_body);

				if (n < 0) {
					reject(h, n == -ACTR_ETOOBIG ? 413 : 400,
					       "bad chunked body");
					return;
				}
				memmove(c->in + h->head_len + h->body_len,
					c->in + h->raw_off, out);
				h->body_len += out;
				h->raw_off += (size_t)n;
				if (!h->ch.done)
					return;
			} else {
				size_t cl = (size_t)h->msg.content_length;

				if (c->in_len - h->head_len < cl)
					return;
				h->body_len = cl;
			}
		}
		if (!dispatch(h))
			return;
	}
}

static void on_open(struct actr__conn *c, void *arg)
{
	/* TLS handshake done; the header deadline keeps running. */
}

static void on_close(struct actr__conn *c, int err, void *arg)
{
	struct hconn *h = arg;

	if (err == -ACTR_EPROTO || err == -ACTR_EAUTH)
		h->s->st.tls_failures++;
	h->c = NULL;
	h->s->st.conns_open--;
	hconn_release(h, false);
}

static const struct actr__conn_ops hconn_ops = {
	.on_open = on_open,
	.on_data = on_data,
	.on_close = on_close,
};

/* How long a listener rests after accept ran out of descriptors. */
#define ACCEPT_PAUSE_MS 50

static void on_accept(actr_io_t *io, unsigned events, void *arg)
{
	actr_http_server_t *s = arg;
	size_t in_max = ACTR_MAX(s->lim.max_header_bytes + s->lim.max_body,
				 s->lim.max_frame + ACTR__WS_MAX_HEADER) +
			4096;

	for (int i = 0; i < 64; i++) {
		int fd = actr__sys.accept4(s->lfd, NULL, NULL,
					   SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct hconn *h;

		if (fd < 0) {
			int err = errno;

			if (err == EINTR)
				continue;
			if (err == EAGAIN || err == EWOULDBLOCK)
				return;
			s->accept_errors++;
			actr_logw(log_tag, "accept: %s", strerror(err));
			if (err == ECONNABORTED || err == EPROTO)
				continue; /* that connection only */
			/* Out of descriptors or memory: the pending
			 * connection keeps the listener readable, so
			 * stop polling it for a while instead of
			 * spinning (level-triggered). */
			actr_io_set(&s->lio, 0);
			actr_timer_start(&s->accept_pause,
					 ACTR_MS(ACCEPT_PAUSE_MS), 0);
			return;
		}
		if (s->st.conns_open >= s->lim.max_conns) {
			static const char busy[] =
				"HTTP/1.1 503 Service Unavailable\r\n"
				"Content-Length: 0\r\nConnection: close\r\n\r\n";

			s->st.conns_rejected++;
			actr_logw(log_tag, "connection refused: %u open",
				  s->st.conns_open);
			if (!s->tls)
				(void)!send(fd, busy, sizeof(busy) - 1,
					    MSG_NOSIGNAL);
			close(fd);
			continue;
		}
		h = actr__calloc(1, sizeof(*h));
		if (!h) {
			close(fd);
			continue;
		}
		h->s = s;
		actr_timer_init(s->r, &h->timer, on_timer, h);
		h->c = actr__conn_accept(s->r, fd, s->tls, &hconn_ops, h,
					 in_max, s->lim.max_pending);
		if (!h->c) {
			free(h);
			continue;
		}
		actr__conn_set_add(&s->all, h->c);
		s->st.conns_accepted++;
		s->st.conns_open++;
		actr__list_insert_head(&s->conns, &h->link);
		arm(h, T_HEADER);
	}
}

static void on_accept_pause(actr_timer_t *t, void *arg)
{
	actr_http_server_t *s = arg;

	if (actr_io_set(&s->lio, ACTR_READ) < 0)
		actr_timer_start(&s->accept_pause, ACTR_MS(ACCEPT_PAUSE_MS), 0);
}

actr_http_server_t *actr_http_server_new(actr_reactor_t *r,
					 const struct actr_http_server_config *cfg)
{
	actr_http_server_t *s;
	int fd;

	if (!cfg->on_request)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	actr__list_init(&s->conns);
	actr__list_init(&s->ws);
	s->r = r;
	s->lim = cfg->limits;
	actr__net_limits_fill(&s->lim);
	s->handler = cfg->on_request;
	s->arg = cfg->arg;
	s->lfd = -1;
	actr_timer_init(r, &s->accept_pause, on_accept_pause, s);
	if (cfg->tls_cert_file) {
		s->tls = actr__tls_server_ctx(cfg->tls_cert_file,
					      cfg->tls_key_file
						      ? cfg->tls_key_file
						      : cfg->tls_cert_file);
		if (!s->tls)
			goto out_free;
	}
	fd = actr__listen(cfg->host ? cfg->host : "127.0.0.1", cfg->port, 512,
			  &s->port);
	if (fd < 0) {
		actr_loge(log_tag, "listen on %s:%u: %s",
			  cfg->host ? cfg->host : "127.0.0.1", cfg->port,
			  actr_strerror(fd));
		goto out_tls;
	}
	s->lfd = fd;
	if (actr_io_init(r, &s->lio, fd, on_accept, s) < 0 ||
	    actr_io_set(&s->lio, ACTR_READ) < 0)
		goto out_close;
	return s;
out_close:
	close(fd);
out_tls:
	SSL_CTX_free(s->tls);
out_free:
	free(s);
	return NULL;
}

uint16_t actr_http_server_port(const actr_http_server_t *s)
{
	return s->port;
}

void actr_http_server_stats(const actr_http_server_t *s,
			    struct actr_http_server_stats *out)
{
	*out = s->st;
}

void actr_http_server_free(actr_http_server_t *s)
{
	if (!s)
		return;
	actr_timer_stop(&s->accept_pause);
	actr_io_close(&s->lio);
	close(s->lfd);
	while (!actr__list_empty(&s->ws))	/* each unlinks itself */
		actr__ws_shutdown(actr__ws_of(actr__list_first(&s->ws)));
	while (!actr__list_empty(&s->conns)) {
		struct hconn *h = actr__list_entry(actr__list_first(&s->conns),
						   struct hconn, link);

		if (h->c)
			actr__conn_close(h->c, false, 0);
		h->c = NULL;
		hconn_release(h, false);
	}
	actr__conn_set_abort(&s->all); /* lingering closes */
	SSL_CTX_free(s->tls);
	free(s);
}

/* ---- request API ------------------------------------------------------------ */

const char *actr_http_req_method(const actr_http_req_t *q)
{
	return q->h->msg.method;
}

const char *actr_http_req_path(const actr_http_req_t *q)
{
	return q->path;
}

const char *actr_http_req_query(const actr_http_req_t *q)
{
	return q->query;
}

const char *actr_http_req_header(const actr_http_req_t *q, const char *name)
{
	return actr__http_header(&q->h->msg, name);
}

const uint8_t *actr_http_req_body(const actr_http_req_t *q, size_t *len)
{
	*len = q->body_len;
	return q->body;
}

const char *actr_http_req_peer(const actr_http_req_t *q)
{
	return q->h->c ? q->h->c->peer : "";
}

bool actr_http_req_is_websocket(const actr_http_req_t *q)
{
	return q->h->msg.upgrade_ws && strcmp(q->h->msg.method, "GET") == 0;
}

int actr_http_respond(actr_http_req_t *q, int status, const char *content_type,
		      const char *headers, const void *body, size_t len)
{
	struct hconn *h = q->h;

	int rc;

	if (q->answered)
		return -EALREADY;
	if (status < 200 || status > 999 || !actr__http_headers_valid(headers) ||
	    (content_type && strpbrk(content_type, "\r\n")))
		return -EINVAL;
	q->answered = true;
	if (!h->c || h->phase == PH_DEAD)
		return -ACTR_ECLOSED;
	if (h->msg.upgrade_ws)
		h->s->st.upgrades_rejected++;
	/* A refused upgrade must not leave the client guessing: close. */
	if (h->msg.upgrade_ws || status >= 500)
		h->msg.keep_alive = false;
	rc = write_response(h, status, content_type, headers, body, len,
			    h->msg.keep_alive);
	if (rc < 0) {
		/* Typically -ENOBUFS: a client pipelining requests without
		 * reading the answers. Never drop an answer silently. */
		actr_logw(log_tag, "%s: cannot queue the answer (%s), closing",
			  h->c ? h->c->peer : "?", actr_strerror(rc));
		h->s->st.overflows++;
		hconn_release(h, true);
	}
	return rc;
}

int actr_http_ws_check(actr_http_req_t *q)
{
	struct hconn *h = q->h;
	const char *ver = actr__http_header(&h->msg, "sec-websocket-version");
	const char *key = actr__http_header(&h->msg, "sec-websocket-key");

	if (!actr_http_req_is_websocket(q) || h->msg.minor < 1 || !key ||
	    !actr__ws_key_valid(key) || h->body_len > 0) {
		h->s->st.bad_requests++;
		actr_logd(log_tag, "%s: bad websocket handshake",
			  h->c ? h->c->peer : "?");
		actr_http_respond(q, 400, "text/plain", NULL,
				  "bad websocket handshake", 23);
		return 400;
	}
	if (!ver || strcmp(ver, "13") != 0) {
		h->s->st.bad_requests++;
		actr_logd(log_tag, "%s: websocket version %.16s refused",
			  h->c ? h->c->peer : "?", ver ? ver : "(none)");
		actr_http_respond(q, 426, "text/plain",
				  "Sec-WebSocket-Version: 13\r\n",
				  "unsupported websocket version", 29);
		return 426;
	}
	return 0;
}

actr_ws_t *actr_http_accept_ws(actr_http_req_t *q,
			       const struct actr_ws_callbacks *cb, void *arg)
{
	struct hconn *h = q->h;
	const char *key;
	char accept[29], head[256];
	actr_ws_t *ws;
	int n;

	if (q->answered || !h->c || actr_http_ws_check(q) != 0)
		return NULL;
	key = actr__http_header(&h->msg, "sec-websocket-key");
	actr__ws_accept_key(key, accept);
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 101 Switching Protocols\r\n"
		     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		     "Sec-WebSocket-Accept: %s\r\n\r\n",
		     accept);
	ws = actr__ws_accept(h->s, h->c, cb, arg);
	if (!ws) {
		actr_http_respond(q, 500, NULL, NULL, NULL, 0);
		return NULL;
	}
	q->answered = true;
	q->ws = ws;
	h->s->st.upgrades++;
	actr__conn_write(h->c, head, (size_t)n);
	return ws;
}
