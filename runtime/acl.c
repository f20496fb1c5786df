/*
 * ACL evaluation (PROTOCOL.md section 2), a pure function.
 */
#include <actr/runtime.h>

static bool rule_matches(const Actr__AclRule *rule,
			 const Actr__ActrId *caller)
{
	if (!rule || !actr_type_equal(rule->from_type, caller->type))
		return false;
	switch (rule->source_realm_case) {
	case ACTR__ACL_RULE__SOURCE_REALM_REALM_ID:
		return caller->realm &&
		       caller->realm->realm_id == rule->realm_id;
	case ACTR__ACL_RULE__SOURCE_REALM_ANY_REALM:
	default:
		/* no selector, or any_realm (either value): any realm */
		return true;
	}
}

bool actr_acl_allows(const Actr__Acl *acl, const Actr__ActrId *caller)
{
	bool allow = false;

	if (!caller)
		return true;	/* local caller */
	if (!acl)
		return true;	/* no ACL configured */
	for (size_t i = 0; i < acl->n_rules; i++) {
		const Actr__AclRule *rule = acl->rules[i];

		if (!rule_matches(rule, caller))
			continue;
		if (rule->permission == ACTR__ACL_RULE__PERMISSION__ALLOW)
			allow = true;
		else
			return false;	/* DENY (or unknown): deny first */
	}
	return allow;		/* zero rules, or nothing matched: deny */
}
