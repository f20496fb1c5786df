/*
 * RTP and RTCP (RFC 3550, RFC 4585) and the payload formats of the three
 * registered codecs (PROTOCOL.md 7): Opus (RFC 7587, one frame per
 * packet), VP8 (RFC 7741) and H264 (RFC 6184, packetization-mode 1:
 * single NAL unit, STAP-A, FU-A). Sans-I/O, internal, any thread: bytes in,
 * bytes out. Every length and count from a peer is checked; malformed
 * input returns -ACTR_EPROTO and never reads or writes out of bounds
 * (test/fuzz/fuzz_rtp.c).
 */
#ifndef ACTR_WIRE_RTP_H
#define ACTR_WIRE_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum actr__codec {
	ACTR__CODEC_NONE = 0,
	ACTR__CODEC_OPUS = 1,		/* PT 111, 48 kHz, 2 channels */
	ACTR__CODEC_VP8 = 2,		/* PT 96, 90 kHz */
	ACTR__CODEC_H264 = 3,		/* PT 102, 90 kHz, mode 1 */
};

#define ACTR__PT_OPUS 111
#define ACTR__PT_VP8 96
#define ACTR__PT_H264 102
#define ACTR__RTP_HDR 12		/* fixed header, no CSRC/extension */
#define ACTR__RTP_MTU 1200		/* RTP packet bound we send */
#define ACTR__RTP_MAX_FRAME (4u << 20)	/* largest frame reassembled */

/** Codec by name, case-insensitive ("opus", "VP8", "H264"), or NONE. */
int actr__codec_by_name(const char *name);
const char *actr__codec_name(int codec);	/* "opus", "VP8", "H264" */
int actr__codec_pt(int codec);			/* default payload type */
unsigned actr__codec_clock(int codec);		/* 48000 or 90000 */
bool actr__codec_is_video(int codec);

struct actr__rtp {
	bool marker;
	uint8_t pt;
	uint16_t seq;
	uint32_t ts;
	uint32_t ssrc;
	const uint8_t *payload;		/* into the parsed packet */
	size_t plen;			/* payload bytes (padding removed) */
};

/** Parse an RTP packet (header, CSRCs, extension, padding). 0 or
 * -ACTR_EPROTO. */
int actr__rtp_parse(const uint8_t *p, size_t n, struct actr__rtp *out);

/** Write the 12-byte fixed header. */
void actr__rtp_write_hdr(uint8_t *p, bool marker, uint8_t pt, uint16_t seq,
			 uint32_t ts, uint32_t ssrc);

/* RTP or RTCP, both in 128..191 (RFC 5761 4: RTCP PT 192..223 is at
 * byte 1 = 192..223 once the marker bit is folded in). */
bool actr__rtp_is_rtcp(const uint8_t *p, size_t n);

/* ---- packetisers ----------------------------------------------------------
 * Split one encoded frame into RTP payloads of at most max bytes each:
 * emit(hdr, hlen, data, dlen, last) per packet, where the payload is hdr
 * (a payload descriptor or NAL header, at most 2 bytes... or the STAP-A
 * aggregate, built in a scratch buffer) followed by data. last marks the
 * frame's final packet (the RTP marker for video). Returns the number of
 * packets, or the first negative value emit returned, or -EINVAL (empty
 * frame, H264 without NAL units, max too small). */
typedef int (*actr__rtp_emit_fn)(void *arg, const uint8_t *hdr, size_t hlen,
				 const uint8_t *data, size_t dlen, bool last);

int actr__rtp_packetize(int codec, const uint8_t *frame, size_t len,
			size_t max, actr__rtp_emit_fn emit, void *arg);

/* ---- depacketisers --------------------------------------------------------
 * The payload of one RTP packet -> bytes to append to the frame being
 * reassembled. start says whether the packet begins a frame by the
 * format's own rules (VP8 S bit with partition 0; H264: not the middle or
 * end of an FU-A), key whether that start is a keyframe. Appends to
 * out (grown as needed up to ACTR__RTP_MAX_FRAME). 0, -ACTR_EPROTO,
 * -ACTR_ETOOBIG, -ENOMEM. */
