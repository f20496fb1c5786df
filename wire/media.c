/*
 * The media engine of a peer connection: RTP/SRTP tracks, RTCP, NACK and
 * PLI. See media.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"
#include "core/list.h"
#include "wire/media.h"
#include "wire/srtp.h"

#define PKT_CAP (ACTR__RTP_MTU + ACTR__SRTP_TAILROOM + 64)
#define RTX_N 256			/* video packets kept per track */
#define RX_N 512			/* reorder window (power of 2) */
#define TICK_MS 100			/* NACK repeat and report clock */
#define REPORT_TICKS 10			/* reports every second */
#define HOLE_MS 300			/* give up on a missing packet */
#define MAX_TRACKS 64			/* per direction */
#define GONE_MS 2000			/* a removed remote track lingers */
#define NTP_UNIX_OFFSET 2208988800ull	/* 1900 -> 1970 */

struct rtx_slot {
	uint16_t seq;
	uint16_t len;			/* 0: empty */
	uint8_t data[PKT_CAP];		/* protected packet */
};

struct send_track {
	struct actr__list link;
	char id[ACTR__TRACK_ID_MAX + 1];
	int codec;
	uint8_t pt;
	uint32_t ssrc;
	uint16_t seq;			/* next sequence number */
	uint32_t last_ts;		/* RTP time of the last frame */
	uint64_t last_ns;		/* and when it went */
	uint32_t packets, octets;	/* SR counters */
	bool sent;			/* any packet went */
	bool ready;			/* negotiated: the peer receives */
	struct rtx_slot **rtx;		/* RTX_N slots, video only, lazily */
};

struct rx_slot {
	uint16_t seq;
	bool used;
	bool marker;
	uint32_t ts;
	uint16_t len;
	uint8_t data[ACTR__RTP_MTU + 64]; /* payload */
};

struct recv_track {
	struct actr__list link;
	char id[ACTR__TRACK_ID_MAX + 1];
	int codec;
	uint8_t pt;
	uint32_t ssrc;			/* 0: bind by pt */
	bool started;			/* a packet arrived */
	uint16_t next;			/* first seq of the next frame */
	uint16_t highest;		/* highest seq seen */
	uint16_t base;			/* first seq (reports) */
	uint32_t cycles;		/* seq wraps << 16 */
	uint32_t received;		/* packets accepted */
	uint32_t exp_prior, rcv_prior;	/* at the last report */
	uint32_t jitter;		/* RFC 3550 A.8, scaled by 16 */
	int64_t transit;		/* of the last packet */
	bool have_transit;
	uint32_t lsr;			/* middle 32 bits of the last SR */
	uint64_t lsr_ns;		/* when it came */
	uint64_t hole_ns;		/* first stuck on a missing packet */
	uint32_t lost_pending;		/* skipped, reported with a frame */
	struct rx_slot **slots;		/* RX_N, video only, lazily */
	struct actr__frame_buf fb;	/* frame being assembled */
	uint64_t gone_ns;		/* removed at (0: live); kept for
					 * GONE_MS so packets that were on
					 * the way still arrive */
};

struct actr__media {
	actr_reactor_t *r;
	struct actr__media_cbs cbs;
	void *arg;
	actr__srtp_t *srtp;		/* NULL before DTLS, and until a track
					 * needs it (see srtp_ready) */
	struct actr__dtls_srtp_keys keys; /* from DTLS, until srtp exists */
	bool keyed;			/* keys holds them */
	struct actr__list sends;	/* struct send_track */
	struct actr__list recvs;	/* struct recv_track */
	unsigned nsend, nrecv;
	uint32_t rtcp_ssrc;		/* ours when we send nothing */
	char cname[17];
	actr_timer_t tick;
	unsigned ticks;
	struct actr__media_stats st;
	uint32_t drop_nth;		/* tests */
	bool drop_rtx;			/* tests: retransmissions lost */
	uint8_t last[PKT_CAP];		/* tests: last protected RTP */
	size_t last_len;
};

static void on_tick(actr_timer_t *t, void *arg);

actr__media_t *actr__media_new(actr_reactor_t *r,
			       const struct actr__media_cbs *cbs, void *arg)
{
	struct actr__media *m = actr__calloc(1, sizeof(*m));
	static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	uint8_t rnd[16];

	if (!m)
		return NULL;
	m->r = r;
	m->cbs = *cbs;
	m->arg = arg;
	actr__list_init(&m->sends);
	actr__list_init(&m->recvs);
	actr_random(&m->rtcp_ssrc, sizeof(m->rtcp_ssrc));
	actr_random(rnd, sizeof(rnd));
	for (int i = 0; i < 16; i++)
		m->cname[i] = al[rnd[i] % (sizeof(al) - 1)];
	actr_timer_init(r, &m->tick, on_tick, m);
	return m;
}

