/*
 * Internal structures of the peer gate (runtime/peer*.c only).
 */
#ifndef ACTR_RUNTIME_PEER_INTERNAL_H
#define ACTR_RUNTIME_PEER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>


#include <actr/mailbox.h>
#include <actr/peer.h>
#include <actr/sigclient.h>

#include "runtime/internal.h"
#include "proto/signaling.pb-c.h"
#include "proto/webrtc.pb-c.h"
#include "wire/pc.h"

#define ACTR__PEER_KEY 256		/* ActrId / ActrType string forms */
#define ACTR__PEER_MAX_CANDS 32		/* candidates kept before SDP */
#define ACTR__PEER_SILENT_MAX 2		/* silent timeouts, then drop */
#define ACTR__PEER_INFLIGHT_MAX 4096	/* request ids tracked per conn */
#define ACTR__PEER_XID 64		/* sdp_exchange_id bytes + NUL */
#define ACTR__PEER_UFRAG 257		/* ICE ufrag (RFC 8839) + NUL */
#define ACTR__PEER_GONE 32		/* dropped connections remembered */
#define ACTR__PEER_GONE_NS (300ull * 1000000000ull) /* ... for 5 min */

enum peer_conn_state {
	PC_NEGOTIATING = 0,	/* waiting for the RoleAssignment */
	PC_CONNECTING,		/* pc created: SDP, ICE, DTLS, SCTP */
	PC_OPEN,		/* lanes open */
	PC_DEAD,		/* dropped, freed at the end of the iteration */
};

/* Why a connection was dropped, for /metrics (runtime/metrics.c). */
enum actr__peer_fail {
	ACTR__FAIL_SIGNALING = 0,	/* before a pc: roles, offer, relay */
	ACTR__FAIL_ICE,			/* no ICE path found */
	ACTR__FAIL_DTLS,		/* ICE up, DTLS handshake did not end */
	ACTR__FAIL_SCTP,		/* DTLS up, association or channels */
	ACTR__FAIL_LOST,		/* open, then lost (consent, SCTP) */
	ACTR__FAIL_CLOSED,		/* open, closed without an error */
	ACTR__FAIL_N
};

/* What the metrics endpoint reads from the peer gate besides its public
 * counters: a few stores per message, kept here so that peer.c only
 * calls the hooks below. */
struct actr__peer_obs {
	uint64_t msgs[2][ACTR__LANE_COUNT];	/* [0] in, [1] out */
	uint64_t bytes[2][ACTR__LANE_COUNT];	/* their payload bytes */
	uint64_t fail[ACTR__FAIL_N];		/* drops by phase */
	struct actr__hist setup;		/* new to open */
};

/* An envelope waiting for its connection to open (or to drain). */
struct peer_qmsg {
	struct peer_qmsg *next;		/* FIFO link */
	int lane;			/* ACTR__LANE_* */
	bool is_req;			/* our request (rid valid) */
	uint64_t rid;			/* its pending request id */
	size_t len;			/* encoded RpcEnvelope */
	uint8_t data[];
};

