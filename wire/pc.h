/*
 * The peer connection (internal): ICE (libnice) -> demultiplex by first
 * byte (RFC 7983) -> DTLS -> SCTP -> the four actr lanes (PROTOCOL.md 7).
 *
 *   offerer                          answerer
 *   actr__pc_new(offerer)            actr__pc_new(answerer)
 *   actr__pc_start() -> description(offer) ..signaling..>
 *                                    actr__pc_set_remote(offer)
 *                    <..signaling..  -> description(answer)
 *   actr__pc_set_remote(answer)
 *   candidates both ways (trickle), or inside the SDP (non-trickle)
 *   ICE connects; DTLS (client = a=setup:active side) handshakes and checks
 *   the remote SDP fingerprint; SCTP associates (both sides connect); the
 *   offerer opens the four channels, the answerer maps them by label.
 *   state(CONNECTED) when all four lanes are open.
 *
 * Lanes carry whole messages up to cfg.max_message bytes (default and
 * minimum 16 MiB): each is split into DataChannel messages of at most 65535
 * bytes behind the 8-byte fragment header (proto/fragment.h) and
 * reassembled on the other side (at most max_message + 64 KiB of partial
 * data per lane for 30 s, and with cfg.reasm_pool within a budget shared
 * with other pcs: proto/fragment.h). DTLS datagrams that arrive before the
 * DTLS object exists (answer not processed yet) are kept (up to 8) and fed
 * when it does. DTLS datagrams we send before our ICE agent first connects (the
 * peer's pair may already work and its ClientHello arrive while our own
 * checks are pending) are queued (at most 32 datagrams / 64 KiB, losses
 * counted in dtls_dropped_setup) and sent when it connects, instead of
 * being lost until a DTLS retransmission. Every session negotiates
 * DTLS-SRTP (wire/dtls.h). Everything runs on the reactor thread.
 */
#ifndef ACTR_WIRE_PC_H
#define ACTR_WIRE_PC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <actr/buf.h>
#include <actr/reactor.h>

#include "ice/ice.h"
#include "proto/fragment.h"
#include "sctp/sctp.h"
#include "wire/dtls.h"
#include "wire/media.h"

typedef struct actr__pc actr__pc_t;

/* The lanes of PROTOCOL.md 7, indexed by PayloadType. */
enum actr__lane_index {
	ACTR__LANE_RPC_RELIABLE = 0,		/* ordered, reliable */
	ACTR__LANE_RPC_SIGNAL = 1,		/* ordered, reliable */
	ACTR__LANE_STREAM_RELIABLE = 2,		/* ordered, reliable */
	ACTR__LANE_STREAM_LATENCY_FIRST = 3,	/* unordered, 3 rexmits */
	ACTR__LANE_COUNT = 4,
};

/** The exact DataChannel label of a lane, NULL for a bad index. */
const char *actr__lane_label(int lane);

/** The lane of a label, or -1 for an unknown label. */
int actr__lane_by_label(const char *label);

enum actr__pc_state {
	ACTR__PC_NEW = 0,
	ACTR__PC_CONNECTING,	/* started: ICE/DTLS/SCTP under way */
	ACTR__PC_CONNECTED,	/* all four lanes open */
	ACTR__PC_FAILED,	/* ICE failed, DTLS refused, deadline passed */
	ACTR__PC_CLOSED,	/* closed by either side */
};

const char *actr__pc_state_name(int state);

#define ACTR__PC_MIN_MAX_MESSAGE (16u << 20)

/* The largest incoming DataChannel message: what we advertise as
 * a=max-message-size and what SCTP reassembles (sctp.h max_message). The
 * actr fragment header keeps our own peers' messages at 65535 bytes
 * (PROTOCOL.md 7); one more byte is what RFC 8841 peers assume when the
 * attribute is absent. Reassembly memory is bounded by this per channel
 * (four lanes). A peer that ignores the limit (aiortc does) gets the
 * channel closed by a stream reset (RFC 8831 6.7), counted in
 * actr__sctp_stats.oversize_in; that lane then refuses sends with
 * -ACTR_ENOTREADY. */
#define ACTR__PC_MAX_DC_MESSAGE 65536u

