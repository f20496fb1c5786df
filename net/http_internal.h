/*
 * Sans-I/O HTTP/1.1 codec: message-head parser, chunked body decoder, URL
 * parser and head writers. No sockets here: the server, the client and the
 * fuzz test feed it bytes. Internal to the library.
 */
#ifndef ACTR_WIRE_HTTP_INTERNAL_H
#define ACTR_WIRE_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Size of the header array; configured limits are clamped to it. */
#define ACTR__HTTP_MAX_HEADERS 128

struct actr__http_hdr {
	const char *name;	/* NUL-terminated, inside the parsed buffer */
	const char *value;	/* NUL-terminated, OWS trimmed */
};

struct actr__http_limits {
	size_t max_head;	/* request/status line + headers, bytes */
	unsigned max_headers;	/* header field count */
	size_t max_body;	/* Content-Length / decoded chunked size */
};

struct actr__http_msg {
	const char *method;	/* request: NUL-terminated method */
	const char *target;	/* request: NUL-terminated request-target */
	int status;		/* response: status code 100..999 */
	int minor;		/* HTTP/1.<minor> */
	unsigned nhdr;		/* number of headers in hdr[] */
	size_t head_len;	/* bytes of the head, final CRLFCRLF included */
	int64_t content_length;	/* -1 when absent */
	bool chunked;		/* Transfer-Encoding: chunked */
	bool keep_alive;	/* connection may be reused */
	bool upgrade_ws;	/* Connection: upgrade + Upgrade: websocket */
	int error_status;	/* on error: the HTTP status to answer with */
	struct actr__http_hdr hdr[ACTR__HTTP_MAX_HEADERS]; /* header fields */
};

/**
 * Parse a request (request = true) or response head from buf[0..len).
 * *scanned carries, between calls on a growing buffer, how far the search
 * for the end of the head got (start it at 0 for a new message) so that a
 * client trickling bytes costs linear time. On success the head is NUL-
 * terminated in place (buf is modified) and m points into buf.
 * Returns the head length (> 0); -EAGAIN when more bytes are needed;
 * -ACTR_ETOOBIG (m->error_status 431 or 413) when a limit is exceeded;
 * -ACTR_EPROTO (m->error_status 400, 501 or 505) for malformed input,
 * including a line ended by a bare LF (refused as soon as it is seen).
 */
ssize_t actr__http_parse(char *buf, size_t len, bool request,
			 const struct actr__http_limits *lim, size_t *scanned,
			 struct actr__http_msg *m);

/** The buffer holding a parsed head moved (realloc) from old to now:
 * move m's pointers with it. */
void actr__http_rebase(struct actr__http_msg *m, uintptr_t old,
		       const char *now);

/** Value of header name (case-insensitive) or NULL. */
const char *actr__http_header(const struct actr__http_msg *m,
			      const char *name);

/** True if the comma-separated list value contains token (case-insens.). */
bool actr__http_has_token(const char *value, const char *token);

/* Incremental chunked transfer-coding decoder. */
struct actr__http_chunked {
	int state;		/* decoder state */
	uint64_t remain;	/* bytes left in the current chunk */
	uint64_t total;		/* decoded bytes so far */
	unsigned digits;	/* hex digits of the current size line */
	unsigned line;		/* bytes of the current trailer line */
	bool done;		/* last chunk and trailers consumed */
};

/**
 * Decode buf[0..len) in place: decoded body bytes are written to
 * buf[0..*out) (never past the input read so far). Returns the number of
 * input bytes consumed (stops after the end of the body, c->done set), or
 * -ACTR_ETOOBIG when the body exceeds max_body, -ACTR_EPROTO when
 * malformed.
 */
ssize_t actr__http_chunked_decode(struct actr__http_chunked *c, uint8_t *buf,
				  size_t len, size_t *out, size_t max_body);

struct actr__url {
	bool tls;		/* https:// or wss:// */
	bool ws;		/* ws:// or wss:// */
	char host[256];		/* host as written (no brackets) */
	uint16_t port;		/* explicit or default port */
	char target[2048];	/* path and query, "/" when empty */
	char hostport[272];	/* value for the Host header */
};

/** Parse http://, https://, ws://, wss:// URLs. 0, or -EINVAL for a
 * malformed URL or one whose host or target exceeds struct actr__url. */
int actr__url_parse(const char *url, struct actr__url *u);

/** Percent-decode s[0..n) ('+' is a space) into out (NUL-terminated); out
 * may be NULL to measure. Returns the decoded length, -ACTR_EPROTO for a
 * bad escape, -ENOSPC if out is too small. Used by actr_http_query_get and
 * actr-signal's query parser. Any thread. */
ssize_t actr__pct_decode(const char *s, size_t n, char *out, size_t cap);

/**
 * Write a response head: status line, Content-Length, Content-Type (if
 * ctype), "Connection: close" unless keep_alive, the extra lines, CRLF.
 * Returns its length, or -ENOSPC when cap is too small (call with cap 0
 * to size it).
 */
ssize_t actr__http_response_head(char *buf, size_t cap, int status,
				 const char *ctype, const char *extra,
				 size_t body_len, bool keep_alive);

/** True if extra is "" or NULL or a run of "Name: value\r\n" lines with
 * token names and no stray CR/LF (so callers cannot split a head). */
bool actr__http_headers_valid(const char *extra);

/** The reason phrase of a status code ("Unknown" for others). */
const char *actr__http_reason(int status);

#endif
