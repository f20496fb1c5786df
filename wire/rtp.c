/*
 * RTP/RTCP codecs and the Opus, VP8 and H264 payload formats. See rtp.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/internal.h"
#include "wire/rtp.h"

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int actr__codec_by_name(const char *name)
{
	if (!name)
		return ACTR__CODEC_NONE;
	if (!strcasecmp(name, "opus"))
		return ACTR__CODEC_OPUS;
	if (!strcasecmp(name, "vp8"))
		return ACTR__CODEC_VP8;
	if (!strcasecmp(name, "h264"))
		return ACTR__CODEC_H264;
	return ACTR__CODEC_NONE;
}

const char *actr__codec_name(int codec)
{
	switch (codec) {
	case ACTR__CODEC_OPUS:
		return "opus";
	case ACTR__CODEC_VP8:
		return "VP8";
	case ACTR__CODEC_H264:
		return "H264";
	default:
		return "?";
	}
}

int actr__codec_pt(int codec)
{
	switch (codec) {
	case ACTR__CODEC_OPUS:
		return ACTR__PT_OPUS;
	case ACTR__CODEC_VP8:
		return ACTR__PT_VP8;
	case ACTR__CODEC_H264:
		return ACTR__PT_H264;
	default:
		return -1;
	}
}

unsigned actr__codec_clock(int codec)
{
	return codec == ACTR__CODEC_OPUS ? 48000 : 90000;
}

bool actr__codec_is_video(int codec)
{
	return codec == ACTR__CODEC_VP8 || codec == ACTR__CODEC_H264;
}

/* ---- RTP header ---------------------------------------------------------- */

bool actr__rtp_is_rtcp(const uint8_t *p, size_t n)
{
	return n >= 2 && p[1] >= 192 && p[1] <= 223;
}

int actr__rtp_parse(const uint8_t *p, size_t n, struct actr__rtp *out)
{
	size_t off = ACTR__RTP_HDR, end = n;
	unsigned cc;

	if (n < ACTR__RTP_HDR || (p[0] >> 6) != 2)
		return -ACTR_EPROTO;
	cc = p[0] & 0x0f;
	off += 4u * cc;
	if (p[0] & 0x10) {		/* header extension */
		if (off + 4 > n)
			return -ACTR_EPROTO;
		off += 4 + 4u * rd16(p + off + 2);
	}
	if (off > n)
		return -ACTR_EPROTO;
	if (p[0] & 0x20) {		/* padding: the last byte counts it */
		uint8_t pad = p[n - 1];

		if (!pad || pad > n - off)
			return -ACTR_EPROTO;
		end = n - pad;
	}
	out->marker = p[1] & 0x80;
	out->pt = p[1] & 0x7f;
	out->seq = rd16(p + 2);
	out->ts = rd32(p + 4);
	out->ssrc = rd32(p + 8);
	out->payload = p + off;
	out->plen = end - off;
	return 0;
}

void actr__rtp_write_hdr(uint8_t *p, bool marker, uint8_t pt, uint16_t seq,
			 uint32_t ts, uint32_t ssrc)
{
	p[0] = 0x80;
	p[1] = (uint8_t)((marker ? 0x80 : 0) | (pt & 0x7f));
	wr16(p + 2, seq);
	wr32(p + 4, ts);
	wr32(p + 8, ssrc);
}

/* ---- packetisers ---------------------------------------------------------- */

static int pack_opus(const uint8_t *f, size_t len, size_t max,
		     actr__rtp_emit_fn emit, void *arg)
{
	int rc;

	if (len > max)
		return -ACTR_ETOOBIG; /* Opus frames are one packet */
	rc = emit(arg, NULL, 0, f, len, true);
	return rc < 0 ? rc : 1;
}

/* RFC 7741 4.2: a one-byte descriptor, S on the first packet of the
 * frame (partition 0); the marker on the last. */
