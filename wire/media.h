/*
 * The media engine of one peer connection: tracks we send and tracks we
 * receive, carried as RTP over SRTP on the connection's ICE path (BUNDLE,
 * rtcp-mux), next to the DataChannels.
 *
 * Sending: a frame is packetised (wire/rtp.h), protected and handed to the
 * connection's send function; video packets are kept, protected, in a
 * bounded ring (256 per track) so a NACK (RFC 4585 generic NACK) is
 * answered by sending them again. Receiving: SRTP is checked (tampered
 * and replayed packets are dropped and counted), packets are found by
 * SSRC (or bound by payload type to a track the description announced
 * without an SSRC), video is reordered in a window of 512 packets and
 * reassembled into whole frames; a gap is NACKed at once and again every
 * 100 ms, and after 300 ms without the packet the frame is skipped, the
 * loss reported with the next frame and a keyframe requested (PLI). RTCP
 * sender and receiver reports go every second. A PLI or FIR from the peer
 * reaches the application as a keyframe request.
 *
 * Internal; the reactor thread of its connection. Nothing here allocates
 * per packet on the steady path (slots are allocated once and reused).
 */
#ifndef ACTR_WIRE_MEDIA_H
#define ACTR_WIRE_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <actr/reactor.h>

#include "wire/dtls.h"
#include "wire/rtp.h"

#define ACTR__TRACK_ID_MAX 64		/* bytes of a track id */

typedef struct actr__media actr__media_t;

struct actr__media_frame {
	const uint8_t *data;		/* the encoded frame (borrowed) */
	size_t len;
	uint32_t ts;			/* RTP timestamp */
	int codec;			/* enum actr__codec */
	bool keyframe;			/* starts a keyframe (audio: true) */
	uint32_t lost;			/* packets lost before this frame */
};

struct actr__media_cbs {
	/** Send one protected RTP/RTCP datagram (the ICE path). 0 or < 0. */
	int (*send)(void *arg, const uint8_t *p, size_t n);
	/** A whole frame of a remote track. */
	void (*frame)(void *arg, const char *track_id,
		      const struct actr__media_frame *f);
	/** The peer asks for a keyframe on our track (PLI/FIR). */
	void (*keyframe)(void *arg, const char *track_id);
};

struct actr__media_stats {
	uint64_t rtp_out;		/* RTP packets sent (first time) */
	uint64_t rtp_in;		/* RTP packets accepted */
	uint64_t frames_out;		/* frames packetised and sent */
	uint64_t frames_in;		/* frames delivered */
	uint64_t bytes_out;		/* frame bytes sent */
	uint64_t bytes_in;		/* frame bytes delivered */
	uint64_t rtcp_out;		/* RTCP compound packets sent */
	uint64_t rtcp_in;		/* RTCP compound packets accepted */
	uint64_t srtp_auth_fail;	/* tag check failed (tampered) */
	uint64_t srtp_replay;		/* replayed or too old, malformed */
	uint64_t malformed;		/* RTP/RTCP/payload undecodable */
	uint64_t unknown_ssrc;		/* RTP for no announced track */
	uint64_t bad_pt;		/* payload type not the track's */
	uint64_t late;			/* duplicate or behind the window */
	uint64_t lost;			/* packets given up on (skipped) */
	uint64_t frames_dropped;	/* frames broken or over the bound */
	uint64_t nacks_sent;		/* NACK packets sent */
	uint64_t nacks_in;		/* NACK packets received */
	uint64_t rtx_sent;		/* packets sent again for a NACK */
	uint64_t rtx_miss;		/* NACKed packets no longer kept */
	uint64_t recovered;		/* gaps filled by a retransmission */
	uint64_t plis_sent;		/* keyframe requests sent */
	uint64_t plis_in;		/* keyframe requests received */
	uint64_t send_errors;		/* datagrams the path refused */
	uint64_t padding;		/* padding-only packets (probes) */
};

actr__media_t *actr__media_new(actr_reactor_t *r,
			       const struct actr__media_cbs *cbs, void *arg);
void actr__media_free(actr__media_t *m);

/** DTLS finished: its SRTP keys are kept (copied). The SRTP sessions and
 * the report clock start now if the connection has a track, else with
 * its first track or media packet (libsrtp's first initialisation costs
 * tens of milliseconds: not on a data-only connection's setup). 0, or
 * -ACTR_EPROTO (libsrtp refused). */
int actr__media_start(actr__media_t *m, const struct actr__dtls_srtp_keys *k);
bool actr__media_started(const actr__media_t *m);
/** The SRTP sessions exist (a track or a media packet came after DTLS). */
bool actr__media_srtp_live(const actr__media_t *m);

/** A track we send (ssrc, pt chosen by the caller). -EEXIST, -ENOMEM. */
int actr__media_add_send(actr__media_t *m, const char *track_id, int codec,
			 uint8_t pt, uint32_t ssrc);
/** The negotiated payload type of a track we send, and whether the peer
 * accepted it (until then actr__media_send_frame refuses with
 * -ACTR_ENOTREADY). -ACTR_ENOTFOUND. */
int actr__media_set_send(actr__media_t *m, const char *track_id, uint8_t pt,
			 bool ready);

/** Stop sending on a track (an RTCP BYE is not sent). -ACTR_ENOTFOUND. */
int actr__media_remove_send(actr__media_t *m, const char *track_id);

/** A track the peer sends (ssrc 0: bind the first SSRC that arrives with
 * pt). An existing one keeps its state and takes the new ssrc/pt. */
int actr__media_add_recv(actr__media_t *m, const char *track_id, int codec,
			 uint8_t pt, uint32_t ssrc);
int actr__media_remove_recv(actr__media_t *m, const char *track_id);

/** Packetise, protect and send one frame with its RTP timestamp. 0,
 * -ACTR_ENOTFOUND (no such track), -ACTR_ENOTREADY (no SRTP yet),
 * -ACTR_ETOOBIG (an Opus frame over one packet, or over 4 MiB), -EINVAL
 * (empty), or the path's error. */
int actr__media_send_frame(actr__media_t *m, const char *track_id,
			   const uint8_t *data, size_t len, uint32_t ts);

/** Ask the peer for a keyframe on a track it sends (PLI). */
int actr__media_request_keyframe(actr__media_t *m, const char *track_id);

/** An SRTP or SRTCP datagram from the path (first byte 128..191). p is
 * modified (unprotected in place). */
void actr__media_recv(actr__media_t *m, uint8_t *p, size_t n);

void actr__media_get_stats(const actr__media_t *m,
			   struct actr__media_stats *st);

/** Tests: drop (do not send) the nth next first transmission of an RTP
 * packet (1 = the next one); retransmissions are not affected. */
void actr__media_test_drop(actr__media_t *m, uint32_t nth);

/** Tests: lose every retransmission (a gap is never filled). */
void actr__media_test_drop_rtx(actr__media_t *m, bool drop);

/** Tests: the last protected RTP packet sent (to replay or tamper). */
size_t actr__media_test_last(const actr__media_t *m, uint8_t *buf,
			     size_t cap);

#endif
