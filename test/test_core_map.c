/* core/map.h: the intrusive hash map. */
#include <stdio.h>

#include "core/map.h"
#include "test.h"

struct ent {
	struct actr__map_node node;
	uint64_t id;
	char name[24];
};

static struct ent *ent_new(uint64_t id)
{
	struct ent *e = calloc(1, sizeof(*e));

	e->id = id;
	snprintf(e->name, sizeof(e->name), "actor-%llu", (unsigned long long)id);
	return e;
}

static struct ent *find_u64(struct actr__map *m, uint64_t id)
{
	struct actr__map_node *n = actr__map_find_u64(m, id);

	return n ? actr__map_entry(n, struct ent, node) : NULL;
}

static struct ent *find_str(struct actr__map *m, const char *s)
{
	struct actr__map_node *n = actr__map_find_str(m, s);

	return n ? actr__map_entry(n, struct ent, node) : NULL;
}

static void free_all(struct actr__map *m)
{
	struct actr__map_iter it;
	struct actr__map_node *n;

	actr__map_foreach(m, it, n) {
		actr__map_remove(m, n);
		free(actr__map_entry(n, struct ent, node));
	}
	CHECK_EQ(actr__map_size(m), 0);
	actr__map_fini(m);
}

TEST(map_u64_insert_find_remove)
{
	struct actr__map m;

	actr__map_init(&m);
	CHECK_EQ(actr__map_size(&m), 0);
	CHECK(find_u64(&m, 1) == NULL);
	for (uint64_t i = 0; i < 1000; i++) {
		struct ent *e = ent_new(i * 7);

		actr__map_insert_u64(&m, &e->node, e->id);
	}
	CHECK_EQ(actr__map_size(&m), 1000);
	CHECK(m.mask + 1 >= 1000); /* grew */
	for (uint64_t i = 0; i < 7000; i++) {
		struct ent *e = find_u64(&m, i);

		if (i % 7)
			CHECK(e == NULL);
		else
			CHECK(e && e->id == i);
	}
	/* remove half, the rest stays findable */
	for (uint64_t i = 0; i < 1000; i += 2) {
		struct ent *e = find_u64(&m, i * 7);

		actr__map_remove(&m, &e->node);
		free(e);
	}
	CHECK_EQ(actr__map_size(&m), 500);
	for (uint64_t i = 0; i < 1000; i++)
		CHECK((find_u64(&m, i * 7) != NULL) == (i & 1));
	free_all(&m);
}

TEST(map_bytes_keys)
{
	struct actr__map m;
	char key[64];

	actr__map_init(&m);
	for (uint64_t i = 0; i < 500; i++) {
		struct ent *e = ent_new(i);

		CHECK(find_str(&m, e->name) == NULL);
		actr__map_insert_str(&m, &e->node, e->name);
	}
	CHECK_EQ(actr__map_size(&m), 500);
	for (uint64_t i = 0; i < 500; i++) {
		struct ent *e;

		snprintf(key, sizeof(key), "actor-%llu", (unsigned long long)i);
		e = find_str(&m, key);
		CHECK(e && e->id == i);
		/* a prefix or an extension is another key */
		{
			struct actr__map_node *p =
				actr__map_find(&m, key, strlen(key) - 1);

			CHECK(!p || p->klen == strlen(key) - 1);
		}
		strcat(key, "x");
		CHECK(find_str(&m, key) == NULL);
	}
	/* keys of every length 0..40 (the word-at-a-time paths) */
	{
		static char buf[41][41];
		static struct actr__map_node nodes[41];

		for (int l = 0; l <= 40; l++) {
			memset(buf[l], 'a' + l % 26, (size_t)l);
			actr__map_insert(&m, &nodes[l], buf[l], (size_t)l);
		}
		for (int l = 0; l <= 40; l++) {
			char k[41];

			memset(k, 'a' + l % 26, (size_t)l);
			CHECK(actr__map_find(&m, k, (size_t)l) == &nodes[l]);
			if (l) {
				k[l - 1] ^= 1; /* the last byte differs */
				CHECK(actr__map_find(&m, k, (size_t)l) == NULL);
				k[l - 1] ^= 1;
				k[0] ^= 1; /* the first byte differs */
				CHECK(actr__map_find(&m, k, (size_t)l) == NULL);
			}
		}
		for (int l = 0; l <= 40; l++)
			actr__map_remove(&m, &nodes[l]);
	}
	free_all(&m);
}

