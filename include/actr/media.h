/*
 * Media tracks: encoded audio and video as RTP over SRTP (PROTOCOL.md 7)
 * on the peer connection an actor already has with its target (BUNDLE:
 * the same ICE path and DTLS session as the DataChannels), interoperable
 * with browsers and other WebRTC stacks. The runtime carries encoded
 * frames; it neither encodes nor decodes.
 *
 *   sender                                         receiver
 *   actr_media_add_track(ref, &peer, "cam", "VP8", "video")
 *                                                  actr_media_register(ref,
 *                                                      "cam", on_frame, arg)
 *   actr_media_send_sample(ref, &peer, "cam", &sample)   -> on_frame()
 *
 * Codecs: "opus" (audio, PT 111, 48 kHz clock, one frame per packet),
 * "VP8" (video, PT 96, RFC 7741), "H264" (video, PT 102, RFC 6184
 * packetization-mode 1: single NAL units, STAP-A, FU-A; frames in Annex B
 * form, delivered with 4-byte start codes). A sample is one encoded frame
 * and its RTP timestamp (48 kHz units for Opus, 90 kHz for video).
 *
 * Adding or removing a track on a live connection renegotiates it
 * (RENEGOTIATION_OFFER); DataChannels and calls are unaffected. Until the
 * peer has answered, actr_media_send_sample returns -ACTR_ENOTREADY; a
 * target with no connection gets one set up (the track is part of it).
 * Tracks stay with the node: a connection set up again carries them.
 *
 * Receiving: frames are reassembled from RTP (video reordered, a lost
 * packet asked again by NACK and answered from the sender's bounded
 * retransmission buffer); a frame that cannot be completed is skipped,
 * the loss reported in the next frame's `lost`, and a keyframe requested
 * from the sender (PLI), whose keyframe callback then runs. Tampered,
 * replayed, malformed or unannounced packets are dropped and counted.
 * Reactor thread only.
 */
#ifndef ACTR_MEDIA_H
#define ACTR_MEDIA_H

#include <actr/api.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <actr/proto.h>
#include <actr/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
	ACTR_MEDIA_AUDIO = 1,
	ACTR_MEDIA_VIDEO = 2,
};

typedef struct actr_media_sample {
	uint32_t struct_size;		/* sizeof as compiled (0 = this
					 * header's): <actr/util.h> ACTR_OPTS */
	const uint8_t *data;		/* one encoded frame (borrowed) */
	size_t len;
	uint32_t timestamp;		/* RTP timestamp */
	const char *codec;		/* received: "opus", "VP8", "H264" */
	int kind;			/* received: ACTR_MEDIA_AUDIO/VIDEO */
	bool keyframe;			/* received: the frame is a keyframe
					 * (always true for audio) */
	uint32_t lost;			/* received: RTP packets lost before
					 * this frame (0: none) */
} actr_media_sample_t;

/* A frame of track_id from the actor `from`; s and its data are valid
 * during the call. */
typedef void (*actr_media_cb)(const Actr__ActrId *from, const char *track_id,
			      const actr_media_sample_t *s, void *arg);

/* The receiver of our track asks for a keyframe. */
typedef void (*actr_media_keyframe_cb)(const Actr__ActrId *target,
				       const char *track_id, void *arg);

typedef struct actr_media_stats {
	uint64_t samples_out;		/* handed to a connection or delivered
					 * in-process */
	uint64_t bytes_out;
	uint64_t samples_in;		/* delivered to a callback */
	uint64_t bytes_in;
	uint64_t lost;			/* packets reported lost to callbacks */
	uint64_t unregistered;		/* frames for no registered track */
	uint64_t keyframe_requests;	/* received from receivers */
	uint64_t not_ready;		/* sends refused: not negotiated */
} actr_media_stats_t;

/** Add a track we send to target: codec "opus", "VP8" or "H264" (any
 * case), kind "audio" or "video" (it must fit the codec). track_id: 1..64
 * bytes without spaces or control characters. 0, -EINVAL, -EEXIST (this
 * node already sends a track of that id to target), -ENOMEM. */
ACTR_API int actr_media_add_track(actr_ref_t *ref, const Actr__ActrId *target,
				  const char *track_id, const char *codec,
				  const char *kind);

/** Stop sending a track (renegotiates). 0, -ACTR_ENOTFOUND. */
ACTR_API int actr_media_remove_track(actr_ref_t *ref,
				     const Actr__ActrId *target,
				     const char *track_id);

/** Send one encoded frame (s->data, s->len, s->timestamp) on a track. 0,
 * -ACTR_ENOTFOUND (no such track), -ACTR_ENOTREADY (connection or
 * negotiation under way: try again later), -ACTR_ETOOBIG (an Opus frame
 * larger than one packet, or a frame over 4 MiB), -EINVAL,
 * -ACTR_ECLOSED. */
ACTR_API int actr_media_send_sample(actr_ref_t *ref,
				    const Actr__ActrId *target,
				    const char *track_id,
				    const actr_media_sample_t *s);

/** Receive frames of track_id (from any sender). -EEXIST, -EINVAL. */
ACTR_API int actr_media_register(actr_ref_t *ref, const char *track_id,
				 actr_media_cb cb, void *arg);
ACTR_API int actr_media_unregister(actr_ref_t *ref, const char *track_id);

/** Called when a receiver asks for a keyframe of one of our tracks (NULL
 * to remove). */
ACTR_API int actr_media_on_keyframe_request(actr_ref_t *ref,
					    actr_media_keyframe_cb cb,
					    void *arg);

/** Ask the sender `from` for a keyframe of its track (PLI). 0,
 * -ACTR_ENOTFOUND, -ACTR_ENOTREADY. */
ACTR_API int actr_media_request_keyframe(actr_ref_t *ref,
					 const Actr__ActrId *from,
					 const char *track_id);

ACTR_API void actr_media_get_stats(actr_ref_t *ref, actr_media_stats_t *st);

/* The Context forms (the seeds' add_media_track, remove_media_track,
 * send_media_sample, register_media_track, unregister_media_track), on
 * ctx's node. */
ACTR_API int actr_ctx_add_media_track(actr_ctx_t *ctx,
				      const Actr__ActrId *target,
				      const char *track_id, const char *codec,
				      const char *kind);
ACTR_API int actr_ctx_remove_media_track(actr_ctx_t *ctx,
					 const Actr__ActrId *target,
					 const char *track_id);
ACTR_API int actr_ctx_send_media_sample(actr_ctx_t *ctx,
					const Actr__ActrId *target,
					const char *track_id,
					const actr_media_sample_t *s);
ACTR_API int actr_ctx_register_media_track(actr_ctx_t *ctx,
					   const char *track_id,
					   actr_media_cb cb, void *arg);
ACTR_API int actr_ctx_unregister_media_track(actr_ctx_t *ctx,
					     const char *track_id);

#ifdef __cplusplus
}
#endif

#endif
