/*
 * Test runner: runs every registered test (or those whose name contains
 * one of the arguments) in its own forked child with a timeout, prints one
 * line per test and a closing "N passed, N failed" line, and exits 1 if
 * any test failed. A test that calls actr_test_skip() (exit status
 * TEST_SKIP_STATUS) is reported as "skip" with its reason and counted
 * apart. "-l" lists the test names. A test's own output (stdout
 * and stderr, log lines included) is kept in a temporary file and shown
 * only when the test fails, or always with "-v" or ACTR_TEST_VERBOSE=1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

static struct actr_test *tests;
static unsigned ntests;
static char tmpdir[256];
static bool verbose;

void actr_test_register(struct actr_test *t)
{
	t->next = tests;
	tests = t;
	ntests++;
}

void actr_test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "    %s:%d: check failed: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void actr_test_skip(const char *fmt, ...)
{
	const char *ci = getenv("CI");
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (ci && !strcmp(ci, "true"))
		actr_test_fail(__FILE__, __LINE__,
			       "SKIP is a failure with CI=true: %s", why);
	printf("SKIP: %s\n", why);
	fflush(stdout);
	exit(TEST_SKIP_STATUS);
}

int actr_test_scale(int x)
{
	const char *s = getenv("ACTR_TEST_TIMEOUT_SCALE");
	int k = s ? atoi(s) : 1;

	return x * (k > 0 ? k : 1);
}

const char *actr_test_tmpdir(void)
{
	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/actr-test-XXXXXX");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			exit(1);
		}
	}
	return tmpdir;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int by_file_line(const void *a, const void *b)
{
	const struct actr_test *x = *(const struct actr_test *const *)a;
	const struct actr_test *y = *(const struct actr_test *const *)b;
	int c = strcmp(x->file, y->file);

	return c ? c : x->line - y->line;
}

static bool selected(const struct actr_test *t, int argc, char **argv)
{
	if (argc == 0)
		return true;
	for (int i = 0; i < argc; i++)
		if (strstr(t->name, argv[i]))
			return true;
	return false;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Copy the captured output of a test to stdout, indented. */
static void show_output(FILE *out)
{
	char line[4096];

	if (!out)
		return;
	fflush(out);
	rewind(out);
	while (fgets(line, sizeof(line), out)) {
		size_t n = strlen(line);

		printf("    | %s%s", line, n && line[n - 1] == '\n' ? "" : "\n");
	}
}

/* The "SKIP: " line a skipped test printed, without the newline. */
static void skip_reason(FILE *out, char *why, size_t cap)
{
	char line[512];

	snprintf(why, cap, "(see -v)");
	if (!out)
		return;
	fflush(out);
	rewind(out);
	while (fgets(line, sizeof(line), out))
		if (!strncmp(line, "SKIP: ", 6)) {
			line[strcspn(line, "\n")] = 0;
			snprintf(why, cap, "%s", line + 6);
		}
}

enum outcome { PASSED, FAILED, SKIPPED };

/* Run one test in a child. */
static enum outcome run_one(const struct actr_test *t)
{
	FILE *out = verbose ? NULL : tmpfile();
	int timeout = actr_test_scale(t->timeout_s);
	double t0 = now_ms(), ms;
	int status = 0;
	bool timed_out = false;
	pid_t pid, w;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		if (out)
			fclose(out);
		return FAILED;
	}
	if (pid == 0) {
		setpgid(0, 0); /* so the whole group can be killed */
		if (out) {
			dup2(fileno(out), STDOUT_FILENO);
			dup2(fileno(out), STDERR_FILENO);
			setvbuf(stdout, NULL, _IOLBF, 0);
		}
		t->fn();
		if (tmpdir[0])
			nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		fflush(stdout);
		exit(0);
	}
	setpgid(pid, pid);
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			break;
		if (now_ms() - t0 > timeout * 1000.0) {
			timed_out = true;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		usleep(1000);
	}
	kill(-pid, SIGKILL); /* reap helpers the test left behind */
	ms = now_ms() - t0;
	if (!timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		printf("ok   %-44s %9.1f ms\n", t->name, ms);
		if (out)
			fclose(out);
		return PASSED;
	}
	if (!timed_out && WIFEXITED(status) &&
	    WEXITSTATUS(status) == TEST_SKIP_STATUS) {
		char why[512];

		skip_reason(out, why, sizeof(why));
		printf("skip %-44s %s\n", t->name, why);
		if (out)
			fclose(out);
		return SKIPPED;
	}
	show_output(out);
	if (out)
		fclose(out);
	if (timed_out)
		printf("FAIL %-44s timed out after %d s\n", t->name, timeout);
	else if (WIFSIGNALED(status))
		printf("FAIL %-44s killed by signal %d (%s)\n", t->name,
		       WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		printf("FAIL %-44s exit status %d\n", t->name,
		       WEXITSTATUS(status));
	return FAILED;
}

int main(int argc, char **argv)
{
	struct actr_test **list = calloc(ntests ? ntests : 1, sizeof(*list));
	unsigned n = 0, passed = 0, failed = 0, skipped = 0;
	const char *v = getenv("ACTR_TEST_VERBOSE");
	bool only_list = argc > 1 && !strcmp(argv[1], "-l");

	verbose = v && *v && strcmp(v, "0");
	if (!only_list && argc > 1 && !strcmp(argv[1], "-v")) {
		verbose = true;
		argc--;
		argv++;
	}

	if (!list)
		return 2;
	for (struct actr_test *t = tests; t; t = t->next)
		list[n++] = t;
	qsort(list, n, sizeof(*list), by_file_line);
	signal(SIGPIPE, SIG_IGN);
	for (unsigned i = 0; i < n; i++) {
		if (!selected(list[i], argc - 1 - only_list,
			      argv + 1 + only_list))
			continue;
		if (only_list) {
			printf("%s\n", list[i]->name);
			continue;
		}
		switch (run_one(list[i])) {
		case PASSED:
			passed++;
			break;
		case SKIPPED:
			skipped++;
			break;
		default:
			failed++;
		}
	}
	free(list);
	if (!only_list && skipped)
		printf("%u passed, %u failed, %u skipped\n", passed, failed,
		       skipped);
	else if (!only_list)
		printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
