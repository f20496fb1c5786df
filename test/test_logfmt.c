/*
 * Structured logs (core/log.c): ACTR_LOG_FORMAT=json|logfmt|text lines
 * on the stderr sink, with the route (and request id, caller, trace id
 * where known) of the message a handler is handling.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <actr/actr.h>

#include "test.h"

/* Send stderr to a fresh file of the test's directory; returns its path. */
static const char *capture_stderr(const char *name)
{
	static char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", actr_test_tmpdir(), name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	fflush(stderr);
	CHECK(dup2(fd, 2) == 2);
	close(fd);
	return path;
}

static char *slurp(const char *path)
{
	static char buf[65536];
	FILE *f;
	size_t n;

	fflush(stderr);
	f = fopen(path, "r");
	CHECK(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static int handler_logs(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	actr_logi("app", "handling %zu bytes", n);
	return actr_reply_raw(ctx, d, n);
}

static int done;

static void on_res(const actr_result_t *res, void *arg)
{
	done++;
}

/* One log line outside any handler, one from inside a handler. */
static void log_two_lines(void)
{
	actr_reactor_t *r = actr_reactor_new();
	actr_system_t *sys = actr_system_new(r, NULL);
	actr_workload_t *w = actr_workload_new("acme", "logger", "1.0.0");
	actr_node_t *n;
	actr_ref_t *ref;

	CHECK(sys && w);
	CHECK_OK(actr_workload_add_route(w, "app.Log", handler_logs, 0));
	n = actr_node_new(sys, w, 0);
	CHECK(n);
	CHECK_OK(actr_node_start(n, &ref));
	actr_logw("outside", "say \"hi\" = %d", 1);
	done = 0;
	CHECK_OK(actr_ref_call_raw(ref, "app.Log", "abc", 3, 1000, on_res,
				   NULL));
	for (int i = 0; i < 100 && !done; i++)
		actr_reactor_run_once(r, 10);
	CHECK_EQ(done, 1);
	actr_system_free(sys);
	actr_reactor_free(r);
}

TEST(log_format_json)
{
	const char *path = capture_stderr("json.log");
	char *out, *l2;

	actr_log_set_level(ACTR_LOG_INFO);
	actr_log_set_format(ACTR_LOG_FORMAT_JSON);
	log_two_lines();
	out = slurp(path);
	CHECK(!strncmp(out, "{\"time\":\"20", 11));
	CHECK(strstr(out, "\"level\":\"warn\",\"component\":\"outside\","
			  "\"msg\":\"say \\\"hi\\\" = 1\"}\n"));
	l2 = strstr(out, "\"component\":\"app\"");
	CHECK(l2);
	CHECK(strstr(l2, "\"level\":\"info\"") || strstr(out, "\"level\":"
							      "\"info\","
							      "\"component\":"
							      "\"app\""));
	CHECK(strstr(l2, "\"msg\":\"handling 3 bytes\",\"route\":\"app."
			 "Log\"}"));
}

TEST(log_format_logfmt)
{
	const char *path = capture_stderr("logfmt.log");
	char *out;

	actr_log_set_level(ACTR_LOG_INFO);
	actr_log_set_format(ACTR_LOG_FORMAT_LOGFMT);
	log_two_lines();
	out = slurp(path);
	CHECK(!strncmp(out, "time=20", 7));
	CHECK(strstr(out, " level=warn component=outside msg=\"say \\\"hi\\\""
			  " = 1\"\n"));
	CHECK(strstr(out, " level=info component=app msg=\"handling 3 bytes\""
			  " route=app.Log\n"));
}

TEST(log_format_text_and_parse)
{
	const char *path = capture_stderr("text.log");
	actr_log_format_t f;
	char *out;

	actr_log_set_level(ACTR_LOG_INFO);
	actr_log_set_format(ACTR_LOG_FORMAT_TEXT);
	actr_logw("outside", "plain");
	out = slurp(path);
	CHECK(strstr(out, "Z W outside: plain\n"));
	CHECK_OK(actr_log_parse_format("JSON", &f));
	CHECK_EQ(f, ACTR_LOG_FORMAT_JSON);
	CHECK_OK(actr_log_parse_format("logfmt", &f));
	CHECK_EQ(f, ACTR_LOG_FORMAT_LOGFMT);
	CHECK_EQ(actr_log_parse_format("yaml", &f), -EINVAL);
}