struct actr__pc_config {
	struct actr__ice_config ice;	/* local addresses, STUN/TURN
					 * (controlling is set by role) */
	bool trickle;			/* emit the description at once and
					 * candidates one by one; false: wait
					 * for gathering, candidates in SDP */
	unsigned handshake_timeout_ms;	/* to CONNECTED, 0 = 10000 */
	unsigned dtls_rto_ms;		/* first DTLS retransmission, 0 =
					 * 150 (tests make it long so a lost
					 * flight cannot hide behind it) */
	size_t max_message;		/* per lane message bound, 0 = 16 MiB
					 * (smaller values are raised) */
	actr__reasm_pool_t *reasm_pool;	/* budget shared with other pcs for
					 * incoming partial messages (the pc
					 * joins it with one account for its
					 * lanes; a reference is taken), NULL
					 * = per-lane bounds only */
	bool legacy_sdp;		/* offer DTLS/SCTP + sctpmap */
	unsigned sctp_mtu;		/* SCTP packet size on a loopback
					 * pair (<= 16000; the peer must accept
					 * it); 0 = 1200, always 1200 on other
					 * paths */
	bool keep_on_path_loss;		/* once CONNECTED, an ICE failure
					 * (consent lost) is reported through
					 * cfg.on_path instead of FAILED: DTLS
					 * and SCTP wait for an ICE restart
					 * (the caller decides when to give
					 * up; SCTP never aborts on its own
					 * and retransmits at least every
					 * 1 s) */
	unsigned path_lost_rto_ms;	/* SCTP retransmission bound while
					 * the path is lost, 0 = 100 */
	/** With keep_on_path_loss: the ICE path under a CONNECTED pc was
	 * lost (up = false: consent expired, or an ICE restart began) or
	 * works again (up = true: the restart connected), called with the
	 * cbs' arg. DTLS and SCTP are kept throughout; sends are accepted
	 * and retransmitted by SCTP once the path is back. May be NULL.
	 * (Here rather than in actr__pc_cbs, whose users initialise it by
	 * position.) */
	void (*on_path)(void *arg, bool up);
};

struct actr__pc_cbs {
	/** Our SDP (offer or answer) to send to the peer; valid during the
	 * call. */
	void (*description)(void *arg, bool offer, const char *sdp);
	/** A local candidate (trickle); cand == NULL: end of candidates. */
	void (*candidate)(void *arg, const char *cand);
	/** New state; err says why for FAILED/CLOSED (0 otherwise):
	 * -ACTR_EUNAVAILABLE ICE found no working pair, -ACTR_EAUTH
	 * fingerprint mismatch, -ACTR_ETIMEDOUT handshake deadline (from
	 * CONNECTING) or connection lost once ICE worked (RFC 7675 consent
	 * expired: the peer stopped answering for ~10 s, see ice.c; with
	 * cfg.keep_on_path_loss that is cfg.on_path(false) instead),
	 * -ACTR_EPROTO DTLS/SDP error; CLOSED: 0 for a clean shutdown
	 * (either side), -ECONNRESET for an abort or a DTLS close_notify.
	 * After FAILED or CLOSED actr__pc_send returns -ACTR_ECLOSED. */
	void (*state)(void *arg, int state, int err);
	/** A whole message on a lane; the callee owns the reference. */
	void (*message)(void *arg, int lane, actr_buf_t *msg);
	/** A lane's send buffer drained below its low-water mark. */
	void (*writable)(void *arg, int lane);
};

/* Media callbacks (the arg of actr__pc_new), set with
 * actr__pc_set_media_cbs; apart from actr__pc_cbs so that users of the
 * pc without media need not name them. */
struct actr__pc_media_cbs {
	/** A whole frame of a track the peer sends (f borrowed). */
	void (*media_frame)(void *arg, const char *track_id,
			    const struct actr__media_frame *f);
	/** The peer asks for a keyframe on a track we send (PLI/FIR). */
	void (*keyframe_request)(void *arg, const char *track_id);
};

/** Create a peer connection on reactor r. cert is the node's DTLS identity
 * (a reference is taken; NULL = a fresh one). cfg and cbs are copied
 * (cfg's strings must stay valid until actr__pc_start/set_remote return).
 * NULL on failure. Free with actr__pc_free(). */
actr__pc_t *actr__pc_new(actr_reactor_t *r, bool offerer,
			 actr__dtls_cert_t *cert,
			 const struct actr__pc_config *cfg,
			 const struct actr__pc_cbs *cbs, void *arg);

/** Offerer: start gathering; the offer comes through cbs->description.
 * Starts the handshake deadline. 0, -EINVAL on an answerer, or an ICE
 * error. */
int actr__pc_start(actr__pc_t *pc);