struct actr__frame_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

int actr__rtp_depacketize(int codec, const uint8_t *pl, size_t n,
			  struct actr__frame_buf *out, bool *start, bool *key);

/** Does this payload start a frame, and is it a keyframe (no output). */
int actr__rtp_payload_info(int codec, const uint8_t *pl, size_t n,
			   bool *start, bool *key);

void actr__frame_buf_free(struct actr__frame_buf *b);

/** Is an encoded frame (not a payload) a keyframe: VP8 frame tag P = 0,
 * H264 an IDR or SPS NAL unit (Annex B), Opus always. */
bool actr__frame_is_key(int codec, const uint8_t *f, size_t len);

/* ---- RTCP ------------------------------------------------------------- */

enum {
	ACTR__RTCP_SR = 200,
	ACTR__RTCP_RR = 201,
	ACTR__RTCP_SDES = 202,
	ACTR__RTCP_BYE = 203,
	ACTR__RTCP_RTPFB = 205,		/* fmt 1: generic NACK */
	ACTR__RTCP_PSFB = 206,		/* fmt 1: PLI, fmt 4: FIR */
};

struct actr__rtcp_block {		/* a report block (SR/RR) */
	uint32_t ssrc;			/* source reported on */
	uint8_t fraction_lost;
	uint32_t cum_lost;		/* 24 bits */
	uint32_t ext_seq;		/* extended highest sequence */
	uint32_t jitter;
	uint32_t lsr;
	uint32_t dlsr;
};

/* One RTCP packet of a compound packet, as actr__rtcp_next finds it. */
struct actr__rtcp {
	uint8_t type;			/* ACTR__RTCP_* or other */
	uint8_t fmt;			/* count / FMT field */
	uint32_t ssrc;			/* sender (packet sender SSRC) */
	uint32_t media_ssrc;		/* RTPFB/PSFB: media source */
	uint64_t ntp;			/* SR */
	uint32_t rtp_ts;		/* SR */
	uint32_t packets, octets;	/* SR */
	const uint8_t *body;		/* after the common part */
	size_t blen;
};

/** Walk a compound packet: *off starts at 0; fills one packet and
 * advances. 1 = a packet, 0 = end, -ACTR_EPROTO malformed (stop). */
int actr__rtcp_next(const uint8_t *p, size_t n, size_t *off,
		    struct actr__rtcp *out);

/** Report block i of an SR/RR (i < fmt). 0 or -ACTR_EPROTO. */
int actr__rtcp_block(const struct actr__rtcp *r, unsigned i,
		     struct actr__rtcp_block *b);

/** The sequence numbers a generic NACK asks for: calls fn for each. Count
 * or -ACTR_EPROTO. */
int actr__rtcp_nack_each(const struct actr__rtcp *r,
			 void (*fn)(void *arg, uint16_t seq), void *arg);

/* Writers: append to p (cap bytes); return bytes written or -ENOSPC. */
int actr__rtcp_write_sr(uint8_t *p, size_t cap, uint32_t ssrc, uint64_t ntp,
			uint32_t rtp_ts, uint32_t packets, uint32_t octets,
			const struct actr__rtcp_block *b, unsigned nb);
int actr__rtcp_write_rr(uint8_t *p, size_t cap, uint32_t ssrc,
			const struct actr__rtcp_block *b, unsigned nb);
int actr__rtcp_write_sdes(uint8_t *p, size_t cap, uint32_t ssrc,
			  const char *cname);
/** Generic NACK for the seqs in [first, first + count) that lost[] flags
 * (lost[i] for first + i), packed as PID+BLP pairs (at most 16 pairs). */
int actr__rtcp_write_nack(uint8_t *p, size_t cap, uint32_t ssrc,
			  uint32_t media_ssrc, uint16_t first,
			  const bool *lost, unsigned count);
int actr__rtcp_write_pli(uint8_t *p, size_t cap, uint32_t ssrc,
			 uint32_t media_ssrc);

#endif
