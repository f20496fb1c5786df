/*
 * The peer gate's media transport (runtime/lane.h media_*): tracks on the
 * peer connection to a target, the one calls and streams use (RTP/SRTP
 * bundled with the DataChannels, wire/media.c), renegotiated with
 * RENEGOTIATION_OFFER when a track comes or goes on a live connection.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include <actr/log.h>

#include "runtime/peer_internal.h"
#include "wire/pc.h"

#define TAG "peer"

static struct peer_conn *conn_of(actr_peer_t *p, const Actr__ActrId *target)
{
	char key[ACTR__PEER_KEY];
	struct actr__map_node *n;

	if (!target || !target->realm || !target->type ||
	    actr_id_format(target, key, sizeof(key)) <= 0)
		return NULL;
	n = actr__map_find_str(&p->conns, key);
	return n ? actr__map_entry(n, struct peer_conn, node) : NULL;
}

int actr__peer_media_track(actr__lane_t *lane, const Actr__ActrId *target,
			   const char *track_id, const char *codec, bool add)
{
	actr_peer_t *p = lane->arg;
	struct peer_conn *c = conn_of(p, target);
	int rc;

	if (!c || !c->pc) {
		/* a new connection takes the node's tracks when its pc is
		 * made (actr__peer_media_attach) */
		if (!c && add && !p->closing && p->registered)
			actr__peer_conn_initiate(p, target);
		return 0;
	}
	if (!add)
		return actr__pc_remove_track(c->pc, track_id);
	rc = actr__pc_add_track(c->pc, track_id, codec);
	return rc == -EEXIST ? 0 : rc;
}

int actr__peer_media_send(actr__lane_t *lane, const Actr__ActrId *target,
			  const char *track_id, const uint8_t *data,
			  size_t len, uint32_t ts)
{
	struct peer_conn *c = conn_of(lane->arg, target);

	if (!c || !c->pc || c->st != PC_OPEN)
		return -ACTR_ENOTREADY;
	return actr__pc_send_frame(c->pc, track_id, data, len, ts);
}

int actr__peer_media_keyframe(actr__lane_t *lane, const Actr__ActrId *target,
			      const char *track_id)
{
	struct peer_conn *c = conn_of(lane->arg, target);

	if (!c || !c->pc)
		return -ACTR_ENOTFOUND;
	return actr__pc_request_keyframe(c->pc, track_id);
}

static void attach_one(void *arg, const char *track_id, const char *codec)
{
	struct peer_conn *c = arg;
	int rc = actr__pc_add_track(c->pc, track_id, codec);

	if (rc < 0 && rc != -EEXIST)
		actr_logw(TAG, "track %s toward %s not added: %s", track_id,
			  c->key, actr_strerror(rc));
}

void actr__peer_media_attach(struct peer_conn *c)
{
	static const struct actr__pc_media_cbs cbs = {
		actr__peer_media_frame, actr__peer_media_keyframe_request,
	};

	if (!c->pc)
		return;
	actr__pc_set_media_cbs(c->pc, &cbs);
	actr__media_foreach(c->p->node, c->remote, attach_one, c);
}

void actr__peer_media_frame(void *arg, const char *track_id,
			    const struct actr__media_frame *f)
{
	struct peer_conn *c = arg;

	actr__media_deliver(c->p->node, c->remote, track_id,
			    actr__codec_name(f->codec), f->data, f->len, f->ts,
			    f->keyframe, f->lost);
}

void actr__peer_media_keyframe_request(void *arg, const char *track_id)
{
	struct peer_conn *c = arg;

	actr__media_keyframe(c->p->node, c->remote, track_id);
}

void actr__peer_media_sdp(struct peer_conn *c, const char *sdp, bool offer)
{
	int rc = actr__pc_set_remote_media(c->pc, sdp, strlen(sdp), offer);

	if (rc == -EBUSY)
		return; /* crossed offers: the peer answers ours */
	if (rc < 0) {
		c->p->st.bad_in++;
		actr_logw(TAG, "media renegotiation %s from %s refused: %s",
			  offer ? "offer" : "answer", c->key,
			  actr_strerror(rc));
	}
}
