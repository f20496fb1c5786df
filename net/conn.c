/* Reactor driver for TCP and TLS streams (see conn.h). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "conn.h"
#include "core/internal.h"

#define READ_BUDGET (256u * 1024)	/* bytes read per event */
#define IN_MIN 4096			/* first input buffer size */
#define LINGER_DISCARD (256u * 1024)	/* bytes discarded per event */
#define OUT_MIN 512			/* first output buffer size */
#define OUT_KEEP (16u * 1024)		/* larger drained buffers are freed */
/* Drained buffers of OUT_MIN are freed too; those in between stay for
 * connections that send batches. */
/* Output is batched per reactor iteration: a write appends to the queue
 * and one deferred flush per connection sends everything at the end of
 * the iteration (after the CHECK hooks). Once this many bytes wait, the
 * write path flushes at once instead, so a burst never piles up. */
#define FLUSH_EAGER (64u * 1024)

static void conn_update(struct actr__conn *c);
static void do_read(struct actr__conn *c);
static int flush(struct actr__conn *c);

static void set_remove(struct actr__conn *c)
{
	if (!c->set)
		return;
	if (c->set_prev)
		c->set_prev->set_next = c->set_next;
	else
		*c->set = c->set_next;
	if (c->set_next)
		c->set_next->set_prev = c->set_prev;
	c->set = NULL;
	c->set_prev = c->set_next = NULL;
}

void actr__conn_set_add(struct actr__conn **head, struct actr__conn *c)
{
	set_remove(c);
	c->set = head;
	c->set_prev = NULL;
	c->set_next = *head;
	if (*head)
		(*head)->set_prev = c;
	*head = c;
}

static void conn_free_cb(actr_defer_t *d, void *arg)
{
	struct actr__conn *c = arg;

	set_remove(c);
	if (c->notified && c->ops && c->ops->on_close)
		c->ops->on_close(c, c->err, c->arg);
	actr_timer_stop(&c->linger_timer);
	actr_defer_cancel(c->r, &c->flush_defer);
	free(c->in);
	free(c->out);
	free(c);
}

/* Release the socket now; the memory (and the owner's notice, if report)
 * at the end of the iteration. */
static void kill_conn(struct actr__conn *c, bool report, int err)
{
	if (c->state == ACTR__CONN_DEAD)
		return;
	c->state = ACTR__CONN_DEAD;
	c->notified = report;
	c->err = err;
	actr_io_close(&c->io);
	actr_timer_stop(&c->linger_timer);
	actr_defer_cancel(c->r, &c->flush_defer);
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	actr_defer(c->r, &c->defer, conn_free_cb, c);
}

/* A transport failure: report it to the owner unless the owner closed.
 * A kernel timeout (TCP retransmissions or keepalive exhausted) becomes
 * -ACTR_ETIMEDOUT, the one timeout code (actr/error.h). */
static void conn_fail(struct actr__conn *c, int err)
{
	bool owner_closed = c->state == ACTR__CONN_DRAINING ||
			    c->state == ACTR__CONN_LINGER;

	if (err == -ETIMEDOUT) /* errno: OS */
		err = -ACTR_ETIMEDOUT;
	kill_conn(c, !owner_closed, err);
}

static void conn_update(struct actr__conn *c)
{
	unsigned ev = 0;
	/* Queued bytes alone do not arm ACTR_WRITE: the deferred flush
	 * sends them; only a flush that hit EAGAIN waits for writability. */
	bool wr = (c->out_len > 0 && c->wblocked) || c->ssl_want_write;

	switch (c->state) {
	case ACTR__CONN_CONNECTING:
		ev = ACTR_WRITE;
		break;
	case ACTR__CONN_HANDSHAKE:
		ev = ACTR_READ | (c->ssl_want_write ? ACTR_WRITE : 0);
		break;
	case ACTR__CONN_OPEN:
		ev = (c->paused ? 0 : ACTR_READ) | (wr ? ACTR_WRITE : 0);
		break;
	case ACTR__CONN_DRAINING:
		ev = wr ? ACTR_WRITE : 0;
		break;
	case ACTR__CONN_LINGER:
		ev = ACTR_READ;
		break;
	default:
		return;
	}
	if (actr_io_set(&c->io, ev) < 0)
		conn_fail(c, -EIO);
}

