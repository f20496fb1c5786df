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
#include "test_media_util.h"

#define PY "/usr/bin/python3"
#define CHROMIUM "/usr/bin/chromium"
#define MAXF 256

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
	struct media_app a = { 0 };
	struct test_peer p;
	char script[PATH_MAX], profile[PATH_MAX];
	char *argv[] = { PY, script, CHROMIUM, profile, NULL };
	char *line = malloc(1 << 20), stats[4096] = "";
	uint8_t *fr[MAXF];
	size_t flen[MAXF];
	int nfr = 0;
	long decoded = 0;
	uint64_t end;
	struct actr__media_stats st;

	if (access(CHROMIUM, X_OK) != 0)
		actr_test_skip("no " CHROMIUM " (Debian package chromium)");
	if (system(PY " -c 'import av, numpy, websockets' >/dev/null 2>&1"))
		CHECK(!"python3-av, numpy, websockets are required");
	CHECK(test_source_path("test/media_chromium.py", script,
			       sizeof(script)));
	snprintf(profile, sizeof(profile), "%s/chromium", actr_test_tmpdir());
	test_peer_start(&p, argv);
	media_app_open(&a, r, 20000, "c-video", "VP8");
	end = actr_time_ns() + ACTR_MS(actr_test_scale(60000));
	while (actr_time_ns() < end &&
	       (a.audio < 50 || a.video < 20 || decoded < 30)) {
		CHECK(actr_reactor_run_once(r, 5) >= 0);
		media_app_sdp(&a, &p, NULL);
		while (test_peer_line(&p, line, 1 << 20)) {
			if (media_app_sdp(&a, &p, line))
				continue;
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
		if (nfr)
			media_app_pace(&a, "c-video", fr[a.sent % nfr],
				       flen[a.sent % nfr], 3000, 33);
	}
	actr__pc_media_stats(a.pc, &st);
	actr_logi("test", "chromium: %d audio and %d video frames received "
		  "(lost %d); we sent %d VP8 frames; chromium stats %s; "
		  "srtp failures %" PRIu64 ", unknown ssrc %" PRIu64
		  ", bad pt %" PRIu64, a.audio, a.video, a.lost, a.sent, stats,
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
	media_app_close(&a);
	test_peer_stop(&p);
	for (int i = 0; i < nfr; i++)
		free(fr[i]);
	free(line);
	actr_reactor_free(r);
}
