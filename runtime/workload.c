/*
 * Workloads: actor type, route table (open addressing on an FNV-1a hash
 * of the route key), hooks and ACL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

/* A word-at-a-time multiplicative hash: a route key of 16-40 bytes costs
 * two to five multiplies. Route keys from peers are only looked up (the
 * table holds registered routes at load <= 1/2), so a weak hash cannot be
 * used to degrade it. */
static inline uint32_t hash_key(const char *s, size_t n)
{
	uint64_t h = n, w;
	const char *end = s + n;

	if (n >= 8) {
		/* whole words, then the last 8 bytes (overlapping) if any */
		for (size_t k = n >> 3; k; k--, s += 8) {
			memcpy(&w, s, 8);
			h = (h + w) * 0x9e3779b97f4a7c15ull;
		}
		if (n & 7) {
			memcpy(&w, end - 8, 8);
			h = (h + w) * 0x9e3779b97f4a7c15ull;
		}
	} else {
		for (; s < end; s++)
			h = (h + (uint8_t)*s) * 0x9e3779b97f4a7c15ull;
	}
	return (uint32_t)(h >> 32);
}

uint32_t actr__route_hash(const char *s, size_t n)
{
	return hash_key(s, n);
}

/* Key equality a word at a time (route keys are mostly 16-40 bytes). */
static inline bool key_eq(const char *a, const char *b, size_t n)
{
	uint64_t x, y;
	size_t i;

	if (n < 8) {
		for (i = 0; i < n; i++)
			if (a[i] != b[i])
				return false;
		return true;
	}
	for (i = n >> 3; i; i--, a += 8, b += 8) {
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		if (x != y)
			return false;
	}
	if (!(n & 7))
		return true;
	a -= n & ~(size_t)7;	/* back to the start for the tail word */
	b -= n & ~(size_t)7;
	memcpy(&x, a + n - 8, 8);
	memcpy(&y, b + n - 8, 8);
	return x == y;
}

const struct actr__route *actr__route_find(const actr_workload_t *w,
					   const char *key, size_t len)
{
	uint32_t hash = hash_key(key, len);
	unsigned mask = w->nslots - 1;
	const struct actr__route *r;

	if (ACTR_UNLIKELY(!w->nslots))
		return NULL;
	for (unsigned i = hash & mask; (r = w->slots[i]); i = (i + 1) & mask)
		if (r->hash == hash && r->len == len &&
		    key_eq(r->key, key, len))
			return r;
	return NULL;
}

actr_workload_t *actr_workload_new(const char *manufacturer,
				   const char *name, const char *version)
{
	actr_workload_t *w;
	char buf[ACTR_TYPE_STR_MAX + 1];
	Actr__ActrType t = ACTR__ACTR_TYPE__INIT;

	t.manufacturer = (char *)manufacturer;
	t.name = (char *)name;
	t.version = (char *)version;
	if (actr_type_format(&t, buf, sizeof(buf)) < 0)
		return NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	actr__actr_type__init(&w->type);
	w->type.manufacturer = strdup(manufacturer);
	w->type.name = strdup(name);
	w->type.version = strdup(version);
	if (!w->type.manufacturer || !w->type.name || !w->type.version) {
		actr_workload_free(w);
		return NULL;
	}
	return w;
}

void actr_workload_free(actr_workload_t *w)
{
	if (!w)
		return;
	for (unsigned i = 0; i < w->nslots; i++) {
		if (w->slots[i]) {
			free(w->slots[i]->key);
			free(w->slots[i]);
		}
	}
	free(w->slots);
	free(w->type.manufacturer);
	free(w->type.name);
	free(w->type.version);
	free(w);
}

static int grow(actr_workload_t *w)
{
	unsigned n = w->nslots ? w->nslots * 2 : 16;
	struct actr__route **s = calloc(n, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (unsigned i = 0; i < w->nslots; i++) {
		struct actr__route *r = w->slots[i];
		unsigned j;

		if (!r)
			continue;
		for (j = r->hash & (n - 1); s[j]; j = (j + 1) & (n - 1))
			;
		s[j] = r;
	}
	free(w->slots);
	w->slots = s;
	w->nslots = n;
	return 0;
}

static int add(actr_workload_t *w, const char *key, actr_raw_handler raw,
	       actr_typed_handler typed, const ProtobufCMessageDescriptor *in,
	       int payload_type)
{
	size_t len = strlen(key);
	uint32_t h = actr__route_hash(key, len);
	struct actr__route *r;
	unsigned j, mask;

	if (len == 0 || len > UINT16_MAX || payload_type < 0 ||
	    payload_type > ACTR__PAYLOAD_TYPE__MEDIA_RTP)
		return -EINVAL;
	if (actr__route_find(w, key, len))
		return -EEXIST;
	/* keep the load factor under 1/2 */
	if ((w->nroutes + 1) * 2 > w->nslots && grow(w) < 0)
		return -ENOMEM;
	r = calloc(1, sizeof(*r));
	if (!r || !(r->key = strdup(key))) {
		free(r);
		return -ENOMEM;
	}
	r->hash = h;
	r->len = (uint16_t)len;
	r->payload_type = (uint8_t)payload_type;
	r->prio = payload_type == ACTR__PAYLOAD_TYPE__RPC_SIGNAL ? PRIO_HIGH
								 : PRIO_NORMAL;
	r->raw = raw;
	r->typed = typed;
	r->in = in;
	mask = w->nslots - 1;
	for (j = h & mask; w->slots[j]; j = (j + 1) & mask)
		;
	w->slots[j] = r;
	w->nroutes++;
	return 0;
}

int actr_workload_add_route(actr_workload_t *w, const char *route_key,
			    actr_raw_handler fn, int payload_type)
{
	if (!w || !route_key || !fn)
		return -EINVAL;
	return add(w, route_key, fn, NULL, NULL, payload_type);
}

int actr_workload_add_service(actr_workload_t *w,
			      const ProtobufCServiceDescriptor *svc,
			      const actr_method_t *methods)
{
	char key[512];

	if (!w || !svc || !methods)
		return -EINVAL;
	for (const actr_method_t *m = methods; m->name; m++) {
		const ProtobufCMethodDescriptor *md = NULL;
		int rc, n;

		for (unsigned i = 0; i < svc->n_methods; i++)
			if (strcmp(svc->methods[i].name, m->name) == 0)
				md = &svc->methods[i];
		if (!md || !m->fn)
			return -ACTR_ENOTFOUND;
		n = snprintf(key, sizeof(key), "%s.%s", svc->name, m->name);
		if (n < 0 || (size_t)n >= sizeof(key))
			return -EINVAL;
		rc = add(w, key, NULL, (actr_typed_handler)m->fn, md->input,
			 m->payload_type);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void actr_workload_set_hooks(actr_workload_t *w, const actr_hooks_t *hooks,
			     void *user)
{
	if (hooks)
		w->hooks = *hooks;
	else
		memset(&w->hooks, 0, sizeof(w->hooks));
	w->user = user;
}

void actr_workload_set_acl(actr_workload_t *w, const Actr__Acl *acl)
{
	w->acl = acl;
}
