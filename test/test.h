/*
 * The project's test harness: a named test table filled by constructors,
 * each test run in a forked child with a timeout (see runner.c).
 *
 *   TEST(reactor_timer_order) { CHECK(x == 1); CHECK_EQ(a, b); }
 *   TEST_TIMEOUT(slow_thing, 60) { ... }   // seconds, default 10
 *
 * A failed CHECK prints file:line and the expression and ends the child
 * with status 1. Timeouts are multiplied by $ACTR_TEST_TIMEOUT_SCALE
 * (set under valgrind).
 */
#ifndef ACTR_TEST_H
#define ACTR_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct actr_test {
	const char *name;	/* unique test name */
	void (*fn)(void);	/* body */
	int timeout_s;		/* seconds before the child is killed */
	const char *file;	/* for ordering */
	int line;		/* for ordering */
	struct actr_test *next;	/* registry link */
};

void actr_test_register(struct actr_test *t);
void actr_test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));

/** Exit status of a skipped test (the runner prints "skip"). */
#define TEST_SKIP_STATUS 77

/** Skip the running test: prints "SKIP: <reason>" and ends the child with
 * TEST_SKIP_STATUS. With the environment variable CI=true a skip is a
 * failure instead (CI must run everything). For tests that need something
 * the machine may lack (a network registry, an external program). */
void actr_test_skip(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));

/** A fresh empty directory for this test (removed when the test ends);
 * returns its path (static storage). */
const char *actr_test_tmpdir(void);

/** Scale a timeout or bound by $ACTR_TEST_TIMEOUT_SCALE. */
int actr_test_scale(int x);

#define TEST_TIMEOUT(tname, secs)                                          \
	static void test_fn_##tname(void);                                 \
	static struct actr_test test_reg_##tname = {                       \
		#tname, test_fn_##tname, secs, __FILE__, __LINE__, NULL }; \
	__attribute__((constructor)) static void test_ctor_##tname(void)   \
	{                                                                  \
		actr_test_register(&test_reg_##tname);                     \
	}                                                                  \
	static void test_fn_##tname(void)

#define TEST(tname) TEST_TIMEOUT(tname, 10)

#define CHECK(cond)                                                       \
	do {                                                              \
		if (!(cond))                                              \
			actr_test_fail(__FILE__, __LINE__, "%s", #cond);  \
	} while (0)

#define CHECK_EQ(a, b)                                                     \
	do {                                                               \
		long long va_ = (long long)(a), vb_ = (long long)(b);      \
		if (va_ != vb_)                                            \
			actr_test_fail(__FILE__, __LINE__,                 \
				       "%s == %s (%lld != %lld)", #a, #b,  \
				       va_, vb_);                          \
	} while (0)

#define CHECK_STR(a, b)                                                    \
	do {                                                               \
		const char *sa_ = (a), *sb_ = (b);                         \
		if (!sa_ || !sb_ || strcmp(sa_, sb_))                      \
			actr_test_fail(__FILE__, __LINE__,                 \
				       "%s == %s (\"%s\" != \"%s\")", #a,  \
				       #b, sa_ ? sa_ : "(null)",           \
				       sb_ ? sb_ : "(null)");              \
	} while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

/* rc must be 0 (or >= 0 for CHECK_RC_POS); prints actr_strerror. */
#define CHECK_OK(expr)                                                     \
	do {                                                               \
		long long rc_ = (long long)(expr);                         \
		if (rc_ != 0)                                              \
			actr_test_fail(__FILE__, __LINE__, "%s -> %lld",   \
				       #expr, rc_);                        \
	} while (0)

#endif
