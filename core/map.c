/*
 * The hash map's out-of-line half: seeding, resizing and iteration
 * (lookups, insertion and removal are inline in core/map.h).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/map.h"

#define MAP_MIN_BUCKETS 8

/* One seed per process, drawn on first use. A race between two threads
 * drawing it at once is harmless: each map keeps the seed it read. */
static uint64_t process_seed(void)
{
	static uint64_t seed;
	uint64_t s = __atomic_load_n(&seed, __ATOMIC_RELAXED);
	struct timespec ts;

	if (ACTR_LIKELY(s))
		return s;
	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s)) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		s = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^
		    (uint64_t)ts.tv_sec ^ (uint64_t)getpid() << 32;
	}
	s |= 1;
	__atomic_store_n(&seed, s, __ATOMIC_RELAXED);
	return s;
}

/* Entry bounds of a table of nb buckets: grow above nb (load 1), shrink
 * below nb / 8 (never below the minimum size). */
static void set_bounds(struct actr__map *m, size_t nb)
{
	m->mask = nb - 1;
	m->lo = nb > MAP_MIN_BUCKETS ? nb / 8 : 0;
	m->span = nb - m->lo;
}

void actr__map_init(struct actr__map *m)
{
	m->one = NULL;
	m->b = &m->one;
	m->n = 0;
	set_bounds(m, 1);
	m->seed = process_seed();
}

void actr__map_fini(struct actr__map *m)
{
	if (m->b != &m->one)
		free(m->b);
	m->one = NULL;
	m->b = &m->one;
	m->n = 0;
	set_bounds(m, 1);
}

void actr__map_resize(struct actr__map *m)
{
	size_t nb = MAP_MIN_BUCKETS, old = m->mask + 1;
	struct actr__map_node **b;

	while (nb < 2 * m->n)
		nb *= 2;
	if (nb == old)
		return;
	b = actr__malloc(nb * sizeof(*b));
	if (!b)
		return; /* keep the old table: longer chains, nothing lost */
	memset(b, 0, nb * sizeof(*b));
	set_bounds(m, nb);
	for (size_t i = 0; i < old; i++) {
		struct actr__map_node *n = m->b[i], *next;

		for (; n; n = next) {
			struct actr__map_node **d = &b[actr__map_slot(m, n->hash)];

			next = n->next;
			n->next = *d;
			*d = n;
		}
	}
	if (m->b != &m->one)
		free(m->b);
	m->one = NULL;
	m->b = b;
}

/* First entry at or after bucket i, its bucket in it->i. */
static struct actr__map_node *scan(struct actr__map_iter *it, size_t i)
{
	struct actr__map *m = it->m;

	for (; i <= m->mask; i++)
		if (m->b[i]) {
			it->i = i;
			return m->b[i];
		}
	it->i = i;
	return NULL;
}

/* Return n after remembering its successor (so n may be removed). */
static struct actr__map_node *step(struct actr__map_iter *it,
				   struct actr__map_node *n)
{
	if (n)
		it->next = n->next ? n->next : scan(it, it->i + 1);
	else
		it->next = NULL;
	return n;
}

struct actr__map_node *actr__map_iter_first(struct actr__map_iter *it,
					    struct actr__map *m)
{
	it->m = m;
	it->b = m->b;
	it->next = NULL;
	if (!m->n)
		return NULL;
	return step(it, scan(it, 0));
}

struct actr__map_node *actr__map_iter_next(struct actr__map_iter *it)
{
	if (ACTR_UNLIKELY(it->m->b != it->b))
		return NULL; /* resized by an insertion: positions are gone */
	return step(it, it->next);
}
