/*
 * Media tracks (include/actr/media.h): a node's tracks it sends (by
 * target), its receive callbacks (by track id), and the seam a gate
 * uses (runtime/lane.h). The RTP/SRTP work is the wire's (wire/media.c);
 * this file never sees a packet. A target in this process gets frames
 * by pointer inside the send call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <actr/log.h>
#include <actr/media.h>

#include "core/list.h"
#include "core/map.h"
#include "runtime/internal.h"
#include "wire/rtp.h"

#define TAG "media"
#define TRACK_ID_MAX 64
#define TRACKS_MAX 256			/* tracks a node sends */

/* A receive callback. */
struct mreg {
	struct actr__map_node node;	/* in ms->regs by track id */
	actr_media_cb cb;
	void *arg;
	char id[];
};

/* A track this node sends. */
struct mtrack {
	struct actr__list link;		/* in ms->tracks */
	Actr__ActrId *target;		/* owned */
	char codec[8];			/* "opus", "VP8", "H264" */
	int kind;			/* ACTR_MEDIA_* */
	char id[TRACK_ID_MAX + 1];
};

struct actr__medias {
	struct actr__map regs;		/* struct mreg */
	struct actr__list tracks;	/* struct mtrack */
	unsigned ntracks;
	actr_media_keyframe_cb kf;	/* keyframe requests */
	void *kf_arg;
	actr_media_stats_t st;
};

static struct actr__medias *medias_get(actr_node_t *n)
{
	struct actr__medias *ms = n->medias;

	if (ms)
		return ms;
	ms = calloc(1, sizeof(*ms));
	if (!ms)
		return NULL;
	actr__map_init(&ms->regs);
	actr__list_init(&ms->tracks);
	n->medias = ms;
	return ms;
}

void actr__media_node_free(actr_node_t *n)
{
	struct actr__medias *ms = n->medias;
	struct actr__map_iter it;
	struct actr__map_node *x;
	struct actr__list *l;

	if (!ms)
		return;
	actr__map_foreach(&ms->regs, it, x) {
		actr__map_remove(&ms->regs, x);
		free(actr__map_entry(x, struct mreg, node));
	}
	actr__map_fini(&ms->regs);
	while ((l = actr__list_pop_head(&ms->tracks))) {
		struct mtrack *t = actr__list_entry(l, struct mtrack, link);

		actr_proto_free(t->target);
		free(t);
	}
	free(ms);
	n->medias = NULL;
}

static bool valid_track_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (!n || n > TRACK_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)id[i] <= 0x20 || id[i] == 0x7f)
			return false;
	return true;
}

static bool str_eq(const char *a, const char *b)
{
	return !strcmp(a ? a : "", b ? b : "");
}

static bool id_equal(const Actr__ActrId *a, const Actr__ActrId *b)
{
	uint32_t ra = a->realm ? a->realm->realm_id : 0;
	uint32_t rb = b->realm ? b->realm->realm_id : 0;

	if (a->serial_number != b->serial_number || ra != rb)
		return false;
	if (!a->type || !b->type)
		return a->type == b->type;
	return str_eq(a->type->manufacturer, b->type->manufacturer) &&
	       str_eq(a->type->name, b->type->name) &&
	       str_eq(a->type->version, b->type->version);
}

static struct mtrack *track_find(struct actr__medias *ms,
				 const Actr__ActrId *target, const char *id)
{
	struct actr__list *l;

	actr__list_foreach(l, &ms->tracks) {
		struct mtrack *t = actr__list_entry(l, struct mtrack, link);

		if (!strcmp(t->id, id) && id_equal(t->target, target))
			return t;
	}
	return NULL;
}

static actr__lane_t *media_lane(actr_node_t *n, const Actr__ActrId *target)
{
	actr_system_t *sys = n->sys;
	actr__lane_t *l;

	if (!sys->resolve)
		return NULL;
	l = sys->resolve(sys->resolve_arg, target);
	return l && l->ops->media_track ? l : NULL;
}

/* The canonical codec name and its kind. */
static const char *codec_canon(const char *codec, int *kind)
{
	if (!codec)
		return NULL;
	if (!strcasecmp(codec, "opus")) {
		*kind = ACTR_MEDIA_AUDIO;
		return "opus";
	}
	*kind = ACTR_MEDIA_VIDEO;
	if (!strcasecmp(codec, "vp8"))
		return "VP8";
	if (!strcasecmp(codec, "h264"))
		return "H264";
	return NULL;
}

