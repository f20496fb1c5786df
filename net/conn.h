/*
 * The thin reactor driver under HTTP and WebSocket: a non-blocking TCP
 * stream, optionally TLS (OpenSSL, non-blocking handshake), with a bounded
 * input buffer, a bounded output queue (writes batched per reactor
 * iteration: one send per connection at the end of the iteration, at once
 * past 64 KiB; ACTR_WRITE armed only after EAGAIN), a read budget per event
 * and graceful (lingering) close.
 * Internal to the library.
 */
#ifndef ACTR_WIRE_CONN_H
#define ACTR_WIRE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <openssl/ssl.h>

#include <actr/net.h>

struct actr__conn;

struct actr__conn_ops {
	/* Connected (client) or TLS handshake done (both sides). */
	void (*on_open)(struct actr__conn *c, void *arg);
	/* New bytes in c->in[0..in_len); consume with actr__conn_consume. */
	void (*on_data)(struct actr__conn *c, void *arg);
	/* The transport ended (EOF = 0, or -errno / -ACTR_E*). Runs at the
	 * end of the iteration, never from inside a write or close call. The
	 * connection is closed and must not be used afterwards. */
	void (*on_close)(struct actr__conn *c, int err, void *arg);
};

enum {
	ACTR__CONN_CONNECTING = 0,	/* TCP connect in progress */
	ACTR__CONN_HANDSHAKE,		/* TLS handshake in progress */
	ACTR__CONN_OPEN,		/* data flows */
	ACTR__CONN_DRAINING,		/* close asked: flush, then linger */
	ACTR__CONN_LINGER,		/* write side shut, discarding input */
	ACTR__CONN_DEAD,		/* closed; memory freed soon */
};

struct actr__conn {
	actr_reactor_t *r;		/* owner */
	actr_io_t io;			/* fd watcher */
	int fd;				/* socket, -1 once closed */
	int state;			/* ACTR__CONN_* */
	SSL *ssl;			/* TLS session or NULL */
	bool ssl_want_write;		/* TLS read/handshake needs writable */
	bool paused;			/* reading suspended by the owner */
	bool notified;			/* on_close queued or delivered */
	bool wblocked;			/* a flush hit EAGAIN: ACTR_WRITE armed */
	int err;			/* error reported to on_close */
	const struct actr__conn_ops *ops; /* owner callbacks */
	void *arg;			/* their argument */
	uint8_t *in;			/* input bytes not consumed yet */
	size_t in_len;			/* bytes in in */
	size_t in_cap;			/* allocated size of in */
	size_t in_max;			/* cap for in_cap */
	uint8_t *out;			/* output queue */
	size_t out_off;			/* first unsent byte in out */
	size_t out_len;			/* unsent bytes from out_off */
	size_t out_cap;			/* allocated size of out */
	size_t out_max;			/* cap on unsent bytes */
	uint32_t linger_ms;		/* how long to drain/linger at most */
	actr_timer_t linger_timer;	/* bounds DRAINING + LINGER */
	actr_defer_t defer;		/* close notice, free, TLS re-read */
	actr_defer_t flush_defer;	/* end-of-iteration output flush */
	char peer[48];			/* peer IP as text */
	struct actr__conn **set;	/* owner's list head, or NULL */
	struct actr__conn *set_prev;	/* owner's list */
	struct actr__conn *set_next;	/* owner's list */
};

/** Wrap an accepted socket (takes fd). tls: server SSL_CTX or NULL.
 * Returns NULL (fd closed) on failure. */
struct actr__conn *actr__conn_accept(actr_reactor_t *r, int fd, SSL_CTX *tls,
				     const struct actr__conn_ops *ops,
				     void *arg, size_t in_max, size_t out_max);

/** Start a client connection to addr. tls: client SSL_CTX or NULL;
 * host: SNI and verification name (IP or DNS). NULL on immediate failure
 * (*err set). */
struct actr__conn *actr__conn_connect(actr_reactor_t *r,
				      const struct sockaddr *addr,
				      socklen_t alen, SSL_CTX *tls,
				      const char *host,
				      const struct actr__conn_ops *ops,
				      void *arg, size_t in_max,
				      size_t out_max, int *err);