static void free_send(struct send_track *t)
{
	if (t->rtx)
		for (int i = 0; i < RTX_N; i++)
			free(t->rtx[i]);
	free(t->rtx);
	free(t);
}

static void free_recv(struct recv_track *t)
{
	if (t->slots)
		for (int i = 0; i < RX_N; i++)
			free(t->slots[i]);
	free(t->slots);
	actr__frame_buf_free(&t->fb);
	free(t);
}

void actr__media_free(actr__media_t *m)
{
	struct actr__list *n;

	if (!m)
		return;
	actr_timer_stop(&m->tick);
	while ((n = actr__list_pop_head(&m->sends)))
		free_send(actr__list_entry(n, struct send_track, link));
	while ((n = actr__list_pop_head(&m->recvs)))
		free_recv(actr__list_entry(n, struct recv_track, link));
	actr__srtp_free(m->srtp);
	explicit_bzero(&m->keys, sizeof(m->keys));
	free(m);
}

/* The SRTP context and the report clock, made from the keys DTLS gave.
 * Not at DTLS time: libsrtp's first srtp_init() runs its self-tests
 * (30-40 ms here), which would sit on the first connection's setup of
 * every process, and a data-only connection would carry ~30 KiB of SRTP
 * state and a 100 ms timer for nothing. So the context is made when the
 * connection first has a track or a media packet. */
static bool srtp_ready(actr__media_t *m)
{
	if (m->srtp)
		return true;
	if (!m->keyed)
		return false;
	m->srtp = actr__srtp_new(&m->keys);
	explicit_bzero(&m->keys, sizeof(m->keys));
	m->keyed = false;
	if (!m->srtp) {
		actr_logw("media", "no SRTP context: media tracks on this "
			  "connection will not work");
		return false;
	}
	if (actr_timer_start(&m->tick, ACTR_MS(TICK_MS), ACTR_MS(TICK_MS)) < 0)
		actr_logw("media", "no report timer: RTCP, NACK and PLI "
			  "stop on this connection");
	return true;
}

int actr__media_start(actr__media_t *m, const struct actr__dtls_srtp_keys *k)
{
	if (m->srtp || m->keyed)
		return 0;
	m->keys = *k;
	m->keyed = true;
	if ((m->nsend || m->nrecv) && !srtp_ready(m))
		return -ACTR_EPROTO;
	return 0;
}

bool actr__media_started(const actr__media_t *m)
{
	return m->srtp != NULL || m->keyed;
}

bool actr__media_srtp_live(const actr__media_t *m)
{
	return m->srtp != NULL;
}

static struct send_track *find_send(actr__media_t *m, const char *id)
{
	struct actr__list *n;

	actr__list_foreach(n, &m->sends) {
		struct send_track *t = actr__list_entry(n, struct send_track,
							link);

		if (!strcmp(t->id, id))
			return t;
	}
	return NULL;
}

static struct send_track *send_by_ssrc(actr__media_t *m, uint32_t ssrc)
{
	struct actr__list *n;

	actr__list_foreach(n, &m->sends) {
		struct send_track *t = actr__list_entry(n, struct send_track,
							link);

		if (t->ssrc == ssrc)
			return t;
	}
	return NULL;
}

static struct recv_track *find_recv(actr__media_t *m, const char *id)
{
	struct actr__list *n;

	actr__list_foreach(n, &m->recvs) {
		struct recv_track *t = actr__list_entry(n, struct recv_track,
							link);

		if (!strcmp(t->id, id))
			return t;
	}
	return NULL;
}

/* By SSRC; an unbound track of the payload type takes a new SSRC. The
 * found track moves to the front (a few tracks: the list is the cache). */
static struct recv_track *recv_by_ssrc(actr__media_t *m, uint32_t ssrc,
				       uint8_t pt)
{
	struct actr__list *n;
	struct recv_track *unbound = NULL;

	actr__list_foreach(n, &m->recvs) {
		struct recv_track *t = actr__list_entry(n, struct recv_track,
							link);

		if (t->ssrc == ssrc && t->ssrc) {
			if (n != actr__list_first(&m->recvs)) {
				actr__list_remove(n);
				actr__list_insert_head(&m->recvs, n);
			}
			return t;
		}
		if (!t->ssrc && t->pt == pt && !unbound)
			unbound = t;
	}
	if (unbound)
		unbound->ssrc = ssrc;
	return unbound;
}