static int do_add(actr_node_t *n, const Actr__ActrId *target,
		  const char *track_id, const char *codec, const char *kind)
{
	struct actr__medias *ms;
	struct mtrack *t;
	const char *c;
	actr__lane_t *l;
	int k, rc;

	c = codec_canon(codec, &k);
	if (!target || !target->type || !valid_track_id(track_id) || !c ||
	    !kind || strcasecmp(kind, k == ACTR_MEDIA_AUDIO ? "audio"
							     : "video"))
		return -EINVAL;
	if (!(ms = medias_get(n)))
		return -ENOMEM;
	if (track_find(ms, target, track_id))
		return -EEXIST;
	if (ms->ntracks >= TRACKS_MAX)
		return -ACTR_ETOOBIG;
	t = calloc(1, sizeof(*t));
	if (!t || !(t->target = actr_id_dup(target))) {
		free(t);
		return -ENOMEM;
	}
	strcpy(t->id, track_id);
	strcpy(t->codec, c);
	t->kind = k;
	actr__list_insert_tail(&ms->tracks, &t->link);
	ms->ntracks++;
	if (actr__node_find(n->sys, target))
		return 0; /* in-process: nothing to negotiate */
	l = media_lane(n, target);
	if (!l) {
		rc = -ACTR_EUNAVAILABLE;
		goto out_remove;
	}
	rc = l->ops->media_track(l, target, track_id, c, true);
	if (rc < 0 && rc != -ACTR_ENOTREADY)
		goto out_remove;
	return 0;
out_remove:
	actr__list_remove(&t->link);
	ms->ntracks--;
	actr_proto_free(t->target);
	free(t);
	return rc;
}

static int do_remove(actr_node_t *n, const Actr__ActrId *target,
		     const char *track_id)
{
	struct actr__medias *ms = n->medias;
	struct mtrack *t;
	actr__lane_t *l;

	if (!target || !track_id)
		return -EINVAL;
	if (!ms || !(t = track_find(ms, target, track_id)))
		return -ACTR_ENOTFOUND;
	if (!actr__node_find(n->sys, target) &&
	    (l = media_lane(n, target)))
		l->ops->media_track(l, target, track_id, t->codec, false);
	actr__list_remove(&t->link);
	ms->ntracks--;
	actr_proto_free(t->target);
	free(t);
	return 0;
}

static int do_send(actr_node_t *n, const Actr__ActrId *target,
		   const char *track_id, const actr_media_sample_t *s)
{
	struct actr__medias *ms = n->medias;
	struct mtrack *t;
	actr_node_t *to;
	actr__lane_t *l;
	int rc;

	if (!target || !track_id || !s || !s->data || !s->len)
		return -EINVAL;
	if (!ms || !(t = track_find(ms, target, track_id)))
		return -ACTR_ENOTFOUND;
	to = actr__node_find(n->sys, target);
	if (to) {
		const Actr__ActrId *self = &n->id;

		ms->st.samples_out++;
		ms->st.bytes_out += s->len;
		actr__media_deliver(to, self, track_id, t->codec, s->data,
				    s->len, s->timestamp,
				    actr__frame_is_key(actr__codec_by_name(t->codec),
						       s->data, s->len), 0);
		return 0;
	}
	l = media_lane(n, target);
	if (!l)
		return -ACTR_EUNAVAILABLE;
	rc = l->ops->media_send(l, target, track_id, s->data, s->len,
				s->timestamp);
	if (rc == -ACTR_ENOTREADY)
		ms->st.not_ready++;
	if (rc == 0) {
		ms->st.samples_out++;
		ms->st.bytes_out += s->len;
	}
	return rc;
}

static int do_register(actr_node_t *n, const char *track_id, actr_media_cb cb,
		       void *arg)
{
	struct actr__medias *ms;
	struct mreg *g;
	size_t len;

	if (!valid_track_id(track_id) || !cb)
		return -EINVAL;
	if (!(ms = medias_get(n)))
		return -ENOMEM;
	if (actr__map_find_str(&ms->regs, track_id))
		return -EEXIST;
	len = strlen(track_id);
	g = calloc(1, sizeof(*g) + len + 1);
	if (!g)
		return -ENOMEM;
	memcpy(g->id, track_id, len + 1);
	g->cb = cb;
	g->arg = arg;
	actr__map_insert_str(&ms->regs, &g->node, g->id);
	return 0;
}

static int do_unregister(actr_node_t *n, const char *track_id)
{
	struct actr__medias *ms = n->medias;
	struct actr__map_node *x;

	if (!track_id)
		return -EINVAL;
	if (!ms || !(x = actr__map_find_str(&ms->regs, track_id)))
		return -ACTR_ENOTFOUND;
	actr__map_remove(&ms->regs, x);
	free(actr__map_entry(x, struct mreg, node));
	return 0;
}

