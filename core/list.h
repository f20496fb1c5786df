/*
 * The library's one intrusive doubly linked list (Linux list.h, libuv
 * QUEUE style): a circular list through a sentinel head, so insertion and
 * removal never test for NULL. A structure joins a list by embedding a
 * struct actr__list and is found again with actr__list_entry()
 * (container_of). Every operation is O(1) except the counting and
 * iteration macros. Nothing allocates.
 *
 * A node that is not on a list is either self-linked (actr__list_init,
 * or after actr__list_remove) or all zero (calloc'd): actr__list_linked()
 * tells both apart from a linked node, and removing a self-linked node is
 * a no-op. A head or a linked node must not be moved (memcpy) in memory.
 * One owner thread, like every container here.
 */
#ifndef ACTR_CORE_LIST_H
#define ACTR_CORE_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "core/internal.h"

/* struct actr__list { next, prev } is declared in <actr/reactor.h>
 * (through core/internal.h): public handles (actr_defer_t) embed it. */

/** Static initialiser of a head named `name`. */
#define ACTR__LIST_INIT(name) { &(name), &(name) }

/** The structure of type `type` whose member `member` is node `n`. */
#define actr__list_entry(n, type, member) ACTR_CONTAINER_OF(n, type, member)

/** Make h an empty list (or an unlinked node). */
static inline void actr__list_init(struct actr__list *h)
{
	h->next = h;
	h->prev = h;
}

/** True when the list at h has no node. */
static inline bool actr__list_empty(const struct actr__list *h)
{
	return h->next == h;
}

/** True when node n is on a list (false when self-linked or zeroed). */
static inline bool actr__list_linked(const struct actr__list *n)
{
	return n->next && n->next != n;
}

/* Put n between two adjacent nodes. */
static inline void actr__list_link(struct actr__list *n,
				   struct actr__list *prev,
				   struct actr__list *next)
{
	n->next = next;
	n->prev = prev;
	prev->next = n;
	next->prev = n;
}

/** Insert n first in h. */
static inline void actr__list_insert_head(struct actr__list *h,
					  struct actr__list *n)
{
	actr__list_link(n, h, h->next);
}

/** Insert n last in h. */
static inline void actr__list_insert_tail(struct actr__list *h,
					  struct actr__list *n)
{
	actr__list_link(n, h->prev, h);
}

/** Insert n just after node (or head) at. */
static inline void actr__list_insert_after(struct actr__list *at,
					   struct actr__list *n)
{
	actr__list_link(n, at, at->next);
}

/** Insert n just before node at (before the head = last). */
static inline void actr__list_insert_before(struct actr__list *at,
					    struct actr__list *n)
{
	actr__list_link(n, at->prev, at);
}

/** Unlink n from its list and leave it self-linked. n must be linked or
 * self-linked (a zeroed node is not removable: test actr__list_linked). */
static inline void actr__list_remove(struct actr__list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n;
	n->prev = n;
}

/** First node of h, or NULL when empty. */
static inline struct actr__list *actr__list_first(const struct actr__list *h)
{
	return h->next != h ? h->next : NULL;
}

/** Last node of h, or NULL when empty. */
static inline struct actr__list *actr__list_last(const struct actr__list *h)
{
	return h->prev != h ? h->prev : NULL;
}

/** Node after n in h, or NULL when n is the last. */
static inline struct actr__list *actr__list_next(const struct actr__list *h,
						 const struct actr__list *n)
{
	return n->next != h ? n->next : NULL;
}

/** Node before n in h, or NULL when n is the first. */
static inline struct actr__list *actr__list_prev(const struct actr__list *h,
						 const struct actr__list *n)
{
	return n->prev != h ? n->prev : NULL;
}

/** Remove and return the first node of h, or NULL when empty. */
static inline struct actr__list *actr__list_pop_head(struct actr__list *h)
{
	struct actr__list *n = actr__list_first(h);

	if (n)
		actr__list_remove(n);
	return n;
}

/** Move every node of src to the tail of dst, in order; src ends empty. */
static inline void actr__list_splice_tail(struct actr__list *dst,
					  struct actr__list *src)
{
	if (actr__list_empty(src))
		return;
	src->next->prev = dst->prev;
	dst->prev->next = src->next;
	src->prev->next = dst;
	dst->prev = src->prev;
	actr__list_init(src);
}

/** Number of nodes in h (O(n)). */
static inline size_t actr__list_count(const struct actr__list *h)
{
	size_t k = 0;

	for (const struct actr__list *n = h->next; n != h; n = n->next)
		k++;
	return k;
}

/** Walk the nodes of h front to back; the body must not remove pos. */
#define actr__list_foreach(pos, h) \
	for ((pos) = (h)->next; (pos) != (h); (pos) = (pos)->next)

/** Walk the nodes of h back to front; the body must not remove pos. */
#define actr__list_foreach_reverse(pos, h) \
	for ((pos) = (h)->prev; (pos) != (h); (pos) = (pos)->prev)

/** Walk front to back; the body may remove (or free) pos, but no other
 * node: tmp already holds the next one. */
#define actr__list_foreach_safe(pos, tmp, h)                        \
	for ((pos) = (h)->next, (tmp) = (pos)->next; (pos) != (h); \
	     (pos) = (tmp), (tmp) = (pos)->next)

#endif
