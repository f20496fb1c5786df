/*
 * The seam between the runtime and remote lanes (WebRTC DataChannels,
 * direct WebSocket), for the wire layer to plug into. Internal.
 *
 * Outbound: when a call's target is not a node of this process, the
 * runtime asks the resolver for a lane and hands it an RpcEnvelope
 * (REQUEST, TELL or RESPONSE) with the payload type that picks the
 * channel. Inbound: the lane decodes an RpcEnvelope and calls
 * actr__system_deliver with the remote caller's ActrId (from the peer
 * connection) and the payload type of the channel it arrived on.
 */
#ifndef ACTR_RUNTIME_LANE_H
#define ACTR_RUNTIME_LANE_H

#include <stdbool.h>
#include <stdint.h>

#include <actr/proto.h>

typedef struct actr__lane actr__lane_t;
typedef struct actr_system actr_system_t;
typedef struct actr_node actr_node_t;

struct actr__lane_ops {
	/* Send env to target on the channel of payload_type. env and all it
	 * points to are borrowed for the duration of the call (encode or
	 * copy). 0 or a negative code (the runtime fails the call). */
	int (*send)(actr__lane_t *lane, const Actr__ActrId *target,
		    const Actr__RpcEnvelope *env, int payload_type);
	/* Send len bytes (an encoded DataChunk, borrowed) on the stream lane
	 * payload_type (STREAM_*) of the connection to target, fragmented
	 * like envelopes. Refused with -ENOBUFS (nothing queued) when bytes
	 * are queued toward target on that lane already and len more would
	 * take them above high_water (0: send only into an empty queue; a
	 * message larger than high_water still goes into an empty one);
	 * low_water is the queued-bytes mark at which the gate calls
	 * actr__stream_writable for the lane. 0, -ENOBUFS, -ACTR_ENOTREADY
	 * (no open connection: one is being set up), -ACTR_ETOOBIG,
	 * -ACTR_ECLOSED. NULL: the lane carries no streams. Any transport
	 * (DataChannel, WebSocket) can implement it. */
	int (*send_stream)(actr__lane_t *lane, const Actr__ActrId *target,
			   int payload_type, const void *data, size_t len,
			   size_t high_water, size_t low_water);
	/* Bytes queued toward target on payload_type and not yet taken by
	 * the transport (0: none, or no connection). */
	size_t (*buffered)(actr__lane_t *lane, const Actr__ActrId *target,
			   int payload_type);
	/* Media tracks (runtime/media.c; NULL: the lane carries none).
	 * media_track: add (codec "opus"/"VP8"/"H264") or remove a track we
	 * send to target on its connection (renegotiating it); 0 also when
	 * the connection is being set up (the lane asks the media registry
	 * for the node's tracks when it creates one: actr__media_foreach).
	 * media_send: one encoded frame with its RTP timestamp; 0,
	 * -ACTR_ENOTREADY, -ACTR_ENOTFOUND, -ACTR_ETOOBIG, -ACTR_ECLOSED.
	 * media_keyframe: ask target for a keyframe of its track. */
	int (*media_track)(actr__lane_t *lane, const Actr__ActrId *target,
			   const char *track_id, const char *codec, bool add);
	int (*media_send)(actr__lane_t *lane, const Actr__ActrId *target,
			  const char *track_id, const uint8_t *data,
			  size_t len, uint32_t ts);
	int (*media_keyframe)(actr__lane_t *lane, const Actr__ActrId *target,
			      const char *track_id);
};

struct actr__lane {
	const struct actr__lane_ops *ops;	/* vtable */
	void *arg;				/* lane's own state */
	size_t max_message;			/* largest encoded envelope it
						 * carries, 0 = no bound */
};

/* Find the lane to reach target, or NULL (the call fails Unavailable). */
typedef actr__lane_t *(*actr__lane_resolve_fn)(void *arg,
					       const Actr__ActrId *target);

/** Install the resolver used for targets outside this process. */
void actr__system_set_remote(actr_system_t *sys, actr__lane_resolve_fn fn,
			     void *arg);

/*
 * The mailbox seam, the one way a durable mailbox joins the runtime.
 * Remote REQUEST/TELL need none: a lane stores them in its mailbox before
 * it calls actr__system_deliver (the peer gate, runtime/peer_mailbox.c).
 * In-process REQUEST/TELL for a node go through an inbox once one is
 * installed for it: store takes m (struct actr__msg, runtime/internal.h)
 * and hands it back through actr__enqueue once it may be handled, with
 * m->mbid set; 0, or a negative code (m is still the runtime's: a REQUEST
 * fails with that code, "mailbox refused the message"). done(mbid) runs
 * when such a message's handling finished (a REQUEST's reply is queued, a
 * TELL's handler returned).
 */