/** The peer's description (an offer for the answerer, an answer for the
 * offerer). The answerer then gathers and answers through
 * cbs->description. Later descriptions are accepted only as ICE restarts
 * (new ufrag/pwd, same fingerprint). 0, -ACTR_EPROTO (malformed SDP,
 * unsupported fingerprint hash, bad setup role, changed fingerprint, not
 * a restart, an answer nobody asked for), -EINVAL (an offerer that has
 * not started) or another negative code. */
int actr__pc_set_remote(actr__pc_t *pc, const char *sdp, size_t len);

/** ICE restart (offerer, while CONNECTED): new ICE credentials; a new
 * offer comes through cbs->description (send it as ICE_RESTART_OFFER) and
 * the answer goes to actr__pc_set_remote(). DTLS and SCTP continue over
 * the new path; lanes stay open. The answerer needs no call: a remote
 * offer with new ICE credentials restarts it. 0, -EINVAL (answerer, or a
 * restart already pending), -ACTR_ENOTREADY (not connected). */
int actr__pc_restart_ice(actr__pc_t *pc);

/** Like actr__pc_restart_ice, but a restart still waiting for its answer
 * is superseded (new credentials again; the old answer is then refused
 * as a stale one by the caller's exchange id). For repeated attempts
 * while the path is lost. Same return codes, except no -EINVAL for a
 * pending restart. */
int actr__pc_restart_ice_retry(actr__pc_t *pc);

/** True while the ICE path under a CONNECTED pc is lost (between
 * cfg.on_path(false) and on_path(true)). */
bool actr__pc_path_lost(const actr__pc_t *pc);

/** A remote candidate ("candidate:..", "a=" optional); NULL or "" means
 * end-of-candidates. 0, -ACTR_EPROTO (malformed), -ENOTSUP (mDNS/TCP:
 * ignored). */
int actr__pc_add_candidate(actr__pc_t *pc, const char *cand);

/** Send one message on a lane (copied; fragmented as needed). 0;
 * -ACTR_ENOTREADY lane not open; -ACTR_ETOOBIG above max_message;
 * -ENOBUFS the lane's buffer is full (wait for cbs->writable);
 * -ACTR_ECLOSED. */
int actr__pc_send(actr__pc_t *pc, int lane, const void *data, size_t len);

/** Bytes queued on a lane and not yet taken by SCTP. */
size_t actr__pc_buffered(const actr__pc_t *pc, int lane);

/** The queued-bytes mark at which cbs->writable fires for lane (default
 * 1 MiB; the stream lanes set their own). */
void actr__pc_set_low_water(actr__pc_t *pc, int lane, size_t threshold);

/** Graceful close (SCTP shutdown, DTLS close_notify); CLOSED follows. */
int actr__pc_close(actr__pc_t *pc);

/** Free everything at once; no callback runs afterwards. An association
 * still up is aborted (the peer sees CLOSED with -ECONNRESET). Safe from
 * a callback. NULL is ignored. */
void actr__pc_free(actr__pc_t *pc);

/** Close gracefully, then free: the way to end a connection that works.
 * No callback runs afterwards and pc must not be used again (it owns
 * itself). With the SCTP association up, a SHUTDOWN goes out and pc
 * stays alive on the reactor until the shutdown completes (then the DTLS
 * close_notify goes out and pc is freed) or 500 ms pass (then it is
 * freed, which aborts); otherwise it is freed at once. The reactor must
 * run for the close to leave (a program ends with actr_reactor_drain).
 * Safe from a callback. NULL is ignored. */
void actr__pc_close_free(actr__pc_t *pc);

int actr__pc_state(const actr__pc_t *pc);

/** Our ICE ufrag of the current generation (it changes with an ICE
 * restart): what trickled candidates carry as username_fragment. */
const char *actr__pc_local_ufrag(const actr__pc_t *pc);

/** The peer's ICE ufrag of the current generation, "" before its
 * description was applied. */
const char *actr__pc_remote_ufrag(const actr__pc_t *pc);

/** The ICE agent (for tests and stats: selected pair). */
actr__ice_t *actr__pc_ice(actr__pc_t *pc);

/** The DTLS connection (for tests and stats: SRTP profile and keys), NULL
 * before the remote description set the DTLS role. Owned by pc. */
actr__dtls_t *actr__pc_dtls(actr__pc_t *pc);

/** A lane's DataChannel (for tests: its negotiated options), NULL when the
 * lane has none or lane is out of range. Owned by pc's SCTP association. */
actr__dc_t *actr__pc_lane_channel(actr__pc_t *pc, int lane);

