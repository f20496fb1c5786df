/*
 * SDP offers and answers for data channels: a bounded line parser and a
 * writer. See sdp.h.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/internal.h"
#include "wire/rtp.h"
#include "wire/sdp.h"

#define SDP_MAX_LINES 1024

/* The attributes that may appear at session or media level. */
struct level {
	char ufrag[257];
	char pwd[257];
	char fp_algo[16];
	char fp[192];
	int setup;
	bool trickle;
	bool ice_lite;		/* a=ice-lite */
};

struct parser {
	struct actr__sdp *out;
	struct level sess;	/* session-level values */
	struct level media;	/* data section values */
	int section;		/* 0 session, 1 data, 2 other media */
	bool have_data;		/* a data section was found */
	char bundle[256];	/* a=group:BUNDLE value */
	bool have_bundle;
	unsigned cands_ignored;	/* candidates past ACTR__SDP_MAX_CANDS */
	const char *why;	/* reason of the first error */
	struct level first;	/* transport of the first m-line when it
				 * is audio/video: the BUNDLE transport */
	bool first_is_media;
	/* the media section being parsed (section 3) */
	unsigned nfmt;		/* payload types on its m= line */
	uint8_t fmt[32];
	int fmt_codec[32];	/* codec of each, from a=rtpmap */
	bool fmt_mode1[32];	/* H264: packetization-mode=1 */
	bool fmt_nack[32], fmt_pli[32];
};

const char *actr__sdp_setup_name(int setup)
{
	switch (setup) {
	case ACTR__SDP_SETUP_ACTPASS:
		return "actpass";
	case ACTR__SDP_SETUP_ACTIVE:
		return "active";
	case ACTR__SDP_SETUP_PASSIVE:
		return "passive";
	default:
		return "";
	}
}

/* RFC 8839 ice-char: ALPHA / DIGIT / "+" / "/" */
static bool ice_chars(const char *s, size_t n, size_t min, size_t max)
{
	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '+' && s[i] != '/')
			return false;
	return true;
}

/* RFC 8866 token characters. */
static bool token_chars(const char *s, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) &&
		    !strchr("!#$%&'*+-.^_`{|}~", s[i]))
			return false;
	return true;
}

static bool parse_uint(const char *s, size_t n, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;

	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (x > (UINT64_MAX - 9) / 10)
			return false;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	if (x > max)
		return false;
	*v = x;
	return true;
}

static void copy_str(char *dst, const char *s, size_t n)
{
	memcpy(dst, s, n);
	dst[n] = 0;
}

/* "sha-256 AB:CD:..." : algorithm token, then 1..64 hex pairs. */
static bool parse_fingerprint(struct level *lv, const char *v, size_t n)
{
	const char *sp = memchr(v, ' ', n);
	size_t alen, flen, i;

	if (!sp)
		return false;
	alen = (size_t)(sp - v);
	if (alen == 0 || alen >= sizeof(lv->fp_algo))
		return false;
	while ((size_t)(sp - v) < n && *sp == ' ')
		sp++;
	flen = n - (size_t)(sp - v);
	if (flen < 2 || flen >= sizeof(lv->fp) || (flen + 1) % 3 != 0)
		return false;
	for (i = 0; i < flen; i++) {
		if (i % 3 == 2) {
			if (sp[i] != ':')
				return false;
		} else if (!isxdigit((unsigned char)sp[i])) {
			return false;
		}
	}
	for (i = 0; i < alen; i++) {
		unsigned char c = (unsigned char)v[i];

		if (!isalnum(c) && c != '-')
			return false;
		lv->fp_algo[i] = (char)tolower(c);
	}
	lv->fp_algo[alen] = 0;
	for (i = 0; i < flen; i++)
		lv->fp[i] = (char)toupper((unsigned char)sp[i]);
	lv->fp[flen] = 0;
	return true;
}

