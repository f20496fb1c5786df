/*
 * HTTP/1.1 and WebSocket (RFC 6455) over TCP or TLS, on the reactor.
 *
 * - An HTTP server: one listener serving plain routes (a request callback
 *   answers with status, headers and body) and WebSocket upgrades (the same
 *   callback accepts the upgrade, or rejects it, e.g. 401, after looking at
 *   the query string). Limits on head size, header count, body size,
 *   connections and queued output; header/idle deadlines; counters.
 * - A WebSocket connection object for both sides (send_binary/send_text/
 *   ping/close, on_message/on_close callbacks).
 * - An HTTP client for one request (GET/POST) with a response callback and
 *   a timeout.
 *
 * Everything runs on one reactor thread: every function here must be called
 * from the thread that runs the reactor the object belongs to. Client URLs
 * may name their host: a name is resolved without blocking (c-ares, the
 * system's resolv.conf and /etc/hosts) before the connect, within the
 * request's timeout (HTTP) or the handshake timeout (WebSocket); a name
 * that does not resolve fails the request (-ACTR_ENOTFOUND,
 * -ACTR_ETIMEDOUT, -ACTR_EUNAVAILABLE) or closes the WebSocket (1006,
 * "resolve NAME: ..."). IP literals and "localhost" connect at once.
 * Listeners bind IP literals. TLS is OpenSSL's, with non-blocking
 * handshakes and the URL's host as SNI and verification name.
 *
 * Closed objects are freed at the end of a reactor iteration (never inside
 * their own callbacks); a connection that closes gracefully drains its last
 * bytes for at most close_timeout_ms. Before actr_reactor_free(), run the
 * reactor until actr_reactor_active() is 0 (or at least once) so that this
 * memory is released.
 */
#ifndef ACTR_NET_H
#define ACTR_NET_H

#include <actr/api.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <actr/reactor.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct actr_http_server actr_http_server_t;
typedef struct actr_http_req actr_http_req_t;
typedef struct actr_http_call actr_http_call_t;
typedef struct actr_ws actr_ws_t;

/** Caps and deadlines. A zero field means "use the default" (in brackets). */
struct actr_net_limits {
	size_t max_header_bytes;	/* request/status line + headers [8 KiB] */
	unsigned max_headers;		/* header fields per message [64] */
	size_t max_body;		/* HTTP body bytes [1 MiB] */
	size_t max_frame;		/* WebSocket frame payload [1 MiB] */
	size_t max_message;		/* reassembled WebSocket message [1 MiB] */
	size_t max_pending;		/* queued output bytes per connection [4 MiB];
					   a send is refused (-ENOBUFS) when bytes
					   are waiting and it would exceed this */
	unsigned max_conns;		/* server: open connections [1024] */
	uint32_t header_timeout_ms;	/* server: whole head must arrive [10 s] */
	uint32_t idle_timeout_ms;	/* server: keep-alive idle; time for a body [60 s] */
	uint32_t handshake_timeout_ms;	/* connect + TLS + upgrade [10 s] */
	uint32_t close_timeout_ms;	/* wait for the peer's close [2 s] */
	uint32_t frame_timeout_ms;	/* WebSocket: a frame whose first byte
					   arrived must be complete [30 s],
					   else close 1008 */
};

/* ---- query strings -------------------------------------------------------- */

/**
 * Find name in a query string ("a=1&b=x%20y", a leading '?' is skipped) and
 * percent-decode its value ('+' is a space) into out (NUL-terminated).
 * Returns the decoded length, -ACTR_ENOTFOUND if absent, -ACTR_EPROTO for
 * bad percent escapes, -ENOSPC if out is too small, -EINVAL for a NULL
 * argument or cap 0. Any thread.
 */
ACTR_API ssize_t actr_http_query_get(const char *query, const char *name, char *out,
			    size_t cap);

/* ---- server --------------------------------------------------------------- */

/**
 * Called once per complete request, with the head and the whole body. The
 * callback must answer before returning: actr_http_respond(), or for an
 * upgrade request actr_http_accept_ws(). Unanswered requests get 500.
 * req and everything it points to are valid only during the call.
 */
typedef void (*actr_http_handler_fn)(actr_http_req_t *req, void *arg);

struct actr_http_server_config {
	const char *host;		/* IP literal to bind ["127.0.0.1"] */
	uint16_t port;			/* 0 = ephemeral (actr_http_server_port) */
	const char *tls_cert_file;	/* PEM certificate chain: serve TLS */
	const char *tls_key_file;	/* PEM private key (with cert_file) */
	struct actr_net_limits limits;	/* caps and deadlines */
	actr_http_handler_fn on_request; /* request/upgrade router */
	void *arg;			/* argument of on_request */
};

