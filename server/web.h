/*
 * actr-signal for browsers: the CORS policy of the /ais/ endpoints and an
 * optional static folder (--www DIR) so a demo page needs no other server.
 * Sans-I/O except for reading the files: the listener (listen.c) passes
 * a request's method, path and headers in and writes the answer out.
 */
#ifndef ACTR_SERVER_WEB_H
#define ACTR_SERVER_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/signal_internal.h"

/** Counters (read by tests and /metrics). */
struct actr__sig_web_stats {
	uint64_t files_served;		/* 200 answers from the folder */
	uint64_t not_found;		/* 404: no such file (or a directory
					   without index.html) */
	uint64_t refused;		/* 403/400: traversal, dot files,
					   symlinks out of the folder, bad
					   escapes */
	uint64_t too_large;		/* files over the output cap */
	uint64_t cors_allowed;		/* cross-origin requests admitted */
	uint64_t cors_denied;		/* cross-origin requests refused */
	uint64_t preflights;		/* OPTIONS preflights answered 204 */
};

struct actr__sig_web;

/**
 * A policy for the listener. www_dir: the folder to serve, or NULL for
 * none (it must exist and be a directory). origins: n exact origins
 * ("http://host:port") admitted cross-origin on /ais/; none by default.
 * max_file: the largest file served (the connection's output cap).
 * Copies what it keeps. NULL on failure (logged): a missing folder, an
 * origin that is not scheme://host[:port] ("*" and "null" are refused).
 */
struct actr__sig_web *actr__sig_web_new(const char *www_dir,
					const char *const *origins, size_t n,
					size_t max_file);
void actr__sig_web_free(struct actr__sig_web *w);

/** True when a folder is served. */
bool actr__sig_web_has_www(const struct actr__sig_web *w);

/**
 * CORS for a request to /ais/ or the /signaling/ws upgrade. origin (the
 * Origin header), host (Host), acr_method (Access-Control-Request-Method)
 * and acr_headers (Access-Control-Request-Headers) may be NULL; tls: the
 * listener serves https. A request without Origin (programs) or from the
 * server's own origin (a page from --www) is not cross-origin. A
 * cross-origin request from an origin not configured is refused before
 * the core sees it, so a page elsewhere cannot make the server act even
 * where the browser would only hide the answer.
 * Writes "Name: value\r\n" lines to add to the answer into hdrs (cap
 * bytes, always terminated). Returns 0 when the request goes on with
 * those headers, or the status to answer at once: 204 for an OPTIONS
 * (an admitted preflight), 403 for a refused origin, method or header
 * (no Access-Control-Allow-Origin, so the browser reports a CORS error).
 */
int actr__sig_cors(struct actr__sig_web *w, const char *method,
		   const char *origin, const char *host, bool tls,
		   const char *acr_method, const char *acr_headers,
		   char *hdrs, size_t cap);

/**
 * Serve raw_path (the request path as sent, percent-encoded, no query)
 * from the folder. Fills rep (body malloc'd, caller frees; ctype static)
 * and extra header lines in hdrs. Returns the status: 200, 301 (a
 * directory without the trailing slash), 403, 404, 405 (not GET/HEAD),
 * 400, 500 (a file over max_file, a read error) or 503 (out of memory).
 */
int actr__sig_www_serve(struct actr__sig_web *w, const char *method,
			const char *raw_path, struct actr__sig_http_reply *rep,
			char *hdrs, size_t cap);

/** The Content-Type for a file name (by extension). */
const char *actr__sig_www_ctype(const char *name);

const struct actr__sig_web_stats *
actr__sig_web_stats(const struct actr__sig_web *w);

#endif
