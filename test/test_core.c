/* Tests of core/: buffers, base64/hex, error names, logging. */
#define _GNU_SOURCE
#include <errno.h>

#include <actr/actr.h>

#include "test.h"

static int wrap_freed;

static void on_wrap_free(void *data, void *arg)
{
	wrap_freed++;
	CHECK(arg == (void *)0x1234);
	free(data);
}

TEST(buf_refcount_slice_wrap)
{
	actr_buf_t *b = actr_buf_copy("hello world", 11);
	actr_buf_t *s, *w;
	char *mem = strdup("abc");

	CHECK(b);
	CHECK_EQ(b->len, 11);
	CHECK_MEM(b->data, "hello world", 11);
	s = actr_buf_slice(b, 6, 5);
	CHECK(s);
	CHECK_MEM(s->data, "world", 5);
	CHECK(actr_buf_slice(b, 6, 6) == NULL); /* past the end */
	CHECK(actr_buf_slice(b, 12, 0) == NULL);
	CHECK_EQ(b->refs, 2);
	actr_buf_unref(b); /* slice keeps the parent alive */
	CHECK_MEM(s->data, "world", 5);
	actr_buf_unref(s);
	w = actr_buf_wrap(mem, 3, on_wrap_free, (void *)0x1234);
	actr_buf_ref(w);
	actr_buf_unref(w);
	CHECK_EQ(wrap_freed, 0);
	actr_buf_unref(w);
	CHECK_EQ(wrap_freed, 1);
	actr_buf_unref(NULL);
}

TEST(base64_roundtrip_and_rejects)
{
	static const struct {
		const char *in, *std, *url;
	} v[] = {
		{ "", "", "" },
		{ "f", "Zg==", "Zg" },
		{ "fo", "Zm8=", "Zm8" },
		{ "foo", "Zm9v", "Zm9v" },
		{ "foob", "Zm9vYg==", "Zm9vYg" },
		{ "\xfb\xff", "+/8=", "-_8" },
	};
	char out[64];
	uint8_t dec[64];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = strlen(v[i].in);

		CHECK_EQ(actr_base64_encode(v[i].in, n, out, 0),
			 strlen(v[i].std));
		CHECK_STR(out, v[i].std);
		actr_base64_encode(v[i].in, n, out, 1);
		CHECK_STR(out, v[i].url);
		CHECK_EQ(actr_base64_decode(v[i].std, strlen(v[i].std), dec,
					    sizeof(dec)),
			 n);
		CHECK_MEM(dec, v[i].in, n);
		CHECK_EQ(actr_base64_decode(v[i].url, strlen(v[i].url), dec,
					    sizeof(dec)),
			 n);
	}
	CHECK_EQ(actr_base64_decode("Zg=", 3, dec, 64), -EINVAL);
	CHECK_EQ(actr_base64_decode("Z", 1, dec, 64), -EINVAL);
	CHECK_EQ(actr_base64_decode("Zm9v!", 5, dec, 64), -EINVAL);
	CHECK_EQ(actr_base64_decode("Zh==", 4, dec, 64), -EINVAL);
	CHECK_EQ(actr_base64_decode("Zm9vYg==", 8, dec, 3), -ENOSPC);
}

TEST(hex_roundtrip_and_rejects)
{
	char out[16];
	uint8_t dec[8];

	CHECK_EQ(actr_hex_encode("\x01\xab\xff", 3, out), 6);
	CHECK_STR(out, "01abff");
	CHECK_EQ(actr_hex_decode("01ABff", 6, dec, 8), 3);
	CHECK_MEM(dec, "\x01\xab\xff", 3);
	CHECK_EQ(actr_hex_decode("abc", 3, dec, 8), -EINVAL);
	CHECK_EQ(actr_hex_decode("zz", 2, dec, 8), -EINVAL);
	CHECK_EQ(actr_hex_decode("0011", 4, dec, 1), -ENOSPC);
}

TEST(strerror_names)
{
	CHECK_STR(actr_strerror(0), "success");
	CHECK_STR(actr_strerror(-ACTR_ETIMEDOUT), "timed out");
	CHECK_STR(actr_strerror(ACTR_EUNKNOWNROUTE), "unknown route");
	CHECK_STR(actr_strerror(-ENOMEM), "Cannot allocate memory");
	CHECK_STR(actr_strerror(-99999), "unknown error");
	CHECK_STR(actr_strerror(-10099), "unknown error");
}

struct log_capture {
	int count;
	actr_log_level_t level;
	char msg[128];
	char subsys[16];
};

static void capture_sink(actr_log_level_t level, const char *subsys,
			 const char *msg, void *arg)
{
	struct log_capture *c = arg;

	c->count++;
	c->level = level;
	snprintf(c->msg, sizeof(c->msg), "%s", msg);
	snprintf(c->subsys, sizeof(c->subsys), "%s", subsys);
}

TEST(log_levels_and_sink)
{
	struct log_capture c = { 0 };

	actr_log_set_sink(capture_sink, &c);
	actr_log_set_level(ACTR_LOG_WARN);
	actr_logi("test", "hidden %d", 1);
	CHECK_EQ(c.count, 0);
	actr_logw("ws", "frame too large (%d > %d)", 70000, 65536);
	CHECK_EQ(c.count, 1);
	CHECK_EQ(c.level, ACTR_LOG_WARN);
	CHECK_STR(c.subsys, "ws");
	CHECK_STR(c.msg, "frame too large (70000 > 65536)");
	actr_log_set_level(ACTR_LOG_TRACE);
	actr_logt("x", "shown");
	CHECK_EQ(c.count, 2);
	actr_log_set_sink(NULL, NULL);
	CHECK_EQ(actr_log_get_level(), ACTR_LOG_TRACE);
}

TEST(random_and_clocks)
{
	uint8_t a[32] = { 0 }, z[32] = { 0 };
	uint64_t t1 = actr_time_ns(), t2;

	CHECK_OK(actr_random(a, sizeof(a)));
	CHECK(memcmp(a, z, sizeof(a)) != 0);
	CHECK(actr_rand64() != actr_rand64());
	t2 = actr_time_ns();
	CHECK(t2 >= t1);
	CHECK(actr_wall_ms() > 1700000000000ull);
}