static int tls_error(struct actr__conn *c, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	long vr = c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;
	char buf[160] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	if (vr != X509_V_OK) {
		actr_logw("tls", "%s %s: certificate verify failed: %s", what,
			  c->peer, X509_verify_cert_error_string(vr));
		return -ACTR_EAUTH;
	}
	actr_logw("tls", "%s %s failed: %s", what, c->peer,
		  buf[0] ? buf : "connection closed");
	return -ACTR_EPROTO;
}

static void do_handshake(struct actr__conn *c)
{
	int rc, e;

	ERR_clear_error();
	rc = SSL_do_handshake(c->ssl);
	if (rc == 1) {
		c->state = ACTR__CONN_OPEN;
		c->ssl_want_write = false;
		conn_update(c);
		if (c->ops->on_open)
			c->ops->on_open(c, c->arg);
		if (c->state != ACTR__CONN_OPEN)
			return;
		if (c->out_len && flush(c) < 0)
			return;
		do_read(c);
		return;
	}
	e = SSL_get_error(c->ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		c->ssl_want_write = e == SSL_ERROR_WANT_WRITE;
		conn_update(c);
		return;
	}
	conn_fail(c, tls_error(c, "TLS handshake with"));
}

static void reread_cb(actr_defer_t *d, void *arg)
{
	struct actr__conn *c = arg;

	if (c->state == ACTR__CONN_OPEN)
		do_read(c);
}

static void do_read(struct actr__conn *c)
{
	size_t budget = READ_BUDGET;

	while (c->state == ACTR__CONN_OPEN && !c->paused) {
		size_t space;
		ssize_t n;

		if (c->in_len == c->in_cap) {
			size_t cap = ACTR_MIN(ACTR_MAX(c->in_cap * 2, IN_MIN),
					      c->in_max);
			uint8_t *ni;

			if (cap <= c->in_cap) {
				/* The owner let a message outgrow its cap. */
				actr_logw("net", "%s: input over %zu bytes",
					  c->peer, c->in_max);
				conn_fail(c, -ACTR_ETOOBIG);
				return;
			}
			ni = actr__realloc(c->in, cap);
			if (!ni) {
				conn_fail(c, -ENOMEM);
				return;
			}
			c->in = ni;
			c->in_cap = cap;
		}
		space = c->in_cap - c->in_len;
		if (c->ssl) {
			int rc, e;

			ERR_clear_error();
			rc = SSL_read(c->ssl, c->in + c->in_len,
				      (int)ACTR_MIN(space, INT32_MAX));
			if (rc <= 0) {
				e = SSL_get_error(c->ssl, rc);
				if (e == SSL_ERROR_WANT_READ) {
					c->ssl_want_write = false;
					break;
				}
				if (e == SSL_ERROR_WANT_WRITE) {
					c->ssl_want_write = true;
					break;
				}
				if (e == SSL_ERROR_ZERO_RETURN ||
				    (e == SSL_ERROR_SYSCALL && errno == 0))
					conn_fail(c, 0);
				else if (e == SSL_ERROR_SYSCALL)
					conn_fail(c, -errno);
				else
					conn_fail(c, tls_error(c, "TLS read from"));
				return;
			}
			n = rc;
		} else {
			n = actr__sys.recv(c->fd, c->in + c->in_len, space, 0);
			if (n == 0) {
				conn_fail(c, 0);
				return;
			}
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				conn_fail(c, -errno);
				return;
			}
		}
		c->in_len += (size_t)n;
		c->ops->on_data(c, c->arg);
		if (!c->ssl && (size_t)n < space)
			break; /* socket drained; level trigger re-reports */
		if ((size_t)n >= budget) {
			if (c->ssl && c->state == ACTR__CONN_OPEN)
				actr_defer(c->r, &c->defer, reread_cb, c);
			break;
		}
		budget -= (size_t)n;
	}
	conn_update(c);
}