static bool valid_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	return n && n <= ACTR__TRACK_ID_MAX;
}

int actr__media_add_send(actr__media_t *m, const char *track_id, int codec,
			 uint8_t pt, uint32_t ssrc)
{
	struct send_track *t;
	uint16_t seq;

	if (!valid_id(track_id) || actr__codec_pt(codec) < 0)
		return -EINVAL;
	if (find_send(m, track_id))
		return -EEXIST;
	if (m->nsend >= MAX_TRACKS)
		return -ACTR_ETOOBIG;
	t = actr__calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	strcpy(t->id, track_id);
	t->codec = codec;
	t->pt = pt;
	t->ssrc = ssrc;
	actr_random(&seq, sizeof(seq));
	t->seq = seq & 0x7fff; /* RFC 3550: random start, room to wrap */
	actr__list_insert_tail(&m->sends, &t->link);
	m->nsend++;
	srtp_ready(m); /* after DTLS: the first track starts SRTP */
	return 0;
}

int actr__media_set_send(actr__media_t *m, const char *track_id, uint8_t pt,
			 bool ready)
{
	struct send_track *t = find_send(m, track_id);

	if (!t)
		return -ACTR_ENOTFOUND;
	t->pt = pt;
	t->ready = ready;
	return 0;
}

int actr__media_remove_send(actr__media_t *m, const char *track_id)
{
	struct send_track *t = find_send(m, track_id);

	if (!t)
		return -ACTR_ENOTFOUND;
	actr__list_remove(&t->link);
	m->nsend--;
	free_send(t);
	return 0;
}

int actr__media_add_recv(actr__media_t *m, const char *track_id, int codec,
			 uint8_t pt, uint32_t ssrc)
{
	struct recv_track *t;

	if (!valid_id(track_id) || actr__codec_pt(codec) < 0)
		return -EINVAL;
	t = find_recv(m, track_id);
	if (t) {
		t->gone_ns = 0;
		if (t->ssrc != ssrc && ssrc) {
			t->ssrc = ssrc;
			t->started = false;
		}
		t->pt = pt;
		t->codec = codec;
		return 0;
	}
	if (m->nrecv >= MAX_TRACKS)
		return -ACTR_ETOOBIG;
	t = actr__calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	strcpy(t->id, track_id);
	t->codec = codec;
	t->pt = pt;
	t->ssrc = ssrc;
	actr__list_insert_tail(&m->recvs, &t->link);
	m->nrecv++;
	srtp_ready(m);
	return 0;
}

int actr__media_remove_recv(actr__media_t *m, const char *track_id)
{
	struct recv_track *t = find_recv(m, track_id);

	if (!t || t->gone_ns)
		return -ACTR_ENOTFOUND;
	/* The description that removed it may overtake its last packets
	 * (signaling is another path): it goes after GONE_MS. */
	t->gone_ns = actr_reactor_now(m->r);
	if (!t->gone_ns)
		t->gone_ns = 1;
	return 0;
}

/* ---- sending -------------------------------------------------------------- */

static int send_raw(actr__media_t *m, const uint8_t *p, size_t n)
{
	int rc = m->cbs.send(m->arg, p, n);

	if (rc < 0)
		m->st.send_errors++;
	return rc;
}

struct pack_ctx {
	actr__media_t *m;
	struct send_track *t;
	uint32_t ts;
	int err;
};

