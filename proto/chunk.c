/*
 * DataChunk without copying the payload (proto/chunk.h). Protobuf wire
 * format: a tag varint (field number << 3 | wire type), then a varint
 * (type 0), 8 bytes (1), a length varint and bytes (2) or 4 bytes (5).
 */
#include <string.h>

#include <actr/error.h>

#include "proto/chunk.h"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* A varint of at most 10 bytes at p[*i..n); false when truncated or
 * longer (bits past 64 are dropped, as protobuf-c does). */
static bool varint(const uint8_t *p, size_t n, size_t *i, uint64_t *out)
{
	uint64_t v = 0;

	for (unsigned k = 0; k < 10 && *i < n; k++) {
		uint8_t b = p[(*i)++];

		v |= (uint64_t)(b & 0x7f) << (7 * k);
		if (!(b & 0x80)) {
			*out = v;
			return true;
		}
	}
	return false;
}

int actr__chunk_parse(const uint8_t *p, size_t n, struct actr__chunk_view *v)
{
	const uint8_t *id = NULL;
	size_t idlen = 0, i = 0;
	bool have_seq = false, have_payload = false, have_meta = false;

	actr__data_chunk__init(&v->c);
	while (i < n) {
		uint64_t tag, x, len;
		unsigned field, wt;

		/* protobuf-c reads a tag of at most 5 bytes */
		size_t start = i;

		if (!varint(p, n, &i, &tag) || i - start > 5 ||
		    tag > 0xffffffffu)
			return -ACTR_EPROTO;
		field = (unsigned)(tag >> 3);
		wt = (unsigned)(tag & 7);
		if (field == 0 || field > 0x1fffffff)
			return -ACTR_EPROTO;
		switch (wt) {
		case WT_VARINT:
			if (!varint(p, n, &i, &x))
				return -ACTR_EPROTO;
			if (field == 2) {
				v->c.sequence = x;
				have_seq = true;
			} else if (field == 5) {
				v->c.timestamp_ms = (int64_t)x;
				v->c.has_timestamp_ms = true;
			} else if (field == 1 || field == 3 || field == 4) {
				return -ACTR_EPROTO;
			}
			break;
		case WT_LEN:
			if (!varint(p, n, &i, &len) || len > n - i)
				return -ACTR_EPROTO;
			if (field == 1) {
				id = p + i;
				idlen = (size_t)len;
			} else if (field == 3) {
				v->c.payload.data = (uint8_t *)(p + i);
				v->c.payload.len = (size_t)len;
				have_payload = true;
			} else if (field == 4) {
				have_meta = true;
			} else if (field == 2 || field == 5) {
				return -ACTR_EPROTO;
			}
			i += (size_t)len;
			break;
		case WT_I64:
		case WT_I32:
			if (field <= 5)
				return -ACTR_EPROTO;
			if ((wt == WT_I64 ? 8u : 4u) > n - i)
				return -ACTR_EPROTO;
			i += wt == WT_I64 ? 8 : 4;
			break;
		default:	/* groups and reserved wire types */
			return -ACTR_EPROTO;
		}
	}
	if (!id || !have_seq || !have_payload)
		return -ACTR_EPROTO;
	if (have_meta)
		return 1;
	/* as a C string, stream_id ends at its first NUL */
	{
		const uint8_t *z = memchr(id, 0, idlen);

		if (z)
			idlen = (size_t)(z - id);
	}
	if (idlen > ACTR__CHUNK_ID_MAX)
		return -ACTR_EPROTO;
	memcpy(v->id, id, idlen);
	v->id[idlen] = '\0';
	v->c.stream_id = v->id;
	if (!v->c.payload.len)
		v->c.payload.data = NULL;
	return 0;
}
