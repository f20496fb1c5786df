/* core/strbuf.h: the growable text buffer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "test.h"

TEST(strbuf_append_printf_take)
{
	struct actr__strbuf sb;
	size_t len = 0;
	char *s;

	actr__strbuf_init(&sb);
	CHECK_EQ(actr__strbuf_puts(&sb, "{\"keys\":["), 0);
	for (int i = 0; i < 200; i++)
		CHECK_EQ(actr__strbuf_printf(&sb, "%s%d", i ? "," : "", i), 0);
	CHECK_EQ(actr__strbuf_append(&sb, "]}", 2), 0);
	s = actr__strbuf_take(&sb, &len);
	CHECK(s != NULL);
	CHECK_EQ(len, strlen(s));
	CHECK(strncmp(s, "{\"keys\":[0,1,2,", 15) == 0);
	CHECK(strcmp(s + len - 6, ",199]}") == 0);
	CHECK(sb.p == NULL && sb.len == 0);
	free(s);
}

TEST(strbuf_empty_take)
{
	struct actr__strbuf sb;
	size_t len = 99;
	char *s;

	actr__strbuf_init(&sb);
	s = actr__strbuf_take(&sb, &len);
	CHECK(s != NULL);
	CHECK_EQ(len, 0);
	CHECK_STR(s, "");
	free(s);
	actr__strbuf_free(&sb);
}

/* Exactly filling the capacity keeps room for the NUL. */
TEST(strbuf_boundaries)
{
	struct actr__strbuf sb;
	char big[300];

	memset(big, 'x', sizeof(big));
	actr__strbuf_init(&sb);
	for (size_t n = 0; n < sizeof(big); n++) {
		CHECK_EQ(actr__strbuf_append(&sb, big, n), 0);
		CHECK(sb.len < sb.cap);
		CHECK_EQ(sb.p[sb.len], 0);
	}
	actr__strbuf_free(&sb);
	CHECK(sb.p == NULL);
}

static void *failing_malloc(size_t n)
{
	(void)n;
	return NULL;
}

/* A failed growth is sticky: later appends do nothing, take reports it,
 * nothing leaks (ASan). */
TEST(strbuf_enomem)
{
	struct actr__strbuf sb;
	char big[200];
	size_t len = 7;

	memset(big, 'y', sizeof(big));
	actr__strbuf_init(&sb);
	CHECK_EQ(actr__strbuf_puts(&sb, "abc"), 0);
	actr__sys.malloc = failing_malloc;
	CHECK_EQ(actr__strbuf_puts(&sb, "def"), 0);	/* fits: no growth */
	CHECK_EQ(actr__strbuf_append(&sb, big, sizeof(big)), -ENOMEM);
	actr__sys_reset();
	CHECK_EQ(actr__strbuf_puts(&sb, "g"), -ENOMEM);
	CHECK_EQ(actr__strbuf_printf(&sb, "%d", 1), -ENOMEM);
	CHECK(actr__strbuf_take(&sb, &len) == NULL);
	CHECK_EQ(len, 7);
	CHECK(sb.p == NULL && !sb.oom);
	/* the first allocation failing */
	actr__sys.malloc = failing_malloc;
	CHECK_EQ(actr__strbuf_printf(&sb, "%s", "x"), -ENOMEM);
	CHECK(actr__strbuf_take(&sb, NULL) == NULL);
	CHECK(actr__strbuf_take(&sb, NULL) == NULL);	/* empty: first alloc */
	actr__sys_reset();
}
