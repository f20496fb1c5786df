/* Sans-I/O HTTP/1.1 codec: head parser, chunked decoder, URL and query
 * parsing (RFC 9110/9112 subset: what the upgrade handshake and small
 * POST/GET exchanges need, strict where leniency invites smuggling). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <actr/net.h>

#include "core/internal.h"
#include "http_internal.h"

/* tchar of RFC 9110 section 5.6.2 */
static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Field value octets: VCHAR, SP, HTAB, obs-text. */
static bool is_vchar_ext(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static ssize_t fail(struct actr__http_msg *m, int status, int rc)
{
	m->error_status = status;
	return rc;
}

/* Parse "HTTP/1.x" at p (8 bytes available). 0, or -1 malformed, -2 other
 * version. */
static int parse_version(const char *p, int *minor)
{
	if (memcmp(p, "HTTP/", 5) != 0 || p[5] < '0' || p[5] > '9' ||
	    p[6] != '.' || p[7] < '0' || p[7] > '9')
		return -1;
	if (p[5] != '1')
		return -2;
	*minor = p[7] - '0';
	return 0;
}

static bool token_eq(const char *a, size_t n, const char *tok)
{
	return strlen(tok) == n && strncasecmp(a, tok, n) == 0;
}

bool actr__http_has_token(const char *value, const char *token)
{
	const char *p = value;

	while (p && *p) {
		const char *s, *e;

		while (*p == ',' || is_ows(*p))
			p++;
		s = p;
		while (*p && *p != ',')
			p++;
		e = p;
		while (e > s && is_ows(e[-1]))
			e--;
		if (e > s && token_eq(s, (size_t)(e - s), token))
			return true;
	}
	return false;
}

void actr__http_rebase(struct actr__http_msg *m, uintptr_t old,
		       const char *now)
{
#define MOVE(p) ((p) = (p) ? now + ((uintptr_t)(p) - old) : NULL)
	if ((uintptr_t)now == old)
		return;
	MOVE(m->method);
	MOVE(m->target);
	for (unsigned i = 0; i < m->nhdr; i++) {
		MOVE(m->hdr[i].name);
		MOVE(m->hdr[i].value);
	}
#undef MOVE
}

const char *actr__http_header(const struct actr__http_msg *m,
			      const char *name)
{
	for (unsigned i = 0; i < m->nhdr; i++)
		if (strcasecmp(m->hdr[i].name, name) == 0)
			return m->hdr[i].value;
	return NULL;
}

/* Digits only, no sign, no overflow past INT64_MAX. */
static int parse_length(const char *v, int64_t *out)
{
	uint64_t n = 0;

	if (!*v)
		return -1;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return -1;
		if (n > (uint64_t)INT64_MAX / 10)
			return -2;
		n = n * 10 + (uint64_t)(*v - '0');
		if (n > (uint64_t)INT64_MAX)
			return -2;
	}
	*out = (int64_t)n;
	return 0;
}

static ssize_t parse_start_line(char *p, char *eol, bool request,
				struct actr__http_msg *m)
{
	char *sp;
	int v;

	if (request) {
		sp = p;
		while (sp < eol && is_tchar((unsigned char)*sp))
			sp++;
		if (sp == p || sp >= eol || *sp != ' ' || sp - p > 32)
			return fail(m, 400, -ACTR_EPROTO);
		*sp = '\0';
		m->method = p;
		p = sp + 1;
		sp = p;
		while (sp < eol && (unsigned char)*sp > 0x20 &&
		       (unsigned char)*sp < 0x7f)
			sp++;
		if (sp == p || sp >= eol || *sp != ' ')
			return fail(m, 400, -ACTR_EPROTO);
		*sp = '\0';
		m->target = p;
		if (p[0] != '/' && strcmp(p, "*") != 0)
			return fail(m, 400, -ACTR_EPROTO);
		p = sp + 1;
		if (eol - p != 8)
			return fail(m, 400, -ACTR_EPROTO);
		v = parse_version(p, &m->minor);
		if (v == -2)
			return fail(m, 505, -ACTR_EPROTO);
		if (v < 0)
			return fail(m, 400, -ACTR_EPROTO);
		return 0;
	}
	if (eol - p < 12)
		return fail(m, 400, -ACTR_EPROTO);
	if (parse_version(p, &m->minor) < 0 || p[8] != ' ')
		return fail(m, 400, -ACTR_EPROTO);
	for (int i = 9; i < 12; i++)
		if (p[i] < '0' || p[i] > '9')
			return fail(m, 400, -ACTR_EPROTO);
	m->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	if (m->status < 100 || (eol - p > 12 && p[12] != ' '))
		return fail(m, 400, -ACTR_EPROTO);
	for (char *q = p + 12; q < eol; q++)
		if (!is_vchar_ext((unsigned char)*q))
			return fail(m, 400, -ACTR_EPROTO);
	return 0;
}

