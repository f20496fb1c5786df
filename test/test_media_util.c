/* Shared C side of the media interop tests: see test_media_util.h. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <actr/actr.h>

#include "core/internal.h"
#include "test.h"
#include "test_media_util.h"

static void a_description(void *arg, bool offer, const char *sdp)
{
	struct media_app *a = arg;

	(void)offer;
	free(a->sdp_out);
	a->sdp_out = strdup(sdp);
}

static void a_state(void *arg, int state, int err)
{
	(void)err;
	((struct media_app *)arg)->state = state;
}

static void a_message(void *arg, int lane, actr_buf_t *msg)
{
	(void)arg;
	(void)lane;
	actr_buf_unref(msg);
}

static void a_frame(void *arg, const char *track_id,
		    const struct actr__media_frame *f)
{
	struct media_app *a = arg;

	(void)track_id;
	a->lost += (int)f->lost;
	if (f->codec == ACTR__CODEC_OPUS) {
		a->audio++;
		return;
	}
	if (!a->video)
		a->first_video_key = f->keyframe;
	a->video++;
	a->video_keys += f->keyframe;
	a->video_bytes += f->len;
}

static const struct actr__pc_cbs acbs = {
	a_description, NULL, a_state, a_message, NULL,
};

static const struct actr__pc_media_cbs amcbs = { a_frame, NULL };

void media_app_open(struct media_app *a, actr_reactor_t *r,
		    unsigned handshake_ms, const char *track_id,
		    const char *codec)
{
	struct actr__pc_config c = { 0 };

	c.ice.local_addrs[0] = "127.0.0.1";
	c.trickle = false;
	c.handshake_timeout_ms = (unsigned)actr_test_scale(handshake_ms);
	a->pc = actr__pc_new(r, false, NULL, &c, &acbs, a);
	CHECK(a->pc);
	actr__pc_set_media_cbs(a->pc, &amcbs);
	CHECK_OK(actr__pc_add_track(a->pc, track_id, codec));
}

bool media_app_sdp(struct media_app *a, struct test_peer *p,
		   const char *line)
{
	char *sdp;

	if (a->sdp_out) {
		test_peer_put_b64(p, "SDP", a->sdp_out);
		free(a->sdp_out);
		a->sdp_out = NULL;
	}
	if (!line || strncmp(line, "SDP ", 4))
		return false;
	sdp = test_peer_b64_arg(line);
	CHECK_OK(actr__pc_set_remote(a->pc, sdp, strlen(sdp)));
	free(sdp);
	return true;
}

void media_app_pace(struct media_app *a, const char *track_id,
		    const uint8_t *frame, size_t len, uint32_t ts_step,
		    unsigned period_ms)
{
	int rc;

	if (a->state != ACTR__PC_CONNECTED || actr_time_ns() < a->next_send)
		return;
	rc = actr__pc_send_frame(a->pc, track_id, frame, len,
				 ts_step * (uint32_t)a->sent);
	CHECK(rc == 0 || rc == -ACTR_ENOTREADY);
	if (rc == 0)
		a->sent++;
	a->next_send = actr_time_ns() + ACTR_MS(period_ms);
}

void media_app_close(struct media_app *a)
{
	actr__pc_free(a->pc);
	a->pc = NULL;
	free(a->sdp_out);
	a->sdp_out = NULL;
}
