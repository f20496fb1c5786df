/* Table-driven tests of actr_acl_allows (PROTOCOL.md section 2). */
#include <actr/actr.h>
#include <actr/runtime.h>

#include "test.h"

enum { NONE = 0, ANY = 1, REALM = 2 };

struct rule_spec {
	int allow;		/* 1 ALLOW, 0 DENY */
	const char *type;	/* "m:n:v" */
	int selector;		/* NONE, ANY, REALM */
	uint32_t realm;		/* for REALM */
};

struct acl_case {
	const char *name;
	int has_acl;		/* 0 = no ACL configured */
	int nrules;
	struct rule_spec rules[3];
	const char *caller;	/* ActrId string, NULL = local */
	int want;
};

static const struct acl_case cases[] = {
	{ "local caller with empty ACL", 1, 0, { { 0 } }, NULL, 1 },
	{ "no ACL configured", 0, 0, { { 0 } }, "1@5/a:b:1", 1 },
	{ "zero rules deny", 1, 0, { { 0 } }, "1@5/a:b:1", 0 },
	{ "allow exact type any realm", 1, 1, { { 1, "a:b:1", ANY, 0 } },
	  "1@5/a:b:1", 1 },
	{ "allow without realm selector", 1, 1, { { 1, "a:b:1", NONE, 0 } },
	  "1@5/a:b:1", 1 },
	{ "version must match", 1, 1, { { 1, "a:b:1", ANY, 0 } },
	  "1@5/a:b:2", 0 },
	{ "name must match", 1, 1, { { 1, "a:b:1", ANY, 0 } }, "1@5/a:c:1",
	  0 },
	{ "manufacturer must match", 1, 1, { { 1, "a:b:1", ANY, 0 } },
	  "1@5/x:b:1", 0 },
	{ "realm selector matches", 1, 1, { { 1, "a:b:1", REALM, 5 } },
	  "1@5/a:b:1", 1 },
	{ "realm selector other realm", 1, 1, { { 1, "a:b:1", REALM, 6 } },
	  "1@5/a:b:1", 0 },
	{ "deny first even after allow", 1, 2,
	  { { 1, "a:b:1", ANY, 0 }, { 0, "a:b:1", REALM, 5 } }, "1@5/a:b:1",
	  0 },
	{ "deny in other realm does not match", 1, 2,
	  { { 0, "a:b:1", REALM, 9 }, { 1, "a:b:1", ANY, 0 } }, "1@5/a:b:1",
	  1 },
	{ "only deny rules for others: default deny", 1, 1,
	  { { 0, "x:y:1", ANY, 0 } }, "1@5/a:b:1", 0 },
	{ "deny any realm", 1, 2,
	  { { 0, "a:b:1", ANY, 0 }, { 1, "a:b:1", REALM, 5 } }, "1@5/a:b:1",
	  0 },
	{ "second allow matches", 1, 3,
	  { { 1, "q:q:1", ANY, 0 }, { 0, "z:z:1", ANY, 0 },
	    { 1, "a:b:1", REALM, 5 } },
	  "ff@5/a:b:1", 1 },
};

TEST(acl_table)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct acl_case *c = &cases[i];
		Actr__AclRule rules[3], *rp[3];
		Actr__ActrType *types[3] = { NULL };
		Actr__Acl acl = ACTR__ACL__INIT;
		Actr__ActrId *caller = NULL;
		bool got;

		for (int j = 0; j < c->nrules; j++) {
			actr__acl_rule__init(&rules[j]);
			CHECK_OK(actr_type_parse(c->rules[j].type, &types[j]));
			rules[j].permission =
				c->rules[j].allow
					? ACTR__ACL_RULE__PERMISSION__ALLOW
					: ACTR__ACL_RULE__PERMISSION__DENY;
			rules[j].from_type = types[j];
			if (c->rules[j].selector == ANY) {
				rules[j].source_realm_case =
					ACTR__ACL_RULE__SOURCE_REALM_ANY_REALM;
				rules[j].any_realm = 1;
			} else if (c->rules[j].selector == REALM) {
				rules[j].source_realm_case =
					ACTR__ACL_RULE__SOURCE_REALM_REALM_ID;
				rules[j].realm_id = c->rules[j].realm;
			}
			rp[j] = &rules[j];
		}
		acl.n_rules = (size_t)c->nrules;
		acl.rules = rp;
		if (c->caller)
			CHECK_OK(actr_id_parse(c->caller, &caller));
		got = actr_acl_allows(c->has_acl ? &acl : NULL, caller);
		if (got != (c->want != 0))
			actr_test_fail(__FILE__, __LINE__, "case '%s': got %d",
				       c->name, got);
		actr_proto_free(caller);
		for (int j = 0; j < c->nrules; j++)
			actr_proto_free(types[j]);
	}
}