static int emit_packet(void *arg, const uint8_t *hdr, size_t hlen,
		       const uint8_t *data, size_t dlen, bool last)
{
	struct pack_ctx *c = arg;
	struct send_track *t = c->t;
	actr__media_t *m = c->m;
	bool video = actr__codec_is_video(t->codec);
	uint8_t buf[PKT_CAP];
	uint8_t *p = buf;
	struct rtx_slot *slot = NULL;
	size_t len = ACTR__RTP_HDR + hlen + dlen;
	int rc;

	if (video) {
		if (!t->rtx && !(t->rtx = actr__calloc(RTX_N, sizeof(*t->rtx))))
			return -ENOMEM;
		slot = t->rtx[t->seq % RTX_N];
		if (!slot && !(slot = t->rtx[t->seq % RTX_N] =
				       actr__malloc(sizeof(*slot))))
			return -ENOMEM;
		p = slot->data; /* protect where it is kept: no copy */
	}
	actr__rtp_write_hdr(p, last && video, t->pt, t->seq, c->ts, t->ssrc);
	if (hlen)
		memcpy(p + ACTR__RTP_HDR, hdr, hlen);
	memcpy(p + ACTR__RTP_HDR + hlen, data, dlen);
	rc = actr__srtp_protect(m->srtp, p, &len, PKT_CAP);
	if (rc < 0) {
		if (slot)
			slot->len = 0;
		return rc;
	}
	if (slot) {
		slot->seq = t->seq;
		slot->len = (uint16_t)len;
	}
	t->seq++;
	t->packets++;
	t->octets += (uint32_t)(hlen + dlen);
	m->st.rtp_out++;
	memcpy(m->last, p, len);
	m->last_len = len;
	if (m->drop_nth && --m->drop_nth == 0)
		return 0; /* tests: lost on the way */
	rc = send_raw(m, p, len);
	/* A refused datagram is a lost packet for the peer (NACK will ask
	 * for it again), not a failed frame. */
	(void)rc;
	return 0;
}

int actr__media_send_frame(actr__media_t *m, const char *track_id,
			   const uint8_t *data, size_t len, uint32_t ts)
{
	struct send_track *t = find_send(m, track_id);
	struct pack_ctx c;
	int rc;

	if (!t)
		return -ACTR_ENOTFOUND;
	if (!t->ready || !srtp_ready(m))
		return -ACTR_ENOTREADY;
	if (!len || !data)
		return -EINVAL;
	if (len > ACTR__RTP_MAX_FRAME)
		return -ACTR_ETOOBIG;
	c.m = m;
	c.t = t;
	c.ts = ts;
	c.err = 0;
	rc = actr__rtp_packetize(t->codec, data, len, ACTR__RTP_MTU -
				 ACTR__RTP_HDR, emit_packet, &c);
	if (rc < 0)
		return rc;
	t->last_ts = ts;
	t->last_ns = actr_time_ns();
	t->sent = true;
	m->st.frames_out++;
	m->st.bytes_out += len;
	return 0;
}

/* ---- RTCP out --------------------------------------------------------- */

static uint64_t ntp_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec + NTP_UNIX_OFFSET) << 32 |
	       (uint64_t)(((uint64_t)ts.tv_nsec << 32) / 1000000000ull);
}

/* Protect and send a compound packet built in buf (len bytes). */
static void send_rtcp(actr__media_t *m, uint8_t *buf, size_t len, size_t cap)
{
	if (!m->srtp || !len)
		return;
	if (actr__srtp_protect_rtcp(m->srtp, buf, &len, cap) < 0)
		return;
	m->st.rtcp_out++;
	send_raw(m, buf, len);
}

static uint32_t local_ssrc(actr__media_t *m)
{
	struct actr__list *f = actr__list_first(&m->sends);

	return f ? actr__list_entry(f, struct send_track, link)->ssrc
		 : m->rtcp_ssrc;
}

static void fill_block(actr__media_t *m, struct recv_track *t,
		       struct actr__rtcp_block *b)
{
	uint32_t ext = t->cycles + t->highest;
	uint32_t expected = ext - t->base + 1;
	uint32_t exp_i = expected - t->exp_prior;
	uint32_t rcv_i = t->received - t->rcv_prior;
	int64_t lost = (int64_t)expected - t->received;
	uint64_t now = actr_reactor_now(m->r);

	t->exp_prior = expected;
	t->rcv_prior = t->received;
	b->ssrc = t->ssrc;
	b->fraction_lost = exp_i && exp_i > rcv_i ?
		(uint8_t)(((exp_i - rcv_i) << 8) / exp_i) : 0;
	b->cum_lost = lost < 0 ? 0 : (uint32_t)ACTR_MIN(lost, 0x7fffff);
	b->ext_seq = ext;
	b->jitter = t->jitter >> 4;
	b->lsr = t->lsr;
	b->dlsr = t->lsr_ns ? (uint32_t)((now - t->lsr_ns) * 65536 /
					 1000000000ull) : 0;
}