static void start_linger(struct actr__conn *c)
{
	if (c->ssl) {
		ERR_clear_error();
		SSL_shutdown(c->ssl); /* close_notify; failures don't matter */
		ERR_clear_error();
	}
	shutdown(c->fd, SHUT_WR);
	c->state = ACTR__CONN_LINGER;
	conn_update(c);
}

static void linger_read(struct actr__conn *c)
{
	uint8_t scratch[4096];
	size_t total = 0;

	while (total < LINGER_DISCARD) {
		ssize_t n = actr__sys.recv(c->fd, scratch, sizeof(scratch), 0);

		if (n > 0) {
			total += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		kill_conn(c, false, 0); /* EOF or error: done */
		return;
	}
}

/* Write queued bytes. Returns 0, or the error that killed the connection. */
static int flush(struct actr__conn *c)
{
	while (c->out_len > 0) {
		ssize_t n;

		if (c->ssl) {
			int rc, e;

			ERR_clear_error();
			rc = SSL_write(c->ssl, c->out + c->out_off,
				       (int)ACTR_MIN(c->out_len, INT32_MAX));
			if (rc <= 0) {
				e = SSL_get_error(c->ssl, rc);
				if (e == SSL_ERROR_WANT_WRITE) {
					c->ssl_want_write = true;
					c->wblocked = true;
					break;
				}
				if (e == SSL_ERROR_WANT_READ) {
					c->wblocked = true;
					break;
				}
				int err = e == SSL_ERROR_SYSCALL && errno
						  ? -errno
						  : tls_error(c, "TLS write to");

				conn_fail(c, err);
				return err;
			}
			c->ssl_want_write = false;
			n = rc;
		} else {
			n = actr__sys.send(c->fd, c->out + c->out_off,
					   c->out_len, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK) {
					c->wblocked = true;
					break;
				}
				n = -errno;
				conn_fail(c, (int)n);
				return (int)n;
			}
		}
		c->out_off += (size_t)n;
		c->out_len -= (size_t)n;
	}
	if (c->out_len == 0) {
		c->out_off = 0;
		c->wblocked = false;
		if (c->out_cap > OUT_KEEP || c->out_cap <= OUT_MIN) {
			/* A burst is over, or the connection only sends a
			 * little now and then (heartbeat answers): give the
			 * memory back, idle connections hold no buffer. */
			free(c->out);
			c->out = NULL;
			c->out_cap = 0;
		}
		if (c->state == ACTR__CONN_DRAINING) {
			start_linger(c);
			return 0;
		}
	}
	conn_update(c);
	return 0;
}

static void on_io(actr_io_t *io, unsigned events, void *arg)
{
	struct actr__conn *c = arg;

	switch (c->state) {
	case ACTR__CONN_CONNECTING: {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		if (soerr) {
			conn_fail(c, -soerr);
			return;
		}
		if (c->ssl) {
			c->state = ACTR__CONN_HANDSHAKE;
			do_handshake(c);
			return;
		}
		c->state = ACTR__CONN_OPEN;
		conn_update(c);
		if (c->ops->on_open)
			c->ops->on_open(c, c->arg);
		if (c->state == ACTR__CONN_OPEN && c->out_len)
			flush(c);
		return;
	}
	case ACTR__CONN_HANDSHAKE:
		do_handshake(c);
		return;
	case ACTR__CONN_OPEN:
		if ((events & ACTR_WRITE) && c->out_len && flush(c) < 0)
			return;
		if (c->paused && (events & ACTR_ERROR)) {
			conn_fail(c, -ECONNRESET);
			return;
		}
		if (events & (ACTR_READ | ACTR_HUP | ACTR_ERROR) ||
		    (c->ssl && (events & ACTR_WRITE)))
			do_read(c);
		return;
	case ACTR__CONN_DRAINING:
		if (events & ACTR_ERROR)
			kill_conn(c, false, -ECONNRESET);
		else
			flush(c);
		return;
	case ACTR__CONN_LINGER:
		linger_read(c);
		return;
	default:
		return;
	}
}

static void linger_timeout(actr_timer_t *t, void *arg)
{
	kill_conn(arg, false, -ACTR_ETIMEDOUT);
}

