/*
 * The peer connection: ICE -> RFC 7983 demultiplexer -> DTLS -> SCTP ->
 * lanes with the 8-byte fragment header. See pc.h.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "proto/fragment.h"
#include "sctp/sctp.h"
#include "wire/pc.h"
#include "wire/pc_media.h"
#include "wire/sdp.h"

#define EARLY_MAX 8			/* DTLS datagrams kept before DTLS */
#define SDP_BUF 8192			/* our SDP text */
#define REASM_TTL ACTR_SEC(30)		/* partial message lifetime */
#define DC_MAX 65535			/* one DataChannel message */
#define LOOPBACK_MTU 16000		/* SCTP packet on a loopback pair */
#define LINGER_MS 500			/* graceful close bound on free */
#define SETUP_QUEUE_MAX 32		/* DTLS datagrams held for ICE */
#define SETUP_QUEUE_BYTES (64u << 10)	/* and their bytes: a few flights */
#define LOST_QUEUE_MAX 32		/* DTLS datagrams held while the path
					 * is lost (the newest) */
#define LOST_QUEUE_BYTES (64u << 10)	/* and their bytes */
#define KEEP_RTO_MAX_MS 1000		/* SCTP RTO.Max with
					 * keep_on_path_loss */

struct lane {
	actr__dc_t *dc;			/* channel, NULL before/after */
	bool open;			/* may send */
	uint32_t next_id;		/* msg_id of the next message */
	actr__reasm_t *reasm;		/* incoming partial messages */
};

struct early {
	uint8_t *p;			/* copy of the datagram */
	size_t n;			/* its length */
};

struct actr__pc {
	actr_reactor_t *r;		/* owner reactor */
	bool offerer;			/* we offer and open channels */
	struct actr__pc_config cfg;	/* copied configuration */
	struct actr__pc_cbs cbs;	/* upward callbacks */
	void *arg;			/* their argument */
	actr__dtls_cert_t *cert;	/* node identity (one ref) */
	actr__ice_t *ice;		/* ICE agent */
	actr__dtls_t *dtls;		/* DTLS, once the role is known */
	actr__sctp_t *sctp;		/* SCTP, once DTLS is up */
	struct lane lanes[ACTR__LANE_COUNT];
	actr__reasm_acct_t *reasm_acct; /* lanes' share of cfg.reasm_pool */
	int state;			/* enum actr__pc_state */
	int dtls_role;			/* ACTR_DTLS_CLIENT / SERVER */
	bool have_remote;		/* remote description applied */
	bool restarting;		/* ICE restart offer sent, no answer */
	bool started;			/* gathering started */
	bool gathered;			/* local gathering finished */
	bool desc_sent;			/* our description went out */
	bool ice_up;			/* ICE connected at least once */
	bool freed;			/* actr__pc_free was called */
	bool lingering;			/* actr__pc_close_free: shutting down
					 * with no user left, freed when
					 * closed or at the linger deadline */
	unsigned depth;			/* nesting of upward callbacks */
	actr_defer_t release;		/* deferred free */
	actr_timer_t deadline;		/* handshake deadline */
	struct actr__sdp local;		/* our description */
	struct actr__sdp remote;	/* the peer's description */
	size_t frag_data;		/* fragment payload bound */
	struct early early[EARLY_MAX];	/* DTLS before DTLS exists */
	unsigned nearly;
	struct early setup_q[SETUP_QUEUE_MAX]; /* DTLS out before ICE is up */
	unsigned nsetup_q;		/* entries in setup_q */
	size_t setup_q_bytes;		/* their bytes */
	struct actr__pc_stats st;	/* counters */
	uint64_t t0;			/* actr__pc_new, for the timeline */
	bool path_lost;			/* keep_on_path_loss: between
					 * cfg.on_path(false) and (true) */
	struct early lost_q[LOST_QUEUE_MAX]; /* DTLS out while path_lost */
	unsigned nlost_q;		/* entries, oldest first */
	size_t lost_q_bytes;		/* their bytes */
	/* media tracks (wire/media.c, layout in wire/pc_media.c) */
	actr__media_t *media;		/* RTP/SRTP engine */
	bool media_offering;		/* our RENEGOTIATION offer is out */
	bool media_wanted;		/* tracks changed: offer when we can */
	bool media_answering;		/* the next description is an answer
					 * to the peer's media offer */
	unsigned media_nneg;		/* sections the peer agreed to */
	actr_defer_t media_defer;	/* sends the wanted offer */
	struct actr__pc_media_cbs mcbs;	/* media upward callbacks */
	struct {
		char id[ACTR__TRACK_ID_MAX + 1];
		int codec;
	} media_pend[ACTR__SDP_MAX_MEDIA]; /* answerer's tracks added before
					 * the offer: the answer cannot
					 * carry them, they are offered once
					 * connected */
	unsigned media_npend;
};

static const char *const lane_labels[ACTR__LANE_COUNT] = {
	"RPC_RELIABLE", "RPC_SIGNAL", "STREAM_RELIABLE",
	"STREAM_LATENCY_FIRST",
};

const char *actr__lane_label(int lane)
{
	if (lane < 0 || lane >= ACTR__LANE_COUNT)
		return NULL;
	return lane_labels[lane];
}

int actr__lane_by_label(const char *label)
{
	for (int i = 0; i < ACTR__LANE_COUNT; i++)
		if (label && !strcmp(label, lane_labels[i]))
			return i;
	return -1;
}

const char *actr__pc_state_name(int state)
{
	static const char *const names[] = {
		"new", "connecting", "connected", "failed", "closed",
	};

	if (state < 0 || state >= (int)ACTR_ARRAY_LEN(names))
		return "?";
	return names[state];
}

/* ---- upward calls (the user may free pc inside any of them) ------------ */

/* Record a setup phase once (stats timeline). */
static void mark(struct actr__pc *pc, uint64_t *t)
{
	uint64_t dt = actr_time_ns() - pc->t0;

	if (!*t)
		*t = dt ? dt : 1;
}

/* The log words for CLOSED's err (pc.h, cbs.state). */
static const char *close_reason(int err)
{
	switch (err) {
	case 0:
		return "closed cleanly (SCTP shutdown / DTLS close_notify)";
	case -ECONNRESET:
		return "aborted by the peer";
	case -ACTR_ETIMEDOUT:
		return "closed: the peer stopped acknowledging (timed out)";
	default:
		return actr_strerror(err);
	}
}

static void on_linger_done(actr_defer_t *d, void *arg)
{
	struct actr__pc *pc = arg;

	actr_logd("pc", "%s: closed, freeing",
		  pc->offerer ? "offerer" : "answerer");
	actr__pc_free(pc);
}

static void media_connected(struct actr__pc *pc);

