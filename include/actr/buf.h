/*
 * Reference-counted immutable byte buffers: the zero-copy currency between
 * layers. A buffer is writable only by its creator until it is shared (first
 * actr_buf_ref or hand-off); after that nobody writes to it.
 *
 * Reference counts are not atomic: a buffer belongs to one reactor thread.
 * To hand a buffer to another thread, transfer your only reference.
 */
#ifndef ACTR_BUF_H
#define ACTR_BUF_H

#include <actr/api.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct actr_buf actr_buf_t;

/** Called when the last reference to a wrapped buffer goes away. */
typedef void (*actr_buf_free_fn)(void *data, void *arg);

/*
 * The public part is data and len: read them directly (b->data[0 ..
 * b->len)); write through data only while you hold the sole reference of
 * a buffer you created. refs, kind, free_fn and free_arg belong to the
 * library: use actr_buf_ref/actr_buf_unref, never touch them.
 */
struct actr_buf {
	uint8_t *data;		/* public: first byte of the payload */
	size_t len;		/* public: payload length */
	uint32_t refs;		/* private: reference count */
	uint32_t kind;		/* private: inline, wrapped or slice */
	actr_buf_free_fn free_fn; /* private: wrapped, releases data */
	void *free_arg;		/* private: free_fn's argument; slice: parent */
};

/** New buffer of len bytes (contents uninitialised) with one reference.
 * Returns NULL when out of memory. */
ACTR_API actr_buf_t *actr_buf_new(size_t len);

/** New buffer holding a copy of data[0..len). NULL when out of memory. */
ACTR_API actr_buf_t *actr_buf_copy(const void *data, size_t len);

/** Wrap memory owned elsewhere; free_fn(data, arg) runs when the last
 * reference goes (free_fn may be NULL for static memory). */
ACTR_API actr_buf_t *actr_buf_wrap(void *data, size_t len, actr_buf_free_fn free_fn,
			  void *arg);

/** A view of parent[off..off+len) sharing its memory; holds a reference to
 * the parent. NULL if the range is outside the parent or out of memory. */
ACTR_API actr_buf_t *actr_buf_slice(actr_buf_t *parent, size_t off, size_t len);

/** Take another reference; returns b. */
static inline actr_buf_t *actr_buf_ref(actr_buf_t *b)
{
	b->refs++;
	return b;
}

/** Drop a reference; frees on the last one. NULL is ignored. */
ACTR_API void actr_buf_unref(actr_buf_t *b);

#ifdef __cplusplus
}
#endif
#endif
