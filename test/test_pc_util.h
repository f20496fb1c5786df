/* Helpers shared by the ICE / peer-connection tests: a coturn server started
 * for one test, coturn-style (use-auth-secret) TURN credentials, and the
 * pipe that carries SDP between the processes of a two-process test. */
#ifndef ACTR_TEST_PC_UTIL_H
#define ACTR_TEST_PC_UTIL_H

#include <stdint.h>
#include <sys/types.h>

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

#endif