static void send_reports(actr__media_t *m)
{
	uint8_t buf[1500];
	struct actr__rtcp_block blocks[31];
	unsigned nb = 0;
	struct actr__list *n;
	size_t len = 0;
	int w;
	bool first = true;

	actr__list_foreach(n, &m->recvs) {
		struct recv_track *t = actr__list_entry(n, struct recv_track,
							link);

		if (t->started && nb < 31)
			fill_block(m, t, &blocks[nb++]);
	}
	actr__list_foreach(n, &m->sends) {
		struct send_track *t = actr__list_entry(n, struct send_track,
							link);
		uint64_t dt;

		if (!t->sent || len + 28 + 24 * 31 + 64 > 1200)
			continue;
		dt = actr_time_ns() - t->last_ns;
		w = actr__rtcp_write_sr(buf + len, sizeof(buf) - len, t->ssrc,
					ntp_now(), t->last_ts + (uint32_t)(dt *
					actr__codec_clock(t->codec) /
					1000000000ull), t->packets, t->octets,
					first ? blocks : NULL, first ? nb : 0);
		if (w < 0)
			break;
		len += (size_t)w;
		first = false;
	}
	if (first) {
		if (!nb)
			return; /* nothing sent, nothing received */
		w = actr__rtcp_write_rr(buf, sizeof(buf), m->rtcp_ssrc, blocks,
					nb);
		if (w < 0)
			return;
		len = (size_t)w;
	}
	w = actr__rtcp_write_sdes(buf + len, sizeof(buf) - len - 200,
				  local_ssrc(m), m->cname);
	if (w > 0)
		len += (size_t)w;
	send_rtcp(m, buf, len, sizeof(buf));
}

/* RR + NACK for the missing packets of t between next and highest. */
static void send_nack(actr__media_t *m, struct recv_track *t)
{
	uint8_t buf[512];
	bool lost[RX_N];
	unsigned count = (uint16_t)(t->highest - t->next) + 1u;
	int w, k;
	size_t len;

	if (!t->slots || count > RX_N)
		return;
	for (unsigned i = 0; i < count; i++) {
		struct rx_slot *s = t->slots[(uint16_t)(t->next + i) % RX_N];

		lost[i] = !s || !s->used || s->seq != (uint16_t)(t->next + i);
	}
	w = actr__rtcp_write_rr(buf, sizeof(buf), local_ssrc(m), NULL, 0);
	if (w < 0)
		return;
	len = (size_t)w;
	k = actr__rtcp_write_nack(buf + len, sizeof(buf) - len - 200,
				  local_ssrc(m), t->ssrc, t->next, lost,
				  count);
	if (k <= 0)
		return;
	len += (size_t)k;
	m->st.nacks_sent++;
	send_rtcp(m, buf, len, sizeof(buf));
}

static void send_pli(actr__media_t *m, struct recv_track *t)
{
	uint8_t buf[256];
	int w = actr__rtcp_write_rr(buf, sizeof(buf), local_ssrc(m), NULL, 0);
	size_t len;

	if (w < 0 || !t->ssrc)
		return;
	len = (size_t)w;
	w = actr__rtcp_write_pli(buf + len, 64, local_ssrc(m), t->ssrc);
	if (w < 0)
		return;
	len += (size_t)w;
	m->st.plis_sent++;
	send_rtcp(m, buf, len, sizeof(buf));
}

int actr__media_request_keyframe(actr__media_t *m, const char *track_id)
{
	struct recv_track *t = find_recv(m, track_id);

	if (!t)
		return -ACTR_ENOTFOUND;
	if (!t->ssrc || !srtp_ready(m))
		return -ACTR_ENOTREADY;
	send_pli(m, t);
	return 0;
}

static void assemble(actr__media_t *m, struct recv_track *t, bool force);

static void on_tick(actr_timer_t *timer, void *arg)
{
	actr__media_t *m = arg;
	struct actr__list *n, *tmp;

	(void)timer;
	actr__list_foreach_safe(n, tmp, &m->recvs) {
		struct recv_track *t = actr__list_entry(n, struct recv_track,
							link);

		if (t->gone_ns && actr_reactor_now(m->r) - t->gone_ns >=
				  ACTR_MS(GONE_MS)) {
			actr__list_remove(&t->link);
			m->nrecv--;
			free_recv(t);
			continue;
		}
		if (!t->hole_ns)
			continue;
		if (actr_reactor_now(m->r) - t->hole_ns >= ACTR_MS(HOLE_MS))
			assemble(m, t, true);
		else
			send_nack(m, t);
	}
	if (++m->ticks % REPORT_TICKS == 0)
		send_reports(m);
}

