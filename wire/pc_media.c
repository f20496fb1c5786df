/*
 * The media layout of a peer connection. See pc_media.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "wire/pc_media.h"

static bool mid_used(const struct actr__sdp *s, const char *mid)
{
	if (!strcmp(*s->mid ? s->mid : "0", mid))
		return true;
	for (unsigned i = 0; i < s->nmedia; i++)
		if (!strcmp(s->media[i].mid, mid))
			return true;
	return false;
}

int actr__layout_add_track(struct actr__sdp *local,
			   const struct actr__sdp *remote, actr__media_t *m,
			   const char *track_id, int codec, const char *cname)
{
	return actr__layout_attach(local, remote, m, track_id, codec, cname,
				   false);
}

int actr__layout_attach(struct actr__sdp *local,
			const struct actr__sdp *remote, actr__media_t *m,
			const char *track_id, int codec, const char *cname,
			bool reuse_only)
{
	struct actr__sdp_media *md = NULL;
	bool video = actr__codec_is_video(codec);
	int rc;

	if (!track_id || !*track_id || strlen(track_id) > ACTR__TRACK_ID_MAX ||
	    actr__codec_pt(codec) < 0)
		return -EINVAL;
	for (unsigned i = 0; i < local->nmedia; i++) {
		const struct actr__sdp_media *x = &local->media[i];

		if ((x->dir & ACTR__SDP_SENDONLY) &&
		    !strcmp(x->track_id, track_id))
			return -EEXIST;
	}
	/* a section the peer opened for us to send on (a browser's
	 * sendrecv transceiver) */
	for (unsigned i = 0; remote && i < local->nmedia && i < remote->nmedia;
	     i++) {
		struct actr__sdp_media *x = &local->media[i];

		if (!x->rejected && x->video == video && x->codec == codec &&
		    !(x->dir & ACTR__SDP_SENDONLY) &&
		    (remote->media[i].dir & ACTR__SDP_RECVONLY)) {
			md = x;
			break;
		}
	}
	if (!md && reuse_only)
		return -ACTR_ENOTFOUND;
	if (!md) {
		if (local->nmedia == ACTR__SDP_MAX_MEDIA)
			return -ACTR_ETOOBIG;
		md = &local->media[local->nmedia];
		memset(md, 0, sizeof(*md));
		for (unsigned n = 1; n < 1000; n++) {
			snprintf(md->mid, sizeof(md->mid), "%u", n);
			if (!mid_used(local, md->mid))
				break;
		}
		md->video = video;
		md->codec = codec;
		md->pt = (uint8_t)actr__codec_pt(codec);
		local->nmedia++;
	}
	actr_random(&md->ssrc, sizeof(md->ssrc));
	md->ssrc |= 1; /* never 0 ("none") */
	rc = actr__media_add_send(m, track_id, codec, md->pt, md->ssrc);
	if (rc < 0) {
		if (md == &local->media[local->nmedia - 1] &&
		    !(md->dir & ACTR__SDP_RECVONLY) && !*md->recv_track)
			local->nmedia--;
		md->ssrc = 0;
		return rc;
	}
	snprintf(md->track_id, sizeof(md->track_id), "%s", track_id);
	snprintf(md->stream_id, sizeof(md->stream_id), "actr-%s",
		 video ? "video" : "audio");
	snprintf(md->cname, sizeof(md->cname), "%s", cname);
	md->dir |= ACTR__SDP_SENDONLY;
	md->ready = false;
	return 0;
}

int actr__layout_remove_track(struct actr__sdp *local, actr__media_t *m,
			      const char *track_id)
{
	for (unsigned i = 0; i < local->nmedia; i++) {
		struct actr__sdp_media *x = &local->media[i];

		if (!(x->dir & ACTR__SDP_SENDONLY) ||
		    strcmp(x->track_id, track_id))
			continue;
		actr__media_remove_send(m, track_id);
		x->dir &= (uint8_t)~ACTR__SDP_SENDONLY;
		x->track_id[0] = 0;
		x->ssrc = 0;
		x->ready = false;
		return 0;
	}
	return -ACTR_ENOTFOUND;
}

static void stop_recv(actr__media_t *m, struct actr__sdp_media *lm)
{
	if (*lm->recv_track) {
		actr__media_remove_recv(m, lm->recv_track);
		lm->recv_track[0] = 0;
	}
}

void actr__layout_apply(struct actr__sdp *local, const struct actr__sdp *remote,
			actr__media_t *m, bool offer)
{
	for (unsigned i = 0; i < remote->nmedia; i++) {
		const struct actr__sdp_media *rm = &remote->media[i];
		struct actr__sdp_media *lm;
		const char *rid;

		if (i >= local->nmedia) {
			if (!offer)
				break; /* an answer cannot add sections */
			lm = &local->media[local->nmedia++];
			memset(lm, 0, sizeof(*lm));
			snprintf(lm->mid, sizeof(lm->mid), "%s", rm->mid);
			lm->video = rm->video;
			lm->codec = rm->codec;
			lm->pt = rm->pt;
		}
		lm = &local->media[i];
		if (rm->rejected || !rm->codec || rm->video != lm->video) {
			lm->rejected = true;
			lm->ready = false;
			if (*lm->track_id)
				actr__media_set_send(m, lm->track_id, lm->pt,
						     false);
			stop_recv(m, lm);
			continue;
		}
		if (offer) {
			/* a rejected section may come back in an offer */
			lm->rejected = false;
			lm->codec = rm->codec;
			lm->pt = rm->pt;
			lm->dir = (uint8_t)((*lm->track_id ?
					     ACTR__SDP_SENDONLY : 0) |
					    (rm->dir & ACTR__SDP_SENDONLY ?
					     ACTR__SDP_RECVONLY : 0));
		} else if (lm->rejected) {
			continue;
		}
		if (!(rm->dir & ACTR__SDP_RECVONLY))
			lm->dir &= (uint8_t)~ACTR__SDP_SENDONLY;
		if (!(rm->dir & ACTR__SDP_SENDONLY))
			lm->dir &= (uint8_t)~ACTR__SDP_RECVONLY;
		lm->ready = (lm->dir & ACTR__SDP_SENDONLY) &&
			    (rm->dir & ACTR__SDP_RECVONLY);
		if (*lm->track_id)
			actr__media_set_send(m, lm->track_id, lm->pt,
					     lm->ready);
		/* what the peer sends here: its msid track id, or the mid
		 * when it names none */
		rid = *rm->track_id ? rm->track_id : rm->mid;
		if ((rm->dir & ACTR__SDP_SENDONLY) &&
		    (lm->dir & ACTR__SDP_RECVONLY)) {
			if (*lm->recv_track && strcmp(lm->recv_track, rid))
				stop_recv(m, lm);
			if (actr__media_add_recv(m, rid, rm->codec, rm->pt,
						 rm->ssrc) == 0)
				snprintf(lm->recv_track,
					 sizeof(lm->recv_track), "%s", rid);
		} else {
			stop_recv(m, lm);
		}
	}
}

void actr__layout_truncate(struct actr__sdp *local, actr__media_t *m,
			   unsigned n)
{
	while (local->nmedia > n) {
		struct actr__sdp_media *x = &local->media[--local->nmedia];

		if (*x->track_id)
			actr__media_set_send(m, x->track_id, x->pt, false);
		stop_recv(m, x);
	}
}
