/* Interop: media tracks between this project and headless Chromium
 * (Debian's chromium, fake camera and microphone, driven through the
 * DevTools protocol by test/media_chromium.py). Chromium offers its
 * camera (VP8) and microphone (Opus) and the four DataChannels; we answer
 * and put our VP8 track into its video transceiver. We receive whole
 * frames of both of its tracks; Chromium decodes the VP8 frames we send
 * (encoded by libvpx in the driver: this project carries encoded media
 * and has no encoder), as its getStats() reports. */
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
#define CHROMIUM "/usr/bin/chromium"
#define MAXF 256

struct app {
	actr__pc_t *pc;
	char *sdp_out;
	int state;
	int audio, video, video_keys;
	int lost;
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
	a->video++;
	a->video_keys += f->keyframe;
}

static const struct actr__pc_cbs acbs = {
	a_description, NULL, a_state, a_message, NULL,
};

static const struct actr__pc_media_cbs amcbs = { a_frame, NULL };

/* The integer after "\"key\":" inside the object after "\"obj\":". */
static long stat_of(const char *json, const char *obj, const char *key)
{
	char pat[64];
	const char *o, *k;

	snprintf(pat, sizeof(pat), "\"%s\":{", obj);
	o = strstr(json, pat);
	if (!o)
		return -1;
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	k = strstr(o, pat);
	if (!k || strchr(o, '}') < k)
		return -1;
	return strtol(k + strlen(pat), NULL, 10);
}

TEST_TIMEOUT(media_chromium_vp8_opus, 90)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__pc_config c = { 0 };
	struct app a = { 0 };
	struct test_peer p;
	char script[PATH_MAX], profile[PATH_MAX];
	char *argv[] = { PY, script, CHROMIUM, profile, NULL };
	char *line = malloc(1 << 20), stats[4096] = "";
	uint8_t *fr[MAXF];
	size_t flen[MAXF];
	int nfr = 0, sent = 0;
	long decoded = 0;
	uint64_t end, next_send = 0;
	struct actr__media_stats st;

	if (access(CHROMIUM, X_OK) != 0)
		actr_test_skip("no " CHROMIUM " (Debian package chromium)");
	if (system(PY " -c 'import av, numpy, websockets' >/dev/null 2>&1"))
		CHECK(!"python3-av, numpy, websockets are required");
	CHECK(test_source_path("test/media_chromium.py", script,
			       sizeof(script)));
	snprintf(profile, sizeof(profile), "%s/chromium", actr_test_tmpdir());
	test_peer_start(&p, argv);
	c.ice.local_addrs[0] = "127.0.0.1";
	c.trickle = false;
	c.handshake_timeout_ms = (unsigned)actr_test_scale(20000);
	a.pc = actr__pc_new(r, false, NULL, &c, &acbs, &a);
	CHECK(a.pc);
	actr__pc_set_media_cbs(a.pc, &amcbs);
	CHECK_OK(actr__pc_add_track(a.pc, "c-video", "VP8"));
	end = actr_time_ns() + ACTR_MS(actr_test_scale(60000));
	while (actr_time_ns() < end &&
	       (a.audio < 50 || a.video < 20 || decoded < 30)) {
		CHECK(actr_reactor_run_once(r, 5) >= 0);
		if (a.sdp_out) {
			test_peer_put_b64(&p, "SDP", a.sdp_out);
			free(a.sdp_out);
			a.sdp_out = NULL;
		}
		while (test_peer_line(&p, line, 1 << 20)) {
			if (!strncmp(line, "VP8 ", 4)) {
				char *sp = strrchr(line, ' ');
				size_t bl;
				ssize_t n;

				CHECK(nfr < MAXF && sp);
				*sp = 0;
				bl = strlen(line + 4);
				fr[nfr] = malloc(bl);
				CHECK(fr[nfr]);
				n = actr_base64_decode(line + 4, bl, fr[nfr], bl);
				CHECK(n > 0);
				flen[nfr++] = (size_t)n;
			} else if (!strncmp(line, "SDP ", 4)) {
				char *sdp = test_peer_b64_arg(line);

				CHECK_OK(actr__pc_set_remote(a.pc, sdp,
							     strlen(sdp)));
				free(sdp);
			} else if (!strncmp(line, "STATS ", 6)) {
				snprintf(stats, sizeof(stats), "%s", line + 6);
				decoded = stat_of(stats, "in_video",
						  "framesDecoded");
			} else if (!strncmp(line, "ERROR ", 6)) {
				actr_logw("test", "chromium: %s", line + 6);
				CHECK(!"chromium driver failed");
			}
		}
		/* 30 frames/s of our VP8 track, looping the encoded clip
		 * (it starts with a keyframe) */
		if (a.state == ACTR__PC_CONNECTED && nfr &&
		    actr_time_ns() >= next_send) {
			int k = sent % nfr;
			int rc = actr__pc_send_frame(a.pc, "c-video", fr[k],
						     flen[k],
						     3000u * (uint32_t)sent);

			CHECK(rc == 0 || rc == -ACTR_ENOTREADY);
			if (rc == 0)
				sent++;
			next_send = actr_time_ns() + ACTR_MS(33);
		}
	}
	actr__pc_media_stats(a.pc, &st);
	actr_logi("test", "chromium: %d audio and %d video frames received "
		  "(lost %d); we sent %d VP8 frames; chromium stats %s; "
		  "srtp failures %" PRIu64 ", unknown ssrc %" PRIu64
		  ", bad pt %" PRIu64, a.audio, a.video, a.lost, sent, stats,
		  st.srtp_auth_fail, st.unknown_ssrc, st.bad_pt);
	CHECK_EQ(a.state, ACTR__PC_CONNECTED);
	CHECK(a.audio >= 50);
	CHECK(a.video >= 20);
	/* a keyframe came (the first frame on a slow receiver, e.g. under
	 * valgrind, may follow a loss: then a PLI brought one) */
	CHECK(a.video_keys >= 1);
	CHECK(decoded >= 30);
	CHECK_EQ(stat_of(stats, "in_video", "framesDropped"), 0);
	CHECK_EQ(st.srtp_auth_fail, 0);
	CHECK_EQ(st.malformed, 0);
	actr__pc_free(a.pc);
	test_peer_stop(&p);
	for (int i = 0; i < nfr; i++)
		free(fr[i]);
	free(a.sdp_out);
	free(line);
	actr_reactor_free(r);
}