static bool parse_level_attr(struct parser *p, struct level *lv,
			     const char *name, size_t nlen, const char *v,
			     size_t n, bool *known)
{
	*known = true;
	if (nlen == 9 && !memcmp(name, "ice-ufrag", 9)) {
		if (!ice_chars(v, n, 4, 256))
			return p->why = "bad ice-ufrag", false;
		copy_str(lv->ufrag, v, n);
	} else if (nlen == 7 && !memcmp(name, "ice-pwd", 7)) {
		if (!ice_chars(v, n, 22, 256))
			return p->why = "bad ice-pwd", false;
		copy_str(lv->pwd, v, n);
	} else if (nlen == 11 && !memcmp(name, "fingerprint", 11)) {
		/* Several may come (aiortc sends sha-256/384/512): keep the
		 * first, but prefer sha-256. */
		struct level tmp;

		if (!parse_fingerprint(&tmp, v, n))
			return p->why = "bad fingerprint", false;
		if (!*lv->fp || (strcmp(lv->fp_algo, "sha-256") &&
				 !strcmp(tmp.fp_algo, "sha-256"))) {
			strcpy(lv->fp_algo, tmp.fp_algo);
			strcpy(lv->fp, tmp.fp);
		}
	} else if (nlen == 5 && !memcmp(name, "setup", 5)) {
		if (n == 7 && !memcmp(v, "actpass", 7))
			lv->setup = ACTR__SDP_SETUP_ACTPASS;
		else if (n == 6 && !memcmp(v, "active", 6))
			lv->setup = ACTR__SDP_SETUP_ACTIVE;
		else if (n == 7 && !memcmp(v, "passive", 7))
			lv->setup = ACTR__SDP_SETUP_PASSIVE;
		else
			return p->why = "bad setup", false;
	} else if (nlen == 8 && !memcmp(name, "ice-lite", 8)) {
		lv->ice_lite = true; /* RFC 8839 5.3: session level; media
				      * level tolerated */
	} else if (nlen == 11 && !memcmp(name, "ice-options", 11)) {
		/* space-separated tokens */
		size_t i = 0;

		while (i < n) {
			size_t j = i;

			while (j < n && v[j] != ' ')
				j++;
			if (j - i == 7 && !memcmp(v + i, "trickle", 7))
				lv->trickle = true;
			i = j + 1;
		}
	} else {
		*known = false;
	}
	return true;
}

static void finish_media(struct parser *p);

/* "audio|video <port> <proto> <pt> <pt>..." */
static bool parse_av_line(struct parser *p, const char *v, size_t n,
			  bool video)
{
	struct actr__sdp_media *md;
	size_t i = 0, fld = 0;
	uint64_t x;

	if (p->out->nmedia == ACTR__SDP_MAX_MEDIA)
		return p->why = "too many media sections", false;
	md = &p->out->media[p->out->nmedia++];
	memset(md, 0, sizeof(*md));
	if (p->out->nmedia == 1 && !p->have_data)
		p->first_is_media = true;
	md->video = video;
	p->nfmt = 0;
	while (i < n) {
		size_t j = i;

		while (j < n && v[j] != ' ')
			j++;
		if (j == i)
			return p->why = "bad m= line", false;
		if (fld == 1) {
			size_t k = i;

			while (k < j && v[k] != '/')
				k++;
			if (!parse_uint(v + i, k - i, 65535, &x))
				return p->why = "bad m= port", false;
			md->rejected = x == 0;
		} else if (fld == 2) {
			if (j - i < 9 || memcmp(v + j - 9, "RTP/SAVPF", 9))
				md->rejected = true; /* not DTLS-SRTP */
		} else if (fld >= 3) {
			if (!parse_uint(v + i, j - i, 127, &x))
				return p->why = "bad payload type", false;
			if (p->nfmt < 32)
				p->fmt[p->nfmt++] = (uint8_t)x;
		}
		fld++;
		i = j + 1;
	}
	if (fld < 4)
		return p->why = "bad m= line", false;
	for (unsigned k = 0; k < p->nfmt; k++) {
		p->fmt_codec[k] = 0;
		p->fmt_mode1[k] = p->fmt_nack[k] = p->fmt_pli[k] = false;
	}
	md->dir = ACTR__SDP_SENDRECV; /* RFC 3264 default */
	p->section = 3;
	return true;
}