static int pack_vp8(const uint8_t *f, size_t len, size_t max,
		    actr__rtp_emit_fn emit, void *arg)
{
	size_t off = 0, room = max - 1;
	int n = 0, rc;

	while (off < len) {
		size_t k = ACTR_MIN(room, len - off);
		uint8_t d = off == 0 ? 0x10 : 0x00;

		rc = emit(arg, &d, 1, f + off, k, off + k == len);
		if (rc < 0)
			return rc;
		off += k;
		n++;
	}
	return n;
}

/* One packet held back so the next one tells whether it was the last. */
struct h264_pack {
	actr__rtp_emit_fn emit;
	void *arg;
	bool have;
	uint8_t hdr[2];
	size_t hlen;
	const uint8_t *data;
	size_t dlen;
	uint8_t stap[2][ACTR__RTP_MTU + 64]; /* STAP-A payloads */
	int cur;			/* stap[] being built */
	size_t stap_len;		/* 0: none being built */
	unsigned stap_nals;
	uint8_t stap_nri;		/* highest NRI of its NAL units */
	int n;
	int err;
};

static void h_push(struct h264_pack *h, const uint8_t *hdr, size_t hlen,
		   const uint8_t *data, size_t dlen)
{
	if (h->err)
		return;
	if (h->have) {
		int rc = h->emit(h->arg, h->hdr, h->hlen, h->data, h->dlen,
				 false);

		if (rc < 0) {
			h->err = rc;
			return;
		}
		h->n++;
	}
	if (hlen)
		memcpy(h->hdr, hdr, hlen);
	h->hlen = hlen;
	h->data = data;
	h->dlen = dlen;
	h->have = true;
}

static void h_close_stap(struct h264_pack *h)
{
	uint8_t *s = h->stap[h->cur];

	if (!h->stap_len)
		return;
	if (h->stap_nals == 1) {
		/* a lone NAL unit goes as itself (single NAL packet) */
		h_push(h, NULL, 0, s + 3, h->stap_len - 3);
	} else {
		s[0] = (uint8_t)(h->stap_nri | 24);
		h_push(h, NULL, 0, s, h->stap_len);
	}
	h->cur ^= 1;
	h->stap_len = 0;
	h->stap_nals = 0;
	h->stap_nri = 0;
}

static void h_nal(struct h264_pack *h, const uint8_t *nal, size_t n,
		  size_t max)
{
	if (n + 3 <= max) {
		uint8_t *s;

		/* aggregate (RFC 6184 5.7.1): 1 header byte + 2-byte size */
		if (h->stap_len && h->stap_len + 2 + n > max)
			h_close_stap(h);
		s = h->stap[h->cur];
		if (!h->stap_len)
			h->stap_len = 1;
		wr16(s + h->stap_len, (uint16_t)n);
		memcpy(s + h->stap_len + 2, nal, n);
		h->stap_len += 2 + n;
		h->stap_nals++;
		if ((nal[0] & 0x60) > h->stap_nri)
			h->stap_nri = nal[0] & 0x60;
		return;
	}
	h_close_stap(h);
	if (n <= max) {
		h_push(h, NULL, 0, nal, n);
		return;
	}
	/* FU-A (5.8): indicator, header with S/E, then a slice of the NAL
	 * unit without its own header byte */
	for (size_t off = 1; off < n;) {
		size_t k = ACTR_MIN(max - 2, n - off);
		uint8_t fu[2];

		fu[0] = (uint8_t)((nal[0] & 0xe0) | 28);
		fu[1] = (uint8_t)((off == 1 ? 0x80 : 0) |
				  (off + k == n ? 0x40 : 0) | (nal[0] & 0x1f));
		h_push(h, fu, 2, nal + off, k);
		off += k;
	}
}