static void set_state(struct actr__pc *pc, int state, int err)
{
	if (pc->state == state || pc->freed)
		return;
	if (pc->state == ACTR__PC_FAILED || pc->state == ACTR__PC_CLOSED)
		return; /* terminal */
	/* new -> connecting -> connected; any -> failed or closed */
	assert(state != ACTR__PC_NEW);
	assert(state != ACTR__PC_CONNECTING || pc->state == ACTR__PC_NEW);
	assert(state != ACTR__PC_CONNECTED ||
	       pc->state == ACTR__PC_CONNECTING);
	actr_logd("pc", "%s: %s -> %s (%s)",
		  pc->offerer ? "offerer" : "answerer",
		  actr__pc_state_name(pc->state), actr__pc_state_name(state),
		  err ? actr_strerror(err) : "ok");
	if (state == ACTR__PC_CLOSED)
		actr_logi("pc", "%s: %s", pc->offerer ? "offerer" : "answerer",
			  close_reason(err));
	pc->state = state;
	if (state == ACTR__PC_CONNECTED) {
		mark(pc, &pc->st.t_open);
		media_connected(pc);
	}
	if (state != ACTR__PC_CONNECTING)
		actr_timer_stop(&pc->deadline);
	if (pc->lingering && (state == ACTR__PC_CLOSED ||
			      state == ACTR__PC_FAILED)) {
		/* Out of the layer's callback that brought us here. */
		actr_defer(pc->r, &pc->release, on_linger_done, pc);
		return;
	}
	if (pc->cbs.state) {
		pc->depth++;
		pc->cbs.state(pc->arg, state, err);
		pc->depth--;
	}
}

static void fail(struct actr__pc *pc, int err)
{
	set_state(pc, ACTR__PC_FAILED, err);
}

static void on_deadline(actr_timer_t *t, void *arg)
{
	struct actr__pc *pc = arg;

	actr_logi("pc", "handshake deadline passed");
	fail(pc, -ACTR_ETIMEDOUT);
}

/* ---- local description ------------------------------------------------- */

static void emit_description(struct actr__pc *pc)
{
	char *text;
	int n;

	if (pc->desc_sent || pc->freed)
		return;
	text = malloc(SDP_BUF);
	if (!text) {
		fail(pc, -ENOMEM);
		return;
	}
	n = actr__sdp_write(&pc->local, text, SDP_BUF);
	if (n < 0) {
		free(text);
		fail(pc, n);
		return;
	}
	pc->desc_sent = true;
	if (pc->cbs.description) {
		pc->depth++;
		pc->cbs.description(pc->arg, pc->media_answering ? false :
				    pc->media_offering ? true : pc->offerer,
				    text);
		pc->depth--;
	}
	free(text);
}

static void on_ice_candidate(void *arg, const char *cand)
{
	struct actr__pc *pc = arg;

	if (pc->cfg.trickle && pc->desc_sent) {
		if (pc->cbs.candidate) {
			pc->depth++;
			pc->cbs.candidate(pc->arg, cand);
			pc->depth--;
		}
		return;
	}
	if (actr__sdp_add_candidate(&pc->local, cand) < 0)
		actr_logw("pc", "local candidate not kept: %s", cand);
}

static void on_ice_gathered(void *arg)
{
	struct actr__pc *pc = arg;

	pc->gathered = true;
	if (pc->cfg.trickle && pc->desc_sent) {
		if (pc->cbs.candidate) {
			pc->depth++;
			pc->cbs.candidate(pc->arg, NULL);
			pc->depth--;
		}
		return;
	}
	pc->local.end_of_candidates = true;
	emit_description(pc);
}

/* ---- DTLS <-> ICE ---------------------------------------------------- */

/*
 * Before our agent first connects, the peer may already use a pair it
 * validated and send its ClientHello; our answer is held here and sent
 * when ICE connects (setup_flush) instead of waiting for a DTLS
 * retransmission timeout. Bounded; what does not fit is dropped and
 * counted (DTLS retransmits it).
 */
static int setup_push(struct actr__pc *pc, const uint8_t *p, size_t n)
{
	uint8_t *c;

	if (pc->nsetup_q == SETUP_QUEUE_MAX ||
	    pc->setup_q_bytes + n > SETUP_QUEUE_BYTES) {
		pc->st.dtls_dropped_setup++;
		actr_logd("pc", "setup queue full: DTLS datagram dropped");
		return -ENOBUFS;
	}
	c = actr__malloc(n);
	if (!c) {
		pc->st.dtls_dropped_setup++;
		return -ENOMEM;
	}
	memcpy(c, p, n);
	pc->setup_q[pc->nsetup_q].p = c;
	pc->setup_q[pc->nsetup_q++].n = n;
	pc->setup_q_bytes += n;
	pc->st.dtls_queued_setup++;
	return 0;
}

static void setup_clear(struct actr__pc *pc)
{
	for (unsigned i = 0; i < pc->nsetup_q; i++)
		free(pc->setup_q[i].p);
	pc->nsetup_q = 0;
	pc->setup_q_bytes = 0;
}

/* ICE connected: send what DTLS produced meanwhile, in order. */
static void setup_flush(struct actr__pc *pc)
{
	unsigned n = pc->nsetup_q;

	if (!n)
		return;
	actr_logd("pc", "%s: sending %u DTLS datagrams held for ICE",
		  pc->offerer ? "offerer" : "answerer", n);
	for (unsigned i = 0; i < n; i++) {
		if (actr__ice_send(pc->ice, pc->setup_q[i].p,
				   pc->setup_q[i].n) < 0)
			pc->st.dtls_dropped_setup++;
	}
	setup_clear(pc);
}

/*
 * While the path is lost, what DTLS sends (SCTP's retransmissions, new
 * data) cannot leave. The newest datagrams are held and sent as they are
 * the moment the path is back (lost_flush): they never reached the peer,
 * so its DTLS replay window takes them, and SCTP's data moves at once
 * instead of at its next retransmission timeout.
 */
static void lost_drop_oldest(struct actr__pc *pc)
{
	pc->lost_q_bytes -= pc->lost_q[0].n;
	free(pc->lost_q[0].p);
	memmove(pc->lost_q, pc->lost_q + 1,
		--pc->nlost_q * sizeof(pc->lost_q[0]));
	pc->st.dtls_dropped_lost++;
}

static void lost_push(struct actr__pc *pc, const uint8_t *p, size_t n)
{
	uint8_t *c;

	if (n > LOST_QUEUE_BYTES)
		return;
	while (pc->nlost_q && (pc->nlost_q == LOST_QUEUE_MAX ||
			       pc->lost_q_bytes + n > LOST_QUEUE_BYTES))
		lost_drop_oldest(pc);
	c = actr__malloc(n);
	if (!c)
		return;
	memcpy(c, p, n);
	pc->lost_q[pc->nlost_q].p = c;
	pc->lost_q[pc->nlost_q++].n = n;
	pc->lost_q_bytes += n;
	pc->st.dtls_held_lost++;
}

static void lost_clear(struct actr__pc *pc)
{
	while (pc->nlost_q)
		lost_drop_oldest(pc);
}

static void lost_flush(struct actr__pc *pc)
{
	for (unsigned i = 0; i < pc->nlost_q; i++) {
		if (actr__ice_send(pc->ice, pc->lost_q[i].p,
				   pc->lost_q[i].n) == 0)
			pc->st.dtls_resent_lost++;
		free(pc->lost_q[i].p);
	}
	pc->nlost_q = 0;
	pc->lost_q_bytes = 0;
}

