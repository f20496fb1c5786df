/*
 * Data streams: the fast path for DataChunk (PROTOCOL.md 6 and 7), next to
 * RPC but never through the mailbox or the dispatcher's queues.
 *
 *   actr_stream_register(ref, "video", on_chunk, arg)    receiver
 *   actr_stream_send(ref, &target, &chunk, ACTR_STREAM_RELIABLE)  sender
 *
 * A node registers a callback per stream_id; chunks sent to it by any
 * actor with that stream_id reach the callback with the sender's ActrId.
 * A target in this process gets the sender's chunk by pointer, at once,
 * inside the send call (zero copy); a remote target gets the encoded
 * DataChunk behind the 8-byte fragment header on the DataChannel of the
 * lane, on the peer gate's connection to it (the one calls use; a send to
 * a target without one starts it and returns -ACTR_ENOTREADY until it is
 * open).
 *
 * Lanes:
 * - ACTR_STREAM_RELIABLE: ordered and complete; the receiver sees the
 *   chunks in the order they were sent. Backpressure: a send that would
 *   take the connection's queued bytes on the lane above high_water
 *   returns -ENOBUFS (nothing queued); actr_stream_buffered() tells how
 *   much is queued; the writable callback fires when the queue falls to
 *   low_water.
 * - ACTR_STREAM_LATENCY_FIRST: unordered, at most 3 retransmissions.
 *   The receiver delivers latest-first: a chunk whose sequence is not
 *   above the last one delivered for that stream from that sender is
 *   dropped and counted (stale). The sender never blocks on it: while
 *   the lane is congested (bytes queued below SCTP), the newest chunk per
 *   (target, stream) waits in a one-chunk slot, and a newer one replaces
 *   it (counted as coalesced); the slots go out when the queue drains.
 *
 * Chunks for a stream nobody registered are dropped and counted, with a
 * rate-limited log line; undecodable chunks the same. Reactor thread only.
 */
#ifndef ACTR_STREAM_H
#define ACTR_STREAM_H

#include <actr/api.h>

#include <stddef.h>
#include <stdint.h>

#include <actr/proto.h>
#include <actr/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The lanes a chunk can take: their PayloadType values (PROTOCOL.md 6). */
enum {
	ACTR_STREAM_RELIABLE = 2,	/* PAYLOAD_TYPE STREAM_RELIABLE */
	ACTR_STREAM_LATENCY_FIRST = 3,	/* PAYLOAD_TYPE STREAM_LATENCY_FIRST */
};

/** A chunk arrived on a registered stream. from is the sender; chunk and
 * from are borrowed for the call (copy what you keep). For an in-process
 * sender chunk is the sender's own struct. The callback may send, register
 * and unregister (itself included). */
typedef void (*actr_stream_cb)(const Actr__ActrId *from,
			       const Actr__DataChunk *chunk, void *arg);

/** The queued bytes toward target on lane fell to the low-water mark (or
 * the connection to target opened): sends that returned -ENOBUFS or
 * -ACTR_ENOTREADY may be retried. */
typedef void (*actr_stream_writable_cb)(const Actr__ActrId *target, int lane,
					void *arg);

typedef struct actr_stream_opts {
	uint32_t struct_size;		/* sizeof as compiled (0 = this
					 * header's): <actr/util.h> ACTR_OPTS */
	size_t high_water;		/* reliable lane: bytes queued toward
					 * one target before -ENOBUFS (0 =
					 * 4 MiB) */
	size_t low_water;		/* reliable lane: writable fires when
					 * the queue falls to this (0 = 1 MiB,
					 * below high_water) */
	actr_stream_writable_cb writable; /* or NULL */
	void *arg;			/* for writable */
} actr_stream_opts_t;

typedef struct actr_stream_stats {
	uint64_t chunks_out;		/* handed to a lane or delivered
					 * in-process */
	uint64_t bytes_out;		/* their payload bytes */
	uint64_t chunks_in;		/* delivered to a callback */
	uint64_t bytes_in;		/* their payload bytes */
	uint64_t would_block;		/* sends refused with -ENOBUFS */
	uint64_t coalesced;		/* latency-first chunks replaced by a
					 * newer one before they left */
	uint64_t stale;			/* latency-first chunks dropped: not
					 * newer than one delivered */
	uint64_t unregistered;		/* chunks for no registered stream */
	uint64_t malformed;		/* undecodable chunks from a peer */
	uint64_t writable;		/* writable callbacks run */
	size_t held;			/* latency-first chunks waiting in
					 * slots now */
} actr_stream_stats_t;

/** Register cb for stream_id on ref's node (the shell side), replacing an
 * earlier registration of that id. stream_id is copied. 0, -EINVAL,
 * -ENOMEM. */
ACTR_API int actr_stream_register(actr_ref_t *ref, const char *stream_id,
				  actr_stream_cb cb, void *arg);

/** Remove stream_id's registration (its latest-first state goes too).
 * 0, -EINVAL, -ACTR_ENOTFOUND. */
ACTR_API int actr_stream_unregister(actr_ref_t *ref, const char *stream_id);

/** Send chunk to target on lane (ACTR_STREAM_*) as ref's node. chunk is
 * borrowed for the call (encoded, or passed by pointer in-process).
 * 0: delivered in-process, handed to the connection, or (latency-first)
 * held in the stream's slot; -ENOBUFS: reliable lane above high_water
 * (retry on writable); -ACTR_ENOTREADY: the connection to target is being
 * set up; -ACTR_EUNAVAILABLE: target not in this process and no peer
 * gate, or the in-process target is not running; -ACTR_ETOOBIG: larger
 * than the peer gate's max_message; -EINVAL: bad argument (NULL,
 * no stream_id, an RPC lane). */
ACTR_API int actr_stream_send(actr_ref_t *ref, const Actr__ActrId *target,
			      const Actr__DataChunk *chunk, int lane);

/** Bytes queued toward target on lane and not yet taken by SCTP (0 for an
 * in-process target or no connection). */
ACTR_API size_t actr_stream_buffered(actr_ref_t *ref,
				     const Actr__ActrId *target, int lane);

/** Set ref's node's backpressure options (copied). 0, -EINVAL
 * (low_water >= high_water), -ENOMEM. */
ACTR_API int actr_stream_configure(actr_ref_t *ref,
				   const actr_stream_opts_t *opts);

/** ref's node's stream counters. */
ACTR_API void actr_stream_get_stats(actr_ref_t *ref, actr_stream_stats_t *st);

/* The same from a handler or hook context (ctx's node). */
ACTR_API int actr_ctx_register_stream(actr_ctx_t *ctx, const char *stream_id,
				      actr_stream_cb cb, void *arg);
ACTR_API int actr_ctx_unregister_stream(actr_ctx_t *ctx,
					const char *stream_id);
ACTR_API int actr_ctx_send_data_chunk(actr_ctx_t *ctx,
				      const Actr__ActrId *target,
				      const Actr__DataChunk *chunk, int lane);

#ifdef __cplusplus
}
#endif
#endif
