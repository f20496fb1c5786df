/* Unit tests of wire/rtp.c (RTP/RTCP, Opus/VP8/H264 payload formats) and
 * wire/srtp.c (libsrtp2 sessions: round trip, tamper, replay). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <actr/actr.h>

#include "core/internal.h"
#include "wire/rtp.h"
#include "wire/sdp.h"
#include "wire/srtp.h"
#include "test.h"

struct pkts {
	uint8_t p[4096][ACTR__RTP_MTU];
	size_t n[4096];
	bool last[4096];
	int count;
};

static int collect(void *arg, const uint8_t *hdr, size_t hlen,
		   const uint8_t *data, size_t dlen, bool last)
{
	struct pkts *k = arg;

	CHECK(k->count < 4096);
	CHECK(hlen + dlen <= ACTR__RTP_MTU - ACTR__RTP_HDR);
	if (hlen)
		memcpy(k->p[k->count], hdr, hlen);
	memcpy(k->p[k->count] + hlen, data, dlen);
	k->n[k->count] = hlen + dlen;
	k->last[k->count++] = last;
	return 0;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* Packetise then depacketise; the frame comes back byte for byte. */
static int round_trip(int codec, const uint8_t *f, size_t len,
		      struct actr__frame_buf *out, bool *key)
{
	struct pkts *k = calloc(1, sizeof(*k));
	int n;
	bool start, kk;

	CHECK(k);
	n = actr__rtp_packetize(codec, f, len, ACTR__RTP_MTU - ACTR__RTP_HDR,
				collect, k);
	CHECK(n > 0);
	CHECK_EQ(n, k->count);
	out->len = 0;
	for (int i = 0; i < n; i++) {
		CHECK_EQ(k->last[i], i == n - 1);
		CHECK_OK(actr__rtp_depacketize(codec, k->p[i], k->n[i], out,
					       &start, &kk));
		if (i == 0) {
			CHECK(start);
			*key = kk;
		}
	}
	free(k);
	return n;
}

TEST(media_rtp_opus_vp8_round_trip)
{
	struct actr__frame_buf fb = { 0 };
	uint8_t f[50000];
	bool key;

	fill(f, 160, 1);
	CHECK_EQ(round_trip(ACTR__CODEC_OPUS, f, 160, &fb, &key), 1);
	CHECK_EQ(fb.len, 160);
	CHECK(!memcmp(fb.p, f, 160));
	CHECK(key);
	/* a VP8 keyframe (frame tag P bit 0) over 40+ packets */
	fill(f, sizeof(f), 2);
	f[0] &= 0xfe;
	CHECK(round_trip(ACTR__CODEC_VP8, f, sizeof(f), &fb, &key) > 40);
	CHECK_EQ(fb.len, sizeof(f));
	CHECK(!memcmp(fb.p, f, sizeof(f)));
	CHECK(key);
	f[0] |= 1; /* an interframe */
	CHECK_EQ(round_trip(ACTR__CODEC_VP8, f, 700, &fb, &key), 1);
	CHECK(!key);
	/* an Opus frame over one packet is refused */
	CHECK_EQ(actr__rtp_packetize(ACTR__CODEC_OPUS, f, 5000, 1188,
				     collect, NULL), -ACTR_ETOOBIG);
	actr__frame_buf_free(&fb);
}

/* An access unit: SPS, PPS (STAP-A), a 30 kB IDR slice (FU-A) and a small
 * SEI, in Annex B with 4-byte start codes as the depacketiser writes. */
TEST(media_rtp_h264_stap_fua)
{
	struct actr__frame_buf fb = { 0 };
	static uint8_t f[40000];
	size_t len = 0;
	bool key;
	struct pkts *k = calloc(1, sizeof(*k));
	static const uint8_t sc[4] = { 0, 0, 0, 1 };
	size_t sizes[4] = { 12, 5, 30000, 40 };
	uint8_t types[4] = { 0x67, 0x68, 0x65, 0x06 };

	for (int i = 0; i < 4; i++) {
		memcpy(f + len, sc, 4);
		len += 4;
		f[len] = types[i];
		fill(f + len + 1, sizes[i] - 1, (uint32_t)i + 7);
		for (size_t j = 1; j < sizes[i]; j++)
			if (!f[len + j])
				f[len + j] = 1; /* no emulated start codes */
		len += sizes[i];
	}
	CHECK(round_trip(ACTR__CODEC_H264, f, len, &fb, &key) > 25);
	CHECK_EQ(fb.len, len);
	CHECK(!memcmp(fb.p, f, len));
	CHECK(key);
	/* the first packet aggregates SPS and PPS (STAP-A, type 24), then
	 * FU-A (28) with S on the first fragment and E on the last */
	CHECK(actr__rtp_packetize(ACTR__CODEC_H264, f, len, 1188, collect,
				  k) > 0);
	CHECK_EQ(k->p[0][0] & 0x1f, 24);
	CHECK_EQ(k->p[1][0] & 0x1f, 28);
	CHECK(k->p[1][1] & 0x80);
	CHECK(k->p[k->count - 2][1] & 0x40);
	free(k);
	actr__frame_buf_free(&fb);
}

