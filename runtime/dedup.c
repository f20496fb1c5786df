/*
 * Response cache for inbound remote requests (PROTOCOL.md section 6):
 * a request_id seen again within the ttl is answered from the cache (or
 * dropped while the first copy is still being handled). Entries are keyed
 * by (caller serial, request_id), chained in a hash table and kept in a
 * FIFO that is also expiry order (one ttl for all); the oldest entry goes
 * when the cache is full.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

struct entry {
	struct entry *hnext;		/* hash chain */
	struct entry *fnext;		/* FIFO (oldest first) */
	uint64_t serial;		/* caller serial number */
	uint64_t expires;		/* monotonic ns */
	uint32_t hash;			/* of serial + rid */
	bool done;			/* response stored */
	int status;			/* response status */
	char *err;			/* error text (owned) */
	uint8_t *data;			/* response payload (owned) */
	size_t len;
	char rid[];			/* request id */
};

struct dedup {
	struct entry **b;		/* buckets */
	unsigned mask;
	unsigned n, max;
	uint64_t ttl;
	struct entry *head, *tail;	/* FIFO */
};

struct dedup *actr__dedup_new(unsigned max, uint64_t ttl_ns)
{
	struct dedup *d = calloc(1, sizeof(*d));
	unsigned nb = 64;

	if (!d)
		return NULL;
	while (nb < max)
		nb *= 2;
	d->b = calloc(nb, sizeof(*d->b));
	if (!d->b) {
		free(d);
		return NULL;
	}
	d->mask = nb - 1;
	d->max = max ? max : 1;
	d->ttl = ttl_ns;
	return d;
}

static void drop_oldest(struct dedup *d)
{
	struct entry *e = d->head, **pp = &d->b[e->hash & d->mask];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	d->head = e->fnext;
	if (!d->head)
		d->tail = NULL;
	d->n--;
	free(e->err);
	free(e->data);
	free(e);
}

void actr__dedup_free(struct dedup *d)
{
	if (!d)
		return;
	while (d->head)
		drop_oldest(d);
	free(d->b);
	free(d);
}

static uint32_t key_hash(uint64_t serial, const char *rid)
{
	uint32_t h = actr__route_hash(rid, strlen(rid));

	return h ^ (uint32_t)(serial * 0x9e3779b97f4a7c15ull >> 32);
}

static struct entry *find(struct dedup *d, uint64_t serial, const char *rid,
			  uint32_t h)
{
	for (struct entry *e = d->b[h & d->mask]; e; e = e->hnext)
		if (e->hash == h && e->serial == serial &&
		    strcmp(e->rid, rid) == 0)
			return e;
	return NULL;
}

static void expire(struct dedup *d, uint64_t now)
{
	while (d->head && d->head->expires <= now)
		drop_oldest(d);
}

int actr__dedup_check(struct dedup *d, uint64_t now, uint64_t serial,
		      const char *rid, int *status, const char **err,
		      const uint8_t **data, size_t *len)
{
	uint32_t h = key_hash(serial, rid);
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
	if (d->n >= d->max)
		drop_oldest(d);
	e = calloc(1, sizeof(*e) + rl + 1);
	if (!e)
		return 0; /* no memory: handle without dedup */
	memcpy(e->rid, rid, rl + 1);
	e->serial = serial;
	e->hash = h;
	e->expires = now + d->ttl;
	e->hnext = d->b[h & d->mask];
	d->b[h & d->mask] = e;
	if (d->tail)
		d->tail->fnext = e;
	else
		d->head = e;
	d->tail = e;
	d->n++;
	return 0;
}

void actr__dedup_forget(struct dedup *d, uint64_t serial, const char *rid)
{
	uint32_t h = key_hash(serial, rid);
	struct entry *e = find(d, serial, rid, h), **pp, *prev = NULL;

	if (!e || e->done)
		return;
	for (pp = &d->b[h & d->mask]; *pp != e; pp = &(*pp)->hnext)
		;
	*pp = e->hnext;
	for (struct entry *f = d->head; f != e; f = f->fnext)
		prev = f;
	if (prev)
		prev->fnext = e->fnext;
	else
		d->head = e->fnext;
	if (d->tail == e)
		d->tail = prev;
	d->n--;
	free(e);
}

void actr__dedup_store(struct dedup *d, uint64_t now, uint64_t serial,
		       const char *rid, int status, const char *err,
		       const void *data, size_t len)
{
	struct entry *e = find(d, serial, rid, key_hash(serial, rid));

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
