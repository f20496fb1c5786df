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
#include "test_media_util.h"

#define PY "/usr/bin/python3"

TEST_TIMEOUT(media_aiortc_audio_video, 60)
{
	actr_reactor_t *r = actr_reactor_new();
	struct media_app a = { 0 };
	struct test_peer p;
	char script[PATH_MAX];
	char *argv[] = { PY, script, NULL };
	char *line = malloc(65536);
	static const uint8_t silence[3] = { 0xf8, 0xff, 0xfe };
	int decoded = 0, errors = -1;
	uint64_t end;
	struct actr__media_stats st;

	if (access(PY, X_OK) != 0 ||
	    system(PY " -c 'import aiortc, av, numpy' >/dev/null 2>&1") != 0)
		CHECK(!"python3-aiortc is required (scripts/deps.sh)");
	CHECK(test_source_path("test/media_aiortc.py", script,
			       sizeof(script)));
	test_peer_start(&p, argv);
	media_app_open(&a, r, 15000, "c-audio", "opus");
	end = actr_time_ns() + ACTR_MS(actr_test_scale(40000));
	while (actr_time_ns() < end &&
	       (a.audio < 50 || a.video < 10 || decoded < 50)) {
		CHECK(actr_reactor_run_once(r, 5) >= 0);
		media_app_sdp(&a, &p, NULL);
		while (test_peer_line(&p, line, 65536)) {
			if (media_app_sdp(&a, &p, line))
				continue;
			if (!strncmp(line, "DECODED ", 8)) {
				CHECK_EQ(sscanf(line + 8, "%d %d", &decoded,
						&errors), 2);
				CHECK_EQ(errors, 0);
			}
		}
		/* one 20 ms Opus frame per 20 ms once negotiated */
		media_app_pace(&a, "c-audio", silence, sizeof(silence), 960,
			       20);
	}
	actr__pc_media_stats(a.pc, &st);
	actr_logi("test", "aiortc: %d audio and %d video frames (%zu bytes, "
		  "%d keyframes) received; %d of our %d Opus frames decoded; "
		  "srtp failures %" PRIu64 ", unknown ssrc %" PRIu64
		  ", bad pt %" PRIu64 ", nacks %" PRIu64, a.audio, a.video,
		  a.video_bytes, a.video_keys, decoded, a.sent,
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
	media_app_close(&a);
	test_peer_stop(&p);
	free(line);
	actr_reactor_free(r);
}
