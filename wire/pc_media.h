/*
 * The media layout of a peer connection (internal to wire/pc.c): which
 * audio/video sections our description has, which track each carries in
 * each direction, and how a remote description changes them (RFC 3264
 * offer/answer: sections keep their position, a new one is appended, a
 * removed track leaves its section with the send direction cleared).
 * Sans-I/O: it edits our struct actr__sdp and tells the media engine
 * which tracks exist.
 */
#ifndef ACTR_WIRE_PC_MEDIA_H
#define ACTR_WIRE_PC_MEDIA_H

#include <stdbool.h>

#include "wire/media.h"
#include "wire/sdp.h"

/** A track we send: a section of its kind that only receives and that the
 * peer lets us send on is reused, otherwise one is appended. 0, -EEXIST,
 * -ACTR_ETOOBIG (ACTR__SDP_MAX_MEDIA sections), -EINVAL, -ENOMEM. */
int actr__layout_add_track(struct actr__sdp *local,
			   const struct actr__sdp *remote, actr__media_t *m,
			   const char *track_id, int codec, const char *cname);

/** The same; reuse_only: only into a section the peer lets us send on
 * (answering an offer, which cannot grow), else -ACTR_ENOTFOUND. */
int actr__layout_attach(struct actr__sdp *local,
			const struct actr__sdp *remote, actr__media_t *m,
			const char *track_id, int codec, const char *cname,
			bool reuse_only);

/** Stop sending a track: its section's send direction is cleared. 0,
 * -ACTR_ENOTFOUND. */
int actr__layout_remove_track(struct actr__sdp *local, actr__media_t *m,
			      const char *track_id);

/** Apply the peer's description (an offer or the answer to ours) to our
 * layout: sections appended for a new offered one, directions answered,
 * payload types adopted, tracks the peer sends announced to the engine
 * (and those it stopped removed), our tracks marked ready when the peer
 * receives them. */
void actr__layout_apply(struct actr__sdp *local, const struct actr__sdp *remote,
			actr__media_t *m, bool offer);

/** Drop our sections from index n on (an offer of ours rolled back by
 * glare); their send tracks stay in the engine, not ready. */
void actr__layout_truncate(struct actr__sdp *local, actr__media_t *m,
			   unsigned n);

#endif
