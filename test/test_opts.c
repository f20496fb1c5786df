/* Option structs with struct_size (<actr/util.h>, ACTR_OPTS): an older
 * program's smaller struct is zero-extended, a newer program's larger one
 * is taken when its unknown tail is zero and refused when it sets a field
 * this library lacks. */
#include <errno.h>

#include <actr/actr.h>

#include "core/internal.h"
#include "test.h"

struct old_opts {			/* "version 1" of some options */
	uint32_t struct_size;
	uint32_t a;
};

struct new_opts {			/* "version 2": one field appended */
	uint32_t struct_size;
	uint32_t a;
	uint64_t b;
};

TEST(opts_copy_versions)
{
	struct old_opts o1 = { ACTR_OPTS(o1), .a = 7 }, d1;
	struct new_opts n2 = { ACTR_OPTS(n2), .a = 8, .b = 0 }, d2;
	uint8_t bad[4] = { 2, 0, 0, 0 };

	/* older caller, newer library: b defaults to zero */
	memset(&d2, 0xff, sizeof(d2));
	CHECK_OK(actr__opts_copy(&d2, sizeof(d2), &o1));
	CHECK_EQ(d2.a, 7);
	CHECK_EQ(d2.b, 0);
	CHECK_EQ(d2.struct_size, sizeof(d2));
	/* newer caller, older library: fine while b is zero */
	CHECK_OK(actr__opts_copy(&d1, sizeof(d1), &n2));
	CHECK_EQ(d1.a, 8);
	CHECK_EQ(d1.struct_size, sizeof(d1));
	n2.b = 1;
	CHECK_EQ(actr__opts_copy(&d1, sizeof(d1), &n2), -ENOTSUP);
	/* 0: built against this header */
	n2.struct_size = 0;
	CHECK_OK(actr__opts_copy(&d2, sizeof(d2), &n2));
	CHECK_EQ(d2.b, 1);
	/* too small to hold struct_size itself */
	CHECK_EQ(actr__opts_copy(&d1, sizeof(d1), bad), -EINVAL);
}

TEST(opts_public_structs_refuse_unknown_fields)
{
	struct {
		actr_system_config_t cfg;
		uint64_t future;	/* a field this library lacks */
	} newer = { .cfg = { .realm_id = 5 }, .future = 1 };
	actr_reactor_t *r = actr_reactor_new();
	actr_system_t *sys;
	struct {
		actr_mailbox_opts_t o;
		uint64_t future;
	} mo = { .future = 1 };
	actr_mailbox_t *mb = NULL;
	char path[512];

	CHECK(r);
	newer.cfg.struct_size = sizeof(newer);
	CHECK(!actr_system_new(r, &newer.cfg));
	newer.future = 0;	/* set to its default: accepted */
	sys = actr_system_new(r, &newer.cfg);
	CHECK(sys);
	actr_system_free(sys);

	actr_mailbox_opts_init(&mo.o);
	mo.o.struct_size = sizeof(mo);
	snprintf(path, sizeof(path), "%s/mb", actr_test_tmpdir());
	CHECK_EQ(actr_mailbox_open(path, &mo.o, &mb), -ENOTSUP);
	CHECK(!mb);
	actr_reactor_free(r);
}
