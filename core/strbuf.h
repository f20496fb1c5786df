/*
 * A small growable byte buffer for building text (JSON bodies): GLib's
 * string builder without its abort on out of memory. Growth goes
 * through actr__malloc (so tests can make it fail) and the first failure
 * is sticky: later appends do nothing and actr__strbuf_take() reports
 * it, so a caller appends without checking each call and checks once.
 * The text is always NUL-terminated once anything was appended. One
 * owner thread.
 */
#ifndef ACTR_CORE_STRBUF_H
#define ACTR_CORE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "core/internal.h"

struct actr__strbuf {
	char *p;	/* text (malloc'd), NULL until the first append */
	size_t len;	/* bytes, without the NUL */
	size_t cap;	/* bytes allocated at p */
	bool oom;	/* an allocation failed: the content is incomplete */
};

/** Make sb empty (no allocation). */
void actr__strbuf_init(struct actr__strbuf *sb);

/** Append n bytes. 0, or -ENOMEM (now and for every later append). */
int actr__strbuf_append(struct actr__strbuf *sb, const void *data, size_t n);

/** Append a NUL-terminated string. 0 or -ENOMEM. */
int actr__strbuf_puts(struct actr__strbuf *sb, const char *s);

/** Append printf-formatted text. 0 or -ENOMEM. */
int actr__strbuf_printf(struct actr__strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/** The text, handed to the caller (free() it), its length in *len; sb
 * is left empty. NULL when an append failed (sb is freed then), or an
 * allocated empty string when nothing was appended. */
char *actr__strbuf_take(struct actr__strbuf *sb, size_t *len);

/** Free the text and make sb empty. */
void actr__strbuf_free(struct actr__strbuf *sb);

#endif