TEST(media_rtp_malformed_rejected)
{
	uint8_t p[64] = { 0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1 };
	struct actr__rtp h;
	struct actr__frame_buf fb = { 0 };
	bool s, k;

	CHECK_OK(actr__rtp_parse(p, 20, &h));
	CHECK_EQ(h.plen, 8);
	CHECK_EQ(actr__rtp_parse(p, 11, &h), -ACTR_EPROTO);
	p[0] = 0x8f; /* 15 CSRCs do not fit */
	CHECK_EQ(actr__rtp_parse(p, 20, &h), -ACTR_EPROTO);
	p[0] = 0x90; /* extension longer than the packet */
	p[14] = 0xff;
	CHECK_EQ(actr__rtp_parse(p, 20, &h), -ACTR_EPROTO);
	p[0] = 0xa0; /* padding count larger than the payload */
	p[19] = 200;
	CHECK_EQ(actr__rtp_parse(p, 20, &h), -ACTR_EPROTO);
	/* payloads */
	CHECK_EQ(actr__rtp_depacketize(ACTR__CODEC_VP8, p, 0, &fb, &s, &k),
		 -ACTR_EPROTO);
	p[0] = 0x80; p[1] = 0x80; /* X, I with a 15-bit id cut short */
	CHECK_EQ(actr__rtp_depacketize(ACTR__CODEC_VP8, p, 2, &fb, &s, &k),
		 -ACTR_EPROTO);
	p[0] = 24; p[1] = 0; p[2] = 50; /* STAP-A size past the end */
	CHECK_EQ(actr__rtp_depacketize(ACTR__CODEC_H264, p, 10, &fb, &s, &k),
		 -ACTR_EPROTO);
	p[0] = 26; /* MTAP16: not packetization-mode 1 */
	CHECK_EQ(actr__rtp_depacketize(ACTR__CODEC_H264, p, 10, &fb, &s, &k),
		 -ACTR_EPROTO);
	p[0] = 28; /* FU-A without its header */
	CHECK_EQ(actr__rtp_depacketize(ACTR__CODEC_H264, p, 2, &fb, &s, &k),
		 -ACTR_EPROTO);
	actr__frame_buf_free(&fb);
}

static uint16_t nacked[64];
static int nnacked;

static void on_nack(void *arg, uint16_t seq)
{
	(void)arg;
	if (nnacked < 64)
		nacked[nnacked++] = seq;
}

TEST(media_rtcp_reports_nack_pli)
{
	uint8_t b[1500];
	struct actr__rtcp_block blk = { 0x1234, 25, 3, 70000, 9, 11, 12 }, o;
	struct actr__rtcp r;
	bool lost[40] = { false };
	size_t off = 0;
	int n = 0, w;

	w = actr__rtcp_write_sr(b, sizeof(b), 7, 0x0102030405060708ull, 900,
				10, 1000, &blk, 1);
	CHECK(w > 0);
	n = w;
	w = actr__rtcp_write_sdes(b + n, sizeof(b) - n, 7, "abc");
	CHECK(w > 0);
	n += w;
	lost[0] = lost[3] = lost[20] = true;
	w = actr__rtcp_write_nack(b + n, sizeof(b) - n, 7, 99, 65530, lost,
				  40);
	CHECK(w > 0);
	n += w;
	w = actr__rtcp_write_pli(b + n, sizeof(b) - n, 7, 99);
	CHECK_EQ(w, 12);
	n += w;
	CHECK_EQ(actr__rtcp_next(b, n, &off, &r), 1);
	CHECK_EQ(r.type, ACTR__RTCP_SR);
	CHECK_EQ(r.ntp, 0x0102030405060708ull);
	CHECK_EQ(r.packets, 10);
	CHECK_OK(actr__rtcp_block(&r, 0, &o));
	CHECK_EQ(o.ext_seq, 70000);
	CHECK_EQ(o.fraction_lost, 25);
	CHECK_EQ(actr__rtcp_next(b, n, &off, &r), 1);
	CHECK_EQ(r.type, ACTR__RTCP_SDES);
	CHECK_EQ(actr__rtcp_next(b, n, &off, &r), 1);
	CHECK_EQ(r.type, ACTR__RTCP_RTPFB);
	CHECK_EQ(r.media_ssrc, 99);
	CHECK_EQ(actr__rtcp_nack_each(&r, on_nack, NULL), 3);
	CHECK_EQ(nacked[0], 65530);
	CHECK_EQ(nacked[1], 65533);
	CHECK_EQ(nacked[2], 14); /* 65530 + 20, wrapped */
	CHECK_EQ(actr__rtcp_next(b, n, &off, &r), 1);
	CHECK_EQ(r.type, ACTR__RTCP_PSFB);
	CHECK_EQ(r.fmt, 1);
	CHECK_EQ(actr__rtcp_next(b, n, &off, &r), 0);
	/* a length past the end */
	b[3] = 200;
	off = 0;
	CHECK_EQ(actr__rtcp_next(b, n, &off, &r), -ACTR_EPROTO);
}

