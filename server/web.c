/*
 * actr-signal for browsers: CORS for /ais/ and /signaling/ws, and a
 * static folder. Nothing is open by default: no origin is admitted
 * cross-origin unless configured, and no folder is served without --www.
 *
 * The folder is confined three ways: the decoded path may not hold "."
 * or ".." segments or dot files; files are opened relative to a
 * directory fd; and what was opened is checked (through /proc/self/fd)
 * to lie beneath the folder, which also refuses symlinks that lead out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <actr/error.h>
#include <actr/log.h>

#include "server/web.h"

#define TAG "signal"

#define MAX_ORIGIN 256
#define CORS_MAX_AGE "600"
#define CORS_METHODS "GET, POST"
#define CORS_HEADERS "content-type, x-actrix-realm-secret"
/* COOP/COEP make the page cross-origin isolated: performance.now() then
 * ticks in 5 us instead of 100 us (the demo's latency histogram); the
 * page may still fetch other origins in CORS mode (actr-signal's /ais/). */
#define FILE_HEADERS "X-Content-Type-Options: nosniff\r\n" \
		     "Cache-Control: no-cache\r\n" \
		     "Cross-Origin-Opener-Policy: same-origin\r\n" \
		     "Cross-Origin-Embedder-Policy: require-corp\r\n"

struct actr__sig_web {
	char *root;			/* realpath of the folder, or NULL */
	size_t root_len;		/* strlen(root) */
	int root_fd;			/* O_PATH|O_DIRECTORY fd, or -1 */
	char **origins;			/* admitted origins (owned) */
	size_t n_origins;		/* in origins */
	size_t max_file;		/* largest file served */
	struct actr__sig_web_stats st;	/* counters */
};

/* "scheme://host[:port]" with scheme http or https, no path, no space. */
static bool origin_valid(const char *o)
{
	const char *h;

	if (strlen(o) >= MAX_ORIGIN)
		return false;
	if (!strncmp(o, "http://", 7))
		h = o + 7;
	else if (!strncmp(o, "https://", 8))
		h = o + 8;
	else
		return false;
	if (!*h)
		return false;
	for (; *h; h++)
		if ((unsigned char)*h <= 0x20 || (unsigned char)*h >= 0x7f ||
		    *h == '/' || *h == '?' || *h == '#' || *h == '@')
			return false;
	return true;
}

struct actr__sig_web *actr__sig_web_new(const char *www_dir,
					const char *const *origins, size_t n,
					size_t max_file)
{
	struct actr__sig_web *w = calloc(1, sizeof(*w));

	if (!w)
		goto oom;
	w->root_fd = -1;
	w->max_file = max_file;
	if (n) {
		w->origins = calloc(n, sizeof(*w->origins));
		if (!w->origins)
			goto oom;
	}
	for (size_t i = 0; i < n; i++) {
		if (!origin_valid(origins[i])) {
			actr_loge(TAG, "CORS origin '%s' is not "
				  "http(s)://host[:port] (no '*', no path)",
				  origins[i]);
			goto fail;
		}
		w->origins[i] = strdup(origins[i]);
		if (!w->origins[i])
			goto oom;
		w->n_origins++;
	}
	if (www_dir) {
		w->root = realpath(www_dir, NULL);
		if (!w->root) {
			actr_loge(TAG, "--www %s: %s", www_dir, strerror(errno));
			goto fail;
		}
		w->root_len = strlen(w->root);
		w->root_fd = open(w->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (w->root_fd < 0) {
			actr_loge(TAG, "--www %s: %s", www_dir, strerror(errno));
			goto fail;
		}
	}
	return w;
oom:
	actr_loge(TAG, "out of memory");
fail:
	actr__sig_web_free(w);
	return NULL;
}

void actr__sig_web_free(struct actr__sig_web *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n_origins; i++)
		free(w->origins[i]);
	free(w->origins);
	if (w->root_fd >= 0)
		close(w->root_fd);
	free(w->root);
	free(w);
}

bool actr__sig_web_has_www(const struct actr__sig_web *w)
{
	return w && w->root;
}

const struct actr__sig_web_stats *
actr__sig_web_stats(const struct actr__sig_web *w)
{
	return &w->st;
}

/* ---- CORS ----------------------------------------------------------------- */

static bool origin_admitted(const struct actr__sig_web *w, const char *o)
{
	for (size_t i = 0; i < w->n_origins; i++)
		if (!strcasecmp(w->origins[i], o))
			return true;
	return false;
}

/* The page's origin is the server's own: scheme by tls, host:port as in
 * the Host header (both omit a default port the same way). */