/* One peer connection, per remote actor. */
struct peer_conn {
	struct actr__map_node node;	/* in p->conns by key */
	actr_peer_t *p;			/* owner */
	char key[ACTR__PEER_KEY];	/* remote ActrId string (hash key) */
	Actr__ActrId *remote;		/* owned */
	uint8_t *remote_enc;		/* remote, encoded (owned) */
	size_t remote_enc_len;
	actr__pc_t *pc;			/* NULL while negotiating */
	int st;				/* enum peer_conn_state */
	bool offerer;			/* our role */
	bool remote_sdp;		/* the peer's description is set */
	char xid[ACTR__PEER_XID];	/* sdp_exchange_id of the current
					 * offer/answer exchange ("" = none) */
	char *cands[ACTR__PEER_MAX_CANDS]; /* early remote candidates */
	char *cand_ufrags[ACTR__PEER_MAX_CANDS]; /* their ufrags */
	int ncands;
	struct peer_qmsg *qh, *qt;	/* queued envelopes */
	unsigned nq;
	uint64_t created_ns;		/* for the setup time */
	actr_timer_t setup_timer;	/* setup_timeout_ms from creation:
					 * covers role negotiation and an
					 * offer that never comes */
	uint64_t last_rx_ns;		/* last message from the peer */
	unsigned silent_timeouts;	/* calls timed out with no rx since */
	struct actr__map inflight;	/* struct peer_rid: our requests
					 * sent on pc and not answered
					 * (failed at once when the
					 * connection is lost) */
	struct peer_conn *next_dead;	/* reap list */
	struct actr__peer_ws *ws;	/* direct WebSocket carrying this
					 * connection's sends, or NULL
					 * (peer_ws.c) */
	bool ws_tried;			/* fell back to WebSocket once */
	/* ICE restart (peer_restart.c) */
	bool rs_lost;			/* path lost, restarting */
	bool rs_offer_pending;		/* offerer: restart offer out, no
					 * answer yet */
	bool rs_in_offer;		/* answerer: applying the peer's
					 * restart offer */
	unsigned rs_attempts;		/* attempts since the loss */
	uint64_t rs_lost_ns;		/* when the path was lost */
	uint64_t rs_last_ns;		/* last attempt */
	uint64_t rs_ok_ns;		/* last time a restart found it */
	actr_timer_t rs_timer;		/* next attempt */
	actr_timer_t rs_giveup;		/* ice_restart_timeout_ms */
	char *trace_parent;		/* W3C trace context of the call (or
					 * relay) this connection was opened
					 * for, carried on its signaling;
					 * owned, or NULL (trace.c) */
	char *trace_state;		/* its tracestate, or NULL */
};

struct actr_peer {
	actr_node_t *node;		/* borrowed */
	actr_system_t *sys;		/* node's system */
	actr_reactor_t *r;		/* its reactor */
	actr_peer_config_t cfg;		/* copy (strings borrowed) */
	actr_sigclient_t *sc;		/* signaling client (owned) */
	actr__lane_t lane;		/* the lane given to the runtime */
	struct actr__pc_config pccfg;	/* template for new pcs */
	char local_addr[64];		/* storage for pccfg */
	char stun_ip[64];
	char turn_ip[64];
	struct peer_gone {		/* connections dropped lately (a
					 * reply to them is dropped, not
					 * sent over a new connection) */
		char key[ACTR__PEER_KEY];
		uint64_t at_ns;
	} gone[ACTR__PEER_GONE];
	unsigned gone_next;		/* ring cursor */
	struct peer_ice_name {		/* STUN [0], TURN [1] server names
					 * being resolved (net/resolve.c) */
		actr_peer_t *p;
		int which;
		struct actr__lookup *l;
	} ice_name[2];
	char turn_user[256];		/* TurnCredential (registration) */
	char turn_pass[128];
	actr__dtls_cert_t *cert;	/* our DTLS identity */
	actr__reasm_pool_t *reasm;	/* reassembly budget of all pcs (one
					 * reference; pcs hold theirs) */
	struct actr__map conns;		/* struct peer_conn by id string */
	struct actr__map types;		/* struct peer_type by type string */
	struct actr__map discs;		/* struct peer_disc by type string */
	struct actr__map route_lanes;	/* struct peer_route by route key */
	struct peer_conn *dead;		/* dropped, to free */
	struct tcall *issued;		/* calls by type in the runtime */
	actr_defer_t reap;		/* frees dead */
	bool registered;		/* node id is the server's */
	bool closing;			/* in actr_peer_free */
	actr_peer_stats_t st;		/* counters */
	/* durable mailbox (peer_mailbox.c) */
	actr_mailbox_t *mb;		/* NULL = none */
	actr_mailbox_opts_t mb_opts;	/* cfg.mailbox_opts' copy */
	struct actr__map acks;		/* struct peer_ack by
					 * "serial/request_id" */
	uint64_t *tell_acks;		/* TELL ids acked once handled */
	size_t ntell_acks, tell_acks_cap;
	struct actr__map local;		/* struct peer_local by mailbox id:
					 * in-process messages stored
					 * (mailbox_local), not yet queued */
	actr_hook_t tell_hook;		/* acks them after dispatch */
	struct actr__peer_wsgate *wsg;	/* direct WebSocket lane
					 * (peer_ws.c), NULL = off */
	struct peer_netmon *netmon;	/* watch_network (peer_netmon.c) */
	struct actr__peer_obs obs;	/* for /metrics (metrics.c) */
	const Actr__RpcEnvelope *opening_for; /* lane_send: the envelope a
					 * connection is being opened for
					 * (its trace goes on the signaling),
					 * else NULL */
};

