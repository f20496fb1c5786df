/*
 * The server's ACL evaluator (PROTOCOL.md section 2): deny-first, with
 * realm wildcards. A pure function over the wire message, used for
 * discovery, route candidates, ActrUp events and relay.
 */
#include <string.h>

#include "server/signal_internal.h"

bool actr__sig_type_eq(const Actr__ActrType *a, const Actr__ActrType *b)
{
	if (!a || !b || !a->manufacturer || !a->name || !a->version ||
	    !b->manufacturer || !b->name || !b->version)
		return false;
	return strcmp(a->manufacturer, b->manufacturer) == 0 &&
	       strcmp(a->name, b->name) == 0 &&
	       strcmp(a->version, b->version) == 0;
}

static bool rule_matches(const Actr__AclRule *r, const Actr__ActrType *t,
			 uint32_t realm)
{
	if (!actr__sig_type_eq(r->from_type, t))
		return false;
	switch (r->source_realm_case) {
	case ACTR__ACL_RULE__SOURCE_REALM_REALM_ID:
		return r->realm_id == realm;
	case ACTR__ACL_RULE__SOURCE_REALM_ANY_REALM:
	case ACTR__ACL_RULE__SOURCE_REALM__NOT_SET:
	default:
		return true;
	}
}

bool actr__sig_acl_allows(const Actr__Acl *acl,
			  const Actr__ActrType *caller_type,
			  uint32_t caller_realm)
{
	bool allow = false;

	if (!caller_type)
		return true;
	if (!acl)
		return true;
	for (size_t i = 0; i < acl->n_rules; i++) {
		const Actr__AclRule *r = acl->rules[i];

		if (!r || !rule_matches(r, caller_type, caller_realm))
			continue;
		if (r->permission == ACTR__ACL_RULE__PERMISSION__DENY)
			return false;
		allow = true;
	}
	return allow;
}