static bool same_origin(const char *o, const char *host, bool tls)
{
	const char *scheme = tls ? "https://" : "http://";
	size_t sl = strlen(scheme);

	return host && *host && !strncasecmp(o, scheme, sl) &&
	       !strcasecmp(o + sl, host);
}

/* Every comma-separated name of list is one the preflight allows. */
static bool headers_allowed(const char *list)
{
	static const char *const ok[] = { "content-type",
					  "x-actrix-realm-secret" };
	const char *p = list;

	while (p && *p) {
		const char *e;
		size_t len;
		bool found = false;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		e = p;
		while (*e && *e != ',' && *e != ' ' && *e != '\t')
			e++;
		len = (size_t)(e - p);
		for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
			if (strlen(ok[i]) == len && !strncasecmp(ok[i], p, len))
				found = true;
		if (!found)
			return false;
		p = e;
	}
	return true;
}

int actr__sig_cors(struct actr__sig_web *w, const char *method,
		   const char *origin, const char *host, bool tls,
		   const char *acr_method, const char *acr_headers,
		   char *hdrs, size_t cap)
{
	bool options = !strcmp(method, "OPTIONS");

	hdrs[0] = '\0';
	if (!origin || same_origin(origin, host, tls)) {
		if (!options)
			return 0;
		snprintf(hdrs, cap, "Allow: GET, POST, OPTIONS\r\n");
		return 204;
	}
	if (!w || !origin_admitted(w, origin)) {
		if (w)
			w->st.cors_denied++;
		actr_logw(TAG, "%s from origin %.80s refused (not a configured "
			  "--cors-origin)", method, origin);
		snprintf(hdrs, cap, "Vary: Origin\r\n");
		return 403;
	}
	if (!options) {
		w->st.cors_allowed++;
		snprintf(hdrs, cap, "Access-Control-Allow-Origin: %s\r\n"
			 "Vary: Origin\r\n", origin);
		return 0;
	}
	if (!acr_method || (strcmp(acr_method, "GET") &&
			    strcmp(acr_method, "POST") &&
			    strcmp(acr_method, "HEAD")) ||
	    !headers_allowed(acr_headers)) {
		w->st.cors_denied++;
		actr_logw(TAG, "preflight from %.80s refused: method %.16s, "
			  "headers %.80s", origin,
			  acr_method ? acr_method : "(none)",
			  acr_headers ? acr_headers : "(none)");
		snprintf(hdrs, cap, "Vary: Origin\r\n");
		return 403;
	}
	w->st.cors_allowed++;
	w->st.preflights++;
	snprintf(hdrs, cap, "Access-Control-Allow-Origin: %s\r\n"
		 "Access-Control-Allow-Methods: " CORS_METHODS "\r\n"
		 "Access-Control-Allow-Headers: " CORS_HEADERS "\r\n"
		 "Access-Control-Max-Age: " CORS_MAX_AGE "\r\n"
		 "Vary: Origin\r\n", origin);
	return 204;
}

/* ---- static folder -------------------------------------------------------- */

const char *actr__sig_www_ctype(const char *name)
{
	static const struct {
		const char *ext;
		const char *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".htm", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".map", "application/json" },
		{ ".png", "image/png" },
		{ ".svg", "image/svg+xml" },
		{ ".wasm", "application/wasm" },
		{ ".ico", "image/x-icon" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ ".proto", "text/plain; charset=utf-8" },
	};
	const char *slash = strrchr(name, '/');
	const char *dot = strrchr(slash ? slash : name, '.');

	if (dot)
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (!strcasecmp(dot, types[i].ext))
				return types[i].type;
	return "application/octet-stream";
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode raw (percent-encoded, starting with '/') into the relative path
 * rel (cap bytes): empty segments dropped, "." and ".." and dot files
 * refused (-ACTR_EPERM), a bad escape or NUL (-ACTR_EPROTO), too long
 * -ACTR_ETOOBIG. *dir: the path names a directory (ends with '/').
 */
static int decode_path(const char *raw, char *rel, size_t cap, bool *dir)
{
	char dec[PATH_MAX];
	size_t n = 0, o = 0;
	char *seg, *save = NULL;

	for (const char *p = raw; *p; p++) {
		int c = (unsigned char)*p;

		if (c == '%') {
			int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);

			if (hi < 0 || lo < 0)
				return -ACTR_EPROTO;
			c = hi * 16 + lo;
			p += 2;
			if (c == 0)
				return -ACTR_EPROTO;
		}
		if (n + 1 >= sizeof(dec))
			return -ACTR_ETOOBIG;
		dec[n++] = (char)c;
	}
	dec[n] = '\0';
	*dir = n == 0 || dec[n - 1] == '/';
	rel[0] = '\0';
	for (seg = strtok_r(dec, "/", &save); seg;
	     seg = strtok_r(NULL, "/", &save)) {
		size_t sl = strlen(seg);

		/* covers ".", ".." and hidden files such as .git */
		if (seg[0] == '.' || strchr(seg, '\\'))
			return -ACTR_EPERM;
		if (o + sl + 2 >= cap)
			return -ACTR_ETOOBIG;
		if (o)
			rel[o++] = '/';
		memcpy(rel + o, seg, sl + 1);
		o += sl;
	}
	return 0;
}

