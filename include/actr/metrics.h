/*
 * The observability endpoint: an HTTP listener on the reactor (the
 * project's own server, <actr/net.h>) answering
 *
 *   GET /metrics   Prometheus text format 0.0.4: the counters of the
 *                  system, the peer gate (connections by state, signaling,
 *                  WebSocket lane, reassembly), the mailbox, the reactor
 *                  (iteration time and timer lag histograms, active
 *                  handles, faults), caller-side call latency by outcome,
 *                  and what extra collectors write (actr-signal's)
 *   GET /healthz   200 "ok": the reactor turned to answer it (the
 *                  endpoint runs on the reactor it watches)
 *   GET /readyz    200 "ready", or 503 and the reason: the peer gate is
 *                  registered with signaling, its mailbox (when it has a
 *                  mailbox_path) is open, every collector's ready() agrees
 *
 * Off unless the application creates it; bound to 127.0.0.1 unless told
 * otherwise. Costs nothing between scrapes but an increment per completed
 * call (a histogram bucket) and two clock reads per reactor iteration.
 *
 *   struct actr_metrics_config mc = { ACTR_OPTS(mc), .port = 9464 };
 *   actr_metrics_t *m = actr_metrics_new(r, &mc);
 *   actr_metrics_add_system(m, sys);
 *   actr_metrics_add_peer(m, peer);
 *   ...
 *   actr_metrics_free(m);          // before the peer and the system
 *
 * Everything on the reactor thread.
 */
#ifndef ACTR_METRICS_H
#define ACTR_METRICS_H

#include <actr/api.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <actr/peer.h>
#include <actr/reactor.h>
#include <actr/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct actr_metrics actr_metrics_t;
/** What a collector writes into (valid during the collector call). */
typedef struct actr_metrics_out actr_metrics_out_t;

struct actr_metrics_config {
	uint32_t struct_size;		/* sizeof this struct as the caller
					 * compiled it (0 = this header's) */
	const char *host;		/* IP literal to bind ["127.0.0.1"] */
	uint16_t port;			/* TCP port (0 = ephemeral) */
	const char *admin_token;	/* NULL (default): no admin endpoint.
					 * Else (copied; at least 16
					 * characters) POST /admin/dlq/redrive
					 * and /admin/dlq/purge, with query
					 * id=N|all (and category=C), act on
					 * the watched peer's mailbox for a
					 * request carrying "Authorization:
					 * Bearer <token>" (401 without one,
					 * 403 for another) */
};

/**
 * Parse "HOST:PORT", "PORT" or "[V6]:PORT" (the --metrics flag) into cfg
 * (host points into buf, of cap bytes). 0 or -EINVAL.
 */
ACTR_API int actr_metrics_parse_addr(const char *s,
				     struct actr_metrics_config *cfg,
				     char *buf, size_t cap);

/**
 * Start the endpoint on r (borrowed; must outlive it). NULL with errno:
 * EINVAL (also an admin_token under 16 characters), ENOTSUP (cfg from a
 * newer header), EADDRINUSE or another bind error, ENOMEM. Logs the
 * address it listens on, and whether the admin endpoint is on.
 */
ACTR_API actr_metrics_t *actr_metrics_new(actr_reactor_t *r,
					  const struct actr_metrics_config *cfg);

/**
 * Read an admin token from the file at path into buf (cap bytes): the
 * first line, trailing whitespace removed. 0, -errno (cannot read),
 * -EINVAL (empty), -ACTR_ETOOBIG (longer than cap - 1). Used for
 * [observability] admin_token_file and `actr dlq --token-file`.
 */
ACTR_API int actr_metrics_read_token(const char *path, char *buf,
				     size_t cap);

/** The bound port (useful with port 0). */
ACTR_API uint16_t actr_metrics_port(const actr_metrics_t *m);

/** Watch sys (borrowed; free m before it): its counters and its callers'
 * latency histogram (recorded from now on). One system per endpoint: 0,
 * -EINVAL, -EBUSY. */
ACTR_API int actr_metrics_add_system(actr_metrics_t *m, actr_system_t *sys);

/** Watch peer gate p (borrowed; free m before it): its counters and those
 * of its signaling client, mailbox and connections; /readyz follows its
 * registration. One peer per endpoint: 0, -EINVAL, -EBUSY. */
ACTR_API int actr_metrics_add_peer(actr_metrics_t *m, actr_peer_t *p);

/** Writes a collector's metrics (actr_metrics_family, actr_metrics_sample). */
typedef void (*actr_metrics_collect_fn)(actr_metrics_out_t *o, void *arg);
/** Ready or not: false with a one-line reason in why[0..n). */
typedef bool (*actr_metrics_ready_fn)(char *why, size_t n, void *arg);

/** Add a collector (either fn may be NULL); at most 8. 0, -EINVAL,
 * -ENOSPC. */
ACTR_API int actr_metrics_add_collector(actr_metrics_t *m,
					actr_metrics_collect_fn collect,
					actr_metrics_ready_fn ready,
					void *arg);

/** Start a metric family: # HELP and # TYPE lines. type is "counter",
 * "gauge" or "histogram"; name [a-zA-Z_:][a-zA-Z0-9_:]*. */
ACTR_API void actr_metrics_family(actr_metrics_out_t *o, const char *name,
				  const char *type, const char *help);

/** One sample line: name{labels} value. labels is the inside of the
 * braces (`outcome="ok"`) or NULL; label values must be escaped already. */
ACTR_API void actr_metrics_sample(actr_metrics_out_t *o, const char *name,
				  const char *labels, double value);

/** Stop listening (open scrapes are closed) and free. NULL ignored. */
ACTR_API void actr_metrics_free(actr_metrics_t *m);

#ifdef __cplusplus
}
#endif
#endif
