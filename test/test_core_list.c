/* core/list.h: the intrusive doubly linked list. */
#include "core/list.h"
#include "test.h"

struct item {
	int v;
	struct actr__list link;
};

/* The values of h front to back into out; returns the count. */
static int values(struct actr__list *h, int *out, int max)
{
	struct actr__list *pos;
	int k = 0;

	actr__list_foreach(pos, h)
		if (k < max)
			out[k++] = actr__list_entry(pos, struct item, link)->v;
	return k;
}

TEST(list_insert_order)
{
	struct actr__list h = ACTR__LIST_INIT(h);
	struct item it[4] = { { .v = 0 }, { .v = 1 }, { .v = 2 }, { .v = 3 } };
	int out[8], n;

	CHECK(actr__list_empty(&h));
	CHECK(actr__list_first(&h) == NULL);
	CHECK(actr__list_last(&h) == NULL);
	CHECK(actr__list_pop_head(&h) == NULL);
	actr__list_insert_tail(&h, &it[1].link);
	actr__list_insert_head(&h, &it[0].link);
	actr__list_insert_tail(&h, &it[3].link);
	actr__list_insert_before(&it[3].link, &it[2].link);
	CHECK(!actr__list_empty(&h));
	CHECK_EQ(actr__list_count(&h), 4);
	n = values(&h, out, 8);
	CHECK_EQ(n, 4);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(out[i], i);
	CHECK(actr__list_first(&h) == &it[0].link);
	CHECK(actr__list_last(&h) == &it[3].link);
	CHECK(actr__list_next(&h, &it[3].link) == NULL);
	CHECK(actr__list_prev(&h, &it[0].link) == NULL);
	CHECK(actr__list_next(&h, &it[1].link) == &it[2].link);
	CHECK(actr__list_prev(&h, &it[1].link) == &it[0].link);

	/* reverse walk */
	{
		struct actr__list *pos;
		int k = 3;

		actr__list_foreach_reverse(pos, &h)
			CHECK_EQ(actr__list_entry(pos, struct item, link)->v,
				 k--);
		CHECK_EQ(k, -1);
	}
	actr__list_remove(&it[2].link);
	actr__list_insert_after(&it[0].link, &it[2].link);
	n = values(&h, out, 8);
	CHECK_EQ(n, 4);
	CHECK_EQ(out[1], 2);
	CHECK_EQ(out[2], 1);
}

TEST(list_remove)
{
	struct actr__list h;
	struct item it[5];
	int out[8], n;

	actr__list_init(&h);
	for (int i = 0; i < 5; i++) {
		it[i].v = i;
		actr__list_insert_tail(&h, &it[i].link);
		CHECK(actr__list_linked(&it[i].link));
	}
	actr__list_remove(&it[0].link); /* head */
	actr__list_remove(&it[4].link); /* tail */
	actr__list_remove(&it[2].link); /* middle */
	CHECK(!actr__list_linked(&it[2].link));
	actr__list_remove(&it[2].link); /* self-linked: no-op */
	n = values(&h, out, 8);
	CHECK_EQ(n, 2);
	CHECK_EQ(out[0], 1);
	CHECK_EQ(out[1], 3);
	CHECK(actr__list_pop_head(&h) == &it[1].link);
	CHECK(actr__list_pop_head(&h) == &it[3].link);
	CHECK(actr__list_empty(&h));

	/* a zeroed node counts as unlinked */
	struct actr__list z;

	memset(&z, 0, sizeof(z));
	CHECK(!actr__list_linked(&z));
}

TEST(list_foreach_safe_removal)
{
	struct actr__list h = ACTR__LIST_INIT(h), *pos, *tmp;
	struct item *items[100];
	int out[100], n;

	for (int i = 0; i < 100; i++) {
		items[i] = malloc(sizeof(*items[i]));
		items[i]->v = i;
		actr__list_insert_tail(&h, &items[i]->link);
	}
	/* free every odd one while walking */
	actr__list_foreach_safe(pos, tmp, &h) {
		struct item *e = actr__list_entry(pos, struct item, link);

		if (e->v & 1) {
			actr__list_remove(pos);
			free(e);
		}
	}
	n = values(&h, out, 100);
	CHECK_EQ(n, 50);
	for (int i = 0; i < 50; i++)
		CHECK_EQ(out[i], 2 * i);
	/* free the rest, including the current one each time */
	actr__list_foreach_safe(pos, tmp, &h) {
		actr__list_remove(pos);
		free(actr__list_entry(pos, struct item, link));
	}
	CHECK(actr__list_empty(&h));
}

TEST(list_splice)
{
	struct actr__list a = ACTR__LIST_INIT(a), b = ACTR__LIST_INIT(b);
	struct item it[6];
	int out[8], n;

	actr__list_splice_tail(&a, &b); /* both empty */
	CHECK(actr__list_empty(&a));
	for (int i = 0; i < 6; i++) {
		it[i].v = i;
		actr__list_insert_tail(i < 2 ? &a : &b, &it[i].link);
	}
	actr__list_splice_tail(&a, &b);
	CHECK(actr__list_empty(&b));
	n = values(&a, out, 8);
	CHECK_EQ(n, 6);
	for (int i = 0; i < 6; i++)
		CHECK_EQ(out[i], i);
	/* into an empty list */
	actr__list_splice_tail(&b, &a);
	CHECK(actr__list_empty(&a));
	CHECK_EQ(values(&b, out, 8), 6);
	CHECK(actr__list_last(&b) == &it[5].link);
	CHECK(it[5].link.next == &b);
}
