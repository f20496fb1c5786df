/*
 * Workloads: actor type, route table (core/map.h by route key; route keys
 * from peers are only looked up, the map holds registered routes), hooks
 * and ACL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

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
	actr__map_init(&w->routes);
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
	struct actr__map_iter it;
	struct actr__map_node *n;

	if (!w)
		return;
	actr__map_foreach(&w->routes, it, n) {
		struct actr__route *r = actr__map_entry(n, struct actr__route,
							node);

		actr__map_remove(&w->routes, n);
		free(r->key);
		free(r->stats);
		free(r);
	}
	actr__map_fini(&w->routes);
	free(w->type.manufacturer);
	free(w->type.name);
	free(w->type.version);
	free(w);
}

static int add(actr_workload_t *w, const char *key, actr_raw_handler raw,
	       actr_typed_handler typed, const ProtobufCMessageDescriptor *in,
	       int payload_type)
{
	size_t len = strlen(key);
	struct actr__route *r;

	if (len == 0 || len > UINT16_MAX || payload_type < 0 ||
	    payload_type > ACTR__PAYLOAD_TYPE__MEDIA_RTP)
		return -EINVAL;
	if (actr__route_find(w, key, len))
		return -EEXIST;
	r = calloc(1, sizeof(*r));
	if (!r || !(r->key = strdup(key))) {
		free(r);
		return -ENOMEM;
	}
	r->payload_type = (uint8_t)payload_type;
	r->prio = payload_type == ACTR__PAYLOAD_TYPE__RPC_SIGNAL ? PRIO_HIGH
								 : PRIO_NORMAL;
	r->raw = raw;
	r->typed = typed;
	r->in = in;
	actr__map_insert(&w->routes, &r->node, r->key, len);
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
