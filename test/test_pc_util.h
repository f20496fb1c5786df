/* Helpers shared by the ICE / peer-connection tests: a coturn server started
 * for one test, coturn-style (use-auth-secret) TURN credentials, the pipe
 * that carries SDP between the processes of a two-process test, and the
 * line-protocol child processes of the interop tests (aiortc,
 * libdatachannel). */
#ifndef ACTR_TEST_PC_UTIL_H
#define ACTR_TEST_PC_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <actr/buf.h>

struct test_turn {
	pid_t pid;		/* turnserver process */
	uint16_t port;		/* its UDP/TCP listening port on 127.0.0.1 */
	char secret[32];	/* static-auth-secret */
	char user[64];		/* "<expires_at>:<id>" */
	char pass[64];		/* base64(HMAC-SHA1(secret, user)) */
};

/** Start coturn on 127.0.0.1 with use-auth-secret (a fresh port, bounded
 * wait until it answers). 0, or -1 when coturn is missing or failed. */
int test_turn_start(struct test_turn *t);

/** Kill and reap the server (bounded). */
void test_turn_stop(struct test_turn *t);

/** A free UDP port on 127.0.0.1 (bound then closed). */
uint16_t test_free_udp_port(void);

/** Send s as a length-prefixed string on fd (the two-process tests'
 * signaling channel, a pipe or socketpair). CHECK fails on a short
 * write. */
void test_pipe_put(int fd, const char *s);

/** Receive one string sent by test_pipe_put (malloc'd, the caller frees),
 * or NULL on EOF, error, an oversized length or after 10 s (scaled)
 * without data. */
char *test_pipe_get(int fd);

/* An interop peer: a child process speaking a line protocol on its stdin
 * and stdout (test/pc_aiortc.py, test/interop/dc_peer.mjs). */
struct test_peer {
	pid_t pid;		/* the child, 0 once reaped */
	int to;			/* its stdin */
	int from;		/* its stdout (non-blocking) */
	char buf[65536];	/* a partial line */
	size_t len;		/* bytes in buf */
};

/** The path of rel (e.g. "test/pc_aiortc.py") in the source tree, into
 * out: as given when the tests run from the root, else found from the test
 * binary (<root>/build/test/actr-test). false when it is not readable. */
bool test_source_path(const char *rel, char *out, size_t cap);

/** Start argv[0] (a path, or a name searched in PATH) with argv, its stdin
 * and stdout piped to p (stderr is the test's). CHECK fails if the pipes
 * or fork fail; a program that cannot be run exits 127. */
void test_peer_start(struct test_peer *p, char *const argv[]);

/** Close its stdin, wait up to 3 s for it to exit, then SIGKILL it; reaps
 * it and closes its stdout. */
void test_peer_stop(struct test_peer *p);

/** One complete line from the peer (NUL-terminated, without the newline)
 * into line, or false when no whole line has arrived yet. CHECK fails for
 * a line longer than cap - 1. */
bool test_peer_line(struct test_peer *p, char *line, size_t cap);

/** Write "<tag> <base64 of text>\n" to the peer; CHECK fails on a short
 * write. */
void test_peer_put_b64(struct test_peer *p, const char *tag,
		       const char *text);

/** The base64 word after the first space of line, decoded (malloc'd,
 * NUL-terminated; the caller frees). CHECK fails on bad base64. */
char *test_peer_b64_arg(const char *line);

/* Lane messages a test received and has not checked yet. */
#define TEST_INBOX_MAX 64
struct test_inbox {
	actr_buf_t *msgs[TEST_INBOX_MAX]; /* one reference each */
	int lanes[TEST_INBOX_MAX];	/* their lanes */
	int n;				/* entries */
};

/** Keep msg (the inbox takes the reference); CHECK fails when full. */
void test_inbox_put(struct test_inbox *b, int lane, actr_buf_t *msg);

/** Index of the first message on lane equal to data/len, or -1. */
int test_inbox_find(const struct test_inbox *b, int lane, const void *data,
		    size_t len);

/** Remove entry i (its reference is dropped); later entries move up. */
void test_inbox_drop(struct test_inbox *b, int i);

/** Remove the greeting the interop peers send on each of the four lanes
 * ("hello <label>" behind the fragment header, delivered without it);
 * CHECK fails when one is missing. */
void test_inbox_take_greetings(struct test_inbox *b);

/** Drop every entry. */
void test_inbox_clear(struct test_inbox *b);

#endif
