/* libFuzzer target: the metrics endpoint's request checks and its page.
 * The input is NUL-separated fields:
 *   method, path, query, authorization (field absent = no header),
 *   then route keys (any bytes but NUL, newlines and quotes included)
 * The first four go to the admin check (actr__metrics_admin_check, with
 * the token "fuzz-admin-token-0001"); the route keys become caller-side
 * route series of a system the endpoint watches, and the page is
 * rendered (actr__metrics_render).
 * Invariants: the check answers only its documented statuses, 200 only
 * for a POST of one of the two paths with exactly the token, with a
 * NUL-terminated category; every line of the page is a comment or a
 * sample `name[{label="value",...}] number` whose label values keep
 * their escapes (no raw quote, backslash or newline), however odd the
 * route keys. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <actr/actr.h>
#include <actr/log.h>
#include <actr/metrics.h>

#include "runtime/internal.h"
#include "runtime/metrics_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TOKEN "fuzz-admin-token-0001"
#define MAX_FIELDS 24
#define MAX_KEY 700

static actr_reactor_t *r;
static actr_system_t *sys;
static actr_metrics_t *m;

static void setup(void)
{
	struct actr_metrics_config mc = { ACTR_OPTS(mc),
					  .admin_token = TOKEN };

	actr_log_set_level(ACTR_LOG_ERROR);
	r = actr_reactor_new();
	sys = r ? actr_system_new(r, NULL) : NULL;
	m = sys ? actr_metrics_new(r, &mc) : NULL;
	if (!m || actr_metrics_add_system(m, sys) < 0)
		abort();
}

static bool is_name(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == ':';
}

/* One line of the exposition format, without its newline. */
static void check_line(const char *l, size_t n)
{
	size_t i = 0;
	char num[64];

	if (n && l[0] == '#')
		return;
	while (i < n && is_name(l[i]))
		i++;
	if (!i)
		abort();
	if (i < n && l[i] == '{') {
		i++;
		while (i < n && l[i] != '}') {
			size_t k = i;

			while (i < n && is_name(l[i]))
				i++;
			if (i == k || i + 1 >= n || l[i] != '=' ||
			    l[i + 1] != '"')
				abort();
			for (i += 2; i < n && l[i] != '"'; i++)
				if (l[i] == '\\') {
					if (i + 1 >= n ||
					    (l[i + 1] != '\\' &&
					     l[i + 1] != '"' && l[i + 1] != 'n'))
						abort();
					i++;
				}
			if (i >= n)
				abort();	/* unterminated value */
			i++;
			if (i < n && l[i] == ',')
				i++;
		}
		if (i >= n)
			abort();
		i++;
	}
	if (i >= n || l[i] != ' ' || n - i - 1 == 0 ||
	    n - i - 1 >= sizeof(num))
		abort();
	memcpy(num, l + i + 1, n - i - 1);
	num[n - i - 1] = 0;
	if (strcmp(num, "+Inf") && strcmp(num, "NaN")) {
		char *end;

		(void)strtod(num, &end);
		if (*end)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *f[MAX_FIELDS], *page;
	struct actr__admin_req rq;
	size_t nf = 0, len = 0;
	int st;

	if (!copy)
		return 0;
	if (!m)
		setup();
	memcpy(copy, data, size);
	copy[size] = 0;
	for (char *p = copy; nf < MAX_FIELDS && p <= copy + size;
	     p += strlen(p) + 1)
		f[nf++] = p;

	/* the admin checks */
	st = actr__metrics_admin_check(TOKEN, nf > 0 ? f[0] : "",
				       nf > 1 ? f[1] : "",
				       nf > 2 ? f[2] : "",
				       nf > 3 ? f[3] : NULL, &rq);
	if (st != 200 && st != 400 && st != 401 && st != 403 &&
	    st != 404 && st != 405)
		abort();
	if (st == 200 &&
	    (nf < 4 || strcmp(f[0], "POST") || strncmp(f[3], "Bearer ", 7) ||
	     strcmp(f[3] + 7, TOKEN) ||
	     (strcmp(f[1], "/admin/dlq/redrive") &&
	      strcmp(f[1], "/admin/dlq/purge")) ||
	     strlen(rq.category) >= sizeof(rq.category)))
		abort();
	if (actr__metrics_admin_check(NULL, "POST", "/admin/dlq/purge",
				      "id=all", "Bearer " TOKEN, &rq) != 404)
		abort();

	/* the page, with the rest as route keys */
	for (size_t i = 4; i < nf; i++)
		if (strlen(f[i]) < MAX_KEY && actr__call_route(sys, f[i]))
			actr__hist_observe(&actr__call_route(sys, f[i])->h[0],
					   (uint64_t)strlen(f[i]) * 1000);
	page = actr__metrics_render(m, &len);
	if (!page || strlen(page) != len || (len && page[len - 1] != '\n'))
		abort();
	for (char *l = page; *l;) {
		char *nl = strchr(l, '\n');

		check_line(l, (size_t)(nl - l));
		l = nl + 1;
	}
	free(page);
	actr__call_routes_free(sys);
	free(copy);
	return 0;
}
