/*
 * The library's one hash map: intrusive and chained. An entry embeds a
 * struct actr__map_node and is found again with actr__map_entry()
 * (container_of); the map owns only its bucket array, so an insertion
 * never allocates and never fails. Keys are either
 *   - u64 (ids, counters): the node's hash is the key itself, spread over
 *     the buckets by a multiplicative (Fibonacci) step; or
 *   - bytes (key, len): the node points at the key, which the entry
 *     itself holds (a string or a packed struct without padding), and
 *     carries its 64-bit hash (actr__map_hash(), seeded per process, so
 *     peer-chosen keys cannot be aimed at one bucket); equality is
 *     length plus memcmp.
 * A map holds one kind of key; callers with another equality can walk
 * the candidates of a hash they computed (actr__map_foreach_hash).
 *
 * Complexity: find, insert and remove are O(1) on average (load factor
 * at most 1 after a successful growth; remove walks one bucket chain).
 * The table doubles when an insertion takes the entries above the bucket
 * count and shrinks (to about 2 buckets per entry, at least 8) when an
 * insertion finds it 8 times larger than needed; a resize is O(n) and
 * amortised O(1). Removal never resizes, so iteration is safe against
 * removing (and freeing) the entry just returned. Resizing goes through
 * actr__malloc: when it fails the old table stays (chains just get
 * longer, everything keeps working), so out of memory never loses or
 * refuses an entry. An empty map uses one bucket inside the struct and
 * allocates nothing; a map must therefore not be moved (memcpy) after
 * actr__map_init(). Iteration order is unspecified. An insertion while
 * iterating may or may not be visited, and if it resized the table the
 * iteration ends early (never touching freed memory); code that must see
 * every entry does not insert meanwhile. One owner thread.
 */
#ifndef ACTR_CORE_MAP_H
#define ACTR_CORE_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/internal.h"

struct actr__map_node {
	struct actr__map_node *next;	/* bucket chain */
	uint64_t hash;			/* u64 key, or hash of the byte key */
	const void *key;		/* byte key (held by the entry) */
	size_t klen;			/* byte key length */
};

struct actr__map {
	struct actr__map_node **b;	/* buckets (&one while not grown) */
	struct actr__map_node *one;	/* the bucket of an ungrown map */
	size_t mask;			/* bucket count - 1 (power of two) */
	size_t n;			/* entries */
	size_t lo;			/* resize below lo entries ... */
	size_t span;			/* ... or above lo + span */
	uint64_t seed;			/* byte-key hash seed */
};

/** Iteration state (see actr__map_foreach). */
struct actr__map_iter {
	struct actr__map *m;		/* map walked */
	struct actr__map_node **b;	/* its buckets when the walk began */
	size_t i;			/* bucket of next */
	struct actr__map_node *next;	/* next entry to return, or NULL */
};

/** The structure of type `type` whose member `member` is node `n`. */
#define actr__map_entry(n, type, member) ACTR_CONTAINER_OF(n, type, member)

/** Make m an empty map (no allocation). */
void actr__map_init(struct actr__map *m);

/** Release the bucket array. Entries still in the map are the caller's
 * (free them first, e.g. with actr__map_foreach + actr__map_remove). */
void actr__map_fini(struct actr__map *m);

/** Number of entries. */
static inline size_t actr__map_size(const struct actr__map *m)
{
	return m->n;
}

/* Out of line: resize to fit the entry count (called by insert when the
 * load is above 1 or below 1/8). */
void actr__map_resize(struct actr__map *m);

/* Bucket of hash h: Fibonacci hashing, so sequential ids spread too. */
static inline size_t actr__map_slot(const struct actr__map *m, uint64_t h)
{
	return (size_t)((h * 0x9e3779b97f4a7c15ull) >> 32) & m->mask;
}

/* Link n (its hash set) into its bucket; resize when out of bounds. */
static inline void actr__map_link(struct actr__map *m,
				  struct actr__map_node *n)
{
	struct actr__map_node **b = &m->b[actr__map_slot(m, n->hash)];

	n->next = *b;
	*b = n;
	if (ACTR_UNLIKELY(++m->n - m->lo > m->span)) /* one compare */
		actr__map_resize(m);
}

/** Hash of the byte key [key, key+len) for map m: a word-at-a-time
 * multiplicative hash (a 16-40 byte key costs 2-5 multiplies) with the
 * map's seed. */
static inline uint64_t actr__map_hash(const struct actr__map *m,
				      const void *key, size_t len)
{
	const unsigned char *s = key, *end = s + len;
	uint64_t h = len ^ m->seed, w;

	if (len >= 8) {
		/* whole words, then the last 8 bytes (overlapping) if any */
		for (size_t k = len >> 3; k; k--, s += 8) {
			memcpy(&w, s, 8);
			h = (h + w) * 0x9e3779b97f4a7c15ull;
		}
		if (len & 7) {
			memcpy(&w, end - 8, 8);
			h = (h + w) * 0x9e3779b97f4a7c15ull;
		}
	} else {
		for (; s < end; s++)
			h = (h + *s) * 0x9e3779b97f4a7c15ull;
	}
	return h ^ (h >> 29);
}

