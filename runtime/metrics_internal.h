/*
 * The metrics endpoint's pure parts (runtime/metrics.c), apart for the
 * fuzz target (test/fuzz/fuzz_metrics.c) and tests.
 */
#ifndef ACTR_RUNTIME_METRICS_INTERNAL_H
#define ACTR_RUNTIME_METRICS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <actr/metrics.h>

/* An admin request that passed the checks. */
struct actr__admin_req {
	bool redrive;			/* else purge */
	uint64_t id;			/* one entry, 0 = all */
	char category[128];		/* "" = any */
};

/**
 * Check an admin request: token the configured one (NULL = no admin
 * endpoint), method, path, query (without '?'), the Authorization
 * header (or NULL). Returns the HTTP status: 200 (go: out filled), 400
 * (bad query), 401 (no bearer token), 403 (another token), 404 (no such
 * path or no admin endpoint), 405 (not POST). Never reads past a NUL.
 */
int actr__metrics_admin_check(const char *token, const char *method,
			      const char *path, const char *query,
			      const char *auth, struct actr__admin_req *out);

/** The /metrics page now (malloc'd, NUL-terminated, *len bytes), or NULL
 * out of memory. Counts as a scrape. Reactor thread. */
char *actr__metrics_render(actr_metrics_t *m, size_t *len);

#endif