/* ---- receiving ------------------------------------------------------------ */

static void deliver(actr__media_t *m, struct recv_track *t, uint32_t ts,
		    bool key)
{
	struct actr__media_frame f;

	f.data = t->fb.p;
	f.len = t->fb.len;
	f.ts = ts;
	f.codec = t->codec;
	f.keyframe = key;
	f.lost = t->lost_pending;
	t->lost_pending = 0;
	m->st.frames_in++;
	m->st.bytes_in += f.len;
	if (m->cbs.frame)
		m->cbs.frame(m->arg, t->id, &f);
}

static inline struct rx_slot *slot_at(struct recv_track *t, uint16_t seq)
{
	struct rx_slot *s = t->slots ? t->slots[seq % RX_N] : NULL;

	return s && s->used && s->seq == seq ? s : NULL;
}

static bool slot_starts(struct recv_track *t, struct rx_slot *s)
{
	bool start, key;

	return actr__rtp_payload_info(t->codec, s->data, s->len, &start,
				      &key) == 0 && start;
}

/* Give up on the packets missing at t->next: move to the next packet
 * that begins a frame, count what was skipped, ask for a keyframe (the
 * decoder's references are broken). */
static void skip_hole(actr__media_t *m, struct recv_track *t)
{
	uint16_t end = (uint16_t)(t->highest + 1);
	bool prev_present = false, prev_marker = false, have_ts = false;
	uint32_t skipped = 0, last_ts = 0;

	while (t->next != end) {
		struct rx_slot *s = slot_at(t, t->next);

		/* a frame start: after a marker, or after the hole with
		 * another timestamp than the broken frame's */
		if (s && skipped && slot_starts(t, s) &&
		    (prev_present ? prev_marker
				  : (!have_ts || s->ts != last_ts)))
			break;
		if (s) {
			have_ts = true;
			last_ts = s->ts;
			s->used = false;
			prev_present = true;
			prev_marker = s->marker;
		} else {
			prev_present = false;
			m->st.lost++;
			t->lost_pending++;
		}
		skipped++;
		t->next++;
	}
	t->hole_ns = 0;
	m->st.frames_dropped++;
	send_pli(m, t);
}

/* Where the frame at s0 ends: 1 = complete (every packet up to the
 * marker, or up to a packet of the next frame), 0 = its end has not
 * arrived yet, -1 = a packet inside it is missing. */
static int frame_complete(struct recv_track *t, uint16_t s0)
{
	uint16_t end = (uint16_t)(t->highest + 1);
	uint32_t ts = slot_at(t, s0)->ts;

	for (uint16_t q = s0; q != end; q++) {
		struct rx_slot *x = slot_at(t, q);

		if (!x)
			return -1;
		if (x->ts != ts || x->marker)
			return 1;
	}
	return 0;
}

/* Deliver every complete frame from t->next on; force: give up on a
 * hole that has waited long enough. */
static void assemble(actr__media_t *m, struct recv_track *t, bool force)
{
	for (unsigned guard = 0; guard < RX_N; guard++) {
		uint16_t s0 = t->next, end = (uint16_t)(t->highest + 1);
		struct rx_slot *s = slot_at(t, s0);
		bool start, key = false, k;
		uint32_t ts;
		int rc = 0, fc;

		if (s0 == end) {
			t->hole_ns = 0;
			return;
		}
		fc = s && slot_starts(t, s) ? frame_complete(t, s0) : -1;
		if (fc == 0) {
			t->hole_ns = 0;
			return;
		}
		if (fc < 0) {
			if (!force && !(s && !slot_starts(t, s))) {
				if (!t->hole_ns)
					t->hole_ns = actr_reactor_now(m->r);
				return;
			}
			skip_hole(m, t);
			force = false;
			continue;
		}
		ts = s->ts;
		t->fb.len = 0;
		for (uint16_t i = s0;; i++) {
			struct rx_slot *x = slot_at(t, i);

			if (!x || x->ts != ts)
				break;
			if (rc == 0) {
				rc = actr__rtp_depacketize(t->codec, x->data,
							   x->len, &t->fb,
							   &start, &k);
				if (i == s0)
					key = k;
			}
			x->used = false;
			t->next = (uint16_t)(i + 1);
			if (x->marker)
				break;
		}
		t->hole_ns = 0;
		if (rc < 0) {
			m->st.frames_dropped++;
			m->st.malformed++;
			continue;
		}
		deliver(m, t, ts, key);
	}
}