struct actr__pc_stats {
	uint64_t dtls_in;	/* datagrams 20..63 fed to DTLS */
	uint64_t dtls_early;	/* kept before DTLS existed */
	uint64_t rtp_in;	/* 128..191: no media here, dropped */
	uint64_t dropped_in;	/* other first bytes / early overflow */
	uint64_t frags_out;	/* DataChannel messages sent */
	uint64_t frags_in;	/* DataChannel messages received */
	uint64_t msgs_out;	/* lane messages sent */
	uint64_t msgs_in;	/* lane messages delivered */
	uint64_t bad_frags;	/* rejected by the reassembler */
	uint64_t unknown_channels; /* channels with a foreign label */
	uint64_t dtls_queued_setup; /* DTLS datagrams held until ICE first
				 * connected, then sent */
	uint64_t dtls_dropped_setup; /* DTLS datagrams lost during setup: queue
				 * full, or refused when flushed */
	uint64_t dtls_retransmits; /* DTLS flights resent on timeout
				 * (actr__dtls_stats.retransmits) */
	uint64_t dtls_send_errors; /* DTLS datagrams ICE refused (after
				 * setup; during setup they are queued) */
	uint32_t srtp_profile;	/* enum actr__srtp_profile chosen, 0 none */
	/* Setup timeline, ns after actr__pc_new (0 = not reached yet). */
	uint64_t t_ice;		/* ICE connected (a path exists) */
	uint64_t t_dtls;	/* DTLS handshake done */
	uint64_t t_sctp;	/* SCTP association up */
	uint64_t t_open;	/* all four lanes open (CONNECTED) */
	uint64_t path_losses;	/* ICE path lost under CONNECTED
				 * (keep_on_path_loss) */
	uint64_t path_restores;	/* and found again by an ICE restart */
	uint64_t ice_restarts;	/* local ICE restarts (either role) */
	uint64_t dtls_handshakes; /* DTLS sessions created (stays 1: a
				 * restart keeps the association) */
	uint64_t dtls_held_lost; /* DTLS datagrams held while the path was
				 * lost */
	uint64_t dtls_resent_lost; /* of those, sent when it was back */
	uint64_t dtls_dropped_lost; /* dropped: more than 32 / 64 KiB */
};

void actr__pc_get_stats(const actr__pc_t *pc, struct actr__pc_stats *st);

/* ---- media tracks (RTP/SRTP on the same transport, wire/media.h) ----------
 * A track we send is announced in our description (the initial offer if
 * it has not gone, else a renegotiation offer once CONNECTED: the
 * description callback then has offer = true and actr__pc_media_offering()
 * says it is a RENEGOTIATION_OFFER, not an ICE restart). Tracks the peer
 * sends arrive as whole frames through cbs.media_frame. */

void actr__pc_set_media_cbs(actr__pc_t *pc,
			    const struct actr__pc_media_cbs *cbs);

/** Add a track we send (codec "opus", "VP8", "H264"). 0, -EEXIST,
 * -EINVAL, -ACTR_ETOOBIG (16 sections), -ACTR_ECLOSED, -ENOMEM. */
int actr__pc_add_track(actr__pc_t *pc, const char *track_id,
		       const char *codec);
/** Stop sending a track (renegotiates). 0, -ACTR_ENOTFOUND. */
int actr__pc_remove_track(actr__pc_t *pc, const char *track_id);
/** Send one encoded frame with its RTP timestamp. 0, -ACTR_ENOTREADY
 * (not negotiated yet, or no SRTP), -ACTR_ENOTFOUND, -ACTR_ETOOBIG,
 * -ACTR_ECLOSED. */
int actr__pc_send_frame(actr__pc_t *pc, const char *track_id,
			const uint8_t *data, size_t len, uint32_t ts);
/** Ask the peer for a keyframe of a track it sends (PLI). */
int actr__pc_request_keyframe(actr__pc_t *pc, const char *track_id);
/** Our media renegotiation offer is out and not answered. */
bool actr__pc_media_offering(const actr__pc_t *pc);
/** The peer's RENEGOTIATION_OFFER (offer) or its answer to ours. An offer
 * is answered through cbs.description (offer = false). 0, -ACTR_EPROTO
 * (malformed, changed transport, unexpected answer), -EBUSY (offers
 * crossed and ours stands: the peer answers ours), -ACTR_ENOTREADY. */
int actr__pc_set_remote_media(actr__pc_t *pc, const char *sdp, size_t len,
			      bool offer);
void actr__pc_media_stats(const actr__pc_t *pc, struct actr__media_stats *st);
/** The media engine (tests). */
actr__media_t *actr__pc_media(actr__pc_t *pc);

#endif