/* Next Annex B start code at or after i: its offset, and its length. */
static size_t find_start(const uint8_t *f, size_t len, size_t i, size_t *sc)
{
	for (; i + 3 <= len; i++) {
		if (f[i] == 0 && f[i + 1] == 0) {
			if (f[i + 2] == 1) {
				*sc = 3;
				return i;
			}
			if (i + 4 <= len && f[i + 2] == 0 && f[i + 3] == 1) {
				*sc = 4;
				return i;
			}
		}
	}
	*sc = 0;
	return len;
}

static int pack_h264(const uint8_t *f, size_t len, size_t max,
		     actr__rtp_emit_fn emit, void *arg)
{
	struct h264_pack *h = calloc(1, sizeof(*h));
	size_t sc, i = find_start(f, len, 0, &sc);
	int rc;

	if (!h)
		return -ENOMEM;
	h->emit = emit;
	h->arg = arg;
	if (!sc)
		i = 0; /* no start code: the frame is one NAL unit */
	else
		i += sc;
	while (i < len && !h->err) {
		size_t nsc, j = find_start(f, len, i, &nsc);
		size_t end = j;

		/* trailing zero bytes belong to the next start code */
		while (end > i && f[end - 1] == 0 && nsc)
			end--;
		if (end > i)
			h_nal(h, f + i, end - i, max);
		i = nsc ? j + nsc : len;
	}
	h_close_stap(h);
	if (!h->err && !h->have)
		h->err = -EINVAL;
	if (!h->err) {
		rc = emit(arg, h->hdr, h->hlen, h->data, h->dlen, true);
		if (rc < 0)
			h->err = rc;
		else
			h->n++;
	}
	rc = h->err ? h->err : h->n;
	free(h);
	return rc;
}

int actr__rtp_packetize(int codec, const uint8_t *frame, size_t len,
			size_t max, actr__rtp_emit_fn emit, void *arg)
{
	if (!len || max < 16 || max > ACTR__RTP_MTU)
		return -EINVAL;
	switch (codec) {
	case ACTR__CODEC_OPUS:
		return pack_opus(frame, len, max, emit, arg);
	case ACTR__CODEC_VP8:
		return pack_vp8(frame, len, max, emit, arg);
	case ACTR__CODEC_H264:
		return pack_h264(frame, len, max, emit, arg);
	default:
		return -EINVAL;
	}
}

/* ---- depacketisers -------------------------------------------------------- */