static struct actr__conn *conn_new(actr_reactor_t *r, int fd,
				   const struct actr__conn_ops *ops, void *arg,
				   size_t in_max, size_t out_max)
{
	struct actr__conn *c = actr__calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->r = r;
	c->fd = fd;
	c->ops = ops;
	c->arg = arg;
	c->in_max = in_max;
	c->out_max = out_max;
	actr_timer_init(r, &c->linger_timer, linger_timeout, c);
	if (actr_io_init(r, &c->io, fd, on_io, c) < 0) {
		free(c);
		return NULL;
	}
	return c;
}

static void set_peer(struct actr__conn *c, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
			  c->peer, sizeof(c->peer));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
			  &((const struct sockaddr_in6 *)sa)->sin6_addr,
			  c->peer, sizeof(c->peer));
	else
		strcpy(c->peer, "?");
}

struct actr__conn *actr__conn_accept(actr_reactor_t *r, int fd, SSL_CTX *tls,
				     const struct actr__conn_ops *ops,
				     void *arg, size_t in_max, size_t out_max)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct actr__conn *c;
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = conn_new(r, fd, ops, arg, in_max, out_max);
	if (!c) {
		close(fd);
		return NULL;
	}
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		set_peer(c, (struct sockaddr *)&ss);
	if (tls) {
		c->ssl = SSL_new(tls);
		if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
			ERR_clear_error();
			kill_conn(c, false, -ENOMEM);
			return NULL;
		}
		SSL_set_accept_state(c->ssl);
		c->state = ACTR__CONN_HANDSHAKE;
	} else {
		c->state = ACTR__CONN_OPEN;
	}
	conn_update(c);
	return c;
}

struct actr__conn *actr__conn_connect(actr_reactor_t *r,
				      const struct sockaddr *addr,
				      socklen_t alen, SSL_CTX *tls,
				      const char *host,
				      const struct actr__conn_ops *ops,
				      void *arg, size_t in_max,
				      size_t out_max, int *err)
{
	struct actr__conn *c;
	int fd, one = 1;

	fd = actr__sys.socket(addr->sa_family,
			      SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = conn_new(r, fd, ops, arg, in_max, out_max);
	if (!c) {
		close(fd);
		*err = -ENOMEM;
		return NULL;
	}
	set_peer(c, addr);
	c->state = ACTR__CONN_CONNECTING;
	if (tls) {
		struct in6_addr a6;

		c->ssl = SSL_new(tls);
		if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
			ERR_clear_error();
			kill_conn(c, false, -ENOMEM);
			*err = -ENOMEM;
			return NULL;
		}
		SSL_set_connect_state(c->ssl);
		if (inet_pton(AF_INET, host, &a6) == 1 ||
		    inet_pton(AF_INET6, host, &a6) == 1) {
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
						      host);
		} else {
			SSL_set_tlsext_host_name(c->ssl, host);
			SSL_set1_host(c->ssl, host);
		}
	}
	if (actr__sys.connect(fd, addr, alen) < 0 && errno != EINPROGRESS) {
		/* Reported through on_close like any later failure. */
		conn_fail(c, -errno);
		return c;
	}
	conn_update(c);
	return c;
}

/* The cap bounds what is queued behind a slow peer: a message is refused
 * when bytes are already waiting and it would take the queue past
 * out_max (one message larger than the cap may still go out alone). */
static bool over_cap(const struct actr__conn *c, size_t n)
{
	return c->out_len > 0 && (n > c->out_max || c->out_len > c->out_max - n);
}

/* Is there room under the cap for n more bytes? Bytes merely batched for
 * the end of the iteration do not count against a peer that reads: they
 * are sent first, and only what the kernel refuses stays queued. */
static int cap_check(struct actr__conn *c, size_t n)
{
	if (!over_cap(c, n))
		return 0;
	if (c->state == ACTR__CONN_OPEN && !c->wblocked) {
		int rc = flush(c);

		if (rc < 0)
			return rc;
		if (c->state >= ACTR__CONN_DRAINING)
			return -ACTR_ECLOSED;
		if (!over_cap(c, n))
			return 0;
	}
	return -ENOBUFS;
}