static int dtls_send_down(void *arg, const uint8_t *p, size_t n)
{
	struct actr__pc *pc = arg;
	int rc;

	if (!pc->ice_up)
		return setup_push(pc, p, n);
	rc = actr__ice_send(pc->ice, p, n);
	if (rc < 0 && pc->path_lost) {
		lost_push(pc, p, n);
		return 0;
	}
	if (rc < 0)
		pc->st.dtls_send_errors++;
	return rc;
}

static void start_sctp(struct actr__pc *pc);

static void dtls_deliver_up(void *arg, const uint8_t *p, size_t n)
{
	struct actr__pc *pc = arg;

	if (pc->sctp)
		actr__sctp_feed(pc->sctp, p, n);
}

static void media_start(struct actr__pc *pc);

static void dtls_state(void *arg, enum actr__dtls_state st, int err)
{
	struct actr__pc *pc = arg;

	switch (st) {
	case ACTR_DTLS_CONNECTED:
		pc->st.srtp_profile = actr__dtls_srtp_profile(pc->dtls);
		actr_logd("pc", "%s: DTLS connected, SRTP profile %s",
			  pc->offerer ? "offerer" : "answerer",
			  actr__srtp_profile_name(pc->st.srtp_profile));
		mark(pc, &pc->st.t_dtls);
		media_start(pc);
		start_sctp(pc);
		break;
	case ACTR_DTLS_FAILED:
		actr_logi("pc", "DTLS failed: %s", actr_strerror(err));
		fail(pc, err ? err : -ACTR_EPROTO);
		break;
	case ACTR_DTLS_CLOSED:
		/* close_notify ends a clean close once SCTP shut down. */
		set_state(pc, ACTR__PC_CLOSED,
			  pc->sctp && actr__sctp_shutting_down(pc->sctp)
				  ? 0 : -ECONNRESET);
		break;
	default:
		break;
	}
}

static void flush_early(struct actr__pc *pc)
{
	for (unsigned i = 0; i < pc->nearly; i++) {
		if (pc->dtls && !pc->freed)
			actr__dtls_feed(pc->dtls, pc->early[i].p,
					pc->early[i].n);
		free(pc->early[i].p);
	}
	pc->nearly = 0;
}

static void maybe_start_dtls(struct actr__pc *pc)
{
	if (!pc->dtls || actr__dtls_get_state(pc->dtls) != ACTR_DTLS_NEW)
		return;
	/* The server waits from the start; the client speaks once a path
	 * exists. */
	if (pc->dtls_role == ACTR_DTLS_CLIENT && !pc->ice_up)
		return;
	if (actr__dtls_start(pc->dtls) < 0)
		fail(pc, -ACTR_EPROTO);
}

static int create_dtls(struct actr__pc *pc)
{
	static const struct actr__dtls_cbs cbs = {
		dtls_send_down, dtls_deliver_up, dtls_state,
	};
	struct actr__dtls_opts o = { 0 };
	char fp[256];

	snprintf(fp, sizeof(fp), "%s %s", pc->remote.fp_algo, pc->remote.fp);
	o.role = pc->dtls_role;
	o.remote_fingerprint = fp;
	o.handshake_timeout_ms = pc->cfg.handshake_timeout_ms;
	o.initial_rto_ms = pc->cfg.dtls_rto_ms;
	pc->dtls = actr__dtls_new(pc->r, pc->cert, &o, &cbs, pc);
	if (!pc->dtls)
		return -EINVAL;
	pc->st.dtls_handshakes++;
	maybe_start_dtls(pc);
	flush_early(pc);
	return 0;
}

/* ---- ICE upward -------------------------------------------------------- */

/*
 * The path under a CONNECTED pc went away or came back
 * (cfg.keep_on_path_loss). DTLS has no timer once connected and SCTP is
 * told to keep retransmitting, briefly spaced, without aborting: the
 * association and the lanes outlive the ICE restart, and what was sent
 * meanwhile leaves soon after the new pair works.
 */
static void path_change(struct actr__pc *pc, bool up)
{
	if (pc->path_lost == !up || pc->freed)
		return;
	pc->path_lost = !up;
	if (up) {
		pc->st.path_restores++;
		lost_flush(pc);
	} else {
		pc->st.path_losses++;
	}
	actr_logi("pc", "%s: ICE path %s", pc->offerer ? "offerer" :
		  "answerer", up ? "works again (DTLS and SCTP kept)" :
		  "lost: waiting for an ICE restart");
	if (pc->sctp)
		actr__sctp_path_lost(pc->sctp, !up,
				     pc->cfg.path_lost_rto_ms
					     ? pc->cfg.path_lost_rto_ms
					     : 100);
	if (pc->cfg.on_path && !pc->lingering) {
		pc->depth++;
		pc->cfg.on_path(pc->arg, up);
		pc->depth--;
	}
}

/* Is a lost path to be waited for rather than failed? */
static bool keeps_path(const struct actr__pc *pc)
{
	return pc->cfg.keep_on_path_loss && pc->state == ACTR__PC_CONNECTED;
}

static void on_ice_state(void *arg, int state)
{
	struct actr__pc *pc = arg;

	switch (state) {
	case ACTR__ICE_CONNECTED:
	case ACTR__ICE_COMPLETED:
		if (!pc->ice_up) {
			pc->ice_up = true;
			mark(pc, &pc->st.t_ice);
			setup_flush(pc);
			maybe_start_dtls(pc);
		} else if (pc->path_lost) {
			path_change(pc, true);
		}
		break;
	case ACTR__ICE_FAILED:
		if (keeps_path(pc)) {
			path_change(pc, false);
			break;
		}
		/* Once a path worked, failure means consent expired (RFC
		 * 7675): the peer went silent or the path broke. */
		if (pc->ice_up)
			actr_logw("pc", "%s: connection lost: ICE consent "
				  "expired", pc->offerer ? "offerer" :
				  "answerer");
		fail(pc, pc->ice_up ? -ACTR_ETIMEDOUT : -ACTR_EUNAVAILABLE);
		break;
	default:
		break;
	}
}

static void media_recv(struct actr__pc *pc, const uint8_t *p, size_t n);
static void media_attach_pending(struct actr__pc *pc,
				 const struct actr__sdp *rs);

/* RFC 7983: the first byte tells the protocol. */
static void on_ice_recv(void *arg, const uint8_t *p, size_t n)
{
	struct actr__pc *pc = arg;

	if (n == 0 || pc->freed)
		return;
	if (p[0] >= 20 && p[0] <= 63) {
		if (pc->dtls) {
			pc->st.dtls_in++;
			actr__dtls_feed(pc->dtls, p, n);
			return;
		}
		if (pc->nearly < EARLY_MAX) {
			uint8_t *c = actr__malloc(n);

			if (c) {
				memcpy(c, p, n);
				pc->early[pc->nearly].p = c;
				pc->early[pc->nearly++].n = n;
				pc->st.dtls_early++;
				return;
			}
		}
		pc->st.dropped_in++;
	} else if (p[0] >= 128 && p[0] <= 191) {
		pc->st.rtp_in++;
		media_recv(pc, p, n);
	} else {
		pc->st.dropped_in++;
		actr_logd("pc", "dropped datagram, first byte %u", p[0]);
	}
}

