/* Helpers shared by the HTTP/WebSocket tests: blocking raw clients in a
 * thread while the reactor runs, an echo server, child processes. */
#ifndef ACTR_TEST_NET_UTIL_H
#define ACTR_TEST_NET_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <actr/actr.h>
#include <actr/net.h>

/* Debian's interpreter: python3-websockets belongs to it. */
#define NT_PYTHON "/usr/bin/python3"

/** Run fn(arg) in a thread while r runs; returns when fn returned (or
 * after timeout_s, which fails the test). */
void nt_run_with_thread(actr_reactor_t *r, void (*fn)(void *), void *arg,
			int timeout_s);

/** Run r until *flag becomes true or timeout_ms passes; returns *flag. */
bool nt_run_until(actr_reactor_t *r, volatile bool *flag, int timeout_ms);

/** Run r until nothing is active (closing connections finished; bounded
 * to 3 s), so that deferred frees run before actr_reactor_free. */
void nt_drain(actr_reactor_t *r);

/** Blocking TCP connection to 127.0.0.1:port with 5 s socket timeouts. */
int nt_connect(unsigned port);

/** Send all of s; returns 0 or -1. */
int nt_send(int fd, const void *p, size_t n);

/** Read until EOF, timeout or cap bytes; NUL-terminates; returns the byte
 * count (>= 0). */
ssize_t nt_read_all(int fd, char *buf, size_t cap);

/** Read exactly n bytes (or fail the test). */
void nt_read_exact(int fd, void *buf, size_t n);

/** Read one HTTP response (head + Content-Length body) into buf. */
ssize_t nt_read_response(int fd, char *buf, size_t cap);

/* The echo server used by several tests:
 *   GET /hello -> 200 "hello"; POST /echo -> the body back;
 *   GET /ws?token=good -> WebSocket echo (text stays text); any other
 *   token -> 401; text "close:N" -> we close with code N, reason "asked";
 *   anything else -> 404. */
struct nt_echo {
	actr_http_server_t *srv;	/* the server */
	int ws_open;			/* accepted WebSockets */
	int ws_closed;			/* on_close calls */
	int last_close_code;		/* code of the last on_close */
	char last_close_reason[128];	/* its reason */
	int messages;			/* messages echoed */
};

/** Start the echo server on 127.0.0.1:0 (TLS when cert/key given). */
actr_http_server_t *nt_echo_start(actr_reactor_t *r, struct nt_echo *e,
				  const struct actr_net_limits *lim,
				  const char *cert, const char *key);

/** Generate a self-signed certificate for 127.0.0.1 in dir with the
 * openssl command; fills cert and key paths. */
void nt_make_cert(const char *dir, char *cert, char *key, size_t cap);

/** Start NT_PYTHON script args... (NULL-terminated) with stdout in a
 * pipe; *out_fd gets the read end, *in_fd the child's stdin. */
pid_t nt_spawn(int *out_fd, int *in_fd, const char *const argv[]);

/** Read one line from fd within timeout_ms (NUL-terminated, no newline). */
int nt_read_line(int fd, char *buf, size_t cap, int timeout_ms);

/** Run r until child exits (or timeout_ms); returns its exit status or -1. */
int nt_run_until_exit(actr_reactor_t *r, pid_t pid, int timeout_ms);

/** Absolute path of test/ws_peer.py. */
const char *nt_peer_script(void);

#endif