/* Count one lane message of len bytes in (out = false) or out. */
static inline void actr__peer_obs_lane(actr_peer_t *p, bool out, int lane,
				       size_t len)
{
	if (lane >= 0 && lane < ACTR__LANE_COUNT) {
		p->obs.msgs[out][lane]++;
		p->obs.bytes[out][lane] += len;
	}
}

/* metrics.c: c is being dropped with status (0 = orderly). */
void actr__peer_obs_drop(struct peer_conn *c, int status);

/* trace.c: a new connection takes the trace it is opened for (the
 * envelope of p->opening_for, or the relay being delivered). */
void actr__peer_conn_trace(struct peer_conn *c);
/* trace.c: the signaling sent now is for c (NULL: for no connection). */
void actr__peer_sig_trace(actr_peer_t *p, const struct peer_conn *c);
/* trace.c: relay rl for c, with c's trace. */
int actr__peer_relay(struct peer_conn *c, Signaling__ActrRelay *rl);
/* trace.c: free c's trace. */
void actr__peer_conn_trace_free(struct peer_conn *c);

/** Drop c: queued requests fail with ConnectionNotReady; for a negative
 * status (connection lost or failed; not while the gate closes) requests
 * already sent on it fail with Unavailable instead of waiting for their
 * deadline; the pc is freed, the cached route to it forgotten; c is freed
 * at the end of the iteration. */
void actr__peer_conn_drop(struct peer_conn *c, int status, const char *why);

/** Start a connection to target (role negotiation) unless one exists. 0,
 * -EINVAL, -ACTR_ENOTREADY (could not start). */
int actr__peer_conn_initiate(actr_peer_t *p, const Actr__ActrId *target);

/* peer_stream.c: the lane's stream operations (runtime/lane.h) */
int actr__peer_stream_send(actr__lane_t *lane, const Actr__ActrId *target,
			   int pt, const void *data, size_t len,
			   size_t high_water, size_t low_water);
size_t actr__peer_stream_buffered(actr__lane_t *lane,
				  const Actr__ActrId *target, int pt);
/** c opened: streams toward its peer may go (writable on both lanes). */
void actr__peer_stream_open(struct peer_conn *c);
/** A message arrived on lane of c (from its pc or a WebSocket): RPC
 * lanes are decoded and delivered (or stored in the mailbox); stream
 * lanes go to the stream registry. Takes msg. */
void actr__peer_on_lane_message(struct peer_conn *c, int lane,
				actr_buf_t *msg);

/** New connection record for remote (key: its string form), in
 * p->conns, PC_NEGOTIATING, setup timer running. NULL on ENOMEM. */
struct peer_conn *actr__peer_conn_new(actr_peer_t *p,
				      const Actr__ActrId *remote,
				      const char *key);

/** Ask the signaling server for WebRTC roles with c's remote (c stays
 * PC_NEGOTIATING; on_role creates the pc). 0 or negative. */
int actr__peer_conn_negotiate(struct peer_conn *c);

/** c just opened (st PC_OPEN set by the caller or not): mark it open,
 * stop the setup timer, count it and send what is queued. */
void actr__peer_conn_opened(struct peer_conn *c, const char *how);

/** Send one message on lane of c by its transport: the pc once it is
 * connected, else an open WebSocket, else the pc (stream lanes too).
 * Codes of actr__pc_send. */
int actr__peer_conn_send(struct peer_conn *c, int lane, const void *data,
			 size_t len);

/** Send what is queued on c (after a full transport drained). */
void actr__peer_conn_flush(struct peer_conn *c);

/* peer_ws.c: the direct WebSocket lane (PROTOCOL.md 8) */
struct actr__peer_ws;
/** Start the listener when cfg.ws_listen is set. 0 or negative. */
int actr__peer_ws_init(actr_peer_t *p);
/** Close every WebSocket and the listener (after the conns dropped). */
void actr__peer_ws_fini(actr_peer_t *p);
/** The ws_address to register, or NULL. */
const char *actr__peer_ws_advertised(actr_peer_t *p);
/** Remember the ws_address_map of a route-candidates answer. */
void actr__peer_ws_note(actr_peer_t *p,
			const Actr__RouteCandidatesResponse__RouteCandidatesOk
				*ok);