void actr__frame_buf_free(struct actr__frame_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static int fb_put(struct actr__frame_buf *b, const uint8_t *p, size_t n)
{
	if (!b)
		return 0;
	if (b->len + n > ACTR__RTP_MAX_FRAME)
		return -ACTR_ETOOBIG;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 2048;
		uint8_t *np;

		while (cap < b->len + n)
			cap *= 2;
		np = actr__realloc(b->p, cap);
		if (!np)
			return -ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static const uint8_t start_code[4] = { 0, 0, 0, 1 };

bool actr__frame_is_key(int codec, const uint8_t *f, size_t len)
{
	size_t sc, i;

	switch (codec) {
	case ACTR__CODEC_VP8:
		return len && !(f[0] & 1);
	case ACTR__CODEC_H264:
		i = find_start(f, len, 0, &sc);
		if (!sc)
			return len && ((f[0] & 0x1f) == 5 || (f[0] & 0x1f) == 7);
		while (sc && i + sc < len) {
			unsigned t = f[i + sc] & 0x1f;

			if (t == 5 || t == 7)
				return true;
			i = find_start(f, len, i + sc, &sc);
		}
		return false;
	default:
		return true;
	}
}

/* RFC 7741 4.2: the descriptor's length; start/key from it. */
static int vp8_desc(const uint8_t *pl, size_t n, size_t *off, bool *start,
		    bool *key)
{
	size_t o = 1;

	if (n < 1)
		return -ACTR_EPROTO;
	if (pl[0] & 0x80) {		/* X: extension byte */
		uint8_t x;

		if (n < 2)
			return -ACTR_EPROTO;
		x = pl[1];
		o = 2;
		if (x & 0x80) {		/* I: picture id, 7 or 15 bits */
			if (o >= n)
				return -ACTR_EPROTO;
			o += (pl[o] & 0x80) ? 2 : 1;
		}
		if (x & 0x40)		/* L: TL0PICIDX */
			o++;
		if (x & 0x30)		/* T or K: TID/Y/KEYIDX */
			o++;
	}
	if (o >= n)
		return -ACTR_EPROTO; /* a packet carries frame bytes */
	*off = o;
	*start = (pl[0] & 0x10) && (pl[0] & 0x07) == 0;
	/* the frame tag's P bit (RFC 6386 9.1): 0 = keyframe */
	*key = *start && !(pl[o] & 0x01);
	return 0;
}

static int h264_info(const uint8_t *pl, size_t n, bool *start, bool *key)
{
	unsigned t;

	if (n < 1 || (pl[0] & 0x80))
		return -ACTR_EPROTO; /* forbidden_zero_bit */
	t = pl[0] & 0x1f;
	*start = true;
	*key = false;
	if (t >= 1 && t <= 23) {
		*key = t == 5 || t == 7;
		return 0;
	}
	if (t == 24) {
		size_t o = 1;

		while (o < n) {
			size_t sz;

			if (o + 2 > n)
				return -ACTR_EPROTO;
			sz = rd16(pl + o);
			o += 2;
			if (!sz || sz > n - o)
				return -ACTR_EPROTO;
			if ((pl[o] & 0x1f) == 5 || (pl[o] & 0x1f) == 7)
				*key = true;
			o += sz;
		}
		return 0;
	}
	if (t == 28) {
		if (n < 3)
			return -ACTR_EPROTO;
		*start = pl[1] & 0x80;
		*key = *start && ((pl[1] & 0x1f) == 5 || (pl[1] & 0x1f) == 7);
		return 0;
	}
	return -ACTR_EPROTO; /* STAP-B, MTAP, FU-B: not mode 1 */
}

int actr__rtp_payload_info(int codec, const uint8_t *pl, size_t n,
			   bool *start, bool *key)
{
	size_t off;

	switch (codec) {
	case ACTR__CODEC_OPUS:
		if (!n)
			return -ACTR_EPROTO;
		*start = *key = true;
		return 0;
	case ACTR__CODEC_VP8:
		return vp8_desc(pl, n, &off, start, key);
	case ACTR__CODEC_H264:
		return h264_info(pl, n, start, key);
	default:
		return -ACTR_EPROTO;
	}
}

int actr__rtp_depacketize(int codec, const uint8_t *pl, size_t n,
			  struct actr__frame_buf *out, bool *start, bool *key)
{
	size_t off;
	int rc;

	switch (codec) {
	case ACTR__CODEC_OPUS:
		if (!n)
			return -ACTR_EPROTO;
		*start = *key = true;
		return fb_put(out, pl, n);
	case ACTR__CODEC_VP8:
		rc = vp8_desc(pl, n, &off, start, key);
		return rc < 0 ? rc : fb_put(out, pl + off, n - off);
	case ACTR__CODEC_H264:
		rc = h264_info(pl, n, start, key);
		if (rc < 0)
			return rc;
		switch (pl[0] & 0x1f) {
		case 24:
			for (size_t o = 1; o < n && rc == 0;) {
				size_t sz = rd16(pl + o);

				rc = fb_put(out, start_code, 4);
				if (rc == 0)
					rc = fb_put(out, pl + o + 2, sz);
				o += 2 + sz;
			}
			return rc;
		case 28:
			if (pl[1] & 0x80) {
				uint8_t nh = (uint8_t)((pl[0] & 0xe0) |
						       (pl[1] & 0x1f));

				rc = fb_put(out, start_code, 4);
				if (rc == 0)
					rc = fb_put(out, &nh, 1);
				if (rc < 0)
					return rc;
			}
			return fb_put(out, pl + 2, n - 2);
		default:
			rc = fb_put(out, start_code, 4);
			return rc < 0 ? rc : fb_put(out, pl, n);
		}
	default:
		return -ACTR_EPROTO;
	}
}

/* ---- RTCP ----------------------------------------------------------------- */

int actr__rtcp_next(const uint8_t *p, size_t n, size_t *off,
		    struct actr__rtcp *out)
{
	const uint8_t *h;
	size_t len, rem, body;

	if (*off >= n)
		return 0;
	h = p + *off;
	rem = n - *off;
	if (rem < 4 || (h[0] >> 6) != 2)
		return -ACTR_EPROTO;
	len = 4 * ((size_t)rd16(h + 2) + 1);
	if (len > rem)
		return -ACTR_EPROTO;
	body = len;
	if (h[0] & 0x20) {
		uint8_t pad = h[len - 1];

		if (!pad || pad > len - 4)
			return -ACTR_EPROTO;
		body = len - pad;
	}
	memset(out, 0, sizeof(*out));
	out->type = h[1];
	out->fmt = h[0] & 0x1f;
	if (body >= 8)
		out->ssrc = rd32(h + 4);
	out->body = h + 8;
	out->blen = body >= 8 ? body - 8 : 0;
	switch (out->type) {
	case ACTR__RTCP_SR:
		if (body < 28 || body < 28 + 24u * out->fmt)
			return -ACTR_EPROTO;
		out->ntp = (uint64_t)rd32(h + 8) << 32 | rd32(h + 12);
		out->rtp_ts = rd32(h + 16);
		out->packets = rd32(h + 20);
		out->octets = rd32(h + 24);
		out->body = h + 28;
		out->blen = body - 28;
		break;
	case ACTR__RTCP_RR:
		if (body < 8 + 24u * out->fmt)
			return -ACTR_EPROTO;
		break;
	case ACTR__RTCP_RTPFB:
	case ACTR__RTCP_PSFB:
		if (body < 12)
			return -ACTR_EPROTO;
		out->media_ssrc = rd32(h + 8);
		out->body = h + 12;
		out->blen = body - 12;
		break;
	default:
		break;
	}
	*off += len;
	return 1;
}

int actr__rtcp_block(const struct actr__rtcp *r, unsigned i,
		     struct actr__rtcp_block *b)
{
	const uint8_t *q;

	if ((r->type != ACTR__RTCP_SR && r->type != ACTR__RTCP_RR) ||
	    i >= r->fmt || 24u * (i + 1) > r->blen)
		return -ACTR_EPROTO;
	q = r->body + 24u * i;
	b->ssrc = rd32(q);
	b->fraction_lost = q[4];
	b->cum_lost = rd32(q + 4) & 0xffffff;
	b->ext_seq = rd32(q + 8);
	b->jitter = rd32(q + 12);
	b->lsr = rd32(q + 16);
	b->dlsr = rd32(q + 20);
	return 0;
}

int actr__rtcp_nack_each(const struct actr__rtcp *r,
			 void (*fn)(void *arg, uint16_t seq), void *arg)
{
	int count = 0;

	if (r->type != ACTR__RTCP_RTPFB || r->fmt != 1 || r->blen % 4)
		return -ACTR_EPROTO;
	for (size_t o = 0; o + 4 <= r->blen; o += 4) {
		uint16_t pid = rd16(r->body + o), blp = rd16(r->body + o + 2);

		fn(arg, pid);
		count++;
		for (int b = 0; b < 16; b++)
			if (blp & (1u << b)) {
				fn(arg, (uint16_t)(pid + b + 1));
				count++;
			}
	}
	return count;
}

static void rtcp_hdr(uint8_t *p, unsigned fmt, unsigned type, size_t len)
{
	p[0] = (uint8_t)(0x80 | (fmt & 0x1f));
	p[1] = (uint8_t)type;
	wr16(p + 2, (uint16_t)(len / 4 - 1));
}

static void put_blocks(uint8_t *q, const struct actr__rtcp_block *b,
		       unsigned nb)
{
	for (unsigned i = 0; i < nb; i++, q += 24) {
		wr32(q, b[i].ssrc);
		wr32(q + 4, (uint32_t)b[i].fraction_lost << 24 |
			    (b[i].cum_lost & 0xffffff));
		wr32(q + 8, b[i].ext_seq);
		wr32(q + 12, b[i].jitter);
		wr32(q + 16, b[i].lsr);
		wr32(q + 20, b[i].dlsr);
	}
}

int actr__rtcp_write_sr(uint8_t *p, size_t cap, uint32_t ssrc, uint64_t ntp,
			uint32_t rtp_ts, uint32_t packets, uint32_t octets,
			const struct actr__rtcp_block *b, unsigned nb)
{
	size_t len = 28 + 24u * nb;

	if (nb > 31 || len > cap)
		return -ENOSPC;
	rtcp_hdr(p, nb, ACTR__RTCP_SR, len);
	wr32(p + 4, ssrc);
	wr32(p + 8, (uint32_t)(ntp >> 32));
	wr32(p + 12, (uint32_t)ntp);
	wr32(p + 16, rtp_ts);
	wr32(p + 20, packets);
	wr32(p + 24, octets);
	put_blocks(p + 28, b, nb);
	return (int)len;
}

int actr__rtcp_write_rr(uint8_t *p, size_t cap, uint32_t ssrc,
			const struct actr__rtcp_block *b, unsigned nb)
{
	size_t len = 8 + 24u * nb;

	if (nb > 31 || len > cap)
		return -ENOSPC;
	rtcp_hdr(p, nb, ACTR__RTCP_RR, len);
	wr32(p + 4, ssrc);
	put_blocks(p + 8, b, nb);
	return (int)len;
}

int actr__rtcp_write_sdes(uint8_t *p, size_t cap, uint32_t ssrc,
			  const char *cname)
{
	size_t cl = strlen(cname), len;

	if (cl > 255)
		return -EINVAL;
	/* ssrc, CNAME item (type, len, text), end item, pad to 4 */
	len = (4 + 4 + 2 + cl + 1 + 3) & ~(size_t)3;
	if (len > cap)
		return -ENOSPC;
	memset(p, 0, len);
	rtcp_hdr(p, 1, ACTR__RTCP_SDES, len);
	wr32(p + 4, ssrc);
	p[8] = 1;
	p[9] = (uint8_t)cl;
	memcpy(p + 10, cname, cl);
	return (int)len;
}

int actr__rtcp_write_nack(uint8_t *p, size_t cap, uint32_t ssrc,
			  uint32_t media_ssrc, uint16_t first,
			  const bool *lost, unsigned count)
{
	size_t len = 12;
	unsigned pairs = 0;

	if (cap < 12)
		return -ENOSPC;
	for (unsigned i = 0; i < count && pairs < 16; i++) {
		uint16_t blp = 0;
		unsigned j;

		if (!lost[i])
			continue;
		for (j = 1; j <= 16 && i + j < count; j++)
			if (lost[i + j])
				blp |= (uint16_t)(1u << (j - 1));
		if (len + 4 > cap)
			return -ENOSPC;
		wr16(p + len, (uint16_t)(first + i));
		wr16(p + len + 2, blp);
		len += 4;
		pairs++;
		i += 16;
	}
	if (!pairs)
		return 0;
	rtcp_hdr(p, 1, ACTR__RTCP_RTPFB, len);
	wr32(p + 4, ssrc);
	wr32(p + 8, media_ssrc);
	return (int)len;
}

int actr__rtcp_write_pli(uint8_t *p, size_t cap, uint32_t ssrc,
			 uint32_t media_ssrc)
{
	if (cap < 12)
		return -ENOSPC;
	rtcp_hdr(p, 1, ACTR__RTCP_PSFB, 12);
	wr32(p + 4, ssrc);
	wr32(p + 8, media_ssrc);
	return 12;
}