TEST(map_key_eq_hash)
{
	struct actr__map m;
	const char *a = "0123456789abcdefghij", *b = "0123456789abcdefghiJ";

	actr__map_init(&m);
	for (size_t n = 0; n <= 20; n++) {
		CHECK(actr__map_key_eq(a, a, n));
		CHECK(actr__map_key_eq(a, b, n) == (n < 20));
		CHECK(actr__map_hash(&m, a, n) == actr__map_hash(&m, a, n));
		if (n)
			CHECK(actr__map_hash(&m, a, n) !=
			      actr__map_hash(&m, a, n - 1));
	}
	CHECK(actr__map_hash(&m, a, 20) != actr__map_hash(&m, b, 20));
	actr__map_fini(&m);
}

/* Every entry lands in one bucket: u64 keys that differ only above the
 * bits the slot uses are impossible to build portably, so use the
 * caller-hash interface with one hash for all. */
TEST(map_collisions)
{
	struct actr__map m;
	struct ent e[64];
	struct actr__map_node *pos;
	int seen;

	actr__map_init(&m);
	for (int i = 0; i < 64; i++) {
		e[i].id = (uint64_t)i;
		e[i].node.key = NULL;
		e[i].node.klen = 0;
		actr__map_insert_hash(&m, &e[i].node, 42);
	}
	CHECK_EQ(actr__map_size(&m), 64);
	seen = 0;
	actr__map_foreach_hash(&m, pos, 42)
		seen++;
	CHECK_EQ(seen, 64);
	/* remove from the middle, the front and the back of the chain */
	actr__map_remove(&m, &e[31].node);
	actr__map_remove(&m, &e[63].node);
	actr__map_remove(&m, &e[0].node);
	seen = 0;
	actr__map_foreach_hash(&m, pos, 42) {
		struct ent *x = actr__map_entry(pos, struct ent, node);

		CHECK(x->id != 31 && x->id != 63 && x->id != 0);
		seen++;
	}
	CHECK_EQ(seen, 61);
	seen = 0;
	actr__map_foreach_hash(&m, pos, 43)
		seen++;
	CHECK_EQ(seen, 0);
	actr__map_fini(&m);

	/* u64 keys that share a bucket in a small table: find each one */
	actr__map_init(&m);
	for (int i = 0; i < 8; i++)
		actr__map_insert_u64(&m, &e[i].node, (uint64_t)i << 40);
	for (int i = 0; i < 8; i++)
		CHECK(actr__map_find_u64(&m, (uint64_t)i << 40) == &e[i].node);
	CHECK(actr__map_find_u64(&m, 1) == NULL);
	actr__map_fini(&m);
}

TEST(map_grow_and_shrink)
{
	struct actr__map m;
	struct ent *e[4096];
	size_t big;

	actr__map_init(&m);
	CHECK_EQ(m.mask, 0); /* empty: the inline bucket */
	for (int i = 0; i < 4096; i++) {
		e[i] = ent_new((uint64_t)i);
		actr__map_insert_u64(&m, &e[i]->node, e[i]->id);
		CHECK(actr__map_size(&m) <= m.mask + 1); /* load <= 1 */
	}
	big = m.mask + 1;
	CHECK(big >= 4096);
	/* removal never resizes (iteration safety) */
	for (int i = 0; i < 4090; i++) {
		actr__map_remove(&m, &e[i]->node);
		free(e[i]);
	}
	CHECK_EQ(m.mask + 1, big);
	/* the next insertion shrinks */
	e[0] = ent_new(100000);
	actr__map_insert_u64(&m, &e[0]->node, 100000);
	CHECK(m.mask + 1 < big);
	CHECK(m.mask + 1 >= 8);
	CHECK(find_u64(&m, 100000) == e[0]);
	for (int i = 4090; i < 4096; i++)
		CHECK(find_u64(&m, (uint64_t)i) == e[i]);
	free_all(&m);
	/* fini leaves a usable empty map */
	CHECK(find_u64(&m, 1) == NULL);
	actr__map_fini(&m);
}