struct actr_http_server_stats {
	uint64_t conns_accepted;	/* TCP connections accepted */
	uint64_t conns_rejected;	/* refused: max_conns reached (503) */
	uint64_t requests;		/* complete requests dispatched */
	uint64_t bad_requests;		/* 400/426/501/505: malformed */
	uint64_t headers_too_large;	/* 431: head size or header count */
	uint64_t body_too_large;	/* 413 */
	uint64_t header_timeouts;	/* 408: head not complete in time */
	uint64_t idle_timeouts;		/* keep-alive/body idle closes */
	uint64_t tls_failures;		/* TLS handshakes that failed */
	uint64_t upgrades;		/* WebSocket upgrades accepted */
	uint64_t upgrades_rejected;	/* upgrade requests answered non-101 */
	uint64_t ws_protocol_errors;	/* WebSocket closes for bad frames */
	uint64_t ws_frame_timeouts;	/* WebSocket closes: frame deadline */
	uint64_t overflows;		/* sends/answers refused: max_pending */
	unsigned conns_open;		/* connections open now (incl. ws) */
};

/**
 * Listen and serve on r. Returns NULL on failure (bad address, port in use,
 * unreadable certificate; the reason is logged). The server owns its
 * connections; free it with actr_http_server_free().
 */
ACTR_API actr_http_server_t *actr_http_server_new(actr_reactor_t *r,
					 const struct actr_http_server_config *cfg);

/** The bound port (useful with port 0). */
ACTR_API uint16_t actr_http_server_port(const actr_http_server_t *s);

/** Copy the counters. */
ACTR_API void actr_http_server_stats(const actr_http_server_t *s,
			    struct actr_http_server_stats *out);

/** Close the listener and every connection (also those still draining a
 * last answer); open WebSockets get on_close (1001) before this returns.
 * Their memory is released by the reactor at the end of the iteration:
 * run actr_reactor_run_once(r, 0) once before actr_reactor_free(r).
 * NULL is ignored. */
ACTR_API void actr_http_server_free(actr_http_server_t *s);

/** Request accessors (valid during the handler only). */
ACTR_API const char *actr_http_req_method(const actr_http_req_t *q);
ACTR_API const char *actr_http_req_path(const actr_http_req_t *q);   /* no query */
ACTR_API const char *actr_http_req_query(const actr_http_req_t *q);  /* "" if none */
ACTR_API const char *actr_http_req_header(const actr_http_req_t *q, const char *name);
ACTR_API const uint8_t *actr_http_req_body(const actr_http_req_t *q, size_t *len);
/** The peer's IP address as text. */
ACTR_API const char *actr_http_req_peer(const actr_http_req_t *q);
/** True for a GET carrying Connection: upgrade and Upgrade: websocket. */
ACTR_API bool actr_http_req_is_websocket(const actr_http_req_t *q);

/**
 * Answer the request with status 200..999. headers: extra "Name: value\r\n"
 * lines or NULL; content_type may be NULL; body is copied (not sent for
 * HEAD). Returns 0, -EINVAL (status, or headers/content_type that are not
 * well-formed lines), -EALREADY if the request was already
 * answered, -ACTR_ECLOSED if the connection is gone, -ENOBUFS if the
 * output cap is exceeded (the connection is then closed: an answer is
 * never dropped silently).
 */
ACTR_API int actr_http_respond(actr_http_req_t *q, int status, const char *content_type,
		      const char *headers, const void *body, size_t len);

/* ---- WebSocket ------------------------------------------------------------ */

struct actr_ws_callbacks {
	/** Client: handshake complete, sends allowed. (Not called on the
	 * server: actr_http_accept_ws returns an open connection.) */
	void (*on_open)(actr_ws_t *ws, void *arg);
	/** A complete message (text is valid UTF-8). data is valid during the
	 * call only. */
	void (*on_message)(actr_ws_t *ws, bool text, const uint8_t *data,
			   size_t len, void *arg);
	/** A pong arrived (optional). */
	void (*on_pong)(actr_ws_t *ws, const uint8_t *data, size_t len,
			void *arg);
	/** Called exactly once when the connection ends: code is the peer's
	 * close code (1005 if its close frame had none), the code we sent for
	 * a protocol violation (1002, 1007, 1009), 1001 on server shutdown,
	 * or 1006 when the transport failed (reason then says why, e.g.
	 * "HTTP 401" when a client handshake was refused). ws is freed after
	 * this returns. */
	void (*on_close)(actr_ws_t *ws, int code, const char *reason,
			 void *arg);
};

/**
 * Check the WebSocket handshake headers of an upgrade request (method,
 * HTTP/1.1, Sec-WebSocket-Key, Sec-WebSocket-Version 13, no body) before
 * the application looks at anything else. Returns 0 when they are
 * acceptable; otherwise answers the request itself, 400 (bad handshake)
 * or 426 with "Sec-WebSocket-Version: 13" (RFC 6455 4.4), counts it and
 * returns that status. actr_http_accept_ws() runs the same check.
 */
ACTR_API int actr_http_ws_check(actr_http_req_t *q);