static bool parse_media_line(struct parser *p, const char *v, size_t n)
{
	/* "application <port> <proto> <fmt>" */
	const char *f[4];
	size_t fl[4], nf = 0, i = 0;
	uint64_t port, sp;

	finish_media(p);
	if (n > 6 && !memcmp(v, "audio ", 6))
		return parse_av_line(p, v, n, false);
	if (n > 6 && !memcmp(v, "video ", 6))
		return parse_av_line(p, v, n, true);

	while (i < n && nf < 4) {
		size_t j = i;

		while (j < n && v[j] != ' ')
			j++;
		if (j == i)
			return p->why = "bad m= line", false;
		f[nf] = v + i;
		fl[nf++] = j - i;
		i = j + 1;
	}
	if (p->have_data || nf < 3 || fl[0] != 11 ||
	    memcmp(f[0], "application", 11)) {
		p->section = 2;
		return true;
	}
	if (fl[2] == 13 && !memcmp(f[2], "UDP/DTLS/SCTP", 13)) {
		if (nf < 4 || fl[3] != 18 ||
		    memcmp(f[3], "webrtc-datachannel", 18)) {
			p->section = 2;
			return true;
		}
		p->out->legacy = false;
	} else if (fl[2] == 9 && !memcmp(f[2], "DTLS/SCTP", 9)) {
		if (nf < 4 || !parse_uint(f[3], fl[3], 65535, &sp) || !sp)
			return p->why = "bad sctpmap format", false;
		p->out->legacy = true;
		p->out->sctp_port = (uint16_t)sp;
	} else {
		p->section = 2;
		return true;
	}
	/* The port may carry "/count" per RFC 8866; not for data. */
	if (!parse_uint(f[1], fl[1], 65535, &port))
		return p->why = "bad m= port", false;
	if (port == 0)
		return p->why = "data section rejected (port 0)", false;
	p->section = 1;
	p->have_data = true;
	p->out->data_index = p->out->nmedia;
	return true;
}

static int fmt_index(struct parser *p, const char *v, size_t n, size_t *used)
{
	size_t j = 0;
	uint64_t x;

	while (j < n && v[j] != ' ')
		j++;
	if (!parse_uint(v, j, 127, &x))
		return -1;
	*used = j < n ? j + 1 : j;
	for (unsigned k = 0; k < p->nfmt; k++)
		if (p->fmt[k] == x)
			return (int)k;
	return -1;
}

static bool has_token(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok);

	for (size_t i = 0; i + tl <= n; i++)
		if (!memcmp(v + i, tok, tl) && (i == 0 || v[i - 1] == ';' ||
						v[i - 1] == ' ') &&
		    (i + tl == n || v[i + tl] == ';' || v[i + tl] == ' '))
			return true;
	return false;
}

