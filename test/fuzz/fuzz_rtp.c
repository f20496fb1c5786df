/* libFuzzer target: the RTP and RTCP parsers and the Opus/VP8/H264
 * depacketisers (wire/rtp.c). Invariants: nothing reads or writes out of
 * bounds (ASan), a parsed RTP payload lies inside the input, RTCP walking
 * advances and ends, a depacketised frame stays within its bound, and a
 * frame the packetiser splits comes back identical. */
#include <stdlib.h>
#include <string.h>

#include <actr/log.h>

#include "wire/rtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int collect(void *arg, const uint8_t *hdr, size_t hlen,
		   const uint8_t *d, size_t dlen, bool last)
{
	struct actr__frame_buf *fb = arg;
	bool s, k;
	uint8_t pkt[ACTR__RTP_MTU];

	(void)last;
	if (hlen + dlen > sizeof(pkt))
		abort();
	if (hlen)
		memcpy(pkt, hdr, hlen);
	memcpy(pkt + hlen, d, dlen);
	return actr__rtp_depacketize(ACTR__CODEC_VP8, pkt, hlen + dlen, fb,
				     &s, &k) < 0 ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct actr__rtp h;
	struct actr__rtcp r;
	struct actr__frame_buf fb = { 0 };
	size_t off = 0;
	bool s, k;

	actr_log_set_level(ACTR_LOG_ERROR);
	if (actr__rtp_parse(data, size, &h) == 0 &&
	    (h.payload < data || h.payload + h.plen > data + size))
		abort();
	for (int i = 0; i < 1000; i++) {
		size_t before = off;
		int rc = actr__rtcp_next(data, size, &off, &r);

		if (rc <= 0)
			break;
		if (off <= before || off > size)
			abort();
		for (unsigned b = 0; b < r.fmt; b++) {
			struct actr__rtcp_block blk;

			actr__rtcp_block(&r, b, &blk);
		}
	}
	for (int c = ACTR__CODEC_OPUS; c <= ACTR__CODEC_H264; c++) {
		fb.len = 0;
		actr__rtp_depacketize(c, data, size, &fb, &s, &k);
		actr__rtp_payload_info(c, data, size, &s, &k);
		if (fb.len > ACTR__RTP_MAX_FRAME)
			abort();
	}
	/* VP8 round trip of the input as a frame */
	if (size) {
		fb.len = 0;
		if (actr__rtp_packetize(ACTR__CODEC_VP8, data, size, 1188,
					collect, &fb) > 0 &&
		    (fb.len != size || memcmp(fb.p, data, size)))
			abort();
	}
	actr__frame_buf_free(&fb);
	return 0;
}