/**
 * Accept a WebSocket upgrade from the request handler: sends 101 and
 * returns the open connection (owned by the server; it lives until
 * on_close). Returns NULL after answering 400 (bad handshake) or 426 (bad
 * version) itself, or on out of memory (500).
 */
ACTR_API actr_ws_t *actr_http_accept_ws(actr_http_req_t *q,
			       const struct actr_ws_callbacks *cb, void *arg);

struct actr_ws_client_config {
	const char *url;		/* ws://IP:port/path?query or wss:// */
	const char *headers;		/* extra "Name: value\r\n" lines or NULL */
	const char *tls_ca_file;	/* wss: PEM trust anchors (NULL: system) */
	bool tls_insecure;		/* wss: skip verification (tests only) */
	struct actr_net_limits limits;	/* caps and deadlines */
};

/**
 * Connect a WebSocket client. Returns the connection (callbacks follow:
 * on_open then messages, or on_close on failure) or NULL for an invalid
 * URL or out of memory. The connection is owned by the library until
 * on_close.
 */
ACTR_API actr_ws_t *actr_ws_connect(actr_reactor_t *r,
			   const struct actr_ws_client_config *cfg,
			   const struct actr_ws_callbacks *cb, void *arg);

/** Send one binary/text message (text must be UTF-8, else -EINVAL).
 * Returns 0, -ACTR_ENOTREADY before on_open, -ACTR_ECLOSED once closing,
 * -ACTR_ETOOBIG above max_message, -ENOBUFS when max_pending would be
 * exceeded (nothing queued), or a transport error (-EPIPE, ...: on_close
 * follows at the end of the iteration, never from inside this call). */
ACTR_API int actr_ws_send_binary(actr_ws_t *ws, const void *data, size_t len);
ACTR_API int actr_ws_send_text(actr_ws_t *ws, const char *text, size_t len);

/** Send a ping (at most 125 bytes of data). Same return codes. */
ACTR_API int actr_ws_ping(actr_ws_t *ws, const void *data, size_t len);

/**
 * Start the close handshake with code (1000, 1001, 1008, 1011, 3000-4999..)
 * and a reason (at most 123 bytes, may be NULL). on_close follows when the
 * peer answers or after close_timeout_ms. Returns 0, -EINVAL for a code
 * that may not be sent, -ACTR_ECLOSED if already closing.
 */
ACTR_API int actr_ws_close(actr_ws_t *ws, int code, const char *reason);

/** Bytes queued for sending (not yet accepted by the kernel). */
ACTR_API size_t actr_ws_pending(const actr_ws_t *ws);

/** Replace the callback argument. */
ACTR_API void actr_ws_set_arg(actr_ws_t *ws, void *arg);

/** Client: the HTTP status of the handshake response (101 when it
 * succeeded, 0 before a response arrived). */
ACTR_API int actr_ws_http_status(const actr_ws_t *ws);

/** The peer's IP address as text. */
ACTR_API const char *actr_ws_peer(const actr_ws_t *ws);

/* ---- HTTP client ------------------------------------------------------------ */

/**
 * rc is 0 when a response arrived (status and body are valid during the
 * call), or -ACTR_ETIMEDOUT, -ECONNREFUSED/-ECONNRESET (transport),
 * -ACTR_EPROTO (malformed response), -ACTR_ETOOBIG (body over max_body),
 * -ACTR_EAUTH (TLS verification failed). The call is freed after this
 * returns.
 */
typedef void (*actr_http_response_fn)(actr_http_call_t *call, int rc,
				      int status, const uint8_t *body,
				      size_t len, void *arg);

struct actr_http_request {
	const char *method;		/* "GET", "POST", ... ["GET"] */
	const char *url;		/* http://IP:port/path?query or https:// */
	const char *content_type;	/* body type or NULL */
	const char *headers;		/* extra "Name: value\r\n" lines or NULL */
	const void *body;		/* request body (copied) */
	size_t body_len;		/* its length */
	uint32_t timeout_ms;		/* whole exchange [10 s] */
	size_t max_body;		/* response body cap [1 MiB] */
	const char *tls_ca_file;	/* https: PEM trust anchors (NULL: system) */
	bool tls_insecure;		/* https: skip verification (tests only) */
};

/**
 * Start one request (Connection: close). Returns a handle (cb is called
 * exactly once unless the call is cancelled) or NULL for an invalid URL or
 * out of memory.
 */
ACTR_API actr_http_call_t *actr_http_request(actr_reactor_t *r,
				    const struct actr_http_request *rq,
				    actr_http_response_fn cb, void *arg);

/** A response header (case-insensitive name) during the callback, or NULL. */
ACTR_API const char *actr_http_call_header(const actr_http_call_t *call,
				  const char *name);

/** Abandon a call whose callback has not run yet: cb will not be called. */
ACTR_API void actr_http_call_cancel(actr_http_call_t *call);

#ifdef __cplusplus
}
#endif
#endif