static void update_stats(actr__media_t *m, struct recv_track *t,
			 const struct actr__rtp *h)
{
	/* RFC 3550 A.8 interarrival jitter in RTP clock units */
	int64_t arrival = (int64_t)(actr_reactor_now(m->r) *
				    actr__codec_clock(t->codec) /
				    1000000000ull);
	int64_t transit = arrival - h->ts, d;

	if (t->have_transit) {
		d = transit - t->transit;
		if (d < 0)
			d = -d;
		t->jitter += (uint32_t)d - ((t->jitter + 8) >> 4);
	}
	t->transit = transit;
	t->have_transit = true;
	t->received++;
}

static void recv_rtp(actr__media_t *m, uint8_t *p, size_t n)
{
	struct actr__rtp h;
	struct recv_track *t;
	int16_t d;
	struct rx_slot *s;
	bool start, key;
	int rc;

	rc = actr__srtp_unprotect(m->srtp, p, &n);
	if (rc < 0) {
		if (rc == -ACTR_EAUTH)
			m->st.srtp_auth_fail++;
		else
			m->st.srtp_replay++;
		/* the repeat limiter bounds these lines under a flood */
		actr_logw("media", "SRTP packet dropped: %s",
			  rc == -ACTR_EAUTH ? "authentication failed "
			  "(tampered or foreign)" : "replayed or too old");
		return;
	}
	if (actr__rtp_parse(p, n, &h) < 0) {
		m->st.malformed++;
		actr_logw("media", "malformed RTP packet (%zu bytes) dropped",
			  n);
		return;
	}
	if (!h.plen) {
		m->st.padding++; /* padding only: a bandwidth probe */
		return;
	}
	t = recv_by_ssrc(m, h.ssrc, h.pt);
	if (!t) {
		m->st.unknown_ssrc++;
		actr_logi("media", "RTP for unknown SSRC %08x (pt %u) dropped",
			  h.ssrc, h.pt);
		return;
	}
	if (h.pt != t->pt) {
		m->st.bad_pt++;
		return;
	}
	if (h.plen > sizeof(s->data)) {
		m->st.malformed++;
		return;
	}
	if (!t->started) {
		t->started = true;
		t->next = t->base = t->highest = h.seq;
		t->cycles = 0;
	}
	d = (int16_t)(h.seq - t->highest);
	if (!actr__codec_is_video(t->codec)) {
		/* audio: every packet is a frame; late ones are dropped */
		if ((int16_t)(h.seq - t->next) < 0) {
			m->st.late++;
			return;
		}
		if (actr__rtp_payload_info(t->codec, h.payload, h.plen,
					   &start, &key) < 0) {
			m->st.malformed++;
			return;
		}
		if (d > 0 && h.seq < t->highest)
			t->cycles += 1u << 16;
		if (d > 0)
			t->highest = h.seq;
		update_stats(m, t, &h);
		m->st.rtp_in++;
		t->lost_pending += (uint16_t)(h.seq - t->next);
		m->st.lost += (uint16_t)(h.seq - t->next);
		t->next = (uint16_t)(h.seq + 1);
		t->fb.len = 0;
		if (actr__rtp_depacketize(t->codec, h.payload, h.plen, &t->fb,
					  &start, &key) < 0) {
			m->st.malformed++;
			return;
		}
		deliver(m, t, h.ts, true);
		return;
	}
	if ((int16_t)(h.seq - t->next) < 0 || slot_at(t, h.seq) ||
	    (t->slots && d <= -RX_N)) {
		m->st.late++;
		return;
	}
	if (d >= RX_N - 1 || (int16_t)(h.seq - t->next) >= RX_N - 1) {
		/* a jump past the window: start over at this packet */
		if (t->slots)
			for (int i = 0; i < RX_N; i++)
				if (t->slots[i])
					t->slots[i]->used = false;
		m->st.lost += (uint16_t)(h.seq - t->next);
		t->lost_pending += (uint16_t)(h.seq - t->next);
		t->next = h.seq;
		t->highest = (uint16_t)(h.seq - 1);
		t->hole_ns = 0;
		d = 1;
	}
	if (!t->slots && !(t->slots = actr__calloc(RX_N, sizeof(*t->slots))))
		return;
	s = t->slots[h.seq % RX_N];
	if (!s && !(s = t->slots[h.seq % RX_N] = actr__malloc(sizeof(*s))))
		return;
	s->seq = h.seq;
	s->used = true;
	s->marker = h.marker;
	s->ts = h.ts;
	s->len = (uint16_t)h.plen;
	memcpy(s->data, h.payload, h.plen);
	m->st.rtp_in++;
	update_stats(m, t, &h);
	if (d > 0) {
		if (h.seq < t->highest)
			t->cycles += 1u << 16;
		t->highest = h.seq;
		if (d > 1)
			send_nack(m, t); /* a gap: ask at once */
	} else if (t->hole_ns) {
		m->st.recovered++;
	}
	assemble(m, t, false);
}

