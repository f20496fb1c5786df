/* Interop: media tracks between this project and aiortc (Debian's
 * python3-aiortc, its own Opus and VP8 encoders and decoders). aiortc
 * offers audio (sendrecv), video and the four DataChannels; we answer,
 * putting our Opus track into its audio transceiver. We receive whole
 * Opus and VP8 frames from its encoders (the first video frame a
 * keyframe, nothing lost on loopback); aiortc decodes the Opus frames we
 * send (3-byte CELT packets) with libopus and reports no error. The
 * Python side is test/media_aiortc.py. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <unistd.h>

#include <actr/actr.h>

#include "core/internal.h"
#include "wire/pc.h"
#include "test.h"
#include "test_pc_util.h"

#define PY "/usr/bin/python3"

struct app {
	actr__pc_t *pc;
	char *sdp_out;
	int state;
	int audio, video, video_keys, lost;
	bool first_video_key;
	size_t video_bytes;
};

static void a_description(void *arg, bool offer, const char *sdp)
{
	struct app *a = arg;

	(void)offer;
	free(a->sdp_out);
	a->sdp_out = strdup(sdp);
}

static void a_state(void *arg, int state, int err)
{
	(void)err;
	((struct app *)arg)->state = state;
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
	struct app *a = arg;

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

TEST_TIMEOUT(media_aiortc_audio_video, 60)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__pc_config c = { 0 };
	struct app a = { 0 };
	struct test_peer p;
	char script[PATH_MAX];
	char *argv[] = { PY, script, NULL };
	char *line = malloc(65536);
	static const uint8_t silence[3] = { 0xf8, 0xff, 0xfe };
	int decoded = 0, errors = -1, sent = 0;
	uint64_t end, next_send = 0;
	struct actr__media_stats st;

	if (access(PY, X_OK) != 0 ||
	    system(PY " -c 'import aiortc, av, numpy' >/dev/null 2>&1") != 0)
		CHECK(!"python3-aiortc is required (scripts/deps.sh)");
	CHECK(test_source_path("test/media_aiortc.py", script,
			       sizeof(script)));
	test_peer_start(&p, argv);
	c.ice.local_addrs[0] = "127.0.0.1";
	c.trickle = false;
	c.handshake_timeout_ms = (unsigned)actr_test_scale(15000);
	a.pc = actr__pc_new(r, false, NULL, &c, &acbs, &a);
	CHECK(a.pc);
	actr__pc_set_media_cbs(a.pc, &amcbs);
	CHECK_OK(actr__pc_add_track(a.pc, "c-audio", "opus"));
	end = actr_time_ns() + ACTR_MS(actr_test_scale(40000));
	while (actr_time_ns() < end &&
	       (a.audio < 50 || a.video < 10 || decoded < 50)) {
		CHECK(actr_reactor_run_once(r, 5) >= 0);
		if (a.sdp_out) {
			test_peer_put_b64(&p, "SDP", a.sdp_out);
			free(a.sdp_out);
			a.sdp_out = NULL;
		}
		while (test_peer_line(&p, line, 65536)) {
			if (!strncmp(line, "SDP ", 4)) {
				char *sdp = test_peer_b64_arg(line);

				CHECK_OK(actr__pc_set_remote(a.pc, sdp,
							     strlen(sdp)));
				free(sdp);
			} else if (!strncmp(line, "DECODED ", 8)) {
				CHECK_EQ(sscanf(line + 8, "%d %d", &decoded,
						&errors), 2);
				CHECK_EQ(errors, 0);
			}
		}
		/* one 20 ms Opus frame per 20 ms once negotiated */
		if (a.state == ACTR__PC_CONNECTED &&
		    actr_time_ns() >= next_send) {
			int rc = actr__pc_send_frame(a.pc, "c-audio", silence,
						     sizeof(silence),
						     960u * (uint32_t)sent);

			CHECK(rc == 0 || rc == -ACTR_ENOTREADY);
			if (rc == 0)
				sent++;
			next_send = actr_time_ns() + ACTR_MS(20);
		}
	}
	actr__pc_media_stats(a.pc, &st);
	actr_logi("test", "aiortc: %d audio and %d video frames (%zu bytes, "
		  "%d keyframes) received; %d of our %d Opus frames decoded; "
		  "srtp failures %" PRIu64 ", unknown ssrc %" PRIu64
		  ", bad pt %" PRIu64 ", nacks %" PRIu64, a.audio, a.video,
		  a.video_bytes, a.video_keys, decoded, sent,
		  st.srtp_auth_fail, st.unknown_ssrc, st.bad_pt,
		  st.nacks_sent);
	CHECK_EQ(a.state, ACTR__PC_CONNECTED);
	CHECK(a.audio >= 50);
	CHECK(a.video >= 10);
	CHECK(a.first_video_key);
	CHECK(a.video_bytes > 1000);
	CHECK_EQ(a.lost, 0);
	CHECK(decoded >= 50);
	CHECK_EQ(errors, 0);
	CHECK_EQ(st.srtp_auth_fail, 0);
	CHECK_EQ(st.malformed, 0);
	actr__pc_free(a.pc);
	test_peer_stop(&p);
	free(a.sdp_out);
	free(line);
	actr_reactor_free(r);
}