/* ---- lanes ------------------------------------------------------------- */

static void check_all_open(struct actr__pc *pc)
{
	for (int i = 0; i < ACTR__LANE_COUNT; i++)
		if (!pc->lanes[i].open)
			return;
	set_state(pc, ACTR__PC_CONNECTED, 0);
}

static struct lane *lane_of(struct actr__pc *pc, actr__dc_t *dc, int *idx)
{
	for (int i = 0; i < ACTR__LANE_COUNT; i++)
		if (pc->lanes[i].dc == dc) {
			*idx = i;
			return &pc->lanes[i];
		}
	return NULL;
}

static void dc_open(void *arg, actr__dc_t *dc)
{
	struct actr__pc *pc = arg;
	int i;
	struct lane *l = lane_of(pc, dc, &i);

	if (!l)
		return;
	l->open = true;
	check_all_open(pc);
}

static void dc_message(void *arg, actr__dc_t *dc, const uint8_t *data,
		       size_t len, bool binary)
{
	struct actr__pc *pc = arg;
	actr_buf_t *msg = NULL;
	int i, rc;
	struct lane *l = lane_of(pc, dc, &i);

	if (!l || pc->freed)
		return;
	pc->st.frags_in++;
	rc = actr__reasm_feed(l->reasm, data, len, actr_reactor_now(pc->r),
			      &msg);
	if (rc < 0) {
		pc->st.bad_frags++;
		actr_logw("pc", "lane %s: fragment rejected: %s",
			  lane_labels[i], actr_strerror(rc));
		return;
	}
	if (rc == 0)
		return;
	pc->st.msgs_in++;
	if (pc->cbs.message) {
		pc->depth++;
		pc->cbs.message(pc->arg, i, msg);
		pc->depth--;
	} else {
		actr_buf_unref(msg);
	}
}

static void dc_buffered_low(void *arg, actr__dc_t *dc)
{
	struct actr__pc *pc = arg;
	int i;

	if (!lane_of(pc, dc, &i) || !pc->cbs.writable || pc->freed)
		return;
	pc->depth++;
	pc->cbs.writable(pc->arg, i);
	pc->depth--;
}

static void dc_closed(void *arg, actr__dc_t *dc)
{
	struct actr__pc *pc = arg;
	int i;
	struct lane *l = lane_of(pc, dc, &i);

	if (!l)
		return;
	l->dc = NULL;
	l->open = false;
	actr_logd("pc", "lane %s closed", lane_labels[i]);
}

static const struct actr__dc_cbs dc_cbs = {
	dc_open, dc_message, dc_buffered_low, dc_closed,
};

static void sctp_channel(void *arg, actr__dc_t *dc)
{
	struct actr__pc *pc = arg;
	int i = actr__lane_by_label(actr__dc_label(dc));

	if (i < 0 || pc->lanes[i].dc) {
		pc->st.unknown_channels++;
		actr_logi("pc", "ignoring channel \"%s\"", actr__dc_label(dc));
		actr__dc_close(dc);
		return;
	}
	pc->lanes[i].dc = dc;
	actr__dc_set_cbs(dc, &dc_cbs, pc);
	actr__dc_set_buffered_low(dc, 1u << 20);
	dc_open(pc, dc);
}

static int sctp_send_down(void *arg, const uint8_t *p, size_t n)
{
	struct actr__pc *pc = arg;

	return actr__dtls_send(pc->dtls, p, n);
}

static void sctp_state(void *arg, enum actr__sctp_state st, int err)
{
	struct actr__pc *pc = arg;

	if (st == ACTR_SCTP_CONNECTED)
		mark(pc, &pc->st.t_sctp);
	if (st != ACTR_SCTP_CLOSED)
		return;
	/* RFC 8261 6: after the SCTP shutdown, the DTLS close_notify. */
	if (err == 0 && pc->dtls &&
	    actr__dtls_get_state(pc->dtls) == ACTR_DTLS_CONNECTED)
		actr__dtls_close(pc->dtls);
	set_state(pc, ACTR__PC_CLOSED, err); /* 0: clean shutdown */
}

static int open_lanes(struct actr__pc *pc)
{
	for (int i = 0; i < ACTR__LANE_COUNT; i++) {
		struct actr__dc_opts o = { 0 };

		o.label = lane_labels[i];
		o.protocol = "";
		o.reliability = ACTR_DC_RELIABLE;
		if (i == ACTR__LANE_STREAM_LATENCY_FIRST) {
			o.unordered = true;
			o.reliability = ACTR_DC_PR_RTX;
			o.reliability_param = 3;
		}
		pc->lanes[i].dc = actr__dc_open(pc->sctp, &o, &dc_cbs, pc);
		if (!pc->lanes[i].dc)
			return -errno;
		actr__dc_set_buffered_low(pc->lanes[i].dc, 1u << 20);
	}
	return 0;
}

static void start_sctp(struct actr__pc *pc)
{
	static const struct actr__sctp_cbs cbs = {
		sctp_send_down, sctp_state, sctp_channel,
	};
	struct actr__sctp_opts o = { 0 };

	if (pc->sctp)
		return;
	o.local_port = pc->local.sctp_port;
	o.remote_port = pc->remote.sctp_port;
	o.dtls_client = pc->dtls_role == ACTR_DTLS_CLIENT;
	o.max_message = ACTR__PC_MAX_DC_MESSAGE;
	o.remote_max_message = pc->frag_data + ACTR_FRAG_HDR_LEN;
	o.max_queued = pc->cfg.max_message + (pc->cfg.max_message >> 2);
	o.authenticated = true; /* every packet passed DTLS's AEAD check */
	if (pc->cfg.keep_on_path_loss) {
		/* A retransmission timer running when the path is lost
		 * keeps its time; bounded by this, data moves soon after
		 * an outage ends. The association never aborts on its
		 * own: ICE consent and the caller's restart budget decide
		 * when the peer is gone. */
		o.rto_max_ms = KEEP_RTO_MAX_MS;
		o.no_abort = true;
	}
	/* DTLS never fragments application data, so an SCTP packet must fit
	 * the path: 1200 unless configured. Larger packets only on a
	 * loopback pair (one DTLS record holds 16 KiB); some peers (aiortc)
	 * cannot take them, so this is never automatic. */
	o.mtu = 1200;
	if (pc->cfg.sctp_mtu > 1200 &&
	    actr__ice_selected_is_loopback(pc->ice))
		o.mtu = ACTR_MIN(pc->cfg.sctp_mtu, LOOPBACK_MTU);
	pc->sctp = actr__sctp_new(pc->r, &o, &cbs, pc);
	if (!pc->sctp) {
		fail(pc, -errno ? -errno : -ENOMEM);
		return;
	}
	if (actr__sctp_connect(pc->sctp) < 0) {
		fail(pc, -ACTR_EPROTO);
		return;
	}
	if (pc->offerer && open_lanes(pc) < 0)
		fail(pc, -ACTR_EINTERNAL);
}