struct nack_ctx {
	actr__media_t *m;
	struct send_track *t;
};

static void resend(void *arg, uint16_t seq)
{
	struct nack_ctx *c = arg;
	struct rtx_slot *s = c->t->rtx ? c->t->rtx[seq % RTX_N] : NULL;

	if (!s || !s->len || s->seq != seq) {
		c->m->st.rtx_miss++;
		return;
	}
	c->m->st.rtx_sent++;
	if (!c->m->drop_rtx)
		send_raw(c->m, s->data, s->len);
}

static void recv_rtcp(actr__media_t *m, uint8_t *p, size_t n)
{
	struct actr__rtcp r;
	size_t off = 0;
	int rc;

	rc = actr__srtp_unprotect_rtcp(m->srtp, p, &n);
	if (rc < 0) {
		if (rc == -ACTR_EAUTH)
			m->st.srtp_auth_fail++;
		else
			m->st.srtp_replay++;
		actr_logw("media", "SRTCP packet dropped: %s",
			  actr_strerror(rc));
		return;
	}
	m->st.rtcp_in++;
	for (int guard = 0; guard < 64; guard++) {
		rc = actr__rtcp_next(p, n, &off, &r);
		if (rc <= 0) {
			if (rc < 0) {
				m->st.malformed++;
				actr_logw("media", "malformed RTCP packet "
					  "dropped");
			}
			return;
		}
		if (r.type == ACTR__RTCP_SR) {
			struct actr__list *l;

			actr__list_foreach(l, &m->recvs) {
				struct recv_track *t = actr__list_entry(
					l, struct recv_track, link);

				if (t->ssrc == r.ssrc) {
					t->lsr = (uint32_t)(r.ntp >> 16);
					t->lsr_ns = actr_reactor_now(m->r);
				}
			}
		} else if (r.type == ACTR__RTCP_RTPFB && r.fmt == 1) {
			struct nack_ctx c = { m, send_by_ssrc(m,
							      r.media_ssrc) };

			m->st.nacks_in++;
			if (c.t && actr__rtcp_nack_each(&r, resend, &c) < 0)
				m->st.malformed++;
		} else if (r.type == ACTR__RTCP_PSFB &&
			   (r.fmt == 1 || r.fmt == 4)) {
			/* PLI names the media SSRC; FIR names it in its FCI */
			uint32_t ms = r.media_ssrc;
			struct send_track *t;

			if (r.fmt == 4 && r.blen >= 4)
				ms = (uint32_t)r.body[0] << 24 |
				     (uint32_t)r.body[1] << 16 |
				     (uint32_t)r.body[2] << 8 | r.body[3];
			t = send_by_ssrc(m, ms);
			m->st.plis_in++;
			if (t && m->cbs.keyframe)
				m->cbs.keyframe(m->arg, t->id);
		}
	}
}

void actr__media_recv(actr__media_t *m, uint8_t *p, size_t n)
{
	if (!srtp_ready(m)) {
		m->st.malformed++; /* before DTLS finished: cannot be ours */
		return;
	}
	if (n < 12 || n > PKT_CAP + 1000) {
		m->st.malformed++;
		return;
	}
	if (actr__rtp_is_rtcp(p, n))
		recv_rtcp(m, p, n);
	else
		recv_rtp(m, p, n);
}

void actr__media_get_stats(const actr__media_t *m,
			   struct actr__media_stats *st)
{
	*st = m->st;
}

void actr__media_test_drop(actr__media_t *m, uint32_t nth)
{
	m->drop_nth = nth;
}

void actr__media_test_drop_rtx(actr__media_t *m, bool drop)
{
	m->drop_rtx = drop;
}

size_t actr__media_test_last(const actr__media_t *m, uint8_t *buf, size_t cap)
{
	if (m->last_len > cap)
		return 0;
	memcpy(buf, m->last, m->last_len);
	return m->last_len;
}