static void keys(struct actr__dtls_srtp_keys *a, struct actr__dtls_srtp_keys *b,
		 enum actr__srtp_profile prof)
{
	memset(a, 0, sizeof(*a));
	a->profile = prof;
	a->key_len = 16;
	a->salt_len = prof == ACTR_SRTP_AEAD_AES_128_GCM ? 12 : 14;
	fill(a->local_key, 16, 1);
	fill(a->local_salt, 14, 2);
	fill(a->remote_key, 16, 3);
	fill(a->remote_salt, 14, 4);
	*b = *a;
	memcpy(b->local_key, a->remote_key, 16);
	memcpy(b->local_salt, a->remote_salt, 14);
	memcpy(b->remote_key, a->local_key, 16);
	memcpy(b->remote_salt, a->local_salt, 14);
}

static void srtp_profile_case(enum actr__srtp_profile prof)
{
	struct actr__dtls_srtp_keys ka, kb;
	actr__srtp_t *a, *b;
	uint8_t pkt[1400], copy[1400], rtcp[200];
	size_t len, clen, rl;

	keys(&ka, &kb, prof);
	a = actr__srtp_new(&ka);
	b = actr__srtp_new(&kb);
	CHECK(a && b);
	for (int i = 0; i < 3; i++) {
		actr__rtp_write_hdr(pkt, false, 96, (uint16_t)(100 + i), 9, 5);
		fill(pkt + 12, 1000, (uint32_t)i);
		len = 1012;
		CHECK_OK(actr__srtp_protect(a, pkt, &len, sizeof(pkt)));
		CHECK(len > 1012);
		memcpy(copy, pkt, len);
		clen = len;
		CHECK_OK(actr__srtp_unprotect(b, pkt, &len));
		CHECK_EQ(len, 1012);
	}
	/* replayed: the same protected packet again */
	len = clen;
	CHECK_EQ(actr__srtp_unprotect(b, copy, &len), -ACTR_EPROTO);
	/* tampered: one payload bit flipped in a new packet */
	actr__rtp_write_hdr(pkt, false, 96, 200, 9, 5);
	len = 112;
	CHECK_OK(actr__srtp_protect(a, pkt, &len, sizeof(pkt)));
	pkt[40] ^= 1;
	CHECK_EQ(actr__srtp_unprotect(b, pkt, &len), -ACTR_EAUTH);
	/* RTCP both ways */
	rl = (size_t)actr__rtcp_write_pli(rtcp, sizeof(rtcp), 5, 6);
	CHECK_OK(actr__srtp_protect_rtcp(b, rtcp, &rl, sizeof(rtcp)));
	CHECK_OK(actr__srtp_unprotect_rtcp(a, rtcp, &rl));
	CHECK_EQ(rl, 12);
	actr__srtp_free(a);
	actr__srtp_free(b);
}

TEST(media_srtp_protect_tamper_replay)
{
	srtp_profile_case(ACTR_SRTP_AEAD_AES_128_GCM);
	srtp_profile_case(ACTR_SRTP_AES128_CM_SHA1_80);
}

/* A browser-style offer: audio first with extmap and red, video with rtx,
 * H264 in mode 0 and 1, simulcast lines, the data section last, one
 * BUNDLE transport. */