TEST(map_iterate_with_removal)
{
	struct actr__map m;
	struct actr__map_iter it;
	struct actr__map_node *n;
	int count = 0, visits[2000] = { 0 };

	actr__map_init(&m);
	for (uint64_t i = 0; i < 2000; i++) {
		struct ent *e = ent_new(i);

		actr__map_insert_str(&m, &e->node, e->name);
	}
	/* remove and free every even entry while iterating */
	actr__map_foreach(&m, it, n) {
		struct ent *e = actr__map_entry(n, struct ent, node);

		visits[e->id]++;
		count++;
		if (!(e->id & 1)) {
			actr__map_remove(&m, n);
			free(e);
		}
	}
	CHECK_EQ(count, 2000);
	for (int i = 0; i < 2000; i++)
		CHECK_EQ(visits[i], 1);
	CHECK_EQ(actr__map_size(&m), 1000);
	count = 0;
	actr__map_foreach(&m, it, n) {
		CHECK(actr__map_entry(n, struct ent, node)->id & 1);
		count++;
	}
	CHECK_EQ(count, 1000);
	free_all(&m);
	/* empty map */
	actr__map_init(&m);
	count = 0;
	actr__map_foreach(&m, it, n)
		count++;
	CHECK_EQ(count, 0);
	actr__map_fini(&m);
}

static void *failing_malloc(size_t n)
{
	(void)n;
	return NULL;
}

/* Out of memory: growth fails, insertion still works (one long chain in
 * the inline bucket), and growth happens once memory is back. */
TEST(map_enomem)
{
	struct actr__map m;
	struct ent *e[300];
	struct actr__map_iter it;
	struct actr__map_node *n;
	int count = 0;

	actr__map_init(&m);
	actr__sys.malloc = failing_malloc;
	for (int i = 0; i < 300; i++) {
		e[i] = ent_new((uint64_t)i);
		actr__map_insert_str(&m, &e[i]->node, e[i]->name);
	}
	CHECK_EQ(m.mask, 0);
	CHECK(m.b == &m.one);
	for (int i = 0; i < 300; i++)
		CHECK(find_str(&m, e[i]->name) == e[i]);
	actr__map_foreach(&m, it, n)
		count++;
	CHECK_EQ(count, 300);
	actr__map_remove(&m, &e[150]->node);
	CHECK(find_str(&m, e[150]->name) == NULL);
	actr__sys_reset();
	actr__map_insert_str(&m, &e[150]->node, e[150]->name);
	CHECK(m.mask + 1 >= 300);
	for (int i = 0; i < 300; i++)
		CHECK(find_str(&m, e[i]->name) == e[i]);
	/* fail again while grown: shrinking keeps the big table */
	for (int i = 0; i < 299; i++) {
		actr__map_remove(&m, &e[i]->node);
		free(e[i]);
	}
	actr__sys.malloc = failing_malloc;
	e[0] = ent_new(7);
	actr__map_insert_str(&m, &e[0]->node, e[0]->name);
	CHECK(m.mask + 1 >= 300);
	actr__sys_reset();
	actr__map_remove(&m, &e[0]->node);
	free(e[0]);
	free_all(&m);
}

/* An insertion that resizes the table during a walk ends it early
 * instead of reading a freed bucket array (ASan checks the latter). */
TEST(map_insert_during_iteration)
{
	struct actr__map m;
	struct actr__map_iter it;
	struct actr__map_node *n;
	struct ent *e[64];
	int count = 0;

	actr__map_init(&m);
	for (int i = 0; i < 8; i++) {
		e[i] = ent_new((uint64_t)i);
		actr__map_insert_u64(&m, &e[i]->node, e[i]->id);
	}
	actr__map_foreach(&m, it, n) {
		if (count++ == 0)
			for (int i = 8; i < 64; i++) {
				e[i] = ent_new((uint64_t)i);
				actr__map_insert_u64(&m, &e[i]->node, e[i]->id);
			}
	}
	CHECK_EQ(count, 1);
	CHECK_EQ(actr__map_size(&m), 64);
	free_all(&m);
}