/* Make room for n more bytes at the tail of the output queue. */
static int out_room(struct actr__conn *c, size_t n)
{
	int rc;

	if (c->state >= ACTR__CONN_DRAINING)
		return -ACTR_ECLOSED;
	rc = cap_check(c, n);
	if (rc < 0)
		return rc;
	if (c->out_off + c->out_len + n > c->out_cap && c->out_off) {
		memmove(c->out, c->out + c->out_off, c->out_len);
		c->out_off = 0;
	}
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : OUT_MIN;
		uint8_t *no;

		while (cap < c->out_len + n)
			cap *= 2;
		no = actr__realloc(c->out, cap);
		if (!no)
			return -ENOMEM;
		c->out = no;
		c->out_cap = cap;
	}
	return 0;
}

static void flush_cb(actr_defer_t *d, void *arg)
{
	struct actr__conn *c = arg;

	if (c->state == ACTR__CONN_OPEN && c->out_len && !c->wblocked)
		flush(c);
}

/* New bytes were queued: send them now if enough wait, otherwise at the
 * end of the iteration (one send for all of this iteration's writes). A
 * connection waiting for ACTR_WRITE is flushed by that event instead. */
static int queued(struct actr__conn *c)
{
	if (c->state != ACTR__CONN_OPEN || c->wblocked)
		return 0;
	if (c->out_len >= FLUSH_EAGER) {
		actr_defer_cancel(c->r, &c->flush_defer);
		return flush(c);
	}
	if (!c->flush_defer.queued)
		actr_defer(c->r, &c->flush_defer, flush_cb, c);
	return 0;
}

int actr__conn_writev(struct actr__conn *c, const struct iovec *iov, int n)
{
	size_t total = 0, skip = 0;
	int rc;

	if (c->state >= ACTR__CONN_DRAINING)
		return -ACTR_ECLOSED;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	rc = cap_check(c, total);
	if (rc < 0)
		return rc;
	if (c->state == ACTR__CONN_OPEN && !c->ssl && c->out_len == 0 &&
	    total >= FLUSH_EAGER) {
		/* A big message with nothing queued: straight from the
		 * caller's buffers, copying only what the kernel refuses. */
		struct msghdr mh = { 0 };
		ssize_t w;

		mh.msg_iov = (struct iovec *)iov;
		mh.msg_iovlen = (size_t)n;
		w = actr__sys.sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR) {
				rc = -errno;
				conn_fail(c, rc);
				return rc;
			}
			w = 0;
		}
		if ((size_t)w == total)
			return 0;
		skip = (size_t)w;
	}
	rc = out_room(c, total - skip);
	if (rc < 0)
		return rc;
	for (int i = 0; i < n; i++) {
		size_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		memcpy(c->out + c->out_off + c->out_len,
		       (uint8_t *)iov[i].iov_base + skip, l - skip);
		c->out_len += l - skip;
		skip = 0;
	}
	return queued(c);
}

uint8_t *actr__conn_reserve(struct actr__conn *c, size_t n, int *err)
{
	int rc = out_room(c, n);

	if (rc < 0) {
		*err = rc;
		return NULL;
	}
	return c->out + c->out_off + c->out_len;
}

int actr__conn_commit(struct actr__conn *c, size_t n)
{
	c->out_len += n;
	return queued(c);
}

/* Before an abrupt close: one best-effort attempt to send what is queued
 * (e.g. a WebSocket close frame), without reporting anything. */