static bool id_chars(const char *s, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* An attribute of an audio/video section. Unknown ones are ignored. */
static bool parse_av_attr(struct parser *p, const char *v, size_t nlen,
			  const char *val, size_t vlen)
{
	struct actr__sdp_media *md = &p->out->media[p->out->nmedia - 1];
	size_t used;
	int k;

	if (nlen == 3 && !memcmp(v, "mid", 3)) {
		if (!token_chars(val, vlen, sizeof(md->mid) - 1))
			return p->why = "bad mid", false;
		copy_str(md->mid, val, vlen);
	} else if (nlen == 8 && !memcmp(v, "sendrecv", 8)) {
		md->dir = ACTR__SDP_SENDRECV;
	} else if (nlen == 8 && !memcmp(v, "sendonly", 8)) {
		md->dir = ACTR__SDP_SENDONLY;
	} else if (nlen == 8 && !memcmp(v, "recvonly", 8)) {
		md->dir = ACTR__SDP_RECVONLY;
	} else if (nlen == 8 && !memcmp(v, "inactive", 8)) {
		md->dir = ACTR__SDP_INACTIVE;
	} else if (nlen == 6 && !memcmp(v, "rtpmap", 6)) {
		/* "<pt> <name>/<clock>[/<channels>]" */
		if ((k = fmt_index(p, val, vlen, &used)) < 0)
			return true; /* not on the m= line: ignored */
		val += used;
		vlen -= used;
		if (vlen >= 10 && !strncasecmp(val, "opus/48000", 10))
			p->fmt_codec[k] = ACTR__CODEC_OPUS;
		else if (vlen == 9 && !strncasecmp(val, "VP8/90000", 9))
			p->fmt_codec[k] = ACTR__CODEC_VP8;
		else if (vlen == 10 && !strncasecmp(val, "H264/90000", 10))
			p->fmt_codec[k] = ACTR__CODEC_H264;
	} else if (nlen == 4 && !memcmp(v, "fmtp", 4)) {
		if ((k = fmt_index(p, val, vlen, &used)) < 0)
			return true;
		if (has_token(val + used, vlen - used, "packetization-mode=1"))
			p->fmt_mode1[k] = true;
	} else if (nlen == 7 && !memcmp(v, "rtcp-fb", 7)) {
		if ((k = fmt_index(p, val, vlen, &used)) < 0)
			return true; /* "*" or another pt */
		if (vlen - used == 4 && !memcmp(val + used, "nack", 4))
			p->fmt_nack[k] = true;
		else if (vlen - used == 8 && !memcmp(val + used, "nack pli", 8))
			p->fmt_pli[k] = true;
	} else if (nlen == 4 && !memcmp(v, "msid", 4)) {
		const char *sp = memchr(val, ' ', vlen);
		size_t a = sp ? (size_t)(sp - val) : vlen;

		if (!id_chars(val, a, 64) ||
		    (sp && !id_chars(sp + 1, vlen - a - 1, 64)))
			return p->why = "bad msid", false;
		copy_str(md->stream_id, val, a);
		if (sp)
			copy_str(md->track_id, sp + 1, vlen - a - 1);
	} else if (nlen == 4 && !memcmp(v, "ssrc", 4)) {
		/* "<ssrc> cname:<x>" or "<ssrc> msid:<s> <t>"; the first
		 * SSRC is the media one (later ones: RTX, FEC groups) */
		const char *sp = memchr(val, ' ', vlen);
		uint64_t x;

		if (!sp || !parse_uint(val, (size_t)(sp - val), UINT32_MAX,
				       &x) || !x)
			return p->why = "bad ssrc", false;
		if (!md->ssrc)
			md->ssrc = (uint32_t)x;
		if (md->ssrc != x)
			return true;
		sp++;
		vlen -= (size_t)(sp - val);
		if (vlen > 6 && !memcmp(sp, "cname:", 6)) {
			if (!id_chars(sp + 6, vlen - 6, 64))
				return p->why = "bad cname", false;
			copy_str(md->cname, sp + 6, vlen - 6);
		} else if (vlen > 5 && !memcmp(sp, "msid:", 5) &&
			   !*md->track_id) {
			const char *s2 = memchr(sp + 5, ' ', vlen - 5);
			size_t a = s2 ? (size_t)(s2 - sp - 5) : vlen - 5;

			if (!id_chars(sp + 5, a, 64) ||
			    (s2 && !id_chars(s2 + 1, vlen - 5 - a - 1, 64)))
				return p->why = "bad ssrc msid", false;
			copy_str(md->stream_id, sp + 5, a);
			if (s2)
				copy_str(md->track_id, s2 + 1,
					 vlen - 5 - a - 1);
		}
	}
	return true;
}

/* The first codec on the m= line that we know (H264 only in
 * packetization-mode 1) is the section's. */
static void finish_media(struct parser *p)
{
	struct actr__sdp_media *md;

	if (p->section != 3)
		return;
	md = &p->out->media[p->out->nmedia - 1];
	for (unsigned k = 0; k < p->nfmt; k++) {
		int c = p->fmt_codec[k];

		if (!c || (c == ACTR__CODEC_H264 && !p->fmt_mode1[k]) ||
		    actr__codec_is_video(c) != md->video)
			continue;
		md->codec = c;
		md->pt = p->fmt[k];
		md->nack = p->fmt_nack[k];
		md->pli = p->fmt_pli[k];
		break;
	}
	if (!md->codec)
		md->rejected = true;
	if (!*md->mid) /* RFC 8843 needs one; name it by position */
		snprintf(md->mid, sizeof(md->mid), "m%u", p->out->nmedia);
	p->section = 2;
}

static bool parse_attr(struct parser *p, const char *v, size_t n)
{
	const char *colon = memchr(v, ':', n);
	size_t nlen = colon ? (size_t)(colon - v) : n;
	const char *val = colon ? colon + 1 : v + n;
	size_t vlen = colon ? n - nlen - 1 : 0;
	struct actr__sdp *o = p->out;
	bool known;
	uint64_t x;

	if (p->section == 2)
		return true;
	if (p->section == 3) {
		struct level scratch;
		struct level *lv = &scratch;

		/* bundled: the first m-line's transport is everyone's
		 * (RFC 8843; aiortc gives each section its own) */
		memset(&scratch, 0, sizeof(scratch));
		if (p->first_is_media && p->out->nmedia == 1)
			lv = &p->first;
		if (!parse_level_attr(p, lv, v, nlen, val, vlen, &known))
			return false;
		if (known)
			return true;
		if (nlen == 9 && !memcmp(v, "candidate", 9))
			goto candidate;
		if (nlen == 17 && !memcmp(v, "end-of-candidates", 17)) {
			o->end_of_candidates = true;
			return true;
		}
		return parse_av_attr(p, v, nlen, val, vlen);
	}
	if (!parse_level_attr(p, p->section ? &p->media : &p->sess, v, nlen,
			      val, vlen, &known))
		return false;
	if (known)
		return true;
	if (p->section == 0) {
		if (nlen == 5 && !memcmp(v, "group", 5) && vlen > 7 &&
		    !memcmp(val, "BUNDLE ", 7)) {
			if (vlen - 7 >= sizeof(p->bundle))
				return p->why = "BUNDLE group too long", false;
			copy_str(p->bundle, val + 7, vlen - 7);
			p->have_bundle = true;
		}
		return true;
	}
	if (nlen == 9 && !memcmp(v, "candidate", 9)) {
		char line[ACTR__SDP_CAND_LEN];

candidate:
		if (n >= sizeof(line))
			return p->why = "candidate too long", false;
		copy_str(line, v, n);
		/* bundled sections repeat the same candidates */
		for (unsigned c = 0; c < o->ncands; c++)
			if (!strcmp(o->cands[c], line))
				return true;
		if (o->ncands == ACTR__SDP_MAX_CANDS) {
			p->cands_ignored++;	/* one line per SDP, below */
			return true;
		}
		if (actr__sdp_add_candidate(o, line) < 0)
			return p->why = "bad candidate", false;
	} else if (nlen == 17 && !memcmp(v, "end-of-candidates", 17)) {
		o->end_of_candidates = true;
	} else if (nlen == 3 && !memcmp(v, "mid", 3)) {
		if (!token_chars(val, vlen, sizeof(o->mid) - 1))
			return p->why = "bad mid", false;
		copy_str(o->mid, val, vlen);
	} else if (nlen == 9 && !memcmp(v, "sctp-port", 9)) {
		if (!parse_uint(val, vlen, 65535, &x) || x == 0)
			return p->why = "bad sctp-port", false;
		o->sctp_port = (uint16_t)x;
	} else if (nlen == 16 && !memcmp(v, "max-message-size", 16)) {
		if (!parse_uint(val, vlen, UINT32_MAX, &x))
			return p->why = "bad max-message-size", false;
		o->max_message_size = (uint32_t)x; /* 0: no limit */
		o->has_max_message_size = true;
	} else if (nlen == 7 && !memcmp(v, "sctpmap", 7)) {
		/* "5000 webrtc-datachannel 1024" */
		const char *sp = memchr(val, ' ', vlen);

		if (!sp || !parse_uint(val, (size_t)(sp - val), 65535, &x) ||
		    x == 0)
			return p->why = "bad sctpmap", false;
		o->sctp_port = (uint16_t)x;
	}
	return true;
}

static void merge_level(char *dst, const char *media, const char *sess)
{
	if (!*dst)
		strcpy(dst, *media ? media : sess);
}

int actr__sdp_parse(const char *text, size_t len, struct actr__sdp *out)
{
	struct parser p;
	size_t pos = 0;
	unsigned lines = 0;
	bool saw_v = false;

	memset(out, 0, sizeof(*out));
	memset(&p, 0, sizeof(p));
	p.out = out;
	if (len > ACTR__SDP_MAX_TEXT) {
		actr_logw("sdp", "SDP too long (%zu bytes)", len);
		return -ACTR_ETOOBIG;
	}
	while (pos < len) {
		const char *l = text + pos;
		const char *nl = memchr(l, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - l) : len - pos;

		pos += n + (nl ? 1 : 0);
		if (n && l[n - 1] == '\r')
			n--;
		if (n == 0)
			continue;
		if (++lines > SDP_MAX_LINES || n > ACTR__SDP_MAX_LINE) {
			actr_logw("sdp", "SDP line count or length over bound");
			return -ACTR_ETOOBIG;
		}
		if (memchr(l, 0, n)) {
			p.why = "NUL byte";
			goto bad;
		}
		if (n < 2 || l[1] != '=' || l[0] < 'a' || l[0] > 'z') {
			p.why = "line is not <type>=<value>";
			goto bad;
		}
		if (!saw_v) {
			if (n != 3 || memcmp(l, "v=0", 3)) {
				p.why = "does not start with v=0";
				goto bad;
			}
			saw_v = true;
			continue;
		}
		switch (l[0]) {
		case 'o': {
			/* o=<user> <sess-id> ... */
			const char *s1 = memchr(l + 2, ' ', n - 2), *s2;

			if (!s1) {
				p.why = "bad o= line";
				goto bad;
			}
			s1++;
			s2 = memchr(s1, ' ', n - (size_t)(s1 - l));
			if (!s2 ||
			    !parse_uint(s1, (size_t)(s2 - s1), UINT64_MAX,
					&out->session_id)) {
				p.why = "bad o= session id";
				goto bad;
			}
			break;
		}
		case 'm':
			if (!parse_media_line(&p, l + 2, n - 2))
				goto bad;
			break;
		case 'a':
			if (!parse_attr(&p, l + 2, n - 2))
				goto bad;
			break;
		default:
			break;
		}
	}
	finish_media(&p);
	if (!p.have_data) {
		p.why = "no data channel section";
		goto bad;
	}
	if (p.first_is_media && p.have_bundle && *p.first.ufrag) {
		/* BUNDLE: the data section rides the first m-line's
		 * transport, whatever its own lines say */
		p.media = p.first;
	}
	merge_level(out->ufrag, p.media.ufrag, p.sess.ufrag);
	merge_level(out->pwd, p.media.pwd, p.sess.pwd);
	if (*p.media.fp) {
		strcpy(out->fp_algo, p.media.fp_algo);
		strcpy(out->fp, p.media.fp);
	} else {
		strcpy(out->fp_algo, p.sess.fp_algo);
		strcpy(out->fp, p.sess.fp);
	}
	out->setup = p.media.setup ? p.media.setup : p.sess.setup;
	out->trickle = p.media.trickle || p.sess.trickle;
	out->ice_lite = p.media.ice_lite || p.sess.ice_lite;
	if (!*out->ufrag || !*out->pwd) {
		p.why = "missing ice-ufrag/ice-pwd";
		goto bad;
	}
	if (!*out->fp) {
		p.why = "missing fingerprint";
		goto bad;
	}
	if (!out->sctp_port)
		out->sctp_port = 5000;
	if (p.have_bundle && *out->mid) {
		size_t ml = strlen(out->mid);
		const char *b = p.bundle;

		while (*b) {
			size_t tl = strcspn(b, " ");

			if (tl == ml && !memcmp(b, out->mid, ml))
				out->bundle = true;
			b += tl;
			b += strspn(b, " ");
		}
	}
	if (p.cands_ignored)
		actr_logw("sdp", "more than %d candidates: %u ignored",
			  ACTR__SDP_MAX_CANDS, p.cands_ignored);
	return 0;
bad:
	actr_logw("sdp", "rejected SDP: %s", p.why ? p.why : "malformed");
	return -ACTR_EPROTO;
}

int actr__sdp_add_candidate(struct actr__sdp *s, const char *cand)
{
	size_t n;

	if (!strncmp(cand, "a=", 2))
		cand += 2;
	n = strlen(cand);
	if (n <= 10 || n >= ACTR__SDP_CAND_LEN ||
	    strncmp(cand, "candidate:", 10))
		return -ACTR_EPROTO;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)cand[i] < 0x20 || cand[i] == 0x7f)
			return -ACTR_EPROTO;
	if (s->ncands == ACTR__SDP_MAX_CANDS)
		return -ENOSPC;
	memcpy(s->cands[s->ncands++], cand, n + 1);
	return 0;
}