/* fd refers to something beneath the folder (its resolved path). */
static bool beneath(const struct actr__sig_web *w, int fd)
{
	char link[64], real[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, real, sizeof(real) - 1);
	if (n < 0)
		return false;
	real[n] = '\0';
	if ((size_t)n == w->root_len && !memcmp(real, w->root, w->root_len))
		return true;
	return (size_t)n > w->root_len && real[w->root_len] == '/' &&
	       !memcmp(real, w->root, w->root_len);
}

static int refuse(struct actr__sig_web *w, struct actr__sig_http_reply *rep,
		  int status, const char *raw, const char *why)
{
	w->st.refused++;
	actr_logw(TAG, "www: %.120s refused (%s)", raw, why);
	rep->status = status;
	return status;
}

/* Read the whole regular file fd into rep->body. */
static int read_file(struct actr__sig_web *w, int fd, const struct stat *st,
		     struct actr__sig_http_reply *rep, const char *raw)
{
	size_t size = (size_t)st->st_size, got = 0;
	uint8_t *buf;

	if ((uint64_t)st->st_size > w->max_file) {
		w->st.too_large++;
		actr_logw(TAG, "www: %.120s is %lld bytes, over the %zu-byte "
			  "output cap", raw, (long long)st->st_size,
			  w->max_file);
		return 500;
	}
	buf = malloc(size ? size : 1);
	if (!buf)
		return 503;
	while (got < size) {
		ssize_t r = pread(fd, buf + got, size - got, (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* a file shrinking under us: send what is there */
		got += (size_t)r;
	}
	rep->body = buf;
	rep->len = got;
	w->st.files_served++;
	return 200;
}

int actr__sig_www_serve(struct actr__sig_web *w, const char *method,
			const char *raw_path, struct actr__sig_http_reply *rep,
			char *hdrs, size_t cap)
{
	char rel[PATH_MAX];
	const char *name;
	struct stat st;
	bool dir;
	int fd = -1, rc;

	memset(rep, 0, sizeof(*rep));
	rep->ctype = "text/plain; charset=utf-8";
	hdrs[0] = '\0';
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		snprintf(hdrs, cap, "Allow: GET, HEAD\r\n");
		return rep->status = 405;
	}
	rc = decode_path(raw_path, rel, sizeof(rel), &dir);
	if (rc == -ACTR_EPERM)
		return refuse(w, rep, 403, raw_path, "dot segment");
	if (rc < 0)
		return refuse(w, rep, 400, raw_path, "bad path");
	fd = openat(w->root_fd, rel[0] ? rel : ".",
		    O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		goto not_found;
	if (!beneath(w, fd)) {
		close(fd);
		return refuse(w, rep, 403, raw_path, "outside the folder");
	}
	if (fstat(fd, &st) < 0)
		goto not_found;
	name = rel;
	if (S_ISDIR(st.st_mode)) {
		int ifd;

		if (!dir) {
			/* relative links in the page need the slash */
			close(fd);
			/* one leading slash: "//host" would leave the site */
			while (raw_path[0] == '/' && raw_path[1] == '/')
				raw_path++;
			snprintf(hdrs, cap, "Location: %s/\r\n", raw_path);
			return rep->status = 301;
		}
		ifd = openat(fd, "index.html",
			     O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		close(fd);
		fd = ifd;
		if (fd < 0)
			goto not_found; /* never a listing */
		if (!beneath(w, fd)) {
			close(fd);
			return refuse(w, rep, 403, raw_path,
				      "index.html outside the folder");
		}
		if (fstat(fd, &st) < 0)
			goto not_found;
		name = "index.html";
	}
	if (!S_ISREG(st.st_mode))
		goto not_found;
	rc = read_file(w, fd, &st, rep, raw_path);
	close(fd);
	if (rc == 200) {
		rep->ctype = actr__sig_www_ctype(name);
		snprintf(hdrs, cap, FILE_HEADERS);
	}
	return rep->status = rc;
not_found:
	if (fd >= 0)
		close(fd);
	w->st.not_found++;
	return rep->status = 404;
}
