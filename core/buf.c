/* Reference-counted immutable byte buffers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { BUF_INLINE = 0, BUF_WRAP = 1, BUF_SLICE = 2 };

actr_buf_t *actr_buf_new(size_t len)
{
	actr_buf_t *b;

	if (len > SIZE_MAX - sizeof(*b))
		return NULL;
	b = actr__malloc(sizeof(*b) + len);
	if (!b)
		return NULL;
	b->data = (uint8_t *)(b + 1);
	b->len = len;
	b->refs = 1;
	b->kind = BUF_INLINE;
	b->free_fn = NULL;
	b->free_arg = NULL;
	return b;
}

actr_buf_t *actr_buf_copy(const void *data, size_t len)
{
	actr_buf_t *b = actr_buf_new(len);

	if (b && len)
		memcpy(b->data, data, len);
	return b;
}

actr_buf_t *actr_buf_wrap(void *data, size_t len, actr_buf_free_fn free_fn,
			  void *arg)
{
	actr_buf_t *b = actr__malloc(sizeof(*b));

	if (!b)
		return NULL;
	b->data = data;
	b->len = len;
	b->refs = 1;
	b->kind = BUF_WRAP;
	b->free_fn = free_fn;
	b->free_arg = arg;
	return b;
}

actr_buf_t *actr_buf_slice(actr_buf_t *parent, size_t off, size_t len)
{
	actr_buf_t *b;

	if (off > parent->len || len > parent->len - off)
		return NULL;
	b = actr__malloc(sizeof(*b));
	if (!b)
		return NULL;
	b->data = parent->data + off;
	b->len = len;
	b->refs = 1;
	b->kind = BUF_SLICE;
	b->free_fn = NULL;
	b->free_arg = actr_buf_ref(parent);
	return b;
}

void actr_buf_unref(actr_buf_t *b)
{
	while (b && --b->refs == 0) {
		actr_buf_t *parent = NULL;

		if (b->kind == BUF_WRAP && b->free_fn)
			b->free_fn(b->data, b->free_arg);
		else if (b->kind == BUF_SLICE)
			parent = b->free_arg;
		free(b);
		b = parent; /* iterate instead of recursing */
	}
}