/** Queue iov[0..n) as one unit (all or nothing); it is sent at the end of
 * the reactor iteration (deferred call, after the CHECK hooks) together
 * with everything else queued, or at once when 64 KiB or more wait.
 * 0, -ENOBUFS (cap), -ENOMEM, -ACTR_ECLOSED (or the error that killed the
 * connection during an immediate send). */
int actr__conn_writev(struct actr__conn *c, const struct iovec *iov, int n);

static inline int actr__conn_write(struct actr__conn *c, const void *p,
				   size_t n)
{
	struct iovec v = { (void *)p, n };

	return actr__conn_writev(c, &v, 1);
}

/** Reserve n bytes at the end of the output queue to fill in place, then
 * actr__conn_commit(c, n). NULL on -ENOBUFS/-ENOMEM/closed (*err set). */
uint8_t *actr__conn_reserve(struct actr__conn *c, size_t n, int *err);
int actr__conn_commit(struct actr__conn *c, size_t n);

/** Drop n consumed bytes from the front of the input buffer. */
void actr__conn_consume(struct actr__conn *c, size_t n);

/** Suspend or resume reading. */
void actr__conn_pause(struct actr__conn *c, bool paused);

/** Switch the owner callbacks (HTTP -> WebSocket upgrade). */
void actr__conn_set_ops(struct actr__conn *c, const struct actr__conn_ops *ops,
			void *arg);

/** Put c on a list its owner can sweep (e.g. lingering closes of a
 * server being freed); c leaves it when freed. */
void actr__conn_set_add(struct actr__conn **head, struct actr__conn *c);

/** Close every connection on the list at once and forget the list. */
void actr__conn_set_abort(struct actr__conn **head);

/** Bytes queued, not yet written. */
static inline size_t actr__conn_pending(const struct actr__conn *c)
{
	return c->out_len;
}

/**
 * Close. graceful: flush the queue, shut the write side, discard input until
 * EOF, all bounded by linger_ms; otherwise at once. No callback runs after
 * this call; the memory is freed at the end of the iteration.
 */
void actr__conn_close(struct actr__conn *c, bool graceful, uint32_t linger_ms);

/** TLS contexts: server from PEM files, client with optional CA file or
 * no verification. NULL on failure (logged). */
SSL_CTX *actr__tls_server_ctx(const char *cert_file, const char *key_file);
SSL_CTX *actr__tls_client_ctx(const char *ca_file, bool insecure);

/** Bind and listen on host:port (IP literal), non-blocking. Returns the fd
 * or -errno; *bound gets the port. */
int actr__listen(const char *host, uint16_t port, int backlog,
		 uint16_t *bound);

/** Resolve an IP literal or "localhost" (no DNS). 0 or -EINVAL. */
int actr__resolve(const char *host, uint16_t port,
		  struct sockaddr_storage *ss, socklen_t *len);

/*
 * Resolve a name without blocking (net/resolve.c, c-ares on the reactor):
 * cb runs once, from a deferred call, with 0 and the address (port set),
 * or -ACTR_ENOTFOUND (no such name), -ACTR_ETIMEDOUT (no answer within
 * timeout_ms, 0 = 10 s), -ACTR_EUNAVAILABLE (the DNS server failed),
 * -ENOMEM. NULL when the lookup could not start. Cancelling (any time
 * before cb ran) means cb never runs.
 */
typedef void (*actr__lookup_cb)(int rc, const struct sockaddr *sa,
				socklen_t len, void *arg);
struct actr__lookup;
struct actr__lookup *actr__resolve_start(actr_reactor_t *r, const char *host,
					 uint16_t port, uint32_t timeout_ms,
					 actr__lookup_cb cb, void *arg);
void actr__resolve_cancel(struct actr__lookup *l);
/** Tests: ask these DNS servers ("IP:PORT,...") instead of resolv.conf's;
 * NULL restores them. */
void actr__resolve_set_servers(const char *csv);

/** Fill limits' zero fields with the defaults. */
void actr__net_limits_fill(struct actr_net_limits *l);

#endif
