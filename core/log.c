/* Logging: level filter, default stderr sink, pluggable sink. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "internal.h"

static int level_from_env(void)
{
	static const char *const names[] = { "error", "warn", "info",
					     "debug", "trace" };
	const char *e = getenv("ACTR_LOG");

	if (e)
		for (size_t i = 0; i < ACTR_ARRAY_LEN(names); i++)
			if (!strcasecmp(e, names[i]))
				return (int)i;
	return ACTR_LOG_INFO;
}

int actr__log_level = ACTR_LOG_INFO;
static actr_log_sink_fn sink_fn;
static void *sink_arg;

__attribute__((constructor)) static void log_init(void)
{
	actr__log_level = level_from_env();
}

void actr_log_set_level(actr_log_level_t level)
{
	actr__log_level = (int)level;
}

actr_log_level_t actr_log_get_level(void)
{
	return (actr_log_level_t)actr__log_level;
}

void actr_log_set_sink(actr_log_sink_fn fn, void *arg)
{
	sink_fn = fn;
	sink_arg = arg;
}

static void stderr_sink(actr_log_level_t level, const char *subsys,
			const char *msg)
{
	static const char letters[] = "EWIDT";
	struct timespec ts;
	struct tm tm;
	char stamp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %c %s: %s\n", stamp, ts.tv_nsec / 1000000,
		letters[level < 5 ? level : 4], subsys ? subsys : "-", msg);
}

void actr_log_emit(actr_log_level_t level, const char *subsys,
		   const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (sink_fn)
		sink_fn(level, subsys, msg, sink_arg);
	else
		stderr_sink(level, subsys, msg);
}
