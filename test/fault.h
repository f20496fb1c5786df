/*
 * Fault injection for tests (SQLite's aSyscall[] tests): make the Nth call
 * of one actr__sys entry fail with a chosen errno, or every call from the
 * Nth on. Calls that do not fail go to the real syscall. Counting starts
 * at fault_arm(); fault_reset() restores the real table (every test that
 * arms a fault calls it before returning). Counters are atomic: a post
 * from another thread may go through the seam.
 */
#ifndef ACTR_TEST_FAULT_H
#define ACTR_TEST_FAULT_H

#include <stdbool.h>

enum fault_call {
	FAULT_READ,
	FAULT_WRITE,
	FAULT_SEND,
	FAULT_RECV,
	FAULT_SENDMSG,
	FAULT_SENDMMSG,
	FAULT_RECVMMSG,
	FAULT_ACCEPT4,
	FAULT_EPOLL_CTL,
	FAULT_EPOLL_WAIT,
	FAULT_TIMERFD_SETTIME,
	FAULT_OPEN,
	FAULT_FTRUNCATE,
	FAULT_FALLOCATE,
	FAULT_MMAP,
	FAULT_FDATASYNC,
	FAULT_MALLOC,
	FAULT_CALLOC,
	FAULT_REALLOC,
	FAULT_COUNT
};

/*
 * Install the counting wrapper for call: its nth call (1-based, counted
 * from now) fails with err; with every, so do all later ones. fd >= 0
 * restricts counting and failing to that descriptor (-1: any). nth 0
 * counts calls without failing any.
 */
void fault_arm(enum fault_call call, unsigned nth, int err, bool every,
	       int fd);

/** Calls of call seen since it was armed (matching the fd filter). */
unsigned fault_calls(enum fault_call call);

/** Calls of call that were made to fail. */
unsigned fault_hits(enum fault_call call);

/** Stop failing call (it keeps counting). */
void fault_disarm(enum fault_call call);

/** Disarm everything and restore the real syscalls (actr__sys_reset). */
void fault_reset(void);

#endif