int actr__media_deliver(actr_node_t *n, const Actr__ActrId *from,
			const char *track_id, const char *codec,
			const uint8_t *data, size_t len, uint32_t ts,
			bool keyframe, uint32_t lost)
{
	struct actr__medias *ms = medias_get(n);
	struct actr__map_node *x;
	struct mreg *g;
	actr_media_sample_t s;
	int kind;

	if (!ms)
		return -ENOMEM;
	x = actr__map_find_str(&ms->regs, track_id);
	if (!x) {
		ms->st.unregistered++;
		actr_logd(TAG, "frame for unregistered track %s dropped",
			  track_id);
		return -ACTR_ENOTFOUND;
	}
	g = actr__map_entry(x, struct mreg, node);
	memset(&s, 0, sizeof(s));
	s.struct_size = sizeof(s);
	s.data = data;
	s.len = len;
	s.timestamp = ts;
	s.codec = codec_canon(codec, &kind);
	s.kind = kind;
	s.keyframe = keyframe;
	s.lost = lost;
	ms->st.samples_in++;
	ms->st.bytes_in += len;
	ms->st.lost += lost;
	g->cb(from, track_id, &s, g->arg);
	return 0;
}

void actr__media_keyframe(actr_node_t *n, const Actr__ActrId *from,
			  const char *track_id)
{
	struct actr__medias *ms = n->medias;

	if (!ms)
		return;
	ms->st.keyframe_requests++;
	if (ms->kf)
		ms->kf(from, track_id, ms->kf_arg);
}

void actr__media_foreach(actr_node_t *n, const Actr__ActrId *target,
			 void (*fn)(void *arg, const char *track_id,
				    const char *codec),
			 void *arg)
{
	struct actr__medias *ms = n->medias;
	struct actr__list *l;

	if (!ms)
		return;
	actr__list_foreach(l, &ms->tracks) {
		struct mtrack *t = actr__list_entry(l, struct mtrack, link);

		if (id_equal(t->target, target))
			fn(arg, t->id, t->codec);
	}
}

/* ---- public ------------------------------------------------------------- */

int actr_media_add_track(actr_ref_t *ref, const Actr__ActrId *target,
			 const char *track_id, const char *codec,
			 const char *kind)
{
	return ref ? do_add(ref->node, target, track_id, codec, kind)
		   : -EINVAL;
}

int actr_media_remove_track(actr_ref_t *ref, const Actr__ActrId *target,
			    const char *track_id)
{
	return ref ? do_remove(ref->node, target, track_id) : -EINVAL;
}

int actr_media_send_sample(actr_ref_t *ref, const Actr__ActrId *target,
			   const char *track_id, const actr_media_sample_t *s)
{
	return ref ? do_send(ref->node, target, track_id, s) : -EINVAL;
}

int actr_media_register(actr_ref_t *ref, const char *track_id,
			actr_media_cb cb, void *arg)
{
	return ref ? do_register(ref->node, track_id, cb, arg) : -EINVAL;
}

int actr_media_unregister(actr_ref_t *ref, const char *track_id)
{
	return ref ? do_unregister(ref->node, track_id) : -EINVAL;
}

int actr_media_on_keyframe_request(actr_ref_t *ref, actr_media_keyframe_cb cb,
				   void *arg)
{
	struct actr__medias *ms;

	if (!ref)
		return -EINVAL;
	if (!(ms = medias_get(ref->node)))
		return -ENOMEM;
	ms->kf = cb;
	ms->kf_arg = arg;
	return 0;
}

int actr_media_request_keyframe(actr_ref_t *ref, const Actr__ActrId *from,
				const char *track_id)
{
	actr__lane_t *l;

	if (!ref || !from || !track_id)
		return -EINVAL;
	l = media_lane(ref->node, from);
	if (!l || !l->ops->media_keyframe)
		return -ACTR_ENOTFOUND;
	return l->ops->media_keyframe(l, from, track_id);
}

void actr_media_get_stats(actr_ref_t *ref, actr_media_stats_t *st)
{
	memset(st, 0, sizeof(*st));
	if (ref && ref->node->medias)
		*st = ref->node->medias->st;
}

int actr_ctx_add_media_track(actr_ctx_t *ctx, const Actr__ActrId *target,
			     const char *track_id, const char *codec,
			     const char *kind)
{
	return ctx ? do_add(ctx->node, target, track_id, codec, kind)
		   : -EINVAL;
}

int actr_ctx_remove_media_track(actr_ctx_t *ctx, const Actr__ActrId *target,
				const char *track_id)
{
	return ctx ? do_remove(ctx->node, target, track_id) : -EINVAL;
}

int actr_ctx_send_media_sample(actr_ctx_t *ctx, const Actr__ActrId *target,
			       const char *track_id,
			       const actr_media_sample_t *s)
{
	return ctx ? do_send(ctx->node, target, track_id, s) : -EINVAL;
}

int actr_ctx_register_media_track(actr_ctx_t *ctx, const char *track_id,
				  actr_media_cb cb, void *arg)
{
	return ctx ? do_register(ctx->node, track_id, cb, arg) : -EINVAL;
}

int actr_ctx_unregister_media_track(actr_ctx_t *ctx, const char *track_id)
{
	return ctx ? do_unregister(ctx->node, track_id) : -EINVAL;
}
