/* One-shot HTTP/1.1 client on the reactor (Connection: close). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conn.h"
#include "core/internal.h"
#include "http_internal.h"

struct actr_http_call {
	actr_reactor_t *r;		/* owner */
	struct actr__conn *c;		/* transport, NULL once gone */
	actr_http_response_fn cb;	/* completion callback */
	void *arg;			/* its argument */
	actr_timer_t timer;		/* whole-exchange deadline */
	actr_defer_t defer;		/* deferred free */
	char *req;			/* request bytes until connected */
	size_t req_len;			/* their length */
	struct actr__http_limits lim;	/* response caps */
	bool done;			/* callback ran or call cancelled */
	bool have_head;			/* response head parsed */
	bool until_eof;			/* body delimited by close */
	bool no_body;			/* HEAD, 204, 304 */
	size_t scanned;			/* head terminator search offset */
	size_t head_len;		/* parsed head length */
	size_t body_len;		/* decoded chunked body bytes */
	size_t raw_off;			/* chunked: next undecoded byte */
	uintptr_t base;			/* c->in when the head was parsed */
	struct actr__http_chunked ch;	/* chunked decoder */
	struct actr__http_msg msg;	/* response head */
	/* a host name is resolved first (net/resolve.c) */
	struct actr__lookup *lookup;	/* in flight, or NULL */
	SSL_CTX *tls;			/* held until the connect */
	char host[256];			/* SNI and verification name */
	size_t in_max, out_max;		/* for the connect */
};

static const char *log_tag = "http-client";

static void call_free_cb(actr_defer_t *d, void *arg)
{
	struct actr_http_call *call = arg;

	SSL_CTX_free(call->tls);
	free(call->req);
	free(call);
}

static void complete(struct actr_http_call *call, int rc, const uint8_t *body,
		     size_t len)
{
	if (call->done)
		return;
	call->done = true;
	actr_timer_stop(&call->timer);
	actr__resolve_cancel(call->lookup);
	call->lookup = NULL;
	if (call->have_head && call->c)
		actr__http_rebase(&call->msg, call->base,
				  (const char *)call->c->in);
	call->cb(call, rc, rc == 0 ? call->msg.status : 0, body, len,
		 call->arg);
	if (call->c)
		actr__conn_close(call->c, false, 0);
	call->c = NULL;
	actr_defer(call->r, &call->defer, call_free_cb, call);
}

static void on_open(struct actr__conn *c, void *arg)
{
	struct actr_http_call *call = arg;

	actr__conn_write(c, call->req, call->req_len);
	free(call->req);
	call->req = NULL;
}

static void on_data(struct actr__conn *c, void *arg)
{
	struct actr_http_call *call = arg;

	while (!call->have_head) {
		ssize_t rc = actr__http_parse((char *)c->in, c->in_len, false,
					      &call->lim, &call->scanned,
					      &call->msg);

		if (rc == -EAGAIN)
			return;
		if (rc < 0) {
			actr_logw(log_tag, "%s: bad response (%d)", c->peer,
				  call->msg.error_status);
			complete(call, (int)rc, NULL, 0);
			return;
		}
		if (call->msg.status >= 100 && call->msg.status < 200) {
			actr__conn_consume(c, (size_t)rc); /* 100 Continue */
			call->scanned = 0;
			if (!c->in_len)
				return;
			continue;
		}
		call->have_head = true;
		call->head_len = (size_t)rc;
		call->base = (uintptr_t)c->in;
		call->raw_off = call->head_len;
		call->until_eof = !call->msg.chunked &&
				  call->msg.content_length < 0;
		if (call->msg.status == 204 || call->msg.status == 304)
			call->no_body = true;
	}
	if (call->no_body) {
		complete(call, 0, NULL, 0);
	} else if (call->msg.chunked) {
		size_t out = 0;
		ssize_t n = actr__http_chunked_decode(
			&call->ch, c->in + call->raw_off,
			c->in_len - call->raw_off, &out, call->lim.max_body);

		if (n < 0) {
			complete(call, (int)n, NULL, 0);
			return;
		}
		memmove(c->in + call->head_len + call->body_len,
			c->in + call->raw_off, out);
		call->body_len += out;
		call->raw_off += (size_t)n;
		if (call->ch.done)
			complete(call, 0, c->in + call->head_len,
				 call->body_len);
	} else if (call->until_eof) {
		if (c->in_len - call->head_len > call->lim.max_body)
			complete(call, -ACTR_ETOOBIG, NULL, 0);
	} else if (c->in_len - call->head_len >=
		   (size_t)call->msg.content_length) {
		complete(call, 0, c->in + call->head_len,
			 (size_t)call->msg.content_length);
	}
}

static void on_close(struct actr__conn *c, int err, void *arg)
{
	struct actr_http_call *call = arg;

	if (call->have_head) {
		actr__http_rebase(&call->msg, call->base, (const char *)c->in);
		call->base = (uintptr_t)c->in;
	}
	call->c = NULL;
	if (err == 0 && call->have_head && call->until_eof)
		complete(call, 0, c->in + call->head_len,
			 c->in_len - call->head_len);
	else
		complete(call, err ? err : -ECONNRESET, NULL, 0);
}