/** A new outbound connection to key should use the WebSocket lane
 * (prefer_ws and an address is known). */
bool actr__peer_ws_preferred(actr_peer_t *p, const char *key);
/** Start an outbound WebSocket for c (PC_CONNECTING). 0 or negative. */
int actr__peer_ws_connect(struct peer_conn *c);
/** c is being dropped with status: true when the WebSocket lane keeps it
 * (WebRTC setup failed and the peer has a ws_address: queued calls move
 * to a WebSocket; or its WebSocket is open and only the pc goes). */
bool actr__peer_ws_fallback(struct peer_conn *c, int status,
			    const char *why);
/** c's WebSocket is open for sending. */
bool actr__peer_ws_ready(const struct peer_conn *c);
/** Send one message on lane over c's WebSocket (codes of
 * actr__pc_send). */
int actr__peer_ws_send(struct peer_conn *c, int lane, const void *data,
		       size_t len);
/** c is dropped: close its WebSocket. */
void actr__peer_ws_detach(struct peer_conn *c);
/* peer_restart.c: ICE restart of open connections */
void actr__peer_restart_init(struct peer_conn *c);
/** Stop c's restart timers (c is being dropped). */
void actr__peer_restart_fini(struct peer_conn *c);
/** pc cbs.path: the ICE path was lost (up false) or found again. */
void actr__peer_path(void *arg, bool up);
/** The peer's IceRestartRequest (encoded payload) for c (may be NULL). */
void actr__peer_restart_request_in(actr_peer_t *p, struct peer_conn *c,
				   const uint8_t *payload, size_t len);
/** An ICE_RESTART_OFFER or ANSWER that belongs to a restart of c's open
 * connection: applied (or c dropped when refused) and true; false when
 * it is none (the caller handles it as before). */
bool actr__peer_restart_sdp(actr_peer_t *p, struct peer_conn *c,
			    const Webrtc__SessionDescription *sd);
/** Apply candidates kept before the description (peer.c). */
void actr__peer_apply_early(struct peer_conn *c);

/* peer_netmon.c: cfg.watch_network */
int actr__peer_netmon_start(actr_peer_t *p);
void actr__peer_netmon_stop(actr_peer_t *p);

/* peer_media.c: the lane's media operations (runtime/lane.h) and the
 * pc's media callbacks */
int actr__peer_media_track(actr__lane_t *lane, const Actr__ActrId *target,
			   const char *track_id, const char *codec, bool add);
int actr__peer_media_send(actr__lane_t *lane, const Actr__ActrId *target,
			  const char *track_id, const uint8_t *data,
			  size_t len, uint32_t ts);
int actr__peer_media_keyframe(actr__lane_t *lane, const Actr__ActrId *target,
			      const char *track_id);
/** c's pc was made: it carries the node's tracks toward c's peer. */
void actr__peer_media_attach(struct peer_conn *c);
void actr__peer_media_frame(void *arg, const char *track_id,
			    const struct actr__media_frame *f);
void actr__peer_media_keyframe_request(void *arg, const char *track_id);
/** A RENEGOTIATION_OFFER (offer) or the answer to ours, on an open c. */
void actr__peer_media_sdp(struct peer_conn *c, const char *sdp, bool offer);

/* peer_mailbox.c */
int actr__peer_mb_open(actr_peer_t *p);
void actr__peer_mb_close(actr_peer_t *p);
/** Store an inbound REQUEST/TELL (encoded in msg) that came on lane. */
void actr__peer_mb_store(actr_peer_t *p, struct peer_conn *c, int lane,
			 actr_buf_t *msg);
/** The reply to (target, request_id) was handed to the transport. */
void actr__peer_mb_replied(actr_peer_t *p, const Actr__ActrId *target,
			   const char *request_id);
/** Deliver durable messages to the runtime. */
void actr__peer_mb_pump(actr_peer_t *p);

#endif