/* Apply the semantics of the framing headers once all are parsed. */
static ssize_t apply_headers(bool request, const struct actr__http_limits *lim,
			     struct actr__http_msg *m)
{
	const char *conn = NULL, *upg = NULL;
	bool have_te = false, have_host = false;

	m->content_length = -1;
	for (unsigned i = 0; i < m->nhdr; i++) {
		const char *n = m->hdr[i].name, *v = m->hdr[i].value;

		if (strcasecmp(n, "content-length") == 0) {
			int64_t cl;
			int rc = parse_length(v, &cl);

			if (rc == -2)
				return fail(m, 413, -ACTR_ETOOBIG);
			if (rc < 0 || (m->content_length >= 0 &&
				       m->content_length != cl))
				return fail(m, 400, -ACTR_EPROTO);
			m->content_length = cl;
		} else if (strcasecmp(n, "transfer-encoding") == 0) {
			const char *last = strrchr(v, ',');

			last = last ? last + 1 : v;
			while (is_ows(*last))
				last++;
			if (have_te || strcasecmp(last, "chunked") != 0 ||
			    strchr(v, ','))
				return fail(m, 501, -ACTR_EPROTO);
			have_te = true;
			m->chunked = true;
		} else if (strcasecmp(n, "connection") == 0) {
			conn = v;
		} else if (strcasecmp(n, "upgrade") == 0) {
			upg = v;
		} else if (strcasecmp(n, "host") == 0) {
			if (have_host)
				return fail(m, 400, -ACTR_EPROTO);
			have_host = true;
		}
	}
	if (have_te && m->content_length >= 0)
		return fail(m, 400, -ACTR_EPROTO); /* smuggling vector */
	if (have_te && m->minor == 0)
		return fail(m, 400, -ACTR_EPROTO);
	if (request && m->minor >= 1 && !have_host)
		return fail(m, 400, -ACTR_EPROTO);
	if (m->content_length > 0 && (uint64_t)m->content_length > lim->max_body)
		return fail(m, 413, -ACTR_ETOOBIG);
	if (m->minor >= 1)
		m->keep_alive = !(conn && actr__http_has_token(conn, "close"));
	else
		m->keep_alive = conn && actr__http_has_token(conn, "keep-alive");
	m->upgrade_ws = conn && upg && actr__http_has_token(conn, "upgrade") &&
			actr__http_has_token(upg, "websocket");
	return 0;
}

ssize_t actr__http_parse(char *buf, size_t len, bool request,
			 const struct actr__http_limits *lim, size_t *scanned,
			 struct actr__http_msg *m)
{
	size_t from = *scanned > 3 ? *scanned - 3 : 0, skip = 0;
	unsigned max_hdr = ACTR_MIN(lim->max_headers, ACTR__HTTP_MAX_HEADERS);
	char *end = NULL, *p, *eol;
	ssize_t rc;

	memset(m, 0, offsetof(struct actr__http_msg, hdr));
	m->content_length = -1;
	/* Tolerate (RFC 9112 2.2) empty lines before a request; they count
	 * in head_len so the caller consumes them. */
	if (request)
		while (skip + 1 < len && buf[skip] == '\r' &&
		       buf[skip + 1] == '\n')
			skip += 2;
	/* Lines end with CRLF. A bare LF (RFC 9112 2.2 lets a recipient
	 * accept it) is refused at once: read as a line end here but not by
	 * a proxy in front, it would split heads differently (smuggling),
	 * and an LF-only client would otherwise wait for the deadline. */
	for (size_t i = ACTR_MAX(from, skip); i < len; i++) {
		if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r'))
			return fail(m, 400, -ACTR_EPROTO);
		if (i + 3 < len && buf[i] == '\r' && buf[i + 1] == '\n' &&
		    buf[i + 2] == '\r' && buf[i + 3] == '\n') {
			end = buf + i;
			break;
		}
	}
	if (!end) {
		*scanned = len;
		if (len > lim->max_head)
			return fail(m, 431, -ACTR_ETOOBIG);
		return -EAGAIN;
	}
	m->head_len = (size_t)(end - buf) + 4;
	if (m->head_len > lim->max_head)
		return fail(m, 431, -ACTR_ETOOBIG);
	*end = '\0'; /* first CR of the terminator: every line now ends */
	p = buf + skip;
	eol = strstr(p, "\r\n");
	if (!eol)
		eol = end;
	if (memchr(p, '\0', (size_t)(eol - p)))
		return fail(m, 400, -ACTR_EPROTO);
	rc = parse_start_line(p, eol, request, m);
	if (rc < 0)
		return rc;
	p = eol == end ? end : eol + 2;
	while (p < end) {
		char *colon, *v, *ve;

		eol = strstr(p, "\r\n");
		if (!eol)
			eol = end;
		if ((size_t)(eol - p) != strnlen(p, (size_t)(eol - p)))
			return fail(m, 400, -ACTR_EPROTO); /* NUL inside */
		if (m->nhdr >= max_hdr)
			return fail(m, 431, -ACTR_ETOOBIG);
		colon = p;
		while (colon < eol && is_tchar((unsigned char)*colon))
			colon++;
		if (colon == p || colon >= eol || *colon != ':')
			return fail(m, 400, -ACTR_EPROTO); /* incl. obs-fold */
		v = colon + 1;
		while (v < eol && is_ows(*v))
			v++;
		ve = eol;
		while (ve > v && is_ows(ve[-1]))
			ve--;
		for (char *q = v; q < ve; q++)
			if (!is_vchar_ext((unsigned char)*q))
				return fail(m, 400, -ACTR_EPROTO);
		*colon = '\0';
		*ve = '\0';
		m->hdr[m->nhdr].name = p;
		m->hdr[m->nhdr].value = v;
		m->nhdr++;
		p = eol == end ? end : eol + 2;
	}
	rc = apply_headers(request, lim, m);
	if (rc < 0)
		return rc;
	return (ssize_t)m->head_len;
}