/** Byte equality a word at a time (keys are mostly 16-40 bytes). */
static inline bool actr__map_key_eq(const void *x, const void *y, size_t n)
{
	const unsigned char *a = x, *b = y;
	uint64_t u, v;

	if (n < 8)
		return memcmp(a, b, n) == 0;
	for (size_t i = n >> 3; i; i--, a += 8, b += 8) {
		memcpy(&u, a, 8);
		memcpy(&v, b, 8);
		if (u != v)
			return false;
	}
	if (!(n & 7))
		return true;
	memcpy(&u, a + (n & 7) - 8, 8);	/* last 8 bytes, overlapping */
	memcpy(&v, b + (n & 7) - 8, 8);
	return u == v;
}

/** Entry with u64 key, or NULL. O(1) average. */
static inline struct actr__map_node *
actr__map_find_u64(const struct actr__map *m, uint64_t key)
{
	struct actr__map_node *n = m->b[actr__map_slot(m, key)];

	while (n && n->hash != key)
		n = n->next;
	return n;
}

/** Add entry n with u64 key; the key must not be in the map (find
 * first). Never fails, never allocates except to grow (see above). */
static inline void actr__map_insert_u64(struct actr__map *m,
					struct actr__map_node *n,
					uint64_t key)
{
	n->hash = key;
	n->key = NULL;
	n->klen = 0;
	actr__map_link(m, n);
}

/** Entry whose byte key equals [key, key+len), or NULL. O(1) average
 * plus hashing the key. */
static inline struct actr__map_node *
actr__map_find(const struct actr__map *m, const void *key, size_t len)
{
	uint64_t h = actr__map_hash(m, key, len);
	struct actr__map_node *n = m->b[actr__map_slot(m, h)];

	for (; n; n = n->next)
		if (n->hash == h && n->klen == len &&
		    actr__map_key_eq(n->key, key, len))
			return n;
	return NULL;
}

/** actr__map_find() of a NUL-terminated string (without the NUL). */
static inline struct actr__map_node *
actr__map_find_str(const struct actr__map *m, const char *s)
{
	return actr__map_find(m, s, strlen(s));
}

/** Add entry n under the byte key [key, key+len), which n's entry holds
 * and keeps unchanged while in the map (the map keeps the pointer). The
 * key must not be in the map (find first). Never fails. */
static inline void actr__map_insert(struct actr__map *m,
				    struct actr__map_node *n,
				    const void *key, size_t len)
{
	n->hash = actr__map_hash(m, key, len);
	n->key = key;
	n->klen = len;
	actr__map_link(m, n);
}

/** actr__map_insert() of a NUL-terminated string key. */
static inline void actr__map_insert_str(struct actr__map *m,
					struct actr__map_node *n,
					const char *s)
{
	actr__map_insert(m, n, s, strlen(s));
}

/** Unlink entry n, which must be in m. Never resizes. O(chain). */
static inline void actr__map_remove(struct actr__map *m,
				    struct actr__map_node *n)
{
	struct actr__map_node **pp = &m->b[actr__map_slot(m, n->hash)];

	while (*pp != n)
		pp = &(*pp)->next;
	*pp = n->next;
	m->n--;
}

/** Add n with a hash the caller computed and its own key equality (see
 * actr__map_foreach_hash); n->key/klen are left to the caller. */
static inline void actr__map_insert_hash(struct actr__map *m,
					 struct actr__map_node *n,
					 uint64_t hash)
{
	n->hash = hash;
	actr__map_link(m, n);
}

/** Walk the entries whose hash is h (candidates for a caller-defined
 * equality); the body must not remove pos. */
#define actr__map_foreach_hash(m, pos, h)                          \
	for ((pos) = (m)->b[actr__map_slot((m), (h))]; (pos);      \
	     (pos) = (pos)->next)                                  \
		if ((pos)->hash != (h)) {                          \
		} else

/** First entry of an iteration over m (NULL when empty). */
struct actr__map_node *actr__map_iter_first(struct actr__map_iter *it,
					    struct actr__map *m);

/** Next entry of the iteration, or NULL at the end. */
struct actr__map_node *actr__map_iter_next(struct actr__map_iter *it);

/** Walk every entry of m (node pointer pos, struct actr__map_iter it).
 * The body may remove (and free) pos, and no other entry; an insertion
 * that resizes ends the walk early (see above). O(entries + buckets). */
#define actr__map_foreach(m, it, pos)                                  \
	for ((pos) = actr__map_iter_first(&(it), (m)); (pos);          \
	     (pos) = actr__map_iter_next(&(it)))

#endif
