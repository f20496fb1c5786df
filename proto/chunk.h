/*
 * A DataChunk decoder that does not copy the payload (PROTOCOL.md 6), for
 * the stream lanes' per-chunk path: the chunk it fills points into the
 * bytes it was given, so a 64 KiB payload goes from the reassembled
 * DataChannel message to the stream callback untouched. Chunks with
 * metadata entries (strings that need storage) are left to protobuf-c.
 *
 * Sans-I/O, internal to the library (runtime/stream.c), any thread.
 */
#ifndef ACTR_PROTO_CHUNK_H
#define ACTR_PROTO_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include <actr/proto.h>

#define ACTR__CHUNK_ID_MAX 1024		/* longest stream_id accepted */

struct actr__chunk_view {
	Actr__DataChunk c;		/* the chunk; payload points into
					 * the input, stream_id into id */
	char id[ACTR__CHUNK_ID_MAX + 1]; /* stream_id, NUL-terminated */
};

/**
 * Decode p[0..n) as a DataChunk into v. 0: v->c is ready and valid while
 * p is; 1: the chunk has metadata entries, decode it with
 * actr__data_chunk__unpack instead; -ACTR_EPROTO: malformed (truncated, a
 * field of the wrong wire type, a group, a field number out of range, a
 * required field missing, stream_id longer than ACTR__CHUNK_ID_MAX up to
 * its first NUL). Whatever it accepts, protobuf-c's unpack accepts with
 * the same values (test/fuzz/fuzz_stream.c checks it).
 */
int actr__chunk_parse(const uint8_t *p, size_t n, struct actr__chunk_view *v);

#endif