/* ---- writer -------------------------------------------------------------- */

struct out {
	char *buf;
	size_t cap;
	size_t len;
	bool overflow;
};

static void emit(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void emit(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->overflow = true;
		return;
	}
	o->len += (size_t)n;
}

const char *actr__sdp_dir_name(int dir)
{
	static const char *const n[] = {
		"inactive", "sendonly", "recvonly", "sendrecv",
	};

	return n[dir & 3];
}

/* The transport lines every bundled section repeats (RFC 8843 7.1.3 wants
 * them only in the tagged one; browsers and aiortc accept them in all). */
static void emit_transport(struct out *o, const struct actr__sdp *s,
			   bool cands)
{
	if (cands) {
		for (unsigned i = 0; i < s->ncands && i < ACTR__SDP_MAX_CANDS;
		     i++)
			emit(o, "a=%s\r\n", s->cands[i]);
		if (s->end_of_candidates)
			emit(o, "a=end-of-candidates\r\n");
	}
	emit(o, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", s->ufrag, s->pwd);
	if (s->trickle)
		emit(o, "a=ice-options:trickle\r\n");
	emit(o, "a=fingerprint:%s %s\r\n", s->fp_algo, s->fp);
	if (s->setup)
		emit(o, "a=setup:%s\r\n", actr__sdp_setup_name(s->setup));
}

static void emit_data(struct out *o, const struct actr__sdp *s, bool cands)
{
	const char *mid = *s->mid ? s->mid : "0";

	if (s->legacy)
		emit(o, "m=application 9 DTLS/SCTP %u\r\n",
		     s->sctp_port ? s->sctp_port : 5000);
	else
		emit(o, "m=application 9 UDP/DTLS/SCTP "
			"webrtc-datachannel\r\n");
	emit(o, "c=IN IP4 0.0.0.0\r\n");
	emit_transport(o, s, cands);
	emit(o, "a=mid:%s\r\n", mid);
	if (s->legacy)
		emit(o, "a=sctpmap:%u webrtc-datachannel 1024\r\n",
		     s->sctp_port ? s->sctp_port : 5000);
	else
		emit(o, "a=sctp-port:%u\r\n",
		     s->sctp_port ? s->sctp_port : 5000);
	if (s->has_max_message_size)
		emit(o, "a=max-message-size:%u\r\n", s->max_message_size);
}

static void emit_media(struct out *o, const struct actr__sdp *s,
		       const struct actr__sdp_media *md, bool cands)
{
	unsigned pt = md->pt;

	emit(o, "m=%s %d UDP/TLS/RTP/SAVPF %u\r\n",
	     md->video ? "video" : "audio", md->rejected ? 0 : 9, pt);
	emit(o, "c=IN IP4 0.0.0.0\r\n");
	emit(o, "a=rtcp:9 IN IP4 0.0.0.0\r\n");
	emit_transport(o, s, cands);
	emit(o, "a=mid:%s\r\n", md->mid);
	emit(o, "a=%s\r\n", actr__sdp_dir_name(md->dir));
	if (*md->track_id && (md->dir & ACTR__SDP_SENDONLY))
		emit(o, "a=msid:%s %s\r\n", md->stream_id, md->track_id);
	emit(o, "a=rtcp-mux\r\n");
	switch (md->codec) {
	case ACTR__CODEC_OPUS:
		emit(o, "a=rtpmap:%u opus/48000/2\r\n", pt);
		emit(o, "a=fmtp:%u minptime=10;useinbandfec=1\r\n", pt);
		break;
	case ACTR__CODEC_VP8:
		emit(o, "a=rtpmap:%u VP8/90000\r\n", pt);
		break;
	case ACTR__CODEC_H264:
		emit(o, "a=rtpmap:%u H264/90000\r\n", pt);
		emit(o, "a=fmtp:%u level-asymmetry-allowed=1;"
			"packetization-mode=1;profile-level-id=42e01f\r\n",
		     pt);
		break;
	default:
		break;
	}
	if (md->video) {
		emit(o, "a=rtcp-fb:%u nack\r\n", pt);
		emit(o, "a=rtcp-fb:%u nack pli\r\n", pt);
		emit(o, "a=rtcp-fb:%u ccm fir\r\n", pt);
	}
	if (md->ssrc && (md->dir & ACTR__SDP_SENDONLY)) {
		emit(o, "a=ssrc:%u cname:%s\r\n", md->ssrc,
		     *md->cname ? md->cname : "actr");
		if (*md->track_id)
			emit(o, "a=ssrc:%u msid:%s %s\r\n", md->ssrc,
			     md->stream_id, md->track_id);
	}
}

int actr__sdp_write(const struct actr__sdp *s, char *buf, size_t cap)
{
	struct out o = { buf, cap, 0, false };
	const char *mid = *s->mid ? s->mid : "0";
	unsigned total = s->nmedia + 1, di = ACTR_MIN(s->data_index,
						       s->nmedia);

	if (!cap)
		return -ENOSPC;
	buf[0] = 0;
	if (!ice_chars(s->ufrag, strlen(s->ufrag), 4, 256) ||
	    !ice_chars(s->pwd, strlen(s->pwd), 22, 256) || !*s->fp ||
	    !*s->fp_algo || s->nmedia > ACTR__SDP_MAX_MEDIA)
		return -EINVAL;
	emit(&o, "v=0\r\n");
	emit(&o, "o=- %" PRIu64 " %" PRIu64 " IN IP4 127.0.0.1\r\n",
	     s->session_id, s->version ? s->version : 2);
	emit(&o, "s=-\r\nt=0 0\r\n");
	emit(&o, "a=group:BUNDLE");
	for (unsigned i = 0, m = 0; i < total; i++) {
		if (i == di)
			emit(&o, " %s", mid);
		else if (!s->media[m++].rejected)
			emit(&o, " %s", s->media[m - 1].mid);
	}
	emit(&o, "\r\n");
	emit(&o, "a=msid-semantic: WMS *\r\n");
	if (s->ice_lite)
		emit(&o, "a=ice-lite\r\n");
	for (unsigned i = 0, m = 0; i < total; i++) {
		if (i == di)
			emit_data(&o, s, i == 0);
		else
			emit_media(&o, s, &s->media[m++], i == 0);
	}
	if (o.overflow) {
		buf[0] = 0;
		return -ENOSPC;
	}
	return (int)o.len;
}
