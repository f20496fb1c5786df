/*
 * Response cache for inbound remote requests (PROTOCOL.md section 6):
 * a request_id seen again within the ttl is answered from the cache (or
 * dropped while the first copy is still being handled). Entries are keyed
 * by (caller serial, request_id) in a core/map.h map and kept in a
 * FIFO that is also expiry order (one ttl for all); the oldest entry goes
 * when the cache is full.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

struct entry {
	struct actr__map_node node;	/* in d->map, by key_hash() */
	struct actr__list fifo;		/* in d->fifo (oldest first) */
	uint64_t serial;		/* caller serial number */
	uint64_t expires;		/* monotonic ns */
	bool done;			/* response stored */
	int status;			/* response status */
	char *err;			/* error text (owned) */
	uint8_t *data;			/* response payload (owned) */
	size_t len;
	char rid[];			/* request id */
};

struct dedup {
	struct actr__map map;		/* entries by (serial, rid) */
	struct actr__list fifo;		/* entries, oldest first */
	unsigned max;			/* entries kept at most */
	uint64_t ttl;
};

struct dedup *actr__dedup_new(unsigned max, uint64_t ttl_ns)
{
	struct dedup *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	actr__map_init(&d->map);
	actr__list_init(&d->fifo);
	d->max = max ? max : 1;
	d->ttl = ttl_ns;
	return d;
}

static void drop(struct dedup *d, struct entry *e)
{
	actr__map_remove(&d->map, &e->node);
	actr__list_remove(&e->fifo);
	free(e->err);
	free(e->data);
	free(e);
}

static struct entry *oldest(struct dedup *d)
{
	struct actr__list *l = actr__list_first(&d->fifo);

	return l ? actr__list_entry(l, struct entry, fifo) : NULL;
}

void actr__dedup_free(struct dedup *d)
{
	if (!d)
		return;
	while (!actr__list_empty(&d->fifo))
		drop(d, oldest(d));
	actr__map_fini(&d->map);
	free(d);
}

static uint64_t key_hash(const struct dedup *d, uint64_t serial,
			 const char *rid)
{
	return actr__map_hash(&d->map, rid, strlen(rid)) ^
	       serial * 0x9e3779b97f4a7c15ull;
}

static struct entry *find(struct dedup *d, uint64_t serial, const char *rid,
			  uint64_t h)
{
	struct actr__map_node *n;

	actr__map_foreach_hash(&d->map, n, h) {
		struct entry *e = actr__map_entry(n, struct entry, node);

		if (e->serial == serial && strcmp(e->rid, rid) == 0)
			return e;
	}
	return NULL;
}

static void expire(struct dedup *d, uint64_t now)
{
	struct entry *e;

	while ((e = oldest(d)) && e->expires <= now)
		drop(d, e);
}

int actr__dedup_check(struct dedup *d, uint64_t now, uint64_t serial,
		      const char *rid, int *status, const char **err,
		      const uint8_t **data, size_t *len)
{
	uint64_t h = key_hash(d, serial, rid);
	size_t rl = strlen(rid);
	struct entry *e;

	expire(d, now);
	e = find(d, serial, rid, h);
	if (e) {
		if (!e->done)
			return 1;
		*status = e->status;
		*err = e->err;
		*data = e->data;
		*len = e->len;
		return 2;
	}
	if (actr__map_size(&d->map) >= d->max)
		drop(d, oldest(d));
	e = calloc(1, sizeof(*e) + rl + 1);
	if (!e)
		return 0; /* no memory: handle without dedup */
	memcpy(e->rid, rid, rl + 1);
	e->serial = serial;
	e->expires = now + d->ttl;
	actr__map_insert_hash(&d->map, &e->node, h);
	actr__list_insert_tail(&d->fifo, &e->fifo);
	return 0;
}

void actr__dedup_forget(struct dedup *d, uint64_t serial, const char *rid)
{
	struct entry *e = find(d, serial, rid, key_hash(d, serial, rid));

	if (e && !e->done)
		drop(d, e);
}

void actr__dedup_store(struct dedup *d, uint64_t now, uint64_t serial,
		       const char *rid, int status, const char *err,
		       const void *data, size_t len)
{
	struct entry *e = find(d, serial, rid, key_hash(d, serial, rid));

	(void)now;
	if (!e || e->done)
		return;
	e->done = true;
	e->status = status;
	e->err = err ? strdup(err) : NULL;
	if (len) {
		e->data = malloc(len);
		if (e->data)
			memcpy(e->data, data, len);
		else
			e->done = false; /* cannot cache: treat as in flight */
	}
	e->len = len;
}