static const struct actr__conn_ops call_ops = {
	.on_open = on_open,
	.on_data = on_data,
	.on_close = on_close,
};

static void on_timer(actr_timer_t *t, void *arg)
{
	struct actr_http_call *call = arg;

	actr_logw(log_tag, "request timed out");
	complete(call, -ACTR_ETIMEDOUT, NULL, 0);
}

/* The host name resolved (or not): connect, or fail the call. */
static void on_resolved(int rc, const struct sockaddr *sa, socklen_t len,
			void *arg)
{
	struct actr_http_call *call = arg;
	int err = 0;

	call->lookup = NULL;
	if (rc < 0) {
		actr_logw(log_tag, "%s: %s", call->host, actr_strerror(rc));
		complete(call, rc, NULL, 0);
		return;
	}
	call->c = actr__conn_connect(call->r, sa, len, call->tls, call->host,
				     &call_ops, call, call->in_max,
				     call->out_max, &err);
	SSL_CTX_free(call->tls);
	call->tls = NULL;
	if (!call->c)
		complete(call, err < 0 ? err : -ECONNREFUSED, NULL, 0);
}

actr_http_call_t *actr_http_request(actr_reactor_t *r,
				    const struct actr_http_request *rq,
				    actr_http_response_fn cb, void *arg)
{
	const char *method = rq->method ? rq->method : "GET";
	struct actr_http_call *call;
	struct sockaddr_storage ss;
	struct actr__url u;
	SSL_CTX *tls = NULL;
	socklen_t sl;
	int n, err = 0;
	bool literal;
	char ctype[160] = "";

	if (!actr__http_headers_valid(rq->headers) ||
	    (rq->content_type && strpbrk(rq->content_type, "\r\n")) ||
	    strpbrk(method, " \r\n")) {
		actr_logw(log_tag, "invalid method or headers");
		return NULL;
	}
	if (!cb || !rq->url || actr__url_parse(rq->url, &u) < 0 || u.ws) {
		actr_logw(log_tag, "bad URL %s", rq->url ? rq->url : "(null)");
		return NULL;
	}
	/* an IP literal connects now; a name is resolved first */
	literal = actr__resolve(u.host, u.port, &ss, &sl) == 0;
	call = actr__calloc(1, sizeof(*call));
	if (!call)
		return NULL;
	call->r = r;
	call->cb = cb;
	call->arg = arg;
	call->lim.max_head = 16384;
	call->lim.max_headers = ACTR__HTTP_MAX_HEADERS;
	call->lim.max_body = rq->max_body ? rq->max_body : (1u << 20);
	call->no_body = strcasecmp(method, "HEAD") == 0;
	actr_timer_init(r, &call->timer, on_timer, call);
	if (rq->content_type)
		snprintf(ctype, sizeof(ctype), "Content-Type: %s\r\n",
			 rq->content_type);
	n = snprintf(NULL, 0,
		     "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n%s%s\r\n",
		     method, u.target, u.hostport, rq->body_len, ctype,
		     rq->headers ? rq->headers : "");
	call->req = actr__malloc((size_t)n + rq->body_len + 1);
	if (!call->req)
		goto out_free;
	snprintf(call->req, (size_t)n + 1,
		 "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\n%s%s\r\n",
		 method, u.target, u.hostport, rq->body_len, ctype,
		 rq->headers ? rq->headers : "");
	if (rq->body_len)
		memcpy(call->req + n, rq->body, rq->body_len);
	call->req_len = (size_t)n + rq->body_len;
	if (u.tls) {
		tls = actr__tls_client_ctx(rq->tls_ca_file, rq->tls_insecure);
		if (!tls)
			goto out_free;
	}
	call->in_max = call->lim.max_head + call->lim.max_body + 4096;
	call->out_max = ACTR_MAX(call->req_len, 1u << 16);
	if (literal) {
		call->c = actr__conn_connect(r, (struct sockaddr *)&ss, sl, tls,
					     u.host, &call_ops, call,
					     call->in_max, call->out_max, &err);
		SSL_CTX_free(tls);
		if (!call->c)
			goto out_free;
	} else {
		call->tls = tls;
		snprintf(call->host, sizeof(call->host), "%s", u.host);
		call->lookup = actr__resolve_start(r, u.host, u.port,
						   rq->timeout_ms, on_resolved,
						   call);
		if (!call->lookup)
			goto out_free;
	}
	actr_timer_start(&call->timer,
			 ACTR_MS(rq->timeout_ms ? rq->timeout_ms : 10000), 0);
	return call;
out_free:
	SSL_CTX_free(call->tls);
	free(call->req);
	free(call);
	return NULL;
}

const char *actr_http_call_header(const actr_http_call_t *call,
				  const char *name)
{
	return call->have_head ? actr__http_header(&call->msg, name) : NULL;
}

void actr_http_call_cancel(actr_http_call_t *call)
{
	if (call->done)
		return;
	call->done = true;
	actr_timer_stop(&call->timer);
	actr__resolve_cancel(call->lookup);
	call->lookup = NULL;
	if (call->c)
		actr__conn_close(call->c, false, 0);
	call->c = NULL;
	actr_defer(call->r, &call->defer, call_free_cb, call);
}