/* ---- media tracks ------------------------------------------------------ */

static int media_send_down(void *arg, const uint8_t *p, size_t n)
{
	struct actr__pc *pc = arg;

	if (pc->freed || !pc->ice_up)
		return -ACTR_ENOTREADY;
	return actr__ice_send(pc->ice, p, n);
}

static void media_frame_up(void *arg, const char *track_id,
			   const struct actr__media_frame *f)
{
	struct actr__pc *pc = arg;

	if (pc->freed || !pc->mcbs.media_frame)
		return;
	pc->depth++;
	pc->mcbs.media_frame(pc->arg, track_id, f);
	pc->depth--;
}

static void media_keyframe_up(void *arg, const char *track_id)
{
	struct actr__pc *pc = arg;

	if (pc->freed || !pc->mcbs.keyframe_request)
		return;
	pc->depth++;
	pc->mcbs.keyframe_request(pc->arg, track_id);
	pc->depth--;
}

static void media_start(struct actr__pc *pc)
{
	struct actr__dtls_srtp_keys k;
	int rc = actr__dtls_srtp_keys(pc->dtls, &k);

	if (rc == 0)
		rc = actr__media_start(pc->media, &k);
	memset(&k, 0, sizeof(k));
	if (rc < 0)
		actr_logw("pc", "%s: no SRTP (%s): media tracks will not work",
			  pc->offerer ? "offerer" : "answerer",
			  actr_strerror(rc));
}

static void media_recv(struct actr__pc *pc, const uint8_t *p, size_t n)
{
	uint8_t buf[2048];

	/* unprotected in place: a copy, ICE's buffer is not ours */
	if (n > sizeof(buf)) {
		pc->st.dropped_in++;
		return;
	}
	memcpy(buf, p, n);
	actr__media_recv(pc->media, buf, n);
}

/* Answerer: tracks added before the offer go into sections the offer
 * lets us send on (a browser's sendrecv transceiver); the rest wait for
 * a renegotiation once connected. */
static void media_attach_pending(struct actr__pc *pc,
				 const struct actr__sdp *rs)
{
	unsigned k = 0;

	for (unsigned i = 0; i < pc->media_npend; i++) {
		int rc = actr__layout_attach(&pc->local, rs, pc->media,
					     pc->media_pend[i].id,
					     pc->media_pend[i].codec,
					     pc->local.ufrag, true);

		if (rc == 0) {
			actr__layout_apply(&pc->local, rs, pc->media, true);
			continue;
		}
		pc->media_pend[k++] = pc->media_pend[i];
	}
	pc->media_npend = k;
}

/* Our renegotiation offer with the current tracks (RENEGOTIATION_OFFER;
 * ICE and DTLS stay). */
static void media_offer(struct actr__pc *pc)
{
	if (pc->freed || pc->state != ACTR__PC_CONNECTED ||
	    pc->media_offering || pc->restarting || !pc->media_wanted)
		return;
	pc->media_wanted = false;
	pc->media_offering = true;
	pc->local.version++;
	pc->desc_sent = false;
	actr_logd("pc", "%s: media renegotiation offer (%u sections)",
		  pc->offerer ? "offerer" : "answerer", pc->local.nmedia);
	emit_description(pc);
}

static void on_media_defer(actr_defer_t *d, void *arg)
{
	(void)d;
	media_offer(arg);
}

static void media_schedule(struct actr__pc *pc)
{
	if (pc->media_wanted && pc->state == ACTR__PC_CONNECTED &&
	    !pc->media_offering && !pc->freed)
		actr_defer(pc->r, &pc->media_defer, on_media_defer, pc);
}

static void media_connected(struct actr__pc *pc)
{
	for (unsigned i = 0; i < pc->media_npend; i++) {
		int rc = actr__layout_add_track(&pc->local, &pc->remote,
						pc->media,
						pc->media_pend[i].id,
						pc->media_pend[i].codec,
						pc->local.ufrag);

		if (rc == 0)
			pc->media_wanted = true;
		else
			actr_logw("pc", "track %s not added: %s",
				  pc->media_pend[i].id, actr_strerror(rc));
	}
	pc->media_npend = 0;
	media_schedule(pc);
}

/* A track change: the initial offer carries it if it has not gone yet,
 * otherwise a renegotiation does once the connection is up. */
static void media_changed(struct actr__pc *pc)
{
	if (pc->offerer && !pc->started)
		return;
	pc->media_wanted = true;
	media_schedule(pc);
}

int actr__pc_add_track(actr__pc_t *pc, const char *track_id,
		       const char *codec)
{
	int c = actr__codec_by_name(codec);
	int rc;

	if (c == ACTR__CODEC_NONE)
		return -EINVAL;
	if (pc->freed || pc->state == ACTR__PC_CLOSED ||
	    pc->state == ACTR__PC_FAILED)
		return -ACTR_ECLOSED;
	if (!pc->offerer && pc->state != ACTR__PC_CONNECTED) {
		/* our sections may only follow the offer's: held */
		if (!track_id || !*track_id ||
		    strlen(track_id) > ACTR__TRACK_ID_MAX)
			return -EINVAL;
		for (unsigned i = 0; i < pc->media_npend; i++)
			if (!strcmp(pc->media_pend[i].id, track_id))
				return -EEXIST;
		if (pc->media_npend == ACTR__SDP_MAX_MEDIA)
			return -ACTR_ETOOBIG;
		strcpy(pc->media_pend[pc->media_npend].id, track_id);
		pc->media_pend[pc->media_npend++].codec = c;
		return 0;
	}
	rc = actr__layout_add_track(&pc->local, pc->have_remote ? &pc->remote
				    : NULL, pc->media, track_id, c,
				    pc->local.ufrag);
	if (rc == 0)
		media_changed(pc);
	return rc;
}

int actr__pc_remove_track(actr__pc_t *pc, const char *track_id)
{
	int rc = actr__layout_remove_track(&pc->local, pc->media, track_id);

	if (rc == 0)
		media_changed(pc);
	return rc;
}

int actr__pc_send_frame(actr__pc_t *pc, const char *track_id,
			const uint8_t *data, size_t len, uint32_t ts)
{
	if (pc->freed || pc->state == ACTR__PC_CLOSED ||
	    pc->state == ACTR__PC_FAILED)
		return -ACTR_ECLOSED;
	return actr__media_send_frame(pc->media, track_id, data, len, ts);
}

int actr__pc_request_keyframe(actr__pc_t *pc, const char *track_id)
{
	return actr__media_request_keyframe(pc->media, track_id);
}

void actr__pc_set_media_cbs(actr__pc_t *pc,
			    const struct actr__pc_media_cbs *cbs)
{
	pc->mcbs = *cbs;
}

bool actr__pc_media_offering(const actr__pc_t *pc)
{
	return pc->media_offering;
}

actr__media_t *actr__pc_media(actr__pc_t *pc)
{
	return pc->media;
}

struct stash {
	char id[ACTR__TRACK_ID_MAX + 1];
	int codec;
};

