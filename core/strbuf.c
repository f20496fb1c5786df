/* The growable text buffer (core/strbuf.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"

void actr__strbuf_init(struct actr__strbuf *sb)
{
	sb->p = NULL;
	sb->len = 0;
	sb->cap = 0;
	sb->oom = false;
}

void actr__strbuf_free(struct actr__strbuf *sb)
{
	free(sb->p);
	actr__strbuf_init(sb);
}

/* Room for n more bytes plus the NUL. 0 or -ENOMEM (sticky). */
static int reserve(struct actr__strbuf *sb, size_t n)
{
	size_t cap = sb->cap ? sb->cap : 64;
	char *p;

	if (sb->oom)
		return -ENOMEM;
	if (n < sb->cap - sb->len)	/* cap - len > n: the NUL fits too */
		return 0;
	if (n > SIZE_MAX / 2 - sb->len)
		goto fail;
	while (cap - sb->len <= n)
		cap *= 2;
	p = actr__malloc(cap);
	if (!p)
		goto fail;
	if (sb->len)
		memcpy(p, sb->p, sb->len);
	free(sb->p);
	sb->p = p;
	sb->cap = cap;
	return 0;
fail:
	sb->oom = true;
	return -ENOMEM;
}

int actr__strbuf_append(struct actr__strbuf *sb, const void *data, size_t n)
{
	if (reserve(sb, n) < 0)
		return -ENOMEM;
	memcpy(sb->p + sb->len, data, n);
	sb->len += n;
	sb->p[sb->len] = 0;
	return 0;
}

int actr__strbuf_puts(struct actr__strbuf *sb, const char *s)
{
	return actr__strbuf_append(sb, s, strlen(s));
}

int actr__strbuf_printf(struct actr__strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sb->oom)
		return -ENOMEM;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || reserve(sb, (size_t)n) < 0) {
		sb->oom = true;
		return -ENOMEM;
	}
	va_start(ap, fmt);
	vsnprintf(sb->p + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
	return 0;
}

char *actr__strbuf_take(struct actr__strbuf *sb, size_t *len)
{
	char *p;

	if (sb->oom) {
		actr__strbuf_free(sb);
		return NULL;
	}
	if (!sb->p && reserve(sb, 0) < 0) {
		actr__strbuf_free(sb);
		return NULL;
	}
	sb->p[sb->len] = 0;
	p = sb->p;
	if (len)
		*len = sb->len;
	actr__strbuf_init(sb);
	return p;
}