static const char BROWSER_OFFER[] =
	"v=0\r\n"
	"o=- 123 2 IN IP4 127.0.0.1\r\n"
	"s=-\r\nt=0 0\r\n"
	"a=group:BUNDLE 0 1 2\r\n"
	"a=msid-semantic: WMS s1\r\n"
	"m=audio 9 UDP/TLS/RTP/SAVPF 63 111 9\r\n"
	"c=IN IP4 0.0.0.0\r\n"
	"a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\n"
	"a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n"
	"a=fingerprint:sha-256 AA:BB\r\na=setup:actpass\r\n"
	"a=mid:0\r\n"
	"a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
	"a=sendrecv\r\na=msid:s1 mic-1\r\na=rtcp-mux\r\n"
	"a=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\n"
	"a=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\n"
	"a=rtpmap:9 G722/8000\r\n"
	"a=ssrc:1111 cname:xyz\r\na=ssrc:1111 msid:s1 mic-1\r\n"
	"m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103\r\n"
	"c=IN IP4 0.0.0.0\r\n"
	"a=mid:1\r\na=sendonly\r\n"
	"a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\n"
	"a=rtcp-fb:96 nack pli\r\n"
	"a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
	"a=rtpmap:102 H264/90000\r\n"
	"a=fmtp:102 packetization-mode=0;profile-level-id=42001f\r\n"
	"a=rtpmap:103 H264/90000\r\n"
	"a=fmtp:103 packetization-mode=1;profile-level-id=42e01f\r\n"
	"a=ssrc-group:FID 2222 3333\r\n"
	"a=ssrc:2222 cname:xyz\r\na=ssrc:3333 cname:xyz\r\n"
	"a=rid:h send\r\na=simulcast:send h\r\n"
	"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
	"c=IN IP4 0.0.0.0\r\n"
	"a=mid:2\r\na=sctp-port:5000\r\n";

TEST(media_sdp_browser_offer)
{
	static struct actr__sdp s, t;
	static char text[16384];
	int n;

	CHECK_OK(actr__sdp_parse(BROWSER_OFFER, strlen(BROWSER_OFFER), &s));
	CHECK_STR(s.ufrag, "abcd"); /* the bundle transport: audio's */
	CHECK_EQ(s.ncands, 1);
	CHECK_EQ(s.data_index, 2);
	CHECK_EQ(s.nmedia, 2);
	CHECK(!s.media[0].video);
	CHECK_EQ(s.media[0].codec, ACTR__CODEC_OPUS);
	CHECK_EQ(s.media[0].pt, 111); /* red skipped */
	CHECK_EQ(s.media[0].dir, ACTR__SDP_SENDRECV);
	CHECK_EQ(s.media[0].ssrc, 1111);
	CHECK_STR(s.media[0].track_id, "mic-1");
	CHECK_STR(s.media[0].cname, "xyz");
	CHECK(s.media[1].video);
	CHECK_EQ(s.media[1].codec, ACTR__CODEC_VP8);
	CHECK_EQ(s.media[1].pt, 96);
	CHECK(s.media[1].nack && s.media[1].pli);
	CHECK_EQ(s.media[1].dir, ACTR__SDP_SENDONLY);
	CHECK_EQ(s.media[1].ssrc, 2222); /* the media SSRC, not RTX's */
	CHECK_STR(s.media[1].track_id, "");
	/* written back in the same m-line order, and parsed again alike */
	n = actr__sdp_write(&s, text, sizeof(text));
	CHECK(n > 0);
	CHECK_OK(actr__sdp_parse(text, (size_t)n, &t));
	CHECK_EQ(t.nmedia, 2);
	CHECK_EQ(t.data_index, 2);
	CHECK(strstr(text, "a=group:BUNDLE 0 1 2\r\n"));
	CHECK(strstr(text, "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n") <
	      strstr(text, "m=video"));
	CHECK(strstr(text, "m=video") < strstr(text, "m=application"));
	CHECK_EQ(t.media[1].pt, 96);
	CHECK_EQ(t.media[0].ssrc, 1111);
	/* H264 only in mode 0 is not ours: the section is rejected */
	{
		static char o2[4096];
		const char *v = strstr(BROWSER_OFFER, "m=video");
		size_t pre = (size_t)(v - BROWSER_OFFER);

		memcpy(o2, BROWSER_OFFER, pre);
		snprintf(o2 + pre, sizeof(o2) - pre, "%s",
			 "m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:1\r\n"
			 "a=rtpmap:102 H264/90000\r\n"
			 "a=fmtp:102 packetization-mode=0\r\n"
			 "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
			 "a=mid:2\r\n");
		CHECK_OK(actr__sdp_parse(o2, strlen(o2), &t));
		CHECK(t.media[1].rejected);
		CHECK_EQ(t.media[1].codec, 0);
	}
}