struct actr__msg;
struct actr__inbox {
	int (*store)(void *arg, struct actr__msg *m);	/* take m */
	void (*done)(void *arg, uint64_t mbid);		/* m was handled */
};

/** Route in-process REQUEST/TELL for node n through inbox (borrowed, with
 * arg), or back to the dispatcher queue with inbox NULL. One inbox per
 * system: 0, or -EBUSY when another one is installed. Reactor thread. */
int actr__system_set_inbox(actr_system_t *sys, actr_node_t *n,
			   const struct actr__inbox *inbox, void *arg);

/**
 * lane is going away (its gate is being freed): requests from it that are
 * still queued or held by a handler (actr_ctx_keep) answer into a closed
 * lane from now on (their reply fails with -ACTR_ECLOSED, logged) instead
 * of the freed one.
 */
void actr__system_lane_gone(actr_system_t *sys, actr__lane_t *lane);

/**
 * Deliver an envelope that arrived on lane from the remote actor `from`
 * for node `to`. Matches RESPONSEs to pending calls (late ones are
 * dropped and counted), answers repeated requests from the response
 * cache, and queues REQUEST/TELL (RPC_SIGNAL High, else Normal). env and
 * from are borrowed (copied as needed).
 *
 * What breaks PROTOCOL.md 6 is refused before any handler runs, counted
 * (dropped_invalid, refused_oversize) and logged (rate-limited), and
 * answered at once with InvalidArgument when it can be answered: a
 * REQUEST with timeout_ms <= 0; an envelope with a missing or unknown
 * direction that looks like a request (request_id, route_key, no error,
 * timeout_ms > 0: a response is never answered, so two peers cannot
 * bounce errors); a REQUEST whose encoding exceeds lane->max_message
 * (its reply could not be carried either). The rest (no request_id, no
 * caller, TELLs) is dropped. Returns 0; -ACTR_EPROTO for an envelope
 * refused or dropped as malformed, -ACTR_ETOOBIG for one over the lane's
 * limit, -EINVAL for a NULL env; or the code of a failed queueing.
 */
int actr__system_deliver(actr_system_t *sys, actr_node_t *to,
			 actr__lane_t *lane, const Actr__ActrId *from,
			 const Actr__RpcEnvelope *env, int payload_type);

/*
 * The stream seam (runtime/stream.c): what a gate calls for DataChunks.
 *
 * actr__stream_deliver: data (an encoded DataChunk, borrowed) arrived from
 * the remote actor `from` on the stream lane payload_type for node n:
 * decoded, checked (latest-first on STREAM_LATENCY_FIRST) and handed to
 * the stream's callback; malformed and unregistered chunks are counted,
 * logged (rate-limited) and dropped. 0, -ACTR_EPROTO (malformed),
 * -ACTR_ENOTFOUND (no such stream); a stale chunk dropped returns 0.
 *
 * actr__stream_writable: the queue toward target on payload_type fell to
 * its low-water mark, or the connection to target opened: held
 * latency-first chunks go out, the node's writable callback runs.
 */
int actr__stream_deliver(actr_node_t *n, const Actr__ActrId *from,
			 int payload_type, const uint8_t *data, size_t len);
void actr__stream_writable(actr_node_t *n, const Actr__ActrId *target,
			   int payload_type);

/* Decode and check a DataChunk from a peer (sans I/O; the fuzz target's
 * entry). 0 and *out (free with actr__data_chunk__free_unpacked), or
 * -ACTR_EPROTO (undecodable, no stream_id, stream_id over 1024 bytes). */
int actr__stream_decode(const uint8_t *data, size_t len,
			Actr__DataChunk **out);

/*
 * The media seam (runtime/media.c): what a gate calls for media tracks.
 *
 * actr__media_deliver: a whole frame of the remote actor from's track for
 * node n (codec "opus"/"VP8"/"H264"): to the registered callback, or
 * dropped and counted. actr__media_keyframe: from asks for a keyframe of
 * our track. actr__media_foreach: the tracks node n sends to target
 * (for a new connection to carry them).
 */
int actr__media_deliver(actr_node_t *n, const Actr__ActrId *from,
			const char *track_id, const char *codec,
			const uint8_t *data, size_t len, uint32_t ts,
			bool keyframe, uint32_t lost);
void actr__media_keyframe(actr_node_t *n, const Actr__ActrId *from,
			  const char *track_id);
void actr__media_foreach(actr_node_t *n, const Actr__ActrId *target,
			 void (*fn)(void *arg, const char *track_id,
				    const char *codec),
			 void *arg);

#endif