/* ---- chunked ------------------------------------------------------------ */

enum {
	CH_SIZE = 0,	/* hex digits */
	CH_EXT,		/* chunk extension until CR */
	CH_SIZE_LF,	/* LF after the size line */
	CH_DATA,	/* chunk payload */
	CH_DATA_CR,	/* CR after payload */
	CH_DATA_LF,	/* LF after payload */
	CH_TRAILER,	/* trailer line (or the final empty line) */
	CH_TRAILER_LF,	/* LF ending a trailer line */
};

ssize_t actr__http_chunked_decode(struct actr__http_chunked *c, uint8_t *buf,
				  size_t len, size_t *out, size_t max_body)
{
	size_t i = 0, o = 0;

	while (i < len && !c->done) {
		uint8_t ch = buf[i];

		switch (c->state) {
		case CH_SIZE:
			if (actr__hexval(ch) >= 0) {
				if (++c->digits > 15)
					return -ACTR_ETOOBIG;
				c->remain = c->remain * 16 +
					    (uint64_t)actr__hexval(ch);
				i++;
				break;
			}
			if (c->digits == 0)
				return -ACTR_EPROTO;
			if (c->remain > max_body - ACTR_MIN(c->total, max_body))
				return -ACTR_ETOOBIG;
			if (ch == ';' || is_ows((char)ch))
				c->state = CH_EXT;
			else if (ch == '\r')
				c->state = CH_SIZE_LF;
			else
				return -ACTR_EPROTO;
			i++;
			break;
		case CH_EXT:
			if (ch == '\r')
				c->state = CH_SIZE_LF;
			else if (ch != '\t' && (ch < 0x20 || ch == 0x7f))
				return -ACTR_EPROTO;
			i++;
			break;
		case CH_SIZE_LF:
			if (ch != '\n')
				return -ACTR_EPROTO;
			i++;
			c->digits = 0;
			if (c->remain == 0) {
				c->state = CH_TRAILER;
				c->line = 0;
			} else {
				c->state = CH_DATA;
			}
			break;
		case CH_DATA: {
			size_t n = ACTR_MIN(len - i, c->remain);

			memmove(buf + o, buf + i, n);
			o += n;
			i += n;
			c->remain -= n;
			c->total += n;
			if (c->remain == 0)
				c->state = CH_DATA_CR;
			break;
		}
		case CH_DATA_CR:
			if (ch != '\r')
				return -ACTR_EPROTO;
			c->state = CH_DATA_LF;
			i++;
			break;
		case CH_DATA_LF:
			if (ch != '\n')
				return -ACTR_EPROTO;
			c->state = CH_SIZE;
			c->remain = 0;
			i++;
			break;
		case CH_TRAILER:
			if (ch == '\r') {
				c->state = CH_TRAILER_LF;
			} else {
				if (++c->line > 8192)
					return -ACTR_ETOOBIG;
				if (ch == '\n')
					return -ACTR_EPROTO;
			}
			i++;
			break;
		case CH_TRAILER_LF:
			if (ch != '\n')
				return -ACTR_EPROTO;
			i++;
			if (c->line == 0)
				c->done = true;
			c->line = 0;
			c->state = CH_TRAILER;
			break;
		default:
			return -ACTR_EPROTO;
		}
	}
	*out = o;
	return (ssize_t)i;
}

/* ---- URLs and queries --------------------------------------------------- */

