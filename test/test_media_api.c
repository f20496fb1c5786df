/* The media API (include/actr/media.h) on in-process nodes: argument
 * checks, track bookkeeping, delivery by pointer with the keyframe flag
 * read from the frame, unregistered tracks counted. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include <actr/actr.h>

#include "test.h"

struct got {
	int n;
	size_t len;
	uint32_t ts;
	bool key;
	char codec[8];
	int kind;
};

static void on_frame(const Actr__ActrId *from, const char *track_id,
		     const actr_media_sample_t *s, void *arg)
{
	struct got *g = arg;

	CHECK(from);
	CHECK_STR(track_id, "cam");
	g->n++;
	g->len = s->len;
	g->ts = s->timestamp;
	g->key = s->keyframe;
	g->kind = s->kind;
	snprintf(g->codec, sizeof(g->codec), "%s", s->codec);
}

TEST(media_api_in_process)
{
	actr_reactor_t *r = actr_reactor_new();
	actr_system_t *sys = actr_system_new(r, NULL);
	actr_ref_t *a, *b;
	const Actr__ActrId *to;
	struct got g = { 0 };
	uint8_t f[100] = { 1 }; /* VP8 interframe: P bit set */
	actr_media_sample_t s = { ACTR_OPTS(s) };
	actr_media_stats_t st;

	CHECK_OK(actr_node_start(actr_node_new(sys,
		actr_workload_new("acme", "a", "1.0.0"), 0), &a));
	CHECK_OK(actr_node_start(actr_node_new(sys,
		actr_workload_new("acme", "b", "1.0.0"), 0), &b));
	to = actr_ref_id(b);
	CHECK_EQ(actr_media_register(b, "", on_frame, &g), -EINVAL);
	CHECK_EQ(actr_media_register(b, "a b", on_frame, &g), -EINVAL);
	CHECK_OK(actr_media_register(b, "cam", on_frame, &g));
	CHECK_EQ(actr_media_register(b, "cam", on_frame, &g), -EEXIST);
	CHECK_EQ(actr_media_add_track(a, to, "cam", "VP9", "video"), -EINVAL);
	CHECK_EQ(actr_media_add_track(a, to, "cam", "opus", "video"),
		 -EINVAL);
	CHECK_OK(actr_media_add_track(a, to, "cam", "vp8", "video"));
	CHECK_EQ(actr_media_add_track(a, to, "cam", "VP8", "video"), -EEXIST);
	s.data = f;
	s.len = sizeof(f);
	s.timestamp = 4242;
	CHECK_EQ(actr_media_send_sample(a, to, "mic", &s), -ACTR_ENOTFOUND);
	CHECK_OK(actr_media_send_sample(a, to, "cam", &s));
	CHECK_EQ(g.n, 1);
	CHECK_EQ(g.len, sizeof(f));
	CHECK_EQ(g.ts, 4242);
	CHECK(!g.key);
	CHECK_STR(g.codec, "VP8");
	CHECK_EQ(g.kind, ACTR_MEDIA_VIDEO);
	f[0] = 0; /* keyframe */
	CHECK_OK(actr_media_send_sample(a, to, "cam", &s));
	CHECK(g.key);
	CHECK_OK(actr_media_unregister(b, "cam"));
	CHECK_EQ(actr_media_unregister(b, "cam"), -ACTR_ENOTFOUND);
	CHECK_OK(actr_media_send_sample(a, to, "cam", &s));
	CHECK_EQ(g.n, 2);
	actr_media_get_stats(b, &st);
	CHECK_EQ(st.samples_in, 2);
	CHECK_EQ(st.unregistered, 1);
	actr_media_get_stats(a, &st);
	CHECK_EQ(st.samples_out, 3);
	CHECK_OK(actr_media_remove_track(a, to, "cam"));
	CHECK_EQ(actr_media_remove_track(a, to, "cam"), -ACTR_ENOTFOUND);
	CHECK_EQ(actr_media_send_sample(a, to, "cam", &s), -ACTR_ENOTFOUND);
	actr_system_free(sys);
	actr_reactor_free(r);
}
