/* The C side of the media interop tests (test_media_aiortc.c,
 * test_media_chromium.c): a non-trickle answerer on 127.0.0.1 that counts
 * the frames it receives, and the SDP exchange with the line-protocol peer
 * ("SDP <b64>" both ways, test_pc_util.h). */
#ifndef ACTR_TEST_MEDIA_UTIL_H
#define ACTR_TEST_MEDIA_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/pc.h"
#include "test_pc_util.h"

struct media_app {
	actr__pc_t *pc;
	char *sdp_out;		/* our answer, not yet sent to the peer */
	int state;		/* ACTR__PC_* */
	int audio, video, video_keys, lost;	/* frames received */
	bool first_video_key;	/* the first video frame was a keyframe */
	size_t video_bytes;
	uint64_t next_send;	/* media_app_pace's clock */
	int sent;		/* frames media_app_pace sent */
};

/** Answerer on r with one outgoing track (track_id, codec), its DTLS
 * handshake bounded by handshake_ms (scaled). CHECK fails on error. */
void media_app_open(struct media_app *a, actr_reactor_t *r,
		    unsigned handshake_ms, const char *track_id,
		    const char *codec);

/** Send our pending description to p, and apply line if it is the peer's
 * "SDP <b64>". true when the line was that. */
bool media_app_sdp(struct media_app *a, struct test_peer *p,
		   const char *line);

/** Once connected, send frame (len bytes, RTP timestamp ts_step * sent)
 * on track_id every period_ms; a frame refused as not ready is retried. */
void media_app_pace(struct media_app *a, const char *track_id,
		    const uint8_t *frame, size_t len, uint32_t ts_step,
		    unsigned period_ms);

void media_app_close(struct media_app *a);

#endif