int actr__pc_set_remote_media(actr__pc_t *pc, const char *sdp, size_t len,
			      bool offer)
{
	struct actr__sdp *ns;
	struct stash *st = NULL;
	unsigned nst = 0;
	int rc;

	if (!pc->have_remote || pc->freed)
		return -ACTR_ENOTREADY;
	if (!offer && !pc->media_offering)
		return -ACTR_EPROTO; /* an answer nobody asked for */
	if (offer && pc->media_offering && pc->offerer) {
		/* glare: the connection's offerer keeps its offer; the
		 * peer rolls its own back and answers ours */
		actr_logi("pc", "media offers crossed: ours stands");
		return -EBUSY;
	}
	ns = malloc(sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	rc = actr__sdp_parse(sdp, len, ns);
	if (rc < 0)
		goto out;
	rc = -ACTR_EPROTO;
	if (strcmp(ns->fp, pc->remote.fp) ||
	    strcmp(ns->fp_algo, pc->remote.fp_algo) ||
	    strcmp(ns->ufrag, pc->remote.ufrag)) {
		actr_logw("pc", "media renegotiation changes the transport");
		goto out;
	}
	if (!offer) {
		actr__layout_apply(&pc->local, ns, pc->media, false);
		pc->media_offering = false;
		goto done;
	}
	if (pc->media_offering) {
		/* glare, and we yield: our unanswered sections go, their
		 * tracks come back in our next offer */
		st = calloc(ACTR__SDP_MAX_MEDIA, sizeof(*st));
		if (!st) {
			rc = -ENOMEM;
			goto out;
		}
		for (unsigned i = pc->media_nneg; i < pc->local.nmedia; i++) {
			struct actr__sdp_media *x = &pc->local.media[i];

			if (!*x->track_id)
				continue;
			strcpy(st[nst].id, x->track_id);
			st[nst++].codec = x->codec;
			actr__layout_remove_track(&pc->local, pc->media,
						  x->track_id);
		}
		actr__layout_truncate(&pc->local, pc->media, pc->media_nneg);
		pc->media_offering = false;
	}
	actr__layout_apply(&pc->local, ns, pc->media, true);
	pc->local.version++;
	pc->media_answering = true;
	pc->desc_sent = false;
	emit_description(pc);
	pc->media_answering = false;
	for (unsigned i = 0; i < nst; i++)
		if (actr__layout_add_track(&pc->local, ns, pc->media,
					   st[i].id, st[i].codec,
					   pc->local.ufrag) == 0)
			pc->media_wanted = true;
done:
	pc->remote.nmedia = ns->nmedia;
	memcpy(pc->remote.media, ns->media, sizeof(ns->media));
	pc->remote.data_index = ns->data_index;
	pc->media_nneg = ACTR_MIN(pc->local.nmedia, ns->nmedia);
	media_schedule(pc);
	rc = 0;
out:
	free(st);
	free(ns);
	return rc;
}

void actr__pc_media_stats(const actr__pc_t *pc, struct actr__media_stats *st)
{
	actr__media_get_stats(pc->media, st);
}

/* ---- construction -------------------------------------------------------- */

actr__pc_t *actr__pc_new(actr_reactor_t *r, bool offerer,
			 actr__dtls_cert_t *cert,
			 const struct actr__pc_config *cfg,
			 const struct actr__pc_cbs *cbs, void *arg)
{
	static const struct actr__ice_cbs icbs = {
		on_ice_candidate, on_ice_gathered, on_ice_state, on_ice_recv,
	};
	static const struct actr__media_cbs mcbs = {
		media_send_down, media_frame_up, media_keyframe_up,
	};
	struct actr__pc *pc = actr__calloc(1, sizeof(*pc));
	struct actr__ice_config ic;
	const char *fp;
	uint64_t sid;

	if (!pc)
		return NULL;
	pc->r = r;
	pc->t0 = actr_time_ns();
	pc->offerer = offerer;
	pc->cfg = *cfg;
	pc->cbs = *cbs;
	pc->arg = arg;
	if (!pc->cfg.handshake_timeout_ms)
		pc->cfg.handshake_timeout_ms = 10000;
	if (pc->cfg.max_message < ACTR__PC_MIN_MAX_MESSAGE)
		pc->cfg.max_message = ACTR__PC_MIN_MAX_MESSAGE;
	pc->frag_data = ACTR_FRAG_MAX_DATA;
	actr_timer_init(r, &pc->deadline, on_deadline, pc);
	pc->cert = cert ? actr__dtls_cert_ref(cert) : actr__dtls_cert_new();
	if (!pc->cert)
		goto out_free;
	if (cfg->reasm_pool &&
	    !(pc->reasm_acct = actr__reasm_acct_new(cfg->reasm_pool)))
		goto out_free;
	for (int i = 0; i < ACTR__LANE_COUNT; i++) {
		pc->lanes[i].reasm = actr__reasm_new(
			pc->cfg.max_message + (64u << 10), 64, REASM_TTL);
		if (!pc->lanes[i].reasm)
			goto out_free;
		if (pc->reasm_acct)
			actr__reasm_set_account(pc->lanes[i].reasm,
						pc->reasm_acct);
	}
	ic = cfg->ice;
	ic.controlling = offerer;
	pc->ice = actr__ice_new(r, &ic, &icbs, pc);
	if (!pc->ice)
		goto out_free;
	pc->media = actr__media_new(r, &mcbs, pc);
	if (!pc->media)
		goto out_free;

	/* Our description, except what the remote one decides. */
	actr_random(&sid, sizeof(sid));
	pc->local.session_id = sid >> 2;
	if (actr__ice_local_credentials(pc->ice, pc->local.ufrag,
					sizeof(pc->local.ufrag), pc->local.pwd,
					sizeof(pc->local.pwd)) < 0)
		goto out_free;
	fp = actr__dtls_cert_fingerprint(pc->cert);
	if (sscanf(fp, "%15s %191s", pc->local.fp_algo, pc->local.fp) != 2)
		goto out_free;
	strcpy(pc->local.mid, "0");
	pc->local.sctp_port = 5000;
	pc->local.max_message_size = ACTR__PC_MAX_DC_MESSAGE;
	pc->local.has_max_message_size = true;
	pc->local.trickle = true;
	pc->local.legacy = cfg->legacy_sdp;
	pc->local.setup = ACTR__SDP_SETUP_ACTPASS;
	return pc;

out_free:
	actr__media_free(pc->media);
	actr__ice_free(pc->ice);
	for (int i = 0; i < ACTR__LANE_COUNT; i++)
		actr__reasm_free(pc->lanes[i].reasm);
	actr__reasm_acct_free(pc->reasm_acct);
	actr__dtls_cert_unref(pc->cert);
	free(pc);
	return NULL;
}

static int begin(struct actr__pc *pc)
{
	int rc;

	if (pc->started)
		return 0;
	pc->started = true;
	set_state(pc, ACTR__PC_CONNECTING, 0);
	rc = actr_timer_start(&pc->deadline,
			      ACTR_MS(pc->cfg.handshake_timeout_ms), 0);
	if (rc < 0)
		return rc;
	/* Gather first: the host candidates libnice finds at once go into
	 * the description itself, the rest trickle. A peer that starts its
	 * checks when it applies our description then has a pair at once
	 * (webrtc-rs otherwise waits for its next 200 ms check round). */
	rc = actr__ice_gather(pc->ice);
	if (rc == 0 && pc->cfg.trickle)
		emit_description(pc);
	return rc;
}

int actr__pc_start(actr__pc_t *pc)
{
	if (!pc->offerer)
		return -EINVAL;
	return begin(pc);
}

/* Local side of an ICE restart: new credentials, candidates announced
 * again (into the next description, or trickled after it). */
static int restart_local(struct actr__pc *pc)
{
	int rc = actr__ice_restart(pc->ice);

	if (rc < 0)
		return rc;
	pc->st.ice_restarts++;
	/* the agent has no pair until the new checks succeed */
	if (keeps_path(pc))
		path_change(pc, false);
	rc = actr__ice_local_credentials(pc->ice, pc->local.ufrag,
					 sizeof(pc->local.ufrag), pc->local.pwd,
					 sizeof(pc->local.pwd));
	if (rc < 0)
		return rc;
	pc->local.ncands = 0;
	pc->local.end_of_candidates = false;
	pc->desc_sent = false;
	if (pc->cfg.trickle)
		emit_description(pc);
	return 0;
}

int actr__pc_restart_ice(actr__pc_t *pc)
{
	if (!pc->offerer || !pc->have_remote || pc->restarting)
		return -EINVAL;
	if (pc->state != ACTR__PC_CONNECTED)
		return -ACTR_ENOTREADY;
	pc->restarting = true;
	actr_logi("pc", "ICE restart");
	return restart_local(pc);
}

int actr__pc_restart_ice_retry(actr__pc_t *pc)
{
	if (pc->offerer && pc->have_remote && pc->restarting &&
	    pc->state == ACTR__PC_CONNECTED) {
		actr_logi("pc", "ICE restart again (the last one did not "
				"connect)");
		return restart_local(pc);
	}
	return actr__pc_restart_ice(pc);
}

bool actr__pc_path_lost(const actr__pc_t *pc)
{
	return pc->path_lost;
}

static void apply_remote_ice(struct actr__pc *pc, const struct actr__sdp *rs)
{
	for (unsigned i = 0; i < rs->ncands; i++)
		actr__ice_add_remote_candidate(pc->ice, rs->cands[i]);
	if (rs->end_of_candidates)
		actr__ice_remote_gathering_done(pc->ice);
}

/* A description after the first one: only an ICE restart (new ufrag/pwd)
 * is accepted; the DTLS identity must not change. */
static int renegotiate(struct actr__pc *pc, const char *sdp, size_t len)
{
	struct actr__sdp *ns = malloc(sizeof(*ns));
	int rc;

	if (!ns)
		return -ENOMEM;
	rc = actr__sdp_parse(sdp, len, ns);
	if (rc < 0)
		goto out;
	rc = -ACTR_EPROTO;
	if (strcmp(ns->fp, pc->remote.fp) || strcmp(ns->fp_algo,
						     pc->remote.fp_algo)) {
		actr_logw("pc", "renegotiation changes the DTLS fingerprint");
		goto out;
	}
	if (pc->offerer) {
		if (!pc->restarting)
			goto out; /* an answer nobody asked for */
		pc->restarting = false;
	} else {
		if (!strcmp(ns->ufrag, pc->remote.ufrag) &&
		    !strcmp(ns->pwd, pc->remote.pwd))
			goto out; /* not a restart: nothing else supported */
		rc = restart_local(pc);
		if (rc < 0)
			goto out;
	}
	rc = actr__ice_set_remote_credentials(pc->ice, ns->ufrag, ns->pwd);
	if (rc < 0)
		goto out;
	strcpy(pc->remote.ufrag, ns->ufrag);
	strcpy(pc->remote.pwd, ns->pwd);
	apply_remote_ice(pc, ns);
	media_schedule(pc); /* a track change that waited for the restart */
	rc = 0;
out:
	free(ns);
	return rc;
}

/* The fragment payload bound for the peer's a=max-message-size (RFC
 * 8841 6): absent means 65536 and 0 means no limit, and PROTOCOL.md 7
 * caps one DataChannel message at 65535 bytes in every case; a smaller
 * limit is honoured down to a floor of 512 payload bytes. */
static size_t frag_data_for(const struct actr__sdp *rs)
{
	if (!rs->has_max_message_size || !rs->max_message_size ||
	    rs->max_message_size >= DC_MAX)
		return ACTR_FRAG_MAX_DATA;
	if (rs->max_message_size > ACTR_FRAG_HDR_LEN + 512)
		return rs->max_message_size - ACTR_FRAG_HDR_LEN;
	return 512;
}

int actr__pc_set_remote(actr__pc_t *pc, const char *sdp, size_t len)
{
	struct actr__sdp *rs = &pc->remote;
	int rc;

	if (pc->have_remote)
		return renegotiate(pc, sdp, len);
	if (pc->offerer && !pc->started)
		return -EINVAL;
	rc = actr__sdp_parse(sdp, len, rs);
	if (rc < 0)
		return rc;
	if (strcmp(rs->fp_algo, "sha-256") && strcmp(rs->fp_algo, "sha-384") &&
	    strcmp(rs->fp_algo, "sha-512") && strcmp(rs->fp_algo, "sha-1")) {
		actr_logw("pc", "unsupported fingerprint hash %s", rs->fp_algo);
		return -ACTR_EPROTO;
	}
	/* Roles: the answerer picks; it prefers DTLS client (active). */
	if (pc->offerer) {
		/* RFC 4145/5763: an answer without a=setup means active. */
		if (rs->setup == ACTR__SDP_SETUP_ACTIVE ||
		    rs->setup == ACTR__SDP_SETUP_NONE)
			pc->dtls_role = ACTR_DTLS_SERVER;
		else if (rs->setup == ACTR__SDP_SETUP_PASSIVE)
			pc->dtls_role = ACTR_DTLS_CLIENT;
		else
			return -ACTR_EPROTO; /* actpass in an answer */
	} else {
		if (rs->setup == ACTR__SDP_SETUP_ACTIVE) {
			pc->dtls_role = ACTR_DTLS_SERVER;
			pc->local.setup = ACTR__SDP_SETUP_PASSIVE;
		} else {
			pc->dtls_role = ACTR_DTLS_CLIENT;
			pc->local.setup = ACTR__SDP_SETUP_ACTIVE;
		}
		strcpy(pc->local.mid, *rs->mid ? rs->mid : "0");
		pc->local.legacy = rs->legacy;
		pc->local.sctp_port = rs->legacy ? rs->sctp_port : 5000;
	}
	pc->frag_data = frag_data_for(rs);
	/* media sections: the answerer mirrors the offer's layout */
	if (!pc->offerer)
		pc->local.data_index = rs->data_index;
	actr__layout_apply(&pc->local, rs, pc->media, !pc->offerer);
	pc->media_nneg = pc->local.nmedia;
	if (!pc->offerer)
		media_attach_pending(pc, rs);
	/* RFC 8445 6.1.1: against a lite peer the full agent controls. The
	 * offerer already does; the answerer takes the role before checks
	 * start. */
	if (rs->ice_lite && !pc->offerer) {
		actr_logi("pc", "the offer is from an ICE lite agent: "
				"answering as the controlling agent");
		rc = actr__ice_set_controlling(pc->ice, true);
		if (rc < 0)
			return rc;
	}
	pc->have_remote = true;
	rc = actr__ice_set_remote_credentials(pc->ice, rs->ufrag, rs->pwd);
	if (rc < 0)
		return rc;
	apply_remote_ice(pc, rs);
	rc = create_dtls(pc);
	if (rc < 0)
		return rc;
	if (!pc->offerer)
		return begin(pc);
	return 0;
}

int actr__pc_add_candidate(actr__pc_t *pc, const char *cand)
{
	if (!cand || !*cand)
		return actr__ice_remote_gathering_done(pc->ice);
	return actr__ice_add_remote_candidate(pc->ice, cand);
}

/* ---- sending ------------------------------------------------------------- */

struct emit_ctx {
	struct actr__pc *pc;
	actr__dc_t *dc;
};

static int emit_frag(const uint8_t *frag, size_t n, void *arg)
{
	struct emit_ctx *e = arg;
	int rc = actr__dc_send(e->dc, frag, n, true);

	if (rc == 0)
		e->pc->st.frags_out++;
	return rc;
}

int actr__pc_send(actr__pc_t *pc, int lane, const void *data, size_t len)
{
	struct emit_ctx e;
	struct lane *l;
	int rc;

	if (lane < 0 || lane >= ACTR__LANE_COUNT)
		return -EINVAL;
	if (pc->freed || pc->state == ACTR__PC_CLOSED ||
	    pc->state == ACTR__PC_FAILED)
		return -ACTR_ECLOSED;
	l = &pc->lanes[lane];
	if (!l->open || !l->dc)
		return -ACTR_ENOTREADY;
	if (len > pc->cfg.max_message)
		return -ACTR_ETOOBIG;
	/* All fragments or none: refuse when the queue cannot take them. */
	if (actr__dc_buffered(l->dc) + len > pc->cfg.max_message)
		return -ENOBUFS;
	e.pc = pc;
	e.dc = l->dc;
	rc = actr__frag_split(data, len, l->next_id, pc->frag_data, emit_frag,
			      &e);
	l->next_id++;
	if (rc < 0)
		return rc;
	pc->st.msgs_out++;
	return 0;
}

size_t actr__pc_buffered(const actr__pc_t *pc, int lane)
{
	if (lane < 0 || lane >= ACTR__LANE_COUNT || !pc->lanes[lane].dc)
		return 0;
	return actr__dc_buffered(pc->lanes[lane].dc);
}

void actr__pc_set_low_water(actr__pc_t *pc, int lane, size_t threshold)
{
	if (lane >= 0 && lane < ACTR__LANE_COUNT && pc->lanes[lane].dc)
		actr__dc_set_buffered_low(pc->lanes[lane].dc, threshold);
}

/* ---- teardown ------------------------------------------------------------ */

int actr__pc_close(actr__pc_t *pc)
{
	if (pc->state == ACTR__PC_CLOSED || pc->freed)
		return -ACTR_ECLOSED;
	if (pc->sctp && actr__sctp_get_state(pc->sctp) == ACTR_SCTP_CONNECTED)
		return actr__sctp_shutdown(pc->sctp);
	if (pc->dtls)
		actr__dtls_close(pc->dtls);
	set_state(pc, ACTR__PC_CLOSED, 0);
	return 0;
}

static void on_linger_deadline(actr_timer_t *t, void *arg)
{
	struct actr__pc *pc = arg;

	actr_logi("pc", "%s: no SCTP shutdown answer in %d ms: aborting",
		  pc->offerer ? "offerer" : "answerer", LINGER_MS);
	actr__pc_free(pc);
}

void actr__pc_close_free(actr__pc_t *pc)
{
	if (!pc || pc->freed || pc->lingering)
		return;
	memset(&pc->cbs, 0, sizeof(pc->cbs));
	if (pc->state == ACTR__PC_CLOSED || pc->state == ACTR__PC_FAILED ||
	    !pc->sctp || actr__sctp_get_state(pc->sctp) != ACTR_SCTP_CONNECTED ||
	    actr__sctp_shutdown(pc->sctp) < 0) {
		actr__pc_free(pc);
		return;
	}
	pc->lingering = true;
	actr_timer_stop(&pc->deadline);
	actr_timer_init(pc->r, &pc->deadline, on_linger_deadline, pc);
	if (actr_timer_start(&pc->deadline, ACTR_MS(LINGER_MS), 0) < 0)
		actr__pc_free(pc);
}

static void release(struct actr__pc *pc)
{
	actr__media_free(pc->media);
	for (int i = 0; i < ACTR__LANE_COUNT; i++)
		actr__reasm_free(pc->lanes[i].reasm);
	actr__reasm_acct_free(pc->reasm_acct);
	actr__dtls_cert_unref(pc->cert);
	free(pc);
}

static void on_release(actr_defer_t *d, void *arg)
{
	release(arg);
}

void actr__pc_free(actr__pc_t *pc)
{
	if (!pc || pc->freed)
		return;
	pc->freed = true;
	actr_timer_stop(&pc->deadline);
	actr_defer_cancel(pc->r, &pc->media_defer);
	if (pc->lingering)
		actr_defer_cancel(pc->r, &pc->release);
	/* Children are safe to free from their own callbacks. */
	actr__sctp_free(pc->sctp);
	pc->sctp = NULL;
	actr__dtls_free(pc->dtls);
	pc->dtls = NULL;
	actr__ice_free(pc->ice);
	pc->ice = NULL;
	for (unsigned i = 0; i < pc->nearly; i++)
		free(pc->early[i].p);
	pc->nearly = 0;
	setup_clear(pc);
	lost_clear(pc);
	if (pc->depth)
		actr_defer(pc->r, &pc->release, on_release, pc);
	else
		release(pc);
}

int actr__pc_state(const actr__pc_t *pc)
{
	return pc->state;
}

const char *actr__pc_local_ufrag(const actr__pc_t *pc)
{
	return pc->local.ufrag;
}

const char *actr__pc_remote_ufrag(const actr__pc_t *pc)
{
	return pc->have_remote ? pc->remote.ufrag : "";
}

actr__ice_t *actr__pc_ice(actr__pc_t *pc)
{
	return pc->ice;
}

actr__dtls_t *actr__pc_dtls(actr__pc_t *pc)
{
	return pc->dtls;
}

actr__dc_t *actr__pc_lane_channel(actr__pc_t *pc, int lane)
{
	if (lane < 0 || lane >= ACTR__LANE_COUNT)
		return NULL;
	return pc->lanes[lane].dc;
}

void actr__pc_get_stats(const actr__pc_t *pc, struct actr__pc_stats *st)
{
	*st = pc->st;
	if (pc->dtls) {
		struct actr__dtls_stats ds;

		actr__dtls_get_stats(pc->dtls, &ds);
		st->dtls_retransmits = ds.retransmits;
	}
}
