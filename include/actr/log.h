/*
 * Logging with levels and a pluggable sink.
 *
 * The default sink writes one line per message to stderr:
 *   "2026-11-21T10:00:00.123Z W ws: frame too large (70000 > 65536)"
 * The level filter is checked before any formatting, so a disabled log call
 * costs one compare. Level and sink are process-global; set them before
 * starting reactor threads. The sink may be called from any thread that logs.
 *
 * Repeated lines are limited per call site (format string and tag): at
 * most `burst` lines of one call site per window (default 10 per 5 s);
 * further ones are counted, not formatted, and summarised in one line
 * "... repeated N times: <format>" at the same level and tag, emitted
 * before the next line that passes, when that call site logs after its
 * window ended, or by actr_log_flush_repeats() (also run at exit with the
 * stderr sink). So a flood from a peer costs at most burst + 1 lines per
 * call site and window.
 */
#ifndef ACTR_LOG_H
#define ACTR_LOG_H

#include <actr/api.h>

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum actr_log_level {
	ACTR_LOG_ERROR = 0,
	ACTR_LOG_WARN = 1,
	ACTR_LOG_INFO = 2,
	ACTR_LOG_DEBUG = 3,
	ACTR_LOG_TRACE = 4,
} actr_log_level_t;

/** A sink receives the level, the subsystem tag and the formatted text. */
typedef void (*actr_log_sink_fn)(actr_log_level_t level, const char *subsys,
				 const char *msg, void *arg);

/* The level test of the macros below: inside the library (and its
 * tests, built with ACTR_INTERNAL) one compare with a hidden variable;
 * applications ask actr_log_get_level(). */
#ifdef ACTR_INTERNAL
extern int actr__log_level;
#define ACTR__LOG_ENABLED(level) ((int)(level) <= actr__log_level)
#else
#define ACTR__LOG_ENABLED(level) ((int)(level) <= (int)actr_log_get_level())
#endif

/** Set the most verbose level that is emitted (default ACTR_LOG_INFO, or
 * the ACTR_LOG environment variable: error|warn|info|debug|trace). */
ACTR_API void actr_log_set_level(actr_log_level_t level);
ACTR_API actr_log_level_t actr_log_get_level(void);

/** Parse a level name (error|warn|info|debug|trace, any case) into *out
 * (may be NULL): 0, or -EINVAL for anything else (a --log flag's value).
 * An ACTR_LOG that is not a level is reported on stderr at start. */
ACTR_API int actr_log_parse_level(const char *name, actr_log_level_t *out);

/** Line formats of the stderr sink. json and logfmt lines carry time,
 * level, component (the subsystem tag) and msg, and while a message is
 * handled request_id, route, peer (the caller's ActrId) and trace_id
 * where known:
 *   {"time":"2026-12-05T10:00:00.123Z","level":"info","component":"app",
 *    "msg":"...","request_id":"...","route":"echo.EchoService.Echo",
 *    "peer":"1cdd...@101/acme:client:1.0.0","trace_id":"4bf9..."}
 *   time=2026-12-05T10:00:00.123Z level=info component=app msg="..." ...
 * text is the line above ("... W ws: frame too large"). */
typedef enum actr_log_format {
	ACTR_LOG_FORMAT_TEXT = 0,
	ACTR_LOG_FORMAT_JSON = 1,
	ACTR_LOG_FORMAT_LOGFMT = 2,
} actr_log_format_t;

/** Set the stderr sink's format (default text, or the ACTR_LOG_FORMAT
 * environment variable: json|logfmt|text). */
ACTR_API void actr_log_set_format(actr_log_format_t f);

/** Parse json|logfmt|text (any case): 0 or -EINVAL. */
ACTR_API int actr_log_parse_format(const char *name, actr_log_format_t *out);

/** Replace the sink; NULL restores the stderr sink. */
ACTR_API void actr_log_set_sink(actr_log_sink_fn fn, void *arg);

/** Limit repeats to burst lines per call site per window_ms (0 = the
 * default 5000); burst 0 turns the limiter off. Any thread. */
ACTR_API void actr_log_set_repeat_limit(unsigned burst, unsigned window_ms);

/** Emit the summaries of lines suppressed so far now (before a sink is
 * replaced, at exit). Any thread. */
ACTR_API void actr_log_flush_repeats(void);

/** Lines suppressed by the repeat limiter since the start (a counter for
 * tests and stats). Any thread. */
ACTR_API unsigned long long actr_log_suppressed(void);

/** Format and emit a message (use the macros instead). */
ACTR_API void actr_log_emit(actr_log_level_t level, const char *subsys,
		   const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define actr_log(level, subsys, ...)                                    \
	do {                                                            \
		if (ACTR__LOG_ENABLED(level))                           \
			actr_log_emit((level), (subsys), __VA_ARGS__);  \
	} while (0)

#define actr_loge(subsys, ...) actr_log(ACTR_LOG_ERROR, subsys, __VA_ARGS__)
#define actr_logw(subsys, ...) actr_log(ACTR_LOG_WARN, subsys, __VA_ARGS__)
#define actr_logi(subsys, ...) actr_log(ACTR_LOG_INFO, subsys, __VA_ARGS__)
#define actr_logd(subsys, ...) actr_log(ACTR_LOG_DEBUG, subsys, __VA_ARGS__)
#define actr_logt(subsys, ...) actr_log(ACTR_LOG_TRACE, subsys, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