static void last_send(struct actr__conn *c)
{
	size_t off = c->out_off, len = c->out_len;

	if (c->state != ACTR__CONN_OPEN || !len)
		return;
	while (len > 0) {
		ssize_t n;

		if (c->ssl) {
			int rc;

			ERR_clear_error();
			rc = SSL_write(c->ssl, c->out + off,
				       (int)ACTR_MIN(len, INT32_MAX));
			ERR_clear_error();
			n = rc > 0 ? rc : -1;
		} else {
			n = actr__sys.send(c->fd, c->out + off, len,
					   MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		if (n <= 0)
			return;
		off += (size_t)n;
		len -= (size_t)n;
	}
}

void actr__conn_consume(struct actr__conn *c, size_t n)
{
	if (n >= c->in_len) {
		c->in_len = 0;
		return;
	}
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
}

void actr__conn_pause(struct actr__conn *c, bool paused)
{
	if (c->paused == paused)
		return;
	c->paused = paused;
	conn_update(c);
}

void actr__conn_set_ops(struct actr__conn *c, const struct actr__conn_ops *ops,
			void *arg)
{
	c->ops = ops;
	c->arg = arg;
}

void actr__conn_close(struct actr__conn *c, bool graceful, uint32_t linger_ms)
{
	if (c->state >= ACTR__CONN_DRAINING) {
		if (!graceful && c->state != ACTR__CONN_DEAD)
			kill_conn(c, false, 0);
		return;
	}
	if (!graceful || c->state != ACTR__CONN_OPEN) {
		last_send(c);
		kill_conn(c, false, 0);
		return;
	}
	c->state = ACTR__CONN_DRAINING;
	actr_timer_start(&c->linger_timer, ACTR_MS(linger_ms), 0);
	flush(c);
}

void actr__conn_set_abort(struct actr__conn **head)
{
	while (*head) {
		struct actr__conn *c = *head;

		set_remove(c);
		actr__conn_close(c, false, 0);
	}
}

/* ---- TLS contexts, listening, addresses, limits ----------------------------- */

static void tls_ctx_common(SSL_CTX *ctx)
{
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

SSL_CTX *actr__tls_server_ctx(const char *cert_file, const char *key_file)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		goto out_err;
	tls_ctx_common(ctx);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto out_free;
	return ctx;
out_free:
	SSL_CTX_free(ctx);
out_err:
	actr_loge("tls", "cannot load certificate %s / key %s: %s", cert_file,
		  key_file, ERR_reason_error_string(ERR_peek_last_error()));
	ERR_clear_error();
	return NULL;
}

SSL_CTX *actr__tls_client_ctx(const char *ca_file, bool insecure)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		goto out_err;
	tls_ctx_common(ctx);
	if (insecure) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return ctx;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1
		    : SSL_CTX_set_default_verify_paths(ctx) != 1) {
		SSL_CTX_free(ctx);
		goto out_err;
	}
	return ctx;
out_err:
	actr_loge("tls", "cannot set up TLS client (CA %s): %s",
		  ca_file ? ca_file : "system",
		  ERR_reason_error_string(ERR_peek_last_error()));
	ERR_clear_error();
	return NULL;
}

int actr__resolve(const char *host, uint16_t port, struct sockaddr_storage *ss,
		  socklen_t *len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*len = sizeof(*s6);
		return 0;
	}
	return -EINVAL;
}

int actr__listen(const char *host, uint16_t port, int backlog, uint16_t *bound)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1, rc;

	rc = actr__resolve(host, port, &ss, &sl);
	if (rc < 0)
		return rc;
	fd = actr__sys.socket(ss.ss_family,
			      SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, backlog) < 0)
		goto out_close;
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		goto out_close;
	*bound = ntohs(ss.ss_family == AF_INET
			       ? ((struct sockaddr_in *)&ss)->sin_port
			       : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
out_close:
	rc = -errno;
	close(fd);
	return rc;
}

void actr__net_limits_fill(struct actr_net_limits *l)
{
	if (!l->max_header_bytes)
		l->max_header_bytes = 8192;
	if (!l->max_headers)
		l->max_headers = 64;
	if (!l->max_body)
		l->max_body = 1u << 20;
	if (!l->max_frame)
		l->max_frame = 1u << 20;
	if (!l->max_message)
		l->max_message = 1u << 20;
	if (!l->max_pending)
		l->max_pending = 4u << 20;
	if (!l->max_conns)
		l->max_conns = 1024;
	if (!l->header_timeout_ms)
		l->header_timeout_ms = 10000;
	if (!l->idle_timeout_ms)
		l->idle_timeout_ms = 60000;
	if (!l->handshake_timeout_ms)
		l->handshake_timeout_ms = 10000;
	if (!l->close_timeout_ms)
		l->close_timeout_ms = 2000;
	if (!l->frame_timeout_ms)
		l->frame_timeout_ms = 30000;
}