int actr__url_parse(const char *url, struct actr__url *u)
{
	const char *p, *hs, *he, *slash;
	unsigned long port = 0;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(url, "http://", 7) == 0) {
		p = url + 7;
	} else if (strncasecmp(url, "https://", 8) == 0) {
		p = url + 8;
		u->tls = true;
	} else if (strncasecmp(url, "ws://", 5) == 0) {
		p = url + 5;
		u->ws = true;
	} else if (strncasecmp(url, "wss://", 6) == 0) {
		p = url + 6;
		u->ws = u->tls = true;
	} else {
		return -EINVAL;
	}
	slash = p + strcspn(p, "/?#");
	if (*p == '[') {
		hs = p + 1;
		he = memchr(hs, ']', (size_t)(slash - hs));
		if (!he)
			return -EINVAL;
		p = he + 1;
	} else {
		hs = p;
		he = memchr(hs, ':', (size_t)(slash - hs));
		if (!he)
			he = slash;
		p = he;
	}
	if (he == hs || memchr(hs, '@', (size_t)(he - hs)))
		return -EINVAL;
	if ((size_t)(he - hs) >= sizeof(u->host))
		return -EINVAL;
	memcpy(u->host, hs, (size_t)(he - hs));
	if (p < slash) {
		char *e;

		if (*p != ':' || p + 1 == slash)
			return -EINVAL;
		port = strtoul(p + 1, &e, 10);
		if (e != slash || port == 0 || port > 65535)
			return -EINVAL;
	}
	u->port = port ? (uint16_t)port : (u->tls ? 443 : 80);
	if (*slash == '#' || !*slash) {
		strcpy(u->target, "/");
	} else {
		size_t sl = strlen(slash), o = 0;

		if (sl + 2 > sizeof(u->target))
			return -EINVAL;
		if (*slash == '?')
			u->target[o++] = '/';
		memcpy(u->target + o, slash, sl + 1);
	}
	u->target[strcspn(u->target, "#")] = '\0';
	for (char *q = u->target; *q; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
			return -EINVAL;
	if (strchr(u->host, ':'))
		snprintf(u->hostport, sizeof(u->hostport), "[%s]:%u", u->host,
			 u->port);
	else
		snprintf(u->hostport, sizeof(u->hostport), "%s:%u", u->host,
			 u->port);
	return 0;
}

ssize_t actr__pct_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -ACTR_EPROTO;
			hi = actr__hexval((uint8_t)s[i + 1]);
			lo = actr__hexval((uint8_t)s[i + 2]);
			if (hi < 0 || lo < 0)
				return -ACTR_EPROTO;
			c = (char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (out) {
			if (o + 1 >= cap)
				return -ENOSPC;
			out[o] = c;
		}
		o++;
	}
	if (out)
		out[o] = '\0';
	return (ssize_t)o;
}

ssize_t actr_http_query_get(const char *query, const char *name, char *out,
			    size_t cap)
{
	const char *p = query;
	char key[256];

	if (!query || !name || !out || cap == 0)
		return -EINVAL;
	if (*p == '?')
		p++;
	while (*p) {
		size_t plen = strcspn(p, "&;");
		const char *eq = memchr(p, '=', plen);
		size_t klen = eq ? (size_t)(eq - p) : plen;
		ssize_t k = actr__pct_decode(p, klen, key, sizeof(key));

		if (k >= 0 && strcmp(key, name) == 0) {
			if (!eq)
				return actr__pct_decode("", 0, out, cap);
			return actr__pct_decode(eq + 1, plen - klen - 1, out, cap);
		}
		p += plen;
		if (*p)
			p++;
	}
	return -ACTR_ENOTFOUND;
}

ssize_t actr__http_response_head(char *buf, size_t cap, int status,
				 const char *ctype, const char *extra,
				 size_t body_len, bool keep_alive)
{
	int n = snprintf(buf, cap,
			 "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n%s%s%s%s%s\r\n",
			 status, actr__http_reason(status), body_len,
			 ctype ? "Content-Type: " : "", ctype ? ctype : "",
			 ctype ? "\r\n" : "",
			 keep_alive ? "" : "Connection: close\r\n",
			 extra ? extra : "");

	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= cap)
		return cap == 0 ? n : -ENOSPC;
	return n;
}

bool actr__http_headers_valid(const char *extra)
{
	const char *p = extra;

	if (!p)
		return true;
	while (*p) {
		const char *s = p;

		while (is_tchar((unsigned char)*p))
			p++;
		if (p == s || *p != ':')
			return false;
		for (p++; *p && *p != '\r' && *p != '\n'; p++)
			if (!is_vchar_ext((unsigned char)*p))
				return false;
		if (p[0] != '\r' || p[1] != '\n')
			return false;
		p += 2;
	}
	return true;
}

const char *actr__http_reason(int status)
{
	switch (status) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}
